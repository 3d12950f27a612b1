//! Attack traffic, vector by vector, shaped like the real thing: spoofed floods from random
//! sources with one origin's TTL, reflections from a fixed pool of reflectors each at its own
//! distance, amplified responses of the sizes the abused services really send (DNS ANY/RRSIG
//! answers fragmented past the MTU, NTP monlist, memcached, CLDAP...), scans walking ports or
//! addresses.

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::packets::{self, Flags, V4};

/// One attack vector levee synth can produce. Names are `levee analyze`'s vector names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttackVector {
    /// SYNs from forged sources (random addresses and TTLs).
    SynFlood,
    /// ACKs outside any connection, from forged sources.
    AckFlood,
    /// Resets outside any connection, from forged sources.
    RstFlood,
    /// FIN-ACKs outside any connection, from forged sources.
    FinFlood,
    /// Xmas-tree packets (FIN+PSH+URG).
    TcpAnomaly,
    /// SYN-ACKs from web servers answering SYNs forged with the victim's address.
    SynAckReflection,
    /// Random UDP payloads to the target port, from forged sources.
    UdpFlood,
    /// QUIC Initial packets to port 443, from forged sources.
    QuicFlood,
    /// The same datagram every time (a tool's hard-coded 1,200 bytes: the size of a QUIC
    /// Initial, so its length alone also matches real QUIC) to random ports, from forged
    /// sources: only its payload tells it from real traffic. Reported as a `udp-flood`.
    UdpPayloadFlood,
    /// ICMP echo requests, from forged sources.
    IcmpFlood,
    /// Later fragments of datagrams that never had a first one.
    IpFragmentFlood,
    /// GRE carrying a protocol levee does not decapsulate.
    GreFlood,
    /// Packets of unassigned or rarely used IP protocols.
    IpProtoFlood,
    /// Reflection from a known service, by index into [`REFLECTIONS`].
    Reflection(usize),
    /// Reflection from a service port levee has no name for.
    UdpReflection,
    /// Random subdomains of the victim's zone, relayed by open resolvers to its name server.
    DnsWaterTorture,
    /// DNS reflection spread over every address of the victim's /24.
    CarpetBombing,
    /// One source SYN-probing every port of the victim (masscan's fingerprint).
    PortScan,
    /// One source SYN-probing port 22 across the victim's /16.
    HostScan,
}

/// A reflection service: vector name, source port, and the size range of its responses
/// (UDP payload bytes).
pub struct Reflection {
    pub vector: &'static str,
    pub port: u16,
    pub sizes: (usize, usize),
}

/// Services with the response sizes seen in real amplification attacks.
pub const REFLECTIONS: &[Reflection] = &[
    Reflection {
        vector: "dns-reflection",
        port: 53,
        sizes: (3000, 4096),
    },
    Reflection {
        vector: "ntp-reflection",
        port: 123,
        sizes: (440, 440),
    },
    Reflection {
        vector: "memcached-reflection",
        port: 11211,
        sizes: (1400, 1400),
    },
    Reflection {
        vector: "ssdp-reflection",
        port: 1900,
        sizes: (280, 340),
    },
    Reflection {
        vector: "cldap-reflection",
        port: 389,
        sizes: (2800, 3200),
    },
    Reflection {
        vector: "snmp-reflection",
        port: 161,
        sizes: (1100, 1400),
    },
    Reflection {
        vector: "chargen-reflection",
        port: 19,
        sizes: (74, 1024),
    },
    Reflection {
        vector: "ws-discovery-reflection",
        port: 3702,
        sizes: (600, 1200),
    },
    Reflection {
        vector: "isakmp-reflection",
        port: 500,
        sizes: (180, 260),
    },
    Reflection {
        vector: "netbios-reflection",
        port: 137,
        sizes: (229, 229),
    },
    Reflection {
        vector: "mdns-reflection",
        port: 5353,
        sizes: (300, 500),
    },
    Reflection {
        vector: "portmap-reflection",
        port: 111,
        sizes: (480, 1100),
    },
    Reflection {
        vector: "ubiquiti-reflection",
        port: 10001,
        sizes: (130, 200),
    },
    Reflection {
        vector: "dvr-reflection",
        port: 37810,
        sizes: (600, 850),
    },
    Reflection {
        vector: "bacnet-reflection",
        port: 47808,
        sizes: (90, 200),
    },
    Reflection {
        vector: "openvpn-reflection",
        port: 1194,
        sizes: (100, 140),
    },
    Reflection {
        vector: "coap-reflection",
        port: 5683,
        sizes: (200, 600),
    },
];

