//! A mapped log line's values as event fields: kind inference, error levels, epoch magnitudes, latency units.
//!
//! The JSON and logfmt walks offer each value of a mapped key to a
//! [`MappedRecord`] (the best-ranked key of a field wins), then
//! [`MappedRecord::emit`] reads the values as [`Fields`]:
//! - `ts`: a number is epoch time, its unit told by magnitude: below 1e11
//!   seconds (fractions kept), below 1e14 milliseconds, below 1e17
//!   microseconds, else nanoseconds (so 1e11 s, the year 5138, is the
//!   latest time in seconds, and ms times back to 1973 read right). A string
//!   of digits is a number; other text is RFC 3339.
//! - `kind`: `request`, `gauge`, `transaction`, `change`. Without one: an
//!   `outcome` makes a transaction, else a `change` makes a change, else the
//!   line is a request of its `operation`, else of the service's `logs`.
//! - `level`: error or worse (error, err, fatal, critical, crit, alert,
//!   emerg, emergency, panic; any case), or a number ≥ 50 (pino, bunyan),
//!   makes the line an error; so does `error` when true, `"true"`, a number
//!   other than 0, any other non-empty text, or an object (an error's
//!   details). A status ≥ 500 does too, by the event rules.
//! - `status`, `latency`, `amount`: numbers or numeric text; the latency is
//!   in the source's `latency_unit` (default ms).
//! - text fields must be strings; the service defaults to the source's.

use std::borrow::Cow;

use faultline_core::event::Event;
use faultline_core::wire::{Decoder, Fields, Latency, MAX_DIMS, ParseError, RecordKind, Ts};
use faultline_core::{Millis, RejectReason};

use super::field_map::{FieldMap, MappedField};
use super::{LatencyUnit, LineContext};
use crate::otlp::logs::LOG_OPERATION;

/// A value of a mapped key, borrowed from the line where it can be.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value<'a> {
    /// Text (owned only when a JSON string held escapes).
    Str(Cow<'a, str>),
    /// An integer.
    Int(i64),
    /// Another number.
    Float(f64),
    /// A boolean (a bare logfmt key is `true`).
    Bool(bool),
    /// A JSON object (its contents are not kept).
    Object,
    /// A JSON array (its contents are not kept).
    Array,
}

