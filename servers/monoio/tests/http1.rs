//! The native arm's HTTP/1.1 over real sockets, the server started in-process on port 0: keep-alive,
//! pipelining, HTTP/1.0, `Connection: close`, request bodies (sized and chunked), `Expect: 100-continue`,
//! what must be refused with 400 or 431, the header and idle timeouts, half-closed clients, and a stop that
//! does not wait for idle connections; every check on both I/O drivers.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use monoio_server::{ConnectionLimits, IoDriver, RunningServer};
use shared::ServerArgs;
use shared::client::{self, Response};

/// Instantiates each check (a `fn(IoDriver)`) once per I/O driver: the codec must behave the same on both.
macro_rules! on_both_drivers {
    ($($check:ident),* $(,)?) => {
        mod io_uring {
            $(#[test] fn $check() { super::$check(super::IoDriver::IoUring) })*
        }
        mod epoll {
            $(#[test] fn $check() { super::$check(super::IoDriver::Epoll) })*
        }
    };
}

on_both_drivers!(
    keep_alive_and_pipelined_requests_are_answered_in_order,
    http_1_0_closes_unless_asked_to_keep_alive_and_close_is_honoured,
    head_requests_get_the_length_without_the_body,
    sized_and_chunked_bodies_are_skipped_so_the_next_request_parses,
    expect_100_continue_gets_the_interim_response_before_the_body,
    ambiguous_framing_and_malformed_heads_are_400_and_close,
    heads_above_64_kib_are_431_and_32_kib_is_served,
    slow_and_silent_clients_are_closed_after_the_header_timeout,
    idle_kept_alive_connections_close_after_the_idle_timeout_not_the_header_timeout,
    a_half_closed_client_gets_its_answer,
    a_stop_waits_for_requests_in_flight_but_not_for_idle_connections,
);

/// How long a test waits for any one answer before it fails.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    server: ServerArgs,
}

/// A server on a fresh database, removed with the server.
struct TestServer {
    server: Option<RunningServer>,
    db: PathBuf,
}

impl TestServer {
    fn start(driver: IoDriver, name: &str, limits: ConnectionLimits) -> TestServer {
        let db = std::env::temp_dir().join(format!("monoio-server-http1-{name}-{driver}-{}.db", std::process::id()));
        remove_db(&db);
        let db_text = db.display().to_string();
        let argv = ["test", "--port", "0", "--db", &db_text, "--sleep-ms", "300"];
        let server = monoio_server::start(TestCli::parse_from(argv).server, driver, limits).expect("server starts");
        TestServer { server: Some(server), db }
    }

    fn with_defaults(driver: IoDriver, name: &str) -> TestServer {
        TestServer::start(driver, name, ConnectionLimits::default())
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").local_addr()
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect_timeout(&self.addr(), TIMEOUT).expect("connect");
        stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        stream
    }

    fn assert_serving(&self) {
        let response = client::get(self.addr(), "/api/simple/noop/1", TIMEOUT).expect("a normal request");
        assert_eq!(response.status, 200, "{}", response.text());
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.server.take());
        remove_db(&self.db);
    }
}

fn remove_db(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// Reads one response (head, then `content-length` bytes of body unless `head_only`).
fn read_response(stream: &mut TcpStream, head_only: bool) -> Response {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("reading a response head"), 1, "closed mid-head: {raw:?}");
        raw.push(byte[0]);
    }
    let head = client::parse_response(&raw).expect("a response head");
    let length: usize = head.header("content-length").expect("content-length").parse().expect("a length");
    if !head_only {
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).expect("reading the body");
        raw.extend_from_slice(&body);
    }
    client::parse_response(&raw).expect("a response")
}

/// Reads until the server closes: true if it did within the read timeout (EOF or reset).
fn closes(stream: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(error) => !matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("sending");
}

fn noop(id: u32, extra: &str) -> String {
    format!("GET /api/simple/noop/{id} HTTP/1.1\r\nHost: x\r\n{extra}\r\n")
}

fn item_id(response: &Response) -> i64 {
    let body: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
    body["item_id"].as_i64().expect("an item_id")
}

fn keep_alive_and_pipelined_requests_are_answered_in_order(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "pipelined");
    let mut stream = server.connect();
    let batch: String = (1..=5).map(|id| noop(id, "")).collect();
    send(&mut stream, batch.as_bytes());
    for id in 1..=5 {
        let response = read_response(&mut stream, false);
        assert_eq!((response.status, item_id(&response)), (200, i64::from(id)));
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(response.header("date").is_some(), "a date header like hyper's");
        assert_eq!(response.header("connection"), None, "HTTP/1.1 keeps the connection by default");
    }
    // A pipelined slow request does not let a later fast one overtake it.
    send(&mut stream, b"GET /api/simple/async/7 HTTP/1.1\r\n\r\nGET /api/simple/noop/8 HTTP/1.1\r\n\r\n");
    assert_eq!(item_id(&read_response(&mut stream, false)), 7);
    assert_eq!(item_id(&read_response(&mut stream, false)), 8);
}

