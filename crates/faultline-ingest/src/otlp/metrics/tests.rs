//! Tests of the metrics mapping: histograms to requests, deltas of cumulative streams, pool and CPU gauges.

use std::sync::Arc;

use faultline_core::event::{EventBody, Gauge, Request};
use faultline_core::wire::DecoderConfig;
use faultline_core::{SeriesKey, SeriesKind, SeriesRegistry};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge as OtlpGauge, Histogram, HistogramDataPoint, Metric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, exponential_histogram_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::*;

fn kv(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }),
        ..Default::default()
    }
}

fn ikv(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(any_value::Value::IntValue(v)) }),
        ..Default::default()
    }
}

fn request(service: Option<&str>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: service.map(|s| vec![kv("service.name", s), kv("cloud.region", "eu")]).unwrap_or_default(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            schema_url: String::new(),
        }],
    }
}

fn histogram(temporality: i32, start: u64, counts: Vec<u64>, status: i64) -> Metric {
    Metric {
        name: "http.server.request.duration".into(),
        unit: "s".into(),
        data: Some(metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![
                    kv("http.route", "/pay"),
                    kv("http.request.method", "POST"),
                    ikv("http.response.status_code", status),
                ],
                start_time_unix_nano: start,
                time_unix_nano: 1_795_197_610_000_000_000,
                count: counts.iter().fold(0, |sum, c| sum.wrapping_add(*c)),
                bucket_counts: counts,
                explicit_bounds: vec![0.01, 0.1],
                ..Default::default()
            }],
            aggregation_temporality: temporality,
        })),
        ..Default::default()
    }
}

fn number(attrs: Vec<KeyValue>, value: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes: attrs,
        time_unix_nano: 1_795_197_610_000_000_000,
        value: Some(number_data_point::Value::AsDouble(value)),
        ..Default::default()
    }
}

fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(metric::Data::Gauge(OtlpGauge { data_points: points })),
        ..Default::default()
    }
}

struct Run {
    registry: Arc<SeriesRegistry>,
    decoder: Decoder,
    mapping: SpanMapping,
    streams: Streams,
}

impl Run {
    fn new() -> Run {
        let registry = Arc::new(SeriesRegistry::new(1000));
        let config = DecoderConfig { dims: vec!["region".into()], ..Default::default() };
        let mapping = SpanMapping::new(&config.dims, &[]);
        Run { decoder: Decoder::new(registry.clone(), config), registry, mapping, streams: Streams::default() }
    }

    fn map(&mut self, req: &ExportMetricsServiceRequest) -> (Vec<(SeriesKey, EventBody)>, TraceSummary) {
        let mut batch = SourceBatch::default();
        let s = map_metrics(req, &mut self.decoder, &self.mapping, &mut self.streams, None, &mut batch);
        let events = batch.events.iter().map(|e| ((*self.registry.key(e.series)).clone(), e.body.clone())).collect();
        (events, s)
    }
}

#[test]
fn a_delta_histogram_is_its_requests_at_the_bucket_middles() {
    let mut r = Run::new();
    let (events, s) = r.map(&request(Some("pay"), vec![histogram(1, 0, vec![2, 1, 1], 503)]));
    assert_eq!((s.spans, s.rejected), (1, 0));
    let key = SeriesKey::new(SeriesKind::Request, "pay", "POST /pay", &["eu"]);
    let latencies: Vec<Option<u64>> = events
        .iter()
        .map(|(k, b)| {
            assert_eq!(*k, key);
            let EventBody::Request(Request { latency_us, is_error }) = b else { panic!("{b:?}") };
            assert!(is_error);
            *latency_us
        })
        .collect();
    // [0, 10 ms) at 5 ms, [10, 100 ms) at 55 ms, the overflow bucket at its lower bound.
    assert_eq!(latencies, vec![Some(5_000), Some(5_000), Some(55_000), Some(100_000)]);
}

#[test]
fn cumulative_streams_become_deltas_with_a_baseline_and_resets() {
    let mut r = Run::new();
    let (events, _) = r.map(&request(Some("pay"), vec![histogram(2, 7, vec![10, 0, 0], 200)]));
    assert!(events.is_empty(), "the first cumulative point is the baseline");
    let (events, _) = r.map(&request(Some("pay"), vec![histogram(2, 7, vec![13, 1, 0], 200)]));
    assert_eq!(events.len(), 4);
    // A new start time: a reset, everything since it is new.
    let (events, _) = r.map(&request(Some("pay"), vec![histogram(2, 9, vec![2, 0, 0], 200)]));
    assert_eq!(events.len(), 2);
    // A count going down is a reset too.
    let (events, _) = r.map(&request(Some("pay"), vec![histogram(2, 9, vec![1, 0, 0], 200)]));
    assert_eq!(events.len(), 1);
    let monotonic = |v: f64| Metric {
        name: "orders.count".into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![number(vec![], v)],
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    };
    assert!(r.map(&request(Some("pay"), vec![monotonic(100.0)])).0.is_empty());
    let (events, _) = r.map(&request(Some("pay"), vec![monotonic(130.0)]));
    assert_eq!(events[0].1, EventBody::Gauge(Gauge { value: 30.0, max: None }));
}

