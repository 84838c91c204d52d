//! TxnOffsetCommit (key 28, v0-4): offsets committed as part of a transaction
//! (`send_offsets_to_transaction`). Checked against the transaction (the group's
//! `__consumer_offsets` partition must have been added by AddOffsetsToTxn, KIP-890) and the
//! group's member and generation (KIP-447, v3+), written in a transactional batch, and made
//! visible by the transaction's COMMIT marker.

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::coordinator::group::txn_offsets::TxnCommitter;
use crate::coordinator::group::{CommitInput, OFFSETS_TOPIC};
use crate::handlers::{Ctx, Handled};

/// Kafka's answer when the transaction does not hold the group's partition, by version.
fn verification_error(e: E, version: i16) -> E {
    match e {
        E::TransactionAbortable if version <= 3 => E::InvalidTxnState,
        E::ProducerFenced => E::InvalidProducerEpoch,
        other => other,
    }
}

pub(crate) async fn handle(
    ctx: &Ctx,
    req: TxnOffsetCommitRequest,
) -> Handled<TxnOffsetCommitResponse> {
    let v = ctx.version;
    let broker = Arc::clone(&ctx.broker);
    let image = broker.controller.image();
    let mut routed = Vec::new();
    let mut inputs = Vec::new();
    let mut topics: Vec<TxnOffsetCommitResponseTopic> = Vec::with_capacity(req.topics.len());
    for (ti, t) in req.topics.iter().enumerate() {
        let known = image.topic(t.name.as_str());
        let mut parts = Vec::with_capacity(t.partitions.len());
        for (pi, p) in t.partitions.iter().enumerate() {
            let exists = known.is_some_and(|k| k.partitions.contains_key(&p.partition_index));
            let mut r =
                TxnOffsetCommitResponsePartition::default().with_partition_index(p.partition_index);
            if exists {
                routed.push((ti, pi));
                inputs.push(CommitInput {
                    topic: t.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if v >= 2 { p.committed_leader_epoch } else { -1 },
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
            } else {
                r.error_code = E::UnknownTopicOrPartition.code();
            }
            parts.push(r);
        }
        topics.push(
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(parts),
        );
    }
    let group = req.group_id.to_string();
    let who = TxnCommitter {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
        generation: if v >= 3 { req.generation_id } else { -1 },
        producer_id: req.producer_id.0,
        producer_epoch: req.producer_epoch,
    };
    // Verified and appended in request order, under the transaction's lock.
    let pending = if inputs.is_empty() {
        None
    } else {
        let tp = (
            OFFSETS_TOPIC.to_string(),
            broker.groups.partition_of(&group),
        );
        let started = broker
            .txns
            .with_verified(
                req.transactional_id.as_str(),
                who.producer_id,
                who.producer_epoch,
                &tp,
                || broker.groups.start_txn_commit(&group, &who, inputs),
            )
            .map_err(|e| verification_error(e, v))
            .and_then(|r| r);
        Some(started)
    };
    Handled::Later(Box::pin(async move {
        if let Some(pending) = pending {
            let results = match pending {
                Ok(p) => broker.groups.finish_commit(p).await,
                Err(e) => Err(e),
            };
            for (k, (ti, pi)) in routed.into_iter().enumerate() {
                let e = match &results {
                    Ok(r) => r.get(k).copied().flatten(),
                    Err(e) => Some(*e),
                };
                if let Some(p) = topics.get_mut(ti).and_then(|t| t.partitions.get_mut(pi)) {
                    p.error_code = e.map_or(0, |e| e.code());
                }
            }
        }
        Handled::Now(TxnOffsetCommitResponse::default().with_topics(topics))
    }))
}
