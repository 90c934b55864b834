//! Delivery end to end: `faultline run` pages the strict local PagerDuty and a signed webhook
//! through the outbox, through receiver faults and a SIGKILL, and fast.
//!
//! The input is the simulator's gateway outage (deterministic): one incident that opens at P1,
//! escalates to P0 and resolves; `faultline replay` of the same file says which incident events
//! the run emits, so which PagerDuty actions must arrive.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline_sinks::fake::{FakePagerDuty, Fault, Seen};

use crate::harness::{bin, wait_exit};

const KEY: &str = "FAULTL1NETESTR0UT1NGKEY000000001";

/// The gateway outage's events, written once per test directory.
fn outage(dir: &Path) -> PathBuf {
    let path = dir.join("events.jsonl");
    let out = Command::new(bin())
        .args(["simulate", "--scenario", "gateway-outage", "--seed", "3", "--out"])
        .arg(&path)
        .arg("--truth")
        .arg(dir.join("truth.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

/// The incident events `faultline replay` emits for `input` under the same config as the run.
fn replayed(cfg: &Path, input: &Path) -> String {
    let out = Command::new(bin())
        .args(["replay", "--quiet", "--config"])
        .arg(cfg)
        .arg("--input")
        .arg(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The PagerDuty (dedup key, action) pairs the run must deliver, from replay's incident events
/// under the run's config: a trigger on open and on each escalation, a resolve at the end.
fn expected(cfg: &Path, input: &Path) -> Vec<(String, String)> {
    let text = replayed(cfg, input);
    let mut sent: std::collections::HashMap<String, u8> = Default::default();
    let mut want = Vec::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let key = v["incident"]["dedup_key"].as_str().unwrap().to_string();
        let rank = v["incident"]["severity"].as_str().unwrap()[1..].parse::<u8>().unwrap();
        match v["action"].as_str().unwrap() {
            "resolved" => {
                sent.remove(&key);
                want.push((key, "resolve".to_string()));
            }
            _ if sent.get(&key).is_none_or(|r| rank < *r) => {
                sent.insert(key.clone(), rank);
                want.push((key, "trigger".to_string()));
            }
            _ => {}
        }
    }
    assert!(
        want.len() >= 3 && want.last().unwrap().1 == "resolve",
        "an incident that escalates and resolves: {want:?}"
    );
    want
}

fn config(dir: &Path, input: &Path, follow: bool) -> PathBuf {
    let cfg = dir.join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources.app]\ntype = \"file\"\npath = \"{}\"\nfollow = {follow}\n[admin]\nport = 0\n\
             [state]\ndirectory = \"{}\"\ncheckpoint_interval = \"1s\"\n\
             [sinks.pagerduty]\ntype = \"pagerduty\"\ntimeout = \"2s\"\nrate_per_minute = 6000\n",
            input.display(),
            dir.join("state").display()
        ),
    )
    .unwrap();
    cfg
}

fn run(cfg: &Path, pd: &FakePagerDuty) -> Child {
    Command::new(bin())
        .args(["run", "--config"])
        .arg(cfg)
        .env("PAGERDUTY_ROUTING_KEY", KEY)
        .env("PAGERDUTY_EVENTS_URL", pd.url())
        .env("HOOK_SECRET", "hook-secret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn fake(rt: &tokio::runtime::Runtime, seen: Arc<Mutex<Seen>>) -> FakePagerDuty {
    rt.block_on(FakePagerDuty::start("127.0.0.1:0".parse().unwrap(), &[KEY], seen)).unwrap().0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

#[test]
fn through_500s_and_429s_every_page_and_resolve_arrives_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = outage(dir.path());
    let cfg = config(dir.path(), &input, false);
    let want = expected(&cfg, &input);
    let rt = runtime();
    let seen = Arc::new(Mutex::new(Seen::default()));
    seen.lock().unwrap().faults.extend([Fault::ServerError, Fault::TooMany(1), Fault::ServerError]);
    let pd = fake(&rt, seen.clone());
    let mut child = run(&cfg, &pd);
    assert!(wait_exit(&mut child, Duration::from_secs(120)).success());
    assert_eq!(pd.actions(), want, "each (dedup key, action) once, in order");
    let s = seen.lock().unwrap();
    assert_eq!(s.faulted, 3);
    assert!(s.invalid.is_empty(), "{:?}", s.invalid);
    let trigger = &s.accepted[0];
    assert_eq!(trigger["payload"]["severity"], "error", "P1 opens as error");
    assert_eq!(s.accepted[1]["payload"]["severity"], "critical", "the escalation to P0 is critical");
    assert!(trigger["payload"]["summary"].as_str().unwrap().contains("payments-api"));
}

#[test]
fn after_a_sigkill_mid_delivery_every_event_arrives_in_order_repeating_at_most_the_one_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let input = outage(dir.path());
    let plain = config(dir.path(), &input, false);
    let want = expected(&plain, &input);
    let every = all_events(&plain, &input);
    let rt = runtime();
    let seen = Arc::new(Mutex::new(Seen::default()));
    // A slow PagerDuty: the kill lands while a request is in flight.
    seen.lock().unwrap().delay = Some(Duration::from_millis(700));
    let pd = fake(&rt, seen.clone());
    // And a signed webhook beside it, slow too, that verifies every request.
    let hook: Hooked = Arc::new(Mutex::new((Vec::new(), 0)));
    let url = rt.block_on(webhook(hook.clone(), Duration::from_millis(400)));
    let with_hook = |follow: bool| {
        let cfg = config(dir.path(), &input, follow);
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str(&format!("[sinks.hook]\ntype = \"webhook\"\nurl = \"{url}\"\nsecret_env = \"HOOK_SECRET\"\n"));
        std::fs::write(&cfg, text).unwrap();
        cfg
    };
    let mut child = run(&with_hook(true), &pd);
    let start = Instant::now();
    while pd.actions().is_empty() && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pd.actions().is_empty(), "the first page arrived");
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    seen.lock().unwrap().delay = None;
    // Restarted: resumes from the checkpoint and the outbox, then reads to the end and exits.
    let mut child = run(&with_hook(false), &pd);
    assert!(wait_exit(&mut child, Duration::from_secs(120)).success());
    // Exactly the expected sequence, or it with one event repeated right after itself (the
    // request in flight at the kill, answered by the receiver but not yet marked delivered).
    let at_most_one_repeat = |got: &Vec<(String, String)>, want: &Vec<(String, String)>| {
        got == want
            || (1..got.len()).any(|k| {
                let mut without = got.clone();
                without.remove(k);
                got[k] == got[k - 1] && without == *want
            })
    };
    let got = pd.actions();
    assert!(
        at_most_one_repeat(&got, &want),
        "every (dedup key, action) in order, at most the one in flight again: {got:?}"
    );
    assert_eq!(got.last().unwrap().1, "resolve", "the incident ends resolved");
    // The webhook gets every incident event, each signed, in order, at most the one in flight again.
    let (hooked, bad) = hook.lock().unwrap().clone();
    assert_eq!(bad, 0, "every signature verified");
    assert!(at_most_one_repeat(&hooked, &every), "webhook: {hooked:?}, want {every:?}");
}

