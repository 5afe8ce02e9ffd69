//! The scheduler's orchestration with a fake server and a fake load generator: matrix order, repeats, the
//! search budget, a server dying mid-test, Ctrl-C between tests and mid-attack, and persistence after every
//! test, the I/O driver axis, external arms. No process is started; the real backend is exercised by the e2e tests.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use shared::IoDriver;
use shared::api::{EndpointInfo, Health};
use shared::binaries::SERVERS;

use super::backend::{Attack, Backend, ClockOffset, Launch, Sampler, Server, StagedAttack};
use super::{RunOutcome, run};
use crate::cli::Cli;
use crate::config::Attacker;
use crate::config::Plan;
use crate::model::{Calibration, ProbeVerdict, RunResults, RunStatus, SampleSeries, TestStatus, WriteAudit};
use crate::sampling::Accounts;
use crate::sampling::account::{CpuWindow, RunQueueDelay, WindowAccount};
use crate::tools::vegeta::{AttackSpec, RequestResult};

mod attackers;
mod drivers;
mod external;
mod matrix;

/// One server start as the fakes saw it.
#[derive(Debug)]
struct Start {
    server: String,
    /// The `--io-driver` it was started with.
    io_driver: Option<String>,
    /// The rate of the attack that followed, once it started.
    rate: Option<u32>,
    /// Tests `results.json` held on disk when the server started.
    tests_on_disk: usize,
    /// The address it listened on.
    host: String,
}

/// What the fakes do, and what they saw.
#[derive(Default)]
struct Script {
    /// The measured attack (1-based count) during which the server dies.
    server_dies_in_attack: Option<usize>,
    /// Ctrl-C as this measured attack starts (it then runs until interrupted).
    ctrl_c_in_attack: Option<usize>,
    /// Ctrl-C once this many servers were stopped (between two tests).
    ctrl_c_after_stops: Option<usize>,
    /// Rates above this get 500 ms latencies (they miss a 100 ms SLO).
    capacity_rps: Option<u32>,
    /// A server asked for io_uring refuses to start, as the monoio arms do where the kernel has none.
    io_uring_unavailable: bool,
    /// What `/healthz` reports as the running driver, whatever was asked (default: the asked one).
    healthz_driver: Option<&'static str>,
    /// In these measured attacks (1-based counts) the load generator falls behind its schedule.
    generator_behind_in_attacks: Vec<usize>,
    /// Catalogue endpoints an arm from outside the workspace does not serve (its catalogue lacks them).
    external_lacks: Vec<&'static str>,
    /// The pids of the worker processes a server forked beside the one sampled.
    forked_workers: Vec<u32>,
    /// This remote attacker's vegeta dies in every attack.
    attacker_dies: Option<&'static str>,
    /// Every attack started: its results file, rate and the clock its timestamps are on (ns ahead).
    outputs: RefCell<Vec<(PathBuf, u32, i64)>>,
    /// Remote attacks started, by host.
    remote_starts: RefCell<Vec<String>>,
    starts: RefCell<Vec<Start>>,
    attacks: Cell<usize>,
    stops: Cell<usize>,
    interrupts: Cell<usize>,
    server_dead: Cell<bool>,
    interrupted: Arc<AtomicBool>,
}

struct FakeBackend(Rc<Script>);

struct FakeServer {
    script: Rc<Script>,
    db: PathBuf,
    port: u16,
    io_driver: Option<String>,
    /// An arm from outside the workspace (its catalogue lacks [`Script::external_lacks`]).
    external: bool,
}

struct FakeAttack {
    script: Rc<Script>,
    /// It runs on a remote attacker: it reports its CPU, and it may die.
    remote: bool,
    dies: bool,
    /// Runs until interrupted (a Ctrl-C or a dead server stops it).
    until_interrupted: bool,
    stopped: Cell<bool>,
}

/// No samples, and the accounting of a quiet machine: a tenth of a core each, hardly any waiting.
struct NoSamples;

impl Sampler for NoSamples {
    fn stop(self: Box<Self>) -> (SampleSeries, Option<Accounts>) {
        let quiet = || WindowAccount {
            cpu: Ok(CpuWindow {
                cpu: Duration::from_millis(100),
                uncertainty: Duration::from_millis(20),
                wall: Duration::from_secs(1),
            }),
            run_queue: Ok(RunQueueDelay {
                delay: Duration::from_millis(1),
                busiest_thread: Duration::from_millis(1),
                missing_at_most: Duration::ZERO,
                wall: Duration::from_secs(1),
                threads_seen: 2,
                threads_born: 0,
                threads_exited: 0,
            }),
        };
        (SampleSeries::default(), Some(Accounts { server: quiet(), load_generator: quiet() }))
    }
}

