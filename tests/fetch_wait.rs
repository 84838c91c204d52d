//! A fetch with a large `min_bytes` on a backlog returns as soon as it has read what it can,
//! like Kafka's delayed fetch for a fetcher behind the active segment: a read stops at the end
//! of a segment (or of a read-ahead buffer), and waiting there for `min_bytes` of new appends
//! would stall the consumer for `max_wait_ms` at every segment boundary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::time::Duration;

use kafka_protocol::messages::FetchRequest;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const RECORDS: usize = 6_000;

fn fetch(offset: i64, min_bytes: i32, max_wait_ms: i32) -> FetchRequest {
    common::fetch_request("backlog", offset, 4 << 20, min_bytes, max_wait_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_fetched_without_waiting_for_min_bytes() {
    let node = common::node(&[]).await;
    let bootstrap = node.bootstrap_servers();
    // ~6 MB in segments of 1 MiB: a 4 MiB fetch of it stops at each segment's end.
    common::create_topic(&bootstrap, "backlog", 1, &[("segment.bytes", "1048576")]).await;
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> = common::client_config(&bootstrap)
            .set("acks", "all")
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for i in 0..RECORDS {
            let v = vec![(i % 251) as u8; 1000];
            producer
                .send(BaseRecord::<(), _>::to("backlog").partition(0).payload(&v))
                .map_err(|(e, _)| e)
                .expect("queued");
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
    })
    .await
    .unwrap();

    let addr = node.kafka_addr();
    tokio::task::spawn_blocking(move || {
        // The connection gives up after 10 s; the fetches may wait 120 s for 8 MiB that never
        // come, so every answer below was sent because the backlog satisfied the fetch.
        let mut raw = common::Raw::connect(addr);
        let (mut offset, mut seen, mut fetches) = (0i64, 0usize, 0);
        while seen < RECORDS {
            // The active segment's ~1,000 records are fewer bytes than min_bytes: the last
            // fetch asks for one byte.
            let min_bytes = if RECORDS - seen > 1_100 { 8 << 20 } else { 1 };
            let (n, next) = raw
                .fetch_records(&fetch(offset, min_bytes, 120_000))
                .unwrap_or_else(|| panic!("fetch {fetches} at offset {offset} ({seen} records seen) waited for max_wait_ms"));
            assert!(n > 0, "no records at offset {offset} of {RECORDS}");
            seen += n;
            offset = next;
            fetches += 1;
        }
        assert_eq!(seen, RECORDS);
        assert!(fetches > 5, "{fetches} fetches: the reads did not stop at segment ends");

        // At the end of the log the same fetch waits (here 300 ms, for data that never comes)
        // and answers empty.
        let (n, _) = raw.fetch_records(&fetch(offset, 8 << 20, 300)).expect("answer");
        assert_eq!(n, 0);
    })
    .await
    .unwrap();
}
