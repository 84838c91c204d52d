//! CreatePartitions (key 37): grows topics; new partitions take the topic's replication factor.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::msg;
use crate::controller::topics::plan_create_partitions;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: CreatePartitionsRequest,
) -> Handled<CreatePartitionsResponse> {
    let broker = &ctx.broker;
    let cluster = broker.cluster();
    let mut scratch = (*broker.controller.image()).clone();
    let mut records = Vec::new();
    let mut results = Vec::with_capacity(req.topics.len());
    let mut seen = HashSet::new();
    for t in &req.topics {
        let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        if !seen.insert(t.name.as_str().to_string()) {
            results.push(
                result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(StrBytes::from_static_str("Duplicate topic name."))),
            );
            continue;
        }
        let assignments = t.assignments.as_ref().map(|a| {
            a.iter()
                .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                .collect()
        });
        match plan_create_partitions(&scratch, &cluster, t.name.as_str(), t.count, assignments) {
            Ok(recs) => {
                for r in &recs {
                    let _ = scratch.apply(r);
                }
                records.extend(recs);
                results.push(result);
            }
            Err(e) => results.push(
                result
                    .with_error_code(e.code.code())
                    .with_error_message(msg(e.message)),
            ),
        }
    }
    if !req.validate_only {
        crate::handlers::commit_admin(ctx, records, &mut results).await;
    }
    Handled::Now(CreatePartitionsResponse::default().with_results(results))
}
