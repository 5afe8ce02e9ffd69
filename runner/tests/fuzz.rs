//! Fuzz-style tests of the request path, on stable Rust and against the real binaries of every arm in
//! `shared::binaries::SERVERS`: valid requests mutated (byte and bit flips, truncations, inserted junk,
//! duplicated and oversized headers, bad chunk sizes, CR/LF games, spliced requests) and random bytes,
//! each case on its own connection; the monoio arms on both I/O drivers.
//!
//! Every connection must get well-formed HTTP responses (checked with httparse: a status line, headers, a
//! `content-length` body; no 5xx) or a close, and the server must keep serving valid requests throughout.
//! Bounded in cases and in time per arm; seeded and reproducible: the seed is printed on failure, and
//! `RUNTIME_BENCH_FUZZ_SEED=<seed>` replays it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{REQUEST_TIMEOUT, ServerOptions, TestServer, every_arm, start_arm};

/// Cases per arm, unless the time budget ends them first.
const CASES: usize = 600;
/// Wall time per arm for the cases.
const TIME_BUDGET: Duration = Duration::from_secs(20);
/// How long a case waits for the server to answer or close.
const CASE_TIMEOUT: Duration = Duration::from_secs(5);
/// A case that does not half-close waits this long in silence before it gives up on more bytes (the
/// server may rightly be waiting for the rest of a truncated request).
const QUIET: Duration = Duration::from_millis(150);
/// Every this many cases, a valid request must still be served.
const PROBE_EVERY: usize = 25;
const SEED_VARIABLE: &str = "RUNTIME_BENCH_FUZZ_SEED";
/// Comma-separated arms to fuzz instead of all of them, for replaying one arm's failure.
const ARMS_VARIABLE: &str = "RUNTIME_BENCH_FUZZ_ARMS";

