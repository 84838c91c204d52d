//! The Kafka wire protocol as Pilgrimage speaks it, with no I/O and no async runtime.
//!
//! ```text
//!  socket bytes ──▶ frame::check_len ──▶ header::RequestHeader::parse ──▶ shape::check ──▶ request::decode
//!                   (length prefix,       (api key, version,              (every array     (kafka-protocol's
//!                    rejected before       correlation id, client id,      count bounded    generated structs)
//!                    any allocation)       header tagged fields)           by the bytes)
//!
//!  produce records ──▶ batch::BatchView::parse ──▶ validate (CRC32C, lengths, counts, offset deltas)
//!                                             └──▶ codec::* (streamed, capped decompression)
//!
//!  responses ◀── response::encode (header version chosen per API and version)
//! ```
//!
//! Everything that reads a length or a count off the wire checks it against what remains
//! before allocating: a frame can be at most `socket.request.max.bytes`, and nothing decoded
//! from it may claim more memory than a small multiple of that.

#![forbid(unsafe_code)]

pub mod batch;
pub mod codec;
pub mod crc;
pub mod error;
pub mod fetch;
pub mod frame;
pub mod fuzz;
pub mod header;
pub mod placement;
pub mod request;
pub mod response;
pub mod shape;
pub mod varint;

pub use error::{BatchError, CodecError, DecodeError, FrameError};
