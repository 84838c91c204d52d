//! InitProducerId (key 22, v0-5): a producer id and epoch for an idempotent producer (no
//! transactional id: a fresh id, epoch 0) or a transactional one (its id's epoch bumped, an
//! older instance fenced, an open transaction aborted; KIP-360 recovery with v3+).

use std::sync::Arc;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::fenced;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: InitProducerIdRequest,
) -> Handled<InitProducerIdResponse> {
    let v = ctx.version;
    let expected = if v >= 3 {
        match (req.producer_id.0, req.producer_epoch) {
            (-1, -1) => Ok(None),
            (-1, _) | (_, -1) => Err(E::InvalidRequest),
            (p, e) => Ok(Some((p, e))),
        }
    } else {
        Ok(None)
    };
    let broker = Arc::clone(&ctx.broker);
    let id = req.transactional_id.map(|t| t.to_string());
    let timeout = req.transaction_timeout_ms;
    Handled::Later(Box::pin(async move {
        let result = match (expected, id) {
            (Err(e), _) => Err(e),
            (Ok(_), None) => broker.txns.new_producer_id(&broker).await.map(|p| (p, 0)),
            (Ok(expected), Some(id)) => {
                broker
                    .txns
                    .init_producer_id(&broker, &id, timeout, expected)
                    .await
            }
        };
        let resp = InitProducerIdResponse::default()
            .with_ongoing_txn_producer_id(ProducerId(-1))
            .with_ongoing_txn_producer_epoch(-1);
        Handled::Now(match result {
            Ok((pid, epoch)) => resp
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(e) => resp
                .with_error_code(fenced(e, v, 4))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        })
    }))
}
