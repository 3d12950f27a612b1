//! Clients grouped by what they share: their network (/24 for IPv4, /64 for IPv6), their user
//! agent, their JA4. A botnet spread over one hosting network, a tool that every attacker runs
//! under one user agent, one TLS stack behind many addresses: each shows as a group whose
//! requests are nearly all from clients judged malicious, and a group that is all good says
//! what must not be blocked.
//!
//! Counted on the second pass, when every client's verdict is known. Each dimension keeps at
//! most [`MAX_GROUPS`] groups; when full, a new group takes the place of the smallest of 8
//! drawn at random, so the busiest groups stay however many there are.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;

use serde::Serialize;

use crate::bits::Bits256;
use crate::Level;

/// Groups kept per dimension.
pub const MAX_GROUPS: usize = 4_096;

/// The network a client address belongs to, as levee groups them.
pub fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Stats {
    requests: u64,
    malicious_requests: u64,
    suspicious_requests: u64,
    clients: Bits256,
    malicious_clients: Bits256,
}

/// One dimension's groups, keyed by `K` (a prefix, a hash), each with its label.
#[derive(Debug)]
pub struct GroupTable<K> {
    index: HashMap<K, usize, foldhash::fast::FixedState>,
    slots: Vec<(K, Box<str>, Stats)>,
    draw: u64,
    /// Requests of groups that gave way to busier ones.
    pub evicted_requests: u64,
}

impl<K> Default for GroupTable<K> {
    fn default() -> GroupTable<K> {
        GroupTable {
            index: HashMap::with_hasher(foldhash::fast::FixedState::with_seed(0x6709)),
            slots: Vec::new(),
            draw: 0x2545_f491_4f6c_dd1d,
            evicted_requests: 0,
        }
    }
}

impl<K: Hash + Eq + Copy> GroupTable<K> {
    /// Counts a request of client `client` (a hash) with verdict `level` in group `key`,
    /// labelled by `label` when the group is new.
    pub fn add(
        &mut self,
        key: K,
        label: impl FnOnce() -> String,
        client: u64,
        level: Option<Level>,
    ) {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => self.insert(key, label().into()),
        };
        let s = &mut self.slots[i].2;
        s.requests += 1;
        s.clients.insert(client);
        match level {
            Some(Level::Malicious) => {
                s.malicious_requests += 1;
                s.malicious_clients.insert(client);
            }
            Some(Level::Suspicious) => s.suspicious_requests += 1,
            _ => {}
        }
    }

    /// Adds the groups `other` counted (the groups of another share of the clients).
    pub fn absorb(&mut self, other: GroupTable<K>) {
        self.evicted_requests += other.evicted_requests;
        for (key, label, o) in other.slots {
            let i = match self.index.get(&key) {
                Some(&i) => i,
                None => self.insert(key, label),
            };
            let s = &mut self.slots[i].2;
            s.requests += o.requests;
            s.malicious_requests += o.malicious_requests;
            s.suspicious_requests += o.suspicious_requests;
            s.clients.union(&o.clients);
            s.malicious_clients.union(&o.malicious_clients);
        }
    }

    fn insert(&mut self, key: K, label: Box<str>) -> usize {
        let i = if self.slots.len() < MAX_GROUPS {
            self.slots.push((key, label, Stats::default()));
            self.slots.len() - 1
        } else {
            let mut victim = self.next_draw();
            for _ in 0..7 {
                let j = self.next_draw();
                if self.slots[j].2.requests < self.slots[victim].2.requests {
                    victim = j;
                }
            }
            let (old, _, s) =
                std::mem::replace(&mut self.slots[victim], (key, label, Stats::default()));
            self.index.remove(&old);
            self.evicted_requests += s.requests;
            victim
        };
        self.index.insert(key, i);
        i
    }

    fn next_draw(&mut self) -> usize {
        self.draw ^= self.draw << 13;
        self.draw ^= self.draw >> 7;
        self.draw ^= self.draw << 17;
        (self.draw % self.slots.len() as u64) as usize
    }

    /// The `n` busiest groups.
    pub fn top(&self, n: usize) -> Vec<Group> {
        let mut v: Vec<&(K, Box<str>, Stats)> = self.slots.iter().collect();
        v.sort_by(|a, b| b.2.requests.cmp(&a.2.requests).then(a.1.cmp(&b.1)));
        v.into_iter()
            .take(n)
            .map(|(_, k, s)| Group {
                key: k.to_string(),
                requests: s.requests,
                clients: u64::from(s.clients.estimate()),
                malicious_clients: u64::from(s.malicious_clients.estimate()),
                malicious_share: s.malicious_requests as f64 / s.requests.max(1) as f64,
                suspicious_share: s.suspicious_requests as f64 / s.requests.max(1) as f64,
            })
            .collect()
    }
}

