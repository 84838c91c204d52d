//! Records inside a v2 batch.
//!
//! ```text
//! length varint | attributes i8 | timestamp_delta varlong | offset_delta varint
//! key_length varint (-1 = null) | key | value_length varint (-1 = null) | value
//! headers_count varint | (key_length varint | key utf8 | value_length varint | value)*
//! ```
//! Two readers share one parser: [`SliceInput`] borrows keys and values from an uncompressed
//! records section; [`StreamInput`] walks a decompressing stream and skips keys and values, so
//! validating a compressed batch needs memory for one read buffer, not the whole batch.

use std::io::Read;

use crate::varint::read_unsigned;

/// Parse error of one record, with a human-readable reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, RecordError> {
    Err(RecordError(s.into()))
}

/// A byte source the record parser can read varints from and skip over.
pub trait Input {
    /// Next byte, or `None` at the end.
    fn byte(&mut self) -> Result<Option<u8>, RecordError>;
    /// Skips `n` bytes; false when fewer remain.
    fn skip(&mut self, n: usize) -> Result<bool, RecordError>;
    /// Bytes consumed so far.
    fn consumed(&self) -> u64;
}

/// An uncompressed records section in memory.
#[derive(Debug)]
pub struct SliceInput<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> SliceInput<'a> {
    pub fn new(buf: &'a [u8]) -> SliceInput<'a> {
        SliceInput { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

impl Input for SliceInput<'_> {
    fn byte(&mut self) -> Result<Option<u8>, RecordError> {
        let b = self.buf.get(self.pos).copied();
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }
    fn skip(&mut self, n: usize) -> Result<bool, RecordError> {
        Ok(self.take(n).is_some())
    }
    fn consumed(&self) -> u64 {
        self.pos as u64
    }
}

/// A decompressing stream, read through a fixed buffer.
pub struct StreamInput<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    consumed: u64,
}

impl<R> std::fmt::Debug for StreamInput<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamInput")
            .field("consumed", &self.consumed)
            .finish()
    }
}

const STREAM_BUFFER_BYTES: usize = 16 * 1024;

impl<R: Read> StreamInput<R> {
    pub fn new(inner: R) -> StreamInput<R> {
        StreamInput {
            inner,
            buf: vec![0u8; STREAM_BUFFER_BYTES].into_boxed_slice(),
            pos: 0,
            len: 0,
            consumed: 0,
        }
    }

    fn fill(&mut self) -> Result<bool, RecordError> {
        if self.pos < self.len {
            return Ok(true);
        }
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RecordError(format!("decompression: {e}"))),
            }
        }
    }

    /// True when the stream has no bytes left.
    pub fn at_end(&mut self) -> Result<bool, RecordError> {
        Ok(!self.fill()?)
    }
}

