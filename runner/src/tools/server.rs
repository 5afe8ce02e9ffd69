//! One server process: started from the build next to the runner, on a port of its own, ready only once it
//! printed its `listening on` line and answers `/healthz`; stopped with SIGTERM (SIGKILL if it lingers), and
//! killed on drop so it never outlives the runner. The process itself is a [`Supervised`] child, or (with
//! [`ServerProcess::start_remote`]) a [`RemoteProcess`] on another host; readiness, control requests and the
//! stop are the same code for both.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use shared::api::{EndpointInfo, Health};
use shared::binaries::{server_binary_name, server_binary_path};
use thiserror::Error;

use super::process::{POLL_INTERVAL, Supervised, poll_until};
use super::remote::process::RemoteProcess;
use super::remote::{Ssh, SshError};
use crate::host::affinity;
use crate::sampling::cgroup::CpuGroup;

/// How long a server may take to print its readiness line and answer `/healthz`.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopping server may take after SIGTERM before it is killed: the longest stop the servers allow
/// themselves.
pub const STOP_GRACE: Duration = shared::config::STOP_DEADLINE;
/// Timeout of one operational request (health, catalogue, seed).
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server that closed its stdout gets to exit before it counts as hung rather than dead.
const EXIT_AFTER_CLOSE: Duration = Duration::from_secs(2);

#[derive(Debug, Error)]
pub enum ServerError {
    #[error(
        "the {server} server binary is missing at {path}; build it with `{build}` (the same profile as this runner)"
    )]
    BinaryMissing { server: String, path: PathBuf, build: String },
    #[error("cannot start {binary}")]
    Spawn { binary: PathBuf, source: std::io::Error },
    #[error("the {server} server exited before it was ready ({status}); its stderr ends with:\n{stderr}")]
    ExitedEarly { server: String, status: String, stderr: String },
    #[error("the {server} server was not ready within {timeout:?}; its stderr ends with:\n{stderr}")]
    NotReady { server: String, timeout: Duration, stderr: String },
    #[error("the {server} server printed an unexpected readiness line {line:?}")]
    BadReadinessLine { server: String, line: String },
    #[error("{server} server: {detail}")]
    Control { server: String, detail: String },
    #[error("polling the {server} server (pid {pid}): {source}")]
    Poll { server: String, pid: u32, source: std::io::Error },
    #[error("starting the {server} server on {host}")]
    Remote { server: String, host: String, source: Box<SshError> },
}

/// The server's process: a child of the runner, or a process on another host behind ssh.
#[derive(Debug)]
enum Child {
    Local(Supervised),
    Remote(RemoteProcess),
}

impl Child {
    fn pid(&self) -> u32 {
        match self {
            Child::Local(child) => child.pid(),
            Child::Remote(child) => child.remote_pid(),
        }
    }

    fn take_stdout(&self) -> Option<Box<dyn BufRead + Send>> {
        match self {
            Child::Local(child) => {
                child.take_stdout().map(|out| Box::new(BufReader::new(out)) as Box<dyn BufRead + Send>)
            }
            Child::Remote(child) => child.take_stdout().map(|out| Box::new(out) as Box<dyn BufRead + Send>),
        }
    }

    fn try_wait(&self) -> std::io::Result<Option<ExitStatus>> {
        match self {
            Child::Local(child) => child.try_wait(),
            Child::Remote(child) => child.try_wait(),
        }
    }

    fn stderr_tail(&self) -> String {
        match self {
            Child::Local(child) => child.stderr_tail(),
            Child::Remote(child) => child.stderr_tail(),
        }
    }