/// The values a line gave its mapped fields and its dimensions.
#[derive(Debug, Default)]
pub(super) struct MappedRecord<'a> {
    values: [Option<(u8, Value<'a>)>; MappedField::ALL.len()],
    dims: [Option<Cow<'a, str>>; MAX_DIMS],
}

impl<'a> MappedRecord<'a> {
    /// Offers `value`, found at a key of rank `rank` for `field`; kept when no better-ranked key gave one.
    pub(super) fn offer(&mut self, field: MappedField, rank: u8, value: Value<'a>) {
        let slot = &mut self.values[field as usize];
        if slot.as_ref().is_none_or(|(r, _)| rank < *r) {
            *slot = Some((rank, value));
        }
    }

    /// Offers a key's value to every field it feeds (`targets`) and to the
    /// dimension at `dim`; the last target takes the value without a copy.
    pub(super) fn offer_all(&mut self, targets: &[(MappedField, u8)], dim: Option<usize>, value: Value<'a>) {
        if let Some(i) = dim {
            match &value {
                Value::Str(s) if self.dims[i].is_none() => self.dims[i] = Some(s.clone()),
                Value::Int(n) if self.dims[i].is_none() => self.dims[i] = Some(Cow::Owned(n.to_string())),
                Value::Bool(b) if self.dims[i].is_none() => self.dims[i] = Some(Cow::Borrowed(bool_text(*b))),
                _ => {}
            }
        }
        if let Some(((last, last_rank), rest)) = targets.split_last() {
            for (field, rank) in rest {
                self.offer(*field, *rank, value.clone());
            }
            self.offer(*last, *last_rank, value);
        }
    }

    /// Whether the record holds a value for dimension `i`.
    pub(super) fn has_dim(&self, i: usize) -> bool {
        self.dims.get(i).is_some_and(Option::is_some)
    }

    /// Applies the event rules to the record (see the module doc), appending
    /// its events to `out`. `dims` are the decoder's dimension names, in order.
    #[expect(clippy::too_many_arguments, reason = "the line's context and the decoder's, passed through")]
    pub(super) fn emit(
        &self,
        map: &FieldMap,
        unit: LatencyUnit,
        ctx: &LineContext<'_>,
        dims: &[String],
        decoder: &mut Decoder,
        processing_now: Option<Millis>,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let fields = self.fields(map, unit, ctx)?;
        let values = &self.dims;
        let attr = |name: &str| dims.iter().position(|d| d == name).and_then(|i| values.get(i)?.as_deref());
        decoder.emit(ctx.record, &fields, attr, processing_now, out)
    }

    fn get(&self, field: MappedField) -> Option<&Value<'a>> {
        self.values[field as usize].as_ref().map(|(_, v)| v)
    }

    /// What the record says as event fields.
    fn fields<'s>(
        &'s self,
        map: &FieldMap,
        unit: LatencyUnit,
        ctx: &LineContext<'s>,
    ) -> Result<Fields<'s>, ParseError> {
        let bad = |field: MappedField, what: &str| -> ParseError {
            let (rank, value) = self.values[field as usize].as_ref().expect("only fields with a value are checked");
            let key = map.keys(field).get(*rank as usize).map_or("?", |k| &**k);
            ParseError {
                line: ctx.record,
                field: Some(field.name()),
                reason: RejectReason::InvalidField,
                detail: format!("expected {what} at key `{key}`, got {}", shown(value)),
            }
        };
        let text = |field: MappedField| -> Result<Option<&str>, ParseError> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Str(s)) => Ok(Some(s)),
                Some(_) => Err(bad(field, "a string")),
            }
        };
        let number = |field: MappedField, what: &str| -> Result<Option<f64>, ParseError> {
            match self.get(field) {
                None => Ok(None),
                Some(Value::Int(n)) => Ok(Some(*n as f64)),
                Some(Value::Float(x)) => Ok(Some(*x)),
                Some(Value::Str(s)) => s.trim().parse::<f64>().map(Some).map_err(|_| bad(field, what)),
                Some(_) => Err(bad(field, what)),
            }
        };
        let ts = match self.get(MappedField::Ts) {
            None => ctx.fallback_ts.map(|t| Ts::Millis(t.0)),
            Some(v) => Some(timestamp(v)),
        };
        let kind = match self.get(MappedField::Kind) {
            None => None,
            Some(Value::Str(k)) => Some(match &**k {
                "request" => Ok(RecordKind::Request),
                "gauge" => Ok(RecordKind::Gauge),
                "transaction" => Ok(RecordKind::Transaction),
                "change" => Ok(RecordKind::Change),
                other => Err(other),
            }),
            Some(_) => return Err(bad(MappedField::Kind, "a string")),
        };
        let outcome = text(MappedField::Outcome)?;
        let change = text(MappedField::Change)?;
        let kind = kind.unwrap_or(Ok(match (outcome, change) {
            (Some(_), _) => RecordKind::Transaction,
            (None, Some(_)) => RecordKind::Change,
            (None, None) => RecordKind::Request,
        }));
        let status = match self.get(MappedField::Status) {
            None => None,
            Some(Value::Int(n)) => Some(*n),
            Some(Value::Float(x)) if x.fract() == 0.0 && x.abs() < 1e15 => Some(*x as i64),
            Some(Value::Str(s)) => {
                Some(s.trim().parse::<i64>().map_err(|_| bad(MappedField::Status, "an HTTP status"))?)
            }
            Some(_) => return Err(bad(MappedField::Status, "an HTTP status")),
        };
        let level_error = match self.get(MappedField::Level) {
            None => false,
            Some(Value::Int(n)) => *n >= 50,
            Some(Value::Float(x)) => *x >= 50.0,
            Some(Value::Str(s)) => is_error_level(s),
            Some(_) => return Err(bad(MappedField::Level, "a level name or number")),
        };
        let flag_error = match self.get(MappedField::Error) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::Int(n)) => *n != 0,
            Some(Value::Float(x)) => *x != 0.0,
            Some(Value::Str(s)) => !matches!(&**s, "" | "false" | "False" | "FALSE" | "0"),
            Some(Value::Object | Value::Array) => true,
        };
        let latency = number(MappedField::Latency, "a number")?.map(|v| Latency::Millis(unit.to_millis(v)));
        let service = text(MappedField::Service)?.or(ctx.service);
        let operation = text(MappedField::Operation)?.or(Some(LOG_OPERATION));
        Ok(Fields {
            ts,
            service,
            kind: Some(kind),
            operation,
            status,
            latency,
            error: Some(level_error || flag_error),
            peer: text(MappedField::Peer)?,
            outcome,
            amount: number(MappedField::Amount, "a number")?,
            change,
            id: text(MappedField::ChangeId)?,
            text: text(MappedField::Text)?,
            ..Fields::default()
        })
    }
}

