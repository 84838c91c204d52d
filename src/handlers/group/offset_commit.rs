//! OffsetCommit (key 8, v2-9). Unknown topics and partitions are answered here, as Kafka's
//! request layer does; the rest goes to the coordinator, which answers once the commit is
//! durable.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::code;
use crate::coordinator::group::{CommitInput, Committer};
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: OffsetCommitRequest) -> Handled<OffsetCommitResponse> {
    let broker = Arc::clone(&ctx.broker);
    let version = ctx.version;
    let image = broker.controller.image();
    // (topic index, partition index) of each offset sent to the coordinator.
    let mut routed = Vec::new();
    let mut inputs = Vec::new();
    let mut topics: Vec<OffsetCommitResponseTopic> = Vec::with_capacity(req.topics.len());
    for (ti, t) in req.topics.iter().enumerate() {
        let known = image.topic(t.name.as_str());
        let mut parts = Vec::with_capacity(t.partitions.len());
        for (pi, p) in t.partitions.iter().enumerate() {
            let exists = known.is_some_and(|k| k.partitions.contains_key(&p.partition_index));
            let mut r =
                OffsetCommitResponsePartition::default().with_partition_index(p.partition_index);
            if exists {
                routed.push((ti, pi));
                inputs.push(CommitInput {
                    topic: t.name.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: if version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                });
            } else {
                r.error_code = ResponseError::UnknownTopicOrPartition.code();
            }
            parts.push(r);
        }
        topics.push(
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(parts),
        );
    }
    let who = Committer {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
        generation: req.generation_id_or_member_epoch,
        retention_ms: if version <= 4 {
            req.retention_time_ms
        } else {
            -1
        },
        version,
    };
    let group = req.group_id.to_string();
    // Appended now, in request order; only the wait for the fsync is deferred, so the next
    // request of this connection shares it.
    let pending = if inputs.is_empty() {
        None
    } else {
        Some(broker.groups.start_commit(&group, &who, inputs))
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
                    p.error_code = code(e);
                }
            }
        }
        Handled::Now(OffsetCommitResponse::default().with_topics(topics))
    }))
}
