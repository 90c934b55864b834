//! What the engine thread runs: the incident pipeline, or the bare engine where state must be restored.
//!
//! Two modes, one interface. [`Mode::Incidents`] runs the core's `Pipeline`
//! (windows → signals → detectors → incident events); [`Mode::Windows`] runs
//! the bare `Engine` (closed-window signal lines only). A run that restores
//! checkpoints uses `Windows` for now: `Pipeline` exposes no mutable engine
//! or detector bank yet, so its open windows could not be put back after a
//! restart, and losing windows is what checkpoints exist to prevent.
//! FIXME(service): switch checkpointed runs to `Incidents` once `Pipeline`
//! can restore engine and detector state.

use std::sync::Arc;

use faultline_core::checkpoint::Checkpoint;
use faultline_core::pipeline::{Pipeline, PipelineConfig};
use faultline_core::{Engine, Event, InputId, Millis, RecordStats, SeriesRegistry};

use super::admin::AdminState;
use super::metrics::{DETECTOR_EVALUATIONS, INCIDENT_EVENTS};
use super::output::{Record, signal_lines};
use crate::config::PipelineSpec;

/// Which core the processor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Detectors and incidents: incident events and signal lines.
    Incidents,
    /// Windows only: signal lines, restorable from a checkpoint.
    Windows,
}

#[derive(Debug)]
enum Core {
    Windows(Box<Engine>),
    Incidents(Box<Pipeline>),
}

/// The engine or pipeline plus its output formatting; owned by the engine thread only.
#[derive(Debug)]
pub(crate) struct Processor {
    core: Core,
    registry: Arc<SeriesRegistry>,
    dims: Vec<String>,
    admin: Arc<AdminState>,
    /// Late events carried over from the checkpoint this run started from.
    late_before: u64,
    /// Windows closed so far in this process.
    pub(crate) n_closed: u64,
}

impl Processor {
    /// A processor for `spec` in `mode`, restored from `cp` when there is one.
    pub(crate) fn new(
        spec: &PipelineSpec,
        mode: Mode,
        registry: Arc<SeriesRegistry>,
        cp: Option<&Checkpoint>,
        admin: Arc<AdminState>,
    ) -> Processor {
        let mut late_before = 0;
        let core = match mode {
            Mode::Windows => {
                let mut engine = Engine::new(spec.engine);
                if let Some(cp) = cp {
                    late_before = cp.engine.clone().restore(&mut engine, &registry).iter().map(|l| l.1).sum();
                }
                Core::Windows(Box::new(engine))
            }
            Mode::Incidents => {
                let config = PipelineConfig {
                    engine: spec.engine,
                    dimension_names: spec.decoder.dims.clone(),
                    ..PipelineConfig::default()
                };
                Core::Incidents(Box::new(Pipeline::new(config, registry.clone())))
            }
        };
        Processor { core, registry, dims: spec.decoder.dims.clone(), admin, late_before, n_closed: 0 }
    }

    /// Windows ending at or before `until` only feed the detectors' history (pipeline mode).
    pub(crate) fn set_history_until(&mut self, until: Millis) {
        if let Core::Incidents(p) = &mut self.core {
            p.set_history_until(until);
        }
    }

    /// Records a decoded batch; closed windows and incident events become output records.
    pub(crate) fn record(&mut self, input: InputId, batch: &[Event], out: &mut Vec<Record>) -> RecordStats {
        match &mut self.core {
            Core::Windows(e) => {
                let stats = e.record(input, batch);
                self.drain_windows(out);
                stats
            }
            Core::Incidents(p) => {
                let late_before = p.engine().router().n_late();
                let events = p.record(input, batch);
                let late = p.engine().router().n_late() - late_before;
                let stats = RecordStats { accepted: batch.len() as u64 - late, late };
                self.after_pipeline(events, out);
                stats
            }
        }
    }

    /// Lets idle inputs release the watermark.
    pub(crate) fn check_idle(&mut self, now: Millis, out: &mut Vec<Record>) {
        match &mut self.core {
            Core::Windows(e) => {
                e.check_idle(now);
                self.drain_windows(out);
            }
            Core::Incidents(p) => {
                let events = p.check_idle(now);
                self.after_pipeline(events, out);
            }
        }
    }

    /// End of every input: closes all windows.
    pub(crate) fn finish(&mut self, out: &mut Vec<Record>) {
        match &mut self.core {
            Core::Windows(e) => {
                e.finish();
                self.drain_windows(out);
            }
            Core::Incidents(p) => {
                let events = p.finish();
                self.after_pipeline(events, out);
            }
        }
    }

    fn drain_windows(&mut self, out: &mut Vec<Record>) {
        if let Core::Windows(e) = &mut self.core {
            let closed = e.drain_closed();
            self.n_closed += closed.len() as u64;
            signal_lines(&closed, &self.registry, &self.dims, out);
        }
    }

    fn after_pipeline(&mut self, events: Vec<faultline_core::incident::IncidentEvent>, out: &mut Vec<Record>) {
        let Core::Incidents(p) = &self.core else { return };
        let closed = p.closed_windows();
        self.n_closed += closed.len() as u64;
        signal_lines(closed, &self.registry, &self.dims, out);
        let m = &self.admin.metrics;
        m.add(DETECTOR_EVALUATIONS, &[], p.signal_points().len() as f64);
        for ev in events {
            let labels = [("severity", ev.incident.severity.as_str()), ("action", ev.action.as_str())];
            m.add(INCIDENT_EVENTS, &labels, 1.0);
            out.push(Record::Incident(ev.to_json_line()));
        }
    }

    fn engine(&self) -> &Engine {
        match &self.core {
            Core::Windows(e) => e,
            Core::Incidents(p) => p.engine(),
        }
    }

    /// The state to checkpoint (source positions are the caller's).
    pub(crate) fn checkpoint(&self, now: Millis) -> Checkpoint {
        let mut cp = Checkpoint::capture(self.engine(), &self.registry, now);
        if let Core::Incidents(p) = &self.core {
            let keys = |id| (*self.registry.key(id)).clone();
            cp.detectors = serde_json::to_value(p.detectors().snapshot(&keys)).ok();
            cp.incidents = serde_json::to_value(p.incidents().state()).ok();
        }
        cp
    }

    /// Late events, including those before the restart.
    pub(crate) fn n_late(&self) -> u64 {
        self.late_before + self.engine().router().n_late()
    }

    /// Open windows.
    pub(crate) fn n_open_windows(&self) -> usize {
        self.engine().shard().n_open_windows()
    }

    /// The watermark.
    pub(crate) fn watermark(&self) -> Millis {
        self.engine().watermark()
    }
}
