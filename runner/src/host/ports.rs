//! Ports: whether a fixed port is free, and whether earlier tests' TIME_WAIT sockets towards the next
//! server's address crowd the ephemeral ports `connect()` picks from (the load generator slows down when
//! they do). Only sockets towards that address count: `connect()` may reuse a local port that a TIME_WAIT
//! socket to another address holds, since the 4-tuples differ. With an address of its own per test
//! ([`super::loopback`]) there is none to wait for; with a fixed `--host` every test meets the sockets of
//! the ones before it, and the wait still protects them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::defaults::{TIME_WAIT_CEILING, TIME_WAIT_LIMIT};
use crate::poll::poll_until;

/// Whether `host:port` can be bound right now (used to fall back to a free port when a fixed one is taken).
pub fn port_is_free(host: &str, port: u16) -> bool {
    port == 0 || std::net::TcpListener::bind((host, port)).is_ok()
}

/// Waits (bounded) until earlier overloaded tests' TIME_WAIT sockets towards `towards` (every address, when
/// it is not an IP address) no longer crowd the ephemeral ports; returns a note when it had to wait.
pub fn wait_for_free_ports(towards: Option<IpAddr>, interrupted: &dyn Fn() -> bool) -> Option<String> {
    let total = ephemeral_ports()?;
    let ceiling = (total as f64 * TIME_WAIT_CEILING) as u64;
    let in_time_wait = || ephemeral_ports_in_time_wait(towards).unwrap_or(0);
    let before = in_time_wait();
    if before <= ceiling {
        return None;
    }
    let started = Instant::now();
    let target = towards.map(|ip| format!(" towards {ip}")).unwrap_or_default();
    eprintln!(
        "waiting for {before} ephemeral ports in TIME_WAIT{target} from earlier tests to expire (up to \
         {TIME_WAIT_LIMIT:?})"
    );
    poll_until(started + TIME_WAIT_LIMIT, Duration::from_secs(1), || {
        (in_time_wait() <= ceiling || interrupted()).then_some(())
    });
    Some(format!(
        "waited {:.0} s for ephemeral ports in TIME_WAIT{target} to expire ({before} -> {} of {total})",
        started.elapsed().as_secs_f64(),
        in_time_wait()
    ))
}

/// How many distinct ephemeral ports are held by sockets in TIME_WAIT towards `towards` (every remote
/// address when `None`), from `/proc/net/tcp` and `tcp6`. Only these crowd `connect()`: a server's own
/// TIME_WAIT sockets all sit on its one listening port.
pub fn ephemeral_ports_in_time_wait(towards: Option<IpAddr>) -> Option<u64> {
    let range = ephemeral_port_range()?;
    let mut ports = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            ports.extend(
                time_wait_rows(&text)
                    .filter(|(_, remote)| towards.is_none_or(|ip| *remote == Some(ip)))
                    .map(|(port, _)| port)
                    .filter(|port| (range.0..=range.1).contains(port)),
            );
        }
    }
    Some(ports.len() as u64)
}

/// Local port and remote address of the TIME_WAIT (state `06`) rows of a `/proc/net/tcp` table.
fn time_wait_rows(table: &str) -> impl Iterator<Item = (u16, Option<IpAddr>)> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let remote = fields.next()?;
        let state = fields.next()?;
        let port = local.rsplit_once(':')?.1;
        let remote_ip = remote.rsplit_once(':').and_then(|(ip, _)| table_address(ip));
        (state == "06").then(|| u16::from_str_radix(port, 16).ok().map(|port| (port, remote_ip))).flatten()
    })
}

/// An address as `/proc/net/tcp` prints it: 32-bit words in hex, each in the machine's byte order.
fn table_address(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| hex.get(i * 8..i * 8 + 8).and_then(|w| u32::from_str_radix(w, 16).ok()).map(u32::to_ne_bytes))
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match bytes.len() {
        4 => Some(IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))),
        16 => <[u8; 16]>::try_from(bytes).ok().map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        _ => None,
    }
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
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn reads_time_wait_ports_from_the_tcp_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
            0: 0100007F:9C40 0100007F:1F40 06 00000000:00000000 03:00001770 00000000 0 0 0 3 0000000000000000\n\
            1: 0100007F:1F40 0100007F:9C41 06 00000000:00000000 03:00001770 00000000 0 0 0 3 0000000000000000\n\
            2: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 532 1 0000000000000000\n";
        let rows: Vec<(u16, Option<IpAddr>)> = super::time_wait_rows(table).collect();
        let local = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!(rows, [(0x9C40, local), (0x1F40, local)]);
        assert!(super::ephemeral_ports().is_some_and(|ports| ports > 1000));
        assert!(super::ephemeral_ports_in_time_wait(None).is_some());
    }

    #[test]
    fn only_time_wait_sockets_towards_the_next_server_count() {
        use std::net::{TcpListener, TcpStream};
        // A closed client connection leaves a TIME_WAIT socket towards the address it connected to.
        let address = IpAddr::V4(Ipv4Addr::new(127, 254, 1, 9));
        let listener = TcpListener::bind((address, 0)).expect("loopback");
        let before = super::ephemeral_ports_in_time_wait(Some(address)).expect("readable");
        for _ in 0..3 {
            let client = TcpStream::connect(listener.local_addr().expect("bound")).expect("connects");
            let (server_side, _) = listener.accept().expect("accepts");
            drop(client);
            drop(server_side);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let after = super::ephemeral_ports_in_time_wait(Some(address)).expect("readable");
        assert!(after >= before + 3, "{before} -> {after}");
        let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 254, 1, 10));
        assert_eq!(super::ephemeral_ports_in_time_wait(Some(elsewhere)), Some(0), "nothing towards another address");
    }
}
