//! Log streams over the network: lines on TCP (newline or RFC 6587 octet
//! counting) and syslog datagrams on UDP, in any line format.
//!
//! One source, one partition (named after it), whatever the number of
//! connections: every connection has its own thread and decoder (its own
//! line numbers and label cache; the series registry is shared), and sends
//! batches of at most `batch_events` events, or of what came within
//! [`FLUSH_AFTER`]. Push-back is the transport's own: while the engine's
//! queue is full a connection's thread waits, stops reading, and TCP's window
//! holds the sender; a UDP datagram that finds the socket's buffer full is
//! dropped by the kernel (as for every syslog receiver: UDP has no push-back;
//! use TCP where loss matters). Streams have no position to resume from: a
//! restart takes what senders send from then on.

mod framing;

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use faultline_core::{Millis, RejectReason};

pub use framing::Framing;
use framing::{Frame, Framer};

use crate::decode::LineDecoder;
use crate::source::{BatchSender, Source, SourceBatch, StartAt};

/// A batch waits at most this long for more records before it is sent.
pub const FLUSH_AFTER: Duration = Duration::from_millis(100);
/// How often blocked reads and accepts look at the stop flag.
const POLL: Duration = Duration::from_millis(50);
/// Largest UDP datagram.
const MAX_DATAGRAM: usize = 65_535;

/// A stream source's settings.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// TCP address to listen on, when served.
    pub tcp: Option<SocketAddr>,
    /// UDP address to listen on, when served.
    pub udp: Option<SocketAddr>,
    /// How a TCP stream is cut into messages (UDP: one datagram, split at LF).
    pub framing: Framing,
    /// Longest message taken, bytes; longer ones are counted and dropped.
    pub max_message_bytes: usize,
    /// TCP connections served at once; more are closed at once and counted as refused.
    pub max_connections: usize,
    /// Events per batch, at most (about).
    pub batch_events: usize,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            tcp: None,
            udp: None,
            framing: Framing::Auto,
            max_message_bytes: crate::MAX_LINE_BYTES,
            max_connections: 256,
            batch_events: 1024,
        }
    }
}

/// Lines from TCP connections and UDP datagrams, decoded in the source's format.
#[derive(Debug)]
pub struct StreamSource {
    name: String,
    config: StreamConfig,
    decoder: LineDecoder,
    tcp: Option<TcpListener>,
    udp: Option<UdpSocket>,
    clock: fn() -> Millis,
}

impl StreamSource {
    /// Binds the configured listeners now (so a port in use fails the start);
    /// `decoder` is the template each connection's decoder is forked from;
    /// `clock` gives the processing time for the future-horizon check.
    pub fn bind(
        name: &str,
        config: StreamConfig,
        decoder: LineDecoder,
        clock: fn() -> Millis,
    ) -> std::io::Result<StreamSource> {
        let ctx = |what: &'static str, addr: SocketAddr| {
            move |e: std::io::Error| std::io::Error::new(e.kind(), format!("binding {what} {addr}: {e}"))
        };
        let tcp = match config.tcp {
            Some(addr) => {
                let l = TcpListener::bind(addr).map_err(ctx("TCP", addr))?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let udp = match config.udp {
            Some(addr) => {
                let s = UdpSocket::bind(addr).map_err(ctx("UDP", addr))?;
                s.set_read_timeout(Some(POLL))?;
                Some(s)
            }
            None => None,
        };
        Ok(StreamSource { name: name.to_string(), config, decoder, tcp, udp, clock })
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }
}

impl Source for StreamSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_push(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, _start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        let _span = tracing::info_span!("source", name = %self.name).entered();
        let StreamSource { name, config, decoder, tcp, udp, clock } = *self;
        let mut threads = Vec::new();
        if let Some(socket) = udp {
            let origin = format!("udp {}", socket.local_addr().map_or_else(|_| "?".into(), |a| a.to_string()));
            let conn = Conn { decoder: decoder.fork(origin), out: out.clone(), config: config.clone(), clock };
            let stop = stop.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("source-{name}-udp"))
                    .spawn(move || conn.datagrams(&socket, &stop))?,
            );
        }
        if let Some(listener) = tcp {
            let active = Arc::new(AtomicUsize::new(0));
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, peer)) => {
                        if active.load(Ordering::Acquire) >= config.max_connections {
                            tracing::warn!(%peer, max = config.max_connections, "too many connections: closing this one");
                            out.stats().refused_busy.fetch_add(1, Ordering::Relaxed);
                            drop(stream);
                            continue;
                        }
                        active.fetch_add(1, Ordering::AcqRel);
                        let conn = Conn {
                            decoder: decoder.fork(format!("tcp {peer}")),
                            out: out.clone(),
                            config: config.clone(),
                            clock,
                        };
                        let (stop, active) = (stop.clone(), active.clone());
                        let spawned = std::thread::Builder::new().name(format!("source-{name}-tcp")).spawn(move || {
                            if let Err(e) = conn.stream(stream, &stop) {
                                tracing::warn!(%peer, error = %e, "connection ended");
                            }
                            active.fetch_sub(1, Ordering::AcqRel);
                        });
                        match spawned {
                            Ok(t) => threads.push(t),
                            Err(e) => tracing::warn!(%peer, error = %e, "no thread for the connection"),
                        }
                        threads.retain(|t| !t.is_finished());
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(POLL),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    // Out of file descriptors and the like: wait, never spin.
                    Err(e) => {
                        tracing::warn!(error = %e, "accepting a connection");
                        std::thread::sleep(POLL);
                    }
                }
            }
        }
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    }
}

