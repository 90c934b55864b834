//! Tests of the outbox: durability across reopen, torn tails, cursors, segments, coalescing.

use proptest::prelude::*;

use super::*;

fn ev(key: &str, action: Action) -> NewEntry {
    NewEntry { dedup_key: key.into(), action, json: format!("{{\"action\":\"{}\",\"k\":\"{key}\"}}", action.as_str()) }
}

fn sinks(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// Delivers everything pending to `sink`, acking each: the (key, action) pairs in order.
fn drain(o: &mut Outbox, sink: &str) -> Vec<(String, Action)> {
    let mut got = Vec::new();
    while let Some(e) = o.next_for(sink) {
        got.push((e.dedup_key.clone(), e.action));
        o.ack(sink, e.seq).unwrap();
    }
    got
}

#[test]
fn what_is_appended_survives_a_reopen_and_each_sink_resumes_at_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), &sinks(&["pd", "hook"]), 1 << 20, 1 << 20).unwrap();
    let range = o.append(&[ev("a", Action::Opened), ev("a", Action::Updated), ev("b", Action::Opened)]).unwrap();
    assert_eq!(range, 1..4);
    assert_eq!(drain(&mut o, "pd").len(), 3);
    let first = o.next_for("hook").unwrap();
    o.ack("hook", first.seq).unwrap();
    drop(o);
    let mut o = Outbox::open(dir.path(), &sinks(&["pd", "hook"]), 1 << 20, 1 << 20).unwrap();
    assert!(o.next_for("pd").is_none(), "pd delivered everything");
    let rest: Vec<_> = drain(&mut o, "hook");
    assert_eq!(rest, [("a".to_string(), Action::Updated), ("b".to_string(), Action::Opened)]);
    assert_eq!(o.append(&[ev("a", Action::Resolved)]).unwrap(), 4..5, "sequence numbers go on");
    assert_eq!(o.state("pd"), Some(SinkState { cursor: 3, pending: 1 }));
}

#[test]
fn a_torn_last_record_is_cut_off_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), &sinks(&["pd"]), 1 << 20, 1 << 20).unwrap();
    o.append(&[ev("a", Action::Opened), ev("b", Action::Opened)]).unwrap();
    drop(o);
    let seg = segment_path(dir.path(), 1);
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 3).unwrap();
    let mut o = Outbox::open(dir.path(), &sinks(&["pd"]), 1 << 20, 1 << 20).unwrap();
    assert_eq!(drain(&mut o, "pd"), [("a".to_string(), Action::Opened)]);
    assert_eq!(o.append(&[ev("c", Action::Opened)]).unwrap(), 2..3, "the torn record's number is reused");
    assert_eq!(drain(&mut o, "pd"), [("c".to_string(), Action::Opened)]);
}

#[test]
fn a_new_sink_starts_at_the_end_and_a_bad_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), &sinks(&["pd"]), 1 << 20, 1 << 20).unwrap();
    o.append(&[ev("a", Action::Opened)]).unwrap();
    drop(o);
    let mut o = Outbox::open(dir.path(), &sinks(&["pd", "slack"]), 1 << 20, 1 << 20).unwrap();
    assert!(o.next_for("slack").is_none(), "history is not replayed to a new receiver");
    assert!(o.next_for("pd").is_some());
    o.append(&[ev("a", Action::Resolved)]).unwrap();
    assert_eq!(drain(&mut o, "slack"), [("a".to_string(), Action::Resolved)]);
    let err = Outbox::open(dir.path(), &sinks(&["../x"]), 1 << 20, 1 << 20).unwrap_err();
    assert!(err.to_string().contains("letters, digits"), "{err}");
}

#[test]
fn segments_every_sink_has_passed_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), &sinks(&["a", "b"]), 1 << 10, 1 << 20).unwrap();
    for i in 0..200 {
        o.append(&[ev(&format!("k{i}"), Action::Opened)]).unwrap();
    }
    let logs =
        |d: &Path| std::fs::read_dir(d).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some()).count();
    let before = logs(dir.path());
    assert!(before > 5, "segments roll: {before}");
    drain(&mut o, "a");
    assert_eq!(logs(dir.path()), before, "b has passed none of them");
    drain(&mut o, "b");
    assert_eq!(logs(dir.path()), before, "kept until a checkpoint covers them");
    o.checkpointed().unwrap();
    assert_eq!(logs(dir.path()), 1, "only the active segment is left");
    drop(o);
    let o = Outbox::open(dir.path(), &sinks(&["a", "b"]), 1 << 10, 1 << 20).unwrap();
    assert_eq!(o.next_seq(), 201);
    assert!(o.next_for("a").is_none());
}

