//! The combined (or common) access log line, read by hand: client, time, request, status, bytes, then the tail.
//!
//! `$remote_addr $ident $remote_user [$time_local] "$request" $status $body_bytes_sent`
//! is the common log format; the combined one adds `"$http_referer" "$http_user_agent"`;
//! anything may follow (nginx's and Apache's request times, `key=value`
//! pairs, more quoted fields). This file reads the fixed part and splits the
//! tail into [`Token`]s; `nginx.rs` and `apache.rs` say what the tail means.
//! The time `[10/Oct/2000:13:55:36 -0700]` is parsed by hand to epoch ms.

use faultline_core::event::Event;
use faultline_core::wire::{Decoder, Fields, Latency, ParseError, RecordKind, Ts};
use faultline_core::{Millis, RejectReason};

use super::{LineContext, cut, route, unparsed};

/// The fixed part of an access log line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct AccessLine<'a> {
    /// `$time_local` in epoch ms.
    pub(super) ts: Millis,
    /// `$request`, between its quotes, escapes left as they are.
    pub(super) request: &'a str,
    /// `$status`.
    pub(super) status: i64,
    /// What follows `$body_bytes_sent`: referer, user agent, request times, pairs.
    pub(super) tail: &'a str,
}

/// One item of a line's tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token<'a> {
    /// A quoted field (referer, user agent, forwarded-for), without its quotes.
    Quoted(&'a str),
    /// `key=value` or `key="value"` (the value without quotes).
    Pair(&'a str, &'a str),
    /// Anything else, up to a space (`0.123`, `-`, `0.010,`, `:`).
    Bare(&'a str),
}

/// Reads the fixed part of an access log line; the error says what was expected at which column.
pub(super) fn parse(line: &str, record: u64) -> Result<AccessLine<'_>, ParseError> {
    let b = line.as_bytes();
    let mut at = 0;
    let word = |at: &mut usize, field: &'static str| -> Result<(), ParseError> {
        let start = *at;
        while *at < b.len() && b[*at] != b' ' {
            *at += 1;
        }
        if *at == start || *at >= b.len() {
            return Err(unparsed(
                record,
                Some(field),
                format!("expected {field} then a space at column {}", start + 1),
            ));
        }
        *at += 1;
        Ok(())
    };
    word(&mut at, "remote_addr")?;
    word(&mut at, "ident")?;
    word(&mut at, "remote_user")?;
    if b.get(at) != Some(&b'[') {
        return Err(unparsed(record, Some("time_local"), format!("expected `[` at column {}", at + 1)));
    }
    let Some(close) = b[at..].iter().position(|c| *c == b']').map(|i| at + i) else {
        return Err(unparsed(record, Some("time_local"), format!("expected `]` after the `[` at column {}", at + 1)));
    };
    let time = &line[at + 1..close];
    let ts = parse_time(time.as_bytes()).ok_or_else(|| ParseError {
        line: record,
        field: Some("time_local"),
        reason: RejectReason::InvalidTimestamp,
        detail: format!("expected dd/Mon/yyyy:HH:MM:SS +hhmm at column {}, got `{}`", at + 2, cut(time)),
    })?;
    at = close + 1;
    if b.get(at) != Some(&b' ') || b.get(at + 1) != Some(&b'"') {
        return Err(unparsed(record, Some("request"), format!("expected a space and `\"` at column {}", at + 1)));
    }
    let open = at + 1;
    let Some(end) = closing_quote(b, open + 1) else {
        return Err(unparsed(record, Some("request"), format!("unterminated request line from column {}", open + 1)));
    };
    let request = &line[open + 1..end];
    at = end + 1;
    if b.get(at) != Some(&b' ') {
        return Err(unparsed(record, Some("status"), format!("expected a space at column {}", at + 1)));
    }
    at += 1;
    let status = match b.get(at..at + 3) {
        Some(d) if d.iter().all(u8::is_ascii_digit) && matches!(b.get(at + 3), None | Some(b' ')) => {
            d.iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0'))
        }
        _ => {
            return Err(unparsed(record, Some("status"), format!("expected a 3-digit status at column {}", at + 1)));
        }
    };
    at += 4;
    let start = at.min(b.len());
    while at < b.len() && b[at] != b' ' {
        at += 1;
    }
    let bytes = &b[start..at.min(b.len())];
    if !(bytes == b"-" || (!bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit))) {
        return Err(unparsed(
            record,
            Some("body_bytes_sent"),
            format!("expected a byte count or `-` at column {}", start + 1),
        ));
    }
    let tail = line.get(at + 1..).unwrap_or("");
    Ok(AccessLine { ts, request, status, tail })
}

