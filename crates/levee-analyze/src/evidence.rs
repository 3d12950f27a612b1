//! Why detection calls a class an attack ([`Evidence`]), why it calls the sources forged
//! ([`SourceEvidence`]), and why an attack below the volume thresholds is reported
//! ([`LowRate`]): values with the figures they rest on, and one `Display` each, the sentence
//! the analysis document, the terminal and the report carry (each serializes as that
//! sentence). Tests match the values.

use std::fmt;
use std::net::IpAddr;

use crate::units::{percent as pct, rate, thousands};
use crate::vector::Class;

/// A count from the first pass: exact, or estimated from a sample of the packets (written
/// with a `~`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// The count (scaled up from the sample when estimated).
    pub n: u64,
    /// Whether it was estimated from a sample.
    pub estimated: bool,
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.estimated {
            write!(f, "~{}", thousands(self.n))
        } else {
            f.write_str(&thousands(self.n))
        }
    }
}

/// What the packets of a flood's evidence are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsolicited {
    /// SYNs never followed by the handshake's ACK.
    HalfOpen,
    /// SYNs of a capture that holds no other TCP packet: their handshakes cannot be followed.
    SynsOnly,
    /// Answers (SYN-ACKs, a service's UDP answers) to no request seen in the capture.
    Answers,
    /// ACKs, resets or FINs outside any connection seen opening.
    OutsideConnections,
    /// Packets never answered.
    Unanswered,
}

impl Unsolicited {
    /// The phrase after "N packets".
    pub(crate) fn phrase(self) -> &'static str {
        match self {
            Unsolicited::SynsOnly => {
                "whose handshakes cannot be followed (the capture holds no TCP packet but SYNs)"
            }
            Unsolicited::HalfOpen => "never followed by the handshake's ACK",
            Unsolicited::Answers => "answering no request seen in the capture",
            Unsolicited::OutsideConnections => "outside any connection seen opening",
            Unsolicited::Unanswered => "never answered",
        }
    }

    /// What the packets are, as a flood found below the volume thresholds names them.
    fn packets(self) -> &'static str {
        match self {
            Unsolicited::SynsOnly => {
                "SYNs (the capture holds no other TCP packet: whether their handshakes \
                 completed cannot be seen)"
            }
            Unsolicited::HalfOpen => "SYNs never followed by the handshake's ACK",
            Unsolicited::OutsideConnections => "packets outside any connection seen opening",
            Unsolicited::Answers | Unsolicited::Unanswered => "packets never answered",
        }
    }
}

impl fmt::Display for Unsolicited {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.phrase())
    }
}

/// What a reflection class's packets are: its service's answers, or SYN-ACKs.
fn reflected(class: Class) -> String {
    match class.service() {
        Some(s) => format!(
            "UDP packets from source port {} ({}: {})",
            s.port, s.name, s.abuse
        ),
        None => "SYN-ACKs".to_string(),
    }
}

/// How a scanner's probes travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbesOver {
    /// TCP, with the handshakes the scanner completed.
    Tcp {
        /// Handshakes completed.
        completed: u64,
    },
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// Another IP protocol.
    Ip,
}

/// Where a fingerprint's bytes lie in the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadAt {
    /// From this offset.
    Start(usize),
    /// From this many bytes before the payload's end.
    End(usize),
    /// Somewhere, at an offset that varies (a search: `contains`).
    Anywhere,
}

/// Bytes at least 99 % of a class's packets carry at the same place of their payloads: what a
/// tool sends hard-coded, where real protocols vary (ids, keys, counters). See
/// `signature::payload_fingerprint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `udp.payload` or `tcp.payload`; `ip.payload` for bytes found anywhere (searched in the
    /// IP payload, which iptables' string match reaches).
    pub field: &'static str,
    /// Where the bytes lie.
    pub at: PayloadAt,
    /// The bytes (at least 4).
    pub bytes: Vec<u8>,
    /// The payload length 99 % of the packets share, when they do (a fingerprint at the end
    /// is then also at a fixed offset from the start, which every engine reads).
    pub length: Option<u32>,
}

