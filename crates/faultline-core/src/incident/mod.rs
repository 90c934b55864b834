//! Incidents: findings grouped into incidents with severity, scope, probable causes and a lifecycle.
//!
//! The [`IncidentManager`] takes, per window end, the closed windows, their
//! signal points and the detectors' findings, and answers with
//! [`IncidentEvent`]s (opened, updated, resolved). It is policy and state only:
//! no I/O, no clock; it advances on window ends (event time). Its
//! [`ManagerState`] is serialisable with label sets, so a restart keeps every
//! incident's id and dedup key. [`CauseCatalog`] (data) ranks probable causes;
//! [`SeverityPolicy`] (data) maps measured impact to P0–P3; [`wire`] holds the
//! DESIGN.md JSON; [`render_postmortem`] writes the Markdown draft.

mod causes;
mod confirm;
mod evidence;
mod manager;
mod model;
mod postmortem;
mod severity;
mod title;
pub mod wire;

use serde::Deserialize;

pub use causes::{CauseCatalog, CauseContext, CauseRule, Condition, Term};
pub use confirm::{ConfirmPolicy, Strength, Watch};
pub use manager::{IncidentManager, ManagerState, PendingFinding, STATE_VERSION, resolve_hold};
pub use model::{
    Action, ChangeRecord, DimensionCount, Impact, Incident, IncidentEvent, IncidentSignal, Observed, ProbableCause,
    RecentPoint, Severity, SignalDirection, Status, TimelineEntry, TimelineKind,
};
pub use postmortem::render_postmortem;
pub use severity::{SeverityPolicy, WindowImpact};

use crate::time::DurationMs;

/// Incident policy (the `[incidents]` config section, validated).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentConfig {
    /// Window size of the engine (set by the pipeline from its engine config).
    #[serde(skip)]
    pub window: DurationMs,
    /// Names of the configured series dimensions, in config order.
    #[serde(skip)]
    pub dimension_names: Vec<String>,
    /// When findings open an incident.
    pub confirm: ConfirmPolicy,
    /// Quiet windows before resolving, at least.
    pub resolve_min_windows: u32,
    /// The hold before resolving grows with the incident's duration times this factor…
    pub resolve_duration_factor: f64,
    /// … up to this much.
    #[serde(skip)]
    pub resolve_max: DurationMs,
    /// A signal is judged abnormal on its windows over this span (failure ratios and
    /// latency quantiles summed, so a quiet service's one failure per window still
    /// counts); the span moves on, so an incident resolves on fresh evidence only.
    #[serde(skip)]
    pub resolve_evidence: DurationMs,
    /// Findings on shared infrastructure (services seen through gauges only) join an
    /// incident opened this recently, and an incident on such a service draws in others.
    #[serde(skip)]
    pub correlation_window: DurationMs,
    /// A finding this soon after resolution re-opens the same incident.
    #[serde(skip)]
    pub flap_window: DurationMs,
    /// How long changes (deploys, config) are remembered to explain incidents.
    #[serde(skip)]
    pub change_memory: DurationMs,
    /// Severity thresholds.
    pub severity: SeverityPolicy,
}

impl Default for IncidentConfig {
    /// 10 s windows; resolve after max(3 windows, min(duration, 5 min)) of quiet, judged
    /// on the last minute's evidence;
    /// re-open within 15 min; changes remembered for an hour.
    fn default() -> Self {
        IncidentConfig {
            window: DurationMs::from_secs(10),
            dimension_names: Vec::new(),
            confirm: ConfirmPolicy::default(),
            resolve_min_windows: 3,
            resolve_duration_factor: 1.0,
            resolve_max: DurationMs::from_secs(300),
            resolve_evidence: DurationMs::from_secs(60),
            flap_window: DurationMs::from_secs(900),
            correlation_window: DurationMs::from_secs(120),
            change_memory: DurationMs::from_secs(3600),
            severity: SeverityPolicy::default(),
        }
    }
}
