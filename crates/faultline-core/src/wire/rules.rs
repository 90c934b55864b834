//! The event rules every input format shares: what a record's fields mean as events.
//!
//! A decoder (the JSON lines of DESIGN.md, OTLP spans, a log parser) reads its
//! format into borrowed [`Fields`]; [`Decoder::emit`] applies the rules that
//! make events of them, in one place: timestamps and their bounds, label
//! limits, HTTP status → error, latency in µs, a request to a `peer` also
//! feeding the dependency series, gauge and amount bounds, transaction
//! outcomes and change kinds. So a span and a JSON line saying the same thing
//! become the same events, and reject for the same reasons.

use std::sync::Arc;

use super::{Decoder, MAX_DIMS, MAX_LABEL_BYTES, ParseError};
use crate::event::{Change, ChangeKind, Event, EventBody, Gauge, Outcome, Request, Transaction};
use crate::reject::RejectReason;
use crate::series::{DimsRef, SeriesKeyRef, SeriesKind};
use crate::time::Millis;

/// Largest magnitude accepted for gauge values and amounts.
const MAX_MAGNITUDE: f64 = 1e24;
/// Latest timestamp accepted at all (9999-12-31), whatever the horizon.
const MAX_TS: i64 = 253_402_300_799_999;

/// What kind of record the fields describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// A served request (and, with a `peer`, the outbound call it made).
    Request,
    /// Only an outbound call to `peer`: feeds the dependency series alone (an OTLP CLIENT span).
    Call,
    /// A gauge reading.
    Gauge,
    /// A business transaction.
    Transaction,
    /// A deploy, config change or rollback.
    Change,
}

/// An event time as the input gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Ts<'a> {
    /// Epoch milliseconds.
    Millis(i64),
    /// RFC 3339 text, still to parse.
    Text(&'a str),
    /// Something that is no time, with why.
    Invalid(&'a str),
}

/// A latency as the input gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Milliseconds, as the JSON lines carry it (checked finite and not negative).
    Millis(f64),
    /// Nanoseconds, as OTLP's span times give it (rounded to µs).
    Nanos(u64),
}

/// One record's fields before the event rules, borrowed from the input.
/// `None` is "absent"; which fields matter depends on `kind`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields<'a> {
    /// Event time.
    pub ts: Option<Ts<'a>>,
    /// The service (required).
    pub service: Option<&'a str>,
    /// The record kind, or the unknown kind's name.
    pub kind: Option<Result<RecordKind, &'a str>>,
    /// A request's operation.
    pub operation: Option<&'a str>,
    /// A request's HTTP status.
    pub status: Option<i64>,
    /// A request's latency.
    pub latency: Option<Latency>,
    /// A request's explicit error flag.
    pub error: Option<bool>,
    /// The dependency a request called.
    pub peer: Option<&'a str>,
    /// A gauge's name.
    pub name: Option<&'a str>,
    /// A gauge's reading.
    pub value: Option<f64>,
    /// A gauge's capacity.
    pub max: Option<f64>,
    /// A transaction's outcome.
    pub outcome: Option<&'a str>,
    /// A transaction's amount, in major units.
    pub amount: Option<f64>,
    /// A change's kind (deploy, config, rollback).
    pub change: Option<&'a str>,
    /// A change's id.
    pub id: Option<&'a str>,
    /// A change's text.
    pub text: Option<&'a str>,
}

