//! What a session needs from outside the runner, as traits: starting a server, attacking it (here or on a
//! remote attacker), decoding the attack, sampling CPU, waiting out TIME_WAIT ports, auditing a database.
//! [`Tools`] is the real implementation (server binaries, vegeta here and over ssh, /proc, SQLite); the
//! scheduler's unit tests use fakes, so the orchestration is tested without processes while the e2e tests
//! drive the real ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use shared::api::{EndpointInfo, Health};

use super::audit;
use super::remote::RemoteServers;
use crate::config::{Attacker, Plan};
use crate::model::{SampleSeries, ServerHost, WriteAudit};
use crate::sampling::account::CpuWindow;
use crate::sampling::account::exited_unreaped;
use crate::sampling::{Accounts, Monitor};
use crate::tools::external::openapi::{self, Coverage};
use crate::tools::external::{ExternalArm, ExternalServer, ExternalSpec};
use crate::tools::remote::clock::{self, ROUNDS};
use crate::tools::remote::{Ssh, SshHost, SshOptions};
use crate::tools::server::{self, ServerProcess, ServerSpec};
use crate::tools::vegeta::{AttackSpec, RemoteAttack, RemoteVegeta, RequestResult, RunningAttack, Vegeta};

mod servers;

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
    /// What it serves of the workspace's catalogue, and why it lacks the rest. A workspace server serves the
    /// contract's `/api/endpoints`; an external arm may map an OpenAPI document instead.
    fn coverage(&self) -> Result<Coverage> {
        Ok(openapi::map_contract(&self.endpoints()?, shared::catalogue::ENDPOINTS_PATH))
    }
    /// The other processes of the server (the workers its command forked): sampling its pid does not see
    /// them, so its CPU figures would be a part of its cost, not all of it.
    fn other_processes(&self) -> Vec<u32>;
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
    /// After it ended: brings its raw results to its spec's output, when it ran elsewhere (a local one wrote
    /// them there itself).
    fn collect(&self) -> Result<()> {
        Ok(())
    }
    /// After it ended: its load generator's CPU over the attack, read where it ran, and the CPUs it had;
    /// `None` for a local one, which the test's sampler accounts.
    fn remote_cpu(&self) -> Option<(Result<CpuWindow, String>, Option<usize>)> {
        None
    }
}

/// A remote attack that is ready to start.
pub trait StagedAttack {
    /// Starts it so that it sends from `start_at` (the runner's clock; the attacker waits for it on its own
    /// clock, `clock` ahead).
    fn start(self: Box<Self>, start_at: SystemTime, clock: ClockOffset) -> Result<Box<dyn Attack>>;
}

/// An attacker's clock against the runner's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClockOffset {
    /// Its clock minus the runner's, nanoseconds.
    pub offset_ns: i64,
    /// The true offset is within `offset_ns ± uncertainty_ns`.
    pub uncertainty_ns: u64,
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
    fn start_sampling(&self, server_pid: u32, load_generator_pid: Option<u32>, opened: Instant) -> Box<dyn Sampler>;
    /// The remote attacker's clock against the runner's.
    fn clock_offset(&self, attacker: &Attacker) -> Result<ClockOffset>;
    /// Gets `spec` ready on a remote attacker (its targets and results on that host), so that starting it
    /// once a start time is agreed costs one round trip.
    fn stage_remote_attack(&self, attacker: &Attacker, spec: &AttackSpec) -> Result<Box<dyn StagedAttack>>;
    /// The address this machine's server listens on so the remote attackers reach it: this machine's source
    /// address on the route to them.
    fn address_towards(&self, attackers: &[Attacker]) -> Result<String>;
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

/// The real backend: the server binaries next to the runner, the manifest's arms, vegeta, sysinfo, /proc
/// and SQLite; with `--server-host`, the servers run on that host instead (this is where "local or remote" is
/// decided).
#[derive(Debug)]
pub struct Tools {
    pub vegeta: Vegeta,
    /// Server name -> binary.
    pub binaries: BTreeMap<String, PathBuf>,
    /// Server name -> its manifest entry, for the arms from outside the workspace.
    pub external: BTreeMap<String, ExternalArm>,
    /// `--sleep-ms`, which an external arm's command gets as `{sleep_ms}`.
    pub sleep_ms: u64,
    /// The remote attackers of `--attackers`, connected, with their vegeta.
    pub attackers: RemoteAttackers,
    /// The server host, reached and checked; `None`: servers run here.
    pub remote: Option<RemoteServers>,
}

impl Tools {
    /// Finds vegeta, every planned server binary and every planned external arm's program, and reaches every
    /// remote attacker and its vegeta, so a missing one stops the run before it starts.
    pub fn locate(plan: &Plan) -> Result<Tools> {
        let vegeta = Vegeta::locate(plan.vegeta.as_deref())?;
        let mut external = BTreeMap::new();
        for arm in &plan.external {
            arm.program()?;
            external.insert(arm.name.clone(), arm.clone());
        }
        let binaries = plan
            .servers
            .iter()
            .filter(|name| !external.contains_key(*name))
            .map(|name| server::locate_binary(name).map(|path| (name.clone(), path)))
            .collect::<Result<_, _>>()?;
        let remote = plan.server_host.as_ref().map(|host| RemoteServers::connect(plan, host, &binaries)).transpose()?;
        let attackers = RemoteAttackers::locate(plan)?;
        Ok(Tools { vegeta, binaries, external, sleep_ms: plan.sleep_ms, attackers, remote })
    }

