//! Property tests: the engine's windows equal a naive recomputation and close when a naive watermark says.
//!
//! For random event streams of every kind (request, gauge, transaction,
//! change) with bounded disorder (and a few events far too late), from up to
//! three interleaved inputs with idle periods, every window the engine
//! releases must be one a naive model says is closed at that moment (window
//! end + lateness <= the watermark: the minimum over non-idle inputs of their
//! max event time - out-of-orderness), every window the model says is closed
//! must have been released, and each must equal the model's aggregate of its
//! events: counts exactly, latency quantiles within the HDR error bound.
//! Events beyond the lateness are counted, never applied. `Engine` and
//! `ShardedEngine` (2 and 3 shards) answer alike. Aggregate merge is exact,
//! associative and commutative for every kind.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use faultline_core::event::{Change, ChangeKind, Gauge, Outcome, Request, Transaction};
use faultline_core::latency::LatencyHistogram;
use faultline_core::{
    Aggregate, ClosedWindow, DurationMs, Engine, EngineConfig, Event, EventBody, InputId, Millis, RecordStats,
    SeriesId, SeriesKind, ShardedEngine, Timing, WindowSpec,
};
use proptest::prelude::*;

/// Series ids; the kind follows `id % 4` (request, gauge, transaction, change), fixed per series as the decoder guarantees.
const N_SERIES: u32 = 8;
/// The inputs a case interleaves; not contiguous, so the router's input table has a hole.
const INPUTS: [InputId; 3] = [InputId(0), InputId(1), InputId(3)];
/// Idle timeout of every case, in processing time.
const IDLE_TIMEOUT_MS: i64 = 20_000;

fn config(size_s: i64, slide_div: i64, ooo_ms: i64, lateness_ms: i64) -> EngineConfig {
    EngineConfig {
        timing: Timing {
            windows: WindowSpec::hopping(DurationMs(size_s * 1000), DurationMs(size_s * 1000 / slide_div))
                .expect("valid shape"),
            out_of_orderness: DurationMs(ooo_ms),
            lateness: DurationMs(lateness_ms),
            idle_timeout: DurationMs(IDLE_TIMEOUT_MS),
        },
        // No synthetic empty windows here: the model compares windows with events.
        empty_windows: 0,
    }
}

/// A window shape and timing, and the grain of event times (1 ms, or 250 ms with the
/// out-of-orderness a multiple of it too).
fn config_strategy() -> impl Strategy<Value = (EngineConfig, i64)> {
    (
        prop_oneof![Just(5i64), Just(10)],
        prop_oneof![Just(1i64), Just(2)],
        0i64..3000,
        prop_oneof![Just(0i64), Just(1500)],
        prop_oneof![Just(1i64), Just(250)],
    )
        .prop_map(|(s, d, o, l, grain)| (config(s, d, o / grain * grain, l), grain))
}

fn series_kind(series: u32) -> SeriesKind {
    match series % 4 {
        0 => SeriesKind::Request,
        1 => SeriesKind::Gauge,
        2 => SeriesKind::Transaction,
        _ => SeriesKind::Change,
    }
}

/// An event body of the series' kind; `choice` picks the discrete parts.
fn body_for(series: u32, ts: Millis, latency_us: u64, choice: u8, value: i32) -> EventBody {
    let pick = usize::from(choice % 3);
    match series_kind(series) {
        SeriesKind::Request | SeriesKind::Dependency => EventBody::Request(Request {
            latency_us: (!choice.is_multiple_of(8)).then_some(latency_us),
            is_error: choice % 5 < 2,
        }),
        // Quarter steps over a small range, so equal readings (and "last" ties) happen.
        SeriesKind::Gauge => {
            EventBody::Gauge(Gauge { value: f64::from(value) * 0.25, max: [None, Some(100.0), Some(50.0)][pick] })
        }
        SeriesKind::Transaction => EventBody::Transaction(Transaction {
            outcome: [Outcome::Success, Outcome::Failed, Outcome::Declined][pick],
            amount_minor: (latency_us % 100_000) as i64,
        }),
        SeriesKind::Change => EventBody::Change(Arc::new(Change {
            at: ts,
            kind: [ChangeKind::Deploy, ChangeKind::Config, ChangeKind::Rollback][pick],
            id: format!("v{}", latency_us % 4),
            text: if choice.is_multiple_of(2) { String::new() } else { "raise timeout".into() },
        })),
    }
}

