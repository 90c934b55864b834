//! The webhook sink against a receiver that verifies every signature and fails at first.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use faultline_sinks::Action;
use faultline_sinks::webhook::{Webhook, verify};

use crate::common::{event, start, until};

#[derive(Default)]
struct Hook {
    got: Mutex<Vec<(String, String, String)>>,
    fail_first: AtomicU32,
    bad_signatures: AtomicU32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_arrive_once_in_order_after_503s_with_custom_headers() {
    let hook = Arc::new(Hook { fail_first: AtomicU32::new(3), ..Hook::default() });
    let h = hook.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let h = h.clone();
            async move {
                if h.fail_first.load(Ordering::SeqCst) > 0 {
                    h.fail_first.fetch_sub(1, Ordering::SeqCst);
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let ts: u64 = get("x-faultline-timestamp").parse().unwrap_or(0);
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                if !verify(b"hook-secret", &get("x-faultline-signature"), ts, &body, now, 300) {
                    h.bad_signatures.fetch_add(1, Ordering::SeqCst);
                    return StatusCode::UNAUTHORIZED;
                }
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                h.got.lock().unwrap().push((
                    get("x-faultline-event"),
                    get("x-team"),
                    v["action"].as_str().unwrap().to_string(),
                ));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let receiver = Webhook::new(
        &url,
        Some(b"hook-secret".to_vec()),
        vec![("X-Team".into(), "payments-oncall".into())],
        Duration::from_secs(2),
    )
    .unwrap();
    let run = start(dir.path(), "hook", Box::new(receiver));
    run.append(&[
        event("pay/1", "payments", Action::Opened, "P1"),
        event("pay/1", "payments", Action::Updated, "P1"),
        event("pay/1", "payments", Action::Resolved, "P1"),
    ]);
    assert!(until(Duration::from_secs(10), || hook.got.lock().unwrap().len() >= 3).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = hook.got.lock().unwrap().clone();
    let want: Vec<(String, String, String)> = ["opened", "updated", "resolved"]
        .iter()
        .map(|a| (format!("pay/1 {a}"), "payments-oncall".to_string(), a.to_string()))
        .collect();
    assert_eq!(got, want, "every event, each once, in order, with the custom header");
    assert_eq!(hook.bad_signatures.load(Ordering::SeqCst), 0, "every signature verified");
    assert_eq!(run.stats.retries.load(Ordering::Relaxed), 3);
    run.stop().await;
    server.abort();
}
