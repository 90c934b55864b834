//! OTLP spans to events: a selective walk of `ExportTraceServiceRequest`, and prost's decode as the reference.
//!
//! The hot path ([`decode_traces`]) walks the protobuf wire format and reads
//! only what the mapping needs: the resource's `service.name` and dimension
//! attributes, and per span its kind, name, times, status and a few
//! attributes; everything else is skipped by length, nothing is copied.
//! [`map_traces`] maps prost's owned decode (also what OTLP/JSON decodes into)
//! through the same [`Picked`] rules, so both paths give the same events
//! (property-tested).
//!
//! The mapping, per the semantic conventions:
//! - SERVER spans are requests: service from the resource's `service.name`;
//!   operation `"{http.request.method} {http.route}"` (or the route alone),
//!   else `"{rpc.service}/{rpc.method}"`, else the span name; an error when the
//!   status is ERROR or the HTTP status is 5xx (4xx when configured); latency
//!   end − start.
//! - CLIENT spans with `peer.service` (else `server.address`) are calls that
//!   feed the dependency series (service, peer); without either they are ignored.
//! - INTERNAL, PRODUCER, CONSUMER and unspecified spans are ignored (counted, not rejected).
//! - Configured dimensions come from the span's attributes, else the resource's.
//!
//! Where an attribute key repeats, its first usable value wins.

use faultline_core::wire::{Decoder, Fields as EventFields, Latency, MAX_DIMS, ParseError, RecordKind, Ts};
use faultline_core::{Millis, RejectReason};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};

use super::wire::{Fields, WireError};
use crate::source::{RejectSample, SourceBatch};

/// Decode errors kept per request for the answer and the log.
const ERRORS_KEPT: usize = 5;

/// Which attributes make which dimension: for each configured dimension (in
/// the decoder's order), the attribute keys to try, best first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanMapping {
    dims: Vec<(String, Vec<String>)>,
    /// Where log records carry transactions and changes.
    pub(crate) logs: super::logs::LogAttributes,
}

impl SpanMapping {
    /// A mapping for dimensions `dims` (the decoder's), with `overrides`
    /// naming the attribute keys of a dimension; without one, a dimension is
    /// read from its conventional keys (`region` from `cloud.region`,
    /// `instance` from `service.instance.id`, `environment` from
    /// `deployment.environment.name`), then from an attribute of its own name.
    pub fn new(dims: &[String], overrides: &[(String, Vec<String>)]) -> SpanMapping {
        let dims = dims
            .iter()
            .take(MAX_DIMS)
            .map(|d| {
                let keys = match overrides.iter().find(|(name, _)| name == d) {
                    Some((_, keys)) => keys.clone(),
                    None => {
                        let conventional: &[&str] = match d.as_str() {
                            "region" => &["cloud.region"],
                            "zone" | "availability_zone" => &["cloud.availability_zone"],
                            "instance" => &["service.instance.id", "host.name"],
                            "environment" | "env" => &["deployment.environment.name", "deployment.environment"],
                            "version" => &["service.version"],
                            _ => &[],
                        };
                        conventional.iter().map(|k| k.to_string()).chain([d.clone()]).collect()
                    }
                };
                (d.clone(), keys)
            })
            .collect();
        SpanMapping { dims, logs: super::logs::LogAttributes::default() }
    }

    /// The attribute keys log records carry transactions and changes in.
    pub fn with_log_attributes(mut self, logs: super::logs::LogAttributes) -> SpanMapping {
        self.logs = logs;
        self
    }
}

impl SpanMapping {
    /// Whether the mapping reads attribute `key` at all.
    #[inline]
    fn reads(&self, key: &[u8]) -> bool {
        matches!(
            key,
            b"service.name"
                | b"http.route"
                | b"http.request.method"
                | b"http.method"
                | b"rpc.service"
                | b"rpc.method"
                | b"http.response.status_code"
                | b"http.status_code"
                | b"peer.service"
                | b"server.address"
        ) || self.dims.iter().any(|(_, keys)| keys.iter().any(|k| k.as_bytes() == key))
    }
}

/// What one request held: spans seen, rejected and ignored, and the first errors.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    /// Spans in the request.
    pub spans: u64,
    /// Spans rejected (bad items), each counted in the batch's rejects.
    pub rejected: u64,
    /// Spans that are not requests or calls (internal, producer, consumer; clients without a peer).
    pub ignored: u64,
    /// The first few rejections, for the answer's `partial_success` and the log.
    pub errors: Vec<String>,
}

