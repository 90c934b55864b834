//! Checkpointable state of a [`Pipeline`]: engine, detectors and incidents, keyed by label sets.
//!
//! A [`PipelineState`] is taken between calls (every window end a call closed
//! has been fully processed), so it holds no half-processed window. Series are
//! named by their label sets; [`Pipeline::restore`] re-interns them through the
//! pipeline's registry, so the state restores into a fresh process whose series
//! ids differ.

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// The format version of a [`PartitionState`].
pub const PARTITION_STATE_VERSION: u32 = 1;

/// The state of one partitioned input's series (a Kafka partition's: producers key by
/// service, so a series lives on one partition), which another instance adopts when
/// the partition moves there ([`Pipeline::adopt`]): the input's watermark state, the
/// open windows and the detector state of the series whose latest event came from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionState {
    /// [`PARTITION_STATE_VERSION`] when written.
    pub version: u32,
    /// The input's watermark state; its floor is where windows had closed when it was written.
    pub input: crate::watermark::InputState,
    /// Open windows of its series, sorted by (label set, start).
    pub open_windows: Vec<crate::checkpoint::OpenWindowState>,
    /// Its series' detector state.
    pub detectors: BankState,
    /// Its services' incidents, pending findings and changes.
    #[serde(default)]
    pub incidents: ManagerState,
}

/// Which series a checkpoint copy puts in which partition's state.
#[derive(Debug, Clone)]
pub(super) struct PartitionsCopy {
    /// Per series, the input its latest event came from ([`NO_HOME`] for none).
    pub(super) homes: Vec<u32>,
    /// Per input index: `None` an ordinary input, `Some(owned)` a partitioned one.
    pub(super) roles: Vec<Option<bool>>,
    /// Where windows had closed at the barrier.
    pub(super) on_time_from: crate::time::Millis,
    /// Input names by index.
    pub(super) names: Vec<String>,
}

/// No input has sent the series an event yet.
pub(super) const NO_HOME: u32 = u32::MAX;

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
    partitions: Option<PartitionsCopy>,
}

impl PipelineCopy {
    /// The serialisable state, series named through `registry` (the pipeline's). With
    /// partitioned inputs, only the series and inputs of no partition are in it: see
    /// [`PipelineCopy::into_states`].
    pub fn into_state(self, registry: &crate::series::SeriesRegistry) -> PipelineState {
        self.into_states(registry).0
    }

    /// The serialisable state split: the pipeline's own (everything of no partitioned
    /// input), and the [`PartitionState`] of each partitioned input owned here, by name.
    /// Series homed on a partitioned input not owned here (handed over) are in neither.
    pub fn into_states(
        mut self,
        registry: &crate::series::SeriesRegistry,
    ) -> (PipelineState, Vec<(String, PartitionState)>) {
        let keys = |id| (*registry.key(id)).clone();
        let Some(parts) = self.partitions.take() else {
            let detectors = self.detectors.clone().into_state(&keys);
            return (self.pipeline_state(detectors, registry), Vec::new());
        };
        // Bucket 0 is the pipeline's own; bucket k + 1 the k-th owned partitioned input.
        let owned: Vec<u32> =
            (0..parts.roles.len() as u32).filter(|&i| parts.roles[i as usize] == Some(true)).collect();
        let bucket_of_input = |input: u32| match parts.roles.get(input as usize) {
            Some(Some(true)) => owned.iter().position(|&o| o == input).map(|k| k + 1),
            Some(Some(false)) => None,
            _ => Some(0),
        };
        let bucket = |s: crate::series::SeriesId| match parts.homes.get(s.index()) {
            Some(&h) if h != NO_HOME => bucket_of_input(h),
            _ => Some(0),
        };
        let n = owned.len() + 1;
        let mut windows: Vec<Vec<crate::shard::WindowCopy>> = (0..n).map(|_| Vec::new()).collect();
        for w in std::mem::take(&mut self.windows) {
            if let Some(b) = bucket(w.series) {
                windows[b].push(w);
            }
        }
        let mut detectors = self.detectors.clone().into_states(&keys, &bucket, n).into_iter();
        // Incidents go by service: producers key by service, so a service's series share a home.
        let mut services: Vec<std::collections::BTreeSet<String>> = (0..n).map(|_| Default::default()).collect();
        let mut away = std::collections::BTreeSet::new();
        for (id, &home) in parts.homes.iter().enumerate() {
            if home == NO_HOME || id >= registry.len() {
                continue;
            }
            let set = match bucket_of_input(home) {
                Some(0) => continue,
                Some(b) => &mut services[b],
                None => &mut away,
            };
            let key = registry.key(crate::series::SeriesId(id as u32));
            if !set.contains(&*key.service) {
                set.insert(key.service.to_string());
            }
        }
        let mut incidents = vec![ManagerState::default()];
        for part in &services[1..] {
            incidents.push(self.incidents.take_services(part));
        }
        let _ = self.incidents.take_services(&away);
        let mut incidents = incidents.into_iter().skip(1);
        let mut inputs = std::mem::take(&mut self.inputs);
        let mut partition_inputs = Vec::new();
        inputs.retain(|(key, state)| {
            let id = match key {
                InputKey::Name(name) => parts.names.iter().position(|n| n == name).map(|i| i as u32),
                InputKey::Index(i) => Some(*i),
            };
            let Some(id) = id.map(InputId) else { return true };
            match parts.roles.get(id.0 as usize) {
                Some(Some(_)) => {
                    partition_inputs.push((id, key.clone(), state.clone()));
                    false
                }
                _ => true,
            }
        });
        self.inputs = inputs;
        let mut windows = windows.into_iter();
        self.windows = windows.next().unwrap_or_default();
        let own = self.pipeline_state(detectors.next().expect("a state per bucket"), registry);
        let mut out = Vec::new();
        for ((input, window_copies), bank) in owned.iter().zip(windows).zip(detectors) {
            let Some((_, InputKey::Name(name), state)) = partition_inputs.iter().find(|(id, _, _)| id.0 == *input)
            else {
                continue;
            };
            let mut input_state = state.clone();
            input_state.floor = input_state.floor.max(parts.on_time_from);
            let named =
                EngineState::from_copies(crate::time::Millis::MIN, Vec::new(), window_copies, Vec::new(), registry);
            out.push((
                name.clone(),
                PartitionState {
                    version: PARTITION_STATE_VERSION,
                    input: input_state,
                    open_windows: named.open_windows,
                    detectors: bank,
                    incidents: incidents.next().unwrap_or_default(),
                },
            ));
        }
        (own, out)
    }

