//! The layer-7 analysis fed request by request, for logs that never end (`levee monitor
//! --log`).
//!
//! Each request profiles its client as the offline first pass does ([`Analyzer::add`]). At
//! the end of every second of log time, the clients that sent requests since the last
//! decision are judged as `levee analyze` judges them, on what they did so far: a client is
//! judged once it has been seen for [`JUDGE_AFTER_NS`] (a browser's page fetches its assets
//! within seconds; judged at its first request it would look like a bot), and a client found
//! malicious stays so. An attack is a vector's malicious clients: it starts when the first is
//! found, updates as its rate or its clients grow, and ends when none of them has sent a
//! request for the quiet period; one of them coming back later starts it again, as a new
//! attack. An attack counts its clients' requests before their judgement as their profiles
//! do (their number, their busiest second), and each one after it.
//!
//! Memory is the analyzer's (a bounded profile table), the clients of the attacks going on,
//! and per attack the first [`RULE_CLIENTS`] addresses for its rule.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use levee_logs::Request;
use serde::Serialize;

use crate::profile::ClientKey;
use crate::{Analyzer, L7Config, Level, VECTORS};

/// How long a client is seen before it is judged.
pub const JUDGE_AFTER_NS: i64 = 10_000_000_000;

/// Addresses an attack names at most (in its rule, `ip.src in { ... }`).
pub const RULE_CLIENTS: usize = 1024;

/// Reasons an attack keeps: its first clients'.
const EVIDENCE_LINES: usize = 4;

const SECOND: i64 = 1_000_000_000;

/// A layer-7 attack as the stream knows it at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct L7AttackEvent {
    /// The stream's number for the attack, the same in all its events.
    pub id: u64,
    /// The vector (`http-flood`, `login-abuse`...).
    pub vector: &'static str,
    /// When this was decided (a second's end, log time), ns since 1970.
    pub at_ns: i64,
    /// The first request of its first client.
    pub start_ns: i64,
    /// Its last request so far.
    pub end_ns: i64,
    /// Its busiest second so far, in requests.
    pub peak_rps: u64,
    /// Requests counted so far.
    pub requests: u64,
    /// Its clients so far.
    pub clients: u64,
    /// The first [`RULE_CLIENTS`] of their addresses.
    pub addresses: Vec<IpAddr>,
    /// Why its first clients are malicious, a line each.
    pub evidence: Vec<String>,
}

/// What the stream tells.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum L7Event {
    /// A vector's first malicious client was found.
    Started(L7AttackEvent),
    /// Its peak rose by a tenth, or its clients doubled.
    Updated(L7AttackEvent),
    /// None of its clients sent a request for the quiet period (or the log ended).
    Ended(L7AttackEvent),
}

/// An attack being followed.
#[derive(Debug)]
struct Known {
    last: L7AttackEvent,
    ended: bool,
    /// The second being counted, and its requests.
    second: i64,
    second_count: u64,
    /// What was last told (0: nothing yet).
    told_rps: u64,
    told_clients: u64,
}

/// Requests in, layer-7 attack events out (see the module's overview).
pub struct L7Stream {
    analyzer: Analyzer,
    /// Clients with requests since the last decision, and young ones waiting to be judged.
    touched: HashSet<ClientKey, foldhash::fast::FixedState>,
    /// Clients judged malicious, and their vector.
    malicious: HashMap<ClientKey, usize, foldhash::fast::FixedState>,
    /// Per vector, its attack.
    attacks: Vec<Option<Known>>,
    next_id: u64,
    /// The second of log time being read; `i64::MIN` before the first request.
    second: i64,
    quiet_ns: i64,
    events: VecDeque<L7Event>,
}

impl L7Stream {
    /// A stream judging by `config`; an attack ends after `quiet_ns` without a request.
    pub fn new(config: L7Config, quiet_ns: i64) -> L7Stream {
        L7Stream {
            analyzer: Analyzer::new(config),
            touched: Default::default(),
            malicious: Default::default(),
            attacks: (0..VECTORS.len()).map(|_| None).collect(),
            next_id: 1,
            second: i64::MIN,
            quiet_ns,
            events: VecDeque::new(),
        }
    }

    /// Changes the quiet period from the next decision on.
    pub fn set_quiet(&mut self, quiet_ns: i64) {
        self.quiet_ns = quiet_ns;
    }

