//! The node a benchmark runs against when no `--bootstrap` is given: this build's binary as a
//! process of its own with a fresh data directory, stopped with SIGTERM when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct NodeProcess {
    child: Child,
    _dir: tempfile::TempDir,
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

/// Starts a node with `settings` (`name=value`) and waits until it accepts connections;
/// returns it with its bootstrap address.
pub(crate) fn start_node(settings: &[&str]) -> (NodeProcess, String) {
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
