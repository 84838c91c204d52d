//! The log's side of producer state: loading it on open (latest snapshot + replay), snapshots
//! at roll and close, the last stable offset, aborted transactions for `read_committed`
//! fetches, and expiry.

use pilgrimage_protocol::batch::control::parse_marker;
use pilgrimage_protocol::batch::view::{BatchHeader, BatchView};
use tracing::{info, warn};

use crate::error::StorageError;
use crate::log::Log;
use crate::producer_snapshot;
use crate::producer_state::{
    AbortedTxn, BatchMeta, Marker, ProducerBatch, ProducerError, ProducerStateManager,
};
use crate::read::LogPosition;
use crate::scan::{self, Source, Verify};

/// What the producer state decided about a batch before it was written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ProducerCheck {
    /// No producer id.
    None,
    Data(ProducerBatch),
    Marker(Marker),
    Duplicate(BatchMeta),
}

/// The producer view of a batch header whose first offset will be `base_offset`.
pub(crate) fn producer_batch(h: &BatchHeader, base_offset: i64) -> ProducerBatch {
    ProducerBatch {
        producer_id: h.producer_id,
        epoch: h.producer_epoch,
        first_seq: h.base_sequence,
        first_offset: base_offset,
        last_offset: base_offset + i64::from(h.last_offset_delta),
        max_timestamp: h.max_timestamp,
        transactional: h.is_transactional(),
    }
}

impl From<ProducerError> for crate::error::AppendError {
    fn from(e: ProducerError) -> Self {
        crate::error::AppendError::Producer(e)
    }
}

