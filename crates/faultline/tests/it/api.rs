//! The gRPC API with a client generated from the same .proto by grpcio-tools (Python): during
//! `faultline demo --follow` it watches an incident open and resolve, resumes after a sequence
//! number, lists and gets the incident; `faultline incidents` lists it too.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{bin, python, repo, wait_exit};

#[test]
fn a_generated_client_watches_an_incident_open_and_resolve_and_resumes_after_a_sequence_number() {
    let mut demo = Command::new(bin())
        .args(["demo", "--follow", "--quiet", "--json", "--seconds", "20"])
        .env("FAULTLINE_ADMIN_PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("the demo printed its gRPC address").unwrap();
        if let Some(rest) = line.split("gRPC API on ").nth(1) {
            break rest.split(' ').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let out = Command::new(python()).arg(repo("scripts/grpc/watch.py")).args([&addr, "90"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let seen = report["seen"].as_array().unwrap();
    let first = &seen[0];
    assert!(first["action"] == "OPENED" || first["snapshot"] == true, "it starts with the incident: {report}");
    assert_eq!(first["service"], "payments-api");
    let last = seen.last().unwrap();
    assert_eq!(last["action"], "RESOLVED", "the watch sees it resolve: {report}");
    assert_eq!(last["status"], "resolved");
    assert!(seen.windows(2).all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()), "in sequence order: {report}");
    // Resumed after the first event: the same events again, in the same order.
    assert_eq!(report["resumed"].as_array().unwrap()[..], seen[1..], "{report}");
    assert!(report["listed"].as_array().unwrap().contains(&first["dedup_key"]), "{report}");
    assert_eq!(report["got"], "payments-api");
    assert_eq!(report["missing"], "NOT_FOUND");
    assert_eq!(report["stale"], "OUT_OF_RANGE", "a number older than what is kept: watch again from 0");
    // The CLI client lists it from the same API.
    let listed =
        Command::new(bin()).args(["incidents", "--json", "--url", &format!("http://{addr}")]).output().unwrap();
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let text = String::from_utf8(listed.stdout).unwrap();
    let inc: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(inc["dedup_key"], first["dedup_key"]);
    assert_eq!(inc["status"], "resolved");
    assert!(Command::new("kill").args(["-TERM", &demo.id().to_string()]).status().unwrap().success());
    assert!(wait_exit(&mut demo, Duration::from_secs(30)).success());
}
