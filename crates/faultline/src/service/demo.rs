//! `faultline demo`: the simulator's gateway outage at accelerated time through the full service.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use faultline_sim::{ScenarioName, ScenarioSpec};

use super::admin::AdminState;
use super::metrics::QUEUE_PUSHED;
use super::runtime::{Feed, INPUT_QUEUE, Input};
use super::sink::SinkOut;
use super::{DemoArgs, serve};
use crate::config;

/// Normal traffic played at accelerated time before the onset and after the end, event time.
const NORMAL_AROUND_MS: i64 = 10 * 60_000;

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
    let follow = args.follow;
    let feed = Feed {
        name: "simulator".into(),
        run: Box::new(move |idx, _offset, tx, stop, admin| play(idx, play_ms, follow, &tx, &stop, &admin)),
    };
    eprintln!("faultline demo: gateway-outage scenario, state in {}", state.path().display());
    let code = serve(&spec, vec![feed], vec![sink], |addr| {
        eprintln!("  admin:   http://{addr}/  (health http://{addr}/healthz, metrics http://{addr}/metrics)");
        eprintln!("  try:     curl -s http://{addr}/metrics | grep faultline_incident");
    })?;
    drop(state);
    Ok(code)
}

/// Plays the scenario: history before the played span as fast as the engine
/// takes it, then the span around the incident paced to `play_ms` of wall time.
fn play(idx: usize, play_ms: u64, follow: bool, tx: &SyncSender<Input>, stop: &AtomicBool, admin: &AdminState) {
    let spec = ScenarioSpec::new(ScenarioName::GatewayOutage);
    let (truth, events) = faultline_sim::generate(&spec);
    let (from, to) = match &truth {
        Some(t) => (t.onset_ms - NORMAL_AROUND_MS, t.end_ms + NORMAL_AROUND_MS),
        None => (spec.start_ms, spec.start_ms + 2 * NORMAL_AROUND_MS),
    };
    let speed = (to - from).max(1) as f64 / play_ms as f64;
    let bar = crate::progress::bar(None, false, "fast-forwarding normal history");
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
    let at = if action == "RESOLVED" { s("resolved_at") } else { s("detected_at") };
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
