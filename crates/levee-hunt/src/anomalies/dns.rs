//! DNS used for something else than finding addresses.
//!
//! **dns-tunnel.** A tunnel (iodine, dnscat2, dns2tcp over UDP, malware's own) writes its data
//! into the names it asks for below a domain its operator runs, and reads the answers: the
//! names are long, made of base32 or base64 or hex, never asked twice, and often of types
//! people's software seldom asks for (TXT, NULL, KEY, the private range). Per client and
//! registered domain (the public suffix list's: `t.example.co.uk` is below `example.co.uk`):
//!
//! * `length` = min(1, (mean length below the domain − 12) / 28): 0 for `www`, 1 from 40
//!   characters on;
//! * `entropy` = min(1, (bits per character of everything below the domain − 3) / 1.2);
//! * `odd types` = the share of TXT, NULL, KEY and private-type questions;
//! * `uniqueness` = distinct names / questions, and `volume` = min(1, distinct names / 50).
//!
//! score = 100 × (0.6 length + 0.25 entropy + 0.15 odd types) × uniqueness × volume, once a
//! client asked 20 questions below the domain. Reverse lookups (`.arpa`) and mDNS (`.local`)
//! are left out. Antivirus reputation lookups (hashes in names below the vendor's domain)
//! also carry data in DNS and score as they should, with the domain in the subject.
//!
//! **generated-names.** Malware with a domain generation algorithm tries many random names
//! until one resolves: its client sees NXDOMAIN for name after name, each below a different
//! random-looking registered domain. Per client, from the answers it gets:
//!
//! * `random` = the share of NXDOMAIN answers whose registered domain's own label looks
//!   generated (7 characters or more, and 5 consonants in a row, or under 20 % vowels, or
//!   letters with 2 digits or more among them);
//! * `nx share` = NXDOMAIN answers / answers, and `volume` = min(1, distinct registered
//!   domains answered NXDOMAIN / 50).
//!
//! score = 100 × volume × (0.6 random + 0.4 nx share), from 10 distinct domains answered
//! NXDOMAIN. Names of one label (a browser's probes for a hijacking resolver) have no
//! registered domain and are left out.
//!
//! Bounded: [`MAX_KEYS`] client and domain pairs and at most [`CLIENTS_PER_DOMAIN`] clients
//! of a domain (a domain many clients ask about is a service, and a random-subdomain flood's
//! spoofed sources then take 64 places); [`MAX_KEYS`] clients for the answers; distinct
//! names are counted in 128 bytes each (linear counting).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;

use levee_decode::{App, Packet};

use super::{Finding, FindingKind};

/// Client and domain pairs (and clients) followed at most.
pub const MAX_KEYS: usize = 1 << 16;
/// Clients of one registered domain followed at most.
pub const CLIENTS_PER_DOMAIN: u32 = 64;
/// Questions below a domain before its client and it are scored.
const MIN_QUERIES: u32 = 20;
/// Distinct registered domains answered NXDOMAIN before a client is scored.
const MIN_NX_DOMAINS: f64 = 10.0;
/// Longest example name kept, in characters.
const EXAMPLE_CHARS: usize = 80;

/// How many distinct values were added, estimated by linear counting over 1,024 bits: within
/// a few percent up to a few thousand, which is all a score needs.
#[derive(Default, Clone)]
struct Distinct([u64; 16]);

impl Distinct {
    fn add(&mut self, value: &str) {
        let h = foldhash::fast::FixedState::with_seed(0x1e7e).hash_one(value) as usize & 1023;
        self.0[h / 64] |= 1 << (h % 64);
    }

    fn estimate(&self) -> f64 {
        let zeros: u32 = self.0.iter().map(|w| w.count_zeros()).sum();
        let m = 1024.0f64;
        // A full bitmap means "more than linear counting can tell": m ln m, about 7,100.
        m * (m / f64::from(zeros.max(1))).ln()
    }
}

/// The questions of one client below one registered domain.
struct Below {
    queries: u32,
    odd_types: u32,
    /// Characters below the domain, over every question.
    chars: u64,
    /// Characters below the domain by kind: a–z, 0–9, '-', '_', '.', anything else.
    histogram: [u32; 41],
    names: Distinct,
    first: i64,
    last: i64,
    /// The longest name asked.
    example: String,
}

