//! `faultline run --config pipelines/otlp.toml` with the OpenTelemetry Python SDK as the client:
//! an instrumented payments service with an error burst is paged, over gRPC and over HTTP.
//!
//! The SDK comes from the venv scripts/test.sh installs (`FAULTLINE_OTEL_PYTHON`, else
//! `~/.cache/faultline/venv/bin/python`); without it this test fails and says so.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, get, python, repo, wait_exit};

/// Reads stderr until the admin, OTLP/gRPC and OTLP/HTTP lines: their addresses.
fn addresses(child: &mut Child) -> (String, String, String) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut admin, mut grpc, mut http) = (None, None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        let after = |marker: &str| line.split(marker).nth(1).map(|r| r.split([' ', '/']).next().unwrap().to_string());
        admin = admin.or_else(|| after("admin on http://"));
        grpc = grpc.or_else(|| after("OTLP/gRPC on "));
        http = http.or_else(|| after("OTLP/HTTP on http://"));
        if let (Some(a), Some(g), Some(h)) = (&admin, &grpc, &http) {
            std::thread::spawn(move || for _ in lines {});
            return (a.clone(), g.clone(), h.clone());
        }
    }
    panic!("faultline exited before printing its addresses");
}

/// `text` with `from` replaced; `from` must be there (a changed shipped file fails loudly).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "pipelines/otlp.toml no longer has `{from}`");
    text.replace(from, to)
}

/// The shipped `pipelines/otlp.toml` on free ports, its state under `dir`.
fn shipped_on_free_ports(shipped: &str, dir: &std::path::Path) -> String {
    let state = format!("directory = \"{}\"", dir.join("state").display());
    let c = edit(shipped, "grpc_port = 4317", "grpc_port = 0");
    let c = edit(&c, "http_port = 4318", "http_port = 0");
    let c = edit(&c, "port = 7070", "port = 0");
    edit(&c, "directory = \"faultline-state\"", &state)
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// `faultline run` on `config` (written under `dir`): the child, the admin and OTLP/HTTP
/// addresses, and the endpoint an SDK exporting over `transport` points at.
fn start_for(dir: &std::path::Path, config: &str, transport: &str) -> (Child, String, String, String) {
    let cfg = dir.join("otlp.toml");
    std::fs::write(&cfg, config).unwrap();
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (admin, grpc, http) = addresses(&mut child);
    let endpoint = if transport == "grpc" { format!("http://{grpc}") } else { format!("http://{http}") };
    (child, admin, http, endpoint)
}

#[test]
fn an_sdk_instrumented_service_with_an_error_burst_is_paged_over_grpc_and_http() {
    let shipped = std::fs::read_to_string(repo("pipelines/otlp.toml")).unwrap();
    for transport in ["grpc", "http"] {
        let dir = tempfile::tempdir().unwrap();
        let incidents = dir.path().join("incidents.jsonl");
        // The shipped pipeline on free ports, with a file sink to read back.
        let config = shipped_on_free_ports(&shipped, dir.path())
            + &format!("\n[sinks.file]\ntype = \"file\"\npath = \"{}\"\n", incidents.display());
        let (mut child, admin, _, endpoint) = start_for(dir.path(), &config, transport);
        let out =
            Command::new(python()).arg(repo("scripts/otel/payments.py")).args([transport, &endpoint]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let spans = report["spans"].as_u64().unwrap();
        assert_eq!(report["acknowledged"].as_u64(), Some(spans), "{transport}: {report}");
        // Acknowledged means in the engine's queue: every span becomes one request event.
        let mut accepted = 0.0;
        for _ in 0..100 {
            let (_, metrics) = get(&admin, "/metrics");
            accepted = metric(&metrics, "faultline_source_events_accepted_total{source=\"otlp\"}");
            if accepted as u64 == spans {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(accepted as u64, spans, "{transport}");
        // Stopped as a service manager stops it: drained, sinks flushed.
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(wait_exit(&mut child, Duration::from_secs(20)).success(), "{transport}: faultline exited badly");
        let text = std::fs::read_to_string(&incidents).unwrap();
        let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let opened = events.iter().find(|e| e["action"] == "opened");
        let opened = opened.unwrap_or_else(|| panic!("{transport}: no incident opened: {text}"));
        let inc = &opened["incident"];
        assert_eq!(inc["service"], "payments", "{inc}");
        let signals: Vec<&str> =
            inc["signals"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert!(signals.contains(&"error_rate"), "{transport}: {signals:?}");
    }
}

/// A plain HTTP/1.1 POST of OTLP/JSON: the status code.
fn post_json(addr: &str, path: &str, body: &str) -> u16 {
    crate::harness::post(addr, path, &[("Content-Type", "application/json")], body).0
}

/// Requests per window of `service`, summed over distinct signal lines.
fn requests_counted(lines: &std::collections::BTreeSet<String>, service: &str) -> f64 {
    lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["service"] == service && v["signal"] == "request_rate")
        .map(|v| {
            let secs = |k: &str| {
                let t = v[k].as_str().unwrap();
                // Windows are whole seconds: "…:SS.000Z".
                let hms = &t[11..19];
                let p: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
                p[0] * 3600.0 + p[1] * 60.0 + p[2]
            };
            let mut len = secs("window_end") - secs("window_start");
            if len < 0.0 {
                len += 86_400.0;
            }
            v["value"].as_f64().unwrap() * len
        })
        .sum()
}

/// Every span the SDK saw acknowledged is counted after a SIGKILL and a restart: with
/// `durability = "wal"` and no checkpoint taken before the kill, all of them come back from
/// the write-ahead log.
#[test]
fn after_sigkill_every_acknowledged_span_is_counted_once_from_the_write_ahead_log() {
    let shipped = std::fs::read_to_string(repo("pipelines/otlp.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let signals = dir.path().join("signals.jsonl");
    // No periodic checkpoint before the kill: the log alone must bring the spans back.
    let config =
        edit(
            &shipped_on_free_ports(&shipped, dir.path()),
            "checkpoint_interval = \"10s\"",
            "checkpoint_interval = \"1h\"",
        ) + &format!("\n[sinks.signals]\ntype = \"file\"\npath = \"{}\"\nemit = \"signals\"\n", signals.display());
    let cfg = dir.path().join("otlp.toml");
    std::fs::write(&cfg, config).unwrap();
    let start = || {
        let mut child = Command::new(bin())
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let addrs = addresses(&mut child);
        (child, addrs)
    };
    let (mut child, (admin, grpc, _)) = start();
    let out = Command::new(python())
        .arg(repo("scripts/otel/payments.py"))
        .args(["grpc", &format!("http://{grpc}"), "120", "50"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let spans = report["acknowledged"].as_u64().unwrap();
    assert_eq!(Some(spans), report["spans"].as_u64());
    let (_, metrics) = get(&admin, "/metrics");
    assert!(metric(&metrics, "faultline_source_wal_bytes{source=\"otlp\"}") > 0.0, "the log holds the requests");
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, (_, _, http)) = start();
    // A later span of another service moves the watermark past every window of the run.
    close_windows(&http);
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
    let lines: std::collections::BTreeSet<String> =
        std::fs::read_to_string(&signals).unwrap().lines().map(str::to_string).collect();
    let counted = requests_counted(&lines, "payments");
    assert!((counted - spans as f64).abs() < 1e-6, "counted {counted} of {spans} acknowledged spans");
}

/// Closes every window of a run: a span of another service a minute after now, over OTLP/JSON.
fn close_windows(http: &str) {
    let later = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
        + 60_000_000_000)
        .to_string();
    let closer = format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"clock"}}}}]}},"scopeSpans":[{{"spans":[{{"name":"tick","kind":2,"startTimeUnixNano":"{later}","endTimeUnixNano":"{later}"}}]}}]}}]}}"#
    );
    assert_eq!(post_json(http, "/v1/traces", &closer), 200);
}

