//! Fetches of ranges that are not in the page cache, served from memory read with `O_DIRECT`,
//! with the next range read ahead on a background thread.
//!
//! Batches appended with direct writes ([`crate::direct`]) never enter the page cache, so a
//! consumer behind the tail reads them from disk. Read through the page cache, each such read
//! would grow it with fresh pages (the cost direct writes avoid) and would wait for the disk
//! once per fetch: librdkafka, fetching 1 MiB at a time, consumed a log written that way at
//! 0.34–0.56 GB/s. Here a fetch whose first byte is not cached reads its range and
//! [`read_ahead_bytes`] more into one block-aligned buffer, and serves it and the fetches after
//! it from that buffer (slices, no copy); while the consumer reads from a buffer, the next one
//! (at least as long as the consumer's fetches) is read on a background thread, so the disk
//! and the network overlap: 1.2–1.3 GB/s for the same librdkafka consumer.
//!
//! Buffers count against a process-wide budget ([`configure`]); with it used up, or for ranges
//! that are cached, fetches go through the page cache as before. A buffer holds only bytes
//! below the visible end at the time it was read (bytes below it never change, except by a
//! truncation, which drops the log's buffers), and is dropped when its consumer moves on, when
//! the log has more than a few, when its segment is deleted, by [`sweep`] when it has gone
//! unused for a while, or sooner when the budget is used up and another read needs the room
//! (unused for half a second, least recently used first). Cold and warm re-reads alike come
//! from disk through these buffers: the page cache serves only ranges cached at both ends (a
//! consumer near the tail).

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pilgrimage_protocol::batch::view::{self, LOG_OVERHEAD};
use rustix::fs::{Mode, OFlags};

use crate::aligned::AlignedBuf;

mod budget;
pub(crate) use budget::unreserved;
use budget::{EVICT_IDLE, Reservation, budget_bytes, evict_idle};

use crate::direct::BLOCK;
use crate::read::ends_cached;

/// Bytes read past a fetch's range unless [`configure`] says otherwise.
pub const DEFAULT_READ_AHEAD_BYTES: usize = 4 << 20;
/// Memory all read-ahead buffers may hold together unless [`configure`] says otherwise.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;

/// Buffers a log keeps (a consumer's current one, up to two read ahead of it, one more for a
/// second consumer).
const CHUNKS_PER_LOG: usize = 4;
/// Background reads at once, across the process.
const MAX_IN_FLIGHT: usize = 4;

static READ_AHEAD: AtomicUsize = AtomicUsize::new(DEFAULT_READ_AHEAD_BYTES);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static SERVED: AtomicU64 = AtomicU64::new(0);

