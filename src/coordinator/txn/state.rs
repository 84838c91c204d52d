//! The state machine of one transactional id, as Kafka's `TransactionMetadata` runs it for
//! clients on transaction version 1 (librdkafka, kafkajs, the Java client while
//! `transaction.version` is not finalized at 2). Sans-IO: each request either fails with Kafka's
//! error, needs no write, or yields the [`TxnValue`] to persist; [`TxnMetadata::apply`] installs
//! it once it is durable. While a write is in flight the id has a `pending` state and other
//! requests get CONCURRENT_TRANSACTIONS, which every client retries.
//!
//! ```text
//! InitProducerId: Empty/CompleteX ─▶ Empty (epoch + 1)      Ongoing ─▶ fence (epoch + 1) ─▶ PrepareAbort
//! AddPartitions:  Empty/CompleteX/Ongoing ─▶ Ongoing (partitions ∪ new)
//! EndTxn:         Ongoing ─▶ PrepareCommit/PrepareAbort ─▶ markers ─▶ CompleteCommit/CompleteAbort
//! timeout:        Ongoing ─▶ fence (epoch + 1) ─▶ PrepareAbort ─▶ markers ─▶ CompleteAbort
//! ```

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError as E;

use super::records::TxnValue;

/// Kafka's transaction states, with their ids in `__transaction_state` and their names in
/// DescribeTransactions / ListTransactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    pub fn from_name(name: &str) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.name() == name)
    }

    fn is_complete_or_empty(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// Epochs at or above this are used up: the id gets a new producer id (32767 is kept for
/// fencing).
pub const EXHAUSTED_EPOCH: i16 = i16::MAX - 1;

/// The coordinator's view of one transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub producer_id: i64,
    /// The producer id before the last rotation (a retry after rotation is recognised).
    pub prev_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump (a retried InitProducerId whose answer was lost gets the
    /// current epoch again). Not persisted, as in Kafka.
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    /// Start of the current or last transaction (-1 when Empty).
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// A transition written but not yet durable, or markers in flight.
    pub pending: Option<TxnState>,
}

/// What InitProducerId leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// Persist this (state Empty, the new epoch or producer id), then answer with it; the
    /// second field is the epoch to remember as the last one (-1 for none).
    Write(TxnValue, i16),
    /// A retry of a bump whose answer was lost: answer with the current id and epoch.
    Current(i64, i16),
    /// A transaction is open: fence it (write this PrepareAbort with the next epoch), abort it,
    /// and answer CONCURRENT_TRANSACTIONS so the producer retries.
    FenceAndAbort(TxnValue),
}

/// What EndTxn leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOutcome {
    /// Persist this PrepareCommit/PrepareAbort, write the markers, complete.
    Prepare(TxnValue),
    /// The transaction already ended this way: success, nothing to do.
    AlreadyDone,
}

impl TxnMetadata {
    /// A new id: created in memory with epoch -1, persisted by its first InitProducerId.
    pub fn new(producer_id: i64, timeout_ms: i32, now: i64) -> TxnMetadata {
        TxnMetadata {
            producer_id,
            prev_producer_id: -1,
            producer_epoch: -1,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now,
            pending: None,
        }
    }

    /// Rebuilt from the log (the last epoch is not persisted).
    pub fn from_value(v: &TxnValue) -> TxnMetadata {
        TxnMetadata {
            producer_id: v.producer_id,
            prev_producer_id: -1,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: -1,
            timeout_ms: v.timeout_ms,
            state: v.state,
            partitions: if v.state == TxnState::Empty {
                BTreeSet::new()
            } else {
                v.partitions.clone()
            },
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
            pending: None,
        }
    }

    fn value(&self, state: TxnState, now: i64) -> TxnValue {
        TxnValue {
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            state,
            partitions: self.partitions.clone(),
            last_update_ms: now,
            start_ms: self.start_ms,
        }
    }

    /// Installs a durable transition and clears the pending state. The last epoch is the
    /// caller's to set (only InitProducerId keeps one).
    pub fn apply(&mut self, v: &TxnValue) {
        if v.producer_id != self.producer_id {
            self.prev_producer_id = self.producer_id;
        }
        self.producer_id = v.producer_id;
        self.producer_epoch = v.producer_epoch;
        self.timeout_ms = v.timeout_ms;
        self.state = v.state;
        self.partitions = v.partitions.clone();
        self.start_ms = v.start_ms;
        self.last_update_ms = v.last_update_ms;
        self.pending = None;
    }

