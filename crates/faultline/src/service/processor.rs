//! What the engine thread runs: the engine (and, once it lands, the detector and incident pipeline) with its checkpoint.

use std::sync::Arc;

use faultline_core::checkpoint::Checkpoint;
use faultline_core::{Engine, Event, InputId, Millis, RecordStats, SeriesRegistry};

use super::output::{Record, signal_lines};
use crate::config::PipelineSpec;

/// The engine plus its output formatting; owned by the engine thread only.
#[derive(Debug)]
pub(crate) struct Processor {
    engine: Engine,
    registry: Arc<SeriesRegistry>,
    dims: Vec<String>,
    /// Late events carried over from the checkpoint this run started from.
    late_before: u64,
    /// Windows closed so far in this process.
    pub(crate) n_closed: u64,
}

impl Processor {
    /// A processor for `spec`, restored from `cp` when there is one.
    pub(crate) fn new(spec: &PipelineSpec, registry: Arc<SeriesRegistry>, cp: Option<&Checkpoint>) -> Processor {
        let mut engine = Engine::new(spec.engine);
        let late_before = match cp {
            Some(cp) => cp.engine.clone().restore(&mut engine, &registry).iter().map(|l| l.1).sum(),
            None => 0,
        };
        Processor { engine, registry, dims: spec.decoder.dims.clone(), late_before, n_closed: 0 }
    }

    /// Records a decoded batch; closed windows become output records.
    pub(crate) fn record(&mut self, input: InputId, batch: &[Event], out: &mut Vec<Record>) -> RecordStats {
        let stats = self.engine.record(input, batch);
        self.drain(out);
        stats
    }

    /// Lets idle inputs release the watermark.
    pub(crate) fn check_idle(&mut self, now: Millis, out: &mut Vec<Record>) {
        self.engine.check_idle(now);
        self.drain(out);
    }

    /// End of every input: closes all windows.
    pub(crate) fn finish(&mut self, out: &mut Vec<Record>) {
        self.engine.finish();
        self.drain(out);
    }

    fn drain(&mut self, out: &mut Vec<Record>) {
        let closed = self.engine.drain_closed();
        self.n_closed += closed.len() as u64;
        signal_lines(&closed, &self.registry, &self.dims, out);
    }

    /// The state to checkpoint (source positions are the caller's).
    pub(crate) fn checkpoint(&self, now: Millis) -> Checkpoint {
        Checkpoint::capture(&self.engine, &self.registry, now)
    }

    /// Late events, including those before the restart.
    pub(crate) fn n_late(&self) -> u64 {
        self.late_before + self.engine.router().n_late()
    }

    /// Open windows.
    pub(crate) fn n_open_windows(&self) -> usize {
        self.engine.shard().n_open_windows()
    }

    /// The watermark.
    pub(crate) fn watermark(&self) -> Millis {
        self.engine.watermark()
    }
}
