//! The default study: what `runner` with no rate flags measures to answer "which runtime, for which work".
//! Per arm and benchmarked endpoint, its **cost** (server CPU µs per request) at a rate every arm handles
//! and the load generator handles cleanly, repeated so there is a spread; and, for the endpoints where the
//! server rather than the generator is the limit (sleeps that block an event loop or hold a thread-pool
//! thread), its **capacity** from the SLO search.
//!
//! The cost rate is the same for every arm (idle wake-ups dominate CPU per request at low rates, so arms
//! are only comparable at equal rates) and well inside what each endpoint can serve: half of what one
//! blocked event loop can do, a quarter of what the thread pool can, [`defaults::STUDY_COST_RATE`]
//! otherwise, capped at half the calibrated clean ceiling when there is one.

use std::time::Duration;

use shared::{Endpoint, Operation, Style};

use super::SearchPlan;
use crate::defaults;

/// The study's two phases.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyPlan {
    /// Repeats of every cost test.
    pub repeat: u32,
    /// The cost rate of each planned endpoint, in the plan's endpoint order.
    pub cost_rates: Vec<(&'static str, u32)>,
    /// The distinct cost rates, ascending.
    pub rates: Vec<u32>,
    /// Endpoints whose capacity the search measures.
    pub capacity_endpoints: Vec<&'static str>,
    pub search: SearchPlan,
    /// The rate non-sleeping endpoints are measured at, and where it came from.
    pub base_rate: u32,
    pub base_rate_source: String,
}

/// The server, not the load generator, limits this endpoint: a sleep that blocks its event loop or holds a
/// thread-pool thread caps it at tens or hundreds of requests per second.
pub fn server_limited(endpoint: &Endpoint) -> bool {
    endpoint.operation == Operation::Sleep && endpoint.style != Style::NonBlocking
}

/// The rate at which every arm serves `endpoint` comfortably, with `workers` event-loop threads.
pub fn cost_rate(endpoint: &Endpoint, base_rate: u32, sleep_ms: u64, workers: u16) -> u32 {
    let per_thread = if sleep_ms == 0 { u64::from(base_rate) } else { 1000 / sleep_ms.max(1) };
    let rate = match (endpoint.operation, endpoint.style) {
        (Operation::Sleep, Style::EventLoopBlocking) => per_thread * u64::from(workers) / 2,
        (Operation::Sleep, Style::ThreadPool) => per_thread * u64::from(shared::config::DEFAULT_BLOCKING_THREADS) / 4,
        _ => u64::from(base_rate),
    };
    u32::try_from(rate.clamp(1, u64::from(base_rate))).unwrap_or(base_rate)
}

