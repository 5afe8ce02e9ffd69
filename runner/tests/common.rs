//! Helpers every integration-test module shares: starting a real server binary on a free loopback port with
//! a database of its own, plain and raw HTTP over loopback, and running requests in parallel.
//!
//! Everything here panics with a message instead of returning errors: these are test helpers, and a failed
//! setup should say what failed, not propagate.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use runner::tools::server::{ServerProcess, ServerSpec, locate_binary};
use shared::client::Response;
use tempfile::TempDir;

pub mod netns;

/// Timeout of one test request: long enough for a loaded CI machine, short enough to fail fast on a hang.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start a test server; `Default` is one worker and no extra flags.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub workers: u16,
    /// Further server flags, passed as they are (e.g. `--sleep-ms 50`).
    pub extra_args: Vec<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions { workers: 1, extra_args: Vec::new() }
    }
}

impl ServerOptions {
    pub fn workers(workers: u16) -> ServerOptions {
        ServerOptions { workers, ..ServerOptions::default() }
    }

    pub fn arg(mut self, flag: &str, value: &str) -> ServerOptions {
        self.extra_args.push(flag.to_owned());
        self.extra_args.push(value.to_owned());
        self
    }
}

/// A real server process of the current build profile on `127.0.0.1:<free port>`, with its own database in
/// a temporary directory that lives exactly as long as the server.
pub struct TestServer {
    // Declared before `_dir`: fields drop in order, so the process is gone before its database is deleted.
    process: ServerProcess,
    db: PathBuf,
    _dir: TempDir,
}

impl TestServer {
    /// Starts `server` and waits until it is ready; panics with the build command to run if the binary is
    /// missing, or with the server's stderr if it does not come up.
    pub fn start_with(server: &str, options: &ServerOptions) -> TestServer {
        let binary = locate_binary(server)
            .unwrap_or_else(|e| panic!("{e} (run `cargo build --workspace` with the same profile as the tests first)"));
        let dir = tempfile::Builder::new()
            .prefix(&format!("runtime-bench-{server}-"))
            .tempdir()
            .expect("creating a temporary directory for the test database");
        let db = dir.path().join("bench.db");
        let spec = ServerSpec {
            server: server.to_owned(),
            binary,
            host: "127.0.0.1".to_owned(),
            port: 0,
            workers: options.workers,
            db: db.clone(),
            cpus: Vec::new(),
            extra_args: options.extra_args.clone(),
        };
        let process = ServerProcess::start(&spec).unwrap_or_else(|e| panic!("{e}"));
        TestServer { process, db, _dir: dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.process.addr()
    }

    pub fn process(&self) -> &ServerProcess {
        &self.process
    }

    /// The database file the server was started with.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// SIGTERM and wait; the exit status.
    pub fn stop(self) -> ExitStatus {
        self.process.stop().expect("stopping the server and waiting for it")
    }

    /// SIGTERM and wait, keeping the database directory so the files the server left can be inspected.
    pub fn stop_keeping_files(self) -> StoppedServer {
        let TestServer { process, db, _dir } = self;
        let status = process.stop().expect("stopping the server and waiting for it");
        StoppedServer { status, db, _dir }
    }

    /// `METHOD path` with `Connection: close`; panics only if no complete response arrives.
    pub fn request(&self, method: &str, path: &str) -> Response {
        request(self.addr(), method, path)
    }

    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path)
    }
}

/// A server that has exited, with the directory of its database still there.
pub struct StoppedServer {
    pub status: ExitStatus,
    pub db: PathBuf,
    _dir: TempDir,
}

/// The `-wal` file SQLite keeps next to a database in WAL mode.
pub fn wal_file(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-wal", db.display()))
}

/// Starts the arm a label names, as the runner names arms: `server`, or `server/<io driver>` (`monoio/epoll`)
/// started with `--io-driver <io driver>`.
pub fn start_arm(label: &str, options: ServerOptions) -> TestServer {
    match label.split_once('/') {
        Some((server, driver)) => TestServer::start_with(server, &options.arg("--io-driver", driver)),
        None => TestServer::start_with(label, &options),
    }
}

