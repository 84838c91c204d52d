//! Fetch (key 1): read committed batches, byte for byte as stored, with Kafka's limits and long
//! polling.
//!
//! - The first non-empty partition's first batch is returned whole even when it exceeds
//!   `max_bytes` or `partition_max_bytes`, so a consumer always makes progress; after it, a
//!   partition whose first batch does not fit returns nothing; the last batch may be cut.
//! - A fetch from an offset inside a batch returns that whole batch (the client skips records
//!   before its offset).
//! - If fewer than `min_bytes` are available and `max_wait_ms` > 0, the fetch waits (stage 2)
//!   on every partition it reads and answers as soon as enough arrived, never later than the wait.
//! - Sessions (KIP-227): see [`session`].
//! - Records leave as stored: as file ranges sent with `sendfile` (`fetch.sendfile.enable`)
//!   or read into buffers; either way the response is written in parts around them,
//!   never copied into one buffer ([`FetchReply`], `pilgrimage_protocol::fetch`).
//! - read_committed: the aborted transactions returned are bounded with the offset index, as
//!   Kafka bounds them, not by the batches (which sendfile never reads).

pub mod session;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use pilgrimage_storage::{AbortedTxn, FileRange, Prefetched, ReadError};
use tokio::sync::Notify;
use uuid::Uuid;

use self::session::{Mode, Plan, TopicKey, Wanted};
use super::{Ctx, Handled, Reply, Respond, check_leader_epoch};
use crate::broker::Broker;
use crate::controller::MetadataImage;

/// One partition's answer, before grouping by topic.
struct Answer {
    wanted: Wanted,
    data: PartitionData,
    partition: Option<Arc<crate::partition::Partition>>,
    /// The records as a range of a segment file, sent with `sendfile` (then `data.records` is
    /// empty).
    file: Option<FileRange>,
    /// Visible records remain past those returned although the partition's share of the
    /// response was not used up: the read stopped at a segment's or a read-ahead buffer's
    /// end. Like Kafka's delayed fetch on a fetcher behind the active segment, the fetch
    /// counts as satisfied: waiting for `min_bytes` of new appends would stall a consumer
    /// that has a backlog to read.
    more: bool,
}

impl Answer {
    fn records_len(&self) -> usize {
        self.file.as_ref().map_or_else(
            || self.data.records.as_ref().map_or(0, Bytes::len),
            |f| f.len,
        )
    }
}

/// A Fetch response and the records of it that stay in segment files until they are sent, by
/// (topic index, partition index) in the response.
#[derive(Debug)]
pub(crate) struct FetchReply {
    pub(crate) response: FetchResponse,
    pub(crate) files: HashMap<(usize, usize), FileRange>,
}

impl From<FetchResponse> for FetchReply {
    fn from(response: FetchResponse) -> Self {
        FetchReply {
            response,
            files: HashMap::new(),
        }
    }
}

/// Records still in segment files are not copied into the response: the encoding leaves
/// their place to the connection, which writes them with `sendfile` between the encoded parts.
impl Respond for FetchReply {
    fn reply(&self, broker: &Broker, _key: ApiKey, version: i16, corr: i32) -> Reply {
        let mut outside = |t: usize, p: usize| self.files.get(&(t, p)).map(|f| (f.len, f.clone()));
        match pilgrimage_protocol::fetch::encode_fetch_with(
            version,
            corr,
            &self.response,
            &mut outside,
        ) {
            Ok(p) => {
                broker.metrics.bytes_out.add(p.len as u64);
                Reply::Parts(p.parts)
            }
            Err(e) => {
                tracing::error!(error = %e, "response encoding failed");
                Reply::Close(e.to_string())
            }
        }
    }
}

struct Round {
    answers: Vec<Answer>,
    bytes: usize,
    urgent: bool,
}

struct Params {
    version: i16,
    /// `fetch.sendfile.enable`.
    sendfile: bool,
    fetch_max: usize,
    min_bytes: usize,
    read_committed: bool,
}

