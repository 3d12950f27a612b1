//! Measuring signatures on the benign reference ([`levee_synth::reference`]): traffic every
//! network needs (handshakes, the victim's own connections, QUIC, DNS, NTP, path-MTU
//! discovery, traceroute, ping), addressed to the attack's targets. A capture of an attack
//! seldom holds any of it, so a rule that would break it shows no collateral there; measured
//! here, it does, and such a rule is written to log rather than to block.

use std::net::IpAddr;

use levee_rules::Expr;

use crate::target::TargetSpec;
use crate::vector::addr_from_bits;

/// Most target addresses the reference is built for (an attack on a whole prefix is
/// measured on its first addresses).
const MAX_VICTIMS: usize = 4;

/// The reference frames for an attack's targets.
pub struct Reference {
    frames: Vec<(&'static str, Vec<u8>)>,
}

/// What a signature matched of the reference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReferenceMatch {
    /// Packets of the reference the signature matches.
    pub matched: u64,
    /// Packets of the reference.
    pub total: u64,
    /// Classes hit, with the packets matched in each, in the reference's order.
    pub classes: Vec<(&'static str, u64)>,
}

impl ReferenceMatch {
    /// `matched / total`.
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.matched as f64 / self.total as f64
        }
    }
}

impl Reference {
    /// The reference addressed to an attack's targets (the first few, or addresses of its
    /// prefixes).
    pub fn for_targets(targets: &TargetSpec) -> Reference {
        let mut victims: Vec<IpAddr> = match targets {
            TargetSpec::Hosts(h) => h.iter().map(|&a| addr_from_bits(a)).collect(),
            TargetSpec::Prefixes(p) => p.iter().map(|&(net, _)| addr_from_bits(net)).collect(),
            // A scan is scoped by its source: any victim shows what else the rule stops.
            TargetSpec::FromSource(_) => Vec::new(),
        };
        victims.truncate(MAX_VICTIMS);
        if victims.is_empty() {
            victims = vec![
                IpAddr::from([10, 10, 10, 10]),
                "2001:db8::10".parse().expect("an IPv6 address"),
            ];
        }
        let frames = victims
            .into_iter()
            .flat_map(levee_synth::reference::frames)
            .map(|f| (f.class, f.frame))
            .collect();
        Reference { frames }
    }

    /// What `e` matches of the reference.
    pub fn measure(&self, e: &Expr) -> ReferenceMatch {
        let mut m = ReferenceMatch {
            total: self.frames.len() as u64,
            ..Default::default()
        };
        for (class, frame) in &self.frames {
            let p = levee_decode::decode(1, frame, frame.len() as u32);
            if e.matches(&p) {
                m.matched += 1;
                match m.classes.iter_mut().find(|(c, _)| c == class) {
                    Some((_, n)) => *n += 1,
                    None => m.classes.push((class, 1)),
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_that_break_needed_traffic_are_seen() {
        let victim = 0x0a0a_0a0au128 | (0xffffu128 << 32);
        let r = Reference::for_targets(&TargetSpec::Hosts(vec![victim]));
        let p = |s: &str| levee_rules::parse_plain(s).unwrap();
        // Every ICMP error to the victim: path-MTU discovery and traceroute with them.
        let m = r.measure(&p("ip.dst == 10.10.10.10 and icmp.type in {3 11}"));
        let hit: Vec<&str> = m.classes.iter().map(|c| c.0).collect();
        assert!(
            hit.contains(&"pmtud") && hit.contains(&"traceroute"),
            "{hit:?}"
        );
        // Resets from web servers: the victim's own connections.
        let m = r.measure(&p(
            "ip.dst == 10.10.10.10 and tcp.flags.reset and tcp.srcport in {80 443}",
        ));
        assert_eq!(
            m.classes.first().map(|c| c.0),
            Some("outbound-web"),
            "{m:?}"
        );
        // DNS answers to the victim's own queries, and fragments of its large answers.
        let m = r.measure(&p(
            "ip.dst == 10.10.10.10 and (udp.srcport == 53 or ip.frag_offset > 0)",
        ));
        assert!(m.matched >= 4, "{m:?}");
        // A scoped reflection rule touches none of it.
        let m = r.measure(&p(
            "ip.dst == 10.10.10.10 and icmp.type == 3 and icmp.code != 4 \
             and icmp.quoted.dstport in {37810 47808}",
        ));
        assert_eq!(m.matched, 0, "{m:?}");
        assert!(m.total > 60);
    }
}