/// A group as the analysis reports it.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// The group: a network prefix, a user agent or a JA4.
    pub key: String,
    /// Its requests.
    pub requests: u64,
    /// Distinct clients (estimate), and of them judged malicious.
    pub clients: u64,
    /// Of its clients, those judged malicious.
    pub malicious_clients: u64,
    /// Shares of the group's requests from clients judged malicious and suspicious.
    pub malicious_share: f64,
    /// Share of its requests from clients judged suspicious.
    pub suspicious_share: f64,
}

/// The three dimensions: networks by their prefix, user agents and JA4s by a hash of their
/// text (no text is copied for a request whose group exists).
#[derive(Debug)]
pub struct Groups {
    /// Networks: /24 for IPv4, /64 for IPv6.
    pub networks: GroupTable<(bool, u128)>,
    /// User agents, by a hash of their text.
    pub user_agents: GroupTable<u64>,
    /// JA4 fingerprints, by a hash of their text.
    pub ja4: GroupTable<u64>,
    hasher: foldhash::fast::FixedState,
}

impl Default for Groups {
    fn default() -> Groups {
        Groups {
            networks: GroupTable::default(),
            user_agents: GroupTable::default(),
            ja4: GroupTable::default(),
            hasher: foldhash::fast::FixedState::with_seed(0x6a34),
        }
    }
}

impl Groups {
    /// Counts a request of the client whose hash is `client`.
    pub fn add(&mut self, r: &levee_logs::Request<'_>, client: u64, level: Option<Level>) {
        if let Some(ip) = r.ip {
            let key = match ip {
                IpAddr::V4(a) => (false, u128::from(u32::from(a) & 0xffff_ff00)),
                IpAddr::V6(a) => (true, u128::from(a) & !((1u128 << 64) - 1)),
            };
            self.networks.add(key, || network_of(ip), client, level);
        }
        if let Some(ua) = r.user_agent.as_deref() {
            // At most 160 bytes, cut on a character boundary (a byte test, not a walk over
            // the characters of every request's user agent).
            let mut cut = ua.len().min(160);
            while !ua.is_char_boundary(cut) {
                cut -= 1;
            }
            let ua = &ua[..cut];
            let h = self.hasher.hash_one(ua);
            self.user_agents.add(h, || ua.to_string(), client, level);
        }
        if let Some(j) = r.ja4.as_deref() {
            let h = self.hasher.hash_one(j);
            self.ja4.add(h, || j.to_string(), client, level);
        }
    }

    /// Adds the groups `other` counted.
    pub fn absorb(&mut self, other: Groups) {
        self.networks.absorb(other.networks);
        self.user_agents.absorb(other.user_agents);
        self.ja4.absorb(other.ja4);
    }

    /// The `n` busiest groups of each dimension.
    pub fn report(&self, n: usize) -> GroupReport {
        GroupReport {
            networks: self.networks.top(n),
            user_agents: self.user_agents.top(n),
            ja4: self.ja4.top(n),
        }
    }
}

/// The busiest groups of each dimension.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupReport {
    /// The busiest networks.
    pub networks: Vec<Group>,
    /// The busiest user agents.
    pub user_agents: Vec<Group>,
    /// The busiest JA4 fingerprints.
    pub ja4: Vec<Group>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_64() {
        assert_eq!(network_of("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
        assert_eq!(
            network_of("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
    }

    #[test]
    fn a_full_table_keeps_the_busiest_groups_and_counts_verdicts() {
        let mut t: GroupTable<u64> = GroupTable::default();
        for i in 0..1_000u64 {
            t.add(1, || "botnet".into(), i, Some(Level::Malicious));
        }
        for i in 0..500u64 {
            let level = if i % 10 == 0 {
                Level::Suspicious
            } else {
                Level::Good
            };
            t.add(2, || "people".into(), 10_000 + i, Some(level));
        }
        for i in 0..100_000u64 {
            t.add(100 + i, || format!("one-off-{i}"), 1_000_000 + i, None);
        }
        let top = t.top(2);
        assert_eq!(top[0].key, "botnet");
        assert_eq!(top[0].requests, 1_000);
        assert_eq!(top[0].malicious_share, 1.0);
        assert!(
            top[0].clients > 900 && top[0].malicious_clients > 900,
            "{:?}",
            top[0]
        );
        assert_eq!(top[1].key, "people");
        assert_eq!(top[1].malicious_share, 0.0);
        assert!((top[1].suspicious_share - 0.1).abs() < 1e-9);
        assert!(t.slots.len() <= MAX_GROUPS);
        assert!(t.evicted_requests > 90_000);
    }
}
