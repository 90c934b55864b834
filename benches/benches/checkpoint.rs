//! Checkpoint benchmarks at 100 k active series: how long ingest stands still for one, beside a bare window copy.
//!
//! Run: `cargo bench -p faultline-benches --bench checkpoint`. A pipeline (default
//! detectors) holds 100 k request series that have each closed a few windows, so the
//! detector bank has 300 k (series, signal) states and every series has an open
//! window. `stall` is what the engine thread does at a barrier (copy every open window,
//! copy the detector and incident state); `to_state` and `serialise_binary` are what the
//! sink thread does afterwards; `read_binary` is a restart's read. The baseline copies the open windows alone: the least
//! any consistent snapshot must do. `checkpoint/100k_dense_windows` is the same barrier when
//! every open window is past its inline latencies and holds HDR counts.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use faultline_benches::latencies_us;
use faultline_core::checkpoint::Checkpoint;
use faultline_core::event::Request;
use faultline_core::pipeline::{Pipeline, PipelineConfig};
use faultline_core::series::{DimsRef, SeriesKeyRef};
use faultline_core::{Event, EventBody, Millis, SeriesKind, SeriesRegistry};

const N_SERIES: u32 = 100_000;
const T0: i64 = 1_795_132_800_000;

fn loaded_pipeline(shards: usize) -> Pipeline {
    let registry = Arc::new(SeriesRegistry::new(N_SERIES));
    let ids: Vec<_> = (0..N_SERIES)
        .map(|i| {
            let op = format!("op-{i}");
            registry.intern(SeriesKeyRef {
                kind: SeriesKind::Request,
                service: "svc",
                name: &op,
                dims: DimsRef::Borrowed(&[]),
            })
        })
        .collect();
    let mut p = Pipeline::new(PipelineConfig { shards, ..PipelineConfig::default() }, registry);
    let input = p.input("load");
    // Four windows of two events per series, then half a window more: every series has state and an open window.
    for step in 0..9i64 {
        let ts = T0 + step * 5_000 + 1_000;
        let batch: Vec<Event> = ids
            .iter()
            .enumerate()
            .map(|(i, &series)| Event {
                ts: Millis(ts + (i as i64 % 1000)),
                series,
                body: EventBody::Request(Request {
                    latency_us: Some(20_000 + (i as u64 % 5000) * 10),
                    is_error: i % 97 == 0,
                }),
            })
            .collect();
        for chunk in batch.chunks(4096) {
            p.record(input, chunk);
        }
    }
    p
}

/// 100 k series whose one open window each holds `per_window` latencies spread over 32 µs–2 s:
/// past the inline form, so every window holds HDR counts (no window has closed yet).
fn dense_pipeline(per_window: usize) -> Pipeline {
    let registry = Arc::new(SeriesRegistry::new(N_SERIES));
    let ids: Vec<_> = (0..N_SERIES)
        .map(|i| {
            let op = format!("op-{i}");
            registry.intern(SeriesKeyRef {
                kind: SeriesKind::Request,
                service: "svc",
                name: &op,
                dims: DimsRef::Borrowed(&[]),
            })
        })
        .collect();
    let mut p = Pipeline::new(PipelineConfig { shards: 1, ..PipelineConfig::default() }, registry);
    let input = p.input("load");
    let lats = latencies_us(N_SERIES as usize * per_window, 3);
    let batch: Vec<Event> = (0..per_window)
        .flat_map(|k| ids.iter().enumerate().map(move |(i, &series)| (k, i, series)))
        .map(|(k, i, series)| Event {
            ts: Millis(T0 + 1_000 + k as i64),
            series,
            body: EventBody::Request(Request { latency_us: Some(lats[k * N_SERIES as usize + i]), is_error: false }),
        })
        .collect();
    for chunk in batch.chunks(4096) {
        p.record(input, chunk);
    }
    p
}

fn checkpoint(c: &mut Criterion) {
    let mut g = c.benchmark_group("checkpoint/100k_series");
    g.sample_size(10);
    for shards in [1usize, 2] {
        if shards == 2 && std::env::var_os("CHECKPOINT_BENCH_ONE_SHARD").is_some() {
            continue;
        }
        let mut p = loaded_pipeline(shards);
        assert!(p.engine().n_open_windows() >= N_SERIES as usize);
        g.bench_function(format!("baseline_copy_open_windows_{shards}_shards"), |b| {
            b.iter(|| black_box(p.engine_mut().copy_open_windows().len()));
        });
        g.bench_function(format!("stall_{shards}_shards"), |b| {
            b.iter(|| black_box(p.checkpoint_copy(&mut Vec::new())));
        });
        let copy = p.checkpoint_copy(&mut Vec::new());
        g.bench_function(format!("to_state_{shards}_shards"), |b| {
            b.iter(|| black_box(copy.clone().into_state(p.registry())));
        });
        let state = copy.into_state(p.registry());
        let cp = Checkpoint::of_pipeline(state, Millis(0));
        g.bench_function(format!("serialise_binary_{shards}_shards"), |b| b.iter(|| black_box(cp.to_binary().len())));
        let bin = cp.to_binary();
        g.bench_function(format!("read_binary_{shards}_shards"), |b| {
            b.iter(|| black_box(Checkpoint::from_binary(&bin).map(|c| c.engine.open_windows.len())))
        });
        let started = std::time::Instant::now();
        let json = cp.to_json().len();
        let json_time = started.elapsed();
        eprintln!(
            "checkpoint at {N_SERIES} series, {shards} shards: {} bytes binary, {json} bytes as JSON (JSON took {json_time:?} once)",
            bin.len()
        );
    }
    g.finish();
}

/// The barrier when every open window holds HDR counts (40 latencies each): what the copy
/// costs once windows are past their inline latencies.
fn checkpoint_dense(c: &mut Criterion) {
    let mut g = c.benchmark_group("checkpoint/100k_dense_windows");
    g.sample_size(10);
    let mut p = dense_pipeline(40);
    assert!(p.engine().n_open_windows() >= N_SERIES as usize);
    g.bench_function("baseline_copy_open_windows_1_shard", |b| {
        b.iter(|| black_box(p.engine_mut().copy_open_windows().len()));
    });
    g.bench_function("stall_1_shard", |b| {
        b.iter(|| black_box(p.checkpoint_copy(&mut Vec::new())));
    });
    g.finish();
}

criterion_group!(benches, checkpoint, checkpoint_dense);
criterion_main!(benches);
