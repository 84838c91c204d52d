//! Reads planned under the log's lock and carried out without it.
//!
//! [`crate::Log::read`] only looks up the segment and an index position (microseconds); the
//! file I/O happens in [`ReadPlan::execute`] on a shared handle of the segment file, so a slow
//! or large read never blocks appends to the same partition. A segment deleted by retention
//! meanwhile stays readable through the open handle.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use pilgrimage_protocol::batch::view::{self, LAST_OFFSET_DELTA, LOG_OVERHEAD};

use crate::error::StorageError;
use crate::prefetch::{Found, Prefetcher, Want};

/// A position in the log: an offset and where its batch starts on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPosition {
    pub offset: i64,
    pub segment_base: i64,
    /// Byte position in the segment of the batch starting at `offset` (or the segment's end).
    pub position: u64,
}

/// A read to carry out: bytes of one segment from near `start` up to `limit`.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    /// The segment's file; `None` for an empty read (which opens nothing).
    pub(crate) file: Option<Arc<File>>,
    pub(crate) path: PathBuf,
    /// Base offset of the segment read.
    pub(crate) segment_base: i64,
    /// Index position at or before the batch holding `offset`.
    pub(crate) start: u64,
    /// First byte not to return (the end of visible data in this segment).
    pub(crate) limit: u64,
    pub(crate) offset: i64,
    pub(crate) max_bytes: usize,
    pub(crate) min_one: bool,
    /// The log's read-ahead buffers, for ranges not in the page cache, and their generation
    /// when the plan was made.
    pub(crate) prefetch: Option<(Arc<Prefetcher>, u64)>,
    /// Visible data continues in a later segment.
    pub(crate) later_segments: bool,
}

/// Bytes read past the index position in the first read, to find the wanted batch without a
/// second round trip (the index has an entry every `index.interval.bytes`, 4 KiB by default).
const SEEK_SLACK_BYTES: u64 = 16 * 1024;

impl ReadPlan {
    /// Base offset of the segment the read is in (for [`crate::Log::aborted_txns_before`]).
    pub fn segment_base(&self) -> i64 {
        self.segment_base
    }

    /// Whether visible bytes remain past `end`, a position a read of this plan stopped at: in
    /// this segment or in a later one.
    pub fn has_more_after(&self, end: u64) -> bool {
        !self.is_empty() && (end < self.limit || self.later_segments)
    }

    /// An empty read.
    pub fn is_empty(&self) -> bool {
        self.start >= self.limit
    }

    /// Reads whole batches from the first one holding an offset ≥ `offset`, up to `max_bytes`
    /// (the last batch may be cut, as Kafka allows). With `min_one`, the first batch is returned
    /// whole even if it is larger than `max_bytes`, so a consumer always makes progress.
    pub fn execute(&self) -> Result<Bytes, StorageError> {
        self.execute_to().map(|(bytes, _)| bytes)
    }

    /// [`ReadPlan::execute`], with the position in the segment just past the bytes returned
    /// (0 for an empty read): where a `read_committed` fetch bounds its aborted transactions.
    pub fn execute_to(&self) -> Result<(Bytes, u64), StorageError> {
        if let Some(read) = self.read_prefetched()? {
            return Ok(read);
        }
        self.execute_cached()
    }

    /// [`ReadPlan::execute_to`] through the page cache alone, without looking at read-ahead
    /// memory: for a range [`ReadPlan::try_read_prefetched`] found there.
    pub fn execute_cached(&self) -> Result<(Bytes, u64), StorageError> {
        let (false, Some(file)) = (self.is_empty(), &self.file) else {
            return Ok((Bytes::new(), 0));
        };
        let io = |e| StorageError::io("read", &self.path, e);
        let window = (self.limit - self.start).min(self.max_bytes as u64 + SEEK_SLACK_BYTES);
        let buf = read_at(file, window as usize, self.start).map_err(io)?;
        let Some((at, want, _)) = self.find(file, &buf)? else {
            return Ok((Bytes::new(), 0));
        };
        let from = self.start + at as u64;
        // The window read may have cached the first bytes after the range: check past it.
        let end = from + want as u64;
        read_ahead(
            file,
            end,
            want,
            (self.start + buf.len() as u64).max(end),
            self.limit,
        );
        if at + want <= buf.len() {
            let mut buf = Bytes::from(buf);
            return Ok((buf.split_off(at).split_to(want), end));
        }
        Ok((Bytes::from(read_at(file, want, from).map_err(io)?), end))
    }

    /// Where the bytes [`ReadPlan::execute`] would return lie in the segment file, reading only
    /// batch headers: for sending them straight from the file (`sendfile`). `None` when the read
    /// is empty.
    pub fn locate(&self) -> Result<Option<FileRange>, StorageError> {
        let (false, Some(file)) = (self.is_empty(), &self.file) else {
            return Ok(None);
        };
        let window = (self.limit - self.start).min(SEEK_SLACK_BYTES);
        let buf = read_at(file, window as usize, self.start)
            .map_err(|e| StorageError::io("read", &self.path, e))?;
        let Some((at, len, _)) = self.find(file, &buf)? else {
            return Ok(None);
        };
        let position = self.start + at as u64;
        read_ahead(
            file,
            position + len as u64,
            len,
            position + len as u64,
            self.limit,
        );
        Ok(Some(FileRange {
            file: Arc::clone(file),
            position,
            len,
        }))
    }

