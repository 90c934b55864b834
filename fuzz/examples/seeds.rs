//! Writes the seed corpora under `fuzz/corpus/<target>/`: a few valid inputs per target, small.
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/Cargo.toml --example seeds`.
//! The files are committed; rerun after changing a target's input layout.

use std::io::Write;
use std::path::Path;

use faultline_fuzz::otlp::SEPARATOR;
use faultline_ingest::wal::Wal;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, exponential_histogram_data_point, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

/// 2026-11-20T18:00:00Z in nanoseconds.
const T0: u64 = 1_795_197_600_000_000_000;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = |target: &str, name: &str, bytes: &[u8]| -> std::io::Result<()> {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), bytes)
    };
    let prefixed = |first: u8, body: &[u8]| [&[first][..], body].concat();

    // Traces: raw protobuf.
    let traces = [("server", server_traces()), ("kinds", mixed_traces())];
    for (name, req) in &traces {
        write("otlp_traces", name, &req.encode_to_vec())?;
    }
    write("otlp_traces", "resource_after_spans", &resource_after_spans())?;

    // Metrics: form byte, then requests; the second gives deltas of the first.
    let (m1, m2) = (metrics(1, 0), metrics(3, 0));
    let m3 = metrics(1, 7);
    let proto = [m1.encode_to_vec(), m2.encode_to_vec(), m3.encode_to_vec()].join(SEPARATOR);
    write("otlp_metrics", "cumulative_proto", &prefixed(0, &proto))?;
    let as_json = [json(&m1), json(&m2)].join(SEPARATOR);
    write("otlp_metrics", "cumulative_json", &prefixed(1, &as_json))?;
    write("otlp_metrics", "overflowing_counts", &prefixed(0, &overflowing_counts().encode_to_vec()))?;

    // Logs: form byte, then one request.
    let logs = logs();
    write("otlp_logs", "records_proto", &prefixed(0, &logs.encode_to_vec()))?;
    write("otlp_logs", "records_json", &prefixed(1, &json(&logs)))?;

    // HTTP: kind selector (kind = 1 + byte % 6), then a gzip body; one a small bomb.
    write("otlp_http", "traces_proto", &prefixed(0, &gzip(&traces[0].1.encode_to_vec())?))?;
    write("otlp_http", "metrics_json", &prefixed(3, &gzip(&json(&m1))?))?;
    write("otlp_http", "logs_proto", &prefixed(4, &gzip(&logs.encode_to_vec())?))?;
    write("otlp_http", "bomb", &prefixed(0, &gzip(&vec![0u8; 256 << 10])?))?;

    // WAL: start byte, then a segment written by the log itself.
    let segment = wal_segment(&[(1, traces[0].1.encode_to_vec()), (6, json(&logs)), (4, b"{}".to_vec())])?;
    write("wal_segment", "three_records", &prefixed(0, &segment))?;
    let second = 9 + traces[0].1.encoded_len();
    write("wal_segment", "from_second", &prefixed(second as u8, &segment))?;
    write("wal_segment", "torn", &prefixed(0, &segment[..segment.len() - 3]))?;

    // Log lines, per format.
    for (format, lines) in LOG_LINES {
        write(&format!("log_{format}"), "lines", lines.as_bytes())?;
    }
    Ok(())
}

/// The lines of each `log_<format>` seed (formats of other branches included).
const LOG_LINES: &[(&str, &str)] = &[
    (
        "event",
        concat!(
            r#"{"ts":1795197600041,"service":"payments-api","operation":"POST /refund","kind":"request","status":200,"latency_ms":42.4,"attrs":{"region":"us-east-1"}}"#,
            "\n",
            r#"{"ts":"2026-11-20T18:00:00.146Z","service":"payments-api","operation":"POST /charge","kind":"request","status":502,"latency_ms":70.6,"attrs":{"region":"eu-west-1","tier":"web"},"peer":"payment-gateway"}"#,
            "\n",
            r#"{"ts":1795197600000,"service":"payments-api","kind":"gauge","name":"db.pool.in_use","value":27,"max":100}"#,
            "\n",
            r#"{"ts":1795197600146,"service":"payments-api","kind":"transaction","outcome":"declined","amount":87.78}"#,
            "\n",
            r#"{"ts":1795197600200,"service":"payments-api","kind":"change","change":"deploy","id":"v2.3.1","text":"raise gateway timeout"}"#,
        ),
    ),
    (
        "json",
        concat!(
            r#"{"time":"2026-11-20T18:00:00.120Z","level":"error","service":"pay","route":"/charge","method":"POST","status":502,"duration_ms":153.2,"msg":"upstream failed"}"#,
            "\n",
            r#"{"ts":1795197600000,"severity":"info","status":200,"latency":0.042,"region":"eu"}"#,
        ),
    ),
    (
        "logfmt",
        "ts=2026-11-20T18:00:00.120Z level=error service=pay method=POST path=/charge status=502 duration=0.153 msg=\"upstream failed\"\ntime=1795197600000 status=200 latency_ms=42 region=eu",
    ),
    (
        "nginx",
        "10.0.0.1 - - [20/Nov/2026:18:00:00 +0000] \"POST /charge HTTP/1.1\" 502 157 \"-\" \"curl/8.5.0\" 0.153\n10.0.0.2 - bob [20/Nov/2026:18:00:01 +0000] \"GET /status?x=1 HTTP/2.0\" 200 12 \"https://example.invalid/\" \"Mozilla/5.0\"",
    ),
    (
        "apache",
        "127.0.0.1 - frank [20/Nov/2026:18:00:00 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326\n127.0.0.1 - - [20/Nov/2026:18:00:01 +0100] \"POST /charge HTTP/1.1\" 503 - \"http://example.invalid/start.html\" \"Mozilla/4.08\" 153000",
    ),
    (
        "syslog",
        "<134>Nov 20 18:00:00 web-1 nginx[123]: 10.0.0.1 \"POST /charge\" 502 0.153\n<165>1 2026-11-20T18:00:00.003Z web-1 pay 8710 ID47 [exampleSDID@32473 iut=\"3\"] status=502 latency=0.153\n<11>Nov  2 03:04:05 host app: error: connection refused",
    ),
];

/// A request in OTLP/JSON (serde's form of prost's types).
fn json(req: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(req).expect("OTLP requests serialize")
}

fn s(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn i(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(v)) }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![s("service.name", service), s("cloud.region", "eu-west-1"), s("service.tier", "web")],
        ..Default::default()
    })
}

fn span(kind: i32, attrs: Vec<KeyValue>, start_ms: u64, end_ms: u64, code: i32) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "span".into(),
        kind,
        start_time_unix_nano: T0 + start_ms * 1_000_000,
        end_time_unix_nano: T0 + end_ms * 1_000_000,
        attributes: attrs,
        status: Some(Status { message: String::new(), code }),
        ..Default::default()
    }
}

fn traces(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: resource(service),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        schema_url: String::new(),
    }
}

fn server_traces() -> ExportTraceServiceRequest {
    let attrs = vec![s("http.request.method", "POST"), s("http.route", "/charge"), i("http.response.status_code", 502)];
    ExportTraceServiceRequest { resource_spans: vec![traces("payments-api", vec![span(2, attrs, 0, 153, 0)])] }
}

fn mixed_traces() -> ExportTraceServiceRequest {
    let rpc = span(2, vec![s("rpc.service", "Pay"), s("rpc.method", "Charge"), s("region", "us")], 0, 5, 2);
    let client = span(3, vec![s("peer.service", "payment-gateway"), s("server.address", "gw")], 1, 4, 0);
    let old = span(2, vec![s("http.method", "GET"), s("http.status_code", "404")], 2, 3, 0);
    let backwards = span(2, vec![], 9, 3, 0);
    let internal = span(1, vec![], 0, 1, 0);
    let odd = span(9, vec![], 0, 1, 0);
    ExportTraceServiceRequest {
        resource_spans: vec![
            traces("checkout", vec![rpc, client, old, backwards, internal, odd]),
            ResourceSpans { resource: None, scope_spans: vec![ScopeSpans::default()], schema_url: String::new() },
        ],
    }
}

/// A request whose `ResourceSpans` has its spans before its resource on the wire.
fn resource_after_spans() -> Vec<u8> {
    let req = server_traces();
    let rs = &req.resource_spans[0];
    let mut inner = Vec::new();
    prost::encoding::message::encode(2, &rs.scope_spans[0], &mut inner);
    prost::encoding::message::encode(1, rs.resource.as_ref().expect("a resource"), &mut inner);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &inner, &mut body);
    body
}

fn number(attrs: Vec<KeyValue>, value: f64, start: u64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: start,
        time_unix_nano: T0,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric { name: name.into(), unit: unit.into(), data: Some(data), ..Default::default() }
}

/// Cumulative request histograms (explicit and exponential) at `scale` times a base count,
/// started at `start` (another start is a reset), and pool, CPU, memory and other gauges.
fn metrics(scale: u64, start: u64) -> ExportMetricsServiceRequest {
    let route = vec![s("http.route", "/pay"), s("http.request.method", "POST"), i("http.response.status_code", 500)];
    let histogram = Histogram {
        data_points: vec![HistogramDataPoint {
            attributes: route.clone(),
            start_time_unix_nano: start,
            time_unix_nano: T0,
            count: 6 * scale,
            sum: Some(0.3 * scale as f64),
            bucket_counts: vec![scale, 2 * scale, 3 * scale],
            explicit_bounds: vec![0.01, 0.1],
            ..Default::default()
        }],
        aggregation_temporality: 2,
    };
    let exponential = ExponentialHistogram {
        data_points: vec![ExponentialHistogramDataPoint {
            attributes: route,
            start_time_unix_nano: start,
            time_unix_nano: T0,
            scale: 3,
            zero_count: scale,
            positive: Some(exponential_histogram_data_point::Buckets {
                offset: -20,
                bucket_counts: vec![scale, 2 * scale],
            }),
            ..Default::default()
        }],
        aggregation_temporality: 2,
    };
    let gauge = |points| metric::Data::Gauge(Gauge { data_points: points });
    let pool = |state: &str| vec![s("db.client.connection.pool.name", "main"), s("db.client.connection.state", state)];
    let requests = metric::Data::Sum(Sum {
        data_points: vec![number(vec![s("tier", "api")], 100.0 * scale as f64, start)],
        aggregation_temporality: 2,
        is_monotonic: true,
    });
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("payments-api"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    metric("http.server.request.duration", "s", metric::Data::Histogram(histogram)),
                    metric("http.server.request.duration", "ms", metric::Data::ExponentialHistogram(exponential)),
                    metric("db.client.connection.count", "1", gauge(vec![number(pool("used"), 7.0, 0)])),
                    metric("db.client.connection.max", "1", gauge(vec![number(pool("idle"), 10.0, 0)])),
                    metric(
                        "system.cpu.utilization",
                        "1",
                        gauge(vec![
                            number(vec![s("system.cpu.state", "user"), s("cpu", "0")], 0.4, 0),
                            number(vec![s("system.cpu.state", "idle"), s("cpu", "1")], 0.5, 0),
                        ]),
                    ),
                    metric("process.memory.usage", "By", gauge(vec![number(vec![], 1e9, 0)])),
                    metric("queue.depth", "1", requests),
                ],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

/// A histogram point whose bucket counts sum past u64 (the bug of commit "bucket counts whose
/// sum overflows are rejected"), so the fuzzer starts next to it.
fn overflowing_counts() -> ExportMetricsServiceRequest {
    let mut req = metrics(1, 0);
    let metrics = &mut req.resource_metrics[0].scope_metrics[0].metrics;
    metrics.truncate(2);
    for m in metrics.iter_mut() {
        match &mut m.data {
            Some(metric::Data::Histogram(h)) => h.data_points[0].bucket_counts = vec![1 << 63, 1 << 63, 0],
            Some(metric::Data::ExponentialHistogram(h)) => h.data_points[0].zero_count = u64::MAX,
            _ => {}
        }
    }
    req
}

fn logs() -> ExportLogsServiceRequest {
    let rec = |severity_number, text: &str, attrs, body: &str| LogRecord {
        time_unix_nano: T0,
        severity_number,
        severity_text: text.into(),
        attributes: attrs,
        body: Some(AnyValue { value: Some(any_value::Value::StringValue(body.into())) }),
        ..Default::default()
    };
    let tx = vec![s("transaction.outcome", "declined"), i("transaction.amount", 420)];
    let change = vec![s("change.kind", "deploy"), s("change.id", "v2.3.1")];
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("pay"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    rec(9, "INFO", vec![], "ok"),
                    rec(17, "ERROR", vec![s("region", "us")], "failed"),
                    rec(0, "fatal", vec![], "down"),
                    rec(9, "", tx, "card declined"),
                    rec(9, "", change, "raise gateway timeout"),
                ],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(bytes)?;
    enc.finish()
}

/// A segment's bytes as the write-ahead log writes them.
fn wal_segment(records: &[(u8, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let mut wal = Wal::open(dir.path(), 1 << 20, 1 << 20)?;
    for (kind, payload) in records {
        wal.append(*kind, payload).map_err(std::io::Error::other)?;
    }
    drop(wal);
    std::fs::read(dir.path().join(format!("{:020}.wal", 1)))
}
