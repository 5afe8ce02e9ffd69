//! vegeta's pieces on their own, then the real binary against a tiny local responder.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::attack::go_duration;
use super::decode::{parse_encoded_line, parse_encoded_stream};
use super::locate::{VersionLine, find_in_tools, is_executable_file, parse_go_version_m, parse_version_output};
use super::*;

pub(crate) fn noop_endpoint() -> &'static shared::Endpoint {
    shared::catalogue::by_name("simple_noop").expect("noop endpoint")
}

#[test]
fn not_found_names_the_install_command_and_script() {
    let err = Vegeta::locate(Some(Path::new("/nonexistent/vegeta"))).expect_err("missing");
    assert!(err.is_setup_problem());
    let message = err.to_string();
    assert!(message.contains("go install github.com/tsenart/vegeta/v12@v12.13.0"), "{message}");
    assert!(message.contains("scripts/install-vegeta.sh"), "{message}");
    assert!(message.contains("/nonexistent/vegeta"), "{message}");
}

#[test]
fn a_non_executable_file_is_not_vegeta() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("vegeta");
    std::fs::write(&file, "not a binary").expect("write");
    assert!(!is_executable_file(&file));
    assert!(matches!(Vegeta::locate(Some(&file)), Err(VegetaError::NotFound { .. })));
}

#[test]
fn finds_tools_bin_vegeta_above_a_root() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("tools/bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let vegeta = bin.join("vegeta");
    std::fs::write(&vegeta, "#!/bin/sh\n").expect("write");
    std::fs::set_permissions(&vegeta, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let deep = dir.path().join("target/debug/deps");
    std::fs::create_dir_all(&deep).expect("mkdir");
    assert_eq!(find_in_tools(&[deep]), Some(vegeta));
}

#[test]
fn version_output_of_a_go_install_build_is_empty() {
    let go_install = "Version: \nCommit: \nRuntime: go1.26.8 linux/amd64\nDate: \n";
    assert_eq!(parse_version_output(go_install), VersionLine::Empty);
    assert_eq!(parse_version_output("Version: v12.12.0\nCommit: abc\n"), VersionLine::Reported("v12.12.0".to_owned()));
    assert_eq!(parse_version_output(""), VersionLine::Absent);
    let go_version_m = "/x/vegeta: go1.26.8\n\tpath\tgithub.com/tsenart/vegeta/v12\n\
                        \tmod\tgithub.com/tsenart/vegeta/v12\tv12.13.0\th1:J/Ui=\n\
                        \tdep\tgithub.com/beorn7/perks\tv1.0.1\th1:Vl=\n";
    assert_eq!(parse_go_version_m(go_version_m).as_deref(), Some("v12.13.0"));
    assert_eq!(parse_go_version_m("/bin/true: not a Go binary\n"), None);
}

#[test]
fn a_binary_that_is_not_vegeta_is_refused() {
    let error = Vegeta::locate(Some(Path::new("/bin/true"))).expect_err("/bin/true is not vegeta");
    assert!(matches!(error, VegetaError::NotVegeta { .. }) && error.is_setup_problem(), "{error}");
    assert!(error.to_string().contains("/bin/true"), "{error}");
}

#[test]
fn durations_are_go_literals() {
    assert_eq!(go_duration(Duration::from_secs(30)), "30000ms");
    assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    assert_eq!(go_duration(Duration::from_nanos(1_500)), "1500ns");
}

#[test]
fn attack_arguments_always_name_targets_and_format() {
    let spec = AttackSpec {
        targets: PathBuf::from("/tmp/t.json"),
        rate: 500,
        duration: Duration::from_secs(10),
        timeout: Duration::from_secs(5),
        name: "axum_w1_simple_noop_500".to_owned(),
        output: PathBuf::from("/tmp/r.bin"),
        cpus: vec![],
        max_connections: Some(64),
        keep_bodies: false,
    };
    assert_eq!(
        display_args(&spec.arguments()),
        "attack -targets /tmp/t.json -format=json -rate=500/1s -duration=10000ms -timeout=5000ms \
         -keepalive=true -name axum_w1_simple_noop_500 -output /tmp/r.bin -max-body=0 -max-connections=64"
    );
    let pinned = AttackSpec { cpus: vec![1, 3], keep_bodies: true, ..spec.clone() };
    let args = display_args(&pinned.arguments());
    assert!(args.starts_with("-cpus 2 attack -targets") && args.contains("-max-body=-1"), "{args}");
    let unthrottled = AttackSpec { rate: 0, ..spec.clone() };
    assert!(matches!(unthrottled.validate(), Err(VegetaError::InvalidAttack(_))));
    let forever = AttackSpec { duration: Duration::ZERO, ..spec };
    assert!(matches!(forever.validate(), Err(VegetaError::InvalidAttack(_))));
}

#[test]
fn targets_cycle_over_item_ids_with_the_endpoint_method() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("targets.json");
    let write = shared::catalogue::by_name("update_item_async_write").expect("write endpoint");
    let count = write_targets(&path, "http://127.0.0.1:8080/", write, 1..=shared::db::SEED_ITEMS).expect("targets");
    assert_eq!(count, 2000);
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2000);
    assert_eq!(lines[0], r#"{"method":"POST","url":"http://127.0.0.1:8080/api/db/async/write/1"}"#);
    assert!(lines[1999].ends_with("/api/db/async/write/2000\"}"));
    let seed = shared::catalogue::seed_endpoint();
    assert_eq!(write_targets(&path, "http://127.0.0.1:1", seed, 1..=2000).expect("seed"), 1);
    #[allow(clippy::reversed_empty_ranges)]
    let empty = write_targets(&path, "http://127.0.0.1:1", noop_endpoint(), 1..=0);
    assert!(matches!(empty, Err(VegetaError::NoTargets(_))));
}

