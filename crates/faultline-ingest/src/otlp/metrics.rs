//! OTLP metrics to events: request-duration histograms into latency distributions, pool, CPU and memory gauges.
//!
//! Metrics are far fewer than spans, so this path maps prost's owned decode
//! (protobuf or OTLP/JSON) directly. The mapping:
//! - `http.server.request.duration` histograms (explicit buckets or exponential) are requests
//!   of the point's `http.route` (the span rules make the operation): each bucket's new count
//!   becomes that many request events at the bucket's representative latency (the middle of an
//!   explicit bucket, the lower bound of the overflow bucket; the geometric middle of an
//!   exponential one), errors where `http.response.status_code` is 5xx. The window's
//!   quantiles are then exact to the bucket, not to the request: the approximation of
//!   merging histograms that kept no individual latencies.
//! - `db.client.connection.count` with `db.client.connection.state = used` over
//!   `db.client.connection.max` is the `db.pool.in_use` gauge of pool saturation.
//! - `system.cpu.utilization` is `cpu.utilization`: the non-idle states summed, over the CPUs.
//! - `process.memory.usage` is `memory.usage`; `*.memory.utilization` is `memory.utilization`.
//! - Any other gauge or sum is a gauge of its own name.
//! - Cumulative points become deltas per stream (resource, metric, attributes); a stream's
//!   first point is its baseline and emits nothing, unless the receiver already follows that
//!   metric of that service and the new stream's start time is no earlier than the latest point
//!   seen of it (a new attribute set, say the first 5xx, that began since: all of its count is
//!   new, as SDKs start a new set's count at the previous collection); a new start time or a
//!   count going down is a reset, after which the point counts from zero.

use std::collections::{BTreeMap, HashMap};

use faultline_core::wire::{Decoder, Fields as EventFields, Latency, ParseError, RecordKind, Ts};
use faultline_core::{Millis, RejectReason};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};

use super::traces::{Picked, SpanMapping, TraceSummary, pick, reject_item};
use crate::source::SourceBatch;

/// Requests one histogram point may stand for; past it the point is rejected (export more often).
pub const MAX_REQUESTS_PER_POINT: u64 = 200_000;
/// Cumulative streams remembered; past it the memory starts again (each stream re-baselines).
const MAX_STREAMS: usize = 100_000;
const CUMULATIVE: i32 = 2;

/// Per pool name: the used count with its time, and the capacity.
type Pools = BTreeMap<String, (Option<(u64, f64)>, Option<f64>)>;

/// What a cumulative stream last said.
#[derive(Debug, Clone, PartialEq)]
enum Last {
    Counts { start: u64, counts: Vec<u64>, zero: u64 },
    Value { start: u64, value: f64 },
}

/// The cumulative streams of one receiver, for deltas.
#[derive(Debug, Default)]
pub struct Streams {
    last: HashMap<String, Last>,
    /// Per service and metric, the latest point time seen of any of its streams and the one before.
    followed: HashMap<String, (u64, u64)>,
}

impl Streams {
    fn remember(&mut self, key: String, last: Last) -> Option<Last> {
        if self.last.len() >= MAX_STREAMS && !self.last.contains_key(&key) {
            self.last.clear();
            self.followed.clear();
        }
        self.last.insert(key, last)
    }

    /// Notes a cumulative point of `metric` (service and name) at `time`; whether a stream
    /// whose first point this is, started at `start`, began since the receiver followed the
    /// metric: at or after its latest collection before this point's (then its whole count is new).
    fn began_since(&mut self, metric: String, start: u64, time: u64) -> bool {
        let (latest, before) = self.followed.entry(metric).or_insert((0, 0));
        // Points of one collection share its time: compare with the collection before it.
        let earlier = if time == *latest { *before } else { *latest };
        if time > *latest {
            *before = *latest;
            *latest = time;
        }
        earlier > 0 && earlier < time && start >= earlier
    }
}

fn metric_key(service: &str, metric: &str) -> String {
    format!("{service}\u{1}{metric}")
}

fn stream_key(service: &str, metric: &str, attrs: &[KeyValue]) -> String {
    let mut parts: Vec<String> = attrs.iter().map(|kv| format!("{}={:?}", kv.key, kv.value)).collect();
    parts.sort();
    format!("{service}\u{1}{metric}\u{1}{}", parts.join("\u{1}"))
}

/// Microseconds per unit of a duration metric.
fn us_per(unit: &str) -> f64 {
    match unit {
        "ms" => 1e3,
        "us" | "µs" => 1.0,
        "ns" => 1e-3,
        _ => 1e6,
    }
}

