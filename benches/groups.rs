//! Group coordinator benchmark: offset commits per second (each answered once durable) and the
//! time a 10-member group takes to rebalance when a member joins or leaves.
//!
//! ```text
//! cargo bench --bench groups                       # node started from this build
//! cargo bench --bench groups -- --bootstrap H:P    # any Kafka-compatible broker
//! ```
//! Without `--bench` (e.g. `cargo test --benches`) it runs a small smoke load.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark fails by panicking

#[path = "support/node.rs"]
mod node;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

fn frame<T: Encodable>(key: ApiKey, version: i16, corr: i32, body: &T) -> BytesMut {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(corr)
        .with_client_id(Some(StrBytes::from_static_str("bench")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let mut out = BytesMut::with_capacity(buf.len() + 4);
    out.put_i32(buf.len() as i32);
    out.extend_from_slice(&buf);
    out
}

fn read_response<T: Decodable>(s: &mut TcpStream, key: ApiKey, version: i16) -> T {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).unwrap();
    let mut b = bytes::Bytes::from(buf);
    b.advance(4);
    if key.response_header_version(version) >= 1 {
        b.advance(1);
    }
    T::decode(&mut b, version).unwrap()
}

/// Pipelined standalone commits from `groups` connections; returns commits per second.
fn commits(bootstrap: &str, topic: &str, groups: usize, requests: usize, partitions: i32) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..groups)
        .map(|g| {
            let (addr, topic) = (bootstrap.to_string(), topic.to_string());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                s.set_nodelay(true).unwrap();
                let mut sent = 0;
                while sent < requests {
                    let n = 64.min(requests - sent);
                    let mut out = BytesMut::new();
                    for i in 0..n {
                        let req = OffsetCommitRequest::default()
                            .with_group_id(GroupId(StrBytes::from_string(format!("bench-{g}"))))
                            .with_generation_id_or_member_epoch(-1)
                            .with_topics(vec![
                                OffsetCommitRequestTopic::default()
                                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                                    .with_partitions(
                                        (0..partitions)
                                            .map(|p| {
                                                OffsetCommitRequestPartition::default()
                                                    .with_partition_index(p)
                                                    .with_committed_offset((sent + i) as i64)
                                            })
                                            .collect(),
                                    ),
                            ]);
                        out.extend_from_slice(&frame(
                            ApiKey::OffsetCommit,
                            8,
                            (sent + i) as i32,
                            &req,
                        ));
                    }
                    s.write_all(&out).unwrap();
                    for _ in 0..n {
                        let r: OffsetCommitResponse =
                            read_response(&mut s, ApiKey::OffsetCommit, 8);
                        assert!(r.topics[0].partitions.iter().all(|p| p.error_code == 0));
                    }
                    sent += n;
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    (groups * requests * partitions as usize) as f64 / started.elapsed().as_secs_f64()
}

struct Member {
    assigned: Arc<Mutex<BTreeSet<i32>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn member(bootstrap: &str, group: &str, topic: &str) -> Member {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let assigned = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let (a, s) = (Arc::clone(&assigned), Arc::clone(&stop));
    let thread = std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            let _ = consumer.poll(Duration::from_millis(20));
            if let Ok(t) = consumer.assignment() {
                *a.lock().unwrap() = t.elements().iter().map(|e| e.partition()).collect();
            }
        }
    });
    Member {
        assigned,
        stop,
        thread,
    }
}

/// Time until the members' assignments are a disjoint cover of `partitions`, each non-empty.
fn until_split(members: &[&Member], partitions: i32) -> Duration {
    let started = Instant::now();
    loop {
        let sets: Vec<BTreeSet<i32>> = members
            .iter()
            .map(|m| m.assigned.lock().unwrap().clone())
            .collect();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        if union.len() == partitions as usize
            && total == union.len()
            && sets.iter().all(|s| !s.is_empty())
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no split: {sets:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let full = node::full_run();
    let given = raw
        .iter()
        .position(|a| a == "--bootstrap")
        .and_then(|i| raw.get(i + 1))
        .map(String::as_str);
    let (_node, bootstrap) = node::target(given, &["group.min.session.timeout.ms=1000"]);
    let topic = format!("group-bench-{}", std::process::id());
    node::create_topic(&bootstrap, &topic, 20);
    let requests = if full { 25_000 } else { 200 };
    let rate = commits(&bootstrap, &topic, 10, requests, 4);
    println!(
        "offset commits (10 groups, 4 partitions a request, pipelined): {rate:>10.0} commits/s"
    );
    let single = commits(&bootstrap, &topic, 1, requests / 5, 1);
    println!(
        "offset commits (1 group, 1 partition a request, pipelined):    {single:>10.0} commits/s"
    );

    let group = format!("rebalance-{}", std::process::id());
    let mut members: Vec<Member> = (0..10)
        .map(|_| member(&bootstrap, &group, &topic))
        .collect();
    let first = until_split(&members.iter().collect::<Vec<_>>(), 20);
    println!("10-member group formed (incl. group.initial.rebalance.delay.ms): {first:>9.3?}");
    std::thread::sleep(Duration::from_secs(1));
    let joiner = member(&bootstrap, &group, &topic);
    members.push(joiner);
    let join = until_split(&members.iter().collect::<Vec<_>>(), 20);
    println!("rebalance when an 11th member joins:                        {join:>9.3?}");
    std::thread::sleep(Duration::from_secs(1));
    let leaving = members.pop().unwrap();
    leaving.stop.store(true, Ordering::SeqCst);
    let started = Instant::now();
    leaving.thread.join().unwrap();
    let leave = until_split(&members.iter().collect::<Vec<_>>(), 20) + started.elapsed();
    println!("rebalance when a member leaves (close included):            {leave:>9.3?}");
    for m in members {
        m.stop.store(true, Ordering::SeqCst);
        m.thread.join().unwrap();
    }
}
