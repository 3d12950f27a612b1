//! Attack vectors and the per-packet classification behind them.
//!
//! Every packet falls in exactly one [`Class`]: the vector it would belong to if it were part
//! of an attack (a SYN without ACK is a `syn-flood` candidate, a UDP packet from source port 123
//! an `ntp-reflection` candidate). Whether a class holds an attack is decided later, from its
//! volume and evidence ([`crate::analyze`]). The classification is cheap (ports and flags only)
//! and has no state except the table that gives later IP fragments the class of their first
//! fragment, so a fragmented DNS response stays one `dns-reflection` attack.

use levee_decode::{Packet, TcpFlags, Transport};

/// A UDP service abused for reflection or amplification, by its well-known port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Vector name without the `-reflection` suffix.
    pub name: &'static str,
    /// Its well-known port.
    pub port: u16,
    /// What the attacker asks the service for, to explain the vector.
    pub abuse: &'static str,
}

/// Reflection services, by source port of the responses the victim receives.
pub const SERVICES: &[Service] = &[
    Service {
        name: "dns",
        port: 53,
        abuse: "DNS responses (ANY, DNSSEC, TXT) to spoofed queries",
    },
    Service {
        name: "ntp",
        port: 123,
        abuse: "NTP mode 7 MON_GETLIST responses",
    },
    Service {
        name: "memcached",
        port: 11211,
        abuse: "memcached UDP `stats`/`get` responses",
    },
    Service {
        name: "ssdp",
        port: 1900,
        abuse: "SSDP M-SEARCH responses from UPnP devices",
    },
    Service {
        name: "cldap",
        port: 389,
        abuse: "CLDAP searchResEntry responses from domain controllers",
    },
    Service {
        name: "snmp",
        port: 161,
        abuse: "SNMP GetBulk responses",
    },
    Service {
        name: "chargen",
        port: 19,
        abuse: "chargen character streams",
    },
    Service {
        name: "qotd",
        port: 17,
        abuse: "quote-of-the-day responses",
    },
    Service {
        name: "ws-discovery",
        port: 3702,
        abuse: "WS-Discovery probe matches",
    },
    Service {
        name: "isakmp",
        port: 500,
        abuse: "IKE/ISAKMP responses",
    },
    Service {
        name: "isakmp",
        port: 4500,
        abuse: "IPsec NAT-T (IKE) responses",
    },
    Service {
        name: "netbios",
        port: 137,
        abuse: "NetBIOS name service responses",
    },
    Service {
        name: "mdns",
        port: 5353,
        abuse: "multicast DNS responses",
    },
    Service {
        name: "portmap",
        port: 111,
        abuse: "portmapper (rpcbind) dumps",
    },
    Service {
        name: "ubiquiti",
        port: 10001,
        abuse: "Ubiquiti discovery responses",
    },
    Service {
        name: "dvr",
        port: 37810,
        abuse: "DVR/IP-camera discovery responses (Dahua)",
    },
    Service {
        name: "bacnet",
        port: 47808,
        abuse: "BACnet building-automation responses",
    },
    Service {
        name: "openvpn",
        port: 1194,
        abuse: "OpenVPN responses",
    },
    Service {
        name: "coap",
        port: 5683,
        abuse: "CoAP responses from IoT devices",
    },
    Service {
        name: "mssql",
        port: 1434,
        abuse: "SQL Server browser responses",
    },
    Service {
        name: "ard",
        port: 3283,
        abuse: "Apple Remote Desktop responses",
    },
    Service {
        name: "stun",
        port: 3478,
        abuse: "STUN binding responses",
    },
    Service {
        name: "tftp",
        port: 69,
        abuse: "TFTP responses",
    },
    Service {
        name: "rip",
        port: 520,
        abuse: "RIPv1 responses",
    },
    Service {
        name: "sip",
        port: 5060,
        abuse: "SIP responses",
    },
    Service {
        name: "lantronix",
        port: 30718,
        abuse: "Lantronix discovery responses",
    },
];

