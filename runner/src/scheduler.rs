//! Runs the planned matrix, one test at a time, and persists after every test: a crash, a Ctrl-C or a dead
//! server never loses what was already measured.
//!
//! One test = a fresh server (own port, own database, pinned CPUs), seeded, attacked by vegeta at the target
//! rate while both processes are sampled, then stopped gracefully so the write audit reads the final database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use shared::Endpoint;

use crate::affinity::{self, core_layout, placement};
use crate::calibration::ceiling_notes;
use crate::machine;
use crate::metrics;
use crate::monitor::{self, Monitor};
use crate::plan::{Plan, SearchPlan, Slo, TestCase};
use crate::progress::{Progress, stdout_is_terminal};
use crate::report;
use crate::results::{
    self, Calibration, CapacityResult, CoreLayout, EndpointRef, Metrics, Placement, ProbeRecord, Resources, RunConfig,
    RunMetadata, RunResults, RunStatus, SampleSeries, SearchConfig, TestFiles, TestRecord, TestStatus, Validity,
    WriteAudit,
};
use crate::search::{self, Budget, Prober, SearchOutcome, Verdict};
use crate::server::{self, ServerProcess, ServerSpec};
use crate::validity::{LoadGenerator, validity_of};
use crate::vegeta::{AttackSpec, Vegeta};

/// Time a test costs beyond its attacks: server start, seed, stop, decoding, audit.
pub const PER_TEST_OVERHEAD: Duration = Duration::from_secs(2);

/// Measures search probes as ordinary tests of the session: every probe is persisted like any test.
struct SessionProber<'s, 'a, 'p> {
    session: &'s mut Session<'a>,
    combo: TestCase<'p>,
    slo: Slo,
    progress: &'s Progress,
    started: Instant,
}

impl Prober for SessionProber<'_, '_, '_> {
    fn probe(&mut self, rate: u32) -> Option<Verdict> {
        if self.session.is_interrupted() {
            return None;
        }
        let case = TestCase { rate, ..self.combo };
        self.progress.start_test(self.session.results.tests.len(), &describe(&case));
        let record = self.session.run_test(&case);
        let verdict = match search::judge(&record, &self.slo) {
            Verdict::Invalid(why) if self.session.plan.calibrating => Verdict::Misses(why),
            verdict => verdict,
        };
        self.progress.finish_probe(&record, &verdict, self.started.elapsed());
        self.session.results.tests.push(record);
        if let Err(error) = self.session.save() {
            eprintln!("warning: {error:#}");
        }
        if self.session.is_interrupted() { None } else { Some(verdict) }
    }
}

/// Sums a search up for the results: the sustainable rate and what the probe there measured.
/// `shared_cores`: the server and vegeta shared CPUs, so even a converged search is marked invalid.
fn capacity_result(
    combo: &TestCase<'_>,
    outcome: &SearchOutcome,
    tests: &[TestRecord],
    shared_cores: bool,
) -> CapacityResult {
    let stem = |rate| results::test_stem(combo.server, combo.workers, combo.endpoint.name, rate, combo.repeat);
    let at = outcome.sustainable.and_then(|rate| tests.iter().rev().find(|t| t.id == stem(rate)));
    let metrics = at.and_then(|t| t.metrics.as_ref());
    CapacityResult {
        server: combo.server.to_owned(),
        workers: combo.workers,
        endpoint: endpoint_ref(combo.endpoint),
        sustainable_rps: outcome.sustainable,
        lowest_miss_rps: outcome.lowest_miss,
        valid: outcome.stop.is_conclusive() && !shared_cores,
        stop: if shared_cores {
            format!("{}; the server and vegeta shared CPUs", outcome.stop.describe())
        } else {
            outcome.stop.describe()
        },
        p99_ms: metrics.map(|m| m.latency_ms.p99),
        achieved_rps: metrics.map(|m| m.achieved_rps),
        cpu_mean_pct: at.and_then(|t| t.resources.as_ref()).map(|r| r.server.cpu_mean_pct),
        probes: outcome
            .probes
            .iter()
            .map(|p| ProbeRecord {
                rate: p.rate,
                verdict: p.verdict.word().to_owned(),
                detail: p.verdict.detail().to_owned(),
                test_id: stem(p.rate),
            })
            .collect(),
    }
}

