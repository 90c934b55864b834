//! A local PagerDuty for tests: checks every request strictly against the Events API v2 docs,
//! and can be told to fail (down, 429 with `Retry-After`, 500s, an unknown routing key).
//!
//! Behind the `fake` feature: test code only, never in the shipped binary.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// A fault the fake answers the next request with, instead of taking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 Internal Server Error.
    ServerError,
    /// 429 with `Retry-After: N` seconds.
    TooMany(u64),
}

/// What the fake saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Accepted events, in order.
    pub accepted: Vec<Value>,
    /// Refused requests with PagerDuty's error message.
    pub invalid: Vec<(String, String)>,
    /// Requests answered with a fault.
    pub faulted: u64,
    /// Faults still to answer with.
    pub faults: VecDeque<Fault>,
    /// A delay before every answer (a slow receiver).
    pub delay: Option<std::time::Duration>,
    /// When each accepted event arrived.
    pub arrived: Vec<std::time::Instant>,
}

/// A running fake PagerDuty.
#[derive(Debug, Clone)]
pub struct FakePagerDuty {
    /// Where it listens (`http://{addr}/v2/enqueue`).
    pub addr: SocketAddr,
    /// What it saw.
    pub seen: Arc<Mutex<Seen>>,
    keys: Arc<BTreeSet<String>>,
}

impl FakePagerDuty {
    /// Serves on `addr` (port 0: any) on the current tokio runtime, taking `keys` as routing keys.
    pub async fn start(
        addr: SocketAddr,
        keys: &[&str],
        seen: Arc<Mutex<Seen>>,
    ) -> std::io::Result<(FakePagerDuty, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let fake = FakePagerDuty { addr, seen, keys: Arc::new(keys.iter().map(|k| k.to_string()).collect()) };
        let app = Router::new().route("/v2/enqueue", post(enqueue)).with_state(fake.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((fake, task))
    }

    /// The enqueue URL.
    pub fn url(&self) -> String {
        format!("http://{}/v2/enqueue", self.addr)
    }

    /// The accepted (dedup_key, event_action) pairs, in order.
    pub fn actions(&self) -> Vec<(String, String)> {
        let seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.accepted
            .iter()
            .map(|v| {
                (
                    v["dedup_key"].as_str().unwrap_or("").to_string(),
                    v["event_action"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}

const TOP: &[&str] =
    &["routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"];
const PAYLOAD: &[&str] =
    &["summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"];

fn invalid(message: &str, errors: &[String]) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"status": "invalid event", "message": message, "errors": errors})))
        .into_response()
}

/// Checks one event as the Events API v2 docs state it; the errors found.
pub fn check(v: &Value, keys: &BTreeSet<String>) -> Vec<String> {
    let mut errs = Vec::new();
    let Some(obj) = v.as_object() else { return vec!["the event is not a JSON object".into()] };
    for k in obj.keys() {
        if !TOP.contains(&k.as_str()) {
            errs.push(format!("unknown field `{k}`"));
        }
    }
    match obj.get("routing_key").and_then(Value::as_str) {
        None => errs.push("'routing_key' is missing or not a string".into()),
        Some(k) if k.len() != 32 => errs.push("'routing_key' must be 32 characters".into()),
        Some(k) if !keys.contains(k) => errs.push("Invalid routing key".into()),
        Some(_) => {}
    }
    let action = obj.get("event_action").and_then(Value::as_str);
    if !matches!(action, Some("trigger" | "acknowledge" | "resolve")) {
        errs.push("'event_action' must be one of trigger, acknowledge, resolve".into());
    }
    match obj.get("dedup_key") {
        None if action != Some("trigger") => errs.push("'dedup_key' is required for acknowledge and resolve".into()),
        None => {}
        Some(Value::String(d)) if d.is_empty() || d.len() > 255 => {
            errs.push("'dedup_key' must be 1 to 255 characters".into())
        }
        Some(Value::String(_)) => {}
        Some(_) => errs.push("'dedup_key' must be a string".into()),
    }
    for k in ["client", "client_url"] {
        if obj.get(k).is_some_and(|c| !c.is_string()) {
            errs.push(format!("'{k}' must be a string"));
        }
    }
    if let Some(links) = obj.get("links") {
        let ok = links.as_array().is_some_and(|ls| {
            ls.iter().all(|l| l.get("href").is_some_and(Value::is_string) && l.get("text").is_none_or(Value::is_string))
        });
        if !ok {
            errs.push("'links' must be an array of {href, text}".into());
        }
    }
    match (action, obj.get("payload")) {
        (Some("trigger"), None) => errs.push("'payload' is required for trigger".into()),
        (_, Some(p)) => {
            let Some(p) = p.as_object() else {
                errs.push("'payload' must be an object".into());
                return errs;
            };
            for k in p.keys() {
                if !PAYLOAD.contains(&k.as_str()) {
                    errs.push(format!("unknown field `payload.{k}`"));
                }
            }
            match p.get("summary").and_then(Value::as_str) {
                Some(s) if !s.is_empty() && s.chars().count() <= 1024 => {}
                _ => errs.push("'payload.summary' must be 1 to 1024 characters".into()),
            }
            if p.get("source").and_then(Value::as_str).is_none_or(str::is_empty) {
                errs.push("'payload.source' is required".into());
            }
            if !matches!(p.get("severity").and_then(Value::as_str), Some("critical" | "error" | "warning" | "info")) {
                errs.push("'payload.severity' must be one of critical, error, warning, info".into());
            }
            if let Some(t) = p.get("timestamp")
                && t.as_str().is_none_or(|t| faultline_core::Millis::parse_rfc3339(t).is_none())
            {
                errs.push("'payload.timestamp' must be an ISO 8601 time".into());
            }
            for k in ["component", "group", "class"] {
                if p.get(k).is_some_and(|c| !c.is_string()) {
                    errs.push(format!("'payload.{k}' must be a string"));
                }
            }
        }
        _ => {}
    }
    errs
}

async fn enqueue(State(fake): State<FakePagerDuty>, headers: HeaderMap, body: Bytes) -> Response {
    let delay = fake.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    {
        let mut seen = fake.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(f) = seen.faults.pop_front() {
            seen.faulted += 1;
            return match f {
                Fault::ServerError => (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
                Fault::TooMany(s) => {
                    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, s.to_string())], "rate limited")
                        .into_response()
                }
            };
        }
    }
    let refuse = |message: &str, errors: Vec<String>| {
        let mut seen = fake.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.invalid.push((message.to_string(), errors.join("; ")));
        invalid(message, &errors)
    };
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim() == "application/json"));
    if !json_type {
        return refuse("Content-Type must be application/json", vec![]);
    }
    if body.len() >= 512 * 1024 {
        return refuse("Event object is too large", vec![format!("{} bytes", body.len())]);
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return refuse("Event object is invalid", vec![format!("not JSON: {e}")]),
    };
    let errs = check(&v, &fake.keys);
    if !errs.is_empty() {
        return refuse("Event object is invalid", errs);
    }
    let dedup = v["dedup_key"].clone();
    {
        let mut seen = fake.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.accepted.push(v);
        seen.arrived.push(std::time::Instant::now());
    }
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "success", "message": "Event processed", "dedup_key": dedup})))
        .into_response()
}
