//! A window's latency distribution: a small, lazily grown HDR histogram in microseconds.

use hdrhistogram::Histogram;

/// Lowest discernible latency, µs. Below 3.2 ms values fall in fixed 32 µs steps;
/// from 3.2 ms up the histogram keeps two significant digits.
pub const LOWEST_US: u64 = 32;
/// Highest trackable latency, µs (60 s); larger values are clamped to it.
pub const HIGHEST_US: u64 = 60_000_000;
/// Significant decimal digits kept.
pub const SIGFIG: u8 = 2;
/// Initial upper bound; the histogram grows (auto-resize) up to [`HIGHEST_US`] only
/// when a window actually sees slower requests, so quiet series stay small.
const INITIAL_HIGH_US: u64 = 2_000_000;

/// Latency histogram with `u16` counters, promoted to `u32` before any counter
/// could saturate (no bucket can exceed the total count). 2 significant digits,
/// 32 µs–60 s: at most 3,936 bytes of counts at full range.
#[derive(Debug, Clone)]
pub enum LatencyHistogram {
    /// Fewer than 65,535 samples.
    Small(Histogram<u16>),
    /// Promoted once the total reached `u16::MAX`.
    Large(Histogram<u32>),
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> LatencyHistogram {
        let mut h =
            Histogram::<u16>::new_with_bounds(LOWEST_US, INITIAL_HIGH_US, SIGFIG).expect("constant bounds are valid");
        h.auto(true);
        LatencyHistogram::Small(h)
    }

    /// This histogram emptied, for a new window: `Some` only while it still has
    /// the layout of [`LatencyHistogram::new`] (`u16` counters, not grown), so that
    /// recording into it is exactly like recording into a new one.
    pub fn into_reusable(self) -> Option<LatencyHistogram> {
        match self {
            LatencyHistogram::Small(mut h) if h.high() == INITIAL_HIGH_US => {
                h.reset();
                Some(LatencyHistogram::Small(h))
            }
            _ => None,
        }
    }

    /// Records one latency in µs (clamped to [`HIGHEST_US`]).
    #[inline]
    pub fn record(&mut self, latency_us: u64) {
        let v = latency_us.min(HIGHEST_US);
        match self {
            LatencyHistogram::Small(h) => {
                if h.len() >= u64::from(u16::MAX - 1) {
                    self.promote();
                    return self.record(v);
                }
                // Auto-resize only fails past u64 ranges; the value is clamped.
                let _ = h.record(v);
            }
            LatencyHistogram::Large(h) => {
                if h.len() >= u64::from(u32::MAX - 1) {
                    return; // four billion requests in one series-window: drop the tail sample
                }
                let _ = h.record(v);
            }
        }
    }

    #[cold]
    fn promote(&mut self) {
        if let LatencyHistogram::Small(h) = self {
            let mut big = Histogram::<u32>::new_with_bounds(LOWEST_US, h.high(), SIGFIG)
                .expect("bounds copied from a valid histogram");
            big.auto(true);
            add_small_into_large(&mut big, h);
            *self = LatencyHistogram::Large(big);
        }
    }

    /// Adds all samples of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        let total = self.len() + other.len();
        if total >= u64::from(u16::MAX - 1) {
            self.promote();
        }
        match (self, other) {
            (LatencyHistogram::Small(a), LatencyHistogram::Small(b)) => {
                a.add(b).expect("auto-resizing histogram accepts any range")
            }
            (LatencyHistogram::Large(a), LatencyHistogram::Small(b)) => add_small_into_large(a, b),
            (LatencyHistogram::Large(a), LatencyHistogram::Large(b)) => {
                a.add(b).expect("auto-resizing histogram accepts any range")
            }
            (LatencyHistogram::Small(_), LatencyHistogram::Large(_)) => {
                unreachable!("promoted above: a Large operand implies total >= u16::MAX")
            }
        }
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        match self {
            LatencyHistogram::Small(h) => h.len(),
            LatencyHistogram::Large(h) => h.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let us = match self {
            LatencyHistogram::Small(h) => h.value_at_quantile(q),
            LatencyHistogram::Large(h) => h.value_at_quantile(q),
        };
        us as f64 / 1000.0
    }

    /// The largest recorded latency (within histogram precision), in milliseconds.
    pub fn max_ms(&self) -> f64 {
        let us = match self {
            LatencyHistogram::Small(h) => h.max(),
            LatencyHistogram::Large(h) => h.max(),
        };
        us as f64 / 1000.0
    }

