//! Flags resolved into a [`Plan`]: every combination that cannot run is refused here, before anything
//! starts, with the flag to change (the runner exits 2 on a [`PlanError`]).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use shared::{CATALOGUE, Endpoint, IoDriver};
use thiserror::Error;

use super::attackers::resolve_attackers;
use super::{Mode, Plan, SearchPlan, study};
use crate::cli::{CalibrateArgs, RunArgs};
use crate::defaults;
use crate::judge::Slo;
use crate::search::Range;
use crate::tools::external::{ExternalArm, ManifestError, manifest};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    #[error(
        "unknown server {name:?}; choose from: {known} (arms from outside the workspace come from --manifest FILE)"
    )]
    UnknownServer { name: String, known: String },
    #[error("--servers is empty; name at least one of: {known}")]
    NoServers { known: String },
    #[error("--filter {filter:?} is not a path prefix; it must start with '/', e.g. /api/db")]
    FilterNotAPath { filter: String },
    #[error("--filter {filters} matches no benchmarked endpoint; benchmarked paths are:\n{paths}")]
    FilterMatchesNothing { filters: String, paths: String },
    #[error("--rates must be positive requests per second; got {rate}")]
    NonPositiveRate { rate: u32 },
    #[error("--host {host:?} is not a loopback address; load tests only ever target this machine (127.0.0.1, ::1)")]
    NotLoopback { host: String },
    #[error("--slo-success must be a percentage above 0 and at most 100; got {value}")]
    BadSuccessSlo { value: String },
    #[error("--start-rate must be positive requests per second")]
    NoStartRate,
    #[error("--max-rate must be positive requests per second")]
    NoMaxRate,
    #[error("--start-rate {start} is above --max-rate {max}; no probe may exceed --max-rate")]
    StartAboveMax { start: u32, max: u32 },
    #[error("--repeat applies to fixed --rates; a --find-max search probes each rate once")]
    RepeatWithSearch,
    #[error("--duration {duration:?} is too short for one request at {rate} req/s; make --duration at least {least:?}")]
    DurationTooShort { duration: Duration, rate: u32, least: Duration },
    #[error("--out {path} is not a folder; name a folder (it is created if missing)")]
    OutNotAFolder { path: String },
    #[error("--out {path} is not writable ({reason}); name a folder this user can write")]
    OutNotWritable { path: String, reason: String },
    #[error("--manifest {0}")]
    Manifest(#[from] ManifestError),
    #[error("--attackers {name:?}: {why}; name each attacker as [user@]host, or `local` for this machine")]
    BadAttacker { name: String, why: &'static str },
    #[error("--attackers names {name:?} twice; each attacker runs one vegeta")]
    DuplicateAttacker { name: String },
    #[error("rate {rate} req/s is below one request per second for each of the {attackers} attackers")]
    RateBelowAttackers { rate: u32, attackers: usize },
    #[error(
        "--host {host:?} is a loopback address, which the remote attackers cannot reach; leave --host out and the \
         server listens on this machine's address towards them"
    )]
    LoopbackHostForRemoteAttackers { host: String },
    #[error(
        "--server-host resolves to the loopback address {address}, which the remote attackers cannot reach; name \
         the server host by an address they reach"
    )]
    LoopbackServerHostForRemoteAttackers { address: String },
    #[error(
        "the {arm} arm comes from --manifest, and manifest arms run on this machine only: leave it out of --servers \
         or leave out --server-host"
    )]
    ExternalWithServerHost { arm: String },
    #[error("--server-host: {detail}")]
    BadServerHost { detail: String },
    #[error(
        "--server-host {host:?} does not resolve to an address; name the host by an address or a name this machine resolves"
    )]
    UnresolvableServerHost { host: String },
    #[error("--ssh-config {path} is not a file")]
    SshConfigMissing { path: String },
    #[error("{flag} only applies with --server-host (or, for --ssh-config, --attackers)")]
    RemoteFlagWithoutHost { flag: String },
    #[error("{flag} must be an absolute path on the server host")]
    RemotePathNotAbsolute { flag: String },
    #[error(
        "--host names a loopback address of this machine; with --server-host the servers listen on that host's address"
    )]
    HostWithServerHost,
    #[error("cannot tell this build's folder (the default of --remote-bin-dir); give --remote-bin-dir")]
    NoBuildDir,
}

