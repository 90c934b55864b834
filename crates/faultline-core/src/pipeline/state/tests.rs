//! A pipeline cut anywhere, serialised, and restored in a fresh registry continues exactly as one run.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::*;
use crate::event::Event;
use crate::pipeline::PipelineConfig;
use crate::series::{SeriesKind, SeriesRegistry};
use crate::watermark::InputId;
use crate::wire::{Decoder, DecoderConfig};

const BATCH: usize = 64;

fn lines() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/payments-burst.jsonl");
    std::fs::read_to_string(path)
        .expect("testdata/payments-burst.jsonl is in the repository")
        .lines()
        .map(String::from)
        .collect()
}

fn decode(registry: &Arc<SeriesRegistry>, lines: &[String]) -> Vec<Event> {
    let mut d = Decoder::new(registry.clone(), DecoderConfig::default());
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        // The file holds a few malformed lines on purpose; they are rejected either way.
        let _ = d.decode_line(i as u64 + 1, l.as_bytes(), None, &mut out);
    }
    out
}

fn pipeline(registry: Arc<SeriesRegistry>, shards: usize) -> Pipeline {
    let config = PipelineConfig { dimension_names: DecoderConfig::default().dims, shards, ..PipelineConfig::default() };
    Pipeline::new(config, registry)
}

/// The state at a barrier, as JSON; what the barrier released goes to `out`.
fn checkpoint(p: &mut Pipeline, out: &mut Output) -> String {
    let mut events = Vec::new();
    let state = p.checkpoint(&mut events);
    out.take(p, events);
    serde_json::to_string(&state).expect("state serialises")
}

/// What a stretch of calls produced: incident event lines and closed windows by label set.
#[derive(Debug, Default, PartialEq)]
struct Output {
    incidents: Vec<String>,
    windows: Vec<String>,
    /// Apart from the windows: a call that closes two window ends lists both ends' windows first.
    points: Vec<String>,
}

impl Output {
    fn take(&mut self, p: &Pipeline, events: Vec<crate::incident::IncidentEvent>) {
        self.incidents.extend(events.iter().map(|e| e.to_json_line()));
        // Exact HDR buckets (the histogram's internal min is not part of a window's meaning).
        for c in p.closed_windows() {
            let agg = crate::checkpoint::AggregateState::from_aggregate(&c.aggregate);
            self.windows.push(format!("{:?} {:?} {agg:?}", p.registry().key(c.series), c.window));
        }
        for s in p.signal_points() {
            let key = p.registry().key(s.series);
            self.points.push(format!("{key:?} {:?} {:?} {} {} {}", s.window, s.signal, s.value, s.n, s.k));
        }
    }
}

/// Feeds `lines` in batches (decoded with the pipeline's registry); `finish` at the end when asked.
fn feed(p: &mut Pipeline, lines: &[String], finish: bool, out: &mut Output) {
    for chunk in lines.chunks(BATCH) {
        let events = decode(p.registry(), chunk);
        let produced = p.record(InputId(0), &events);
        out.take(p, produced);
    }
    if finish {
        let produced = p.finish();
        out.take(p, produced);
    }
}

