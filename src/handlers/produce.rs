//! Produce (key 0): validate each partition's batch, append it, and answer per `acks`.
//!
//! - Validation (magic, CRC32C, lengths, counts, offset deltas, keys on compacted topics,
//!   timestamps, `max.message.bytes`) happens before the partition lock; a bad batch leaves
//!   the log untouched. Each partition carries exactly one batch, so a partition's append is
//!   all or nothing; partitions of one request succeed or fail independently, as in Kafka.
//! - Stage 1 (in request order on the connection): validate and append. Stage 2: for acks=all,
//!   wait until the batch is fsynced (group commit), at most `timeout_ms`.
//! - acks=0: no response; if any partition failed the connection is closed, as Kafka does, so
//!   the producer notices.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use pilgrimage_protocol::batch::builder::recompress;
use pilgrimage_protocol::batch::validate::{TimestampWindow, decompressed_cap};
use pilgrimage_protocol::batch::view::set_log_append_time;
use pilgrimage_protocol::batch::{ValidationOptions, validate_produce};
use pilgrimage_protocol::error::BatchError;
use pilgrimage_storage::{AppendError, ProducerError};

use super::{Ctx, Handled};
use crate::broker::Broker;
use crate::controller::topics::is_internal;
use crate::partition::{DurableWaitError, Partition};

/// A partition's failure: the code, and the message Kafka sends with record-level errors.
struct Failure {
    code: ResponseError,
    message: Option<String>,
}

impl Failure {
    fn code(code: ResponseError) -> Failure {
        Failure {
            code,
            message: None,
        }
    }
}

/// Kafka's error for each way a batch can be refused (`LogValidator`, `ProduceRequest`).
fn batch_failure(e: &BatchError) -> Failure {
    use ResponseError as E;
    let with_message = |code: E| Failure {
        code,
        message: Some(match code {
            E::InvalidTimestamp => {
                "One or more records have been rejected due to invalid timestamp".to_string()
            }
            _ => format!(
                "One or more records have been rejected due to 1 record errors in total: [{e}]"
            ),
        }),
    };
    match e {
        BatchError::Crc { .. }
        | BatchError::LengthTooSmall(_)
        | BatchError::Codec(_)
        | BatchError::Decompress(_) => Failure::code(E::CorruptMessage),
        BatchError::TooLarge { .. } => Failure::code(E::MessageTooLarge),
        BatchError::Timestamp { .. } => with_message(E::InvalidTimestamp),
        BatchError::MissingKey { .. }
        | BatchError::Record { .. }
        | BatchError::OffsetDelta { .. }
        | BatchError::Count { .. } => with_message(E::InvalidRecord),
        BatchError::Truncated { .. }
        | BatchError::Empty
        | BatchError::Magic(_)
        | BatchError::LastOffsetDelta { .. }
        | BatchError::ControlFromClient => Failure::code(E::InvalidRecord),
    }
}

/// Kafka's error for a batch the producer state refused. Kafka sends no message with these;
/// the reason goes to the log.
fn producer_failure(e: ProducerError) -> Failure {
    tracing::debug!(reason = %e, "producer batch refused");
    Failure::code(match e {
        ProducerError::OutOfOrderSequence(_) => ResponseError::OutOfOrderSequenceNumber,
        ProducerError::InvalidProducerEpoch(_) => ResponseError::InvalidProducerEpoch,
        ProducerError::InvalidTxnState(_) => ResponseError::InvalidTxnState,
        ProducerError::CoordinatorFenced(_) => ResponseError::TransactionCoordinatorFenced,
    })
}

