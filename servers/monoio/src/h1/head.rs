//! The request head: httparse parses the bytes; this module says what the parsed head means for the
//! connection (version, keep-alive, how the body is framed, `Expect: 100-continue`) and rejects what an
//! HTTP/1.1 server must reject (RFC 9112): conflicting or invalid framing, an unusable request target.

use http::{Method, Uri};
use thiserror::Error;

/// Headers per request head, as hyper allows by default; more answer 431.
pub const MAX_HEADERS: usize = 100;

/// The protocol versions httparse accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// The version as it starts a status line: a response speaks the request's version, as hyper's does.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// How the request body is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    /// `Content-Length` bytes.
    Sized(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
}

/// A parsed, validated request head.
#[derive(Debug)]
pub struct RequestHead {
    pub method: Method,
    pub target: Uri,
    pub version: Version,
    /// What the client asked for: HTTP/1.1 keeps the connection unless `Connection: close`, HTTP/1.0 closes
    /// unless `Connection: keep-alive`.
    pub keep_alive: bool,
    pub body: BodyFraming,
    /// `Expect: 100-continue`: the client waits for an interim response before it sends the body.
    pub expects_continue: bool,
}

/// Why a head cannot be served.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum HeadError {
    #[error("malformed request head: {0}")]
    Malformed(httparse::Error),
    #[error("more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("a request head above the size limit")]
    TooLarge,
    #[error("invalid method")]
    Method,
    #[error("invalid request target")]
    Target,
    #[error("Transfer-Encoding and Content-Length together")]
    ConflictingFraming,
    #[error("invalid Content-Length")]
    ContentLength,
    #[error("a Transfer-Encoding that does not end in chunked")]
    TransferEncoding,
}

impl HeadError {
    /// The status the client is answered with before the connection closes.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::TooManyHeaders | HeadError::TooLarge => 431,
            _ => 400,
        }
    }
}

/// The outcome of parsing what has been received so far.
#[derive(Debug)]
pub enum Parsed {
    /// A whole head, `len` bytes long (the body, if any, follows).
    Complete { head: RequestHead, len: usize },
    /// The head is not complete yet.
    Partial,
}

/// Parses a request head from the start of `buf`. A complete head longer than `max_len` is refused before it
/// is interpreted, so its size decides the answer (431), not whatever in it is invalid.
pub fn parse(buf: &[u8], max_len: usize) -> Result<Parsed, HeadError> {
    // Measured before httparse sees it: httparse stops at the first invalid byte, so a 100 kB head with a bad
    // byte near its start would otherwise be a 400.
    if head_end(buf).unwrap_or(buf.len()) > max_len {
        return Err(HeadError::TooLarge);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(error) => return Err(HeadError::Malformed(error)),
    };
    if len > max_len {
        return Err(HeadError::TooLarge);
    }
    let head = interpret(&request)?;
    Ok(Parsed::Complete { head, len })
}

/// Where the head at the start of `buf` ends (after its blank line, CRLF or bare LF), if it has ended.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|quad| quad == b"\r\n\r\n").map(|at| at + 4);
    let lf = buf.windows(2).position(|pair| pair == b"\n\n").map(|at| at + 2);
    crlf.into_iter().chain(lf).min()
}

/// Whether `buf` may hold the end of a head (a blank line ends it, with CRLF or bare LF line endings),
/// looking only at what follows `from`: the connection reparses a partial head only when this says so, so a
/// client sending one byte at a time cannot make it parse the growing head over and over.
pub fn may_end_head(buf: &[u8], from: usize) -> bool {
    let window = buf.get(from.saturating_sub(2)..).unwrap_or_default();
    window.windows(2).any(|pair| pair == b"\n\n") || window.windows(3).any(|triple| triple == b"\n\r\n")
}

fn interpret(request: &httparse::Request<'_, '_>) -> Result<RequestHead, HeadError> {
    let method = request.method.ok_or(HeadError::Method)?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Method)?;
    let target = request.path.ok_or(HeadError::Target)?;
    let target = Uri::try_from(target).map_err(|_| HeadError::Target)?;
    let version = match request.version {
        Some(1) => Version::Http11,
        Some(0) => Version::Http10,
        _ => return Err(HeadError::Malformed(httparse::Error::Version)),
    };
    let headers = &*request.headers;
    Ok(RequestHead {
        method,
        target,
        version,
        keep_alive: keep_alive(version, headers),
        body: body_framing(headers)?,
        expects_continue: headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("expect") && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
        }),
    })
}

/// The comma-separated elements of a list header, trimmed; empty elements are dropped (RFC 9110 5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&byte| byte == b',').map(<[u8]>::trim_ascii).filter(|element| !element.is_empty())
}

