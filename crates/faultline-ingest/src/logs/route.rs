//! An access log's request line to a bounded operation name: method and normalised path, `GET /users/:id`.
//!
//! The path loses its query string and fragment, empty segments and a
//! trailing slash; segments that are ids become `:id`, so one route is one
//! series however many users, orders or files it serves:
//! - all digits (`42`), a UUID (`123e4567-e89b-12d3-a456-426614174000`),
//!   16 or more hex digits (`5f2b8c1e9a7d4e3f`),
//! - 8 or more characters holding a digit (`ord12345678`, `2026-11-20`,
//!   hashed assets `app.3f2a1b9c.js`),
//! - longer than 48 bytes (a token, a slug).
//!
//! Only the first [`MAX_SEGMENTS`] segments are kept; a deeper path ends
//! in `/*` (`/api/v1/users/:id/*`), so with the 48-byte cap an operation stays
//! well under the label limit. An absolute-form target (`http://host/path`,
//! sent to proxies and by scanners) keeps only its path; `*` stays `*`.
//!
//! The method is one of the nine of RFC 9110 and PATCH; another token is
//! `_OTHER` (as OpenTelemetry's `http.request.method` does), so random
//! methods add no series. A request line that is not `METHOD TARGET
//! [PROTOCOL]` with a target of that shape (`-`, an empty line, TLS bytes
//! that scanners send to a plain port) is the operation [`INVALID`]: its 400s
//! stay visible, grouped in one series.

/// The operation of a request line that is no HTTP request.
pub(super) const INVALID: &str = "invalid";
/// Path segments kept in an operation.
pub(super) const MAX_SEGMENTS: usize = 4;
/// Longest path segment kept as it is; a longer one is `:id`.
const MAX_SEGMENT_BYTES: usize = 48;

const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];

/// Writes the operation of `request` (`GET /users/42?x=1 HTTP/1.1`) into `out` (cleared first).
pub(super) fn operation(request: &str, out: &mut String) {
    out.clear();
    let mut parts = request.split(' ');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        out.push_str(INVALID);
        return;
    };
    let protocol_ok = match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(p), None) => p.starts_with("HTTP/"),
        (Some(_), Some(_)) => false,
    };
    let method_ok = !method.is_empty() && method.len() <= 20 && method.bytes().all(|c| c.is_ascii_uppercase());
    let path = if target == "*" {
        Some("*")
    } else if target.starts_with('/') {
        Some(target)
    } else {
        ["http://", "https://"]
            .iter()
            .find_map(|s| target.get(..s.len()).filter(|p| p.eq_ignore_ascii_case(s)).map(|_| &target[s.len()..]))
            .map(|rest| rest.find('/').map_or("/", |i| &rest[i..]))
    };
    let (true, true, Some(path)) = (protocol_ok, method_ok, path) else {
        out.push_str(INVALID);
        return;
    };
    out.push_str(METHODS.iter().find(|m| **m == method).copied().unwrap_or("_OTHER"));
    out.push(' ');
    if path == "*" {
        out.push('*');
        return;
    }
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut kept = 0;
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        if kept == MAX_SEGMENTS {
            out.push_str("/*");
            return;
        }
        out.push('/');
        out.push_str(if is_id(seg) { ":id" } else { seg });
        kept += 1;
    }
    if kept == 0 {
        out.push('/');
    }
}

/// Whether a path segment is an id (see the module doc).
fn is_id(seg: &str) -> bool {
    let b = seg.as_bytes();
    if b.len() > MAX_SEGMENT_BYTES || b.iter().all(u8::is_ascii_digit) {
        return true;
    }
    if b.len() >= 16 && b.iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    if b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
    {
        return true;
    }
    b.len() >= 8 && b.iter().any(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(request: &str) -> String {
        let mut out = String::from("stale");
        operation(request, &mut out);
        out
    }

    #[test]
    fn ids_become_placeholders_and_depth_is_capped() {
        for (request, want) in [
            ("GET /api/v1/users/42 HTTP/1.1", "GET /api/v1/users/:id"),
            ("GET /users/42/orders?page=2 HTTP/1.1", "GET /users/:id/orders"),
            ("DELETE /items/123e4567-e89b-12d3-a456-426614174000 HTTP/2.0", "DELETE /items/:id"),
            ("GET /blobs/5f2b8c1e9a7d4e3f HTTP/1.1", "GET /blobs/:id"),
            ("GET /orders/ord12345678 HTTP/1.1", "GET /orders/:id"),
            ("GET /static/app.3f2a1b9c.js HTTP/1.1", "GET /static/:id"),
            ("GET /api/v2/health HTTP/1.1", "GET /api/v2/health"),
            ("GET /a/b/c/d/e/f HTTP/1.1", "GET /a/b/c/d/*"),
            ("GET /a/b/c/d HTTP/1.1", "GET /a/b/c/d"),
            ("GET / HTTP/1.1", "GET /"),
            ("GET //x//y/ HTTP/1.1", "GET /x/y"),
            ("GET /?q=1 HTTP/1.1", "GET /"),
            ("GET /index.html#top HTTP/1.0", "GET /index.html"),
            ("GET /legacy", "GET /legacy"),
            ("OPTIONS * HTTP/1.1", "OPTIONS *"),
            ("GET http://example.com/proxy/7 HTTP/1.1", "GET /proxy/:id"),
            ("GET HTTPS://example.com HTTP/1.1", "GET /"),
            ("PROPFIND /dav HTTP/1.1", "_OTHER /dav"),
            (&format!("GET /t/{} HTTP/1.1", "x".repeat(49)), "GET /t/:id"),
        ] {
            assert_eq!(op(request), want, "{request}");
        }
    }

    #[test]
    fn garbage_is_invalid() {
        for request in [
            "-",
            "",
            "GET",
            r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03",
            "get / HTTP/1.1",
            "GET x HTTP/1.1",
            "GET / HTTP/1.1 extra",
            "GET / FTP",
        ] {
            assert_eq!(op(request), INVALID, "{request}");
        }
    }
}
