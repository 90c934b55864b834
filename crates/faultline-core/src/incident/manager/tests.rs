//! Lifecycle tests of the incident manager: confirmation, grouping, hysteresis, flapping, restarts.

use std::sync::Arc;

use super::*;
use crate::aggregate::{Aggregate, ChangeAggregate, RequestAggregate};
use crate::detect::{DetectorKind, Direction};
use crate::event::{Change, ChangeKind};
use crate::incident::{CauseCatalog, IncidentConfig};
use crate::series::SeriesId;
use crate::signal::Signal;
use crate::window::Window;

const W: i64 = 10_000;
const T0: i64 = 1_795_197_600_000;

fn req_key(service: &str) -> SeriesKey {
    SeriesKey::new(SeriesKind::Request, service, "POST /charge", &["eu-west-1"])
}

fn dep_key(service: &str, peer: &str) -> SeriesKey {
    SeriesKey::new(SeriesKind::Dependency, service, peer, &["eu-west-1"])
}

fn window(k: i64) -> Window {
    Window { start: Millis(T0 + k * W), end: Millis(T0 + (k + 1) * W) }
}

struct Harness {
    m: IncidentManager,
    events: Vec<IncidentEvent>,
}

impl Harness {
    fn new() -> Harness {
        let config = IncidentConfig { dimension_names: vec!["region".into()], ..IncidentConfig::default() };
        Harness { m: IncidentManager::new(config, CauseCatalog::default()), events: Vec::new() }
    }

    /// Window k of `key`: `requests` with `errors`; a finding when `score` is given.
    fn window(&mut self, k: i64, key: &SeriesKey, requests: u64, errors: u64, score: Option<f64>) {
        let win = window(k);
        let agg = RequestAggregate { requests, errors, latency: None };
        let closed = ClosedWindow { series: SeriesId(0), window: win, aggregate: Aggregate::Request(agg) };
        let key = &Arc::new(key.clone());
        self.m.observe_window(key, &closed);
        let rate = errors as f64 / requests.max(1) as f64;
        let point = SignalPoint {
            series: SeriesId(0),
            window: win,
            signal: Signal::ErrorRate,
            value: rate,
            n: requests,
            k: errors,
        };
        self.m.observe_point(key, &point);
        if let Some(score) = score {
            let f = Finding {
                detector: if score >= 0.9 { DetectorKind::Threshold } else { DetectorKind::Baseline },
                signal: Signal::ErrorRate,
                series: SeriesId(0),
                window: win,
                value: rate,
                baseline: Some(0.004),
                threshold: Some(0.01),
                score,
                direction: Direction::Up,
                detail: None,
                tail: None,
            };
            self.m.observe_finding(key, &f);
        }
    }

    fn end(&mut self, k: i64) -> Vec<IncidentEvent> {
        let mut out = Vec::new();
        self.m.end_window(window(k).end, &mut out);
        self.events.extend(out.iter().cloned());
        out
    }

    /// Windows `from..to` of `service` failing at `share` with strong findings.
    fn outage(&mut self, service: &str, from: i64, to: i64, share: f64) {
        for k in from..to {
            self.window(k, &req_key(service), 1000, (1000.0 * share) as u64, Some(1.0));
            self.end(k);
        }
    }

    fn healthy(&mut self, service: &str, from: i64, to: i64) {
        for k in from..to {
            self.window(k, &req_key(service), 1000, 1, None);
            self.end(k);
        }
    }

    fn actions(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.action.as_str()).collect()
    }
}

#[test]
fn a_weak_finding_waits_for_a_second_window() {
    let mut h = Harness::new();
    // 20 errors in 1000 requests against the 1 % floor: unusual (tail ~0.003), not overwhelming.
    h.window(0, &req_key("pay"), 1000, 20, Some(0.5));
    assert!(h.end(0).is_empty(), "one weak window is not an incident");
    h.window(1, &req_key("pay"), 1000, 1, None);
    assert!(h.end(1).is_empty());
    h.window(2, &req_key("pay"), 1000, 20, Some(0.5));
    let ev = h.end(2);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].action, Action::Opened);
    assert_eq!(ev[0].incident.onset_at, window(0).start, "onset is the first anomalous window");
    assert_eq!(ev[0].incident.detected_at, window(2).end);
}