/// One connection's (or the UDP socket's) decoding and batching.
struct Conn {
    decoder: LineDecoder,
    out: BatchSender,
    config: StreamConfig,
    clock: fn() -> Millis,
}

/// A batch being filled, and since when.
struct Pending {
    batch: SourceBatch,
    since: Option<Instant>,
}

impl Conn {
    /// Reads a TCP stream to its end (or until stop), decoding each message.
    fn stream(mut self, mut stream: TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(POLL))?;
        let mut framer = Framer::new(self.config.framing, self.config.max_message_bytes);
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
        let mut chunk = vec![0u8; 1 << 16];
        let mut pending = Pending { batch: SourceBatch::default(), since: None };
        loop {
            if stop.load(Ordering::Acquire) {
                self.flush(&mut pending);
                return Ok(());
            }
            let eof = match stream.read(&mut chunk) {
                Ok(0) => true,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    false
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    self.flush_if_due(&mut pending, true);
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.flush(&mut pending);
                    return Err(e);
                }
            };
            let now = Some((self.clock)());
            let mut pos = 0;
            loop {
                match framer.next(&buf[pos..], eof) {
                    Frame::Message { start, end, consumed } => {
                        let b = pos;
                        self.take(&buf[b + start..b + end], consumed, now, &mut pending);
                        pos += consumed;
                    }
                    Frame::TooLong { consumed } => {
                        pending.since.get_or_insert_with(Instant::now);
                        self.decoder.reject_too_long(consumed as u64, &mut pending.batch);
                        pos += consumed;
                    }
                    Frame::Skipped { consumed } => {
                        pending.batch.bytes += consumed as u64;
                        pos += consumed;
                    }
                    Frame::BadLength => {
                        let detail = "octet counting: not `MSG-LEN SP MSG` (RFC 6587): the stream cannot be \
                                      resynchronised, closing the connection";
                        let rest = &buf[pos..];
                        self.decoder.reject_record(
                            RejectReason::Unparsed,
                            Some("framing"),
                            detail,
                            rest,
                            &mut pending.batch,
                        );
                        self.flush(&mut pending);
                        return Ok(());
                    }
                    Frame::NeedMore => break,
                }
            }
            buf.drain(..pos);
            if eof {
                self.flush(&mut pending);
                return Ok(());
            }
            self.flush_if_due(&mut pending, false);
        }
    }

    /// Reads datagrams until stop: each is one message, or several lines.
    fn datagrams(mut self, socket: &UdpSocket, stop: &AtomicBool) {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut pending = Pending { batch: SourceBatch::default(), since: None };
        while !stop.load(Ordering::Acquire) {
            match socket.recv_from(&mut buf) {
                Ok((n, _peer)) => {
                    let now = Some((self.clock)());
                    let mut framer = Framer::new(Framing::Newline, self.config.max_message_bytes);
                    let mut pos = 0;
                    while pos < n {
                        match framer.next(&buf[pos..n], true) {
                            Frame::Message { start, end, consumed } => {
                                let b = pos;
                                // A datagram's trailing LF ends its message; an empty one carries nothing.
                                if end > start || pos + consumed < n {
                                    let mut text = &buf[b + start..b + end];
                                    while let Some(t) = text.strip_suffix(b"\0") {
                                        text = t;
                                    }
                                    self.take(text, consumed, now, &mut pending);
                                }
                                pos += consumed;
                            }
                            Frame::TooLong { consumed } | Frame::Skipped { consumed } => {
                                self.decoder.reject_too_long(consumed as u64, &mut pending.batch);
                                pos += consumed;
                            }
                            Frame::BadLength | Frame::NeedMore => break,
                        }
                    }
                    self.flush_if_due(&mut pending, false);
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    self.flush_if_due(&mut pending, true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "receiving a datagram");
                    std::thread::sleep(POLL);
                }
            }
        }
        self.flush(&mut pending);
    }

    /// Decodes one message into the batch, sending it when full.
    fn take(&mut self, message: &[u8], consumed: usize, now: Option<Millis>, pending: &mut Pending) {
        pending.since.get_or_insert_with(Instant::now);
        self.decoder.decode_line(message, now, &mut pending.batch);
        // The framing bytes (length prefix, CR LF) were read too.
        pending.batch.bytes += (consumed as u64).saturating_sub(message.len() as u64 + 1);
        if pending.batch.events.len() >= self.config.batch_events {
            self.flush(pending);
        }
    }

    /// Sends the batch once it is [`FLUSH_AFTER`] old, or at once when `idle` (no more data right now).
    fn flush_if_due(&mut self, pending: &mut Pending, idle: bool) {
        if pending.since.is_some_and(|t| idle || t.elapsed() >= FLUSH_AFTER) {
            self.flush(pending);
        }
    }

    fn flush(&mut self, pending: &mut Pending) {
        pending.since = None;
        if pending.batch.records == 0 && pending.batch.bytes == 0 {
            return;
        }
        let batch = std::mem::take(&mut pending.batch);
        // Waits while the engine's queue is full: this connection stops reading, TCP holds the sender.
        self.out.send(batch);
    }
}