/// An attribute value as the mapping sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AttrView<'a> {
    Str(&'a str),
    Int(i64),
    Other,
}

/// The attributes the mapping reads, picked from one attribute list.
#[derive(Debug, Clone, Default)]
pub(crate) struct Picked<'a> {
    service_name: Option<&'a str>,
    route: Option<&'a str>,
    method: Option<&'a str>,
    method_old: Option<&'a str>,
    rpc_service: Option<&'a str>,
    rpc_method: Option<&'a str>,
    status: Option<i64>,
    status_old: Option<i64>,
    peer_service: Option<&'a str>,
    server_address: Option<&'a str>,
    /// Per dimension: the value and the rank of the key it came from.
    dims: [Option<(usize, &'a str)>; MAX_DIMS],
}

fn first<T>(slot: &mut Option<T>, v: Option<T>) {
    if slot.is_none() {
        *slot = v;
    }
}

impl<'a> Picked<'a> {
    /// Offers one attribute; keeps it if the mapping reads it.
    pub(crate) fn offer(&mut self, mapping: &SpanMapping, key: &[u8], value: AttrView<'a>) {
        let s = match value {
            AttrView::Str(s) => Some(s),
            _ => None,
        };
        let int = match value {
            AttrView::Int(i) => Some(i),
            AttrView::Str(s) => s.parse().ok(),
            AttrView::Other => None,
        };
        match key {
            b"service.name" => first(&mut self.service_name, s),
            b"http.route" => first(&mut self.route, s),
            b"http.request.method" => first(&mut self.method, s),
            b"http.method" => first(&mut self.method_old, s),
            b"rpc.service" => first(&mut self.rpc_service, s),
            b"rpc.method" => first(&mut self.rpc_method, s),
            b"http.response.status_code" => first(&mut self.status, int),
            b"http.status_code" => first(&mut self.status_old, int),
            b"peer.service" => first(&mut self.peer_service, s),
            b"server.address" => first(&mut self.server_address, s),
            _ => {}
        }
        let Some(s) = s else { return };
        for (i, (_, keys)) in mapping.dims.iter().enumerate() {
            if let Some(rank) = keys.iter().position(|k| k.as_bytes() == key)
                && self.dims[i].is_none_or(|(r, _)| rank < r)
            {
                self.dims[i] = Some((rank, s));
            }
        }
    }
}

impl<'a> Picked<'a> {
    /// The resource's service, when it names one.
    pub(crate) fn service(&self) -> Option<&'a str> {
        self.service_name.filter(|s| !s.is_empty())
    }

    /// The value of configured dimension `name`.
    pub(crate) fn dim(&self, mapping: &SpanMapping, name: &str) -> Option<&'a str> {
        let i = mapping.dims.iter().position(|(d, _)| d == name)?;
        self.dims[i].map(|(_, v)| v)
    }

    /// The HTTP status, new convention first.
    pub(crate) fn status_code(&self) -> Option<i64> {
        self.status.or(self.status_old)
    }

    /// `"{method} {route}"`, the route, or `"{rpc.service}/{rpc.method}"`, built in `buf`
    /// when it is composed; `None` when the attributes name no operation.
    pub(crate) fn operation<'s>(&self, buf: &'s mut String) -> Option<&'s str>
    where
        'a: 's,
    {
        match (self.route, self.method.or(self.method_old), self.rpc_service, self.rpc_method) {
            (Some(route), Some(method), _, _) => {
                buf.clear();
                buf.push_str(method);
                buf.push(' ');
                buf.push_str(route);
                Some(buf.as_str())
            }
            (Some(route), None, _, _) => Some(route),
            (None, _, Some(svc), Some(m)) => {
                buf.clear();
                buf.push_str(svc);
                buf.push('/');
                buf.push_str(m);
                Some(buf.as_str())
            }
            _ => None,
        }
    }
}

/// One span's fields that the mapping reads.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpanView<'a> {
    name: &'a str,
    kind: i32,
    start: u64,
    end: u64,
    status_code: i32,
    attrs: Picked<'a>,
}

