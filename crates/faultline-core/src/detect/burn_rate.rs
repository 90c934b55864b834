//! SLO burn-rate detector: multi-window, multi-burn-rate alerts on an error budget.
//!
//! Each window contributes `n` events of which `bad` spent error budget: for availability
//! (ratio signals) `bad = k`; for latency, the share of slow requests is taken from the
//! quantile proxy (a p95 above the latency objective means at least 5 % of requests were
//! slow). The bad and total counts are summed over a long and a short window per alert pair
//! (as exponentially decayed sums whose time constant is the window length, so state is
//! O(1) per pair); the pair fires when both burn rates, `(bad / n) / (1 - objective)`, are
//! at or above its factor (Google SRE workbook, "Alerting on SLOs").

use serde::{Deserialize, Serialize};

use super::finding::{DetectorKind, Direction, Finding};
use crate::signal::{Signal, SignalPoint};

/// One alert pair: both windows must burn at least `burn_rate` times the sustainable rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BurnWindowPair {
    /// Burn-rate factor (14.4 spends 2 % of a 30-day budget in 1 h).
    pub burn_rate: f64,
    /// Long window, seconds.
    pub long_secs: f64,
    /// Short window, seconds (stops the alert soon after recovery).
    pub short_secs: f64,
}

/// Configuration of an SLO burn-rate detector. Plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BurnRateConfig {
    /// The objective, e.g. 0.999 (the error budget is `1 - objective`).
    pub objective: f64,
    /// Latency signals only: the latency objective in ms; a window whose quantile is above
    /// it counts `1 - q` of its requests as slow (q = 0.5, 0.95, 0.99 for p50, p95, p99).
    pub latency_ms: f64,
    /// Alert pairs, most urgent first.
    pub pairs: Vec<BurnWindowPair>,
}

impl Default for BurnRateConfig {
    fn default() -> Self {
        BurnRateConfig {
            objective: 0.999,
            latency_ms: 1000.0,
            pairs: vec![
                BurnWindowPair { burn_rate: 14.4, long_secs: 3600.0, short_secs: 300.0 },
                BurnWindowPair { burn_rate: 6.0, long_secs: 6.0 * 3600.0, short_secs: 1800.0 },
            ],
        }
    }
}

/// Decayed sums of bad and total events over one time constant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct DecayedCounts {
    #[serde(with = "super::exact")]
    bad: f64,
    #[serde(with = "super::exact")]
    total: f64,
}

/// Per-series state: decayed counts per window of every pair (long, short).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BurnRateState {
    windows: Vec<DecayedCounts>,
    /// Seconds of signal seen, so a window is not judged before it has filled.
    #[serde(with = "super::exact")]
    seen_secs: f64,
    /// Window length the decay factors were computed for, seconds.
    #[serde(with = "super::exact")]
    keep_for_secs: f64,
    /// Decay factor per window of every pair's long and short sums.
    #[serde(with = "super::exact::vec")]
    keep: Vec<f64>,
}

impl BurnRateState {
    /// Adds one window's counts; appends a finding for the first pair that fires.
    pub fn observe(&mut self, config: &BurnRateConfig, point: &SignalPoint, out: &mut Vec<Finding>) {
        let Some((bad, total)) = bad_and_total(config, point) else { return };
        let window_secs = point.window.secs().max(1e-3);
        if self.windows.len() != config.pairs.len() * 2 {
            self.windows = vec![DecayedCounts::default(); config.pairs.len() * 2];
        }
        self.seen_secs += window_secs;
        if self.keep_for_secs != window_secs || self.keep.len() != self.windows.len() {
            self.keep_for_secs = window_secs;
            self.keep = config
                .pairs
                .iter()
                .flat_map(|p| [p.long_secs, p.short_secs])
                .map(|secs| (-window_secs / secs.max(window_secs)).exp())
                .collect();
        }
        let budget = (1.0 - config.objective).max(1e-12);
        let mut fired: Option<(&BurnWindowPair, f64, f64)> = None;
        for ((pair, counts), keeps) in
            config.pairs.iter().zip(self.windows.chunks_exact_mut(2)).zip(self.keep.chunks_exact(2))
        {
            let mut rates = [0.0; 2];
            for ((counts, &keep), rate) in counts.iter_mut().zip(keeps).zip(&mut rates) {
                counts.bad = counts.bad * keep + bad;
                counts.total = counts.total * keep + total;
                *rate = if counts.total > 0.0 { counts.bad / counts.total / budget } else { 0.0 };
            }
            let filled = self.seen_secs >= pair.short_secs;
            if fired.is_none() && filled && rates[0] >= pair.burn_rate && rates[1] >= pair.burn_rate {
                fired = Some((pair, rates[0], rates[1]));
            }
        }
        let Some((pair, long, short)) = fired else { return };
        out.push(Finding {
            detector: DetectorKind::BurnRate,
            signal: point.signal.clone(),
            series: point.series,
            window: point.window,
            value: point.value,
            baseline: None,
            threshold: Some(pair.burn_rate),
            score: (0.5 + 0.5 * (short.min(long) / pair.burn_rate - 1.0)).clamp(0.5, 1.0),
            direction: Direction::Up,
            detail: Some(format!(
                "error budget burning {long:.1}x over {} and {short:.1}x over {} (alert at {}x)",
                duration_text(pair.long_secs),
                duration_text(pair.short_secs),
                pair.burn_rate
            )),
            tail: None,
        });
    }
}

