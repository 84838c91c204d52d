//! The group coordinator: consumer groups (classic and KIP-848) and committed offsets, kept in
//! the compacted internal topic `__consumer_offsets`.
//!
//! ```text
//! handler ─▶ GroupCoordinator (one shard per __consumer_offsets partition, one lock each)
//!              ├─ ClassicGroup / ConsumerGroup (sans-IO) ─▶ effects
//!              ├─ records appended to the shard's partition, in order, under the shard lock
//!              └─ parked JoinGroup / SyncGroup answered through one-shot channels
//! ticker ─▶ session and rebalance deadlines, every TICK
//! expiry ─▶ offsets.retention.minutes, empty groups deleted
//! ```
//! A group lives on partition `abs(javaHash(group)) % offsets.topic.num.partitions` as in Kafka.
//! On start every partition is read from its start and the records replayed, so committed
//! offsets and group metadata survive restarts. Offset commits are answered once their record is
//! fsynced (group commit).

pub mod assignor;
pub mod classic;
pub mod consumer;
pub mod consumer_protocol;
mod delete;
mod expiry;
mod load;
pub mod offsets;
pub mod records;
pub mod txn_offsets;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use parking_lot::Mutex;
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord, RecordIter};
use pilgrimage_protocol::codec::{self, Compression};
use tokio::sync::oneshot;
use tracing::{info, warn};
use uuid::Uuid;

use self::classic::{ClassicGroup, Effect, JoinInput, JoinResult, Limits, SyncResult, Waiter};
use self::consumer::{ConsumerGroup, HeartbeatInput, HeartbeatResult, TopicView};
use self::offsets::{ExpiryBase, Offsets};
use self::records::{ClassicGroupValue, ConsumerGroupValue, Key, OffsetValue, partition_for};
use crate::config::NodeConfig;
use crate::partition::{Partition, ReplicaManager};

/// The internal topic holding group state.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often deadlines are checked: session and rebalance timeouts fire within this much.
pub const TICK: Duration = Duration::from_millis(100);

/// Coordinator settings (Kafka names in `NodeConfig`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub partitions: i32,
    pub initial_rebalance_delay_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub max_size: usize,
    pub offsets_retention_ms: i64,
    pub metadata_max_chars: usize,
    pub consumer_session_timeout_ms: i64,
    pub consumer_heartbeat_interval_ms: i32,
    pub consumer_assignors: Vec<String>,
    pub commit_timeout: Duration,
}

impl Settings {
    pub fn from_config(c: &NodeConfig) -> Settings {
        Settings {
            partitions: c.int("offsets.topic.num.partitions").clamp(1, 1000) as i32,
            initial_rebalance_delay_ms: c.int("group.initial.rebalance.delay.ms").max(0),
            min_session_timeout_ms: c.int("group.min.session.timeout.ms") as i32,
            max_session_timeout_ms: c.int("group.max.session.timeout.ms") as i32,
            max_size: c.int("group.max.size").clamp(1, i64::from(i32::MAX)) as usize,
            offsets_retention_ms: c.int("offsets.retention.minutes").saturating_mul(60_000),
            metadata_max_chars: c.int("offset.metadata.max.bytes").max(0) as usize,
            consumer_session_timeout_ms: c.int("group.consumer.session.timeout.ms"),
            consumer_heartbeat_interval_ms: c.int("group.consumer.heartbeat.interval.ms") as i32,
            consumer_assignors: c
                .value("group.consumer.assignors")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            commit_timeout: Duration::from_millis(c.int("offsets.commit.timeout.ms").max(1) as u64),
        }
    }
}

/// A group of either protocol.
#[derive(Debug)]
pub enum Group {
    Classic(Box<ClassicGroup>),
    Consumer(ConsumerGroup),
}

impl Group {
    pub fn is_empty(&self) -> bool {
        match self {
            Group::Classic(g) => g.is_empty(),
            Group::Consumer(g) => g.is_empty(),
        }
    }
}

