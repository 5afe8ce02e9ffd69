//! Everything about the load generator process: finding the vegeta binary, writing its targets file, running
//! an attack (pinned, bounded by a deadline, interruptible, never outliving the runner), and reading its
//! results back, both exactly (`vegeta encode`, one record per request) and as vegeta's own summary
//! (`vegeta report`), which tests use to cross-check our exact metrics.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::ops::RangeInclusive;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{affinity, child};

/// The vegeta module version the project installs. A `go install` build reports an empty version, so this is
/// what gets recorded (plus whatever the binary reports, when it reports something).
pub const VEGETA_MODULE_VERSION: &str = "v12.13.0";
/// The command that installs the expected vegeta.
pub const INSTALL_COMMAND: &str = "go install github.com/tsenart/vegeta/v12@v12.13.0";
/// Environment variable naming the vegeta binary to use.
pub const VEGETA_ENV: &str = "VEGETA";
/// Where the project's install script puts vegeta, relative to the checkout.
pub const TOOLS_RELATIVE_PATH: &str = "tools/bin/vegeta";

/// How often a waiting attack is polled: short next to any attack, long enough to cost nothing.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// Time an attack gets to flush its results after SIGINT before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Bytes of vegeta's stderr kept for error messages.
const STDERR_TAIL_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum VegetaError {
    /// No usable vegeta binary: the runner exits with status 2 on this one.
    #[error(
        "vegeta not found ({searched}). Install it with `{INSTALL_COMMAND}` (Go >= 1.22) and put it on PATH or \
         set {VEGETA_ENV}=/path/to/vegeta, or run scripts/install-vegeta.sh to install it into this checkout's \
         {TOOLS_RELATIVE_PATH}"
    )]
    NotFound { searched: String },
    #[error("cannot run {binary} {args}")]
    Spawn { binary: PathBuf, args: String, source: std::io::Error },
    #[error("vegeta attack (pid {pid}) exited with {status}; its stderr ends with: {stderr}")]
    AttackFailed { pid: u32, status: ExitStatus, stderr: String },
    #[error("`{binary} {args}` exited with {status}; its stderr ends with: {stderr}")]
    CommandFailed { binary: PathBuf, args: String, status: ExitStatus, stderr: String },
    #[error("invalid attack: {0}")]
    InvalidAttack(String),
    #[error("no targets to write to {0} (empty id range)")]
    NoTargets(PathBuf),
    #[error("{action} {path}")]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cannot parse line {line} of `vegeta {command}` output for {raw}")]
    Parse { command: &'static str, raw: PathBuf, line: u64, source: serde_json::Error },
}

impl VegetaError {
    /// Whether this is [`VegetaError::NotFound`] (a setup problem: the runner exits 2).
    pub fn is_not_found(&self) -> bool {
        matches!(self, VegetaError::NotFound { .. })
    }
}

type Result<T, E = VegetaError> = std::result::Result<T, E>;

/// A located, runnable vegeta binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vegeta {
    path: PathBuf,
    /// What `vegeta -version` printed after `Version:`, when it printed anything.
    reported_version: Option<String>,
}

