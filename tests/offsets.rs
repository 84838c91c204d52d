//! Committed offsets at scale and over time: a commit storm leaves `__consumer_offsets` small
//! once the cleaner has compacted it, with the last commits intact; offsets of empty groups
//! expire after `offsets.retention.minutes` and the groups go with them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::{Duration, Instant};

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

const GROUPS: usize = 10;
const PARTITIONS: i32 = 4;
/// Requests per group; each commits every partition: 10 × 25,000 × 4 = 1,000,000 commits.
const REQUESTS: usize = 25_000;
const WINDOW: usize = 64;

fn commit_request(group: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("storm")))
                .with_partitions(
                    (0..PARTITIONS)
                        .map(|p| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset + i64::from(p))
                                .with_committed_metadata(Some(StrBytes::from_static_str("m")))
                        })
                        .collect(),
                ),
        ])
}

fn offsets_topic_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("__consumer_offsets-")
        })
        .flat_map(|e| std::fs::read_dir(e.path()).unwrap().flatten())
        .filter(|f| f.file_name().to_string_lossy().ends_with(".log"))
        .map(|f| f.metadata().unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_storm_stays_bounded_after_compaction() {
    let node = common::node(&[
        ("offsets.topic.segment.bytes", "1048576"),
        ("log.cleaner.backoff.ms", "200"),
    ])
    .await;
    common::create_topic(&node.bootstrap_servers(), "storm", PARTITIONS, &[]).await;
    let addr = node.kafka_addr();
    let started = Instant::now();
    let workers: Vec<_> = (0..GROUPS)
        .map(|g| {
            std::thread::spawn(move || {
                let group = format!("storm-{g}");
                let mut raw = common::Raw::connect(addr);
                let mut sent = 0;
                while sent < REQUESTS {
                    let n = WINDOW.min(REQUESTS - sent);
                    for i in 0..n {
                        raw.send(
                            ApiKey::OffsetCommit,
                            8,
                            &commit_request(&group, ((sent + i) * 10) as i64),
                        );
                    }
                    for _ in 0..n {
                        let (_, r): (i32, OffsetCommitResponse) =
                            raw.recv(ApiKey::OffsetCommit, 8).expect("commit answered");
                        assert!(
                            r.topics[0].partitions.iter().all(|p| p.error_code == 0),
                            "{r:?}"
                        );
                    }
                    sent += n;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("committer");
    }
    let took = started.elapsed();
    let commits = GROUPS * REQUESTS * PARTITIONS as usize;
    eprintln!(
        "{commits} commits in {took:?}: {:.0} commits/s",
        commits as f64 / took.as_secs_f64()
    );
    let written: i64 = (0..50)
        .filter_map(|p| node.broker().replicas.get("__consumer_offsets", p))
        .map(|p| p.watermarks().log_end)
        .sum();
    assert!(
        written >= commits as i64,
        "{written} offset records written"
    );
    let peak = offsets_topic_bytes(node.data_dir());
    // The cleaner compacts rolled segments down to the latest commit per key (it ran during the
    // storm as well).
    let deadline = Instant::now() + Duration::from_secs(60);
    let bound = 16 << 20;
    loop {
        let size = offsets_topic_bytes(node.data_dir());
        if size < bound {
            eprintln!(
                "__consumer_offsets: {written} records written, {peak} bytes after the storm, {size} after compaction"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "__consumer_offsets still {size} bytes (peak {peak})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The last commits survive compaction and a restart.
    let check = |node: &pilgrimage::Node| {
        let mut raw = common::Raw::connect(node.kafka_addr());
        let groups = (0..GROUPS)
            .map(|g| {
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(format!("storm-{g}"))))
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(TopicName(StrBytes::from_static_str("storm")))
                            .with_partition_indexes((0..PARTITIONS).collect()),
                    ]))
            })
            .collect();
        raw.send(
            ApiKey::OffsetFetch,
            8,
            &OffsetFetchRequest::default().with_groups(groups),
        );
        let (_, r): (i32, OffsetFetchResponse) = raw.recv(ApiKey::OffsetFetch, 8).expect("fetch");
        for g in &r.groups {
            for p in &g.topics[0].partitions {
                assert_eq!(
                    p.committed_offset,
                    ((REQUESTS - 1) * 10) as i64 + i64::from(p.partition_index),
                    "{}",
                    g.group_id.as_str()
                );
                assert_eq!(p.metadata.as_deref(), Some("m"));
            }
        }
    };
    check(&node);
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_empty_groups_expire_and_the_groups_go() {
    let node = common::node(&[]).await;
    common::create_topic(&node.bootstrap_servers(), "storm", PARTITIONS, &[]).await;
    let mut raw = common::Raw::connect(node.kafka_addr());
    raw.send(ApiKey::OffsetCommit, 8, &commit_request("old-group", 42));
    let _: (i32, OffsetCommitResponse) = raw.recv(ApiKey::OffsetCommit, 8).expect("commit");
    let groups = &node.broker().groups;
    let view = node.broker().topic_view();
    let in_a_day = pilgrimage::now_ms() + 24 * 3600 * 1000;
    groups.expire_at(&view, in_a_day);
    assert_eq!(
        groups.fetch("old-group", None).len(),
        1,
        "a day is within the 7-day retention"
    );
    groups.expire_at(&view, pilgrimage::now_ms() + 8 * 24 * 3600 * 1000);
    assert!(
        groups.fetch("old-group", None).is_empty(),
        "expired after offsets.retention.minutes"
    );
    assert!(
        groups.list().iter().all(|(id, ..)| id != "old-group"),
        "the empty group is deleted with its offsets"
    );
    node.shutdown().await.expect("clean shutdown");
}
