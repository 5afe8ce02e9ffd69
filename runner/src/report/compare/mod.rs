//! `runner compare OLD NEW`: lines up the matching tests of two runs (same arm, workers, endpoint and rate,
//! and I/O driver when recorded) and says which figures changed beyond their spread. A pure function of the
//! two runs' results, so it lives with the reports; [`table`] renders it.
//!
//! A figure counts as changed when its median moved by more than the threshold (`--threshold`, default
//! [`crate::defaults::COMPARE_THRESHOLD_PCT`]) and, when both sides were repeated, their min–max ranges do
//! not overlap. Latency changes smaller than [`crate::defaults::LATENCY_NOISE_FLOOR_MS`] never count: at
//! sub-millisecond latencies scheduling noise alone moves p99 by more than any threshold. Figures compared:
//! p50 and p99 latency and the achieved rate of every test, and the server's CPU µs per request when the
//! records carry one. Only valid results are judged; a test that failed in the new run but not in the old
//! one is a regression.

pub mod table;

use std::collections::BTreeMap;

use thiserror::Error;

use super::csv::flatten_record;
use crate::model::{Machine, RunResults, RunStatus, TestRecord, TestStatus};

/// Why two runs cannot be compared (the runner exits 2).
#[derive(Debug, Error, PartialEq)]
pub enum Incomparable {
    #[error("the runs come from different machines: {0}")]
    Machines(String),
    #[error("the runs benchmark different arms: {old_run} has {old}, {new_run} has {new}")]
    Arms { old_run: String, new_run: String, old: String, new: String },
    #[error("{run} is half-written (status running: still running or killed); compare finished runs")]
    HalfWritten { run: String },
    #[error("no test of {new_run} matches one of {old_run} (same arm, workers, endpoint and rate)")]
    NothingInCommon { old_run: String, new_run: String },
    #[error("--threshold must be a positive percentage; got {0}")]
    BadThreshold(f64),
}

/// What identifies "the same test" in two runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestKey {
    pub server: String,
    /// The I/O driver, when the run recorded one (`io_driver`, else the server's own `/healthz`).
    pub driver: Option<String>,
    pub workers: u16,
    pub endpoint: String,
    pub rate: u32,
}

impl TestKey {
    fn of(record: &TestRecord) -> TestKey {
        let flat = flatten_record(record);
        let find = |column: &str| flat.iter().find(|(c, _)| c == column).map(|(_, v)| v.clone());
        TestKey {
            server: record.server.clone(),
            driver: find("io_driver").or_else(|| find("server_health.io_driver")),
            workers: record.workers,
            endpoint: record.endpoint.name.clone(),
            rate: record.rate,
        }
    }

    /// `axum/epoll w1 get_item_async_read @ 500/s`.
    pub fn label(&self) -> String {
        let driver = self.driver.as_ref().map(|d| format!("/{d}")).unwrap_or_default();
        format!("{}{driver} w{} {} @ {}/s", self.server, self.workers, self.endpoint, self.rate)
    }
}

/// A figure compared, and which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    P50Ms,
    P99Ms,
    AchievedRps,
    ServerCpuUsPerRequest,
}

impl Figure {
    pub const ALL: [Figure; 4] = [Figure::P50Ms, Figure::P99Ms, Figure::AchievedRps, Figure::ServerCpuUsPerRequest];

    pub fn label(self) -> &'static str {
        match self {
            Figure::P50Ms => "p50 ms",
            Figure::P99Ms => "p99 ms",
            Figure::AchievedRps => "achieved req/s",
            Figure::ServerCpuUsPerRequest => "server CPU µs/req",
        }
    }

    fn higher_is_better(self) -> bool {
        matches!(self, Figure::AchievedRps)
    }

    fn is_latency(self) -> bool {
        matches!(self, Figure::P50Ms | Figure::P99Ms)
    }

    /// The figure of one valid test, when it has it.
    fn of(self, record: &TestRecord) -> Option<f64> {
        let metrics = record.metrics.as_ref();
        match self {
            Figure::P50Ms => metrics.map(|m| m.latency_ms.p50),
            Figure::P99Ms => metrics.map(|m| m.latency_ms.p99),
            Figure::AchievedRps => metrics.map(|m| m.achieved_rps),
            Figure::ServerCpuUsPerRequest => server_us_per_request(record),
        }
    }
}