impl Vegeta {
    /// Finds vegeta: `explicit` if given, else `$VEGETA`, else `PATH`, else `tools/bin/vegeta` in a folder
    /// above the runner executable or above the current directory. An explicit path or `$VEGETA` that is not an
    /// executable file is an error rather than a silent fallback, so the binary measured is the one asked for.
    pub fn locate(explicit: Option<&Path>) -> Result<Vegeta> {
        let path = find_binary(explicit)?;
        let reported_version = reported_version(&path)?;
        Ok(Vegeta { path, reported_version })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the binary itself reports as its version (`None` for `go install` builds, which report nothing).
    pub fn reported_version(&self) -> Option<&str> {
        self.reported_version.as_deref()
    }

    /// The version to record: the module version, plus what the binary reports when it reports anything.
    pub fn version(&self) -> String {
        match &self.reported_version {
            Some(reported) => format!("{VEGETA_MODULE_VERSION} (binary reports {reported})"),
            None => VEGETA_MODULE_VERSION.to_owned(),
        }
    }

    /// Starts `vegeta attack` in the background. Its results go to `spec.output`; stdin is null (vegeta would
    /// otherwise read targets from it) and stderr is kept for error messages.
    ///
    /// The child gets its own process group ([`child::tie_to_runner`]), so a terminal Ctrl-C reaches only the
    /// runner, which then stops the attack with one SIGINT ([`RunningAttack::interrupt`]); two SIGINTs would
    /// make vegeta exit without flushing its results. It is killed if the runner dies (spawn from a long-lived
    /// thread: the kernel's death signal follows the spawning thread) or drops the [`RunningAttack`].
    pub fn start_attack(&self, spec: &AttackSpec) -> Result<RunningAttack> {
        spec.validate()?;
        let args = spec.arguments();
        let mut command = Command::new(&self.path);
        command.args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        affinity::pin_command(&mut command, &spec.cpus);
        child::tie_to_runner(&mut command);
        let mut process = command.spawn().map_err(|source| VegetaError::Spawn {
            binary: self.path.clone(),
            args: display_args(&args),
            source,
        })?;
        let stderr = process.stderr.take().map(spawn_tail_reader);
        Ok(RunningAttack {
            pid: process.id(),
            started: Instant::now(),
            state: Mutex::new(AttackState { child: process, exit: None, interrupts: 0, killed: false, stderr }),
        })
    }

    /// Decodes a raw results file (`vegeta encode -to=json`) into one record per request, in the order vegeta
    /// wrote them (completion order, not send order: sort by `seq` for send order). The output is read as a
    /// stream, one line at a time; an empty file (an attack stopped before any result) decodes to nothing.
    pub fn decode(&self, raw: &Path) -> Result<Vec<RequestResult>> {
        if is_empty_file(raw)? {
            return Ok(Vec::new());
        }
        let args = vec!["encode".into(), "-to=json".into(), raw.as_os_str().to_owned()];
        let mut process = self.spawn_tool(&args)?;
        let stderr = process.stderr.take().map(spawn_tail_reader);
        let parsed = match process.stdout.take() {
            Some(stdout) => parse_encoded_stream(BufReader::new(stdout), raw),
            None => Ok(Vec::new()),
        };
        if parsed.is_err() {
            // Stop producing output nobody reads; the parse error is the one to report.
            let _ = process.kill();
        }
        let status = wait_tool(&mut process, &self.path, &args)?;
        let stderr = join_tail(stderr);
        let results = parsed?;
        self.check_tool_status(status, &args, stderr)?;
        Ok(results)
    }

    /// vegeta's own summary of a raw results file (`vegeta report -type=json`). Its percentiles are estimates;
    /// the runner records exact ones from [`Vegeta::decode`] and uses this to cross-check.
    pub fn report_json(&self, raw: &Path) -> Result<VegetaReport> {
        if is_empty_file(raw)? {
            return Ok(VegetaReport::default());
        }
        let args = vec!["report".into(), "-type=json".into(), raw.as_os_str().to_owned()];
        let output = self.tool_command(&args).output().map_err(|source| self.spawn_error(&args, source))?;
        let stderr = tail_of(&output.stderr);
        self.check_tool_status(output.status, &args, stderr)?;
        serde_json::from_slice(&output.stdout).map_err(|source| VegetaError::Parse {
            command: "report -type=json",
            raw: raw.to_owned(),
            line: 1,
            source,
        })
    }

    fn tool_command(&self, args: &[std::ffi::OsString]) -> Command {
        let mut command = Command::new(&self.path);
        command.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }

    fn spawn_tool(&self, args: &[std::ffi::OsString]) -> Result<Child> {
        self.tool_command(args).spawn().map_err(|source| self.spawn_error(args, source))
    }

    fn spawn_error(&self, args: &[std::ffi::OsString], source: std::io::Error) -> VegetaError {
        VegetaError::Spawn { binary: self.path.clone(), args: display_args(args), source }
    }

    fn check_tool_status(&self, status: ExitStatus, args: &[std::ffi::OsString], stderr: String) -> Result<()> {
        if status.success() {
            return Ok(());
        }
        Err(VegetaError::CommandFailed { binary: self.path.clone(), args: display_args(args), status, stderr })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Locating the binary

fn find_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return require_executable(path, "the given vegeta path");
    }
    if let Some(value) = std::env::var_os(VEGETA_ENV).filter(|v| !v.is_empty()) {
        return require_executable(Path::new(&value), "$VEGETA");
    }
    if let Some(path) = find_on_path() {
        return Ok(path);
    }
    let roots = search_roots();
    if let Some(path) = find_in_tools(&roots) {
        return Ok(path);
    }
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    Err(VegetaError::NotFound {
        searched: format!(
            "not on PATH, ${VEGETA_ENV} unset, no {TOOLS_RELATIVE_PATH} in any folder above {}",
            roots.join(" or ")
        ),
    })
}

fn require_executable(path: &Path, what: &str) -> Result<PathBuf> {
    if is_executable_file(path) {
        Ok(path.to_owned())
    } else {
        Err(VegetaError::NotFound { searched: format!("{what} {} is not an executable file", path.display()) })
    }
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

fn find_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("vegeta")).find(|candidate| is_executable_file(candidate))
}