    /// Walks batch headers from the index position (`buf` holds the first bytes from there) to
    /// the first batch whose last offset reaches `offset`: its place in `buf`'s coordinates,
    /// how many bytes to return from it, and its size.
    fn find(&self, file: &File, buf: &[u8]) -> Result<Option<(usize, usize, usize)>, StorageError> {
        Ok(match self.walk(Some(file), buf)? {
            Walk::Found(at, len, first) => Some((at, len, first)),
            Walk::Nothing | Walk::PastBuffer => None,
        })
    }

    /// [`ReadPlan::find`]; with no `file`, a header past `buf` is not read but answered
    /// `PastBuffer` (a caller that may not wait on the disk).
    fn walk(&self, file: Option<&File>, buf: &[u8]) -> Result<Walk, StorageError> {
        let io = |e| StorageError::io("read", &self.path, e);
        let mut at = 0usize;
        let first_size = loop {
            let pos = self.start + at as u64;
            if pos >= self.limit {
                return Ok(Walk::Nothing);
            }
            const HEAD: usize = LAST_OFFSET_DELTA + 4;
            let mut head = [0u8; HEAD];
            if at + HEAD <= buf.len() {
                head.copy_from_slice(&buf[at..at + HEAD]);
            } else if let Some(file) = file {
                file.read_exact_at(&mut head, pos).map_err(io)?;
            } else {
                return Ok(Walk::PastBuffer);
            }
            let Some((base, len)) = view::peek_offset_and_length(&head) else {
                return Ok(Walk::Nothing);
            };
            let delta = i32::from_be_bytes([
                head[LAST_OFFSET_DELTA],
                head[LAST_OFFSET_DELTA + 1],
                head[LAST_OFFSET_DELTA + 2],
                head[LAST_OFFSET_DELTA + 3],
            ]);
            let size = LOG_OVERHEAD + len.max(0) as usize;
            if base + i64::from(delta) >= self.offset {
                break size;
            }
            at += size;
        };
        let from = self.start + at as u64;
        let visible = (self.limit - from) as usize;
        let mut want = visible.min(self.max_bytes);
        if self.min_one {
            want = want.max(first_size.min(visible));
        } else if first_size > self.max_bytes {
            // Kafka returns nothing rather than a first batch it would have to cut.
            return Ok(Walk::Nothing);
        }
        Ok(Walk::Found(at, want, first_size))
    }

    /// [`ReadPlan::execute_to`] from read-ahead memory (see [`crate::prefetch`]) when the
    /// range is not in the page cache: the bytes returned are a slice of a buffer read with
    /// `O_DIRECT`, cut at its end (the last batch may be cut, as in any read). `None`: read
    /// through the page cache, with [`ReadPlan::locate`] or [`ReadPlan::execute_cached`].
    /// This may wait for the disk.
    pub fn read_prefetched(&self) -> Result<Option<(Bytes, u64)>, StorageError> {
        Ok(match self.prefetched(true)? {
            Prefetched::Read(bytes, end) => Some((bytes, end)),
            Prefetched::PageCache | Prefetched::Disk => None,
        })
    }

    /// [`ReadPlan::read_prefetched`] without waiting for the disk: what is read ahead already,
    /// or `PageCache` for a range the page cache holds, or `Disk` when the read would wait on
    /// the disk. An async caller answers the first two on its own thread and does the third
    /// where blocking is allowed.
    pub fn try_read_prefetched(&self) -> Result<Prefetched, StorageError> {
        self.prefetched(false)
    }

    fn prefetched(&self, wait: bool) -> Result<Prefetched, StorageError> {
        let (false, Some(file)) = (self.is_empty(), &self.file) else {
            return Ok(Prefetched::PageCache);
        };
        let span = self.max_bytes as u64 + SEEK_SLACK_BYTES;
        let Some((prefetch, generation)) = &self.prefetch else {
            return Ok(
                if wait || ends_cached(file, self.start, self.limit.min(self.start + span)) {
                    Prefetched::PageCache
                } else {
                    Prefetched::Disk
                },
            );
        };
        let want = |start: u64, need: u64| Want {
            file,
            start,
            need,
            limit: self.limit,
            span,
            generation: *generation,
        };
        let buf = match prefetch.bytes_from(&want(self.start, 1), wait) {
            Found::Bytes(buf) => buf,
            Found::PageCache => return Ok(Prefetched::PageCache),
            Found::Disk => return Ok(Prefetched::Disk),
        };
        // Without waiting, headers past the buffer are not read: that is a disk read too.
        let (at, len, first) = match self.walk(wait.then_some(&**file), &buf)? {
            Walk::Found(at, len, first) => (at, len, first),
            Walk::Nothing => return Ok(Prefetched::Read(Bytes::new(), 0)),
            Walk::PastBuffer => return Ok(Prefetched::Disk),
        };
        let from = self.start + at as u64;
        if at + first.min(len) <= buf.len() {
            let take = len.min(buf.len() - at);
            crate::prefetch::count_served(take);
            return Ok(Prefetched::Read(
                buf.slice(at..at + take),
                from + take as u64,
            ));
        }
        // The first batch runs past this buffer: one that holds it whole.
        let need = first.min(len) as u64;
        let buf = match prefetch.bytes_from(&want(from, need), wait) {
            Found::Bytes(buf) => buf,
            Found::PageCache => return Ok(Prefetched::PageCache),
            Found::Disk => return Ok(Prefetched::Disk),
        };
        let take = len.min(buf.len());
        crate::prefetch::count_served(take);
        Ok(Prefetched::Read(buf.slice(..take), from + take as u64))
    }
}

