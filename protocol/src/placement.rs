//! Where a produce request's records lie, read from the first bytes of its frame.
//!
//! A node writes large batches with direct I/O, which wants the bytes in memory at the same
//! offset within a 4 KiB block as they will have in the file. If the node knows, before it
//! reads a produce request's body off the socket, where in the frame the records start, it
//! can read the frame into memory at the offset that puts the records there, and the batch
//! is written from the memory it was received in instead of being copied first.
//!
//! This reads only as far as the first partition's records length:
//!
//! ```text
//! header:   api_key i16 | api_version i16 | correlation_id i32 | client_id nullable string
//!           (v9+: tagged fields)
//! body:     transactional_id nullable string | acks i16 | timeout_ms i32
//!           topic_data count | name string (v13+: topic_id uuid)
//!           partition_data count | index i32 | records nullable bytes ...
//! ```
//! v9 and later use compact (varint-length) strings, arrays and bytes. Anything this does not
//! understand gives `None`: the request is still decoded in full afterwards, which reports
//! what is wrong with it, and only the placement is lost.

use crate::varint::read_unsigned;

/// The produce API key.
const PRODUCE: i16 = 0;
/// First flexible (compact encodings, tagged fields) produce version.
const FLEXIBLE: i16 = 9;
/// First version naming topics by id.
const TOPIC_IDS: i16 = 13;

/// A topic as a produce request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicRef<'a> {
    Name(&'a str),
    Id([u8; 16]),
}

/// Where the first partition's records of a produce request are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsAt<'a> {
    pub topic: TopicRef<'a>,
    pub partition: i32,
    /// Offset of the records' first byte from the start of the frame (after its length
    /// prefix, at the API key).
    pub offset: usize,
    /// The records' length, as the request states it.
    pub len: usize,
}

/// Finds the first partition's records in `frame`, the first bytes of a produce request
/// (from its API key on; the records themselves need not be there). `None` for any other
/// request, version 0 to 2, null records, or bytes that do not parse.
pub fn first_records(frame: &[u8]) -> Option<RecordsAt<'_>> {
    let mut c = Cursor { b: frame, at: 0 };
    if c.i16()? != PRODUCE {
        return None;
    }
    let version = c.i16()?;
    if !(3..=TOPIC_IDS).contains(&version) {
        return None;
    }
    let flexible = version >= FLEXIBLE;
    c.skip(4)?; // correlation id
    // The header's client id keeps its i16 length in every header version.
    let client = c.i16()?;
    if client > 0 {
        c.skip(client as usize)?;
    }
    if flexible {
        c.tagged_fields()?;
    }
    c.nullable_string(flexible)?; // transactional id
    c.skip(2 + 4)?; // acks, timeout
    if c.count(flexible)? < 1 {
        return None;
    }
    let topic = if version >= TOPIC_IDS {
        TopicRef::Id(c.take(16)?.try_into().ok()?)
    } else {
        TopicRef::Name(std::str::from_utf8(c.nullable_string(flexible)??).ok()?)
    };
    if c.count(flexible)? < 1 {
        return None;
    }
    let partition = c.i32()?;
    let len = if flexible {
        usize::try_from(c.unsigned()?.checked_sub(1)?).ok()?
    } else {
        usize::try_from(c.i32()?).ok()?
    };
    Some(RecordsAt {
        topic,
        partition,
        offset: c.at,
        len,
    })
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn unsigned(&mut self) -> Option<u64> {
        let (v, used) = read_unsigned(self.b.get(self.at..)?, 5)?;
        self.at += used;
        Some(v)
    }

    /// An array's element count (negative, a null array, as 0).
    fn count(&mut self, flexible: bool) -> Option<u64> {
        if flexible {
            Some(self.unsigned()?.saturating_sub(1))
        } else {
            Some(u64::try_from(self.i32()?.max(0)).ok()?)
        }
    }

    /// A nullable string's bytes (`Some(None)` for null).
    fn nullable_string(&mut self, flexible: bool) -> Option<Option<&'a [u8]>> {
        let len = if flexible {
            match self.unsigned()? {
                0 => return Some(None),
                n => usize::try_from(n - 1).ok()?,
            }
        } else {
            match self.i16()? {
                n if n < 0 => return Some(None),
                n => n as usize,
            }
        };
        self.take(len).map(Some)
    }

    fn tagged_fields(&mut self) -> Option<()> {
        for _ in 0..self.unsigned()? {
            self.unsigned()?; // tag
            let size = usize::try_from(self.unsigned()?).ok()?;
            self.skip(size)?;
        }
        Some(())
    }
}
