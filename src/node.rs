//! A running node: start-up (data directory, metadata replay, log recovery, listeners,
//! background tasks) and clean shutdown (flush, close segments, checkpoint, mark clean).
//!
//! Data directory layout:
//! ```text
//! <data dir>/
//!   meta.properties                    cluster.id and node.id, written on first start
//!   .lock                              held while a node runs on this directory
//!   .clean-shutdown                    present only after a clean stop
//!   recovery-point-offset-checkpoint   per partition: offset below which all is fsynced
//!   log-start-offset-checkpoint        per partition: first offset kept
//!   __cluster_metadata-0/              the metadata log
//!   <topic>-<partition>/               partition logs
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::broker::Broker;
use crate::config::{ConfigError, NodeConfig};
use crate::controller::{Controller, ControllerError};
use crate::coordinator::group::{GroupCoordinator, OFFSETS_TOPIC, Settings};
use crate::coordinator::txn::{TXN_TOPIC, TxnCoordinator, TxnSettings};
use crate::handlers::fetch::session::FetchSessionCache;
use crate::metrics::Metrics;
use crate::partition::ReplicaManager;
use crate::partition::manager::CLEAN_SHUTDOWN_FILE;
use crate::server::buffers::RequestBuffers;
use crate::server::memory::MemoryBudget;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("data directory {0} is in use by another node")]
    Locked(PathBuf),
    #[error("{0}")]
    Meta(String),
    #[error(transparent)]
    Controller(#[from] ControllerError),
    #[error(transparent)]
    Storage(#[from] pilgrimage_storage::StorageError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Builds a node from settings (Kafka names).
#[derive(Debug, Default)]
pub struct NodeBuilder {
    settings: BTreeMap<String, String>,
    temp: bool,
}

impl NodeBuilder {
    /// Sets a broker setting by its Kafka name.
    pub fn set(mut self, name: impl Into<String>, value: impl ToString) -> Self {
        self.settings.insert(name.into(), value.to_string());
        self
    }

    pub fn data_dir(self, dir: impl AsRef<Path>) -> Self {
        self.set("log.dirs", dir.as_ref().display())
    }

    /// Kafka listener address, e.g. `127.0.0.1:0` for an ephemeral port.
    pub fn listen(self, addr: impl std::fmt::Display) -> Self {
        self.set("listeners", format!("PLAINTEXT://{addr}"))
    }

    /// Uses a fresh temporary data directory, removed when the node is dropped.
    pub fn temp_data_dir(mut self) -> Self {
        self.temp = true;
        self
    }

    pub async fn start(mut self) -> Result<Node, NodeError> {
        let temp = if self.temp {
            let t = tempfile::Builder::new()
                .prefix("pilgrimage-")
                .tempdir()
                .map_err(|source| NodeError::DataDir {
                    path: std::env::temp_dir(),
                    source,
                })?;
            self.settings
                .insert("log.dirs".into(), t.path().display().to_string());
            Some(t)
        } else {
            None
        };
        let config = NodeConfig::from_settings(self.settings)?;
        Node::start(config, temp).await
    }
}

/// A node running in this process. Dropping it without [`Node::shutdown`] stops serving but
/// skips the clean-shutdown work (the next start then recovers, as after a crash).
#[derive(Debug)]
pub struct Node {
    broker: Arc<Broker>,
    kafka_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    listener: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    lock: Option<File>,
    temp: Option<tempfile::TempDir>,
    cleaner: Option<std::thread::JoinHandle<()>>,
}

impl Node {
    pub fn builder() -> NodeBuilder {
        NodeBuilder::default()
    }

    /// A node on an ephemeral port of 127.0.0.1 with a temporary data directory and no HTTP
    /// server: an embedded Kafka for tests.
    pub async fn start_ephemeral() -> Result<Node, NodeError> {
        Node::builder()
            .listen("127.0.0.1:0")
            .set("http.listen", "none")
            .temp_data_dir()
            .start()
            .await
    }

    /// Starts a node with `config`.
    pub async fn start(
        config: NodeConfig,
        temp: Option<tempfile::TempDir>,
    ) -> Result<Node, NodeError> {
        let config = Arc::new(config);
        let dir = config.data_dir.clone();
        let dir_err = |source| NodeError::DataDir {
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(dir_err)?;
        let lock = lock_dir(&dir)?;
        let cluster_id = read_or_create_meta(&dir, config.node_id)?;
        let marker = dir.join(CLEAN_SHUTDOWN_FILE);
        let clean = marker.exists();
        if clean {
            std::fs::remove_file(&marker).map_err(dir_err)?;
            pilgrimage_storage::checkpoint::sync_dir(&dir)?;
        }
        info!(dir = %dir.display(), clean, "opening data directory");
        set_file_budget(&config);
        // Process-wide, like the handle budget: large appends skip the page cache.
        pilgrimage_storage::direct::set_min_bytes(
            config.int("log.direct.write.min.bytes").max(0) as u64
        );
        pilgrimage_storage::prefetch::configure(
            config.int("fetch.read.ahead.bytes").max(0) as usize,
            config.int("fetch.read.ahead.memory.bytes").max(0) as usize,
        );
        let now = crate::now_ms();
        let controller = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || Controller::open(&dir, clean, now))
                .await
                .map_err(|e| NodeError::Meta(e.to_string()))??
        };
        let replicas = Arc::new(ReplicaManager::new(&dir, Arc::clone(&config), clean)?);
        let image = controller.image();
        replicas.remove_strays(&image);
        replicas.reconcile(&image).await?;
        info!(
            topics = image.topics.len(),
            partitions = replicas.all().len(),
            "logs opened"
        );
        let groups = open_group_coordinator(&controller, &replicas, &config).await?;
        let txns = open_txn_coordinator(&controller, &replicas, &config).await?;

        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| NodeError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let kafka_addr = listener.local_addr().map_err(|source| NodeError::Bind {
            addr: config.listen,
            source,
        })?;
        let advertised = match &config.advertise {
            Some((h, p)) => (h.clone(), *p),
            None if kafka_addr.ip().is_unspecified() => {
                warn!(
                    "listening on all interfaces without advertised.listeners; advertising 127.0.0.1"
                );
                ("127.0.0.1".to_string(), kafka_addr.port())
            }
            None => (kafka_addr.ip().to_string(), kafka_addr.port()),
        };
        let broker = Arc::new(Broker {
            node_id: config.node_id,
            cluster_id,
            advertised,
            controller,
            replicas: Arc::clone(&replicas),
            memory: MemoryBudget::new(config.int("queued.max.request.bytes").max(0) as usize),
            buffers: RequestBuffers::new(
                config.int("socket.request.buffer.pool.bytes").max(0) as usize
            ),
            metrics: Metrics::default(),
            fetch_sessions: FetchSessionCache::new(
                config
                    .int("max.incremental.fetch.session.cache.slots")
                    .max(0) as usize,
            ),
            groups,
            txns,
            config: Arc::clone(&config),
        });
        let shutdown = CancellationToken::new();
        let listener = tokio::spawn(crate::server::run_listener(
            listener,
            Arc::clone(&broker),
            shutdown.clone(),
        ));
        let mut tasks = background(&broker, &shutdown);
        tasks.extend(txn_background(&broker, &shutdown));
        let http_addr = match config.http_listen {
            Some(addr) => {
                let l = crate::http::bind(addr)
                    .await
                    .map_err(|source| NodeError::Bind { addr, source })?;
                let bound = l.local_addr().ok();
                tasks.push(tokio::spawn(crate::http::serve(
                    l,
                    Arc::clone(&broker),
                    shutdown.clone(),
                )));
                bound
            }
            None => None,
        };
        let cleaner = match config.bool("log.cleaner.enable") {
            true => Some(
                spawn_cleaner(Arc::clone(&broker), shutdown.clone())
                    .map_err(|e| NodeError::Meta(format!("cannot start the log cleaner: {e}")))?,
            ),
            false => None,
        };
        info!(kafka = %kafka_addr, http = ?http_addr, node_id = config.node_id, cluster_id = %broker.cluster_id, "node started");
        Ok(Node {
            broker,
            kafka_addr,
            http_addr,
            shutdown,
            listener,
            tasks,
            lock: Some(lock),
            temp,
            cleaner,
        })
    }

    /// The bound Kafka address.
    pub fn kafka_addr(&self) -> SocketAddr {
        self.kafka_addr
    }

    /// `host:port` to give a Kafka client as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        let (h, p) = &self.broker.advertised;
        format!("{h}:{p}")
    }

    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.broker.config.data_dir
    }

    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Stops serving, flushes and closes every log, writes checkpoints and marks the data
    /// directory cleanly shut down.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        info!("shutting down");
        self.shutdown.cancel();
        let _ = (&mut self.listener).await;
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
        if let Some(c) = self.cleaner.take() {
            // A pass in progress finishes (or is discarded safely); wait for the thread.
            let _ = tokio::task::spawn_blocking(move || c.join()).await;
        }
        let broker = Arc::clone(&self.broker);
        let dir = broker.config.data_dir.clone();
        tokio::task::spawn_blocking(move || -> Result<(), NodeError> {
            broker.replicas.close_all()?;
            broker.controller.close()?;
            pilgrimage_storage::checkpoint::write_atomic(&dir.join(CLEAN_SHUTDOWN_FILE), b"")?;
            Ok(())
        })
        .await
        .map_err(|e| NodeError::Meta(e.to_string()))??;
        drop(self.lock.take());
        info!("stopped cleanly");
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let _ = &self.temp;
    }
}

