//! `/healthz`, `/readyz` and `/metrics`, and the monitoring page (`/` and `/events`).

pub mod page;

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get,
};
use tokio::{net::TcpListener, sync::watch};

use crate::{cache::Readiness, metrics::Metrics};

/// What the endpoints report on.
#[derive(Clone)]
pub struct Health {
    pub metrics: Arc<Metrics>,
    /// True while this instance holds the lease.
    pub leader: watch::Receiver<bool>,
    /// Whether the caches have their first complete lists.
    pub caches: Readiness,
    /// The monitoring page, when it is on.
    pub page: Option<page::Page>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("binding the health/metrics address {addr} failed")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the health/metrics server failed")]
    Serve(#[source] std::io::Error),
}

pub fn router(health: Health) -> Router {
    let page = health.page.clone();
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health);
    match page {
        Some(page) => router.merge(page::router(page)),
        None => router,
    }
}

/// Ready when leading with synced caches, or when standing by for the lease.
async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    readiness(&health)
}

fn readiness(health: &Health) -> (StatusCode, &'static str) {
    if !*health.leader.borrow() {
        (StatusCode::OK, "standby")
    } else if health.caches.synced() {
        (StatusCode::OK, "ok")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "waiting for the first watch sync",
        )
    }
}

async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    let ready = readiness(&health).0.is_success();
    health
        .metrics
        .observe_health(ready, *health.leader.borrow());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.render(),
    )
}

/// Binds `addr` now, so a taken port fails at startup rather than later.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Serves the endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, router(health))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(Error::Serve)
}