fn capacity_line(capacity: &CapacityResult) -> String {
    match capacity.sustainable_rps {
        Some(rate) => format!("sustains {rate} req/s ({})", capacity.stop),
        None => format!("sustains nothing probed ({})", capacity.stop),
    }
}

fn describe_combo(case: &TestCase<'_>) -> String {
    format!("{} w{} {}", case.server, case.workers, case.endpoint.name)
}

/// How a run ended.
#[derive(Debug)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub results: RunResults,
}

impl RunOutcome {
    pub fn interrupted(&self) -> bool {
        self.results.run.status == RunStatus::Interrupted
    }
}

/// Everything a run needs that exists outside the runner.
#[derive(Debug)]
pub struct Tools {
    pub vegeta: Vegeta,
    /// Server name -> binary.
    pub binaries: BTreeMap<String, PathBuf>,
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
        Ok(Tools { vegeta, binaries })
    }
}

/// Runs the whole plan; `interrupted` is set by the Ctrl-C handler.
pub fn run(plan: &Plan, tools: &Tools, arguments: Vec<String>, interrupted: Arc<AtomicBool>) -> Result<RunOutcome> {
    let run_dir = create_run_dir(&plan.out)?;
    let layout = core_layout(&plan.workers, plan.pin_cores);
    let metadata = run_metadata(plan, tools, arguments, &run_dir, &layout);
    let mut session = Session {
        plan,
        tools,
        run_dir,
        layout,
        interrupted,
        results: RunResults {
            schema_version: results::SCHEMA_VERSION,
            run: metadata,
            tests: Vec::new(),
            capacity: Vec::new(),
        },
    };
    session.save()?;
    session.run_all()?;
    Ok(RunOutcome { run_dir: session.run_dir, results: session.results })
}

struct Session<'a> {
    plan: &'a Plan,
    tools: &'a Tools,
    run_dir: PathBuf,
    layout: CoreLayout,
    interrupted: Arc<AtomicBool>,
    results: RunResults,
}