/// One reason detection calls a class an attack.
#[derive(Debug, Clone, PartialEq)]
pub enum Evidence {
    /// A reflection's answers to no request seen in the capture.
    UnsolicitedAnswers {
        /// The reflection class (its service, or SYN-ACKs).
        class: Class,
        /// Answers in the attack window.
        answers: Count,
        /// Their share of the class in the window.
        share: f64,
        /// For a reflection found below the volume thresholds: the share of every packet of
        /// the capture then that unsolicited answers make up.
        of_all: Option<f64>,
    },
    /// The reflectors the answers come from.
    Reflectors {
        /// Distinct reflectors (estimated).
        distinct: u64,
    },
    /// A flood found below the volume thresholds, its sources shown forged.
    ForgedFlood {
        /// What its packets are.
        kind: Unsolicited,
        /// Packets in the attack window.
        packets: Count,
        /// Distinct sources (estimated).
        sources: u64,
        /// Their share of the class in the window.
        share: f64,
        /// Their share of every packet of the capture then.
        of_all: f64,
    },
    /// Water torture: queries for random names under one zone.
    RandomSubdomains {
        /// Queries parsed.
        queries: u64,
        /// The zone.
        zone: String,
        /// The zone's share of the queries.
        zone_share: f64,
        /// Distinct names queried (estimated).
        distinct_names: u64,
    },
    /// SYNs from many sources in a capture of SYNs alone.
    SynsOnly {
        /// SYNs in the attack window.
        syns: Count,
        /// Distinct sources (estimated).
        sources: u64,
    },
    /// SYNs never followed by the handshake's ACK.
    HalfOpen {
        /// Such SYNs in the attack window.
        syns: Count,
        /// Handshakes completed in the whole capture.
        completed: u64,
        /// Their share of the class's SYNs.
        completion: f64,
    },
    /// UDP from one source port of many real hosts, answering nothing: a reflection of a
    /// service levee has no name for.
    UnnamedReflection {
        /// Packets in the attack window.
        packets: Count,
        /// The source port.
        port: u16,
        /// Distinct hosts (estimated).
        hosts: u64,
    },
    /// Bytes at least 99 % of the attack's packets carry at the same place of their payloads:
    /// what a tool sends hard-coded (see `signature::payload_fingerprint`).
    SamePayload(Fingerprint),
    /// 80 % of the class carry the same bytes at one place and the rest does not: the attack
    /// is the packets that carry them (see `signature::defining_fingerprint`).
    PayloadDefines(Fingerprint),
    /// Packets that carry the class's evidence.
    Flagged {
        /// What they are.
        kind: Unsolicited,
        /// Packets in the attack window.
        packets: Count,
        /// Their share of the class in the window.
        share: f64,
    },
    /// The class's rate rose over its earlier rate.
    RateRose {
        /// Packets a second before the attack.
        before_pps: f64,
        /// Packets a second during it.
        during_pps: f64,
        /// The ratio.
        factor: f64,
    },
    /// One source probing many new (address, port) pairs.
    Probes {
        /// The scanner.
        ip: IpAddr,
        /// New (address, port) pairs probed.
        pairs: Count,
        /// Addresses probed.
        hosts: Count,
        /// How the probes travelled.
        over: ProbesOver,
    },
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::UnsolicitedAnswers {
                class,
                answers,
                share,
                of_all,
            } => {
                write!(
                    f,
                    "{answers} {} answer no request seen in the capture ({} of the class in the \
                     attack window",
                    reflected(*class),
                    pct(*share)
                )?;
                if let Some(all) = of_all {
                    write!(
                        f,
                        "; unsolicited answers are {} of every packet then",
                        pct(*all)
                    )?;
                }
                f.write_str(")")
            }
            Evidence::Reflectors { distinct } => {
                write!(f, "~{} distinct reflectors", thousands(*distinct))
            }
            Evidence::ForgedFlood {
                kind,
                packets,
                sources,
                share,
                of_all,
            } => write!(
                f,
                "{packets} {} from ~{} sources shown forged (see the sources' evidence): {} of \
                 the class in the attack window, {} of every packet then",
                kind.packets(),
                thousands(*sources),
                pct(*share),
                pct(*of_all)
            ),
            Evidence::RandomSubdomains {
                queries,
                zone,
                zone_share,
                distinct_names,
            } => write!(
                f,
                "{} queries, {} of them under {zone}, ~{} distinct names: random subdomains that \
                 no cache can answer",
                thousands(*queries),
                pct(*zone_share),
                thousands(*distinct_names)
            ),
            Evidence::SynsOnly { syns, sources } => write!(
                f,
                "{syns} SYNs from ~{} sources; the capture holds no other TCP packet, so whether \
                 their handshakes completed cannot be seen",
                thousands(*sources)
            ),
            Evidence::HalfOpen {
                syns,
                completed,
                completion,
            } => write!(
                f,
                "{syns} SYNs never followed by the handshake's ACK; {} handshakes completed in \
                 all ({} of SYNs)",
                thousands(*completed),
                pct(*completion)
            ),
            Evidence::UnnamedReflection {
                packets,
                port,
                hosts,
            } => write!(
                f,
                "{packets} UDP packets from source port {port}, answering no request seen in the \
                 capture, from ~{} hosts: reflection of an unnamed service",
                thousands(*hosts)
            ),
            Evidence::SamePayload(fp) => fingerprint_text(f, fp, false),
            Evidence::PayloadDefines(fp) => fingerprint_text(f, fp, true),
            Evidence::Flagged {
                kind,
                packets,
                share,
            } => write!(
                f,
                "{packets} packets {kind} ({} of the class in the attack window)",
                pct(*share)
            ),
            Evidence::RateRose {
                before_pps,
                during_pps,
                factor,
            } => write!(
                f,
                "rate rose from {} before the attack to {} ({factor:.0}x)",
                rate(*before_pps),
                rate(*during_pps)
            ),
            Evidence::Probes {
                ip,
                pairs,
                hosts,
                over,
            } => {
                let addresses = if hosts.n == 1 { "address" } else { "addresses" };
                write!(
                    f,
                    "{ip} probed {pairs} new (address, port) pairs on {hosts} {addresses}"
                )?;
                match over {
                    ProbesOver::Tcp { completed } => {
                        write!(f, "; {} handshakes completed", thousands(*completed))
                    }
                    ProbesOver::Udp => f.write_str(" over UDP"),
                    ProbesOver::Icmp => f.write_str(" over ICMP"),
                    ProbesOver::Ip => f.write_str(" over IP"),
                }
            }
        }
    }
}

