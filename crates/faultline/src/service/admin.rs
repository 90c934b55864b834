//! The admin HTTP endpoint: `/healthz`, `/readyz`, `/metrics`, `/api/v1/ingest/errors` and a page of links at `/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;

use super::ingest_errors::IngestErrors;
use super::metrics::{CHECKPOINT_AGE, Metrics, READY};

/// What the handlers read.
#[derive(Debug, Default)]
pub(crate) struct AdminState {
    /// The service's metrics.
    pub(crate) metrics: Metrics,
    /// Sources connected and state restored.
    pub(crate) ready: AtomicBool,
    /// When the last checkpoint was written (process-monotonic), for its age.
    pub(crate) last_checkpoint: std::sync::Mutex<Option<std::time::Instant>>,
    /// The last rejected records of every source.
    pub(crate) ingest_errors: IngestErrors,
    /// Incidents and their recent events, for the gRPC API.
    pub(crate) feed: super::api::Feed,
    /// The pipeline's latest window end (signal points, incidents), read-only, for the SQL tables.
    pub(crate) snapshots: std::sync::OnceLock<faultline_core::pipeline::SnapshotCell>,
    /// SQL over the live tables, when `[sql]` is on.
    pub(crate) sql: std::sync::OnceLock<Arc<faultline_sql::SqlEngine>>,
    /// The engine thread's end of the queue to the SQL tables' writer.
    pub(crate) sql_feed: std::sync::OnceLock<faultline_sql::SqlFeed>,
    /// The bearer token SQL clients present, when `[sql] token_env` names a set variable.
    pub(crate) sql_token: std::sync::OnceLock<String>,
    /// Where the engine thread posts the SQL tables `ingest_stats` and `late_events`.
    pub(crate) sql_board: std::sync::OnceLock<Arc<faultline_sql::StatusBoard>>,
}

impl AdminState {
    /// Marks the service ready (or not).
    pub(crate) fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        self.metrics.set(READY, &[], if ready { 1.0 } else { 0.0 });
    }
}

/// The paths served, for the page of links and the deploy manifests' tests.
pub(crate) const PATHS: &[(&str, &str)] = &[
    ("/healthz", "liveness"),
    ("/readyz", "readiness"),
    ("/metrics", "Prometheus metrics"),
    ("/api/v1/ingest/errors", "the last rejected records of every source"),
    ("/api/v1/incidents", "incidents, newest first (through SQL)"),
];

/// The router.
pub(crate) fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/sql", axum::routing::post(super::sql::query))
        .route("/api/v1/incidents", get(super::sql::incidents))
        .route(
            "/api/v1/ingest/errors",
            get(|State(s): State<Arc<AdminState>>| async move { Json(s.ingest_errors.reply()) }),
        )
        .with_state(state)
}

async fn index() -> Html<String> {
    let links: String = PATHS.iter().map(|(p, what)| format!("<li><a href=\"{p}\">{p}</a> {what}</li>")).collect();
    Html(format!("<!doctype html><title>Faultline</title><h1>Faultline</h1><ul>{links}</ul>\n"))
}

async fn readyz(State(s): State<Arc<AdminState>>) -> impl IntoResponse {
    if s.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: restoring state or connecting sources\n")
    }
}

async fn metrics(State(s): State<Arc<AdminState>>) -> impl IntoResponse {
    let age = s.last_checkpoint.lock().expect("checkpoint clock mutex poisoned").map(|t| t.elapsed().as_secs_f64());
    if let Some(age) = age {
        s.metrics.set(CHECKPOINT_AGE, &[], age);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s.metrics.render())
}

/// Binds `addr` and serves until `shutdown` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AdminState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
