//! The incident event JSON of DESIGN.md: the serde output types and their construction.

use serde::{Deserialize, Serialize};

use super::model::{Incident, IncidentEvent};

/// Smallest share a dimension value must hold of the errors to be named in the scope.
const SCOPE_MIN_SHARE: f64 = 0.2;
/// Most dimension values named in the scope.
const SCOPE_MAX_DIMENSIONS: usize = 5;

/// `{"action":…,"incident":{…}}`, one JSON line per incident event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentEventJson {
    /// `opened`, `updated` or `resolved`.
    pub action: String,
    /// The incident after the change.
    pub incident: IncidentJson,
}

/// The incident object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentJson {
    /// Stable id.
    pub id: String,
    /// Dedup key (service and opening window).
    pub dedup_key: String,
    /// Service it opened on.
    pub service: String,
    /// Every service in scope.
    pub services: Vec<String>,
    /// `P0` … `P3`.
    pub severity: String,
    /// One line for a person.
    pub title: String,
    /// `open` or `resolved`.
    pub status: String,
    /// RFC 3339 UTC with millis, event time.
    pub onset_at: String,
    /// RFC 3339 UTC with millis, event time.
    pub detected_at: String,
    /// RFC 3339 UTC with millis, event time; null while open.
    pub resolved_at: Option<String>,
    /// Evidence per signal.
    pub signals: Vec<SignalJson>,
    /// Where the failures concentrate.
    pub scope: ScopeJson,
    /// Ranked probable causes.
    pub probable_causes: Vec<CauseJson>,
    /// Runbook steps of the top cause.
    pub runbook: Vec<String>,
    /// What happened, in order.
    pub timeline: Vec<TimelineJson>,
}

/// One signal's value against its baseline and threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalJson {
    /// Signal name.
    pub name: String,
    /// Latest anomalous value.
    pub value: f64,
    /// Expected level, if known.
    pub baseline: Option<f64>,
    /// Limit crossed, if any.
    pub threshold: Option<f64>,
    /// Detector name.
    pub detector: String,
}

/// The incident's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopeJson {
    /// Failed requests / requests in scope, over the incident so far.
    pub share_of_requests: f64,
    /// Dimension values holding a large share of the errors, best first.
    pub dimensions: Vec<DimensionJson>,
}

/// One dimension value and its share of the errors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DimensionJson {
    /// `operation`, `dependency`, `region`…
    pub key: String,
    /// The value.
    pub value: String,
    /// Share of the errors, 0–1.
    pub share: f64,
}

/// One probable cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CauseJson {
    /// Cause name.
    pub cause: String,
    /// 0–1.
    pub confidence: f64,
    /// What held.
    pub evidence: String,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineJson {
    /// RFC 3339 UTC with millis, event time.
    pub at: String,
    /// `onset`, `detected`, `severity_changed`, `signal_added` or `resolved`.
    pub kind: String,
    /// For a person.
    pub detail: String,
}

impl IncidentEvent {
    /// The DESIGN.md JSON form.
    pub fn to_json(&self) -> IncidentEventJson {
        IncidentEventJson { action: self.action.as_str().to_string(), incident: IncidentJson::from(&self.incident) }
    }

    /// One JSON line, without the newline.
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(&self.to_json()).expect("incident JSON has only string keys and finite numbers")
    }
}

impl From<&Incident> for IncidentJson {
    fn from(i: &Incident) -> Self {
        let mut signals: Vec<SignalJson> = i
            .signals
            .iter()
            .map(|s| SignalJson {
                name: s.signal.clone(),
                value: finite(s.value),
                baseline: s.baseline.map(finite),
                threshold: s.threshold.map(finite),
                detector: s.detector.clone(),
            })
            .collect();
        // One entry per (name, detector): the first series to show it speaks for it.
        let mut seen = std::collections::BTreeSet::new();
        signals.retain(|s| seen.insert((s.name.clone(), s.detector.clone())));
        IncidentJson {
            id: i.id.clone(),
            dedup_key: i.dedup_key.clone(),
            service: i.service.clone(),
            services: i.services.iter().cloned().collect(),
            severity: i.severity.as_str().to_string(),
            title: i.title.clone(),
            status: match i.status {
                super::model::Status::Open => "open".into(),
                super::model::Status::Resolved => "resolved".into(),
            },
            onset_at: i.onset_at.to_rfc3339(),
            detected_at: i.detected_at.to_rfc3339(),
            resolved_at: i.resolved_at.map(|t| t.to_rfc3339()),
            signals,
            scope: ScopeJson {
                share_of_requests: round4(i.error_share()),
                dimensions: i
                    .concentrations(SCOPE_MIN_SHARE)
                    .into_iter()
                    .take(SCOPE_MAX_DIMENSIONS)
                    .map(|(key, value, share)| DimensionJson { key, value, share: round4(share) })
                    .collect(),
            },
            probable_causes: i
                .causes
                .iter()
                .map(|c| CauseJson {
                    cause: c.cause.clone(),
                    confidence: round4(c.confidence),
                    evidence: c.evidence.clone(),
                })
                .collect(),
            runbook: i.runbook.clone(),
            timeline: i
                .timeline
                .iter()
                .map(|t| TimelineJson {
                    at: t.at.to_rfc3339(),
                    kind: t.kind.as_str().to_string(),
                    detail: t.detail.clone(),
                })
                .collect(),
        }
    }
}

/// JSON has no NaN or infinity: such values print as 0.
fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// Four decimals, so shares read well and snapshots stay stable.
pub(crate) fn round4(v: f64) -> f64 {
    (finite(v) * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::model::{Action, incident_with};

    #[test]
    fn keys_and_order_follow_design() {
        let ev = IncidentEvent { action: Action::Opened, incident: incident_with(&[("error_rate", 0.45)]) };
        let line = ev.to_json_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = v["incident"].as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = [
            "id",
            "dedup_key",
            "service",
            "services",
            "severity",
            "title",
            "status",
            "onset_at",
            "detected_at",
            "resolved_at",
            "signals",
            "scope",
            "probable_causes",
            "runbook",
            "timeline",
        ];
        expected.sort_unstable();
        assert_eq!(keys, expected);
        assert!(line.starts_with(r#"{"action":"opened","incident":{"id":"inc-test","dedup_key""#), "{line}");
        assert!(line.contains(r#""resolved_at":null"#));
        assert!(line.contains(r#""onset_at":"1970-01-01T00:00:00.000Z""#));
        assert!(line.contains(
            r#""signals":[{"name":"error_rate","value":0.45,"baseline":null,"threshold":null,"detector":"threshold"}]"#
        ));
    }
}
