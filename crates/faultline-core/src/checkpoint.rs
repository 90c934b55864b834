//! Versioned checkpoint state: the engine's open windows, watermarks and late counts, keyed by label sets.
//!
//! A [`Checkpoint`] is what a restart needs to resume without losing or
//! double-counting a window: every open window (with its latency histogram
//! as exact HDR buckets), every input's watermark state, the late counts, the
//! sources' positions, and the detector and incident state of a
//! [`Pipeline`](crate::pipeline::Pipeline) (see [`Checkpoint::of_pipeline`]). Series are
//! named by their label sets ([`SeriesKey`]), never by process-local ids, so a
//! checkpoint restores into a fresh [`SeriesRegistry`].
//!
//! The core does no I/O: the binary writes [`Checkpoint::to_json`] atomically
//! and reads it back with [`Checkpoint::from_json`], which reads version 1
//! (engine state only) and 2, and refuses any other version.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, ChangeAggregate, GaugeAggregate, RequestAggregate, TransactionAggregate};
use crate::detect::BankState;
use crate::event::Change;
use crate::incident::ManagerState;
use crate::latency::LatencyHistogram;
use crate::pipeline::{PIPELINE_STATE_VERSION, PipelineState};
use crate::position::Position;
use crate::series::{SeriesId, SeriesKey, SeriesRegistry};
use crate::shard::WindowCopy;
use crate::time::Millis;
use crate::watermark::{InputId, InputState, Router};
use crate::window_engine::WindowEngine;

/// The checkpoint format this build writes. Version 2 added the pipeline's
/// detector and incident state and the accepted count; version 3 names each
/// input's watermark state by its source partition, not by its index.
pub const FORMAT_VERSION: u32 = 3;

/// The oldest format this build reads: version 1 holds engine state only, so
/// detectors and incidents start fresh from it.
pub const OLDEST_READ_VERSION: u32 = 1;

/// Why a checkpoint could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Not JSON of the expected shape.
    #[error("checkpoint is not valid: {0}")]
    Malformed(#[from] serde_json::Error),
    /// A binary checkpoint whose body does not decode.
    #[error("checkpoint is not valid: {0}")]
    MalformedBinary(#[from] rmp_serde::decode::Error),
    /// Neither JSON nor this build's binary format.
    #[error("not a checkpoint file (no {BINARY_MAGIC:?} header)")]
    NotACheckpoint,
    /// Written by another format version.
    #[error(
        "checkpoint format version {found} is not supported (this build reads versions {OLDEST_READ_VERSION} to {FORMAT_VERSION}); move the state directory aside to start afresh"
    )]
    Version {
        /// The version found in the file.
        found: u32,
    },
}

/// First bytes of a binary checkpoint: this, then the format version (u32,
/// little-endian), then the checkpoint as MessagePack (maps with field names,
/// floats as their 64 bits).
pub const BINARY_MAGIC: &[u8; 8] = b"FLTCKPT\0";

/// First bytes of a partition checkpoint ([`PartitionCheckpoint::to_binary`]).
pub const PARTITION_MAGIC: &[u8; 8] = b"FLTPART\0";

/// One partitioned input's state as a file another instance adopts it from: the
/// position its source resumes at and the state of its series at that position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionCheckpoint {
    /// [`crate::pipeline::PARTITION_STATE_VERSION`] when written.
    pub version: u32,
    /// Processing time of the barrier.
    pub taken_at: Millis,
    /// The source partition's name (`topic/N`).
    pub partition: String,
    /// Where its source resumes; `None` when nothing of it was read yet.
    pub position: Option<Position>,
    /// Its series' state after everything before `position`.
    pub state: crate::pipeline::PartitionState,
}

impl PartitionCheckpoint {
    /// The binary form: [`PARTITION_MAGIC`], the version (u32, little-endian), MessagePack.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 << 12);
        out.extend_from_slice(PARTITION_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        rmp_serde::encode::write_named(&mut out, self).expect("partition state serialises: string keys");
        out
    }