/// One reason detection calls an attack's sources forged, or names them reflectors.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceEvidence {
    /// A reflection's sources are real hosts answering forged requests.
    Reflectors {
        /// Distinct reflectors (estimated).
        distinct: u64,
    },
    /// Nearly every packet from a new address.
    NewAddressPerPacket {
        /// Distinct sources (estimated).
        sources: u64,
        /// Packets profiled.
        packets: Count,
    },
    /// Sources in private, reserved or unallocated space.
    Bogons {
        /// Their share of the packets.
        share: f64,
    },
    /// TTLs set at random.
    RandomTtls {
        /// Distinct TTL values seen.
        distinct: usize,
    },
    /// Few TTLs behind many addresses: few real origins.
    FewTtls {
        /// The narrowest range holding 90 % of the packets.
        low: u8,
        /// Its top.
        high: u8,
        /// Distinct sources claimed (estimated).
        sources: u64,
    },
    /// One IP ID (not 0) in most packets: a packet generator's.
    FixedIpId {
        /// The ID (32 bits: an IPv6 fragment header's).
        id: u32,
        /// Its share of the packets.
        share: f64,
    },
}

impl fmt::Display for SourceEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceEvidence::Reflectors { distinct } => write!(
                f,
                "~{} reflectors: real hosts answering requests forged with the target's address",
                thousands(*distinct)
            ),
            SourceEvidence::NewAddressPerPacket { sources, packets } => write!(
                f,
                "~{} distinct sources for {packets} packets: nearly every packet from a new \
                 address",
                thousands(*sources)
            ),
            SourceEvidence::Bogons { share } => write!(
                f,
                "{} of packets from private, reserved or unallocated addresses",
                pct(*share)
            ),
            SourceEvidence::RandomTtls { distinct } => write!(
                f,
                "{distinct} distinct TTL values: set at random, as crafted packets are"
            ),
            SourceEvidence::FewTtls { low, high, sources } => write!(
                f,
                "90% of packets have TTL {low}..{high} although they claim ~{} sources: few real \
                 origins behind many addresses",
                thousands(*sources)
            ),
            SourceEvidence::FixedIpId { id, share } => write!(
                f,
                "IP ID {id} in {} of packets: written by a packet generator",
                pct(*share)
            ),
        }
    }
}

