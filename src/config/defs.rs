//! Definitions of every setting a node understands: broker settings and topic configs, with
//! Kafka's names, types and defaults, and the broker settings each topic config falls back to.
//!
//! Types and sources use the ids of DescribeConfigs (`ConfigType`, `ConfigSource`), so the
//! answer to an admin client is read straight from these tables.

/// A config's type, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
}

impl Kind {
    /// `ConfigType` id in DescribeConfigs responses.
    pub fn id(self) -> i8 {
        match self {
            Kind::Boolean => 1,
            Kind::String => 2,
            Kind::Int => 3,
            Kind::Short => 4,
            Kind::Long => 5,
            Kind::Double => 6,
            Kind::List => 7,
        }
    }
}

/// What values a setting accepts beyond its type.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    Any,
    AtLeast(i64),
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items are all from this set.
    ListOf(&'static [&'static str]),
    /// A double in [0, 1].
    Ratio,
}

/// One setting.
#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
    /// Kafka's default, as text; `None` when the setting has no default (unset).
    pub default: Option<&'static str>,
    pub check: Check,
    pub doc: &'static str,
}

const LONG_MAX: &str = "9223372036854775807";

macro_rules! def {
    ($name:expr, $kind:ident, $default:expr, $check:expr, $doc:expr) => {
        Def {
            name: $name,
            kind: Kind::$kind,
            default: $default,
            check: $check,
            doc: $doc,
        }
    };
}

mod topics;
pub use topics::{Synonym, TOPIC, TOPIC_INTERNAL, TopicDef, topic_def};

