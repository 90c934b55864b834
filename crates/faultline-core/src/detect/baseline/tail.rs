//! How rare a |z| is: the Gaussian log tail, and an empirical histogram of past |z| that caps it.

use serde::{Deserialize, Serialize};

use super::{AdaptiveConfig, ring_next, ring_slot};

/// Bins of the empirical |z| histogram: [0, 0.25), then geometric with ratio 1.2.
const TAIL_BINS: usize = 48;
/// Pseudo-count of the empirical tail, so an unprecedented |z| is rare but not impossible.
const TAIL_PRIOR: f64 = 0.5;
/// Rescale the histogram when the weight of a new point grows past this.
const RESCALE_AT: f64 = 1e100;

/// Decayed histogram of past |z|, fed with a delay. Instead of decaying every bin per point,
/// each new point weighs `1 / keep` times the previous one (`weight`); counts are read
/// relative to `weight`, and everything is rescaled once the weight grows large.
///
/// The bins are allocated when the first |z| enters (after the delay): a young series holds
/// none, and reads them as zeros. Checkpointed as before ([`TailWire`]: all bins, zeros
/// included, once set up); which form the bins take depends only on their values, so a
/// restored tail equals the one checkpointed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "TailWire", into = "TailWire")]
pub(super) struct EmpiricalTail {
    /// Empty while every bin is zero (and the tail set up), else `TAIL_BINS` bins; any
    /// other length only as restored before the tail is set up.
    bins: Box<[f64]>,
    total: f64,
    /// Weight of the latest point entered.
    weight: f64,
    /// Histogram bins of the latest points' |z|, waiting to enter the histogram.
    pending: Box<[u8]>,
    pending_at: u32,
    pending_n: u32,
    /// Set up by [`EmpiricalTail::position`] (in the checkpoint: `TAIL_BINS` bins).
    set_up: bool,
}

/// The checkpoint form of an [`EmpiricalTail`].
#[derive(Serialize, Deserialize)]
struct TailWire {
    #[serde(with = "super::super::exact::vec")]
    bins: Vec<f64>,
    #[serde(with = "super::super::exact")]
    total: f64,
    /// Weight of the latest point entered.
    #[serde(with = "super::super::exact")]
    weight: f64,
    /// Histogram bins of the latest points' |z|, waiting to enter the histogram.
    pending: Vec<u8>,
    pending_at: u32,
    pending_n: u32,
}

/// What an empty histogram reads.
const ZERO_BINS: [f64; TAIL_BINS] = [0.0; TAIL_BINS];

impl EmpiricalTail {
    /// The histogram bin of a |z| (see [`tail_bin`]); sets the histogram up on first use.
    pub(super) fn position(&mut self, z: f64) -> usize {
        if !self.set_up {
            self.bins = Box::default();
            self.total = 0.0;
            self.weight = 1.0;
            self.set_up = true;
        }
        tail_bin_index(z)
    }

    /// Caps the Gaussian `decades` of a |z| (after [`EmpiricalTail::position`] of the same
    /// |z|) by how rare such a |z| has been: `-log10` of the share of remembered points with a
    /// |z| at least as large. When fewer than one such point is remembered the history says
    /// nothing and the cap lifts smoothly.
    pub(super) fn cap(&self, z: f64, decades: f64) -> f64 {
        let bins: &[f64] = if self.bins.is_empty() { &ZERO_BINS } else { &self.bins };
        let (bin, frac) = tail_bin(z);
        // Sum the shorter side: small |z| (the common case) sit in the first bins.
        let above_weighted = if bin < TAIL_BINS / 2 {
            (self.total - bins[..bin].iter().sum::<f64>() - frac * bins[bin]).max(0.0)
        } else {
            bins[bin + 1..].iter().sum::<f64>() + (1.0 - frac) * bins[bin]
        };
        let above = above_weighted / self.weight;
        let p = ((above + TAIL_PRIOR) / (self.total / self.weight + TAIL_PRIOR)).min(1.0);
        decades.min(-p.log10() + (1.0 - above.min(1.0)) * decades)
    }

