//! Transactional offset commits (TxnOffsetCommit, KIP-98/KIP-447): offsets a transaction
//! commits stay pending, invisible to OffsetFetch, until the transaction's marker reaches the
//! group's `__consumer_offsets` partition: COMMIT makes them the committed offsets, ABORT drops
//! them.
//!
//! On disk they are ordinary offset records in a transactional batch carrying the producer id
//! and epoch, followed later by the marker, so a replay after a restart reaches the same state.
//! A plain commit of a partition made after a pending transactional one supersedes it (the
//! later record wins, as in Kafka).

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use pilgrimage_protocol::batch::control::{EndTxnMarker, build_marker};
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
use pilgrimage_protocol::codec::Compression;
use pilgrimage_storage::AppendOrigin;
use tracing::warn;

use super::classic::ClassicGroup;
use super::records::{Key, OffsetValue};
use super::{CommitInput, Group, GroupCoordinator, PendingCommit, Shard};
use crate::partition::Partition;

/// Offsets staged by open transactions: producer id → group → (topic, partition) → offset.
pub(crate) type PendingTxnOffsets =
    HashMap<i64, HashMap<String, HashMap<(String, i32), OffsetValue>>>;

/// Who commits transactionally.
#[derive(Debug, Clone, Default)]
pub struct TxnCommitter {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub generation: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl Shard {
    /// Stages an offset of a transaction.
    pub(crate) fn stage_txn_offset(
        &mut self,
        producer_id: i64,
        group: &str,
        tp: (String, i32),
        v: OffsetValue,
    ) {
        self.pending_txn
            .entry(producer_id)
            .or_default()
            .entry(group.to_string())
            .or_default()
            .insert(tp, v);
    }

    /// A plain commit or a tombstone of `tp` supersedes any pending transactional offset.
    /// Pending transactional offsets of the partitions `records` tombstone are dropped, as
    /// replaying those tombstones after a restart drops them: a later COMMIT marker must not
    /// bring back an offset that was deleted or expired.
    pub(crate) fn supersede_tombstoned(&mut self, records: &[(Key, Option<Vec<u8>>)]) {
        for (key, value) in records {
            if let (
                Key::Offset {
                    group,
                    topic,
                    partition,
                },
                None,
            ) = (key, value)
            {
                self.supersede_pending(group, &(topic.clone(), *partition));
            }
        }
    }

    pub(crate) fn supersede_pending(&mut self, group: &str, tp: &(String, i32)) {
        for groups in self.pending_txn.values_mut() {
            if let Some(offsets) = groups.get_mut(group) {
                offsets.remove(tp);
            }
        }
    }

    /// Applies a marker: COMMIT makes the producer's pending offsets committed, ABORT drops
    /// them.
    pub(crate) fn end_txn(&mut self, producer_id: i64, commit: bool) {
        let Some(groups) = self.pending_txn.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for (group, offsets) in groups {
            let stored = self.offsets.entry(group).or_default();
            for (tp, v) in offsets {
                stored.insert(tp, v);
            }
        }
    }

    /// Whether a transaction has offsets pending for this group and partition
    /// (OffsetFetch `require_stable` answers UNSTABLE_OFFSET_COMMIT for them).
    pub(crate) fn has_pending(&self, group: &str, tp: &(String, i32)) -> bool {
        self.pending_txn
            .values()
            .any(|g| g.get(group).is_some_and(|o| o.contains_key(tp)))
    }

