//! `faultline run` as a user starts it: admin endpoints, counters that follow the input, SIGTERM, check-config.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use crate::harness::{admin_addr, bin, get, repo, spawn_run, wait_exit};

/// Metric names from the catalog file (the one place that names them).
pub(crate) fn catalog_names() -> Vec<String> {
    let src = std::fs::read_to_string(repo("crates/faultline/src/service/metrics.rs")).unwrap();
    src.split('"')
        .filter(|s| {
            s.starts_with("faultline_") && !s.ends_with('_') && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

/// Start of the test input's event time, aligned to a 10 s window (in the past, so no line is "in the future").
const T0: i64 = 1_795_197_600_000;

/// The input of the endpoints test and the counters it implies.
struct CountedInput {
    text: String,
    /// Lines decoded and applied to their windows.
    accepted: u64,
    /// Lines decoded but late (their window had closed).
    late: u64,
    /// Rejected lines by reason.
    rejected: Vec<(&'static str, u64)>,
}

/// Two request series (`GET /a`: 7 requests, 1 error per window; `POST /b`: 5 requests, no
/// errors) and one pool gauge (one reading per window), over five 10 s windows; two lines
/// too late for their window; five bad lines. The last event is at T0 + 47 s, so the
/// watermark is T0 + 45 s: windows 0–3 of the three series (12) are closed, window 4 (3) open.
fn counted_input() -> CountedInput {
    let req = |ts: i64, op: &str, status: u16| {
        format!(
            r#"{{"ts":{ts},"service":"api","operation":"{op}","kind":"request","status":{status},"latency_ms":12.5}}"#
        )
    };
    let mut lines = Vec::new();
    for w in 0..5i64 {
        let base = T0 + w * 10_000;
        let mut window: Vec<(i64, String)> = Vec::new();
        for i in 0..7 {
            window.push((base + i * 1000, req(base + i * 1000, "GET /a", if i == 3 { 503 } else { 200 })));
        }
        for i in 0..5 {
            window.push((base + 500 + i * 1500, req(base + 500 + i * 1500, "POST /b", 200)));
        }
        let ts = base + 7000;
        let gauge = format!(
            r#"{{"ts":{ts},"service":"api","kind":"gauge","name":"db.pool.in_use","value":{},"max":100}}"#,
            40 + w
        );
        window.push((ts, gauge));
        window.sort();
        lines.extend(window.into_iter().map(|(_, l)| l));
        if w == 3 {
            // The watermark is past T0 + 35 s: window 0 closed long ago.
            lines.push(req(T0 + 5000, "GET /a", 200));
            lines.push(req(T0 + 5001, "GET /a", 503));
            // Bad lines, each rejected with its reason.
            lines.push("this is not json".into());
            lines.push("{\"ts\":".into());
            lines.push(format!(r#"{{"ts":{},"operation":"GET /a","kind":"request","status":200}}"#, T0 + 36_000));
            lines.push(format!(r#"{{"ts":{},"service":"api","kind":"bogus"}}"#, T0 + 36_000));
            lines.push(format!(
                r#"{{"ts":{},"service":"api","operation":"GET /a","kind":"request","status":200,"latency_ms":-5}}"#,
                T0 + 36_000
            ));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    CountedInput {
        text,
        accepted: 5 * (7 + 5 + 1),
        late: 2,
        rejected: vec![("invalid_json", 2), ("missing_field", 1), ("negative", 1), ("unknown_kind", 1)],
    }
}

/// Samples of a Prometheus text page: `name{labels}` → value; HELP and TYPE lines skipped.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample line: {l}"));
            (key.to_string(), value.parse().unwrap_or_else(|_| panic!("not a number: {l}")))
        })
        .collect()
}

#[test]
fn endpoints_answer_counters_follow_the_input_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = counted_input();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, &input.text).unwrap();
    let signals = dir.path().join("signals.jsonl");
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources.app]\ntype = \"file\"\npath = \"{}\"\nfollow = true\n[state]\ndirectory = \"{}\"\n\
             [sinks.signals]\ntype = \"file\"\npath = \"{}\"\nemit = \"signals\"\n",
            events.display(),
            dir.path().join("state").display(),
            signals.display()
        ),
    )
    .unwrap();
    let mut child = spawn_run(&cfg, true);
    let addr = admin_addr(&mut child);
    assert_eq!(get(&addr, "/healthz").0, 200);
    let mut ready = 0;
    for _ in 0..100 {
        ready = get(&addr, "/readyz").0;
        if ready == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ready, 200);
    let (status, index) = get(&addr, "/");
    assert!(status == 200 && index.contains("/metrics"), "{index}");

    // What the input implies, sample by sample.
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    want.insert("faultline_source_events_accepted_total{source=\"app\"}".into(), input.accepted as f64);
    for (reason, n) in &input.rejected {
        want.insert(format!("faultline_source_events_rejected_total{{source=\"app\",reason=\"{reason}\"}}"), *n as f64);
    }
    want.insert("faultline_source_read_bytes_total{source=\"app\"}".into(), input.text.len() as f64);
    want.insert("faultline_engine_late_events_total".into(), input.late as f64);
    want.insert("faultline_engine_windows_closed_total".into(), 12.0);
    want.insert("faultline_engine_open_windows".into(), 3.0);
    want.insert("faultline_engine_active_series".into(), 3.0);
    want.insert("faultline_queue_depth{queue=\"source_to_engine\"}".into(), 0.0);
    want.insert("faultline_ready".into(), 1.0);
    let pick = |all: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        want.keys().map(|k| (k.clone(), all.get(k).copied().unwrap_or(f64::NAN))).collect()
    };
    let mut text = String::new();
    for _ in 0..100 {
        let (status, body) = get(&addr, "/metrics");
        assert_eq!(status, 200);
        text = body;
        if pick(&samples(&text)) == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Once the input is read, nothing moves on (no counter overshoots later).
    std::thread::sleep(Duration::from_millis(500));
    let (_, text_later) = get(&addr, "/metrics");
    assert_eq!(pick(&samples(&text)), want, "{text}");
    let all = samples(&text_later);
    assert_eq!(pick(&all), want, "{text_later}");
    let rejected: f64 =
        all.iter().filter(|(k, _)| k.starts_with("faultline_source_events_rejected_total")).map(|(_, v)| v).sum();
    assert_eq!(rejected, 5.0, "no rejection beyond the five bad lines: {text_later}");
    for n in catalog_names() {
        assert!(text_later.contains(&format!("# TYPE {n} ")), "{n} missing from /metrics");
    }
    // The bad lines themselves, newest first, with where they were and why.
    let (status, body) = get(&addr, "/api/v1/ingest/errors");
    assert_eq!(status, 200, "{body}");
    let errors: serde_json::Value = serde_json::from_str(&body).unwrap();
    let app = &errors["sources"][0];
    assert_eq!(app["source"], "app", "{body}");
    let reasons: Vec<&str> = app["samples"].as_array().unwrap().iter().map(|s| s["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["negative", "unknown_kind", "missing_field", "invalid_json", "invalid_json"], "{body}");
    let oldest = &app["samples"][4];
    assert_eq!(oldest["excerpt"], "this is not json", "{body}");
    assert_eq!(oldest["origin"], events.display().to_string(), "{body}");
    let line_no = input.text.lines().position(|l| l == "this is not json").unwrap() + 1;
    assert_eq!(oldest["record"], line_no, "{body}");
    let info = all
        .keys()
        .find(|k| k.starts_with("faultline_source_reject_sample_info{source=\"app\",reason=\"negative\""))
        .unwrap_or_else(|| panic!("the latest sample per reason in /metrics: {text_later}"));
    assert!(info.contains("latency_ms"), "{info}");
    assert_eq!(
        all.keys().filter(|k| k.starts_with("faultline_source_reject_sample_info")).count(),
        4,
        "one sample per source and reason: {text_later}"
    );
    let delivered = all["faultline_sink_deliveries_total{sink=\"signals\"}"];
    let evaluated = all["faultline_detector_evaluations_total"];

    // Graceful shutdown: SIGTERM, drain, final checkpoint, exit 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
    // The final checkpoint, binary on disk, shown as JSON: format 3, the source's position at its end.
    let shown = Command::new(crate::harness::bin())
        .args(["checkpoint", "show"])
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    let cp: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(cp["version"], 3);
    let input_len = input.text.len() as u64;
    assert_eq!(cp["positions"]["app"]["offset"], input_len, "{}", cp["positions"]);
    assert_eq!(cp["engine"]["inputs"][0][0], "app", "watermarks are keyed by source name");

    // The signal lines the sink wrote: as many as it counted and as the detectors evaluated,
    // for exactly the 12 closed windows, with the rates the input implies.
    let written = std::fs::read_to_string(&signals).unwrap();
    let lines: Vec<serde_json::Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as f64, delivered, "sink deliveries counter");
    assert_eq!(lines.len() as f64, evaluated, "detector evaluations counter");
    let value = |series: &str, window: i64, signal: &str| -> Option<f64> {
        let end = faultline_core::Millis(T0 + (window + 1) * 10_000).to_rfc3339();
        lines
            .iter()
            .find(|l| {
                l["window_end"] == end.as_str()
                    && l["signal"] == signal
                    && (l["operation"] == series || l["gauge"] == series)
            })
            .and_then(|l| l["value"].as_f64())
    };
    let mut windows: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            let name = l["operation"].as_str().or(l["gauge"].as_str()).unwrap_or("?").to_string();
            (l["window_end"].as_str().unwrap_or("?").to_string(), name)
        })
        .collect();
    windows.dedup();
    windows.sort();
    windows.dedup();
    assert_eq!(windows.len(), 12, "{windows:?}");
    for w in 0..4 {
        assert_eq!(value("GET /a", w, "request_rate"), Some(0.7), "window {w}");
        assert_eq!(value("GET /a", w, "error_rate"), Some(1.0 / 7.0), "window {w}");
        assert_eq!(value("POST /b", w, "request_rate"), Some(0.5), "window {w}");
        assert_eq!(value("POST /b", w, "error_rate"), Some(0.0), "window {w}");
        assert_eq!(value("db.pool.in_use", w, "pool_saturation"), Some((40.0 + w as f64) / 100.0), "window {w}");
    }
    assert_eq!(value("GET /a", 4, "request_rate"), None, "window 4 is still open");
}

#[test]
fn check_config_accepts_shipped_pipelines_and_names_a_typo_line() {
    for name in ["demo", "payments", "checkout", "otlp", "logs"] {
        let out =
            Command::new(bin()).arg("check-config").arg(repo(&format!("pipelines/{name}.toml"))).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dir = tempfile::tempdir().unwrap();
    let text =
        format!("{}\n[windoes]\nsize = \"10s\"\n", std::fs::read_to_string(repo("pipelines/demo.toml")).unwrap());
    let line = text.lines().position(|l| l == "[windoes]").unwrap() + 1;
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin()).arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains(&format!("typo.toml:{line}: windoes: unknown key")), "{msg}");
}

