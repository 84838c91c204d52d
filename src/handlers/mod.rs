//! Request handlers: one module per API key, one table that both dispatches requests and
//! answers ApiVersions, so the two cannot drift apart.
//!
//! A handler decides what a request means and always returns a response, errors as codes
//! inside it. Only what Kafka itself answers by disconnecting closes the connection: an unknown
//! API key, an unsupported version (ApiVersions excepted, KIP-511), a body that does not decode,
//! and an acks=0 produce that failed.

pub mod api_versions;
pub mod cluster;
pub mod configs;
pub mod fetch;
pub mod find_coordinator;
pub mod group;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
mod ops;
pub mod produce;
pub mod topics;
pub mod txn;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use pilgrimage_protocol::fetch::Part;
use pilgrimage_protocol::header::RequestHeader;
use pilgrimage_protocol::request::{self, CheckedBody};
use pilgrimage_protocol::response;
use pilgrimage_protocol::shape::ELEMENT_BYTES;
use pilgrimage_storage::FileRange;
use tracing::{Instrument, debug_span, error};

use crate::broker::Broker;
use crate::controller::MetadataRecord;
use crate::server::connection::ConnInfo;
use crate::server::memory::Reservation;

/// What the connection writes for a request.
#[derive(Debug)]
pub(crate) enum Reply {
    Bytes(BytesMut),
    /// A response in parts: bytes written with vectored writes (record bytes are the buffers
    /// the reads returned, not copies) and ranges of segment files sent with `sendfile`.
    Parts(Vec<Part<FileRange>>),
    /// acks=0: nothing goes back.
    Nothing,
    /// Close the connection (acks=0 produce that failed, or a response that cannot be encoded).
    Close(String),
}

pub(crate) type ReplyFuture = Pin<Box<dyn Future<Output = Reply> + Send>>;
pub(crate) type Later<R> = Pin<Box<dyn Future<Output = Handled<R>> + Send>>;

/// A handler's outcome: a response now, one to await (stage 2), none, or a disconnect.
pub(crate) enum Handled<R> {
    Now(R),
    Later(Later<R>),
    Silent,
    Close(String),
}

/// The result of dispatching one request.
pub(crate) enum Dispatched {
    Queue(ReplyFuture, Reservation),
    Close(String),
}

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub broker: Arc<Broker>,
    pub header: Arc<RequestHeader>,
    pub key: ApiKey,
    pub version: i16,
    pub conn: Arc<ConnInfo>,
}

/// One supported API: the versions advertised in ApiVersions and those actually accepted.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    pub key: ApiKey,
    pub advertised: (i16, i16),
    pub accepted: (i16, i16),
}

macro_rules! apis {
    ($( $key:ident : $req:ty => $handler:path, advertise $amin:literal ..= $amax:literal, accept $min:literal ..= $max:literal; )*) => {
        /// Every API this node serves, in key order.
        pub static SUPPORTED: &[Api] = &[$(
            Api { key: ApiKey::$key, advertised: ($amin, $amax), accepted: ($min, $max) },
        )*];

        async fn route(ctx: &Ctx, checked: CheckedBody) -> Result<ReplyFuture, String> {
            match ctx.key {
                $(ApiKey::$key => {
                    let req: $req = request::decode(checked).map_err(|e| e.to_string())?;
                    Ok(finish(ctx, $handler(ctx, req).await))
                })*
                other => Err(format!("no handler for {other:?}")),
            }
        }
    };
}

