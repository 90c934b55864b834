//! `faultline demo`: the simulator's gateway outage at accelerated time through the full service.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use faultline_core::Millis;
use faultline_core::incident::{Action, IncidentEvent};
use faultline_ingest::{BatchSender, LineDecoder, Source, SourceBatch, StartAt};
use faultline_sim::{ScenarioName, ScenarioSpec};

use super::runtime::StartOptions;
use super::sink::SinkOut;
use super::{DemoArgs, serve};
use crate::config;

/// Normal traffic played at accelerated time before the onset, event time.
const NORMAL_BEFORE_MS: i64 = 5 * 60_000;
/// Normal traffic played after the end, event time: long enough for the detectors to
/// calm down and the quiet hold (at most 10 minutes) to resolve the incident
/// (with seed 1 it resolves about 26 minutes after the end).
const NORMAL_AFTER_MS: i64 = 40 * 60_000;

/// Days of normal history the detectors learn from before the played span.
const WARMUP_DAYS: f64 = 1.0;

/// The demo's scenario: the gateway outage after a day of normal traffic.
fn sim_spec() -> ScenarioSpec {
    let mut s = ScenarioSpec::new(ScenarioName::GatewayOutage);
    s.warmup_days = WARMUP_DAYS;
    s.days = WARMUP_DAYS;
    s
}

/// How the played span is paced.
#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Wall-clock milliseconds for the played span.
    play_ms: u64,
    /// Keep running after the scenario.
    follow: bool,
    /// No progress bar.
    quiet: bool,
}

/// The event-time span played at wall-clock pace: normal traffic, the incident, normal traffic.
fn played_span(spec: &ScenarioSpec) -> (i64, i64) {
    match faultline_sim::generate(spec).0 {
        Some(t) => (t.onset_ms - NORMAL_BEFORE_MS, t.end_ms + NORMAL_AFTER_MS),
        None => (spec.start_ms, spec.start_ms + NORMAL_BEFORE_MS + NORMAL_AFTER_MS),
    }
}

/// Runs the demo.
pub(crate) fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let state = tempfile::Builder::new().prefix("faultline-demo-").tempdir().context("creating a state directory")?;
    let mut spec = config::parse_with_env(config::DEMO_TOML, &|k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("embedded config: {}", config::render_errors("demo.toml", &e)))?;
    spec.state.directory = Some(state.path().to_path_buf());
    // The demo prints incidents itself (rendered, or as JSON lines): the embedded config's
    // stdout sink would print them a second time.
    spec.sinks.clear();
    let sink = if args.json {
        SinkOut::stdout_rendered("console", Box::new(|ev| Some(ev.to_json_line())))
    } else {
        SinkOut::stdout_rendered("console", Box::new(render_incident))
    };
    let play_ms = args.seconds.max(1) * 1000;
    let sim = sim_spec();
    let span = played_span(&sim);
    // Everything before the played span is history the detectors learn from: it opens nothing.
    let history_until = Millis(span.0);
    let options = StartOptions { history_until: Some(history_until) };
    let (follow, quiet) = (args.follow, args.quiet);
    let sources = move |registry: &Arc<faultline_core::SeriesRegistry>, spec: &config::PipelineSpec| {
        let decoder = LineDecoder::new(registry.clone(), spec.decoder.clone());
        let source = SimSource { sim, span, pace: Pace { play_ms, follow, quiet }, decoder };
        Ok(vec![Box::new(source) as Box<dyn Source>])
    };
    eprintln!("faultline demo: gateway-outage scenario, state in {}", state.path().display());
    let code = serve(&spec, options, sources, vec![sink], |addr| {
        eprintln!("  admin:   http://{addr}/  (health http://{addr}/healthz, metrics http://{addr}/metrics)");
        eprintln!("  try:     curl -s http://{addr}/metrics | grep faultline_incident");
        eprintln!("           faultline sql --url http://{addr} \"SELECT service, title FROM incidents\"");
    })?;
    drop(state);
    Ok(code)
}

/// The simulator as a source: its events as JSON lines, decoded like any other input.
struct SimSource {
    sim: ScenarioSpec,
    span: (i64, i64),
    pace: Pace,
    decoder: LineDecoder,
}

impl std::fmt::Debug for SimSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimSource").field("span", &self.span).finish_non_exhaustive()
    }
}

impl Source for SimSource {
    fn name(&self) -> &str {
        "simulator"
    }

    fn run(mut self: Box<Self>, _start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        self.play(&out, &stop);
        Ok(())
    }
}

impl SimSource {
    /// Plays the scenario: history before the played span as fast as the engine
    /// takes it, then the span around the incident paced to `play_ms` of wall time.
    fn play(&mut self, out: &BatchSender, stop: &AtomicBool) {
        let (from, to) = self.span;
        let Pace { play_ms, follow, quiet } = self.pace;
        let (_, events) = faultline_sim::generate(&self.sim);
        let speed = (to - from).max(1) as f64 / play_ms as f64;
        let bar = crate::progress::bar(None, quiet, "fast-forwarding normal history");
        let started = Instant::now();
        let mut batch = SourceBatch::default();
        let mut last_send = Instant::now();
        for ev in events {
            if stop.load(Ordering::Acquire) {
                return;
            }
            if ev.ts_ms > to {
                break;
            }
            self.decoder.decode_line(ev.to_json_line().as_bytes(), None, &mut batch);
            if ev.ts_ms < from {
                bar.tick();
            } else {
                bar.finish_and_clear();
                let due = Duration::from_millis(((ev.ts_ms - from) as f64 / speed) as u64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    out.send(std::mem::take(&mut batch));
                    std::thread::sleep(wait.min(Duration::from_millis(250)));
                }
            }
            if batch.events.len() >= 2048 || last_send.elapsed() > Duration::from_millis(100) {
                out.send(std::mem::take(&mut batch));
                last_send = Instant::now();
            }
        }
        out.send(batch);
        if follow {
            while !stop.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(100));
            }
        } else {
            out.end(0);
        }
    }
}

/// One readable terminal line per incident event.
fn render_incident(ev: &IncidentEvent) -> Option<String> {
    let inc = &ev.incident;
    let action = ev.action.as_str().to_uppercase();
    let at = match ev.action {
        Action::Resolved => inc.resolved_at.unwrap_or(inc.detected_at),
        Action::Updated => inc.timeline.last().map_or(inc.detected_at, |t| t.at),
        Action::Opened => inc.detected_at,
    };
    // The title names the service and the top cause; the others follow it.
    let others: Vec<&str> = inc.causes.iter().skip(1).map(|c| c.cause.as_str()).collect();
    Some(format!(
        "{at}  {action:<8} {sev} {title}{others}",
        at = at.to_rfc3339(),
        sev = inc.severity.as_str(),
        title = inc.title,
        others = if others.is_empty() { String::new() } else { format!("  (also possible: {})", others.join(", ")) }
    ))
}
