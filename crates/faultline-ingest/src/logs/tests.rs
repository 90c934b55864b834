//! Tests across the log formats: the shared harness, option checks, error snapshots, fuzzing and equivalence properties.

use std::sync::Arc;

use faultline_core::event::EventBody;
use faultline_core::wire::DecoderConfig;
use faultline_core::{DurationMs, SeriesRegistry};
use proptest::prelude::*;

use super::*;

/// 2026-11-20T18:00:00Z, the processing time of every test line.
pub(super) const NOW: Millis = Millis(1_795_197_600_000);

/// A parser and a decoder (dimension `region`, a one-hour future horizon).
#[derive(Debug)]
pub(super) struct Harness {
    pub(super) parser: LogParser,
    pub(super) decoder: Decoder,
    record: u64,
}

impl Harness {
    /// The parser `options` describe, with dimensions `dims`.
    pub(super) fn new(options: &FormatOptions, dims: &[&str]) -> Harness {
        let parser = LogParser::from_options(options).expect("valid options");
        let config = DecoderConfig {
            dims: dims.iter().map(|d| d.to_string()).collect(),
            count_4xx_as_errors: false,
            future_horizon: Some(DurationMs::from_secs(3600)),
        };
        Harness { parser, decoder: Decoder::new(Arc::new(SeriesRegistry::new(10_000)), config), record: 0 }
    }

    /// A parser of `format` with `service = "shop"` and dimension `region`.
    pub(super) fn of(format: &str) -> Harness {
        Harness::new(&options(format), &["region"])
    }

    /// The line's events rendered one per `|`, or its error with the reason.
    pub(super) fn line(&mut self, line: &str) -> String {
        self.bytes(line.as_bytes(), Some(NOW))
    }

    /// As [`Harness::line`], for raw bytes and any processing time.
    pub(super) fn bytes(&mut self, line: &[u8], now: Option<Millis>) -> String {
        self.record += 1;
        let mut out = Vec::new();
        match self.parser.decode(self.record, line, &mut self.decoder, now, &mut out) {
            Ok(()) => render(self.decoder.registry(), &out),
            Err(e) => format!("error: {e}"),
        }
    }
}

/// The options of `format` with `service = "shop"`.
pub(super) fn options(format: &str) -> FormatOptions {
    FormatOptions { format: format.into(), service: Some("shop".into()), ..FormatOptions::default() }
}

/// `kind service "name" [dims] time body` per event, joined by ` | `.
pub(super) fn render(registry: &SeriesRegistry, events: &[Event]) -> String {
    let one = |e: &Event| {
        let key = registry.key(e.series);
        let body = match &e.body {
            EventBody::Request(r) => format!(
                "{} {}",
                r.latency_us.map_or("-".to_string(), |us| format!("{us}us")),
                if r.is_error { "error" } else { "ok" }
            ),
            EventBody::Transaction(t) => format!("{:?} {}", t.outcome, t.amount_minor),
            EventBody::Change(c) => format!("{:?} id={:?} text={:?}", c.kind, c.id, c.text),
            other => format!("{other:?}"),
        };
        let dims = key.dims.iter().map(|d| &**d).collect::<Vec<_>>().join(",");
        format!("{:?} {} {:?} [{dims}] {} {body}", key.kind, key.service, key.name, e.ts)
    };
    events.iter().map(one).collect::<Vec<_>>().join(" | ")
}

