//! The simulated estate's traffic model: what one 10-second tick of a healthy
//! or degraded estate emits.
//!
//! Two app services take traffic: `checkout` and `payments-api`; each
//! `POST /charge` on payments-api makes an outbound call to the
//! `payment-gateway` dependency and records a transaction. A third, small
//! app, `wallet`, takes top-ups (each a transaction) from its own random
//! stream, so adding it changed no other service's traffic. `payments-db` is
//! seen through its gauges, and through the apps' `db.pool.in_use`.
//! Scenarios degrade the estate through [`Conditions`], never by touching
//! events, so normal traffic and incidents share one model.

use rand::Rng;
use rand::rngs::SmallRng;

use crate::calendar;
use crate::event::{SimBody, SimEvent, TxnOutcome};
use crate::sample::{chance, log_normal, normal, poisson};

/// Length of one tick; gauges are sampled once per tick.
pub(crate) const TICK_MS: i64 = 10_000;

/// The checkout service.
pub(crate) const CHECKOUT: &str = "checkout";
/// The payments service, which calls the gateway.
pub(crate) const PAYMENTS_API: &str = "payments-api";
/// The external payment provider, seen as a `peer` of payments-api.
pub(crate) const PAYMENT_GATEWAY: &str = "payment-gateway";
/// The database both apps use.
pub(crate) const PAYMENTS_DB: &str = "payments-db";
/// The small wallet service: balance reads and top-ups.
pub(crate) const WALLET: &str = "wallet";

/// Size of each app's DB connection pool.
const POOL_MAX: f64 = 100.0;
/// Requests per minute at the Friday-evening peak, at scale 1.
const CHECKOUT_PEAK_PER_MIN: f64 = 240.0;
/// Requests per minute at the Friday-evening peak, at scale 1.
const PAYMENTS_PEAK_PER_MIN: f64 = 100.0;
/// Requests per minute at the Friday-evening peak, at scale 1.
const WALLET_PEAK_PER_MIN: f64 = 120.0;
/// Share of requests that fail with a 5xx on a healthy day.
const BASE_5XX: f64 = 0.002;
/// Share of requests answered with a client error (not an error by default).
const BASE_4XX: f64 = 0.01;
/// Share of healthy charges the issuer declines.
const DECLINED: f64 = 0.018;
/// The gateway's own failure share on a healthy day.
const GATEWAY_BASE_FAIL: f64 = 0.001;

/// One operation of a service: its share of the service's requests and latency.
#[derive(Debug)]
struct Operation {
    name: &'static str,
    share: f64,
    median_ms: f64,
    sigma: f64,
}

const CHECKOUT_OPS: [Operation; 3] = [
    Operation { name: "GET /products", share: 0.45, median_ms: 45.0, sigma: 0.45 },
    Operation { name: "GET /cart", share: 0.30, median_ms: 35.0, sigma: 0.40 },
    Operation { name: "POST /checkout", share: 0.25, median_ms: 120.0, sigma: 0.45 },
];

/// `POST /charge` comes first: it is the one that calls the gateway.
const PAYMENTS_OPS: [Operation; 3] = [
    Operation { name: "POST /charge", share: 0.55, median_ms: 40.0, sigma: 0.40 },
    Operation { name: "GET /payments/{id}", share: 0.35, median_ms: 25.0, sigma: 0.40 },
    Operation { name: "POST /refund", share: 0.10, median_ms: 60.0, sigma: 0.45 },
];

/// `POST /topup` comes first: it records a transaction.
const WALLET_OPS: [Operation; 2] = [
    Operation { name: "POST /topup", share: 0.5, median_ms: 80.0, sigma: 0.40 },
    Operation { name: "GET /balance", share: 0.5, median_ms: 20.0, sigma: 0.35 },
];

/// The outbound call each charge makes.
const AUTHORIZE: Operation = Operation { name: "POST /v1/authorize", share: 1.0, median_ms: 160.0, sigma: 0.35 };

/// Instances and their regions (two in Ireland, one in Virginia).
const CHECKOUT_INSTANCES: [(&str, &str); 3] =
    [("checkout-1", "eu-west-1"), ("checkout-2", "eu-west-1"), ("checkout-3", "us-east-1")];
const PAYMENTS_INSTANCES: [(&str, &str); 3] =
    [("payments-api-1", "eu-west-1"), ("payments-api-2", "eu-west-1"), ("payments-api-3", "us-east-1")];
