//! Tests of the JSON log format: every documented shape and every rejection.

use std::collections::BTreeMap;

use crate::logs::tests::{Harness, options};

fn check(h: &mut Harness, line: &str, want: &str) {
    assert_eq!(h.line(line), want, "{line}");
}

#[test]
fn default_keys_read_a_typical_line() {
    let h = &mut Harness::of("json");
    check(
        h,
        r#"{"ts":"2026-11-20T18:00:00.120Z","level":"info","service":"pay","route":"/charge","status":200,"latency_ms":12.5,"region":"eu","msg":"ok","user":{"id":7}}"#,
        r#"Request pay "/charge" [eu] 2026-11-20T18:00:00.120Z 12500us ok"#,
    );
    // Nested paths, a literal dotted key, a service from the source, the `logs` operation.
    check(
        h,
        r#"{"time":1795197600,"http":{"route":"/x","response":{"status_code":503}},"duration_ms":3}"#,
        r#"Request shop "/x" [] 2026-11-20T18:00:00.000Z 3000us error"#,
    );
    check(
        h,
        r#"{"@timestamp":1795197600123456,"http.route":"/y","http.status_code":"404"}"#,
        r#"Request shop "/y" [] 2026-11-20T18:00:00.123Z - ok"#,
    );
    check(
        h,
        r#"{"timestamp":1795197600123456789,"msg":"hello"}"#,
        r#"Request shop "logs" [] 2026-11-20T18:00:00.123Z - ok"#,
    );
    check(
        h,
        r#"{"ts":1795197600000,"service":{"name":"cart"}}"#,
        r#"Request cart "logs" [] 2026-11-20T18:00:00.000Z - ok"#,
    );
}

#[test]
fn the_first_listed_key_wins_wherever_it_stands() {
    let h = &mut Harness::of("json");
    check(
        h,
        r#"{"ts":1795197600000,"operation":"op","route":"/r","app":"a","service":"s"}"#,
        r#"Request s "/r" [] 2026-11-20T18:00:00.000Z - ok"#,
    );
}

