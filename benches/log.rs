//! Log append and read on real files (page cache): the partition-lock part of produce and the
//! plan + pread of fetch.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use pilgrimage_protocol::batch::{BatchBuilder, NewRecord};
use pilgrimage_protocol::codec::Compression;
use pilgrimage_storage::{Log, LogConfig, OpenOptions};

fn batch(records: usize, value_bytes: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    let value = vec![b'x'; value_bytes];
    for i in 0..records {
        b.push(NewRecord {
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(&value),
            headers: &[],
        });
    }
    b.build().expect("batch")
}

fn open(dir: &std::path::Path) -> Log {
    Log::open(
        dir,
        LogConfig {
            segment_bytes: 256 << 20,
            ..LogConfig::default()
        },
        OpenOptions {
            recovery_point: 0,
            log_start_offset: 0,
            clean_shutdown: true,
            now_ms: 0,
        },
    )
    .expect("log")
    .0
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("log");
    for (records, size) in [(100usize, 1024usize), (1000, 100)] {
        let b = batch(records, size);
        g.throughput(Throughput::Bytes(b.len() as u64));
        let dir = tempfile::tempdir().expect("dir");
        let mut log = open(dir.path());
        g.bench_function(format!("append/{records}x{size}B"), |bench| {
            bench.iter_batched_ref(
                || b.clone(),
                |b| log.append(b, 0, 0).expect("append"),
                BatchSize::SmallInput,
            )
        });
    }
    // Reads of 1 MiB from random offsets of a 64 MiB log.
    let dir = tempfile::tempdir().expect("dir");
    let mut log = open(dir.path());
    let b = batch(100, 1024);
    while log.size_bytes() < 64 << 20 {
        log.append(&b.clone(), 0, 0).expect("append");
    }
    let end = log.end();
    let last = log.next_offset();
    g.throughput(Throughput::Bytes(1 << 20));
    let mut offset = 0i64;
    g.bench_function("read/1MiB", |bench| {
        bench.iter(|| {
            offset = (offset + 7919) % last;
            let plan = log.read(offset, 1 << 20, end, true).expect("plan");
            black_box(plan.execute().expect("read"))
        })
    });
    g.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
