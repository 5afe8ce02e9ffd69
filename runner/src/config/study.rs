//! The default study: what `runner` with no rate flags measures to answer "which runtime, for which work".
//! Per arm and benchmarked endpoint, its **cost** (server CPU µs per request) at a rate every arm handles
//! and the load generator handles cleanly, repeated so there is a spread; and, for the endpoints where the
//! server rather than the generator is the limit (sleeps that block an event loop or hold a thread-pool
//! thread), its **capacity** from the SLO search.
//!
//! The cost rate is the same for every arm (idle wake-ups dominate CPU per request at low rates, so arms
//! are only comparable at equal rates): [`defaults::STUDY_COST_RATE`], capped at half the calibrated clean
//! ceiling. The server-limited endpoints get no cost test: at the tens or hundreds of requests per second
//! they serve, a test holds too few requests for two clock ticks of CPU time to resolve a cost, and their
//! answer is their capacity. Each of their searches starts at the capacity the endpoint's design predicts
//! (workers × 1000 / sleep ms for a blocked event loop, pool threads × 1000 / sleep ms for the thread pool)
//! and steps by [`defaults::STUDY_SEARCH_STEP`], so it brackets the capacity in two or three probes.
//!
//! **Budget** ([`StudyEstimate`]): the whole study, with the quick calibration when there is none, within
//! [`defaults::STUDY_LIMIT`] of wall time and [`defaults::STUDY_DISK_LIMIT_BYTES`] of disk on this 2-core
//! machine kind. Disk is the tighter bound: vegeta's results take ~232 bytes per request, so 96 cost tests
//! at 2,000 req/s can hold 1.7 s each; time then leaves ~4 probes per search.

use std::time::Duration;

use shared::{Endpoint, Operation, Style};

use super::SearchPlan;
use crate::defaults;
use crate::search::Range;

/// The study's two phases.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyPlan {
    /// Repeats of every cost test.
    pub repeat: u32,
    /// The cost rate of each endpoint whose cost is measured, in the plan's endpoint order.
    pub cost_rates: Vec<(&'static str, u32)>,
    /// The distinct cost rates, ascending.
    pub rates: Vec<u32>,
    /// Endpoints whose capacity the search measures.
    pub capacity_endpoints: Vec<&'static str>,
    /// Each searched endpoint's range: from the capacity its design predicts, in small steps.
    pub search_ranges: Vec<(&'static str, Range)>,
    pub search: SearchPlan,
    /// The rate non-sleeping endpoints are measured at, and where it came from.
    pub base_rate: u32,
    pub base_rate_source: String,
    /// What the study should take, against its limits.
    pub estimate: StudyEstimate,
}

/// The study's expected wall time and disk use, phase by phase.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyEstimate {
    /// The quick calibration, when the study has no calibrated clean ceiling to take its rate from.
    pub calibration: Option<Duration>,
    pub cost_tests: u32,
    pub cost_phase: Duration,
    pub searches: u32,
    /// The searches' shared time budget (each gets an even share of what is left).
    pub search_phase: Duration,
    /// Raw results, records and the report (the calibration's included).
    pub disk_bytes: u64,
    /// What of it the quick calibration writes.
    pub calibration_bytes: u64,
}

impl StudyEstimate {
    pub fn total(&self) -> Duration {
        self.calibration.unwrap_or_default() + self.cost_phase + self.search_phase
    }
}

/// What the study is planned over: the arms, the endpoints, and the length of each test.
#[derive(Debug, Clone, Copy)]
pub struct StudyScope<'e> {
    pub endpoints: &'e [&'static Endpoint],
    pub arms: usize,
    /// The fewest event-loop workers of the run (cost rates must suit every one).
    pub workers: u16,
    pub sleep_ms: u64,
    pub repeat: u32,
    /// Length of each cost test and probe, and of the warm-up before each.
    pub duration: Duration,
    pub warmup: Duration,
}

/// The server, not the load generator, limits this endpoint: a sleep that blocks its event loop or holds a
/// thread-pool thread caps it at tens or hundreds of requests per second.
pub fn server_limited(endpoint: &Endpoint) -> bool {
    endpoint.operation == Operation::Sleep && endpoint.style != Style::NonBlocking
}

/// The capacity a server-limited endpoint's design predicts: each of `workers` blocked event loops serves
/// 1000 / `sleep_ms` requests per second, and so does each pool thread; `None` for other endpoints.
pub fn expected_capacity(endpoint: &Endpoint, sleep_ms: u64, workers: u16) -> Option<u32> {
    let per_thread = 1000 / sleep_ms.max(1);
    let threads = match (endpoint.operation, endpoint.style) {
        (Operation::Sleep, Style::EventLoopBlocking) => u64::from(workers),
        (Operation::Sleep, Style::ThreadPool) => u64::from(shared::config::DEFAULT_BLOCKING_THREADS),
        _ => return None,
    };
    u32::try_from((per_thread * threads).max(1)).ok()
}