#[derive(Debug, Default)]
struct Shard {
    groups: HashMap<String, Group>,
    offsets: HashMap<String, Offsets>,
    /// What was last persisted for each consumer group (heartbeats persist only changes).
    persisted: HashMap<String, ConsumerGroupValue>,
    joins: HashMap<Waiter, oneshot::Sender<JoinResult>>,
    syncs: HashMap<Waiter, oneshot::Sender<SyncResult>>,
    /// Offsets of open transactions, waiting for their markers.
    pending_txn: txn_offsets::PendingTxnOffsets,
}

/// One offset to commit.
#[derive(Debug, Clone)]
pub struct CommitInput {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An offset commit applied and appended, its answer waiting for durability.
#[derive(Debug)]
pub struct PendingCommit {
    shard: usize,
    durable: i64,
    results: Vec<Option<E>>,
}

/// Who commits: the member and its generation (classic) or epoch (consumer).
#[derive(Debug, Clone, Default)]
pub struct Committer {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    /// v2-4 `retention_time_ms` (-1: the broker's retention).
    pub retention_ms: i64,
    pub version: i16,
}

/// A member as DescribeGroups reports it.
#[derive(Debug, Clone)]
pub struct DescribedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone)]
pub struct Described {
    pub state: String,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<DescribedMember>,
}

/// Committed offsets by topic: (partition, offset if committed).
pub type FetchedOffsets = Vec<(String, Vec<(i32, Option<OffsetValue>)>)>;

#[derive(Debug)]
pub struct GroupCoordinator {
    settings: Settings,
    shards: Vec<Mutex<Shard>>,
    replicas: Arc<ReplicaManager>,
    next_waiter: AtomicU64,
}

fn new_member_id(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4())
}

