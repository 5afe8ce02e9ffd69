//! One test: a fresh server (own port, own database, pinned CPUs), warmed up and given time to drain, seeded,
//! attacked at the target rate while both processes are sampled, stopped gracefully so the write audit reads
//! the final database, and its raw results decoded into exact metrics. Every failure becomes a failed record
//! rather than ending the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

use std::sync::atomic::{AtomicBool, Ordering};

use super::attack_results::{LocalCpus, set_results};
use super::attack_set::Attacks;
use super::backend::{Backend, Launch, Server};
use super::clock::now;
use super::readiness::{check_serves, wait_quiescent};
use crate::config::{Plan, TestCase};
use crate::host::affinity::placement_for;
use crate::judge::validity::{self, Evidence, Invalidity};
use crate::metrics::{self, pacing};
use crate::model::AttackSet;
use crate::model::{
    Accounting, Calibration, CoreLayout, EndpointRef, KeptUpRecord, Metrics, Placement, Resources, ScheduleLagRecord,
    StatusCode, TestFiles, TestRecord, TestStatus, WriteAudit, test_stem, write_json_atomic,
};
use crate::sampling;
use crate::tools::vegeta::{AttackSpec, write_targets};

/// A finished test: its record, and the invalidities as the rules found them (the search judges by type).
#[derive(Debug)]
pub struct Finished {
    pub record: TestRecord,
    pub invalidities: Vec<Invalidity>,
    /// Ctrl-C cut this test short: its measured attack did not run to its end (or never started).
    pub interrupted: bool,
}

struct Measured {
    metrics: Metrics,
    accounting: Option<Accounting>,
    schedule_lag: Option<ScheduleLagRecord>,
    kept_up: Option<KeptUpRecord>,
    resources: Option<Resources>,
    write_audit: Option<WriteAudit>,
    failure: Option<String>,
    cut_short: bool,
    notes: Vec<String>,
    /// What the server said of itself (runtime, I/O driver, knobs) when it started.
    server_health: Option<shared::api::Health>,
    /// Where the measured server listened.
    server_addr: String,
    /// The attackers, with `--attackers`.
    attack_set: Option<AttackSet>,
    /// The attackers' own reasons, named by host.
    attacker_invalidities: Vec<Invalidity>,
}

/// What one test needs from its session: the plan, the outside world, where files go, the CPU layout, and
/// the Ctrl-C flag.
pub(super) struct TestRunner<'a> {
    pub plan: &'a Plan,
    pub backend: &'a dyn Backend,
    pub run_dir: &'a Path,
    pub layout: &'a CoreLayout,
    pub interrupted: &'a AtomicBool,
    /// This machine's calibration, when the run has one: tests above its clean ceiling get a marker.
    pub calibration: Option<&'a Calibration>,
}

