//! `faultline simulate`: writes a built-in scenario's events as JSON lines, and its ground truth.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use faultline_core::Millis;
use faultline_sim::{DEFAULT_START_MS, GroundTruth, ScenarioName, ScenarioSpec, generate};

/// Arguments of `faultline simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The scenario.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(faultline_sim::scenario_names()))]
    scenario: String,
    /// Simulated length in days; stretched to fit the incident and an hour after it.
    #[arg(long, default_value_t = 1.0)]
    days: f64,
    /// Normal history before the incident's onset, in days.
    #[arg(long, default_value_t = 0.0)]
    warmup_days: f64,
    /// Seed: the same arguments always give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Request volume relative to the base rates (Friday peak 240/min on checkout).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// First event time: epoch milliseconds or RFC 3339 (default Friday 2026-11-13 00:00 UTC).
    #[arg(long, value_parser = parse_start)]
    start: Option<Millis>,
    /// Write the events here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the ground truth (one JSON line, `null` for `normal`) here instead of stderr.
    #[arg(long)]
    truth: Option<PathBuf>,
}

/// Runs the command.
pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let spec = spec(&args)?;
    let (truth, events) = generate(&spec);
    write_truth(truth.as_ref(), args.truth.as_deref())?;
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 16, sink);
    let progress = io::stderr().is_terminal();
    let mut line = String::with_capacity(256);
    let mut next_report_ms = spec.start_ms;
    let mut n_events = 0u64;
    for event in events {
        line.clear();
        event.write_json_line(&mut line);
        line.push('\n');
        if let Err(e) = out.write_all(line.as_bytes()) {
            return finish_on_error(e, args.out.as_deref());
        }
        n_events += 1;
        if progress && event.ts_ms >= next_report_ms {
            eprint!("\rsimulated up to {}, {n_events} events", Millis(event.ts_ms));
            next_report_ms = event.ts_ms + 3_600_000;
        }
    }
    if let Err(e) = out.flush() {
        return finish_on_error(e, args.out.as_deref());
    }
    if progress {
        eprintln!("\rwrote {n_events} events{:30}", "");
    }
    Ok(ExitCode::SUCCESS)
}

fn spec(args: &SimulateArgs) -> anyhow::Result<ScenarioSpec> {
    let scenario: ScenarioName = args.scenario.parse()?;
    for (name, value) in [("--days", args.days), ("--warmup-days", args.warmup_days), ("--scale", args.scale)] {
        anyhow::ensure!(value.is_finite() && value >= 0.0, "{name} must be a number of at least 0, not {value}");
    }
    let mut spec = ScenarioSpec::new(scenario);
    spec.start_ms = args.start.map_or(DEFAULT_START_MS, |m| m.0);
    spec.days = args.days;
    spec.warmup_days = args.warmup_days;
    spec.seed = args.seed;
    spec.scale = args.scale;
    Ok(spec)
}

fn write_truth(truth: Option<&GroundTruth>, path: Option<&Path>) -> anyhow::Result<()> {
    let line = truth.map_or_else(|| "null".to_string(), GroundTruth::to_json_line);
    match path {
        Some(path) => std::fs::write(path, format!("{line}\n")).with_context(|| format!("writing {}", path.display())),
        None => {
            eprintln!("{line}");
            Ok(())
        }
    }
}

/// A closed pipe on stdout (`| head`) is a reader that has had enough, not a failure.
fn finish_on_error(e: io::Error, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    match out {
        None if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        None => Err(e).context("writing events to stdout"),
        Some(path) => Err(e).with_context(|| format!("writing events to {}", path.display())),
    }
}

fn parse_start(text: &str) -> Result<Millis, String> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Millis(ms));
    }
    Millis::parse_rfc3339(text).ok_or_else(|| format!("`{text}` is neither epoch milliseconds nor RFC 3339"))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn args(extra: &[&str]) -> SimulateArgs {
        let mut argv = vec!["simulate"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn start_takes_epoch_ms_or_rfc3339() {
        assert_eq!(parse_start("1795132800000"), Ok(Millis(1_795_132_800_000)));
        assert_eq!(parse_start("2026-11-20T00:00:00Z"), Ok(Millis(1_795_132_800_000)));
        assert!(parse_start("friday").is_err());
    }

    #[test]
    fn unknown_scenarios_and_negative_days_are_refused() {
        assert!(Cli::try_parse_from(["simulate", "--scenario", "nope"]).is_err());
        let negative = args(&["--scenario", "normal", "--days=-1"]);
        assert!(spec(&negative).is_err());
    }

    #[test]
    fn writes_the_library_events_and_the_truth_to_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let truth = dir.path().join("truth.json");
        let a = args(&[
            "--scenario",
            "gateway-outage",
            "--days",
            "0.05",
            "--start",
            "2026-11-20T13:00:00Z",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--truth",
            truth.to_str().unwrap(),
        ]);
        let spec = spec(&a).unwrap();
        assert_eq!(run(a).unwrap(), ExitCode::SUCCESS);
        let (expected_truth, events) = generate(&spec);
        let expected: String = events.map(|e| e.to_json_line() + "\n").collect();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
        let truth: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
        assert_eq!(truth["cause"], "payment_provider_outage");
        assert_eq!(truth["onset_ms"], expected_truth.unwrap().onset_ms);
    }
}
