//! Group commit. [`crate::Log::flush_plan`] takes, under the log lock, the files that need an
//! fsync and the log end they will make durable; [`FlushPlan::sync`] runs the fsyncs without the
//! lock, so appends keep flowing; [`crate::Log::flush_completed`] then moves the recovery point.
//! Every append made before the plan was taken is covered by its one fsync: producers waiting on
//! acks=all share it.

use std::path::PathBuf;

use crate::error::StorageError;
use crate::files::SegmentFile;
use crate::read::LogPosition;

#[derive(Debug)]
pub struct FlushPlan {
    /// (file, path, segment base, size to make durable)
    pub(crate) files: Vec<(SegmentFile, PathBuf, i64, u64)>,
    /// The log end this flush makes durable.
    pub target: LogPosition,
    /// Records it covers.
    pub records: u64,
}

impl FlushPlan {
    /// fsyncs (`fdatasync`) every file of the plan. Blocking: run it off the async runtime.
    pub fn sync(&self) -> Result<(), StorageError> {
        for (file, path, _, _) in &self.files {
            file.sync_data(path)?;
        }
        Ok(())
    }
}
