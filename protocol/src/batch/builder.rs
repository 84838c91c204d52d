//! Builds v2 record batches: used for control and metadata records, broker-side recompression,
//! the load benchmark and tests.

use crate::batch::view::{self, ATTR_CONTROL, ATTR_TRANSACTIONAL, HEADER_BYTES};
use crate::codec::{self, Compression};
use crate::error::CodecError;
use crate::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// One record to add to a batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct NewRecord<'a> {
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: &'a [(&'a [u8], Option<&'a [u8]>)],
}

/// Accumulates records, then emits one batch with base offset 0.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    attributes: i16,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    records: Vec<u8>,
    count: i32,
}

impl BatchBuilder {
    pub fn new(compression: Compression) -> BatchBuilder {
        BatchBuilder {
            compression,
            attributes: compression.id(),
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            partition_leader_epoch: -1,
            base_timestamp: None,
            max_timestamp: -1,
            records: Vec::new(),
            count: 0,
        }
    }

    /// Marks the batch as written by an idempotent or transactional producer.
    pub fn producer(mut self, producer_id: i64, producer_epoch: i16, base_sequence: i32) -> Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    pub fn transactional(mut self, on: bool) -> Self {
        self.set_flag(ATTR_TRANSACTIONAL, on);
        self
    }

    pub fn control(mut self, on: bool) -> Self {
        self.set_flag(ATTR_CONTROL, on);
        self
    }

    fn set_flag(&mut self, flag: i16, on: bool) {
        if on {
            self.attributes |= flag;
        } else {
            self.attributes &= !flag;
        }
    }

    pub fn len(&self) -> i32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Uncompressed size so far: header plus encoded records.
    pub fn size(&self) -> usize {
        HEADER_BYTES + self.records.len()
    }

    pub fn push(&mut self, r: NewRecord<'_>) {
        let base = *self.base_timestamp.get_or_insert(r.timestamp);
        self.max_timestamp = self.max_timestamp.max(r.timestamp);
        let ts_delta = r.timestamp.wrapping_sub(base);
        encode_record(
            &mut self.records,
            0,
            ts_delta,
            self.count,
            r.key,
            r.value,
            r.headers,
        );
        self.count += 1;
    }

    /// Encodes the batch (base offset 0) and computes its CRC.
    pub fn build(self) -> Result<Vec<u8>, CodecError> {
        let body = codec::compress(self.compression, &self.records)?;
        Ok(self.finish(&body))
    }

    /// Encodes the batch header around an already-encoded records section.
    fn finish(self, body: &[u8]) -> Vec<u8> {
        let base_ts = self.base_timestamp.unwrap_or(-1);
        let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
        out.extend_from_slice(&0i64.to_be_bytes());
        let batch_length = (HEADER_BYTES - view::LOG_OVERHEAD + body.len()) as i32;
        out.extend_from_slice(&batch_length.to_be_bytes());
        out.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out.push(2);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&self.attributes.to_be_bytes());
        out.extend_from_slice(&(self.count - 1).max(0).to_be_bytes());
        out.extend_from_slice(&base_ts.to_be_bytes());
        out.extend_from_slice(&self.max_timestamp.to_be_bytes());
        out.extend_from_slice(&self.producer_id.to_be_bytes());
        out.extend_from_slice(&self.producer_epoch.to_be_bytes());
        out.extend_from_slice(&self.base_sequence.to_be_bytes());
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(body);
        view::rewrite_crc(&mut out);
        out
    }
}

/// Appends one encoded record (length prefix included).
pub fn encode_record(
    out: &mut Vec<u8>,
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&[u8], Option<&[u8]>)],
) {
    let mut body_len = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
    body_len += bytes_len(key) + bytes_len(value);
    body_len += varint_len(headers.len() as i32);
    for (k, v) in headers {
        body_len += varint_len(k.len() as i32) + k.len() + bytes_len(*v);
    }
    put_varint(out, body_len as i32);
    out.push(attributes as u8);
    put_varlong(out, timestamp_delta);
    put_varint(out, offset_delta);
    put_bytes(out, key);
    put_bytes(out, value);
    put_varint(out, headers.len() as i32);
    for (k, v) in headers {
        put_varint(out, k.len() as i32);
        out.extend_from_slice(k);
        put_bytes(out, *v);
    }
}

fn bytes_len(b: Option<&[u8]>) -> usize {
    match b {
        None => varint_len(-1),
        Some(b) => varint_len(b.len() as i32) + b.len(),
    }
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i32);
            out.extend_from_slice(b);
        }
    }
}

