//! `faultline replay`: recorded events through the pipeline as fast as they can go.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::mpsc::sync_channel;

use anyhow::Context as _;
use faultline_core::incident::IncidentEvent;
use faultline_core::incident::render_postmortem;
use faultline_core::pipeline::{Pipeline, PipelineConfig};
use faultline_core::{
    ClosedWindow, Engine, InputId, Millis, RejectCounts, SeriesRegistry, ShardedEngine, WindowEngine,
};
use faultline_ingest::{LineDecoder, ReaderSource, SourceBatch};
use indicatif::ProgressBar;

use crate::config::validate::{resolve_decoders, resolve_shards};
use crate::config::{self, PipelineSpec};
use crate::service::output::{signal_line, sorted_points};

/// Arguments of `faultline replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// Pipeline config (default: the embedded demo pipeline).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Events as JSON lines; `-` for stdin.
    #[arg(long)]
    input: PathBuf,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Emit::Incidents)]
    emit: Emit,
    /// Shard threads (overrides `runtime.shards`; 0 means one per core, 1 runs on the calling thread).
    #[arg(long)]
    shards: Option<usize>,
    /// Decoder threads (overrides `runtime.decoders`; 0 means one per core, 1 decodes on the reading thread).
    #[arg(long)]
    decoders: Option<usize>,
    /// No summary on stderr.
    #[arg(long)]
    quiet: bool,
    /// Also deliver the incident events to the config's sinks (files, PagerDuty, Slack,
    /// webhooks, Alertmanager) through its outbox, waiting up to two minutes for them to take it.
    #[arg(long)]
    with_sinks: bool,
}

/// Replay output.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Emit {
    /// One JSON line per incident event (opened, updated, resolved).
    Incidents,
    /// One JSON line per closed series-window signal.
    Signals,
    /// At end of input, a Markdown postmortem draft per incident (runbook template).
    Postmortems,
}

const BATCH_EVENTS: usize = 4096;
/// Bad lines quoted in the summary; the rest are only counted.
const QUOTED_ERRORS: usize = 5;

