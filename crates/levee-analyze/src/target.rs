//! Who an attack is aimed at: hosts, prefixes (carpet bombing), or, for a scan, its source.

use crate::vector::{addr_from_bits, is_v4};

/// Who an attack is aimed at.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetSpec {
    /// Destination addresses (128-bit form).
    Hosts(Vec<u128>),
    /// Destination prefixes (network in 128-bit form, prefix length in IPv4 or IPv6 terms).
    Prefixes(Vec<(u128, u8)>),
    /// Scans: the attack is defined by its source.
    FromSource(u128),
}

impl TargetSpec {
    /// Whether a packet from `src` to `dst` (address bits) goes to the targets (from the scanner,
    /// for a scan).
    #[inline]
    pub fn matches(&self, src: u128, dst: u128) -> bool {
        match self {
            TargetSpec::Hosts(h) => h.contains(&dst),
            TargetSpec::Prefixes(p) => p.iter().any(|&(net, len)| {
                let bits = if is_v4(net) {
                    96 + u32::from(len)
                } else {
                    u32::from(len)
                };
                bits == 0 || (dst ^ net) >> (128 - bits) == 0
            }),
            TargetSpec::FromSource(s) => *s == src,
        }
    }
}

/// The targets as a person reads them: `192.0.2.1`, `192.0.2.1, 192.0.2.2 and 3 more`,
/// `198.51.100.0/24`, `from 203.0.113.9` (a scan, named by its source).
impl std::fmt::Display for TargetSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let named: Vec<String> = match self {
            TargetSpec::Hosts(h) => h.iter().map(|&a| addr_from_bits(a).to_string()).collect(),
            TargetSpec::Prefixes(p) => p
                .iter()
                .map(|&(net, len)| format!("{}/{len}", addr_from_bits(net)))
                .collect(),
            TargetSpec::FromSource(s) => return write!(f, "from {}", addr_from_bits(*s)),
        };
        const SHOWN: usize = 3;
        match named.len() {
            0 => f.write_str("no target"),
            n if n <= SHOWN => f.write_str(&named.join(", ")),
            n => write!(f, "{} and {} more", named[..SHOWN].join(", "), n - SHOWN),
        }
    }
}
