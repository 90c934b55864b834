//! What a person reads in a PagerDuty list: every built-in scenario's incident titles, pinned.
//!
//! Each scenario is simulated (seed 1) and replayed; the snapshot holds the severity and title of
//! every opened event and of each escalation, so a change in wording or numbers shows in review.

use std::process::Command;

use crate::harness::bin;

#[test]
fn every_scenarios_incident_titles_read_as_a_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = String::new();
    for scenario in
        ["gateway-outage", "db-pool-exhausted", "misconfiguration", "memory-leak", "slow-queries", "bad-deployment"]
    {
        let input = dir.path().join(format!("{scenario}.jsonl"));
        let sim = Command::new(bin())
            .args(["simulate", "--scenario", scenario, "--out"])
            .arg(&input)
            .arg("--truth")
            .arg(dir.path().join("truth.json"))
            .output()
            .unwrap();
        assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stderr));
        let replay = Command::new(bin()).args(["replay", "--quiet", "--input"]).arg(&input).output().unwrap();
        assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
        let mut last_severity = std::collections::HashMap::new();
        for line in String::from_utf8(replay.stdout).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let i = &v["incident"];
            let (key, sev, title) =
                (i["dedup_key"].as_str().unwrap(), i["severity"].as_str().unwrap(), i["title"].as_str().unwrap());
            let action = v["action"].as_str().unwrap();
            let escalated = last_severity.get(key).is_some_and(|s: &String| s.as_str() != sev);
            if action == "opened" || escalated {
                out.push_str(&format!("{scenario:<18} {action:<8} {sev} {title}\n"));
            }
            last_severity.insert(key.to_string(), sev.to_string());
            // A title names its service once and never the severity.
            assert!(!title.contains(sev), "{title}");
            assert_eq!(title.matches(i["service"].as_str().unwrap()).count(), 1, "{title}");
        }
    }
    insta::assert_snapshot!(out);
}
