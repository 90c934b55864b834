//! Engine benchmarks: record, shard scaling, JSON parse + record, window close, memory — each beside its bare baseline.
//!
//! Run: `cargo bench -p faultline-benches --bench engine` (add `--profile dist`-like
//! settings via `CARGO_PROFILE_BENCH_LTO=fat CARGO_PROFILE_BENCH_CODEGEN_UNITS=1` for shipped figures).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use faultline_benches::{latencies_us, uniform_keys, zipf_keys};
use faultline_core::event::Request;
use faultline_core::signal::extract;
use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{
    Engine, EngineConfig, Event, EventBody, InputId, Millis, SeriesId, SeriesKey, SeriesKind, SeriesRegistry,
    ShardedEngine,
};
use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;

const N_EVENTS: usize = 1_000_000;
const N_SERIES: u32 = 10_000;
const BATCH: usize = 4096;
/// Events span 20 s of event time: two 10 s windows per series, both closed in the run.
const SPAN_MS: i64 = 20_000;

fn events(keys: &[u32]) -> Vec<Event> {
    events_over(keys, SPAN_MS)
}

/// Events spread evenly over `span_ms` of event time.
fn events_over(keys: &[u32], span_ms: i64) -> Vec<Event> {
    let lats = latencies_us(keys.len(), 2);
    keys.iter()
        .zip(lats)
        .enumerate()
        .map(|(i, (&k, lat))| Event {
            ts: Millis(1_795_197_600_000 + (i as i64 * span_ms) / keys.len() as i64),
            series: SeriesId(k),
            body: EventBody::Request(Request { latency_us: Some(lat), is_error: i % 97 == 0 }),
        })
        .collect()
}

/// The floor from PERF.md: one hash-map lookup and one HDR record per event, 10 k per-key histograms.
fn baseline_map_hdr(events: &[Event], hists: &mut [Histogram<u32>], index: &FxHashMap<u32, u32>) {
    for ev in events {
        let slot = index[&ev.series.0] as usize;
        if let EventBody::Request(r) = &ev.body {
            let _ = hists[slot].record(r.latency_us.unwrap_or(0).clamp(32, 60_000_000));
        }
    }
}

fn engine_1_shard(events: &[Event]) -> usize {
    let mut e = Engine::new(EngineConfig::default());
    let mut n = 0;
    for chunk in events.chunks(BATCH) {
        e.record(InputId(0), chunk);
        n += e.drain_closed().len();
    }
    e.finish();
    n + e.drain_closed().len()
}

fn bench_record(c: &mut Criterion) {
    // 20 s of event time: two windows per series, opened and closed in the run (50 events per
    // series-window). "one_window": the same events within one window, as at 10 M events/s,
    // where window open/close costs vanish per event.
    for (name, keys, span_ms) in [
        ("uniform", uniform_keys(N_EVENTS, N_SERIES, 1), SPAN_MS),
        ("zipf1.1", zipf_keys(N_EVENTS, N_SERIES, 1.1, 1), SPAN_MS),
        ("uniform_one_window", uniform_keys(N_EVENTS, N_SERIES, 1), 100),
    ] {
        let evs = events_over(&keys, span_ms);
        let index: FxHashMap<u32, u32> = (0..N_SERIES).map(|k| (k, k)).collect();
        let mut g = c.benchmark_group(format!("record/{name}_10k_series"));
        g.throughput(Throughput::Elements(evs.len() as u64));
        g.sample_size(10);
        g.bench_function("baseline_map_hdr", |b| {
            b.iter_batched_ref(
                || {
                    (0..N_SERIES)
                        .map(|_| Histogram::<u32>::new_with_bounds(32, 60_000_000, 2).expect("bounds"))
                        .collect::<Vec<_>>()
                },
                |hists| baseline_map_hdr(&evs, hists, &index),
                BatchSize::LargeInput,
            )
        });
        g.bench_function("engine_1_shard", |b| b.iter(|| black_box(engine_1_shard(&evs))));
        g.finish();
    }
}

