//! Sinks behind the outbox in the service: the outbox under the state directory, a worker per sink on the async runtime.
//!
//! Every delivery sink (PagerDuty, Slack, webhook, Alertmanager) and, with a
//! state directory, the stdout and file sinks of incident events: one path
//! for every incident event.
//!
//! The sink thread appends every incident event to the outbox (one fsync per
//! batch) before the checkpoint that follows it, so a checkpoint never passes
//! an event that is not durably queued for delivery; the workers deliver on
//! their own, so a slow or failing receiver never holds back ingest. At
//! shutdown the workers get a grace period to drain; what is left is sent
//! after the restart.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context as _;
use faultline_core::incident::IncidentEvent;
use faultline_sinks::alertmanager::Alertmanager;
use faultline_sinks::kafka::KafkaSink;
use faultline_sinks::lines::{FileLines, StdoutLines};
use faultline_sinks::pagerduty::{PagerDuty, PagerDutyConfig, RoutingKey};
use faultline_sinks::slack::Slack;
use faultline_sinks::webhook::Webhook;
use faultline_sinks::{Action, NewEntry, Outbox, Receiver, RetryPolicy, Route, SharedOutbox, SinkStats, Worker};

use super::admin::AdminState;
use super::metrics::{DELIVERY_EVENTS, DELIVERY_PENDING, DELIVERY_RETRIES, OUTBOX_BYTES, OUTBOX_COALESCED};
use crate::config::sinks::DeliverySpec;
use crate::config::{PipelineSpec, SinkKind};

/// Bytes of pending events the outbox holds before it coalesces updates.
const OUTBOX_MAX_BYTES: u64 = 256 << 20;
/// Segment size of the outbox.
const OUTBOX_SEGMENT_BYTES: u64 = 8 << 20;

/// The running delivery side.
#[derive(Debug)]
pub(crate) struct Deliveries {
    /// The outbox the sink thread appends to.
    pub(crate) outbox: SharedOutbox,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stats: Vec<(String, Arc<SinkStats>)>,
}

/// The outbox entry of an incident event.
pub(crate) fn entry(ev: &IncidentEvent) -> NewEntry {
    let action = Action::parse(ev.action.as_str()).unwrap_or(Action::Updated);
    NewEntry { dedup_key: ev.incident.dedup_key.clone(), action, json: ev.to_json_line() }
}

/// The outbox entry of an incident event line (DESIGN.md's JSON), `None` when it is none.
pub(crate) fn entry_from_line(line: &str) -> Option<NewEntry> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let action = Action::parse(v["action"].as_str()?)?;
    let dedup_key = v["incident"]["dedup_key"].as_str()?.to_string();
    Some(NewEntry { dedup_key, action, json: line.to_string() })
}

/// Where every delivery sink stands: (name, delivered, rejected, pending).
fn report(d: &Deliveries) -> Vec<(String, u64, u64, u64)> {
    let o = d.outbox.lock();
    d.stats
        .iter()
        .map(|(n, s)| {
            let pending = o.state(n).map_or(0, |st| st.pending);
            (n.clone(), s.delivered.load(Ordering::Relaxed), s.rejected.load(Ordering::Relaxed), pending)
        })
        .collect()
}