pub(crate) async fn handle(ctx: &Ctx, req: FetchRequest) -> Handled<FetchReply> {
    let broker = Arc::clone(&ctx.broker);
    let v = ctx.version;
    let uses_ids = v >= 13;
    let topic_key = |name: &TopicName, id: Uuid| {
        if uses_ids {
            TopicKey::Id(id)
        } else {
            TopicKey::Name(Arc::from(name.as_str()))
        }
    };
    let requested: Vec<Wanted> = req
        .topics
        .iter()
        .flat_map(|t| {
            let key = topic_key(&t.topic, t.topic_id);
            t.partitions.iter().map(move |p| Wanted {
                topic: key.clone(),
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: p.last_fetched_epoch,
            })
        })
        .collect();
    let forgotten: Vec<(TopicKey, i32)> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let key = topic_key(&t.topic, t.topic_id);
            t.partitions.iter().map(move |p| (key.clone(), *p))
        })
        .collect();
    let (session_id, epoch) = if v >= 7 {
        (req.session_id, req.session_epoch)
    } else {
        (0, -1)
    };
    let plan = match broker
        .fetch_sessions
        .plan(session_id, epoch, requested, &forgotten, uses_ids)
    {
        Ok(p) => p,
        Err(code) => {
            return Handled::Now(
                FetchResponse::default()
                    .with_error_code(code.code())
                    .with_session_id(0)
                    .into(),
            );
        }
    };
    let broker_max = broker.config.int("fetch.max.bytes").max(1) as usize;
    let fetch_max = usize::try_from(req.max_bytes)
        .unwrap_or(0)
        .min(broker_max)
        .max(1);
    let params = Params {
        version: v,
        sendfile: broker.config.bool("fetch.sendfile.enable"),
        fetch_max,
        min_bytes: usize::try_from(req.min_bytes).unwrap_or(0).min(fetch_max),
        read_committed: req.isolation_level == 1,
    };
    let image = broker.controller.image();
    let first = read_round(&broker, &image, &plan, &params);
    let wait = Duration::from_millis(req.max_wait_ms.max(0) as u64);
    if wait.is_zero()
        || first.urgent
        || first.bytes >= params.min_bytes
        || plan.partitions.is_empty()
    {
        return Handled::Now(respond(&broker, &plan, first, &params));
    }
    Handled::Later(Box::pin(async move {
        let deadline = tokio::time::Instant::now() + wait;
        let mut round = first;
        loop {
            let notify = Arc::new(Notify::new());
            let mut registered = true;
            for a in &round.answers {
                if let Some(p) = &a.partition {
                    registered &= p.register_waiter(&notify);
                }
            }
            // Re-read after registering, so an append in between is not missed.
            round = read_round(&broker, &broker.controller.image(), &plan, &params);
            if round.urgent || round.bytes >= params.min_bytes || !registered {
                break;
            }
            if tokio::time::timeout_at(deadline, notify.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        Handled::Now(respond(&broker, &plan, round, &params))
    }))
}

fn read_round(broker: &Broker, image: &MetadataImage, plan: &Plan, params: &Params) -> Round {
    let mut limit = params.fetch_max;
    let mut min_one = true;
    let mut bytes = 0;
    let mut urgent = false;
    let mut answers = Vec::with_capacity(plan.partitions.len());
    for w in &plan.partitions {
        let a = read_partition(broker, image, w, limit, min_one, params);
        let n = a.records_len();
        if n > 0 {
            min_one = false;
        }
        limit = limit.saturating_sub(n);
        bytes += n;
        urgent |= a.data.error_code != 0 || a.data.diverging_epoch.epoch >= 0 || a.more;
        answers.push(a);
    }
    broker.metrics.fetched_bytes.add(bytes as u64);
    Round {
        answers,
        bytes,
        urgent,
    }
}

fn error_data(partition: i32, code: ResponseError) -> PartitionData {
    PartitionData::default()
        .with_partition_index(partition)
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica((-1).into())
        .with_records(Some(Bytes::new()))
}

fn read_partition(
    broker: &Broker,
    image: &MetadataImage,
    w: &Wanted,
    limit: usize,
    min_one: bool,
    params: &Params,
) -> Answer {
    let mut answer = Answer {
        wanted: w.clone(),
        data: error_data(w.partition, ResponseError::UnknownTopicOrPartition),
        partition: None,
        file: None,
        more: false,
    };
    let topic = match &w.topic {
        TopicKey::Name(n) => image.topic(n),
        TopicKey::Id(id) => image.topic_by_id(id),
    };
    let Some(topic) = topic else {
        if matches!(w.topic, TopicKey::Id(_)) {
            answer.data = error_data(w.partition, ResponseError::UnknownTopicId);
        }
        return answer;
    };
    let Some(p) = broker.replicas.get(&topic.name, w.partition) else {
        return answer;
    };
    answer.partition = Some(Arc::clone(&p));
    if let Err(code) = check_leader_epoch(p.leader_epoch(), w.current_leader_epoch) {
        answer.data = error_data(w.partition, code);
        return answer;
    }
    if params.version >= 12 && w.last_fetched_epoch >= 0 {
        let marks = p.watermarks();
        let (epoch, end) = p.with_log(|l| {
            l.leader_epochs()
                .end_offset_for(w.last_fetched_epoch, l.next_offset())
        });
        if epoch < 0 || w.fetch_offset < marks.log_start {
            answer.data = error_data(w.partition, ResponseError::OffsetOutOfRange);
            return answer;
        }
        if epoch < w.last_fetched_epoch || end < w.fetch_offset {
            answer.data = PartitionData::default()
                .with_partition_index(w.partition)
                .with_high_watermark(marks.high_watermark)
                .with_last_stable_offset(marks.last_stable)
                .with_log_start_offset(marks.log_start)
                .with_diverging_epoch(
                    EpochEndOffset::default()
                        .with_epoch(epoch)
                        .with_end_offset(end),
                )
                .with_preferred_read_replica((-1).into())
                .with_records(Some(Bytes::new()));
            return answer;
        }
    }
    let max = usize::try_from(w.max_bytes).unwrap_or(0).min(limit);
    let read = p
        .read(w.fetch_offset, max, min_one, params.read_committed)
        .map_err(|e| match e {
            ReadError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            ReadError::Storage(_) => ResponseError::KafkaStorageError,
        });
    // Records in the page cache stay in the file and go out with sendfile when enabled. A file
    // range holds its segment's descriptor until the response is written, so once the handle
    // budget is used up the records are read into memory instead: a fetch of many partitions
    // must not hold a descriptor for each (`log.segment.files.open.max`). Ranges read ahead
    // (O_DIRECT) are served from those buffers. A range that must come from the disk is read
    // into memory with the runtime told this thread blocks, so the other connections it
    // serves move to another thread meanwhile.
    let mut more = false;
    let result = read.and_then(|(plan, marks)| {
        let sendfile = params.sendfile && pilgrimage_storage::files::has_room();
        let read = match plan.try_read_prefetched() {
            Ok(Prefetched::Read(bytes, end)) => Ok((bytes, None, end)),
            Ok(Prefetched::PageCache) if sendfile => plan.locate().map(|range| {
                let end = range.as_ref().map_or(0, |r| r.position + r.len as u64);
                (Bytes::new(), range, end)
            }),
            Ok(Prefetched::PageCache) => plan.execute_cached().map(|(b, end)| (b, None, end)),
            // Into memory even where sendfile is on: sendfile would read the disk later, on
            // the connection's writer.
            Ok(Prefetched::Disk) => {
                broker.metrics.fetch_disk_reads.add(1);
                blocking(|| plan.execute_to().map(|(bytes, end)| (bytes, None, end)))
            }
            Err(e) => Err(e),
        };
        read.map(|(bytes, file, end)| {
            let returned = file.as_ref().map_or(bytes.len(), |f| f.len);
            more = returned < max && plan.has_more_after(end);
            (bytes, file, plan.segment_base(), end, marks)
        })
        .map_err(|_| ResponseError::KafkaStorageError)
    });
    answer.data = match result {
        Ok((mut bytes, mut file, segment_base, end, marks)) => {
            // read_committed: the aborted transactions overlapping what is returned, bounded
            // with the offset index as Kafka bounds them (the batches are not looked at).
            let aborted = params.read_committed.then(|| {
                let sent = !bytes.is_empty() || file.is_some();
                let found = if sent {
                    p.aborted_txns_before(w.fetch_offset, segment_base, end)
                } else {
                    Some(Vec::new())
                };
                if found.is_none() {
                    // Retention removed the records read, and with them the aborts that
                    // could apply to them: return none (the next fetch is out of range).
                    bytes = Bytes::new();
                    file = None;
                }
                found
                    .unwrap_or_default()
                    .into_iter()
                    .map(aborted_txn)
                    .collect()
            });
            answer.file = file;
            // Only an answer with records counts: one emptied above (retention removed what
            // was read) has nothing to return.
            answer.more = more && (!bytes.is_empty() || answer.file.is_some());
            PartitionData::default()
                .with_partition_index(w.partition)
                .with_high_watermark(marks.high_watermark)
                .with_last_stable_offset(marks.last_stable)
                .with_log_start_offset(marks.log_start)
                .with_preferred_read_replica((-1).into())
                .with_aborted_transactions(aborted)
                .with_records(Some(bytes))
        }
        Err(ResponseError::KafkaStorageError) if params.version <= 5 => {
            error_data(w.partition, ResponseError::NotLeaderOrFollower)
        }
        Err(code) => error_data(w.partition, code),
    };
    answer
}

/// Runs `read`, which waits on the disk, telling a multi-threaded runtime that this worker
/// blocks: its other tasks go on on another thread meanwhile. Elsewhere (a current-thread
/// runtime, no runtime) it simply runs.
fn blocking<T>(read: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(read)
        }
        _ => read(),
    }
}

