//! Record-batch compression codecs: gzip, snappy (raw and xerial-framed), lz4 (frame) and zstd.
//!
//! Decompression is always streamed through a reader that fails once more than a caller-chosen
//! cap has come out, so a small batch cannot expand into unbounded memory or CPU (a
//! decompression bomb). Callers that only validate records never hold the whole output.

mod gzip;
mod lz4;
mod snappy;
mod zstd;

use std::io::{self, Read};

use crate::error::CodecError;

/// The codec named by the low three bits of a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec of a batch's attributes field, or the unknown id.
    pub fn from_attributes(attributes: i16) -> Result<Compression, u8> {
        match (attributes & 0x07) as u8 {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(other),
        }
    }

    /// The id stored in the attributes' low bits.
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name used by `compression.type`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses a codec name as `compression.type` spells it (`uncompressed` is Kafka's synonym).
    pub fn from_name(name: &str) -> Option<Compression> {
        match name {
            "none" | "uncompressed" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "snappy" => Some(Compression::Snappy),
            "lz4" => Some(Compression::Lz4),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// Streams the decompressed form of `input`. Reading past `cap` bytes fails with an error that
/// [`io_to_codec`] turns into [`CodecError::TooLarge`].
pub fn decompress_reader<'a>(
    codec: Compression,
    input: &'a [u8],
    cap: usize,
) -> Result<Box<dyn Read + Send + 'a>, CodecError> {
    let inner: Box<dyn Read + Send + 'a> = match codec {
        Compression::None => Box::new(input),
        Compression::Gzip => gzip::reader(input),
        Compression::Snappy => snappy::reader(input, cap)?,
        Compression::Lz4 => lz4::reader(input),
        Compression::Zstd => zstd::reader(input)?,
    };
    Ok(Box::new(Capped {
        inner,
        left: cap,
        codec: codec.name(),
    }))
}

/// Decompresses `input` whole, up to `cap` bytes.
pub fn decompress_to_vec(
    codec: Compression,
    input: &[u8],
    cap: usize,
) -> Result<Vec<u8>, CodecError> {
    let mut reader = decompress_reader(codec, input, cap)?;
    let mut out = Vec::with_capacity(input.len().saturating_mul(4).min(cap).min(1 << 20));
    reader
        .read_to_end(&mut out)
        .map_err(|e| io_to_codec(codec, e, cap))?;
    Ok(out)
}

/// Compresses `input` as Kafka producers do: gzip and zstd at their default levels, lz4 in the
/// frame format, snappy in the xerial framing the Java client writes (librdkafka reads it too).
pub fn compress(codec: Compression, input: &[u8]) -> Result<Vec<u8>, CodecError> {
    match codec {
        Compression::None => Ok(input.to_vec()),
        Compression::Gzip => gzip::compress(input),
        Compression::Snappy => snappy::compress_xerial(input),
        Compression::Lz4 => lz4::compress(input),
        Compression::Zstd => zstd::compress(input),
    }
}

/// Maps an I/O error out of a decompressing reader to the codec error it stands for.
pub fn io_to_codec(codec: Compression, e: io::Error, cap: usize) -> CodecError {
    if e.kind() == io::ErrorKind::FileTooLarge {
        CodecError::TooLarge {
            codec: codec.name(),
            cap,
        }
    } else {
        CodecError::Corrupt {
            codec: codec.name(),
            detail: e.to_string(),
        }
    }
}

/// A reader that refuses to yield more than `left` bytes: the decompression-bomb guard.
struct Capped<'a> {
    inner: Box<dyn Read + Send + 'a>,
    left: usize,
    codec: &'static str,
}

impl Read for Capped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            // One probe byte tells a stream that ends exactly at the cap from one that goes on.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::new(
                    io::ErrorKind::FileTooLarge,
                    format!("{} output exceeds the cap", self.codec),
                )),
            };
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for codec in Compression::ALL {
            let packed = compress(codec, &data).unwrap();
            let back = decompress_to_vec(codec, &packed, data.len()).unwrap();
            assert_eq!(back, data, "{codec:?}");
        }
    }

    #[test]
    fn cap_stops_bombs() {
        let zeros = vec![0u8; 1 << 20];
        for codec in Compression::ALL {
            let packed = compress(codec, &zeros).unwrap();
            let err = decompress_to_vec(codec, &packed, 1000).unwrap_err();
            assert!(
                matches!(err, CodecError::TooLarge { .. }),
                "{codec:?}: {err:?}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let junk: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for codec in Compression::ALL.into_iter().skip(1) {
            assert!(
                decompress_to_vec(codec, &junk, 1 << 20).is_err(),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn raw_snappy_as_librdkafka_writes_it() {
        let data = sample();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(
            decompress_to_vec(Compression::Snappy, &raw, data.len()).unwrap(),
            data
        );
    }
}
