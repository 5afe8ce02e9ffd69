//! The plan: flags resolved into what will run, as a [`Mode`] (a matrix of fixed rates, a saturation search,
//! or a calibration of the load generator) over servers x workers x endpoints, with every knob typed.
//! [`resolve`] builds it and refuses what cannot run; this module says what it means: the tests in run
//! order, the searches, the estimated time, and the plan in words.

mod resolve;
pub mod study;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use shared::Endpoint;

pub use resolve::PlanError;
pub use study::StudyPlan;

use crate::defaults;
use crate::judge::Slo;
use crate::search::Range;

/// A validated benchmark plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub servers: Vec<String>,
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
    pub mode: Mode,
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
    pub workers: u16,
    pub endpoint: &'static Endpoint,
    pub rate: u32,
    pub repeat: u32,
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

    pub fn is_calibration(&self) -> bool {
        matches!(self.mode, Mode::Calibrate(_))
    }

    /// Every test, in run order: rates ascending, then workers, endpoints, repeats, and servers innermost, so
    /// both servers meet the same machine conditions as close together in time as possible.
    pub fn tests(&self) -> Vec<TestCase<'_>> {
        let mut tests = Vec::new();
        let (rates, repeats): (&[u32], u32) = match &self.mode {
            Mode::Matrix { rates, repeat } => (rates, *repeat),
            Mode::Study(study) => return self.study_cost_tests(study),
            Mode::Search(_) | Mode::Calibrate(_) => (&[], 1),
        };
        for &rate in rates {
            for &workers in &self.workers {
                for &endpoint in &self.endpoints {
                    for repeat in 1..=repeats {
                        for server in &self.servers {
                            tests.push(TestCase { server, workers, endpoint, rate, repeat });
                        }
                    }
                }
            }
        }
        tests
    }

    /// The study's cost tests: endpoint by endpoint at its cost rate, repeats, servers innermost.
    fn study_cost_tests(&self, study: &StudyPlan) -> Vec<TestCase<'_>> {
        let mut tests = Vec::new();
        for &workers in &self.workers {
            for &endpoint in &self.endpoints {
                let rate = study.rate_of(endpoint.name).unwrap_or(study.base_rate);
                for repeat in 1..=study.repeat {
                    for server in &self.servers {
                        tests.push(TestCase { server, workers, endpoint, rate, repeat });
                    }
                }
            }
        }
        tests
    }

    /// Every server x endpoint x workers, in the order a saturation search visits them (servers innermost);
    /// in a study, only the endpoints whose capacity it measures.
    pub fn combinations(&self) -> Vec<TestCase<'_>> {
        let mut combos = Vec::new();
        let searched = |e: &Endpoint| self.study().is_none_or(|study| study.capacity_endpoints.contains(&e.name));
        for &workers in &self.workers {
            for &endpoint in self.endpoints.iter().filter(|e| searched(e)) {
                for server in &self.servers {
                    combos.push(TestCase { server, workers, endpoint, rate: 0, repeat: 1 });
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
            Mode::Study(study) => {
                (self.duration + self.warmup + defaults::STUDY_TEST_OVERHEAD) * tests + study.search.budget
            }
            Mode::Search(search) | Mode::Calibrate(search) => search.budget,
            Mode::Matrix { .. } => (self.duration + self.warmup + defaults::PER_TEST_OVERHEAD) * tests,
        }
    }

    /// The matrix in words, for `--dry-run` and the run's opening lines.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        let tests = self.tests().len();
        let _ = writeln!(text, "servers:   {}", self.servers.join(", "));
        let _ = writeln!(text, "workers:   {}", join(&self.workers));
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
        if self.study().is_some() {
            let _ = writeln!(
                text,
                "study: {tests} cost tests, then {} capacity searches; about {} in all",
                self.combinations().len(),
                human(self.estimated_duration())
            );
        } else if self.search().is_some() {
            let combos = self.combinations().len();
            let _ = writeln!(
                text,
                "{combos} searches (servers x workers x endpoints); at most {} in all",
                human(self.estimated_duration())
            );
        } else {
            let _ = writeln!(
                text,
                "{tests} tests = {} servers x {} workers x {} endpoints x {} rates{}; about {} in all",
                self.servers.len(),
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
mod tests {
    use clap::Parser;
    use shared::CATALOGUE;
    use shared::binaries::SERVERS;

    use super::*;
    use crate::cli::Cli;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("runner").chain(args.iter().copied()))
    }

    fn plan(args: &[&str]) -> Result<Plan, PlanError> {
        Plan::resolve(&parse(args).expect("parses").run)
    }

    /// The flag clap names when it refuses a value.
    fn refused_by_clap(args: &[&str]) -> String {
        parse(args).expect_err("clap refuses it").to_string()
    }

    #[test]
    fn defaults_cover_every_server_and_benchmarked_endpoint() {
        let plan = plan(&["--rates", "1000,2000"]).expect("valid");
        assert_eq!(plan.servers, SERVERS);
        assert_eq!(plan.rates(), defaults::RATES);
        assert_eq!(plan.workers, [1]);
        assert_eq!(plan.duration, Duration::from_secs(10));
        assert_eq!(plan.warmup, Duration::from_secs(2));
        assert_eq!(plan.endpoints.len(), CATALOGUE.iter().filter(|e| e.benchmarked).count());
        assert!(plan.endpoints.iter().all(|e| e.name != "seed"));
        assert_eq!(plan.tests().len(), SERVERS.len() * 2 * plan.endpoints.len());
    }

    #[test]
    fn no_rate_flags_run_the_study_and_rates_run_the_matrix_as_before() {
        let study = plan(&[]).expect("valid");
        let Mode::Study(ref plan_of_study) = study.mode else {
            panic!("no rate flags: the study, got {:?}", study.mode)
        };
        assert!(plan_of_study.repeat >= 3);
        let tests = study.tests();
        assert_eq!(tests.len(), SERVERS.len() * study.endpoints.len() * 3, "every arm x endpoint x 3 repeats");
        let rate_of = |name: &str| tests.iter().find(|t| t.endpoint.name == name).map(|t| t.rate);
        assert_eq!(rate_of("simple_async_blocking"), Some(10), "well inside what a blocked loop serves");
        assert_eq!(rate_of("get_item_async_read"), Some(defaults::STUDY_COST_RATE));
        let searched: Vec<&str> = study.combinations().iter().map(|c| c.endpoint.name).collect();
        assert!(searched.iter().all(|name| ["simple_sync_threadpool", "simple_async_blocking"].contains(name)));
        assert_eq!(searched.len(), SERVERS.len() * 2);
        assert!(study.estimated_duration() <= Duration::from_secs(7 * 60), "{:?}", study.estimated_duration());
        assert!(study.describe().contains("capacity"), "{}", study.describe());
        let repeated = plan(&["--repeat", "5"]).expect("valid");
        assert_eq!(repeated.repeat(), 5, "--repeat raises the study's repeats");
        let matrix = plan(&["--rates", "500"]).expect("valid");
        assert!(matches!(matrix.mode, Mode::Matrix { .. }) && matrix.study().is_none());
    }

    #[test]
    fn every_builtin_duration_parses() {
        for literal in [defaults::DURATION, defaults::PROBE_DURATION, defaults::TIMEOUT, defaults::PROBE_TIMEOUT] {
            assert!(crate::cli::positive_duration(literal).is_ok(), "{literal}");
        }
        let find_max = plan(&["--find-max"]).expect("valid");
        assert_eq!((find_max.duration, find_max.timeout), (Duration::from_secs(3), Duration::from_secs(2)));
        assert!(find_max.rates().is_empty() && find_max.tests().is_empty());
    }

    #[test]
    fn filter_selects_by_path_prefix() {
        let db = plan(&["--filter", "/api/db"]).expect("valid");
        assert_eq!(db.endpoints.len(), 6);
        let read = plan(&["--filter", "/api/db/async/read"]).expect("valid");
        assert_eq!(read.endpoints.iter().map(|e| e.name).collect::<Vec<_>>(), ["get_item_async_read"]);
        let two = plan(&["--filter", "/api/simple/async/", "--filter", "/api/db/async/read"]).expect("valid");
        assert_eq!(two.endpoints.len(), 2);
    }

    #[test]
    fn bad_input_is_rejected_with_what_to_change() {
        assert!(matches!(plan(&["--servers", "nginx"]), Err(PlanError::UnknownServer { .. })));
        assert!(matches!(plan(&["--filter", "/api/nothing"]), Err(PlanError::FilterMatchesNothing { .. })));
        assert!(matches!(plan(&["--filter", "api/db"]), Err(PlanError::FilterNotAPath { .. })));
        assert!(matches!(plan(&["--rates", "0"]), Err(PlanError::NonPositiveRate { rate: 0 })));
        assert!(refused_by_clap(&["--workers", "0"]).contains("--workers"));
        assert!(refused_by_clap(&["--duration", "ten"]).contains("not a duration"));
        assert!(refused_by_clap(&["--duration", "0s"]).contains("longer than zero"));
        assert!(refused_by_clap(&["--duration", "2days"]).contains("longer than a day"));
        assert!(matches!(plan(&["--host", "10.0.0.1"]), Err(PlanError::NotLoopback { .. })));
        assert!(plan(&["--host", "::1"]).is_ok());
        assert_eq!(plan(&["--host", "[::1]"]).map(|p| p.host), Ok(Some("::1".to_owned())));
        assert_eq!(plan(&[]).map(|p| p.host), Ok(None), "an address of its own per test");
        assert!(matches!(plan(&["--find-max", "--repeat", "3"]), Err(PlanError::RepeatWithSearch)));
        assert_eq!(plan(&["--warmup", "0"]).map(|p| p.warmup), Ok(Duration::ZERO));
        let message = plan(&["--filter", "/nope"]).expect_err("no match").to_string();
        assert!(message.contains("/api/db/async/read/{item_id}"), "{message}");
    }

    #[test]
    fn what_cannot_run_is_refused_naming_the_flag() {
        let too_many = shared::config::MAX_WORKERS + 1;
        let message = refused_by_clap(&["--workers", &too_many.to_string()]);
        assert!(message.contains("--workers") && message.contains("1024"), "{message}");
        assert!(plan(&["--workers", &shared::config::MAX_WORKERS.to_string()]).is_ok());

        let zero_max = plan(&["--find-max", "--max-rate", "0"]).expect_err("no rate allowed");
        assert_eq!(zero_max, PlanError::NoMaxRate);
        assert!(zero_max.to_string().contains("--max-rate"));
        let inverted = plan(&["--find-max", "--start-rate", "500", "--max-rate", "100"]).expect_err("start above max");
        assert_eq!(inverted, PlanError::StartAboveMax { start: 500, max: 100 });
        assert!(inverted.to_string().contains("--start-rate 500") && inverted.to_string().contains("--max-rate 100"));
        let capped = plan(&["--find-max", "--start-rate", "50", "--max-rate", "400"]).expect("valid");
        assert_eq!(capped.search().map(|s| s.range), Some(Range { start: 50, max: 400 }));

        let short = plan(&["--duration", "1ns", "--rates", "10"]).expect_err("no request fits");
        assert!(matches!(short, PlanError::DurationTooShort { rate: 10, .. }), "{short:?}");
        assert!(short.to_string().contains("--duration"), "{short}");
        assert!(plan(&["--duration", "100ms", "--rates", "10"]).is_ok(), "one request at 10 req/s fits in 100 ms");
        let short_probe = plan(&["--find-max", "--duration", "1ms", "--start-rate", "100"]).expect_err("too short");
        assert!(matches!(short_probe, PlanError::DurationTooShort { rate: 100, .. }));

        let empty = plan(&["--servers", ""]).expect_err("no server named");
        assert!(matches!(empty, PlanError::NoServers { .. }) && empty.to_string().contains("--servers"), "{empty}");
    }

    #[test]
    fn an_output_that_is_a_file_or_unwritable_is_refused_before_anything_starts() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("results");
        std::fs::write(&file, "a file").expect("written");
        let mut plan = plan(&[]).expect("valid");
        plan.out = file.clone();
        let refused = plan.check_output().expect_err("a regular file");
        assert!(matches!(refused, PlanError::OutNotAFolder { .. }));
        assert!(refused.to_string().contains(&file.display().to_string()) && refused.to_string().contains("--out"));
        plan.out = file.join("below");
        assert!(matches!(plan.check_output(), Err(PlanError::OutNotAFolder { .. })), "below a regular file");
        plan.out = dir.path().join("new/deeper");
        assert_eq!(plan.check_output(), Ok(()));
        assert!(!plan.out.exists(), "the check creates nothing");
        // Root may write anywhere; a read-only folder is only refused for other users.
        if is_root() {
            return;
        }
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).expect("created");
        std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o500)).expect("chmod");
        plan.out = locked.join("out");
        assert!(matches!(plan.check_output(), Err(PlanError::OutNotWritable { .. })));
    }

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
            status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
    }

    #[test]
    fn calibration_is_a_mode_of_its_own() {
        let cli = Cli::try_parse_from(["runner", "calibrate"]).expect("parses");
        let Some(crate::cli::Command::Calibrate(args)) = cli.command else { panic!("calibrate subcommand") };
        let plan = Plan::for_calibration(&args).expect("valid");
        assert!(plan.is_calibration());
        assert_eq!(plan.servers, [SERVERS[0]]);
        assert_eq!(plan.endpoints.iter().map(|e| e.name).collect::<Vec<_>>(), ["simple_noop"]);
        assert_eq!(plan.search().map(|s| s.range.start), Some(defaults::CALIBRATE_START_RATE));
    }

    #[test]
    fn servers_alternate_innermost_and_duplicates_collapse() {
        let (first, second) = (SERVERS[0], SERVERS[1]);
        let servers = format!("{second},{first},{second}");
        let plan =
            plan(&["--servers", &servers, "--rates", "20", "10", "--filter", "/api/simple/async/"]).expect("valid");
        let order: Vec<(u32, &str)> = plan.tests().iter().map(|t| (t.rate, t.server)).collect();
        assert_eq!(order, [(10, second), (10, first), (20, second), (20, first)]);
        assert!(plan.describe().contains("4 tests"));
    }
}
