//! The study's verdict: per endpoint, each arm's cost (server CPU µs per request at the study's equal rate,
//! median and min–max over the repeats, the range widened by each figure's measurement uncertainty) and capacity (the SLO search where the server is the limit, else the
//! projection from cost, labelled as one), the ratio of each arm to the best, "no difference beyond the
//! spread" where an arm's repeats overlap the best's, and a one-line reading per endpoint family. It ends
//! the terminal output and opens the HTML report ([`text`], [`html`]). Built from what the run holds, so an
//! interrupted study still gets a verdict that names what is missing.

pub mod html;
pub mod text;

use shared::{Operation, Style};

use crate::model::{CapacityResult, EndpointRef, RunResults, TestRecord, TestStatus};
pub use crate::report::spread::Spread;
use crate::report::spread::server_cpu_per_request;

/// The words an arm gets when its repeats overlap the best arm's.
pub const NO_DIFFERENCE: &str = "no difference beyond the spread";

/// An arm's capacity on one endpoint, and how far it can be trusted.
#[derive(Debug, Clone, PartialEq)]
pub enum Capacity {
    /// The SLO search converged here.
    Measured(u32),
    /// The search did not converge (the generator, the budget or an invalid probe stopped it): at least this.
    LowerBound(u32, String),
    /// Not searched: projected from CPU cost (CPUs × 10^6 / µs per request), never a measurement.
    Projected(f64),
    Unknown,
}

/// One arm on one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmVerdict {
    pub arm: String,
    /// Server CPU µs per request over the valid repeats; `None` when none was measured.
    pub cost: Option<Spread>,
    /// cost / the best arm's median cost, as (min, median, max) over this arm's repeats.
    pub ratio: Option<Spread>,
    /// This arm's repeats overlap the best arm's (the best arm itself included).
    pub within_spread: bool,
    pub capacity: Capacity,
}

/// One endpoint of the study.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointVerdict {
    pub endpoint: EndpointRef,
    /// The rate every arm's cost was measured at; `None` for an endpoint measured by its capacity alone.
    pub rate: Option<u32>,
    pub arms: Vec<ArmVerdict>,
    /// Arms of the run with no valid cost test on this endpoint.
    pub missing: Vec<String>,
}

/// The whole verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub endpoints: Vec<EndpointVerdict>,
    /// One line per endpoint family present.
    pub readings: Vec<String>,
    /// What the run did not measure (an interrupted study), in words.
    pub missing: Vec<String>,
}

/// The verdict of a study run; `None` for other runs.
pub fn verdict(results: &RunResults) -> Option<Verdict> {
    let study = results.run.config.study.as_ref()?;
    let probes: Vec<&str> = results.capacity.iter().flat_map(|c| c.probes.iter().map(|p| p.test_id.as_str())).collect();
    let cost_tests: Vec<&TestRecord> = results.tests.iter().filter(|t| !probes.contains(&t.id.as_str())).collect();
    let arms = &arms_of(results);
    let mut endpoints = Vec::new();
    let mut missing = Vec::new();
    for (name, &rate) in &study.cost_rates {
        let Some(endpoint) = results.tests.iter().map(|t| &t.endpoint).find(|e| &e.name == name) else {
            missing.push(format!("{name}: not measured"));
            continue;
        };
        endpoints.push(endpoint_verdict(endpoint, Some(rate), arms, &cost_tests, &results.capacity));
    }
    // Endpoints measured by their capacity alone: at the rates they serve, a cost is mostly idle wake-ups.
    for name in study.capacity_endpoints.iter().filter(|name| !study.cost_rates.contains_key(*name)) {
        if let Some(endpoint) = results.capacity.iter().map(|c| &c.endpoint).find(|e| &e.name == name) {
            endpoints.push(endpoint_verdict(endpoint, None, arms, &cost_tests, &results.capacity));
        }
    }
    endpoints.sort_by_key(|e| catalogue_index(&e.endpoint.name));
    for endpoint in &endpoints {
        if !endpoint.missing.is_empty() {
            missing.push(format!("{}: no valid cost for {}", endpoint.endpoint.name, endpoint.missing.join(", ")));
        }
    }
    for name in &study.capacity_endpoints {
        for arm in arms {
            if !results.capacity.iter().any(|c| &c.arm().to_string() == arm && &c.endpoint.name == name) {
                missing.push(format!("{name}: no capacity search for {arm}"));
            }
        }
    }
    let readings = readings(&endpoints);
    Some(Verdict { endpoints, readings, missing })
}

