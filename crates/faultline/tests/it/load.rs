//! More input than the engine can take: bounded queues, a source held back, nothing dropped, memory flat.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::harness::{admin_addr, get, spawn_run, wait_exit};

const N_LINES: usize = 400_000;
const QUEUE_BATCHES: usize = 2;

/// `name{labels} value` samples of a Prometheus text page.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter_map(|(k, v)| v.parse().ok().map(|v| (k.to_string(), v)))
        .collect()
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_flood_is_held_back_at_the_source_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("flood.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for i in 0..N_LINES {
        let ts = 1_795_132_800_000 + (i as i64) * 5;
        writeln!(
            f,
            r#"{{"ts":{ts},"service":"svc-{}","operation":"op-{}","kind":"request","status":200,"latency_ms":{}.5}}"#,
            i % 10,
            i % 20,
            i % 300
        )
        .unwrap();
    }
    f.flush().unwrap();
    let input_bytes = std::fs::metadata(&input).unwrap().len();
    let cfg = dir.path().join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[sources.flood]
type = "file"
path = "{input}"
follow = true
[runtime]
shards = 2
queue_batches = {QUEUE_BATCHES}
batch_events = 256
[state]
directory = "{state}"
checkpoint_interval = "200ms"
# What the source and engine hold is measured here; the SQL tables have their own bound (retention_rows).
[sql]
enabled = false
[sinks.console]
type = "file"
path = "{out}"
"#,
            input = input.display(),
            state = dir.path().join("state").display(),
            out = dir.path().join("incidents.jsonl").display(),
        ),
    )
    .unwrap();
    let mut child = spawn_run(&cfg, true);
    let pid = child.id();
    let addr = admin_addr(&mut child);
    let started = Instant::now();
    let (mut peak_rss, mut max_depth, mut max_shard_depth) = (0u64, 0f64, 0f64);
    let mut last = BTreeMap::new();
    while started.elapsed() < Duration::from_secs(120) {
        peak_rss = peak_rss.max(rss_kb(pid));
        let m = samples(&get(&addr, "/metrics").1);
        max_depth = max_depth.max(m.get("faultline_queue_depth{queue=\"source_to_engine\"}").copied().unwrap_or(0.0));
        for (k, v) in &m {
            if k.starts_with("faultline_shard_queue_depth{") {
                max_shard_depth = max_shard_depth.max(*v);
            }
        }
        let accepted = m.get("faultline_source_events_accepted_total{source=\"flood\"}").copied().unwrap_or(0.0);
        // Gauges are published once per engine loop turn: wait for the bytes to catch up too.
        let bytes = m.get("faultline_source_read_bytes_total{source=\"flood\"}").copied().unwrap_or(0.0);
        let routed: f64 =
            m.iter().filter(|(k, _)| k.starts_with("faultline_shard_events_total{")).map(|(_, v)| v).sum();
        let checkpoints = m.get("faultline_checkpoints_total").copied().unwrap_or(0.0);
        last = m;
        if accepted >= N_LINES as f64 && bytes >= input_bytes as f64 && routed >= N_LINES as f64 && checkpoints > 0.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let get = |k: &str| last.get(k).copied().unwrap_or(f64::NAN);
    assert_eq!(
        get("faultline_source_events_accepted_total{source=\"flood\"}"),
        N_LINES as f64,
        "every line taken: {last:?}"
    );
    assert_eq!(get("faultline_source_read_bytes_total{source=\"flood\"}"), input_bytes as f64);
    // A source may hold one batch more than the queue while it waits to push it.
    assert!(max_depth <= (QUEUE_BATCHES + 1) as f64, "source queue depth {max_depth}");
    assert!(max_shard_depth <= 8.0, "a shard's queue is bounded: {max_shard_depth}");
    assert!(get("faultline_source_backpressure_seconds_total{source=\"flood\"}") > 0.0, "the source was held back");
    let routed = get("faultline_shard_events_total{shard=\"0\"}") + get("faultline_shard_events_total{shard=\"1\"}");
    assert_eq!(routed, N_LINES as f64, "both shards took their share");
    assert!(get("faultline_shard_events_total{shard=\"1\"}") > 0.0);
    assert!(get("faultline_checkpoints_total") > 0.0 && get("faultline_checkpoint_size_bytes") > 0.0, "{last:?}");
    assert!(get("faultline_checkpoint_duration_seconds") > 0.0 && get("faultline_checkpoint_stall_seconds") > 0.0);
    assert!(get("faultline_partition_watermark_lag_seconds{partition=\"flood\"}").is_finite());
    // Not read ahead into memory: the whole file is several times what the process holds.
    let input_kb = input_bytes / 1024;
    eprintln!(
        "peak RSS {peak_rss} kB, input {input_kb} kB, depth {max_depth}, shard depth {max_shard_depth}, took {:?}",
        started.elapsed()
    );
    assert!(peak_rss * 2 < input_kb + 64 * 1024, "peak RSS {peak_rss} kB for a {input_kb} kB input");
    let pid = pid.to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success());
}
