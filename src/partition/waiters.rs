//! Fetch waiters (Kafka's DelayedFetch purgatory, reduced to what a single log needs).
//!
//! A long-polling fetch registers one `Notify` with every partition it reads; an append wakes
//! all registered waiters of its partition, which then re-read. Weak references let a fetch
//! that timed out vanish without unregistering; dead entries are dropped on the next wake or
//! when the list grows. The list is bounded: past the bound a fetch is told to answer now
//! rather than wait, which costs an early response, never memory.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

/// Most waiters one partition holds.
pub const WAITERS_MAX: usize = 4096;

#[derive(Debug, Default)]
pub struct Waiters {
    list: Mutex<Vec<Weak<Notify>>>,
}

impl Waiters {
    /// Adds a waiter; false when the partition already has [`WAITERS_MAX`] live ones.
    pub fn register(&self, w: &Arc<Notify>) -> bool {
        let mut list = self.list.lock();
        if list.len() >= WAITERS_MAX / 2 {
            list.retain(|w| w.strong_count() > 0);
        }
        if list.len() >= WAITERS_MAX {
            return false;
        }
        list.push(Arc::downgrade(w));
        true
    }

    /// Wakes and forgets every waiter.
    pub fn wake_all(&self) {
        let taken = {
            let mut list = self.list.lock();
            if list.is_empty() {
                return;
            }
            std::mem::take(&mut *list)
        };
        for w in taken {
            if let Some(n) = w.upgrade() {
                n.notify_one();
            }
        }
    }
}
