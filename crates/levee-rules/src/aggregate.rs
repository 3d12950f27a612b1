//! CIDR aggregation for address lists: the fewest prefixes that cover a set of addresses,
//! none of them touching an address of the allow list.
//!
//! By default a prefix is used only when every address under it was given, so the list blocks
//! exactly the addresses given and nothing more. Widening (covering addresses that were not
//! given, for a shorter list) happens only when the caller names the widest prefix length it
//! accepts, and each prefix then says how many of its addresses were not given.
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

/// One prefix of an aggregation, with what it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// The prefix.
    pub net: IpNet,
    /// Addresses of the input under this prefix.
    pub given: u128,
    /// Addresses under this prefix that were not in the input (u128: an IPv6 /64 alone holds
    /// 2^64).
    pub unseen: u128,
}

/// How far an aggregation may go beyond the addresses given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Widening {
    /// The widest IPv4 prefix that may cover addresses not given; `None`: none may.
    pub max_v4: Option<u8>,
    /// The same for IPv6.
    pub max_v6: Option<u8>,
}

impl Widening {
    /// Covering exactly the addresses given.
    pub const EXACT: Widening = Widening {
        max_v4: None,
        max_v6: None,
    };
}

/// The result of an aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    /// The fewest prefixes covering the input and no allowed address, in address order.
    pub prefixes: Vec<Prefix>,
    /// Addresses the prefixes cover that were not in the input, in all.
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
    min_len: Option<u32>,
    allowed: &Allowed,
    out: &mut Vec<(u128, u32, u128)>,
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
    // Without widening, a prefix is admissible only when every address under it was given
    // (`addrs` is sorted and deduplicated, so a full prefix holds `size + 1` of them).
    let wide_enough = match min_len {
        Some(m) => len >= m,
        None => addrs.len() as u128 == size.saturating_add(1),
    };
    if wide_enough && !allowed.overlaps(lo, hi) {
        out.push((base, len, addrs.len() as u128));
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

/// Aggregates `addrs` into the fewest prefixes that never cover an address of `allow` and
/// cover addresses not given only as far as `widen` lets them.
pub fn aggregate(addrs: &[IpAddr], allow: &[IpNet], widen: Widening) -> Aggregation {
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
        widen.max_v4.map(|m| u32::from(m.min(32))),
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
        widen.max_v6.map(|m| u32::from(m.min(128))),
        &allowed,
        &mut out6,
    );
    let mut prefixes = Vec::new();
    for (base, len, given) in out4 {
        let net = Ipv4Net::new(std::net::Ipv4Addr::from(base as u32), len as u8)
            .expect("length at most 32");
        prefixes.push(Prefix {
            net: IpNet::V4(net),
            given,
            unseen: (1u128 << (32 - len)) - given,
        });
    }
    for (base, len, given) in out6 {
        // The whole IPv6 space holds 2^128 addresses, one more than u128 counts.
        let size_less_one = if len == 0 {
            u128::MAX
        } else {
            (1u128 << (128 - len)) - 1
        };
        let net =
            Ipv6Net::new(std::net::Ipv6Addr::from(base), len as u8).expect("length at most 128");
        prefixes.push(Prefix {
            net: IpNet::V6(net),
            given,
            unseen: size_less_one - (given - 1),
        });
    }
    let unseen_covered = prefixes
        .iter()
        .fold(0u128, |a, p| a.saturating_add(p.unseen));
    Aggregation {
        prefixes,
        unseen_covered,
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

    fn nets(a: &Aggregation) -> Vec<IpNet> {
        a.prefixes.iter().map(|p| p.net).collect()
    }

    fn widen(v4: u8, v6: u8) -> Widening {
        Widening {
            max_v4: Some(v4),
            max_v6: Some(v6),
        }
    }

    #[test]
    fn neighbours_merge_up_to_the_widest_allowed_prefix() {
        let addrs: Vec<IpAddr> = (0..=255).map(|i| ip(&format!("198.51.100.{i}"))).collect();
        let a = aggregate(&addrs, &[], Widening::EXACT);
        assert_eq!(nets(&a), vec![net("198.51.100.0/24")]);
        assert_eq!(a.unseen_covered, 0);
        // Two addresses of one /24, widening allowed to /24: one prefix, 254 unseen addresses.
        let two = [ip("192.0.2.1"), ip("192.0.2.200")];
        let a = aggregate(&two, &[], widen(24, 64));
        assert_eq!(nets(&a), vec![net("192.0.2.0/24")]);
        assert_eq!((a.prefixes[0].given, a.prefixes[0].unseen), (2, 254));
        assert_eq!(a.unseen_covered, 254);
        // Exact (the default): each address alone.
        let a = aggregate(&two, &[], Widening::EXACT);
        assert_eq!(nets(&a), vec![net("192.0.2.1/32"), net("192.0.2.200/32")]);
        assert_eq!(a.unseen_covered, 0);
    }

    #[test]
    fn exact_aggregation_never_covers_an_address_not_given() {
        // 10.0.0.0/30 whole, 10.0.0.4 and 10.0.0.6 alone, and an IPv6 /127 whole.
        let addrs = [
            ip("10.0.0.0"),
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.0.3"),
            ip("10.0.0.4"),
            ip("10.0.0.6"),
            ip("2001:db8::"),
            ip("2001:db8::1"),
            ip("10.0.0.3"),
        ];
        let a = aggregate(&addrs, &[], Widening::EXACT);
        assert_eq!(
            nets(&a),
            vec![
                net("10.0.0.0/30"),
                net("10.0.0.4/32"),
                net("10.0.0.6/32"),
                net("2001:db8::/127")
            ]
        );
        assert_eq!(a.unseen_covered, 0);
        assert!(a.prefixes.iter().all(|p| p.unseen == 0));
        assert_eq!(a.prefixes[0].given, 4);
        // Widening to /24 covers the rest of the /24.
        let a = aggregate(&addrs, &[], widen(24, 64));
        assert_eq!(nets(&a)[0], net("10.0.0.0/24"));
        assert_eq!(a.prefixes[0].unseen, 256 - 6);
        assert_eq!(a.prefixes[1].net, net("2001:db8::/64"));
        assert_eq!(a.prefixes[1].unseen, (1u128 << 64) - 2);
    }

    #[test]
    fn the_allow_list_is_never_covered() {
        let addrs = [ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.130")];
        let allow = [net("192.0.2.128/30"), net("192.0.2.3/32")];
        let a = aggregate(&addrs, &allow, widen(24, 64));
        for p in nets(&a) {
            for al in &allow {
                assert!(
                    !(p.contains(&al.network()) || al.contains(&p.network())),
                    "{p} touches {al}"
                );
            }
        }
        for x in &addrs[..2] {
            assert!(nets(&a).iter().any(|p| p.contains(x)), "{x} not covered");
        }
        assert_eq!(a.allowed_inputs, vec![ip("192.0.2.130")]);
        // 192.0.2.0/24 is not admissible (it holds allowed addresses): the cover is
        // 192.0.2.0/31 plus 192.0.2.2/32.
        assert_eq!(nets(&a), vec![net("192.0.2.0/31"), net("192.0.2.2/32")]);
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
            let a = aggregate(&addrs, &allow, widen(20, 64));
            for p in &nets(&a) {
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
                    assert!(nets(&a).iter().any(|p| p.contains(x)), "{x} not covered");
                }
            }
            // Exact: the same addresses, nothing else.
            let e = aggregate(&addrs, &allow, Widening::EXACT);
            assert_eq!(e.unseen_covered, 0);
            let covered: u128 = e.prefixes.iter().map(|p| p.given).sum();
            let mut distinct = addrs.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(covered, (distinct.len() - e.allowed_inputs.len()) as u128);
        }
    }
}
