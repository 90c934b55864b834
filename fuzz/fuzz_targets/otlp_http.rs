//! Fuzzes the OTLP/HTTP body path: gzip inflated within the size limit, then decoded as the first byte's signal and form.
//!
//! The oracle of the limit, against flate2 reading past it: a valid body within
//! the limit is accepted whole, nothing past it is ever accepted, and memory
//! stays within the limit (libFuzzer's `-rss_limit_mb` catches a bomb).
#![no_main]

use std::io::Read;
use std::sync::Mutex;

use faultline_fuzz::otlp::decode_checked;
use faultline_ingest::fuzzing::{RECORD_KINDS, inflate_gzip};
use faultline_ingest::otlp::metrics::Streams;

/// The receiver's limit in the target: small, so bombs are cheap to find.
const MAX_BYTES: usize = 64 << 10;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, raw)) = data.split_first() else { return };
    let inflated = inflate_gzip(raw, MAX_BYTES);
    // The reference: flate2 read past the limit (bounded too, at four times it).
    let mut reference = Vec::new();
    let full = flate2::read::GzDecoder::new(raw).take(4 * MAX_BYTES as u64).read_to_end(&mut reference);
    // A body flate2 reads whole within the limit is accepted whole; one it reads whole past the
    // limit is too large. (A body bad past the limit may be refused either way: the receiver
    // stops reading at the limit, and flate2 drops the last bytes it inflated when it fails.)
    match (&inflated, full) {
        (Ok(body), Ok(_)) => assert_eq!(body, &reference, "accepted, but not the whole body"),
        (Ok(body), Err(e)) => panic!("accepted {} bytes that flate2 refuses: {e}", body.len()),
        (Err(e), Ok(n)) if n <= MAX_BYTES => panic!("refused a body of {n} bytes within the limit: {e}"),
        (Err(_), _) => {}
    }
    let Ok(body) = inflated else { return };
    let kinds = RECORD_KINDS.count() as u8;
    let kind = RECORD_KINDS.start() + selector % kinds;
    decode_checked(kind, &body, &Mutex::new(Streams::default()));
});
