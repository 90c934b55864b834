//! Each incident scenario shifts the aggregates its story says, and only inside its window.

use faultline_sim::{ChangeKind, GroundTruth, ScenarioName, SimBody, SimEvent, TxnOutcome};

use super::{FRIDAY, HOUR_MS, Requests, collect, gauge_mean, in_window, spec};

const MINUTE_MS: i64 = 60_000;

/// The scenario from Friday 08:00, its truth, and the hour before its onset
/// and its incident window (skipping the first and last two minutes of ramps).
fn run(name: ScenarioName) -> (GroundTruth, Vec<SimEvent>, (i64, i64), (i64, i64)) {
    let (truth, events) = collect(&spec(name, FRIDAY + 8 * HOUR_MS, 0.1));
    let truth = truth.expect("incident scenarios have a ground truth");
    let before = (truth.onset_ms - HOUR_MS, truth.onset_ms - 20 * MINUTE_MS - MINUTE_MS);
    let during = (truth.onset_ms + 2 * MINUTE_MS, truth.end_ms - 2 * MINUTE_MS);
    (truth, events, before, during)
}

#[test]
fn gateway_outage_fails_gateway_calls_and_payments() {
    let (truth, events, (b0, b1), (d0, d1)) = run(ScenarioName::GatewayOutage);
    assert_eq!(truth.cause, "payment_provider_outage");
    let peer = |e: &SimEvent| matches!(e.body, SimBody::Request { peer: Some("payment-gateway"), .. });
    let before = Requests::of(events.iter(), |e| peer(e) && in_window(e, b0, b1));
    let during = Requests::of(events.iter(), |e| peer(e) && in_window(e, d0, d1));
    assert!(before.error_share() < 0.02, "before {}", before.error_share());
    assert!(during.error_share() > 0.30, "during {}", during.error_share());
    let success_per_min = |from, to| successes_per_min(&events, "payments-api", from, to);
    assert!(success_per_min(d0, d1) < 0.3 * success_per_min(b0, b1));
}

#[test]
fn db_pool_exhausted_on_friday_evening() {
    let (truth, events, (b0, b1), (d0, d1)) = run(ScenarioName::DbPoolExhausted);
    assert_eq!(truth.cause, "db_pool_exhausted");
    let hour_of_day = (truth.onset_ms - FRIDAY) / HOUR_MS;
    assert_eq!(hour_of_day, 18, "{truth:?}");
    let pool = gauge_mean(&events, "payments-api", "db.pool.in_use", d0, d1);
    assert!((0.92..=0.98).contains(&pool), "pool {pool}");
    assert!(gauge_mean(&events, "checkout", "db.pool.in_use", b0, b1) < 0.5);
    assert!(gauge_mean(&events, "checkout", "cpu.utilization", d0, d1) > 0.9);
    let app = |e: &SimEvent| e.service != "wallet" && matches!(e.body, SimBody::Request { peer: None, .. });
    let during = Requests::of(events.iter(), |e| app(e) && in_window(e, d0, d1));
    assert!((0.38..0.52).contains(&during.error_share()), "errors {}", during.error_share());
    assert!((12_000.0..18_000.0).contains(&during.quantile(0.95)), "p95 {}", during.quantile(0.95));
    let before = Requests::of(events.iter(), |e| app(e) && in_window(e, b0, b1));
    assert!(before.error_share() < 0.01 && before.quantile(0.95) < 500.0);
}

#[test]
fn misconfiguration_follows_a_config_change_and_fails_a_quarter_of_transactions() {
    let (truth, events, (b0, b1), (d0, d1)) = run(ScenarioName::Misconfiguration);
    assert_eq!(truth.cause, "misconfiguration");
    let config_before_onset = events.iter().any(|e| {
        matches!(e.body, SimBody::Change { change: ChangeKind::Config, .. })
            && (truth.onset_ms - 5 * MINUTE_MS..=truth.onset_ms).contains(&e.ts_ms)
    });
    assert!(config_before_onset);
    let failed_share = |from, to| {
        let (mut failed, mut all) = (0, 0);
        for e in events.iter().filter(|e| e.service == "payments-api" && in_window(e, from, to)) {
            if let SimBody::Transaction { outcome, .. } = e.body {
                all += 1;
                failed += usize::from(outcome == TxnOutcome::Failed);
            }
        }
        failed as f64 / all as f64
    };
    assert!(failed_share(b0, b1) < 0.02);
    assert!((0.2..0.32).contains(&failed_share(d0, d1)), "failed {}", failed_share(d0, d1));
    let gateway = Requests::of(events.iter(), |e| {
        matches!(e.body, SimBody::Request { peer: Some(_), .. }) && in_window(e, d0, d1)
    });
    assert!(gateway.error_share() < 0.02, "the network looks fine");
    assert!(gauge_mean(&events, "payments-api", "db.pool.in_use", d0, d1) < 0.5, "the DB looks fine");
    assert!(truth.end_ms - truth.onset_ms >= 2 * HOUR_MS);
}

