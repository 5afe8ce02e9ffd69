//! This machine's address towards other hosts: the source address the kernel picks for the route to them
//! (what `ip route get` prints as `src`), found by connecting a UDP socket, which sends nothing. A server
//! attacked from other hosts listens there rather than on loopback, which they cannot reach.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};

use anyhow::{Context, Result, bail};

/// Any port: a connected UDP socket only asks the kernel for a route.
const ROUTE_PROBE_PORT: u16 = 9;

/// The one source address this machine uses towards every one of `hosts` (names or addresses).
pub fn source_address_towards<'h>(hosts: impl IntoIterator<Item = &'h str>) -> Result<String> {
    let mut chosen: Option<(IpAddr, &str)> = None;
    for host in hosts {
        let source = source_towards(host)?;
        match chosen {
            Some((first, first_host)) if first != source => bail!(
                "this machine reaches {first_host} from {first} but {host} from {source}: a server listens on \
                 one address, so the attackers must share a route"
            ),
            Some(_) => {}
            None => chosen = Some((source, host)),
        }
    }
    chosen.map(|(address, _)| address.to_string()).context("no remote attacker to find a route to")
}

/// The source address of the route to `host`.
fn source_towards(host: &str) -> Result<IpAddr> {
    let target: SocketAddr = (host, ROUTE_PROBE_PORT)
        .to_socket_addrs()
        .with_context(|| format!("resolving attacker {host}"))?
        .next()
        .with_context(|| format!("attacker {host} resolves to no address"))?;
    let any: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = UdpSocket::bind(any).context("opening a socket to find the route")?;
    socket.connect(target).with_context(|| format!("no route from this machine to attacker {host}"))?;
    Ok(socket.local_addr().context("reading the route's source address")?.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_to_a_loopback_host_leaves_from_loopback() {
        assert_eq!(source_address_towards(["127.0.0.1"]).expect("a route"), "127.0.0.1");
        assert_eq!(source_address_towards(["127.0.0.1", "127.0.0.1"]).expect("one route"), "127.0.0.1");
    }

    #[test]
    fn attackers_on_two_routes_or_none_are_refused() {
        // 127.0.0.2 is local too, and the kernel answers a route to it from 127.0.0.1, so compare with ::1
        // (refused either way: another source address, or no IPv6 route at all).
        assert!(source_address_towards(["127.0.0.1", "::1"]).is_err());
        assert!(source_address_towards([]).is_err());
        assert!(source_address_towards(["no-such-host.invalid"]).is_err());
    }
}
