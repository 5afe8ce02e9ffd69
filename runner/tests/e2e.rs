//! End to end: the real runner binary drives the real servers through the real vegeta, on loopback, with
//! short attacks. These check what a user relies on: every file is written, numbers agree with vegeta's own
//! report, the anti-pattern shows, and failures or Ctrl-C lose nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use runner::model::{RunResults, RunStatus, TestRecord, TestStatus};
use shared::IoDriver;

mod attackers;
mod fastapi;
mod remote;
mod server_host;

/// Tests whose figures must not be disturbed take this for reading; the test that starves vegeta with busy
/// loops on its CPU takes it for writing, so it never runs beside them (tests of one binary run in parallel).
static VEGETA_CPUS: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn quiet_vegeta_cpus() -> std::sync::RwLockReadGuard<'static, ()> {
    VEGETA_CPUS.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runner_command(out: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runner"));
    command.args(args).arg("--out").arg(out).stdin(Stdio::null());
    command
}

fn run_runner(out: &Path, args: &[&str]) -> Output {
    runner_command(out, args).output().expect("the runner binary starts")
}

fn only_run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(out)
        .expect("out folder exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "exactly one run folder in {}: {dirs:?}", out.display());
    dirs.into_iter().next().expect("one run folder")
}

fn record<'r>(results: &'r RunResults, server: &str, endpoint: &str) -> &'r TestRecord {
    results
        .tests
        .iter()
        .find(|t| t.server == server && t.endpoint.name == endpoint)
        .unwrap_or_else(|| panic!("no record for {server} {endpoint}"))
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn vegeta_report(raw: &Path) -> serde_json::Value {
    let vegeta = runner::tools::vegeta::Vegeta::locate(None).expect("vegeta is installed (scripts/install-vegeta.sh)");
    let output =
        Command::new(vegeta.path()).args(["report", "-type=json"]).arg(raw).output().expect("vegeta report runs");
    serde_json::from_slice(&output.stdout).expect("vegeta report prints JSON")
}

