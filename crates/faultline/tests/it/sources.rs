//! Several sources in one pipeline: each its own input, the watermark their minimum, the output their union.
//!
//! One difference from replaying each file alone is wanted: the source that ends first sees time go
//! on through the other, so its series read as zero traffic (empty windows) up to where the other
//! reached, in whatever order the two ends arrive.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{bin, spawn_run, wait_exit};

/// Request lines of `service`, one every 100 ms for `seconds`, in time order.
fn write_source(path: &Path, service: &str, seconds: i64, skew_ms: i64) {
    let mut text = String::new();
    for i in 0..seconds * 10 {
        let ts = 1_795_132_800_000 + skew_ms + i * 100;
        let status = if i % 13 == 0 { 503 } else { 200 };
        text.push_str(&format!(
            "{{\"ts\":{ts},\"service\":\"{service}\",\"operation\":\"op-{}\",\"kind\":\"request\",\"status\":{status},\"latency_ms\":{}.25}}\n",
            i % 3,
            20 + i % 70
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn replay_signals(input: &Path) -> BTreeSet<String> {
    let out =
        Command::new(bin()).args(["replay", "--emit", "signals", "--quiet", "--input"]).arg(input).output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn two_file_sources_in_one_pipeline_give_the_union_of_their_replays() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
    // The second source runs 30 s behind the first: it holds the watermark back.
    write_source(&a, "checkout", 120, 0);
    write_source(&b, "payments", 120, -30_000);
    let signals = dir.path().join("signals.jsonl");
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[series]\ndimensions = [\"region\"]\n\
             [sources.a]\ntype = \"file\"\npath = \"{}\"\nfollow = false\n\
             [sources.b]\ntype = \"file\"\npath = \"{}\"\nfollow = false\n\
             [runtime]\nshards = 2\n[admin]\nport = 0\n\
             [sinks.signals]\ntype = \"file\"\npath = \"{}\"\nemit = \"signals\"\n",
            a.display(),
            b.display(),
            signals.display()
        ),
    )
    .unwrap();
    let run = |shards: usize| -> BTreeSet<String> {
        let text = std::fs::read_to_string(&cfg).unwrap();
        let text = text
            .replace("shards = 2", &format!("shards = {shards}"))
            .replace("shards = 1", &format!("shards = {shards}"));
        std::fs::write(&cfg, text).unwrap();
        let _ = std::fs::remove_file(&signals);
        let mut child = spawn_run(&cfg, false);
        assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
        std::fs::read_to_string(&signals).unwrap().lines().map(str::to_string).collect()
    };
    let got = run(2);
    let mut want = replay_signals(&a);
    want.extend(replay_signals(&b));
    assert!(want.len() > 200, "{}", want.len());
    let missing: Vec<_> = want.difference(&got).take(3).collect();
    assert!(missing.is_empty(), "missing {missing:?}");
    // Past its end (00:01:30) payments reads as zero traffic while checkout goes on to 00:02:00.
    let extra: Vec<&String> = got.difference(&want).collect();
    assert!(!extra.is_empty(), "the first source to end shows its silence");
    for line in &extra {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            (v["service"].as_str(), v["signal"].as_str(), v["value"].as_f64()),
            (Some("payments"), Some("request_rate"), Some(0.0)),
            "{line}"
        );
        let end = v["window_end"].as_str().unwrap();
        assert!(("2026-11-20T00:01:40.000Z"..="2026-11-20T00:02:00.000Z").contains(&end), "{line}");
    }
    assert_eq!(run(1), got, "the same output on one shard, whatever order the sources ended in");
}

#[test]
fn a_source_that_fails_ends_its_partition_and_the_run_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.jsonl");
    write_source(&a, "checkout", 60, 0);
    let signals = dir.path().join("signals.jsonl");
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources.a]\ntype = \"file\"\npath = \"{}\"\nfollow = false\n\
             [sources.gone]\ntype = \"file\"\npath = \"{}\"\nfollow = false\n\
             [admin]\nport = 0\n[sinks.signals]\ntype = \"file\"\npath = \"{}\"\nemit = \"signals\"\n",
            a.display(),
            dir.path().join("no-such-file.jsonl").display(),
            signals.display()
        ),
    )
    .unwrap();
    let out = Command::new(bin()).args(["run", "--config"]).arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed source fails the run");
    assert!(stderr.contains("source gone") && stderr.contains("no-such-file.jsonl"), "{stderr}");
    // The missing file does not hold the watermark back: every window of the good source closed.
    let got: BTreeSet<String> = std::fs::read_to_string(&signals).unwrap().lines().map(str::to_string).collect();
    let want = replay_signals(&a);
    assert!(want.len() > 50 && got == want, "{} of {} signal lines", got.len(), want.len());
}
