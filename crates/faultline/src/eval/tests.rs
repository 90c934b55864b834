//! Snapshot tests of the incident streams of every scenario, and of eval's scoring and report.

use faultline_core::incident::Action;
use faultline_sim::ScenarioName;
use serde::Serialize;

use super::*;

/// A short run: half a day of history (each incident still waits for its story's slot).
fn short_plan() -> EvalPlan {
    EvalPlan { warmup_days: 0.5, normal_days: 0.25, seed: 1, scale: 1.0, print_events: false, quiet: true }
}

/// One incident event as people read it, with times relative to the true onset.
#[derive(Debug, Serialize)]
struct Digest {
    action: String,
    at_s: i64,
    service: String,
    services: Vec<String>,
    severity: String,
    status: String,
    signals: Vec<String>,
    causes: Vec<String>,
    timeline: Vec<String>,
}

fn digest(onset_ms: i64, e: &IncidentEvent) -> Digest {
    let i = &e.incident;
    let at = match e.action {
        Action::Opened => i.detected_at,
        _ => i.timeline.last().map_or(i.detected_at, |t| t.at),
    };
    let json = e.to_json();
    Digest {
        action: e.action.as_str().into(),
        at_s: (at.0 - onset_ms) / 1000,
        service: i.service.clone(),
        services: i.services.iter().cloned().collect(),
        severity: i.severity.as_str().into(),
        status: json.incident.status,
        signals: json.incident.signals.iter().map(|s| format!("{} ({})", s.name, s.detector)).collect(),
        causes: i.causes.iter().map(|c| format!("{} {:.2}", c.cause, c.confidence)).collect(),
        timeline: i
            .timeline
            .iter()
            .map(|t| format!("{:+} s {}", (t.at.0 - onset_ms) / 1000, t.kind.as_str()))
            .collect(),
    }
}

#[test]
fn incident_streams_of_every_scenario() {
    let spec = default_spec().unwrap();
    let plan = short_plan();
    let names: Vec<ScenarioName> = ScenarioName::ALL.into_iter().filter(|n| *n != ScenarioName::Normal).collect();
    let runs: Vec<(ScenarioName, Option<GroundTruth>, Vec<IncidentEvent>)> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .chunks(names.len().div_ceil(2))
            .map(|chunk| {
                let (spec, plan) = (&spec, &plan);
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|n| {
                            let (truth, events) = run_scenario(spec, plan, *n);
                            (*n, truth, events)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    for (name, truth, events) in runs {
        let truth = truth.unwrap();
        // Only the incidents around the true one: the rest of a short history is noise of its own.
        let digests: Vec<Digest> = events
            .iter()
            .filter(|e| truth.services.iter().any(|s| e.incident.covers(s)))
            .map(|e| digest(truth.onset_ms, e))
            .filter(|d| d.at_s >= -600 && d.at_s <= (truth.end_ms - truth.onset_ms) / 1000 + 900)
            .collect();
        assert!(!digests.is_empty(), "{name}: no incident near the true one");
        insta::assert_yaml_snapshot!(name.as_str(), digests);
    }
}

fn truth() -> GroundTruth {
    GroundTruth {
        scenario: "gateway-outage".into(),
        onset_ms: 1_000_000,
        end_ms: 2_000_000,
        services: vec!["payments-api".into()],
        cause: "payment_provider_outage".into(),
    }
}

#[test]
fn undetected_scores_nulls_and_false() {
    let r = score(ScenarioName::GatewayOutage, &truth(), &[], 10_000);
    assert!(!r.detected && !r.cause_correct);
    let json = report_json(vec![r], 14, 0).unwrap();
    assert_eq!(
        json,
        r#"{"scenarios":[{"name":"gateway-outage","detected":false,"delay_s":null,"delay_windows":null,"severity":null,"top_cause":null,"cause_correct":false}],"normal_days":14,"false_incidents":0}"#
    );
}

#[test]
fn the_table_sums_up() {
    let r = ScenarioResult {
        name: "gateway-outage".into(),
        detected: true,
        delay_s: Some(20.0),
        delay_windows: Some(2.0),
        severity: Some("P0".into()),
        top_cause: Some("payment_provider_outage".into()),
        cause_correct: true,
    };
    let table = render_table(&[r], 14, 0);
    assert!(
        table.contains(
            "detected 1/1, top cause right 1/1, median delay 2.0 windows; 0 false incidents in 14 normal days"
        ),
        "{table}"
    );
}