/// Emits the request an access line describes: its operation from the request
/// line (written into the reused `operation` buffer), its status, and
/// `latency_ms` as the tail gave it; dimensions come from the tail's pairs.
pub(super) fn emit(
    line: &AccessLine<'_>,
    latency_ms: Option<f64>,
    operation: &mut String,
    ctx: &LineContext<'_>,
    decoder: &mut Decoder,
    processing_now: Option<Millis>,
    out: &mut Vec<Event>,
) -> Result<(), ParseError> {
    route::operation(line.request, operation);
    let fields = Fields {
        ts: Some(Ts::Millis(line.ts.0)),
        service: ctx.service,
        kind: Some(Ok(RecordKind::Request)),
        operation: Some(operation),
        status: Some(line.status),
        latency: latency_ms.map(Latency::Millis),
        ..Fields::default()
    };
    let tail = line.tail;
    decoder.emit(ctx.record, &fields, |name| pair_value(tail, name), processing_now, out)
}

/// The tokens of a line's tail, in order; an unterminated quote ends them with an `Err` naming its column.
pub(super) fn tokens(tail: &str) -> impl Iterator<Item = Result<Token<'_>, usize>> {
    let b = tail.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < b.len() && b[at] == b' ' {
            at += 1;
        }
        if at >= b.len() {
            return None;
        }
        let start = at;
        if b[at] == b'"' {
            let Some(end) = closing_quote(b, at + 1) else {
                at = b.len();
                return Some(Err(start));
            };
            at = end + 1;
            return Some(Ok(Token::Quoted(&tail[start + 1..end])));
        }
        while at < b.len() && b[at] != b' ' && b[at] != b'=' {
            at += 1;
        }
        if at < b.len() && b[at] == b'=' && at > start {
            let key = &tail[start..at];
            at += 1;
            if b.get(at) == Some(&b'"') {
                let Some(end) = closing_quote(b, at + 1) else {
                    at = b.len();
                    return Some(Err(start));
                };
                let value = &tail[at + 1..end];
                at = end + 1;
                return Some(Ok(Token::Pair(key, value)));
            }
            let v = at;
            while at < b.len() && b[at] != b' ' {
                at += 1;
            }
            return Some(Ok(Token::Pair(key, &tail[v..at])));
        }
        while at < b.len() && b[at] != b' ' {
            at += 1;
        }
        Some(Ok(Token::Bare(&tail[start..at])))
    })
}

/// The value of the tail's first `key=value` pair with this key (a dimension).
pub(super) fn pair_value<'a>(tail: &'a str, key: &str) -> Option<&'a str> {
    tokens(tail).map_while(Result::ok).find_map(|t| match t {
        Token::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// The index of the `"` closing a quoted field whose text starts at `from` (a `\` escapes the next byte).
fn closing_quote(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// `10/Oct/2000:13:55:36 -0700` to epoch ms.
pub(super) fn parse_time(t: &[u8]) -> Option<Millis> {
    if t.len() != 26 || t[2] != b'/' || t[6] != b'/' || t[11] != b':' || t[14] != b':' || t[17] != b':' || t[20] != b' '
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        t[r].iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    let month = match &t[3..6] {
        b"Jan" => 1,
        b"Feb" => 2,
        b"Mar" => 3,
        b"Apr" => 4,
        b"May" => 5,
        b"Jun" => 6,
        b"Jul" => 7,
        b"Aug" => 8,
        b"Sep" => 9,
        b"Oct" => 10,
        b"Nov" => 11,
        b"Dec" => 12,
        _ => return None,
    };
    let local = Millis::from_utc(i64::from(num(7..11)?), month, num(0..2)?, num(12..14)?, num(15..17)?, num(18..20)?)?;
    let sign = match t[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (oh, om) = (num(22..24)?, num(24..26)?);
    if oh > 23 || om > 59 {
        return None;
    }
    Some(Millis(local.0 - sign * i64::from(oh * 3600 + om * 60) * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_offsets() {
        let t = |s: &str| parse_time(s.as_bytes());
        assert_eq!(t("10/Oct/2000:13:55:36 -0700"), Millis::parse_rfc3339("2000-10-10T20:55:36Z"));
        assert_eq!(t("01/Jan/2027:00:00:00 +0130"), Millis::parse_rfc3339("2026-12-31T22:30:00Z"));
        for bad in [
            "10/Oct/2000:13:55:36",
            "32/Oct/2000:13:55:36 -0700",
            "10/oct/2000:13:55:36 -0700",
            "10/Oct/2000:13:55:36 -07x0",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    #[test]
    fn tail_tokens() {
        let toks: Vec<_> = tokens(r#""-" "curl/8.1 \"x\"" 0.012 0.010, 0.002 rt=0.5 urt="0.1, 0.2" region=eu"#)
            .map(|t| t.expect("closed"))
            .collect();
        assert_eq!(
            toks,
            [
                Token::Quoted("-"),
                Token::Quoted(r#"curl/8.1 \"x\""#),
                Token::Bare("0.012"),
                Token::Bare("0.010,"),
                Token::Bare("0.002"),
                Token::Pair("rt", "0.5"),
                Token::Pair("urt", "0.1, 0.2"),
                Token::Pair("region", "eu"),
            ]
        );
        assert_eq!(tokens(r#"a "open"#).collect::<Vec<_>>(), [Ok(Token::Bare("a")), Err(2)]);
        assert_eq!(pair_value("x=1 region=eu region=us", "region"), Some("eu"));
    }
}
