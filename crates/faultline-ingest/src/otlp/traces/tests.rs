//! Tests of the span mapping: the selective walk against prost's decode, and spans against JSON lines.

use std::sync::Arc;

use faultline_core::event::{EventBody, Request};
use faultline_core::wire::DecoderConfig;
use faultline_core::{SeriesKey, SeriesKind, SeriesRegistry};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use proptest::prelude::*;
use prost::Message;

use super::*;

fn config() -> DecoderConfig {
    DecoderConfig { dims: vec!["region".into()], count_4xx_as_errors: false, future_horizon: None }
}

fn mapping() -> SpanMapping {
    SpanMapping::new(&config().dims, &[])
}

fn decoder(registry: &Arc<SeriesRegistry>) -> Decoder {
    Decoder::new(registry.clone(), config())
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

fn request(resource: Vec<KeyValue>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope { name: "test".into(), ..Default::default() }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn server_span(attrs: Vec<KeyValue>, start: u64, end: u64, status_code: i32) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "span name".into(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attrs,
        status: Some(Status { message: String::new(), code: status_code }),
        ..Default::default()
    }
}

/// Both paths over one request: (events as label sets and bodies, summary) each.
type Decoded = (Vec<(i64, SeriesKey, EventBody)>, TraceSummary, Vec<(faultline_core::RejectReason, u64)>);

fn both(req: &ExportTraceServiceRequest) -> (Decoded, Decoded) {
    let registry = Arc::new(SeriesRegistry::new(10_000));
    let bytes = req.encode_to_vec();
    let named = |batch: &SourceBatch| {
        batch.events.iter().map(|e| (e.ts.0, (*registry.key(e.series)).clone(), e.body.clone())).collect::<Vec<_>>()
    };
    let mut fast = SourceBatch::default();
    let fs = decode_traces(&bytes, &mut decoder(&registry), &mapping(), None, &mut fast).unwrap();
    let mut slow = SourceBatch::default();
    let decoded = ExportTraceServiceRequest::decode(&bytes[..]).unwrap();
    let ss = map_traces(&decoded, &mut decoder(&registry), &mapping(), None, &mut slow);
    let fr = fast.rejects.iter().collect();
    let sr = slow.rejects.iter().collect();
    ((named(&fast), fs, fr), (named(&slow), ss, sr))
}

#[test]
fn a_server_span_is_the_json_line_with_the_same_content() {
    let registry = Arc::new(SeriesRegistry::new(100));
    let attrs = vec![
        s("http.request.method", "POST"),
        s("http.route", "/charge"),
        i("http.response.status_code", 502),
        s("cloud.region", "eu-west-1"),
    ];
    let req =
        request(vec![s("service.name", "payments-api")], vec![server_span(attrs, 1_000_000_000, 1_530_000_000, 0)]);
    let mut batch = SourceBatch::default();
    let summary = decode_traces(&req.encode_to_vec(), &mut decoder(&registry), &mapping(), None, &mut batch).unwrap();
    assert_eq!((summary.spans, summary.rejected, summary.ignored), (1, 0, 0));
    let line = r#"{"ts":1530,"service":"payments-api","operation":"POST /charge","kind":"request","status":502,"latency_ms":530.0,"attrs":{"region":"eu-west-1"}}"#;
    let mut json = Vec::new();
    decoder(&registry).decode_line(1, line.as_bytes(), None, &mut json).unwrap();
    assert_eq!(batch.events, json);
    assert_eq!(batch.events[0].body, EventBody::Request(Request { latency_us: Some(530_000), is_error: true }));
    let key = registry.key(batch.events[0].series);
    assert_eq!(*key, SeriesKey::new(SeriesKind::Request, "payments-api", "POST /charge", &["eu-west-1"]));
}

#[test]
fn operations_clients_and_ignored_kinds() {
    let registry = Arc::new(SeriesRegistry::new(100));
    let mut rpc = server_span(vec![s("rpc.service", "Pay"), s("rpc.method", "Charge")], 1, 2, 2);
    rpc.name = "ignored".into();
    let named = server_span(vec![], 1, 2, 0);
    let mut client = server_span(vec![s("peer.service", "payment-gateway"), s("server.address", "gw.local")], 1, 2, 0);
    client.kind = 3;
    let mut bare_client = server_span(vec![], 1, 2, 0);
    bare_client.kind = 3;
    let mut internal = server_span(vec![], 1, 2, 0);
    internal.kind = 1;
    let req = request(vec![s("service.name", "checkout")], vec![rpc, named, client, bare_client, internal]);
    let mut batch = SourceBatch::default();
    let summary = decode_traces(&req.encode_to_vec(), &mut decoder(&registry), &mapping(), None, &mut batch).unwrap();
    assert_eq!((summary.spans, summary.rejected, summary.ignored), (5, 0, 2));
    let keys: Vec<SeriesKey> = batch.events.iter().map(|e| (*registry.key(e.series)).clone()).collect();
    assert_eq!(
        keys,
        vec![
            SeriesKey::new(SeriesKind::Request, "checkout", "Pay/Charge", &[""]),
            SeriesKey::new(SeriesKind::Request, "checkout", "span name", &[""]),
            SeriesKey::new(SeriesKind::Dependency, "checkout", "payment-gateway", &[""]),
        ]
    );
    assert_eq!(batch.events[0].body, EventBody::Request(Request { latency_us: Some(0), is_error: true }));
}

#[test]
fn bad_spans_are_rejected_one_by_one_and_the_rest_applied() {
    let registry = Arc::new(SeriesRegistry::new(100));
    let good = server_span(vec![s("http.route", "/a")], 5_000_000, 9_000_000, 0);
    let backwards = server_span(vec![], 9_000_000, 5_000_000, 0);
    let no_end = server_span(vec![], 1, 0, 0);
    let mut odd_kind = server_span(vec![], 1, 2, 0);
    odd_kind.kind = 9;
    let bad_status = server_span(vec![i("http.response.status_code", 999)], 1, 2, 0);
    let req = request(vec![s("service.name", "api")], vec![good, backwards, no_end, odd_kind, bad_status]);
    let mut batch = SourceBatch::default();
    let summary = decode_traces(&req.encode_to_vec(), &mut decoder(&registry), &mapping(), None, &mut batch).unwrap();
    assert_eq!((summary.spans, summary.rejected, batch.events.len()), (5, 4, 1));
    assert_eq!(
        summary.errors,
        vec![
            "span 2: field `end_time_unix_nano`: negative: the span ends before it starts",
            "span 3: field `end_time_unix_nano`: missing_field: the span has no end time",
            "span 4: field `kind`: unknown_kind: span kind 9 is not one of 0–5",
            "span 5: field `status`: invalid_field: 999 is not an HTTP status (100–599)",
        ]
    );
    let no_service = request(vec![s("host.name", "h")], vec![server_span(vec![], 1, 2, 0)]);
    let mut batch = SourceBatch::default();
    let summary =
        decode_traces(&no_service.encode_to_vec(), &mut decoder(&registry), &mapping(), None, &mut batch).unwrap();
    assert_eq!(summary.errors, vec!["span 1: field `service.name`: missing_field: the resource has no service.name"]);
}

#[test]
fn malformed_protobuf_is_refused_whole() {
    let registry = Arc::new(SeriesRegistry::new(100));
    let req = request(vec![s("service.name", "api")], vec![server_span(vec![], 1, 2, 0)]);
    let bytes = req.encode_to_vec();
    for cut in [1, bytes.len() / 2, bytes.len() - 1] {
        let mut batch = SourceBatch::default();
        let r = decode_traces(&bytes[..cut], &mut decoder(&registry), &mapping(), None, &mut batch);
        assert!(r.is_err(), "cut at {cut} of {}", bytes.len());
        assert!(ExportTraceServiceRequest::decode(&bytes[..cut]).is_err());
    }
}

#[test]
fn the_resource_may_follow_its_spans_on_the_wire() {
    let req =
        request(vec![s("service.name", "api"), s("cloud.region", "us")], vec![server_span(vec![], 1, 2_000_000, 0)]);
    let rs = &req.resource_spans[0];
    // Hand-order the ResourceSpans fields: scope_spans (2) before resource (1).
    let mut inner = Vec::new();
    prost::encoding::message::encode(2, &rs.scope_spans[0], &mut inner);
    prost::encoding::message::encode(1, rs.resource.as_ref().unwrap(), &mut inner);
    let mut body = Vec::new();
    prost::encoding::bytes::encode(1, &inner, &mut body);
    let registry = Arc::new(SeriesRegistry::new(100));
    let mut batch = SourceBatch::default();
    decode_traces(&body, &mut decoder(&registry), &mapping(), None, &mut batch).unwrap();
    let key = registry.key(batch.events[0].series);
    assert_eq!(*key, SeriesKey::new(SeriesKind::Request, "api", "span name", &["us"]));
}

fn arb_value() -> impl Strategy<Value = Option<AnyValue>> {
    prop_oneof![
        Just(None),
        "[a-z/ ]{0,6}".prop_map(|v| Some(AnyValue { value: Some(any_value::Value::StringValue(v)) })),
        (-2i64..700).prop_map(|v| Some(AnyValue { value: Some(any_value::Value::IntValue(v)) })),
        any::<bool>().prop_map(|v| Some(AnyValue { value: Some(any_value::Value::BoolValue(v)) })),
        Just(Some(AnyValue { value: None })),
    ]
}

fn arb_attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    let keys = prop_oneof![
        Just("service.name"),
        Just("http.route"),
        Just("http.request.method"),
        Just("http.method"),
        Just("rpc.service"),
        Just("rpc.method"),
        Just("http.response.status_code"),
        Just("http.status_code"),
        Just("peer.service"),
        Just("server.address"),
        Just("cloud.region"),
        Just("region"),
        Just("other"),
    ];
    proptest::collection::vec((keys, arb_value()), 0..6).prop_map(|kv| {
        kv.into_iter().map(|(k, value)| KeyValue { key: k.into(), value, ..Default::default() }).collect()
    })
}

