//! The incident as the manager keeps it: scope, signals, impact, causes and timeline.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::detect::{DetectorKind, Direction};
use crate::series::{SeriesKey, SeriesKind};
use crate::time::Millis;

/// Runbook severity: P0 complete outage or payments failing … P3 no user impact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// Complete outage or payment processing failed.
    P0,
    /// Major functionality impacted.
    P1,
    /// Minor functionality impacted.
    P2,
    /// No user impact: capacity warnings.
    P3,
}

impl Severity {
    /// "P0" … "P3".
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::P0 => "P0",
            Severity::P1 => "P1",
            Severity::P2 => "P2",
            Severity::P3 => "P3",
        }
    }
}

/// Whether the incident is still going on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Signals are abnormal, or have not been normal for long enough.
    Open,
    /// Every signal stayed normal for the hysteresis period.
    Resolved,
}

/// What an incident event announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// A new incident.
    Opened,
    /// Severity, signals, scope or causes changed (or it re-opened within the flap window).
    Updated,
    /// Every signal stayed normal for the hysteresis period.
    Resolved,
}

impl Action {
    /// "opened", "updated" or "resolved".
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Opened => "opened",
            Action::Updated => "updated",
            Action::Resolved => "resolved",
        }
    }
}

/// The kind of a timeline entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    /// Estimated start: the start of the first anomalous window.
    Onset,
    /// The incident opened (or re-opened).
    Detected,
    /// Severity went up.
    SeverityChanged,
    /// Another signal (or service) joined.
    SignalAdded,
    /// Every signal stayed normal for the hysteresis period.
    Resolved,
}

impl TimelineKind {
    /// snake_case name, as in output.
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Onset => "onset",
            TimelineKind::Detected => "detected",
            TimelineKind::SeverityChanged => "severity_changed",
            TimelineKind::SignalAdded => "signal_added",
            TimelineKind::Resolved => "resolved",
        }
    }
}

/// One line of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Event time.
    pub at: Millis,
    /// What happened.
    pub kind: TimelineKind,
    /// For a person.
    pub detail: String,
}

/// One anomalous signal of one series, with its latest evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentSignal {
    /// The series, as a label set (never a process-local id).
    pub series: SeriesKey,
    /// Signal name (`error_rate`, `pool_saturation`…).
    pub signal: String,
    /// Detector that found it (the latest one).
    pub detector: String,
    /// Which way the signal moved.
    pub direction: SignalDirection,
    /// Latest anomalous value.
    pub value: f64,
    /// Most extreme anomalous value seen (largest when up, smallest when down).
    pub worst: f64,
    /// Expected level, when the detector knows it.
    pub baseline: Option<f64>,
    /// Limit crossed, when there is one.
    pub threshold: Option<f64>,
    /// Start of the first window in which it was anomalous.
    pub first_at: Millis,
    /// End of the latest window in which it was anomalous.
    pub last_at: Millis,
    /// Detector's extra words, if any.
    pub detail: Option<String>,
    /// The signal's windows over the last `resolve_evidence` span, oldest first:
    /// what says whether it is still abnormal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<RecentPoint>,
    /// The signal's values and baselines summed over the incident's windows so far.
    #[serde(default)]
    pub observed: Observed,
}

/// Sums of a signal's value and its baseline over the windows of an incident: the depth
/// of a drop over its whole span, not one window's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// Sum of the values.
    pub value: f64,
    /// Sum of the baselines.
    pub expected: f64,
    /// Windows summed.
    pub windows: u32,
}

/// One window of an incident signal: its end, value and counts (see [`crate::signal::SignalPoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecentPoint {
    /// Window end.
    pub at: Millis,
    /// The signal's value.
    pub value: f64,
    /// For ratios the trials, for latencies the samples.
    pub n: u64,
    /// For ratios the failures.
    pub k: u64,
}

/// Direction of an incident signal, serialisable (mirror of [`Direction`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalDirection {
    /// Above normal.
    Up,
    /// Below normal.
    Down,
}

impl From<Direction> for SignalDirection {
    fn from(d: Direction) -> Self {
        match d {
            Direction::Up => SignalDirection::Up,
            Direction::Down => SignalDirection::Down,
        }
    }
}

/// Detector name as in output.
pub(crate) fn detector_name(d: DetectorKind) -> String {
    d.as_str().to_string()
}

/// Errors and requests counted in one dimension value, summed over the incident's windows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DimensionCount {
    /// Dimension: `operation`, `dependency`, or a configured attribute such as `region`.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Errors with that value.
    pub errors: u64,
    /// Requests (or calls) with that value.
    pub requests: u64,
}

/// Measured impact, summed over the incident's windows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Impact {
    /// Requests served by the services in scope.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Transactions (declined included).
    pub txn_total: u64,
    /// Failed transactions.
    pub txn_failed: u64,
    /// Largest per-window error share seen.
    pub peak_error_share: f64,
    /// Largest per-window transaction failure share seen.
    pub peak_txn_failure_share: f64,
}

/// A probable cause, ranked by confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbableCause {
    /// Cause name from the catalog (`db_pool_exhausted`…).
    pub cause: String,
    /// 0–1: the share of the rule's weight whose conditions held.
    pub confidence: f64,
    /// What held, for a person.
    pub evidence: String,
}

/// A change (deploy, config, rollback) seen on a service, kept to explain incidents.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// When.
    pub at: Millis,
    /// The service it changed.
    pub service: String,
    /// `deploy`, `config` or `rollback`.
    pub kind: crate::event::ChangeKind,
    /// Version or change id.
    pub id: String,
    /// Free text.
    pub text: String,
}

