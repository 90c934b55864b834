//! The webhook sink: the incident event JSON, signed with HMAC-SHA256 over a timestamp and the body.
//!
//! `POST URL` with the event as DESIGN.md's JSON and these headers:
//! - `X-Faultline-Timestamp`: Unix seconds when the request was signed;
//! - `X-Faultline-Signature`: `v1=` and the hex HMAC-SHA256, keyed with the secret, of
//!   `{timestamp}.{body}`;
//! - `X-Faultline-Event`: `{dedup_key} {action}` (what receivers deduplicate on) and
//!   `X-Faultline-Delivery`: the outbox sequence number (the same on a re-delivery);
//! - the configured custom headers.
//!
//! A receiver checks the signature in constant time and refuses a timestamp older than it
//! allows (5 minutes, say): a captured request cannot be replayed later, and a changed body
//! or timestamp does not verify. 2xx is delivered; 408, 429 and 5xx are retried (honouring
//! `Retry-After`); any other 4xx is dead-lettered.

use std::time::Duration;

use faultline_core::incident::wire::IncidentEventJson;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::deliver::{Attempt, BoxFuture, Receiver, classify, transport_failure};
use crate::outbox::Entry;

/// The signature of `body` at `timestamp` under `secret`: `v1=` and 64 hex digits.
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let mut out = String::with_capacity(67);
    out.push_str("v1=");
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether `header` is the signature of `body` at `timestamp` under `secret`, and the
/// timestamp is within `tolerance` of `now` (Unix seconds): what a receiver checks.
pub fn verify(secret: &[u8], header: &str, timestamp: u64, body: &[u8], now: u64, tolerance: u64) -> bool {
    if now.abs_diff(timestamp) > tolerance {
        return false;
    }
    let Some(hex) = header.strip_prefix("v1=") else { return false };
    let Some(given) = (0..hex.len())
        .step_by(2)
        .map(|i| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// A webhook receiver.
pub struct Webhook {
    client: reqwest::Client,
    url: String,
    secret: Option<Vec<u8>>,
    headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret and header values may be credentials: never printed.
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Posts to `url`, signing with `secret` when given, with `headers` added; each attempt
    /// times out after `timeout`.
    pub fn new(
        url: &str,
        secret: Option<Vec<u8>>,
        headers: Vec<(String, String)>,
        timeout: Duration,
    ) -> Result<Webhook, reqwest::Error> {
        let client = reqwest::Client::builder().timeout(timeout).user_agent("faultline").build()?;
        Ok(Webhook { client, url: url.to_string(), secret, headers })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Receiver for Webhook {
    fn deliver<'a>(&'a mut self, entry: &'a Entry, _event: &'a IncidentEventJson) -> BoxFuture<'a, Attempt> {
        Box::pin(async move {
            let body = entry.json.clone().into_bytes();
            let ts = unix_now();
            let mut req = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Faultline-Timestamp", ts.to_string())
                .header("X-Faultline-Event", format!("{} {}", entry.dedup_key, entry.action.as_str()))
                .header("X-Faultline-Delivery", entry.seq.to_string());
            if let Some(secret) = &self.secret {
                req = req.header("X-Faultline-Signature", signature(secret, ts, &body));
            }
            for (k, v) in &self.headers {
                req = req.header(k, v);
            }
            match req.body(body).send().await {
                Ok(resp) => {
                    let (status, headers) = (resp.status(), resp.headers().clone());
                    let text = resp.text().await.unwrap_or_default();
                    classify(status, &headers, &text)
                }
                Err(e) => transport_failure(&e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_timestamp_and_secret_within_the_tolerance() {
        let body = br#"{"action":"opened"}"#;
        let sig = signature(b"s3cret", 1_795_000_000, body);
        assert_eq!(sig.len(), 67);
        assert!(verify(b"s3cret", &sig, 1_795_000_000, body, 1_795_000_100, 300));
        assert!(!verify(b"s3cret", &sig, 1_795_000_000, br#"{"action":"resolved"}"#, 1_795_000_100, 300), "body");
        assert!(!verify(b"s3cret", &sig, 1_795_000_001, body, 1_795_000_100, 300), "timestamp");
        assert!(!verify(b"other", &sig, 1_795_000_000, body, 1_795_000_100, 300), "secret");
        assert!(!verify(b"s3cret", &sig, 1_795_000_000, body, 1_795_000_400, 300), "a replay past the tolerance");
        assert!(!verify(b"s3cret", "v1=zz", 1_795_000_000, body, 1_795_000_000, 300));
        // A known vector, from Python's hmac: HMAC-SHA256("key", "1.x").
        assert_eq!(signature(b"key", 1, b"x"), "v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec");
    }
}
