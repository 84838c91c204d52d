//! Helpers shared by the integration tests: nodes (in-process and as child processes), rdkafka
//! clients, and a raw-socket Kafka client for requests no well-behaved client would send.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

/// A node for one test, with a temporary data directory and an ephemeral port.
pub(crate) async fn node(settings: &[(&str, &str)]) -> pilgrimage::Node {
    let mut b = pilgrimage::Node::builder()
        .listen("127.0.0.1:0")
        .set("http.listen", "none")
        .temp_data_dir();
    for (k, v) in settings {
        b = b.set(*k, *v);
    }
    b.start().await.expect("node starts")
}

pub(crate) fn client_config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("socket.timeout.ms", "10000");
    c
}

/// A consumer configuration for assigned partitions. Offsets are not committed: consumer groups
/// are not what these tests exercise.
pub(crate) fn consumer_config(bootstrap: &str) -> ClientConfig {
    let mut c = client_config(bootstrap);
    c.set("group.id", "assigned-partitions")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "100");
    c
}

pub(crate) async fn create_topic(
    bootstrap: &str,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) {
    let admin: AdminClient<DefaultClientContext> =
        client_config(bootstrap).create().expect("admin client");
    let mut t = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        t = t.set(k, v);
    }
    let res = admin
        .create_topics(
            [&t],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .expect("create_topics request");
    for r in res {
        r.expect("topic created");
    }
}

/// A port that was free a moment ago, for child-process nodes that must keep their port across
/// restarts.
pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A node run as a child process of the `pilgrimage` binary, so a test can SIGKILL it.
pub(crate) struct ChildNode {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl ChildNode {
    pub(crate) fn start(data_dir: &Path, port: u16, extra: &[&str]) -> ChildNode {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pilgrimage"));
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--http-listen")
            .arg("none")
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = cmd.spawn().expect("spawn pilgrimage");
        let node = ChildNode { child, port };
        node.wait_ready();
        node
    }

    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("node on port {} did not start", self.port);
    }

    /// SIGKILL: no flush, no clean shutdown.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }

    /// SIGTERM and wait for a clean exit.
    pub(crate) fn stop(mut self) {
        let pid = self.child.id() as i32;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "node exited with {status}");
    }
}

impl Drop for ChildNode {
    /// A test that fails midway must not leave its node running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw Kafka connection: sends any request, including malformed ones.
pub(crate) struct Raw {
    pub(crate) stream: TcpStream,
    correlation: i32,
}

impl Raw {
    pub(crate) fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Raw {
            stream,
            correlation: 0,
        }
    }

    /// Sends bytes as they are.
    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a well-formed request with header `key`/`version`, returning its correlation id.
    pub(crate) fn send<T: Encodable>(&mut self, key: ApiKey, version: i16, body: &T) -> i32 {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("raw-test")));
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, key.request_header_version(version))
            .expect("header");
        body.encode(&mut buf, version).expect("body");
        let mut framed = BytesMut::new();
        framed.put_i32(buf.len() as i32);
        framed.extend_from_slice(&buf);
        self.stream.write_all(&framed).expect("send");
        self.correlation
    }

    /// Reads one response frame; `None` if the node closed the connection.
    pub(crate) fn recv_frame(&mut self) -> Option<BytesMut> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let len = i32::from_be_bytes(len) as usize;
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).ok()?;
        Some(BytesMut::from(&buf[..]))
    }

    /// Reads and decodes one response of `key`/`version`.
    pub(crate) fn recv<T: Decodable>(&mut self, key: ApiKey, version: i16) -> Option<(i32, T)> {
        let mut frame = self.recv_frame()?;
        let corr = frame.get_i32();
        if key.response_header_version(version) >= 1 {
            let tagged = frame.get_u8();
            assert_eq!(tagged, 0, "no tagged fields expected in response headers");
        }
        Some((
            corr,
            T::decode(&mut frame, version).expect("decodable response"),
        ))
    }

    /// Sends a Fetch (v11) and counts the records of its first partition's answer: (records,
    /// next offset, as [`count_records`]). `None` when no answer came before the read
    /// timeout; fails on a partition error.
    pub(crate) fn fetch_records(
        &mut self,
        request: &kafka_protocol::messages::FetchRequest,
    ) -> Option<(usize, i64)> {
        self.send(ApiKey::Fetch, 11, request);
        let (_, r): (i32, kafka_protocol::messages::FetchResponse) =
            self.recv(ApiKey::Fetch, 11)?;
        let p = &r.responses[0].partitions[0];
        assert_eq!(p.error_code, 0, "fetch error");
        Some(count_records(p.records.as_deref().unwrap_or_default()))
    }

    /// True when the node has closed the connection (reads see EOF or a reset).
    pub(crate) fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// A sessionless Fetch (v11) of one partition from `offset`.
pub(crate) fn fetch_request(
    topic: &str,
    offset: i64,
    partition_max: i32,
    min_bytes: i32,
    max_wait_ms: i32,
) -> kafka_protocol::messages::FetchRequest {
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    kafka_protocol::messages::FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(partition_max.max(min_bytes))
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(kafka_protocol::messages::TopicName(StrBytes::from_string(
                    topic.to_string(),
                )))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(partition_max),
                ]),
        ])
}

/// Records and the next offset after the whole batches in `bytes` (-1 if none is whole): a
/// fetch may end in a cut batch.
pub(crate) fn count_records(mut bytes: &[u8]) -> (usize, i64) {
    let (mut n, mut next) = (0, -1);
    while bytes.len() >= 61 {
        let base = i64::from_be_bytes(bytes[0..8].try_into().unwrap());
        let size = 12 + i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        if size > bytes.len() {
            break;
        }
        let delta = i32::from_be_bytes(bytes[23..27].try_into().unwrap());
        n += i32::from_be_bytes(bytes[57..61].try_into().unwrap()) as usize;
        next = base + i64::from(delta) + 1;
        bytes = &bytes[size..];
    }
    (n, next)
}

/// Reads `topic` from the beginning of each partition in `ends` up to its end offset there,
/// checking that each partition's offsets are contiguous from 0, and hands every record to
/// `check`. Fails when `timeout` passes first or a record cannot be read.
pub(crate) fn consume_to_ends(
    consumer: &BaseConsumer,
    topic: &str,
    ends: &std::collections::BTreeMap<i32, i64>,
    timeout: Duration,
    mut check: impl FnMut(&BorrowedMessage<'_>),
) {
    let mut tpl = TopicPartitionList::new();
    for &p in ends.keys() {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut next: std::collections::BTreeMap<i32, i64> = ends.keys().map(|&p| (p, 0)).collect();
    let deadline = Instant::now() + timeout;
    while next.iter().any(|(p, o)| *o < ends[p]) {
        assert!(
            Instant::now() < deadline,
            "{topic} not read to its end: at {next:?}, ends {ends:?}"
        );
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.expect("record");
        let p = m.partition();
        assert_eq!(m.offset(), next[&p], "{topic}[{p}]: offsets are contiguous");
        next.insert(p, m.offset() + 1);
        check(&m);
    }
}