/// Every log's prefetcher, for [`sweep`].
static ALL: LazyLock<Mutex<Vec<Weak<Prefetcher>>>> = LazyLock::new(|| Mutex::new(Vec::new()));

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets the read-ahead past a cold fetch (0 turns direct reads off: every fetch goes through
/// the page cache) and the memory all buffers may hold.
pub fn configure(read_ahead_bytes: usize, memory_bytes: usize) {
    let ra = read_ahead_bytes.div_ceil(BLOCK) * BLOCK;
    READ_AHEAD.store(ra, Ordering::Relaxed);
    budget::set_max(memory_bytes);
}

/// The read-ahead past a cold fetch; 0 when direct reads are off.
pub fn read_ahead_bytes() -> usize {
    READ_AHEAD.load(Ordering::Relaxed)
}

/// Bytes fetches returned from read-ahead buffers since the process started (for `/metrics`).
pub fn served_bytes() -> u64 {
    SERVED.load(Ordering::Relaxed)
}

pub(crate) fn count_served(bytes: usize) {
    SERVED.fetch_add(bytes as u64, Ordering::Relaxed);
}

/// Memory read-ahead buffers hold now (for `/metrics`).
pub fn memory_used() -> usize {
    budget::used()
}

/// Every log's prefetcher that is still open (the list forgets the others).
fn live_logs() -> Vec<Arc<Prefetcher>> {
    let mut all = lock(&ALL);
    all.retain(|w| w.strong_count() > 0);
    all.iter().filter_map(Weak::upgrade).collect()
}

/// Drops buffers unused for longer than `idle`, across every log, and the aligned buffers
/// kept for reuse when none was taken for as long: a consumer that stopped must not keep
/// memory (or a deleted segment's disk space) for good.
pub fn sweep(idle: Duration) {
    let logs = live_logs();
    for p in logs {
        lock(&p.chunks).retain(|c| c.used().elapsed() < idle);
    }
    crate::aligned::release_idle(idle);
}

#[derive(Debug)]
enum Load {
    Pending,
    Ready(Bytes),
    /// The read failed; `true` when the file system refused `O_DIRECT` itself.
    Failed(bool),
}

/// Bytes of one segment file from `start`, read (or being read) with `O_DIRECT`.
#[derive(Debug)]
struct Chunk {
    /// The file read. Identity is the handle's allocation, which a `Weak` keeps from being
    /// reused, so a segment replaced or reopened meanwhile is a miss, never a wrong hit; the
    /// handle itself stays the segment's to close (the handle budget), and a buffer of a
    /// closed one simply fails to read.
    file: Weak<File>,
    start: u64,
    /// A batch boundary in the buffer (where the fetch or read-ahead that asked for it
    /// started): whole batches are walked from here to place the next buffer.
    batch_at: u64,
    /// Bytes from `start` that may be served: never past the visible end when it was read.
    end: u64,
    /// `end` is the visible end when the buffer was planned, not the buffer's size: later
    /// appends may lie past it.
    at_limit: bool,
    load: Mutex<Load>,
    loaded: Condvar,
    last_used: Mutex<Instant>,
    /// The buffer's share of the budget, until the read moves it into the bytes read: the
    /// memory stays counted while any response still holds a slice of them.
    memory: Mutex<Option<Reservation>>,
}

impl Chunk {
    fn used(&self) -> Instant {
        *lock(&self.last_used)
    }

    fn touch(&self) {
        *lock(&self.last_used) = Instant::now();
    }

    /// Waits for the read; `None` if it failed.
    fn bytes(&self) -> Option<Bytes> {
        let mut l = lock(&self.load);
        loop {
            match &*l {
                Load::Ready(b) => return Some(b.clone()),
                Load::Failed(_) => return None,
                Load::Pending => l = self.loaded.wait(l).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    fn refused(&self) -> bool {
        matches!(*lock(&self.load), Load::Failed(true))
    }

    /// Whether the read is still under way.
    fn pending(&self) -> bool {
        matches!(*lock(&self.load), Load::Pending)
    }

    /// The bytes if read already, without waiting.
    fn ready(&self) -> Option<Bytes> {
        match &*lock(&self.load) {
            Load::Ready(b) => Some(b.clone()),
            _ => None,
        }
    }

    fn is(&self, file: &Arc<File>) -> bool {
        std::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }

    /// Whether the buffer stops at a visible end older than `limit`, before `wanted`: appends
    /// since it was planned would be hidden behind it.
    fn stale(&self, limit: u64, wanted: u64) -> bool {
        self.at_limit && self.end < limit && self.end < wanted
    }

    /// Settles a buffer that will not be read as failed (not refused), waking any waiter.
    fn abandon(&self) {
        let mut l = lock(&self.load);
        if matches!(*l, Load::Pending) {
            *l = Load::Failed(false);
        }
        self.loaded.notify_all();
    }

    /// Reads the chunk's range and wakes its waiters, who are woken (to a failed read) even
    /// if the read panics.
    fn fill(&self) {
        struct Settle<'a>(&'a Chunk);
        impl Drop for Settle<'_> {
            fn drop(&mut self) {
                self.0.abandon();
            }
        }
        let _settle = Settle(self);
        let Some(file) = self.file.upgrade() else {
            return; // the segment was closed: Failed
        };
        let memory = lock(&self.memory).take();
        let r = read_direct(&file, self.start, (self.end - self.start) as usize, memory);
        *lock(&self.load) = match r {
            Ok(b) => Load::Ready(b),
            Err(e) => {
                tracing::debug!(error = %e, "direct read failed; fetches read through the page cache");
                Load::Failed(e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()))
            }
        };
    }
}

/// What [`Prefetcher::bytes_from`] found.
#[derive(Debug)]
pub(crate) enum Found {
    /// Bytes from `want.start` on, read with `O_DIRECT`.
    Bytes(Bytes),
    /// Read through the page cache.
    PageCache,
    /// The range is neither read ahead nor cached: reading it waits on the disk.
    Disk,
}

/// What [`Prefetcher::insert`] did.
enum Inserted {
    New(Arc<Chunk>),
    /// A buffer covering the range asked about was there already.
    Exists(Arc<Chunk>),
    /// Over budget, or the log was truncated since the plan.
    No,
}

/// One log's read-ahead buffers.
#[derive(Debug, Default)]
pub struct Prefetcher {
    chunks: Mutex<VecDeque<Arc<Chunk>>>,
    /// The file system refused `O_DIRECT`: this log reads through the page cache.
    refused: AtomicBool,
    /// Bumped by [`Prefetcher::clear`] (under the chunks lock): a plan made before a clear
    /// may not add a buffer after it.
    generation: AtomicU64,
}

/// What a fetch asks of the prefetcher: bytes of `file` from `start` (a batch boundary),
/// visible up to `limit`, of which at least `need` must lie in one buffer.
pub(crate) struct Want<'a> {
    pub(crate) file: &'a Arc<File>,
    pub(crate) start: u64,
    pub(crate) need: u64,
    pub(crate) limit: u64,
    /// Bytes the fetch may return past `start` (its maximum plus the slack to find its first
    /// batch).
    pub(crate) span: u64,
    /// [`Prefetcher::generation`] when the plan was made: a truncation since then makes the
    /// plan's bytes stale, and nothing it reads may be kept or served.
    pub(crate) generation: u64,
}

