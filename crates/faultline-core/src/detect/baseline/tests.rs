//! Tests of the adaptive baseline on synthetic series with known answers.

use proptest::prelude::*;

use super::*;

/// Deterministic noise in [-1, 1).
fn noise(i: u64) -> f64 {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
}

const MINUTE: i64 = 60_000;

/// Scores a series of one point per minute; returns the indices that fired.
fn fired(config: &AdaptiveConfig, values: &[f64]) -> Vec<usize> {
    let mut d = AdaptiveDetector::new(config.clone());
    values.iter().enumerate().filter(|&(i, &v)| d.update(i as i64 * MINUTE, v).fired).map(|(i, _)| i).collect()
}

/// A daily cycle between 100 (night) and 1,000 (evening), one point per minute.
fn daily(i: usize) -> f64 {
    let phase = (i % 1440) as f64 / 1440.0 * std::f64::consts::TAU;
    550.0 - 450.0 * phase.cos() + 20.0 * noise(i as u64)
}

#[test]
fn seasonal_series_without_anomaly_is_quiet() {
    let values: Vec<f64> = (0..1440 * 5).map(daily).collect();
    assert_eq!(fired(&AdaptiveConfig::default(), &values), Vec::<usize>::new());
}

#[test]
fn noisy_flat_series_is_quiet_and_constant_series_too() {
    let noisy: Vec<f64> = (0..5000).map(|i| 50.0 + 5.0 * noise(i)).collect();
    assert_eq!(fired(&AdaptiveConfig::default(), &noisy), Vec::<usize>::new());
    assert_eq!(fired(&AdaptiveConfig::default(), &[7.0; 3000]), Vec::<usize>::new());
}

#[test]
fn spike_and_drop_fire_at_once_both_ways() {
    let mut values: Vec<f64> = (0..3000).map(|i| 50.0 + 5.0 * noise(i)).collect();
    values[2000] = 200.0;
    values[2500] = -100.0;
    let f = fired(&AdaptiveConfig::default(), &values);
    assert_eq!(f, vec![2000, 2500]);
    let up_only = AdaptiveConfig { sides: Sides::Up, ..AdaptiveConfig::default() };
    assert_eq!(fired(&up_only, &values), vec![2000]);
}

#[test]
fn volume_collapse_at_the_seasonal_peak_fires_within_a_few_points() {
    let mut values: Vec<f64> = (0..1440 * 4).map(daily).collect();
    let onset = 1440 * 3 + 720;
    for v in &mut values[onset..onset + 60] {
        *v *= 0.3;
    }
    let f = fired(&AdaptiveConfig::default(), &values);
    assert!(f.first().is_some_and(|&i| (onset..onset + 3).contains(&i)), "{f:?}");
}

#[test]
fn step_and_ramp_are_found() {
    let step: Vec<f64> = (0..3000).map(|i| if i < 2000 { 50.0 } else { 80.0 } + 2.0 * noise(i)).collect();
    assert!(fired(&AdaptiveConfig::default(), &step).first().is_some_and(|&i| i == 2000));
    let ramp: Vec<f64> = (0..3000)
        .map(|i| 50.0 + if i < 2000 { 0.0 } else { (i - 2000) as f64 * 0.5 } + 2.0 * noise(i as u64))
        .collect();
    assert!(fired(&AdaptiveConfig::default(), &ramp).first().is_some_and(|&i| (2000..2040).contains(&i)));
}

#[test]
fn long_anomaly_is_not_absorbed_before_relearning() {
    // Two hours at a fifth of normal traffic: every point keeps firing (no refractory in the
    // default), the baseline stays at the old level until `relearn_points` have passed.
    let config = AdaptiveConfig { relearn_points: 1000, ..AdaptiveConfig::default() };
    let mut d = AdaptiveDetector::new(config);
    for i in 0..2000 {
        d.update(i * MINUTE, 500.0 + 10.0 * noise(i as u64));
    }
    let mut n_fired = 0;
    for i in 2000..2120 {
        n_fired += usize::from(d.update(i * MINUTE, 100.0 + 10.0 * noise(i as u64)).fired);
    }
    assert_eq!(n_fired, 120);
    assert!((d.state.level() - 500.0).abs() < 10.0, "level {}", d.state.level());
}

