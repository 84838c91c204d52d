//! Transactions benchmark: small transactions per second through librdkafka's transactional
//! producer (begin, a few records, commit; each commit answered once the COMMIT markers and
//! the coordinator's records are durable), with one producer and with several at once.
//!
//! ```text
//! cargo bench --bench txn                            # node started from this build
//! cargo bench --bench txn -- --bootstrap H:P         # any Kafka-compatible broker
//! cargo bench --bench txn -- --transactions 2000 --records 10 --producers 1,4
//! ```
//! Without `--bench` (e.g. `cargo test --benches`) it runs a small smoke load.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

#[path = "support/node.rs"]
mod node;

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

struct Args {
    bootstrap: Option<String>,
    transactions: usize,
    records: usize,
    producers: Vec<usize>,
}

fn parse_args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let full = node::full_run();
    let mut a = Args {
        bootstrap: None,
        transactions: if full { 2_000 } else { 20 },
        records: 10,
        producers: vec![1, 4],
    };
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = Some(value()),
            "--transactions" => a.transactions = value().parse().expect("--transactions N"),
            "--records" => a.records = value().parse().expect("--records N"),
            "--producers" => {
                a.producers = value()
                    .split(',')
                    .map(|s| s.parse().expect("--producers a,b"))
                    .collect()
            }
            _ => {}
        }
    }
    a
}

/// One producer's run: `transactions` transactions of `records` records each to `partition`;
/// returns the latency of every begin-to-committed.
fn run_producer(
    bootstrap: &str,
    topic: &str,
    id: &str,
    partition: i32,
    transactions: usize,
    records: usize,
) -> Vec<Duration> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("transactional.id", id)
        .set("linger.ms", "0")
        .create()
        .expect("transactional producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    let value = vec![b'x'; 100];
    let mut latencies = Vec::with_capacity(transactions);
    for _ in 0..transactions {
        let started = Instant::now();
        producer.begin_transaction().expect("begin");
        for _ in 0..records {
            producer
                .send(
                    BaseRecord::<(), _>::to(topic)
                        .partition(partition)
                        .payload(&value),
                )
                .map_err(|(e, _)| e)
                .expect("send");
        }
        // rust-rdkafka's flush (called by commit_transaction) polls in steps of 100 ms and
        // each step lasts its whole 100 ms; serving the delivery reports here in short polls
        // first leaves nothing for it to wait on, so the figure is the broker's, not that step.
        while producer.in_flight_count() > 0 {
            producer.poll(Duration::from_micros(200));
        }
        producer
            .commit_transaction(Duration::from_secs(30))
            .expect("commit");
        latencies.push(started.elapsed());
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    let args = parse_args();
    let (_node, bootstrap) = node::target(args.bootstrap.as_deref(), &[]);
    let topic = format!("txn-bench-{}", std::process::id());
    let max = args.producers.iter().copied().max().unwrap_or(1) as i32;
    node::create_topic(&bootstrap, &topic, max);
    println!(
        "transactions benchmark against {bootstrap}: {} records of 100 B a transaction",
        args.records
    );
    for &producers in &args.producers {
        let started = Instant::now();
        let threads: Vec<_> = (0..producers)
            .map(|i| {
                let (b, t) = (bootstrap.clone(), topic.clone());
                let (n, r) = (args.transactions, args.records);
                let id = format!("txn-bench-{producers}-{i}");
                std::thread::spawn(move || run_producer(&b, &t, &id, i as i32, n, r))
            })
            .collect();
        let mut latencies: Vec<Duration> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("producer"))
            .collect();
        let took = started.elapsed().as_secs_f64();
        latencies.sort();
        println!(
            "{producers} producer(s): {:>6} transactions in {took:>6.2} s: {:>8.0} transactions/s, \
             {:>9.0} records/s; begin-to-committed p50 {:.2} ms, p99 {:.2} ms",
            latencies.len(),
            latencies.len() as f64 / took,
            (latencies.len() * args.records) as f64 / took,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
        );
    }
}
