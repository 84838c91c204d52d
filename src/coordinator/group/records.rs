//! Records of the `__consumer_offsets` topic: the group coordinator's durable state.
//!
//! The topic is compacted, so each record's key names what it describes and the latest record
//! of a key wins; a null value (tombstone) deletes it.
//!
//! ```text
//! key   = kind u8 | group (u16 length + UTF-8) [| topic (u16 length + UTF-8) | partition i32]
//!         kind 0: committed offset of (group, topic, partition)
//!         kind 1: classic group metadata of (group)
//!         kind 2: consumer group (KIP-848) state of (group)
//! value = JSON of the matching struct below; null for a tombstone
//! ```
//! Binary keys keep compaction exact; JSON values keep the topic readable with any consumer.

use serde::{Deserialize, Serialize};

/// What a record key names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    ClassicGroup {
        group: String,
    },
    ConsumerGroup {
        group: String,
    },
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp: i64,
    /// Explicit expiry (OffsetCommit v2-4 retention_time); -1 uses offsets.retention.minutes.
    pub expire_timestamp: i64,
}

/// A member of a classic group as persisted after each completed rebalance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassicMemberValue {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// Classic group metadata (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassicGroupValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<ClassicMemberValue>,
}

/// Topic id → partitions, flattened for JSON.
pub type FlatAssignment = Vec<(uuid::Uuid, Vec<i32>)>;

/// A member of a consumer group (KIP-848) with its subscription and current assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerMemberValue {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topics: Vec<String>,
    pub subscribed_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// topic id → partitions the member owns.
    pub assigned: FlatAssignment,
    /// Partitions the member still has to revoke.
    pub revoking: FlatAssignment,
}

/// Consumer group (KIP-848) state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroupValue {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<ConsumerMemberValue>,
    /// member id → topic id → partitions: the target assignment.
    pub target: Vec<(String, FlatAssignment)>,
}

const KIND_OFFSET: u8 = 0;
const KIND_CLASSIC: u8 = 1;
const KIND_CONSUMER: u8 = 2;

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&b[..usize::from(len)]);
}

fn take_str(buf: &mut &[u8]) -> Option<String> {
    let (len, rest) = buf.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    let s = rest.get(..len)?;
    *buf = &rest[len..];
    String::from_utf8(s.to_vec()).ok()
}

impl Key {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        match self {
            Key::Offset {
                group,
                topic,
                partition,
            } => {
                out.push(KIND_OFFSET);
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.extend_from_slice(&partition.to_be_bytes());
            }
            Key::ClassicGroup { group } => {
                out.push(KIND_CLASSIC);
                put_str(&mut out, group);
            }
            Key::ConsumerGroup { group } => {
                out.push(KIND_CONSUMER);
                put_str(&mut out, group);
            }
        }
        out
    }

    pub fn decode(mut buf: &[u8]) -> Option<Key> {
        let (&kind, rest) = buf.split_first()?;
        buf = rest;
        let group = take_str(&mut buf)?;
        let key = match kind {
            KIND_OFFSET => {
                let topic = take_str(&mut buf)?;
                let (p, rest) = buf.split_first_chunk::<4>()?;
                buf = rest;
                Key::Offset {
                    group,
                    topic,
                    partition: i32::from_be_bytes(*p),
                }
            }
            KIND_CLASSIC => Key::ClassicGroup { group },
            KIND_CONSUMER => Key::ConsumerGroup { group },
            _ => return None,
        };
        buf.is_empty().then_some(key)
    }

    pub fn group(&self) -> &str {
        match self {
            Key::Offset { group, .. }
            | Key::ClassicGroup { group }
            | Key::ConsumerGroup { group } => group,
        }
    }
}

/// Java's `String.hashCode` (over UTF-16 code units), which Kafka uses to pick a group's
/// `__consumer_offsets` partition: the same group lands on the same partition number here.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Kafka's `Utils.abs(groupId.hashCode) % partitions`.
pub fn partition_for(group: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for k in [
            Key::Offset {
                group: "g".into(),
                topic: "orders".into(),
                partition: 7,
            },
            Key::ClassicGroup {
                group: "grüppe".into(),
            },
            Key::ConsumerGroup {
                group: String::new(),
            },
        ] {
            assert_eq!(Key::decode(&k.encode()), Some(k));
        }
        assert_eq!(Key::decode(&[9, 0, 0]), None);
        assert_eq!(Key::decode(&[0, 0, 5, b'a']), None);
    }

    #[test]
    fn partition_matches_kafka() {
        // Java: "test-group".hashCode() == 627841412 → abs % 50 = 12
        assert_eq!(java_string_hash("test-group"), 627841412);
        assert_eq!(partition_for("test-group", 50), 12);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
    }
}