/// An internal topic of a coordinator: created compacted on first start, with its partition
/// count, replication factor and segment size from the named settings.
struct InternalTopic {
    name: &'static str,
    partitions: &'static str,
    replication_factor: &'static str,
    segment_bytes: &'static str,
    compression: &'static str,
}

/// Creates `topic` if the metadata does not hold it yet; returns its partition count.
async fn ensure_internal_topic(
    controller: &Controller,
    replicas: &Arc<ReplicaManager>,
    config: &Arc<NodeConfig>,
    topic: &InternalTopic,
) -> Result<i32, NodeError> {
    use crate::controller::topics::{Cluster, NewTopic, plan_create};
    let mut image = controller.image();
    if image.topic(topic.name).is_none() {
        let cluster = Cluster {
            brokers: vec![config.node_id],
            default_partitions: 1,
            default_replication_factor: 1,
        };
        let rf = config
            .int(topic.replication_factor)
            .clamp(1, cluster.brokers.len() as i64) as i16;
        let new = NewTopic {
            name: topic.name.to_string(),
            num_partitions: config.int(topic.partitions) as i32,
            replication_factor: rf,
            assignments: Vec::new(),
            configs: vec![
                ("cleanup.policy".into(), Some("compact".into())),
                ("compression.type".into(), Some(topic.compression.into())),
                (
                    "segment.bytes".into(),
                    Some(config.int(topic.segment_bytes).to_string()),
                ),
            ],
        };
        let (records, _) = plan_create(&image, &cluster, &new)
            .map_err(|e| NodeError::Meta(format!("cannot create {}: {e:?}", topic.name)))?;
        image = controller.commit(records).await?;
        replicas.reconcile(&image).await?;
    }
    Ok(image
        .topic(topic.name)
        .map_or(1, |t| t.partitions.len() as i32))
}

