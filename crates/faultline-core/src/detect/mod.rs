//! Detectors: per-series state over signal points, turning anomalies into findings.

mod finding;

pub use finding::{DetectorKind, Direction, Finding};