/// (series, time step, jitter, latency µs, choice, gauge value, far-too-late lottery).
type RawEvent = (u32, i64, i64, u64, u8, i32, u8);

fn raw_event() -> impl Strategy<Value = RawEvent> {
    (0..N_SERIES, 0i64..400, -2500i64..100, 0u64..5_000_000, any::<u8>(), -40i32..400, 0u8..40)
}

/// Advances `clock` by the step (times `speed`) and makes the event: it jitters
/// backwards by up to 2.5 s, and about one in forty jumps 60 s back (far too late).
/// With a `grain` above 1 ms, times are multiples of it, so watermarks land exactly on
/// window ends (the boundary case of "closed once end + lateness <= watermark").
fn make_event(clock: &mut i64, speed: i64, grain: i64, raw: RawEvent) -> Event {
    let (s, step, jitter, lat, choice, value, late) = raw;
    let (step, jitter) = if grain == 1 { (step, jitter) } else { ((step % 4) * grain, jitter / grain * grain) };
    *clock += step * speed;
    let ts = Millis(if late == 0 { *clock - 60_000 } else { *clock + jitter });
    Event { ts, series: SeriesId(s), body: body_for(s, ts, lat, choice, value) }
}

// ---------------------------------------------------------------------------
// The naive model of watermarks, lateness and closing.

/// (window end, series, window start): the order the engines release windows in.
type Key = (Millis, SeriesId, Millis);
/// Admitted events by window.
type Groups = BTreeMap<Key, Vec<Event>>;

#[derive(Debug)]
struct InputModel {
    max_ts: Millis,
    /// How many idleness checks had happened when this input's last event came.
    checks_before_last_event: usize,
}

/// Replays the rules event by event, written as directly as they are stated:
/// an event is late when its earliest window has closed at the watermark as
/// of the event before it; the watermark is the minimum over non-idle inputs
/// of (max event time - out-of-orderness), never moving back; an input is
/// idle once a check at least the idle timeout ago came after its last event,
/// until its next event; a window is closed once end + lateness <= watermark.
#[derive(Debug)]
struct Model {
    timing: Timing,
    inputs: BTreeMap<InputId, InputModel>,
    idle: BTreeSet<InputId>,
    checks: Vec<Millis>,
    watermark: Millis,
    groups: Groups,
    late: u64,
}

impl Model {
    fn new(config: &EngineConfig) -> Model {
        Model {
            timing: config.timing,
            inputs: BTreeMap::new(),
            idle: BTreeSet::new(),
            checks: Vec::new(),
            watermark: Millis::MIN,
            groups: Groups::new(),
            late: 0,
        }
    }

    /// Windows ending at or before this are closed.
    fn closed_through(&self) -> Millis {
        self.watermark.minus(self.timing.lateness)
    }

    fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats {
        let mut stats = RecordStats::default();
        let w = self.timing.windows;
        for ev in batch {
            if w.first_end(ev.ts) <= self.closed_through() {
                stats.late += 1;
            } else {
                stats.accepted += 1;
                for start in w.starts(ev.ts) {
                    self.groups.entry((w.at(start).end, ev.series, start)).or_default().push(ev.clone());
                }
            }
            let n_checks = self.checks.len();
            let st = self
                .inputs
                .entry(input)
                .or_insert(InputModel { max_ts: Millis::MIN, checks_before_last_event: n_checks });
            st.max_ts = st.max_ts.max(ev.ts);
            st.checks_before_last_event = n_checks;
            self.idle.remove(&input);
            self.update_watermark();
        }
        self.late += stats.late;
        stats
    }

