//! The server started in-process on port 0 and talked to over real sockets: health, keep-alive, errors,
//! malformed requests, shared ports, shutdown.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use monoio_common::IoDriverArgs;
use monoio_hyper_server::{IoDriver, RunningServer};
use shared::ServerArgs;
use shared::api::{Health, Item, SleepResponse};
use shared::client::{self, Response};

const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    io: IoDriverArgs,
}

fn start(argv: &[&str]) -> anyhow::Result<RunningServer> {
    let cli = TestCli::parse_from(argv);
    monoio_hyper_server::start(cli.server, cli.io.io_driver)
}

/// A server on a fresh database, removed with the server.
struct TestServer {
    server: Option<RunningServer>,
    db: PathBuf,
}

impl TestServer {
    fn start(name: &str, extra: &[&str]) -> TestServer {
        let db = std::env::temp_dir().join(format!("monoio-hyper-server-test-{name}-{}.db", std::process::id()));
        remove_db(&db);
        let db_text = db.display().to_string();
        let mut argv = vec!["test", "--port", "0", "--db", &db_text];
        argv.extend_from_slice(extra);
        let server = start(&argv).expect("server starts");
        TestServer { server: Some(server), db }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").local_addr()
    }

    fn get(&self, path: &str) -> Response {
        client::get(self.addr(), path, TIMEOUT).expect("GET answers")
    }

    fn stop(mut self) {
        self.server.take().expect("running").shutdown().expect("clean shutdown");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.server.take());
        remove_db(&self.db);
    }
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn json<T: serde::de::DeserializeOwned>(response: &Response) -> T {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", response.text()))
}

/// Reads one response with a Content-Length body off a kept-alive connection.
fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("read head"), 1, "connection closed mid-head");
        raw.push(byte[0]);
    }
    let head = client::parse_response(&raw).expect("response head");
    let length: usize = head.header("content-length").expect("content-length").parse().expect("length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("read body");
    raw.extend_from_slice(&body);
    client::parse_response(&raw).expect("response")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    stream
}

#[test]
fn healthz_reports_the_server_and_its_driver() {
    let server = TestServer::start("health", &["--workers", "2"]);
    let response = server.get("/healthz");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let health: Health = json(&response);
    assert_eq!((health.server.as_str(), health.workers), ("monoio-hyper", 2));
    let driver = server.server.as_ref().expect("running").io_driver();
    assert_eq!(health.io_driver, driver.as_str());
    assert!(matches!(driver, IoDriver::IoUring | IoDriver::Epoll));
    assert_eq!(health.pid, std::process::id());
    server.stop();
}

#[test]
fn the_driver_asked_for_is_the_driver_that_runs() {
    let epoll = TestServer::start("epoll", &["--workers", "2", "--io-driver", "epoll"]);
    assert_eq!(epoll.server.as_ref().expect("running").io_driver(), IoDriver::Epoll);
    assert_eq!(json::<Health>(&epoll.get("/healthz")).io_driver, "epoll");
    assert_eq!(epoll.get("/api/db/sync_threadpool/read/3").status, 200);
    epoll.stop();
    if io_uring_enabled() {
        let uring = TestServer::start("uring", &[]);
        assert_eq!(json::<Health>(&uring.get("/healthz")).io_driver, "io_uring", "io_uring is the default");
        uring.stop();
    }
}

