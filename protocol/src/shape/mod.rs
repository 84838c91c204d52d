//! A structural check of request bodies, run before kafka-protocol decodes them.
//!
//! kafka-protocol's generated decoders size a `Vec` from an array count read off the wire
//! before reading a single element, so eight bytes claiming two billion topics would make the
//! node allocate hundreds of gigabytes and abort. This walker follows the same layout (taken
//! from Kafka's message specs, see `tools/gen_shapes.py`) without building anything, and
//! refuses a body in which any array count exceeds the bytes that remain, any length runs past
//! the end, or the total number of elements exceeds [`ELEMENTS_MAX`]. Only then is the body
//! handed to the real decoder, whose allocations are then bounded by the frame size.
//!
//! Layout rules (Kafka protocol guide):
//! - non-flexible versions: string = i16 length (-1 null), bytes = i32 length, array = i32 count;
//! - flexible versions: lengths and counts are unsigned varints holding N+1 (0 = null), and every
//!   struct, the message included, ends with a tagged-field section;
//! - a nullable struct field is preceded by an i8 marker (-1 = null);
//! - a tagged field lives in the tagged section (tag, size, bytes), never inline.

#[rustfmt::skip]
mod schema;

use crate::error::DecodeError;
use crate::varint::read_unsigned;

/// Most elements (array entries of any kind) one request may hold. A Metadata request for
/// 100,000 topics or a Fetch of 50,000 partitions stays well below it.
pub const ELEMENTS_MAX: usize = 1 << 20;

/// Rough size of one decoded element (a generated struct with its strings and maps): what the
/// node reserves from its memory budget per element beyond the frame itself.
pub const ELEMENT_BYTES: usize = 160;

/// Field type in the layout table.
#[derive(Debug)]
pub(crate) enum T {
    /// A fixed-size primitive of this many bytes.
    Fixed(usize),
    Str,
    Bytes,
    ArrFixed(usize),
    ArrStr,
    Arr(&'static [F]),
    Struct(&'static [F]),
}

/// One field: type, versions it exists in, versions it may be null in, tag if tagged.
#[derive(Debug)]
pub(crate) struct F {
    ty: T,
    v: (i16, i16),
    null: (i16, i16),
    tag: Option<u32>,
}

/// A request message: where flexible versions start, and its fields.
#[derive(Debug)]
pub(crate) struct Msg {
    flexible_from: i16,
    fields: &'static [F],
}

fn has(range: (i16, i16), version: i16) -> bool {
    range.0 <= version && version <= range.1
}

/// Walks `body` as request `api_key` at `version`. Returns the number of array elements.
pub fn check(api_key: i16, version: i16, body: &[u8]) -> Result<usize, DecodeError> {
    let msg = schema::message(api_key).ok_or_else(|| {
        DecodeError::invalid("api key", format!("no layout for api key {api_key}"))
    })?;
    let mut w = Walker {
        buf: body,
        pos: 0,
        elements: 0,
        version,
        flexible: version >= msg.flexible_from,
    };
    w.fields(msg.fields)?;
    Ok(w.elements)
}

struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    elements: usize,
    version: i16,
    flexible: bool,
}

impl Walker<'_> {
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn need(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        if self.remaining() < n {
            return Err(DecodeError::Truncated {
                what,
                needed: n,
                remaining: self.remaining(),
            });
        }
        self.pos += n;
        Ok(())
    }

    fn uvarint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let (v, used) = read_unsigned(&self.buf[self.pos..], 5)
            .ok_or_else(|| DecodeError::invalid(what, "malformed varint"))?;
        self.pos += used;
        Ok(v)
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        let at = self.pos;
        self.need(2, "int16")?;
        Ok(i16::from_be_bytes([self.buf[at], self.buf[at + 1]]))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        let at = self.pos;
        self.need(4, "int32")?;
        let b = &self.buf[at..at + 4];
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn fields(&mut self, fields: &[F]) -> Result<(), DecodeError> {
        for f in fields {
            if !has(f.v, self.version) || (self.flexible && f.tag.is_some()) {
                continue;
            }
            self.field(f)?;
        }
        if self.flexible {
            self.tagged(fields)?;
        }
        Ok(())
    }

