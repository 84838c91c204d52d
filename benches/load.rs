//! The load benchmark: librdkafka producing and consuming through a real node, as a Kafka user
//! would measure a broker.
//!
//! ```text
//! cargo bench --bench load                         # node started from this build, fresh data dir
//! cargo bench --bench load -- --bootstrap H:P      # any Kafka-compatible broker
//! cargo bench --bench load -- --records 200000 --sizes 100,1024 --acks 1,all,idempotent --partitions 1
//! ```
//! `--compression none,lz4,zstd` repeats every run with each producer codec (the node stores
//! batches as sent, so records/s should not fall with compression).
//! Records are consumed with librdkafka's batch API (as its own load generator does);
//! `--poll` consumes them one `poll` per message instead (the API most Rust applications use).
//! `--cold` evicts the broker's files from the page cache (`fdatasync`, then
//! `posix_fadvise(DONTNEED)` on every file of its data directory, `--data-dir` for a broker
//! given by `--bootstrap`) before each read phase, so reads come from the disk.
//! `--acks idempotent` is acks=all with `enable.idempotence=true` (sequence numbers checked and
//! producer state kept by the node); the others produce with idempotence off.
//! With a node it started (or `--broker-pid PID` for a broker given by `--bootstrap`), each line
//! also gives the broker's CPU time per GB of record values moved.
//! For every (record size, acks) pair it produces `--records` records to a fresh topic and
//! reads them back, printing records/s and MB/s (MB = 10^6 bytes of record values); with one
//! partition it then reads them once more with bare Fetch requests (`fetch ... raw Fetch`), which
//! shows what the broker serves when the client does no per-record work; after an acks=all run
//! it also produces as many records again with bare Produce requests (`produce ... (raw
//! Produce)`: one ~1 MB batch built once, compressed with the run's codec, sent five requests
//! in flight), the broker's own rate with no client batching or compressing.
//! `--create-topic NAME` only creates that topic (with `--partitions`) and exits, for scripts
//! that measure with a client that creates none (`benches/side-by-side.sh` running
//! `rdkafka_performance`). Without `--bench` on the command line (e.g. under `cargo test
//! --benches`) it runs a small smoke load.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

#[path = "support/node.rs"]
mod node;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::protocol::Encodable;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};

struct Args {
    bootstrap: Option<String>,
    broker_pid: Option<u32>,
    records: usize,
    sizes: Vec<usize>,
    acks: Vec<String>,
    /// Producer codecs (`none`, `gzip`, `snappy`, `lz4`, `zstd`): each is a run of its own.
    codecs: Vec<String>,
    partitions: i32,
    /// Consume with librdkafka's per-message `poll` instead of its batch API.
    poll: bool,
    /// Evict the broker's files from the page cache before every read phase.
    cold: bool,
    /// The broker's data directory, for `--cold` with a broker given by `--bootstrap`.
    data_dir: Option<std::path::PathBuf>,
    /// Only create this topic (with `--partitions`) and exit: for scripts that measure with
    /// another client, e.g. librdkafka's `rdkafka_performance`, which creates no topics.
    create_topic: Option<String>,
}

fn parse_args() -> Args {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let full = node::full_run();
    let mut a = Args {
        bootstrap: None,
        broker_pid: None,
        records: if full { 1_000_000 } else { 5_000 },
        sizes: vec![100, 1024],
        acks: vec!["1".into(), "all".into(), "idempotent".into()],
        codecs: vec!["none".into()],
        partitions: 1,
        poll: false,
        cold: false,
        data_dir: None,
        create_topic: None,
    };
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = Some(value()),
            "--broker-pid" => a.broker_pid = Some(value().parse().expect("--broker-pid PID")),
            "--records" => a.records = value().parse().expect("--records N"),
            "--sizes" => {
                a.sizes = value()
                    .split(',')
                    .map(|s| s.parse().expect("--sizes a,b"))
                    .collect()
            }
            "--acks" => a.acks = value().split(',').map(str::to_string).collect(),
            "--compression" => a.codecs = value().split(',').map(str::to_string).collect(),
            "--partitions" => a.partitions = value().parse().expect("--partitions N"),
            "--poll" => a.poll = true,
            "--cold" => a.cold = true,
            "--data-dir" => a.data_dir = Some(value().into()),
            "--create-topic" => a.create_topic = Some(value()),
            _ => {}
        }
    }
    a
}