fn bench_shards(c: &mut Criterion) {
    let evs = events(&uniform_keys(N_EVENTS, N_SERIES, 3));
    let index: FxHashMap<u32, u32> = (0..N_SERIES).map(|k| (k, k)).collect();
    // The bare loop on two threads, each owning half the series (a partitioned consumer).
    let halves: [Vec<Event>; 2] = [0, 1].map(|h| evs.iter().filter(|e| e.series.0 % 2 == h).cloned().collect());
    let mut g = c.benchmark_group("record/uniform_10k_series_2_shards");
    g.throughput(Throughput::Elements(evs.len() as u64));
    g.sample_size(10);
    g.bench_function("baseline_map_hdr_1_thread", |b| {
        b.iter_batched_ref(
            || {
                (0..N_SERIES)
                    .map(|_| Histogram::<u32>::new_with_bounds(32, 60_000_000, 2).expect("bounds"))
                    .collect::<Vec<_>>()
            },
            |hists| baseline_map_hdr(&evs, hists, &index),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("baseline_map_hdr_2_threads", |b| {
        b.iter_batched_ref(
            || {
                [0, 1].map(|_| {
                    (0..N_SERIES)
                        .map(|_| Histogram::<u32>::new_with_bounds(32, 60_000_000, 2).expect("bounds"))
                        .collect::<Vec<_>>()
                })
            },
            |hists| {
                let [h0, h1] = hists;
                std::thread::scope(|s| {
                    s.spawn(|| baseline_map_hdr(&halves[0], h0, &index));
                    s.spawn(|| baseline_map_hdr(&halves[1], h1, &index));
                });
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("engine_1_shard", |b| b.iter(|| black_box(engine_1_shard(&evs))));
    g.bench_function("engine_2_shards", |b| {
        b.iter_batched(
            || {
                (
                    ShardedEngine::new(EngineConfig::default(), 2),
                    evs.chunks(BATCH).map(<[Event]>::to_vec).collect::<Vec<_>>(),
                )
            },
            |(mut e, batches)| {
                let mut n = 0;
                for batch in batches {
                    e.record(InputId(0), batch);
                    n += e.drain_closed().len();
                }
                e.finish();
                black_box(n + e.drain_closed().len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn json_lines(n: usize) -> Vec<u8> {
    let keys = uniform_keys(n, N_SERIES, 5);
    let lats = latencies_us(n, 6);
    let mut out = Vec::with_capacity(n * 200);
    for (i, (k, lat)) in keys.iter().zip(lats).enumerate() {
        let line = serde_json::json!({
            "ts": 1_795_197_600_000i64 + (i as i64 * SPAN_MS) / n as i64,
            "service": format!("svc-{}", k % 50),
            "operation": format!("GET /api/v1/items/{}", k / 50),
            "kind": "request",
            "status": if i % 97 == 0 { 503 } else { 200 },
            "latency_ms": lat as f64 / 1000.0,
            "attrs": {"region": "eu-west-1", "instance": "i-0a1b2c3d"}
        });
        serde_json::to_writer(&mut out, &line).expect("writing to a Vec");
        out.push(b'\n');
    }
    out
}

/// The floor: parse each line with serde_json into a borrowed struct, nothing else.
#[derive(serde::Deserialize)]
#[expect(dead_code, reason = "fields are parsed for the baseline's cost, not read")]
struct BorrowedLine<'a> {
    ts: i64,
    #[serde(borrow)]
    service: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    operation: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    kind: std::borrow::Cow<'a, str>,
    status: u16,
    latency_ms: f64,
}

fn bench_parse(c: &mut Criterion) {
    let n = 200_000;
    let text = json_lines(n);
    let mut g = c.benchmark_group("parse_record/json_lines_10k_series");
    g.throughput(Throughput::Elements(n as u64));
    g.sample_size(10);
    g.bench_function("baseline_serde_borrowed_parse", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for line in text.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let l: BorrowedLine<'_> = serde_json::from_slice(line).expect("valid line");
                sum += u64::from(l.status);
            }
            black_box(sum)
        })
    });
    g.bench_function("decode_and_record", |b| {
        b.iter_batched(
            || {
                let reg = Arc::new(SeriesRegistry::new(100_000));
                let cfg = DecoderConfig { dims: vec!["region".into()], ..Default::default() };
                (Decoder::new(reg, cfg), Engine::new(EngineConfig::default()))
            },
            |(mut d, mut e)| {
                let mut batch = Vec::with_capacity(BATCH);
                for (i, line) in text.split(|c| *c == b'\n').filter(|l| !l.is_empty()).enumerate() {
                    let _ = d.decode_line(i as u64, line, None, &mut batch);
                    if batch.len() >= BATCH {
                        e.record(InputId(0), &batch);
                        batch.clear();
                        black_box(e.drain_closed());
                    }
                }
                e.record(InputId(0), &batch);
                e.finish();
                black_box(e.drain_closed().len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// `per_series` successful requests for each of the 10 k series, realistic latencies, at `ts_ms(series)`.
fn per_series_requests(per_series: u32, seed: u64, ts_ms: impl Fn(u32) -> i64) -> Vec<Event> {
    let keys: Vec<u32> = (0..per_series).flat_map(|_| 0..N_SERIES).collect();
    let lats = latencies_us(keys.len(), seed);
    keys.iter()
        .zip(lats)
        .map(|(&k, lat)| Event {
            ts: Millis(ts_ms(k)),
            series: SeriesId(k),
            body: EventBody::Request(Request { latency_us: Some(lat), is_error: false }),
        })
        .collect()
}

fn bench_close(c: &mut Criterion) {
    // 10 k series each with a window of 100 realistic requests, closed at once, signals extracted.
    let evs = per_series_requests(100, 9, |k| 1_000 + i64::from(k % 8000));
    let key = SeriesKey::new(SeriesKind::Request, "svc", "GET /", &[]);
    let mut g = c.benchmark_group("close/10k_series");
    g.throughput(Throughput::Elements(u64::from(N_SERIES)));
    g.sample_size(10);
    g.bench_function("baseline_hdr_p99_only", |b| {
        b.iter_batched_ref(
            || {
                let mut hists: Vec<Histogram<u32>> = (0..N_SERIES)
                    .map(|_| Histogram::<u32>::new_with_bounds(32, 60_000_000, 2).expect("bounds"))
                    .collect();
                for e in &evs {
                    if let EventBody::Request(r) = &e.body {
                        let _ = hists[e.series.0 as usize].record(r.latency_us.unwrap_or(0));
                    }
                }
                hists
            },
            |hists| black_box(hists.iter().map(|h| h.value_at_quantile(0.99)).sum::<u64>()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("engine_close_and_extract", |b| {
        b.iter_batched(
            || {
                let mut e = Engine::new(EngineConfig::default());
                e.record(InputId(0), &evs);
                e
            },
            |mut e| {
                e.finish();
                let mut points = Vec::new();
                for cw in e.drain_closed() {
                    extract(&cw, &key, &mut points);
                }
                black_box(points.len())
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn report_memory(_c: &mut Criterion) {
    // Bytes per active series-window with a realistic spread: 200 requests per window.
    let evs = per_series_requests(200, 11, |_| 1_000);
    let mut e = Engine::new(EngineConfig::default());
    e.record(InputId(0), &evs);
    let per = e.shard().open_size_bytes() as f64 / f64::from(N_SERIES);
    let bare = Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).expect("bounds");
    eprintln!(
        "memory/active_series_window: {per:.0} bytes per series-window (200 requests, log-normal latency); \
         1 M series ≈ {:.2} GiB; baseline Histogram<u64> 1 µs–60 s = {} bytes ({:.2}x)",
        per * 1e6 / (1u64 << 30) as f64,
        bare.distinct_values() * 8,
        per / (bare.distinct_values() * 8) as f64
    );
}

criterion_group!(benches, bench_record, bench_shards, bench_parse, bench_close, report_memory);
criterion_main!(benches);