/// Runs the command.
pub(crate) fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let mut spec = match &args.config {
        Some(p) => config::load(p)?,
        None => config::parse(config::DEMO_TOML).map_err(|e| anyhow::anyhow!("embedded config: {}", e.join("; ")))?,
    };
    if let Some(n) = args.decoders {
        spec.runtime.decoders = resolve_decoders(n);
    }
    // Progress by bytes read (rate and ETA), only on a terminal and without --quiet.
    let progress;
    let reader: Box<dyn BufRead + Send> = if args.input.as_os_str() == "-" {
        progress = crate::progress::bar(None, args.quiet, "replay");
        Box::new(BufReader::new(progress.wrap_read(std::io::stdin())))
    } else {
        let f = std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
        let len = f.metadata().map(|m| m.len()).ok();
        progress = crate::progress::bar(len, args.quiet, "replay");
        Box::new(BufReader::with_capacity(1 << 20, progress.wrap_read(f)))
    };
    if args.with_sinks {
        anyhow::ensure!(matches!(args.emit, Emit::Incidents), "--with-sinks delivers incident events: drop --emit");
        anyhow::ensure!(args.config.is_some(), "--with-sinks delivers to a config's sinks: give --config");
    }
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let mut captured = Vec::new();
    let summary = match args.emit {
        Emit::Signals => replay_signals(&spec, reader, args.shards, &progress, &mut out)?,
        Emit::Incidents if args.with_sinks => {
            let s = replay_incidents(&spec, reader, args.emit, args.shards, &progress, &mut captured)?;
            out.write_all(&captured)?;
            s
        }
        Emit::Incidents | Emit::Postmortems => {
            replay_incidents(&spec, reader, args.emit, args.shards, &progress, &mut out)?
        }
    };
    out.flush()?;
    progress.finish_and_clear();
    if args.with_sinks {
        deliver(&spec, &String::from_utf8_lossy(&captured))?;
    }
    if !args.quiet {
        let what = match args.emit {
            Emit::Signals => "signal lines",
            Emit::Incidents => "incident events",
            Emit::Postmortems => "postmortems",
        };
        eprintln!(
            "replay: {} lines, {} events accepted, {} late, {} rejected, {} windows closed, {} {what}",
            summary.lines,
            summary.accepted,
            summary.late,
            summary.rejects.total(),
            summary.windows,
            summary.signal_lines
        );
        for (reason, n) in summary.rejects.iter() {
            eprintln!("  rejected {n} as {reason}");
        }
        for e in &summary.first_errors {
            eprintln!("  {}: {e}", args.input.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Delivers replayed incident event lines to the config's sinks through its outbox (file sinks
/// too; without a state directory they are appended to directly), waiting for them to drain.
fn deliver(spec: &PipelineSpec, lines: &str) -> anyhow::Result<()> {
    use crate::config::SinkKind;
    for s in &spec.sinks {
        match &s.kind {
            // Without a state directory there is no outbox: files are appended to directly.
            SinkKind::File(path) if s.emit == config::Emit::Incidents && spec.state.directory.is_none() => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening sink {} file {}", s.name, path.display()))?;
                f.write_all(lines.as_bytes())?;
                f.sync_data()?;
                eprintln!(
                    "replay: sink {}: {} incident events appended to {}",
                    s.name,
                    lines.lines().count(),
                    path.display()
                );
            }
            SinkKind::Off(why) => eprintln!("replay: sink {} is off: {why}", s.name),
            _ => {}
        }
    }
    let entries: Vec<_> = lines.lines().filter_map(crate::service::delivery::entry_from_line).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    rt.block_on(async {
        let admin = Arc::new(crate::service::admin::AdminState::default());
        let console = spec.admin.external_url.clone().unwrap_or_else(|| format!("http://{}", spec.admin.addr()));
        let Some(d) = crate::service::delivery::start(spec, &console, admin)? else {
            return anyhow::Ok(());
        };
        let appended = d.outbox.lock().append(&entries)?;
        d.outbox.appended.notify_waiters();
        eprintln!(
            "replay: {} incident events into the outbox ({} already in it from an earlier run)",
            appended.end - appended.start,
            entries.len() as u64 - (appended.end - appended.start)
        );
        for (name, delivered, rejected, pending) in d.drain_and_stop(std::time::Duration::from_secs(120)).await {
            eprintln!("replay: sink {name}: {delivered} delivered, {rejected} rejected, {pending} still pending");
        }
        anyhow::Ok(())
    })
}

/// What a replay did.
#[derive(Debug, Default)]
pub(crate) struct ReplaySummary {
    pub(crate) lines: u64,
    pub(crate) accepted: u64,
    pub(crate) late: u64,
    pub(crate) rejects: RejectCounts,
    pub(crate) first_errors: Vec<String>,
    pub(crate) windows: u64,
    /// Lines written: signal lines or incident events.
    pub(crate) signal_lines: u64,
}

/// The pipeline config of a validated spec: windows, dimensions, detectors, incident
/// policy and causes, all from the config.
pub(crate) fn pipeline_config(spec: &PipelineSpec) -> PipelineConfig {
    spec.pipeline_config()
}

/// Replays JSON lines from `input` through the whole pipeline, writing
/// incident events as JSON lines to `out` (or, for [`Emit::Postmortems`], one
/// Markdown postmortem draft per incident at the end). Lines are decoded on a
/// thread of their own; the pipeline runs `shards` shards (the config's when
/// `None`). The output depends on the input alone, whatever the shard count.
pub(crate) fn replay_incidents(
    spec: &PipelineSpec,
    input: impl BufRead + Send + 'static,
    emit: Emit,
    shards: Option<usize>,
    progress: &ProgressBar,
    out: &mut impl Write,
) -> anyhow::Result<ReplaySummary> {
    let registry = Arc::new(SeriesRegistry::new(spec.max_series_per_service));
    let mut config = pipeline_config(spec);
    config.shards = shards.map_or(config.shards, resolve_shards);
    let mut pipeline = Pipeline::new(config, registry.clone());
    let input_id = pipeline.input("replay");
    let mut summary = ReplaySummary::default();
    let mut write = |events: Vec<IncidentEvent>, pipeline: &Pipeline, summary: &mut ReplaySummary| {
        summary.windows += pipeline.closed_windows().len() as u64;
        if matches!(emit, Emit::Postmortems) {
            return anyhow::Ok(());
        }
        for e in &events {
            out.write_all(e.to_json_line().as_bytes())?;
            out.write_all(b"\n")?;
        }
        summary.signal_lines += events.len() as u64;
        anyhow::Ok(())
    };
    decoded_batches(spec, input, registry, &mut summary, |batch, summary| {
        let events = pipeline.record(input_id, &batch.events);
        show_progress(progress, pipeline.engine().router().watermark(), summary);
        write(events, &pipeline, summary)
    })?;
    let events = pipeline.finish();
    write(events, &pipeline, &mut summary)?;
    if matches!(emit, Emit::Postmortems) {
        for (i, incident) in pipeline.incidents().incidents().iter().enumerate() {
            if i > 0 {
                out.write_all(b"\n---\n\n")?;
            }
            out.write_all(render_postmortem(incident).as_bytes())?;
            summary.signal_lines += 1;
        }
    }
    summary.accepted = pipeline.stats().accepted;
    summary.late = pipeline.stats().late;
    // `replay` exits after this. Freeing every series' detector state one allocation at a
    // time was 12 % of a 1 M-series replay's samples (`perf record`, glibc's free and
    // consolidation), for memory the exit hands back at once.
    std::mem::forget(pipeline);
    Ok(summary)
}

/// Decoded batches in flight between the decoding thread and the pipeline.
const DECODED_QUEUE: usize = 32;

/// Reads JSON lines on a thread of its own and decodes them there or on the
/// config's decoder threads (the ingest crate's [`ReaderSource`]), handing each
/// batch to `on_batch` on this thread, in input order. Bad
/// lines are counted in `summary`, the first few quoted.
fn decoded_batches(
    spec: &PipelineSpec,
    input: impl BufRead + Send + 'static,
    registry: Arc<SeriesRegistry>,
    summary: &mut ReplaySummary,
    mut on_batch: impl FnMut(&SourceBatch, &mut ReplaySummary) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let decoder = LineDecoder::new(registry, spec.decoder.clone());
    let source = ReaderSource::new("replay", Box::new(input), decoder, BATCH_EVENTS).decoders(spec.runtime.decoders);
    let (tx, rx) = sync_channel::<SourceBatch>(DECODED_QUEUE);
    let reader = std::thread::Builder::new()
        .name("replay-read".into())
        .spawn(move || source.read_all(|batch| tx.send(batch).is_ok()))
        .context("starting the decoding thread")?;
    let mut result = Ok(());
    for batch in rx {
        summary.lines += batch.records;
        for (reason, n) in batch.rejects.iter() {
            summary.rejects.add_n(reason, n);
        }
        for e in &batch.errors {
            if summary.first_errors.len() < QUOTED_ERRORS {
                summary.first_errors.push(e.to_string());
            }
        }
        result = on_batch(&batch, summary);
        if result.is_err() {
            break;
        }
    }
    // Dropping the receiver (on an error) stops the reader at its next batch.
    let read = reader.join().map_err(|_| anyhow::anyhow!("the decoding thread panicked"))?;
    result?;
    read.context("reading input")
}

fn show_progress(progress: &ProgressBar, watermark: Millis, summary: &ReplaySummary) {
    if !progress.is_hidden() && watermark > Millis(0) {
        progress.set_message(format!("replay: {} lines, event time {}", summary.lines, watermark.to_rfc3339()));
    }
}

/// Replays JSON lines from `input`, writing signal lines to `out` in (window
/// end, labels) order: the engine alone, no detectors.
pub(crate) fn replay_signals(
    spec: &PipelineSpec,
    input: impl BufRead + Send + 'static,
    shards: Option<usize>,
    progress: &ProgressBar,
    out: &mut impl Write,
) -> anyhow::Result<ReplaySummary> {
    let registry = Arc::new(SeriesRegistry::new(spec.max_series_per_service));
    let n_shards = shards.map_or(spec.shards, resolve_shards);
    let mut engine: Box<dyn WindowEngine> = if n_shards <= 1 {
        Box::new(Engine::new(spec.engine))
    } else {
        Box::new(ShardedEngine::new(spec.engine, n_shards))
    };
    let mut summary = ReplaySummary::default();
    let mut emitter = SignalWriter { registry: &registry, dim_names: &spec.decoder.dims };
    decoded_batches(spec, input, registry.clone(), &mut summary, |batch, summary| {
        let stats = engine.record(InputId(0), &batch.events);
        summary.accepted += stats.accepted;
        summary.late += stats.late;
        let closed = engine.drain_closed();
        summary.windows += closed.len() as u64;
        summary.signal_lines += emitter.write(&closed, out)?;
        show_progress(progress, engine.router().watermark(), summary);
        Ok(())
    })?;
    engine.finish();
    let closed = engine.drain_closed();
    summary.windows += closed.len() as u64;
    summary.signal_lines += emitter.write(&closed, out)?;
    Ok(summary)
}

struct SignalWriter<'a> {
    registry: &'a SeriesRegistry,
    dim_names: &'a [String],
}

impl SignalWriter<'_> {
    /// Writes the signals of `closed` in (window end, labels) order. Returns the number of lines.
    fn write(&mut self, closed: &[ClosedWindow], out: &mut impl Write) -> anyhow::Result<u64> {
        let rows = sorted_points(closed, self.registry);
        for (key, p) in &rows {
            out.write_all(signal_line(key, p, self.dim_names).as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(rows.len() as u64)
    }
}
