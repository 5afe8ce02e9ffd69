//! `runner compare OLD NEW`: lines up the matching tests of two runs (same arm as the reports label it,
//! workers, endpoint and rate) and the matching capacity searches, and says which figures changed beyond
//! their spread. A pure function of the two runs' results, so it lives with the reports; [`table`] renders it.
//!
//! A figure counts as changed when its median moved by more than the threshold (`--threshold`, default
//! [`crate::defaults::COMPARE_THRESHOLD_PCT`]) and the two runs' ranges do not overlap: min–max over the
//! repeats, widened by each value's measurement uncertainty where the record has one (the server's CPU µs
//! per request is known only to two clock ticks over the test's requests, tens of µs at low rates). Latency
//! changes smaller than [`crate::defaults::LATENCY_NOISE_FLOOR_MS`] never count, nor a p99 over fewer than
//! [`crate::defaults::COMPARE_P99_MIN_REQUESTS`] requests (there it is one or two requests' latency).
//! Figures compared: p50 and p99 latency, the achieved rate and the server's CPU µs per request of every
//! test, and the sustainable rate of every capacity search that converged in both runs. A search's probes
//! are compared through its result, not one by one: two searches probe different rates near overload. Only
//! valid results are judged; a test that failed in the new run but not in the old one is a regression.

pub mod table;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::defaults::{COMPARE_P99_MIN_REQUESTS, LATENCY_NOISE_FLOOR_MS};
use crate::model::{CapacityResult, Machine, RunResults, RunStatus, TestRecord, TestStatus};
use crate::report::spread::{Spread, server_cpu_per_request};

/// Why two runs cannot be compared (the runner exits 2).
#[derive(Debug, Error, PartialEq)]
pub enum Incomparable {
    #[error("the runs come from different machines: {0}")]
    Machines(String),
    #[error("the runs benchmark different arms: {old_run} has {old}, {new_run} has {new}")]
    Arms { old_run: String, new_run: String, old: String, new: String },
    #[error("{run} is half-written (status running: still running or killed); compare finished runs")]
    HalfWritten { run: String },
    #[error("no test or search of {new_run} matches one of {old_run} (same arm, workers, endpoint and rate)")]
    NothingInCommon { old_run: String, new_run: String },
    #[error("--threshold must be a positive percentage; got {0}")]
    BadThreshold(f64),
}

/// What identifies "the same test" (or the same capacity search) in two runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestKey {
    /// The arm as every report labels it ([`crate::model::Arm`]): `axum`, `monoio/io_uring`.
    pub arm: String,
    pub workers: u16,
    pub endpoint: String,
    /// The test's rate; `None` for a capacity search, which finds its own rates.
    pub rate: Option<u32>,
}

impl TestKey {
    fn of(record: &TestRecord) -> TestKey {
        TestKey {
            arm: record.arm().to_string(),
            workers: record.workers,
            endpoint: record.endpoint.name.clone(),
            rate: Some(record.rate),
        }
    }

    fn of_search(result: &CapacityResult) -> TestKey {
        TestKey {
            arm: result.arm().to_string(),
            workers: result.workers,
            endpoint: result.endpoint.name.clone(),
            rate: None,
        }
    }

    /// `monoio/io_uring w1 get_item_async_read @ 500/s`, or `axum w1 simple_async_blocking capacity`.
    pub fn label(&self) -> String {
        match self.rate {
            Some(rate) => format!("{} w{} {} @ {rate}/s", self.arm, self.workers, self.endpoint),
            None => format!("{} w{} {} capacity", self.arm, self.workers, self.endpoint),
        }
    }
}

/// A figure compared, and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    P50Ms,
    P99Ms,
    AchievedRps,
    ServerCpuUsPerRequest,
    /// A capacity search's sustainable rate.
    CapacityRps,
}

impl Figure {
    /// The figures of one test (a capacity search has only [`Figure::CapacityRps`]).
    pub const OF_A_TEST: [Figure; 4] =
        [Figure::P50Ms, Figure::P99Ms, Figure::AchievedRps, Figure::ServerCpuUsPerRequest];