impl<R: Read> Input for StreamInput<R> {
    fn byte(&mut self) -> Result<Option<u8>, RecordError> {
        if !self.fill()? {
            return Ok(None);
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        self.consumed += 1;
        Ok(Some(b))
    }
    fn skip(&mut self, mut n: usize) -> Result<bool, RecordError> {
        while n > 0 {
            if !self.fill()? {
                return Ok(false);
            }
            let step = n.min(self.len - self.pos);
            self.pos += step;
            self.consumed += step as u64;
            n -= step;
        }
        Ok(true)
    }
    fn consumed(&self) -> u64 {
        self.consumed
    }
}

fn read_uvarint<I: Input>(input: &mut I, max_bytes: usize) -> Result<u64, RecordError> {
    let mut raw = [0u8; 10];
    for i in 0..max_bytes {
        let Some(b) = input.byte()? else {
            return err("truncated varint");
        };
        raw[i] = b;
        if b & 0x80 == 0 {
            return read_unsigned(&raw[..=i], max_bytes)
                .map(|(v, _)| v)
                .ok_or(RecordError("bad varint".into()));
        }
    }
    err("varint too long")
}

fn read_varint<I: Input>(input: &mut I) -> Result<i32, RecordError> {
    let raw = read_uvarint(input, 5)?;
    let raw = u32::try_from(raw).map_err(|_| RecordError("varint overflows i32".into()))?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

fn read_varlong<I: Input>(input: &mut I) -> Result<i64, RecordError> {
    let raw = read_uvarint(input, 10)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// The fields of a record needed to validate it and to search by timestamp or offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMeta {
    pub length: i32,
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    /// -1 for a null key.
    pub key_length: i32,
    /// -1 for a null value (a tombstone).
    pub value_length: i32,
    pub headers_count: i32,
}

/// Reads one record's fields, skipping key, value and header bytes. Returns `None` at a clean
/// end of input. Every length is checked against the record's own length, so a record cannot
/// claim more bytes than it has.
pub fn read_record_meta<I: Input>(input: &mut I) -> Result<Option<RecordMeta>, RecordError> {
    // A clean end is only possible before the first byte of a record.
    let start = input.consumed();
    let Some(first) = input.byte()? else {
        return Ok(None);
    };
    let length = {
        let mut raw = [0u8; 5];
        raw[0] = first;
        let mut n = 1;
        while raw[n - 1] & 0x80 != 0 {
            if n == 5 {
                return err("record length varint too long");
            }
            raw[n] = input
                .byte()?
                .ok_or(RecordError("truncated record length".into()))?;
            n += 1;
        }
        let (v, _) =
            crate::varint::read_varint(&raw[..n]).ok_or(RecordError("bad record length".into()))?;
        v
    };
    if length < 1 {
        return err(format!("record length {length}"));
    }
    let body_start = input.consumed();
    let attributes = input
        .byte()?
        .ok_or(RecordError("truncated attributes".into()))? as i8;
    let timestamp_delta = read_varlong(input)?;
    let offset_delta = read_varint(input)?;
    let key_length = read_len(input, "key")?;
    let value_length = read_len(input, "value")?;
    let headers_count = read_varint(input)?;
    if headers_count < 0 {
        return err(format!("negative header count {headers_count}"));
    }
    for _ in 0..headers_count {
        let k = read_varint(input)?;
        if k < 0 {
            return err("null header key");
        }
        skip(input, k as usize, "header key")?;
        let _ = read_len(input, "header value")?;
        if input.consumed() - body_start > length as u64 {
            return err("headers overrun the record");
        }
    }
    let used = input.consumed() - body_start;
    if used != length as u64 {
        return err(format!(
            "record claims {length} bytes but its fields use {used}"
        ));
    }
    debug_assert!(input.consumed() > start);
    Ok(Some(RecordMeta {
        length,
        attributes,
        timestamp_delta,
        offset_delta,
        key_length,
        value_length,
        headers_count,
    }))
}

fn read_len<I: Input>(input: &mut I, what: &str) -> Result<i32, RecordError> {
    let n = read_varint(input)?;
    if n < -1 {
        return err(format!("{what} length {n}"));
    }
    if n > 0 {
        skip(input, n as usize, what)?;
    }
    Ok(n)
}

fn skip<I: Input>(input: &mut I, n: usize, what: &str) -> Result<(), RecordError> {
    if input.skip(n)? {
        Ok(())
    } else {
        err(format!("truncated {what}"))
    }
}

/// A record borrowed from an uncompressed records section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub attributes: i8,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<(&'a [u8], Option<&'a [u8]>)>,
    /// The record's encoded bytes, length prefix included: copied as they are when a batch is
    /// rewritten without changing its base offset or base timestamp.
    pub raw: &'a [u8],
}

/// Iterates the records of an uncompressed (or already decompressed) records section.
#[derive(Debug)]
pub struct RecordIter<'a> {
    input: SliceInput<'a>,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    pub fn new(records: &'a [u8]) -> RecordIter<'a> {
        RecordIter {
            input: SliceInput::new(records),
            failed: false,
        }
    }

    fn parse_one(&mut self) -> Result<Record<'a>, RecordError> {
        let record_start = self.input.pos;
        let length = read_varint(&mut self.input)?;
        let remaining = self.input.buf.len() - self.input.pos;
        if length < 1 || length as usize > remaining {
            return err(format!(
                "record length {length} with {remaining} bytes left"
            ));
        }
        let start = self.input.pos;
        let attributes = self.input.byte()?.ok_or(RecordError("truncated".into()))? as i8;
        let timestamp_delta = read_varlong(&mut self.input)?;
        let offset_delta = read_varint(&mut self.input)?;
        let key = self.bytes("key")?;
        let value = self.bytes("value")?;
        let count = read_varint(&mut self.input)?;
        // A header takes at least two bytes (two lengths): more than that cannot fit.
        if count < 0 || count as usize > length as usize / 2 {
            return err(format!("header count {count}"));
        }
        let mut headers = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let k = self
                .bytes("header key")?
                .ok_or(RecordError("null header key".into()))?;
            let v = self.bytes("header value")?;
            headers.push((k, v));
        }
        if self.input.pos - start != length as usize {
            return err("record length does not match its fields");
        }
        Ok(Record {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
            raw: &self.input.buf[record_start..self.input.pos],
        })
    }

    fn bytes(&mut self, what: &str) -> Result<Option<&'a [u8]>, RecordError> {
        let n = read_varint(&mut self.input)?;
        if n < 0 {
            return if n == -1 {
                Ok(None)
            } else {
                err(format!("{what} length {n}"))
            };
        }
        self.input
            .take(n as usize)
            .map(Some)
            .ok_or(RecordError(format!("truncated {what}")))
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.input.is_empty() {
            return None;
        }
        let r = self.parse_one();
        self.failed = r.is_err();
        Some(r)
    }
}
