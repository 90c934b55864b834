//! A pipeline cut anywhere, serialised, and restored in a fresh registry continues exactly as one run.

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
