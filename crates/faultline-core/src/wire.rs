//! The JSON-lines event format of DESIGN.md: parsing into events, with precise errors.
//!
//! This is the core's one serde module for input. Fields are borrowed from
//! the line (`Cow`, so escaped strings still work) and unknown fields are
//! ignored, so producers can add fields without breaking older engines.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};

use crate::event::{Change, ChangeKind, Event, EventBody, Gauge, Outcome, Request, Transaction};
use crate::reject::RejectReason;
use crate::series::{DimsRef, SeriesCache, SeriesId, SeriesKeyRef, SeriesKind, SeriesRegistry};
use crate::time::{DurationMs, Millis};

/// Most extra dimensions a series key may carry.
pub const MAX_DIMS: usize = 8;
/// Longest service, operation, gauge or dimension value accepted, bytes.
pub const MAX_LABEL_BYTES: usize = 256;
/// Largest magnitude accepted for gauge values and amounts.
const MAX_MAGNITUDE: f64 = 1e24;
/// Latest timestamp accepted at all (9999-12-31), whatever the horizon.
const MAX_TS: i64 = 253_402_300_799_999;

/// Decoder settings (from the pipeline config).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Attribute names that become series dimensions, in order (at most [`MAX_DIMS`]).
    pub dims: Vec<String>,
    /// Whether 4xx statuses count as errors (5xx always do).
    pub count_4xx_as_errors: bool,
    /// Events further than this ahead of the processing time passed in are rejected.
    pub future_horizon: Option<DurationMs>,
}

/// A line that could not be decoded: where, which field, why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// 1-based line number in the input.
    pub line: u64,
    /// The field at fault, when one is.
    pub field: Option<&'static str>,
    /// Why, as a metric label.
    pub reason: RejectReason,
    /// Details for a person, with the offending value cut short.
    pub detail: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: ", self.line)?;
        if let Some(field) = self.field {
            write!(f, "field `{field}`: ")?;
        }
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// Turns JSON lines into events bound to series ids. One decoder per source
/// (or connection): it caches label sets locally and interns new ones in the
/// shared registry.
#[derive(Debug)]
pub struct Decoder {
    registry: Arc<SeriesRegistry>,
    cache: SeriesCache,
    config: DecoderConfig,
}

impl Decoder {
    /// A decoder interning into `registry`.
    pub fn new(registry: Arc<SeriesRegistry>, mut config: DecoderConfig) -> Decoder {
        config.dims.truncate(MAX_DIMS);
        Decoder { registry, cache: SeriesCache::default(), config }
    }

