//! SQL on a running instance: `POST /api/v1/sql` in every format, `GET /api/v1/incidents`,
//! errors that leave the service up, `faultline sql` printing a table, and Arrow Flight SQL
//! with a real client (ADBC's Flight SQL driver from Python) against `faultline demo --follow`.

use std::process::Command;
use std::time::{Duration, Instant};

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::Stdio;

use crate::harness::{admin_addr, bin, get, python, repo, spawn_run, wait_exit};

/// (status, content type, body) of a POST.
fn post(addr: &str, path: &str, accept: &str, content_type: &str, body: &str) -> (u16, String, String) {
    crate::harness::post(addr, path, &[("Accept", accept), ("Content-Type", content_type)], body)
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
    // A copy of the burst, so the test can append a late event to it.
    let data = dir.path().join("events.jsonl");
    std::fs::copy(repo("testdata/payments-burst.jsonl"), &data).unwrap();
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
    // Past 1,000 rows in memory the oldest half goes to the Parquet history under the state directory.
    let days = dir.path().join("state/sql/signals");
    let files = || -> Vec<_> {
        std::fs::read_dir(&days)
            .map(|d| {
                d.flatten().flat_map(|day| std::fs::read_dir(day.path()).into_iter().flatten().flatten()).collect()
            })
            .unwrap_or_default()
    };
    let parquet =
        |files: &[std::fs::DirEntry]| files.iter().any(|f| f.path().extension().is_some_and(|e| e == "parquet"));
    while (count("SELECT count(*) AS n FROM signals") < 300
        || count("SELECT count(*) AS n FROM incidents") == 0
        || !parquet(&files()))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(count("SELECT count(*) AS n FROM incidents") >= 1, "the burst's incident is in the table");
    let files = files();
    assert!(parquet(&files), "{files:?}");
    assert!(count("SELECT count(*) AS n FROM signals") > 1_000, "memory and files together");

    // The status tables. `series`: every label set with its windows; `ingest_stats`: the
    // source's row as its metrics say, and its partition's; `late_events`: the burst's first
    // event again, long after its window closed.
    let series =
        rows(&addr, "SELECT service, kind, name, windows, folded, first_seen <= last_seen AS ordered FROM series");
    assert!(series.iter().any(|r| r["service"] == "payments-api" && r["kind"] == "request"), "{series:?}");
    assert!(series.iter().all(|r| r["windows"].as_u64() > Some(0) && r["ordered"] == true && r["folded"] == false));
    let (_, metrics) = get(&addr, "/metrics");
    let accepted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("faultline_source_events_accepted_total{source=\"app\"} "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let ingest = loop {
        let r = rows(
            &addr,
            "SELECT source, partition, events, bytes, rejected, idle FROM ingest_stats ORDER BY partition NULLS FIRST",
        );
        if r.first().and_then(|r| r["events"].as_f64()) >= Some(accepted) || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(ingest.len(), 2, "the source and its one partition: {ingest:?}");
    assert_eq!((ingest[0]["source"].as_str(), ingest[0]["partition"].as_str()), (Some("app"), None));
    assert_eq!(ingest[0]["events"].as_f64(), Some(accepted), "{ingest:?}");
    let rejected: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("faultline_source_events_rejected_total{source=\"app\","))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(rejected > 0.0, "the burst has records the decoder rejects");
    assert_eq!(ingest[0]["rejected"].as_f64(), Some(rejected), "{ingest:?}");
    assert!(ingest[0]["bytes"].as_u64() > Some(0), "{ingest:?}");
    assert!(ingest[1]["partition"].is_string() && ingest[1]["idle"].is_boolean(), "{ingest:?}");
    assert_eq!(count("SELECT count(*) AS n FROM late_events"), 0);
    let first = std::fs::read_to_string(&data).unwrap().lines().next().unwrap().to_string();
    std::fs::OpenOptions::new().append(true).open(&data).unwrap().write_all(format!("{first}\n").as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count("SELECT CAST(sum(late) AS BIGINT) AS n FROM late_events") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let late = rows(&addr, "SELECT service, name, dims['region'] AS region, late FROM late_events");
    assert_eq!(
        late,
        [serde_json::json!({"service": "payments-api", "name": "POST /refund", "region": "us-east-1", "late": 1})]
    );

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
    assert!(metrics.contains("faultline_sql_queries_total{endpoint=\"http\",result=\"invalid\"} "), "{metrics}");
    assert!(metrics.contains("faultline_sql_signal_rows "), "{metrics}");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}

#[test]
fn a_flight_sql_client_asks_the_demo_the_runbooks_questions() {
    const TOKEN: &str = "t0ken-for-the-test";
    let mut child = Command::new(bin())
        .args(["demo", "--follow", "--seconds", "3", "--quiet"])
        .env("FAULTLINE_ADMIN_PORT", "0")
        .env("FAULTLINE_SQL_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut admin, mut flight) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.split("admin:   http://").nth(1) {
            admin = rest.split('/').next().map(str::to_string);
        }
        if let Some(rest) = line.split("Arrow Flight SQL on ").nth(1) {
            flight = rest.split(' ').next().map(str::to_string);
        }
        if admin.is_some() && flight.is_some() {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let (admin, flight) = (admin.expect("the admin address"), flight.expect("the Flight SQL address"));
    assert!(flight.starts_with("grpc://127.0.0.1:"), "{flight}");

    let out = Command::new(python()).arg(repo("scripts/sql/flight_check.py")).args([&flight, TOKEN]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the ADBC client failed: {stderr}");
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    // The same questions over HTTP, with the token; the tables are still by now.
    let auth = format!("Bearer {TOKEN}");
    let http = |sql: &str| -> serde_json::Value {
        let headers =
            [("Accept", "application/json"), ("Content-Type", "text/plain"), ("Authorization", auth.as_str())];
        let (status, _, body) = crate::harness::post(&admin, "/api/v1/sql", &headers, sql);
        assert_eq!(status, 200, "{sql}: {body}");
        serde_json::from_str(&body).unwrap()
    };
    // Without the token neither endpoint answers, and each says why.
    assert!(got["anonymous"].as_str().is_some_and(|m| m.contains("UNAUTHENTICATED") && m.contains("Bearer")), "{got}");
    let (status, _, body) = crate::harness::post(&admin, "/api/v1/sql", &[], "SELECT 1");
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");

    // The demo's incident: one, P0 on payments-api, resolved; the same as over HTTP.
    let incidents = got["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{got}");
    assert_eq!(
        (incidents[0]["service"].as_str(), incidents[0]["severity"].as_str()),
        (Some("payments-api"), Some("P0"))
    );
    assert_eq!(incidents[0]["status"], "resolved");
    let over_http = http("SELECT id, service, severity, status, title FROM incidents ORDER BY detected_at, id");
    assert_eq!(&got["incidents"], &over_http);

    // The p95 per service over the last hour via hdr_quantile: every service, the outage's far
    // above the others, and the same values over HTTP.
    let p95 = got["p95"].as_array().unwrap();
    let services: Vec<&str> = p95.iter().filter_map(|r| r["service"].as_str()).collect();
    assert_eq!(services, ["checkout", "payments-api", "wallet"], "{got}");
    let of = |s: &str| p95.iter().find(|r| r["service"] == s).and_then(|r| r["p95"].as_f64()).unwrap();
    assert!(of("payments-api") > 5.0 * of("checkout").max(of("wallet")), "{got}");
    assert_eq!(&got["p95"], &http(got["p95_sql"].as_str().unwrap()));

    // The monthly report: the one P0, detected and resolved, with its times.
    let report = got["monthly_report"].as_array().unwrap();
    assert_eq!(report.len(), 1, "{got}");
    assert_eq!((report[0]["severity"].as_str(), report[0]["incidents"].as_i64()), (Some("P0"), Some(1)));
    assert_eq!(report[0]["resolved"].as_i64(), Some(1));
    let detect = report[0]["mean_time_to_detect_s"].as_f64().unwrap();
    assert!((0.0..=60.0).contains(&detect), "detected within a minute of onset: {detect}");
    assert!(report[0]["mean_time_to_resolve_s"].as_f64().unwrap() > detect);
    let over_http = http("SELECT severity, incidents, mean_time_to_detect_s FROM monthly_report");
    assert_eq!(over_http[0]["mean_time_to_detect_s"], report[0]["mean_time_to_detect_s"]);

    // A bound parameter answers as the literal does.
    let service = got["bound"]["service"].as_str().unwrap();
    let literal = http(&format!("SELECT count(*) AS n FROM signals WHERE service = '{service}'"));
    assert_eq!(got["bound"]["rows"], literal);
    assert!(literal[0]["n"].as_u64().unwrap() > 0);

    // A syntax error is an error with its place, and the next query is answered.
    let err = &got["syntax_error"];
    assert_eq!(err["type"], "ProgrammingError", "{got}");
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains("INVALID_ARGUMENT") && m.contains("Line: 1, Column")),
        "{got}"
    );
    assert_eq!(got["after_error"], serde_json::json!([{"one": 1}]));

    // The catalog as a tool lists it, and a table's columns.
    let catalog: Vec<&str> = got["catalog"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    for t in
        ["faultline.public.signals:TABLE", "faultline.public.incidents:TABLE", "faultline.public.monthly_report:VIEW"]
    {
        assert!(catalog.contains(&t), "{t} in {catalog:?}");
    }
    let columns: Vec<&str> = got["signals_columns"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(columns.contains(&"latency_hist") && columns.contains(&"window_end"), "{columns:?}");

    // `faultline sql` sends the token from the same variable.
    let url = format!("http://{admin}");
    let cli = |token: Option<&str>| {
        let mut c = Command::new(bin());
        c.args(["sql", "--url", &url, "--format", "csv", "SELECT count(*) AS n FROM incidents"])
            .env_remove("FAULTLINE_SQL_TOKEN");
        if let Some(t) = token {
            c.env("FAULTLINE_SQL_TOKEN", t);
        }
        c.output().unwrap()
    };
    assert_eq!(String::from_utf8_lossy(&cli(Some(TOKEN)).stdout), "n\n1\n");
    let refused = cli(None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Bearer"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let (_, metrics) = get(&admin, "/metrics");
    assert!(metrics.contains("faultline_sql_queries_total{endpoint=\"flight\",result=\"ok\"} "), "{metrics}");
    assert!(metrics.contains("faultline_sql_queries_total{endpoint=\"flight\",result=\"invalid\"} 1"), "{metrics}");
    assert_eq!(get(&admin, "/healthz").0, 200, "the service is up after it all");
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
}
