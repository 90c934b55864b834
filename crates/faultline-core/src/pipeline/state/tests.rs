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

fn pipeline(registry: Arc<SeriesRegistry>) -> Pipeline {
    let config = PipelineConfig { dimension_names: DecoderConfig::default().dims, ..PipelineConfig::default() };
    Pipeline::new(config, registry)
}

/// What a stretch of calls produced: incident event lines and closed windows by label set.
#[derive(Debug, Default, PartialEq)]
struct Output {
    incidents: Vec<String>,
    windows: Vec<String>,
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
            self.windows.push(format!("{key:?} {:?} {:?} {} {} {}", s.window, s.signal, s.value, s.n, s.k));
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

#[test]
fn snapshot_and_restore_at_cut_points_continue_exactly() {
    let lines = lines();
    let mut whole = pipeline(Arc::new(SeriesRegistry::new(100)));
    let mut expected = Output::default();
    feed(&mut whole, &lines, true, &mut expected);
    let opened = expected.incidents.iter().filter(|l| l.contains(r#""action":"opened""#)).count();
    assert!(opened >= 1, "the scenario opens an incident: {:?}", expected.incidents);
    let final_state = serde_json::to_string(&whole.snapshot()).expect("state serialises");

    for cut in [BATCH, 10 * BATCH, 25 * BATCH, 40 * BATCH, 55 * BATCH, 70 * BATCH, lines.len() / BATCH * BATCH] {
        let cut = cut.min(lines.len());
        let mut first = pipeline(Arc::new(SeriesRegistry::new(100)));
        let mut got = Output::default();
        feed(&mut first, &lines[..cut], false, &mut got);
        let json = serde_json::to_string(&first.snapshot()).expect("state serialises");
        let state: PipelineState = serde_json::from_str(&json).expect("state deserialises");

        // Another process: a registry with other ids for the same label sets.
        let registry = Arc::new(SeriesRegistry::new(100));
        registry.intern(crate::SeriesKey::new(SeriesKind::Gauge, "zzz", "x", &[]).as_ref());
        let mut second = pipeline(registry);
        second.restore(state).expect("same version");
        feed(&mut second, &lines[cut..], true, &mut got);
        assert_eq!(got.windows, expected.windows, "closed windows, cut after {cut} lines");
        assert_eq!(got.incidents, expected.incidents, "incident events, cut after {cut} lines");
        let end_state = serde_json::to_string(&second.snapshot()).expect("state serialises");
        assert_eq!(end_state, final_state, "final state, cut after {cut} lines");
        assert_eq!(second.stats(), whole.stats(), "counts, cut after {cut} lines");
    }
}

#[test]
fn other_versions_are_refused() {
    let mut p = pipeline(Arc::new(SeriesRegistry::new(100)));
    let mut state = p.snapshot();
    state.version = 99;
    let err = p.restore(state).expect_err("version 99 is unknown");
    assert!(err.to_string().contains("version 99"), "{err}");
}
