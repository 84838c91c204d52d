//! Large appends written with `O_DIRECT`, past the page cache.
//!
//! A buffered write copies every byte into page-cache pages, and when the page cache grows
//! into memory the machine has not touched lately those pages are expensive to get: on a
//! virtual machine whose host takes back free guest memory (balloon free-page reporting), the
//! copy of a 1 MiB batch ran 10× slower than a copy into pages in use a moment before, and
//! was three quarters of the node's CPU on durable produce. A direct write instead copies the
//! batch once into a reused, block-aligned buffer and hands that to the disk, and the page
//! cache does not grow. Small appends stay buffered: a direct write is a synchronous disk
//! write, too slow for a stream of small batches, and recent small batches are what tailing
//! consumers read from the page cache.
//!
//! The copy into the aligned buffer is itself a tenth of the node's CPU at a gigabyte a second.
//! A direct write needs each buffer it is given to start on a block boundary in memory and
//! in the file, and a batch received at the same offset within a block as its place in the
//! file has its middle blocks already aligned: those are written from the request's memory,
//! and only the first and last blocks, with the segment's partial block and the patched
//! header, are assembled in an aligned buffer. The connection reads a large produce request
//! into memory at that offset (`placement`, in the protocol crate, finds the batch in the
//! request's first bytes); when it guessed wrong, the batch is copied as before.
//!
//! A direct write must start and end on a block boundary. The log's bytes seldom end on one,
//! so the segment keeps a copy of its last partial block ([`TailBlock`]) and every direct
//! write rewrites that block with the new bytes after it, padded with zeros to the next
//! boundary. The file is therefore up to a block longer than the segment's bytes until the
//! segment is sealed or closed, when it is cut to size; after a crash, recovery stops at the
//! zeros and cuts them like any torn tail.

use std::fs::File;
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};

use crate::aligned::AlignedBuf;
pub use crate::aligned::BLOCK;

/// Appends of at least this many bytes are written directly unless [`set_min_bytes`] says
/// otherwise. A producer at full speed sends batches near its `batch.size` (librdkafka: 1 MB);
/// ones at a few thousand records a second send a few KiB.
pub const DEFAULT_MIN_BYTES: u64 = 256 * 1024;

static MIN_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MIN_BYTES);

/// Batch bytes written directly since the process started.
static WRITTEN: AtomicU64 = AtomicU64::new(0);
/// Of those, the bytes copied into an aligned buffer first (the rest were written from the
/// memory they were received in).
static COPIED: AtomicU64 = AtomicU64::new(0);

/// Batch bytes appended with direct writes since the process started (for `/metrics`).
pub fn written_bytes() -> u64 {
    WRITTEN.load(Ordering::Relaxed)
}

/// Batch bytes written directly after a copy into an aligned buffer (for `/metrics`): what
/// was not received at its block offset.
pub fn copied_bytes() -> u64 {
    COPIED.load(Ordering::Relaxed)
}

/// Sets the smallest append written directly, for the process; 0 writes every append through
/// the page cache.
pub fn set_min_bytes(bytes: u64) {
    MIN_BYTES.store(bytes, Ordering::Relaxed);
}

/// The smallest append written directly; 0 when direct writes are off.
pub fn min_bytes() -> u64 {
    MIN_BYTES.load(Ordering::Relaxed)
}

/// Whether an append of `len` bytes is written directly.
pub(crate) fn wanted(len: usize) -> bool {
    let min = min_bytes();
    min > 0 && len as u64 >= min
}

/// The bytes of a segment's last partial block: from the block boundary at or below the
/// segment's end up to the end (empty when the end is on a boundary).
#[derive(Debug, Default)]
pub(crate) struct TailBlock {
    /// `None` when not known (the segment was opened from disk, or cut): read from the file
    /// when a direct write needs it.
    bytes: Option<Vec<u8>>,
}

impl TailBlock {
    pub(crate) fn forget(&mut self) {
        self.bytes = None;
    }

