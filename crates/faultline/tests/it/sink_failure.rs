//! A sink that cannot write holds every checkpoint back, so a restart emits its lost output again.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, repo, wait_exit};

fn config(dir: &Path, sink: &Path) -> std::path::PathBuf {
    let text = format!(
        r#"
[sources.payments]
type = "file"
path = "{input}"
follow = false

[admin]
port = 0

[state]
directory = "{state}"
checkpoint_interval = "10ms"

[sinks.signals]
type = "file"
path = "{sink}"
emit = "signals"
"#,
        input = repo("testdata/payments-burst.jsonl").display(),
        state = dir.join("state").display(),
        sink = sink.display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_failed_sink_write_is_never_passed_by_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // Every write to /dev/full fails with ENOSPC: the disk-full case.
    let cfg = config(dir.path(), Path::new("/dev/full"));
    let out = Command::new(bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a run whose sink lost output fails");
    assert!(stderr.contains("sink signals lost output"), "{stderr}");
    assert!(
        !dir.path().join("state/checkpoint.bin").exists(),
        "no checkpoint may name positions whose output the sink lost"
    );

    // The same state directory with a working sink: everything is emitted, from the start.
    let good = dir.path().join("signals.jsonl");
    let cfg = config(dir.path(), &good);
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());
    let reference = Command::new(bin())
        .args(["replay", "--emit", "signals", "--quiet", "--config"])
        .arg(&cfg)
        .arg("--input")
        .arg(repo("testdata/payments-burst.jsonl"))
        .output()
        .unwrap();
    let mut want: Vec<&str> = std::str::from_utf8(&reference.stdout).unwrap().lines().collect();
    let written = std::fs::read_to_string(&good).unwrap();
    let mut got: Vec<&str> = written.lines().collect();
    want.sort_unstable();
    got.sort_unstable();
    assert!(want.len() > 100);
    assert!(got == want, "the restarted run emitted {} signal lines, replay {}", got.len(), want.len());
}
