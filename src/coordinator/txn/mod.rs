//! The transaction coordinator: producer ids, the state of every transactional id in
//! `__transaction_state`, and the COMMIT/ABORT markers that end transactions.
//!
//! ```text
//! InitProducerId ─▶ id's shard (partition hash(id) of __transaction_state)
//!   ─▶ state.rs decides ─▶ record appended (pending) ─▶ fsync ─▶ applied ─▶ answer
//! EndTxn ─▶ PrepareCommit/PrepareAbort (fsync) ─▶ markers to every partition of the
//!   transaction (fsync, in parallel) ─▶ CompleteCommit/CompleteAbort ─▶ answer
//! produce of a transactional batch that opens a transaction in a partition
//!   ─▶ verified against the id's partitions and appended under the shard lock (KIP-890)
//! ```
//! One node coordinates every transactional id: the shards are the partitions of
//! `__transaction_state`, each with its own lock. The answer to EndTxn waits for the markers
//! and the Complete record (Kafka answers after the Prepare record and lets clients retry
//! CONCURRENT_TRANSACTIONS meanwhile); the next transaction then starts without retries.
//!
//! Crash safety: a Prepare record is durable before any marker is written, and markers are
//! durable before the Complete record; on start, transactions found in PrepareCommit or
//! PrepareAbort get their markers again. Transactions left Ongoing are aborted by the timeout.

pub mod producer_ids;
pub mod records;
pub mod state;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use parking_lot::Mutex;
use pilgrimage_protocol::batch::control::{EndTxnMarker, build_marker};
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord, RecordIter};
use pilgrimage_protocol::codec::{self, Compression};
use pilgrimage_storage::AppendOrigin;
use tracing::{info, warn};

use self::producer_ids::ProducerIdManager;

/// What a refused marker means. A fenced one (a newer producer epoch or coordinator owns the
/// producer in that partition) is final and the marker is dropped, as Kafka stops sending it;
/// anything else is the partition failing to write, retried until it succeeds.
pub(crate) fn marker_refusal(e: &pilgrimage_storage::AppendError) -> E {
    use pilgrimage_storage::{AppendError, ProducerError};
    match e {
        AppendError::Producer(ProducerError::CoordinatorFenced(_)) => {
            E::TransactionCoordinatorFenced
        }
        AppendError::Producer(_) => E::InvalidProducerEpoch,
        _ => E::KafkaStorageError,
    }
}
use self::records::{TxnValue, decode_key, decode_value, encode_key, encode_value};
use self::state::{EndOutcome, InitOutcome, TxnMetadata, TxnState};
use crate::broker::Broker;
use crate::config::NodeConfig;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::coordinator::group::records::partition_for;
use crate::partition::{Partition, ReplicaManager};

pub const TXN_TOPIC: &str = "__transaction_state";

/// Settings of the coordinator (Kafka's names).
#[derive(Debug, Clone)]
pub struct TxnSettings {
    /// Partitions of `__transaction_state`.
    pub partitions: i32,
    /// `transaction.max.timeout.ms`.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`.
    pub id_expiration_ms: i64,
    /// `transaction.partition.verification.enable` (KIP-890).
    pub verification: bool,
    /// How long a write to `__transaction_state` or a marker may take to become durable.
    pub write_timeout: Duration,
}

