//! Log lines to events: the formats a log-stream source reads, each parsed into the core's [`Fields`].
//!
//! A format's parser reads one line into borrowed [`Fields`] and hands them to
//! [`Decoder::emit`], the event rules every input shares (so a log line and a
//! JSON event line saying the same thing become the same events, and reject for
//! the same reasons). Formats (`format` in a source's config):
//! - `event`: the event JSON of DESIGN.md, one object per line.
//! - `json`: JSON logs, fields found through a [`FieldMap`] (`json.rs`).
//! - `logfmt`: `key=value key="quoted \"value\"" flag` lines, the same [`FieldMap`] (`logfmt.rs`).
//! - `nginx`, `apache`: the combined (or common) access log, with the request
//!   time after it (`access.rs`, `nginx.rs`, `apache.rs`; operations named by `route.rs`).
//! - `syslog`: RFC 5424 and RFC 3164 messages, the message part optionally in one
//!   of the formats above (`message_format`, `syslog.rs`).
//!
//! Mapped log lines (json, logfmt, syslog messages) follow the OTLP logs mapping
//! (`otlp/logs.rs`): a line is a request of its service's `logs` operation
//! ([`LOG_OPERATION`]), an error when its level is error or worse. Where they
//! differ: a JSON or logfmt line may name its own operation, status and
//! latency, and a line with a transaction outcome or a change kind is that
//! transaction or change *instead of* a `logs` request (one kind per line).
//!
//! A line that does not have its format's shape is a [`ParseError`] with
//! [`RejectReason::Unparsed`] (JSON syntax: [`RejectReason::InvalidJson`]) that
//! says what was expected where; no input panics (property-tested with
//! arbitrary bytes).
//!
//! [`Fields`]: faultline_core::wire::Fields
//! [`LOG_OPERATION`]: crate::otlp::logs::LOG_OPERATION
//! [`RejectReason::Unparsed`]: faultline_core::RejectReason::Unparsed
//! [`RejectReason::InvalidJson`]: faultline_core::RejectReason::InvalidJson

use std::collections::BTreeMap;

use faultline_core::wire::{Decoder, ParseError};
use faultline_core::{Event, Millis, RejectReason};

pub use field_map::{FieldMap, MappedField};

mod access;
mod apache;
mod field_map;
mod json;
mod logfmt;
mod nginx;
mod record;
mod route;
mod syslog;

#[cfg(test)]
mod tests;

/// How a source's lines are read.
#[derive(Debug, Clone, PartialEq)]
pub enum LineFormat {
    /// The event JSON of DESIGN.md, one object per line.
    Event,
    /// JSON logs: one object per line, event fields read from the keys `fields` names.
    Json {
        /// Which keys feed which event field.
        fields: FieldMap,
        /// The unit of the mapped latency.
        latency_unit: LatencyUnit,
    },
    /// logfmt lines: `key=value` pairs, event fields read from the keys `fields` names.
    Logfmt {
        /// Which keys feed which event field.
        fields: FieldMap,
        /// The unit of the mapped latency.
        latency_unit: LatencyUnit,
    },
    /// nginx's combined access log, then `$request_time` and `$upstream_response_time`.
    Nginx {
        /// The unit of the request times (seconds unless configured).
        latency_unit: LatencyUnit,
    },
    /// Apache's combined access log, then `%D` (microseconds unless configured).
    Apache {
        /// The unit of the request time.
        latency_unit: LatencyUnit,
    },
    /// RFC 5424 or RFC 3164 syslog messages.
    Syslog {
        /// The format of the message part; `None`: every message is a `logs` request.
        message_format: Option<Box<LineFormat>>,
    },
}

/// The unit of a latency a log line gives as a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatencyUnit {
    /// Seconds (`s`): nginx's `$request_time`, Apache's `%T`.
    Seconds,
    /// Milliseconds (`ms`), the event JSON's unit.
    Millis,
    /// Microseconds (`us`): Apache's `%D`.
    Micros,
    /// Nanoseconds (`ns`).
    Nanos,
}

