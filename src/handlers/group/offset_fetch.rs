//! OffsetFetch (key 9, v1-9): one group (v1-7) or several (v8+). Unknown groups and partitions
//! without a commit answer offset -1 and metadata "", as Kafka does. Offsets of open
//! transactions are never shown; with `require_stable` (v7+, read_committed consumers) a
//! partition that has one answers UNSTABLE_OFFSET_COMMIT, which clients retry.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::s;
use crate::coordinator::group::FetchedOffsets;
use crate::coordinator::group::records::OffsetValue;
use crate::handlers::{Ctx, Handled};

/// The group's offsets, and the partitions that must answer UNSTABLE_OFFSET_COMMIT.
fn fetch(
    ctx: &Ctx,
    group: &str,
    member: Option<&str>,
    epoch: i32,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<(FetchedOffsets, HashSet<(String, i32)>), i16> {
    ctx.broker
        .groups
        .validate_fetch(group, member, epoch)
        .map_err(|e| e.code())?;
    Ok(ctx
        .broker
        .groups
        .fetch_stable(group, topics, require_stable))
}

/// One partition's answer: (error code, offset, leader epoch, metadata). A partition with a
/// pending transactional commit answers UNSTABLE_OFFSET_COMMIT and no offset.
fn answer(
    unstable: &HashSet<(String, i32)>,
    t: &str,
    p: i32,
    v: &Option<OffsetValue>,
) -> (i16, i64, i32, String) {
    if !unstable.is_empty() && unstable.contains(&(t.to_string(), p)) {
        let (o, e, m) = fields(&None);
        (ResponseError::UnstableOffsetCommit.code(), o, e, m)
    } else {
        let (o, e, m) = fields(v);
        (0, o, e, m)
    }
}

fn fields(v: &Option<OffsetValue>) -> (i64, i32, String) {
    match v {
        Some(v) => (
            v.offset,
            v.leader_epoch,
            v.metadata.clone().unwrap_or_default(),
        ),
        None => (-1, -1, String::new()),
    }
}

pub(crate) async fn handle(ctx: &Ctx, req: OffsetFetchRequest) -> Handled<OffsetFetchResponse> {
    let v = ctx.version;
    if v >= 8 {
        let groups = req
            .groups
            .iter()
            .map(|g| {
                let topics = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let out = OffsetFetchResponseGroup::default().with_group_id(g.group_id.clone());
                match fetch(
                    ctx,
                    g.group_id.as_str(),
                    g.member_id.as_deref(),
                    g.member_epoch,
                    topics,
                    req.require_stable,
                ) {
                    Err(code) => out.with_error_code(code),
                    Ok((found, unstable)) => out.with_topics(
                        found
                            .into_iter()
                            .map(|(t, ps)| {
                                let parts = ps
                                    .iter()
                                    .map(|(p, val)| {
                                        let (code, o, e, m) = answer(&unstable, &t, *p, val);
                                        OffsetFetchResponsePartitions::default()
                                            .with_partition_index(*p)
                                            .with_committed_offset(o)
                                            .with_committed_leader_epoch(e)
                                            .with_metadata(Some(s(m)))
                                            .with_error_code(code)
                                    })
                                    .collect();
                                OffsetFetchResponseTopics::default()
                                    .with_name(s(t).into())
                                    .with_partitions(parts)
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return Handled::Now(OffsetFetchResponse::default().with_groups(groups));
    }
    let topics = req.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let requested: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .flatten()
        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
        .collect();
    let require_stable = v >= 7 && req.require_stable;
    match fetch(ctx, req.group_id.as_str(), None, -1, topics, require_stable) {
        Ok((found, unstable)) => Handled::Now(
            OffsetFetchResponse::default().with_topics(
                found
                    .into_iter()
                    .map(|(t, ps)| {
                        let parts = ps
                            .iter()
                            .map(|(p, val)| {
                                let (code, o, e, m) = answer(&unstable, &t, *p, val);
                                let mut r = OffsetFetchResponsePartition::default()
                                    .with_partition_index(*p)
                                    .with_committed_offset(o)
                                    .with_metadata(Some(s(m)))
                                    .with_error_code(code);
                                if v >= 5 {
                                    r = r.with_committed_leader_epoch(e);
                                }
                                r
                            })
                            .collect();
                        OffsetFetchResponseTopic::default()
                            .with_name(s(t).into())
                            .with_partitions(parts)
                    })
                    .collect(),
            ),
        ),
        // v2-7 carry the group error at the top; v1 copies it into every partition.
        Err(code) if v >= 2 => Handled::Now(OffsetFetchResponse::default().with_error_code(code)),
        Err(code) => Handled::Now(
            OffsetFetchResponse::default().with_topics(
                requested
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchResponseTopic::default()
                            .with_name(s(t).into())
                            .with_partitions(
                                ps.into_iter()
                                    .map(|p| {
                                        OffsetFetchResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_committed_offset(-1)
                                            .with_metadata(Some(s("")))
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
    }
}