/// One incident: the manager's state of it, checkpointed as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id, derived from the dedup key.
    pub id: String,
    /// `"{service}/{start of the window it opened in}"`: minted once, kept across restarts.
    pub dedup_key: String,
    /// The service it opened on.
    pub service: String,
    /// Every service in scope (the service, dependencies involved, their callers).
    pub services: BTreeSet<String>,
    /// Current severity (only goes up while open).
    pub severity: Severity,
    /// One line for a person.
    pub title: String,
    /// Open or resolved.
    pub status: Status,
    /// Estimated start: start of the first anomalous window.
    pub onset_at: Millis,
    /// End of the window whose close opened it.
    pub detected_at: Millis,
    /// End of the window whose close resolved it.
    pub resolved_at: Option<Millis>,
    /// End of the latest window in which a signal of the incident was abnormal.
    pub last_abnormal_at: Millis,
    /// Anomalous signals, in the order they joined.
    pub signals: Vec<IncidentSignal>,
    /// Measured impact.
    pub impact: Impact,
    /// Error counts per dimension value, for the drill-down.
    pub dimensions: Vec<DimensionCount>,
    /// Largest value per `service/signal` over the services in scope while abnormal.
    pub peaks: BTreeMap<String, f64>,
    /// Probable causes, best first.
    pub causes: Vec<ProbableCause>,
    /// Runbook steps of the top cause.
    pub runbook: Vec<String>,
    /// What happened, in order.
    pub timeline: Vec<TimelineEntry>,
}

impl Incident {
    /// True when `service` is in scope.
    pub fn covers(&self, service: &str) -> bool {
        self.services.contains(service)
    }

    /// The signal entry of `series` and `signal`, if it joined.
    pub fn signal_mut(&mut self, series: &SeriesKey, signal: &str) -> Option<&mut IncidentSignal> {
        self.signals.iter_mut().find(|s| s.series == *series && s.signal == signal)
    }

    /// Share of requests in scope that failed, over the incident so far.
    pub fn error_share(&self) -> f64 {
        ratio(self.impact.errors, self.impact.requests)
    }

    /// The dimension values where errors concentrate: share of all errors, best first.
    pub fn concentrations(&self, min_share: f64) -> Vec<(String, String, f64)> {
        // A share is of the errors counted under the same dimension key, so the shares
        // of one key add up to 1 whatever mix of inbound and outbound requests fed it.
        // A dependency's share stays relative to the service's own errors: it says how
        // much of what users saw the provider explains.
        let mut per_key: BTreeMap<&str, u64> = BTreeMap::new();
        for d in &self.dimensions {
            *per_key.entry(d.key.as_str()).or_default() += d.errors;
        }
        let mut out: Vec<(String, String, f64)> = self
            .dimensions
            .iter()
            .filter(|d| d.errors > 0)
            .map(|d| {
                let total = if d.key == "dependency" {
                    self.impact.errors.max(d.errors)
                } else {
                    per_key.get(d.key.as_str()).copied().unwrap_or(d.errors)
                };
                (d.key.clone(), d.value.clone(), ratio(d.errors, total))
            })
            .filter(|(_, _, share)| *share >= min_share)
            .collect();
        out.sort_by(|a, b| b.2.total_cmp(&a.2).then_with(|| (&a.0, &a.1).cmp(&(&b.0, &b.1))));
        out
    }

    /// The largest peak of `signal` over services whose name contains `service_contains`.
    pub fn peak(&self, signal: &str, service_contains: Option<&str>) -> Option<(&str, f64)> {
        self.peaks
            .iter()
            .filter_map(|(k, v)| {
                let (service, name) = k.rsplit_once('/')?;
                (name == signal && service_contains.is_none_or(|c| service.contains(c))).then_some((service, *v))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// Time from onset to resolution (or to the latest abnormal window while open).
    pub fn duration_ms(&self) -> i64 {
        self.resolved_at.unwrap_or(self.last_abnormal_at).0 - self.onset_at.0
    }
}

/// One incident event: what happened to which incident, with its state after it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentEvent {
    /// Opened, updated or resolved.
    pub action: Action,
    /// The incident after the change.
    pub incident: Incident,
}

/// `num / den`, 0 when `den` is 0.
pub(crate) fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 { 0.0 } else { num as f64 / den as f64 }
}

/// The dimension key a series of `kind` contributes under its name.
pub(crate) fn name_dimension(kind: SeriesKind) -> Option<&'static str> {
    match kind {
        SeriesKind::Request => Some("operation"),
        SeriesKind::Dependency => Some("dependency"),
        _ => None,
    }
}

/// A bare open incident on `pay` with the given (signal, value) pairs, for tests.
#[cfg(test)]
pub(crate) fn incident_with(signals: &[(&str, f64)]) -> Incident {
    Incident {
        id: "inc-test".into(),
        dedup_key: "pay/1970-01-01T00:00:00.000Z".into(),
        service: "pay".into(),
        services: ["pay".to_string()].into(),
        severity: Severity::P3,
        title: String::new(),
        status: Status::Open,
        onset_at: Millis(0),
        detected_at: Millis(10_000),
        resolved_at: None,
        last_abnormal_at: Millis(10_000),
        signals: signals
            .iter()
            .map(|(name, value)| IncidentSignal {
                series: SeriesKey::new(SeriesKind::Request, "pay", "POST /charge", &[]),
                signal: name.to_string(),
                detector: "threshold".into(),
                direction: SignalDirection::Up,
                value: *value,
                worst: *value,
                baseline: None,
                threshold: None,
                first_at: Millis(0),
                last_at: Millis(10_000),
                detail: None,
                recent: Vec::new(),
                observed: Default::default(),
            })
            .collect(),
        impact: Impact::default(),
        dimensions: Vec::new(),
        peaks: BTreeMap::new(),
        causes: Vec::new(),
        runbook: Vec::new(),
        timeline: Vec::new(),
    }
}
