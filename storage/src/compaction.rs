//! Log compaction (`cleanup.policy=compact`): keep the latest record of every key.
//!
//! ```text
//!  log start        first dirty          first uncleanable    active segment
//!     │── clean ───────│──── dirty ─────────│── too young ───────│── never cleaned ──▶
//!                       └ offset map: key hash → latest offset (bounded)
//!  rewrite every whole segment below the first uncleanable offset, in groups of at most
//!  segment.bytes: drop records whose key has a later offset, drop tombstones past their
//!  delete horizon (KIP-534), drop the records of aborted transactions, keep control batches,
//!  keep every batch's offsets and producer fields
//! ```
//! Transactions: cleaning stops at the last stable offset (open transactions are never
//! touched), and records of aborted transactions neither enter the offset map nor survive a
//! pass: an aborted write must not shadow the committed value of its key. Markers are kept.
//! Three steps, so the partition lock is held only briefly:
//! 1. [`Log::cleaning_plan`] (lock): decides whether the log is worth cleaning (dirty ratio,
//!    `max.compaction.lag.ms`, a passed delete horizon) and snapshots the segments to clean.
//! 2. [`CleaningPlan::run`] (no lock): builds the offset map and writes the cleaned groups to
//!    `<base>.log.cleaned` files, fsynced.
//! 3. [`Log::install_cleaned`] (lock): for each group, renames `.cleaned` → `.swap` (the point
//!    of no return), deletes the replaced segments, renames `.swap` → `.log`.
//!
//! Crash safety: on open, a `.cleaned` file is an unfinished pass and is deleted; a `.swap` file
//! is a finished group: segments inside its offset range are deleted and it becomes the `.log`.
//! No record of the latest value per key is lost, and no half-written segment is used.
//!
//! Bounds: the offset map holds at most `dedupe_entries` keys (24 bytes each); when it fills,
//! the pass cleans only up to the last dirty segment it covered, and the next pass continues.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pilgrimage_protocol::batch::RecordIter;
use pilgrimage_protocol::batch::builder::{Filtered, filter_batch};
use pilgrimage_protocol::batch::validate::decompressed_cap;
use pilgrimage_protocol::batch::view::{self, ATTR_DELETE_HORIZON, BatchView};
use pilgrimage_protocol::codec;
use tracing::{info, warn};
use twox_hash::XxHash3_128;

use crate::error::StorageError;
use crate::files::SegmentFile;
use crate::log::Log;
use crate::segment::{self, Segment};

/// How the cleaner may spend resources.
#[derive(Debug, Clone, Copy)]
pub struct CleanerLimits {
    /// Keys the offset map may hold (`log.cleaner.dedupe.buffer.size` / 24).
    pub dedupe_entries: usize,
    /// Bytes read and written per second (`log.cleaner.io.max.bytes.per.second`).
    pub io_bytes_per_sec: f64,
}

impl Default for CleanerLimits {
    fn default() -> Self {
        CleanerLimits {
            dedupe_entries: 128 * 1024 * 1024 / 24,
            io_bytes_per_sec: f64::INFINITY,
        }
    }
}

#[derive(Debug, Clone)]
struct SegRef {
    base: i64,
    size: u64,
    last_offset: i64,
    /// Reopened by path if its handle was closed meanwhile (handles are not pinned for a whole
    /// pass, which may span many segments); a segment deleted in between fails the pass, which
    /// is retried from the cleaner checkpoint.
    file: SegmentFile,
    path: PathBuf,
}

/// A cleaning pass to run without the log lock.
#[derive(Debug)]
pub struct CleaningPlan {
    dir: PathBuf,
    segments: Vec<SegRef>,
    first_dirty: i64,
    group_bytes: u64,
    index_interval_bytes: u64,
    delete_retention_ms: i64,
    now_ms: i64,
    /// Aborted transactions by producer id: (first offset, marker offset).
    aborted: HashMap<i64, Vec<(i64, i64)>>,
}