/// The rate, its source in words: the built-in cost rate, capped at half the calibrated clean ceiling.
fn base_rate(clean_ceiling: Option<u32>) -> (u32, String) {
    match clean_ceiling {
        Some(ceiling) if ceiling / 2 < defaults::STUDY_COST_RATE => {
            ((ceiling / 2).max(1), format!("half the calibrated clean ceiling of {ceiling} req/s"))
        }
        Some(ceiling) => {
            (defaults::STUDY_COST_RATE, format!("below half the calibrated clean ceiling of {ceiling} req/s"))
        }
        None => (
            defaults::STUDY_COST_RATE,
            format!(
                "no calibrated clean ceiling on this machine; {} req/s is half the ~4,000 req/s measured on \
                 this machine kind",
                defaults::STUDY_COST_RATE
            ),
        ),
    }
}

/// The study over `scope`: cost rates, the searches and where each starts, and a search budget that keeps
/// the whole study within [`defaults::STUDY_LIMIT`] given what the cost phase is expected to take.
pub fn study_plan(scope: StudyScope<'_>, clean_ceiling: Option<u32>) -> StudyPlan {
    let (base_rate, base_rate_source) = base_rate(clean_ceiling);
    let measured = scope.endpoints.iter().filter(|e| !server_limited(e));
    let cost_rates: Vec<(&'static str, u32)> = measured.map(|e| (e.name, base_rate)).collect();
    let search_ranges: Vec<(&'static str, Range)> = scope
        .endpoints
        .iter()
        .filter_map(|e| {
            let expected = expected_capacity(e, scope.sleep_ms, scope.workers)?;
            let range = Range { start: expected, max: expected.saturating_mul(4), growth: defaults::STUDY_SEARCH_STEP };
            Some((e.name, range))
        })
        .collect();
    let mut rates: Vec<u32> = cost_rates.iter().map(|(_, r)| *r).collect();
    rates.dedup();
    let estimate = estimate(&scope, &cost_rates, &search_ranges, clean_ceiling.is_none());
    let first_range = search_ranges.first().map_or(Range::doubling(defaults::START_RATE, base_rate * 4), |r| r.1);
    StudyPlan {
        repeat: scope.repeat,
        capacity_endpoints: search_ranges.iter().map(|(name, _)| *name).collect(),
        search: SearchPlan {
            slo: crate::judge::Slo { p99: builtin(defaults::SLO_P99), success_pct: defaults::SLO_SUCCESS_PCT },
            budget: estimate.search_phase,
            range: first_range,
        },
        cost_rates,
        rates,
        search_ranges,
        base_rate,
        base_rate_source,
        estimate,
    }
}

/// Time and disk, phase by phase. A search gets [`defaults::STUDY_PROBES_PER_SEARCH`] probes' worth of
/// budget (a probe is costed as the session costs it: warm-up, attack, and a second around them), less if
/// the cost phase leaves less of [`defaults::STUDY_LIMIT`].
fn estimate(
    scope: &StudyScope<'_>,
    cost_rates: &[(&'static str, u32)],
    search_ranges: &[(&'static str, Range)],
    calibrate_first: bool,
) -> StudyEstimate {
    let arms = u32::try_from(scope.arms).unwrap_or(u32::MAX);
    let cost_tests = u32::try_from(cost_rates.len()).unwrap_or(u32::MAX) * arms * scope.repeat;
    let cost_phase = (scope.duration + scope.warmup + defaults::STUDY_TEST_OVERHEAD) * cost_tests;
    let searches = u32::try_from(search_ranges.len()).unwrap_or(u32::MAX) * arms;
    let probe = scope.duration + scope.warmup + defaults::PER_TEST_OVERHEAD;
    let calibration = calibrate_first.then(|| builtin(defaults::QUICK_CALIBRATION_BUDGET));
    let left = defaults::STUDY_LIMIT.saturating_sub(cost_phase + calibration.unwrap_or_default());
    let wanted = probe * defaults::STUDY_PROBES_PER_SEARCH * searches;
    let search_phase = if searches == 0 { Duration::ZERO } else { wanted.min(left).max(probe * searches) };
    let seconds = scope.duration.as_secs_f64();
    let cost_requests: f64 =
        cost_rates.iter().map(|(_, rate)| f64::from(*rate) * seconds).sum::<f64>() * f64::from(arms * scope.repeat);
    let probe_requests: f64 = search_ranges
        .iter()
        .map(|(_, range)| {
            f64::from(range.start) * range.growth * seconds * f64::from(defaults::STUDY_PROBES_PER_SEARCH)
        })
        .sum::<f64>()
        * f64::from(arms);
    let calibration_requests = if calibrate_first { quick_calibration_requests() } else { 0.0 };
    let bytes = |requests: f64| (requests * defaults::RESULT_BYTES_PER_REQUEST as f64) as u64;
    let records = u64::from(cost_tests + searches * defaults::STUDY_PROBES_PER_SEARCH) * defaults::RECORD_BYTES;
    let calibration_bytes = bytes(calibration_requests);
    let disk_bytes = bytes(cost_requests + probe_requests) + calibration_bytes + records + defaults::REPORT_BYTES;
    StudyEstimate { calibration, cost_tests, cost_phase, searches, search_phase, disk_bytes, calibration_bytes }
}

/// The most requests the quick calibration stores: as many probes as its budget holds, at the mean of its
/// range.
fn quick_calibration_requests() -> f64 {
    let probe = builtin(defaults::QUICK_CALIBRATION_DURATION)
        + builtin(defaults::QUICK_CALIBRATION_WARMUP)
        + defaults::PER_TEST_OVERHEAD;
    let probes = builtin(defaults::QUICK_CALIBRATION_BUDGET).as_secs_f64() / probe.as_secs_f64();
    let mean_rate = f64::from(defaults::STUDY_COST_RATE + quick_calibration_max()) / 2.0;
    probes.ceil() * mean_rate * builtin(defaults::QUICK_CALIBRATION_DURATION).as_secs_f64()
}

/// The quick calibration's highest probe: the cost rate is half the clean ceiling or the built-in rate,
/// whichever is lower, so it only has to show whether twice the built-in rate is clean.
pub fn quick_calibration_max() -> u32 {
    defaults::STUDY_COST_RATE * 2
}

/// The quick calibration the study runs first when `out` holds none: `runner calibrate` in short probes,
/// from the cost rate to twice it, its run folder under `out/calibration/`.
pub fn quick_calibration(
    out: &std::path::Path,
    vegeta: Option<std::path::PathBuf>,
    pin: bool,
) -> Result<super::Plan, super::PlanError> {
    let args = crate::cli::CalibrateArgs {
        server: shared::binaries::SERVERS.first().copied().unwrap_or("axum").to_owned(),
        workers: 1,
        duration: builtin(defaults::QUICK_CALIBRATION_DURATION),
        warmup: builtin(defaults::QUICK_CALIBRATION_WARMUP),
        budget: builtin(defaults::QUICK_CALIBRATION_BUDGET),
        start_rate: defaults::STUDY_COST_RATE,
        out: out.join(defaults::QUICK_CALIBRATION_FOLDER),
        vegeta,
        no_pin: !pin,
    };
    let mut plan = super::Plan::for_calibration(&args)?;
    if let super::Mode::Calibrate(search) = &mut plan.mode {
        search.range = Range::doubling(defaults::STUDY_COST_RATE, quick_calibration_max());
    }
    Ok(plan)
}

impl StudyPlan {
    /// The cost rate of an endpoint of the plan; `None` for one whose cost is not measured.
    pub fn rate_of(&self, endpoint: &str) -> Option<u32> {
        self.cost_rates.iter().find(|(name, _)| *name == endpoint).map(|(_, rate)| *rate)
    }

    /// The results folder holds a calibration for this machine (perhaps one with no clean rate, which
    /// leaves the built-in rate): no quick calibration runs first.
    pub fn calibrated(&mut self) {
        self.estimate.calibration = None;
        self.estimate.disk_bytes -= std::mem::take(&mut self.estimate.calibration_bytes);
    }

    /// Where the capacity search of `endpoint` starts and how it steps.
    pub fn search_range(&self, endpoint: &str) -> Option<Range> {
        self.search_ranges.iter().find(|(name, _)| *name == endpoint).map(|(_, range)| *range)
    }
}

/// The study's lines of the plan in words.
pub(super) fn describe(study: &StudyPlan, text: &mut String) {
    use std::fmt::Write as _;
    let _ = writeln!(
        text,
        "study:     cost (server CPU µs per request) at equal rates, {} repeats: {} req/s ({})",
        study.repeat, study.base_rate, study.base_rate_source
    );
    let searches: Vec<String> = study
        .search_ranges
        .iter()
        .map(|(name, range)| format!("{name} from {} req/s (its design's capacity)", range.start))
        .collect();
    let _ = writeln!(text, "           capacity (SLO search) where the server is the limit: {}", searches.join(", "));
}

/// The estimate in words, against the study's limits.
pub(super) fn describe_estimate(estimate: &StudyEstimate, text: &mut String) {
    use std::fmt::Write as _;
    let human = super::human;
    if let Some(calibration) = estimate.calibration {
        let _ = writeln!(
            text,
            "study: first a quick calibration of the load generator (~{}; stored in {}, so it runs once)",
            human(calibration),
            crate::model::CALIBRATION_FILE
        );
    }
    let _ = writeln!(
        text,
        "study: {} cost tests (~{}), then {} capacity searches (budget {}); about {} and {:.0} MB in all \
         (budget: {} and {} MB on this 2-core machine kind)",
        estimate.cost_tests,
        human(estimate.cost_phase),
        estimate.searches,
        human(estimate.search_phase),
        human(estimate.total()),
        estimate.disk_bytes as f64 / 1e6,
        human(defaults::STUDY_LIMIT),
        defaults::STUDY_DISK_LIMIT_BYTES / 1_000_000
    );
}

fn builtin(literal: &str) -> Duration {
    crate::cli::positive_duration(literal).unwrap_or(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(name: &str) -> &'static Endpoint {
        shared::catalogue::by_name(name).expect("in the catalogue")
    }

    fn scope<'a>(endpoints: &'a [&'static Endpoint], arms: usize) -> StudyScope<'a> {
        StudyScope {
            endpoints,
            arms,
            workers: 1,
            sleep_ms: 50,
            repeat: defaults::STUDY_REPEAT,
            duration: builtin(defaults::STUDY_DURATION),
            warmup: builtin(defaults::STUDY_WARMUP),
        }
    }

    #[test]
    fn searches_start_at_the_capacity_the_design_predicts() {
        assert_eq!(expected_capacity(endpoint("simple_async_blocking"), 50, 1), Some(20));
        assert_eq!(expected_capacity(endpoint("simple_async_blocking"), 50, 2), Some(40));
        assert_eq!(expected_capacity(endpoint("simple_sync_threadpool"), 50, 1), Some(40 * 20));
        assert_eq!(expected_capacity(endpoint("simple_async"), 50, 1), None, "non-blocking sleeps overlap");
        assert_eq!(expected_capacity(endpoint("get_item_async_read"), 50, 1), None);
    }

    #[test]
    fn the_default_study_fits_seven_minutes_and_100_mb_with_a_calibration() {
        let endpoints: Vec<&'static Endpoint> = shared::CATALOGUE.iter().filter(|e| e.benchmarked).collect();
        let arms = shared::binaries::SERVERS.len();
        let study = study_plan(scope(&endpoints, arms), None);
        assert_eq!(study.capacity_endpoints, ["simple_sync_threadpool", "simple_async_blocking"]);
        assert!(study.cost_rates.iter().all(|(name, rate)| !study.capacity_endpoints.contains(name) && *rate == 2000));
        assert_eq!(study.search_range("simple_async_blocking").map(|r| r.start), Some(20));
        let estimate = &study.estimate;
        assert!(estimate.calibration.is_some(), "no calibration: a quick one first");
        assert_eq!(estimate.cost_tests, 8 * u32::try_from(arms).unwrap_or(0) * 3);
        assert!(estimate.total() <= defaults::STUDY_LIMIT, "{estimate:?}");
        assert!(estimate.disk_bytes <= defaults::STUDY_DISK_LIMIT_BYTES, "{estimate:?}");
        let probe = builtin(defaults::STUDY_DURATION) + builtin(defaults::STUDY_WARMUP) + defaults::PER_TEST_OVERHEAD;
        assert!(estimate.search_phase >= probe * 3 * estimate.searches, "three probes per search: {estimate:?}");
        let capped = study_plan(scope(&endpoints, arms), Some(1200));
        assert_eq!(capped.base_rate, 600);
        assert!(capped.base_rate_source.contains("1200") && capped.estimate.calibration.is_none());
    }

    #[test]
    fn the_quick_calibration_probes_from_the_cost_rate_to_twice_it() {
        let plan =
            quick_calibration(std::path::Path::new("results"), None, true).expect("the built-in arguments resolve");
        assert!(plan.is_calibration());
        let range = plan.search().map(|s| s.range).expect("a search");
        assert_eq!((range.start, range.max), (defaults::STUDY_COST_RATE, 2 * defaults::STUDY_COST_RATE));
        assert_eq!(plan.out, std::path::Path::new("results").join(defaults::QUICK_CALIBRATION_FOLDER));
        let requests = builtin(defaults::QUICK_CALIBRATION_DURATION).as_secs_f64() * f64::from(range.start);
        assert!(requests >= defaults::CLEAN_MIN_REQUESTS as f64, "each probe can judge the clean ceiling");
    }
}
