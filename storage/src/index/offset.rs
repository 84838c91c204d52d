//! The offset index: `.index` files.
//!
//! ```text
//! entry (8 bytes, big-endian): relative_offset u32 | position u32
//! ```
//! `relative_offset` is the last offset of a batch minus the segment's base offset; `position` is
//! the byte position of that batch in the `.log` file. Entries are added every
//! `index.interval.bytes` of batches, so a lookup lands at most that many bytes before the
//! wanted batch. Not checksummed: it is checked for order and bounds on load and rebuilt from
//! the log when it fails, which costs one scan of the segment.

use std::path::{Path, PathBuf};

use crate::error::StorageError;

pub const ENTRY_BYTES: usize = 8;

#[derive(Debug, Clone)]
pub struct OffsetIndex {
    path: PathBuf,
    base_offset: i64,
    entries: Vec<(u32, u32)>,
    /// Entries already in the file.
    written: usize,
}

impl OffsetIndex {
    pub fn new(path: PathBuf, base_offset: i64) -> OffsetIndex {
        OffsetIndex {
            path,
            base_offset,
            entries: Vec::new(),
            written: 0,
        }
    }

    /// Loads and checks an index file against the size of its log file.
    pub fn load(path: &Path, base_offset: i64, log_size: u64) -> Result<OffsetIndex, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        if bytes.len() % ENTRY_BYTES != 0 {
            return Err(format!(
                "size {} is not a multiple of {ENTRY_BYTES}",
                bytes.len()
            ));
        }
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
        for chunk in bytes.chunks_exact(ENTRY_BYTES) {
            let rel = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let pos = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
            if let Some(&(prev_rel, prev_pos)) = entries.last()
                && (rel <= prev_rel || pos <= prev_pos)
            {
                return Err(format!(
                    "entry ({rel}, {pos}) does not follow ({prev_rel}, {prev_pos})"
                ));
            }
            if u64::from(pos) >= log_size {
                return Err(format!("position {pos} is past the log's {log_size} bytes"));
            }
            entries.push((rel, pos));
        }
        let written = entries.len();
        Ok(OffsetIndex {
            path: path.to_path_buf(),
            base_offset,
            entries,
            written,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
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

    /// Adds an entry for the batch ending at `last_offset` that starts at `position`.
    pub fn append(&mut self, last_offset: i64, position: u32) {
        let rel = u32::try_from(last_offset - self.base_offset).unwrap_or(u32::MAX);
        if let Some(&(prev_rel, prev_pos)) = self.entries.last()
            && (rel <= prev_rel || position <= prev_pos)
        {
            return;
        }
        self.entries.push((rel, position));
    }

    /// Position of the latest indexed batch that ends at or before `offset` (0 if none): a
    /// scan from there reaches the batch holding `offset`.
    pub fn lookup(&self, offset: i64) -> u32 {
        let Ok(rel) = u32::try_from(offset - self.base_offset) else {
            return 0;
        };
        let i = self.entries.partition_point(|&(r, _)| r <= rel);
        if i == 0 { 0 } else { self.entries[i - 1].1 }
    }

    /// Position lookup for the offset `offset` with the entry's own offset (for time lookups).
    pub fn lookup_entry(&self, offset: i64) -> Option<(i64, u32)> {
        let rel = u32::try_from(offset - self.base_offset).ok()?;
        let i = self.entries.partition_point(|&(r, _)| r <= rel);
        (i > 0).then(|| {
            (
                self.base_offset + i64::from(self.entries[i - 1].0),
                self.entries[i - 1].1,
            )
        })
    }

    /// An exclusive bound on the offsets of the batches that start before byte `position`: the
    /// last offset of the first indexed batch starting at or after it (every earlier batch ends
    /// before that batch begins). `None` when no indexed batch starts there.
    pub fn offset_bound_before(&self, position: u64) -> Option<i64> {
        let i = self
            .entries
            .partition_point(|&(_, p)| u64::from(p) < position);
        self.entries
            .get(i)
            .map(|&(rel, _)| self.base_offset + i64::from(rel))
    }

    /// Last entry's position, where a walk to the end of the segment can start.
    pub fn last_position(&self) -> u32 {
        self.entries.last().map_or(0, |e| e.1)
    }

    /// Drops entries at or past byte `position` (log truncation).
    pub fn truncate_to_position(&mut self, position: u64) {
        let keep = self
            .entries
            .partition_point(|&(_, p)| u64::from(p) < position);
        self.entries.truncate(keep);
        self.written = self.written.min(keep);
    }

    /// Writes the whole index to its file and fsyncs it.
    pub fn persist(&mut self) -> Result<(), StorageError> {
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for &(rel, pos) in &self.entries {
            bytes.extend_from_slice(&rel.to_be_bytes());
            bytes.extend_from_slice(&pos.to_be_bytes());
        }
        super::write_file(&self.path, &bytes)?;
        self.written = self.entries.len();
        Ok(())
    }

    /// True when entries exist that the file lacks.
    pub fn is_dirty(&self) -> bool {
        self.written != self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_the_floor_entry() {
        let mut idx = OffsetIndex::new(PathBuf::from("/nonexistent"), 100);
        idx.append(109, 0);
        idx.append(119, 4096);
        idx.append(129, 8192);
        assert_eq!(idx.lookup(100), 0);
        assert_eq!(idx.lookup(118), 0);
        assert_eq!(idx.lookup(119), 4096);
        assert_eq!(idx.lookup(125), 4096);
        assert_eq!(idx.lookup(1000), 8192);
        assert_eq!(idx.lookup(50), 0);
        idx.truncate_to_position(4096);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn offset_bound_before_is_the_next_indexed_batch() {
        let mut idx = OffsetIndex::new(PathBuf::from("/nonexistent"), 100);
        idx.append(109, 0);
        idx.append(119, 4096);
        idx.append(129, 8192);
        // Bytes before 4096 hold batches ending before the one at 4096, which ends at 119.
        assert_eq!(idx.offset_bound_before(1), Some(119));
        assert_eq!(idx.offset_bound_before(4096), Some(119));
        assert_eq!(idx.offset_bound_before(4097), Some(129));
        assert_eq!(idx.offset_bound_before(8193), None);
    }

    #[test]
    fn corrupt_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        std::fs::write(&p, [0u8; 7]).unwrap();
        assert!(OffsetIndex::load(&p, 0, 100).is_err());
        // decreasing entries
        std::fs::write(&p, [0, 0, 0, 5, 0, 0, 0, 10, 0, 0, 0, 4, 0, 0, 0, 20]).unwrap();
        assert!(OffsetIndex::load(&p, 0, 100).is_err());
        // position past the log
        std::fs::write(&p, [0, 0, 0, 5, 0, 0, 0, 200]).unwrap();
        assert!(OffsetIndex::load(&p, 0, 100).is_err());
        std::fs::write(&p, [0, 0, 0, 5, 0, 0, 0, 20]).unwrap();
        assert_eq!(OffsetIndex::load(&p, 0, 100).unwrap().len(), 1);
    }
}
