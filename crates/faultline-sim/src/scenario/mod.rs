//! Incident scenarios: where each is placed in time and how it degrades the estate; one file per scenario.

mod bad_deployment;
mod db_pool_exhausted;
mod gateway_outage;
mod memory_leak;
mod misconfiguration;
mod short_outage;
mod silent_drop;
mod slow_queries;

use rand::Rng;
use rand::rngs::SmallRng;

use crate::calendar::{DAY_MS, midnight, weekday};
use crate::estate::{Conditions, TICK_MS};
use crate::event::SimEvent;
use crate::spec::{GroundTruth, ScenarioName};

/// When a scenario's story happens and whom it touches.
#[derive(Debug)]
struct Plan {
    /// Required day of week (0 = Monday), or any day.
    weekday: Option<i64>,
    /// Earliest onset, as time of day in ms.
    at_ms: i64,
    /// The onset falls uniformly within `[at_ms, at_ms + jitter_ms)`.
    jitter_ms: i64,
    /// From onset to recovery.
    duration_ms: i64,
    /// Services whose telemetry changes.
    services: &'static [&'static str],
}

/// One incident placed in time.
#[derive(Debug, Clone)]
pub(crate) struct Incident {
    scenario: ScenarioName,
    /// First degraded instant.
    pub(crate) onset_ms: i64,
    /// First healthy instant again.
    pub(crate) end_ms: i64,
}

fn plan(scenario: ScenarioName) -> Option<&'static Plan> {
    Some(match scenario {
        ScenarioName::Normal => return None,
        ScenarioName::GatewayOutage => &gateway_outage::PLAN,
        ScenarioName::DbPoolExhausted => &db_pool_exhausted::PLAN,
        ScenarioName::Misconfiguration => &misconfiguration::PLAN,
        ScenarioName::MemoryLeak => &memory_leak::PLAN,
        ScenarioName::SlowQueries => &slow_queries::PLAN,
        ScenarioName::BadDeployment => &bad_deployment::PLAN,
        ScenarioName::ShortOutage => &short_outage::PLAN,
        ScenarioName::SilentDrop => &silent_drop::PLAN,
    })
}

impl Incident {
    /// Places the scenario's incident at its story's first slot at or after
    /// `earliest_ms`, tick-aligned; `None` for `Normal`.
    pub(crate) fn place(scenario: ScenarioName, earliest_ms: i64, rng: &mut SmallRng) -> Option<Incident> {
        let plan = plan(scenario)?;
        let offset = plan.at_ms + rng.gen_range(0..plan.jitter_ms.max(1));
        let mut day = midnight(earliest_ms);
        while day + offset < earliest_ms || plan.weekday.is_some_and(|w| weekday(day) != w) {
            day += DAY_MS;
        }
        let onset_ms = (day + offset).div_euclid(TICK_MS) * TICK_MS;
        Some(Incident { scenario, onset_ms, end_ms: onset_ms + plan.duration_ms })
    }

    /// What really happened.
    pub(crate) fn truth(&self) -> GroundTruth {
        let services = plan(self.scenario).map_or(&[][..], |p| p.services);
        GroundTruth {
            scenario: self.scenario.as_str().to_string(),
            onset_ms: self.onset_ms,
            end_ms: self.end_ms,
            services: services.iter().map(|s| (*s).to_string()).collect(),
            cause: self.scenario.cause().unwrap_or_default().to_string(),
        }
    }

    /// The change events the story includes (a deploy, a config change, a rollback).
    pub(crate) fn changes(&self) -> Vec<SimEvent> {
        match self.scenario {
            ScenarioName::Misconfiguration => misconfiguration::changes(self.onset_ms, self.end_ms),
            ScenarioName::BadDeployment => bad_deployment::changes(self.onset_ms, self.end_ms),
            _ => Vec::new(),
        }
    }

    /// Degrades `cond` for the tick starting at `t_ms`; a no-op outside the
    /// incident, except for a scenario's own lead-in (the db-pool surge).
    pub(crate) fn apply(&self, t_ms: i64, cond: &mut Conditions) {
        let elapsed = t_ms - self.onset_ms;
        let duration = self.end_ms - self.onset_ms;
        match self.scenario {
            ScenarioName::Normal => {}
            ScenarioName::DbPoolExhausted => db_pool_exhausted::apply(elapsed, duration, cond),
            _ if elapsed < 0 || t_ms >= self.end_ms => {}
            ScenarioName::GatewayOutage => gateway_outage::apply(elapsed, duration, cond),
            ScenarioName::Misconfiguration => misconfiguration::apply(cond),
            ScenarioName::MemoryLeak => memory_leak::apply(elapsed, cond),
            ScenarioName::SlowQueries => slow_queries::apply(elapsed, duration, cond),
            ScenarioName::BadDeployment => bad_deployment::apply(cond),
            ScenarioName::ShortOutage => short_outage::apply(cond),
            ScenarioName::SilentDrop => silent_drop::apply(elapsed, cond),
        }
    }
}

/// How far a ramp of `ramp_ms` has got after `elapsed_ms`, 0 to 1.
fn ramp(elapsed_ms: i64, ramp_ms: i64) -> f64 {
    (elapsed_ms as f64 / ramp_ms as f64).clamp(0.0, 1.0)
}
