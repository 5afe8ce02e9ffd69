//! Hardening: what every server enforces against clients and at a stop, checked black-box against the real
//! binaries. Each check is a function of the server name; `conformance.rs` lists them in its
//! `for_each_server!`, so they run on every arm (`conformance::<arm>::<check>`).
//!
//! The timeouts are set to one second here (the defaults are 10 s and 60 s), so every check ends within a
//! few seconds. A closing deadline is asserted between 0.7 s (the close came from the timeout, not at once)
//! and [`CLOSE_WITHIN`], generous for a loaded machine; today's servers kept such connections for minutes.

use std::io::Write;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shared::api::{Health, Item};
use shared::catalogue::{ENDPOINTS_PATH, HEALTH_PATH, by_name};
use shared::config::MAX_REQUEST_HEAD_BYTES;
use shared::{CATALOGUE, Endpoint};

use crate::common::{
    KeepAliveConnection, REQUEST_TIMEOUT, ServerOptions, TestServer, json, request, run_parallel, send_raw,
    send_then_half_close, start_arm, time_until_closed, wal_file,
};

/// The `--header-timeout` and `--idle-timeout` of the timeout checks.
const SHORT_TIMEOUT: &str = "1s";
/// A close caused by a one-second timeout comes no sooner than this after the connection was opened.
const CLOSE_NOT_BEFORE: Duration = Duration::from_millis(700);
/// ... and no later than this.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

fn endpoint(name: &str) -> &'static Endpoint {
    by_name(name).unwrap_or_else(|| panic!("the catalogue has no endpoint {name}"))
}

fn with_short_timeouts(options: ServerOptions) -> ServerOptions {
    options.arg("--header-timeout", SHORT_TIMEOUT).arg("--idle-timeout", SHORT_TIMEOUT)
}

fn connect(server: &TestServer) -> TcpStream {
    TcpStream::connect_timeout(&server.addr(), REQUEST_TIMEOUT).expect("connecting to the server")
}

fn assert_closed_by_a_timeout(what: &str, closed_after: Option<Duration>) {
    let closed_after = closed_after.unwrap_or_else(|| panic!("{what}: still open after {CLOSE_WITHIN:?}"));
    assert!(
        (CLOSE_NOT_BEFORE..=CLOSE_WITHIN).contains(&closed_after),
        "{what}: closed after {closed_after:?}; a 1 s timeout closes it between {CLOSE_NOT_BEFORE:?} and {CLOSE_WITHIN:?}"
    );
}

fn assert_serving(after: &str, server: &TestServer) {
    let response = request(server.addr(), "GET", &endpoint("simple_noop").path_for(1));
    assert_eq!(response.status, 200, "{after}: a normal request got {}: {}", response.status, response.text());
}

/// A request for `/healthz` whose head is exactly `bytes` long, one large header making up the size.
fn head_of(bytes: usize) -> Vec<u8> {
    let start = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Pad: ";
    let end = b"\r\n\r\n";
    let mut head = start.to_vec();
    head.resize(bytes - end.len(), b'a');
    head.extend_from_slice(end);
    assert_eq!(head.len(), bytes);
    head
}

// ---------------------------------------------------------------------------------------------------------
// Request head size.

pub fn request_heads_above_64_kib_are_431_and_closed(server: &str) {
    let server = start_arm(server, ServerOptions::default());
    for fine in [32 * 1024, MAX_REQUEST_HEAD_BYTES] {
        let reply = send_raw(server.addr(), &head_of(fine), Duration::from_secs(2));
        assert_eq!(reply.status(), Some(200), "a {fine}-byte request head: {:?}", reply.text());
    }
    for too_large in [MAX_REQUEST_HEAD_BYTES + 1, 200_000] {
        let reply = send_raw(server.addr(), &head_of(too_large), CLOSE_WITHIN);
        assert_eq!(reply.status(), Some(431), "a {too_large}-byte request head: {:?}", reply.text());
        assert!(reply.closed, "a {too_large}-byte request head was answered 431 but the connection stayed open");
    }
    assert_serving("after the oversized heads", &server);
}

// ---------------------------------------------------------------------------------------------------------
// Slow and idle clients.