/// Index into [`SERVICES`] of the service on `port`, if any.
pub fn service_for_port(port: u16) -> Option<u8> {
    // A direct table: one array read per UDP packet.
    static TABLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| {
        let mut t = vec![u8::MAX; 65536];
        for (i, s) in SERVICES.iter().enumerate() {
            t[s.port as usize] = i as u8;
        }
        t
    });
    match t[port as usize] {
        u8::MAX => None,
        i => Some(i),
    }
}

/// What a packet would be part of, if it were part of an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// SYN without ACK, RST or FIN.
    Syn,
    /// SYN+ACK.
    SynAck,
    /// ACK (with or without PSH and data), no SYN, FIN or RST.
    Ack,
    /// RST (without SYN).
    Rst,
    /// FIN (without SYN or RST).
    Fin,
    /// Flag combinations no TCP stack sends: none, SYN+FIN, SYN+RST, FIN+PSH+URG without ACK,
    /// SYN with only one of ECE/CWR.
    TcpAnomaly,
    /// UDP from a reflection service's port to another port.
    Reflection(u8),
    /// UDP to port 443.
    Quic,
    /// UDP to port 53 (queries).
    DnsQuery,
    /// Other UDP.
    Udp,
    /// ICMP and ICMPv6.
    Icmp,
    /// A later IP fragment whose first fragment was not seen.
    Fragment,
    /// GRE that was not decapsulated (no IP inside).
    Gre,
    /// Another IP protocol.
    OtherProto,
    /// No IP layer, or an IP packet whose transport header could not be read (too short):
    /// never reported as an attack.
    Undecoded,
}

impl Class {
    /// Stable small index, for arrays of per-class state.
    pub fn index(self) -> usize {
        match self {
            Class::Syn => 0,
            Class::SynAck => 1,
            Class::Ack => 2,
            Class::Rst => 3,
            Class::Fin => 4,
            Class::TcpAnomaly => 5,
            Class::Quic => 6,
            Class::DnsQuery => 7,
            Class::Udp => 8,
            Class::Icmp => 9,
            Class::Fragment => 10,
            Class::Gre => 11,
            Class::OtherProto => 12,
            Class::Undecoded => 13,
            Class::Reflection(i) => 14 + i as usize,
        }
    }

    /// How many classes there are.
    pub const COUNT: usize = 14 + 26;

    /// Every class, in index order.
    pub fn all() -> impl Iterator<Item = Class> {
        [
            Class::Syn,
            Class::SynAck,
            Class::Ack,
            Class::Rst,
            Class::Fin,
            Class::TcpAnomaly,
            Class::Quic,
            Class::DnsQuery,
            Class::Udp,
            Class::Icmp,
            Class::Fragment,
            Class::Gre,
            Class::OtherProto,
            Class::Undecoded,
        ]
        .into_iter()
        .chain((0..SERVICES.len() as u8).map(Class::Reflection))
    }

    /// The class of an index (see [`Class::all`]).
    #[inline]
    pub fn from_index(i: usize) -> Class {
        match i {
            0 => Class::Syn,
            1 => Class::SynAck,
            2 => Class::Ack,
            3 => Class::Rst,
            4 => Class::Fin,
            5 => Class::TcpAnomaly,
            6 => Class::Quic,
            7 => Class::DnsQuery,
            8 => Class::Udp,
            9 => Class::Icmp,
            10 => Class::Fragment,
            11 => Class::Gre,
            12 => Class::OtherProto,
            i if (14..14 + SERVICES.len()).contains(&i) => Class::Reflection((i - 14) as u8),
            _ => Class::Undecoded,
        }
    }

    /// The vector name an attack of this class is reported under.
    pub fn vector(self) -> &'static str {
        match self {
            Class::Syn => "syn-flood",
            Class::SynAck => "synack-reflection",
            Class::Ack => "ack-flood",
            Class::Rst => "rst-flood",
            Class::Fin => "fin-flood",
            Class::TcpAnomaly => "tcp-anomaly",
            Class::Quic => "quic-flood",
            Class::DnsQuery => "dns-water-torture",
            Class::Udp => "udp-flood",
            Class::Icmp => "icmp-flood",
            Class::Fragment => "ip-fragment-flood",
            Class::Gre => "gre-flood",
            Class::OtherProto => "ip-proto-flood",
            Class::Undecoded => "undecoded",
            Class::Reflection(i) => REFLECTION_NAMES[i as usize],
        }
    }

    /// The reflected service, for a reflection class.
    pub fn service(self) -> Option<&'static Service> {
        match self {
            Class::Reflection(i) => SERVICES.get(i as usize),
            _ => None,
        }
    }

    /// Whether the class is of TCP packets.
    pub fn is_tcp(self) -> bool {
        matches!(
            self,
            Class::Syn | Class::SynAck | Class::Ack | Class::Rst | Class::Fin | Class::TcpAnomaly
        )
    }

    /// Whether the class is of UDP packets.
    pub fn is_udp(self) -> bool {
        matches!(
            self,
            Class::Reflection(_) | Class::Quic | Class::DnsQuery | Class::Udp
        )
    }
}

