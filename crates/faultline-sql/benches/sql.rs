//! SQL over the live tables: 1 M signal rows in memory (200 request series, 1,000 windows of
//! 10 s, 5 signals a window, a latency histogram on each window's p95 row) and 2,000
//! incidents over a year.
//!
//! - `p95_last_hour`: the exact p95 per service over the last hour (`hdr_merge` of 360 windows'
//!   histograms per series, `hdr_quantile`), against the baseline: the same merge and quantile
//!   done directly on the windows' `LatencyHistogram`s, no SQL.
//! - `incidents_by_month`: the `monthly_report` view.
//! - `signals_around_onsets`: a join of incidents and signals around each incident's onset.
//! - `ingest`: a pipeline recording 200 k events with the SQL tables subscribed (the writer on
//!   its own thread) against the same pipeline without them (goal: ≥ 0.95).
//! - `sql_parquet`: the same questions over 11 M signal rows, up to 2 M in memory and the rest
//!   in Parquet files under a temporary directory, and the p95 per service over all of them.
//!
//! Each query's median and p99 over 30 runs are printed to stderr after criterion's figures.

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_core::event::Request;
use faultline_core::incident::{Action, Incident, IncidentEvent, Status};
use faultline_core::latency::LatencyHistogram;
use faultline_core::pipeline::{Pipeline, PipelineConfig, WindowSnapshot};
use faultline_core::signal::{Signal, SignalPoint};
use faultline_core::{Event, EventBody, InputId, Millis, SeriesId, SeriesKey, SeriesKind, SeriesRegistry, Window};
use faultline_sql::{Format, Limits, Retention, SqlEngine, SqlFeed, SqlInput, SqlStore};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const T0: i64 = 1_795_197_600_000;
const SERIES: usize = 200;
const WINDOWS: usize = 1_000;
const SLIDE: i64 = 10_000;
/// Windows of the Parquet bench: 11 M signal rows, about 9 M of them in files.
const PARQUET_WINDOWS: usize = 11_000;

/// The windows' latency histograms, by window then series (the baseline reads them directly).
struct Data {
    keys: Vec<Arc<SeriesKey>>,
    latencies: Vec<Vec<LatencyHistogram>>,
}

fn data() -> Data {
    let mut rng = SmallRng::seed_from_u64(7);
    let keys: Vec<Arc<SeriesKey>> = (0..SERIES)
        .map(|i| {
            let op = if i % 2 == 0 { "GET /" } else { "POST /pay" };
            Arc::new(SeriesKey::new(SeriesKind::Request, &format!("svc-{:03}", i / 2), op, &[]))
        })
        .collect();
    let latencies = (0..WINDOWS)
        .map(|_| {
            (0..SERIES)
                .map(|_| {
                    let mut h = LatencyHistogram::new();
                    for _ in 0..40 {
                        h.record(rng.gen_range(1_000..400_000));
                    }
                    h
                })
                .collect()
        })
        .collect();
    Data { keys, latencies }
}

fn snapshot(d: &Data, w: usize) -> WindowSnapshot {
    snapshot_at(d, w, w)
}

/// Window `w`'s snapshot with the latencies of data window `lat`.
fn snapshot_at(d: &Data, lat: usize, w: usize) -> WindowSnapshot {
    let window = Window { start: Millis(T0 + w as i64 * SLIDE), end: Millis(T0 + (w as i64 + 1) * SLIDE) };
    let mut points = Vec::with_capacity(SERIES * 5);
    let mut latencies = Vec::with_capacity(SERIES);
    for (i, key) in d.keys.iter().enumerate() {
        let h = &d.latencies[lat][i];
        let point = |signal, value| SignalPoint { series: SeriesId(i as u32), window, signal, value, n: 40, k: 1 };
        points.push((key.clone(), point(Signal::RequestRate, 4.0)));
        points.push((key.clone(), point(Signal::ErrorRate, 0.025)));
        points.push((key.clone(), point(Signal::LatencyP50, h.quantile_ms(0.5))));
        points.push((key.clone(), point(Signal::LatencyP95, h.quantile_ms(0.95))));
        points.push((key.clone(), point(Signal::LatencyP99, h.quantile_ms(0.99))));
        latencies.push((key.clone(), h.clone()));
    }
    WindowSnapshot { window_end: window.end, points, findings: Vec::new(), latencies, incidents: Vec::new() }
}

