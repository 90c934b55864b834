//! Runs one record pass (bare baseline or engine) once, for cachegrind/perf: `record_once baseline|engine`.

use faultline_benches::{latencies_us, uniform_keys};
use faultline_core::event::Request;
use faultline_core::{Engine, EngineConfig, Event, EventBody, InputId, Millis, SeriesId};
use hdrhistogram::Histogram;
use rustc_hash::FxHashMap;

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "engine".into());
    let n = 1_000_000;
    let keys = uniform_keys(n, 10_000, 1);
    let lats = latencies_us(n, 2);
    let evs: Vec<Event> = keys
        .iter()
        .zip(lats)
        .enumerate()
        .map(|(i, (&k, lat))| Event {
            ts: Millis(1_795_197_600_000 + (i as i64 * 20_000) / n as i64),
            series: SeriesId(k),
            body: EventBody::Request(Request { latency_us: Some(lat), is_error: i % 97 == 0 }),
        })
        .collect();
    let out = if which == "none" {
        evs.len()
    } else if which == "baseline" {
        let index: FxHashMap<u32, u32> = (0..10_000).map(|k| (k, k)).collect();
        let mut hists: Vec<Histogram<u32>> =
            (0..10_000).map(|_| Histogram::new_with_bounds(32, 60_000_000, 2).expect("bounds")).collect();
        for ev in &evs {
            let slot = index[&ev.series.0] as usize;
            if let EventBody::Request(r) = &ev.body {
                let _ = hists[slot].record(r.latency_us.unwrap_or(0).clamp(32, 60_000_000));
            }
        }
        hists.iter().map(|h| h.len() as usize).sum::<usize>()
    } else {
        let mut e = Engine::new(EngineConfig::default());
        let mut closed = 0;
        for chunk in evs.chunks(4096) {
            e.record(InputId(0), chunk);
            closed += e.drain_closed().len();
        }
        e.finish();
        closed + e.drain_closed().len()
    };
    println!("{which}: {out}");
}
