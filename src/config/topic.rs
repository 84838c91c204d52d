//! Topic configs: validation of overrides, resolution against broker settings (with the
//! source and synonyms DescribeConfigs reports), and the typed settings a partition runs on.

use std::collections::BTreeMap;

use pilgrimage_protocol::codec::Compression;
use pilgrimage_storage::LogConfig;

use super::defs::{self, TopicDef};
use super::{NodeConfig, Source};

/// One resolved topic config.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub def: &'static TopicDef,
    pub value: String,
    pub source: Source,
    /// (name, value, source): the override first, then broker settings that were set, then
    /// the default of the first broker synonym.
    pub synonyms: Vec<(String, String, Source)>,
}

fn scaled(value: &str, scale: i64) -> String {
    if scale == 1 {
        return value.to_string();
    }
    match value.parse::<i64>() {
        Ok(v) if v < 0 => v.to_string(),
        Ok(v) => v.saturating_mul(scale).to_string(),
        Err(_) => value.to_string(),
    }
}

/// Resolves one topic config for a topic with `overrides`.
pub fn resolve_topic_config(
    node: &NodeConfig,
    overrides: &BTreeMap<String, String>,
    def: &'static TopicDef,
) -> Resolved {
    let name = def.def.name;
    let mut synonyms = Vec::new();
    let mut chosen: Option<(String, Source)> = None;
    if let Some(v) = overrides.get(name) {
        synonyms.push((name.to_string(), v.clone(), Source::TopicOverride));
        chosen = Some((v.clone(), Source::TopicOverride));
    }
    for s in def.synonyms {
        if let Some(v) = node.explicit(s.name) {
            let v = scaled(v, s.scale);
            synonyms.push((s.name.to_string(), v.clone(), Source::StaticBroker));
            chosen.get_or_insert((v, Source::StaticBroker));
        }
    }
    // Defaults: the first synonym whose definition has one (log.retention.hours for retention.ms).
    let broker_default = def.synonyms.iter().find_map(|s| {
        defs::broker_def(s.name)
            .and_then(|d| d.default)
            .map(|v| (s.name, scaled(v, s.scale)))
    });
    let default = broker_default.as_ref().map_or_else(
        || def.def.default.unwrap_or("").to_string(),
        |(_, v)| v.clone(),
    );
    if let Some((n, v)) = broker_default {
        synonyms.push((n.to_string(), v, Source::Default));
    }
    let (value, source) = chosen.unwrap_or((default, Source::Default));
    Resolved {
        def,
        value,
        source,
        synonyms,
    }
}

/// Checks topic config overrides (names and values); returns them canonicalised. The error
/// reads like Kafka's INVALID_CONFIG message.
pub fn validate_overrides(
    configs: impl IntoIterator<Item = (String, Option<String>)>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (name, value) in configs {
        let def =
            defs::topic_def(&name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
        let Some(value) = value else {
            return Err(format!(
                "Null value not supported for topic configs: {name}"
            ));
        };
        if value.len() > i16::MAX as usize {
            return Err(format!("Value of {name} is too long"));
        }
        out.insert(name, defs::validate(&def.def, &value)?);
    }
    Ok(out)
}

/// What a partition needs from its topic's configs, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicSettings {
    pub log: LogConfig,
    /// `max.message.bytes`: largest batch, log overhead included.
    pub max_message_bytes: usize,
    /// `compression.type`; `None` keeps the producer's codec.
    pub compression: Option<Compression>,
    /// `message.timestamp.type` = LogAppendTime.
    pub log_append_time: bool,
    pub timestamp_before_max_ms: i64,
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` contains `compact`: records need keys.
    pub compacted: bool,
    pub min_insync_replicas: i32,
    /// Produced batches are checked record by record (`produce.validate.records`; compacted
    /// topics always are, their records need keys).
    pub validate_records: bool,
}

impl TopicSettings {
    /// The typed settings of a topic with `overrides`.
    pub fn resolve(node: &NodeConfig, overrides: &BTreeMap<String, String>) -> TopicSettings {
        let get = |name: &str| -> String {
            defs::topic_def(name)
                .map(|d| resolve_topic_config(node, overrides, d).value)
                .unwrap_or_default()
        };
        let long = |name: &str| get(name).parse::<i64>().unwrap_or(i64::MAX);
        let compression = match get("compression.type").as_str() {
            "producer" => None,
            other => Compression::from_name(other),
        };
        TopicSettings {
            log: LogConfig {
                segment_bytes: overrides
                    .get("internal.segment.bytes")
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or_else(|| long("segment.bytes"))
                    .max(14) as u64,
                segment_ms: long("segment.ms").max(1),
                segment_index_bytes: long("segment.index.bytes").max(4) as u64,
                index_interval_bytes: long("index.interval.bytes").max(0) as u64,
                retention_ms: long("retention.ms"),
                retention_bytes: long("retention.bytes"),
                flush_messages: long("flush.messages").max(1) as u64,
                flush_ms: long("flush.ms").max(0),
                cleanup_delete: get("cleanup.policy").split(',').any(|p| p == "delete"),
                cleanup_compact: get("cleanup.policy").split(',').any(|p| p == "compact"),
                delete_retention_ms: long("delete.retention.ms").max(0),
                min_compaction_lag_ms: long("min.compaction.lag.ms").max(0),
                max_compaction_lag_ms: long("max.compaction.lag.ms").max(1),
                min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio").parse().unwrap_or(0.5),
            },
            max_message_bytes: long("max.message.bytes").clamp(0, i64::from(i32::MAX)) as usize,
            compression,
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            timestamp_before_max_ms: long("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: long("message.timestamp.after.max.ms"),
            compacted: get("cleanup.policy").split(',').any(|p| p == "compact"),
            min_insync_replicas: long("min.insync.replicas").clamp(1, 1000) as i32,
            validate_records: node.bool("produce.validate.records"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_overrides_then_broker_then_default() {
        let node = NodeConfig::from_settings(
            [("log.retention.hours".to_string(), "2".to_string())]
                .into_iter()
                .collect(),
        )
        .unwrap();
        let none = BTreeMap::new();
        let def = defs::topic_def("retention.ms").unwrap();
        let r = resolve_topic_config(&node, &none, def);
        assert_eq!(r.value, "7200000");
        assert_eq!(r.source, Source::StaticBroker);
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        let r = resolve_topic_config(&node, &o, def);
        assert_eq!(
            (r.value.as_str(), r.source),
            ("1000", Source::TopicOverride)
        );
        let r = resolve_topic_config(&NodeConfig::default(), &none, def);
        assert_eq!((r.value.as_str(), r.source), ("604800000", Source::Default));
        let s = TopicSettings::resolve(&NodeConfig::default(), &none);
        assert_eq!(s.max_message_bytes, 1048588);
        assert_eq!(s.log.segment_bytes, 1 << 30);
        assert!(!s.compacted);
    }

    #[test]
    fn overrides_are_checked() {
        assert!(validate_overrides([("retention.ms".to_string(), Some("-1".to_string()))]).is_ok());
        assert!(
            validate_overrides([("retention.ms".to_string(), Some("soon".to_string()))]).is_err()
        );
        assert!(
            validate_overrides([("no.such".to_string(), Some("1".to_string()))])
                .unwrap_err()
                .contains("Unknown topic config")
        );
        assert_eq!(
            validate_overrides([(
                "cleanup.policy".to_string(),
                Some("compact, delete".to_string())
            )])
            .unwrap()["cleanup.policy"],
            "compact,delete"
        );
    }
}
