//! `POST /api/v1/sql` and `GET /api/v1/incidents` on the admin port, and the SQL tables' writer.
//!
//! The body is the SQL text or `{"sql": "..."}`; the answer is JSON rows, CSV, an Arrow IPC
//! stream or a terminal table by `Accept`. Rows past the limit are left out and said so in
//! `x-faultline-truncated`. An error is `{"error": "...", "kind": "..."}` with a 4xx or 5xx
//! status; the service goes on either way. Arrow Flight SQL serves the same engine on its own
//! port; with `[sql] token_env` set, both ask for the bearer token.

use std::sync::Arc;

use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faultline_sql::{Format, SqlEngine, SqlError, SqlFeed, SqlStore};

use super::admin::AdminState;
use super::metrics::{SQL_FEED_DROPPED, SQL_QUERIES, SQL_SIGNAL_ROWS};
use crate::config::PipelineSpec;

/// How often the SQL writer moves the rows in memory to the Parquet history.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// Starts the SQL tables when `[sql]` is on: the engine and the feed go into `admin`, and a
/// writer thread appends what the feed brings until the feed is dropped.
pub(crate) fn start(spec: &PipelineSpec, admin: &Arc<AdminState>) -> anyhow::Result<()> {
    let Some(sql) = &spec.sql else { return Ok(()) };
    let mut store =
        SqlStore::new(spec.decoder.dims.clone(), sql.retention).with_slos(faultline_sql::slos_of(&spec.detectors));
    // With a state directory, signals past the rows in memory go to Parquet files there.
    if let Some(dir) = &spec.state.directory {
        let history = dir.join("sql").join("signals");
        store = store
            .with_history(&history)
            .with_context(|| format!("opening the SQL history in {}", history.display()))?;
    }
    let engine = SqlEngine::new(&store, sql.limits);
    let _ = admin.sql_board.set(store.status_board());
    if let Some(token) = std::env::var(&sql.token_env).ok().filter(|t| !t.trim().is_empty()) {
        eprintln!("faultline: SQL clients present the bearer token in ${} (Flight SQL and /api/v1/sql)", sql.token_env);
        let _ = admin.sql_token.set(token.trim().to_string());
    }
    let (feed, rx) = SqlFeed::new(4096);
    let _ = admin.sql.set(Arc::new(engine));
    let _ = admin.sql_feed.set(feed);
    let metrics = admin.clone();
    std::thread::Builder::new().name("sql-writer".into()).spawn(move || {
        let (mut last, mut flushed) = (std::time::Instant::now(), std::time::Instant::now());
        loop {
            match rx.recv_timeout(std::time::Duration::from_millis(500)) {
                Ok(faultline_sql::SqlInput::Window(s)) => store.window(&s),
                Ok(faultline_sql::SqlInput::Events(e)) => store.events(&e),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            // Closed windows reach the Parquet history within five minutes (a crash loses at most those rows of the SQL tables; the pipeline's own state is in its checkpoint).
            if flushed.elapsed() >= FLUSH_EVERY {
                flushed = std::time::Instant::now();
                store.flush(0);
            }
            if last.elapsed() >= std::time::Duration::from_millis(500) {
                last = std::time::Instant::now();
                metrics.metrics.set(SQL_SIGNAL_ROWS, &[], store.signal_rows() as f64);
                if let Some(f) = metrics.sql_feed.get() {
                    metrics.metrics.set(SQL_FEED_DROPPED, &[], f.dropped() as f64);
                }
            }
        }
    })?;
    Ok(())
}

/// The SQL of a request body: the text itself, or the `sql` field of a JSON object.
fn sql_of(headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
    let json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.contains("json"))
        || text.trim_start().starts_with('{');
    if !json {
        return Ok(text.to_string());
    }
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("the body is not JSON: {e}"))?;
    match v.get("sql").and_then(|s| s.as_str()) {
        Some(s) => Ok(s.to_string()),
        None => Err(r#"a JSON body needs "sql": the query text"#.to_string()),
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": message, "kind": kind}).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn kind(e: &SqlError) -> (StatusCode, &'static str) {
    let status = match e {
        SqlError::Invalid(_) | SqlError::Plan(_) => StatusCode::BAD_REQUEST,
        SqlError::Memory { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        SqlError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        SqlError::Execution(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, e.kind())
}

/// The engine, when SQL is on and the request carries the token (when one is set); else the answer to send.
fn engine_for(s: &AdminState, headers: &HeaderMap) -> Result<Arc<SqlEngine>, Box<Response>> {
    let Some(engine) = s.sql.get() else {
        return Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "disabled",
            "SQL is off in this instance ([sql] enabled = false)",
        )));
    };
    if let Some(token) = s.sql_token.get() {
        let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !faultline_sql::token_matches(given, token) {
            s.metrics.add(SQL_QUERIES, &[("endpoint", "http"), ("result", "unauthenticated")], 1.0);
            let mut answer = error(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "this instance needs `Authorization: Bearer <token>` for SQL (the server's [sql] token_env)",
            );
            answer.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            return Err(Box::new(answer));
        }
    }
    Ok(engine.clone())
}

