//! The Kafka listener: accepts connections (at most `max.connections` at once) and runs one
//! task per connection until shutdown.

pub mod buffers;
pub mod connection;
pub mod memory;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};

use crate::broker::Broker;

/// Accepts connections until `shutdown` is cancelled, then waits for them to end.
pub async fn run_listener(listener: TcpListener, broker: Arc<Broker>, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(
        broker.config.int("max.connections").max(1) as usize
    ));
    let tracker = TaskTracker::new();
    let next_id = AtomicU64::new(1);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&limit).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer): (_, SocketAddr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let conn_id = next_id.fetch_add(1, Ordering::Relaxed);
        let span = info_span!("conn", id = conn_id, %peer);
        let broker = Arc::clone(&broker);
        let shutdown = shutdown.child_token();
        tracker.spawn(
            async move {
                connection::serve(broker, stream, peer, shutdown).await;
                drop(permit);
            }
            .instrument(span),
        );
    }
    tracker.close();
    tracker.wait().await;
    info!("listener stopped");
}
