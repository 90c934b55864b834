//! Tests of the receiver's body decoding: any body of any signal and form decodes or is refused, never a panic.

use std::sync::{Arc, Mutex};

use faultline_core::SeriesRegistry;
use faultline_core::wire::{Decoder, DecoderConfig};
use proptest::prelude::*;

use super::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The dispatch the `otlp_*` fuzz targets go through: arbitrary bytes, and valid JSON
    /// bodies cut short, as each record kind; what decodes has each rejection counted once.
    #[test]
    fn any_body_decodes_or_is_refused(
        kind in 1u8..=6,
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        cut in any::<prop::sample::Index>(),
    ) {
        let json = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[{"kind":2,"startTimeUnixNano":"1","endTimeUnixNano":"2000000"}]}]}],"resourceMetrics":[],"resourceLogs":[]}"#;
        let registry = Arc::new(SeriesRegistry::new(100));
        let config = DecoderConfig { dims: vec!["region".into()], ..Default::default() };
        let mapping = SpanMapping::new(&config.dims, &[]);
        let streams = Mutex::new(metrics::Streams::default());
        for body in [&bytes[..], &json[..cut.index(json.len() + 1)]] {
            let (signal, body) = from_wal_kind(kind, body).expect("kinds 1–6 are known");
            let mut decoder = Decoder::new(registry.clone(), config.clone());
            let mut batch = SourceBatch::default();
            if let Ok(summary) = decode_body(signal, body, &mut decoder, &mapping, &streams, None, &mut batch) {
                prop_assert_eq!(summary.rejected, batch.rejects.total());
                prop_assert!(summary.rejected <= summary.spans);
            }
        }
    }
}
