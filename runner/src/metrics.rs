//! Exact load metrics from vegeta's per-request results: latency percentiles from every single latency
//! (vegeta's own report only estimates them), success counts, rates, timings, status codes and error kinds.
//!
//! Definitions:
//! - Percentiles are nearest-rank: the p-th percentile of n sorted latencies is the value at rank
//!   ceil(p/100 x n) (1-based, at least 1). p0 is the minimum, p100 the maximum; every reported value is one
//!   that was actually measured.
//! - The send rate is derived from the timestamps the way vegeta derives its `rate`: requests / (last send -
//!   first send), or the request count when that span is zero. It matches `vegeta report`'s `rate` exactly.
//! - The wait is vegeta's: the latest response end (send + latency, over all requests) minus the last send.

pub mod merge;
pub mod pacing;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{LATENCY_CURVE_PERCENTILES, LatencyStats, Metrics, PercentilePoint, StatusCode};
use crate::tools::vegeta::RequestResult;

/// Computes the metrics of one attack. The achieved rate is successes over the time it took to deliver them,
/// from the first request sent to the last response received (vegeta's `throughput`): responses that trickle
/// out of a backlog after the attack stop do not inflate it. `requested_duration` is the fallback when the
/// results carry no timing (a single request). An empty `results` gives all zeros.
pub fn compute(results: &[RequestResult], requested_duration: Duration) -> Metrics {
    let requests = results.len() as u64;
    let successes = results.iter().filter(|r| StatusCode(r.code) == StatusCode::OK).count() as u64;
    let timing = Timing::of(results);
    let sorted = sorted_latencies(results);
    Metrics {
        requests,
        successes,
        success_pct: ratio(successes, requests) * 100.0,
        achieved_rps: per_second(successes as f64, delivery_seconds(timing, requested_duration)),
        send_rate_rps: send_rate(requests, timing.attack_ns),
        attack_duration_s: ns_to_s(timing.attack_ns),
        wait_s: ns_to_s(timing.wait_ns),
        latency_ms: latency_stats(&sorted),
        latency_curve_ms: latency_curve(&sorted),
        status_codes: status_codes(results),
        errors: error_counts(results),
        bytes_in: results.iter().map(|r| r.bytes_in).sum(),
        bytes_out: results.iter().map(|r| r.bytes_out).sum(),
    }
}

/// Seconds from the first send to the last response, or the requested duration when that is zero.
fn delivery_seconds(timing: Timing, requested_duration: Duration) -> f64 {
    let delivered = ns_to_s(timing.attack_ns + timing.wait_ns);
    if delivered > 0.0 { delivered } else { requested_duration.as_secs_f64() }
}

/// First send, last send and latest response end, as vegeta computes them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Timing {
    /// Last send - first send.
    attack_ns: i64,
    /// Latest response end - last send.
    wait_ns: i64,
}

impl Timing {
    fn of(results: &[RequestResult]) -> Timing {
        let Some(first) = results.iter().map(|r| r.timestamp_ns).min() else {
            return Timing::default();
        };
        let last = results.iter().map(|r| r.timestamp_ns).max().unwrap_or(first);
        let end = results.iter().map(RequestResult::end_ns).max().unwrap_or(last);
        Timing { attack_ns: last.saturating_sub(first), wait_ns: end.saturating_sub(last) }
    }
}

fn send_rate(requests: u64, attack_ns: i64) -> f64 {
    if attack_ns > 0 { requests as f64 / ns_to_s(attack_ns) } else { requests as f64 }
}

fn sorted_latencies(results: &[RequestResult]) -> Vec<u64> {
    let mut latencies: Vec<u64> = results.iter().map(|r| r.latency_ns).collect();
    latencies.sort_unstable();
    latencies
}

fn latency_stats(sorted: &[u64]) -> LatencyStats {
    let at = |p: f64| ns_to_ms(percentile(sorted, p));
    LatencyStats {
        mean: mean_ms(sorted),
        min: at(0.0),
        p50: at(50.0),
        p90: at(90.0),
        p95: at(95.0),
        p99: at(99.0),
        p999: at(99.9),
        max: at(100.0),
    }
}

fn latency_curve(sorted: &[u64]) -> Vec<PercentilePoint> {
    LATENCY_CURVE_PERCENTILES
        .iter()
        .map(|&p| PercentilePoint { percentile: p, latency_ms: ns_to_ms(percentile(sorted, p)) })
        .collect()
}

