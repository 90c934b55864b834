//! The detector bank: the configured detectors of every (series, signal), their state and checkpoints.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::baseline::{AdaptiveConfig, AdaptiveState, Sides};
use super::burn_rate::{BurnRateConfig, BurnRateState};
use super::change_point::{ChangePointConfig, ChangePointState};
use super::finding::{DetectorKind, Direction, Finding};
use super::threshold::{ThresholdConfig, ThresholdState};
use super::trend::{TrendConfig, TrendState};
use crate::series::{SeriesId, SeriesKey};
use crate::signal::{Signal, SignalPoint};

/// One detector of a signal, with its configuration. Plain data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorSpec {
    /// Static limit with a for-duration ([`ThresholdConfig`]).
    Threshold(ThresholdConfig),
    /// Adaptive robust seasonal baseline ([`AdaptiveConfig`]); a finding when the score
    /// reaches `fire_score`.
    Baseline(Box<AdaptiveConfig>),
    /// SLO burn rate ([`BurnRateConfig`]).
    BurnRate(BurnRateConfig),
    /// CUSUM level shift ([`ChangePointConfig`]).
    ChangePoint(ChangePointConfig),
    /// Climb toward a limit ([`TrendConfig`]).
    Trend(TrendConfig),
}

/// The state of one detector of one (series, signal), as checkpointed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorState {
    /// Of a [`DetectorSpec::Threshold`].
    Threshold(ThresholdState),
    /// Of a [`DetectorSpec::Baseline`] (boxed: by far the largest state).
    Baseline(Box<AdaptiveState>),
    /// Of a [`DetectorSpec::BurnRate`].
    BurnRate(BurnRateState),
    /// Of a [`DetectorSpec::ChangePoint`].
    ChangePoint(ChangePointState),
    /// Of a [`DetectorSpec::Trend`].
    Trend(TrendState),
}

/// A service's own detectors for one signal, replacing the signal's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceOverride {
    /// The service (as in [`SeriesKey::service`]).
    pub service: String,
    /// The signal name (as in [`Signal::as_str`]).
    pub signal: String,
    /// The detectors; empty turns the signal's detection off for the service.
    pub detectors: Vec<DetectorSpec>,
}

/// What the bank runs on which signal. Plain data; [`Default`] is the runbooks' setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorBankSpec {
    /// Detectors per signal name (as in [`Signal::as_str`], e.g. `"error_rate"`).
    pub signals: BTreeMap<String, Vec<DetectorSpec>>,
    /// Detectors for every signal not named in `signals` (other gauges).
    pub other_signals: Vec<DetectorSpec>,
    /// Per-service replacements, checked before `signals`.
    pub services: Vec<ServiceOverride>,
}

/// Checkpointed state of every (series, signal) of a bank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankState {
    /// Format version of this state.
    pub version: u32,
    /// One entry per (series, signal), sorted by series key then signal.
    pub entries: Vec<BankEntry>,
}

/// The detectors' state of one (series, signal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankEntry {
    /// The series' label set (ids do not survive a restart).
    pub series: SeriesKey,
    /// The signal name.
    pub signal: String,
    /// One state per configured detector, in configuration order.
    pub detectors: Vec<DetectorState>,
}

/// The detector bank's state copied at a barrier, by series id ([`DetectorBank::copy_state`]):
/// the bank's own chunks of entries, shared until the bank next changes them.
#[derive(Debug, Clone)]
pub struct BankCopy {
    chunks: Vec<Arc<Vec<SeriesDetectors>>>,
}

impl BankCopy {
    /// The serialisable state, series named by `keys`, sorted by (label set, signal).
    pub fn into_state(self, keys: &dyn Fn(SeriesId) -> SeriesKey) -> BankState {
        self.into_states(keys, &|_| Some(0), 1).pop().expect("one state asked for")
    }

    /// The serialisable state split `n` ways: each series' entries go to the state
    /// `part(series)` names (`None`: dropped), each sorted by (label set, signal).
    pub fn into_states(
        self,
        keys: &dyn Fn(SeriesId) -> SeriesKey,
        part: &dyn Fn(SeriesId) -> Option<usize>,
        n: usize,
    ) -> Vec<BankState> {
        let mut parts: Vec<Vec<BankEntry>> = (0..n).map(|_| Vec::new()).collect();
        for d in self.chunks.iter().flat_map(|chunk| chunk.iter()) {
            let Some(entries) = part(d.series).and_then(|i| parts.get_mut(i)) else { continue };
            entries.push(BankEntry {
                series: keys(d.series),
                signal: d.signal.as_str().to_owned(),
                detectors: d.states.iter().map(LiveState::checkpoint).collect(),
            });
        }
        parts
            .into_iter()
            .map(|mut entries| {
                // (series, signal) pairs are unique: an unstable sort gives one order.
                entries.sort_unstable_by(|a, b| (&a.series, &a.signal).cmp(&(&b.series, &b.signal)));
                BankState { version: BANK_STATE_VERSION, entries }
            })
            .collect()
    }
}