#[test]
fn a_new_attribute_set_that_began_since_the_metric_was_followed_counts_in_full() {
    let t = 1_795_197_610_000_000_000;
    let mut r = Run::new();
    assert!(r.map(&request(Some("pay"), vec![histogram(2, 7, vec![10, 0, 0], 200)])).0.is_empty(), "baseline");
    // The next collection: the first 5xx, a new set whose count the SDK started at the
    // previous collection, beside the 2xx set.
    let later = |mut m: Metric| {
        if let Some(metric::Data::Histogram(h)) = &mut m.data {
            h.data_points[0].time_unix_nano = t + 10_000_000_000;
        }
        m
    };
    let (events, _) = r.map(&request(
        Some("pay"),
        vec![later(histogram(2, 7, vec![11, 0, 0], 200)), later(histogram(2, t, vec![0, 3, 0], 503))],
    ));
    assert_eq!(events.len(), 1 + 3, "the 2xx set's delta, and all of the set begun since");
    // A set that began before the latest collection seen (it was there before, unseen): a baseline.
    assert!(r.map(&request(Some("pay"), vec![later(histogram(2, 7, vec![4, 0, 0], 504))])).0.is_empty());
    // Another service's first stream is its baseline, whatever its start.
    assert!(r.map(&request(Some("shop"), vec![histogram(2, t, vec![4, 0, 0], 200)])).0.is_empty());
}

#[test]
fn pool_cpu_memory_and_other_gauges() {
    let mut r = Run::new();
    let used =
        number(vec![kv("db.client.connection.state", "used"), kv("db.client.connection.pool.name", "main")], 95.0);
    let idle =
        number(vec![kv("db.client.connection.state", "idle"), kv("db.client.connection.pool.name", "main")], 5.0);
    let max = number(vec![kv("db.client.connection.pool.name", "main")], 100.0);
    let cpu = |n: &str, state: &str, v: f64| {
        number(vec![kv("system.cpu.logical_number", n), kv("system.cpu.state", state)], v)
    };
    let req = request(
        Some("pay"),
        vec![
            gauge("db.client.connection.count", vec![used, idle]),
            gauge("db.client.connection.max", vec![max]),
            gauge(
                "system.cpu.utilization",
                vec![cpu("0", "user", 0.6), cpu("0", "idle", 0.4), cpu("1", "user", 0.2), cpu("1", "idle", 0.8)],
            ),
            gauge("process.memory.usage", vec![number(vec![], 5e8)]),
            gauge("queue.depth", vec![number(vec![], 7.0)]),
        ],
    );
    let (events, s) = r.map(&req);
    assert_eq!(s.rejected, 0);
    let by_name: Vec<(String, EventBody)> = events.iter().map(|(k, b)| (k.name.to_string(), b.clone())).collect();
    assert!(
        by_name.contains(&("db.pool.in_use".into(), EventBody::Gauge(Gauge { value: 95.0, max: Some(100.0) }))),
        "{by_name:?}"
    );
    assert!(
        by_name.contains(&("cpu.utilization".into(), EventBody::Gauge(Gauge { value: 0.4, max: None }))),
        "{by_name:?}"
    );
    assert!(by_name.contains(&("memory.usage".into(), EventBody::Gauge(Gauge { value: 5e8, max: None }))));
    assert!(by_name.contains(&("queue.depth".into(), EventBody::Gauge(Gauge { value: 7.0, max: None }))));
}

#[test]
fn bad_points_are_rejected_one_by_one() {
    let mut r = Run::new();
    let mut broken = histogram(1, 0, vec![1, 1], 200);
    if let Some(metric::Data::Histogram(h)) = &mut broken.data {
        h.data_points[0].explicit_bounds = vec![0.01, 0.1];
    }
    let nan = gauge("x", vec![number(vec![], f64::NAN)]);
    let (events, s) = r.map(&request(Some("pay"), vec![broken, nan, histogram(1, 0, vec![1, 0, 0], 200)]));
    assert_eq!((s.spans, s.rejected, events.len()), (3, 2, 1));
    let (_, s) = r.map(&request(None, vec![gauge("x", vec![number(vec![], 1.0)])]));
    assert_eq!(s.errors, vec!["point 1: field `service.name`: missing_field: the resource has no service.name"]);
}