#[test]
fn permanent_shift_is_accepted_after_relearning() {
    let config = AdaptiveConfig { relearn_points: 100, ..AdaptiveConfig::default() };
    let values: Vec<f64> = (0..3000).map(|i| if i < 1000 { 500.0 } else { 100.0 } + 10.0 * noise(i)).collect();
    let f = fired(&config, &values);
    assert!(f.iter().all(|&i| i < 1200), "still firing at {:?}", f.last());
    assert!(!f.is_empty());
}

#[test]
fn score_is_always_in_unit_interval() {
    let mut d = AdaptiveDetector::new(AdaptiveConfig::default());
    for i in 0..3000u64 {
        let v = if i % 97 == 0 {
            1e9
        } else if i % 89 == 0 {
            f64::NAN
        } else {
            noise(i)
        };
        let s = d.update(i as i64 * MINUTE, v).score;
        assert!((0.0..=1.0).contains(&s), "{s}");
    }
}

#[test]
fn log_tail_matches_known_values() {
    // P(Z > 3) = 1.3499e-3, P(Z > 0) = 0.5, P(Z > 10) = 7.62e-24.
    assert!((log10_upper_tail(3.0) - 1.3499e-3f64.log10()).abs() < 1e-4);
    assert!((log10_upper_tail(0.0) - 0.5f64.log10()).abs() < 1e-6);
    assert!((log10_upper_tail(10.0) - 7.62e-24f64.log10()).abs() < 1e-3);
    assert!(log10_upper_tail(100.0).is_finite());
}

#[test]
fn decades_bound_is_above_the_log_tail() {
    for i in 0..=400_000 {
        let z = f64::from(i) * 1e-4;
        let decades = -log10_upper_tail(z);
        assert!(decades < decades_upper_bound(z), "z {z}: {decades} vs {}", decades_upper_bound(z));
    }
    assert!(decades_upper_bound(f64::NAN).is_nan());
}

#[test]
fn daily_recurring_spike_is_discounted_after_the_first_days() {
    // One point per 5 minutes, a spike at the same time every day.
    let step = 5 * MINUTE;
    let per_day = 288;
    let values: Vec<f64> =
        (0..per_day * 8).map(|i| if i % per_day == 100 { 120.0 } else { 50.0 + 5.0 * noise(i as u64) }).collect();
    let score_at = |config: &AdaptiveConfig| {
        let mut d = AdaptiveDetector::new(config.clone());
        values.iter().enumerate().map(|(i, &v)| d.update(i as i64 * step, v).score).collect::<Vec<_>>()
    };
    let plain = AdaptiveConfig { daily_buckets: 0, ..AdaptiveConfig::default() };
    let recur = AdaptiveConfig { recur_buckets: 288, recur_weight: 1.0, recur_decay: 0.9, ..plain.clone() };
    let (a, b) = (score_at(&plain), score_at(&recur));
    let last = per_day * 7 + 100;
    assert!(b[last] < a[last], "{} vs {}", b[last], a[last]);
    assert!(b[last] < 0.5, "{}", b[last]);
}

#[test]
fn unseen_context_scores_high_once_the_series_is_familiar() {
    // A square wave between two levels, then a level never seen.
    let mut values: Vec<f64> =
        (0..4000).map(|i| if (i / 10) % 2 == 0 { 10.0 } else { 20.0 } + 0.1 * noise(i as u64)).collect();
    values[3500] = 15.0;
    let config = AdaptiveConfig { context_bins: 10, context_rate_alpha: 0.01, ..AdaptiveConfig::default() };
    let mut d = AdaptiveDetector::new(config);
    let scores: Vec<f64> = values.iter().enumerate().map(|(i, &v)| d.update(i as i64 * MINUTE, v).score).collect();
    assert!(scores[3500] >= 0.9, "{}", scores[3500]);
    assert!(scores[3400..3500].iter().all(|&s| s < 0.5));
}

