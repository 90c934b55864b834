//! Trend detector: a steady climb toward a limit, with its time to exhaustion.
//!
//! An exponentially weighted least-squares line is fitted to (window time, value); when the
//! fit is good (R² high), the slope points at the limit, and the limit is reached within
//! the horizon at that slope, the detector reports the time to exhaustion (a memory leak,
//! a connection pool filling up).

use serde::{Deserialize, Serialize};

use super::finding::{DetectorKind, Direction, Finding};
use crate::signal::SignalPoint;

/// Configuration of the trend detector. Plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrendConfig {
    /// The limit the signal must not reach (1.0 for a saturation or utilisation ratio).
    pub limit: f64,
    /// Report when the limit is reached within this many seconds at the fitted slope.
    pub horizon_secs: f64,
    /// Memory of the fit, in windows (weights halve every this many windows).
    pub half_life_windows: f64,
    /// Windows seen before any finding.
    pub min_windows: u32,
    /// Smallest coefficient of determination of the fit.
    pub min_r2: f64,
}

impl Default for TrendConfig {
    fn default() -> Self {
        TrendConfig { limit: 1.0, horizon_secs: 3600.0, half_life_windows: 60.0, min_windows: 30, min_r2: 0.8 }
    }
}

/// Per-series state: decayed sums of the weighted regression, x in seconds relative to the
/// latest window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrendState {
    n: u32,
    last_ms: i64,
    #[serde(with = "super::exact")]
    sw: f64,
    #[serde(with = "super::exact")]
    sx: f64,
    #[serde(with = "super::exact")]
    sy: f64,
    #[serde(with = "super::exact")]
    sxx: f64,
    #[serde(with = "super::exact")]
    sxy: f64,
    #[serde(with = "super::exact")]
    syy: f64,
}

impl TrendState {
    /// Adds one window; appends a finding while the signal climbs toward the limit and would
    /// reach it within the horizon.
    pub fn observe(&mut self, config: &TrendConfig, point: &SignalPoint, out: &mut Vec<Finding>) {
        let y = point.value;
        if !y.is_finite() {
            return;
        }
        let now_ms = point.window.end.0;
        let shift = if self.n == 0 { 0.0 } else { (now_ms - self.last_ms) as f64 / 1000.0 };
        self.last_ms = now_ms;
        // Re-centre x on the newest window: x' = x - shift.
        self.sxx += -2.0 * shift * self.sx + shift * shift * self.sw;
        self.sxy -= shift * self.sy;
        self.sx -= shift * self.sw;
        let keep = 0.5f64.powf(1.0 / config.half_life_windows.max(1.0));
        self.sw = self.sw * keep + 1.0;
        self.sx *= keep;
        self.sy = self.sy * keep + y;
        self.sxx *= keep;
        self.sxy *= keep;
        self.syy = self.syy * keep + y * y;
        self.n = self.n.saturating_add(1);
        if self.n < config.min_windows {
            return;
        }
        let Some((slope_per_sec, fitted_now, r2)) = self.fit() else { return };
        if r2 < config.min_r2 || slope_per_sec <= 0.0 || fitted_now >= config.limit {
            return;
        }
        let secs_left = (config.limit - fitted_now) / slope_per_sec;
        if secs_left > config.horizon_secs {
            return;
        }
        out.push(Finding {
            detector: DetectorKind::Trend,
            signal: point.signal.clone(),
            series: point.series,
            window: point.window,
            value: y,
            baseline: Some(fitted_now),
            threshold: Some(config.limit),
            score: (1.0 - secs_left / config.horizon_secs).clamp(0.0, 1.0) * 0.5 + 0.5,
            direction: Direction::Up,
            detail: Some(format!(
                "{} reaches {} in ~{:.0} min at {:+.4}/min (R² {:.2})",
                point.signal,
                config.limit,
                secs_left / 60.0,
                slope_per_sec * 60.0,
                r2
            )),
            tail: None,
        });
    }

    /// Slope per second, the fitted value now (x = 0) and R², if the fit is defined.
    fn fit(&self) -> Option<(f64, f64, f64)> {
        let mx = self.sx / self.sw;
        let my = self.sy / self.sw;
        let vxx = self.sxx / self.sw - mx * mx;
        let vyy = self.syy / self.sw - my * my;
        let cxy = self.sxy / self.sw - mx * my;
        if vxx <= 1e-12 || vyy <= 1e-18 {
            return None;
        }
        let slope = cxy / vxx;
        let r2 = (cxy * cxy / (vxx * vyy)).clamp(0.0, 1.0);
        Some((slope, my - slope * mx, r2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::SeriesId;
    use crate::signal::Signal;
    use crate::time::Millis;
    use crate::window::Window;

    fn run(values: impl Iterator<Item = f64>) -> Vec<Finding> {
        let config = TrendConfig::default();
        let mut state = TrendState::default();
        let mut out = Vec::new();
        for (i, value) in values.enumerate() {
            let i = i as i64;
            let point = SignalPoint {
                series: SeriesId(0),
                window: Window { start: Millis(i * 60_000), end: Millis((i + 1) * 60_000) },
                signal: Signal::Memory,
                value,
                n: 1,
                k: 0,
            };
            state.observe(&config, &point, &mut out);
        }
        out
    }

    #[test]
    fn memory_leak_reports_time_to_exhaustion() {
        // +0.005 per minute from 0.40 with a little noise: 1.0 is reached at minute 120.
        let found = run((0..80).map(|i| 0.40 + 0.005 * i as f64 + if i % 2 == 0 { 0.002 } else { -0.002 }));
        let first = found.first().expect("the leak is found");
        let minute = first.window.start.0 / 60_000;
        assert!(minute < 65, "found at minute {minute}");
        let detail = first.detail.as_deref().unwrap_or_default();
        assert!(detail.contains("reaches 1 in ~"), "{detail}");
        let left = 120 - minute - 1;
        assert!(detail.contains(&format!("~{left} min")) || detail.contains(&format!("~{} min", left + 1)), "{detail}");
    }

    #[test]
    fn flat_noisy_memory_is_not_a_trend() {
        assert!(run((0..500).map(|i| 0.5 + ((i * 37) % 11) as f64 * 0.01)).is_empty());
    }
}
