//! Latency benchmark: records produced at a fixed rate (acks=all by default) and consumed as
//! they arrive; prints the produce acknowledgement latency and the end-to-end latency (send to
//! consumer poll) at p50 / p99 / p99.9 / max, with a progress line every second.
//!
//! ```text
//! cargo bench --bench latency                                  # node started from this build
//! cargo bench --bench latency -- --bootstrap H:P               # any Kafka-compatible broker
//! cargo bench --bench latency -- --rate 10000 --seconds 20 --size 1024 --acks all
//! ```
//! The clock is the benchmark's own (a monotonic instant carried in each record), so the
//! figures do not depend on the broker's timestamps. Without `--bench` (e.g. under
//! `cargo test --benches`) it runs a short smoke load.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

#[path = "support/node.rs"]
mod node;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};

struct Args {
    bootstrap: Option<String>,
    rate: u64,
    seconds: u64,
    size: usize,
    acks: String,
}

fn parse_args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let full = node::full_run();
    let mut a = Args {
        bootstrap: None,
        rate: 10_000,
        seconds: if full { 20 } else { 1 },
        size: 1024,
        acks: "all".into(),
    };
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = Some(value()),
            "--rate" => a.rate = value().parse().expect("--rate N"),
            "--seconds" => a.seconds = value().parse().expect("--seconds N"),
            "--size" => a.size = value().parse().expect("--size N"),
            "--acks" => a.acks = value(),
            _ => {}
        }
    }
    a
}

/// Microseconds since the benchmark's epoch, written into the first 8 bytes of each record.
fn micros_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

/// Collects acknowledgement latencies: each record's opaque is its send time.
struct Acks {
    epoch: Instant,
    latencies: Mutex<Vec<u32>>,
    failed: std::sync::atomic::AtomicU64,
}

impl ClientContext for Acks {}

impl ProducerContext for Acks {
    type DeliveryOpaque = Box<u64>;
    fn delivery(&self, r: &DeliveryResult<'_>, sent: Box<u64>) {
        if r.is_err() {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let took = micros_since(self.epoch).saturating_sub(*sent);
        self.latencies
            .lock()
            .unwrap()
            .push(took.min(u64::from(u32::MAX)) as u32);
    }
}

fn summary(what: &str, mut v: Vec<u32>) {
    if v.is_empty() {
        println!("{what}: no samples");
        return;
    }
    v.sort_unstable();
    let at = |p: f64| {
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[i]) / 1e3
    };
    println!(
        "{what:<28} {:>8} samples: p50 {:>7.2} ms  p99 {:>7.2} ms  p99.9 {:>7.2} ms  max {:>7.2} ms",
        v.len(),
        at(0.5),
        at(0.99),
        at(0.999),
        f64::from(*v.last().unwrap()) / 1e3
    );
}

fn main() {
    let args = parse_args();
    let (_node, bootstrap) = node::target(args.bootstrap.as_deref(), &[]);
    let topic = format!("latency-{}", std::process::id());
    node::create_topic(&bootstrap, &topic, 1);
    println!(
        "latency benchmark against {bootstrap}: {} records/s of {} B for {} s, acks={}",
        args.rate, args.size, args.seconds, args.acks
    );
    let epoch = Instant::now();
    let total = args.rate * args.seconds;

    // The consumer: reads from the start, records send-to-poll latency.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", "latency-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.min.bytes", "1")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&done);
    let reader = std::thread::spawn(move || {
        let mut e2e: Vec<u32> = Vec::with_capacity(total as usize);
        let deadline = Instant::now() + Duration::from_secs(args.seconds + 60);
        while (e2e.len() as u64) < total && Instant::now() < deadline {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                let now = micros_since(epoch);
                let p = m.payload().unwrap_or_default();
                if p.len() >= 8 {
                    let sent = u64::from_be_bytes(p[..8].try_into().unwrap());
                    e2e.push(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
                }
            }
            if stop.load(Ordering::Relaxed) && e2e.len() as u64 >= total {
                break;
            }
        }
        e2e
    });
    // Let the consumer connect and fetch before the first record.
    std::thread::sleep(Duration::from_millis(500));

    let acks = Acks {
        epoch,
        latencies: Mutex::new(Vec::with_capacity(total as usize)),
        failed: Default::default(),
    };
    let producer: ThreadedProducer<Acks> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("broker.address.family", "v4")
        .set("acks", &args.acks)
        .set("linger.ms", "0")
        .set("enable.idempotence", "false")
        .create_with_context(acks)
        .expect("producer");
    let mut value = vec![0u8; args.size.max(8)];
    // Warm-up, not measured: connections, metadata and the partition's first write.
    let warm_up = format!("{topic}-warm-up");
    node::create_topic(&bootstrap, &warm_up, 1);
    for _ in 0..100 {
        let rec = BaseRecord::<(), _, Box<u64>>::with_opaque_to(&warm_up, Box::new(0))
            .partition(0)
            .payload(&value);
        producer
            .send(rec)
            .map_err(|(e, _)| e)
            .expect("warm-up send");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("warm-up flush");
    producer.context().latencies.lock().unwrap().clear();
    let started = Instant::now();
    let mut last_report = started;
    for i in 0..total {
        // Paced: record i goes out at i / rate seconds.
        let due = started + Duration::from_nanos(i * 1_000_000_000 / args.rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let sent = micros_since(epoch);
        value[..8].copy_from_slice(&sent.to_be_bytes());
        let mut rec = BaseRecord::<(), _, Box<u64>>::with_opaque_to(&topic, Box::new(sent))
            .partition(0)
            .payload(&value);
        while let Err((_, r)) = producer.send(rec) {
            rec = r;
            std::thread::sleep(Duration::from_micros(100));
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            println!(
                "  {:>5.1} s: {} records sent",
                started.elapsed().as_secs_f64(),
                i + 1
            );
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    done.store(true, Ordering::Relaxed);
    let e2e = reader.join().expect("consumer thread");
    let ctx = producer.context();
    assert_eq!(ctx.failed.load(Ordering::Relaxed), 0, "delivery failures");
    let sent_for = started.elapsed().as_secs_f64();
    println!(
        "{total} records in {sent_for:.2} s ({:.0} records/s achieved)",
        total as f64 / sent_for
    );
    summary("produce ack latency", ctx.latencies.lock().unwrap().clone());
    summary("end-to-end latency", e2e);
}
