//! What a session needs from outside the runner, as traits: starting a server, attacking it, decoding the
//! attack, sampling CPU, waiting out TIME_WAIT ports, auditing a database. [`Tools`] is the real
//! implementation (server binaries, vegeta, /proc, SQLite); the scheduler's unit tests use fakes, so the
//! orchestration is tested without processes while the e2e tests drive the real ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use shared::api::{EndpointInfo, Health};

use super::audit;
use super::remote::{RemoteServer, RemoteServers};
use crate::config::Plan;
use crate::model::{SampleSeries, ServerHost, WriteAudit};
use crate::sampling::account::exited_unreaped;
use crate::sampling::{Accounts, Monitor};
use crate::tools::server::{self, ServerProcess, ServerSpec};
use crate::tools::vegeta::{AttackSpec, RequestResult, RunningAttack, Vegeta};

/// How to start one server; the backend knows where its binary is.
#[derive(Debug, Clone)]
pub struct Launch {
    pub server: String,
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub workers: u16,
    pub db: PathBuf,
    pub cpus: Vec<usize>,
    pub extra_args: Vec<String>,
}

/// A running, ready server.
pub trait Server {
    fn pid(&self) -> u32;
    fn base_url(&self) -> String;
    fn db_path(&self) -> &Path;
    /// `/healthz`, giving up after `timeout`.
    fn health_within(&self, timeout: Duration) -> Result<Health>;
    /// The catalogue as this server serves it.
    fn endpoints(&self) -> Result<Vec<EndpointInfo>>;
    /// Recreates the standard items.
    fn seed(&self) -> Result<()>;
    /// How it exited, once it has; `None` while it runs.
    fn exited(&self) -> Result<Option<String>>;
    fn stderr_tail(&self) -> String;
    /// Graceful stop (in-flight requests finish).
    fn stop(self: Box<Self>) -> Result<()>;
}

/// A load-generator attack in progress.
pub trait Attack {
    fn pid(&self) -> u32;
    /// Whether it has ended. It is not reaped yet, so its `/proc` entry still reads ([`Attack::outcome`]
    /// reaps it).
    fn finished(&self) -> Result<bool>;
    /// Stop early, keeping what was measured (the first call asks; a second one kills).
    fn interrupt(&self);
    /// Stop an attack that ran past its deadline.
    fn stop_overrun(&self) -> Result<()>;
    /// After it ended: an error when the load generator itself failed.
    fn outcome(&self) -> Result<()>;
}

/// CPU and memory sampling of one attack, and the exact accounting of its window.
pub trait Sampler {
    /// Call once the attack has ended but before it is reaped ([`Attack::finished`] does not reap), so the
    /// load generator's final CPU time still reads; `None` accounts when none were taken.
    fn stop(self: Box<Self>) -> (SampleSeries, Option<Accounts>);
}

/// Everything outside the runner that a session drives.
pub trait Backend {
    fn start_server(&self, launch: &Launch) -> Result<Box<dyn Server>>;
    fn start_attack(&self, spec: &AttackSpec) -> Result<Box<dyn Attack>>;
    /// One record per request of a finished attack's raw results.
    fn decode(&self, raw: &Path) -> Result<Vec<RequestResult>>;
    /// Starts sampling; `opened` is an instant before the load generator was spawned, where its window opens.
    fn start_sampling(&self, server_pid: u32, load_generator_pid: u32, opened: Instant) -> Box<dyn Sampler>;
    /// Waits (bounded) while earlier tests' TIME_WAIT sockets towards `host` crowd the ephemeral ports; a note
    /// if it waited.
    fn settle_ports(&self, host: &str, interrupted: &dyn Fn() -> bool) -> Option<String>;
    /// The writes found in the database against the acknowledged ones.
    fn audit(&self, db: &Path, acknowledged: u64) -> Result<WriteAudit>;
    /// Whether a fixed port can be bound right now.
    fn port_is_free(&self, host: &str, port: u16) -> bool;
    /// The load generator's version, to record.
    fn load_generator_version(&self) -> String;
    /// The host the servers run on when it is not this machine (`--server-host`).
    fn server_host(&self) -> Option<ServerHost> {
        None
    }
}

/// The real backend: the server binaries next to the runner, vegeta, sysinfo, /proc and SQLite; with
/// `--server-host`, the servers run on that host instead (this is where "local or remote" is decided).
#[derive(Debug)]
pub struct Tools {
    pub vegeta: Vegeta,
    /// Server name -> binary.
    pub binaries: BTreeMap<String, PathBuf>,
    /// The server host, reached and checked; `None`: servers run here.
    pub remote: Option<RemoteServers>,
}

impl Tools {
    /// Finds vegeta and every planned server binary, so a missing one stops the run before it starts.
    pub fn locate(plan: &Plan) -> Result<Tools> {
        let vegeta = Vegeta::locate(plan.vegeta.as_deref())?;
        let binaries = plan
            .servers
            .iter()
            .map(|name| server::locate_binary(name).map(|path| (name.clone(), path)))
            .collect::<Result<_, _>>()?;
        let remote = plan.server_host.as_ref().map(|host| RemoteServers::connect(plan, host, &binaries)).transpose()?;
        Ok(Tools { vegeta, binaries, remote })
    }
}