/// A format's options as the source's config gives them, still unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormatOptions {
    /// `format`: the format's name (see [`LineFormat::NAMES`]); empty means `event`.
    pub format: String,
    /// `service`: the service of lines that name none.
    pub service: Option<String>,
    /// `[sources.NAME.fields]`: per event field, the keys it is read from, best first.
    pub fields: BTreeMap<String, Vec<String>>,
    /// `latency_unit`: the unit of a mapped latency (`s`, `ms`, `us`, `ns`).
    pub latency_unit: Option<String>,
    /// `message_format`: for `syslog`, the format of the message part.
    pub message_format: Option<String>,
}

/// A mistake in a format's options: the key at fault and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct FormatError {
    /// The config key under the source (`format`, `fields.latency`, …).
    pub key: String,
    /// What is wrong, for a person.
    pub message: String,
}

/// Parses the lines of one stream in one format. Keeps what the stream
/// carries across lines: its latest event time (a syslog RFC 3164 date has
/// no year; it is taken from the stream's time, not the wall clock), and the
/// buffers a parser reuses so that a line costs no allocation once warm.
#[derive(Debug)]
pub struct LogParser {
    format: LineFormat,
    service: Option<String>,
    stream_time: Option<Millis>,
    scratch: Scratch,
}

impl LineFormat {
    /// The names `format` accepts.
    pub const NAMES: &'static [&'static str] = &["event", "json", "logfmt", "nginx", "apache", "syslog"];
    /// The names `message_format` accepts.
    pub const MESSAGE_FORMATS: &'static [&'static str] = &["json", "logfmt", "nginx", "apache"];

    /// The format `options` describe, checked: an unknown format or field name,
    /// an empty key, a unit that is none, a key the format does not read, an
    /// access log without `service`.
    pub fn from_options(options: &FormatOptions) -> Result<LineFormat, FormatError> {
        let err = |key: &str, message: String| FormatError { key: key.to_string(), message };
        let unit = |default| match options.latency_unit.as_deref() {
            None => Ok(default),
            Some(u) => LatencyUnit::parse(u).ok_or_else(|| FormatError {
                key: "latency_unit".into(),
                message: format!("unknown unit `{u}` (known: s, ms, us, ns)"),
            }),
        };
        let not_syslog = || match options.message_format {
            Some(_) => Err(err("message_format", format!("only syslog has a message format, not {}", options.format))),
            None => Ok(()),
        };
        let fixed_fields = |what: &str| match options.fields.is_empty() {
            true => Ok(()),
            false => Err(err("fields", format!("{what} has fixed fields; `fields` is for json and logfmt"))),
        };
        match options.format.as_str() {
            "" | "event" => {
                for (key, set) in [
                    ("fields", !options.fields.is_empty()),
                    ("latency_unit", options.latency_unit.is_some()),
                    ("message_format", options.message_format.is_some()),
                ] {
                    if set {
                        return Err(err(
                            key,
                            "the event format has its own field names; this key is for mapped formats".into(),
                        ));
                    }
                }
                Ok(LineFormat::Event)
            }
            "json" | "logfmt" => {
                not_syslog()?;
                let fields = FieldMap::from_options(&options.fields)?;
                let latency_unit = unit(LatencyUnit::Millis)?;
                Ok(match options.format.as_str() {
                    "json" => LineFormat::Json { fields, latency_unit },
                    _ => LineFormat::Logfmt { fields, latency_unit },
                })
            }
            "nginx" | "apache" => {
                not_syslog()?;
                fixed_fields("an access log")?;
                if options.service.as_deref().is_none_or(str::is_empty) {
                    return Err(err("service", "an access log names no service; set the service of its lines".into()));
                }
                Ok(match options.format.as_str() {
                    "nginx" => LineFormat::Nginx { latency_unit: unit(LatencyUnit::Seconds)? },
                    _ => LineFormat::Apache { latency_unit: unit(LatencyUnit::Micros)? },
                })
            }
            "syslog" => {
                let inner = match options.message_format.as_deref() {
                    None => {
                        fixed_fields("syslog without a message format")?;
                        if options.latency_unit.is_some() {
                            return Err(err("latency_unit", "syslog without a message format reads no latency".into()));
                        }
                        None
                    }
                    Some(f @ ("json" | "logfmt" | "nginx" | "apache")) => {
                        // The message part's format, checked as if it were the source's
                        // (less the access logs' `service`: the app name stands in).
                        let inner = FormatOptions {
                            format: f.to_string(),
                            service: Some(options.service.clone().unwrap_or_else(|| "syslog".into())),
                            fields: options.fields.clone(),
                            latency_unit: options.latency_unit.clone(),
                            message_format: None,
                        };
                        Some(Box::new(LineFormat::from_options(&inner)?))
                    }
                    Some(other) => {
                        return Err(err(
                            "message_format",
                            format!(
                                "unknown message format `{other}` (known: {})",
                                LineFormat::MESSAGE_FORMATS.join(", ")
                            ),
                        ));
                    }
                };
                Ok(LineFormat::Syslog { message_format: inner })
            }
            other => Err(err("format", format!("unknown format `{other}` (known: {})", LineFormat::NAMES.join(", ")))),
        }
    }
}

