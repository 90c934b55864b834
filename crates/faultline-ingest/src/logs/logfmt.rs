//! logfmt lines to events: `key=value`, `key="quoted \"value\""` and bare `flag` pairs, read through a FieldMap.
//!
//! Pairs are separated by spaces (or tabs). A value runs to the next space
//! unless it opens with `"`; a quoted value ends at the next unescaped `"`
//! (`\"`, `\\`, `\n`, `\t`, `\r` are unescaped; only such a value is
//! copied). `key=` is absent (loggers print `err=` for no error), `key=""` is empty text;
//! a bare `key` is `true`. Keys are flat:
//! `http.route` is that literal key. The values of mapped keys are read as
//! `record.rs` says (every value is text, so `status=200` is a number by its
//! digits); `field_map.rs` has the default keys.
//!
//! Not logfmt, so [`RejectReason::Unparsed`]: a line without one `key=value`
//! pair (plain text), a pair that opens with `=` or `"`, an unterminated
//! quote, a quoted value followed by anything but a space.
//!
//! [`RejectReason::Unparsed`]: faultline_core::RejectReason::Unparsed

use std::borrow::Cow;

use faultline_core::Millis;
use faultline_core::event::Event;
use faultline_core::wire::{Decoder, ParseError};

use super::field_map::FieldMap;
use super::record::{MappedRecord, Value};
use super::{LatencyUnit, LineContext, cut, unparsed};

/// Decodes one logfmt line (see the module doc).
#[expect(clippy::too_many_arguments, reason = "the format's settings, the line's context and the decoder's")]
pub(super) fn decode(
    line: &str,
    map: &FieldMap,
    unit: LatencyUnit,
    ctx: &LineContext<'_>,
    dims: &[String],
    decoder: &mut Decoder,
    processing_now: Option<Millis>,
    out: &mut Vec<Event>,
) -> Result<(), ParseError> {
    let mut record = MappedRecord::default();
    let mut n_pairs = 0;
    for pair in Pairs::new(line) {
        let (key, value) = pair.map_err(|e| unparsed(ctx.record, None, e))?;
        n_pairs += usize::from(!matches!(value, Some(Value::Bool(true))));
        let Some(value) = value else { continue };
        let targets = map.lookup(key);
        let dim = dims.iter().position(|d| d == key).filter(|i| !record.has_dim(*i));
        if !targets.is_empty() || dim.is_some() {
            record.offer_all(targets, dim, value);
        }
    }
    if n_pairs == 0 {
        return Err(unparsed(ctx.record, None, "expected key=value pairs, found none".into()));
    }
    record.emit(map, unit, ctx, dims, decoder, processing_now, out)
}

/// The pairs of a logfmt line, in order (`None`: `key=`, no value); an `Err` (what was expected where) ends them.
pub(super) struct Pairs<'a> {
    line: &'a str,
    at: usize,
}

impl<'a> Pairs<'a> {
    pub(super) fn new(line: &'a str) -> Pairs<'a> {
        Pairs { line, at: 0 }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = Result<(&'a str, Option<Value<'a>>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.line.as_bytes();
        while self.at < b.len() && is_space(b[self.at]) {
            self.at += 1;
        }
        if self.at >= b.len() {
            return None;
        }
        let start = self.at;
        if b[start] == b'=' || b[start] == b'"' {
            self.at = b.len();
            return Some(Err(format!("expected a key at column {}, found `{}`", start + 1, b[start] as char)));
        }
        let mut i = start;
        while i < b.len() && !is_space(b[i]) && b[i] != b'=' && b[i] != b'"' {
            i += 1;
        }
        let key = &self.line[start..i];
        if i >= b.len() || is_space(b[i]) {
            self.at = i;
            return Some(Ok((key, Some(Value::Bool(true)))));
        }
        if b[i] == b'"' {
            self.at = b.len();
            return Some(Err(format!(
                "expected `=` or a space after key `{}` at column {}, found `\"`",
                cut(key),
                i + 1
            )));
        }
        // b[i] is '='.
        let v = i + 1;
        if v < b.len() && b[v] == b'"' {
            let mut j = v + 1;
            let mut escaped = false;
            while j < b.len() && b[j] != b'"' {
                if b[j] == b'\\' {
                    escaped = true;
                    j += 1;
                }
                j += 1;
            }
            if j >= b.len() {
                self.at = b.len();
                return Some(Err(format!("unterminated quoted value of `{}` from column {}", cut(key), v + 1)));
            }
            if j + 1 < b.len() && !is_space(b[j + 1]) {
                self.at = b.len();
                return Some(Err(format!(
                    "expected a space after the quoted value of `{}` at column {}",
                    cut(key),
                    j + 2
                )));
            }
            self.at = j + 1;
            let raw = &self.line[v + 1..j];
            let text = if escaped { Cow::Owned(unescape(raw)) } else { Cow::Borrowed(raw) };
            return Some(Ok((key, Some(Value::Str(text)))));
        }
        let mut j = v;
        while j < b.len() && !is_space(b[j]) {
            j += 1;
        }
        self.at = j;
        Some(Ok((key, (j > v).then(|| Value::Str(Cow::Borrowed(&self.line[v..j]))))))
    }
}

fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests;