#[test]
fn an_event_emitted_again_after_a_crash_is_not_appended_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), &sinks(&["pd"]), 1 << 10, 1 << 20).unwrap();
    o.append(&[ev("a", Action::Opened), ev("a", Action::Updated)]).unwrap();
    assert_eq!(drain(&mut o, "pd").len(), 2);
    drop(o);
    // The restarted engine emits again what followed its last checkpoint, then goes on.
    let mut o = Outbox::open(dir.path(), &sinks(&["pd"]), 1 << 10, 1 << 20).unwrap();
    let again = o.append(&[ev("a", Action::Opened), ev("a", Action::Updated), ev("a", Action::Resolved)]).unwrap();
    assert_eq!(again.end - again.start, 1, "only the new event is appended");
    assert_eq!(o.repeats_total(), 2);
    assert_eq!(drain(&mut o, "pd"), [("a".to_string(), Action::Resolved)]);
    // The same action with other content is a new event.
    let mut changed = ev("a", Action::Updated);
    changed.json.push(' ');
    assert_eq!(o.append(&[changed]).unwrap().count(), 1);
}

#[test]
fn over_its_bound_the_oldest_updates_coalesce_and_no_trigger_or_resolve_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let one = encode(1, &ev("a", Action::Updated)).len() as u64;
    // Room for about 6 events.
    let mut o = Outbox::open(dir.path(), &sinks(&["pd"]), 1 << 20, 6 * one).unwrap();
    o.append(&[ev("a", Action::Opened)]).unwrap();
    for n in 0..8 {
        let mut e = ev("a", Action::Updated);
        e.json = format!("{{\"action\":\"updated\",\"n\":{n}}}");
        o.append(&[e]).unwrap();
    }
    o.append(&[ev("b", Action::Opened), ev("a", Action::Resolved)]).unwrap();
    let got = drain(&mut o, "pd");
    assert_eq!(got.first(), Some(&("a".to_string(), Action::Opened)));
    assert!(got.contains(&("b".to_string(), Action::Opened)));
    assert_eq!(got.last(), Some(&("a".to_string(), Action::Resolved)), "the resolve comes last");
    assert!(got.len() < 11, "some updates coalesced: {got:?}");
    assert!(o.coalesced_total() > 0);
    // A lone trigger or resolve is never coalesced, however full.
    let dir = tempfile::tempdir().unwrap();
    let mut o = Outbox::open(dir.path(), &sinks(&["pd"]), 1 << 20, one).unwrap();
    o.append(&[ev("x", Action::Opened), ev("y", Action::Opened), ev("x", Action::Resolved)]).unwrap();
    assert_eq!(drain(&mut o, "pd").len(), 3);
}

proptest! {
    // Every append and ack is fsynced: fewer cases than the default keep this a few seconds.
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Appends, deliveries and reopens in any order: each sink sees the events in append order,
    /// each once, except that a reopen may repeat the one it had taken but not acked.
    #[test]
    fn every_sink_gets_every_event_in_order_across_reopens(ops in proptest::collection::vec(0u8..6, 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let names = sinks(&["a", "b"]);
        let mut o = Outbox::open(dir.path(), &names, 1 << 11, 1 << 30).unwrap();
        let mut appended = 0u64;
        let mut seen: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for op in ops {
            match op {
                0 | 1 => {
                    let mut e = ev(&format!("k{}", appended % 3), Action::Opened);
                    e.json = format!("{{\"n\":{appended}}}");
                    o.append(&[e]).unwrap();
                    appended += 1;
                }
                2 | 3 => {
                    let sink = if op == 2 { "a" } else { "b" };
                    if let Some(e) = o.next_for(sink) {
                        seen.entry(sink).or_default().push(e.seq);
                        o.ack(sink, e.seq).unwrap();
                    }
                }
                4 => {
                    // Taken, not acked, then a crash.
                    if let Some(e) = o.next_for("a") {
                        seen.entry("a").or_default().push(e.seq);
                    }
                    drop(o);
                    o = Outbox::open(dir.path(), &names, 1 << 11, 1 << 30).unwrap();
                }
                _ => {
                    drop(o);
                    o = Outbox::open(dir.path(), &names, 1 << 11, 1 << 30).unwrap();
                }
            }
        }
        for sink in ["a", "b"] {
            while let Some(e) = o.next_for(sink) {
                seen.entry(sink).or_default().push(e.seq);
                o.ack(sink, e.seq).unwrap();
            }
            let mut got = seen.remove(sink).unwrap_or_default();
            got.dedup();
            prop_assert_eq!(got, (1..=appended).collect::<Vec<_>>(), "sink {}", sink);
        }
    }
}
