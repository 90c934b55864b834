//! Entry points for the fuzz targets in `fuzz/`: private decoding steps of the receiver and the WAL, not a stable API.
//!
//! Each is a thin door onto the code the service runs, so a fuzz target
//! exercises that code and not a copy of it.

use std::sync::Mutex;

use faultline_core::Millis;
use faultline_core::wire::Decoder;

pub use crate::otlp::http::{GzipError, inflate_gzip};
use crate::otlp::metrics::Streams;
use crate::otlp::{SpanMapping, TraceSummary};
use crate::source::SourceBatch;

/// The write-ahead log's record kinds (1–6: traces, metrics, logs, each protobuf then OTLP/JSON).
pub const RECORD_KINDS: std::ops::RangeInclusive<u8> = 1..=6;

/// Decodes one OTLP request body as the receiver does (and as the WAL replay
/// does), its signal and form given by a write-ahead log record `kind`;
/// `None` for a kind outside [`RECORD_KINDS`].
pub fn decode_request(
    kind: u8,
    body: &[u8],
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    streams: &Mutex<Streams>,
    processing_now: Option<Millis>,
    batch: &mut SourceBatch,
) -> Option<Result<TraceSummary, String>> {
    let (signal, body) = crate::otlp::from_wal_kind(kind, body)?;
    Some(crate::otlp::decode_body(signal, body, decoder, mapping, streams, processing_now, batch))
}

/// The records of one write-ahead log segment's bytes from offset `from`, as
/// [`crate::wal::Wal::replay`] reads them: `(kind, payload, offset past it)`; how many.
pub fn segment_records(data: &[u8], from: u64, each: impl FnMut(u8, &[u8], u64)) -> u64 {
    crate::wal::segment_records(data, from, each)
}
