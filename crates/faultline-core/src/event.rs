//! Decoded events: what the engine records, after parsing and series interning.

use std::sync::Arc;

use crate::series::SeriesId;
use crate::time::Millis;

/// One decoded event, bound to its series. Small and cheap to move: the
/// strings of change events sit behind an `Arc`.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event time.
    pub ts: Millis,
    /// The series the event belongs to.
    pub series: SeriesId,
    /// What happened.
    pub body: EventBody,
}

/// The measurement an event carries; its variant matches its series' kind.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// A served request or an outbound call.
    Request(Request),
    /// A gauge reading.
    Gauge(Gauge),
    /// A business transaction.
    Transaction(Transaction),
    /// A deploy, config change or rollback.
    Change(Arc<Change>),
}

/// A request, already classified.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Request {
    /// Latency in µs, if the event had one.
    pub latency_us: Option<u64>,
    /// Whether it counts as an error (5xx, explicit error, or 4xx when configured).
    pub is_error: bool,
}

/// A gauge reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gauge {
    /// The reading; finite.
    pub value: f64,
    /// The capacity the reading is out of (`db.pool.in_use` of `max`), finite and > 0.
    pub max: Option<f64>,
}

/// A transaction's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Completed.
    Success,
    /// Failed by us or a provider: counts toward the failure rate.
    Failed,
    /// Declined (insufficient funds, fraud rules): counted apart, not a failure.
    Declined,
}

/// A business transaction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transaction {
    /// How it ended.
    pub outcome: Outcome,
    /// Amount in minor units (cents), 0 when absent; integer so sums merge exactly.
    pub amount_minor: i64,
}

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new version deployed.
    Deploy,
    /// A configuration change.
    Config,
    /// A rollback to an earlier version.
    Rollback,
}

impl ChangeKind {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Deploy => "deploy",
            ChangeKind::Config => "config",
            ChangeKind::Rollback => "rollback",
        }
    }
}

/// A change event's details.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// When the change happened (event time).
    pub at: Millis,
    /// Deploy, config or rollback.
    pub kind: ChangeKind,
    /// Version or change id.
    pub id: String,
    /// Free text.
    pub text: String,
}