const REFLECTION_NAMES: [&str; 26] = [
    "dns-reflection",
    "ntp-reflection",
    "memcached-reflection",
    "ssdp-reflection",
    "cldap-reflection",
    "snmp-reflection",
    "chargen-reflection",
    "qotd-reflection",
    "ws-discovery-reflection",
    "isakmp-reflection",
    "isakmp-reflection",
    "netbios-reflection",
    "mdns-reflection",
    "portmap-reflection",
    "ubiquiti-reflection",
    "dvr-reflection",
    "bacnet-reflection",
    "openvpn-reflection",
    "coap-reflection",
    "mssql-reflection",
    "ard-reflection",
    "stun-reflection",
    "tftp-reflection",
    "rip-reflection",
    "sip-reflection",
    "lantronix-reflection",
];

/// Classifies TCP flags: a look-up in a table of every combination of the 9 flag bits.
#[inline(always)]
pub fn tcp_class(flags: TcpFlags) -> Class {
    TCP_CLASSES[usize::from(flags.0 & 0x1ff)]
}

/// The class of each combination of TCP flags, worked out when the program is built.
static TCP_CLASSES: [Class; 512] = {
    let mut table = [Class::TcpAnomaly; 512];
    let mut flags = 0;
    while flags < 512 {
        table[flags] = tcp_class_of(flags as u16);
        flags += 1;
    }
    table
};

/// How an engineer reads a combination of TCP flags.
const fn tcp_class_of(flags: u16) -> Class {
    const fn has_bit(flags: u16, bit: u16) -> bool {
        flags & bit != 0
    }
    let (syn, ack, fin, rst) = (
        has_bit(flags, TcpFlags::SYN),
        has_bit(flags, TcpFlags::ACK),
        has_bit(flags, TcpFlags::FIN),
        has_bit(flags, TcpFlags::RST),
    );
    let low = flags & 0x3f;
    if low == 0 || (syn && (fin || rst)) {
        return Class::TcpAnomaly;
    }
    // Xmas: FIN+PSH+URG without ACK.
    if fin && has_bit(flags, TcpFlags::PSH) && has_bit(flags, TcpFlags::URG) && !ack {
        return Class::TcpAnomaly;
    }
    if syn {
        // RFC 3168: a SYN negotiating ECN sets both ECE and CWR; one alone is a crafted packet.
        if !ack && has_bit(flags, TcpFlags::ECE) != has_bit(flags, TcpFlags::CWR) {
            return Class::TcpAnomaly;
        }
        return if ack { Class::SynAck } else { Class::Syn };
    }
    if rst {
        return Class::Rst;
    }
    if fin {
        return Class::Fin;
    }
    if ack {
        return Class::Ack;
    }
    // PSH or URG alone.
    Class::TcpAnomaly
}

/// Slots in the first-fragment and orphan tables (a power of two).
const FRAGMENT_SLOTS: usize = 1 << 14;
/// Slots in the table of first fragments that came late (a power of two).
const LATE_SLOTS: usize = 1 << 18;

