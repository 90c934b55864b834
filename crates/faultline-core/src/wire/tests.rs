//! Tests of the JSON-lines decoder: the DESIGN.md examples and every malformed case.

use super::*;
use crate::event::{ChangeKind, EventBody, Gauge, Outcome, Request, Transaction};
use crate::series::{SeriesKey, SeriesKind};
use crate::time::DurationMs;

fn decoder(dims: &[&str]) -> Decoder {
    Decoder::new(
        Arc::new(SeriesRegistry::new(1000)),
        DecoderConfig {
            dims: dims.iter().map(|s| s.to_string()).collect(),
            count_4xx_as_errors: false,
            future_horizon: Some(DurationMs::from_secs(3600)),
        },
    )
}

fn decode(line: &str) -> Result<Vec<Event>, ParseError> {
    let mut out = Vec::new();
    decoder(&["region"]).decode_line(7, line.as_bytes(), Some(Millis(1_795_197_600_000)), &mut out)?;
    Ok(out)
}

/// One malformed line: expected field and reason, and the rendered message.
fn check_err(line: &str, field: Option<&str>, reason: RejectReason, message: &str) {
    let e = decode(line).expect_err(line);
    assert_eq!((e.field, e.reason), (field, reason), "{line}: {e}");
    assert_eq!(e.to_string(), message, "{line}");
}

#[test]
fn design_examples_decode() {
    let d = &mut decoder(&["region"]);
    let lines = [
        r#"{"ts":"2026-11-20T18:00:00.120Z","service":"payments-api","operation":"POST /charge","kind":"request","status":502,"latency_ms":1530.0,"attrs":{"region":"eu-west-1"}}"#,
        r#"{"ts":1795197600120,"service":"payments-api","kind":"gauge","name":"db.pool.in_use","value":95,"max":100}"#,
        r#"{"ts":1795197600120,"service":"payments-api","kind":"gauge","name":"cpu.utilization","value":0.95}"#,
        r#"{"ts":1795197600120,"service":"payments-api","kind":"transaction","outcome":"failed","amount":42.10}"#,
        r#"{"ts":1795197600120,"service":"payments-api","kind":"change","change":"deploy","id":"v2.3.1","text":"raise gateway timeout"}"#,
    ];
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        d.decode_line(i as u64 + 1, l.as_bytes(), None, &mut out).unwrap();
    }
    assert_eq!(out.len(), 5);
    assert!(out.iter().all(|e| e.ts == Millis(1_795_197_600_120)));
    assert_eq!(out[0].body, EventBody::Request(Request { latency_us: Some(1_530_000), is_error: true }));
    let key = d.registry().key(out[0].series);
    assert_eq!(*key, SeriesKey::new(SeriesKind::Request, "payments-api", "POST /charge", &["eu-west-1"]));
    assert_eq!(out[1].body, EventBody::Gauge(Gauge { value: 95.0, max: Some(100.0) }));
    assert_eq!(out[3].body, EventBody::Transaction(Transaction { outcome: Outcome::Failed, amount_minor: 4210 }));
    let EventBody::Change(c) = &out[4].body else { panic!("change") };
    assert_eq!((c.kind, c.id.as_str()), (ChangeKind::Deploy, "v2.3.1"));
}

