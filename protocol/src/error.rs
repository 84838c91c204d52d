//! Typed errors of the protocol edge. kafka-protocol reports decode failures as `anyhow`;
//! they are turned into [`DecodeError`] once, here, so the rest of the node matches on types.

use thiserror::Error;

/// A frame length prefix that must close the connection (Kafka's `InvalidReceiveException`).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame length {0} is negative")]
    Negative(i32),
    #[error("frame length {len} exceeds socket.request.max.bytes ({max})")]
    TooLarge { len: usize, max: usize },
    #[error("frame length {0} is too short to hold a request header")]
    TooShort(usize),
}

/// A request (header or body) that could not be decoded. The connection it came from is closed,
/// as a Kafka broker does on an `InvalidRequestException`.
#[derive(Debug, Error)]
pub enum DecodeError {
    #[error("truncated {what}: needed {needed} bytes, {remaining} remain")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    #[error("invalid {what}: {detail}")]
    Invalid { what: &'static str, detail: String },
    #[error("array of {count} elements cannot fit in the {remaining} bytes that remain")]
    ArrayTooLong { count: u64, remaining: usize },
    #[error("request body has {0} trailing bytes")]
    Trailing(usize),
    #[error("request decodes to more than the allowed {0} bytes of structures")]
    TooManyElements(usize),
    #[error("malformed request body: {0}")]
    Body(String),
}

impl DecodeError {
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Invalid {
            what,
            detail: detail.into(),
        }
    }
}

/// Why a record batch was refused. Each variant maps to the Kafka error code a producer receives.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    #[error(
        "record set is truncated: batch at byte {position} claims {claimed} bytes, {remaining} remain"
    )]
    Truncated {
        position: usize,
        claimed: usize,
        remaining: usize,
    },
    #[error("batch length {0} is smaller than a batch header")]
    LengthTooSmall(i32),
    #[error("unsupported record batch magic {0}: only magic v2 is accepted")]
    Magic(i8),
    #[error("CRC32C mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc { stored: u32, computed: u32 },
    #[error("unknown compression codec {0}")]
    Codec(u8),
    #[error("batch claims {claimed} records but holds {actual}")]
    Count { claimed: i32, actual: i64 },
    #[error("record {index} has offset delta {delta}, expected {index}")]
    OffsetDelta { index: i64, delta: i32 },
    #[error("last offset delta {last_offset_delta} does not match {records} records")]
    LastOffsetDelta {
        last_offset_delta: i32,
        records: i32,
    },
    #[error("malformed record {index}: {detail}")]
    Record { index: i64, detail: String },
    #[error("decompression failed: {0}")]
    Decompress(#[from] CodecError),
    #[error("empty record set")]
    Empty,
    #[error("record {index} has no key, which a compacted topic requires")]
    MissingKey { index: i64 },
    #[error("batch of {size} bytes exceeds max.message.bytes ({max})")]
    TooLarge { size: usize, max: usize },
    #[error("control batches may not be produced by clients")]
    ControlFromClient,
    #[error("record {index} has timestamp {timestamp}, outside the accepted window")]
    Timestamp { index: i64, timestamp: i64 },
}

/// A compression codec failure, including the output-size caps that stop decompression bombs.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("{codec}: {detail}")]
    Corrupt { codec: &'static str, detail: String },
    #[error("{codec}: decompressed size exceeds the cap of {cap} bytes")]
    TooLarge { codec: &'static str, cap: usize },
    #[error("{codec}: compression failed: {detail}")]
    Compress { codec: &'static str, detail: String },
}
