//! How far a remote host's clock is from ours: several round trips of `date +%s%N`, each bracketed by two
//! local readings; the remote reading is taken somewhere inside its round trip, so the round trip with the
//! smallest time tells it best: offset = remote - midpoint, true within half that round trip.
//!
//! The round trips run over one session, a remote loop that prints the time for every line it reads: a
//! command of its own would put the remote login shell's start-up (hundreds of milliseconds with a heavy
//! `.bashrc`) inside every round trip. The first exchange (which waits for that start-up) is not counted.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{Ssh, SshError};
use crate::tools::process::Supervised;

/// Answers every line it reads with the time in nanoseconds since the epoch.
const CLOCK_LOOP: &str = "while read -r _; do date +%s%N; done";

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
    let argv = ["sh", "-c", CLOCK_LOOP];
    let mut command = ssh.command(&argv);
    command.stdout(Stdio::piped());
    let session = Supervised::spawn_holding_stdin(command).map_err(SshError::Spawn)?;
    let protocol =
        |detail: String| SshError::Protocol { host: ssh.host().clone(), command: "date +%s%N".to_owned(), detail };
    let (Some(mut requests), Some(answers)) = (session.take_stdin(), session.take_stdout()) else {
        return Err(protocol("no pipes to the clock loop".to_owned()));
    };
    let mut answers = BufReader::new(answers);
    let mut trips = Vec::with_capacity(rounds.max(1));
    for round in 0..=rounds.max(1) {
        let sent_ns = now_ns();
        let mut line = String::new();
        let asked = requests.write_all(b"\n").and_then(|()| requests.flush());
        let read = asked.and_then(|()| answers.read_line(&mut line));
        let received_ns = now_ns();
        if !matches!(read, Ok(n) if n > 0) {
            drop(requests);
            let status = session.wait_until(Instant::now() + Duration::from_secs(5)).ok().flatten();
            let stderr = session.final_stderr_tail();
            if let Some(status) = status {
                ssh.check_status(&argv, status, &stderr)?;
            }
            return Err(protocol(format!("the clock loop ended early; its stderr ends with: {stderr}")));
        }
        let remote_ns = line.trim().parse::<i128>().map_err(|_| {
            protocol(format!("printed {:?}, not nanoseconds since the epoch (GNU date is needed)", line.trim()))
        })?;
        // The first answer waited for the remote shell to start: not a round trip.
        if round > 0 {
            trips.push(RoundTrip { sent_ns, remote_ns, received_ns });
        }
    }
    drop(requests);
    let _ = session.wait_until(Instant::now() + Duration::from_secs(2));
    best_offset(&trips).ok_or_else(|| protocol("no round trips".to_owned()))
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