/// Runs the configured detectors of every (series, signal) it is fed.
#[derive(Debug)]
pub struct DetectorBank {
    plans: Vec<Vec<DetectorSpec>>,
    by_signal: FxHashMap<String, usize>,
    by_service: FxHashMap<(String, String), usize>,
    other: usize,
    /// Per series id (ids are dense), the entry of each built-in signal: no hashing on the
    /// hot path, and a table read in series order is read in memory order.
    builtin: Vec<[u32; N_BUILTIN]>,
    /// The entry of each (series, named gauge).
    gauges: FxHashMap<(SeriesId, Signal), u32>,
    /// Every (series, signal)'s entry in arrival order, `CHUNK_ENTRIES` to a chunk. A
    /// checkpoint barrier copies one `Arc` per chunk; the next point of an entry copies
    /// its chunk (an `Arc` per entry) and then its states, each only while the checkpoint
    /// still holds them ([`Arc::make_mut`]). So the barrier costs a pointer per chunk, and
    /// the copying is spread over the entries that change.
    chunks: Vec<Arc<Vec<SeriesDetectors>>>,
    /// Number of entries.
    n_entries: usize,
    /// The states of every entry of an empty plan (one allocation for all of them).
    no_states: Arc<[LiveState]>,
}

/// A detector's state inside the bank: a baseline's boxed (by far the largest), the small
/// ones inline.
#[derive(Debug, Clone)]
enum LiveState {
    Threshold(ThresholdState),
    Baseline(Box<AdaptiveState>),
    BurnRate(BurnRateState),
    ChangePoint(ChangePointState),
    Trend(TrendState),
}

/// The detectors of one (series, signal): its plan and its states, side by side in plan
/// order, shared with checkpoint copies until they change.
#[derive(Debug, Clone)]
struct SeriesDetectors {
    series: SeriesId,
    plan: u32,
    signal: Signal,
    states: Arc<[LiveState]>,
}

/// Signals other than named gauges ([`builtin_index`]).
const N_BUILTIN: usize = 11;
/// Entries per chunk of [`DetectorBank::chunks`] (a power of two).
const CHUNK_ENTRIES: usize = 64;
/// No entry yet in [`DetectorBank::builtin`].
const NO_ENTRY: u32 = u32::MAX;

/// Version written by [`DetectorBank::snapshot`].
const BANK_STATE_VERSION: u32 = 1;

impl Default for DetectorBankSpec {
    fn default() -> Self {
        let ratio = |limit| ThresholdConfig { min_count: 5, max_p_value: 0.01, ..ThresholdConfig::above(limit) };
        let baseline = |sides| AdaptiveConfig { sides, ..AdaptiveConfig::default() };
        let volume = || AdaptiveConfig { sides: Sides::Both, weekly_buckets: 168, ..AdaptiveConfig::default() };
        let mut signals = BTreeMap::new();
        let mut put = |signal: Signal, detectors: Vec<DetectorSpec>| {
            signals.insert(signal.as_str().to_owned(), detectors);
        };
        for signal in [Signal::ErrorRate, Signal::TxnFailureRate] {
            put(
                signal,
                vec![
                    DetectorSpec::Threshold(ratio(0.01)),
                    DetectorSpec::BurnRate(BurnRateConfig::default()),
                    DetectorSpec::Baseline(Box::new(baseline(Sides::Up))),
                ],
            );
        }
        put(
            Signal::LatencyP95,
            vec![
                DetectorSpec::Threshold(ThresholdConfig::above(1000.0)),
                DetectorSpec::Baseline(Box::new(baseline(Sides::Up))),
                DetectorSpec::ChangePoint(ChangePointConfig::default()),
            ],
        );
        for signal in [Signal::PoolSaturation, Signal::Memory] {
            put(
                signal,
                vec![DetectorSpec::Threshold(ThresholdConfig::above(0.8)), DetectorSpec::Trend(TrendConfig::default())],
            );
        }
        put(Signal::Cpu, vec![DetectorSpec::Threshold(ThresholdConfig::above(0.8))]);
        // No plain CUSUM here: volumes follow daily cycles, which only the seasonal baseline
        // knows. Successful transactions are a count: the baseline's Poisson CUSUM against its
        // own seasonal forecast finds a fall to half that no single quiet window shows.
        put(Signal::RequestRate, vec![DetectorSpec::Baseline(Box::new(volume()))]);
        let txn = AdaptiveConfig { count_drop: Some(0.5), ..volume() };
        put(Signal::TxnVolume, vec![DetectorSpec::Baseline(Box::new(txn))]);
        for signal in [Signal::LatencyP50, Signal::LatencyP99, Signal::LatencyMax] {
            put(signal, Vec::new());
        }
        DetectorBankSpec {
            signals,
            other_signals: vec![DetectorSpec::Baseline(Box::new(baseline(Sides::Both)))],
            services: Vec::new(),
        }
    }
}

