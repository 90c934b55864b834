//! The running service: source threads, the engine thread and the sink thread, joined by bounded queues.
//!
//! Sources (`faultline_ingest::Source`) read and decode on their own OS
//! threads and send event batches, each with its partition's position after
//! it; a full queue blocks the source (push-back, never a drop). The engine
//! thread routes batches into the pipeline, whose shards run on their own
//! threads (CPU-bound work stays off tokio's workers). Checkpoints are taken
//! on a barrier through every shard's queue and travel to the sink thread in
//! the same queue as the output: the sink thread writes and flushes every
//! line before it, then writes the checkpoint, so a checkpoint never names a
//! position whose output was not delivered.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use faultline_core::{InputId, Millis, Position, SeriesRegistry};
use faultline_ingest::{BatchSender, Committed, QueueDepth, Source, SourceBatch, SourceMessage, SourceStats, StartAt};

use super::admin::AdminState;
use super::checkpoint;
use super::metrics::*;
use super::output::Record;
use super::processor::Processor;
use super::sink::{PendingCheckpoint, SinkOut, ToSinks, run_sinks};
use crate::config::PipelineSpec;

/// Queue label of the sources-to-engine queue.
pub(crate) const INPUT_QUEUE: &str = "source_to_engine";
/// Queue label of the engine-to-sinks queue.
pub(crate) const SINK_QUEUE: &str = "engine_to_sinks";

/// The threads of a running service.
#[derive(Debug)]
pub(crate) struct Running {
    /// Set to stop the sources; the rest drains and checkpoints.
    pub(crate) stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    done: Receiver<anyhow::Result<()>>,
}

impl Running {
    /// Waits for the engine and sink threads; the sinks' result is the service's.
    pub(crate) fn wait(self) -> anyhow::Result<()> {
        let result = self.done.recv().unwrap_or_else(|_| Err(anyhow::anyhow!("sink thread ended without a result")));
        for t in self.threads {
            let _ = t.join();
        }
        result
    }
}

/// How the engine thread runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StartOptions {
    /// Windows ending at or before this only feed detector history.
    pub(crate) history_until: Option<Millis>,
}

