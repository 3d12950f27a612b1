//! Hunting without indicators (`levee hunt --anomalies`): what no indicator names yet, scored
//! so a responder can sort.
//!
//! **Beaconing.** An implant calls home at a fixed interval, with a little jitter, for as long
//! as it runs; people and most services do not. Each client's contacts with one service
//! (source address, destination address, destination port, protocol) are followed: a contact
//! starts with a TCP SYN (not its retransmissions), or with a UDP datagram after a second of
//! silence on that pair. From the intervals between contacts:
//!
//! * `regularity` = 1 − MAD / median (the median absolute deviation of the intervals against
//!   their median): 1 for a clock, 0.8 for ±20 % jitter spread evenly, lower for people;
//! * `steadiness` = the share of intervals within 25 % of the median;
//! * `persistence` = min(1, contacts / 12) × min(1, span / 10 min): a dozen contacts over ten
//!   minutes make a pattern; a burst of retries does not.
//!
//! score = 100 × regularity × steadiness × persistence, for a median interval between 1 s and
//! a day, at least [`MIN_CONTACTS`] contacts and [`MIN_SPAN_NS`] from first to last. The
//! evidence names the client, the service, the contacts, the median interval and its spread,
//! and the first and last contact.
//!
//! What never leaves the link is left out: contacts with multicast, broadcast, link-local and
//! loopback addresses (routing and redundancy protocols say hello on a clock: HSRP every 3 s,
//! Babel, OSPF), and a UDP service's answers (from a port below 1024 to one above). On the
//! real captures of `../shared/data` (tcpdump's test captures among them) no finding scores
//! 50 or more; an implant calling every minute with ±10 % jitter for half an hour scores 85+.
//!
//! Memory and time are bounded. At most [`MAX_PAIRS`] pairs are followed, each with its last
//! [`KEPT_INTERVALS`] intervals, and at most [`SOURCES_PER_SERVICE`] clients of one service:
//! a service many clients contact is a server, not a command-and-control point, and a spoofed
//! flood's millions of sources then take 64 places, not all. When the table is full, the pairs
//! of one contact not seen for [`STALE_NS`] give way, at most once a minute of traffic;
//! until then new pairs wait.

use std::collections::HashMap;
use std::net::IpAddr;

use levee_decode::{Packet, TcpFlags, Transport};
use serde::Serialize;

/// Pairs followed at most.
pub const MAX_PAIRS: usize = 1 << 16;
/// Clients of one service (destination, port, protocol) followed at most.
pub const SOURCES_PER_SERVICE: u32 = 64;
/// A pair of one contact not seen for this long gives way when the table is full.
pub const STALE_NS: i64 = 300_000_000_000;
/// Traffic time between two clean-ups of a full table.
const SWEEP_EVERY_NS: i64 = 60_000_000_000;
/// Intervals kept per pair (the most recent).
pub const KEPT_INTERVALS: usize = 256;
/// Contacts a pair needs before it is scored.
pub const MIN_CONTACTS: u32 = 6;
/// Contacts of a pair span at least this long before it is scored: ten seconds of hellos
/// or retries is no beacon.
pub const MIN_SPAN_NS: i64 = 120_000_000_000;
/// A UDP datagram after this much silence on its pair starts a contact.
const UDP_QUIET_NS: i64 = 1_000_000_000;
/// A SYN this soon after the last contact's is its retransmission.
const SYN_AGAIN_NS: i64 = 1_000_000_000;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Contacts with one service at a regular interval.
    Beaconing,
    /// DNS over TLS, QUIC or HTTPS to a public resolver.
    EncryptedDns,
    /// HTTP requests that look like command and control.
    C2LikeHttp,
}

impl FindingKind {
    /// The kind's name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Beaconing => "beaconing",
            FindingKind::EncryptedDns => "encrypted-dns",
            FindingKind::C2LikeHttp => "c2-like-http",
        }
    }
}

