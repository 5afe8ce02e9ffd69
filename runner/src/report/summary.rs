//! The run arranged for reporting: tests grouped into cells (one server, workers count, endpoint and rate,
//! over every repeat), each with medians, min–max spreads and the caveats a reader must see next to its
//! numbers. Every renderer reads the results through this one view, so a table row, a chart point and a
//! hover text always mean the same thing.
//!
//! A cell's headline numbers come from its valid repeats; only when none is valid do they come from the
//! invalid ones, and then the cell says so. Failed repeats never contribute numbers.

use shared::{Group, Operation};

use crate::model::{Arm, EndpointRef, RunResults, TestRecord, TestStatus};

pub(crate) use super::spread::Spread;
use super::text::megabytes;

/// The chart family an endpoint belongs to, so one chart never mixes sleeps with database writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    Simple,
    DbRead,
    DbWrite,
    Other,
}

impl Family {
    pub fn of(endpoint: &EndpointRef) -> Family {
        match (endpoint.group, endpoint.operation) {
            (Group::Simple, _) => Family::Simple,
            (_, Operation::Read) => Family::DbRead,
            (_, Operation::Write) => Family::DbWrite,
            _ => Family::Other,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Family::Simple => "Simple endpoints (no database)",
            Family::DbRead => "Database reads",
            Family::DbWrite => "Database writes",
            Family::Other => "Other endpoints",
        }
    }

    /// Used in element ids, so it stays stable across runs.
    pub fn slug(self) -> &'static str {
        match self {
            Family::Simple => "simple",
            Family::DbRead => "db-read",
            Family::DbWrite => "db-write",
            Family::Other => "other",
        }
    }
}

/// One number a test produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    Achieved,
    SendRate,
    SuccessPct,
    P50,
    Mean,
    P90,
    P95,
    P99,
    P999,
    Max,
    ServerCpu,
    /// Server CPU µs per request over the measured attack (exact accounting).
    ServerUsPerRequest,
    /// `server CPUs × 10^6 / server µs per request`: a projection, never a measurement.
    ProjectedRps,
    ServerRssMb,
    LoadGenCpu,
    LoadGenUsPerRequest,
    /// p99 of vegeta's schedule lag.
    LagP99,
}

impl Metric {
    /// The metric's value for one test; `None` when the test has no metrics (failed), no samples, or the
    /// figure is absent (never read as 0). CPU % is the exact accounting's when the test has one.
    pub fn of(self, test: &TestRecord) -> Option<f64> {
        let m = test.metrics.as_ref();
        let server = test.resources.as_ref().map(|r| &r.server);
        let accounting = test.accounting.as_ref();
        let exact_server = accounting.and_then(|a| a.server.cpu.value());
        let exact_vegeta = accounting.and_then(|a| a.load_generator.cpu.value());
        match self {
            Metric::Achieved => m.map(|m| m.achieved_rps),
            Metric::SendRate => m.map(|m| m.send_rate_rps),
            Metric::SuccessPct => m.map(|m| m.success_pct),
            Metric::P50 => m.map(|m| m.latency_ms.p50),
            Metric::Mean => m.map(|m| m.latency_ms.mean),
            Metric::P90 => m.map(|m| m.latency_ms.p90),
            Metric::P95 => m.map(|m| m.latency_ms.p95),
            Metric::P99 => m.map(|m| m.latency_ms.p99),
            Metric::P999 => m.map(|m| m.latency_ms.p999),
            Metric::Max => m.map(|m| m.latency_ms.max),
            Metric::ServerCpu => exact_server.map(|c| c.cpu_pct).or_else(|| server.map(|s| s.cpu_mean_pct)),
            Metric::ServerUsPerRequest => exact_server.and_then(|c| c.us_per_request),
            Metric::ProjectedRps => accounting.and_then(|a| a.projected_capacity.value()).map(|p| p.rps),
            Metric::ServerRssMb => server.map(|s| megabytes(s.rss_mean_bytes)),
            Metric::LoadGenCpu => exact_vegeta
                .map(|c| c.cpu_pct)
                .or_else(|| test.resources.as_ref().map(|r| r.load_generator.cpu_mean_pct)),
            Metric::LoadGenUsPerRequest => exact_vegeta.and_then(|c| c.us_per_request),
            Metric::LagP99 => test.schedule_lag.as_ref().map(|lag| lag.p99_ms),
        }
    }

