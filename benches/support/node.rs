//! What every benchmark shares: the broker it measures (`--bootstrap`, or this build's binary
//! started as a process of its own with a fresh data directory, stopped with SIGTERM when
//! dropped), whether this is a full run, and topic creation.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct NodeProcess {
    child: Child,
    _dir: tempfile::TempDir,
}

impl NodeProcess {
    #[allow(dead_code)] // not every benchmark reports CPU
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    #[allow(dead_code)] // only the load benchmark evicts the node's files
    pub(crate) fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`; `None` where
/// that is not readable (another OS, a process gone).
#[allow(dead_code)] // not every benchmark reports CPU
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 a second on every Linux this runs on (USER_HZ).
    Some((utime + stime) / 100.0)
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// True under `cargo bench` (a full run); false under `cargo test --benches`, which runs each
/// benchmark as a small smoke load.
pub(crate) fn full_run() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test")
}

/// The broker to measure: `bootstrap` when given, else a node started here with `settings`.
pub(crate) fn target(bootstrap: Option<&str>, settings: &[&str]) -> (Option<NodeProcess>, String) {
    match bootstrap {
        Some(b) => (None, b.to_string()),
        None => {
            let (n, b) = start_node(settings);
            (Some(n), b)
        }
    }
}

/// Creates `name` with `partitions` partitions (replication factor 1) on `bootstrap`.
pub(crate) fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .create()
        .expect("admin client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let results = runtime
        .block_on(admin.create_topics(
            [&NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        ))
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Starts a node with `settings` (`name=value`) and waits until it accepts connections;
/// returns it with its bootstrap address.
fn start_node(settings: &[&str]) -> (NodeProcess, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pilgrimage"));
    cmd.args([
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--http-listen",
        "none",
    ]);
    for s in settings {
        cmd.args(["--set", s]);
    }
    let child = cmd
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start node");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (
        NodeProcess { child, _dir: dir },
        format!("127.0.0.1:{port}"),
    )
}
