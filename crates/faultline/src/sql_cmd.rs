//! `faultline sql`: a query against a running instance's `POST /api/v1/sql`, printed as a
//! table, CSV or JSON.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

/// `faultline sql` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct SqlArgs {
    /// Base URL of the instance (its admin port).
    #[arg(long, default_value = "http://127.0.0.1:7070")]
    url: String,
    /// How to print the answer.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    format: SqlFormat,
    /// The variable holding the instance's SQL token, sent as `Authorization: Bearer` when set.
    #[arg(long, default_value = "FAULTLINE_SQL_TOKEN")]
    token_env: String,
    /// The query.
    query: String,
}

/// How `faultline sql` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SqlFormat {
    /// A table for the terminal.
    Table,
    /// CSV with a header line.
    Csv,
    /// A JSON array of rows.
    Json,
}

/// Runs the query and prints its answer; an error from the instance is the command's.
pub(crate) fn run(args: SqlArgs) -> anyhow::Result<ExitCode> {
    let accept = match args.format {
        SqlFormat::Table => "text/plain",
        SqlFormat::Csv => "text/csv",
        SqlFormat::Json => "application/json",
    };
    let token = std::env::var(&args.token_env).ok().filter(|t| !t.trim().is_empty());
    let (status, headers, body) = post(&args.url, "/api/v1/sql", accept, token.as_deref(), &args.query)?;
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| text.trim().to_string());
        anyhow::bail!("{message}");
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&body)?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    if headers.iter().any(|(k, v)| k == "x-faultline-truncated" && v == "true") {
        let rows = headers.iter().find(|(k, _)| k == "x-faultline-rows").map_or("?", |(_, v)| v.as_str());
        eprintln!("faultline: only the first {rows} rows ([sql] max_rows)");
    }
    Ok(ExitCode::SUCCESS)
}

/// An HTTP answer: status, headers (names lower-cased), body.
type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// One HTTP/1.1 POST over plain TCP.
fn post(url: &str, path: &str, accept: &str, token: Option<&str>, body: &str) -> anyhow::Result<Reply> {
    let rest = url.strip_prefix("http://").with_context(|| format!("`{url}` is not an http:// URL"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut s = TcpStream::connect(authority).with_context(|| format!("connecting to {authority}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let auth = token.map(|t| format!("Authorization: Bearer {}\r\n", t.trim())).unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: {accept}\r\n{auth}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).with_context(|| format!("reading the answer from {authority}"))?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("an HTTP answer without headers")?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut content = raw[split + 4..].to_vec();
    if headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked")) {
        content = dechunk(&content)?;
    }
    Ok((status, headers, content))
}

/// A chunked body put back together.
fn dechunk(mut raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").context("a chunk without its size line")?;
        let size = usize::from_str_radix(String::from_utf8_lossy(&raw[..line_end]).trim(), 16)
            .context("a chunk size that is not hexadecimal")?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        anyhow::ensure!(raw.len() >= size + 2, "a chunk cut short");
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_put_back_together_and_bad_ones_refused() {
        assert_eq!(dechunk(b"5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n").unwrap(), b"hello!");
        assert!(dechunk(b"zz\r\n").is_err());
        assert!(dechunk(b"9\r\nhello\r\n").is_err());
    }
}