impl GroupCoordinator {
    pub fn new(settings: Settings, replicas: Arc<ReplicaManager>) -> GroupCoordinator {
        let shards = (0..settings.partitions)
            .map(|_| Mutex::new(Shard::default()))
            .collect();
        GroupCoordinator {
            settings,
            shards,
            replicas,
            next_waiter: AtomicU64::new(1),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_of(&self, group: &str) -> i32 {
        partition_for(group, self.settings.partitions)
    }

    fn shard(&self, group: &str) -> (usize, &Mutex<Shard>) {
        let p = self.partition_of(group) as usize;
        (p, &self.shards[p.min(self.shards.len() - 1)])
    }

    fn limits(&self) -> Limits {
        Limits {
            initial_rebalance_delay_ms: self.settings.initial_rebalance_delay_ms,
            max_size: self.settings.max_size,
        }
    }

    fn log(&self, shard: usize) -> Result<Arc<Partition>, E> {
        self.replicas
            .get(OFFSETS_TOPIC, shard as i32)
            .ok_or(E::CoordinatorNotAvailable)
    }

    /// Appends records (key, value; `None` = tombstone) to a shard's partition. Called with the
    /// shard locked, so records land in the order the state changed. Returns the offset to wait
    /// on for durability.
    fn append(&self, shard: usize, records: &[(Key, Option<Vec<u8>>)]) -> Result<i64, E> {
        if records.is_empty() {
            return Ok(-1);
        }
        let p = self.log(shard)?;
        let now = crate::now_ms();
        let keys: Vec<Vec<u8>> = records.iter().map(|(k, _)| k.encode()).collect();
        let mut b = BatchBuilder::new(Compression::None);
        for ((_, v), k) in records.iter().zip(&keys) {
            b.push(NewRecord {
                timestamp: now,
                key: Some(k),
                value: v.as_deref(),
                headers: &[],
            });
        }
        let batch = b.build().map_err(|_| E::UnknownServerError)?;
        let info = p.append(&batch, now, true).map_err(|e| {
            warn!(error = %e, "__consumer_offsets append failed");
            E::NotCoordinator
        })?;
        Ok(info.last_offset + 1)
    }

    async fn wait_durable(&self, shard: usize, offset: i64) -> Result<(), E> {
        if offset < 0 {
            return Ok(());
        }
        let p = self.log(shard)?;
        p.wait_durable(offset, self.settings.commit_timeout)
            .await
            .map_err(|_| E::CoordinatorNotAvailable)
    }

    fn persist_classic(&self, shard: usize, group: &str, v: &ClassicGroupValue) -> Result<i64, E> {
        let value = serde_json::to_vec(v).map_err(|_| E::UnknownServerError)?;
        self.append(
            shard,
            &[(
                Key::ClassicGroup {
                    group: group.to_string(),
                },
                Some(value),
            )],
        )
    }

    /// Carries out effects of a classic group: records first, then answers.
    fn apply(&self, shard_idx: usize, s: &mut Shard, group: &str, fx: Vec<Effect>) {
        for e in &fx {
            if let Effect::Persist(v) = e
                && let Err(err) = self.persist_classic(shard_idx, group, v)
            {
                warn!(group, error = ?err, "persisting group metadata failed");
            }
        }
        for e in fx {
            match e {
                Effect::Join(w, r) => {
                    if let Some(tx) = s.joins.remove(&w) {
                        let _ = tx.send(r);
                    }
                }
                Effect::Sync(w, r) => {
                    if let Some(tx) = s.syncs.remove(&w) {
                        let _ = tx.send(r);
                    }
                }
                Effect::Persist(_) => {}
            }
        }
    }

    /// JoinGroup.
    pub async fn join(&self, group: &str, input: JoinInput) -> JoinResult {
        if group.is_empty() {
            return JoinResult::error(E::InvalidGroupId, &input.member_id);
        }
        let s_ = &self.settings;
        if input.session_timeout_ms < s_.min_session_timeout_ms
            || input.session_timeout_ms > s_.max_session_timeout_ms
        {
            return JoinResult::error(E::InvalidSessionTimeout, &input.member_id);
        }
        let (idx, shard) = self.shard(group);
        let rx = {
            let mut s = shard.lock();
            let now = crate::now_ms();
            match s.groups.get(group) {
                Some(Group::Consumer(g)) if !g.is_empty() => {
                    return JoinResult::error(E::InconsistentGroupProtocol, "");
                }
                Some(Group::Consumer(_)) => {
                    // An empty consumer group turns into a classic one.
                    s.groups.remove(group);
                    s.persisted.remove(group);
                    let _ = self.append(
                        idx,
                        &[(
                            Key::ConsumerGroup {
                                group: group.to_string(),
                            },
                            None,
                        )],
                    );
                }
                None if !input.member_id.is_empty() => {
                    return JoinResult::error(E::UnknownMemberId, &input.member_id);
                }
                _ => {}
            }
            let delay = self.settings.initial_rebalance_delay_ms;
            let g = match s
                .groups
                .entry(group.to_string())
                .or_insert_with(|| Group::Classic(Box::new(ClassicGroup::new(group, now, delay))))
            {
                Group::Classic(g) => g,
                Group::Consumer(_) => return JoinResult::error(E::InconsistentGroupProtocol, ""),
            };
            let waiter = self.next_waiter.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            let fx = g.join(now, input, waiter, &self.limits(), new_member_id);
            s.joins.insert(waiter, tx);
            self.apply(idx, &mut s, group, fx);
            rx
        };
        rx.await
            .unwrap_or_else(|_| JoinResult::error(E::CoordinatorNotAvailable, ""))
    }

    /// SyncGroup.
    pub async fn sync(&self, group: &str, input: classic::SyncInput) -> SyncResult {
        if group.is_empty() {
            return SyncResult::error(E::InvalidGroupId);
        }
        let (idx, shard) = self.shard(group);
        let rx = {
            let mut s = shard.lock();
            let now = crate::now_ms();
            let Some(Group::Classic(g)) = s.groups.get_mut(group) else {
                return SyncResult::error(E::UnknownMemberId);
            };
            let waiter = self.next_waiter.fetch_add(1, Ordering::Relaxed);
            let fx = g.sync(now, input, waiter);
            let (tx, rx) = oneshot::channel();
            s.syncs.insert(waiter, tx);
            self.apply(idx, &mut s, group, fx);
            rx
        };
        rx.await
            .unwrap_or_else(|_| SyncResult::error(E::CoordinatorNotAvailable))
    }

    /// Heartbeat.
    pub fn heartbeat(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), E> {
        if group.is_empty() {
            return Err(E::InvalidGroupId);
        }
        let (_, shard) = self.shard(group);
        let mut s = shard.lock();
        match s.groups.get_mut(group) {
            Some(Group::Classic(g)) => {
                g.heartbeat(crate::now_ms(), member_id, instance_id, generation)
            }
            _ => Err(E::UnknownMemberId),
        }
    }

    /// LeaveGroup: per-member errors, or a group-level error.
    pub fn leave(
        &self,
        group: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Option<E>>, E> {
        if group.is_empty() {
            return Err(E::InvalidGroupId);
        }
        let (idx, shard) = self.shard(group);
        let mut s = shard.lock();
        let now = crate::now_ms();
        let Some(Group::Classic(g)) = s.groups.get_mut(group) else {
            return Ok(members.iter().map(|_| Some(E::UnknownMemberId)).collect());
        };
        if g.state == classic::State::Dead {
            return Err(E::CoordinatorNotAvailable);
        }
        let (errors, fx) = g.leave(now, members);
        self.apply(idx, &mut s, group, fx);
        Ok(errors)
    }

    /// OffsetCommit: a group-level error, or one result per offset once the commit is durable.
    pub async fn commit(
        &self,
        group: &str,
        who: &Committer,
        offsets: Vec<CommitInput>,
    ) -> Result<Vec<Option<E>>, E> {
        let pending = self.start_commit(group, who, offsets)?;
        self.finish_commit(pending).await
    }

    /// The first half of an OffsetCommit: validates it, appends its records and applies it.
    /// Not async, so a connection's handler runs it in the order requests arrive and lets the
    /// next request append before this one's fsync is over: pipelined commits share fsyncs.
    pub fn start_commit(
        &self,
        group: &str,
        who: &Committer,
        offsets: Vec<CommitInput>,
    ) -> Result<PendingCommit, E> {
        let (idx, shard) = self.shard(group);
        let (results, durable) = {
            let mut s = shard.lock();
            let now = crate::now_ms();
            match s.groups.get_mut(group) {
                None if who.generation < 0 => {
                    // A standalone consumer or an admin tool: a group without members.
                    let g = ClassicGroup::new(group, now, self.settings.initial_rebalance_delay_ms);
                    s.groups
                        .insert(group.to_string(), Group::Classic(Box::new(g)));
                }
                None => {
                    return Err(if who.version >= 9 {
                        E::GroupIdNotFound
                    } else {
                        E::IllegalGeneration
                    });
                }
                Some(Group::Classic(g)) => g.validate_commit(
                    now,
                    &who.member_id,
                    who.instance_id.as_deref(),
                    who.generation,
                )?,
                Some(Group::Consumer(g)) => {
                    g.validate_commit(&who.member_id, who.generation, who.version)?
                }
            }
            let expire = if who.retention_ms >= 0 {
                now.saturating_add(who.retention_ms)
            } else {
                -1
            };
            let mut results = Vec::with_capacity(offsets.len());
            let mut records = Vec::new();
            let mut values = Vec::new();
            for o in offsets {
                if o.metadata
                    .as_ref()
                    .is_some_and(|m| m.encode_utf16().count() > self.settings.metadata_max_chars)
                {
                    results.push(Some(E::OffsetMetadataTooLarge));
                    continue;
                }
                results.push(None);
                let v = OffsetValue {
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: Some(o.metadata.unwrap_or_default()),
                    commit_timestamp: now,
                    expire_timestamp: expire,
                };
                let bytes = serde_json::to_vec(&v).map_err(|_| E::UnknownServerError)?;
                records.push((
                    Key::Offset {
                        group: group.to_string(),
                        topic: o.topic.clone(),
                        partition: o.partition,
                    },
                    Some(bytes),
                ));
                values.push(((o.topic, o.partition), v));
            }
            let durable = self.append(idx, &records)?;
            for (k, _) in &values {
                s.supersede_pending(group, k);
            }
            let stored = s.offsets.entry(group.to_string()).or_default();
            for (k, v) in values {
                stored.insert(k, v);
            }
            (results, durable)
        };
        Ok(PendingCommit {
            shard: idx,
            durable,
            results,
        })
    }

    /// The second half of an OffsetCommit: waits until its records are durable.
    pub async fn finish_commit(&self, pending: PendingCommit) -> Result<Vec<Option<E>>, E> {
        self.wait_durable(pending.shard, pending.durable).await?;
        Ok(pending.results)
    }

    /// OffsetFetch of one group: `topics = None` for every committed offset. Unknown groups and
    /// missing commits answer -1 (Kafka never says GROUP_ID_NOT_FOUND here).
    pub fn fetch(&self, group: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> FetchedOffsets {
        self.fetch_stable(group, topics, false).0
    }

    /// [`GroupCoordinator::fetch`] and, with `require_stable`, the partitions among those found
    /// whose transactional offsets are still pending (OffsetFetch answers
    /// UNSTABLE_OFFSET_COMMIT for them) — under one lock, so a marker landing in between cannot
    /// pass off an offset it was about to replace as stable.
    pub fn fetch_stable(
        &self,
        group: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> (FetchedOffsets, HashSet<(String, i32)>) {
        let (_, shard) = self.shard(group);
        let s = shard.lock();
        let found = Self::fetch_locked(&s, group, topics);
        let mut unstable = HashSet::new();
        if require_stable {
            for (t, ps) in &found {
                for (p, _) in ps {
                    let tp = (t.clone(), *p);
                    if s.has_pending(group, &tp) {
                        unstable.insert(tp);
                    }
                }
            }
        }
        (found, unstable)
    }

    fn fetch_locked(
        s: &Shard,
        group: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> FetchedOffsets {
        let stored = s.offsets.get(group);
        match topics {
            Some(ts) => ts
                .into_iter()
                .map(|(t, ps)| {
                    let parts = ps
                        .into_iter()
                        .map(|p| (p, stored.and_then(|o| o.get(&(t.clone(), p))).cloned()))
                        .collect();
                    (t, parts)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<OffsetValue>)>> =
                    BTreeMap::new();
                for ((t, p), v) in stored.into_iter().flatten() {
                    by_topic
                        .entry(t.clone())
                        .or_default()
                        .push((*p, Some(v.clone())));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// Validates an OffsetFetch v9 member of a consumer group.
    pub fn validate_fetch(
        &self,
        group: &str,
        member_id: Option<&str>,
        epoch: i32,
    ) -> Result<(), E> {
        let (_, shard) = self.shard(group);
        let s = shard.lock();
        match (s.groups.get(group), member_id) {
            (Some(Group::Consumer(g)), Some(id)) => {
                let m = g.members.get(id).ok_or(E::UnknownMemberId)?;
                if m.epoch != epoch {
                    Err(E::StaleMemberEpoch)
                } else {
                    Ok(())
                }
            }
            (Some(Group::Consumer(_)), None) if epoch >= 0 => Err(E::UnknownMemberId),
            _ => Ok(()),
        }
    }

    /// DescribeGroups of one group (`None`: not a classic group, or unknown).
    pub fn describe(&self, group: &str) -> Option<Described> {
        let (_, shard) = self.shard(group);
        let s = shard.lock();
        let Some(Group::Classic(g)) = s.groups.get(group) else {
            return None;
        };
        let stable = g.state == classic::State::Stable;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(Described {
            state: g.state.name().to_string(),
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| {
                    let meta = if stable {
                        m.metadata(&protocol)
                    } else {
                        Vec::new()
                    };
                    DescribedMember {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: meta,
                        assignment: m.assignment.clone(),
                    }
                })
                .collect(),
        })
    }

    /// ListGroups: (group, protocol type, state, type).
    pub fn list(&self) -> Vec<(String, String, String, &'static str)> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let s = shard.lock();
            for (id, g) in &s.groups {
                match g {
                    Group::Classic(c) if c.state != classic::State::Dead => {
                        out.push((
                            id.clone(),
                            c.protocol_type.clone().unwrap_or_default(),
                            c.state.name().to_string(),
                            "classic",
                        ));
                    }
                    Group::Consumer(c) => out.push((
                        id.clone(),
                        "consumer".to_string(),
                        consumer::state_name(c).to_string(),
                        "consumer",
                    )),
                    Group::Classic(_) => {}
                }
            }
        }
        out.sort();
        out
    }

    /// ConsumerGroupHeartbeat.
    pub fn consumer_heartbeat(
        &self,
        group: &str,
        input: HeartbeatInput,
        topics: &TopicView,
    ) -> Result<HeartbeatResult, (E, String)> {
        let (idx, shard) = self.shard(group);
        let mut s = shard.lock();
        let now = crate::now_ms();
        match s.groups.get(group) {
            None if input.member_epoch != 0 => {
                return Err((E::GroupIdNotFound, format!("Group {group} not found")));
            }
            None => {
                s.groups.insert(
                    group.to_string(),
                    Group::Consumer(ConsumerGroup::new(group, now)),
                );
            }
            Some(Group::Classic(g)) if g.is_empty() && input.member_epoch == 0 => {
                // An empty classic group turns into a consumer group.
                s.groups.insert(
                    group.to_string(),
                    Group::Consumer(ConsumerGroup::new(group, now)),
                );
                let _ = self.append(
                    idx,
                    &[(
                        Key::ClassicGroup {
                            group: group.to_string(),
                        },
                        None,
                    )],
                );
            }
            Some(Group::Classic(_)) => {
                return Err((
                    E::GroupIdNotFound,
                    format!("Group {group} is not a consumer group"),
                ));
            }
            Some(Group::Consumer(_)) => {}
        }
        let default_assignor = self
            .settings
            .consumer_assignors
            .first()
            .cloned()
            .unwrap_or_else(|| assignor::UNIFORM.to_string());
        let Some(Group::Consumer(g)) = s.groups.get_mut(group) else {
            return Err((E::UnknownServerError, "group vanished".into()));
        };
        let result = g.heartbeat(
            now,
            input,
            topics,
            self.settings.consumer_session_timeout_ms,
            &default_assignor,
            || Uuid::new_v4().to_string(),
        );
        let value = g.value();
        if s.persisted.get(group) != Some(&value) {
            let bytes = serde_json::to_vec(&value)
                .map_err(|_| (E::UnknownServerError, "encode".to_string()))?;
            self.append(
                idx,
                &[(
                    Key::ConsumerGroup {
                        group: group.to_string(),
                    },
                    Some(bytes),
                )],
            )
            .map_err(|e| (e, "cannot persist the group".to_string()))?;
            s.persisted.insert(group.to_string(), value);
        }
        result
    }

    /// ConsumerGroupDescribe of one group.
    pub fn consumer_describe(&self, group: &str) -> Option<ConsumerGroup> {
        let (_, shard) = self.shard(group);
        let s = shard.lock();
        match s.groups.get(group) {
            Some(Group::Consumer(g)) => Some(g.clone()),
            _ => None,
        }
    }
}
