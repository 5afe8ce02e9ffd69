//! How one attack's requests went against their schedule, from vegeta's per-request results: whether the
//! load generator sent each request when it planned to (schedule lag), and whether the server kept up with
//! what it was sent (achieved rate and backlog). Pure functions of the per-request timeline.
//!
//! # Schedule lag
//! vegeta's constant pacer plans request `seq` (from 0) at `began + (seq + 1) × interval`, with `interval =
//! 10^9 / rate` nanoseconds in integer division, and stamps each request when a worker takes it up. The
//! results do not record `began`, so it is estimated as the earliest origin consistent with every request
//! (`min(sent - (seq + 1) × interval)`): the lag of a request is how much later than that plan it went out.
//! That makes every lag a lower bound of the true one, short by the lag of the best-kept request (on a
//! generator that keeps its schedule, microseconds). Lag is not part of any latency vegeta reports: vegeta
//! times a request from its actual send, so a generator that falls behind turns the open model into a
//! closed one silently. Hence the bound [`LAG_P99_BOUND`], which the validity rules apply to the record.
//!
//! # Kept up
//! A server keeps up with a rate when it completes requests as fast as they arrive and no backlog grows.
//! Both are read from the timeline, trimmed of the first and last 1% of requests so one outlier at either end
//! does not decide:
//! - *achieved ≥ 99% of offered*: completions per second over the span of the middle 98% of response ends,
//!   against sends per second over the span of the middle 98% of sends. Both spans are shifted by the same
//!   latency when the server keeps up, so the latency itself cancels out (a 50 ms endpoint at 400 req/s in a
//!   1 s probe keeps up; successes over "first send to last response" would read 95% there). The offered
//!   rate is what was really sent, so a generator that fell behind does not count against the server (the
//!   lag rule judges the generator);
//! - *no growing backlog*: the median latency of the last third of the requests (in send order) is at most
//!   [`BACKLOG_GROWTH_FACTOR`] times that of the first third plus [`BACKLOG_GROWTH_SLACK`]. A server that
//!   keeps up has the same latency distribution throughout a probe; one that falls behind adds a queue that
//!   grows with every request (23 req/s into 20 req/s of capacity: +150 ms per second).

use std::time::Duration;

use super::percentile;
use crate::defaults::{
    BACKLOG_GROWTH_FACTOR, BACKLOG_GROWTH_SLACK, KEPT_UP_MIN_REQUESTS, KEPT_UP_SHARE, LAG_P99_BOUND,
};
use crate::model::{KeptUpRecord, ScheduleLagRecord};
use crate::tools::vegeta::RequestResult;

/// Share of requests trimmed at each end of the timeline before rates are taken.
const TRIM: f64 = 0.01;

/// One request's place on the timeline, as the load generator recorded it.
pub trait Timed {
    /// Send order, from 0.
    fn seq(&self) -> u64;
    /// When it was sent, nanoseconds since the Unix epoch.
    fn sent_ns(&self) -> i64;
    /// From send to the end of the response (or to the error).
    fn latency_ns(&self) -> u64;
}

impl Timed for RequestResult {
    fn seq(&self) -> u64 {
        self.seq
    }
    fn sent_ns(&self) -> i64 {
        self.timestamp_ns
    }
    fn latency_ns(&self) -> u64 {
        self.latency_ns
    }
}

/// How late the load generator sent its requests against its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleLag {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub requests: usize,
    /// Requests sent later than [`LAG_P99_BOUND`].
    pub late: usize,
}

/// The schedule lag of an attack at `rate` requests per second; `None` without requests or rate.
pub fn schedule_lag<R: Timed>(requests: &[R], rate: u32) -> Option<ScheduleLag> {
    summarise(lags(requests, rate)?)
}

/// The schedule lag of several attackers' requests, each measured against its own plan (its own rate, its
/// own first send) and then pooled: each attacker paces on its own, so one that started a few milliseconds
/// after another has not lagged, while one that fell behind its own plan shows. `None` without requests.
pub fn pooled_schedule_lag<R: Timed>(attacks: &[(&[R], u32)]) -> Option<ScheduleLag> {
    let pooled: Vec<u64> = attacks.iter().filter_map(|&(requests, rate)| lags(requests, rate)).flatten().collect();
    summarise(pooled)
}