    fn field(&mut self, f: &F) -> Result<(), DecodeError> {
        if let T::Struct(_) = f.ty
            && has(f.null, self.version)
        {
            self.need(1, "nullable struct marker")?;
            if self.buf[self.pos - 1] as i8 == -1 {
                return Ok(());
            }
        }
        self.value(&f.ty)
    }

    fn value(&mut self, ty: &T) -> Result<(), DecodeError> {
        match ty {
            T::Fixed(n) => self.need(*n, "fixed field"),
            T::Str => {
                let len = if self.flexible {
                    self.uvarint("string length")?.checked_sub(1)
                } else {
                    u64::try_from(self.i16()?).ok()
                };
                match len {
                    None => Ok(()),
                    Some(n) => self.need(usize::try_from(n).unwrap_or(usize::MAX), "string"),
                }
            }
            T::Bytes => {
                let len = if self.flexible {
                    self.uvarint("bytes length")?.checked_sub(1)
                } else {
                    u64::try_from(self.i32()?).ok()
                };
                match len {
                    None => Ok(()),
                    Some(n) => self.need(usize::try_from(n).unwrap_or(usize::MAX), "bytes"),
                }
            }
            T::ArrFixed(size) => {
                let n = self.count(*size)?;
                self.need(n * size, "array")
            }
            T::ArrStr => {
                let n = self.count(1)?;
                (0..n).try_for_each(|_| self.value(&T::Str))
            }
            T::Arr(fields) => {
                let n = self.count(1)?;
                (0..n).try_for_each(|_| self.fields(fields))
            }
            T::Struct(fields) => self.fields(fields),
        }
    }

    /// Reads an array count, refusing one whose elements (at least `min_size` bytes each)
    /// cannot fit in what remains. A null array counts as empty.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let count: u64 = if self.flexible {
            self.uvarint("array count")?.saturating_sub(1)
        } else {
            let c = self.i32()?;
            if c < -1 {
                return Err(DecodeError::invalid("array count", c.to_string()));
            }
            c.max(0) as u64
        };
        let remaining = self.remaining();
        if count.saturating_mul(min_size as u64) > remaining as u64 {
            return Err(DecodeError::ArrayTooLong { count, remaining });
        }
        let count = count as usize;
        self.elements += count;
        if self.elements > ELEMENTS_MAX {
            return Err(DecodeError::TooManyElements(ELEMENTS_MAX * ELEMENT_BYTES));
        }
        Ok(count)
    }

    /// The tagged-field section: known tags are walked within their declared size, unknown
    /// ones skipped.
    fn tagged(&mut self, fields: &[F]) -> Result<(), DecodeError> {
        let n = self.uvarint("tagged field count")?;
        if n > self.remaining() as u64 {
            return Err(DecodeError::ArrayTooLong {
                count: n,
                remaining: self.remaining(),
            });
        }
        for _ in 0..n {
            let tag = self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")?;
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size > self.remaining() {
                return Err(DecodeError::Truncated {
                    what: "tagged field",
                    needed: size,
                    remaining: self.remaining(),
                });
            }
            let end = self.pos + size;
            let known = fields
                .iter()
                .find(|f| f.tag.map(u64::from) == Some(tag) && has(f.v, self.version));
            if let Some(f) = known {
                let mut inner = Walker {
                    buf: &self.buf[..end],
                    pos: self.pos,
                    elements: self.elements,
                    version: self.version,
                    flexible: self.flexible,
                };
                inner.field(f)?;
                // kafka-protocol decodes a known tagged field from the main buffer, not from a
                // window of `size` bytes: a field that does not fill its size exactly would put
                // the decoder somewhere this walk never checked.
                if inner.pos != end {
                    return Err(DecodeError::invalid(
                        "tagged field",
                        format!("tag {tag} holds {} bytes, not {size}", inner.pos - self.pos),
                    ));
                }
                self.elements = inner.elements;
            }
            self.pos = end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
