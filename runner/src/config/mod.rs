//! The plan: flags resolved into what will run, as a [`Mode`] (a matrix of fixed rates, a saturation search,
//! or a calibration of the load generator) over servers x workers x endpoints, with every knob typed.
//! [`resolve`] builds it and refuses what cannot run; this module says what it means: the tests in run
//! order, the searches, the estimated time, and the plan in words.

pub mod attackers;
pub mod remote;
mod resolve;
pub mod study;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use shared::{Endpoint, IoDriver};

pub use attackers::{Attacker, shares};
pub use resolve::PlanError;
pub use study::StudyPlan;

use crate::defaults;
use crate::judge::Slo;
use crate::model::Arm;
use crate::search::Range;
use crate::tools::external::ExternalArm;

/// A validated benchmark plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub servers: Vec<String>,
    /// `--io-drivers`: each arm that takes `--io-driver` runs once per driver, in this order.
    pub io_drivers: Vec<IoDriver>,
    /// The `--filter` prefixes as given (empty: every benchmarked endpoint).
    pub filters: Vec<String>,
    pub endpoints: Vec<&'static Endpoint>,
    pub workers: Vec<u16>,
    /// Length of each measured attack (of each probe, when searching).
    pub duration: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Zero when there is no warm-up.
    pub warmup: Duration,
    /// `--host`: every server listens there. `None`: each test's server gets a loopback address of its own
    /// (see [`crate::host::loopback`]).
    pub host: Option<String>,
    /// `--server-host`: every test's server runs on that host over ssh (the only way load leaves loopback).
    pub server_host: Option<remote::ServerHostPlan>,
    pub port: Option<u16>,
    pub out: PathBuf,
    pub vegeta: Option<PathBuf>,
    pub sleep_ms: u64,
    pub pin_cores: bool,
    pub html: bool,
    /// `--keep-db`: keep every test's database (deleted after its write audit otherwise).
    pub keep_db: bool,
    /// vegeta's connection cap per server.
    pub max_connections: u32,
    /// Keep response bodies in vegeta's results (off: `-max-body 0`).
    pub keep_bodies: bool,
    /// `--attackers`: the hosts that run vegeta, each at its share of every rate. Empty: the one local
    /// vegeta, pinned as always.
    pub attackers: Vec<Attacker>,
    /// `--attacker-vegeta`: vegeta's path on the attacker hosts (else found there).
    pub attacker_vegeta: Option<String>,
    /// `--ssh-config`: the OpenSSH client config for remote hosts.
    pub ssh_config: Option<PathBuf>,
    pub mode: Mode,
    /// The `--manifest` arms the run includes (each also in `servers`), in manifest order.
    pub external: Vec<ExternalArm>,
}

/// What kind of run this is.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Every server x workers x endpoint x rate, each `repeat` times.
    Matrix { rates: Vec<u32>, repeat: u32 },
    /// `--find-max`: the highest rate within the SLO, per server x workers x endpoint.
    Search(SearchPlan),
    /// `runner calibrate`: the same search against the no-op endpoint, where an invalid probe marks the load
    /// generator's ceiling.
    Calibrate(SearchPlan),
    /// `runner` with no rate flags: every arm's cost per endpoint at an equal clean rate, repeated, then the
    /// capacity of the endpoints the server limits (see [`study`]).
    Study(StudyPlan),
}

/// What a search looks for, and how long it may look.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    pub slo: Slo,
    pub budget: Duration,
    pub range: Range,
}

/// One test of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCase<'p> {
    pub server: &'p str,
    /// The `--io-driver` to start the server with; `None` for an arm without a driver choice.
    pub io_driver: Option<IoDriver>,
    pub workers: u16,
    pub endpoint: &'static Endpoint,
    pub rate: u32,
    pub repeat: u32,
}

impl<'p> TestCase<'p> {
    /// The arm this test measures.
    pub fn arm(&self) -> Arm<'p> {
        Arm::new(self.server, self.io_driver)
    }
}

impl Plan {
    /// The fixed rates; empty when a search chooses them.
    pub fn rates(&self) -> &[u32] {
        match &self.mode {
            Mode::Matrix { rates, .. } => rates,
            Mode::Study(study) => &study.rates,
            Mode::Search(_) | Mode::Calibrate(_) => &[],
        }
    }

