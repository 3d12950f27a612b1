//! Beaconing: an implant calls home at a fixed interval, with a little jitter, for as long
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
//! Babel, OSPF), and a UDP service's answers (from a port below 1024 to one above). So are
//! questions to resolvers (port 53): every program's names go through them, on clocks of
//! their own, and a beacon's names are judged by [`super::dns`], not its resolver's address. On the
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

use super::{stays_on_the_link, Finding, FindingKind};

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
    /// The source port of the last flow record (flow records only).
    last_sport: u16,
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
        if udp && sport < 1024 && dport >= 1024 {
            return;
        }
        let pair = Pair {
            src: ip.src,
            dst: ip.dst,
            dport,
            proto: ip.proto,
        };
        self.note(pair, ts, ts, |t| {
            if syn {
                ts - t.last_start >= SYN_AGAIN_NS
            } else {
                ts - t.last_seen >= UDP_QUIET_NS
            }
        });
    }

    /// Notes a flow record. A record of TCP starts a contact when its source port differs
    /// from the last contact's (a new connection, not the same one exported again at its
    /// active timeout) and a second has passed; one of UDP after a second of silence.
    pub fn flow(&mut self, r: &levee_flow::FlowRecord) {
        let (Some(src), Some(dst), Some(start)) = (r.src, r.dst, r.start_ns) else {
            return;
        };
        let tcp = r.protocol == 6;
        if !tcp && r.protocol != 17 {
            return;
        }
        if !tcp && r.src_port < 1024 && r.dst_port >= 1024 {
            return;
        }
        let end = r.end_ns.unwrap_or(start).max(start);
        let pair = Pair {
            src,
            dst,
            dport: r.dst_port,
            proto: r.protocol,
        };
        let sport = r.src_port;
        self.note(pair, start, end, |t| {
            // Records come as exporters end flows, not quite in order of their starts.
            let quiet = start - t.last_seen >= UDP_QUIET_NS && start >= t.last_start;
            if tcp {
                t.last_sport != sport && start - t.last_start >= SYN_AGAIN_NS
            } else {
                quiet
            }
        });
        if let Some(t) = self.tracks.get_mut(&pair) {
            t.last_sport = sport;
        }
    }

    /// Notes traffic of `pair` from `start` to `end`; `starts` tells whether it begins a new
    /// contact of a pair already followed.
    fn note(&mut self, pair: Pair, start: i64, end: i64, starts: impl Fn(&Track) -> bool) {
        if stays_on_the_link(pair.dst) || pair.dport == 53 {
            return;
        }
        if let Some(t) = self.tracks.get_mut(&pair) {
            let new_contact = starts(t);
            t.last_seen = t.last_seen.max(end);
            if new_contact {
                t.contact(start);
            }
            return;
        }
        let service = (pair.dst, pair.dport, pair.proto);
        if self.clients.get(&service).copied().unwrap_or(0) >= SOURCES_PER_SERVICE {
            return;
        }
        if self.tracks.len() >= MAX_PAIRS && !self.sweep(start) {
            return;
        }
        *self.clients.entry(service).or_insert(0) += 1;
        self.tracks.insert(
            pair,
            Track {
                contacts: 1,
                first: start,
                last_start: start,
                last_seen: end,
                last_sport: 0,
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