/// Why an attack found below the volume thresholds, on its evidence alone, is reported, and
/// why its rule logs rather than blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct LowRate {
    /// Its peak on the wire, in packets a second.
    pub peak_pps: f64,
    /// Its evidence-carrying packets on the wire.
    pub packets: Count,
    /// `--min-pps`.
    pub min_pps: f64,
    /// `--min-packets`.
    pub min_packets: u64,
}

impl fmt::Display for LowRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "found below the volume thresholds (peak {}, {} packets; --min-pps {}, --min-packets \
             {}) on its evidence alone. A capture sampled before it was saved? Give \
             --sampling-rate N (one packet in N) to scale it to the wire. Until its rate is \
             known, its rule logs rather than blocks",
            rate(self.peak_pps),
            self.packets,
            self.min_pps,
            self.min_packets
        )
    }
}

/// Serialized as the sentence its `Display` writes: the documents carry it for people.
macro_rules! serialize_as_sentence {
    ($($t:ty),*) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}

serialize_as_sentence!(Evidence, SourceEvidence, LowRate);

/// The text of a payload fingerprint's evidence; `defines`: the bytes define the attack (see
/// [`Evidence::PayloadDefines`]).
fn fingerprint_text(
    f: &mut std::fmt::Formatter<'_>,
    fp: &Fingerprint,
    defines: bool,
) -> std::fmt::Result {
    let what = match fp.field {
        "tcp.payload" => "TCP segments",
        "ip.payload" => "packets",
        _ => "datagrams",
    };
    let place = match fp.at {
        PayloadAt::Start(o) => format!("at payload offset {o}"),
        PayloadAt::End(back) if back == fp.bytes.len() => "at the end of the payload".to_string(),
        PayloadAt::End(back) => format!("{back} bytes before the payload's end"),
        PayloadAt::Anywhere => "at varying places of the payload".to_string(),
    };
    let length = fp
        .length
        .map(|n| format!(" ({n}-byte payloads)"))
        .unwrap_or_default();
    let bytes = levee_rules::Literal::Bytes(fp.bytes.clone());
    let n = fp.bytes.len();
    if defines {
        write!(
            f,
            "80% or more of its {what} carry the same {n} bytes {place}{length}: \
                 {bytes}; the attack is taken to be those: its signature (and in `analyze` \
                 its size and coverage) leaves the others to its targets (other one-way \
                 traffic of the same protocol) to other traffic, while the ports, sources, \
                 TTL and length lines still describe them all"
        )
    } else {
        write!(
            f,
            "99% or more of its {what} carry the same {n} bytes {place}{length}: \
                 {bytes}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimated_counts_carry_a_tilde() {
        let c = |n, estimated| Count { n, estimated }.to_string();
        assert_eq!(c(12_345, false), "12,345");
        assert_eq!(c(12_345, true), "~12,345");
    }

    #[test]
    fn each_reason_reads_as_a_sentence_with_its_figures() {
        let e = Evidence::HalfOpen {
            syns: Count {
                n: 1000,
                estimated: false,
            },
            completed: 3,
            completion: 0.003,
        };
        assert_eq!(
            e.to_string(),
            "1,000 SYNs never followed by the handshake's ACK; 3 handshakes completed in all \
             (0.3% of SYNs)"
        );
        let scan = Evidence::Probes {
            ip: "192.0.2.1".parse().unwrap(),
            pairs: Count {
                n: 1000,
                estimated: false,
            },
            hosts: Count {
                n: 1,
                estimated: false,
            },
            over: ProbesOver::Udp,
        };
        assert_eq!(
            scan.to_string(),
            "192.0.2.1 probed 1,000 new (address, port) pairs on 1 address over UDP"
        );
    }
}