/// splitmix64: a small, seedable generator, so a failing case replays from its seed alone.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0).
    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(bound.max(1)).unwrap_or(1)).unwrap_or(0)
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Valid requests to mutate (no HEAD: its response carries a length without a body, which the checker
/// could not tell from a truncated response).
const SEEDS: &[&str] = &[
    "GET /api/simple/noop/1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: fuzz\r\nAccept: */*\r\n\r\n",
    "GET /api/simple/noop/2?x=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "POST /api/db/async/write/3 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    "POST /api/db/async/write/4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    "POST /api/db/async/write/5 HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "GET /api/simple/noop/6 HTTP/1.1\r\nConnection: close\r\n\r\n",
    "GET /api/simple/noop/7 HTTP/1.1\r\n\r\nGET /api/simple/noop/8 HTTP/1.1\r\n\r\n",
    "GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n",
];

/// Chunk-size lines no decoder may accept (or that must not end a body early).
const BAD_CHUNK_SIZES: &[&str] = &["zz", "", "-1", "0x5", "fffffffffffffffffffff", " 5", "5 5", ";x", "\n", "5\r"];

/// Framing headers that make a valid request ambiguous or invalid once added.
const FRAMING_HEADERS: &[&str] = &[
    "Content-Length: 3\r\n",
    "Transfer-Encoding: chunked\r\n",
    "Content-Length: -1\r\n",
    "Transfer-Encoding: gzip\r\n",
    "Expect: 100-continue\r\n",
    "Connection: close\r\n",
];

/// One mutated request: what was done, and the bytes.
struct Case {
    what: String,
    bytes: Vec<u8>,
}

fn generate(rng: &mut Rng) -> Case {
    if rng.chance(5) {
        let bytes: Vec<u8> = (0..rng.below(256) + 1).map(|_| rng.byte()).collect();
        return Case { what: "random bytes".to_owned(), bytes };
    }
    let seed = rng.pick(SEEDS).as_bytes().to_vec();
    let mut case = Case { what: String::new(), bytes: seed };
    for _ in 0..rng.below(3) + 1 {
        mutate(rng, &mut case);
    }
    case
}

fn mutate(rng: &mut Rng, case: &mut Case) {
    let bytes = &mut case.bytes;
    // An earlier truncation may have left nothing to mutate.
    if bytes.is_empty() {
        bytes.push(rng.byte());
    }
    let len = bytes.len();
    let at = rng.below(len);
    let what = match rng.below(11) {
        0 => {
            bytes[at] = rng.byte();
            format!("byte {at} replaced")
        }
        1 => {
            bytes[at] ^= 1 << rng.below(8);
            format!("bit flipped at {at}")
        }
        2 => {
            bytes.truncate(at);
            format!("truncated to {at}")
        }
        3 => {
            let junk: Vec<u8> = (0..rng.below(8) + 1).map(|_| rng.byte()).collect();
            bytes.splice(at..at, junk);
            format!("junk inserted at {at}")
        }
        4 => duplicate_a_line(rng, bytes),
        5 => {
            let size = *rng.pick(&[40 * 1024, 70 * 1024, 130 * 1024]);
            insert_header(bytes, &format!("X-Big: {}\r\n", "b".repeat(size)));
            format!("a {size}-byte header added")
        }
        6 => {
            let size = rng.pick(BAD_CHUNK_SIZES);
            let chunked = format!(
                "POST /api/db/async/write/9 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nhello\r\n0\r\n\r\n"
            );
            *bytes = chunked.into_bytes();
            format!("chunk size {size:?}")
        }
        7 => crlf_game(rng, bytes),
        8 => {
            let end = (at + rng.below(16) + 1).min(len);
            bytes.drain(at..end);
            format!("bytes {at}..{end} removed")
        }
        9 => {
            let other = rng.pick(SEEDS).as_bytes();
            bytes.extend_from_slice(&other[..rng.below(other.len()) + 1]);
            "another request (or part of it) appended".to_owned()
        }
        _ => {
            let header = rng.pick::<&str>(FRAMING_HEADERS);
            insert_header(bytes, header);
            "a framing header added".to_owned()
        }
    };
    if !case.what.is_empty() {
        case.what.push_str(", ");
    }
    case.what.push_str(&what);
}

/// Repeats one line of the head (a request line or header), up to many times.
fn duplicate_a_line(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(bytes.windows(2).enumerate().filter(|(_, w)| w == b"\r\n").map(|(i, _)| i + 2))
        .collect();
    let start = *rng.pick(&starts);
    let end = bytes[start..].windows(2).position(|w| w == b"\r\n").map_or(bytes.len(), |p| start + p + 2);
    let line = bytes[start..end].to_vec();
    let times = *rng.pick(&[1, 2, 150, 3000]);
    let copies: Vec<u8> = line.iter().copied().cycle().take(line.len() * times).collect();
    bytes.splice(start..start, copies);
    format!("line at {start} repeated {times} times")
}

fn insert_header(bytes: &mut Vec<u8>, header: &str) {
    let at = bytes.windows(2).position(|w| w == b"\r\n").map_or(bytes.len(), |p| p + 2);
    bytes.splice(at..at, header.bytes());
}

fn crlf_game(rng: &mut Rng, bytes: &mut Vec<u8>) -> String {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let (what, changed) = match rng.below(5) {
        0 => ("CRLF -> LF", text.replace("\r\n", "\n")),
        1 => ("CRLF -> CR", text.replace("\r\n", "\r")),
        2 => ("first CRLF -> LFCR", text.replacen("\r\n", "\n\r", 1)),
        3 => ("CRLF doubled once", text.replacen("\r\n", "\r\n\r\n", 1)),
        _ => ("leading CRLFs", format!("\r\n\r\n{text}")),
    };
    *bytes = changed.into_bytes();
    what.to_owned()
}

/// How a case's connection ended.
#[derive(Debug)]
enum End {
    /// The server closed (FIN).
    Closed,
    /// The server reset the connection: the tail of what it sent may have been lost.
    Reset,
    /// Still open after a quiet period, or at the case timeout.
    Open,
}

/// Sends the case, half-closing afterwards in most cases, and collects what the server sends.
fn exchange(addr: SocketAddr, bytes: &[u8], half_close: bool) -> Result<(Vec<u8>, End), String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, CASE_TIMEOUT).map_err(|e| format!("cannot connect any more: {e}"))?;
    stream.set_write_timeout(Some(CASE_TIMEOUT)).expect("write timeout");
    let read_timeout = if half_close { CASE_TIMEOUT } else { QUIET };
    stream.set_read_timeout(Some(read_timeout)).expect("read timeout");
    // The server may refuse a request before it has all been sent.
    let _ = stream.write_all(bytes);
    if half_close {
        let _ = stream.shutdown(Shutdown::Write);
    }
    let mut received = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let deadline = Instant::now() + CASE_TIMEOUT;
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok((received, End::Closed)),
            Ok(n) => received.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Ok((received, End::Reset)),
        }
    }
    Ok((received, End::Open))
}

