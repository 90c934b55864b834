//! Tests of the Apache access log format: `%D`, `%T` and the common log.

use crate::logs::tests::{Harness, options};

#[test]
fn request_time_in_micros_or_seconds() {
    let h = &mut Harness::of("apache");
    let head = r#"192.0.2.1 - frank [10/Oct/2026:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
    let at = "2026-10-10T20:55:36.000Z";
    for (tail, want) in [
        (
            r#" "http://www.example.com/start.html" "Mozilla/4.08" 1234"#,
            format!(r#""GET /apache_pb.gif" [] {at} 1234us ok"#),
        ),
        (" 1234", format!(r#""GET /apache_pb.gif" [] {at} 1234us ok"#)),
        ("", format!(r#""GET /apache_pb.gif" [] {at} - ok"#)),
        (r#" "-" "-" -"#, format!(r#""GET /apache_pb.gif" [] {at} - ok"#)),
        (" x=1 region=us 5", format!(r#""GET /apache_pb.gif" [us] {at} 5us ok"#)),
    ] {
        assert_eq!(h.line(&format!("{head}{tail}")), format!("Request shop {want}"), "{tail}");
    }
    assert_eq!(
        h.line(&format!("{head} 12x")),
        "error: line 6: field `request_time`: unparsed: expected a number or `-`, got `12x`"
    );
    let mut opts = options("apache");
    opts.latency_unit = Some("s".into());
    let h = &mut Harness::new(&opts, &[]);
    assert_eq!(
        h.line(&format!("{head} \"-\" \"-\" 2")),
        format!(r#"Request shop "GET /apache_pb.gif" [] {at} 2000000us ok"#)
    );
}
