//! Request bodies: a structural check, then kafka-protocol's generated decoder.

use bytes::Bytes;
use kafka_protocol::protocol::{Decodable, Message};

use crate::error::DecodeError;
use crate::shape;

/// A request body that passed [`shape::check`], with what decoding it may cost in memory.
#[derive(Debug)]
pub struct CheckedBody {
    pub body: Bytes,
    pub api_key: i16,
    pub version: i16,
    /// Arrays and strings the body holds: the decoded form needs roughly
    /// `elements * shape::ELEMENT_BYTES` bytes beyond the frame itself.
    pub elements: usize,
}

/// Checks a body's structure for its API key and version, so that every count in it is bounded
/// by the bytes that remain, before any decoder allocates from it.
pub fn check(api_key: i16, version: i16, body: Bytes) -> Result<CheckedBody, DecodeError> {
    let elements = shape::check(api_key, version, &body)?;
    Ok(CheckedBody {
        body,
        api_key,
        version,
        elements,
    })
}

/// Decodes a checked body into the kafka-protocol message type.
pub fn decode<T: Decodable + Message>(checked: CheckedBody) -> Result<T, DecodeError> {
    let CheckedBody {
        mut body, version, ..
    } = checked;
    if version < T::VERSIONS.min || version > T::VERSIONS.max {
        return Err(DecodeError::invalid(
            "version",
            format!("{version} outside {}", T::VERSIONS),
        ));
    }
    T::decode(&mut body, version).map_err(|e| DecodeError::Body(format!("{e:#}")))
}
