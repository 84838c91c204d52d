//! OffsetForLeaderEpoch (key 23): where a leader epoch ended, from the leader-epoch cache
//! (consumers use it after a leader change to detect truncation, KIP-320).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{Ctx, Handled, check_leader_epoch};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: OffsetForLeaderEpochRequest,
) -> Handled<OffsetForLeaderEpochResponse> {
    let broker = &ctx.broker;
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(partition) = broker.replicas.get(t.topic.as_str(), p.partition) else {
                        return out.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if let Err(code) =
                        check_leader_epoch(partition.leader_epoch(), p.current_leader_epoch)
                    {
                        return out.with_error_code(code.code());
                    }
                    let (epoch, end) = partition.with_log(|l| {
                        l.leader_epochs()
                            .end_offset_for(p.leader_epoch, l.next_offset())
                    });
                    out.with_leader_epoch(epoch).with_end_offset(end)
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(partitions)
        })
        .collect();
    Handled::Now(OffsetForLeaderEpochResponse::default().with_topics(topics))
}