impl LatencyUnit {
    /// The unit a `latency_unit` value names: `s`, `ms`, `us`, `ns`.
    pub fn parse(text: &str) -> Option<LatencyUnit> {
        match text {
            "s" => Some(LatencyUnit::Seconds),
            "ms" => Some(LatencyUnit::Millis),
            "us" => Some(LatencyUnit::Micros),
            "ns" => Some(LatencyUnit::Nanos),
            _ => None,
        }
    }

    /// `value` of this unit in milliseconds.
    pub fn to_millis(self, value: f64) -> f64 {
        match self {
            LatencyUnit::Seconds => value * 1000.0,
            LatencyUnit::Millis => value,
            LatencyUnit::Micros => value / 1000.0,
            LatencyUnit::Nanos => value / 1_000_000.0,
        }
    }
}

impl LogParser {
    /// A parser of `format`; `service` is the service of lines that name none.
    pub fn new(format: LineFormat, service: Option<String>) -> LogParser {
        LogParser { format, service, stream_time: None, scratch: Scratch::default() }
    }

    /// The parser `options` describe (their format checked by [`LineFormat::from_options`]).
    pub fn from_options(options: &FormatOptions) -> Result<LogParser, FormatError> {
        Ok(LogParser::new(LineFormat::from_options(options)?, options.service.clone()))
    }

    /// The event JSON of DESIGN.md.
    pub fn event() -> LogParser {
        LogParser::new(LineFormat::Event, None)
    }

    /// The service of lines that name none.
    pub fn service(&self) -> Option<&str> {
        self.service.as_deref()
    }

    /// The format.
    pub fn format(&self) -> &LineFormat {
        &self.format
    }