// Ranges are Kafka 4.1's (Produce is advertised from v0 for librdkafka, KAFKA-18659, but v0-2
// are refused like every other removed version: by disconnecting).
apis! {
    Produce: ProduceRequest => produce::handle, advertise 0..=13, accept 3..=13;
    Fetch: FetchRequest => fetch::handle, advertise 4..=18, accept 4..=18;
    ListOffsets: ListOffsetsRequest => list_offsets::handle, advertise 1..=10, accept 1..=10;
    Metadata: MetadataRequest => metadata::handle, advertise 0..=13, accept 0..=13;
    OffsetCommit: OffsetCommitRequest => group::offset_commit::handle, advertise 2..=9, accept 2..=9;
    OffsetFetch: OffsetFetchRequest => group::offset_fetch::handle, advertise 1..=9, accept 1..=9;
    FindCoordinator: FindCoordinatorRequest => find_coordinator::handle, advertise 0..=6, accept 0..=6;
    JoinGroup: JoinGroupRequest => group::join_group::handle, advertise 0..=9, accept 0..=9;
    Heartbeat: HeartbeatRequest => group::heartbeat::handle, advertise 0..=4, accept 0..=4;
    LeaveGroup: LeaveGroupRequest => group::leave_group::handle, advertise 0..=5, accept 0..=5;
    SyncGroup: SyncGroupRequest => group::sync_group::handle, advertise 0..=5, accept 0..=5;
    DescribeGroups: DescribeGroupsRequest => group::describe_groups::handle, advertise 0..=6, accept 0..=6;
    ListGroups: ListGroupsRequest => group::list_groups::handle, advertise 0..=5, accept 0..=5;
    ApiVersions: ApiVersionsRequest => api_versions::handle, advertise 0..=4, accept 0..=4;
    CreateTopics: CreateTopicsRequest => topics::create_topics::handle, advertise 2..=7, accept 2..=7;
    DeleteTopics: DeleteTopicsRequest => topics::delete_topics::handle, advertise 1..=6, accept 1..=6;
    DeleteRecords: DeleteRecordsRequest => topics::delete_records::handle, advertise 0..=2, accept 0..=2;
    InitProducerId: InitProducerIdRequest => txn::init_producer_id::handle, advertise 0..=5, accept 0..=5;
    OffsetForLeaderEpoch: OffsetForLeaderEpochRequest => offset_for_leader_epoch::handle, advertise 2..=4, accept 2..=4;
    AddPartitionsToTxn: AddPartitionsToTxnRequest => txn::add_partitions_to_txn::handle, advertise 0..=5, accept 0..=5;
    AddOffsetsToTxn: AddOffsetsToTxnRequest => txn::add_offsets_to_txn::handle, advertise 0..=4, accept 0..=4;
    EndTxn: EndTxnRequest => txn::end_txn::handle, advertise 0..=4, accept 0..=4;
    WriteTxnMarkers: WriteTxnMarkersRequest => txn::write_txn_markers::handle, advertise 1..=1, accept 1..=1;
    TxnOffsetCommit: TxnOffsetCommitRequest => txn::txn_offset_commit::handle, advertise 0..=4, accept 0..=4;
    DescribeConfigs: DescribeConfigsRequest => configs::describe_configs::handle, advertise 1..=4, accept 1..=4;
    AlterConfigs: AlterConfigsRequest => configs::alter_configs::handle, advertise 0..=2, accept 0..=2;
    DescribeLogDirs: DescribeLogDirsRequest => cluster::describe_log_dirs::handle, advertise 1..=4, accept 1..=4;
    CreatePartitions: CreatePartitionsRequest => topics::create_partitions::handle, advertise 0..=3, accept 0..=3;
    DeleteGroups: DeleteGroupsRequest => group::delete_groups::handle, advertise 0..=2, accept 0..=2;
    IncrementalAlterConfigs: IncrementalAlterConfigsRequest => configs::incremental_alter_configs::handle, advertise 0..=1, accept 0..=1;
    OffsetDelete: OffsetDeleteRequest => group::offset_delete::handle, advertise 0..=0, accept 0..=0;
    DescribeCluster: DescribeClusterRequest => cluster::describe_cluster::handle, advertise 0..=2, accept 0..=2;
    DescribeProducers: DescribeProducersRequest => txn::describe_producers::handle, advertise 0..=0, accept 0..=0;
    DescribeTransactions: DescribeTransactionsRequest => txn::describe_transactions::handle, advertise 0..=0, accept 0..=0;
    ListTransactions: ListTransactionsRequest => txn::list_transactions::handle, advertise 0..=2, accept 0..=2;
    ConsumerGroupHeartbeat: ConsumerGroupHeartbeatRequest => group::consumer_group_heartbeat::handle, advertise 0..=1, accept 0..=1;
    ConsumerGroupDescribe: ConsumerGroupDescribeRequest => group::consumer_group_describe::handle, advertise 0..=1, accept 0..=1;
    DescribeTopicPartitions: DescribeTopicPartitionsRequest => cluster::describe_topic_partitions::handle, advertise 0..=0, accept 0..=0;
}

pub fn find(key: ApiKey) -> Option<&'static Api> {
    SUPPORTED.iter().find(|a| a.key == key)
}