/// How late each request was sent against the plan of one attack (request `seq` due at `(seq + 1)` intervals
/// after the best-kept request's origin), in nanoseconds; `None` without requests or rate.
fn lags<R: Timed>(requests: &[R], rate: u32) -> Option<Vec<u64>> {
    if requests.is_empty() || rate == 0 {
        return None;
    }
    let interval_ns = i128::from(1_000_000_000 / rate);
    let offset = |request: &R| i128::from(request.sent_ns()) - (i128::from(request.seq()) + 1) * interval_ns;
    let origin = requests.iter().map(offset).min()?;
    Some(requests.iter().map(|request| u64::try_from(offset(request) - origin).unwrap_or(u64::MAX)).collect())
}

fn summarise(mut lags: Vec<u64>) -> Option<ScheduleLag> {
    if lags.is_empty() {
        return None;
    }
    lags.sort_unstable();
    let at = |p: f64| Duration::from_nanos(percentile(&lags, p));
    let bound_ns = u64::try_from(LAG_P99_BOUND.as_nanos()).unwrap_or(u64::MAX);
    let late = lags.len() - lags.partition_point(|&lag| lag <= bound_ns);
    Some(ScheduleLag { p50: at(50.0), p99: at(99.0), max: at(100.0), requests: lags.len(), late })
}

/// Whether the server kept up with what it was sent, with the figures behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeptUp {
    /// Sends per second over the middle 98% of sends.
    pub offered_rps: f64,
    /// Completions per second over the middle 98% of response ends.
    pub achieved_rps: f64,
    /// Median latency of the first and the last third of the requests, in send order.
    pub first_third_p50: Duration,
    pub last_third_p50: Duration,
}

impl KeptUp {
    /// `achieved / offered`.
    pub fn achieved_share(&self) -> f64 {
        if self.offered_rps > 0.0 { self.achieved_rps / self.offered_rps } else { 0.0 }
    }

    /// The latency the last third may reach without counting as a growing backlog.
    pub fn backlog_limit(&self) -> Duration {
        self.first_third_p50.mul_f64(BACKLOG_GROWTH_FACTOR) + BACKLOG_GROWTH_SLACK
    }

    /// Why the server did not keep up; `None` when it did.
    pub fn shortfall(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.achieved_share() < KEPT_UP_SHARE {
            why.push(format!(
                "completed {:.1}/s of {:.1}/s sent ({:.1}% < {:.0}%)",
                self.achieved_rps,
                self.offered_rps,
                self.achieved_share() * 100.0,
                KEPT_UP_SHARE * 100.0
            ));
        }
        if self.last_third_p50 > self.backlog_limit() {
            why.push(format!(
                "a backlog grew: median latency {:.1} ms in the last third vs {:.1} ms in the first",
                ms(self.last_third_p50),
                ms(self.first_third_p50)
            ));
        }
        (!why.is_empty()).then(|| format!("the server fell behind: {}", why.join("; ")))
    }
}

/// Measures whether the server kept up; `None` with fewer than [`KEPT_UP_MIN_REQUESTS`] requests.
pub fn kept_up<R: Timed>(requests: &[R]) -> Option<KeptUp> {
    if requests.len() < KEPT_UP_MIN_REQUESTS {
        return None;
    }
    let mut by_send: Vec<(i64, u64)> = requests.iter().map(|r| (r.sent_ns(), r.latency_ns())).collect();
    by_send.sort_unstable();
    let sends: Vec<i128> = by_send.iter().map(|&(sent, _)| i128::from(sent)).collect();
    let mut ends: Vec<i128> = by_send.iter().map(|&(sent, latency)| i128::from(sent) + i128::from(latency)).collect();
    ends.sort_unstable();
    let third = by_send.len() / 3;
    let median_of = |slice: &[(i64, u64)]| {
        let mut latencies: Vec<u64> = slice.iter().map(|&(_, latency)| latency).collect();
        latencies.sort_unstable();
        Duration::from_nanos(percentile(&latencies, 50.0))
    };
    Some(KeptUp {
        offered_rps: trimmed_rate(&sends),
        achieved_rps: trimmed_rate(&ends),
        first_third_p50: median_of(&by_send[..third]),
        last_third_p50: median_of(&by_send[by_send.len() - third..]),
    })
}

/// Events per second between the 1% and the 99% ranks of sorted times: (ranks between) / (time between).
/// A zero span (all at once) reads as infinitely fast, which keeps up with anything.
fn trimmed_rate(sorted_ns: &[i128]) -> f64 {
    let last = sorted_ns.len().saturating_sub(1);
    let trim = (last as f64 * TRIM).floor() as usize;
    let (low, high) = (trim, last - trim);
    let span_ns = sorted_ns[high] - sorted_ns[low];
    if span_ns <= 0 {
        return f64::INFINITY;
    }
    (high - low) as f64 / (span_ns as f64 / 1e9)
}