#[test]
fn a_point_standing_for_too_many_requests_is_rejected_not_expanded() {
    let mut r = Run::new();
    let (events, s) = r.map(&request(Some("pay"), vec![histogram(1, 0, vec![MAX_REQUESTS_PER_POINT + 1, 0, 0], 200)]));
    assert_eq!((events.len(), s.rejected), (0, 1));
    assert!(s.errors[0].contains("export more often"), "{:?}", s.errors);
}

/// Issue 19 (fuzzing, `otlp_metrics`): a histogram point whose requests are refused (there
/// a time too far ahead, here a bad status) was rejected once per non-empty bucket, so
/// `rejected_data_points` and the reject counters said three points where there was one.
#[test]
fn issue_19_a_refused_histogram_point_is_one_rejection() {
    let mut r = Run::new();
    let explicit = histogram(1, 0, vec![1, 1, 1], 999);
    let exponential = Metric {
        name: "http.server.request.duration".into(),
        unit: "s".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                attributes: vec![ikv("http.response.status_code", 999)],
                time_unix_nano: 1_795_197_610_000_000_000,
                zero_count: 1,
                positive: Some(exponential_histogram_data_point::Buckets { offset: 0, bucket_counts: vec![1, 1] }),
                ..Default::default()
            }],
            aggregation_temporality: 1,
        })),
        ..Default::default()
    };
    let mut batch = SourceBatch::default();
    let req = request(Some("pay"), vec![explicit, exponential]);
    let s = map_metrics(&req, &mut r.decoder, &r.mapping, &mut r.streams, None, &mut batch);
    assert_eq!((s.spans, s.rejected, batch.rejects.total(), batch.events.len()), (2, 2, 2, 0), "{:?}", s.errors);
}

/// Issue 19 (property test of the `otlp_metrics` fuzz target's property): bucket counts
/// whose sum overflows u64 panicked in debug builds; in release ones the wrapped sum passed
/// the cap and one request expanded into u64::MAX events.
#[test]
fn issue_19_counts_whose_sum_overflows_are_rejected_not_expanded() {
    let mut r = Run::new();
    let huge = u64::MAX / 2 + 1;
    let explicit = histogram(1, 0, vec![huge, huge, 0], 200);
    let exponential = Metric {
        name: "http.server.request.duration".into(),
        unit: "s".into(),
        data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: 1_795_197_610_000_000_000,
                zero_count: u64::MAX,
                positive: Some(exponential_histogram_data_point::Buckets { offset: 0, bucket_counts: vec![1] }),
                ..Default::default()
            }],
            aggregation_temporality: 1,
        })),
        ..Default::default()
    };
    let (events, s) = r.map(&request(Some("pay"), vec![explicit, exponential]));
    assert_eq!((events.len(), s.rejected), (0, 2));
    assert!(s.errors.iter().all(|e| e.contains("export more often")), "{:?}", s.errors);
}

mod arbitrary {
    //! Any points, however odd their numbers, map without a panic and are counted once (the `otlp_metrics` fuzz target's property).

    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    fn arb_attrs() -> impl Strategy<Value = Vec<KeyValue>> {
        let key = prop_oneof![
            Just("http.route"),
            Just("http.response.status_code"),
            Just("db.client.connection.state"),
            Just("db.client.connection.pool.name"),
            Just("system.cpu.state"),
            Just("cpu"),
            Just("cloud.region"),
        ];
        let value = prop_oneof![
            "[a-z/]{0,4}".prop_map(any_value::Value::StringValue),
            Just(any_value::Value::StringValue("used".into())),
            Just(any_value::Value::StringValue("idle".into())),
            any::<i64>().prop_map(any_value::Value::IntValue),
            (100i64..600).prop_map(any_value::Value::IntValue),
        ];
        proptest::collection::vec((key, value), 0..4).prop_map(|kv| {
            kv.into_iter()
                .map(|(k, v)| KeyValue {
                    key: k.into(),
                    value: Some(AnyValue { value: Some(v) }),
                    ..Default::default()
                })
                .collect()
        })
    }

