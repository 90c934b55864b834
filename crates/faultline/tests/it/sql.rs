//! SQL on a running instance: `POST /api/v1/sql` in every format, `GET /api/v1/incidents`,
//! errors that leave the service up, and `faultline sql` printing a table.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{admin_addr, bin, get, repo, spawn_run, wait_exit};

/// (status, content type, body) of a POST.
fn post(addr: &str, path: &str, accept: &str, content_type: &str, body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let ct = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    (status, ct, body.to_string())
}

fn rows(addr: &str, sql: &str) -> Vec<serde_json::Value> {
    let (status, _, body) = post(addr, "/api/v1/sql", "application/json", "text/plain", sql);
    assert_eq!(status, 200, "{sql}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn sql_over_http_and_the_cli_on_a_running_instance() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("pipeline.toml");
    let data = repo("testdata/payments-burst.jsonl");
    std::fs::write(
        &cfg,
        format!(
            "[sources.app]\ntype = \"file\"\npath = \"{}\"\nfollow = true\n\n[series]\ndimensions = [\"region\"]\n\n\
             [admin]\nport = 0\n\n[state]\ndirectory = \"{}\"\n\n[sql]\nmax_rows = 50\nretention_rows = 1000\n\n\
             [sinks.out]\ntype = \"stdout\"\n",
            data.display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut child = spawn_run(&cfg, true);
    let addr = admin_addr(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let count = |sql: &str| rows(&addr, sql)[0]["n"].as_u64().unwrap_or(0);
    while (count("SELECT count(*) AS n FROM signals") < 300 || count("SELECT count(*) AS n FROM incidents") == 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(count("SELECT count(*) AS n FROM incidents") >= 1, "the burst's incident is in the table");
    // Past 1,000 rows in memory the oldest half went to the Parquet history under the state directory.
    let days = dir.path().join("state/sql/signals");
    let files: Vec<_> = std::fs::read_dir(&days)
        .map(|d| d.flatten().flat_map(|day| std::fs::read_dir(day.path()).into_iter().flatten().flatten()).collect())
        .unwrap_or_default();
    assert!(files.iter().any(|f| f.path().extension().is_some_and(|e| e == "parquet")), "{files:?}");
    assert!(count("SELECT count(*) AS n FROM signals") > 1_000, "memory and files together");

    // JSON body, JSON rows; the p95 of the service over every window, exact.
    let (status, ct, body) = post(
        &addr,
        "/api/v1/sql",
        "application/json",
        "application/json",
        r#"{"sql": "SELECT service, hdr_quantile(hdr_merge(latency_hist), 0.95) AS p95 FROM signals WHERE signal = 'latency_p95' GROUP BY service"}"#,
    );
    assert_eq!((status, ct.as_str()), (200, "application/json"), "{body}");
    let p95: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(p95[0]["p95"].as_f64().is_some_and(|v| v > 0.0), "{p95}");

    let (status, ct, body) =
        post(&addr, "/api/v1/sql", "text/csv", "text/plain", "SELECT service, signal FROM signals");
    assert_eq!((status, ct.starts_with("text/csv")), (200, true), "{body}");
    assert_eq!(body.lines().next(), Some("service,signal"));
    assert_eq!(body.lines().count(), 51, "the row limit: a header and 50 rows");
    let (status, ct, _) =
        post(&addr, "/api/v1/sql", "application/vnd.apache.arrow.stream", "text/plain", "SELECT 1 AS one");
    assert_eq!((status, ct.as_str()), (200, "application/vnd.apache.arrow.stream"));

    let (status, _, body) = post(&addr, "/api/v1/sql", "application/json", "text/plain", "SELEC * FROM signals");
    assert_eq!(status, 400, "{body}");
    let err: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["kind"], "invalid", "{err}");
    assert!(err["error"].as_str().unwrap().contains("Line: 1, Column"), "{err}");
    let (status, _, body) = post(&addr, "/api/v1/sql", "application/json", "text/plain", "DROP TABLE signals");
    assert_eq!(status, 400, "read-only: {body}");
    assert_eq!(get(&addr, "/healthz").0, 200, "the service is up after bad queries");

    let (status, incidents) = get(&addr, "/api/v1/incidents");
    assert_eq!(status, 200);
    let incidents: serde_json::Value = serde_json::from_str(&incidents).unwrap();
    let first = &incidents["incidents"][0];
    assert!(first["dedup_key"].as_str().is_some_and(|k| k.starts_with("payments-api/")), "{incidents}");

    let url = format!("http://{addr}");
    let out = Command::new(bin())
        .args(["sql", "--url", &url, "SELECT service, severity, status FROM incidents"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(table.contains("| service") && table.contains("payments-api") && table.contains("+-"), "{table}");
    let out = Command::new(bin()).args(["sql", "--url", &url, "--format", "csv", "SELECT 1 AS one"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n1\n");
    let out = Command::new(bin()).args(["sql", "--url", &url, "SELECT * FROM nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"), "{}", String::from_utf8_lossy(&out.stderr));

    let (_, metrics) = get(&addr, "/metrics");
    assert!(metrics.contains("faultline_sql_queries_total{result=\"invalid\"} "), "{metrics}");
    assert!(metrics.contains("faultline_sql_signal_rows "), "{metrics}");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}
