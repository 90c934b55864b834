//! Friday-evening peak exhausts the DB connection pool: 45 % errors, 15 s responses, pool at 95 %, app CPU 95 %.

use super::{Plan, ramp};
use crate::calendar::{HOUR_MS, MINUTE_MS};
use crate::estate::{AppConditions, CHECKOUT, Conditions, PAYMENTS_API, PAYMENTS_DB};

/// Friday 18:10–18:40, 75 minutes.
pub(super) const PLAN: Plan = Plan {
    weekday: Some(4),
    at_ms: 18 * HOUR_MS + 10 * MINUTE_MS,
    jitter_ms: 30 * MINUTE_MS,
    duration_ms: 75 * MINUTE_MS,
    services: &[CHECKOUT, PAYMENTS_API, PAYMENTS_DB],
};

/// A sales surge builds for 20 minutes before the onset (busy, still healthy);
/// at the onset the pool runs dry within two minutes and stays dry.
pub(super) fn apply(elapsed_ms: i64, duration_ms: i64, cond: &mut Conditions) {
    let surge_start = -20 * MINUTE_MS;
    if elapsed_ms < surge_start || elapsed_ms >= duration_ms {
        return;
    }
    cond.traffic_mult = 1.0 + 0.35 * ramp(elapsed_ms - surge_start, 10 * MINUTE_MS);
    if elapsed_ms < 0 {
        return;
    }
    let k = ramp(elapsed_ms + 10_000, 2 * MINUTE_MS);
    for app in [&mut cond.checkout, &mut cond.payments] {
        exhaust(app, k);
    }
    cond.db_cpu = Some(0.55 + 0.15 * k);
}

fn exhaust(app: &mut AppConditions, k: f64) {
    app.error_share = 0.45 * k;
    app.error_latency_ms = Some(15_000.0);
    app.latency_mult = 1.0 + 39.0 * k;
    app.pool_share = Some(0.45 + 0.50 * k);
    app.cpu = Some(0.55 + 0.40 * k);
}
