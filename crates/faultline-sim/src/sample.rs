//! The random draws the traffic model needs: Poisson counts, normal and log-normal values.

use rand::Rng;
use rand::rngs::SmallRng;

/// A standard normal draw (Box–Muller; one of the pair is discarded, which
/// keeps the generator stateless and the stream easy to reason about).
pub(crate) fn normal(rng: &mut SmallRng) -> f64 {
    let u1: f64 = rng.r#gen::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.r#gen();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A log-normal draw with the given median and shape `sigma`.
pub(crate) fn log_normal(rng: &mut SmallRng, median: f64, sigma: f64) -> f64 {
    median * (sigma * normal(rng)).exp()
}

/// A Poisson count with mean `lambda`: Knuth's product method for small means,
/// a rounded normal approximation above 30 (where its error no longer shows).
pub(crate) fn poisson(rng: &mut SmallRng, lambda: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        let x = lambda + lambda.sqrt() * normal(rng);
        return x.round().max(0.0) as u32;
    }
    let limit = (-lambda).exp();
    let mut product: f64 = rng.r#gen();
    let mut n = 0;
    while product > limit {
        n += 1;
        product *= rng.r#gen::<f64>();
    }
    n
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut SmallRng, p: f64) -> bool {
    p > 0.0 && rng.r#gen::<f64>() < p
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn poisson_mean_matches_lambda() {
        let mut rng = SmallRng::seed_from_u64(7);
        for lambda in [0.5, 4.0, 25.0, 400.0] {
            let n = 20_000;
            let sum: u64 = (0..n).map(|_| u64::from(poisson(&mut rng, lambda))).sum();
            let mean = sum as f64 / f64::from(n);
            assert!((mean - lambda).abs() < 0.05 * lambda + 0.05, "lambda {lambda}: mean {mean}");
        }
    }

    #[test]
    fn log_normal_median_is_median() {
        let mut rng = SmallRng::seed_from_u64(9);
        let mut v: Vec<f64> = (0..10_001).map(|_| log_normal(&mut rng, 100.0, 0.5)).collect();
        v.sort_by(f64::total_cmp);
        assert!((v[5000] - 100.0).abs() < 5.0, "median {}", v[5000]);
    }
}
