//! Garbage on the wire: truncated frames, a 2 GiB length prefix, random bytes, forged array
//! counts, unknown keys and versions, corrupt batches. Each one closes its own connection or is
//! answered with Kafka's error; afterwards the node still serves a well-behaved client and the
//! log holds exactly the good batches.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::net::Shutdown;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use pilgrimage_protocol::batch::view;
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
use pilgrimage_protocol::codec::Compression;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "guarded";

fn batch(codec: Compression, values: &[&str]) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    for v in values {
        b.push(NewRecord {
            timestamp: pilgrimage::now_ms(),
            key: Some(b"k"),
            value: Some(v.as_bytes()),
            headers: &[],
        });
    }
    b.build().expect("batch")
}

fn produce_req(acks: i16, records: Vec<u8>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(records))),
                ]),
        ])
}

/// Sends a produce and returns the partition's error code and base offset.
fn produce_raw(node: &pilgrimage::Node, records: Vec<u8>) -> (i16, i64) {
    let mut raw = common::Raw::connect(node.kafka_addr());
    raw.send(ApiKey::Produce, 9, &produce_req(-1, records));
    let (_, resp): (i32, ProduceResponse) = raw.recv(ApiKey::Produce, 9).expect("produce response");
    let p = &resp.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn assert_closed(raw: &mut common::Raw, what: &str) {
    assert!(raw.is_closed(), "{what}: the connection should be closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_closes_only_its_connection_and_good_data_survives() {
    let node = common::node(&[]).await;
    let bootstrap = node.bootstrap_servers();
    common::create_topic(&bootstrap, TOPIC, 1, &[]).await;
    let node = std::sync::Arc::new(node);
    let n = std::sync::Arc::clone(&node);
    let good_raw = tokio::task::spawn_blocking(move || hostile_clients(&n))
        .await
        .expect("hostile");

    // A well-behaved client still works.
    let b = bootstrap.clone();
    let total = tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> =
            common::client_config(&b).create().expect("producer");
        for i in 0..1000 {
            let v = format!("good-{i}");
            producer
                .send(BaseRecord::<(), _>::to(TOPIC).partition(0).payload(&v))
                .expect("send");
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
        let consumer: BaseConsumer = common::consumer_config(&b).create().expect("consumer");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(TOPIC, 0, Offset::Beginning)
            .expect("tpl");
        consumer.assign(&tpl).expect("assign");
        let mut values = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while values.len() < good_raw.len() + 1000 && Instant::now() < deadline {
            if let Some(m) = consumer.poll(Duration::from_millis(200)) {
                let m = m.expect("readable");
                values
                    .push(String::from_utf8(m.payload().expect("payload").to_vec()).expect("utf8"));
            }
        }
        let expected: Vec<String> = good_raw
            .iter()
            .cloned()
            .chain((0..1000).map(|i| format!("good-{i}")))
            .collect();
        assert_eq!(
            values, expected,
            "the log holds exactly the good batches, in order"
        );
        consumer
            .fetch_watermarks(TOPIC, 0, Duration::from_secs(5))
            .expect("wm")
            .1
    })
    .await
    .expect("good client");
    assert_eq!(total, 1000 + 3, "three good raw records plus the client's");
    std::sync::Arc::into_inner(node)
        .expect("sole owner")
        .shutdown()
        .await
        .expect("clean shutdown");
}

/// Every kind of bad input, each on its own connection. Returns the values of the good raw
/// records written along the way.
fn hostile_clients(node: &pilgrimage::Node) -> Vec<String> {
    let addr = node.kafka_addr();
    let mut good = Vec::new();

    // A good batch first, so the log is not empty while the rest is tried.
    assert_eq!(
        produce_raw(node, batch(Compression::None, &["raw-1"])),
        (0, 0)
    );
    good.push("raw-1".to_string());

    // Truncated frame: the length promises 100 bytes, 10 arrive, then the client hangs up.
    let mut raw = common::Raw::connect(addr);
    raw.send_bytes(&100i32.to_be_bytes()).expect("send");
    raw.send_bytes(&[0u8; 10]).expect("send");
    raw.stream.shutdown(Shutdown::Write).expect("shutdown");
    assert_closed(&mut raw, "truncated frame");

    // A 2 GiB length prefix: refused before any allocation.
    let mut raw = common::Raw::connect(addr);
    raw.send_bytes(&i32::MAX.to_be_bytes()).expect("send");
    raw.send_bytes(&[1u8; 64]).expect("send");
    assert_closed(&mut raw, "2 GiB frame");

    // Negative length.
    let mut raw = common::Raw::connect(addr);
    raw.send_bytes(&(-5i32).to_be_bytes()).expect("send");
    assert_closed(&mut raw, "negative frame length");

    // Random bytes, framed and unframed.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand_bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    for size in [9usize, 100, 4096, 1 << 20] {
        let mut raw = common::Raw::connect(addr);
        let mut frame = (size as i32).to_be_bytes().to_vec();
        let mut body = rand_bytes(size);
        // A known API key with random content after it, so the body decoders see it too.
        body[0] = 0;
        body[1] = (size % 4) as u8; // Produce, Fetch, ListOffsets or Metadata
        body[2] = 0;
        body[3] = 9;
        frame.extend(body);
        let _ = raw.send_bytes(&frame);
        assert_closed(&mut raw, "random framed bytes");
    }
    let mut raw = common::Raw::connect(addr);
    let _ = raw.send_bytes(&rand_bytes(64));
    let _ = raw.stream.shutdown(Shutdown::Write);
    assert_closed(&mut raw, "random unframed bytes");

    // A Metadata v0 request claiming 2^31-1 topics in 4 bytes of body.
    let mut raw = common::Raw::connect(addr);
    let mut frame = Vec::new();
    let body: Vec<u8> = [
        &3i16.to_be_bytes()[..],
        &0i16.to_be_bytes(),
        &1i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &i32::MAX.to_be_bytes(),
    ]
    .concat();
    frame.extend((body.len() as i32).to_be_bytes());
    frame.extend(body);
    raw.send_bytes(&frame).expect("send");
    assert_closed(&mut raw, "forged array count");

    // Unknown API key, unsupported version, and Produce v0 (advertised, refused by Kafka 4).
    let mut raw = common::Raw::connect(addr);
    let body: Vec<u8> = [
        &9999i16.to_be_bytes()[..],
        &0i16.to_be_bytes(),
        &1i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
    ]
    .concat();
    raw.send_bytes(&[&(body.len() as i32).to_be_bytes()[..], &body].concat())
        .expect("send");
    assert_closed(&mut raw, "unknown api key");
    let mut raw = common::Raw::connect(addr);
    let body: Vec<u8> = [
        &3i16.to_be_bytes()[..],
        &99i16.to_be_bytes(),
        &1i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
    ]
    .concat();
    raw.send_bytes(&[&(body.len() as i32).to_be_bytes()[..], &body].concat())
        .expect("send");
    assert_closed(&mut raw, "Metadata v99");
    let mut raw = common::Raw::connect(addr);
    let body: Vec<u8> = [
        &0i16.to_be_bytes()[..],
        &0i16.to_be_bytes(),
        &1i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &1i16.to_be_bytes(),
        &1000i32.to_be_bytes(),
        &0i32.to_be_bytes(),
    ]
    .concat();
    raw.send_bytes(&[&(body.len() as i32).to_be_bytes()[..], &body].concat())
        .expect("send");
    assert_closed(&mut raw, "Produce v0");

    // ApiVersions newer than ours: answered (KIP-511) with our range, then the client goes on.
    let mut raw = common::Raw::connect(addr);
    let body: Vec<u8> = [
        &18i16.to_be_bytes()[..],
        &99i16.to_be_bytes(),
        &7i32.to_be_bytes(),
        &(-1i16).to_be_bytes(),
        &[0u8],
    ]
    .concat();
    raw.send_bytes(&[&(body.len() as i32).to_be_bytes()[..], &body].concat())
        .expect("send");
    let (corr, resp): (i32, ApiVersionsResponse) =
        raw.recv(ApiKey::ApiVersions, 0).expect("fallback answer");
    assert_eq!(corr, 7);
    assert_eq!(resp.error_code, 35, "UNSUPPORTED_VERSION");
    assert_eq!(resp.api_keys.len(), 1);
    assert_eq!(
        (
            resp.api_keys[0].api_key,
            resp.api_keys[0].min_version,
            resp.api_keys[0].max_version
        ),
        (18, 0, 4)
    );
    raw.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let (_, resp): (i32, ApiVersionsResponse) =
        raw.recv(ApiKey::ApiVersions, 3).expect("v3 answer");
    assert_eq!(
        resp.error_code, 42,
        "INVALID_REQUEST: empty client software name, as Kafka checks"
    );
    let named = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("raw-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    raw.send(ApiKey::ApiVersions, 3, &named);
    let (_, resp): (i32, ApiVersionsResponse) =
        raw.recv(ApiKey::ApiVersions, 3).expect("v3 answer");
    assert_eq!(resp.error_code, 0);
    let produce = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == 0)
        .expect("produce advertised");
    assert_eq!(
        (produce.min_version, produce.max_version),
        (0, 13),
        "Produce v0 advertised (KAFKA-18659)"
    );

    // Corrupt batches: each is refused with Kafka's code and nothing is written.
    let mut wrong_crc = batch(Compression::None, &["bad-crc"]);
    let last = wrong_crc.len() - 1;
    wrong_crc[last] ^= 0x55;
    assert_eq!(produce_raw(node, wrong_crc).0, 2, "CORRUPT_MESSAGE");
    let mut wrong_crc_zstd = batch(Compression::Zstd, &["bad-crc-zstd"; 20]);
    wrong_crc_zstd[view::HEADER_BYTES + 3] ^= 0x01;
    assert_eq!(produce_raw(node, wrong_crc_zstd).0, 2, "CORRUPT_MESSAGE");
    let whole = batch(Compression::None, &["cut"]);
    assert_eq!(
        produce_raw(node, whole[..whole.len() - 3].to_vec()).0,
        87,
        "INVALID_RECORD: no complete batch"
    );
    let mut miscounted = batch(Compression::None, &["one", "two"]);
    miscounted[view::RECORDS_COUNT..view::RECORDS_COUNT + 4].copy_from_slice(&3i32.to_be_bytes());
    view::rewrite_crc(&mut miscounted);
    assert_eq!(produce_raw(node, miscounted).0, 87, "INVALID_RECORD: count");
    let mut two = batch(Compression::None, &["a"]);
    two.extend(batch(Compression::None, &["b"]));
    assert_eq!(produce_raw(node, two).0, 87, "INVALID_RECORD: two batches");
    let big = "x".repeat(2 << 20);
    assert_eq!(
        produce_raw(node, batch(Compression::None, &[&big])).0,
        10,
        "MESSAGE_TOO_LARGE"
    );

    // acks=0 with a corrupt batch: the connection is closed, as Kafka does.
    let mut raw = common::Raw::connect(addr);
    let mut bad = batch(Compression::Lz4, &["zero-acks"]);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    raw.send(ApiKey::Produce, 9, &produce_req(0, bad));
    assert_closed(&mut raw, "acks=0 corrupt produce");

    // A metadata request still works on a fresh connection, and two more good batches land.
    let mut raw = common::Raw::connect(addr);
    raw.send(ApiKey::Metadata, 12, &MetadataRequest::default());
    assert!(raw.recv_frame().is_some());
    assert_eq!(
        produce_raw(node, batch(Compression::Gzip, &["raw-2"])),
        (0, 1)
    );
    assert_eq!(
        produce_raw(node, batch(Compression::Snappy, &["raw-3"])),
        (0, 2)
    );
    good.push("raw-2".to_string());
    good.push("raw-3".to_string());
    good
}