/// Something that stands out, with its evidence and a score to sort by.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What it is.
    pub kind: FindingKind,
    /// 0 to 100: how strongly the evidence says it.
    pub score: u8,
    /// Who and what: `10.0.0.5 -> 198.51.100.7:443/tcp`.
    pub subject: String,
    /// The figures behind the score, in a sentence.
    pub evidence: String,
    /// The first and last time (ns since 1970) of what it is about.
    pub first_ns: i64,
    /// The last time.
    pub last_ns: i64,
    /// The input it was found in.
    pub file: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Pair {
    src: IpAddr,
    dst: IpAddr,
    dport: u16,
    proto: u8,
}

struct Track {
    contacts: u32,
    first: i64,
    /// The last contact's start.
    last_start: i64,
    /// The last packet of the pair (for UDP's silences).
    last_seen: i64,
    /// Intervals between contacts, ns, the most recent [`KEPT_INTERVALS`] (a ring).
    intervals: Vec<i64>,
    next: usize,
}

/// The contacts of every pair, as packets come.
#[derive(Default)]
pub struct Beacons {
    tracks: HashMap<Pair, Track, foldhash::fast::FixedState>,
    /// Clients followed per service.
    clients: HashMap<(IpAddr, u16, u8), u32, foldhash::fast::FixedState>,
    last_sweep: Option<i64>,
}

impl Beacons {
    /// Notes a packet at `ts`.
    #[inline]
    pub fn add(&mut self, ts: i64, p: &Packet<'_>) {
        let Some(ip) = p.ip.as_ref() else { return };
        let (syn, udp) = match &p.transport {
            Transport::Tcp(t) => (
                t.flags.has(TcpFlags::SYN) && !t.flags.has(TcpFlags::ACK),
                false,
            ),
            Transport::Udp(_) => (false, true),
            _ => return,
        };
        if !syn && !udp {
            return;
        }
        let Some((sport, dport)) = p.ports() else {
            return;
        };
        if (udp && sport < 1024 && dport >= 1024) || stays_on_the_link(ip.dst) {
            return;
        }
        let pair = Pair {
            src: ip.src,
            dst: ip.dst,
            dport,
            proto: ip.proto,
        };
        if let Some(t) = self.tracks.get_mut(&pair) {
            let starts = if syn {
                ts - t.last_start >= SYN_AGAIN_NS
            } else {
                ts - t.last_seen >= UDP_QUIET_NS
            };
            t.last_seen = ts;
            if starts {
                t.contact(ts);
            }
            return;
        }
        let service = (pair.dst, pair.dport, pair.proto);
        if self.clients.get(&service).copied().unwrap_or(0) >= SOURCES_PER_SERVICE {
            return;
        }
        if self.tracks.len() >= MAX_PAIRS && !self.sweep(ts) {
            return;
        }
        *self.clients.entry(service).or_insert(0) += 1;
        self.tracks.insert(
            pair,
            Track {
                contacts: 1,
                first: ts,
                last_start: ts,
                last_seen: ts,
                intervals: Vec::new(),
                next: 0,
            },
        );
    }

    /// A full table at `ts`: the pairs of one contact unseen for [`STALE_NS`] give way, at
    /// most once a [`SWEEP_EVERY_NS`]. Whether there is room now.
    #[cold]
    fn sweep(&mut self, ts: i64) -> bool {
        if self.last_sweep.is_some_and(|l| ts - l < SWEEP_EVERY_NS) {
            return false;
        }
        self.last_sweep = Some(ts);
        let clients = &mut self.clients;
        self.tracks.retain(|pair, t| {
            let keep = t.contacts > 1 || ts - t.last_seen < STALE_NS;
            if !keep {
                if let Some(n) = clients.get_mut(&(pair.dst, pair.dport, pair.proto)) {
                    *n -= 1;
                }
            }
            keep
        });
        clients.retain(|_, n| *n > 0);
        self.tracks.len() < MAX_PAIRS
    }

    /// The pairs that beacon, scored at least `min_score`, best first.
    pub fn findings(&self, file: &str, min_score: u8) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .tracks
            .iter()
            .filter_map(|(pair, t)| t.finding(pair, file))
            .filter(|f| f.score >= min_score)
            .collect();
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.subject.cmp(&b.subject)));
        out
    }
}