    fn final_stderr_tail(&self) -> String {
        match self {
            Child::Local(child) => child.final_stderr_tail(),
            Child::Remote(child) => child.final_stderr_tail(),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. A remote process that could not even be signalled is killed; its
    /// status then reads as the SIGKILL it got.
    fn stop(&self, grace: Duration) -> std::io::Result<ExitStatus> {
        match self {
            Child::Local(child) => child.stop(libc::SIGTERM, grace),
            Child::Remote(child) => child.stop(libc::SIGTERM, grace).or_else(|error| match child.kill() {
                Ok(status) => Ok(status),
                Err(_) => Err(std::io::Error::other(error.to_string())),
            }),
        }
    }
}

/// How to start one server.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    /// A name from `shared::binaries::SERVERS`.
    pub server: String,
    pub binary: PathBuf,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub workers: u16,
    pub db: PathBuf,
    /// CPUs the process is confined to; empty leaves it unpinned.
    pub cpus: Vec<usize>,
    /// Further server flags, passed as they are (e.g. `--sleep-ms 50`).
    pub extra_args: Vec<String>,
}

/// The server binary of the runner's own build profile.
pub fn locate_binary(server: &str) -> Result<PathBuf, ServerError> {
    let missing = |path: PathBuf| {
        let release = path.parent().and_then(Path::file_name).is_some_and(|profile| profile == "release");
        let profile_flag = if release { "--release " } else { "" };
        ServerError::BinaryMissing {
            server: server.to_owned(),
            build: format!("cargo build {profile_flag}-p {}", server_binary_name(server)),
            path,
        }
    };
    let path = server_binary_path(server).ok_or_else(|| missing(PathBuf::from(server_binary_name(server))))?;
    if path.is_file() { Ok(path) } else { Err(missing(path)) }
}

/// A running, ready server.
#[derive(Debug)]
pub struct ServerProcess {
    server: String,
    process: Child,
    addr: SocketAddr,
    db: PathBuf,
    /// This host's server in a CPU-accounting cgroup of its own, so its CPU reads to the nanosecond; `None`
    /// where none can be made (the accounting then counts clock ticks). Removed after the process.
    _cpu_group: Option<CpuGroup>,
}

impl ServerProcess {
    /// Starts the server and returns once it printed `listening on` and answers `/healthz`.
    pub fn start(spec: &ServerSpec) -> Result<ServerProcess, ServerError> {
        let process = Supervised::spawn(command_for(spec))
            .map_err(|source| ServerError::Spawn { binary: spec.binary.clone(), source })?;
        let cpu_group = CpuGroup::create(process.pid()).ok();
        ServerProcess::ready(spec, Child::Local(process), cpu_group)
    }

    /// Starts the server on `ssh`'s host: `spec.binary` and `spec.db` are paths there, `spec.host` an address
    /// of that host. It is not pinned (`spec.cpus` name this machine's CPUs).
    pub fn start_remote(spec: &ServerSpec, ssh: &Ssh) -> Result<ServerProcess, ServerError> {
        let argv: Vec<String> = std::iter::once(spec.binary.display().to_string()).chain(server_args(spec)).collect();
        let process = RemoteProcess::spawn(ssh, &argv, STARTUP_TIMEOUT).map_err(|source| ServerError::Remote {
            server: spec.server.clone(),
            host: ssh.host().to_string(),
            source: Box::new(source),
        })?;
        ServerProcess::ready(spec, Child::Remote(process), None)
    }

    fn ready(spec: &ServerSpec, process: Child, cpu_group: Option<CpuGroup>) -> Result<ServerProcess, ServerError> {
        let lines = process.take_stdout().map(forward_lines);
        let mut server = ServerProcess {
            server: spec.server.clone(),
            process,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            db: spec.db.clone(),
            _cpu_group: cpu_group,
        };
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        server.addr = server.await_readiness_line(lines, deadline)?;
        server.await_health(deadline)?;
        Ok(server)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The database file the server was started with.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The end of what the server wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        self.process.stderr_tail()
    }

    /// `None` while running; the exit status once it has exited. A child that cannot even be polled is an
    /// error, not "still running".
    pub fn exit_status(&self) -> Result<Option<ExitStatus>, ServerError> {
        self.process.try_wait().map_err(|source| ServerError::Poll {
            server: self.server.clone(),
            pid: self.pid(),
            source,
        })
    }

    pub fn health(&self) -> Result<Health, ServerError> {
        self.health_within(CONTROL_TIMEOUT)
    }

    /// `/healthz`, giving up after `timeout` (a blocked event loop answers late).
    pub fn health_within(&self, timeout: Duration) -> Result<Health, ServerError> {
        self.get_json_within(shared::catalogue::HEALTH_PATH, timeout)
    }

    /// The catalogue as this server serves it.
    pub fn endpoints(&self) -> Result<Vec<EndpointInfo>, ServerError> {
        self.get_json_within(shared::catalogue::ENDPOINTS_PATH, CONTROL_TIMEOUT)
    }

