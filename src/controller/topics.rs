//! Topic decisions: pure functions from the image and a request to the records to commit, or
//! the Kafka error a client gets. The checks and their order follow Kafka's
//! `ReplicationControlManager` (KRaft), messages included.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::image::MetadataImage;
use super::records::{ConfigResource, MetadataRecord};
use crate::config::topic::validate_overrides;

/// Longest topic name (Kafka's `Topic.MAX_NAME_LENGTH`: directory names must stay under 255).
pub const TOPIC_NAME_MAX: usize = 249;
/// Most partitions one CreateTopics request may create (Kafka's `MAX_PARTITIONS_PER_BATCH`).
pub const PARTITIONS_PER_REQUEST_MAX: i64 = 10_000;
/// Most partitions one topic may have on this node: each is a directory with open files.
pub const PARTITIONS_PER_TOPIC_MAX: i32 = 100_000;

/// A refusal: the error code and message a client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    pub code: ResponseError,
    pub message: Option<String>,
}

impl TopicError {
    pub fn new(code: ResponseError, message: impl Into<String>) -> TopicError {
        TopicError {
            code,
            message: Some(message.into()),
        }
    }
}

/// What the controller knows of the cluster when placing replicas.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Registered brokers, by id.
    pub brokers: Vec<i32>,
    pub default_partitions: i32,
    pub default_replication_factor: i16,
}

/// A topic to create.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    pub num_partitions: i32,
    pub replication_factor: i16,
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: Vec<(String, Option<String>)>,
}

/// A topic the records create.
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    pub id: Uuid,
    pub partitions: i32,
    pub replication_factor: i16,
    pub overrides: BTreeMap<String, String>,
}

