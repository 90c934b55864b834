//! `faultline run --config pipelines/otlp.toml` with the OpenTelemetry Python SDK as the client:
//! an instrumented payments service with an error burst is paged, over gRPC and over HTTP.
//!
//! The SDK comes from the venv scripts/test.sh installs (`FAULTLINE_OTEL_PYTHON`, else
//! `~/.cache/faultline/venv/bin/python`); without it this test fails and says so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, get, repo, wait_exit};

fn python() -> PathBuf {
    if let Ok(p) = std::env::var("FAULTLINE_OTEL_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("FAULTLINE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/faultline"));
    let p = cache.join("venv/bin/python");
    assert!(p.exists(), "{} is missing: run scripts/test.sh, which installs the OpenTelemetry SDK there", p.display());
    p
}

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

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn an_sdk_instrumented_service_with_an_error_burst_is_paged_over_grpc_and_http() {
    let shipped = std::fs::read_to_string(repo("pipelines/otlp.toml")).unwrap();
    for transport in ["grpc", "http"] {
        let dir = tempfile::tempdir().unwrap();
        let incidents = dir.path().join("incidents.jsonl");
        // The shipped pipeline on free ports, with a file sink to read back.
        let config = shipped
            .replace("grpc_port = 4317", "grpc_port = 0")
            .replace("http_port = 4318", "http_port = 0")
            .replace("port = 7070", "port = 0")
            + &format!("\n[sinks.file]\ntype = \"file\"\npath = \"{}\"\n", incidents.display());
        let cfg = dir.path().join("otlp.toml");
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