#[derive(Clone, Default)]
struct Delivered {
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
}
impl ClientContext for Delivered {}
impl ProducerContext for Delivered {
    type DeliveryOpaque = ();
    fn delivery(&self, r: &DeliveryResult<'_>, _: ()) {
        let c = if r.is_ok() { &self.ok } else { &self.failed };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4");
    c
}

/// CPU time of the broker (when its pid is known) and of this client process, from the start
/// of a phase. The client's share tells a client-bound run from a broker-bound one: with two
/// cores, a client near 1.0 core is the limit whatever the broker does.
struct Meter {
    pid: Option<u32>,
    broker: Option<f64>,
    client: Option<f64>,
}

impl Meter {
    fn start(pid: Option<u32>) -> Self {
        Self {
            pid,
            broker: pid.and_then(node::cpu_seconds),
            client: node::cpu_seconds(std::process::id()),
        }
    }

    /// Prints one phase: throughput, the broker's CPU per GB and the client's cores in use.
    fn report(&self, what: &str, records: usize, bytes: usize, took: Duration) {
        let s = took.as_secs_f64();
        let broker = since(self.pid, self.broker).map_or(String::new(), |c| {
            format!("  broker CPU {:>5.2} core-s/GB", c / (bytes as f64 / 1e9))
        });
        let client = since(Some(std::process::id()), self.client)
            .map_or(String::new(), |c| format!("  client {:>4.2} cores", c / s));
        println!(
            "{what:<34} {records:>9} records in {s:>7.3} s: {:>12.0} records/s {:>9.1} MB/s{broker}{client}",
            records as f64 / s,
            bytes as f64 / s / 1e6
        );
    }
}

/// CPU seconds a process used since `before` (taken with [`node::cpu_seconds`]).
fn since(pid: Option<u32>, before: Option<f64>) -> Option<f64> {
    Some(node::cpu_seconds(pid?)? - before?)
}

/// What one produce run writes: `records` of `size` bytes to `partitions` partitions of
/// `topic`, with acks (or `idempotent`) `mode` and producer codec `codec`.
struct ProduceRun<'a> {
    topic: &'a str,
    records: usize,
    size: usize,
    mode: &'a str,
    codec: &'a str,
    partitions: i32,
}

fn produce(bootstrap: &str, run: &ProduceRun<'_>, pid: Option<u32>) {
    let &ProduceRun {
        topic,
        records,
        size,
        mode,
        codec,
        partitions,
    } = run;
    let ctx = Delivered::default();
    let (acks, idempotence) = match mode {
        "idempotent" => ("all", "true"),
        acks => (acks, "false"),
    };
    let producer: ThreadedProducer<Delivered> = config(bootstrap)
        .set("acks", acks)
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "2000000")
        .set("queue.buffering.max.kbytes", "2097151")
        .set("enable.idempotence", idempotence)
        .set("compression.codec", codec)
        .create_with_context(ctx.clone())
        .expect("producer");
    let value = record_value(size);
    let meter = Meter::start(pid);
    let started = Instant::now();
    for i in 0..records {
        let mut rec = BaseRecord::<(), _>::to(topic)
            .payload(&value)
            .partition((i % partitions as usize) as i32);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(300)).expect("flush");
    let took = started.elapsed();
    assert_eq!(ctx.failed.load(Ordering::Relaxed), 0, "delivery failures");
    meter.report(
        &match (mode, codec) {
            ("idempotent", "none") => format!("produce {size} B acks=all idempotent"),
            ("idempotent", _) => format!("produce {size} B acks=all idempotent {codec}"),
            (_, "none") => format!("produce {size} B acks={acks}"),
            _ => format!("produce {size} B acks={acks} {codec}"),
        },
        records,
        records * size,
        took,
    );
}

fn consume(
    bootstrap: &str,
    topic: &str,
    records: usize,
    size: usize,
    partitions: i32,
    batch: bool,
    pid: Option<u32>,
) {
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", "load-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100")
        .set("queued.max.messages.kbytes", "1048576")
        // A fetch of compressed batches can queue more than `queued.min.messages` (100,000)
        // at once (a 1 MiB fetch of lz4 batches of 100 B records held ~1 M), after which
        // librdkafka postpones the partition's next fetch by `fetch.queue.backoff.ms` (1 s):
        // 1 M such records took 5.1 s, the client and broker idle, whatever the broker.
        .set("queued.min.messages", "1000000")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let meter = Meter::start(pid);
    let started = Instant::now();
    let (n, bytes, first) = if batch {
        consume_batches(&consumer, records)
    } else {
        consume_polled(&consumer, records)
    };
    let took = first.elapsed();
    meter.report(
        &format!("consume {size} B{}", if batch { "" } else { " (poll)" }),
        n,
        bytes,
        took,
    );
    // Timed from the first record, as librdkafka's rdkafka_performance times its consumer:
    // connecting and looking up the start offset are not throughput.
    println!(
        "  (first record {:.0} ms after assign)",
        first.duration_since(started).as_secs_f64() * 1e3
    );
}

