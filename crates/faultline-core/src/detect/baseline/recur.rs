//! Daily recurrence: a deviation that also happened at about this time of day on recent days
//! (a nightly job, a daily batch upload) is part of the routine, not an anomaly.
//!
//! The day is cut into `recur_buckets` fine buckets; each remembers the highest score seen in
//! it and the day it was seen. A new point's score is lowered by what its bucket and the two
//! neighbouring buckets remember (scores of at least `recur_min` only), decayed by `recur_decay` per day since, times `recur_weight`.

use serde::{Deserialize, Serialize};

use super::AdaptiveConfig;

const DAY_MS: i64 = 86_400_000;

/// Per-bucket memory of the day's scores.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Recurrence {
    #[serde(with = "super::super::exact::vec")]
    score: Vec<f64>,
    day: Vec<i64>,
}

impl Recurrence {
    /// Returns `raw` lowered by the remembered scores of earlier days around this time of
    /// day, and remembers `raw` for this bucket, in `part` (allocated on first use).
    pub(super) fn discount(part: &mut Option<Box<Recurrence>>, config: &AdaptiveConfig, ts_ms: i64, raw: f64) -> f64 {
        if config.recur_buckets == 0 {
            return raw;
        }
        part.get_or_insert_with(Box::default).discount_on(config, ts_ms, raw)
    }

    fn discount_on(&mut self, config: &AdaptiveConfig, ts_ms: i64, raw: f64) -> f64 {
        let b = config.recur_buckets as usize;
        if self.score.len() != b {
            self.score = vec![0.0; b];
            self.day = vec![i64::MIN; b];
        }
        let bucket_ms = (DAY_MS / b as i64).max(1);
        let i = ((ts_ms.rem_euclid(DAY_MS) / bucket_ms) as usize).min(b - 1);
        let today = ts_ms.div_euclid(DAY_MS);
        let mut memory = 0.0_f64;
        for j in [(i + b - 1) % b, i, (i + 1) % b] {
            let d = self.day[j];
            if d != i64::MIN && d < today {
                let days = (today - d).min(64) as i32;
                if self.score[j] >= config.recur_min {
                    memory = memory.max(self.score[j] * config.recur_decay.powi(days - 1));
                }
            }
        }
        let out = (raw - config.recur_weight * memory).max(0.0);
        // Keep the highest of today's scores, or start the bucket afresh on a new day.
        let kept = if self.day[i] == today { self.score[i] } else { 0.0 };
        let carried = if self.day[i] != i64::MIN && self.day[i] < today {
            self.score[i] * config.recur_decay.powi((today - self.day[i]).min(64) as i32)
        } else {
            0.0
        };
        self.score[i] = raw.max(kept).max(carried);
        self.day[i] = today;
        out
    }
}
