//! Severity P0–P3 from measured impact, with the thresholds as config data.

use serde::Deserialize;

#[cfg(test)]
use super::model::Observed;
use super::model::{Incident, Severity, SignalDirection};

/// Severity thresholds (the `[incidents.severity]` config section). The runbooks' table:
/// P0 complete outage or payment processing failed, P1 major functionality impacted,
/// P2 minor, P3 no user impact (capacity warnings).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeverityPolicy {
    /// P0: share of requests failing in one window (most requests failing).
    pub p0_error_share: f64,
    /// P0: share of requests failing in one window on a payment path.
    pub p0_payment_error_share: f64,
    /// P0: share of transactions failing in one window.
    pub p0_txn_failure_share: f64,
    /// P0: successful transaction volume at or below this fraction of its baseline.
    pub p0_txn_volume_ratio: f64,
    /// P1: successful transaction volume at or below this fraction of its baseline (a silent
    /// loss: two-thirds of payments gone with no error or latency change is major impact).
    pub p1_txn_volume_ratio: f64,
    /// P1: share of requests failing in one window.
    pub p1_error_share: f64,
    /// P1: share of transactions failing in one window.
    pub p1_txn_failure_share: f64,
    /// P1: p95 latency, milliseconds ("far above" the 1 s runbook threshold).
    pub p1_latency_p95_ms: f64,
    /// Requests a window needs before its error share counts.
    pub min_requests: u64,
    /// Transactions a window needs before its failure share counts.
    pub min_transactions: u64,
    /// A service whose name contains one of these is on a payment path (as is any
    /// service with transactions).
    pub payment_path_patterns: Vec<String>,
    /// Signals whose anomalies affect users (anything else is a capacity warning).
    pub user_facing_signals: Vec<String>,
}

impl Default for SeverityPolicy {
    fn default() -> Self {
        SeverityPolicy {
            p0_error_share: 0.5,
            p0_payment_error_share: 0.4,
            p0_txn_failure_share: 0.5,
            p0_txn_volume_ratio: 0.3,
            p1_txn_volume_ratio: 0.5,
            p1_error_share: 0.05,
            p1_txn_failure_share: 0.05,
            p1_latency_p95_ms: 3000.0,
            min_requests: 20,
            min_transactions: 10,
            payment_path_patterns: ["pay", "charge", "checkout", "billing", "gateway"].map(String::from).into(),
            user_facing_signals: [
                "error_rate",
                "latency_p50",
                "latency_p95",
                "latency_p99",
                "latency_max",
                "request_rate",
                "txn_volume",
                "txn_failure_rate",
            ]
            .map(String::from)
            .into(),
        }
    }
}

/// Windows a volume drop is measured over before its depth sets the severity.
const MIN_VOLUME_WINDOWS: u32 = 6;

/// What one window measured over an incident's services.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowImpact {
    /// Requests served.
    pub requests: u64,
    /// Of which errors.
    pub errors: u64,
    /// Transactions, declined included.
    pub txn_total: u64,
    /// Failed transactions.
    pub txn_failed: u64,
    /// Largest p95 latency of a request series, ms.
    pub max_latency_p95_ms: f64,
    /// Whether a service in scope is on a payment path.
    pub payment_path: bool,
}

impl SeverityPolicy {
    /// True when `service` is on a payment path by name.
    pub fn is_payment_service(&self, service: &str) -> bool {
        let s = service.to_ascii_lowercase();
        self.payment_path_patterns.iter().any(|p| s.contains(p.as_str()))
    }

