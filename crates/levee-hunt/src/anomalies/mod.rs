//! Hunting without indicators (`levee hunt --anomalies`): what no indicator names yet, each
//! finding with its evidence and a score from 0 to 100 a responder can sort by.
//!
//! | kind | from | what | scores |
//! |---|---|---|---|
//! | `beaconing` | captures, flows | a client's contacts with one service at a regular interval ([`beacons`]) | 85+ for a minute's beacon over half an hour |
//! | `encrypted-dns` | captures | DNS over TLS, QUIC or HTTPS to a public resolver ([`risks`]) | 60–80 |
//! | `c2-like-http` | captures | HTTP requests with two or more of an implant's traits ([`risks`]) | 40–100 |
//! | `dns-tunnel` | captures | long, high-entropy, ever-new names below one domain, TXT/NULL queries ([`dns`]) | 90+ for an iodine-like tunnel (tested on a synthetic one) |
//! | `generated-names` | captures | a client's answers of NXDOMAIN for many random-looking names ([`dns`]) | 80+ for a DGA |
//! | `rare-fingerprint` | captures, logs | a user agent or JA4 one host alone presents among many ([`rare`]) | 20–45: a lead, not a verdict |
//! | `outbound-volume` | captures, flows | a minute of a host's outbound bytes far above its own baseline ([`volume`]) | 30 at 10×, 60 at 100× |
//!
//! On the real captures, logs and flows of `../shared/data` no finding scores 50 or more but
//! the real tunnel (70) and the real malware's command and control (100) in
//! `../shared/data/ir/`; 50 is `levee hunt`'s default `--min-score`.
//!
//! Every table is bounded, so a spoofed flood or a scan costs a fixed amount of memory and
//! the findings it would have hidden are still made.

pub mod beacons;
pub mod dns;
pub mod rare;
pub mod risks;
pub mod volume;

pub use beacons::Beacons;
pub use dns::DnsUse;
pub use rare::Rare;
pub use risks::Risks;
pub use volume::Volume;

use std::net::IpAddr;

use serde::Serialize;

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
    /// Data carried in DNS names and records.
    DnsTunnel,
    /// A client resolving many random-looking names that do not exist.
    GeneratedNames,
    /// A user agent or TLS fingerprint presented by one host alone.
    RareFingerprint,
    /// A host sending far more than it usually does.
    OutboundVolume,
}

impl FindingKind {
    /// The kind's name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Beaconing => "beaconing",
            FindingKind::EncryptedDns => "encrypted-dns",
            FindingKind::C2LikeHttp => "c2-like-http",
            FindingKind::DnsTunnel => "dns-tunnel",
            FindingKind::GeneratedNames => "generated-names",
            FindingKind::RareFingerprint => "rare-fingerprint",
            FindingKind::OutboundVolume => "outbound-volume",
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

/// Whether `a` is an address traffic to which never leaves the link or the host, or is
/// never routed at all (0.0.0.0/8, 240.0.0.0/4: seen in damaged captures, never a server).
fn stays_on_the_link(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            v4.is_multicast()
                || v4.is_link_local()
                || v4.is_loopback()
                || v4.octets()[0] == 0
                || v4.octets()[0] >= 240
        }
        IpAddr::V6(v6) => {
            v6.is_multicast()
                || v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Whether `a` is an address of a private network (RFC 1918, shared address space, unique
/// local IPv6): the inside of a network, whose traffic to anything else is outbound.
pub fn is_internal(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Every detector of an input, fed packets, requests and flow records as they come.
pub struct Anomalies {
    beacons: Beacons,
    risks: Risks,
    dns: DnsUse,
    rare: Rare,
    volume: Volume,
}

impl Default for Anomalies {
    fn default() -> Self {
        Anomalies::new()
    }
}

impl Anomalies {
    /// Every detector, empty.
    pub fn new() -> Anomalies {
        Anomalies {
            beacons: Beacons::default(),
            risks: Risks::new(),
            dns: DnsUse::default(),
            rare: Rare::default(),
            volume: Volume::default(),
        }
    }

    /// Notes a packet seen at `ts` (ns since 1970).
    #[inline]
    pub fn packet(&mut self, ts: i64, p: &levee_decode::Packet<'_>) {
        self.beacons.add(ts, p);
        self.risks.packet(ts, p);
        self.volume.packet(ts, p);
        if p.payload.is_empty() {
            return;
        }
        match p.ports() {
            Some((53, _)) | Some((_, 53)) => self.dns.packet(ts, p),
            Some(_) => self.rare.packet(ts, p),
            None => {}
        }
    }

    /// Notes an HTTP request from `client`, to `server` when known (a capture's; a log's
    /// server is the one writing it).
    pub fn request(
        &mut self,
        ts: i64,
        client: IpAddr,
        server: Option<std::net::SocketAddr>,
        r: &levee_logs::Request<'_>,
    ) {
        if let Some(server) = server {
            self.risks.request(ts, client, server, r);
        }
        self.rare.request(ts, client, r);
    }

    /// Notes a flow record.
    pub fn flow(&mut self, r: &levee_flow::FlowRecord) {
        self.beacons.flow(r);
        self.volume.flow(r);
    }

    /// Every finding about the input named `file`, best first.
    pub fn findings(self, file: &str) -> Vec<Finding> {
        let mut out = self.beacons.findings(file, 0);
        out.extend(self.risks.findings(file));
        out.extend(self.dns.findings(file));
        out.extend(self.rare.findings(file));
        out.extend(self.volume.findings(file));
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.subject.cmp(&b.subject)));
        out
    }
}