/// Every arm of the run by its label (`axum`, `monoio/epoll`), in the order its tests ran, then servers the
/// run planned but has no test of.
fn arms_of(results: &RunResults) -> Vec<String> {
    let mut arms: Vec<String> = Vec::new();
    for arm in results.tests.iter().map(|t| t.arm().to_string()) {
        if !arms.contains(&arm) {
            arms.push(arm);
        }
    }
    for server in &results.run.config.servers {
        if !arms.iter().any(|arm| arm == server || arm.starts_with(&format!("{server}/"))) {
            arms.push(server.clone());
        }
    }
    arms
}

fn catalogue_index(name: &str) -> usize {
    shared::CATALOGUE.iter().position(|e| e.name == name).unwrap_or(usize::MAX)
}

/// The server's CPU µs per request of one valid test and its measurement uncertainty, when measured.
fn cost_of(test: &TestRecord) -> Option<(f64, f64)> {
    let valid = test.status == TestStatus::Ok && test.validity.valid;
    server_cpu_per_request(test).filter(|_| valid)
}

fn projected_of(test: &TestRecord) -> Option<f64> {
    Some(test.accounting.as_ref()?.projected_capacity.value()?.rps)
}

/// One endpoint: each arm's cost at `rate` (`None`: an endpoint whose cost is not measured) and capacity.
fn endpoint_verdict(
    endpoint: &EndpointRef,
    rate: Option<u32>,
    arms: &[String],
    tests: &[&TestRecord],
    capacity: &[CapacityResult],
) -> EndpointVerdict {
    let of_arm = |arm: &String| -> Vec<&TestRecord> {
        tests
            .iter()
            .copied()
            .filter(|t| &t.arm().to_string() == arm && t.endpoint.name == endpoint.name && Some(t.rate) == rate)
            .collect()
    };
    let costs: Vec<(String, Option<Spread>, Vec<&TestRecord>)> = arms
        .iter()
        .map(|arm| {
            let tests = of_arm(arm);
            let costs: Vec<(f64, f64)> = tests.iter().filter_map(|t| cost_of(t)).collect();
            (arm.clone(), Spread::widened(&costs), tests)
        })
        .collect();
    let best = costs.iter().filter_map(|(_, c, _)| *c).min_by(|a, b| a.median.total_cmp(&b.median));
    let mut verdicts = Vec::new();
    let mut missing = Vec::new();
    for (arm, cost, tests) in costs {
        if cost.is_none() && rate.is_some() {
            missing.push(arm.clone());
        }
        // The ratio's range spans both arms' ranges: this arm's lowest over the best's highest, and so on.
        let ratio = cost.zip(best).filter(|(_, b)| b.median > 0.0 && b.min > 0.0).map(|(c, b)| Spread {
            min: c.min / b.max,
            median: c.median / b.median,
            max: c.max / b.min,
            n: c.n,
        });
        let within_spread = cost.zip(best).is_some_and(|(c, b)| c.overlaps(&b));
        let searched = capacity.iter().find(|c| c.arm().to_string() == arm && c.endpoint.name == endpoint.name);
        let capacity = match searched {
            Some(result) => match (result.sustainable_rps, result.valid) {
                (Some(rps), true) => Capacity::Measured(rps),
                (Some(rps), false) => Capacity::LowerBound(rps, result.stop.clone()),
                (None, _) => Capacity::LowerBound(0, result.stop.clone()),
            },
            None => {
                let projected: Vec<f64> = tests.iter().filter_map(|t| projected_of(t)).collect();
                Spread::of(projected).map_or(Capacity::Unknown, |s| Capacity::Projected(s.median))
            }
        };
        verdicts.push(ArmVerdict { arm, cost, ratio, within_spread, capacity });
    }
    EndpointVerdict { endpoint: endpoint.clone(), rate, arms: verdicts, missing }
}

