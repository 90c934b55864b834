//! kill -9 at random points, restart, and the final closed windows and incidents equal an uninterrupted run's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{bin, spawn_run, wait_exit};

/// With more than one shard the file source also decodes on that many threads, so the kill -9
/// runs cross decoder counts too.
fn config(dir: &Path, input: &Path, shards: usize) -> PathBuf {
    let text = format!(
        r#"
[sources.payments]
type = "file"
path = "{input}"
follow = false
max_lines_per_second = 4000

[runtime]
batch_events = 32
queue_batches = 2
shards = {shards}
decoders = {shards}

[admin]
port = 0

[state]
directory = "{state}"
checkpoint_interval = "100ms"

[sinks.signals]
type = "file"
path = "{signals}"
emit = "signals"

[sinks.incidents]
type = "file"
path = "{incidents}"
emit = "incidents"
"#,
        input = input.display(),
        state = dir.join("state").display(),
        signals = dir.join("signals.jsonl").display(),
        incidents = dir.join("incidents.jsonl").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A gateway outage that opens, escalates and resolves one incident, ~13.6k lines
/// starting half an hour before the onset so the kills land around it.
fn scenario(dir: &Path) -> PathBuf {
    let path = dir.join("gateway-outage.jsonl");
    let status = std::process::Command::new(bin())
        .args(["simulate", "--scenario", "gateway-outage", "--days", "0", "--scale", "0.2"])
        .args(["--start", "2026-11-13T13:40:00Z", "--out"])
        .arg(&path)
        .arg("--truth")
        .arg(dir.join("truth.json"))
        .status()
        .unwrap();
    assert!(status.success(), "faultline simulate failed");
    path
}

fn lines(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// What the incident sink wrote: the set of (dedup key, action) pairs and the
/// final (severity, status, resolved_at) of every dedup key (its last line).
#[derive(Debug, PartialEq)]
struct Incidents {
    pairs: BTreeSet<(String, String)>,
    last: BTreeMap<String, (String, String, Option<String>)>,
}

fn incidents(path: &Path) -> Incidents {
    let mut out = Incidents { pairs: BTreeSet::new(), last: BTreeMap::new() };
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let ev: serde_json::Value = serde_json::from_str(line).unwrap();
        let inc = &ev["incident"];
        let key = inc["dedup_key"].as_str().unwrap().to_string();
        out.pairs.insert((key.clone(), ev["action"].as_str().unwrap().to_string()));
        let state = (
            inc["severity"].as_str().unwrap().to_string(),
            inc["status"].as_str().unwrap().to_string(),
            inc["resolved_at"].as_str().map(str::to_string),
        );
        out.last.insert(key, state);
    }
    out
}

#[test]
fn kill_9_with_one_shard() {
    kill_9_at_random_points_then_restart_gives_the_same_windows_and_incidents(&[1], 0x5eed_1234);
}

#[test]
fn kill_9_with_two_shards() {
    kill_9_at_random_points_then_restart_gives_the_same_windows_and_incidents(&[2], 0x5eed_4321);
}

#[test]
fn kill_9_with_four_shards() {
    kill_9_at_random_points_then_restart_gives_the_same_windows_and_incidents(&[4], 0x5eed_9999);
}

#[test]
fn kill_9_across_changes_of_shard_count() {
    kill_9_at_random_points_then_restart_gives_the_same_windows_and_incidents(&[2, 1, 4, 3, 1, 2], 0x5eed_7777);
}

/// The reference is an uninterrupted one-shard run; run `i` of the killed
/// sequence uses `shards[i % len]` shards, so restores cross shard counts.
fn kill_9_at_random_points_then_restart_gives_the_same_windows_and_incidents(shards: &[usize], seed: u64) {
    let data = tempfile::tempdir().unwrap();
    let input = scenario(data.path());
    let clean = tempfile::tempdir().unwrap();
    let mut child = spawn_run(&config(clean.path(), &input, 1), false);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let expected = lines(&clean.path().join("signals.jsonl"));
    assert!(expected.len() > 100, "the uninterrupted run closed windows: {}", expected.len());
    let expected_incidents = incidents(&clean.path().join("incidents.jsonl"));
    let actions: BTreeSet<&str> = expected_incidents.pairs.iter().map(|p| p.1.as_str()).collect();
    assert!(
        actions.contains("opened") && actions.contains("resolved"),
        "the uninterrupted run opened and resolved an incident: {expected_incidents:?}"
    );

    let crashed = tempfile::tempdir().unwrap();
    // A fixed-seed LCG: kill points differ per attempt, the test stays reproducible.
    let mut seed = seed;
    let mut kills = 0;
    // (dedup key, action) pairs delivered at each kill: between 0 and all means mid-incident.
    let mut kill_points = Vec::new();
    for run in 0..8 {
        let cfg = config(crashed.path(), &input, shards[run % shards.len()]);
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let after = Duration::from_millis(200 + (seed >> 33) % 700);
        let mut child = std::process::Command::new(bin())
            .args(["run", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL: no shutdown, no final checkpoint
            kills += 1;
            let _ = child.wait();
            kill_points.push(incidents(&crashed.path().join("incidents.jsonl")).pairs.len());
        }
        let _ = child.wait();
    }
    assert!(kills >= 3, "only {kills} runs were killed mid-way");
    let cfg = config(crashed.path(), &input, shards[shards.len() - 1]);
    let mut child = spawn_run(&cfg, false);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let got = lines(&crashed.path().join("signals.jsonl"));
    let missing: Vec<_> = expected.difference(&got).take(3).collect();
    let extra: Vec<_> = got.difference(&expected).take(3).collect();
    assert!(missing.is_empty() && extra.is_empty(), "after {kills} kills: missing {missing:?}, extra {extra:?}");

    let n_lines = |dir: &Path| std::fs::read_to_string(dir.join("incidents.jsonl")).unwrap_or_default().lines().count();
    eprintln!(
        "{kills} kills (incident pairs delivered at each: {kill_points:?}); incident lines: {} uninterrupted, {} with restarts",
        n_lines(clean.path()),
        n_lines(crashed.path())
    );
    // Repeats of an already-emitted (dedup key, action) are allowed; a new key or pair is not.
    let got_incidents = incidents(&crashed.path().join("incidents.jsonl"));
    assert_eq!(got_incidents.pairs, expected_incidents.pairs, "(dedup key, action) pairs after {kills} kills");
    assert_eq!(got_incidents.last, expected_incidents.last, "final incident states after {kills} kills");
}
