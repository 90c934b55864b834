//! Detector benchmarks: the default detector bank per signal point beside a bare EWMA update.
//!
//! Run: `cargo bench -p faultline-benches --bench detectors`. Each iteration feeds one
//! 10 s window of 1,000 request series (request rate, error rate, p95: 3,000 points) to
//! warmed-up state; windows advance in event time and wrap around after 400.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_core::detect::{DetectorBank, DetectorBankSpec, Finding};
use faultline_core::window::Window;
use faultline_core::{Millis, SeriesId, SeriesKey, SeriesKind, Signal, SignalPoint};
use rustc_hash::FxHashMap;

const N_SERIES: u32 = 1_000;
const N_WINDOWS: i64 = 400;
const WINDOW_MS: i64 = 10_000;

/// Points of every window, window by window.
fn windows() -> Vec<Vec<SignalPoint>> {
    (0..N_WINDOWS)
        .map(|w| {
            let window = Window { start: Millis(w * WINDOW_MS), end: Millis((w + 1) * WINDOW_MS) };
            let mut points = Vec::with_capacity(N_SERIES as usize * 3);
            for s in 0..N_SERIES {
                let jitter = ((w * 7919 + i64::from(s) * 104_729) % 101) as u64;
                let n = 500 + jitter;
                let k = jitter / 20;
                let point = |signal, value, n, k| SignalPoint { series: SeriesId(s), window, signal, value, n, k };
                points.push(point(Signal::RequestRate, n as f64 / 10.0, n, 0));
                points.push(point(Signal::ErrorRate, k as f64 / n as f64, n, k));
                points.push(point(Signal::LatencyP95, 300.0 + jitter as f64, n, 0));
            }
            points
        })
        .collect()
}

fn detectors(c: &mut Criterion) {
    let windows = windows();
    let keys: Vec<SeriesKey> =
        (0..N_SERIES).map(|s| SeriesKey::new(SeriesKind::Request, "svc", &format!("op{s}"), &[])).collect();
    let per_window = windows[0].len() as u64;

    let mut g = c.benchmark_group("detect/default_bank_1k_series");
    g.throughput(Throughput::Elements(per_window));

    let mut ewma: FxHashMap<(SeriesId, Signal), f64> = FxHashMap::default();
    let mut at = 0usize;
    g.bench_function("baseline_ewma_map", |b| {
        b.iter(|| {
            for p in &windows[at % windows.len()] {
                let level = ewma.entry((p.series, p.signal.clone())).or_insert(p.value);
                *level += 0.02 * (p.value - *level);
            }
            at += 1;
        });
    });
    black_box(&ewma);

    let mut bank = DetectorBank::new(DetectorBankSpec::default());
    let mut findings: Vec<Finding> = Vec::new();
    // Warm up: every series past its warm-up, states allocated.
    for w in &windows[..100] {
        for p in w {
            bank.observe(&keys[p.series.index()], p, &mut findings);
        }
    }
    let mut at = 100usize;
    g.bench_function("bank_observe", |b| {
        b.iter(|| {
            findings.clear();
            for p in &windows[at % windows.len()] {
                bank.observe(&keys[p.series.index()], p, &mut findings);
            }
            at += 1;
        });
    });
    black_box(&findings);
    g.finish();
}

criterion_group!(benches, detectors);
criterion_main!(benches);
