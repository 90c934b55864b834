//! Two optional views of a series above the per-point score, both off by default.
//!
//! - *Score likelihood*: how unusual the recent average of the combined score is against
//!   the long-run distribution of that average (Numenta's anomaly likelihood, applied to our
//!   own score instead of an HTM's): a series whose score is often moderately high learns
//!   that, and a burst of moderate scores in a quiet series stands out. Output on Numenta's
//!   log scale: `-log10(tail probability) / decades`.
//! - *Range break*: a value beyond the range seen so far by more than a share of that range
//!   (NAB's "spatial anomaly").

use serde::{Deserialize, Serialize};

use super::AdaptiveConfig;
use super::tail::log10_upper_tail;

/// Longest moving average of the score likelihood.
const MAX_AVG_POINTS: usize = 64;

/// State of the score likelihood and the range break.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Surprise {
    /// Latest combined scores, a ring of `score_avg_points`.
    #[serde(with = "super::super::exact::vec")]
    recent: Vec<f64>,
    recent_at: u32,
    /// Running sum of `recent`.
    #[serde(with = "super::super::exact")]
    sum: f64,
    /// Moving averages learned so far.
    n: u32,
    #[serde(with = "super::super::exact")]
    mean: f64,
    #[serde(with = "super::super::exact")]
    var: f64,
    /// Range of the values seen so far.
    #[serde(with = "super::super::exact")]
    min: f64,
    #[serde(with = "super::super::exact")]
    max: f64,
    seen: bool,
}

impl Surprise {
    /// The score likelihood of `raw` (the point's combined score), in [0, 1]; learns it.
    pub(super) fn likelihood(&mut self, config: &AdaptiveConfig, raw: f64) -> f64 {
        let w = (config.score_avg_points as usize).min(MAX_AVG_POINTS);
        if w == 0 {
            return 0.0;
        }
        if self.recent.len() != w {
            self.recent = vec![0.0; w];
            self.recent_at = 0;
            self.sum = 0.0;
        }
        let slot = self.recent_at as usize % w;
        self.sum += raw - self.recent[slot];
        self.recent[slot] = raw;
        self.recent_at = ((slot + 1) % w) as u32;
        // Recompute now and then so rounding never accumulates.
        if slot == 0 {
            self.sum = self.recent.iter().sum();
        }
        let avg = self.sum / w as f64;
        let out = if self.n >= config.score_learn_points.max(2) {
            let mean = self.mean.max(config.score_mean_floor);
            let std = self.var.sqrt().max(config.score_std_floor);
            let decades = -log10_upper_tail(((avg - mean) / std).max(0.0));
            (decades / config.score_decades).clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.n = self.n.saturating_add(1);
        let a = config.score_long_alpha.max(1.0 / f64::from(self.n));
        let d = avg - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
        out
    }

    /// 1 when `value` lies beyond the range seen so far by more than `range_tolerance` of
    /// that range (and `warm`), else 0; learns the value.
    pub(super) fn range_break(&mut self, config: &AdaptiveConfig, value: f64, warm: bool) -> f64 {
        let Some(tolerance) = config.range_tolerance else {
            return 0.0;
        };
        if !self.seen {
            self.seen = true;
            self.min = value;
            self.max = value;
            return 0.0;
        }
        let margin = (self.max - self.min) * tolerance;
        let broke = warm && self.max > self.min && (value > self.max + margin || value < self.min - margin);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if broke { 1.0 } else { 0.0 }
    }
}