/// Broker settings (file, `--set`, or the typed flags).
pub static BROKER: &[Def] = &[
    def!(
        "node.id",
        Int,
        Some("1"),
        Check::AtLeast(0),
        "The id of this node in the cluster."
    ),
    def!(
        "log.dirs",
        String,
        Some("./pilgrimage-data"),
        Check::Any,
        "Directory holding partition logs and node metadata."
    ),
    def!(
        "listeners",
        String,
        Some("PLAINTEXT://127.0.0.1:9092"),
        Check::Any,
        "Kafka listener, as PLAINTEXT://host:port."
    ),
    def!(
        "advertised.listeners",
        String,
        None,
        Check::Any,
        "Address given to clients in Metadata; defaults to the listener."
    ),
    def!(
        "http.listen",
        String,
        Some("127.0.0.1:8080"),
        Check::Any,
        "Address of the HTTP server (health, metrics); 'none' disables it."
    ),
    def!(
        "num.partitions",
        Int,
        Some("1"),
        Check::AtLeast(1),
        "Partitions of an auto-created topic, or one created with -1 partitions."
    ),
    def!(
        "default.replication.factor",
        Short,
        Some("1"),
        Check::AtLeast(1),
        "Replication factor of auto-created topics."
    ),
    def!(
        "auto.create.topics.enable",
        Boolean,
        Some("true"),
        Check::Any,
        "Create unknown topics named in Metadata requests."
    ),
    def!(
        "delete.topic.enable",
        Boolean,
        Some("true"),
        Check::Any,
        "Allow DeleteTopics."
    ),
    def!(
        "socket.request.max.bytes",
        Int,
        Some("104857600"),
        Check::AtLeast(1024),
        "Largest request frame accepted; larger frames close the connection."
    ),
    def!(
        "socket.request.buffer.pool.bytes",
        Long,
        Some("16777216"),
        Check::AtLeast(0),
        "Memory kept in unused buffers for request bodies of 64 KiB and more, so that large produce requests do not allocate fresh pages each time; 0 keeps none."
    ),
    def!(
        "max.connections",
        Int,
        Some("10000"),
        Check::AtLeast(1),
        "Most client connections open at once; more wait in the accept queue."
    ),
    def!(
        "queued.max.request.bytes",
        Long,
        Some("536870912"),
        Check::AtLeast(1048576),
        "Bytes of requests held in memory at once, node-wide; reading pauses when it is used up."
    ),
    def!(
        "max.in.flight.requests.per.connection",
        Int,
        Some("128"),
        Check::AtLeast(1),
        "Requests of one connection being handled or awaiting their turn to answer."
    ),
    def!(
        "fetch.max.bytes",
        Int,
        Some("57671680"),
        Check::AtLeast(1024),
        "Cap on the bytes of one Fetch response."
    ),
    def!(
        "max.incremental.fetch.session.cache.slots",
        Int,
        Some("1000"),
        Check::AtLeast(0),
        "Fetch sessions (KIP-227) kept at once."
    ),
    def!(
        "message.max.bytes",
        Int,
        Some("1048588"),
        Check::AtLeast(0),
        "Default max.message.bytes of topics."
    ),
    def!(
        "log.segment.bytes",
        Int,
        Some("1073741824"),
        Check::AtLeast(1048576),
        "Default segment.bytes."
    ),
    def!(
        "log.roll.ms",
        Long,
        None,
        Check::AtLeast(1),
        "Default segment.ms."
    ),
    def!(
        "log.roll.hours",
        Int,
        Some("168"),
        Check::AtLeast(1),
        "Default segment.ms, in hours."
    ),
    def!(
        "log.roll.jitter.ms",
        Long,
        None,
        Check::AtLeast(0),
        "Default segment.jitter.ms."
    ),
    def!(
        "log.roll.jitter.hours",
        Int,
        Some("0"),
        Check::AtLeast(0),
        "Default segment.jitter.ms, in hours."
    ),
    def!(
        "log.retention.ms",
        Long,
        None,
        Check::AtLeast(-1),
        "Default retention.ms."
    ),
    def!(
        "log.retention.minutes",
        Int,
        None,
        Check::AtLeast(-1),
        "Default retention.ms, in minutes."
    ),
    def!(
        "log.retention.hours",
        Int,
        Some("168"),
        Check::AtLeast(-1),
        "Default retention.ms, in hours."
    ),
    def!(
        "log.retention.bytes",
        Long,
        Some("-1"),
        Check::AtLeast(-1),
        "Default retention.bytes."
    ),
    def!(
        "producer.id.expiration.ms",
        Int,
        Some("86400000"),
        Check::AtLeast(1),
        "How long a producer id's state is kept after its last write (no open transaction)."
    ),
    def!(
        "producer.id.expiration.check.interval.ms",
        Int,
        Some("600000"),
        Check::AtLeast(1),
        "How often idle producer ids are expired."
    ),
    def!(
        "log.retention.check.interval.ms",
        Long,
        Some("300000"),
        Check::AtLeast(1),
        "How often retention runs."
    ),
    def!(
        "log.index.interval.bytes",
        Int,
        Some("4096"),
        Check::AtLeast(0),
        "Default index.interval.bytes."
    ),
    def!(
        "log.index.size.max.bytes",
        Int,
        Some("10485760"),
        Check::AtLeast(4),
        "Default segment.index.bytes."
    ),
    def!(
        "log.flush.interval.messages",
        Long,
        Some(LONG_MAX),
        Check::AtLeast(1),
        "Default flush.messages."
    ),
    def!(
        "log.flush.interval.ms",
        Long,
        None,
        Check::AtLeast(0),
        "Default flush.ms."
    ),
    def!(
        "log.flush.scheduler.interval.ms",
        Long,
        Some(LONG_MAX),
        Check::AtLeast(0),
        "Default flush.ms when log.flush.interval.ms is unset."
    ),
    def!(
        "fetch.sendfile.enable",
        Boolean,
        Some("true"),
        Check::Any,
        "Send fetched records straight from segment files with sendfile instead of reading them into the node first (read_committed ones too: their aborted transactions are bounded by the offset index)."
    ),
    def!(
        "produce.validate.records",
        Boolean,
        Some("false"),
        Check::Any,
        "Check every record of produced batches (decompressing compressed ones), as Kafka does. Off: a batch is checked by its header and CRC alone (records of compacted topics are always checked, they need keys)."
    ),
    def!(
        "log.direct.write.min.bytes",
        Long,
        Some("262144"),
        Check::AtLeast(0),
        "Appended batches of at least this many bytes are written with O_DIRECT, past the page cache (a copy into a reused aligned buffer instead of into fresh page-cache pages); smaller ones through the page cache. 0: every append through the page cache. File systems that refuse O_DIRECT get page-cache writes."
    ),
    def!(
        "fetch.read.ahead.bytes",
        Int,
        Some("4194304"),
        Check::AtLeast(0),
        "A fetch whose records are not in the page cache reads them and this many bytes more with O_DIRECT into memory, serves the fetches after it from there, and reads the next range ahead in the background (the page cache does not grow with them). 0: every fetch reads through the page cache."
    ),
    def!(
        "fetch.read.ahead.memory.bytes",
        Long,
        Some("67108864"),
        Check::AtLeast(0),
        "Memory all read-ahead buffers (fetch.read.ahead.bytes) may hold together; beyond it fetches read through the page cache."
    ),
    def!(
        "log.segment.files.open.max",
        Int,
        Some("0"),
        Check::AtLeast(0),
        "Segment files kept open at once across all partitions; beyond it the least recently used are closed and reopened on demand. 0: half the process's open-file limit."
    ),
    def!(
        "log.flush.offset.checkpoint.interval.ms",
        Int,
        Some("5000"),
        Check::AtLeast(100),
        "How often recovery points are checkpointed; bounds how much is CRC-scanned after a crash."
    ),
    def!(
        "log.flush.start.offset.checkpoint.interval.ms",
        Int,
        Some("5000"),
        Check::AtLeast(100),
        "How often log start offsets are checkpointed."
    ),
    def!(
        "log.cleanup.policy",
        List,
        Some("delete"),
        Check::ListOf(&["delete", "compact"]),
        "Default cleanup.policy."
    ),
    def!(
        "offsets.topic.num.partitions",
        Int,
        Some("50"),
        Check::AtLeast(1),
        "Partitions of __consumer_offsets; fixed once the topic exists."
    ),
    def!(
        "offsets.topic.replication.factor",
        Short,
        Some("3"),
        Check::AtLeast(1),
        "Replication factor of __consumer_offsets (capped at the brokers present)."
    ),
    def!(
        "offsets.topic.segment.bytes",
        Int,
        Some("104857600"),
        Check::AtLeast(1048576),
        "segment.bytes of __consumer_offsets."
    ),
    def!(
        "offsets.retention.minutes",
        Int,
        Some("10080"),
        Check::AtLeast(1),
        "How long offsets of an empty group (or of topics a group stopped consuming) are kept."
    ),
    def!(
        "offsets.retention.check.interval.ms",
        Long,
        Some("600000"),
        Check::AtLeast(1),
        "How often expired offsets and empty groups are removed."
    ),
    def!(
        "offsets.commit.timeout.ms",
        Int,
        Some("5000"),
        Check::AtLeast(1),
        "How long an offset commit may wait for its record to be durable."
    ),
    def!(
        "offset.metadata.max.bytes",
        Int,
        Some("4096"),
        Check::AtLeast(0),
        "Longest commit metadata accepted (in UTF-16 units, as Kafka counts)."
    ),
    def!(
        "group.initial.rebalance.delay.ms",
        Int,
        Some("3000"),
        Check::AtLeast(0),
        "Wait for more members before the first rebalance of an empty group."
    ),
    def!(
        "group.min.session.timeout.ms",
        Int,
        Some("6000"),
        Check::AtLeast(0),
        "Shortest session timeout a classic member may ask for."
    ),
    def!(
        "group.max.session.timeout.ms",
        Int,
        Some("1800000"),
        Check::AtLeast(0),
        "Longest session timeout a classic member may ask for."
    ),
    def!(
        "group.max.size",
        Int,
        Some("2147483647"),
        Check::AtLeast(1),
        "Most members of a group."
    ),
    def!(
        "group.consumer.session.timeout.ms",
        Int,
        Some("45000"),
        Check::AtLeast(1),
        "Session timeout of consumer-protocol (KIP-848) members."
    ),
    def!(
        "group.consumer.heartbeat.interval.ms",
        Int,
        Some("5000"),
        Check::AtLeast(1),
        "Heartbeat interval given to consumer-protocol members."
    ),
    def!(
        "group.consumer.assignors",
        List,
        Some("uniform,range"),
        Check::ListOf(&["uniform", "range"]),
        "Server-side assignors; the first is the default."
    ),
    def!(
        "transaction.state.log.num.partitions",
        Int,
        Some("50"),
        Check::AtLeast(1),
        "Partitions of __transaction_state; fixed once the topic exists."
    ),
    def!(
        "transaction.state.log.replication.factor",
        Short,
        Some("3"),
        Check::AtLeast(1),
        "Replication factor of __transaction_state (capped at the brokers present)."
    ),
    def!(
        "transaction.state.log.segment.bytes",
        Int,
        Some("104857600"),
        Check::AtLeast(1048576),
        "segment.bytes of __transaction_state."
    ),
    def!(
        "transaction.state.log.min.isr",
        Int,
        Some("2"),
        Check::AtLeast(1),
        "min.insync.replicas of __transaction_state."
    ),
    def!(
        "transaction.max.timeout.ms",
        Int,
        Some("900000"),
        Check::AtLeast(1),
        "Longest transaction.timeout.ms a producer may ask for (INVALID_TRANSACTION_TIMEOUT beyond)."
    ),
    def!(
        "transaction.abort.timed.out.transaction.cleanup.interval.ms",
        Int,
        Some("10000"),
        Check::AtLeast(1),
        "How often transactions past their timeout are aborted."
    ),
    def!(
        "transactional.id.expiration.ms",
        Int,
        Some("604800000"),
        Check::AtLeast(1),
        "How long an idle transactional id is kept."
    ),
    def!(
        "transaction.remove.expired.transaction.cleanup.interval.ms",
        Int,
        Some("3600000"),
        Check::AtLeast(1),
        "How often idle transactional ids are removed."
    ),
    def!(
        "transaction.partition.verification.enable",
        Boolean,
        Some("true"),
        Check::Any,
        "Check that a partition is in its producer's transaction before the first transactional write (KIP-890)."
    ),
    def!(
        "log.cleaner.enable",
        Boolean,
        Some("true"),
        Check::Any,
        "Run the log cleaner for topics with cleanup.policy=compact."
    ),
    def!(
        "log.cleaner.backoff.ms",
        Long,
        Some("15000"),
        Check::AtLeast(0),
        "Pause between cleaner passes when no log needs cleaning."
    ),
    def!(
        "log.cleaner.dedupe.buffer.size",
        Long,
        Some("134217728"),
        Check::AtLeast(1048576),
        "Memory of the cleaner's offset map (24 bytes a key)."
    ),
    def!(
        "log.cleaner.io.max.bytes.per.second",
        Double,
        Some("1.7976931348623157E308"),
        Check::Any,
        "Bytes the cleaner reads and writes per second."
    ),
    def!(
        "log.cleaner.delete.retention.ms",
        Long,
        Some("86400000"),
        Check::AtLeast(0),
        "Default delete.retention.ms."
    ),
    def!(
        "log.cleaner.min.compaction.lag.ms",
        Long,
        Some("0"),
        Check::AtLeast(0),
        "Default min.compaction.lag.ms."
    ),
    def!(
        "log.cleaner.max.compaction.lag.ms",
        Long,
        Some(LONG_MAX),
        Check::AtLeast(1),
        "Default max.compaction.lag.ms."
    ),
    def!(
        "log.cleaner.min.cleanable.ratio",
        Double,
        Some("0.5"),
        Check::Ratio,
        "Default min.cleanable.dirty.ratio."
    ),
    def!(
        "log.segment.delete.delay.ms",
        Long,
        Some("60000"),
        Check::AtLeast(0),
        "Default file.delete.delay.ms."
    ),
    def!(
        "log.preallocate",
        Boolean,
        Some("false"),
        Check::Any,
        "Default preallocate."
    ),
    def!(
        "log.message.timestamp.type",
        String,
        Some("CreateTime"),
        Check::OneOf(&["CreateTime", "LogAppendTime"]),
        "Default message.timestamp.type."
    ),
    def!(
        "log.message.timestamp.before.max.ms",
        Long,
        Some(LONG_MAX),
        Check::AtLeast(0),
        "Default message.timestamp.before.max.ms."
    ),
    def!(
        "log.message.timestamp.after.max.ms",
        Long,
        Some("3600000"),
        Check::AtLeast(0),
        "Default message.timestamp.after.max.ms."
    ),
    def!(
        "log.local.retention.ms",
        Long,
        Some("-2"),
        Check::AtLeast(-2),
        "Default local.retention.ms (tiered storage; accepted, not used)."
    ),
    def!(
        "log.local.retention.bytes",
        Long,
        Some("-2"),
        Check::AtLeast(-2),
        "Default local.retention.bytes (tiered storage; accepted, not used)."
    ),
    def!(
        "compression.type",
        String,
        Some("producer"),
        Check::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        "Default compression.type."
    ),
    def!(
        "compression.gzip.level",
        Int,
        Some("-1"),
        Check::AtLeast(-1),
        "Default compression.gzip.level."
    ),
    def!(
        "compression.lz4.level",
        Int,
        Some("9"),
        Check::AtLeast(1),
        "Default compression.lz4.level."
    ),
    def!(
        "compression.zstd.level",
        Int,
        Some("3"),
        Check::AtLeast(-131072),
        "Default compression.zstd.level."
    ),
    def!(
        "min.insync.replicas",
        Int,
        Some("1"),
        Check::AtLeast(1),
        "Default min.insync.replicas."
    ),
    def!(
        "unclean.leader.election.enable",
        Boolean,
        Some("false"),
        Check::Any,
        "Default unclean.leader.election.enable."
    ),
];

