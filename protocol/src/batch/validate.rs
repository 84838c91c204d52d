//! Validation of produced batches, as Kafka's `LogValidator` does it for magic v2, and the
//! record-level scans the broker needs (timestamp search).
//!
//! What a produced record set must satisfy:
//! - exactly one batch per partition (Kafka refuses more with INVALID_RECORD for v3+ produce);
//! - magic 2, CRC32C matching, `batch_length` within the bytes sent;
//! - not a control batch (only the broker writes those);
//! - `records_count` ≥ 1 and equal to the records present; `last_offset_delta` = count - 1;
//!   offset deltas 0, 1, 2, … in order;
//! - every record's fields fit its length; header keys non-null;
//! - keys present when the topic is compacted;
//! - CreateTime timestamps within `message.timestamp.{before,after}.max.ms` of now;
//! - the batch no larger than `max.message.bytes`.
//!
//! The record-level checks (count, offset deltas, field lengths, keys, per-record timestamps)
//! run only when [`ValidationOptions::records`] asks for them or the topic is compacted (records
//! need keys); otherwise a batch is checked by its header and CRC alone. Walking every record is
//! the broker's only per-record work on produce (about 100 ns a record uncompressed, and a full
//! decompression when compressed), and it buys little: the CRC already proves the bytes are the
//! ones the producer built, offsets come from the header (`last_offset_delta` = count - 1), and
//! consumers read records by their own offset deltas. Timestamps are then checked on the batch's
//! first and largest timestamp.

use crate::batch::records::{Input, RecordMeta, SliceInput, StreamInput, read_record_meta};
use crate::batch::view::{BatchHeader, BatchView, Batches};
use crate::codec::{self, Compression};
use crate::error::BatchError;

/// How strictly a produced batch is checked.
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    /// `max.message.bytes`: the largest batch accepted, header included.
    pub max_batch_bytes: usize,
    /// A compacted topic refuses records without a key.
    pub require_keys: bool,
    /// The time now, and how far before/after it a CreateTime timestamp may lie.
    pub timestamp_window: Option<TimestampWindow>,
    /// Check each record (decompressing compressed batches), as Kafka's `LogValidator` does.
    pub records: bool,
}

/// Bounds on CreateTime timestamps (KIP-937).
#[derive(Debug, Clone, Copy)]
pub struct TimestampWindow {
    pub now_ms: i64,
    pub before_max_ms: i64,
    pub after_max_ms: i64,
}

/// Decompressed bytes a batch may expand to, per compressed byte. Real data compresses far less
/// than 1000:1; the cap bounds the CPU a crafted batch can cost, never memory (output is streamed).
pub const DECOMPRESSION_RATIO_MAX: usize = 1024;
/// Floor of the decompression cap, for tiny batches.
pub const DECOMPRESSED_BYTES_MIN: usize = 1 << 20;

/// Cap on the decompressed size of one records section of `compressed_len` bytes.
pub fn decompressed_cap(compressed_len: usize) -> usize {
    compressed_len
        .saturating_mul(DECOMPRESSION_RATIO_MAX)
        .clamp(DECOMPRESSED_BYTES_MIN, i32::MAX as usize)
}

/// Validates the record set of one partition of a produce request and returns its one batch.
pub fn validate_produce<'a>(
    records: &'a [u8],
    opts: &ValidationOptions,
) -> Result<BatchView<'a>, BatchError> {
    let mut batches = Batches::new(records);
    let view = batches.next().ok_or(BatchError::Empty)??;
    if !batches.remaining().is_empty() {
        return Err(BatchError::Record {
            index: 0,
            detail: "a produce request may carry exactly one batch per partition".into(),
        });
    }
    validate_batch(&view, opts)?;
    Ok(view)
}

/// Checks one batch fully: header, CRC, size and every record.
pub fn validate_batch(view: &BatchView<'_>, opts: &ValidationOptions) -> Result<(), BatchError> {
    view.verify()?;
    let h = view.header();
    if view.bytes().len() > opts.max_batch_bytes {
        return Err(BatchError::TooLarge {
            size: view.bytes().len(),
            max: opts.max_batch_bytes,
        });
    }
    if h.is_control() {
        return Err(BatchError::ControlFromClient);
    }
    if h.base_offset != 0 {
        return Err(BatchError::Record {
            index: 0,
            detail: format!(
                "the base offset of a produced batch must be 0, not {}",
                h.base_offset
            ),
        });
    }
    if h.producer_id >= 0 && h.base_sequence < 0 {
        return Err(BatchError::Record {
            index: 0,
            detail: "an idempotent batch needs a base sequence".into(),
        });
    }
    if h.is_log_append_time() {
        return Err(BatchError::Timestamp {
            index: 0,
            timestamp: h.max_timestamp,
        });
    }
    if h.records_count < 1 {
        return Err(BatchError::Count {
            claimed: h.records_count,
            actual: 0,
        });
    }
    if h.last_offset_delta != h.records_count - 1 {
        return Err(BatchError::LastOffsetDelta {
            last_offset_delta: h.last_offset_delta,
            records: h.records_count,
        });
    }
    let compression = h.compression()?;
    let body = view.records_bytes();
    let check = |index: i64, m: &RecordMeta| check_record(h, index, m, opts);
    match compression {
        _ if !opts.records && !opts.require_keys => check_batch_timestamps(h, opts),
        Compression::None => walk_records(&mut SliceInput::new(body), h, check),
        codec => {
            let cap = decompressed_cap(body.len());
            let reader = codec::decompress_reader(codec, body, cap)?;
            let mut input = StreamInput::new(reader);
            walk_records(&mut input, h, check)?;
            // Bytes after the last record mean the count was a lie or the stream is corrupt.
            match input.at_end() {
                Ok(true) => Ok(()),
                Ok(false) => Err(BatchError::Count {
                    claimed: h.records_count,
                    actual: i64::from(h.records_count) + 1,
                }),
                Err(e) => Err(BatchError::Record {
                    index: i64::from(h.records_count),
                    detail: e.0,
                }),
            }
        }
    }
}