    /// Follows an append of `head` then `tail` that took the segment to `end` bytes.
    pub(crate) fn appended(&mut self, head: &[u8], tail: &[u8], end: u64) {
        let in_block = (end % BLOCK as u64) as usize;
        let added = head.len() + tail.len();
        if added >= in_block {
            let mut b = Vec::with_capacity(in_block);
            let skip = added - in_block;
            if skip < head.len() {
                b.extend_from_slice(&head[skip..]);
                b.extend_from_slice(tail);
            } else {
                b.extend_from_slice(&tail[skip - head.len()..]);
            }
            self.bytes = Some(b);
        } else if let Some(b) = &mut self.bytes {
            b.extend_from_slice(head);
            b.extend_from_slice(tail);
            debug_assert_eq!(b.len(), in_block);
        }
    }

    /// The bytes, read from `file` if not known; `end` is the segment's size.
    fn get(&mut self, file: &File, end: u64) -> io::Result<&[u8]> {
        let in_block = (end % BLOCK as u64) as usize;
        if self.bytes.as_ref().is_some_and(|b| b.len() != in_block) {
            debug_assert!(false, "tail block out of step with the segment's end");
            self.bytes = None;
        }
        if self.bytes.is_none() {
            let mut b = vec![0; in_block];
            file.read_exact_at(&mut b, end - in_block as u64)?;
            self.bytes = Some(b);
        }
        Ok(self.bytes.as_deref().unwrap_or_default())
    }
}

/// How a direct write went.
#[derive(Debug)]
pub(crate) enum Outcome {
    Written,
    /// The file system refuses `O_DIRECT`: nothing was written, write through the page cache
    /// from now on.
    Unsupported,
    /// No direct descriptor could be opened now (out of descriptors or memory): write this
    /// append through the page cache.
    NotNow,
}

/// Writes `head` then `tail` at `pos` (the segment's end, with `block` its last partial block)
/// through a direct descriptor of `path`. Updates `block` on success. `file` is the segment's
/// ordinary handle, used to read the partial block if it is not known.
pub(crate) fn write_at(
    path: &Path,
    file: &File,
    block: &mut TailBlock,
    pos: u64,
    head: &[u8],
    tail: &[u8],
) -> io::Result<Outcome> {
    let prefix = block.get(file, pos)?;
    let start = pos - prefix.len() as u64;
    let fd = match rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::INVAL) => return Ok(Outcome::Unsupported),
        Err(_) => return Ok(Outcome::NotNow),
    };
    let parts = Parts { prefix, head, tail };
    let written = match in_place(pos + head.len() as u64, tail) {
        // The batch's bytes lie in memory as they will on disk: only the blocks at its ends
        // are assembled, the middle is written from where it was received (`prefix` ends
        // where the segment does, so the first part is whole blocks). Should the file system
        // refuse that, the copy is tried before giving up on direct writes.
        Some(split) => match parts.write_placed(&fd, split, start) {
            Err(e) if is_refused(&e) => parts.write_copied(&fd, start).map(|()| true),
            r => r.map(|()| false),
        },
        None => parts.write_copied(&fd, start).map(|()| true),
    };
    match written {
        Ok(copied) => {
            let len = head.len() + tail.len();
            block.appended(head, tail, pos + len as u64);
            WRITTEN.fetch_add(len as u64, Ordering::Relaxed);
            if copied {
                COPIED.fetch_add(len as u64, Ordering::Relaxed);
            }
            Ok(Outcome::Written)
        }
        Err(e) if is_refused(&e) => {
            // The descriptor opened but the write was refused (an alignment the file system
            // wants larger than a block): nothing is past `pos + len`, the page-cache write
            // that follows covers the range.
            tracing::warn!(segment = %path.display(), "direct write refused; appends go through the page cache");
            Ok(Outcome::Unsupported)
        }
        Err(e) => Err(e),
    }
}

fn is_refused(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
}

/// What one direct write puts in the file from its start block: the segment's partial last
/// block, the batch's patched first bytes, and the rest of the batch.
struct Parts<'a> {
    prefix: &'a [u8],
    head: &'a [u8],
    tail: &'a [u8],
}