pub fn broker_def(name: &str) -> Option<&'static Def> {
    BROKER.iter().find(|d| d.name == name)
}

/// Checks `value` against a definition and returns it in canonical form.
pub fn validate(def: &Def, value: &str) -> Result<String, String> {
    let v = value.trim();
    let bad = |why: &str| {
        Err(format!(
            "Invalid value {v} for configuration {}: {why}",
            def.name
        ))
    };
    let int = |lo: i64, hi: i64| -> Result<i64, String> {
        match v.parse::<i64>() {
            Ok(n) if n >= lo && n <= hi => Ok(n),
            Ok(_) => Err(format!(
                "Invalid value {v} for configuration {}: out of range",
                def.name
            )),
            Err(_) => Err(format!(
                "Invalid value {v} for configuration {}: not a number",
                def.name
            )),
        }
    };
    let n = match def.kind {
        Kind::Boolean => {
            return match v.to_ascii_lowercase().as_str() {
                "true" | "false" => Ok(v.to_ascii_lowercase()),
                _ => bad("expected true or false"),
            };
        }
        Kind::Int => Some(int(i64::from(i32::MIN), i64::from(i32::MAX))?),
        Kind::Short => Some(int(i64::from(i16::MIN), i64::from(i16::MAX))?),
        Kind::Long => Some(int(i64::MIN, i64::MAX)?),
        Kind::Double => {
            let Ok(d) = v.parse::<f64>() else {
                return bad("not a number");
            };
            if matches!(def.check, Check::Ratio) && !(0.0..=1.0).contains(&d) {
                return bad("must be between 0 and 1");
            }
            return Ok(v.to_string());
        }
        Kind::String | Kind::List => None,
    };
    match (def.check, n) {
        (Check::AtLeast(min), Some(n)) if n < min => bad(&format!("value must be at least {min}")),
        (Check::OneOf(allowed), _) if !allowed.contains(&v) => {
            bad(&format!("String must be one of: {}", allowed.join(", ")))
        }
        (Check::ListOf(allowed), _) => {
            let items: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if items.is_empty() || items.iter().any(|i| !allowed.contains(i)) {
                return bad(&format!("items must be from: {}", allowed.join(", ")));
            }
            Ok(items.join(","))
        }
        _ => Ok(v.to_string()),
    }
}