impl AttackVector {
    /// The vector's name, as `levee analyze` reports it.
    pub fn name(self) -> &'static str {
        match self {
            AttackVector::SynFlood => "syn-flood",
            AttackVector::AckFlood => "ack-flood",
            AttackVector::RstFlood => "rst-flood",
            AttackVector::FinFlood => "fin-flood",
            AttackVector::TcpAnomaly => "tcp-anomaly",
            AttackVector::SynAckReflection => "synack-reflection",
            AttackVector::UdpFlood => "udp-flood",
            AttackVector::QuicFlood => "quic-flood",
            AttackVector::UdpPayloadFlood => "udp-payload-flood",
            AttackVector::IcmpFlood => "icmp-flood",
            AttackVector::IpFragmentFlood => "ip-fragment-flood",
            AttackVector::GreFlood => "gre-flood",
            AttackVector::IpProtoFlood => "ip-proto-flood",
            AttackVector::Reflection(i) => REFLECTIONS[i].vector,
            AttackVector::UdpReflection => "udp-reflection",
            AttackVector::DnsWaterTorture => "dns-water-torture",
            AttackVector::CarpetBombing => "carpet-bombing",
            AttackVector::PortScan => "port-scan",
            AttackVector::HostScan => "host-scan",
        }
    }

    /// Every vector, in a fixed order.
    pub fn all() -> Vec<AttackVector> {
        let mut v = vec![
            AttackVector::SynFlood,
            AttackVector::AckFlood,
            AttackVector::RstFlood,
            AttackVector::FinFlood,
            AttackVector::TcpAnomaly,
            AttackVector::SynAckReflection,
            AttackVector::UdpFlood,
            AttackVector::QuicFlood,
            AttackVector::UdpPayloadFlood,
            AttackVector::IcmpFlood,
            AttackVector::IpFragmentFlood,
            AttackVector::GreFlood,
            AttackVector::IpProtoFlood,
        ];
        v.extend((0..REFLECTIONS.len()).map(AttackVector::Reflection));
        v.extend([
            AttackVector::UdpReflection,
            AttackVector::DnsWaterTorture,
            AttackVector::CarpetBombing,
            AttackVector::PortScan,
            AttackVector::HostScan,
        ]);
        v
    }

    /// The vector `levee analyze` reports the attack as: its name, but for the floods it
    /// tells apart by their signatures alone.
    pub fn reported_as(self) -> &'static str {
        match self {
            AttackVector::UdpPayloadFlood => "udp-flood",
            v => v.name(),
        }
    }

    /// The vector of a name (see [`AttackVector::name`]).
    pub fn parse(name: &str) -> Option<AttackVector> {
        AttackVector::all().into_iter().find(|v| v.name() == name)
    }

    /// Whether the vector comes from a handful of sources at a scan's pace rather than a
    /// flood's (it gets a fixed share of the attack budget, not an equal one).
    pub fn is_scan(self) -> bool {
        matches!(self, AttackVector::PortScan | AttackVector::HostScan)
    }
}

/// A pool of real-looking hosts (reflectors, bots, open resolvers), each with its own TTL.
pub(crate) struct HostPool {
    hosts: Vec<([u8; 4], u8)>,
}

pub(crate) fn public_addr(rng: &mut ChaCha8Rng) -> [u8; 4] {
    loop {
        let a: [u8; 4] = rng.random::<u32>().to_be_bytes();
        let bogon = matches!(
            a[0],
            0 | 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203 | 224..=255
        );
        if !bogon {
            return a;
        }
    }
}

/// A random address of one of `nets` (address, prefix length).
fn addr_in(rng: &mut ChaCha8Rng, nets: &[([u8; 4], u8)]) -> [u8; 4] {
    let (base, len) = nets[rng.random_range(0..nets.len())];
    let len = u32::from(len.min(32));
    let host_bits = 32 - len;
    let mask = if host_bits == 32 {
        0
    } else {
        u32::MAX << host_bits
    };
    let host = if host_bits == 0 {
        0
    } else {
        rng.random::<u32>() & !mask
    };
    ((u32::from_be_bytes(base) & mask) | host).to_be_bytes()
}

impl HostPool {
    pub(crate) fn new(rng: &mut ChaCha8Rng, n: usize) -> HostPool {
        HostPool::within(rng, n, &[])
    }

