//! The PagerDuty sink against the strict local PagerDuty: faults, a bad routing key, an outage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faultline_sinks::Action;
use faultline_sinks::fake::{FakePagerDuty, Fault, Seen};
use faultline_sinks::pagerduty::{PagerDuty, PagerDutyConfig, RoutingKey};

use crate::common::{event, start, until};

const KEY: &str = "R0UT1NGKEY0000000000000000000001";
const UNKNOWN: &str = "R0UT1NGKEY00000000000000000000XX";

fn receiver(url: &str) -> Box<PagerDuty> {
    let config = PagerDutyConfig {
        url: url.to_string(),
        default_key: Some(RoutingKey(KEY.into())),
        by_service: BTreeMap::from([("ghost".to_string(), RoutingKey(UNKNOWN.into()))]),
        per_minute: 6000,
        console_url: Some("http://127.0.0.1:7070".into()),
        timeout: Duration::from_secs(2),
        ..PagerDutyConfig::default()
    };
    Box::new(PagerDuty::new(config).unwrap())
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(k, a)| (k.to_string(), a.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_500s_and_429s_every_trigger_and_resolve_arrives_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    seen.lock().unwrap().faults.extend([Fault::ServerError, Fault::ServerError, Fault::TooMany(1), Fault::ServerError]);
    let (pd, server) = FakePagerDuty::start("127.0.0.1:0".parse().unwrap(), &[KEY], seen.clone()).await.unwrap();
    let run = start(dir.path(), "pd", receiver(&pd.url()));
    run.append(&[
        event("pay/1", "payments", Action::Opened, "P2"),
        // Same severity: no second page.
        event("pay/1", "payments", Action::Updated, "P2"),
        // An escalation: the same alert, triggered again.
        event("pay/1", "payments", Action::Updated, "P1"),
        event("shop/1", "shop", Action::Opened, "P3"),
        event("pay/1", "payments", Action::Resolved, "P1"),
        event("shop/1", "shop", Action::Resolved, "P3"),
    ]);
    let want = pairs(&[
        ("pay/1", "trigger"),
        ("pay/1", "trigger"),
        ("shop/1", "trigger"),
        ("pay/1", "resolve"),
        ("shop/1", "resolve"),
    ]);
    assert!(until(Duration::from_secs(20), || pd.actions().len() >= want.len()).await, "{:?}", pd.actions());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(pd.actions(), want);
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.faulted, 4, "every fault was met and retried");
        assert!(s.invalid.is_empty(), "every request was valid: {:?}", s.invalid);
        let first = &s.accepted[0];
        assert_eq!(first["payload"]["severity"], "warning", "P2 is warning");
        assert_eq!(s.accepted[1]["payload"]["severity"], "error", "P1 is error");
        assert_eq!(first["payload"]["source"], "payments");
        assert_eq!(first["payload"]["class"], "upstream_provider_down");
        assert_eq!(first["payload"]["component"], "operation=POST /charge");
        assert_eq!(first["payload"]["custom_details"]["runbook"][0], "Check the provider's status page");
        assert_eq!(first["links"][0]["href"], "http://127.0.0.1:7070/incidents/inc-pay/1");
    }
    assert_eq!(run.stats.retries.load(std::sync::atomic::Ordering::Relaxed), 4);
    run.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_routing_key_is_dead_lettered_with_pagerdutys_message_and_the_rest_flows() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (pd, server) = FakePagerDuty::start("127.0.0.1:0".parse().unwrap(), &[KEY], seen.clone()).await.unwrap();
    let run = start(dir.path(), "pd", receiver(&pd.url()));
    run.append(&[event("ghost/1", "ghost", Action::Opened, "P1"), event("pay/2", "payments", Action::Opened, "P0")]);
    assert!(until(Duration::from_secs(10), || pd.actions().len() == 1).await);
    assert_eq!(pd.actions(), pairs(&[("pay/2", "trigger")]));
    assert_eq!(seen.lock().unwrap().accepted[0]["payload"]["severity"], "critical");
    let dead = std::fs::read_to_string(dir.path().join("pd.dead.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(dead.lines().next().unwrap()).unwrap();
    assert_eq!(line["dedup_key"], "ghost/1");
    assert!(line["error"].as_str().unwrap().contains("Invalid routing key"), "{line}");
    assert!(!dead.contains(UNKNOWN), "the routing key is never written out");
    run.stop().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_pagerduty_is_down_events_wait_and_arrive_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (pd, server) = FakePagerDuty::start("127.0.0.1:0".parse().unwrap(), &[KEY], seen.clone()).await.unwrap();
    let addr = pd.addr;
    server.abort();
    let _ = server.await;
    let run = start(dir.path(), "pd", receiver(&pd.url()));
    run.append(&[event("pay/3", "payments", Action::Opened, "P1"), event("pay/3", "payments", Action::Resolved, "P1")]);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(run.stats.retries.load(std::sync::atomic::Ordering::Relaxed) > 0, "connection refused is retried");
    assert!(pd.actions().is_empty());
    let (pd, server) = FakePagerDuty::start(addr, &[KEY], seen.clone()).await.unwrap();
    assert!(until(Duration::from_secs(10), || pd.actions().len() == 2).await);
    assert_eq!(pd.actions(), pairs(&[("pay/3", "trigger"), ("pay/3", "resolve")]));
    run.stop().await;
    server.abort();
}