    /// Adds a request. Requests are expected in time order; one without a time is profiled
    /// but moves no time on.
    pub fn feed(&mut self, r: &Request<'_>) {
        if let Some(ts) = r.ts {
            let s = ts.div_euclid(SECOND);
            if s > self.second {
                if self.second != i64::MIN {
                    self.decide(self.second.saturating_add(1).saturating_mul(SECOND));
                }
                self.second = s;
            }
        }
        self.analyzer.add(r);
        let key = self.analyzer.key(r);
        match self.malicious.get(&key) {
            Some(&v) => self.count(v, r),
            None => {
                self.touched.insert(key);
            }
        }
    }

    /// Moves log time on to `now_ns` with no request (a quiet log): the seconds passed are
    /// decided.
    pub fn advance_to(&mut self, now_ns: i64) {
        let s = now_ns.div_euclid(SECOND);
        if self.second != i64::MIN && s > self.second {
            self.decide(s.saturating_mul(SECOND));
            self.second = s;
        }
    }

    /// The log ended: a last decision, and every attack still going ends.
    pub fn end_all(&mut self) {
        if self.second == i64::MIN {
            return;
        }
        let at = self.second.saturating_add(1).saturating_mul(SECOND);
        self.decide(at);
        for k in self.attacks.iter_mut().flatten().filter(|k| !k.ended) {
            k.ended = true;
            k.last.at_ns = at;
            self.events.push_back(L7Event::Ended(k.last.clone()));
        }
    }

    /// The next event, oldest first.
    pub fn next_event(&mut self) -> Option<L7Event> {
        self.events.pop_front()
    }

    /// Requests fed so far.
    pub fn requests(&self) -> u64 {
        self.analyzer.requests
    }

    /// Counts a request of a client of attack `v` (which goes on: the clients of an ended
    /// attack are judged again when they come back).
    fn count(&mut self, v: usize, r: &Request<'_>) {
        let Some(ts) = r.ts else { return };
        let Some(k) = self.attacks[v].as_mut().filter(|k| !k.ended) else {
            return;
        };
        k.last.requests += 1;
        // A header block held open lasts until the connection ended.
        k.last.end_ns = k
            .last
            .end_ns
            .max(ts.saturating_add(r.header_incomplete_ns.unwrap_or(0)));
        let s = ts.div_euclid(SECOND);
        if s != k.second {
            k.second = s;
            k.second_count = 0;
        }
        k.second_count += 1;
        k.last.peak_rps = k.last.peak_rps.max(k.second_count);
    }

