//! The saturation search: the highest rate a server x endpoint x workers sustains within an SLO. Ramp up
//! geometrically until a probe misses, then bisect until the bracket is within the precision. Pure logic
//! over a [`Prober`], so it is tested against simulated servers whose capacity is known.

//!
//! The search never probes above [`Range::max`], and knows nothing of processes, records or SLOs: a
//! [`Prober`] measures a rate and says how it went.

use std::time::{Duration, Instant};

use crate::defaults::{SEARCH_GROWTH as GROWTH, SEARCH_PRECISION as PRECISION};
use crate::model::ProbeVerdict;

/// Where the search starts, the rate it never exceeds, and how far each ramp step goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    pub start: u32,
    pub max: u32,
    /// Rate multiplier while no probe has missed yet (and divisor after a first miss). Doubling
    /// ([`GROWTH`]) finds an unknown capacity in few probes; a search that starts at the capacity it expects
    /// steps by a few percent, so it brackets it in two or three probes instead of bisecting down from 2x.
    pub growth: f64,
}

impl Range {
    /// A search that knows nothing of the capacity: doubles from `start`.
    pub fn doubling(start: u32, max: u32) -> Range {
        Range { start, max, growth: GROWTH }
    }
}

/// How one probe went.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Valid, and within the SLO.
    Meets,
    /// Outside the SLO (whatever its validity: a server that misses the SLO at a lower effective rate would
    /// miss it at the full one too).
    Misses(String),
    /// Within the SLO but not trustworthy (the load generator could not hold the rate, shared CPUs, ...).
    Invalid(String),
    /// The test itself failed (server did not start or died).
    Failed(String),
}

impl Verdict {
    /// The verdict as `results.json` records it.
    pub fn kind(&self) -> ProbeVerdict {
        match self {
            Verdict::Meets => ProbeVerdict::Meets,
            Verdict::Misses(_) => ProbeVerdict::Misses,
            Verdict::Invalid(_) => ProbeVerdict::Invalid,
            Verdict::Failed(_) => ProbeVerdict::Failed,
        }
    }

    pub fn word(&self) -> &'static str {
        self.kind().word()
    }

    pub fn detail(&self) -> &str {
        match self {
            Verdict::Meets => "",
            Verdict::Misses(why) | Verdict::Invalid(why) | Verdict::Failed(why) => why,
        }
    }
}

/// Something that measures one rate: the real scheduler, or a simulation in tests.
pub trait Prober {
    /// Measures `rate`; `None` when the user interrupted the run.
    fn probe(&mut self, rate: u32) -> Option<Verdict>;
}

/// Why a search stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The bracket is within [`PRECISION`].
    Converged,
    /// The time budget ran out first: the sustainable rate is a lower bound.
    BudgetExhausted,
    /// Even the highest allowed rate met the SLO: the sustainable rate is a lower bound.
    MaxRateReached(u32),
    /// Even the lowest useful rate missed the SLO.
    NothingSustained,
    /// A probe could not be trusted; the sustainable rate is a lower bound.
    Invalid(String),
    /// A probe failed outright.
    Failed(String),
    Interrupted,
}

impl Stop {
    pub fn describe(&self) -> String {
        match self {
            Stop::Converged => format!("converged within {:.0}%", PRECISION * 100.0),
            Stop::BudgetExhausted => "time budget ran out before converging: a lower bound".to_owned(),
            Stop::MaxRateReached(max) => format!("met the SLO even at the highest rate allowed, {max} req/s"),
            Stop::NothingSustained => "no rate down to 1 req/s met the SLO".to_owned(),
            Stop::Invalid(why) => format!("stopped at an invalid probe ({why}): a lower bound"),
            Stop::Failed(why) => format!("stopped at a failed probe: {why}"),
            Stop::Interrupted => "interrupted".to_owned(),
        }
    }

    /// Whether the sustainable rate is the converged answer (not a bound or a guess).
    pub fn is_conclusive(&self) -> bool {
        matches!(self, Stop::Converged | Stop::NothingSustained)
    }
}

/// One probe of the search, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeStep {
    pub rate: u32,
    pub verdict: Verdict,
}

/// Where the search ended.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// The highest rate that met the SLO with a valid result.
    pub sustainable: Option<u32>,
    /// The lowest rate that missed it.
    pub lowest_miss: Option<u32>,
    pub probes: Vec<ProbeStep>,
    pub stop: Stop,
}

