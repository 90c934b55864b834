//! Shared parts of the fuzz targets: the decoders they feed and the oracles they check.
//!
//! Each target in `fuzz_targets/` hands its bytes to a decoder the service
//! runs and panics (a finding) only when an oracle fails: a decoder may refuse
//! input only with its listed errors, never panic, and two paths that must
//! agree do. [`log_lines`] serves every `log_<format>` target; [`otlp`] the
//! OTLP ones.

pub mod log_lines;
pub mod otlp;

use std::sync::Arc;

use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{DurationMs, Millis, SeriesRegistry};

/// The processing time every target decodes at (2026-11-20).
pub const NOW: Millis = Millis(1_795_197_600_000);

/// The decoder config of the targets: two dimensions, one from a conventional key.
pub fn decoder_config() -> DecoderConfig {
    DecoderConfig {
        dims: vec!["region".into(), "tier".into()],
        count_4xx_as_errors: false,
        future_horizon: Some(DurationMs(86_400_000)),
    }
}

/// A decoder interning into a fresh registry, so an input's result never depends on earlier inputs.
pub fn decoder() -> Decoder {
    Decoder::new(Arc::new(SeriesRegistry::new(1_000)), decoder_config())
}
