//! Error answers as the OTLP specification asks: a `google.rpc.Status` in the request's content type, with `RetryInfo` when retrying helps.

use std::time::Duration;

use prost::Message;
use tonic_types::pb::{RetryInfo, Status};

/// gRPC's code for a retryable refusal.
pub(crate) const UNAVAILABLE: i32 = 14;
/// gRPC's code for a request that is not valid.
pub(crate) const INVALID_ARGUMENT: i32 = 3;
/// gRPC's code for a request too large.
pub(crate) const RESOURCE_EXHAUSTED: i32 = 8;
/// gRPC's code for an unsupported media type or method.
pub(crate) const UNIMPLEMENTED: i32 = 12;

const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

fn delay(d: Duration) -> prost_types::Duration {
    prost_types::Duration { seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nanos: d.subsec_nanos() as i32 }
}

/// A `google.rpc.Status`, with a `RetryInfo` detail when `retry` is set.
pub(crate) fn status(code: i32, message: &str, retry: Option<Duration>) -> Status {
    let details = retry
        .map(|d| prost_types::Any {
            type_url: RETRY_INFO_TYPE.to_string(),
            value: RetryInfo { retry_delay: Some(delay(d)) }.encode_to_vec(),
        })
        .into_iter()
        .collect();
    Status { code, message: message.to_string(), details }
}

/// The protobuf bytes of a status.
pub(crate) fn proto(s: &Status) -> Vec<u8> {
    s.encode_to_vec()
}

/// The OTLP/JSON form of a status (proto3 JSON mapping: `RetryInfo`'s delay as a duration string).
pub(crate) fn json(code: i32, message: &str, retry: Option<Duration>) -> Vec<u8> {
    let details: Vec<serde_json::Value> = retry
        .map(|d| serde_json::json!({ "@type": RETRY_INFO_TYPE, "retryDelay": format!("{}s", d.as_secs_f64()) }))
        .into_iter()
        .collect();
    serde_json::json!({ "code": code, "message": message, "details": details }).to_string().into_bytes()
}

/// A tonic status with the same details (`grpc-status-details-bin`).
pub(crate) fn grpc(code: tonic::Code, message: &str, retry: Option<Duration>) -> tonic::Status {
    let s = status(code as i32, message, retry);
    tonic::Status::with_details(code, message.to_string(), s.encode_to_vec().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_info_round_trips_in_both_forms() {
        let s = status(UNAVAILABLE, "queue full", Some(Duration::from_millis(1500)));
        let back = Status::decode(&proto(&s)[..]).unwrap();
        assert_eq!(back.code, UNAVAILABLE);
        assert_eq!(back.details[0].type_url, RETRY_INFO_TYPE);
        let info = RetryInfo::decode(&back.details[0].value[..]).unwrap();
        assert_eq!(info.retry_delay, Some(prost_types::Duration { seconds: 1, nanos: 500_000_000 }));
        let j: serde_json::Value =
            serde_json::from_slice(&json(UNAVAILABLE, "queue full", Some(Duration::from_secs(2)))).unwrap();
        assert_eq!(j["code"], 14);
        assert_eq!(j["details"][0]["retryDelay"], "2s");
        let g = grpc(tonic::Code::Unavailable, "queue full", Some(Duration::from_secs(1)));
        let d = Status::decode(g.details()).unwrap();
        assert_eq!((d.code, d.details.len()), (UNAVAILABLE, 1));
    }
}