#[test]
fn a_few_failures_open_nothing() {
    let mut h = Harness::new();
    for k in 0..5 {
        h.window(k, &req_key("pay"), 3, 1, Some(1.0));
        h.end(k);
    }
    assert!(h.events.is_empty(), "1 error in 3 requests, window after window");
}

#[test]
fn a_strong_finding_opens_at_once_with_a_stable_key() {
    let mut h = Harness::new();
    h.window(0, &req_key("pay"), 1000, 600, Some(1.0));
    let ev = h.end(0);
    assert_eq!(ev.len(), 1);
    let inc = &ev[0].incident;
    assert_eq!(inc.dedup_key, "pay/2026-11-20T18:00:00.000Z");
    assert_eq!(inc.id, format!("inc-{:016x}", fnv1a(inc.dedup_key.as_bytes())));
    assert_eq!(inc.severity, Severity::P0, "60% of requests failing");
    let json = ev[0].to_json();
    assert_eq!(json.incident.scope.share_of_requests, 0.6);
    assert_eq!(json.incident.scope.dimensions[0].key, "operation");
    assert_eq!(json.incident.scope.dimensions[0].share, 1.0);
}

#[test]
fn resolves_after_the_hysteresis_and_not_before() {
    let mut h = Harness::new();
    h.outage("pay", 0, 30, 0.6); // 300 s of outage
    h.healthy("pay", 30, 58);
    assert_eq!(h.actions(), ["opened"], "hold is min(duration 300 s, 10 min) = 30 windows");
    h.healthy("pay", 58, 60);
    assert_eq!(h.actions(), ["opened", "resolved"]);
    let last = &h.events[1].incident;
    assert_eq!(last.status, Status::Resolved);
    assert_eq!(last.resolved_at, Some(window(59).end));
    assert_eq!(last.timeline.last().map(|t| t.kind), Some(TimelineKind::Resolved));
}

#[test]
fn stale_findings_on_insignificant_failures_hold_nothing() {
    let mut h = Harness::new();
    h.outage("pay", 0, 30, 0.6);
    // A detector with memory (a burn rate's decayed windows) still reports, on one error
    // in 60 quiet requests a window: no evidence the outage goes on.
    for k in 30..60 {
        h.window(k, &req_key("pay"), 60, 1, Some(1.0));
        h.end(k);
    }
    assert_eq!(h.actions(), ["opened", "resolved"], "resolved as if healthy");
    assert_eq!(h.events[1].incident.resolved_at, Some(window(59).end));
}

#[test]
fn short_incidents_hold_three_windows() {
    let mut h = Harness::new();
    h.outage("pay", 0, 1, 0.6);
    h.healthy("pay", 1, 3);
    assert_eq!(h.actions(), ["opened"]);
    h.healthy("pay", 3, 4);
    assert_eq!(h.actions(), ["opened", "resolved"]);
}

#[test]
fn still_abnormal_values_keep_it_open_without_findings() {
    let mut h = Harness::new();
    h.outage("pay", 0, 2, 0.6);
    for k in 2..20 {
        // The detector went quiet (adapted), but the error rate is still above its threshold.
        h.window(k, &req_key("pay"), 1000, 300, None);
        h.end(k);
    }
    assert_eq!(h.actions(), ["opened"]);
}

#[test]
fn flapping_reuses_the_incident() {
    let mut h = Harness::new();
    h.outage("pay", 0, 2, 0.6);
    h.healthy("pay", 2, 6);
    assert_eq!(h.actions(), ["opened", "resolved"]);
    h.outage("pay", 10, 11, 0.6);
    assert_eq!(h.actions(), ["opened", "resolved", "updated"]);
    let first = &h.events[0].incident;
    let again = &h.events[2].incident;
    assert_eq!((&again.id, &again.dedup_key), (&first.id, &first.dedup_key));
    assert_eq!(again.status, Status::Open);
    assert_eq!(again.resolved_at, None);
}

#[test]
fn after_the_flap_window_a_new_incident_opens() {
    let mut h = Harness::new();
    h.outage("pay", 0, 2, 0.6);
    h.healthy("pay", 2, 200); // 15 min flap window is 90 windows
    h.outage("pay", 200, 201, 0.6);
    assert_eq!(h.actions(), ["opened", "resolved", "opened"]);
    assert_ne!(h.events[0].incident.dedup_key, h.events[2].incident.dedup_key);
    assert_eq!(h.m.incidents().len(), 1, "the old one left the state");
}