    /// Runs of each test.
    pub fn repeat(&self) -> u32 {
        match &self.mode {
            Mode::Matrix { repeat, .. } => *repeat,
            Mode::Study(study) => study.repeat,
            Mode::Search(_) | Mode::Calibrate(_) => 1,
        }
    }

    /// The search, in search and calibration mode, and the study's capacity phase.
    pub fn search(&self) -> Option<&SearchPlan> {
        match &self.mode {
            Mode::Matrix { .. } => None,
            Mode::Search(search) | Mode::Calibrate(search) => Some(search),
            Mode::Study(study) => Some(&study.search),
        }
    }

    /// The study, in study mode.
    pub fn study(&self) -> Option<&StudyPlan> {
        match &self.mode {
            Mode::Study(study) => Some(study),
            _ => None,
        }
    }

    /// See [`StudyPlan::calibrated`]; nothing outside a study.
    pub fn study_calibrated(&mut self) {
        if let Mode::Study(study) = &mut self.mode {
            study.calibrated();
        }
    }

    pub fn is_calibration(&self) -> bool {
        matches!(self.mode, Mode::Calibrate(_))
    }

    /// The manifest arm called `server`, when it is one.
    pub fn external_arm(&self, server: &str) -> Option<&ExternalArm> {
        self.external.iter().find(|arm| arm.name == server)
    }