pub(crate) async fn handle(ctx: &Ctx, req: ProduceRequest) -> Handled<ProduceResponse> {
    let broker = &ctx.broker;
    let acks = req.acks;
    let acks_valid = matches!(acks, -1..=1);
    let now = crate::now_ms();
    let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let image = (ctx.version >= 13).then(|| broker.controller.image());
    let admin_client = ctx.header.client_id.as_deref() == Some("__admin_client");

    let txn = Txn {
        id: req.transactional_id.as_ref().map(|t| t.as_str()),
        version: ctx.version,
    };
    let request_error = check_transactional(&req, txn.id);
    let mut any_error = false;
    let mut waits: Vec<(usize, usize, Arc<Partition>, i64)> = Vec::new();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    for topic in req.topic_data {
        // v13 names topics by id.
        let name: Option<Arc<str>> = match &image {
            Some(img) => img
                .topic_by_id(&topic.topic_id)
                .map(|t| Arc::clone(&t.name)),
            None => Some(Arc::from(topic.name.as_str())),
        };
        let unknown = if ctx.version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut parts = Vec::with_capacity(topic.partition_data.len());
        for pd in topic.partition_data {
            let result = if !acks_valid {
                Err(Failure::code(ResponseError::InvalidRequiredAcks))
            } else if let Some(code) = request_error {
                Err(Failure::code(code))
            } else {
                match name.as_deref() {
                    None => Err(Failure::code(unknown)),
                    Some(n) if is_internal(n) && !admin_client => Err(Failure {
                        code: ResponseError::InvalidTopicException,
                        message: Some(format!("Cannot append to internal topic {n}")),
                    }),
                    Some(n) => match broker.replicas.get(n, pd.index) {
                        None => Err(Failure::code(unknown)),
                        Some(p) => append_one(broker, &p, pd.records, now, acks, txn).map(
                            |(base, append_time, start)| {
                                if acks == -1 {
                                    waits.push((responses.len(), parts.len(), p, base.1 + 1));
                                }
                                (base.0, append_time, start)
                            },
                        ),
                    },
                }
            };
            let resp = PartitionProduceResponse::default().with_index(pd.index);
            parts.push(match result {
                Ok((base, append_time, log_start)) => resp
                    .with_base_offset(base)
                    .with_log_append_time_ms(append_time)
                    .with_log_start_offset(log_start),
                Err(f) => {
                    any_error = true;
                    broker.metrics.produce_errors.add(1);
                    let record_errors = match (&f.message, f.code) {
                        (
                            Some(m),
                            ResponseError::InvalidRecord | ResponseError::InvalidTimestamp,
                        ) => {
                            vec![
                                BatchIndexAndErrorMessage::default()
                                    .with_batch_index(0)
                                    .with_batch_index_error_message(Some(StrBytes::from_string(
                                        m.clone(),
                                    ))),
                            ]
                        }
                        _ => vec![],
                    };
                    resp.with_error_code(f.code.code())
                        .with_base_offset(-1)
                        .with_log_append_time_ms(-1)
                        .with_log_start_offset(-1)
                        .with_record_errors(record_errors)
                        .with_error_message(f.message.map(StrBytes::from_string))
                }
            });
        }
        // The response is held until the batch is durable: it must not keep the request's
        // frame (its topic name is a slice of it) and so the frame's buffer from reuse.
        let name = TopicName(StrBytes::from_string(topic.name.as_str().to_owned()));
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(parts),
        );
    }
    if ctx.version < 13 {
        for r in &mut responses {
            r.topic_id = uuid::Uuid::nil();
        }
    } else {
        for r in &mut responses {
            r.name = TopicName::default();
        }
    }
    let resp = ProduceResponse::default().with_responses(responses);
    if acks == 0 {
        return if any_error {
            Handled::Close("acks=0 produce failed".into())
        } else {
            Handled::Silent
        };
    }
    if waits.is_empty() {
        return Handled::Now(resp);
    }
    Handled::Later(Box::pin(async move {
        let mut resp = resp;
        let deadline = tokio::time::Instant::now() + timeout;
        for (t, p, partition, offset) in waits {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Err(e) = partition.wait_durable(offset, left).await {
                let code = match e {
                    DurableWaitError::TimedOut => ResponseError::RequestTimedOut,
                    DurableWaitError::Storage => ResponseError::KafkaStorageError,
                };
                if let Some(r) = resp
                    .responses
                    .get_mut(t)
                    .and_then(|t| t.partition_responses.get_mut(p))
                {
                    r.error_code = code.code();
                }
            }
        }
        Handled::Now(resp)
    }))
}

