//! The replica manager: which partitions this node holds, kept in step with the metadata image,
//! plus the background work on them (flush ticks, retention, checkpoints) and the data
//! directory's bookkeeping files:
//!
//! - `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`: see
//!   [`pilgrimage_storage::checkpoint`];
//! - `.clean-shutdown`: present only between a clean stop and the next start;
//! - `<topic>-<partition>/partition.metadata`: the topic id the directory belongs to, so a
//!   directory left by a deleted topic of the same name is never mistaken for the new one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use pilgrimage_storage::{Log, OpenOptions, StorageError, checkpoint};
use tracing::{info, warn};
use uuid::Uuid;

use super::Partition;
use crate::config::{NodeConfig, TopicSettings};
use crate::controller::{ConfigResource, MetadataImage};

pub const RECOVERY_POINT_FILE: &str = "recovery-point-offset-checkpoint";
pub const LOG_START_FILE: &str = "log-start-offset-checkpoint";
pub const CLEANER_FILE: &str = "cleaner-offset-checkpoint";
pub const CLEAN_SHUTDOWN_FILE: &str = ".clean-shutdown";
const PARTITION_METADATA_FILE: &str = "partition.metadata";

#[derive(Debug)]
struct TopicEntry {
    id: Uuid,
    partitions: Vec<Arc<Partition>>,
}

#[derive(Debug)]
pub struct ReplicaManager {
    data_dir: PathBuf,
    node: Arc<NodeConfig>,
    topics: RwLock<HashMap<Arc<str>, TopicEntry>>,
    clean_start: bool,
    recovery_points: checkpoint::Offsets,
    log_starts: checkpoint::Offsets,
    cleaner_points: checkpoint::Offsets,
    /// Offset of the last image applied; reconciliations run one at a time, newest wins.
    applied: tokio::sync::Mutex<i64>,
    /// Some topic has a finite `flush.ms`: only then does the flush tick visit partitions.
    timed_flush: std::sync::atomic::AtomicBool,
    /// The recovery points last written to the checkpoint file.
    written_recovery_points: parking_lot::Mutex<checkpoint::Offsets>,
}

/// The directory of one partition's log.
pub fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

