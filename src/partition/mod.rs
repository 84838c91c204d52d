//! A partition replica on this node: its log, its high watermark, the producers waiting for
//! durability and the consumers waiting for data.
//!
//! ```text
//! append ─▶ log (under the partition lock: offsets, pwrite) ─▶ HW = log end (single replica)
//!        └▶ wake fetch waiters          └▶ acks=all / flush.* due ─▶ flusher: fsync (no lock)
//!                                                                    └▶ durable offset ─▶ acks=all answered
//! ```
//! The lock is held only for offset assignment and the `pwrite`; validation happens before it
//! and fsyncs and reads after it, so producers to one partition queue only behind each other's
//! writes, never behind a disk flush.

pub mod manager;
pub mod waiters;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use pilgrimage_protocol::batch::view::{BatchView, Batches};
use pilgrimage_storage::{
    AbortedTxn, AppendError, AppendInfo, AppendOrigin, Log, LogPosition, ReadError, ReadPlan,
    StorageError,
};
use tokio::sync::{Notify, watch};
use tracing::error;
use uuid::Uuid;

use crate::config::TopicSettings;
pub use manager::ReplicaManager;
use waiters::Waiters;

/// Offsets a fetch or list-offsets answer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    pub log_start: i64,
    pub high_watermark: i64,
    /// Last stable offset: the first offset of the oldest open transaction, or the high
    /// watermark.
    pub last_stable: i64,
    pub log_end: i64,
}

/// Why a producer waiting for durability was not answered with success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurableWaitError {
    TimedOut,
    /// The log failed to fsync and is offline.
    Storage,
}

struct State {
    log: Log,
    high_watermark: LogPosition,
}

/// How long one partition's fsync loop may keep its blocking thread before it queues again
/// behind the other users of the pool: a few fsyncs of a fast disk, one of a slow one.
const SYNC_TURN: Duration = Duration::from_millis(5);

pub struct Partition {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub index: i32,
    state: Mutex<State>,
    settings: RwLock<Arc<TopicSettings>>,
    leader_epoch: AtomicI32,
    durable: watch::Sender<i64>,
    failed: AtomicBool,
    /// Wakes the flusher task when no fsync loop is running.
    flush_wanted: Notify,
    /// An append asked for an fsync that has not started yet. Set before `flush_wanted` is
    /// notified and taken by the fsync loop, so a loop that is already running picks the
    /// request up without a wake-up.
    flush_pending: AtomicBool,
    stopped: AtomicBool,
    stop: Notify,
    waiters: Waiters,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Partition({}-{})", self.topic, self.index)
    }
}

impl Partition {
    pub(crate) fn new(
        topic: Arc<str>,
        topic_id: Uuid,
        index: i32,
        log: Log,
        settings: Arc<TopicSettings>,
        leader_epoch: i32,
    ) -> Partition {
        let end = log.end();
        let durable = log.recovery_point();
        Partition {
            topic,
            topic_id,
            index,
            state: Mutex::new(State {
                log,
                high_watermark: end,
            }),
            settings: RwLock::new(settings),
            leader_epoch: AtomicI32::new(leader_epoch),
            durable: watch::Sender::new(durable),
            failed: AtomicBool::new(false),
            flush_wanted: Notify::new(),
            flush_pending: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
            waiters: Waiters::default(),
        }
    }

    pub fn settings(&self) -> Arc<TopicSettings> {
        Arc::clone(&self.settings.read())
    }

