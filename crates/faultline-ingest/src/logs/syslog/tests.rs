//! Tests of the syslog format: RFC 3164 years, RFC 5424, services, severities and message formats.

use faultline_core::Millis;

use crate::logs::FormatOptions;
use crate::logs::tests::{Harness, options};

fn syslog(message_format: Option<&str>, service: Option<&str>) -> Harness {
    let opts = FormatOptions {
        service: service.map(String::from),
        message_format: message_format.map(String::from),
        ..options("syslog")
    };
    Harness::new(&opts, &["region"])
}

#[test]
fn rfc3164_takes_its_year_from_the_stream() {
    let h = &mut syslog(None, None);
    assert_eq!(
        h.line("<34>Nov 20 17:59:59 mymachine su: 'su root' failed for lonvick on /dev/pts/8"),
        r#"Request su "logs" [] 2026-11-20T17:59:59.000Z - error"#
    );
    // The stream's time (2026-11-20) now dates a message, with no processing time passed.
    assert_eq!(
        h.bytes(b"<13>Nov 20 18:00:02 host app: no processing time", None),
        r#"Request app "logs" [] 2026-11-20T18:00:02.000Z - ok"#
    );
    // Without a stream time and a processing time there is no year.
    let fresh = &mut syslog(None, None);
    assert_eq!(
        fresh.bytes(b"<13>Nov 20 18:00:00 host app: x", None),
        "error: line 1: field `ts`: invalid_timestamp: an RFC 3164 date has no year, and the stream has no time yet to take it from"
    );
}

#[test]
fn rfc3164_years_turn_at_new_year() {
    // A December message while the stream is in January is last year's.
    let h = &mut syslog(None, None);
    let jan = Millis::parse_rfc3339("2027-01-01T00:00:05Z").expect("valid");
    assert_eq!(
        h.bytes(b"<13>Dec 31 23:59:58 host app: late", Some(jan)),
        r#"Request app "logs" [] 2026-12-31T23:59:58.000Z - ok"#
    );
    // And a January message while the stream is in December is next year's.
    let h = &mut syslog(None, None);
    let dec = Millis::parse_rfc3339("2026-12-31T23:59:59Z").expect("valid");
    assert_eq!(
        h.bytes(b"<13>Jan  1 00:00:01 host app: early", Some(dec)),
        r#"Request app "logs" [] 2027-01-01T00:00:01.000Z - ok"#
    );
}

#[test]
fn rfc5424_services_severities_and_structured_data() {
    let h = &mut syslog(None, Some("fallback"));
    assert_eq!(
        h.line(r#"<165>1 2026-11-20T18:00:00.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" region="eu"] An application event"#),
        r#"Request evntslog "logs" [eu] 2026-11-20T18:00:00.003Z - ok"#
    );
    assert_eq!(
        h.line("<11>1 2026-11-20T19:00:00+01:00 host - - - - failed"),
        r#"Request fallback "logs" [] 2026-11-20T18:00:00.000Z - error"#
    );
    let h = &mut syslog(None, None);
    assert_eq!(
        h.line("<11>1 2026-11-20T18:00:00Z host - - - - x"),
        r#"Request host "logs" [] 2026-11-20T18:00:00.000Z - error"#
    );
    assert_eq!(
        h.line("<14>1 - - - - - - no time"),
        "error: line 2: field `ts`: missing_field: every event needs a time"
    );
    assert_eq!(
        h.line("<14>1 2026-11-20T18:00:00Z - - - - - x"),
        "error: line 3: field `service`: missing_field: `service` is required"
    );
}

#[test]
fn message_formats() {
    let h = &mut syslog(Some("nginx"), None);
    assert_eq!(
        h.line(r#"<190>Nov 20 18:00:00 web1 nginx: 203.0.113.9 - - [20/Nov/2026:18:00:00 +0000] "GET /x/1 HTTP/1.1" 503 5 "-" "ua" 0.010"#),
        r#"Request nginx "GET /x/:id" [] 2026-11-20T18:00:00.000Z 10000us error"#
    );
    let h = &mut syslog(Some("json"), None);
    assert_eq!(
        h.line(r#"<14>1 2026-11-20T18:00:00Z host cart 12 - - @cee: {"level":"error","route":"/c"}"#),
        r#"Request cart "/c" [] 2026-11-20T18:00:00.000Z - error"#
    );
    assert_eq!(
        h.line(r#"<14>1 2026-11-20T18:00:00Z host cart 12 - - {"ts":1795197590000,"service":"own"}"#),
        r#"Request own "logs" [] 2026-11-20T17:59:50.000Z - ok"#
    );
    assert_eq!(
        h.line("<14>1 2026-11-20T18:00:00Z host cart 12 - - \u{feff}{\"ts\":1795197590000}"),
        r#"Request cart "logs" [] 2026-11-20T17:59:50.000Z - ok"#
    );
    assert_eq!(
        h.line("<14>1 2026-11-20T18:00:00Z host cart 12 - - not json"),
        "error: line 4: invalid_json: expected ident at column 2"
    );
    let h = &mut syslog(Some("logfmt"), Some("svc"));
    assert_eq!(
        h.line("<14>Nov 20 18:00:00 host: level=error route=/l"),
        r#"Request svc "/l" [] 2026-11-20T18:00:00.000Z - error"#
    );
}

#[test]
fn no_header_is_unparsed() {
    let h = &mut syslog(None, None);
    for line in ["hello", "", "<13>", "<13>1 nonsense"] {
        let got = h.line(line);
        assert!(got.contains("unparsed: expected `<PRI>` then an RFC 5424 header"), "{line:?}: {got}");
    }
    assert_eq!(h.bytes(b"<13>Nov 20 \xff", None), "error: line 5: unparsed: not UTF-8 at column 12");
}