    /// Judges the clients touched, at log time `at`, and tells what changed.
    fn decide(&mut self, at: i64) {
        let touched = std::mem::take(&mut self.touched);
        let site = self.analyzer.site_model();
        for key in touched {
            let Some(p) = self.analyzer.profile(&key) else {
                continue;
            };
            let (first, last, requests, peak_second) = (p.first, p.last, p.requests, p.peak_second);
            if at.saturating_sub(first) < JUDGE_AFTER_NS {
                self.touched.insert(key); // judged when it is old enough
                continue;
            }
            let Some((Level::Malicious, Some(v), reasons)) =
                self.analyzer.verdict_so_far(&key, &site)
            else {
                continue;
            };
            self.malicious.insert(key, v);
            let k = self.attacks[v].get_or_insert_with(|| Known {
                last: L7AttackEvent {
                    id: 0,
                    vector: VECTORS[v],
                    at_ns: at,
                    start_ns: first,
                    end_ns: last,
                    peak_rps: 0,
                    requests: 0,
                    clients: 0,
                    addresses: Vec::new(),
                    evidence: Vec::new(),
                },
                ended: true,
                second: i64::MIN,
                second_count: 0,
                told_rps: 0,
                told_clients: 0,
            });
            if k.ended {
                // A new attack (or the vector's again): it starts with this client's first
                // request, or, for a client of the last one back, its latest.
                let start = if k.last.id == 0 || first > k.last.end_ns {
                    first
                } else {
                    last
                };
                k.ended = false;
                k.last.id = self.next_id;
                self.next_id += 1;
                k.last.start_ns = start;
                k.last.end_ns = last;
                k.last.requests = 0;
                k.last.peak_rps = 0;
                k.last.clients = 0;
                k.last.addresses.clear();
                k.last.evidence.clear();
                k.told_rps = 0;
                k.told_clients = 0;
            }
            k.last.start_ns = k.last.start_ns.min(first);
            k.last.end_ns = k.last.end_ns.max(last);
            k.last.requests += u64::from(requests);
            k.last.clients += 1;
            k.last.peak_rps = k.last.peak_rps.max(u64::from(peak_second));
            if let (ClientKey::Ip(ip), true) = (key, k.last.addresses.len() < RULE_CLIENTS) {
                k.last.addresses.push(ip);
            }
            for why in reasons {
                if k.last.evidence.len() >= EVIDENCE_LINES {
                    break;
                }
                let line = why.to_string();
                if !k.last.evidence.contains(&line) {
                    k.last.evidence.push(line);
                }
            }
        }
        let quiet = self.quiet_ns;
        let malicious = &mut self.malicious;
        for (v, k) in self.attacks.iter_mut().enumerate() {
            let Some(k) = k.as_mut().filter(|k| !k.ended) else {
                continue;
            };
            k.last.at_ns = at;
            if at.saturating_sub(k.last.end_ns) > quiet {
                k.ended = true;
                if k.told_clients > 0 {
                    self.events.push_back(L7Event::Ended(k.last.clone()));
                }
                // Its clients are judged again if they come back (a new attack then): what
                // is held is the attacks going on, not every client ever malicious.
                malicious.retain(|_, vector| *vector != v);
            } else if k.told_clients == 0 {
                (k.told_rps, k.told_clients) = (k.last.peak_rps, k.last.clients);
                self.events.push_back(L7Event::Started(k.last.clone()));
            } else if k.last.peak_rps * 10 > k.told_rps * 11 || k.last.clients >= 2 * k.told_clients
            {
                (k.told_rps, k.told_clients) = (k.last.peak_rps, k.last.clients);
                self.events.push_back(L7Event::Updated(k.last.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_768_478_400 * SECOND;

    fn request(ip: &str, ts: i64, path: &str, agent: &str) -> Request<'static> {
        let mut times = levee_logs::time::TimeCache::default();
        let line = format!(
            r#"{ip} - - [15/Jan/2026:12:00:00 +0000] "GET {path} HTTP/1.1" 200 512 "-" "{agent}""#
        );
        let (mut r, _) = levee_logs::clf::parse(&line, &mut times).unwrap();
        r.ts = Some(ts);
        r.into_owned()
    }

    fn events(s: &mut L7Stream) -> Vec<L7Event> {
        std::iter::from_fn(|| s.next_event()).collect()
    }

    #[test]
    fn a_flooding_client_is_an_attack_from_its_judgement_to_its_quiet_end() {
        let mut s = L7Stream::new(L7Config::default(), 5 * SECOND);
        let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36";
        // A reader at a page every few seconds, for two minutes.
        for i in 0..40 {
            s.feed(&request(
                "198.51.100.7",
                T0 + i * 3 * SECOND,
                "/blog",
                browser,
            ));
        }
        assert!(events(&mut s).is_empty(), "a reader is no attack");
        // A client at 50 requests a second for 30 s, from second 120.
        let mut decided_at = None;
        for i in 0..1500 {
            let ts = T0 + 120 * SECOND + i * SECOND / 50;
            s.feed(&request("203.0.113.9", ts, "/", "python-requests/2.31"));
            if decided_at.is_none() && !s.events.is_empty() {
                decided_at = Some(ts);
            }
        }
        let told = events(&mut s);
        let [L7Event::Started(a)] = &told[..] else {
            panic!("{told:?}")
        };
        assert_eq!(a.vector, "http-flood");
        assert_eq!(a.addresses, ["203.0.113.9".parse::<IpAddr>().unwrap()]);
        assert_eq!(a.start_ns, T0 + 120 * SECOND);
        assert!(!a.evidence.is_empty());
        // Judged once seen for 10 s and past 600 requests in a minute: told in the 13th
        // second.
        let latency = decided_at.unwrap() - (T0 + 120 * SECOND);
        assert!((12 * SECOND..13 * SECOND).contains(&latency), "{latency}");
        assert_eq!(a.peak_rps, 50);
        // Quiet: it ends 5 s after its last request.
        s.advance_to(T0 + 160 * SECOND);
        let told = events(&mut s);
        let [L7Event::Ended(e)] = &told[..] else {
            panic!("{told:?}")
        };
        assert_eq!(e.id, a.id);
        assert!(e.peak_rps >= 50, "{e:?}");
        assert!(e.requests >= 1400, "{e:?}");
        // Back later: a new attack.
        for i in 0..100 {
            s.feed(&request(
                "203.0.113.9",
                T0 + 300 * SECOND + i * SECOND / 50,
                "/",
                "python-requests/2.31",
            ));
        }
        s.end_all();
        let told = events(&mut s);
        assert!(
            matches!(&told[..], [L7Event::Started(b), L7Event::Ended(_)] if b.id != a.id),
            "{told:?}"
        );
    }
}
