//! The indicators compiled for matching: a hash table per thing looked up (addresses,
//! domains, URLs...), networks by prefix length, so a packet costs a lookup or two whatever
//! the number of indicators.

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::FixedState;

use crate::indicators::{Indicator, Kind};

type Map<K> = HashMap<K, Vec<u32>, FixedState>;

/// A bit per hash of an IPv4 key (address or network), set for the keys of a map: most
/// packets' addresses are in no map, and one bit (of 128 KiB, in cache) says so before a
/// probe of the map does. Measured on the 5-million-packet flood with 10,000 indicators:
/// the lookups were a quarter of the hunt.
#[derive(Clone)]
struct Prefilter(Vec<u64>);

impl Default for Prefilter {
    fn default() -> Prefilter {
        Prefilter(vec![0; (1 << PREFILTER_BITS) / 64])
    }
}

const PREFILTER_BITS: u32 = 20;

impl Prefilter {
    #[inline]
    fn slot(key: u32) -> usize {
        (u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - PREFILTER_BITS)) as usize
    }

    fn insert(&mut self, key: u32) {
        let s = Prefilter::slot(key);
        self.0[s / 64] |= 1 << (s % 64);
    }

    #[inline]
    fn may_hold(&self, key: u32) -> bool {
        let s = Prefilter::slot(key);
        self.0[s / 64] & (1 << (s % 64)) != 0
    }
}

/// IPv4 keys (addresses, or networks of one length) to indicators, behind a prefilter.
#[derive(Default)]
struct V4Map {
    prefilter: Prefilter,
    map: Map<u32>,
}

impl V4Map {
    fn add(&mut self, key: u32, id: u32) {
        self.prefilter.insert(key);
        add(&mut self.map, key, id);
    }

    #[inline]
    fn get(&self, key: u32) -> Option<&Vec<u32>> {
        if self.map.is_empty() || !self.prefilter.may_hold(key) {
            return None;
        }
        self.map.get(&key)
    }
}

/// Indicators, compiled.
#[derive(Default)]
pub struct Index {
    indicators: Vec<Indicator>,
    /// Single addresses, IPv4 and IPv6 apart (integers hash faster than `IpAddr`).
    addresses_v4: V4Map,
    addresses_v6: Map<u128>,
    /// Networks by prefix length, longest first: (length, network address to ids).
    nets_v4: Vec<(u8, V4Map)>,
    nets_v6: Vec<(u8, Map<u128>)>,
    domains: Map<String>,
    snis: Map<String>,
    urls: Map<String>,
    paths: Map<String>,
    agents: Map<String>,
    /// JA3 hashes, and MD5 indicators (a JA3 hash is an MD5).
    ja3: Map<String>,
    ja4: Map<String>,
    /// File hashes (MD5, SHA-1, SHA-256), hex.
    files: Map<String>,
}

fn add<K: std::hash::Hash + Eq>(map: &mut Map<K>, key: K, id: u32) {
    map.entry(key).or_default().push(id);
}

impl Index {
    /// Compiles `indicators`; their numbers in the index are their places in the vector.
    pub fn new(indicators: Vec<Indicator>) -> Index {
        let mut ix = Index::default();
        for (id, i) in indicators.iter().enumerate() {
            let id = id as u32;
            match i.kind {
                Kind::Address | Kind::Network => match i.net() {
                    Some(net) if net.prefix_len() == net.max_prefix_len() => match net.addr() {
                        IpAddr::V4(a) => ix.addresses_v4.add(u32::from(a), id),
                        IpAddr::V6(a) => add(&mut ix.addresses_v6, u128::from(a), id),
                    },
                    Some(ipnet::IpNet::V4(n)) => {
                        let len = n.prefix_len();
                        let at = match ix.nets_v4.iter().position(|(l, _)| *l == len) {
                            Some(at) => at,
                            None => {
                                ix.nets_v4.push((len, V4Map::default()));
                                ix.nets_v4.len() - 1
                            }
                        };
                        ix.nets_v4[at].1.add(u32::from(n.network()), id);
                    }
                    Some(ipnet::IpNet::V6(n)) => {
                        let len = n.prefix_len();
                        let at = match ix.nets_v6.iter().position(|(l, _)| *l == len) {
                            Some(at) => at,
                            None => {
                                ix.nets_v6.push((len, Map::default()));
                                ix.nets_v6.len() - 1
                            }
                        };
                        add(&mut ix.nets_v6[at].1, u128::from(n.network()), id);
                    }
                    None => {}
                },
                Kind::Domain => add(&mut ix.domains, i.value.clone(), id),
                Kind::Sni => add(&mut ix.snis, i.value.clone(), id),
                Kind::Url => add(&mut ix.urls, i.value.clone(), id),
                Kind::Path => add(&mut ix.paths, i.value.clone(), id),
                Kind::UserAgent => add(&mut ix.agents, i.value.clone(), id),
                Kind::Ja3 => add(&mut ix.ja3, i.value.clone(), id),
                // An MD5 names a JA3 or a file: both are looked for.
                Kind::Md5 => {
                    add(&mut ix.ja3, i.value.clone(), id);
                    add(&mut ix.files, i.value.clone(), id);
                }
                Kind::Sha1 | Kind::Sha256 => add(&mut ix.files, i.value.clone(), id),
                Kind::Ja4 => add(&mut ix.ja4, i.value.clone(), id),
            }
        }
        ix.nets_v4.sort_by_key(|n| std::cmp::Reverse(n.0));
        ix.nets_v6.sort_by_key(|n| std::cmp::Reverse(n.0));
        ix.indicators = indicators;
        ix
    }

