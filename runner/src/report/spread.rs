//! [`Spread`]: the min, median and max of one figure over a test's repeats, and the same widened by each
//! value's measurement uncertainty. The charts, the verdict and `runner compare` all call this "the spread",
//! so a difference one of them calls noise, the others call noise too.

use crate::model::TestRecord;

/// min, median and max over repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// How many repeats the numbers come from.
    pub n: usize,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let mut values: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        values.sort_by(f64::total_cmp);
        let (first, last) = (*values.first()?, *values.last()?);
        let mid = values.len() / 2;
        let median = if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] };
        Some(Spread { median, min: first, max: last, n: values.len() })
    }

    /// The spread of `(value, uncertainty)` pairs: the values' median, and their min–max widened by each
    /// one's uncertainty (never below zero), so a difference the measurement cannot resolve is no difference.
    pub fn widened(measured: &[(f64, f64)]) -> Option<Spread> {
        let middle = Spread::of(measured.iter().map(|(value, _)| *value))?;
        let finite = measured.iter().filter(|(v, u)| v.is_finite() && u.is_finite());
        let low = finite.clone().map(|(v, u)| v - u.abs()).fold(f64::INFINITY, f64::min).max(0.0);
        let high = finite.map(|(v, u)| v + u.abs()).fold(f64::NEG_INFINITY, f64::max);
        Some(Spread { min: low.min(middle.min), max: high.max(middle.max), ..middle })
    }

    pub fn overlaps(&self, other: &Spread) -> bool {
        self.min <= other.max && other.min <= self.max
    }
}

/// The server's CPU µs per request of one test and its measurement uncertainty (two clock ticks spread over
/// the test's requests; 0 when a record does not say), when its accounting measured it.
pub fn server_cpu_per_request(test: &TestRecord) -> Option<(f64, f64)> {
    let cpu = test.accounting.as_ref()?.server.cpu.value()?;
    Some((cpu.us_per_request?, cpu.us_per_request_uncertainty.unwrap_or(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widened_spread_covers_every_value_and_its_uncertainty() {
        let spread = Spread::widened(&[(40.0, 6.7), (46.0, 1.0), (41.0, 0.0)]).expect("values");
        assert_eq!((spread.median, spread.n), (41.0, 3));
        assert!((spread.min - 33.3).abs() < 1e-9 && (spread.max - 47.0).abs() < 1e-9, "{spread:?}");
        let zero = Spread::widened(&[(5.0, 20.0)]).expect("a value");
        assert_eq!(zero.min, 0.0, "a cost is never negative");
        assert!(Spread::widened(&[]).is_none());
    }

    #[test]
    fn spreads_overlap_when_their_ranges_touch() {
        let a = Spread::of([1.0, 3.0]).expect("values");
        assert!(a.overlaps(&Spread::of([3.0, 4.0]).expect("values")));
        assert!(!a.overlaps(&Spread::of([3.5]).expect("a value")));
    }
}