/// Sends a request head one byte per 100 ms for as long as the server reads it (at most `CLOSE_WITHIN`).
fn trickle_head(mut stream: TcpStream) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let bytes = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'a'));
        let stop_at = Instant::now() + CLOSE_WITHIN;
        for byte in bytes {
            if Instant::now() > stop_at || stream.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

/// Watches `stream` on its own thread: how long after `opened` the server closed it.
fn watch_close(mut stream: TcpStream, opened: Instant) -> std::thread::JoinHandle<Option<Duration>> {
    std::thread::spawn(move || time_until_closed(&mut stream, CLOSE_WITHIN).map(|_| opened.elapsed()))
}

pub fn a_slow_or_silent_request_head_is_closed_after_the_header_timeout(server: &str) {
    let options = ServerOptions::default()
        .arg("--header-timeout", SHORT_TIMEOUT)
        .arg("--idle-timeout", "30s")
        .arg("--sleep-ms", "1500");
    let server = start_arm(server, options);
    let opened = Instant::now();
    let slow = connect(&server);
    let trickle = trickle_head(slow.try_clone().expect("cloning the socket"));
    let slow_closed = watch_close(slow, opened);
    let silent_closed = watch_close(connect(&server), opened);
    // While both hold their connections, other clients are served, and a request in flight for longer than
    // the header timeout (a 1.5 s sleep) is not cut short.
    assert_serving("while a slow and a silent client are connected", &server);
    let sleep = request(server.addr(), "GET", &endpoint("simple_async").path_for(1));
    assert_eq!(sleep.status, 200, "a 1.5 s request with a 1 s header timeout: {}", sleep.text());
    assert_closed_by_a_timeout("a head sent one byte per 100 ms", slow_closed.join().expect("the watch thread"));
    assert_closed_by_a_timeout("a connection that sends nothing", silent_closed.join().expect("the watch thread"));
    trickle.join().expect("the trickle thread");
    assert_serving("after the slow clients were closed", &server);
}

pub fn idle_keep_alive_connections_are_closed_after_the_idle_timeout(server: &str) {
    let server = start_arm(server, with_short_timeouts(ServerOptions::default()));
    let mut connection = KeepAliveConnection::open(server.addr());
    // A connection in use stays open well past both timeouts: each gap between requests is shorter than them.
    for request in 0..6 {
        if request > 0 {
            std::thread::sleep(Duration::from_millis(400));
        }
        let health: Health = json("GET /healthz", &connection.request("GET", HEALTH_PATH));
        assert_eq!(health.pid, server.process().pid(), "request {request} on the kept-alive connection");
    }
    assert_closed_by_a_timeout("an idle keep-alive connection", connection.time_until_closed(CLOSE_WITHIN));
    let health: Health = json("GET /healthz", &server.get(HEALTH_PATH));
    assert_eq!(
        (health.header_timeout_ms, health.idle_timeout_ms),
        (Some(1000), Some(1000)),
        "/healthz reports the timeouts"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Stopping.

/// How long a stop may take when it only has to wait for one 600 ms request (the grace is 5 s).
const PROMPT_STOP: Duration = Duration::from_millis(2500);

pub fn a_stop_closes_idle_and_half_sent_connections_at_once(server: &str) {
    let server = start_arm(server, ServerOptions::workers(1).arg("--sleep-ms", "600"));
    let addr = server.addr();
    let mut idle = KeepAliveConnection::open(addr);
    assert_eq!(idle.request("GET", HEALTH_PATH).status, 200);
    let mut half_sent = connect(&server);
    half_sent.write_all(b"GET /healthz HTTP/1.1\r\nHost: loc").expect("sending half a head");
    let _silent = connect(&server);
    let path = endpoint("simple_async").path_for(1);
    let in_flight = std::thread::spawn(move || shared::client::get(addr, &path, REQUEST_TIMEOUT));
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let status = server.stop();
    let stopped_in = started.elapsed();
    let answered = in_flight.join().expect("the in-flight request thread");
    let answered = answered.unwrap_or_else(|e| panic!("the request in flight at the stop got no answer: {e}"));
    assert_eq!(answered.status, 200, "the request in flight at the stop: {}", answered.text());
    assert_eq!(status.code(), Some(0), "the stop must exit with 0, got {status}");
    assert!(
        stopped_in < PROMPT_STOP,
        "the stop took {stopped_in:?}: it must not wait for idle, half-sent or silent connections (< {PROMPT_STOP:?})"
    );
}

// ---------------------------------------------------------------------------------------------------------
// Half-closed clients.

/// Every catalogue endpoint, `/healthz` and `/api/endpoints`: (method, path).
fn every_route(item_id: i64) -> Vec<(&'static str, String)> {
    let mut routes: Vec<(&'static str, String)> =
        CATALOGUE.iter().map(|e| (e.method.as_str(), e.path_for(item_id))).collect();
    routes.push(("GET", HEALTH_PATH.to_owned()));
    routes.push(("GET", ENDPOINTS_PATH.to_owned()));
    routes
}

pub fn half_closed_clients_get_their_answer_on_every_endpoint(server: &str) {
    let server = start_arm(server, ServerOptions::default().arg("--sleep-ms", "50"));
    for (method, path) in every_route(11) {
        let body_header = if method == "POST" { "Content-Length: 0\r\n" } else { "" };
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n{body_header}\r\n");
        let reply = send_then_half_close(server.addr(), raw.as_bytes(), CLOSE_WITHIN);
        let what = format!("{method} {path}, then the client shut down its write side");
        assert_eq!(reply.status(), Some(200), "{what}: {:?}", reply.text());
        assert!(reply.closed, "{what}: answered, but the connection was left open");
    }
}

// ---------------------------------------------------------------------------------------------------------
// SQLite's WAL.

fn wal_bytes(server: &TestServer) -> u64 {
    std::fs::metadata(wal_file(server.db_path())).map(|meta| meta.len()).unwrap_or(0)
}

pub fn a_graceful_stop_checkpoints_and_leaves_no_wal_file(server: &str) {
    let server = start_arm(server, ServerOptions::workers(2));
    let writes: Vec<&'static Endpoint> = CATALOGUE.iter().filter(|e| e.writes()).collect();
    let total = 120;
    for write in 0..total {
        let endpoint = writes[write % writes.len()];
        let path = endpoint.path_for(1 + i64::try_from(write % 40).expect("a small index"));
        let response = request(server.addr(), "POST", &path);
        assert_eq!(response.status, 200, "POST {path}: {}", response.text());
    }
    assert!(wal_bytes(&server) > 0, "writes in WAL mode leave frames in the -wal file while the server runs");
    let stopped = server.stop_keeping_files();
    assert_eq!(stopped.status.code(), Some(0), "the stop must exit with 0, got {}", stopped.status);
    let wal = wal_file(&stopped.db);
    assert!(
        !wal.exists(),
        "{} is still there ({} bytes) after a graceful stop",
        wal.display(),
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
    );
    let db = rusqlite::Connection::open(&stopped.db).expect("opening the stopped server's database");
    assert_eq!(shared::db::total_value(&db), Ok(i64::try_from(total).expect("a small count")), "every write landed");
}

/// Writes in the bounded-WAL check: without a checkpoint they leave a ~24 MB WAL (one 4 KiB page each).
const SUSTAINED_WRITES: usize = 6000;

/// The WAL is recycled while writes go on: SQLite bumps the checkpoint sequence number in the WAL header
/// each time a writer restarts the log from its beginning, which only happens once a checkpoint copied it
/// all back. Servers whose connections never checkpoint leave it at 0 and the file growing by a page per
/// write. How large the file gets meanwhile depends on how fast the checkpointer is scheduled, so the size
/// bound itself (16 MiB at 2,000 writes/s for 10 minutes) is measured by `scripts/soak-wal.sh`, not here.
pub fn sustained_writes_keep_the_wal_bounded(server: &str) {
    let server = start_arm(server, ServerOptions::workers(2));
    let addr = server.addr();
    let db = server.db_path().to_owned();
    let writes: Vec<&'static Endpoint> = CATALOGUE.iter().filter(|e| e.writes()).collect();
    let threads = 4;
    let (restarts, _) = run_parallel(threads, move |thread| {
        let mut connection = KeepAliveConnection::open(addr);
        let mut restarts = 0;
        for write in 0..SUSTAINED_WRITES / threads {
            let endpoint = writes[(thread + write) % writes.len()];
            let item: Item = json(endpoint.name, &connection.request("POST", &endpoint.path_for(5)));
            assert_eq!(item.id, 5);
            restarts = restarts.max(wal_checkpoint_sequence(&wal_file(&db)).unwrap_or(0));
        }
        restarts
    });
    let restarts = restarts.into_iter().max().unwrap_or(0);
    assert!(restarts >= 1, "{SUSTAINED_WRITES} writes never restarted the WAL (checkpoint sequence {restarts})");
}

/// The checkpoint sequence number of a WAL file: bytes 12..16 of its header, big-endian.
fn wal_checkpoint_sequence(wal: &std::path::Path) -> Option<u32> {
    let header = std::fs::read(wal).ok()?;
    let bytes: [u8; 4] = header.get(12..16)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

// ---------------------------------------------------------------------------------------------------------
// Start-up knobs.

pub fn a_short_busy_timeout_starts_and_a_short_pool_timeout_is_refused_by_name(server: &str) {
    let short_busy = start_arm(server, ServerOptions::default().arg("--busy-timeout-ms", "5"));
    let write = endpoint("update_item_sync_threadpool_write");
    let response = short_busy.request("POST", &write.path_for(1));
    assert_eq!(response.status, 200, "a write with --busy-timeout-ms 5: {}", response.text());
    drop(short_busy);

    let (status, stderr) = run_to_exit(server, &["--pool-timeout-ms", "5"]);
    assert!(!status.success(), "--pool-timeout-ms 5 must be refused");
    for needed in ["--pool-timeout-ms", "100..=3600000"] {
        assert!(stderr.contains(needed), "the refusal must name {needed}: {stderr}");
    }
}

/// Runs the server binary with `args` (on port 0, with a throwaway database) and waits for it to exit; kills
/// it if it is still running after `REQUEST_TIMEOUT`. The exit status and stderr.
fn run_to_exit(server: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    // A label such as `monoio/epoll` names the arm and its `--io-driver`.
    let (server, driver_args) = match server.split_once('/') {
        Some((server, driver)) => (server, vec!["--io-driver", driver]),
        None => (server, Vec::new()),
    };
    let binary = runner::tools::server::locate_binary(server).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("refused.db");
    let mut child = Command::new(&binary)
        .args(["--host", "127.0.0.1", "--port", "0", "--db"])
        .arg(&db)
        .args(driver_args)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    while child.try_wait().expect("polling the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("collecting the child's output");
    (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
}