/// Cut anywhere, restored in another process with the same or another shard
/// count, the pipeline gives the same windows, incident events and final state.
#[test]
fn snapshot_and_restore_at_cut_points_continue_exactly() {
    let lines = lines();
    let mut whole = pipeline(Arc::new(SeriesRegistry::new(100)), 1);
    let mut expected = Output::default();
    feed(&mut whole, &lines, true, &mut expected);
    let opened = expected.incidents.iter().filter(|l| l.contains(r#""action":"opened""#)).count();
    assert!(opened >= 1, "the scenario opens an incident: {:?}", expected.incidents);
    let final_state = checkpoint(&mut whole, &mut Output::default());

    let cuts = [BATCH, 10 * BATCH, 25 * BATCH, 40 * BATCH, 55 * BATCH, 70 * BATCH, lines.len() / BATCH * BATCH];
    let shard_pairs = [(1, 1), (2, 2), (1, 3), (3, 2), (4, 1)];
    for (i, cut) in cuts.into_iter().enumerate() {
        let cut = cut.min(lines.len());
        let (before, after) = shard_pairs[i % shard_pairs.len()];
        let what = format!("cut after {cut} lines, {before} shards then {after}");
        let mut first = pipeline(Arc::new(SeriesRegistry::new(100)), before);
        let mut got = Output::default();
        feed(&mut first, &lines[..cut], false, &mut got);
        let json = checkpoint(&mut first, &mut got);
        let state: PipelineState = serde_json::from_str(&json).expect("state deserialises");

        // Another process: a registry with other ids for the same label sets.
        let registry = Arc::new(SeriesRegistry::new(100));
        registry.intern(crate::SeriesKey::new(SeriesKind::Gauge, "zzz", "x", &[]).as_ref());
        let mut second = pipeline(registry, after);
        second.restore(state).expect("same version");
        feed(&mut second, &lines[cut..], true, &mut got);
        assert!(got.windows == expected.windows, "closed windows differ, {what}");
        assert!(got.points == expected.points, "signal points differ, {what}");
        assert_eq!(got.incidents, expected.incidents, "incident events, {what}");
        let end_state = checkpoint(&mut second, &mut Output::default());
        assert_eq!(end_state, final_state, "final state, {what}");
        assert_eq!(second.stats(), whole.stats(), "counts, {what}");
    }
}

/// Inputs are checkpointed by name: a source added before the others in a
/// later run does not take over their watermark.
#[test]
fn watermarks_follow_their_source_by_name() {
    let lines = lines();
    let mut first = pipeline(Arc::new(SeriesRegistry::new(100)), 1);
    let app = first.input("app");
    let events = decode(first.registry(), &lines[..500]);
    first.record(app, &events);
    let state = first.checkpoint(&mut Vec::new());
    let names: Vec<_> = state.engine.inputs.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(names, vec![crate::checkpoint::InputKey::Name("app".into())]);

    let mut second = pipeline(Arc::new(SeriesRegistry::new(100)), 1);
    let new_source = second.input("audit");
    let app_again = second.input("app");
    second.restore(state.clone()).expect("same version");
    assert_ne!(app_again, new_source);
    let restored = second.engine().router().inputs().find(|(id, _)| *id == app_again).map(|(_, s)| s.max_ts);
    assert_eq!(restored, Some(state.engine.inputs[0].1.max_ts), "app's watermark state stays app's");
    let fresh = second.engine().router().inputs().find(|(id, _)| *id == new_source).map(|(_, s)| s.max_ts);
    assert_eq!(fresh, Some(crate::Millis::MIN), "the new source starts fresh, holding the watermark back");

    // A source since removed: its watermark state is not brought back to hold the others.
    let mut third = pipeline(Arc::new(SeriesRegistry::new(100)), 1);
    let only = third.input("audit");
    third.restore(state).expect("same version");
    let ids: Vec<_> = third.engine().router().inputs().map(|(id, _)| id).collect();
    assert_eq!(ids, vec![only], "app's state was dropped with its source");
}

#[test]
fn other_versions_are_refused() {
    let mut p = pipeline(Arc::new(SeriesRegistry::new(100)), 1);
    let mut state = p.checkpoint(&mut Vec::new());
    state.version = 99;
    let err = p.restore(state).expect_err("version 99 is unknown");
    assert!(err.to_string().contains("version 99"), "{err}");
}

/// The burst split into two partitions (every series on one of them), each in file order,
/// then an event an hour after the last on each, so every window closes on the watermark.
fn partitioned_lines() -> [Vec<String>; 2] {
    let mut parts: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut last = 0;
    for line in lines() {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        last = last.max(v["ts"].as_i64().unwrap_or(0));
        let second = v["kind"] == "transaction" || v["operation"] == "GET /status" || v["operation"] == "POST /refund";
        // A service of its own on the second partition: producers key by service.
        let line = if second { line.replace("payments-api", "wallets-api") } else { line };
        parts[usize::from(second)].push(line);
    }
    for (p, lines) in parts.iter_mut().enumerate() {
        lines.push(format!(
            r#"{{"ts":{},"service":"flush-{p}","operation":"GET /","kind":"request","status":200,"latency_ms":1}}"#,
            last + 3_600_000
        ));
    }
    parts
}

/// Feeds batches `from..to` of `lines` into `input`.
fn feed_input(p: &mut Pipeline, input: InputId, lines: &[String], (from, to): (usize, usize), out: &mut Output) {
    for chunk in lines.chunks(BATCH).skip(from).take(to.saturating_sub(from)) {
        let events = decode(p.registry(), chunk);
        let produced = p.record(input, &events);
        out.take(p, produced);
    }
}

/// A pipeline reading partitions `t/0` and `t/1`, owning those in `owned` (the others end here).
fn member(shards: usize, owned: &[usize]) -> (Pipeline, [InputId; 2]) {
    let registry = Arc::new(SeriesRegistry::new(100));
    // Another process: other ids for the same label sets.
    registry.intern(crate::SeriesKey::new(SeriesKind::Gauge, "zzz", "x", &[]).as_ref());
    let mut p = pipeline(registry, shards);
    let inputs = [p.input("t/0"), p.input("t/1")];
    for (i, input) in inputs.iter().enumerate() {
        p.partitioned(*input);
        if owned.contains(&i) {
            p.adopt(*input, None).expect("nothing to restore");
        } else {
            p.end_input(*input);
        }
    }
    (p, inputs)
}

/// The partition states of a checkpoint, through the file form another instance reads.
fn partition_files(p: &mut Pipeline, out: &mut Output) -> BTreeMap<String, PartitionState> {
    let mut events = Vec::new();
    let copy = p.checkpoint_copy(&mut events);
    out.take(p, events);
    let (own, parts) = copy.into_states(p.registry());
    assert!(
        own.engine.open_windows.iter().all(|w| w.series.service.starts_with("zzz")) && own.detectors.entries.is_empty(),
        "the pipeline's own state leaves the partitions' series out"
    );
    parts
        .into_iter()
        .map(|(name, state)| {
            let file = crate::checkpoint::PartitionCheckpoint {
                version: PARTITION_STATE_VERSION,
                taken_at: crate::Millis(0),
                partition: name.clone(),
                position: None,
                state,
            };
            let back = crate::checkpoint::PartitionCheckpoint::from_binary(&file.to_binary()).expect("reads back");
            (name, back.state)
        })
        .collect()
}

/// Instances of one group share the partitions; a partition handed over cooperatively, or
/// taken from a crashed instance's last checkpoint while the taker's own watermark is far
/// ahead, gives the closed windows of one instance reading both.
#[test]
fn partitions_moved_between_instances_give_the_windows_of_one_instance() {
    let parts = partitioned_lines();
    let n = parts.iter().map(|p| p.len().div_ceil(BATCH)).max().unwrap_or(0);
    let mut expected = Output::default();
    let (mut whole, inputs) = member(1, &[0, 1]);
    for k in 0..n {
        for (input, lines) in inputs.iter().zip(&parts) {
            feed_input(&mut whole, *input, lines, (k, k + 1), &mut expected);
        }
    }
    let produced = whole.finish();
    expected.take(&whole, produced);
    let mut expected_windows = expected.windows.clone();
    expected_windows.sort();
    assert!(expected_windows.len() > 300, "{} windows", expected_windows.len());
    assert!(expected_windows.windows(2).all(|w| w[0] != w[1]), "one run closes each window once");
    let pairs = |out: &Output| -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = out
            .incidents
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("incident JSON");
                (
                    v["incident"]["dedup_key"].as_str().unwrap_or("").to_string(),
                    v["action"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        p.sort();
        p
    };
    let expected_pairs = pairs(&expected);
    assert!(expected_pairs.iter().filter(|p| p.1 == "opened").count() >= 2, "{expected_pairs:?}");
    let mut moved_open = 0;

    // Hand-over: A reads both, then hands t/1 to B at a checkpoint.
    for (cut, shards) in [(5, 1), (20, 2), (30, 1), (36, 2), (41, 3)] {
        let (mut a, [a0, a1]) = member(shards, &[0, 1]);
        let (mut b, [_, b1]) = member(2, &[]);
        let mut got = Output::default();
        for k in 0..cut {
            feed_input(&mut a, a0, &parts[0], (k, k + 1), &mut got);
            feed_input(&mut a, a1, &parts[1], (k, k + 1), &mut got);
        }
        let mut files = partition_files(&mut a, &mut got);
        assert_eq!(files.keys().collect::<Vec<_>>(), ["t/0", "t/1"]);
        let moved = files.remove("t/1").expect("t/1's state");
        assert!(!moved.open_windows.is_empty() && !moved.detectors.entries.is_empty(), "cut {cut}: state moves");
        moved_open += moved.incidents.incidents.iter().filter(|i| i.status == crate::incident::Status::Open).count();
        let produced = a.release(a1);
        got.take(&a, produced);
        let produced = b.adopt(b1, Some(moved)).expect("same version");
        got.take(&b, produced);
        assert!(partition_files(&mut a, &mut got).keys().eq(["t/0"]), "A writes t/0 only now");
        for k in cut..n {
            feed_input(&mut a, a0, &parts[0], (k, k + 1), &mut got);
            feed_input(&mut b, b1, &parts[1], (k, k + 1), &mut got);
        }
        for p in [&mut a, &mut b] {
            let produced = p.finish();
            got.take(p, produced);
        }
        assert_eq!(pairs(&got), expected_pairs, "hand-over at batch {cut}: incident events");
        got.windows.sort();
        let missing: Vec<_> = expected_windows.iter().filter(|w| !got.windows.contains(w)).take(2).collect();
        let extra: Vec<_> = got.windows.iter().filter(|w| !expected_windows.contains(w)).take(2).collect();
        assert!(
            got.windows == expected_windows,
            "hand-over at batch {cut}: the windows of A and B differ from one run's: {} and {}, missing {missing:?}, extra {extra:?}",
            got.windows.len(),
            expected_windows.len()
        );
    }

    assert!(moved_open >= 1, "an open incident moved with its partition at some cut");

    // A crash: A owns t/0 and B t/1, B far ahead; A checkpoints, goes on a little, dies;
    // B adopts t/0 from that checkpoint, its watermark going back to it.
    for (cut, ahead, shards) in [(10, 30, 1), (25, 60, 2)] {
        let (mut a, [a0, _]) = member(shards, &[0]);
        let (mut b, [b0, b1]) = member(2, &[1]);
        let mut got = Output::default();
        feed_input(&mut b, b1, &parts[1], (0, ahead), &mut got);
        feed_input(&mut a, a0, &parts[0], (0, cut), &mut got);
        let mut files = partition_files(&mut a, &mut got);
        feed_input(&mut a, a0, &parts[0], (cut, cut + 8), &mut got);
        drop(a);
        let before = b.engine().router().watermark();
        let produced = b.adopt(b0, files.remove("t/0")).expect("same version");
        got.take(&b, produced);
        assert!(b.engine().router().watermark() < before, "B's watermark went back to t/0's");
        for k in 0..n {
            feed_input(&mut b, b0, &parts[0], (cut + k, cut + k + 1), &mut got);
            feed_input(&mut b, b1, &parts[1], (ahead + k, ahead + k + 1), &mut got);
        }
        let produced = b.finish();
        got.take(&b, produced);
        let got_pairs: std::collections::BTreeSet<_> = pairs(&got).into_iter().collect();
        let want_pairs: std::collections::BTreeSet<_> = expected_pairs.iter().cloned().collect();
        assert_eq!(
            got_pairs, want_pairs,
            "crash at {cut}: incident events (A's after its checkpoint come again from B)"
        );
        let got: std::collections::BTreeSet<String> = got.windows.into_iter().collect();
        let want: std::collections::BTreeSet<String> = expected_windows.iter().cloned().collect();
        let missing: Vec<_> = want.difference(&got).take(2).collect();
        let extra: Vec<_> = got.difference(&want).take(2).collect();
        assert!(missing.is_empty() && extra.is_empty(), "crash at {cut}: missing {missing:?}, extra {extra:?}");
    }
}