impl Prefetcher {
    pub(crate) fn new() -> Arc<Prefetcher> {
        let p = Arc::new(Prefetcher::default());
        lock(&ALL).push(Arc::downgrade(&p));
        p
    }

    /// Drops every buffer: the log's bytes below the visible end changed (truncation) or its
    /// segments went away.
    pub(crate) fn clear(&self) {
        let mut chunks = lock(&self.chunks);
        self.generation.fetch_add(1, Ordering::AcqRel);
        chunks.clear();
    }

    /// Drops the buffers of files no longer open (segments deleted by retention or replaced
    /// by compaction).
    pub(crate) fn forget_closed(&self) {
        lock(&self.chunks).retain(|c| c.file.strong_count() > 0);
    }

    /// The generation a plan records under the log lock (see [`Want::generation`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The bytes of `want.file` from `want.start` on, as far as one buffer holds them: from a
    /// buffer read earlier, or read now when the range is not in the page cache. `PageCache`:
    /// read through the page cache (cached, direct reads off or refused, budget used up).
    ///
    /// Without `wait`, nothing is read and no read under way is waited for: `Disk` says the
    /// range has to come from the disk, for a caller that must not block (an async runtime's
    /// worker) to ask again where blocking is allowed.
    pub(crate) fn bytes_from(self: &Arc<Self>, want: &Want<'_>, wait: bool) -> Found {
        let ra = read_ahead_bytes();
        if want.start >= want.limit {
            return Found::PageCache;
        }
        // Where the bytes are not read ahead, the page cache serves them, from the disk when
        // they are not cached: a caller that may not block asks again where it may.
        let fallback = if wait { Found::PageCache } else { Found::Disk };
        if self.generation() != want.generation {
            return fallback; // truncated since the plan: nothing here may be kept or served
        }
        let cached = || {
            let end = want.limit.min(want.start + want.span.max(1));
            ends_cached(want.file, want.start, end)
        };
        if ra == 0 || self.refused.load(Ordering::Relaxed) {
            // Every read goes through the page cache.
            return if wait || cached() {
                Found::PageCache
            } else {
                Found::Disk
            };
        }
        let need_end = want.limit.min(want.start + want.need.max(1));
        // Without waiting, a buffer read already serves even if one still being read would
        // reach further.
        let chunk = match self.covering(want, need_end, !wait) {
            Some(c) if !wait && c.ready().is_none() => return Found::Disk,
            Some(c) => c,
            None => {
                if cached() {
                    return Found::PageCache;
                }
                if !wait {
                    return Found::Disk;
                }
                let from = floor(want.start);
                let to = want
                    .limit
                    .min(ceil(want.start + want.span.max(want.need) + ra as u64));
                let cover = (want.start, need_end);
                match self.insert(want, (from, to), want.start, cover, wait) {
                    Inserted::New(c) => {
                        c.fill();
                        c
                    }
                    // Another fetch at the same place got there first: share its read.
                    Inserted::Exists(c) => c,
                    Inserted::No => return Found::PageCache,
                }
            }
        };
        chunk.touch();
        // Buffers this consumer has read past go (another consumer behind it reads them again
        // if it needs them).
        lock(&self.chunks).retain(|c| !(c.is(want.file) && c.end <= want.start));
        let Some(bytes) = chunk.bytes() else {
            if chunk.refused() {
                self.refused.store(true, Ordering::Relaxed);
            }
            lock(&self.chunks).retain(|c| !Arc::ptr_eq(c, &chunk));
            return fallback;
        };
        let skip = (want.start - chunk.start) as usize;
        let usable = ((chunk.end - chunk.start) as usize).min(bytes.len());
        if skip >= usable || (need_end - chunk.start) as usize > usable {
            // The file ended early (cut meanwhile): the page cache path sorts it out, and the
            // short buffer goes.
            lock(&self.chunks).retain(|c| !Arc::ptr_eq(c, &chunk));
            return fallback;
        }
        self.read_ahead(&chunk, want, ra, wait);
        Found::Bytes(bytes.slice(skip..usable))
    }