/// The time a search may use, and what it expects one probe to cost.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub deadline: Instant,
    pub probe_cost: Duration,
}

/// Runs the search: doubles from `start_rate` until a miss, then bisects.
pub fn find_max(prober: &mut impl Prober, range: Range, budget: Budget, now: impl Fn() -> Instant) -> SearchOutcome {
    let max_rate = range.max.max(1);
    let mut meets: Option<u32> = None;
    let mut misses: Option<u32> = None;
    let mut probes = Vec::new();
    let mut rate = range.start.clamp(1, max_rate);
    let growth = if range.growth.is_finite() && range.growth > 1.0 { range.growth } else { GROWTH };
    // The estimate, or what the last probe really took when that was more (overloaded probes wait for their
    // timeouts): a cheap probe never lets an expensive one start at the very end of the budget.
    let mut probe_cost = budget.probe_cost;
    let stop = loop {
        if now() + probe_cost > budget.deadline {
            break Stop::BudgetExhausted;
        }
        let started = now();
        let Some(verdict) = prober.probe(rate) else { break Stop::Interrupted };
        probe_cost = budget.probe_cost.max(now().saturating_duration_since(started));
        probes.push(ProbeStep { rate, verdict: verdict.clone() });
        match verdict {
            Verdict::Meets => meets = meets.max(Some(rate)),
            Verdict::Misses(_) => misses = Some(misses.map_or(rate, |m| m.min(rate))),
            Verdict::Invalid(why) => break Stop::Invalid(why),
            Verdict::Failed(why) => break Stop::Failed(why),
        }
        match next_rate(meets, misses, rate, max_rate, growth) {
            Ok(next) => rate = next,
            Err(stop) => break stop,
        }
    };
    SearchOutcome { sustainable: meets, lowest_miss: misses, probes, stop }
}

/// The next rate to probe, or why the search is over.
fn next_rate(meets: Option<u32>, misses: Option<u32>, current: u32, max_rate: u32, growth: f64) -> Result<u32, Stop> {
    match (meets, misses) {
        (_, None) if current >= max_rate => Err(Stop::MaxRateReached(max_rate)),
        (_, None) => Ok(scale(current, growth).max(current + 1).min(max_rate)),
        (None, Some(miss)) if miss <= 1 => Err(Stop::NothingSustained),
        (None, Some(miss)) => Ok(scale(miss, 1.0 / growth).min(miss - 1).max(1)),
        (Some(meet), Some(miss)) if f64::from(miss) <= f64::from(meet) * (1.0 + PRECISION) || miss - meet <= 1 => {
            Err(Stop::Converged)
        }
        (Some(meet), Some(miss)) => Ok(meet + (miss - meet) / 2),
    }
}