    /// Short lower-case name, as used in hover texts and spread lines.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Achieved => "achieved",
            Metric::SendRate => "sent",
            Metric::SuccessPct => "success",
            Metric::P50 => "p50",
            Metric::Mean => "avg",
            Metric::P90 => "p90",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::P999 => "p99.9",
            Metric::Max => "max",
            Metric::ServerCpu => "server CPU",
            Metric::ServerUsPerRequest => "server CPU per request",
            Metric::ProjectedRps => "projected capacity (from CPU per request, not measured)",
            Metric::ServerRssMb => "server RSS",
            Metric::LoadGenCpu => "load generator CPU",
            Metric::LoadGenUsPerRequest => "load generator CPU per request",
            Metric::LagP99 => "schedule lag p99",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::Achieved | Metric::SendRate | Metric::ProjectedRps => "req/s",
            Metric::ServerUsPerRequest | Metric::LoadGenUsPerRequest => "µs",
            Metric::SuccessPct | Metric::ServerCpu | Metric::LoadGenCpu => "%",
            Metric::ServerRssMb => "MB",
            _ => "ms",
        }
    }
}

/// One arm × workers × endpoint × rate, over all its repeats.
#[derive(Debug, Clone)]
pub(crate) struct Cell<'a> {
    /// The arm: the server and, for an arm with a driver choice, its I/O driver.
    pub server: Arm<'a>,
    pub workers: u16,
    pub endpoint: &'a EndpointRef,
    pub rate: u32,
    /// Every repeat, in repeat order.
    pub records: Vec<&'a TestRecord>,
}

impl<'a> Cell<'a> {
    /// Repeats that produced numbers.
    fn measured(&self) -> impl Iterator<Item = &'a TestRecord> + '_ {
        self.records.iter().copied().filter(|t| t.status == TestStatus::Ok && t.metrics.is_some())
    }

    /// Repeats that failed or produced no numbers: never drawn, always listed.
    pub fn failed(&self) -> Vec<&'a TestRecord> {
        self.records.iter().copied().filter(|t| t.status == TestStatus::Failed || t.metrics.is_none()).collect()
    }

    pub fn valid_records(&self) -> Vec<&'a TestRecord> {
        self.measured().filter(|t| t.validity.valid).collect()
    }

    pub fn invalid_records(&self) -> Vec<&'a TestRecord> {
        self.measured().filter(|t| !t.validity.valid).collect()
    }

    /// The repeats the headline numbers come from, and whether they are valid ones.
    pub fn headline(&self) -> (Vec<&'a TestRecord>, bool) {
        let valid = self.valid_records();
        if valid.is_empty() { (self.invalid_records(), false) } else { (valid, true) }
    }

    /// The headline spread of `metric`; `None` when no repeat has numbers.
    pub fn stat(&self, metric: Metric) -> Option<Spread> {
        Spread::of(self.headline().0.iter().filter_map(|t| metric.of(t)))
    }

    /// Whether the cell has numbers and they are trustworthy.
    pub fn is_valid(&self) -> bool {
        let (records, valid) = self.headline();
        valid && !records.is_empty()
    }

    pub fn has_numbers(&self) -> bool {
        !self.headline().0.is_empty()
    }

    /// Caveats that do not invalidate (e.g. latency that includes the load generator's own), once each.
    pub fn markers(&self) -> Vec<String> {
        let mut markers: Vec<String> = self.records.iter().flat_map(|t| t.markers.iter().cloned()).collect();
        markers.sort();
        markers.dedup();
        markers
    }

    pub fn shared_cores(&self) -> bool {
        self.records.iter().any(|t| t.validity.shared_cores)
    }

    pub fn lost_writes(&self) -> u64 {
        self.audits().map(|a| a.lost).sum()
    }

    pub fn phantom_writes(&self) -> u64 {
        self.audits().map(|a| a.phantom).sum()
    }

    fn audits(&self) -> impl Iterator<Item = &'a crate::model::WriteAudit> + '_ {
        self.records.iter().filter_map(|t| t.write_audit.as_ref())
    }

    /// `axum w2 update_item_async_write @ 1000 req/s`: names the cell in notes and warnings.
    pub fn label(&self) -> String {
        format!("{} w{} {} @ {} req/s", self.server, self.workers, self.endpoint.name, self.rate)
    }

    /// Short caveats about this cell's numbers, most serious first, then the runner's notes on how its
    /// tests ran; empty when there is nothing to say.
    pub fn issues(&self) -> Vec<String> {
        let repeated = self.records.len() > 1;
        let which = |t: &TestRecord| {
            if repeated { format!("repeat {} ", t.repeat) } else { String::new() }
        };
        let mut issues = Vec::new();
        for t in self.failed() {
            let why = t.failure.as_deref().unwrap_or("no metrics recorded");
            issues.push(format!("{}failed: {why}", which(t)));
        }
        let (_, headline_valid) = self.headline();
        for t in self.invalid_records() {
            let excluded = if headline_valid { " (excluded from the median)" } else { "" };
            issues.push(format!("{}invalid{excluded}: {}", which(t), t.validity.reasons.join("; ")));
        }
        if self.lost_writes() > 0 {
            issues.push(format!("{} acknowledged writes lost (missing from the database)", self.lost_writes()));
        }
        if self.phantom_writes() > 0 {
            issues.push(format!("{} phantom writes (applied but never acknowledged)", self.phantom_writes()));
        }
        for marker in self.markers() {
            issues.push(marker);
        }
        for t in &self.records {
            for note in &t.notes {
                issues.push(format!("{}note: {note}", which(t)));
            }
        }
        issues
    }
}

