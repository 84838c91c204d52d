//! AlterConfigs (key 33, the legacy form): replaces a topic's whole override set; keys left out
//! of the request fall back to their defaults.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RESOURCE_BROKER, RESOURCE_TOPIC, broker_resource_error, plan_topic_overrides};
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: AlterConfigsRequest) -> Handled<AlterConfigsResponse> {
    let broker = &ctx.broker;
    let mut records = Vec::new();
    let mut responses = Vec::with_capacity(req.resources.len());
    let mut seen = HashSet::new();
    for r in &req.resources {
        let name = r.resource_name.as_str();
        let decided: Result<(), (ResponseError, String)> = (|| {
            if !seen.insert((r.resource_type, name.to_string())) {
                return Err((
                    ResponseError::InvalidRequest,
                    "Each resource must appear at most once.".into(),
                ));
            }
            let mut wanted = BTreeMap::new();
            for c in &r.configs {
                let Some(v) = &c.value else {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("Null value not supported for : {}", c.name.as_str()),
                    ));
                };
                if wanted.insert(c.name.to_string(), v.to_string()).is_some() {
                    return Err((
                        ResponseError::InvalidRequest,
                        "Error due to duplicate config keys".into(),
                    ));
                }
            }
            match r.resource_type {
                RESOURCE_TOPIC => {
                    records.extend(plan_topic_overrides(broker, name, wanted)?);
                    Ok(())
                }
                RESOURCE_BROKER => Err(broker_resource_error(broker, name)),
                other => Err((
                    ResponseError::InvalidRequest,
                    format!("Unsupported resource type {other}"),
                )),
            }
        })();
        let resp = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name.clone());
        responses.push(match decided {
            Ok(()) => resp,
            Err((code, m)) => resp
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_string(m))),
        });
    }
    if !req.validate_only {
        crate::handlers::commit_admin(ctx, records, &mut responses).await;
    }
    Handled::Now(AlterConfigsResponse::default().with_responses(responses))
}
