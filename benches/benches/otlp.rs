//! OTLP to recorded events: spans through the selective wire walk against prost's owned decode
//! (the reference path, and what PERF.md's floor measures), both into the same engine; metric
//! data points and log records through prost's decode and their mappings.
//!
//! Traces: one `ExportTraceServiceRequest` of 1,000 typical HTTP SERVER spans (10 attributes,
//! ~500 B each) over 10 services × 10 routes; figures are spans per second. Metrics: one
//! `ExportMetricsServiceRequest` of 10 services, each with a delta `http.server.request.duration`
//! histogram point per route (10 routes, 15 buckets, 50 requests a point), the pool's used, idle
//! and max counts, 4 CPU states and the process memory: 180 points, figures in points per
//! second. Logs: 1,000 records (1 in 10 an error) of 10 services, in records per second.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_core::watermark::InputId;
use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{Engine, EngineConfig, SeriesRegistry};
use faultline_ingest::SourceBatch;
use faultline_ingest::otlp::metrics::Streams;
use faultline_ingest::otlp::{SpanMapping, decode_traces, map_traces};
use faultline_ingest::otlp::{map_logs, map_metrics};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric,
    number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;

const SPANS: usize = 1000;

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

/// Ten resources (services) of 100 spans each, every span with 10 attributes.
fn request() -> Vec<u8> {
    let t0 = 1_795_197_600_000_000_000u64;
    let resource_spans = (0..10)
        .map(|svc| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    s("service.name", &format!("service-{svc:03}")),
                    s("service.version", "2.3.1"),
                    s("cloud.region", "eu-west-1"),
                    s("host.name", "ip-10-0-3-17"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans: (0..SPANS / 10)
                    .map(|n| {
                        let route = format!("/api/v1/route-{}", n % 10);
                        let code = if n % 97 == 0 { 503 } else { 200 };
                        Span {
                            trace_id: vec![n as u8; 16],
                            span_id: vec![svc as u8; 8],
                            parent_span_id: vec![1; 8],
                            name: format!("GET {route}"),
                            kind: 2,
                            start_time_unix_nano: t0 + n as u64 * 1_000_000,
                            end_time_unix_nano: t0 + n as u64 * 1_000_000 + 23_000_000 + n as u64 * 7_919,
                            attributes: vec![
                                s("http.request.method", "GET"),
                                s("http.route", &route),
                                i("http.response.status_code", code),
                                s("url.scheme", "https"),
                                s("url.path", &format!("{route}/12345")),
                                s("server.address", "api.example.com"),
                                i("server.port", 443),
                                s("network.protocol.version", "1.1"),
                                s("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"),
                                s("client.address", "203.0.113.9"),
                            ],
                            status: Some(Status { message: String::new(), code: if code >= 500 { 2 } else { 0 } }),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            schema_url: String::new(),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

fn resource(svc: usize) -> Option<Resource> {
    Some(Resource {
        attributes: vec![s("service.name", &format!("service-{svc:03}")), s("cloud.region", "eu-west-1")],
        ..Default::default()
    })
}

const METRIC_POINTS: usize = 10 * (10 + 3 + 4 + 1);

/// Ten services' metrics as one SDK collection exports them (delta temporality).
fn metrics_request() -> Vec<u8> {
    let t0 = 1_795_197_600_000_000_000u64;
    let number = |attrs: Vec<KeyValue>, v: f64| NumberDataPoint {
        attributes: attrs,
        start_time_unix_nano: t0 - 10_000_000_000,
        time_unix_nano: t0,
        value: Some(number_data_point::Value::AsDouble(v)),
        ..Default::default()
    };
    let gauge = |name: &str, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(Gauge { data_points: points })),
        ..Default::default()
    };
    let sum = |name: &str, points: Vec<NumberDataPoint>| Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum { data_points: points, aggregation_temporality: 1, is_monotonic: false })),
        ..Default::default()
    };
    let bounds = vec![0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
    let resource_metrics = (0..10)
        .map(|svc| {
            let histogram = Metric {
                name: "http.server.request.duration".into(),
                unit: "s".into(),
                data: Some(metric::Data::Histogram(Histogram {
                    data_points: (0..10)
                        .map(|r| {
                            let mut counts = vec![0u64; bounds.len() + 1];
                            for (k, c) in [(2, 20), (3, 18), (4, 8), (6, 3), (9, 1)] {
                                counts[k] = c;
                            }
                            HistogramDataPoint {
                                attributes: vec![
                                    s("http.route", &format!("/api/v1/route-{r}")),
                                    s("http.request.method", "GET"),
                                    i("http.response.status_code", if r == 7 { 503 } else { 200 }),
                                ],
                                start_time_unix_nano: t0 - 10_000_000_000,
                                time_unix_nano: t0,
                                count: counts.iter().sum(),
                                sum: Some(2.1),
                                bucket_counts: counts,
                                explicit_bounds: bounds.clone(),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    aggregation_temporality: 1,
                })),
                ..Default::default()
            };
            let pool = |state: &str, v: f64| {
                number(vec![s("db.client.connection.pool.name", "main"), s("db.client.connection.state", state)], v)
            };
            let cpu = |state: &str, v: f64| {
                number(vec![s("system.cpu.state", state), s("system.cpu.logical_number", "0")], v)
            };
            ResourceMetrics {
                resource: resource(svc),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![
                        histogram,
                        sum("db.client.connection.count", vec![pool("used", 37.0), pool("idle", 63.0)]),
                        sum(
                            "db.client.connection.max",
                            vec![number(vec![s("db.client.connection.pool.name", "main")], 100.0)],
                        ),
                        gauge(
                            "system.cpu.utilization",
                            vec![cpu("user", 0.31), cpu("system", 0.07), cpu("iowait", 0.01), cpu("idle", 0.61)],
                        ),
                        sum("process.memory.usage", vec![number(vec![], 512e6)]),
                    ],
                    ..Default::default()
                }],
                schema_url: String::new(),
            }
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }.encode_to_vec()
}

const LOG_RECORDS: usize = 1000;

/// Ten services' log records, one in ten an error.
fn logs_request() -> Vec<u8> {
    let t0 = 1_795_197_600_000_000_000u64;
    let resource_logs = (0..10)
        .map(|svc| ResourceLogs {
            resource: resource(svc),
            scope_logs: vec![ScopeLogs {
                log_records: (0..LOG_RECORDS / 10)
                    .map(|n| {
                        let error = n % 10 == 0;
                        LogRecord {
                            time_unix_nano: t0 + n as u64 * 1_000_000,
                            severity_number: if error { 17 } else { 9 },
                            severity_text: if error { "ERROR" } else { "INFO" }.into(),
                            body: Some(AnyValue {
                                value: Some(any_value::Value::StringValue(format!(
                                    "GET /api/v1/route-{} answered in {} ms",
                                    n % 10,
                                    20 + n
                                ))),
                            }),
                            attributes: vec![
                                s("http.route", &format!("/api/v1/route-{}", n % 10)),
                                s("thread.name", "worker-3"),
                            ],
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            schema_url: String::new(),
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

fn bench_metrics_and_logs(c: &mut Criterion) {
    let mapping = SpanMapping::new(&["region".to_string()], &[]);
    let config = DecoderConfig { dims: vec!["region".into()], ..Default::default() };
    let steady = || {
        let reg = Arc::new(SeriesRegistry::new(100_000));
        (Decoder::new(reg, config.clone()), Engine::new(EngineConfig::default()), SourceBatch::default())
    };
    let body = metrics_request();
    let mut g = c.benchmark_group("otlp/export_metrics_180_points");
    g.throughput(Throughput::Elements(METRIC_POINTS as u64));
    g.bench_function("baseline_prost_decode_and_drop", |b| {
        b.iter(|| black_box(ExportMetricsServiceRequest::decode(&body[..]).expect("valid").resource_metrics.len()))
    });
    let (mut d, mut e, mut batch) = steady();
    let mut streams = Streams::default();
    g.bench_function("prost_decode_map_record", |b| {
        b.iter(|| {
            batch.events.clear();
            let req = ExportMetricsServiceRequest::decode(&body[..]).expect("valid");
            let summary = map_metrics(&req, &mut d, &mapping, &mut streams, None, &mut batch);
            debug_assert_eq!(summary.rejected, 0);
            e.record(InputId(0), &batch.events);
            black_box(batch.events.len())
        })
    });
    g.finish();
    let body = logs_request();
    let mut g = c.benchmark_group("otlp/export_logs_1000_records");
    g.throughput(Throughput::Elements(LOG_RECORDS as u64));
    g.bench_function("baseline_prost_decode_and_drop", |b| {
        b.iter(|| black_box(ExportLogsServiceRequest::decode(&body[..]).expect("valid").resource_logs.len()))
    });
    let (mut d, mut e, mut batch) = steady();
    g.bench_function("prost_decode_map_record", |b| {
        b.iter(|| {
            batch.events.clear();
            let req = ExportLogsServiceRequest::decode(&body[..]).expect("valid");
            map_logs(&req, &mut d, &mapping, None, &mut batch);
            e.record(InputId(0), &batch.events);
            black_box(batch.events.len())
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let body = request();
    let mapping = SpanMapping::new(&["region".to_string()], &[]);
    let config = DecoderConfig { dims: vec!["region".into()], ..Default::default() };
    let mut g = c.benchmark_group("otlp/export_trace_1000_http_server_spans");
    g.throughput(Throughput::Elements(SPANS as u64));
    g.bench_function("baseline_prost_decode_and_drop", |b| {
        b.iter(|| black_box(ExportTraceServiceRequest::decode(&body[..]).expect("valid").resource_spans.len()))
    });
    // Steady state: one decoder (its label cache warm after the first request) and one engine
    // whose windows stay open (every request carries the same times), as a live receiver runs.
    let steady = || {
        let reg = Arc::new(SeriesRegistry::new(100_000));
        (Decoder::new(reg, config.clone()), Engine::new(EngineConfig::default()), SourceBatch::default())
    };
    let (mut d, mut e, mut batch) = steady();
    g.bench_function("prost_decode_map_record", |b| {
        b.iter(|| {
            batch.events.clear();
            let req = ExportTraceServiceRequest::decode(&body[..]).expect("valid");
            map_traces(&req, &mut d, &mapping, None, &mut batch);
            e.record(InputId(0), &batch.events);
            black_box(batch.events.len())
        })
    });
    let (mut d, mut e, mut batch) = steady();
    g.bench_function("selective_walk_map_record", |b| {
        b.iter(|| {
            batch.events.clear();
            decode_traces(&body, &mut d, &mapping, None, &mut batch).expect("valid");
            e.record(InputId(0), &batch.events);
            black_box(batch.events.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_metrics_and_logs);
criterion_main!(benches);
