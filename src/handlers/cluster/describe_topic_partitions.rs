//! DescribeTopicPartitions (key 75, KIP-966): topics and their partitions, sorted by name and
//! paged by `response_partition_limit` with a cursor.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use crate::controller::topics::is_internal;
use crate::handlers::{Ctx, Handled, ops};

/// Kafka's cap on `response_partition_limit` (`max.request.partition.size.limit`).
const PARTITION_LIMIT_MAX: i32 = 2000;

pub(crate) async fn handle(
    ctx: &Ctx,
    req: DescribeTopicPartitionsRequest,
) -> Handled<DescribeTopicPartitionsResponse> {
    let image = ctx.broker.controller.image();
    let mut names: Vec<String> = if req.topics.is_empty() {
        image.topics.keys().map(|k| k.to_string()).collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.as_str().to_string())
            .collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = match &req.cursor {
        Some(c) => (
            Some(c.topic_name.as_str().to_string()),
            c.partition_index.max(0),
        ),
        None => (None, 0),
    };
    let mut budget = req.response_partition_limit.clamp(1, PARTITION_LIMIT_MAX);
    let mut topics = Vec::new();
    let mut next = None;
    for name in names {
        if start_topic.as_ref().is_some_and(|s| name < *s) {
            continue;
        }
        let first = if start_topic.as_deref() == Some(name.as_str()) {
            start_partition
        } else {
            0
        };
        let tn = TopicName(StrBytes::from_string(name.clone()));
        let Some(topic) = image.topic(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_name(Some(tn))
                    .with_topic_id(Uuid::nil())
                    .with_topic_authorized_operations(ops::NOT_REQUESTED),
            );
            continue;
        };
        if budget == 0 {
            next = Some(
                Cursor::default()
                    .with_topic_name(tn)
                    .with_partition_index(first),
            );
            break;
        }
        let mut partitions = Vec::new();
        for (i, p) in topic.partitions.range(first..) {
            if budget == 0 {
                next = Some(
                    Cursor::default()
                        .with_topic_name(tn.clone())
                        .with_partition_index(*i),
                );
                break;
            }
            budget -= 1;
            partitions.push(
                DescribeTopicPartitionsResponsePartition::default()
                    .with_partition_index(*i)
                    .with_leader_id(BrokerId(p.leader))
                    .with_leader_epoch(p.leader_epoch)
                    .with_replica_nodes(p.replicas.iter().map(|&b| BrokerId(b)).collect())
                    .with_isr_nodes(p.isr.iter().map(|&b| BrokerId(b)).collect())
                    .with_eligible_leader_replicas(Some(Vec::new()))
                    .with_last_known_elr(Some(Vec::new())),
            );
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(tn))
                .with_topic_id(topic.id)
                .with_is_internal(is_internal(&name))
                .with_partitions(partitions)
                .with_topic_authorized_operations(ops::TOPIC_ALL),
        );
        if next.is_some() {
            break;
        }
    }
    Handled::Now(
        DescribeTopicPartitionsResponse::default()
            .with_topics(topics)
            .with_next_cursor(next),
    )
}
