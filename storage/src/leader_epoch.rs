//! The leader-epoch cache: which leader epoch began at which offset (Kafka's
//! `LeaderEpochFileCache`). OffsetForLeaderEpoch answers from it, and replicas use it to find
//! where their log diverged from the leader's.
//!
//! File `leader-epoch-checkpoint` in the partition directory, Kafka's format:
//! ```text
//! 0          <- version
//! 2          <- entries
//! 0 0        <- epoch start_offset
//! 3 1500
//! ```

use std::path::{Path, PathBuf};

use crate::checkpoint::write_atomic;
use crate::error::StorageError;

pub const FILE_NAME: &str = "leader-epoch-checkpoint";

#[derive(Debug, Clone)]
pub struct LeaderEpochCache {
    path: PathBuf,
    /// (epoch, start offset), both strictly increasing.
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// Loads the cache of a partition directory; a missing or malformed file starts empty (the
    /// epochs are then re-learnt from appends), and malformed content is logged by the caller.
    pub fn load(dir: &Path) -> (LeaderEpochCache, Option<String>) {
        let path = dir.join(FILE_NAME);
        let mut cache = LeaderEpochCache {
            path: path.clone(),
            entries: Vec::new(),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) => return (cache, None),
        };
        let mut lines = text.lines();
        let ok_header = lines.next() == Some("0")
            && lines.next().and_then(|l| l.parse::<usize>().ok()).is_some();
        if !ok_header {
            return (cache, Some("bad header".into()));
        }
        for line in lines {
            let mut it = line.split(' ');
            let parsed = (|| {
                Some((
                    it.next()?.parse::<i32>().ok()?,
                    it.next()?.parse::<i64>().ok()?,
                ))
            })();
            match parsed {
                Some((e, o))
                    if cache
                        .entries
                        .last()
                        .is_none_or(|&(le, lo)| e > le && o >= lo) =>
                {
                    cache.entries.push((e, o));
                }
                _ => {
                    cache.entries.clear();
                    return (cache, Some(format!("bad line {line:?}")));
                }
            }
        }
        (cache, None)
    }

    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `offset`, if it is newer than the latest. Returns whether
    /// the cache changed (and must be persisted).
    pub fn assign(&mut self, epoch: i32, offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        match self.entries.last() {
            Some(&(e, _)) if e >= epoch => false,
            _ => {
                // An epoch that starts where the previous one did replaces it (that epoch held
                // no records).
                while self.entries.last().is_some_and(|&(_, o)| o >= offset) {
                    self.entries.pop();
                }
                self.entries.push((epoch, offset));
                true
            }
        }
    }

    /// Kafka's `endOffsetFor`: for the requested epoch, the epoch the log knows and the offset
    /// where that epoch ended (the log end for the latest epoch). `(-1, -1)` when the requested
    /// epoch is unknown (negative, or newer than every cached epoch).
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        let Some(&(latest, _)) = self.entries.last() else {
            return (-1, -1);
        };
        if requested < 0 || requested > latest {
            return (-1, -1);
        }
        if requested == latest {
            return (requested, log_end);
        }
        let i = self.entries.partition_point(|&(e, _)| e <= requested);
        if i == 0 {
            // Older than every cached epoch: it ended where the first known one starts.
            return (requested, self.entries[0].1);
        }
        // `requested` < latest, so an entry after i - 1 exists.
        (self.entries[i - 1].0, self.entries[i].1)
    }

    /// The epoch that wrote `offset`: the latest epoch starting at or before it (-1 if none).
    pub fn epoch_for_offset(&self, offset: i64) -> i32 {
        let i = self.entries.partition_point(|&(_, o)| o <= offset);
        if i == 0 { -1 } else { self.entries[i - 1].0 }
    }

    /// Drops epochs that start at or after `offset` (log truncation).
    pub fn truncate_from_end(&mut self, offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|&(_, o)| o < offset);
        before != self.entries.len()
    }

    /// Moves the first epoch's start up to the new log start offset.
    pub fn truncate_from_start(&mut self, log_start: i64) -> bool {
        let keep_from = self
            .entries
            .partition_point(|&(_, o)| o <= log_start)
            .saturating_sub(1);
        let mut changed = keep_from > 0;
        self.entries.drain(..keep_from);
        if let Some(first) = self.entries.first_mut()
            && first.1 < log_start
        {
            first.1 = log_start;
            changed = true;
        }
        changed
    }

    pub fn persist(&self) -> Result<(), StorageError> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for (e, o) in &self.entries {
            text.push_str(&format!("{e} {o}\n"));
        }
        write_atomic(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_offsets_follow_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let (mut c, _) = LeaderEpochCache::load(dir.path());
        assert!(c.assign(0, 0));
        assert!(!c.assign(0, 10));
        assert!(c.assign(2, 100));
        assert!(c.assign(5, 250));
        assert_eq!(c.end_offset_for(0, 300), (0, 100));
        assert_eq!(c.end_offset_for(1, 300), (0, 100));
        assert_eq!(c.end_offset_for(2, 300), (2, 250));
        assert_eq!(c.end_offset_for(5, 300), (5, 300));
        assert_eq!(c.end_offset_for(7, 300), (-1, -1));
        assert_eq!(c.end_offset_for(-1, 300), (-1, -1));
        c.persist().unwrap();
        let (back, err) = LeaderEpochCache::load(dir.path());
        assert!(err.is_none());
        assert_eq!(back.entries(), c.entries());
        c.truncate_from_start(120);
        assert_eq!(c.entries(), &[(2, 120), (5, 250)]);
        c.truncate_from_end(250);
        assert_eq!(c.entries(), &[(2, 120)]);
    }
}
