//! Property tests: the engine's closed windows equal a naive batch recomputation.
//!
//! For random event streams with bounded disorder (and a few events far too
//! late), random batch splits and shard counts, every closed window must equal
//! what a naive model computes from the raw events: counts exactly, latency
//! quantiles within the HDR error bound. Events beyond the lateness are
//! counted, never applied. Aggregate merge is associative and commutative.

use std::collections::BTreeMap;

use faultline_core::event::{Gauge, Request};
use faultline_core::latency::LatencyHistogram;
use faultline_core::{
    Aggregate, ClosedWindow, DurationMs, Engine, EngineConfig, Event, EventBody, InputId, Millis, SeriesId,
    ShardedEngine, Timing, WindowSpec,
};
use proptest::prelude::*;

const N_SERIES: u32 = 6;

#[derive(Debug, Clone)]
struct Case {
    config: EngineConfig,
    events: Vec<Event>,
    splits: Vec<usize>,
    shards: usize,
}

fn config(size_s: i64, slide_div: i64, ooo_ms: i64, lateness_ms: i64) -> EngineConfig {
    EngineConfig {
        timing: Timing {
            windows: WindowSpec::hopping(DurationMs(size_s * 1000), DurationMs(size_s * 1000 / slide_div))
                .expect("valid shape"),
            out_of_orderness: DurationMs(ooo_ms),
            lateness: DurationMs(lateness_ms),
            idle_timeout: DurationMs::from_secs(60),
        },
        // No synthetic empty windows here: the model compares windows with events.
        empty_windows: 0,
    }
}

fn body_for(series: u32, latency_us: u64, flag: bool, value: f64) -> EventBody {
    // Even series are request series, odd series gauges: kind is fixed per series, as the decoder guarantees.
    if series.is_multiple_of(2) {
        EventBody::Request(Request { latency_us: Some(latency_us), is_error: flag })
    } else {
        EventBody::Gauge(Gauge { value, max: Some(100.0) })
    }
}

fn case() -> impl Strategy<Value = Case> {
    let cfg = (
        prop_oneof![Just(5i64), Just(10)],
        prop_oneof![Just(1i64), Just(2)],
        0i64..3000,
        prop_oneof![Just(0i64), Just(1500)],
    )
        .prop_map(|(s, d, o, l)| config(s, d, o, l));
    let raw = prop::collection::vec(
        (0..N_SERIES, 0i64..400, -2500i64..100, 0u64..5_000_000, any::<bool>(), -50.0f64..150.0, 0u8..40),
        1..400,
    );
    (cfg, raw, prop::collection::vec(1usize..64, 1..8), 1usize..4).prop_map(|(config, raw, splits, shards)| {
        // Time advances by small steps; each event jitters backwards by up to 2.5 s;
        // about one in forty jumps 60 s back (far too late).
        let mut t = 1_000_000i64;
        let events = raw
            .into_iter()
            .map(|(s, step, jitter, lat, flag, value, late)| {
                t += step;
                let ts = if late == 0 { t - 60_000 } else { t + jitter };
                Event { ts: Millis(ts), series: SeriesId(s), body: body_for(s, lat, flag, value) }
            })
            .collect();
        Case { config, events, splits, shards }
    })
}

/// The naive model: replay the watermark rule event by event, then group the
/// admitted events by (series, window) and aggregate each group from scratch.
/// Admitted events by (window end, series, window start).
type Groups = BTreeMap<(Millis, SeriesId, Millis), Vec<Event>>;

fn model(config: &EngineConfig, events: &[Event]) -> (Groups, u64) {
    let t = config.timing;
    let mut wm = Millis::MIN;
    let mut max_ts = Millis::MIN;
    let mut late = 0;
    let mut groups: Groups = BTreeMap::new();
    for ev in events {
        let closed_through = wm.minus(t.lateness);
        if t.windows.first_end(ev.ts) <= closed_through {
            late += 1;
        } else {
            for start in t.windows.starts(ev.ts) {
                let end = t.windows.at(start).end;
                groups.entry((end, ev.series, start)).or_default().push(ev.clone());
            }
        }
        if ev.ts > max_ts {
            max_ts = ev.ts;
            wm = wm.max(max_ts.minus(t.out_of_orderness));
        }
    }
    (groups, late)
}

