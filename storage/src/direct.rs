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
//! A direct write must start and end on a block boundary. The log's bytes seldom end on one,
//! so the segment keeps a copy of its last partial block ([`TailBlock`]) and every direct
//! write rewrites that block with the new bytes after it, padded with zeros to the next
//! boundary. The file is therefore up to a block longer than the segment's bytes until the
//! segment is sealed or closed, when it is cut to size; after a crash, recovery stops at the
//! zeros and cuts them like any torn tail.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{Mode, OFlags};

use crate::aligned::AlignedBuf;
pub(crate) use crate::aligned::BLOCK;

/// Appends of at least this many bytes are written directly unless [`set_min_bytes`] says
/// otherwise. A producer at full speed sends batches near its `batch.size` (librdkafka: 1 MB);
/// ones at a few thousand records a second send a few KiB.
pub const DEFAULT_MIN_BYTES: u64 = 256 * 1024;

static MIN_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MIN_BYTES);

/// Batch bytes written directly since the process started.
static WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Batch bytes appended with direct writes since the process started (for `/metrics`).
pub fn written_bytes() -> u64 {
    WRITTEN.load(Ordering::Relaxed)
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
    let total = prefix.len() + head.len() + tail.len();
    let padded = total.div_ceil(BLOCK) * BLOCK;
    let mut buf = AlignedBuf::take(padded);
    let window = buf.as_mut_slice();
    let (p, rest) = window.split_at_mut(prefix.len());
    p.copy_from_slice(prefix);
    let (h, rest) = rest.split_at_mut(head.len());
    h.copy_from_slice(head);
    let (t, pad) = rest.split_at_mut(tail.len());
    t.copy_from_slice(tail);
    pad.fill(0);
    let fd = match rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::INVAL) => return Ok(Outcome::Unsupported),
        Err(_) => return Ok(Outcome::NotNow),
    };
    match write_window(&fd, window, start) {
        Ok(()) => {
            let len = head.len() + tail.len();
            block.appended(head, tail, pos + len as u64);
            WRITTEN.fetch_add(len as u64, Ordering::Relaxed);
            Ok(Outcome::Written)
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
            // The descriptor opened but the write was refused (an alignment the file system
            // wants larger than a block): nothing is past `pos + len`, the page-cache write
            // that follows covers the range.
            tracing::warn!(segment = %path.display(), "direct write refused; appends go through the page cache");
            Ok(Outcome::Unsupported)
        }
        Err(e) => Err(e),
    }
}

/// `pwrite` of an aligned window through a fresh `O_DIRECT` descriptor (opened per write: a
/// write of this size costs far more than an open, and no descriptor outlives it to count
/// against the handle budget).
fn write_window(fd: &rustix::fd::OwnedFd, mut window: &[u8], mut at: u64) -> io::Result<()> {
    while !window.is_empty() {
        match rustix::io::pwrite(fd, window, at) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            // A short direct write ends on a block boundary; if it did not, the rest cannot
            // be written directly.
            Ok(n) if n < window.len() && !n.is_multiple_of(BLOCK) => {
                return Err(io::Error::other("short direct write off a block boundary"));
            }
            Ok(n) => {
                window = &window[n..];
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