    /// Parses [`PartitionCheckpoint::to_binary`]'s bytes, checking the version first.
    pub fn from_binary(bytes: &[u8]) -> Result<PartitionCheckpoint, CheckpointError> {
        let (version, body) = split_header(bytes, PARTITION_MAGIC)?;
        if version != crate::pipeline::PARTITION_STATE_VERSION {
            return Err(CheckpointError::Version { found: version });
        }
        Ok(rmp_serde::from_slice(body)?)
    }
}

/// The version after `magic` and the MessagePack body after that.
fn split_header<'a>(bytes: &'a [u8], magic: &[u8; 8]) -> Result<(u32, &'a [u8]), CheckpointError> {
    match bytes.strip_prefix(magic.as_slice()) {
        Some([a, b, c, d, body @ ..]) => Ok((u32::from_le_bytes([*a, *b, *c, *d]), body)),
        _ => Err(CheckpointError::NotACheckpoint),
    }
}

/// Everything a restart resumes from, taken at one consistent point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Format version, [`FORMAT_VERSION`] when written by this build.
    pub version: u32,
    /// Processing time (caller's clock) when the checkpoint was taken.
    pub taken_at: Millis,
    /// Engine state: windows, watermarks, late counts.
    pub engine: EngineState,
    /// Source positions by source partition name (`source` or
    /// `source/partition`): each source's own value, just past the last record
    /// taken into this state (format 2 stored bare byte offsets, which read as
    /// [`Position::Offset`]).
    pub positions: BTreeMap<String, Position>,
    /// Detector state (absent from engine-only checkpoints).
    #[serde(default)]
    pub detectors: Option<BankState>,
    /// Incident state (absent from engine-only checkpoints).
    #[serde(default)]
    pub incidents: Option<ManagerState>,
    /// Events accepted so far (0 in engine-only checkpoints).
    #[serde(default)]
    pub accepted: u64,
    /// True once every input reached its end and every window was closed.
    #[serde(default)]
    pub finished: bool,
}

/// The engine's state in label-set terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    /// The engine watermark.
    pub watermark: Millis,
    /// Per-input watermark state, by source partition name (format 3; format 2 keyed by input index).
    pub inputs: Vec<(InputKey, InputState)>,
    /// Open windows, sorted by (series, start).
    pub open_windows: Vec<OpenWindowState>,
    /// Late events per series, sorted by series.
    pub late: Vec<(SeriesKey, u64)>,
}

/// How a checkpoint names an input: by its source partition's name (format 3
/// on), or by its index (format 2 and earlier, which broke when a source was
/// added or renamed: restored as the input with that index).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum InputKey {
    /// `source` or `source/partition`.
    Name(String),
    /// The input's index in the run that wrote it.
    Index(u32),
}

/// One open window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenWindowState {
    /// The series' label set.
    pub series: SeriesKey,
    /// Window start.
    pub start: Millis,
    /// Empty windows emitted in a row for this series so far.
    pub empty_streak: u32,
    /// What the window saw.
    pub aggregate: AggregateState,
}

/// An [`Aggregate`] in serialisable form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AggregateState {
    /// Requests: counts and the latency histogram as (value µs, count) HDR buckets.
    Request {
        /// Requests seen.
        requests: u64,
        /// Of which errors.
        errors: u64,
        /// Latency HDR buckets; `None` when no request carried a latency.
        latency_buckets: Option<Vec<(u64, u64)>>,
    },
    /// Gauge readings.
    Gauge {
        /// Readings.
        n: u64,
        /// Time of the last reading.
        last_at: Millis,
        /// Last reading.
        last: f64,
        /// Capacity with the last reading.
        last_max: Option<f64>,
        /// Smallest reading.
        min: f64,
        /// Largest reading.
        max: f64,
        /// Sum in millionths, as a decimal string (an `i128`).
        sum_micros: String,
    },
    /// Transactions.
    Transaction {
        /// Successful.
        succeeded: u64,
        /// Failed.
        failed: u64,
        /// Declined.
        declined: u64,
        /// Sum of amounts in minor units, as a decimal string (an `i128`).
        amount_minor: String,
    },
    /// Change events.
    Change {
        /// The changes, sorted.
        changes: Vec<Change>,
    },
}