    /// Bytes held, struct and counts.
    pub fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match self {
                LatencyHistogram::Small(h) => h.distinct_values() * 2,
                LatencyHistogram::Large(h) => h.distinct_values() * 4,
            }
    }

    /// Every (value µs, count) pair recorded, for serialisation and exact comparison.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        match self {
            LatencyHistogram::Small(h) => {
                h.iter_recorded().map(|v| (v.value_iterated_to(), u64::from(v.count_at_value()))).collect()
            }
            LatencyHistogram::Large(h) => {
                h.iter_recorded().map(|v| (v.value_iterated_to(), u64::from(v.count_at_value()))).collect()
            }
        }
    }

    /// Rebuilds from [`LatencyHistogram::buckets`] output.
    pub fn from_buckets(buckets: &[(u64, u64)]) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        let total: u64 = buckets.iter().map(|b| b.1).sum();
        if total >= u64::from(u16::MAX - 1) {
            h.promote();
        }
        for &(v, n) in buckets {
            match &mut h {
                LatencyHistogram::Small(s) => {
                    let _ = s.record_n(v.min(HIGHEST_US), n as u16);
                }
                LatencyHistogram::Large(l) => {
                    let _ = l.record_n(v.min(HIGHEST_US), u32::try_from(n).unwrap_or(u32::MAX));
                }
            }
        }
        h
    }

    /// Largest relative error of a quantile at `value_us` (HDR's bound, plus the
    /// fixed low-range step).
    pub fn error_bound_us(value_us: u64) -> u64 {
        (value_us / 50).max(LOWEST_US) + 1
    }
}

/// Adds a `u16` histogram's samples to a `u32` one (hdrhistogram's `add` wants one counter type).
fn add_small_into_large(big: &mut Histogram<u32>, small: &Histogram<u16>) {
    for v in small.iter_recorded() {
        // Auto-resize accepts any value up to the clamp applied at record time.
        let _ = big.record_n(v.value_iterated_to(), u32::from(v.count_at_value()));
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_within_two_digits() {
        let mut h = LatencyHistogram::new();
        for ms in 1..=1000u64 {
            h.record(ms * 1000);
        }
        let p50 = h.quantile_ms(0.5);
        let p99 = h.quantile_ms(0.99);
        assert!((p50 - 500.0).abs() <= 500.0 * 0.01 + 0.05, "{p50}");
        assert!((p99 - 990.0).abs() <= 990.0 * 0.01 + 0.05, "{p99}");
    }

    #[test]
    fn a_reused_histogram_records_like_a_new_one() {
        let mut used = LatencyHistogram::new();
        for us in [10, 5_000, 1_999_999] {
            used.record(us);
        }
        let mut reused = used.into_reusable().expect("not grown");
        assert!(reused.is_empty());
        let mut fresh = LatencyHistogram::new();
        for us in [77, 3_300, 3_300, 250_000] {
            reused.record(us);
            fresh.record(us);
        }
        assert_eq!(reused.buckets(), fresh.buckets());
        assert_eq!(reused.max_ms().to_bits(), fresh.max_ms().to_bits());
        assert_eq!([0.5, 0.99].map(|q| reused.quantile_ms(q)), [0.5, 0.99].map(|q| fresh.quantile_ms(q)));
        assert_eq!(reused.size_bytes(), fresh.size_bytes());
        let mut grown = LatencyHistogram::new();
        grown.record(30_000_000);
        assert!(grown.into_reusable().is_none(), "a grown histogram is not reused");
    }

    #[test]
    fn grows_for_slow_requests_and_clamps_past_60s() {
        let mut h = LatencyHistogram::new();
        h.record(15_000_000);
        h.record(u64::MAX);
        assert_eq!(h.len(), 2);
        assert!((h.max_ms() - 60_000.0).abs() < 60_000.0 * 0.01);
        assert!(h.size_bytes() <= 4096 + 256, "{}", h.size_bytes());
    }

    #[test]
    fn promotes_before_u16_saturates() {
        let mut h = LatencyHistogram::new();
        for _ in 0..70_000 {
            h.record(250_000);
        }
        assert!(matches!(h, LatencyHistogram::Large(_)));
        assert_eq!(h.len(), 70_000);
        assert_eq!(h.buckets().iter().map(|b| b.1).sum::<u64>(), 70_000);
    }

    #[test]
    fn merge_adds_samples_and_promotes() {
        let mut a = LatencyHistogram::new();
        let mut b = LatencyHistogram::new();
        for _ in 0..40_000 {
            a.record(1000);
            b.record(3_000_000);
        }
        a.merge(&b);
        assert_eq!(a.len(), 80_000);
        assert!(matches!(a, LatencyHistogram::Large(_)));
        let back = LatencyHistogram::from_buckets(&a.buckets());
        assert_eq!(back.buckets(), a.buckets());
    }
}
