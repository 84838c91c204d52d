//! Everything the handlers share: configuration, the controller, the partitions, the request
//! memory budget, fetch sessions and metrics.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{NodeConfig, TopicSettings};
use crate::controller::topics::Cluster;
use crate::controller::{
    ConfigResource, Controller, ControllerError, MetadataImage, MetadataRecord,
};
use crate::coordinator::group::GroupCoordinator;
use crate::coordinator::group::consumer::TopicView;
use crate::coordinator::txn::TxnCoordinator;
use crate::handlers::fetch::session::FetchSessionCache;
use crate::metrics::Metrics;
use crate::partition::ReplicaManager;
use crate::server::buffers::RequestBuffers;
use crate::server::memory::MemoryBudget;

#[derive(Debug)]
pub struct Broker {
    pub config: Arc<NodeConfig>,
    pub node_id: i32,
    pub cluster_id: String,
    /// Host and port clients are told to connect to.
    pub advertised: (String, u16),
    pub controller: Controller,
    pub replicas: Arc<ReplicaManager>,
    pub memory: MemoryBudget,
    /// Kept buffers large request bodies are read into.
    pub buffers: Arc<RequestBuffers>,
    pub metrics: Metrics,
    pub fetch_sessions: FetchSessionCache,
    pub groups: GroupCoordinator,
    pub txns: TxnCoordinator,
}

impl Broker {
    /// Commits metadata records and applies the result to this node's partitions before
    /// returning, so a topic is usable as soon as its creation is acknowledged.
    pub async fn commit(
        &self,
        records: Vec<MetadataRecord>,
    ) -> Result<Arc<MetadataImage>, ControllerError> {
        let image = self.controller.commit(records).await?;
        self.replicas.reconcile(&image).await?;
        Ok(image)
    }

    /// The cluster as the controller sees it: one broker, this node.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            brokers: vec![self.node_id],
            default_partitions: self.config.int("num.partitions") as i32,
            default_replication_factor: self.config.int("default.replication.factor") as i16,
        }
    }

    /// The topics consumer groups can subscribe to: name → (id, partitions), internal ones left out.
    pub fn topic_view(&self) -> TopicView {
        let image = self.controller.image();
        image
            .topics
            .values()
            .filter(|t| !crate::controller::topics::is_internal(&t.name))
            .map(|t| (t.name.to_string(), (t.id, t.partitions.len() as i32)))
            .collect()
    }

    /// Topic config overrides of a topic.
    pub fn topic_overrides(&self, topic: &str) -> BTreeMap<String, String> {
        self.controller
            .image()
            .configs_of(ConfigResource::Topic, topic)
    }

    /// The typed settings of a topic (its overrides over the broker defaults).
    pub fn topic_settings(&self, topic: &str) -> TopicSettings {
        TopicSettings::resolve(&self.config, &self.topic_overrides(topic))
    }
}
