//! FindCoordinator (key 10, v0-6): the node that leads a group's `__consumer_offsets`
//! partition, or a transactional id's `__transaction_state` partition (this node, on a
//! single-node cluster). Share groups are not served: COORDINATOR_NOT_AVAILABLE.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Handled};

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;
const SHARE: i8 = 2;

/// (node id, host, port) or an error with its message.
fn locate(ctx: &Ctx, key_type: i8) -> Result<(i32, String, i32), (ResponseError, &'static str)> {
    match key_type {
        GROUP | TRANSACTION => {
            let (host, port) = &ctx.broker.advertised;
            Ok((ctx.broker.node_id, host.clone(), i32::from(*port)))
        }
        SHARE if ctx.version >= 6 => Err((
            ResponseError::CoordinatorNotAvailable,
            "share groups are not served by this node",
        )),
        _ => Err((
            ResponseError::InvalidRequest,
            "unknown coordinator key type",
        )),
    }
}

pub(crate) async fn handle(
    ctx: &Ctx,
    req: FindCoordinatorRequest,
) -> Handled<FindCoordinatorResponse> {
    let key_type = if ctx.version >= 1 {
        req.key_type
    } else {
        GROUP
    };
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key);
                match locate(ctx, key_type) {
                    Ok((id, host, port)) => c
                        .with_node_id(BrokerId(id))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port),
                    Err((e, msg)) => c
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(e.code())
                        .with_error_message(Some(StrBytes::from_static_str(msg))),
                }
            })
            .collect();
        return Handled::Now(FindCoordinatorResponse::default().with_coordinators(coordinators));
    }
    let resp = FindCoordinatorResponse::default();
    Handled::Now(match locate(ctx, key_type) {
        // Kafka's v1-3 success carries the literal message "NONE".
        Ok((id, host, port)) => resp
            .with_node_id(BrokerId(id))
            .with_host(StrBytes::from_string(host))
            .with_port(port)
            .with_error_message((ctx.version >= 1).then(|| StrBytes::from_static_str("NONE"))),
        Err((e, msg)) => resp
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(e.code())
            .with_error_message((ctx.version >= 1).then(|| StrBytes::from_static_str(msg))),
    })
}
