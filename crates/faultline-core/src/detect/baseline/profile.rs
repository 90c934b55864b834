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
///
/// Buckets are allocated as points first touch them: while at most a quarter of them
/// have been touched (a young series, or one seen for part of a period) only those are
/// kept, sorted by index; past that share the profile turns dense, every bucket at its
/// index. Which form a profile takes depends only on its length and on the set of
/// buckets that are not [`Bucket::EMPTY`], so a learned profile and one restored from its
/// checkpoint are equal field by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ProfileWire", into = "ProfileWire")]
pub(super) struct Profile {
    /// Buckets per period (0 until the profile is set up).
    n_buckets: u32,
    /// The touched buckets by index (sparse), or all `n_buckets` of them (dense).
    buckets: Box<[Bucket]>,
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
    /// The bucket's index in its period (in what was padding; truncated in a dense
    /// profile of more than 2^16 buckets, where it is never read).
    index: u16,
}

/// A profile turns dense once more than `1 / DENSE_SHARE` of its buckets are touched.
const DENSE_SHARE: usize = 4;
/// The most buckets a sparse profile can index.
const MAX_SPARSE_BUCKETS: usize = u16::MAX as usize + 1;

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
        if self.n_buckets != buckets {
            return None;
        }
        let b = self.bucket(slot.bucket);
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
        if self.n_buckets != buckets {
            *self = Profile { n_buckets: buckets, buckets: Box::default(), error: ModelError::default() };
        }
        let b = self.bucket_mut(slot.bucket);
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

    fn is_dense(&self) -> bool {
        self.buckets.len() == self.n_buckets as usize
    }

    /// The bucket at `index` (below `n_buckets`); [`Bucket::EMPTY`] when untouched.
    #[inline(always)]
    fn bucket(&self, index: usize) -> &Bucket {
        if self.is_dense() {
            return &self.buckets[index];
        }
        match self.buckets.binary_search_by_key(&(index as u16), |b| b.index) {
            Ok(at) => &self.buckets[at],
            Err(_) => &Bucket::EMPTY,
        }
    }

    /// The bucket at `index` (below `n_buckets`) to learn into, allocated if untouched;
    /// the profile turns dense when this makes more than its sparse share touched.
    #[inline(always)]
    fn bucket_mut(&mut self, index: usize) -> &mut Bucket {
        if !self.is_dense() {
            match self.buckets.binary_search_by_key(&(index as u16), |b| b.index) {
                Ok(at) => return &mut self.buckets[at],
                Err(at) => self.touch(index, at),
            }
        }
        if self.is_dense() {
            return &mut self.buckets[index];
        }
        let at = self.buckets.binary_search_by_key(&(index as u16), |b| b.index).expect("bucket just inserted");
        &mut self.buckets[at]
    }

    /// Inserts the untouched bucket `index` of a sparse profile at position `at`, or turns
    /// the profile dense when that would touch more than the sparse share.
    #[cold]
    fn touch(&mut self, index: usize, at: usize) {
        let n = self.n_buckets as usize;
        let filled = self.buckets.len() + 1;
        if held_dense(n, filled) {
            let mut dense: Vec<Bucket> = (0..n).map(Bucket::empty_at).collect();
            for b in self.buckets.iter() {
                dense[usize::from(b.index)] = *b;
            }
            self.buckets = dense.into_boxed_slice();
        } else {
            let mut sparse = Vec::with_capacity(filled);
            sparse.extend_from_slice(&self.buckets[..at]);
            sparse.push(Bucket::empty_at(index));
            sparse.extend_from_slice(&self.buckets[at..]);
            self.buckets = sparse.into_boxed_slice();
        }
    }
}

/// Whether a profile of `n_buckets` with `filled` touched buckets is held dense.
fn held_dense(n_buckets: usize, filled: usize) -> bool {
    n_buckets > MAX_SPARSE_BUCKETS || filled * DENSE_SHARE > n_buckets
}

impl Bucket {
    /// A bucket no point has touched (index 0).
    const EMPTY: Bucket = Bucket { level: 0.0, last_period: i64::MIN, count: 0, periods: 0, index: 0 };

    /// An untouched bucket at `index`.
    fn empty_at(index: usize) -> Bucket {
        Bucket { index: index as u16, ..Bucket::EMPTY }
    }

    /// True when the bucket holds what no point has touched, bit for bit.
    fn is_empty(&self) -> bool {
        self.level.to_bits() == 0 && self.last_period == i64::MIN && self.count == 0 && self.periods == 0
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
        let n_buckets = u32::try_from(n).map_err(|_| format!("profile of {n} buckets is too long"))?;
        let bucket = |i: usize| Bucket {
            level: w.level[i],
            last_period: w.last_period[i],
            count: w.count[i],
            periods: w.periods[i],
            index: i as u16,
        };
        let filled = (0..n).filter(|&i| !bucket(i).is_empty()).count();
        let buckets = if held_dense(n, filled) {
            (0..n).map(bucket).collect()
        } else {
            (0..n).map(bucket).filter(|b| !b.is_empty()).collect()
        };
        Ok(Profile { n_buckets, buckets, error: w.error })
    }
}

impl From<Profile> for ProfileWire {
    fn from(p: Profile) -> Self {
        let n = p.n_buckets as usize;
        let dense: Vec<Bucket> =
            if p.is_dense() { p.buckets.into_vec() } else { (0..n).map(|i| *p.bucket(i)).collect() };
        ProfileWire {
            level: dense.iter().map(|b| b.level).collect(),
            count: dense.iter().map(|b| b.count).collect(),
            periods: dense.iter().map(|b| b.periods).collect(),
            last_period: dense.iter().map(|b| b.last_period).collect(),
            error: p.error,
        }
    }
}

#[cfg(test)]
mod tests;
