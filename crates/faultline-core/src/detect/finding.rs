//! What a detector reports: the finding, with its evidence.

use crate::series::SeriesId;
use crate::signal::Signal;
use crate::window::Window;

/// Which detector kind produced a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DetectorKind {
    /// Static threshold with an n-of-m for-duration.
    Threshold,
    /// Adaptive (robust, seasonal) baseline.
    Baseline,
    /// SLO burn rate, multi-window multi-burn-rate.
    BurnRate,
    /// Level shift (CUSUM / Page-Hinkley).
    ChangePoint,
    /// Steady climb toward a limit, with time to exhaustion.
    Trend,
}

impl DetectorKind {
    /// snake_case name, as in config and output.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorKind::Threshold => "threshold",
            DetectorKind::Baseline => "baseline",
            DetectorKind::BurnRate => "burn_rate",
            DetectorKind::ChangePoint => "change_point",
            DetectorKind::Trend => "trend",
        }
    }
}

/// Which way the signal moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Above normal (errors, latency, saturation).
    Up,
    /// Below normal (volume collapse).
    Down,
}

impl Direction {
    /// "up" or "down".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// One anomaly on one signal of one series in one window.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The detector kind that found it.
    pub detector: DetectorKind,
    /// The signal.
    pub signal: Signal,
    /// The series.
    pub series: SeriesId,
    /// The window whose value was anomalous.
    pub window: Window,
    /// The signal's value in that window.
    pub value: f64,
    /// What was expected (adaptive baseline level), when known.
    pub baseline: Option<f64>,
    /// The limit crossed, when there is one.
    pub threshold: Option<f64>,
    /// Anomaly score in [0, 1].
    pub score: f64,
    /// Which way.
    pub direction: Direction,
    /// Extra evidence for a person (e.g. "pool exhausted in ~12 min").
    pub detail: Option<String>,
    /// The chance of the evidence under normal behaviour, when the detector weighed
    /// several windows itself (a count CUSUM): confirmation uses it instead of the one
    /// window's count.
    pub tail: Option<f64>,
}
