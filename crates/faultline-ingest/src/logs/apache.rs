//! Apache access lines to events: the combined log, then `%D` (microseconds) or `%T` (seconds).
//!
//! After the combined (or common) part (`access.rs`, the same reading as
//! nginx's), the first bare number in the tail is the request's time:
//! `%D` in microseconds by default, `%T` with `latency_unit = "s"` (any
//! unit may be set). Quoted fields are skipped; `key=value` pairs are read
//! only as dimensions; `-` is an absent time. A `%v`-prefixed (vhost)
//! format is not this format.

use faultline_core::Millis;
use faultline_core::event::Event;
use faultline_core::wire::{Decoder, ParseError};

use super::access::{self, Token};
use super::{LatencyUnit, LineContext, cut, unparsed};

/// Decodes one Apache access line (see the module doc).
pub(super) fn decode(
    line: &str,
    unit: LatencyUnit,
    ctx: &LineContext<'_>,
    operation: &mut String,
    decoder: &mut Decoder,
    processing_now: Option<Millis>,
    out: &mut Vec<Event>,
) -> Result<(), ParseError> {
    let access_line = access::parse(line, ctx.record)?;
    let tail_at = line.len() - access_line.tail.len();
    let mut time = None;
    for token in access::tokens(access_line.tail) {
        let token = token.map_err(|col| {
            unparsed(ctx.record, None, format!("unterminated quoted field from column {}", tail_at + col + 1))
        })?;
        match token {
            Token::Bare("-") => break,
            Token::Bare(v) if v.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
                let t: f64 = v.parse().map_err(|_| {
                    unparsed(ctx.record, Some("request_time"), format!("expected a number or `-`, got `{}`", cut(v)))
                })?;
                time = Some(t);
                break;
            }
            _ => {}
        }
    }
    let latency_ms = time.map(|t| unit.to_millis(t));
    access::emit(&access_line, latency_ms, operation, ctx, decoder, processing_now, out)
}

#[cfg(test)]
mod tests;
