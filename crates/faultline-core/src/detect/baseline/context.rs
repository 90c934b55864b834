//! Contextual novelty: flags a recent sequence of value levels the series has never shown.
//!
//! Values are cut into levels of a fixed width, set once from the range seen during warm-up
//! (later values outside that range get new levels, so the cut never moves). The last few
//! levels form contexts of orders 1 to `context_orders` (the level alone, the last two, the
//! last three, ...); each context is hashed into a bit table of contexts seen so far. The
//! novelty of a point is the share of its contexts never seen before, discounted by how often
//! novelty has been seen lately, so a series that keeps wandering into new contexts stays
//! quiet and a familiar one that suddenly behaves in a new way scores high. This is the idea
//! behind CAD OSE's "unseen context" score, reduced to a small serialisable state.

use serde::{Deserialize, Serialize};

use super::AdaptiveConfig;

/// Bits of the table of seen contexts (2^18, 32 KiB; only allocated when enabled).
const TABLE_BITS: u32 = 18;
/// Most context orders kept.
const MAX_ORDERS: usize = 8;

/// State of the contextual novelty score.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Context {
    /// Smallest and largest value seen before the level width was set.
    #[serde(with = "super::super::exact")]
    min: f64,
    #[serde(with = "super::super::exact")]
    max: f64,
    /// Origin and width of a level; width 0 until set.
    #[serde(with = "super::super::exact")]
    origin: f64,
    #[serde(with = "super::super::exact")]
    width: f64,
    /// Levels of the latest points, newest last.
    levels: Vec<i64>,
    /// Bit table of contexts seen.
    seen: Vec<u64>,
    /// Recent rate of novelty (EWMA), starts at 1 so a young series is quiet.
    #[serde(with = "super::super::exact")]
    rate: f64,
    n: u64,
}

/// SplitMix64 finaliser.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Context {
    /// Scores a point in [0, 1] and learns its contexts, in `part` (allocated on first
    /// use). `warm` says whether the warm-up is over; `min_width` is the smallest
    /// meaningful level width (the spread floor). Inlined up to the check whether the
    /// score is on (off by default).
    #[inline(always)]
    pub(super) fn update(
        part: &mut Option<Box<Context>>,
        config: &AdaptiveConfig,
        value: f64,
        warm: bool,
        min_width: f64,
    ) -> f64 {
        if config.context_bins == 0 {
            return 0.0;
        }
        part.get_or_insert_with(Box::default).update_on(config, value, warm, min_width)
    }

    fn update_on(&mut self, config: &AdaptiveConfig, value: f64, warm: bool, min_width: f64) -> f64 {
        let bins = config.context_bins;
        let orders = (config.context_orders as usize).clamp(1, MAX_ORDERS);
        if self.n == 0 {
            self.min = value;
            self.max = value;
            self.rate = 1.0;
        }
        self.n += 1;
        if self.width == 0.0 {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
            if !warm {
                return 0.0;
            }
            self.width = ((self.max - self.min) / f64::from(bins)).max(min_width).max(f64::MIN_POSITIVE);
            self.origin = self.min;
        }
        if self.seen.len() != 1 << (TABLE_BITS - 6) {
            self.seen = vec![0; 1 << (TABLE_BITS - 6)];
        }
        let level = ((value - self.origin) / self.width).floor().clamp(-1e15, 1e15) as i64;
        if self.levels.len() >= orders {
            self.levels.remove(0);
        }
        self.levels.push(level);
        let mut h = 0u64;
        let mut new = 0usize;
        let mut total = 0usize;
        for (k, &l) in self.levels.iter().rev().enumerate() {
            h = mix(h ^ mix(l as u64 ^ ((k as u64) << 56)));
            let bit = h >> (64 - TABLE_BITS);
            let (word, mask) = ((bit >> 6) as usize, 1u64 << (bit & 63));
            total += 1;
            if self.seen[word] & mask == 0 {
                new += 1;
                self.seen[word] |= mask;
            }
        }
        let novelty = if total < orders { 0.0 } else { new as f64 / total as f64 };
        let familiar = (1.0 - self.rate).max(0.0);
        self.rate += (novelty - self.rate) * config.context_rate_alpha;
        novelty * familiar.powf(config.context_rate_power)
    }
}