#[test]
fn parses_encoded_lines_ignoring_bodies_and_headers() {
    let line = r#"{"attack":"foo","seq":2,"code":0,"timestamp":"2026-11-28T16:47:42.056269305Z","latency":287421,"bytes_out":0,"bytes_in":0,"error":"Get \"http://127.0.0.1:18799/\": dial tcp 0.0.0.0:0-\u003e127.0.0.1:18799: connect: connection refused","body":null,"method":"GET","url":"http://127.0.0.1:18799/","headers":null}"#;
    let parsed = parse_encoded_line(line).expect("parses");
    assert_eq!(parsed.seq, 2);
    assert_eq!(parsed.code, 0);
    assert_eq!(parsed.latency_ns, 287_421);
    assert_eq!(parsed.timestamp_ns % 1_000_000_000, 56_269_305);
    assert!(parsed.error.contains("0.0.0.0:0->127.0.0.1:18799"), "{}", parsed.error);
    let stream = format!("{line}\n\n{line}\n");
    let results = parse_encoded_stream(stream.as_bytes(), Path::new("r.bin")).expect("stream");
    assert_eq!(results.len(), 2);
    let broken = parse_encoded_stream(&b"{\"seq\":1}\n"[..], Path::new("r.bin"));
    assert!(matches!(broken, Err(VegetaError::Parse { line: 1, .. })));
}

#[test]
fn parses_a_report() {
    let json = r#"{"latencies":{"total":13175509,"mean":658775,"50th":664637,"90th":889904,"95th":1327211,"99th":1749440,"max":1749440,"min":97967},"bytes_in":{"total":4312,"mean":215.6},"bytes_out":{"total":0,"mean":0},"earliest":"2026-11-28T16:47:41.956243582Z","latest":"2026-11-28T16:47:42.906053875Z","end":"2026-11-28T16:47:42.90677702Z","duration":949810293,"wait":723145,"requests":20,"rate":21.05683645186608,"throughput":7.364285905321302,"success":0.35,"status_codes":{"0":6,"200":7,"501":7},"errors":null}"#;
    let report: VegetaReport = serde_json::from_str(json).expect("report");
    assert_eq!(report.requests, 20);
    assert_eq!(report.latencies.p90_ns, 889_904);
    assert_eq!(report.status_codes.get(&crate::model::StatusCode(501)), Some(&7));
    assert!(report.errors.is_empty());
    assert_eq!(report.duration_ns, 949_810_293);
}

// --- Real vegeta against a tiny local responder ------------------------------------------------------

/// Locates vegeta the way the runner does; `None` (with a printed reason) skips a real-vegeta test.
pub(crate) fn real_vegeta() -> Option<Vegeta> {
    match Vegeta::locate(None) {
        Ok(vegeta) => Some(vegeta),
        Err(err) => {
            println!("SKIPPED: real vegeta test, vegeta cannot be located: {err}");
            None
        }
    }
}

