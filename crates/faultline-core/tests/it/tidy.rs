//! Tidy checks: the core stays free of I/O crates, and every source file says its one job.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that mean I/O, an async runtime or a query engine; the core must reach none of them.
const FORBIDDEN: [&str; 12] =
    ["tokio", "mio", "rdkafka", "tonic", "h2", "hyper", "axum", "reqwest", "datafusion", "arrow", "parquet", "prost"];

#[test]
fn core_reaches_no_io_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", "faultline-core", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("running cargo tree");
    assert!(out.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8_lossy(&out.stdout);
    let bad: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| FORBIDDEN.iter().any(|f| *name == *f || name.starts_with(&format!("{f}-"))))
        .collect();
    assert!(bad.is_empty(), "faultline-core depends on {bad:?}");
    assert!(tree.contains("hdrhistogram"), "sanity: the tree lists dependencies");
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading a source dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "target" || n == "snapshots") {
                continue;
            }
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_source_file_opens_with_its_job() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["crates", "benches", "fuzz"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 10, "found only {} files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(missing.is_empty(), "files without a `//!` first line: {missing:?}");
}
