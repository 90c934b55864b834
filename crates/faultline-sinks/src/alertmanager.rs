//! The Alertmanager sink: incidents as alerts through its v2 API, re-posted as its client contract asks.
//!
//! `POST {url}/api/v2/alerts` with one alert per incident: labels `alertname`
//! (`FaultlineIncident`), `service`, `severity` (P0…P3), `cause` (the top probable cause,
//! else `unknown`) and `dedup_key` (so two incidents of one service stay two alerts; teams'
//! routes, groupings and silences match on the others); annotations `summary` (the title),
//! `description` (impact and signals), `runbook` (the steps) and `console` (the link);
//! `startsAt` the incident's onset, `generatorURL` the console link. A resolved incident is
//! posted with `endsAt` its resolution.
//!
//! Alertmanager keeps alerts in memory only and resolves a firing alert it has not heard of
//! for its `resolve_timeout`, so the sink re-posts every firing alert each `refresh` (default
//! 60 s), and every resolved one for 5 minutes after its resolution: a restarted Alertmanager
//! learns the state again, and a lost resolve is sent again. Answers: 200 delivered; 400
//! dead-lettered; 5xx and refused connections retried.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline_core::incident::wire::IncidentEventJson;
use serde_json::{Value, json};

use crate::deliver::{Attempt, BoxFuture, Receiver, classify, transport_failure};
use crate::outbox::{Action, Entry};
use crate::text::cut;

/// How long a resolved alert is re-posted after its resolution.
pub const RESOLVED_REPOST: Duration = Duration::from_secs(300);

/// The alerts the sink keeps re-posting, by dedup key.
#[derive(Debug, Default)]
struct Alerts {
    /// The alert as posted, and when it was resolved (wall clock), if it was.
    by_key: HashMap<String, (Value, Option<Instant>)>,
}

/// An Alertmanager receiver.
#[derive(Debug, Clone)]
pub struct Alertmanager {
    client: reqwest::Client,
    url: String,
    console_url: Option<String>,
    alerts: Arc<Mutex<Alerts>>,
}

impl Alertmanager {
    /// Posts to the Alertmanager at `base` (`http://host:9093`).
    pub fn new(base: &str, console_url: Option<String>, timeout: Duration) -> Result<Alertmanager, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).user_agent("faultline").build()?;
        Ok(Alertmanager {
            client,
            url: format!("{}/api/v2/alerts", base.trim_end_matches('/')),
            console_url,
            alerts: Arc::default(),
        })
    }

    /// The alert for `event`.
    pub fn alert(&self, action: Action, event: &IncidentEventJson) -> Value {
        let i = &event.incident;
        let cause = i.probable_causes.first().map_or("unknown", |c| c.cause.as_str());
        let link = self.console_url.as_ref().map(|u| format!("{}/incidents/{}", u.trim_end_matches('/'), i.id));
        let signals: Vec<String> = i.signals.iter().map(|s| format!("{} {:.3}", s.name, s.value)).collect();
        let description =
            format!("{:.1} % of requests failing; signals: {}", i.scope.share_of_requests * 100.0, signals.join(", "));
        let mut annotations = json!({
            "summary": cut(&i.title, 1024),
            "description": cut(&description, 4096),
            "runbook": cut(&i.runbook.join("\n"), 4096),
        });
        if let Some(l) = &link {
            annotations["console"] = json!(l);
        }
        let mut alert = json!({
            "labels": {
                "alertname": "FaultlineIncident",
                "service": i.service,
                "severity": i.severity,
                "cause": cause,
                "dedup_key": i.dedup_key,
            },
            "annotations": annotations,
            "startsAt": i.onset_at,
        });
        if let Some(l) = link {
            alert["generatorURL"] = json!(l);
        }
        if action == Action::Resolved {
            alert["endsAt"] = json!(i.resolved_at.clone().unwrap_or_else(|| i.detected_at.clone()));
        }
        alert
    }

    async fn post(&self, alerts: &[Value]) -> Attempt {
        match self.client.post(&self.url).json(&alerts).send().await {
            Ok(resp) => {
                let (status, headers) = (resp.status(), resp.headers().clone());
                let text = resp.text().await.unwrap_or_default();
                classify(status, &headers, &text)
            }
            Err(e) => transport_failure(&e),
        }
    }

    /// Re-posts every firing alert, and the resolved ones of the last 5 minutes, every `every`,
    /// until `stop`; failures are logged and tried again next round.
    pub async fn refresh(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            let batch: Vec<Value> = {
                let mut a = self.alerts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                a.by_key.retain(|_, (_, resolved)| resolved.is_none_or(|t| t.elapsed() < RESOLVED_REPOST));
                a.by_key.values().map(|(v, _)| v.clone()).collect()
            };
            if batch.is_empty() {
                continue;
            }
            match self.post(&batch).await {
                Attempt::Delivered => tracing::debug!(alerts = batch.len(), "alertmanager: alerts re-posted"),
                other => tracing::warn!(?other, alerts = batch.len(), "alertmanager: re-posting alerts failed"),
            }
        }
    }
}

impl Receiver for Alertmanager {
    fn deliver<'a>(&'a mut self, entry: &'a Entry, event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let alert = self.alert(entry.action, event);
            let attempt = self.post(std::slice::from_ref(&alert)).await;
            if attempt == Attempt::Delivered {
                let resolved = (entry.action == Action::Resolved).then(Instant::now);
                let mut a = self.alerts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                a.by_key.insert(event.incident.dedup_key.clone(), (alert, resolved));
            }
            attempt
        })
    }
}