/// Maps one span to events in `batch` (or a rejection, or nothing).
fn map_span(
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    resource: &Picked<'_>,
    span: &SpanView<'_>,
    summary: &mut TraceSummary,
    processing_now: Option<Millis>,
    batch: &mut SourceBatch,
) {
    summary.spans += 1;
    let n = summary.spans;
    let bad = |field: &'static str, reason, detail: &str| ParseError {
        line: n,
        field: Some(field),
        reason,
        detail: detail.to_string(),
    };
    let kind = match span.kind {
        2 => RecordKind::Request,
        3 => RecordKind::Call,
        0 | 1 | 4 | 5 => {
            summary.ignored += 1;
            return;
        }
        k => {
            let detail = format!("span kind {k} is not one of 0–5");
            return reject(summary, batch, bad("kind", RejectReason::UnknownKind, &detail));
        }
    };
    let Some(service) = resource.service() else {
        return reject(
            summary,
            batch,
            bad("service.name", RejectReason::MissingField, "the resource has no service.name"),
        );
    };
    if span.end == 0 {
        return reject(
            summary,
            batch,
            bad("end_time_unix_nano", RejectReason::MissingField, "the span has no end time"),
        );
    }
    if span.end < span.start {
        return reject(
            summary,
            batch,
            bad("end_time_unix_nano", RejectReason::Negative, "the span ends before it starts"),
        );
    }
    let a = &span.attrs;
    let peer = a.peer_service.or(a.server_address);
    if kind == RecordKind::Call && peer.is_none() {
        summary.ignored += 1;
        return;
    }
    let mut operation = String::new();
    let op = a.operation(&mut operation).unwrap_or(span.name);
    let fields = EventFields {
        ts: Some(Ts::Millis((span.end / 1_000_000) as i64)),
        service: Some(service),
        kind: Some(Ok(kind)),
        operation: Some(op),
        status: a.status_code(),
        latency: Some(Latency::Nanos(span.end - span.start)),
        error: Some(span.status_code == 2),
        peer: if kind == RecordKind::Call { peer } else { None },
        ..EventFields::default()
    };
    let dim = |name: &str| a.dim(mapping, name).or_else(|| resource.dim(mapping, name));
    if let Err(e) = decoder.emit(n, &fields, dim, processing_now, &mut batch.events) {
        reject(summary, batch, e);
    }
}

/// Counts a rejected item (`what`: span, point, log record) and keeps its error if there is room.
pub(crate) fn reject_item(summary: &mut TraceSummary, batch: &mut SourceBatch, what: &str, e: ParseError) {
    summary.rejected += 1;
    batch.rejects.add(e.reason);
    if summary.errors.len() < ERRORS_KEPT {
        let field = e.field.map(|f| format!("field `{f}`: ")).unwrap_or_default();
        summary.errors.push(format!("{what} {}: {field}{}: {}", e.line, e.reason, e.detail));
        let origin = format!("OTLP request, {what} {}", e.line);
        batch.errors.push(RejectSample::new(e, &origin, &[]));
    }
}

fn reject(summary: &mut TraceSummary, batch: &mut SourceBatch, e: ParseError) {
    reject_item(summary, batch, "span", e);
}

// ---- the selective walk ----

/// Decodes an `ExportTraceServiceRequest` in protobuf form into `batch`,
/// reading only what the mapping needs. An error means the bytes are not
/// such a message: the whole request is refused and `batch` must be dropped.
pub fn decode_traces(
    body: &[u8],
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    processing_now: Option<Millis>,
    batch: &mut SourceBatch,
) -> Result<TraceSummary, WireError> {
    let mut summary = TraceSummary::default();
    let mut req = Fields::new(body);
    while let Some((field, v)) = req.next()? {
        if field == 1 {
            resource_spans(v.bytes(1)?, decoder, mapping, processing_now, &mut summary, batch)?;
        }
    }
    Ok(summary)
}

fn resource_spans(
    buf: &[u8],
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    processing_now: Option<Millis>,
    summary: &mut TraceSummary,
    batch: &mut SourceBatch,
) -> Result<(), WireError> {
    // The resource may come after the spans on the wire: read it first.
    let mut resource = Picked::default();
    let mut f = Fields::new(buf);
    while let Some((field, v)) = f.next()? {
        if field == 1 {
            let mut r = Fields::new(v.bytes(1)?);
            while let Some((rf, rv)) = r.next()? {
                if rf == 1 {
                    key_value(rv.bytes(1)?, mapping, &mut resource)?;
                }
            }
        }
    }
    let mut f = Fields::new(buf);
    while let Some((field, v)) = f.next()? {
        if field == 2 {
            let mut scope = Fields::new(v.bytes(2)?);
            while let Some((sf, sv)) = scope.next()? {
                if sf == 2 {
                    let span = span(sv.bytes(2)?, mapping)?;
                    map_span(decoder, mapping, &resource, &span, summary, processing_now, batch);
                }
            }
        }
    }
    Ok(())
}

