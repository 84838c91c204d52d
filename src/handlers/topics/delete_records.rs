//! DeleteRecords (key 21): moves a partition's log start offset forward; whole segments below it
//! are deleted at once. Offset -1 means the high watermark.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::controller::topics::is_internal;
use crate::handlers::{Ctx, Handled};

pub(crate) async fn handle(ctx: &Ctx, req: DeleteRecordsRequest) -> Handled<DeleteRecordsResponse> {
    let broker = &ctx.broker;
    let now = crate::now_ms();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let fail = |code: ResponseError| out.clone().with_error_code(code.code());
                    if is_internal(t.name.as_str()) {
                        return fail(ResponseError::InvalidTopicException);
                    }
                    let Some(partition) = broker.replicas.get(t.name.as_str(), p.partition_index)
                    else {
                        return fail(ResponseError::UnknownTopicOrPartition);
                    };
                    if !partition.settings().log.cleanup_delete {
                        return fail(ResponseError::PolicyViolation);
                    }
                    let hw = partition.watermarks().high_watermark;
                    let target = match p.offset {
                        -1 => hw,
                        o if o < 0 || o > hw => return fail(ResponseError::OffsetOutOfRange),
                        o => o,
                    };
                    match partition.delete_records(target) {
                        Ok(start) => {
                            // Segments now wholly below the log start go right away.
                            let _ = partition.enforce_retention(now);
                            out.with_low_watermark(start)
                        }
                        Err(_) => fail(ResponseError::KafkaStorageError),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    Handled::Now(DeleteRecordsResponse::default().with_topics(topics))
}
