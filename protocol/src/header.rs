//! Request headers, parsed by hand so that an unknown API key or version is still answered with
//! the request's correlation id (kafka-protocol refuses unknown keys outright).
//!
//! ```text
//! v1: api_key i16 | api_version i16 | correlation_id i32 | client_id nullable string (i16 length)
//! v2: v1 followed by tagged fields (unsigned varint count, then tag, size, bytes each)
//! ```
//! Kafka 4 accepts no header v0 (it was only used by ControlledShutdown v0).

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ApiKey;

use crate::error::DecodeError;
use crate::varint::read_unsigned;

/// The parsed request header. `api_key` stays an `i16` so unknown keys can be logged and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub api_key: i16,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<String>,
}

impl RequestHeader {
    /// The API key, if it is one kafka-protocol knows.
    pub fn key(&self) -> Option<ApiKey> {
        ApiKey::try_from(self.api_key).ok()
    }

    /// Reads just the fixed part (key, version, correlation id). Used when the rest cannot be
    /// parsed, so the reason for closing can still be logged against a correlation id.
    pub fn peek(frame: &[u8]) -> Option<(i16, i16, i32)> {
        let b = frame.get(..8)?;
        Some((
            i16::from_be_bytes([b[0], b[1]]),
            i16::from_be_bytes([b[2], b[3]]),
            i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ))
    }

    /// Parses the header from the front of `frame`, leaving the body in it.
    ///
    /// The header version comes from the API key and version (flexible versions use header v2).
    /// Unknown keys are parsed as header v1: enough to read the client id for the log.
    pub fn parse(frame: &mut Bytes) -> Result<RequestHeader, DecodeError> {
        let (api_key, api_version, correlation_id) =
            Self::peek(frame).ok_or(DecodeError::Truncated {
                what: "request header",
                needed: 8,
                remaining: frame.len(),
            })?;
        frame.advance(8);
        let header_version = match ApiKey::try_from(api_key) {
            Ok(key) => key.request_header_version(api_version.max(0)),
            Err(()) => 1,
        };
        let client_id = read_nullable_string(frame)?;
        if header_version >= 2 {
            skip_tagged_fields(frame)?;
        }
        Ok(RequestHeader {
            api_key,
            api_version,
            correlation_id,
            client_id,
        })
    }
}

fn read_nullable_string(buf: &mut Bytes) -> Result<Option<String>, DecodeError> {
    if buf.len() < 2 {
        return Err(DecodeError::Truncated {
            what: "client id length",
            needed: 2,
            remaining: buf.len(),
        });
    }
    let len = buf.get_i16();
    if len < 0 {
        return Ok(None);
    }
    let len = len as usize;
    if buf.len() < len {
        return Err(DecodeError::Truncated {
            what: "client id",
            needed: len,
            remaining: buf.len(),
        });
    }
    let raw = buf.split_to(len);
    String::from_utf8(raw.to_vec())
        .map(Some)
        .map_err(|_| DecodeError::invalid("client id", "not UTF-8"))
}

/// Skips a tagged-field section, checking each size against what remains.
pub fn skip_tagged_fields(buf: &mut Bytes) -> Result<(), DecodeError> {
    let count = take_unsigned(buf, "tagged field count")?;
    for _ in 0..count {
        let _tag = take_unsigned(buf, "tag")?;
        let size = take_unsigned(buf, "tagged field size")?;
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if buf.len() < size {
            return Err(DecodeError::Truncated {
                what: "tagged field",
                needed: size,
                remaining: buf.len(),
            });
        }
        buf.advance(size);
    }
    Ok(())
}

fn take_unsigned(buf: &mut Bytes, what: &'static str) -> Result<u64, DecodeError> {
    let (v, used) = read_unsigned(buf, 5).ok_or(DecodeError::invalid(what, "bad varint"))?;
    buf.advance(used);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v1_and_v2_headers() {
        // Metadata v1 (header v1), client id "abc"
        let mut f = Bytes::from_static(b"\x00\x03\x00\x01\x00\x00\x00\x07\x00\x03abcBODY");
        let h = RequestHeader::parse(&mut f).unwrap();
        assert_eq!(h.api_key, 3);
        assert_eq!(h.correlation_id, 7);
        assert_eq!(h.client_id.as_deref(), Some("abc"));
        assert_eq!(&f[..], b"BODY");
        // ApiVersions v3 (header v2): null client id, no tagged fields
        let mut f = Bytes::from_static(b"\x00\x12\x00\x03\x00\x00\x00\x09\xff\xff\x00rest");
        let h = RequestHeader::parse(&mut f).unwrap();
        assert_eq!(h.client_id, None);
        assert_eq!(&f[..], b"rest");
    }

    #[test]
    fn truncated_headers_are_errors() {
        for n in 0..12 {
            let mut f = Bytes::copy_from_slice(
                &b"\x00\x03\x00\x01\x00\x00\x00\x07\x00\x05abc"[..n.min(13)],
            );
            assert!(RequestHeader::parse(&mut f).is_err(), "{n}");
        }
    }
}