/// An incident of the payments burst (a real one), copied `n` times over a year of services.
fn incidents(n: usize) -> Vec<IncidentEvent> {
    let text = include_str!("../../../testdata/payments-burst.jsonl");
    let registry = Arc::new(SeriesRegistry::new(100));
    let mut decoder = faultline_core::wire::Decoder::new(registry.clone(), Default::default());
    let mut events = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let _ = decoder.decode_line(i as u64 + 1, l.as_bytes(), None, &mut events);
    }
    let mut p = Pipeline::new(PipelineConfig::default(), registry);
    let mut out = p.record(InputId(0), &events);
    out.extend(p.finish());
    let one: Incident = out.into_iter().find(|e| e.action == Action::Resolved).expect("the burst resolves").incident;
    let mut rng = SmallRng::seed_from_u64(9);
    (0..n)
        .flat_map(|i| {
            let mut inc = one.clone();
            let shift = rng.gen_range(0..365 * 86_400_000_i64) - 365 * 86_400_000;
            inc.id = format!("inc-{i}");
            inc.dedup_key = format!("svc-{:03}/{i}", i % 100);
            inc.service = format!("svc-{:03}", i % 100);
            let move_by = |t: Millis| Millis(t.0 + shift);
            let mut opened = inc.clone();
            opened.status = Status::Open;
            opened.resolved_at = None;
            (opened.onset_at, opened.detected_at) = (move_by(inc.onset_at), move_by(inc.detected_at));
            inc.onset_at = opened.onset_at;
            inc.detected_at = opened.detected_at;
            inc.resolved_at = inc.resolved_at.map(move_by);
            [
                IncidentEvent { action: Action::Opened, incident: opened },
                IncidentEvent { action: Action::Resolved, incident: inc },
            ]
        })
        .collect()
}

fn engine(d: &Data) -> SqlEngine {
    let mut store = SqlStore::new(Vec::new(), Retention { signal_rows: 2_000_000, ..Retention::default() });
    let engine = SqlEngine::new(&store, Limits { max_rows: 1_000_000, ..Limits::default() });
    for w in 0..WINDOWS {
        store.window(&snapshot(d, w));
    }
    store.events(&incidents(2_000));
    assert_eq!(store.signal_rows(), SERIES * WINDOWS * 5);
    engine
}

fn bench(c: &mut Criterion) {
    let d = data();
    let engine = engine(&d);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let last_hour_from = T0 + (WINDOWS as i64 - 360) * SLIDE;
    let mut g = c.benchmark_group("sql");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    let q = |sql: String| {
        let a = rt.block_on(engine.query(&sql, Format::ArrowIpc)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(a.rows > 0, "{sql}");
        a.rows
    };
    let p95 = format!(
        "SELECT service, hdr_quantile(hdr_merge(latency_hist), 0.95) AS p95 FROM signals \
         WHERE signal = 'latency_p95' AND window_start >= to_timestamp_millis({last_hour_from}) GROUP BY service"
    );
    g.bench_function("p95_last_hour/baseline_direct_merge", |b| {
        b.iter(|| {
            let mut per_service: Vec<LatencyHistogram> = (0..SERIES / 2).map(|_| LatencyHistogram::new()).collect();
            for w in WINDOWS - 360..WINDOWS {
                for (i, h) in d.latencies[w].iter().enumerate() {
                    per_service[i / 2].merge(h);
                }
            }
            per_service.iter().map(|h| h.quantile_ms(0.95)).sum::<f64>()
        });
    });
    g.bench_function("p95_last_hour/sql", |b| b.iter(|| q(p95.clone())));
    g.bench_function("incidents_by_month/sql", |b| b.iter(|| q("SELECT * FROM monthly_report".into())));
    let around = "SELECT i.id, avg(s.value) AS error_rate FROM incidents i JOIN signals s ON s.service = i.service \
                  AND s.window_end BETWEEN to_timestamp_millis(1795197600000) AND to_timestamp_millis(1795198200000) \
                  WHERE s.signal = 'error_rate' GROUP BY i.id";
    g.bench_function("signals_around_onsets/sql", |b| b.iter(|| q(around.into())));
    percentiles("sql/p95_last_hour", 30, || {
        q(p95.clone());
    });
    percentiles("sql/incidents_by_month", 30, || {
        q("SELECT * FROM monthly_report".into());
    });
    percentiles("sql/signals_around_onsets", 30, || {
        q(around.into());
    });

    // Ingest: the same events recorded with and without the SQL tables subscribed.
    let registry = Arc::new(SeriesRegistry::new(100_000));
    let ids: Vec<SeriesId> = (0..2_000)
        .map(|i| {
            registry
                .intern(SeriesKey::new(SeriesKind::Request, &format!("s{}", i % 50), &format!("op{i}"), &[]).as_ref())
        })
        .collect();
    let events: Vec<Event> = (0..200_000)
        .map(|i| Event {
            ts: Millis(T0 + i as i64 * 5),
            series: ids[i % ids.len()],
            body: EventBody::Request(Request {
                latency_us: Some(1_000 + (i as u64 * 37) % 90_000),
                is_error: i % 50 == 0,
            }),
        })
        .collect();
    g.throughput(Throughput::Elements(events.len() as u64));
    for sql in [false, true] {
        let name = if sql { "ingest/sql_on" } else { "ingest/sql_off" };
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let mut p = Pipeline::new(PipelineConfig::default(), registry.clone());
                    let writer = sql.then(|| {
                        let mut store = SqlStore::new(Vec::new(), Retention::default());
                        let (feed, rx) = SqlFeed::new(4096);
                        p.publish_snapshots().subscribe(Box::new(move |s| {
                            feed.send(SqlInput::Window(s.clone()));
                        }));
                        std::thread::spawn(move || faultline_sql::write_all(&mut store, &rx))
                    });
                    let started = std::time::Instant::now();
                    for chunk in events.chunks(4096) {
                        std::hint::black_box(p.record(InputId(0), chunk));
                    }
                    std::hint::black_box(p.finish());
                    total += started.elapsed();
                    drop(p);
                    if let Some(w) = writer {
                        w.join().expect("the writer ends with the pipeline");
                    }
                }
                total
            });
        });
    }
    g.finish();
}