/// Checks that `received` is a sequence of well-formed responses; the last may be cut short only by a reset.
fn check_responses(received: &[u8], end: &End) -> Result<usize, String> {
    let mut at = 0;
    let mut responses = 0;
    while at < received.len() {
        let rest = &received[at..];
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if matches!(end, End::Reset) => return Ok(responses),
            Ok(httparse::Status::Partial) => return Err(format!("an incomplete response head: {:?}", lossy(rest))),
            Err(e) => return Err(format!("not an HTTP response ({e}): {:?}", lossy(rest))),
        };
        let code = response.code.unwrap_or(0);
        if code >= 500 {
            return Err(format!("a server error: {:?}", lossy(rest)));
        }
        let length = match response.headers.iter().find(|h| h.name.eq_ignore_ascii_case("content-length")) {
            Some(header) => std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("a bad content-length: {:?}", lossy(rest)))?,
            None if (100..200).contains(&code) => 0,
            None => return Err(format!("a response without content-length: {:?}", lossy(rest))),
        };
        let end_of_body = head_len + length;
        if rest.len() < end_of_body {
            if matches!(end, End::Reset) {
                return Ok(responses);
            }
            return Err(format!("a body cut short ({} of {length} bytes): {:?}", rest.len() - head_len, lossy(rest)));
        }
        at += end_of_body;
        responses += 1;
    }
    Ok(responses)
}

fn lossy(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
    if bytes.len() > 300 { format!("{text}... ({} bytes)", bytes.len()) } else { text }
}

fn seed() -> u64 {
    match std::env::var(SEED_VARIABLE) {
        Ok(text) => text.parse().unwrap_or_else(|e| panic!("{SEED_VARIABLE}={text:?} is not a u64: {e}")),
        Err(_) => {
            let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
            u64::try_from(nanos % u128::from(u64::MAX)).unwrap_or(0)
        }
    }
}

/// Runs the cases against one arm; the error names the seed, the case and what was sent.
fn fuzz_arm(server_name: &str, seed: u64) -> Result<usize, String> {
    let server = start_arm(server_name, ServerOptions::default());
    let addr = server.addr();
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut cases = 0;
    while cases < CASES && started.elapsed() < TIME_BUDGET {
        let case = generate(&mut rng);
        let half_close = rng.chance(85);
        let exchanged = exchange(addr, &case.bytes, half_close);
        let end_seen = exchanged.as_ref().map_or("no connection".to_owned(), |(_, end)| format!("{end:?}"));
        let fail = |problem: String| {
            format!(
                "{server_name}: case {cases} ({}; {}half-closed; ended {end_seen}): {problem}\n  sent {:?}",
                case.what,
                if half_close { "" } else { "not " },
                lossy(&case.bytes)
            )
        };
        let (received, end) = exchanged.map_err(fail)?;
        check_responses(&received, &end).map_err(fail)?;
        if half_close && matches!(end, End::Open) {
            return Err(fail("the server neither answered nor closed a half-closed connection".to_owned()));
        }
        cases += 1;
        if cases % PROBE_EVERY == 0 {
            assert_serving(&server, server_name, cases)?;
        }
    }
    assert_serving(&server, server_name, cases)?;
    Ok(cases)
}

fn assert_serving(server: &TestServer, name: &str, cases: usize) -> Result<(), String> {
    match shared::client::get(server.addr(), "/api/simple/noop/1", REQUEST_TIMEOUT) {
        Ok(response) if response.status == 200 => Ok(()),
        Ok(response) => {
            Err(format!("{name}: after {cases} cases a valid request got {}: {}", response.status, response.text()))
        }
        Err(error) => Err(format!("{name}: after {cases} cases a valid request failed: {error}")),
    }
}

#[test]
fn every_arm_answers_mutated_requests_well_formed_or_closes_and_keeps_serving() {
    let seed = seed();
    let only = std::env::var(ARMS_VARIABLE).ok();
    let arms: Vec<_> = every_arm()
        .into_iter()
        .filter(|label| only.as_deref().is_none_or(|only| only.split(',').any(|arm| arm == label)))
        .map(|label| {
            let fuzzed = label.clone();
            (label, std::thread::spawn(move || fuzz_arm(&fuzzed, seed)))
        })
        .collect();
    let mut failures = Vec::new();
    for (name, arm) in arms {
        match arm.join() {
            Ok(Ok(cases)) => eprintln!("fuzz {name}: {cases} cases passed (seed {seed})"),
            Ok(Err(failure)) => failures.push(failure),
            Err(_) => failures.push(format!("{name}: the fuzz thread panicked")),
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz seed {seed} (replay with {SEED_VARIABLE}={seed} {ARMS_VARIABLE}=<arm>):\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_checker_tells_well_formed_responses_from_broken_ones() {
    let ok = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
    assert_eq!(check_responses(ok, &End::Closed), Ok(2));
    assert!(check_responses(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}", &End::Closed).is_err());
    assert_eq!(check_responses(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n{}", &End::Reset), Ok(0));
    assert!(check_responses(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n", &End::Closed).is_err());
    assert!(check_responses(b"HTTP/1.1 200 OK\r\n\r\n", &End::Closed).is_err(), "no length");
    assert!(check_responses(b"garbage", &End::Closed).is_err());
    let mut a = Rng(7);
    let mut b = Rng(7);
    assert_eq!(generate(&mut a).bytes, generate(&mut b).bytes, "one seed, one case");
}