fn run_single(c: &Case) -> (Vec<ClosedWindow>, u64) {
    let mut e = Engine::new(c.config);
    let mut closed = Vec::new();
    let mut late = 0;
    let mut rest = &c.events[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = c.splits[i % c.splits.len()].min(rest.len());
        late += e.record(InputId(0), &rest[..n]).late;
        closed.extend(e.drain_closed());
        rest = &rest[n..];
        i += 1;
    }
    e.finish();
    closed.extend(e.drain_closed());
    (closed, late)
}

fn run_sharded(c: &Case) -> (Vec<ClosedWindow>, u64) {
    let mut e = ShardedEngine::new(c.config, c.shards);
    let mut closed = Vec::new();
    let mut late = 0;
    for chunk in c.events.chunks(c.splits[0]) {
        late += e.record(InputId(0), chunk.to_vec()).late;
        closed.extend(e.drain_closed());
    }
    e.finish();
    closed.extend(e.drain_closed());
    (closed, late)
}

fn check_against_model(c: &Case, closed: &[ClosedWindow], late: u64) -> Result<(), TestCaseError> {
    let (groups, model_late) = model(&c.config, &c.events);
    prop_assert_eq!(late, model_late, "late events counted");
    prop_assert_eq!(closed.len(), groups.len(), "one closed window per (series, window) with events");
    for (cw, ((end, series, start), evs)) in closed.iter().zip(&groups) {
        prop_assert_eq!((cw.window.end, cw.series, cw.window.start), (*end, *series, *start));
        match &cw.aggregate {
            Aggregate::Request(a) => {
                let mut lats: Vec<u64> = evs
                    .iter()
                    .filter_map(|e| match &e.body {
                        EventBody::Request(r) => r.latency_us,
                        _ => None,
                    })
                    .collect();
                lats.sort_unstable();
                let errors = evs.iter().filter(|e| matches!(&e.body, EventBody::Request(r) if r.is_error)).count();
                prop_assert_eq!(a.requests, evs.len() as u64);
                prop_assert_eq!(a.errors, errors as u64);
                let h = a.latency.as_ref().expect("every model request has a latency");
                prop_assert_eq!(h.len(), lats.len() as u64);
                for q in [0.5, 0.95, 0.99, 1.0] {
                    // HDR reports the highest value equivalent to the sample at rank ceil(q * n).
                    let rank = ((q * lats.len() as f64).ceil() as usize).clamp(1, lats.len());
                    let want = lats[rank - 1];
                    let got = (h.quantile_ms(q) * 1000.0).round() as u64;
                    let bound = LatencyHistogram::error_bound_us(want);
                    prop_assert!(got.abs_diff(want) <= bound, "q{} want {} got {} bound {}", q, want, got, bound);
                }
            }
            Aggregate::Gauge(g) => {
                let vals: Vec<(Millis, f64)> = evs
                    .iter()
                    .filter_map(|e| match &e.body {
                        EventBody::Gauge(x) => Some((e.ts, x.value)),
                        _ => None,
                    })
                    .collect();
                let last =
                    vals.iter().copied().max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1))).expect("non-empty");
                prop_assert_eq!(g.n, vals.len() as u64);
                prop_assert_eq!(g.last, last.1);
                prop_assert_eq!(g.min, vals.iter().map(|v| v.1).fold(f64::INFINITY, f64::min));
                prop_assert_eq!(g.max, vals.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max));
                let mean = vals.iter().map(|v| v.1).sum::<f64>() / vals.len() as f64;
                prop_assert!((g.mean().expect("n > 0") - mean).abs() < 1e-5);
            }
            other => prop_assert!(false, "unexpected aggregate {:?}", other),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn closed_windows_equal_naive_recomputation(c in case()) {
        let (closed, late) = run_single(&c);
        check_against_model(&c, &closed, late)?;
    }

    #[test]
    fn batch_split_and_shard_count_change_nothing(c in case()) {
        let (single, late_single) = run_single(&c);
        let (sharded, late_sharded) = run_sharded(&c);
        prop_assert_eq!(late_single, late_sharded);
        prop_assert_eq!(single, sharded);
    }

    #[test]
    fn merge_is_associative_and_commutative(c in case(), cut1 in 0usize..400, cut2 in 0usize..400) {
        // Record one series' events in three parts; every merge order equals recording them all at once.
        let evs: Vec<&Event> = c.events.iter().filter(|e| e.series == SeriesId(0)).collect();
        let (i, j) = (cut1.min(cut2).min(evs.len()), cut1.max(cut2).min(evs.len()));
        let part = |s: &[&Event]| {
            let mut a = Aggregate::empty(faultline_core::SeriesKind::Request);
            for e in s {
                a.record(e.ts, &e.body);
            }
            a
        };
        let (a, b, cc, all) = (part(&evs[..i]), part(&evs[i..j]), part(&evs[j..]), part(&evs));
        let merged = |x: &Aggregate, y: &Aggregate| { let mut m = x.clone(); m.merge(y); m };
        let left = merged(&merged(&a, &b), &cc);
        let right = merged(&a, &merged(&b, &cc));
        let swapped = merged(&merged(&cc, &a), &b);
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(&left, &swapped);
        prop_assert_eq!(&left, &all);
    }
}

