//! Static threshold detector with an n-of-m for-duration and a binomial volume test for ratios.

use serde::{Deserialize, Serialize};

use super::finding::{DetectorKind, Direction, Finding};
use crate::signal::SignalPoint;

/// Configuration of a static threshold. Plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdConfig {
    /// The limit, in the signal's unit (ratio 0–1, milliseconds, share of a pool).
    pub limit: f64,
    /// `Up`: breached above the limit; `Down`: breached below it.
    pub direction: Direction,
    /// Breached windows needed among the last `of_windows` (the for-duration).
    pub breached_windows: u32,
    /// Length of the for-duration, in windows (at most 64).
    pub of_windows: u32,
    /// Ratio signals only: fewest numerator events (errors, failures) a breach needs.
    pub min_count: u64,
    /// Ratio signals only: a window breaches only if P(X >= k | n, p = limit) is below this,
    /// so a handful of errors in a quiet window is not an outage.
    pub max_p_value: f64,
}

impl Default for ThresholdConfig {
    fn default() -> Self {
        ThresholdConfig {
            limit: 0.8,
            direction: Direction::Up,
            breached_windows: 2,
            of_windows: 3,
            min_count: 5,
            max_p_value: 0.01,
        }
    }
}

impl ThresholdConfig {
    /// An upper limit with the default for-duration (2 of the last 3 windows).
    pub fn above(limit: f64) -> Self {
        ThresholdConfig { limit, ..ThresholdConfig::default() }
    }
}

/// Per-series state: which of the last windows breached.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ThresholdState {
    /// Bit i set: the window i windows ago breached.
    history: u64,
}

impl ThresholdState {
    /// Judges one point; appends a finding while the for-duration condition holds.
    pub fn observe(&mut self, config: &ThresholdConfig, point: &SignalPoint, out: &mut Vec<Finding>) {
        let m = config.of_windows.clamp(1, 64);
        let mask = if m == 64 { u64::MAX } else { (1u64 << m) - 1 };
        let (breached, p_value) = breach(config, point);
        self.history = ((self.history << 1) | u64::from(breached)) & mask;
        let count = self.history.count_ones();
        if !breached || count < config.breached_windows.max(1) {
            return;
        }
        let excess = match config.direction {
            Direction::Up => point.value / config.limit.abs().max(f64::MIN_POSITIVE) - 1.0,
            Direction::Down => 1.0 - point.value / config.limit.abs().max(f64::MIN_POSITIVE),
        };
        let score = (0.5 + 0.5 * excess.clamp(0.0, 1.0)).clamp(0.5, 1.0);
        let detail = match p_value {
            Some(p) => {
                format!("{} of last {m} windows past {}; {} of {} (p = {p:.1e})", count, config.limit, point.k, point.n)
            }
            None => format!("{} of last {m} windows past {}", count, config.limit),
        };
        out.push(Finding {
            detector: DetectorKind::Threshold,
            signal: point.signal.clone(),
            series: point.series,
            window: point.window,
            value: point.value,
            baseline: None,
            threshold: Some(config.limit),
            score,
            direction: config.direction,
            detail: Some(detail),
            tail: None,
        });
    }
}

/// Whether the point breaches, and for ratio signals the binomial p-value bound.
fn breach(config: &ThresholdConfig, point: &SignalPoint) -> (bool, Option<f64>) {
    let past = match config.direction {
        Direction::Up => point.value > config.limit,
        Direction::Down => point.value < config.limit,
    };
    if !point.signal.is_ratio() || config.direction == Direction::Down {
        return (past, None);
    }
    if !past || point.k < config.min_count {
        return (false, None);
    }
    let p = binomial_upper_tail_bound(point.k, point.n, config.limit);
    (p < config.max_p_value, Some(p))
}

/// Chernoff bound on P(X >= k) for X ~ Binomial(n, p): `exp(-n KL(k/n || p))` when k/n > p,
/// else 1. An upper bound, so a window it calls significant is significant. O(1) for any n.
pub(crate) fn binomial_upper_tail_bound(k: u64, n: u64, p: f64) -> f64 {
    if n == 0 || k == 0 {
        return 1.0;
    }
    let q = (k as f64 / n as f64).min(1.0);
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    if q <= p {
        return 1.0;
    }
    let kl = if q >= 1.0 { -p.ln() } else { q * (q / p).ln() + (1.0 - q) * ((1.0 - q) / (1.0 - p)).ln() };
    (-(n as f64) * kl).exp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesId;
    use crate::signal::Signal;
    use crate::time::Millis;
    use crate::window::Window;

    fn point(i: i64, signal: Signal, value: f64, n: u64, k: u64) -> SignalPoint {
        SignalPoint {
            series: SeriesId(1),
            window: Window { start: Millis(i * 10_000), end: Millis((i + 1) * 10_000) },
            signal,
            value,
            n,
            k,
        }
    }

    fn run(config: &ThresholdConfig, points: &[SignalPoint]) -> Vec<Finding> {
        let mut state = ThresholdState::default();
        let mut out = Vec::new();
        for p in points {
            state.observe(config, p, &mut out);
        }
        out
    }

    #[test]
    fn few_errors_in_a_quiet_window_are_not_an_outage() {
        let config = ThresholdConfig { breached_windows: 1, of_windows: 1, ..ThresholdConfig::above(0.01) };
        let quiet = point(0, Signal::ErrorRate, 2.0 / 170.0, 170, 2);
        assert!(run(&config, &[quiet]).is_empty());
        let outage = point(0, Signal::ErrorRate, 0.45, 1000, 450);
        assert_eq!(run(&config, &[outage]).len(), 1);
    }

    #[test]
    fn for_duration_needs_n_of_m() {
        let config = ThresholdConfig::above(1000.0);
        let p = |i, v| point(i, Signal::LatencyP95, v, 100, 0);
        assert!(run(&config, &[p(0, 1500.0), p(1, 200.0), p(2, 200.0), p(3, 1500.0)]).is_empty());
        let found = run(&config, &[p(0, 1500.0), p(1, 200.0), p(2, 15_000.0)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].window.start, Millis(20_000));
        assert_eq!(found[0].score, 1.0);
    }

    #[test]
    fn below_limit_fires_downwards() {
        let config = ThresholdConfig { limit: 10.0, direction: Direction::Down, ..ThresholdConfig::default() };
        let found = run(&config, &[point(0, Signal::TxnVolume, 2.0, 2, 0), point(1, Signal::TxnVolume, 1.0, 1, 0)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].direction, Direction::Down);
    }

    #[test]
    fn chernoff_bound_is_conservative() {
        // Exact P(X >= 5 | 50, 0.01) is about 1.7e-4.
        let b = binomial_upper_tail_bound(5, 50, 0.01);
        assert!(b > 1.7e-4 && b < 0.01, "{b}");
        assert_eq!(binomial_upper_tail_bound(0, 10, 0.5), 1.0);
    }
}