#[test]
fn dedup_key_survives_a_restart() {
    let mut h = Harness::new();
    h.outage("pay", 0, 3, 0.6);
    let key = h.events[0].incident.dedup_key.clone();
    let saved = serde_json::to_string(h.m.state()).unwrap();
    let state: ManagerState = serde_json::from_str(&saved).unwrap();
    assert_eq!(&state, h.m.state());
    let config = h.m.config().clone();
    h.m = IncidentManager::from_state(config, CauseCatalog::default(), state);
    h.events.clear();
    h.window(3, &dep_key("pay", "payment-gateway"), 500, 400, Some(1.0));
    h.outage("pay", 3, 5, 0.6);
    // The dependency reports no more windows: its last one counts for the evidence span (1 min).
    h.healthy("pay", 5, 18);
    assert_eq!(h.actions(), ["updated", "resolved"], "no second `opened` after the restart");
    assert!(h.events.iter().all(|e| e.incident.dedup_key == key));
}

#[test]
fn dependency_callers_join_and_other_services_stay_apart() {
    let mut h = Harness::new();
    h.outage("payment-gateway", 0, 1, 0.9);
    h.window(1, &dep_key("checkout", "payment-gateway"), 500, 450, Some(1.0));
    h.window(1, &req_key("search"), 1000, 900, Some(1.0));
    h.end(1);
    assert_eq!(h.actions(), ["opened", "updated", "opened"]);
    assert_eq!(h.events[1].incident.service, "payment-gateway");
    assert!(h.events[1].incident.covers("checkout"));
    assert_eq!(h.events[2].incident.service, "search");
}

#[test]
fn history_opens_nothing() {
    let mut h = Harness::new();
    h.m.set_history_until(window(5).end);
    h.outage("pay", 0, 6, 0.6);
    assert!(h.events.is_empty());
    h.outage("pay", 6, 7, 0.6);
    assert_eq!(h.actions(), ["opened"]);
}

#[test]
fn severity_goes_up_with_a_timeline_entry() {
    let mut h = Harness::new();
    h.outage("search", 0, 1, 0.08);
    h.outage("search", 1, 3, 0.9); // shares are judged over the incident so far
    assert_eq!(h.actions(), ["opened", "updated"]);
    assert_eq!(h.events[0].incident.severity, Severity::P1);
    let inc = &h.events[1].incident;
    assert_eq!(inc.severity, Severity::P0);
    assert!(inc.timeline.iter().any(|t| t.kind == TimelineKind::SeverityChanged && t.detail.starts_with("P1 → P0")));
}

#[test]
fn a_deploy_before_onset_is_named() {
    let mut h = Harness::new();
    let change =
        Change { at: Millis(T0 - 60_000), kind: ChangeKind::Deploy, id: "v2.3.1".into(), text: "new client".into() };
    let key = SeriesKey::new(SeriesKind::Change, "pay", "", &[]);
    let agg = Aggregate::Change(ChangeAggregate { changes: vec![Arc::new(change)] });
    h.m.observe_window(
        &Arc::new(key.clone()),
        &ClosedWindow { series: SeriesId(1), window: window(-7), aggregate: agg },
    );
    h.m.end_window(window(-7).end, &mut Vec::new());
    h.outage("pay", 0, 2, 0.2);
    let inc = &h.events.last().unwrap().incident;
    assert_eq!(inc.causes[0].cause, "bad_deployment");
    assert!(inc.causes[0].evidence.contains("v2.3.1"), "{}", inc.causes[0].evidence);
    assert!(inc.runbook[0].contains("v2.3.1"), "{:?}", inc.runbook);
}

#[test]
fn shared_infrastructure_joins_by_time() {
    let mut h = Harness::new();
    h.outage("pay", 0, 1, 0.6);
    let cpu = SeriesKey::new(SeriesKind::Gauge, "pay-db", "cpu.utilization", &[]);
    let win = window(1);
    let f = Finding {
        detector: DetectorKind::Threshold,
        signal: Signal::Cpu,
        series: SeriesId(2),
        window: win,
        value: 0.95,
        baseline: None,
        threshold: Some(0.8),
        score: 1.0,
        direction: Direction::Up,
        detail: None,
        tail: None,
    };
    h.m.observe_finding(&cpu, &f);
    h.end(1);
    assert_eq!(h.actions(), ["opened", "updated"]);
    assert!(h.events[1].incident.covers("pay-db"));
}