impl Session<'_> {
    fn run_all(&mut self) -> Result<()> {
        match self.plan.search.clone() {
            Some(search) => self.run_search(&search)?,
            None => self.run_matrix()?,
        }
        self.finish()
    }

    fn run_matrix(&mut self) -> Result<()> {
        let tests = self.plan.tests();
        let progress = Progress::counting(tests.len());
        let mut finished_rate = None;
        for (index, case) in tests.iter().enumerate() {
            if self.is_interrupted() {
                break;
            }
            if let Some(rate) = finished_rate.filter(|&rate| rate != case.rate) {
                progress.print(&report::rate_table(&self.results, rate, stdout_is_terminal()));
            }
            finished_rate = Some(case.rate);
            progress.start_test(index, &describe(case));
            let record = self.run_test(case);
            progress.finish_test(&record);
            self.results.tests.push(record);
            self.save()?;
        }
        if let Some(rate) = finished_rate {
            progress.print(&report::rate_table(&self.results, rate, stdout_is_terminal()));
        }
        progress.finish();
        Ok(())
    }

    /// The saturation search for every server x endpoint x workers. The budget is shared: each combination
    /// gets an even share of what is left, so time a quick search leaves over goes to the later ones.
    fn run_search(&mut self, search: &SearchPlan) -> Result<()> {
        let combos: Vec<TestCase<'_>> = self.plan.combinations();
        let progress = Progress::budgeted(search.budget);
        let started = Instant::now();
        for (index, combo) in combos.iter().enumerate() {
            if self.is_interrupted() {
                break;
            }
            let left = search.budget.saturating_sub(started.elapsed());
            let share = left / u32::try_from(combos.len() - index).unwrap_or(1);
            let budget = Budget { deadline: Instant::now() + share, probe_cost: self.probe_cost() };
            let mut prober =
                SessionProber { session: self, combo: *combo, slo: search.slo, progress: &progress, started };
            let outcome = search::find_max(&mut prober, search.range, budget, Instant::now);
            let shared_cores = self.placement(combo.workers).shared;
            let capacity = capacity_result(combo, &outcome, &self.results.tests, shared_cores);
            progress.print(&format!("{}: {}", describe_combo(combo), capacity_line(&capacity)));
            self.results.capacity.push(capacity);
            self.save()?;
        }
        progress.finish();
        Ok(())
    }

    /// What one probe is expected to cost: warm-up, attack, and the start, seed, stop and decode around them.
    fn probe_cost(&self) -> Duration {
        self.plan.warmup + self.plan.duration + PER_TEST_OVERHEAD
    }

    fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn finish(&mut self) -> Result<()> {
        let run = &mut self.results.run;
        run.status = if self.interrupted.load(Ordering::SeqCst) { RunStatus::Interrupted } else { RunStatus::Complete };
        run.finished_at = Some(now());
        run.notes.extend(run_notes(&self.results.tests));
        if self.results.run.status == RunStatus::Interrupted {
            self.results.run.notes.push("the run was interrupted; only the tests listed were measured".to_owned());
        }
        self.save()
    }

    fn save(&self) -> Result<()> {
        self.results.save(&self.run_dir)
    }

    /// Runs one test; every failure becomes a failed record rather than ending the run.
    fn run_test(&self, case: &TestCase<'_>) -> TestRecord {
        let stem = results::test_stem(case.server, case.workers, case.endpoint.name, case.rate, case.repeat);
        let started_at = now();
        let shared_cores = self.placement(case.workers).shared;
        let outcome = self.measure(case, &stem);
        let files = TestFiles::for_stem(&stem);
        let mut record = TestRecord {
            id: stem.clone(),
            server: case.server.to_owned(),
            workers: case.workers,
            endpoint: endpoint_ref(case.endpoint),
            rate: case.rate,
            duration_s: self.plan.duration.as_secs_f64(),
            repeat: case.repeat,
            status: TestStatus::Ok,
            failure: None,
            metrics: None,
            resources: None,
            write_audit: None,
            validity: Validity::from_reasons(Vec::new(), shared_cores),
            notes: Vec::new(),
            server_health: None,
            files,
            started_at,
            finished_at: now(),
        };
        match outcome {
            Ok(measured) => {
                let load_cpus = self.placement(case.workers).load_generator_cpus;
                record.validity = validity(case, self.plan, &measured, shared_cores, load_cpus);
                record.failure = measured.failure.clone();
                if record.failure.is_some() {
                    record.status = TestStatus::Failed;
                }
                record.metrics = Some(measured.metrics);
                record.resources = Some(measured.resources);
                record.write_audit = measured.write_audit;
                record.notes = measured.notes;
                record.server_health = measured.server_health;
            }
            Err(error) => {
                record.status = TestStatus::Failed;
                record.failure = Some(format!("{error:#}"));
                record.validity = Validity::from_reasons(vec!["the test failed".to_owned()], shared_cores);
            }
        }
        if let Err(error) = self.write_test_files(&record) {
            record.status = TestStatus::Failed;
            record.failure = Some(format!("{error:#}"));
        }
        record
    }

    fn measure(&self, case: &TestCase<'_>, stem: &str) -> Result<Measured> {
        let mut notes: Vec<String> = wait_for_free_ports(|| self.is_interrupted()).into_iter().collect();
        let mut server = self.start_server(case, stem)?;
        check_serves(&server, case.endpoint)?;
        let server_health = server.health().ok();
        if !self.plan.warmup.is_zero() {
            self.warm_up(&mut server, case, stem)?;
            if !wait_quiescent(&server, || self.is_interrupted()) {
                notes.push("the warm-up left a backlog; measured on a freshly restarted (cold) server".to_owned());
                drop(server);
                server = self.start_server(case, stem)?;
            }
        }
        server.seed().context("seeding before the test")?;
        let targets = self.write_targets(&server, case, stem)?;
        let raw = self.run_dir.join(TestFiles::for_stem(stem).raw);
        let spec = self.attack_spec(case, &targets, &raw, stem, self.plan.duration);
        let attack = self.attack(&mut server, case, &spec, true)?;
        let samples = attack.samples.unwrap_or_default();
        let db = server.db_path().to_path_buf();
        if let Err(error) = server.stop() {
            notes.push(format!("stopping the server failed: {error}"));
        }
        let requests = self.tools.vegeta.decode(&raw)?;
        let metrics = metrics::compute(&requests, self.plan.duration);
        let write_audit = case.endpoint.writes().then(|| audit_writes(&db, &metrics)).transpose()?;
        let samples_file = self.run_dir.join(TestFiles::for_stem(stem).samples);
        results::write_json_atomic(&samples_file, &samples)?;
        Ok(Measured {
            resources: monitor::resources(&samples),
            metrics,
            write_audit,
            failure: attack.failure,
            notes,
            server_health,
        })
    }

    /// A short attack at the test's rate whose results are thrown away: connections, thread pools and
    /// SQLite's page cache are warm when the measured attack starts.
    fn warm_up(&self, server: &mut ServerProcess, case: &TestCase<'_>, stem: &str) -> Result<()> {
        let warm_stem = format!("{stem}_warmup");
        let targets = self.write_targets(server, case, &warm_stem)?;
        let raw = self.run_dir.join("targets").join(format!("{warm_stem}.bin"));
        let spec = self.attack_spec(case, &targets, &raw, &warm_stem, self.plan.warmup);
        let outcome = self.attack(server, case, &spec, false).context("warming up")?;
        let _ = std::fs::remove_file(&raw);
        let _ = std::fs::remove_file(&targets);
        match outcome.failure {
            Some(failure) => Err(anyhow!("during the warm-up: {failure}")),
            None => Ok(()),
        }
    }

    fn write_targets(&self, server: &ServerProcess, case: &TestCase<'_>, stem: &str) -> Result<PathBuf> {
        let folder = self.run_dir.join("targets");
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        let targets = folder.join(format!("{stem}.jsonl"));
        crate::vegeta::write_targets(&targets, &server.base_url(), case.endpoint, 1..=shared::db::SEED_ITEMS)?;
        Ok(targets)
    }

    fn attack_spec(
        &self,
        case: &TestCase<'_>,
        targets: &Path,
        raw: &Path,
        name: &str,
        duration: Duration,
    ) -> AttackSpec {
        AttackSpec {
            targets: targets.to_path_buf(),
            rate: case.rate,
            duration,
            timeout: self.plan.timeout,
            name: name.to_owned(),
            output: raw.to_path_buf(),
            cpus: self.placement(case.workers).load_generator_cpus,
            max_workers: None,
            max_connections: Some(self.plan.max_connections),
        }
    }

    fn start_server(&self, case: &TestCase<'_>, stem: &str) -> Result<ServerProcess> {
        let binary = self.tools.binaries.get(case.server).with_context(|| format!("no binary for {}", case.server))?;
        let port = match self.plan.port {
            Some(port) if server::port_is_free(&self.plan.host, port) => port,
            Some(port) => {
                eprintln!("warning: port {port} is taken; {stem} uses a free port instead");
                0
            }
            None => 0,
        };
        let db = self.run_dir.join("db").join(format!("{stem}.db"));
        std::fs::create_dir_all(self.run_dir.join("db")).context("creating the database folder")?;
        let spec = ServerSpec {
            server: case.server.to_owned(),
            binary: binary.clone(),
            host: self.plan.host.clone(),
            port,
            workers: case.workers,
            db,
            cpus: self.placement(case.workers).server_cpus,
            extra_args: vec!["--sleep-ms".to_owned(), self.plan.sleep_ms.to_string()],
        };
        ServerProcess::start(&spec).with_context(|| format!("starting the {} server", case.server))
    }

    /// Runs one attack to its end, sampling when given a sampler; stops early on Ctrl-C or when the server
    /// dies (a failure, not an error: what was measured until then is kept).
    fn attack(
        &self,
        server: &mut ServerProcess,
        case: &TestCase<'_>,
        spec: &AttackSpec,
        sample: bool,
    ) -> Result<AttackRun> {
        let attack = self.tools.vegeta.start_attack(spec)?;
        let sampler = sample.then(|| Monitor::start(server.pid(), Some(attack.pid()), monitor::DEFAULT_INTERVAL));
        let overrun = Duration::from_secs(10);
        let deadline = Instant::now() + spec.duration + spec.timeout + overrun;
        let mut failure = None;
        let mut interrupted_once = false;
        while attack.try_wait()?.is_none() {
            if !interrupted_once && self.is_interrupted() {
                attack.interrupt();
                interrupted_once = true;
            }
            if failure.is_none()
                && let Some(status) = server.exit_status()
            {
                failure = Some(format!(
                    "the {} server exited during the test ({status}); its stderr ends with:\n{}",
                    case.server,
                    server.stderr_tail()
                ));
                attack.interrupt();
                interrupted_once = true;
            }
            if Instant::now() > deadline {
                attack.interrupt();
                attack.interrupt();
                bail!("vegeta ran {overrun:?} past its duration plus timeout and was killed");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let samples = sampler.map(Monitor::stop);
        // It has exited: this returns at once, and fails with vegeta's stderr if vegeta itself failed.
        attack.wait_with_deadline(Duration::ZERO)?;
        if self.is_interrupted() && failure.is_none() {
            failure = Some("interrupted by the user during the attack".to_owned());
        }
        Ok(AttackRun { samples, failure })
    }

    fn placement(&self, workers: u16) -> Placement {
        self.layout.placements.get(&workers).cloned().unwrap_or_else(|| placement(&[], usize::from(workers), false))
    }

    fn write_test_files(&self, record: &TestRecord) -> Result<()> {
        results::write_json_atomic(&self.run_dir.join(&record.files.metrics), record)
    }
}

/// What a finished attack left behind.
struct AttackRun {
    samples: Option<SampleSeries>,
    failure: Option<String>,
}

struct Measured {
    metrics: Metrics,
    resources: Resources,
    write_audit: Option<WriteAudit>,
    failure: Option<String>,
    notes: Vec<String>,
    /// What the server said of itself (runtime, I/O driver, knobs) when it started.
    server_health: Option<shared::api::Health>,
}

/// Above this share of the ephemeral ports in TIME_WAIT, `connect()` slows down (the kernel scans for a free
/// port) and the load generator with it: a test waits for them to expire first. (Seen here: with 58% of them
/// taken, vegeta fell from 16,000 to 500 req/s; 40% leaves a margin.)
const TIME_WAIT_CEILING: f64 = 0.4;
/// TIME_WAIT lasts 60 s on Linux; a little more covers the timer's granularity.
const TIME_WAIT_LIMIT: Duration = Duration::from_secs(70);

/// Waits (bounded) until earlier overloaded tests' TIME_WAIT sockets no longer crowd the ephemeral ports;
/// returns a note when it had to wait.
fn wait_for_free_ports(interrupted: impl Fn() -> bool) -> Option<String> {
    let ports = machine::ephemeral_ports()?;
    let ceiling = (ports as f64 * TIME_WAIT_CEILING) as u64;
    let in_time_wait = || machine::ephemeral_ports_in_time_wait().unwrap_or(0);
    let before = in_time_wait();
    if before <= ceiling {
        return None;
    }
    let started = Instant::now();
    eprintln!(
        "waiting for {before} ephemeral ports in TIME_WAIT from earlier tests to expire (up to {TIME_WAIT_LIMIT:?})"
    );
    while in_time_wait() > ceiling && started.elapsed() < TIME_WAIT_LIMIT && !interrupted() {
        std::thread::sleep(Duration::from_secs(1));
    }
    Some(format!(
        "waited {:.0} s for ephemeral ports in TIME_WAIT to expire ({before} -> {} of {ports})",
        started.elapsed().as_secs_f64(),
        in_time_wait()
    ))
}

/// How long a server may take to drain what a warm-up left queued.
const QUIESCE_LIMIT: Duration = Duration::from_secs(10);
/// A health check answered faster than this means nothing is queued ahead of it.
const QUIET_HEALTH: Duration = Duration::from_millis(50);

/// Waits until nothing a warm-up left behind is still running: `/healthz` answers promptly (no backlog holds
/// the event loop) and reports no request in flight (none queued on a thread pool or a SQLite thread), twice
/// in a row.
fn wait_quiescent(server: &ServerProcess, interrupted: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + QUIESCE_LIMIT;
    let mut quiet_in_a_row = 0;
    while Instant::now() < deadline && !interrupted() {
        let started = Instant::now();
        let idle = server.health_within(QUIESCE_LIMIT).is_ok_and(|health| health.in_flight == 0);
        quiet_in_a_row = if idle && started.elapsed() < QUIET_HEALTH { quiet_in_a_row + 1 } else { 0 };
        if quiet_in_a_row == 2 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn check_serves(server: &ServerProcess, endpoint: &Endpoint) -> Result<()> {
    let served = server.endpoints().context("discovering endpoints")?;
    let found =
        served.iter().any(|e| e.name == endpoint.name && e.path == endpoint.path && e.method == endpoint.method);
    if found {
        Ok(())
    } else {
        Err(anyhow!(
            "the {} server does not serve {} {} ({})",
            server.server(),
            endpoint.method.as_str(),
            endpoint.path,
            endpoint.name
        ))
    }
}

/// Compares the increments in the database with the writes the clients were told succeeded.
fn audit_writes(db: &Path, metrics: &Metrics) -> Result<WriteAudit> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {} for the write audit", db.display()))?;
    let applied = shared::db::total_value(&conn).with_context(|| format!("summing values in {}", db.display()))?;
    let acknowledged = metrics.status_codes.get("200").copied().unwrap_or(0);
    let applied_count = u64::try_from(applied).unwrap_or(0);
    Ok(WriteAudit {
        acknowledged,
        applied,
        lost: acknowledged.saturating_sub(applied_count),
        phantom: applied_count.saturating_sub(acknowledged),
    })
}

/// The validity rules: the generator held its schedule, was not CPU-starved, and did not share CPUs.
fn validity(
    case: &TestCase<'_>,
    plan: &Plan,
    measured: &Measured,
    shared_cores: bool,
    load_cpus: Vec<usize>,
) -> Validity {
    let cpus = if load_cpus.is_empty() { affinity::allowed_cpus().len() } else { load_cpus.len() };
    let load = LoadGenerator { cpu_mean_pct: measured.resources.load_generator.cpu_mean_pct, cpus, shared_cores };
    validity_of(case.rate, plan.duration, &measured.metrics, &load)
}

/// Run-wide notes for the report header.
fn run_notes(tests: &[TestRecord]) -> Vec<String> {
    let mut notes = Vec::new();
    let failed = tests.iter().filter(|t| t.status == TestStatus::Failed).count();
    if failed > 0 {
        notes.push(format!("{failed} of {} tests failed; see their failure messages", tests.len()));
    }
    let invalid = tests.iter().filter(|t| t.status == TestStatus::Ok && !t.validity.valid).count();
    if invalid > 0 {
        notes.push(format!("{invalid} results are marked invalid (see their reasons)"));
    }
    let lost: u64 = tests.iter().filter_map(|t| t.write_audit.as_ref()).map(|a| a.lost).sum();
    if lost > 0 {
        notes.push(format!("{lost} acknowledged writes are missing from the database"));
    }
    notes
}

fn run_metadata(
    plan: &Plan,
    tools: &Tools,
    arguments: Vec<String>,
    run_dir: &Path,
    layout: &CoreLayout,
) -> RunMetadata {
    let machine = machine::detect();
    let calibration = if plan.calibrating { None } else { Calibration::load_for(&plan.out, &machine) };
    let mut notes = calibration.as_ref().map(|c| ceiling_notes(plan, c)).unwrap_or_default();
    for note in &notes {
        eprintln!("warning: {note}");
    }
    let shared: Vec<String> = layout.placements.iter().filter(|(_, p)| p.shared).map(|(w, _)| w.to_string()).collect();
    if !shared.is_empty() {
        notes.push(format!(
            "servers with {} worker(s) shared CPUs with vegeta ({} CPUs available{}): their results are marked invalid",
            shared.join(", "),
            affinity::allowed_cpus().len(),
            if layout.pinned { "" } else { ", --no-pin" }
        ));
    }
    RunMetadata {
        id: run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        arguments,
        config: RunConfig {
            servers: plan.servers.clone(),
            filters: plan.filters.clone(),
            rates: plan.rates.clone(),
            duration_s: plan.duration.as_secs_f64(),
            workers: plan.workers.clone(),
            timeout_s: plan.timeout.as_secs_f64(),
            warmup_s: plan.warmup.as_secs_f64(),
            repeat: plan.repeat,
            host: plan.host.clone(),
            pin_cores: plan.pin_cores,
            sleep_ms: plan.sleep_ms,
            max_connections: plan.max_connections,
            search: plan.search.as_ref().map(|search| SearchConfig {
                slo_p99_ms: search.slo.p99.as_secs_f64() * 1000.0,
                slo_success_pct: search.slo.success_pct,
                budget_s: search.budget.as_secs_f64(),
                start_rate: search.range.start,
                max_rate: search.range.max,
                precision_pct: search::PRECISION * 100.0,
            }),
        },
        machine,
        versions: machine::versions(&tools.vegeta),
        core_layout: layout.clone(),
        started_at: now(),
        finished_at: None,
        status: RunStatus::Running,
        notes,
        calibration,
    }
}

/// Creates `<out>/bench_YYYYMMDD_HHMMSS` (with a suffix if that exists), failing early if `out` is not writable.
fn create_run_dir(out: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create the output folder {}", out.display()))?;
    let stamp = chrono::Local::now().format("bench_%Y%m%d_%H%M%S").to_string();
    for attempt in 0..100 {
        let name = if attempt == 0 { stamp.clone() } else { format!("{stamp}_{attempt}") };
        let dir = out.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {
                let probe = dir.join(".write-test");
                std::fs::write(&probe, b"ok")
                    .with_context(|| format!("the output folder {} is not writable", dir.display()))?;
                let _ = std::fs::remove_file(probe);
                return std::path::absolute(&dir).with_context(|| format!("resolving {}", dir.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("the output folder {} is not writable", out.display()));
            }
        }
    }
    bail!("could not create a fresh run folder under {}", out.display())
}

fn endpoint_ref(endpoint: &Endpoint) -> EndpointRef {
    EndpointRef {
        name: endpoint.name.to_owned(),
        method: endpoint.method.as_str().to_owned(),
        path: endpoint.path.to_owned(),
        group: serialized_word(&endpoint.group),
        style: serialized_word(&endpoint.style),
        operation: serialized_word(&endpoint.operation),
    }
}

/// The snake_case word a catalogue enum serializes as, so results use the same words as `/api/endpoints`.
fn serialized_word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn describe(case: &TestCase<'_>) -> String {
    format!("{} w{} {} @ {}/s", case.server, case.workers, case.endpoint.name, case.rate)
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_words_match_the_catalogue_json() {
        let endpoint = shared::catalogue::by_name("update_item_async_blocking_write").expect("exists");
        let r = endpoint_ref(endpoint);
        assert_eq!((r.group.as_str(), r.style.as_str(), r.operation.as_str()), ("db", "event_loop_blocking", "write"));
    }
}
