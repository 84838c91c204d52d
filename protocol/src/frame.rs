//! The length prefix in front of every request and response.
//!
//! A Kafka frame is a big-endian `i32` size followed by that many bytes. The size is checked
//! before anything is allocated for the body: a negative size or one above
//! `socket.request.max.bytes` closes the connection, as Kafka's `NetworkReceive` does.

use crate::error::FrameError;

/// Bytes of the size prefix.
pub const LEN_PREFIX_BYTES: usize = 4;

/// Smallest body that can hold a request header: api key, version, correlation id.
pub const HEADER_BYTES_MIN: usize = 8;

/// Kafka's default `socket.request.max.bytes` (100 MiB).
pub const FRAME_BYTES_MAX_DEFAULT: usize = 100 * 1024 * 1024;

/// Checks a request size prefix, returning the body length to read.
pub fn check_len(prefix: [u8; 4], frame_bytes_max: usize) -> Result<usize, FrameError> {
    let len = i32::from_be_bytes(prefix);
    let Ok(len) = usize::try_from(len) else {
        return Err(FrameError::Negative(len));
    };
    if len > frame_bytes_max {
        return Err(FrameError::TooLarge {
            len,
            max: frame_bytes_max,
        });
    }
    if len < HEADER_BYTES_MIN {
        return Err(FrameError::TooShort(len));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_before_allocating() {
        assert_eq!(
            check_len((-1i32).to_be_bytes(), 100),
            Err(FrameError::Negative(-1))
        );
        assert_eq!(
            check_len(i32::MAX.to_be_bytes(), FRAME_BYTES_MAX_DEFAULT),
            Err(FrameError::TooLarge {
                len: i32::MAX as usize,
                max: FRAME_BYTES_MAX_DEFAULT
            })
        );
        assert_eq!(
            check_len(3i32.to_be_bytes(), 100),
            Err(FrameError::TooShort(3))
        );
        assert_eq!(check_len(64i32.to_be_bytes(), 100), Ok(64));
    }
}