#[test]
fn range_break_fires_beyond_the_range_seen_and_not_within_it() {
    // Noise in [40, 60], then a value 2 % of the range beyond it, then one 20 % beyond it.
    let mut values: Vec<f64> = (0..3000).map(|i| 50.0 + 10.0 * noise(i)).collect();
    values[2000] = 60.4;
    values[2500] = 64.0;
    // The per-point score alone would fire on neither value.
    let no_range = AdaptiveConfig { tail_decades: 50.0, ..AdaptiveConfig::default() };
    assert_eq!(fired(&no_range, &values), Vec::<usize>::new());
    let config = AdaptiveConfig { range_tolerance: Some(0.1), ..no_range };
    assert_eq!(fired(&config, &values), vec![2500]);
}

proptest! {
    #[test]
    fn state_restored_mid_stream_gives_identical_output(
        values in proptest::collection::vec(-1e3f64..1e3, 1..400),
        cut in 0usize..400,
        spikes in proptest::collection::vec(0usize..400, 0..5),
        extras in any::<bool>(),
    ) {
        let mut values = values;
        for s in spikes {
            if let Some(v) = values.get_mut(s) {
                *v *= 50.0;
            }
        }
        let config = AdaptiveConfig { warmup_points: 10, daily_buckets: 24, weekly_buckets: 7, ..AdaptiveConfig::default() };
        let config = if extras {
            AdaptiveConfig {
                context_bins: 10,
                recur_buckets: 96,
                range_tolerance: Some(0.1),
                ..config
            }
        } else {
            config
        };
        let cut = cut.min(values.len());
        let mut straight = AdaptiveDetector::new(config.clone());
        let mut resumed = AdaptiveDetector::new(config);
        let ts = |i: usize| i as i64 * 17 * MINUTE;
        for (i, &v) in values[..cut].iter().enumerate() {
            prop_assert_eq!(straight.update(ts(i), v), resumed.update(ts(i), v));
        }
        let json = serde_json::to_string(&resumed.state).expect("state serialises");
        resumed.state = serde_json::from_str(&json).expect("state deserialises");
        for (i, &v) in values.iter().enumerate().skip(cut) {
            prop_assert_eq!(straight.update(ts(i), v), resumed.update(ts(i), v));
        }
    }
}

proptest! {
    #[test]
    fn firing_path_learns_and_fires_as_the_exact_path(
        values in proptest::collection::vec(-10.0f64..10.0, 1..600),
        spikes in proptest::collection::vec((0usize..600, -80.0f64..80.0), 0..40),
        variant in 0u8..6,
        sides in prop_oneof![Just(Sides::Both), Just(Sides::Up), Just(Sides::Down)],
    ) {
        let mut values = values;
        // Spikes of every size, so that some points score near the flag and fire limits.
        for (at, jump) in spikes {
            if let Some(v) = values.get_mut(at) {
                *v += jump;
            }
        }
        let base = AdaptiveConfig { warmup_points: 10, weekly_buckets: 7, sides, ..AdaptiveConfig::default() };
        let config = match variant {
            0 => base,
            1 => AdaptiveConfig { context_bins: 10, ..base },
            2 => AdaptiveConfig { recur_buckets: 96, ..base },
            3 => AdaptiveConfig { likelihood_of_surprise: true, refractory_points: 5, ..base },
            4 => AdaptiveConfig { fire_score: 0.3, flag_score: 0.9, likelihood_weight: 2.0, ..base },
            _ => AdaptiveConfig { empirical_tail: false, short_points: 0, tail_decades: 3.0, ..base },
        };
        let mut exact = AdaptiveState::default();
        let mut firing = AdaptiveState::default();
        for (i, &v) in values.iter().enumerate() {
            let ts = i as i64 * 7 * MINUTE;
            let floor = if i % 3 == 0 { 0.5 } else { 0.0 };
            let e = exact.update_with_sigma_floor(&config, ts, v, floor);
            let f = firing.update_firing(&config, ts, v, floor);
            prop_assert_eq!(e.fired.then_some(e), f);
            prop_assert_eq!(&exact, &firing);
        }
    }
}

