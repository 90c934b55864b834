//! What the engine thread runs: the core's incident pipeline, restored from and checkpointed to label-set state.
//!
//! The processor wraps one `Pipeline` (windows → signals → detectors →
//! incident events) and turns its output into records for the sinks. A run
//! with a state directory restores the whole pipeline (open windows,
//! watermarks, detector and incident state) from the checkpoint, so a restart
//! continues where the last checkpoint left off: already-delivered incident
//! events may repeat with the same (dedup key, action), but no new key appears.
//! A version 1 checkpoint holds engine state only: its windows are restored and
//! the detectors and incidents start fresh.

use std::sync::Arc;

use anyhow::Context as _;
use faultline_core::checkpoint::Checkpoint;
use faultline_core::incident::IncidentEvent;
use faultline_core::pipeline::{PartitionState, Pipeline, PipelineCopy};
use faultline_core::watermark::InputState;
use faultline_core::{Event, InputId, Millis, RecordStats, SeriesRegistry, ShardLoad};

use super::admin::AdminState;
use super::metrics::{DETECTOR_EVALUATIONS, INCIDENT_EVENTS};
use super::output::{Record, signal_lines};
use crate::config::PipelineSpec;

/// The pipeline plus its output formatting; owned by the engine thread only.
#[derive(Debug)]
pub(crate) struct Processor {
    pipeline: Box<Pipeline>,
    registry: Arc<SeriesRegistry>,
    dims: Vec<String>,
    admin: Arc<AdminState>,
    /// Whether any sink writes signal lines: none are built otherwise.
    want_signals: bool,
    /// Windows closed so far in this process.
    pub(crate) n_closed: u64,
}

impl Processor {
    /// A processor for `spec` with the source partitions `partitions`, restored from `cp` when there is one.
    pub(crate) fn new(
        spec: &PipelineSpec,
        registry: Arc<SeriesRegistry>,
        cp: Option<&Checkpoint>,
        admin: Arc<AdminState>,
        want_signals: bool,
        partitions: &[String],
    ) -> anyhow::Result<Processor> {
        let mut pipeline = Pipeline::new(crate::replay::pipeline_config(spec), registry.clone());
        // Declared before the restore: a checkpointed source partition no longer configured is dropped.
        for p in partitions {
            pipeline.input(p);
        }
        if let Some(cp) = cp {
            match cp.pipeline_state() {
                Some(state) => pipeline.restore(state).context("restoring the checkpointed pipeline")?,
                None => {
                    tracing::warn!(
                        version = cp.version,
                        "checkpoint holds engine state only: windows restored, detectors and incidents start fresh"
                    );
                    pipeline.restore_engine(cp.engine.clone());
                }
            }
        }
        let cell = pipeline.publish_snapshots();
        if let Some(feed) = admin.sql_feed.get().cloned() {
            // Never blocks: a full queue counts the window end as missed by the SQL tables.
            cell.subscribe(Box::new(move |s| {
                feed.send(faultline_sql::SqlInput::Window(s.clone()));
            }));
        }
        let _ = admin.snapshots.set(cell);
        Ok(Processor {
            pipeline: Box::new(pipeline),
            registry,
            dims: spec.decoder.dims.clone(),
            admin,
            want_signals,
            n_closed: 0,
        })
    }

    /// The engine input of a source partition, by name (checkpoints key watermarks by it).
    pub(crate) fn input(&mut self, partition: &str) -> InputId {
        self.pipeline.input(partition)
    }

    /// Makes `input` a partitioned one (its series' state moves with it between instances).
    pub(crate) fn partitioned(&mut self, input: InputId) {
        self.pipeline.partitioned(input);
    }

    /// Takes over the partitioned `input` with what its last owner checkpointed.
    pub(crate) fn adopt(
        &mut self,
        input: InputId,
        state: Option<PartitionState>,
        out: &mut Vec<Record>,
    ) -> anyhow::Result<()> {
        let events = self.pipeline.adopt(input, state).context("adopting a partition's state")?;
        self.after_pipeline(events, out);
        Ok(())
    }

