//! `faultline replay`: recorded events through the pipeline as fast as they can go.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use faultline_core::incident::IncidentEvent;
use faultline_core::incident::render_postmortem;
use faultline_core::pipeline::{Pipeline, PipelineConfig};
use faultline_core::wire::Decoder;
use faultline_core::{ClosedWindow, Engine, InputId, RejectCounts, SeriesRegistry, ShardedEngine};

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
    /// Shard threads (overrides the config; 1 runs on the calling thread).
    #[arg(long)]
    shards: Option<usize>,
    /// No summary on stderr.
    #[arg(long)]
    quiet: bool,
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
    let spec = match &args.config {
        Some(p) => config::load(p)?,
        None => config::parse(config::DEMO_TOML).map_err(|e| anyhow::anyhow!("embedded config: {}", e.join("; ")))?,
    };
    // Progress by bytes read (rate and ETA), only on a terminal and without --quiet.
    let progress;
    let reader: Box<dyn BufRead> = if args.input.as_os_str() == "-" {
        progress = crate::progress::bar(None, args.quiet, "replay");
        Box::new(BufReader::new(progress.wrap_read(std::io::stdin().lock())))
    } else {
        let f = std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
        let len = f.metadata().map(|m| m.len()).ok();
        progress = crate::progress::bar(len, args.quiet, "replay");
        Box::new(BufReader::with_capacity(1 << 20, progress.wrap_read(f)))
    };
    let stdout = std::io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 16, stdout);
    let summary = match args.emit {
        Emit::Signals => replay_signals(&spec, reader, args.shards, &mut out)?,
        Emit::Incidents | Emit::Postmortems => replay_incidents(&spec, reader, args.emit, &mut out)?,
    };
    out.flush()?;
    progress.finish_and_clear();
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

/// Replays JSON lines from `input` through the whole pipeline on one thread,
/// writing incident events as JSON lines to `out` (or, for [`Emit::Postmortems`],
/// one Markdown postmortem draft per incident at the end). The output depends on
/// the input alone.
pub(crate) fn replay_incidents(
    spec: &PipelineSpec,
    input: impl BufRead,
    emit: Emit,
    out: &mut impl Write,
) -> anyhow::Result<ReplaySummary> {
    let registry = Arc::new(SeriesRegistry::new(spec.max_series_per_service));
    let mut decoder = Decoder::new(registry.clone(), spec.decoder.clone());
    let mut pipeline = Pipeline::new(pipeline_config(spec), registry);
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
    decode_batches(input, &mut decoder, &mut summary, |batch, summary| {
        let events = pipeline.record(InputId(0), batch);
        batch.clear();
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
    Ok(summary)
}

/// Reads JSON lines, decoding them into batches of about [`BATCH_EVENTS`] events;
/// `on_batch` gets each full batch and the last, partial one (it must clear it).
/// Bad lines are counted in `summary`, the first few quoted.
fn decode_batches(
    input: impl BufRead,
    decoder: &mut Decoder,
    summary: &mut ReplaySummary,
    mut on_batch: impl FnMut(&mut Vec<faultline_core::Event>, &mut ReplaySummary) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(BATCH_EVENTS + 2);
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line.context("reading input")?;
        let line_no = i as u64 + 1;
        summary.lines = line_no;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(e) = decoder.decode_line(line_no, &line, None, &mut batch) {
            summary.rejects.add(e.reason);
            if summary.first_errors.len() < QUOTED_ERRORS {
                summary.first_errors.push(e.to_string());
            }
        }
        if batch.len() >= BATCH_EVENTS {
            on_batch(&mut batch, summary)?;
        }
    }
    on_batch(&mut batch, summary)
}

/// Either engine, behind one interface for the replay loop.
enum Runner {
    Single(Engine),
    Sharded(ShardedEngine),
}

/// Replays JSON lines from `input`, writing signal lines to `out` in (window end, labels) order.
pub(crate) fn replay_signals(
    spec: &PipelineSpec,
    input: impl BufRead,
    shards: Option<usize>,
    out: &mut impl Write,
) -> anyhow::Result<ReplaySummary> {
    let registry = Arc::new(SeriesRegistry::new(spec.max_series_per_service));
    let mut decoder = Decoder::new(registry.clone(), spec.decoder.clone());
    let n_shards = shards.unwrap_or(if spec.shards == 0 { 1 } else { spec.shards });
    let mut runner = if n_shards <= 1 {
        Runner::Single(Engine::new(spec.engine))
    } else {
        Runner::Sharded(ShardedEngine::new(spec.engine, n_shards))
    };
    let mut summary = ReplaySummary::default();
    let mut emitter = SignalWriter { registry: &registry, dim_names: &spec.decoder.dims };
    decode_batches(input, &mut decoder, &mut summary, |batch, summary| {
        let closed = record(&mut runner, batch, summary);
        summary.windows += closed.len() as u64;
        summary.signal_lines += emitter.write(&closed, out)?;
        Ok(())
    })?;
    let mut closed = Vec::new();
    match &mut runner {
        Runner::Single(e) => {
            e.finish();
            closed.extend(e.drain_closed());
        }
        Runner::Sharded(e) => {
            e.finish();
            closed.extend(e.drain_closed());
        }
    }
    summary.windows += closed.len() as u64;
    summary.signal_lines += emitter.write(&closed, out)?;
    Ok(summary)
}

fn record(
    runner: &mut Runner,
    batch: &mut Vec<faultline_core::Event>,
    summary: &mut ReplaySummary,
) -> Vec<ClosedWindow> {
    let (stats, closed) = match runner {
        Runner::Single(e) => {
            let s = e.record(InputId(0), batch);
            batch.clear();
            (s, e.drain_closed())
        }
        Runner::Sharded(e) => {
            let s = e.record(InputId(0), std::mem::take(batch));
            (s, e.drain_closed())
        }
    };
    summary.accepted += stats.accepted;
    summary.late += stats.late;
    closed
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