/// The answers one client got.
#[derive(Default)]
struct Answers {
    answers: u32,
    nx: u32,
    random_nx: u32,
    nx_domains: Distinct,
    first: i64,
    last: i64,
    examples: Vec<String>,
}

/// DNS questions and answers, per client.
#[derive(Default)]
pub struct DnsUse {
    below: HashMap<(IpAddr, String), Below, foldhash::fast::FixedState>,
    clients_of: HashMap<String, u32, foldhash::fast::FixedState>,
    answers: HashMap<IpAddr, Answers, foldhash::fast::FixedState>,
}

impl DnsUse {
    /// Notes a packet to or from port 53 at `ts`.
    pub fn packet(&mut self, ts: i64, p: &Packet<'_>) {
        let Some(ip) = p.ip.as_ref() else { return };
        let App::Dns(d) = p.app() else { return };
        let Some(name) = d.qname.as_deref() else {
            return;
        };
        if name.ends_with(".arpa") || name.ends_with(".local") || name == "local" {
            return;
        }
        let registered = psl::domain_str(name);
        if d.response {
            self.answer(ts, ip.dst, registered, d.rcode);
        } else if let Some(domain) = registered {
            self.question(ts, ip.src, name, domain, d.qtype.unwrap_or(0));
        }
    }

    fn question(&mut self, ts: i64, client: IpAddr, name: &str, domain: &str, qtype: u16) {
        let key = (client, domain.to_string());
        if !self.below.contains_key(&key) {
            let clients = self.clients_of.get(domain).copied().unwrap_or(0);
            if clients >= CLIENTS_PER_DOMAIN || self.below.len() >= MAX_KEYS {
                return;
            }
            *self.clients_of.entry(key.1.clone()).or_insert(0) += 1;
        }
        let b = self.below.entry(key).or_insert_with(|| Below {
            queries: 0,
            odd_types: 0,
            chars: 0,
            histogram: [0; 41],
            names: Distinct::default(),
            first: ts,
            last: ts,
            example: String::new(),
        });
        b.queries += 1;
        b.first = b.first.min(ts);
        b.last = b.last.max(ts);
        // NULL, TXT, KEY, and the private range iodine falls back on.
        b.odd_types += u32::from(matches!(qtype, 10 | 16 | 25 | 65280..));
        let sub = name
            .strip_suffix(domain)
            .map_or("", |s| s.trim_end_matches('.'));
        b.chars += sub.len() as u64;
        for c in sub.bytes() {
            b.histogram[symbol(c)] += 1;
        }
        b.names.add(sub);
        if name.len() > b.example.len() {
            b.example = name.chars().take(EXAMPLE_CHARS).collect();
        }
    }

    fn answer(&mut self, ts: i64, client: IpAddr, registered: Option<&str>, rcode: u8) {
        if !self.answers.contains_key(&client) && self.answers.len() >= MAX_KEYS {
            return;
        }
        let a = self.answers.entry(client).or_insert_with(|| Answers {
            first: ts,
            last: ts,
            ..Answers::default()
        });
        a.answers += 1;
        if rcode != 3 {
            return;
        }
        let Some(domain) = registered else { return };
        a.nx += 1;
        a.first = a.first.min(ts);
        a.last = a.last.max(ts);
        a.nx_domains.add(domain);
        let label = domain.split('.').next().unwrap_or("");
        if looks_generated(label) {
            a.random_nx += 1;
            if a.examples.len() < 3 && !a.examples.iter().any(|e| e == domain) {
                a.examples.push(domain.to_string());
            }
        }
    }

    /// Every finding, tunnels then generated names.
    pub fn findings(&self, file: &str) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .below
            .iter()
            .filter_map(|((client, domain), b)| b.finding(*client, domain, file))
            .collect();
        out.extend(
            self.answers
                .iter()
                .filter_map(|(client, a)| a.finding(*client, file)),
        );
        out
    }
}