/// A bounded HTTP/1.1 keep-alive responder on 127.0.0.1: answers `200 ok` to at most `max_requests`
/// requests, and stops accepting after `lifetime`.
pub(crate) struct Responder {
    port: u16,
    pub(crate) answered: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Responder {
    pub(crate) fn start(max_requests: usize, lifetime: Duration) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let answered = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (count, flag) = (answered.clone(), stop.clone());
        let acceptor = std::thread::spawn(move || {
            let until = Instant::now() + lifetime;
            let mut connections = Vec::new();
            while Instant::now() < until && !flag.load(Ordering::Relaxed) && connections.len() < 64 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (count, flag) = (count.clone(), flag.clone());
                        connections.push(std::thread::spawn(move || {
                            serve_connection(stream, &count, &flag, max_requests, until)
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            flag.store(true, Ordering::Relaxed);
            for connection in connections {
                let _ = connection.join();
            }
        });
        Responder { port, answered, stop, acceptor: Some(acceptor) }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn serve_connection(stream: TcpStream, count: &AtomicUsize, stop: &AtomicBool, max: usize, until: Instant) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let mut in_headers = false;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                continue;
            }
            Err(_) => return,
        }
        if !in_headers {
            in_headers = !line.trim().is_empty();
            continue;
        }
        if line.trim().is_empty() {
            // GET requests carry no body: the blank line ends the request.
            in_headers = false;
            if count.fetch_add(1, Ordering::Relaxed) >= max {
                return;
            }
            let response = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
            if writer.write_all(response).is_err() {
                return;
            }
        }
    }
}

pub(crate) fn attack_spec(dir: &Path, targets: PathBuf, rate: u32, duration: Duration) -> AttackSpec {
    AttackSpec {
        targets,
        rate,
        duration,
        timeout: Duration::from_secs(2),
        name: "unit".to_owned(),
        output: dir.join("results.bin"),
        cpus: vec![],
        max_connections: None,
        keep_bodies: false,
    }
}

#[test]
fn real_attack_is_stopped_by_interrupt_and_by_its_deadline() {
    let Some(vegeta) = real_vegeta() else { return };
    let responder = Responder::start(800, Duration::from_secs(30));
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = dir.path().join("targets.json");
    write_targets(&targets, &responder.base_url(), noop_endpoint(), 1..=10).expect("targets");

    let spec = attack_spec(dir.path(), targets.clone(), 50, Duration::from_secs(20));
    let attack = vegeta.start_attack(&spec).expect("attack starts");
    std::thread::sleep(Duration::from_millis(700));
    attack.interrupt();
    let outcome = attack.wait_with_deadline(Duration::from_secs(15)).expect("attack ends");
    assert!(outcome.interrupted && !outcome.killed, "{outcome:?}");
    assert!(outcome.elapsed < Duration::from_secs(5), "{outcome:?}");
    let flushed = vegeta.decode(&spec.output).expect("interrupted results decode");
    println!("interrupted: {outcome:?}, {} results flushed", flushed.len());
    assert!((10..=60).contains(&flushed.len()), "{} results flushed", flushed.len());
    attack.interrupt(); // a no-op once it ended
    assert!(attack.try_wait().expect("poll").is_some());

    let late = AttackSpec { output: dir.path().join("late.bin"), ..spec };
    let attack = vegeta.start_attack(&late).expect("attack starts");
    let outcome = attack.wait_with_deadline(Duration::from_millis(600)).expect("attack ends");
    println!("overran: {outcome:?}");
    assert!(outcome.overran && !outcome.interrupted, "{outcome:?}");
    assert!(outcome.elapsed < Duration::from_secs(6), "{outcome:?}");
    assert!(!vegeta.decode(&late.output).expect("overrun results decode").is_empty());
}

#[test]
fn dropping_a_running_attack_kills_it() {
    let Some(vegeta) = real_vegeta() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = dir.path().join("targets.json");
    // Nothing listens on port 9 of 127.0.0.1 in these tests; connection errors are fine here.
    write_targets(&targets, "http://127.0.0.1:9", noop_endpoint(), 1..=1).expect("targets");
    let spec = attack_spec(dir.path(), targets, 5, Duration::from_secs(30));
    let attack = vegeta.start_attack(&spec).expect("attack starts");
    let pid = attack.pid();
    drop(attack);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    assert!(status.is_empty() || status.contains("State:\tZ"), "vegeta {pid} still alive: {status}");
}

#[test]
fn the_recorded_version_is_what_the_installed_binary_says() {
    let Some(vegeta) = real_vegeta() else { return };
    // The project installs v12.13.0 with `go install`, which reports an empty version: `go version -m`
    // reads the module version from the binary's build info.
    assert!(vegeta.version().starts_with("v12.13.0"), "{}", vegeta.version());
}

#[test]
fn empty_results_decode_to_nothing() {
    let Some(vegeta) = real_vegeta() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("empty.bin");
    std::fs::write(&raw, b"").expect("write");
    assert!(vegeta.decode(&raw).expect("decode").is_empty());
    assert_eq!(vegeta.report_json(&raw).expect("report"), VegetaReport::default());
    let missing = vegeta.decode(&dir.path().join("missing.bin"));
    assert!(matches!(missing, Err(VegetaError::Io { .. })));
}
