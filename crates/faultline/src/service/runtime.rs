//! The running service: source threads, the engine thread and the sink thread, joined by bounded queues.
//!
//! Sources read on their own OS threads and send whole lines with the byte
//! offset just past them; a full queue blocks the source (push-back, never a
//! drop). The engine thread decodes, records and closes windows (CPU-bound
//! work stays off tokio's workers). Checkpoints travel as barriers in the
//! same queue as the output: the sink thread writes and flushes every line
//! before it, then writes the checkpoint, so a checkpoint never names a
//! position whose output was not delivered.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use faultline_core::checkpoint::Checkpoint;
use faultline_core::wire::Decoder;
use faultline_core::{InputId, Millis, SeriesRegistry};

use super::admin::AdminState;
use super::checkpoint;
use super::metrics::*;
use super::output::Record;
use super::processor::Processor;
use super::sink::{SinkOut, ToSinks, run_sinks};
use crate::config::PipelineSpec;

/// Queue label of the sources-to-engine queue.
pub(crate) const INPUT_QUEUE: &str = "source_to_engine";
/// Queue label of the engine-to-sinks queue.
pub(crate) const SINK_QUEUE: &str = "engine_to_sinks";

/// What sources send the engine thread.
#[derive(Debug)]
pub(crate) enum Input {
    /// Whole lines, each ending in `\n`; `end_offset` is the position just past the last.
    Lines {
        /// Source index.
        source: usize,
        /// The lines.
        data: Vec<u8>,
        /// Position after them.
        end_offset: u64,
    },
    /// The source reached its end and will send nothing more.
    End {
        /// Source index.
        source: usize,
    },
}

/// The body of a source thread.
pub(crate) type FeedFn = Box<dyn FnOnce(usize, u64, SyncSender<Input>, Arc<AtomicBool>, Arc<AdminState>) + Send>;

/// A source as the runtime starts it: a name and a function run on its own thread.
pub(crate) struct Feed {
    /// Name (checkpoint positions and metrics key by it).
    pub(crate) name: String,
    /// Runs the source: given its index, start offset, queue, stop flag and the admin state.
    pub(crate) run: FeedFn,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("name", &self.name).finish_non_exhaustive()
    }
}

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

/// Restores state, starts every thread and marks the service ready.
pub(crate) fn start(
    spec: &PipelineSpec,
    options: StartOptions,
    feeds: Vec<Feed>,
    sinks: Vec<SinkOut>,
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
    let registry = Arc::new(SeriesRegistry::new(spec.max_series_per_service));
    let mut processor = Processor::new(spec, registry.clone(), cp.as_ref(), admin.clone())?;
    if let Some(until) = options.history_until {
        processor.set_history_until(until);
    }
    let positions = cp.map(|c| c.positions).unwrap_or_default();
    let stop = Arc::new(AtomicBool::new(false));
    let (in_tx, in_rx) = sync_channel::<Input>(spec.runtime.queue_batches);
    let (out_tx, out_rx) = sync_channel::<ToSinks>(spec.runtime.sink_queue);
    let mut threads = Vec::new();
    let names: Vec<String> = feeds.iter().map(|f| f.name.clone()).collect();
    for (idx, feed) in feeds.into_iter().enumerate() {
        let offset = positions.get(&feed.name).copied().unwrap_or(0);
        let (tx, stop, admin) = (in_tx.clone(), stop.clone(), admin.clone());
        let run = feed.run;
        threads.push(
            std::thread::Builder::new()
                .name(format!("source-{}", feed.name))
                .spawn(move || run(idx, offset, tx, stop, admin))
                .context("spawning a source thread")?,
        );
    }
    drop(in_tx);
    let engine = EngineLoop {
        processor,
        decoder: Decoder::new(registry.clone(), spec.decoder.clone()),
        registry,
        names,
        positions,
        admin: admin.clone(),
        out: out_tx,
        interval: spec.state.checkpoint_interval,
        checkpoints: state_dir.is_some(),
        line_no: 0,
    };
    threads.push(std::thread::Builder::new().name("engine".into()).spawn(move || engine.run(in_rx))?);
    let (done_tx, done) = sync_channel(1);
    let sink_admin = admin.clone();
    threads.push(std::thread::Builder::new().name("sinks".into()).spawn(move || {
        let _ = done_tx.send(run_sinks(out_rx, sinks, state_dir, &sink_admin));
    })?);
    admin.set_ready(true);
    Ok(Running { stop, threads, done })
}

