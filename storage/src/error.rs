//! Storage errors. An I/O failure while writing or syncing takes the log offline: Kafka does the
//! same (`maybeHandleIOException`), because after a failed fsync the kernel may have dropped
//! dirty pages, and retrying could report durability that does not exist.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A segment file could not be opened (out of descriptors, say): nothing was written.
    #[error("open segment {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("log {0} is offline after an earlier I/O error")]
    Offline(PathBuf),
    #[error("corrupt {what} in {path}: {detail}")]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl StorageError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when a segment file could not be opened (e.g. the process is out of descriptors):
    /// nothing was written, so the log stays usable.
    pub fn is_open_failure(&self) -> bool {
        matches!(self, StorageError::Open { .. })
    }

    /// True when the error came from a full disk.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StorageError::Io { source, .. } | StorageError::Open { source, .. } if source.raw_os_error() == Some(28))
    }
}

/// Why a read could not be served.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("offset {offset} is outside the log [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why an append was refused.
#[derive(Debug, Error)]
pub enum AppendError {
    #[error("batch is malformed: {0}")]
    Malformed(String),
    #[error("batch of {0} bytes does not fit in a segment")]
    TooLarge(usize),
    /// Refused by the producer state: Kafka's error code is in the variant.
    #[error(transparent)]
    Producer(crate::producer_state::ProducerError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}