/// Where [`ReadPlan::walk`] got to.
enum Walk {
    /// The first batch to return: its place in the buffer, the bytes to return, its size.
    Found(usize, usize, usize),
    /// Nothing to return.
    Nothing,
    /// A batch header lies past the buffer, and the file was not to be read.
    PastBuffer,
}

/// What [`ReadPlan::try_read_prefetched`] found.
#[derive(Debug)]
pub enum Prefetched {
    /// Bytes from read-ahead memory, and the position in the segment just past them.
    Read(Bytes, u64),
    /// Read through the page cache ([`ReadPlan::locate`], [`ReadPlan::execute_cached`]): both
    /// ends of the range are cached there (its middle most likely is too).
    PageCache,
    /// The read waits on the disk: do it ([`ReadPlan::execute_to`]) where blocking is
    /// allowed. A [`FileRange`] of it would only move the wait to whoever sends the range.
    Disk,
}

/// Whole batches (the last one possibly cut) of a segment file, by position: a read to send
/// without copying it through the node.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Arc<File>,
    pub position: u64,
    pub len: usize,
}

/// Reads of up to this many bytes ask the kernel for the same amount past them.
const READ_AHEAD_MAX: usize = 4 << 20;

/// Asks the kernel to start reading the `len` bytes after `end` (up to `limit`, the end of the
/// visible data) into the page cache, for a read of `len` bytes ending there: a consumer's next
/// fetch most likely continues where this one stops. The kernel's own readahead keeps up within
/// one large read but not across the gaps between a consumer's fetches (librdkafka reading a
/// cold log 1 MiB per fetch: 0.35–0.86 GB/s without this, 1.07–1.17 with it). Larger reads get
/// no advice: it would replace the kernel's growing readahead window with fixed steps
/// (advised, 16 MiB reads fell from 1.4–1.6 to 0.55–0.9 GB/s).
///
/// A one-byte read that may not wait for the disk (`RWF_NOWAIT`) at `probe` (the first byte
/// after the range this read itself cached) first checks whether the next range is cached
/// already, as it is for a consumer near the tail or one whose kernel readahead is ahead: the
/// advice itself walks every page of the range, 6 % of the node's CPU when consuming from the
/// page cache. A consumer at the visible end (`limit`) costs nothing. Checking the range's last
/// byte instead, so that a fetch restarting inside the range its predecessor advised advises
/// again, measured worse: the cold consume no faster, and 16 MiB reads of the same file
/// afterwards at 0.5–0.8 GB/s instead of 1.4–1.8.
fn read_ahead(file: &File, end: u64, len: usize, probe: u64, limit: u64) {
    if len == 0 || len > READ_AHEAD_MAX || probe >= limit {
        return;
    }
    let stop = (end + len as u64).min(limit);
    if probe >= stop {
        return;
    }
    if is_cached(file, probe) {
        return;
    }
    // Advice only: a failure leaves the next read to the kernel's own readahead.
    let _ = rustix::fs::fadvise(
        file,
        end,
        std::num::NonZeroU64::new(stop - end),
        rustix::fs::Advice::WillNeed,
    );
}

/// Whether the first and last bytes of `[start, end)` (not empty) are in the page cache. The
/// first byte alone says little: the kernel's readahead after a page-cache read caches the
/// start of the next range and not the rest. Recent appends for a consumer near the tail are
/// cached at both ends.
pub(crate) fn ends_cached(file: &File, start: u64, end: u64) -> bool {
    is_cached(file, start) && is_cached(file, end.max(start + 1) - 1)
}

/// Whether the byte at `pos` is in the page cache: a one-byte read that may not wait for the
/// disk (`RWF_NOWAIT`).
pub(crate) fn is_cached(file: &File, pos: u64) -> bool {
    let mut byte = [0u8; 1];
    rustix::io::preadv2(
        file,
        &mut [std::io::IoSliceMut::new(&mut byte)],
        pos,
        rustix::io::ReadWriteFlags::NOWAIT,
    )
    .is_ok()
}

/// Reads exactly `len` bytes at `pos` into a new buffer, without zero-filling it first (the
/// memset would cost as much as the copy the read itself does).
fn read_at(file: &File, len: usize, pos: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = pos + buf.len() as u64;
        let n = match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    buf.truncate(len);
    Ok(buf)
}