/// Nearest-rank percentile (`p` in 0..=100) of ascending values; 0 for no values.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let n = sorted.len();
    // Shrinking by a relative epsilon keeps float noise (99.9% of 1000 = 999.0000000000001) from bumping the
    // rank by one; true fractional ranks are never that close to an integer.
    let rank = (p.clamp(0.0, 100.0) / 100.0 * n as f64 * (1.0 - 1e-12)).ceil();
    let index = (rank as usize).clamp(1, n) - 1;
    sorted[index]
}

fn mean_ms(latencies: &[u64]) -> f64 {
    if latencies.is_empty() {
        return 0.0;
    }
    let total: u128 = latencies.iter().map(|&l| u128::from(l)).sum();
    total as f64 / latencies.len() as f64 / 1e6
}

fn status_codes(results: &[RequestResult]) -> BTreeMap<StatusCode, u64> {
    let mut counts = BTreeMap::new();
    for result in results {
        *counts.entry(StatusCode(result.code)).or_insert(0) += 1;
    }
    counts
}

fn error_counts(results: &[RequestResult]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for result in results.iter().filter(|r| !r.error.is_empty()) {
        *counts.entry(error_kind(&result.error)).or_insert(0) += 1;
    }
    counts
}

/// Reduces a vegeta error message to its kind, so counts group by cause rather than by request. Go's
/// client errors name the URL (`Get "http://host/api/x/17": ...`, one per item id) and the local socket
/// (`read tcp 127.0.0.1:53412->127.0.0.1:8080: ...`, one per connection); both are dropped:
/// `Get: read tcp ->127.0.0.1:8080: connection reset by peer`. HTTP status errors (`500 Internal Server
/// Error`) are kept as they are.
pub fn error_kind(message: &str) -> String {
    strip_local_addresses(&strip_quoted_url(message))
}

/// `Op "URL": rest` -> `Op: rest` (Go's `url.Error` format).
fn strip_quoted_url(message: &str) -> String {
    let Some((op, rest)) = message.split_once(" \"") else {
        return message.to_owned();
    };
    if op.contains(' ') || op.is_empty() {
        return message.to_owned();
    }
    match rest.split_once("\": ") {
        Some((_url, cause)) => format!("{op}: {cause}"),
        None => message.to_owned(),
    }
}

