//! Pilgrimage: a message broker that speaks the Apache Kafka wire protocol.
//!
//! ```text
//!  Kafka clients ──TCP──▶ server (frames, memory budget, ordered responses)
//!                              │
//!                              ▼
//!                         handlers (one module per API key; one table for dispatch + ApiVersions)
//!            ┌─────────────────┼──────────────────────────┐
//!            ▼                 ▼                          ▼
//!   partition (log, HW,    controller (metadata log    config (Kafka names,
//!   group commit, fetch     __cluster_metadata-0 →      broker + topic configs)
//!   waiters)                image; topic decisions)
//!            │
//!            ▼
//!   pilgrimage-storage: segmented log per partition, batches stored verbatim
//!  HTTP (axum): /health, /metrics
//! ```
//!
//! Embedding a node in tests of another project:
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let node = pilgrimage::Node::start_ephemeral().await?;
//! let bootstrap = node.bootstrap_servers(); // "127.0.0.1:<port>"
//! // ... point any Kafka client at `bootstrap` ...
//! node.shutdown().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod broker;
pub mod config;
pub mod controller;
pub mod coordinator;
pub mod handlers;
pub mod http;
pub mod metrics;
pub mod node;
pub mod partition;
pub mod server;

pub use config::NodeConfig;
pub use node::{Node, NodeBuilder, NodeError};

/// Milliseconds since the Unix epoch: Kafka's timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
