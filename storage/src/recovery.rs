//! Opening a log: finding its segments, and after an unclean shutdown scanning them from the
//! recovery point and cutting a torn tail at the last whole, valid batch.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use tracing::{info, warn};

use crate::config::LogConfig;
use crate::error::StorageError;
use crate::leader_epoch::LeaderEpochCache;
use crate::log::{Log, OpenOptions, RecoveryReport};
use crate::prefetch::Prefetcher;
use crate::producer_state::ProducerStateManager;
use crate::segment::{self, Segment};

fn parse_base(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering it if the last shutdown was unclean.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        opts: OpenOptions,
    ) -> Result<(Log, RecoveryReport), StorageError> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io("create log dir", dir, e))?;
        crate::compaction::recover_interrupted(dir)?;
        let mut bases = Vec::new();
        let entries =
            std::fs::read_dir(dir).map_err(|e| StorageError::io("list log dir", dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io("list log dir", dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(base) = parse_base(name, "log") {
                bases.push(base);
            } else if name.ends_with(".deleted") || name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        bases.sort_unstable();
        // Indexes without a log file are leftovers of an interrupted roll or delete.
        for entry in std::fs::read_dir(dir)
            .map_err(|e| StorageError::io("list log dir", dir, e))?
            .flatten()
        {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let base = parse_base(name, "index").or_else(|| parse_base(name, "timeindex"));
            if base.is_some_and(|b| bases.binary_search(&b).is_err()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }

        let (epochs, epoch_err) = LeaderEpochCache::load(dir);
        if let Some(why) = epoch_err {
            warn!(dir = %dir.display(), %why, "leader epoch checkpoint unreadable; starting it afresh");
        }
        let mut report = RecoveryReport::default();
        let mut segments = BTreeMap::new();
        // The segment holding the recovery point and all after it are recovered when unclean.
        let recover_from = bases
            .iter()
            .rev()
            .find(|&&b| b <= opts.recovery_point)
            .copied()
            .unwrap_or(i64::MIN);
        let mut cut_at: Option<i64> = None;
        for &base in &bases {
            if cut_at.is_some() {
                // Everything after a cut tail is unreachable: delete it, as Kafka does.
                for ext in ["log", "index", "timeindex"] {
                    let _ = std::fs::remove_file(dir.join(segment::file_name(base, ext)));
                }
                report
                    .reasons
                    .push(format!("deleted segment {base} after a truncated one"));
                continue;
            }
            let recover = !opts.clean_shutdown && base >= recover_from;
            let before = std::fs::metadata(dir.join(segment::file_name(base, "log")))
                .map(|m| m.len())
                .unwrap_or(0);
            let last = bases.last() == Some(&base);
            let (seg, cut) = Segment::open(
                dir,
                base,
                recover,
                last,
                opts.now_ms,
                config.index_interval_bytes,
            )?;
            if recover {
                report.recovered_segments += 1;
            }
            if let Some(why) = cut {
                report.truncated_bytes += before.saturating_sub(seg.size);
                report.reasons.push(format!("segment {base}: {why}"));
                cut_at = Some(base);
            }
            segments.insert(base, seg);
        }
        // Drop empty segments other than the last, left by a crash during roll.
        let last_base = segments.keys().next_back().copied();
        segments.retain(|&b, s: &mut Segment| {
            let keep = s.size > 0 || Some(b) == last_base;
            if !keep {
                s.delete_files();
            }
            keep
        });
        let start = opts.log_start_offset.max(0);
        let end_of = |segments: &BTreeMap<i64, Segment>| {
            segments
                .values()
                .rev()
                .find_map(|s| s.last_offset)
                .map_or_else(
                    || segments.keys().next_back().copied().unwrap_or(start),
                    |o| o + 1,
                )
        };
        if !segments.is_empty() && end_of(&segments) < start {
            // The log ends before its checkpointed start: what it held past the start was never
            // made durable. Offsets must not go back below the start (consumers may already be
            // past it), so the log restarts empty at the start, as Kafka's LogLoader does.
            warn!(dir = %dir.display(), start, end = end_of(&segments), "log ends before its start offset; starting it afresh");
            for (_, seg) in std::mem::take(&mut segments) {
                seg.delete_files();
            }
            report
                .reasons
                .push(format!("log ended before its start offset {start}"));
        }
        if segments.is_empty() {
            segments.insert(
                start,
                Segment::create(dir, start, opts.now_ms, config.index_interval_bytes)?,
            );
        }
        let first_base = segments.keys().next().copied().unwrap_or(start);
        let next_offset = end_of(&segments);
        let log_start_offset = start.max(first_base).min(next_offset);
        report.segments = segments.len();
        let mut log = Log {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset,
            next_offset,
            recovery_point: opts.recovery_point.min(next_offset),
            unflushed_records: 0,
            oldest_unflushed_ms: None,
            rolled_unflushed: false,
            offline: false,
            epochs,
            first_dirty: log_start_offset,
            earliest_delete_horizon: None,
            producers: ProducerStateManager::new(),
            txn_positions: HashMap::new(),
            prefetch: Prefetcher::new(),
        };
        if log.epochs.truncate_from_end(next_offset)
            | log.epochs.truncate_from_start(log_start_offset)
        {
            log.epochs.persist()?;
        }
        if report.truncated_bytes > 0 || !report.reasons.is_empty() {
            info!(dir = %dir.display(), truncated = report.truncated_bytes, reasons = ?report.reasons, "log recovered");
        }
        // Recovered data is now all on disk (recovery reads it from the page cache, and a cut
        // tail was fsynced), so the recovery point may move to the end.
        if !opts.clean_shutdown {
            log.recovery_point = next_offset;
        }
        log.load_producer_state()?;
        Ok((log, report))
    }
}
