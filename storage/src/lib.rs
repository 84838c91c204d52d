//! Pilgrimage's partition log: record batches stored verbatim in segment files, with sparse
//! indexes, crash recovery, retention and group-commit flushing. No networking, no async.
//!
//! ```text
//! append(batch) ─▶ assign offsets (outside the CRC) ─▶ roll? ─▶ pwritev to the active .log
//!                                                             │  (large batches: O_DIRECT, see [`direct`])
//!                                                             └▶ every index.interval.bytes:
//!                                                                .index / .timeindex entry (memory)
//! flush_plan() ─▶ FlushPlan::sync() (no lock) ─▶ flush_completed(): recovery point = plan end
//! read(offset) ─▶ segment + index position (lock) ─▶ ReadPlan::execute() (no lock): pread
//!                                                 ├▶ not in the page cache: O_DIRECT read-ahead
//!                                                 │  buffers, see [`prefetch`]
//!                                                 └▶ ReadPlan::locate(): the file range, for sendfile
//! open() ─▶ clean shutdown: load indexes (checked, rebuilt if bad)
//!        └▶ unclean: CRC-scan from the recovery point's segment, cut the torn tail
//! ```
//!
//! # On-disk layout of a partition directory `<topic>-<partition>/`
//! - `NNNNNNNNNNNNNNNNNNNN.log`: batches exactly as produced (magic v2), base offset and
//!   partition leader epoch rewritten by the broker. The file name is the base offset.
//! - `.index`: 8-byte entries (relative offset u32, position u32), see [`index::offset`].
//! - `.timeindex`: 12-byte entries (timestamp i64, relative offset u32), see [`index::time`].
//! - `.txnindex`: aborted transactions whose marker is in the segment, see [`index::txn`].
//! - `NNNNNNNNNNNNNNNNNNNN.snapshot`: producer state below that offset, see
//!   [`producer_snapshot`] and [`producer_state`].
//! - `leader-epoch-checkpoint`: see [`leader_epoch`].
//!
//! Checksums: batches carry their CRC32C (checked on recovery); indexes carry none and are
//! checked for order and bounds instead, and rebuilt from the log when they fail.

#![forbid(unsafe_code)]

pub mod aligned;
pub mod checkpoint;
pub mod compaction;
pub mod config;
pub mod direct;
pub mod error;
pub mod files;
pub mod flush;
pub mod index;
pub mod leader_epoch;
pub mod log;
pub mod prefetch;
mod producer_log;
pub mod producer_snapshot;
pub mod producer_state;
pub mod read;
mod recovery;
mod retention;
mod scan;
mod segment;

pub use compaction::{Cleaned, CleanerLimits, CleaningPlan};
pub use config::LogConfig;
pub use error::{AppendError, ReadError, StorageError};
pub use flush::FlushPlan;
pub use log::{AppendInfo, AppendOrigin, Log, OpenOptions, RecoveryReport, RetentionReport};
pub use producer_state::{AbortedTxn, ProducerEntry, ProducerError, ProducerStateManager};
pub use read::{FileRange, LogPosition, Prefetched, ReadPlan};
