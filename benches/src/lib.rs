//! Shared inputs for the Faultline benchmarks: key distributions and realistic latencies.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Keys drawn uniformly from `0..n_keys`.
pub fn uniform_keys(n: usize, n_keys: u32, seed: u64) -> Vec<u32> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(0..n_keys)).collect()
}

/// Keys drawn from a Zipf(`s`) distribution over `0..n_keys` (inverse CDF on a table).
pub fn zipf_keys(n: usize, n_keys: u32, s: f64, seed: u64) -> Vec<u32> {
    let weights: Vec<f64> = (1..=n_keys).map(|k| 1.0 / (k as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    // Shuffle rank → key so hot keys are not neighbours in memory.
    let mut perm: Vec<u32> = (0..n_keys).collect();
    for i in (1..perm.len()).rev() {
        perm.swap(i, rng.gen_range(0..=i));
    }
    (0..n)
        .map(|_| {
            let u: f64 = rng.r#gen();
            let rank = cdf.partition_point(|c| *c < u).min(n_keys as usize - 1);
            perm[rank]
        })
        .collect()
}

/// Request latencies in µs: log-normal around 80 ms with a slow tail, as web services show.
pub fn latencies_us(n: usize, seed: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            // Box-Muller normal, then exp: median 80 ms, p99 around 600 ms.
            let (u1, u2): (f64, f64) = (rng.r#gen::<f64>().max(1e-12), rng.r#gen());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            let ms = (80f64.ln() + 0.85 * z).exp();
            (ms * 1000.0) as u64
        })
        .collect()
}
