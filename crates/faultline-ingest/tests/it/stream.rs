//! The stream source over real sockets: TCP lines and octet counting, UDP datagrams, push-back, connection limits.

use std::io::Write as _;
use std::net::{TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use faultline_core::wire::DecoderConfig;
use faultline_core::{Millis, RejectReason, SeriesRegistry};
use faultline_ingest::{
    BatchSender, Framing, LineDecoder, Source, SourceBatch, SourceMessage, SourceStats, StartAt, StreamConfig,
    StreamSource,
};

fn line(ts: i64) -> String {
    format!(r#"{{"ts":{ts},"service":"pay","operation":"charge","kind":"request","status":200,"latency_ms":5}}"#)
}

fn clock() -> Millis {
    Millis(0)
}

struct Running {
    rx: Receiver<SourceMessage>,
    stop: Arc<AtomicBool>,
    stats: Arc<SourceStats>,
    source: Option<std::thread::JoinHandle<()>>,
    tcp: Option<std::net::SocketAddr>,
    udp: Option<std::net::SocketAddr>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Unblock a sender waiting on the full queue.
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.source.take() {
            let _ = t.join();
        }
    }
}

fn start(config: StreamConfig, queue: usize) -> Running {
    let registry = Arc::new(SeriesRegistry::new(100));
    let decoder = LineDecoder::new(registry, DecoderConfig::default());
    let source = StreamSource::bind("lines", config, decoder, clock).unwrap();
    let (tcp, udp) = (source.tcp_addr(), source.udp_addr());
    let (tx, rx) = sync_channel(queue);
    let stats = Arc::new(SourceStats::default());
    let out = BatchSender::new(0, tx, stats.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let source = Box::new(source);
    let thread = std::thread::spawn(move || source.run(StartAt::new(), out, s).unwrap());
    Running { rx, stop, stats, source: Some(thread), tcp, udp }
}

fn tcp_config() -> StreamConfig {
    StreamConfig { tcp: Some("127.0.0.1:0".parse().unwrap()), batch_events: 64, ..StreamConfig::default() }
}

/// Batches until `n` events came (or 10 s passed).
fn events(r: &Running, n: usize) -> Vec<SourceBatch> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut seen = 0;
    while seen < n && Instant::now() < deadline {
        if let Ok(SourceMessage::Batch { batch, .. }) = r.rx.recv_timeout(Duration::from_millis(100)) {
            seen += batch.events.len();
            got.push(batch);
        }
    }
    got
}

fn n_events(b: &[SourceBatch]) -> usize {
    b.iter().map(|b| b.events.len()).sum()
}

#[test]
fn tcp_lines_and_octet_counted_frames_from_several_connections_all_arrive() {
    let r = start(tcp_config(), 16);
    let addr = r.tcp.unwrap();
    let mut a = TcpStream::connect(addr).unwrap();
    let mut b = TcpStream::connect(addr).unwrap();
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&line(i * 1000));
        text.push_str(if i % 2 == 0 { "\r\n" } else { "\n" });
    }
    text.push_str("not json\n");
    a.write_all(text.as_bytes()).unwrap();
    let mut counted = String::new();
    for i in 0..50 {
        let l = line(i * 1000);
        counted.push_str(&format!("{} {l}", l.len()));
    }
    b.write_all(counted.as_bytes()).unwrap();
    drop((a, b));
    let got = events(&r, 150);
    assert_eq!(n_events(&got), 150, "every framed line is decoded");
    let bad: u64 = got.iter().map(|b| b.rejects.get(RejectReason::InvalidJson)).sum();
    assert_eq!(bad, 1);
    let sample = got.iter().flat_map(|b| &b.errors).next().expect("a sample of the bad line");
    assert_eq!(sample.excerpt, "not json");
    assert!(sample.origin.starts_with("tcp 127.0.0.1:"), "the sample names its peer: {}", sample.origin);
    assert_eq!(sample.error.line, 101, "lines are numbered per connection");
}

