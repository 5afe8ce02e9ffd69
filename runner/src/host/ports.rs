//! Ports: whether a fixed port is free, and whether earlier tests' TIME_WAIT sockets crowd the ephemeral
//! ports `connect()` picks from (the load generator slows down when they do).

use std::time::{Duration, Instant};

use crate::defaults::{TIME_WAIT_CEILING, TIME_WAIT_LIMIT};
use crate::poll::poll_until;

/// Whether `host:port` can be bound right now (used to fall back to a free port when a fixed one is taken).
pub fn port_is_free(host: &str, port: u16) -> bool {
    port == 0 || std::net::TcpListener::bind((host, port)).is_ok()
}

/// Waits (bounded) until earlier overloaded tests' TIME_WAIT sockets no longer crowd the ephemeral ports;
/// returns a note when it had to wait.
pub fn wait_for_free_ports(interrupted: &dyn Fn() -> bool) -> Option<String> {
    let total = ephemeral_ports()?;
    let ceiling = (total as f64 * TIME_WAIT_CEILING) as u64;
    let in_time_wait = || ephemeral_ports_in_time_wait().unwrap_or(0);
    let before = in_time_wait();
    if before <= ceiling {
        return None;
    }
    let started = Instant::now();
    eprintln!(
        "waiting for {before} ephemeral ports in TIME_WAIT from earlier tests to expire (up to {TIME_WAIT_LIMIT:?})"
    );
    poll_until(started + TIME_WAIT_LIMIT, Duration::from_secs(1), || {
        (in_time_wait() <= ceiling || interrupted()).then_some(())
    });
    Some(format!(
        "waited {:.0} s for ephemeral ports in TIME_WAIT to expire ({before} -> {} of {total})",
        started.elapsed().as_secs_f64(),
        in_time_wait()
    ))
}

/// How many distinct ephemeral ports are held by sockets in TIME_WAIT (`/proc/net/tcp` and `tcp6`). Only
/// these crowd `connect()`: a server's own TIME_WAIT sockets all sit on its one listening port.
pub fn ephemeral_ports_in_time_wait() -> Option<u64> {
    let range = ephemeral_port_range()?;
    let mut ports = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            ports.extend(time_wait_local_ports(&text).filter(|port| (range.0..=range.1).contains(port)));
        }
    }
    Some(ports.len() as u64)
}

/// Local ports of the TIME_WAIT (state `06`) rows of a `/proc/net/tcp` table.
fn time_wait_local_ports(table: &str) -> impl Iterator<Item = u16> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        let port = local.rsplit_once(':')?.1;
        (state == "06").then(|| u16::from_str_radix(port, 16).ok()).flatten()
    })
}

/// The ports `connect()` picks from (`net.ipv4.ip_local_port_range`), inclusive.
pub fn ephemeral_port_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut bounds = text.split_whitespace().map(str::parse::<u16>);
    Some((bounds.next()?.ok()?, bounds.next()?.ok()?))
}

/// How many ports `connect()` can pick from.
pub fn ephemeral_ports() -> Option<u64> {
    let (low, high) = ephemeral_port_range()?;
    Some(u64::from(high.saturating_sub(low)) + 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_time_wait_ports_from_the_tcp_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:9C40 0100007F:1F40 06 00000000:00000000 03:00001770 00000000 0 0 0 3 0000000000000000\n\
            1: 0100007F:1F40 0100007F:9C41 06 00000000:00000000 03:00001770 00000000 0 0 0 3 0000000000000000\n\
            2: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 532 1 0000000000000000\n";
        let ports: Vec<u16> = super::time_wait_local_ports(table).collect();
        assert_eq!(ports, [0x9C40, 0x1F40]);
        assert!(super::ephemeral_ports().is_some_and(|ports| ports > 1000));
        assert!(super::ephemeral_ports_in_time_wait().is_some());
    }
}
