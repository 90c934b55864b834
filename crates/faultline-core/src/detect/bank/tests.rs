//! Tests of the detector bank: defaults on runbook scenarios, overrides, checkpoints.

use proptest::prelude::*;

use super::*;
use crate::series::SeriesKind;
use crate::time::Millis;
use crate::window::Window;

const WINDOW_MS: i64 = 10_000;

fn key(kind: SeriesKind, service: &str, name: &str) -> SeriesKey {
    SeriesKey::new(kind, service, name, &[])
}

fn point(series: u32, i: i64, signal: Signal, value: f64, n: u64, k: u64) -> SignalPoint {
    SignalPoint {
        series: SeriesId(series),
        window: Window { start: Millis(i * WINDOW_MS), end: Millis((i + 1) * WINDOW_MS) },
        signal,
        value,
        n,
        k,
    }
}

/// Requests per window with a daily cycle and deterministic jitter.
fn requests(i: i64) -> u64 {
    let phase = (i * WINDOW_MS % 86_400_000) as f64 / 86_400_000.0 * std::f64::consts::TAU;
    (1000.0 - 600.0 * phase.cos() + ((i * 7919) % 41) as f64 - 20.0) as u64
}

fn kinds(found: &[Finding]) -> Vec<(DetectorKind, &str)> {
    let mut k: Vec<_> = found.iter().map(|f| (f.detector, f.signal.as_str())).collect();
    k.sort();
    k.dedup();
    k
}

#[test]
fn default_bank_finds_the_pool_exhaustion_outage_and_is_quiet_before() {
    let mut bank = DetectorBank::new(DetectorBankSpec::default());
    let req = key(SeriesKind::Request, "shop", "GET /checkout");
    let mut found = Vec::new();
    let onset = 8640 + 6 * 360;
    for i in 0..onset + 30 {
        let n = requests(i);
        let outage = i >= onset;
        let k = if outage { n * 45 / 100 } else { n / 400 };
        let p95 = if outage { 15_000.0 } else { 420.0 + ((i * 31) % 50) as f64 };
        let before = found.len();
        bank.observe(&req, &point(1, i, Signal::RequestRate, n as f64 / 10.0, n, 0), &mut found);
        bank.observe(&req, &point(1, i, Signal::ErrorRate, k as f64 / n as f64, n, k), &mut found);
        bank.observe(&req, &point(1, i, Signal::LatencyP95, p95, n, 0), &mut found);
        if !outage {
            assert_eq!(found.len(), before, "false finding before the outage: {:?}", &found[before..]);
        }
    }
    let first = found.iter().map(|f| f.window.start.0 / WINDOW_MS).min();
    assert!(first.is_some_and(|w| w <= onset + 1), "first finding at {first:?}");
    let k = kinds(&found);
    for expected in [
        (DetectorKind::Threshold, "error_rate"),
        (DetectorKind::BurnRate, "error_rate"),
        (DetectorKind::Threshold, "latency_p95"),
        (DetectorKind::Baseline, "latency_p95"),
    ] {
        assert!(k.contains(&expected), "{expected:?} missing from {k:?}");
    }
}

#[test]
fn volume_collapse_is_found_by_the_baseline_downwards() {
    let mut bank = DetectorBank::new(DetectorBankSpec::default());
    let txn = key(SeriesKind::Transaction, "payments", "");
    let mut found = Vec::new();
    let onset = 8640 + 3000;
    for i in 0..onset + 20 {
        let v = if i >= onset { 3.0 } else { requests(i) as f64 / 10.0 };
        bank.observe(&txn, &point(2, i, Signal::TxnVolume, v, v as u64, 0), &mut found);
    }
    let first = found.first().expect("the collapse is found");
    assert_eq!(first.detector, DetectorKind::Baseline);
    assert_eq!(first.direction, Direction::Down);
    assert_eq!(first.window.start.0 / WINDOW_MS, onset);
}

#[test]
fn memory_leak_reports_time_to_exhaustion_before_the_threshold() {
    let mut bank = DetectorBank::new(DetectorBankSpec::default());
    let mem = key(SeriesKind::Gauge, "api", "memory.utilization");
    let mut found = Vec::new();
    // From window 300, +0.002 per window (+0.012 per minute): 1.0 is reached at window 600.
    for i in 0..500 {
        let v = 0.40 + if i > 300 { (i - 300) as f64 * 0.002 } else { 0.0 } + ((i * 13) % 7) as f64 * 0.001;
        bank.observe(&mem, &point(3, i, Signal::Memory, v, 1, 0), &mut found);
    }
    let trend = found.iter().find(|f| f.detector == DetectorKind::Trend).expect("trend found");
    assert!(trend.value < 0.8, "trend only at {}", trend.value);
    assert!(trend.detail.as_deref().is_some_and(|d| d.contains("reaches 1 in ~")));
}

#[test]
fn service_override_replaces_the_signal_defaults() {
    let mut spec = DetectorBankSpec::default();
    spec.services.push(ServiceOverride {
        service: "batch".into(),
        signal: "cpu".into(),
        detectors: vec![DetectorSpec::Threshold(ThresholdConfig::above(0.99))],
    });
    let mut bank = DetectorBank::new(spec);
    let mut found = Vec::new();
    for (id, service) in [(4, "batch"), (5, "web")] {
        let k = key(SeriesKind::Gauge, service, "cpu.utilization");
        for i in 0..5 {
            bank.observe(&k, &point(id, i, Signal::Cpu, 0.95, 1, 0), &mut found);
        }
    }
    assert!(!found.is_empty());
    assert!(found.iter().all(|f| f.series == SeriesId(5)));
}