    /// The shared registry.
    pub fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    /// Decodes one line, appending its events (one, or two for a request to a
    /// `peer`) to `out`. `processing_now` enables the future-horizon check.
    pub fn decode_line(
        &mut self,
        line_no: u64,
        line: &[u8],
        processing_now: Option<Millis>,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let err = |field: Option<&'static str>, reason: RejectReason, detail: String| ParseError {
            line: line_no,
            field,
            reason,
            detail,
        };
        // Validate UTF-8 once for the whole line, so serde_json's `StrRead` need
        // not validate every string again (measured: a quarter of the parse).
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(explain_serde_error(line_no, line, None));
        };
        let raw: RawEvent<'_> = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => return Err(explain_serde_error(line_no, line, Some(&e))),
        };
        let ts = match raw.ts {
            None => return Err(err(Some("ts"), RejectReason::MissingField, "every event needs a time".into())),
            Some(RawTs::Millis(ms)) => ms,
            Some(RawTs::Text(t)) => match Millis::parse_rfc3339(&t) {
                Some(ms) => ms.0,
                None => {
                    return Err(err(Some("ts"), RejectReason::InvalidTimestamp, format!("not RFC 3339: {}", cut(&t))));
                }
            },
            Some(RawTs::Invalid(what)) => {
                return Err(err(Some("ts"), RejectReason::InvalidTimestamp, what));
            }
        };
        if ts < 0 {
            return Err(err(Some("ts"), RejectReason::BeforeEpoch, format!("{} is before 1970", Millis(ts))));
        }
        if ts > MAX_TS {
            return Err(err(Some("ts"), RejectReason::InvalidTimestamp, format!("{ts} is past the year 9999")));
        }
        if let (Some(now), Some(h)) = (processing_now, self.config.future_horizon)
            && ts > now.plus(h).0
        {
            return Err(err(
                Some("ts"),
                RejectReason::TooFarInFuture,
                format!("{} is more than {h} ahead of {now}", Millis(ts)),
            ));
        }
        let ts = Millis(ts);
        let service = label(raw.service.as_deref(), "service", line_no, true)?;
        let kind = raw
            .kind
            .as_deref()
            .ok_or_else(|| err(Some("kind"), RejectReason::MissingField, "every event needs a kind".into()))?;

        let mut dim_values: [&str; MAX_DIMS] = [""; MAX_DIMS];
        let n_dims = self.config.dims.len();
        if let Some(attrs) = &raw.attrs {
            for (i, name) in self.config.dims.iter().enumerate() {
                if let Some((_, v)) = attrs.0.iter().find(|(k, _)| k == name) {
                    if v.len() > MAX_LABEL_BYTES {
                        return Err(err(
                            Some("attrs"),
                            RejectReason::InvalidField,
                            format!("`{name}` is longer than {MAX_LABEL_BYTES} bytes"),
                        ));
                    }
                    dim_values[i] = &**v;
                }
            }
        }
        let dims = DimsRef::Borrowed(&dim_values[..n_dims]);
        let key = |kind, name| SeriesKeyRef { kind, service, name, dims };

        match kind {
            "request" => {
                let operation = label(raw.operation.as_deref(), "operation", line_no, false)?;
                let latency_us = match raw.latency_ms {
                    None => None,
                    Some(ms) => Some(non_negative(ms, "latency_ms", line_no)?.mul_add(1000.0, 0.5) as u64),
                };
                let status_error = match raw.status {
                    None => false,
                    Some(s) if (100..=599).contains(&s) => s >= 500 || (self.config.count_4xx_as_errors && s >= 400),
                    Some(s) => {
                        return Err(err(
                            Some("status"),
                            RejectReason::InvalidField,
                            format!("{s} is not an HTTP status (100–599)"),
                        ));
                    }
                };
                let body =
                    EventBody::Request(Request { latency_us, is_error: status_error || raw.error.unwrap_or(false) });
                let id = self.cache.resolve(&self.registry, key(SeriesKind::Request, operation));
                if let Some(peer) = raw.peer.as_deref() {
                    let peer = label(Some(peer), "peer", line_no, true)?;
                    let dep = self.cache.resolve(&self.registry, key(SeriesKind::Dependency, peer));
                    out.push(Event { ts, series: id, body: body.clone() });
                    out.push(Event { ts, series: dep, body });
                } else {
                    out.push(Event { ts, series: id, body });
                }
            }
            "gauge" => {
                let name = label(raw.name.as_deref(), "name", line_no, true)?;
                let value = finite(raw.value, "value", line_no)?;
                let max = match raw.max {
                    None => None,
                    Some(m) => {
                        let m = finite(Some(m), "max", line_no)?;
                        if m <= 0.0 {
                            return Err(err(Some("max"), RejectReason::Negative, format!("{m} must be above zero")));
                        }
                        Some(m)
                    }
                };
                let id = self.cache.resolve(&self.registry, key(SeriesKind::Gauge, name));
                out.push(Event { ts, series: id, body: EventBody::Gauge(Gauge { value, max }) });
            }
            "transaction" => {
                let outcome = match raw.outcome.as_deref() {
                    Some("success" | "succeeded" | "ok") => Outcome::Success,
                    Some("failed" | "failure" | "error") => Outcome::Failed,
                    Some("declined") => Outcome::Declined,
                    Some(other) => {
                        return Err(err(
                            Some("outcome"),
                            RejectReason::InvalidField,
                            format!("`{}` is not success, failed or declined", cut(other)),
                        ));
                    }
                    None => {
                        return Err(err(
                            Some("outcome"),
                            RejectReason::MissingField,
                            "a transaction needs an outcome".into(),
                        ));
                    }
                };
                let amount_minor = match raw.amount {
                    None => 0,
                    Some(a) => {
                        (non_negative(finite(Some(a), "amount", line_no)?, "amount", line_no)? * 100.0).round() as i64
                    }
                };
                let id = self.cache.resolve(&self.registry, key(SeriesKind::Transaction, ""));
                out.push(Event { ts, series: id, body: EventBody::Transaction(Transaction { outcome, amount_minor }) });
            }
            "change" => {
                let kind = match raw.change.as_deref() {
                    Some("deploy") => ChangeKind::Deploy,
                    Some("config") => ChangeKind::Config,
                    Some("rollback") => ChangeKind::Rollback,
                    Some(other) => {
                        return Err(err(
                            Some("change"),
                            RejectReason::InvalidField,
                            format!("`{}` is not deploy, config or rollback", cut(other)),
                        ));
                    }
                    None => {
                        return Err(err(
                            Some("change"),
                            RejectReason::MissingField,
                            "a change needs a change kind".into(),
                        ));
                    }
                };
                let change = Change {
                    at: ts,
                    kind,
                    id: raw.id.as_deref().unwrap_or("").chars().take(MAX_LABEL_BYTES).collect(),
                    text: raw.text.as_deref().unwrap_or("").chars().take(4 * MAX_LABEL_BYTES).collect(),
                };
                let nodims = DimsRef::Borrowed(&[]);
                let id = self.cache.resolve(
                    &self.registry,
                    SeriesKeyRef { kind: SeriesKind::Change, service, name: "", dims: nodims },
                );
                out.push(Event { ts, series: id, body: EventBody::Change(Arc::new(change)) });
            }
            other => {
                return Err(err(
                    Some("kind"),
                    RejectReason::UnknownKind,
                    format!("`{}` is not request, gauge, transaction or change", cut(other)),
                ));
            }
        }
        Ok(())
    }

    /// Resolves a label set directly (for decoders of other formats).
    pub fn resolve(&mut self, key: SeriesKeyRef<'_>) -> SeriesId {
        self.cache.resolve(&self.registry, key)
    }
}