/// The off-by-default parts and the empirical tail's bins are allocated on first use
/// (issue 18), but a checkpoint shows them as it did when they were inline and dense: a
/// fresh tail's zero bins, default parts; and reading that form back gives an equal state.
#[test]
fn lazily_allocated_parts_checkpoint_in_their_former_form() {
    let config = AdaptiveConfig { warmup_points: 10, ..AdaptiveConfig::default() };
    let mut state = AdaptiveState::default();
    for i in 0..5 {
        state.update(&config, i * MINUTE, 10.0 + noise(i as u64));
    }
    let v: serde_json::Value = serde_json::to_value(&state).expect("serialises");
    let bins = v["tail"]["bins"].as_array().expect("a list of bins");
    assert_eq!(bins.len(), 48, "{}", v["tail"]);
    assert!(bins.iter().all(|b| b == "0.0"), "{}", v["tail"]);
    assert_eq!(v["context"], serde_json::to_value(context::Context::default()).expect("serialises"));
    assert_eq!(v["recur"], serde_json::to_value(recur::Recurrence::default()).expect("serialises"));
    assert_eq!(v["range"], serde_json::to_value(range::RangeBreak::default()).expect("serialises"));
    let back: AdaptiveState = serde_json::from_value(v).expect("deserialises");
    assert_eq!(back, state);
    assert!(back.tail.allocated_bins() == 0 && back.context.is_none());
    // Past the delay the first |z| enters: the bins are allocated, and still round-trip.
    for i in 5..40 {
        state.update(&config, i * MINUTE, 10.0 + noise(i as u64));
    }
    assert_eq!(state.tail.allocated_bins(), 48);
    let back: AdaptiveState = serde_json::from_str(&serde_json::to_string(&state).expect("serialises")).expect("reads");
    assert_eq!(back, state);
}

/// A Poisson count of mean `lambda`, by inversion of the deterministic uniform `noise(i)`.
fn poisson(i: u64, lambda: f64) -> f64 {
    let u = (noise(i) + 1.0) / 2.0;
    let (mut k, mut p) = (0u32, (-lambda).exp());
    let mut cdf = p;
    while u > cdf && k < 1000 {
        k += 1;
        p *= lambda / f64::from(k);
        cdf += p;
    }
    f64::from(k)
}

#[test]
fn the_count_cusum_finds_a_quiet_series_falling_to_a_third_and_not_its_noise() {
    let config = AdaptiveConfig { sides: Sides::Both, count_drop: Some(0.5), ..AdaptiveConfig::default() };
    // Three successes a window for four simulated days: no single window is rare.
    let normal: Vec<f64> = (0..4 * 1440).map(|i| poisson(i, 3.0)).collect();
    let plain = AdaptiveConfig { count_drop: None, ..config.clone() };
    let quiet_alarms = fired(&config, &normal).len();
    assert!(quiet_alarms <= fired(&plain, &normal).len(), "the CUSUM adds no alarm on noise: {quiet_alarms}");
    // Then a third of them: one a window, which the plain baseline misses.
    let mut series = normal.clone();
    let onset = series.len();
    series.extend((0..120).map(|i| poisson(100_000 + i, 1.0)));
    let after = |f: Vec<usize>| f.into_iter().find(|&i| i >= onset).map(|i| i - onset);
    let found = after(fired(&config, &series)).expect("the drop is found");
    assert!(found <= 20, "found {found} points after the onset");
    assert_eq!(after(fired(&plain, &series)), None, "the plain baseline does not see it");
    let mut d = AdaptiveDetector::new(config);
    let tails: Vec<f64> =
        series.iter().enumerate().filter_map(|(i, &v)| d.update(i as i64 * MINUTE, v).count_tail).collect();
    assert!(tails.iter().all(|t| *t <= 1e-6), "fires at 6 decades: {tails:?}");
}
