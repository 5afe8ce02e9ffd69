//! Whether a panel's lines differ beyond noise. A chart that autoscales its axis to a 0.135–0.18 ms band
//! makes two identical servers look like steep, different lines; a panel whose lines all agree within
//! noise is drawn on a linear axis from zero instead, and says so.
//!
//! At every target rate where two or more lines have a valid point, their points agree when their min–max
//! ranges over repeats share a value, or their medians are within [`NOISE_SHARE`] of each other, or (for
//! latency) within [`LATENCY_NOISE_FLOOR_MS`]. A panel agrees when every such rate does.

use crate::defaults::{LATENCY_NOISE_FLOOR_MS, NOISE_SHARE};

use super::*;

/// The panel annotation of a panel whose lines agree within noise.
pub(crate) const WITHIN_NOISE: &str = "no difference beyond the noise";

/// Whether every line of `endpoint`'s panel for `metric` agrees with the others within noise, at every rate
/// where at least two lines have a valid point (false when no rate has two).
pub(crate) fn within_noise(view: &View<'_>, endpoint: &EndpointRef, metric: Metric) -> bool {
    let Some(&endpoint) = view.endpoints.iter().find(|e| e.name == endpoint.name) else { return false };
    let keys = view.series_for(endpoint);
    let mut compared = false;
    for &rate in &view.rates {
        let spreads: Vec<Spread> = keys
            .iter()
            .filter_map(|&key| view.cell(key, rate))
            .filter(|cell| cell.is_valid())
            .filter_map(|cell| cell.stat(metric))
            .collect();
        if spreads.len() < 2 {
            continue;
        }
        compared = true;
        if !points_agree(&spreads, metric) {
            return false;
        }
    }
    compared
}

fn points_agree(spreads: &[Spread], metric: Metric) -> bool {
    let lowest_max = spreads.iter().map(|s| s.max).fold(f64::INFINITY, f64::min);
    let highest_min = spreads.iter().map(|s| s.min).fold(f64::NEG_INFINITY, f64::max);
    let ranges_meet = spreads.iter().all(|s| s.n > 1) && highest_min <= lowest_max;
    let low = spreads.iter().map(|s| s.median).fold(f64::INFINITY, f64::min);
    let high = spreads.iter().map(|s| s.median).fold(f64::NEG_INFINITY, f64::max);
    let close = high - low <= NOISE_SHARE * high.abs();
    let below_floor = metric.unit() == "ms" && high - low < LATENCY_NOISE_FLOOR_MS;
    ranges_meet || close || below_floor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(median: f64, min: f64, max: f64, n: usize) -> Spread {
        Spread { median, min, max, n }
    }

    #[test]
    fn points_agree_within_their_spread_the_noise_share_or_the_latency_floor() {
        let apart = [spread(10.0, 10.0, 10.0, 1), spread(20.0, 20.0, 20.0, 1)];
        assert!(!points_agree(&apart, Metric::Achieved));
        assert!(points_agree(&[spread(100.0, 100.0, 100.0, 1), spread(95.0, 95.0, 95.0, 1)], Metric::Achieved));
        assert!(points_agree(&[spread(10.0, 8.0, 16.0, 3), spread(15.0, 14.0, 22.0, 3)], Metric::P99), "overlap");
        assert!(!points_agree(&[spread(10.0, 8.0, 12.0, 3), spread(15.0, 14.0, 22.0, 3)], Metric::P99));
        let sub_ms = [spread(0.135, 0.135, 0.135, 1), spread(0.18, 0.18, 0.18, 1)];
        assert!(points_agree(&sub_ms, Metric::P50), "0.135 vs 0.18 ms is noise");
        assert!(!points_agree(&sub_ms, Metric::ServerCpu), "the floor is for latency only");
    }
}
