//! `faultline eval`: detection quality of the default pipeline on every built-in scenario.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use faultline_core::incident::{Action, IncidentEvent, Severity};
use faultline_core::pipeline::Pipeline;
use faultline_core::wire::Decoder;
use faultline_core::{InputId, Millis, SeriesRegistry};
use faultline_sim::{GroundTruth, ScenarioName, ScenarioSpec, generate};
use serde::Serialize;

use crate::config::{self, PipelineSpec};
use crate::replay::pipeline_config;

/// Arguments of `faultline eval`.
#[derive(Debug, clap::Args)]
pub(crate) struct EvalArgs {
    /// Days of normal traffic in which incidents are counted as false.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// Days of simulated history fed first, not counted (profiles see a full weekly cycle).
    #[arg(long, default_value_t = 7.0)]
    warmup_days: f64,
    /// Simulator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Simulator volume scale (1 = 300 requests/min at checkout's peak).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Worker threads (default: available cores).
    #[arg(long)]
    threads: Option<usize>,
    /// No progress and no per-scenario timings on stderr.
    #[arg(long)]
    quiet: bool,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Also print every scenario's incident events (JSON lines) on stderr.
    #[arg(long)]
    events: bool,
}

/// What to run: the same for the command and for tests (which run it short).
#[derive(Debug, Clone)]
pub(crate) struct EvalPlan {
    /// History before each run, days.
    pub(crate) warmup_days: f64,
    /// Normal traffic counted, days.
    pub(crate) normal_days: f64,
    /// Simulator seed.
    pub(crate) seed: u64,
    /// Simulator volume scale.
    pub(crate) scale: f64,
    /// Print incident events on stderr as they are scored.
    pub(crate) print_events: bool,
    /// No per-scenario timings on stderr.
    pub(crate) quiet: bool,
}

/// The result of one incident scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScenarioResult {
    pub(crate) name: String,
    pub(crate) detected: bool,
    pub(crate) delay_s: Option<f64>,
    pub(crate) delay_windows: Option<f64>,
    pub(crate) severity: Option<String>,
    pub(crate) top_cause: Option<String>,
    pub(crate) cause_correct: bool,
}

/// `eval --json`'s one object.
#[derive(Debug, Serialize)]
struct Report {
    scenarios: Vec<ScenarioResult>,
    normal_days: serde_json::Number,
    false_incidents: u64,
}

/// One run's outcome.
#[derive(Debug)]
enum Outcome {
    Scenario(ScenarioResult),
    Normal(u64),
}

/// Events per batch fed to the pipeline.
const BATCH_EVENTS: usize = 4096;
/// How long after the true end an incident still counts as detecting it.
const DETECTION_SLACK_MS: i64 = 10 * 60_000;

/// Runs the command.
pub(crate) fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let spec = default_spec()?;
    let plan = EvalPlan {
        warmup_days: args.warmup_days,
        normal_days: f64::from(args.days),
        seed: args.seed,
        scale: args.scale,
        print_events: args.events,
        quiet: args.quiet,
    };
    let started = Instant::now();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let progress = crate::progress::bar(Some(ScenarioName::ALL.len() as u64), args.quiet, "eval");
    let (scenarios, false_incidents) = evaluate(&spec, &plan, threads, &progress)?;
    progress.finish_and_clear();
    if !args.quiet {
        eprintln!("eval: done in {:.1} s", started.elapsed().as_secs_f64());
    }
    if args.json {
        println!("{}", report_json(scenarios, args.days, false_incidents)?);
    } else {
        print!("{}", render_table(&scenarios, args.days, false_incidents));
    }
    Ok(ExitCode::SUCCESS)
}

/// The embedded default pipeline's spec.
pub(crate) fn default_spec() -> anyhow::Result<PipelineSpec> {
    config::parse(config::DEMO_TOML).map_err(|e| anyhow::anyhow!("embedded config: {}", e.join("; ")))
}

