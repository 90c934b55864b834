//! The OTLP receiver over real sockets: raw HTTP/1.1 requests, grpcio and the OpenTelemetry Python SDK as clients.
//!
//! The Python clients come from the venv scripts/test.sh installs (`FAULTLINE_OTEL_PYTHON`, else
//! `~/.cache/faultline/venv/bin/python`); without it these tests fail and say so.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Duration;

use faultline_core::wire::DecoderConfig;
use faultline_core::{Millis, SeriesRegistry};
use faultline_ingest::otlp::{DEFAULT_GRPC_MAX_BYTES, SpanMapping};
use faultline_ingest::{BatchSender, OtlpConfig, OtlpSource, QueueDepth, Source, SourceMessage, SourceStats};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

fn clock() -> Millis {
    Millis(1_795_197_600_000)
}

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

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/otel").join(name)
}

struct Receiver_ {
    grpc: SocketAddr,
    http: SocketAddr,
    rx: Option<Receiver<SourceMessage>>,
    /// What the engine would take off on each receive.
    depth: Arc<QueueDepth>,
    stats: Arc<SourceStats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Receiver_ {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        drop(self.rx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An OTLP source on free ports with an engine queue of `queue` batches (nothing drains it
/// unless the test does).
fn receiver(queue: usize, http_max: usize) -> Receiver_ {
    let registry = Arc::new(SeriesRegistry::new(1000));
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config = OtlpConfig {
        grpc: Some(any),
        http: Some(any),
        grpc_max_bytes: DEFAULT_GRPC_MAX_BYTES,
        http_max_bytes: http_max,
        retry_after: Duration::from_millis(200),
        mapping: SpanMapping::new(&[], &[]),
        wal: None,
    };
    let source = OtlpSource::bind("otlp", config, registry, DecoderConfig::default(), clock).unwrap();
    let (grpc, http) = (source.grpc_addr().unwrap(), source.http_addr().unwrap());
    let stats = Arc::new(SourceStats::default());
    let (tx, rx) = sync_channel(queue);
    let depth = Arc::new(QueueDepth::new(queue));
    let out = BatchSender::new(0, tx, stats.clone()).with_depth(depth.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || Box::new(source).run(Default::default(), out, s));
    // The listeners are bound already; wait until the servers answer.
    for _ in 0..100 {
        if TcpStream::connect(http).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Receiver_ { grpc, http, rx: Some(rx), depth, stats, stop, thread: Some(thread) }
}

fn kv(key: &str, v: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(v) }), ..Default::default() }
}

/// `n` SERVER spans of service `pay`; the span at index `bad` (if any) ends before it starts.
fn spans(n: usize, bad: Option<usize>) -> ExportTraceServiceRequest {
    let t0 = 1_795_197_600_000_000_000u64;
    let spans = (0..n)
        .map(|i| Span {
            name: "POST /charge".into(),
            kind: 2,
            start_time_unix_nano: t0 + i as u64 * 1_000_000,
            end_time_unix_nano: if Some(i) == bad { t0 } else { t0 + i as u64 * 1_000_000 + 5_000_000 },
            attributes: vec![kv("http.route", any_value::Value::StringValue("/charge".into()))],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", any_value::Value::StringValue("pay".into()))],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
            schema_url: String::new(),
        }],
    }
}

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // A refusal may come before the whole body is sent: that is allowed.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = headers.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut body = raw[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Answer { status, headers, body }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else { return out };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

const PROTO: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Receives one batch as the engine would (taking it off the depth gauge): its event count.
fn events(rx: &Receiver<SourceMessage>, depth: &QueueDepth) -> usize {
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    depth.taken();
    match got {
        SourceMessage::Batch { batch, .. } => batch.events.len(),
        other => panic!("unexpected {other:?}"),
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn status_of(body: &[u8]) -> tonic_types::pb::Status {
    tonic_types::pb::Status::decode(body).expect("a google.rpc.Status body")
}

#[test]
fn http_protobuf_json_gzip_partial_success_limits_and_media_types() {
    let r = receiver(16, 1 << 20);
    let rx = r.rx.as_ref().unwrap();

    let a = post(r.http, "/v1/traces", &[PROTO], &spans(3, None).encode_to_vec());
    assert_eq!(a.status, 200, "{}", a.headers);
    assert!(a.headers.contains("application/x-protobuf"));
    assert_eq!(ExportTraceServiceResponse::decode(&a.body[..]).unwrap().partial_success, None);
    assert_eq!(events(rx, &r.depth), 3);

    // One bad span: the rest is applied, and the answer says how many and why.
    let a = post(r.http, "/v1/traces", &[PROTO], &spans(4, Some(1)).encode_to_vec());
    assert_eq!(a.status, 200);
    let p = ExportTraceServiceResponse::decode(&a.body[..]).unwrap().partial_success.unwrap();
    assert_eq!(p.rejected_spans, 1);
    assert!(p.error_message.contains("span 2") && p.error_message.contains("ends before it starts"), "{p:?}");
    assert_eq!(events(rx, &r.depth), 3);

    let a = post(r.http, "/v1/traces", &[PROTO, ("Content-Encoding", "gzip")], &gzip(&spans(2, None).encode_to_vec()));
    assert_eq!(a.status, 200);
    assert_eq!(events(rx, &r.depth), 2);

    // OTLP/JSON as the specification writes it: hex ids, integer enums, int64 as strings.
    let json = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"pay"}}]},
        "scopeSpans":[{"scope":{"name":"t"},"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
        "name":"GET /x","kind":2,"startTimeUnixNano":"1795197600000000000","endTimeUnixNano":"1795197600012000000",
        "attributes":[{"key":"http.response.status_code","value":{"intValue":"503"}}],"status":{"code":2}}]}]}]}"#;
    let a = post(r.http, "/v1/traces", &[JSON], json.as_bytes());
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.headers.contains("application/json"));
    assert_eq!(a.body, b"{}");
    assert_eq!(events(rx, &r.depth), 1);
    let a = post(
        r.http,
        "/v1/traces",
        &[JSON],
        br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":2,"endTimeUnixNano":"5"}]}]}]}"#,
    );
    let j: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(j["partialSuccess"]["rejectedSpans"], "1", "{j}");
    assert!(j["partialSuccess"]["errorMessage"].as_str().unwrap().contains("service.name"));
    assert_eq!(events(rx, &r.depth), 0);

    // An empty request succeeds.
    let a = post(r.http, "/v1/traces", &[PROTO], b"");
    assert_eq!(a.status, 200);
    assert_eq!(events(rx, &r.depth), 0);

    // Not protobuf: 400 with a google.rpc.Status, not retried.
    let a = post(r.http, "/v1/traces", &[PROTO], &[0x0a, 0x05, 0x01]);
    assert_eq!(a.status, 400);
    assert_eq!(status_of(&a.body).code, 3);
    let a = post(r.http, "/v1/traces", &[JSON], b"{not json");
    assert_eq!(a.status, 400);
    let j: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(j["code"], 3);

    // Too large, plainly or after inflating (a gzip bomb is cut at the limit).
    let a = post(r.http, "/v1/traces", &[PROTO], &vec![0u8; (1 << 20) + 1]);
    assert_eq!(a.status, 413);
    let bomb = gzip(&vec![0u8; 50 << 20]);
    assert!(bomb.len() < 1 << 20);
    let a = post(r.http, "/v1/traces", &[PROTO, ("Content-Encoding", "gzip")], &bomb);
    assert_eq!(a.status, 413);
    assert_eq!(status_of(&a.body).code, 8);

    let a = post(r.http, "/v1/traces", &[("Content-Type", "text/plain")], b"x");
    assert_eq!(a.status, 415);
    let a = post(r.http, "/v1/traces", &[PROTO, ("Content-Encoding", "br")], b"x");
    assert_eq!(a.status, 415);
    assert!(rx.try_recv().is_err(), "no refused request reached the engine");
}