const WALLET_INSTANCES: [(&str, &str); 2] = [("wallet-1", "eu-west-1"), ("wallet-2", "eu-west-1")];

/// How an incident degrades the estate during one tick; the default is healthy.
#[derive(Debug, Clone)]
pub(crate) struct Conditions {
    /// Multiplier on both apps' request volume (a sales surge).
    pub(crate) traffic_mult: f64,
    /// Degradation of checkout.
    pub(crate) checkout: AppConditions,
    /// Degradation of payments-api.
    pub(crate) payments: AppConditions,
    /// Degradation of wallet.
    pub(crate) wallet: AppConditions,
    /// Share of wallet top-ups that never reach it (a broken client, a routing change).
    pub(crate) topup_loss: f64,
    /// Share of gateway calls that fail (on top of the healthy share).
    pub(crate) gateway_fail: f64,
    /// Share of charges payments-api rejects itself, before calling the gateway.
    pub(crate) charge_reject: f64,
    /// The database's CPU, when an incident pins it.
    pub(crate) db_cpu: Option<f64>,
}

/// How an incident degrades one app service.
#[derive(Debug, Clone)]
pub(crate) struct AppConditions {
    /// Extra share of requests failing with a 5xx.
    pub(crate) error_share: f64,
    /// Latency of those failures, when they are waits that time out.
    pub(crate) error_latency_ms: Option<f64>,
    /// Share of requests timing out with a 504 after 30 s.
    pub(crate) timeout_share: f64,
    /// Multiplier on every latency.
    pub(crate) latency_mult: f64,
    /// One operation failing on its own: (operation, error share).
    pub(crate) op_errors: Option<(&'static str, f64)>,
    /// CPU, when an incident pins it.
    pub(crate) cpu: Option<f64>,
    /// Memory, when an incident drives it.
    pub(crate) memory: Option<f64>,
    /// DB pool in use as a share of its size, when an incident drives it.
    pub(crate) pool_share: Option<f64>,
}

impl Default for AppConditions {
    fn default() -> AppConditions {
        AppConditions {
            error_share: 0.0,
            error_latency_ms: None,
            timeout_share: 0.0,
            latency_mult: 1.0,
            op_errors: None,
            cpu: None,
            memory: None,
            pool_share: None,
        }
    }
}

impl Default for Conditions {
    fn default() -> Conditions {
        Conditions {
            traffic_mult: 1.0,
            checkout: AppConditions::default(),
            payments: AppConditions::default(),
            wallet: AppConditions::default(),
            topup_loss: 0.0,
            gateway_fail: 0.0,
            charge_reject: 0.0,
            db_cpu: None,
        }
    }
}

/// The estate's slowly drifting state between ticks.
#[derive(Debug)]
pub(crate) struct Estate {
    scale: f64,
    /// Slow multiplicative traffic noise per app (log scale, AR(1)).
    drift: [f64; 2],
    /// The same for wallet, drawn from its own stream.
    wallet_drift: f64,
}

impl Estate {
    /// An estate whose request volume is `scale` times the base rates.
    pub(crate) fn new(scale: f64) -> Estate {
        Estate { scale, drift: [0.0; 2], wallet_drift: 0.0 }
    }