/// Bytes of whole lines the source has read (events per line vary: an outbound call feeds two series).
fn read_bytes(addr: &str) -> u64 {
    let (_, m) = get(addr, "/metrics");
    m.lines()
        .find_map(|l| l.strip_prefix("faultline_source_read_bytes_total{source=\"app\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn wait_read(addr: &str, lines: &[&str]) {
    let n: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    for _ in 0..200 {
        if read_bytes(addr) == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("read {} bytes, expected {n}", read_bytes(addr));
}

#[test]
fn follow_reads_appended_lines_and_a_rotated_file_like_tail_f() {
    let dir = tempfile::tempdir().unwrap();
    let all = std::fs::read_to_string(repo("testdata/payments-burst.jsonl")).unwrap();
    let lines: Vec<&str> = all.lines().take(30).collect();
    let input = dir.path().join("events.jsonl");
    let cfg = dir.path().join("p.toml");
    std::fs::write(&cfg, format!("[sources.app]\ntype = \"file\"\npath = \"{}\"\nfollow = true\n", input.display()))
        .unwrap();
    let mut child = spawn_run(&cfg, true);
    let addr = admin_addr(&mut child);
    // The file does not exist yet: it is waited for.
    std::fs::write(&input, lines[..10].join("\n") + "\n").unwrap();
    wait_read(&addr, &lines[..10]);
    // Appended lines, the last one written in two parts.
    let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
    std::io::Write::write_all(&mut f, (lines[10..19].join("\n") + "\n" + &lines[19][..20]).as_bytes()).unwrap();
    wait_read(&addr, &lines[..19]);
    std::io::Write::write_all(&mut f, (lines[19][20..].to_string() + "\n").as_bytes()).unwrap();
    wait_read(&addr, &lines[..20]);
    // Rotation: the file is renamed away and a new one takes its name.
    std::fs::rename(&input, dir.path().join("events.jsonl.1")).unwrap();
    std::fs::write(&input, lines[20..30].join("\n") + "\n").unwrap();
    wait_read(&addr, &lines[..30]);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
}