impl CleaningPlan {
    /// Whether `h` is a batch of an aborted transaction.
    fn is_aborted(&self, h: &view::BatchHeader) -> bool {
        h.is_transactional()
            && !h.is_control()
            && self.aborted.get(&h.producer_id).is_some_and(|txns| {
                txns.iter()
                    .any(|&(first, last)| h.base_offset >= first && h.last_offset() < last)
            })
    }
}

/// One cleaned group of segments, written and fsynced, waiting to be swapped in.
#[derive(Debug)]
pub struct CleanedGroup {
    replaced: Vec<(i64, u64)>,
    segment: Segment,
    min_horizon: Option<i64>,
}

/// The output of a pass.
#[derive(Debug)]
pub struct Cleaned {
    groups: Vec<CleanedGroup>,
    /// The cleaner checkpoint after the pass.
    pub next_first_dirty: i64,
    /// Bytes before and after.
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Records dropped (superseded, or expired tombstones).
    pub records_dropped: u64,
}

impl Log {
    /// The cleaner checkpoint: the first offset not yet compacted.
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty
    }

    /// Restores the cleaner checkpoint after open.
    pub fn set_first_dirty_offset(&mut self, offset: i64) {
        self.first_dirty = offset.clamp(self.log_start_offset, self.next_offset);
    }

    /// Bytes of segments that a pass could clean, and how many of them are dirty.
    fn cleanable(&self, now_ms: i64, high_watermark: i64) -> (Vec<&Segment>, u64, u64) {
        let cfg = &self.config;
        let active = self
            .segments
            .keys()
            .next_back()
            .copied()
            .unwrap_or(i64::MAX);
        let mut out = Vec::new();
        let (mut total, mut dirty) = (0u64, 0u64);
        for (base, seg) in &self.segments {
            let Some(last) = seg.last_offset else {
                continue;
            };
            if *base >= active || last >= high_watermark {
                break;
            }
            // min.compaction.lag.ms: a segment holding records that are too young stops the
            // cleanable range (Kafka's firstUncleanableOffset).
            if cfg.min_compaction_lag_ms > 0
                && now_ms.saturating_sub(seg.max_timestamp) < cfg.min_compaction_lag_ms
            {
                break;
            }
            total += seg.size;
            if last >= self.first_dirty {
                dirty += seg.size;
            }
            out.push(seg);
        }
        (out, total, dirty)
    }

    /// Whether the log is worth cleaning now, and the pass if so.
    pub fn cleaning_plan(&mut self, now_ms: i64, high_watermark: i64) -> Option<CleaningPlan> {
        if !self.config.cleanup_compact || self.offline {
            return None;
        }
        self.first_dirty = self.first_dirty.max(self.log_start_offset);
        // Never past the last stable offset: open transactions may still abort.
        let upper = self
            .first_unstable_offset()
            .map_or(high_watermark, |o| o.min(high_watermark));
        let (segs, total, dirty) = self.cleanable(now_ms, upper);
        if segs.is_empty() {
            return None;
        }
        let ratio = if total == 0 {
            0.0
        } else {
            dirty as f64 / total as f64
        };
        let cfg = &self.config;
        let overdue = segs
            .iter()
            .find(|s| s.last_offset.is_some_and(|l| l >= self.first_dirty))
            .is_some_and(|s| now_ms.saturating_sub(s.rolling_base_ms) > cfg.max_compaction_lag_ms);
        let horizon_passed = self.earliest_delete_horizon.is_some_and(|h| h <= now_ms);
        if !(dirty > 0 && ratio > cfg.min_cleanable_dirty_ratio || overdue || horizon_passed) {
            return None;
        }
        Some(CleaningPlan {
            dir: self.dir.clone(),
            segments: segs
                .iter()
                .map(|s| SegRef {
                    base: s.base_offset,
                    size: s.size,
                    last_offset: s.last_offset.unwrap_or(s.base_offset),
                    file: s.file.clone(),
                    path: s.path.clone(),
                })
                .collect(),
            first_dirty: self.first_dirty,
            group_bytes: cfg.segment_bytes,
            index_interval_bytes: cfg.index_interval_bytes,
            delete_retention_ms: cfg.delete_retention_ms,
            now_ms,
            aborted: {
                let mut m: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
                for e in self.segments.values().flat_map(|s| s.txn_index.entries()) {
                    m.entry(e.producer_id)
                        .or_default()
                        .push((e.first_offset, e.last_offset));
                }
                m
            },
        })
    }

    /// Swaps cleaned groups in for the segments they replace (see the module doc). A group
    /// whose segments changed meanwhile (retention, truncation) is discarded.
    pub fn install_cleaned(&mut self, cleaned: Cleaned) -> Result<usize, StorageError> {
        let mut installed = 0;
        let mut min_horizon: Option<i64> = None;
        for g in cleaned.groups {
            let still_there = g
                .replaced
                .iter()
                .all(|(base, size)| self.segments.get(base).is_some_and(|s| s.size == *size));
            if !still_there {
                let _ = std::fs::remove_file(&g.segment.path);
                continue;
            }
            let mut seg = g.segment;
            let first = seg.base_offset;
            if seg.size == 0 {
                // Everything in the group was compacted away: the replaced segments just go.
                for (base, _) in &g.replaced {
                    if let Some(old) = self.segments.remove(base) {
                        old.delete_files();
                    }
                }
                let _ = std::fs::remove_file(&seg.path);
                crate::checkpoint::sync_dir(&self.dir)?;
                installed += 1;
                continue;
            }
            // Aborted transactions indexed by the replaced segments move to the new one.
            for (base, _) in &g.replaced {
                if let Some(old) = self.segments.get(base) {
                    for e in old.txn_index.entries() {
                        seg.txn_index.append(*e);
                    }
                }
            }
            let swap = self
                .dir
                .join(format!("{}.swap", segment::file_name(first, "log")));
            std::fs::rename(&seg.path, &swap)
                .map_err(|e| StorageError::io("rename cleaned segment", &swap, e))?;
            crate::checkpoint::sync_dir(&self.dir)?;
            for (base, _) in &g.replaced {
                if let Some(old) = self.segments.remove(base) {
                    old.delete_files();
                }
            }
            let final_path = self.dir.join(segment::file_name(first, "log"));
            std::fs::rename(&swap, &final_path)
                .map_err(|e| StorageError::io("rename swapped segment", &final_path, e))?;
            seg.path = final_path;
            seg.seal()?;
            crate::checkpoint::sync_dir(&self.dir)?;
            self.segments.insert(first, seg);
            if let Some(h) = g.min_horizon {
                min_horizon = Some(min_horizon.map_or(h, |m: i64| m.min(h)));
            }
            installed += 1;
        }
        self.first_dirty = self.first_dirty.max(cleaned.next_first_dirty);
        self.earliest_delete_horizon = min_horizon;
        // Read-ahead buffers of the replaced segments go; the cleaned ones are other files,
        // which no buffer names.
        self.prefetch.forget_closed();
        Ok(installed)
    }
}

