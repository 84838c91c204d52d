//! Metadata (key 3): brokers, cluster id, topics with partitions, leaders and epochs, and topic
//! auto-creation.
//!
//! Auto-creation (when `auto.create.topics.enable` and the request allows it) creates the topic
//! with `num.partitions` and answers with it at once. Kafka in KRaft mode answers the first
//! request with UNKNOWN_TOPIC_OR_PARTITION because its creation is asynchronous; creation here
//! is synchronous, so the client gets the topic without a retry.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tracing::warn;
use uuid::Uuid;

use super::{Ctx, Handled, ops};
use crate::controller::TopicImage;
use crate::controller::topics::{NewTopic, is_internal, plan_create, validate_name};

pub(crate) async fn handle(ctx: &Ctx, req: MetadataRequest) -> Handled<MetadataResponse> {
    let broker = &ctx.broker;
    let v = ctx.version;
    let all_topics = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && v == 0,
    };
    let allow_create =
        (v < 4 || req.allow_auto_topic_creation) && broker.config.bool("auto.create.topics.enable");
    let mut image = broker.controller.image();
    let ops_asked = v >= 8 && req.include_topic_authorized_operations;

    let mut topics = Vec::new();
    if all_topics {
        topics = image
            .topics
            .values()
            .map(|t| topic_entry(t, ops_asked))
            .collect();
    } else {
        // Create missing topics first (one metadata commit for all of them).
        let requested = req.topics.as_deref().unwrap_or_default();
        if allow_create {
            let missing: Vec<String> = requested
                .iter()
                .filter_map(|t| t.name.as_ref().map(|n| n.as_str().to_string()))
                .filter(|n| image.topic(n).is_none() && validate_name(n).is_ok())
                .collect();
            if !missing.is_empty()
                && let Some(next) = auto_create(ctx, &missing).await
            {
                image = next;
            }
        }
        for t in requested {
            let entry = match (&t.name, t.topic_id) {
                (Some(name), _) => match image.topic(name.as_str()) {
                    Some(topic) => topic_entry(topic, ops_asked),
                    None => {
                        let code = match validate_name(name.as_str()) {
                            Err(_) => ResponseError::InvalidTopicException,
                            Ok(()) => ResponseError::UnknownTopicOrPartition,
                        };
                        error_entry(Some(name.clone()), Uuid::nil(), code)
                    }
                },
                (None, id) if !id.is_nil() => match image.topic_by_id(&id) {
                    Some(topic) => topic_entry(topic, ops_asked),
                    None => error_entry(None, id, ResponseError::UnknownTopicId),
                },
                (None, _) => error_entry(None, Uuid::nil(), ResponseError::InvalidRequest),
            };
            topics.push(entry);
        }
    }
    let (host, port) = &broker.advertised;
    Handled::Now(
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(broker.node_id))
                    .with_host(StrBytes::from_string(host.clone()))
                    .with_port(i32::from(*port)),
            ])
            .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
            .with_controller_id(BrokerId(broker.node_id))
            .with_topics(topics)
            .with_cluster_authorized_operations(ops::cluster(
                (8..=10).contains(&v) && req.include_cluster_authorized_operations,
            )),
    )
}

async fn auto_create(
    ctx: &Ctx,
    names: &[String],
) -> Option<std::sync::Arc<crate::controller::MetadataImage>> {
    let broker = &ctx.broker;
    let image = broker.controller.image();
    let cluster = broker.cluster();
    let mut records = Vec::new();
    let mut scratch = (*image).clone();
    for name in names {
        let t = NewTopic {
            name: name.clone(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: vec![],
            configs: vec![],
        };
        match plan_create(&scratch, &cluster, &t) {
            Ok((recs, _)) => {
                for r in &recs {
                    let _ = scratch.apply(r);
                }
                records.extend(recs);
            }
            Err(e) => warn!(topic = %name, error = ?e, "auto-creation refused"),
        }
    }
    match broker.commit(records).await {
        Ok(img) => Some(img),
        Err(e) => {
            warn!(error = %e, "auto-creation failed");
            None
        }
    }
}

fn topic_entry(t: &TopicImage, ops_asked: bool) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .iter()
        .map(|(i, p)| {
            MetadataResponsePartition::default()
                .with_partition_index(*i)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|&b| BrokerId(b)).collect())
                .with_isr_nodes(p.isr.iter().map(|&b| BrokerId(b)).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(t.name.to_string()))))
        .with_topic_id(t.id)
        .with_is_internal(is_internal(&t.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(ops::topic(ops_asked))
}

fn error_entry(name: Option<TopicName>, id: Uuid, code: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name)
        .with_topic_id(id)
        .with_topic_authorized_operations(ops::NOT_REQUESTED)
}
