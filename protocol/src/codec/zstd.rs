//! zstd, streamed. The decoder's window is limited (2^27 bytes, zstd's default limit), so a
//! frame header cannot make it allocate more than that.

use std::io::Read;

use crate::error::CodecError;

pub(super) fn reader<'a>(input: &'a [u8]) -> Result<Box<dyn Read + Send + 'a>, CodecError> {
    let mut dec =
        ::zstd::stream::read::Decoder::with_buffer(input).map_err(|e| CodecError::Corrupt {
            codec: "zstd",
            detail: e.to_string(),
        })?;
    dec.window_log_max(27).map_err(|e| CodecError::Corrupt {
        codec: "zstd",
        detail: e.to_string(),
    })?;
    Ok(Box::new(dec))
}

pub(super) fn compress(input: &[u8]) -> Result<Vec<u8>, CodecError> {
    ::zstd::bulk::compress(input, 3).map_err(|e| CodecError::Compress {
        codec: "zstd",
        detail: e.to_string(),
    })
}