#[test]
fn levels_and_error_flags_make_errors() {
    let h = &mut Harness::of("json");
    for (extra, want) in [
        (r#""level":"ERROR""#, "error"),
        (r#""severity":"fatal""#, "error"),
        (r#""level":50"#, "error"),
        (r#""level":30"#, "ok"),
        (r#""lvl":"warn""#, "ok"),
        (r#""log":{"level":"crit"}"#, "error"),
        (r#""error":true"#, "error"),
        (r#""error":false"#, "ok"),
        (r#""error":"connection refused""#, "error"),
        (r#""error":{"type":"Timeout"}"#, "error"),
        (r#""error":null"#, "ok"),
    ] {
        let line = format!(r#"{{"ts":1795197600000,{extra}}}"#);
        check(h, &line, &format!(r#"Request shop "logs" [] 2026-11-20T18:00:00.000Z - {want}"#));
    }
}

#[test]
fn outcomes_are_transactions_and_changes_are_changes() {
    let h = &mut Harness::of("json");
    check(
        h,
        r#"{"ts":1795197600000,"outcome":"declined","amount":4.2,"level":"info"}"#,
        r#"Transaction shop "" [] 2026-11-20T18:00:00.000Z Declined 420"#,
    );
    check(
        h,
        r#"{"ts":1795197600000,"change":{"kind":"deploy","id":"v2.3.1"},"message":"raise \"gateway\" timeout"}"#,
        r#"Change shop "" [] 2026-11-20T18:00:00.000Z Deploy id="v2.3.1" text="raise \"gateway\" timeout""#,
    );
    check(
        h,
        r#"{"ts":1795197600000,"route":"/pay","peer":"gateway","status":502}"#,
        r#"Request shop "/pay" [] 2026-11-20T18:00:00.000Z - error | Dependency shop "gateway" [] 2026-11-20T18:00:00.000Z - error"#,
    );
}

#[test]
fn a_configured_mapping_and_unit() {
    let mut opts = options("json");
    opts.fields = BTreeMap::from([
        ("latency".to_string(), vec!["req.elapsed".to_string()]),
        ("kind".to_string(), vec!["type".to_string()]),
        ("change".to_string(), vec![]),
    ]);
    opts.latency_unit = Some("s".into());
    let h = &mut Harness::new(&opts, &["cloud.region"]);
    check(
        h,
        r#"{"ts":1795197600000,"type":"request","req":{"elapsed":0.25},"change":"whatever","cloud":{"region":"eu"}}"#,
        r#"Request shop "logs" [eu] 2026-11-20T18:00:00.000Z 250000us ok"#,
    );
    check(
        h,
        r#"{"ts":1795197600000,"type":"audit"}"#,
        "error: line 2: field `kind`: unknown_kind: `audit` is not request, gauge, transaction or change",
    );
}

#[test]
fn escaped_strings_are_unescaped() {
    let h = &mut Harness::of("json");
    check(
        h,
        r#"{"ts":1795197600000,"service":"p\u0061y","route":"/a\/b","region":"e\u0075"}"#,
        r#"Request pay "/a/b" [eu] 2026-11-20T18:00:00.000Z - ok"#,
    );
}

#[test]
fn every_rejection_says_where_and_why() {
    let h = &mut Harness::new(&crate::logs::FormatOptions { service: None, ..options("json") }, &["region"]);
    for (line, want) in [
        (r#"{"ts":"#, "error: line 1: invalid_json: EOF while parsing a value at column 6"),
        (r#"{"ts":1} x"#, "error: line 2: invalid_json: trailing characters at column 10"),
        ("[1]", "error: line 3: invalid_json: invalid type: sequence, expected a JSON object at column 1"),
        (r#"{"ts":1795197600000}"#, "error: line 4: field `service`: missing_field: `service` is required"),
        (r#"{"service":"a"}"#, "error: line 5: field `ts`: missing_field: every event needs a time"),
        (
            r#"{"ts":true,"service":"a"}"#,
            "error: line 6: field `ts`: invalid_timestamp: expected RFC 3339 text or an epoch number, got a boolean",
        ),
        (
            r#"{"ts":"yesterday","service":"a"}"#,
            "error: line 7: field `ts`: invalid_timestamp: not RFC 3339: yesterday",
        ),
        (
            r#"{"ts":1795197600000,"service":"a","status":"teapot"}"#,
            "error: line 8: field `status`: invalid_field: expected an HTTP status at key `status`, got `teapot`",
        ),
        (
            r#"{"ts":1795197600000,"service":"a","status":700}"#,
            "error: line 9: field `status`: invalid_field: 700 is not an HTTP status (100–599)",
        ),
        (
            r#"{"ts":1795197600000,"service":"a","latency_ms":-1}"#,
            "error: line 10: field `latency_ms`: negative: -1 is below zero",
        ),
        (
            r#"{"ts":1795197600000,"service":"a","latency_ms":"NaN"}"#,
            "error: line 11: field `latency_ms`: not_finite: NaN is not a finite number below 1e24",
        ),
        (
            r#"{"ts":1795197600000,"service":7}"#,
            "error: line 12: field `service`: invalid_field: expected a string at key `service`, got 7",
        ),
        (
            r#"{"ts":1795197600000,"service":"a","level":[1]}"#,
            "error: line 13: field `level`: invalid_field: expected a level name or number at key `level`, got an array",
        ),
        (
            r#"{"ts":1895197600000,"service":"a"}"#,
            "error: line 14: field `ts`: too_far_in_future: 2030-01-21T03:46:40.000Z is more than 1h ahead of 2026-11-20T18:00:00.000Z",
        ),
        (
            r#"{"ts":1795197600000,"service":"a","outcome":"maybe"}"#,
            "error: line 15: field `outcome`: invalid_field: `maybe` is not success, failed or declined",
        ),
    ] {
        check(h, line, want);
    }
    assert_eq!(h.bytes(b"{\"ts\":\"\xff\"}", None), "error: line 16: invalid_json: not UTF-8 at column 8");
    // Unmapped values are skipped without recursion; mapped paths are as deep as their keys.
    let deep =
        format!("{{\"ts\":1795197600000,\"service\":\"a\",\"x\":{}1{}}}", "[{\"a\":".repeat(5000), "}]".repeat(5000));
    assert_eq!(h.line(&deep), r#"Request a "logs" [] 2026-11-20T18:00:00.000Z - ok"#);
}
