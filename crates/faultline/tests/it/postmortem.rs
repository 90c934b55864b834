//! `faultline replay --emit postmortems`: a Markdown draft per incident, following the runbooks' template.

use std::process::Command;

#[test]
fn replay_renders_a_postmortem_draft_with_sane_shares() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["replay", "--input", "testdata/payments-burst.jsonl", "--emit", "postmortems", "--quiet"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = String::from_utf8(out.stdout).unwrap();
    for section in
        ["# Postmortem: ", "## Summary", "## Impact", "## Timeline (event time, UTC)", "## Probable root cause"]
    {
        assert!(md.contains(section), "missing {section:?} in:\n{md}");
    }
    assert!(md.contains("| Onset | 2026-11-20T18:02:"), "onset near the burst's start:\n{md}");
    // Regression: shares of errors per dimension were divided by the service's inbound
    // errors only, and came out as 23300 %.
    let impact_lines = md.lines().filter(|l| l.starts_with("- ") && l.contains("% of errors on "));
    for line in impact_lines.filter(|l| l[2..].starts_with(|c: char| c.is_ascii_digit())) {
        let pct: f64 = line.trim_start_matches("- ").split('%').next().unwrap().parse().unwrap();
        assert!((0.0..=100.0).contains(&pct), "share out of range: {line}");
    }
}