fn arb_span() -> impl Strategy<Value = Span> {
    (arb_attrs(), -1i32..8, 0u64..3_000_000_000, 0u64..3_000_000_000, 0i32..4, "[a-z]{0,4}").prop_map(
        |(attributes, kind, start, end, code, name)| Span {
            name,
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            attributes,
            status: (code < 3).then_some(Status { message: String::new(), code }),
            ..Default::default()
        },
    )
}

fn arb_request() -> impl Strategy<Value = ExportTraceServiceRequest> {
    let rs = (
        proptest::option::of(arb_attrs()),
        proptest::collection::vec(proptest::collection::vec(arb_span(), 0..4), 0..3),
    )
        .prop_map(|(resource, scopes)| ResourceSpans {
            resource: resource.map(|attributes| Resource { attributes, ..Default::default() }),
            scope_spans: scopes.into_iter().map(|spans| ScopeSpans { spans, ..Default::default() }).collect(),
            schema_url: String::new(),
        });
    proptest::collection::vec(rs, 0..3).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The selective walk and prost's decode give the same events, rejects and counts.
    #[test]
    fn the_selective_walk_equals_prosts_decode(req in arb_request()) {
        let (fast, slow) = both(&req);
        prop_assert_eq!(fast, slow);
    }

    /// On any bytes prost accepts, the walk accepts too and agrees; it never panics.
    #[test]
    fn arbitrary_bytes_never_panic_and_agree_where_prost_decodes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let registry = Arc::new(SeriesRegistry::new(1000));
        let mut fast = SourceBatch::default();
        let walked = decode_traces(&bytes, &mut decoder(&registry), &mapping(), None, &mut fast);
        if let Ok(req) = ExportTraceServiceRequest::decode(&bytes[..]) {
            let mut slow = SourceBatch::default();
            let summary = map_traces(&req, &mut decoder(&registry), &mapping(), None, &mut slow);
            prop_assert_eq!(walked.ok(), Some(summary));
            prop_assert_eq!(fast.events, slow.events);
        }
    }
}
