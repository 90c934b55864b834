//! Seasonal profiles and predictor accuracy for the adaptive baseline.

use serde::{Deserialize, Serialize};

use super::AdaptiveConfig;

/// Mean absolute deviation to standard deviation, for Gaussian noise.
pub(super) const MAE_TO_SIGMA: f64 = 1.253_314_137;

/// A predictor's forecast of the current point.
#[derive(Debug, Clone, Copy)]
pub(super) struct Forecast {
    pub(super) expected: f64,
    pub(super) sigma: f64,
}

/// One predictor's running accuracy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct ModelError {
    /// Mean absolute residual (EWMA).
    #[serde(with = "super::super::exact")]
    pub(super) mae: f64,
    /// Points it has been scored on.
    pub(super) n: u32,
}

/// A seasonal profile: one robust level per bucket of a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Profile {
    #[serde(with = "super::super::exact::vec")]
    pub(super) level: Vec<f64>,
    /// Points learned per bucket.
    count: Vec<u32>,
    /// Distinct periods (days, weeks) seen per bucket.
    periods: Vec<u16>,
    /// Index of the period of the bucket's last point.
    last_period: Vec<i64>,
    pub(super) error: ModelError,
}

impl ModelError {
    pub(super) fn observe(&mut self, config: &AdaptiveConfig, residual: f64, clip: f64) {
        self.n = self.n.saturating_add(1);
        let a = config.spread_alpha.max(1.0 / f64::from(self.n));
        let r = if self.n > 3 { residual.abs().min(clip) } else { residual.abs() };
        self.mae += (r - self.mae) * a;
    }
}

impl Profile {
    /// The bucket of `ts_ms` in a period of `buckets` buckets.
    fn position(ts_ms: i64, period_ms: i64, buckets: u32) -> usize {
        let bucket_ms = (period_ms / i64::from(buckets)).max(1);
        ((ts_ms.rem_euclid(period_ms) / bucket_ms) as usize).min(buckets as usize - 1)
    }

    pub(super) fn forecast(
        &self,
        config: &AdaptiveConfig,
        ts_ms: i64,
        period_ms: i64,
        buckets: u32,
    ) -> Option<Forecast> {
        if buckets == 0 || self.level.len() != buckets as usize {
            return None;
        }
        let i = Self::position(ts_ms, period_ms, buckets);
        if u32::from(self.periods[i]) < config.season_min_count {
            return None;
        }
        let expected = self.level[i];
        Some(Forecast { expected, sigma: MAE_TO_SIGMA * self.error.mae })
    }

    /// Learns a point. `step_ms` is the usual spacing of points: a bucket spanning many
    /// points moves by `season_alpha` per period, not per point.
    #[expect(clippy::too_many_arguments, reason = "one call site, all plain numbers")]
    pub(super) fn learn(
        &mut self,
        config: &AdaptiveConfig,
        ts_ms: i64,
        period_ms: i64,
        buckets: u32,
        value: f64,
        limit: f64,
        step_ms: f64,
    ) {
        if buckets == 0 {
            return;
        }
        let b = buckets as usize;
        if self.level.len() != b {
            *self = Profile {
                level: vec![0.0; b],
                count: vec![0; b],
                periods: vec![0; b],
                last_period: vec![i64::MIN; b],
                error: ModelError::default(),
            };
        }
        let i = Self::position(ts_ms, period_ms, buckets);
        let period = ts_ms.div_euclid(period_ms);
        if self.last_period[i] != period {
            self.last_period[i] = period;
            self.periods[i] = self.periods[i].saturating_add(1);
        }
        self.count[i] = self.count[i].saturating_add(1);
        let c = self.count[i];
        let bucket_ms = period_ms as f64 / f64::from(buckets);
        let per_point = config.season_alpha * (step_ms / bucket_ms).clamp(1e-6, 1.0);
        let a = per_point.max(1.0 / f64::from(c));
        let step = if c <= 2 { value - self.level[i] } else { (value - self.level[i]).clamp(-limit, limit) };
        self.level[i] += step * a;
    }
}
