//! Lines to decoded events on the source's thread: line splitting, the source's format, reject counts.

use std::sync::Arc;

use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{Millis, SeriesRegistry};

use crate::logs::LogParser;
use crate::source::{RejectSample, SourceBatch};

/// Decode errors kept per batch for the log; the rest are only counted.
const ERRORS_KEPT: usize = 5;

/// A source's decoder: splits bytes into lines and parses each in the
/// source's format ([`LogParser`]) into the core's [`Decoder`] (which interns
/// label sets in the shared registry through its own local cache), counting
/// bad lines by reason. Line numbers run on across calls, so errors say where
/// in the stream they were.
#[derive(Debug)]
pub struct LineDecoder {
    decoder: Decoder,
    parser: LogParser,
    line_no: u64,
    origin: String,
}

impl LineDecoder {
    /// A decoder of the event JSON of DESIGN.md, interning into `registry`.
    pub fn new(registry: Arc<SeriesRegistry>, config: DecoderConfig) -> LineDecoder {
        LineDecoder::with_parser(registry, config, LogParser::event())
    }

    /// A decoder of the lines `parser` reads, interning into `registry`.
    pub fn with_parser(registry: Arc<SeriesRegistry>, config: DecoderConfig, parser: LogParser) -> LineDecoder {
        LineDecoder { decoder: Decoder::new(registry, config), parser, line_no: 0, origin: String::new() }
    }

    /// Names the stream in error samples (a file's path, a TCP peer).
    pub fn with_origin(mut self, origin: impl Into<String>) -> LineDecoder {
        self.origin = origin.into();
        self
    }

    /// A decoder like this one for another stream: same format and registry,
    /// its own line numbers and label cache.
    pub fn fork(&self, origin: impl Into<String>) -> LineDecoder {
        LineDecoder {
            decoder: Decoder::new(self.decoder.registry().clone(), self.decoder.config().clone()),
            parser: LogParser::new(self.parser.format().clone(), self.parser.service().map(str::to_string)),
            line_no: 0,
            origin: origin.into(),
        }
    }

    /// A decoder like [`LineDecoder::fork`] for a part of this stream, decoded
    /// beside other parts: it interns no new label set until
    /// [`LineDecoder::settle`] (see `Decoder::deferred`). Same origin.
    pub(crate) fn fork_deferred(&self) -> LineDecoder {
        LineDecoder {
            decoder: Decoder::deferred(self.decoder.registry().clone(), self.decoder.config().clone()),
            ..self.fork(self.origin.clone())
        }
    }

    /// Whether parts of one stream decode the same on their own: every format
    /// but syslog, whose RFC 3164 dates take their year from the lines before.
    pub(crate) fn splittable(&self) -> bool {
        !matches!(self.parser.format(), crate::logs::LineFormat::Syslog { .. })
    }

    /// Interns what a deferred decoder met since the last call and gives the
    /// batch's events their series (see `Decoder::settle`).
    pub(crate) fn settle(&mut self, batch: &mut SourceBatch) {
        self.decoder.settle(&mut batch.events);
    }

    /// Numbers the next line `n + 1`.
    pub(crate) fn set_line_no(&mut self, n: u64) {
        self.line_no = n;
    }

    /// Lines decoded so far (blank ones included).
    pub fn line_no(&self) -> u64 {
        self.line_no
    }

    /// Decodes one line (without its newline) into `batch`. Blank lines count
    /// as lines but carry nothing. `processing_now` enables the future-horizon check.
    pub fn decode_line(&mut self, line: &[u8], processing_now: Option<Millis>, batch: &mut SourceBatch) {
        self.line_no += 1;
        batch.records += 1;
        batch.bytes += line.len() as u64 + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        if let Err(e) = self.parser.decode(self.line_no, line, &mut self.decoder, processing_now, &mut batch.events) {
            batch.rejects.add(e.reason);
            if batch.errors.len() < ERRORS_KEPT {
                batch.errors.push(RejectSample::new(e, &self.origin, line));
            }
        }
    }

    /// Counts a record the source itself could not take (its framing is
    /// broken, say), keeping a sample of it.
    pub fn reject_record(
        &mut self,
        reason: faultline_core::RejectReason,
        field: Option<&'static str>,
        detail: &str,
        record: &[u8],
        batch: &mut SourceBatch,
    ) {
        self.line_no += 1;
        batch.records += 1;
        batch.rejects.add(reason);
        if batch.errors.len() < ERRORS_KEPT {
            let e = faultline_core::wire::ParseError { line: self.line_no, field, reason, detail: detail.to_string() };
            batch.errors.push(RejectSample::new(e, &self.origin, record));
        }
    }

    /// Counts a line that was longer than a source accepts (read and dropped, not decoded).
    pub fn reject_too_long(&mut self, consumed: u64, batch: &mut SourceBatch) {
        self.line_no += 1;
        batch.records += 1;
        batch.bytes += consumed;
        batch.rejects.add(faultline_core::RejectReason::LineTooLong);
    }

    /// Decodes every `\n`-terminated line of `data` (a last line without a
    /// newline is decoded too).
    pub fn decode_lines(&mut self, data: &[u8], processing_now: Option<Millis>, batch: &mut SourceBatch) {
        let data = data.strip_suffix(b"\n").unwrap_or(data);
        if data.is_empty() {
            return;
        }
        for line in data.split(|b| *b == b'\n') {
            self.decode_line(line, processing_now, batch);
        }
    }
}