impl TxnSettings {
    pub fn from_config(c: &NodeConfig) -> TxnSettings {
        TxnSettings {
            partitions: c.int("transaction.state.log.num.partitions").max(1) as i32,
            max_timeout_ms: c
                .int("transaction.max.timeout.ms")
                .clamp(1, i64::from(i32::MAX)) as i32,
            id_expiration_ms: c.int("transactional.id.expiration.ms"),
            verification: c.bool("transaction.partition.verification.enable"),
            // Kafka's inter-broker request.timeout.ms.
            write_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    txns: HashMap<String, TxnMetadata>,
}

/// One transactional id as DescribeTransactions shows it.
#[derive(Debug, Clone)]
pub struct Described {
    pub state: TxnState,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: BTreeSet<(String, i32)>,
}

#[derive(Debug)]
pub struct TxnCoordinator {
    settings: TxnSettings,
    shards: Vec<Mutex<Shard>>,
    replicas: Arc<ReplicaManager>,
    ids: ProducerIdManager,
    node_id: i32,
}

impl TxnCoordinator {
    pub fn new(settings: TxnSettings, replicas: Arc<ReplicaManager>, node_id: i32) -> Self {
        let shards = (0..settings.partitions)
            .map(|_| Mutex::new(Shard::default()))
            .collect();
        TxnCoordinator {
            settings,
            shards,
            replicas,
            ids: ProducerIdManager::new(),
            node_id,
        }
    }

    pub fn settings(&self) -> &TxnSettings {
        &self.settings
    }

    /// The `__transaction_state` partition of a transactional id: `abs(hash) % partitions`.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_for(transactional_id, self.settings.partitions)
    }

    fn shard(&self, id: &str) -> (usize, &Mutex<Shard>) {
        let idx = self.partition_for(id) as usize;
        // partition_for is in [0, partitions): the index exists.
        (idx, &self.shards[idx.min(self.shards.len() - 1)])
    }

    fn log(&self, idx: usize) -> Result<Arc<Partition>, E> {
        self.replicas
            .get(TXN_TOPIC, idx as i32)
            .ok_or(E::CoordinatorNotAvailable)
    }

    /// The coordinator epoch stamped on markers: the leader epoch of the id's partition.
    fn coordinator_epoch(&self, idx: usize) -> i32 {
        self.log(idx).map_or(0, |p| p.leader_epoch())
    }

    /// Appends one record of `id` (a tombstone when `value` is `None`); returns the offset
    /// to wait for.
    fn append(&self, idx: usize, id: &str, value: Option<&TxnValue>) -> Result<i64, E> {
        let p = self.log(idx)?;
        let now = crate::now_ms();
        let key = encode_key(id);
        let value = value.map(encode_value);
        let mut b = BatchBuilder::new(Compression::None);
        b.push(NewRecord {
            timestamp: now,
            key: Some(&key),
            value: value.as_deref(),
            headers: &[],
        });
        let batch = b.build().map_err(|_| E::UnknownServerError)?;
        let info = p
            .append_from(&batch, now, true, AppendOrigin::Coordinator)
            .map_err(|e| {
                warn!(error = %e, "{TXN_TOPIC} append failed");
                E::NotCoordinator
            })?;
        Ok(info.last_offset + 1)
    }

    async fn wait(&self, idx: usize, target: i64) -> Result<(), E> {
        self.log(idx)?
            .wait_durable(target, self.settings.write_timeout)
            .await
            .map_err(|_| E::CoordinatorNotAvailable)
    }

    /// Clears a pending transition that could not be written.
    fn abandon(&self, idx: usize, id: &str) {
        if let Some(m) = self.shards[idx].lock().txns.get_mut(id) {
            m.pending = None;
        }
    }

    /// A producer id for an idempotent producer (InitProducerId without a transactional id).
    pub async fn new_producer_id(&self, broker: &Broker) -> Result<i64, E> {
        self.ids.next(&broker.controller, self.node_id).await
    }

    /// InitProducerId of a transactional producer: (producer id, epoch).
    pub async fn init_producer_id(
        &self,
        broker: &Broker,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), E> {
        if id.is_empty() {
            return Err(E::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.settings.max_timeout_ms {
            return Err(E::InvalidTransactionTimeout);
        }
        let (idx, shard) = self.shard(id);
        let need_id = match shard.lock().txns.get(id) {
            None => true,
            Some(m) => m.needs_new_producer_id(expected),
        };
        let fresh = if need_id {
            Some(self.ids.next(&broker.controller, self.node_id).await?)
        } else {
            None
        };
        let now = crate::now_ms();
        let (outcome, target) = {
            let mut s = shard.lock();
            let m = match s.txns.get_mut(id) {
                Some(m) => m,
                None => {
                    let pid = fresh.ok_or(E::ConcurrentTransactions)?;
                    s.txns
                        .entry(id.to_string())
                        .or_insert_with(|| TxnMetadata::new(pid, timeout_ms, now))
                }
            };
            let fresh = fresh.filter(|&f| f != m.producer_id);
            let outcome = m.init_producer_id(expected, timeout_ms, fresh, now)?;
            let value = match &outcome {
                InitOutcome::Current(pid, epoch) => return Ok((*pid, *epoch)),
                InitOutcome::Write(v, _) | InitOutcome::FenceAndAbort(v) => v.clone(),
            };
            m.pending = Some(value.state);
            match self.append(idx, id, Some(&value)) {
                Ok(t) => (outcome, t),
                Err(e) => {
                    m.pending = None;
                    return Err(e);
                }
            }
        };
        if let Err(e) = self.wait(idx, target).await {
            self.abandon(idx, id);
            return Err(e);
        }
        match outcome {
            InitOutcome::Write(v, last) => {
                let mut s = shard.lock();
                if let Some(m) = s.txns.get_mut(id) {
                    m.apply(&v);
                    m.last_producer_epoch = last;
                }
                info!(
                    transactional_id = id,
                    producer_id = v.producer_id,
                    epoch = v.producer_epoch,
                    "producer initialized"
                );
                Ok((v.producer_id, v.producer_epoch))
            }
            InitOutcome::FenceAndAbort(v) => {
                info!(
                    transactional_id = id,
                    epoch = v.producer_epoch,
                    "fencing the open transaction of a previous producer"
                );
                self.prepared(idx, id, &v);
                self.finish(broker, idx, id).await?;
                Err(E::ConcurrentTransactions)
            }
            InitOutcome::Current(..) => Err(E::UnknownServerError),
        }
    }

    /// Installs a durable Prepare record and marks the markers as in flight.
    fn prepared(&self, idx: usize, id: &str, v: &TxnValue) {
        if let Some(m) = self.shards[idx].lock().txns.get_mut(id) {
            m.apply(v);
            m.last_producer_epoch = -1;
            m.pending = Some(if v.state == TxnState::PrepareCommit {
                TxnState::CompleteCommit
            } else {
                TxnState::CompleteAbort
            });
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn.
    pub async fn add_partitions(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), E> {
        if id.is_empty() {
            return Err(E::InvalidRequest);
        }
        let (idx, shard) = self.shard(id);
        let (value, target) = {
            let mut s = shard.lock();
            let m = s.txns.get_mut(id).ok_or(E::InvalidProducerIdMapping)?;
            let Some(v) = m.add_partitions(producer_id, epoch, partitions, crate::now_ms())? else {
                return Ok(());
            };
            m.pending = Some(TxnState::Ongoing);
            match self.append(idx, id, Some(&v)) {
                Ok(t) => (v, t),
                Err(e) => {
                    m.pending = None;
                    return Err(e);
                }
            }
        };
        if let Err(e) = self.wait(idx, target).await {
            self.abandon(idx, id);
            return Err(e);
        }
        if let Some(m) = shard.lock().txns.get_mut(id) {
            m.apply(&value);
        }
        Ok(())
    }

    /// Whether the partition is in the producer's open transaction (AddPartitionsToTxn v4+
    /// `verify_only`).
    pub fn verify(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        tp: &(String, i32),
    ) -> Result<(), E> {
        if id.is_empty() {
            return Err(E::InvalidRequest);
        }
        let (_, shard) = self.shard(id);
        let s = shard.lock();
        let m = s.txns.get(id).ok_or(E::InvalidProducerIdMapping)?;
        m.verify(producer_id, epoch, tp)
    }

    /// Runs `write` (the append of a transactional batch that opens a transaction in `tp`)
    /// only if `tp` is in the producer's open transaction, with the id's shard locked, so that
    /// no marker can end the transaction between the check and the write (KIP-890).
    pub fn with_verified<T>(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        tp: &(String, i32),
        write: impl FnOnce() -> T,
    ) -> Result<T, E> {
        if !self.settings.verification {
            return Ok(write());
        }
        let (_, shard) = self.shard(id);
        let s = shard.lock();
        let m = s.txns.get(id).ok_or(E::InvalidProducerIdMapping)?;
        m.verify(producer_id, epoch, tp)?;
        Ok(write())
    }

    /// EndTxn (v0-4): commit or abort, answered once the markers are durable.
    pub async fn end_txn(
        &self,
        broker: &Broker,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), E> {
        if id.is_empty() {
            return Err(E::InvalidRequest);
        }
        let (idx, shard) = self.shard(id);
        let (value, target) = {
            let mut s = shard.lock();
            let m = s.txns.get_mut(id).ok_or(E::InvalidProducerIdMapping)?;
            let v = match m.end_txn(producer_id, epoch, commit, crate::now_ms())? {
                EndOutcome::AlreadyDone => return Ok(()),
                EndOutcome::Prepare(v) => v,
            };
            m.pending = Some(v.state);
            match self.append(idx, id, Some(&v)) {
                Ok(t) => (v, t),
                Err(e) => {
                    m.pending = None;
                    return Err(e);
                }
            }
        };
        if let Err(e) = self.wait(idx, target).await {
            self.abandon(idx, id);
            return Err(e);
        }
        self.prepared(idx, id, &value);
        self.finish(broker, idx, id).await
    }

    /// Writes the markers of a prepared transaction, waits until they are durable, and writes
    /// the Complete record. On failure the transaction stays prepared and a later tick tries
    /// again.
    async fn finish(&self, broker: &Broker, idx: usize, id: &str) -> Result<(), E> {
        let (pid, epoch, commit, partitions) = {
            let s = self.shards[idx].lock();
            let m = s.txns.get(id).ok_or(E::InvalidProducerIdMapping)?;
            (
                m.producer_id,
                m.producer_epoch,
                m.state == TxnState::PrepareCommit,
                m.partitions.clone(),
            )
        };
        let coordinator_epoch = self.coordinator_epoch(idx);
        let marker = EndTxnMarker {
            commit,
            coordinator_epoch,
        };
        let now = crate::now_ms();
        let mut waits = Vec::with_capacity(partitions.len());
        let mut failed = false;
        for (topic, p) in &partitions {
            let written = if topic == OFFSETS_TOPIC {
                broker
                    .groups
                    .write_txn_marker(*p as usize, pid, epoch, marker, now)
                    .map(Some)
            } else {
                match self.replicas.get(topic, *p) {
                    // A deleted partition needs no marker.
                    None => Ok(None),
                    Some(part) => {
                        let batch = build_marker(pid, epoch, marker, now);
                        part.append_from(&batch, now, true, AppendOrigin::Coordinator)
                            .map(|info| Some((part, info.last_offset + 1)))
                            .map_err(|e| {
                                warn!(topic = %topic, partition = p, error = %e, "transaction marker refused");
                                marker_refusal(&e)
                            })
                    }
                }
            };
            match written {
                Ok(Some(w)) => waits.push(w),
                Ok(None) => {}
                Err(E::KafkaStorageError) => failed = true,
                Err(e) => {
                    // Fenced markers (a newer epoch or coordinator owns the producer) are
                    // dropped, as Kafka stops sending them.
                    warn!(topic = %topic, partition = p, error = ?e, "transaction marker not written");
                }
            }
        }
        for (part, target) in waits {
            if part
                .wait_durable(target, self.settings.write_timeout)
                .await
                .is_err()
            {
                failed = true;
            }
        }
        if failed {
            self.abandon(idx, id);
            return Err(E::CoordinatorNotAvailable);
        }
        let mut s = self.shards[idx].lock();
        let m = s.txns.get_mut(id).ok_or(E::InvalidProducerIdMapping)?;
        let v = m.complete(crate::now_ms());
        if let Err(e) = self.append(idx, id, Some(&v)) {
            m.pending = None;
            return Err(e);
        }
        // Applied before it is durable: any later record of this id (which is waited for)
        // makes it durable too, and a crash before that finds the transaction prepared and
        // writes its markers again.
        m.apply(&v);
        Ok(())
    }

    /// Aborts transactions past their timeout (fencing their producers with the next epoch)
    /// and finishes prepared transactions whose markers failed.
    pub async fn abort_timed_out(&self, broker: &Broker) {
        let now = crate::now_ms();
        let mut fenced = Vec::new();
        let mut unfinished = Vec::new();
        for (idx, shard) in self.shards.iter().enumerate() {
            let mut s = shard.lock();
            for (id, m) in s.txns.iter_mut() {
                if m.timed_out(now) {
                    let v = m.fence(now);
                    m.pending = Some(TxnState::PrepareAbort);
                    match self.append(idx, id, Some(&v)) {
                        Ok(t) => fenced.push((idx, id.clone(), v, t)),
                        Err(_) => m.pending = None,
                    }
                } else if m.pending.is_none()
                    && matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort)
                {
                    m.pending = Some(if m.state == TxnState::PrepareCommit {
                        TxnState::CompleteCommit
                    } else {
                        TxnState::CompleteAbort
                    });
                    unfinished.push((idx, id.clone()));
                }
            }
        }
        for (idx, id, v, target) in fenced {
            info!(transactional_id = %id, producer_id = v.producer_id, "aborting a transaction past its timeout");
            if self.wait(idx, target).await.is_err() {
                self.abandon(idx, &id);
                continue;
            }
            self.prepared(idx, &id, &v);
            if let Err(e) = self.finish(broker, idx, &id).await {
                warn!(transactional_id = %id, error = ?e, "abort of a timed-out transaction failed");
            }
        }
        for (idx, id) in unfinished {
            if let Err(e) = self.finish(broker, idx, &id).await {
                warn!(transactional_id = %id, error = ?e, "completing a prepared transaction failed");
            }
        }
    }

    /// Removes ids idle longer than `transactional.id.expiration.ms` (tombstones).
    pub fn expire_ids(&self) {
        let now = crate::now_ms();
        for (idx, shard) in self.shards.iter().enumerate() {
            let mut s = shard.lock();
            let expired: Vec<String> = s
                .txns
                .iter()
                .filter(|(_, m)| m.expired(now, self.settings.id_expiration_ms))
                .map(|(id, _)| id.clone())
                .collect();
            for id in expired {
                if self.append(idx, &id, None).is_ok() {
                    s.txns.remove(&id);
                    info!(transactional_id = %id, "transactional id expired");
                }
            }
        }
    }

    /// Replays every `__transaction_state` partition (node start). Returns the ids loaded.
    pub fn load(&self) -> Result<usize, E> {
        let mut loaded = 0;
        for (idx, shard) in self.shards.iter().enumerate() {
            let p = self.log(idx)?;
            let mut s = shard.lock();
            p.replay(|b| {
                let h = b.header();
                if h.is_control() {
                    return;
                }
                let Ok(codec) = h.compression() else { return };
                let Ok(body) = codec::decompress_to_vec(codec, b.records_bytes(), 64 << 20) else {
                    return;
                };
                for r in RecordIter::new(&body) {
                    let Ok(r) = r else { break };
                    let Some(id) = r.key.and_then(decode_key) else {
                        continue;
                    };
                    match r.value.map(decode_value) {
                        None => {
                            s.txns.remove(&id);
                        }
                        Some(Some(v)) => {
                            s.txns.insert(id, TxnMetadata::from_value(&v));
                        }
                        Some(None) => {
                            warn!(transactional_id = %id, "unreadable {TXN_TOPIC} record skipped")
                        }
                    }
                }
            })
            .map_err(|_| E::CoordinatorLoadInProgress)?;
            loaded += s.txns.len();
        }
        Ok(loaded)
    }

    /// Finishes transactions a crash left prepared: their markers are written again and their
    /// Complete records appended.
    pub async fn recover(&self, broker: &Broker) {
        let mut prepared = Vec::new();
        for (idx, shard) in self.shards.iter().enumerate() {
            let mut s = shard.lock();
            for (id, m) in s.txns.iter_mut() {
                if matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort) {
                    m.pending = Some(if m.state == TxnState::PrepareCommit {
                        TxnState::CompleteCommit
                    } else {
                        TxnState::CompleteAbort
                    });
                    prepared.push((idx, id.clone()));
                }
            }
        }
        for (idx, id) in prepared {
            match self.finish(broker, idx, &id).await {
                Ok(()) => {
                    info!(transactional_id = %id, "finished a transaction prepared before the restart")
                }
                Err(e) => {
                    warn!(transactional_id = %id, error = ?e, "cannot finish a prepared transaction yet")
                }
            }
        }
    }

    /// DescribeTransactions of one id.
    pub fn describe(&self, id: &str) -> Result<Described, E> {
        if id.is_empty() {
            return Err(E::InvalidRequest);
        }
        let (_, shard) = self.shard(id);
        let s = shard.lock();
        let m = s.txns.get(id).ok_or(E::TransactionalIdNotFound)?;
        if m.state == TxnState::Dead {
            return Err(E::TransactionalIdNotFound);
        }
        Ok(Described {
            state: m.state,
            timeout_ms: m.timeout_ms,
            start_ms: if m.state == TxnState::Empty {
                -1
            } else {
                m.start_ms
            },
            producer_id: m.producer_id,
            producer_epoch: m.producer_epoch,
            partitions: m.partitions.clone(),
        })
    }

    /// Every id matching the filters: (id, producer id, state).
    pub fn list(
        &self,
        states: &[TxnState],
        producer_ids: &[i64],
        min_duration_ms: i64,
        pattern: Option<&regex::Regex>,
    ) -> Vec<(String, i64, TxnState)> {
        let now = crate::now_ms();
        let mut out = Vec::new();
        for shard in &self.shards {
            let s = shard.lock();
            for (id, m) in &s.txns {
                let keep = m.state != TxnState::Dead
                    && (states.is_empty() || states.contains(&m.state))
                    && (producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
                    && (min_duration_ms < 0 || now - m.start_ms > min_duration_ms)
                    && pattern.is_none_or(|re| re.is_match(id));
                if keep {
                    out.push((id.clone(), m.producer_id, m.state));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}