impl ScheduleLag {
    /// Its schema record.
    pub fn record(&self) -> ScheduleLagRecord {
        ScheduleLagRecord {
            p50_ms: ms(self.p50),
            p99_ms: ms(self.p99),
            max_ms: ms(self.max),
            requests: self.requests as u64,
            late: self.late as u64,
            bound_ms: ms(LAG_P99_BOUND),
        }
    }
}

impl KeptUp {
    /// Its schema record.
    pub fn record(&self) -> KeptUpRecord {
        let shortfall = self.shortfall();
        KeptUpRecord {
            kept_up: shortfall.is_none(),
            offered_rps: self.offered_rps,
            achieved_rps: self.achieved_rps,
            first_third_p50_ms: ms(self.first_third_p50),
            last_third_p50_ms: ms(self.last_third_p50),
            shortfall,
        }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::validity::{FELL_BEHIND_REASON, lag_invalidity};

    const MS: i64 = 1_000_000;
    const BEGAN_NS: i64 = 1_800_000_000_000_000_000;

    /// The validity rule's verdict on this lag's record.
    fn judged(lag: &ScheduleLag) -> Option<String> {
        lag_invalidity(&lag.record()).map(|invalidity| invalidity.to_string())
    }

    #[derive(Debug, Clone, Copy)]
    struct Request {
        seq: u64,
        sent_ns: i64,
        latency_ns: u64,
    }

    impl Timed for Request {
        fn seq(&self) -> u64 {
            self.seq
        }
        fn sent_ns(&self) -> i64 {
            self.sent_ns
        }
        fn latency_ns(&self) -> u64 {
            self.latency_ns
        }
    }

    /// Requests paced like vegeta's pacer at `rate`, each sent `late(seq)` ns after its plan.
    fn paced(rate: u32, count: u64, late: impl Fn(u64) -> i64, latency_ns: impl Fn(u64) -> u64) -> Vec<Request> {
        let interval = i64::from(1_000_000_000 / rate);
        (0..count)
            .map(|seq| Request {
                seq,
                sent_ns: BEGAN_NS + (seq as i64 + 1) * interval + late(seq),
                latency_ns: latency_ns(seq),
            })
            .collect()
    }

    /// A single-server FIFO queue with a fixed service time: what one event-loop thread blocked for
    /// `service` per request does with what it is sent.
    fn queued(requests: &mut [Request], service: Duration) {
        let service = service.as_nanos() as i64;
        let mut free_at = i64::MIN;
        for request in requests.iter_mut() {
            let start = free_at.max(request.sent_ns);
            free_at = start + service;
            request.latency_ns = (free_at - request.sent_ns) as u64;
        }
    }

    #[test]
    fn a_generator_on_schedule_has_no_lag_and_passes() {
        let requests = paced(4000, 4000, |seq| (seq % 7) as i64 * 3_000, |_| 200_000);
        let lag = schedule_lag(&requests, 4000).expect("lag");
        assert_eq!(lag.requests, 4000);
        assert_eq!(lag.max, Duration::from_micros(18));
        assert!(lag.p50 <= Duration::from_micros(9), "{lag:?}");
        assert_eq!(judged(&lag), None);
    }

    #[test]
    fn a_generator_that_falls_behind_is_caught_with_the_reason() {
        // After the first half it manages only 80% of the rate: each late request is later than the last.
        let interval = 1_000_000_000 / 1000;
        let requests = paced(1000, 1000, |seq| if seq < 500 { 0 } else { (seq as i64 - 500) * interval / 4 }, |_| 1);
        let lag = schedule_lag(&requests, 1000).expect("lag");
        assert!(lag.max >= Duration::from_millis(120), "{lag:?}");
        let reason = judged(&lag).expect("invalid");
        assert!(reason.starts_with(FELL_BEHIND_REASON) && reason.contains("> 5 ms"), "{reason}");
        let record = lag.record();
        assert!(record.max_ms >= 120.0 && record.bound_ms == 5.0, "{record:?}");
    }

    #[test]
    fn lag_is_measured_from_the_best_kept_request_whatever_the_order() {
        // The whole attack started 3 ms late (a slow start) and results arrive out of order: no lag.
        let mut requests = paced(100, 50, |_| 3 * MS, |_| 1);
        requests.reverse();
        let lag = schedule_lag(&requests, 100).expect("lag");
        assert_eq!((lag.p99, lag.max), (Duration::ZERO, Duration::ZERO));
        // One request 6 ms late at p99-or-above: 50 requests' p99 is the maximum.
        requests[10].sent_ns += 6 * MS;
        let lag = schedule_lag(&requests, 100).expect("lag");
        assert_eq!((lag.p99, lag.late), (Duration::from_millis(6), 1));
        assert_eq!(judged(&lag), None, "one late send in 50 is a preemption, not falling behind");
        requests[20].sent_ns += 7 * MS;
        requests[30].sent_ns += 8 * MS;
        let lag = schedule_lag(&requests, 100).expect("lag");
        assert_eq!(lag.late, 3);
        assert!(judged(&lag).is_some());
        assert_eq!(schedule_lag::<Request>(&[], 100), None);
        assert_eq!(schedule_lag(&requests, 0), None);
    }

    #[test]
    fn latency_cancels_out_of_keeping_up() {
        // 50 ms of non-blocking sleep at 400 req/s in a 1 s probe: the server keeps up.
        let requests = paced(400, 400, |_| 0, |seq| 50_000_000 + (seq % 5) * 200_000);
        let kept = kept_up(&requests).expect("enough requests");
        assert!((kept.achieved_share() - 1.0).abs() < 0.005, "{kept:?}");
        assert_eq!(kept.shortfall(), None, "{kept:?}");
        let record = kept.record();
        assert!(record.kept_up && record.shortfall.is_none() && record.first_third_p50_ms >= 50.0, "{record:?}");
    }

    #[test]
    fn a_blocked_event_loop_falls_behind_above_twenty_per_second() {
        // One thread blocked 50 ms per request: capacity 20 req/s. The case: 23 req/s for 3 s.
        for (rate, seconds, keeps_up) in [(23, 3, false), (21, 1, false), (22, 3, false), (19, 1, true), (20, 3, true)]
        {
            let mut requests = paced(rate, u64::from(rate * seconds), |_| 0, |_| 0);
            queued(&mut requests, Duration::from_millis(50));
            let kept = kept_up(&requests).expect("enough requests");
            println!("{rate}/s x {seconds} s: {kept:?} {:?}", kept.shortfall());
            assert_eq!(kept.shortfall().is_none(), keeps_up, "{rate}/s for {seconds} s: {kept:?}");
        }
    }

    #[test]
    fn a_forty_thread_pool_of_fifty_ms_tops_out_at_eight_hundred() {
        // 40 threads x 50 ms = 800 req/s; at 840 a queue builds.
        let mut requests = paced(840, 840 * 2, |_| 0, |_| 0);
        let service = 50 * MS;
        let mut free_at = [i64::MIN; 40];
        for request in &mut requests {
            let thread = (0..40).min_by_key(|&t| free_at[t]).unwrap_or(0);
            let start = free_at[thread].max(request.sent_ns);
            free_at[thread] = start + service;
            request.latency_ns = (free_at[thread] - request.sent_ns) as u64;
        }
        let kept = kept_up(&requests).expect("enough requests");
        let why = kept.shortfall().expect("fell behind");
        assert!(why.contains("completed") && why.contains("backlog"), "{why}");
        assert!((kept.achieved_rps - 800.0).abs() < 8.0, "{kept:?}");
    }

    #[test]
    fn a_generator_that_fell_behind_is_not_blamed_on_the_server() {
        // Sent at 80% of the plan, answered at once: the server kept up with what it got.
        let requests = paced(1000, 800, |seq| seq as i64 * 250_000, |_| 100_000);
        let kept = kept_up(&requests).expect("enough requests");
        assert!((kept.offered_rps - 800.0).abs() < 1.0, "{kept:?}");
        assert_eq!(kept.shortfall(), None);
    }

    #[test]
    fn one_slow_last_response_does_not_decide() {
        let mut requests = paced(200, 400, |_| 0, |_| MS as u64);
        if let Some(last) = requests.last_mut() {
            last.latency_ns = 900 * MS as u64;
        }
        let kept = kept_up(&requests).expect("enough requests");
        assert_eq!(kept.shortfall(), None, "{kept:?}");
    }

    #[test]
    fn sub_millisecond_noise_is_not_a_backlog_but_growth_is() {
        let noisy = paced(1000, 900, |_| 0, |seq| if seq > 600 { 900_000 } else { 150_000 });
        assert_eq!(kept_up(&noisy).expect("enough").shortfall(), None);
        let growing = paced(100, 300, |_| 0, |seq| 10 * MS as u64 + seq * 50_000);
        let why = kept_up(&growing).expect("enough").shortfall().expect("backlog");
        assert!(why.contains("backlog grew") && !why.contains("completed"), "{why}");
        assert_eq!(kept_up(&noisy[..2]), None, "two requests cannot show it");
    }
}
