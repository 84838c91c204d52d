//! WriteTxnMarkers (key 27, v1): writes COMMIT/ABORT markers to partitions of this node, as a
//! transaction coordinator does, and as `kafka-transactions.sh abort` (KIP-664) does to end a
//! hanging transaction. Answered once the markers are durable.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError as E;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};
use pilgrimage_protocol::batch::control::{EndTxnMarker, build_marker};
use pilgrimage_storage::{AppendError, AppendOrigin, ProducerError};

use crate::coordinator::group::OFFSETS_TOPIC;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(
    ctx: &Ctx,
    req: WriteTxnMarkersRequest,
) -> Handled<WriteTxnMarkersResponse> {
    let broker = Arc::clone(&ctx.broker);
    let now = crate::now_ms();
    let mut waits = Vec::new();
    let mut markers = Vec::with_capacity(req.markers.len());
    for (mi, m) in req.markers.iter().enumerate() {
        let marker = EndTxnMarker {
            commit: m.transaction_result,
            coordinator_epoch: m.coordinator_epoch,
        };
        let mut topics = Vec::with_capacity(m.topics.len());
        for (ti, t) in m.topics.iter().enumerate() {
            let mut parts = Vec::with_capacity(t.partition_indexes.len());
            for (pi, &p) in t.partition_indexes.iter().enumerate() {
                let written = if t.name.as_str() == OFFSETS_TOPIC {
                    usize::try_from(p)
                        .map_err(|_| E::UnknownTopicOrPartition)
                        .and_then(|i| {
                            broker.groups.write_txn_marker(
                                i,
                                m.producer_id.0,
                                m.producer_epoch,
                                marker,
                                now,
                            )
                        })
                } else {
                    match broker.replicas.get(t.name.as_str(), p) {
                        None => Err(E::UnknownTopicOrPartition),
                        Some(part) => {
                            let batch =
                                build_marker(m.producer_id.0, m.producer_epoch, marker, now);
                            part.append_from(&batch, now, true, AppendOrigin::Coordinator)
                                .map(|info| (part, info.last_offset + 1))
                                .map_err(|e| match e {
                                    AppendError::Producer(ProducerError::CoordinatorFenced(_)) => {
                                        E::TransactionCoordinatorFenced
                                    }
                                    AppendError::Producer(_) => E::InvalidProducerEpoch,
                                    _ => E::KafkaStorageError,
                                })
                        }
                    }
                };
                let code = match written {
                    Ok(w) => {
                        waits.push((mi, ti, pi, w));
                        0
                    }
                    Err(e) => e.code(),
                };
                parts.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(parts),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    Handled::Later(Box::pin(async move {
        for (mi, ti, pi, (part, target)) in waits {
            if part
                .wait_durable(target, Duration::from_secs(30))
                .await
                .is_err()
                && let Some(r) = markers
                    .get_mut(mi)
                    .and_then(|m| m.topics.get_mut(ti))
                    .and_then(|t| t.partitions.get_mut(pi))
            {
                r.error_code = E::KafkaStorageError.code();
            }
        }
        Handled::Now(WriteTxnMarkersResponse::default().with_markers(markers))
    }))
}