/// Runs every incident scenario and the normal days on `threads` threads,
/// advancing `progress` (hidden when not on a terminal) as each finishes.
pub(crate) fn evaluate(
    spec: &PipelineSpec,
    plan: &EvalPlan,
    threads: usize,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<(Vec<ScenarioResult>, u64)> {
    // The longest run (normal days) goes first so the threads finish together.
    let jobs: Vec<ScenarioName> = std::iter::once(ScenarioName::Normal)
        .chain(ScenarioName::ALL.into_iter().filter(|n| *n != ScenarioName::Normal))
        .collect();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, jobs.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(name) = jobs.get(i) else { break };
                    let t = Instant::now();
                    let outcome = run_job(spec, plan, *name);
                    let line = format!("eval: {name} in {:.1} s", t.elapsed().as_secs_f64());
                    if progress.is_hidden() {
                        if !plan.quiet {
                            eprintln!("{line}");
                        }
                    } else {
                        progress.println(line);
                    }
                    progress.inc(1);
                    results.lock().expect("no eval thread panics while holding the lock").push((i, outcome));
                }
            });
        }
    });
    let mut results = results.into_inner().expect("no eval thread panicked while holding the lock");
    results.sort_by_key(|(i, _)| *i);
    let mut scenarios = Vec::new();
    let mut false_incidents = 0;
    for (_, outcome) in results {
        match outcome {
            Outcome::Scenario(r) => scenarios.push(r),
            Outcome::Normal(n) => false_incidents = n,
        }
    }
    Ok((scenarios, false_incidents))
}

fn run_job(spec: &PipelineSpec, plan: &EvalPlan, name: ScenarioName) -> Outcome {
    let window_ms = spec.engine.timing.windows.slide().0;
    let (truth, events) = run_scenario(spec, plan, name);
    if plan.print_events {
        let mut lines: Vec<String> = truth.iter().map(|t| format!("{name}: truth {}", t.to_json_line())).collect();
        lines.extend(events.iter().map(|e| format!("{name}: {}", e.to_json_line())));
        eprintln!("{}", lines.join("\n"));
    }
    match truth {
        None => Outcome::Normal(events.iter().filter(|e| e.action == Action::Opened).count() as u64),
        Some(truth) => Outcome::Scenario(score(name, &truth, &events, window_ms)),
    }
}

/// The simulator spec of one run.
pub(crate) fn sim_spec(plan: &EvalPlan, name: ScenarioName) -> ScenarioSpec {
    let mut s = ScenarioSpec::new(name);
    s.warmup_days = plan.warmup_days;
    s.days = plan.warmup_days + if name == ScenarioName::Normal { plan.normal_days } else { 0.0 };
    s.seed = plan.seed;
    s.scale = plan.scale;
    s
}

/// Plays one scenario (history first, not counted) through a fresh default
/// pipeline; returns the ground truth and every incident event after the history.
pub(crate) fn run_scenario(
    spec: &PipelineSpec,
    plan: &EvalPlan,
    name: ScenarioName,
) -> (Option<GroundTruth>, Vec<IncidentEvent>) {
    let sim = sim_spec(plan, name);
    let (truth, events) = generate(&sim);
    let registry = Arc::new(SeriesRegistry::new(spec.max_series_per_service));
    let mut decoder = Decoder::new(registry.clone(), spec.decoder.clone());
    let mut pipeline = Pipeline::new(pipeline_config(spec), registry);
    pipeline.set_history_until(Millis(sim.start_ms + (plan.warmup_days * 86_400_000.0) as i64));
    let mut out = Vec::new();
    let mut batch = Vec::with_capacity(BATCH_EVENTS + 2);
    let mut line = String::new();
    for (i, ev) in events.enumerate() {
        line.clear();
        ev.write_json_line(&mut line);
        // Simulated events are valid by construction; a reject would show as a missed detection.
        let _ = decoder.decode_line(i as u64 + 1, line.as_bytes(), None, &mut batch);
        if batch.len() >= BATCH_EVENTS {
            out.extend(pipeline.record(InputId(0), &batch));
            batch.clear();
        }
    }
    out.extend(pipeline.record(InputId(0), &batch));
    out.extend(pipeline.finish());
    (truth, out)
}

