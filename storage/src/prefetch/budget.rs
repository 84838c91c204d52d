//! The read-ahead memory budget: reservations of buffers, shared with the aligned pool's kept
//! buffers, and making room by dropping idle buffers when it is used up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use super::{Chunk, DEFAULT_MEMORY_BYTES, Prefetcher, ceil, live_logs, lock};

static MEMORY_MAX: AtomicUsize = AtomicUsize::new(DEFAULT_MEMORY_BYTES);
static MEMORY_USED: AtomicUsize = AtomicUsize::new(0);

/// Sets the memory all buffers may hold together.
pub(super) fn set_max(bytes: usize) {
    MEMORY_MAX.store(bytes, Ordering::Relaxed);
}

/// Memory buffers hold now.
pub(super) fn used() -> usize {
    MEMORY_USED.load(Ordering::Relaxed)
}

/// How long a buffer, and the one before it in its file, must have gone unused to be dropped
/// for another's room. A consumer of 2 MB/s fetching 1 MiB at a time comes back within it.
pub(super) const EVICT_IDLE: Duration = Duration::from_millis(500);

/// Drops buffers no fetch used for `idle` (nor the one before each in its file: a buffer read
/// ahead waits for its consumer to get through that one), across every log and least
/// recently used first, until `need` bytes of the budget are unreserved; whether they are.
/// Buffers still being read stay. A dropped buffer's memory returns once no response still
/// holds a slice of it. Nothing is dropped when all the idle ones would not make the room.
///
/// A scan visits every log's buffers (10,000 partitions are 10,000 locks), and with the budget
/// held by buffers in use every cold fetch would scan for nothing: after a scan that finds too
/// little, none runs before the first moment one of the buffers it saw could be idle (buffers
/// added later are idle later still), and one scan runs at a time.
pub(super) fn evict_idle(need: usize, idle: Duration) -> bool {
    /// No scan before this; held by the scan under way, so that one runs at a time.
    static NEXT_SCAN: Mutex<Option<Instant>> = Mutex::new(None);
    let now = Instant::now();
    if need > MEMORY_MAX.load(Ordering::Relaxed) {
        return false;
    }
    let mut next_scan = match NEXT_SCAN.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => return false, // another scan is under way
    };
    if next_scan.is_some_and(|t| now < t) {
        return false;
    }
    let logs = live_logs();
    let mut idle_chunks: Vec<(Instant, &Arc<Prefetcher>, Arc<Chunk>)> = Vec::new();
    // When the next scan could find more: the first moment a buffer in use now turns idle.
    let mut next = now + idle;
    for p in &logs {
        let (found, at) = idle_in(&lock(&p.chunks), now, idle);
        next = next.min(at);
        idle_chunks.extend(found.into_iter().map(|(active, c)| (active, p, c)));
    }
    let idle_bytes: usize = idle_chunks
        .iter()
        .map(|(_, _, c)| budget_bytes(c.end - c.start))
        .sum();
    if unreserved() + idle_bytes < need {
        *next_scan = Some(next);
        return false;
    }
    idle_chunks.sort_by_key(|(active, _, _)| *active);
    for (_, p, c) in idle_chunks {
        if unreserved() >= need {
            break;
        }
        lock(&p.chunks).retain(|k| !Arc::ptr_eq(k, &c));
        drop(c);
    }
    unreserved() >= need
}

/// What a buffer of `len` bytes takes from the budget: the memory of its aligned buffer.
pub(super) fn budget_bytes(len: u64) -> usize {
    crate::aligned::size_for(ceil(len) as usize)
}

/// One log's buffers that have gone unused for `idle` at `now` (with when they were last
/// active: used, or the buffer before them in their file used), and the first moment another
/// could be. A buffer still being read is not idle.
pub(super) fn idle_in(
    chunks: &VecDeque<Arc<Chunk>>,
    now: Instant,
    idle: Duration,
) -> (Vec<(Instant, Arc<Chunk>)>, Instant) {
    let mut found = Vec::new();
    let mut next = now + idle;
    for c in chunks {
        let active = chunks
            .iter()
            .filter(|b| {
                std::ptr::eq(b.file.as_ptr(), c.file.as_ptr())
                    && b.start < c.start
                    && c.start <= b.end
            })
            .map(|b| b.used())
            .fold(c.used(), Instant::max);
        let idle_at = active + idle;
        if idle_at > now {
            next = next.min(idle_at);
        } else if c.pending() {
            next = next.min(now + idle / 4);
        } else {
            found.push((active, Arc::clone(c)));
        }
    }
    (found, next)
}

/// Budget not reserved by read-ahead buffers: what the aligned pool may keep in all.
pub(crate) fn unreserved() -> usize {
    MEMORY_MAX
        .load(Ordering::Relaxed)
        .saturating_sub(MEMORY_USED.load(Ordering::Relaxed))
}

/// Memory taken from the budget, given back when dropped.
#[derive(Debug)]
pub(super) struct Reservation(usize);

impl Reservation {
    pub(super) fn take(n: usize) -> Option<Reservation> {
        let max = MEMORY_MAX.load(Ordering::Relaxed);
        let before = MEMORY_USED
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + n <= max).then_some(used + n)
            })
            .ok()?;
        // Unused buffers the aligned pool keeps share the budget: free them for this read.
        crate::aligned::make_room(n, before, max);
        Some(Reservation(n))
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        MEMORY_USED.fetch_sub(self.0, Ordering::AcqRel);
    }
}