    /// The indicator numbered `id`.
    pub fn indicator(&self, id: u32) -> &Indicator {
        &self.indicators[id as usize]
    }

    /// Every indicator, by number.
    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    /// Whether any indicator names addresses or networks.
    pub fn has_addresses(&self) -> bool {
        !self.addresses_v4.map.is_empty()
            || !self.addresses_v6.is_empty()
            || !self.nets_v4.is_empty()
            || !self.nets_v6.is_empty()
    }

    /// Whether any indicator names what DNS messages carry (domains, or addresses that
    /// answers give).
    pub fn wants_dns(&self) -> bool {
        !self.domains.is_empty() || self.has_addresses()
    }

    /// Whether any indicator names what a TLS ClientHello carries.
    pub fn wants_tls(&self) -> bool {
        !self.domains.is_empty()
            || !self.snis.is_empty()
            || !self.ja3.is_empty()
            || !self.ja4.is_empty()
    }

    /// Whether any indicator is a file's hash (HTTP bodies are then hashed).
    pub fn wants_files(&self) -> bool {
        !self.files.is_empty()
    }

    /// Whether any indicator names what an HTTP request carries.
    pub fn wants_http(&self) -> bool {
        !self.files.is_empty()
            || !self.domains.is_empty()
            || !self.urls.is_empty()
            || !self.paths.is_empty()
            || !self.agents.is_empty()
            || !self.ja3.is_empty()
            || !self.ja4.is_empty()
    }

    /// The indicators of `ip`: the address itself and the networks that hold it.
    #[inline]
    pub fn address(&self, ip: IpAddr, mut each: impl FnMut(u32)) {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                if let Some(ids) = self.addresses_v4.get(bits) {
                    ids.iter().for_each(|&id| each(id));
                }
                for (len, map) in &self.nets_v4 {
                    let masked = bits & u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                    if let Some(ids) = map.get(masked) {
                        ids.iter().for_each(|&id| each(id));
                    }
                }
            }
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                if let Some(ids) = self.addresses_v6.get(&bits) {
                    ids.iter().for_each(|&id| each(id));
                }
                for (len, map) in &self.nets_v6 {
                    let masked = bits & u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
                    if let Some(ids) = map.get(&masked) {
                        ids.iter().for_each(|&id| each(id));
                    }
                }
            }
        }
    }

    /// The domain indicators of `name` (lower-case): the name and each domain above it.
    pub fn domain(&self, name: &str, mut each: impl FnMut(u32)) {
        if self.domains.is_empty() {
            return;
        }
        let name = name.trim_end_matches('.');
        let mut at = name;
        loop {
            if let Some(ids) = self.domains.get(at) {
                ids.iter().for_each(|&id| each(id));
            }
            match at.split_once('.') {
                Some((_, parent)) if parent.contains('.') => at = parent,
                _ => break,
            }
        }
    }

    /// The SNI indicators of `name` (lower-case), exactly.
    pub fn sni(&self, name: &str, each: impl FnMut(u32)) {
        lookup(&self.snis, name, each);
    }

    /// The URL indicators of a request to `host` (lower-case, without a port) for
    /// `target`: the URL with its query, and an indicator without a query for any.
    pub fn url(&self, host: &str, target: &str, mut each: impl FnMut(u32)) {
        if self.urls.is_empty() {
            return;
        }
        let whole = format!("{host}{target}");
        lookup(&self.urls, &whole, &mut each);
        if let Some((path, _)) = whole.split_once('?') {
            lookup(&self.urls, path, each);
        }
    }

    /// The path indicators of a request for `target`: its path with the query, and without.
    pub fn path(&self, target: &str, mut each: impl FnMut(u32)) {
        if self.paths.is_empty() {
            return;
        }
        lookup(&self.paths, target, &mut each);
        if let Some((path, _)) = target.split_once('?') {
            lookup(&self.paths, path, each);
        }
    }

    /// The user-agent indicators of `agent`, whole.
    pub fn user_agent(&self, agent: &str, each: impl FnMut(u32)) {
        lookup(&self.agents, agent.trim(), each);
    }

    /// The JA3 (and MD5) indicators of a JA3 hash.
    pub fn ja3(&self, hash: &str, each: impl FnMut(u32)) {
        lookup(&self.ja3, hash, each);
    }

    /// The file-hash indicators of a hash (MD5, SHA-1 or SHA-256, lower-case hex).
    pub fn file_hash(&self, hash: &str, each: impl FnMut(u32)) {
        lookup(&self.files, hash, each);
    }

    /// The JA4 indicators of a JA4.
    pub fn ja4(&self, ja4: &str, each: impl FnMut(u32)) {
        lookup(&self.ja4, ja4, each);
    }
}

