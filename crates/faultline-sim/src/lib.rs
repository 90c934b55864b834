//! Scenario simulator: normal traffic for a small payments estate, with daily and weekly cycles, plus the runbooks' incidents and their ground truth.
//!
//! The estate has two app services, `checkout` and `payments-api`, the
//! `payment-gateway` dependency (outbound calls from payments-api carry
//! `"peer":"payment-gateway"`) and the `payments-db` database. Every
//! 10-second tick emits Poisson-distributed requests (operation, status,
//! latency, region and instance), payment transactions for each charge, and
//! gauges per service (`cpu.utilization`, `memory.utilization`,
//! `db.pool.in_use` with `max`). Traffic follows a day (night trough, evening
//! peak) and a week (Friday evening is the peak); routine deploys happen on
//! working days and change nothing.
//!
//! A [`ScenarioSpec`] names a [`ScenarioName`], a start, a length, a seed and
//! a volume scale; [`generate`] places the incident where its story belongs
//! (the pool exhaustion on a Friday evening, the others in the daytime) and
//! returns its [`GroundTruth`] with a lazy iterator of [`SimEvent`]s, each of
//! which prints as a DESIGN.md JSON line. The same spec always yields the
//! same events.
//!
//! ```
//! use faultline_sim::{ScenarioName, ScenarioSpec, generate};
//!
//! let mut spec = ScenarioSpec::new(ScenarioName::GatewayOutage);
//! spec.days = 0.05;
//! let (truth, events) = generate(&spec);
//! let truth = truth.expect("an incident scenario has a ground truth");
//! assert_eq!(truth.cause, "payment_provider_outage");
//! let first = events.take(1).map(|e| e.to_json_line()).collect::<Vec<_>>();
//! assert!(first[0].starts_with(r#"{"ts":"#));
//! ```

mod calendar;
mod estate;
mod event;
mod sample;
mod scenario;
mod spec;
mod stream;

pub use event::{ChangeKind, SimBody, SimEvent, TxnOutcome};
pub use spec::{DEFAULT_START_MS, GroundTruth, ScenarioName, ScenarioSpec, UnknownScenario};
pub use stream::SimEvents;

use calendar::{DAY_MS, HOUR_MS};
use estate::TICK_MS;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use scenario::Incident;

/// Names of the built-in scenarios: the incident scenarios, then `normal`.
pub fn scenario_names() -> &'static [&'static str] {
    &[
        "gateway-outage",
        "db-pool-exhausted",
        "misconfiguration",
        "memory-leak",
        "slow-queries",
        "bad-deployment",
        "short-outage",
        "silent-drop",
        "normal",
    ]
}

/// The ground truth (`None` for `normal`) and the lazy, time-ordered events of
/// `spec`. The events run from `spec.start_ms` for `spec.days`, stretched so
/// the incident and `spec.tail_hours` after it fit; the onset is the story's
/// first slot after `spec.warmup_days`.
pub fn generate(spec: &ScenarioSpec) -> (Option<GroundTruth>, SimEvents) {
    let earliest = spec.start_ms + (spec.warmup_days.max(0.0) * DAY_MS as f64) as i64;
    let mut place_rng = SmallRng::seed_from_u64(spec.seed ^ 0x7761_726d_7570_2121);
    let incident = Incident::place(spec.scenario, earliest, &mut place_rng);
    let mut end_ms = spec.start_ms + (spec.days.max(0.0) * DAY_MS as f64) as i64;
    if let Some(incident) = &incident {
        end_ms = end_ms.max(incident.end_ms + (spec.tail_hours.max(0.0) * HOUR_MS as f64) as i64);
    }
    // Whole ticks only, so gauges keep their 10 s rhythm to the end.
    end_ms = spec.start_ms + (end_ms - spec.start_ms).div_euclid(TICK_MS).max(0) * TICK_MS;
    let truth = incident.as_ref().map(Incident::truth);
    (truth, SimEvents::new(spec.seed, spec.scale.max(0.0), spec.start_ms, end_ms, incident))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_enum() {
        let names: Vec<&str> = ScenarioName::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, scenario_names());
        for n in ScenarioName::ALL {
            assert_eq!(n.as_str().parse::<ScenarioName>(), Ok(n));
            assert_eq!(n.cause().is_none(), n == ScenarioName::Normal);
        }
        assert!("nope".parse::<ScenarioName>().is_err());
    }
}
