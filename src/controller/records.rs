//! Metadata records: the changes the controller commits to the metadata log, as in KRaft.
//!
//! Each record is the JSON value of one record in a batch of the metadata log
//! (`<data dir>/__cluster_metadata-0/`), so the log format, CRCs and crash recovery are those
//! of every partition. JSON keeps the log readable with `pilgrimage` tools and `jq`; the
//! metadata log is small and written rarely.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a config record applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConfigResource {
    Topic,
    Broker,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MetadataRecord {
    /// A topic exists with this id.
    Topic { name: String, topic_id: Uuid },
    /// A partition's placement and leadership.
    Partition {
        topic_id: Uuid,
        partition: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        leader: i32,
        leader_epoch: i32,
        partition_epoch: i32,
    },
    /// Sets (`Some`) or removes (`None`) one config of a resource.
    Config {
        resource: ConfigResource,
        name: String,
        key: String,
        value: Option<String>,
    },
    /// The topic and all its partitions and configs are gone.
    RemoveTopic { topic_id: Uuid },
    /// A block of producer ids went to a broker: ids below `next_producer_id` are taken
    /// (KRaft's ProducerIdsRecord), so no id is ever handed out twice, across restarts too.
    ProducerIds {
        broker_id: i32,
        next_producer_id: i64,
    },
}
