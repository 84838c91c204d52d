//! The HTTP server: `/health` for probes and `/metrics` in the Prometheus text format.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;

/// Serves HTTP on `listener` until `shutdown`.
pub async fn serve(listener: TcpListener, broker: Arc<Broker>, shutdown: CancellationToken) {
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(broker);
    let _ = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await;
}

async fn health(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    let offline = b.replicas.all().iter().filter(|p| p.is_offline()).count();
    if offline == 0 {
        (axum::http::StatusCode::OK, "ok\n".to_string())
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("{offline} partitions offline\n"),
        )
    }
}

async fn metrics(State(b): State<Arc<Broker>>) -> impl IntoResponse {
    let body = b
        .metrics
        .render(b.replicas.all().len(), b.memory.available(), &b.buffers);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// Binds the HTTP listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
