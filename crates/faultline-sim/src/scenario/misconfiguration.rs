//! Misconfiguration after a release: a config change, then a quarter of charges fail for hours while DB and network look fine.

use super::Plan;
use crate::calendar::HOUR_MS;
use crate::estate::{Conditions, PAYMENTS_API};
use crate::event::{ChangeKind, SimBody, SimEvent};

/// Early afternoon on any day, three hours.
pub(super) const PLAN: Plan = Plan {
    weekday: None,
    at_ms: 13 * HOUR_MS,
    jitter_ms: 2 * HOUR_MS,
    duration_ms: 3 * HOUR_MS,
    services: &[PAYMENTS_API],
};

/// The config change lands 40 s before the onset and is reverted at the end.
pub(super) fn changes(onset_ms: i64, end_ms: i64) -> Vec<SimEvent> {
    let change = |ts_ms, id: &str, text: &str| SimEvent {
        ts_ms,
        service: PAYMENTS_API,
        body: SimBody::Change { change: ChangeKind::Config, id: id.into(), text: text.into() },
    };
    vec![
        change(onset_ms - 40_000, "cfg-2291", "enable 3-D Secure routing for EU cards"),
        change(end_ms, "cfg-2292", "revert cfg-2291"),
    ]
}

/// Our own validation refuses a quarter of charges; the gateway, the DB and the gauges are untouched.
pub(super) fn apply(cond: &mut Conditions) {
    cond.charge_reject = 0.25;
}
