//! Sparse indexes of a segment, kept in memory and written to their files when the segment is
//! sealed (rolled) or the log is closed cleanly.
//!
//! An index file is never trusted blindly: on open it must pass [`offset::OffsetIndex::load`]'s
//! checks (size a multiple of the entry size, entries strictly increasing, positions inside the
//! log file), or it is rebuilt from the log. After an unclean shutdown the indexes of every
//! segment from the recovery point on are rebuilt regardless.

pub mod offset;
pub mod time;
pub mod txn;

pub use offset::OffsetIndex;
pub use time::TimeIndex;
pub use txn::TxnIndex;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::error::StorageError;

/// Replaces the file at `path` with `bytes` and fsyncs it.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let mut f = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(|e| StorageError::io("open index", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_data())
        .map_err(|e| StorageError::io("write index", path, e))
}