impl TestRunner<'_> {
    fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// This test's attacks.
    fn attacks(&self) -> Attacks<'_> {
        Attacks { plan: self.plan, backend: self.backend, interrupted: self.interrupted }
    }

    fn placement(&self, workers: u16) -> Placement {
        placement_for(self.layout, workers)
    }

    /// Runs one test with its server on `host`; every failure becomes a failed record rather than ending the
    /// run.
    pub(super) fn run_test(&self, case: &TestCase<'_>, host: &str) -> Finished {
        let stem = test_stem(case.arm(), case.workers, case.endpoint.name, case.rate, case.repeat);
        let started_at = now();
        let placement = self.placement(case.workers);
        let outcome = self.measure(case, &stem, host);
        if !self.plan.keep_db {
            remove_database(&self.db_file(&stem));
        }
        let interrupted;
        let mut record = empty_record(case, &stem, self.plan.duration, started_at, placement.shared);
        record.server_addr = Some(host.to_owned());
        let mut invalidities = Vec::new();
        match outcome {
            Ok(measured) => {
                let evidence = Evidence {
                    rate: case.rate,
                    duration: self.plan.duration,
                    metrics: &measured.metrics,
                    schedule_lag: measured.schedule_lag.as_ref(),
                    accounting: measured.accounting.as_ref(),
                    load_generator_cpus: cpus_or_all(&placement.load_generator_cpus),
                    generators_apart: measured.attack_set.is_some(),
                };
                invalidities = validity::invalidities(&evidence);
                invalidities.extend(measured.attacker_invalidities);
                record.validity = validity::validity_from(&invalidities, placement.shared);
                record.accounting = measured.accounting;
                record.schedule_lag = measured.schedule_lag;
                record.kept_up = measured.kept_up;
                record.markers = super::calibration::markers(case.rate, self.calibration);
                interrupted = measured.cut_short;
                record.status = if measured.failure.is_some() { TestStatus::Failed } else { TestStatus::Ok };
                record.failure = measured.failure;
                record.metrics = Some(measured.metrics);
                record.resources = measured.resources;
                record.write_audit = measured.write_audit;
                record.notes = measured.notes;
                record.server_health = measured.server_health;
                record.server_addr = Some(measured.server_addr);
                if let Some(first) = measured.attack_set.as_ref().and_then(|set| set.attackers.first()) {
                    record.files.raw = first.raw.clone();
                }
                record.attack_set = measured.attack_set;
            }
            Err(error) => {
                interrupted = self.is_interrupted();
                record.status = TestStatus::Failed;
                record.failure = Some(format!("{error:#}"));
                record.validity =
                    crate::model::Validity::from_reasons(vec!["the test failed".to_owned()], placement.shared);
            }
        }
        record.finished_at = now();
        if let Err(error) = write_json_atomic(&self.run_dir.join(&record.files.metrics), &record) {
            record.status = TestStatus::Failed;
            record.failure = Some(format!("{error:#}"));
        }
        Finished { record, invalidities, interrupted }
    }

    fn measure(&self, case: &TestCase<'_>, stem: &str, host: &str) -> Result<Measured> {
        let interrupted = || self.is_interrupted();
        let mut notes: Vec<String> = self.backend.settle_ports(host, &interrupted).into_iter().collect();
        let mut server = self.start_server(case, stem, host, &mut notes)?;
        check_serves(server.as_ref(), case.server, case.endpoint)?;
        let server_health = match server.health_within(crate::tools::server::CONTROL_TIMEOUT) {
            Ok(health) => Some(health),
            Err(error) => {
                notes.push(format!("no server health recorded: {error:#}"));
                None
            }
        };
        check_driver(case, server_health.as_ref())?;
        if !self.plan.warmup.is_zero() {
            self.warm_up(server.as_ref(), case, stem)?;
            if server_health.is_none() {
                notes.push("without /healthz, whether the warm-up's requests had drained was not checked".to_owned());
            } else if !wait_quiescent(server.as_ref(), &interrupted) {
                notes.push("the warm-up left a backlog; measured on a freshly restarted (cold) server".to_owned());
                if let Err(error) = server.stop() {
                    notes.push(format!("stopping the backlogged server failed: {error:#}"));
                }
                server = self.start_server(case, stem, host, &mut notes)?;
            }
        }
        server.seed().context("seeding before the test")?;
        let targets = self.write_targets(server.as_ref(), case, stem)?;
        let files = TestFiles::for_stem(stem);
        let raw = self.run_dir.join(&files.raw);
        let spec = self.attack_spec(case, &targets, &raw, stem, self.plan.duration);
        let attack = self.attacks().attack(server.as_ref(), case, self.attacks().members(spec), true);
        // 2,000 lines (~150 KB) per test, rebuilt at will from the catalogue and the test's `server_addr`:
        // kept, they would be a quarter of a study's disk use.
        let _ = std::fs::remove_file(&targets);
        let attack = attack?;
        let samples = attack.samples.clone().unwrap_or_default();
        let db = server.db_path().to_path_buf();
        let unsampled = server.other_processes();
        let server_addr = server.base_url().trim_start_matches("http://").to_owned();
        if let Err(error) = server.stop() {
            notes.push(format!("stopping the server failed: {error:#}"));
        }
        let local_cpus = LocalCpus(cpus_or_all(&self.placement(case.workers).load_generator_cpus));
        let set = set_results(self.backend, &attack, self.run_dir, self.plan.duration, local_cpus)?;
        let requests = set.requests;
        let metrics = metrics::compute(&requests, self.plan.duration);
        let schedule_lag = set.schedule_lag.map(|lag| lag.record());
        let kept_up = pacing::kept_up(&requests).map(|kept| kept.record());
        let server_cpus = cpus_or_all(&self.placement(case.workers).server_cpus);
        let accounting = attack.accounts.as_ref().map(|accounts| {
            sampling::record::accounting_record(
                &accounts.server,
                &accounts.load_generator,
                metrics.requests,
                server_cpus,
            )
        });
        let acknowledged = metrics.status_codes.get(&StatusCode::OK).copied().unwrap_or(0);
        let write_audit = case.endpoint.writes().then(|| self.backend.audit(&db, acknowledged)).transpose()?;
        write_json_atomic(&self.run_dir.join(&files.samples), &samples)?;
        let mut resources = sampling::resources(&samples);
        let mut accounting = accounting;
        if let Some(note) = without_partial_server_figures(case.server, &unsampled, &mut accounting, &mut resources) {
            notes.push(note);
        }
        notes.extend(unsampled_notes(resources.as_ref()));
        let cut_short = attack.cut_short;
        let failure = match (attack.failure, set.failure) {
            (Some(test), Some(attackers)) => Some(format!("{test}; {attackers}")),
            (test, attackers) => test.or(attackers),
        };
        Ok(Measured {
            resources,
            metrics,
            accounting,
            schedule_lag,
            kept_up,
            write_audit,
            failure,
            cut_short,
            notes,
            server_health,
            server_addr,
            attack_set: set.attack_set,
            attacker_invalidities: set.invalidities,
        })
    }

    /// A short attack at the test's rate whose results are thrown away: connections, thread pools and
    /// SQLite's page cache are warm when the measured attack starts.
    fn warm_up(&self, server: &dyn Server, case: &TestCase<'_>, stem: &str) -> Result<()> {
        let warm_stem = format!("{stem}_warmup");
        let targets = self.write_targets(server, case, &warm_stem)?;
        let raw = self.run_dir.join(TARGETS_FOLDER).join(format!("{warm_stem}.bin"));
        let spec = self.attack_spec(case, &targets, &raw, &warm_stem, self.plan.warmup);
        let outcome = self.attacks().attack(server, case, self.attacks().members(spec), false).context("warming up");
        let _ = std::fs::remove_file(&targets);
        let outcome = outcome?;
        for member in &outcome.members {
            let _ = std::fs::remove_file(&member.spec.output);
        }
        let attackers = outcome.members.iter().filter_map(|member| {
            let why = member.failure.as_ref()?;
            Some(format!("attacker {} failed: {why}", member.attacker.as_ref()?))
        });
        match outcome.failure.into_iter().chain(attackers).next() {
            Some(failure) => Err(anyhow!("during the warm-up: {failure}")),
            None => Ok(()),
        }
    }

    fn write_targets(&self, server: &dyn Server, case: &TestCase<'_>, stem: &str) -> Result<PathBuf> {
        let folder = self.run_dir.join(TARGETS_FOLDER);
        std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        let targets = folder.join(format!("{stem}.jsonl"));
        write_targets(&targets, &server.base_url(), case.endpoint, 1..=shared::db::SEED_ITEMS)?;
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
            max_connections: Some(self.plan.max_connections),
            keep_bodies: self.plan.keep_bodies,
        }
    }

    /// A server on `host` and the planned port, or on a free one (with a note in the test) when that port is
    /// taken.
    fn start_server(
        &self,
        case: &TestCase<'_>,
        stem: &str,
        host: &str,
        notes: &mut Vec<String>,
    ) -> Result<Box<dyn Server>> {
        let port = match self.plan.port {
            Some(port) if self.backend.port_is_free(host, port) => port,
            Some(port) => {
                eprintln!("warning: port {port} is taken; {stem} uses a free port instead");
                notes.push(format!("port {port} was taken; the server ran on a free port instead"));
                0
            }
            None => 0,
        };
        let db = self.db_file(stem);
        if let Some(folder) = db.parent() {
            std::fs::create_dir_all(folder).context("creating the database folder")?;
        }
        let launch = Launch {
            server: case.server.to_owned(),
            host: host.to_owned(),
            port,
            workers: case.workers,
            db,
            cpus: self.placement(case.workers).server_cpus,
            extra_args: server_flags(case, self.plan.sleep_ms),
        };
        self.backend.start_server(&launch)
    }

    /// The test's own database (its `-wal` and `-shm` files sit beside it).
    fn db_file(&self, stem: &str) -> PathBuf {
        self.run_dir.join(DB_FOLDER).join(format!("{stem}.db"))
    }
}