    fn pipeline_state(self, detectors: BankState, registry: &crate::series::SeriesRegistry) -> PipelineState {
        let mut engine = EngineState::from_copies(self.watermark, self.inputs, self.windows, self.late, registry);
        if !self.late_carried.is_empty() {
            let mut late = self.late_carried;
            for (key, n) in engine.late {
                *late.entry(key).or_insert(0) += n;
            }
            engine.late = late.into_iter().collect();
        }
        PipelineState {
            version: PIPELINE_STATE_VERSION,
            engine,
            detectors,
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
            partitions: self.roles.iter().any(Option::is_some).then(|| PartitionsCopy {
                homes: self.homes.clone(),
                roles: self.roles.clone(),
                on_time_from: router.on_time_from(),
                names: self.input_names.clone(),
            }),
        }
    }

    /// Makes `input` a partitioned one: its series' state is checkpointed apart
    /// ([`PipelineCopy::into_states`]) and moves with it between instances. It is not
    /// owned here until [`Pipeline::adopt`]ed.
    pub fn partitioned(&mut self, input: InputId) {
        let i = input.0 as usize;
        if self.roles.len() <= i {
            self.roles.resize(i + 1, None);
        }
        self.roles[i].get_or_insert(false);
    }

    /// Takes over the partitioned `input`, with the state its last owner checkpointed
    /// (`None`: nothing was, it starts fresh here): the input's watermark state (the
    /// watermark may go back to it), its series' open windows and detector state.
    /// Windows closed before are processed first; their incident events are returned.
    pub fn adopt(&mut self, input: InputId, state: Option<PartitionState>) -> Result<Vec<IncidentEvent>, RestoreError> {
        if let Some(state) = &state
            && state.version != PARTITION_STATE_VERSION
        {
            return Err(RestoreError::Version { found: state.version });
        }
        self.partitioned(input);
        self.roles[input.0 as usize] = Some(true);
        let Some(state) = state else { return Ok(Vec::new()) };
        // A barrier, so every window closed at the watermark so far is out before it goes back.
        let _ = self.engine.take_windows(Arc::new(|_| false));
        let out = self.process();
        let registry = self.registry.clone();
        let windows: Vec<crate::shard::WindowCopy> = state
            .open_windows
            .into_iter()
            .map(|w| crate::shard::WindowCopy {
                series: registry.intern(w.series.as_ref()),
                start: w.start,
                empty_streak: w.empty_streak,
                aggregate: w.aggregate.into_aggregate(),
            })
            .collect();
        let mut adopted = Vec::with_capacity(windows.len());
        adopted.extend(windows.iter().map(|w| w.series));
        self.incidents.adopt(state.incidents);
        self.detectors.restore(state.detectors, &mut |key| {
            let id = registry.intern(key.as_ref());
            adopted.push(id);
            Some(id)
        });
        for id in adopted {
            self.set_home(id, input);
        }
        // Nothing closes at the watermark the adoption leaves (the adopted windows end after
        // it), so `closed_windows` stays what the barrier released.
        self.engine.adopt(input, state.input, windows);
        Ok(out)
    }

    /// Hands the partitioned `input` over (call right after the checkpoint that wrote its
    /// state): its series' open windows leave the engine, it holds the watermark back no
    /// more, and later checkpoints leave its series out. Returns the incident events of
    /// what that closes.
    pub fn release(&mut self, input: InputId) -> Vec<IncidentEvent> {
        self.partitioned(input);
        self.roles[input.0 as usize] = Some(false);
        let mut services = std::collections::BTreeSet::new();
        for (id, _) in self.homes.iter().enumerate().filter(|(id, h)| **h == input.0 && *id < self.registry.len()) {
            let key = self.registry.key(crate::series::SeriesId(id as u32));
            if !services.contains(&*key.service) {
                services.insert(key.service.to_string());
            }
        }
        let _ = self.incidents.release(&services);
        let homes: Arc<Vec<u32>> = Arc::new(self.homes.clone());
        let _ = self.engine.take_windows(Arc::new(move |s| homes.get(s.index()) == Some(&input.0)));
        self.engine.router_mut().end(input);
        self.engine.advance();
        self.process()
    }

    pub(super) fn set_home(&mut self, series: crate::series::SeriesId, input: InputId) {
        let i = series.index();
        if self.homes.len() <= i {
            self.homes.resize((i + 1).max(self.homes.len() * 2), NO_HOME);
        }
        self.homes[i] = input.0;
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