/// Classifies packets; remembers the class of first fragments so later fragments join them.
///
/// A later fragment that arrives before its first fragment (out of order: 217 of 726 in one
/// real DNS reflection) is a [`Class::Fragment`] when it arrives. The classifier remembers
/// such orphans, and when their first fragment comes, the class it gives them
/// ([`Classifier::late_class`]): the second pass, which measures every attack, asks for it, so
/// a reordered fragment counts in its datagram's attack. The reorder window is the orphan
/// table: a first fragment that comes before 16,384 other orphans have taken its
/// slot. What is learnt is kept for the whole capture in 2^18 slots (2 MiB, made at
/// the first out-of-order datagram), so that two reordered datagrams rarely share one.
pub struct Classifier {
    /// Direct-mapped: slot = hash of (src, dst, id, proto); holds (tag, class index + 1).
    fragments: Vec<(u32, u8)>,
    /// Later fragments seen before their first fragment: (tag, packets), same slots.
    orphans: Vec<(u32, u32)>,
    /// The class of first fragments that came after some of their later fragments: (tag,
    /// class index + 1), same slots.
    late: Vec<(u32, u8)>,
    /// Orphans whose first fragment came later.
    resolved: u64,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier {
            fragments: vec![(0, 0); FRAGMENT_SLOTS],
            orphans: Vec::new(),
            late: Vec::new(),
            resolved: 0,
        }
    }
}

fn fragment_key(p: &Packet<'_>) -> Option<u64> {
    let ip = p.ip.as_ref()?;
    let a = crate::sketch::mix_u128(addr_bits(ip.src));
    let b = crate::sketch::mix_u128(addr_bits(ip.dst));
    Some(crate::sketch::fmix64(
        a ^ b.rotate_left(17) ^ (u64::from(ip.id) << 8) ^ u64::from(ip.proto),
    ))
}

/// Whether an address in 128-bit form is an IPv4 address (mapped into IPv6).
pub fn is_v4(a: u128) -> bool {
    a >> 32 == 0xffff
}

/// The address an [`addr_bits`] value stands for.
pub fn addr_from_bits(a: u128) -> std::net::IpAddr {
    if is_v4(a) {
        std::net::IpAddr::V4(std::net::Ipv4Addr::from(a as u32))
    } else {
        std::net::IpAddr::V6(std::net::Ipv6Addr::from(a))
    }
}

/// An address as 128 bits (IPv4 mapped into IPv6), the form every sketch keys on.
#[inline]
pub fn addr_bits(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        std::net::IpAddr::V6(a) => u128::from(a),
    }
}

impl Classifier {
    /// The class of a packet: its vector, judged on its headers and the flows seen before it.
    #[inline(always)]
    pub fn classify(&mut self, p: &Packet<'_>) -> Class {
        let Some(ip) = p.ip.as_ref() else {
            return Class::Undecoded;
        };
        if ip.is_later_fragment() {
            if let Some(k) = fragment_key(p) {
                let (tag, c) = self.fragments[k as usize & (FRAGMENT_SLOTS - 1)];
                if c != 0 && tag == (k >> 32) as u32 {
                    return Class::from_index(c as usize - 1);
                }
                self.note_orphan(k);
            }
            return Class::Fragment;
        }
        let class = match &p.transport {
            Transport::Tcp(t) => tcp_class(t.flags),
            Transport::Udp(u) => udp_class(u.src_port, u.dst_port),
            Transport::Icmp(_) => Class::Icmp,
            _ => match ip.proto {
                47 => Class::Gre,
                // A first fragment or a short packet too small to hold its transport header.
                6 | 17 | 1 | 58 => Class::Undecoded,
                _ => Class::OtherProto,
            },
        };
        if ip.is_fragment {
            if let Some(k) = fragment_key(p) {
                let slot = k as usize & (FRAGMENT_SLOTS - 1);
                let tag = (k >> 32) as u32;
                self.fragments[slot] = (tag, class.index() as u8 + 1);
                if let Some(&(orphan_tag, n)) = self.orphans.get(slot) {
                    if n > 0 && orphan_tag == tag {
                        self.note_late(k, class);
                        self.resolved += u64::from(n);
                        self.orphans[slot] = (0, 0);
                    }
                }
            }
        }
        class
    }

    #[cold]
    fn note_late(&mut self, k: u64, class: Class) {
        if self.late.is_empty() {
            self.late = vec![(0, 0); LATE_SLOTS];
        }
        self.late[k as usize & (LATE_SLOTS - 1)] = ((k >> 32) as u32, class.index() as u8 + 1);
    }

