//! lz4 in the LZ4 frame format (what Kafka has used since magic v1 fixed its header checksum).

use std::io::{Read, Write};

use lz4_flex::frame::{FrameDecoder, FrameEncoder, FrameInfo};

use crate::error::CodecError;

pub(super) fn reader<'a>(input: &'a [u8]) -> Box<dyn Read + Send + 'a> {
    Box::new(FrameDecoder::new(input))
}

pub(super) fn compress(input: &[u8]) -> Result<Vec<u8>, CodecError> {
    // 64 KiB independent blocks, as the Java client's KafkaLZ4BlockOutputStream writes them.
    let info = FrameInfo::new().block_size(lz4_flex::frame::BlockSize::Max64KB);
    let mut enc = FrameEncoder::with_frame_info(info, Vec::with_capacity(input.len() / 2 + 64));
    enc.write_all(input)
        .map_err(|e| e.to_string())
        .and_then(|()| enc.finish().map_err(|e| e.to_string()))
        .map_err(|detail| CodecError::Compress {
            codec: "lz4",
            detail,
        })
}