    /// Every arm of the run, in order: each server, and a server that takes `--io-driver` once per planned
    /// driver (the drivers innermost, so `monoio/io_uring` and `monoio/epoll` run back to back).
    pub fn arms(&self) -> Vec<Arm<'_>> {
        let mut arms = Vec::new();
        for server in &self.servers {
            let offered = shared::binaries::arm(server).map_or(&[][..], |arm| arm.io_drivers);
            if offered.is_empty() {
                arms.push(Arm::new(server, None));
            } else {
                let drivers = self.io_drivers.iter().filter(|driver| offered.contains(driver));
                arms.extend(drivers.map(|&driver| Arm::new(server, Some(driver))));
            }
        }
        arms
    }

    /// Every test, in run order: rates ascending, then workers, endpoints, repeats, and arms innermost, so
    /// every arm meets the same machine conditions as close together in time as possible.
    pub fn tests(&self) -> Vec<TestCase<'_>> {
        let mut tests = Vec::new();
        let (rates, repeats): (&[u32], u32) = match &self.mode {
            Mode::Matrix { rates, repeat } => (rates, *repeat),
            Mode::Study(study) => return self.study_cost_tests(study),
            Mode::Search(_) | Mode::Calibrate(_) => (&[], 1),
        };
        let arms = self.arms();
        for &rate in rates {
            for &workers in &self.workers {
                for &endpoint in &self.endpoints {
                    for repeat in 1..=repeats {
                        for arm in &arms {
                            let (server, io_driver) = (arm.server, arm.io_driver);
                            tests.push(TestCase { server, io_driver, workers, endpoint, rate, repeat });
                        }
                    }
                }
            }
        }
        tests
    }

    /// The study's cost tests: endpoint by endpoint at its cost rate, repeats, arms innermost.
    fn study_cost_tests(&self, study: &StudyPlan) -> Vec<TestCase<'_>> {
        let mut tests = Vec::new();
        let arms = self.arms();
        for &workers in &self.workers {
            for &endpoint in &self.endpoints {
                let Some(rate) = study.rate_of(endpoint.name) else { continue };
                for repeat in 1..=study.repeat {
                    for arm in &arms {
                        let (server, io_driver) = (arm.server, arm.io_driver);
                        tests.push(TestCase { server, io_driver, workers, endpoint, rate, repeat });
                    }
                }
            }
        }
        tests
    }

    /// Every arm x endpoint x workers, in the order a saturation search visits them (arms innermost); in a
    /// study, only the endpoints whose capacity it measures.
    pub fn combinations(&self) -> Vec<TestCase<'_>> {
        let mut combos = Vec::new();
        let arms = self.arms();
        let searched = |e: &Endpoint| self.study().is_none_or(|study| study.capacity_endpoints.contains(&e.name));
        for &workers in &self.workers {
            for &endpoint in self.endpoints.iter().filter(|e| searched(e)) {
                for arm in &arms {
                    let (server, io_driver) = (arm.server, arm.io_driver);
                    combos.push(TestCase { server, io_driver, workers, endpoint, rate: 0, repeat: 1 });
                }
            }
        }
        combos
    }

    /// The longest a matrix can take when every test is overloaded: each attack (warm-up and measured) then
    /// waits up to its request timeout for the requests still in flight when it ends.
    pub fn worst_case_duration(&self) -> Duration {
        let attacks = if self.warmup.is_zero() { 1 } else { 2 };
        let waits = self.timeout * attacks * u32::try_from(self.tests().len()).unwrap_or(u32::MAX);
        self.estimated_duration() + waits
    }

    /// A conservative estimate of the whole run's wall time when the servers keep up.
    pub fn estimated_duration(&self) -> Duration {
        let tests = u32::try_from(self.tests().len()).unwrap_or(u32::MAX);
        match &self.mode {
            Mode::Study(study) => study.estimate.total(),
            Mode::Search(search) | Mode::Calibrate(search) => search.budget,
            Mode::Matrix { .. } => (self.duration + self.warmup + defaults::PER_TEST_OVERHEAD) * tests,
        }
    }

    /// The matrix in words, for `--dry-run` and the run's opening lines.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        let tests = self.tests().len();
        let _ = writeln!(text, "servers:   {}", join(&self.arms()));
        let _ = writeln!(text, "workers:   {}", join(&self.workers));
        if !self.attackers.is_empty() {
            let _ = writeln!(text, "attackers: {} (each rate split evenly between them)", join(&self.attackers));
        }
        if let Some(remote) = &self.server_host {
            let _ = writeln!(text, "servers on {} ({}), over ssh", remote.destination, remote.address);
        }
        match (self.study(), self.search()) {
            (Some(study), _) => study::describe(study, &mut text),
            (None, None) => {
                let _ = writeln!(text, "rates:     {} req/s", join(self.rates()));
            }
            (None, Some(search)) => {
                let _ = writeln!(
                    text,
                    "search:    highest rate with p99 <= {} and success >= {}%, {}..{} req/s, budget {}",
                    human_precise(search.slo.p99),
                    search.slo.success_pct,
                    search.range.start,
                    search.range.max,
                    human(search.budget)
                );
            }
        }
        let _ = writeln!(
            text,
            "duration:  {} per test (warm-up {}, timeout {} per request{})",
            human_precise(self.duration),
            human_precise(self.warmup),
            human(self.timeout),
            if self.repeat() > 1 { format!(", {} repeats", self.repeat()) } else { String::new() }
        );
        let _ = writeln!(text, "endpoints: {}", self.endpoints.len());
        for endpoint in &self.endpoints {
            let _ = writeln!(text, "  {:<34} {:<4} {}", endpoint.name, endpoint.method.as_str(), endpoint.path);
        }
        if let Some(study) = self.study() {
            study::describe_estimate(&study.estimate, &mut text);
        } else if self.search().is_some() {
            let combos = self.combinations().len();
            let _ = writeln!(
                text,
                "{combos} searches (arms x workers x endpoints); at most {} in all",
                human(self.estimated_duration())
            );
        } else {
            let _ = writeln!(
                text,
                "{tests} tests = {} arms x {} workers x {} endpoints x {} rates{}; about {} in all",
                self.arms().len(),
                self.workers.len(),
                self.endpoints.len(),
                self.rates().len(),
                if self.repeat() > 1 { format!(" x {} repeats", self.repeat()) } else { String::new() },
                human(self.estimated_duration())
            );
            let _ = writeln!(
                text,
                "  overloaded tests take longer: each attack waits up to its {} request timeout for what is still in \
                 flight (at most {} in all)",
                human(self.timeout),
                human(self.worst_case_duration())
            );
        }
        text
    }
}

fn join<T: ToString>(values: &[T]) -> String {
    values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// A duration for people, keeping milliseconds: `100ms`, `2s`.
pub fn human_precise(duration: Duration) -> String {
    if duration.is_zero() { "none".to_owned() } else { humantime::format_duration(duration).to_string() }
}

/// A duration for people: `10s`, `2m 30s`.
pub fn human(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs().max(u64::from(duration.subsec_millis() > 0))))
        .to_string()
}

#[cfg(test)]
mod tests;
