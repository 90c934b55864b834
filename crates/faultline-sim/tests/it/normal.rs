//! A normal day: cycles, healthy levels, harmless changes, and the volume per simulated day.

use faultline_sim::{ChangeKind, ScenarioName, SimBody, TxnOutcome};

use super::{FRIDAY, HOUR_MS, Requests, collect, gauge_mean, in_window, spec};

#[test]
fn normal_friday_cycles_and_stays_healthy() {
    let (truth, events) = collect(&spec(ScenarioName::Normal, FRIDAY, 1.0));
    assert!(truth.is_none());
    eprintln!("events per simulated Friday at scale 1: {}", events.len());
    // Three apps (checkout, payments-api and the small wallet) with their gauges.
    assert!((150_000..650_000).contains(&events.len()), "{} events", events.len());
    let requests = |from: i64, to: i64| {
        Requests::of(events.iter(), |e| in_window(e, FRIDAY + from * HOUR_MS, FRIDAY + to * HOUR_MS))
    };
    let night = requests(3, 4);
    let evening = requests(18, 20);
    assert!((night.n as f64) < 0.15 * evening.n as f64 / 2.0, "night {} evening {}", night.n, evening.n);
    // Checkout at the Friday peak: about 240 requests a minute at scale 1.
    let peak_checkout = Requests::of(events.iter(), |e| {
        e.service == "checkout" && in_window(e, FRIDAY + 19 * HOUR_MS - 600_000, FRIDAY + 19 * HOUR_MS + 600_000)
    });
    let per_min = peak_checkout.n as f64 / 20.0;
    assert!((180.0..300.0).contains(&per_min), "{per_min}/min");
    let all = requests(0, 24);
    assert!(all.error_share() < 0.01, "errors {}", all.error_share());
    assert!(all.quantile(0.95) < 500.0, "p95 {}", all.quantile(0.95));
    for service in ["checkout", "payments-api", "wallet"] {
        let peak = (FRIDAY + 18 * HOUR_MS, FRIDAY + 20 * HOUR_MS);
        assert!(gauge_mean(&events, service, "db.pool.in_use", peak.0, peak.1) < 0.5);
        assert!(gauge_mean(&events, service, "cpu.utilization", peak.0, peak.1) < 0.6);
    }
    assert!(gauge_mean(&events, "payments-db", "cpu.utilization", FRIDAY, FRIDAY + 24 * HOUR_MS) < 0.6);
    let (mut declined, mut txns) = (0, 0);
    // payments-api's charges: the issuer declines some besides the client errors.
    for e in events.iter().filter(|e| e.service == "payments-api") {
        if let SimBody::Transaction { outcome, .. } = e.body {
            txns += 1;
            declined += usize::from(outcome == TxnOutcome::Declined);
        }
    }
    let declined = declined as f64 / txns as f64;
    assert!((0.02..0.035).contains(&declined), "declined {declined}");
}

#[test]
fn a_normal_week_has_harmless_deploys_and_a_quiet_weekend_night() {
    let (_, events) = collect(&spec(ScenarioName::Normal, FRIDAY - 4 * 24 * HOUR_MS, 5.0));
    let deploys =
        events.iter().filter(|e| matches!(e.body, SimBody::Change { change: ChangeKind::Deploy, .. })).count();
    assert!(deploys >= 2, "{deploys} deploys");
    let all = Requests::of(events.iter(), |_| true);
    assert!(all.error_share() < 0.01);
}