impl DetectorBank {
    /// A bank running `spec`, with no series yet.
    pub fn new(spec: DetectorBankSpec) -> Self {
        let mut plans = vec![spec.other_signals];
        let mut by_signal = FxHashMap::default();
        for (signal, detectors) in spec.signals {
            by_signal.insert(signal, plans.len());
            plans.push(detectors);
        }
        let mut by_service = FxHashMap::default();
        for o in spec.services {
            by_service.insert((o.service, o.signal), plans.len());
            plans.push(o.detectors);
        }
        DetectorBank {
            plans,
            by_signal,
            by_service,
            other: 0,
            builtin: Vec::new(),
            gauges: FxHashMap::default(),
            chunks: Vec::new(),
            n_entries: 0,
            no_states: Arc::new([]),
        }
    }

    /// Feeds one signal point of a series (its label set given for per-service overrides); appends findings.
    pub fn observe(&mut self, key: &SeriesKey, point: &SignalPoint, out: &mut Vec<Finding>) {
        let at = match self.entry_of(point.series, &point.signal) {
            Some(at) => at,
            None => {
                let plan = self.plan_for(&key.service, point.signal.as_str());
                let states = self.states_of(self.plans[plan].iter().map(LiveState::fresh));
                self.insert(point.series, point.signal.clone(), plan, states)
            }
        };
        let chunk = &self.chunks[at / CHUNK_ENTRIES];
        let specs = &self.plans[chunk[at % CHUNK_ENTRIES].plan as usize];
        if specs.is_empty() {
            return;
        }
        // Copies the chunk, then the states, only while a checkpoint taken since they last
        // changed holds them.
        let entry = &mut Arc::make_mut(&mut self.chunks[at / CHUNK_ENTRIES])[at % CHUNK_ENTRIES];
        let states = Arc::make_mut(&mut entry.states);
        for (spec, state) in specs.iter().zip(states) {
            match (spec, state) {
                (DetectorSpec::Threshold(c), LiveState::Threshold(s)) => s.observe(c, point, out),
                (DetectorSpec::Baseline(c), LiveState::Baseline(s)) => observe_baseline(c, s, point, out),
                (DetectorSpec::BurnRate(c), LiveState::BurnRate(s)) => s.observe(c, point, out),
                (DetectorSpec::ChangePoint(c), LiveState::ChangePoint(s)) => s.observe(c, point, out),
                (DetectorSpec::Trend(c), LiveState::Trend(s)) => s.observe(c, point, out),
                // States are built from their plan and restored only when kinds match.
                _ => debug_assert!(false, "detector state does not match its spec"),
            }
        }
    }

    /// Number of (series, signal) pairs with state.
    pub fn n_series_signals(&self) -> usize {
        self.n_entries
    }

    /// Serialisable state of every series' detectors keyed by (SeriesKey, signal name).
    pub fn snapshot(&self, keys: &dyn Fn(SeriesId) -> SeriesKey) -> BankState {
        self.copy_state().into_state(keys)
    }

    /// A copy of every (series, signal)'s detector state, still by series id: what a
    /// checkpoint barrier takes on the engine thread. It shares the states with the bank
    /// (one `Arc` per entry), which copies an entry's states when it next changes them
    /// while the copy lives. Naming the series, sorting and the checkpoint form
    /// ([`BankCopy::into_state`]) can then happen elsewhere.
    pub fn copy_state(&self) -> BankCopy {
        BankCopy { chunks: self.chunks.clone() }
    }