impl Parts<'_> {
    /// Copies everything into one aligned buffer, zero-padded to a block, and writes it.
    fn write_copied(&self, fd: &rustix::fd::OwnedFd, start: u64) -> io::Result<()> {
        let total = self.prefix.len() + self.head.len() + self.tail.len();
        let mut buf = AlignedBuf::take(total.next_multiple_of(BLOCK));
        let w = buf.as_mut_slice();
        let end = assemble(w, &[self.prefix, self.head, self.tail]);
        w[end..].fill(0);
        write_window(fd, [buf.as_ref(), &[], &[]], start)
    }

    /// Writes `tail[k..m]` (whole blocks, at block-aligned addresses: see [`in_place`]) from
    /// where it lies, between the first and last blocks assembled in an aligned buffer.
    fn write_placed(
        &self,
        fd: &rustix::fd::OwnedFd,
        (k, m): (usize, usize),
        start: u64,
    ) -> io::Result<()> {
        let tail = self.tail;
        let first = self.prefix.len() + self.head.len() + k;
        let last = tail.len() - m;
        let last_padded = last.next_multiple_of(BLOCK);
        let mut buf = AlignedBuf::take(first + BLOCK);
        let (a, b) = buf.as_mut_slice().split_at_mut(first);
        assemble(a, &[self.prefix, self.head, &tail[..k]]);
        let b_end = assemble(b, &[&tail[m..]]);
        b[b_end..last_padded].fill(0);
        let (a, b) = buf.as_ref().split_at(first);
        write_window(fd, [a, &tail[k..m], &b[..last_padded]], start)
    }
}

/// Where `tail`, to be written at file position `at`, can be written from its own memory:
/// `Some((k, m))` when its address has the same offset within a block as `at`, so that
/// `tail[k..m]` is whole blocks both in memory and in the file. `None` when it does not (the
/// request was not received at that offset: another producer appended in between, or the
/// batch was converted) or the tail is too short to be worth it.
fn in_place(at: u64, tail: &[u8]) -> Option<(usize, usize)> {
    let phase = (at % BLOCK as u64) as usize;
    if tail.len() < 4 * BLOCK || (tail.as_ptr() as usize) % BLOCK != phase {
        return None;
    }
    let k = (BLOCK - phase) % BLOCK;
    let m = k + (tail.len() - k) / BLOCK * BLOCK;
    Some((k, m))
}

