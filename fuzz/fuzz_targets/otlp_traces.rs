//! Fuzzes the selective walk of `ExportTraceServiceRequest` against prost's decode: never a panic, and equal results wherever prost decodes.
//!
//! The walk reads only what the mapping needs, so it may accept bytes prost
//! refuses (a bad field it skips); where prost decodes, the walk must too,
//! with the same events, counts and rejections (the comparison of the
//! property tests in faultline-ingest's `otlp/traces/tests.rs`).
#![no_main]

use std::sync::Arc;

use faultline_core::SeriesRegistry;
use faultline_core::wire::Decoder;
use faultline_fuzz::otlp::{check_summary, mapping};
use faultline_fuzz::{NOW, decoder_config};
use faultline_ingest::SourceBatch;
use faultline_ingest::otlp::{decode_traces, map_traces};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // One registry for both paths, so equal label sets get equal ids.
    let registry = Arc::new(SeriesRegistry::new(1_000));
    let decoder = || Decoder::new(registry.clone(), decoder_config());
    let mapping = mapping();
    let mut fast = SourceBatch::default();
    let walked = decode_traces(data, &mut decoder(), &mapping, Some(NOW), &mut fast);
    if let Ok(summary) = &walked {
        check_summary(summary, &fast);
    }
    let Ok(req) = ExportTraceServiceRequest::decode(data) else { return };
    let mut slow = SourceBatch::default();
    let summary = map_traces(&req, &mut decoder(), &mapping, Some(NOW), &mut slow);
    check_summary(&summary, &slow);
    assert_eq!(walked.as_ref().ok(), Some(&summary), "prost decodes, the walk says {walked:?}");
    assert_eq!(fast.events, slow.events);
    assert_eq!(fast.rejects, slow.rejects);
});