/// Creates `__consumer_offsets` on first start (compacted, `offsets.topic.num.partitions`
/// partitions) and replays it into the group coordinator.
async fn open_group_coordinator(
    controller: &Controller,
    replicas: &Arc<ReplicaManager>,
    config: &Arc<NodeConfig>,
) -> Result<GroupCoordinator, NodeError> {
    let topic = InternalTopic {
        name: OFFSETS_TOPIC,
        partitions: "offsets.topic.num.partitions",
        replication_factor: "offsets.topic.replication.factor",
        segment_bytes: "offsets.topic.segment.bytes",
        compression: "producer",
    };
    let mut settings = Settings::from_config(config);
    settings.partitions = ensure_internal_topic(controller, replicas, config, &topic).await?;
    let groups = GroupCoordinator::new(settings, Arc::clone(replicas));
    let records = groups
        .load()
        .map_err(|e| NodeError::Meta(format!("cannot load {OFFSETS_TOPIC}: {e:?}")))?;
    info!(records, "group coordinator loaded");
    Ok(groups)
}

/// Creates `__transaction_state` on first start and loads the transaction coordinator.
async fn open_txn_coordinator(
    controller: &Controller,
    replicas: &Arc<ReplicaManager>,
    config: &Arc<NodeConfig>,
) -> Result<TxnCoordinator, NodeError> {
    let topic = InternalTopic {
        name: TXN_TOPIC,
        partitions: "transaction.state.log.num.partitions",
        replication_factor: "transaction.state.log.replication.factor",
        segment_bytes: "transaction.state.log.segment.bytes",
        compression: "uncompressed",
    };
    let mut settings = TxnSettings::from_config(config);
    settings.partitions = ensure_internal_topic(controller, replicas, config, &topic).await?;
    let txns = TxnCoordinator::new(settings, Arc::clone(replicas), config.node_id);
    let ids = txns
        .load()
        .map_err(|e| NodeError::Meta(format!("cannot load {TXN_TOPIC}: {e:?}")))?;
    info!(transactional_ids = ids, "transaction coordinator loaded");
    Ok(txns)
}