    /// Whether InitProducerId will need a fresh producer id (the epochs are used up).
    pub fn needs_new_producer_id(&self, expected: Option<(i64, i16)>) -> bool {
        self.producer_epoch >= EXHAUSTED_EPOCH
            && expected.is_none_or(|(_, e)| e == self.producer_epoch)
    }

    /// InitProducerId of a transactional producer (Kafka's `prepareInitProducerIdTransit`).
    /// `fresh_id` is a new producer id, needed only when the epochs are used up.
    pub fn init_producer_id(
        &self,
        expected: Option<(i64, i16)>,
        timeout_ms: i32,
        fresh_id: Option<i64>,
        now: i64,
    ) -> Result<InitOutcome, E> {
        if self.pending.is_some() {
            return Err(E::ConcurrentTransactions);
        }
        if let Some((pid, epoch)) = expected {
            let valid = self.producer_epoch == -1
                || pid == self.producer_id
                || (pid == self.prev_producer_id && epoch >= EXHAUSTED_EPOCH);
            if !valid {
                return Err(E::ProducerFenced);
            }
        }
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(E::ConcurrentTransactions),
            TxnState::Ongoing => Ok(InitOutcome::FenceAndAbort(self.fence(now))),
            TxnState::Dead | TxnState::PrepareEpochFence => Err(E::ConcurrentTransactions),
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                let base = TxnValue {
                    timeout_ms,
                    state: TxnState::Empty,
                    partitions: BTreeSet::new(),
                    last_update_ms: now,
                    start_ms: -1,
                    ..self.value(TxnState::Empty, now)
                };
                if self.needs_new_producer_id(expected) {
                    let pid = fresh_id.ok_or(E::ConcurrentTransactions)?;
                    let last = if expected.is_some() {
                        self.producer_epoch
                    } else {
                        -1
                    };
                    return Ok(InitOutcome::Write(
                        TxnValue {
                            producer_id: pid,
                            producer_epoch: 0,
                            ..base
                        },
                        last,
                    ));
                }
                let bumped = TxnValue {
                    producer_epoch: self.producer_epoch.saturating_add(1),
                    ..base
                };
                match expected {
                    None => Ok(InitOutcome::Write(bumped, -1)),
                    Some((_, e)) if e == self.producer_epoch || self.producer_epoch == -1 => {
                        Ok(InitOutcome::Write(bumped, self.producer_epoch))
                    }
                    Some((_, e)) if e == self.last_producer_epoch => {
                        Ok(InitOutcome::Current(self.producer_id, self.producer_epoch))
                    }
                    Some(_) => Err(E::ProducerFenced),
                }
            }
        }
    }

    /// The fence of an open transaction: PrepareAbort with the next epoch, so the fenced
    /// producer's next request fails with an epoch error.
    pub fn fence(&self, now: i64) -> TxnValue {
        TxnValue {
            producer_epoch: self.producer_epoch.saturating_add(1),
            ..self.value(TxnState::PrepareAbort, now)
        }
    }

    fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), E> {
        if producer_id != self.producer_id {
            return Err(E::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(E::ProducerFenced);
        }
        Ok(())
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: `None` when every partition is already in.
    pub fn add_partitions(
        &self,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<Option<TxnValue>, E> {
        if self.pending.is_some() {
            return Err(E::ConcurrentTransactions);
        }
        self.check_producer(producer_id, epoch)?;
        match self.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => Err(E::ConcurrentTransactions),
            TxnState::Ongoing if partitions.iter().all(|p| self.partitions.contains(p)) => Ok(None),
            TxnState::Dead | TxnState::PrepareEpochFence => Err(E::ConcurrentTransactions),
            s => {
                let mut v = self.value(TxnState::Ongoing, now);
                if s.is_complete_or_empty() {
                    v.partitions.clear();
                    v.start_ms = now;
                }
                v.partitions.extend(partitions.iter().cloned());
                Ok(Some(v))
            }
        }
    }

    /// Whether a partition may receive this producer's transactional writes (produce and
    /// TxnOffsetCommit verification, AddPartitionsToTxn v4+ `verify_only`). Kafka answers
    /// TRANSACTION_ABORTABLE for a partition not in the transaction.
    pub fn verify(&self, producer_id: i64, epoch: i16, tp: &(String, i32)) -> Result<(), E> {
        self.check_producer(producer_id, epoch)?;
        if matches!(self.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
            || matches!(
                self.pending,
                Some(TxnState::PrepareCommit | TxnState::PrepareAbort)
            )
        {
            return Err(E::ConcurrentTransactions);
        }
        if self.state == TxnState::Ongoing && self.partitions.contains(tp) {
            Ok(())
        } else {
            Err(E::TransactionAbortable)
        }
    }

    /// EndTxn v0-4 (Kafka's `endTransactionWithTV1`).
    pub fn end_txn(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now: i64,
    ) -> Result<EndOutcome, E> {
        if producer_id != self.producer_id {
            return Err(E::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(E::ProducerFenced);
        }
        if self
            .pending
            .is_some_and(|p| p != TxnState::PrepareEpochFence)
        {
            return Err(E::ConcurrentTransactions);
        }
        use TxnState as S;
        match (self.state, commit) {
            (S::Ongoing, true) => Ok(EndOutcome::Prepare(self.value(S::PrepareCommit, now))),
            (S::Ongoing, false) => Ok(EndOutcome::Prepare(self.value(S::PrepareAbort, now))),
            (S::PrepareCommit, true) | (S::PrepareAbort, false) => Err(E::ConcurrentTransactions),
            (S::CompleteCommit, true) | (S::CompleteAbort, false) => Ok(EndOutcome::AlreadyDone),
            _ => Err(E::InvalidTxnState),
        }
    }

    /// After the markers: CompleteCommit/CompleteAbort, the partitions cleared.
    pub fn complete(&self, now: i64) -> TxnValue {
        let state = if self.state == TxnState::PrepareCommit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        TxnValue {
            partitions: BTreeSet::new(),
            ..self.value(state, now)
        }
    }

    /// Whether an open transaction has outlived its timeout.
    pub fn timed_out(&self, now: i64) -> bool {
        self.state == TxnState::Ongoing
            && self.pending.is_none()
            && self.start_ms.saturating_add(i64::from(self.timeout_ms)) < now
    }

    /// Whether an idle id may be removed (`transactional.id.expiration.ms`).
    pub fn expired(&self, now: i64, expiration_ms: i64) -> bool {
        self.state.is_complete_or_empty()
            && self.pending.is_none()
            && self.last_update_ms <= now.saturating_sub(expiration_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> (String, i32) {
        (t.to_string(), p)
    }

    /// Runs an InitProducerId that must write, and applies it.
    fn init(m: &mut TxnMetadata, expected: Option<(i64, i16)>) -> (i64, i16) {
        match m.init_producer_id(expected, 60_000, Some(999), 1).unwrap() {
            InitOutcome::Write(v, last) => {
                m.apply(&v);
                m.last_producer_epoch = last;
                (v.producer_id, v.producer_epoch)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_transaction_from_init_to_commit_and_its_retries() {
        let mut m = TxnMetadata::new(7, 60_000, 0);
        assert_eq!(init(&mut m, None), (7, 0));
        // Adding partitions opens the transaction; adding them again writes nothing.
        let v = m.add_partitions(7, 0, &[tp("a", 0)], 10).unwrap().unwrap();
        m.apply(&v);
        assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 10));
        assert_eq!(m.add_partitions(7, 0, &[tp("a", 0)], 11), Ok(None));
        assert_eq!(m.verify(7, 0, &tp("a", 0)), Ok(()));
        assert_eq!(m.verify(7, 0, &tp("b", 0)), Err(E::TransactionAbortable));
        // A wrong producer id or epoch is refused.
        assert_eq!(
            m.add_partitions(8, 0, &[tp("b", 0)], 12),
            Err(E::InvalidProducerIdMapping)
        );
        assert_eq!(m.end_txn(7, 1, true, 12), Err(E::ProducerFenced));
        let EndOutcome::Prepare(p) = m.end_txn(7, 0, true, 13).unwrap() else {
            panic!()
        };
        m.apply(&p);
        assert_eq!(m.state, TxnState::PrepareCommit);
        assert_eq!(m.end_txn(7, 0, true, 14), Err(E::ConcurrentTransactions));
        assert_eq!(m.end_txn(7, 0, false, 14), Err(E::InvalidTxnState));
        assert_eq!(
            m.add_partitions(7, 0, &[tp("a", 0)], 14),
            Err(E::ConcurrentTransactions)
        );
        let c = m.complete(15);
        m.apply(&c);
        assert_eq!(m.state, TxnState::CompleteCommit);
        assert!(m.partitions.is_empty());
        // Commit again is a retry; abort after commit is a state error.
        assert_eq!(m.end_txn(7, 0, true, 16), Ok(EndOutcome::AlreadyDone));
        assert_eq!(m.end_txn(7, 0, false, 16), Err(E::InvalidTxnState));
        // The next transaction starts afresh.
        let v = m.add_partitions(7, 0, &[tp("b", 1)], 20).unwrap().unwrap();
        assert_eq!(v.partitions.len(), 1);
        assert_eq!(v.start_ms, 20);
    }

    #[test]
    fn empty_transactions_cannot_end() {
        let mut m = TxnMetadata::new(7, 60_000, 0);
        init(&mut m, None);
        assert_eq!(m.end_txn(7, 0, true, 1), Err(E::InvalidTxnState));
        assert_eq!(m.end_txn(7, 0, false, 1), Err(E::InvalidTxnState));
    }

    #[test]
    fn init_producer_id_bumps_fences_and_recognises_retries() {
        let mut m = TxnMetadata::new(7, 60_000, 0);
        assert_eq!(init(&mut m, None), (7, 0));
        assert_eq!(init(&mut m, Some((7, 0))), (7, 1));
        // The same request again (its answer lost): the current epoch, no bump.
        assert_eq!(
            m.init_producer_id(Some((7, 0)), 60_000, None, 2),
            Ok(InitOutcome::Current(7, 1))
        );
        // A new instance (no expected epoch) bumps and forgets the last epoch: the older
        // instance is fenced.
        assert_eq!(init(&mut m, None), (7, 2));
        assert_eq!(
            m.init_producer_id(Some((7, 1)), 60_000, None, 3),
            Err(E::ProducerFenced)
        );
        assert_eq!(
            m.init_producer_id(Some((7, 0)), 60_000, None, 3),
            Err(E::ProducerFenced)
        );
        assert_eq!(
            m.init_producer_id(Some((5, 0)), 60_000, None, 3),
            Err(E::ProducerFenced)
        );
        // With a transaction open, InitProducerId fences it with the next epoch.
        let v = m.add_partitions(7, 2, &[tp("a", 0)], 4).unwrap().unwrap();
        m.apply(&v);
        match m.init_producer_id(None, 60_000, None, 5) {
            Ok(InitOutcome::FenceAndAbort(f)) => {
                assert_eq!((f.state, f.producer_epoch), (TxnState::PrepareAbort, 3));
                assert_eq!(f.partitions.len(), 1);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exhausted_epochs_rotate_the_producer_id() {
        let mut m = TxnMetadata::new(7, 60_000, 0);
        init(&mut m, None);
        m.producer_epoch = EXHAUSTED_EPOCH;
        assert!(m.needs_new_producer_id(None));
        assert!(m.needs_new_producer_id(Some((7, EXHAUSTED_EPOCH))));
        assert_eq!(init(&mut m, Some((7, EXHAUSTED_EPOCH))), (999, 0));
        assert_eq!(m.prev_producer_id, 7);
        // A retry from the rotated producer (its old id, exhausted epoch) gets the new id
        // without another write.
        assert_eq!(
            m.init_producer_id(Some((7, EXHAUSTED_EPOCH)), 60_000, None, 2),
            Ok(InitOutcome::Current(999, 0))
        );
        // Any other old id is fenced.
        assert_eq!(
            m.init_producer_id(Some((7, 3)), 60_000, None, 2),
            Err(E::ProducerFenced)
        );
    }

    #[test]
    fn timeouts_and_expiry() {
        let mut m = TxnMetadata::new(7, 1_000, 0);
        init(&mut m, None);
        let v = m.add_partitions(7, 0, &[tp("a", 0)], 100).unwrap().unwrap();
        m.apply(&v);
        // The timeout is the one InitProducerId asked for (60 s).
        assert!(!m.timed_out(60_100));
        assert!(m.timed_out(60_101));
        assert!(!m.expired(10_000_000, 1_000));
        let f = m.fence(1_200);
        m.apply(&f);
        let c = m.complete(1_300);
        m.apply(&c);
        assert_eq!((m.state, m.producer_epoch), (TxnState::CompleteAbort, 1));
        assert!(m.expired(1_300 + 1_000, 1_000));
        assert_eq!(m.end_txn(7, 0, false, 1_400), Err(E::ProducerFenced));
    }
}