    /// Hands the partitioned `input` over (right after the checkpoint that wrote its state).
    pub(crate) fn release(&mut self, input: InputId, out: &mut Vec<Record>) {
        let events = self.pipeline.release(input);
        self.after_pipeline(events, out);
    }

    /// Windows ending at or before `until` only feed the detectors' history.
    pub(crate) fn set_history_until(&mut self, until: Millis) {
        self.pipeline.set_history_until(until);
    }

    /// Records a decoded batch; closed windows and incident events become output records.
    pub(crate) fn record(&mut self, input: InputId, batch: &[Event], out: &mut Vec<Record>) -> RecordStats {
        let before = self.pipeline.stats();
        let events = self.pipeline.record(input, batch);
        let after = self.pipeline.stats();
        self.after_pipeline(events, out);
        RecordStats { accepted: after.accepted - before.accepted, late: after.late - before.late }
    }

    /// A source partition reached its end: it holds the watermark back no more.
    pub(crate) fn end_input(&mut self, input: InputId, out: &mut Vec<Record>) {
        let events = self.pipeline.end_input(input);
        self.after_pipeline(events, out);
    }

    /// Lets idle inputs release the watermark.
    pub(crate) fn check_idle(&mut self, now: Millis, out: &mut Vec<Record>) {
        let events = self.pipeline.check_idle(now);
        self.after_pipeline(events, out);
    }

    /// End of every input: closes all windows.
    pub(crate) fn finish(&mut self, out: &mut Vec<Record>) {
        let events = self.pipeline.finish();
        self.after_pipeline(events, out);
    }

    fn after_pipeline(&mut self, events: Vec<IncidentEvent>, out: &mut Vec<Record>) {
        let p = &self.pipeline;
        let closed = p.closed_windows();
        self.n_closed += closed.len() as u64;
        if self.want_signals {
            signal_lines(closed, &self.registry, &self.dims, out);
        }
        let m = &self.admin.metrics;
        m.add(DETECTOR_EVALUATIONS, &[], p.signal_points().len() as f64);
        if !events.is_empty()
            && let Some(feed) = self.admin.sql_feed.get()
        {
            feed.send(faultline_sql::SqlInput::Events(events.clone()));
        }
        for ev in events {
            let labels = [("severity", ev.incident.severity.as_str()), ("action", ev.action.as_str())];
            m.add(INCIDENT_EVENTS, &labels, 1.0);
            out.push(Record::Incident(Box::new(ev)));
        }
    }

    /// The state to checkpoint, copied at a barrier through every shard; what
    /// the barrier released goes to `out` first. Naming series and
    /// serialising is left to the sink thread ([`PipelineCopy::into_state`]).
    pub(crate) fn checkpoint(&mut self, out: &mut Vec<Record>) -> PipelineCopy {
        let mut events = Vec::new();
        let copy = self.pipeline.checkpoint_copy(&mut events);
        self.after_pipeline(events, out);
        copy
    }

    /// Late events, including those before the restart.
    pub(crate) fn n_late(&self) -> u64 {
        self.pipeline.stats().late
    }

    /// Late events per series.
    pub(crate) fn late_by_series(&self) -> Vec<(faultline_core::SeriesId, u64)> {
        self.pipeline.engine().router().late_by_series().iter().map(|(id, n)| (*id, *n)).collect()
    }

    /// Open windows.
    pub(crate) fn n_open_windows(&self) -> usize {
        self.pipeline.engine().n_open_windows()
    }

    /// The watermark.
    pub(crate) fn watermark(&self) -> Millis {
        self.pipeline.engine().router().watermark()
    }

    /// Every input's watermark state.
    pub(crate) fn input_states(&self) -> Vec<(InputId, InputState)> {
        self.pipeline.engine().router().inputs().map(|(id, s)| (id, s.clone())).collect()
    }

    /// Per-shard load.
    pub(crate) fn shard_loads(&self) -> Vec<ShardLoad> {
        self.pipeline.engine().shard_loads()
    }
}
