//! The node-wide memory budget for requests (Kafka's `queued.max.request.bytes` memory pool,
//! Redpanda's request units). A connection reserves a request's frame size before reading its
//! body and holds the reservation until the response is written; when the budget is spent,
//! connections stop reading and TCP backpressure reaches the clients. Decoded structures are
//! charged on top (see `pilgrimage_protocol::shape::ELEMENT_BYTES`).

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone)]
pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    total: usize,
}

/// Bytes held until dropped.
#[derive(Debug)]
pub struct Reservation {
    _permits: Vec<OwnedSemaphorePermit>,
}

impl MemoryBudget {
    pub fn new(total: usize) -> MemoryBudget {
        let total = total.clamp(1 << 20, u32::MAX as usize);
        MemoryBudget {
            sem: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Waits until `bytes` (capped at the whole budget, so one huge request cannot wait forever)
    /// are free, and takes them.
    pub async fn reserve(&self, bytes: usize) -> Reservation {
        let n = bytes.clamp(1, self.total) as u32;
        match Arc::clone(&self.sem).acquire_many_owned(n).await {
            Ok(p) => Reservation { _permits: vec![p] },
            // The semaphore is never closed; if it were, run unbudgeted rather than stall.
            Err(_) => Reservation {
                _permits: Vec::new(),
            },
        }
    }

    /// Takes `bytes` more for a reservation if they are free now; false if not.
    pub fn try_grow(&self, r: &mut Reservation, bytes: usize) -> bool {
        if bytes == 0 {
            return true;
        }
        let n = bytes.min(self.total) as u32;
        match Arc::clone(&self.sem).try_acquire_many_owned(n) {
            Ok(p) => {
                r._permits.push(p);
                true
            }
            Err(_) => false,
        }
    }

    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    pub fn total(&self) -> usize {
        self.total
    }
}