#[test]
fn peer_feeds_the_dependency_series() {
    let out = decode(r#"{"ts":1,"service":"checkout","operation":"charge","kind":"request","status":200,"latency_ms":3,"peer":"payment-gateway"}"#).unwrap();
    assert_eq!(out.len(), 2);
    assert_ne!(out[0].series, out[1].series);
}

#[test]
fn four_xx_counts_only_when_configured() {
    let line = br#"{"ts":1,"service":"s","operation":"o","kind":"request","status":404}"#;
    let mut d = decoder(&[]);
    let mut out = Vec::new();
    d.decode_line(1, line, None, &mut out).unwrap();
    assert_eq!(out[0].body, EventBody::Request(Request { latency_us: None, is_error: false }));
    let mut d4 = Decoder::new(
        Arc::new(SeriesRegistry::new(10)),
        DecoderConfig { count_4xx_as_errors: true, ..Default::default() },
    );
    out.clear();
    d4.decode_line(1, line, None, &mut out).unwrap();
    assert_eq!(out[0].body, EventBody::Request(Request { latency_us: None, is_error: true }));
}

#[test]
fn escaped_strings_and_unknown_fields_are_fine() {
    let out = decode(
        r#"{"ts":1,"service":"pay\u0073","operation":"GET \"x\"","kind":"request","status":200,"extra":{"a":[1,2]}}"#,
    )
    .unwrap();
    assert_eq!(out.len(), 1);
}

#[test]
fn non_string_attrs_become_text() {
    let mut d = decoder(&["shard", "region"]);
    let mut out = Vec::new();
    d.decode_line(
        1,
        br#"{"ts":1,"service":"s","kind":"gauge","name":"g","value":1,"attrs":{"shard":3,"nested":{"x":1}}}"#,
        None,
        &mut out,
    )
    .unwrap();
    let key = d.registry().key(out[0].series);
    assert_eq!(&*key.dims, &["3".into(), "".into()] as &[Box<str>]);
}

#[test]
fn malformed_lines_say_where_and_why() {
    use RejectReason::*;
    let base = r#""service":"s","operation":"o","kind":"request""#;
    check_err("not json", None, InvalidJson, "line 7: invalid_json: expected ident at column 2");
    check_err("[1,2]", None, InvalidJson, "line 7: invalid_json: an event is a JSON object");
    check_err(
        &format!("{{{base}}}"),
        Some("ts"),
        MissingField,
        "line 7: field `ts`: missing_field: every event needs a time",
    );
    check_err(
        r#"{"ts":1,"kind":"request"}"#,
        Some("service"),
        MissingField,
        "line 7: field `service`: missing_field: `service` is required",
    );
    check_err(
        r#"{"ts":1,"service":"s"}"#,
        Some("kind"),
        MissingField,
        "line 7: field `kind`: missing_field: every event needs a kind",
    );
    check_err(
        r#"{"ts":1,"service":"s","kind":"trace"}"#,
        Some("kind"),
        UnknownKind,
        "line 7: field `kind`: unknown_kind: `trace` is not request, gauge, transaction or change",
    );
    check_err(
        &format!(r#"{{"ts":1,{base},"latency_ms":-5}}"#),
        Some("latency_ms"),
        Negative,
        "line 7: field `latency_ms`: negative: -5 is below zero",
    );
    check_err(
        &format!(r#"{{"ts":1,{base},"latency_ms":"NaN"}}"#),
        Some("latency_ms"),
        NotFinite,
        "line 7: field `latency_ms`: not_finite: expected number, got \"NaN\"",
    );
    check_err(
        &format!(r#"{{"ts":1,{base},"latency_ms":"fast"}}"#),
        Some("latency_ms"),
        InvalidField,
        "line 7: field `latency_ms`: invalid_field: expected number, got \"fast\"",
    );
    check_err(
        &format!(r#"{{"ts":1,{base},"latency_ms":1e999}}"#),
        None,
        InvalidJson,
        "line 7: invalid_json: number out of range at column 73",
    );
    check_err(
        &format!(r#"{{"ts":1,{base},"status":999}}"#),
        Some("status"),
        InvalidField,
        "line 7: field `status`: invalid_field: 999 is not an HTTP status (100–599)",
    );
    check_err(
        &format!(r#"{{"ts":-1,{base}}}"#),
        Some("ts"),
        BeforeEpoch,
        "line 7: field `ts`: before_epoch: 1969-12-31T23:59:59.999Z is before 1970",
    );
    check_err(
        &format!(r#"{{"ts":"1969-07-20T20:17:00Z",{base}}}"#),
        Some("ts"),
        BeforeEpoch,
        "line 7: field `ts`: before_epoch: 1969-07-20T20:17:00.000Z is before 1970",
    );
    check_err(
        &format!(r#"{{"ts":"yesterday",{base}}}"#),
        Some("ts"),
        InvalidTimestamp,
        "line 7: field `ts`: invalid_timestamp: not RFC 3339: yesterday",
    );
    check_err(
        &format!(r#"{{"ts":true,{base}}}"#),
        Some("ts"),
        InvalidTimestamp,
        "line 7: field `ts`: invalid_timestamp: expected RFC 3339 text or epoch milliseconds, got true",
    );
    check_err(
        &format!(r#"{{"ts":"2027-11-20T18:00:00Z",{base}}}"#),
        Some("ts"),
        TooFarInFuture,
        "line 7: field `ts`: too_far_in_future: 2027-11-20T18:00:00.000Z is more than 1h ahead of 2026-11-20T18:00:00.000Z",
    );
    check_err(
        r#"{"ts":1,"service":"s","kind":"gauge","name":"g"}"#,
        Some("value"),
        MissingField,
        "line 7: field `value`: missing_field: `value` is required",
    );
    check_err(
        r#"{"ts":1,"service":"s","kind":"gauge","name":"g","value":1,"max":0}"#,
        Some("max"),
        Negative,
        "line 7: field `max`: negative: 0 must be above zero",
    );
    check_err(
        r#"{"ts":1,"service":"s","kind":"gauge","name":"g","value":1e300}"#,
        Some("value"),
        NotFinite,
        "line 7: field `value`: not_finite: 1e300 is not a finite number below 1e24",
    );
    check_err(
        r#"{"ts":1,"service":"s","kind":"transaction","outcome":"maybe"}"#,
        Some("outcome"),
        InvalidField,
        "line 7: field `outcome`: invalid_field: `maybe` is not success, failed or declined",
    );
    check_err(
        r#"{"ts":1,"service":"s","kind":"transaction","outcome":"failed","amount":-3}"#,
        Some("amount"),
        Negative,
        "line 7: field `amount`: negative: -3 is below zero",
    );
    check_err(
        r#"{"ts":1,"service":"s","kind":"change","change":"reboot"}"#,
        Some("change"),
        InvalidField,
        "line 7: field `change`: invalid_field: `reboot` is not deploy, config or rollback",
    );
    check_err(
        r#"{"ts":1,"service":"","kind":"change","change":"deploy"}"#,
        Some("service"),
        InvalidField,
        "line 7: field `service`: invalid_field: empty",
    );
    check_err(
        r#"{"ts":1,"service":5,"kind":"request"}"#,
        Some("service"),
        InvalidField,
        "line 7: field `service`: invalid_field: expected string, got 5",
    );
}

mod fuzz {
    //! Bad input never panics: arbitrary bytes and mutated valid lines give events or a `ParseError`.
    use super::*;
    use proptest::prelude::*;

    const VALID: &str = r#"{"ts":"2026-11-20T18:00:00.120Z","service":"payments-api","operation":"POST /charge","kind":"request","status":502,"latency_ms":1530.0,"peer":"gw","attrs":{"region":"eu-west-1"}}"#;

    fn decode_any(bytes: &[u8]) -> Result<usize, ParseError> {
        let mut out = Vec::new();
        decoder(&["region"]).decode_line(1, bytes, Some(Millis(1_795_197_600_000)), &mut out).map(|()| out.len())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Err(e) = decode_any(&bytes) {
                prop_assert!(RejectReason::ALL.contains(&e.reason));
                prop_assert_eq!(e.line, 1);
            }
        }

        #[test]
        fn mutated_valid_lines_never_panic(pos in 0usize..VALID.len(), byte in any::<u8>(), cut in 0usize..VALID.len()) {
            let mut bytes = VALID.as_bytes().to_vec();
            bytes[pos] = byte;
            let _ = decode_any(&bytes);
            let _ = decode_any(&VALID.as_bytes()[..cut]);
        }

        #[test]
        fn any_numbers_in_numeric_fields_never_panic(
            ts in any::<i64>(), status in any::<i64>(), lat in any::<f64>(), value in any::<f64>(), max in any::<f64>()
        ) {
            let lat = if lat.is_finite() { lat } else { 0.0 };
            let value = if value.is_finite() { value } else { 1.0 };
            let max = if max.is_finite() { max } else { 1.0 };
            let req = format!(r#"{{"ts":{ts},"service":"s","operation":"o","kind":"request","status":{status},"latency_ms":{lat}}}"#);
            let gauge = format!(r#"{{"ts":{ts},"service":"s","kind":"gauge","name":"g","value":{value},"max":{max}}}"#);
            for line in [req, gauge] {
                match decode_any(line.as_bytes()) {
                    Ok(n) => prop_assert_eq!(n, 1),
                    Err(e) => prop_assert!(RejectReason::ALL.contains(&e.reason)),
                }
            }
        }
    }
}

#[test]
fn string_fields_borrow_from_the_line_and_escaped_ones_still_decode() {
    let line = r#"{"ts":1,"service":"pay","kind":"request","operation":"GET /x","peer":"db","attrs":{"region":"eu"}}"#;
    let raw: RawEvent<'_> = serde_json::from_str(line).expect("valid line");
    for field in [&raw.service, &raw.kind, &raw.operation, &raw.peer] {
        assert!(matches!(field, Some(Text(Cow::Borrowed(_)))), "a field was copied");
    }
    let attrs = raw.attrs.expect("attrs");
    assert!(matches!(attrs.0[0], (Cow::Borrowed("region"), Cow::Borrowed("eu"))));

    let escaped = r#"{"ts":1795197600000,"service":"p\u0061y","kind":"request","operation":"GET \"x\""}"#;
    let events = decode(escaped).expect("escaped strings decode");
    assert_eq!(events.len(), 1);
    let raw: RawEvent<'_> = serde_json::from_str(escaped).expect("valid line");
    assert_eq!(raw.service.as_deref(), Some("pay"));
    assert_eq!(raw.operation.as_deref(), Some("GET \"x\""));
}