impl Decoder {
    /// Applies the event rules to one record's `fields`, appending its events
    /// (one, or two for a request to a `peer`) to `out`. `attr` looks up a
    /// dimension's value by its configured name. `record` numbers the record
    /// in its input (a line, a span) for the error.
    pub fn emit<'a>(
        &mut self,
        record: u64,
        fields: &Fields<'a>,
        attr: impl Fn(&str) -> Option<&'a str>,
        processing_now: Option<Millis>,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let err = |field: Option<&'static str>, reason: RejectReason, detail: String| ParseError {
            line: record,
            field,
            reason,
            detail,
        };
        let ts = match fields.ts {
            None => return Err(err(Some("ts"), RejectReason::MissingField, "every event needs a time".into())),
            Some(Ts::Millis(ms)) => ms,
            Some(Ts::Text(t)) => match Millis::parse_rfc3339(t) {
                Some(ms) => ms.0,
                None => {
                    return Err(err(Some("ts"), RejectReason::InvalidTimestamp, format!("not RFC 3339: {}", cut(t))));
                }
            },
            Some(Ts::Invalid(what)) => return Err(err(Some("ts"), RejectReason::InvalidTimestamp, what.to_string())),
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
        let service = label(fields.service, "service", record, true)?;
        let kind = fields
            .kind
            .ok_or_else(|| err(Some("kind"), RejectReason::MissingField, "every event needs a kind".into()))?;

        let mut dim_values: [&str; MAX_DIMS] = [""; MAX_DIMS];
        let n_dims = self.config.dims.len();
        for (i, name) in self.config.dims.iter().enumerate() {
            if let Some(v) = attr(name) {
                if v.len() > MAX_LABEL_BYTES {
                    return Err(err(
                        Some("attrs"),
                        RejectReason::InvalidField,
                        format!("`{name}` is longer than {MAX_LABEL_BYTES} bytes"),
                    ));
                }
                dim_values[i] = v;
            }
        }
        let dims = DimsRef::Borrowed(&dim_values[..n_dims]);
        let key = |kind, name| SeriesKeyRef { kind, service, name, dims };

        match kind {
            Ok(kind @ (RecordKind::Request | RecordKind::Call)) => {
                // A request's series is its operation; a bare call's is its peer.
                let (series_kind, name) = match kind {
                    RecordKind::Call => (SeriesKind::Dependency, label(fields.peer, "peer", record, true)?),
                    _ => (SeriesKind::Request, label(fields.operation, "operation", record, false)?),
                };
                let latency_us = match fields.latency {
                    None => None,
                    Some(Latency::Millis(ms)) => {
                        Some(non_negative(ms, "latency_ms", record)?.mul_add(1000.0, 0.5) as u64)
                    }
                    Some(Latency::Nanos(ns)) => Some(ns.saturating_add(500) / 1000),
                };
                let status_error = match fields.status {
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
                    EventBody::Request(Request { latency_us, is_error: status_error || fields.error.unwrap_or(false) });
                let id = self.cache.resolve(&self.registry, key(series_kind, name));
                match fields.peer.filter(|_| kind == RecordKind::Request) {
                    Some(peer) => {
                        let peer = label(Some(peer), "peer", record, true)?;
                        let dep = self.cache.resolve(&self.registry, key(SeriesKind::Dependency, peer));
                        out.push(Event { ts, series: id, body: body.clone() });
                        out.push(Event { ts, series: dep, body });
                    }
                    None => out.push(Event { ts, series: id, body }),
                }
            }
            Ok(RecordKind::Gauge) => {
                let name = label(fields.name, "name", record, true)?;
                let value = finite(fields.value, "value", record)?;
                let max = match fields.max {
                    None => None,
                    Some(m) => {
                        let m = finite(Some(m), "max", record)?;
                        if m <= 0.0 {
                            return Err(err(Some("max"), RejectReason::Negative, format!("{m} must be above zero")));
                        }
                        Some(m)
                    }
                };
                let id = self.cache.resolve(&self.registry, key(SeriesKind::Gauge, name));
                out.push(Event { ts, series: id, body: EventBody::Gauge(Gauge { value, max }) });
            }
            Ok(RecordKind::Transaction) => {
                let outcome = match fields.outcome {
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
                let amount_minor = match fields.amount {
                    None => 0,
                    Some(a) => {
                        (non_negative(finite(Some(a), "amount", record)?, "amount", record)? * 100.0).round() as i64
                    }
                };
                let id = self.cache.resolve(&self.registry, key(SeriesKind::Transaction, ""));
                out.push(Event { ts, series: id, body: EventBody::Transaction(Transaction { outcome, amount_minor }) });
            }
            Ok(RecordKind::Change) => {
                let kind = match fields.change {
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
                    id: fields.id.unwrap_or("").chars().take(MAX_LABEL_BYTES).collect(),
                    text: fields.text.unwrap_or("").chars().take(4 * MAX_LABEL_BYTES).collect(),
                };
                let nodims = DimsRef::Borrowed(&[]);
                let id = self.cache.resolve(
                    &self.registry,
                    SeriesKeyRef { kind: SeriesKind::Change, service, name: "", dims: nodims },
                );
                out.push(Event { ts, series: id, body: EventBody::Change(Arc::new(change)) });
            }
            Err(other) => {
                return Err(err(
                    Some("kind"),
                    RejectReason::UnknownKind,
                    format!("`{}` is not request, gauge, transaction or change", cut(other)),
                ));
            }
        }
        Ok(())
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
pub(super) fn cut(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(40).collect();
        t.push('…');
        t
    }
}