    pub fn label(self) -> &'static str {
        match self {
            Figure::P50Ms => "p50 ms",
            Figure::P99Ms => "p99 ms",
            Figure::AchievedRps => "achieved req/s",
            Figure::ServerCpuUsPerRequest => "server CPU µs/req",
            Figure::CapacityRps => "capacity req/s",
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Figure::AchievedRps | Figure::CapacityRps)
    }

    fn is_latency(self) -> bool {
        matches!(self, Figure::P50Ms | Figure::P99Ms)
    }

    /// The figure of one valid test and its measurement uncertainty (0 where the figure is exact).
    fn of(self, record: &TestRecord) -> Option<(f64, f64)> {
        let metrics = record.metrics.as_ref();
        let exact = |value: Option<f64>| value.map(|v| (v, 0.0));
        match self {
            Figure::P50Ms => exact(metrics.map(|m| m.latency_ms.p50)),
            Figure::P99Ms => exact(metrics.map(|m| m.latency_ms.p99)),
            Figure::AchievedRps => exact(metrics.map(|m| m.achieved_rps)),
            Figure::ServerCpuUsPerRequest => server_cpu_per_request(record),
            Figure::CapacityRps => None,
        }
    }

    /// Why this figure of these tests cannot be judged, if it cannot.
    fn unresolved(self, tests: &[&TestRecord]) -> Option<String> {
        let fewest = tests.iter().filter_map(|t| t.metrics.as_ref().map(|m| m.requests)).min()?;
        (self == Figure::P99Ms && fewest < COMPARE_P99_MIN_REQUESTS).then(|| {
            format!("p99 of {fewest} requests is one of its slowest few: not judged below {COMPARE_P99_MIN_REQUESTS}")
        })
    }
}

/// How a figure moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the threshold, the spread, the measurement uncertainty or the latency floor.
    Same,
    Better,
    Worse,
}

/// One figure of one matched test.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureChange {
    pub figure: Figure,
    /// min, median and max over the valid repeats, widened by the measurement uncertainty.
    pub old: Spread,
    pub new: Spread,
    /// Change of the median, percent of the old one (signed).
    pub change_pct: f64,
    pub verdict: Verdict,
    /// Why the figure was not judged (its verdict is then [`Verdict::Same`]).
    pub unresolved: Option<String>,
}

/// A test present in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Matched {
    pub key: TestKey,
    pub changes: Vec<FigureChange>,
    /// Why some or all of it was not judged, or why it counts as a regression by itself.
    pub note: Option<String>,
    /// It failed in the new run and not in the old one.
    pub newly_failed: bool,
}

impl Matched {
    pub fn regressed(&self) -> bool {
        self.newly_failed || self.changes.iter().any(|c| c.verdict == Verdict::Worse)
    }
}

/// Two runs lined up.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub old_run: String,
    pub new_run: String,
    pub threshold_pct: f64,
    pub matched: Vec<Matched>,
    /// Tests of one run with no counterpart in the other.
    pub only_old: Vec<TestKey>,
    pub only_new: Vec<TestKey>,
    /// Differences that do not stop the comparison but a reader should know (e.g. another kernel).
    pub notes: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.matched.iter().filter(|m| m.regressed()).count()
    }
}

/// Lines up `old` and `new`, or says why they cannot be compared.
pub fn compare(old: &RunResults, new: &RunResults, threshold_pct: f64) -> Result<Comparison, Incomparable> {
    if !(threshold_pct.is_finite() && threshold_pct > 0.0) {
        return Err(Incomparable::BadThreshold(threshold_pct));
    }
    for run in [old, new] {
        if run.run.status == RunStatus::Running {
            return Err(Incomparable::HalfWritten { run: run.run.id.clone() });
        }
    }
    let mut notes = check_machines(&old.run.machine, &new.run.machine)?;
    notes.extend(check_server_hosts(old, new)?);
    check_arms(old, new)?;
    let old_groups = groups(old);
    let new_groups = groups(new);
    let mut matched: Vec<Matched> = old_groups
        .iter()
        .filter_map(|(key, before)| new_groups.get(key).map(|after| match_test(key, before, after, threshold_pct)))
        .collect();
    let (old_searches, new_searches) = (searches(old), searches(new));
    matched.extend(old_searches.iter().filter_map(|(key, before)| {
        new_searches.get(key).map(|after| match_search(key, before, after, threshold_pct))
    }));
    if matched.is_empty() {
        return Err(Incomparable::NothingInCommon { old_run: old.run.id.clone(), new_run: new.run.id.clone() });
    }
    let only = |tests: &BTreeMap<TestKey, Vec<&TestRecord>>,
                other_tests: &BTreeMap<TestKey, Vec<&TestRecord>>,
                searched: &BTreeMap<TestKey, &CapacityResult>,
                other_searched: &BTreeMap<TestKey, &CapacityResult>| {
        let tests = tests.keys().filter(|k| !other_tests.contains_key(*k));
        tests.chain(searched.keys().filter(|k| !other_searched.contains_key(*k))).cloned().collect()
    };
    Ok(Comparison {
        old_run: old.run.id.clone(),
        new_run: new.run.id.clone(),
        threshold_pct,
        only_old: only(&old_groups, &new_groups, &old_searches, &new_searches),
        only_new: only(&new_groups, &old_groups, &new_searches, &old_searches),
        matched,
        notes,
    })
}