/// The number of tests `results.json` holds on disk right now.
fn tests_on_disk(run_dir: &Path) -> usize {
    RunResults::load(run_dir).map_or(0, |results| results.tests.len())
}

impl Backend for FakeBackend {
    fn start_server(&self, launch: &Launch) -> Result<Box<dyn Server>> {
        let run_dir = launch.db.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
        let on_disk = tests_on_disk(&run_dir);
        let flag = launch.extra_args.iter().position(|arg| arg == "--io-driver");
        let io_driver = flag.and_then(|at| launch.extra_args.get(at + 1)).cloned();
        let server = launch.server.clone();
        self.0.starts.borrow_mut().push(Start {
            server,
            io_driver: io_driver.clone(),
            rate: None,
            tests_on_disk: on_disk,
            host: launch.host.clone(),
        });
        if self.0.io_uring_unavailable && io_driver.as_deref() == Some("io_uring") {
            bail!(
                "starting the {0} server: the {0} server exited before it was ready (exit status: 1); its stderr \
                 ends with:\n--io-driver io_uring: io_uring is not available here",
                launch.server
            );
        }
        self.0.server_dead.set(false);
        let external = !SERVERS.contains(&launch.server.as_str());
        let db = launch.db.clone();
        Ok(Box::new(FakeServer { script: Rc::clone(&self.0), db, port: 40_000, io_driver, external }))
    }

    fn start_attack(&self, spec: &AttackSpec) -> Result<Box<dyn Attack>> {
        self.0.outputs.borrow_mut().push((spec.output.clone(), spec.rate, 0));
        let attack = self.0.attacks.get() + 1;
        self.0.attacks.set(attack);
        if let Some(start) = self.0.starts.borrow_mut().last_mut() {
            start.rate = Some(spec.rate);
        }
        if self.0.server_dies_in_attack == Some(attack) {
            self.0.server_dead.set(true);
        }
        let ctrl_c = self.0.ctrl_c_in_attack == Some(attack);
        if ctrl_c {
            self.0.interrupted.store(true, Ordering::SeqCst);
        }
        let until_interrupted = ctrl_c || self.0.server_dead.get();
        let script = Rc::clone(&self.0);
        Ok(Box::new(FakeAttack { script, remote: false, dies: false, until_interrupted, stopped: Cell::new(false) }))
    }

    fn clock_offset(&self, attacker: &Attacker) -> Result<ClockOffset> {
        let offset_ns = if attacker.host() == "h1" { REMOTE_CLOCK_AHEAD_NS } else { -REMOTE_CLOCK_AHEAD_NS };
        Ok(ClockOffset { offset_ns, uncertainty_ns: 200_000 })
    }

    fn stage_remote_attack(&self, attacker: &Attacker, spec: &AttackSpec) -> Result<Box<dyn StagedAttack>> {
        self.0.remote_starts.borrow_mut().push(attacker.to_string());
        let dies = self.0.attacker_dies == Some(attacker.host());
        let script = Rc::clone(&self.0);
        let attack = FakeAttack { script, remote: true, dies, until_interrupted: false, stopped: Cell::new(false) };
        Ok(Box::new(attackers::FakeStaged { attack, output: spec.output.clone(), rate: spec.rate }))
    }

    fn address_towards(&self, _attackers: &[Attacker]) -> Result<String> {
        Ok("198.18.0.1".to_owned())
    }

    fn decode(&self, raw: &Path) -> Result<Vec<RequestResult>> {
        // `{server}_w{workers}_{endpoint}_{rate}`, with `_r{n}` after it for a repeat.
        let stem = raw.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
        let started = self.0.outputs.borrow().iter().find(|(output, _, _)| output == raw).map(|(_, r, c)| (*r, *c));
        let from_stem = stem.rsplit('_').find_map(|part| part.parse().ok()).unwrap_or(1);
        let (rate, clock_ns) = started.unwrap_or((from_stem, 0));
        let slow = self.0.capacity_rps.is_some_and(|capacity| rate > capacity);
        let latency_ns = if slow { 500_000_000 } else { 1_000_000 };
        let gap_ns = 1_000_000_000 / i64::from(rate);
        // Falling behind: every request 1 ms later than the one before, on top of its plan.
        let behind_ns = if self.0.generator_behind_in_attacks.contains(&self.0.attacks.get()) { 1_000_000 } else { 0 };
        Ok((0..u64::from(rate))
            .map(|seq| RequestResult {
                seq,
                code: 200,
                timestamp_ns: 1_800_000_000_000_000_000 + clock_ns + (seq as i64 + 1) * (gap_ns + behind_ns),
                latency_ns,
                bytes_in: 2,
                bytes_out: 0,
                error: String::new(),
            })
            .collect())
    }