#[test]
fn a_full_queue_is_answered_retryable_with_a_delay_and_nothing_is_taken() {
    let r = receiver(1, 1 << 20);
    let rx = r.rx.as_ref().unwrap();
    let body = spans(2, None).encode_to_vec();
    assert_eq!(post(r.http, "/v1/traces", &[PROTO], &body).status, 200);
    // The queue holds one batch and nothing drains it.
    let a = post(r.http, "/v1/traces", &[PROTO], &body);
    assert_eq!(a.status, 503, "{}", a.headers);
    assert!(a.headers.to_ascii_lowercase().contains("retry-after: 1"), "{}", a.headers);
    let st = status_of(&a.body);
    assert_eq!(st.code, 14);
    assert!(st.details[0].type_url.ends_with("google.rpc.RetryInfo"));
    let a = post(r.http, "/v1/traces", &[JSON], b"{}");
    assert_eq!(a.status, 503);

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &body).unwrap();
    let probe = |extra: &[&str]| -> serde_json::Value {
        let out = Command::new(python())
            .arg(script("grpc_probe.py"))
            .arg(r.grpc.to_string())
            .arg(file.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let g = probe(&[]);
    assert_eq!(g["code"], "UNAVAILABLE", "{g}");
    assert_eq!(g["retry_delay"], 0.2, "{g}");

    // Drained, the same request over gRPC (gzip) is taken.
    assert_eq!(events(rx, &r.depth), 2);
    let g = probe(&["gzip"]);
    assert_eq!(g["code"], "OK", "{g}");
    assert_eq!(events(rx, &r.depth), 2);

    // Too large for gRPC: RESOURCE_EXHAUSTED, and not protobuf: INVALID_ARGUMENT.
    std::fs::write(file.path(), vec![0u8; DEFAULT_GRPC_MAX_BYTES + 1]).unwrap();
    assert_eq!(probe(&[])["code"], "RESOURCE_EXHAUSTED");
    std::fs::write(file.path(), [0x0a, 0x05, 0x01]).unwrap();
    assert_eq!(probe(&[])["code"], "INVALID_ARGUMENT");
}

/// The SDK, pushed back by a slow engine, retries until every span is taken, and none twice.
#[test]
fn the_sdk_retries_through_push_back_and_every_span_counts_once() {
    for transport in ["grpc", "http"] {
        let mut r = receiver(1, 1 << 20);
        let rx = r.rx.take().unwrap();
        let depth = r.depth.clone();
        let counted = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        std::thread::scope(|scope| {
            let (counting, stopping) = (counted.clone(), done.clone());
            scope.spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    if let Ok(SourceMessage::Batch { batch, .. }) = rx.recv_timeout(Duration::from_millis(50)) {
                        depth.taken();
                        counting.fetch_add(batch.events.len() as u64, Ordering::Relaxed);
                        // A slow engine: the queue of one stays full most of the time.
                        std::thread::sleep(Duration::from_millis(150));
                    }
                }
            });
            let endpoint = match transport {
                "grpc" => format!("http://{}", r.grpc),
                _ => format!("http://{}", r.http),
            };
            let out = Command::new(python())
                .arg(script("payments.py"))
                .args([transport, &endpoint, "60", "100"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(report["acknowledged"], 6000, "{transport}: {report}");
            // Everything acknowledged is in the queue or already counted.
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while counted.load(Ordering::Relaxed) < 6000 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(300));
            done.store(true, Ordering::Release);
        });
        assert_eq!(counted.load(Ordering::Relaxed), 6000, "{transport}");
        let refused = r.stats.refused_busy.load(Ordering::Relaxed);
        assert!(refused > 0, "{transport}: the engine never pushed back, so nothing was retried");
    }
}

