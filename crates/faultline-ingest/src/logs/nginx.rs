//! nginx access lines to events: the combined log, then `$request_time` and `$upstream_response_time`.
//!
//! After the combined (or common) part (`access.rs`), the tail may hold, in
//! any mix: quoted fields (referer, user agent, `$http_x_forwarded_for`:
//! skipped); bare numbers, the first `$request_time` and the second
//! `$upstream_response_time`, both in seconds unless `latency_unit` says
//! otherwise, `-` for absent; `key=value` pairs `rt=`/`request_time=` and
//! `urt=`/`upstream_response_time=` (quoted or not), and any other pair,
//! read only as a dimension (`region=eu-west-1`). Other bare words are skipped.
//!
//! An upstream time may be a list, one entry per upstream tried (`0.010,
//! 0.020`, or `0.010 : 0.020` across an internal redirect): the entries are
//! summed, the time spent waiting on upstreams in all (`-` entries count
//! nothing). The request's latency is `$request_time` (what the client
//! saw), else the upstream time. So:
//!
//! ```text
//! 203.0.113.9 - - [20/Nov/2026:18:00:00 +0000] "GET /users/42 HTTP/1.1" 200 512 "-" "curl/8.1" 0.012 0.010
//! ```
//!
//! is a request of `GET /users/:id` (see `route.rs`) with status 200 and a 12 ms latency.

use faultline_core::Millis;
use faultline_core::event::Event;
use faultline_core::wire::{Decoder, ParseError};

use super::access::{self, Token};
use super::{LatencyUnit, LineContext, cut, unparsed};

/// Decodes one nginx access line (see the module doc).
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
    let mut times = [None::<f64>; 2];
    let mut positional = 0;
    // The slot a list continues into: after a value ending in `,`, or a `:`.
    let mut pending: Option<usize> = None;
    let mut last: Option<usize> = None;
    for token in access::tokens(access_line.tail) {
        let token = token.map_err(|col| {
            unparsed(ctx.record, None, format!("unterminated quoted field from column {}", tail_at + col + 1))
        })?;
        let (slot, text) = match token {
            Token::Quoted(_) => {
                pending = None;
                continue;
            }
            Token::Pair("rt" | "request_time", v) => (Some(0), v),
            Token::Pair("urt" | "upstream_response_time", v) => (Some(1), v),
            Token::Pair(..) => {
                pending = None;
                continue;
            }
            Token::Bare(":") => {
                pending = last;
                continue;
            }
            Token::Bare(v) => match pending.take() {
                Some(slot) => (Some(slot), v),
                None if v == "-" || v.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
                    positional += 1;
                    (Some(positional - 1).filter(|p| *p < 2), v)
                }
                None => continue,
            },
        };
        last = slot;
        pending = slot.filter(|_| v_continues(text));
        if let Some(slot) = slot {
            add_times(&mut times[slot], text).map_err(|bad| {
                let field = if slot == 0 { "request_time" } else { "upstream_response_time" };
                unparsed(ctx.record, Some(field), format!("expected seconds or `-`, got `{}`", cut(bad)))
            })?;
        }
    }
    let latency_ms = times[0].or(times[1]).map(|t| unit.to_millis(t));
    access::emit(&access_line, latency_ms, operation, ctx, decoder, processing_now, out)
}

/// Whether a value's text says the list goes on in the next token.
fn v_continues(text: &str) -> bool {
    text.ends_with(',')
}

/// Adds the entries of a time list (`0.010, 0.020`, `-`) to `acc`; `Err` holds an entry that is no number.
fn add_times<'a>(acc: &mut Option<f64>, text: &'a str) -> Result<(), &'a str> {
    for entry in text.split([',', ':']).map(str::trim).filter(|e| !e.is_empty() && *e != "-") {
        let t: f64 = entry.parse().map_err(|_| entry)?;
        *acc = Some(acc.unwrap_or(0.0) + t);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