/// Whether `a` is an address traffic to which never leaves the link or the host.
fn stays_on_the_link(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_link_local()
                || v4.is_loopback()
                || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_multicast()
                || v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

impl Track {
    fn contact(&mut self, ts: i64) {
        let interval = ts - self.last_start;
        if self.intervals.len() < KEPT_INTERVALS {
            self.intervals.push(interval);
        } else {
            self.intervals[self.next] = interval;
            self.next = (self.next + 1) % KEPT_INTERVALS;
        }
        self.contacts += 1;
        self.last_start = ts;
    }

    fn finding(&self, pair: &Pair, file: &str) -> Option<Finding> {
        let span = self.last_start - self.first;
        if self.contacts < MIN_CONTACTS || span < MIN_SPAN_NS {
            return None;
        }
        let mut sorted = self.intervals.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        if !(1_000_000_000..=86_400_000_000_000).contains(&median) {
            return None;
        }
        let mut deviations: Vec<i64> = sorted.iter().map(|i| (i - median).abs()).collect();
        deviations.sort_unstable();
        let mad = deviations[deviations.len() / 2];
        let regularity = (1.0 - mad as f64 / median as f64).max(0.0);
        let near = sorted
            .iter()
            .filter(|&&i| (i - median).abs() * 4 <= median)
            .count();
        let steadiness = near as f64 / sorted.len() as f64;
        let persistence =
            (f64::from(self.contacts) / 12.0).min(1.0) * (span as f64 / 600e9).min(1.0);
        let score = (100.0 * regularity * steadiness * persistence).round() as u8;
        let proto = levee_analyze::summary::proto_name(pair.proto);
        let secs = |ns: i64| ns as f64 / 1e9;
        Some(Finding {
            kind: FindingKind::Beaconing,
            score,
            subject: format!(
                "{} -> {}/{proto}",
                pair.src,
                std::net::SocketAddr::new(pair.dst, pair.dport)
            ),
            evidence: format!(
                "{} contacts over {:.0} s, every {:.1} s (median; half within {:.1} s of it, {:.0} % within 25 %): regularity {:.2}, steadiness {:.2}, persistence {:.2}",
                self.contacts,
                secs(span),
                secs(median),
                secs(mad),
                steadiness * 100.0,
                regularity,
                steadiness,
                persistence
            ),
            first_ns: self.first,
            last_ns: self.last_start,
            file: file.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/TCP SYN from `src` to `dst:port`.
    fn syn(src: [u8; 4], dst: [u8; 4], sport: u16, port: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14];
        f[12] = 0x08;
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
        ip.extend(src);
        ip.extend(dst);
        f.extend(ip);
        let mut tcp = sport.to_be_bytes().to_vec();
        tcp.extend(port.to_be_bytes());
        tcp.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend(tcp);
        f
    }

    fn feed(b: &mut Beacons, ts: i64, frame: &[u8]) {
        levee_decode::with_decoded(1, frame, frame.len() as u32, |p| b.add(ts, p));
    }

    #[test]
    fn a_jittered_beacon_scores_high_and_people_low() {
        let mut b = Beacons::default();
        let s = 1_000_000_000i64;
        // Every 60 s with up to ±6 s of jitter, 30 times, each SYN retransmitted once.
        let jitter = [3, -5, 1, 6, -2, 0, 4, -6, 2, -1];
        for i in 0..30i64 {
            let ts = i * 60 * s + jitter[i as usize % 10] * s;
            let f = syn([10, 0, 0, 5], [198, 51, 100, 7], 40000 + i as u16, 443);
            feed(&mut b, ts, &f);
            feed(&mut b, ts + s / 2, &f);
        }
        // Someone browsing a site at random moments.
        let gaps = [3, 40, 7, 200, 15, 90, 2, 600, 30, 12, 75, 5];
        let mut t = 0;
        for (i, g) in gaps.iter().enumerate() {
            t += g * s;
            feed(
                &mut b,
                t,
                &syn([10, 0, 0, 9], [203, 0, 113, 80], 50000 + i as u16, 443),
            );
        }
        let all = b.findings("x.pcap", 0);
        assert_eq!(all[0].subject, "10.0.0.5 -> 198.51.100.7:443/tcp");
        assert!(all[0].score >= 80, "{:?}", all[0]);
        assert!(all[0].evidence.starts_with("30 contacts"), "{:?}", all[0]);
        let people = all
            .iter()
            .find(|f| f.subject.starts_with("10.0.0.9"))
            .unwrap();
        assert!(people.score < 30, "{people:?}");
    }

    #[test]
    fn hellos_on_the_link_answers_and_short_bursts_are_no_beacons() {
        let mut b = Beacons::default();
        let s = 1_000_000_000i64;
        for i in 0..200i64 {
            // HSRP-like hellos to a multicast group, a link-local peer, loopback.
            feed(
                &mut b,
                i * 3 * s,
                &syn([10, 0, 0, 1], [224, 0, 0, 2], 1985, 1985),
            );
            feed(
                &mut b,
                i * 3 * s,
                &syn([10, 0, 0, 1], [169, 254, 1, 1], 1000, 80),
            );
            feed(
                &mut b,
                i * 3 * s,
                &syn([127, 0, 0, 1], [127, 0, 0, 1], 1000, 6379),
            );
        }
        // Ten retries a second apart: regular, but over 9 s.
        for i in 0..10i64 {
            feed(
                &mut b,
                i * s + s / 10,
                &syn([10, 0, 0, 2], [192, 0, 2, 9], 2000 + i as u16, 443),
            );
        }
        assert!(
            b.findings("x.pcap", 0).is_empty(),
            "{:?}",
            b.findings("x.pcap", 0)
        );
    }

    #[test]
    fn requests_score_by_what_browsers_seldom_do_together() {
        let request = |method: &str, host: Option<&str>, target: &str, ua: Option<&str>| {
            levee_logs::Request {
                method: method.to_string().into(),
                host: host.map(|h| h.to_string().into()),
                target: target.to_string().into(),
                user_agent: ua.map(|u| u.to_string().into()),
                ..Default::default()
            }
        };
        let firefox =
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0");
        let browser = request("GET", Some("shop.example"), "/cart/item.html", firefox);
        assert_eq!(c2_score(443, &browser).0, 0);
        // One trait alone (a numeric host) is no finding.
        let by_ip = request("GET", Some("192.0.2.1"), "/index.html", firefox);
        assert_eq!(c2_score(80, &by_ip).0, 0);
        let implant = request(
            "POST",
            Some("198.51.100.9:8443"),
            "/aZ3kQ9mT2xPw7",
            Some("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"),
        );
        let (score, why) = c2_score(8443, &implant);
        assert_eq!(score, 100, "{why:?}");
        assert_eq!(why.len(), 5);
        let no_host = request("POST", None, "/upload", None);
        assert_eq!(c2_score(80, &no_host).0, 60);
    }

    #[test]
    fn a_scan_of_many_addresses_fills_the_table_without_pushing_a_beacon_out() {
        let mut b = Beacons::default();
        let s = 1_000_000_000i64;
        for i in 0..40i64 {
            feed(
                &mut b,
                i * 60 * s,
                &syn([10, 0, 0, 5], [198, 51, 100, 7], 40000, 443),
            );
            // A scanner's SYNs to 5,000 addresses a minute: the table fills in 13 minutes.
            for j in 0..5_000u32 {
                let dst = (0x0b00_0000u32 + (i as u32) * 5_000 + j).to_be_bytes();
                feed(
                    &mut b,
                    i * 60 * s + 1 + i64::from(j),
                    &syn([192, 0, 2, 1], dst, 1234, 22),
                );
            }
        }
        assert!(b.tracks.len() <= MAX_PAIRS);
        let f = b.findings("x.pcap", 50);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "10.0.0.5 -> 198.51.100.7:443/tcp");
    }

    #[test]
    fn a_spoofed_flood_does_not_push_a_beacon_out() {
        let mut b = Beacons::default();
        let s = 1_000_000_000i64;
        for i in 0..20i64 {
            feed(
                &mut b,
                i * 30 * s,
                &syn([10, 0, 0, 5], [198, 51, 100, 7], 40000, 8443),
            );
            for j in 0..10_000u32 {
                let src = (0x0b00_0000u32 + i as u32 * 10_000 + j).to_be_bytes();
                feed(
                    &mut b,
                    i * 30 * s + 1 + i64::from(j),
                    &syn(src, [192, 0, 2, 1], 1234, 80),
                );
            }
        }
        // The flood's one destination holds 64 places, not 200,000.
        assert_eq!(b.tracks.len(), 1 + SOURCES_PER_SERVICE as usize);
        let f = b.findings("x.pcap", 50);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "10.0.0.5 -> 198.51.100.7:8443/tcp");
    }
}

/// Public resolvers that answer DNS over TLS (853) and over HTTPS (443): contacts with them
/// on those ports are DNS that the network's own resolver, and its logs, never see.
const PUBLIC_RESOLVERS: &[&str] = &[
    "1.1.1.1",
    "1.0.0.1",
    "8.8.8.8",
    "8.8.4.4",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
    "94.140.14.14",
    "94.140.15.15",
    "185.228.168.9",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2620:fe::fe",
];

/// Risks kept at most, of each kind.
const MAX_RISKS: usize = 1 << 16;

/// DNS carried over an encrypted channel to a public resolver, per client and resolver.
struct EncryptedDns {
    first: i64,
    last: i64,
    contacts: u32,
    /// A ClientHello to it without a server name (nDPI's "Missing SNI"): not a browser's DoH.
    no_sni: bool,
}

/// Requests of a client to one server that look like an implant's, not a browser's.
struct C2Http {
    first: i64,
    last: i64,
    requests: u32,
    score: u8,
    reasons: Vec<&'static str>,
    example: String,
}

/// Findings about single connections and requests: encrypted DNS to public resolvers, and
/// HTTP that looks like command and control.
///
/// * **encrypted-dns**: TCP or UDP contacts with a public resolver on 853 (DNS over TLS or
///   QUIC: score 70) or 443 (DNS over HTTPS: 60), 10 more when a ClientHello to it names no
///   server. DNS tunnels such as dns2tcp and DoH tunnels travel this way, out of the local
///   resolver's sight.
/// * **c2-like-http**: HTTP requests scored by what browsers seldom do and implants often do:
///   a numeric or missing Host (30), a port other than 80 and 443 (25), POST (15), a user
///   agent missing or claiming Internet Explorer 8 or older (15), a path of one random-looking
///   segment without an extension (15); one trait alone is no finding, and servers on the
///   link or the host are left out. The score of a client and server is their worst
///   request's.
#[derive(Default)]
pub struct Risks {
    encrypted_dns: HashMap<(IpAddr, IpAddr, u16, u8), EncryptedDns, foldhash::fast::FixedState>,
    http: HashMap<(IpAddr, std::net::SocketAddr), C2Http, foldhash::fast::FixedState>,
    resolvers: Vec<IpAddr>,
}

impl Risks {
    /// Ready to note packets and requests.
    pub fn new() -> Risks {
        Risks {
            resolvers: PUBLIC_RESOLVERS
                .iter()
                .map(|r| r.parse().expect("a resolver's address"))
                .collect(),
            ..Risks::default()
        }
    }

    /// Notes a packet at `ts`.
    #[inline]
    pub fn packet(&mut self, ts: i64, p: &Packet<'_>) {
        let Some(ip) = p.ip.as_ref() else { return };
        let Some((_, dport)) = p.ports() else { return };
        if !matches!(dport, 443 | 853) || !self.resolvers.contains(&ip.dst) {
            return;
        }
        let start = match &p.transport {
            Transport::Tcp(t) => t.flags.has(TcpFlags::SYN) && !t.flags.has(TcpFlags::ACK),
            Transport::Udp(_) => true,
            _ => false,
        };
        let no_sni = !p.payload.is_empty()
            && matches!(p.app(), levee_decode::App::TlsClientHello(h) if h.sni.is_none());
        if !start && !no_sni {
            return;
        }
        let key = (ip.src, ip.dst, dport, ip.proto);
        if self.encrypted_dns.len() >= MAX_RISKS && !self.encrypted_dns.contains_key(&key) {
            return;
        }
        let e = self.encrypted_dns.entry(key).or_insert(EncryptedDns {
            first: ts,
            last: ts,
            contacts: 0,
            no_sni: false,
        });
        e.first = e.first.min(ts);
        e.last = e.last.max(ts);
        e.contacts += u32::from(start);
        e.no_sni |= no_sni;
    }

    /// Notes an HTTP request at `ts` from `client` to `server`.
    pub fn request(
        &mut self,
        ts: i64,
        client: std::net::SocketAddr,
        server: std::net::SocketAddr,
        r: &levee_logs::Request<'_>,
    ) {
        if stays_on_the_link(server.ip()) {
            return;
        }
        let (score, reasons) = c2_score(server.port(), r);
        if score == 0 {
            return;
        }
        let key = (client.ip(), server);
        if self.http.len() >= MAX_RISKS && !self.http.contains_key(&key) {
            return;
        }
        let h = self.http.entry(key).or_insert(C2Http {
            first: ts,
            last: ts,
            requests: 0,
            score: 0,
            reasons: Vec::new(),
            example: String::new(),
        });
        h.first = h.first.min(ts);
        h.last = h.last.max(ts);
        h.requests += 1;
        if score > h.score {
            h.score = score;
            h.reasons = reasons;
            h.example = format!("{} {}", r.method, r.target);
        }
    }

    /// Every finding, best first.
    pub fn findings(&self, file: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for (&(client, resolver, port, proto), e) in &self.encrypted_dns {
            let base: u8 = if port == 853 { 70 } else { 60 };
            let proto = if proto == 17 { "udp" } else { "tcp" };
            out.push(Finding {
                kind: FindingKind::EncryptedDns,
                score: base + if e.no_sni { 10 } else { 0 },
                subject: format!(
                    "{client} -> {}/{proto}",
                    std::net::SocketAddr::new(resolver, port)
                ),
                evidence: format!(
                    "{} contacts with public resolver {resolver} on {port} ({}){}: DNS the local resolver does not see",
                    e.contacts,
                    if port == 853 { "DNS over TLS or QUIC" } else { "DNS over HTTPS" },
                    if e.no_sni { ", a ClientHello without a server name" } else { "" }
                ),
                first_ns: e.first,
                last_ns: e.last,
                file: file.to_string(),
            });
        }
        for (&(client, server), h) in &self.http {
            out.push(Finding {
                kind: FindingKind::C2LikeHttp,
                score: h.score,
                subject: format!("{client} -> {server}/tcp"),
                evidence: format!(
                    "{} requests, such as `{}`: {}",
                    h.requests,
                    h.example,
                    h.reasons.join(", ")
                ),
                first_ns: h.first,
                last_ns: h.last,
                file: file.to_string(),
            });
        }
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.subject.cmp(&b.subject)));
        out
    }
}