fn scale(rate: u32, factor: f64) -> u32 {
    // Rates are small positive integers; the float round trip is exact in this range.
    (f64::from(rate) * factor).round().clamp(1.0, f64::from(u32::MAX)) as u32
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// A server that meets the SLO up to `capacity` and misses above it.
    struct Simulated {
        capacity: u32,
        invalid_above: Option<u32>,
        probes: usize,
    }

    impl Prober for Simulated {
        fn probe(&mut self, rate: u32) -> Option<Verdict> {
            self.probes += 1;
            if self.invalid_above.is_some_and(|limit| rate > limit) && rate <= self.capacity {
                return Some(Verdict::Invalid("vegeta fell behind".to_owned()));
            }
            Some(if rate <= self.capacity { Verdict::Meets } else { Verdict::Misses("p99".to_owned()) })
        }
    }

    fn unlimited() -> Budget {
        Budget { deadline: Instant::now() + Duration::from_secs(3600), probe_cost: Duration::ZERO }
    }

    fn search(capacity: u32, start: u32) -> SearchOutcome {
        let mut server = Simulated { capacity, invalid_above: None, probes: 0 };
        find_max(&mut server, Range::doubling(start, crate::defaults::MAX_RATE), unlimited(), Instant::now)
    }

    #[test]
    fn converges_within_five_percent_of_known_capacities() {
        for capacity in [1, 7, 20, 21, 99, 100, 101, 1_234, 5_000, 47_000] {
            for start in [1, 50, 100, 1000] {
                let outcome = search(capacity, start);
                assert!(
                    matches!(outcome.stop, Stop::Converged | Stop::NothingSustained),
                    "{capacity}/{start}: {outcome:?}"
                );
                let found = outcome.sustainable.expect("something sustained");
                assert!(found <= capacity, "{capacity}/{start}: found {found} above capacity");
                assert!(
                    f64::from(found) >= f64::from(capacity) / (1.0 + PRECISION) - 1.0,
                    "{capacity}/{start}: {found}"
                );
                assert!(outcome.probes.len() <= 30, "{capacity}/{start}: {} probes", outcome.probes.len());
            }
        }
    }

    #[test]
    fn the_event_loop_blocking_case_lands_near_twenty() {
        // One worker sleeping 50 ms per request sustains 20 req/s.
        let outcome = search(20, 100);
        let found = outcome.sustainable.expect("sustained");
        assert!((19..=20).contains(&found), "{outcome:?}");
        assert_eq!(outcome.lowest_miss.map(|m| m > 20), Some(true));
    }

    #[test]
    fn a_search_that_starts_at_the_expected_capacity_brackets_it_in_a_few_small_steps() {
        for (capacity, expected) in [(20, 20), (800, 800), (19, 20), (760, 800), (1000, 800)] {
            let mut server = Simulated { capacity, invalid_above: None, probes: 0 };
            let range = Range { start: expected, max: expected * 4, growth: 1.1 };
            let outcome = find_max(&mut server, range, unlimited(), Instant::now);
            assert_eq!(outcome.stop, Stop::Converged, "{capacity}: {outcome:?}");
            let found = outcome.sustainable.expect("sustained");
            assert!(found <= capacity && f64::from(found) * (1.0 + PRECISION) >= f64::from(capacity), "{outcome:?}");
            let most = if capacity == expected { 3 } else { 5 };
            assert!(outcome.probes.len() <= most, "{capacity} from {expected}: {:?}", outcome.probes);
        }
    }

    #[test]
    fn the_highest_allowed_rate_caps_the_ramp() {
        let mut server = Simulated { capacity: 50_000, invalid_above: None, probes: 0 };
        let outcome = find_max(&mut server, Range::doubling(100, 1000), unlimited(), Instant::now);
        assert_eq!(outcome.probes.iter().map(|p| p.rate).collect::<Vec<_>>(), [100, 200, 400, 800, 1000]);
        assert_eq!((outcome.sustainable, outcome.stop), (Some(1000), Stop::MaxRateReached(1000)));
    }

    #[test]
    fn a_server_that_misses_everything_sustains_nothing() {
        let outcome = search(0, 100);
        assert_eq!((outcome.sustainable, outcome.stop), (None, Stop::NothingSustained));
    }

    #[test]
    fn an_invalid_probe_stops_with_a_lower_bound() {
        let mut server = Simulated { capacity: 10_000, invalid_above: Some(3000), probes: 0 };
        let outcome =
            find_max(&mut server, Range::doubling(1000, crate::defaults::MAX_RATE), unlimited(), Instant::now);
        assert_eq!(outcome.sustainable, Some(2000));
        assert!(matches!(outcome.stop, Stop::Invalid(_)));
        assert!(!outcome.stop.is_conclusive());
    }

    #[test]
    fn the_budget_bounds_the_number_of_probes() {
        let start = Instant::now();
        let clock = Cell::new(start);
        let mut server = Simulated { capacity: 5000, invalid_above: None, probes: 0 };
        struct Ticking<'a> {
            server: &'a mut Simulated,
            clock: &'a Cell<Instant>,
        }
        impl Prober for Ticking<'_> {
            fn probe(&mut self, rate: u32) -> Option<Verdict> {
                self.clock.set(self.clock.get() + Duration::from_secs(5));
                self.server.probe(rate)
            }
        }
        let budget = Budget { deadline: start + Duration::from_secs(20), probe_cost: Duration::from_secs(5) };
        let outcome = find_max(
            &mut Ticking { server: &mut server, clock: &clock },
            Range::doubling(100, crate::defaults::MAX_RATE),
            budget,
            || clock.get(),
        );
        assert_eq!(outcome.probes.len(), 4, "20 s of 5 s probes");
        assert_eq!(outcome.stop, Stop::BudgetExhausted);
        assert_eq!(outcome.sustainable, Some(800));
    }
}