    /// Appends the events of the tick `[t0, t0 + TICK_MS)` to `out`, unordered:
    /// wallet's from `wallet_rng`, everything else from `rng`.
    pub(crate) fn tick(
        &mut self,
        rng: &mut SmallRng,
        wallet_rng: &mut SmallRng,
        t0: i64,
        cond: &Conditions,
        out: &mut Vec<SimEvent>,
    ) {
        self.wallet_tick(wallet_rng, t0, cond, out);
        let load = calendar::load(t0 + TICK_MS / 2) * cond.traffic_mult;
        for d in &mut self.drift {
            *d = 0.995 * *d + 0.01 * normal(rng);
        }
        let ticks_per_min = (calendar::MINUTE_MS / TICK_MS) as f64;
        let n_checkout = poisson(rng, CHECKOUT_PEAK_PER_MIN / ticks_per_min * self.scale * load * self.drift[0].exp());
        for _ in 0..n_checkout {
            checkout_request(rng, t0, load, &cond.checkout, out);
        }
        let n_payments = poisson(rng, PAYMENTS_PEAK_PER_MIN / ticks_per_min * self.scale * load * self.drift[1].exp());
        for _ in 0..n_payments {
            payments_request(rng, t0, load, cond, out);
        }
        app_gauges(rng, t0 + 5, CHECKOUT, load, &cond.checkout, out);
        app_gauges(rng, t0 + 7, PAYMENTS_API, load, &cond.payments, out);
        let db_noise = normal(rng);
        let db_cpu = cond.db_cpu.unwrap_or(0.08 + 0.45 * load + 0.02 * db_noise);
        gauge(out, t0 + 9, PAYMENTS_DB, "cpu.utilization", unit(db_cpu), None);
        gauge(out, t0 + 9, PAYMENTS_DB, "memory.utilization", unit(0.62 + 0.003 * normal(rng)), None);
    }
}

impl Estate {
    /// Wallet's requests, top-ups and gauges of one tick.
    fn wallet_tick(&mut self, rng: &mut SmallRng, t0: i64, cond: &Conditions, out: &mut Vec<SimEvent>) {
        let load = calendar::load(t0 + TICK_MS / 2) * cond.traffic_mult;
        self.wallet_drift = 0.995 * self.wallet_drift + 0.01 * normal(rng);
        let ticks_per_min = (calendar::MINUTE_MS / TICK_MS) as f64;
        let n = poisson(rng, WALLET_PEAK_PER_MIN / ticks_per_min * self.scale * load * self.wallet_drift.exp());
        for _ in 0..n {
            let ts_ms = t0 + rng.gen_range(0..TICK_MS);
            let op = pick(rng, &WALLET_OPS);
            let (instance, region) = WALLET_INSTANCES[rng.gen_range(0..WALLET_INSTANCES.len())];
            let (status, latency_ms) = serve(rng, op, load, &cond.wallet);
            let topup = op.name == WALLET_OPS[0].name;
            let amount = (log_normal(rng, 25.0, 0.7).clamp(5.0, 500.0) * 100.0).round() / 100.0;
            // Every draw is made whether or not the top-up arrives, so a loss shifts no other event.
            if topup && chance(rng, cond.topup_loss) {
                continue;
            }
            out.push(SimEvent {
                ts_ms,
                service: WALLET,
                body: SimBody::Request { operation: op.name, status, latency_ms, peer: None, region, instance },
            });
            if topup {
                let outcome = match status {
                    500.. => TxnOutcome::Failed,
                    402 => TxnOutcome::Declined,
                    _ => TxnOutcome::Success,
                };
                out.push(SimEvent { ts_ms, service: WALLET, body: SimBody::Transaction { outcome, amount, region } });
            }
        }
        app_gauges(rng, t0 + 3, WALLET, load, &cond.wallet, out);
    }
}

fn checkout_request(rng: &mut SmallRng, t0: i64, load: f64, cond: &AppConditions, out: &mut Vec<SimEvent>) {
    let ts_ms = t0 + rng.gen_range(0..TICK_MS);
    let op = pick(rng, &CHECKOUT_OPS);
    let (instance, region) = CHECKOUT_INSTANCES[rng.gen_range(0..CHECKOUT_INSTANCES.len())];
    let (status, latency_ms) = serve(rng, op, load, cond);
    out.push(SimEvent {
        ts_ms,
        service: CHECKOUT,
        body: SimBody::Request { operation: op.name, status, latency_ms, peer: None, region, instance },
    });
}

fn payments_request(rng: &mut SmallRng, t0: i64, load: f64, cond: &Conditions, out: &mut Vec<SimEvent>) {
    let ts_ms = t0 + rng.gen_range(0..TICK_MS);
    let op = pick(rng, &PAYMENTS_OPS);
    let (instance, region) = PAYMENTS_INSTANCES[rng.gen_range(0..PAYMENTS_INSTANCES.len())];
    let request = |status, latency_ms| SimEvent {
        ts_ms,
        service: PAYMENTS_API,
        body: SimBody::Request { operation: op.name, status, latency_ms, peer: None, region, instance },
    };
    if op.name != PAYMENTS_OPS[0].name {
        let (status, latency_ms) = serve(rng, op, load, &cond.payments);
        out.push(request(status, latency_ms));
        return;
    }
    let amount = (log_normal(rng, 40.0, 0.9).clamp(1.0, 5_000.0) * 100.0).round() / 100.0;
    let transaction =
        |outcome| SimEvent { ts_ms, service: PAYMENTS_API, body: SimBody::Transaction { outcome, amount, region } };
    // A misconfigured charge is refused by our own validation: fast, and no gateway call.
    if chance(rng, cond.charge_reject) {
        out.push(request(500, log_normal(rng, 30.0, 0.3)));
        out.push(transaction(TxnOutcome::Failed));
        return;
    }
    let (own_status, own_ms) = serve(rng, op, load, &cond.payments);
    if own_status >= 500 {
        out.push(request(own_status, own_ms));
        out.push(transaction(TxnOutcome::Failed));
        return;
    }
    let (gw_status, gw_ms) = if chance(rng, GATEWAY_BASE_FAIL + cond.gateway_fail) {
        if chance(rng, 0.4) {
            (504, rng.gen_range(10_000.0..30_000.0))
        } else {
            (if chance(rng, 0.5) { 502 } else { 503 }, log_normal(rng, 120.0, 0.6))
        }
    } else {
        (200, log_normal(rng, AUTHORIZE.median_ms, AUTHORIZE.sigma))
    };
    out.push(SimEvent {
        ts_ms,
        service: PAYMENTS_API,
        body: SimBody::Request {
            operation: AUTHORIZE.name,
            status: gw_status,
            latency_ms: gw_ms,
            peer: Some(PAYMENT_GATEWAY),
            region,
            instance,
        },
    });
    let (status, outcome) = if gw_status >= 500 {
        (502, TxnOutcome::Failed)
    } else if own_status == 402 || chance(rng, DECLINED) {
        (402, TxnOutcome::Declined)
    } else {
        (200, TxnOutcome::Success)
    };
    out.push(request(status, own_ms + gw_ms));
    out.push(transaction(outcome));
}

/// Status and latency of one request served by an app under `cond`.
fn serve(rng: &mut SmallRng, op: &Operation, load: f64, cond: &AppConditions) -> (u16, f64) {
    let median = op.median_ms * (1.0 + 0.25 * load) * cond.latency_mult;
    let latency = log_normal(rng, median, op.sigma);
    if chance(rng, cond.timeout_share) {
        return (504, rng.gen_range(29_000.0..31_000.0));
    }
    let op_share = match cond.op_errors {
        Some((name, share)) if name == op.name => share,
        _ => 0.0,
    };
    if chance(rng, cond.error_share) {
        let wait = cond.error_latency_ms.map_or(latency, |ms| ms * rng.gen_range(0.9..1.05));
        return (if chance(rng, 0.7) { 503 } else { 500 }, wait);
    }
    if chance(rng, op_share) {
        return (500, latency);
    }
    if chance(rng, BASE_5XX) {
        return (if chance(rng, 0.5) { 500 } else { 503 }, latency);
    }
    if chance(rng, BASE_4XX) {
        let status = if op.name.starts_with("GET") {
            404
        } else if op.name == PAYMENTS_OPS[0].name || op.name == WALLET_OPS[0].name {
            402
        } else {
            409
        };
        return (status, latency * 0.5);
    }
    (200, latency)
}

fn app_gauges(
    rng: &mut SmallRng,
    ts_ms: i64,
    service: &'static str,
    load: f64,
    cond: &AppConditions,
    out: &mut Vec<SimEvent>,
) {
    // Three noise draws every tick, driven or not, so an incident does not
    // shift the random stream of everything after it.
    let noise = [normal(rng), normal(rng), normal(rng)];
    let cpu = cond.cpu.map_or(0.10 + 0.42 * load + 0.015 * noise[0], |c| c + 0.01 * noise[0]);
    let memory = cond.memory.map_or(0.42 + 0.06 * load + 0.005 * noise[1], |m| m + 0.003 * noise[1]);
    let pool = cond.pool_share.map_or(0.06 + 0.34 * load + 0.02 * noise[2], |p| p + 0.01 * noise[2]);
    gauge(out, ts_ms, service, "cpu.utilization", unit(cpu), None);
    gauge(out, ts_ms, service, "memory.utilization", unit(memory), None);
    gauge(out, ts_ms, service, "db.pool.in_use", (unit(pool) * POOL_MAX).round(), Some(POOL_MAX));
}

fn gauge(out: &mut Vec<SimEvent>, ts_ms: i64, service: &'static str, name: &'static str, value: f64, max: Option<f64>) {
    out.push(SimEvent { ts_ms, service, body: SimBody::Gauge { name, value, max } });
}

/// Clamps a utilization into `[0.01, 1]`.
fn unit(x: f64) -> f64 {
    x.clamp(0.01, 1.0)
}

fn pick<'a>(rng: &mut SmallRng, ops: &'a [Operation]) -> &'a Operation {
    let mut x: f64 = rng.r#gen();
    for op in ops {
        if x < op.share {
            return op;
        }
        x -= op.share;
    }
    &ops[ops.len() - 1]
}