    #[cold]
    fn note_orphan(&mut self, k: u64) {
        if self.orphans.is_empty() {
            self.orphans = vec![(0, 0); FRAGMENT_SLOTS];
        }
        let slot = k as usize & (FRAGMENT_SLOTS - 1);
        let tag = (k >> 32) as u32;
        let (t, n) = self.orphans[slot];
        self.orphans[slot] = (tag, if t == tag { n.saturating_add(1) } else { 1 });
    }

    /// The class of a later fragment that arrived before its first fragment, once the first
    /// has come; `None` for any other packet.
    pub fn late_class(&self, p: &Packet<'_>) -> Option<Class> {
        if !p.ip.as_ref()?.is_later_fragment() {
            return None;
        }
        let k = fragment_key(p)?;
        let &(tag, c) = self.late.get(k as usize & (LATE_SLOTS - 1))?;
        (c != 0 && tag == (k >> 32) as u32).then(|| Class::from_index(c as usize - 1))
    }

    /// Later fragments that arrived before their first fragment, whose first fragment came.
    pub fn resolved_orphans(&self) -> u64 {
        self.resolved
    }

    /// Adds what another thread's classifier learnt of late first fragments.
    pub fn merge_late(&mut self, o: &Classifier) {
        if self.late.is_empty() && !o.late.is_empty() {
            self.late = vec![(0, 0); LATE_SLOTS];
        }
        for (mine, theirs) in self.late.iter_mut().zip(&o.late) {
            if mine.1 == 0 {
                *mine = *theirs;
            }
        }
        self.resolved += o.resolved;
    }
}

/// The class of a UDP packet by its ports: a reflected service's answers, QUIC, DNS queries, or
/// other UDP.
#[inline]
pub fn udp_class(src_port: u16, dst_port: u16) -> Class {
    if src_port != dst_port {
        if let Some(i) = service_for_port(src_port) {
            return Class::Reflection(i);
        }
    }
    match dst_port {
        53 => Class::DnsQuery,
        443 => Class::Quic,
        _ => Class::Udp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_round_trip_and_names_are_unique_per_port() {
        for (i, c) in Class::all().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(Class::from_index(i), c);
        }
        assert_eq!(Class::all().count(), Class::COUNT);
        assert_eq!(REFLECTION_NAMES.len(), SERVICES.len());
        for (s, name) in SERVICES.iter().zip(REFLECTION_NAMES) {
            assert_eq!(format!("{}-reflection", s.name), name);
        }
    }

    #[test]
    fn flags_classify_like_an_engineer_would() {
        let f = |bits: u16| tcp_class(TcpFlags(bits));
        assert_eq!(f(0x02), Class::Syn);
        assert_eq!(f(0x02 | 0x40 | 0x80), Class::Syn, "ECN setup SYN");
        assert_eq!(f(0x02 | 0x40), Class::TcpAnomaly, "SYN+ECE alone");
        assert_eq!(f(0x12), Class::SynAck);
        assert_eq!(f(0x10), Class::Ack);
        assert_eq!(f(0x18), Class::Ack);
        assert_eq!(f(0x04), Class::Rst);
        assert_eq!(f(0x14), Class::Rst);
        assert_eq!(f(0x11), Class::Fin);
        assert_eq!(f(0x01), Class::Fin);
        assert_eq!(f(0x00), Class::TcpAnomaly, "null scan");
        assert_eq!(f(0x29), Class::TcpAnomaly, "xmas");
        assert_eq!(f(0x03), Class::TcpAnomaly, "SYN+FIN");
        assert_eq!(f(0x06), Class::TcpAnomaly, "SYN+RST");
    }

    #[test]
    fn udp_ports_name_the_service() {
        assert_eq!(udp_class(53, 40000).vector(), "dns-reflection");
        assert_eq!(udp_class(4500, 1234).vector(), "isakmp-reflection");
        assert_eq!(udp_class(37810, 30120).vector(), "dvr-reflection");
        assert_eq!(udp_class(47808, 30120).vector(), "bacnet-reflection");
        assert_eq!(udp_class(53, 53), Class::DnsQuery, "server to server");
        assert_eq!(udp_class(40000, 443), Class::Quic);
        assert_eq!(udp_class(40000, 9999), Class::Udp);
    }
}
