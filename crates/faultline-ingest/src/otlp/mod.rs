//! The OTLP receiver: traces, metrics and logs over gRPC (4317) and HTTP (4318) as a push source.
//!
//! Each request is decoded on the receiver's own threads (the selective walk
//! of [`traces`], or prost's decode for OTLP/JSON) into one [`SourceBatch`],
//! and answered only once that batch is in the engine's queue. A full queue is
//! answered with the protocol's retryable status and a retry delay (gRPC
//! UNAVAILABLE with `RetryInfo`, HTTP 503 with `Retry-After`), and refused
//! before the body is decoded when the queue is already full: never buffered
//! without bound, never a success for what was not taken. Bad spans are
//! rejected one by one; the rest is applied and the answer's
//! `partial_success` says how many and why.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_core::wire::{Decoder, DecoderConfig};
use faultline_core::{Millis, SeriesRegistry};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::source::{BatchSender, NotQueued, Source, SourceBatch, StartAt};
use crate::wal::Wal;

mod grpc;
pub(crate) mod http;
pub mod logs;
pub mod metrics;
mod status;
pub mod traces;
pub mod wire;

pub use logs::{LogAttributes, map_logs};
pub use metrics::map_metrics;
pub use traces::{SpanMapping, TraceSummary, decode_traces, map_traces};

/// gRPC's default largest request, bytes.
pub const DEFAULT_GRPC_MAX_BYTES: usize = 4 << 20;
/// The HTTP receiver's default largest request after decompression, bytes.
pub const DEFAULT_HTTP_MAX_BYTES: usize = 20 << 20;

/// How an OTLP receiver listens and maps.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Where OTLP/gRPC listens (`None`: not served).
    pub grpc: Option<SocketAddr>,
    /// Where OTLP/HTTP listens (`None`: not served).
    pub http: Option<SocketAddr>,
    /// Largest gRPC request, bytes (after decompression); larger ones get RESOURCE_EXHAUSTED.
    pub grpc_max_bytes: usize,
    /// Largest HTTP request, bytes (after decompression); larger ones get 413.
    pub http_max_bytes: usize,
    /// The delay a client is told to wait when the engine's queue is full.
    pub retry_after: Duration,
    /// Span attributes to dimensions.
    pub mapping: SpanMapping,
    /// `Some`: every accepted request is in this write-ahead log before it is answered.
    pub wal: Option<WalConfig>,
}

/// Where and how large the write-ahead log is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalConfig {
    /// Its directory (one per source).
    pub dir: std::path::PathBuf,
    /// Past this many bytes on disk, requests are pushed back until a checkpoint frees room.
    pub max_bytes: u64,
    /// Segments roll past this size; a checkpoint frees whole segments.
    pub segment_bytes: u64,
}

/// Which OTLP signal a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
    Logs,
}

/// The write-ahead log's record kind of a request: its signal and form.
fn wal_kind(signal: Signal, body: Body<'_>) -> (u8, &[u8]) {
    match (signal, body) {
        (Signal::Traces, Body::Proto(b)) => (1, b),
        (Signal::Traces, Body::Json(b)) => (2, b),
        (Signal::Metrics, Body::Proto(b)) => (3, b),
        (Signal::Metrics, Body::Json(b)) => (4, b),
        (Signal::Logs, Body::Proto(b)) => (5, b),
        (Signal::Logs, Body::Json(b)) => (6, b),
    }
}

/// A record kind back to its signal and form.
pub(crate) fn from_wal_kind(kind: u8, payload: &[u8]) -> Option<(Signal, Body<'_>)> {
    Some(match kind {
        1 => (Signal::Traces, Body::Proto(payload)),
        2 => (Signal::Traces, Body::Json(payload)),
        3 => (Signal::Metrics, Body::Proto(payload)),
        4 => (Signal::Metrics, Body::Json(payload)),
        5 => (Signal::Logs, Body::Proto(payload)),
        6 => (Signal::Logs, Body::Json(payload)),
        _ => return None,
    })
}

/// Counters of an OTLP receiver beside the source's own ([`crate::SourceStats`]:
/// refusals, log bytes, replayed requests).
#[derive(Debug, Default)]
pub struct OtlpStats {
    /// Requests answered with success (partial or whole).
    pub accepted: AtomicU64,
    /// Spans ignored by the mapping (not SERVER, or CLIENT without a peer).
    pub spans_ignored: AtomicU64,
}