/// A mapped `ts` value as an event time (see the module doc).
fn timestamp<'v>(v: &'v Value<'_>) -> Ts<'v> {
    match v {
        Value::Int(n) => epoch_int(*n),
        Value::Float(x) => epoch_float(*x),
        Value::Str(s) => {
            let b = s.as_bytes();
            if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
                match s.parse::<i64>() {
                    Ok(n) => epoch_int(n),
                    Err(_) => Ts::Invalid("an epoch number out of range"),
                }
            } else if b.first().is_some_and(u8::is_ascii_digit) && b.iter().all(|c| c.is_ascii_digit() || *c == b'.') {
                s.parse::<f64>().map_or(Ts::Invalid("expected RFC 3339 text or an epoch number"), epoch_float)
            } else {
                Ts::Text(s)
            }
        }
        Value::Bool(_) => Ts::Invalid("expected RFC 3339 text or an epoch number, got a boolean"),
        Value::Object => Ts::Invalid("expected RFC 3339 text or an epoch number, got an object"),
        Value::Array => Ts::Invalid("expected RFC 3339 text or an epoch number, got an array"),
    }
}

fn epoch_int(n: i64) -> Ts<'static> {
    let a = n.unsigned_abs();
    Ts::Millis(if a < 100_000_000_000 {
        n * 1000
    } else if a < 100_000_000_000_000 {
        n
    } else if a < 100_000_000_000_000_000 {
        n.div_euclid(1000)
    } else {
        n.div_euclid(1_000_000)
    })
}

fn epoch_float(x: f64) -> Ts<'static> {
    let a = x.abs();
    let ms = if a < 1e11 {
        x * 1e3
    } else if a < 1e14 {
        x
    } else if a < 1e17 {
        x / 1e3
    } else {
        x / 1e6
    };
    if ms.is_finite() && ms.abs() < 9.2e18 {
        Ts::Millis(ms.floor() as i64)
    } else {
        Ts::Invalid("an epoch number out of range")
    }
}

/// Whether a level's name (or numeric text) is error or worse.
fn is_error_level(level: &str) -> bool {
    const ERRORS: [&str; 9] = ["error", "err", "fatal", "critical", "crit", "alert", "emerg", "emergency", "panic"];
    if let Ok(n) = level.trim().parse::<f64>() {
        return n >= 50.0;
    }
    ERRORS.iter().any(|e| e.eq_ignore_ascii_case(level))
}

fn bool_text(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// A value as an error message shows it, cut short.
fn shown(v: &Value<'_>) -> String {
    match v {
        Value::Str(s) if s.chars().count() > 40 => format!("`{}…`", s.chars().take(40).collect::<String>()),
        Value::Str(s) => format!("`{s}`"),
        Value::Int(n) => n.to_string(),
        Value::Float(x) => x.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Object => "an object".into(),
        Value::Array => "an array".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_numbers_read_by_magnitude() {
        let ms = 1_795_197_600_123;
        for (v, want) in [
            (Value::Int(1_795_197_600), ms - 123),
            (Value::Float(1_795_197_600.123), ms),
            (Value::Int(ms), ms),
            (Value::Int(ms * 1000 + 456), ms),
            (Value::Int(ms * 1_000_000 + 456_789), ms),
            (Value::Str("1795197600123".into()), ms),
            (Value::Str("1795197600.5".into()), ms - 123 + 500),
        ] {
            assert_eq!(timestamp(&v), Ts::Millis(want), "{v:?}");
        }
        assert_eq!(timestamp(&Value::Str("2026-11-20T18:00:00Z".into())), Ts::Text("2026-11-20T18:00:00Z"));
        assert!(matches!(timestamp(&Value::Str("99999999999999999999".into())), Ts::Invalid(_)));
        assert!(matches!(timestamp(&Value::Float(f64::INFINITY)), Ts::Invalid(_)));
    }

    #[test]
    fn error_levels_by_name_and_number() {
        for l in ["error", "ERROR", "Err", "fatal", "CRITICAL", "crit", "alert", "emerg", "panic", "50", "60"] {
            assert!(is_error_level(l), "{l}");
        }
        for l in ["warn", "warning", "info", "debug", "trace", "40", "notice", "errors", ""] {
            assert!(!is_error_level(l), "{l}");
        }
    }
}
