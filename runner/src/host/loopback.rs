//! A loopback address of its own for every test's server. All of 127.0.0.0/8 is local on Linux, and a TCP
//! connection is named by its 4-tuple: when each test's server listens on an address no earlier test used,
//! no TIME_WAIT socket an earlier test left behind can collide with a new connection, so nothing has to be
//! waited out and no test is slowed by an earlier one's sockets.
//!
//! The addresses are a pure function of the run and the test's position in it: the second octet comes from
//! the run's id (so a run started right after another one, whose sockets are still in TIME_WAIT, uses other
//! addresses), the last two from the test's index. They never leave 127.0.0.0/8, never use 127.0.x.x (where
//! 127.0.0.1 and anything else on the machine usually listen), and never end in .0 or .255.

use std::net::Ipv4Addr;

/// What `results.json` records as the host when every test has an address of its own.
pub const PER_TEST: &str = "127.0.0.0/8 (an address of its own per test)";

/// Last octets per value of the third: 1..=254.
const LAST_OCTETS: u32 = 254;
/// Distinct addresses per run before they wrap around: 256 x 254.
pub const ADDRESSES_PER_RUN: u32 = 256 * LAST_OCTETS;

/// The address of the `index`-th test (from 0) of the run `run_id`.
pub fn test_address(run_id: &str, index: u32) -> Ipv4Addr {
    let second = run_octet(run_id);
    let slot = index % ADDRESSES_PER_RUN;
    let third = u8::try_from(slot / LAST_OCTETS).unwrap_or(u8::MAX);
    let fourth = u8::try_from(slot % LAST_OCTETS + 1).unwrap_or(1);
    Ipv4Addr::new(127, second, third, fourth)
}

/// 1..=254 from the run id (FNV-1a: stable across Rust versions, unlike `DefaultHasher`).
fn run_octet(run_id: &str) -> u8 {
    let hash = run_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    u8::try_from(hash % 254 + 1).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_address_is_loopback_and_the_same_for_the_same_test() {
        let run = "bench_20261201_204635";
        let mut seen = std::collections::HashSet::new();
        for index in 0..2 * ADDRESSES_PER_RUN {
            let address = test_address(run, index);
            assert!(address.is_loopback(), "{address}");
            let [_, second, _, fourth] = address.octets();
            assert!(second != 0 && second != 255 && fourth != 0 && fourth != 255, "{address}");
            if index < ADDRESSES_PER_RUN {
                assert!(seen.insert(address), "{address} given twice within one run");
            }
        }
        assert_eq!(test_address(run, 7), test_address(run, 7), "deterministic");
        assert_eq!(test_address(run, ADDRESSES_PER_RUN), test_address(run, 0), "wraps only after every address");
    }

    #[test]
    fn consecutive_runs_use_other_addresses() {
        let first = test_address("bench_20261201_204635", 0);
        let next = test_address("bench_20261201_204718", 0);
        assert_ne!(first, next, "a run right after another does not meet its TIME_WAIT sockets");
    }

    #[test]
    fn a_server_can_listen_on_a_test_address() {
        let address = test_address("bench_listen_check", 3);
        let listener = std::net::TcpListener::bind((address, 0)).expect("all of 127.0.0.0/8 is local");
        let port = listener.local_addr().expect("bound").port();
        std::net::TcpStream::connect((address, port)).expect("reachable");
    }
}
