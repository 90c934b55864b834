//! Fuzzes the OTLP metrics mapping, protobuf or OTLP/JSON by the first byte: never a panic, only listed rejections.
//!
//! The rest of the input is up to four requests (split at
//! `faultline_fuzz::otlp::SEPARATOR`) decoded in turn with one receiver's
//! cumulative streams, so later requests give deltas and resets of earlier ones.
#![no_main]

use std::sync::Mutex;

use faultline_fuzz::otlp::{decode_checked, split_requests};
use faultline_ingest::otlp::metrics::Streams;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else { return };
    let kind = if form & 1 == 0 { 3 } else { 4 };
    let streams = Mutex::new(Streams::default());
    for body in split_requests(rest, 4) {
        decode_checked(kind, body, &streams);
    }
});
