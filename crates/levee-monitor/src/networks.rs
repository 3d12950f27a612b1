//! The protected networks (`levee monitor --networks FILE`): the customers' prefixes, each
//! with a name and, where it differs from the monitor's, its own threshold, as FastNetMon's
//! host groups. Only attacks on them become incidents, and traffic to each is learnt per
//! protocol for its usual rate ([`crate::baseline`]).
//!
//! The file is text, a network a line, `#` starting a comment:
//!
//! ```text
//! # prefix           name          threshold
//! 192.0.2.0/24       customer-a    pps=5000
//! 198.51.100.0/25    customer-b
//! 2001:db8::/32      customer-b
//! ```
//!
//! The name is optional (the prefix names it then) and may be shared by several prefixes;
//! `pps=N` sets the packets a second an attack on the network must reach (the monitor's
//! `--min-pps` otherwise). An address in several prefixes belongs to the longest.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use levee_analyze::vector::addr_bits;

/// A protected network.
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    /// The prefix, as the file gave it (host bits cleared).
    pub prefix: IpNet,
    /// Its name: the file's, or the prefix.
    pub name: String,
    /// The packets a second an attack on it must reach; `None`: the monitor's threshold.
    pub min_pps: Option<f64>,
}

/// A line of a networks file that cannot be taken.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NetworksError {
    /// The file cannot be read.
    #[error("{file}: {why}")]
    Unreadable {
        /// The file, as named.
        file: String,
        /// What the system said.
        why: String,
    },
    /// A line is not a network.
    #[error("{file}: line {line}: {why}: {text}")]
    Line {
        /// The file, as named.
        file: String,
        /// Its number, from 1.
        line: usize,
        /// The line.
        text: String,
        /// What is wrong.
        why: String,
    },
    /// The file names no network.
    #[error("{file}: no network in it (a line is `PREFIX [NAME] [pps=N]`)")]
    Empty {
        /// The file, as named.
        file: String,
    },
}

/// The protected networks, looked up by address (see the module's overview).
#[derive(Debug, Clone, PartialEq)]
pub struct Networks {
    list: Vec<Network>,
    /// For each prefix length present, longest first, in 128-bit form (IPv4 mapped): the
    /// masked network and its index in `list`. An address costs a lookup per length, in
    /// hashbrown's default (foldhash) table: with the standard library's SipHash, protecting
    /// three networks made `monitor --read` of 5 million packets 22 % slower (0.58 to
    /// 0.71 s); with foldhash, 7 % (0.64 to 0.68 s).
    by_length: Vec<(u32, hashbrown::HashMap<u128, usize>)>,
}

impl Networks {
    /// Reads the file at `path`.
    pub fn read(path: &Path) -> Result<Networks, NetworksError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| NetworksError::Unreadable {
            file: file.clone(),
            why: e.to_string(),
        })?;
        Networks::parse(&text, &file)
    }

    /// Reads a networks file's text (`file` names it in errors).
    pub fn parse(text: &str, file: &str) -> Result<Networks, NetworksError> {
        let mut list = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: String| NetworksError::Line {
                file: file.to_string(),
                line: i + 1,
                text: raw.trim().to_string(),
                why,
            };
            let mut words = line.split_whitespace();
            let first = words.next().unwrap_or("");
            let prefix: IpNet = match first.parse() {
                Ok(p) => p,
                Err(_) => match first.parse::<IpAddr>() {
                    Ok(a) => IpNet::from(a),
                    Err(_) => return Err(bad(format!("`{first}` is not a prefix"))),
                },
            };
            let prefix = prefix.trunc();
            let (mut name, mut min_pps) = (None, None);
            for w in words {
                if let Some(v) = w.strip_prefix("pps=") {
                    match v.parse::<f64>() {
                        Ok(p) if p.is_finite() && p > 0.0 => min_pps = Some(p),
                        _ => return Err(bad(format!("`{v}` is not a rate above 0"))),
                    }
                } else if w.contains('=') {
                    return Err(bad(format!("`{w}`: the only setting is pps=N")));
                } else if name.is_none() {
                    name = Some(w.to_string());
                } else {
                    return Err(bad(format!("`{w}`: a network has one name")));
                }
            }
            if list.iter().any(|n: &Network| n.prefix == prefix) {
                return Err(bad(format!("{prefix} is listed twice")));
            }
            list.push(Network {
                name: name.unwrap_or_else(|| prefix.to_string()),
                prefix,
                min_pps,
            });
        }
        if list.is_empty() {
            return Err(NetworksError::Empty {
                file: file.to_string(),
            });
        }
        let mut by_length: Vec<(u32, hashbrown::HashMap<u128, usize>)> = Vec::new();
        for (i, n) in list.iter().enumerate() {
            let bits = bits_128(&n.prefix);
            let net = addr_bits(n.prefix.network());
            match by_length.iter_mut().find(|(b, _)| *b == bits) {
                Some((_, m)) => {
                    m.insert(net, i);
                }
                None => by_length.push((bits, [(net, i)].into_iter().collect())),
            }
        }
        by_length.sort_by_key(|(bits, _)| std::cmp::Reverse(*bits));
        Ok(Networks { list, by_length })
    }

    /// The networks, in the file's order.
    pub fn list(&self) -> &[Network] {
        &self.list
    }

    /// The network (its index and itself) an address in 128-bit form is in, the longest
    /// prefix holding it.
    #[inline]
    pub fn find(&self, addr: u128) -> Option<(usize, &Network)> {
        for (bits, nets) in &self.by_length {
            let masked = if *bits == 0 {
                0
            } else {
                addr & (u128::MAX << (128 - bits))
            };
            if let Some(&i) = nets.get(&masked) {
                return Some((i, &self.list[i]));
            }
        }
        None
    }

    /// The lowest threshold a network sets, if one sets any.
    pub fn lowest_pps(&self) -> Option<f64> {
        self.list
            .iter()
            .filter_map(|n| n.min_pps)
            .min_by(|a, b| a.total_cmp(b))
    }
}