    /// Restores state taken by [`DetectorBank::snapshot`]. `ids` maps a label set to its
    /// series id in this process (None: the series is gone, its state is dropped). An entry
    /// whose detectors no longer match the configuration starts fresh. Returns the number
    /// of (series, signal) pairs restored.
    pub fn restore(&mut self, state: BankState, ids: &mut dyn FnMut(&SeriesKey) -> Option<SeriesId>) -> usize {
        if state.version != BANK_STATE_VERSION {
            return 0;
        }
        let mut restored = 0;
        for entry in state.entries {
            let Some(id) = ids(&entry.series) else { continue };
            let plan = self.plan_for(&entry.series.service, &entry.signal);
            let specs = &self.plans[plan];
            let matches = specs.len() == entry.detectors.len()
                && specs.iter().zip(&entry.detectors).all(|(spec, state)| spec.kind() == state.kind());
            if !matches {
                continue;
            }
            let signal = Signal::parse(&entry.signal);
            let states = self.states_of(entry.detectors.into_iter().map(LiveState::from));
            match self.entry_of(id, &signal) {
                // A pair restored twice: the later state replaces the earlier.
                Some(at) => {
                    let restored = &mut Arc::make_mut(&mut self.chunks[at / CHUNK_ENTRIES])[at % CHUNK_ENTRIES];
                    restored.plan = plan_index(plan);
                    restored.states = states;
                }
                None => {
                    self.insert(id, signal, plan, states);
                }
            }
            restored += 1;
        }
        restored
    }

    /// The entry of a (series, signal), if it has one.
    fn entry_of(&self, series: SeriesId, signal: &Signal) -> Option<usize> {
        let at = match builtin_index(signal) {
            Some(i) => self.builtin.get(series.index()).map_or(NO_ENTRY, |row| row[i]),
            None => self.gauges.get(&(series, signal.clone())).copied().unwrap_or(NO_ENTRY),
        };
        (at != NO_ENTRY).then_some(at as usize)
    }

    /// The shared form of an entry's states (empty ones share one allocation).
    fn states_of(&self, states: impl ExactSizeIterator<Item = LiveState>) -> Arc<[LiveState]> {
        if states.len() == 0 { Arc::clone(&self.no_states) } else { states.collect() }
    }

    /// Adds the entry of a (series, signal) that has none; returns its index.
    fn insert(&mut self, series: SeriesId, signal: Signal, plan: usize, states: Arc<[LiveState]>) -> usize {
        let at = self.n_entries;
        let at_u32 =
            u32::try_from(at).ok().filter(|&a| a != NO_ENTRY).expect("fewer than 2^32 - 1 (series, signal) pairs");
        match builtin_index(&signal) {
            Some(i) => {
                if self.builtin.len() <= series.index() {
                    self.builtin.resize(series.index() + 1, [NO_ENTRY; N_BUILTIN]);
                }
                self.builtin[series.index()][i] = at_u32;
            }
            None => {
                self.gauges.insert((series, signal.clone()), at_u32);
            }
        }
        let entry = SeriesDetectors { series, plan: plan_index(plan), signal, states };
        if at.is_multiple_of(CHUNK_ENTRIES) {
            let mut chunk = Vec::with_capacity(CHUNK_ENTRIES);
            chunk.push(entry);
            self.chunks.push(Arc::new(chunk));
        } else {
            let last = self.chunks.last_mut().expect("a chunk with room");
            Arc::make_mut(last).push(entry);
        }
        self.n_entries += 1;
        at
    }

    fn plan_for(&self, service: &str, signal: &str) -> usize {
        if !self.by_service.is_empty()
            && let Some(&plan) = self.by_service.get(&(service.to_owned(), signal.to_owned()))
        {
            return plan;
        }
        self.by_signal.get(signal).copied().unwrap_or(self.other)
    }
}

impl DetectorSpec {
    /// The kind of detector.
    pub fn kind(&self) -> DetectorKind {
        match self {
            DetectorSpec::Threshold(_) => DetectorKind::Threshold,
            DetectorSpec::Baseline(_) => DetectorKind::Baseline,
            DetectorSpec::BurnRate(_) => DetectorKind::BurnRate,
            DetectorSpec::ChangePoint(_) => DetectorKind::ChangePoint,
            DetectorSpec::Trend(_) => DetectorKind::Trend,
        }
    }
}

impl DetectorState {
    /// Fresh state for a detector of `spec`.
    pub fn fresh(spec: &DetectorSpec) -> Self {
        match spec {
            DetectorSpec::Threshold(_) => DetectorState::Threshold(ThresholdState::default()),
            DetectorSpec::Baseline(_) => DetectorState::Baseline(Box::default()),
            DetectorSpec::BurnRate(_) => DetectorState::BurnRate(BurnRateState::default()),
            DetectorSpec::ChangePoint(_) => DetectorState::ChangePoint(ChangePointState::default()),
            DetectorSpec::Trend(_) => DetectorState::Trend(TrendState::default()),
        }
    }