impl Checkpoint {
    /// A checkpoint of `engine` (series named through `registry`), with no
    /// source positions and no detector or incident state yet.
    pub fn capture(engine: &mut dyn WindowEngine, registry: &SeriesRegistry, taken_at: Millis) -> Checkpoint {
        let windows = engine.copy_open_windows();
        Checkpoint {
            version: FORMAT_VERSION,
            taken_at,
            engine: EngineState::capture(engine.router(), windows, registry, &|id| InputKey::Index(id.0)),
            positions: BTreeMap::new(),
            detectors: None,
            incidents: None,
            accepted: 0,
            finished: false,
        }
    }

    /// A checkpoint of a pipeline's state, with no source positions yet.
    pub fn of_pipeline(state: PipelineState, taken_at: Millis) -> Checkpoint {
        Checkpoint {
            version: FORMAT_VERSION,
            taken_at,
            engine: state.engine,
            positions: BTreeMap::new(),
            detectors: Some(state.detectors),
            incidents: Some(state.incidents),
            accepted: state.accepted,
            finished: false,
        }
    }

    /// The pipeline state in this checkpoint; `None` for an engine-only one
    /// (version 1, or written without detectors), whose `engine` alone restores.
    pub fn pipeline_state(&self) -> Option<PipelineState> {
        Some(PipelineState {
            version: PIPELINE_STATE_VERSION,
            engine: self.engine.clone(),
            detectors: self.detectors.clone()?,
            incidents: self.incidents.clone()?,
            accepted: self.accepted,
        })
    }

    /// Serialises to JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("checkpoint state serialises: string keys, finite numbers")
    }

    /// Serialises to the compact binary form the service writes (smaller than
    /// the JSON and faster to write and read: `benches/benches/checkpoint.rs`);
    /// `faultline checkpoint show` prints it as JSON.
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 << 16);
        out.extend_from_slice(BINARY_MAGIC);
        out.extend_from_slice(&self.version.to_le_bytes());
        rmp_serde::encode::write_named(&mut out, self).expect("checkpoint state serialises: string keys");
        out
    }

    /// Parses bytes written by [`Checkpoint::to_binary`], checking the version first.
    pub fn from_binary(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        let (version, body) = split_header(bytes, BINARY_MAGIC)?;
        if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(CheckpointError::Version { found: version });
        }
        Ok(rmp_serde::from_slice(body)?)
    }

    /// Parses either form, told apart by the binary header.
    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        if bytes.starts_with(BINARY_MAGIC) { Checkpoint::from_binary(bytes) } else { Checkpoint::from_json(bytes) }
    }

    /// Parses JSON bytes written by [`Checkpoint::to_json`], checking the version first.
    pub fn from_json(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly = serde_json::from_slice(bytes)?;
        if !(OLDEST_READ_VERSION..=FORMAT_VERSION).contains(&v.version) {
            return Err(CheckpointError::Version { found: v.version });
        }
        Ok(serde_json::from_slice(bytes)?)
    }
}

impl EngineState {
    /// The state of an engine: its router and the open windows copied at a
    /// barrier ([`WindowEngine::copy_open_windows`]), series named through
    /// `registry`, inputs named by `input_key`.
    pub fn capture(
        router: &Router,
        windows: Vec<WindowCopy>,
        registry: &SeriesRegistry,
        input_key: &dyn Fn(InputId) -> InputKey,
    ) -> EngineState {
        let inputs = router.inputs().map(|(id, s)| (input_key(id), s.clone())).collect();
        let late = router.late_by_series().iter().map(|(id, n)| (*id, *n)).collect();
        EngineState::from_copies(router.watermark(), inputs, windows, late, registry)
    }

