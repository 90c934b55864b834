//! A window's latency distribution: a few latencies inline, an HDR histogram in microseconds past them.

use std::sync::LazyLock;

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
/// Latencies a window keeps inline before it moves them into an HDR histogram: as many as
/// fit in the space the histogram header takes anyway, so the inline form costs no byte more.
pub const INLINE_LATENCIES: usize = 23;

/// Latency distribution of one window. Up to [`INLINE_LATENCIES`] latencies are kept
/// inline, sorted, with no heap memory; past that they move into an HDR histogram with
/// `u16` counters, promoted to `u32` before any counter could saturate (no bucket can
/// exceed the total count); 2 significant digits, 32 µs–60 s, at most 3,936 bytes of
/// counts at full range.
///
/// Every answer (count, quantiles, max, buckets) is a function of the multiset of recorded
/// values and is the same in every form: the inline form applies the histogram's own
/// bucket arithmetic (`equivalence`) to its values.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// The first few latencies, clamped and sorted.
    Inline(InlineLatencies),
    /// Fewer than 65,535 samples.
    Small(Histogram<u16>),
    /// Promoted once the total reached `u16::MAX`.
    Large(Histogram<u32>),
}

#[derive(Debug, Clone, Copy)]
struct InlineLatencies {
    len: u32,
    values_us: [u32; INLINE_LATENCIES],
}

/// The bucket arithmetic of every histogram here: equivalence ranges depend only on the
/// lowest discernible value and the significant digits, never on the upper bound or the
/// counter type, so one reference histogram answers for all of them.
fn equivalence() -> &'static Histogram<u16> {
    static REFERENCE: LazyLock<Histogram<u16>> = LazyLock::new(|| {
        Histogram::new_with_bounds(LOWEST_US, LOWEST_US * 2, SIGFIG).expect("constant bounds are valid")
    });
    &REFERENCE
}

impl LatencyHistogram {
    /// An empty histogram (inline: no heap memory).
    pub fn new() -> LatencyHistogram {
        LatencyHistogram { repr: Repr::Inline(InlineLatencies { len: 0, values_us: [0; INLINE_LATENCIES] }) }
    }

    /// An empty HDR histogram, the layout windows move into past the inline latencies.
    fn new_dense() -> Histogram<u16> {
        let mut h =
            Histogram::<u16>::new_with_bounds(LOWEST_US, INITIAL_HIGH_US, SIGFIG).expect("constant bounds are valid");
        h.auto(true);
        h
    }

    /// This histogram emptied, for a new window: `Some` only when it holds heap counts in
    /// the layout a window moves into (`u16` counters, not grown), so that recording into
    /// it is exactly like recording into a new one. Inline ones hold nothing worth keeping.
    pub fn into_reusable(self) -> Option<LatencyHistogram> {
        match self.repr {
            Repr::Small(mut h) if h.high() == INITIAL_HIGH_US => {
                h.reset();
                Some(LatencyHistogram { repr: Repr::Small(h) })
            }
            _ => None,
        }
    }

    /// Records one latency in µs (clamped to [`HIGHEST_US`]).
    #[inline]
    pub fn record(&mut self, latency_us: u64) {
        self.record_reusing(latency_us, &mut Vec::new());
    }

    /// [`LatencyHistogram::record`], taking an emptied histogram from `spare` (see
    /// [`LatencyHistogram::into_reusable`]) when the inline latencies overflow.
    #[inline]
    pub fn record_reusing(&mut self, latency_us: u64, spare: &mut Vec<LatencyHistogram>) {
        let v = latency_us.min(HIGHEST_US);
        match &mut self.repr {
            Repr::Inline(inline) if (inline.len as usize) < INLINE_LATENCIES => inline.insert(v as u32),
            Repr::Inline(_) => {
                self.densify(spare);
                self.record_dense(v);
            }
            _ => self.record_dense(v),
        }
    }

    /// Records into the HDR form; `self` is `Small` or `Large`.
    #[inline]
    fn record_dense(&mut self, v: u64) {
        self.record_dense_n(v, 1);
    }

    #[inline]
    fn record_dense_n(&mut self, v: u64, n: u64) {
        match &mut self.repr {
            Repr::Small(h) => {
                if h.len() + n >= u64::from(u16::MAX - 1) {
                    self.promote();
                    return self.record_dense_n(v, n);
                }
                // Auto-resize only fails past u64 ranges; the value is clamped.
                let _ = h.record_n(v, n as u16);
            }
            Repr::Large(h) => {
                // Four billion requests in one series-window: drop the tail samples.
                let room = u64::from(u32::MAX - 1).saturating_sub(h.len());
                let _ = h.record_n(v, n.min(room) as u32);
            }
            Repr::Inline(_) => unreachable!("densified by the caller"),
        }
    }

    /// Moves the inline latencies into an HDR histogram (from `spare` if any).
    #[cold]
    fn densify(&mut self, spare: &mut Vec<LatencyHistogram>) {
        let dense = match spare.pop() {
            Some(LatencyHistogram { repr: Repr::Small(h) }) => h,
            _ => LatencyHistogram::new_dense(),
        };
        let old = std::mem::replace(&mut self.repr, Repr::Small(dense));
        match old {
            Repr::Inline(inline) => {
                for &v in inline.values() {
                    self.record_dense(u64::from(v));
                }
            }
            Repr::Small(_) | Repr::Large(_) => self.repr = old,
        }
    }