#[test]
fn short_matrix_writes_every_file_and_agrees_with_vegeta() {
    let _quiet = quiet_vegeta_cpus();
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(
        out.path(),
        &[
            "--servers",
            "axum,monoio-hyper",
            "--filter",
            "/api/simple/async/",
            "--filter",
            "/api/db/async/write",
            "--rates",
            "50",
            "--duration",
            "2s",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let run_dir = only_run_dir(out.path());
    let results = RunResults::load(&run_dir).expect("results.json loads");
    assert_eq!(results.run.status, RunStatus::Complete);
    assert_eq!(results.tests.len(), 4, "2 servers x 2 endpoints x 1 rate");
    assert!(results.run.finished_at.is_some());
    assert!(!results.run.machine.cpu_model.is_empty());
    for test in &results.tests {
        assert_eq!(test.status, TestStatus::Ok, "{}: {:?}", test.id, test.failure);
        for file in [&test.files.metrics, &test.files.raw, &test.files.samples] {
            assert!(run_dir.join(file).is_file(), "{} is missing", file);
        }
        let metrics = test.metrics.as_ref().expect("metrics");
        assert_eq!(metrics.requests, 100, "{}: 50/s for 2s", test.id);
        assert!((metrics.success_pct - 100.0).abs() < f64::EPSILON, "{}: {metrics:?}", test.id);
        assert!((40.0..=55.0).contains(&metrics.achieved_rps), "{}: achieved {}", test.id, metrics.achieved_rps);
        assert!(metrics.latency_ms.p50 > 0.0 && metrics.latency_ms.p50 <= metrics.latency_ms.p99);
        let resources = test.resources.as_ref().expect("resources");
        assert!(resources.server.samples >= 2, "{}: {resources:?}", test.id);
        assert!(resources.server.rss_max_bytes > 0);

        let vegeta = vegeta_report(&run_dir.join(&test.files.raw));
        assert_eq!(vegeta["requests"].as_u64(), Some(metrics.requests), "{}", test.id);
        let vegeta_max_ms = vegeta["latencies"]["max"].as_f64().expect("max") / 1e6;
        assert!(
            (vegeta_max_ms - metrics.latency_ms.max).abs() < 0.01,
            "{}: max {vegeta_max_ms} vs {}",
            test.id,
            metrics.latency_ms.max
        );
        let vegeta_rate = vegeta["rate"].as_f64().expect("rate");
        assert!(
            (vegeta_rate - metrics.send_rate_rps).abs() / vegeta_rate < 0.01,
            "{}: rate {vegeta_rate} vs {}",
            test.id,
            metrics.send_rate_rps
        );
    }
    for server in ["axum", "monoio-hyper"] {
        let slept = record(&results, server, "simple_async").metrics.as_ref().expect("metrics").latency_ms.p50;
        assert!(slept >= 50.0, "{server} simple_async p50 {slept} ms must include the 50 ms sleep");
        let audit = record(&results, server, "update_item_async_write").write_audit.as_ref().expect("write audit");
        assert_eq!((audit.acknowledged, audit.lost, audit.phantom), (100, 0, 0), "{server}: {audit:?}");
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("simple_async") && stdout.contains(&run_dir.display().to_string()), "{stdout}");
    assert!(run_dir.join("report.html").is_file(), "the run renders its report");
    assert!(!run_dir.join("db").exists(), "every database is deleted after its audit (no --keep-db)");
    assert!(!run_dir.join("targets").exists(), "every targets file is deleted after its attack");
    let csv = std::fs::read_to_string(run_dir.join("results.csv")).expect("results.csv beside results.json");
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    assert_eq!(csv.lines().count(), results.tests.len() + 1, "a header and one row per test:\n{csv}");
    for column in ["id", "server", "rate", "metrics.latency_ms.p99", "metrics.achieved_rps", "server_addr"] {
        assert!(header.contains(&column), "results.csv has {column}: {header:?}");
    }
    let addresses: std::collections::HashSet<&str> = results
        .tests
        .iter()
        .filter_map(|t| t.server_addr.as_deref())
        .map(|a| a.split(':').next().unwrap_or(a))
        .collect();
    assert_eq!(addresses.len(), results.tests.len(), "each test's server had an address of its own: {addresses:?}");
    for test in &results.tests {
        let plot = vegeta_plot(&run_dir.join(&test.files.raw));
        assert!(plot.contains("<html") || plot.contains("<!doctype"), "{}: vegeta plot reads the .bin", test.id);
    }
}

/// `vegeta plot` of a raw results file: an HTML page.
fn vegeta_plot(raw: &Path) -> String {
    let vegeta = runner::tools::vegeta::Vegeta::locate(None).expect("vegeta is installed (scripts/install-vegeta.sh)");
    let output = Command::new(vegeta.path()).arg("plot").arg(raw).output().expect("vegeta plot runs");
    assert!(output.status.success(), "vegeta plot {}: {}", raw.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).to_lowercase()
}

/// Whether this kernel lets a process set up io_uring (`io_uring_disabled` 0; absent on kernels before it).
fn io_uring_allowed() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").map_or(true, |value| value.trim() == "0")
}

#[test]
fn the_io_driver_axis_runs_monoio_on_both_drivers_as_healthz_reports() {
    let out = tempfile::tempdir().expect("temp dir");
    let args = ["--servers", "monoio", "--io-drivers", "io_uring,epoll", "--filter", "/api/simple/noop/"];
    let output = run_runner(
        out.path(),
        &[&args[..], &["--rates", "20", "--duration", "1s", "--warmup", "0", "--no-html"]].concat(),
    );
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json loads");
    assert_eq!(results.tests.len(), 2, "one test per driver");
    for (test, driver) in results.tests.iter().zip([IoDriver::IoUring, IoDriver::Epoll]) {
        assert_eq!(test.io_driver, Some(driver), "{}", test.id);
        assert!(test.id.starts_with(&format!("monoio-{driver}_w1_")), "{}", test.id);
        if driver == IoDriver::IoUring && !io_uring_allowed() {
            assert_eq!(test.status, TestStatus::Failed, "never measured on epoll instead");
            assert!(test.failure.as_deref().unwrap_or_default().contains("io_uring"), "{:?}", test.failure);
            continue;
        }
        assert_eq!(test.status, TestStatus::Ok, "{}: {:?}", test.id, test.failure);
        let health = test.server_health.as_ref().expect("the server's /healthz is recorded");
        assert_eq!(health.io_driver, driver.as_str(), "{}: /healthz agrees with --io-driver", test.id);
        assert_eq!(test.metrics.as_ref().map(|m| m.requests), Some(20), "{}", test.id);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("monoio/io_uring") && stdout.contains("monoio/epoll"), "{stdout}");
}

#[test]
fn the_event_loop_blocking_anti_pattern_shows_with_one_worker() {
    let _quiet = quiet_vegeta_cpus();
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(
        out.path(),
        &[
            "--filter",
            "/api/simple/async_blocking/",
            "--filter",
            "/api/simple/async/",
            "--rates",
            "60",
            "--duration",
            "2s",
            // Long enough that no request times out: the queue drains at the blocking server's own pace, so
            // its throughput is exactly its capacity (a short timeout would also waste capacity on requests
            // whose clients gave up, which the server still sleeps through).
            "--timeout",
            "30s",
            "--workers",
            "1",
            "--no-html",
            "--warmup",
            "0",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json loads");
    for server in ["axum", "monoio-hyper"] {
        let blocking =
            record(&results, server, "simple_async_blocking").metrics.as_ref().expect("metrics").achieved_rps;
        let non_blocking = record(&results, server, "simple_async").metrics.as_ref().expect("metrics").achieved_rps;
        // One event-loop thread that sleeps 50 ms per request serves at most 20 requests per second.
        assert!(
            (16.0..=21.0).contains(&blocking),
            "{server} simple_async_blocking achieved {blocking}/s, expected ~20/s"
        );
        assert!(non_blocking >= 55.0, "{server} simple_async achieved {non_blocking}/s, expected the 60/s target");
    }
}

/// Finds the pid of the server the runner started with a database inside `run_dir`, looking at least once
/// (a deadline already past still scans `/proc` one time).
fn server_pid_under(out: &Path, deadline: Instant) -> Option<i32> {
    process_under(out, "-server\0", deadline)
}

/// The pid of a live process whose command line names `out` and contains `marker`, polling until `deadline`
/// and scanning at least once.
fn process_under(out: &Path, marker: &str, deadline: Instant) -> Option<i32> {
    loop {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline);
            if cmdline.contains(marker) && cmdline.contains(&*out.to_string_lossy()) {
                return Some(pid);
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls until no process names `out` with `marker`; the last one seen if some still does at `deadline`.
fn survivor_under(out: &Path, marker: &str, deadline: Instant) -> Option<i32> {
    loop {
        let found = process_under(out, marker, Instant::now());
        if found.is_none() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_server_killed_mid_test_gives_a_failed_record_and_a_complete_results_file() {
    let out = tempfile::tempdir().expect("temp dir");
    let child = runner_command(
        out.path(),
        &[
            "--servers",
            "axum",
            "--filter",
            "/api/simple/async/",
            "--rates",
            "50",
            "--duration",
            "4s",
            "--warmup",
            "0",
            "--no-html",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("runner starts");
    let pid = server_pid_under(out.path(), Instant::now() + Duration::from_secs(20)).expect("the server starts");
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: SIGKILL to a pid we found under our own temp folder.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let output = child.wait_with_output().expect("runner finishes");
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json is complete");
    assert_eq!(results.run.status, RunStatus::Complete);
    let test = record(&results, "axum", "simple_async");
    assert_eq!(test.status, TestStatus::Failed);
    let failure = test.failure.as_deref().unwrap_or_default();
    assert!(failure.contains("exited during the test"), "{failure}");
    assert!(!test.validity.valid);
}

#[test]
fn ctrl_c_keeps_finished_tests_and_exits_130() {
    let out = tempfile::tempdir().expect("temp dir");
    let child = runner_command(
        out.path(),
        &["--servers", "axum", "--filter", "/api/simple/noop/", "--rates", "50,60,70", "--duration", "2s", "--no-html"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("runner starts");
    let results_file = |out: &Path| std::fs::read_dir(out).ok()?.flatten().map(|e| e.path()).find(|p| p.is_dir());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut finished_one = false;
    while Instant::now() < deadline && !finished_one {
        std::thread::sleep(Duration::from_millis(100));
        finished_one = results_file(out.path())
            .and_then(|dir| RunResults::load(&dir).ok())
            .is_some_and(|results| !results.tests.is_empty());
    }
    assert!(finished_one, "a first test finished within 30 s");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: SIGINT to the runner we spawned, as a terminal's Ctrl-C would.
    unsafe { libc::kill(i32::try_from(child.id()).expect("pid fits"), libc::SIGINT) };
    let output = child.wait_with_output().expect("runner finishes");
    assert_eq!(output.status.code(), Some(130), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json is complete");
    assert_eq!(results.run.status, RunStatus::Interrupted);
    assert!(!results.tests.is_empty() && results.tests.len() < 3, "{} tests", results.tests.len());
    assert!(server_pid_under(out.path(), Instant::now()).is_none(), "no server outlives the runner");
}

#[test]
fn vegeta_and_the_server_die_with_a_killed_runner() {
    let out = tempfile::tempdir().expect("temp dir");
    let mut child = runner_command(
        out.path(),
        &["--servers", "axum", "--filter", "/api/simple/noop/", "--rates", "50", "--duration", "20s", "--warmup", "0"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("runner starts");
    // vegeta's command line names its results file inside the run folder.
    let vegeta = process_under(out.path(), "attack\0", Instant::now() + Duration::from_secs(30));
    assert!(vegeta.is_some(), "the attack started");
    assert!(server_pid_under(out.path(), Instant::now()).is_some(), "the server runs during the attack");
    // SIGKILL: the runner gets no chance to clean up; the kernel's death signal must end its children.
    child.kill().expect("kill the runner");
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(5);
    assert_eq!(survivor_under(out.path(), "attack\0", deadline), None, "vegeta outlived the runner");
    assert_eq!(survivor_under(out.path(), "-server\0", deadline), None, "the server outlived the runner");
}

#[test]
fn bad_arguments_and_missing_vegeta_exit_2_with_what_to_do() {
    let out = tempfile::tempdir().expect("temp dir");
    let cases: &[(&[&str], &str)] = &[
        (&["--servers", "nginx"], "unknown server"),
        (&["--filter", "/api/nothing"], "matches no benchmarked endpoint"),
        (&["--rates", "0"], "positive"),
        (&["--duration", "soon"], "not a duration"),
        (&["--host", "192.168.1.1"], "loopback"),
        (&["--vegeta", "/nonexistent/vegeta"], "go install github.com/tsenart/vegeta/v12@v12.13.0"),
    ];
    for (args, expected) in cases {
        let output = run_runner(out.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: stderr lacks {expected:?}:\n{stderr}");
    }
}

/// What cannot run is refused before anything starts: exit 2, the flag (or path) to change named, and no
/// run folder created.
#[test]
fn plans_that_cannot_run_exit_2_before_anything_starts() {
    let out = tempfile::tempdir().expect("temp dir");
    let file = out.path().join("a-file");
    std::fs::write(&file, "not a folder").expect("written");
    let file_arg = file.display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (&["--workers", "1025"], "--workers"),
        (&["--find-max", "--max-rate", "0"], "--max-rate"),
        (&["--find-max", "--start-rate", "500", "--max-rate", "100"], "--max-rate 100"),
        (&["--duration", "1ns"], "--duration"),
        (&["--vegeta", "/bin/true"], "/bin/true is not vegeta"),
        (&["--servers", ""], "--servers"),
    ];
    for (args, expected) in cases {
        let output = run_runner(out.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", describe(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: stderr lacks {expected:?}:\n{stderr}");
    }
    let into_file = Command::new(env!("CARGO_BIN_EXE_runner")).args(["--out", &file_arg]).output().expect("runs");
    assert_eq!(into_file.status.code(), Some(2), "{}", describe(&into_file));
    assert!(String::from_utf8_lossy(&into_file.stderr).contains(&file_arg), "{}", describe(&into_file));
    assert!(!String::from_utf8_lossy(&into_file.stderr).contains("servers:"), "refused before the plan is printed");
    let missing = out.path().join("no-such-run");
    let report =
        Command::new(env!("CARGO_BIN_EXE_runner")).arg("report").arg("--dir").arg(&missing).output().expect("runs");
    assert_eq!(report.status.code(), Some(2), "{}", describe(&report));
    let dirs = std::fs::read_dir(out.path()).expect("out").flatten().filter(|e| e.path().is_dir()).count();
    assert_eq!(dirs, 0, "nothing started: no run folder");
}

#[test]
fn dry_run_prints_the_matrix_and_runs_nothing() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(out.path(), &["--dry-run", "--filter", "/api/db", "--rates", "500", "--workers", "1,2"]);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let tests = shared::binaries::SERVERS.len() * 2 * 6;
    assert!(stdout.contains(&format!("{tests} tests")), "every server x 2 workers x 6 endpoints x 1 rate:\n{stdout}");
    assert_eq!(std::fs::read_dir(out.path()).expect("out").count(), 0, "a dry run writes nothing");
}

#[test]
fn report_rerenders_a_run_folder_and_explains_a_missing_one() {
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(
        out.path(),
        &[
            "--servers",
            "monoio-hyper",
            "--filter",
            "/api/simple/noop/",
            "--rates",
            "20",
            "--duration",
            "1s",
            "--no-html",
            "--keep-db",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let run_dir = only_run_dir(out.path());
    assert!(!run_dir.join("report.html").exists(), "--no-html writes no HTML");
    let kept = std::fs::read_dir(run_dir.join("db")).map(|dir| dir.count()).unwrap_or(0);
    assert!(kept >= 1, "--keep-db keeps the test's database");
    let report = Command::new(env!("CARGO_BIN_EXE_runner"))
        .arg("report")
        .arg("--out")
        .arg(out.path())
        .env("COLUMNS", "100")
        .output()
        .expect("runs");
    assert!(report.status.success(), "{}", describe(&report));
    assert!(run_dir.join("report.html").is_file());
    let stdout = String::from_utf8_lossy(&report.stdout);
    assert!(stdout.lines().all(|line| line.chars().count() <= 100), "the terminal report fits 100 columns:\n{stdout}");
    let check = crate::report::open_offline(&run_dir.join("report.html"), &crate::report::browser_dir("e2e-browser"));
    assert!(!check.charts.is_empty(), "a real run's report has charts");
    assert_eq!(check.rendered, check.charts, "every chart of a real run's report rendered offline");
    let empty = tempfile::tempdir().expect("temp dir");
    let missing =
        Command::new(env!("CARGO_BIN_EXE_runner")).arg("report").arg("--out").arg(empty.path()).output().expect("runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no bench_* run folder"), "{}", describe(&missing));
}

#[test]
fn find_max_lands_where_the_handlers_predict() {
    let _quiet = quiet_vegeta_cpus();
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(
        out.path(),
        &[
            "--find-max",
            "--filter",
            "/api/simple/async_blocking/",
            "--filter",
            "/api/simple/async/",
            "--budget",
            "150s",
            "--duration",
            "1s",
            "--warmup",
            "0",
            "--start-rate",
            "50",
            "--max-rate",
            "400",
            "--slo-p99",
            "100ms",
            "--no-html",
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json loads");
    assert_eq!(results.capacity.len(), shared::binaries::SERVERS.len() * 2, "every server x 2 endpoints");
    for capacity in &results.capacity {
        let found = capacity.sustainable_rps.unwrap_or(0);
        assert!(!capacity.probes.is_empty(), "every search probes at least once: {capacity:?}");
        for probe in &capacity.probes {
            assert!(results.tests.iter().any(|t| t.id == probe.test_id), "probe {} is a persisted test", probe.test_id);
        }
        match capacity.endpoint.name.as_str() {
            // One event-loop thread sleeping 50 ms per request: 20 req/s.
            "simple_async_blocking" => {
                // Physics caps it at 20: a probe above that builds a queue, which the kept-up rule sees.
                assert!((15..=21).contains(&found), "{} sustains {found}: {capacity:?}", capacity.server);
                assert!(capacity.valid, "{capacity:?}");
            }
            // Non-blocking sleeps overlap: it meets the SLO all the way to the highest rate allowed.
            "simple_async" => assert_eq!(found, 400, "{} simple_async: {capacity:?}", capacity.server),
            other => panic!("unexpected endpoint {other}"),
        }
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("sustains"), "{stdout}");
}

/// `runner compare` on real run folders: a run against itself, against a copy whose p50s were tripled, and
/// against folders that cannot be compared.
#[test]
fn compare_passes_a_run_against_itself_and_fails_a_doctored_copy() {
    let _quiet = quiet_vegeta_cpus();
    let out = tempfile::tempdir().expect("temp dir");
    let args =
        ["--servers", "axum", "--filter", "/api/simple/async/", "--rates", "20", "--duration", "1s", "--warmup", "0"];
    let output = run_runner(out.path(), &[&args[..], &["--no-html"]].concat());
    assert!(output.status.success(), "{}", describe(&output));
    let run_dir = only_run_dir(out.path());
    let compare = |old: &Path, new: &Path| {
        Command::new(env!("CARGO_BIN_EXE_runner")).arg("compare").arg(old).arg(new).output().expect("runs")
    };

    let same = compare(&run_dir, &run_dir);
    assert_eq!(same.status.code(), Some(0), "{}", describe(&same));
    assert!(String::from_utf8_lossy(&same.stdout).contains("no regression"), "{}", describe(&same));

    let copies = tempfile::tempdir().expect("temp dir");
    let doctored = copies.path().join("doctored");
    std::fs::create_dir(&doctored).expect("created");
    let mut results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).expect("readable")).expect("JSON");
    // Triple the median latency: 20 requests are too few for compare to judge a p99 (their slowest one).
    for test in results["tests"].as_array_mut().expect("tests") {
        let p50 = test["metrics"]["latency_ms"]["p50"].as_f64().expect("a p50");
        test["metrics"]["latency_ms"]["p50"] = serde_json::json!(p50 * 3.0);
    }
    std::fs::write(doctored.join("results.json"), results.to_string()).expect("written");
    let worse = compare(&run_dir, &doctored);
    assert_eq!(worse.status.code(), Some(1), "{}", describe(&worse));
    assert!(String::from_utf8_lossy(&worse.stdout).contains("REGRESSION"), "{}", describe(&worse));

    let missing = compare(&run_dir, &copies.path().join("nowhere"));
    assert_eq!(missing.status.code(), Some(2), "{}", describe(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot compare"), "{}", describe(&missing));

    let half = copies.path().join("half");
    std::fs::create_dir(&half).expect("created");
    let text = std::fs::read_to_string(run_dir.join("results.json")).expect("readable");
    std::fs::write(half.join("results.json"), &text[..text.len() / 2]).expect("written");
    let half_written = compare(&run_dir, &half);
    assert_eq!(half_written.status.code(), Some(2), "{}", describe(&half_written));
    assert!(String::from_utf8_lossy(&half_written.stderr).contains("not valid JSON"), "{}", describe(&half_written));
}

/// Threads of this test process spinning on `cpus` (each pinned there) until dropped or `limit` passes.
struct BusyLoops {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyLoops {
    fn start(cpus: &[usize], count: usize, limit: Duration) -> BusyLoops {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let (stop, cpus) = (stop.clone(), cpus.to_vec());
                std::thread::spawn(move || {
                    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it; 0 is this thread.
                    unsafe {
                        let mut set: libc::cpu_set_t = std::mem::zeroed();
                        for &cpu in &cpus {
                            libc::CPU_SET(cpu, &mut set);
                        }
                        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                    }
                    let deadline = Instant::now() + limit;
                    let mut x: u64 = 1;
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        BusyLoops { stop, threads }
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_starved_load_generator_is_invalid_because_it_fell_behind_its_schedule() {
    use runner::host::affinity;
    // The CPUs the runner gives vegeta next to a 1-worker server; eight busy loops there leave it a fraction
    // of a core, far below what 8,000 req/s need, so it cannot keep its schedule.
    let vegeta_cpus = affinity::placement(&affinity::allowed_cpus(), 1, true).load_generator_cpus;
    assert!(!vegeta_cpus.is_empty(), "pinning gives vegeta CPUs");
    let out = tempfile::tempdir().expect("temp dir");
    let _alone = VEGETA_CPUS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let output = {
        let _busy = BusyLoops::start(&vegeta_cpus, 8, Duration::from_secs(60));
        run_runner(
            out.path(),
            &[
                "--servers",
                "axum",
                "--filter",
                "/api/simple/noop/",
                "--rates",
                "8000",
                "--duration",
                "2s",
                "--warmup",
                "0",
                "--no-html",
            ],
        )
    };
    assert!(output.status.success(), "{}", describe(&output));
    let results = RunResults::load(&only_run_dir(out.path())).expect("results.json loads");
    let test = record(&results, "axum", "simple_noop");
    assert_eq!(test.status, TestStatus::Ok, "{test:?}");
    let lag = test.schedule_lag.as_ref().expect("a schedule lag");
    println!("lag {lag:?}\nreasons {:?}\naccounting {:?}", test.validity.reasons, test.accounting);
    assert!(lag.p99_ms > lag.bound_ms, "{lag:?}");
    assert!(!test.validity.valid);
    let reason = runner::judge::validity::FELL_BEHIND_REASON;
    assert!(test.validity.reasons.iter().any(|r| r.starts_with(reason)), "{:?}", test.validity.reasons);
}

/// `runner` with no rate flags runs the study: cost tests with repeats, and the verdict ends the terminal
/// output and opens the HTML report.
#[test]
fn no_rate_flags_run_the_study_and_its_verdict_ends_the_output() {
    let _quiet = quiet_vegeta_cpus();
    let out = tempfile::tempdir().expect("temp dir");
    let output = run_runner(out.path(), &["--servers", "axum", "--filter", "/api/simple/noop/"]);
    assert!(output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("calibration.json is missing: calibrating the load generator first"), "{stderr}");
    let calibration = out.path().join("calibration.json");
    assert!(calibration.is_file(), "the quick calibration is stored for later runs");
    let calibration_runs = out.path().join("calibration");
    assert!(only_run_dir(&calibration_runs).join("results.json").is_file(), "its probes are kept apart");
    std::fs::remove_dir_all(&calibration_runs).expect("removed");
    let run_dir = only_run_dir(out.path());
    let results = RunResults::load(&run_dir).expect("results.json loads");
    let study = results.run.config.study.as_ref().expect("a study");
    assert!(study.repeat >= 3);
    assert_eq!(results.tests.len(), 3, "one endpoint, one arm, three repeats: {:?}", results.tests);
    assert!(results.tests.iter().all(|t| t.accounting.is_some()), "the cost is measured");
    // 2,000 req/s, or half the clean ceiling the quick calibration found when that is lower (a loaded machine).
    let rate = study.cost_rates.get("simple_noop").expect("a cost rate for the no-op");
    assert!((1..=2000).contains(rate), "{rate}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = stdout.rfind("VERDICT").expect("a verdict");
    let row = format!("simple_noop @ {rate}/s");
    assert!(stdout[verdict..].contains(&row) && stdout[verdict..].contains("Reading:"), "{stdout}");
    assert!(!stdout[verdict..].contains("report:"), "nothing follows the verdict:\n{stdout}");
    let html = std::fs::read_to_string(run_dir.join("report.html")).expect("the report");
    let (verdict, first_chart) = (html.find("id=\"verdict\""), html.find("class=\"chart\""));
    assert!(verdict.is_some() && verdict < first_chart, "the report opens with the verdict");
}