impl Below {
    fn finding(&self, client: IpAddr, domain: &str, file: &str) -> Option<Finding> {
        if self.queries < MIN_QUERIES {
            return None;
        }
        let q = f64::from(self.queries);
        let mean_len = self.chars as f64 / q;
        let bits = entropy(&self.histogram);
        let length = ((mean_len - 12.0) / 28.0).clamp(0.0, 1.0);
        let randomness = ((bits - 3.0) / 1.2).clamp(0.0, 1.0);
        let odd = f64::from(self.odd_types) / q;
        let distinct = self.names.estimate().min(q);
        let uniqueness = distinct / q;
        let volume = (distinct / 50.0).min(1.0);
        let data = 0.6 * length + 0.25 * randomness + 0.15 * odd;
        let score = (100.0 * data * uniqueness * volume).round() as u8;
        if score == 0 {
            return None;
        }
        Some(Finding {
            kind: FindingKind::DnsTunnel,
            score,
            subject: format!("{client} -> *.{domain}"),
            evidence: format!(
                "{} questions below {domain}, about {distinct:.0} distinct ({:.0} %), {mean_len:.0} characters below it on average at {bits:.1} bits each, {:.0} % TXT/NULL/KEY/private; longest `{}`",
                self.queries,
                uniqueness * 100.0,
                odd * 100.0,
                self.example
            ),
            first_ns: self.first,
            last_ns: self.last,
            file: file.to_string(),
        })
    }
}

impl Answers {
    fn finding(&self, client: IpAddr, file: &str) -> Option<Finding> {
        let domains = self.nx_domains.estimate().min(f64::from(self.nx));
        if domains < MIN_NX_DOMAINS {
            return None;
        }
        let random = f64::from(self.random_nx) / f64::from(self.nx);
        let nx_share = f64::from(self.nx) / f64::from(self.answers);
        let volume = (domains / 50.0).min(1.0);
        let score = (100.0 * volume * (0.6 * random + 0.4 * nx_share)).round() as u8;
        Some(Finding {
            kind: FindingKind::GeneratedNames,
            score,
            subject: client.to_string(),
            evidence: format!(
                "NXDOMAIN for about {domains:.0} registered domains ({} of {} answers, {:.0} %), {:.0} % of them random-looking{}",
                self.nx,
                self.answers,
                nx_share * 100.0,
                random * 100.0,
                if self.examples.is_empty() {
                    String::new()
                } else {
                    format!(", such as {}", self.examples.join(", "))
                }
            ),
            first_ns: self.first,
            last_ns: self.last,
            file: file.to_string(),
        })
    }
}

/// The histogram slot of a name's byte.
fn symbol(c: u8) -> usize {
    match c.to_ascii_lowercase() {
        c @ b'a'..=b'z' => usize::from(c - b'a'),
        c @ b'0'..=b'9' => 26 + usize::from(c - b'0'),
        b'-' => 36,
        b'_' => 37,
        b'.' => 38,
        _ => 39,
    }
}

/// Shannon entropy of a histogram, in bits per symbol.
fn entropy(histogram: &[u32]) -> f64 {
    let total: f64 = histogram.iter().map(|&n| f64::from(n)).sum();
    if total == 0.0 {
        return 0.0;
    }
    histogram
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = f64::from(n) / total;
            -p * p.log2()
        })
        .sum()
}

/// Whether a registered domain's own label (`xkqjzmtpw` of `xkqjzmtpw.com`) looks generated
/// rather than chosen by people.
fn looks_generated(label: &str) -> bool {
    if label.len() < 7 || label.starts_with("xn--") {
        return false;
    }
    let (mut vowels, mut letters, mut digits, mut run, mut longest_run) = (0, 0, 0, 0, 0);
    for c in label.bytes() {
        if c.is_ascii_digit() {
            digits += 1;
            run = 0;
        } else if c.is_ascii_lowercase() {
            letters += 1;
            if b"aeiouy".contains(&c) {
                vowels += 1;
                run = 0;
            } else {
                run += 1;
                longest_run = longest_run.max(run);
            }
        } else {
            run = 0;
        }
    }
    longest_run >= 5
        || (letters >= 7 && vowels * 5 < letters)
        || (letters >= 2 && digits >= 2 && inner_digits(label) >= 2)
}

