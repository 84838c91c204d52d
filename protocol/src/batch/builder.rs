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
        let offset_delta = self.count;
        let mut body_len = 1 + varlong_len(ts_delta) + varint_len(offset_delta);
        body_len += bytes_len(r.key) + bytes_len(r.value);
        body_len += varint_len(r.headers.len() as i32);
        for (k, v) in r.headers {
            body_len += varint_len(k.len() as i32) + k.len() + bytes_len(*v);
        }
        put_varint(&mut self.records, body_len as i32);
        self.records.push(0);
        put_varlong(&mut self.records, ts_delta);
        put_varint(&mut self.records, offset_delta);
        put_bytes(&mut self.records, r.key);
        put_bytes(&mut self.records, r.value);
        put_varint(&mut self.records, r.headers.len() as i32);
        for (k, v) in r.headers {
            put_varint(&mut self.records, k.len() as i32);
            self.records.extend_from_slice(k);
            put_bytes(&mut self.records, *v);
        }
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
