//! Idempotent and transactional producer state of one partition.
//!
//! For every producer id seen in the log it keeps the epoch, the metadata of its last five
//! batches (for duplicate detection: a retried batch is answered with its original offsets and
//! not written again), the coordinator epoch of its last marker, and the first offset of its
//! ongoing transaction, if any. The ongoing transactions give the last stable offset (LSO):
//! `read_committed` consumers read up to the first offset of the oldest open transaction.
//!
//! ```text
//! append(batch with producer id) ─▶ check: duplicate? epoch ≥ current? sequence = last + 1?
//!                                         transactional flag consistent with an open txn?
//!                                  ─▶ write ─▶ update: last 5 batches, open txn at first offset
//! append(COMMIT/ABORT marker)     ─▶ check: coordinator epoch ≥ current, producer epoch ≥ current
//!                                  ─▶ write ─▶ close the txn; an abort goes to the .txnindex
//! ```
//! The state is rebuilt on open from the latest snapshot (`<offset>.snapshot`, see
//! [`crate::producer_snapshot`]) plus a scan of the batches after it; snapshots are taken at
//! every segment roll and at clean shutdown, so a restart scans at most the active segment.
//!
//! The rules follow Kafka's `ProducerAppendInfo`: a new epoch must start at sequence 0; with no
//! state for a producer (expired, or removed with the segments that held it) any sequence is
//! accepted; sequences wrap from `i32::MAX` to 0.

use std::collections::{BTreeMap, HashMap, VecDeque};

use thiserror::Error;

/// Batches remembered per producer, as Kafka (and the clients' `max.in.flight` limit of 5 for
/// idempotence) assume.
pub const BATCHES_PER_PRODUCER: usize = 5;

/// Kafka's "no sequence" / "no epoch" markers.
pub const NO_SEQUENCE: i32 = -1;
pub const NO_EPOCH: i16 = -1;

/// What Kafka remembers of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub last_offset: i64,
    /// last offset − first offset.
    pub offset_delta: i32,
    /// The batch's max timestamp.
    pub timestamp: i64,
}

impl BatchMeta {
    pub fn first_offset(&self) -> i64 {
        self.last_offset - i64::from(self.offset_delta)
    }
}

/// The state of one producer in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub producer_id: i64,
    pub epoch: i16,
    /// Oldest first, at most [`BATCHES_PER_PRODUCER`].
    pub batches: VecDeque<BatchMeta>,
    /// Coordinator epoch of the last marker (-1 before any).
    pub coordinator_epoch: i32,
    /// First offset of the open transaction.
    pub txn_first_offset: Option<i64>,
    /// Timestamp of the last batch or marker (expiry counts from it).
    pub last_timestamp: i64,
}

impl ProducerEntry {
    fn new(producer_id: i64) -> ProducerEntry {
        ProducerEntry {
            producer_id,
            epoch: NO_EPOCH,
            batches: VecDeque::new(),
            coordinator_epoch: -1,
            txn_first_offset: None,
            last_timestamp: -1,
        }
    }

    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(NO_SEQUENCE, |b| b.last_seq)
    }

    /// Offset of the last batch of data (-1 when none).
    pub fn last_data_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }

    fn find_duplicate(&self, epoch: i16, first_seq: i32, last_seq: i32) -> Option<BatchMeta> {
        if epoch != self.epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|b| b.first_seq == first_seq && b.last_seq == last_seq)
            .copied()
    }

    fn push_batch(&mut self, b: BatchMeta) {
        if self.batches.len() == BATCHES_PER_PRODUCER {
            self.batches.pop_front();
        }
        self.batches.push_back(b);
    }
}

/// A batch as the producer state sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub transactional: bool,
}

impl ProducerBatch {
    /// Last sequence of the batch; sequences wrap from `i32::MAX` to 0.
    pub fn last_seq(&self) -> i32 {
        let delta = (self.last_offset - self.first_offset) as i32;
        if self.first_seq > i32::MAX - delta {
            delta - (i32::MAX - self.first_seq) - 1
        } else {
            self.first_seq + delta
        }
    }
}

/// A transaction marker as the producer state sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub epoch: i16,
    pub commit: bool,
    pub coordinator_epoch: i32,
    pub offset: i64,
    pub timestamp: i64,
}