/// An OTLP receiver as a [`Source`]: one partition, no positions (memory durability).
pub struct OtlpSource {
    name: String,
    config: OtlpConfig,
    grpc: Option<TcpListener>,
    http: Option<TcpListener>,
    registry: Arc<SeriesRegistry>,
    decoder: DecoderConfig,
    clock: fn() -> Millis,
    stats: Arc<OtlpStats>,
}

impl std::fmt::Debug for OtlpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpSource").field("name", &self.name).field("config", &self.config).finish_non_exhaustive()
    }
}

impl OtlpSource {
    /// Binds the configured ports now (so a port in use fails the start, and
    /// port 0 is resolved); serving starts when the source runs.
    pub fn bind(
        name: &str,
        config: OtlpConfig,
        registry: Arc<SeriesRegistry>,
        decoder: DecoderConfig,
        clock: fn() -> Millis,
    ) -> std::io::Result<OtlpSource> {
        let bind = |addr: Option<SocketAddr>, what: &str| -> std::io::Result<Option<TcpListener>> {
            addr.map(|a| {
                let l = TcpListener::bind(a)
                    .map_err(|e| std::io::Error::new(e.kind(), format!("binding OTLP/{what} on {a}: {e}")))?;
                l.set_nonblocking(true)?;
                Ok(l)
            })
            .transpose()
        };
        let grpc = bind(config.grpc, "gRPC")?;
        let http = bind(config.http, "HTTP")?;
        Ok(OtlpSource {
            name: name.to_string(),
            config,
            grpc,
            http,
            registry,
            decoder,
            clock,
            stats: Arc::new(OtlpStats::default()),
        })
    }

    /// The bound gRPC address.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The receiver's counters.
    pub fn stats(&self) -> Arc<OtlpStats> {
        self.stats.clone()
    }
}

impl Source for OtlpSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn is_push(&self) -> bool {
        true
    }

    fn run(self: Box<Self>, start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        let this = *self;
        let mut ingest = Ingest {
            out,
            registry: this.registry,
            decoder_config: this.decoder,
            decoders: Mutex::new(Vec::new()),
            mapping: this.config.mapping.clone(),
            clock: this.clock,
            stats: this.stats,
            retry_after: this.config.retry_after,
            wal: None,
            streams: Mutex::default(),
        };
        let from = start.get(&this.name).copied();
        if let Some(w) = &this.config.wal {
            // What was acknowledged after the checkpoint goes in again first, in order.
            let mut failed = None;
            let replayed = Wal::replay(&w.dir, from, |kind, payload, position| {
                if failed.is_some() {
                    return;
                }
                let Some((signal, body)) = from_wal_kind(kind, payload) else {
                    tracing::error!(kind, ?position, "a write-ahead log record of an unknown kind; skipped");
                    return;
                };
                match ingest.decode(signal, body) {
                    Ok((mut batch, _)) => {
                        batch.position = Some(position);
                        if !ingest.out.send(batch) {
                            failed = Some("the engine stopped during the replay".to_string());
                        }
                    }
                    Err(why) => tracing::error!(%why, ?position, "a write-ahead log record does not decode; skipped"),
                }
            })?;
            if let Some(why) = failed {
                return Err(std::io::Error::other(why));
            }
            ingest.out.stats().wal_replayed.store(replayed, Ordering::Relaxed);
            if replayed > 0 {
                tracing::info!(source = %this.name, requests = replayed, "replayed the write-ahead log past the checkpoint");
            }
            let mut wal = Wal::open(&w.dir, w.segment_bytes, w.max_bytes)?;
            if let Some(p) = from {
                wal.truncate_before(p)?;
            }
            ingest.out.stats().wal_bytes.store(wal.bytes(), Ordering::Relaxed);
            ingest.wal = Some(Mutex::new(wal));
        }
        let ingest = Arc::new(ingest);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("otlp-{}", this.name))
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let stopped = {
                let stop = stop.clone();
                move || {
                    let stop = stop.clone();
                    async move {
                        while !stop.load(Ordering::Acquire) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
            };
            let mut tasks = Vec::new();
            if ingest.wal.is_some() {
                // Free what durable checkpoints cover.
                let (ingest, name, stop) = (ingest.clone(), this.name.clone(), stop.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::Acquire) {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        ingest.truncate(&name);
                    }
                });
            }
            if let Some(l) = this.grpc {
                let l = tokio::net::TcpListener::from_std(l)?;
                tracing::info!(addr = %l.local_addr()?, "OTLP/gRPC listening");
                tasks.push(tokio::spawn(grpc::serve(l, ingest.clone(), this.config.grpc_max_bytes, stopped())));
            }
            if let Some(l) = this.http {
                let l = tokio::net::TcpListener::from_std(l)?;
                tracing::info!(addr = %l.local_addr()?, "OTLP/HTTP listening");
                tasks.push(tokio::spawn(http::serve(l, ingest.clone(), this.config.http_max_bytes, stopped())));
            }
            for t in tasks {
                match t.await {
                    Ok(r) => r?,
                    Err(e) => return Err(std::io::Error::other(format!("OTLP server task: {e}"))),
                }
            }
            Ok(())
        })
    }
}

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// In the engine's queue; some spans may have been rejected.
    Accepted(TraceSummary),
    /// The engine's queue is full: the client should retry after the delay.
    Busy,
    /// The body is not an OTLP request: do not retry.
    Invalid(String),
    /// The service is stopping.
    Stopped,
}

