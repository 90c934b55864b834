//! Incident events to deliver, an outbox in a temporary directory, a worker on the test's runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_sinks::{Action, NewEntry, Outbox, Receiver, RetryPolicy, Route, SharedOutbox, SinkStats, Worker};

/// An incident event as DESIGN.md's JSON.
pub(crate) fn event(key: &str, service: &str, action: Action, severity: &str) -> NewEntry {
    let resolved = action == Action::Resolved;
    let json = serde_json::json!({
        "action": action.as_str(),
        "incident": {
            "id": format!("inc-{key}"),
            "dedup_key": key,
            "service": service,
            "services": [service],
            "severity": severity,
            "title": format!("{service}: 42 % of POST /charge failing — upstream provider down?"),
            "status": if resolved { "resolved" } else { "open" },
            "onset_at": "2026-12-07T01:00:00.000Z",
            "detected_at": "2026-12-07T01:00:10.000Z",
            "resolved_at": if resolved { serde_json::json!("2026-12-07T01:20:00.000Z") } else { serde_json::Value::Null },
            "signals": [{"name": "error_rate", "value": 0.42, "baseline": 0.004, "threshold": 0.01, "detector": "baseline"}],
            "scope": {"share_of_requests": 0.42, "dimensions": [{"key": "operation", "value": "POST /charge", "share": 0.9}]},
            "probable_causes": [{"cause": "upstream_provider_down", "confidence": 0.8, "evidence": "502s from the provider"}],
            "runbook": ["Check the provider's status page", "Fail over to the secondary provider"],
            "timeline": [{"at": "2026-12-07T01:00:00.000Z", "kind": "onset", "detail": "error_rate rose"}],
        }
    });
    NewEntry { dedup_key: key.to_string(), action, json: json.to_string() }
}

/// A started worker and what it shares.
pub(crate) struct Running {
    pub(crate) shared: SharedOutbox,
    pub(crate) stats: Arc<SinkStats>,
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Appends `events` and wakes the worker.
    pub(crate) fn append(&self, events: &[NewEntry]) {
        self.shared.lock().append(events).unwrap();
        self.shared.appended.notify_waiters();
    }

    /// Stops the worker (it finishes the attempt under way).
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A worker named `name` delivering the outbox in `dir` to `receiver`, quick retries.
pub(crate) fn start(dir: &std::path::Path, name: &str, receiver: Box<dyn Receiver>) -> Running {
    start_with(dir, name, receiver, None)
}

/// [`start`] with a rate limit of `per_minute` attempts.
pub(crate) fn start_with(
    dir: &std::path::Path,
    name: &str,
    receiver: Box<dyn Receiver>,
    per_minute: Option<u32>,
) -> Running {
    let outbox = Outbox::open(&dir.join("outbox"), &[name.to_string()], 1 << 20, 64 << 20).unwrap();
    let shared = SharedOutbox::new(outbox);
    let stats = Arc::new(SinkStats::default());
    let worker = Worker {
        name: name.to_string(),
        receiver,
        route: Route::default(),
        retry: RetryPolicy { base: Duration::from_millis(20), max: Duration::from_millis(300) },
        dead_letters: dir.join(format!("{name}.dead.jsonl")),
        stats: stats.clone(),
        per_minute,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(shared.clone(), stopped));
    Running { shared, stats, stop, task }
}

/// Polls `cond` until it holds or `limit` passes; whether it held.
pub(crate) async fn until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}