/// What in a request to a server on `port` looks like an implant's, and its score.
fn c2_score(port: u16, r: &levee_logs::Request<'_>) -> (u8, Vec<&'static str>) {
    let mut score = 0u8;
    let mut reasons = Vec::new();
    let host = r
        .host
        .as_deref()
        .and_then(crate::indicators::authority_host);
    let numeric = host.as_deref().map_or(true, |h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
    });
    let mut add = |yes: bool, points: u8, why: &'static str| {
        if yes {
            score += points;
            reasons.push(why);
        }
    };
    add(numeric, 30, "a numeric or missing Host");
    add(
        !matches!(port, 80 | 443),
        25,
        "a port other than 80 and 443",
    );
    add(r.method == "POST", 15, "POST");
    let ua = r.user_agent.as_deref().unwrap_or("");
    let old_ie = ua.split("MSIE ").nth(1).is_some_and(|v| {
        v.split(['.', ';'])
            .next()
            .and_then(|n| n.trim().parse::<u32>().ok())
            .is_some_and(|n| n <= 8)
    });
    add(
        ua.is_empty() || old_ie,
        15,
        "no user agent or Internet Explorer 8 or older",
    );
    let path = r.path();
    let one_segment = path.len() > 1 && !path[1..].contains('/');
    let segment = &path[1.min(path.len())..];
    let random = one_segment
        && segment.len() >= 12
        && !segment.contains('.')
        && segment.bytes().all(|b| b.is_ascii_alphanumeric())
        && segment.bytes().any(|b| b.is_ascii_uppercase())
        && segment.bytes().any(|b| b.is_ascii_lowercase())
        && segment.bytes().any(|b| b.is_ascii_digit());
    add(random, 15, "a random-looking path");
    // A single trait is what many benign requests have: only combinations are findings.
    if reasons.len() < 2 {
        return (0, Vec::new());
    }
    (score, reasons)
}