fn span<'a>(buf: &'a [u8], mapping: &SpanMapping) -> Result<SpanView<'a>, WireError> {
    let mut s = SpanView::default();
    let mut f = Fields::new(buf);
    while let Some((field, v)) = f.next()? {
        match field {
            5 => s.name = v.str(5)?,
            6 => s.kind = v.varint(6)? as i32,
            7 => s.start = v.fixed64(7)?,
            8 => s.end = v.fixed64(8)?,
            9 => key_value(v.bytes(9)?, mapping, &mut s.attrs)?,
            15 => {
                let mut st = Fields::new(v.bytes(15)?);
                while let Some((sf, sv)) = st.next()? {
                    if sf == 3 {
                        s.status_code = sv.varint(3)? as i32;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

fn key_value<'a>(buf: &'a [u8], mapping: &SpanMapping, out: &mut Picked<'a>) -> Result<(), WireError> {
    // First the KeyValue's own fields, without descending: most attributes are not read,
    // and their values are then skipped by length alone.
    let mut key: &[u8] = b"";
    let mut value: Option<&'a [u8]> = None;
    let mut values = 0;
    let mut f = Fields::new(buf);
    while let Some((field, v)) = f.next()? {
        match field {
            1 => key = v.bytes(1)?,
            2 => {
                value = Some(v.bytes(2)?);
                values += 1;
            }
            _ => {}
        }
    }
    if !mapping.reads(key) {
        return Ok(());
    }
    if values > 1 {
        // A repeated message field merges: walk every occurrence, in order.
        let mut view = AttrView::Other;
        let mut f = Fields::new(buf);
        while let Some((field, v)) = f.next()? {
            if field == 2 {
                any_value(v.bytes(2)?, &mut view)?;
            }
        }
        out.offer(mapping, key, view);
        return Ok(());
    }
    let mut view = AttrView::Other;
    if let Some(v) = value {
        any_value(v, &mut view)?;
    }
    out.offer(mapping, key, view);
    Ok(())
}

/// Reads an `AnyValue`: the last oneof member seen wins.
fn any_value<'a>(buf: &'a [u8], view: &mut AttrView<'a>) -> Result<(), WireError> {
    let mut any = Fields::new(buf);
    while let Some((af, av)) = any.next()? {
        *view = match af {
            1 => AttrView::Str(av.str(1)?),
            3 => AttrView::Int(av.varint(3)? as i64),
            2 | 4..=7 => AttrView::Other,
            _ => continue,
        };
    }
    Ok(())
}

// ---- the reference path: prost's owned types ----

fn view(v: &Option<AnyValue>) -> AttrView<'_> {
    match v.as_ref().and_then(|a| a.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => AttrView::Str(s),
        Some(any_value::Value::IntValue(i)) => AttrView::Int(*i),
        _ => AttrView::Other,
    }
}

pub(crate) fn pick<'a>(attrs: &'a [KeyValue], mapping: &SpanMapping, out: &mut Picked<'a>) {
    for kv in attrs {
        out.offer(mapping, kv.key.as_bytes(), view(&kv.value));
    }
}

/// Maps an owned `ExportTraceServiceRequest` (prost's decode, or OTLP/JSON's)
/// into `batch` with the same rules as [`decode_traces`].
pub fn map_traces(
    req: &ExportTraceServiceRequest,
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    processing_now: Option<Millis>,
    batch: &mut SourceBatch,
) -> TraceSummary {
    let mut summary = TraceSummary::default();
    for rs in &req.resource_spans {
        let mut resource = Picked::default();
        if let Some(r) = &rs.resource {
            pick(&r.attributes, mapping, &mut resource);
        }
        for ss in &rs.scope_spans {
            for sp in &ss.spans {
                let mut span = SpanView {
                    name: &sp.name,
                    kind: sp.kind,
                    start: sp.start_time_unix_nano,
                    end: sp.end_time_unix_nano,
                    status_code: sp.status.as_ref().map_or(0, |s| s.code),
                    attrs: Picked::default(),
                };
                pick(&sp.attributes, mapping, &mut span.attrs);
                map_span(decoder, mapping, &resource, &span, &mut summary, processing_now, batch);
            }
        }
    }
    summary
}

#[cfg(test)]
mod tests;