fn number(v: &Option<number_data_point::Value>) -> Option<f64> {
    match v {
        Some(number_data_point::Value::AsDouble(d)) => Some(*d),
        Some(number_data_point::Value::AsInt(i)) => Some(*i as f64),
        None => None,
    }
}

fn str_attr<'a>(attrs: &'a [KeyValue], keys: &[&str]) -> Option<&'a str> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    keys.iter().find_map(|k| {
        attrs.iter().find(|kv| kv.key == *k).and_then(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            Some(Value::IntValue(_)) => Some(""),
            _ => None,
        })
    })
}

struct Ctx<'d, 'b> {
    decoder: &'d mut Decoder,
    mapping: &'d SpanMapping,
    now: Option<Millis>,
    batch: &'b mut SourceBatch,
    summary: TraceSummary,
}

impl Ctx<'_, '_> {
    fn reject(&mut self, e: ParseError) {
        reject_item(&mut self.summary, self.batch, "point", e);
    }

    /// Whether a point of `counts` and `zero` requests may be expanded; rejects it when not.
    fn within_cap(&mut self, counts: &[u64], zero: u64) -> bool {
        // Saturating: counts are the client's, and a wrapped sum would pass the cap.
        let total = counts.iter().fold(zero, |sum, c| sum.saturating_add(*c));
        if total <= MAX_REQUESTS_PER_POINT {
            return true;
        }
        let why = format!("{total} requests in one point (at most {MAX_REQUESTS_PER_POINT}): export more often");
        self.bad("count", RejectReason::InvalidField, &why);
        false
    }

    fn bad(&mut self, field: &'static str, reason: RejectReason, detail: &str) {
        let e = ParseError { line: self.summary.spans, field: Some(field), reason, detail: detail.to_string() };
        self.reject(e);
    }

    fn gauge(
        &mut self,
        resource: &Picked<'_>,
        point: &Picked<'_>,
        ts_ns: u64,
        name: &str,
        value: f64,
        max: Option<f64>,
    ) {
        let fields = EventFields {
            ts: Some(Ts::Millis((ts_ns / 1_000_000) as i64)),
            service: resource.service(),
            kind: Some(Ok(RecordKind::Gauge)),
            name: Some(name),
            value: Some(value),
            max,
            ..EventFields::default()
        };
        let mapping = self.mapping;
        let dim = |d: &str| point.dim(mapping, d).or_else(|| resource.dim(mapping, d));
        if let Err(e) = self.decoder.emit(self.summary.spans, &fields, dim, self.now, &mut self.batch.events) {
            self.reject(e);
        }
    }

    /// `count` requests at `latency_us` of the point's operation; `false` when they are
    /// rejected (then the point is, once: its other buckets would fail the same way).
    #[must_use]
    fn requests(&mut self, resource: &Picked<'_>, point: &Picked<'_>, ts_ns: u64, latency_us: f64, count: u64) -> bool {
        let mut buf = String::new();
        let op = point.operation(&mut buf).unwrap_or("");
        let fields = EventFields {
            ts: Some(Ts::Millis((ts_ns / 1_000_000) as i64)),
            service: resource.service(),
            kind: Some(Ok(RecordKind::Request)),
            operation: Some(op),
            status: point.status_code(),
            latency: Some(Latency::Nanos((latency_us.max(0.0) * 1000.0) as u64)),
            ..EventFields::default()
        };
        let mapping = self.mapping;
        let dim = |d: &str| point.dim(mapping, d).or_else(|| resource.dim(mapping, d));
        for _ in 0..count {
            if let Err(e) = self.decoder.emit(self.summary.spans, &fields, dim, self.now, &mut self.batch.events) {
                self.reject(e);
                return false;
            }
        }
        true
    }
}

