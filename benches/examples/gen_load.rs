//! Writes the pipeline benchmark's load as JSON lines: `gen_load EVENTS SERVICES OPERATIONS SECONDS [SEED]`.
//!
//! Request events over `SERVICES × OPERATIONS` series drawn uniformly, spread
//! evenly over `SECONDS` of event time from 2026-11-20T00:00:00Z with up to
//! 500 ms of jitter (inside the default 2 s out-of-orderness), ~1 % 5xx
//! errors and log-normal latency around 80 ms. The same arguments always give
//! the same bytes, so `scripts/bench-pipeline.sh` compares like with like.

use std::io::{BufWriter, Write};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const T0_MS: i64 = 1_795_132_800_000;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u64| -> u64 { args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default) };
    if args.is_empty() || args.iter().any(|a| a.starts_with('-')) {
        eprintln!("usage: gen_load EVENTS SERVICES OPERATIONS SECONDS [SEED] > load.jsonl");
        std::process::exit(2);
    }
    let n_events = arg(0, 2_000_000);
    let n_services = arg(1, 100).max(1);
    let n_operations = arg(2, 100).max(1);
    let span_ms = arg(3, 500).max(1) as i64 * 1000;
    let seed = arg(4, 1);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut line = String::with_capacity(192);
    for i in 0..n_events {
        let base = T0_MS + (i as i128 * span_ms as i128 / n_events as i128) as i64;
        let ts = (base + rng.gen_range(-500..=0)).max(T0_MS);
        let service = rng.gen_range(0..n_services);
        let operation = rng.gen_range(0..n_operations);
        let status = if rng.gen_bool(0.01) { 503 } else { 200 };
        // Log-normal: median 80 ms, sigma 0.6 (Box–Muller for the normal draw).
        let (u1, u2): (f64, f64) = (rng.r#gen::<f64>().max(f64::MIN_POSITIVE), rng.r#gen());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let latency_ms = (80f64.ln() + 0.6 * z).exp();
        line.clear();
        use std::fmt::Write as _;
        let _ = writeln!(
            line,
            "{{\"ts\":{ts},\"service\":\"svc-{service:04}\",\"operation\":\"GET /op-{operation:04}\",\"kind\":\"request\",\"status\":{status},\"latency_ms\":{latency_ms:.3}}}"
        );
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}
