//! snappy, in both forms found in Kafka batches:
//!
//! - raw snappy (one block for the whole records section), written by librdkafka;
//! - the xerial framing written by the Java client (snappy-java's `SnappyOutputStream`):
//!   ```text
//!   magic  \x82 S N A P P Y \x00   (8 bytes)
//!   version i32, compatible version i32
//!   then blocks: length u32 (big-endian) | raw snappy block
//!   ```
//!
//! Every raw block announces its decompressed length up front; it is checked against the cap
//! before the output buffer is allocated.

use std::io::{self, Read};

use crate::error::CodecError;

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_BYTES: usize = 16;
/// Block size the Java client uses when it writes xerial snappy.
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;

fn corrupt(detail: impl ToString) -> CodecError {
    CodecError::Corrupt {
        codec: "snappy",
        detail: detail.to_string(),
    }
}

pub(super) fn reader<'a>(
    input: &'a [u8],
    cap: usize,
) -> Result<Box<dyn Read + Send + 'a>, CodecError> {
    if input.len() >= XERIAL_HEADER_BYTES && input.starts_with(XERIAL_MAGIC) {
        return Ok(Box::new(Xerial {
            rest: &input[XERIAL_HEADER_BYTES..],
            block: Vec::new(),
            pos: 0,
            cap,
        }));
    }
    let out = raw_block(input, cap)?;
    Ok(Box::new(io::Cursor::new(out)))
}

fn raw_block(block: &[u8], cap: usize) -> Result<Vec<u8>, CodecError> {
    let len = snap::raw::decompress_len(block).map_err(corrupt)?;
    if len > cap {
        return Err(CodecError::TooLarge {
            codec: "snappy",
            cap,
        });
    }
    let mut out = vec![0u8; len];
    let n = snap::raw::Decoder::new()
        .decompress(block, &mut out)
        .map_err(corrupt)?;
    out.truncate(n);
    Ok(out)
}

/// Reads xerial blocks one at a time, so memory is one block, not the whole batch.
struct Xerial<'a> {
    rest: &'a [u8],
    block: Vec<u8>,
    pos: usize,
    cap: usize,
}

impl Read for Xerial<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if self.rest.is_empty() {
                return Ok(0);
            }
            let Some((len, tail)) = self.rest.split_first_chunk::<4>() else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated xerial block length",
                ));
            };
            let len = u32::from_be_bytes(*len) as usize;
            if tail.len() < len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "truncated xerial block",
                ));
            }
            let (block, rest) = tail.split_at(len);
            self.rest = rest;
            self.block = raw_block(block, self.cap).map_err(|e| match e {
                CodecError::TooLarge { .. } => {
                    io::Error::new(io::ErrorKind::FileTooLarge, e.to_string())
                }
                other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
            })?;
            self.pos = 0;
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Compresses in the xerial framing, 32 KiB blocks.
pub(super) fn compress_xerial(input: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    out.extend_from_slice(XERIAL_MAGIC);
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    let mut enc = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_BYTES) {
        let block = enc.compress_vec(chunk).map_err(|e| CodecError::Compress {
            codec: "snappy",
            detail: e.to_string(),
        })?;
        let len = u32::try_from(block.len()).map_err(|_| CodecError::Compress {
            codec: "snappy",
            detail: "block too large".into(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&block);
    }
    Ok(out)
}
