//! What to simulate ([`ScenarioSpec`], [`ScenarioName`]) and what really happened ([`GroundTruth`]).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// A built-in scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScenarioName {
    /// No incident: normal traffic with its cycles and harmless deploys.
    Normal,
    /// The payment provider fails: gateway calls error out, payments fail.
    GatewayOutage,
    /// Friday-evening peak exhausts the DB connection pool.
    DbPoolExhausted,
    /// A config change makes about a quarter of transactions fail for hours.
    Misconfiguration,
    /// Memory climbs until containers restart, over and over.
    MemoryLeak,
    /// Slow database queries: DB CPU high, latency up, timeouts.
    SlowQueries,
    /// A deploy brings a new error pattern and a latency regression.
    BadDeployment,
    /// Eight minutes of a small service's pool full, errors and waits; then half an hour of calm.
    ShortOutage,
    /// Two-thirds of a wallet's top-ups vanish at the evening peak, with no error or latency change.
    SilentDrop,
}

impl ScenarioName {
    /// Every scenario, incident scenarios first and `Normal` last.
    pub const ALL: [ScenarioName; 9] = [
        ScenarioName::GatewayOutage,
        ScenarioName::DbPoolExhausted,
        ScenarioName::Misconfiguration,
        ScenarioName::MemoryLeak,
        ScenarioName::SlowQueries,
        ScenarioName::BadDeployment,
        ScenarioName::ShortOutage,
        ScenarioName::SilentDrop,
        ScenarioName::Normal,
    ];

    /// The scenario's name, as `faultline simulate --scenario` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScenarioName::Normal => "normal",
            ScenarioName::GatewayOutage => "gateway-outage",
            ScenarioName::DbPoolExhausted => "db-pool-exhausted",
            ScenarioName::Misconfiguration => "misconfiguration",
            ScenarioName::MemoryLeak => "memory-leak",
            ScenarioName::SlowQueries => "slow-queries",
            ScenarioName::BadDeployment => "bad-deployment",
            ScenarioName::ShortOutage => "short-outage",
            ScenarioName::SilentDrop => "silent-drop",
        }
    }

    /// The true cause, as DESIGN.md's `probable_causes[].cause`; `None` for `Normal`.
    pub fn cause(self) -> Option<&'static str> {
        match self {
            ScenarioName::Normal => None,
            ScenarioName::GatewayOutage => Some("payment_provider_outage"),
            ScenarioName::DbPoolExhausted => Some("db_pool_exhausted"),
            ScenarioName::Misconfiguration => Some("misconfiguration"),
            ScenarioName::MemoryLeak => Some("memory_leak"),
            ScenarioName::SlowQueries => Some("slow_db_queries"),
            ScenarioName::BadDeployment => Some("bad_deployment"),
            ScenarioName::ShortOutage => Some("db_pool_exhausted"),
            ScenarioName::SilentDrop => Some("silent_transaction_loss"),
        }
    }
}

impl fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scenario name that is not one of [`ScenarioName::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScenario(pub String);

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown scenario `{}` (known: {})", self.0, crate::scenario_names().join(", "))
    }
}

impl std::error::Error for UnknownScenario {}

impl FromStr for ScenarioName {
    type Err = UnknownScenario;

    fn from_str(s: &str) -> Result<ScenarioName, UnknownScenario> {
        ScenarioName::ALL.into_iter().find(|n| n.as_str() == s).ok_or_else(|| UnknownScenario(s.to_string()))
    }
}

/// What to simulate. Build with [`ScenarioSpec::new`] and adjust the fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSpec {
    /// Which scenario.
    pub scenario: ScenarioName,
    /// First event time, epoch milliseconds (the estate's clock is UTC).
    pub start_ms: i64,
    /// Simulated length, days. Stretched when the incident, plus
    /// [`ScenarioSpec::tail_hours`] of recovery, would not fit.
    pub days: f64,
    /// Normal history before the onset, days at least: the incident starts at
    /// its story's first slot (e.g. Friday 18:xx) after `start_ms + warmup_days`.
    pub warmup_days: f64,
    /// Normal traffic after the incident ends, hours at least.
    pub tail_hours: f64,
    /// Seed of every random draw: the same spec gives the same events.
    pub seed: u64,
    /// Request volume relative to the base rates (Friday-peak 240 requests/min
    /// on checkout, 100 on payments-api); about 42 gives the real peak of
    /// 10,000 requests/min on checkout.
    pub scale: f64,
}

/// 2026-11-13T00:00:00Z, a Friday: the default start.
pub const DEFAULT_START_MS: i64 = 1_794_528_000_000;

impl ScenarioSpec {
    /// One day from Friday 2026-11-13 00:00 UTC, no warm-up, one hour of tail,
    /// scale 1, seed 1.
    pub fn new(scenario: ScenarioName) -> ScenarioSpec {
        ScenarioSpec {
            scenario,
            start_ms: DEFAULT_START_MS,
            days: 1.0,
            warmup_days: 0.0,
            tail_hours: 1.0,
            seed: 1,
            scale: 1.0,
        }
    }
}

/// What really happened in a simulated incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroundTruth {
    /// Scenario name, e.g. `gateway-outage`.
    pub scenario: String,
    /// When the incident began, epoch milliseconds (the first degraded tick).
    pub onset_ms: i64,
    /// When the estate was healthy again, epoch milliseconds.
    pub end_ms: i64,
    /// Services (and dependencies) whose telemetry the incident changes.
    pub services: Vec<String>,
    /// The true cause, e.g. `payment_provider_outage`.
    pub cause: String,
}

impl GroundTruth {
    /// The ground truth as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings and integers always serializes")
    }
}