/// The servers ran on this machine in both runs, or on hosts of the same kind (`--server-host`): a local run
/// against a remote one measures another machine, not a change.
fn check_server_hosts(old: &RunResults, new: &RunResults) -> Result<Vec<String>, Incomparable> {
    match (&old.run.server_host, &new.run.server_host) {
        (None, None) => Ok(Vec::new()),
        (Some(old), Some(new)) => check_machines(&old.machine, &new.machine).map_err(|error| match error {
            Incomparable::Machines(why) => Incomparable::Machines(format!("the server hosts: {why}")),
            other => other,
        }),
        (old_host, new_host) => {
            let place = |host: &Option<crate::model::ServerHost>| {
                host.as_ref()
                    .map_or_else(|| "this machine".to_owned(), |h| format!("{} (--server-host)", h.destination))
            };
            Err(Incomparable::Machines(format!(
                "the servers ran on {} in the old run and on {} in the new one",
                place(old_host),
                place(new_host)
            )))
        }
    }
}

/// Same CPU model, CPU count and memory, or an error naming each difference; another kernel is only noted.
fn check_machines(old: &Machine, new: &Machine) -> Result<Vec<String>, Incomparable> {
    let mut differences = Vec::new();
    if old.cpu_model != new.cpu_model {
        differences.push(format!("CPU {:?} vs {:?}", old.cpu_model, new.cpu_model));
    }
    if old.cores != new.cores {
        differences.push(format!("{} vs {} CPUs", old.cores, new.cores));
    }
    if old.memory_total_bytes != new.memory_total_bytes {
        differences.push(format!("{} vs {} bytes of memory", old.memory_total_bytes, new.memory_total_bytes));
    }
    if !differences.is_empty() {
        return Err(Incomparable::Machines(differences.join("; ")));
    }
    let kernel = (old.kernel != new.kernel).then(|| format!("kernels differ: {} vs {}", old.kernel, new.kernel));
    Ok(kernel.into_iter().collect())
}

/// The same arms (servers as the runs list them, in any order).
fn check_arms(old: &RunResults, new: &RunResults) -> Result<(), Incomparable> {
    let arms = |run: &RunResults| {
        let mut servers = run.run.config.servers.clone();
        servers.sort();
        servers
    };
    let (before, after) = (arms(old), arms(new));
    if before == after {
        return Ok(());
    }
    Err(Incomparable::Arms {
        old_run: old.run.id.clone(),
        new_run: new.run.id.clone(),
        old: before.join(", "),
        new: after.join(", "),
    })
}

/// Every test of a run under its key (repeats together), except the probes of its capacity searches: those
/// are compared through the search's result.
fn groups(run: &RunResults) -> BTreeMap<TestKey, Vec<&TestRecord>> {
    let probes: Vec<&str> = run.capacity.iter().flat_map(|c| c.probes.iter().map(|p| p.test_id.as_str())).collect();
    let mut groups: BTreeMap<TestKey, Vec<&TestRecord>> = BTreeMap::new();
    for test in run.tests.iter().filter(|t| !probes.contains(&t.id.as_str())) {
        groups.entry(TestKey::of(test)).or_default().push(test);
    }
    groups
}

