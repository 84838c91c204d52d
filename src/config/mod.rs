//! Node configuration: Kafka's broker setting names, read from a TOML file, `--set` overrides
//! and the typed command-line flags (in that order of precedence, last wins), then checked.
//!
//! A TOML file may spell names flat or nested; both mean `log.retention.ms`:
//! ```toml
//! "log.retention.ms" = 60000
//! [log.retention]
//! ms = 60000
//! ```
//! An unknown name or a bad value is an error that names the setting: a typo must not silently
//! leave a default in place.

pub mod defs;
pub mod topic;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;

pub use topic::{TopicSettings, resolve_topic_config};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {detail}")]
    Toml { path: PathBuf, detail: String },
    #[error("unknown setting '{0}'")]
    Unknown(String),
    #[error("{0}")]
    Invalid(String),
}

/// Where a setting's value came from (DescribeConfigs `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    TopicOverride = 1,
    StaticBroker = 4,
    Default = 5,
}

/// The node's settings, checked.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Settings given explicitly (file, `--set`, flags), canonicalised.
    explicit: BTreeMap<String, String>,
    pub node_id: i32,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Host and port given to clients; `None`: the bound listener address.
    pub advertise: Option<(String, u16)>,
    pub http_listen: Option<SocketAddr>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        // The defaults table always parses; this cannot fail.
        NodeConfig::from_settings(BTreeMap::new()).unwrap_or_else(|e| unreachable!("defaults: {e}"))
    }
}

impl NodeConfig {
    /// Builds a configuration from explicit settings (name → value).
    pub fn from_settings(settings: BTreeMap<String, String>) -> Result<NodeConfig, ConfigError> {
        let mut explicit = BTreeMap::new();
        for (name, value) in settings {
            let def = defs::broker_def(&name).ok_or_else(|| ConfigError::Unknown(name.clone()))?;
            let v = defs::validate(def, &value).map_err(ConfigError::Invalid)?;
            explicit.insert(name, v);
        }
        let mut cfg = NodeConfig {
            explicit,
            node_id: 0,
            data_dir: PathBuf::new(),
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            advertise: None,
            http_listen: None,
        };
        cfg.node_id = cfg.int("node.id") as i32;
        cfg.data_dir = PathBuf::from(cfg.value("log.dirs").unwrap_or_default());
        cfg.listen = parse_listener(&cfg.value("listeners").unwrap_or_default())?;
        cfg.advertise = match cfg.value("advertised.listeners") {
            Some(a) => Some(parse_host_port(strip_scheme(&a))?),
            None => None,
        };
        cfg.http_listen = match cfg.value("http.listen").as_deref() {
            None | Some("none") | Some("") => None,
            Some(a) => Some(a.parse().map_err(|_| {
                ConfigError::Invalid(format!("http.listen '{a}' is not host:port"))
            })?),
        };
        if cfg.int("socket.request.max.bytes") > cfg.int("queued.max.request.bytes") {
            return Err(ConfigError::Invalid(
                "socket.request.max.bytes must not exceed queued.max.request.bytes".into(),
            ));
        }
        Ok(cfg)
    }