#[test]
fn memory_leak_climbs_and_restarts_repeatedly() {
    let (truth, events, _, _) = run(ScenarioName::MemoryLeak);
    assert_eq!(truth.cause, "memory_leak");
    let memory: Vec<(i64, f64)> = events
        .iter()
        .filter(|e| e.service == "checkout" && in_window(e, truth.onset_ms, truth.end_ms))
        .filter_map(|e| match e.body {
            SimBody::Gauge { name: "memory.utilization", value, .. } => Some((e.ts_ms, value)),
            _ => None,
        })
        .collect();
    let drops = memory.windows(2).filter(|w| w[0].1 > 0.85 && w[1].1 < 0.5).count();
    assert!(drops >= 3, "{drops} restarts");
    let peak = memory.iter().map(|m| m.1).fold(0.0, f64::max);
    assert!(peak > 0.9);
    // Each restart is a short burst of errors.
    let restart_at = memory.windows(2).find(|w| w[0].1 > 0.85 && w[1].1 < 0.5).map(|w| w[1].0).expect("a restart");
    let burst =
        Requests::of(events.iter(), |e| e.service == "checkout" && in_window(e, restart_at, restart_at + 50_000));
    assert!(burst.error_share() > 0.2, "burst {}", burst.error_share());
}

#[test]
fn slow_queries_pin_db_cpu_and_slow_everything() {
    let (truth, events, (b0, b1), (d0, d1)) = run(ScenarioName::SlowQueries);
    assert_eq!(truth.cause, "slow_db_queries");
    assert!(gauge_mean(&events, "payments-db", "cpu.utilization", d0, d1) > 0.85);
    assert!(gauge_mean(&events, "payments-db", "cpu.utilization", b0, b1) < 0.6);
    let app = |e: &SimEvent| e.service == "checkout";
    let before = Requests::of(events.iter(), |e| app(e) && in_window(e, b0, b1));
    let during = Requests::of(events.iter(), |e| app(e) && in_window(e, d0, d1));
    assert!(during.quantile(0.5) > 4.0 * before.quantile(0.5));
    let timeouts = during.timeouts as f64 / during.n as f64;
    assert!((0.02..0.07).contains(&timeouts), "timeouts {timeouts}");
}

#[test]
fn bad_deployment_brings_a_new_error_pattern_after_a_deploy() {
    let (truth, events, (b0, b1), (d0, d1)) = run(ScenarioName::BadDeployment);
    assert_eq!(truth.cause, "bad_deployment");
    let deploy =
        events.iter().find(|e| matches!(&e.body, SimBody::Change { id, .. } if id == "v2.4.0")).expect("deploy");
    assert!(matches!(deploy.body, SimBody::Change { change: ChangeKind::Deploy, .. }));
    assert!(deploy.ts_ms < truth.onset_ms && deploy.service == "checkout");
    let op = |e: &SimEvent, name: &str| matches!(e.body, SimBody::Request { operation, .. } if operation == name);
    let before = Requests::of(events.iter(), |e| op(e, "POST /checkout") && in_window(e, b0, b1));
    let during = Requests::of(events.iter(), |e| op(e, "POST /checkout") && in_window(e, d0, d1));
    assert!(before.error_share() < 0.02 && during.error_share() > 0.1);
    let other = Requests::of(events.iter(), |e| op(e, "GET /cart") && in_window(e, d0, d1));
    assert!(other.error_share() < 0.02, "the errors are one operation's");
    let cart_before = Requests::of(events.iter(), |e| op(e, "GET /cart") && in_window(e, b0, b1));
    assert!(other.quantile(0.5) > 2.0 * cart_before.quantile(0.5), "latency regression");
}