/// What the gRPC and HTTP handlers share: the engine's queue, decoders, the mapping.
#[derive(Debug)]
pub(crate) struct Ingest {
    out: BatchSender,
    registry: Arc<SeriesRegistry>,
    decoder_config: DecoderConfig,
    /// Idle decoders (each with its own label cache), one taken per request.
    decoders: Mutex<Vec<Decoder>>,
    mapping: SpanMapping,
    clock: fn() -> Millis,
    stats: Arc<OtlpStats>,
    pub(crate) retry_after: Duration,
    /// The write-ahead log, when durability is `wal`; held across append and queueing, so
    /// the log's order is the queue's.
    wal: Option<Mutex<Wal>>,
    /// Cumulative metric streams, for deltas.
    streams: Mutex<metrics::Streams>,
}

/// Which form a request body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body<'a> {
    /// Protobuf bytes: the selective walk.
    Proto(&'a [u8]),
    /// OTLP/JSON bytes: serde into prost's types, then the same mapping.
    Json(&'a [u8]),
}

impl Ingest {
    /// Whether the engine's queue is full now (checked before reading a body).
    pub(crate) fn busy(&self) -> bool {
        let busy = self.out.is_full();
        if busy {
            self.out.stats().refused_busy.fetch_add(1, Ordering::Relaxed);
        }
        busy
    }

    /// Decodes one request into a batch (not queued).
    fn decode(&self, signal: Signal, body: Body<'_>) -> Result<(SourceBatch, TraceSummary), String> {
        let mut decoder = self
            .decoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Decoder::new(self.registry.clone(), self.decoder_config.clone()));
        let now = Some((self.clock)());
        let mut batch = SourceBatch::default();
        let decoded = decode_body(signal, body, &mut decoder, &self.mapping, &self.streams, now, &mut batch);
        self.decoders.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(decoder);
        let summary = decoded?;
        batch.records = summary.spans;
        batch.bytes = match body {
            Body::Proto(b) | Body::Json(b) => b.len() as u64,
        };
        Ok((batch, summary))
    }

    /// Decodes one `ExportTraceServiceRequest` and queues its events as one
    /// batch, after writing it to the write-ahead log when there is one.
    pub(crate) fn export(&self, signal: Signal, body: Body<'_>) -> Outcome {
        if self.busy() {
            return Outcome::Busy;
        }
        let (mut batch, summary) = match self.decode(signal, body) {
            Ok(d) => d,
            Err(why) => {
                self.out.stats().refused_invalid.fetch_add(1, Ordering::Relaxed);
                return Outcome::Invalid(why);
            }
        };
        self.stats.spans_ignored.fetch_add(summary.ignored, Ordering::Relaxed);
        if let Some(first) = summary.errors.first() {
            tracing::warn!(?signal, rejected = summary.rejected, first = %first, "OTLP items rejected");
        }
        let mut wal = self.wal.as_ref().map(|w| w.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut logged = None;
        if let Some(wal) = wal.as_mut().filter(|_| !batch.events.is_empty()) {
            let (kind, bytes) = wal_kind(signal, body);
            match wal.append(kind, bytes) {
                Ok(p) => {
                    batch.position = Some(p);
                    logged = Some((p, bytes.len()));
                    self.out.stats().wal_bytes.store(wal.bytes(), Ordering::Relaxed);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "OTLP request pushed back: the write-ahead log cannot take it");
                    self.out.stats().refused_busy.fetch_add(1, Ordering::Relaxed);
                    return Outcome::Busy;
                }
            }
        }
        match self.out.try_send(batch) {
            Ok(()) => {
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                Outcome::Accepted(summary)
            }
            Err(refused) => {
                // Not taken: out of the log again, since the client sends it once more.
                if let (Some(wal), Some((p, n))) = (wal.as_mut(), logged)
                    && let Err(e) = wal.undo(p, n)
                {
                    tracing::error!(error = %e, "taking a refused request out of the write-ahead log failed");
                }
                match refused {
                    NotQueued::Full => {
                        self.out.stats().refused_busy.fetch_add(1, Ordering::Relaxed);
                        Outcome::Busy
                    }
                    NotQueued::Stopped => Outcome::Stopped,
                }
            }
        }
    }

    /// Frees the write-ahead log's segments that the durable checkpoint covers.
    fn truncate(&self, partition: &str) {
        let (Some(wal), Some(p)) = (self.wal.as_ref(), self.out.committed().get(partition)) else { return };
        let mut wal = wal.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = wal.truncate_before(p) {
            tracing::warn!(error = %e, "freeing write-ahead log segments failed");
        }
        self.out.stats().wal_bytes.store(wal.bytes(), Ordering::Relaxed);
    }

    /// Counts a request refused before decoding (too large, bad encoding).
    pub(crate) fn refused(&self) {
        self.out.stats().refused_invalid.fetch_add(1, Ordering::Relaxed);
    }
}

