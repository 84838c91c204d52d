//! Block-aligned buffers for `O_DIRECT` reads and writes, kept for reuse.
//!
//! Direct appends copy a batch into one of these, and read-ahead reads a few megabytes into
//! one. A fresh buffer of that size is memory the process has not touched: the kernel faults
//! in and zeroes every page of it, which costs more than the copy or read it serves (see
//! `direct`). So buffers go back to a process-wide pool when their last user drops them, and
//! the pool keeps a bounded number of bytes.

use std::sync::{Mutex, MutexGuard};

/// Alignment of direct I/O: file offset, length and memory. 4 KiB satisfies every logical
/// block size Linux disks and file systems use.
pub const BLOCK: usize = 4096;

/// Most bytes the pool keeps unused: a read-ahead buffer or two and a few append buffers.
const KEEP_MAX_BYTES: usize = 16 << 20;
/// What the pool may keep whatever the read-ahead budget: a few append buffers. Beyond it,
/// kept buffers count against the read-ahead budget (`fetch.read.ahead.memory.bytes`), so
/// that budget bounds the memory of direct I/O as a whole.
const KEEP_ALWAYS_BYTES: usize = 4 << 20;
/// Larger buffers are freed after use rather than kept.
const KEEP_MAX_ONE: usize = 16 << 20;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn pool() -> MutexGuard<'static, Vec<Vec<u8>>> {
    POOL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The memory an [`AlignedBuf`] of `len` bytes holds (room to align it included).
pub(crate) fn size_for(len: usize) -> usize {
    class(len + BLOCK)
}

/// The allocation size for `need` bytes: a power of two up to 1 MiB, whole mebibytes above,
/// so that a kept buffer fits the next request of about the same size.
fn class(need: usize) -> usize {
    const MIB: usize = 1 << 20;
    if need <= MIB {
        need.next_power_of_two()
    } else {
        need.div_ceil(MIB) * MIB
    }
}

/// An aligned window of memory that goes back to the pool when dropped.
#[derive(Debug)]
pub(crate) struct AlignedBuf {
    buf: Vec<u8>,
    /// Where the aligned window starts in `buf`.
    skip: usize,
    len: usize,
}

impl AlignedBuf {
    /// A window of `len` bytes (a multiple of [`BLOCK`] for direct I/O) at a block-aligned
    /// address. Its contents are whatever the buffer last held.
    pub(crate) fn take(len: usize) -> AlignedBuf {
        let size = size_for(len);
        // Only a buffer of exactly this size is reused: what a caller takes is what it may
        // count (the read-ahead budget), whatever the pool holds.
        let reused = {
            let mut p = pool();
            p.iter()
                .position(|b| b.len() == size)
                .map(|i| p.swap_remove(i))
        };
        let buf = reused.unwrap_or_else(|| vec![0; size]);
        let skip = buf.as_ptr().align_offset(BLOCK);
        AlignedBuf { buf, skip, len }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.buf[self.skip..self.skip + self.len]
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf[self.skip..self.skip + self.len]
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let size = buf.len();
        if size == 0 || size > KEEP_MAX_ONE {
            return;
        }
        let cap = KEEP_MAX_BYTES.min(KEEP_ALWAYS_BYTES.max(crate::prefetch::unreserved()));
        if size > cap {
            return;
        }
        // The newest buffer stays, the oldest go: sizes in use now are what will be asked for.
        let mut p = pool();
        let mut kept: usize = p.iter().map(Vec::len).sum();
        while kept + size > cap && !p.is_empty() {
            kept -= p.remove(0).len();
        }
        p.push(buf);
    }
}

/// Frees kept buffers, oldest first, until `bytes` are freed or none is left beyond what the
/// pool keeps whatever the budget: the read-ahead budget needs the room.
pub(crate) fn trim(bytes: usize) {
    let mut p = pool();
    let mut kept: usize = p.iter().map(Vec::len).sum();
    let mut freed = 0;
    while freed < bytes && kept > KEEP_ALWAYS_BYTES && !p.is_empty() {
        let n = p.remove(0).len();
        kept -= n;
        freed += n;
    }
}

/// Bytes the pool keeps unused now.
pub fn kept_bytes() -> usize {
    pool().iter().map(Vec::len).sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use bytes::Bytes;

    use super::*;

    #[test]
    fn windows_are_aligned_and_buffers_reused() {
        // A size no other test asks for (128 KiB), so a parallel test cannot take it.
        let len = (100 << 10) + 5;
        let mut a = AlignedBuf::take(len);
        assert_eq!(a.as_mut_slice().as_ptr() as usize % BLOCK, 0);
        assert_eq!(a.as_mut_slice().len(), len);
        assert_eq!(a.buf.len(), 128 << 10);
        a.as_mut_slice().fill(9);
        let ptr = a.buf.as_ptr();
        let bytes = Bytes::from_owner(a).slice(..5000);
        assert_eq!(bytes.len(), 5000);
        assert!(bytes.iter().all(|&b| b == 9));
        let part = bytes.slice(100..200);
        drop(bytes);
        let other = AlignedBuf::take(len);
        assert_ne!(other.buf.as_ptr(), ptr, "a slice still holds it");
        drop(part);
        assert_eq!(
            AlignedBuf::take(len - 7).buf.as_ptr(),
            ptr,
            "the buffer is reused"
        );
        drop(other);
    }

    #[test]
    fn sizes_settle_on_few_classes() {
        assert_eq!(class(5000), 8192);
        assert_eq!(class(1 << 20), 1 << 20);
        assert_eq!(class((5 << 20) + 1), 6 << 20);
        assert_eq!(size_for(4 << 20), 5 << 20);
    }
}
