//! A zero-copy view of record batch v2 headers.
//!
//! ```text
//! offset  size  field                   covered by CRC
//!      0     8  base_offset             no  (assigned by the broker)
//!      8     4  batch_length            no  (bytes after this field)
//!     12     4  partition_leader_epoch  no  (set by the broker)
//!     16     1  magic (= 2)             no
//!     17     4  crc (CRC32C)            -
//!     21     2  attributes              yes (bits 0-2 codec, 3 timestamp type,
//!                                            4 transactional, 5 control, 6 delete horizon)
//!     23     4  last_offset_delta       yes
//!     27     8  base_timestamp          yes
//!     35     8  max_timestamp           yes
//!     43     8  producer_id             yes
//!     51     2  producer_epoch          yes
//!     53     4  base_sequence           yes
//!     57     4  records_count           yes
//!     61     -  records (maybe compressed)  yes
//! ```
//! The broker rewrites only the fields outside the CRC, which is why batches can be stored and
//! served byte for byte as producers sent them.

use crate::codec::Compression;
use crate::error::BatchError;

pub const BASE_OFFSET: usize = 0;
pub const BATCH_LENGTH: usize = 8;
pub const PARTITION_LEADER_EPOCH: usize = 12;
pub const MAGIC: usize = 16;
pub const CRC: usize = 17;
pub const ATTRIBUTES: usize = 21;
pub const LAST_OFFSET_DELTA: usize = 23;
pub const BASE_TIMESTAMP: usize = 27;
pub const MAX_TIMESTAMP: usize = 35;
pub const PRODUCER_ID: usize = 43;
pub const PRODUCER_EPOCH: usize = 51;
pub const BASE_SEQUENCE: usize = 53;
pub const RECORDS_COUNT: usize = 57;
/// Size of the batch header; records start here.
pub const HEADER_BYTES: usize = 61;
/// Bytes before the part counted by `batch_length`.
pub const LOG_OVERHEAD: usize = 12;

pub const ATTR_TIMESTAMP_TYPE: i16 = 0x08;
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
pub const ATTR_CONTROL: i16 = 0x20;
pub const ATTR_DELETE_HORIZON: i16 = 0x40;

/// The decoded fixed header of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Total size of the batch on the wire, prefix included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_attributes(self.attributes).map_err(BatchError::Codec)
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & ATTR_TIMESTAMP_TYPE != 0
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Reads `base_offset` and `batch_length` only: enough to walk a log without parsing headers.
/// Returns `None` when fewer than 12 bytes remain.
pub fn peek_offset_and_length(buf: &[u8]) -> Option<(i64, i32)> {
    if buf.len() < LOG_OVERHEAD {
        return None;
    }
    Some((i64_at(buf, BASE_OFFSET), i32_at(buf, BATCH_LENGTH)))
}

/// One whole batch, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct BatchView<'a> {
    bytes: &'a [u8],
    header: BatchHeader,
}

impl<'a> BatchView<'a> {
    /// Parses the batch at the front of `buf`, checking that its length field is sane and that
    /// the whole batch is present. Returns the view and the bytes after it.
    /// Magic and CRC are not checked here: see [`BatchView::verify`].
    pub fn parse(buf: &'a [u8], position: usize) -> Result<(BatchView<'a>, &'a [u8]), BatchError> {
        if buf.len() < HEADER_BYTES {
            return Err(BatchError::Truncated {
                position,
                claimed: HEADER_BYTES,
                remaining: buf.len(),
            });
        }
        let batch_length = i32_at(buf, BATCH_LENGTH);
        let min = (HEADER_BYTES - LOG_OVERHEAD) as i32;
        if batch_length < min {
            return Err(BatchError::LengthTooSmall(batch_length));
        }
        let size = LOG_OVERHEAD + batch_length as usize;
        if buf.len() < size {
            return Err(BatchError::Truncated {
                position,
                claimed: size,
                remaining: buf.len(),
            });
        }
        let (bytes, rest) = buf.split_at(size);
        let header = BatchHeader {
            base_offset: i64_at(bytes, BASE_OFFSET),
            batch_length,
            partition_leader_epoch: i32_at(bytes, PARTITION_LEADER_EPOCH),
            magic: bytes[MAGIC] as i8,
            crc: u32::from_be_bytes([bytes[CRC], bytes[CRC + 1], bytes[CRC + 2], bytes[CRC + 3]]),
            attributes: i16_at(bytes, ATTRIBUTES),
            last_offset_delta: i32_at(bytes, LAST_OFFSET_DELTA),
            base_timestamp: i64_at(bytes, BASE_TIMESTAMP),
            max_timestamp: i64_at(bytes, MAX_TIMESTAMP),
            producer_id: i64_at(bytes, PRODUCER_ID),
            producer_epoch: i16_at(bytes, PRODUCER_EPOCH),
            base_sequence: i32_at(bytes, BASE_SEQUENCE),
            records_count: i32_at(bytes, RECORDS_COUNT),
        };
        Ok((BatchView { bytes, header }, rest))
    }

    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The records section, compressed or not.
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.bytes[HEADER_BYTES..]
    }

    /// Checks magic 2 and the CRC32C over attributes..end.
    pub fn verify(&self) -> Result<(), BatchError> {
        if self.header.magic != 2 {
            return Err(BatchError::Magic(self.header.magic));
        }
        let computed = crate::crc::crc32c(&self.bytes[ATTRIBUTES..]);
        if computed != self.header.crc {
            return Err(BatchError::Crc {
                stored: self.header.crc,
                computed,
            });
        }
        Ok(())
    }
}

/// Iterates the batches of a record set. A trailing partial batch (as a fetch response may end
/// with) is reported as `Err(Truncated)` and ends the iteration.
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [u8],
    position: usize,
    done: bool,
}

impl<'a> Batches<'a> {
    pub fn new(buf: &'a [u8]) -> Batches<'a> {
        Batches {
            rest: buf,
            position: 0,
            done: false,
        }
    }

    /// Bytes not yet returned.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// Byte position of the next batch within the record set.
    pub fn position(&self) -> usize {
        self.position
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<BatchView<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        match BatchView::parse(self.rest, self.position) {
            Ok((view, rest)) => {
                self.position += view.bytes.len();
                self.rest = rest;
                Some(Ok(view))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Writes the broker-assigned fields that lie outside the CRC.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks a batch as LogAppendTime with `now` as its max timestamp, then recomputes the CRC:
/// both fields lie inside it (Kafka's `LogValidator` does the same).
pub fn set_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attrs = i16_at(batch, ATTRIBUTES) | ATTR_TIMESTAMP_TYPE;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    rewrite_crc(batch);
}

/// Recomputes the CRC32C of a batch after a field inside it changed.
pub fn rewrite_crc(batch: &mut [u8]) {
    let crc = crate::crc::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}