/// The study over `endpoints`: cost rates, the endpoints to search, and a search budget that keeps the
/// whole study within [`defaults::STUDY_LIMIT`] given what the cost phase is expected to take.
pub fn study_plan(
    endpoints: &[&'static Endpoint],
    servers: usize,
    workers: u16,
    sleep_ms: u64,
    clean_ceiling: Option<u32>,
) -> StudyPlan {
    let (base_rate, base_rate_source) = match clean_ceiling {
        Some(ceiling) if ceiling / 2 < defaults::STUDY_COST_RATE => {
            (ceiling / 2, format!("half the calibrated clean ceiling of {ceiling} req/s"))
        }
        Some(ceiling) => {
            (defaults::STUDY_COST_RATE, format!("below half the calibrated clean ceiling of {ceiling} req/s"))
        }
        None => (
            defaults::STUDY_COST_RATE,
            format!(
                "no calibration on this machine (`runner calibrate`); {} req/s is below the ~4,000 req/s clean \
                 ceiling measured on this machine kind",
                defaults::STUDY_COST_RATE
            ),
        ),
    };
    let base_rate = base_rate.max(1);
    let cost_rates: Vec<(&'static str, u32)> =
        endpoints.iter().map(|e| (e.name, cost_rate(e, base_rate, sleep_ms, workers))).collect();
    let capacity_endpoints: Vec<&'static str> =
        endpoints.iter().filter(|e| server_limited(e)).map(|e| e.name).collect();
    let mut rates: Vec<u32> = cost_rates.iter().map(|(_, r)| *r).collect();
    rates.sort_unstable();
    rates.dedup();
    let cost_tests = u32::try_from(endpoints.len() * servers).unwrap_or(u32::MAX) * defaults::STUDY_REPEAT;
    let per_cost_test =
        builtin(defaults::STUDY_DURATION) + builtin(defaults::STUDY_WARMUP) + defaults::STUDY_TEST_OVERHEAD;
    let cost_phase = per_cost_test * cost_tests;
    let search_budget = defaults::STUDY_LIMIT.saturating_sub(cost_phase).max(Duration::from_secs(30));
    let start = cost_rates.iter().filter(|(name, _)| capacity_endpoints.contains(name)).map(|(_, r)| *r).min();
    StudyPlan {
        repeat: defaults::STUDY_REPEAT,
        cost_rates,
        rates,
        capacity_endpoints,
        search: SearchPlan {
            slo: crate::judge::Slo { p99: builtin(defaults::SLO_P99), success_pct: defaults::SLO_SUCCESS_PCT },
            budget: search_budget,
            range: crate::search::Range { start: start.unwrap_or(defaults::START_RATE).max(1), max: base_rate * 4 },
        },
        base_rate,
        base_rate_source,
    }
}

impl StudyPlan {
    /// The cost rate of an endpoint of the plan.
    pub fn rate_of(&self, endpoint: &str) -> Option<u32> {
        self.cost_rates.iter().find(|(name, _)| *name == endpoint).map(|(_, rate)| *rate)
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
    let slower: Vec<String> = study
        .cost_rates
        .iter()
        .filter(|(_, rate)| *rate != study.base_rate)
        .map(|(name, rate)| format!("{name} {rate} req/s"))
        .collect();
    if !slower.is_empty() {
        let _ = writeln!(text, "           below what they can serve: {}", slower.join(", "));
    }
    let _ = writeln!(
        text,
        "           capacity (SLO search) where the server is the limit: {}",
        study.capacity_endpoints.join(", ")
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

    #[test]
    fn cost_rates_stay_well_inside_what_each_endpoint_serves() {
        assert_eq!(cost_rate(endpoint("simple_async_blocking"), 1000, 50, 1), 10, "half of 20/s");
        assert_eq!(cost_rate(endpoint("simple_async_blocking"), 1000, 50, 2), 20);
        assert_eq!(cost_rate(endpoint("simple_sync_threadpool"), 1000, 50, 1), 200, "a quarter of 40 x 20/s");
        assert_eq!(cost_rate(endpoint("get_item_async_read"), 1000, 50, 1), 1000);
        assert_eq!(cost_rate(endpoint("simple_async"), 1000, 50, 1), 1000, "non-blocking sleeps overlap");
    }

    #[test]
    fn only_sleeps_that_hold_a_thread_are_searched_and_the_budget_keeps_the_limit() {
        let endpoints: Vec<&'static Endpoint> = shared::CATALOGUE.iter().filter(|e| e.benchmarked).collect();
        let study = study_plan(&endpoints, 4, 1, 50, None);
        assert_eq!(study.capacity_endpoints, ["simple_sync_threadpool", "simple_async_blocking"]);
        assert!(study.repeat >= 3);
        assert!(study.search.budget >= Duration::from_secs(30) && study.search.budget < defaults::STUDY_LIMIT);
        assert_eq!(study.search.range.start, 10, "the search starts at the lowest cost rate it searches");
        let capped = study_plan(&endpoints, 4, 1, 50, Some(1200));
        assert_eq!(capped.base_rate, 600);
        assert!(capped.base_rate_source.contains("1200"));
    }
}