    /// `n` hosts from `nets`, or random public addresses when `nets` is empty.
    pub(crate) fn within(rng: &mut ChaCha8Rng, n: usize, nets: &[([u8; 4], u8)]) -> HostPool {
        let hosts = (0..n)
            .map(|_| {
                let initial: u8 = match rng.random_range(0..10) {
                    0..=5 => 64,
                    6..=8 => 128,
                    _ => 255,
                };
                let addr = if nets.is_empty() {
                    public_addr(rng)
                } else {
                    addr_in(rng, nets)
                };
                (addr, initial - rng.random_range(4..24))
            })
            .collect();
        HostPool { hosts }
    }

    pub(crate) fn pick(&self, rng: &mut ChaCha8Rng) -> ([u8; 4], u8) {
        self.hosts[rng.random_range(0..self.hosts.len())]
    }
}

/// State shared by the attack streams of one capture.
pub(crate) struct AttackState {
    reflectors: HostPool,
    resolvers: HostPool,
    /// The scanner's position in its walk.
    scan_step: u32,
    scanner: [u8; 4],
    icmp_seq: u16,
}

impl AttackState {
    /// `reflector_nets`: where reflectors come from (random public addresses when empty).
    pub(crate) fn new(rng: &mut ChaCha8Rng, reflector_nets: &[([u8; 4], u8)]) -> AttackState {
        AttackState {
            reflectors: HostPool::within(rng, 3000, reflector_nets),
            resolvers: HostPool::new(rng, 300),
            scan_step: 0,
            scanner: public_addr(rng),
            icmp_seq: 0,
        }
    }
}

/// A spoofed source with the TTL of the one machine really sending.
fn spoofed(rng: &mut ChaCha8Rng, dst: [u8; 4]) -> V4 {
    V4 {
        src: public_addr(rng),
        dst,
        ttl: rng.random_range(48..56),
        id: rng.random(),
        df: false,
    }
}

/// The datagram of a [`AttackVector::UdpPayloadFlood`]: 1,200 bytes drawn once from a fixed
/// seed, the same in every capture.
fn tool_payload() -> &'static [u8] {
    static PAYLOAD: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PAYLOAD.get_or_init(|| {
        use rand::SeedableRng;
        random_bytes(&mut ChaCha8Rng::seed_from_u64(0x1e7e_e5ee_d000), 1200)
    })
}

fn random_bytes(rng: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.random()).collect()
}

/// The UDP payload a reflection service answers with.
fn reflection_payload(rng: &mut ChaCha8Rng, r: &Reflection, victim_port: u16) -> Vec<u8> {
    let size = rng.random_range(r.sizes.0..=r.sizes.1);
    match r.port {
        53 => {
            let q = packets::dns_query(rng.random(), "example.gov", 255);
            packets::dns_big_response(&q, size.saturating_sub(q.len() + 12))
        }
        123 => {
            // NTP mode 7 response, implementation XNTPD, request MON_GETLIST_1, 6 items of 72.
            let mut m = vec![0xd7, 0x00, 0x03, 0x2a, 0x00, 0x06, 0x00, 0x48];
            m.extend(random_bytes(rng, 432));
            m
        }
        11211 => {
            // memcached UDP frame header, then a `VALUE` line and data.
            let mut m = vec![0, 1, 0, 0, 0, 1, 0, 0];
            m.extend(b"VALUE a 0 1024000\r\n");
            m.resize(size, b'A');
            m
        }
        1900 => {
            let mut m = format!(
                "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nLOCATION: \
                 http://192.168.1.1:{victim_port}/rootDesc.xml\r\nSERVER: Linux/3.14 UPnP/1.0 \
                 IpBridge/1.26.0\r\nST: upnp:rootdevice\r\nUSN: uuid:2f402f80-da50-11e1-9b23-\
                 001788255acb::upnp:rootdevice\r\n\r\n"
            )
            .into_bytes();
            m.resize(size, b' ');
            m
        }
        389 => {
            // LDAP message, searchResEntry (application 4), long form lengths.
            let mut m = vec![0x30, 0x84];
            m.extend(((size - 6) as u32).to_be_bytes());
            m.extend([0x02, 0x01, 0x01, 0x64, 0x84]);
            m.extend(((size - 13) as u32).to_be_bytes());
            m.resize(size, 0x04);
            m
        }
        161 => {
            // SNMPv2c GetResponse.
            let mut m = vec![0x30, 0x82];
            m.extend(((size - 4) as u16).to_be_bytes());
            m.extend([0x02, 0x01, 0x01, 0x04, 0x06]);
            m.extend(b"public");
            m.extend([0xa2, 0x82]);
            m.extend(((size - 17) as u16).to_be_bytes());
            m.resize(size, 0x05);
            m
        }
        19 => (0..size).map(|i| b' ' + (i % 95) as u8).collect(),
        _ => random_bytes(rng, size),
    }
}

