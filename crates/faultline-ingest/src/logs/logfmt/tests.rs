//! Tests of the logfmt log format: every documented shape and every rejection.

use crate::logs::FormatOptions;
use crate::logs::tests::{Harness, options};

fn check(h: &mut Harness, line: &str, want: &str) {
    assert_eq!(h.line(line), want, "{line}");
}

#[test]
fn pairs_quotes_and_flags() {
    let h = &mut Harness::of("logfmt");
    check(
        h,
        r#"ts=2026-11-20T18:00:00.120Z level=info service=pay route=/charge status=200 latency_ms=12.5 region=eu msg="charge ok""#,
        r#"Request pay "/charge" [eu] 2026-11-20T18:00:00.120Z 12500us ok"#,
    );
    check(
        h,
        "time=1795197600\tlevel=ERROR\troute=\"/a b\"  peer= err= http.route=/literal",
        r#"Request shop "/a b" [] 2026-11-20T18:00:00.000Z - error"#,
    );
    check(h, "ts=1795197600000 error", r#"Request shop "logs" [] 2026-11-20T18:00:00.000Z - error"#);
    check(h, "ts=1795197600000 error=false status=503", r#"Request shop "logs" [] 2026-11-20T18:00:00.000Z - error"#);
    check(
        h,
        r#"ts=1795197600000 change=deploy change_id=v2 msg="say \"hi\"\tnow\\""#,
        "Change shop \"\" [] 2026-11-20T18:00:00.000Z Deploy id=\"v2\" text=\"say \\\"hi\\\"\\tnow\\\\\"",
    );
    check(
        h,
        "ts=1795197600000 outcome=success amount=10",
        r#"Transaction shop "" [] 2026-11-20T18:00:00.000Z Success 1000"#,
    );
}

#[test]
fn dotted_keys_are_literal() {
    let h = &mut Harness::of("logfmt");
    check(
        h,
        "ts=1795197600000 http.route=/x http.response.status_code=500",
        r#"Request shop "/x" [] 2026-11-20T18:00:00.000Z - error"#,
    );
}

#[test]
fn every_rejection_says_where_and_why() {
    let h = &mut Harness::new(&FormatOptions { service: None, ..options("logfmt") }, &["region"]);
    for (line, want) in [
        ("just words here", "error: line 1: unparsed: expected key=value pairs, found none"),
        ("a=1 =2", "error: line 2: unparsed: expected a key at column 5, found `=`"),
        (r#"a=1 "b"=2"#, "error: line 3: unparsed: expected a key at column 5, found `\"`"),
        (r#"ke"y=1"#, "error: line 4: unparsed: expected `=` or a space after key `ke` at column 3, found `\"`"),
        (r#"msg="open"#, "error: line 5: unparsed: unterminated quoted value of `msg` from column 5"),
        (r#"msg="a"b c=1"#, "error: line 6: unparsed: expected a space after the quoted value of `msg` at column 8"),
        (
            "ts=1795197600000 service=a status=2xx",
            "error: line 7: field `status`: invalid_field: expected an HTTP status at key `status`, got `2xx`",
        ),
        (
            "ts=1795197600000 service=a latency_ms=fast",
            "error: line 8: field `latency`: invalid_field: expected a number at key `latency_ms`, got `fast`",
        ),
        ("ts=1795197600000 service=a latency_ms=-2", "error: line 9: field `latency_ms`: negative: -2 is below zero"),
        ("ts=1795197600000 msg=x", "error: line 10: field `service`: missing_field: `service` is required"),
        (r#"ts=1795197600000 service=a peer="""#, "error: line 11: field `peer`: invalid_field: empty"),
        (
            "ts=1.2.3 service=a",
            "error: line 12: field `ts`: invalid_timestamp: expected RFC 3339 text or an epoch number",
        ),
    ] {
        check(h, line, want);
    }
    assert_eq!(h.bytes(b"a=\xc3", None), "error: line 13: unparsed: not UTF-8 at column 3");
}