/// The family an endpoint's reading falls under: how it runs its work, and whether it reads or writes.
fn family(endpoint: &EndpointRef) -> String {
    let style = match endpoint.style {
        Style::NonBlocking => "non-blocking",
        Style::ThreadPool => "thread-pool",
        Style::EventLoopBlocking => "event-loop-blocking",
    };
    let work = match endpoint.operation {
        Operation::Read => "reads",
        Operation::Write => "writes",
        Operation::Sleep => "sleeps",
        Operation::Noop | Operation::Seed => "no-ops",
    };
    format!("{style} {work}")
}

/// One line per family: which arm is cheapest and by how much, or that none differs beyond the spread.
fn readings(endpoints: &[EndpointVerdict]) -> Vec<String> {
    let mut families: Vec<(String, Vec<&EndpointVerdict>)> = Vec::new();
    for endpoint in endpoints {
        let name = family(&endpoint.endpoint);
        match families.iter_mut().find(|(f, _)| *f == name) {
            Some((_, members)) => members.push(endpoint),
            None => families.push((name, vec![endpoint])),
        }
    }
    families.iter().map(|(name, members)| reading(name, members)).collect()
}

fn reading(family: &str, endpoints: &[&EndpointVerdict]) -> String {
    let measured: Vec<&ArmVerdict> = endpoints.iter().flat_map(|e| &e.arms).filter(|a| a.cost.is_some()).collect();
    let differing: Vec<&ArmVerdict> = measured.iter().copied().filter(|a| !a.within_spread).collect();
    let searched: Vec<(&str, u32)> = endpoints
        .iter()
        .flat_map(|e| &e.arms)
        .filter_map(|a| match a.capacity {
            Capacity::Measured(rps) => Some((a.arm.as_str(), rps)),
            _ => None,
        })
        .collect();
    let bounds: Vec<u32> = endpoints
        .iter()
        .flat_map(|e| &e.arms)
        .filter_map(|a| match a.capacity {
            Capacity::LowerBound(rps, _) => Some(rps),
            _ => None,
        })
        .collect();
    let capacity = capacity_reading(&searched) + &bound_reading(&bounds);
    if measured.is_empty() {
        return match capacity.strip_prefix("; ") {
            Some(capacity) => format!("{family}: {capacity}"),
            None => format!("{family}: not measured"),
        };
    }
    if differing.is_empty() {
        return format!("{family}: {NO_DIFFERENCE} in cost between the arms{capacity}");
    }
    let worst =
        differing.iter().filter_map(|a| a.ratio.map(|r| (a.arm.as_str(), r.median))).max_by(|a, b| a.1.total_cmp(&b.1));
    let cheapest: Vec<&str> = measured.iter().filter(|a| a.within_spread).map(|a| a.arm.as_str()).collect();
    let mut cheapest = cheapest;
    cheapest.sort_unstable();
    cheapest.dedup();
    match worst {
        Some((arm, ratio)) => format!(
            "{family}: cheapest {}; {arm} costs {ratio:.2}x the best CPU per request{capacity}",
            cheapest.join(", ")
        ),
        None => format!("{family}: cheapest {}{capacity}", cheapest.join(", ")),
    }
}

/// The searches that did not converge, so a reading never hides them.
fn bound_reading(bounds: &[u32]) -> String {
    match (bounds.iter().min(), bounds.iter().max()) {
        (Some(low), Some(high)) => {
            format!("; {} search(es) did not converge (capacity at least {low}-{high} req/s there)", bounds.len())
        }
        _ => String::new(),
    }
}

fn capacity_reading(searched: &[(&str, u32)]) -> String {
    let (Some(low), Some(high)) = (searched.iter().map(|s| s.1).min(), searched.iter().map(|s| s.1).max()) else {
        return String::new();
    };
    if f64::from(high) <= f64::from(low) * (1.0 + crate::defaults::NOISE_SHARE) {
        format!("; capacity {low}-{high} req/s on every arm (the same within noise)")
    } else {
        let best = searched.iter().max_by_key(|s| s.1).map_or("", |s| s.0);
        format!("; capacity {low}-{high} req/s, highest on {best}")
    }
}

#[cfg(test)]
mod tests;