impl ReplicaManager {
    /// Reads the data directory's bookkeeping. `clean_start` tells whether the last stop was clean.
    pub fn new(
        data_dir: &Path,
        node: Arc<NodeConfig>,
        clean_start: bool,
    ) -> Result<ReplicaManager, StorageError> {
        let recovery_points = checkpoint::read(&data_dir.join(RECOVERY_POINT_FILE)).unwrap_or_else(|e| {
            warn!(error = %e, "recovery point checkpoint unreadable; recovering every log fully");
            checkpoint::Offsets::new()
        });
        let log_starts = checkpoint::read(&data_dir.join(LOG_START_FILE)).unwrap_or_else(|e| {
            warn!(error = %e, "log start checkpoint unreadable; log starts follow the first segments");
            checkpoint::Offsets::new()
        });
        let cleaner_points = checkpoint::read(&data_dir.join(CLEANER_FILE)).unwrap_or_else(|e| {
            warn!(error = %e, "cleaner checkpoint unreadable; compacted logs are cleaned from their start");
            checkpoint::Offsets::new()
        });
        Ok(ReplicaManager {
            data_dir: data_dir.to_path_buf(),
            node,
            topics: RwLock::new(HashMap::new()),
            clean_start,
            recovery_points,
            log_starts,
            cleaner_points,
            applied: tokio::sync::Mutex::new(i64::MIN),
            timed_flush: std::sync::atomic::AtomicBool::new(false),
            written_recovery_points: parking_lot::Mutex::new(checkpoint::Offsets::default()),
        })
    }

    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let topics = self.topics.read();
        let t = topics.get(topic)?;
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i))
            .cloned()
    }

    pub fn topic_id(&self, topic: &str) -> Option<Uuid> {
        self.topics.read().get(topic).map(|t| t.id)
    }

    /// Every partition held, in no particular order.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.topics
            .read()
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// Brings the set of partitions in line with `image`: opens new ones (recovering their logs),
    /// removes deleted topics' logs, applies changed topic configs.
    pub async fn reconcile(self: &Arc<Self>, image: &MetadataImage) -> Result<(), StorageError> {
        let mut applied = self.applied.lock().await;
        if image.offset <= *applied {
            return Ok(()); // a newer image is already in place
        }
        // Removed topics (or recreated under the same name with a new id).
        let gone: Vec<(Arc<str>, TopicEntry)> = {
            let mut topics = self.topics.write();
            let names: Vec<Arc<str>> = topics
                .iter()
                .filter(|(n, e)| image.topic(n).is_none_or(|t| t.id != e.id))
                .map(|(n, _)| Arc::clone(n))
                .collect();
            names
                .into_iter()
                .filter_map(|n| topics.remove(&n).map(|e| (n, e)))
                .collect()
        };
        for (name, entry) in gone {
            for p in &entry.partitions {
                p.stop();
            }
            let dir = self.data_dir.clone();
            let count = entry.partitions.len();
            drop(entry);
            tokio::task::spawn_blocking(move || remove_topic_dirs(&dir, &name, count))
                .await
                .map_err(|e| StorageError::Invalid(e.to_string()))?;
        }
        // New topics and partitions, and config changes.
        let mut timed_flush = false;
        for (name, topic) in &image.topics {
            let overrides = image.configs_of(ConfigResource::Topic, name);
            let settings = Arc::new(TopicSettings::resolve(&self.node, &overrides));
            timed_flush |= settings.log.flush_ms < i64::MAX;
            let have = self
                .topics
                .read()
                .get(name)
                .map_or(0, |e| e.partitions.len());
            if let Some(e) = self.topics.read().get(name) {
                for p in &e.partitions {
                    if *p.settings() != *settings {
                        p.set_settings(Arc::clone(&settings));
                    }
                }
            }
            let wanted: Vec<(i32, i32)> = topic
                .partitions
                .iter()
                .filter(|(i, _)| **i as usize >= have)
                .map(|(i, p)| (*i, p.leader_epoch))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let opened = self
                .open_partitions(Arc::clone(name), topic.id, wanted, Arc::clone(&settings))
                .await?;
            let mut topics = self.topics.write();
            let entry = topics
                .entry(Arc::clone(name))
                .or_insert_with(|| TopicEntry {
                    id: topic.id,
                    partitions: Vec::new(),
                });
            for p in opened {
                tokio::spawn(Arc::clone(&p).run_flusher());
                entry.partitions.push(p);
            }
        }
        self.timed_flush
            .store(timed_flush, std::sync::atomic::Ordering::Relaxed);
        *applied = image.offset;
        Ok(())
    }

    async fn open_partitions(
        self: &Arc<Self>,
        name: Arc<str>,
        id: Uuid,
        wanted: Vec<(i32, i32)>,
        settings: Arc<TopicSettings>,
    ) -> Result<Vec<Arc<Partition>>, StorageError> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let now = crate::now_ms();
            let mut out = Vec::with_capacity(wanted.len());
            for (index, epoch) in wanted {
                let dir = partition_dir(&me.data_dir, &name, index);
                claim_dir(&dir, id)?;
                let key = (name.to_string(), index);
                let opts = OpenOptions {
                    recovery_point: me.recovery_points.get(&key).copied().unwrap_or(0),
                    log_start_offset: me.log_starts.get(&key).copied().unwrap_or(0),
                    clean_shutdown: me.clean_start,
                    now_ms: now,
                };
                let (log, report) = Log::open(&dir, settings.log.clone(), opts)?;
                if report.truncated_bytes > 0 {
                    warn!(topic = %name, partition = index, bytes = report.truncated_bytes, "cut a torn log tail");
                }
let partition = Partition::new(Arc::clone(&name), id, index, log, Arc::clone(&settings), epoch);
                if let Some(&dirty) = me.cleaner_points.get(&key) {
                    partition.set_first_dirty_offset(dirty);
                }
                out.push(Arc::new(partition));
            }
            Ok(out)
        })
        .await
        .map_err(|e| StorageError::Invalid(e.to_string()))?
    }

    /// Removes partition directories of topics the image does not hold (a deletion interrupted
    /// by a crash, or a topic deleted while this node was down).
    pub fn remove_strays(&self, image: &MetadataImage) {
        let Ok(entries) = std::fs::read_dir(&self.data_dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !e.path().is_dir() || name == crate::controller::METADATA_LOG_DIR {
                continue;
            }
            if name.ends_with("-delete") {
                let _ = std::fs::remove_dir_all(e.path());
                continue;
            }
            let Some((topic, part)) = name.rsplit_once('-') else {
                continue;
            };
            let Ok(part) = part.parse::<i32>() else {
                continue;
            };
            let keep = image.topic(topic).is_some_and(|t| {
                t.partitions.contains_key(&part)
                    && read_dir_topic_id(&e.path()).is_none_or(|id| id == t.id)
            });
            if !keep {
                info!(dir = %e.path().display(), "removing the log of a deleted topic");
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Writes the recovery-point, log-start and cleaner checkpoints of every partition.
    pub fn write_checkpoints(&self) -> Result<(), StorageError> {
        self.checkpoint_recovery_points()?;
        let mut starts = BTreeMap::new();
        let mut cleaned = BTreeMap::new();
        for p in self.all() {
            let key = (p.topic.to_string(), p.index);
            if p.settings().log.cleanup_compact {
                cleaned.insert(key.clone(), p.first_dirty_offset());
            }
            starts.insert(key, p.recovery_point_and_start().1);
        }
        checkpoint::write(&self.data_dir.join(LOG_START_FILE), &starts)?;
        checkpoint::write(&self.data_dir.join(CLEANER_FILE), &cleaned)
    }

    /// Writes the recovery points if any moved since they were last written. Run every second:
    /// after a crash only the data past the checkpointed recovery point is scanned again, so
    /// keeping it close to what is fsynced (segment rolls, acks=all) bounds the restart time by
    /// the unflushed tail instead of by everything written since the last full checkpoint
    /// (`log.flush.offset.checkpoint.interval.ms`, a minute by default). The only writer of
    /// that file: the lock held across the write keeps two writers off its temporary file.
    pub fn checkpoint_recovery_points(&self) -> Result<bool, StorageError> {
        let mut written = self.written_recovery_points.lock();
        let rps: checkpoint::Offsets = self
            .all()
            .iter()
            .map(|p| {
                (
                    (p.topic.to_string(), p.index),
                    p.recovery_point_and_start().0,
                )
            })
            .collect();
        if *written == rps {
            return Ok(false);
        }
        checkpoint::write(&self.data_dir.join(RECOVERY_POINT_FILE), &rps)?;
        *written = rps;
        Ok(true)
    }

    /// One retention pass over every partition.
    pub fn enforce_retention(&self, now_ms: i64) {
        for p in self.all() {
            match p.enforce_retention(now_ms) {
                Ok(0) => {}
                Ok(n) => {
                    info!(topic = %p.topic, partition = p.index, segments = n, "retention deleted segments")
                }
                Err(e) => {
                    warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                }
            }
        }
    }

    /// Forgets idle producers everywhere (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) {
        let mut gone = 0;
        for p in self.all() {
            gone += p.remove_expired_producers(now_ms, expiration_ms);
        }
        if gone > 0 {
            info!(producers = gone, "expired idle producer ids");
        }
    }

    /// One cleaner pass over every compacted partition that needs it. Returns the passes run.
    pub fn compact_all(&self, now_ms: i64, limits: pilgrimage_storage::CleanerLimits) -> usize {
        let mut ran = 0;
        for p in self.all() {
            if !p.settings().log.cleanup_compact {
                continue;
            }
            match p.compact(now_ms, limits) {
                Ok(Some(_)) => ran += 1,
                Ok(None) => {}
                Err(e) => {
                    warn!(topic = %p.topic, partition = p.index, error = %e, "compaction failed")
                }
            }
        }
        ran
    }

    /// One tick of time-based flushing (`flush.ms`).
    pub fn flush_tick(&self, now_ms: i64) {
        if !self.timed_flush.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        for p in self.all() {
            p.maybe_flush(now_ms);
        }
    }

    /// Flushes and closes every log, then writes checkpoints (clean shutdown).
    pub fn close_all(&self) -> Result<(), StorageError> {
        let mut first_err = None;
        for p in self.all() {
            if let Err(e) = p.close() {
                warn!(topic = %p.topic, partition = p.index, error = %e, "closing log failed");
                first_err.get_or_insert(e);
            }
        }
        self.write_checkpoints()?;
        first_err.map_or(Ok(()), Err)
    }
}

/// Marks a partition directory as belonging to topic `id`; an existing directory of another
/// topic id (a deleted namesake) is removed first.
fn claim_dir(dir: &Path, id: Uuid) -> Result<(), StorageError> {
    if let Some(existing) = read_dir_topic_id(dir) {
        if existing == id {
            return Ok(());
        }
        warn!(dir = %dir.display(), old = %existing, new = %id, "replacing the log of an older topic of the same name");
        std::fs::remove_dir_all(dir).map_err(|e| StorageError::Io {
            op: "remove stale log",
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    std::fs::create_dir_all(dir).map_err(|e| StorageError::Io {
        op: "create log dir",
        path: dir.to_path_buf(),
        source: e,
    })?;
    checkpoint::write_atomic(
        &dir.join(PARTITION_METADATA_FILE),
        format!("version: 0\ntopic_id: {id}\n").as_bytes(),
    )
}

fn read_dir_topic_id(dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(dir.join(PARTITION_METADATA_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id: "))
        .and_then(|s| s.trim().parse().ok())
}

/// Renames a deleted topic's directories out of the way (atomic per partition), then removes
/// them. A crash in between leaves `-delete` directories that the next start removes.
fn remove_topic_dirs(data_dir: &Path, topic: &str, partitions: usize) {
    for i in 0..partitions {
        let dir = partition_dir(data_dir, topic, i as i32);
        let doomed = data_dir.join(format!("{topic}-{i}.{}-delete", Uuid::new_v4().simple()));
        match std::fs::rename(&dir, &doomed) {
            Ok(()) => {
                if let Err(e) = std::fs::remove_dir_all(&doomed) {
                    warn!(dir = %doomed.display(), error = %e, "could not remove a deleted partition's files");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                warn!(dir = %dir.display(), error = %e, "could not remove a deleted partition")
            }
        }
    }
    let _ = checkpoint::sync_dir(data_dir);
}
