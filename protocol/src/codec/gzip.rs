//! gzip: possibly several members (some producers flush mid-batch), read with `MultiGzDecoder`.

use std::io::{Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use crate::error::CodecError;

pub(super) fn reader<'a>(input: &'a [u8]) -> Box<dyn Read + Send + 'a> {
    Box::new(MultiGzDecoder::new(input))
}

pub(super) fn compress(input: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(input.len() / 2 + 64),
        flate2::Compression::default(),
    );
    enc.write_all(input)
        .and_then(|()| enc.finish())
        .map_err(|e| CodecError::Compress {
            codec: "gzip",
            detail: e.to_string(),
        })
}