/// The runner executable's folder (so an installed runner finds its checkout's tools) and the current
/// directory (so `cargo run` from anywhere inside the checkout does).
fn search_roots() -> Vec<PathBuf> {
    let exe_dir = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_owned));
    let cwd = std::env::current_dir().ok();
    exe_dir.into_iter().chain(cwd).collect()
}

fn find_in_tools(roots: &[PathBuf]) -> Option<PathBuf> {
    roots
        .iter()
        .flat_map(|root| root.ancestors())
        .map(|dir| dir.join(TOOLS_RELATIVE_PATH))
        .find(|candidate| is_executable_file(candidate))
}

/// Runs `vegeta -version` (which also proves the binary runs) and keeps a non-empty `Version:` value.
fn reported_version(path: &Path) -> Result<Option<String>> {
    let output = Command::new(path)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| VegetaError::Spawn { binary: path.to_owned(), args: "-version".to_owned(), source })?;
    Ok(parse_version_output(&String::from_utf8_lossy(&output.stdout)))
}

fn parse_version_output(text: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.strip_prefix("Version:"))
        .map(str::trim)
        .filter(|version| !version.is_empty())
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------------------
// Targets

/// One line of a JSON-lines targets file. vegeta requires only method and URL; POST targets carry no body.
#[derive(Serialize)]
struct TargetLine<'a> {
    method: &'a str,
    url: String,
}

/// Writes a JSON-lines targets file: one target per item id in `ids` (vegeta uses them round-robin, so the
/// load cycles over the items), or a single target for an endpoint without an item id. Returns the number of
/// targets written.
pub fn write_targets(
    path: &Path,
    base_url: &str,
    endpoint: &shared::Endpoint,
    ids: RangeInclusive<i64>,
) -> Result<usize> {
    let io_error = |source| VegetaError::Io { action: "writing targets file", path: path.to_owned(), source };
    let ids: Vec<i64> = if endpoint.takes_item_id() { ids.collect() } else { vec![0] };
    if ids.is_empty() {
        return Err(VegetaError::NoTargets(path.to_owned()));
    }
    let base_url = base_url.trim_end_matches('/');
    let mut out = BufWriter::new(File::create(path).map_err(io_error)?);
    for &id in &ids {
        let target =
            TargetLine { method: endpoint.method.as_str(), url: format!("{base_url}{}", endpoint.path_for(id)) };
        serde_json::to_writer(&mut out, &target).map_err(|e| io_error(e.into()))?;
        out.write_all(b"\n").map_err(io_error)?;
    }
    out.flush().map_err(io_error)?;
    Ok(ids.len())
}

