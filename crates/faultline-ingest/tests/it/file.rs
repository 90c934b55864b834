//! The file source: to the end, resumed from a position, replaced files, followed files, push-back.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Duration;

use faultline_core::wire::DecoderConfig;
use faultline_core::{Millis, Position, RejectReason, SeriesRegistry};
use faultline_ingest::{
    BatchSender, FileSource, LineDecoder, Source, SourceBatch, SourceMessage, SourceStats, StartAt,
};

fn line(ts: i64) -> String {
    format!(r#"{{"ts":{ts},"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":5}}"#)
}

fn lines(from: i64, n: i64) -> String {
    (from..from + n).map(|i| line(i * 1000) + "\n").collect()
}

fn clock() -> Millis {
    Millis(0)
}

struct Running {
    rx: Receiver<SourceMessage>,
    stop: Arc<AtomicBool>,
    stats: Arc<SourceStats>,
    thread: std::thread::JoinHandle<()>,
}

fn start(path: &std::path::Path, follow: bool, at: StartAt, queue: usize) -> Running {
    let registry = Arc::new(SeriesRegistry::new(100));
    let decoder = LineDecoder::new(registry, DecoderConfig::default());
    let source = Box::new(FileSource::new("app", path.to_path_buf(), follow, decoder, clock).batch_events(4));
    let (tx, rx) = sync_channel(queue);
    let stats = Arc::new(SourceStats::default());
    let out = BatchSender::new(0, tx, stats.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let thread = std::thread::spawn(move || source.run(at, out, s).expect("the source reads its file"));
    Running { rx, stop, stats, thread }
}

/// Batches until the partition's end (or, when following, until `n_events` arrived).
fn collect(r: &Running, n_events: Option<usize>) -> (Vec<SourceBatch>, bool) {
    let mut batches = Vec::new();
    let mut ended = false;
    let mut seen = 0;
    while let Ok(msg) = r.rx.recv_timeout(Duration::from_secs(5)) {
        match msg {
            SourceMessage::Batch { batch, .. } => {
                seen += batch.events.len();
                batches.push(batch);
                if n_events.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            SourceMessage::End { .. } => {
                ended = true;
                break;
            }
            SourceMessage::Checkpoint { .. } => panic!("a file source never asks for a checkpoint"),
            SourceMessage::Adopt { .. } | SourceMessage::Release { .. } => panic!("a file source is not partitioned"),
        }
    }
    (batches, ended)
}

fn n_events(b: &[SourceBatch]) -> usize {
    b.iter().map(|b| b.events.len()).sum()
}

fn last_position(b: &[SourceBatch]) -> Position {
    b.last().and_then(|b| b.position).expect("a batch with a position")
}

#[test]
fn a_file_is_read_to_its_end_with_bad_lines_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    let text = format!("{}not json\n\n{}", lines(0, 10), line(99_000)); // last line without a newline
    std::fs::write(&path, &text).unwrap();
    let r = start(&path, false, StartAt::new(), 8);
    let (batches, ended) = collect(&r, None);
    assert!(ended, "a file read to its end says so");
    assert_eq!(n_events(&batches), 11);
    let rejected: u64 = batches.iter().map(|b| b.rejects.get(RejectReason::InvalidJson)).sum();
    assert_eq!(rejected, 1);
    let err = batches.iter().flat_map(|b| &b.errors).next().expect("the bad line is quoted");
    assert_eq!(err.error.line, 11, "{err}");
    assert_eq!(err.excerpt, "not json");
    assert_eq!(err.origin, path.display().to_string(), "the sample names its file");
    match last_position(&batches) {
        Position::File { offset, .. } => assert_eq!(offset, text.len() as u64),
        other => panic!("{other:?}"),
    }
    assert_eq!(r.stats.bytes.load(Ordering::Relaxed), text.len() as u64 + 1, "the missing newline counts as read");
    r.thread.join().unwrap();
}

#[test]
fn a_checkpointed_position_resumes_the_same_file_and_not_a_replaced_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, lines(0, 10)).unwrap();
    let r = start(&path, false, StartAt::new(), 8);
    let (first, _) = collect(&r, None);
    r.thread.join().unwrap();
    let at = last_position(&first);

    // Appended since: only the new lines are read.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(lines(10, 5).as_bytes()).unwrap();
    let r = start(&path, false, StartAt::from([("app".to_string(), at)]), 8);
    let (second, _) = collect(&r, None);
    r.thread.join().unwrap();
    assert_eq!(n_events(&second), 5);
    assert_eq!(second[0].events[0].ts, Millis(10_000));

    // Replaced by another file at least as long: read from its start.
    std::fs::write(&path, lines(100, 20)).unwrap();
    let r = start(&path, false, StartAt::from([("app".to_string(), at)]), 8);
    let (third, _) = collect(&r, None);
    r.thread.join().unwrap();
    assert_eq!(n_events(&third), 20, "another file's bytes are not skipped");

    // A format-2 bare offset is trusted.
    let r = start(&path, false, StartAt::from([("app".to_string(), Position::Offset(lines(100, 19).len() as u64))]), 8);
    let (fourth, _) = collect(&r, None);
    r.thread.join().unwrap();
    assert_eq!(n_events(&fourth), 1);
}

