//! Large batches bypass the page cache both ways: librdkafka producing at full speed sends
//! batches near 1 MB, which the node writes with O_DIRECT (`log.direct.write.min.bytes`), and a
//! consumer reading them back from the start is served from read-ahead buffers read with
//! O_DIRECT (`fetch.read.ahead.bytes`). Every record comes back identical and in order; small
//! batches produced in between go through the page cache and read back too. The producer's
//! requests are read into one reused buffer (`socket.request.buffer.pool.bytes`), at the
//! place in it that lets the batch go to disk without a copy. A fetch whose range must come
//! from the disk reads it with the async runtime told that its thread blocks.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::Duration;

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

const RECORDS: usize = 40_000;

fn value(i: usize) -> Vec<u8> {
    let len = 600 + (i * 7919) % 900;
    (0..len).map(|j| (i.wrapping_mul(31) + j) as u8).collect()
}

fn produce(bootstrap: &str, from: usize, to: usize, linger: &str) {
    let producer: ThreadedProducer<DefaultProducerContext> = common::client_config(bootstrap)
        .set("acks", "all")
        .set("linger.ms", linger)
        .set("batch.size", "1000000")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "200000")
        .set("enable.idempotence", "false")
        .create()
        .expect("producer");
    for i in from..to {
        let v = value(i);
        let mut rec = BaseRecord::<(), _>::to("big").partition(0).payload(&v);
        loop {
            match producer.send(rec) {
                Ok(()) => break,
                Err((_, r)) => {
                    rec = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        if linger == "0" && i % 100 == 0 {
            producer.flush(Duration::from_secs(30)).expect("flush");
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_batches_round_trip_past_the_page_cache() {
    let node = common::node(&[]).await;
    let bootstrap = node.bootstrap_servers();
    common::create_topic(&bootstrap, "big", 1, &[]).await;
    let written = pilgrimage_storage::direct::written_bytes();
    let copied = pilgrimage_storage::direct::copied_bytes();
    let served = pilgrimage_storage::prefetch::served_bytes();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        // Large batches, then small ones (one record per request at most every 100), then
        // large again: the segment mixes both kinds of write.
        produce(&b, 0, RECORDS / 2, "200");
        produce(&b, RECORDS / 2, RECORDS / 2 + 300, "0");
        produce(&b, RECORDS / 2 + 300, RECORDS, "200");
    })
    .await
    .expect("produce");
    let direct = pilgrimage_storage::direct::written_bytes() - written;
    assert!(direct > 20_000_000, "only {direct} bytes written directly");
    // The requests were read into memory at their batch's offset within a disk block, so
    // the batches went to disk from there; only a misplaced one is copied (the first after
    // the small batches, whose peek saw the log before the last small append).
    let copied = pilgrimage_storage::direct::copied_bytes() - copied;
    eprintln!("{copied} of {direct} direct bytes copied into an aligned buffer first");
    assert!(
        copied <= direct / 10,
        "{copied} of {direct} direct bytes copied into an aligned buffer first"
    );
    // One producer connection reads its ~1 MB requests into the same kept buffer: a request
    // is released once its batch is appended, even while its response waits for the fsync.
    let (reused, allocated) = node.broker().buffers.counts();
    assert!(
        reused >= 20 && allocated <= 2,
        "request buffers: {reused} reused, {allocated} allocated"
    );

    let disk_reads = node.broker().metrics.fetch_disk_reads.get();
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = common::consumer_config(&b).create().expect("consumer");
        let ends = [(0, RECORDS as i64)].into();
        common::consume_to_ends(&consumer, "big", &ends, Duration::from_secs(120), |m| {
            let i = m.offset() as usize;
            assert_eq!(m.payload(), Some(&value(i)[..]), "value at {i}");
        });
    })
    .await
    .expect("consume");
    let from_memory = pilgrimage_storage::prefetch::served_bytes() - served;
    eprintln!("{direct} bytes written directly, {from_memory} served from read-ahead buffers");
    // Batches written past the page cache are read from the disk: those reads ran with the
    // runtime told their worker blocks (the node here shares the test's runtime).
    let disk_reads = node.broker().metrics.fetch_disk_reads.get() - disk_reads;
    eprintln!("{disk_reads} partition reads waited on the disk");
    assert!(disk_reads > 0, "no fetch read waited on the disk");
    // Past the small batches (written through the page cache, read from it), the large ones
    // come from read-ahead buffers again: what the kernel read ahead of a page-cache read
    // does not send the rest of the log through the page cache.
    assert!(
        from_memory > direct * 3 / 4,
        "only {from_memory} of {direct} bytes served from read-ahead buffers"
    );

    // Read again with bare 16 MiB fetches, as a replaying consumer with large fetches would.
    // A fetch through the page cache (the small batches) has the kernel read ahead into the
    // large ones after them; the fetch there must still read the rest of its range directly.
    let served = pilgrimage_storage::prefetch::served_bytes();
    let addr = node.kafka_addr();
    tokio::task::spawn_blocking(move || {
        let mut raw = common::Raw::connect(addr);
        let (mut offset, mut seen) = (0i64, 0usize);
        while seen < RECORDS {
            let (n, next) = raw
                .fetch_records(&common::fetch_request("big", offset, 16 << 20, 1, 500))
                .expect("fetch");
            assert!(n > 0, "no records at offset {offset}");
            seen += n;
            offset = next;
        }
        assert_eq!(offset as usize, RECORDS);
    })
    .await
    .expect("raw fetches");
    let again = pilgrimage_storage::prefetch::served_bytes() - served;
    eprintln!("{again} bytes of 16 MiB fetches served from read-ahead buffers");
    assert!(
        again > direct * 3 / 4,
        "only {again} of {direct} bytes of 16 MiB fetches served from read-ahead buffers"
    );
    node.shutdown().await.expect("shutdown");
}