fn http_1_0_closes_unless_asked_to_keep_alive_and_close_is_honoured(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "versions");
    let mut old = server.connect();
    send(&mut old, b"GET /api/simple/noop/1 HTTP/1.0\r\n\r\n");
    let response = read_response(&mut old, false);
    assert_eq!(response.status, 200);
    assert!(closes(&mut old), "HTTP/1.0 without keep-alive closes");

    let mut kept = server.connect();
    for id in 1..=2 {
        send(&mut kept, noop(id, "Connection: keep-alive\r\n").replace("HTTP/1.1", "HTTP/1.0").as_bytes());
        let response = read_response(&mut kept, false);
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }

    let mut closing = server.connect();
    send(&mut closing, format!("{}{}", noop(1, "Connection: close\r\n"), noop(2, "")).as_bytes());
    let response = read_response(&mut closing, false);
    assert_eq!(response.header("connection"), Some("close"));
    assert!(closes(&mut closing), "Connection: close closes, the pipelined request after it unanswered");
}

fn head_requests_get_the_length_without_the_body(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "head");
    let mut stream = server.connect();
    send(&mut stream, b"HEAD /api/simple/noop/1 HTTP/1.1\r\n\r\n");
    let response = read_response(&mut stream, true);
    assert_eq!(response.header("content-length"), Some("41"));
    send(&mut stream, noop(2, "").as_bytes());
    assert_eq!(item_id(&read_response(&mut stream, false)), 2, "nothing of a body came between the two");
}

fn sized_and_chunked_bodies_are_skipped_so_the_next_request_parses(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "bodies");
    let mut stream = server.connect();
    let sized = "POST /api/db/async/write/3 HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world";
    let chunked = "POST /api/db/async/write/3 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
                   5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n";
    send(&mut stream, format!("{sized}{chunked}{}", noop(9, "")).as_bytes());
    let first: serde_json::Value = serde_json::from_slice(&read_response(&mut stream, false).body).expect("JSON");
    let second: serde_json::Value = serde_json::from_slice(&read_response(&mut stream, false).body).expect("JSON");
    assert_eq!((first["value"].as_i64(), second["value"].as_i64()), (Some(1), Some(2)));
    assert_eq!(item_id(&read_response(&mut stream, false)), 9);
    // A body sent in pieces, with the request dispatched only once it is complete.
    send(&mut stream, b"POST /api/db/async/write/4 HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc");
    std::thread::sleep(Duration::from_millis(100));
    send(&mut stream, b"def");
    assert_eq!(read_response(&mut stream, false).status, 200);
}

fn expect_100_continue_gets_the_interim_response_before_the_body(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "continue");
    let mut stream = server.connect();
    send(&mut stream, b"POST /api/db/async/write/5 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    let mut interim = [0u8; 25];
    stream.read_exact(&mut interim).expect("the interim response");
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    send(&mut stream, b"body");
    assert_eq!(read_response(&mut stream, false).status, 200);
}

/// What must be refused: (what, request, status).
const REFUSED: &[(&str, &str, u16)] = &[
    (
        "Transfer-Encoding with Content-Length",
        "POST /api/db/async/write/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    ),
    (
        "two different lengths",
        "POST /api/db/async/write/1 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        400,
    ),
    ("a signed length", "POST /api/db/async/write/1 HTTP/1.1\r\nContent-Length: +1\r\n\r\na", 400),
    ("an unknown transfer coding", "POST /api/db/async/write/1 HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (
        "a chunk size that is not hex",
        "POST /api/db/async/write/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
    ("an empty chunk size", "POST /api/db/async/write/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n\r\n", 400),
    (
        "chunk data longer than its size",
        "POST /api/db/async/write/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    ("a control byte in a header value", "GET /healthz HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400),
    ("a space before the colon", "GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("a request line with two spaces", "GET  /healthz HTTP/1.1\r\n\r\n", 400),
    ("a bare CR in the request line", "GET /healthz\rHTTP/1.1\r\n\r\n", 400),
];

fn ambiguous_framing_and_malformed_heads_are_400_and_close(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "refused");
    for (what, raw, status) in REFUSED {
        let mut stream = server.connect();
        send(&mut stream, raw.as_bytes());
        let response = read_response(&mut stream, false);
        assert_eq!(response.status, *status, "{what}");
        assert_eq!(response.header("connection"), Some("close"), "{what}");
        assert!(closes(&mut stream), "{what}: the connection closes");
    }
    server.assert_serving();
    let value = client::get(server.addr(), "/api/db/async/read/1", TIMEOUT).expect("a read");
    assert!(value.text().contains("\"value\":0"), "no refused write landed: {}", value.text());
}

fn head_of(size: usize) -> Vec<u8> {
    let mut raw = b"GET /api/simple/noop/1 HTTP/1.1\r\nX-Big: ".to_vec();
    raw.resize(size - 4, b'a');
    raw.extend_from_slice(b"\r\n\r\n");
    raw
}

fn heads_above_64_kib_are_431_and_32_kib_is_served(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "head-size");
    let mut fine = server.connect();
    send(&mut fine, &head_of(32 * 1024));
    assert_eq!(read_response(&mut fine, false).status, 200);
    for size in [64 * 1024 + 1, 200 * 1024] {
        let mut big = server.connect();
        // The server may answer before the whole head is sent; what is left may fail to send.
        let _ = big.write_all(&head_of(size));
        let response = read_response(&mut big, false);
        assert_eq!(response.status, 431, "a {size}-byte head");
        assert!(closes(&mut big), "a {size}-byte head: the connection closes");
    }
    let mut exactly = server.connect();
    send(&mut exactly, &head_of(64 * 1024));
    assert_eq!(read_response(&mut exactly, false).status, 200, "64 KiB is the limit, inclusive");
}

fn short_limits() -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_millis(600),
        idle_timeout: Duration::from_millis(1500),
        ..ConnectionLimits::default()
    }
}