    fn start_sampling(&self, _server_pid: u32, _load_generator_pid: Option<u32>, _opened: Instant) -> Box<dyn Sampler> {
        Box::new(NoSamples)
    }

    fn settle_ports(&self, _host: &str, _interrupted: &dyn Fn() -> bool) -> Option<String> {
        None
    }

    fn audit(&self, _db: &Path, acknowledged: u64) -> Result<WriteAudit> {
        Ok(super::audit::audit_of(acknowledged, i64::try_from(acknowledged).unwrap_or(0)))
    }

    fn port_is_free(&self, _host: &str, port: u16) -> bool {
        port != 8000
    }

    fn load_generator_version(&self) -> String {
        "fake".to_owned()
    }
}

impl Server for FakeServer {
    fn pid(&self) -> u32 {
        u32::MAX - 1
    }

    fn other_processes(&self) -> Vec<u32> {
        self.script.forked_workers.clone()
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn db_path(&self) -> &Path {
        &self.db
    }

    fn health_within(&self, _timeout: Duration) -> Result<Health> {
        Ok(Health {
            server: "fake".into(),
            runtime: "fake".into(),
            workers: 1,
            io_driver: self.script.healthz_driver.or(self.io_driver.as_deref()).unwrap_or("epoll").into(),
            sleep_ms: 50,
            pool_size: 1,
            blocking_threads: 1,
            async_connections: 1,
            header_timeout_ms: Some(10_000),
            idle_timeout_ms: Some(60_000),
            db: self.db.display().to_string(),
            pid: self.pid(),
            in_flight: 0,
        })
    }

    fn endpoints(&self) -> Result<Vec<EndpointInfo>> {
        let mut served = shared::api::catalogue_info();
        served.retain(|e| !self.external || !self.script.external_lacks.contains(&e.name.as_str()));
        Ok(served)
    }

    fn seed(&self) -> Result<()> {
        Ok(())
    }

    fn exited(&self) -> Result<Option<String>> {
        Ok(self.script.server_dead.get().then(|| "signal: 9 (SIGKILL)".to_owned()))
    }

    fn stderr_tail(&self) -> String {
        "killed by the test".to_owned()
    }

    fn stop(self: Box<Self>) -> Result<()> {
        let stops = self.script.stops.get() + 1;
        self.script.stops.set(stops);
        if self.script.ctrl_c_after_stops == Some(stops) {
            self.script.interrupted.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl Attack for FakeAttack {
    fn pid(&self) -> u32 {
        u32::MAX - 2
    }

    fn finished(&self) -> Result<bool> {
        Ok(!self.until_interrupted || self.stopped.get())
    }

    fn interrupt(&self) {
        self.script.interrupts.set(self.script.interrupts.get() + 1);
        self.stopped.set(true);
    }

    fn stop_overrun(&self) -> Result<()> {
        self.stopped.set(true);
        Ok(())
    }

    fn outcome(&self) -> Result<()> {
        if self.dies {
            bail!("`ssh h2 vegeta attack` exited with signal: 9 (SIGKILL)");
        }
        Ok(())
    }

    fn remote_cpu(&self) -> Option<(Result<CpuWindow, String>, Option<usize>)> {
        let window = CpuWindow {
            cpu: Duration::from_millis(50),
            uncertainty: Duration::from_millis(20),
            wall: Duration::from_secs(1),
        };
        self.remote.then_some((Ok(window), Some(2)))
    }
}

/// How far ahead of the runner's clock the fake attacker h1's clock is (the others' are as far behind).
const REMOTE_CLOCK_AHEAD_NS: i64 = 3_000_000_000;

/// Both drivers of the monoio arm, as `--io-drivers` asks.
const BOTH_DRIVERS: [&str; 2] = ["--io-drivers", "io_uring,epoll"];

fn plan(out: &Path, args: &[&str]) -> Plan {
    let out = out.display().to_string();
    let base = ["runner", "--out", &out, "--warmup", "0", "--duration", "1s", "--filter", "/api/simple/noop/"];
    let cli = Cli::try_parse_from(base.iter().copied().chain(args.iter().copied())).expect("parses");
    Plan::resolve(&cli.run).expect("valid plan")
}

fn run_with(script: Script, args: &[&str]) -> (Rc<Script>, RunOutcome, tempfile::TempDir) {
    let out = tempfile::tempdir().expect("temp dir");
    let plan = plan(out.path(), args);
    let script = Rc::new(script);
    let interrupted = Arc::clone(&script.interrupted);
    let outcome = run(&plan, &FakeBackend(Rc::clone(&script)), Vec::new(), interrupted).expect("the run ends");
    (script, outcome, out)
}

fn two_servers() -> String {
    format!("{},{}", SERVERS[0], SERVERS[1])
}

mod searches;
