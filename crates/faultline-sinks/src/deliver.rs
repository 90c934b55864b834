//! A sink's worker: takes its events from the outbox in order, delivers each with retries, moves its cursor.
//!
//! One worker per sink, so a failing receiver holds back only itself. An
//! attempt ends in one of three ways ([`Attempt`]): delivered (the cursor
//! moves on), retry (exponential backoff with full jitter, from
//! [`RetryPolicy::base`] to [`RetryPolicy::max`], or the receiver's own
//! `Retry-After` when it gives one; retried without end, since dropping a
//! page is worse than paging late), or rejected (the receiver will never take
//! it, say PagerDuty's 400: the event goes to the sink's dead-letter file with
//! the receiver's message, and the worker moves on).

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_core::incident::wire::IncidentEventJson;
use rand::Rng as _;

use crate::outbox::{Entry, Outbox};

/// A boxed future, as receivers return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How one delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver took it (or the sink has nothing to send for it).
    Delivered,
    /// Try again later: after `after` when the receiver said so.
    Retry {
        /// The receiver's `Retry-After`.
        after: Option<Duration>,
        /// Why, for the log.
        why: String,
    },
    /// The receiver will never take it: dead-lettered with `why`.
    Rejected {
        /// The receiver's message.
        why: String,
    },
}

/// A receiver of incident events: PagerDuty, Slack, a webhook, Alertmanager.
pub trait Receiver: Send {
    /// One attempt to deliver `event` (outbox entry `entry`).
    fn deliver<'a>(&'a mut self, entry: &'a Entry, event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt>;
}

/// Backoff between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base: Duration::from_millis(500), max: Duration::from_secs(300) }
    }
}

impl RetryPolicy {
    /// The delay before retry number `n` (0-based): a random share of `base · 2ⁿ`, at most `max`;
    /// a receiver's own delay when it gave one (bounded by `max` too).
    pub fn delay(&self, n: u32, after: Option<Duration>) -> Duration {
        if let Some(a) = after {
            return a.min(self.max);
        }
        let cap = self.base.saturating_mul(1u32 << n.min(20)).min(self.max);
        let ms = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
        Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms))
    }
}

/// Which incidents a sink takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Route {
    /// Only these services (empty: all).
    pub services: Vec<String>,
    /// Only these severities, `P0`…`P3` (empty: all).
    pub severities: Vec<String>,
}

impl Route {
    /// Whether the sink takes `event`.
    pub fn takes(&self, event: &IncidentEventJson) -> bool {
        let i = &event.incident;
        (self.services.is_empty() || self.services.iter().any(|s| *s == i.service || i.services.contains(s)))
            && (self.severities.is_empty() || self.severities.contains(&i.severity))
    }
}

/// A sink's counters, for `/metrics`.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// Events delivered.
    pub delivered: AtomicU64,
    /// Attempts that will be retried.
    pub retries: AtomicU64,
    /// Events the receiver rejected for good (dead-lettered).
    pub rejected: AtomicU64,
    /// Events the route left out.
    pub skipped: AtomicU64,
    /// Events waiting for this sink.
    pub pending: AtomicU64,
    /// Milliseconds from an event's append to its delivery, the latest.
    pub last_latency_ms: AtomicU64,
    /// The latest failure, for a person.
    pub last_error: Mutex<Option<String>>,
}

/// The outbox as workers share it, with a wake-up for new events.
#[derive(Debug, Clone)]
pub struct SharedOutbox {
    /// The outbox.
    pub outbox: Arc<Mutex<Outbox>>,
    /// Notified after each append.
    pub appended: Arc<tokio::sync::Notify>,
}

impl SharedOutbox {
    /// Shares `outbox`.
    pub fn new(outbox: Outbox) -> SharedOutbox {
        SharedOutbox { outbox: Arc::new(Mutex::new(outbox)), appended: Arc::new(tokio::sync::Notify::new()) }
    }

    /// Locks the outbox (a poisoned lock is still the outbox: its state is on disk).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One sink's delivery loop.
pub struct Worker {
    /// The sink's name (its outbox cursor).
    pub name: String,
    /// Where it sends.
    pub receiver: Box<dyn Receiver>,
    /// What it takes.
    pub route: Route,
    /// Backoff.
    pub retry: RetryPolicy,
    /// The dead-letter file (JSON lines: the event, the receiver's message).
    pub dead_letters: PathBuf,
    /// Counters.
    pub stats: Arc<SinkStats>,
    /// Attempts a minute at most (a receiver's documented limit: Slack's webhooks take about one a
    /// second); `None`: no limit beyond the receiver's own.
    pub per_minute: Option<u32>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("name", &self.name).field("route", &self.route).finish_non_exhaustive()
    }
}

