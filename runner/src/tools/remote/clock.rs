//! How far a remote host's clock is from ours: several round trips of `date +%s%N`, each bracketed by two
//! local readings; the remote reading is taken somewhere inside its round trip, so the round trip with the
//! smallest time tells it best: offset = remote - midpoint, true within half that round trip.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{COMMAND_TIMEOUT, Ssh, SshError};

/// Round trips taken by default: a few, over the multiplexed connection each costs milliseconds.
pub const ROUNDS: usize = 5;

/// The remote clock minus the local one, and how well that is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockOffset {
    /// Remote wall clock minus local wall clock, in nanoseconds (positive: the remote clock is ahead).
    pub offset_ns: i64,
    /// The true offset is within `offset_ns ± uncertainty` (half the best round trip).
    pub uncertainty: Duration,
    /// The best round trip.
    pub round_trip: Duration,
    pub rounds: usize,
}

/// One round trip: local send time, remote reading, local receive time, all in ns since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    pub sent_ns: i128,
    pub remote_ns: i128,
    pub received_ns: i128,
}

/// Measures the offset of `ssh`'s host over `rounds` round trips (at least one).
pub fn measure(ssh: &Ssh, rounds: usize) -> Result<ClockOffset, SshError> {
    let argv = ["date", "+%s%N"];
    let mut trips = Vec::with_capacity(rounds.max(1));
    for _ in 0..rounds.max(1) {
        let sent_ns = now_ns();
        let text = ssh.run(&argv, COMMAND_TIMEOUT)?;
        let received_ns = now_ns();
        let remote_ns = text.trim().parse::<i128>().map_err(|_| SshError::Protocol {
            host: ssh.host().clone(),
            command: "date +%s%N".to_owned(),
            detail: format!("printed {:?}, not nanoseconds since the epoch (GNU date is needed)", text.trim()),
        })?;
        trips.push(RoundTrip { sent_ns, remote_ns, received_ns });
    }
    Ok(best_offset(&trips).unwrap_or(ClockOffset {
        offset_ns: 0,
        uncertainty: Duration::MAX,
        round_trip: Duration::MAX,
        rounds: 0,
    }))
}

/// The offset from the round trip with the smallest time; `None` without round trips.
pub fn best_offset(trips: &[RoundTrip]) -> Option<ClockOffset> {
    let best = trips.iter().min_by_key(|trip| trip.received_ns - trip.sent_ns)?;
    let round_trip_ns = (best.received_ns - best.sent_ns).max(0);
    let midpoint = best.sent_ns + round_trip_ns / 2;
    let offset = best.remote_ns - midpoint;
    Some(ClockOffset {
        offset_ns: i64::try_from(offset).unwrap_or(if offset < 0 { i64::MIN } else { i64::MAX }),
        uncertainty: Duration::from_nanos(u64::try_from(round_trip_ns / 2).unwrap_or(u64::MAX)),
        round_trip: Duration::from_nanos(u64::try_from(round_trip_ns).unwrap_or(u64::MAX)),
        rounds: trips.len(),
    })
}

fn now_ns() -> i128 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    since.map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(i128::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_round_trip_gives_the_offset_and_half_of_it_the_bound() {
        let trips = [
            RoundTrip { sent_ns: 1_000, remote_ns: 50_000, received_ns: 9_000 },
            // Best: 2 µs round trip, midpoint 21_000, remote 31_000: ahead by 10 µs, ± 1 µs.
            RoundTrip { sent_ns: 20_000, remote_ns: 31_000, received_ns: 22_000 },
            RoundTrip { sent_ns: 30_000, remote_ns: 0, received_ns: 40_000 },
        ];
        let offset = best_offset(&trips).expect("three trips");
        assert_eq!(offset.offset_ns, 10_000);
        assert_eq!(offset.uncertainty, Duration::from_micros(1));
        assert_eq!((offset.round_trip, offset.rounds), (Duration::from_micros(2), 3));
        let behind = best_offset(&[RoundTrip { sent_ns: 100, remote_ns: 40, received_ns: 120 }]).expect("one");
        assert_eq!(behind.offset_ns, -70);
        assert!(best_offset(&[]).is_none());
    }
}
