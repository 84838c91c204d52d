//! The idempotent producer over a connection that breaks: librdkafka writes through a TCP proxy
//! that cuts its connections at random moments (in the middle of requests and of responses), so
//! batches are retried after the node may or may not have appended them. The log must hold every
//! record exactly once, in order: the node answers a retried batch with its original offset
//! instead of appending it again. Plus the wire-level answers Kafka gives to a duplicate, a gap
//! in the sequence and an old epoch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest, ProduceResponse,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
use pilgrimage_protocol::codec::Compression;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

/// A TCP proxy that gives every connection a random lifetime and a random budget of bytes from
/// the client; whichever runs out first, the connection is cut, forwarding only part of the
/// chunk at hand so that a request or a response arrives torn.
struct CuttingProxy {
    stop: Arc<AtomicBool>,
    cutting: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl CuttingProxy {
    fn start(listener: TcpListener, upstream: SocketAddr) -> CuttingProxy {
        let stop = Arc::new(AtomicBool::new(false));
        let cutting = Arc::new(AtomicBool::new(false));
        let cutting_on = Arc::clone(&cutting);
        let cuts = Arc::new(AtomicUsize::new(0));
        listener.set_nonblocking(true).unwrap();
        let (s, c) = (Arc::clone(&stop), Arc::clone(&cuts));
        let accept = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(upstream) else {
                            continue;
                        };
                        // Connections opened while cutting is off live on.
                        let (life, bytes) = if cutting_on.load(Ordering::Relaxed) {
                            (
                                rand::random_range(30..400),
                                rand::random_range(2_000..400_000),
                            )
                        } else {
                            (3_600_000, u64::MAX)
                        };
                        let deadline = Instant::now() + Duration::from_millis(life);
                        let budget = Arc::new(AtomicU64::new(bytes));
                        for (from, to, budget) in [
                            (&client, &server, Some(Arc::clone(&budget))),
                            (&server, &client, None),
                        ] {
                            let (from, to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                            let (s, c) = (Arc::clone(&s), Arc::clone(&c));
                            std::thread::spawn(move || pump(from, to, deadline, budget, &s, &c));
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        CuttingProxy {
            stop,
            cutting,
            cuts,
            accept: Some(accept),
        }
    }

    /// Connections accepted from now on are cut.
    fn start_cutting(&self) {
        self.cutting.store(true, Ordering::Relaxed);
    }

    fn stop_cutting(&self) -> usize {
        self.cutting.store(false, Ordering::Relaxed);
        self.cuts.load(Ordering::Relaxed)
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(a) = self.accept.take() {
            a.join().unwrap();
        }
    }
}

/// Copies `from` to `to` until either side closes, the deadline passes or the byte budget is
/// spent; a cut forwards half of the chunk in hand and shuts both connections.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    deadline: Instant,
    budget: Option<Arc<AtomicU64>>,
    stop: &AtomicBool,
    cuts: &AtomicUsize,
) {
    from.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let close = |from: &TcpStream, to: &TcpStream| {
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    };
    loop {
        if stop.load(Ordering::Relaxed) {
            break close(&from, &to);
        }
        let expired = Instant::now() >= deadline;
        match from.read(&mut buf) {
            Ok(0) => break close(&from, &to),
            Ok(n) => {
                let over_budget = budget
                    .as_ref()
                    .is_some_and(|b| b.fetch_sub(n as u64, Ordering::Relaxed) < n as u64);
                if expired || over_budget {
                    let _ = to.write_all(&buf[..n / 2]);
                    cuts.fetch_add(1, Ordering::Relaxed);
                    break close(&from, &to);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break close(&from, &to);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if expired {
                    cuts.fetch_add(1, Ordering::Relaxed);
                    break close(&from, &to);
                }
            }
            Err(_) => break close(&from, &to),
        }
    }
}

/// Counts delivery failures.
#[derive(Default)]
struct Deliveries {
    failed: AtomicUsize,
    first_error: parking_lot::Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            self.first_error.lock().get_or_insert_with(|| e.to_string());
        }
    }
}

const PARTITIONS: i32 = 2;
const PER_PARTITION: usize = 50_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_through_a_cutting_proxy_writes_each_record_once() {
    // The node advertises the proxy, so every connection the client opens goes through it.
    let proxy_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = proxy_listener.local_addr().unwrap();
    let node = pilgrimage::Node::builder()
        .listen("127.0.0.1:0")
        .set("http.listen", "none")
        .set("advertised.listeners", format!("PLAINTEXT://{proxy_addr}"))
        .temp_data_dir()
        .start()
        .await
        .expect("node starts");
    let direct = node.bootstrap_servers();
    let proxy = CuttingProxy::start(proxy_listener, node.kafka_addr());
    common::create_topic(&direct, "idem", PARTITIONS, &[]).await;
    proxy.start_cutting();
    let through_proxy = proxy_addr.to_string();
    let (proxy, cuts, elapsed) = tokio::task::spawn_blocking(move || {
        let context = Deliveries::default();
        let producer: ThreadedProducer<Deliveries> = common::client_config(&through_proxy)
            .set("enable.idempotence", "true")
            .set("linger.ms", "2")
            .set("batch.num.messages", "500")
            .set("message.timeout.ms", "300000")
            .set("reconnect.backoff.ms", "10")
            .set("reconnect.backoff.max.ms", "100")
            .create_with_context(context)
            .expect("idempotent producer");
        let started = Instant::now();
        for i in 0..PER_PARTITION {
            for p in 0..PARTITIONS {
                let v = format!("{p}-{i}");
                let mut record = BaseRecord::<(), _>::to("idem").partition(p).payload(&v);
                while let Err((_, r)) = producer.send(record) {
                    record = r;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            if i % 1000 == 999 {
                // Spread the writes over a few seconds so that many connections are cut.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        producer.flush(Duration::from_secs(300)).expect("flush");
        let ctx = producer.context();
        assert_eq!(
            ctx.failed.load(Ordering::Relaxed),
            0,
            "deliveries failed, first: {:?}",
            ctx.first_error.lock()
        );
        let cuts = proxy.stop_cutting();
        (proxy, cuts, started.elapsed())
    })
    .await
    .unwrap();
    let duplicates = node.broker().metrics.duplicate_batches.get();
    eprintln!(
        "{cuts} connections cut while producing; {duplicates} retried batches answered as \
         duplicates; took {elapsed:?}"
    );
    assert!(cuts >= 5, "the proxy cut only {cuts} connections");

    let b = direct.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = common::consumer_config(&b).create().expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition_offset("idem", p, Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let mut next = [0usize; PARTITIONS as usize];
        let deadline = Instant::now() + Duration::from_secs(60);
        while next.iter().any(|&n| n < PER_PARTITION) {
            assert!(Instant::now() < deadline, "read stalled at {next:?}");
            let Some(m) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let m = match m {
                Ok(m) => m,
                // Transient client events (the bootstrap connection closing) come this way.
                Err(e) => {
                    eprintln!("consume: {e}");
                    continue;
                }
            };
            let p = m.partition();
            let v = std::str::from_utf8(m.payload().unwrap()).unwrap();
            let want = format!("{p}-{}", next[p as usize]);
            assert_eq!(v, want, "partition {p} at offset {}", m.offset());
            assert_eq!(
                m.offset(),
                next[p as usize] as i64,
                "offsets are contiguous"
            );
            next[p as usize] += 1;
        }
        for p in 0..PARTITIONS {
            let (_, high) = consumer
                .fetch_watermarks("idem", p, Duration::from_secs(10))
                .unwrap();
            assert_eq!(
                high, PER_PARTITION as i64,
                "partition {p} holds nothing more"
            );
        }
    })
    .await
    .unwrap();
    proxy.stop();
    node.shutdown().await.unwrap();
}

/// An idempotent batch of `count` records from `producer`/`epoch` starting at `sequence`.
fn batch(producer: i64, epoch: i16, sequence: i32, count: usize) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None).producer(producer, epoch, sequence);
    for i in 0..count {
        let value = format!("r{}", sequence as usize + i);
        b.push(NewRecord {
            timestamp: pilgrimage::now_ms(),
            value: Some(value.as_bytes()),
            ..NewRecord::default()
        });
    }
    Bytes::from(b.build().expect("batch"))
}

fn produce(raw: &mut common::Raw, batch: Bytes) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("idem-raw")))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ]);
    raw.send(ApiKey::Produce, 9, &req);
    let (_, resp): (_, ProduceResponse) = raw.recv(ApiKey::Produce, 9).unwrap();
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_gaps_and_old_epochs_answered_as_kafka_does() {
    let node = common::node(&[]).await;
    common::create_topic(&node.bootstrap_servers(), "idem-raw", 1, &[]).await;
    let addr = node.kafka_addr();
    tokio::task::spawn_blocking(move || {
        let mut raw = common::Raw::connect(addr);
        raw.send(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(-1)
                .with_producer_id((-1).into())
                .with_producer_epoch(-1),
        );
        let (_, init): (_, InitProducerIdResponse) = raw.recv(ApiKey::InitProducerId, 4).unwrap();
        assert_eq!(init.error_code, 0);
        let (pid, epoch) = (init.producer_id.0, init.producer_epoch);

        assert_eq!(produce(&mut raw, batch(pid, epoch, 0, 3)), (0, 0));
        assert_eq!(produce(&mut raw, batch(pid, epoch, 3, 3)), (0, 3));
        // A retried batch: answered with its original offset, not written again.
        assert_eq!(produce(&mut raw, batch(pid, epoch, 0, 3)), (0, 0));
        assert_eq!(produce(&mut raw, batch(pid, epoch, 3, 3)), (0, 3));
        // A gap in the sequence.
        assert_eq!(
            produce(&mut raw, batch(pid, epoch, 9, 3)).0,
            45,
            "OUT_OF_ORDER_SEQUENCE"
        );
        assert_eq!(produce(&mut raw, batch(pid, epoch, 6, 3)), (0, 6));
        // An older epoch is fenced; a newer one starts again at sequence 0.
        if epoch > 0 {
            assert_eq!(produce(&mut raw, batch(pid, epoch - 1, 9, 1)).0, 47);
        }
        assert_eq!(produce(&mut raw, batch(pid, epoch + 1, 4, 1)).0, 45);
        assert_eq!(produce(&mut raw, batch(pid, epoch + 1, 0, 1)), (0, 9));
        assert_eq!(
            produce(&mut raw, batch(pid, epoch, 9, 1)).0,
            47,
            "INVALID_PRODUCER_EPOCH after the bump"
        );
    })
    .await
    .unwrap();
    // The log holds the ten records once each.
    let b = node.bootstrap_servers();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = common::consumer_config(&b).create().unwrap();
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("idem-raw", 0, Offset::Beginning)
            .unwrap();
        consumer.assign(&tpl).unwrap();
        let mut values = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while values.len() < 10 && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                values.push(String::from_utf8(m.unwrap().payload().unwrap().to_vec()).unwrap());
            }
        }
        let want: Vec<String> = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r0"]
            .map(String::from)
            .to_vec();
        assert_eq!(values, want);
        let (_, high) = consumer
            .fetch_watermarks("idem-raw", 0, Duration::from_secs(10))
            .unwrap();
        assert_eq!(high, 10);
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();
}