/// Finishes (or discards) a pass interrupted by a crash: called by `Log::open` before segments
/// are loaded.
pub(crate) fn recover_interrupted(dir: &Path) -> Result<(), StorageError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io("list log dir", dir, e))?;
    let mut swaps = Vec::new();
    let mut changed = false;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".cleaned") {
            let _ = std::fs::remove_file(e.path());
            changed = true;
        } else if let Some(log_name) = name.strip_suffix(".swap") {
            swaps.push((e.path(), dir.join(log_name)));
        }
    }
    for (swap, final_path) in swaps {
        // The swap is whole (it was fsynced before the rename). Everything it replaces lies in
        // its offset range: delete those segments, then move it into place.
        let (first, last) = offset_range(&swap)?;
        let logs = std::fs::read_dir(dir).map_err(|e| StorageError::io("list log dir", dir, e))?;
        for e in logs.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(stem) = name.strip_suffix(".log") else {
                continue;
            };
            let Ok(base) = stem.parse::<i64>() else {
                continue;
            };
            if base >= first && base <= last {
                for ext in ["log", "index", "timeindex", "txnindex"] {
                    let _ = std::fs::remove_file(dir.join(segment::file_name(base, ext)));
                }
            }
        }
        std::fs::rename(&swap, &final_path)
            .map_err(|e| StorageError::io("finish swap", &final_path, e))?;
        warn!(segment = %final_path.display(), "finished a compaction interrupted by a crash");
        changed = true;
    }
    // Nothing interrupted (the common case): no directory fsync, which would cost a disk
    // flush per partition when thousands of logs open.
    if changed {
        crate::checkpoint::sync_dir(dir)?;
    }
    Ok(())
}

