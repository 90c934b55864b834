//! The sink thread: writes output lines to stdout and files, then checkpoints at each barrier.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use anyhow::Context as _;
use std::collections::BTreeMap;

use faultline_core::checkpoint::{Checkpoint, PartitionCheckpoint};
use faultline_core::pipeline::PipelineCopy;
use faultline_core::{Millis, Position, SeriesRegistry};
use faultline_ingest::{Committed, PartitionStore};
use faultline_sinks::SharedOutbox;

use super::admin::AdminState;
use super::checkpoint;
use faultline_core::incident::IncidentEvent;

use super::metrics::{
    CHECKPOINT_BYTES, CHECKPOINT_DURATION, CHECKPOINT_FAILURES, CHECKPOINTS, CHECKPOINTS_HELD, QUEUE_POPPED,
    SINK_DELIVERIES, SINK_FAILURES,
};
use super::output::Record;
use super::runtime::SINK_QUEUE;
use crate::config::{Emit, SinkKind, SinkSpec};

/// What the engine thread sends the sinks.
#[derive(Debug)]
pub(crate) enum ToSinks {
    /// Lines to write.
    Records(Vec<Record>),
    /// A barrier: flush everything before it, then write this checkpoint.
    Checkpoint(Box<PendingCheckpoint>),
    /// No more input; `failed` names the sources that stopped on an error.
    Close {
        /// One line per failed source.
        failed: Vec<String>,
    },
}

/// A checkpoint as the engine thread copied it at the barrier: made
/// serialisable and written here, off the engine thread.
#[derive(Debug)]
pub(crate) struct PendingCheckpoint {
    /// The pipeline's state, series still by id.
    pub(crate) copy: PipelineCopy,
    /// Source positions of the same input prefix, by partition.
    pub(crate) positions: BTreeMap<String, Position>,
    /// Every input ended and every window closed.
    pub(crate) finished: bool,
    /// Processing time of the barrier.
    pub(crate) taken_at: Millis,
    /// Where each partitioned input owned here keeps its series' state, by partition name.
    pub(crate) stores: BTreeMap<String, PartitionStore>,
    /// Partitions this checkpoint hands over: their sources wait for it to be durable.
    pub(crate) released: Vec<String>,
}

impl PendingCheckpoint {
    /// The checkpoint and the partition checkpoints beside it (with their stores).
    fn into_checkpoints(
        self,
        registry: &SeriesRegistry,
    ) -> (Checkpoint, Vec<(PartitionStore, PartitionCheckpoint)>, Vec<String>) {
        let (own, parts) = self.copy.into_states(registry);
        let mut cp = Checkpoint::of_pipeline(own, self.taken_at);
        let files = parts
            .into_iter()
            .filter_map(|(name, state)| {
                let store = self.stores.get(&name)?.clone();
                let file = PartitionCheckpoint {
                    version: faultline_core::pipeline::PARTITION_STATE_VERSION,
                    taken_at: self.taken_at,
                    position: self.positions.get(&name).copied(),
                    partition: name,
                    state,
                };
                Some((store, file))
            })
            .collect();
        cp.positions = self.positions;
        cp.finished = self.finished;
        (cp, files, self.released)
    }
}

/// How a sink renders an incident event (`None` skips it).
pub(crate) type Render = Box<dyn FnMut(&IncidentEvent) -> Option<String> + Send>;

/// An opened sink.
pub(crate) struct SinkOut {
    name: String,
    emit: Emit,
    writer: Box<dyn Write + Send>,
    file: Option<File>,
    render: Option<Render>,
    /// The first write or flush that failed: output after the last
    /// checkpoint may be lost, so no later checkpoint may be written.
    broken: Option<String>,
    /// A file sink's path, with its rotation (past bytes, files kept).
    rotation: Option<(PathBuf, u64, u32)>,
}

impl std::fmt::Debug for SinkOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkOut").field("name", &self.name).field("emit", &self.emit).finish_non_exhaustive()
    }
}

impl SinkOut {
    /// Opens a configured sink (file sinks append).
    pub(crate) fn open(spec: &SinkSpec) -> anyhow::Result<SinkOut> {
        let (writer, file): (Box<dyn Write + Send>, _) = match &spec.kind {
            SinkKind::Stdout => (Box::new(std::io::stdout()), None),
            SinkKind::File(path) => {
                faultline_sinks::lines::drop_torn_tail(path)
                    .with_context(|| format!("repairing sink {} file {}", spec.name, path.display()))?;
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening sink {} file {}", spec.name, path.display()))?;
                let sync = f.try_clone()?;
                (Box::new(BufWriter::new(f)), Some(sync))
            }
            other => anyhow::bail!("sink {}: {other:?} is not a line sink", spec.name),
        };
        let rotation = match (&spec.kind, spec.rotate) {
            (SinkKind::File(path), Some((bytes, files))) => Some((path.clone(), bytes, files)),
            _ => None,
        };
        Ok(SinkOut { name: spec.name.clone(), emit: spec.emit, writer, file, render: None, broken: None, rotation })
    }

