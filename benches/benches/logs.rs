//! Log lines to events: every log format's parser against the event-JSON decoder on the same requests.
//!
//! 1,000 lines per format, each a request of one of 100 services × 10 routes
//! (status 503 one line in 97), rendered as the format writes it: JSON logs with
//! 11 fields, logfmt with the same, nginx combined with `$request_time` and
//! `$upstream_response_time`, Apache combined with `%D`, syslog RFC 3164 and RFC
//! 5424. The baseline is the DESIGN.md event line saying the same, through the
//! same `LogParser::decode`, so each figure reads as a ratio to it. Figures are
//! lines per second; the events are decoded (series interned in a warm cache),
//! not recorded.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{Millis, SeriesRegistry};
use faultline_ingest::{FormatOptions, LogParser};

const LINES: usize = 1000;
/// 2026-11-20T18:00:00Z, the processing time (every line is at or before it).
const NOW: Millis = Millis(1_795_197_600_000);

struct Req {
    ts: Millis,
    service: String,
    route: String,
    id: usize,
    status: u16,
    latency_ms: f64,
}

fn requests() -> Vec<Req> {
    (0..LINES)
        .map(|n| Req {
            ts: Millis(NOW.0 - 60_000 + n as i64 * 37),
            service: format!("service-{:03}", n % 100),
            route: format!("/api/v1/route-{}", n % 10),
            id: 10_000 + n * 7,
            status: if n % 97 == 0 { 503 } else { 200 },
            latency_ms: 23.0 + (n % 50) as f64 * 0.7,
        })
        .collect()
}

fn time_local(t: Millis) -> String {
    let s = t.to_string();
    format!("{}/Nov/{}:{} +0000", &s[8..10], &s[0..4], &s[11..19])
}

fn lines(format: &str, reqs: &[Req]) -> Vec<String> {
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
    reqs.iter()
        .map(|r| match format {
            "event" => format!(
                r#"{{"ts":{},"service":"{}","kind":"request","operation":"{}","status":{},"latency_ms":{},"attrs":{{"region":"eu-west-1"}}}}"#,
                r.ts.0, r.service, r.route, r.status, r.latency_ms
            ),
            "json" => format!(
                r#"{{"time":"{}","level":"info","service":"{}","msg":"request completed","method":"GET","route":"{}","status":{},"duration_ms":{},"region":"eu-west-1","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","user_agent":"{ua}"}}"#,
                r.ts, r.service, r.route, r.status, r.latency_ms
            ),
            "logfmt" => format!(
                r#"time={} level=info service={} msg="request completed" method=GET route={} status={} duration_ms={} region=eu-west-1 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 user_agent="{ua}""#,
                r.ts, r.service, r.route, r.status, r.latency_ms
            ),
            "nginx" => format!(
                r#"203.0.113.9 - - [{}] "GET {}/{}?page=2 HTTP/1.1" {} 5123 "https://example.com/start" "{ua}" {:.3} {:.3}"#,
                time_local(r.ts),
                r.route,
                r.id,
                r.status,
                r.latency_ms / 1000.0,
                r.latency_ms / 1000.0 - 0.002
            ),
            "apache" => format!(
                r#"203.0.113.9 - frank [{}] "GET {}/{}?page=2 HTTP/1.1" {} 5123 "https://example.com/start" "{ua}" {}"#,
                time_local(r.ts),
                r.route,
                r.id,
                r.status,
                (r.latency_ms * 1000.0) as u64
            ),
            "syslog_3164" => format!(
                "<{}>Nov {} {} ip-10-0-3-17 {}[4242]: request completed route={} status={}",
                if r.status >= 500 { 131 } else { 134 },
                &r.ts.to_string()[8..10],
                &r.ts.to_string()[11..19],
                r.service,
                r.route,
                r.status
            ),
            _ => format!(
                "<{}>1 {} ip-10-0-3-17 {} 4242 - - request completed route={} status={}",
                if r.status >= 500 { 131 } else { 134 },
                r.ts,
                r.service,
                r.route,
                r.status
            ),
        })
        .collect()
}

fn parser(format: &str) -> LogParser {
    let format = match format {
        "syslog_3164" | "syslog_5424" => "syslog",
        f => f,
    };
    let service = matches!(format, "nginx" | "apache").then(|| "web".to_string());
    LogParser::from_options(&FormatOptions { format: format.into(), service, ..FormatOptions::default() })
        .expect("valid options")
}

fn bench(c: &mut Criterion) {
    let reqs = requests();
    let config = DecoderConfig { dims: vec!["region".into()], ..Default::default() };
    let mut g = c.benchmark_group("logs/1000_request_lines");
    g.throughput(Throughput::Elements(LINES as u64));
    for format in ["event", "json", "logfmt", "nginx", "apache", "syslog_3164", "syslog_5424"] {
        let input = lines(format, &reqs);
        let mut p = parser(format);
        let mut d = Decoder::new(Arc::new(SeriesRegistry::new(100_000)), config.clone());
        let mut out = Vec::with_capacity(2 * LINES);
        // Every line must decode, or the figure would measure the error path.
        for (i, line) in input.iter().enumerate() {
            p.decode(i as u64 + 1, line.as_bytes(), &mut d, Some(NOW), &mut out)
                .unwrap_or_else(|e| panic!("{format}: {e}\n{line}"));
        }
        let name = if format == "event" { "baseline_event_json".to_string() } else { format.to_string() };
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                for (i, line) in input.iter().enumerate() {
                    let _ = p.decode(i as u64 + 1, line.as_bytes(), &mut d, Some(NOW), &mut out);
                }
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
