//! Resolves the command line into a validated plan: which servers, endpoints, rates and worker counts, in
//! which order. Every bad combination is rejected here, before anything starts, with a message that says
//! what to change.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use shared::{CATALOGUE, Endpoint};
use thiserror::Error;

use crate::cli::RunArgs;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("unknown server {name:?}; choose from: {known}")]
    UnknownServer { name: String, known: String },
    #[error("--filter {filter:?} is not a path prefix; it must start with '/', e.g. /api/db")]
    FilterNotAPath { filter: String },
    #[error("--filter {filters} matches no benchmarked endpoint; benchmarked paths are:\n{paths}")]
    FilterMatchesNothing { filters: String, paths: String },
    #[error("--rates must be positive requests per second; got {rate}")]
    NonPositiveRate { rate: u32 },
    #[error("--workers must be at least 1; got {workers}")]
    NoWorkers { workers: u16 },
    #[error("--{flag} {value:?} is not a duration ({reason}); write it like 10s, 1m or 500ms")]
    BadDuration { flag: &'static str, value: String, reason: String },
    #[error("--{flag} must be longer than zero")]
    ZeroDuration { flag: &'static str },
    #[error("--host {host:?} is not a loopback address; load tests only ever target this machine (127.0.0.1, ::1)")]
    NotLoopback { host: String },
    #[error("--rates, --workers and --servers must not be empty")]
    EmptyMatrix,
    #[error("--slo-success must be a percentage above 0 and at most 100; got {value}")]
    BadSuccessSlo { value: String },
    #[error("--start-rate must be positive requests per second")]
    NoStartRate,
    #[error("--repeat applies to fixed --rates; a --find-max search probes each rate once")]
    RepeatWithSearch,
}

/// A validated benchmark plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub servers: Vec<String>,
    pub filters: Vec<String>,
    pub endpoints: Vec<&'static Endpoint>,
    /// Empty with `--find-max`.
    pub rates: Vec<u32>,
    pub workers: Vec<u16>,
    pub duration: Duration,
    pub timeout: Duration,
    pub host: String,
    pub port: Option<u16>,
    pub out: PathBuf,
    pub vegeta: Option<PathBuf>,
    pub sleep_ms: u64,
    pub pin_cores: bool,
    pub html: bool,
    pub repeat: u32,
    /// Zero when there is no warm-up.
    pub warmup: Duration,
    /// Present with `--find-max`: the rates come from the search, not from `rates`.
    pub search: Option<SearchPlan>,
    /// `runner calibrate`: an invalid probe marks the generator's ceiling, so the search bisects below it.
    pub calibrating: bool,
    /// vegeta's connection cap per server.
    pub max_connections: u32,
}

/// What `--find-max` looks for, and how long it may look.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    pub slo: Slo,
    pub budget: Duration,
    pub range: crate::search::Range,
}

/// The service level a sustainable rate must meet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slo {
    pub p99: Duration,
    pub success_pct: f64,
}

