//! Transactions with librdkafka against a real node: commits and aborts seen by read_committed
//! and read_uncommitted consumers, consume-transform-produce with `send_offsets_to_transaction`
//! while the producer process is SIGKILLed, and the node SIGKILLed in the middle of commits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail by panicking

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, ListTransactionsRequest, ListTransactionsResponse, TopicName,
    TransactionalId, describe_producers_request, describe_producers_response,
    describe_transactions_response,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("group.initial.rebalance.delay.ms", "0"),
        ("group.min.session.timeout.ms", "1000"),
        (
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            "500",
        ),
    ]
}

fn txn_producer(bootstrap: &str, id: &str) -> ThreadedProducer<DefaultProducerContext> {
    common::client_config(bootstrap)
        .set("transactional.id", id)
        .set("linger.ms", "5")
        .set("transaction.timeout.ms", "10000")
        .create()
        .expect("transactional producer")
}

/// Reads every partition of `topic` from the start with `isolation`, at most `fetch_max` bytes
/// a partition per fetch, until nothing more comes for two seconds; returns the values by
/// partition, in order.
fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
    fetch_max: usize,
) -> BTreeMap<i32, Vec<String>> {
    let consumer: BaseConsumer = common::consumer_config(bootstrap)
        .set("isolation.level", isolation)
        .set("fetch.message.max.bytes", fetch_max.to_string())
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut idle_since = Instant::now();
    while idle_since.elapsed() < Duration::from_secs(2) {
        assert!(Instant::now() < deadline, "reading {topic} timed out");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                idle_since = Instant::now();
                out.entry(m.partition())
                    .or_default()
                    .push(String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap());
            }
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    out
}

/// Committed and aborted transactions alternate; read_committed must see only the committed
/// ones. Records go out of the segment files with sendfile (the aborted transactions of each
/// fetch bounded by the offset index), fetched 1,000 bytes at a time with an index entry every
/// 256 bytes, so most fetches end between transactions and their bounds are exercised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_and_aborted_transactions_by_isolation_level() {
    isolation_levels(&[("log.index.interval.bytes", "256")]).await;
}

/// The same, with records read into memory (`fetch.sendfile.enable=false`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_and_aborted_transactions_read_into_memory() {
    isolation_levels(&[("fetch.sendfile.enable", "false")]).await;
}

