//! The OTLP receiver: traces over gRPC (4317) and HTTP (4318) as a push source.
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
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::source::{BatchSender, NotQueued, Source, SourceBatch, StartAt};

mod grpc;
mod http;
mod status;
pub mod traces;
pub mod wire;

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
}

/// Counters of an OTLP receiver, beside the source's own.
#[derive(Debug, Default)]
pub struct OtlpStats {
    /// Requests answered with success (partial or whole).
    pub accepted: AtomicU64,
    /// Requests refused because the engine's queue was full.
    pub refused_busy: AtomicU64,
    /// Requests refused as malformed or too large.
    pub refused_invalid: AtomicU64,
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

    fn run(self: Box<Self>, _start: StartAt, out: BatchSender, stop: Arc<AtomicBool>) -> std::io::Result<()> {
        let this = *self;
        let ingest = Arc::new(Ingest {
            out,
            registry: this.registry,
            decoder_config: this.decoder,
            decoders: Mutex::new(Vec::new()),
            mapping: this.config.mapping.clone(),
            clock: this.clock,
            stats: this.stats,
            retry_after: this.config.retry_after,
        });
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
            self.stats.refused_busy.fetch_add(1, Ordering::Relaxed);
        }
        busy
    }

    /// Decodes one `ExportTraceServiceRequest` and queues its events as one batch.
    pub(crate) fn traces(&self, body: Body<'_>) -> Outcome {
        if self.busy() {
            return Outcome::Busy;
        }
        let mut decoder = self
            .decoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| Decoder::new(self.registry.clone(), self.decoder_config.clone()));
        let now = Some((self.clock)());
        let mut batch = SourceBatch::default();
        let bytes = match body {
            Body::Proto(b) | Body::Json(b) => b.len() as u64,
        };
        let decoded = match body {
            Body::Proto(b) => decode_traces(b, &mut decoder, &self.mapping, now, &mut batch)
                .map_err(|e| format!("not an ExportTraceServiceRequest: {e}")),
            Body::Json(b) => serde_json::from_slice::<ExportTraceServiceRequest>(b)
                .map(|req| map_traces(&req, &mut decoder, &self.mapping, now, &mut batch))
                .map_err(|e| format!("not an OTLP/JSON ExportTraceServiceRequest: {e}")),
        };
        self.decoders.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(decoder);
        let summary = match decoded {
            Ok(s) => s,
            Err(why) => {
                self.stats.refused_invalid.fetch_add(1, Ordering::Relaxed);
                return Outcome::Invalid(why);
            }
        };
        self.stats.spans_ignored.fetch_add(summary.ignored, Ordering::Relaxed);
        batch.records = summary.spans;
        batch.bytes = bytes;
        if let Some(first) = summary.errors.first() {
            tracing::warn!(rejected = summary.rejected, first = %first, "OTLP spans rejected");
        }
        match self.out.try_send(batch) {
            Ok(()) => {
                self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                Outcome::Accepted(summary)
            }
            Err(NotQueued::Full) => {
                self.stats.refused_busy.fetch_add(1, Ordering::Relaxed);
                Outcome::Busy
            }
            Err(NotQueued::Stopped) => Outcome::Stopped,
        }
    }

    /// Counts a request refused before decoding (too large, bad encoding).
    pub(crate) fn refused(&self) {
        self.stats.refused_invalid.fetch_add(1, Ordering::Relaxed);
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