/// Copies `parts` one after another to the start of `to`; returns the bytes copied.
fn assemble(to: &mut [u8], parts: &[&[u8]]) -> usize {
    let mut at = 0;
    for p in parts {
        to[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    at
}

/// `pwritev` of aligned buffers through a fresh `O_DIRECT` descriptor (opened per write: a
/// write of this size costs far more than an open, and no descriptor outlives it to count
/// against the handle budget). Every buffer starts at a block-aligned address and is whole
/// blocks long, as direct I/O requires of each.
fn write_window(fd: &rustix::fd::OwnedFd, window: [&[u8]; 3], mut at: u64) -> io::Result<()> {
    let mut slices = [IoSlice::new(&[]); 3];
    let mut used = 0;
    for w in window.into_iter().filter(|w| !w.is_empty()) {
        slices[used] = IoSlice::new(w);
        used += 1;
    }
    let mut left: &mut [IoSlice<'_>] = &mut slices[..used];
    while !left.is_empty() {
        let total: usize = left.iter().map(|s| s.len()).sum();
        match rustix::io::pwritev(fd, left, at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            // A short direct write ends on a block boundary; if it did not, the rest cannot
            // be written directly.
            Ok(n) if n < total && !n.is_multiple_of(BLOCK) => {
                return Err(io::Error::other("short direct write off a block boundary"));
            }
            Ok(n) => {
                IoSlice::advance_slices(&mut left, n);
                at += n as u64;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends placed at their block offset in memory (written in place) and not (copied)
    /// leave the same bytes in the file, padded with zeros to a block boundary.
    #[test]
    fn batches_written_in_place_and_copied_read_back_alike() {
        use std::fs::OpenOptions;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        if rustix::fs::open(&path, OFlags::WRONLY | OFlags::DIRECT, Mode::empty()).is_err() {
            return; // a file system without O_DIRECT (tmpfs): nothing to check here
        }
        let mut block = TailBlock::default();
        let start: Vec<u8> = (0..100u8).collect();
        file.write_all_at(&start, 0).unwrap();
        block.appended(&start, &[], 100);
        let mut expect = start;
        let mut pos = 100u64;
        // (received at its block offset, where the batch's end falls within a block). The
        // cases cover a last block that is whole (no partial block after the middle), a tail
        // starting on a block boundary, and a first part two blocks long (a nearly full
        // partial block before the header).
        let cases = [
            (true, None),
            (false, None),
            (true, Some(0)),
            (true, Some(BLOCK - 61)),
            (true, Some(4090)),
            (true, None),
        ];
        for (i, (placed, end_in_block)) in cases.into_iter().enumerate() {
            let head = [i as u8 + 1; 61];
            let mut len = 5 * BLOCK + 1234 * i + 7;
            if let Some(e) = end_in_block {
                let at = (pos as usize + head.len() + len) % BLOCK;
                len += (e + BLOCK - at) % BLOCK;
            }
            let mut mem = AlignedBuf::take(len + 2 * BLOCK);
            let at = ((pos + head.len() as u64) % BLOCK as u64) as usize;
            let phase = if placed { at } else { at + 1 };
            let tail = &mut mem.as_mut_slice()[phase..phase + len];
            for (j, b) in tail.iter_mut().enumerate() {
                *b = (j * 7 + i) as u8;
            }
            assert_eq!(in_place(pos + head.len() as u64, tail).is_some(), placed);
            let out = write_at(&path, &file, &mut block, pos, &head, tail).unwrap();
            assert!(matches!(out, Outcome::Written), "{out:?}");
            expect.extend_from_slice(&head);
            expect.extend_from_slice(tail);
            pos += (head.len() + len) as u64;
        }
        let size = file.metadata().unwrap().len();
        assert_eq!(size, pos.next_multiple_of(BLOCK as u64));
        let mut got = vec![0xff; size as usize];
        file.read_exact_at(&mut got, 0).unwrap();
        assert_eq!(&got[..expect.len()], &expect[..]);
        assert!(got[expect.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn in_place_splits_at_block_boundaries() {
        let mem = AlignedBuf::take(8 * BLOCK);
        let m = mem.as_ref();
        // Tail at offset 100 in its block, written at a file offset 100 into a block.
        let (k, e) = in_place(3 * BLOCK as u64 + 100, &m[100..100 + 5 * BLOCK]).unwrap();
        assert_eq!((k, e), (BLOCK - 100, 5 * BLOCK - 100));
        assert!(in_place(101, &m[100..100 + 5 * BLOCK]).is_none());
        assert!(
            in_place(100, &m[100..100 + 3 * BLOCK]).is_none(),
            "too short"
        );
        let (k, e) = in_place(0, &m[..4 * BLOCK + 1]).unwrap();
        assert_eq!((k, e), (0, 4 * BLOCK));
    }

    #[test]
    fn tail_block_follows_appends() {
        let mut t = TailBlock::default();
        t.appended(&[1; 10], &[2; 20], 30);
        assert_eq!(t.bytes.as_deref().unwrap().len(), 30);
        t.appended(&[3; 61], &[4; 4000], 4091);
        let b = t.bytes.as_deref().unwrap();
        assert_eq!(b.len(), 4091 % BLOCK);
        t.appended(&[5; 61], &[6; 5000], 4091 + 5061);
        let b = t.bytes.as_deref().unwrap();
        assert_eq!(b.len(), (4091 + 5061) % BLOCK);
        assert!(b.iter().all(|&x| x == 6));
        // Unknown stays unknown until an append covers a whole block's tail.
        let mut u = TailBlock::default();
        u.appended(&[1; 3], &[1; 3], 4096 * 3 + 10);
        assert!(u.bytes.is_none());
        u.appended(&[7; 1], &[8; 8191], 4096 * 5 + 10);
        assert_eq!(u.bytes.as_deref().unwrap(), &[8; 10][..]);
    }
}