impl Log {
    /// The producer state (DescribeProducers, tests).
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producers
    }

    /// First offset of the oldest open transaction.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.producers
            .first_unstable_offset()
            .map(|o| o.max(self.log_start_offset))
    }

    /// The last stable offset with its position, given the high watermark: where a
    /// `read_committed` fetch stops.
    pub fn last_stable(&mut self, high_watermark: LogPosition) -> LogPosition {
        match self.producers.first_unstable_offset() {
            Some(first) if first < high_watermark.offset => {
                self.position_of(first).unwrap_or_else(|| {
                    // The batch could not be located (a read failed): stop at the start of its
                    // segment, earlier than needed but never past the open transaction.
                    let base = self
                        .segments
                        .range(..=first)
                        .next_back()
                        .map_or(first, |(&b, _)| b);
                    LogPosition {
                        offset: base,
                        segment_base: base,
                        position: 0,
                    }
                })
            }
            _ => high_watermark,
        }
    }

    /// Where the batch starting at `offset` lies (cached for open transactions).
    fn position_of(&mut self, offset: i64) -> Option<LogPosition> {
        if let Some(p) = self.txn_positions.get(&offset)
            && self.segments.contains_key(&p.segment_base)
        {
            return Some(*p);
        }
        let first_base = *self.segments.keys().next()?;
        if offset < first_base {
            // The transaction's start was deleted by retention: nothing below the first
            // segment can be read anyway.
            return Some(LogPosition {
                offset: first_base,
                segment_base: first_base,
                position: 0,
            });
        }
        let (&base, seg) = self.segments.range(..=offset).next_back()?;
        let start = u64::from(seg.index.lookup(offset));
        let mut found = None;
        let file = match seg.file.get(&seg.path) {
            Ok(f) => f,
            Err(e) => {
                warn!(dir = %self.dir.display(), error = %e, "cannot locate the last stable offset");
                return None;
            }
        };
        let scanned = scan::scan(
            Source {
                file: &file,
                path: &seg.path,
                len: seg.size,
                segment_base: base,
            },
            start,
            Verify::Headers,
            |pos, h| {
                if found.is_none() && h.last_offset() >= offset {
                    found = Some(LogPosition {
                        offset: h.base_offset.max(offset),
                        segment_base: base,
                        position: pos,
                    });
                }
            },
        );
        if let Err(e) = scanned {
            warn!(dir = %self.dir.display(), error = %e, "cannot locate the last stable offset");
            return None;
        }
        let p = found?;
        self.txn_positions.insert(offset, p);
        Some(p)
    }

    /// Aborted transactions a `read_committed` fetch from `from` needs when it returns the bytes
    /// of segment `segment_base` before byte `end`: the upper offset comes from the offset
    /// index, as Kafka bounds it (the batches need not be read: they may go out with
    /// `sendfile`), so the list may name a few transactions past the returned batches, which
    /// consumers ignore.
    /// `None` when retention removed `from` since the read was planned: the transaction index
    /// of the deleted segment went with it, so the list could miss an abort of the records
    /// read, and they must not be returned.
    pub fn aborted_txns_before(
        &self,
        from: i64,
        segment_base: i64,
        end: u64,
    ) -> Option<Vec<AbortedTxn>> {
        if from < self.log_start_offset {
            return None;
        }
        let upper = self
            .segments
            .get(&segment_base)
            .and_then(|s| {
                s.index
                    .offset_bound_before(end)
                    .or(s.last_offset.map(|l| l + 1))
            })
            .unwrap_or(self.next_offset);
        Some(self.aborted_txns(from, upper))
    }

    /// Aborted transactions that overlap `[from, upper)`, for a `read_committed` fetch.
    pub fn aborted_txns(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let start = self
            .segments
            .range(..=from)
            .next_back()
            .map_or(i64::MIN, |(b, _)| *b);
        self.segments
            .range(start..)
            .flat_map(|(_, s)| s.txn_index.entries().iter())
            .filter(|e| e.last_offset >= from && e.first_offset < upper)
            .copied()
            .collect()
    }

    /// Forgets producers idle for `expiration_ms` (`producer.id.expiration.ms`).
    pub fn remove_expired_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers.remove_expired(now_ms, expiration_ms)
    }

    /// Writes a snapshot of the producer state at the log end offset `offset`.
    pub(crate) fn take_snapshot(&self, offset: i64) -> Result<(), StorageError> {
        producer_snapshot::write(&self.dir, offset, self.producers.producers())
    }

    /// Drops snapshots below the first segment (their batches are gone). Producer entries stay,
    /// as in Kafka: only expiry removes them, so a producer whose batches were deleted is still
    /// checked for duplicates and sequences.
    pub(crate) fn producer_state_after_start_moved(&mut self) {
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        if let Ok(snaps) = producer_snapshot::list(&self.dir) {
            for s in snaps.into_iter().filter(|&s| s < first_base) {
                producer_snapshot::delete(&self.dir, s);
            }
        }
    }

    /// Rebuilds the producer state: the latest usable snapshot, then every batch after it.
    /// A lost `.txnindex` forces a replay from the start, which rebuilds every index.
    pub(crate) fn load_producer_state(&mut self) -> Result<(), StorageError> {
        self.producers = ProducerStateManager::new();
        self.txn_positions.clear();
        let snaps = producer_snapshot::list(&self.dir)?;
        for &s in snaps.iter().filter(|&&s| s > self.next_offset) {
            producer_snapshot::delete(&self.dir, s);
        }
        let lost = self.segments.values().any(|s| s.txn_index_lost);
        let mut from = None;
        if !lost {
            for &s in snaps.iter().rev().filter(|&&s| s <= self.next_offset) {
                match producer_snapshot::read(&self.dir, s) {
                    Ok(entries) => {
                        self.producers = ProducerStateManager::restore(entries);
                        from = Some(s);
                        break;
                    }
                    Err(e) => {
                        warn!(dir = %self.dir.display(), error = %e, "producer snapshot unreadable; using an older one");
                        producer_snapshot::delete(&self.dir, s);
                    }
                }
            }
        }
        let first_base = self.segments.keys().next().copied().unwrap_or(0);
        let from = from.unwrap_or(first_base).max(first_base);
        if from < self.next_offset {
            let replayed = self.replay_producers(from)?;
            if replayed > 0 {
                info!(dir = %self.dir.display(), from, batches = replayed, producers = self.producers.len(), "producer state rebuilt");
            }
        }
        for s in self.segments.values_mut() {
            s.txn_index_lost = false;
        }
        // Sealed segments whose transaction index the replay rewrote get it on disk now.
        let active = self.segments.keys().next_back().copied();
        for (base, s) in &mut self.segments {
            if Some(*base) != active && s.txn_index.is_dirty() {
                s.txn_index.persist()?;
            }
        }
        if from < self.next_offset {
            self.take_snapshot(self.next_offset)?;
        }
        Ok(())
    }

    /// Applies every batch at or after `from` to the producer state, rebuilding the
    /// transaction indexes of the segments it passes. Returns the batches seen.
    fn replay_producers(&mut self, from: i64) -> Result<u64, StorageError> {
        let bases: Vec<i64> = self
            .segments
            .iter()
            .filter(|(_, s)| s.last_offset.is_some_and(|l| l >= from))
            .map(|(b, _)| *b)
            .collect();
        let mut batches = 0u64;
        for base in bases {
            let Some(seg) = self.segments.get_mut(&base) else {
                continue;
            };
            seg.txn_index.truncate_from(from);
            let start = if base <= from {
                u64::from(seg.index.lookup(from))
            } else {
                0
            };
            let file = seg.file.get(&seg.path)?;
            let path = seg.path.clone();
            let len = seg.size;
            let mut seen: Vec<(u64, BatchHeader, Option<Marker>)> = Vec::new();
            let mut bad = None;
            scan::scan_batches(
                Source {
                    file: &file,
                    path: &path,
                    len,
                    segment_base: base,
                },
                start,
                Verify::Headers,
                true,
                |pos, h, whole| {
                    if h.base_offset < from || h.producer_id < 0 {
                        return;
                    }
                    let marker = match whole {
                        Some(bytes) => match BatchView::parse(bytes, 0)
                            .map_err(|e| e.to_string())
                            .and_then(|(v, _)| parse_marker(&v).map_err(|e| e.to_string()))
                        {
                            Ok(m) => Some(Marker {
                                producer_id: h.producer_id,
                                epoch: h.producer_epoch,
                                commit: m.commit,
                                coordinator_epoch: m.coordinator_epoch,
                                offset: h.base_offset,
                                timestamp: h.max_timestamp,
                            }),
                            Err(e) => {
                                bad.get_or_insert(format!(
                                    "marker at offset {}: {e}",
                                    h.base_offset
                                ));
                                return;
                            }
                        },
                        None => None,
                    };
                    seen.push((pos, *h, marker));
                },
            )?;
            if let Some(detail) = bad {
                return Err(StorageError::Corrupt {
                    what: "transaction marker",
                    path,
                    detail,
                });
            }
            for (pos, h, marker) in seen {
                batches += 1;
                let at = LogPosition {
                    offset: h.base_offset,
                    segment_base: base,
                    position: pos,
                };
                // Emptied batches (compaction) still carry their producer's sequence state.
                let check = match marker {
                    Some(m) => ProducerCheck::Marker(m),
                    None => ProducerCheck::Data(producer_batch(&h, h.base_offset)),
                };
                self.apply_producer(check, &h, at);
            }
        }
        Ok(batches)
    }
}
