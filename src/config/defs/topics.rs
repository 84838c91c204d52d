//! Topic configs: Kafka's 33 of 4.x and its internal ones, each with the broker settings it
//! falls back to when a topic does not set it.

use super::*;

/// A broker setting a topic config falls back to, with the factor that turns its unit into the
/// topic config's (hours → ms is 3,600,000).
#[derive(Debug)]
pub struct Synonym {
    pub name: &'static str,
    pub scale: i64,
}

const fn syn(name: &'static str) -> Synonym {
    Synonym { name, scale: 1 }
}

/// A topic config: its definition and the broker settings it falls back to, in order.
#[derive(Debug)]
pub struct TopicDef {
    pub def: Def,
    pub synonyms: &'static [Synonym],
}

macro_rules! topic {
    ($name:expr, $kind:ident, $default:expr, $check:expr, [$($syn:expr),*], $doc:expr) => {
        TopicDef { def: def!($name, $kind, Some($default), $check, $doc), synonyms: &[$($syn),*] }
    };
}

/// The 33 topic configs of Kafka 4.x, with the default an unconfigured broker gives them.
pub static TOPIC: &[TopicDef] = &[
    topic!(
        "cleanup.policy",
        List,
        "delete",
        Check::ListOf(&["delete", "compact"]),
        [syn("log.cleanup.policy")],
        "delete: drop old segments; compact: keep the latest record per key."
    ),
    topic!(
        "compression.type",
        String,
        "producer",
        Check::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        [syn("compression.type")],
        "Codec batches are stored with; producer keeps what the producer sent."
    ),
    topic!(
        "compression.gzip.level",
        Int,
        "-1",
        Check::AtLeast(-1),
        [syn("compression.gzip.level")],
        "gzip level for broker-side recompression."
    ),
    topic!(
        "compression.lz4.level",
        Int,
        "9",
        Check::AtLeast(1),
        [syn("compression.lz4.level")],
        "lz4 level for broker-side recompression."
    ),
    topic!(
        "compression.zstd.level",
        Int,
        "3",
        Check::AtLeast(-131072),
        [syn("compression.zstd.level")],
        "zstd level for broker-side recompression."
    ),
    topic!(
        "delete.retention.ms",
        Long,
        "86400000",
        Check::AtLeast(0),
        [syn("log.cleaner.delete.retention.ms")],
        "How long tombstones of compacted topics are kept."
    ),
    topic!(
        "file.delete.delay.ms",
        Long,
        "60000",
        Check::AtLeast(0),
        [syn("log.segment.delete.delay.ms")],
        "Delay before a deleted segment's files are removed (readers keep open files readable)."
    ),
    topic!(
        "flush.messages",
        Long,
        "9223372036854775807",
        Check::AtLeast(1),
        [syn("log.flush.interval.messages")],
        "fsync after this many records not yet durable (acks=all is always fsynced before its answer)."
    ),
    topic!(
        "flush.ms",
        Long,
        "9223372036854775807",
        Check::AtLeast(0),
        [
            syn("log.flush.interval.ms"),
            syn("log.flush.scheduler.interval.ms")
        ],
        "fsync records left unflushed this long (acks=all is always fsynced before its answer)."
    ),
    topic!(
        "follower.replication.throttled.replicas",
        List,
        "",
        Check::Any,
        [],
        "Replicas throttled as followers (accepted, not used)."
    ),
    topic!(
        "index.interval.bytes",
        Int,
        "4096",
        Check::AtLeast(0),
        [syn("log.index.interval.bytes")],
        "Bytes between offset index entries."
    ),
    topic!(
        "leader.replication.throttled.replicas",
        List,
        "",
        Check::Any,
        [],
        "Replicas throttled as leaders (accepted, not used)."
    ),
    topic!(
        "local.retention.bytes",
        Long,
        "-2",
        Check::AtLeast(-2),
        [syn("log.local.retention.bytes")],
        "Tiered storage (accepted, not used)."
    ),
    topic!(
        "local.retention.ms",
        Long,
        "-2",
        Check::AtLeast(-2),
        [syn("log.local.retention.ms")],
        "Tiered storage (accepted, not used)."
    ),
    topic!(
        "max.compaction.lag.ms",
        Long,
        "9223372036854775807",
        Check::AtLeast(1),
        [syn("log.cleaner.max.compaction.lag.ms")],
        "Longest a record stays uncompacted."
    ),
    topic!(
        "max.message.bytes",
        Int,
        "1048588",
        Check::AtLeast(0),
        [syn("message.max.bytes")],
        "Largest batch accepted, log overhead included."
    ),
    topic!(
        "message.timestamp.after.max.ms",
        Long,
        "3600000",
        Check::AtLeast(0),
        [syn("log.message.timestamp.after.max.ms")],
        "How far in the future a CreateTime timestamp may be."
    ),
    topic!(
        "message.timestamp.before.max.ms",
        Long,
        "9223372036854775807",
        Check::AtLeast(0),
        [syn("log.message.timestamp.before.max.ms")],
        "How far in the past a CreateTime timestamp may be."
    ),
    topic!(
        "message.timestamp.type",
        String,
        "CreateTime",
        Check::OneOf(&["CreateTime", "LogAppendTime"]),
        [syn("log.message.timestamp.type")],
        "CreateTime keeps producer timestamps; LogAppendTime stamps batches on append."
    ),
    topic!(
        "min.cleanable.dirty.ratio",
        Double,
        "0.5",
        Check::Ratio,
        [syn("log.cleaner.min.cleanable.ratio")],
        "Dirty share of a log before the cleaner compacts it."
    ),
    topic!(
        "min.compaction.lag.ms",
        Long,
        "0",
        Check::AtLeast(0),
        [syn("log.cleaner.min.compaction.lag.ms")],
        "Shortest a record stays uncompacted."
    ),
    topic!(
        "min.insync.replicas",
        Int,
        "1",
        Check::AtLeast(1),
        [syn("min.insync.replicas")],
        "Replicas that must hold an acks=all batch."
    ),
    topic!(
        "preallocate",
        Boolean,
        "false",
        Check::Any,
        [syn("log.preallocate")],
        "Preallocate segment files (accepted, not used)."
    ),
    topic!(
        "remote.log.copy.disable",
        Boolean,
        "false",
        Check::Any,
        [],
        "Tiered storage (accepted, not used)."
    ),
    topic!(
        "remote.log.delete.on.disable",
        Boolean,
        "false",
        Check::Any,
        [],
        "Tiered storage (accepted, not used)."
    ),
    topic!(
        "remote.storage.enable",
        Boolean,
        "false",
        Check::OneOf(&["false"]),
        [],
        "Tiered storage is not supported."
    ),
    topic!(
        "retention.bytes",
        Long,
        "-1",
        Check::AtLeast(-1),
        [syn("log.retention.bytes")],
        "Largest size of a partition before old segments are deleted; -1: no limit."
    ),
    topic!(
        "retention.ms",
        Long,
        "604800000",
        Check::AtLeast(-1),
        [
            syn("log.retention.ms"),
            Synonym {
                name: "log.retention.minutes",
                scale: 60_000
            },
            Synonym {
                name: "log.retention.hours",
                scale: 3_600_000
            }
        ],
        "Age after which segments are deleted; -1: forever."
    ),
    topic!(
        "segment.bytes",
        Int,
        "1073741824",
        Check::AtLeast(1048576),
        [syn("log.segment.bytes")],
        "Size at which a segment is rolled."
    ),
    topic!(
        "segment.index.bytes",
        Int,
        "10485760",
        Check::AtLeast(4),
        [syn("log.index.size.max.bytes")],
        "Size at which a segment's index forces a roll."
    ),
    topic!(
        "segment.jitter.ms",
        Long,
        "0",
        Check::AtLeast(0),
        [
            syn("log.roll.jitter.ms"),
            Synonym {
                name: "log.roll.jitter.hours",
                scale: 3_600_000
            }
        ],
        "Random jitter subtracted from segment.ms (accepted, not used)."
    ),
    topic!(
        "segment.ms",
        Long,
        "604800000",
        Check::AtLeast(1),
        [
            syn("log.roll.ms"),
            Synonym {
                name: "log.roll.hours",
                scale: 3_600_000
            }
        ],
        "Age at which a segment is rolled."
    ),
    topic!(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        Check::Any,
        [syn("unclean.leader.election.enable")],
        "Elect out-of-sync replicas (accepted, not used)."
    ),
];

/// Topic configs Kafka defines as internal: accepted and honoured, listed by DescribeConfigs only
/// when a topic sets them. `internal.segment.bytes` allows segments below `segment.bytes`'s
/// 1 MiB floor (Kafka 4.1), which tests use to exercise rolling and retention quickly.
pub static TOPIC_INTERNAL: &[TopicDef] = &[TopicDef {
    def: def!(
        "internal.segment.bytes",
        Int,
        None,
        Check::AtLeast(14),
        "Overrides segment.bytes without its 1 MiB floor."
    ),
    synonyms: &[],
}];

pub fn topic_def(name: &str) -> Option<&'static TopicDef> {
    TOPIC
        .iter()
        .chain(TOPIC_INTERNAL)
        .find(|d| d.def.name == name)
}