/// Folder of the run folder that holds each attack's targets (and a warm-up's results) while it runs.
pub(super) const TARGETS_FOLDER: &str = "targets";

/// Folder of the run folder that holds the tests' databases while they run (and after, with `--keep-db`).
pub(super) const DB_FOLDER: &str = "db";

/// Deletes a test's database once its audit has read it: a write test at 2,000 req/s leaves an 82 MB `-wal`
/// file, and nothing reads the database afterwards. A file that is already gone is fine.
pub(super) fn remove_database(db: &Path) {
    let mut files = vec![db.to_path_buf()];
    files.extend(["-wal", "-shm", "-journal"].map(|suffix| PathBuf::from(format!("{}{suffix}", db.display()))));
    for file in files {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => eprintln!("warning: could not delete {}: {error}", file.display()),
        }
    }
}

/// The flags a test passes to its server beyond address, workers and database.
fn server_flags(case: &TestCase<'_>, sleep_ms: u64) -> Vec<String> {
    let mut flags = vec!["--sleep-ms".to_owned(), sleep_ms.to_string()];
    if let Some(driver) = case.io_driver {
        flags.extend(["--io-driver".to_owned(), driver.to_string()]);
    }
    flags
}

/// A server asked for one I/O driver must run on it: `/healthz` reports the driver that actually runs, and a
/// test measured on another driver than its label says would be a wrong number, not a result.
fn check_driver(case: &TestCase<'_>, health: Option<&shared::api::Health>) -> Result<()> {
    let (Some(asked), Some(health)) = (case.io_driver, health) else { return Ok(()) };
    if health.io_driver != asked.as_str() {
        bail!(
            "the {} server was started with --io-driver {asked} but /healthz reports {}",
            case.server,
            health.io_driver
        );
    }
    Ok(())
}

