//! ListOffsets (key 2): earliest, latest, max timestamp (KIP-734), and the first offset at or
//! after a timestamp, bounded by what consumers may see (high watermark, or last stable offset
//! for read_committed).

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{Ctx, Handled, check_leader_epoch};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// The oldest request version that may use a special timestamp (Kafka's
/// `timestampMinSupportedVersion`); unknown negative values are never supported.
fn min_version_for(ts: i64) -> Option<i16> {
    match ts {
        LATEST | EARLIEST => Some(1),
        MAX_TIMESTAMP => Some(7),
        EARLIEST_LOCAL => Some(8),
        LATEST_TIERED => Some(9),
        t if t >= 0 => Some(0),
        _ => None,
    }
}

pub(crate) async fn handle(ctx: &Ctx, req: ListOffsetsRequest) -> Handled<ListOffsetsResponse> {
    let broker = &ctx.broker;
    let committed = ctx.version >= 2 && req.isolation_level == 1;
    let consumer = req.replica_id.0 == -1;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut seen = HashSet::new();
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let resp = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            let err = |code: ResponseError| resp.clone().with_error_code(code.code());
            if !seen.insert(p.partition_index) {
                parts.push(err(ResponseError::InvalidRequest));
                continue;
            }
            if min_version_for(p.timestamp).is_none_or(|v| ctx.version < v) {
                parts.push(err(ResponseError::UnsupportedVersion));
                continue;
            }
            let Some(partition) = broker.replicas.get(t.name.as_str(), p.partition_index) else {
                parts.push(err(ResponseError::UnknownTopicOrPartition));
                continue;
            };
            let epoch = partition.leader_epoch();
            if ctx.version >= 4
                && let Err(code) = check_leader_epoch(epoch, p.current_leader_epoch)
            {
                parts.push(err(code));
                continue;
            }
            let marks = partition.watermarks();
            let bound = match (consumer, committed) {
                (true, true) => marks.last_stable,
                (true, false) => marks.high_watermark,
                (false, _) => marks.log_end,
            };
            let found: Result<Option<(i64, i64)>, _> = match p.timestamp {
                LATEST => Ok(Some((bound, -1))),
                EARLIEST | EARLIEST_LOCAL => Ok(Some((marks.log_start, -1))),
                LATEST_TIERED => Ok(None),
                MAX_TIMESTAMP => partition.with_log(|l| l.max_timestamp_record(bound)),
                ts => partition.with_log(|l| l.offset_for_timestamp(ts, bound)),
            };
            let answer =
                match found {
                    Err(_) => err(ResponseError::KafkaStorageError),
                    Ok(None) => resp,
                    Ok(Some((offset, ts))) => {
                        let leader_epoch =
                            match p.timestamp {
                                LATEST => epoch,
                                _ => partition.with_log(|l| {
                                    let e = l.leader_epochs();
                                    match e.entries().first() {
                                        Some(&(first, start))
                                            if p.timestamp == EARLIEST
                                                || p.timestamp == EARLIEST_LOCAL =>
                                        {
                                            if start <= offset { first } else { -1 }
                                        }
                                        _ => e.epoch_for_offset(offset),
                                    }
                                }),
                            };
                        let r = resp.with_offset(offset).with_timestamp(ts);
                        if ctx.version >= 4 {
                            r.with_leader_epoch(leader_epoch)
                        } else {
                            r
                        }
                    }
                };
            parts.push(answer);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(parts),
        );
    }
    Handled::Now(ListOffsetsResponse::default().with_topics(topics))
}
