//! The log of one partition: an ordered set of segments, the last one active.
//!
//! ```text
//!  log start offset                      recovery point           log end offset (LEO)
//!        │                                      │                          │
//!  [seg 0 .log/.index/.timeindex] [seg 1000 …] [seg 2000 (active) ───────────]
//!        └── retention deletes whole segments from this end      appends go here ──┘
//! ```
//! The recovery point is the offset below which everything is known to be fsynced; after an
//! unclean shutdown only segments from the one holding it onwards are CRC-scanned, and the
//! torn tail, if any, is cut at the last whole, valid batch.
//!
//! Opening and recovery are in `recovery`, retention and DeleteRecords in `retention`,
//! producer state in `producer_log`, cleaning in `compaction`: each adds to `impl Log`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pilgrimage_protocol::batch::control::parse_marker;
use pilgrimage_protocol::batch::validate;
use pilgrimage_protocol::batch::view::{self, BatchHeader, BatchView};

use crate::config::LogConfig;
use crate::error::{AppendError, ReadError, StorageError};
use crate::flush::{FlushPlan, PlannedSync};
use crate::leader_epoch::LeaderEpochCache;
use crate::prefetch::Prefetcher;
use crate::producer_log::{ProducerCheck, producer_batch};
use crate::producer_state::{Checked, Marker, ProducerBatch, ProducerStateManager};
use crate::read::{LogPosition, ReadPlan};
use crate::segment::Segment;

/// Who appends a batch: producer state checks differ (Kafka's `AppendOrigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A producer: epochs, sequences, duplicates and transaction state are checked.
    Client,
    /// A coordinator of this node (transaction markers, group records): epochs and
    /// coordinator epochs are checked, sequences are not.
    Coordinator,
    /// A follower copying its leader: nothing is checked, the state just follows.
    Replication,
}

/// How to open a log.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Checkpointed recovery point: everything below it was fsynced.
    pub recovery_point: i64,
    /// Checkpointed log start offset (it can lie inside the first segment after DeleteRecords).
    pub log_start_offset: i64,
    /// The node shut down cleanly: indexes were written and the tail is whole.
    pub clean_shutdown: bool,
    pub now_ms: i64,
}

/// What opening found.
#[derive(Debug, Default, Clone)]
pub struct RecoveryReport {
    pub segments: usize,
    pub recovered_segments: usize,
    /// Bytes cut off torn or corrupt tails.
    pub truncated_bytes: u64,
    pub reasons: Vec<String>,
}

/// The result of one append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub records: i32,
    /// Where the log ends after this batch.
    pub end: LogPosition,
    /// The log start offset at the time of the append (the produce response reports it).
    pub log_start_offset: i64,
    /// The batch was a retry of one already in the log: nothing was written, and the offsets
    /// are those of the original.
    pub duplicate: bool,
}

/// What a retention pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    pub segments_deleted: usize,
    pub bytes_deleted: u64,
}

#[derive(Debug)]
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) next_offset: i64,
    pub(crate) recovery_point: i64,
    pub(crate) unflushed_records: u64,
    pub(crate) oldest_unflushed_ms: Option<i64>,
    /// A segment was sealed since the last flush plan: it is flushed at once (as Kafka flushes
    /// a rolled segment), so the recovery point never lags more than the active segment and a
    /// restart after a crash rescans at most that.
    pub(crate) rolled_unflushed: bool,
    pub(crate) offline: bool,
    pub(crate) epochs: LeaderEpochCache,
    /// First offset the cleaner has not compacted yet (the cleaner checkpoint).
    pub(crate) first_dirty: i64,
    /// Earliest delete horizon (KIP-534) of a cleaned batch holding tombstones: when it passes,
    /// the log is worth cleaning again to drop them.
    pub(crate) earliest_delete_horizon: Option<i64>,
    /// Idempotent and transactional producers of this partition.
    pub(crate) producers: ProducerStateManager,
    /// Where each open transaction starts (by first offset): the read bound of
    /// `read_committed` fetches. Filled lazily for transactions older than a restart.
    pub(crate) txn_positions: HashMap<i64, LogPosition>,
    /// Read-ahead buffers for fetches of ranges not in the page cache.
    pub(crate) prefetch: Arc<Prefetcher>,
}

/// Bytes at the start of a batch that the log rewrites (base offset, length, partition leader
/// epoch): everything before the magic byte, outside the CRC.
const PATCHED_PREFIX_BYTES: usize = view::MAGIC;

