//! Memory leak: checkout's memory climbs for over an hour, the containers restart with a burst of errors, and again.

use super::Plan;
use crate::calendar::{HOUR_MS, MINUTE_MS};
use crate::estate::{CHECKOUT, Conditions};

/// Morning on any day, five hours (four leak cycles).
pub(super) const PLAN: Plan =
    Plan { weekday: None, at_ms: 9 * HOUR_MS, jitter_ms: HOUR_MS, duration_ms: 5 * HOUR_MS, services: &[CHECKOUT] };

/// From leak start to out-of-memory restart.
const CYCLE_MS: i64 = 75 * MINUTE_MS;
/// How long requests fail while the containers come back.
const RESTART_MS: i64 = 60_000;

/// Memory climbs linearly from 45 % to 93 % per cycle; near the top garbage
/// collection slows requests and burns CPU; each restart fails a third of
/// requests for a minute.
pub(super) fn apply(elapsed_ms: i64, cond: &mut Conditions) {
    let in_cycle = elapsed_ms.rem_euclid(CYCLE_MS);
    let memory = 0.45 + 0.48 * in_cycle as f64 / CYCLE_MS as f64;
    let app = &mut cond.checkout;
    app.memory = Some(memory);
    let pressure = ((memory - 0.75) / 0.18).max(0.0);
    app.latency_mult = 1.0 + 1.5 * pressure;
    app.cpu = (pressure > 0.0).then_some(0.45 + 0.35 * pressure);
    if elapsed_ms >= CYCLE_MS && in_cycle < RESTART_MS {
        app.error_share = 0.35;
        app.memory = Some(0.30);
    }
}