/// Digits of a label but those it ends with (`amazon2024` has none, `a8f3k2l9x` four).
fn inner_digits(label: &str) -> usize {
    label
        .trim_end_matches(|c: char| c.is_ascii_digit())
        .bytes()
        .filter(u8::is_ascii_digit)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ethernet/IPv4/UDP DNS message with one question.
    fn dns(
        src: [u8; 4],
        dst: [u8; 4],
        response: bool,
        rcode: u8,
        name: &str,
        qtype: u16,
    ) -> Vec<u8> {
        let mut msg = vec![
            0x12,
            0x34,
            if response { 0x81 } else { 0x01 },
            rcode,
            0,
            1,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        for label in name.split('.') {
            msg.push(label.len() as u8);
            msg.extend(label.bytes());
        }
        msg.push(0);
        msg.extend(qtype.to_be_bytes());
        msg.extend([0, 1]);
        let (sport, dport) = if response {
            (53u16, 40000u16)
        } else {
            (40000, 53)
        };
        let udp_len = 8 + msg.len();
        let mut f = vec![0u8; 12];
        f.extend([0x08, 0x00, 0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0]);
        let total = (20 + udp_len) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f.extend(src);
        f.extend(dst);
        f.extend(sport.to_be_bytes());
        f.extend(dport.to_be_bytes());
        f.extend((udp_len as u16).to_be_bytes());
        f.extend([0, 0]);
        f.extend(msg);
        f
    }

    fn feed(d: &mut DnsUse, ts: i64, frame: &[u8]) {
        levee_decode::with_decoded(1, frame, frame.len() as u32, |p| d.packet(ts, p));
    }

    /// Base32 of a counter's bytes, as a tunnel's labels look.
    fn base32(mut n: u64, len: usize) -> String {
        let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
        let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5555;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                n += 1;
                alphabet[(x % 32) as usize] as char
            })
            .collect()
    }

    #[test]
    fn a_tunnel_scores_high_and_browsing_does_not() {
        let mut d = DnsUse::default();
        let (client, resolver) = ([10, 0, 0, 5], [10, 0, 0, 1]);
        for i in 0..200u64 {
            let name = format!("{}.{}.t.tunnel.example", base32(i, 60), base32(i + 7, 40));
            feed(
                &mut d,
                i as i64,
                &dns(client, resolver, false, 0, &name, 10),
            );
        }
        let sites = ["www", "mail", "api", "cdn", "static", "img", "login", "m"];
        for i in 0..300usize {
            let name = format!("{}.site{}.example", sites[i % 8], i % 5);
            feed(
                &mut d,
                i as i64,
                &dns([10, 0, 0, 9], resolver, false, 0, &name, 1),
            );
        }
        let f = d.findings("x.pcap");
        let tunnel = f.iter().find(|f| f.kind == FindingKind::DnsTunnel).unwrap();
        assert_eq!(tunnel.subject, "10.0.0.5 -> *.tunnel.example");
        assert!(tunnel.score >= 90, "{tunnel:?}");
        assert!(
            f.iter()
                .filter(|f| f.subject.starts_with("10.0.0.9"))
                .all(|f| f.score < 10),
            "{f:?}"
        );
    }

    #[test]
    fn a_generation_algorithm_is_told_from_typos() {
        let mut d = DnsUse::default();
        let resolver = [10, 0, 0, 1];
        for i in 0..60u64 {
            let name = format!(
                "{}.com",
                base32(i * 3, 12).replace(['2', '3', '4', '5', '6', '7'], "x")
            );
            feed(
                &mut d,
                i as i64,
                &dns(resolver, [10, 0, 0, 5], true, 3, &name, 1),
            );
        }
        // A person's mistyped names, and names answered.
        for (i, name) in ["gogle.com", "wikipedai.org", "exmaple.net", "github.com"]
            .iter()
            .enumerate()
        {
            let rcode = if i == 3 { 0 } else { 3 };
            for _ in 0..5 {
                feed(
                    &mut d,
                    i as i64,
                    &dns(resolver, [10, 0, 0, 9], true, rcode, name, 1),
                );
            }
        }
        let f = d.findings("x.pcap");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].subject, "10.0.0.5");
        assert!(f[0].score >= 80, "{f:?}");
    }

    #[test]
    fn generated_labels_are_told_from_chosen_ones() {
        for l in ["xkqjzmtpw", "qwrtzpkl", "a8f3k2l9x", "bcdfghjklm"] {
            assert!(looks_generated(l), "{l}");
        }
        for l in [
            "stackoverflow",
            "wikipedia",
            "example",
            "amazon2024",
            "google",
            "cloudflare",
            "xn--bcher-kva",
        ] {
            assert!(!looks_generated(l), "{l}");
        }
    }

    #[test]
    fn distinct_names_are_counted_within_a_few_percent() {
        let mut d = Distinct::default();
        for i in 0..500 {
            d.add(&format!("name{i}"));
        }
        let e = d.estimate();
        assert!((470.0..530.0).contains(&e), "{e}");
    }
}