    /// The state from plain copies taken at a barrier (series still by id),
    /// series named through `registry`, everything sorted.
    pub fn from_copies(
        watermark: Millis,
        mut inputs: Vec<(InputKey, InputState)>,
        windows: Vec<WindowCopy>,
        late: Vec<(SeriesId, u64)>,
        registry: &SeriesRegistry,
    ) -> EngineState {
        let mut open_windows: Vec<OpenWindowState> = windows
            .into_iter()
            .map(|w| OpenWindowState {
                series: (*registry.key(w.series)).clone(),
                start: w.start,
                empty_streak: w.empty_streak,
                aggregate: AggregateState::from_aggregate(&w.aggregate),
            })
            .collect();
        // A series has at most one open window per start: the order is total.
        open_windows.sort_unstable_by(|a, b| (&a.series, a.start).cmp(&(&b.series, b.start)));
        let mut late: Vec<(SeriesKey, u64)> =
            late.into_iter().map(|(id, n)| ((*registry.key(id)).clone(), n)).collect();
        late.sort_unstable();
        inputs.sort_by(|a, b| a.0.cmp(&b.0));
        EngineState { watermark, inputs, open_windows, late }
    }

    /// Puts this state into a fresh `engine`, interning label sets in
    /// `registry` and finding inputs by `input_id` (inputs it does not know,
    /// say a source since removed, are dropped). Returns the late counts by
    /// (new) series id: the router keeps its own counts from zero, so callers
    /// add these to what they report.
    pub fn restore(
        self,
        engine: &mut dyn WindowEngine,
        registry: &SeriesRegistry,
        input_id: &mut dyn FnMut(&InputKey) -> Option<InputId>,
    ) -> Vec<(SeriesId, u64)> {
        let inputs = self.inputs.iter().filter_map(|(k, s)| input_id(k).map(|id| (id, s.clone()))).collect();
        let windows = self
            .open_windows
            .into_iter()
            .map(|w| WindowCopy {
                series: registry.intern(w.series.as_ref()),
                start: w.start,
                empty_streak: w.empty_streak,
                aggregate: w.aggregate.into_aggregate(),
            })
            .collect();
        engine.restore(inputs, self.watermark, windows);
        self.late.into_iter().map(|(key, n)| (registry.intern(key.as_ref()), n)).collect()
    }
}

/// Inputs named by index, restored by index: for engines outside a pipeline.
pub fn input_by_index(key: &InputKey) -> Option<InputId> {
    match key {
        InputKey::Index(i) => Some(InputId(*i)),
        InputKey::Name(_) => None,
    }
}

impl AggregateState {
    /// The serialisable form of `a`.
    pub fn from_aggregate(a: &Aggregate) -> AggregateState {
        match a {
            Aggregate::Request(r) => AggregateState::Request {
                requests: r.requests,
                errors: r.errors,
                latency_buckets: r.latency.as_ref().map(|h| h.buckets()),
            },
            Aggregate::Gauge(g) => AggregateState::Gauge {
                n: g.n,
                last_at: g.last_at,
                last: g.last,
                last_max: g.last_max,
                min: g.min,
                max: g.max,
                sum_micros: g.sum_micros.to_string(),
            },
            Aggregate::Transaction(t) => AggregateState::Transaction {
                succeeded: t.succeeded,
                failed: t.failed,
                declined: t.declined,
                amount_minor: t.amount_minor.to_string(),
            },
            Aggregate::Change(c) => {
                AggregateState::Change { changes: c.changes.iter().map(|c| (**c).clone()).collect() }
            }
        }
    }