    /// The buffer of `want.file` holding `[want.start, to)` that reaches furthest, read or
    /// being read; with `prefer_read`, one read already comes first. A buffer that stops at
    /// an earlier visible end, short of what the fetch may return, does not count: appends
    /// since then would be hidden behind it (a fetch waiting for `min_bytes` would be answered
    /// with the old bytes again and again).
    fn covering(&self, want: &Want<'_>, to: u64, prefer_read: bool) -> Option<Arc<Chunk>> {
        let wanted = want.start.saturating_add(want.span);
        lock(&self.chunks)
            .iter()
            .filter(|c| {
                c.is(want.file)
                    && c.start <= want.start
                    && to <= c.end
                    && !c.stale(want.limit, wanted)
            })
            .max_by_key(|c| (prefer_read && c.ready().is_some(), c.end))
            .cloned()
    }

    /// A new pending buffer for `[from, to)` of `want.file` (`batch_at` a batch boundary in
    /// it), unless one holding `cover` is there already or the budget does not allow it.
    /// Buffers it contains, and the oldest beyond the log's share, are dropped.
    ///
    /// With the budget used up and `may_evict` (a caller that may block: not on an async
    /// worker), idle buffers of any log are dropped to make room ([`evict_idle`]), once: a
    /// consumer that moved on, or stopped, must not keep an active one reading through the
    /// page cache until [`sweep`] comes by.
    fn insert(
        &self,
        want: &Want<'_>,
        range: (u64, u64),
        batch_at: u64,
        cover: (u64, u64),
        may_evict: bool,
    ) -> Inserted {
        match self.try_insert(want, range, batch_at, cover) {
            Err(size) if may_evict && evict_idle(size, EVICT_IDLE) => self
                .try_insert(want, range, batch_at, cover)
                .unwrap_or(Inserted::No),
            Err(_) => Inserted::No,
            Ok(inserted) => inserted,
        }
    }