/// Serves Flight SQL on `[admin] flight_port` when SQL is on, until `shutdown` resolves.
pub(crate) async fn serve_flight(
    spec: &PipelineSpec,
    admin: &Arc<AdminState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(engine) = admin.sql.get() else { return Ok(None) };
    let addr = spec.admin.flight_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding Flight SQL on {addr} (set [admin] flight_port or FAULTLINE_FLIGHT_PORT)"))?;
    eprintln!("faultline: Arrow Flight SQL on grpc://{} (ADBC, JDBC, DBeaver)", listener.local_addr()?);
    let metrics = admin.clone();
    let service = faultline_sql::FlightSql::new(engine.clone()).with_token(admin.sql_token.get().cloned()).on_query(
        Arc::new(move |result| metrics.metrics.add(SQL_QUERIES, &[("endpoint", "flight"), ("result", result)], 1.0)),
    );
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = faultline_sql::serve_flight(listener, service, shutdown).await {
            tracing::error!(error = %e, "Flight SQL stopped");
        }
    })))
}

/// `POST /api/v1/sql`.
pub(crate) async fn query(State(s): State<Arc<AdminState>>, headers: HeaderMap, body: Bytes) -> Response {
    let engine = match engine_for(&s, &headers) {
        Ok(e) => e,
        Err(answer) => return *answer,
    };
    let sql = match sql_of(&headers, &body) {
        Ok(sql) if !sql.trim().is_empty() => sql,
        Ok(_) => return error(StatusCode::BAD_REQUEST, "invalid", "no SQL in the body"),
        Err(why) => return error(StatusCode::BAD_REQUEST, "invalid", &why),
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    match engine.query(&sql, Format::from_accept(accept)).await {
        Ok(a) => {
            s.metrics.add(SQL_QUERIES, &[("endpoint", "http"), ("result", "ok")], 1.0);
            let truncated = if a.truncated { "true" } else { "false" };
            let rows = a.rows.to_string();
            let headers = [
                (header::CONTENT_TYPE, a.content_type.to_string()),
                (header::HeaderName::from_static("x-faultline-rows"), rows),
                (header::HeaderName::from_static("x-faultline-truncated"), truncated.to_string()),
            ];
            (StatusCode::OK, headers, a.body).into_response()
        }
        Err(e) => {
            let (status, kind) = kind(&e);
            s.metrics.add(SQL_QUERIES, &[("endpoint", "http"), ("result", kind)], 1.0);
            error(status, kind, &e.to_string())
        }
    }
}

/// `GET /api/v1/incidents`: every incident's latest state, newest first (a query of `incidents`).
pub(crate) async fn incidents(State(s): State<Arc<AdminState>>, headers: HeaderMap) -> Response {
    let engine = match engine_for(&s, &headers) {
        Ok(e) => e,
        Err(answer) => return *answer,
    };
    let sql = "SELECT incident FROM incidents ORDER BY detected_at DESC, id";
    match engine.query(sql, Format::Json).await {
        Ok(a) => {
            let rows: Vec<serde_json::Value> = serde_json::from_slice(&a.body).unwrap_or_default();
            let incidents: Vec<serde_json::Value> = rows
                .iter()
                .filter_map(|r| r.get("incident")?.as_str().and_then(|t| serde_json::from_str(t).ok()))
                .collect();
            let body = serde_json::json!({ "incidents": incidents }).to_string();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => {
            let (status, kind) = kind(&e);
            error(status, kind, &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sql_comes_as_text_or_in_a_json_object() {
        let none = HeaderMap::new();
        assert_eq!(sql_of(&none, b"SELECT 1"), Ok("SELECT 1".into()));
        assert_eq!(sql_of(&none, br#" {"sql": "SELECT 2"}"#), Ok("SELECT 2".into()));
        let mut json = HeaderMap::new();
        json.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        assert!(sql_of(&json, b"SELECT 1").unwrap_err().contains("not JSON"));
        assert!(sql_of(&json, br#"{"query": "x"}"#).unwrap_err().contains(r#"needs "sql""#));
        assert!(sql_of(&none, &[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }
}