#[test]
fn unknown_gauges_use_other_signals() {
    let mut bank = DetectorBank::new(DetectorBankSpec::default());
    let k = key(SeriesKind::Gauge, "api", "queue.depth");
    let mut found = Vec::new();
    for i in 0..500 {
        let v = if i == 400 { 900.0 } else { 10.0 + ((i * 7) % 5) as f64 };
        bank.observe(&k, &point(6, i, Signal::Gauge("queue.depth".into()), v, 1, 0), &mut found);
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].window.start.0 / WINDOW_MS, 400);
}

/// Feeds a mixed stream; returns findings.
fn feed(bank: &mut DetectorBank, keys: &[SeriesKey], stream: &[(u32, i64, u8, f64)], out: &mut Vec<Finding>) {
    for &(series, i, signal, x) in stream {
        let (signal, value, n, k) = match signal % 4 {
            0 => (Signal::ErrorRate, x.abs().min(1.0), 1000, (x.abs().min(1.0) * 1000.0) as u64),
            1 => (Signal::LatencyP95, x.abs() * 2000.0, 100, 0),
            2 => (Signal::Memory, x.abs().min(1.0), 1, 0),
            _ => (Signal::RequestRate, x.abs() * 100.0, 100, 0),
        };
        bank.observe(&keys[series as usize], &point(series, i, signal, value, n, k), out);
    }
}

proptest! {
    #[test]
    fn bank_restored_mid_stream_gives_identical_output(
        xs in proptest::collection::vec((0u32..3, 0u8..4, 0.0f64..1.0), 1..600),
        cut in 0usize..600,
    ) {
        let keys: Vec<SeriesKey> = (0..3).map(|s| key(SeriesKind::Request, "svc", &format!("op{s}"))).collect();
        let stream: Vec<(u32, i64, u8, f64)> =
            xs.iter().enumerate().map(|(i, &(s, sig, x))| (s, i as i64 / 4, sig, if i % 97 == 5 { x * 20.0 } else { x })).collect();
        let cut = cut.min(stream.len());
        let mut straight = DetectorBank::new(DetectorBankSpec::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        feed(&mut straight, &keys, &stream, &mut a);

        let mut first = DetectorBank::new(DetectorBankSpec::default());
        feed(&mut first, &keys, &stream[..cut], &mut b);
        let snapshot = first.snapshot(&|id: SeriesId| keys[id.index()].clone());
        let json = serde_json::to_string(&snapshot).expect("state serialises");
        let back: BankState = serde_json::from_str(&json).expect("state deserialises");
        let mut resumed = DetectorBank::new(DetectorBankSpec::default());
        let n = resumed.restore(back, &mut |k: &SeriesKey| keys.iter().position(|x| x == k).map(|i| SeriesId(i as u32)));
        prop_assert_eq!(n, first.n_series_signals());
        feed(&mut resumed, &keys, &stream[cut..], &mut b);
        prop_assert_eq!(a, b);
    }
}

proptest! {
    /// A barrier's copy shares the states with the bank (issue 18): later points must not
    /// reach the copy, and the bank must go on as one that was never copied.
    #[test]
    fn a_copy_keeps_the_state_of_its_barrier_while_the_bank_goes_on(
        xs in proptest::collection::vec((0u32..3, 0u8..4, 0.0f64..1.0), 1..600),
        barriers in proptest::collection::vec(0usize..600, 1..4),
    ) {
        let keys: Vec<SeriesKey> = (0..3).map(|s| key(SeriesKind::Request, "svc", &format!("op{s}"))).collect();
        let names = |id: SeriesId| keys[id.index()].clone();
        let stream: Vec<(u32, i64, u8, f64)> =
            xs.iter().enumerate().map(|(i, &(s, sig, x))| (s, i as i64 / 4, sig, if i % 97 == 5 { x * 20.0 } else { x })).collect();
        let mut never_copied = DetectorBank::new(DetectorBankSpec::default());
        let mut copied = DetectorBank::new(DetectorBankSpec::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut held = Vec::new();
        for (i, item) in stream.iter().enumerate() {
            if barriers.contains(&i) {
                held.push((copied.copy_state(), never_copied.snapshot(&names)));
            }
            feed(&mut never_copied, &keys, std::slice::from_ref(item), &mut a);
            feed(&mut copied, &keys, std::slice::from_ref(item), &mut b);
        }
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(copied.snapshot(&names), never_copied.snapshot(&names));
        for (copy, at_barrier) in held {
            prop_assert_eq!(copy.into_state(&names), at_barrier);
        }
    }
}

/// A ratio over a single request used to panic in the baseline's binomial floor
/// (`clamp` with min 1.0 above max 0.5); every n must be accepted.
#[test]
fn single_trial_ratio_points_do_not_panic() {
    let mut bank = DetectorBank::new(DetectorBankSpec::default());
    let k = key(SeriesKind::Request, "pay", "POST /charge");
    let mut out = Vec::new();
    for i in 0..400 {
        let n = (i % 3) as u64; // 0, 1 and 2 requests per window
        let errors = u64::from(i % 7 == 0).min(n);
        let rate = if n == 0 { 0.0 } else { errors as f64 / n as f64 };
        bank.observe(&k, &point(0, i, Signal::ErrorRate, rate, n, errors), &mut out);
    }
    assert!(out.iter().all(|f| f.score.is_finite()));
}