/// The transaction coordinator's timers: prepared transactions left by a crash are finished at
/// once; transactions past their timeout are aborted; idle transactional ids expire.
fn txn_background(broker: &Arc<Broker>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    let cfg = &broker.config;
    let abort_every = Duration::from_millis(
        cfg.int("transaction.abort.timed.out.transaction.cleanup.interval.ms")
            .clamp(10, 86_400_000) as u64,
    );
    let expire_every = Duration::from_millis(
        cfg.int("transaction.remove.expired.transaction.cleanup.interval.ms")
            .clamp(10, 86_400_000) as u64,
    );
    let aborts = {
        let broker = Arc::clone(broker);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            broker.txns.recover(&broker).await;
            let mut tick = tokio::time::interval(abort_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                broker.txns.abort_timed_out(&broker).await;
            }
        })
    };
    let expiry = {
        let broker = Arc::clone(broker);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(expire_every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                broker.txns.expire_ids();
            }
        })
    };
    vec![aborts, expiry]
}

/// Raises the soft open-file limit to the hard one (a server needs a handle per connection and
/// per open segment file) and sets the budget of open segment files from
/// `log.segment.files.open.max` (0: half the limit, the rest left to connections and indexes).
fn set_file_budget(config: &NodeConfig) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    // An unlimited hard limit is still capped by the kernel's nr_open (1 Mi by default).
    let hard = lim.maximum.unwrap_or(1 << 20);
    let soft = lim.current.unwrap_or(hard);
    let soft = if soft < hard {
        lim.current = Some(hard);
        match setrlimit(Resource::Nofile, lim) {
            Ok(()) => hard,
            Err(e) => {
                warn!(error = %e, soft, hard, "could not raise the open-file limit");
                soft
            }
        }
    } else {
        soft
    };
    let configured = config.int("log.segment.files.open.max");
    let budget = if configured > 0 {
        configured as usize
    } else {
        (soft / 2).max(64) as usize
    };
    pilgrimage_storage::files::set_limit(budget);
    info!(
        open_files_limit = soft,
        segment_files = budget,
        "file handle budget"
    );
}

