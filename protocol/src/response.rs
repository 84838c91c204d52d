//! Response framing: size prefix, response header (v0, or v1 with tagged fields for flexible
//! versions; ApiVersions always v0 so old clients can read the error), then the body.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::Encodable;
use thiserror::Error;

/// Encoding a response failed: a bug in the broker (a field out of range for the version),
/// never the client's fault. The connection is closed and the error logged.
#[derive(Debug, Error)]
#[error("cannot encode {api:?} v{version} response: {detail}")]
pub struct EncodeError {
    pub api: ApiKey,
    pub version: i16,
    pub detail: String,
}

/// Appends one framed response to `out`.
pub fn encode<T: Encodable>(
    out: &mut BytesMut,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<(), EncodeError> {
    let err = |detail: String| EncodeError {
        api,
        version,
        detail,
    };
    let header_version = api.response_header_version(version);
    let size = body
        .compute_size(version)
        .map_err(|e| err(format!("{e:#}")))?;
    let header_len = if header_version >= 1 { 5 } else { 4 };
    let total = header_len + size;
    let total_i32 = i32::try_from(total).map_err(|_| err("response too large".into()))?;
    out.reserve(4 + total);
    out.put_i32(total_i32);
    out.put_i32(correlation_id);
    if header_version >= 1 {
        out.put_u8(0); // no tagged fields
    }
    let before = out.len();
    body.encode(out, version)
        .map_err(|e| err(format!("{e:#}")))?;
    debug_assert_eq!(
        out.len() - before,
        size,
        "compute_size disagrees with encode"
    );
    Ok(())
}

/// Appends a response whose body the caller already encoded (hand-built bodies, such as the
/// error answers to Produce v0–v2 that kafka-protocol cannot encode).
pub fn encode_raw(out: &mut BytesMut, correlation_id: i32, header_v1: bool, body: &[u8]) {
    let header_len = if header_v1 { 5 } else { 4 };
    out.reserve(4 + header_len + body.len());
    out.put_i32((header_len + body.len()) as i32);
    out.put_i32(correlation_id);
    if header_v1 {
        out.put_u8(0);
    }
    out.put_slice(body);
}
