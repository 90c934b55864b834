//! The weight of a new point in a running mean that turns into an EWMA, without a division per point.

/// `alpha.max(1.0 / n)` for a count `n >= 1`, the weight of a new point in an EWMA that
/// starts as a plain mean; bit for bit the same, without the division once `n * alpha`
/// shows that `1 / n` is below `alpha` (then its rounding cannot exceed `alpha` either).
pub(super) fn ewma_weight(alpha: f64, n: f64) -> f64 {
    // The margin covers the rounding of the product; NaN and negative alphas divide.
    if n * alpha >= 1.000_001 { alpha } else { alpha.max(1.0 / n) }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::ewma_weight;

    proptest! {
        #[test]
        fn is_the_max_of_alpha_and_one_over_n_bit_for_bit(
            alpha in prop_oneof![0.0f64..1.0, 1e-9f64..1e-3, Just(0.0), Just(1.0), Just(f64::NAN), Just(-0.5)],
            n in prop_oneof![1u32..100, 1u32..u32::MAX],
        ) {
            let n = f64::from(n);
            prop_assert_eq!(ewma_weight(alpha, n).to_bits(), alpha.max(1.0 / n).to_bits());
            // Where the product sits right at the margin.
            let edge = (1.0 / alpha).floor().max(1.0);
            for m in [edge - 1.0, edge, edge + 1.0, edge + 2.0] {
                if m >= 1.0 && m.is_finite() {
                    prop_assert_eq!(ewma_weight(alpha, m).to_bits(), alpha.max(1.0 / m).to_bits());
                }
            }
        }
    }
}
