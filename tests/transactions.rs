//! Transactions with librdkafka against a real node: commits and aborts seen by read_committed
//! and read_uncommitted consumers, consume-transform-produce with `send_offsets_to_transaction`
//! while the producer process is SIGKILLed, and the node SIGKILLed in the middle of commits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "1000"),
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "500",
        ),
    ]
}

fn txn_producer(bootstrap: &str, id: &str) -> ThreadedProducer<DefaultProducerContext> {
    common::client_config(bootstrap)
        .set("transactional.id", id)
        .set("linger.ms", "5")
        .set("transaction.timeout.ms", "10000")
        .create()
        .expect("transactional producer")
}

/// Reads every partition of `topic` from the start with `isolation` until nothing more comes
/// for two seconds; returns the values by partition, in order.
fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
) -> BTreeMap<i32, Vec<String>> {
    let consumer: BaseConsumer = common::consumer_config(bootstrap)
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < Duration::from_secs(2) {
        assert!(Instant::now() < deadline, "reading {topic} timed out");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                idle_since = Instant::now();
                out.entry(m.partition())
                    .or_default()
                    .push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap());
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_and_aborted_transactions_by_isolation_level() {
    let node = common::node(&settings()).await;
    let bootstrap = node.bootstrap_servers();
    common::create_topic(&bootstrap, "txn-alt", 3, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer = txn_producer(&b, "alternating");
        producer.init_transactions(Duration::from_secs(30)).unwrap();
        for round in 0..20 {
            producer.begin_transaction().unwrap();
            for i in 0..50 {
                let value = format!("{round}-{i}");
                let key = format!("k{i}");
                producer
                    .send(BaseRecord::to("txn-alt").key(&key).payload(&value))
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
            if round % 2 == 0 {
                producer
                    .commit_transaction(Duration::from_secs(30))
                    .unwrap();
            } else {
                // librdkafka purges records still queued when a transaction is aborted; flush
                // first so the aborted records reach the log and read_uncommitted sees them.
                producer.flush(Duration::from_secs(30)).unwrap();
                producer.abort_transaction(Duration::from_secs(30)).unwrap();
            }
        }
        let committed = read_all(&b, "txn-alt", 3, "read_committed");
        let all = read_all(&b, "txn-alt", 3, "read_uncommitted");
        let count = |m: &BTreeMap<i32, Vec<String>>| m.values().map(Vec::len).sum::<usize>();
        assert_eq!(count(&all), 1000, "read_uncommitted sees every record");
        assert_eq!(
            count(&committed),
            500,
            "read_committed sees the committed ones"
        );
        for vals in committed.values() {
            for v in vals {
                let round: i32 = v.split('-').next().unwrap().parse().unwrap();
                assert_eq!(round % 2, 0, "aborted record {v} seen by read_committed");
            }
        }
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();
}
