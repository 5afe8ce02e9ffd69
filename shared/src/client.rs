//! A minimal blocking HTTP/1.1 client for the operational calls the runner and the tests make (health,
//! catalogue, seed). One request per connection; never used for load, which is vegeta's job.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("cannot reach http://{addr}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("{method} http://{addr}{path} failed")]
    Io { method: String, addr: SocketAddr, path: String, source: io::Error },
    #[error("{method} http://{addr}{path}: malformed response: {detail}")]
    Malformed { method: String, addr: SocketAddr, path: String, detail: String },
}

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends one request with `Connection: close` and reads the whole response within `timeout`.
pub fn request(addr: SocketAddr, method: &str, path: &str, timeout: Duration) -> Result<Response, ClientError> {
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|source| ClientError::Connect { addr, source })?;
    let io_error = |source| ClientError::Io { method: method.to_owned(), addr, path: path.to_owned(), source };
    let raw = exchange(stream, method, path, addr, timeout).map_err(io_error)?;
    parse_response(&raw).map_err(|detail| ClientError::Malformed {
        method: method.to_owned(),
        addr,
        path: path.to_owned(),
        detail,
    })
}

pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Response, ClientError> {
    request(addr, "GET", path, timeout)
}

/// Recreates the standard items through the catalogue's seed route; `Err` says what went wrong or what the
/// server answered instead of 200.
pub fn seed(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let path = crate::catalogue::seed_endpoint().path;
    let response = post(addr, path, timeout).map_err(|e| e.to_string())?;
    if response.status == 200 {
        Ok(())
    } else {
        Err(format!("POST {path} answered {}: {}", response.status, response.text()))
    }
}

pub fn post(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Response, ClientError> {
    request(addr, "POST", path, timeout)
}

fn exchange(
    mut stream: TcpStream,
    method: &str,
    path: &str,
    addr: SocketAddr,
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body_header = if method == "POST" { "Content-Length: 0\r\n" } else { "" };
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{body_header}Connection: close\r\n\r\n")?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

/// Parses a whole HTTP/1.1 response (Content-Length or chunked body, or read to close).
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|e| format!("headers are not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().ok_or("empty response")?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let rest = &raw[head_end + 4..];
    let is_chunked =
        headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked"));
    let body = if is_chunked { dechunk(rest)? } else { rest.to_vec() };
    Ok(Response { status, headers, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").ok_or("truncated chunk size")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| "chunk size is not text")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_bodies() {
        let plain = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").expect("plain");
        assert_eq!((plain.status, plain.body.as_slice()), (200, &b"{}"[..]));
        let chunked = parse_response(
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n",
        )
        .expect("chunked");
        assert_eq!((chunked.status, chunked.text().as_str()), (404, "abcd"));
        assert!(parse_response(b"garbage").is_err());
    }
}