#[test]
fn empty_windows_follow_a_quiet_series_and_stop_at_the_data() {
    let mut cfg = config(10, 1, 2000, 0);
    cfg.empty_windows = 3;
    let mut e = Engine::new(cfg);
    let req = |ts| Event { ts: Millis(ts), series: SeriesId(0), body: body_for(0, 1000, false, 0.0) };
    // Series 0 is active in [0, 10 s), then silent; series 2 keeps the watermark moving.
    let other = |ts| Event { ts: Millis(ts), series: SeriesId(2), body: body_for(2, 1000, false, 0.0) };
    e.record(InputId(0), &[req(1000), req(2000)]);
    for t in (10_000..=100_000).step_by(5000) {
        e.record(InputId(0), &[other(t)]);
    }
    let s0: Vec<_> = e.drain_closed().into_iter().filter(|c| c.series == SeriesId(0)).collect();
    let counts: Vec<_> = s0.iter().map(|c| (c.window.start.0, c.aggregate.n_events())).collect();
    assert_eq!(counts, vec![(0, 2), (10_000, 0), (20_000, 0), (30_000, 0)], "three empty windows, then nothing");
    e.finish();
    let trailing: Vec<_> = e.drain_closed().into_iter().filter(|c| c.aggregate.n_events() == 0).collect();
    assert!(trailing.iter().all(|c| c.window.end <= Millis(98_000)), "no empty windows past the data: {trailing:?}");
}

#[test]
fn a_quiet_input_stops_holding_the_watermark_once_idle() {
    let mut e = Engine::new(config(10, 1, 0, 0));
    let ev = |ts, s| Event { ts: Millis(ts), series: SeriesId(s), body: body_for(s, 1000, false, 0.0) };
    e.record(InputId(1), &[ev(1_000, 2)]);
    e.record(InputId(0), &[ev(1_000, 0), ev(50_000, 0)]);
    assert!(e.drain_closed().is_empty(), "input 1 at 1 s holds every window open");
    e.check_idle(Millis(0));
    e.record(InputId(0), &[ev(51_000, 0)]);
    e.check_idle(Millis(61_000));
    let closed = e.drain_closed();
    assert_eq!(closed.len(), 2, "both [0, 10 s) windows close once input 1 is idle: {closed:?}");
}