#[test]
fn a_file_rotated_while_down_is_read_to_its_end_before_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    std::fs::write(&path, lines(0, 10)).unwrap();
    let r = start(&path, false, StartAt::new(), 8);
    let (first, _) = collect(&r, None);
    r.thread.join().unwrap();
    let at = last_position(&first);
    // While down: 5 more lines, then logrotate moves the file away (a compressed
    // older one lies beside it) and a new file starts.
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(lines(10, 5).as_bytes()).unwrap();
    std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    std::fs::write(dir.path().join("app.log.2.gz"), lines(0, 10)).unwrap();
    std::fs::write(dir.path().join("other.log"), lines(0, 10)).unwrap();
    std::fs::write(&path, lines(100, 3)).unwrap();
    let r = start(&path, false, StartAt::from([("app".to_string(), at)]), 8);
    let (second, ended) = collect(&r, None);
    r.thread.join().unwrap();
    assert!(ended);
    let ts: Vec<i64> = second.iter().flat_map(|b| &b.events).map(|e| e.ts.0 / 1000).collect();
    assert_eq!(ts, [10, 11, 12, 13, 14, 100, 101, 102], "the rotated file's rest, once, then the new file");
    // The position after the switch is the new file's.
    let end = last_position(&second);
    let r = start(&path, false, StartAt::from([("app".to_string(), end)]), 8);
    let (third, _) = collect(&r, None);
    r.thread.join().unwrap();
    assert_eq!(n_events(&third), 0, "nothing is read twice");
}

#[test]
fn a_followed_file_rewritten_in_place_is_read_from_its_start() {
    // Same device and inode, longer than the offset read: only its first bytes tell.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, lines(0, 3)).unwrap();
    let r = start(&path, true, StartAt::new(), 8);
    assert_eq!(n_events(&collect(&r, Some(3)).0), 3);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(0).unwrap();
    std::fs::write(&path, lines(500, 6)).unwrap();
    let (b, _) = collect(&r, Some(6));
    let ts: Vec<i64> = b.iter().flat_map(|b| &b.events).map(|e| e.ts.0 / 1000).collect();
    assert_eq!(ts, [500, 501, 502, 503, 504, 505], "none of the new file's lines is skipped");
    r.stop.store(true, Ordering::Release);
    r.thread.join().unwrap();
}

#[test]
fn a_followed_file_takes_whole_lines_as_they_come_and_its_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, lines(0, 3)).unwrap();
    let r = start(&path, true, StartAt::new(), 8);
    assert_eq!(n_events(&collect(&r, Some(3)).0), 3);
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    let next = line(3_000);
    f.write_all(&next.as_bytes()[..20]).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(r.rx.try_recv().is_err(), "half a line is not taken");
    f.write_all(format!("{}\n", &next[20..]).as_bytes()).unwrap();
    let (b, _) = collect(&r, Some(1));
    assert_eq!(b[0].events[0].ts, Millis(3_000));
    // Rotation: the path names a new file, read from its start, once the old one is read to its
    // end (a writer may still append to the file it has open after the move).
    std::fs::rename(&path, dir.path().join("in.jsonl.1")).unwrap();
    f.write_all(lines(4, 1).as_bytes()).unwrap();
    f.flush().unwrap();
    std::fs::write(&path, lines(50, 2)).unwrap();
    let (b, _) = collect(&r, Some(3));
    let ts: Vec<Millis> = b.iter().flat_map(|b| &b.events).map(|e| e.ts).collect();
    assert_eq!(ts, vec![Millis(4_000), Millis(50_000), Millis(51_000)]);
    r.stop.store(true, Ordering::Release);
    r.thread.join().unwrap();
}

#[test]
fn a_full_queue_holds_the_source_back_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    std::fs::write(&path, lines(0, 400)).unwrap();
    let r = start(&path, false, StartAt::new(), 1);
    std::thread::sleep(Duration::from_millis(200));
    // With a queue of one batch, the source can only be a couple of batches ahead.
    assert!(r.stats.batches.load(Ordering::Relaxed) <= 3, "the source waited");
    let mut total = 0;
    while let SourceMessage::Batch { batch, .. } =
        r.rx.recv_timeout(Duration::from_secs(5)).expect("the source goes on")
    {
        total += batch.events.len();
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(total, 400, "nothing dropped");
    assert!(r.stats.blocked_ns.load(Ordering::Relaxed) > 0, "the wait is counted as back-pressure");
    r.thread.join().unwrap();
}

#[test]
fn a_line_past_the_bound_is_counted_and_skipped_without_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    let huge = "x".repeat(faultline_ingest::MAX_LINE_BYTES * 2);
    let text = format!("{}{huge}\n{}", lines(0, 3), lines(3, 3));
    std::fs::write(&path, &text).unwrap();
    let r = start(&path, false, StartAt::new(), 8);
    let (batches, ended) = collect(&r, None);
    r.thread.join().unwrap();
    assert!(ended);
    assert_eq!(n_events(&batches), 6, "the lines around it are taken");
    let too_long: u64 = batches.iter().map(|b| b.rejects.get(RejectReason::LineTooLong)).sum();
    assert_eq!(too_long, 1);
    match last_position(&batches) {
        Position::File { offset, .. } => assert_eq!(offset, text.len() as u64, "read past it, to the end"),
        other => panic!("{other:?}"),
    }
}