/// Base offset from the file name and last offset from the batches of a cleaned file.
fn offset_range(path: &Path) -> Result<(i64, i64), StorageError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let first: i64 = name
        .split('.')
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| StorageError::Corrupt {
            what: "swap file name",
            path: path.to_path_buf(),
            detail: name.clone(),
        })?;
    let bytes = std::fs::read(path).map_err(|e| StorageError::io("read swap", path, e))?;
    let mut last = first;
    for b in view::Batches::new(&bytes) {
        let Ok(b) = b else { break };
        last = last.max(b.header().last_offset());
    }
    Ok((first, last))
}

/// The offset map: 128-bit key hash → latest offset. A collision would need two keys with the
/// same XXH3-128 hash: as unlikely as Kafka's MD5 map.
struct OffsetMap {
    map: HashMap<u128, i64>,
    capacity: usize,
}

impl OffsetMap {
    fn key(k: &[u8]) -> u128 {
        XxHash3_128::oneshot(k)
    }
}

/// Paces reads and writes to `io_bytes_per_sec`.
struct Throttle {
    rate: f64,
    started: Instant,
    bytes: f64,
}

impl Throttle {
    fn account(&mut self, n: u64) {
        if !self.rate.is_finite() {
            return;
        }
        self.bytes += n as f64;
        let due = Duration::from_secs_f64(self.bytes / self.rate);
        let spent = self.started.elapsed();
        if due > spent {
            std::thread::sleep(due - spent);
        }
    }
}

