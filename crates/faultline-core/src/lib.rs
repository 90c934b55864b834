//! The Faultline engine: events, series, event-time windows, aggregates and signals, with no I/O.
//!
//! Data flows one way. A [`wire::Decoder`] turns JSON lines into [`Event`]s
//! bound to dense [`SeriesId`]s interned in a shared [`SeriesRegistry`]. An
//! [`Engine`] (one thread) or [`ShardedEngine`] (N threads) routes each event
//! through the [`Router`], which tracks per-input watermarks and counts late
//! events, into a [`Shard`] that owns the open windows of its series. When the
//! watermark passes a window's end plus the allowed lateness, the window
//! closes into a [`ClosedWindow`], and [`signal::extract`] turns it into
//! [`SignalPoint`]s (error rate, p95 latency, pool saturation…).
//!
//! The core never reads a clock and never does I/O: event time drives the
//! windows, and callers pass processing time in where idleness needs it.
//!
//! ```
//! use std::sync::Arc;
//! use faultline_core::{Engine, EngineConfig, InputId, SeriesRegistry};
//! use faultline_core::wire::{Decoder, DecoderConfig};
//!
//! let registry = Arc::new(SeriesRegistry::new(10_000));
//! let mut decoder = Decoder::new(registry.clone(), DecoderConfig::default());
//! let mut events = Vec::new();
//! for (i, line) in [
//!     r#"{"ts":1000,"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":12}"#,
//!     r#"{"ts":2000,"service":"pay","operation":"charge","kind":"request","status":503,"latency_ms":900}"#,
//!     r#"{"ts":15000,"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":10}"#,
//! ].iter().enumerate() {
//!     decoder.decode_line(i as u64 + 1, line.as_bytes(), None, &mut events).unwrap();
//! }
//! let mut engine = Engine::new(EngineConfig::default());
//! engine.record(InputId(0), &events);
//! let closed = engine.drain_closed();
//! let mut points = Vec::new();
//! faultline_core::signal::extract(&closed[0], &registry.key(closed[0].series), &mut points);
//! let error_rate = points.iter().find(|p| p.signal.as_str() == "error_rate").unwrap();
//! assert_eq!(error_rate.value, 0.5);
//! ```

pub mod aggregate;
pub mod checkpoint;
pub mod detect;
pub mod engine;
pub mod event;
pub mod incident;
pub mod latency;
pub mod pipeline;
pub mod position;
pub mod reject;
pub mod series;
pub mod shard;
pub mod sharded;
pub mod signal;
pub mod time;
pub mod watermark;
pub mod window;
pub mod window_engine;
pub mod wire;

pub use aggregate::Aggregate;
pub use engine::{Engine, EngineConfig, RecordStats};
pub use event::{Event, EventBody};
pub use position::Position;
pub use reject::{RejectCounts, RejectReason};
pub use series::{SeriesId, SeriesKey, SeriesKind, SeriesRegistry};
pub use shard::Shard;
pub use sharded::ShardedEngine;
pub use signal::{Signal, SignalPoint};
pub use time::{DurationMs, Millis};
pub use watermark::{InputId, Router, Timing};
pub use window::{ClosedWindow, Window, WindowSpec};
pub use window_engine::{ShardLoad, WindowEngine};
