//! `faultline demo --json` opens and resolves an incident by itself, prints only incident JSON on stdout, exits 0.

use std::process::Command;

use crate::harness::bin;

#[test]
fn demo_json_opens_and_resolves_then_exits_0() {
    let out = Command::new(bin())
        .args(["demo", "--json", "--seconds", "3"])
        .env("FAULTLINE_ADMIN_PORT", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let actions: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            v["action"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(actions.first().map(String::as_str), Some("opened"), "{actions:?}");
    assert!(actions.iter().any(|a| a == "resolved"), "{actions:?}");
    assert!(stderr.contains("/metrics"), "URLs go to stderr: {stderr}");
}
