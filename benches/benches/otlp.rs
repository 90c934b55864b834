//! OTLP spans to recorded events: the selective wire walk against prost's owned decode (the
//! reference path, and what PERF.md's floor measures), both into the same engine.
//!
//! One `ExportTraceServiceRequest` of 1,000 typical HTTP SERVER spans (10 attributes, ~500 B
//! each) over 100 services × 10 routes; figures are spans per second.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_core::watermark::InputId;
use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{Engine, EngineConfig, SeriesRegistry};
use faultline_ingest::SourceBatch;
use faultline_ingest::otlp::{SpanMapping, decode_traces, map_traces};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
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

criterion_group!(benches, bench);
criterion_main!(benches);
