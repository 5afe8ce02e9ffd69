//! The results of a finished set of attacks: the one local vegeta's requests as they are, or every
//! attacker's decoded, put on the runner's clock and merged per request (see [`crate::metrics::merge`]),
//! with one record per attacker (its share, clock, first send, CPU, schedule lag, validity, failure) and
//! the reasons the rules found in each, named with its host.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;

use super::attack_set::{AttackRun, MemberRun};
use super::backend::Backend;
use crate::judge::Invalidity;
use crate::judge::attackers::{AttackerEvidence, apart, attacker_invalidities, named};
use crate::judge::validity::validity_from;
use crate::metrics::merge::{self, AttackerRun};
use crate::metrics::{self, pacing};
use crate::model::{AttackSet, AttackerRecord, Measured, TestStatus};
use crate::sampling::record::cpu_record;
use crate::tools::vegeta::RequestResult;

/// What the test's metrics are computed from, and what the attackers add to its record.
pub(super) struct SetResults {
    /// Every request, on the runner's clock, in send order when merged.
    pub requests: Vec<RequestResult>,
    pub schedule_lag: Option<pacing::ScheduleLag>,
    pub attack_set: Option<AttackSet>,
    /// The attackers' own reasons, each naming its host, and how far apart their windows were.
    pub invalidities: Vec<Invalidity>,
    /// The attackers that failed, by host.
    pub failure: Option<String>,
}

/// How the test's rules read one attacker's CPU: the CPUs the local one was pinned to.
pub(super) struct LocalCpus(pub usize);

/// Decodes and merges what `run` left behind; `duration` is the test's.
pub(super) fn set_results(
    backend: &dyn Backend,
    run: &AttackRun,
    run_dir: &Path,
    duration: Duration,
    local_cpus: LocalCpus,
) -> Result<SetResults> {
    let (Some(start_at), false) = (run.start_at, run.members.iter().all(|m| m.attacker.is_none())) else {
        return single(backend, run);
    };
    let mut decoded: Vec<(usize, Vec<RequestResult>)> = Vec::new();
    let mut failures: Vec<Option<String>> = run.members.iter().map(|m| m.failure.clone()).collect();
    for (index, member) in run.members.iter().enumerate() {
        if failures[index].is_some() {
            continue;
        }
        match backend.decode(&member.spec.output) {
            Ok(requests) => decoded.push((index, requests)),
            Err(error) => failures[index] = Some(format!("its results could not be read: {error:#}")),
        }
    }
    let runs: Vec<AttackerRun<'_>> = decoded
        .iter()
        .map(|(index, requests)| {
            let member = &run.members[*index];
            AttackerRun { requests, clock_offset_ns: member.clock.offset_ns, rate: member.spec.rate }
        })
        .collect();
    let mut invalidities = Vec::new();
    let mut records = Vec::new();
    for (index, member) in run.members.iter().enumerate() {
        let own = decoded.iter().position(|(i, _)| *i == index).map(|at| runs[at]);
        let (record, found) =
            attacker_record(member, own, failures[index].clone(), start_at, run, run_dir, duration, &local_cpus);
        invalidities.extend(named(&record.host, found));
        records.push(record);
    }
    let windows = merge::windows(&runs);
    if runs.len() > 1 {
        let spread = windows.map_or(Duration::ZERO, |w| Duration::from_nanos(w.start_spread_ns.unsigned_abs()));
        invalidities.extend(windows.and_then(|w| apart(w.overlap_share(), spread)));
    }
    let failed: Vec<String> = records
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|why| format!("attacker {} failed: {why}", r.host)))
        .collect();
    let attack_set = AttackSet {
        start_at: chrono::DateTime::<chrono::Utc>::from(start_at).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        start_spread_ms: windows.map(|w| w.start_spread_ns as f64 / 1e6),
        overlap_pct: windows.map(|w| w.overlap_share() * 100.0),
        attackers: records,
    };
    Ok(SetResults {
        requests: merge::merged(&runs),
        schedule_lag: merge::merged_schedule_lag(&runs),
        attack_set: Some(attack_set),
        invalidities,
        failure: (!failed.is_empty()).then(|| failed.join("; ")),
    })
}

/// The one local vegeta: its requests as they are, as always.
fn single(backend: &dyn Backend, run: &AttackRun) -> Result<SetResults> {
    let Some(member) = run.members.first() else {
        return Ok(SetResults {
            requests: Vec::new(),
            schedule_lag: None,
            attack_set: None,
            invalidities: Vec::new(),
            failure: None,
        });
    };
    let requests = backend.decode(&member.spec.output)?;
    let schedule_lag = pacing::schedule_lag(&requests, member.spec.rate);
    Ok(SetResults { requests, schedule_lag, attack_set: None, invalidities: Vec::new(), failure: None })
}

/// One attacker's record and the rules' reasons on its own results (unnamed).
#[allow(clippy::too_many_arguments)]
fn attacker_record(
    member: &MemberRun,
    own: Option<AttackerRun<'_>>,
    failure: Option<String>,
    start_at: SystemTime,
    run: &AttackRun,
    run_dir: &Path,
    duration: Duration,
    local_cpus: &LocalCpus,
) -> (AttackerRecord, Vec<Invalidity>) {
    let on_clock = own.map(|r| r.on_runner_clock()).unwrap_or_default();
    let metrics = metrics::compute(&on_clock, duration);
    let lag = pacing::schedule_lag(&on_clock, member.spec.rate).map(|lag| lag.record());
    let requests = metrics.requests;
    let (cpu, cpus) = match (&member.remote_cpu, &run.accounts) {
        (Some((Ok(window), cpus)), _) => (Measured::Measured(cpu_record(window, requests)), *cpus),
        (Some((Err(why), _)), _) => (Measured::Absent(why.clone()), None),
        (None, Some(accounts)) => match &accounts.load_generator.cpu {
            Ok(window) => (Measured::Measured(cpu_record(window, requests)), Some(local_cpus.0)),
            Err(why) => (Measured::Absent(why.to_string()), None),
        },
        (None, None) => (Measured::Absent("the attack was not sampled".to_owned()), None),
    };
    let host = member.attacker.as_ref().map(ToString::to_string).unwrap_or_default();
    let found = if failure.is_some() {
        Vec::new()
    } else {
        let evidence = AttackerEvidence {
            host: &host,
            rate: member.spec.rate,
            duration,
            metrics: &metrics,
            schedule_lag: lag.as_ref(),
            cpu: &cpu,
            cpus,
        };
        attacker_invalidities(&evidence)
    };
    let start_ns = start_at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64);
    let first_send_ms = own.and_then(|r| r.window_ns()).map(|(first, _)| (first - start_ns) as f64 / 1e6);
    let raw = member.spec.output.strip_prefix(run_dir).unwrap_or(&member.spec.output).display().to_string();
    let record = AttackerRecord {
        host,
        rate: member.spec.rate,
        clock_offset_ms: member.clock.offset_ns as f64 / 1e6,
        clock_offset_uncertainty_ms: member.clock.uncertainty_ns as f64 / 1e6,
        first_send_ms,
        requests,
        send_rate_rps: metrics.send_rate_rps,
        cpu,
        schedule_lag: lag,
        validity: validity_from(&found, false),
        status: if failure.is_some() { TestStatus::Failed } else { TestStatus::Ok },
        failure,
        raw,
    };
    (record, found)
}
