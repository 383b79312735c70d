//! Which address a request comes from, and the key its per-source limits
//! are counted under.
//!
//! Behind proxies the peer is the proxy; the client is in `X-Forwarded-For`.
//! Each proxy appends what it saw, so only the values on the right, added by
//! proxies we trust, are believed: the list (every header line, each a comma
//! list, in order) is walked from the right, skipping trusted proxies, and
//! the first other address is the client. Whatever a client wrote further
//! left is never reached.

use std::net::{IpAddr, Ipv6Addr};

/// The client's address: the peer's, unless the peer is a trusted proxy, in
/// which case the nearest address in `X-Forwarded-For` that is not a trusted
/// proxy. An untrusted peer's `X-Forwarded-For` is ignored. A value that is
/// not an address stops the walk at the last trusted hop before it.
pub fn client_ip(trusted: &[ipnet::IpNet], peer: IpAddr, forwarded: &[&str]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let peer = canonical(peer);
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded.iter().rev().flat_map(|line| line.rsplit(',')) {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(&client) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The key per-source limits count under: the IPv4 address, or the IPv6
/// /64 (one subscriber usually holds a whole /64, so counting single IPv6
/// addresses would give each client 2^64 fresh budgets).
pub fn source_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn walks_every_line_from_the_right() {
        let trusted = nets(&["10.0.0.0/24"]);
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        // The client sent a forged line; the proxy appended the real one.
        let ip = client_ip(&trusted, proxy, &["203.0.113.7", "192.0.2.1"]);
        assert_eq!(ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        let ip = client_ip(&trusted, proxy, &["203.0.113.7, 192.0.2.1, 10.0.0.9"]);
        assert_eq!(ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        let ip = client_ip(&trusted, proxy, &["203.0.113.7", "192.0.2.1, 10.0.0.9"]);
        assert_eq!(ip, "192.0.2.1".parse::<IpAddr>().unwrap());
        let untrusted: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_ip(&trusted, untrusted, &["192.0.2.1"]), untrusted);
        assert_eq!(client_ip(&trusted, proxy, &[]), proxy);
        assert_eq!(client_ip(&trusted, proxy, &["junk"]), proxy);
    }

    #[test]
    fn ipv6_sources_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(source_key(a), "2001:db8:1:2::/64");
        assert_eq!(source_key(a), source_key(b));
        assert_ne!(source_key(a), source_key(c));
        assert_eq!(source_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1");
    }
}
