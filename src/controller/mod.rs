//! The controller: owner of cluster metadata.
//!
//! ```text
//! handler ─▶ decide (pure fns over the image, topics.rs) ─▶ records
//!        ─▶ commit: apply to a copy of the image (refuse if any record does not apply)
//!                 ─▶ append one batch to __cluster_metadata-0 ─▶ fsync ─▶ publish the image
//! ```
//! On a single node the controller is a one-voter quorum: a record is committed once it is
//! fsynced to the local metadata log. On start the log is replayed into the image, so topic ids,
//! partitions and configs survive restarts byte for byte.

pub mod image;
pub mod records;
pub mod topics;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use pilgrimage_protocol::batch::view::Batches;
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord, RecordIter};
use pilgrimage_protocol::codec::Compression;
use pilgrimage_storage::{Log, LogConfig, OpenOptions, StorageError};
use thiserror::Error;
use tracing::info;

pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use records::{ConfigResource, MetadataRecord};

/// Directory of the metadata log inside the data directory.
pub const METADATA_LOG_DIR: &str = "__cluster_metadata-0";

#[derive(Debug, Error)]
pub enum ControllerError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("metadata log: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Apply(#[from] image::ApplyError),
    #[error("metadata commit task failed: {0}")]
    Task(String),
}

#[derive(Debug)]
pub struct Controller {
    dir: PathBuf,
    log: Arc<Mutex<Log>>,
    image: RwLock<Arc<MetadataImage>>,
    /// One commit at a time, so records apply in log order.
    writer: tokio::sync::Mutex<()>,
    /// One producer id allocation at a time.
    allocating: tokio::sync::Mutex<()>,
}

impl Controller {
    /// Opens the metadata log in `data_dir` and replays it.
    pub fn open(
        data_dir: &Path,
        clean_shutdown: bool,
        now_ms: i64,
    ) -> Result<Controller, ControllerError> {
        let dir = data_dir.join(METADATA_LOG_DIR);
        let config = LogConfig {
            retention_ms: -1,
            retention_bytes: -1,
            ..LogConfig::default()
        };
        let (log, report) = Log::open(
            &dir,
            config,
            OpenOptions {
                recovery_point: 0,
                log_start_offset: 0,
                clean_shutdown,
                now_ms,
            },
        )?;
        if report.truncated_bytes > 0 {
            info!(
                bytes = report.truncated_bytes,
                "metadata log tail recovered"
            );
        }
        let image = replay(&log)?;
        info!(
            topics = image.topics.len(),
            offset = image.offset,
            "metadata image loaded"
        );
        Ok(Controller {
            dir,
            log: Arc::new(Mutex::new(log)),
            image: RwLock::new(Arc::new(image)),
            writer: tokio::sync::Mutex::new(()),
            allocating: tokio::sync::Mutex::new(()),
        })
    }

    /// The current image.
    pub fn image(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image.read())
    }

    /// Commits records durably and returns the image that includes them. Nothing is written
    /// unless every record applies.
    pub async fn commit(
        &self,
        records: Vec<MetadataRecord>,
    ) -> Result<Arc<MetadataImage>, ControllerError> {
        let _turn = self.writer.lock().await;
        let mut next = (*self.image()).clone();
        for r in &records {
            next.apply(r)?;
        }
        if records.is_empty() {
            return Ok(self.image());
        }
        let mut builder = BatchBuilder::new(Compression::None);
        let now = crate::now_ms();
        let values: Vec<Vec<u8>> = records
            .iter()
            .map(|r| serde_json::to_vec(r).map_err(|e| ControllerError::Corrupt(e.to_string())))
            .collect::<Result<_, _>>()?;
        for v in &values {
            builder.push(NewRecord {
                timestamp: now,
                key: None,
                value: Some(v),
                headers: &[],
            });
        }
        let batch = builder
            .build()
            .map_err(|e| ControllerError::Corrupt(e.to_string()))?;
        let log = Arc::clone(&self.log);
        let last = tokio::task::spawn_blocking(move || -> Result<i64, ControllerError> {
            let mut log = log.lock();
            let info = log
                .append(&batch, 0, now)
                .map_err(|e| ControllerError::Corrupt(e.to_string()))?;
            if let Some(plan) = log.flush_plan() {
                if let Err(e) = plan.sync() {
                    log.flush_failed();
                    return Err(e.into());
                }
                log.flush_completed(&plan);
            }
            Ok(info.last_offset)
        })
        .await
        .map_err(|e| ControllerError::Task(e.to_string()))??;
        next.offset = last;
        let next = Arc::new(next);
        *self.image.write() = Arc::clone(&next);
        Ok(next)
    }

    /// Gives `broker_id` the next block of `count` producer ids (AllocateProducerIds): the block
    /// is committed before it is returned, so a restart never hands out its ids again.
    pub async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        count: i64,
    ) -> Result<std::ops::Range<i64>, ControllerError> {
        // Two allocations must not read the same start: the commit order is the writer's.
        let _one = self.allocating.lock().await;
        let start = self.image().next_producer_id;
        let end = start.saturating_add(count.max(1));
        self.commit(vec![MetadataRecord::ProducerIds {
            broker_id,
            next_producer_id: end,
        }])
        .await?;
        Ok(start..end)
    }

    /// Flushes and closes the metadata log (clean shutdown).
    pub fn close(&self) -> Result<(), ControllerError> {
        self.log.lock().close()?;
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Rebuilds the image from every record of the metadata log.
fn replay(log: &Log) -> Result<MetadataImage, ControllerError> {
    let mut image = MetadataImage {
        offset: -1,
        ..MetadataImage::default()
    };
    let mut offset = log.log_start_offset();
    while offset < log.next_offset() {
        let plan = log
            .read(offset, 8 << 20, log.end(), true)
            .map_err(|e| ControllerError::Corrupt(e.to_string()))?;
        let bytes = plan.execute()?;
        if bytes.is_empty() {
            break;
        }
        for batch in Batches::new(&bytes) {
            let Ok(batch) = batch else { break };
            batch
                .verify()
                .map_err(|e| ControllerError::Corrupt(e.to_string()))?;
            let h = *batch.header();
            if h.last_offset() < offset {
                continue;
            }
            for (i, rec) in RecordIter::new(batch.records_bytes()).enumerate() {
                let rec = rec.map_err(|e| ControllerError::Corrupt(e.0))?;
                let value = rec
                    .value
                    .ok_or_else(|| ControllerError::Corrupt("record without value".into()))?;
                let record: MetadataRecord = serde_json::from_slice(value).map_err(|e| {
                    ControllerError::Corrupt(format!("offset {}: {e}", h.base_offset + i as i64))
                })?;
                image.apply(&record)?;
            }
            image.offset = h.last_offset();
            offset = h.last_offset() + 1;
        }
    }
    Ok(image)
}