    /// [`Prefetcher::insert`] without making room: `Err` with the bytes to reserve when the
    /// budget does not allow them.
    fn try_insert(
        &self,
        want: &Want<'_>,
        (from, to): (u64, u64),
        batch_at: u64,
        cover: (u64, u64),
    ) -> Result<Inserted, usize> {
        let (file, limit, generation) = (want.file, want.limit, want.generation);
        let mut chunks = lock(&self.chunks);
        if self.generation() != generation {
            return Ok(Inserted::No);
        }
        // One stopping at an older visible end is no substitute (see `covering`), whatever
        // the range a reader wants next.
        if let Some(c) = chunks.iter().find(|c| {
            c.is(file) && c.start <= cover.0 && cover.1 <= c.end && !c.stale(limit, u64::MAX)
        }) {
            return Ok(Inserted::Exists(Arc::clone(c)));
        }
        chunks.retain(|c| {
            !(c.is(file) && from <= c.start && c.end <= to) && c.file.strong_count() > 0
        });
        while chunks.len() >= CHUNKS_PER_LOG {
            chunks.pop_front();
        }
        let size = budget_bytes(to - from);
        let memory = Reservation::take(size).ok_or(size)?;
        let chunk = Arc::new(Chunk {
            file: Arc::downgrade(file),
            start: from,
            batch_at,
            end: to,
            at_limit: to == limit,
            load: Mutex::new(Load::Pending),
            loaded: Condvar::new(),
            last_used: Mutex::new(Instant::now()),
            memory: Mutex::new(Some(memory)),
        });
        chunks.push_back(Arc::clone(&chunk));
        Ok(Inserted::New(chunk))
    }

    /// Keeps the disk ahead of a consumer reading from `chunk` at `want.start`: when the last
    /// buffer of the run it reads (this one, or ones read ahead of it) ends within three of its
    /// fetches, the range after that buffer is read on a background thread. So a consumer
    /// whose fetches are small reads one buffer while the next is read, and one whose fetches
    /// are as large as a buffer still finds the next one read or under way. A new buffer
    /// starts at the block of the last batch that does not end inside the one before it, so
    /// every batch lies whole in one buffer.
    ///
    /// Should no thread start, the read is done here if the caller may block (`wait`), and
    /// otherwise given up: the buffer goes, and a later fetch reads the range itself.
    fn read_ahead(self: &Arc<Self>, chunk: &Arc<Chunk>, want: &Want<'_>, ra: usize, wait: bool) {
        let last = {
            let chunks = lock(&self.chunks);
            let mut last = Arc::clone(chunk);
            while let Some(c) = chunks
                .iter()
                .filter(|c| c.is(want.file) && c.start <= last.end && c.end > last.end)
                .max_by_key(|c| c.end)
            {
                last = Arc::clone(c);
            }
            last
        };
        if last.end >= want.limit
            || (!Arc::ptr_eq(&last, chunk) && want.start + 3 * want.span < last.end)
        {
            return;
        }
        // Still being read: a later fetch carries on from it.
        let Some(bytes) = last.ready() else {
            return;
        };
        let Some(whole) = bytes.get((last.batch_at - last.start) as usize..) else {
            return;
        };
        let batch_at = last.batch_at + last_batch_start(whole) as u64;
        let next = floor(batch_at);
        if next <= last.start {
            return; // one batch larger than the buffer: fetches read it themselves
        }
        if IN_FLIGHT.fetch_add(1, Ordering::AcqRel) >= MAX_IN_FLIGHT {
            IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        struct InFlight;
        impl Drop for InFlight {
            fn drop(&mut self) {
                IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let in_flight = InFlight;
        // As far ahead as the consumer fetches at a time, at least.
        let to = want.limit.min(ceil(last.end + (ra as u64).max(want.span)));
        let cover = (batch_at, last.end + 1);
        let Inserted::New(c) = self.insert(want, (next, to), batch_at, cover, wait) else {
            return;
        };
        let spawned = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn({
                let c = Arc::clone(&c);
                move || {
                    let _in_flight = in_flight;
                    c.fill();
                }
            });
        if spawned.is_err() {
            // The closure, and the in-flight count with it, is dropped already.
            if wait {
                c.fill();
            } else {
                lock(&self.chunks).retain(|x| !Arc::ptr_eq(x, &c));
                // Anyone who found it meanwhile is told the read failed, and reads it again.
                c.abandon();
            }
        }
    }

    /// Buffers held now (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.chunks).len()
    }

    /// Whether any buffer is still being read (for tests).
    #[cfg(test)]
    fn loading(&self) -> bool {
        lock(&self.chunks).iter().any(|c| c.pending())
    }
}

fn floor(pos: u64) -> u64 {
    pos / BLOCK as u64 * BLOCK as u64
}

fn ceil(pos: u64) -> u64 {
    pos.div_ceil(BLOCK as u64) * BLOCK as u64
}

/// Where the last batch of `bytes` (which start at a batch boundary) that is not whole in them
/// starts: the end of the whole batches.
fn last_batch_start(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some((_, len)) = bytes.get(at..).and_then(view::peek_offset_and_length) {
        let size = LOG_OVERHEAD + len.max(0) as usize;
        if at + size > bytes.len() {
            break;
        }
        at += size;
    }
    at
}

/// Bytes read ahead, counted against the budget until the last slice of them is dropped.
///
/// The reservation is declared first so that it is given back before the buffer goes to the
/// aligned pool: the pool keeps what the budget leaves unreserved, and a buffer offered while
/// its own reservation still counted was freed instead of kept whenever the budget was
/// nearly used, to be allocated (faulted in and zeroed) afresh by the next read.
struct Budgeted {
    _memory: Option<Reservation>,
    buf: AlignedBuf,
    len: usize,
}

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.buf.as_ref()[..self.len]
    }
}

