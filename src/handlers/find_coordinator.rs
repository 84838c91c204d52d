//! FindCoordinator (key 10).
//!
//! Consumer groups and transactions are not served yet, so every key is answered with
//! COORDINATOR_NOT_AVAILABLE, the answer Kafka gives while a coordinator is loading: clients
//! using groups retry with backoff. The API is advertised anyway because librdkafka treats its
//! presence as the sign that a broker supports LZ4; without it librdkafka silently sends "lz4"
//! batches uncompressed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{Ctx, Handled};

const NOT_YET: &str = "consumer groups and transactions are not served by this node yet";

pub(crate) async fn handle(
    ctx: &Ctx,
    req: FindCoordinatorRequest,
) -> Handled<FindCoordinatorResponse> {
    let code = ResponseError::CoordinatorNotAvailable.code();
    let message = || (ctx.version >= 1).then(|| StrBytes::from_static_str(NOT_YET));
    let resp = FindCoordinatorResponse::default()
        .with_node_id(BrokerId(-1))
        .with_port(-1);
    if ctx.version >= 4 {
        let coordinators = req
            .coordinator_keys
            .into_iter()
            .map(|key| {
                Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_static_str(NOT_YET)))
            })
            .collect();
        return Handled::Now(resp.with_coordinators(coordinators));
    }
    Handled::Now(resp.with_error_code(code).with_error_message(message()))
}
