//! Checkpointable state of a [`Pipeline`]: engine, detectors and incidents, keyed by label sets.
//!
//! A [`PipelineState`] is taken between calls (every window end a call closed
//! has been fully processed), so it holds no half-processed window. Series are
//! named by their label sets; [`Pipeline::restore`] re-interns them through the
//! pipeline's registry, so the state restores into a fresh process whose series
//! ids differ.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Pipeline;
use crate::checkpoint::{EngineState, InputKey};
use crate::detect::BankState;
use crate::engine::RecordStats;
use crate::incident::IncidentEvent;
use crate::incident::ManagerState;
use crate::series::SeriesKey;
use crate::watermark::InputId;

/// The format version [`Pipeline::snapshot`] writes and [`Pipeline::restore`] reads.
pub const PIPELINE_STATE_VERSION: u32 = 1;

/// Why a [`PipelineState`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// Written by another format version.
    #[error("pipeline state version {found} is not supported (this build reads version {PIPELINE_STATE_VERSION})")]
    Version {
        /// The version found.
        found: u32,
    },
}

/// Everything a [`Pipeline`] needs to continue exactly as an uninterrupted one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineState {
    /// [`PIPELINE_STATE_VERSION`] when written.
    pub version: u32,
    /// Open windows, watermarks and late counts (cumulative over restarts).
    pub engine: EngineState,
    /// Every (series, signal)'s detector state.
    pub detectors: BankState,
    /// Incidents, pending findings, recent changes.
    pub incidents: ManagerState,
    /// Events accepted by every `record` call so far (late ones are in `engine.late`).
    pub accepted: u64,
}

/// A [`Pipeline`]'s state copied at a checkpoint barrier, series still by
/// process-local id; [`PipelineCopy::into_state`] makes the [`PipelineState`].
#[derive(Debug, Clone)]
pub struct PipelineCopy {
    watermark: crate::time::Millis,
    inputs: Vec<(InputKey, crate::watermark::InputState)>,
    windows: Vec<crate::shard::WindowCopy>,
    late: Vec<(crate::series::SeriesId, u64)>,
    late_carried: BTreeMap<SeriesKey, u64>,
    detectors: crate::detect::BankCopy,
    incidents: ManagerState,
    accepted: u64,
}

impl PipelineCopy {
    /// The serialisable state, series named through `registry` (the pipeline's).
    pub fn into_state(self, registry: &crate::series::SeriesRegistry) -> PipelineState {
        let mut engine = EngineState::from_copies(self.watermark, self.inputs, self.windows, self.late, registry);
        if !self.late_carried.is_empty() {
            let mut late = self.late_carried;
            for (key, n) in engine.late {
                *late.entry(key).or_insert(0) += n;
            }
            engine.late = late.into_iter().collect();
        }
        let keys = |id| (*registry.key(id)).clone();
        PipelineState {
            version: PIPELINE_STATE_VERSION,
            engine,
            detectors: self.detectors.into_state(&keys),
            incidents: self.incidents,
            accepted: self.accepted,
        }
    }
}

impl Pipeline {
    /// The pipeline's state, with series named by their label sets, taken at
    /// a barrier: every shard copies its open windows after the same input,
    /// and windows closed before the barrier are processed first, so their
    /// incident events (appended to `out`) come before the state.
    pub fn checkpoint(&mut self, out: &mut Vec<IncidentEvent>) -> PipelineState {
        self.checkpoint_copy(out).into_state(&self.registry)
    }

    /// The barrier part of [`Pipeline::checkpoint`]: plain copies of the
    /// state, series still by id. This is all the time ingest stands still;
    /// [`PipelineCopy::into_state`] (naming series, sorting) can run on another thread.
    pub fn checkpoint_copy(&mut self, out: &mut Vec<IncidentEvent>) -> PipelineCopy {
        let windows = self.engine.copy_open_windows();
        out.extend(self.process());
        let router = self.engine.router();
        let names = &self.input_names;
        let inputs = router
            .inputs()
            .map(|(id, s)| {
                let key = match names.get(id.0 as usize) {
                    Some(name) => InputKey::Name(name.clone()),
                    None => InputKey::Index(id.0),
                };
                (key, s.clone())
            })
            .collect();
        PipelineCopy {
            watermark: router.watermark(),
            inputs,
            windows,
            late: router.late_by_series().iter().map(|(id, n)| (*id, *n)).collect(),
            late_carried: self.late_carried.clone(),
            detectors: self.detectors.copy_state(),
            incidents: self.incidents.state().clone(),
            accepted: self.stats.accepted,
        }
    }

    /// Puts `state` (from [`Pipeline::checkpoint`], possibly in another process)
    /// into this pipeline, which must be fresh and built from the same
    /// configuration, with its inputs declared ([`Pipeline::input`]) first. Label sets are interned in the pipeline's registry.
    /// Detector state that no longer matches the configuration starts fresh.
    pub fn restore(&mut self, state: PipelineState) -> Result<(), RestoreError> {
        if state.version != PIPELINE_STATE_VERSION {
            return Err(RestoreError::Version { found: state.version });
        }
        let late: BTreeMap<SeriesKey, u64> = state.engine.late.iter().cloned().collect();
        self.restore_engine(state.engine);
        self.late_carried = late;
        let registry = self.registry.clone();
        self.detectors.restore(state.detectors, &mut |key| Some(registry.intern(key.as_ref())));
        self.incidents.restore(state.incidents);
        self.stats.accepted = state.accepted;
        Ok(())
    }

    /// Restores the engine only (an older checkpoint without detector or
    /// incident state): detectors and incidents start fresh.
    pub fn restore_engine(&mut self, engine: EngineState) {
        let late: BTreeMap<SeriesKey, u64> = engine.late.iter().cloned().collect();
        let n_late = late.values().sum();
        // Inputs by name are restored into the inputs declared now (`Pipeline::input`, before
        // the restore); a name no longer declared is a source since removed: its state goes.
        let ids: Vec<(InputKey, InputId)> = engine
            .inputs
            .iter()
            .filter_map(|(key, _)| {
                let id = match key {
                    InputKey::Name(name) => {
                        let i = self.input_names.iter().position(|n| n == name)?;
                        InputId(u32::try_from(i).ok()?)
                    }
                    // Format 2 named inputs by index: restored as before, by index.
                    InputKey::Index(i) => InputId(*i),
                };
                Some((key.clone(), id))
            })
            .collect();
        engine.restore(&mut *self.engine, &self.registry, &mut |key| {
            ids.iter().find(|(k, _)| k == key).map(|(_, id)| *id)
        });
        self.late_carried = late;
        self.stats = RecordStats { accepted: self.stats.accepted, late: n_late };
    }
}

#[cfg(test)]
mod tests;
