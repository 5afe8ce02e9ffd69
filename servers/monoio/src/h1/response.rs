//! Response heads, written the way hyper writes them, so every arm sends the same header set: status line in
//! the request's version, `content-type` (JSON responses only), `content-length`, `connection` when it
//! differs from the version's default, `date`. Codec errors (400, 431) carry an empty body, like hyper's.

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use http::StatusCode;
use shared::api::JSON_CONTENT_TYPE;

use super::head::Version;

/// The interim response to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the response says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Kept open: HTTP/1.0 says so explicitly (`connection: keep-alive`), HTTP/1.1 by default.
    KeepAlive,
    /// Closed after this response: HTTP/1.1 says so (`connection: close`), HTTP/1.0 by default.
    Close,
}

/// One response head and its body.
#[derive(Debug, Clone, Copy)]
pub struct ResponseParts<'a> {
    pub version: Version,
    pub status: u16,
    /// A JSON body (`content-type: application/json`) or a codec error's empty one (no content type).
    pub json: bool,
    pub body: &'a [u8],
    /// HEAD: the head says how long the body is, but the body is not sent.
    pub head_only: bool,
    pub persistence: Persistence,
}

/// Appends the response to `out`.
pub fn encode(out: &mut Vec<u8>, parts: &ResponseParts<'_>) {
    let status = StatusCode::from_u16(parts.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    out.extend_from_slice(parts.version.as_str().as_bytes());
    // Writing into a Vec cannot fail.
    let _ = write!(out, " {} {}\r\n", status.as_str(), status.canonical_reason().unwrap_or("Unknown"));
    if parts.json {
        out.extend_from_slice(b"content-type: ");
        out.extend_from_slice(JSON_CONTENT_TYPE.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let _ = write!(out, "content-length: {}\r\n", parts.body.len());
    match (parts.version, parts.persistence) {
        (Version::Http11, Persistence::Close) => out.extend_from_slice(b"connection: close\r\n"),
        (Version::Http10, Persistence::KeepAlive) => out.extend_from_slice(b"connection: keep-alive\r\n"),
        _ => {}
    }
    out.extend_from_slice(b"date: ");
    with_date(|date| out.extend_from_slice(date));
    out.extend_from_slice(b"\r\n\r\n");
    if !parts.head_only {
        out.extend_from_slice(parts.body);
    }
}

/// The `date` header value, formatted once per second per worker thread (as hyper caches it).
fn with_date(use_date: impl FnOnce(&[u8])) {
    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    CACHED.with_borrow_mut(|(cached_second, text)| {
        if *cached_second != second {
            *text = httpdate::fmt_http_date(now);
            *cached_second = second;
        }
        use_date(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(parts: ResponseParts<'_>) -> String {
        let mut out = Vec::new();
        encode(&mut out, &parts);
        String::from_utf8(out).expect("ASCII")
    }

    fn without_date(response: &str) -> String {
        response.lines().filter(|line| !line.starts_with("date: ")).collect::<Vec<_>>().join("\n")
    }

    const OK: ResponseParts<'static> = ResponseParts {
        version: Version::Http11,
        status: 200,
        json: true,
        body: b"{}",
        head_only: false,
        persistence: Persistence::KeepAlive,
    };

    #[test]
    fn a_kept_alive_json_response_has_hypers_header_set() {
        let response = encoded(OK);
        assert!(
            response.starts_with("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\ndate: ")
        );
        assert!(response.ends_with(" GMT\r\n\r\n{}"), "{response:?}");
        let date = response.lines().find_map(|line| line.strip_prefix("date: ")).expect("a date header");
        assert!(httpdate::parse_http_date(date).is_ok(), "{date:?} is an HTTP date");
    }

    #[test]
    fn connection_is_named_only_against_the_versions_default() {
        let close = encoded(ResponseParts { persistence: Persistence::Close, ..OK });
        assert!(close.contains("\r\nconnection: close\r\n"));
        let old_kept = encoded(ResponseParts { version: Version::Http10, ..OK });
        assert!(old_kept.starts_with("HTTP/1.0 200 OK\r\n"));
        assert!(old_kept.contains("\r\nconnection: keep-alive\r\n"));
        let old_closed = encoded(ResponseParts { version: Version::Http10, persistence: Persistence::Close, ..OK });
        assert!(!old_closed.contains("connection:"));
    }

    #[test]
    fn head_and_codec_errors_are_shaped_like_hypers() {
        assert!(encoded(ResponseParts { head_only: true, ..OK }).ends_with("\r\n\r\n"));
        let rejected =
            encoded(ResponseParts { status: 431, json: false, body: b"", persistence: Persistence::Close, ..OK });
        assert_eq!(
            without_date(&rejected),
            "HTTP/1.1 431 Request Header Fields Too Large\ncontent-length: 0\nconnection: close\n"
        );
    }
}
