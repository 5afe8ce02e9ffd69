//! Arms from outside the workspace, declared in a manifest ([`manifest`]): one such server process, started
//! from its manifest's command through the one supervisor, on a port the runner chose, ready once its
//! readiness path answers 200 (polled, bounded), its catalogue read from `/api/endpoints` or mapped from its
//! OpenAPI document ([`openapi`]). Its command may fork worker processes: it leads its own process group,
//! and stopping it signals the whole group.

pub mod manifest;
pub mod openapi;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use shared::api::{EndpointInfo, Health};
use thiserror::Error;

pub use manifest::{CatalogueSource, ExternalArm, ManifestError, ManifestProblem, Placeholders};
use openapi::Coverage;

use super::process::{Supervised, poll_until};
use super::server::{CONTROL_TIMEOUT, STOP_GRACE};
use crate::host::affinity;

#[derive(Debug, Error)]
pub enum ExternalError {
    #[error("the {server} arm: cannot start {program:?} (from {file}:{line})")]
    Spawn { server: String, program: PathBuf, file: String, line: usize, source: std::io::Error },
    #[error("the {server} arm: cannot find a free port on {host}")]
    NoPort { server: String, host: String, source: std::io::Error },
    #[error("the {server} arm exited before it was ready ({status}); its stderr ends with:\n{stderr}")]
    ExitedEarly { server: String, status: String, stderr: String },
    #[error(
        "the {server} arm did not answer GET {path} with 200 within {timeout:?} (ready_timeout); its stderr ends with:\n{stderr}"
    )]
    NotReady { server: String, path: String, timeout: Duration, stderr: String },
    #[error("the {server} arm: {detail}")]
    Control { server: String, detail: String },
    #[error("polling the {server} arm (pid {pid}): {source}")]
    Poll { server: String, pid: u32, source: std::io::Error },
}

/// How to start one external server for one test.
#[derive(Debug, Clone)]
pub struct ExternalSpec {
    pub arm: ExternalArm,
    pub host: String,
    /// 0 picks a free port (the command is told it through `{port}`).
    pub port: u16,
    pub workers: u16,
    pub db: PathBuf,
    /// CPUs the process (and every process it forks) is confined to; empty leaves it unpinned.
    pub cpus: Vec<usize>,
    pub sleep_ms: u64,
}

/// A running, ready external server.
#[derive(Debug)]
pub struct ExternalServer {
    arm: ExternalArm,
    process: Supervised,
    addr: SocketAddr,
    db: PathBuf,
    /// Set once its group was stopped: a group id is never signalled again after that (its number may be
    /// reused once every member is gone).
    stopped: AtomicBool,
}

impl ExternalServer {
    /// Starts the arm's command and returns once its readiness path answers 200.
    pub fn start(spec: &ExternalSpec) -> Result<ExternalServer, ExternalError> {
        let arm = &spec.arm;
        let addr = choose_addr(&arm.name, &spec.host, spec.port)?;
        let values = Placeholders {
            host: spec.host.clone(),
            port: addr.port(),
            db: spec.db.clone(),
            workers: spec.workers,
            sleep_ms: spec.sleep_ms,
        };
        let spawn_error = |program: PathBuf, source| ExternalError::Spawn {
            server: arm.name.clone(),
            program,
            file: arm.file.clone(),
            line: arm.line,
            source,
        };
        let program =
            arm.program().map_err(|e| spawn_error(PathBuf::from(&arm.command[0]), std::io::Error::other(e)))?;
        let argv = arm.argv(&values);
        let mut command = Command::new(&program);
        command.args(&argv[1..]).current_dir(&arm.dir).stdout(Stdio::null());
        affinity::pin_command(&mut command, &spec.cpus);
        let process = Supervised::spawn(command).map_err(|source| spawn_error(program, source))?;
        let server =
            ExternalServer { arm: arm.clone(), process, addr, db: spec.db.clone(), stopped: AtomicBool::new(false) };
        server.await_ready(Instant::now() + arm.ready_timeout)?;
        Ok(server)
    }