/// The timestamp window applied to a batch as a whole: its first record's timestamp (the base)
/// and its largest.
fn check_batch_timestamps(h: &BatchHeader, opts: &ValidationOptions) -> Result<(), BatchError> {
    let Some(w) = opts.timestamp_window else {
        return Ok(());
    };
    for ts in [h.base_timestamp, h.max_timestamp] {
        let too_old = ts < w.now_ms.saturating_sub(w.before_max_ms);
        let too_new = ts > w.now_ms.saturating_add(w.after_max_ms);
        if ts != -1 && (too_old || too_new) {
            return Err(BatchError::Timestamp {
                index: 0,
                timestamp: ts,
            });
        }
    }
    Ok(())
}

fn check_record(
    h: &BatchHeader,
    index: i64,
    m: &RecordMeta,
    opts: &ValidationOptions,
) -> Result<(), BatchError> {
    if i64::from(m.offset_delta) != index {
        return Err(BatchError::OffsetDelta {
            index,
            delta: m.offset_delta,
        });
    }
    if opts.require_keys && m.key_length < 0 {
        return Err(BatchError::MissingKey { index });
    }
    if let Some(w) = opts.timestamp_window
        && !h.is_log_append_time()
    {
        let ts = h.base_timestamp.wrapping_add(m.timestamp_delta);
        let too_old = ts < w.now_ms.saturating_sub(w.before_max_ms);
        let too_new = ts > w.now_ms.saturating_add(w.after_max_ms);
        // -1 means "no timestamp" and is never checked (Kafka's LogValidator).
        if ts != -1 && (too_old || too_new) {
            return Err(BatchError::Timestamp {
                index,
                timestamp: ts,
            });
        }
    }
    Ok(())
}

/// Walks every record of a batch, calling `f(index, meta)`, and checks the count.
pub fn walk_records<I, F>(input: &mut I, h: &BatchHeader, mut f: F) -> Result<(), BatchError>
where
    I: Input,
    F: FnMut(i64, &RecordMeta) -> Result<(), BatchError>,
{
    let mut index: i64 = 0;
    loop {
        let meta =
            read_record_meta(input).map_err(|e| BatchError::Record { index, detail: e.0 })?;
        let Some(meta) = meta else { break };
        if index >= i64::from(h.records_count) {
            return Err(BatchError::Count {
                claimed: h.records_count,
                actual: index + 1,
            });
        }
        f(index, &meta)?;
        index += 1;
    }
    if index != i64::from(h.records_count) {
        return Err(BatchError::Count {
            claimed: h.records_count,
            actual: index,
        });
    }
    Ok(())
}

/// The first record of `view` at or after offset `min_offset` whose timestamp is ≥ `target`, as
/// `(offset, timestamp)`. With LogAppendTime every record carries the batch's max timestamp.
/// `min_offset` is the log start offset: DeleteRecords can move it into the middle of a batch.
pub fn first_at_or_after(
    view: &BatchView<'_>,
    target: i64,
    min_offset: i64,
) -> Result<Option<(i64, i64)>, BatchError> {
    let h = *view.header();
    if h.max_timestamp < target || h.last_offset() < min_offset {
        return Ok(None);
    }
    if h.is_log_append_time() {
        return Ok(Some((h.base_offset.max(min_offset), h.max_timestamp)));
    }
    let mut found = None;
    let visit = |_: i64, m: &RecordMeta| {
        let ts = h.base_timestamp.wrapping_add(m.timestamp_delta);
        let offset = h.base_offset + i64::from(m.offset_delta);
        if found.is_none() && ts >= target && offset >= min_offset {
            found = Some((offset, ts));
        }
        Ok(())
    };
    scan(view, visit)?;
    Ok(found)
}

/// The offset and timestamp of the record with the largest timestamp in `view` at or after
/// `min_offset` (the first one when several share it); `None` if no record qualifies.
pub fn max_timestamp_record(
    view: &BatchView<'_>,
    min_offset: i64,
) -> Result<Option<(i64, i64)>, BatchError> {
    let h = *view.header();
    if h.last_offset() < min_offset {
        return Ok(None);
    }
    if h.is_log_append_time() {
        return Ok(Some((h.base_offset.max(min_offset), h.max_timestamp)));
    }
    let mut best: Option<(i64, i64)> = None;
    scan(view, |_, m| {
        let ts = h.base_timestamp.wrapping_add(m.timestamp_delta);
        let offset = h.base_offset + i64::from(m.offset_delta);
        if offset >= min_offset && best.is_none_or(|b| ts > b.1) {
            best = Some((offset, ts));
        }
        Ok(())
    })?;
    Ok(best)
}

fn scan<F>(view: &BatchView<'_>, f: F) -> Result<(), BatchError>
where
    F: FnMut(i64, &RecordMeta) -> Result<(), BatchError>,
{
    let h = view.header();
    let body = view.records_bytes();
    match h.compression()? {
        Compression::None => walk_records(&mut SliceInput::new(body), h, f),
        codec => {
            let reader = codec::decompress_reader(codec, body, decompressed_cap(body.len()))?;
            walk_records(&mut StreamInput::new(reader), h, f)
        }
    }
}