struct EngineLoop {
    processor: Processor,
    decoder: Decoder,
    registry: Arc<SeriesRegistry>,
    names: Vec<String>,
    positions: BTreeMap<String, u64>,
    admin: Arc<AdminState>,
    out: SyncSender<ToSinks>,
    interval: Duration,
    checkpoints: bool,
    line_no: u64,
}

/// How long the engine thread waits for input before it checks idleness and checkpoints.
const TICK: Duration = Duration::from_millis(200);

fn wall_now() -> Millis {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

impl EngineLoop {
    fn run(mut self, rx: Receiver<Input>) {
        let _span = tracing::info_span!("shard", name = "engine").entered();
        let mut ended = vec![false; self.names.len()];
        let mut last_checkpoint = Instant::now();
        let mut events = Vec::new();
        let mut records = Vec::new();
        loop {
            match rx.recv_timeout(TICK) {
                Ok(Input::Lines { source, data, end_offset }) => {
                    self.admin.metrics.add(QUEUE_POPPED, &[("queue", INPUT_QUEUE)], 1.0);
                    self.lines(source, &data, &mut events, &mut records);
                    self.positions.insert(self.names[source].clone(), end_offset);
                }
                Ok(Input::End { source }) => ended[source] = true,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.processor.check_idle(wall_now(), &mut records);
            self.flush(&mut records);
            if self.checkpoints && last_checkpoint.elapsed() >= self.interval {
                self.checkpoint(false);
                last_checkpoint = Instant::now();
            }
            self.publish();
        }
        let finished = !ended.is_empty() && ended.iter().all(|e| *e);
        if finished {
            self.processor.finish(&mut records);
            self.flush(&mut records);
        }
        if self.checkpoints {
            self.checkpoint(finished);
        }
        self.publish();
        let _ = self.out.send(ToSinks::Close);
    }

    fn lines(&mut self, source: usize, data: &[u8], events: &mut Vec<faultline_core::Event>, out: &mut Vec<Record>) {
        let name = self.names[source].clone();
        let now = Some(wall_now());
        events.clear();
        let mut rejected: BTreeMap<&'static str, u64> = BTreeMap::new();
        for line in data.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            self.line_no += 1;
            if let Err(e) = self.decoder.decode_line(self.line_no, line, now, events) {
                *rejected.entry(e.reason.as_str()).or_insert(0) += 1;
            }
        }
        let stats = self.processor.record(InputId(source as u32), events, out);
        let m = &self.admin.metrics;
        m.add(EVENTS_ACCEPTED, &[("source", &name)], stats.accepted as f64);
        for (reason, n) in rejected {
            m.add(EVENTS_REJECTED, &[("source", &name), ("reason", reason)], n as f64);
        }
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

    fn checkpoint(&mut self, finished: bool) {
        let mut cp: Checkpoint = self.processor.checkpoint(wall_now());
        cp.positions = self.positions.clone();
        cp.finished = finished;
        self.admin.metrics.add(QUEUE_PUSHED, &[("queue", SINK_QUEUE)], 1.0);
        let _ = self.out.send(ToSinks::Checkpoint(Box::new(cp)));
    }

    fn publish(&self) {
        let m = &self.admin.metrics;
        m.set(EVENTS_LATE, &[], self.processor.n_late() as f64);
        m.set(WINDOWS_CLOSED, &[], self.processor.n_closed as f64);
        m.set(ACTIVE_SERIES, &[], self.registry.len() as f64);
        m.set(OPEN_WINDOWS, &[], self.processor.n_open_windows() as f64);
        let wm = self.processor.watermark();
        if wm > Millis(0) {
            m.set(WATERMARK_LAG, &[], (wall_now().0 - wm.0) as f64 / 1000.0);
        }
        for q in [INPUT_QUEUE, SINK_QUEUE] {
            let depth = m.get(QUEUE_PUSHED, &[("queue", q)]) - m.get(QUEUE_POPPED, &[("queue", q)]);
            m.set(QUEUE_DEPTH, &[("queue", q)], depth.max(0.0));
        }
    }
}

/// Checkpoint directory of a run, for messages.
pub(crate) fn describe_state(dir: Option<&PathBuf>) -> String {
    dir.map_or_else(|| "no state directory: checkpoints off".to_string(), |d| format!("state in {}", d.display()))
}
