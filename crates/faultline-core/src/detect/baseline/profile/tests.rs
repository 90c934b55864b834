//! Tests of the seasonal profile: the sparse form against a dense model, restore of old checkpoints.

use proptest::prelude::*;

use super::{Bucket, MAE_TO_SIGMA, ModelError, Profile, ProfileWire, Slot};
use crate::detect::baseline::AdaptiveConfig;
use crate::detect::ewma::ewma_weight;

/// The dense profile this module held before buckets were allocated on first touch: every
/// bucket from the first point on. The sparse profile must forecast and learn as it does.
#[derive(Debug, Clone, Default)]
struct DenseModel {
    buckets: Vec<Bucket>,
    error: ModelError,
}

impl DenseModel {
    fn forecast(&self, config: &AdaptiveConfig, slot: Slot, buckets: u32) -> Option<(f64, f64)> {
        if self.buckets.len() != buckets as usize {
            return None;
        }
        let b = &self.buckets[slot.bucket];
        if u32::from(b.periods) < config.season_min_count {
            return None;
        }
        Some((b.level, MAE_TO_SIGMA * self.error.mae))
    }

    fn learn(&mut self, config: &AdaptiveConfig, slot: Slot, buckets: u32, value: f64, limit: f64, step_ms: f64) {
        if self.buckets.len() != buckets as usize {
            *self = DenseModel {
                buckets: (0..buckets as usize).map(Bucket::empty_at).collect(),
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

    fn wire(&self) -> (Vec<u64>, Vec<u32>, Vec<u16>, Vec<i64>) {
        (
            self.buckets.iter().map(|b| b.level.to_bits()).collect(),
            self.buckets.iter().map(|b| b.count).collect(),
            self.buckets.iter().map(|b| b.periods).collect(),
            self.buckets.iter().map(|b| b.last_period).collect(),
        )
    }
}

fn wire_lists(p: &Profile) -> (Vec<u64>, Vec<u32>, Vec<u16>, Vec<i64>) {
    let w = ProfileWire::from(p.clone());
    (w.level.iter().map(|x| x.to_bits()).collect(), w.count, w.periods, w.last_period)
}

fn forecast_bits(f: Option<super::Forecast>) -> Option<(u64, u64)> {
    f.map(|f| (f.expected.to_bits(), f.sigma.to_bits()))
}

proptest! {
    /// Forecasts, learning and the checkpoint lists of the sparse profile equal the dense
    /// model's on any sequence of points, across the turn to dense and a change of length.
    #[test]
    fn sparse_profile_forecasts_and_learns_as_the_dense_model(
        n_buckets in 1u32..200,
        points in proptest::collection::vec((0usize..200, 0i64..6, -1e3f64..1e3), 1..300),
        relength_at in proptest::option::of(0usize..300),
        season_min_count in 0u32..3,
    ) {
        let config = AdaptiveConfig { season_min_count, ..AdaptiveConfig::default() };
        let mut profile = Profile::default();
        let mut model = DenseModel::default();
        for (i, &(bucket, period, value)) in points.iter().enumerate() {
            let buckets = if relength_at.is_some_and(|at| i >= at) { n_buckets / 2 + 1 } else { n_buckets };
            let slot = Slot { bucket: bucket % buckets as usize, period, bucket_ms: 3_600_000.0 };
            let got = forecast_bits(profile.forecast(&config, Some(slot), buckets));
            let want = model.forecast(&config, slot, buckets).map(|(e, s)| (e.to_bits(), s.to_bits()));
            prop_assert_eq!(got, want, "forecast of point {}", i);
            let residual = value - want.map_or(0.0, |(e, _)| f64::from_bits(e));
            profile.error.observe(&config, residual, 50.0);
            model.error.observe(&config, residual, 50.0);
            profile.learn(&config, Some(slot), buckets, value, 40.0, 10_000.0);
            model.learn(&config, slot, buckets, value, 40.0, 10_000.0);
            prop_assert_eq!(wire_lists(&profile), model.wire(), "lists after point {}", i);
        }
        // Restore gives the same representation, whichever form the profile is in.
        let restored = Profile::try_from(ProfileWire::from(profile.clone())).expect("valid lists");
        prop_assert_eq!(&restored, &profile);
        let json = serde_json::to_string(&profile).expect("serialises");
        let back: Profile = serde_json::from_str(&json).expect("deserialises");
        prop_assert_eq!(&back, &profile);
        let bin = rmp_serde::to_vec_named(&profile).expect("serialises");
        let back: Profile = rmp_serde::from_slice(&bin).expect("deserialises");
        prop_assert_eq!(&back, &profile);
    }
}

#[test]
fn a_profile_touched_in_one_bucket_holds_one_bucket_until_a_quarter_is_touched() {
    let config = AdaptiveConfig::default();
    let mut p = Profile::default();
    let slot = |bucket| Some(Slot { bucket, period: 0, bucket_ms: 3_600_000.0 });
    p.learn(&config, slot(100), 168, 5.0, 1.0, 10_000.0);
    p.learn(&config, slot(100), 168, 6.0, 1.0, 10_000.0);
    assert_eq!(p.buckets.len(), 1);
    for b in 0..41 {
        p.learn(&config, slot(b), 168, 1.0, 1.0, 10_000.0);
    }
    assert_eq!(p.buckets.len(), 42, "bucket 100 and 0..=40 are 42 buckets, a quarter of 168");
    p.learn(&config, slot(41), 168, 1.0, 1.0, 10_000.0);
    assert_eq!(p.buckets.len(), 168, "dense past a quarter");
    assert_eq!(p.bucket(100).count, 2);
    assert!(p.bucket(150).is_empty());
}

#[test]
fn an_old_dense_checkpoint_with_few_touched_buckets_restores_sparse() {
    let mut level = vec![0.0; 168];
    let mut count = vec![0; 168];
    let mut periods = vec![0; 168];
    let mut last_period = vec![i64::MIN; 168];
    level[7] = 3.5;
    count[7] = 4;
    periods[7] = 1;
    last_period[7] = 2935;
    // A bucket that differs from an untouched one only in the sign of its level is kept.
    level[9] = -0.0;
    let wire = ProfileWire { level, count, periods, last_period, error: ModelError { mae: 0.5, n: 4 } };
    let p = Profile::try_from(wire).expect("valid lists");
    assert_eq!(p.n_buckets, 168);
    assert_eq!(p.buckets.iter().map(|b| b.index).collect::<Vec<_>>(), vec![7, 9]);
    let back = ProfileWire::from(p);
    assert_eq!(back.count[7], 4);
    assert_eq!(back.level[9].to_bits(), (-0.0f64).to_bits());
    assert_eq!(back.last_period[8], i64::MIN);
}
