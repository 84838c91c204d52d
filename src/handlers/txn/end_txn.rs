//! EndTxn (key 26, v0-4): commits or aborts the producer's transaction. Answered once the
//! markers are durable in every partition of the transaction.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::fenced;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: EndTxnRequest) -> Handled<EndTxnResponse> {
    let v = ctx.version;
    let broker = Arc::clone(&ctx.broker);
    Handled::Later(Box::pin(async move {
        let result = broker
            .txns
            .end_txn(
                &broker,
                req.transactional_id.as_str(),
                req.producer_id.0,
                req.producer_epoch,
                req.committed,
            )
            .await;
        Handled::Now(
            EndTxnResponse::default()
                .with_error_code(result.err().map_or(0, |e| fenced(e, v, 2)))
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
    }))
}