/// Writes the frames of one attack event (one packet, or the fragments of one datagram).
pub(crate) fn attack_event(
    rng: &mut ChaCha8Rng,
    st: &mut AttackState,
    v: AttackVector,
    target_port: u16,
    victim: [u8; 4],
    out: &mut VecDeque<Vec<u8>>,
) {
    let mut buf = Vec::with_capacity(1600);
    match v {
        AttackVector::SynFlood
        | AttackVector::AckFlood
        | AttackVector::RstFlood
        | AttackVector::FinFlood
        | AttackVector::TcpAnomaly => out.push_back(spoofed_tcp(rng, v, target_port, victim)),
        AttackVector::SynAckReflection => out.push_back(synack_reflection(rng, st, victim)),
        AttackVector::UdpFlood | AttackVector::QuicFlood => {
            let h = spoofed(rng, victim);
            let (dport, payload) = if v == AttackVector::QuicFlood {
                // A QUIC Initial: long header, version 1, padded to 1200 bytes.
                let mut p = vec![0xc3, 0, 0, 0, 1, 8];
                p.extend(random_bytes(rng, 8));
                p.resize(1200, 0);
                (443, p)
            } else {
                (target_port, random_bytes(rng, 512))
            };
            packets::udp(&mut buf, h, rng.random_range(1024..=65535), dport, &payload);
            out.push_back(buf);
        }
        AttackVector::UdpPayloadFlood => {
            let h = spoofed(rng, victim);
            let (sport, dport) = (rng.random_range(1024..=65535), rng.random_range(1..=65535));
            packets::udp(&mut buf, h, sport, dport, tool_payload());
            out.push_back(buf);
        }
        AttackVector::IcmpFlood => {
            let h = spoofed(rng, victim);
            st.icmp_seq = st.icmp_seq.wrapping_add(1);
            packets::icmp_echo(&mut buf, h, rng.random(), st.icmp_seq, 1000);
            out.push_back(buf);
        }
        AttackVector::IpFragmentFlood => {
            // Later fragments of datagrams that never had a first fragment.
            let h = spoofed(rng, victim);
            let payload = random_bytes(rng, 1480);
            packets::ipv4_frame(&mut buf, h, 17, &payload, rng.random_range(185..1000), true);
            out.push_back(buf);
        }
        AttackVector::GreFlood => {
            // GRE carrying a protocol levee does not decapsulate, with random content.
            let h = spoofed(rng, victim);
            let mut payload = vec![0, 0, 0x88, 0x0b];
            payload.extend(random_bytes(rng, 540));
            packets::ipv4_frame(&mut buf, h, 47, &payload, 0, false);
            out.push_back(buf);
        }
        AttackVector::IpProtoFlood => {
            let h = spoofed(rng, victim);
            let proto = [0u8, 77, 143, 253, 254, 255][rng.random_range(0..6)];
            packets::ipv4_frame(&mut buf, h, proto, &random_bytes(rng, 256), 0, false);
            out.push_back(buf);
        }
        AttackVector::Reflection(_) | AttackVector::UdpReflection | AttackVector::CarpetBombing => {
            reflection(rng, st, v, victim, out)
        }
        AttackVector::DnsWaterTorture => out.push_back(water_torture(rng, st, victim)),
        AttackVector::PortScan | AttackVector::HostScan => {
            out.push_back(scan_probe(rng, st, v, victim))
        }
    }
}

/// A TCP packet of a flood from a forged source: SYN, ACK, RST, FIN, or nonsense flags.
fn spoofed_tcp(
    rng: &mut ChaCha8Rng,
    v: AttackVector,
    target_port: u16,
    victim: [u8; 4],
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(1600);
    let no_flags = Flags::default();
    let h = spoofed(rng, victim);
    let flags = match v {
        AttackVector::SynFlood => Flags {
            syn: true,
            ..no_flags
        },
        AttackVector::AckFlood => Flags {
            ack: Some(rng.random()),
            ..no_flags
        },
        AttackVector::RstFlood => Flags {
            rst: true,
            ..no_flags
        },
        AttackVector::FinFlood => Flags {
            fin: true,
            ack: Some(rng.random()),
            ..no_flags
        },
        _ => Flags {
            fin: true,
            psh: true,
            urg: true,
            ..no_flags
        },
    };
    packets::tcp(
        &mut buf,
        h,
        rng.random_range(1024..=65535),
        target_port,
        rng.random(),
        1024,
        flags,
        &[],
        &[],
    );
    buf
}

