//! Syslog messages to events: RFC 5424 and RFC 3164 through `syslog_loose`, the message part optionally in another format.
//!
//! One message per call (framing, octet counts included, is the transport's).
//! RFC 5424 is tried first, then RFC 3164; a line that is neither
//! (`syslog_loose` found no header at all) is [`RejectReason::Unparsed`].
//!
//! - Time: the header's. An RFC 3164 date has no year: it takes the year of
//!   the stream's latest event time (else the processing time passed in,
//!   never the wall clock), minus one for a December date while that time
//!   is in January, plus one for a January date while it is in December; a
//!   stream with neither is rejected. A date without a zone is UTC.
//! - Service: the app name (the 3164 tag, the 5424 APP-NAME), else the
//!   source's `service`, else the hostname.
//! - Without `message_format`: every message is a request of the service's
//!   `logs` operation ([`LOG_OPERATION`]), an error when its severity is
//!   err or worse (0–3). Dimensions come from RFC 5424 structured-data
//!   parameters of that name (escapes kept).
//! - With `message_format` (json, logfmt, nginx, apache): the message part
//!   is a line of that format, its service defaulting as above (nginx's
//!   `access_log syslog:server=…` sends RFC 3164 with the tag `nginx`, or the
//!   `tag=` it is given), its time defaulting to the header's. A leading
//!   byte-order mark is dropped; a JSON message may carry rsyslog's `@cee:` cookie.
//!
//! `syslog_loose` allocates for RFC 5424 structured data (a `Vec` per
//! message that has some); messages without it allocate nothing.
//!
//! [`RejectReason::Unparsed`]: faultline_core::RejectReason::Unparsed
//! [`LOG_OPERATION`]: crate::otlp::logs::LOG_OPERATION

use std::cell::Cell;

use faultline_core::event::Event;
use faultline_core::wire::{Decoder, Fields, ParseError, RecordKind, Ts};
use faultline_core::{Millis, RejectReason};
use syslog_loose::{IncompleteDate, Variant};

use super::{LineContext, LineFormat, Scratch, decode_message, unparsed};
use crate::otlp::logs::LOG_OPERATION;

/// What a syslog message is read with, from around it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Frame<'a> {
    /// The line's number in its stream.
    pub(super) record: u64,
    /// The source's `service`.
    pub(super) service: Option<&'a str>,
    /// The time an RFC 3164 date takes its year from.
    pub(super) year_from: Option<Millis>,
    /// The format of the message part.
    pub(super) message_format: Option<&'a LineFormat>,
}

/// Decodes one syslog message (see the module doc).
pub(super) fn decode(
    line: &str,
    frame: &Frame<'_>,
    scratch: &mut Scratch,
    decoder: &mut Decoder,
    processing_now: Option<Millis>,
    out: &mut Vec<Event>,
) -> Result<(), ParseError> {
    let record = frame.record;
    let year_asked = Cell::new(false);
    let reference = frame.year_from.map(Millis::utc_year_month);
    let year_asked_ref = &year_asked;
    let year = move |(month, ..): IncompleteDate| -> i32 {
        year_asked_ref.set(true);
        let Some((year, now_month)) = reference else { return 1970 };
        let year = match (month, now_month) {
            (12, 1) => year - 1,
            (1, 12) => year + 1,
            _ => year,
        };
        year.clamp(0, 9999) as i32
    };
    let msg = syslog_loose::parse_message_with_year_tz(line, year, Some(chrono::Utc), Variant::Either);
    // On failure syslog_loose hands back the whole line as the message; a parse
    // that succeeded consumed at least a date.
    if std::ptr::eq(msg.msg, line) {
        return Err(unparsed(
            record,
            Some("header"),
            "expected `<PRI>` then an RFC 5424 header or an RFC 3164 date (`Mmm dd hh:mm:ss`)".into(),
        ));
    }
    if year_asked.get() && reference.is_none() {
        return Err(ParseError {
            line: record,
            field: Some("ts"),
            reason: RejectReason::InvalidTimestamp,
            detail: "an RFC 3164 date has no year, and the stream has no time yet to take it from".into(),
        });
    }
    let ts = msg.timestamp.map(|t| Millis(t.timestamp_millis()));
    let service = msg.appname.or(frame.service).or(msg.hostname);
    match frame.message_format {
        None => {
            let fields = Fields {
                ts: ts.map(|t| Ts::Millis(t.0)),
                service,
                kind: Some(Ok(RecordKind::Request)),
                operation: Some(LOG_OPERATION),
                error: Some(msg.severity.is_some_and(|s| (s as i32) <= 3)),
                ..Fields::default()
            };
            let sd = &msg.structured_data;
            let attr = |name: &str| sd.iter().flat_map(|e| e.params.iter()).find(|(k, _)| *k == name).map(|(_, v)| *v);
            decoder.emit(record, &fields, attr, processing_now, out)
        }
        Some(format) => {
            // RFC 5424 lets a UTF-8 message open with a byte-order mark.
            let mut text = msg.msg.strip_prefix('\u{feff}').unwrap_or(msg.msg);
            if matches!(format, LineFormat::Json { .. }) {
                text = text.strip_prefix("@cee:").map_or(text, str::trim_start);
            }
            let ctx = LineContext { record, service, fallback_ts: ts };
            decode_message(format, text, &ctx, scratch, decoder, processing_now, out)
        }
    }
}

#[cfg(test)]
mod tests;
