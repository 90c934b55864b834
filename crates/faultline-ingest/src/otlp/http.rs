//! OTLP/HTTP (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`), protobuf or JSON, gzip or not, answered in the request's content type.

use std::future::Future;
use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsPartialSuccess, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTracePartialSuccess, ExportTraceServiceResponse};
use prost::Message;

use super::status;
use super::{Body, Ingest, Outcome, Signal, partial_message};

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// Why a gzip body was refused.
#[derive(Debug, thiserror::Error)]
pub enum GzipError {
    /// It inflates past the size limit (a gzip bomb stops there).
    #[error("the body inflates past the size limit")]
    TooLarge,
    /// It is not valid gzip.
    #[error("not valid gzip: {0}")]
    NotGzip(std::io::Error),
}

/// Inflates a gzip body, reading at most one byte past `max_bytes`: larger
/// bodies are refused without ever being held whole.
pub fn inflate_gzip(raw: &[u8], max_bytes: usize) -> Result<Vec<u8>, GzipError> {
    let mut out = Vec::new();
    let limit = (max_bytes as u64).saturating_add(1);
    flate2::read::GzDecoder::new(raw).take(limit).read_to_end(&mut out).map_err(GzipError::NotGzip)?;
    if out.len() > max_bytes {
        return Err(GzipError::TooLarge);
    }
    Ok(out)
}

#[derive(Debug, Clone)]
struct Http {
    ingest: Arc<Ingest>,
    max_bytes: usize,
}

/// Serves OTLP/HTTP on `listener` until `stopped` resolves.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Arc<Ingest>,
    max_bytes: usize,
    stopped: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/v1/logs", post(logs))
        .layer(DefaultBodyLimit::disable())
        .with_state(Http { ingest, max_bytes });
    axum::serve(listener, app).with_graceful_shutdown(stopped).await
}

/// The request's form, from its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Proto,
    Json,
}

fn answer(form: Form, code: StatusCode, body: Vec<u8>) -> Response {
    let ct = match form {
        Form::Proto => PROTOBUF,
        Form::Json => JSON,
    };
    (code, [(header::CONTENT_TYPE, HeaderValue::from_static(ct))], body).into_response()
}

