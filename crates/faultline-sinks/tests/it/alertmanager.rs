//! The Alertmanager sink against the real Alertmanager (Debian's `prometheus-alertmanager`,
//! which scripts/test.sh installs): alerts arrive with their labels, group by service, resolve,
//! and are re-posted to an Alertmanager that restarted and forgot them.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use faultline_sinks::Action;
use faultline_sinks::alertmanager::Alertmanager;

use crate::common::{event, start, until};

const BIN: &str = "/usr/bin/prometheus-alertmanager";

struct Am {
    child: Child,
    base: String,
}

impl Drop for Am {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts Alertmanager on `port` with alerts grouped by service and a receiver that sends nowhere.
fn alertmanager(dir: &std::path::Path, port: u16) -> Am {
    assert!(
        std::path::Path::new(BIN).exists(),
        "{BIN} is missing: scripts/test.sh installs Debian's prometheus-alertmanager"
    );
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: sink\n  group_by: [service]\n  group_wait: 1s\n  group_interval: 1s\n\
         receivers:\n  - name: sink\n",
    )
    .unwrap();
    let storage = dir.join(format!("am-data-{port}"));
    let child = Command::new(BIN)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Am { child, base: format!("http://127.0.0.1:{port}") }
}

async fn get(url: &str) -> Option<serde_json::Value> {
    let resp = reqwest::get(url).await.ok()?;
    resp.json().await.ok()
}

/// Active alerts as (dedup_key, service, severity, cause).
async fn active(base: &str) -> Vec<(String, String, String, String)> {
    let Some(v) = get(&format!("{base}/api/v2/alerts?active=true&silenced=false&inhibited=false")).await else {
        return Vec::new();
    };
    let mut out: Vec<_> = v
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|a| a["status"]["state"] == "active")
        .map(|a| {
            let l = &a["labels"];
            let s = |k: &str| l[k].as_str().unwrap_or("").to_string();
            (s("dedup_key"), s("service"), s("severity"), s("cause"))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_fire_group_by_service_resolve_and_survive_an_alertmanager_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let am = alertmanager(dir.path(), port);
    let ready = until(Duration::from_secs(20), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).await;
    assert!(ready, "alertmanager did not start");
    let receiver = Alertmanager::new(&am.base, Some("http://127.0.0.1:7070".into()), Duration::from_secs(2)).unwrap();
    let (stop_refresh, refresh_stopped) = tokio::sync::watch::channel(false);
    let refresher = tokio::spawn(receiver.clone().refresh(Duration::from_millis(500), refresh_stopped));
    let run = start(dir.path(), "am", Box::new(receiver));
    run.append(&[
        event("pay/1", "payments", Action::Opened, "P1"),
        event("pay/2", "payments", Action::Opened, "P2"),
        event("shop/1", "shop", Action::Opened, "P3"),
    ]);
    let want = vec![
        ("pay/1".to_string(), "payments".to_string(), "P1".to_string(), "upstream_provider_down".to_string()),
        ("pay/2".to_string(), "payments".to_string(), "P2".to_string(), "upstream_provider_down".to_string()),
        ("shop/1".to_string(), "shop".to_string(), "P3".to_string(), "upstream_provider_down".to_string()),
    ];
    let mut got = Vec::new();
    for _ in 0..100 {
        got = active(&am.base).await;
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got, want, "three active alerts with their labels");
    // Grouped by service, as the route says: payments' two alerts in one group.
    let groups = get(&format!("{}/api/v2/alerts/groups", am.base)).await.unwrap();
    let mut sizes: Vec<(String, usize)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["labels"]["service"].as_str().unwrap_or("").to_string(), g["alerts"].as_array().unwrap().len()))
        .collect();
    sizes.sort();
    assert_eq!(sizes, [("payments".to_string(), 2), ("shop".to_string(), 1)]);
    let first = &get(&format!("{}/api/v2/alerts", am.base)).await.unwrap()[0];
    assert!(first["annotations"]["summary"].as_str().unwrap().contains("% of POST /charge failing"), "{first}");
    assert_eq!(first["generatorURL"].as_str().unwrap().split("/incidents/").next(), Some("http://127.0.0.1:7070"));

    // Alertmanager restarts and forgets (its state is in memory): the re-posts bring it back.
    drop(am);
    let am = alertmanager(dir.path(), port);
    let mut back = Vec::new();
    for _ in 0..100 {
        back = active(&am.base).await;
        if back == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(back, want, "a restarted Alertmanager learns the firing alerts again");

    // Resolved: gone from the active alerts.
    run.append(&[event("pay/1", "payments", Action::Resolved, "P1")]);
    let mut after = Vec::new();
    for _ in 0..100 {
        after = active(&am.base).await;
        if after.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(after, want[1..].to_vec(), "pay/1 resolved");
    let _ = stop_refresh.send(true);
    let _ = refresher.await;
    run.stop().await;
}