    /// Decodes one line (without its line ending), appending its events to
    /// `out`. `record` numbers the line in its stream, for the error.
    /// `processing_now` enables the future-horizon check and dates an RFC 3164
    /// message (which has no year) while the stream has no time of its own yet.
    pub fn decode(
        &mut self,
        record: u64,
        line: &[u8],
        decoder: &mut Decoder,
        processing_now: Option<Millis>,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let before = out.len();
        if self.scratch.dims != decoder.config().dims {
            self.scratch.dims.clone_from(&decoder.config().dims);
        }
        let result = match &self.format {
            LineFormat::Event => decoder.decode_line(record, line, processing_now, out),
            LineFormat::Syslog { message_format } => {
                let line = utf8(record, line, RejectReason::Unparsed)?;
                let frame = syslog::Frame {
                    record,
                    service: self.service.as_deref(),
                    year_from: self.stream_time.or(processing_now),
                    message_format: message_format.as_deref(),
                };
                syslog::decode(line, &frame, &mut self.scratch, decoder, processing_now, out)
            }
            format => {
                let reason = if matches!(format, LineFormat::Json { .. }) {
                    RejectReason::InvalidJson
                } else {
                    RejectReason::Unparsed
                };
                let line = utf8(record, line, reason)?;
                let line_ctx = LineContext { record, service: self.service.as_deref(), fallback_ts: None };
                decode_message(format, line, &line_ctx, &mut self.scratch, decoder, processing_now, out)
            }
        };
        if out.len() > before {
            let last = out[out.len() - 1].ts;
            self.stream_time = Some(self.stream_time.map_or(last, |t| t.max(last)));
        }
        result
    }

    /// The latest event time this stream has carried.
    pub fn stream_time(&self) -> Option<Millis> {
        self.stream_time
    }
}

/// Buffers a parser keeps between lines.
#[derive(Debug, Default)]
struct Scratch {
    /// The JSON walk's current key path (`http.response`).
    path: String,
    /// An access log line's operation (`GET /users/:id`).
    operation: String,
    /// The decoder's dimension names (kept here so a line's values can be
    /// looked up while the decoder is borrowed to emit).
    dims: Vec<String>,
}

/// What a line's parser takes from around the line: its number, the service of
/// lines that name none, the time of lines that carry none (a syslog frame's).
#[derive(Debug, Clone, Copy)]
struct LineContext<'a> {
    record: u64,
    service: Option<&'a str>,
    fallback_ts: Option<Millis>,
}

/// Decodes `line` in one of the line formats other than `event` and `syslog`
/// (the formats a syslog message part may have).
fn decode_message(
    format: &LineFormat,
    line: &str,
    ctx: &LineContext<'_>,
    scratch: &mut Scratch,
    decoder: &mut Decoder,
    processing_now: Option<Millis>,
    out: &mut Vec<Event>,
) -> Result<(), ParseError> {
    match format {
        LineFormat::Json { fields, latency_unit } => {
            let dims = &scratch.dims;
            json::decode(line, fields, *latency_unit, ctx, &mut scratch.path, dims, decoder, processing_now, out)
        }
        LineFormat::Logfmt { fields, latency_unit } => {
            logfmt::decode(line, fields, *latency_unit, ctx, &scratch.dims, decoder, processing_now, out)
        }
        LineFormat::Nginx { latency_unit } => {
            nginx::decode(line, *latency_unit, ctx, &mut scratch.operation, decoder, processing_now, out)
        }
        LineFormat::Apache { latency_unit } => {
            apache::decode(line, *latency_unit, ctx, &mut scratch.operation, decoder, processing_now, out)
        }
        LineFormat::Event | LineFormat::Syslog { .. } => Err(ParseError {
            line: ctx.record,
            field: None,
            reason: RejectReason::Unparsed,
            detail: "a syslog message part is json, logfmt, nginx or apache".into(),
        }),
    }
}

/// The line as text, or why not.
fn utf8(record: u64, line: &[u8], reason: RejectReason) -> Result<&str, ParseError> {
    std::str::from_utf8(line).map_err(|e| ParseError {
        line: record,
        field: None,
        reason,
        detail: format!("not UTF-8 at column {}", e.valid_up_to() + 1),
    })
}

/// At most 40 characters of line text, for errors.
fn cut(s: &str) -> String {
    match s.char_indices().nth(40) {
        None => s.to_string(),
        Some((i, _)) => format!("{}…", &s[..i]),
    }
}

/// A line that does not have its format's shape; `field` is the part at fault, when one is.
#[cold]
fn unparsed(record: u64, field: Option<&'static str>, detail: String) -> ParseError {
    ParseError { line: record, field, reason: RejectReason::Unparsed, detail }
}
