//! The time index: `.timeindex` files.
//!
//! ```text
//! entry (12 bytes, big-endian): timestamp i64 | relative_offset u32
//! ```
//! Each entry says: up to and including the batch ending at `relative_offset`, no record has a
//! timestamp above `timestamp` (the segment's running maximum). Entries are added with the
//! offset index entries, only when the maximum grew, and once more when the segment is sealed,
//! so the last entry holds the segment's largest timestamp. Checked like the offset index.

use std::path::{Path, PathBuf};

use crate::error::StorageError;

pub const ENTRY_BYTES: usize = 12;

#[derive(Debug, Clone)]
pub struct TimeIndex {
    path: PathBuf,
    base_offset: i64,
    entries: Vec<(i64, u32)>,
    written: usize,
}

impl TimeIndex {
    pub fn new(path: PathBuf, base_offset: i64) -> TimeIndex {
        TimeIndex {
            path,
            base_offset,
            entries: Vec::new(),
            written: 0,
        }
    }

    /// Loads and checks a time index; `last_offset` bounds the offsets it may name.
    pub fn load(path: &Path, base_offset: i64, last_offset: i64) -> Result<TimeIndex, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        if bytes.len() % ENTRY_BYTES != 0 {
            return Err(format!(
                "size {} is not a multiple of {ENTRY_BYTES}",
                bytes.len()
            ));
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
        for c in bytes.chunks_exact(ENTRY_BYTES) {
            let ts = i64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            let rel = u32::from_be_bytes([c[8], c[9], c[10], c[11]]);
            if let Some(&(pts, prel)) = entries.last()
                && (ts <= pts || rel < prel)
            {
                return Err(format!(
                    "entry ({ts}, {rel}) does not follow ({pts}, {prel})"
                ));
            }
            if base_offset + i64::from(rel) > last_offset {
                return Err(format!(
                    "offset {} is past the segment's last {last_offset}",
                    base_offset + i64::from(rel)
                ));
            }
            entries.push((ts, rel));
        }
        let written = entries.len();
        Ok(TimeIndex {
            path: path.to_path_buf(),
            base_offset,
            entries,
            written,
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn size_bytes(&self) -> u64 {
        (self.entries.len() * ENTRY_BYTES) as u64
    }

    /// Records that the running maximum timestamp is `ts`, reached by `offset`.
    pub fn maybe_append(&mut self, ts: i64, offset: i64) {
        let rel = u32::try_from(offset - self.base_offset).unwrap_or(u32::MAX);
        match self.entries.last() {
            Some(&(last_ts, last_rel)) if ts <= last_ts || rel < last_rel => {}
            _ => self.entries.push((ts, rel)),
        }
    }

    /// The last entry: the largest timestamp indexed and its offset.
    pub fn last(&self) -> Option<(i64, i64)> {
        self.entries
            .last()
            .map(|&(ts, rel)| (ts, self.base_offset + i64::from(rel)))
    }

    /// An offset from which a forward scan finds the first record with timestamp ≥ `target`:
    /// every record before it is older than `target`. `None` means scan from the start.
    pub fn scan_start_for(&self, target: i64) -> Option<i64> {
        let i = self.entries.partition_point(|&(ts, _)| ts < target);
        (i > 0).then(|| self.base_offset + i64::from(self.entries[i - 1].1))
    }

    /// Drops entries naming offsets at or past `offset` (log truncation).
    pub fn truncate_to_offset(&mut self, offset: i64) {
        let keep = self
            .entries
            .partition_point(|&(_, rel)| self.base_offset + i64::from(rel) < offset);
        self.entries.truncate(keep);
        self.written = self.written.min(keep);
    }

    pub fn persist(&mut self) -> Result<(), StorageError> {
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for &(ts, rel) in &self.entries {
            bytes.extend_from_slice(&ts.to_be_bytes());
            bytes.extend_from_slice(&rel.to_be_bytes());
        }
        super::write_file(&self.path, &bytes)?;
        self.written = self.entries.len();
        Ok(())
    }

    pub fn is_dirty(&self) -> bool {
        self.written != self.entries.len()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_start_is_before_every_matching_record() {
        let mut t = TimeIndex::new(PathBuf::from("/x"), 0);
        t.maybe_append(100, 9);
        t.maybe_append(90, 19); // not a new maximum: ignored
        t.maybe_append(200, 29);
        t.maybe_append(300, 39);
        assert_eq!(t.len(), 3);
        assert_eq!(t.scan_start_for(50), None);
        assert_eq!(t.scan_start_for(100), None);
        assert_eq!(t.scan_start_for(101), Some(9));
        assert_eq!(t.scan_start_for(250), Some(29));
        assert_eq!(t.last(), Some((300, 39)));
    }
}
