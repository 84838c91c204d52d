//! Group commit. [`crate::Log::flush_plan`] takes, under the log lock, the files that need an
//! fsync and the log end they will make durable; [`FlushPlan::sync`] runs the fsyncs without the
//! lock, so appends keep flowing; [`crate::Log::flush_completed`] then moves the recovery point.
//! Every append made before the plan was taken is covered by its one fsync: producers waiting on
//! acks=all share it.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::StorageError;
use crate::files::SegmentFile;
use crate::read::LogPosition;

/// One segment a flush must fsync.
#[derive(Debug)]
pub(crate) struct PlannedSync {
    pub(crate) file: SegmentFile,
    /// The handle taken with the plan, under the log lock: the segment may be deleted or its
    /// handle closed before the sync runs, and the sync must reach the file that was planned.
    pub(crate) pinned: Option<Arc<File>>,
    pub(crate) path: PathBuf,
    pub(crate) base: i64,
    /// Size made durable.
    pub(crate) size: u64,
}

#[derive(Debug)]
pub struct FlushPlan {
    pub(crate) files: Vec<PlannedSync>,
    /// The log end this flush makes durable.
    pub target: LogPosition,
    /// Records it covers.
    pub records: u64,
}

impl FlushPlan {
    /// fsyncs (`fdatasync`) every file of the plan. Blocking: run it off the async runtime.
    pub fn sync(&self) -> Result<(), StorageError> {
        for f in &self.files {
            f.file.sync_pinned(f.pinned.as_ref(), &f.path, false)?;
        }
        Ok(())
    }
}