fn aborted_txn(a: AbortedTxn) -> AbortedTransaction {
    AbortedTransaction::default()
        .with_producer_id(a.producer_id.into())
        .with_first_offset(a.first_offset)
}

fn respond(broker: &Broker, plan: &Plan, round: Round, params: &Params) -> FetchReply {
    let uses_ids = params.version >= 13;
    let session_id = match plan.mode {
        Mode::Sessionless => 0,
        Mode::Incremental(id) => id,
        Mode::Full => {
            let served: Vec<(Wanted, i64, i64)> = round
                .answers
                .iter()
                .map(|a| {
                    let hw = if a.data.error_code != 0 {
                        -1
                    } else {
                        a.data.high_watermark
                    };
                    (a.wanted.clone(), hw, a.data.log_start_offset)
                })
                .collect();
            broker.fetch_sessions.open(&served, uses_ids)
        }
    };
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    let mut files = HashMap::new();
    let mut last_key: Option<TopicKey> = None;
    for a in round.answers {
        if let Mode::Incremental(id) = plan.mode {
            let has_records = a.records_len() > 0;
            let key = (a.wanted.topic.clone(), a.wanted.partition);
            let news = broker.fetch_sessions.has_news(
                id,
                &key,
                a.data.high_watermark,
                a.data.log_start_offset,
                has_records,
                a.data.error_code != 0,
            );
            if !news {
                continue;
            }
        }
        if last_key.as_ref() != Some(&a.wanted.topic) {
            let mut t = FetchableTopicResponse::default();
            match &a.wanted.topic {
                TopicKey::Id(id) => t.topic_id = *id,
                TopicKey::Name(n) => t.topic = TopicName(StrBytes::from_string(n.to_string())),
            }
            topics.push(t);
            last_key = Some(a.wanted.topic.clone());
        }
        let topic_index = topics.len().saturating_sub(1);
        if let Some(t) = topics.last_mut() {
            if let Some(f) = a.file {
                files.insert((topic_index, t.partitions.len()), f);
            }
            t.partitions.push(a.data);
        }
    }
    FetchReply {
        response: FetchResponse::default()
            .with_session_id(session_id)
            .with_responses(topics),
        files,
    }
}
