//! Seasonal profiles and predictor accuracy for the adaptive baseline.

use serde::{Deserialize, Serialize};

use super::AdaptiveConfig;
use crate::detect::ewma::ewma_weight;

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

/// A seasonal profile: one robust level per bucket of a period. Checkpointed as one list
/// per field ([`ProfileWire`]); held as one record per bucket, so a point touches one
/// cache line of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProfileWire", into = "ProfileWire")]
pub(super) struct Profile {
    buckets: Vec<Bucket>,
    pub(super) error: ModelError,
}

/// Where a point falls in a profile: its bucket and the index of its period.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    bucket: usize,
    period: i64,
    /// Length of a bucket, `period_ms / buckets` as a float.
    bucket_ms: f64,
}

/// One bucket of a [`Profile`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    level: f64,
    /// Index of the period of the bucket's last point.
    last_period: i64,
    /// Points learned.
    count: u32,
    /// Distinct periods (days, weeks) seen.
    periods: u16,
}

/// The checkpoint form of a [`Profile`].
#[derive(Serialize, Deserialize)]
struct ProfileWire {
    #[serde(with = "super::super::exact::vec")]
    level: Vec<f64>,
    /// Points learned per bucket.
    count: Vec<u32>,
    /// Distinct periods (days, weeks) seen per bucket.
    periods: Vec<u16>,
    /// Index of the period of the bucket's last point.
    last_period: Vec<i64>,
    error: ModelError,
}

impl ModelError {
    pub(super) fn observe(&mut self, config: &AdaptiveConfig, residual: f64, clip: f64) {
        self.n = self.n.saturating_add(1);
        let a = ewma_weight(config.spread_alpha, f64::from(self.n));
        let r = if self.n > 3 { residual.abs().min(clip) } else { residual.abs() };
        self.mae += (r - self.mae) * a;
    }
}

impl Profile {
    /// The slot of `ts_ms` in a period of `buckets` buckets (None when `buckets` is 0).
    pub(super) fn slot(ts_ms: i64, period_ms: i64, buckets: u32) -> Option<Slot> {
        if buckets == 0 {
            return None;
        }
        let whole_ms = period_ms / i64::from(buckets);
        let bucket = ((ts_ms.rem_euclid(period_ms) / whole_ms.max(1)) as usize).min(buckets as usize - 1);
        // A whole quotient is the float quotient exactly: no second division per point.
        let bucket_ms = if whole_ms * i64::from(buckets) == period_ms {
            whole_ms as f64
        } else {
            period_ms as f64 / f64::from(buckets)
        };
        Some(Slot { bucket, period: ts_ms.div_euclid(period_ms), bucket_ms })
    }

    #[inline(always)]
    pub(super) fn forecast(&self, config: &AdaptiveConfig, slot: Option<Slot>, buckets: u32) -> Option<Forecast> {
        let slot = slot?;
        if self.buckets.len() != buckets as usize {
            return None;
        }
        let b = &self.buckets[slot.bucket];
        if u32::from(b.periods) < config.season_min_count {
            return None;
        }
        Some(Forecast { expected: b.level, sigma: MAE_TO_SIGMA * self.error.mae })
    }

    /// Learns a point. `step_ms` is the usual spacing of points: a bucket spanning many
    /// points moves by `season_alpha` per period, not per point.
    #[inline(always)]
    pub(super) fn learn(
        &mut self,
        config: &AdaptiveConfig,
        slot: Option<Slot>,
        buckets: u32,
        value: f64,
        limit: f64,
        step_ms: f64,
    ) {
        let Some(slot) = slot else { return };
        let n_buckets = buckets as usize;
        if self.buckets.len() != n_buckets {
            *self = Profile {
                buckets: vec![Bucket { level: 0.0, last_period: i64::MIN, count: 0, periods: 0 }; n_buckets],
                error: ModelError::default(),
            };
        }
        let b = &mut self.buckets[slot.bucket];
        if b.last_period != slot.period {
            b.last_period = slot.period;
            b.periods = b.periods.saturating_add(1);
        }
        b.count = b.count.saturating_add(1);
        let c = b.count;
        let per_point = config.season_alpha * (step_ms / slot.bucket_ms).clamp(1e-6, 1.0);
        let a = ewma_weight(per_point, f64::from(c));
        let step = if c <= 2 { value - b.level } else { (value - b.level).clamp(-limit, limit) };
        b.level += step * a;
    }
}

impl TryFrom<ProfileWire> for Profile {
    type Error = String;

    fn try_from(w: ProfileWire) -> Result<Self, Self::Error> {
        let n = w.level.len();
        if w.count.len() != n || w.periods.len() != n || w.last_period.len() != n {
            return Err(format!(
                "profile lists differ in length: level {n}, count {}, periods {}, last_period {}",
                w.count.len(),
                w.periods.len(),
                w.last_period.len()
            ));
        }
        let buckets = (0..n)
            .map(|i| Bucket {
                level: w.level[i],
                last_period: w.last_period[i],
                count: w.count[i],
                periods: w.periods[i],
            })
            .collect();
        Ok(Profile { buckets, error: w.error })
    }
}

impl From<Profile> for ProfileWire {
    fn from(p: Profile) -> Self {
        ProfileWire {
            level: p.buckets.iter().map(|b| b.level).collect(),
            count: p.buckets.iter().map(|b| b.count).collect(),
            periods: p.buckets.iter().map(|b| b.periods).collect(),
            last_period: p.buckets.iter().map(|b| b.last_period).collect(),
            error: p.error,
        }
    }
}