impl Backend for Tools {
    fn start_server(&self, launch: &Launch) -> Result<Box<dyn Server>> {
        let binary = self.binaries.get(&launch.server).with_context(|| format!("no binary for {}", launch.server))?;
        let spec = ServerSpec {
            server: launch.server.clone(),
            binary: binary.clone(),
            host: launch.host.clone(),
            port: launch.port,
            workers: launch.workers,
            db: launch.db.clone(),
            cpus: launch.cpus.clone(),
            extra_args: launch.extra_args.clone(),
        };
        if let Some(remote) = &self.remote {
            let server = remote.start(&spec).with_context(|| format!("starting the {} server", launch.server))?;
            return Ok(Box::new(server));
        }
        let process = ServerProcess::start(&spec).with_context(|| format!("starting the {} server", launch.server))?;
        Ok(Box::new(process))
    }

    fn start_attack(&self, spec: &AttackSpec) -> Result<Box<dyn Attack>> {
        Ok(Box::new(self.vegeta.start_attack(spec)?))
    }

    fn decode(&self, raw: &Path) -> Result<Vec<RequestResult>> {
        Ok(self.vegeta.decode(raw)?)
    }

    fn start_sampling(&self, server_pid: u32, load_generator_pid: u32, opened: Instant) -> Box<dyn Sampler> {
        let interval = crate::defaults::SAMPLE_INTERVAL;
        Box::new(match &self.remote {
            Some(remote) => Monitor::start_accounting_on(
                remote.reader(server_pid),
                server_pid,
                load_generator_pid,
                opened,
                interval,
            ),
            None => Monitor::start_accounting(server_pid, load_generator_pid, opened, interval),
        })
    }

    fn settle_ports(&self, host: &str, interrupted: &dyn Fn() -> bool) -> Option<String> {
        crate::host::ports::wait_for_free_ports(host.parse().ok(), interrupted)
    }

    fn audit(&self, db: &Path, acknowledged: u64) -> Result<WriteAudit> {
        audit::audit_writes(db, acknowledged)
    }

    fn port_is_free(&self, host: &str, port: u16) -> bool {
        // A port of another host cannot be tried from here: a taken one fails that server's start.
        self.remote.is_some() || crate::host::ports::port_is_free(host, port)
    }

    fn load_generator_version(&self) -> String {
        self.vegeta.version().to_owned()
    }

    fn server_host(&self) -> Option<ServerHost> {
        self.remote.as_ref().map(RemoteServers::record)
    }
}

impl Server for ServerProcess {
    fn pid(&self) -> u32 {
        ServerProcess::pid(self)
    }

    fn base_url(&self) -> String {
        ServerProcess::base_url(self)
    }

    fn db_path(&self) -> &Path {
        ServerProcess::db_path(self)
    }

    fn health_within(&self, timeout: Duration) -> Result<Health> {
        Ok(ServerProcess::health_within(self, timeout)?)
    }

    fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        Ok(ServerProcess::endpoints(self)?)
    }

    fn seed(&self) -> Result<()> {
        Ok(ServerProcess::seed(self)?)
    }

    fn exited(&self) -> Result<Option<String>> {
        Ok(self.exit_status()?.map(|status| status.to_string()))
    }

    fn stderr_tail(&self) -> String {
        ServerProcess::stderr_tail(self)
    }

    fn stop(self: Box<Self>) -> Result<()> {
        let server = self.server().to_owned();
        ServerProcess::stop(*self).with_context(|| format!("stopping the {server} server"))?;
        Ok(())
    }
}

impl Server for RemoteServer {
    fn pid(&self) -> u32 {
        self.process().pid()
    }

    fn base_url(&self) -> String {
        self.process().base_url()
    }

    fn db_path(&self) -> &Path {
        RemoteServer::db_path(self)
    }

    fn health_within(&self, timeout: Duration) -> Result<Health> {
        Ok(self.process().health_within(timeout)?)
    }

    fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        Ok(self.process().endpoints()?)
    }

    fn seed(&self) -> Result<()> {
        Ok(self.process().seed()?)
    }

    fn exited(&self) -> Result<Option<String>> {
        Ok(self.process().exit_status()?.map(|status| status.to_string()))
    }

    fn stderr_tail(&self) -> String {
        self.process().stderr_tail()
    }

    fn stop(self: Box<Self>) -> Result<()> {
        RemoteServer::stop(*self)
    }
}

impl Attack for RunningAttack {
    fn pid(&self) -> u32 {
        RunningAttack::pid(self)
    }

    fn finished(&self) -> Result<bool> {
        // Without reaping: its final CPU time is read from /proc once it has ended. A child already reaped
        // (a signal to it reaps an exited child first) has no waitable state left: ask the supervisor then.
        match exited_unreaped(self.pid()) {
            Ok(exited) => Ok(exited),
            Err(_) => Ok(self.try_wait()?.is_some()),
        }
    }

    fn interrupt(&self) {
        RunningAttack::interrupt(self);
    }

    fn stop_overrun(&self) -> Result<()> {
        RunningAttack::stop_overrun(self)?;
        Ok(())
    }

    fn outcome(&self) -> Result<()> {
        // It has exited: this returns at once, and fails with vegeta's stderr if vegeta itself failed.
        self.wait_with_deadline(Duration::ZERO)?;
        Ok(())
    }
}

impl Sampler for Monitor {
    fn stop(self: Box<Self>) -> (SampleSeries, Option<Accounts>) {
        Monitor::stop_accounting(*self)
    }
}
