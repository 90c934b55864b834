//! kill -9 at random points, restart, and the final closed windows equal an uninterrupted run's.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::harness::{repo, spawn_run, wait_exit};

fn config(dir: &Path, input: &Path) -> std::path::PathBuf {
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

[admin]
port = 0

[state]
directory = "{state}"
checkpoint_interval = "100ms"

[sinks.signals]
type = "file"
path = "{out}"
emit = "signals"
"#,
        input = input.display(),
        state = dir.join("state").display(),
        out = dir.join("signals.jsonl").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn lines(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

#[test]
fn kill_9_at_random_points_then_restart_gives_the_same_closed_windows() {
    let input = repo("testdata/payments-burst.jsonl");
    let clean = tempfile::tempdir().unwrap();
    let mut child = spawn_run(&config(clean.path(), &input), false);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let expected = lines(&clean.path().join("signals.jsonl"));
    assert!(expected.len() > 100, "the uninterrupted run closed windows: {}", expected.len());

    let crashed = tempfile::tempdir().unwrap();
    let cfg = config(crashed.path(), &input);
    // A fixed-seed LCG: kill points differ per attempt, the test stays reproducible.
    let mut seed: u64 = 0x5eed_1234;
    let mut kills = 0;
    for _ in 0..6 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let after = Duration::from_millis(150 + (seed >> 33) % 600);
        let mut child = std::process::Command::new(crate::harness::bin())
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
        }
        let _ = child.wait();
    }
    assert!(kills >= 3, "only {kills} runs were killed mid-way");
    let mut child = spawn_run(&cfg, false);
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let got = lines(&crashed.path().join("signals.jsonl"));
    let missing: Vec<_> = expected.difference(&got).take(3).collect();
    let extra: Vec<_> = got.difference(&expected).take(3).collect();
    assert!(missing.is_empty() && extra.is_empty(), "after {kills} kills: missing {missing:?}, extra {extra:?}");
}
