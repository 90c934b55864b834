//! The PagerDuty sink: Events API v2, one PagerDuty alert per incident.
//!
//! `POST {url}` (default `https://events.pagerduty.com/v2/enqueue`), JSON:
//! - opened → `trigger` with the incident's dedup key and a payload: `summary` (the title,
//!   at most 1,024 characters), `source` (the service), `severity` (P0 `critical`, P1 `error`,
//!   P2 `warning`, P3 `info`; configurable), `timestamp` (detection), `component` (the top
//!   scope value), `group` (the service), `class` (the top probable cause, else the first
//!   signal), `custom_details` (signals, scope, probable causes with evidence, runbook steps,
//!   the console link) and the console link in `links`;
//! - updated → `trigger` again only when the severity rose (an escalation: PagerDuty updates
//!   the same alert); other updates send nothing;
//! - resolved → `resolve` with the dedup key.
//!
//! The routing key is chosen per service, else per severity, else the default; keys come
//! from the environment only and are never logged. The body stays under 512 KB (custom details
//! are cut first). Answers: 202 delivered; 400 dead-lettered with PagerDuty's message; 429 and
//! 5xx retried, honouring `Retry-After`. A client-side limiter keeps each routing key under
//! `per_minute` events a minute (PagerDuty's documented limit is about 120).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use faultline_core::incident::wire::IncidentEventJson;
use serde_json::{Value, json};

use crate::deliver::{Attempt, BoxFuture, Receiver, classify, transport_failure};
use crate::outbox::{Action, Entry};
use crate::text::{cut, escalates};

/// PagerDuty's enqueue endpoint.
pub const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Largest summary PagerDuty takes, characters.
pub const MAX_SUMMARY: usize = 1024;
/// Largest body PagerDuty takes, bytes.
pub const MAX_BODY: usize = 512 * 1024;

/// A routing key: a secret (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct RoutingKey(pub String);

impl std::fmt::Debug for RoutingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoutingKey(…)")
    }
}

/// Where PagerDuty events go.
#[derive(Debug, Clone)]
pub struct PagerDutyConfig {
    /// The enqueue URL.
    pub url: String,
    /// The routing key of incidents no rule below names.
    pub default_key: Option<RoutingKey>,
    /// Routing keys per service.
    pub by_service: BTreeMap<String, RoutingKey>,
    /// Routing keys per severity (`P0`…`P3`).
    pub by_severity: BTreeMap<String, RoutingKey>,
    /// PagerDuty severity per Faultline severity.
    pub severities: BTreeMap<String, String>,
    /// Events a minute per routing key, at most.
    pub per_minute: u32,
    /// The console's base URL, for links (`console.external_url`).
    pub console_url: Option<String>,
    /// Each attempt's timeout.
    pub timeout: Duration,
}

