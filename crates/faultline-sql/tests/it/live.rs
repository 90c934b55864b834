//! A pipeline over the payments burst feeds the tables; queries read them back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use faultline_core::latency::LatencyHistogram;
use faultline_core::pipeline::{Pipeline, PipelineConfig};
use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{Aggregate, InputId, SeriesRegistry};
use faultline_sql::{Format, Limits, Retention, SqlEngine, SqlError, SqlFeed, SqlInput, SqlStore, ipc_to, write_all};

/// The tables after the burst, and each service's latencies merged directly from the closed windows.
pub(crate) struct Run {
    pub(crate) engine: SqlEngine,
    latencies: BTreeMap<String, LatencyHistogram>,
    opened: usize,
}

pub(crate) fn run(limits: Limits, retention: Retention) -> Run {
    run_into(limits, retention, None, None)
}

fn run_into(
    limits: Limits,
    retention: Retention,
    history: Option<&std::path::Path>,
    slos: Option<Vec<faultline_sql::Slo>>,
) -> Run {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/payments-burst.jsonl");
    let text = std::fs::read_to_string(path).expect("testdata/payments-burst.jsonl");
    let registry = Arc::new(SeriesRegistry::new(100));
    let decoding = DecoderConfig { dims: vec!["region".into()], ..DecoderConfig::default() };
    let mut decoder = Decoder::new(registry.clone(), decoding.clone());
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let _ = decoder.decode_line(i as u64 + 1, line.as_bytes(), None, &mut events);
    }
    let config = PipelineConfig { dimension_names: decoding.dims.clone(), ..PipelineConfig::default() };
    let mut pipeline = Pipeline::new(config, registry.clone());
    let mut store = SqlStore::new(decoding.dims.clone(), retention);
    if let Some(slos) = slos {
        store = store.with_slos(slos);
    }
    if let Some(dir) = history {
        store = store.with_history(dir).expect("the history directory opens");
    }
    let engine = SqlEngine::new(&store, limits);
    let (feed, rx) = SqlFeed::new(1 << 16);
    let windows = feed.clone();
    pipeline.publish_snapshots().subscribe(Box::new(move |s| {
        windows.send(SqlInput::Window(s.clone()));
    }));
    let writer = std::thread::spawn(move || write_all(&mut store, &rx));
    let mut latencies: BTreeMap<String, LatencyHistogram> = BTreeMap::new();
    let mut opened = 0;
    let mut take = |p: &Pipeline, out: Vec<faultline_core::incident::IncidentEvent>| {
        for c in p.closed_windows() {
            if let Aggregate::Request(r) = &c.aggregate
                && let Some(h) = &r.latency
            {
                latencies.entry(registry.key(c.series).service.to_string()).or_default().merge(h);
            }
        }
        opened += out.iter().filter(|e| e.action == faultline_core::incident::Action::Opened).count();
        feed.send(SqlInput::Events(out));
    };
    for chunk in events.chunks(64) {
        let out = pipeline.record(InputId(0), chunk);
        take(&pipeline, out);
    }
    let out = pipeline.finish();
    take(&pipeline, out);
    assert_eq!(feed.dropped(), 0, "the queue held everything");
    drop(pipeline);
    drop(feed);
    writer.join().expect("the writer ends with its feed");
    Run { engine, latencies, opened }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime")
}

fn json(engine: &SqlEngine, sql: &str) -> Vec<serde_json::Value> {
    let answer = rt().block_on(engine.query(sql, Format::Json)).unwrap_or_else(|e| panic!("{sql}: {e}"));
    serde_json::from_slice(&answer.body).expect("a JSON array")
}

