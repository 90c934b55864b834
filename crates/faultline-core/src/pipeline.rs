//! The whole pipeline on one thread: events → closed windows → signals → detectors → incident events.

mod publish;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use publish::{SnapshotCell, Subscriber, WindowSnapshot};
pub use state::{
    PARTITION_STATE_VERSION, PIPELINE_STATE_VERSION, PartitionState, PipelineCopy, PipelineState, RestoreError,
};

use crate::detect::{DetectorBank, DetectorBankSpec, Finding};
use crate::engine::{Engine, EngineConfig, RecordStats};
use crate::event::Event;
use crate::incident::{CauseCatalog, IncidentConfig, IncidentEvent, IncidentManager};
use crate::series::{LabelOrder, SeriesId, SeriesKey, SeriesRegistry};
use crate::sharded::ShardedEngine;
use crate::signal::{SignalPoint, extract};
use crate::time::Millis;
use crate::watermark::InputId;
use crate::window::ClosedWindow;
use crate::window_engine::WindowEngine;

/// Everything a [`Pipeline`] needs to know.
#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    /// Windows and watermarks.
    pub engine: EngineConfig,
    /// Detector settings.
    pub detectors: DetectorBankSpec,
    /// Incident policy. Its window size and dimension names are set by [`Pipeline::new`]
    /// from `engine` and `dimension_names`.
    pub incidents: IncidentConfig,
    /// Probable-cause rules.
    pub causes: CauseCatalog,
    /// Names of the series dimensions, in config order (the decoder's `dims`).
    pub dimension_names: Vec<String>,
    /// Shards: 0 or 1 runs the engine on the caller's thread, N > 1 on
    /// [`ShardedEngine`] (shard 0 on the caller's thread, the rest on their own).
    pub shards: usize,
}

/// Decoder-free glue over one [`Engine`], a [`DetectorBank`] and an
/// [`IncidentManager`]: batches of events in, incident events out.
/// Single-threaded and deterministic: the same events give the same incident
/// events whatever the batch sizes.
///
/// Each window end is processed as a unit: its closed windows are counted,
/// turned into signal points, run through the detectors, and the manager
/// then decides on that window end (event time only).
#[derive(Debug)]
pub struct Pipeline {
    engine: Box<dyn WindowEngine>,
    /// Input names by [`InputId`]: checkpoints key watermarks by name.
    input_names: Vec<String>,
    detectors: DetectorBank,
    incidents: IncidentManager,
    registry: Arc<SeriesRegistry>,
    closed: Vec<ClosedWindow>,
    points: Vec<SignalPoint>,
    findings: Vec<Finding>,
    found: Vec<Finding>,
    stats: RecordStats,
    /// Where each window end's snapshot goes, once someone asked for it.
    published: Option<SnapshotCell>,
    /// Late events per series from before a restore (the router counts from zero).
    late_carried: BTreeMap<SeriesKey, u64>,
    /// Label-set order of the series, so closed windows sort by integers.
    order: LabelOrder,
    /// Per input index: `None` an ordinary input, `Some(owned)` a partitioned one whose
    /// series' state moves with it ([`Pipeline::partitioned`]).
    roles: Vec<Option<bool>>,
    /// Per series, the input of its latest event, kept once an input is partitioned.
    homes: Vec<u32>,
}

impl Pipeline {
    /// A pipeline over series interned in `registry` (the decoders' registry).
    pub fn new(config: PipelineConfig, registry: Arc<SeriesRegistry>) -> Pipeline {
        let mut incidents = config.incidents;
        incidents.window = config.engine.timing.windows.slide();
        incidents.dimension_names = config.dimension_names;
        let engine: Box<dyn WindowEngine> = if config.shards > 1 {
            Box::new(ShardedEngine::new(config.engine, config.shards))
        } else {
            Box::new(Engine::new(config.engine))
        };
        Pipeline {
            engine,
            input_names: Vec::new(),
            detectors: DetectorBank::new(config.detectors),
            incidents: IncidentManager::new(incidents, config.causes),
            registry,
            closed: Vec::new(),
            points: Vec::new(),
            findings: Vec::new(),
            found: Vec::new(),
            stats: RecordStats::default(),
            late_carried: BTreeMap::new(),
            published: None,
            order: LabelOrder::default(),
            roles: Vec::new(),
            homes: Vec::new(),
        }
    }

