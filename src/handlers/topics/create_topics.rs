//! CreateTopics (key 19): checks as Kafka's controller makes them, one metadata commit for every
//! topic that passes, `validate_only` honoured. The response carries the topic id, partition
//! count, replication factor and every effective config (v5+).

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::msg;
use crate::config::defs;
use crate::config::topic::resolve_topic_config;
use crate::controller::topics::{NewTopic, PARTITIONS_PER_REQUEST_MAX, TopicError, plan_create};
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: CreateTopicsRequest) -> Handled<CreateTopicsResponse> {
    let broker = &ctx.broker;
    let total: i64 = req
        .topics
        .iter()
        .map(|t| i64::from(t.num_partitions.max(t.assignments.len() as i32)))
        .sum();
    let image = broker.controller.image();
    let cluster = broker.cluster();
    let mut scratch = (*image).clone();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(req.topics.len());
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.as_str().to_string()))
        .map(|t| t.name.as_str().to_string())
        .collect();
    for t in &req.topics {
        let name = t.name.as_str().to_string();
        let result = CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let planned = if total > PARTITIONS_PER_REQUEST_MAX {
            Err(TopicError::new(
                ResponseError::PolicyViolation,
                "Excessively large number of partitions per request.",
            ))
        } else if duplicates.contains(&name) {
            Err(TopicError::new(
                ResponseError::InvalidRequest,
                "Duplicate topic name.",
            ))
        } else {
            let new = NewTopic {
                name: name.clone(),
                num_partitions: t.num_partitions,
                replication_factor: t.replication_factor,
                assignments: t
                    .assignments
                    .iter()
                    .map(|a| {
                        (
                            a.partition_index,
                            a.broker_ids.iter().map(|b| b.0).collect(),
                        )
                    })
                    .collect(),
                configs: t
                    .configs
                    .iter()
                    .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                    .collect(),
            };
            plan_create(&scratch, &cluster, &new)
        };
        match planned {
            Err(e) => results.push(
                result
                    .with_error_code(e.code.code())
                    .with_error_message(msg(e.message)),
            ),
            Ok((recs, created)) => {
                for r in &recs {
                    let _ = scratch.apply(r);
                }
                records.extend(recs);
                let configs = defs::TOPIC
                    .iter()
                    .map(|d| {
                        let r = resolve_topic_config(&broker.config, &created.overrides, d);
                        CreatableTopicConfigs::default()
                            .with_name(StrBytes::from_static_str(d.def.name))
                            .with_value(Some(StrBytes::from_string(r.value)))
                            .with_config_source(r.source as i8)
                    })
                    .collect();
                results.push(
                    result
                        .with_topic_id(created.id)
                        .with_num_partitions(created.partitions)
                        .with_replication_factor(created.replication_factor)
                        .with_configs(Some(configs)),
                );
            }
        }
    }
    if !req.validate_only {
        crate::handlers::commit_admin(ctx, records, &mut results).await;
    }
    Handled::Now(CreateTopicsResponse::default().with_topics(results))
}
