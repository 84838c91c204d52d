//! DeleteTopics (key 20): by name, or by name or id (v6), removed in one metadata commit; the
//! logs are removed from disk once the commit is applied.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::msg;
use crate::controller::MetadataRecord;
use crate::controller::topics::TopicError;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: DeleteTopicsRequest) -> Handled<DeleteTopicsResponse> {
    let broker = &ctx.broker;
    let image = broker.controller.image();
    let wanted: Vec<(Option<TopicName>, Uuid)> = if ctx.version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name, t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n), Uuid::nil()))
            .collect()
    };
    let enabled = broker.config.bool("delete.topic.enable");
    let mut seen_ids = HashSet::new();
    let mut seen_names = HashSet::new();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let decided: Result<(TopicName, Uuid), TopicError> = (|| {
            use ResponseError as E;
            if !enabled {
                return Err(TopicError::new(
                    E::TopicDeletionDisabled,
                    "Topic deletion is disabled.",
                ));
            }
            let topic = match (&name, id.is_nil()) {
                (None, true) => {
                    return Err(TopicError::new(
                        E::InvalidRequest,
                        "Neither topic name nor id were specified.",
                    ));
                }
                (Some(_), false) => {
                    return Err(TopicError::new(
                        E::InvalidRequest,
                        "You may not specify both topic name and topic id.",
                    ));
                }
                (Some(n), true) => image.topic(n.as_str()).ok_or_else(|| {
                    TopicError::new(
                        E::UnknownTopicOrPartition,
                        format!("The topic '{}' does not exist.", n.as_str()),
                    )
                })?,
                (None, false) => image.topic_by_id(&id).ok_or_else(|| {
                    TopicError::new(E::UnknownTopicId, format!("Topic id {id} does not exist."))
                })?,
            };
            if name.is_some() && !seen_names.insert(topic.name.clone()) {
                return Err(TopicError::new(E::InvalidRequest, "Duplicate topic name."));
            }
            if name.is_none() && !seen_ids.insert(topic.id) {
                return Err(TopicError::new(E::InvalidRequest, "Duplicate topic id."));
            }
            Ok((
                TopicName(StrBytes::from_string(topic.name.to_string())),
                topic.id,
            ))
        })();
        match decided {
            Ok((n, topic_id)) => {
                records.push(MetadataRecord::RemoveTopic { topic_id });
                results.push(
                    DeletableTopicResult::default()
                        .with_name(Some(n))
                        .with_topic_id(topic_id),
                );
            }
            Err(e) => results.push(
                DeletableTopicResult::default()
                    .with_name(name)
                    .with_topic_id(id)
                    .with_error_code(e.code.code())
                    .with_error_message(msg(e.message)),
            ),
        }
    }
    crate::handlers::commit_admin(ctx, records, &mut results).await;
    if ctx.version < 6 {
        for r in &mut results {
            r.topic_id = Uuid::nil();
        }
    }
    Handled::Now(DeleteTopicsResponse::default().with_responses(results))
}
