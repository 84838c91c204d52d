//! The metadata image: the state the metadata log describes. `apply` is pure, so the same
//! records always produce the same image (on restart, and on every node of a cluster).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use super::records::{ConfigResource, MetadataRecord};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    pub name: Arc<str>,
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionImage>,
}

/// Why a record cannot apply to the current image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata record does not apply: {0}")]
pub struct ApplyError(pub String);

#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    pub topics: BTreeMap<Arc<str>, Arc<TopicImage>>,
    pub topic_names: HashMap<Uuid, Arc<str>>,
    pub configs: BTreeMap<(ConfigResource, String), BTreeMap<String, String>>,
    /// Offset of the last record applied (the metadata log's end minus one); -1 when empty.
    pub offset: i64,
    /// The first producer id not yet given to any broker.
    pub next_producer_id: i64,
}

impl MetadataImage {
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    pub fn topic_by_id(&self, id: &Uuid) -> Option<&Arc<TopicImage>> {
        self.topic_names.get(id).and_then(|n| self.topics.get(n))
    }

    /// Config overrides of a resource (empty when none).
    pub fn configs_of(&self, resource: ConfigResource, name: &str) -> BTreeMap<String, String> {
        self.configs
            .get(&(resource, name.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// Applies one record.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<(), ApplyError> {
        match record {
            MetadataRecord::Topic { name, topic_id } => {
                if self.topics.contains_key(name.as_str())
                    || self.topic_names.contains_key(topic_id)
                {
                    return Err(ApplyError(format!("topic {name} ({topic_id}) exists")));
                }
                let name: Arc<str> = Arc::from(name.as_str());
                self.topic_names.insert(*topic_id, Arc::clone(&name));
                self.topics.insert(
                    Arc::clone(&name),
                    Arc::new(TopicImage {
                        name,
                        id: *topic_id,
                        partitions: BTreeMap::new(),
                    }),
                );
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let name = self
                    .topic_names
                    .get(topic_id)
                    .ok_or_else(|| ApplyError(format!("partition of unknown topic {topic_id}")))?;
                let topic = self
                    .topics
                    .get_mut(name)
                    .ok_or_else(|| ApplyError(format!("topic {name} missing")))?;
                Arc::make_mut(topic).partitions.insert(
                    *partition,
                    PartitionImage {
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        partition_epoch: *partition_epoch,
                    },
                );
            }
            MetadataRecord::Config {
                resource,
                name,
                key,
                value,
            } => {
                let entry = self.configs.entry((*resource, name.clone())).or_default();
                match value {
                    Some(v) => {
                        entry.insert(key.clone(), v.clone());
                    }
                    None => {
                        entry.remove(key);
                    }
                }
                if entry.is_empty() {
                    self.configs.remove(&(*resource, name.clone()));
                }
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let name = self
                    .topic_names
                    .remove(topic_id)
                    .ok_or_else(|| ApplyError(format!("no topic {topic_id} to remove")))?;
                self.topics.remove(&name);
                self.configs
                    .remove(&(ConfigResource::Topic, name.to_string()));
            }
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => {
                if *next_producer_id <= self.next_producer_id {
                    return Err(ApplyError(format!(
                        "producer ids must move forward: {next_producer_id} after {}",
                        self.next_producer_id
                    )));
                }
                self.next_producer_id = *next_producer_id;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_partitions_configs_and_removal() {
        let mut img = MetadataImage::default();
        let id = Uuid::new_v4();
        img.apply(&MetadataRecord::Topic {
            name: "t".into(),
            topic_id: id,
        })
        .unwrap();
        assert!(
            img.apply(&MetadataRecord::Topic {
                name: "t".into(),
                topic_id: Uuid::new_v4()
            })
            .is_err()
        );
        img.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        })
        .unwrap();
        img.apply(&MetadataRecord::Config {
            resource: ConfigResource::Topic,
            name: "t".into(),
            key: "retention.ms".into(),
            value: Some("5".into()),
        })
        .unwrap();
        assert_eq!(img.topic("t").unwrap().partitions.len(), 1);
        assert_eq!(
            img.configs_of(ConfigResource::Topic, "t")["retention.ms"],
            "5"
        );
        img.apply(&MetadataRecord::RemoveTopic { topic_id: id })
            .unwrap();
        assert!(img.topic("t").is_none());
        assert!(img.configs_of(ConfigResource::Topic, "t").is_empty());
    }
}