/// Reads every whole batch of a segment, paced.
fn for_each_batch(
    seg: &SegRef,
    throttle: &mut Throttle,
    mut f: impl FnMut(&BatchView<'_>) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    const CHUNK: u64 = 4 << 20;
    let mut pos = 0u64;
    let mut buf = Vec::new();
    let file = seg.file.get(&seg.path)?;
    while pos < seg.size {
        let want = (seg.size - pos).min(CHUNK.max(1));
        buf.resize(want as usize, 0);
        file.read_exact_at(&mut buf, pos)
            .map_err(|e| StorageError::io("read for cleaning", &seg.path, e))?;
        throttle.account(want);
        let mut used = 0usize;
        for b in view::Batches::new(&buf) {
            let Ok(b) = b else { break };
            used += b.bytes().len();
            f(&b)?;
        }
        if used == 0 {
            // One batch larger than the chunk: read it whole.
            // Nothing parsed at `pos` of a sealed segment: a damaged batch. Cleaning must not
            // go on, or the cleaned copy would silently lack everything after it.
            let unreadable = || corrupt(seg, format!("unreadable batch at byte {pos}"));
            let Some((_, len)) = view::peek_offset_and_length(&buf) else {
                return Err(unreadable());
            };
            let size = view::LOG_OVERHEAD as u64 + len.max(0) as u64;
            if size <= want || pos + size > seg.size {
                return Err(unreadable());
            }
            buf.resize(size as usize, 0);
            file.read_exact_at(&mut buf, pos)
                .map_err(|e| StorageError::io("read for cleaning", &seg.path, e))?;
            let Ok((b, _)) = BatchView::parse(&buf, 0) else {
                return Err(unreadable());
            };
            f(&b)?;
            used = size as usize;
        }
        pos += used as u64;
    }
    Ok(())
}

fn corrupt(seg: &SegRef, detail: String) -> StorageError {
    StorageError::Corrupt {
        what: "batch",
        path: seg.path.clone(),
        detail,
    }
}

impl CleaningPlan {
    /// Builds the offset map and writes the cleaned groups (no lock held).
    pub fn run(&self, limits: CleanerLimits) -> Result<Cleaned, StorageError> {
        let mut throttle = Throttle {
            rate: limits.io_bytes_per_sec,
            started: Instant::now(),
            bytes: 0.0,
        };
        // 1. Offset map over the dirty segments, stopping at a segment boundary when full.
        let mut map = OffsetMap {
            map: HashMap::new(),
            capacity: limits.dedupe_entries.max(1),
        };
        let mut dirty_end = self.first_dirty;
        for seg in self
            .segments
            .iter()
            .filter(|s| s.last_offset >= self.first_dirty)
        {
            let mut staged: Vec<(u128, i64)> = Vec::new();
            for_each_batch(seg, &mut throttle, |b| {
                let h = b.header();
                if h.is_control() || h.last_offset() < self.first_dirty || self.is_aborted(h) {
                    return Ok(());
                }
                let codec = h.compression().map_err(|e| corrupt(seg, e.to_string()))?;
                let body = codec::decompress_to_vec(
                    codec,
                    b.records_bytes(),
                    decompressed_cap(b.records_bytes().len()),
                )
                .map_err(|e| corrupt(seg, e.to_string()))?;
                for r in RecordIter::new(&body) {
                    let r = r.map_err(|e| corrupt(seg, e.0))?;
                    if let Some(k) = r.key {
                        staged.push((OffsetMap::key(k), h.base_offset + i64::from(r.offset_delta)));
                    }
                }
                Ok(())
            })?;
            let new_keys = staged
                .iter()
                .filter(|(k, _)| !map.map.contains_key(k))
                .count();
            if map.map.len() + new_keys > map.capacity && dirty_end > self.first_dirty {
                break; // the map is full: this segment waits for the next pass
            }
            for (k, o) in staged {
                map.map.insert(k, o);
            }
            dirty_end = seg.last_offset + 1;
        }
        // 2. Rewrite every whole segment below the end of the mapped dirty range, in groups.
        let targets: Vec<&SegRef> = self
            .segments
            .iter()
            .filter(|s| s.last_offset < dirty_end)
            .collect();
        let mut groups = Vec::new();
        let (mut read, mut written, mut dropped) = (0u64, 0u64, 0u64);
        let mut i = 0;
        while i < targets.len() {
            let mut j = i;
            let mut bytes = 0u64;
            // A group fits one segment: at most segment.bytes, relative offsets within an i32.
            while j < targets.len()
                && (j == i
                    || bytes + targets[j].size <= self.group_bytes
                        && targets[j].last_offset - targets[i].base <= i64::from(i32::MAX))
            {
                bytes += targets[j].size;
                j += 1;
            }
            let group = &targets[i..j];
            let (g, d) = self.clean_group(group, &map, &mut throttle)?;
            read += bytes;
            written += g.segment.size;
            dropped += d;
            groups.push(g);
            i = j;
        }
        Ok(Cleaned {
            groups,
            next_first_dirty: dirty_end,
            bytes_read: read,
            bytes_written: written,
            records_dropped: dropped,
        })
    }

    fn clean_group(
        &self,
        group: &[&SegRef],
        map: &OffsetMap,
        throttle: &mut Throttle,
    ) -> Result<(CleanedGroup, u64), StorageError> {
        let first = group[0].base;
        let mut out =
            Segment::create_cleaned(&self.dir, first, self.now_ms, self.index_interval_bytes)?;
        let horizon = self.now_ms.saturating_add(self.delete_retention_ms);
        let mut min_horizon: Option<i64> = None;
        let mut dropped = 0u64;
        for seg in group {
            for_each_batch(seg, throttle, |b| {
                let h = *b.header();
                if h.is_control() {
                    return out.append(b.bytes(), &[], &h);
                }
                let existing =
                    (h.attributes & ATTR_DELETE_HORIZON != 0).then_some(h.base_timestamp);
                let expired = existing.is_some_and(|hz| hz <= self.now_ms);
                if self.is_aborted(&h) {
                    dropped += u64::from(h.records_count.max(0) as u32);
                    // The producer's sequence state survives in an empty batch.
                    let empty = empty_batch(b);
                    let (nv, _) =
                        BatchView::parse(&empty, 0).map_err(|e| corrupt(seg, e.to_string()))?;
                    return out.append(&empty, &[], nv.header());
                }
                let cap = decompressed_cap(b.records_bytes().len());
                let mut tombstones = false;
                let filtered = filter_batch(b, cap, None, |offset, r| {
                    let keep = retain(map, offset, r, expired);
                    tombstones |= keep && r.key.is_some() && r.value.is_none();
                    keep
                })
                .map_err(|e| corrupt(seg, e.to_string()))?;
                // The first cleaning that keeps a tombstone stamps its batch with a delete
                // horizon; a later pass past the horizon drops it (KIP-534).
                let filtered = if tombstones && existing.is_none() {
                    filter_batch(b, cap, Some(horizon), |offset, r| {
                        retain(map, offset, r, expired)
                    })
                    .map_err(|e| corrupt(seg, e.to_string()))?
                } else {
                    filtered
                };
                if tombstones {
                    let hz = existing.unwrap_or(horizon);
                    min_horizon = Some(min_horizon.map_or(hz, |m| m.min(hz)));
                }
                match filtered {
                    Filtered::All => out.append(b.bytes(), &[], &h),
                    Filtered::Rewritten(bytes) => {
                        dropped += u64::from((h.records_count - records_in(&bytes)).max(0) as u32);
                        let (nv, _) =
                            BatchView::parse(&bytes, 0).map_err(|e| corrupt(seg, e.to_string()))?;
                        out.append(&bytes, &[], nv.header())
                    }
                    Filtered::Nothing => {
                        dropped += u64::from(h.records_count.max(0) as u32);
                        if h.producer_id >= 0 {
                            // Keep the producer's sequence state: an empty batch, as Kafka does.
                            let empty = empty_batch(b);
                            let (nv, _) = BatchView::parse(&empty, 0)
                                .map_err(|e| corrupt(seg, e.to_string()))?;
                            out.append(&empty, &[], nv.header())?;
                        }
                        Ok(())
                    }
                }
            })?;
        }
        out.file.sync_all(&out.path)?;
        out.synced_size = out.size;
        throttle.account(out.size);
        Ok((
            CleanedGroup {
                replaced: group.iter().map(|s| (s.base, s.size)).collect(),
                segment: out,
                min_horizon,
            },
            dropped,
        ))
    }
}

/// Whether the cleaner keeps a record: only the latest of its key, and a tombstone only until
/// its batch's delete horizon has passed. Records without a key are dropped, as Kafka's cleaner
/// does: a compacted log has no use for them.
fn retain(
    map: &OffsetMap,
    offset: i64,
    r: &pilgrimage_protocol::batch::Record<'_>,
    horizon_passed: bool,
) -> bool {
    let Some(k) = r.key else { return false };
    if map
        .map
        .get(&OffsetMap::key(k))
        .is_some_and(|&latest| latest > offset)
    {
        return false;
    }
    !(r.value.is_none() && horizon_passed)
}

fn records_in(batch: &[u8]) -> i32 {
    BatchView::parse(batch, 0).map_or(0, |(v, _)| v.header().records_count)
}

/// A batch with the header of `b` and no records: offsets and producer fields survive.
fn empty_batch(b: &BatchView<'_>) -> Vec<u8> {
    let mut out = b.bytes()[..view::HEADER_BYTES].to_vec();
    let len = (view::HEADER_BYTES - view::LOG_OVERHEAD) as i32;
    out[view::BATCH_LENGTH..view::BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    out[view::RECORDS_COUNT..view::RECORDS_COUNT + 4].copy_from_slice(&0i32.to_be_bytes());
    // No records left: the batch holds no compressed data, so it says so.
    let attrs = b.header().attributes & !0x07;
    out[view::ATTRIBUTES..view::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    view::rewrite_crc(&mut out);
    out
}

/// Logs a finished pass.
pub fn log_pass(dir: &Path, c: &Cleaned) {
    info!(
        dir = %dir.display(),
        groups = c.groups.len(),
        read = c.bytes_read,
        written = c.bytes_written,
        dropped = c.records_dropped,
        "compacted"
    );
}