/// librdkafka's per-message API: one `poll` (and one message handed to Rust) per record.
fn consume_polled(consumer: &BaseConsumer, records: usize) -> (usize, usize, Instant) {
    let (mut n, mut bytes, mut first) = (0, 0, None);
    while n < records {
        match consumer.poll(Duration::from_secs(10)) {
            Some(Ok(m)) => {
                first.get_or_insert_with(Instant::now);
                n += 1;
                bytes += m.payload_len();
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => panic!("consume stalled at {n} of {records}"),
        }
    }
    (n, bytes, first.unwrap_or_else(Instant::now))
}

/// librdkafka's batch API (`rd_kafka_consume_batch_queue`, as its own load generator
/// `rdkafka_performance -B` consumes): up to 10,000 messages taken off the consumer queue per
/// call, so the client's per-record cost is librdkafka's alone. A call returns when it has as
/// many messages as asked for (or after its timeout), so the first asks for one, which starts
/// the clock, and none asks for more than remain.
#[allow(unsafe_code)] // librdkafka's batch API has no safe binding in rdkafka
fn consume_batches(consumer: &BaseConsumer, records: usize) -> (usize, usize, Instant) {
    use rdkafka::bindings as rd;
    use rdkafka::types::RDKafkaRespErr;

    const BATCH: usize = 10_000;
    let mut slots: Vec<*mut rd::rd_kafka_message_t> = vec![std::ptr::null_mut(); BATCH];
    let (mut n, mut bytes, mut first) = (0, 0, None);
    let mut failure = None;
    // SAFETY: the queue is the consumer's own (a new reference, destroyed before returning or
    // panicking, while the consumer lives); every message a call returns is read once and
    // destroyed exactly once, before the next call.
    unsafe {
        let queue = rd::rd_kafka_queue_get_consumer(consumer.client().native_ptr());
        assert!(!queue.is_null(), "consumer queue");
        let mut want = 1;
        while n < records && failure.is_none() {
            let got = rd::rd_kafka_consume_batch_queue(queue, 10_000, slots.as_mut_ptr(), want);
            if got <= 0 {
                failure = Some(format!("consume stalled at {n} of {records} ({got})"));
                break;
            }
            first.get_or_insert_with(Instant::now);
            for &m in &slots[..got as usize] {
                let err = (*m).err;
                if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                    n += 1;
                    bytes += (*m).len;
                } else {
                    failure.get_or_insert_with(|| format!("consume: {err:?}"));
                }
                rd::rd_kafka_message_destroy(m);
            }
            want = BATCH.min(records.saturating_sub(n)).max(1);
        }
        rd::rd_kafka_queue_destroy(queue);
    }
    if let Some(f) = failure {
        panic!("{f}");
    }
    (n, bytes, first.unwrap_or_else(Instant::now))
}

/// A bare Kafka connection for the raw phases: requests framed and sent as encoded, responses
/// read whole, no client library in between.
struct RawConn {
    sock: std::net::TcpStream,
    correlation: i32,
}

impl RawConn {
    fn connect(bootstrap: &str) -> RawConn {
        let sock = std::net::TcpStream::connect(bootstrap).expect("connect");
        sock.set_nodelay(true).expect("nodelay");
        RawConn {
            sock,
            correlation: 0,
        }
    }

