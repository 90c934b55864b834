//! Slow database queries: DB CPU high, app latency up strongly, some 504 timeouts.

use super::{Plan, ramp};
use crate::calendar::{HOUR_MS, MINUTE_MS};
use crate::estate::{CHECKOUT, Conditions, PAYMENTS_API, PAYMENTS_DB};

/// Mid-afternoon on any day, one hour.
pub(super) const PLAN: Plan = Plan {
    weekday: None,
    at_ms: 15 * HOUR_MS,
    jitter_ms: HOUR_MS,
    duration_ms: HOUR_MS,
    services: &[PAYMENTS_DB, CHECKOUT, PAYMENTS_API],
};

/// Over five minutes the DB's CPU pins at ~93 %, queries slow both apps
/// sixfold, 4 % of requests time out, and the pools fill to ~70 %.
pub(super) fn apply(elapsed_ms: i64, duration_ms: i64, cond: &mut Conditions) {
    let k = ramp(elapsed_ms + 10_000, 5 * MINUTE_MS).min(ramp(duration_ms - elapsed_ms, 2 * MINUTE_MS));
    cond.db_cpu = Some(0.35 + 0.58 * k);
    for app in [&mut cond.checkout, &mut cond.payments] {
        app.latency_mult = 1.0 + 5.0 * k;
        app.timeout_share = 0.04 * k;
        app.pool_share = Some(0.35 + 0.35 * k);
    }
}
