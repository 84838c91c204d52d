//! The aborted transaction index of a segment, `.txnindex`: one entry per transaction whose
//! ABORT marker is in the segment, so that a `read_committed` fetch can tell consumers which
//! records to drop without scanning the log.
//!
//! Entry (34 bytes, big-endian, Kafka's layout): version i16 (0), producer id i64, first
//! offset i64, last offset i64 (the marker), last stable offset i64 (the LSO once it closed).
//! Kept in memory and written whole when the segment is sealed or the log closed; after an
//! unclean shutdown the entries of the replayed segments are rebuilt from their markers.

use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::producer_state::AbortedTxn;

const ENTRY_BYTES: usize = 34;
const VERSION: i16 = 0;

#[derive(Debug, Clone)]
pub struct TxnIndex {
    path: PathBuf,
    entries: Vec<AbortedTxn>,
    dirty: bool,
}

impl TxnIndex {
    pub fn new(path: PathBuf) -> TxnIndex {
        TxnIndex {
            path,
            entries: Vec::new(),
            dirty: false,
        }
    }

    /// Loads the file if present. Entries must be whole, of version 0, and ordered by last
    /// offset; a bad file is an error (the caller rebuilds from the log).
    pub fn load(path: PathBuf) -> Result<TxnIndex, String> {
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(TxnIndex::new(path)),
            Err(e) => return Err(e.to_string()),
        };
        if bytes.len() % ENTRY_BYTES != 0 {
            return Err(format!(
                "{} bytes is not a whole number of entries",
                bytes.len()
            ));
        }
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_BYTES);
        for chunk in bytes.chunks_exact(ENTRY_BYTES) {
            let i16_at = |i: usize| i16::from_be_bytes([chunk[i], chunk[i + 1]]);
            let i64_at = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&chunk[i..i + 8]);
                i64::from_be_bytes(b)
            };
            if i16_at(0) != VERSION {
                return Err(format!("entry version {}", i16_at(0)));
            }
            let e = AbortedTxn {
                producer_id: i64_at(2),
                first_offset: i64_at(10),
                last_offset: i64_at(18),
                last_stable_offset: i64_at(26),
            };
            if e.first_offset > e.last_offset
                || entries
                    .last()
                    .is_some_and(|p: &AbortedTxn| p.last_offset >= e.last_offset)
            {
                return Err(format!("entry out of order: {e:?}"));
            }
            entries.push(e);
        }
        Ok(TxnIndex {
            path,
            entries,
            dirty: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn append(&mut self, e: AbortedTxn) {
        self.entries.push(e);
        self.dirty = true;
    }

    /// Drops entries whose marker is at or after `offset`.
    pub fn truncate_from(&mut self, offset: i64) {
        let before = self.entries.len();
        self.entries.retain(|e| e.last_offset < offset);
        self.dirty |= self.entries.len() != before;
    }

    /// Writes the file (removing it when there are no entries).
    pub fn persist(&mut self) -> Result<(), StorageError> {
        if self.entries.is_empty() {
            match std::fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove txn index", &self.path, e)),
            }
            self.dirty = false;
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_BYTES);
        for e in &self.entries {
            bytes.extend_from_slice(&VERSION.to_be_bytes());
            bytes.extend_from_slice(&e.producer_id.to_be_bytes());
            bytes.extend_from_slice(&e.first_offset.to_be_bytes());
            bytes.extend_from_slice(&e.last_offset.to_be_bytes());
            bytes.extend_from_slice(&e.last_stable_offset.to_be_bytes());
        }
        super::write_file(&self.path, &bytes)?;
        self.dirty = false;
        Ok(())
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("00000000000000000000.txnindex");
        let mut idx = TxnIndex::new(p.clone());
        idx.append(AbortedTxn {
            producer_id: 3,
            first_offset: 10,
            last_offset: 20,
            last_stable_offset: 21,
        });
        idx.append(AbortedTxn {
            producer_id: 4,
            first_offset: 12,
            last_offset: 25,
            last_stable_offset: 26,
        });
        idx.persist().unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 68);
        let loaded = TxnIndex::load(p.clone()).unwrap();
        assert_eq!(loaded.entries(), idx.entries());
        std::fs::write(&p, [0u8; 35]).unwrap();
        assert!(TxnIndex::load(p.clone()).is_err());
        idx.truncate_from(25);
        assert_eq!(idx.entries().len(), 1);
        idx.truncate_from(0);
        idx.persist().unwrap();
        assert!(!p.exists());
    }
}