async fn isolation_levels(extra: &[(&'static str, &'static str)]) {
    let mut settings = settings();
    settings.extend_from_slice(extra);
    let node = common::node(&settings).await;
    let bootstrap = node.bootstrap_servers();
    common::create_topic(&bootstrap, "txn-alt", 3, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer = txn_producer(&b, "alternating");
        producer.init_transactions(Duration::from_secs(30)).unwrap();
        for round in 0..20 {
            producer.begin_transaction().unwrap();
            for i in 0..50 {
                let value = format!("{round}-{i}");
                let key = format!("k{i}");
                producer
                    .send(BaseRecord::to("txn-alt").key(&key).payload(&value))
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
            if round % 2 == 0 {
                producer
                    .commit_transaction(Duration::from_secs(30))
                    .unwrap();
            } else {
                // librdkafka purges records still queued when a transaction is aborted; flush
                // first so the aborted records reach the log and read_uncommitted sees them.
                producer.flush(Duration::from_secs(30)).unwrap();
                producer.abort_transaction(Duration::from_secs(30)).unwrap();
            }
        }
        let committed = read_all(&b, "txn-alt", 3, "read_committed", 1000);
        let all = read_all(&b, "txn-alt", 3, "read_uncommitted", 1000);
        let count = |m: &BTreeMap<i32, Vec<String>>| m.values().map(Vec::len).sum::<usize>();
        assert_eq!(count(&all), 1000, "read_uncommitted sees every record");
        assert_eq!(
            count(&committed),
            500,
            "read_committed sees the committed ones"
        );
        for vals in committed.values() {
            for v in vals {
                let round: i32 = v.split('-').next().unwrap().parse().unwrap();
                assert_eq!(round % 2, 0, "aborted record {v} seen by read_committed");
            }
        }
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();
}

// --- consume-transform-produce while the producer process is SIGKILLed ----------------------

/// Names what a `ctp_worker` process works on: `bootstrap,input,output,group,transactional.id`.
const CTP_ENV: &str = "PILGRIMAGE_TEST_CTP";
const CTP_RECORDS: usize = 100_000;
const CTP_PARTITIONS: i32 = 3;

/// A consume-transform-produce worker in a process of its own, for a test to SIGKILL: the test
/// binary re-runs itself with only this test and `PILGRIMAGE_TEST_CTP` set. It reads the input
/// topic in a consumer group (read_committed), writes `out-<value>` to the same partition of the
/// output topic and commits its input offsets in the same transaction, until it is killed. Any
/// transactional error ends the process (exit code 3); the test starts a new one.
#[test]
#[ignore = "started as a process of its own by consume_transform_produce_exactly_once"]
fn ctp_worker() {
    let spec = std::env::var(CTP_ENV).expect("PILGRIMAGE_TEST_CTP=bootstrap,in,out,group,txid");
    let parts: Vec<&str> = spec.split(',').collect();
    let [bootstrap, input, output, group, txid] = parts[..] else {
        panic!("bad {CTP_ENV}: {spec}");
    };
    let consumer: BaseConsumer = common::client_config(bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("session.timeout.ms", "3000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .create()
        .expect("consumer");
    consumer.subscribe(&[input]).expect("subscribe");
    let producer = txn_producer(bootstrap, txid);
    let fail = |what: &str, e: rdkafka::error::KafkaError| -> ! {
        eprintln!("ctp worker: {what}: {e}");
        std::process::exit(3)
    };
    if let Err(e) = producer.init_transactions(Duration::from_secs(30)) {
        fail("init_transactions", e);
    }
    loop {
        let mut batch: Vec<(i32, String)> = Vec::new();
        let started = Instant::now();
        while batch.len() < 500 && started.elapsed() < Duration::from_millis(200) {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => batch.push((
                    m.partition(),
                    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                )),
                Some(Err(e)) => eprintln!("ctp worker: consume: {e}"),
                None => {}
            }
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = producer.begin_transaction() {
            fail("begin_transaction", e);
        }
        for (p, v) in &batch {
            let value = format!("out-{v}");
            let mut record = BaseRecord::<(), _>::to(output)
                .partition(*p)
                .payload(&value);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        r,
                    )) => {
                        record = r;
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err((e, _)) => fail("send", e),
                }
            }
        }
        let positions = match consumer.position() {
            Ok(p) => p,
            Err(e) => fail("position", e),
        };
        let Some(meta) = consumer.group_metadata() else {
            eprintln!("ctp worker: no group metadata");
            std::process::exit(3)
        };
        if let Err(e) =
            producer.send_offsets_to_transaction(&positions, &meta, Duration::from_secs(30))
        {
            fail("send_offsets_to_transaction", e);
        }
        if let Err(e) = producer.commit_transaction(Duration::from_secs(30)) {
            fail("commit_transaction", e);
        }
    }
}

fn spawn_ctp_worker(spec: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", "ctp_worker", "--nocapture"])
        .env(CTP_ENV, spec)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("ctp worker process")
}

/// Sum of the high watermarks of `topic` (what has been written, committed or not).
fn written(consumer: &BaseConsumer, topic: &str, partitions: i32) -> i64 {
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map(|(_, high)| high)
                .unwrap_or(0)
        })
        .sum()
}