/// The wall clock as event-time milliseconds (processing time for idleness and the future horizon).
pub(crate) fn wall_now() -> Millis {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// One source as the engine thread knows it: name, partitions' inputs, counters.
struct SourceSlot {
    name: String,
    partitions: Vec<String>,
    inputs: Vec<InputId>,
    ended: Vec<bool>,
    /// Never finishes (Kafka): its ended partitions went to another instance.
    unbounded: bool,
    stats: Arc<SourceStats>,
    kafka: Option<Arc<faultline_ingest::KafkaStats>>,
    /// Where a partitioned source's partitions keep their state, and which are owned here.
    store: Option<faultline_ingest::PartitionStore>,
    owned: Vec<bool>,
}

/// Restores state, starts every thread and marks the service ready. Sources
/// decode into `registry`, which the pipeline shares.
pub(crate) fn start(
    spec: &PipelineSpec,
    options: StartOptions,
    sources: Vec<Box<dyn Source>>,
    registry: Arc<SeriesRegistry>,
    sinks: Vec<SinkOut>,
    outbox: Option<faultline_sinks::SharedOutbox>,
    admin: Arc<AdminState>,
) -> anyhow::Result<Running> {
    let state_dir = spec.state.directory.clone();
    let cp = match &state_dir {
        Some(dir) => checkpoint::read(dir)?,
        None => None,
    };
    if let Some(cp) = &cp {
        tracing::info!(
            version = cp.version,
            positions = ?cp.positions,
            open_windows = cp.engine.open_windows.len(),
            incidents = cp.incidents.as_ref().map_or(0, |i| i.incidents.len()),
            "restored checkpoint"
        );
    }
    let want_signals = sinks.iter().any(SinkOut::wants_signals);
    let partitions: Vec<String> = sources.iter().flat_map(|s| s.partitions()).collect();
    let mut processor = Processor::new(spec, registry.clone(), cp.as_ref(), admin.clone(), want_signals, &partitions)?;
    if let Some(until) = options.history_until {
        processor.set_history_until(until);
    }
    let positions: BTreeMap<String, Position> = cp.map(|c| c.positions).unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let (in_tx, in_rx) = sync_channel::<SourceMessage>(spec.runtime.queue_batches);
    let depth = Arc::new(QueueDepth::new(spec.runtime.queue_batches));
    let committed = Arc::new(Committed::default());
    let (out_tx, out_rx) = sync_channel::<ToSinks>(spec.runtime.sink_queue);
    let mut threads = Vec::new();
    let mut slots = Vec::new();
    for (idx, source) in sources.into_iter().enumerate() {
        let partitions = source.partitions();
        let (unbounded, kafka, store) = (source.unbounded(), source.kafka(), source.partition_store());
        let inputs: Vec<InputId> = partitions.iter().map(|p| processor.input(p)).collect();
        // A partitioned source's partitions resume from their own files, when assigned.
        let start_at = match &store {
            Some(_) => {
                inputs.iter().for_each(|i| processor.partitioned(*i));
                StartAt::new()
            }
            None => partitions.iter().filter_map(|p| positions.get(p).map(|pos| (p.clone(), *pos))).collect(),
        };
        let stats = Arc::new(SourceStats { push: source.is_push(), ..SourceStats::default() });
        let out = BatchSender::new(idx, in_tx.clone(), stats.clone())
            .with_depth(depth.clone())
            .with_committed(committed.clone());
        let name = source.name().to_string();
        let (stop, source_stats, source_name, n_partitions) =
            (stop.clone(), stats.clone(), name.clone(), partitions.len());
        threads.push(
            std::thread::Builder::new()
                .name(format!("source-{name}"))
                .spawn(move || {
                    let ends = out.clone();
                    if let Err(err) = source.run(start_at, out, stop.clone()) {
                        tracing::error!(source = %source_name, error = %err, "source failed: its partitions end here");
                        *source_stats.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(err.to_string());
                    }
                    // However it stopped, its partitions hold the watermark back no more (an End twice is harmless).
                    if !stop.load(Ordering::Acquire) {
                        for p in 0..n_partitions {
                            ends.end(p);
                        }
                    }
                })
                .context("spawning a source thread")?,
        );
        slots.push(SourceSlot {
            name,
            ended: vec![false; partitions.len()],
            partitions,
            inputs,
            unbounded,
            stats,
            kafka,
            owned: vec![false; n_partitions],
            store,
        });
    }
    drop(in_tx);
    let sink_registry = registry.clone();
    let engine = EngineLoop {
        processor,
        registry,
        sources: slots,
        positions,
        admin: admin.clone(),
        out: out_tx,
        interval: spec.state.checkpoint_interval,
        checkpoints: state_dir.is_some(),
        depth,
        out_of_orderness_ms: spec.engine.timing.out_of_orderness.0,
        rates: RateClock::default(),
        late_posted: None,
    };
    threads.push(std::thread::Builder::new().name("engine".into()).spawn(move || engine.run(in_rx))?);
    let (done_tx, done) = sync_channel(1);
    let sink_admin = admin.clone();
    threads.push(std::thread::Builder::new().name("sinks".into()).spawn(move || {
        let _ = done_tx.send(run_sinks(out_rx, sinks, outbox, state_dir, &sink_registry, &sink_admin, &committed));
    })?);
    admin.set_ready(true);
    Ok(Running { stop, threads, done })
}

struct EngineLoop {
    processor: Processor,
    registry: Arc<SeriesRegistry>,
    sources: Vec<SourceSlot>,
    positions: BTreeMap<String, Position>,
    admin: Arc<AdminState>,
    out: SyncSender<ToSinks>,
    interval: Duration,
    checkpoints: bool,
    /// The input queue's depth, which push sources read to refuse early.
    depth: Arc<QueueDepth>,
    out_of_orderness_ms: i64,
    rates: RateClock,
    /// Late events when `late_events` was last posted to the SQL tables.
    late_posted: Option<u64>,
}

/// How long the engine thread waits for input before it checks idleness and checkpoints.
const TICK: Duration = Duration::from_millis(200);
/// How often the engine thread publishes its gauges.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// Per-shard and per-source event rates from the cumulative counts, over about a second.
#[derive(Default)]
struct RateClock {
    at: Option<Instant>,
    events: Vec<u64>,
    /// Events each source had accepted at `at`.
    accepted: Vec<f64>,
}

impl EngineLoop {
    fn run(mut self, rx: Receiver<SourceMessage>) {
        let _span = tracing::info_span!("engine").entered();
        let mut last_checkpoint = Instant::now();
        let mut last_publish = Instant::now();
        let mut records = Vec::new();
        loop {
            let got = rx.recv_timeout(TICK);
            if got.is_ok() {
                self.depth.taken();
            }
            match got {
                Ok(SourceMessage::Batch { source, batch }) => {
                    self.admin.metrics.add(QUEUE_POPPED, &[("queue", INPUT_QUEUE)], 1.0);
                    self.batch(source, batch, &mut records);
                }
                Ok(SourceMessage::Checkpoint { source }) => {
                    // A source hands partitions over: it waits for this checkpoint to be durable.
                    if self.checkpoints {
                        tracing::info!(source = %self.sources.get(source).map_or("?", |s| s.name.as_str()), "checkpoint asked for by a source");
                        self.checkpoint(false, &mut records);
                        last_checkpoint = Instant::now();
                    }
                }
                Ok(SourceMessage::Adopt { source, partition, state }) => {
                    self.adopt(source, partition, state, &mut records);
                }
                Ok(SourceMessage::Release { source, partitions }) => {
                    self.release(source, &partitions, &mut records);
                    last_checkpoint = Instant::now();
                }
                Ok(SourceMessage::End { source, partition }) => {
                    let Some(slot) = self.sources.get_mut(source) else { continue };
                    if let (Some(ended), Some(&input)) = (slot.ended.get_mut(partition), slot.inputs.get(partition)) {
                        *ended = true;
                        self.processor.end_input(input, &mut records);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.processor.check_idle(wall_now(), &mut records);
            self.flush(&mut records);
            if self.checkpoints && last_checkpoint.elapsed() >= self.interval {
                self.checkpoint(false, &mut records);
                last_checkpoint = Instant::now();
            }
            // Gauges every tenth of a second, not after every batch: publishing takes the metrics lock.
            if last_publish.elapsed() >= PUBLISH_EVERY {
                self.publish();
                last_publish = Instant::now();
            }
        }
        let finished =
            !self.sources.is_empty() && self.sources.iter().all(|s| !s.unbounded && s.ended.iter().all(|e| *e));
        if finished {
            self.processor.finish(&mut records);
            self.flush(&mut records);
        }
        if self.checkpoints {
            self.checkpoint(finished, &mut records);
        }
        self.publish();
        let failed: Vec<String> = self
            .sources
            .iter()
            .filter_map(|s| {
                let why = s.stats.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                why.map(|w| format!("source {}: {w}", s.name))
            })
            .collect();
        self.admin.metrics.add(QUEUE_PUSHED, &[("queue", SINK_QUEUE)], 1.0);
        let _ = self.out.send(ToSinks::Close { failed });
    }

    fn batch(&mut self, source: usize, batch: SourceBatch, out: &mut Vec<Record>) {
        let Some(slot) = self.sources.get_mut(source) else { return };
        let Some(&input) = slot.inputs.get(batch.partition) else { return };
        // A partition that ended and sends again (a Kafka partition assigned back) is live again.
        if let Some(ended) = slot.ended.get_mut(batch.partition) {
            *ended = false;
        }
        let slot = &self.sources[source];
        let name = slot.name.clone();
        let stats = self.processor.record(input, &batch.events, out);
        if let Some(pos) = batch.position {
            self.positions.insert(slot.partitions[batch.partition].clone(), pos);
        }
        let m = &self.admin.metrics;
        m.add(EVENTS_ACCEPTED, &[("source", &name)], stats.accepted as f64);
        for (reason, n) in batch.rejects.iter() {
            m.add(EVENTS_REJECTED, &[("source", &name), ("reason", reason.as_str())], n as f64);
        }
        if let Some(first) = batch.errors.first() {
            let more = batch.rejects.total().saturating_sub(1);
            tracing::warn!(source = %name, error = %first, more, "rejected records");
            let now = wall_now();
            self.admin.ingest_errors.add(&name, &batch.errors, now);
            // The latest sample of each reason, as an info metric.
            for s in &batch.errors {
                let record = s.error.line.to_string();
                m.set_only(
                    SOURCE_REJECT_SAMPLE,
                    &[("source", &name), ("reason", s.error.reason.as_str())],
                    &[("origin", &s.origin), ("record", &record), ("detail", &s.error.detail), ("excerpt", &s.excerpt)],
                    now.0 as f64 / 1000.0,
                );
            }
        }
        self.flush(out);
    }

    /// A partition of a partitioned source is assigned here, with its last owner's state.
    fn adopt(
        &mut self,
        source: usize,
        partition: usize,
        state: Option<Box<faultline_core::checkpoint::PartitionCheckpoint>>,
        out: &mut Vec<Record>,
    ) {
        let Some(slot) = self.sources.get_mut(source) else { return };
        let (Some(&input), Some(name)) = (slot.inputs.get(partition), slot.partitions.get(partition).cloned()) else {
            return;
        };
        slot.owned[partition] = true;
        slot.ended[partition] = false;
        let (position, state) = match state {
            Some(cp) => (cp.position, Some(cp.state)),
            None => (None, None),
        };
        let adopted = state.is_some();
        if let Err(e) = self.processor.adopt(input, state, out) {
            tracing::error!(partition = %name, error = %format!("{e:#}"), "partition state not adopted: the partition starts without it");
        }
        if let Some(pos) = position {
            self.positions.insert(name.clone(), pos);
        }
        tracing::info!(partition = %name, adopted, "partition assigned");
        self.flush(out);
    }

    /// Partitions of a partitioned source go to another instance: a checkpoint writes
    /// their state (the source waits for it), then their series leave the pipeline.
    fn release(&mut self, source: usize, partitions: &[usize], out: &mut Vec<Record>) {
        let Some(slot) = self.sources.get(source) else { return };
        let picked: Vec<(usize, InputId, String)> = partitions
            .iter()
            .filter_map(|&p| Some((p, *slot.inputs.get(p)?, slot.partitions.get(p)?.clone())))
            .filter(|(p, _, _)| slot.owned[*p])
            .collect();
        let names: Vec<String> = picked.iter().map(|(_, _, n)| n.clone()).collect();
        self.checkpoint_releasing(false, names.clone(), out);
        for (p, input, _) in &picked {
            self.processor.release(*input, out);
            if let Some(slot) = self.sources.get_mut(source) {
                slot.owned[*p] = false;
                slot.ended[*p] = true;
            }
        }
        tracing::info!(partitions = ?names, "partitions handed over");
        self.flush(out);
    }

    fn flush(&mut self, records: &mut Vec<Record>) {
        if records.is_empty() {
            return;
        }
        self.admin.metrics.add(QUEUE_PUSHED, &[("queue", SINK_QUEUE)], 1.0);
        // Blocks while the sinks are behind: the engine waits, and so do the sources.
        let _ = self.out.send(ToSinks::Records(std::mem::take(records)));
    }

    /// The barrier: every shard copies its state after the same input, the
    /// windows it released go out first, then the checkpoint follows them to
    /// the sink thread, which serialises and writes it.
    fn checkpoint(&mut self, finished: bool, records: &mut Vec<Record>) {
        self.checkpoint_releasing(finished, Vec::new(), records);
    }

    /// [`EngineLoop::checkpoint`], handing the partitions `released` over.
    fn checkpoint_releasing(&mut self, finished: bool, released: Vec<String>, records: &mut Vec<Record>) {
        let started = Instant::now();
        let copy = self.processor.checkpoint(records);
        let stores = self
            .sources
            .iter()
            .filter_map(|s| Some((s, s.store.as_ref()?)))
            .flat_map(|(s, store)| {
                s.partitions.iter().zip(&s.owned).filter(|(_, o)| **o).map(|(p, _)| (p.clone(), store.clone()))
            })
            .collect();
        let pending = PendingCheckpoint {
            copy,
            positions: self.positions.clone(),
            finished,
            taken_at: wall_now(),
            stores,
            released,
        };
        self.flush(records);
        self.admin.metrics.add(QUEUE_PUSHED, &[("queue", SINK_QUEUE)], 1.0);
        let _ = self.out.send(ToSinks::Checkpoint(Box::new(pending)));
        // Until here ingest stood still: the barrier, the copies, and handing them to the sinks.
        self.admin.metrics.set(CHECKPOINT_STALL, &[], started.elapsed().as_secs_f64());
    }

    fn publish(&mut self) {
        let m = &self.admin.metrics;
        m.set(EVENTS_LATE, &[], self.processor.n_late() as f64);
        m.set(WINDOWS_CLOSED, &[], self.processor.n_closed as f64);
        m.set(ACTIVE_SERIES, &[], self.registry.len() as f64);
        m.set(OPEN_WINDOWS, &[], self.processor.n_open_windows() as f64);
        let now = wall_now();
        let wm = self.processor.watermark();
        if wm > Millis(0) {
            m.set(WATERMARK_LAG, &[], now.0.saturating_sub(wm.0) as f64 / 1000.0);
        }
        // Sources count what they push in their own stats (no lock on their side).
        let pushed: u64 = self.sources.iter().map(|s| s.stats.batches.load(Ordering::Relaxed)).sum();
        m.set(QUEUE_PUSHED, &[("queue", INPUT_QUEUE)], pushed as f64);
        for q in [INPUT_QUEUE, SINK_QUEUE] {
            let depth = m.get(QUEUE_PUSHED, &[("queue", q)]) - m.get(QUEUE_POPPED, &[("queue", q)]);
            m.set(QUEUE_DEPTH, &[("queue", q)], depth.max(0.0));
        }
        let inputs = self.processor.input_states();
        for slot in &self.sources {
            let blocked = slot.stats.blocked_ns.load(Ordering::Relaxed) as f64 / 1e9;
            m.set(SOURCE_BACKPRESSURE, &[("source", &slot.name)], blocked);
            m.set(SOURCE_BYTES, &[("source", &slot.name)], slot.stats.bytes.load(Ordering::Relaxed) as f64);
            let st = &slot.stats;
            if st.push {
                let busy = st.refused_busy.load(Ordering::Relaxed) as f64;
                let invalid = st.refused_invalid.load(Ordering::Relaxed) as f64;
                m.set(SOURCE_REQUESTS_REFUSED, &[("source", &slot.name), ("reason", "busy")], busy);
                m.set(SOURCE_REQUESTS_REFUSED, &[("source", &slot.name), ("reason", "invalid")], invalid);
                m.set(SOURCE_WAL_BYTES, &[("source", &slot.name)], st.wal_bytes.load(Ordering::Relaxed) as f64);
                m.set(SOURCE_WAL_REPLAYED, &[("source", &slot.name)], st.wal_replayed.load(Ordering::Relaxed) as f64);
            }
            if let Some(k) = &slot.kafka {
                let src = [("source", slot.name.as_str())];
                m.set(KAFKA_MESSAGES, &src, k.messages.load(Ordering::Relaxed) as f64);
                m.set(KAFKA_PAUSES, &src, k.pauses.load(Ordering::Relaxed) as f64);
                m.set(KAFKA_REBALANCES, &src, k.rebalances.load(Ordering::Relaxed) as f64);
                let copied = k.dead_lettered.load(Ordering::Relaxed) as f64;
                let failed = k.dead_letter_failures.load(Ordering::Relaxed) as f64;
                m.set(KAFKA_DEAD_LETTERED, &[("source", &slot.name), ("result", "copied")], copied);
                m.set(KAFKA_DEAD_LETTERED, &[("source", &slot.name), ("result", "failed")], failed);
                let rejected = k.rejected.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
                for ((topic, reason), n) in rejected {
                    m.set(KAFKA_REJECTED, &[("source", &slot.name), ("topic", &topic), ("reason", reason)], n as f64);
                }
                for (i, partition) in slot.partitions.iter().enumerate() {
                    let labels = [("source", slot.name.as_str()), ("partition", partition.as_str())];
                    let assigned = k.assigned.get(i).is_some_and(|a| a.load(Ordering::Relaxed));
                    m.set(KAFKA_ASSIGNED, &labels, if assigned { 1.0 } else { 0.0 });
                    if let Some(lag) = k.lag(i).filter(|_| assigned) {
                        m.set(KAFKA_LAG, &labels, lag as f64);
                    }
                }
            }
            for (partition, input) in slot.partitions.iter().zip(&slot.inputs) {
                if let Some(state) = inputs.iter().find(|(id, _)| id == input).map(|(_, s)| s) {
                    // A partition that has sent nothing yet has no lag to speak of.
                    if state.max_ts > Millis::MIN {
                        let partition_wm = state.max_ts.0.saturating_sub(self.out_of_orderness_ms);
                        let lag_s = now.0.saturating_sub(partition_wm) as f64 / 1000.0;
                        m.set(PARTITION_WATERMARK_LAG, &[("partition", partition)], lag_s);
                    }
                    m.set(PARTITION_IDLE, &[("partition", partition)], if state.idle { 1.0 } else { 0.0 });
                }
            }
        }
        let loads = self.processor.shard_loads();
        let elapsed = self.rates.at.map(|t| t.elapsed().as_secs_f64());
        let refresh_rates = elapsed.is_none_or(|e| e >= 1.0);
        for (i, load) in loads.iter().enumerate() {
            let shard = i.to_string();
            let labels = [("shard", shard.as_str())];
            m.set(SHARD_EVENTS, &labels, load.events as f64);
            m.set(SHARD_QUEUE_DEPTH, &labels, load.queued as f64);
            m.set(SHARD_BACKPRESSURE, &labels, load.blocked_ns as f64 / 1e9);
            if let (true, Some(e)) = (refresh_rates, elapsed) {
                let before = self.rates.events.get(i).copied().unwrap_or(0);
                m.set(SHARD_EVENT_RATE, &labels, load.events.saturating_sub(before) as f64 / e);
            }
        }
        let accepted: Vec<f64> = self.sources.iter().map(|s| m.get(EVENTS_ACCEPTED, &[("source", &s.name)])).collect();
        if let (true, Some(e)) = (refresh_rates, elapsed) {
            for (slot, (now, before)) in self.sources.iter().zip(accepted.iter().zip(&self.rates.accepted)) {
                m.set(SOURCE_EVENT_RATE, &[("source", &slot.name)], (now - before).max(0.0) / e);
            }
        }
        if refresh_rates {
            self.rates =
                RateClock { at: Some(Instant::now()), events: loads.iter().map(|l| l.events).collect(), accepted };
            self.post_status();
        }
    }

    /// The SQL tables `ingest_stats` and `late_events`, from the gauges just set (about once a second).
    fn post_status(&mut self) {
        let Some(board) = self.admin.sql_board.get() else { return };
        let m = &self.admin.metrics;
        let mut rows = Vec::new();
        for slot in &self.sources {
            let src = [("source", slot.name.as_str())];
            let rejects = m
                .samples(EVENTS_REJECTED)
                .into_iter()
                .filter(|(labels, _)| labels.first().is_some_and(|(k, v)| *k == "source" && *v == slot.name))
                .filter_map(|(labels, n)| {
                    let reason = labels.iter().find(|(k, _)| *k == "reason")?.1.clone();
                    Some((reason, n as u64))
                })
                .collect();
            rows.push(faultline_sql::IngestRow {
                source: slot.name.clone(),
                events: Some(m.get(EVENTS_ACCEPTED, &src) as u64),
                bytes: Some(slot.stats.bytes.load(Ordering::Relaxed)),
                rejects,
                events_per_second: Some(m.get(SOURCE_EVENT_RATE, &src)),
                ..faultline_sql::IngestRow::default()
            });
            for (i, partition) in slot.partitions.iter().enumerate() {
                let p = [("partition", partition.as_str())];
                let kafka = [("source", slot.name.as_str()), ("partition", partition.as_str())];
                let assigned =
                    slot.kafka.as_ref().is_none_or(|k| k.assigned.get(i).is_some_and(|a| a.load(Ordering::Relaxed)));
                rows.push(faultline_sql::IngestRow {
                    source: slot.name.clone(),
                    partition: Some(partition.clone()),
                    watermark_lag_s: m.has(PARTITION_WATERMARK_LAG, &p).then(|| m.get(PARTITION_WATERMARK_LAG, &p)),
                    idle: m.has(PARTITION_IDLE, &p).then(|| m.get(PARTITION_IDLE, &p) > 0.0),
                    kafka_lag: (assigned && m.has(KAFKA_LAG, &kafka)).then(|| m.get(KAFKA_LAG, &kafka) as u64),
                    ..faultline_sql::IngestRow::default()
                });
            }
        }
        board.set_ingest(rows);
        let late = self.processor.n_late();
        if self.late_posted != Some(late) {
            self.late_posted = Some(late);
            let rows = self.processor.late_by_series().into_iter().map(|(id, n)| (self.registry.key(id), n)).collect();
            board.set_late(rows);
        }
    }
}

/// Checkpoint directory of a run, for messages.
pub(crate) fn describe_state(dir: Option<&PathBuf>) -> String {
    dir.map_or_else(|| "no state directory: checkpoints off".to_string(), |d| format!("state in {}", d.display()))
}
