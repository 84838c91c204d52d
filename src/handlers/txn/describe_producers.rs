//! DescribeProducers (key 61, v0, KIP-664): the producers a partition remembers (idempotent
//! and transactional, until `producer.id.expiration.ms`), with their open transaction.

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: DescribeProducersRequest,
) -> Handled<DescribeProducersResponse> {
    let image = ctx.broker.controller.image();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let known = image.topic(t.name.as_str()).is_some();
            let partitions = t
                .partition_indexes
                .iter()
                .map(|&p| {
                    let r = PartitionResponse::default().with_partition_index(p);
                    if !known {
                        // Kafka's topic-level errors carry the error's default message.
                        return r
                            .with_error_code(E::UnknownTopicOrPartition.code())
                            .with_error_message(Some(StrBytes::from_static_str(
                                "This server does not host this topic-partition.",
                            )));
                    }
                    let Some(part) = ctx.broker.replicas.get(t.name.as_str(), p) else {
                        return r.with_error_code(E::UnknownTopicOrPartition.code());
                    };
                    if part.is_offline() {
                        return r.with_error_code(E::KafkaStorageError.code());
                    }
                    let mut producers: Vec<ProducerState> = part.with_log(|l| {
                        l.producer_state()
                            .producers()
                            .map(|e| {
                                ProducerState::default()
                                    .with_producer_id(ProducerId(e.producer_id))
                                    .with_producer_epoch(i32::from(e.epoch))
                                    .with_last_sequence(e.last_seq())
                                    .with_last_timestamp(e.last_timestamp)
                                    .with_coordinator_epoch(e.coordinator_epoch)
                                    .with_current_txn_start_offset(e.txn_first_offset.unwrap_or(-1))
                            })
                            .collect()
                    });
                    producers.sort_by_key(|p| p.producer_id.0);
                    r.with_active_producers(producers)
                })
                .collect();
            TopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    Handled::Now(DescribeProducersResponse::default().with_topics(topics))
}