fn label<'a>(v: Option<&'a str>, field: &'static str, line: u64, required: bool) -> Result<&'a str, ParseError> {
    let err = |reason, detail: String| ParseError { line, field: Some(field), reason, detail };
    match v {
        None if required => Err(err(RejectReason::MissingField, format!("`{field}` is required"))),
        None => Ok(""),
        Some("") if required => Err(err(RejectReason::InvalidField, "empty".into())),
        Some(s) if s.len() > MAX_LABEL_BYTES => {
            Err(err(RejectReason::InvalidField, format!("longer than {MAX_LABEL_BYTES} bytes: {}", cut(s))))
        }
        Some(s) => Ok(s),
    }
}

fn finite(v: Option<f64>, field: &'static str, line: u64) -> Result<f64, ParseError> {
    match v {
        None => Err(ParseError {
            line,
            field: Some(field),
            reason: RejectReason::MissingField,
            detail: format!("`{field}` is required"),
        }),
        Some(x) if !x.is_finite() || x.abs() > MAX_MAGNITUDE => Err(ParseError {
            line,
            field: Some(field),
            reason: RejectReason::NotFinite,
            detail: format!("{x:e} is not a finite number below 1e24"),
        }),
        Some(x) => Ok(x),
    }
}

fn non_negative(v: f64, field: &'static str, line: u64) -> Result<f64, ParseError> {
    let v = finite(Some(v), field, line)?;
    if v < 0.0 {
        return Err(ParseError {
            line,
            field: Some(field),
            reason: RejectReason::Negative,
            detail: format!("{v} is below zero"),
        });
    }
    Ok(v)
}

/// At most 40 characters of user text, for error messages.
fn cut(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    }
}

/// Fields whose wrong type serde reports without naming them; the slow path
/// below finds which one it was.
const TYPED_FIELDS: [(&str, &str); 16] = [
    ("service", "string"),
    ("kind", "string"),
    ("operation", "string"),
    ("status", "integer"),
    ("latency_ms", "number"),
    ("error", "boolean"),
    ("peer", "string"),
    ("name", "string"),
    ("value", "number"),
    ("max", "number"),
    ("outcome", "string"),
    ("amount", "number"),
    ("change", "string"),
    ("id", "string"),
    ("text", "string"),
    ("attrs", "object"),
];

