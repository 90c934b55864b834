//! When findings may open an incident: strong ones at once, weak ones after n-of-m windows.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::detect::{DetectorKind, Direction, Finding};

/// When findings that belong to no open incident open one (the `[incidents.confirm]`
/// config section). A strong finding opens at once; weak findings open once they
/// span `windows` of the last `within_windows` windows, or cover
/// `immediate_families` signal families in one window; the rest only join
/// incidents that are already open.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfirmPolicy {
    /// Anomalous windows needed …
    pub windows: u32,
    /// … within this many windows.
    pub within_windows: u32,
    /// Findings of these detectors are strong (they confirm over time themselves).
    pub immediate_detectors: Vec<String>,
    /// Weak findings on this many signal families (errors, latency, volume, each
    /// capacity gauge) of one service in one window open at once.
    pub immediate_families: usize,
    /// A ratio finding on fewer failures than this (over the service, in its window)
    /// opens nothing: 1 error in 3 night-time requests is no outage.
    pub min_ratio_failures: u64,
    /// Ratio findings are tested against this failure rate at least (the runbooks'
    /// 1 %): the binomial tail of the window's failures decides their strength.
    pub ratio_null_rate: f64,
    /// A ratio finding whose binomial tail is below this is strong …
    pub strong_tail: f64,
    /// … below this weak, else join-only.
    pub weak_tail: f64,
    /// A volume drop (request rate, successful transactions) whose Poisson lower tail is
    /// below `strong_tail` is strong, below this weak, else join-only.
    pub volume_weak_tail: f64,
    /// An upward finding below this level opens nothing (the runbooks' floors:
    /// a p95 of 300 ms may be unusual, but it is no incident). Trends are exempt.
    pub min_level: BTreeMap<String, f64>,
    /// Signals whose findings never open an incident (they still join one).
    pub join_only: Vec<String>,
    /// A latency quantile over fewer samples than this opens nothing: the p95 of
    /// ten requests is their slowest one, and one slow call is no incident.
    pub min_latency_samples: u64,
    /// After a deploy or config change on a service, for this long (ms) …
    pub change_watch_ms: i64,
    /// … a ratio finding's binomial tail below this is weak, latency floors do not
    /// apply, and latency quantiles need only this many samples.
    pub weak_tail_after_change: f64,
    /// See `weak_tail_after_change`.
    pub min_latency_samples_after_change: u64,
}

/// Whether the service changed (deploy, config) recently: findings right after a
/// change deserve a closer look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// No recent change.
    Normal,
    /// Within the change watch of a deploy or config change.
    AfterChange,
}

/// How much a finding counts toward opening an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Strength {
    /// Joins open incidents only.
    JoinOnly,
    /// Counts toward n-of-m confirmation.
    Weak,
    /// Opens at once.
    Strong,
}

impl Default for ConfirmPolicy {
    fn default() -> Self {
        let floors = [
            ("latency_p50", 1000.0),
            ("latency_p95", 1000.0),
            ("latency_p99", 1000.0),
            ("pool_saturation", 0.8),
            ("cpu", 0.8),
            ("memory", 0.8),
            ("error_rate", 0.01),
            ("txn_failure_rate", 0.01),
        ];
        ConfirmPolicy {
            windows: 2,
            within_windows: 3,
            immediate_detectors: vec!["threshold".into(), "burn_rate".into()],
            immediate_families: 2,
            min_ratio_failures: 2,
            ratio_null_rate: 0.01,
            strong_tail: 1e-5,
            weak_tail: 1e-2,
            volume_weak_tail: 1e-4,
            min_level: floors.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            join_only: vec!["latency_max".into()],
            min_latency_samples: 20,
            change_watch_ms: 15 * 60_000,
            weak_tail_after_change: 0.05,
            min_latency_samples_after_change: 5,
        }
    }
}

impl ConfirmPolicy {
    /// The strength of `f`. For ratio signals `(n, k)` are the trials and failures
    /// behind it, over the service (or the dependency) in the finding's window; for
    /// latency quantiles `n` is the number of samples.
    pub fn strength(&self, f: &Finding, counts: (u64, u64), watch: Watch) -> Strength {
        if self.join_only.iter().any(|s| s == f.signal.as_str()) {
            return Strength::JoinOnly;
        }
        self.evidence_strength(f, counts, watch)
    }

    /// Whether `f` keeps an open incident open: its signal is off in the harmful
    /// direction and the window's own evidence is as significant as opening needs
    /// (a weak finding at least, join-only signals included). A detector with memory
    /// (a burn rate's decayed windows, a frozen baseline) can still report after the
    /// failures stopped; one error in nine quiet requests holds nothing.
    pub fn holds(&self, f: &Finding, counts: (u64, u64), watch: Watch) -> bool {
        harms(f.signal.as_str(), f.direction) && self.evidence_strength(f, counts, watch) != Strength::JoinOnly
    }