impl Plan {
    /// The benchmark the flags describe: a matrix of fixed rates, a saturation search, or (no rate flags) the
    /// study, at rates that ignore any calibration (see [`Plan::resolve_with_ceiling`]).
    pub fn resolve(args: &RunArgs) -> Result<Plan, PlanError> {
        Plan::resolve_with_ceiling(args, None)
    }

    /// Like [`Plan::resolve`], with the load generator's calibrated clean ceiling, which caps the study's
    /// cost rate.
    pub fn resolve_with_ceiling(args: &RunArgs, clean_ceiling: Option<u32>) -> Result<Plan, PlanError> {
        let manifest_arms = match &args.manifest {
            Some(path) => manifest::load(path, shared::binaries::SERVERS)?,
            None => Vec::new(),
        };
        let servers = resolve_servers(&args.servers, &manifest_arms)?;
        let external: Vec<ExternalArm> = manifest_arms.into_iter().filter(|arm| servers.contains(&arm.name)).collect();
        if let (Some(arm), Some(_)) = (external.first(), &args.server_host) {
            return Err(PlanError::ExternalWithServerHost { arm: arm.name.clone() });
        }
        let endpoints = resolve_endpoints(&args.filter)?;
        let workers = sorted_unique(&args.workers);
        let study = !args.find_max && args.rates.is_empty();
        let mode = if args.find_max {
            Mode::Search(search_plan(args)?)
        } else if study {
            // Planned below, once the arms and the test length are known.
            Mode::Matrix { rates: Vec::new(), repeat: 1 }
        } else {
            matrix_mode(args)?
        };
        let (default_duration, default_timeout, default_warmup) = match (args.find_max, study) {
            (true, _) => (defaults::PROBE_DURATION, defaults::PROBE_TIMEOUT, defaults::WARMUP),
            (false, true) => (defaults::STUDY_DURATION, defaults::PROBE_TIMEOUT, defaults::STUDY_WARMUP),
            (false, false) => (defaults::DURATION, defaults::TIMEOUT, defaults::WARMUP),
        };
        let plan = Plan {
            servers,
            io_drivers: unique(&args.io_drivers),
            filters: args.filter.clone(),
            endpoints,
            workers,
            duration: args.duration.unwrap_or_else(|| builtin(default_duration)),
            timeout: args.timeout.unwrap_or_else(|| builtin(default_timeout)),
            warmup: args.warmup.unwrap_or_else(|| builtin(default_warmup)),
            host: args.host.as_deref().map(loopback).transpose()?,
            server_host: super::remote::resolve_server_host(args)?,
            port: args.port.filter(|&p| p != 0),
            out: args.out.clone(),
            vegeta: args.vegeta.clone(),
            sleep_ms: args.sleep_ms,
            pin_cores: !args.no_pin,
            html: !args.no_html,
            keep_db: args.keep_db,
            max_connections: args.max_connections,
            keep_bodies: args.keep_bodies,
            attackers: resolve_attackers(&args.attackers)?,
            attacker_vegeta: args.attacker_vegeta.clone(),
            ssh_config: args.ssh_config.clone(),
            mode,
            external,
        };
        if study {
            let mut plan = plan;
            let scope = study::StudyScope {
                endpoints: &plan.endpoints,
                arms: plan.arms().len(),
                workers: plan.workers.first().copied().unwrap_or(1),
                sleep_ms: plan.sleep_ms,
                repeat: defaults::STUDY_REPEAT.max(args.repeat),
                duration: plan.duration,
                warmup: plan.warmup,
            };
            plan.mode = Mode::Study(study::study_plan(scope, clean_ceiling));
            plan.check_duration()?;
            plan.check_attackers()?;
            return Ok(plan);
        }
        plan.check_duration()?;
        plan.check_attackers()?;
        Ok(plan)
    }

