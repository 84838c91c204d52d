//! DescribeConfigs (key 32): every topic config with its effective value, source, type and
//! (on request) synonyms and documentation; broker settings likewise.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC};
use crate::config::defs::{self, Def};
use crate::config::topic::resolve_topic_config;
use crate::controller::topics::validate_name;
use crate::handlers::{Ctx, Handled};

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

pub(crate) async fn handle(
    ctx: &Ctx,
    req: DescribeConfigsRequest,
) -> Handled<DescribeConfigsResponse> {
    let broker = &ctx.broker;
    let image = broker.controller.image();
    let v = ctx.version;
    let entry = |def: &Def,
                 value: Option<String>,
                 source: i8,
                 synonyms: Vec<DescribeConfigsSynonym>,
                 read_only: bool| {
        let mut e = DescribeConfigsResourceResult::default()
            .with_name(StrBytes::from_static_str(def.name))
            .with_value(value.map(s))
            .with_read_only(read_only)
            .with_config_source(source)
            .with_is_sensitive(false);
        if req.include_synonyms {
            e = e.with_synonyms(synonyms);
        }
        if v >= 3 {
            e = e.with_config_type(def.kind.id());
            if req.include_documentation {
                e = e.with_documentation(Some(StrBytes::from_static_str(def.doc)));
            }
        }
        e
    };
    let results = req
        .resources
        .iter()
        .map(|r| {
            let name = r.resource_name.as_str();
            let wanted = |n: &str| r.configuration_keys.as_ref().is_none_or(|k| k.is_empty() || k.iter().any(|k| k.as_str() == n));
            let result = DescribeConfigsResult::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name.clone());
            match r.resource_type {
                RESOURCE_TOPIC => {
                    if let Err(m) = validate_name(name) {
                        return result.with_error_code(ResponseError::InvalidTopicException.code()).with_error_message(Some(s(m)));
                    }
                    if image.topic(name).is_none() {
                        return result.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    }
                    let overrides = image.configs_of(crate::controller::ConfigResource::Topic, name);
                    let configs = defs::TOPIC
                        .iter()
                        .chain(defs::TOPIC_INTERNAL.iter().filter(|d| overrides.contains_key(d.def.name)))
                        .filter(|d| wanted(d.def.name))
                        .map(|d| {
                            let res = resolve_topic_config(&broker.config, &overrides, d);
                            let synonyms = res
                                .synonyms
                                .iter()
                                .map(|(n, v, src)| DescribeConfigsSynonym::default().with_name(s(n.clone())).with_value(Some(s(v.clone()))).with_source(*src as i8))
                                .collect();
                            entry(&d.def, Some(res.value), res.source as i8, synonyms, false)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER => {
                    if !name.is_empty() && name != broker.node_id.to_string() {
                        return result.with_error_code(ResponseError::InvalidRequest.code()).with_error_message(Some(s(format!(
                            "Unexpected broker id, expected {} or empty string, but received {name}",
                            broker.node_id
                        ))));
                    }
                    if name.is_empty() {
                        // No dynamic cluster-wide defaults exist on this node.
                        return result;
                    }
                    let configs = broker
                        .config
                        .describe()
                        .into_iter()
                        .filter(|(d, _, _)| wanted(d.name))
                        .map(|(d, value, src)| {
                            let synonyms = value
                                .iter()
                                .map(|v| DescribeConfigsSynonym::default().with_name(StrBytes::from_static_str(d.name)).with_value(Some(s(v.clone()))).with_source(src as i8))
                                .collect();
                            entry(d, value, src as i8, synonyms, true)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER_LOGGER => result,
                other => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(s(format!("Unsupported resource type {other}")))),
            }
        })
        .collect();
    Handled::Now(DescribeConfigsResponse::default().with_results(results))
}