/// Rewrites a batch with another codec, keeping every header field and the records section's
/// bytes (only their compression changes), for topics whose `compression.type` names a codec.
pub fn recompress(
    batch: &view::BatchView<'_>,
    target: Compression,
    decompressed_cap: usize,
) -> Result<Vec<u8>, crate::error::BatchError> {
    let source = batch.header().compression()?;
    let raw = codec::decompress_to_vec(source, batch.records_bytes(), decompressed_cap)?;
    let body = codec::compress(target, &raw)?;
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&batch.bytes()[..HEADER_BYTES]);
    out.extend_from_slice(&body);
    let batch_length = (HEADER_BYTES - view::LOG_OVERHEAD + body.len()) as i32;
    out[view::BATCH_LENGTH..view::BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_be_bytes());
    let attrs = (batch.header().attributes & !0x07) | target.id();
    out[view::ATTRIBUTES..view::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    view::rewrite_crc(&mut out);
    Ok(out)
}

/// What filtering keeps of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filtered {
    /// Every record: the batch can be kept byte for byte.
    All,
    /// No record.
    Nothing,
    /// Some records, in a rewritten batch.
    Rewritten(Vec<u8>),
}

/// Rewrites a batch keeping the records `keep(offset, record)` selects (log compaction).
///
/// Every header field that identifies the batch is preserved: base offset and last offset delta
/// (so offsets do not move and the next batch still follows), producer id, epoch and base
/// sequence, partition leader epoch, and the attributes. Records keep their offsets (their
/// deltas), leaving gaps. `delete_horizon`, when given and the batch has none yet, marks the
/// batch with KIP-534's delete horizon: attribute bit 6 set and the base timestamp field holding
/// the horizon, record timestamp deltas re-encoded against it so record timestamps do not change.
pub fn filter_batch(
    batch: &view::BatchView<'_>,
    decompressed_cap: usize,
    delete_horizon: Option<i64>,
    mut keep: impl FnMut(i64, &crate::batch::records::Record<'_>) -> bool,
) -> Result<Filtered, crate::error::BatchError> {
    use crate::batch::records::RecordIter;
    use crate::error::BatchError;
    let h = *batch.header();
    let codec = h.compression()?;
    let owned;
    let body: &[u8] = match codec {
        Compression::None => batch.records_bytes(),
        c => {
            owned = codec::decompress_to_vec(c, batch.records_bytes(), decompressed_cap)?;
            &owned
        }
    };
    let set_horizon = delete_horizon.filter(|_| h.attributes & view::ATTR_DELETE_HORIZON == 0);
    let mut kept = Vec::with_capacity(body.len());
    let mut total = 0i64;
    let mut count = 0i32;
    let mut max_ts = i64::MIN;
    for (i, r) in RecordIter::new(body).enumerate() {
        let r = r.map_err(|e| BatchError::Record {
            index: i as i64,
            detail: e.0,
        })?;
        total += 1;
        let offset = h.base_offset + i64::from(r.offset_delta);
        if !keep(offset, &r) {
            continue;
        }
        count += 1;
        let ts = h.base_timestamp.wrapping_add(r.timestamp_delta);
        max_ts = max_ts.max(ts);
        match set_horizon {
            None => kept.extend_from_slice(r.raw),
            Some(horizon) => encode_record(
                &mut kept,
                r.attributes,
                ts.wrapping_sub(horizon),
                r.offset_delta,
                r.key,
                r.value,
                &r.headers,
            ),
        }
    }
    if count == 0 {
        return Ok(Filtered::Nothing);
    }
    if i64::from(count) == total && set_horizon.is_none() {
        return Ok(Filtered::All);
    }
    let body = codec::compress(codec, &kept)?;
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&batch.bytes()[..HEADER_BYTES]);
    out.extend_from_slice(&body);
    let batch_length = (HEADER_BYTES - view::LOG_OVERHEAD + body.len()) as i32;
    out[view::BATCH_LENGTH..view::BATCH_LENGTH + 4].copy_from_slice(&batch_length.to_be_bytes());
    out[view::RECORDS_COUNT..view::RECORDS_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    if let Some(horizon) = set_horizon {
        let attrs = h.attributes | view::ATTR_DELETE_HORIZON;
        out[view::ATTRIBUTES..view::ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        out[view::BASE_TIMESTAMP..view::BASE_TIMESTAMP + 8].copy_from_slice(&horizon.to_be_bytes());
    }
    if !h.is_log_append_time() {
        out[view::MAX_TIMESTAMP..view::MAX_TIMESTAMP + 8].copy_from_slice(&max_ts.to_be_bytes());
    }
    view::rewrite_crc(&mut out);
    Ok(Filtered::Rewritten(out))
}