/// A SYN-ACK from a web server answering a SYN forged with the victim's address.
fn synack_reflection(rng: &mut ChaCha8Rng, st: &mut AttackState, victim: [u8; 4]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(1600);
    let no_flags = Flags::default();
    let (src, ttl) = st.reflectors.pick(rng);
    let h = V4 {
        src,
        dst: victim,
        ttl,
        id: 0,
        df: true,
    };
    let sport = if rng.random_bool(0.8) { 80 } else { 443 };
    packets::tcp(
        &mut buf,
        h,
        sport,
        rng.random_range(1024..=65535),
        rng.random(),
        65535,
        Flags {
            syn: true,
            ack: Some(rng.random()),
            ..no_flags
        },
        &[2, 4, 0x05, 0xb4],
        &[],
    );
    buf
}

/// A UDP service's answer (fragmented when large) to a request forged with the victim's address, or with an address of its /24 (carpet bombing).
fn reflection(
    rng: &mut ChaCha8Rng,
    st: &mut AttackState,
    v: AttackVector,
    victim: [u8; 4],
    out: &mut VecDeque<Vec<u8>>,
) {
    let (r, dst) = match v {
        AttackVector::Reflection(i) => (&REFLECTIONS[i], victim),
        AttackVector::CarpetBombing => (
            &REFLECTIONS[0],
            [victim[0], victim[1], victim[2], rng.random()],
        ),
        _ => (
            &Reflection {
                vector: "udp-reflection",
                port: 27960,
                sizes: (900, 1100),
            },
            victim,
        ),
    };
    let (src, ttl) = st.reflectors.pick(rng);
    let h = V4 {
        src,
        dst,
        ttl,
        id: rng.random(),
        df: false,
    };
    let dport = rng.random_range(1024..=65535);
    let payload = reflection_payload(rng, r, dport);
    for frame in packets::udp_fragmented(h, r.port, dport, &payload) {
        out.push_back(frame);
    }
}

/// Open resolvers relaying random-subdomain queries to the victim's name server.
fn water_torture(rng: &mut ChaCha8Rng, st: &mut AttackState, victim: [u8; 4]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(1600);
    // Open resolvers relaying random-subdomain queries to the victim's name server.
    let (src, ttl) = st.resolvers.pick(rng);
    let h = V4 {
        src,
        dst: crate::resolver_of(victim),
        ttl,
        id: rng.random(),
        df: false,
    };
    let label: String = (0..12)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect();
    let q = packets::dns_query(rng.random(), &format!("{label}.victim-shop.com"), 1);
    packets::udp(&mut buf, h, rng.random_range(1024..=65535), 53, &q);
    buf
}

/// A masscan probe: the next port of the victim, or port 22 of the next host of its /16.
fn scan_probe(
    rng: &mut ChaCha8Rng,
    st: &mut AttackState,
    v: AttackVector,
    victim: [u8; 4],
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(1600);
    let no_flags = Flags::default();
    st.scan_step += 1;
    let (dst, dport) = if v == AttackVector::PortScan {
        (victim, (st.scan_step % 65535) as u16 + 1)
    } else {
        let n = st.scan_step % 65536;
        ([victim[0], victim[1], (n >> 8) as u8, n as u8], 22)
    };
    // masscan's fingerprint: window 1024, no options, a fixed IP ID.
    let h = V4 {
        src: st.scanner,
        dst,
        ttl: 241,
        id: 54321,
        df: false,
    };
    packets::tcp(
        &mut buf,
        h,
        61000,
        dport,
        rng.random(),
        1024,
        Flags {
            syn: true,
            ..no_flags
        },
        &[],
        &[],
    );
    buf
}

#[cfg(test)]
mod pool_tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hosts_within_nets_stay_inside_them() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let nets = [
            ([89, 160, 20, 128], 25),
            ([1, 128, 0, 0], 11),
            ([10, 0, 0, 9], 32),
        ];
        let pool = HostPool::within(&mut rng, 500, &nets);
        let mut seen = [0; 3];
        for (a, ttl) in &pool.hosts {
            let v = u32::from_be_bytes(*a);
            let i = if v >> 7 == u32::from_be_bytes([89, 160, 20, 128]) >> 7 {
                0
            } else if v >> 21 == u32::from_be_bytes([1, 128, 0, 0]) >> 21 {
                1
            } else {
                assert_eq!(*a, [10, 0, 0, 9]);
                2
            };
            seen[i] += 1;
            assert!(*ttl > 30);
        }
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }
}
