//! A pool of decoders against one: the same events, ids, counts and errors, in order.

use std::sync::Arc;

use faultline_core::wire::DecoderConfig;
use faultline_core::{Event, Position, SeriesKey, SeriesRegistry};

use crate::source::SourceBatch;
use crate::{LineDecoder, ReaderSource};

/// Request lines over 30 operations of 3 services (a cap of 8 folds most of them), with bad
/// lines, blank lines and a last line without its newline.
fn input(lines: usize) -> Vec<u8> {
    let mut text = String::new();
    for i in 0..lines {
        match i % 97 {
            13 => text.push_str("{\"ts\": not json\n"),
            41 => text.push('\n'),
            57 => text.push_str("{\"ts\":1,\"service\":\"pay\",\"kind\":\"request\",\"latency_ms\":-5}\n"),
            _ => text.push_str(&format!(
                "{{\"ts\":{},\"service\":\"svc-{}\",\"operation\":\"op-{}\",\"kind\":\"request\",\"status\":{},\"latency_ms\":{}}}\n",
                1_795_197_600_000_u64 + i as u64 * 7,
                i % 3,
                (i * 7919) % 30,
                if i % 11 == 0 { 503 } else { 200 },
                i % 400
            )),
        }
    }
    text.push_str("{\"ts\":1795197600000,\"service\":\"svc-0\",\"operation\":\"last\",\"kind\":\"request\"}");
    text.into_bytes()
}

/// What a replay of `data` with `decoders` decoders hands on, flattened: every event with its
/// label set, the registry's label sets in id order, records, rejects, error samples, positions.
#[derive(Debug, PartialEq)]
struct Seen {
    events: Vec<(Event, Arc<SeriesKey>)>,
    keys: Vec<Arc<SeriesKey>>,
    folded: u64,
    records: u64,
    bytes: u64,
    rejects: Vec<(String, u64)>,
    errors: Vec<String>,
    last_position: Option<Position>,
}

fn replay(data: Vec<u8>, decoders: usize, stop_after: Option<usize>) -> (Seen, usize) {
    let registry = Arc::new(SeriesRegistry::new(8));
    let decoder = LineDecoder::new(registry.clone(), DecoderConfig::default()).with_origin("input");
    let source = ReaderSource::new("t", Box::new(std::io::Cursor::new(data)), decoder, 64).decoders(decoders);
    let mut batches: Vec<SourceBatch> = Vec::new();
    source
        .read_all(|b| {
            batches.push(b);
            stop_after.is_none_or(|n| batches.len() < n)
        })
        .expect("reads");
    let n = batches.len();
    let mut seen = Seen {
        events: Vec::new(),
        keys: (0..registry.len()).map(|i| registry.key(faultline_core::SeriesId(i as u32))).collect(),
        folded: registry.n_folded(),
        records: 0,
        bytes: 0,
        rejects: Vec::new(),
        errors: Vec::new(),
        last_position: None,
    };
    let mut rejects = faultline_core::RejectCounts::default();
    let mut last_offset = 0;
    for b in batches {
        seen.events.extend(b.events.iter().map(|e| (e.clone(), registry.key(e.series))));
        seen.records += b.records;
        seen.bytes += b.bytes;
        for (reason, n) in b.rejects.iter() {
            rejects.add_n(reason, n);
        }
        seen.errors.extend(b.errors.iter().map(|e| format!("{}: {}", e.origin, e.error)));
        let Some(Position::Offset(o)) = b.position else { panic!("a reader's batch has an offset") };
        assert!(o > last_offset, "positions move forward");
        last_offset = o;
        seen.last_position = b.position;
    }
    seen.rejects = rejects.iter().map(|(r, n)| (r.to_string(), n)).collect();
    (seen, n)
}

#[test]
fn a_pool_of_decoders_hands_on_what_one_decoder_does() {
    let data = input(5_000);
    let len = data.len() as u64;
    let (one, batches_one) = replay(data.clone(), 1, None);
    assert!(batches_one > 10 && one.folded > 0 && !one.errors.is_empty() && one.events.len() > 4_000, "{one:?}");
    assert_eq!(one.last_position, Some(Position::Offset(len)));
    assert_eq!(one.records, 5_001);
    for decoders in [2, 3, 8] {
        let (pooled, _) = replay(data.clone(), decoders, None);
        assert_eq!(pooled, one, "{decoders} decoders");
    }
}

#[test]
fn a_pool_stops_when_the_receiver_does() {
    let (seen, batches) = replay(input(5_000), 3, Some(2));
    assert_eq!(batches, 2, "nothing is handed on after the receiver said stop");
    let (all, _) = replay(input(5_000), 1, None);
    assert!(!seen.events.is_empty() && seen.events.len() < all.events.len() / 2);
    assert!(seen.events[..] == all.events[..seen.events.len()], "the first events of the stream, in order");
}

#[test]
fn a_line_too_long_is_counted_in_a_pool_as_on_one_thread() {
    let mut data = input(300);
    data.splice(0..0, std::iter::repeat_n(b'x', crate::MAX_LINE_BYTES + 10).chain(*b"\n"));
    let (one, _) = replay(data.clone(), 1, None);
    let (pooled, _) = replay(data, 2, None);
    assert!(one.rejects.iter().any(|(r, n)| r == "line_too_long" && *n == 1), "{:?}", one.rejects);
    assert_eq!(pooled, one);
}