/// Whether the kernel allows io_uring for everyone.
fn io_uring_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").is_ok_and(|setting| setting.trim() == "0")
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = TestServer::start("keepalive", &[]);
    let mut stream = connect(server.addr());
    let host = server.addr();
    write!(stream, "GET /api/simple/noop/1 HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("first request");
    let first = read_response(&mut stream);
    // A body on a POST nobody reads must not desynchronize the connection.
    write!(stream, "POST /api/db/async/write/3 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello")
        .expect("second request");
    let second = read_response(&mut stream);
    write!(stream, "GET /api/db/sync_threadpool/read/3 HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("third request");
    let third = read_response(&mut stream);
    assert_eq!((first.status, second.status, third.status), (200, 200, 200));
    assert_eq!(json::<SleepResponse>(&first).mode, "async");
    assert_eq!(json::<Item>(&second).value, 1);
    assert_eq!(json::<Item>(&third), Item { id: 3, name: "item_3".into(), value: 1 });
    server.stop();
}

#[test]
fn client_errors_are_json_4xx_never_500() {
    let server = TestServer::start("errors", &[]);
    let addr = server.addr();
    let cases = [
        ("GET", "/nope", 404),
        ("POST", "/healthz", 405),
        ("POST", "/api/endpoints", 405),
        ("GET", "/api/db/async/write/1", 405),
        ("GET", "/api/simple/async/abc", 400),
        ("GET", "/api/db/async/read/999999", 404),
        ("DELETE", "/api/simple/noop/1", 405),
    ];
    for (method, path, status) in cases {
        let response = client::request(addr, method, path, TIMEOUT).expect("answers");
        assert_eq!(response.status, status, "{method} {path}: {}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"), "{method} {path}");
        assert!(response.text().starts_with(r#"{"error":"#), "{method} {path}: {}", response.text());
    }
    server.stop();
}

#[test]
fn malformed_requests_are_rejected_and_the_server_keeps_serving() {
    let server = TestServer::start("malformed", &[]);
    let mut garbage = connect(server.addr());
    garbage.write_all(b"NOT A REQUEST\r\n\r\n").expect("write garbage");
    let mut answer = String::new();
    let _ = garbage.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    // More header lines than hyper accepts (100), small enough to be read whole, so the 431 is not lost to a
    // reset of unread bytes.
    let mut crowded = connect(server.addr());
    let headers: String = (0..150).map(|i| format!("X-{i}: a\r\n")).collect();
    write!(crowded, "GET /healthz HTTP/1.1\r\nHost: x\r\n{headers}\r\n").expect("write headers");
    let mut answer = String::new();
    let _ = crowded.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    assert_eq!(server.get("/healthz").status, 200);
    server.stop();
}

#[test]
fn event_loop_sleeps_overlap_across_connections() {
    let server = TestServer::start("overlap", &["--workers", "1"]);
    let addr = server.addr();
    let started = Instant::now();
    let handles: Vec<_> = (0..10)
        .map(|i| std::thread::spawn(move || client::get(addr, &format!("/api/simple/async/{}", i + 1), TIMEOUT)))
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("client thread").expect("answers").status, 200);
    }
    // Ten 50 ms timer sleeps on one event loop overlap; serialized they would take 500 ms.
    assert!(started.elapsed() < Duration::from_millis(400), "took {:?}", started.elapsed());
    server.stop();
}

#[test]
fn a_taken_port_is_an_error_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let argv = ["test", "--port", port.as_str(), "--db", "/nonexistent-dir/never-created.db"];
    let error = start(&argv).err().expect("start fails");
    let message = format!("{error:#}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

#[test]
fn shutdown_stops_accepting() {
    let server = TestServer::start("shutdown", &["--workers", "2"]);
    let addr = server.addr();
    assert_eq!(server.get("/api/simple/noop/1").status, 200);
    server.stop();
    assert!(client::get(addr, "/healthz", Duration::from_secs(1)).is_err(), "still answering after shutdown");
}

#[test]
fn shutdown_lets_requests_in_flight_finish() {
    let server = TestServer::start("graceful", &["--sleep-ms", "300"]);
    let addr = server.addr();
    let in_flight: Vec<_> = ["/api/simple/async/1", "/api/simple/sync_threadpool/2"]
        .into_iter()
        .map(|path| std::thread::spawn(move || client::get(addr, path, TIMEOUT)))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    server.stop();
    for request in in_flight {
        assert_eq!(request.join().expect("client thread").expect("answered").status, 200);
    }
}
