//! The OTLP targets' setup and oracles: the span mapping, requests of one input, and the summary invariants.

use std::sync::Mutex;

use faultline_ingest::SourceBatch;
use faultline_ingest::otlp::metrics::Streams;
use faultline_ingest::otlp::{SpanMapping, TraceSummary};

use crate::{NOW, decoder, decoder_config};

/// Between the requests of one fuzz input (metrics: a later request gives the deltas of an earlier one).
pub const SEPARATOR: &[u8] = b"\n~~~\n";
/// Errors a summary keeps (the receiver's `ERRORS_KEPT`).
const ERRORS_KEPT: usize = 5;

/// The span mapping of [`decoder_config`]'s dimensions (`tier` read from `service.tier` first).
pub fn mapping() -> SpanMapping {
    SpanMapping::new(&decoder_config().dims, &[("tier".into(), vec!["service.tier".into(), "tier".into()])])
}

/// Splits a fuzz input into the requests it stands for, at [`SEPARATOR`], at most `max`.
pub fn split_requests(data: &[u8], max: usize) -> Vec<&[u8]> {
    let sep = SEPARATOR;
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < max
        && let Some(i) = rest.windows(sep.len()).position(|w| w == sep)
    {
        out.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    out.push(rest);
    out
}

/// Decodes one request body as the receiver does (`kind`: a WAL record kind, 1–6) and checks
/// the result's invariants; `None` when the body is not such a request.
pub fn decode_checked(kind: u8, body: &[u8], streams: &Mutex<Streams>) -> Option<(TraceSummary, SourceBatch)> {
    let mut decoder = decoder();
    let mut batch = SourceBatch::default();
    let decoded =
        faultline_ingest::fuzzing::decode_request(kind, body, &mut decoder, &mapping(), streams, Some(NOW), &mut batch)
            .expect("kinds 1–6 are known");
    let summary = decoded.ok()?;
    check_summary(&summary, &batch);
    Some((summary, batch))
}

/// What every mapping's summary must say of its batch: each rejection counted once by
/// reason, the errors kept a prefix of them, no more rejected or ignored items than items.
pub fn check_summary(summary: &TraceSummary, batch: &SourceBatch) {
    assert_eq!(summary.rejected, batch.rejects.total(), "rejections counted by reason: {summary:?}");
    assert!(summary.errors.len() <= ERRORS_KEPT, "errors kept: {}", summary.errors.len());
    assert_eq!(summary.errors.len() as u64, summary.rejected.min(ERRORS_KEPT as u64), "errors kept: {summary:?}");
    assert!(summary.rejected <= summary.spans, "more rejected than items: {summary:?}");
    for e in &summary.errors {
        assert!(e.chars().count() <= 400, "an error message not cut short: {e}");
    }
}
