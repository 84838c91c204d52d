//! Open segment files stay within `log.segment.files.open.max` however many segments the node
//! holds: a node with hundreds of partitions and many segments each is written and read in full
//! by rdkafka with a budget of 32 handles, its open descriptors counted from `/proc`, then
//! SIGKILLed and read in full again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

const PARTITIONS: i32 = 200;
const PER_PARTITION: usize = 150;
const BUDGET: usize = 32;

/// Fails the test on any record the node did not acknowledge.
struct MustDeliver;

impl ClientContext for MustDeliver {}

impl ProducerContext for MustDeliver {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = r {
            panic!("record to partition {} not delivered: {e}", m.partition());
        }
    }
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn segment_files(dir: &std::path::Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            n += segment_files(&e.path());
        } else if e.path().extension().is_some_and(|x| x == "log") {
            n += 1;
        }
    }
    n
}

fn value(p: i32, i: usize) -> Vec<u8> {
    let mut v = format!("p{p}-r{i}-").into_bytes();
    v.resize(400, b'.');
    v
}

/// Reads every partition from the beginning to `ends`, checking each record.
fn read_all(bootstrap: &str, ends: &BTreeMap<i32, i64>) {
    let consumer: BaseConsumer = common::consumer_config(bootstrap)
        .set("fetch.message.max.bytes", "65536")
        .create()
        .expect("consumer");
    common::consume_to_ends(&consumer, "many", ends, Duration::from_secs(120), |m| {
        let p = m.partition();
        assert_eq!(
            m.payload(),
            Some(&value(p, m.offset() as usize)[..]),
            "record {p}/{}",
            m.offset()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_segment_files_stay_within_the_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let budget = format!("log.segment.files.open.max={BUDGET}");
    let args = ["--set", budget.as_str()];
    let node = common::ChildNode::start(dir.path(), port, &args);
    let bootstrap = node.bootstrap();
    common::create_topic(
        &bootstrap,
        "many",
        PARTITIONS,
        &[("internal.segment.bytes", "8192")],
    )
    .await;

    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<MustDeliver> = common::client_config(&b)
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.size", "4000")
            .create_with_context(MustDeliver)
            .expect("producer");
        for i in 0..PER_PARTITION {
            for p in 0..PARTITIONS {
                let v = value(p, i);
                let mut rec = BaseRecord::<(), [u8]>::to("many").partition(p).payload(&v);
                loop {
                    match producer.send(rec) {
                        Ok(()) => break,
                        Err((_, r)) => {
                            rec = r;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(60)).expect("flush");
    })
    .await
    .expect("produce");

    let segments = segment_files(dir.path());
    let pid = node.child.id();
    let fds_written = open_fds(pid);
    let ends: BTreeMap<i32, i64> = (0..PARTITIONS).map(|p| (p, PER_PARTITION as i64)).collect();
    let (b, e) = (bootstrap.clone(), ends.clone());
    tokio::task::spawn_blocking(move || read_all(&b, &e))
        .await
        .expect("read");
    let fds_read = open_fds(pid);
    eprintln!(
        "{segments} segment files on disk; {fds_written} descriptors open after writing, {fds_read} after reading everything"
    );
    assert!(
        segments > 4 * BUDGET,
        "the test needs many more segments ({segments}) than the budget"
    );
    // The budget, plus what is not a segment: listeners, connections, metadata and index files
    // being written, the runtime's own descriptors.
    let bound = BUDGET + 96;
    assert!(
        fds_written <= bound && fds_read <= bound,
        "{fds_written} / {fds_read} descriptors open for {segments} segments (bound {bound})"
    );

    // Unsynced handles closed by the sweep and acknowledged records all survive SIGKILL.
    node.kill();
    let node = common::ChildNode::start(dir.path(), port, &args);
    let (b, e) = (node.bootstrap(), ends.clone());
    tokio::task::spawn_blocking(move || read_all(&b, &e))
        .await
        .expect("read after restart");
    let fds = open_fds(node.child.id());
    assert!(
        fds <= bound,
        "{fds} descriptors open after recovery (bound {bound})"
    );
    node.stop();
}
