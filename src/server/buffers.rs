//! Reused buffers for large request bodies.
//!
//! A producer sends requests of up to a megabyte, one after another. Allocating a fresh buffer
//! for each costs more than the copy into it: the allocator hands large freed blocks back to
//! the kernel, and the next request faults in and zeroes new pages (on a VM with free-page
//! reporting, pages the guest gave back are slower still to take again). Produce only borrows
//! its request body until the batch is appended, so a handful of buffers serve a connection's
//! whole stream; keeping them resident trades a bounded amount of memory for those faults.
//!
//! Bodies below [`POOLED_MIN`] are left to the allocator, which reuses small blocks well.
//! Pooled buffers come in power-of-two sizes so that a buffer fits the next request of about
//! the same size; what the pool keeps is bounded by `socket.request.buffer.pool.bytes`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

/// Request bodies from this size up are read into pooled buffers.
pub const POOLED_MIN: usize = 64 * 1024;

/// A node's pool of request buffers.
#[derive(Debug)]
pub struct RequestBuffers {
    free: Mutex<Vec<Vec<u8>>>,
    /// Most bytes of capacity kept while unused.
    keep_max: usize,
    reused: AtomicU64,
    allocated: AtomicU64,
}

/// A buffer that goes back to its pool when the last `Bytes` made from it is dropped.
struct Pooled {
    buf: Vec<u8>,
    pool: Arc<RequestBuffers>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

impl RequestBuffers {
    pub fn new(keep_max: usize) -> Arc<RequestBuffers> {
        Arc::new(RequestBuffers {
            free: Mutex::new(Vec::new()),
            keep_max,
            reused: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
        })
    }

    fn free(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        // A panic while holding the lock leaves only a list of empty buffers behind.
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An empty buffer with room for `len` bytes: a kept one when one fits, else a new one of
    /// the next power-of-two size (left untouched, so it costs no memory until it is read into).
    pub fn take(&self, len: usize) -> Vec<u8> {
        if len < POOLED_MIN || self.keep_max == 0 {
            return Vec::with_capacity(len);
        }
        let class = len.next_power_of_two();
        {
            let mut free = self.free();
            // The smallest kept buffer that fits.
            let best = free
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= len)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            if let Some(i) = best {
                self.reused.fetch_add(1, Ordering::Relaxed);
                return free.swap_remove(i);
            }
        }
        self.allocated.fetch_add(1, Ordering::Relaxed);
        Vec::with_capacity(class)
    }

    /// An empty buffer for a body of `len` bytes and where in it the body is to start: at
    /// `phase` bytes into a `block`-aligned block of memory when a phase is given (a produced
    /// batch then lies where a direct write can take it from: see
    /// `handlers::produce::frame_phase`), else at its start. The bytes before the body are
    /// zeros, dropped with [`Bytes::advance`] after [`RequestBuffers::freeze`].
    pub fn take_placed(&self, len: usize, phase: Option<usize>, block: usize) -> (Vec<u8>, usize) {
        let Some(phase) = phase else {
            return (self.take(len), 0);
        };
        let mut buf = self.take(len + block);
        let skip = (phase + block - buf.as_ptr() as usize % block) % block;
        buf.resize(skip, 0);
        (buf, skip)
    }

    /// Freezes a filled buffer into `Bytes` whose drop returns it to the pool.
    pub fn freeze(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        if buf.capacity() < POOLED_MIN || self.keep_max == 0 {
            return Bytes::from(buf);
        }
        Bytes::from_owner(Pooled {
            buf,
            pool: Arc::clone(self),
        })
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap < POOLED_MIN || cap > self.keep_max {
            return;
        }
        buf.clear();
        let mut free = self.free();
        let kept: usize = free.iter().map(Vec::capacity).sum();
        if kept + cap <= self.keep_max {
            free.push(buf);
            return;
        }
        // Full: keep the larger buffer, which fits more requests, if that stays in bounds.
        if let Some((i, smallest)) = free
            .iter()
            .enumerate()
            .map(|(i, b)| (i, b.capacity()))
            .min_by_key(|&(_, c)| c)
            && smallest < cap
            && kept - smallest + cap <= self.keep_max
        {
            free[i] = buf;
        }
    }

    /// Bytes of capacity kept unused right now.
    pub fn kept_bytes(&self) -> usize {
        self.free().iter().map(Vec::capacity).sum()
    }

    /// Large request bodies read into a kept buffer, and into a new one.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.reused.load(Ordering::Relaxed),
            self.allocated.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use bytes::Buf;

    use super::*;

    #[test]
    fn large_buffers_come_back_and_small_ones_do_not() {
        let pool = RequestBuffers::new(4 << 20);
        let mut b = pool.take(1_000_000);
        assert_eq!(b.capacity(), 1 << 20);
        b.extend_from_slice(&[7u8; 1_000_000]);
        let ptr = b.as_ptr();
        let frozen = pool.freeze(b);
        let slice = frozen.slice(10..20);
        drop(frozen);
        assert_eq!(pool.kept_bytes(), 0, "a slice still holds the buffer");
        assert_eq!(&slice[..], &[7u8; 10]);
        drop(slice);
        assert_eq!(pool.kept_bytes(), 1 << 20);
        let again = pool.take(900_000);
        assert_eq!(again.as_ptr(), ptr, "the kept buffer is reused");
        assert!(again.is_empty());
        assert_eq!(pool.counts(), (1, 1));

        let small = pool.take(100);
        drop(pool.freeze(small));
        assert_eq!(pool.kept_bytes(), 0);
    }

    #[test]
    fn a_placed_body_starts_at_its_phase() {
        let pool = RequestBuffers::new(4 << 20);
        for phase in [0, 1, 100, 4095] {
            let (mut b, skip) = pool.take_placed(200_000, Some(phase), 4096);
            assert_eq!(b.len(), skip);
            assert!(b.iter().all(|&x| x == 0));
            let ptr = b.as_ptr();
            b.extend_from_slice(&[5u8; 200_000]);
            assert_eq!(b.as_ptr(), ptr, "room for the body without a reallocation");
            let mut frame = pool.freeze(b);
            frame.advance(skip);
            assert_eq!(frame.as_ptr() as usize % 4096, phase);
            assert_eq!(frame.len(), 200_000);
        }
        let (b, skip) = pool.take_placed(200_000, None, 4096);
        assert_eq!((b.len(), skip), (0, 0));
    }

    #[test]
    fn the_pool_keeps_at_most_its_bound() {
        let pool = RequestBuffers::new(3 << 20);
        let held: Vec<Bytes> = (0..6)
            .map(|_| {
                let mut b = pool.take(1 << 20);
                b.resize(1 << 20, 1);
                pool.freeze(b)
            })
            .collect();
        drop(held);
        assert_eq!(pool.kept_bytes(), 3 << 20);
        // A larger buffer displaces a smaller one only within the bound.
        let mut big = pool.take(2 << 20);
        big.resize(2 << 20, 1);
        drop(pool.freeze(big));
        assert!(pool.kept_bytes() <= 3 << 20);
    }
}
