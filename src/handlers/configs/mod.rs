//! Config administration: describe, replace (AlterConfigs) and edit (IncrementalAlterConfigs)
//! topic configs; describe broker settings.

pub mod alter_configs;
pub mod describe_configs;
pub mod incremental_alter_configs;

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use crate::broker::Broker;
use crate::config::topic::validate_overrides;
use crate::controller::topics::config_diff;
use crate::controller::{ConfigResource, MetadataRecord};

/// DescribeConfigs / AlterConfigs resource type ids.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// Checks a topic's complete new override set and returns the records that install it.
pub(crate) fn plan_topic_overrides(
    broker: &Broker,
    topic: &str,
    wanted: BTreeMap<String, String>,
) -> Result<Vec<MetadataRecord>, (ResponseError, String)> {
    let image = broker.controller.image();
    if image.topic(topic).is_none() {
        return Err((
            ResponseError::UnknownTopicOrPartition,
            format!("The topic '{topic}' does not exist."),
        ));
    }
    let checked = validate_overrides(wanted.into_iter().map(|(k, v)| (k, Some(v))))
        .map_err(|m| (ResponseError::InvalidConfig, m))?;
    let current = image.configs_of(ConfigResource::Topic, topic);
    Ok(config_diff(
        ConfigResource::Topic,
        topic,
        &current,
        &checked,
    ))
}

/// Answer for broker resources, whose settings are static on this node.
pub(crate) fn broker_resource_error(broker: &Broker, name: &str) -> (ResponseError, String) {
    if !name.is_empty() && name != broker.node_id.to_string() {
        return (
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                broker.node_id
            ),
        );
    }
    (
        ResponseError::InvalidConfig,
        "Broker settings are static: set them in the config file or with --set and restart."
            .to_string(),
    )
}
