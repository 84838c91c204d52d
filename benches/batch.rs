//! Batch validation and request decoding: the work the produce path does before the partition
//! lock. Figures in records/s and bytes/s.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::{Encodable, StrBytes};
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord, ValidationOptions, validate_produce};
use pilgrimage_protocol::codec::Compression;
use pilgrimage_protocol::request;

fn batch(codec: Compression, records: usize, value_bytes: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    let value: Vec<u8> = (0..value_bytes)
        .map(|i| b"pilgrimage broker batch "[i % 24])
        .collect();
    for i in 0..records {
        let key = format!("key-{i}");
        b.push(NewRecord {
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(key.as_bytes()),
            value: Some(&value),
            headers: &[],
        });
    }
    b.build().expect("batch")
}

/// Produce validation as the node runs it (`validate`: compressed batches by header and CRC)
/// and with `produce.validate.records` (`validate_records`: every record walked).
fn validation(c: &mut Criterion) {
    for (group, records) in [("validate", false), ("validate_records", true)] {
        let opts = ValidationOptions {
            max_batch_bytes: 64 << 20,
            require_keys: false,
            timestamp_window: None,
            records,
        };
        let mut g = c.benchmark_group(group);
        for codec in Compression::ALL {
            for (records, size) in [(1000usize, 100usize), (100, 1024)] {
                let b = batch(codec, records, size);
                g.throughput(Throughput::Elements(records as u64));
                g.bench_function(format!("{}/{}x{}B", codec.name(), records, size), |bench| {
                    bench.iter(|| validate_produce(black_box(&b), &opts).expect("valid"))
                });
            }
        }
        g.finish();
    }
}

fn decode(c: &mut Criterion) {
    let records = Bytes::from(batch(Compression::None, 1000, 100));
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str("bench")))
                .with_partition_data(
                    (0..6)
                        .map(|p| {
                            PartitionProduceData::default()
                                .with_index(p)
                                .with_records(Some(records.clone()))
                        })
                        .collect(),
                ),
        ]);
    let mut buf = BytesMut::new();
    req.encode(&mut buf, 9).expect("encode");
    let body = buf.freeze();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("produce-v9/6x1000x100B", |bench| {
        bench.iter(|| {
            let checked = request::check(0, 9, black_box(body.clone())).expect("shape");
            let req: ProduceRequest = request::decode(checked).expect("decode");
            black_box(req)
        })
    });
    g.finish();
}

criterion_group!(benches, validation, decode);
criterion_main!(benches);