    #[cold]
    fn promote(&mut self) {
        if let Repr::Small(h) = &self.repr {
            let mut big = Histogram::<u32>::new_with_bounds(LOWEST_US, h.high(), SIGFIG)
                .expect("bounds copied from a valid histogram");
            big.auto(true);
            add_small_into_large(&mut big, h);
            self.repr = Repr::Large(big);
        }
    }

    /// Adds all samples of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        if let (Repr::Inline(a), Repr::Inline(b)) = (&mut self.repr, &other.repr)
            && a.len as usize + b.len as usize <= INLINE_LATENCIES
        {
            for &v in b.values() {
                a.insert(v);
            }
            return;
        }
        if matches!(self.repr, Repr::Inline(_)) {
            self.densify(&mut Vec::new());
        }
        if self.len() + other.len() >= u64::from(u16::MAX - 1) {
            self.promote();
        }
        match (&mut self.repr, &other.repr) {
            (Repr::Small(a), Repr::Small(b)) => a.add(b).expect("auto-resizing histogram accepts any range"),
            (Repr::Large(a), Repr::Small(b)) => add_small_into_large(a, b),
            (Repr::Large(a), Repr::Large(b)) => a.add(b).expect("auto-resizing histogram accepts any range"),
            (Repr::Small(_), Repr::Large(_)) => {
                unreachable!("promoted above: a Large operand implies total >= u16::MAX")
            }
            (_, Repr::Inline(b)) => {
                for &v in b.values() {
                    self.record_dense(u64::from(v));
                }
            }
            (Repr::Inline(_), _) => unreachable!("densified above"),
        }
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Inline(inline) => u64::from(inline.len),
            Repr::Small(h) => h.len(),
            Repr::Large(h) => h.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        let us = match &self.repr {
            Repr::Small(h) => h.value_at_quantile(q),
            Repr::Large(h) => h.value_at_quantile(q),
            Repr::Inline(inline) => {
                let values = inline.values();
                match rank_at_quantile(q, values.len() as u64) {
                    None => 0,
                    Some(rank) => finish_quantile(q, u64::from(values[rank as usize - 1])),
                }
            }
        };
        us as f64 / 1000.0
    }

    /// The largest recorded latency (within histogram precision), in milliseconds.
    pub fn max_ms(&self) -> f64 {
        let us = match &self.repr {
            Repr::Small(h) => h.max(),
            Repr::Large(h) => h.max(),
            // As a new histogram tracks it: the largest value, unless every value is 0.
            Repr::Inline(inline) => match inline.values().last() {
                Some(&v) if v > 0 => equivalence().highest_equivalent(u64::from(v)),
                _ => 0,
            },
        };
        us as f64 / 1000.0
    }

    /// Bytes held, struct and counts.
    pub fn size_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.repr {
                Repr::Inline(_) => 0,
                Repr::Small(h) => h.distinct_values() * 2,
                Repr::Large(h) => h.distinct_values() * 4,
            }
    }

    /// Every (value µs, count) pair recorded, for serialisation and exact comparison:
    /// the highest value equivalent to each recorded bucket, ascending.
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        match &self.repr {
            Repr::Small(h) => {
                h.iter_recorded().map(|v| (v.value_iterated_to(), u64::from(v.count_at_value()))).collect()
            }
            Repr::Large(h) => {
                h.iter_recorded().map(|v| (v.value_iterated_to(), u64::from(v.count_at_value()))).collect()
            }
            Repr::Inline(inline) => {
                let mut out: Vec<(u64, u64)> = Vec::new();
                for &v in inline.values() {
                    let top = equivalence().highest_equivalent(u64::from(v));
                    match out.last_mut() {
                        Some(last) if last.0 == top => last.1 += 1,
                        _ => out.push((top, 1)),
                    }
                }
                out
            }
        }
    }

    /// Rebuilds from [`LatencyHistogram::buckets`] output.
    pub fn from_buckets(buckets: &[(u64, u64)]) -> LatencyHistogram {
        let mut h = LatencyHistogram::new();
        let total: u64 = buckets.iter().map(|b| b.1).sum();
        if total > INLINE_LATENCIES as u64 {
            h.densify(&mut Vec::new());
        }
        for &(v, n) in buckets {
            let v = v.min(HIGHEST_US);
            match &mut h.repr {
                Repr::Inline(inline) => (0..n).for_each(|_| inline.insert(v as u32)),
                _ => h.record_dense_n(v, n),
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

/// The 1-based rank of the sample at quantile `q` among `total`, as
/// `Histogram::value_at_quantile` picks it; `None` when there are no samples.
fn rank_at_quantile(q: f64, total: u64) -> Option<u64> {
    let q = if q > 1.0 { 1.0 } else { q };
    (total > 0).then(|| ((q * total as f64).ceil() as u64).clamp(1, total))
}

/// The value `Histogram::value_at_quantile` reports for the sample `v` at the quantile's rank.
fn finish_quantile(q: f64, v: u64) -> u64 {
    let q = if q > 1.0 { 1.0 } else { q };
    if q == 0.0 { equivalence().lowest_equivalent(v) } else { equivalence().highest_equivalent(v) }
}

impl InlineLatencies {
    fn values(&self) -> &[u32] {
        &self.values_us[..self.len as usize]
    }

    /// Inserts in order; the caller checked there is room.
    #[inline]
    fn insert(&mut self, v: u32) {
        let len = self.len as usize;
        let at = self.values_us[..len].partition_point(|&x| x <= v);
        self.values_us.copy_within(at..len, at + 1);
        self.values_us[at] = v;
        self.len += 1;
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
mod tests;
