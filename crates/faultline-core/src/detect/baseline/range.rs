//! Range break: a value beyond the range seen so far by more than a share of that range
//! (NAB's "spatial anomaly" in Numenta's detector). Off by default.

use serde::{Deserialize, Serialize};

use super::AdaptiveConfig;

/// The range of the values seen so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct RangeBreak {
    #[serde(with = "super::super::exact")]
    min: f64,
    #[serde(with = "super::super::exact")]
    max: f64,
    seen: bool,
}

impl RangeBreak {
    /// 1 when `value` lies beyond the range seen so far by more than `range_tolerance` of
    /// that range (and `warm`), else 0; learns the value, in `part` (allocated on first use).
    pub(super) fn score(part: &mut Option<Box<RangeBreak>>, config: &AdaptiveConfig, value: f64, warm: bool) -> f64 {
        let Some(tolerance) = config.range_tolerance else {
            return 0.0;
        };
        part.get_or_insert_with(Box::default).score_on(tolerance, value, warm)
    }

    fn score_on(&mut self, tolerance: f64, value: f64, warm: bool) -> f64 {
        if !self.seen {
            self.seen = true;
            self.min = value;
            self.max = value;
            return 0.0;
        }
        let margin = (self.max - self.min) * tolerance;
        let broke = warm && self.max > self.min && (value > self.max + margin || value < self.min - margin);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if broke { 1.0 } else { 0.0 }
    }
}
