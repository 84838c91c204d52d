//! librdkafka (the `rdkafka` crate) against a real node: every codec with every acks setting,
//! records read back identical and in order; timestamp lookups; admin operations.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

const PARTITIONS: i32 = 6;
const RECORDS: usize = 100_000;
const BASE_TS: i64 = 1_700_000_000_000;

/// Counts delivery failures reported by librdkafka.
#[derive(Default, Clone)]
struct Deliveries {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}

impl ClientContext for Deliveries {}
impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        match r {
            Ok(_) => self.ok.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn key(i: usize) -> String {
    format!("key-{i}")
}

/// Values of varied length and content, so codecs have real work.
fn value(i: usize) -> Vec<u8> {
    let len = 20 + (i * 7919) % 300;
    (0..len)
        .map(|j| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i + j * (i % 5 + 1)) % 36])
        .collect()
}

fn produce(bootstrap: &str, topic: &str, codec: &str, acks: &str) {
    let ctx = Deliveries::default();
    let producer: ThreadedProducer<Deliveries> = common::client_config(bootstrap)
        .set("compression.type", codec)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("enable.idempotence", "false")
        .create_with_context(ctx.clone())
        .expect("producer");
    for i in 0..RECORDS {
        let k = key(i);
        let v = value(i);
        let idx = (i as u64).to_be_bytes();
        let headers = OwnedHeaders::new().insert(Header {
            key: "idx",
            value: Some(&idx[..]),
        });
        let mut rec = BaseRecord::to(topic)
            .partition((i % PARTITIONS as usize) as i32)
            .key(&k)
            .payload(&v)
            .headers(headers)
            .timestamp(BASE_TS + i as i64);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    // Queue full: let deliveries drain.
                    rec = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    assert_eq!(
        ctx.failed.load(Ordering::Relaxed),
        0,
        "{topic}: deliveries failed"
    );
    assert_eq!(
        ctx.ok.load(Ordering::Relaxed),
        RECORDS as u64,
        "{topic}: deliveries reported"
    );
}

fn consume_and_check(bootstrap: &str, topic: &str) {
    let consumer: BaseConsumer = common::consumer_config(bootstrap)
        .create()
        .expect("consumer");
    // Record i went to partition i % PARTITIONS, at offset i / PARTITIONS.
    let ends = (0..PARTITIONS)
        .map(|p| {
            (
                p,
                (RECORDS - p as usize).div_ceil(PARTITIONS as usize) as i64,
            )
        })
        .collect();
    common::consume_to_ends(&consumer, topic, &ends, Duration::from_secs(120), |m| {
        let p = m.partition();
        let i = m.offset() as usize * PARTITIONS as usize + p as usize;
        assert_eq!(
            m.key(),
            Some(key(i).as_bytes()),
            "{topic}[{p}]@{} key",
            m.offset()
        );
        assert_eq!(
            m.payload(),
            Some(&value(i)[..]),
            "{topic}[{p}]@{} value",
            m.offset()
        );
        assert_eq!(
            m.timestamp().to_millis(),
            Some(BASE_TS + i as i64),
            "{topic}[{p}] timestamp"
        );
        let h = m.headers().expect("headers");
        assert_eq!(h.count(), 1);
        assert_eq!(h.get(0).value, Some(&(i as u64).to_be_bytes()[..]));
    });
    // Nothing more than what was produced.
    if let Some(Ok(m)) = consumer.poll(Duration::from_millis(300)) {
        panic!(
            "{topic}: unexpected extra record at {}[{}]",
            m.offset(),
            m.partition()
        );
    }
}

/// The codecs of the batches stored in a topic: the codec a producer asked for must be the one on
/// disk (librdkafka silently falls back to none when it thinks the broker lacks a codec).
fn stored_codecs(node: &pilgrimage::Node, topic: &str) -> std::collections::BTreeSet<&'static str> {
    let mut codecs = std::collections::BTreeSet::new();
    for p in 0..PARTITIONS {
        let partition = node.broker().replicas.get(topic, p).expect("partition");
        let mut offset = 0;
        loop {
            let (plan, _) = partition.read(offset, 8 << 20, true, false).expect("read");
            let bytes = plan.execute().expect("execute");
            if bytes.is_empty() {
                break;
            }
            for batch in pilgrimage_protocol::batch::Batches::new(&bytes) {
                let Ok(batch) = batch else { break };
                batch.verify().expect("stored batches keep their CRC");
                codecs.insert(batch.header().compression().expect("codec").name());
                offset = batch.header().last_offset() + 1;
            }
        }
    }
    codecs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_and_acks_setting_round_trips_100k_records() {
    let node = common::node(&[]).await;
    let bootstrap = node.bootstrap_servers();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for acks in ["0", "1", "all"] {
            let topic = format!("rt-{codec}-{acks}");
            common::create_topic(&bootstrap, &topic, PARTITIONS, &[]).await;
            let started = Instant::now();
            let (b, t) = (bootstrap.clone(), topic.clone());
            tokio::task::spawn_blocking(move || produce(&b, &t, codec, acks))
                .await
                .expect("produce");
            let produced = started.elapsed();
            let (b, t) = (bootstrap.clone(), topic.clone());
            tokio::task::spawn_blocking(move || consume_and_check(&b, &t))
                .await
                .expect("consume");
            let stored: Vec<_> = stored_codecs(&node, &topic).into_iter().collect();
            assert_eq!(
                stored,
                vec![codec],
                "{topic}: batches are stored with the codec sent"
            );
            eprintln!(
                "{topic}: produced in {produced:?}, verified in {:?}",
                started.elapsed() - produced
            );
        }
    }
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_by_timestamp_lands_on_the_right_record() {
    let node = common::node(&[]).await;
    let bootstrap = node.bootstrap_servers();
    let topic = "by-time";
    common::create_topic(&bootstrap, topic, 1, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<Deliveries> = common::client_config(&b)
            .set("linger.ms", "20")
            .set("enable.idempotence", "false")
            .create_with_context(Deliveries::default())
            .expect("producer");
        // Timestamps 1000, 1010, ... with one record out of order at offset 500.
        for i in 0..2000i64 {
            let ts = if i == 500 { 5 } else { 1000 + i * 10 };
            let v = i.to_string();
            producer
                .send(
                    BaseRecord::<(), _>::to(topic)
                        .partition(0)
                        .payload(&v)
                        .timestamp(ts),
                )
                .expect("send");
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
        let consumer: BaseConsumer = common::consumer_config(&b).create().expect("consumer");
        let lookup = |ts: i64| {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(topic, 0, Offset::Offset(ts))
                .expect("tpl");
            let r = consumer
                .offsets_for_times(tpl, Duration::from_secs(10))
                .expect("offsets_for_times");
            r.find_partition(topic, 0).expect("partition").offset()
        };
        assert_eq!(lookup(0), Offset::Offset(0));
        assert_eq!(lookup(1000), Offset::Offset(0));
        assert_eq!(lookup(1001), Offset::Offset(1));
        assert_eq!(lookup(1000 + 777 * 10), Offset::Offset(777));
        assert_eq!(lookup(1000 + 777 * 10 - 3), Offset::Offset(777));
        assert_eq!(lookup(1000 + 1999 * 10), Offset::Offset(1999));
        assert_eq!(
            lookup(1_000_000),
            Offset::End,
            "past every record: the log end"
        );
        let (lo, hi) = consumer
            .fetch_watermarks(topic, 0, Duration::from_secs(10))
            .expect("watermarks");
        assert_eq!((lo, hi), (0, 2000));
    })
    .await
    .expect("lookups");
    node.shutdown().await.expect("clean shutdown");
}