fn error(form: Form, code: StatusCode, grpc_code: i32, message: &str, retry: Option<std::time::Duration>) -> Response {
    let body = match form {
        Form::Proto => status::proto(&status::status(grpc_code, message, retry)),
        Form::Json => status::json(grpc_code, message, retry),
    };
    let mut r = answer(form, code, body);
    if let Some(d) = retry {
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

async fn traces(state: State<Http>, headers: HeaderMap, body: HttpBody) -> Response {
    export(Signal::Traces, state, headers, body).await
}

async fn metrics(state: State<Http>, headers: HeaderMap, body: HttpBody) -> Response {
    export(Signal::Metrics, state, headers, body).await
}

async fn logs(state: State<Http>, headers: HeaderMap, body: HttpBody) -> Response {
    export(Signal::Logs, state, headers, body).await
}

async fn export(signal: Signal, State(s): State<Http>, headers: HeaderMap, body: HttpBody) -> Response {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let form = match essence.as_str() {
        PROTOBUF => Form::Proto,
        JSON => Form::Json,
        _ => {
            s.ingest.refused();
            let msg = format!("Content-Type `{ct}` is not {PROTOBUF} or {JSON}");
            return error(Form::Proto, StatusCode::UNSUPPORTED_MEDIA_TYPE, status::UNIMPLEMENTED, &msg, None);
        }
    };
    let retry = s.ingest.retry_after;
    // Refuse before reading and decoding the body when the engine is already behind.
    if s.ingest.busy() {
        return error(
            form,
            StatusCode::SERVICE_UNAVAILABLE,
            status::UNAVAILABLE,
            "the engine's queue is full",
            Some(retry),
        );
    }
    let too_large = |s: &Http| {
        s.ingest.refused();
        let msg = format!("the request is larger than {} bytes", s.max_bytes);
        error(form, StatusCode::PAYLOAD_TOO_LARGE, status::RESOURCE_EXHAUSTED, &msg, None)
    };
    let Ok(raw) = axum::body::to_bytes(body, s.max_bytes).await else {
        return too_large(&s);
    };
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    let inflated;
    let bytes: &[u8] = match encoding.trim().to_ascii_lowercase().as_str() {
        "identity" | "" => &raw,
        "gzip" => match inflate_gzip(&raw, s.max_bytes) {
            Ok(out) => {
                inflated = out;
                &inflated
            }
            Err(GzipError::TooLarge) => return too_large(&s),
            Err(GzipError::NotGzip(e)) => {
                s.ingest.refused();
                let msg = format!("the body is not valid gzip: {e}");
                return error(form, StatusCode::BAD_REQUEST, status::INVALID_ARGUMENT, &msg, None);
            }
        },
        other => {
            s.ingest.refused();
            let msg = format!("Content-Encoding `{other}` is not gzip");
            return error(form, StatusCode::UNSUPPORTED_MEDIA_TYPE, status::UNIMPLEMENTED, &msg, None);
        }
    };
    let outcome = s.ingest.export(
        signal,
        match form {
            Form::Proto => Body::Proto(bytes),
            Form::Json => Body::Json(bytes),
        },
    );
    match outcome {
        Outcome::Accepted(summary) => {
            let partial = (summary.rejected > 0).then(|| (summary.rejected as i64, partial_message(&summary)));
            let body =
                match (form, signal) {
                    (Form::Proto, Signal::Traces) => ExportTraceServiceResponse {
                        partial_success: partial.map(|(rejected_spans, error_message)| ExportTracePartialSuccess {
                            rejected_spans,
                            error_message,
                        }),
                    }
                    .encode_to_vec(),
                    (Form::Proto, Signal::Metrics) => ExportMetricsServiceResponse {
                        partial_success: partial.map(|(rejected_data_points, error_message)| {
                            ExportMetricsPartialSuccess { rejected_data_points, error_message }
                        }),
                    }
                    .encode_to_vec(),
                    (Form::Proto, Signal::Logs) => ExportLogsServiceResponse {
                        partial_success: partial.map(|(rejected_log_records, error_message)| {
                            ExportLogsPartialSuccess { rejected_log_records, error_message }
                        }),
                    }
                    .encode_to_vec(),
                    (Form::Json, _) => match partial {
                        None => b"{}".to_vec(),
                        Some((n, message)) => {
                            let count = match signal {
                                Signal::Traces => "rejectedSpans",
                                Signal::Metrics => "rejectedDataPoints",
                                Signal::Logs => "rejectedLogRecords",
                            };
                            serde_json::json!({ "partialSuccess": { count: n.to_string(), "errorMessage": message } })
                                .to_string()
                                .into_bytes()
                        }
                    },
                };
            answer(form, StatusCode::OK, body)
        }
        Outcome::Busy => {
            error(form, StatusCode::SERVICE_UNAVAILABLE, status::UNAVAILABLE, "the engine's queue is full", Some(retry))
        }
        Outcome::Stopped => {
            error(form, StatusCode::SERVICE_UNAVAILABLE, status::UNAVAILABLE, "the service is stopping", Some(retry))
        }
        Outcome::Invalid(why) => error(form, StatusCode::BAD_REQUEST, status::INVALID_ARGUMENT, &why, None),
    }
}

#[cfg(test)]
mod tests {
    //! The bounded gzip read: what fits is inflated whole, what does not is refused, bad bytes are errors.

    use std::io::Write;

    use proptest::prelude::*;

    use super::*;

    fn gzip(b: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b).unwrap();
        enc.finish().unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn bodies_within_the_limit_inflate_whole_and_larger_ones_are_refused(
            body in proptest::collection::vec(any::<u8>(), 0..3000),
            max_bytes in 0usize..3000,
        ) {
            match inflate_gzip(&gzip(&body), max_bytes) {
                Ok(out) => prop_assert_eq!(out, body),
                Err(GzipError::TooLarge) => prop_assert!(body.len() > max_bytes),
                Err(GzipError::NotGzip(e)) => prop_assert!(false, "valid gzip refused: {}", e),
            }
        }

        /// The `otlp_http` fuzz target's property: no panic, never more than the limit.
        #[test]
        fn arbitrary_bytes_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
            cut in any::<prop::sample::Index>(),
        ) {
            let valid = gzip(&bytes);
            for raw in [&bytes[..], &valid[..cut.index(valid.len())]] {
                if let Ok(out) = inflate_gzip(raw, 200) {
                    prop_assert!(out.len() <= 200);
                }
            }
        }
    }
}
