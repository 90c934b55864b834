//! Level-shift detector: two-sided CUSUM on values standardised by a slow robust baseline.

use serde::{Deserialize, Serialize};

use super::finding::{DetectorKind, Direction, Finding};
use crate::signal::SignalPoint;

/// Configuration of the CUSUM level-shift detector. Plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangePointConfig {
    /// Windows learned before any finding.
    pub warmup_windows: u32,
    /// EWMA weight of a new window in the reference mean and spread.
    pub alpha: f64,
    /// Allowance (CUSUM k), in sigmas: drift per window that is ignored.
    pub drift_sigmas: f64,
    /// Decision interval (CUSUM h), in sigmas: a cumulative sum above it is a shift.
    pub alarm_sigmas: f64,
    /// Each window adds at most this many sigmas, so one spike is never a shift.
    pub max_step_sigmas: f64,
    /// Smallest sigma, as a share of |mean|.
    pub rel_sigma_floor: f64,
    /// Smallest sigma, in the signal's unit.
    pub abs_sigma_floor: f64,
}

impl Default for ChangePointConfig {
    fn default() -> Self {
        ChangePointConfig {
            warmup_windows: 30,
            alpha: 0.02,
            drift_sigmas: 0.75,
            alarm_sigmas: 10.0,
            max_step_sigmas: 4.0,
            rel_sigma_floor: 0.02,
            abs_sigma_floor: 1e-9,
        }
    }
}

/// Per-series state: the reference level and the two cumulative sums.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangePointState {
    n: u32,
    #[serde(with = "super::exact")]
    mean: f64,
    #[serde(with = "super::exact")]
    mad: f64,
    #[serde(with = "super::exact")]
    up: f64,
    #[serde(with = "super::exact")]
    down: f64,
    /// Windows since the sums were last zero, to date the shift's onset.
    run: u32,
}

impl ChangePointState {
    /// Adds one window; appends a finding when a level shift is confirmed, then restarts
    /// the reference from the new level.
    pub fn observe(&mut self, config: &ChangePointConfig, point: &SignalPoint, out: &mut Vec<Finding>) {
        let x = point.value;
        if !x.is_finite() {
            return;
        }
        if self.n == 0 {
            self.mean = x;
        }
        let sigma =
            (1.253_314_137 * self.mad).max(config.rel_sigma_floor * self.mean.abs()).max(config.abs_sigma_floor);
        let z = ((x - self.mean) / sigma).clamp(-config.max_step_sigmas, config.max_step_sigmas);
        self.n = self.n.saturating_add(1);
        let a = config.alpha.max(1.0 / f64::from(self.n));
        if self.n <= config.warmup_windows {
            self.mad += ((x - self.mean).abs() - self.mad) * a;
            self.mean += (x - self.mean) * a;
            return;
        }
        self.up = (self.up + z - config.drift_sigmas).max(0.0);
        self.down = (self.down - z - config.drift_sigmas).max(0.0);
        self.run = if self.up == 0.0 && self.down == 0.0 { 0 } else { self.run + 1 };
        let alarm = config.alarm_sigmas;
        if self.up < alarm && self.down < alarm {
            // Learn only from windows that look in control (clipped, so one outlier moves little).
            let clipped = x.clamp(self.mean - 3.0 * sigma, self.mean + 3.0 * sigma);
            self.mad += ((clipped - self.mean).abs() - self.mad) * a;
            self.mean += (clipped - self.mean) * a;
            return;
        }
        let direction = if self.up >= alarm { Direction::Up } else { Direction::Down };
        let before = self.mean;
        out.push(Finding {
            detector: DetectorKind::ChangePoint,
            signal: point.signal.clone(),
            series: point.series,
            window: point.window,
            value: x,
            baseline: Some(before),
            threshold: None,
            score: (self.up.max(self.down) / (2.0 * alarm)).clamp(0.5, 1.0),
            direction,
            detail: Some(format!("level shift from {before:.4} to {x:.4} over the last {} windows", self.run)),
            tail: None,
        });
        // The new level becomes the reference; keep the spread.
        self.mean = x;
        self.up = 0.0;
        self.down = 0.0;
        self.run = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesId;
    use crate::signal::Signal;
    use crate::time::Millis;
    use crate::window::Window;

    fn run(values: &[f64]) -> Vec<Finding> {
        let config = ChangePointConfig::default();
        let mut state = ChangePointState::default();
        let mut out = Vec::new();
        for (i, &value) in values.iter().enumerate() {
            let i = i as i64;
            let point = SignalPoint {
                series: SeriesId(0),
                window: Window { start: Millis(i * 10_000), end: Millis((i + 1) * 10_000) },
                signal: Signal::RequestRate,
                value,
                n: 1,
                k: 0,
            };
            state.observe(&config, &point, &mut out);
        }
        out
    }

    fn noisy(i: usize, level: f64) -> f64 {
        level + ((i * 7919) % 13) as f64 - 6.0
    }

    #[test]
    fn step_down_is_found_once_soon_after_it() {
        let values: Vec<f64> = (0..400).map(|i| noisy(i, if i < 200 { 100.0 } else { 60.0 })).collect();
        let found = run(&values);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].direction, Direction::Down);
        assert!((200..205).contains(&(found[0].window.start.0 / 10_000)));
    }

    #[test]
    fn stationary_noise_and_one_spike_are_not_shifts() {
        let mut values: Vec<f64> = (0..600).map(|i| noisy(i, 100.0)).collect();
        values[300] = 400.0;
        assert!(run(&values).is_empty());
    }
}