    pub fn name(&self) -> &str {
        &self.arm.name
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn db_path(&self) -> &Path {
        &self.db
    }

    pub fn stderr_tail(&self) -> String {
        self.process.stderr_tail()
    }

    pub fn exit_status(&self) -> Result<Option<ExitStatus>, ExternalError> {
        self.process.try_wait().map_err(|source| ExternalError::Poll {
            server: self.arm.name.clone(),
            pid: self.pid(),
            source,
        })
    }

    /// Its `/healthz`, when the manifest names one in the workspace's format.
    pub fn health_within(&self, timeout: Duration) -> Result<Health, ExternalError> {
        let Some(path) = &self.arm.health else {
            return Err(self.control(format!(
                "serves no /healthz in the workspace's format (its manifest, {}:{}, names no `health`), so its \
                 runtime, workers and I/O driver are not recorded",
                self.arm.file, self.arm.line
            )));
        };
        let body = self.get_ok(path, timeout)?;
        serde_json::from_slice(&body).map_err(|e| self.control(format!("GET {path}: not the workspace's Health: {e}")))
    }

    /// What its catalogue covers of the workspace's, database endpoints included only when it can be given a
    /// database and seeded.
    pub fn coverage(&self) -> Result<Coverage, ExternalError> {
        let path = self.arm.catalogue.path();
        let body = self.get_ok(path, CONTROL_TIMEOUT)?;
        let coverage = match &self.arm.catalogue {
            CatalogueSource::Contract(_) => {
                let listed: Vec<EndpointInfo> = serde_json::from_slice(&body)
                    .map_err(|e| self.control(format!("GET {path}: not the workspace's catalogue: {e}")))?;
                openapi::map_contract(&listed, path)
            }
            CatalogueSource::OpenApi(_) => {
                let document =
                    serde_json::from_slice(&body).map_err(|e| self.control(format!("GET {path}: not JSON: {e}")))?;
                openapi::map_openapi(&document, path).map_err(|e| self.control(e))?
            }
        };
        Ok(openapi::without_unseedable(coverage, self.arm.takes_db()))
    }

    /// Recreates the standard items through the catalogue's seed route.
    pub fn seed(&self) -> Result<(), ExternalError> {
        shared::client::seed(self.addr, CONTROL_TIMEOUT).map_err(|e| self.control(e))
    }

    /// SIGTERM to its whole process group, SIGKILL to what is left after [`STOP_GRACE`]; returns how the
    /// process the runner started exited.
    pub fn stop(self) -> std::io::Result<ExitStatus> {
        self.stop_group()
    }

    fn stop_group(&self) -> std::io::Result<ExitStatus> {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return self.process.wait();
        }
        self.process.signal_group(libc::SIGTERM);
        let status = self.process.wait_or_kill(Instant::now() + STOP_GRACE);
        // Workers that outlived their parent (or ignored the signal) go with it.
        self.process.signal_group(libc::SIGKILL);
        status
    }

    fn get_ok(&self, path: &str, timeout: Duration) -> Result<Vec<u8>, ExternalError> {
        let response = shared::client::get(self.addr, path, timeout).map_err(|e| self.control(e))?;
        if response.status != 200 {
            return Err(self.control(format!("GET {path} answered {}: {}", response.status, response.text())));
        }
        Ok(response.body)
    }

    fn control(&self, detail: impl std::fmt::Display) -> ExternalError {
        ExternalError::Control { server: self.arm.name.clone(), detail: detail.to_string() }
    }

    fn await_ready(&self, deadline: Instant) -> Result<(), ExternalError> {
        let path = &self.arm.ready;
        let answered = poll_until(deadline, Duration::from_millis(50), || {
            let probe = shared::client::get(self.addr, path, Duration::from_secs(2));
            if probe.is_ok_and(|response| response.status == 200) {
                return Some(Ok(()));
            }
            match self.exit_status() {
                Ok(Some(status)) => Some(Err(ExternalError::ExitedEarly {
                    server: self.arm.name.clone(),
                    status: status.to_string(),
                    stderr: self.process.final_stderr_tail(),
                })),
                Ok(None) => None,
                Err(error) => Some(Err(error)),
            }
        });
        answered.unwrap_or_else(|| {
            Err(ExternalError::NotReady {
                server: self.arm.name.clone(),
                path: path.clone(),
                timeout: self.arm.ready_timeout,
                stderr: self.stderr_tail(),
            })
        })
    }
}

impl Drop for ExternalServer {
    /// Like [`ExternalServer::stop`]: no worker process outlives a server dropped on an error path.
    fn drop(&mut self) {
        let _ = self.stop_group();
    }
}

/// The address the command is told to listen on: `port`, or a port free right now (the command binds it
/// itself, so it cannot be handed a socket; the window between the check and its bind is short).
fn choose_addr(server: &str, host: &str, port: u16) -> Result<SocketAddr, ExternalError> {
    let no_port = |source| ExternalError::NoPort { server: server.to_owned(), host: host.to_owned(), source };
    let ip = (host, 0).to_socket_addrs().map_err(no_port)?.next().map(|addr| addr.ip());
    let ip = ip.ok_or_else(|| no_port(std::io::Error::other("the host resolves to no address")))?;
    if port != 0 {
        return Ok(SocketAddr::new(ip, port));
    }
    let probe = std::net::TcpListener::bind((ip, 0)).map_err(no_port)?;
    probe.local_addr().map_err(no_port)
}