fn keep_alive(version: Version, headers: &[httparse::Header<'_>]) -> bool {
    let mut close = false;
    let mut keep = false;
    for header in headers.iter().filter(|h| h.name.eq_ignore_ascii_case("connection")) {
        for token in list_elements(header.value) {
            close |= token.eq_ignore_ascii_case(b"close");
            keep |= token.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    match version {
        Version::Http11 => !close,
        Version::Http10 => keep && !close,
    }
}

/// The body's framing. Both `Transfer-Encoding` and `Content-Length` is a request a proxy may read
/// differently (request smuggling), so it is refused, as are differing lengths and anything but digits.
fn body_framing(headers: &[httparse::Header<'_>]) -> Result<BodyFraming, HeadError> {
    let mut length: Option<u64> = None;
    let mut transfer_encoding: Option<Option<&[u8]>> = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            for value in header.value.split(|&byte| byte == b',').map(<[u8]>::trim_ascii) {
                let parsed = parse_content_length(value)?;
                if length.is_some_and(|seen| seen != parsed) {
                    return Err(HeadError::ContentLength);
                }
                length = Some(parsed);
            }
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = list_elements(header.value).last();
            // A later header's codings follow an earlier one's; an empty one leaves the last coding as it was.
            transfer_encoding = Some(last.or(transfer_encoding.flatten()));
        }
    }
    match (transfer_encoding, length) {
        (Some(_), Some(_)) => Err(HeadError::ConflictingFraming),
        (Some(Some(last)), None) if last.eq_ignore_ascii_case(b"chunked") => Ok(BodyFraming::Chunked),
        (Some(_), None) => Err(HeadError::TransferEncoding),
        (None, Some(0) | None) => Ok(BodyFraming::None),
        (None, Some(length)) => Ok(BodyFraming::Sized(length)),
    }
}

/// `1*DIGIT` and nothing else (`str::parse` would also take a sign).
fn parse_content_length(value: &[u8]) -> Result<u64, HeadError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(HeadError::ContentLength);
    }
    std::str::from_utf8(value).ok().and_then(|digits| digits.parse().ok()).ok_or(HeadError::ContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 64 * 1024;

    fn head(raw: &str) -> RequestHead {
        match parse(raw.as_bytes(), LIMIT) {
            Ok(Parsed::Complete { head, len }) => {
                assert_eq!(len, raw.len(), "the whole head was consumed");
                head
            }
            other => panic!("{raw:?} did not parse to a complete head: {other:?}"),
        }
    }

    fn error(raw: &str) -> HeadError {
        match parse(raw.as_bytes(), LIMIT) {
            Err(error) => error,
            other => panic!("{raw:?} was not rejected: {other:?}"),
        }
    }

    #[test]
    fn a_plain_get_keeps_the_connection_alive_in_http_1_1() {
        let head = head("GET /api/simple/noop/1?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(head.method, Method::GET);
        assert_eq!(head.target.path(), "/api/simple/noop/1");
        assert_eq!(head.version, Version::Http11);
        assert!(head.keep_alive);
        assert_eq!(head.body, BodyFraming::None);
        assert!(!head.expects_continue);
    }

    #[test]
    fn connection_tokens_decide_keep_alive_per_version() {
        assert!(!head("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
        assert!(!head("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n").keep_alive);
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n", LIMIT), Ok(Parsed::Partial)));
        assert!(matches!(parse(b"", LIMIT), Ok(Parsed::Partial)));
    }

    #[test]
    fn framing_follows_content_length_or_chunked() {
        assert_eq!(head("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").body, BodyFraming::Sized(12));
        assert_eq!(head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").body, BodyFraming::None);
        assert_eq!(head("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n").body, BodyFraming::Sized(5));
        assert_eq!(head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").body, BodyFraming::Chunked);
        assert!(head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expects_continue);
    }

    #[test]
    fn ambiguous_or_invalid_framing_is_rejected() {
        let both = "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(error(both), HeadError::ConflictingFraming);
        for length in ["abc", "+3", "-3", "3 3", "", "3,", "99999999999999999999999"] {
            let raw = format!("POST / HTTP/1.1\r\nContent-Length: {length}\r\n\r\n");
            assert_eq!(error(&raw), HeadError::ContentLength, "{raw:?}");
        }
        assert_eq!(
            error("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            HeadError::ContentLength
        );
        for coding in ["gzip", "chunked, gzip", ""] {
            let raw = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {coding}\r\n\r\n");
            assert_eq!(error(&raw), HeadError::TransferEncoding, "{raw:?}");
        }
    }

    #[test]
    fn malformed_heads_are_400_and_too_many_headers_431() {
        for raw in ["GARBAGE\r\n\r\n", "GET /x HTTP/9.9\r\n\r\n", "GET /x HTTP/1.1\r\nX: a\x01b\r\n\r\n", "GET\r\n\r\n"]
        {
            assert_eq!(error(raw).status(), 400, "{raw:?}");
        }
        let mut many = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(error(&many), HeadError::TooManyHeaders);
        assert_eq!(HeadError::TooManyHeaders.status(), 431);
    }

    #[test]
    fn a_head_above_the_limit_is_431_whatever_else_is_wrong_with_it() {
        let long_target = format!("GET /{} HTTP/1.1\r\n\r\n", "1".repeat(100_000));
        assert_eq!(error(&long_target), HeadError::TooLarge);
        assert_eq!(HeadError::TooLarge.status(), 431);
        let at_limit = format!("GET /{} HTTP/1.1\r\n\r\n", "1".repeat(LIMIT - 18));
        assert_eq!(head(&at_limit).target.path().len(), LIMIT - 17);
        let invalid_early = format!("GET /\x01 HTTP/1.1\r\nX: {}\r\n\r\n", "1".repeat(100_000));
        assert_eq!(error(&invalid_early), HeadError::TooLarge, "a whole head with a bad byte early on");
        let mut with_body = format!("GET / HTTP/1.1\r\nContent-Length: {LIMIT}\r\n\r\n").into_bytes();
        with_body.extend(std::iter::repeat_n(b'x', LIMIT));
        assert!(matches!(parse(&with_body, LIMIT), Ok(Parsed::Complete { .. })), "a body is not part of the head");
    }

    #[test]
    fn the_end_of_a_head_is_spotted_in_new_bytes_only() {
        assert!(may_end_head(b"GET / HTTP/1.1\r\n\r\n", 0));
        assert!(may_end_head(b"GET / HTTP/1.1\n\n", 0));
        assert!(may_end_head(b"GET / HTTP/1.1\r\n\r\n", 16), "an end split across two reads is seen");
        assert!(!may_end_head(b"GET / HTTP/1.1\r\nHost: x\r\n", 0));
        assert!(!may_end_head(b"", 0));
    }
}