/// The transactional id of a produce request and the request's version.
#[derive(Debug, Clone, Copy)]
struct Txn<'a> {
    id: Option<&'a str>,
    version: i16,
}

/// Request-wide checks of transactional batches (Kafka's `ProduceRequest` and
/// `ReplicaManager`): they need a transactional id, and one producer id.
fn check_transactional(req: &ProduceRequest, id: Option<&str>) -> Option<ResponseError> {
    use pilgrimage_protocol::batch::view::{
        ATTR_TRANSACTIONAL, ATTRIBUTES, HEADER_BYTES, PRODUCER_ID,
    };
    let mut pids = std::collections::BTreeSet::new();
    for t in &req.topic_data {
        for pd in &t.partition_data {
            let Some(r) = pd.records.as_ref().filter(|r| r.len() >= HEADER_BYTES) else {
                continue;
            };
            let attrs = i16::from_be_bytes([r[ATTRIBUTES], r[ATTRIBUTES + 1]]);
            if attrs & ATTR_TRANSACTIONAL != 0 {
                let mut pid = [0u8; 8];
                pid.copy_from_slice(&r[PRODUCER_ID..PRODUCER_ID + 8]);
                pids.insert(i64::from_be_bytes(pid));
            }
        }
    }
    if pids.is_empty() {
        None
    } else if id.is_none() {
        Some(ResponseError::TransactionalIdAuthorizationFailed)
    } else if pids.len() > 1 {
        Some(ResponseError::InvalidProducerIdMapping)
    } else {
        None
    }
}

/// Kafka's answer when a transactional batch cannot be verified against its transaction
/// (`ReplicaManager` after `AddPartitionsToTxnManager`).
fn verification_failure(e: ResponseError, version: i16) -> Failure {
    use ResponseError as E;
    match e {
        E::TransactionAbortable if version <= 10 => Failure {
            code: E::InvalidTxnState,
            message: Some("Partition was not added to the transaction".into()),
        },
        E::TransactionAbortable => Failure::code(E::TransactionAbortable),
        E::ProducerFenced => Failure::code(E::InvalidProducerEpoch),
        E::ConcurrentTransactions
        | E::CoordinatorNotAvailable
        | E::CoordinatorLoadInProgress
        | E::NotCoordinator => Failure {
            code: E::NotEnoughReplicas,
            message: Some(format!(
                "Unable to verify the partition has been added to the transaction. Underlying error: {}",
                error_name(e)
            )),
        },
        other => Failure::code(other),
    }
}