#[test]
fn metrics_over_http_and_grpc_become_gauges_with_partial_success() {
    use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsServiceRequest, ExportMetricsServiceResponse,
    };
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
    };
    let r = receiver(16, 1 << 20);
    let rx = r.rx.as_ref().unwrap();
    let point = |v: f64| NumberDataPoint {
        time_unix_nano: 1_795_197_600_000_000_000,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let req = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![kv("service.name", any_value::Value::StringValue("pay".into()))],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "system.cpu.utilization".into(),
                    data: Some(metric::Data::Gauge(Gauge { data_points: vec![point(0.9), point(f64::INFINITY)] })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            schema_url: String::new(),
        }],
    };
    let a = post(r.http, "/v1/metrics", &[PROTO], &req.encode_to_vec());
    assert_eq!(a.status, 200);
    let p = ExportMetricsServiceResponse::decode(&a.body[..]).unwrap().partial_success.unwrap();
    assert_eq!(p.rejected_data_points, 1, "{p:?}");
    assert_eq!(events(rx, &r.depth), 1);

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), req.encode_to_vec()).unwrap();
    let out = Command::new(python())
        .arg(script("grpc_probe.py"))
        .arg(r.grpc.to_string())
        .arg(file.path())
        .arg("plain")
        .arg("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(g["code"], "OK", "{g}");
    let answer = ExportMetricsServiceResponse::decode(&*hex(g["response"].as_str().unwrap())).unwrap();
    assert_eq!(answer.partial_success.map(|p| p.rejected_data_points), Some(1));
    assert_eq!(events(rx, &r.depth), 1);
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn logs_over_http_json_count_error_records() {
    let r = receiver(16, 1 << 20);
    let rx = r.rx.as_ref().unwrap();
    let json = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"pay"}}]},
        "scopeLogs":[{"logRecords":[
          {"timeUnixNano":"1795197600000000000","severityNumber":17,"body":{"stringValue":"charge failed"}},
          {"timeUnixNano":"1795197600001000000","severityNumber":9},
          {"severityNumber":9}]}]}]}"#;
    let a = post(r.http, "/v1/logs", &[JSON], json.as_bytes());
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let j: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(j["partialSuccess"]["rejectedLogRecords"], "1", "{j}");
    assert_eq!(events(rx, &r.depth), 2);
}