#[test]
fn a_trickle_is_sent_within_the_flush_delay_while_the_connection_stays_open() {
    let r = start(tcp_config(), 16);
    let mut c = TcpStream::connect(r.tcp.unwrap()).unwrap();
    let sent = Instant::now();
    c.write_all(format!("{}\n", line(1000)).as_bytes()).unwrap();
    let got = events(&r, 1);
    assert_eq!(n_events(&got), 1);
    assert!(sent.elapsed() < Duration::from_secs(2), "took {:?}", sent.elapsed());
    drop(c);
}

#[test]
fn a_full_queue_holds_the_sender_back_and_loses_nothing() {
    let r = start(tcp_config(), 1);
    let addr = r.tcp.unwrap();
    let n = 20_000;
    let writer = std::thread::spawn(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let text: String = (0..n).map(|i| line(i * 10) + "\n").collect();
        c.write_all(text.as_bytes()).unwrap();
    });
    // Nobody reads the queue for a while: the connection's thread waits, TCP holds the writer.
    std::thread::sleep(Duration::from_millis(500));
    let got = events(&r, n as usize);
    writer.join().unwrap();
    assert_eq!(n_events(&got), n as usize, "every line arrives once the engine catches up");
    assert!(r.stats.blocked_ns.load(Ordering::Relaxed) > 0, "the wait is counted as push-back");
}

#[test]
fn octet_counting_with_a_broken_length_closes_only_that_connection() {
    let config = StreamConfig { framing: Framing::OctetCounting, ..tcp_config() };
    let r = start(config, 16);
    let addr = r.tcp.unwrap();
    let l = line(1000);
    let mut bad = TcpStream::connect(addr).unwrap();
    bad.write_all(format!("{} {l}oops {l}", l.len()).as_bytes()).unwrap();
    let mut good = TcpStream::connect(addr).unwrap();
    good.write_all(format!("{} {l}", l.len()).as_bytes()).unwrap();
    drop(good);
    let got = events(&r, 2);
    assert_eq!(n_events(&got), 2, "the frame before the broken one and the other connection's frame");
    let rejected: u64 = got.iter().map(|b| b.rejects.get(RejectReason::Unparsed)).sum();
    assert_eq!(rejected, 1);
    let sample = got.iter().flat_map(|b| &b.errors).next().unwrap();
    assert_eq!(sample.error.field, Some("framing"));
    assert!(sample.excerpt.starts_with("oops"), "{}", sample.excerpt);
}

#[test]
fn connections_past_the_limit_are_closed_and_counted() {
    let config = StreamConfig { max_connections: 1, ..tcp_config() };
    let r = start(config, 16);
    let addr = r.tcp.unwrap();
    let mut first = TcpStream::connect(addr).unwrap();
    first.write_all(format!("{}\n", line(1000)).as_bytes()).unwrap();
    assert_eq!(n_events(&events(&r, 1)), 1, "the first connection is served");
    let mut second = TcpStream::connect(addr).unwrap();
    second.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 1];
    let closed = matches!(std::io::Read::read(&mut second, &mut buf), Ok(0) | Err(_));
    assert!(closed, "the second connection is closed at once");
    assert_eq!(r.stats.refused_busy.load(Ordering::Relaxed), 1);
    drop(first);
}

#[test]
fn udp_datagrams_carry_one_message_or_several_lines() {
    let config =
        StreamConfig { udp: Some("127.0.0.1:0".parse().unwrap()), batch_events: 64, ..StreamConfig::default() };
    let r = start(config, 16);
    let to = r.udp.unwrap();
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..20 {
        s.send_to(line(i * 1000).as_bytes(), to).unwrap();
    }
    let two = format!("{}\n{}\n", line(50_000), line(51_000));
    s.send_to(two.as_bytes(), to).unwrap();
    let got = events(&r, 22);
    assert_eq!(n_events(&got), 22);
    assert_eq!(got.iter().map(|b| b.rejects.total()).sum::<u64>(), 0, "a datagram's trailing newline is no empty line");
}
