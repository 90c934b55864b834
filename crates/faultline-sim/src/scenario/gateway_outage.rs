//! Payment gateway outage: calls to the provider fail or time out, charges fail, successful payments collapse.

use super::{Plan, ramp};
use crate::calendar::{HOUR_MS, MINUTE_MS};
use crate::estate::{Conditions, PAYMENT_GATEWAY, PAYMENTS_API};

/// Mid-afternoon on any day, 40 minutes.
pub(super) const PLAN: Plan = Plan {
    weekday: None,
    at_ms: 14 * HOUR_MS,
    jitter_ms: 90 * MINUTE_MS,
    duration_ms: 40 * MINUTE_MS,
    services: &[PAYMENTS_API, PAYMENT_GATEWAY],
};

/// Sudden: most calls fail within half a minute, and a few recover at the end.
pub(super) fn apply(elapsed_ms: i64, duration_ms: i64, cond: &mut Conditions) {
    let recovering = ramp(duration_ms - elapsed_ms, 2 * MINUTE_MS);
    cond.gateway_fail = 0.85 * ramp(elapsed_ms + 10_000, 30_000) * recovering;
}
