//! The Slack sink: an incoming webhook, one message per opened, escalated and resolved incident.
//!
//! The message follows the runbooks' incident-update shape, in Block Kit: a header with the
//! severity, service and status; then status, impact (the share of failing requests and the
//! worst dimension), probable cause with its evidence and the first actions of its runbook,
//! next steps, and the time (detected, resolved); a `text` fallback for notifications. Updates
//! that are no escalation send nothing, as for PagerDuty. Answers: 200 delivered; 429 and 5xx
//! retried (honouring `Retry-After`); other 4xx (`invalid_payload`, `no_service`…)
//! dead-lettered with Slack's message.

use std::collections::HashMap;
use std::time::Duration;

use faultline_core::incident::wire::IncidentEventJson;
use serde_json::{Value, json};

use crate::deliver::{Attempt, BoxFuture, Receiver, classify, transport_failure};
use crate::outbox::{Action, Entry};
use crate::text::{cut, escalates};

/// A Slack incoming webhook.
pub struct Slack {
    client: reqwest::Client,
    url: String,
    console_url: Option<String>,
    triggered: HashMap<String, String>,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The webhook URL is the credential: never printed.
        f.debug_struct("Slack").finish_non_exhaustive()
    }
}

impl Slack {
    /// Posts to the incoming webhook `url`; links point into `console_url` when given.
    pub fn new(url: &str, console_url: Option<String>, timeout: Duration) -> Result<Slack, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).user_agent("faultline").build()?;
        Ok(Slack { client, url: url.to_string(), console_url, triggered: HashMap::new() })
    }

    /// The message for `event`, or `None` for an update that is no escalation.
    pub fn message(&self, action: Action, event: &IncidentEventJson) -> Option<Value> {
        let i = &event.incident;
        if action == Action::Updated && !escalates(self.triggered.get(&i.dedup_key), event) {
            return None;
        }
        let (emoji, status) = match action {
            Action::Opened => (":rotating_light:", "Investigating"),
            Action::Updated => (":arrow_double_up:", "Escalated"),
            Action::Resolved => (":white_check_mark:", "Resolved"),
        };
        let impact = {
            let share = i.scope.share_of_requests * 100.0;
            let worst =
                i.scope.dimensions.first().map(|d| format!(", mostly {} {}", d.key, d.value)).unwrap_or_default();
            let signals: Vec<String> = i.signals.iter().map(|s| format!("{} {}", s.name, fmt(s.value))).collect();
            format!("{share:.1} % of requests failing{worst}. Signals: {}", signals.join(", "))
        };
        let cause = match i.probable_causes.first() {
            Some(c) => format!("*{}* ({:.0} %): {}", c.cause, c.confidence * 100.0, c.evidence),
            None => "none ranked yet".to_string(),
        };
        let steps: Vec<String> = i.runbook.iter().take(3).enumerate().map(|(n, s)| format!("{}. {s}", n + 1)).collect();
        let next = match action {
            Action::Resolved => "Write the postmortem; watch for a relapse.".to_string(),
            _ if steps.is_empty() => "Follow the service's runbook.".to_string(),
            _ => steps.join("\n"),
        };
        let when = match &i.resolved_at {
            Some(r) => format!("detected {}, resolved {r}", i.detected_at),
            None => format!("onset {}, detected {}", i.onset_at, i.detected_at),
        };
        // The title names the service; the severity and status lead.
        let header = format!("{} {}: {}", i.severity, status.to_lowercase(), i.title);
        let mut blocks = vec![
            json!({"type": "header", "text": {"type": "plain_text", "text": cut(&header, 150), "emoji": true}}),
            json!({"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Status*\n{emoji} {status}")},
                {"type": "mrkdwn", "text": format!("*Severity*\n{}", i.severity)},
                {"type": "mrkdwn", "text": format!("*Service*\n{}", i.service)},
                {"type": "mrkdwn", "text": format!("*Time*\n{when}")},
            ]}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!("*Impact*\n{impact}"), 3000)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!("*Probable cause*\n{cause}"), 3000)}}),
            json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&format!("*Next steps*\n{next}"), 3000)}}),
        ];
        if let Some(u) = &self.console_url {
            let link = format!("{}/incidents/{}", u.trim_end_matches('/'), i.id);
            blocks.push(json!({"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Open in Faultline"}, "url": link}
            ]}));
        }
        blocks.push(json!({"type": "context", "elements": [
            {"type": "mrkdwn", "text": format!("Faultline · incident {} · {}", i.id, i.dedup_key)}
        ]}));
        Some(json!({"text": cut(&header, 300), "blocks": blocks}))
    }
}

fn fmt(v: f64) -> String {
    if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.3}") }
}

impl Receiver for Slack {
    fn deliver<'a>(&'a mut self, entry: &'a Entry, event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let Some(message) = self.message(entry.action, event) else { return Attempt::Delivered };
            let attempt = match self.client.post(&self.url).json(&message).send().await {
                Ok(resp) => {
                    let (status, headers) = (resp.status(), resp.headers().clone());
                    let text = resp.text().await.unwrap_or_default();
                    classify(status, &headers, &text)
                }
                Err(e) => transport_failure(&e),
            };
            if attempt == Attempt::Delivered {
                let i = &event.incident;
                match entry.action {
                    Action::Resolved => self.triggered.remove(&i.dedup_key),
                    _ => self.triggered.insert(i.dedup_key.clone(), i.severity.clone()),
                };
            }
            attempt
        })
    }
}