    fn check_idle(&mut self, now: Millis) {
        for (id, st) in &self.inputs {
            if self.checks[st.checks_before_last_event..].iter().any(|t| now.0 - t.0 >= IDLE_TIMEOUT_MS) {
                self.idle.insert(*id);
            }
        }
        self.checks.push(now);
        self.update_watermark();
    }

    fn update_watermark(&mut self) {
        let ooo = self.timing.out_of_orderness;
        let active = self.inputs.iter().filter(|(id, _)| !self.idle.contains(id));
        if let Some(m) = active.map(|(_, st)| st.max_ts.minus(ooo)).min() {
            self.watermark = self.watermark.max(m);
        }
    }

    /// The windows closed at the current watermark.
    fn closed(&self) -> impl Iterator<Item = &Key> {
        let through = self.closed_through();
        self.groups.keys().take_while(move |k| k.0 <= through)
    }
}

// ---------------------------------------------------------------------------
// The naive aggregates.

/// Checks one aggregate against its events, recomputed from scratch.
fn check_aggregate(agg: &Aggregate, evs: &[Event]) -> Result<(), TestCaseError> {
    match agg {
        Aggregate::Request(a) => {
            let reqs: Vec<&Request> = evs
                .iter()
                .filter_map(|e| match &e.body {
                    EventBody::Request(r) => Some(r),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(reqs.len(), evs.len(), "only requests in a request window");
            let mut lats: Vec<u64> = reqs.iter().filter_map(|r| r.latency_us).collect();
            lats.sort_unstable();
            prop_assert_eq!(a.requests, reqs.len() as u64);
            prop_assert_eq!(a.errors, reqs.iter().filter(|r| r.is_error).count() as u64);
            let n_latencies = a.latency.as_ref().map_or(0, |h| h.len());
            prop_assert_eq!(n_latencies, lats.len() as u64, "latencies recorded");
            if let Some(h) = a.latency.as_ref().filter(|_| !lats.is_empty()) {
                for q in [0.5, 0.95, 0.99, 1.0] {
                    // HDR reports the highest value equivalent to the sample at rank ceil(q * n).
                    let rank = ((q * lats.len() as f64).ceil() as usize).clamp(1, lats.len());
                    let want = lats[rank - 1];
                    let got = (h.quantile_ms(q) * 1000.0).round() as u64;
                    let bound = LatencyHistogram::error_bound_us(want);
                    prop_assert!(got.abs_diff(want) <= bound, "q{} want {} got {} bound {}", q, want, got, bound);
                }
            }
        }
        Aggregate::Gauge(g) => {
            let vals: Vec<(Millis, Gauge)> = evs
                .iter()
                .filter_map(|e| match &e.body {
                    EventBody::Gauge(x) => Some((e.ts, *x)),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(vals.len(), evs.len(), "only gauges in a gauge window");
            // "Last" is the reading with the greatest (time, value, capacity).
            let last = vals
                .iter()
                .max_by(|a, b| {
                    let cap = |x: &Gauge| x.max.unwrap_or(f64::NEG_INFINITY);
                    a.0.cmp(&b.0).then(a.1.value.total_cmp(&b.1.value)).then(cap(&a.1).total_cmp(&cap(&b.1)))
                })
                .expect("a window has events");
            prop_assert_eq!(g.n, vals.len() as u64);
            prop_assert_eq!((g.last_at, g.last, g.last_max), (last.0, last.1.value, last.1.max));
            prop_assert_eq!(g.min, vals.iter().map(|v| v.1.value).fold(f64::INFINITY, f64::min));
            prop_assert_eq!(g.max, vals.iter().map(|v| v.1.value).fold(f64::NEG_INFINITY, f64::max));
            let mean = vals.iter().map(|v| v.1.value).sum::<f64>() / vals.len() as f64;
            prop_assert!((g.mean().expect("n > 0") - mean).abs() < 1e-6, "mean {:?} want {}", g.mean(), mean);
        }
        Aggregate::Transaction(t) => {
            let txns: Vec<&Transaction> = evs
                .iter()
                .filter_map(|e| match &e.body {
                    EventBody::Transaction(x) => Some(x),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(txns.len(), evs.len(), "only transactions in a transaction window");
            let count = |o: Outcome| txns.iter().filter(|x| x.outcome == o).count() as u64;
            prop_assert_eq!(
                (t.succeeded, t.failed, t.declined),
                (count(Outcome::Success), count(Outcome::Failed), count(Outcome::Declined))
            );
            prop_assert_eq!(t.amount_minor, txns.iter().map(|x| i128::from(x.amount_minor)).sum::<i128>());
        }
        Aggregate::Change(c) => {
            let mut want: Vec<Change> = evs
                .iter()
                .filter_map(|e| match &e.body {
                    EventBody::Change(x) => Some((**x).clone()),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(want.len(), evs.len(), "only changes in a change window");
            want.sort();
            let got: Vec<Change> = c.changes.iter().map(|x| (**x).clone()).collect();
            prop_assert_eq!(got, want);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// When windows close: several inputs, idleness, every kind.

#[derive(Debug, Clone)]
enum Step {
    Batch(InputId, Vec<Event>),
    /// `check_idle` at this processing time.
    CheckIdle(Millis),
}

#[derive(Debug, Clone)]
struct TimedCase {
    config: EngineConfig,
    steps: Vec<Step>,
}

fn timed_case() -> impl Strategy<Value = TimedCase> {
    let step = (0usize..INPUTS.len(), prop::collection::vec(raw_event(), 1..24), prop::option::of(0i64..15_000));
    (config_strategy(), 1usize..=INPUTS.len(), prop::collection::vec(step, 1..32)).prop_map(
        |((config, grain), n_inputs, raw)| {
            // Each input has its own clock; input k's runs k + 1 times as fast, so the
            // slowest input holds the watermark back until it goes idle.
            let mut clocks: Vec<i64> = (0..INPUTS.len() as i64).map(|k| 1_000_000 + 500 * k).collect();
            let mut processing = 0i64;
            let mut steps = Vec::new();
            for (input_idx, events, idle_after) in raw {
                let k = input_idx % n_inputs;
                let speed = k as i64 + 1;
                let batch = events.into_iter().map(|r| make_event(&mut clocks[k], speed, grain, r)).collect();
                steps.push(Step::Batch(INPUTS[k], batch));
                if let Some(advance) = idle_after {
                    processing += advance;
                    steps.push(Step::CheckIdle(Millis(processing)));
                }
            }
            TimedCase { config, steps }
        },
    )
}

/// The two engines behind one interface.
trait EngineUnderTest {
    fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats;
    fn check_idle(&mut self, processing_now: Millis);
    fn finish(&mut self);
    fn drain_closed(&mut self) -> Vec<ClosedWindow>;
    fn watermark(&self) -> Millis;
    /// How long released windows may take to appear after a call returns.
    fn settle_time(&self) -> Duration;
}

impl EngineUnderTest for Engine {
    fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats {
        Engine::record(self, input, batch)
    }
    fn check_idle(&mut self, processing_now: Millis) {
        Engine::check_idle(self, processing_now)
    }
    fn finish(&mut self) {
        Engine::finish(self)
    }
    fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        Engine::drain_closed(self)
    }
    fn watermark(&self) -> Millis {
        Engine::watermark(self)
    }
    fn settle_time(&self) -> Duration {
        // Single-threaded: a window closed by a call is there when the call returns.
        Duration::ZERO
    }
}

impl EngineUnderTest for ShardedEngine {
    fn record(&mut self, input: InputId, batch: &[Event]) -> RecordStats {
        ShardedEngine::record(self, input, batch.to_vec())
    }
    fn check_idle(&mut self, processing_now: Millis) {
        ShardedEngine::check_idle(self, processing_now)
    }
    fn finish(&mut self) {
        ShardedEngine::finish(self)
    }
    fn drain_closed(&mut self) -> Vec<ClosedWindow> {
        ShardedEngine::drain_closed(self)
    }
    fn watermark(&self) -> Millis {
        ShardedEngine::watermark(self)
    }
    fn settle_time(&self) -> Duration {
        // Shard threads answer asynchronously: output is held until every shard passed the
        // watermark, so without more input it must appear soon, but not necessarily at once.
        Duration::from_secs(1)
    }
}

/// Takes in what the engine released: each window must be one the model has
/// events for, closed at the model's watermark (unless at the end of input),
/// released once, in (end, series) order, equal to the model's aggregate.
fn take_released(
    model: &Model,
    released: &mut BTreeSet<Key>,
    drained: Vec<ClosedWindow>,
    finished: bool,
) -> Result<(), TestCaseError> {
    let order: Vec<(Millis, SeriesId)> = drained.iter().map(|c| (c.window.end, c.series)).collect();
    prop_assert!(order.is_sorted(), "released out of (end, series) order: {:?}", order);
    for cw in drained {
        let key = (cw.window.end, cw.series, cw.window.start);
        let evs = model.groups.get(&key);
        prop_assert!(evs.is_some(), "released {:?}, a window without admitted events", key);
        prop_assert!(
            finished || cw.window.end <= model.closed_through(),
            "released {:?} before it closed: window end + lateness > watermark {:?}",
            key,
            model.watermark
        );
        prop_assert!(released.insert(key), "released {:?} twice", key);
        check_aggregate(&cw.aggregate, evs.expect("checked above"))?;
    }
    Ok(())
}

/// Drains until the released windows are exactly the model's closed set, for at most the engine's settle time.
fn settle(e: &mut impl EngineUnderTest, model: &Model, released: &mut BTreeSet<Key>) -> Result<(), TestCaseError> {
    let deadline = Instant::now() + e.settle_time();
    loop {
        take_released(model, released, e.drain_closed(), false)?;
        let held = model.closed().find(|k| !released.contains(*k));
        match held {
            None => return Ok(()),
            Some(k) if Instant::now() >= deadline => {
                prop_assert!(
                    false,
                    "window {:?} closed at watermark {:?} but not released ({} of {} closed windows released)",
                    k,
                    model.watermark,
                    released.len(),
                    model.closed().count()
                );
            }
            Some(_) => std::thread::sleep(Duration::from_micros(100)),
        }
    }
}

fn check_timing(case: &TimedCase, e: &mut impl EngineUnderTest) -> Result<(), TestCaseError> {
    let mut model = Model::new(&case.config);
    let mut released = BTreeSet::new();
    for (i, step) in case.steps.iter().enumerate() {
        match step {
            Step::Batch(input, batch) => {
                let got = e.record(*input, batch);
                let want = model.record(*input, batch);
                prop_assert_eq!(got, want, "step {}: accepted and late events of the batch", i);
            }
            Step::CheckIdle(now) => {
                e.check_idle(*now);
                model.check_idle(*now);
            }
        }
        prop_assert_eq!(e.watermark(), model.watermark, "step {}: watermark", i);
        settle(e, &model, &mut released)?;
    }
    e.finish();
    take_released(&model, &mut released, e.drain_closed(), true)?;
    let missing: Vec<&Key> = model.groups.keys().filter(|k| !released.contains(*k)).collect();
    prop_assert!(missing.is_empty(), "windows never released, even by finish: {:?}", missing);
    Ok(())
}

// ---------------------------------------------------------------------------
// Batch splits and shard counts, one input.

#[derive(Debug, Clone)]
struct Case {
    config: EngineConfig,
    events: Vec<Event>,
    splits: Vec<usize>,
    shards: usize,
}

fn case() -> impl Strategy<Value = Case> {
    let raw = prop::collection::vec(raw_event(), 1..400);
    (config_strategy(), raw, prop::collection::vec(1usize..64, 1..8), 1usize..4).prop_map(
        |((config, grain), raw, splits, shards)| {
            let mut t = 1_000_000i64;
            let events = raw.into_iter().map(|r| make_event(&mut t, 1, grain, r)).collect();
            Case { config, events, splits, shards }
        },
    )
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn engine_closes_windows_when_the_naive_watermark_says(c in timed_case()) {
        check_timing(&c, &mut Engine::new(c.config))?;
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
        // Record one series of each kind in three parts: every merge order equals recording
        // them all at once, and equals the naive aggregate.
        for series in 0..4 {
            let evs: Vec<Event> = c.events.iter().filter(|e| e.series == SeriesId(series)).cloned().collect();
            let (i, j) = (cut1.min(cut2).min(evs.len()), cut1.max(cut2).min(evs.len()));
            let part = |s: &[Event]| {
                let mut a = Aggregate::empty(series_kind(series));
                for e in s {
                    assert!(a.record(e.ts, &e.body), "the body fits the series' kind");
                }
                a
            };
            let (a, b, cc, all) = (part(&evs[..i]), part(&evs[i..j]), part(&evs[j..]), part(&evs));
            let merged = |x: &Aggregate, y: &Aggregate| {
                let mut m = x.clone();
                assert!(m.merge(y), "same kind");
                m
            };
            let left = merged(&merged(&a, &b), &cc);
            let right = merged(&a, &merged(&b, &cc));
            let swapped = merged(&merged(&cc, &a), &b);
            let reversed = merged(&merged(&cc, &b), &a);
            prop_assert_eq!(&left, &right);
            prop_assert_eq!(&left, &swapped);
            prop_assert_eq!(&left, &reversed);
            prop_assert_eq!(&left, &all);
            if !evs.is_empty() {
                check_aggregate(&left, &evs)?;
            }
        }
    }
}

proptest! {
    // A sharded engine that never releases a window waits out its settle time on every
    // shrinking step: fewer of them keep a red run short.
    #![proptest_config(ProptestConfig { cases: 128, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn sharded_engine_on_2_shards_closes_windows_when_the_naive_watermark_says(c in timed_case()) {
        check_timing(&c, &mut ShardedEngine::new(c.config, 2))?;
    }

    #[test]
    fn sharded_engine_on_3_shards_closes_windows_when_the_naive_watermark_says(c in timed_case()) {
        check_timing(&c, &mut ShardedEngine::new(c.config, 3))?;
    }
}

#[test]
fn empty_windows_follow_a_quiet_series_and_stop_at_the_data() {
    let mut cfg = config(10, 1, 2000, 0);
    cfg.empty_windows = 3;
    let mut e = Engine::new(cfg);
    let req = |ts, s| Event { ts: Millis(ts), series: SeriesId(s), body: body_for(s, Millis(ts), 1000, 1, 0) };
    // Series 0 is active in [0, 10 s), then silent; series 4 keeps the watermark moving.
    e.record(InputId(0), &[req(1000, 0), req(2000, 0)]);
    for t in (10_000..=100_000).step_by(5000) {
        e.record(InputId(0), &[req(t, 4)]);
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
    let mut e = Engine::new(EngineConfig {
        timing: Timing { idle_timeout: DurationMs(60_000), ..config(10, 1, 0, 0).timing },
        ..config(10, 1, 0, 0)
    });
    let ev = |ts, s| Event { ts: Millis(ts), series: SeriesId(s), body: body_for(s, Millis(ts), 1000, 1, 0) };
    e.record(InputId(1), &[ev(1_000, 4)]);
    e.record(InputId(0), &[ev(1_000, 0), ev(50_000, 0)]);
    assert!(e.drain_closed().is_empty(), "input 1 at 1 s holds every window open");
    e.check_idle(Millis(0));
    e.record(InputId(0), &[ev(51_000, 0)]);
    e.check_idle(Millis(61_000));
    let closed = e.drain_closed();
    assert_eq!(closed.len(), 2, "both [0, 10 s) windows close once input 1 is idle: {closed:?}");
}
