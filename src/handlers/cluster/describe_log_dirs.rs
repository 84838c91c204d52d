//! DescribeLogDirs (key 35): the data directory, its partitions with their sizes, and the
//! directory's total and usable bytes.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: DescribeLogDirsRequest,
) -> Handled<DescribeLogDirsResponse> {
    let broker = &ctx.broker;
    let wanted = |topic: &str, p: i32| {
        req.topics.as_ref().is_none_or(|ts| {
            ts.iter()
                .any(|t| t.topic.as_str() == topic && t.partitions.contains(&p))
        })
    };
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for p in broker.replicas.all() {
        if wanted(&p.topic, p.index) {
            by_topic.entry(p.topic.to_string()).or_default().push(
                DescribeLogDirsPartition::default()
                    .with_partition_index(p.index)
                    .with_partition_size(p.size_bytes() as i64),
            );
        }
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut parts)| {
            parts.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(parts)
        })
        .collect();
    let dir = broker
        .config
        .data_dir
        .canonicalize()
        .unwrap_or_else(|_| broker.config.data_dir.clone());
    let (total, usable) = match rustix::fs::statvfs(&dir) {
        Ok(s) => (
            (s.f_blocks * s.f_frsize) as i64,
            (s.f_bavail * s.f_frsize) as i64,
        ),
        Err(_) => (-1, -1),
    };
    let result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(total)
        .with_usable_bytes(usable);
    Handled::Now(DescribeLogDirsResponse::default().with_results(vec![result]))
}