/// A prefix's length in 128-bit form (IPv4 mapped into IPv6).
fn bits_128(p: &IpNet) -> u32 {
    match p {
        IpNet::V4(v4) => 96 + u32::from(v4.prefix_len()),
        IpNet::V6(v6) => u32::from(v6.prefix_len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(a: &str) -> u128 {
        addr_bits(a.parse().unwrap())
    }

    #[test]
    fn the_longest_prefix_holding_an_address_is_its_network() {
        let n = Networks::parse(
            "# customers\n\
             192.0.2.0/24   customer-a  pps=5000\n\
             192.0.2.128/25 customer-a-web   # a part of it\n\
             2001:db8::/32\n\
             198.51.100.7\n",
            "networks.txt",
        )
        .unwrap();
        assert_eq!(n.list().len(), 4);
        assert_eq!(n.find(bits("192.0.2.7")).unwrap().1.name, "customer-a");
        assert_eq!(n.find(bits("192.0.2.7")).unwrap().1.min_pps, Some(5000.0));
        assert_eq!(
            n.find(bits("192.0.2.200")).unwrap().1.name,
            "customer-a-web"
        );
        assert_eq!(
            n.find(bits("2001:db8:1::5")).unwrap().1.name,
            "2001:db8::/32"
        );
        assert_eq!(n.find(bits("198.51.100.7")).unwrap().0, 3);
        assert!(n.find(bits("198.51.100.8")).is_none());
        assert!(n.find(bits("10.0.0.1")).is_none());
        // An IPv4 prefix does not hold IPv6 addresses that share its bits.
        assert!(n.find(bits("::c000:207")).is_none());
        assert_eq!(n.lowest_pps(), Some(5000.0));
    }

    #[test]
    fn a_bad_line_is_named_with_its_number() {
        let e = |text: &str| Networks::parse(text, "nets").unwrap_err().to_string();
        assert_eq!(
            e("192.0.2.0/24 a\n192.0.2.300/24 b\n"),
            "nets: line 2: `192.0.2.300/24` is not a prefix: 192.0.2.300/24 b"
        );
        assert!(e("192.0.2.0/24 a pps=0").contains("is not a rate above 0"));
        assert!(e("192.0.2.0/24 a pps=lots").contains("line 1"));
        assert!(e("192.0.2.0/24 a bps=5").contains("the only setting is pps=N"));
        assert!(e("192.0.2.0/24 a b").contains("a network has one name"));
        assert!(e("192.0.2.0/24\n192.0.2.9/24").contains("listed twice"));
        assert!(e("# nothing\n\n").contains("no network in it"));
        assert!(Networks::read(Path::new("/nonexistent/nets"))
            .unwrap_err()
            .to_string()
            .starts_with("/nonexistent/nets: "));
    }
}
