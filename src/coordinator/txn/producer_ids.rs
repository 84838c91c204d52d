//! Producer ids, handed out from blocks the controller allocates (Kafka's AllocateProducerIds):
//! a block is committed to the metadata log before any id from it is used, so no id is ever
//! given twice, across restarts too. Ids a node had not used when it stopped are skipped.

use std::ops::Range;

use kafka_protocol::error::ResponseError as E;
use parking_lot::Mutex;
use tracing::{info, warn};

use crate::controller::Controller;

/// Ids per block, as in Kafka.
pub const BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Default)]
pub struct ProducerIdManager {
    block: Mutex<Range<i64>>,
    /// One block request at a time.
    refill: tokio::sync::Mutex<()>,
}

impl ProducerIdManager {
    pub fn new() -> ProducerIdManager {
        ProducerIdManager::default()
    }

    /// The next unused producer id.
    pub async fn next(&self, controller: &Controller, node_id: i32) -> Result<i64, E> {
        loop {
            {
                let mut b = self.block.lock();
                if b.start < b.end {
                    let id = b.start;
                    b.start += 1;
                    return Ok(id);
                }
            }
            let _one = self.refill.lock().await;
            if !self.block.lock().is_empty() {
                continue;
            }
            match controller.allocate_producer_ids(node_id, BLOCK_SIZE).await {
                Ok(r) => {
                    info!(start = r.start, end = r.end, "producer id block allocated");
                    *self.block.lock() = r;
                }
                Err(e) => {
                    warn!(error = %e, "producer id block allocation failed");
                    return Err(E::CoordinatorLoadInProgress);
                }
            }
        }
    }
}
