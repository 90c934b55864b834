//! The `log_<format>` targets' one helper: a format's parser built from its name, fed every line of an input.

use faultline_core::RejectReason;
use faultline_ingest::{FormatOptions, LineFormat, LogParser, SourceBatch};

use crate::{NOW, decoder};

/// The exit code of a target whose format this build does not know (libFuzzer's own are
/// 1, 70 for a timeout, 71 for out of memory and 77 for a crash).
pub const EXIT_UNKNOWN_FORMAT: i32 = 3;

/// The options a target builds its format from: the name, and a service for lines that name none.
pub fn options(format: &str) -> FormatOptions {
    FormatOptions { format: format.into(), service: Some("svc".into()), ..Default::default() }
}

/// The target's init: exits with [`EXIT_UNKNOWN_FORMAT`] and a message when `format` is not
/// one this build knows (it comes with another branch), so `scripts/fuzz.sh` can skip it.
pub fn require_format(format: &str) {
    if let Err(e) = LineFormat::from_options(&options(format)) {
        eprintln!("faultline-fuzz: format `{format}` is not known to this build ({e}); target skipped");
        std::process::exit(EXIT_UNKNOWN_FORMAT);
    }
}

/// Decodes every line of `data` (split at `\n`, one parser for the whole input, as one
/// stream) in `format` and checks the oracles: a line gives its events or one
/// `ParseError` numbered with its line, never both; the error's reason is one a
/// line can have; the stream time is the latest event time seen.
pub fn decode_lines(format: &str, data: &[u8]) {
    let options = options(format);
    let line_format = LineFormat::from_options(&options).expect("checked in the target's init");
    let mut parser = LogParser::new(line_format, options.service.clone());
    let mut decoder = decoder();
    let mut batch = SourceBatch::default();
    let mut latest = None;
    for (i, line) in data.split(|b| *b == b'\n').enumerate() {
        let record = i as u64 + 1;
        let before = batch.events.len();
        match parser.decode(record, line, &mut decoder, Some(NOW), &mut batch.events) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(batch.events.len(), before, "line {record}: events and an error: {e}");
                assert_eq!(e.line, record, "the error numbers another line: {e}");
                assert!(listed(format, e.reason), "line {record}: reason `{}` is not listed for `{format}`", e.reason);
                let shown = e.to_string();
                assert!(shown.chars().count() <= 400, "an error message not cut short: {shown}");
            }
        }
        if let Some(last) = batch.events[before..].iter().map(|e| e.ts).max() {
            latest = latest.max(Some(last));
        }
        assert_eq!(parser.stream_time(), latest, "line {record}: stream time");
    }
}

/// Whether a line of `format` may be refused for `reason`: never for a length (the source
/// cuts long lines before parsing); `unparsed` only for a format that is not JSON.
fn listed(format: &str, reason: RejectReason) -> bool {
    match reason {
        RejectReason::LineTooLong => false,
        RejectReason::Unparsed => format != "event",
        _ => true,
    }
}
