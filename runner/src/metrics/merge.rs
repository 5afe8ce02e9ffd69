//! Several attackers' results as one result set. Each attacker's vegeta stamps its requests with its own
//! clock; [`merged`] moves every timestamp onto the runner's clock (minus the attacker's measured offset)
//! and orders the requests by when they were sent, so the metrics of the merged set come from the span the
//! requests really covered. [`windows`] says how far the attackers' windows overlapped.
//!
//! Why not merge the files as they are (vegeta issue #210, `vegeta report` over several files): without the
//! offsets, attacks that ran at the same time look apart by the clocks' difference, and the merged duration
//! and rate are wrong. Nor add up each attacker's own rate: attackers that did not run at the same time
//! would claim the target rate they never offered together. Over the real span, attackers that did not
//! overlap show as the lower rate they really offered, and the send-rate rule marks the result.

use super::pacing::{ScheduleLag, pooled_schedule_lag};
use crate::tools::vegeta::RequestResult;

/// One attacker's finished attack: its requests as its vegeta recorded them, and its clock.
#[derive(Debug, Clone, Copy)]
pub struct AttackerRun<'a> {
    pub requests: &'a [RequestResult],
    /// The attacker's clock minus the runner's, in nanoseconds: a timestamp `t` of its is `t - offset` on
    /// the runner's clock.
    pub clock_offset_ns: i64,
    /// The rate this attacker was given (its share of the test's rate).
    pub rate: u32,
}

impl AttackerRun<'_> {
    /// Its requests on the runner's clock, in the order it recorded them.
    pub fn on_runner_clock(&self) -> Vec<RequestResult> {
        self.requests
            .iter()
            .map(|r| RequestResult { timestamp_ns: r.timestamp_ns.saturating_sub(self.clock_offset_ns), ..r.clone() })
            .collect()
    }

    /// First and last send on the runner's clock; `None` without requests.
    pub fn window_ns(&self) -> Option<(i64, i64)> {
        let sends = self.requests.iter().map(|r| r.timestamp_ns.saturating_sub(self.clock_offset_ns));
        let first = sends.clone().min()?;
        Some((first, sends.max().unwrap_or(first)))
    }
}

