//! Short outage: the small wallet service's database pool fills up for eight minutes; requests
//! fail or wait, then all is well again (the half hour after tests that the incident resolves).

use super::Plan;
use crate::calendar::{HOUR_MS, MINUTE_MS};
use crate::estate::{Conditions, WALLET};

/// Daytime on any day, eight minutes.
pub(super) const PLAN: Plan = Plan {
    weekday: None,
    at_ms: 10 * HOUR_MS,
    jitter_ms: 8 * HOUR_MS,
    duration_ms: 8 * MINUTE_MS,
    services: &[WALLET],
};

/// Sudden and total for its length: the pool pinned near full, half the requests failing
/// after waiting for a connection, the rest six times slower.
pub(super) fn apply(cond: &mut Conditions) {
    let w = &mut cond.wallet;
    w.pool_share = Some(0.97);
    w.error_share = 0.5;
    w.error_latency_ms = Some(5_000.0);
    w.latency_mult = 6.0;
}