/// Every capacity search of a run under its key (the last, when a run searched one twice).
fn searches(run: &RunResults) -> BTreeMap<TestKey, &CapacityResult> {
    run.capacity.iter().map(|result| (TestKey::of_search(result), result)).collect()
}

/// Two searches of one arm and endpoint: their sustainable rates, judged only when both converged.
fn match_search(key: &TestKey, old: &CapacityResult, new: &CapacityResult, threshold_pct: f64) -> Matched {
    let bound = |run: &str, result: &CapacityResult| {
        (!result.valid).then(|| format!("a lower bound in the {run} run ({}): not judged", result.stop))
    };
    let newly_failed = old.sustainable_rps.is_some() && new.sustainable_rps.is_none() && new.valid;
    let note = if newly_failed {
        Some("sustained no rate in the new run".to_owned())
    } else {
        bound("old", old).or_else(|| bound("new", new))
    };
    let rate = |result: &CapacityResult| Spread::of(result.sustainable_rps.map(f64::from));
    let changes = match (&note, rate(old), rate(new)) {
        (None, Some(before), Some(after)) => vec![judge(Figure::CapacityRps, before, after, threshold_pct, None)],
        _ => Vec::new(),
    };
    Matched { key: key.clone(), changes, note, newly_failed }
}

fn is_judged(test: &TestRecord) -> bool {
    test.status == TestStatus::Ok && test.validity.valid && test.metrics.is_some()
}

fn judged<'r>(tests: &[&'r TestRecord]) -> Vec<&'r TestRecord> {
    tests.iter().copied().filter(|t| is_judged(t)).collect()
}

fn match_test(key: &TestKey, old: &[&TestRecord], new: &[&TestRecord], threshold_pct: f64) -> Matched {
    let (old_valid, new_valid) = (judged(old), judged(new));
    let old_ok = old.iter().any(|t| t.status == TestStatus::Ok);
    let new_ok = new.iter().any(|t| t.status == TestStatus::Ok);
    let newly_failed = old_ok && !new_ok;
    let note = if newly_failed {
        Some("failed in the new run".to_owned())
    } else if old_valid.is_empty() || new_valid.is_empty() {
        let side = if old_valid.is_empty() { "old" } else { "new" };
        Some(format!("no valid result in the {side} run: not judged"))
    } else {
        None
    };
    let changes = if note.is_some() {
        Vec::new()
    } else {
        Figure::OF_A_TEST
            .iter()
            .filter_map(|&figure| figure_change(figure, &old_valid, &new_valid, threshold_pct))
            .collect()
    };
    Matched { key: key.clone(), changes, note, newly_failed }
}

fn figure_change(figure: Figure, old: &[&TestRecord], new: &[&TestRecord], threshold_pct: f64) -> Option<FigureChange> {
    let values = |tests: &[&TestRecord]| tests.iter().filter_map(|t| figure.of(t)).collect::<Vec<(f64, f64)>>();
    let (before, after) = (Spread::widened(&values(old))?, Spread::widened(&values(new))?);
    let unresolved = figure.unresolved(old).or_else(|| figure.unresolved(new));
    Some(judge(figure, before, after, threshold_pct, unresolved))
}

/// A figure changed when its median moved beyond the threshold, the two ranges (spread and measurement
/// uncertainty) do not overlap, and, for latency, the move is beyond the noise floor; never when it could
/// not be judged.
fn judge(figure: Figure, old: Spread, new: Spread, threshold_pct: f64, unresolved: Option<String>) -> FigureChange {
    let change_pct = if old.median == 0.0 { 0.0 } else { (new.median - old.median) / old.median * 100.0 };
    let beyond_floor = !figure.is_latency() || (new.median - old.median).abs() >= LATENCY_NOISE_FLOOR_MS;
    let changed = unresolved.is_none() && change_pct.abs() > threshold_pct && !old.overlaps(&new) && beyond_floor;
    let got_worse = (change_pct > 0.0) != figure.higher_is_better();
    let verdict = match (changed, got_worse) {
        (false, _) => Verdict::Same,
        (true, true) => Verdict::Worse,
        (true, false) => Verdict::Better,
    };
    FigureChange { figure, old, new, change_pct, verdict, unresolved }
}

#[cfg(test)]
mod tests;