/// Every arm and driver to test: each of `shared::binaries::SERVERS`, and the monoio arms (which take
/// `--io-driver`) once more on epoll.
pub fn every_arm() -> Vec<String> {
    let servers = shared::binaries::SERVERS.iter().map(|name| (*name).to_owned());
    let on_epoll =
        shared::binaries::SERVERS.iter().filter(|name| name.starts_with("monoio")).map(|name| format!("{name}/epoll"));
    servers.chain(on_epoll).collect()
}

/// One request with `Connection: close` and [`REQUEST_TIMEOUT`]; panics with the server's error if no
/// complete response arrives.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Response {
    shared::client::request(addr, method, path, REQUEST_TIMEOUT).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Deserializes a JSON body, saying which request it came from when it does not parse.
pub fn json<T: serde::de::DeserializeOwned>(what: &str, response: &Response) -> T {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("{what}: body {:?} is not the expected JSON: {e}", response.text()))
}

/// What came back after sending raw bytes: everything read until the server closed, reset, or went silent.
#[derive(Debug)]
pub struct RawReply {
    pub bytes: Vec<u8>,
    /// The server closed or reset the connection (rather than leaving it open past the timeout).
    pub closed: bool,
}

impl RawReply {
    /// The status code of the first status line, if the server sent one.
    pub fn status(&self) -> Option<u16> {
        let text = String::from_utf8_lossy(&self.bytes);
        let line = text.lines().next()?;
        let mut parts = line.split(' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/") {
            return None;
        }
        parts.next()?.parse().ok()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Sends `bytes` on a fresh connection and reads until the server closes it or `timeout` passes.
///
/// A write that fails (the server may close while a large request is still being sent) is not an error:
/// whatever the server answered before closing is still read.
pub fn send_raw(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> RawReply {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream.set_write_timeout(Some(timeout)).expect("setting a write timeout");
    stream.set_read_timeout(Some(timeout)).expect("setting a read timeout");
    let _ = stream.write_all(bytes).and_then(|()| stream.flush());
    read_until_closed(&mut stream, Instant::now() + timeout)
}

/// Sends `bytes`, shuts down the write side (as `nc -N` does) and reads until the server closes or `timeout`.
pub fn send_then_half_close(addr: SocketAddr, bytes: &[u8], timeout: Duration) -> RawReply {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream.set_read_timeout(Some(timeout)).expect("setting a read timeout");
    stream.write_all(bytes).unwrap_or_else(|e| panic!("sending the request to {addr}: {e}"));
    stream.shutdown(std::net::Shutdown::Write).unwrap_or_else(|e| panic!("shutting down the write side: {e}"));
    read_until_closed(&mut stream, Instant::now() + timeout)
}

/// How long until the server closes `stream` (end of stream or reset), reading and dropping whatever it
/// sends; `None` if it is still open after `limit`.
pub fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("setting a read timeout");
    let reply = read_until_closed(stream, start + limit);
    reply.closed.then(|| start.elapsed())
}

fn read_until_closed(stream: &mut TcpStream, deadline: Instant) -> RawReply {
    let mut bytes = Vec::new();
    let mut chunk = [0_u8; 16 * 1024];
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => {
                return RawReply { bytes, closed: true };
            }
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                return RawReply { bytes, closed: true };
            }
        }
    }
    RawReply { bytes, closed: false }
}

/// One persistent HTTP/1.1 connection, for keep-alive and pipelining checks: responses are read one at a
/// time by their `Content-Length`, and bytes that arrived after one response wait for the next read.
pub struct KeepAliveConnection {
    stream: TcpStream,
    addr: SocketAddr,
    /// Received bytes not yet returned as a response (pipelined responses arrive together).
    pending: Vec<u8>,
}

