//! `faultline eval`: detection quality of the default pipeline on every built-in scenario.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use faultline_core::incident::{Action, IncidentEvent, Severity, TimelineKind};
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
    /// First simulator seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seeds run (`seed`, `seed + 1`, …); every figure is reported for its worst seed
    /// (`--seeds 5` is the figure the README quotes; one seed keeps the pinned acceptance run).
    #[arg(long, default_value_t = 1)]
    seeds: u64,
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

/// The result of one incident scenario (on one seed, or the worst of several).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ScenarioResult {
    pub(crate) name: String,
    pub(crate) detected: bool,
    pub(crate) delay_s: Option<f64>,
    pub(crate) delay_windows: Option<f64>,
    pub(crate) severity: Option<String>,
    pub(crate) top_cause: Option<String>,
    pub(crate) cause_correct: bool,
    /// Distinct incidents opened on the scenario's services during it (a re-open within
    /// the flap window is the same incident).
    pub(crate) incidents: u64,
    /// Incidents beyond the first (goal 0).
    pub(crate) duplicates: u64,
    /// Times an incident of the scenario re-opened after resolving (goal 0).
    pub(crate) flaps: u64,
    /// From the true end to the last of its incidents resolving; `None` while one is open
    /// when the stream ends.
    pub(crate) resolve_s: Option<f64>,
    /// From the true onset to that resolution (what a monthly MTTR averages).
    pub(crate) ttr_s: Option<f64>,
}

/// `eval --json`'s one object.
#[derive(Debug, Serialize)]
struct Report {
    /// Per scenario, every figure at its worst seed.
    scenarios: Vec<ScenarioResult>,
    normal_days: serde_json::Number,
    /// False incidents in the normal days of the worst seed.
    false_incidents: u64,
    /// The seeds run.
    seeds: Vec<u64>,
    /// Per seed: its scenarios and false incidents.
    per_seed: Vec<SeedReport>,
}