    /// Sends `req` as API `key` at `version`.
    fn send<R: Encodable>(&mut self, key: kafka_protocol::messages::ApiKey, version: i16, req: &R) {
        use std::io::Write;

        use bytes::{BufMut, BytesMut};
        use kafka_protocol::messages::RequestHeader;

        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation);
        let mut frame = BytesMut::new();
        frame.put_i32(0);
        header
            .encode(&mut frame, key.request_header_version(version))
            .expect("header");
        req.encode(&mut frame, version).expect("request");
        let len = (frame.len() - 4) as i32;
        frame[..4].copy_from_slice(&len.to_be_bytes());
        self.sock.write_all(&frame).expect("send");
    }

    /// Reads the next response (header and body) into `buf`, which keeps its memory from one
    /// response to the next: a fresh zero-filled 16 MiB per Fetch response cost this client
    /// more than the broker's read.
    fn recv_into(&mut self, buf: &mut Vec<u8>) {
        use std::io::Read;

        let mut len = [0u8; 4];
        self.sock.read_exact(&mut len).expect("response size");
        let len = i32::from_be_bytes(len) as u64;
        buf.clear();
        (&mut self.sock)
            .take(len)
            .read_to_end(buf)
            .expect("response");
        assert_eq!(buf.len() as u64, len, "response cut short");
    }
}

/// A response of API `key` at `version` from the bytes [`RawConn::recv_into`] read.
fn decode_response<R: kafka_protocol::protocol::Decodable>(
    key: kafka_protocol::messages::ApiKey,
    version: i16,
    bytes: &mut bytes::Bytes,
) -> R {
    use kafka_protocol::messages::ResponseHeader;
    use kafka_protocol::protocol::Decodable;

    ResponseHeader::decode(bytes, key.response_header_version(version)).expect("response header");
    R::decode(bytes, version).expect("response")
}

/// The value every produced record carries: `size` bytes repeating every 251.
fn record_value(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// Reads partition 0 of `topic` from the start with plain Fetch requests (v11) on one
/// connection, counting records from batch headers: what the broker serves when the client does
/// no per-record work (librdkafka's one `poll` per message caps `consume` at about 1 M records/s
/// on this machine, whatever the broker).
fn fetch_raw(bootstrap: &str, topic: &str, records: usize, size: usize, pid: Option<u32>) {
    use bytes::{Buf, Bytes};
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;

    const VERSION: i16 = 11;
    let mut conn = RawConn::connect(bootstrap);
    let meter = Meter::start(pid);
    let started = Instant::now();
    let (mut n, mut offset) = (0usize, 0i64);
    let mut buf = Vec::new();
    let mut progress = Instant::now();
    while n < records {
        assert!(
            progress.elapsed() < Duration::from_secs(10),
            "raw fetch stalled at {n} of {records}"
        );
        let req = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_isolation_level(0)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(16 << 20),
                    ]),
            ]);
        conn.send(ApiKey::Fetch, VERSION, &req);
        conn.recv_into(&mut buf);
        let whole = Bytes::from(std::mem::take(&mut buf));
        let mut body = whole.clone();
        let resp: FetchResponse = decode_response(ApiKey::Fetch, VERSION, &mut body);
        let part = &resp.responses[0].partitions[0];
        assert_eq!(part.error_code, 0, "fetch error");
        let mut batches = part.records.clone().unwrap_or_default();
        // Whole batches: base offset (8), length (4), epoch (4), magic, CRC (4), attributes (2),
        // last offset delta (4) at 23, ..., records count (4) at 57; a cut last one is skipped.
        while batches.len() >= 61 {
            let base = i64::from_be_bytes(batches[0..8].try_into().unwrap());
            let size = 12 + i32::from_be_bytes(batches[8..12].try_into().unwrap()) as usize;
            if size > batches.len() {
                break;
            }
            let delta = i32::from_be_bytes(batches[23..27].try_into().unwrap());
            let count = i32::from_be_bytes(batches[57..61].try_into().unwrap());
            n += count as usize;
            offset = base + i64::from(delta) + 1;
            progress = Instant::now();
            batches.advance(size);
        }
        drop((batches, resp, body));
        buf = whole.try_into_mut().map(Vec::from).unwrap_or_default();
    }
    meter.report(
        &format!("fetch {size} B (raw Fetch, no client)"),
        n,
        n * size,
        started.elapsed(),
    );
}

/// Requests a raw Produce phase keeps in flight (librdkafka's default is 5 per connection).
const RAW_PRODUCE_IN_FLIGHT: usize = 5;