// ---------------------------------------------------------------------------------------------------------
// Attacks

/// One `vegeta attack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackSpec {
    /// JSON-lines targets file (see [`write_targets`]).
    pub targets: PathBuf,
    /// Requests per second; 0 means "as fast as `max_workers` allow" and then requires `max_workers`.
    pub rate: u32,
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Attack name recorded in every result.
    pub name: String,
    /// The raw (gob) results file, readable by `vegeta report` and `vegeta plot`.
    pub output: PathBuf,
    /// CPUs to pin vegeta to; empty means no pinning.
    pub cpus: Vec<usize>,
    /// Cap on vegeta's workers; `None` keeps vegeta's open model (unbounded workers).
    pub max_workers: Option<u64>,
    /// Cap on connections to the server; requests beyond it wait inside vegeta for a free connection, and
    /// that wait counts in their latency (vegeta times a request from when a worker takes it up).
    pub max_connections: Option<u32>,
}

impl AttackSpec {
    fn validate(&self) -> Result<()> {
        if self.duration.is_zero() {
            // vegeta reads 0 as "forever".
            return Err(VegetaError::InvalidAttack("duration must be positive".to_owned()));
        }
        if self.timeout.is_zero() {
            return Err(VegetaError::InvalidAttack("timeout must be positive".to_owned()));
        }
        if self.rate == 0 && self.max_workers.is_none() {
            return Err(VegetaError::InvalidAttack("rate 0 (unthrottled) needs max_workers".to_owned()));
        }
        Ok(())
    }

    /// The `vegeta attack` arguments. Targets are always given with their format: `-targets` defaults to stdin.
    fn arguments(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "attack".into(),
            "-targets".into(),
            self.targets.as_os_str().to_owned(),
            "-format=json".into(),
            format!("-rate={}/1s", self.rate).into(),
            format!("-duration={}", go_duration(self.duration)).into(),
            format!("-timeout={}", go_duration(self.timeout)).into(),
            "-keepalive=true".into(),
            "-name".into(),
            self.name.clone().into(),
            "-output".into(),
            self.output.as_os_str().to_owned(),
        ];
        if let Some(max_workers) = self.max_workers {
            args.push(format!("-max-workers={max_workers}").into());
        }
        if let Some(max_connections) = self.max_connections {
            args.push(format!("-max-connections={max_connections}").into());
        }
        args
    }
}

/// A Go duration literal (`1500ms`), exact to the nanosecond.
fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos.is_multiple_of(1_000_000) { format!("{}ms", nanos / 1_000_000) } else { format!("{nanos}ns") }
}

/// How an attack ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackOutcome {
    pub status: ExitStatus,
    /// From the start of the attack to its exit.
    pub elapsed: Duration,
    /// It ran past the deadline and was stopped.
    pub overran: bool,
    /// It was stopped by [`RunningAttack::interrupt`].
    pub interrupted: bool,
    /// It had to be killed (SIGKILL): its results file may be truncated.
    pub killed: bool,
    /// The end of its stderr (vegeta is silent when all goes well).
    pub stderr_tail: String,
}

/// A `vegeta attack` in progress. Every method takes `&self`, so another thread (a Ctrl-C handler, say) can
/// interrupt it while one waits; the child is killed if this is dropped while it still runs.
#[derive(Debug)]
pub struct RunningAttack {
    pid: u32,
    started: Instant,
    state: Mutex<AttackState>,
}