#[inline]
fn lookup(map: &Map<String>, key: &str, mut each: impl FnMut(u32)) {
    if map.is_empty() {
        return;
    }
    if let Some(ids) = map.get(key) {
        ids.iter().for_each(|&id| each(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(list: &str) -> Index {
        let file = crate::indicators::read_text("i.txt", list).unwrap();
        Index::new(file.indicators)
    }

    fn ids(f: impl FnOnce(&mut dyn FnMut(u32))) -> Vec<u32> {
        let mut v = Vec::new();
        f(&mut |id| v.push(id));
        v
    }

    #[test]
    fn addresses_and_the_networks_that_hold_them() {
        let ix = index("192.0.2.1\n192.0.2.0/24\n10.0.0.0/8\n2001:db8::/32\n0.0.0.0/0\n");
        assert_eq!(
            ids(|f| ix.address("192.0.2.1".parse().unwrap(), f)),
            [0, 1, 4]
        );
        assert_eq!(ids(|f| ix.address("10.9.8.7".parse().unwrap(), f)), [2, 4]);
        assert_eq!(
            ids(|f| ix.address("::ffff:10.0.0.1".parse().unwrap(), f)),
            [2, 4]
        );
        assert_eq!(
            ids(|f| ix.address("2001:db8:1::5".parse().unwrap(), f)),
            [3]
        );
        assert_eq!(
            ids(|f| ix.address("2001:db9::5".parse().unwrap(), f)),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn a_network_of_one_address_is_looked_up_as_the_address() {
        let ix = index("cidr:192.0.2.7/32\ncidr:192.0.2.8\n");
        assert_eq!(ids(|f| ix.address("192.0.2.7".parse().unwrap(), f)), [0]);
        assert_eq!(ids(|f| ix.address("192.0.2.8".parse().unwrap(), f)), [1]);
    }

    #[test]
    fn domains_cover_their_subdomains_and_nothing_else() {
        let ix = index("evil.example\nsni:cdn.other.example\n");
        assert_eq!(ids(|f| ix.domain("a.b.evil.example", f)), [0]);
        assert_eq!(ids(|f| ix.domain("evil.example", f)), [0]);
        assert!(ids(|f| ix.domain("notevil.example", f)).is_empty());
        assert!(ids(|f| ix.domain("example", f)).is_empty());
        assert_eq!(ids(|f| ix.sni("cdn.other.example", f)), [1]);
        assert!(ids(|f| ix.sni("x.cdn.other.example", f)).is_empty());
    }

    #[test]
    fn urls_and_paths_with_and_without_queries() {
        let ix = index("http://evil.example/gate.php\nhttp://evil.example/a?id=1\n/x.php\n");
        assert_eq!(ids(|f| ix.url("evil.example", "/gate.php?id=9", f)), [0]);
        assert_eq!(ids(|f| ix.url("evil.example", "/a?id=1", f)), [1]);
        assert!(ids(|f| ix.url("evil.example", "/a?id=2", f)).is_empty());
        assert_eq!(ids(|f| ix.path("/x.php?a=b", f)), [2]);
        assert!(ids(|f| ix.path("/x.phps", f)).is_empty());
    }
}