/// Kafka's upper-case name of an error (`Errors.name()`).
fn error_name(e: ResponseError) -> String {
    let debug = format!("{e:?}");
    let mut out = String::with_capacity(debug.len() + 8);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Where the frame of a produce request should start in memory, as an offset within a disk
/// block, for its first partition's batch to lie at the offset within a block it will have in
/// the segment file: then a direct write sends it to disk from the memory it was received in
/// (see `pilgrimage_storage::direct`). `head` is the frame's first bytes, read before the
/// rest, and `frame_len` its whole length. `None` when the batch will not be written directly
/// or its place is not known now.
pub(crate) fn frame_phase(broker: &Broker, head: &[u8], frame_len: usize) -> Option<usize> {
    use pilgrimage_protocol::placement::{TopicRef, first_records};
    use pilgrimage_storage::direct::{self, BLOCK};
    let at = first_records(head)?;
    let min = direct::min_bytes();
    if min == 0 || (at.len as u64) < min || at.offset.checked_add(at.len)? > frame_len {
        return None;
    }
    let p = match at.topic {
        TopicRef::Name(name) => broker.replicas.get(name, at.partition)?,
        TopicRef::Id(id) => {
            let image = broker.controller.image();
            let t = image.topic_by_id(&uuid::Uuid::from_bytes(id))?;
            broker.replicas.get(&t.name, at.partition)?
        }
    };
    let pos = p.next_append_position(at.len as u64)?;
    Some((pos as usize % BLOCK + BLOCK - at.offset % BLOCK) % BLOCK)
}

/// Validates, converts if the topic demands it, and appends one partition's batch. Returns
/// ((base offset, last offset), log append time, log start offset). A transactional batch that
/// opens its producer's transaction in this partition is first verified against the
/// transaction coordinator (KIP-890), atomically with the append.
fn append_one(
    broker: &Broker,
    p: &Partition,
    records: Option<Bytes>,
    now: i64,
    acks: i16,
    txn: Txn<'_>,
) -> Result<((i64, i64), i64, i64), Failure> {
    let records = records.ok_or_else(|| Failure::code(ResponseError::InvalidRecord))?;
    let settings = p.settings();
    let opts = ValidationOptions {
        max_batch_bytes: settings.max_message_bytes,
        require_keys: settings.compacted,
        timestamp_window: Some(TimestampWindow {
            now_ms: now,
            before_max_ms: settings.timestamp_before_max_ms,
            after_max_ms: settings.timestamp_after_max_ms,
        }),
        records: settings.validate_records,
    };
    let view = validate_produce(&records, &opts).map_err(|e| batch_failure(&e))?;
    let header = *view.header();
    let source = header.compression().map_err(|e| batch_failure(&e))?;
    // The batch is written as received unless the topic changes it (its codec, or
    // LogAppendTime, which the CRC covers); the log patches its offsets without a copy.
    let mut rewritten = match settings.compression {
        Some(target) if target != source => {
            let out = recompress(&view, target, decompressed_cap(view.records_bytes().len()))
                .map_err(|e| batch_failure(&e))?;
            if out.len() > settings.max_message_bytes {
                return Err(Failure::code(ResponseError::MessageTooLarge));
            }
            Some(out)
        }
        _ => None,
    };
    if settings.log_append_time {
        let b = rewritten.get_or_insert_with(|| view.bytes().to_vec());
        set_log_append_time(b, now);
    }
    let batch: &[u8] = rewritten.as_deref().unwrap_or(view.bytes());
    let size = batch.len() as u64;
    let sync = acks == -1;
    let failure = |e: AppendError| match e {
        AppendError::TooLarge(_) => Failure::code(ResponseError::RecordListTooLarge),
        AppendError::Malformed(_) => Failure::code(ResponseError::CorruptMessage),
        AppendError::Storage(_) => Failure::code(ResponseError::KafkaStorageError),
        AppendError::Producer(e) => producer_failure(e),
    };
    let (pid, epoch) = (header.producer_id, header.producer_epoch);
    let appended = match txn.id {
        // A transactional batch goes in at once while its transaction is open here; the first
        // one of a transaction is verified with the coordinator, atomically with its append.
        Some(id) if header.is_transactional() => {
            match p.append_in_open_txn(batch, now, sync, pid, epoch) {
                Ok(Some(info)) => Ok(info),
                Ok(None) => {
                    let tp = (p.topic.to_string(), p.index);
                    broker
                        .txns
                        .with_verified(id, pid, epoch, &tp, || {
                            p.append(batch, now, sync).map_err(failure)
                        })
                        .map_err(|e| verification_failure(e, txn.version))
                        .and_then(|r| r)
                }
                Err(e) => Err(failure(e)),
            }
        }
        _ => p.append(batch, now, sync).map_err(failure),
    };
    let info = appended?;
    if info.duplicate {
        // A retry of a batch already in the log: its original offsets, nothing written. Kafka
        // reports the stored batch's timestamp as its append time.
        broker.metrics.duplicate_batches.add(1);
        return Ok((
            (info.base_offset, info.last_offset),
            info.max_timestamp,
            info.log_start_offset,
        ));
    }
    broker
        .metrics
        .produced_records
        .add(info.records.max(0) as u64);
    broker.metrics.produced_bytes.add(size);
    let append_time = if settings.log_append_time { now } else { -1 };
    Ok((
        (info.base_offset, info.last_offset),
        append_time,
        info.log_start_offset,
    ))
}