/// Bad and total events of a point, or None for signals without an SLO reading.
fn bad_and_total(config: &BurnRateConfig, point: &SignalPoint) -> Option<(f64, f64)> {
    let n = point.n as f64;
    if point.signal.is_ratio() {
        return Some((point.k as f64, n));
    }
    let q = match point.signal {
        Signal::LatencyP50 => 0.5,
        Signal::LatencyP95 => 0.95,
        Signal::LatencyP99 => 0.99,
        _ => return None,
    };
    Some((if point.value > config.latency_ms { n * (1.0 - q) } else { 0.0 }, n))
}

/// "1h", "5m", "90s".
fn duration_text(secs: f64) -> String {
    if secs >= 3600.0 && secs % 3600.0 == 0.0 {
        format!("{}h", secs / 3600.0)
    } else if secs >= 60.0 && secs % 60.0 == 0.0 {
        format!("{}m", secs / 60.0)
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesId;
    use crate::time::Millis;
    use crate::window::Window;

    fn point(i: i64, n: u64, k: u64) -> SignalPoint {
        SignalPoint {
            series: SeriesId(1),
            window: Window { start: Millis(i * 60_000), end: Millis((i + 1) * 60_000) },
            signal: Signal::ErrorRate,
            value: k as f64 / n as f64,
            n,
            k,
        }
    }

    #[test]
    fn fast_burn_fires_within_minutes_and_normal_errors_do_not() {
        let config = BurnRateConfig::default();
        let mut state = BurnRateState::default();
        let mut out = Vec::new();
        for i in 0..600 {
            state.observe(&config, &point(i, 1000, 0), &mut out);
        }
        assert!(out.is_empty());
        // 45 % errors: 450x the budget of a 99.9 % SLO.
        for i in 600..610 {
            state.observe(&config, &point(i, 1000, 450), &mut out);
        }
        assert!(!out.is_empty());
        assert!(out[0].window.start.0 <= 602 * 60_000, "{:?}", out[0].window);
        assert!(out[0].detail.as_deref().is_some_and(|d| d.contains("1h")));
    }

    #[test]
    fn slow_burn_uses_the_six_hour_pair() {
        let config = BurnRateConfig::default();
        let mut state = BurnRateState::default();
        let mut out = Vec::new();
        // 0.8 % errors: 8x the budget, below 14.4, above 6.
        for i in 0..600 {
            state.observe(&config, &point(i, 1000, 8), &mut out);
        }
        assert!(out.iter().all(|f| f.threshold == Some(6.0)));
        assert!(!out.is_empty());
    }

    #[test]
    fn latency_quantile_proxy_counts_slow_share() {
        let config = BurnRateConfig::default();
        let p = SignalPoint { signal: Signal::LatencyP95, value: 1500.0, ..point(0, 200, 0) };
        assert_eq!(bad_and_total(&config, &p), Some((200.0 * (1.0 - 0.95), 200.0)));
        let cpu = SignalPoint { signal: Signal::Cpu, ..point(0, 1, 0) };
        assert_eq!(bad_and_total(&config, &cpu), None);
    }
}
