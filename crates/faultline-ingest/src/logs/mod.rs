//! Log lines to events: the formats a log-stream source reads, each parsed into the core's [`Fields`].
//!
//! A format's parser reads one line into borrowed [`Fields`] and hands them to
//! [`Decoder::emit`], the event rules every input shares (so a log line and a
//! JSON event line saying the same thing become the same events). Formats:
//! - `event`: the event JSON of DESIGN.md, one object per line.
//!
//! [`Fields`]: faultline_core::wire::Fields

use std::collections::BTreeMap;

use faultline_core::wire::{Decoder, ParseError};
use faultline_core::{Event, Millis};

/// How a source's lines are read.
#[derive(Debug, Clone, PartialEq)]
pub enum LineFormat {
    /// The event JSON of DESIGN.md, one object per line.
    Event,
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

impl LineFormat {
    /// The names `format` accepts.
    pub const NAMES: &'static [&'static str] = &["event"];

    /// The format `options` describe, checked.
    pub fn from_options(options: &FormatOptions) -> Result<LineFormat, FormatError> {
        let err = |key: &str, message: String| FormatError { key: key.to_string(), message };
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
            other => Err(err("format", format!("unknown format `{other}` (known: {})", LineFormat::NAMES.join(", ")))),
        }
    }
}

/// Parses the lines of one stream in one format. Keeps what the stream
/// carries across lines: its latest event time (a syslog RFC 3164 date has
/// no year; it is taken from the stream's time, not the wall clock).
#[derive(Debug)]
pub struct LogParser {
    format: LineFormat,
    service: Option<String>,
    stream_time: Option<Millis>,
}

impl LogParser {
    /// A parser of `format`; `service` is the service of lines that name none.
    pub fn new(format: LineFormat, service: Option<String>) -> LogParser {
        LogParser { format, service, stream_time: None }
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
    pub fn decode(
        &mut self,
        record: u64,
        line: &[u8],
        decoder: &mut Decoder,
        processing_now: Option<Millis>,
        out: &mut Vec<Event>,
    ) -> Result<(), ParseError> {
        let before = out.len();
        let result = match &self.format {
            LineFormat::Event => decoder.decode_line(record, line, processing_now, out),
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