    /// Back to an [`Aggregate`]; an unparsable sum restores as zero.
    pub fn into_aggregate(self) -> Aggregate {
        match self {
            AggregateState::Request { requests, errors, latency_buckets } => Aggregate::Request(RequestAggregate {
                requests,
                errors,
                latency: latency_buckets.map(|b| LatencyHistogram::from_buckets(&b)),
            }),
            AggregateState::Gauge { n, last_at, last, last_max, min, max, sum_micros } => {
                Aggregate::Gauge(GaugeAggregate {
                    n,
                    last_at,
                    last,
                    last_max,
                    min,
                    max,
                    sum_micros: sum_micros.parse().unwrap_or(0),
                })
            }
            AggregateState::Transaction { succeeded, failed, declined, amount_minor } => {
                Aggregate::Transaction(TransactionAggregate {
                    succeeded,
                    failed,
                    declined,
                    amount_minor: amount_minor.parse().unwrap_or(0),
                })
            }
            AggregateState::Change { changes } => {
                Aggregate::Change(ChangeAggregate { changes: changes.into_iter().map(Arc::new).collect() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::wire::{Decoder, DecoderConfig};

    const LINES: &[&str] = &[
        r#"{"ts":1000,"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":12}"#,
        r#"{"ts":2000,"service":"pay","operation":"charge","kind":"request","status":503,"latency_ms":900}"#,
        r#"{"ts":3000,"service":"pay","kind":"gauge","name":"db.pool.in_use","value":95,"max":100}"#,
        r#"{"ts":3500,"service":"pay","kind":"transaction","outcome":"failed","amount":42.10}"#,
        r#"{"ts":4000,"service":"pay","kind":"change","change":"deploy","id":"v2","text":"x"}"#,
        r#"{"ts":12500,"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":7}"#,
        r#"{"ts":13000,"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":8}"#,
        r#"{"ts":5000,"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":8}"#,
        r#"{"ts":25000,"service":"pay","operation":"charge","kind":"request","status":500,"latency_ms":70}"#,
        r#"{"ts":26000,"service":"pay","kind":"gauge","name":"db.pool.in_use","value":50,"max":100}"#,
    ];

    fn decode(registry: &Arc<SeriesRegistry>, lines: &[&str]) -> Vec<crate::Event> {
        let mut d = Decoder::new(registry.clone(), DecoderConfig::default());
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            d.decode_line(i as u64 + 1, l.as_bytes(), None, &mut out).unwrap();
        }
        out
    }

    /// Splitting the input at any point with a checkpoint and restore in a
    /// fresh process (fresh registry) closes the same windows as one run.
    #[test]
    fn restore_at_every_split_point_closes_the_same_windows() {
        let reg = Arc::new(SeriesRegistry::new(100));
        let mut whole = Engine::new(EngineConfig::default());
        whole.record(InputId(0), &decode(&reg, LINES));
        whole.finish();
        let key =
            |r: &SeriesRegistry, c: &crate::ClosedWindow| ((*r.key(c.series)).clone(), c.window, c.aggregate.clone());
        let expected: Vec<_> = whole.drain_closed().iter().map(|c| key(&reg, c)).collect();
        for split in 0..=LINES.len() {
            let reg1 = Arc::new(SeriesRegistry::new(100));
            let mut first = Engine::new(EngineConfig::default());
            first.record(InputId(0), &decode(&reg1, &LINES[..split]));
            let mut got: Vec<_> = first.drain_closed().iter().map(|c| key(&reg1, c)).collect();
            let json = Checkpoint::capture(&mut first, &reg1, Millis(0)).to_json();
            let cp = Checkpoint::from_json(&json).unwrap();
            let reg2 = Arc::new(SeriesRegistry::new(100));
            // A different interning order in the new process: ids differ, label sets match.
            reg2.intern(SeriesKey::new(crate::SeriesKind::Gauge, "zzz", "x", &[]).as_ref());
            let mut second = Engine::new(EngineConfig::default());
            cp.engine.restore(&mut second, &reg2, &mut input_by_index);
            second.record(InputId(0), &decode(&reg2, &LINES[split..]));
            second.finish();
            got.extend(second.drain_closed().iter().map(|c| key(&reg2, c)));
            assert_eq!(got, expected, "split at {split}");
        }
    }

    #[test]
    fn late_counts_survive_by_label_set() {
        let reg = Arc::new(SeriesRegistry::new(100));
        let mut e = Engine::new(EngineConfig::default());
        e.record(InputId(0), &decode(&reg, LINES));
        let cp = Checkpoint::from_json(&Checkpoint::capture(&mut e, &reg, Millis(1)).to_json()).unwrap();
        assert_eq!(cp.engine.late.iter().map(|l| l.1).sum::<u64>(), 1);
        let reg2 = SeriesRegistry::new(100);
        let late = cp.engine.restore(&mut Engine::new(EngineConfig::default()), &reg2, &mut input_by_index);
        assert_eq!(&*reg2.key(late[0].0).name, "charge");
    }

    #[test]
    fn version_1_reads_as_engine_only() {
        let reg = Arc::new(SeriesRegistry::new(100));
        let mut e = Engine::new(EngineConfig::default());
        e.record(InputId(0), &decode(&reg, LINES));
        let mut v1: serde_json::Value =
            serde_json::from_slice(&Checkpoint::capture(&mut e, &reg, Millis(1)).to_json()).unwrap();
        v1["version"] = 1.into();
        v1.as_object_mut().unwrap().remove("accepted");
        let cp = Checkpoint::from_json(&serde_json::to_vec(&v1).unwrap()).unwrap();
        assert!(cp.pipeline_state().is_none());
        assert!(!cp.engine.open_windows.is_empty());
    }

    #[test]
    fn pipeline_state_round_trips() {
        let reg = Arc::new(SeriesRegistry::new(100));
        let mut p = crate::pipeline::Pipeline::new(crate::pipeline::PipelineConfig::default(), reg.clone());
        p.record(InputId(0), &decode(&reg, LINES));
        let state = p.checkpoint(&mut Vec::new());
        let cp = Checkpoint::from_json(&Checkpoint::of_pipeline(state.clone(), Millis(2)).to_json()).unwrap();
        assert_eq!(cp.version, FORMAT_VERSION);
        // Compared as JSON: the state may hold NaN (not equal to itself).
        let json = |s: &PipelineState| serde_json::to_string(s).unwrap();
        assert_eq!(cp.pipeline_state().map(|s| json(&s)), Some(json(&state)));
    }

    #[test]
    fn the_binary_form_round_trips_the_whole_pipeline_state_and_checks_its_version() {
        let reg = Arc::new(SeriesRegistry::new(100));
        let mut p = crate::pipeline::Pipeline::new(crate::pipeline::PipelineConfig::default(), reg.clone());
        let input = p.input("app");
        p.record(input, &decode(&reg, LINES));
        let mut cp = Checkpoint::of_pipeline(p.checkpoint(&mut Vec::new()), Millis(2));
        cp.positions.insert("app".into(), Position::File { fingerprint: 9, offset: 77 });
        cp.positions.insert("wal".into(), Position::Wal { segment: 9, offset: 77 });
        let bin = cp.to_binary();
        let back = Checkpoint::from_bytes(&bin).unwrap();
        // Compared as JSON: the state may hold NaN (not equal to itself).
        assert_eq!(String::from_utf8(back.to_json()).unwrap(), String::from_utf8(cp.to_json()).unwrap());
        assert_eq!(back.positions["wal"], Position::Wal { segment: 9, offset: 77 }, "untagged forms stay apart");
        assert!(bin.len() < cp.to_json().len(), "binary {} B, JSON {} B", bin.len(), cp.to_json().len());
        let mut future = bin.clone();
        future[8..12].copy_from_slice(&99u32.to_le_bytes());
        assert!(matches!(Checkpoint::from_bytes(&future), Err(CheckpointError::Version { found: 99 })));
        assert!(matches!(Checkpoint::from_bytes(&bin[..bin.len() / 2]), Err(CheckpointError::MalformedBinary(_))));
        assert!(matches!(Checkpoint::from_bytes(b"FLTCKPT"), Err(CheckpointError::Malformed(_))));
    }

    #[test]
    fn other_versions_are_refused() {
        let err = Checkpoint::from_json(br#"{"version":99}"#).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
    }
}