/// One seed's results.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SeedReport {
    pub(crate) seed: u64,
    pub(crate) scenarios: Vec<ScenarioResult>,
    pub(crate) false_incidents: u64,
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
    if args.seeds == 0 {
        anyhow::bail!("--seeds must be at least 1");
    }
    let started = Instant::now();
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let seeds: Vec<u64> = (0..args.seeds).map(|i| args.seed.wrapping_add(i)).collect();
    let progress = crate::progress::bar(Some((ScenarioName::ALL.len() * seeds.len()) as u64), args.quiet, "eval");
    let per_seed = evaluate_seeds(&spec, &plan, &seeds, threads, &progress)?;
    progress.finish_and_clear();
    if !args.quiet {
        eprintln!("eval: done in {:.1} s", started.elapsed().as_secs_f64());
    }
    if args.json {
        println!("{}", report_json(per_seed, args.days)?);
    } else {
        print!("{}", render_table(&per_seed, args.days));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs [`evaluate`] once per seed.
pub(crate) fn evaluate_seeds(
    spec: &PipelineSpec,
    plan: &EvalPlan,
    seeds: &[u64],
    threads: usize,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<SeedReport>> {
    let mut out = Vec::new();
    for &seed in seeds {
        let plan = EvalPlan { seed, ..plan.clone() };
        let (scenarios, false_incidents) = evaluate(spec, &plan, threads, progress)?;
        out.push(SeedReport { seed, scenarios, false_incidents });
    }
    Ok(out)
}

/// Every scenario's figures at their worst seed: detected and cause right only if on every
/// seed, the longest delay and time to resolve (never resolved is worst), the least
/// severity, the most incidents and flaps; the top cause of the worst-delay seed.
pub(crate) fn worst(per_seed: &[SeedReport]) -> Vec<ScenarioResult> {
    let Some(first) = per_seed.first() else { return Vec::new() };
    let max_opt = |a: Option<f64>, b: Option<f64>, none_is_worst: bool| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (None, _) | (_, None) if none_is_worst => None,
        (a, b) => a.or(b),
    };
    first
        .scenarios
        .iter()
        .map(|s0| {
            let runs: Vec<&ScenarioResult> =
                per_seed.iter().filter_map(|r| r.scenarios.iter().find(|s| s.name == s0.name)).collect();
            let mut w = s0.clone();
            for r in &runs[1..] {
                w.detected &= r.detected;
                w.cause_correct &= r.cause_correct;
                if !r.detected || (w.detected && r.delay_s > w.delay_s) {
                    w.top_cause = r.top_cause.clone();
                }
                w.delay_s = max_opt(w.delay_s, r.delay_s, true);
                w.delay_windows = max_opt(w.delay_windows, r.delay_windows, true);
                w.severity = match (&w.severity, &r.severity) {
                    (Some(a), Some(b)) => Some(a.max(b).clone()),
                    _ => None,
                };
                w.incidents = w.incidents.max(r.incidents);
                w.duplicates = w.duplicates.max(r.duplicates);
                w.flaps = w.flaps.max(r.flaps);
                w.resolve_s = max_opt(w.resolve_s, r.resolve_s, true);
                w.ttr_s = max_opt(w.ttr_s, r.ttr_s, true);
            }
            w
        })
        .collect()
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
    // Every incident on the scenario's services opened while it lasted (or just after).
    let mut ids: Vec<&str> = Vec::new();
    for e in events.iter().filter(|e| relevant(e) && e.action == Action::Opened) {
        let i = &e.incident;
        if (truth.onset_ms..=truth.end_ms + DETECTION_SLACK_MS).contains(&i.detected_at.0) && !ids.contains(&&*i.id) {
            ids.push(&i.id);
        }
    }
    // Each incident's latest state: its resolution, and its re-openings (detections after the first).
    let latest: Vec<&IncidentEvent> =
        ids.iter().filter_map(|id| events.iter().rev().find(|e| e.incident.id == *id)).collect();
    let flaps = latest
        .iter()
        .map(|e| {
            e.incident.timeline.iter().filter(|t| t.kind == TimelineKind::Detected).count().saturating_sub(1) as u64
        })
        .sum();
    let finals: Vec<Option<i64>> = latest.iter().map(|e| e.incident.resolved_at.map(|r| r.0)).collect();
    let last_resolved = if finals.iter().all(Option::is_some) { finals.iter().flatten().max().copied() } else { None };
    let incidents = ids.len() as u64;
    let Some(first) = first else {
        return ScenarioResult {
            name: name.as_str().into(),
            detected: false,
            delay_s: None,
            delay_windows: None,
            severity: None,
            top_cause: None,
            cause_correct: false,
            incidents,
            duplicates: incidents.saturating_sub(1),
            flaps,
            resolve_s: None,
            ttr_s: None,
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
        incidents,
        duplicates: incidents.saturating_sub(1),
        flaps,
        resolve_s: last_resolved.map(|r| (r - truth.end_ms) as f64 / 1000.0),
        ttr_s: last_resolved.map(|r| (r - truth.onset_ms) as f64 / 1000.0),
    }
}

/// `eval --json`'s one object, on one line.
pub(crate) fn report_json(per_seed: Vec<SeedReport>, normal_days: u32) -> anyhow::Result<String> {
    let report = Report {
        scenarios: worst(&per_seed),
        normal_days: normal_days.into(),
        false_incidents: per_seed.iter().map(|r| r.false_incidents).max().unwrap_or(0),
        seeds: per_seed.iter().map(|r| r.seed).collect(),
        per_seed,
    };
    Ok(serde_json::to_string(&report)?)
}

/// The human table: every figure at its worst seed.
pub(crate) fn render_table(per_seed: &[SeedReport], normal_days: u32) -> String {
    use std::fmt::Write as _;
    let scenarios = worst(per_seed);
    let false_incidents = per_seed.iter().map(|r| r.false_incidents).max().unwrap_or(0);
    let mut t = String::new();
    let seeds: Vec<String> = per_seed.iter().map(|r| r.seed.to_string()).collect();
    let _ = writeln!(t, "worst of seeds {}", seeds.join(", "));
    let _ = writeln!(
        t,
        "{:<18} {:<8} {:>8} {:>7} {:<8} {:<24} {:<7} {:>9} {:>5} {:>9}",
        "scenario",
        "detected",
        "delay_s",
        "windows",
        "severity",
        "top cause",
        "correct",
        "incidents",
        "flaps",
        "resolve_s"
    );
    let num = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    for s in &scenarios {
        let resolve = match (s.detected, s.resolve_s) {
            (false, _) => "-".to_string(),
            (true, None) => "never".to_string(),
            (true, Some(r)) => format!("{r:.0}"),
        };
        let _ = writeln!(
            t,
            "{:<18} {:<8} {:>8} {:>7} {:<8} {:<24} {:<7} {:>9} {:>5} {:>9}",
            s.name,
            if s.detected { "yes" } else { "no" },
            num(s.delay_s),
            num(s.delay_windows),
            s.severity.as_deref().unwrap_or("-"),
            s.top_cause.as_deref().unwrap_or("-"),
            if s.cause_correct { "yes" } else { "no" },
            s.incidents,
            s.flaps,
            resolve
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
    let duplicates: u64 = scenarios.iter().map(|s| s.duplicates).sum();
    let flaps: u64 = scenarios.iter().map(|s| s.flaps).sum();
    let unresolved = scenarios.iter().filter(|s| s.detected && s.resolve_s.is_none()).count();
    let worst_resolve =
        scenarios.iter().filter_map(|s| s.resolve_s).fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let ttrs: Vec<f64> = per_seed.iter().flat_map(|r| r.scenarios.iter().filter_map(|s| s.ttr_s)).collect();
    let mttr = (!ttrs.is_empty()).then(|| ttrs.iter().sum::<f64>() / ttrs.len() as f64 / 60.0);
    let _ = writeln!(
        t,
        "\ndetected {detected}/{n}, top cause right {correct}/{n}, median delay {} windows; \
         {false_incidents} false incidents in {normal_days} normal days",
        num(median),
        n = scenarios.len()
    );
    let _ = writeln!(
        t,
        "{duplicates} duplicate incidents, {flaps} flaps, {unresolved} never resolved; resolved at worst {} s after the fault ended; \
         mean time to resolve {} min",
        worst_resolve.map_or_else(|| "-".to_string(), |r| format!("{r:.0}")),
        num(mttr)
    );
    t
}

#[cfg(test)]
mod tests;
