//! Consumer group APIs: the classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup),
//! KIP-848 (ConsumerGroupHeartbeat, ConsumerGroupDescribe), committed offsets and group
//! administration. They translate requests for `coordinator::group` and its answers back.

pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod delete_groups;
pub mod describe_groups;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod sync_group;

use kafka_protocol::error::ResponseError;
use kafka_protocol::protocol::StrBytes;

use super::Ctx;

/// The client host as Kafka reports it (`InetAddress.toString()`: "/127.0.0.1").
pub(crate) fn client_host(ctx: &Ctx) -> String {
    format!("/{}", ctx.conn.peer.ip())
}

pub(crate) fn client_id(ctx: &Ctx) -> String {
    ctx.header.client_id.clone().unwrap_or_default()
}

pub(crate) fn code(e: Option<ResponseError>) -> i16 {
    e.map_or(0, |e| e.code())
}

pub(crate) fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}