    /// Recreates the standard items, so every test starts from the same data.
    pub fn seed(&self) -> Result<(), ServerError> {
        shared::client::seed(self.addr, CONTROL_TIMEOUT).map_err(|e| self.control(e))
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`]; returns the exit status.
    pub fn stop(self) -> std::io::Result<ExitStatus> {
        self.process.stop(STOP_GRACE)
    }

    fn get_json_within<T: serde::de::DeserializeOwned>(&self, path: &str, timeout: Duration) -> Result<T, ServerError> {
        let response = shared::client::get(self.addr, path, timeout).map_err(|e| self.control(e))?;
        if response.status != 200 {
            return Err(self.control(format!("GET {path} answered {}: {}", response.status, response.text())));
        }
        serde_json::from_slice(&response.body).map_err(|e| self.control(format!("GET {path}: bad JSON: {e}")))
    }

    fn control(&self, detail: impl std::fmt::Display) -> ServerError {
        ServerError::Control { server: self.server.clone(), detail: detail.to_string() }
    }

    fn await_readiness_line(
        &mut self,
        lines: Option<Receiver<String>>,
        deadline: Instant,
    ) -> Result<SocketAddr, ServerError> {
        let Some(lines) = lines else {
            return Err(self.not_ready());
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => return self.parse_readiness_line(&line),
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Some(status) = self.exit_status()? {
                        return Err(self.exited_early(status));
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Err(self.not_ready()),
                Err(RecvTimeoutError::Disconnected) => {
                    let exited = poll_until(Instant::now() + EXIT_AFTER_CLOSE, POLL_INTERVAL, || {
                        self.process.try_wait().ok().flatten()
                    });
                    return Err(match exited {
                        Some(status) => self.exited_early(status),
                        None => self.not_ready(),
                    });
                }
            }
        }
    }

    fn parse_readiness_line(&self, line: &str) -> Result<SocketAddr, ServerError> {
        line.trim()
            .strip_prefix("listening on http://")
            .and_then(|addr| addr.parse().ok())
            .ok_or_else(|| ServerError::BadReadinessLine { server: self.server.clone(), line: line.to_owned() })
    }

    fn await_health(&self, deadline: Instant) -> Result<(), ServerError> {
        let answered = poll_until(deadline, Duration::from_millis(50), || {
            let probe = shared::client::get(self.addr, shared::catalogue::HEALTH_PATH, Duration::from_secs(2));
            if probe.is_ok_and(|response| response.status == 200) {
                return Some(Ok(()));
            }
            match self.exit_status() {
                Ok(Some(status)) => Some(Err(self.exited_early(status))),
                Ok(None) => None,
                Err(error) => Some(Err(error)),
            }
        });
        answered.unwrap_or_else(|| Err(self.not_ready()))
    }

    fn exited_early(&self, status: ExitStatus) -> ServerError {
        let stderr = self.process.final_stderr_tail();
        ServerError::ExitedEarly { server: self.server.clone(), status: status.to_string(), stderr }
    }

    fn not_ready(&self) -> ServerError {
        ServerError::NotReady { server: self.server.clone(), timeout: STARTUP_TIMEOUT, stderr: self.stderr_tail() }
    }
}

impl Drop for ServerProcess {
    /// Gracefully, like [`ServerProcess::stop`]: a server dropped on an error path still finishes its writes.
    fn drop(&mut self) {
        let _ = self.process.stop(STOP_GRACE);
    }
}

fn command_for(spec: &ServerSpec) -> Command {
    let mut command = Command::new(&spec.binary);
    command.args(server_args(spec)).stdout(Stdio::piped());
    affinity::pin_command(&mut command, &spec.cpus);
    command
}

/// The flags every server takes (after the binary).
fn server_args(spec: &ServerSpec) -> Vec<String> {
    let mut args = vec![
        "--host".to_owned(),
        spec.host.clone(),
        "--port".to_owned(),
        spec.port.to_string(),
        "--workers".to_owned(),
        spec.workers.to_string(),
        "--db".to_owned(),
        spec.db.display().to_string(),
    ];
    args.extend(spec.extra_args.iter().cloned());
    args
}

/// Forwards stdout lines to a channel, and keeps draining afterwards so the server never blocks on a full pipe.
fn forward_lines(stdout: Box<dyn BufRead + Send>) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            let _ = sender.send(line);
        }
    });
    receiver
}