/// `1 worker`, `4 workers`.
pub(crate) fn workers_text(workers: u16) -> String {
    if workers == 1 { "1 worker".to_owned() } else { format!("{workers} workers") }
}

/// Identifies one line in the charts: an arm × endpoint × workers combination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesKey<'a> {
    pub server: Arm<'a>,
    pub workers: u16,
    pub endpoint: &'a EndpointRef,
}

/// The whole run, grouped for reporting.
#[derive(Debug, Clone)]
pub(crate) struct View<'a> {
    pub results: &'a RunResults,
    /// The arms, in the configured order of their servers (each server's drivers as the tests ran them), then
    /// any others found in the tests.
    pub servers: Vec<Arm<'a>>,
    /// Ascending.
    pub workers: Vec<u16>,
    /// Ascending.
    pub rates: Vec<u32>,
    /// In the order they were first run (the catalogue's order).
    pub endpoints: Vec<&'a EndpointRef>,
    /// Ordered by endpoint, server, workers, rate.
    pub cells: Vec<Cell<'a>>,
}

impl<'a> View<'a> {
    pub fn new(results: &'a RunResults) -> View<'a> {
        let config = &results.run.config;
        let tests = &results.tests;
        let servers = arms_of(&config.servers, tests);
        let mut workers = config.workers.clone();
        push_new(&mut workers, tests.iter().map(|t| t.workers));
        workers.sort_unstable();
        let mut rates = config.rates.clone();
        push_new(&mut rates, tests.iter().map(|t| t.rate));
        rates.sort_unstable();
        let mut endpoints: Vec<&EndpointRef> = Vec::new();
        for t in tests {
            if !endpoints.iter().any(|e| e.name == t.endpoint.name) {
                endpoints.push(&t.endpoint);
            }
        }
        let cells = group_cells(tests, &endpoints, &servers, &workers, &rates);
        View { results, servers, workers, rates, endpoints, cells }
    }

    pub fn cell(&self, key: SeriesKey<'_>, rate: u32) -> Option<&Cell<'a>> {
        self.cells.iter().find(|c| {
            c.server == key.server && c.workers == key.workers && c.endpoint.name == key.endpoint.name && c.rate == rate
        })
    }

    pub fn cells_at(&self, rate: u32) -> impl Iterator<Item = &Cell<'a>> {
        self.cells.iter().filter(move |c| c.rate == rate)
    }

    /// The endpoint families present, each with its endpoints in run order.
    pub fn families(&self) -> Vec<(Family, Vec<&'a EndpointRef>)> {
        let mut families: Vec<(Family, Vec<&EndpointRef>)> = Vec::new();
        for &endpoint in &self.endpoints {
            let family = Family::of(endpoint);
            match families.iter_mut().find(|(f, _)| *f == family) {
                Some((_, members)) => members.push(endpoint),
                None => families.push((family, vec![endpoint])),
            }
        }
        families.sort_by_key(|(f, _)| *f);
        families
    }

    /// Every server × workers line for one endpoint that has at least one test, in display order.
    pub fn series_for(&self, endpoint: &'a EndpointRef) -> Vec<SeriesKey<'a>> {
        let mut keys = Vec::new();
        for &server in &self.servers {
            for &workers in &self.workers {
                let key = SeriesKey { server, workers, endpoint };
                if self.rates.iter().any(|&r| self.cell(key, r).is_some()) {
                    keys.push(key);
                }
            }
        }
        keys
    }

    /// Workers counts whose server shared CPUs with the load generator.
    pub fn shared_workers(&self) -> Vec<u16> {
        let placements = &self.results.run.core_layout.placements;
        placements.iter().filter(|(_, p)| p.shared).map(|(w, _)| *w).collect()
    }

    /// Where an endpoint sits in run order (picks its marker symbol).
    pub fn endpoint_index(&self, endpoint: &EndpointRef) -> usize {
        self.endpoints.iter().position(|e| e.name == endpoint.name).unwrap_or(0)
    }

    /// The arms' labels, in display order (`axum`, `monoio/epoll`).
    pub fn arm_names(&self) -> Vec<String> {
        self.servers.iter().map(ToString::to_string).collect()
    }

    pub fn server_index(&self, server: Arm<'_>) -> usize {
        self.servers.iter().position(|s| *s == server).unwrap_or(0)
    }

    pub fn workers_index(&self, workers: u16) -> usize {
        self.workers.iter().position(|w| *w == workers).unwrap_or(0)
    }
}

/// Every arm of the run: for each configured server the arms its tests ran (the server alone when none ran
/// yet), then arms of servers the configuration does not list.
fn arms_of<'a>(servers: &'a [String], tests: &'a [TestRecord]) -> Vec<Arm<'a>> {
    let mut arms = Vec::new();
    for server in servers {
        let before = arms.len();
        push_new(&mut arms, tests.iter().filter(|t| t.server == *server).map(TestRecord::arm));
        if arms.len() == before {
            push_new(&mut arms, std::iter::once(Arm::new(server, None)));
        }
    }
    push_new(&mut arms, tests.iter().map(TestRecord::arm));
    arms
}

/// Appends the items of `extra` not already in `list`, keeping first-seen order.
fn push_new<T: PartialEq + Copy>(list: &mut Vec<T>, extra: impl Iterator<Item = T>) {
    for item in extra {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

fn group_cells<'a>(
    tests: &'a [TestRecord],
    endpoints: &[&'a EndpointRef],
    servers: &[Arm<'a>],
    workers: &[u16],
    rates: &[u32],
) -> Vec<Cell<'a>> {
    let mut cells = Vec::new();
    for &endpoint in endpoints {
        for &server in servers {
            for &w in workers {
                for &rate in rates {
                    let mut records: Vec<&TestRecord> = tests
                        .iter()
                        .filter(|t| {
                            t.arm() == server && t.workers == w && t.rate == rate && t.endpoint.name == endpoint.name
                        })
                        .collect();
                    if records.is_empty() {
                        continue;
                    }
                    records.sort_by_key(|t| t.repeat);
                    cells.push(Cell { server, workers: w, endpoint, rate, records });
                }
            }
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_pair() {
        let spread = Spread::of([3.0, 1.0, 2.0, 10.0]).map(|s| (s.median, s.min, s.max, s.n));
        assert_eq!(spread, Some((2.5, 1.0, 10.0, 4)));
        assert_eq!(Spread::of([]), None);
    }
}
