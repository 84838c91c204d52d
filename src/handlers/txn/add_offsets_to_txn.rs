//! AddOffsetsToTxn (key 25, v0-4): adds the group's `__consumer_offsets` partition to the
//! transaction, so that TxnOffsetCommit may write there and the markers reach it.

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::fenced;
use crate::coordinator::group::OFFSETS_TOPIC;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: AddOffsetsToTxnRequest,
) -> Handled<AddOffsetsToTxnResponse> {
    let v = ctx.version;
    let broker = Arc::clone(&ctx.broker);
    Handled::Later(Box::pin(async move {
        let tp = (
            OFFSETS_TOPIC.to_string(),
            broker.groups.partition_of(req.group_id.as_str()),
        );
        let result = broker
            .txns
            .add_partitions(
                req.transactional_id.as_str(),
                req.producer_id.0,
                req.producer_epoch,
                &[tp],
            )
            .await;
        Handled::Now(
            AddOffsetsToTxnResponse::default()
                .with_error_code(result.err().map_or(0, |e| fenced(e, v, 2))),
        )
    }))
}
