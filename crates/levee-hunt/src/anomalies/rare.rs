//! **rare-fingerprint**: a user agent or TLS fingerprint that one host alone presents, among
//! many hosts. The browsers and updaters of a fleet look alike; a tool an intruder brought
//! (a scripted client, an implant's TLS library) often is the only one of its kind.
//!
//! User agents come from HTTP requests (captures, reassembled, and access logs); TLS
//! fingerprints are JA4, from ClientHellos. JA3 is not used: browsers have shuffled their
//! extensions since 2023, so one Chrome makes a new JA3 per connection and every host
//! would have rare ones. JA4 sorts them.
//!
//! Rarity means something only among many: a kind is judged once [`MIN_POPULATION`] hosts
//! present one. score = 20 + 15 × min(1, (hosts − 5) / 45) + 10 × min(1, uses / 20): at most
//! 45, a lead to look at with the host's other findings, not a verdict, so below the default
//! `--min-score` of 50. At most [`MAX_FINDINGS`] of each kind are reported, the most used.
//!
//! Bounded: [`MAX_FINGERPRINTS`] fingerprints, [`MAX_HOSTS`] hosts counted per kind.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use levee_decode::{App, Packet};

use super::{Finding, FindingKind};

/// Fingerprints followed at most, of both kinds.
pub const MAX_FINGERPRINTS: usize = 1 << 16;
/// Hosts counted at most per kind.
pub const MAX_HOSTS: usize = 1 << 16;
/// Hosts that must present a fingerprint of a kind before its rare ones are findings.
pub const MIN_POPULATION: usize = 5;
/// Findings at most per kind and input.
pub const MAX_FINDINGS: usize = 1_000;
/// Longest user agent kept, in characters: longer ones (hostile ones of kilobytes) are told
/// apart by their first thousand.
const KEPT_CHARS: usize = 1_000;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Which {
    UserAgent,
    Ja4,
}

/// Who presented a fingerprint, and how often.
struct Seen {
    host: IpAddr,
    /// Presented by another host too.
    shared: bool,
    uses: u32,
    first: i64,
    last: i64,
}

/// The user agents and JA4 fingerprints of an input, with the hosts that present them.
#[derive(Default)]
pub struct Rare {
    /// Per kind ([`Which`] as the index), each fingerprint and who presents it.
    seen: [HashMap<Box<str>, Seen, foldhash::fast::FixedState>; 2],
    hosts: [HashSet<IpAddr, foldhash::fast::FixedState>; 2],
}

impl Rare {
    /// Notes a packet at `ts`: its ClientHello's JA4, if it is one.
    pub fn packet(&mut self, ts: i64, p: &Packet<'_>) {
        let Some(ip) = p.ip.as_ref() else { return };
        // A TLS handshake record, or nothing to decode.
        if p.payload.first() != Some(&0x16) {
            return;
        }
        if let App::TlsClientHello(h) = p.app() {
            self.note(Which::Ja4, ip.src, &h.ja4, ts);
        }
    }

    /// Notes the user agent of a request from `client` at `ts`.
    pub fn request(&mut self, ts: i64, client: IpAddr, r: &levee_logs::Request<'_>) {
        if let Some(ua) = r.user_agent.as_deref().filter(|u| !u.is_empty()) {
            let ua: String = ua.chars().take(KEPT_CHARS).collect();
            self.note(Which::UserAgent, client, &ua, ts);
        }
    }

    fn note(&mut self, which: Which, host: IpAddr, value: &str, ts: i64) {
        let hosts = &mut self.hosts[which as usize];
        if hosts.len() < MAX_HOSTS {
            hosts.insert(host);
        }
        let seen = &mut self.seen[which as usize];
        if let Some(s) = seen.get_mut(value) {
            s.shared |= s.host != host;
            s.uses += 1;
            s.first = s.first.min(ts);
            s.last = s.last.max(ts);
            return;
        }
        if self.seen.iter().map(HashMap::len).sum::<usize>() < MAX_FINGERPRINTS {
            self.seen[which as usize].insert(
                value.into(),
                Seen {
                    host,
                    shared: false,
                    uses: 1,
                    first: ts,
                    last: ts,
                },
            );
        }
    }

    /// The fingerprints one host alone presents, of the kinds enough hosts present.
    pub fn findings(&self, file: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for which in [Which::UserAgent, Which::Ja4] {
            let population = self.hosts[which as usize].len();
            if population < MIN_POPULATION {
                continue;
            }
            let crowd = ((population - MIN_POPULATION) as f64 / 45.0).min(1.0);
            let mut kind: Vec<(&str, &Seen)> = self.seen[which as usize]
                .iter()
                .filter(|(_, s)| !s.shared)
                .map(|(v, s)| (&**v, s))
                .collect();
            kind.sort_by(|a, b| b.1.uses.cmp(&a.1.uses).then(a.0.cmp(b.0)));
            kind.truncate(MAX_FINDINGS);
            let name = match which {
                Which::UserAgent => "user agent",
                Which::Ja4 => "JA4",
            };
            for (value, s) in kind {
                let used = (f64::from(s.uses) / 20.0).min(1.0);
                let score = (20.0 + 15.0 * crowd + 10.0 * used).round() as u8;
                out.push(Finding {
                    kind: FindingKind::RareFingerprint,
                    score,
                    subject: format!("{} {name} `{value}`", s.host),
                    evidence: format!(
                        "{} uses by {} alone, of {population} hosts presenting a {name}",
                        s.uses, s.host
                    ),
                    first_ns: s.first,
                    last_ns: s.last,
                    file: file.to_string(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(ua: &str) -> levee_logs::Request<'static> {
        levee_logs::Request {
            user_agent: Some(ua.to_string().into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_user_agent_of_one_host_among_many_is_a_lead() {
        let mut r = Rare::default();
        let firefox = request("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0");
        for host in 1..=30u8 {
            for _ in 0..3 {
                r.request(0, IpAddr::from([10, 0, 0, host]), &firefox);
            }
        }
        for _ in 0..25 {
            r.request(
                5,
                IpAddr::from([10, 0, 0, 7]),
                &request("python-requests/2.31"),
            );
        }
        let f = r.findings("x.log");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "10.0.0.7 user agent `python-requests/2.31`");
        // 30 hosts: 20 + 15 × (30 − 5) / 45 + 10 (25 uses).
        assert_eq!(f[0].score, 38);
    }

    #[test]
    fn among_few_hosts_nothing_is_rare() {
        let mut r = Rare::default();
        for host in 1..=4u8 {
            r.request(
                0,
                IpAddr::from([10, 0, 0, host]),
                &request(&format!("tool/{host}")),
            );
        }
        assert!(r.findings("x.log").is_empty());
    }
}