impl KeepAliveConnection {
    pub fn open(addr: SocketAddr) -> KeepAliveConnection {
        let stream =
            TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
        stream.set_read_timeout(Some(REQUEST_TIMEOUT)).expect("setting a read timeout");
        stream.set_write_timeout(Some(REQUEST_TIMEOUT)).expect("setting a write timeout");
        KeepAliveConnection { stream, addr, pending: Vec::new() }
    }

    /// Sends one request without `Connection: close` and reads exactly one response.
    pub fn request(&mut self, method: &str, path: &str) -> Response {
        let body_header = if method == "POST" { "Content-Length: 0\r\n" } else { "" };
        let head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n{body_header}\r\n", self.addr);
        self.send(head.as_bytes());
        let response =
            self.read_response().unwrap_or_else(|e| panic!("{method} {path} on the kept-alive connection: {e}"));
        assert!(self.pending.is_empty(), "{method} {path}: {} unexpected bytes after the response", self.pending.len());
        response
    }

    /// How long until the server closes this connection; `None` if it is still open after `limit`.
    pub fn time_until_closed(&mut self, limit: Duration) -> Option<Duration> {
        time_until_closed(&mut self.stream, limit)
    }

    /// Sends raw bytes, or fails if the server already closed the connection.
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends raw bytes (one request, several pipelined ones, or part of one).
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap_or_else(|e| panic!("writing on the kept-alive connection: {e}"));
    }

    /// Reads the next response (a body of `Content-Length` bytes after the head; none after a 1xx).
    pub fn read_response(&mut self) -> Result<Response, String> {
        let head_end = loop {
            if let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break end + 4;
            }
            self.read_more()?;
        };
        let head = shared::client::parse_response(&self.pending[..head_end])?;
        // An interim response (`100 Continue`) has no body.
        let length: usize = if (100..200).contains(&head.status) {
            0
        } else {
            head.header("content-length")
                .ok_or("the response has no Content-Length")?
                .parse()
                .map_err(|e| format!("bad Content-Length: {e}"))?
        };
        while self.pending.len() < head_end + length {
            self.read_more()?;
        }
        let raw: Vec<u8> = self.pending.drain(..head_end + length).collect();
        shared::client::parse_response(&raw)
    }

    /// The next response, or `None` if the server closed the connection (end of stream or reset) before
    /// sending any of it.
    pub fn response_or_close(&mut self) -> Result<Option<Response>, String> {
        if self.pending.is_empty() {
            let mut chunk = [0_u8; 8 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(format!("no response within {REQUEST_TIMEOUT:?}"));
                }
                Err(_) => return Ok(None),
            }
        }
        self.read_response().map(Some)
    }

    /// Whether the server closes the connection (end of stream or reset) within [`REQUEST_TIMEOUT`], with
    /// nothing more sent.
    pub fn closes(&mut self) -> bool {
        let mut rest = Vec::new();
        let closed = match self.stream.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        };
        closed && rest.is_empty() && self.pending.is_empty()
    }

    fn read_more(&mut self) -> Result<(), String> {
        let mut chunk = [0_u8; 8 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err(format!("the server closed the connection after {} bytes", self.pending.len())),
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                Ok(())
            }
            Err(e) => Err(format!("reading: {e}")),
        }
    }
}

/// Runs `count` calls of `work` (given their index) on as many threads released at the same instant.
/// Returns each call's result and the time from the release until the last call finished.
pub fn run_parallel<T, F>(count: usize, work: F) -> (Vec<T>, Duration)
where
    T: Send + 'static,
    F: Fn(usize) -> T + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(count + 1));
    let threads: Vec<_> = (0..count)
        .map(|index| {
            let (work, barrier) = (Arc::clone(&work), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                work(index)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let results =
        threads.into_iter().map(|thread| thread.join().expect("a parallel request thread panicked")).collect();
    (results, start.elapsed())
}

/// Runs `work` and returns its result with how long it took.
pub fn timed<T>(work: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let result = work();
    (result, start.elapsed())
}
