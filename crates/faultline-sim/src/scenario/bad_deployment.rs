//! Bad deployment: a checkout deploy, then `POST /checkout` starts failing and every checkout call slows down.

use super::Plan;
use crate::calendar::{HOUR_MS, MINUTE_MS};
use crate::estate::{CHECKOUT, Conditions};
use crate::event::{ChangeKind, SimBody, SimEvent};

/// Late morning to mid-afternoon on any day, 90 minutes until the rollback.
pub(super) const PLAN: Plan = Plan {
    weekday: None,
    at_ms: 11 * HOUR_MS,
    jitter_ms: 3 * HOUR_MS,
    duration_ms: 90 * MINUTE_MS,
    services: &[CHECKOUT],
};

/// The deploy finishes rolling out 60 s before the onset; the rollback ends it.
pub(super) fn changes(onset_ms: i64, end_ms: i64) -> Vec<SimEvent> {
    let change = |ts_ms, change, id: &str, text: &str| SimEvent {
        ts_ms,
        service: CHECKOUT,
        body: SimBody::Change { change, id: id.into(), text: text.into() },
    };
    vec![
        change(onset_ms - 60_000, ChangeKind::Deploy, "v2.4.0", "new basket pricing engine"),
        change(end_ms, ChangeKind::Rollback, "v2.3.9", "roll back v2.4.0"),
    ]
}

/// A new error pattern on one operation, and a regression on all of them.
pub(super) fn apply(cond: &mut Conditions) {
    cond.checkout.op_errors = Some(("POST /checkout", 0.18));
    cond.checkout.latency_mult = 2.5;
}