    pub(crate) fn group_has_pending(&self, group: &str) -> bool {
        self.pending_txn
            .values()
            .any(|g| g.get(group).is_some_and(|o| !o.is_empty()))
    }
}

impl GroupCoordinator {
    /// The first half of a TxnOffsetCommit: validates the member (KIP-447), appends the
    /// offsets in a transactional batch and stages them. The caller waits with
    /// [`GroupCoordinator::finish_commit`].
    pub fn start_txn_commit(
        &self,
        group: &str,
        who: &TxnCommitter,
        offsets: Vec<CommitInput>,
    ) -> Result<PendingCommit, E> {
        if group.is_empty() {
            return Err(E::InvalidGroupId);
        }
        let (idx, shard) = self.shard(group);
        let mut s = shard.lock();
        let now = crate::now_ms();
        let defaults = who.generation < 0 && who.member_id.is_empty() && who.instance_id.is_none();
        match s.groups.get_mut(group) {
            None if who.generation < 0 => {
                let g = ClassicGroup::new(group, now, self.settings.initial_rebalance_delay_ms);
                s.groups
                    .insert(group.to_string(), Group::Classic(Box::new(g)));
            }
            None => return Err(E::IllegalGeneration),
            Some(Group::Classic(g)) => {
                g.validate_txn_commit(&who.member_id, who.instance_id.as_deref(), who.generation)?
            }
            Some(Group::Consumer(g)) => {
                if !(defaults || who.generation < 0 && g.members.is_empty()) {
                    let m = g.members.get(&who.member_id).ok_or(E::UnknownMemberId)?;
                    if m.epoch != who.generation {
                        return Err(E::IllegalGeneration);
                    }
                }
            }
        }
        let mut results = Vec::with_capacity(offsets.len());
        let mut records = Vec::new();
        let mut staged = Vec::new();
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
                expire_timestamp: -1,
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
            staged.push(((o.topic, o.partition), v));
        }
        let durable = if records.is_empty() {
            -1
        } else {
            self.append_txn(idx, &records, who.producer_id, who.producer_epoch)?
        };
        for (tp, v) in staged {
            s.stage_txn_offset(who.producer_id, group, tp, v);
        }
        Ok(PendingCommit {
            shard: idx,
            durable,
            results,
        })
    }

    /// Appends offset records as a transactional batch of the producer (sequence -1: the
    /// coordinator writes them, not the producer).
    fn append_txn(
        &self,
        shard: usize,
        records: &[(Key, Option<Vec<u8>>)],
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<i64, E> {
        let p = self.log(shard)?;
        let now = crate::now_ms();
        let keys: Vec<Vec<u8>> = records.iter().map(|(k, _)| k.encode()).collect();
        let mut b = BatchBuilder::new(Compression::None)
            .producer(producer_id, producer_epoch, -1)
            .transactional(true);
        for ((_, v), k) in records.iter().zip(&keys) {
            b.push(NewRecord {
                timestamp: now,
                key: Some(k),
                value: v.as_deref(),
                headers: &[],
            });
        }
        let batch = b.build().map_err(|_| E::UnknownServerError)?;
        let info = p
            .append_from(&batch, now, true, AppendOrigin::Coordinator)
            .map_err(|e| match e {
                pilgrimage_storage::AppendError::Producer(
                    pilgrimage_storage::ProducerError::InvalidProducerEpoch(_),
                ) => E::InvalidProducerEpoch,
                pilgrimage_storage::AppendError::Producer(
                    pilgrimage_storage::ProducerError::InvalidTxnState(_),
                ) => E::InvalidTxnState,
                other => {
                    warn!(error = %other, "__consumer_offsets append failed");
                    E::NotCoordinator
                }
            })?;
        Ok(info.last_offset + 1)
    }

    /// Writes a transaction marker to `__consumer_offsets` partition `idx` and applies it to
    /// the staged offsets, under the shard lock so that no fetch sees one without the other.
    /// Returns the partition and the offset to wait for.
    pub fn write_txn_marker(
        &self,
        idx: usize,
        producer_id: i64,
        producer_epoch: i16,
        marker: EndTxnMarker,
        now: i64,
    ) -> Result<(Arc<Partition>, i64), E> {
        let shard = self.shards.get(idx).ok_or(E::UnknownTopicOrPartition)?;
        let p = self.log(idx)?;
        let mut s = shard.lock();
        let batch = build_marker(producer_id, producer_epoch, marker, now);
        let info = p
            .append_from(&batch, now, true, AppendOrigin::Coordinator)
            .map_err(|e| {
                warn!(partition = idx, error = %e, "marker refused by __consumer_offsets");
                crate::coordinator::txn::marker_refusal(&e)
            })?;
        s.end_txn(producer_id, marker.commit);
        Ok((p, info.last_offset + 1))
    }
}
