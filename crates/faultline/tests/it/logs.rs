//! Log streams page like OTLP does: syslog over TCP (RFC 5424, octet counting) and UDP (RFC
//! 3164), from a scripted sender and from util-linux `logger`, and an nginx access log, each
//! with an error burst, through `faultline run`.
//!
//! Each plays six minutes of event time ending now, in order, then one line a minute later so
//! the watermark closes every window of the play.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, get, wait_exit};

/// Now, whole seconds, as epoch ms.
fn now_ms() -> i64 {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    s as i64 * 1000
}

/// `2026-12-07T01:30:00.250Z` of epoch ms.
fn rfc3339(ms: i64) -> String {
    faultline_core::Millis(ms).to_rfc3339()
}

/// (month name, day, hh:mm:ss, year) of epoch ms, UTC.
fn parts(ms: i64) -> (&'static str, u32, String, String) {
    let t = rfc3339(ms);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month: usize = t[5..7].parse().unwrap();
    (MONTHS[month - 1], t[8..10].parse().unwrap(), t[11..19].to_string(), t[0..4].to_string())
}

/// Starts `faultline run` on `config`; returns the child and every `marker` line's address, by marker.
fn start(config: &Path, markers: &[&str]) -> (Child, Vec<String>) {
    let mut child = Command::new(bin())
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut found: Vec<Option<String>> = vec![None; markers.len()];
    for line in lines.by_ref() {
        let line = line.unwrap();
        for (m, slot) in markers.iter().zip(found.iter_mut()) {
            if let Some(rest) = line.split(m).nth(1) {
                *slot = Some(rest.split([' ', '/']).next().unwrap().to_string());
            }
        }
        if found.iter().all(Option::is_some) {
            std::thread::spawn(move || for _ in lines {});
            return (child, found.into_iter().map(Option::unwrap).collect());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("faultline exited before printing {markers:?}");
}

/// Stops faultline as a service manager does and returns the incident events it wrote.
fn stop_and_read(mut child: Child, incidents: &Path) -> Vec<serde_json::Value> {
    std::thread::sleep(Duration::from_millis(500));
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(wait_exit(&mut child, Duration::from_secs(20)).success(), "faultline exited badly");
    let text = std::fs::read_to_string(incidents).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The incident opened for `service`, with the signals it names.
fn opened(events: &[serde_json::Value], service: &str) -> Vec<String> {
    let e = events
        .iter()
        .find(|e| e["action"] == "opened" && e["incident"]["service"] == service)
        .unwrap_or_else(|| panic!("no incident opened for {service}: {events:?}"));
    e["incident"]["signals"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

/// Whether the i-th of `total` events falls in the burst (55 % to 75 % of the play).
fn in_burst(i: i64, total: i64) -> bool {
    (total * 55 / 100..total * 75 / 100).contains(&i)
}

/// Metric value of the sample line starting with `name` (0 until there is one).
fn metric(admin: &str, name: &str) -> f64 {
    let (_, text) = get(admin, "/metrics");
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap_or_else(|_| panic!("not a number: {v}")))
}

#[test]
fn a_syslog_stream_with_an_error_burst_is_paged_over_tcp_and_udp() {
    let dir = tempfile::tempdir().unwrap();
    let incidents = dir.path().join("incidents.jsonl");
    let cfg = dir.path().join("syslog.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources.syslog]\ntype = \"syslog\"\nport = 0\n[admin]\nport = 0\n\
             [sinks.file]\ntype = \"file\"\npath = \"{}\"\n",
            incidents.display()
        ),
    )
    .unwrap();
    let (child, addrs) = start(&cfg, &["admin on http://", "TCP lines on ", "UDP datagrams on "]);
    let (admin, tcp, udp) = (&addrs[0], &addrs[1], &addrs[2]);
    // RFC 5424 over TCP, octet-counted as rsyslog sends it: 20 messages a second of `checkout`,
    // 40 % of them errors (severity 3) in the burst, the rest info (severity 6), facility local0.
    let end = now_ms();
    let total = 360 * 20;
    let mut frames = Vec::new();
    let mut rng = 7u64;
    for i in 0..total {
        let ts = end - 360_000 + i * 50;
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let error = in_burst(i, total) && (rng >> 33) % 10 < 4;
        let pri = 16 * 8 + if error { 3 } else { 6 };
        let text = if error { "payment provider timed out" } else { "order placed" };
        let msg = format!("<{pri}>1 {} web-3 checkout 4242 orders - {text}", rfc3339(ts));
        frames.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
    }
    let mut conn = TcpStream::connect(tcp).unwrap();
    conn.write_all(&frames).unwrap();
    drop(conn);
    let wait_accepted = |want: f64| {
        let mut accepted = 0.0;
        for _ in 0..200 {
            accepted = metric(admin, "faultline_source_events_accepted_total{source=\"syslog\"}");
            if accepted >= want {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let errors = get(admin, "/api/v1/ingest/errors").1;
        assert_eq!(accepted, want, "every message over both transports is an event: {errors}");
    };
    // Connections and the UDP socket are read side by side: each part is in before the next.
    wait_accepted(total as f64);
    // RFC 3164 over UDP (no year: it comes from the stream's time): a cron job's lines, now.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (mon, day, hms, _) = parts(end);
    for n in 0..5 {
        let line = format!("<78>{mon} {day:>2} {hms} web-3 cron[{n}]: (root) CMD (run-parts /etc/cron.hourly)");
        sock.send_to(line.as_bytes(), udp).unwrap();
    }
    wait_accepted((total + 5) as f64);
    // The real client: util-linux `logger`, RFC 3164 over UDP and RFC 5424 octet-counted over TCP.
    let port = |addr: &str| addr.rsplit(':').next().unwrap().to_string();
    for (transport, format) in [("--udp", "--rfc3164"), ("--tcp", "--rfc5424")] {
        let mut args = vec!["-n", "127.0.0.1", transport, format, "-t", "backup", "-p", "local0.info"];
        let p = port(if transport == "--udp" { udp } else { tcp });
        args.extend(["-P", &p]);
        if transport == "--tcp" {
            args.push("--octet-count");
        }
        for n in 0..3 {
            let out = Command::new("logger").args(&args).arg(format!("nightly backup step {n} done")).output();
            let out = out.expect("util-linux logger (scripts/test.sh installs bsdutils)");
            assert!(out.status.success(), "logger {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    wait_accepted((total + 5 + 6) as f64);
    // A minute later, over TCP with newline framing: every window of the play closes.
    let mut conn = TcpStream::connect(tcp).unwrap();
    writeln!(conn, "<134>1 {} web-3 clock - - - tick", rfc3339(end + 60_000)).unwrap();
    drop(conn);
    wait_accepted((total + 5 + 6 + 1) as f64);
    assert_eq!(metric(admin, "faultline_engine_late_events_total"), 0.0, "the 3164 lines got the stream's year");
    let events = stop_and_read(child, &incidents);
    let signals = opened(&events, "checkout");
    assert!(signals.iter().any(|s| s == "error_rate"), "{signals:?}");
    for quiet in ["cron", "backup"] {
        assert!(!events.iter().any(|e| e["incident"]["service"] == quiet), "no incident for {quiet}");
    }
}

#[test]
fn an_nginx_access_log_with_a_5xx_burst_is_paged() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let end = now_ms();
    let total = 360 * 20;
    let mut text = String::new();
    let mut rng = 11u64;
    for i in 0..=total {
        // The last line is the minute-later one that closes the play's windows.
        let ts = if i == total { end + 60_000 } else { end - 360_000 + i * 50 };
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let (mon, day, hms, year) = parts(ts);
        let (method, path) =
            if i % 4 == 0 { ("GET", "/health".to_string()) } else { ("POST", format!("/api/orders/{}", 10_000 + i)) };
        let status = if in_burst(i, total) && path.starts_with("/api") && (rng >> 33) % 10 < 4 { 502 } else { 200 };
        let rt = 0.012 + ((rng >> 40) % 20) as f64 / 1000.0;
        text.push_str(&format!(
            "203.0.113.{} - - [{day:02}/{mon}/{year}:{hms} +0000] \"{method} {path}?ref=mail HTTP/1.1\" {status} 512 \"-\" \"Mozilla/5.0\" {rt:.3} {:.3}\n",
            i % 250,
            rt - 0.002
        ));
    }
    std::fs::write(&log, &text).unwrap();
    let incidents = dir.path().join("incidents.jsonl");
    let cfg = dir.path().join("nginx.toml");
    std::fs::write(
        &cfg,
        format!(
            "[sources.web]\ntype = \"file\"\npath = \"{}\"\nfollow = true\nformat = \"nginx\"\nservice = \"shop-web\"\n\
             [admin]\nport = 0\n[sinks.file]\ntype = \"file\"\npath = \"{}\"\n",
            log.display(),
            incidents.display()
        ),
    )
    .unwrap();
    let (child, addrs) = start(&cfg, &["admin on http://"]);
    let admin = &addrs[0];
    let mut accepted = 0.0;
    for _ in 0..200 {
        accepted = metric(admin, "faultline_source_events_accepted_total{source=\"web\"}");
        if accepted >= (total + 1) as f64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(accepted, (total + 1) as f64, "every access log line is a request");
    let (_, errors) = get(admin, "/api/v1/ingest/errors");
    assert_eq!(errors, "{\"sources\":[]}", "no line rejected");
    let events = stop_and_read(child, &incidents);
    let signals = opened(&events, "shop-web");
    assert!(signals.iter().any(|s| s == "error_rate"), "{signals:?}");
    let opened = events.iter().find(|e| e["action"] == "opened").unwrap();
    let text = opened.to_string();
    assert!(text.contains("POST /api/orders/:id"), "the ids fold into one operation: {text}");
}