#[test]
fn options_are_checked_with_the_key_at_fault() {
    let bad = |o: FormatOptions| LineFormat::from_options(&o).expect_err("invalid").to_string();
    let with = |format: &str, f: &dyn Fn(&mut FormatOptions)| {
        let mut o = options(format);
        f(&mut o);
        o
    };
    assert_eq!(bad(options("csv")), "format: unknown format `csv` (known: event, json, logfmt, nginx, apache, syslog)");
    assert_eq!(
        bad(with("json", &|o| o.latency_unit = Some("min".into()))),
        "latency_unit: unknown unit `min` (known: s, ms, us, ns)"
    );
    assert_eq!(
        bad(with("json", &|o| o.fields.insert("route".into(), vec!["path".into()]).map_or((), |_| ()))),
        "fields.route: unknown event field `route` (known: ts, service, kind, operation, status, latency, error, \
         level, peer, outcome, amount, change, change_id, text)"
    );
    assert_eq!(
        bad(with("logfmt", &|o| o.message_format = Some("json".into()))),
        "message_format: only syslog has a message format, not logfmt"
    );
    assert_eq!(
        bad(with("nginx", &|o| o.service = None)),
        "service: an access log names no service; set the service of its lines"
    );
    assert_eq!(
        bad(with("apache", &|o| o.fields.insert("ts".into(), vec![]).map_or((), |_| ()))),
        "fields: an access log has fixed fields; `fields` is for json and logfmt"
    );
    assert_eq!(
        bad(with("syslog", &|o| o.message_format = Some("cef".into()))),
        "message_format: unknown message format `cef` (known: json, logfmt, nginx, apache)"
    );
    assert_eq!(
        bad(with("syslog", &|o| o.latency_unit = Some("s".into()))),
        "latency_unit: syslog without a message format reads no latency"
    );
    assert_eq!(
        bad(with("event", &|o| o.latency_unit = Some("s".into()))),
        "latency_unit: the event format has its own field names; this key is for mapped formats"
    );
    let ok = |o: FormatOptions| LineFormat::from_options(&o).expect("valid");
    assert_eq!(ok(options("nginx")), LineFormat::Nginx { latency_unit: LatencyUnit::Seconds });
    assert_eq!(ok(options("apache")), LineFormat::Apache { latency_unit: LatencyUnit::Micros });
    assert_eq!(
        ok(with("apache", &|o| o.latency_unit = Some("s".into()))),
        LineFormat::Apache { latency_unit: LatencyUnit::Seconds }
    );
    let syslog_nginx = with("syslog", &|o| {
        o.service = None;
        o.message_format = Some("nginx".into());
    });
    assert_eq!(
        ok(syslog_nginx),
        LineFormat::Syslog { message_format: Some(Box::new(LineFormat::Nginx { latency_unit: LatencyUnit::Seconds })) }
    );
    assert_eq!(ok(FormatOptions::default()), LineFormat::Event);
}

#[test]
fn the_stream_time_is_the_latest_event_time() {
    let mut h = Harness::of("logfmt");
    assert_eq!(h.parser.stream_time(), None);
    h.line("ts=1795197600500 msg=a");
    h.line("ts=1795197600100 msg=b");
    h.line("ts=oops msg=c");
    assert_eq!(h.parser.stream_time(), Some(Millis(1_795_197_600_500)));
}