    /// `runner calibrate`: a saturation search of the no-op endpoint with no latency bound, on one server.
    pub fn for_calibration(args: &CalibrateArgs) -> Result<Plan, PlanError> {
        let search = SearchPlan {
            slo: Slo { p99: defaults::CALIBRATE_SLO_P99, success_pct: defaults::SLO_SUCCESS_PCT },
            budget: args.budget,
            range: search_range(args.start_rate, defaults::MAX_RATE)?,
        };
        let plan = Plan {
            servers: resolve_servers(std::slice::from_ref(&args.server), &[])?,
            // Calibration measures the load generator: the target's own default driver is enough.
            io_drivers: vec![IoDriver::IoUring],
            filters: vec![shared::catalogue::CALIBRATION_PATH_PREFIX.to_owned()],
            endpoints: resolve_endpoints(&[shared::catalogue::CALIBRATION_PATH_PREFIX.to_owned()])?,
            workers: vec![args.workers],
            duration: args.duration,
            timeout: builtin(defaults::PROBE_TIMEOUT),
            warmup: args.warmup,
            host: None,
            server_host: None,
            port: None,
            out: args.out.clone(),
            vegeta: args.vegeta.clone(),
            sleep_ms: shared::config::DEFAULT_SLEEP_MS,
            pin_cores: !args.no_pin,
            html: false,
            keep_db: false,
            max_connections: defaults::MAX_CONNECTIONS,
            keep_bodies: false,
            attackers: Vec::new(),
            attacker_vegeta: None,
            ssh_config: None,
            mode: Mode::Calibrate(search),
            external: Vec::new(),
        };
        plan.check_duration()?;
        Ok(plan)
    }

    /// A test must be long enough for at least one request at its lowest rate (vegeta would send none and
    /// the test would be recorded as an empty success).
    fn check_duration(&self) -> Result<(), PlanError> {
        let lowest = match &self.mode {
            Mode::Matrix { rates, .. } => rates.first().copied(),
            Mode::Search(search) | Mode::Calibrate(search) => Some(search.range.start),
            Mode::Study(study) => study.rates.first().copied(),
        };
        let Some(rate) = lowest else { return Ok(()) };
        let least = Duration::from_secs_f64(1.0 / f64::from(rate));
        if self.duration < least {
            return Err(PlanError::DurationTooShort { duration: self.duration, rate, least });
        }
        Ok(())
    }

    /// Every attacker gets at least one request per second of the lowest rate, and remote attackers are not
    /// aimed at a loopback `--host` they cannot reach.
    fn check_attackers(&self) -> Result<(), PlanError> {
        if self.attackers.is_empty() {
            return Ok(());
        }
        let lowest = match &self.mode {
            Mode::Matrix { rates, .. } => rates.first().copied(),
            Mode::Search(search) | Mode::Calibrate(search) => Some(search.range.start),
            Mode::Study(study) => study.rates.first().copied(),
        };
        if let Some(rate) = lowest.filter(|&rate| (rate as usize) < self.attackers.len()) {
            return Err(PlanError::RateBelowAttackers { rate, attackers: self.attackers.len() });
        }
        let remote_attackers = self.attackers.iter().any(|a| a.is_remote());
        if let Some(host) = self.host.as_ref().filter(|_| remote_attackers) {
            return Err(PlanError::LoopbackHostForRemoteAttackers { host: host.clone() });
        }
        if let Some(server_host) = self.server_host.as_ref().filter(|h| remote_attackers && h.address.is_loopback()) {
            return Err(PlanError::LoopbackServerHostForRemoteAttackers { address: server_host.address.to_string() });
        }
        Ok(())
    }

    /// Refuses an output folder that cannot take a run folder (a regular file, an unwritable place), without
    /// creating anything: called before a run starts, not for a dry run.
    pub fn check_output(&self) -> Result<(), PlanError> {
        check_writable_folder(&self.out)
    }
}