/// The SDK's metrics and logs of the same service, over both transports: the pool gauge runs near
/// full in the burst, a metrics-only route's histogram becomes its requests, and error logs make
/// the error rate of the service's `logs` series.
#[test]
fn an_sdk_services_metrics_and_logs_become_its_pool_requests_and_error_logs() {
    let shipped = std::fs::read_to_string(repo("pipelines/otlp.toml")).unwrap();
    for transport in ["grpc", "http"] {
        let dir = tempfile::tempdir().unwrap();
        let signals = dir.path().join("signals.jsonl");
        let config = shipped_on_free_ports(&shipped, dir.path())
            + &format!("\n[sinks.signals]\ntype = \"file\"\npath = \"{}\"\nemit = \"signals\"\n", signals.display());
        let (mut child, admin, http, endpoint) = start_for(dir.path(), &config, transport);
        let out = Command::new(python())
            .arg(repo("scripts/otel/payments.py"))
            .args([transport, &endpoint, "300", "20", "metrics,logs"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let logs = &report["logs"];
        assert_eq!(logs["acknowledged"], logs["records"], "{transport}: {report}");
        assert!(logs["errors"].as_u64().unwrap() > 10, "{report}");
        let points = report["metrics"]["acknowledged"].as_u64().unwrap();
        assert!(points >= 30 * 4, "{transport}: every collection's pool and histogram points: {report}");
        assert_eq!(report["metrics"]["failed"], 0, "{report}");
        close_windows(&http);
        std::thread::sleep(Duration::from_millis(500));
        let (_, metrics) = get(&admin, "/metrics");
        assert_eq!(
            metric(&metrics, "faultline_source_events_rejected_total"),
            0.0,
            "{transport}: nothing the SDK sends is rejected: {metrics}"
        );
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(wait_exit(&mut child, Duration::from_secs(20)).success(), "{transport}");
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&signals)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .filter(|v: &serde_json::Value| v["service"] == "payments")
            .collect();
        let values = |pred: &dyn Fn(&serde_json::Value) -> bool, signal: &str| -> Vec<f64> {
            lines.iter().filter(|v| v["signal"] == signal && pred(v)).filter_map(|v| v["value"].as_f64()).collect()
        };
        let pool = values(&|_| true, "pool_saturation");
        assert!(pool.len() >= 25, "{transport}: a pool reading per window: {pool:?}");
        let full = pool.iter().filter(|v| **v >= 0.9).count();
        assert!((4..pool.len() / 2).contains(&full), "{transport}: near full only in the burst: {pool:?}");
        // 50 a step: 5 a second in every window of the play (the stream's first point is its
        // baseline), none in the empty windows after it.
        let refund = values(&|v| v["operation"] == "GET /refund", "request_rate");
        assert!(refund.iter().all(|r| *r == 5.0 || *r == 0.0), "{transport}: {refund:?}");
        assert!(refund.iter().filter(|r| **r == 5.0).count() >= 25, "{transport}: {refund:?}");
        let log_errors = values(&|v| v["operation"] == "logs", "error_rate");
        assert!(log_errors.iter().any(|e| *e > 0.5), "{transport}: the burst's error logs: {log_errors:?}");
        assert!(log_errors.iter().filter(|e| **e == 0.0).count() > log_errors.len() / 2, "{log_errors:?}");
    }
}
