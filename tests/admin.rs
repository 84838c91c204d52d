//! Admin operations through librdkafka's admin client, and retention on real segment files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

fn opts() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)))
}

fn produce(bootstrap: &str, topic: &str, partition: i32, n: usize, ts: i64) {
    let producer: ThreadedProducer<DefaultProducerContext> = common::client_config(bootstrap)
        .set("linger.ms", "0")
        .set("enable.idempotence", "false")
        .create()
        .expect("producer");
    for i in 0..n {
        let v = format!("value-{i}-{}", "v".repeat(100));
        producer
            .send(
                BaseRecord::<(), _>::to(topic)
                    .partition(partition)
                    .payload(&v)
                    .timestamp(ts + i as i64),
            )
            .expect("send");
        // One record per batch: many small segments.
        producer.flush(Duration::from_secs(10)).expect("flush");
    }
}

fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> (i64, i64) {
    let consumer: BaseConsumer = common::consumer_config(bootstrap)
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .expect("watermarks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_configs_partitions_and_records_admin() {
    let node = common::node(&[("num.partitions", "4")]).await;
    let bootstrap = node.bootstrap_servers();
    let admin: AdminClient<DefaultClientContext> =
        common::client_config(&bootstrap).create().expect("admin");

    // Create with configs; a second create fails; an impossible replication factor fails.
    let t = NewTopic::new("orders", 2, TopicReplication::Fixed(1))
        .set("retention.ms", "123456")
        .set("cleanup.policy", "compact,delete");
    for r in admin.create_topics([&t], &opts()).await.expect("create") {
        r.expect("created");
    }
    let again = admin.create_topics([&t], &opts()).await.expect("create");
    assert_eq!(
        again[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::TopicAlreadyExists
    );
    let rf3 = NewTopic::new("rf3", 1, TopicReplication::Fixed(3));
    let r = admin.create_topics([&rf3], &opts()).await.expect("create");
    assert_eq!(
        r[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidReplicationFactor
    );
    let bad =
        NewTopic::new("bad-config", 1, TopicReplication::Fixed(1)).set("retention.ms", "forever");
    let r = admin.create_topics([&bad], &opts()).await.expect("create");
    assert_eq!(
        r[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidConfig
    );
    let tiny =
        NewTopic::new("tiny-segments", 1, TopicReplication::Fixed(1)).set("segment.bytes", "1024");
    let r = admin.create_topics([&tiny], &opts()).await.expect("create");
    assert_eq!(
        r[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidConfig,
        "segment.bytes has a 1 MiB floor, as in Kafka 4.1"
    );
    let invalid = NewTopic::new("bad name!", 1, TopicReplication::Fixed(1));
    let r = admin
        .create_topics([&invalid], &opts())
        .await
        .expect("create");
    assert_eq!(r[0].as_ref().unwrap_err().1, RDKafkaErrorCode::InvalidTopic);

    // Describe: overrides report as topic configs, the rest as defaults; all 33 are listed.
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("orders")], &opts())
        .await
        .expect("describe");
    let res = described[0].as_ref().expect("described");
    assert_eq!(res.entries.len(), 33);
    let retention = res.get("retention.ms").expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("123456"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    let seg = res.get("segment.bytes").expect("segment.bytes");
    assert_eq!(seg.value.as_deref(), Some("1073741824"));
    assert_eq!(seg.source, ConfigSource::Default);
    assert_eq!(
        res.get("cleanup.policy").and_then(|e| e.value.as_deref()),
        Some("compact,delete")
    );

    // Alter (legacy: replaces the override set).
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("orders")).set("max.message.bytes", "2000");
    for r in admin.alter_configs([&alter], &opts()).await.expect("alter") {
        r.expect("altered");
    }
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic("orders")], &opts())
        .await
        .expect("describe");
    let res = described[0].as_ref().expect("described");
    assert_eq!(
        res.get("max.message.bytes")
            .and_then(|e| e.value.as_deref()),
        Some("2000")
    );
    assert_eq!(
        res.get("retention.ms").map(|e| &e.source),
        Some(&ConfigSource::Default),
        "replaced, so back to the default"
    );

    // max.message.bytes is enforced on produce.
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> = common::client_config(&b)
            .set("message.timeout.ms", "5000")
            .create()
            .expect("producer");
        let big = vec![b'x'; 5000];
        producer
            .send(BaseRecord::<(), _>::to("orders").partition(0).payload(&big))
            .expect("queued");
        producer.flush(Duration::from_secs(10)).expect("flush");
        assert_eq!(
            watermarks(&b, "orders", 0),
            (0, 0),
            "the oversized batch was refused"
        );
    })
    .await
    .expect("oversized");

    // Grow the topic; shrinking is refused.
    let r = admin
        .create_partitions([&NewPartitions::new("orders", 5)], &opts())
        .await
        .expect("partitions");
    r[0].as_ref().expect("grown");
    let r = admin
        .create_partitions([&NewPartitions::new("orders", 3)], &opts())
        .await
        .expect("partitions");
    assert_eq!(
        r[0].as_ref().unwrap_err().1,
        RDKafkaErrorCode::InvalidPartitions
    );
    let md = admin
        .inner()
        .fetch_metadata(Some("orders"), Duration::from_secs(10))
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 5);

    // Delete records up to offset 7 of a fresh topic.
    common::create_topic(&bootstrap, "trim", 1, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || produce(&b, "trim", 0, 10, pilgrimage::now_ms()))
        .await
        .expect("produce");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("trim", 0, Offset::Offset(7))
        .expect("tpl");
    let res = admin
        .delete_records(&tpl, &opts())
        .await
        .expect("delete records");
    assert_eq!(
        res.find_partition("trim", 0).expect("p").offset(),
        Offset::Offset(7)
    );
    let b = bootstrap.clone();
    let wm = tokio::task::spawn_blocking(move || watermarks(&b, "trim", 0))
        .await
        .expect("wm");
    assert_eq!(wm, (7, 10));

    // Delete a topic: gone from metadata and from disk.
    for r in admin
        .delete_topics(&["trim"], &opts())
        .await
        .expect("delete")
    {
        r.expect("deleted");
    }
    let md = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    assert!(md.topics().iter().all(|t| t.name() != "trim"));
    assert!(!node.data_dir().join("trim-0").exists());
    drop(admin);
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_segments_and_moves_the_log_start() {
    let node = common::node(&[("log.retention.check.interval.ms", "200")]).await;
    let bootstrap = node.bootstrap_servers();
    common::create_topic(
        &bootstrap,
        "aging",
        1,
        &[
            ("internal.segment.bytes", "1024"),
            ("retention.ms", "3600000"),
        ],
    )
    .await;
    common::create_topic(
        &bootstrap,
        "sized",
        1,
        &[
            ("internal.segment.bytes", "1024"),
            ("retention.bytes", "4096"),
        ],
    )
    .await;
    let two_hours_ago = pilgrimage::now_ms() - 2 * 3600 * 1000;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        produce(&b, "aging", 0, 40, two_hours_ago);
        produce(&b, "sized", 0, 40, pilgrimage::now_ms());
    })
    .await
    .expect("produce");
    let segments = |topic: &str| {
        std::fs::read_dir(node.data_dir().join(format!("{topic}-0")))
            .expect("dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "log"))
            })
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let b = bootstrap.clone();
        let (aging, sized) = tokio::task::spawn_blocking(move || {
            (watermarks(&b, "aging", 0), watermarks(&b, "sized", 0))
        })
        .await
        .expect("wm");
        if aging.0 == 40 && sized.0 > 0 {
            assert_eq!(aging.1, 40);
            assert_eq!(
                segments("aging"),
                1,
                "only the new empty active segment is left"
            );
            assert!(segments("sized") <= 6, "{} segments", segments("sized"));
            assert_eq!(sized.1, 40);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention did not run: aging {aging:?}, sized {sized:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // New records with current timestamps stay.
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || produce(&b, "aging", 0, 3, pilgrimage::now_ms()))
        .await
        .expect("produce");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let b = bootstrap.clone();
    let wm = tokio::task::spawn_blocking(move || watermarks(&b, "aging", 0))
        .await
        .expect("wm");
    assert_eq!(wm, (40, 43));
    node.shutdown().await.expect("clean shutdown");
}