/// An aborted transaction, as the `.txnindex` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The LSO once this transaction was closed.
    pub last_stable_offset: i64,
}

/// A finished transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub aborted: bool,
}

/// Why a batch of a producer was refused; the messages are Kafka's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProducerError {
    #[error("{0}")]
    OutOfOrderSequence(String),
    #[error("{0}")]
    InvalidProducerEpoch(String),
    #[error("{0}")]
    InvalidTxnState(String),
    #[error("{0}")]
    CoordinatorFenced(String),
}

/// The outcome of checking a data batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Append it.
    Append,
    /// Already in the log: answer with these offsets, write nothing.
    Duplicate(BatchMeta),
}

/// Producer state of a partition.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    pub(crate) producers: HashMap<i64, ProducerEntry>,
    /// Open transactions by first offset.
    pub(crate) ongoing: BTreeMap<i64, i64>,
}

impl ProducerStateManager {
    pub fn new() -> ProducerStateManager {
        ProducerStateManager::default()
    }

    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn producers(&self) -> impl Iterator<Item = &ProducerEntry> {
        self.producers.values()
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// First offset of the oldest open transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// Checks a data batch (`partition` names the log in messages). Sequences and duplicates
    /// are checked for clients only: a coordinator writes its transactional records without
    /// sequences.
    pub fn check(
        &self,
        b: &ProducerBatch,
        partition: &str,
        client: bool,
    ) -> Result<Checked, ProducerError> {
        let entry = self.producers.get(&b.producer_id);
        let last_seq = b.last_seq();
        if client
            && let Some(dup) = entry.and_then(|e| e.find_duplicate(b.epoch, b.first_seq, last_seq))
        {
            return Ok(Checked::Duplicate(dup));
        }
        let Some(e) = entry else {
            // No state: the producer is new here, or its state is gone; any sequence goes.
            return Ok(Checked::Append);
        };
        if b.epoch < e.epoch {
            return Err(ProducerError::InvalidProducerEpoch(format!(
                "Epoch of producer {} at offset {} in {partition} is {}, which is smaller than the last seen epoch {}",
                b.producer_id, b.first_offset, b.epoch, e.epoch
            )));
        }
        if !client {
            // No sequence rules for coordinator writes.
        } else if b.epoch != e.epoch {
            if b.first_seq != 0 && e.epoch != NO_EPOCH {
                return Err(ProducerError::OutOfOrderSequence(format!(
                    "Invalid sequence number for new epoch of producer {} at offset {} in partition {partition}: {} (request epoch), {} (seq. number), {} (current producer epoch)",
                    b.producer_id, b.first_offset, b.epoch, b.first_seq, e.epoch
                )));
            }
        } else {
            // With no batch remembered (only a marker), the epoch's first batch is sequence 0.
            let current = e.last_seq();
            if e.epoch != NO_EPOCH && !in_sequence(current, b.first_seq) {
                return Err(ProducerError::OutOfOrderSequence(format!(
                    "Out of order sequence number for producer {} at offset {} in partition {partition}: {} (incoming seq. number), {} (current end sequence number)",
                    b.producer_id, b.first_offset, b.first_seq, current
                )));
            }
        }
        if !b.transactional && e.txn_first_offset.is_some() {
            return Err(ProducerError::InvalidTxnState(format!(
                "Expected transactional write from producer {} at offset {} in partition {partition}",
                b.producer_id, b.first_offset
            )));
        }
        Ok(Checked::Append)
    }

    /// Records a data batch written to the log.
    pub fn apply(&mut self, b: &ProducerBatch) {
        let e = self
            .producers
            .entry(b.producer_id)
            .or_insert_with(|| ProducerEntry::new(b.producer_id));
        if b.epoch != e.epoch {
            e.epoch = b.epoch;
            e.batches.clear();
        }
        e.push_batch(BatchMeta {
            first_seq: b.first_seq,
            last_seq: b.last_seq(),
            last_offset: b.last_offset,
            offset_delta: (b.last_offset - b.first_offset) as i32,
            timestamp: b.max_timestamp,
        });
        e.last_timestamp = b.max_timestamp;
        if b.transactional && e.txn_first_offset.is_none() {
            e.txn_first_offset = Some(b.first_offset);
            self.ongoing.insert(b.first_offset, b.producer_id);
        }
    }

    /// Checks a marker from the transaction coordinator.
    pub fn check_marker(&self, m: &Marker, partition: &str) -> Result<(), ProducerError> {
        let Some(e) = self.producers.get(&m.producer_id) else {
            return Ok(());
        };
        if m.epoch < e.epoch {
            return Err(ProducerError::InvalidProducerEpoch(format!(
                "Epoch of producer {} at offset {} in {partition} is {}, which is smaller than the last seen epoch {}",
                m.producer_id, m.offset, m.epoch, e.epoch
            )));
        }
        if e.coordinator_epoch > m.coordinator_epoch {
            return Err(ProducerError::CoordinatorFenced(format!(
                "Invalid coordinator epoch for producerId {} at offset {} in partition {partition}: {} (zombie), {} (current)",
                m.producer_id, m.offset, m.coordinator_epoch, e.coordinator_epoch
            )));
        }
        Ok(())
    }

    /// Records a marker written to the log; returns the transaction it closed and, for an
    /// abort, the `.txnindex` entry.
    pub fn apply_marker(&mut self, m: &Marker) -> (CompletedTxn, Option<AbortedTxn>) {
        let e = self
            .producers
            .entry(m.producer_id)
            .or_insert_with(|| ProducerEntry::new(m.producer_id));
        if m.epoch != e.epoch {
            e.epoch = m.epoch;
            e.batches.clear();
        }
        let first_offset = e.txn_first_offset.take().unwrap_or(m.offset);
        e.coordinator_epoch = m.coordinator_epoch;
        e.last_timestamp = m.timestamp;
        self.ongoing.remove(&first_offset);
        let done = CompletedTxn {
            producer_id: m.producer_id,
            first_offset,
            last_offset: m.offset,
            aborted: !m.commit,
        };
        let aborted = done.aborted.then(|| AbortedTxn {
            producer_id: m.producer_id,
            first_offset,
            last_offset: m.offset,
            last_stable_offset: self.first_unstable_offset().unwrap_or(m.offset + 1),
        });
        (done, aborted)
    }

    /// Forgets producers with no open transaction whose last write is older than
    /// `expiration_ms` (`producer.id.expiration.ms`). Returns how many went.
    pub fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.txn_first_offset.is_some() || now_ms.saturating_sub(e.last_timestamp) < expiration_ms
        });
        before - self.producers.len()
    }

    /// Open transactions: (producer id, first offset), oldest first.
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(o, p)| (*p, *o))
    }

    /// Replaces the state (loaded from a snapshot).
    pub(crate) fn restore(entries: Vec<ProducerEntry>) -> ProducerStateManager {
        let mut s = ProducerStateManager::default();
        for e in entries {
            if let Some(first) = e.txn_first_offset {
                s.ongoing.insert(first, e.producer_id);
            }
            s.producers.insert(e.producer_id, e);
        }
        s
    }
}

