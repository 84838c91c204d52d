//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on topic configs (APPEND
//! and SUBTRACT only on list-typed configs, starting from the current value or the default).

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RESOURCE_BROKER, RESOURCE_TOPIC, broker_resource_error, plan_topic_overrides};
use crate::config::defs::{self, Kind};
use crate::config::topic::resolve_topic_config;
use crate::handlers::{Ctx, Handled};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub(crate) async fn handle(
    ctx: &Ctx,
    req: IncrementalAlterConfigsRequest,
) -> Handled<IncrementalAlterConfigsResponse> {
    let broker = &ctx.broker;
    let image = broker.controller.image();
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
            let mut keys = HashSet::new();
            for c in &r.configs {
                if !keys.insert(c.name.as_str()) {
                    return Err((
                        ResponseError::InvalidRequest,
                        "Error due to duplicate config keys".into(),
                    ));
                }
                if c.value.is_none() && c.config_operation != DELETE {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("Null value not supported for : {}", c.name.as_str()),
                    ));
                }
            }
            match r.resource_type {
                RESOURCE_TOPIC => {}
                RESOURCE_BROKER => return Err(broker_resource_error(broker, name)),
                other => {
                    return Err((
                        ResponseError::InvalidRequest,
                        format!("Unsupported resource type {other}"),
                    ));
                }
            }
            let mut overrides = image.configs_of(crate::controller::ConfigResource::Topic, name);
            for c in &r.configs {
                let key = c.name.to_string();
                let def = defs::topic_def(&key).ok_or_else(|| {
                    (
                        ResponseError::InvalidConfig,
                        format!("Unknown topic config name: {key}"),
                    )
                })?;
                let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                match c.config_operation {
                    SET => {
                        overrides.insert(key, value);
                    }
                    DELETE => {
                        overrides.remove(&key);
                    }
                    APPEND | SUBTRACT => {
                        if def.def.kind != Kind::List {
                            let verb = if c.config_operation == APPEND {
                                "APPEND to"
                            } else {
                                "SUBTRACT from"
                            };
                            return Err((
                                ResponseError::InvalidConfig,
                                format!("Can't {verb} key {key} because its type is not LIST."),
                            ));
                        }
                        let current = resolve_topic_config(&broker.config, &overrides, def).value;
                        let mut items: Vec<String> = current
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect();
                        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                            if c.config_operation == APPEND {
                                if !items.iter().any(|i| i == item) {
                                    items.push(item.to_string());
                                }
                            } else {
                                items.retain(|i| i != item);
                            }
                        }
                        overrides.insert(key, items.join(","));
                    }
                    op => {
                        return Err((
                            ResponseError::InvalidRequest,
                            format!("Unknown config operation {op}"),
                        ));
                    }
                }
            }
            records.extend(plan_topic_overrides(broker, name, overrides)?);
            Ok(())
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
    Handled::Now(IncrementalAlterConfigsResponse::default().with_responses(responses))
}