/// Maps an `ExportMetricsServiceRequest` into `batch`; `spans` in the summary counts data points.
pub fn map_metrics(
    req: &ExportMetricsServiceRequest,
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    streams: &mut Streams,
    processing_now: Option<Millis>,
    batch: &mut SourceBatch,
) -> TraceSummary {
    let mut cx = Ctx { decoder, mapping, now: processing_now, batch, summary: TraceSummary::default() };
    for rm in &req.resource_metrics {
        let mut resource = Picked::default();
        if let Some(r) = &rm.resource {
            pick(&r.attributes, mapping, &mut resource);
        }
        let service = resource.service().unwrap_or("").to_string();
        // Pools: (used, max) per pool, paired across the two metrics of one request.
        let mut pools: Pools = BTreeMap::new();
        // CPU: per timestamp, the non-idle sum and the CPUs seen.
        let mut cpu: BTreeMap<u64, (f64, std::collections::BTreeSet<String>)> = BTreeMap::new();
        for sm in &rm.scope_metrics {
            for m in &sm.metrics {
                let Some(data) = &m.data else { continue };
                match data {
                    metric::Data::Histogram(h) if m.name == "http.server.request.duration" => {
                        for p in &h.data_points {
                            cx.summary.spans += 1;
                            if resource.service().is_none() {
                                cx.bad("service.name", RejectReason::MissingField, "the resource has no service.name");
                                continue;
                            }
                            if p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
                                cx.bad("bucket_counts", RejectReason::InvalidField, "not one more bucket than bounds");
                                continue;
                            }
                            if p.explicit_bounds.iter().any(|b| !b.is_finite()) {
                                cx.bad("explicit_bounds", RejectReason::NotFinite, "a bound is not finite");
                                continue;
                            }
                            let key = stream_key(&service, &m.name, &p.attributes);
                            let Some(delta) = delta_counts(
                                streams,
                                metric_key(&service, &m.name),
                                key,
                                h.aggregation_temporality,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                &p.bucket_counts,
                                0,
                            ) else {
                                continue;
                            };
                            if !cx.within_cap(&delta.0, 0) {
                                continue;
                            }
                            let mut point = Picked::default();
                            pick(&p.attributes, mapping, &mut point);
                            let scale = us_per(&m.unit);
                            for (i, c) in delta.0.iter().enumerate().filter(|(_, c)| **c > 0) {
                                let b = &p.explicit_bounds;
                                let mid = match (i.checked_sub(1).map(|j| b[j]), b.get(i)) {
                                    (None, Some(hi)) => hi.max(0.0) / 2.0,
                                    (Some(lo), Some(hi)) => (lo + hi) / 2.0,
                                    (Some(lo), None) => lo,
                                    (None, None) => p.sum.map_or(0.0, |s| s / p.count.max(1) as f64),
                                };
                                if !cx.requests(&resource, &point, p.time_unix_nano, mid * scale, *c) {
                                    break;
                                }
                            }
                        }
                    }
                    metric::Data::ExponentialHistogram(h) if m.name == "http.server.request.duration" => {
                        for p in &h.data_points {
                            cx.summary.spans += 1;
                            if resource.service().is_none() {
                                cx.bad("service.name", RejectReason::MissingField, "the resource has no service.name");
                                continue;
                            }
                            let Some(pos) = &p.positive else { continue };
                            if !(-10..=20).contains(&p.scale) {
                                cx.bad("scale", RejectReason::InvalidField, "scale outside -10..=20");
                                continue;
                            }
                            let key = format!("{}\u{2}{}", stream_key(&service, &m.name, &p.attributes), pos.offset);
                            let Some((delta, zero)) = delta_counts(
                                streams,
                                metric_key(&service, &m.name),
                                key,
                                h.aggregation_temporality,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                                &pos.bucket_counts,
                                p.zero_count,
                            ) else {
                                continue;
                            };
                            if !cx.within_cap(&delta, zero) {
                                continue;
                            }
                            let mut point = Picked::default();
                            pick(&p.attributes, mapping, &mut point);
                            let scale = us_per(&m.unit);
                            let base = 2f64.powf(2f64.powi(-p.scale));
                            if zero > 0 && !cx.requests(&resource, &point, p.time_unix_nano, 0.0, zero) {
                                continue;
                            }
                            for (i, c) in delta.iter().enumerate().filter(|(_, c)| **c > 0) {
                                let idx = f64::from(pos.offset) + i as f64;
                                // (base^idx, base^(idx+1)]: its geometric middle.
                                let mid = base.powf(idx + 0.5);
                                if !cx.requests(&resource, &point, p.time_unix_nano, mid * scale, *c) {
                                    break;
                                }
                            }
                        }
                    }
                    metric::Data::Gauge(g) => {
                        for p in &g.data_points {
                            cx.summary.spans += 1;
                            number_point(&mut cx, streams, &resource, &service, m, p, None, &mut pools, &mut cpu);
                        }
                    }
                    metric::Data::Sum(s) => {
                        for p in &s.data_points {
                            cx.summary.spans += 1;
                            let cumulative = (s.aggregation_temporality == CUMULATIVE && s.is_monotonic).then_some(());
                            number_point(&mut cx, streams, &resource, &service, m, p, cumulative, &mut pools, &mut cpu);
                        }
                    }
                    _ => cx.summary.ignored += 1,
                }
            }
        }
        for (_, (used, max)) in pools {
            if let Some((ts, used)) = used {
                cx.gauge(&resource, &Picked::default(), ts, "db.pool.in_use", used, max.filter(|m| *m > 0.0));
            }
        }
        for (ts, (busy, cpus)) in cpu {
            let n = cpus.len().max(1) as f64;
            cx.gauge(&resource, &Picked::default(), ts, "cpu.utilization", busy / n, None);
        }
    }
    cx.summary
}

