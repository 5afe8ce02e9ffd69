//! A finished search summed up for the results: the sustainable rate, the bracket, what the probe at the
//! sustainable rate measured, and every probe's verdict.

use shared::Endpoint;

use super::verdict::GENERATOR_LIMITED;
use crate::model::{Arm, CapacityResult, EndpointRef, ProbeRecord, TestRecord, test_stem};
use crate::search::{SearchOutcome, Stop};

/// What one search was about: an arm with a workers count on one endpoint (searches never repeat).
#[derive(Debug, Clone, Copy)]
pub struct Searched<'a> {
    pub arm: Arm<'a>,
    pub workers: u16,
    pub endpoint: &'static Endpoint,
}

/// `shared_cores`: the server and vegeta shared CPUs. It is said in `stop`, but does not invalidate a converged
/// search by itself: every probe was judged by how long each process waited for a CPU.
pub fn capacity_result(
    combo: Searched<'_>,
    outcome: &SearchOutcome,
    tests: &[TestRecord],
    shared_cores: bool,
) -> CapacityResult {
    let stem = |rate| test_stem(combo.arm, combo.workers, combo.endpoint.name, rate, 1);
    // The latest test at a rate: a probe the load generator limited was measured again, and that repeat
    // decided.
    let latest = |rate: u32| {
        tests.iter().rev().find(|t| {
            t.arm() == combo.arm
                && t.workers == combo.workers
                && t.endpoint.name == combo.endpoint.name
                && t.rate == rate
        })
    };
    let at = outcome.sustainable.and_then(latest);
    let metrics = at.and_then(|t| t.metrics.as_ref());
    CapacityResult {
        server: combo.arm.server.to_owned(),
        io_driver: combo.arm.io_driver,
        workers: combo.workers,
        endpoint: EndpointRef::from(combo.endpoint),
        sustainable_rps: outcome.sustainable,
        lowest_miss_rps: outcome.lowest_miss,
        valid: outcome.stop.is_conclusive(),
        generator_bound: generator_bound(&outcome.stop),
        stop: match (generator_bound(&outcome.stop), shared_cores) {
            (true, _) => generator_stop(&outcome.stop),
            (false, true) => format!("{} (the server and vegeta shared CPUs)", outcome.stop.describe()),
            (false, false) => outcome.stop.describe(),
        },
        server_us_per_request: at
            .and_then(|t| t.accounting.as_ref())
            .and_then(|a| a.server.cpu.value())
            .and_then(|cpu| cpu.us_per_request),
        p99_ms: metrics.map(|m| m.latency_ms.p99),
        achieved_rps: metrics.map(|m| m.achieved_rps),
        cpu_mean_pct: at.and_then(|t| t.resources.as_ref()).map(|r| r.server.cpu_mean_pct),
        probes: outcome
            .probes
            .iter()
            .map(|p| ProbeRecord {
                rate: p.rate,
                verdict: p.verdict.kind(),
                detail: p.verdict.detail().to_owned(),
                test_id: latest(p.rate).map_or_else(|| stem(p.rate), |t| t.id.clone()),
            })
            .collect(),
    }
}

/// Whether the search stopped at a probe the load generator limited: its rate is the generator's bound, not
/// the server's.
fn generator_bound(stop: &Stop) -> bool {
    matches!(stop, Stop::Invalid(why) if why.starts_with(GENERATOR_LIMITED))
}

/// Why a generator-bound search stopped, in words.
fn generator_stop(stop: &Stop) -> String {
    let why = match stop {
        Stop::Invalid(why) => why.strip_prefix(GENERATOR_LIMITED).unwrap_or(why).trim_start_matches(": "),
        _ => "",
    };
    format!("the load generator limited the measurement ({why}): a generator-bound lower bound")
}

/// One line for the terminal after a search.
pub fn capacity_line(capacity: &CapacityResult) -> String {
    match capacity.sustainable_rps {
        Some(rate) => format!("sustains {rate} req/s ({})", capacity.stop),
        None => format!("sustains nothing probed ({})", capacity.stop),
    }
}
