//! The lazy event stream of one scenario: tick after tick, in time order, with the changes merged in.

use std::collections::VecDeque;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::calendar::{DAY_MS, HOUR_MS, MINUTE_MS, midnight, weekday};
use crate::estate::{CHECKOUT, Conditions, Estate, PAYMENTS_API, TICK_MS};
use crate::event::{ChangeKind, SimBody, SimEvent};
use crate::scenario::Incident;

/// The events of one scenario, generated lazily one 10-second tick at a time,
/// in non-decreasing time order. Built by [`crate::generate`].
#[derive(Debug)]
pub struct SimEvents {
    rng: SmallRng,
    /// The wallet service's own stream.
    wallet_rng: SmallRng,
    estate: Estate,
    incident: Option<Incident>,
    /// Change events not yet emitted, latest first (so `pop` yields the next).
    changes: Vec<SimEvent>,
    /// Start of the next tick to generate.
    next_tick_ms: i64,
    end_ms: i64,
    ready: VecDeque<SimEvent>,
    scratch: Vec<SimEvent>,
}

impl SimEvents {
    /// Events over `[start_ms, end_ms)` of an estate at `scale`, degraded by `incident`.
    pub(crate) fn new(seed: u64, scale: f64, start_ms: i64, end_ms: i64, incident: Option<Incident>) -> SimEvents {
        // Changes and traffic draw from separate streams, so the harmless
        // deploys of a seed stay put whatever the traffic volume.
        let mut plan_rng = SmallRng::seed_from_u64(seed ^ 0x6368_616e_6765_7321);
        let mut changes = harmless_changes(&mut plan_rng, start_ms, end_ms, incident.as_ref());
        if let Some(incident) = &incident {
            changes.extend(incident.changes());
        }
        changes.retain(|c| (start_ms..end_ms).contains(&c.ts_ms));
        changes.sort_by_key(|c| std::cmp::Reverse(c.ts_ms));
        SimEvents {
            rng: SmallRng::seed_from_u64(seed),
            wallet_rng: SmallRng::seed_from_u64(seed ^ 0x7761_6c6c_6574_2121),
            estate: Estate::new(scale),
            incident,
            changes,
            next_tick_ms: start_ms,
            end_ms,
            ready: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// End of the simulated span, epoch ms (exclusive): every event is before it.
    pub fn end_ms(&self) -> i64 {
        self.end_ms
    }

    /// Generates the next tick into `ready`, in time order.
    fn fill(&mut self) {
        let t0 = self.next_tick_ms;
        let t1 = (t0 + TICK_MS).min(self.end_ms);
        self.next_tick_ms = t0 + TICK_MS;
        let mut cond = Conditions::default();
        if let Some(incident) = &self.incident {
            incident.apply(t0, &mut cond);
        }
        self.scratch.clear();
        self.estate.tick(&mut self.rng, &mut self.wallet_rng, t0, &cond, &mut self.scratch);
        self.scratch.retain(|e| e.ts_ms < t1);
        while self.changes.last().is_some_and(|c| c.ts_ms < t1) {
            self.scratch.extend(self.changes.pop());
        }
        self.scratch.sort_by_key(|e| e.ts_ms);
        self.ready.extend(self.scratch.drain(..));
    }
}

impl Iterator for SimEvents {
    type Item = SimEvent;

    fn next(&mut self) -> Option<SimEvent> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.next_tick_ms >= self.end_ms {
                return None;
            }
            self.fill();
        }
    }
}

/// Routine releases and config tweaks that harm nothing: most working days
/// see a deploy between 10:00 and 16:00, some a feature-flag change; none
/// within three hours before an incident or during it, so they never pose
/// as its cause.
fn harmless_changes(rng: &mut SmallRng, start_ms: i64, end_ms: i64, incident: Option<&Incident>) -> Vec<SimEvent> {
    let mut out = Vec::new();
    let mut patch = [0u32; 2];
    let mut day = midnight(start_ms);
    while day < end_ms {
        let working_day = weekday(day) < 5;
        let deploy_at = day + 10 * HOUR_MS + rng.gen_range(0..6 * HOUR_MS);
        let service_idx = rng.gen_range(0..2);
        let deploys = rng.r#gen::<f64>() < 0.85;
        let flag_at = day + 9 * HOUR_MS + rng.gen_range(0..8 * HOUR_MS);
        let flags = rng.r#gen::<f64>() < 0.25;
        let clear = |ts: i64| incident.is_none_or(|i| ts < i.onset_ms - 3 * HOUR_MS || ts >= i.end_ms + 30 * MINUTE_MS);
        if working_day && deploys && clear(deploy_at) {
            patch[service_idx] += 1;
            let (service, minor) = [(CHECKOUT, 3), (PAYMENTS_API, 7)][service_idx];
            out.push(SimEvent {
                ts_ms: deploy_at,
                service,
                body: SimBody::Change {
                    change: ChangeKind::Deploy,
                    id: format!("v2.{minor}.{}", patch[service_idx]),
                    text: "routine release".into(),
                },
            });
        }
        if working_day && flags && clear(flag_at) {
            out.push(SimEvent {
                ts_ms: flag_at,
                service: PAYMENTS_API,
                body: SimBody::Change {
                    change: ChangeKind::Config,
                    id: format!("cfg-{}", 1000 + (day / DAY_MS) % 1000),
                    text: "feature flag rollout".into(),
                },
            });
        }
        day += DAY_MS;
    }
    out
}