fn matrix_mode(args: &RunArgs) -> Result<Mode, PlanError> {
    let rates = sorted_unique(&args.rates);
    if let Some(&rate) = rates.iter().find(|&&r| r == 0) {
        return Err(PlanError::NonPositiveRate { rate });
    }
    Ok(Mode::Matrix { rates, repeat: args.repeat })
}

fn search_plan(args: &RunArgs) -> Result<SearchPlan, PlanError> {
    if !(args.slo_success > 0.0 && args.slo_success <= 100.0) {
        return Err(PlanError::BadSuccessSlo { value: args.slo_success.to_string() });
    }
    if args.repeat > 1 {
        return Err(PlanError::RepeatWithSearch);
    }
    Ok(SearchPlan {
        slo: Slo { p99: args.slo_p99, success_pct: args.slo_success },
        budget: args.budget,
        range: search_range(args.start_rate, args.max_rate)?,
    })
}

fn search_range(start: u32, max: u32) -> Result<Range, PlanError> {
    if start == 0 {
        return Err(PlanError::NoStartRate);
    }
    if max == 0 {
        return Err(PlanError::NoMaxRate);
    }
    if start > max {
        return Err(PlanError::StartAboveMax { start, max });
    }
    Ok(Range::doubling(start, max))
}

/// A built-in default duration; they are all valid literals (a unit test parses every one).
fn builtin(literal: &str) -> Duration {
    crate::cli::positive_duration(literal).unwrap_or(Duration::from_secs(10))
}

/// The `--servers` names, each once: the workspace's arms and the manifest's (all of both when none is named).
fn resolve_servers(requested: &[String], manifest_arms: &[ExternalArm]) -> Result<Vec<String>, PlanError> {
    let mut known: Vec<&str> = shared::binaries::SERVERS.to_vec();
    known.extend(manifest_arms.iter().map(|arm| arm.name.as_str()));
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
        return Err(PlanError::NoServers { known: known.join(", ") });
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

/// The host as the servers want it (`[::1]` is how people write IPv6 in URLs; the servers want `::1`),
/// refused unless it is loopback.
fn loopback(host: &str) -> Result<String, PlanError> {
    let bare = host.trim_matches(['[', ']']);
    let not_loopback = || PlanError::NotLoopback { host: host.to_owned() };
    if bare == "localhost" {
        return Ok(bare.to_owned());
    }
    let ip: IpAddr = bare.parse().map_err(|_| not_loopback())?;
    if ip.is_loopback() { Ok(bare.to_owned()) } else { Err(not_loopback()) }
}

/// `out` must be a writable folder, or not exist below a writable folder (it is created when the run starts).
fn check_writable_folder(out: &Path) -> Result<(), PlanError> {
    let shown = out.display().to_string();
    let existing = out.ancestors().find(|dir| dir.as_os_str().is_empty() || dir.exists());
    let folder = match existing {
        Some(dir) if dir.as_os_str().is_empty() => Path::new("."),
        Some(dir) => dir,
        None => Path::new("/"),
    };
    if !folder.is_dir() {
        return Err(PlanError::OutNotAFolder {
            path: if folder == out { shown } else { folder.display().to_string() },
        });
    }
    let probe = folder.join(format!(".runner-write-test-{}", std::process::id()));
    match std::fs::write(&probe, b"ok") {
        Ok(()) => {
            let _ = std::fs::remove_file(probe);
            Ok(())
        }
        Err(error) => Err(PlanError::OutNotWritable { path: shown, reason: format!("{}: {error}", folder.display()) }),
    }
}

/// The values in their given order, each once.
fn unique<T: PartialEq + Copy>(values: &[T]) -> Vec<T> {
    let mut kept = Vec::new();
    for &value in values {
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    kept
}

fn sorted_unique<T: Ord + Copy>(values: &[T]) -> Vec<T> {
    let mut values = values.to_vec();
    values.sort_unstable();
    values.dedup();
    values
}