/// Produces `records` of `size` bytes to partition 0 of `topic` with acks=all, as batches of
/// about 1 MB of values (librdkafka's `batch.size` here) compressed with `codec`, built once
/// and sent again and again from one connection: the broker's own rate for that codec, with no
/// client compressing on the same cores. Kafka brokers keep compressed batches as sent, so
/// records/s should not fall with the codec.
fn produce_raw(
    bootstrap: &str,
    topic: &str,
    records: usize,
    size: usize,
    codec: &str,
    pid: Option<u32>,
) {
    use bytes::Bytes;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
    use pilgrimage_protocol::codec::Compression;

    const VERSION: i16 = 8;
    // 1,000,000 bytes of records (values and their ~10 bytes of framing), as librdkafka's
    // `batch.size`: below the broker's default `message.max.bytes`.
    let per_batch = (1_000_000 / (size + 16)).clamp(1, records.max(1));
    let value = record_value(size);
    let mut builder = BatchBuilder::new(Compression::from_name(codec).expect("codec"));
    for _ in 0..per_batch {
        builder.push(NewRecord {
            timestamp: 0,
            key: None,
            value: Some(&value),
            headers: &[],
        });
    }
    let batch = Bytes::from(builder.build().expect("batch"));
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    let requests = records.div_ceil(per_batch);
    let mut conn = RawConn::connect(bootstrap);
    let mut buf = Vec::new();
    let meter = Meter::start(pid);
    let started = Instant::now();
    let (mut sent, mut answered) = (0usize, 0usize);
    while answered < requests {
        while sent < requests && sent - answered < RAW_PRODUCE_IN_FLIGHT {
            conn.send(ApiKey::Produce, VERSION, &req);
            sent += 1;
        }
        conn.recv_into(&mut buf);
        let mut body = Bytes::from(std::mem::take(&mut buf));
        let resp: ProduceResponse = decode_response(ApiKey::Produce, VERSION, &mut body);
        let code = resp.responses[0].partition_responses[0].error_code;
        assert_eq!(code, 0, "produce error {code}");
        answered += 1;
    }
    let n = requests * per_batch;
    let label = match codec {
        "none" => format!("produce {size} B acks=all (raw Produce)"),
        _ => format!("produce {size} B acks=all {codec} (raw Produce)"),
    };
    meter.report(&label, n, n * size, started.elapsed());
}

/// Drops every file under `dir` from the page cache (written back first, since only clean
/// pages can be dropped), so that the next read phase reads from the disk.
fn evict(dir: Option<&std::path::Path>) {
    let Some(dir) = dir else { return };
    let mut pending = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read data dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(f) = std::fs::File::open(&path) {
                f.sync_data().expect("fdatasync");
                rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).expect("fadvise");
                files += 1;
            }
        }
    }
    println!("  (evicted {files} files from the page cache)");
}

fn main() {
    let args = parse_args();
    let (node, bootstrap) = node::target(args.bootstrap.as_deref(), &[]);
    if let Some(topic) = &args.create_topic {
        node::create_topic(&bootstrap, topic, args.partitions);
        return;
    }
    let pid = node
        .as_ref()
        .map(node::NodeProcess::pid)
        .or(args.broker_pid);
    let cold_dir = args.cold.then(|| {
        args.data_dir
            .clone()
            .or_else(|| node.as_ref().map(|n| n.data_dir().to_path_buf()))
            .expect("--cold needs --data-dir for a broker given by --bootstrap")
    });
    println!(
        "load benchmark against {bootstrap}: {} records, {} partition(s){}",
        args.records,
        args.partitions,
        if args.cold {
            ", page cache evicted before reads"
        } else {
            ""
        }
    );
    for &size in &args.sizes {
        for codec in &args.codecs {
            for acks in &args.acks {
                let topic = format!("load-{size}-{acks}-{codec}-{}", std::process::id());
                node::create_topic(&bootstrap, &topic, args.partitions);
                let run = ProduceRun {
                    topic: &topic,
                    records: args.records,
                    size,
                    mode: acks,
                    codec,
                    partitions: args.partitions,
                };
                produce(&bootstrap, &run, pid);
                evict(cold_dir.as_deref());
                consume(
                    &bootstrap,
                    &topic,
                    args.records,
                    size,
                    args.partitions,
                    !args.poll,
                    pid,
                );
                if args.partitions == 1 {
                    evict(cold_dir.as_deref());
                    fetch_raw(&bootstrap, &topic, args.records, size, pid);
                    if acks == "all" {
                        let raw = format!("{topic}-raw");
                        node::create_topic(&bootstrap, &raw, 1);
                        produce_raw(&bootstrap, &raw, args.records, size, codec, pid);
                    }
                }
            }
        }
    }
}