    pub(crate) fn set_settings(&self, s: Arc<TopicSettings>) {
        self.state.lock().log.set_config(s.log.clone());
        *self.settings.write() = s;
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Relaxed)
    }

    /// Where in its segment a batch of `size` bytes appended now would start (see
    /// [`Log::next_append_position`]); `None` while another append holds the log, rather
    /// than wait for it on the connection's reader.
    pub fn next_append_position(&self, size: u64) -> Option<u64> {
        self.state
            .try_lock()
            .map(|s| s.log.next_append_position(size))
    }

    /// Appends one validated batch from a producer. `sync` asks the flusher for an fsync now
    /// (acks=all).
    pub fn append(&self, batch: &[u8], now_ms: i64, sync: bool) -> Result<AppendInfo, AppendError> {
        self.append_from(batch, now_ms, sync, AppendOrigin::Client)
    }

    /// Appends one batch; `origin` decides the producer state checks (a coordinator writes
    /// transaction markers and its own records).
    pub fn append_from(
        &self,
        batch: &[u8],
        now_ms: i64,
        sync: bool,
        origin: AppendOrigin,
    ) -> Result<AppendInfo, AppendError> {
        let appended = self.append_unless(batch, now_ms, sync, origin, |_| None)?;
        Ok(appended.unwrap_or_else(|never: std::convert::Infallible| match never {}))
    }

    /// Appends a client's transactional batch only if its producer's transaction is already
    /// open in this partition (checked under the same lock as the append, so a marker cannot
    /// close it in between). `None`: not open; the coordinator must verify the partition was
    /// added to the transaction first (KIP-890).
    pub fn append_in_open_txn(
        &self,
        batch: &[u8],
        now_ms: i64,
        sync: bool,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<Option<AppendInfo>, AppendError> {
        let appended = self.append_unless(batch, now_ms, sync, AppendOrigin::Client, |log| {
            let open = log
                .producer_state()
                .entry(producer_id)
                .is_some_and(|e| e.epoch == producer_epoch && e.txn_first_offset.is_some());
            (!open).then_some(())
        })?;
        Ok(appended.ok())
    }

    /// Appends unless `refuse`, asked under the partition lock, gives a reason not to.
    fn append_unless<R>(
        &self,
        batch: &[u8],
        now_ms: i64,
        sync: bool,
        origin: AppendOrigin,
        refuse: impl FnOnce(&Log) -> Option<R>,
    ) -> Result<Result<AppendInfo, R>, AppendError> {
        let epoch = self.leader_epoch();
        let (info, due) = {
            let mut st = self.state.lock();
            if let Some(why) = refuse(&st.log) {
                return Ok(Err(why));
            }
            let info = st.log.append_from(batch, epoch, now_ms, origin)?;
            if info.duplicate {
                return Ok(Ok(info));
            }
            // One replica: everything written is committed.
            st.high_watermark = info.end;
            (info, sync || st.log.flush_due(now_ms))
        };
        if due {
            self.request_flush();
        }
        self.waiters.wake_all();
        Ok(Ok(info))
    }

    /// Waits until everything below `offset` is fsynced, at most `timeout`.
    pub async fn wait_durable(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<(), DurableWaitError> {
        let mut rx = self.durable.subscribe();
        let wait = async {
            loop {
                if self.failed.load(Ordering::Acquire) {
                    return Err(DurableWaitError::Storage);
                }
                if *rx.borrow_and_update() >= offset {
                    return Ok(());
                }
                if rx.changed().await.is_err() {
                    return Err(DurableWaitError::Storage);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(DurableWaitError::TimedOut))
    }

    /// Calls `f` with each batch of the partition, from its log start to its high watermark,
    /// in offset order: how a coordinator rebuilds its state at start. Reads 8 MiB at a time
    /// and stops at a batch that does not parse (nothing after a corrupt batch is trusted).
    pub fn replay(&self, mut f: impl FnMut(&BatchView<'_>)) -> Result<(), ReadError> {
        let mut offset = self.watermarks().log_start;
        loop {
            let (plan, marks) = self.read(offset, 8 << 20, true, false)?;
            if offset >= marks.high_watermark {
                return Ok(());
            }
            let bytes = plan.execute()?;
            let mut progressed = false;
            for b in Batches::new(&bytes) {
                let Ok(b) = b else { break };
                let last = b.header().last_offset();
                if last < offset {
                    continue;
                }
                offset = last + 1;
                progressed = true;
                f(&b);
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    pub fn watermarks(&self) -> Watermarks {
        Self::marks(&self.state.lock())
    }

    fn marks(st: &State) -> Watermarks {
        let hw = st.high_watermark.offset;
        Watermarks {
            log_start: st.log.log_start_offset(),
            high_watermark: hw,
            last_stable: st.log.first_unstable_offset().map_or(hw, |o| o.min(hw)),
            log_end: st.log.next_offset(),
        }
    }

    /// Plans a read of committed data: below the high watermark, or for `read_committed` below
    /// the last stable offset. The plan runs without the lock.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        read_committed: bool,
    ) -> Result<(ReadPlan, Watermarks), ReadError> {
        let mut st = self.state.lock();
        let marks = Self::marks(&st);
        let hw = st.high_watermark;
        let upper = if read_committed {
            st.log.last_stable(hw)
        } else {
            hw
        };
        let plan = st.log.read(offset, max_bytes, upper, min_one)?;
        Ok((plan, marks))
    }

    /// Aborted transactions for a `read_committed` fetch from `from` of segment `segment_base`
    /// up to byte `end`; `None` when the records read are no longer in the log (see
    /// [`Log::aborted_txns_before`]).
    pub fn aborted_txns_before(
        &self,
        from: i64,
        segment_base: i64,
        end: u64,
    ) -> Option<Vec<AbortedTxn>> {
        self.state
            .lock()
            .log
            .aborted_txns_before(from, segment_base, end)
    }

    /// Forgets producers idle longer than `producer.id.expiration.ms`.
    pub(crate) fn remove_expired_producers(&self, now_ms: i64, expiration_ms: i64) -> usize {
        self.state
            .lock()
            .log
            .remove_expired_producers(now_ms, expiration_ms)
    }

    /// Runs `f` with the log locked (rare operations: timestamp lookups, DeleteRecords).
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        f(&mut self.state.lock().log)
    }

    /// Registers a fetch waiter woken by the next append.
    pub fn register_waiter(&self, w: &Arc<Notify>) -> bool {
        self.waiters.register(w)
    }

    pub fn size_bytes(&self) -> u64 {
        self.state.lock().log.size_bytes()
    }

    pub fn is_offline(&self) -> bool {
        self.failed.load(Ordering::Acquire) || self.state.lock().log.is_offline()
    }

    /// Asks the flusher to fsync if `flush.ms` / `flush.messages` call for it.
    pub(crate) fn maybe_flush(&self, now_ms: i64) {
        if self.state.lock().log.flush_due(now_ms) {
            self.request_flush();
        }
    }

    /// Asks for an fsync of everything appended so far.
    fn request_flush(&self) {
        self.flush_pending.store(true, Ordering::Release);
        self.flush_wanted.notify_one();
    }

    /// The group-commit loop: one fsync covers every append made before it started. The
    /// fsyncs run in [`Partition::sync_while_wanted`] on one blocking thread for as long as
    /// appends keep asking for them (up to [`SYNC_TURN`]), so back-to-back group commits
    /// follow each other without a hand-off through this task and the blocking pool in
    /// between (two thread wake-ups per fsync that a producer waiting on acks=all would
    /// otherwise wait for).
    pub(crate) async fn run_flusher(self: Arc<Self>) {
        let mut more = false;
        loop {
            if !more {
                tokio::select! {
                    () = self.flush_wanted.notified() => {}
                    () = self.stop.notified() => {}
                }
            }
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            // After a turn that ended with fsyncs still wanted, the flag is still set and the
            // next turn starts at once; otherwise the flag says whether one is wanted at all.
            if !more && !self.flush_pending.swap(false, Ordering::AcqRel) {
                // Already taken by the loop that ran when this was notified.
                continue;
            }
            let this = Arc::clone(&self);
            more = match tokio::task::spawn_blocking(move || this.sync_while_wanted()).await {
                Ok(Ok(more)) => more,
                Ok(Err(e)) => {
                    self.fail(&e);
                    false
                }
                Err(join) => {
                    self.fail(&StorageError::Invalid(join.to_string()));
                    false
                }
            };
        }
    }

    /// fsyncs (blocking) until no append is waiting for one: each round takes the plan under
    /// the lock, syncs without it, moves the recovery point and answers the producers waiting
    /// for it. A turn ends after [`SYNC_TURN`] even if appends still want fsyncs (`true`):
    /// the blocking pool is shared by every partition's flusher and by disk reads, and a
    /// partition whose producers keep it busy must not hold a thread that others queue for.
    fn sync_while_wanted(&self) -> Result<bool, StorageError> {
        let turn = Instant::now();
        loop {
            let Some(plan) = self.state.lock().log.flush_plan() else {
                return Ok(false);
            };
            plan.sync()?;
            self.state.lock().log.flush_completed(&plan);
            self.durable.send_replace(plan.target.offset);
            if self.stopped.load(Ordering::Acquire) {
                return Ok(false);
            }
            if turn.elapsed() >= SYNC_TURN {
                return Ok(self.flush_pending.load(Ordering::Acquire));
            }
            if !self.flush_pending.swap(false, Ordering::AcqRel) {
                return Ok(false);
            }
        }
    }

    fn fail(&self, e: &StorageError) {
        error!(topic = %self.topic, partition = self.index, error = %e, "fsync failed; partition offline");
        self.state.lock().log.flush_failed();
        self.failed.store(true, Ordering::Release);
        self.durable.send_modify(|_| {});
    }

    /// Stops the flusher (deletion or shutdown).
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.stop.notify_one();
        self.waiters.wake_all();
    }

    /// Flushes and closes the log (clean shutdown).
    pub(crate) fn close(&self) -> Result<(), StorageError> {
        self.stop();
        self.state.lock().log.close()
    }

    pub(crate) fn recovery_point_and_start(&self) -> (i64, i64) {
        let st = self.state.lock();
        (st.log.recovery_point(), st.log.log_start_offset())
    }

    /// Applies retention; returns segments deleted.
    pub(crate) fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        let mut st = self.state.lock();
        let hw = st.high_watermark.offset;
        let r = st.log.enforce_retention(now_ms, hw)?;
        if r.segments_deleted > 0 {
            // The end position of the log may have moved to a new active segment.
            st.high_watermark = st.log.end();
        }
        Ok(r.segments_deleted)
    }

    /// One compaction pass if the log is worth cleaning: planned and installed under the lock,
    /// run without it. Returns what it did, if it ran.
    pub(crate) fn compact(
        &self,
        now_ms: i64,
        limits: pilgrimage_storage::CleanerLimits,
    ) -> Result<Option<(u64, u64, u64)>, StorageError> {
        let plan = {
            let mut st = self.state.lock();
            let hw = st.high_watermark.offset;
            st.log.cleaning_plan(now_ms, hw)
        };
        let Some(plan) = plan else { return Ok(None) };
        let cleaned = plan.run(limits)?;
        let stats = (
            cleaned.bytes_read,
            cleaned.bytes_written,
            cleaned.records_dropped,
        );
        let mut st = self.state.lock();
        pilgrimage_storage::compaction::log_pass(st.log.dir(), &cleaned);
        st.log.install_cleaned(cleaned)?;
        Ok(Some(stats))
    }

    pub(crate) fn first_dirty_offset(&self) -> i64 {
        self.state.lock().log.first_dirty_offset()
    }

    pub(crate) fn set_first_dirty_offset(&self, offset: i64) {
        self.state.lock().log.set_first_dirty_offset(offset);
    }

    /// DeleteRecords: moves the log start forward (never past the high watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64, StorageError> {
        let mut st = self.state.lock();
        let target = offset.min(st.high_watermark.offset);
        st.log.advance_log_start(target)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeMap;

    use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
    use pilgrimage_protocol::codec::Compression;
    use pilgrimage_storage::OpenOptions;

    use super::*;
    use crate::config::NodeConfig;

    fn one_record() -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None);
        b.push(NewRecord {
            timestamp: 1_000,
            key: None,
            value: Some(&[7u8; 100]),
            headers: &[],
        });
        b.build().unwrap()
    }

    fn partition(dir: &std::path::Path) -> Arc<Partition> {
        let settings = Arc::new(TopicSettings::resolve(
            &NodeConfig::default(),
            &BTreeMap::new(),
        ));
        let (log, _) = Log::open(
            dir,
            settings.log.clone(),
            OpenOptions {
                recovery_point: 0,
                log_start_offset: 0,
                clean_shutdown: true,
                now_ms: 1_000,
            },
        )
        .unwrap();
        Arc::new(Partition::new("t".into(), Uuid::nil(), 0, log, settings, 0))
    }

    /// Producers appending with acks=all from several tasks at once, each waiting for its own
    /// record to be durable: every wait ends (no request for an fsync is lost between one
    /// fsync loop ending and the next starting), and what was answered is the log's recovery
    /// point.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_acks_all_append_is_answered_by_a_group_commit() {
        let dir = tempfile::tempdir().unwrap();
        let p = partition(dir.path());
        let flusher = tokio::spawn(Arc::clone(&p).run_flusher());
        let batch = Arc::new(one_record());
        let producers: Vec<_> = (0..8)
            .map(|_| {
                let (p, batch) = (Arc::clone(&p), Arc::clone(&batch));
                tokio::spawn(async move {
                    for i in 0..300 {
                        let info = p.append(&batch, 1_000, true).unwrap();
                        p.wait_durable(info.end.offset, Duration::from_secs(30))
                            .await
                            .unwrap();
                        if i % 50 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for t in producers {
            t.await.unwrap();
        }
        assert_eq!(p.state.lock().log.end().offset, 2_400);
        assert_eq!(p.state.lock().log.recovery_point(), 2_400);
        assert_eq!(*p.durable.borrow(), 2_400);
        p.stop();
        flusher.await.unwrap();
    }

    /// A partition whose producers never stop asking for fsyncs holds the only blocking
    /// thread there is; another partition's acks=all append is still answered, because the
    /// busy partition's fsync loop gives the thread up after its turn.
    #[test]
    fn a_busy_partition_does_not_keep_another_from_its_fsync() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (busy_dir, quiet_dir) =
                (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let (busy, quiet) = (partition(busy_dir.path()), partition(quiet_dir.path()));
            let flushers = [
                tokio::spawn(Arc::clone(&busy).run_flusher()),
                tokio::spawn(Arc::clone(&quiet).run_flusher()),
            ];
            let batch = Arc::new(one_record());
            let stop = Arc::new(AtomicBool::new(false));
            // Pipelined producers: appends keep coming while every fsync runs.
            let producers: Vec<_> = (0..4)
                .map(|_| {
                    let (p, batch, stop) =
                        (Arc::clone(&busy), Arc::clone(&batch), Arc::clone(&stop));
                    tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            p.append(&batch, 1_000, true).unwrap();
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            // Until the busy partition's fsyncs have started.
            while busy.state.lock().log.recovery_point() == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let info = quiet.append(&batch, 1_000, true).unwrap();
            let answered = quiet
                .wait_durable(info.end.offset, Duration::from_secs(20))
                .await;
            stop.store(true, Ordering::Relaxed);
            for t in producers {
                t.await.unwrap();
            }
            answered.expect("the quiet partition's append was never made durable");
            busy.stop();
            quiet.stop();
            for f in flushers {
                f.await.unwrap();
            }
        });
    }
}
