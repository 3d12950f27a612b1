//! CIDR aggregation for address lists: the fewest prefixes that cover a set of addresses,
//! none of them touching an address of the allow list, none wider than a given prefix length.
//!
//! The prefixes are the maximal admissible ones on the path of each address in the binary
//! trie of addresses: a prefix is used as soon as it is admissible (wide enough allowed, and
//! free of allow-listed addresses), since one prefix covers everything below it. Any cover
//! needs an admissible prefix over each address, and the maximal admissible prefixes over the
//! addresses are disjoint, so no cover has fewer.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// An address prefix (what list files hold).
pub type Net = IpNet;

/// The result of an aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    pub prefixes: Vec<IpNet>,
    /// Addresses the prefixes cover that were not in the input (u128: an IPv6 /64 alone holds
    /// 2^64).
    pub unseen_covered: u128,
    /// Input addresses that could not be covered because they are themselves allow-listed.
    pub allowed_inputs: Vec<IpAddr>,
}

/// Sorted, merged inclusive ranges of allowed addresses (IPv4 in the IPv4-mapped space).
struct Allowed {
    ranges: Vec<(u128, u128)>,
}

impl Allowed {
    fn overlaps(&self, lo: u128, hi: u128) -> bool {
        let i = self.ranges.partition_point(|r| r.1 < lo);
        i < self.ranges.len() && self.ranges[i].0 <= hi
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn net_range(n: &IpNet) -> (u128, u128) {
    (bits(n.network()), bits(n.broadcast()))
}

/// Covers the sorted addresses `addrs` (all under prefix `base`/`len` of a `width`-bit space,
/// offset by `offset` into the 128-bit space) with maximal admissible prefixes.
#[allow(clippy::too_many_arguments)]
fn cover(
    addrs: &[u128],
    base: u128,
    len: u32,
    width: u32,
    offset: u128,
    min_len: u32,
    allowed: &Allowed,
    out: &mut Vec<(u128, u32)>,
) {
    if addrs.is_empty() {
        return;
    }
    let size = if width - len == 128 {
        u128::MAX
    } else {
        (1u128 << (width - len)) - 1
    };
    let (lo, hi) = (offset + base, offset + base + size);
    if len >= min_len && !allowed.overlaps(lo, hi) {
        out.push((base, len));
        return;
    }
    if len == width {
        // A single address that is itself allowed: left out (reported by the caller).
        return;
    }
    let half = 1u128 << (width - len - 1);
    let split = addrs.partition_point(|&a| a - offset < base + half);
    cover(
        &addrs[..split],
        base,
        len + 1,
        width,
        offset,
        min_len,
        allowed,
        out,
    );
    cover(
        &addrs[split..],
        base + half,
        len + 1,
        width,
        offset,
        min_len,
        allowed,
        out,
    );
}

/// Aggregates `addrs` into prefixes no wider than `/max_v4` (IPv4) and `/max_v6` (IPv6) that
/// never cover an address of `allow`.
pub fn aggregate(addrs: &[IpAddr], allow: &[IpNet], max_v4: u8, max_v6: u8) -> Aggregation {
    let mut ranges: Vec<(u128, u128)> = allow.iter().map(net_range).collect();
    ranges = crate::parse::merge(ranges, |v: u128| v.checked_add(1));
    let allowed = Allowed { ranges };
    let mut v4: Vec<u128> = Vec::new();
    let mut v6: Vec<u128> = Vec::new();
    let mut allowed_inputs = Vec::new();
    for &a in addrs {
        let b = bits(a);
        if allowed.overlaps(b, b) {
            allowed_inputs.push(a);
            continue;
        }
        match a {
            IpAddr::V4(_) => v4.push(b),
            IpAddr::V6(_) => v6.push(b),
        }
    }
    for v in [&mut v4, &mut v6] {
        v.sort_unstable();
        v.dedup();
    }
    allowed_inputs.sort();
    allowed_inputs.dedup();
    let mapped = u128::from(std::net::Ipv4Addr::UNSPECIFIED.to_ipv6_mapped());
    let mut out4 = Vec::new();
    cover(
        &v4,
        0,
        0,
        32,
        mapped,
        u32::from(max_v4.min(32)),
        &allowed,
        &mut out4,
    );
    let mut out6 = Vec::new();
    cover(
        &v6,
        0,
        0,
        128,
        0,
        u32::from(max_v6.min(128)),
        &allowed,
        &mut out6,
    );
    let mut covered: u128 = 0;
    let mut prefixes = Vec::new();
    for (base, len) in out4 {
        covered = covered.saturating_add(1u128 << (32 - len));
        let net = Ipv4Net::new(std::net::Ipv4Addr::from(base as u32), len as u8)
            .expect("length at most 32");
        prefixes.push(IpNet::V4(net));
    }
    for (base, len) in out6 {
        let size = if len == 0 {
            u128::MAX
        } else {
            1u128 << (128 - len)
        };
        covered = covered.saturating_add(size);
        let net =
            Ipv6Net::new(std::net::Ipv6Addr::from(base), len as u8).expect("length at most 128");
        prefixes.push(IpNet::V6(net));
    }
    let seen = (v4.len() + v6.len()) as u128;
    Aggregation {
        prefixes,
        unseen_covered: covered.saturating_sub(seen),
        allowed_inputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn neighbours_merge_up_to_the_widest_allowed_prefix() {
        let addrs: Vec<IpAddr> = (0..=255).map(|i| ip(&format!("198.51.100.{i}"))).collect();
        let a = aggregate(&addrs, &[], 24, 64);
        assert_eq!(a.prefixes, vec![net("198.51.100.0/24")]);
        assert_eq!(a.unseen_covered, 0);
        // Two addresses of one /24, limited to /24: one prefix, 254 unseen addresses.
        let a = aggregate(&[ip("192.0.2.1"), ip("192.0.2.200")], &[], 24, 64);
        assert_eq!(a.prefixes, vec![net("192.0.2.0/24")]);
        assert_eq!(a.unseen_covered, 254);
        // Limited to /32: each address alone.
        let a = aggregate(&[ip("192.0.2.1"), ip("192.0.2.200")], &[], 32, 128);
        assert_eq!(a.prefixes.len(), 2);
        assert_eq!(a.unseen_covered, 0);
    }

    #[test]
    fn the_allow_list_is_never_covered() {
        let addrs = [ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.130")];
        let allow = [net("192.0.2.128/30"), net("192.0.2.3/32")];
        let a = aggregate(&addrs, &allow, 24, 64);
        for p in &a.prefixes {
            for al in &allow {
                assert!(
                    !(p.contains(&al.network()) || al.contains(&p.network())),
                    "{p} touches {al}"
                );
            }
        }
        for x in &addrs[..2] {
            assert!(a.prefixes.iter().any(|p| p.contains(x)), "{x} not covered");
        }
        assert_eq!(a.allowed_inputs, vec![ip("192.0.2.130")]);
        // 192.0.2.0/24 is not admissible (it holds allowed addresses): the cover is
        // 192.0.2.0/31 plus 192.0.2.2/32.
        assert_eq!(a.prefixes, vec![net("192.0.2.0/31"), net("192.0.2.2/32")]);
    }

    #[test]
    fn random_inputs_are_covered_minimally_and_safely() {
        // A small deterministic generator, no dependency needed for a test.
        let mut x: u64 = 0x9e37_79b9;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..50 {
            let addrs: Vec<IpAddr> = (0..40)
                .map(|_| {
                    IpAddr::V4(std::net::Ipv4Addr::from(
                        0xc000_0200 | (next() as u32 & 0x3ff),
                    ))
                })
                .collect();
            let allow: Vec<IpNet> = (0..3)
                .map(|_| {
                    IpNet::V4(
                        Ipv4Net::new(
                            std::net::Ipv4Addr::from(0xc000_0200 | (next() as u32 & 0x3ff)),
                            30,
                        )
                        .unwrap()
                        .trunc(),
                    )
                })
                .collect();
            let a = aggregate(&addrs, &allow, 20, 64);
            for p in &a.prefixes {
                assert!(p.prefix_len() >= 20);
                for al in &allow {
                    assert!(!(p.contains(&al.network()) || al.contains(&p.network())));
                }
                // Maximal: widening by one bit would be inadmissible (allow list or width).
                if p.prefix_len() > 20 {
                    let parent = p.supernet().unwrap();
                    assert!(
                        allow
                            .iter()
                            .any(|al| parent.contains(&al.network())
                                || al.contains(&parent.network())),
                        "{p} could have been {parent}"
                    );
                }
            }
            for x in &addrs {
                if !a.allowed_inputs.contains(x) {
                    assert!(a.prefixes.iter().any(|p| p.contains(x)), "{x} not covered");
                }
            }
        }
    }
}