    /// [`ConfirmPolicy::strength`] without the `join_only` list.
    fn evidence_strength(&self, f: &Finding, (n, k): (u64, u64), watch: Watch) -> Strength {
        let name = f.signal.as_str();
        if contradicts(f) {
            return Strength::JoinOnly;
        }
        let confirms_itself = self.immediate_detectors.iter().any(|d| d == f.detector.as_str());
        let latency = name.starts_with("latency_");
        let min_samples = match watch {
            Watch::Normal => self.min_latency_samples,
            Watch::AfterChange => self.min_latency_samples_after_change,
        };
        if latency && n < min_samples && !confirms_itself {
            return Strength::JoinOnly;
        }
        let floor = self.min_level.get(name).copied().filter(|_| !(latency && watch == Watch::AfterChange));
        if f.direction == Direction::Up && f.detector != DetectorKind::Trend && floor.is_some_and(|l| f.value < l) {
            return Strength::JoinOnly;
        }
        if f.signal.is_ratio() && f.direction == Direction::Up {
            if k < self.min_ratio_failures {
                return Strength::JoinOnly;
            }
            let p0 = f.baseline.unwrap_or(0.0).max(self.ratio_null_rate);
            let tail = binomial_tail(n, k, p0);
            let weak_tail = match watch {
                Watch::Normal => self.weak_tail,
                Watch::AfterChange => self.weak_tail_after_change,
            };
            return if tail < self.strong_tail {
                Strength::Strong
            } else if tail < weak_tail {
                Strength::Weak
            } else {
                Strength::JoinOnly
            };
        }
        if f.direction == Direction::Up && volume_count(f).is_some() {
            // More traffic than usual is a surge to watch, not an incident by itself.
            return Strength::JoinOnly;
        }
        if let (Some(expected), Direction::Down, Some(count)) = (f.baseline, f.direction, volume_count(f)) {
            // A volume drop is as strong as the count is unlikely under the expected level.
            let tail = poisson_lower_tail(count, expected * volume_scale(f)).min(f.tail.unwrap_or(1.0));
            return if tail < self.strong_tail {
                Strength::Strong
            } else if tail < self.volume_weak_tail {
                Strength::Weak
            } else {
                Strength::JoinOnly
            };
        }
        if confirms_itself {
            return Strength::Strong;
        }
        Strength::Weak
    }
}

/// True when a finding's value sits on the normal side of its own baseline (an
/// "up" anomaly below the expected level): such findings are ignored.
pub(crate) fn contradicts(f: &Finding) -> bool {
    match (f.direction, f.baseline) {
        (Direction::Up, Some(b)) => f.value <= b,
        (Direction::Down, Some(b)) => f.value >= b,
        _ => false,
    }
}

/// The count behind a volume signal's value, if it is one.
fn volume_count(f: &Finding) -> Option<u64> {
    match f.signal.as_str() {
        "txn_volume" | "request_rate" => Some((f.value * volume_scale(f)).round().max(0.0) as u64),
        _ => None,
    }
}

/// Multiplier from a volume signal's unit to a count per window.
fn volume_scale(f: &Finding) -> f64 {
    if f.signal.as_str() == "request_rate" { f.window.secs() } else { 1.0 }
}

/// P(X ≤ k) for X ~ Poisson(λ).
pub(crate) fn poisson_lower_tail(k: u64, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    let mut log_term = -lambda;
    let mut sum = log_term.exp();
    for i in 1..=k {
        log_term += lambda.ln() - (i as f64).ln();
        sum += log_term.exp();
    }
    sum.min(1.0)
}

/// P(X ≥ k) for X ~ Binomial(n, p), summed in log space from k upward.
pub(crate) fn binomial_tail(n: u64, k: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let ln_choose = (0..k).map(|i| ((n - i) as f64).ln() - ((i + 1) as f64).ln()).sum::<f64>();
    let mut log_term = ln_choose + k as f64 * p.ln() + (n - k) as f64 * (1.0 - p).ln();
    let ratio = (p / (1.0 - p)).ln();
    let mut sum = 0.0;
    for i in k..=n {
        let term = log_term.exp();
        sum += term;
        if term < sum * 1e-12 && i as f64 > n as f64 * p {
            break;
        }
        log_term += ((n - i) as f64).ln() - ((i + 1) as f64).ln() + ratio;
    }
    sum.min(1.0)
}

/// Whether a move of `signal` in `direction` hurts users: less traffic or fewer
/// successful transactions, or more of anything else (errors, latency, saturation).
pub(crate) fn harms(signal: &str, direction: Direction) -> bool {
    let volume = matches!(signal, "request_rate" | "txn_volume");
    (direction == Direction::Down) == volume
}

/// The family of a signal: anomalies of one family in one window are one piece of evidence.
pub(crate) fn family(signal: &str) -> &str {
    match signal {
        "error_rate" | "txn_failure_rate" => "errors",
        "request_rate" | "txn_volume" => "volume",
        s if s.starts_with("latency_") => "latency",
        s => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_matches_hand_values() {
        assert!((binomial_tail(10, 1, 0.1) - (1.0 - 0.9f64.powi(10))).abs() < 1e-12);
        assert!((binomial_tail(4, 4, 0.5) - 0.0625).abs() < 1e-12);
        assert_eq!(binomial_tail(5, 0, 0.3), 1.0);
        assert_eq!(binomial_tail(5, 6, 0.3), 0.0);
        // 2 errors in 170 night-time requests at the 1 % floor: not rare at all.
        assert!(binomial_tail(170, 2, 0.01) > 0.1);
        // 6 of 7 gateway calls failing: overwhelming.
        assert!(binomial_tail(7, 6, 0.01) < 1e-10);
        assert!((poisson_lower_tail(0, 2.0) - (-2.0f64).exp()).abs() < 1e-12);
        // 6 transactions where 12 were expected happens; 0 where 40 were expected does not.
        assert!(poisson_lower_tail(6, 12.0) > 1e-2);
        assert!(poisson_lower_tail(0, 40.0) < 1e-15);
    }
}
