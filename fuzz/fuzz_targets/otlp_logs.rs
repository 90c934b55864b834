//! Fuzzes the OTLP logs mapping, protobuf or OTLP/JSON by the first byte: never a panic, only listed rejections.
#![no_main]

use std::sync::Mutex;

use faultline_fuzz::otlp::decode_checked;
use faultline_ingest::otlp::metrics::Streams;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&form, body)) = data.split_first() else { return };
    let kind = if form & 1 == 0 { 5 } else { 6 };
    if let Some((summary, _)) = decode_checked(kind, body, &Mutex::new(Streams::default())) {
        assert!(summary.rejected + summary.ignored <= summary.spans, "{summary:?}");
    }
});
