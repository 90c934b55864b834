//! The Slack sink against a local incoming webhook that checks the Block Kit payload as Slack's
//! docs state it, and its rate limit.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use faultline_sinks::Action;
use faultline_sinks::slack::Slack;
use serde_json::Value;

use crate::common::{event, start_with, until};

/// What Slack's docs ask of an incoming webhook message with blocks; the problems found.
fn check(v: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    if v["text"].as_str().is_none_or(str::is_empty) {
        errs.push("no_text: a fallback `text` is required with blocks".to_string());
    }
    let Some(blocks) = v["blocks"].as_array() else { return vec!["invalid_blocks: not an array".into()] };
    if blocks.is_empty() || blocks.len() > 50 {
        errs.push(format!("invalid_blocks: {} blocks (1–50)", blocks.len()));
    }
    for b in blocks {
        let text_len = |t: &Value| t["text"].as_str().map_or(0, |s| s.chars().count());
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text" || text_len(&b["text"]) > 150 {
                    errs.push("invalid_blocks: a header is plain_text of at most 150 characters".into());
                }
            }
            Some("section") => {
                if let Some(fields) = b["fields"].as_array() {
                    if fields.len() > 10 || fields.iter().any(|f| text_len(f) > 2000) {
                        errs.push("invalid_blocks: at most 10 fields of 2000 characters".into());
                    }
                } else if b["text"]["type"] != "mrkdwn" || text_len(&b["text"]) > 3000 {
                    errs.push("invalid_blocks: a section's text is at most 3000 characters".into());
                }
            }
            Some("actions") => {
                let ok = b["elements"].as_array().is_some_and(|els| {
                    els.iter().all(|e| e["type"] == "button" && e["url"].as_str().is_some_and(|u| u.len() <= 3000))
                });
                if !ok {
                    errs.push("invalid_blocks: buttons with a url".into());
                }
            }
            Some("context") | Some("divider") => {}
            other => errs.push(format!("invalid_blocks: unknown block type {other:?}")),
        }
    }
    errs
}

#[derive(Default)]
struct Hook {
    got: Mutex<Vec<(Instant, Value)>>,
    invalid: Mutex<Vec<String>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opened_escalated_and_resolved_incidents_post_valid_block_kit_paced_under_the_limit() {
    let hook = Arc::new(Hook::default());
    let h = hook.clone();
    let app = axum::Router::new().route(
        "/services/T000/B000/XXXX",
        post(move |headers: HeaderMap, body: Bytes| {
            let h = h.clone();
            async move {
                let json_type =
                    headers.get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
                let v: Value = match serde_json::from_slice(&body) {
                    Ok(v) if json_type => v,
                    _ => return (StatusCode::BAD_REQUEST, "invalid_payload".to_string()),
                };
                let errs = check(&v);
                if !errs.is_empty() {
                    h.invalid.lock().unwrap().extend(errs.clone());
                    return (StatusCode::BAD_REQUEST, errs.join("; "));
                }
                h.got.lock().unwrap().push((Instant::now(), v));
                (StatusCode::OK, "ok".to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/services/T000/B000/XXXX", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let slack = Slack::new(&url, Some("http://faultline.example".into()), Duration::from_secs(2)).unwrap();
    // 120 a minute: half a second apart.
    let run = start_with(dir.path(), "slack", Box::new(slack), Some(120));
    run.append(&[
        event("pay/1", "payments", Action::Opened, "P2"),
        // Not an escalation: nothing posted.
        event("pay/1", "payments", Action::Updated, "P2"),
        event("pay/1", "payments", Action::Updated, "P0"),
        event("pay/1", "payments", Action::Resolved, "P0"),
    ]);
    assert!(until(Duration::from_secs(10), || hook.got.lock().unwrap().len() >= 3).await);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = hook.got.lock().unwrap().clone();
    assert!(hook.invalid.lock().unwrap().is_empty(), "{:?}", hook.invalid.lock().unwrap());
    let headers: Vec<String> =
        got.iter().map(|(_, v)| v["blocks"][0]["text"]["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(headers.len(), 3, "open, escalation, resolve: {headers:?}");
    assert!(headers[0].starts_with("P2 investigating: payments: 42 % of POST /charge failing"), "{headers:?}");
    assert!(headers[1].starts_with("P0 escalated: payments:"), "{headers:?}");
    assert!(headers[2].starts_with("P0 resolved: payments:"), "{headers:?}");
    let text = got[0].1.to_string();
    assert!(text.contains("upstream_provider_down") && text.contains("Check the provider"), "cause and steps: {text}");
    assert!(text.contains("http://faultline.example/incidents/inc-pay/1"), "the console link: {text}");
    for w in got.windows(2) {
        // Three deliveries in a row, the rate limit between them (the skipped update took a slot too).
        assert!(w[1].0.duration_since(w[0].0) >= Duration::from_millis(450), "paced at 120 a minute");
    }
    run.stop().await;
    server.abort();
}