    fn start_external(&self, arm: &ExternalArm, launch: &Launch) -> Result<Box<dyn Server>> {
        let spec = ExternalSpec {
            arm: arm.clone(),
            host: launch.host.clone(),
            port: launch.port,
            workers: launch.workers,
            db: launch.db.clone(),
            cpus: launch.cpus.clone(),
            sleep_ms: self.sleep_ms,
        };
        let process = ExternalServer::start(&spec).with_context(|| format!("starting the {} arm", arm.name))?;
        Ok(Box::new(process))
    }
}

impl Backend for Tools {
    fn start_server(&self, launch: &Launch) -> Result<Box<dyn Server>> {
        if let Some(arm) = self.external.get(&launch.server) {
            return self.start_external(arm, launch);
        }
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

    fn start_sampling(&self, server_pid: u32, load_generator_pid: Option<u32>, opened: Instant) -> Box<dyn Sampler> {
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

    fn clock_offset(&self, attacker: &Attacker) -> Result<ClockOffset> {
        self.attackers.clock_offset(attacker)
    }

    fn stage_remote_attack(&self, attacker: &Attacker, spec: &AttackSpec) -> Result<Box<dyn StagedAttack>> {
        self.attackers.stage(attacker, spec)
    }

    fn address_towards(&self, attackers: &[Attacker]) -> Result<String> {
        crate::host::route::source_address_towards(attackers.iter().filter(|a| a.is_remote()).map(Attacker::host))
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

// The real backend's remote attackers: each reached over ssh and its vegeta located before the run starts
// (an unreachable host, a refused key or a missing vegeta stops it there, exit 2), its clock measured
// before each attack, its attacks behind the [`Attack`] seam like the local one.

/// Every remote attacker of the plan, connected, with its vegeta.
#[derive(Debug, Default)]
pub struct RemoteAttackers {
    hosts: Vec<(Attacker, RemoteVegeta)>,
}

impl RemoteAttackers {
    /// Connects to every remote attacker and finds vegeta there; none without `--attackers`.
    pub fn locate(plan: &Plan) -> Result<RemoteAttackers> {
        let options = SshOptions { config: plan.ssh_config.clone(), ..SshOptions::default() };
        let mut hosts = Vec::new();
        for attacker in plan.attackers.iter().filter(|a| a.is_remote()) {
            let host: SshHost = attacker.to_string().parse()?;
            let ssh = Ssh::connect(host, options.clone())?;
            let vegeta = RemoteVegeta::locate(&ssh, plan.attacker_vegeta.as_deref())?;
            hosts.push((attacker.clone(), vegeta));
        }
        Ok(RemoteAttackers { hosts })
    }

    fn vegeta(&self, attacker: &Attacker) -> Result<&RemoteVegeta> {
        self.hosts
            .iter()
            .find(|(known, _)| known == attacker)
            .map(|(_, vegeta)| vegeta)
            .with_context(|| format!("attacker {attacker} was not located before the run"))
    }

    /// The attacker's clock against the runner's, over a few round trips.
    pub fn clock_offset(&self, attacker: &Attacker) -> Result<ClockOffset> {
        let vegeta = self.vegeta(attacker)?;
        let measured = clock::measure(vegeta.ssh(), ROUNDS)?;
        let uncertainty_ns = u64::try_from(measured.uncertainty.as_nanos()).unwrap_or(u64::MAX);
        Ok(ClockOffset { offset_ns: measured.offset_ns, uncertainty_ns })
    }

    /// Stages `spec` on the attacker: its scratch folder and targets, ready to start.
    pub fn stage(&self, attacker: &Attacker, spec: &AttackSpec) -> Result<Box<dyn StagedAttack>> {
        let attack = self.vegeta(attacker)?.stage(spec)?;
        Ok(Box::new(RemoteHandle { attack, stops: AtomicU32::new(0) }))
    }
}

impl StagedAttack for RemoteHandle {
    fn start(mut self: Box<Self>, start_at: SystemTime, clock: ClockOffset) -> Result<Box<dyn Attack>> {
        self.attack.start(start_at, clock.offset_ns)?;
        Ok(self)
    }
}

/// A remote attack behind the [`Attack`] seam.
struct RemoteHandle {
    attack: RemoteAttack,
    /// Stops asked so far: the first asks vegeta to flush, a second kills.
    stops: AtomicU32,
}

impl Attack for RemoteHandle {
    fn pid(&self) -> u32 {
        self.attack.pid()
    }

    fn finished(&self) -> Result<bool> {
        Ok(self.attack.finished()?)
    }

    fn interrupt(&self) {
        let first = self.stops.fetch_add(1, Ordering::SeqCst) == 0;
        self.attack.interrupt(first);
    }

    fn stop_overrun(&self) -> Result<()> {
        Ok(self.attack.stop_overrun()?)
    }

    fn outcome(&self) -> Result<()> {
        Ok(self.attack.outcome()?)
    }

    fn collect(&self) -> Result<()> {
        self.attack.collect().with_context(|| format!("bringing {}'s results back", self.attack.host()))
    }

    fn remote_cpu(&self) -> Option<(Result<CpuWindow, String>, Option<usize>)> {
        Some((self.attack.cpu(), self.attack.cpus()))
    }
}