impl Default for PagerDutyConfig {
    fn default() -> Self {
        PagerDutyConfig {
            url: EVENTS_URL.to_string(),
            default_key: None,
            by_service: BTreeMap::new(),
            by_severity: BTreeMap::new(),
            severities: default_severities(),
            per_minute: 100,
            console_url: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// P0 critical, P1 error, P2 warning, P3 info.
pub fn default_severities() -> BTreeMap<String, String> {
    [("P0", "critical"), ("P1", "error"), ("P2", "warning"), ("P3", "info")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The PagerDuty severities.
pub const SEVERITIES: &[&str] = &["critical", "error", "warning", "info"];

/// The PagerDuty receiver.
#[derive(Debug)]
pub struct PagerDuty {
    client: reqwest::Client,
    config: PagerDutyConfig,
    /// Severity last triggered per dedup key, to send only escalations.
    triggered: HashMap<String, String>,
    /// When each routing key may send next.
    next_slot: HashMap<String, Instant>,
}

impl PagerDuty {
    /// A receiver with `config`.
    pub fn new(config: PagerDutyConfig) -> Result<PagerDuty, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(config.timeout).user_agent("faultline").build()?;
        Ok(PagerDuty { client, config, triggered: HashMap::new(), next_slot: HashMap::new() })
    }

    fn key_for(&self, event: &IncidentEventJson) -> Option<&RoutingKey> {
        let i = &event.incident;
        self.config
            .by_service
            .get(&i.service)
            .or_else(|| self.config.by_severity.get(&i.severity))
            .or(self.config.default_key.as_ref())
    }

    /// The Events v2 body for `event`, or `None` when it sends nothing (an update that is no escalation).
    pub fn body(&self, key: &RoutingKey, action: Action, event: &IncidentEventJson) -> Option<Value> {
        let i = &event.incident;
        match action {
            Action::Resolved => {
                return Some(json!({"routing_key": key.0, "event_action": "resolve", "dedup_key": i.dedup_key}));
            }
            Action::Updated if !escalates(self.triggered.get(&i.dedup_key), event) => {
                return None;
            }
            _ => {}
        }
        let severity = self.config.severities.get(&i.severity).map_or("error", String::as_str);
        let link = self.config.console_url.as_ref().map(|u| format!("{}/incidents/{}", u.trim_end_matches('/'), i.id));
        let mut details = json!({
            "severity": i.severity,
            "status": i.status,
            "services": i.services,
            "onset_at": i.onset_at,
            "detected_at": i.detected_at,
            "signals": i.signals,
            "scope": i.scope,
            "probable_causes": i.probable_causes,
            "runbook": i.runbook,
        });
        if let Some(l) = &link {
            details["console"] = json!(l);
        }
        let class =
            i.probable_causes.first().map(|c| c.cause.clone()).or_else(|| i.signals.first().map(|s| s.name.clone()));
        let component = i.scope.dimensions.first().map(|d| format!("{}={}", d.key, d.value));
        let mut payload = json!({
            "summary": cut(&i.title, MAX_SUMMARY),
            "source": i.service,
            "severity": severity,
            "timestamp": i.detected_at,
            "group": i.service,
            "custom_details": details,
        });
        if let Some(c) = class {
            payload["class"] = json!(c);
        }
        if let Some(c) = component {
            payload["component"] = json!(c);
        }
        let mut body = json!({
            "routing_key": key.0,
            "event_action": "trigger",
            "dedup_key": i.dedup_key,
            "payload": payload,
            "client": "Faultline",
        });
        if let Some(l) = link {
            body["client_url"] = json!(l);
            body["links"] = json!([{"href": l, "text": "Incident in the Faultline console"}]);
        }
        // Under PagerDuty's body limit: the timeline-free details are cut, then dropped.
        if body.to_string().len() >= MAX_BODY {
            body["payload"]["custom_details"] = json!({"signals": i.signals, "note": "details cut to fit 512 KB"});
            if body.to_string().len() >= MAX_BODY {
                body["payload"]["custom_details"] = json!({"note": "details too large for PagerDuty"});
            }
        }
        Some(body)
    }

    /// Waits for the routing key's next slot under the rate limit.
    async fn pace(&mut self, key: &str) {
        let spacing = Duration::from_secs(60) / self.config.per_minute.max(1);
        let now = Instant::now();
        let at = self.next_slot.get(key).copied().unwrap_or(now).max(now);
        self.next_slot.insert(key.to_string(), at + spacing);
        if at > now {
            tokio::time::sleep(at - now).await;
        }
    }
}

impl Receiver for PagerDuty {
    fn deliver<'a>(&'a mut self, entry: &'a Entry, event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let Some(key) = self.key_for(event).cloned() else {
                return Attempt::Rejected { why: format!("no routing key for service {}", event.incident.service) };
            };
            let Some(body) = self.body(&key, entry.action, event) else { return Attempt::Delivered };
            self.pace(&key.0).await;
            let sent = self.client.post(&self.config.url).json(&body).send().await;
            let attempt = match sent {
                Ok(resp) => {
                    let (status, headers) = (resp.status(), resp.headers().clone());
                    let text = resp.text().await.unwrap_or_default();
                    match classify(status, &headers, &text) {
                        // PagerDuty's 400 says why in `message` and `errors`.
                        Attempt::Rejected { .. } => {
                            let why = serde_json::from_str::<Value>(&text)
                                .ok()
                                .map(|v| format!("{status}: {} {}", v["message"].as_str().unwrap_or(""), v["errors"]))
                                .unwrap_or_else(|| format!("{status}: {}", cut(&text, 300)));
                            Attempt::Rejected { why }
                        }
                        other => other,
                    }
                }
                Err(e) => transport_failure(&e),
            };
            if attempt == Attempt::Delivered {
                match entry.action {
                    Action::Resolved => {
                        self.triggered.remove(&event.incident.dedup_key);
                    }
                    _ => {
                        self.triggered.insert(event.incident.dedup_key.clone(), event.incident.severity.clone());
                    }
                }
            }
            attempt
        })
    }
}