#[test]
fn the_tables_hold_the_run_and_hdr_quantile_is_exact_per_service() {
    let r = run(Limits::default(), Retention::default());
    let counts =
        json(&r.engine, "SELECT count(*) AS n, count(DISTINCT signal) AS signals FROM faultline.public.signals");
    assert!(counts[0]["n"].as_u64().unwrap() > 500, "{counts:?}");
    assert!(counts[0]["signals"].as_u64().unwrap() >= 8, "{counts:?}");

    let p95 = json(
        &r.engine,
        "SELECT service, hdr_quantile(hdr_merge(latency_hist), 0.95) AS p95, \
         hdr_quantile(hdr_merge(latency_hist), 0.99) AS p99 \
         FROM signals WHERE signal = 'latency_p95' GROUP BY service ORDER BY service",
    );
    assert!(!p95.is_empty());
    for row in &p95 {
        let service = row["service"].as_str().unwrap();
        let direct = &r.latencies[service];
        assert_eq!(row["p95"].as_f64(), Some(direct.quantile_ms(0.95)), "{service}'s p95 over every window");
        assert_eq!(row["p99"].as_f64(), Some(direct.quantile_ms(0.99)), "{service}'s p99 over every window");
    }

    // Findings show on their rows: the burst's error rate is anomalous somewhere.
    let flagged = json(&r.engine, "SELECT count(*) AS n FROM signals WHERE verdict IS NOT NULL AND anomaly_score > 0");
    assert!(flagged[0]["n"].as_u64().unwrap() > 0, "{flagged:?}");
    let dims = json(&r.engine, "SELECT count(*) AS n FROM signals WHERE dims['region'] = 'us-east-1'");
    assert!(dims[0]["n"].as_u64().unwrap() > 0, "dims are a map: {dims:?}");

    let incidents = json(&r.engine, "SELECT dedup_key, status, severity, incident FROM incidents");
    assert_eq!(incidents.len(), r.opened, "a row per incident opened");
    assert!(incidents.iter().all(|i| i["status"] == "resolved"), "{incidents:?}");
    let events = json(&r.engine, "SELECT action, count(*) AS n FROM incident_events GROUP BY action ORDER BY action");
    assert!(events.iter().any(|e| e["action"] == "opened"), "{events:?}");
    let report = json(&r.engine, "SELECT * FROM monthly_report");
    assert_eq!(report.iter().map(|m| m["incidents"].as_u64().unwrap()).sum::<u64>(), r.opened as u64, "{report:?}");
    assert!(report.iter().all(|m| m["mean_time_to_detect_s"].as_f64().is_some_and(|s| s >= 0.0)), "{report:?}");
    let noisy = json(&r.engine, "SELECT * FROM noisy_services");
    assert_eq!(noisy[0]["service"], "payments-api", "{noisy:?}");
    let budget = json(
        &r.engine,
        "SELECT service, signal, total, bad, objective, budget_spent FROM error_budget WHERE signal = 'error_rate' \
         ORDER BY budget_spent DESC",
    );
    assert_eq!(budget[0]["service"], "payments-api", "the burst spent its budget: {budget:?}");
    assert!(
        budget[0]["bad"].as_f64().unwrap() > 0.0 && budget[0]["budget_spent"].as_f64().unwrap() > 1.0,
        "{budget:?}"
    );
    assert_eq!(budget[0]["objective"].as_f64(), Some(0.999), "the default bank's burn-rate objective");
    let expected = budget[0]["bad"].as_f64().unwrap() / budget[0]["total"].as_f64().unwrap() / (1.0 - 0.999);
    assert!((budget[0]["budget_spent"].as_f64().unwrap() - expected).abs() < 1e-9 * expected, "{budget:?}");
}

#[test]
fn answers_come_as_csv_arrow_and_a_table_and_rows_past_the_limit_are_left_out() {
    let r = run(Limits { max_rows: 7, ..Limits::default() }, Retention::default());
    let rt = rt();
    let sql = "SELECT service, signal, value FROM signals ORDER BY window_end, service, signal";
    let csv = rt.block_on(r.engine.query(sql, Format::Csv)).unwrap();
    let text = String::from_utf8(csv.body).unwrap();
    assert_eq!(text.lines().next(), Some("service,signal,value"));
    assert_eq!((text.lines().count(), csv.rows, csv.truncated), (8, 7, true), "{text}");
    let ipc = rt.block_on(r.engine.query(sql, Format::ArrowIpc)).unwrap();
    assert_eq!(ipc.content_type, "application/vnd.apache.arrow.stream");
    let table = ipc_to(&ipc.body, Format::Table).unwrap();
    assert!(table.contains("| service") && table.contains("payments-api"), "{table}");
    let none = rt.block_on(r.engine.query("SELECT * FROM incidents WHERE service = 'nobody'", Format::Json)).unwrap();
    assert_eq!((none.body.as_slice(), none.rows), (b"[]".as_slice(), 0));
}

#[test]
fn bad_queries_are_clear_errors_and_the_engine_keeps_answering() {
    let r = run(
        Limits { max_rows: 1_000_000, memory_bytes: 1 << 20, timeout: Duration::from_millis(300) },
        Retention { signal_rows: 1_000, ..Retention::default() },
    );
    let rt = rt();
    let err = |sql: &str| rt.block_on(r.engine.query(sql, Format::Json)).expect_err(sql);
    let syntax = err("SELECT count(* FROM signals");
    assert!(matches!(syntax, SqlError::Invalid(_)) && syntax.to_string().contains("Line: 1, Column"), "{syntax}");
    let table = err("SELECT * FROM signalz");
    assert!(matches!(table, SqlError::Plan(_)) && table.to_string().contains("signalz"), "{table}");
    for write in [
        "CREATE TABLE x AS SELECT 1",
        "DROP VIEW monthly_report",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let e = err(write);
        assert!(matches!(e, SqlError::Invalid(_)), "{write} is refused: {e:?}");
    }
    let memory = err("SELECT s.service, s.value FROM signals s, signals t ORDER BY s.value, t.value");
    assert!(matches!(memory, SqlError::Memory { .. } | SqlError::Timeout(_)), "{memory}");
    let slow = err("SELECT count(*) FROM signals a, signals b, signals c WHERE a.value + b.value + c.value > -1");
    assert!(matches!(slow, SqlError::Timeout(_) | SqlError::Memory { .. }), "{slow}");
    let q = err("SELECT hdr_quantile(latency_hist, 2.0) FROM signals WHERE latency_hist IS NOT NULL");
    assert!(q.to_string().contains("between 0 and 1"), "{q}");
    let after = json(&r.engine, "SELECT count(*) AS n FROM signals");
    assert!(after[0]["n"].as_u64().unwrap() <= 1_000 + 100, "retention keeps about 1,000 rows: {after:?}");
}

