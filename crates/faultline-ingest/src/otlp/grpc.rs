//! OTLP/gRPC (`TraceService/Export`, `MetricsService/Export`, `LogsService/Export`) on tonic, with a codec that hands the
//! selective decoder the message's bytes instead of prost's owned decode.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Request, Response, Status};

use super::status;
use super::{Body, Ingest, Outcome, Signal, partial_message};

const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Decodes a message as its bytes; encodes a prost message.
#[derive(Debug)]
struct RawCodec<E>(std::marker::PhantomData<E>);

impl<E> Default for RawCodec<E> {
    fn default() -> Self {
        RawCodec(std::marker::PhantomData)
    }
}

#[derive(Debug)]
struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[derive(Debug)]
struct ProstEncoder<E>(std::marker::PhantomData<E>);

impl<E: Message> Encoder for ProstEncoder<E> {
    type Item = E;
    type Error = Status;

    fn encode(&mut self, item: E, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst).map_err(|e| Status::internal(format!("encoding the answer: {e}")))?;
        Ok(())
    }
}

impl<E: Message + Send + 'static> Codec for RawCodec<E> {
    type Encode = E;
    type Decode = Bytes;
    type Encoder = ProstEncoder<E>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> ProstEncoder<E> {
        ProstEncoder(std::marker::PhantomData)
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// One OTLP collector service: its gRPC name, method path, signal and answer.
trait Collector: Send + Sync + 'static {
    const NAME: &'static str;
    const PATH: &'static str;
    const SIGNAL: Signal;
    type Answer: Message + Default + Send + 'static;
    /// The answer, with `partial` = (rejected items, message) when some were rejected.
    fn answer(partial: Option<(i64, String)>) -> Self::Answer;
}

#[derive(Debug, Clone, Copy)]
struct Traces;

impl Collector for Traces {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = TRACE_EXPORT;
    const SIGNAL: Signal = Signal::Traces;
    type Answer = ExportTraceServiceResponse;
    fn answer(partial: Option<(i64, String)>) -> ExportTraceServiceResponse {
        ExportTraceServiceResponse {
            partial_success: partial
                .map(|(rejected_spans, error_message)| ExportTracePartialSuccess { rejected_spans, error_message }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Metrics;

impl Collector for Metrics {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    const SIGNAL: Signal = Signal::Metrics;
    type Answer = ExportMetricsServiceResponse;
    fn answer(partial: Option<(i64, String)>) -> ExportMetricsServiceResponse {
        ExportMetricsServiceResponse {
            partial_success: partial.map(|(rejected_data_points, error_message)| ExportMetricsPartialSuccess {
                rejected_data_points,
                error_message,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Logs;

impl Collector for Logs {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    const SIGNAL: Signal = Signal::Logs;
    type Answer = ExportLogsServiceResponse;
    fn answer(partial: Option<(i64, String)>) -> ExportLogsServiceResponse {
        ExportLogsServiceResponse {
            partial_success: partial.map(|(rejected_log_records, error_message)| ExportLogsPartialSuccess {
                rejected_log_records,
                error_message,
            }),
        }
    }
}

/// A collector service, routed by tonic's server under its gRPC name.
#[derive(Debug)]
struct Service_<C> {
    ingest: Arc<Ingest>,
    max_bytes: usize,
    kind: std::marker::PhantomData<C>,
}

impl<C> Clone for Service_<C> {
    fn clone(&self) -> Self {
        Service_ { ingest: self.ingest.clone(), max_bytes: self.max_bytes, kind: std::marker::PhantomData }
    }
}

impl<C: Collector> NamedService for Service_<C> {
    const NAME: &'static str = C::NAME;
}

struct Export<C>(Arc<Ingest>, std::marker::PhantomData<C>);

impl<C: Collector> UnaryService<Bytes> for Export<C> {
    type Response = C::Answer;
    type Future = BoxFuture<Response<C::Answer>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let ingest = self.0.clone();
        Box::pin(async move {
            let retry = ingest.retry_after;
            match ingest.export(C::SIGNAL, Body::Proto(request.get_ref())) {
                Outcome::Accepted(summary) => {
                    let partial = (summary.rejected > 0).then(|| (summary.rejected as i64, partial_message(&summary)));
                    Ok(Response::new(C::answer(partial)))
                }
                Outcome::Busy => Err(status::grpc(Code::Unavailable, "the engine's queue is full", Some(retry))),
                Outcome::Stopped => Err(status::grpc(Code::Unavailable, "the service is stopping", Some(retry))),
                Outcome::Invalid(why) => Err(status::grpc(Code::InvalidArgument, &why, None)),
            }
        })
    }
}

impl<C: Collector, B> Service<http::Request<B>> for Service_<C>
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<tonic::codegen::StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let (ingest, max_bytes) = (self.ingest.clone(), self.max_bytes);
        Box::pin(async move {
            if req.uri().path() != C::PATH {
                return Ok(Status::unimplemented(format!("no method {}", req.uri().path())).into_http());
            }
            // Refuse before the body is read when the engine is already behind.
            if ingest.busy() {
                let s = status::grpc(Code::Unavailable, "the engine's queue is full", Some(ingest.retry_after));
                return Ok(s.into_http());
            }
            let mut grpc = Grpc::new(RawCodec::<C::Answer>::default())
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip)
                .max_decoding_message_size(max_bytes);
            let mut answer = grpc.unary(Export::<C>(ingest, std::marker::PhantomData), req).await;
            // tonic answers an uncompressed message over the limit with OUT_OF_RANGE (gRPC
            // says RESOURCE_EXHAUSTED, which a compressed one already gets); this service
            // never answers OUT_OF_RANGE itself, so every one is that check.
            let headers = answer.headers_mut();
            if headers.get("grpc-status").is_some_and(|v| v == "11") {
                headers.insert("grpc-status", http::HeaderValue::from_static("8"));
            }
            Ok(answer)
        })
    }
}

/// Serves OTLP/gRPC on `listener` until `stopped` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Arc<Ingest>,
    max_bytes: usize,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_service(Service_::<Traces> { ingest: ingest.clone(), max_bytes, kind: std::marker::PhantomData })
        .add_service(Service_::<Metrics> { ingest: ingest.clone(), max_bytes, kind: std::marker::PhantomData })
        .add_service(Service_::<Logs> { ingest, max_bytes, kind: std::marker::PhantomData })
        .serve_with_incoming_shutdown(incoming, stopped)
        .await
        .map_err(|e| std::io::Error::other(format!("OTLP/gRPC server: {e}")))
}
