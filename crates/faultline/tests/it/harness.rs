//! Starting `faultline` as a user would, with a config in a temporary directory, and talking HTTP to it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_faultline")
}

/// A repository path.
pub(crate) fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// Starts `faultline run --config CONFIG`, with stderr piped when `pipe_stderr`.
pub(crate) fn spawn_run(config: &Path, pipe_stderr: bool) -> Child {
    Command::new(bin())
        .args(["run", "--config"])
        .arg(config)
        .env("FAULTLINE_ADMIN_PORT", "0")
        .stdout(Stdio::null())
        .stderr(if pipe_stderr { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .expect("starting faultline")
}

/// Reads stderr until the admin address line; returns "host:port".
pub(crate) fn admin_addr(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        let line = line.expect("reading stderr");
        if let Some(rest) = line.split("admin on http://").nth(1) {
            let addr = rest.trim_end_matches('/').to_string();
            // Keep draining stderr so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return addr;
        }
    }
    panic!("faultline exited without printing its admin address");
}

/// A plain HTTP/1.1 GET: (status, body).
pub(crate) fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connecting to the admin endpoint");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// Waits for the child to exit, at most `limit`; kills it and panics past that.
pub(crate) fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("faultline did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain HTTP/1.1 POST with extra `headers`: (status, content type, body).
pub(crate) fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connecting to the admin endpoint");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let ct = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_string()))
        .unwrap_or_default();
    (status, ct, body.to_string())
}

/// The Python of the venv scripts/test.sh installs (`FAULTLINE_OTEL_PYTHON`, else the cache's):
/// the OpenTelemetry SDK, grpcio-tools, confluent-kafka and ADBC's Flight SQL driver are there.
pub(crate) fn python() -> PathBuf {
    if let Ok(p) = std::env::var("FAULTLINE_OTEL_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("FAULTLINE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/faultline"));
    let p = cache.join("venv/bin/python");
    assert!(p.exists(), "{} is missing: run scripts/test.sh, which installs the test clients there", p.display());
    p
}