/// Past the rows kept in memory, the oldest go to Parquet files by day: a query over
/// `signals` spans both with no row twice and none lost, and a restart keeps the files.
#[test]
fn signals_span_memory_and_parquet_across_flushes_and_a_restart_keeps_the_history() {
    let whole = run(Limits::default(), Retention::default());
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("signals");
    let split =
        run_into(Limits::default(), Retention { signal_rows: 300, ..Retention::default() }, Some(&history), None);
    let all = "SELECT service, kind, name, dims['region'] AS region, window_start, window_end, signal, value, n, k, anomaly_score, verdict, \
               latency_hist FROM signals ORDER BY window_end, service, kind, name, signal";
    // As sorted lines: rows equal up to `dims` tie in any order.
    let lines = |engine: &SqlEngine| {
        let mut rows: Vec<String> = json(engine, all).iter().map(|r| r.to_string()).collect();
        rows.sort();
        rows
    };
    let (want, got) = (lines(&whole.engine), lines(&split.engine));
    assert!(want.len() > 1_000, "{} rows", want.len());
    assert_eq!(got.len(), want.len(), "every row once, in memory or on disk");
    let differ = want.iter().zip(&got).find(|(a, b)| a != b);
    assert!(differ.is_none(), "the same rows: {differ:?}");
    let days: Vec<_> =
        std::fs::read_dir(&history).unwrap().map(|d| d.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(days, ["date=2026-11-20"], "files by day");
    let files = std::fs::read_dir(history.join(&days[0])).unwrap().count();
    assert!(files >= 2, "several flushes: {files} files");
    let p95 = "SELECT service, hdr_quantile(hdr_merge(latency_hist), 0.95) AS p95 FROM signals GROUP BY service";
    assert_eq!(json(&split.engine, p95), json(&whole.engine, p95), "exact quantiles across memory and files");

    // A new process over the same directory: the flushed rows are there.
    drop(split);
    let store = SqlStore::new(Vec::new(), Retention::default()).with_history(&history).unwrap();
    let engine = SqlEngine::new(&store, Limits::default());
    let on_disk = json(&engine, "SELECT count(*) AS n FROM signals")[0]["n"].as_u64().unwrap();
    assert!(on_disk > 0 && on_disk < want.len() as u64, "the flushed rows after a restart: {on_disk}");
}

#[test]
fn error_budget_measures_each_service_against_its_own_objective() {
    use faultline_sql::Slo;
    let slo = |service: Option<&str>, objective| Slo {
        service: service.map(String::from),
        signal: "error_rate".into(),
        objective,
    };
    let budget = |slos| {
        let r = run_into(Limits::default(), Retention::default(), None, Some(slos));
        json(
            &r.engine,
            "SELECT service, objective, bad, total, budget_spent FROM error_budget WHERE signal = 'error_rate'",
        )
    };
    // Every service at 99 %: payments-api (the burst's one service) is measured against it.
    let default = budget(vec![slo(None, Some(0.99))]);
    assert_eq!(default.len(), 1, "{default:?}");
    assert_eq!((default[0]["service"].as_str(), default[0]["objective"].as_f64()), (Some("payments-api"), Some(0.99)));
    // Its own objective replaces the default, and the budget spent follows it.
    let own = budget(vec![slo(None, Some(0.99)), slo(Some("payments-api"), Some(0.9999))]);
    assert_eq!(own[0]["objective"].as_f64(), Some(0.9999), "{own:?}");
    let (bad, total) = (own[0]["bad"].as_f64().unwrap(), own[0]["total"].as_f64().unwrap());
    assert!(bad > 0.0 && total > bad, "{own:?}");
    let spent = |b: &serde_json::Value| b["budget_spent"].as_f64().unwrap();
    assert!((spent(&own[0]) - bad / total / (1.0 - 0.9999)).abs() <= 1e-9 * spent(&own[0]), "{own:?}");
    assert!((spent(&own[0]) / spent(&default[0]) - 100.0).abs() < 1e-6, "a hundredth of the budget spends 100x faster");
    // Its own detectors without a burn rate: no objective, no row.
    assert_eq!(budget(vec![slo(None, Some(0.99)), slo(Some("payments-api"), None)]), Vec::<serde_json::Value>::new());
}
