//! Cluster description: brokers, log directories, topic partitions (paged).

pub mod describe_cluster;
pub mod describe_log_dirs;
pub mod describe_topic_partitions;