/// True when `next` follows `last` (with the wrap from `i32::MAX` to 0).
pub fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (last == i32::MAX && next == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(pid: i64, epoch: i16, seq: i32, first: i64, n: i64) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: seq,
            first_offset: first,
            last_offset: first + n - 1,
            max_timestamp: 1000,
            transactional: false,
        }
    }

    #[test]
    fn sequences_duplicates_and_epochs() {
        let mut s = ProducerStateManager::new();
        let b0 = batch(7, 0, 0, 0, 3);
        assert_eq!(s.check(&b0, "t-0", true), Ok(Checked::Append));
        s.apply(&b0);
        // The same batch again is a duplicate, answered with its offsets.
        match s.check(&batch(7, 0, 0, 99, 3), "t-0", true) {
            Ok(Checked::Duplicate(m)) => assert_eq!((m.first_offset(), m.last_offset), (0, 2)),
            other => panic!("{other:?}"),
        }
        // A gap in sequences is out of order.
        assert!(matches!(
            s.check(&batch(7, 0, 5, 3, 1), "t-0", true),
            Err(ProducerError::OutOfOrderSequence(_))
        ));
        let b1 = batch(7, 0, 3, 3, 2);
        assert_eq!(s.check(&b1, "t-0", true), Ok(Checked::Append));
        s.apply(&b1);
        // An older epoch is fenced; a new epoch must start at 0.
        assert!(matches!(
            s.check(&batch(7, -1, 5, 5, 1), "t-0", true),
            Err(ProducerError::InvalidProducerEpoch(_))
        ));
        assert!(matches!(
            s.check(&batch(7, 1, 5, 5, 1), "t-0", true),
            Err(ProducerError::OutOfOrderSequence(_))
        ));
        let b2 = batch(7, 1, 0, 5, 1);
        assert_eq!(s.check(&b2, "t-0", true), Ok(Checked::Append));
        s.apply(&b2);
        // Old-epoch duplicates are no longer recognised: they are fenced.
        assert!(s.check(&b0, "t-0", true).is_err());
        // Unknown producers may start anywhere.
        assert_eq!(
            s.check(&batch(8, 3, 42, 6, 1), "t-0", true),
            Ok(Checked::Append)
        );
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerStateManager::new();
        for i in 0..7 {
            s.apply(&batch(1, 0, i, i64::from(i), 1));
        }
        assert!(matches!(
            s.check(&batch(1, 0, 2, 100, 1), "t-0", true),
            Ok(Checked::Duplicate(_))
        ));
        // Batch 1 fell out of the window: not a duplicate any more, and out of order.
        assert!(s.check(&batch(1, 0, 1, 100, 1), "t-0", true).is_err());
    }

    #[test]
    fn sequence_wraps() {
        let b = ProducerBatch {
            first_seq: i32::MAX - 1,
            ..batch(1, 0, 0, 10, 4)
        };
        assert_eq!(b.last_seq(), 1);
        assert!(in_sequence(i32::MAX, 0));
        assert!(in_sequence(4, 5));
        assert!(!in_sequence(4, 6));
    }

    #[test]
    fn transactions_move_the_lso_and_aborts_are_indexed() {
        let mut s = ProducerStateManager::new();
        let t1 = ProducerBatch {
            transactional: true,
            ..batch(1, 0, 0, 10, 2)
        };
        let t2 = ProducerBatch {
            transactional: true,
            ..batch(2, 0, 0, 12, 1)
        };
        s.apply(&t1);
        s.apply(&t2);
        assert_eq!(s.first_unstable_offset(), Some(10));
        // A non-transactional write while a transaction is open is refused.
        assert!(matches!(
            s.check(&batch(1, 0, 2, 13, 1), "t-0", true),
            Err(ProducerError::InvalidTxnState(_))
        ));
        let (done, aborted) = s.apply_marker(&Marker {
            producer_id: 1,
            epoch: 0,
            commit: false,
            coordinator_epoch: 3,
            offset: 13,
            timestamp: 2000,
        });
        assert!(done.aborted);
        assert_eq!(
            aborted,
            Some(AbortedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 13,
                last_stable_offset: 12
            })
        );
        assert_eq!(s.first_unstable_offset(), Some(12));
        // A marker from an older coordinator epoch is fenced.
        assert!(matches!(
            s.check_marker(
                &Marker {
                    producer_id: 1,
                    epoch: 0,
                    commit: true,
                    coordinator_epoch: 2,
                    offset: 14,
                    timestamp: 0
                },
                "t-0"
            ),
            Err(ProducerError::CoordinatorFenced(_))
        ));
        let (_, none) = s.apply_marker(&Marker {
            producer_id: 2,
            epoch: 0,
            commit: true,
            coordinator_epoch: 3,
            offset: 14,
            timestamp: 2000,
        });
        assert_eq!(none, None);
        assert_eq!(s.first_unstable_offset(), None);
    }

    #[test]
    fn expiry_keeps_open_transactions() {
        let mut s = ProducerStateManager::new();
        s.apply(&batch(1, 0, 0, 0, 1));
        s.apply(&ProducerBatch {
            transactional: true,
            ..batch(2, 0, 0, 1, 1)
        });
        assert_eq!(s.remove_expired(1000 + 86_400_000, 86_400_000), 1);
        assert!(s.entry(2).is_some());
    }
}
