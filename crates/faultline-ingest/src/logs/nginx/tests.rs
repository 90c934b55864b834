//! Tests of the nginx access log format: every documented shape and every rejection.

use crate::logs::tests::{Harness, options};

const HEAD: &str = r#"203.0.113.9 - alice [20/Nov/2026:19:00:00 +0100]"#;

fn check(h: &mut Harness, rest: &str, want: &str) {
    let line = format!("{HEAD} {rest}");
    assert_eq!(h.line(&line), want, "{line}");
}

#[test]
fn combined_common_and_request_times() {
    let h = &mut Harness::of("nginx");
    let at = "2026-11-20T18:00:00.000Z";
    for (rest, want) in [
        (
            r#""GET /users/42 HTTP/1.1" 200 512 "-" "curl/8.1" 0.012 0.010"#,
            format!(r#""GET /users/:id" [] {at} 12000us ok"#),
        ),
        (r#""GET /users/42 HTTP/1.1" 200 512 "-" "curl/8.1""#, format!(r#""GET /users/:id" [] {at} - ok"#)),
        (r#""GET / HTTP/1.1" 304 -"#, format!(r#""GET /" [] {at} - ok"#)),
        (
            r#""POST /pay HTTP/1.1" 502 0 "-" "ua" - 0.010, 0.020 : 0.005"#,
            format!(r#""POST /pay" [] {at} 35000us error"#),
        ),
        (
            r#""POST /pay HTTP/1.1" 200 0 "-" "ua" "10.0.0.1, 10.0.0.2" 1.5 -"#,
            format!(r#""POST /pay" [] {at} 1500000us ok"#),
        ),
        (
            r#""GET /a HTTP/1.1" 200 1 "-" "ua" rt=0.250 uct="0.000" urt="0.1, 0.2" region=eu-west-1"#,
            format!(r#""GET /a" [eu-west-1] {at} 250000us ok"#),
        ),
        (
            r#""GET /a HTTP/1.1" 200 1 "-" "ua" request_time=- upstream_response_time=0.040,"#,
            format!(r#""GET /a" [] {at} 40000us ok"#),
        ),
        (
            r#""GET /a HTTP/1.1" 200 1 "-" "ua" urt=0.010, 0.020 host example.com"#,
            format!(r#""GET /a" [] {at} 30000us ok"#),
        ),
        (r#""-" 400 0 "-" "-""#, format!(r#""invalid" [] {at} - ok"#)),
        (r#""\x16\x03\x01\x00" 400 157 "-" "-" 0.001 -"#, format!(r#""invalid" [] {at} 1000us ok"#)),
        (r#""GET /q?x=\"1\" HTTP/1.1" 404 0"#, format!(r#""GET /q" [] {at} - ok"#)),
    ] {
        check(h, rest, &format!("Request shop {want}"));
    }
}

#[test]
fn latency_unit_overrides_seconds() {
    let mut opts = options("nginx");
    opts.latency_unit = Some("ms".into());
    let h = &mut Harness::new(&opts, &[]);
    check(h, r#""GET / HTTP/1.1" 200 1 "-" "ua" 12"#, r#"Request shop "GET /" [] 2026-11-20T18:00:00.000Z 12000us ok"#);
}

#[test]
fn every_rejection_says_where_and_why() {
    let h = &mut Harness::of("nginx");
    for (line, want) in [
        ("", "error: line 1: field `remote_addr`: unparsed: expected remote_addr then a space at column 1"),
        ("1.2.3.4 -", "error: line 2: field `ident`: unparsed: expected ident then a space at column 9"),
        (
            "1.2.3.4 - - [20/Nov/2026:19:00:00 +0100",
            "error: line 3: field `time_local`: unparsed: expected `]` after the `[` at column 13",
        ),
        (
            "1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] GET",
            "error: line 4: field `request`: unparsed: expected a space and `\"` at column 41",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /" 20 1"#,
            "error: line 5: field `status`: unparsed: expected a 3-digit status at column 50",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /""#,
            "error: line 6: field `status`: unparsed: expected a space at column 49",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /" 200 1k"#,
            "error: line 7: field `body_bytes_sent`: unparsed: expected a byte count or `-` at column 54",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /" 200 1 "open"#,
            "error: line 8: unparsed: unterminated quoted field from column 56",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /" 200 1 0.1.2"#,
            "error: line 9: field `request_time`: unparsed: expected seconds or `-`, got `0.1.2`",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /" 200 1 - 0.01, x"#,
            "error: line 10: field `upstream_response_time`: unparsed: expected seconds or `-`, got `x`",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /" 200 1 rt=-1"#,
            "error: line 11: field `latency_ms`: negative: -1000 is below zero",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/1969:19:00:00 +0100] "GET /" 200 1"#,
            "error: line 12: field `ts`: before_epoch: 1969-11-20T18:00:00.000Z is before 1970",
        ),
        (
            r#"1.2.3.4 - - [20/Nov/2026:19:00:00 +0100] "GET /" 000 1"#,
            "error: line 13: field `status`: invalid_field: 0 is not an HTTP status (100–599)",
        ),
    ] {
        assert_eq!(h.line(line), want, "{line}");
    }
}

#[test]
fn the_operation_buffer_is_reused() {
    let h = &mut Harness::of("nginx");
    check(
        h,
        r#""GET /a/very/long/path/to/warm HTTP/1.1" 200 1"#,
        r#"Request shop "GET /a/very/long/path/*" [] 2026-11-20T18:00:00.000Z - ok"#,
    );
    let capacity = h.parser.scratch.operation.capacity();
    check(h, r#""GET /b HTTP/1.1" 200 1"#, r#"Request shop "GET /b" [] 2026-11-20T18:00:00.000Z - ok"#);
    assert_eq!(h.parser.scratch.operation.capacity(), capacity);
}