impl Log {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The log end offset: the offset the next record will get.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    pub fn is_offline(&self) -> bool {
        self.offline
    }

    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(|s| s.size).sum()
    }

    pub fn leader_epochs(&self) -> &LeaderEpochCache {
        &self.epochs
    }

    fn active(&self) -> &Segment {
        // A log always has at least one segment (created on open, kept by retention).
        self.segments
            .values()
            .next_back()
            .unwrap_or_else(|| unreachable!("log without segments"))
    }

    /// Where the log ends now.
    pub fn end(&self) -> LogPosition {
        let a = self.active();
        LogPosition {
            offset: self.next_offset,
            segment_base: a.base_offset,
            position: a.size,
        }
    }

    pub(crate) fn check_online(&self) -> Result<(), StorageError> {
        if self.offline {
            Err(StorageError::Offline(self.dir.clone()))
        } else {
            Ok(())
        }
    }

    /// Appends one validated batch from a client: see [`Log::append_from`].
    pub fn append(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        self.append_from(batch, leader_epoch, now_ms, AppendOrigin::Client)
    }

    /// Appends one validated batch: checks it against the producer state (a duplicate is
    /// answered with the original's offsets and not written), assigns its offsets from the log
    /// end, stamps the leader epoch (both outside the CRC), rolls the active segment if needed
    /// and writes the batch. The batch is not yet durable: see [`Log::flush_plan`].
    pub fn append_from(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
        origin: AppendOrigin,
    ) -> Result<AppendInfo, AppendError> {
        self.check_online()?;
        let (view, rest) =
            BatchView::parse(batch, 0).map_err(|e| AppendError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(AppendError::Malformed("more than one batch".into()));
        }
        let header = *view.header();
        let size = header.size() as u64;
        if size > self.config.segment_bytes {
            return Err(AppendError::TooLarge(size as usize));
        }
        let base_offset = self.next_offset;
        let producer = self.check_producer(&view, base_offset, origin)?;
        if let ProducerCheck::Duplicate(m) = producer {
            return Ok(AppendInfo {
                base_offset: m.first_offset(),
                last_offset: m.last_offset,
                max_timestamp: m.timestamp,
                records: 0,
                end: self.end(),
                log_start_offset: self.log_start_offset,
                duplicate: true,
            });
        }
        // Base offset and leader epoch lie in the first bytes, outside the CRC: they are
        // patched in a copy of those bytes and the rest is written as received.
        let (first, rest_of_batch) = batch
            .split_at_checked(PATCHED_PREFIX_BYTES)
            .ok_or_else(|| AppendError::Malformed("batch shorter than its header".into()))?;
        let mut head = [0u8; PATCHED_PREFIX_BYTES];
        head.copy_from_slice(first);
        view::set_base_offset(&mut head, base_offset);
        view::set_partition_leader_epoch(&mut head, leader_epoch);
        let mut h = header;
        h.base_offset = base_offset;
        h.partition_leader_epoch = leader_epoch;
        self.maybe_roll(size, h.last_offset(), now_ms)?;
        let at = self.end();
        if self.epochs.assign(leader_epoch, base_offset) {
            self.epochs.persist()?;
        }
        let active = self
            .segments
            .values_mut()
            .next_back()
            .ok_or_else(|| StorageError::Invalid("no segment".into()))?;
        if let Err(e) = active.append(&head, rest_of_batch, &h) {
            if e.is_disk_full() || e.is_open_failure() {
                // The write was cut back (or never started, the file could not be opened):
                // nothing half-written remains, the log stays usable.
                return Err(e.into());
            }
            self.offline = true;
            return Err(e.into());
        }
        self.next_offset = h.last_offset() + 1;
        self.unflushed_records += u64::from(h.records_count.max(0) as u32);
        self.oldest_unflushed_ms.get_or_insert(now_ms);
        self.apply_producer(producer, &h, at);
        Ok(AppendInfo {
            base_offset,
            last_offset: h.last_offset(),
            max_timestamp: h.max_timestamp,
            records: h.records_count,
            end: self.end(),
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// The name Kafka's messages give the partition: the directory name, `<topic>-<partition>`.
    /// The partition's directory name (`topic-N`), for error messages; borrowed, so the
    /// produce path allocates nothing for it.
    fn partition_name(&self) -> &str {
        self.dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    /// Checks a batch against the producer state before it is written.
    fn check_producer(
        &self,
        view: &BatchView<'_>,
        base_offset: i64,
        origin: AppendOrigin,
    ) -> Result<ProducerCheck, AppendError> {
        let h = view.header();
        if h.producer_id < 0 {
            return Ok(ProducerCheck::None);
        }
        let name = self.partition_name();
        if h.is_control() {
            let m = parse_marker(view).map_err(|e| AppendError::Malformed(e.to_string()))?;
            let marker = Marker {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                commit: m.commit,
                coordinator_epoch: m.coordinator_epoch,
                offset: base_offset,
                timestamp: h.max_timestamp,
            };
            if origin != AppendOrigin::Replication {
                self.producers.check_marker(&marker, name)?;
            }
            return Ok(ProducerCheck::Marker(marker));
        }
        let b = producer_batch(h, base_offset);
        if origin != AppendOrigin::Replication
            && let Checked::Duplicate(m) =
                self.producers
                    .check(&b, name, origin == AppendOrigin::Client)?
        {
            return Ok(ProducerCheck::Duplicate(m));
        }
        Ok(ProducerCheck::Data(b))
    }

    /// Records a written batch in the producer state; `at` is where it starts.
    pub(crate) fn apply_producer(
        &mut self,
        check: ProducerCheck,
        h: &BatchHeader,
        at: LogPosition,
    ) {
        match check {
            ProducerCheck::None | ProducerCheck::Duplicate(_) => {}
            ProducerCheck::Data(b) => {
                let b = ProducerBatch {
                    first_offset: h.base_offset,
                    last_offset: h.last_offset(),
                    ..b
                };
                let opens = b.transactional
                    && self
                        .producers
                        .entry(b.producer_id)
                        .is_none_or(|e| e.txn_first_offset.is_none());
                self.producers.apply(&b);
                if opens {
                    self.txn_positions.insert(b.first_offset, at);
                }
            }
            ProducerCheck::Marker(m) => {
                let (done, aborted) = self.producers.apply_marker(&Marker {
                    offset: h.base_offset,
                    ..m
                });
                self.txn_positions.remove(&done.first_offset);
                // The abort is indexed in the segment holding its marker.
                if let Some(a) = aborted
                    && let Some(seg) = self.segments.get_mut(&at.segment_base)
                {
                    seg.txn_index.append(a);
                }
            }
        }
    }

    fn maybe_roll(
        &mut self,
        incoming: u64,
        last_offset: i64,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let cfg = &self.config;
        let a = self.active();
        let full = a.size > 0 && a.size + incoming > cfg.segment_bytes;
        let old = a.size > 0 && now_ms.saturating_sub(a.rolling_base_ms) > cfg.segment_ms;
        let index_full = a.index.size_bytes() + 8 > cfg.segment_index_bytes
            || a.time_index.size_bytes() + 12 > cfg.segment_index_bytes;
        let offsets_overflow = last_offset - a.base_offset > i64::from(i32::MAX);
        let position_overflow = a.size + incoming > u64::from(u32::MAX);
        if full || old || (a.size > 0 && (index_full || offsets_overflow || position_overflow)) {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one at the log end.
    pub fn roll(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let base = self.next_offset;
        if self.active().base_offset == base {
            return Ok(()); // already an empty active segment at the end
        }
        if let Some(a) = self.segments.values_mut().next_back() {
            a.seal()?;
        }
        // Producer state as of the new segment's start: a restart replays only from here.
        self.take_snapshot(base)?;
        let seg = Segment::create(&self.dir, base, now_ms, self.config.index_interval_bytes)?;
        self.segments.insert(base, seg);
        self.rolled_unflushed = true;
        Ok(())
    }

    /// Where in its segment a batch of `size` bytes appended now would start: 0 when it would
    /// fill the active segment (a roll), else the active segment's size. A receiver uses it to
    /// place the batch in memory at the offset within a block it will have on disk (see
    /// `direct`); a roll for the segment's age, a full index or offsets past its range is not
    /// foreseen, which costs only that copy.
    pub fn next_append_position(&self, size: u64) -> u64 {
        let a = self.active();
        let full = a.size + size > self.config.segment_bytes || a.size + size > u64::from(u32::MAX);
        if a.size > 0 && full { 0 } else { a.size }
    }

    /// Plans a read of up to `max_bytes` from `offset`, never past `upper` (the high watermark
    /// or last stable offset, with its position). The plan is executed without the log lock.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper: LogPosition,
        min_one: bool,
    ) -> Result<ReadPlan, ReadError> {
        self.check_online()?;
        if offset < self.log_start_offset || offset > self.next_offset {
            return Err(ReadError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.next_offset,
            });
        }
        let empty = |s: &Segment| ReadPlan {
            file: None,
            path: s.path.clone(),
            segment_base: s.base_offset,
            start: 0,
            limit: 0,
            offset,
            max_bytes,
            min_one,
            prefetch: None,
            later_segments: false,
        };
        // The segment holding `offset`, or else the next one holding anything: compaction can
        // leave gaps between segments and empty segments behind.
        let holding = self
            .segments
            .range(..=offset)
            .next_back()
            .map(|(_, s)| s)
            .filter(|s| s.last_offset.is_some_and(|l| l >= offset));
        let Some(seg) = holding.or_else(|| {
            self.segments
                .range(offset + 1..)
                .map(|(_, s)| s)
                .find(|s| s.last_offset.is_some())
        }) else {
            return Ok(empty(self.active()));
        };
        if offset >= upper.offset || seg.base_offset > upper.segment_base {
            return Ok(empty(seg));
        }
        let limit = if seg.base_offset == upper.segment_base {
            upper.position.min(seg.size)
        } else {
            seg.size
        };
        Ok(ReadPlan {
            file: Some(seg.file.get(&seg.path)?),
            path: seg.path.clone(),
            segment_base: seg.base_offset,
            start: u64::from(seg.index.lookup(offset)),
            limit,
            offset,
            max_bytes,
            min_one,
            prefetch: Some((Arc::clone(&self.prefetch), self.prefetch.generation())),
            later_segments: seg.base_offset != upper.segment_base
                && seg.last_offset.is_some_and(|l| l + 1 < upper.offset),
        })
    }

    /// The first offset whose record timestamp is ≥ `target`, with that timestamp (Kafka's
    /// ListOffsets by timestamp). Reads under the caller's lock: it is rare and bounded by one
    /// segment's scan from the time index position.
    pub fn offset_for_timestamp(
        &self,
        target: i64,
        upper: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        for seg in self.segments.values() {
            if seg.max_timestamp < target {
                continue;
            }
            let start_offset = seg
                .time_index
                .scan_start_for(target)
                .unwrap_or(seg.base_offset);
            let start = u64::from(seg.index.lookup(start_offset));
            let mut found = None;
            let mut err = None;
            self.for_each_batch(seg, start, |v| {
                if found.is_some() || err.is_some() || v.header().base_offset >= upper {
                    return false;
                }
                match validate::first_at_or_after(v, target, self.log_start_offset) {
                    Ok(Some((o, ts))) if o < upper => found = Some((o, ts)),
                    Ok(_) => {}
                    Err(e) => err = Some(e.to_string()),
                }
                true
            })?;
            if let Some(e) = err {
                return Err(StorageError::Corrupt {
                    what: "batch",
                    path: seg.path.clone(),
                    detail: e,
                });
            }
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The record with the largest timestamp below `upper` (ListOffsets MAX_TIMESTAMP, KIP-734).
    pub fn max_timestamp_record(&self, upper: i64) -> Result<Option<(i64, i64)>, StorageError> {
        let Some(seg) = self
            .segments
            .values()
            .filter(|s| s.last_offset.is_some())
            .fold(None::<&Segment>, |best, s| match best {
                Some(b) if b.max_timestamp >= s.max_timestamp => Some(b),
                _ => Some(s),
            })
        else {
            return Ok(None);
        };
        let mut best: Option<(i64, i64)> = None;
        let mut err = None;
        self.for_each_batch(seg, 0, |v| {
            let h = v.header();
            if h.base_offset >= upper {
                return false;
            }
            if h.max_timestamp > best.map_or(i64::MIN, |b| b.1) {
                match validate::max_timestamp_record(v, self.log_start_offset) {
                    Ok(Some((o, ts))) if o < upper && best.is_none_or(|b| ts > b.1) => {
                        best = Some((o, ts))
                    }
                    Ok(_) => {}
                    Err(e) => err = Some(e.to_string()),
                }
            }
            true
        })?;
        match err {
            Some(e) => Err(StorageError::Corrupt {
                what: "batch",
                path: seg.path.clone(),
                detail: e,
            }),
            None => Ok(best),
        }
    }

    /// Calls `f` with each whole batch of `seg` from byte `start` until it returns false.
    fn for_each_batch(
        &self,
        seg: &Segment,
        start: u64,
        mut f: impl FnMut(&BatchView<'_>) -> bool,
    ) -> Result<(), StorageError> {
        use std::os::unix::fs::FileExt;
        let mut pos = start;
        let mut head = [0u8; view::LOG_OVERHEAD];
        let mut buf = Vec::new();
        let file = seg.file.get(&seg.path)?;
        while pos + view::LOG_OVERHEAD as u64 <= seg.size {
            file.read_exact_at(&mut head, pos)
                .map_err(|e| StorageError::io("read", &seg.path, e))?;
            let Some((_, len)) = view::peek_offset_and_length(&head) else {
                break;
            };
            let size = view::LOG_OVERHEAD as u64 + len.max(0) as u64;
            if pos + size > seg.size {
                break;
            }
            buf.resize(size as usize, 0);
            file.read_exact_at(&mut buf, pos)
                .map_err(|e| StorageError::io("read", &seg.path, e))?;
            let Ok((v, _)) = BatchView::parse(&buf, 0) else {
                break;
            };
            if !f(&v) {
                break;
            }
            pos += size;
        }
        Ok(())
    }

    /// True when `flush.messages` or `flush.ms` call for an fsync now.
    pub fn flush_due(&self, now_ms: i64) -> bool {
        self.rolled_unflushed
            || self.unflushed_records > 0
                && (self.unflushed_records >= self.config.flush_messages
                    || self
                        .oldest_unflushed_ms
                        .is_some_and(|t| now_ms.saturating_sub(t) >= self.config.flush_ms))
    }

    /// Everything an fsync must cover to make the log durable up to its current end: the
    /// active segment and any sealed segment not yet synced. `None` if nothing is pending.
    pub fn flush_plan(&mut self) -> Option<FlushPlan> {
        if self.offline {
            return None;
        }
        let files: Vec<_> = self
            .segments
            .values()
            .filter(|s| s.synced_size < s.size)
            .map(|s| PlannedSync {
                file: s.file.clone(),
                pinned: s.file.get(&s.path).ok(),
                path: s.path.clone(),
                base: s.base_offset,
                size: s.size,
            })
            .collect();
        if files.is_empty() && self.recovery_point >= self.next_offset {
            return None;
        }
        let plan = FlushPlan {
            files,
            target: self.end(),
            records: self.unflushed_records,
        };
        self.rolled_unflushed = false;
        self.unflushed_records = 0;
        self.oldest_unflushed_ms = None;
        Some(plan)
    }

    /// Records a finished flush: the recovery point moves to the plan's target.
    pub fn flush_completed(&mut self, plan: &FlushPlan) {
        for &PlannedSync { base, size, .. } in &plan.files {
            if let Some(s) = self.segments.get_mut(&base) {
                s.synced_size = s.synced_size.max(size);
            }
        }
        self.recovery_point = self.recovery_point.max(plan.target.offset);
    }

    /// A flush failed: the log goes offline (an fsync is never retried).
    pub fn flush_failed(&mut self) {
        self.offline = true;
    }

    /// Removes every record at or after `offset` (a replica diverged from its leader).
    pub fn truncate_to(&mut self, offset: i64, now_ms: i64) -> Result<(), StorageError> {
        self.check_online()?;
        if offset >= self.next_offset {
            return Ok(());
        }
        let doomed: Vec<i64> = self
            .segments
            .range(offset.max(self.log_start_offset) + 1..)
            .map(|(b, _)| *b)
            .collect();
        // Bytes below the visible end change: no buffer read before may be served.
        self.prefetch.clear();
        // Segments starting after the cut go whole; the one holding the cut is trimmed.
        for b in doomed {
            if let Some(s) = self.segments.remove(&b) {
                s.delete_files();
            }
        }
        if let Some((_, seg)) = self.segments.range_mut(..=offset).next_back() {
            seg.truncate_to(offset)?;
        }
        if self.segments.is_empty() {
            let seg = Segment::create(&self.dir, offset, now_ms, self.config.index_interval_bytes)?;
            self.segments.insert(offset, seg);
        }
        self.next_offset = self
            .segments
            .values()
            .rev()
            .find_map(|s| s.last_offset)
            .map_or(offset.min(self.next_offset), |l| l + 1);
        self.recovery_point = self.recovery_point.min(self.next_offset);
        self.log_start_offset = self.log_start_offset.min(self.next_offset);
        if self.epochs.truncate_from_end(self.next_offset) {
            self.epochs.persist()?;
        }
        // Producer state is rebuilt from a snapshot at or below the new end.
        self.load_producer_state()?;
        Ok(())
    }

    /// Writes indexes and fsyncs every segment: called on clean shutdown.
    pub fn close(&mut self) -> Result<(), StorageError> {
        if self.offline {
            return Err(StorageError::Offline(self.dir.clone()));
        }
        for seg in self.segments.values_mut() {
            seg.persist_indexes()?;
            if seg.synced_size < seg.size {
                seg.file.sync_data(&seg.path)?;
                seg.synced_size = seg.size;
            }
        }
        self.recovery_point = self.next_offset;
        self.take_snapshot(self.next_offset)?;
        Ok(())
    }

    /// Deletes the whole log directory (topic deletion).
    pub fn delete(self) -> Result<(), StorageError> {
        std::fs::remove_dir_all(&self.dir).map_err(|e| StorageError::io("delete log", &self.dir, e))
    }
}