    /// The kind of detector this state belongs to.
    pub fn kind(&self) -> DetectorKind {
        match self {
            DetectorState::Threshold(_) => DetectorKind::Threshold,
            DetectorState::Baseline(_) => DetectorKind::Baseline,
            DetectorState::BurnRate(_) => DetectorKind::BurnRate,
            DetectorState::ChangePoint(_) => DetectorKind::ChangePoint,
            DetectorState::Trend(_) => DetectorKind::Trend,
        }
    }
}

impl LiveState {
    /// Fresh state for a detector of `spec`.
    fn fresh(spec: &DetectorSpec) -> Self {
        match spec {
            DetectorSpec::Threshold(_) => LiveState::Threshold(ThresholdState::default()),
            DetectorSpec::Baseline(_) => LiveState::Baseline(Box::default()),
            DetectorSpec::BurnRate(_) => LiveState::BurnRate(BurnRateState::default()),
            DetectorSpec::ChangePoint(_) => LiveState::ChangePoint(ChangePointState::default()),
            DetectorSpec::Trend(_) => LiveState::Trend(TrendState::default()),
        }
    }

    /// The checkpoint form of the state.
    fn checkpoint(&self) -> DetectorState {
        match self {
            LiveState::Threshold(s) => DetectorState::Threshold(s.clone()),
            LiveState::Baseline(s) => DetectorState::Baseline(s.clone()),
            LiveState::BurnRate(s) => DetectorState::BurnRate(s.clone()),
            LiveState::ChangePoint(s) => DetectorState::ChangePoint(s.clone()),
            LiveState::Trend(s) => DetectorState::Trend(s.clone()),
        }
    }
}

impl From<DetectorState> for LiveState {
    fn from(state: DetectorState) -> Self {
        match state {
            DetectorState::Threshold(s) => LiveState::Threshold(s),
            DetectorState::Baseline(s) => LiveState::Baseline(s),
            DetectorState::BurnRate(s) => LiveState::BurnRate(s),
            DetectorState::ChangePoint(s) => LiveState::ChangePoint(s),
            DetectorState::Trend(s) => LiveState::Trend(s),
        }
    }
}

/// A plan's index as an entry holds it.
fn plan_index(plan: usize) -> u32 {
    u32::try_from(plan).expect("fewer than 2^32 detector plans")
}

/// The column of a signal in [`DetectorBank::builtin`]; None for a named gauge.
fn builtin_index(signal: &Signal) -> Option<usize> {
    Some(match signal {
        Signal::RequestRate => 0,
        Signal::ErrorRate => 1,
        Signal::LatencyP50 => 2,
        Signal::LatencyP95 => 3,
        Signal::LatencyP99 => 4,
        Signal::LatencyMax => 5,
        Signal::PoolSaturation => 6,
        Signal::Cpu => 7,
        Signal::Memory => 8,
        Signal::TxnVolume => 9,
        Signal::TxnFailureRate => 10,
        Signal::Gauge(_) => return None,
    })
}

/// Runs the adaptive baseline on a window (timed by its start) and reports a firing.
fn observe_baseline(config: &AdaptiveConfig, state: &mut AdaptiveState, point: &SignalPoint, out: &mut Vec<Finding>) {
    // A ratio over few events is noisy: its binomial standard deviation is the least sigma.
    let sigma_floor = if point.signal.is_ratio() && point.n > 0 {
        let n = point.n as f64;
        // For n = 1 the bounds meet at 0.5; `clamp` panics when they cross, or on NaN.
        let lo = (1.0 / n).min(0.5);
        let level = state.level();
        let p = if level.is_finite() { level.clamp(lo, 1.0 - lo) } else { 0.5 };
        (p * (1.0 - p) / n).sqrt()
    } else {
        0.0
    };
    let Some(s) = state.update_firing(config, point.window.start.0, point.value, sigma_floor) else { return };
    out.push(Finding {
        detector: DetectorKind::Baseline,
        signal: point.signal.clone(),
        series: point.series,
        window: point.window,
        value: point.value,
        baseline: Some(s.expected),
        threshold: None,
        score: s.score,
        direction: s.direction,
        detail: Some(format!(
            "{} {:.1} sigma {} the baseline {:.4}",
            point.signal,
            s.z.abs(),
            if s.direction == Direction::Up { "above" } else { "below" },
            s.expected
        )),
        tail: s.count_tail,
    });
}

#[cfg(test)]
mod tests;