    /// Queues the bin of the latest |z|; the one queued `empirical_delay_points` ago enters
    /// the histogram. Call after [`EmpiricalTail::cap`] for the same point.
    #[inline(always)]
    pub(super) fn enter(&mut self, config: &AdaptiveConfig, bin: usize) {
        let delay = config.empirical_delay_points.min(64) as usize;
        let entering = if delay == 0 {
            Some(bin as u8)
        } else {
            if self.pending.len() != delay {
                self.pending = vec![0; delay].into_boxed_slice();
                self.pending_at = 0;
                self.pending_n = 0;
            }
            let slot = ring_slot(self.pending_at, delay);
            let old = (self.pending_n as usize >= delay).then_some(self.pending[slot]);
            self.pending[slot] = bin as u8;
            self.pending_at = ring_next(slot, delay);
            self.pending_n = self.pending_n.saturating_add(1);
            old
        };
        if let Some(old) = entering {
            if self.bins.is_empty() {
                self.bins = Box::new(ZERO_BINS);
            }
            self.weight /= 1.0 - config.empirical_decay;
            if self.weight > RESCALE_AT {
                for c in &mut self.bins {
                    *c /= self.weight;
                }
                self.total /= self.weight;
                self.weight = 1.0;
            }
            self.bins[usize::from(old)] += self.weight;
            self.total += self.weight;
        }
    }
}

#[cfg(test)]
impl EmpiricalTail {
    /// Bins allocated (0 until the first |z| enters).
    pub(super) fn allocated_bins(&self) -> usize {
        self.bins.len()
    }
}

impl From<TailWire> for EmpiricalTail {
    fn from(w: TailWire) -> Self {
        let set_up = w.bins.len() == TAIL_BINS;
        let all_zero = w.bins.iter().all(|b| b.to_bits() == 0);
        let bins = if set_up && all_zero { Box::default() } else { w.bins.into_boxed_slice() };
        EmpiricalTail {
            bins,
            total: w.total,
            weight: w.weight,
            pending: w.pending.into_boxed_slice(),
            pending_at: w.pending_at,
            pending_n: w.pending_n,
            set_up,
        }
    }
}

impl From<EmpiricalTail> for TailWire {
    fn from(t: EmpiricalTail) -> Self {
        let bins = if t.set_up && t.bins.is_empty() { ZERO_BINS.to_vec() } else { t.bins.into_vec() };
        TailWire {
            bins,
            total: t.total,
            weight: t.weight,
            pending: t.pending.into_vec(),
            pending_at: t.pending_at,
            pending_n: t.pending_n,
        }
    }
}

/// The bin of [`tail_bin`] alone, by the same expressions: the points that need no cap skip
/// the position within the bin (a `trunc` call without SSE4.1).
#[inline(always)]
fn tail_bin_index(z: f64) -> usize {
    if z < 0.25 {
        return 0;
    }
    let pos = 1.0 + (z / 0.25).ln() / 1.2f64.ln();
    if pos >= (TAIL_BINS - 1) as f64 {
        return TAIL_BINS - 1;
    }
    pos as usize
}

/// The histogram bin of |z| and the position within it (0 at its lower edge, 1 at its upper).
fn tail_bin(z: f64) -> (usize, f64) {
    if z < 0.25 {
        return (0, (z / 0.25).max(0.0));
    }
    let pos = 1.0 + (z / 0.25).ln() / 1.2f64.ln();
    if pos >= (TAIL_BINS - 1) as f64 {
        return (TAIL_BINS - 1, 0.0);
    }
    (pos as usize, pos.fract())
}

/// `log10 P(Z > z)` for a standard normal Z, accurate far into the tail (erfc after
/// Numerical Recipes, relative error below 1.2e-7), computed in log space so it never
/// underflows.
pub(crate) fn log10_upper_tail(z: f64) -> f64 {
    if z == 0.0 {
        return -std::f64::consts::LOG10_2;
    }
    let x = z / std::f64::consts::SQRT_2;
    if x < 0.0 {
        return (1.0 - 10f64.powf(log10_upper_tail(-z))).max(1e-300).log10();
    }
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    // P(Z > z) = erfc(x) / 2 with erfc(x) = t * exp(poly).
    (t.ln() + poly) * std::f64::consts::LOG10_E - std::f64::consts::LOG10_2
}

/// An upper bound of `-log10_upper_tail(z)` for `z >= 0`, without a logarithm or an
/// exponential: `P(Z > z) > phi(z) * 2 / (z + sqrt(z^2 + 4))` (Birnbaum, 1942), with
/// `(z + sqrt(z^2 + 4)) / 2 <= z + 1` and `ln(1 + z) <= z`, gives
/// `-ln P(Z > z) < z^2 / 2 + z + ln(sqrt(2 pi))`. The margins cover the error of
/// [`log10_upper_tail`] (relative error of the tail below 1.2e-7) and rounding.
pub(super) fn decades_upper_bound(z: f64) -> f64 {
    const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
    (0.5 * z * z + z + LN_SQRT_2PI) * std::f64::consts::LOG10_E * (1.0 + 1e-9) + 1e-6
}