#[derive(Debug)]
struct AttackState {
    child: Child,
    /// Set once the child is reaped; its pid must not be signalled after that.
    exit: Option<ExitStatus>,
    interrupts: u32,
    killed: bool,
    stderr: Option<JoinHandle<String>>,
}

impl RunningAttack {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until the attack ends. `deadline` counts from the attack's start; past it the attack gets a
    /// SIGINT (so it flushes what it has), and a kill if it is still running [`STOP_GRACE`] later.
    /// A non-zero exit that the runner did not cause is an error carrying the end of vegeta's stderr.
    pub fn wait_with_deadline(&self, deadline: Duration) -> Result<AttackOutcome> {
        let mut overran_at: Option<Instant> = None;
        loop {
            if let Some(status) = self.try_wait()? {
                return self.outcome(status, overran_at.is_some());
            }
            match overran_at {
                None if self.started.elapsed() >= deadline => {
                    self.signal_interrupt();
                    overran_at = Some(Instant::now());
                }
                Some(at) if at.elapsed() >= STOP_GRACE => {
                    let status = self.kill_and_reap()?;
                    return self.outcome(status, true);
                }
                _ => {}
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Stops the attack: the first call sends SIGINT (vegeta stops and flushes its results), a second call
    /// kills it. Does nothing once it has exited. Best effort by design: a child that cannot even be polled
    /// is killed.
    pub fn interrupt(&self) {
        let mut state = self.lock();
        if matches!(refresh_exit(&mut state, self.pid), Ok(Some(_))) {
            return;
        }
        state.interrupts += 1;
        if state.interrupts == 1 {
            child::send_signal(self.pid, libc::SIGINT);
        } else {
            kill_child(&mut state);
        }
    }

    /// The exit status once the attack has ended (reaping it), `None` while it runs: for callers that poll
    /// other things (a server, a Ctrl-C flag) between checks instead of using [`Self::wait_with_deadline`].
    pub fn try_wait(&self) -> Result<Option<ExitStatus>> {
        refresh_exit(&mut self.lock(), self.pid)
    }

    fn lock(&self) -> MutexGuard<'_, AttackState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// SIGINT for an overrun, counted like [`RunningAttack::interrupt`] so a later interrupt kills.
    fn signal_interrupt(&self) {
        let mut state = self.lock();
        if state.exit.is_none() {
            state.interrupts += 1;
            child::send_signal(self.pid, libc::SIGINT);
        }
    }

    fn kill_and_reap(&self) -> Result<ExitStatus> {
        let mut state = self.lock();
        if let Some(status) = state.exit {
            return Ok(status);
        }
        kill_child(&mut state);
        let status = state.child.wait().map_err(|source| VegetaError::Io {
            action: "waiting for vegeta attack pid",
            path: PathBuf::from(self.pid.to_string()),
            source,
        })?;
        state.exit = Some(status);
        Ok(status)
    }

    fn outcome(&self, status: ExitStatus, overran: bool) -> Result<AttackOutcome> {
        let elapsed = self.started.elapsed();
        let (interrupted, killed, stderr_tail) = {
            let mut state = self.lock();
            (state.interrupts > 0 && !overran, state.killed, join_tail(state.stderr.take()))
        };
        if !status.success() && !killed {
            return Err(VegetaError::AttackFailed { pid: self.pid, status, stderr: stderr_tail });
        }
        Ok(AttackOutcome { status, elapsed, overran, interrupted, killed, stderr_tail })
    }
}

impl Drop for RunningAttack {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        if matches!(refresh_exit(state, self.pid), Ok(None)) {
            kill_child(state);
            let _ = state.child.wait();
        }
        // The pipe closes with the child, so the reader thread ends.
        let _ = join_tail(state.stderr.take());
    }
}

/// Reaps the child if it has exited, remembering the status so the pid is never signalled afterwards.
fn refresh_exit(state: &mut AttackState, pid: u32) -> Result<Option<ExitStatus>> {
    if state.exit.is_none() {
        state.exit = state.child.try_wait().map_err(|source| VegetaError::Io {
            action: "polling vegeta attack pid",
            path: PathBuf::from(pid.to_string()),
            source,
        })?;
    }
    Ok(state.exit)
}

fn kill_child(state: &mut AttackState) {
    // An error means it already exited; the next wait reaps it either way.
    let _ = state.child.kill();
    state.killed = true;
}

// ---------------------------------------------------------------------------------------------------------
// Results

/// One request as vegeta recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestResult {
    /// Send order, from 0.
    pub seq: u64,
    /// HTTP status; 0 when no response came (connection error, timeout).
    pub code: u16,
    /// When the request was sent, nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// From send to the end of the response body.
    pub latency_ns: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Empty on success; the HTTP status line for codes outside 200-399; the Go error otherwise.
    pub error: String,
}

impl RequestResult {
    /// When the response ended, nanoseconds since the Unix epoch.
    pub fn end_ns(&self) -> i64 {
        self.timestamp_ns.saturating_add(i64::try_from(self.latency_ns).unwrap_or(i64::MAX))
    }
}

/// A line of `vegeta encode -to=json`. Its other fields (attack, body, method, url, headers) are ignored.
#[derive(Deserialize)]
struct EncodedResult {
    seq: u64,
    code: u16,
    timestamp: DateTime<Utc>,
    latency: u64,
    bytes_out: u64,
    bytes_in: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    error: String,
}

fn parse_encoded_stream(mut reader: impl BufRead, raw: &Path) -> Result<Vec<RequestResult>> {
    let mut results = Vec::new();
    let mut line = String::new();
    let mut number = 0u64;
    loop {
        line.clear();
        let read = reader.read_line(&mut line).map_err(|source| VegetaError::Io {
            action: "reading `vegeta encode` output for",
            path: raw.to_owned(),
            source,
        })?;
        if read == 0 {
            return Ok(results);
        }
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_encoded_line(&line).map_err(|source| VegetaError::Parse {
            command: "encode -to=json",
            raw: raw.to_owned(),
            line: number,
            source,
        })?;
        results.push(parsed);
    }
}

fn parse_encoded_line(line: &str) -> Result<RequestResult, serde_json::Error> {
    let encoded: EncodedResult = serde_json::from_str(line)?;
    let timestamp_ns = encoded
        .timestamp
        .timestamp_nanos_opt()
        .ok_or_else(|| serde::de::Error::custom(format!("timestamp {} out of range", encoded.timestamp)))?;
    Ok(RequestResult {
        seq: encoded.seq,
        code: encoded.code,
        timestamp_ns,
        latency_ns: encoded.latency,
        bytes_in: encoded.bytes_in,
        bytes_out: encoded.bytes_out,
        error: encoded.error,
    })
}

/// vegeta's own summary (`vegeta report -type=json`). Durations are nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VegetaReport {
    pub requests: u64,
    /// Requests sent per second: requests / (last send - first send).
    pub rate: f64,
    /// Successes (200-399) per second over the attack plus the wait.
    pub throughput: f64,
    /// Share of responses with a status in 200-399, 0..1 (note: wider than the runner's "200 exactly").
    pub success: f64,
    pub latencies: VegetaLatencies,
    pub bytes_in: VegetaBytes,
    pub bytes_out: VegetaBytes,
    /// Status code -> count; "0" for requests without a response.
    #[serde(default, deserialize_with = "null_as_default")]
    pub status_codes: BTreeMap<String, u64>,
    /// Distinct error messages, in first-seen order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub errors: Vec<String>,
    /// Last send - first send.
    #[serde(rename = "duration")]
    pub duration_ns: u64,
    /// Latest response end - last send.
    #[serde(rename = "wait")]
    pub wait_ns: u64,
}

