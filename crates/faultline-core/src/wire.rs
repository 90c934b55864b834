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

use crate::event::Event;
use crate::reject::RejectReason;
use crate::series::{PENDING_ID, SeriesCache, SeriesId, SeriesKeyRef, SeriesRegistry};
use crate::time::{DurationMs, Millis};

use rules::cut;
pub use rules::{Fields, Latency, RecordKind, Ts};

mod rules;

/// Most extra dimensions a series key may carry.
pub const MAX_DIMS: usize = 8;
/// Longest service, operation, gauge or dimension value accepted, bytes.
pub const MAX_LABEL_BYTES: usize = 256;

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
    /// Ids of the label sets a deferred decoder settled last.
    settled: Vec<SeriesId>,
}

impl Decoder {
    /// A decoder interning into `registry`.
    pub fn new(registry: Arc<SeriesRegistry>, mut config: DecoderConfig) -> Decoder {
        config.dims.truncate(MAX_DIMS);
        Decoder { registry, cache: SeriesCache::default(), config, settled: Vec::new() }
    }

    /// A decoder that interns no new label set until [`Decoder::settle`]: its
    /// events carry placeholder ids (from [`crate::series::PENDING_ID`] up)
    /// for label sets the registry did not know. Decoders of parts of one
    /// stream that settle in stream order mint the ids one decoder would.
    pub fn deferred(registry: Arc<SeriesRegistry>, config: DecoderConfig) -> Decoder {
        let mut d = Decoder::new(registry, config);
        d.cache = SeriesCache::deferred();
        d
    }

    /// Interns the label sets met since the last call (in the order met) and
    /// gives `events`, the events decoded since then, their series. Does
    /// nothing on a decoder that does not defer.
    pub fn settle(&mut self, events: &mut [Event]) {
        self.cache.settle(&self.registry, &mut self.settled);
        if self.settled.is_empty() {
            return;
        }
        for e in events {
            if let Some(slot) = e.series.0.checked_sub(PENDING_ID) {
                e.series = self.settled[slot as usize];
            }
        }
    }

    /// The shared registry.
    pub fn registry(&self) -> &Arc<SeriesRegistry> {
        &self.registry
    }

    /// The settings, so a format's parser knows which keys are dimensions.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
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
        // Validate UTF-8 once for the whole line, so serde_json's `StrRead` need
        // not validate every string again (measured: a quarter of the parse).
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(explain_serde_error(line_no, line, None));
        };
        let raw: RawEvent<'_> = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => return Err(explain_serde_error(line_no, line, Some(&e))),
        };
        let attrs: &[(Cow<'_, str>, Cow<'_, str>)] = raw.attrs.as_ref().map_or(&[], |a| &a.0[..]);
        let kind = raw.kind.as_deref().map(|k| match k {
            "request" => Ok(RecordKind::Request),
            "gauge" => Ok(RecordKind::Gauge),
            "transaction" => Ok(RecordKind::Transaction),
            "change" => Ok(RecordKind::Change),
            other => Err(other),
        });
        let ts = match &raw.ts {
            None => None,
            Some(RawTs::Millis(ms)) => Some(Ts::Millis(*ms)),
            Some(RawTs::Text(t)) => Some(Ts::Text(t)),
            Some(RawTs::Invalid(what)) => Some(Ts::Invalid(what)),
        };
        let fields = Fields {
            ts,
            service: raw.service.as_deref(),
            kind,
            operation: raw.operation.as_deref(),
            status: raw.status,
            latency: raw.latency_ms.map(Latency::Millis),
            error: raw.error,
            peer: raw.peer.as_deref(),
            name: raw.name.as_deref(),
            value: raw.value,
            max: raw.max,
            outcome: raw.outcome.as_deref(),
            amount: raw.amount,
            change: raw.change.as_deref(),
            id: raw.id.as_deref(),
            text: raw.text.as_deref(),
        };
        let attr = |name: &str| attrs.iter().find(|(k, _)| k == name).map(|(_, v)| &**v);
        self.emit(line_no, &fields, attr, processing_now, out)
    }

    /// Resolves a label set directly (for decoders of other formats).
    pub fn resolve(&mut self, key: SeriesKeyRef<'_>) -> SeriesId {
        self.cache.resolve(&self.registry, key)
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
