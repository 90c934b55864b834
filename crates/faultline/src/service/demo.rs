//! `faultline demo`: the simulator's gateway outage at accelerated time through the full service.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use faultline_core::Millis;
use faultline_sim::{ScenarioName, ScenarioSpec};

use super::admin::AdminState;
use super::metrics::QUEUE_PUSHED;
use super::runtime::{Feed, INPUT_QUEUE, Input, StartOptions};
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
    let sink = if args.json {
        SinkOut::stdout_rendered("console", Box::new(|line| Some(line.to_string())))
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
    let feed = Feed {
        name: "simulator".into(),
        run: Box::new(move |idx, _offset, tx, stop, admin| {
            play(&sim, span, idx, Pace { play_ms, follow, quiet }, &tx, &stop, &admin)
        }),
    };
    eprintln!("faultline demo: gateway-outage scenario, state in {}", state.path().display());
    let code = serve(&spec, options, vec![feed], vec![sink], |addr| {
        eprintln!("  admin:   http://{addr}/  (health http://{addr}/healthz, metrics http://{addr}/metrics)");
        eprintln!("  try:     curl -s http://{addr}/metrics | grep faultline_incident");
    })?;
    drop(state);
    Ok(code)
}

/// Plays the scenario: history before the played span as fast as the engine
/// takes it, then the span around the incident paced to `play_ms` of wall time.
fn play(
    spec: &ScenarioSpec,
    (from, to): (i64, i64),
    idx: usize,
    Pace { play_ms, follow, quiet }: Pace,
    tx: &SyncSender<Input>,
    stop: &AtomicBool,
    admin: &AdminState,
) {
    let (_, events) = faultline_sim::generate(spec);
    let speed = (to - from).max(1) as f64 / play_ms as f64;
    let bar = crate::progress::bar(None, quiet, "fast-forwarding normal history");
    let started = Instant::now();
    let mut batch = Vec::new();
    let mut last_send = Instant::now();
    for ev in events {
        if stop.load(Ordering::Acquire) {
            return;
        }
        if ev.ts_ms > to {
            break;
        }
        batch.extend_from_slice(ev.to_json_line().as_bytes());
        batch.push(b'\n');
        if ev.ts_ms < from {
            bar.tick();
        } else {
            bar.finish_and_clear();
            let due = Duration::from_millis(((ev.ts_ms - from) as f64 / speed) as u64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                send(idx, tx, admin, &mut batch);
                std::thread::sleep(wait.min(Duration::from_millis(250)));
            }
        }
        if batch.len() >= 256 * 1024 || last_send.elapsed() > Duration::from_millis(100) {
            send(idx, tx, admin, &mut batch);
            last_send = Instant::now();
        }
    }
    send(idx, tx, admin, &mut batch);
    if follow {
        while !stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        let _ = tx.send(Input::End { source: idx });
    }
}

fn send(idx: usize, tx: &SyncSender<Input>, admin: &AdminState, batch: &mut Vec<u8>) {
    if batch.is_empty() {
        return;
    }
    admin.metrics.add(QUEUE_PUSHED, &[("queue", INPUT_QUEUE)], 1.0);
    let _ = tx.send(Input::Lines { source: idx, data: std::mem::take(batch), end_offset: 0 });
}

/// One readable terminal line per incident event.
fn render_incident(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let inc = &v["incident"];
    let s = |k: &str| inc[k].as_str().unwrap_or("-").to_string();
    let action = v["action"].as_str().unwrap_or("-").to_uppercase();
    let last_change = inc["timeline"].as_array().and_then(|t| t.last()).and_then(|t| t["at"].as_str());
    let at = match action.as_str() {
        "RESOLVED" => s("resolved_at"),
        "UPDATED" => last_change.map_or_else(|| s("detected_at"), str::to_string),
        _ => s("detected_at"),
    };
    let causes: Vec<String> = inc["probable_causes"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["cause"].as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Some(format!(
        "{at}  {action:<8} {sev} {service}: {title}{causes}",
        sev = s("severity"),
        service = s("service"),
        title = s("title"),
        causes = if causes.is_empty() { String::new() } else { format!("  (probable: {})", causes.join(", ")) }
    ))
}