/// Successful transactions per minute of `service` over `[from, to)`.
fn successes_per_min(events: &[SimEvent], service: &str, from: i64, to: i64) -> f64 {
    let n = events
        .iter()
        .filter(|e| e.service == service && in_window(e, from, to))
        .filter(|e| matches!(e.body, SimBody::Transaction { outcome: TxnOutcome::Success, .. }))
        .count();
    n as f64 * MINUTE_MS as f64 / (to - from) as f64
}

#[test]
fn short_outage_fills_wallets_pool_for_eight_minutes_then_all_is_well() {
    let (truth, events, (b0, b1), (d0, d1)) = run(ScenarioName::ShortOutage);
    assert_eq!((truth.cause.as_str(), truth.services.as_slice()), ("db_pool_exhausted", &["wallet".to_string()][..]));
    assert_eq!(truth.end_ms - truth.onset_ms, 8 * MINUTE_MS);
    assert!(gauge_mean(&events, "wallet", "db.pool.in_use", d0, d1) > 0.93);
    let wallet = |from, to| Requests::of(events.iter(), |e| e.service == "wallet" && in_window(e, from, to));
    let (before, during) = (wallet(b0, b1), wallet(d0, d1));
    assert!(before.error_share() < 0.02 && during.error_share() > 0.35, "errors {}", during.error_share());
    assert!(during.quantile(0.5) > 4.0 * before.quantile(0.5));
    // Half an hour of calm after it, in the stream.
    let (a0, a1) = (truth.end_ms + MINUTE_MS, truth.end_ms + 30 * MINUTE_MS);
    assert!(events.last().is_some_and(|e| e.ts_ms >= a1));
    assert!(wallet(a0, a1).error_share() < 0.02 && gauge_mean(&events, "wallet", "db.pool.in_use", a0, a1) < 0.6);
}

#[test]
fn silent_drop_loses_two_thirds_of_top_ups_with_no_error_or_latency_change() {
    let (truth, events, (b0, b1), (d0, d1)) = run(ScenarioName::SilentDrop);
    assert_eq!(truth.cause, "silent_transaction_loss");
    let hour_of_day = (truth.onset_ms - FRIDAY) / HOUR_MS;
    assert!((18..20).contains(&hour_of_day), "at the evening peak: {truth:?}");
    let topups = |from, to| successes_per_min(&events, "wallet", from, to);
    let ratio = topups(d0, d1) / topups(truth.onset_ms - 10 * MINUTE_MS, truth.onset_ms);
    assert!((0.2..0.5).contains(&ratio), "top-ups at {ratio} of just before");
    let wallet = |from, to| Requests::of(events.iter(), |e| e.service == "wallet" && in_window(e, from, to));
    let (before, during) = (wallet(b0, b1), wallet(d0, d1));
    assert!(during.error_share() < 0.02, "no errors: {}", during.error_share());
    assert!(during.quantile(0.5) < 1.5 * before.quantile(0.5), "no latency change");
}

#[test]
fn wallet_draws_from_its_own_stream() {
    // The same seed with and without the wallet's silent drop: every other service's events agree.
    let others = |name| {
        let (_, events) = collect(&spec(name, FRIDAY + 8 * HOUR_MS, 1.0));
        events.into_iter().filter(|e| e.service != "wallet").map(|e| e.to_json_line()).collect::<Vec<_>>()
    };
    assert_eq!(others(ScenarioName::SilentDrop), others(ScenarioName::ShortOutage));
}

#[test]
fn warmup_moves_the_onset_and_keeps_the_story_slot() {
    let mut s = spec(ScenarioName::DbPoolExhausted, FRIDAY, 1.0);
    s.warmup_days = 7.0;
    let (truth, events) = faultline_sim::generate(&s);
    let truth = truth.expect("truth");
    assert!(truth.onset_ms >= FRIDAY + 7 * 24 * HOUR_MS);
    assert_eq!((truth.onset_ms - FRIDAY) / HOUR_MS, 7 * 24 + 18);
    // Lazy: the first event comes without generating a week.
    assert_eq!(events.take(1).count(), 1);
}