/// Every attacker's requests on the runner's clock, in send order, numbered again from 0 in that order.
pub fn merged(runs: &[AttackerRun<'_>]) -> Vec<RequestResult> {
    let mut all: Vec<RequestResult> = runs.iter().flat_map(AttackerRun::on_runner_clock).collect();
    all.sort_by_key(|r| r.timestamp_ns);
    for (seq, request) in all.iter_mut().enumerate() {
        request.seq = seq as u64;
    }
    all
}

/// The schedule lag of the merged set: each attacker against its own plan, pooled (see
/// [`pooled_schedule_lag`]); its clock offset shifts its whole plan and cancels out.
pub fn merged_schedule_lag(runs: &[AttackerRun<'_>]) -> Option<ScheduleLag> {
    let attacks: Vec<(&[RequestResult], u32)> = runs.iter().map(|run| (run.requests, run.rate)).collect();
    pooled_schedule_lag(&attacks)
}

/// How the attackers' sending windows lay against each other, on the runner's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windows {
    /// Latest first send minus earliest first send.
    pub start_spread_ns: i64,
    /// Time during which every attacker was sending (0 when some never overlapped).
    pub overlap_ns: i64,
    /// Earliest first send to latest last send.
    pub span_ns: i64,
}

impl Windows {
    /// The share of the merged span during which every attacker was sending, 0..=1 (1 for a zero span).
    pub fn overlap_share(&self) -> f64 {
        if self.span_ns > 0 { self.overlap_ns as f64 / self.span_ns as f64 } else { 1.0 }
    }
}

/// The windows of the attackers that sent anything; `None` when none did.
pub fn windows(runs: &[AttackerRun<'_>]) -> Option<Windows> {
    let sent: Vec<(i64, i64)> = runs.iter().filter_map(AttackerRun::window_ns).collect();
    let earliest = sent.iter().map(|w| w.0).min()?;
    let latest_start = sent.iter().map(|w| w.0).max().unwrap_or(earliest);
    let earliest_end = sent.iter().map(|w| w.1).min().unwrap_or(earliest);
    let latest_end = sent.iter().map(|w| w.1).max().unwrap_or(earliest);
    Some(Windows {
        start_spread_ns: latest_start - earliest,
        overlap_ns: (earliest_end - latest_start).max(0),
        span_ns: latest_end - earliest,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{compute, pacing};

    const SECOND: i64 = 1_000_000_000;
    const EPOCH_NS: i64 = 1_800_000_000 * SECOND;

    /// `count` requests at `rate`, paced like vegeta from `start_ns` (on the attacker's own clock), 1 ms each.
    fn attack(rate: u32, count: u64, start_ns: i64) -> Vec<RequestResult> {
        let interval = SECOND / i64::from(rate);
        (0..count)
            .map(|seq| RequestResult {
                seq,
                code: 200,
                timestamp_ns: start_ns + (seq as i64 + 1) * interval,
                latency_ns: 1_000_000,
                bytes_in: 2,
                bytes_out: 0,
                error: String::new(),
            })
            .collect()
    }

    fn run(requests: &[RequestResult], clock_offset_ns: i64, rate: u32) -> AttackerRun<'_> {
        AttackerRun { requests, clock_offset_ns, rate }
    }

    /// Two attackers at 100/s each for 2 s, at the same time, the second one's clock 5 s ahead: merged, 400
    /// requests at 200/s over 2 s. Files merged as they are would span 7 s at 57/s.
    #[test]
    fn concurrent_attackers_with_a_clock_offset_merge_to_the_total_rate() {
        let local = attack(100, 200, EPOCH_NS);
        let ahead = attack(100, 200, EPOCH_NS + 5 * SECOND + 3_000_000);
        let runs = [run(&local, 0, 100), run(&ahead, 5 * SECOND, 100)];
        let all = merged(&runs);
        let metrics = compute(&all, Duration::from_secs(2));
        assert_eq!(metrics.requests, 400);
        assert!((metrics.attack_duration_s - 2.0).abs() < 0.01, "{}", metrics.attack_duration_s);
        assert!((metrics.send_rate_rps - 200.0).abs() < 2.0, "{}", metrics.send_rate_rps);
        assert!(metrics.kept_up_with(200), "{}", metrics.send_rate_rps);
        assert!(all.windows(2).all(|pair| pair[0].timestamp_ns <= pair[1].timestamp_ns), "in send order");
        assert!(all.iter().enumerate().all(|(i, r)| r.seq == i as u64), "numbered in merged send order");
        let windows = windows(&runs).expect("both sent");
        assert_eq!(windows.start_spread_ns, 3_000_000);
        assert!(windows.overlap_share() > 0.99, "{windows:?}");
        let kept = pacing::kept_up(&all).expect("enough requests");
        assert!((kept.offered_rps - 200.0).abs() < 2.0, "{kept:?}");
    }

    /// One attacker after the other (vegeta issue #210's case): 400 requests over 4 s is 100/s, not the 200/s
    /// their own rates add up to; the windows do not overlap, and the send-rate rule sees it.
    #[test]
    fn attackers_that_did_not_overlap_give_the_rate_they_really_offered() {
        let first = attack(100, 200, EPOCH_NS);
        let second = attack(100, 200, EPOCH_NS + 2 * SECOND);
        let runs = [run(&first, 0, 100), run(&second, 0, 100)];
        let metrics = compute(&merged(&runs), Duration::from_secs(2));
        assert_eq!(metrics.requests, 400);
        assert!((metrics.attack_duration_s - 3.99).abs() < 0.01, "{}", metrics.attack_duration_s);
        assert!((metrics.send_rate_rps - 100.0).abs() < 1.0, "{}", metrics.send_rate_rps);
        assert!(!metrics.kept_up_with(200));
        let windows = windows(&runs).expect("both sent");
        assert_eq!(windows.overlap_ns, 0);
        assert_eq!(windows.overlap_share(), 0.0);
        assert_eq!(windows.start_spread_ns, 2 * SECOND);
        let kept = pacing::kept_up(&merged(&runs)).expect("enough requests");
        assert!((kept.offered_rps - 100.0).abs() < 2.0, "{kept:?}");
    }

    /// Each attacker paced perfectly, the second one 20 ms after the first: no lag. Judged as one attack at
    /// the total rate, the merged requests would look up to 10 ms late; one attacker falling behind its own
    /// plan still shows.
    #[test]
    fn schedule_lag_is_each_attackers_against_its_own_plan() {
        let early = attack(100, 200, EPOCH_NS);
        let late = attack(100, 200, EPOCH_NS + 20_000_000);
        let runs = [run(&early, 0, 100), run(&late, 0, 100)];
        let lag = merged_schedule_lag(&runs).expect("requests");
        assert_eq!((lag.requests, lag.max), (400, Duration::ZERO));
        let as_one = pacing::schedule_lag(&merged(&runs), 200).expect("requests");
        assert!(as_one.p99 >= Duration::from_millis(5), "the naive reading: {as_one:?}");

        let mut behind = late.clone();
        for (i, request) in behind.iter_mut().enumerate().skip(100) {
            request.timestamp_ns += (i as i64 - 99) * 2_000_000;
        }
        let lag = merged_schedule_lag(&[run(&early, 0, 100), run(&behind, 0, 100)]).expect("requests");
        assert!(lag.max >= Duration::from_millis(190) && lag.late >= 90, "{lag:?}");
    }

    #[test]
    fn an_attacker_that_sent_nothing_does_not_move_the_windows() {
        let only = attack(50, 100, EPOCH_NS);
        let runs = [run(&only, 0, 50), run(&[], 7 * SECOND, 50)];
        let windows = windows(&runs).expect("one sent");
        assert_eq!((windows.start_spread_ns, windows.overlap_share()), (0, 1.0));
        assert_eq!(merged(&runs).len(), 100);
        assert_eq!(super::windows(&[run(&[], 0, 10)]), None);
    }
}