/// A record with nothing measured yet.
fn empty_record(case: &TestCase<'_>, stem: &str, duration: Duration, started_at: String, shared: bool) -> TestRecord {
    TestRecord {
        id: stem.to_owned(),
        server: case.server.to_owned(),
        io_driver: case.io_driver,
        workers: case.workers,
        endpoint: EndpointRef::from(case.endpoint),
        rate: case.rate,
        duration_s: duration.as_secs_f64(),
        repeat: case.repeat,
        status: TestStatus::Ok,
        failure: None,
        metrics: None,
        resources: None,
        write_audit: None,
        validity: crate::model::Validity::from_reasons(Vec::new(), shared),
        notes: Vec::new(),
        server_health: None,
        server_addr: None,
        accounting: None,
        schedule_lag: None,
        kept_up: None,
        markers: Vec::new(),
        attack_set: None,
        files: TestFiles::for_stem(stem),
        started_at,
        finished_at: String::new(),
    }
}

/// A server that forked workers is more processes than the one sampled: its CPU, run-queue and memory
/// figures would be a part of its cost presented as all of it. They are made absent, with the reason.
fn without_partial_server_figures(
    server: &str,
    unsampled: &[u32],
    accounting: &mut Option<Accounting>,
    resources: &mut Option<Resources>,
) -> Option<String> {
    if unsampled.is_empty() {
        return None;
    }
    let why = format!(
        "the {server} server ran as {} processes (pids {unsampled:?} beside the one sampled); the runner samples \
         one process, so its CPU, run-queue and memory figures are not recorded",
        unsampled.len() + 1
    );
    if let Some(accounting) = accounting {
        accounting.server.cpu = crate::model::Measured::Absent(why.clone());
        accounting.server.run_queue = crate::model::Measured::Absent(why.clone());
        accounting.projected_capacity = crate::model::Measured::Absent(why.clone());
    }
    // The load generator's series goes with it: the summary has no place for one process alone.
    *resources = None;
    Some(why)
}

/// Notes for figures that could not be measured: absent, never 0.
fn unsampled_notes(resources: Option<&Resources>) -> Vec<String> {
    match resources {
        None => vec!["CPU and memory could not be sampled: no resource figures for this test".to_owned()],
        Some(r) if r.load_generator.samples == 0 => {
            vec![
                "vegeta's CPU could not be sampled: no time series for it (the rules read the exact accounting)"
                    .to_owned(),
            ]
        }
        Some(_) => Vec::new(),
    }
}

/// The CPUs of a placement, or every CPU the runner may use when it is unpinned (empty).
fn cpus_or_all(cpus: &[usize]) -> usize {
    if cpus.is_empty() { crate::host::affinity::allowed_cpus().len() } else { cpus.len() }
}