/// No duration flag goes beyond this (it keeps every deadline computation far from overflow).
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Default length of a measured attack, and of one probe of the saturation search.
pub const DEFAULT_DURATION: &str = "10s";
pub const DEFAULT_PROBE_DURATION: &str = "3s";
/// Default per-request timeout of a measured attack, and of a search probe.
pub const DEFAULT_TIMEOUT: &str = "10s";
pub const DEFAULT_PROBE_TIMEOUT: &str = "2s";

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
    pub fn resolve(args: &RunArgs) -> Result<Plan, PlanError> {
        let servers = resolve_servers(&args.servers)?;
        let endpoints = resolve_endpoints(&args.filter)?;
        let rates = sorted_unique(&args.rates);
        if let Some(&rate) = rates.iter().find(|&&r| r == 0) {
            return Err(PlanError::NonPositiveRate { rate });
        }
        let workers = sorted_unique(&args.workers);
        if let Some(&w) = workers.iter().find(|&&w| w == 0) {
            return Err(PlanError::NoWorkers { workers: w });
        }
        if rates.is_empty() || workers.is_empty() {
            return Err(PlanError::EmptyMatrix);
        }
        check_loopback(&args.host)?;
        let default_duration = if args.find_max { DEFAULT_PROBE_DURATION } else { DEFAULT_DURATION };
        let duration = args.duration.as_deref().unwrap_or(default_duration);
        let default_timeout = if args.find_max { DEFAULT_PROBE_TIMEOUT } else { DEFAULT_TIMEOUT };
        Ok(Plan {
            servers,
            filters: args.filter.clone(),
            endpoints,
            // A search chooses its own rates; keeping the defaults would only mislead the report header.
            rates: if args.find_max { Vec::new() } else { rates },
            workers,
            duration: parse_duration("duration", duration)?,
            timeout: parse_duration("timeout", args.timeout.as_deref().unwrap_or(default_timeout))?,
            // `[::1]` is how people write IPv6 in URLs; the servers want the bare address.
            host: args.host.trim_matches(['[', ']']).to_owned(),
            port: args.port.filter(|&p| p != 0),
            out: args.out.clone(),
            vegeta: args.vegeta.clone(),
            sleep_ms: args.sleep_ms,
            pin_cores: !args.no_pin,
            html: !args.no_html,
            repeat: args.repeat,
            warmup: parse_optional_duration("warmup", &args.warmup)?,
            search: args.find_max.then(|| resolve_search(args)).transpose()?,
            calibrating: false,
            max_connections: args.max_connections,
        })
    }

    /// Every test, in run order: rates ascending, then workers, endpoints, repeats, and servers innermost, so
    /// both servers meet the same machine conditions as close together in time as possible.
    pub fn tests(&self) -> Vec<TestCase<'_>> {
        let mut tests = Vec::new();
        for &rate in &self.rates {
            for &workers in &self.workers {
                for &endpoint in &self.endpoints {
                    for repeat in 1..=self.repeat {
                        for server in &self.servers {
                            tests.push(TestCase { server, workers, endpoint, rate, repeat });
                        }
                    }
                }
            }
        }
        tests
    }

    /// Every server x endpoint x workers, in the order a saturation search visits them (servers innermost).
    pub fn combinations(&self) -> Vec<TestCase<'_>> {
        let mut combos = Vec::new();
        for &workers in &self.workers {
            for &endpoint in &self.endpoints {
                for server in &self.servers {
                    combos.push(TestCase { server, workers, endpoint, rate: 0, repeat: 1 });
                }
            }
        }
        combos
    }

    /// A conservative estimate of the whole run's wall time.
    pub fn estimated_duration(&self) -> Duration {
        if let Some(search) = &self.search {
            return search.budget;
        }
        let per_test = self.duration + self.warmup + crate::scheduler::PER_TEST_OVERHEAD;
        per_test * u32::try_from(self.tests().len()).unwrap_or(u32::MAX)
    }

    /// The matrix in words, for `--dry-run` and the run's opening lines.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        let tests = self.tests().len();
        let _ = writeln!(text, "servers:   {}", self.servers.join(", "));
        let _ = writeln!(text, "workers:   {}", join(&self.workers));
        match &self.search {
            None => {
                let _ = writeln!(text, "rates:     {} req/s", join(&self.rates));
            }
            Some(search) => {
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
            human(self.duration),
            human_precise(self.warmup),
            human(self.timeout),
            if self.repeat > 1 { format!(", {} repeats", self.repeat) } else { String::new() }
        );
        let _ = writeln!(text, "endpoints: {}", self.endpoints.len());
        for endpoint in &self.endpoints {
            let _ = writeln!(text, "  {:<34} {:<4} {}", endpoint.name, endpoint.method.as_str(), endpoint.path);
        }
        if self.search.is_some() {
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
                self.rates.len(),
                if self.repeat > 1 { format!(" x {} repeats", self.repeat) } else { String::new() },
                human(self.estimated_duration())
            );
        }
        text
    }
}

fn resolve_search(args: &RunArgs) -> Result<SearchPlan, PlanError> {
    if !(args.slo_success > 0.0 && args.slo_success <= 100.0) {
        return Err(PlanError::BadSuccessSlo { value: args.slo_success.to_string() });
    }
    if args.start_rate == 0 {
        return Err(PlanError::NoStartRate);
    }
    if args.repeat > 1 {
        return Err(PlanError::RepeatWithSearch);
    }
    Ok(SearchPlan {
        slo: Slo { p99: parse_duration("slo-p99", &args.slo_p99)?, success_pct: args.slo_success },
        budget: parse_duration("budget", &args.budget)?,
        range: crate::search::Range { start: args.start_rate, max: args.max_rate.max(args.start_rate) },
    })
}

fn resolve_servers(requested: &[String]) -> Result<Vec<String>, PlanError> {
    let known = shared::binaries::SERVERS;
    if requested.is_empty() {
        return Ok(known.iter().map(|s| (*s).to_owned()).collect());
    }
    let mut servers: Vec<String> = Vec::new();
    for name in requested.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !known.contains(&name) {
            return Err(PlanError::UnknownServer { name: name.to_owned(), known: known.join(", ") });
        }
        if !servers.iter().any(|s| s == name) {
            servers.push(name.to_owned());
        }
    }
    if servers.is_empty() {
        return Err(PlanError::EmptyMatrix);
    }
    Ok(servers)
}