/// Each query `n` times: its median and p99, milliseconds (criterion reports means and medians only).
fn percentiles(name: &str, n: usize, mut f: impl FnMut()) {
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = std::time::Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    eprintln!("{name}: median {:.1} ms, p99 {:.1} ms over {n} runs", at(0.5), at(0.99));
}

/// 11 M signal rows: the last ones in memory (up to 2 M), the rest in Parquet files by day.
fn parquet_engine(d: &Data, dir: &std::path::Path) -> (SqlEngine, usize, usize) {
    let mut store = SqlStore::new(Vec::new(), Retention { signal_rows: 2_000_000, ..Retention::default() })
        .with_history(dir)
        .expect("a history directory");
    let engine = SqlEngine::new(&store, Limits { max_rows: 1_000_000, ..Limits::default() });
    for w in 0..PARQUET_WINDOWS {
        store.window(&snapshot_at(d, w % WINDOWS, w));
    }
    store.events(&incidents(2_000));
    (engine, store.signal_rows(), store.signal_files())
}

fn bench_parquet(c: &mut Criterion) {
    let d = data();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (engine, in_memory, files) = parquet_engine(&d, dir.path());
    let total = SERIES * PARQUET_WINDOWS * 5;
    eprintln!("parquet: {total} signal rows, {in_memory} in memory, {} in {files} Parquet files", total - in_memory);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let q = |sql: &str| {
        let a = rt.block_on(engine.query(sql, Format::ArrowIpc)).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(a.rows > 0, "{sql}");
        a.rows
    };
    let end = T0 + PARQUET_WINDOWS as i64 * SLIDE;
    let p95_hour = format!(
        "SELECT service, hdr_quantile(hdr_merge(latency_hist), 0.95) AS p95 FROM signals \
         WHERE signal = 'latency_p95' AND window_start >= to_timestamp_millis({}) GROUP BY service",
        end - 3_600_000
    );
    let p95_all = "SELECT service, hdr_quantile(hdr_merge(latency_hist), 0.95) AS p95 FROM signals \
                   WHERE signal = 'latency_p95' GROUP BY service";
    // An onset in the oldest day: its windows are in the Parquet files.
    let around = "SELECT service, avg(value) AS error_rate FROM signals \
                  WHERE signal = 'error_rate' AND window_end BETWEEN to_timestamp_millis(1795197600000) \
                  AND to_timestamp_millis(1795198200000) GROUP BY service";
    let mut g = c.benchmark_group("sql_parquet");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("p95_last_hour/sql", |b| b.iter(|| q(&p95_hour)));
    g.bench_function("p95_all_11m_rows/sql", |b| b.iter(|| q(p95_all)));
    g.bench_function("incidents_by_month/sql", |b| b.iter(|| q("SELECT * FROM monthly_report")));
    g.bench_function("signals_around_an_old_onset/sql", |b| b.iter(|| q(around)));
    g.finish();
    percentiles("sql_parquet/p95_last_hour", 30, || {
        q(&p95_hour);
    });
    percentiles("sql_parquet/p95_all_11m_rows", 10, || {
        q(p95_all);
    });
    percentiles("sql_parquet/incidents_by_month", 30, || {
        q("SELECT * FROM monthly_report");
    });
    percentiles("sql_parquet/signals_around_an_old_onset", 30, || {
        q(around);
    });
}

criterion_group!(benches, bench, bench_parquet);
criterion_main!(benches);
