//! Integration tests of the simulator: determinism, the wire format, each scenario's story, the normal cycles.

mod normal;
mod scenarios;
mod wire;

use faultline_sim::{GroundTruth, ScenarioName, ScenarioSpec, SimBody, SimEvent, generate};

/// 2026-11-20T00:00:00Z, a Friday.
const FRIDAY: i64 = 1_795_132_800_000;
const HOUR_MS: i64 = 3_600_000;

/// A spec starting at `start_ms` for `days`, seed 7.
fn spec(scenario: ScenarioName, start_ms: i64, days: f64) -> ScenarioSpec {
    let mut spec = ScenarioSpec::new(scenario);
    spec.start_ms = start_ms;
    spec.days = days;
    spec.seed = 7;
    spec
}

fn collect(spec: &ScenarioSpec) -> (Option<GroundTruth>, Vec<SimEvent>) {
    let (truth, events) = generate(spec);
    (truth, events.collect())
}

/// Request counts and latencies over a filtered slice of events.
#[derive(Debug, Default)]
struct Requests {
    n: usize,
    errors: usize,
    timeouts: usize,
    latencies: Vec<f64>,
}

impl Requests {
    fn of<'a>(events: impl Iterator<Item = &'a SimEvent>, keep: impl Fn(&'a SimEvent) -> bool) -> Requests {
        let mut r = Requests::default();
        for e in events {
            if let SimBody::Request { status, latency_ms, .. } = &e.body
                && keep(e)
            {
                r.n += 1;
                r.errors += usize::from(*status >= 500);
                r.timeouts += usize::from(*status == 504);
                r.latencies.push(*latency_ms);
            }
        }
        r.latencies.sort_by(f64::total_cmp);
        r
    }

    fn error_share(&self) -> f64 {
        self.errors as f64 / self.n.max(1) as f64
    }

    fn quantile(&self, q: f64) -> f64 {
        self.latencies[((self.latencies.len() - 1) as f64 * q) as usize]
    }
}

/// Mean of a gauge (value, or value / max) over events in `[from, to)`.
fn gauge_mean(events: &[SimEvent], service: &str, name: &str, from: i64, to: i64) -> f64 {
    let vals: Vec<f64> = events
        .iter()
        .filter(|e| e.service == service && (from..to).contains(&e.ts_ms))
        .filter_map(|e| match &e.body {
            SimBody::Gauge { name: n, value, max } if *n == name => Some(value / max.unwrap_or(1.0)),
            _ => None,
        })
        .collect();
    assert!(!vals.is_empty(), "no {service} {name} samples");
    vals.iter().sum::<f64>() / vals.len() as f64
}

fn in_window(e: &SimEvent, from: i64, to: i64) -> bool {
    (from..to).contains(&e.ts_ms)
}
