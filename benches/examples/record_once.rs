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
    if which == "decode" || which == "lines" {
        let text = json_lines(200_000);
        if which == "lines" {
            println!("lines: {}", text.len());
            return;
        }
        let reg = std::sync::Arc::new(faultline_core::SeriesRegistry::new(100_000));
        let cfg = faultline_core::wire::DecoderConfig { dims: vec!["region".into()], ..Default::default() };
        let mut d = faultline_core::wire::Decoder::new(reg, cfg);
        let mut e = Engine::new(EngineConfig::default());
        let mut batch = Vec::with_capacity(4096);
        for (i, line) in text.split(|c| *c == b'\n').filter(|l| !l.is_empty()).enumerate() {
            let _ = d.decode_line(i as u64, line, None, &mut batch);
            if batch.len() >= 4096 {
                e.record(InputId(0), &batch);
                batch.clear();
                e.drain_closed();
            }
        }
        e.record(InputId(0), &batch);
        e.finish();
        println!("decode: {}", e.drain_closed().len());
        return;
    }
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

fn json_lines(n: usize) -> Vec<u8> {
    let keys = uniform_keys(n, 10_000, 5);
    let lats = latencies_us(n, 6);
    let mut out = Vec::with_capacity(n * 200);
    for (i, (k, lat)) in keys.iter().zip(lats).enumerate() {
        let line = format!(
            r#"{{"ts":{},"service":"svc-{}","operation":"GET /api/v1/items/{}","kind":"request","status":{},"latency_ms":{},"attrs":{{"region":"eu-west-1","instance":"i-0a1b2c3d"}}}}"#,
            1_795_197_600_000i64 + (i as i64 * 20_000) / n as i64,
            k % 50,
            k / 50,
            if i % 97 == 0 { 503 } else { 200 },
            lat as f64 / 1000.0
        );
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}