/// Opens the outbox and starts a worker per delivery sink on the current runtime; `None`
/// when the pipeline has none. `console` is the base URL incident links point into.
pub(crate) fn start(spec: &PipelineSpec, console: &str, admin: Arc<AdminState>) -> anyhow::Result<Option<Deliveries>> {
    let has_state = spec.state.directory.is_some();
    let sinks: Vec<_> = spec.sinks.iter().filter(|s| s.through_outbox(has_state)).collect();
    if sinks.is_empty() {
        return Ok(None);
    }
    let dir = spec.state.directory.as_deref().context("sinks behind the outbox need [state] directory")?;
    let names: Vec<String> = sinks.iter().map(|s| s.name.clone()).collect();
    let outbox = Outbox::open(&dir.join("outbox"), &names, OUTBOX_SEGMENT_BYTES, OUTBOX_MAX_BYTES)
        .with_context(|| format!("opening the outbox in {}", dir.join("outbox").display()))?;
    let shared = SharedOutbox::new(outbox);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let mut stats = Vec::new();
    // Stdout and files take every incident event, at once.
    let line_delivery =
        DeliverySpec { timeout: Duration::from_secs(10), services: vec![], severities: vec![], per_minute: None };
    for s in sinks {
        let (receiver, delivery): (Box<dyn Receiver>, _) = match &s.kind {
            SinkKind::PagerDuty(p, d) => {
                let config = PagerDutyConfig {
                    url: p.url.clone(),
                    default_key: p.default_key.as_ref().map(|k| RoutingKey(k.expose().clone())),
                    by_service: p.by_service.iter().map(|(k, v)| (k.clone(), RoutingKey(v.expose().clone()))).collect(),
                    by_severity: p
                        .by_severity
                        .iter()
                        .map(|(k, v)| (k.clone(), RoutingKey(v.expose().clone())))
                        .collect(),
                    severities: p.severities.clone(),
                    per_minute: p.per_minute,
                    console_url: Some(console.to_string()),
                    timeout: d.timeout,
                };
                (Box::new(PagerDuty::new(config)?), d)
            }
            SinkKind::Slack(url, d) => (Box::new(Slack::new(url.expose(), Some(console.to_string()), d.timeout)?), d),
            SinkKind::Alertmanager { url, refresh, delivery } => {
                let am = Alertmanager::new(url, Some(console.to_string()), delivery.timeout)?;
                tasks.push(tokio::spawn(am.clone().refresh(*refresh, stopped.clone())));
                (Box::new(am), delivery)
            }
            SinkKind::Stdout => (Box::new(StdoutLines), &line_delivery),
            SinkKind::File(path) => {
                let f = FileLines::open(path, s.rotate)
                    .with_context(|| format!("opening sink {} file {}", s.name, path.display()))?;
                (Box::new(f), &line_delivery)
            }
            SinkKind::Kafka { client, topic, delivery } => {
                let sink = KafkaSink::new(&client.brokers, &client.all(), topic, delivery.timeout)
                    .with_context(|| format!("sink {}: the Kafka producer", s.name))?;
                (Box::new(sink), delivery)
            }
            SinkKind::Webhook { url, secret, headers, delivery } => {
                let headers = headers.iter().map(|(k, v)| (k.clone(), v.expose().clone())).collect();
                let secret = secret.as_ref().map(|s| s.expose().as_bytes().to_vec());
                (Box::new(Webhook::new(url, secret, headers, delivery.timeout)?), delivery)
            }
            _ => continue,
        };
        let sink_stats = Arc::new(SinkStats::default());
        let worker = Worker {
            name: s.name.clone(),
            receiver,
            route: Route { services: delivery.services.clone(), severities: delivery.severities.clone() },
            retry: RetryPolicy::default(),
            dead_letters: dir.join("outbox").join(format!("{}.dead-letters.jsonl", s.name)),
            stats: sink_stats.clone(),
            per_minute: delivery.per_minute,
        };
        tasks.push(tokio::spawn(worker.run(shared.clone(), stopped.clone())));
        stats.push((s.name.clone(), sink_stats));
    }
    let publisher = (shared.clone(), stats.clone());
    let mut stopped_pub = stopped;
    tasks.push(tokio::spawn(async move {
        loop {
            publish(&publisher.0, &publisher.1, &admin);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stopped_pub.changed() => { publish(&publisher.0, &publisher.1, &admin); return; }
            }
        }
    }));
    Ok(Some(Deliveries { outbox: shared, stop, tasks, stats }))
}

fn publish(outbox: &SharedOutbox, stats: &[(String, Arc<SinkStats>)], admin: &AdminState) {
    let m = &admin.metrics;
    {
        let o = outbox.lock();
        m.set(OUTBOX_BYTES, &[], o.pending_bytes() as f64);
        m.set(OUTBOX_COALESCED, &[], o.coalesced_total() as f64);
        for (name, _) in stats {
            if let Some(s) = o.state(name) {
                m.set(DELIVERY_PENDING, &[("sink", name)], s.pending as f64);
            }
        }
    }
    for (name, s) in stats {
        for (result, n) in [("delivered", &s.delivered), ("rejected", &s.rejected), ("skipped", &s.skipped)] {
            m.set(DELIVERY_EVENTS, &[("sink", name), ("result", result)], n.load(Ordering::Relaxed) as f64);
        }
        m.set(DELIVERY_RETRIES, &[("sink", name)], s.retries.load(Ordering::Relaxed) as f64);
    }
}

impl Deliveries {
    /// Waits up to `grace` for every sink to deliver what is pending, then stops the workers;
    /// where each sink stood then: (name, delivered, rejected, pending).
    pub(crate) async fn drain_and_stop(self, grace: Duration) -> Vec<(String, u64, u64, u64)> {
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            let pending: u64 = {
                let o = self.outbox.lock();
                self.stats.iter().filter_map(|(n, _)| o.state(n)).map(|s| s.pending).sum()
            };
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let last = report(&self);
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        last
    }
}