/// Dispatches one request: checks key and version, checks the body's structure, charges the
/// memory its decoded form needs, decodes it and runs the handler's first stage.
pub(crate) async fn dispatch(
    broker: &Arc<Broker>,
    conn: &Arc<ConnInfo>,
    header: RequestHeader,
    body: Bytes,
    mut memory: Reservation,
) -> Dispatched {
    let version = header.api_version;
    let Some(key) = header.key() else {
        return Dispatched::Close(format!("unknown api key {}", header.api_key));
    };
    let Some(api) = find(key) else {
        return Dispatched::Close(format!("api {key:?} is not served by this node"));
    };
    if key == ApiKey::ApiVersions && version > api.accepted.1 {
        // KIP-511: answer in v0 with our versions so the client can retry with one we know.
        return Dispatched::Queue(api_versions::unsupported(header.correlation_id), memory);
    }
    if version < api.accepted.0 || version > api.accepted.1 {
        return Dispatched::Close(format!("unsupported version {version} of {key:?}"));
    }
    let checked = match request::check(header.api_key, version, body) {
        Ok(c) => c,
        Err(e) => return Dispatched::Close(format!("malformed {key:?} v{version} request: {e}")),
    };
    if !broker
        .memory
        .try_grow(&mut memory, checked.elements.saturating_mul(ELEMENT_BYTES))
    {
        // The structures would not fit the budget now; decode anyway (they are bounded by the
        // shape check) rather than deadlock waiting for our own reservation.
        tracing::debug!(
            elements = checked.elements,
            "memory budget exhausted; decoding unbudgeted"
        );
    }
    broker.metrics.request(key);
    let span = debug_span!("request", api = ?key, v = version, corr = header.correlation_id, client = ?header.client_id);
    let ctx = Ctx {
        broker: Arc::clone(broker),
        header: Arc::new(header),
        key,
        version,
        conn: Arc::clone(conn),
    };
    match route(&ctx, checked).instrument(span).await {
        Ok(reply) => Dispatched::Queue(reply, memory),
        Err(why) => Dispatched::Close(format!("malformed {key:?} v{version} request: {why}")),
    }
}

fn finish<R: Respond>(ctx: &Ctx, handled: Handled<R>) -> ReplyFuture {
    let (key, version, corr) = (ctx.key, ctx.version, ctx.header.correlation_id);
    let broker = Arc::clone(&ctx.broker);
    match handled {
        Handled::Now(r) => Box::pin(std::future::ready(r.reply(&broker, key, version, corr))),
        Handled::Silent => Box::pin(std::future::ready(Reply::Nothing)),
        Handled::Close(why) => Box::pin(std::future::ready(Reply::Close(why))),
        Handled::Later(f) => Box::pin(async move {
            let mut next = f.await;
            loop {
                match next {
                    Handled::Now(r) => return r.reply(&broker, key, version, corr),
                    Handled::Later(f) => next = f.await,
                    Handled::Silent => return Reply::Nothing,
                    Handled::Close(why) => return Reply::Close(why),
                }
            }
        }),
    }
}

/// Kafka's current-leader-epoch check (`Partition.checkCurrentLeaderEpoch`): -1 skips it, an
/// older epoch is fenced, a newer one is unknown to this replica.
pub(crate) fn check_leader_epoch(local: i32, requested: i32) -> Result<(), ResponseError> {
    if requested < 0 || requested == local {
        Ok(())
    } else if local > requested {
        Err(ResponseError::FencedLeaderEpoch)
    } else {
        Err(ResponseError::UnknownLeaderEpoch)
    }
}

/// A per-resource result of an admin request that commits metadata.
pub(crate) trait AdminResult {
    fn error_code(&self) -> i16;
    fn fail(&mut self, code: ResponseError, message: String);
}

macro_rules! admin_result {
    ($($t:ty),*) => {$(
        impl AdminResult for $t {
            fn error_code(&self) -> i16 {
                self.error_code
            }
            fn fail(&mut self, code: ResponseError, message: String) {
                self.error_code = code.code();
                self.error_message = Some(StrBytes::from_string(message));
            }
        }
    )*};
}

admin_result!(
    create_topics_response::CreatableTopicResult,
    delete_topics_response::DeletableTopicResult,
    create_partitions_response::CreatePartitionsTopicResult,
    alter_configs_response::AlterConfigsResourceResponse,
    incremental_alter_configs_response::AlterConfigsResourceResponse
);

/// Commits an admin request's metadata records. If the commit fails (the metadata log could not
/// be written), every result still marked successful says so with UNKNOWN_SERVER_ERROR.
pub(crate) async fn commit_admin<T: AdminResult>(
    ctx: &Ctx,
    records: Vec<MetadataRecord>,
    results: &mut [T],
) {
    if records.is_empty() {
        return;
    }
    if let Err(e) = ctx.broker.commit(records).await {
        error!(api = ?ctx.key, error = %e, "metadata commit failed");
        for r in results.iter_mut().filter(|r| r.error_code() == 0) {
            r.fail(ResponseError::UnknownServerError, e.to_string());
        }
    }
}

/// A handler's response, encoded into what the connection writes.
pub(crate) trait Respond: Send + 'static {
    fn reply(&self, broker: &Broker, key: ApiKey, version: i16, corr: i32) -> Reply;
}

/// Responses made entirely of decoded fields: encoded into one buffer.
impl<R: Encodable + Send + 'static> Respond for R {
    fn reply(&self, broker: &Broker, key: ApiKey, version: i16, corr: i32) -> Reply {
        let mut buf = BytesMut::new();
        match response::encode(&mut buf, key, version, corr, self) {
            Ok(()) => {
                broker.metrics.bytes_out.add(buf.len() as u64);
                Reply::Bytes(buf)
            }
            Err(e) => {
                error!(error = %e, "response encoding failed");
                Reply::Close(e.to_string())
            }
        }
    }
}