/// Retention, checkpoints and time-based flushes.
fn background(broker: &Arc<Broker>, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    let every = |ms: i64, f: Arc<dyn Fn(&Broker) + Send + Sync>| {
        let broker = Arc::clone(broker);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_millis(ms.clamp(10, 86_400_000) as u64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                let (b, job) = (Arc::clone(&broker), Arc::clone(&f));
                // Retention and checkpoints touch files: keep them off the async workers.
                let _ = tokio::task::spawn_blocking(move || job(&b)).await;
            }
        })
    };
    let cfg = &broker.config;
    vec![
        every(
            cfg.int("log.retention.check.interval.ms"),
            Arc::new(|b: &Broker| b.replicas.enforce_retention(crate::now_ms())),
        ),
        every(
            cfg.int("log.flush.offset.checkpoint.interval.ms"),
            Arc::new(|b: &Broker| {
                if let Err(e) = b.replicas.write_checkpoints() {
                    warn!(error = %e, "writing checkpoints failed");
                }
            }),
        ),
        every(
            100,
            Arc::new(|b: &Broker| b.replicas.flush_tick(crate::now_ms())),
        ),
        every(
            1000,
            Arc::new(|b: &Broker| {
                if let Err(e) = b.replicas.checkpoint_recovery_points() {
                    warn!(error = %e, "writing recovery points failed");
                }
                // Segment files beyond the budget that hold unsynced writes: fsynced and closed.
                pilgrimage_storage::files::sweep();
                // Read-ahead buffers of consumers that stopped.
                pilgrimage_storage::prefetch::sweep(Duration::from_secs(5));
            }),
        ),
        every(
            crate::coordinator::group::TICK.as_millis() as i64,
            Arc::new(|b: &Broker| b.groups.tick()),
        ),
        every(
            cfg.int("offsets.retention.check.interval.ms"),
            Arc::new(|b: &Broker| b.groups.expire(&b.topic_view())),
        ),
        every(
            cfg.int("producer.id.expiration.check.interval.ms"),
            Arc::new(|b: &Broker| {
                let expiration = b.config.int("producer.id.expiration.ms");
                b.replicas.expire_producers(crate::now_ms(), expiration);
            }),
        ),
    ]
}

/// The log cleaner: a thread of its own (its passes read and write whole segments), running
/// passes while any compacted log needs one and backing off `log.cleaner.backoff.ms` otherwise.
fn spawn_cleaner(
    broker: Arc<Broker>,
    shutdown: CancellationToken,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let cfg = &broker.config;
    let limits = pilgrimage_storage::CleanerLimits {
        dedupe_entries: (cfg.int("log.cleaner.dedupe.buffer.size").max(1 << 20) / 24) as usize,
        io_bytes_per_sec: cfg
            .value("log.cleaner.io.max.bytes.per.second")
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| *v > 0.0)
            .unwrap_or(f64::INFINITY),
    };
    let backoff =
        Duration::from_millis(cfg.int("log.cleaner.backoff.ms").clamp(10, 3_600_000) as u64);
    std::thread::Builder::new()
        .name("log-cleaner".into())
        .spawn(move || {
            while !shutdown.is_cancelled() {
                if broker.replicas.compact_all(crate::now_ms(), limits) > 0 {
                    continue;
                }
                let until = std::time::Instant::now() + backoff;
                while !shutdown.is_cancelled() && std::time::Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
}

/// Takes an exclusive lock on `<dir>/.lock`, so two nodes never share a data directory.
fn lock_dir(dir: &Path) -> Result<File, NodeError> {
    let path = dir.join(".lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| NodeError::DataDir {
            path: path.clone(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(NodeError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(source)) => Err(NodeError::DataDir { path, source }),
    }
}

/// Reads `meta.properties`, or writes it with a new cluster id on first start. A node id that
/// differs from the one recorded is refused: it would make the node someone else.
fn read_or_create_meta(dir: &Path, node_id: i32) -> Result<String, NodeError> {
    let path = dir.join("meta.properties");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let get = |k: &str| {
                text.lines()
                    .find_map(|l| l.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                    .map(str::trim)
            };
            let cluster = get("cluster.id")
                .ok_or_else(|| NodeError::Meta(format!("{}: no cluster.id", path.display())))?;
            let recorded: i32 = get("node.id")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| NodeError::Meta(format!("{}: no node.id", path.display())))?;
            if recorded != node_id {
                return Err(NodeError::Meta(format!(
                    "{} belongs to node {recorded}, not node {node_id}",
                    dir.display()
                )));
            }
            Ok(cluster.to_string())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cluster = cluster_id(uuid::Uuid::new_v4());
            let text = format!(
                "#Written by pilgrimage on first start\nversion=1\ncluster.id={cluster}\nnode.id={node_id}\n"
            );
            pilgrimage_storage::checkpoint::write_atomic(&path, text.as_bytes())?;
            Ok(cluster)
        }
        Err(source) => Err(NodeError::DataDir { path, source }),
    }
}

/// Kafka's cluster id form: a UUID in URL-safe base64 without padding (22 characters).
fn cluster_id(id: uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_chars() {
        let id = cluster_id(uuid::Uuid::new_v4());
        assert_eq!(id.len(), 22);
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }
}