    /// Counts near zero, and huge ones whose sums overflow.
    fn arb_count() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..4, Just(u64::MAX), Just(u64::MAX / 2 + 1), any::<u64>()]
    }

    fn arb_f64() -> impl Strategy<Value = f64> {
        prop_oneof![-2.0f64..2.0, Just(f64::NAN), Just(f64::INFINITY), Just(f64::MAX), Just(-0.0), any::<f64>()]
    }

    fn arb_time() -> impl Strategy<Value = u64> {
        prop_oneof![Just(1_795_197_610_000_000_000u64), Just(0u64), any::<u64>()]
    }

    fn arb_numbers() -> impl Strategy<Value = Vec<NumberDataPoint>> {
        proptest::collection::vec((arb_attrs(), arb_f64(), 0u64..3, arb_time()), 0..3).prop_map(|ps| {
            ps.into_iter()
                .map(|(attributes, v, start, time)| NumberDataPoint {
                    attributes,
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsDouble(v)),
                    ..Default::default()
                })
                .collect()
        })
    }

    fn arb_metric() -> impl Strategy<Value = Metric> {
        let name = prop_oneof![
            Just("http.server.request.duration"),
            Just("db.client.connection.count"),
            Just("db.client.connection.max"),
            Just("system.cpu.utilization"),
            Just("x.memory.utilization"),
            Just("other"),
        ];
        let unit = prop_oneof![Just("s"), Just("ms"), Just("us"), Just("")];
        let temporality = 0i32..4;
        let histogram = (
            arb_attrs(),
            0u64..3,
            arb_time(),
            proptest::collection::vec(arb_count(), 0..5),
            proptest::collection::vec(arb_f64(), 0..4),
            proptest::option::of(arb_f64()),
            temporality.clone(),
        )
            .prop_map(|(attributes, start, time, bucket_counts, explicit_bounds, sum, t)| {
                metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        count: bucket_counts.iter().fold(0u64, |a, b| a.wrapping_add(*b)),
                        sum,
                        bucket_counts,
                        explicit_bounds,
                        ..Default::default()
                    }],
                    aggregation_temporality: t,
                })
            });
        let exponential = (
            arb_attrs(),
            0u64..3,
            arb_time(),
            prop_oneof![-12i32..22, any::<i32>()],
            arb_count(),
            proptest::option::of((any::<i32>(), proptest::collection::vec(arb_count(), 0..4))),
            temporality.clone(),
        )
            .prop_map(|(attributes, start, time, scale, zero_count, positive, t)| {
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        attributes,
                        start_time_unix_nano: start,
                        time_unix_nano: time,
                        scale,
                        zero_count,
                        positive: positive.map(|(offset, bucket_counts)| exponential_histogram_data_point::Buckets {
                            offset,
                            bucket_counts,
                        }),
                        ..Default::default()
                    }],
                    aggregation_temporality: t,
                })
            });
        let gauge = arb_numbers().prop_map(|data_points| metric::Data::Gauge(OtlpGauge { data_points }));
        let sum = (arb_numbers(), temporality, any::<bool>()).prop_map(|(data_points, t, is_monotonic)| {
            metric::Data::Sum(Sum { data_points, aggregation_temporality: t, is_monotonic })
        });
        (name, unit, prop_oneof![histogram, exponential, gauge, sum]).prop_map(|(name, unit, data)| Metric {
            name: name.into(),
            unit: unit.into(),
            data: Some(data),
            ..Default::default()
        })
    }

    /// Maps `req` and checks what every summary must say of its batch.
    fn map_checked(r: &mut Run, req: &ExportMetricsServiceRequest) -> Result<(), TestCaseError> {
        let mut batch = SourceBatch::default();
        let s = map_metrics(req, &mut r.decoder, &r.mapping, &mut r.streams, None, &mut batch);
        prop_assert_eq!(s.rejected, batch.rejects.total());
        prop_assert!(s.rejected <= s.spans, "{:?}", s);
        prop_assert_eq!(s.errors.len() as u64, s.rejected.min(5));
        prop_assert!(
            batch.events.len() as u64 <= s.spans * (MAX_REQUESTS_PER_POINT + 2),
            "{} events",
            batch.events.len()
        );
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Two requests through one receiver's streams, so the second gives deltas and resets.
        #[test]
        fn any_points_map_without_a_panic(
            first in proptest::collection::vec(arb_metric(), 0..4),
            second in proptest::collection::vec(arb_metric(), 0..4),
            service in proptest::option::of(Just("pay")),
        ) {
            let mut r = Run::new();
            map_checked(&mut r, &request(service, first.clone()))?;
            map_checked(&mut r, &request(service, first))?;
            map_checked(&mut r, &request(service, second))?;
        }

        /// Bytes that prost decodes map without a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(req) = ExportMetricsServiceRequest::decode(&bytes[..]) {
                map_checked(&mut Run::new(), &req)?;
            }
        }
    }
}