/// Reads `[from, from + len)` of `file` (`from` on a block boundary) through an `O_DIRECT`
/// descriptor of the same open file (reopened through `/proc/self/fd`, so a segment renamed or
/// replaced meanwhile is still the one read). Stops early at the end of the file.
fn read_direct(
    file: &File,
    from: u64,
    len: usize,
    memory: Option<Reservation>,
) -> io::Result<Bytes> {
    let fd = rustix::fs::open(
        format!("/proc/self/fd/{}", file.as_raw_fd()),
        OFlags::RDONLY | OFlags::DIRECT | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let padded = len.div_ceil(BLOCK) * BLOCK;
    // Budgeted from the start, so that a failed read too gives the reservation back first.
    let mut read = Budgeted {
        _memory: memory,
        buf: AlignedBuf::take(padded),
        len: 0,
    };
    let mut got = 0;
    while got < padded {
        let window = &mut read.buf.as_mut_slice()[got..];
        match rustix::io::pread(&fd, window, from + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if got % BLOCK != 0 {
            // Only the end of the file ends a direct read off a block boundary.
            break;
        }
    }
    read.len = got.min(len);
    Ok(Bytes::from_owner(read))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Write;

    use super::*;
    use crate::read::is_cached;

    #[test]
    fn cold_ranges_are_served_and_read_ahead() {
        // Fetches smaller than the read-ahead, and ones larger (buffers chained two ahead).
        for span in [1 << 20, 3 << 20] {
            serve_cold_file(span);
        }
    }

    #[test]
    fn a_read_that_may_not_wait_is_told_to_go_to_the_disk() {
        let dir = tempfile::tempdir().unwrap();
        let (file, data) = cold_file(dir.path(), 4 << 20);
        if is_cached(&file, 8192) {
            return; // this file system keeps it cached: nothing to wait for
        }
        let p = Prefetcher::new();
        let want = Want {
            file: &file,
            start: 8192,
            need: 1,
            limit: data.len() as u64,
            span: 1 << 20,
            generation: p.generation(),
        };
        // Nothing read, nothing planned: the caller asks again where it may block.
        assert!(matches!(p.bytes_from(&want, false), Found::Disk));
        assert_eq!(p.len(), 0);
        let Found::Bytes(read) = p.bytes_from(&want, true) else {
            return; // direct reads refused here: the page cache serves
        };
        assert_eq!(&read[..], &data[8192..8192 + read.len()]);
        while p.loading() {
            std::thread::yield_now();
        }
        // Read now: served without waiting.
        let Found::Bytes(again) = p.bytes_from(&want, false) else {
            panic!("a buffer read already must be served without waiting");
        };
        assert_eq!(again, read);
    }

    #[test]
    fn a_buffer_read_ahead_is_not_idle_while_the_one_before_it_is_used() {
        let (dir, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (file, _) = cold_file(dir.path(), 8192);
        let (other, _) = cold_file(dir2.path(), 8192);
        let now = Instant::now();
        let ago = |ms: u64| now.checked_sub(Duration::from_millis(ms)).unwrap();
        let chunk = |f: &Arc<File>, start: u64, end: u64, used: Instant, load: Load| {
            Arc::new(Chunk {
                file: Arc::downgrade(f),
                start,
                batch_at: start,
                end,
                at_limit: false,
                load: Mutex::new(load),
                loaded: Condvar::new(),
                last_used: Mutex::new(used),
                memory: Mutex::new(None),
            })
        };
        let ready = || Load::Ready(Bytes::new());
        let chunks: VecDeque<Arc<Chunk>> = [
            // A consumer reads the first buffer; the one read ahead of it waits (overlapping
            // it by a batch), unused since it was read.
            chunk(&file, 0, 4 << 20, ago(100), ready()),
            chunk(&file, (4 << 20) - 4096, 8 << 20, ago(900), ready()),
            // A stopped consumer's buffer, and one still being read.
            chunk(&other, 0, 4 << 20, ago(900), ready()),
            chunk(&other, 8 << 20, 12 << 20, ago(900), Load::Pending),
        ]
        .into();
        let (found, next) = budget::idle_in(&chunks, now, Duration::from_millis(500));
        assert_eq!(found.len(), 1, "only the stopped consumer's buffer is idle");
        assert!(Arc::ptr_eq(&found[0].1, &chunks[2]));
        // The pending one may be idle once read; the consumer's in 400 ms at the latest.
        assert!(next <= now + Duration::from_millis(400));
        let (found, _) = budget::idle_in(
            &chunks,
            now + Duration::from_millis(450),
            Duration::from_millis(500),
        );
        assert_eq!(
            found.len(),
            3,
            "both of the consumer's buffers, once it stopped too"
        );
    }

    /// A file of `len` known bytes in `dir`, written, synced and dropped from the page cache.
    fn cold_file(dir: &std::path::Path, len: usize) -> (Arc<File>, Vec<u8>) {
        let path = dir.join("seg");
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let file = Arc::new(File::open(&path).unwrap());
        file.sync_all().unwrap();
        rustix::fs::fadvise(&*file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        (file, data)
    }

    fn serve_cold_file(span: u64) {
        let dir = tempfile::tempdir().unwrap();
        let (file, data) = cold_file(dir.path(), 24 << 20);
        let p = Prefetcher::new();
        let limit = data.len() as u64 - 100;
        let mut pos = 1000u64;
        let mut buffers = 0;
        while pos < limit {
            let want = Want {
                file: &file,
                start: pos,
                need: 1,
                limit,
                span,
                generation: p.generation(),
            };
            let bytes = match p.bytes_from(&want, true) {
                Found::Bytes(b) => b,
                // Cached already (the page cache may hold what a test run wrote).
                Found::PageCache => {
                    pos += span;
                    continue;
                }
                Found::Disk => panic!("a waiting read never answers Disk"),
            };
            buffers += 1;
            assert!(!bytes.is_empty());
            assert!(
                pos + bytes.len() as u64 <= limit,
                "served past the visible end"
            );
            assert_eq!(&bytes[..], &data[pos as usize..pos as usize + bytes.len()]);
            pos += (bytes.len() as u64).min(span);
            while p.loading() {
                std::thread::yield_now();
            }
            assert!(p.len() <= CHUNKS_PER_LOG);
        }
        assert!(buffers > 0);
        p.clear();
        assert_eq!(p.len(), 0);
    }
}