    /// The severity one window's impact and the incident's signals call for, with the reason.
    pub fn assess(&self, incident: &Incident, w: &WindowImpact) -> (Severity, String) {
        let error_share = (w.requests >= self.min_requests).then(|| w.errors as f64 / w.requests as f64);
        let txn_share = (w.txn_total >= self.min_transactions).then(|| w.txn_failed as f64 / w.txn_total as f64);
        // Successful transactions down to `ratio` of their baseline, still in the latest window.
        // Judged on the windows since the drop was found (a minute at least), so one empty
        // window of a quiet payment path does not make a P0: (mean per window, normal).
        let dropped_to = |ratio: f64| {
            incident.signals.iter().find_map(|s| {
                let o = &s.observed;
                let measured = s.signal == "txn_volume"
                    && s.direction == SignalDirection::Down
                    && s.last_at >= incident.last_abnormal_at
                    && o.windows >= MIN_VOLUME_WINDOWS
                    && o.expected > 0.0;
                (measured && o.value <= ratio * o.expected)
                    .then(|| (o.value / f64::from(o.windows), o.expected / f64::from(o.windows)))
            })
        };
        let collapsed = dropped_to(self.p0_txn_volume_ratio);
        let pct = |x: f64| format!("{:.0}%", x * 100.0);
        if let Some(e) = error_share.filter(|e| *e >= self.p0_error_share) {
            return (Severity::P0, format!("{} of requests failing", pct(e)));
        }
        if let Some(e) = error_share.filter(|e| w.payment_path && *e >= self.p0_payment_error_share) {
            return (Severity::P0, format!("{} of requests failing on a payment path", pct(e)));
        }
        if let Some(t) = txn_share.filter(|t| *t >= self.p0_txn_failure_share) {
            return (Severity::P0, format!("{} of transactions failing", pct(t)));
        }
        if let Some((v, b)) = collapsed {
            return (Severity::P0, format!("successful transactions collapsed to {v:.1} per window (normal {b:.1})"));
        }
        if let Some(e) = error_share.filter(|e| *e >= self.p1_error_share) {
            return (Severity::P1, format!("{} of requests failing", pct(e)));
        }
        if let Some(t) = txn_share.filter(|t| *t >= self.p1_txn_failure_share) {
            return (Severity::P1, format!("{} of transactions failing", pct(t)));
        }
        if let Some((v, b)) = dropped_to(self.p1_txn_volume_ratio) {
            return (
                Severity::P1,
                format!("successful transactions down to {v:.1} per window, {} of normal {b:.1}", pct(v / b)),
            );
        }
        if w.max_latency_p95_ms >= self.p1_latency_p95_ms {
            return (Severity::P1, format!("p95 latency {:.0} ms", w.max_latency_p95_ms));
        }
        if let Some(s) = incident.signals.iter().find(|s| self.user_facing_signals.contains(&s.signal)) {
            return (Severity::P2, format!("{} abnormal on {}", s.signal, s.series.service));
        }
        let what = incident.signals.first().map_or("capacity", |s| s.signal.as_str());
        (Severity::P3, format!("{what} high without user impact"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::model::incident_with;

    #[test]
    fn a_silent_loss_of_successful_transactions_is_p1_at_half_and_p0_at_under_a_third() {
        let p = SeverityPolicy::default();
        // Six windows at `value` where 100 were expected; the latest window is empty.
        let drop_for = |value: f64, windows: u32| {
            let mut inc = incident_with(&[("txn_volume", 0.0)]);
            let s = &mut inc.signals[0];
            s.direction = SignalDirection::Down;
            s.baseline = Some(100.0);
            s.last_at = inc.last_abnormal_at;
            s.observed = Observed { value: value * f64::from(windows), expected: 100.0 * f64::from(windows), windows };
            inc
        };
        let drop = |value: f64| drop_for(value, 6);
        let quiet = WindowImpact { requests: 1000, errors: 0, txn_total: 500, txn_failed: 0, ..Default::default() };
        let (sev, why) = p.assess(&drop(35.0), &quiet);
        assert_eq!(sev, Severity::P1, "two-thirds of top-ups lost with no error: major impact ({why})");
        assert!(why.contains("35% of normal"), "{why}");
        assert_eq!(p.assess(&drop(25.0), &quiet).0, Severity::P0);
        assert_eq!(p.assess(&drop(70.0), &quiet).0, Severity::P2, "a smaller dip is minor");
        assert_eq!(
            p.assess(&drop_for(0.0, 2), &quiet).0,
            Severity::P2,
            "two empty windows are no measure of depth yet"
        );
    }

    #[test]
    fn runbook_table() {
        let p = SeverityPolicy::default();
        let inc = incident_with(&[("error_rate", 0.45)]);
        let w = |requests, errors, payment_path| WindowImpact { requests, errors, payment_path, ..Default::default() };
        assert_eq!(p.assess(&inc, &w(1000, 600, false)).0, Severity::P0);
        assert_eq!(p.assess(&inc, &w(1000, 450, true)).0, Severity::P0);
        assert_eq!(p.assess(&inc, &w(1000, 450, false)).0, Severity::P1);
        assert_eq!(p.assess(&inc, &w(1000, 10, false)).0, Severity::P2);
        assert_eq!(p.assess(&inc, &w(10, 9, true)).0, Severity::P2, "too few requests to judge");
        let cap = incident_with(&[("pool_saturation", 0.85)]);
        assert_eq!(p.assess(&cap, &w(1000, 1, false)).0, Severity::P3);
        let slow = WindowImpact { max_latency_p95_ms: 15_000.0, ..w(1000, 0, false) };
        assert_eq!(p.assess(&cap, &slow).0, Severity::P1);
    }
}