#[cold]
fn explain_serde_error(line: u64, bytes: &[u8], e: Option<&serde_json::Error>) -> ParseError {
    let invalid_json = |detail: String| ParseError { line, field: None, reason: RejectReason::InvalidJson, detail };
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => return invalid_json(format!("{} at column {}", strip_position(&e.to_string()), e.column())),
    };
    let Some(obj) = value.as_object() else {
        return invalid_json("an event is a JSON object".into());
    };
    for (field, want) in TYPED_FIELDS {
        let Some(v) = obj.get(field) else { continue };
        let ok = v.is_null()
            || match want {
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                _ => v.is_object(),
            };
        if !ok {
            let shown = cut(&v.to_string());
            let reason = if want == "number"
                && v.as_str().is_some_and(|s| {
                    let s = s.to_ascii_lowercase();
                    s.contains("nan") || s.contains("inf")
                }) {
                RejectReason::NotFinite
            } else {
                RejectReason::InvalidField
            };
            let field: &'static str = field;
            return ParseError { line, field: Some(field), reason, detail: format!("expected {want}, got {shown}") };
        }
    }
    if let Some(ts) = obj.get("ts") {
        return ParseError {
            line,
            field: Some("ts"),
            reason: RejectReason::InvalidTimestamp,
            detail: format!("expected RFC 3339 text or epoch milliseconds, got {}", cut(&ts.to_string())),
        };
    }
    invalid_json(e.map_or_else(|| "not UTF-8".to_string(), |e| strip_position(&e.to_string())))
}

fn strip_position(msg: &str) -> String {
    match msg.find(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(default)]
    ts: Option<RawTs<'a>>,
    #[serde(borrow, default)]
    service: Option<Text<'a>>,
    #[serde(borrow, default)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    operation: Option<Text<'a>>,
    #[serde(default)]
    status: Option<i64>,
    #[serde(default)]
    latency_ms: Option<f64>,
    #[serde(default)]
    error: Option<bool>,
    #[serde(borrow, default)]
    peer: Option<Text<'a>>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(borrow, default)]
    outcome: Option<Text<'a>>,
    #[serde(default)]
    amount: Option<f64>,
    #[serde(borrow, default)]
    change: Option<Text<'a>>,
    #[serde(borrow, default)]
    id: Option<Text<'a>>,
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    attrs: Option<Attrs<'a>>,
}

/// A string field, borrowed from the line unless it holds escapes. (serde borrows a
/// `Cow<str>` only as a direct `#[serde(borrow)]` field, never inside an `Option`, where it
/// would allocate a `String` per field per line.)
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

enum RawTs<'a> {
    Millis(i64),
    Text(Cow<'a, str>),
    Invalid(String),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawTs<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawTs<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("RFC 3339 text or epoch milliseconds")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(RawTs::Millis(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(v).map_or_else(|_| RawTs::Invalid(format!("{v} is out of range")), RawTs::Millis))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                if v.is_finite() && v.abs() < 9.2e18 {
                    Ok(RawTs::Millis(v.floor() as i64))
                } else {
                    Ok(RawTs::Invalid(format!("{v} is out of range")))
                }
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(RawTs::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawTs::Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(RawTs::Invalid(format!("expected RFC 3339 text or epoch milliseconds, got {v}")))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawTs::Invalid("expected RFC 3339 text or epoch milliseconds, got an object".into()))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawTs::Invalid("expected RFC 3339 text or epoch milliseconds, got an array".into()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `attrs`: string values borrowed, other scalars rendered to text, nested values skipped.
/// Inline room for a typical event's attributes: no allocation per line.
struct Attrs<'a>(smallvec::SmallVec<[(Cow<'a, str>, Cow<'a, str>); 4]>);

impl<'de: 'a, 'a> Deserialize<'de> for Attrs<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Attrs<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                let mut out = smallvec::SmallVec::new();
                while let Some(k) = m.next_key::<Text<'de>>()? {
                    let v: AttrValue<'de> = m.next_value()?;
                    if let Some(v) = v.0 {
                        out.push((k.0, v));
                    }
                }
                Ok(Attrs(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

struct AttrValue<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for AttrValue<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = AttrValue<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(AttrValue(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AttrValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(AttrValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(AttrValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(AttrValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(AttrValue(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(AttrValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AttrValue(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AttrValue(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests;