/// Sum of the offsets `group` has committed on `topic`.
fn committed_sum(consumer: &BaseConsumer, topic: &str, partitions: i32) -> i64 {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    match consumer.committed_offsets(tpl, Duration::from_secs(10)) {
        Ok(c) => c
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .sum(),
        Err(_) => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_transform_produce_exactly_once() {
    let node = common::node(&settings()).await;
    let bootstrap = node.bootstrap_servers();
    common::create_topic(&bootstrap, "ctp-in", CTP_PARTITIONS, &[]).await;
    common::create_topic(&bootstrap, "ctp-out", CTP_PARTITIONS, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer: ThreadedProducer<DefaultProducerContext> =
            common::client_config(&b).create().expect("producer");
        for i in 0..CTP_RECORDS {
            let v = i.to_string();
            let mut record = BaseRecord::<(), _>::to("ctp-in")
                .partition((i % CTP_PARTITIONS as usize) as i32)
                .payload(&v);
            while let Err((_, r)) = producer.send(record) {
                record = r;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        producer.flush(Duration::from_secs(60)).unwrap();

        let spec = format!("{b},ctp-in,ctp-out,ctp,ctp-worker");
        let monitor: BaseConsumer = common::client_config(&b)
            .set("group.id", "ctp")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(240);
        let mut worker = spawn_ctp_worker(&spec);
        let mut restarts = 0;
        // SIGKILL the worker twice, once a quarter and once about 60% of the records are out.
        for (kill, at) in [(1, 25_000), (2, 60_000)] {
            while written(&monitor, "ctp-out", CTP_PARTITIONS) < at {
                assert!(Instant::now() < deadline, "no progress before kill {kill}");
                if let Ok(Some(status)) = worker.try_wait() {
                    eprintln!("worker exited with {status}; starting another");
                    restarts += 1;
                    worker = spawn_ctp_worker(&spec);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            worker.kill().expect("SIGKILL the worker");
            worker.wait().expect("reap the worker");
            eprintln!("worker SIGKILLed ({kill}) with {at}+ records written");
            worker = spawn_ctp_worker(&spec);
        }
        while committed_sum(&monitor, "ctp-in", CTP_PARTITIONS) < CTP_RECORDS as i64 {
            assert!(
                Instant::now() < deadline,
                "the input was never consumed to its end"
            );
            if let Ok(Some(status)) = worker.try_wait() {
                eprintln!("worker exited with {status}; starting another");
                restarts += 1;
                worker = spawn_ctp_worker(&spec);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        worker.kill().expect("stop the worker");
        worker.wait().expect("reap the worker");
        assert!(restarts < 10, "the worker failed {restarts} times");

        let committed = read_all(&b, "ctp-out", CTP_PARTITIONS, "read_committed", 1 << 20);
        let all = read_all(&b, "ctp-out", CTP_PARTITIONS, "read_uncommitted", 1 << 20);
        let total: usize = committed.values().map(Vec::len).sum();
        let aborted = all.values().map(Vec::len).sum::<usize>() - total;
        eprintln!(
            "{total} records committed, {aborted} written by aborted transactions, {restarts} \
             worker restarts after errors"
        );
        let mut seen = vec![false; CTP_RECORDS];
        for (p, values) in &committed {
            let mut last = None;
            for v in values {
                let n: usize = v.strip_prefix("out-").unwrap().parse().unwrap();
                assert!(!seen[n], "{v} written twice");
                seen[n] = true;
                assert_eq!(
                    n % CTP_PARTITIONS as usize,
                    *p as usize,
                    "{v} in partition {p}"
                );
                assert!(last < Some(n), "{v} after {last:?} in partition {p}");
                last = Some(n);
            }
        }
        let missing: Vec<usize> = (0..CTP_RECORDS).filter(|&n| !seen[n]).take(10).collect();
        assert!(missing.is_empty(), "records never written: {missing:?}");
        assert_eq!(total, CTP_RECORDS);
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();
}

// --- the node SIGKILLed in the middle of commits ---------------------------------------------

/// Runs small transactions (five records to each of three partitions, values `t<txn>-<i>`) until
/// one fails; returns the transactions whose commit was acknowledged and the one in doubt.
fn commit_until_failure(bootstrap: &str, id: &str, first_txn: u32) -> (Vec<u32>, Option<u32>) {
    let producer: ThreadedProducer<DefaultProducerContext> = common::client_config(bootstrap)
        .set("transactional.id", id)
        .set("linger.ms", "1")
        .set("transaction.timeout.ms", "10000")
        .set("message.timeout.ms", "5000")
        .create()
        .expect("transactional producer");
    producer
        .init_transactions(Duration::from_secs(60))
        .expect("init_transactions");
    let mut acked = Vec::new();
    let mut txn = first_txn;
    loop {
        if producer.begin_transaction().is_err() {
            return (acked, None);
        }
        for i in 0..15 {
            let v = format!("t{txn}-{i}");
            if producer
                .send(
                    BaseRecord::<(), _>::to("txn-crash")
                        .partition(i % 3)
                        .payload(&v),
                )
                .is_err()
            {
                return (acked, Some(txn));
            }
        }
        match producer.commit_transaction(Duration::from_secs(5)) {
            Ok(()) => acked.push(txn),
            Err(_) => return (acked, Some(txn)),
        }
        txn += 1;
    }
}

#[test]
fn node_sigkilled_during_commits_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let args = [
        "--set",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=500",
    ];
    let mut node = common::ChildNode::start(dir.path(), port, &args);
    let bootstrap = node.bootstrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(common::create_topic(&bootstrap, "txn-crash", 3, &[]));
    let mut acked = Vec::new();
    let mut in_doubt = Vec::new();
    let mut next = 0;
    for round in 0..3 {
        let b = bootstrap.clone();
        let producer = std::thread::spawn(move || commit_until_failure(&b, "crash", next));
        // Let it commit for a while, then SIGKILL the node under it.
        std::thread::sleep(Duration::from_millis(1500));
        node.kill();
        let (ok, doubt) = producer.join().unwrap();
        eprintln!(
            "round {round}: {} transactions acknowledged, in doubt: {doubt:?}",
            ok.len()
        );
        assert!(!ok.is_empty(), "round {round} committed nothing");
        next = doubt.unwrap_or(*ok.last().unwrap()) + 1;
        acked.extend(ok);
        in_doubt.extend(doubt);
        node = common::ChildNode::start(dir.path(), port, &args);
    }
    // A producer with the same transactional id finds the coordinator recovered: it can begin
    // and commit, and its records become visible to read_committed (the LSO is not stuck on a
    // transaction left open by the crashes).
    let (ok, _) = {
        let b = bootstrap.clone();
        let h = std::thread::spawn(move || {
            let producer = txn_producer(&b, "crash");
            producer.init_transactions(Duration::from_secs(60)).unwrap();
            producer.begin_transaction().unwrap();
            for i in 0..15 {
                let v = format!("t{next}-{i}");
                producer
                    .send(
                        BaseRecord::<(), _>::to("txn-crash")
                            .partition(i % 3)
                            .payload(&v),
                    )
                    .map_err(|(e, _)| e)
                    .unwrap();
            }
            producer
                .commit_transaction(Duration::from_secs(30))
                .unwrap();
            (vec![next], ())
        });
        h.join().unwrap()
    };
    acked.extend(ok);
    let committed = read_all(&bootstrap, "txn-crash", 3, "read_committed", 1 << 20);
    let mut by_txn: BTreeMap<u32, usize> = BTreeMap::new();
    for v in committed.values().flatten() {
        let txn: u32 = v[1..].split('-').next().unwrap().parse().unwrap();
        *by_txn.entry(txn).or_default() += 1;
    }
    for (txn, n) in &by_txn {
        assert_eq!(
            *n, 15,
            "transaction {txn} is partly visible ({n} of 15 records)"
        );
        assert!(
            acked.contains(txn) || in_doubt.contains(txn),
            "transaction {txn} was neither acknowledged nor in doubt"
        );
    }
    for txn in &acked {
        assert!(
            by_txn.contains_key(txn),
            "acknowledged transaction {txn} lost"
        );
    }
    let recovered: Vec<_> = in_doubt.iter().filter(|t| by_txn.contains_key(t)).collect();
    eprintln!(
        "{} transactions acknowledged, all visible; in doubt {in_doubt:?}, of which committed \
         {recovered:?}",
        acked.len()
    );
    node.stop();
}

// --- DescribeTransactions, ListTransactions, DescribeProducers -------------------------------

fn describe_txn(
    raw: &mut common::Raw,
    id: &str,
) -> describe_transactions_response::TransactionState {
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.into()))]);
    raw.send(ApiKey::DescribeTransactions, 0, &req);
    let (_, resp): (_, DescribeTransactionsResponse) =
        raw.recv(ApiKey::DescribeTransactions, 0).unwrap();
    resp.transaction_states.into_iter().next().unwrap()
}

fn list_txns(raw: &mut common::Raw, states: &[&str]) -> Vec<(String, String)> {
    let req = ListTransactionsRequest::default().with_state_filters(
        states
            .iter()
            .map(|s| StrBytes::from_string((*s).into()))
            .collect(),
    );
    raw.send(ApiKey::ListTransactions, 1, &req);
    let (_, resp): (_, ListTransactionsResponse) = raw.recv(ApiKey::ListTransactions, 1).unwrap();
    assert_eq!(resp.error_code, 0);
    resp.transaction_states
        .into_iter()
        .map(|t| {
            (
                t.transactional_id.to_string(),
                t.transaction_state.to_string(),
            )
        })
        .collect()
}

fn describe_producers(
    raw: &mut common::Raw,
    topic: &str,
    partition: i32,
) -> Vec<describe_producers_response::ProducerState> {
    let req = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_indexes(vec![partition]),
    ]);
    raw.send(ApiKey::DescribeProducers, 0, &req);
    let (_, resp): (_, DescribeProducersResponse) = raw.recv(ApiKey::DescribeProducers, 0).unwrap();
    let p = resp
        .topics
        .into_iter()
        .next()
        .unwrap()
        .partitions
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(p.error_code, 0);
    p.active_producers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_list_transactions_and_producers() {
    let node = common::node(&settings()).await;
    let bootstrap = node.bootstrap_servers();
    let addr = node.kafka_addr();
    common::create_topic(&bootstrap, "txn-describe", 2, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let mut raw = common::Raw::connect(addr);
        let unknown = describe_txn(&mut raw, "nobody");
        assert_eq!(unknown.error_code, 105, "TRANSACTIONAL_ID_NOT_FOUND");

        let producer = txn_producer(&b, "described");
        producer.init_transactions(Duration::from_secs(30)).unwrap();
        let empty = describe_txn(&mut raw, "described");
        assert_eq!(empty.error_code, 0);
        assert_eq!(empty.transaction_state.as_str(), "Empty");
        assert_eq!(empty.transaction_timeout_ms, 10_000);
        let pid = empty.producer_id.0;
        assert!(pid >= 0);

        producer.begin_transaction().unwrap();
        for i in 0..10 {
            let v = format!("v{i}");
            producer
                .send(
                    BaseRecord::<(), _>::to("txn-describe")
                        .partition(1)
                        .payload(&v),
                )
                .map_err(|(e, _)| e)
                .unwrap();
        }
        producer.flush(Duration::from_secs(30)).unwrap();
        let ongoing = describe_txn(&mut raw, "described");
        assert_eq!(ongoing.transaction_state.as_str(), "Ongoing");
        assert_eq!(ongoing.producer_id.0, pid);
        assert!(ongoing.transaction_start_time_ms > 0);
        let topics: Vec<(String, Vec<i32>)> = ongoing
            .topics
            .iter()
            .map(|t| (t.topic.to_string(), t.partitions.clone()))
            .collect();
        assert_eq!(topics, vec![("txn-describe".to_string(), vec![1])]);
        let listed = list_txns(&mut raw, &["Ongoing"]);
        assert!(
            listed.contains(&("described".into(), "Ongoing".into())),
            "{listed:?}"
        );
        assert!(list_txns(&mut raw, &["CompleteAbort"]).is_empty());

        let producers = describe_producers(&mut raw, "txn-describe", 1);
        assert_eq!(producers.len(), 1, "{producers:?}");
        let state = &producers[0];
        assert_eq!(state.producer_id.0, pid);
        assert_eq!(state.last_sequence, 9);
        assert_eq!(
            state.current_txn_start_offset, 0,
            "the open transaction began at 0"
        );
        assert!(describe_producers(&mut raw, "txn-describe", 0).is_empty());

        producer
            .commit_transaction(Duration::from_secs(30))
            .unwrap();
        let done = describe_txn(&mut raw, "described");
        assert_eq!(done.transaction_state.as_str(), "CompleteCommit");
        assert!(done.topics.is_empty());
        let state = &describe_producers(&mut raw, "txn-describe", 1)[0];
        assert_eq!(state.current_txn_start_offset, -1, "no open transaction");
        let listed = list_txns(&mut raw, &[]);
        assert!(
            listed.contains(&("described".into(), "CompleteCommit".into())),
            "{listed:?}"
        );
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_transactional_ids_and_producers_expire() {
    let node = common::node(&[
        ("transactional.id.expiration.ms", "1000"),
        (
            "transaction.remove.expired.transaction.cleanup.interval.ms",
            "200",
        ),
        ("producer.id.expiration.ms", "1000"),
        ("producer.id.expiration.check.interval.ms", "200"),
    ])
    .await;
    let bootstrap = node.bootstrap_servers();
    let addr = node.kafka_addr();
    common::create_topic(&bootstrap, "txn-expire", 1, &[]).await;
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let producer = txn_producer(&b, "short-lived");
        producer.init_transactions(Duration::from_secs(30)).unwrap();
        producer.begin_transaction().unwrap();
        producer
            .send(
                BaseRecord::<(), _>::to("txn-expire")
                    .partition(0)
                    .payload("v"),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        producer
            .commit_transaction(Duration::from_secs(30))
            .unwrap();
        drop(producer);
        let mut raw = common::Raw::connect(addr);
        assert_eq!(describe_txn(&mut raw, "short-lived").error_code, 0);
        assert_eq!(describe_producers(&mut raw, "txn-expire", 0).len(), 1);
        // Idle for longer than both expirations: the id and the partition's producer are gone.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let id_gone = describe_txn(&mut raw, "short-lived").error_code == 105;
            let producer_gone = describe_producers(&mut raw, "txn-expire", 0).is_empty();
            if id_gone && producer_gone {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "still there after 20 s: id gone {id_gone}, producer gone {producer_gone}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        // The id can be used again: a fresh start.
        let producer = txn_producer(&b, "short-lived");
        producer.init_transactions(Duration::from_secs(30)).unwrap();
        assert_eq!(
            describe_txn(&mut raw, "short-lived")
                .transaction_state
                .as_str(),
            "Empty"
        );
    })
    .await
    .unwrap();
    node.shutdown().await.unwrap();
}