/// vegeta's latency summary, nanoseconds. Percentiles are estimates; mean, min and max are exact.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VegetaLatencies {
    #[serde(rename = "total")]
    pub total_ns: u64,
    #[serde(rename = "mean")]
    pub mean_ns: u64,
    #[serde(rename = "50th")]
    pub p50_ns: u64,
    #[serde(rename = "90th")]
    pub p90_ns: u64,
    #[serde(rename = "95th")]
    pub p95_ns: u64,
    #[serde(rename = "99th")]
    pub p99_ns: u64,
    #[serde(rename = "max")]
    pub max_ns: u64,
    #[serde(rename = "min")]
    pub min_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VegetaBytes {
    pub total: u64,
    pub mean: f64,
}

/// Go encodes empty maps, slices and strings as `null` in places; read those as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------------------
// Child process helpers

fn is_empty_file(path: &Path) -> Result<bool> {
    std::fs::metadata(path).map(|meta| meta.len() == 0).map_err(|source| VegetaError::Io {
        action: "reading vegeta results file",
        path: path.to_owned(),
        source,
    })
}

fn wait_tool(process: &mut Child, binary: &Path, args: &[std::ffi::OsString]) -> Result<ExitStatus> {
    process.wait().map_err(|source| VegetaError::Spawn { binary: binary.to_owned(), args: display_args(args), source })
}