/// `tcp 127.0.0.1:53412->127.0.0.1:8080` -> `tcp ->127.0.0.1:8080`.
fn strip_local_addresses(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(arrow) = rest.find("->") {
        let before = &rest[..arrow];
        let token_start = before.rfind(' ').map_or(0, |space| space + 1);
        out.push_str(&before[..token_start]);
        out.push_str("->");
        rest = &rest[arrow + 2..];
    }
    out.push_str(rest);
    out
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn per_second(count: f64, seconds: f64) -> f64 {
    if seconds > 0.0 { count / seconds } else { 0.0 }
}

fn ns_to_s(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Our metrics against `vegeta report` on the same raw results, with the real binary (tools' test helpers).
#[cfg(test)]
mod against_vegeta {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use crate::tools::vegeta::tests::{Responder, attack_spec, noop_endpoint, real_vegeta};
    use crate::tools::vegeta::write_targets;

    #[test]
    fn real_attack_matches_vegetas_own_report() {
        let Some(vegeta) = real_vegeta() else { return };
        let responder = Responder::start(400, Duration::from_secs(20));
        let dir = tempfile::tempdir().expect("tempdir");
        let targets = dir.path().join("targets.json");
        write_targets(&targets, &responder.base_url(), noop_endpoint(), 1..=shared::db::SEED_ITEMS).expect("targets");
        let spec = attack_spec(dir.path(), targets, 50, Duration::from_secs(1));

        let attack = vegeta.start_attack(&spec).expect("attack starts");
        assert!(attack.pid() > 0);
        let outcome = attack.wait_with_deadline(Duration::from_secs(15)).expect("attack ends");
        assert!(!outcome.overran && !outcome.killed && !outcome.interrupted, "{outcome:?}");

        let results = vegeta.decode(&spec.output).expect("decode");
        let ours = super::compute(&results, spec.duration);
        let theirs = vegeta.report_json(&spec.output).expect("report");
        println!("ours: {ours:?}\ntheirs: {theirs:?}\nanswered: {}", responder.answered.load(Ordering::Relaxed));

        assert!((45..=55).contains(&ours.requests), "{} requests", ours.requests);
        assert_eq!(ours.requests, theirs.requests);
        assert_eq!(ours.successes, ours.requests);
        assert_eq!(ours.success_pct, 100.0);
        assert_eq!(ours.status_codes, theirs.status_codes);
        assert!((ours.send_rate_rps - theirs.rate).abs() < 1e-6 * theirs.rate, "send rate differs");
        let ns = |ms: f64| ms * 1e6;
        // max and min are exact on both sides, the mean is vegeta's integer nanoseconds.
        assert!((ns(ours.latency_ms.max) - theirs.latencies.max_ns as f64).abs() < 1.0);
        assert!((ns(ours.latency_ms.min) - theirs.latencies.min_ns as f64).abs() < 1.0);
        assert!((ns(ours.latency_ms.mean) - theirs.latencies.mean_ns as f64).abs() < 2.0);
        // vegeta's p50 is an estimate: it must land within our exact distribution's p25..p75.
        let curve =
            |p: f64| ours.latency_curve_ms.iter().find(|point| point.percentile == p).map(|point| ns(point.latency_ms));
        let (p25, p75) = (curve(25.0).expect("p25"), curve(75.0).expect("p75"));
        let their_p50 = theirs.latencies.p50_ns as f64;
        assert!(p25 <= their_p50 && their_p50 <= p75, "vegeta p50 {their_p50} ns outside our p25..p75 {p25}..{p75}");
        assert!((ours.attack_duration_s * 1e9 - theirs.duration_ns as f64).abs() < 2.0);
        assert!((ours.wait_s * 1e9 - theirs.wait_ns as f64).abs() < 2.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const START_NS: i64 = 1_800_000_000_000_000_000;

    /// Requests sent every 10 ms from `START_NS`, with the given latencies (ms) and codes.
    fn results(latencies_ms: &[u64], code_of: impl Fn(usize) -> u16) -> Vec<RequestResult> {
        latencies_ms
            .iter()
            .enumerate()
            .map(|(i, &latency)| RequestResult {
                seq: i as u64,
                code: code_of(i),
                timestamp_ns: START_NS + i as i64 * 10 * MS as i64,
                latency_ns: latency * MS,
                bytes_in: 10,
                bytes_out: 0,
                error: String::new(),
            })
            .collect()
    }

    #[test]
    fn percentiles_of_one_to_a_hundred_ms() {
        let latencies: Vec<u64> = (1..=100).rev().collect();
        let metrics = compute(&results(&latencies, |_| 200), Duration::from_secs(1));
        let stats = &metrics.latency_ms;
        assert_eq!(stats.min, 1.0);
        assert_eq!(stats.p50, 50.0);
        assert_eq!(stats.p90, 90.0);
        assert_eq!(stats.p95, 95.0);
        assert_eq!(stats.p99, 99.0);
        assert_eq!(stats.p999, 100.0);
        assert_eq!(stats.max, 100.0);
        assert_eq!(stats.mean, 50.5);
        let curve: Vec<(f64, f64)> = metrics.latency_curve_ms.iter().map(|p| (p.percentile, p.latency_ms)).collect();
        assert_eq!(curve.len(), LATENCY_CURVE_PERCENTILES.len());
        assert_eq!(curve[0], (0.0, 1.0));
        assert!(curve.contains(&(97.5, 98.0)));
        assert_eq!(curve.last(), Some(&(100.0, 100.0)));
        assert_eq!(metrics.requests, 100);
        assert_eq!(metrics.successes, 100);
        assert_eq!(metrics.success_pct, 100.0);
        let delivery_s = metrics.attack_duration_s + metrics.wait_s;
        assert!((metrics.achieved_rps - 100.0 / delivery_s).abs() < 1e-9, "successes over first send to last response");
        assert_eq!(metrics.bytes_in, 1000);
    }

    #[test]
    fn timing_follows_vegeta() {
        // 11 sends 10 ms apart: 100 ms from first to last send; the last takes 5 ms, an earlier one ends later.
        let mut latencies = vec![1; 11];
        latencies[9] = 30;
        latencies[10] = 5;
        let metrics = compute(&results(&latencies, |_| 200), Duration::from_secs(1));
        assert!((metrics.attack_duration_s - 0.1).abs() < 1e-12);
        assert!((metrics.send_rate_rps - 110.0).abs() < 1e-9);
        // Request 9 ends at 90 + 30 = 120 ms, 20 ms after the last send.
        assert!((metrics.wait_s - 0.02).abs() < 1e-12);
    }

    #[test]
    fn mixed_codes_and_errors() {
        let mut mixed = results(&[1, 2, 3, 4, 5, 6], |i| [200, 200, 500, 0, 0, 302][i]);
        mixed[2].error = "500 Internal Server Error".to_owned();
        mixed[3].error = "Get \"http://127.0.0.1:8080/api/simple/async/7\": context deadline exceeded \
                          (Client.Timeout exceeded while awaiting headers)"
            .to_owned();
        mixed[4].error = "Get \"http://127.0.0.1:8080/api/simple/async/8\": context deadline exceeded \
                          (Client.Timeout exceeded while awaiting headers)"
            .to_owned();
        let metrics = compute(&mixed, Duration::from_secs(2));
        assert_eq!(metrics.requests, 6);
        assert_eq!(metrics.successes, 2, "302 is not a success here");
        assert!((metrics.success_pct - 100.0 / 3.0).abs() < 1e-9);
        let delivery_s = metrics.attack_duration_s + metrics.wait_s;
        assert!((metrics.achieved_rps - 2.0 / delivery_s).abs() < 1e-9);
        let codes: Vec<(u16, u64)> = metrics.status_codes.iter().map(|(k, v)| (k.0, *v)).collect();
        assert_eq!(codes, vec![(0, 2), (200, 2), (302, 1), (500, 1)]);
        let errors: Vec<(&str, u64)> = metrics.errors.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            errors,
            vec![
                ("500 Internal Server Error", 1),
                ("Get: context deadline exceeded (Client.Timeout exceeded while awaiting headers)", 2),
            ]
        );
    }

    #[test]
    fn error_kinds_drop_urls_and_local_ports() {
        assert_eq!(
            error_kind(
                "Post \"http://127.0.0.1:8080/api/db/async/write/3\": read tcp 127.0.0.1:53412->127.0.0.1:8080: \
                 read: connection reset by peer"
            ),
            "Post: read tcp ->127.0.0.1:8080: read: connection reset by peer"
        );
        assert_eq!(
            error_kind(
                "Get \"http://127.0.0.1:18799/\": dial tcp 0.0.0.0:0->127.0.0.1:18799: connect: connection refused"
            ),
            "Get: dial tcp ->127.0.0.1:18799: connect: connection refused"
        );
        assert_eq!(error_kind("503 Service Unavailable"), "503 Service Unavailable");
        assert_eq!(error_kind("EOF"), "EOF");
    }

    #[test]
    fn empty_input_is_all_zeros() {
        let metrics = compute(&[], Duration::from_secs(10));
        assert_eq!(metrics.requests, 0);
        assert_eq!(metrics.successes, 0);
        assert_eq!(metrics.success_pct, 0.0);
        assert_eq!(metrics.achieved_rps, 0.0);
        assert_eq!(metrics.send_rate_rps, 0.0);
        assert_eq!(metrics.attack_duration_s, 0.0);
        assert_eq!(metrics.wait_s, 0.0);
        assert_eq!(metrics.latency_ms.max, 0.0);
        assert_eq!(metrics.latency_ms.mean, 0.0);
        assert!(metrics.latency_curve_ms.iter().all(|p| p.latency_ms == 0.0));
        assert!(metrics.status_codes.is_empty() && metrics.errors.is_empty());
        assert_eq!(compute(&[], Duration::ZERO).achieved_rps, 0.0);
    }

    #[test]
    fn a_single_request() {
        let metrics = compute(&results(&[7], |_| 200), Duration::from_secs(1));
        assert_eq!(metrics.latency_ms.p50, 7.0);
        assert_eq!(metrics.latency_ms.p999, 7.0);
        assert_eq!(metrics.send_rate_rps, 1.0, "vegeta reports the count when the span is zero");
        assert!((metrics.wait_s - 0.007).abs() < 1e-12);
    }

    #[test]
    fn nearest_rank_is_stable_against_float_noise() {
        let thousand: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&thousand, 99.9), 999);
        assert_eq!(percentile(&thousand, 99.95), 1000);
        assert_eq!(percentile(&thousand, 0.0), 1);
        assert_eq!(percentile(&thousand, 10.0), 100);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
