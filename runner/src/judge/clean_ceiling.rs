//! The load generator's own latency, measured by calibration against the no-op endpoint (which answers in
//! microseconds, so what vegeta observes there is vegeta's own latency): the latency floor, the clean
//! ceiling, and the marker every test above that ceiling carries. Pure functions of the calibration probes.
//!
//! - The *latency floor* is the lowest p50 and the lowest p99 vegeta observed against the no-op at any
//!   valid probed rate: no latency measured through this generator on this machine means anything below it.
//! - The *clean ceiling* is the highest probed rate whose probe is clean (valid, p99 within
//!   [`crate::defaults::CLEAN_P99_BOUND`], schedule lag p99 within [`crate::defaults::LAG_P99_BOUND`]) below the lowest
//!   unclean one: a clean probe above an unclean one is luck, not a ceiling. Only probes with at least
//!   [`crate::defaults::CLEAN_MIN_REQUESTS`] requests are judged: below that a p99 is the maximum of a handful
//!   of requests, and one scheduler hiccup of the machine (measured here: 3-5 ms at 8 req/s) would set the
//!   ceiling at single-digit rates.
//! - A test above the clean ceiling is not invalid, but its latency includes the generator's own
//!   ([`crate::model::GENERATOR_LATENCY_MARKER`]), and every table and chart says so.

use std::time::Duration;

use crate::defaults::{CLEAN_MIN_REQUESTS, CLEAN_P99_BOUND, LAG_P99_BOUND};
use crate::model::{GeneratorFloorRecord, GeneratorProbeRecord};

/// What calibration observed at one rate against the no-op endpoint.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeneratorProbe {
    pub rate: u32,
    pub p50: Duration,
    pub p99: Duration,
    /// `None` when the lag could not be computed (no requests): such a probe is not clean.
    pub lag_p99: Option<Duration>,
    /// vegeta's CPU per request at this rate, when measured.
    pub vegeta_us_per_request: Option<f64>,
    /// The probe passed every validity rule.
    pub valid: bool,
    /// Requests the probe sent: its p99 means something only with enough of them.
    pub requests: u64,
}

impl GeneratorProbe {
    /// Valid, p99 within [`CLEAN_P99_BOUND`], lag within [`LAG_P99_BOUND`].
    pub fn is_clean(&self) -> bool {
        self.valid && self.p99 <= CLEAN_P99_BOUND && self.lag_p99.is_some_and(|lag| lag <= LAG_P99_BOUND)
    }

    /// Sent enough requests for its p99 to be judged ([`CLEAN_MIN_REQUESTS`]).
    pub fn is_judged(&self) -> bool {
        self.requests >= CLEAN_MIN_REQUESTS
    }
}

/// The highest clean rate below the lowest unclean one, over the judged probes; `None` when the lowest
/// judged probe is already unclean (or none was judged).
pub fn clean_ceiling(probes: &[GeneratorProbe]) -> Option<u32> {
    let judged = || probes.iter().filter(|p| p.is_judged());
    let lowest_unclean = judged().filter(|p| !p.is_clean()).map(|p| p.rate).min();
    judged().filter(|p| p.is_clean() && lowest_unclean.is_none_or(|limit| p.rate < limit)).map(|p| p.rate).max()
}

/// The generator's latency floor: the lowest p50 and p99 over the valid probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyFloor {
    pub p50: Duration,
    pub p99: Duration,
}

/// The latency floor; `None` without a valid probe.
pub fn latency_floor(probes: &[GeneratorProbe]) -> Option<LatencyFloor> {
    let valid = || probes.iter().filter(|p| p.valid);
    Some(LatencyFloor { p50: valid().map(|p| p.p50).min()?, p99: valid().map(|p| p.p99).min()? })
}

/// Whether a test at `rate` carries [`crate::model::GENERATOR_LATENCY_MARKER`]: above a known clean ceiling, or with no
/// clean rate at all. Without a calibration nothing is known, and nothing is marked (the run's notes say
/// there is no calibration instead).
pub fn includes_generator_latency(rate: u32, calibration: Option<Option<u32>>) -> bool {
    match calibration {
        None => false,
        Some(None) => true,
        Some(Some(ceiling)) => rate > ceiling,
    }
}

