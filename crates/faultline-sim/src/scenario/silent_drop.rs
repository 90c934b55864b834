//! Silent drop: at the evening peak two-thirds of wallet top-ups stop arriving (a broken client
//! release, a routing change upstream); no error, no latency change, only missing payments.

use super::{Plan, ramp};
use crate::calendar::{HOUR_MS, MINUTE_MS};
use crate::estate::{Conditions, WALLET};

/// The evening peak on any day, 45 minutes.
pub(super) const PLAN: Plan = Plan {
    weekday: None,
    at_ms: 18 * HOUR_MS,
    jitter_ms: 2 * HOUR_MS,
    duration_ms: 45 * MINUTE_MS,
    services: &[WALLET],
};

/// Successful top-ups fall to 35 % within a minute and stay there.
pub(super) fn apply(elapsed_ms: i64, cond: &mut Conditions) {
    cond.topup_loss = 0.65 * ramp(elapsed_ms + 10_000, MINUTE_MS);
}
