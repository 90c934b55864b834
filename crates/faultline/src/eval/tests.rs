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
    let mut resolves = Vec::new();
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
        // Every incident of the scenario resolves within the bound: the one-minute evidence
        // span plus the hold (at most `resolve_max`, 5 min) after the fault ends.
        let r = score(name, &truth, &events, 10_000);
        let resolve = r.resolve_s.unwrap_or_else(|| panic!("{name}: an incident never resolved: {r:?}"));
        assert!(resolve <= 360.0, "{name}: resolved {resolve} s after the fault ended");
        resolves.push(format!("{name}: {} incidents, {} flaps, resolved {resolve} s after", r.incidents, r.flaps));
    }
    insta::assert_snapshot!("resolution", resolves.join("\n"));
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
    assert_eq!((r.incidents, r.duplicates, r.flaps, r.resolve_s), (0, 0, 0, None));
    let json = report_json(vec![SeedReport { seed: 1, scenarios: vec![r], false_incidents: 0 }], 14).unwrap();
    let scenario = r#"{"name":"gateway-outage","detected":false,"delay_s":null,"delay_windows":null,"severity":null,"top_cause":null,"cause_correct":false,"incidents":0,"duplicates":0,"flaps":0,"resolve_s":null,"ttr_s":null}"#;
    assert_eq!(
        json,
        format!(
            r#"{{"scenarios":[{scenario}],"normal_days":14,"false_incidents":0,"seeds":[1],"per_seed":[{{"seed":1,"scenarios":[{scenario}],"false_incidents":0}}]}}"#
        )
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
        incidents: 1,
        duplicates: 0,
        flaps: 0,
        resolve_s: Some(290.0),
        ttr_s: Some(2690.0),
    };
    // A second seed: slower, a flap, less severe, resolved later, and a false incident.
    let worse = ScenarioResult {
        delay_s: Some(40.0),
        delay_windows: Some(4.0),
        severity: Some("P1".into()),
        flaps: 1,
        resolve_s: Some(310.0),
        ttr_s: Some(2710.0),
        ..r.clone()
    };
    let per_seed = [
        SeedReport { seed: 1, scenarios: vec![r], false_incidents: 0 },
        SeedReport { seed: 2, scenarios: vec![worse], false_incidents: 2 },
    ];
    let table = render_table(&per_seed, 14);
    insta::assert_snapshot!(table);
    let w = worst(&per_seed);
    assert_eq!((w[0].delay_windows, w[0].severity.as_deref(), w[0].flaps), (Some(4.0), Some("P1"), 1));
}