/// Every incident event replay emits for `input` under `cfg`, as (dedup key, action).
fn all_events(cfg: &Path, input: &Path) -> Vec<(String, String)> {
    replayed(cfg, input)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["incident"]["dedup_key"].as_str().unwrap().to_string(), v["action"].as_str().unwrap().to_string())
        })
        .collect()
}

/// What the test webhook recorded: (dedup key, action) in arrival order, and bad signatures.
type Hooked = Arc<Mutex<(Vec<(String, String)>, u32)>>;

/// A webhook receiver that checks each signature (secret `hook-secret`) after `delay`, and
/// records the (dedup key, action) of each event; the number of bad signatures beside them.
async fn webhook(got: Hooked, delay: Duration) -> String {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let got = got.clone();
            async move {
                tokio::time::sleep(delay).await;
                let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let ts: u64 = h("x-faultline-timestamp").parse().unwrap_or(0);
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                let mut g = got.lock().unwrap();
                if !faultline_sinks::webhook::verify(b"hook-secret", &h("x-faultline-signature"), ts, &body, now, 300) {
                    g.1 += 1;
                    return StatusCode::UNAUTHORIZED;
                }
                let event = h("x-faultline-event");
                let (key, action) = event.rsplit_once(' ').unwrap();
                g.0.push((key.to_string(), action.to_string()));
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[test]
fn a_page_arrives_within_a_second_of_the_window_that_shows_the_outage() {
    // The history first, followed; then the outage's lines up to the window that opens the
    // incident, then one line past it so that window closes: time from that write to the page.
    let dir = tempfile::tempdir().unwrap();
    let input = outage(dir.path());
    let text = std::fs::read_to_string(&input).unwrap();
    let detect_window_end = {
        let text = replayed(&config(dir.path(), &input, true), &input);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        faultline_core::Millis::parse_rfc3339(first["incident"]["detected_at"].as_str().unwrap()).unwrap().0
    };
    let ts = |line: &str| -> i64 {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["ts"].as_i64().unwrap_or_else(|| faultline_core::Millis::parse_rfc3339(v["ts"].as_str().unwrap()).unwrap().0)
    };
    // Everything before the detecting window's end plus the watermark's 2 s, then the rest.
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines.iter().position(|l| ts(l) >= detect_window_end + 2_000).unwrap();
    let live = dir.path().join("live.jsonl");
    std::fs::write(&live, lines[..cut].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let rt = runtime();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let pd = fake(&rt, seen.clone());
    let mut child = run(&config(dir.path(), &live, true), &pd);
    std::thread::sleep(Duration::from_secs(3));
    assert!(pd.actions().is_empty(), "no page before the outage's window closes");
    let mut f = std::fs::OpenOptions::new().append(true).open(&live).unwrap();
    let written = Instant::now();
    writeln!(f, "{}", lines[cut]).unwrap();
    f.flush().unwrap();
    let start = Instant::now();
    while pd.actions().is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let arrived = seen.lock().unwrap().arrived.first().copied().expect("the page arrived");
    let took = arrived.duration_since(written);
    eprintln!("time to page: {took:?} (window closed by a line written to a followed file, to PagerDuty's 202)");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(took < Duration::from_secs(1), "time to page {took:?}");
}

#[test]
fn replay_with_sinks_delivers_a_recording_once_however_often_it_is_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let input = outage(dir.path());
    let cfg = config(dir.path(), &input, false);
    let want = expected(&cfg, &input);
    let rt = runtime();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let pd = fake(&rt, seen.clone());
    let replay = || {
        let out = Command::new(bin())
            .args(["replay", "--with-sinks", "--config"])
            .arg(&cfg)
            .arg("--input")
            .arg(&input)
            .env("PAGERDUTY_ROUTING_KEY", KEY)
            .env("PAGERDUTY_EVENTS_URL", pd.url())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let (printed, said) = replay();
    assert!(printed.lines().count() >= want.len(), "replay still prints the events");
    assert_eq!(pd.actions(), want, "{said}");
    assert!(said.contains("sink pagerduty: "), "{said}");
    let (_, said) = replay();
    assert_eq!(pd.actions(), want, "the second replay's events are already in the outbox: {said}");
    assert!(said.contains("0 incident events into the outbox"), "{said}");
}

#[test]
fn the_shipped_payments_pipeline_pages_pagerduty_once_per_incident_and_resolves_it() {
    // pipelines/payments.toml as shipped, its input, state and admin moved into the test's directory.
    let dir = tempfile::tempdir().unwrap();
    let input = outage(dir.path());
    let shipped = std::fs::read_to_string(crate::harness::repo("pipelines/payments.toml")).unwrap();
    let edit = |text: &str, from: &str, to: &str| {
        assert!(text.contains(from), "pipelines/payments.toml no longer has `{from}`");
        text.replace(from, to)
    };
    let state = dir.path().join("state");
    let c = edit(&shipped, "path = \"/var/log/payments/events.jsonl\"", &format!("path = \"{}\"", input.display()));
    let c = edit(&c, "follow = true", "follow = false");
    let c = edit(&c, "directory = \"/var/lib/faultline\"", &format!("directory = \"{}\"", state.display()));
    let c = edit(
        &c,
        "path = \"/var/lib/faultline/incidents.jsonl\"",
        &format!("path = \"{}\"", dir.path().join("incidents.jsonl").display()),
    );
    let c = edit(&c, "port = 7070", "port = 0");
    let c = edit(&c, "bind = \"0.0.0.0\"", "bind = \"127.0.0.1\"");
    let cfg = dir.path().join("payments.toml");
    std::fs::write(&cfg, c).unwrap();
    let rt = runtime();
    let seen = Arc::new(Mutex::new(Seen::default()));
    seen.lock().unwrap().faults.extend([Fault::ServerError, Fault::TooMany(1)]);
    let pd = fake(&rt, seen.clone());
    let mut child = run(&cfg, &pd);
    assert!(wait_exit(&mut child, Duration::from_secs(120)).success());
    // What the same pipeline emits, from its own incident file.
    let text = std::fs::read_to_string(dir.path().join("incidents.jsonl")).unwrap();
    let keys: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["incident"]["dedup_key"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(!keys.is_empty(), "the outage opened an incident");
    let got = pd.actions();
    for key in &keys {
        let mine: Vec<&str> = got.iter().filter(|(k, _)| k == key).map(|(_, a)| a.as_str()).collect();
        assert_eq!(mine.first(), Some(&"trigger"), "{key}: paged first: {got:?}");
        assert_eq!(mine.iter().filter(|a| **a == "resolve").count(), 1, "{key}: resolved once: {got:?}");
        assert_eq!(mine.last(), Some(&"resolve"), "{key}: the resolve comes last: {got:?}");
    }
    assert!(seen.lock().unwrap().invalid.is_empty());
}