/// The error messages people read, one per rejection path, as a snapshot.
#[test]
fn error_messages() {
    let mut cases = Vec::new();
    for (format, line) in [
        ("json", r#"{"ts":1795197600000,"status":"teapot"}"#),
        ("json", r#"{"ts":1795197600000, "service": }"#),
        ("json", r#"["not", "an", "object"]"#),
        ("logfmt", r#"ts=1795197600000 msg="never closed"#),
        ("logfmt", "just some words"),
        ("nginx", r#"203.0.113.9 - - 20/Nov/2026:18:00:00 +0000 "GET / HTTP/1.1" 200 5"#),
        ("nginx", r#"203.0.113.9 - - [20/Nov/2026:25:00:00 +0000] "GET / HTTP/1.1" 200 5"#),
        ("nginx", r#"203.0.113.9 - - [20/Nov/2026:18:00:00 +0000] "GET / HTTP/1.1" OK 5"#),
        ("nginx", r#"203.0.113.9 - - [20/Nov/2026:18:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "ua" rt=fast"#),
        ("apache", r#"203.0.113.9 - - [20/Nov/2026:18:00:00 +0000] "GET / HTTP/1.1 200 5"#),
        ("syslog", "this is no syslog message"),
    ] {
        let mut h = Harness::of(format);
        cases.push(format!("{format:7} {line}\n        => {}", h.line(line)));
    }
    insta::assert_snapshot!(cases.join("\n"));
}

/// The reasons a line of any format may be rejected for; anything else (or a panic) is a bug.
fn known_reason(e: &ParseError) -> bool {
    use RejectReason::*;
    matches!(
        e.reason,
        InvalidJson
            | MissingField
            | InvalidField
            | UnknownKind
            | NotFinite
            | Negative
            | InvalidTimestamp
            | BeforeEpoch
            | TooFarInFuture
            | Unparsed
    ) && !e.detail.is_empty()
}

fn fuzz(format: &str, line: &[u8]) -> Result<(), TestCaseError> {
    let mut opts = options(format);
    if format == "syslog" {
        opts.message_format = None;
    }
    let mut h = Harness::new(&opts, &["region", "cloud.region"]);
    let mut out = Vec::new();
    match h.parser.decode(1, line, &mut h.decoder, Some(NOW), &mut out) {
        Ok(()) => prop_assert!(!out.is_empty()),
        Err(e) => prop_assert!(known_reason(&e), "{e:?}"),
    }
    Ok(())
}

/// Text from the alphabet of the formats, so fuzzing reaches past the first check.
fn format_text() -> impl Strategy<Value = String> {
    prop_oneof![
        r#"[\{\}\[\]":,0-9a-z.\\ -]{0,80}"#,
        r#"[<>0-9A-Za-z :\[\]"=./+-]{0,120}"#,
        r#"[0-9.]{1,15} - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} [+-][0-9]{4}\] "[A-Z]{0,4} [/a-z0-9?]{0,12} HTTP/1.1" [0-9]{3} [0-9-]{1,4}( "[^"]{0,5}"){0,2}( [0-9.,:=a-z -]{0,12}){0,3}"#,
        r#"<[0-9]{1,3}>(1 )?[A-Z][a-z]{2} [ 0-9]{2} [0-9:]{8} [a-z]{0,6} [a-z]{0,6}(\[[0-9]{1,3}\])?: [ -~]{0,30}"#,
        r#"(([a-z_.@]{1,10})=("[^"]{0,8}"|[0-9a-zA-Z.:-]{0,12}) ?){0,8}"#,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(line in prop::collection::vec(any::<u8>(), 0..300)) {
        for format in ["json", "logfmt", "nginx", "apache", "syslog"] {
            fuzz(format, &line)?;
        }
    }

    #[test]
    fn format_like_text_never_panics(line in format_text()) {
        for format in ["json", "logfmt", "nginx", "apache", "syslog"] {
            fuzz(format, line.as_bytes())?;
        }
    }

    #[test]
    fn syslog_messages_of_every_format_never_panic(
        header in r#"<[0-9]{1,3}>(1 2026-11-20T18:00:00Z h a - - - |Nov 20 18:00:00 h a: )"#,
        body in format_text(),
        inner in prop::sample::select(vec!["json", "logfmt", "nginx", "apache"]),
    ) {
        let mut opts = options("syslog");
        opts.message_format = Some(inner.to_string());
        let mut h = Harness::new(&opts, &["region"]);
        let mut out = Vec::new();
        if let Err(e) = h.parser.decode(1, format!("{header}{body}").as_bytes(), &mut h.decoder, Some(NOW), &mut out) {
            prop_assert!(known_reason(&e), "{e:?}");
        }
    }
}

/// A request as a generator makes it: what every format can say.
#[derive(Debug, Clone)]
struct Req {
    ts: Millis,
    service: String,
    words: (String, u32),
    status: i64,
    latency_ms: u32,
    error_level: bool,
    region: Option<String>,
    rfc3339: bool,
    nested: bool,
    quoted: bool,
}

fn req() -> impl Strategy<Value = Req> {
    (
        (0i64..3_000_000).prop_map(|s| Millis(NOW.0 - s * 1000)),
        "[a-z][a-z-]{0,9}",
        ("[a-z]{1,7}", 0u32..100_000),
        prop::sample::select(vec![200i64, 201, 204, 301, 404, 429, 499, 500, 502, 503]),
        0u32..60_000,
        any::<bool>(),
        prop::option::of("[a-z]{2}-[a-z]{4}-[0-9]"),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(|(ts, service, words, status, latency_ms, error_level, region, (rfc3339, nested, quoted))| Req {
            ts,
            service,
            words,
            status,
            latency_ms,
            error_level,
            region,
            rfc3339,
            nested,
            quoted,
        })
}

impl Req {
    /// The DESIGN.md event line saying the same.
    fn event_line(&self, operation: &str, latency_ms: f64, error: bool) -> String {
        let attrs = self.region.as_ref().map_or(String::new(), |r| format!(r#","attrs":{{"region":"{r}"}}"#));
        format!(
            r#"{{"ts":{},"service":"{}","kind":"request","operation":"{operation}","status":{},"latency_ms":{latency_ms},"error":{error}{attrs}}}"#,
            self.ts.0, self.service, self.status
        )
    }

    fn route(&self) -> String {
        format!("/api/{}", self.words.0)
    }

    fn level(&self) -> &'static str {
        if self.error_level { "error" } else { "info" }
    }

    fn json_line(&self) -> String {
        let ts = if self.rfc3339 { format!("\"{}\"", self.ts) } else { self.ts.0.to_string() };
        let region = self.region.as_ref().map_or(String::new(), |r| format!(r#","region":"{r}""#));
        let latency = f64::from(self.latency_ms) / 8.0;
        if self.nested {
            format!(
                r#"{{"level":"{}","ts":{ts},"service":{{"name":"{}"}},"http":{{"route":"{}","response":{{"status_code":{}}}}},"duration_ms":{latency}{region},"msg":"served \"it\""}}"#,
                self.level(),
                self.service,
                self.route(),
                self.status
            )
        } else {
            format!(
                r#"{{"msg":"served","level":"{}","time":{ts},"service":"{}","route":"{}","status":{},"latency_ms":{latency}{region},"ctx":{{"a":[1,{{"b":null}}]}}}}"#,
                self.level(),
                self.service,
                self.route(),
                self.status
            )
        }
    }

    fn logfmt_line(&self) -> String {
        let ts = if self.rfc3339 { self.ts.to_string() } else { self.ts.0.to_string() };
        let region = self.region.as_ref().map_or(String::new(), |r| format!(" region={r}"));
        let route = if self.quoted { format!("\"{}\"", self.route()) } else { self.route() };
        let latency = f64::from(self.latency_ms) / 8.0;
        format!(
            r#"ts={ts} level={} service={} route={route} status={} latency_ms={latency}{region} msg="served \"it\"""#,
            self.level(),
            self.service,
            self.status
        )
    }

    fn nginx_line(&self) -> String {
        let secs = self.ts.0.div_euclid(1000) * 1000;
        let t = Millis(secs).to_string();
        // 2026-11-20T18:00:00.000Z → 20/Nov/2026:18:00:00 +0000
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        let month = months[t[5..7].parse::<usize>().expect("month") - 1];
        let time_local = format!("{}/{month}/{}:{} +0000", &t[8..10], &t[0..4], &t[11..19]);
        let region = self.region.as_ref().map_or(String::new(), |r| format!(" region={r}"));
        let rt = f64::from(self.latency_ms) / 1000.0;
        let trailer = if self.quoted {
            format!(r#"rt={rt:.3} urt="0.001, 0.002"{region}"#)
        } else {
            format!("{rt:.3} 0.001, 0.002{region}")
        };
        format!(
            r#"203.0.113.9 - - [{time_local}] "GET {}/{}?page=2 HTTP/1.1" {} 512 "-" "Mozilla/5.0 (X11)" {trailer}"#,
            self.route(),
            self.words.1,
            self.status
        )
    }
}

fn decode_one(format: &str, line: &str) -> String {
    let mut opts = options(format);
    opts.service = None;
    if format == "nginx" {
        opts.service = Some("placeholder".into());
    }
    let mut h = Harness::new(&opts, &["region"]);
    h.line(line)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A JSON log line and the event line saying the same make the same events.
    #[test]
    fn json_logs_equal_event_lines(r in req()) {
        let latency = f64::from(r.latency_ms) / 8.0;
        let want = decode_one("event", &r.event_line(&r.route(), latency, r.error_level));
        prop_assert!(!want.starts_with("error"), "{want}");
        prop_assert_eq!(decode_one("json", &r.json_line()), want);
    }

    /// A logfmt line and the event line saying the same make the same events.
    #[test]
    fn logfmt_lines_equal_event_lines(r in req()) {
        let latency = f64::from(r.latency_ms) / 8.0;
        let want = decode_one("event", &r.event_line(&r.route(), latency, r.error_level));
        prop_assert_eq!(decode_one("logfmt", &r.logfmt_line()), want);
    }

    /// An nginx line and the event line saying the same make the same events
    /// (the id in the path normalised away, the time to the second).
    #[test]
    fn nginx_lines_equal_event_lines(mut r in req()) {
        r.service = "placeholder".into();
        let line = r.nginx_line();
        r.ts = Millis(r.ts.0.div_euclid(1000) * 1000);
        let operation = format!("GET {}/:id", r.route());
        let want = decode_one("event", &r.event_line(&operation, f64::from(r.latency_ms), false));
        prop_assert_eq!(decode_one("nginx", &line), want);
    }
}