    /// The input id of the source partition `name` (`source` or
    /// `source/partition`), the same for the same name within a process;
    /// checkpoints name inputs this way, so adding or renaming a source
    /// leaves the others' watermarks where they were. The input holds the
    /// watermark back from now on, until it is idle or ends ([`Pipeline::end_input`]).
    pub fn input(&mut self, name: &str) -> InputId {
        let idx = match self.input_names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.input_names.push(name.to_string());
                self.input_names.len() - 1
            }
        };
        let id = InputId(u32::try_from(idx).expect("fewer than 2^32 inputs"));
        self.engine.router_mut().declare(id);
        id
    }

    /// Publishes a read-only [`WindowSnapshot`] into the returned cell at every
    /// window end from now on (the same cell on every call).
    pub fn publish_snapshots(&mut self) -> SnapshotCell {
        self.published.get_or_insert_with(SnapshotCell::default).clone()
    }

    /// The input reached its end: it no longer holds the watermark back.
    /// Returns the incident events of the windows that closes.
    pub fn end_input(&mut self, input: InputId) -> Vec<IncidentEvent> {
        self.engine.router_mut().end(input);
        self.engine.advance();
        self.process()
    }

    /// Records a batch and processes every window it closes.
    pub fn record(&mut self, input: InputId, batch: &[Event]) -> Vec<IncidentEvent> {
        if !self.roles.is_empty() {
            for ev in batch {
                self.set_home(ev.series, input);
            }
        }
        self.stats += self.engine.record(input, batch);
        self.process()
    }

    /// Lets idle inputs stop holding the watermark back (`processing_now` is the caller's clock).
    pub fn check_idle(&mut self, processing_now: Millis) -> Vec<IncidentEvent> {
        self.engine.check_idle(processing_now);
        self.process()
    }

    /// End of input: closes every window and processes them.
    pub fn finish(&mut self) -> Vec<IncidentEvent> {
        self.engine.finish();
        self.process()
    }

    /// Windows ending at or before `until` feed the detectors' history only: no incident opens.
    pub fn set_history_until(&mut self, until: Millis) {
        self.incidents.set_history_until(until);
    }

    /// The windows closed by the latest call, in (end, label set) order.
    pub fn closed_windows(&self) -> &[ClosedWindow] {
        &self.closed
    }

    /// The signal points of those windows.
    pub fn signal_points(&self) -> &[SignalPoint] {
        &self.points
    }

    /// The detectors' findings on those points.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Events accepted and late, over every `record` call so far.
    pub fn stats(&self) -> RecordStats {
        self.stats
    }

    /// The series registry.
    pub fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    /// The engine (watermark, open windows, shard loads).
    pub fn engine(&self) -> &dyn WindowEngine {
        &*self.engine
    }

    /// The engine, mutably (a barrier needs it).
    pub fn engine_mut(&mut self) -> &mut dyn WindowEngine {
        &mut *self.engine
    }

    /// The detectors.
    pub fn detectors(&self) -> &DetectorBank {
        &self.detectors
    }

    /// The incident manager (incidents, checkpointable state).
    pub fn incidents(&self) -> &IncidentManager {
        &self.incidents
    }

    fn process(&mut self) -> Vec<IncidentEvent> {
        // The previous call's windows are done with: their histograms go back to the shard.
        let done = std::mem::take(&mut self.closed);
        self.engine.recycle(done);
        self.closed = self.engine.drain_closed();
        // Label-set order, not id order: ids depend on interning order, which a
        // restore changes, and the manager must see the same sequence either way.
        if self.closed.iter().any(|c| c.series.index() >= self.order.len()) {
            self.order.cover(&self.registry);
        }
        let order = &self.order;
        // Sorts (end, rank, index) triples and then moves each window once: a closed
        // window is 160 B, and sorting those in place moved them at every partition step.
        // (end, rank) pairs are unique (a series has one window per end), so this order is
        // the only one.
        self.closed.sort_by_cached_key(|c| (c.window.end, order.rank(c.series)));
        self.points.clear();
        self.findings.clear();
        let mut out = Vec::new();
        let mut current_end = None;
        // Where the current window end's points, findings and windows start.
        let mut from = (0, 0, 0);
        for i in 0..self.closed.len() {
            let closed = &self.closed[i];
            if let Some(end) = current_end.filter(|end| *end != closed.window.end) {
                self.incidents.end_window(end, &mut out);
                self.publish(end, from, i);
                from = (self.points.len(), self.findings.len(), i);
            }
            let closed = &self.closed[i];
            current_end = Some(closed.window.end);
            let key = self.order.key(closed.series);
            self.incidents.observe_window(key, closed);
            // Straight into `points`: a point is 72 B, and ten million of them went through
            // a scratch vector first.
            let from = self.points.len();
            extract(closed, key, &mut self.points);
            for point in &self.points[from..] {
                self.incidents.observe_point(key, point);
                self.found.clear();
                // A ratio from a single trial says nothing, and the bank's binomial
                // test cannot take one (its clamp panics with n = 1).
                if point.signal.is_ratio() && point.n < 2 {
                    continue;
                }
                self.detectors.observe(key, point, &mut self.found);
                for f in &self.found {
                    self.incidents.observe_finding(key, f);
                }
                self.findings.append(&mut self.found);
            }
        }
        if let Some(end) = current_end {
            self.incidents.end_window(end, &mut out);
            self.publish(end, from, self.closed.len());
        }
        out
    }

    /// Publishes the window end `end` when asked to: its points, findings and closed windows
    /// start at `from` (points, findings, windows) and its windows end before `windows_to`.
    fn publish(&self, end: Millis, from: (usize, usize, usize), windows_to: usize) {
        let Some(cell) = &self.published else { return };
        let (points_from, findings_from, windows_from) = from;
        let key = |id| self.registry.key(id);
        // Latencies and findings only for subscribers (the SQL tables): the latest-only readers never read them.
        let detail = cell.has_subscribers();
        let latencies = if detail {
            self.closed[windows_from..windows_to]
                .iter()
                .filter_map(|c| match &c.aggregate {
                    crate::aggregate::Aggregate::Request(r) => {
                        r.latency.as_ref().filter(|h| !h.is_empty()).map(|h| (key(c.series), h.clone()))
                    }
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        let findings = if detail {
            self.findings[findings_from..].iter().map(|f| (key(f.series), f.clone())).collect()
        } else {
            Vec::new()
        };
        // The points' label sets under one read of the registry (points of a series come together).
        let points = self.registry.with_keys(|keys| {
            let mut last: Option<(SeriesId, Arc<SeriesKey>)> = None;
            self.points[points_from..]
                .iter()
                .map(|p| {
                    let k = match &last {
                        Some((id, k)) if *id == p.series => k.clone(),
                        _ => {
                            let k = keys[p.series.index()].clone();
                            last = Some((p.series, k.clone()));
                            k
                        }
                    };
                    (k, p.clone())
                })
                .collect()
        });
        cell.publish(WindowSnapshot {
            window_end: end,
            points,
            findings,
            latencies,
            incidents: self.incidents.incidents().to_vec(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{Action, Severity};
    use crate::wire::{Decoder, DecoderConfig};

    /// 10 minutes of healthy traffic, 3 minutes of half the charges failing, 10 healthy minutes.
    fn events(registry: &Arc<SeriesRegistry>) -> Vec<Event> {
        let mut decoder = Decoder::new(registry.clone(), DecoderConfig::default());
        let mut out = Vec::new();
        let t0 = 1_795_197_600_000_i64;
        for i in 0..(23 * 60 * 5) {
            let ts = t0 + i * 200;
            let failing = (600_000..780_000).contains(&(ts - t0)) && i % 2 == 0;
            let status = if failing { 502 } else { 200 };
            let line = format!(
                r#"{{"ts":{ts},"service":"pay","operation":"POST /charge","kind":"request","status":{status},"latency_ms":20}}"#
            );
            decoder.decode_line(i as u64 + 1, line.as_bytes(), None, &mut out).unwrap();
        }
        out
    }

    fn run(batch: usize) -> Vec<String> {
        let registry = Arc::new(SeriesRegistry::new(100));
        let evs = events(&registry);
        let mut p = Pipeline::new(PipelineConfig::default(), registry);
        let mut out = Vec::new();
        for chunk in evs.chunks(batch) {
            out.extend(p.record(InputId(0), chunk));
        }
        out.extend(p.finish());
        out.iter().map(IncidentEvent::to_json_line).collect()
    }

    #[test]
    fn an_outage_opens_and_resolves_one_incident() {
        let registry = Arc::new(SeriesRegistry::new(100));
        let evs = events(&registry);
        let mut p = Pipeline::new(PipelineConfig::default(), registry);
        let mut out = p.record(InputId(0), &evs);
        assert!(!p.closed_windows().is_empty() && !p.signal_points().is_empty() && !p.findings().is_empty());
        out.extend(p.finish());
        let actions: Vec<Action> = out.iter().map(|e| e.action).collect();
        assert_eq!(actions.first(), Some(&Action::Opened));
        assert_eq!(actions.last(), Some(&Action::Resolved));
        assert_eq!(out.iter().filter(|e| e.action == Action::Opened).count(), 1);
        let opened = &out[0].incident;
        assert_eq!(opened.service, "pay");
        assert!(opened.detected_at.0 - opened.onset_at.0 <= 20_000, "{opened:?}");
        assert!(out.iter().any(|e| e.incident.severity == Severity::P0), "half the requests failing on a payment path");
    }

    #[test]
    fn each_window_end_is_published_with_its_points_and_the_incidents() {
        let registry = Arc::new(SeriesRegistry::new(100));
        let evs = events(&registry);
        let mut p = Pipeline::new(PipelineConfig::default(), registry);
        let cell = p.publish_snapshots();
        assert!(cell.latest().is_none(), "nothing before the first window end");
        let mut ends = Vec::new();
        let mut saw_open_incident = false;
        for chunk in evs.chunks(50) {
            p.record(InputId(0), chunk);
            if let Some(s) = cell.latest() {
                if ends.last() != Some(&s.window_end) {
                    ends.push(s.window_end);
                }
                assert!(s.points.iter().all(|(k, pt)| pt.window.end == s.window_end && &*k.service == "pay"));
                assert!(!s.points.is_empty());
                saw_open_incident |= !s.incidents.is_empty();
            }
        }
        assert!(ends.len() > 100 && ends.windows(2).all(|w| w[0] < w[1]), "{} window ends, in order", ends.len());
        assert!(saw_open_incident, "the outage's incident shows in a snapshot");
        let latest = cell.latest().expect("published");
        assert!(latest.window_end <= p.engine().router().watermark(), "only closed window ends are published");
    }

    #[test]
    fn batch_sizes_change_nothing() {
        assert_eq!(run(1), run(10_000));
        assert_eq!(run(7), run(4096));
    }
}