/// The message of a partial success: how many were rejected, and the first reasons.
pub(crate) fn partial_message(summary: &TraceSummary) -> String {
    let mut msg = summary.errors.join("; ");
    if summary.rejected > summary.errors.len() as u64 {
        msg.push_str(&format!("; and {} more", summary.rejected - summary.errors.len() as u64));
    }
    msg
}

/// Decodes one request body of `signal` into `batch` (the work of [`Ingest::decode`], apart
/// from the receiver's state): the selective walk for protobuf traces, prost's decode or
/// OTLP/JSON's into the mapping otherwise. An error means the body is not such a request.
pub(crate) fn decode_body(
    signal: Signal,
    body: Body<'_>,
    decoder: &mut Decoder,
    mapping: &SpanMapping,
    streams: &Mutex<metrics::Streams>,
    now: Option<Millis>,
    batch: &mut SourceBatch,
) -> Result<TraceSummary, String> {
    let metrics = |req: ExportMetricsServiceRequest, decoder: &mut Decoder, batch: &mut SourceBatch| {
        let mut streams = streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map_metrics(&req, decoder, mapping, &mut streams, now, batch)
    };
    match (signal, body) {
        (Signal::Traces, Body::Proto(b)) => {
            decode_traces(b, decoder, mapping, now, batch).map_err(|e| format!("not an ExportTraceServiceRequest: {e}"))
        }
        (Signal::Traces, Body::Json(b)) => serde_json::from_slice::<ExportTraceServiceRequest>(b)
            .map(|req| map_traces(&req, decoder, mapping, now, batch))
            .map_err(|e| format!("not an OTLP/JSON ExportTraceServiceRequest: {e}")),
        (Signal::Metrics, Body::Proto(b)) => <ExportMetricsServiceRequest as prost::Message>::decode(b)
            .map(|req| metrics(req, decoder, batch))
            .map_err(|e| format!("not an ExportMetricsServiceRequest: {e}")),
        (Signal::Metrics, Body::Json(b)) => serde_json::from_slice::<ExportMetricsServiceRequest>(b)
            .map(|req| metrics(req, decoder, batch))
            .map_err(|e| format!("not an OTLP/JSON ExportMetricsServiceRequest: {e}")),
        (Signal::Logs, Body::Proto(b)) => <ExportLogsServiceRequest as prost::Message>::decode(b)
            .map(|req| map_logs(&req, decoder, mapping, now, batch))
            .map_err(|e| format!("not an ExportLogsServiceRequest: {e}")),
        (Signal::Logs, Body::Json(b)) => serde_json::from_slice::<ExportLogsServiceRequest>(b)
            .map(|req| map_logs(&req, decoder, mapping, now, batch))
            .map_err(|e| format!("not an OTLP/JSON ExportLogsServiceRequest: {e}")),
    }
}

#[cfg(test)]
mod tests;