    /// A stdout sink of incident events rendered by `render` (`None` skips a line).
    pub(crate) fn stdout_rendered(name: &str, render: Render) -> SinkOut {
        SinkOut {
            name: name.into(),
            emit: Emit::Incidents,
            writer: Box::new(std::io::stdout()),
            file: None,
            render: Some(render),
            broken: None,
            rotation: None,
        }
    }

    /// True when this sink writes signal lines.
    pub(crate) fn wants_signals(&self) -> bool {
        self.emit == Emit::Signals
    }

    fn write(&mut self, r: &Record) -> std::io::Result<bool> {
        match (r, self.emit) {
            (Record::Signal(line), Emit::Signals) => {
                self.writer.write_all(line.as_bytes())?;
                self.writer.write_all(b"\n")?;
            }
            (Record::Incident(ev), Emit::Incidents) => match &mut self.render {
                Some(render) => {
                    if let Some(text) = render(ev) {
                        writeln!(self.writer, "{text}")?;
                        self.writer.flush()?;
                    }
                }
                None => {
                    self.writer.write_all(ev.to_json_line().as_bytes())?;
                    self.writer.write_all(b"\n")?;
                }
            },
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Marks the sink broken by `err` (the first failure is kept).
    fn fail(&mut self, what: &str, err: &std::io::Error) {
        if self.broken.is_none() {
            tracing::error!(
                sink = %self.name,
                error = %err,
                "sink {what} failed: no checkpoint is written from now on, so a restart resumes before the lost output"
            );
            self.broken = Some(format!("{what}: {err}"));
        }
    }

    /// After a flush at a checkpoint: a file past its size moves to `path.1` (older ones up,
    /// the oldest dropped) and a new one starts; its lines are whole, every one delivered.
    fn rotate_if_due(&mut self) -> std::io::Result<()> {
        let Some((path, max_bytes, max_files)) = &self.rotation else { return Ok(()) };
        let Some(f) = &self.file else { return Ok(()) };
        if f.metadata()?.len() < *max_bytes {
            return Ok(());
        }
        faultline_sinks::lines::rotate_files(path, *max_files)?;
        let fresh = OpenOptions::new().create(true).append(true).open(path)?;
        self.file = Some(fresh.try_clone()?);
        self.writer = Box::new(BufWriter::new(fresh));
        tracing::info!(sink = %self.name, file = %path.display(), "sink file rotated");
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()?;
        if let Some(f) = &self.file {
            f.sync_data()?;
        }
        Ok(())
    }
}

/// Runs until [`ToSinks::Close`]: writes records, and at each checkpoint
/// barrier flushes (and fsyncs) every sink before writing the checkpoint.
pub(crate) fn run_sinks(
    rx: Receiver<ToSinks>,
    mut sinks: Vec<SinkOut>,
    outbox: Option<SharedOutbox>,
    state_dir: Option<PathBuf>,
    registry: &SeriesRegistry,
    admin: &AdminState,
    committed: &Committed,
) -> anyhow::Result<()> {
    let _span = tracing::info_span!("sink", name = "all").entered();
    let m = &admin.metrics;
    let mut closed = false;
    let mut source_failures = Vec::new();
    // The first outbox append that failed: no checkpoint may pass the events it lost.
    let mut outbox_broken: Option<String> = None;
    for msg in rx {
        m.add(QUEUE_POPPED, &[("queue", SINK_QUEUE)], 1.0);
        match msg {
            ToSinks::Records(records) => {
                for r in &records {
                    if let Record::Incident(ev) = r {
                        admin.feed.push(ev);
                    }
                }
                if let Some(o) = &outbox {
                    let entries: Vec<_> = records
                        .iter()
                        .filter_map(|r| match r {
                            Record::Incident(ev) => Some(super::delivery::entry(ev)),
                            Record::Signal(_) => None,
                        })
                        .collect();
                    if !entries.is_empty() {
                        let appended = o.lock().append(&entries);
                        match appended {
                            Ok(_) => o.appended.notify_waiters(),
                            Err(e) => {
                                m.add(SINK_FAILURES, &[("sink", "outbox")], entries.len() as f64);
                                if outbox_broken.is_none() {
                                    tracing::error!(error = %e, "appending to the outbox failed: no checkpoint is written from now on");
                                    outbox_broken = Some(e.to_string());
                                }
                            }
                        }
                    }
                }
                for s in &mut sinks {
                    let (mut ok, mut failed) = (0u64, 0u64);
                    for r in &records {
                        match s.write(r) {
                            Ok(true) => ok += 1,
                            Ok(false) => {}
                            Err(e) => {
                                failed += 1;
                                s.fail("write", &e);
                            }
                        }
                    }
                    m.add(SINK_DELIVERIES, &[("sink", &s.name)], ok as f64);
                    if failed > 0 {
                        m.add(SINK_FAILURES, &[("sink", &s.name)], failed as f64);
                    }
                }
            }
            ToSinks::Checkpoint(cp) => {
                let started = Instant::now();
                for s in &mut sinks {
                    if let Err(e) = s.flush() {
                        m.add(SINK_FAILURES, &[("sink", &s.name)], 1.0);
                        s.fail("flush", &e);
                    } else if let Err(e) = s.rotate_if_due() {
                        // The lines are durable in the old file; writing goes on there.
                        tracing::warn!(sink = %s.name, error = %e, "rotating the sink file failed");
                    }
                }
                // A checkpoint passes only what every sink, and the outbox, has durably taken.
                let broken = sinks
                    .iter()
                    .find_map(|s| s.broken.as_ref().map(|b| (s.name.as_str(), b)))
                    .or(outbox_broken.as_ref().map(|b| ("outbox", b)));
                if let Some((name, why)) = broken {
                    m.add(CHECKPOINTS_HELD, &[], 1.0);
                    admin.set_ready(false);
                    tracing::warn!(sink = %name, reason = %why, "checkpoint held back: a sink lost output");
                    continue;
                }
                let (cp, files, released) = cp.into_checkpoints(registry);
                // Partition files first: each is whole on its own (its series and its position).
                let mut written = files.iter().try_fold(0, |total, (store, file)| {
                    store.save(file).map(|n| total + n).with_context(|| format!("partition {}", file.partition))
                });
                if let Ok(part_bytes) = written {
                    written = state_dir
                        .as_deref()
                        .map_or(Ok(0), |d| checkpoint::write_atomic(d, &cp))
                        .map(|n| n + part_bytes);
                }
                match written {
                    Ok(bytes) => {
                        // Durable now: sources may free what it covers (write-ahead log segments).
                        if state_dir.is_some() {
                            committed.publish(&cp.positions);
                            committed.publish_released(&released);
                        }
                        // Events before it are never emitted again: delivered segments may go.
                        if let Some(o) = &outbox
                            && let Err(e) = o.lock().checkpointed()
                        {
                            tracing::warn!(error = %e, "freeing delivered outbox segments failed");
                        }
                        m.add(CHECKPOINTS, &[], 1.0);
                        m.set(CHECKPOINT_DURATION, &[], started.elapsed().as_secs_f64());
                        m.set(CHECKPOINT_BYTES, &[], bytes as f64);
                        *admin.last_checkpoint.lock().expect("checkpoint clock mutex poisoned") = Some(Instant::now());
                    }
                    Err(err) => {
                        m.add(CHECKPOINT_FAILURES, &[], 1.0);
                        tracing::error!(error = %format!("{err:#}"), "checkpoint failed");
                    }
                }
            }
            ToSinks::Close { failed } => {
                closed = true;
                source_failures = failed;
                break;
            }
        }
    }
    if let Some(why) = &outbox_broken {
        anyhow::bail!(
            "the outbox lost incident events ({why}); the last checkpoint before it was kept, so a restart emits them again"
        );
    }
    if let Some(s) = sinks.iter().find(|s| s.broken.is_some()) {
        anyhow::bail!(
            "sink {} lost output ({}); the last checkpoint before it was kept, so a restart emits it again",
            s.name,
            s.broken.as_deref().unwrap_or_default()
        );
    }
    for s in &mut sinks {
        s.flush().with_context(|| format!("flushing sink {}", s.name))?;
    }
    anyhow::ensure!(source_failures.is_empty(), "{}", source_failures.join("; "));
    anyhow::ensure!(
        closed,
        "the engine thread stopped unexpectedly (see the panic above); no final checkpoint written"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Record, SinkOut};
    use crate::config::{Emit, SinkKind, SinkSpec};

    #[test]
    fn a_file_past_its_size_rotates_at_the_checkpoint_keeping_max_files_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signals.jsonl");
        let spec = SinkSpec {
            name: "f".into(),
            kind: SinkKind::File(path.clone()),
            emit: Emit::Signals,
            rotate: Some((4096, 2)),
        };
        let mut sink = SinkOut::open(&spec).unwrap();
        let line = format!("{{\"n\":\"{}\"}}", "x".repeat(90));
        for round in 0..5 {
            for _ in 0..50 {
                assert!(sink.write(&Record::Signal(line.clone())).unwrap());
            }
            sink.flush().unwrap();
            sink.rotate_if_due().unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "round {round}: a new file after each rotation");
        }
        let kept: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let mut kept = kept;
        kept.sort();
        assert_eq!(kept, ["signals.jsonl", "signals.jsonl.1", "signals.jsonl.2"], "the oldest beyond 2 are dropped");
        let old = std::fs::read_to_string(dir.path().join("signals.jsonl.2")).unwrap();
        assert_eq!(old.lines().count(), 50, "whole lines only");
        assert!(old.lines().all(|l| l == line));
        // Under the size: no rotation.
        sink.write(&Record::Signal(line.clone())).unwrap();
        sink.flush().unwrap();
        sink.rotate_if_due().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
    }
}