impl Worker {
    /// Delivers until `stop` turns true (an attempt under way is finished first).
    pub async fn run(mut self, shared: SharedOutbox, mut stop: tokio::sync::watch::Receiver<bool>) {
        // When the rate limit lets the next attempt go.
        let mut next_slot = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            let next = {
                let o = shared.lock();
                if let Some(s) = o.state(&self.name) {
                    self.stats.pending.store(s.pending, Ordering::Relaxed);
                }
                o.next_for(&self.name)
            };
            let Some(entry) = next else {
                // Woken by an append; the timeout only re-checks the stop flag and counters.
                tokio::select! {
                    () = shared.appended.notified() => {}
                    _ = stop.changed() => {}
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            };
            if !self.deliver(&entry, &mut stop, &mut next_slot).await {
                return;
            }
            let acked = shared.lock().ack(&self.name, entry.seq);
            if let Err(e) = acked {
                // The event was delivered; only the cursor is not on disk: a restart repeats it.
                tracing::error!(sink = %self.name, error = %e, "writing the outbox cursor failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Delivers one entry to the end (delivered, rejected or skipped): `false` when stopped first.
    async fn deliver(
        &mut self,
        entry: &Entry,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        next_slot: &mut tokio::time::Instant,
    ) -> bool {
        let event: IncidentEventJson = match serde_json::from_str(&entry.json) {
            Ok(e) => e,
            Err(e) => {
                self.dead_letter(entry, &format!("not an incident event: {e}"));
                return true;
            }
        };
        if !self.route.takes(&event) {
            self.stats.skipped.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let mut n = 0;
        let spacing = self.per_minute.map(|r| Duration::from_secs(60) / r.max(1));
        loop {
            if let Some(gap) = spacing {
                tokio::time::sleep_until(*next_slot).await;
                *next_slot = tokio::time::Instant::now() + gap;
            }
            match self.receiver.deliver(entry, &event).await {
                Attempt::Delivered => {
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Attempt::Rejected { why } => {
                    tracing::error!(sink = %self.name, dedup_key = %entry.dedup_key, action = entry.action.as_str(), %why,
                        "the receiver rejected an incident event: dead-lettered");
                    self.dead_letter(entry, &why);
                    return true;
                }
                Attempt::Retry { after, why } => {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = self.retry.delay(n, after);
                    tracing::warn!(sink = %self.name, dedup_key = %entry.dedup_key, attempt = n + 1, ?wait, %why, "delivery failed: retrying");
                    *self.stats.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
                    n = n.saturating_add(1);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        _ = stop.changed() => {}
                    }
                    if *stop.borrow() {
                        return false;
                    }
                }
            }
        }
    }

    fn dead_letter(&self, entry: &Entry, why: &str) {
        self.stats.rejected.fetch_add(1, Ordering::Relaxed);
        *self.stats.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why.to_string());
        let line = serde_json::json!({
            "sink": self.name,
            "seq": entry.seq,
            "dedup_key": entry.dedup_key,
            "action": entry.action.as_str(),
            "error": why,
            "event": serde_json::from_str::<serde_json::Value>(&entry.json).unwrap_or(serde_json::Value::Null),
        });
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.dead_letters)
            .and_then(|mut f| writeln!(f, "{line}").and_then(|()| f.sync_data()));
        if let Err(e) = written {
            tracing::error!(sink = %self.name, file = %self.dead_letters.display(), error = %e, "writing a dead letter failed");
        }
    }
}

/// A `Retry-After` header's delay: seconds, or an HTTP date (then from now).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate(v)?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn httpdate(v: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = v.split_whitespace().collect();
    let [_, day, mon, year, hms, "GMT"] = parts.as_slice() else { return None };
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let m = months.iter().position(|x| x == mon)? as u32 + 1;
    let t: Vec<u32> = hms.split(':').map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [h, mi, s] = t.as_slice() else { return None };
    let text = format!("{year}-{m:02}-{:02}T{h:02}:{mi:02}:{s:02}Z", day.parse::<u32>().ok()?);
    let ms = faultline_core::Millis::parse_rfc3339(&text)?;
    Some(std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms.0).ok()?))
}

/// How an HTTP answer ends an attempt, for receivers whose contract is: 2xx taken, 429 and
/// 5xx (and 408) later, any other 4xx never. `body` is the answer's text for the message.
pub fn classify(status: reqwest::StatusCode, headers: &reqwest::header::HeaderMap, body: &str) -> Attempt {
    let text: String = body.chars().take(500).collect();
    if status.is_success() {
        Attempt::Delivered
    } else if status == reqwest::StatusCode::TOO_MANY_REQUESTS
        || status == reqwest::StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        Attempt::Retry { after: retry_after(headers), why: format!("{status}: {text}") }
    } else {
        Attempt::Rejected { why: format!("{status}: {text}") }
    }
}

/// A transport failure (refused, reset, timed out): always worth a retry.
pub fn transport_failure(e: &reqwest::Error) -> Attempt {
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why.push_str(": ");
        why.push_str(&s.to_string());
        source = s.source();
    }
    Attempt::Retry { after: None, why }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_max_and_honours_the_receivers_delay() {
        let p = RetryPolicy { base: Duration::from_millis(100), max: Duration::from_secs(2) };
        for n in 0..8 {
            let d = p.delay(n, None);
            let cap = Duration::from_millis(100 * (1 << n)).min(Duration::from_secs(2));
            assert!(d <= cap && d >= cap / 2, "retry {n}: {d:?} outside [{:?}, {cap:?}]", cap / 2);
        }
        assert_eq!(p.delay(0, Some(Duration::from_secs(1))), Duration::from_secs(1));
        assert_eq!(p.delay(0, Some(Duration::from_secs(60))), Duration::from_secs(2), "bounded by max");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(reqwest::header::RETRY_AFTER, "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::ZERO), "a date past is now");
        h.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn answers_classify_as_the_receivers_contract_says() {
        let h = reqwest::header::HeaderMap::new();
        assert_eq!(classify(reqwest::StatusCode::ACCEPTED, &h, ""), Attempt::Delivered);
        assert!(matches!(classify(reqwest::StatusCode::TOO_MANY_REQUESTS, &h, ""), Attempt::Retry { .. }));
        assert!(matches!(classify(reqwest::StatusCode::BAD_GATEWAY, &h, ""), Attempt::Retry { .. }));
        assert_eq!(
            classify(reqwest::StatusCode::BAD_REQUEST, &h, "{\"message\":\"Event object is invalid\"}"),
            Attempt::Rejected { why: "400 Bad Request: {\"message\":\"Event object is invalid\"}".into() }
        );
    }
}