    /// Reads a TOML file into flat `name → value` settings.
    pub fn read_file(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Toml {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?;
        let mut out = BTreeMap::new();
        flatten("", &toml::Value::Table(table), &mut out).map_err(|detail| ConfigError::Toml {
            path: path.to_path_buf(),
            detail,
        })?;
        Ok(out)
    }

    /// The explicit value of a setting, if one was given.
    pub fn explicit(&self, name: &str) -> Option<&str> {
        self.explicit.get(name).map(String::as_str)
    }

    /// The value of a setting: explicit, else its default.
    pub fn value(&self, name: &str) -> Option<String> {
        self.explicit
            .get(name)
            .cloned()
            .or_else(|| defs::broker_def(name).and_then(|d| d.default.map(str::to_string)))
    }

    /// A numeric setting (its default when unset; 0 if it has none).
    pub fn int(&self, name: &str) -> i64 {
        self.value(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    pub fn bool(&self, name: &str) -> bool {
        self.value(name).as_deref() == Some("true")
    }

    /// Every broker setting with its value and source, for DescribeConfigs on the broker.
    pub fn describe(&self) -> Vec<(&'static defs::Def, Option<String>, Source)> {
        defs::BROKER
            .iter()
            .map(|d| match self.explicit.get(d.name) {
                Some(v) => (d, Some(v.clone()), Source::StaticBroker),
                None => (d, d.default.map(str::to_string), Source::Default),
            })
            .collect()
    }

    pub fn frame_bytes_max(&self) -> usize {
        self.int("socket.request.max.bytes").max(1024) as usize
    }
}

fn flatten(
    prefix: &str,
    v: &toml::Value,
    out: &mut BTreeMap<String, String>,
) -> Result<(), String> {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out)?;
            }
            Ok(())
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
            Ok(())
        }
        toml::Value::Integer(i) => {
            out.insert(prefix.to_string(), i.to_string());
            Ok(())
        }
        toml::Value::Float(f) => {
            out.insert(prefix.to_string(), f.to_string());
            Ok(())
        }
        toml::Value::Boolean(b) => {
            out.insert(prefix.to_string(), b.to_string());
            Ok(())
        }
        toml::Value::Array(items) => {
            let parts: Result<Vec<String>, String> = items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.clone()),
                    toml::Value::Integer(n) => Ok(n.to_string()),
                    other => Err(format!("{prefix}: unsupported list item {other}")),
                })
                .collect();
            out.insert(prefix.to_string(), parts?.join(","));
            Ok(())
        }
        toml::Value::Datetime(_) => Err(format!("{prefix}: dates are not settings")),
    }
}

fn strip_scheme(s: &str) -> &str {
    // Only one listener is served: the first of a comma-separated list.
    let first = s.split(',').next().unwrap_or(s).trim();
    first.split_once("://").map_or(first, |(_, rest)| rest)
}

fn parse_listener(s: &str) -> Result<SocketAddr, ConfigError> {
    let hp = strip_scheme(s);
    let (host, port) = parse_host_port(hp)?;
    let host = if host.is_empty() {
        "0.0.0.0".to_string()
    } else {
        host
    };
    let ip: std::net::IpAddr = if host == "localhost" {
        std::net::Ipv4Addr::LOCALHOST.into()
    } else {
        host.parse().map_err(|_| {
            ConfigError::Invalid(format!("listener host '{host}' must be an IP address"))
        })?
    };
    Ok(SocketAddr::new(ip, port))
}

fn parse_host_port(s: &str) -> Result<(String, u16), ConfigError> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| ConfigError::Invalid(format!("'{s}' is not host:port")))?;
    let port = port
        .parse()
        .map_err(|_| ConfigError::Invalid(format!("'{s}': bad port")))?;
    Ok((host.trim_matches(['[', ']']).to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = NodeConfig::default();
        assert_eq!(c.node_id, 1);
        assert_eq!(c.listen, "127.0.0.1:9092".parse().unwrap());
        assert_eq!(c.int("num.partitions"), 1);
        let c = NodeConfig::from_settings(settings(&[
            ("num.partitions", "6"),
            ("listeners", "PLAINTEXT://127.0.0.1:0"),
        ]))
        .unwrap();
        assert_eq!(c.int("num.partitions"), 6);
        assert_eq!(c.listen.port(), 0);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = NodeConfig::from_settings(settings(&[("num.partitons", "6")])).unwrap_err();
        assert!(e.to_string().contains("num.partitons"));
        let e = NodeConfig::from_settings(settings(&[("num.partitions", "zero")])).unwrap_err();
        assert!(e.to_string().contains("num.partitions"));
        let e =
            NodeConfig::from_settings(settings(&[("log.cleanup.policy", "shred")])).unwrap_err();
        assert!(e.to_string().contains("log.cleanup.policy"));
    }

    #[test]
    fn toml_nested_and_flat_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "\"num.partitions\" = 3\n[log.retention]\nms = 1000\n").unwrap();
        let s = NodeConfig::read_file(&p).unwrap();
        assert_eq!(s.get("num.partitions").map(String::as_str), Some("3"));
        assert_eq!(s.get("log.retention.ms").map(String::as_str), Some("1000"));
        std::fs::write(&p, "this is = not toml").unwrap();
        assert!(NodeConfig::read_file(&p).is_err());
    }
}
