//! What a test's CPU cost says: CPU microseconds per request and the capacity that cost projects to. The
//! rules that read the accounting (starvation, run-queue delay) are validity rules ([`super::validity`]).

use std::time::Duration;

/// CPU time per request, with the error the tick resolution allows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuPerRequest {
    pub us: f64,
    /// The true value is within `us ± uncertainty_us`.
    pub uncertainty_us: f64,
}

/// CPU time `cpu` (known to ± `uncertainty`) spent on `requests` requests; `None` without requests.
pub fn per_request(cpu: Duration, uncertainty: Duration, requests: u64) -> Option<CpuPerRequest> {
    if requests == 0 {
        return None;
    }
    let per = |duration: Duration| duration.as_secs_f64() * 1e6 / requests as f64;
    Some(CpuPerRequest { us: per(cpu), uncertainty_us: per(uncertainty) })
}

/// A capacity computed from CPU per request: `cpus × 10^6 / µs per request`. It assumes the cost per
/// request stays what it was at the measured rate and that nothing but CPU limits the server; it is a
/// projection ([`crate::model::PROJECTION_LABEL`]), never a measured rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProjectedCapacity {
    pub rps: f64,
    /// The range the CPU measurement's uncertainty allows (`high` is infinite when the cost may be zero).
    pub low_rps: f64,
    pub high_rps: f64,
    pub cpus: usize,
}

/// The projected capacity of `cpus` CPUs at this cost; `None` when the cost is not positive.
pub fn projected_capacity(cpus: usize, cost: &CpuPerRequest) -> Option<ProjectedCapacity> {
    if cost.us <= 0.0 || cpus == 0 {
        return None;
    }
    let at = |us: f64| if us > 0.0 { cpus as f64 * 1e6 / us } else { f64::INFINITY };
    Some(ProjectedCapacity {
        rps: at(cost.us),
        low_rps: at(cost.us + cost.uncertainty_us),
        high_rps: at(cost.us - cost.uncertainty_us),
        cpus,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_request_and_its_uncertainty() {
        // The measurement: 26% of a core at 13,500 req/s for 10 s is about 19 µs per request.
        let cost = per_request(Duration::from_millis(2600), Duration::from_millis(20), 135_000).expect("requests");
        assert!((cost.us - 19.259).abs() < 0.001, "{cost:?}");
        assert!((cost.uncertainty_us - 20_000.0 / 135_000.0).abs() < 1e-9, "{cost:?}");
        assert_eq!(per_request(Duration::from_millis(10), Duration::ZERO, 0), None);
    }

    #[test]
    fn projection_is_cpus_times_a_million_over_the_cost() {
        let cost = CpuPerRequest { us: 20.0, uncertainty_us: 0.5 };
        let one = projected_capacity(1, &cost).expect("projects");
        assert!((one.rps - 50_000.0).abs() < 1e-9);
        assert!(one.low_rps < one.rps && one.rps < one.high_rps, "{one:?}");
        assert!((projected_capacity(2, &cost).expect("projects").rps - 100_000.0).abs() < 1e-9);
        let noise = CpuPerRequest { us: 0.1, uncertainty_us: 0.4 };
        assert_eq!(projected_capacity(1, &noise).map(|p| p.high_rps), Some(f64::INFINITY));
        assert_eq!(projected_capacity(1, &CpuPerRequest { us: 0.0, uncertainty_us: 0.1 }), None);
        assert_eq!(projected_capacity(0, &cost), None);
        assert!(crate::model::PROJECTION_LABEL.contains("not measured"));
    }
}