fn resolve_endpoints(filters: &[String]) -> Result<Vec<&'static Endpoint>, PlanError> {
    if let Some(filter) = filters.iter().find(|f| !f.starts_with('/')) {
        return Err(PlanError::FilterNotAPath { filter: filter.clone() });
    }
    let benchmarked = CATALOGUE.iter().filter(|e| e.benchmarked);
    let selected: Vec<&'static Endpoint> =
        benchmarked.filter(|e| filters.is_empty() || filters.iter().any(|f| e.path.starts_with(f.as_str()))).collect();
    if selected.is_empty() {
        let paths = CATALOGUE.iter().filter(|e| e.benchmarked).map(|e| format!("  {}", e.path)).collect::<Vec<_>>();
        return Err(PlanError::FilterMatchesNothing { filters: filters.join(", "), paths: paths.join("\n") });
    }
    Ok(selected)
}

fn check_loopback(host: &str) -> Result<(), PlanError> {
    let not_loopback = || PlanError::NotLoopback { host: host.to_owned() };
    if host == "localhost" {
        return Ok(());
    }
    let ip: IpAddr = host.trim_matches(['[', ']']).parse().map_err(|_| not_loopback())?;
    if ip.is_loopback() { Ok(()) } else { Err(not_loopback()) }
}

/// Parses a duration like `10s`, `1m30s` or `500ms`.
pub fn parse_duration(flag: &'static str, value: &str) -> Result<Duration, PlanError> {
    let duration = humantime::parse_duration(value.trim()).map_err(|e| PlanError::BadDuration {
        flag,
        value: value.to_owned(),
        reason: e.to_string(),
    })?;
    if duration.is_zero() {
        return Err(PlanError::ZeroDuration { flag });
    }
    if duration > MAX_DURATION {
        return Err(PlanError::BadDuration { flag, value: value.to_owned(), reason: "longer than a day".to_owned() });
    }
    Ok(duration)
}

/// Like [`parse_duration`], but zero is allowed (it switches the feature off).
pub fn parse_optional_duration(flag: &'static str, value: &str) -> Result<Duration, PlanError> {
    if value.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    match parse_duration(flag, value) {
        Err(PlanError::ZeroDuration { .. }) => Ok(Duration::ZERO),
        other => other,
    }
}

fn sorted_unique<T: Ord + Copy>(values: &[T]) -> Vec<T> {
    let mut values = values.to_vec();
    values.sort_unstable();
    values.dedup();
    values
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

    use super::*;
    use crate::cli::Cli;

    fn plan(args: &[&str]) -> Result<Plan, PlanError> {
        let cli = Cli::try_parse_from(std::iter::once("runner").chain(args.iter().copied())).expect("parses");
        Plan::resolve(&cli.run)
    }

    #[test]
    fn defaults_cover_every_server_and_benchmarked_endpoint() {
        let plan = plan(&[]).expect("valid");
        assert_eq!(plan.servers, shared::binaries::SERVERS);
        assert_eq!(plan.rates, [1000, 2000]);
        assert_eq!(plan.workers, [1]);
        assert_eq!(plan.duration, Duration::from_secs(10));
        assert_eq!(plan.endpoints.len(), CATALOGUE.iter().filter(|e| e.benchmarked).count());
        assert!(plan.endpoints.iter().all(|e| e.name != "seed"));
        assert_eq!(plan.tests().len(), shared::binaries::SERVERS.len() * 2 * plan.endpoints.len());
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
        assert!(matches!(plan(&["--workers", "0"]), Err(PlanError::NoWorkers { .. })));
        assert!(matches!(plan(&["--duration", "ten"]), Err(PlanError::BadDuration { .. })));
        assert!(matches!(plan(&["--duration", "0s"]), Err(PlanError::ZeroDuration { .. })));
        assert!(matches!(plan(&["--host", "10.0.0.1"]), Err(PlanError::NotLoopback { .. })));
        assert!(plan(&["--host", "::1"]).is_ok());
        assert_eq!(plan(&["--host", "[::1]"]).map(|p| p.host), Ok("::1".to_owned()));
        assert!(matches!(plan(&["--find-max", "--repeat", "3"]), Err(PlanError::RepeatWithSearch)));
        assert!(matches!(plan(&["--duration", "2days"]), Err(PlanError::BadDuration { .. })));
        let message = plan(&["--filter", "/nope"]).expect_err("no match").to_string();
        assert!(message.contains("/api/db/async/read/{item_id}"), "{message}");
    }

    #[test]
    fn servers_alternate_innermost_and_duplicates_collapse() {
        let plan = plan(&[
            "--servers",
            "monoio-hyper,axum,monoio-hyper",
            "--rates",
            "20",
            "10",
            "--filter",
            "/api/simple/async/",
        ])
        .expect("valid");
        let order: Vec<(u32, &str)> = plan.tests().iter().map(|t| (t.rate, t.server)).collect();
        assert_eq!(order, [(10, "monoio-hyper"), (10, "axum"), (20, "monoio-hyper"), (20, "axum")]);
        assert!(plan.describe().contains("4 tests"));
    }
}
