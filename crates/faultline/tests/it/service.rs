//! `faultline run` as a user starts it: admin endpoints, every catalog metric, SIGTERM, check-config.

use std::process::Command;
use std::time::Duration;

use crate::harness::{admin_addr, bin, get, repo, spawn_run, wait_exit};

/// Metric names from the catalog file (the one place that names them).
pub(crate) fn catalog_names() -> Vec<String> {
    let src = std::fs::read_to_string(repo("crates/faultline/src/service/metrics.rs")).unwrap();
    src.split('"')
        .filter(|s| {
            s.starts_with("faultline_") && !s.ends_with('_') && s.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn endpoints_answer_every_metric_appears_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("events.jsonl");
    std::fs::copy(repo("testdata/payments-burst.jsonl"), &input).unwrap();
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources.app]\ntype = \"file\"\npath = \"{}\"\nfollow = true\n[state]\ndirectory = \"{}\"\n",
            input.display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut child = spawn_run(&cfg, true);
    let addr = admin_addr(&mut child);
    assert_eq!(get(&addr, "/healthz").0, 200);
    let mut ready = 0;
    for _ in 0..100 {
        ready = get(&addr, "/readyz").0;
        if ready == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ready, 200);
    let (status, index) = get(&addr, "/");
    assert!(status == 200 && index.contains("/metrics"), "{index}");
    std::thread::sleep(Duration::from_millis(500));
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    let names = catalog_names();
    assert!(names.len() >= 15, "{names:?}");
    for n in &names {
        assert!(metrics.contains(&format!("# HELP {n} ")), "{n} missing from /metrics");
    }
    assert!(metrics.contains("faultline_source_events_accepted_total{source=\"app\"}"), "{metrics}");
    // Graceful shutdown: SIGTERM, drain, final checkpoint, exit 0.
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
    assert!(dir.path().join("state/checkpoint.json").exists());
}

#[test]
fn check_config_accepts_shipped_pipelines_and_names_a_typo_line() {
    for name in ["demo", "payments", "checkout"] {
        let out =
            Command::new(bin()).arg("check-config").arg(repo(&format!("pipelines/{name}.toml"))).output().unwrap();
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let dir = tempfile::tempdir().unwrap();
    let text =
        format!("{}\n[windoes]\nsize = \"10s\"\n", std::fs::read_to_string(repo("pipelines/demo.toml")).unwrap());
    let line = text.lines().position(|l| l == "[windoes]").unwrap() + 1;
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(bin()).arg("check-config").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&out.stderr);
    assert!(msg.contains(&format!("typo.toml:{line}: windoes: unknown key")), "{msg}");
}

/// Bytes of whole lines the source has read (events per line vary: an outbound call feeds two series).
fn read_bytes(addr: &str) -> u64 {
    let (_, m) = get(addr, "/metrics");
    m.lines()
        .find_map(|l| l.strip_prefix("faultline_source_read_bytes_total{source=\"app\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn wait_read(addr: &str, lines: &[&str]) {
    let n: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    for _ in 0..200 {
        if read_bytes(addr) == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("read {} bytes, expected {n}", read_bytes(addr));
}

#[test]
fn follow_reads_appended_lines_and_a_rotated_file_like_tail_f() {
    let dir = tempfile::tempdir().unwrap();
    let all = std::fs::read_to_string(repo("testdata/payments-burst.jsonl")).unwrap();
    let lines: Vec<&str> = all.lines().take(30).collect();
    let input = dir.path().join("events.jsonl");
    let cfg = dir.path().join("p.toml");
    std::fs::write(&cfg, format!("[sources.app]\ntype = \"file\"\npath = \"{}\"\nfollow = true\n", input.display()))
        .unwrap();
    let mut child = spawn_run(&cfg, true);
    let addr = admin_addr(&mut child);
    // The file does not exist yet: it is waited for.
    std::fs::write(&input, lines[..10].join("\n") + "\n").unwrap();
    wait_read(&addr, &lines[..10]);
    // Appended lines, the last one written in two parts.
    let mut f = std::fs::OpenOptions::new().append(true).open(&input).unwrap();
    std::io::Write::write_all(&mut f, (lines[10..19].join("\n") + "\n" + &lines[19][..20]).as_bytes()).unwrap();
    wait_read(&addr, &lines[..19]);
    std::io::Write::write_all(&mut f, (lines[19][20..].to_string() + "\n").as_bytes()).unwrap();
    wait_read(&addr, &lines[..20]);
    // Rotation: the file is renamed away and a new one takes its name.
    std::fs::rename(&input, dir.path().join("events.jsonl.1")).unwrap();
    std::fs::write(&input, lines[20..30].join("\n") + "\n").unwrap();
    wait_read(&addr, &lines[..30]);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
}
