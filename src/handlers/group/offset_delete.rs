//! OffsetDelete (key 47, v0): removes committed offsets of topics a group does not consume.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::{code, s};
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: OffsetDeleteRequest) -> Handled<OffsetDeleteResponse> {
    if req.group_id.is_empty() {
        return Handled::Now(
            OffsetDeleteResponse::default().with_error_code(ResponseError::InvalidGroupId.code()),
        );
    }
    let broker = Arc::clone(&ctx.broker);
    Handled::Later(Box::pin(async move {
        let image = broker.controller.image();
        let mut known = Vec::new();
        let mut unknown = Vec::new();
        for t in &req.topics {
            let topic = image.topic(t.name.as_str());
            let (ok, bad): (Vec<i32>, Vec<i32>) = t
                .partitions
                .iter()
                .map(|p| p.partition_index)
                .partition(|p| topic.is_some_and(|tp| tp.partitions.contains_key(p)));
            known.push((t.name.to_string(), ok));
            unknown.push((t.name.to_string(), bad));
        }
        let view = broker.topic_view();
        match broker
            .groups
            .delete_offsets(req.group_id.as_str(), &known, &view)
            .await
        {
            Err(e) => Handled::Now(OffsetDeleteResponse::default().with_error_code(e.code())),
            Ok(results) => {
                let topics = results
                    .into_iter()
                    .zip(unknown)
                    .map(|((t, parts), (_, bad))| {
                        let mut out: Vec<OffsetDeleteResponsePartition> = parts
                            .into_iter()
                            .map(|(p, e)| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_error_code(code(e))
                            })
                            .collect();
                        out.extend(bad.into_iter().map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p)
                                .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                        }));
                        OffsetDeleteResponseTopic::default()
                            .with_name(s(t).into())
                            .with_partitions(out)
                    })
                    .collect();
                Handled::Now(OffsetDeleteResponse::default().with_topics(topics))
            }
        }
    }))
}
