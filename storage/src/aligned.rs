//! Block-aligned buffers for `O_DIRECT` reads and writes, kept for reuse.
//!
//! Direct appends copy a batch into one of these, and read-ahead reads a few megabytes into
//! one. A fresh buffer of that size is memory the process has not touched: the kernel faults
//! in and zeroes every page of it, which costs more than the copy or read it serves (see
//! `direct`). So buffers go back to a process-wide pool when their last user drops them, and
//! the pool keeps a bounded number of bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Alignment of direct I/O: file offset, length and memory. 4 KiB satisfies every logical
/// block size Linux disks and file systems use.
pub const BLOCK: usize = 4096;

/// Most bytes the pool keeps unused: a read-ahead buffer for a fetch of 16 MiB and the
/// read-ahead past it (21 MiB), or a few for smaller fetches, and a few append buffers.
const KEEP_MAX_BYTES: usize = 32 << 20;
/// What the pool may keep whatever the read-ahead budget: a few append buffers. Beyond it,
/// kept buffers count against the read-ahead budget (`fetch.read.ahead.memory.bytes`), so
/// that budget bounds the memory of direct I/O as a whole.
const KEEP_ALWAYS_BYTES: usize = 4 << 20;
/// Larger buffers are freed after use rather than kept.
const KEEP_MAX_ONE: usize = KEEP_MAX_BYTES;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
/// Bytes of buffers allocated because none of the size was kept (for `/metrics`).
static ALLOCATED: AtomicU64 = AtomicU64::new(0);
/// When a buffer was last taken, in milliseconds since [`EPOCH`], for [`release_idle`].
static LAST_TAKEN_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

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
        if size > KEEP_ALWAYS_BYTES {
            // A read-ahead's size: what `release_idle` waits on (direct appends take smaller
            // buffers all the time, and need only what the pool keeps whatever the budget).
            LAST_TAKEN_MS.store(now_ms(), Ordering::Relaxed);
        }
        // Only a buffer of exactly this size is reused: what a caller takes is what it may
        // count (the read-ahead budget), whatever the pool holds.
        let reused = {
            let mut p = pool();
            p.iter().position(|b| b.len() == size).map(|i| p.remove(i))
        };
        let buf = reused.unwrap_or_else(|| {
            ALLOCATED.fetch_add(size as u64, Ordering::Relaxed);
            vec![0; size]
        });
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

/// Makes room in the read-ahead budget (`max` bytes, `used` of them reserved) for a
/// reservation of `size` bytes, to be held by a buffer of that size: frees kept buffers,
/// oldest first, while the reservation and the kept buffers together would exceed the budget
/// and more is kept than the pool keeps whatever the budget. One kept buffer of `size` is
/// spared and not counted, since the read being reserved takes it: freeing it would only have
/// that read allocate the same memory again, for the kernel to fault in and zero.
pub(crate) fn make_room(size: usize, used: usize, max: usize) {
    make_room_in(&mut pool(), size, used, max);
}

fn make_room_in(p: &mut Vec<Vec<u8>>, size: usize, used: usize, max: usize) {
    let spared = p.iter().position(|b| b.len() == size).map(|i| p.remove(i));
    free_oldest_while(p, |kept| used + size + kept > max);
    p.extend(spared);
}

/// Frees kept buffers, oldest first, while `over(bytes kept)` holds and more is kept than the
/// pool keeps whatever the budget.
fn free_oldest_while(p: &mut Vec<Vec<u8>>, over: impl Fn(usize) -> bool) {
    let mut kept: usize = p.iter().map(Vec::len).sum();
    while over(kept) && kept > KEEP_ALWAYS_BYTES && !p.is_empty() {
        kept -= p.remove(0).len();
    }
}

/// Bytes of aligned buffers allocated since the process started, because the pool kept none
/// of the size asked for: each such byte is a page the kernel faults in and zeroes.
pub fn allocated_bytes() -> u64 {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Frees kept buffers beyond what the pool keeps whatever the budget when none larger than
/// that has been taken for `idle`: a node no consumer reads from cold need not hold the memory
/// of the last one's reads.
pub(crate) fn release_idle(idle: Duration) {
    if now_ms().saturating_sub(LAST_TAKEN_MS.load(Ordering::Relaxed)) < idle.as_millis() as u64 {
        return;
    }
    free_oldest_while(&mut pool(), |_| true);
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
    fn room_for_a_read_spares_the_buffer_it_will_take() {
        const MIB: usize = 1 << 20;
        let bufs = |sizes: &[usize]| sizes.iter().map(|&n| vec![0u8; n * MIB]).collect();
        let sizes = |p: &Vec<Vec<u8>>| p.iter().map(|b| b.len() / MIB).collect::<Vec<_>>();
        // 40 of 64 MiB reserved, 21 more wanted: of 6 + 21 + 5 kept, the 21 is spared, the
        // oldest others go until the rest fits (or only what is always kept is left).
        let mut p = bufs(&[6, 21, 5]);
        make_room_in(&mut p, 21 * MIB, 40 * MIB, 64 * MIB);
        assert_eq!(sizes(&p), [21]);
        // Room enough: nothing goes.
        let mut p = bufs(&[6, 21, 5]);
        make_room_in(&mut p, 21 * MIB, 10 * MIB, 64 * MIB);
        assert_eq!(sizes(&p), [6, 5, 21]);
        // No kept buffer of the size: the oldest go first, the pool's floor stays.
        let mut p = bufs(&[6, 3, 2]);
        make_room_in(&mut p, 17 * MIB, 40 * MIB, 64 * MIB);
        assert_eq!(sizes(&p), [3, 2]);
        let mut p = bufs(&[6, 3, 2]);
        make_room_in(&mut p, 17 * MIB, 45 * MIB, 64 * MIB);
        assert_eq!(sizes(&p), [2]);
    }

    #[test]
    fn sizes_settle_on_few_classes() {
        assert_eq!(class(5000), 8192);
        assert_eq!(class(1 << 20), 1 << 20);
        assert_eq!(class((5 << 20) + 1), 6 << 20);
        assert_eq!(size_for(4 << 20), 5 << 20);
    }
}
