//! Durability across SIGKILL: a node run as a child process is killed while producers write
//! with acks=all; after a restart on the same data directory every acknowledged record is
//! there, in order, and the log reads cleanly to its end. The node writes batches of 4 KiB and
//! more with O_DIRECT (`log.direct.write.min.bytes`), the rest through the page cache, so
//! both kinds of append, interleaved, are killed mid-stream.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

const PARTITIONS: i32 = 3;

/// (partition, offset) → value.
type Records = BTreeMap<(i32, i64), Vec<u8>>;

/// Acknowledged records, filled by delivery reports.
#[derive(Clone, Default)]
struct Acked(Arc<Mutex<Records>>);

impl ClientContext for Acked {}
impl ProducerContext for Acked {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = r {
            let v = m.payload().map(<[u8]>::to_vec).unwrap_or_default();
            self.0
                .lock()
                .expect("lock")
                .insert((m.partition(), m.offset()), v);
        }
    }
}

fn produce_until_killed(bootstrap: String, acked: Acked, stop: Arc<std::sync::atomic::AtomicBool>) {
    let producer: ThreadedProducer<Acked> = common::client_config(&bootstrap)
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("enable.idempotence", "false")
        .set("message.timeout.ms", "5000")
        .set("retries", "0")
        .create_with_context(acked)
        .expect("producer");
    let mut i: u64 = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let v = format!("record-{i:010}-{}", "x".repeat((i % 97) as usize));
        let p = (i % PARTITIONS as u64) as i32;
        if producer
            .send(BaseRecord::<(), _>::to("durable").partition(p).payload(&v))
            .is_err()
        {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        i += 1;
        if i.is_multiple_of(500) {
            producer.poll(Duration::ZERO);
        }
    }
    // Let outstanding requests fail against the dead node; their records are not acknowledged.
    let _ = producer.flush(Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = common::free_port();
    let args = ["--set", "log.direct.write.min.bytes=4096"];
    let node = common::ChildNode::start(dir.path(), port, &args);
    common::create_topic(
        &node.bootstrap(),
        "durable",
        PARTITIONS,
        &[("internal.segment.bytes", "262144")],
    )
    .await;

    let acked = Acked::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let producer = {
        let (b, a, s) = (node.bootstrap(), acked.clone(), Arc::clone(&stop));
        std::thread::spawn(move || produce_until_killed(b, a, s))
    };
    // Kill in the middle of production, once a good number of records are acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.0.lock().expect("lock").len() < 30_000 {
        assert!(Instant::now() < deadline, "production too slow");
        std::thread::sleep(Duration::from_millis(10));
    }
    node.kill();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.join().expect("producer thread");
    let acked = acked.0.lock().expect("lock").clone();
    assert!(acked.len() >= 30_000);

    // Restart on the same directory and port; the log recovers from the torn tail.
    let node = common::ChildNode::start(dir.path(), port, &args);
    let bootstrap = node.bootstrap();
    let found = tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = common::consumer_config(&bootstrap)
            .create()
            .expect("consumer");
        let mut ends = BTreeMap::new();
        for p in 0..PARTITIONS {
            let (lo, hi) = consumer
                .fetch_watermarks("durable", p, Duration::from_secs(10))
                .expect("watermarks");
            assert_eq!(lo, 0);
            ends.insert(p, hi);
        }
        let mut found = BTreeMap::new();
        common::consume_to_ends(&consumer, "durable", &ends, Duration::from_secs(60), |m| {
            found.insert(
                (m.partition(), m.offset()),
                m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            );
        });
        found
    })
    .await
    .expect("verify");
    for (k, v) in &acked {
        assert_eq!(
            found.get(k),
            Some(v),
            "acknowledged record {k:?} lost or changed"
        );
    }
    eprintln!(
        "acknowledged {} records, {} in the log after SIGKILL and recovery",
        acked.len(),
        found.len()
    );
    node.stop();
}