/// Kafka's `Topic.validate`.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is invalid: the empty string is not allowed".into());
    }
    if name == "." || name == ".." {
        return Err(format!("Topic name is invalid: '{name}' is not allowed"));
    }
    if name.len() > TOPIC_NAME_MAX {
        return Err(format!(
            "Topic name is invalid: the length of '{name}' is longer than the max allowed length {TOPIC_NAME_MAX}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!(
            "Topic name is invalid: '{name}' contains one or more characters other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Topics whose names are reserved for the node's own state.
pub fn is_internal(name: &str) -> bool {
    matches!(
        name,
        "__consumer_offsets" | "__transaction_state" | "__share_group_state"
    )
}

fn collision_key(name: &str) -> String {
    name.replace('.', "_")
}

/// Checks a new topic and returns the records that create it.
pub fn plan_create(
    image: &MetadataImage,
    cluster: &Cluster,
    t: &NewTopic,
) -> Result<(Vec<MetadataRecord>, CreatedTopic), TopicError> {
    use ResponseError as E;
    if t.name == "__cluster_metadata" {
        return Err(TopicError::new(
            E::InvalidRequest,
            "Creation of internal topic __cluster_metadata is prohibited.",
        ));
    }
    if image.topic(&t.name).is_some() {
        return Err(TopicError::new(
            E::TopicAlreadyExists,
            format!("Topic '{}' already exists.", t.name),
        ));
    }
    validate_name(&t.name).map_err(|m| TopicError::new(E::InvalidTopicException, m))?;
    if t.name.contains(['.', '_']) {
        let key = collision_key(&t.name);
        if let Some(other) = image.topics.keys().find(|n| collision_key(n) == key) {
            return Err(TopicError::new(
                E::InvalidTopicException,
                format!("Topic '{}' collides with existing topic: {other}", t.name),
            ));
        }
    }
    let overrides = validate_overrides(t.configs.iter().cloned())
        .map_err(|m| TopicError::new(E::InvalidConfig, m))?;
    let assignments = if t.assignments.is_empty() {
        if t.replication_factor == 0 || t.replication_factor < -1 {
            return Err(TopicError::new(
                E::InvalidReplicationFactor,
                "Replication factor must be larger than 0, or -1 to use the default value.",
            ));
        }
        if t.num_partitions == 0 || t.num_partitions < -1 {
            return Err(TopicError::new(
                E::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.",
            ));
        }
        let partitions = if t.num_partitions == -1 {
            cluster.default_partitions
        } else {
            t.num_partitions
        };
        let rf = if t.replication_factor == -1 {
            cluster.default_replication_factor
        } else {
            t.replication_factor
        };
        if partitions > PARTITIONS_PER_TOPIC_MAX {
            return Err(TopicError::new(
                E::InvalidPartitions,
                format!("A topic may have at most {PARTITIONS_PER_TOPIC_MAX} partitions."),
            ));
        }
        place(cluster, 0, partitions, rf)?
    } else {
        if t.replication_factor != -1 {
            return Err(TopicError::new(
                E::InvalidRequest,
                "A manual partition assignment was specified, but replication factor was not set to -1.",
            ));
        }
        if t.num_partitions != -1 {
            return Err(TopicError::new(
                E::InvalidRequest,
                "A manual partition assignment was specified, but numPartitions was not set to -1.",
            ));
        }
        check_manual(cluster, &t.assignments, 0)?
    };
    let id = Uuid::new_v4();
    let rf = assignments.first().map_or(0, |a| a.len() as i16);
    let mut records = vec![MetadataRecord::Topic {
        name: t.name.clone(),
        topic_id: id,
    }];
    for (k, v) in &overrides {
        records.push(MetadataRecord::Config {
            resource: ConfigResource::Topic,
            name: t.name.clone(),
            key: k.clone(),
            value: Some(v.clone()),
        });
    }
    records.extend(partition_records(id, 0, &assignments));
    Ok((
        records,
        CreatedTopic {
            id,
            partitions: assignments.len() as i32,
            replication_factor: rf,
            overrides,
        },
    ))
}

fn partition_records(
    topic_id: Uuid,
    first: i32,
    assignments: &[Vec<i32>],
) -> impl Iterator<Item = MetadataRecord> + '_ {
    assignments
        .iter()
        .enumerate()
        .map(move |(i, replicas)| MetadataRecord::Partition {
            topic_id,
            partition: first + i as i32,
            replicas: replicas.clone(),
            isr: replicas.clone(),
            leader: replicas.first().copied().unwrap_or(-1),
            leader_epoch: 0,
            partition_epoch: 0,
        })
}

/// Spreads `count` partitions starting at `first` over the brokers, `rf` replicas each, with
/// leaders rotating over the brokers.
fn place(cluster: &Cluster, first: i32, count: i32, rf: i16) -> Result<Vec<Vec<i32>>, TopicError> {
    let n = cluster.brokers.len();
    if rf as usize > n {
        return Err(TopicError::new(
            ResponseError::InvalidReplicationFactor,
            format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {n} broker(s) are registered."
            ),
        ));
    }
    Ok((0..count)
        .map(|p| {
            let start = (first + p) as usize % n;
            (0..rf as usize)
                .map(|r| cluster.brokers[(start + r) % n])
                .collect()
        })
        .collect())
}

fn check_manual(
    cluster: &Cluster,
    assignments: &[(i32, Vec<i32>)],
    first: i32,
) -> Result<Vec<Vec<i32>>, TopicError> {
    use ResponseError as E;
    let mut by_index: BTreeMap<i32, &Vec<i32>> = BTreeMap::new();
    for (idx, replicas) in assignments {
        if by_index.insert(*idx, replicas).is_some() {
            return Err(TopicError::new(
                E::InvalidReplicaAssignment,
                format!("Found multiple manual partition assignments for partition {idx}"),
            ));
        }
    }
    let expected: Vec<i32> = (first..first + by_index.len() as i32).collect();
    if by_index.keys().copied().collect::<Vec<_>>() != expected {
        return Err(TopicError::new(
            E::InvalidReplicaAssignment,
            "partitions should be a consecutive 0-based integer sequence",
        ));
    }
    let mut out = Vec::new();
    let rf = by_index.values().next().map_or(0, |r| r.len());
    for (idx, replicas) in by_index {
        if replicas.is_empty() {
            return Err(TopicError::new(
                E::InvalidReplicaAssignment,
                format!(
                    "The manual partition assignment includes an empty replica list for partition {idx}."
                ),
            ));
        }
        let mut sorted = replicas.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != replicas.len() {
            return Err(TopicError::new(
                E::InvalidReplicaAssignment,
                format!(
                    "The manual partition assignment includes the broker {} more than once.",
                    replicas[0]
                ),
            ));
        }
        if let Some(b) = replicas.iter().find(|b| !cluster.brokers.contains(b)) {
            return Err(TopicError::new(
                E::InvalidReplicaAssignment,
                format!(
                    "The manual partition assignment includes broker {b}, but no such broker is registered."
                ),
            ));
        }
        if replicas.len() != rf {
            return Err(TopicError::new(
                E::InvalidReplicaAssignment,
                "The manual partition assignment includes a partition with a different replication factor than the others.",
            ));
        }
        out.push(replicas.clone());
    }
    Ok(out)
}

/// Records that grow a topic to `count` partitions.
pub fn plan_create_partitions(
    image: &MetadataImage,
    cluster: &Cluster,
    topic: &str,
    count: i32,
    assignments: Option<Vec<Vec<i32>>>,
) -> Result<Vec<MetadataRecord>, TopicError> {
    use ResponseError as E;
    let t = image.topic(topic).ok_or_else(|| {
        TopicError::new(
            E::UnknownTopicOrPartition,
            format!("The topic '{topic}' does not exist."),
        )
    })?;
    let current = t.partitions.len() as i32;
    if count == current {
        return Err(TopicError::new(
            E::InvalidPartitions,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if count < current {
        return Err(TopicError::new(
            E::InvalidPartitions,
            format!(
                "The topic {topic} currently has {current} partition(s); {count} would not be an increase."
            ),
        ));
    }
    if count > PARTITIONS_PER_TOPIC_MAX {
        return Err(TopicError::new(
            E::InvalidPartitions,
            format!("A topic may have at most {PARTITIONS_PER_TOPIC_MAX} partitions."),
        ));
    }
    let added = count - current;
    let rf = t
        .partitions
        .values()
        .next()
        .map_or(1, |p| p.replicas.len() as i16);
    let placed = match assignments {
        None => place(cluster, current, added, rf)?,
        Some(a) => {
            if a.len() as i32 != added {
                return Err(TopicError::new(
                    E::InvalidReplicaAssignment,
                    format!(
                        "Attempted to add {added} additional partition(s), but only {} assignment(s) were specified.",
                        a.len()
                    ),
                ));
            }
            let indexed: Vec<(i32, Vec<i32>)> = a
                .into_iter()
                .enumerate()
                .map(|(i, r)| (current + i as i32, r))
                .collect();
            check_manual(cluster, &indexed, current)?
        }
    };
    Ok(partition_records(t.id, current, &placed).collect())
}

/// The config records that turn a resource's current overrides into `wanted`.
pub fn config_diff(
    resource: ConfigResource,
    name: &str,
    current: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Vec<MetadataRecord> {
    let mut out = Vec::new();
    for (k, v) in wanted {
        if current.get(k) != Some(v) {
            out.push(MetadataRecord::Config {
                resource,
                name: name.to_string(),
                key: k.clone(),
                value: Some(v.clone()),
            });
        }
    }
    for k in current.keys().filter(|k| !wanted.contains_key(*k)) {
        out.push(MetadataRecord::Config {
            resource,
            name: name.to_string(),
            key: k.clone(),
            value: None,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        Cluster {
            brokers: vec![1],
            default_partitions: 3,
            default_replication_factor: 1,
        }
    }

    fn new(name: &str, p: i32, rf: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            num_partitions: p,
            replication_factor: rf,
            assignments: vec![],
            configs: vec![],
        }
    }

    #[test]
    fn names_follow_kafka_rules() {
        assert!(validate_name("orders.v1_x-y").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name(&"x".repeat(250)).is_err());
        assert!(validate_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn create_checks_in_kafka_order() {
        let mut img = MetadataImage::default();
        let (recs, created) = plan_create(&img, &cluster(), &new("a.b", -1, -1)).unwrap();
        assert_eq!(created.partitions, 3);
        for r in &recs {
            img.apply(r).unwrap();
        }
        assert_eq!(
            plan_create(&img, &cluster(), &new("a.b", 1, 1))
                .unwrap_err()
                .code,
            ResponseError::TopicAlreadyExists
        );
        assert_eq!(
            plan_create(&img, &cluster(), &new("a_b", 1, 1))
                .unwrap_err()
                .code,
            ResponseError::InvalidTopicException
        );
        let e = plan_create(&img, &cluster(), &new("c", 1, 3)).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidReplicationFactor);
        assert!(
            e.message
                .unwrap()
                .contains("only 1 broker(s) are registered")
        );
        assert_eq!(
            plan_create(&img, &cluster(), &new("c", 0, 1))
                .unwrap_err()
                .code,
            ResponseError::InvalidPartitions
        );
        let mut bad_cfg = new("c", 1, 1);
        bad_cfg.configs = vec![("retention.ms".into(), Some("x".into()))];
        assert_eq!(
            plan_create(&img, &cluster(), &bad_cfg).unwrap_err().code,
            ResponseError::InvalidConfig
        );
        let e = plan_create_partitions(&img, &cluster(), "a.b", 2, None).unwrap_err();
        assert_eq!(e.code, ResponseError::InvalidPartitions);
        let recs = plan_create_partitions(&img, &cluster(), "a.b", 5, None).unwrap();
        assert_eq!(recs.len(), 2);
    }
}