/// Drains a child's stderr on its own thread (a full pipe would block the child) and keeps its end.
fn spawn_tail_reader(stderr: ChildStderr) -> JoinHandle<String> {
    std::thread::spawn(move || read_tail(stderr, STDERR_TAIL_BYTES))
}

fn read_tail(mut reader: impl Read, keep: usize) -> String {
    let mut kept: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(read) = reader.read(&mut chunk) {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..read]);
        if kept.len() > 2 * keep {
            kept.drain(..kept.len() - keep);
        }
    }
    tail_of(&kept)
}

fn tail_of(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(STDERR_TAIL_BYTES);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = text.trim();
    if text.is_empty() { "(empty)".to_owned() } else { text.to_owned() }
}

fn join_tail(handle: Option<JoinHandle<String>>) -> String {
    handle.and_then(|h| h.join().ok()).unwrap_or_else(|| "(not captured)".to_owned())
}

fn display_args(args: &[impl AsRef<OsStr>]) -> String {
    let mut text = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        let _ = write!(text, "{}", arg.as_ref().to_string_lossy());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    fn noop_endpoint() -> &'static shared::Endpoint {
        shared::catalogue::by_name("simple_noop").expect("noop endpoint")
    }

    #[test]
    fn not_found_names_the_install_command_and_script() {
        let err = Vegeta::locate(Some(Path::new("/nonexistent/vegeta"))).expect_err("missing");
        assert!(err.is_not_found());
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
        assert_eq!(parse_version_output(go_install), None);
        assert_eq!(parse_version_output("Version: v12.12.0\nCommit: abc\n"), Some("v12.12.0".to_owned()));
        let plain = Vegeta { path: PathBuf::from("vegeta"), reported_version: None };
        assert_eq!(plain.version(), "v12.13.0");
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
            max_workers: Some(64),
            max_connections: None,
        };
        assert_eq!(
            display_args(&spec.arguments()),
            "attack -targets /tmp/t.json -format=json -rate=500/1s -duration=10000ms -timeout=5000ms \
             -keepalive=true -name axum_w1_simple_noop_500 -output /tmp/r.bin -max-workers=64"
        );
        let unthrottled = AttackSpec { rate: 0, max_workers: None, ..spec.clone() };
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
        assert_eq!(report.status_codes.get("501"), Some(&7));
        assert!(report.errors.is_empty());
        assert_eq!(report.duration_ns, 949_810_293);
    }

    #[test]
    fn keeps_the_end_of_a_long_stderr() {
        let long: Vec<u8> = (0..20_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let tail = read_tail(&long[..], 100);
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(long.ends_with(tail.as_bytes()));
    }

    // --- Real vegeta against a tiny local responder ------------------------------------------------------

    /// Locates vegeta the way the runner does; `None` (with a printed reason) skips a real-vegeta test.
    fn real_vegeta() -> Option<Vegeta> {
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
    struct Responder {
        port: u16,
        answered: Arc<AtomicUsize>,
        stop: Arc<AtomicBool>,
        acceptor: Option<JoinHandle<()>>,
    }

    impl Responder {
        fn start(max_requests: usize, lifetime: Duration) -> Responder {
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

        fn base_url(&self) -> String {
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

    fn attack_spec(dir: &Path, targets: PathBuf, rate: u32, duration: Duration) -> AttackSpec {
        AttackSpec {
            targets,
            rate,
            duration,
            timeout: Duration::from_secs(2),
            name: "unit".to_owned(),
            output: dir.join("results.bin"),
            cpus: vec![],
            max_workers: None,
            max_connections: None,
        }
    }

    #[test]
    fn real_attack_matches_vegetas_own_report() {
        let Some(vegeta) = real_vegeta() else { return };
        let responder = Responder::start(400, Duration::from_secs(20));
        let dir = tempfile::tempdir().expect("tempdir");
        let targets = dir.path().join("targets.json");
        write_targets(&targets, &responder.base_url(), noop_endpoint(), 1..=shared::db::SEED_ITEMS).expect("targets");
        let spec = attack_spec(dir.path(), targets, 50, Duration::from_secs(1));

        let attack = vegeta.start_attack(&spec).expect("attack starts");
        assert!(attack.pid() > 0);
        let outcome = attack.wait_with_deadline(Duration::from_secs(15)).expect("attack ends");
        assert!(!outcome.overran && !outcome.killed && !outcome.interrupted, "{outcome:?}");

        let results = vegeta.decode(&spec.output).expect("decode");
        let ours = metrics::compute(&results, spec.duration);
        let theirs = vegeta.report_json(&spec.output).expect("report");
        println!("ours: {ours:?}\ntheirs: {theirs:?}\nanswered: {}", responder.answered.load(Ordering::Relaxed));

        assert!((45..=55).contains(&ours.requests), "{} requests", ours.requests);
        assert_eq!(ours.requests, theirs.requests);
        assert_eq!(ours.successes, ours.requests);
        assert_eq!(ours.success_pct, 100.0);
        assert_eq!(ours.status_codes, theirs.status_codes);
        assert!((ours.send_rate_rps - theirs.rate).abs() < 1e-6 * theirs.rate, "send rate differs");
        let ns = |ms: f64| ms * 1e6;
        // max and min are exact on both sides, the mean is vegeta's integer nanoseconds.
        assert!((ns(ours.latency_ms.max) - theirs.latencies.max_ns as f64).abs() < 1.0);
        assert!((ns(ours.latency_ms.min) - theirs.latencies.min_ns as f64).abs() < 1.0);
        assert!((ns(ours.latency_ms.mean) - theirs.latencies.mean_ns as f64).abs() < 2.0);
        // vegeta's p50 is an estimate: it must land within our exact distribution's p25..p75.
        let curve =
            |p: f64| ours.latency_curve_ms.iter().find(|point| point.percentile == p).map(|point| ns(point.latency_ms));
        let (p25, p75) = (curve(25.0).expect("p25"), curve(75.0).expect("p75"));
        let their_p50 = theirs.latencies.p50_ns as f64;
        assert!(p25 <= their_p50 && their_p50 <= p75, "vegeta p50 {their_p50} ns outside our p25..p75 {p25}..{p75}");
        assert!((ours.attack_duration_s * 1e9 - theirs.duration_ns as f64).abs() < 2.0);
        assert!((ours.wait_s * 1e9 - theirs.wait_ns as f64).abs() < 2.0);
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
}