/// The schema record of a calibration's generator probes: the clean ceiling, the latency floor, and every
/// probe by rate.
pub fn floor_record(probes: &[GeneratorProbe]) -> GeneratorFloorRecord {
    let floor = latency_floor(probes);
    let mut by_rate: Vec<&GeneratorProbe> = probes.iter().collect();
    by_rate.sort_by_key(|probe| probe.rate);
    GeneratorFloorRecord {
        clean_ceiling_rps: clean_ceiling(probes),
        latency_floor_p50_ms: floor.map(|f| ms(f.p50)),
        latency_floor_p99_ms: floor.map(|f| ms(f.p99)),
        clean_p99_bound_ms: ms(CLEAN_P99_BOUND),
        probes: by_rate
            .into_iter()
            .map(|probe| GeneratorProbeRecord {
                rate: probe.rate,
                p50_ms: ms(probe.p50),
                p99_ms: ms(probe.p99),
                lag_p99_ms: probe.lag_p99.map(ms),
                vegeta_us_per_request: probe.vegeta_us_per_request,
                clean: probe.is_judged() && probe.is_clean(),
            })
            .collect(),
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(rate: u32, p99_us: u64, lag_us: Option<u64>, valid: bool) -> GeneratorProbe {
        GeneratorProbe {
            rate,
            p50: Duration::from_micros(p99_us / 3),
            p99: Duration::from_micros(p99_us),
            lag_p99: lag_us.map(Duration::from_micros),
            vegeta_us_per_request: Some(70.0),
            valid,
            requests: u64::from(rate) * 3,
        }
    }

    /// The shape measured on this kind of machine: clean to ~4k, vegeta's own queueing above.
    fn measured_shape() -> Vec<GeneratorProbe> {
        vec![
            probe(400, 600, Some(40), true),
            probe(1000, 700, Some(60), true),
            probe(2000, 900, Some(80), true),
            probe(4000, 1400, Some(300), true),
            probe(8000, 176_000, Some(2_000), true),
            probe(12_000, 40_000, Some(90_000), false),
        ]
    }

    #[test]
    fn the_clean_ceiling_is_the_last_clean_rate() {
        assert_eq!(clean_ceiling(&measured_shape()), Some(4000));
        let floor = latency_floor(&measured_shape()).expect("valid probes");
        assert_eq!(floor, LatencyFloor { p50: Duration::from_micros(200), p99: Duration::from_micros(600) });
        let mut shuffled = measured_shape();
        shuffled.reverse();
        let record = floor_record(&shuffled);
        assert_eq!(record.clean_ceiling_rps, Some(4000));
        assert_eq!((record.latency_floor_p50_ms, record.latency_floor_p99_ms), (Some(0.2), Some(0.6)));
        assert_eq!(record.probes.iter().map(|p| p.rate).collect::<Vec<_>>(), [400, 1000, 2000, 4000, 8000, 12_000]);
        assert_eq!(record.probes.iter().filter(|p| p.clean).count(), 4);
        assert_eq!(record.clean_p99_bound_ms, 2.0);
    }

    #[test]
    fn each_condition_makes_a_probe_unclean() {
        assert!(probe(1000, 2000, Some(5000), true).is_clean(), "both bounds are inclusive");
        assert!(!probe(1000, 2001, Some(10), true).is_clean(), "p99 over 2 ms");
        assert!(!probe(1000, 500, Some(5001), true).is_clean(), "lag over 5 ms");
        assert!(!probe(1000, 500, None, true).is_clean(), "lag unknown");
        assert!(!probe(1000, 500, Some(10), false).is_clean(), "invalid");
    }

    #[test]
    fn a_clean_probe_above_an_unclean_one_does_not_raise_the_ceiling() {
        let mut probes = measured_shape();
        probes.push(probe(16_000, 900, Some(10), true));
        probes.push(probe(3000, 2500, Some(10), true));
        assert_eq!(clean_ceiling(&probes), Some(2000));
        assert_eq!(clean_ceiling(&[probe(400, 9000, Some(10), true)]), None);
        assert_eq!(clean_ceiling(&[]), None);
        assert_eq!(latency_floor(&[probe(100, 9000, Some(10), false)]), None);
    }

    /// Measured here: a calibration whose 1000 req/s probe met a hiccup bisected down to 7 req/s, where 21
    /// requests in 3 s happened to stay under 2 ms.
    #[test]
    fn probes_too_small_for_a_p99_are_not_judged() {
        let probes = [
            probe(7, 800, Some(10), true),
            probe(300, 900, Some(10), true),
            probe(1000, 3500, Some(10), true),
            probe(2000, 2600, Some(10), true),
        ];
        assert_eq!(clean_ceiling(&probes), None, "no judged probe is clean");
        let record = floor_record(&probes);
        assert!(record.probes.iter().all(|p| !p.clean), "an unjudged probe is not called clean: {record:?}");
        let mut with_clean = probes.to_vec();
        with_clean.push(probe(400, 900, Some(10), true));
        assert_eq!(clean_ceiling(&with_clean), Some(400));
    }

    #[test]
    fn tests_above_the_clean_ceiling_carry_the_marker() {
        assert!(!includes_generator_latency(4000, Some(Some(4000))));
        assert!(includes_generator_latency(4001, Some(Some(4000))));
        assert!(includes_generator_latency(10, Some(None)), "no clean rate at all");
        assert!(!includes_generator_latency(1_000_000, None), "uncalibrated: unknown, noted elsewhere");
    }
}
