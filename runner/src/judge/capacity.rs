//! A finished search summed up for the results: the sustainable rate, the bracket, what the probe at the
//! sustainable rate measured, and every probe's verdict.

use shared::Endpoint;

use crate::model::{CapacityResult, EndpointRef, ProbeRecord, TestRecord, test_stem};
use crate::search::SearchOutcome;

/// What one search was about: a server with a workers count on one endpoint (searches never repeat).
#[derive(Debug, Clone, Copy)]
pub struct Searched<'a> {
    pub server: &'a str,
    pub workers: u16,
    pub endpoint: &'static Endpoint,
}

/// `shared_cores`: the server and vegeta shared CPUs, so even a converged search is marked invalid.
pub fn capacity_result(
    combo: Searched<'_>,
    outcome: &SearchOutcome,
    tests: &[TestRecord],
    shared_cores: bool,
) -> CapacityResult {
    let stem = |rate| test_stem(combo.server, combo.workers, combo.endpoint.name, rate, 1);
    let at = outcome.sustainable.and_then(|rate| tests.iter().rev().find(|t| t.id == stem(rate)));
    let metrics = at.and_then(|t| t.metrics.as_ref());
    CapacityResult {
        server: combo.server.to_owned(),
        workers: combo.workers,
        endpoint: EndpointRef::from(combo.endpoint),
        sustainable_rps: outcome.sustainable,
        lowest_miss_rps: outcome.lowest_miss,
        valid: outcome.stop.is_conclusive() && !shared_cores,
        stop: if shared_cores {
            format!("{}; the server and vegeta shared CPUs", outcome.stop.describe())
        } else {
            outcome.stop.describe()
        },
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
                test_id: stem(p.rate),
            })
            .collect(),
    }
}

/// One line for the terminal after a search.
pub fn capacity_line(capacity: &CapacityResult) -> String {
    match capacity.sustainable_rps {
        Some(rate) => format!("sustains {rate} req/s ({})", capacity.stop),
        None => format!("sustains nothing probed ({})", capacity.stop),
    }
}
