//! The `pilgrimage` binary: `serve` runs a node; more commands build on the same client.

#![forbid(unsafe_code)]

/// mimalloc keeps freed memory for reuse: request and response buffers of up to a few MiB
/// are allocated for every request, and with the system allocator each one was a fresh
/// mmap the kernel zero-filled page by page (a sixth of the node's CPU when producing).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use pilgrimage::{Node, NodeConfig};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "pilgrimage",
    version,
    about = "A Kafka-compatible message broker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a node (broker and controller). With no arguments: a single-node cluster with data
    /// in ./pilgrimage-data, Kafka on 127.0.0.1:9092 and HTTP on 127.0.0.1:8080.
    #[command(alias = "start")]
    Serve(ServeArgs),
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// TOML file of settings, named as Kafka names them (log.retention.ms, num.partitions, ...).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Directory for logs and metadata (log.dirs).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Kafka listener, HOST:PORT (listeners).
    #[arg(long)]
    listen: Option<String>,
    /// Address given to clients, HOST:PORT (advertised.listeners).
    #[arg(long)]
    advertise: Option<String>,
    /// This node's id (node.id).
    #[arg(long)]
    node_id: Option<i32>,
    /// HTTP listener for /health and /metrics, HOST:PORT, or "none".
    #[arg(long)]
    http_listen: Option<String>,
    /// Any setting by its Kafka name, e.g. --set num.partitions=6 (repeatable; wins over the file).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings: BTreeMap<String, String> = match &args.config {
        Some(p) => NodeConfig::read_file(p)?,
        None => BTreeMap::new(),
    };
    for kv in &args.set {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("--set {kv}: expected NAME=VALUE"))?;
        settings.insert(k.trim().to_string(), v.trim().to_string());
    }
    if let Some(d) = &args.data_dir {
        settings.insert("log.dirs".into(), d.display().to_string());
    }
    if let Some(l) = &args.listen {
        settings.insert("listeners".into(), format!("PLAINTEXT://{l}"));
    }
    if let Some(a) = &args.advertise {
        settings.insert("advertised.listeners".into(), format!("PLAINTEXT://{a}"));
    }
    if let Some(n) = args.node_id {
        settings.insert("node.id".into(), n.to_string());
    }
    if let Some(h) = &args.http_listen {
        settings.insert("http.listen".into(), h.clone());
    }
    let config = NodeConfig::from_settings(settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let node = Node::start(config, None).await?;
        wait_for_signal().await;
        node.shutdown().await?;
        anyhow::Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
