//! Consumer groups through librdkafka: members split a topic's partitions without overlap, take
//! over those of a member that leaves or is killed, resume from committed offsets after a node
//! restart, and a static member rejoins without a rebalance; with the classic protocol and with
//! `group.protocol=consumer` (KIP-848).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};

const TOPIC_PARTITIONS: i32 = 6;

fn group_settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "1000"),
        ("group.consumer.session.timeout.ms", "6000"),
        ("group.consumer.heartbeat.interval.ms", "500"),
    ]
}

/// Counts rebalances a member goes through.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);
impl ClientContext for Counting {}
impl ConsumerContext for Counting {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if matches!(r, Rebalance::Assign(_)) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A group member polling on its own thread and publishing its assignment.
struct Member {
    assigned: Arc<Mutex<BTreeSet<i32>>>,
    rebalances: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Member {
    fn start(config: ClientConfig, topic: &str) -> Member {
        let assigned = Arc::new(Mutex::new(BTreeSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Counting::default();
        let rebalances = Arc::clone(&ctx.0);
        let consumer: BaseConsumer<Counting> = config.create_with_context(ctx).expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let (a, s) = (Arc::clone(&assigned), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let _ = consumer.poll(Duration::from_millis(50));
                if let Ok(tpl) = consumer.assignment() {
                    *a.lock().unwrap() = tpl.elements().iter().map(|e| e.partition()).collect();
                }
            }
            // Dropping the consumer closes it: it leaves the group (unless static).
        });
        Member {
            assigned,
            rebalances,
            stop,
            thread: Some(thread),
        }
    }

    fn assignment(&self) -> BTreeSet<i32> {
        self.assigned.lock().unwrap().clone()
    }

    fn close(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

fn member_config(bootstrap: &str, group: &str, protocol: &str) -> ClientConfig {
    let mut c = common::client_config(bootstrap);
    c.set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest");
    if protocol == "consumer" {
        c.set("group.protocol", "consumer");
    } else {
        c.set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500");
    }
    c
}

/// Waits until the members' assignments are disjoint, cover every partition, and each member
/// has one; returns them.
fn wait_for_split(members: &[&Member], what: &str) -> Vec<BTreeSet<i32>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let sets: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        let balanced = sets.iter().all(|s| !s.is_empty());
        if union.len() == TOPIC_PARTITIONS as usize && total == union.len() && balanced {
            return sets;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no clean split, assignments {sets:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Overlap must never be seen, not even in the middle of a rebalance.
fn assert_never_overlapping(members: &[&Member], for_how_long: Duration) {
    let until = Instant::now() + for_how_long;
    while Instant::now() < until {
        let sets: Vec<BTreeSet<i32>> = members.iter().map(|m| m.assignment()).collect();
        let total: usize = sets.iter().map(BTreeSet::len).sum();
        let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
        assert_eq!(total, union.len(), "two members own a partition: {sets:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn split_and_take_over(protocol: &'static str) {
    let node = common::node(&group_settings()).await;
    let bootstrap = node.bootstrap_servers();
    let topic = format!("split-{protocol}");
    common::create_topic(&bootstrap, &topic, TOPIC_PARTITIONS, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let group = format!("g-{protocol}");
        let m1 = Member::start(member_config(&b, &group, protocol), &topic);
        let m2 = Member::start(member_config(&b, &group, protocol), &topic);
        let m3 = Member::start(member_config(&b, &group, protocol), &topic);
        let sets = wait_for_split(&[&m1, &m2, &m3], "three members");
        assert!(sets.iter().all(|s| s.len() == 2), "balanced: {sets:?}");
        // A member closes: the other two take its partitions.
        m3.close();
        wait_for_split(&[&m1, &m2], "after a member closed");
        assert_never_overlapping(&[&m1, &m2], Duration::from_millis(300));
        // A member killed (a consumer in a process of its own, SIGKILLed): taken over within
        // the session timeout.
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--ignored", "--exact", "member_process", "--nocapture"])
            .env(MEMBER_ENV, format!("{b},{group},{topic},{protocol}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("member process");
        // Wait for that member to take a share (the others shrink to fewer than 6).
        let deadline = Instant::now() + Duration::from_secs(30);
        while m1.assignment().len() + m2.assignment().len() == TOPIC_PARTITIONS as usize {
            assert!(Instant::now() < deadline, "the member process never joined");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            matches!(child.try_wait(), Ok(None)),
            "the member process is running"
        );
        let killed_at = Instant::now();
        child.kill().expect("SIGKILL the member process");
        child.wait().expect("reap the member process");
        wait_for_split(&[&m1, &m2], "after a member was killed");
        let took = killed_at.elapsed();
        assert!(took < Duration::from_secs(25), "take-over took {took:?}");
        eprintln!("{protocol}: partitions of a killed member taken over after {took:?}");
        m1.close();
        m2.close();
    })
    .await
    .expect("group scenario");
    node.shutdown().await.expect("clean shutdown");
}

/// Names the group a `member_process` joins: `bootstrap,group,topic,protocol`.
const MEMBER_ENV: &str = "PILGRIMAGE_TEST_MEMBER";

/// A group member in a process of its own, for a test to SIGKILL: the test binary re-runs itself
/// with only this test and `PILGRIMAGE_TEST_MEMBER` set. It polls until it is killed.
#[test]
#[ignore = "started as a process of its own by split_and_take_over"]
fn member_process() {
    let spec =
        std::env::var(MEMBER_ENV).expect("PILGRIMAGE_TEST_MEMBER=bootstrap,group,topic,protocol");
    let parts: Vec<&str> = spec.split(',').collect();
    let [bootstrap, group, topic, protocol] = parts[..] else {
        panic!("bad {MEMBER_ENV}: {spec}");
    };
    let consumer: BaseConsumer = member_config(bootstrap, group, protocol)
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    loop {
        let _ = consumer.poll(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_members_split_partitions_and_take_over() {
    split_and_take_over("classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_members_split_partitions_and_take_over() {
    split_and_take_over("consumer").await;
}

fn produce(bootstrap: &str, topic: &str, n: usize) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        common::client_config(bootstrap).create().expect("producer");
    for i in 0..n {
        let v = format!("{i}");
        producer
            .send(
                BaseRecord::<(), _>::to(topic)
                    .partition((i % 3) as i32)
                    .payload(&v),
            )
            .expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Consumes with manual synchronous commits until `stop_after` records (or everything) were
/// read; returns the values read.
fn consume_committing(
    bootstrap: &str,
    group: &str,
    topic: &str,
    stop_after: usize,
    protocol: &str,
) -> Vec<usize> {
    let consumer: BaseConsumer = member_config(bootstrap, group, protocol)
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut got = Vec::new();
    let mut idle = Instant::now();
    while got.len() < stop_after && idle.elapsed() < Duration::from_secs(8) {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.expect("message");
        got.push(
            std::str::from_utf8(m.payload().expect("payload"))
                .expect("utf8")
                .parse()
                .expect("number"),
        );
        consumer
            .commit_message(&m, CommitMode::Sync)
            .expect("commit");
        idle = Instant::now();
    }
    got
}

async fn resume_after_restart(protocol: &'static str) {
    let dir = tempfile::tempdir().expect("dir");
    let port = common::free_port();
    let mut args: Vec<String> = Vec::new();
    for (k, v) in group_settings() {
        args.push("--set".into());
        args.push(format!("{k}={v}"));
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = common::ChildNode::start(dir.path(), port, &argv);
    let topic = format!("resume-{protocol}");
    common::create_topic(&node.bootstrap(), &topic, 3, &[]).await;
    let b = node.bootstrap();
    let (t, g) = (topic.clone(), format!("resume-{protocol}"));
    let first = tokio::task::spawn_blocking(move || {
        produce(&b, &t, 3000);
        consume_committing(&b, &g, &t, 1500, protocol)
    })
    .await
    .expect("first half");
    assert_eq!(first.len(), 1500);
    // The node dies without warning; committed offsets must survive.
    node.kill();
    let node = common::ChildNode::start(dir.path(), port, &argv);
    let b = node.bootstrap();
    let (t, g) = (topic.clone(), format!("resume-{protocol}"));
    let second =
        tokio::task::spawn_blocking(move || consume_committing(&b, &g, &t, 3000, protocol))
            .await
            .expect("second half");
    let mut all: Vec<usize> = first.iter().chain(&second).copied().collect();
    all.sort_unstable();
    let expected: Vec<usize> = (0..3000).collect();
    let dups = first.len() + second.len() - all.iter().collect::<BTreeSet<_>>().len();
    assert_eq!(dups, 0, "{protocol}: records read twice");
    assert_eq!(
        all, expected,
        "{protocol}: every record exactly once across the restart"
    );
    node.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_group_resumes_from_committed_offsets_after_sigkill() {
    resume_after_restart("classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_group_resumes_from_committed_offsets_after_sigkill() {
    resume_after_restart("consumer").await;
}

async fn static_member_rejoins(protocol: &'static str) {
    let node = common::node(&group_settings()).await;
    let bootstrap = node.bootstrap_servers();
    let topic = format!("static-{protocol}");
    common::create_topic(&bootstrap, &topic, TOPIC_PARTITIONS, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let group = format!("static-{protocol}");
        let config = |instance: &str| {
            let mut c = member_config(&b, &group, protocol);
            c.set("group.instance.id", instance);
            c
        };
        let a = Member::start(config("a"), &topic);
        let s = Member::start(config("s"), &topic);
        let before = wait_for_split(&[&a, &s], "two static members");
        let a_rebalances = a.rebalances.load(Ordering::SeqCst);
        // The static member goes away (no LeaveGroup) and comes back under the same instance id.
        s.close();
        std::thread::sleep(Duration::from_millis(500));
        let s2 = Member::start(config("s"), &topic);
        let after = wait_for_split(&[&a, &s2], "after the static member returned");
        assert_eq!(
            after, before,
            "{protocol}: same assignment after the static member returned"
        );
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            a.rebalances.load(Ordering::SeqCst),
            a_rebalances,
            "{protocol}: the other member saw no rebalance"
        );
        a.close();
        s2.close();
    })
    .await
    .expect("static scenario");
    node.shutdown().await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classic_static_member_rejoins_without_rebalance() {
    static_member_rejoins("classic").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_protocol_static_member_rejoins_without_rebalance() {
    static_member_rejoins("consumer").await;
}

/// Lag as `kafka-consumer-groups --describe` computes it: log end offset minus committed offset,
/// from DescribeGroups and OffsetFetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_groups_and_offset_fetch_show_lag() {
    let node = common::node(&group_settings()).await;
    let bootstrap = node.bootstrap_servers();
    common::create_topic(&bootstrap, "lagging", 3, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        produce(&b, "lagging", 300);
        let read = consume_committing(&b, "lag-group", "lagging", 120, "classic");
        assert_eq!(read.len(), 120);
        let consumer: BaseConsumer = member_config(&b, "lag-group", "classic")
            .create()
            .expect("consumer");
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..3 {
            tpl.add_partition("lagging", p);
        }
        let committed = consumer
            .committed_offsets(tpl, Duration::from_secs(10))
            .expect("OffsetFetch");
        let mut lag = BTreeMap::new();
        for e in committed.elements() {
            let (_, hi) = consumer
                .fetch_watermarks("lagging", e.partition(), Duration::from_secs(5))
                .expect("watermarks");
            let c = e.offset().to_raw().unwrap_or(0).max(0);
            lag.insert(e.partition(), hi - c);
        }
        assert_eq!(lag.values().sum::<i64>(), 180, "lag per partition {lag:?}");
        let groups = consumer
            .fetch_group_list(Some("lag-group"), Duration::from_secs(10))
            .expect("DescribeGroups");
        let g = &groups.groups()[0];
        assert_eq!(g.name(), "lag-group");
        assert_eq!(g.state(), "Empty", "the member left after committing");
        assert_eq!(g.protocol_type(), "consumer");
    })
    .await
    .expect("lag scenario");
    node.shutdown().await.expect("clean shutdown");
}