/// The server's CPU µs per request, if the record carries one: read from its flattened JSON, so whichever
/// part of the schema measures it is found (a column naming the server and ending in `us_per_request`).
fn server_us_per_request(record: &TestRecord) -> Option<f64> {
    server_us_per_request_in(flatten_record(record))
}

fn server_us_per_request_in(flat: super::csv::FlatRecord) -> Option<f64> {
    flat.into_iter()
        .find(|(column, _)| {
            column.ends_with("us_per_request")
                && column.contains("server")
                && !column.contains("load_generator")
                && !column.contains("vegeta")
        })
        .and_then(|(_, value)| value.parse().ok())
}

/// min, median and max of one figure over a test's valid repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub n: usize,
}

impl Range {
    fn of(values: &[f64]) -> Option<Range> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let (first, last) = (sorted.first().copied()?, sorted.last().copied()?);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 { sorted[middle] } else { (sorted[middle - 1] + sorted[middle]) / 2.0 };
        Some(Range { min: first, median, max: last, n: sorted.len() })
    }

    fn overlaps(&self, other: &Range) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// How a figure moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the threshold, the spread or the latency floor.
    Same,
    Better,
    Worse,
}

/// One figure of one matched test.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureChange {
    pub figure: Figure,
    pub old: Range,
    pub new: Range,
    /// Change of the median, percent of the old one (signed).
    pub change_pct: f64,
    pub verdict: Verdict,
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
    let notes = check_machines(&old.run.machine, &new.run.machine)?;
    check_arms(old, new)?;
    let old_groups = groups(old);
    let new_groups = groups(new);
    let matched: Vec<Matched> = old_groups
        .iter()
        .filter_map(|(key, before)| new_groups.get(key).map(|after| match_test(key, before, after, threshold_pct)))
        .collect();
    if matched.is_empty() {
        return Err(Incomparable::NothingInCommon { old_run: old.run.id.clone(), new_run: new.run.id.clone() });
    }
    let only = |from: &BTreeMap<TestKey, Vec<&TestRecord>>, other: &BTreeMap<TestKey, Vec<&TestRecord>>| {
        from.keys().filter(|k| !other.contains_key(*k)).cloned().collect()
    };
    Ok(Comparison {
        old_run: old.run.id.clone(),
        new_run: new.run.id.clone(),
        threshold_pct,
        only_old: only(&old_groups, &new_groups),
        only_new: only(&new_groups, &old_groups),
        matched,
        notes,
    })
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

/// Every test of a run under its key (repeats together).
fn groups(run: &RunResults) -> BTreeMap<TestKey, Vec<&TestRecord>> {
    let mut groups: BTreeMap<TestKey, Vec<&TestRecord>> = BTreeMap::new();
    for test in &run.tests {
        groups.entry(TestKey::of(test)).or_default().push(test);
    }
    groups
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
        Figure::ALL.iter().filter_map(|&figure| figure_change(figure, &old_valid, &new_valid, threshold_pct)).collect()
    };
    Matched { key: key.clone(), changes, note, newly_failed }
}

fn figure_change(figure: Figure, old: &[&TestRecord], new: &[&TestRecord], threshold_pct: f64) -> Option<FigureChange> {
    let values = |tests: &[&TestRecord]| tests.iter().filter_map(|t| figure.of(t)).collect::<Vec<f64>>();
    let (old, new) = (Range::of(&values(old))?, Range::of(&values(new))?);
    let change_pct = if old.median == 0.0 { 0.0 } else { (new.median - old.median) / old.median * 100.0 };
    let repeated = old.n > 1 && new.n > 1;
    let beyond_spread = !repeated || !old.overlaps(&new);
    let beyond_floor =
        !figure.is_latency() || (new.median - old.median).abs() >= crate::defaults::LATENCY_NOISE_FLOOR_MS;
    let changed = change_pct.abs() > threshold_pct && beyond_spread && beyond_floor;
    let got_worse = (change_pct > 0.0) != figure.higher_is_better();
    let verdict = match (changed, got_worse) {
        (false, _) => Verdict::Same,
        (true, true) => Verdict::Worse,
        (true, false) => Verdict::Better,
    };
    Some(FigureChange { figure, old, new, change_pct, verdict })
}

#[cfg(test)]
mod tests;