/// How long the server took to close `stream`, which must happen before [`TIMEOUT`].
fn time_to_close(mut stream: TcpStream, since: Instant) -> Duration {
    assert!(closes(&mut stream), "the connection was not closed within {TIMEOUT:?}");
    since.elapsed()
}

fn slow_and_silent_clients_are_closed_after_the_header_timeout(driver: IoDriver) {
    let server = TestServer::start(driver, "slow", short_limits());
    let started = Instant::now();
    let silent = server.connect();
    let mut slow = server.connect();
    let trickle = std::thread::spawn(move || {
        for byte in b"GET /api/simple/noop/1 HTTP/1.1\r\nX: " {
            if slow.write_all(&[*byte]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        slow
    });
    server.assert_serving();
    assert!(time_to_close(silent, started) < Duration::from_millis(1400), "a silent client is closed");
    let slow = trickle.join().expect("the trickling thread");
    let slow_closed = time_to_close(slow, started);
    assert!(slow_closed >= Duration::from_millis(550), "closed too early: {slow_closed:?}");
    assert!(slow_closed < Duration::from_millis(2500), "a trickling head is closed: {slow_closed:?}");
}

fn idle_kept_alive_connections_close_after_the_idle_timeout_not_the_header_timeout(driver: IoDriver) {
    let server = TestServer::start(driver, "idle", short_limits());
    let mut stream = server.connect();
    send(&mut stream, noop(1, "").as_bytes());
    read_response(&mut stream, false);
    let answered = Instant::now();
    // Past the header timeout, but within the idle one: still open and serving.
    std::thread::sleep(Duration::from_millis(900));
    send(&mut stream, noop(2, "").as_bytes());
    assert_eq!(item_id(&read_response(&mut stream, false)), 2);
    let idle_closed = time_to_close(stream, answered);
    assert!(idle_closed >= Duration::from_millis(1400), "closed before the idle timeout: {idle_closed:?}");
}

fn a_half_closed_client_gets_its_answer(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "half-closed");
    for path in ["/healthz", "/api/simple/async/1", "/api/db/async/read/1", "/api/db/sync_threadpool/read/1"] {
        let mut stream = server.connect();
        send(&mut stream, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        stream.shutdown(Shutdown::Write).expect("half-closing");
        assert_eq!(read_response(&mut stream, false).status, 200, "{path}");
        assert!(closes(&mut stream), "{path}: closed after the answer");
    }
}

fn a_stop_waits_for_requests_in_flight_but_not_for_idle_connections(driver: IoDriver) {
    let server = TestServer::with_defaults(driver, "stop");
    let _idle = server.connect();
    let mut partial = server.connect();
    send(&mut partial, b"GET /api/simple/noop/1 HTTP/1.1\r\nX: ");
    let mut busy = server.connect();
    send(&mut busy, b"GET /api/simple/async/3 HTTP/1.1\r\n\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let mut holder = server;
    let running = holder.server.take().expect("running");
    let stopping = Instant::now();
    let stopper = std::thread::spawn(move || running.shutdown());
    let response = read_response(&mut busy, false);
    assert_eq!((response.status, response.header("connection")), (200, Some("close")), "the request in flight");
    stopper.join().expect("the stopping thread").expect("a clean stop");
    let stopped = stopping.elapsed();
    assert!(stopped < Duration::from_secs(2), "the stop waited {stopped:?} for idle connections");
    assert!(closes(&mut partial), "a half-sent head is closed at once");
}