/// The new counts of a histogram point (all of them for a delta point), `None` for a
/// cumulative stream's first point when it is a baseline (see the module doc).
#[allow(clippy::too_many_arguments)]
fn delta_counts(
    streams: &mut Streams,
    metric: String,
    key: String,
    temporality: i32,
    start: u64,
    time: u64,
    counts: &[u64],
    zero: u64,
) -> Option<(Vec<u64>, u64)> {
    if temporality != CUMULATIVE {
        return Some((counts.to_vec(), zero));
    }
    let began_since = streams.began_since(metric, start, time);
    let prev = streams.remember(key, Last::Counts { start, counts: counts.to_vec(), zero });
    match prev {
        Some(Last::Counts { start: s, counts: old, zero: oz })
            if s == start && old.len() == counts.len() && old.iter().zip(counts).all(|(o, n)| o <= n) && oz <= zero =>
        {
            Some((counts.iter().zip(&old).map(|(n, o)| n - o).collect(), zero - oz))
        }
        // A reset (new start, fewer counts): everything since the new start is new.
        Some(_) => Some((counts.to_vec(), zero)),
        None if began_since => Some((counts.to_vec(), zero)),
        None => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn number_point(
    cx: &mut Ctx<'_, '_>,
    streams: &mut Streams,
    resource: &Picked<'_>,
    service: &str,
    m: &opentelemetry_proto::tonic::metrics::v1::Metric,
    p: &opentelemetry_proto::tonic::metrics::v1::NumberDataPoint,
    cumulative: Option<()>,
    pools: &mut Pools,
    cpu: &mut BTreeMap<u64, (f64, std::collections::BTreeSet<String>)>,
) {
    if resource.service().is_none() {
        return cx.bad("service.name", RejectReason::MissingField, "the resource has no service.name");
    }
    let Some(mut value) = number(&p.value) else {
        return cx.bad("value", RejectReason::MissingField, "the point has no value");
    };
    if !value.is_finite() {
        return cx.bad("value", RejectReason::NotFinite, "the value is not finite");
    }
    if cumulative.is_some() {
        let key = stream_key(service, &m.name, &p.attributes);
        let began_since = streams.began_since(metric_key(service, &m.name), p.start_time_unix_nano, p.time_unix_nano);
        let prev = streams.remember(key, Last::Value { start: p.start_time_unix_nano, value });
        value = match prev {
            Some(Last::Value { start, value: old }) if start == p.start_time_unix_nano && old <= value => value - old,
            Some(_) => value,
            None if began_since => value,
            None => return,
        };
    }
    let pool = str_attr(&p.attributes, &["db.client.connection.pool.name", "pool.name"]).unwrap_or("").to_string();
    match m.name.as_str() {
        "db.client.connection.count" => {
            if str_attr(&p.attributes, &["db.client.connection.state", "state"]) == Some("used") {
                pools.entry(pool).or_default().0 = Some((p.time_unix_nano, value));
            }
        }
        "db.client.connection.max" => pools.entry(pool).or_default().1 = Some(value),
        "system.cpu.utilization" => {
            let state = str_attr(&p.attributes, &["system.cpu.state", "cpu.mode", "state"]);
            let cpu_id = str_attr(&p.attributes, &["system.cpu.logical_number", "cpu"]).unwrap_or("").to_string();
            let e = cpu.entry(p.time_unix_nano).or_default();
            e.1.insert(cpu_id);
            if state != Some("idle") {
                e.0 += value;
            }
        }
        name => {
            let mut point = Picked::default();
            pick(&p.attributes, cx.mapping, &mut point);
            let name = match name {
                "process.memory.usage" => "memory.usage",
                n if n.ends_with(".memory.utilization") => "memory.utilization",
                n => n,
            };
            cx.gauge(resource, &point, p.time_unix_nano, name, value, None);
        }
    }
}

#[cfg(test)]
mod tests;