/// Scores one scenario's incident events against its ground truth.
pub(crate) fn score(
    name: ScenarioName,
    truth: &GroundTruth,
    events: &[IncidentEvent],
    window_ms: i64,
) -> ScenarioResult {
    let relevant = |e: &IncidentEvent| truth.services.iter().any(|s| e.incident.covers(s));
    let at = |e: &IncidentEvent| match e.action {
        Action::Opened => e.incident.detected_at,
        _ => e.incident.timeline.last().map_or(e.incident.detected_at, |t| t.at),
    };
    let first = events.iter().find(|e| {
        e.action != Action::Resolved
            && relevant(e)
            && (truth.onset_ms..=truth.end_ms + DETECTION_SLACK_MS).contains(&at(e).0)
    });
    let Some(first) = first else {
        return ScenarioResult {
            name: name.as_str().into(),
            detected: false,
            delay_s: None,
            delay_windows: None,
            severity: None,
            top_cause: None,
            cause_correct: false,
        };
    };
    let id = &first.incident.id;
    let same: Vec<&IncidentEvent> = events.iter().filter(|e| &e.incident.id == id).collect();
    let severity = same.iter().map(|e| e.incident.severity).min().unwrap_or(Severity::P3);
    let top_cause = same.last().and_then(|e| e.incident.causes.first()).map(|c| c.cause.clone());
    let delay_ms = at(first).0 - truth.onset_ms;
    ScenarioResult {
        name: name.as_str().into(),
        detected: true,
        delay_s: Some(delay_ms as f64 / 1000.0),
        delay_windows: Some(delay_ms as f64 / window_ms as f64),
        severity: Some(severity.as_str().into()),
        cause_correct: top_cause.as_deref() == Some(truth.cause.as_str()),
        top_cause,
    }
}

/// `eval --json`'s one object, on one line.
pub(crate) fn report_json(
    scenarios: Vec<ScenarioResult>,
    normal_days: u32,
    false_incidents: u64,
) -> anyhow::Result<String> {
    Ok(serde_json::to_string(&Report { scenarios, normal_days: normal_days.into(), false_incidents })?)
}

/// The human table.
pub(crate) fn render_table(scenarios: &[ScenarioResult], normal_days: u32, false_incidents: u64) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<20} {:<9} {:>9} {:>8} {:<9} {:<26} correct",
        "scenario", "detected", "delay_s", "windows", "severity", "top cause"
    );
    let num = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    for s in scenarios {
        let _ = writeln!(
            t,
            "{:<20} {:<9} {:>9} {:>8} {:<9} {:<26} {}",
            s.name,
            if s.detected { "yes" } else { "no" },
            num(s.delay_s),
            num(s.delay_windows),
            s.severity.as_deref().unwrap_or("-"),
            s.top_cause.as_deref().unwrap_or("-"),
            if s.cause_correct { "yes" } else { "no" }
        );
    }
    let detected = scenarios.iter().filter(|s| s.detected).count();
    let correct = scenarios.iter().filter(|s| s.cause_correct).count();
    let mut delays: Vec<f64> = scenarios.iter().filter_map(|s| s.delay_windows).collect();
    delays.sort_by(f64::total_cmp);
    let median = match delays.len() {
        0 => None,
        n if n % 2 == 1 => Some(delays[n / 2]),
        n => Some((delays[n / 2 - 1] + delays[n / 2]) / 2.0),
    };
    let _ = writeln!(
        t,
        "\ndetected {detected}/{n}, top cause right {correct}/{n}, median delay {} windows; \
         {false_incidents} false incidents in {normal_days} normal days",
        num(median),
        n = scenarios.len()
    );
    t
}

#[cfg(test)]
mod tests;
