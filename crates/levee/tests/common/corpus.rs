//! The crafted capture and the random rules of the differential tests: frames of every kind
//! a network carries (crafted byte by byte) and expressions drawn over the header fields and
//! operators the packet targets take, with the named lists they may use. `differential.rs`
//! runs them on the kernel engines and libpcap, `cloudflare.rs` on Cloudflare's engine.

use std::path::Path;

use super::Rng;

/// Packets in the crafted capture.
pub const PACKETS: usize = 1500;
/// Capture timestamps: packet `i` at `BASE_S` + `i` ms, so tcpdump's times name packets.
pub const BASE_S: i64 = 1_700_000_000;

/// What kind of packet a frame is, for the engines' documented reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Ipv4,
    Ipv4Options,
    Ipv4Fragment,
    /// A first fragment too short for its TCP header (RFC 1858): levee decodes no TCP,
    /// libpcap and nftables read what bytes there are, iptables drops it as an "evil
    /// tinygram" in its tcp match, whatever the rule.
    TinyFragment,
    Ipv6,
    Ipv6ExtensionHeaders,
    Ipv6Fragment,
    Vlan,
    QinQ,
    Tunnel,
    NotIp,
}

pub mod craft {
    //! Frames built byte by byte: Ethernet, VLAN tags, IPv4 (with checksum, options,
    //! fragments), IPv6 (with hop-by-hop and fragment headers), TCP, UDP, ICMP, ICMPv6, GRE
    //! and IP-in-IP tunnels, ARP.

    use super::Kind;
    use crate::common::Rng;

    pub const VICTIMS4: [[u8; 4]; 2] = [[10, 10, 10, 10], [10, 10, 10, 11]];
    pub const SOURCES4: [[u8; 4]; 6] = [
        [192, 0, 2, 1],
        [192, 0, 2, 77],
        [198, 51, 100, 7],
        [198, 51, 100, 200],
        [203, 0, 113, 9],
        [10, 10, 10, 10],
    ];
    pub const VICTIM6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    pub fn source6(r: &mut Rng) -> [u8; 16] {
        let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        a[15] = *r.pick(&[1u8, 2, 0x50, 0xfe]);
        a[5] = *r.pick(&[1u8, 2]);
        a
    }

    /// The Internet checksum of `data` (RFC 1071).
    pub fn csum(data: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from(c[0]) << 8
            };
            sum += u32::from(w);
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    pub struct L4 {
        pub proto: u8,
        pub bytes: Vec<u8>,
    }

    fn ports(r: &mut Rng) -> u16 {
        if r.chance(60) {
            *r.pick(&[22u16, 53, 80, 123, 443, 1900, 11211, 3389, 0, 65535])
        } else {
            1024 + r.below(64512) as u16
        }
    }

    pub fn tcp(r: &mut Rng) -> L4 {
        let flags: u16 = *r.pick(&[
            0x002, 0x012, 0x010, 0x004, 0x014, 0x011, 0x018, 0x0c2, 0x110, 0x000, 0x029, 0x1ff,
        ]);
        let mut b = Vec::new();
        b.extend(ports(r).to_be_bytes());
        b.extend(ports(r).to_be_bytes());
        b.extend((r.next() as u32).to_be_bytes());
        b.extend((r.next() as u32).to_be_bytes());
        let words: u16 = if r.chance(30) { 8 } else { 5 };
        b.extend(((words << 12) | flags).to_be_bytes());
        let window = *r.pick(&[0u16, 1024, 5840, 29200, 64240, 65535]);
        b.extend(window.to_be_bytes());
        b.extend([0, 0, 0, 0]);
        if words == 8 {
            b.extend([2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 0, 0]);
        }
        let payload = *r.pick(&[0usize, 0, 6, 100, 1000]);
        b.extend((0..payload).map(|i| i as u8));
        L4 { proto: 6, bytes: b }
    }

    pub fn udp(r: &mut Rng) -> L4 {
        let payload = *r.pick(&[0usize, 8, 48, 100, 468, 1200]);
        let mut b = Vec::new();
        b.extend(ports(r).to_be_bytes());
        b.extend(ports(r).to_be_bytes());
        b.extend(((8 + payload) as u16).to_be_bytes());
        b.extend([0, 0]);
        b.extend((0..payload).map(|i| (i * 7) as u8));
        L4 {
            proto: 17,
            bytes: b,
        }
    }

    /// ICMP (or ICMPv6 when `v6`); errors quote an IP header and 8 bytes.
    pub fn icmp(r: &mut Rng, v6: bool) -> L4 {
        let (t, c) = if v6 {
            *r.pick(&[(1u8, 4u8), (2, 0), (3, 0), (128, 0), (129, 0), (135, 0)])
        } else {
            *r.pick(&[(0u8, 0u8), (8, 0), (3, 3), (3, 4), (11, 0), (5, 1)])
        };
        let mut b = vec![t, c, 0, 0, 0, 0, 0x05, 0xdc];
        let error = if v6 {
            t <= 4
        } else {
            matches!(t, 3 | 4 | 5 | 11 | 12)
        };
        if error && r.chance(75) {
            // The packet the error is about: its IP header and first bytes, as routers
            // quote them, sometimes cut short, with options, or a later fragment.
            let l4 = if r.chance(50) { udp(r) } else { tcp(r) };
            let mut quote = if v6 {
                ipv6(source6(r), VICTIM6, 64, 0, &[], l4.proto, &l4.bytes)
            } else {
                let id = r.next() as u16;
                let mut h = v4_header(r, id);
                h.options = r.chance(10);
                if r.chance(10) {
                    h.offset = 3;
                }
                ipv4(&h, l4.proto, &l4.bytes)
            };
            let header = if v6 { 40 } else { 20 };
            let keep = *r.pick(&[
                header + 8,
                header + 8,
                header + 200,
                9,
                header + 2,
                header + 3,
            ]);
            quote.truncate(keep);
            b.extend(quote);
        } else {
            let quoted = *r.pick(&[0usize, 28, 56, 500]);
            b.extend((0..quoted).map(|i| (i * 3) as u8));
        }
        L4 {
            proto: if v6 { 58 } else { 1 },
            bytes: b,
        }
    }

    pub fn transport(r: &mut Rng, v6: bool) -> L4 {
        match r.below(10) {
            0..=3 => tcp(r),
            4..=7 => udp(r),
            _ => icmp(r, v6),
        }
    }

    pub struct V4 {
        pub src: [u8; 4],
        pub dst: [u8; 4],
        pub ttl: u8,
        pub id: u16,
        pub df: bool,
        pub mf: bool,
        pub offset: u16,
        pub options: bool,
    }

    pub fn v4_header(r: &mut Rng, id: u16) -> V4 {
        V4 {
            src: *r.pick(&SOURCES4),
            dst: *r.pick(&VICTIMS4),
            ttl: *r.pick(&[1u8, 32, 53, 54, 64, 117, 128, 255]),
            id,
            df: r.chance(40),
            mf: false,
            offset: 0,
            options: false,
        }
    }

    pub fn ipv4(h: &V4, proto: u8, payload: &[u8]) -> Vec<u8> {
        let hl = if h.options { 24 } else { 20 };
        let mut b = vec![0x40 | (hl / 4) as u8, 0];
        b.extend(((hl + payload.len()) as u16).to_be_bytes());
        b.extend(h.id.to_be_bytes());
        let frag = (u16::from(h.df) << 14) | (u16::from(h.mf) << 13) | h.offset;
        b.extend(frag.to_be_bytes());
        b.extend([h.ttl, proto, 0, 0]);
        b.extend(h.src);
        b.extend(h.dst);
        if h.options {
            // Router alert.
            b.extend([0x94, 4, 0, 0]);
        }
        let c = csum(&b);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b.extend(payload);
        b
    }

    /// An IPv6 packet; `ext` are (next header, header bytes) pairs after the fixed header.
    pub fn ipv6(
        src: [u8; 16],
        dst: [u8; 16],
        hop: u8,
        flow: u32,
        ext: &[(u8, Vec<u8>)],
        proto: u8,
        payload: &[u8],
    ) -> Vec<u8> {
        let ext_len: usize = ext.iter().map(|e| e.1.len()).sum();
        let mut b = Vec::new();
        b.extend((0x6000_0000u32 | (flow & 0xf_ffff)).to_be_bytes());
        b.extend(((ext_len + payload.len()) as u16).to_be_bytes());
        b.push(ext.first().map_or(proto, |e| e.0));
        b.push(hop);
        b.extend(src);
        b.extend(dst);
        for (i, (_, bytes)) in ext.iter().enumerate() {
            let mut h = bytes.clone();
            h[0] = ext.get(i + 1).map_or(proto, |e| e.0);
            b.extend(h);
        }
        b.extend(payload);
        b
    }

    pub fn hop_by_hop() -> (u8, Vec<u8>) {
        // PadN filling 8 bytes.
        (0, vec![0, 0, 1, 4, 0, 0, 0, 0])
    }

    pub fn fragment_header(offset: u16, more: bool, id: u32) -> (u8, Vec<u8>) {
        let mut h = vec![0, 0];
        h.extend(((offset << 3) | u16::from(more)).to_be_bytes());
        h.extend(id.to_be_bytes());
        (44, h)
    }

    pub fn ethernet(dst: [u8; 6], tags: &[u16], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut b = dst.to_vec();
        b.extend([0x02, 0, 0, 0, 0, 0x01]);
        for (i, t) in tags.iter().enumerate() {
            b.extend(
                if i == 0 && tags.len() > 1 {
                    0x88a8u16
                } else {
                    0x8100u16
                }
                .to_be_bytes(),
            );
            b.extend(t.to_be_bytes());
        }
        b.extend(ethertype.to_be_bytes());
        b.extend(payload);
        // A frame shorter than Ethernet's 60 bytes (its checksum left out) goes out padded,
        // and some NICs pad with whatever their buffer held ("Etherleak"): a pattern rather
        // than zeros, so an engine that reads past the IP packet into the padding is caught
        // (nftables read an ICMP quote's protocol and a first fragment's UDP payload there).
        if b.len() < ETHERNET_MIN_FRAME {
            b.resize(ETHERNET_MIN_FRAME, 0xa5);
        }
        b
    }

    /// Ethernet's shortest frame, its checksum left out.
    const ETHERNET_MIN_FRAME: usize = 60;

    pub fn arp() -> Vec<u8> {
        let mut b = vec![0, 1, 8, 0, 6, 4, 0, 1, 0x02, 0, 0, 0, 0, 1, 10, 10, 10, 1];
        b.extend([0; 6]);
        b.extend([10, 10, 10, 10]);
        b
    }

    /// One frame of a kind drawn at random, sent to `mac`; `n` makes its bytes unique.
    pub fn frame(r: &mut Rng, mac: [u8; 6], n: u16) -> (Kind, Vec<u8>) {
        let kind = *r.pick(&[
            Kind::Ipv4,
            Kind::Ipv4,
            Kind::Ipv4,
            Kind::Ipv4,
            Kind::Ipv4,
            Kind::Ipv4Options,
            Kind::Ipv4Fragment,
            Kind::Ipv4Fragment,
            Kind::TinyFragment,
            Kind::Ipv6,
            Kind::Ipv6,
            Kind::Ipv6,
            Kind::Ipv6ExtensionHeaders,
            Kind::Ipv6Fragment,
            Kind::Vlan,
            Kind::QinQ,
            Kind::Tunnel,
            Kind::NotIp,
        ]);
        let v4 = |r: &mut Rng| {
            let l4 = transport(r, false);
            ipv4(&v4_header(r, n), l4.proto, &l4.bytes)
        };
        let v6 = |r: &mut Rng, ext: Vec<(u8, Vec<u8>)>, l4: L4| {
            let src = source6(r);
            let hop = *r.pick(&[1u8, 53, 64, 255]);
            ipv6(src, VICTIM6, hop, u32::from(n), &ext, l4.proto, &l4.bytes)
        };
        let bytes = match kind {
            Kind::Ipv4 => ethernet(mac, &[], 0x0800, &v4(r)),
            Kind::Ipv4Options => {
                let l4 = transport(r, false);
                let mut h = v4_header(r, n);
                h.options = true;
                ethernet(mac, &[], 0x0800, &ipv4(&h, l4.proto, &l4.bytes))
            }
            Kind::Ipv4Fragment => {
                let l4 = transport(r, false);
                let mut h = v4_header(r, n);
                h.df = false;
                if r.chance(50) {
                    // A first fragment: the whole transport header and part of the data.
                    h.mf = true;
                    let header = match l4.proto {
                        6 => usize::from(l4.bytes[12] >> 4) * 4,
                        _ => 8,
                    };
                    let cut = ((l4.bytes.len() / 2).max(header) + 7) & !7;
                    let cut = cut.min(l4.bytes.len());
                    ethernet(mac, &[], 0x0800, &ipv4(&h, l4.proto, &l4.bytes[..cut]))
                } else {
                    // A later fragment: data only, whatever it looks like.
                    h.mf = r.chance(50);
                    h.offset = *r.pick(&[1u16, 2, 3, 185, 8191]);
                    ethernet(mac, &[], 0x0800, &ipv4(&h, l4.proto, &l4.bytes))
                }
            }
            Kind::TinyFragment => {
                let l4 = tcp(r);
                let mut h = v4_header(r, n);
                h.df = false;
                h.mf = true;
                ethernet(mac, &[], 0x0800, &ipv4(&h, 6, &l4.bytes[..8]))
            }
            Kind::Ipv6 => {
                let l4 = transport(r, true);
                ethernet(mac, &[], 0x86dd, &v6(r, Vec::new(), l4))
            }
            Kind::Ipv6ExtensionHeaders => {
                let l4 = transport(r, true);
                ethernet(mac, &[], 0x86dd, &v6(r, vec![hop_by_hop()], l4))
            }
            Kind::Ipv6Fragment => {
                let mut l4 = transport(r, true);
                let first = r.chance(50);
                if first && r.chance(50) {
                    // A first fragment cut after its transport header and part of the data:
                    // its UDP length claims the whole datagram.
                    let header = match l4.proto {
                        6 => usize::from(l4.bytes[12] >> 4) * 4,
                        _ => 8,
                    };
                    let cut = ((l4.bytes.len() / 2).max(header) + 7) & !7;
                    l4.bytes.truncate(cut.min(l4.bytes.len()));
                }
                let offset = if first { 0 } else { *r.pick(&[1u16, 8, 185]) };
                let frag = fragment_header(offset, first || r.chance(50), 0x1000 + u32::from(n));
                ethernet(mac, &[], 0x86dd, &v6(r, vec![frag], l4))
            }
            Kind::Vlan => ethernet(mac, &[100], 0x0800, &v4(r)),
            Kind::QinQ => ethernet(mac, &[100, 200], 0x0800, &v4(r)),
            Kind::Tunnel => {
                let inner = v4(r);
                let mut outer = v4_header(r, n);
                outer.src = [172, 16, 0, 1];
                outer.dst = [172, 16, 0, 2];
                if r.chance(50) {
                    let mut gre = vec![0, 0, 0x08, 0x00];
                    gre.extend(&inner);
                    ethernet(mac, &[], 0x0800, &ipv4(&outer, 47, &gre))
                } else {
                    ethernet(mac, &[], 0x0800, &ipv4(&outer, 4, &inner))
                }
            }
            Kind::NotIp => {
                let mut a = arp();
                a.extend(n.to_be_bytes());
                ethernet(mac, &[], 0x0806, &a)
            }
        };
        (kind, bytes)
    }
}

/// The crafted capture: frames and their kinds, written as pcap.
pub struct Capture {
    pub frames: Vec<Vec<u8>>,
    pub kinds: Vec<Kind>,
}

impl Capture {
    /// Every frame decoded as levee decodes it (Ethernet).
    pub fn packets(&self) -> Vec<levee_decode::Packet<'_>> {
        self.frames
            .iter()
            .map(|f| levee_decode::decode(1, f, f.len() as u32))
            .collect()
    }
}

pub fn craft_capture(seed: u64, mac: [u8; 6], path: &Path) -> Capture {
    let mut r = Rng(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut frames = Vec::new();
    let mut kinds = Vec::new();
    for n in 0..PACKETS {
        let (k, f) = craft::frame(&mut r, mac, n as u16);
        kinds.push(k);
        frames.push(f);
    }
    let file = std::fs::File::create(path).unwrap();
    let mut w = levee_capture::PcapWriter::new(file, 1, 65535).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write((BASE_S * 1_000_000_000) + i as i64 * 1_000_000, f)
            .unwrap();
    }
    w.finish().unwrap();
    Capture { frames, kinds }
}

/// The fields the packet targets take, by type.
pub const INT_FIELDS: &[&str] = &[
    "ip.proto",
    "ip.len",
    "ip.ttl",
    "ip.id",
    "ip.frag_offset",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.window",
    "udp.srcport",
    "udp.dstport",
    "udp.len",
    "icmp.type",
    "icmp.code",
    "icmp.quoted.proto",
    "icmp.quoted.srcport",
    "icmp.quoted.dstport",
];
pub const FLAG_FIELDS: &[&str] = &[
    "tcp.flags.syn",
    "tcp.flags.ack",
    "tcp.flags.reset",
    "tcp.flags.fin",
    "tcp.flags.push",
    "tcp.flags.urg",
    "tcp.flags.ecn",
    "tcp.flags.cwr",
    "ip.flags.df",
    "ip.flags.mf",
    "ip.frag",
];
pub const ADDR_FIELDS: &[&str] = &["ip.src", "ip.dst"];

/// Named address lists rules draw from (`ip.src in $l4`): IPv4 only, IPv6 only, and both.
pub const LISTS: &[&str] = &["l4", "l6", "lmix"];

/// Writes the lists beside the rules files, from addresses the capture holds (some widened to
/// a prefix), and returns them as levee loads them.
pub fn write_lists(
    r: &mut Rng,
    packets: &[levee_decode::Packet<'_>],
    dir: &Path,
) -> levee_rules::Lists {
    let mut lists = levee_rules::Lists::new();
    for name in LISTS {
        let mut nets = Vec::new();
        while nets.len() < 6 {
            let field = *r.pick(ADDR_FIELDS);
            let a: std::net::IpAddr = sample_addr(r, field, packets).parse().unwrap();
            let wanted = match *name {
                "l4" => a.is_ipv4(),
                "l6" => a.is_ipv6(),
                _ => true,
            };
            if !wanted {
                continue;
            }
            let len = match (a, r.chance(30)) {
                (std::net::IpAddr::V4(_), true) => 24,
                (std::net::IpAddr::V4(_), false) => 32,
                (std::net::IpAddr::V6(_), true) => 64,
                (std::net::IpAddr::V6(_), false) => 128,
            };
            nets.push(ipnet::IpNet::new(a, len).unwrap().trunc());
        }
        let text: String = nets.iter().map(|n| format!("{n}\n")).collect();
        std::fs::write(dir.join(format!("{name}.txt")), text).unwrap();
        lists.insert(*name, nets);
    }
    lists
}

/// A value of `field` seen on a packet of the capture (so rules match something), or any.
pub fn sample_int(r: &mut Rng, field: &str, packets: &[levee_decode::Packet<'_>]) -> u64 {
    let f = levee_rules::Field::lookup(field).unwrap();
    for _ in 0..20 {
        let p = r.pick(packets);
        if let Some(levee_rules::Value::Int(v)) = f.value(p) {
            return v;
        }
    }
    r.below((f.max_value().unwrap().min(70000) + 1) as usize) as u64
}

pub fn sample_addr(r: &mut Rng, field: &str, packets: &[levee_decode::Packet<'_>]) -> String {
    let f = levee_rules::Field::lookup(field).unwrap();
    for _ in 0..20 {
        if let Some(levee_rules::Value::Ip(ip)) = f.value(r.pick(packets)) {
            return ip.to_string();
        }
    }
    "192.0.2.1".to_string()
}

pub fn leaf(r: &mut Rng, packets: &[levee_decode::Packet<'_>]) -> String {
    match r.below(10) {
        0..=5 => {
            let field = *r.pick(INT_FIELDS);
            let v = sample_int(r, field, packets);
            match r.below(8) {
                0 => format!("{field} != {v}"),
                1 => format!("{field} < {v}"),
                2 => format!("{field} <= {v}"),
                3 => format!("{field} > {v}"),
                4 => format!("{field} >= {v}"),
                5 | 6 => {
                    let w = sample_int(r, field, packets);
                    let (a, b) = (v.min(w), v.max(w));
                    let x = sample_int(r, field, packets);
                    format!("{field} in {{{a}..{b} {x}}}")
                }
                _ => format!("{field} == {v}"),
            }
        }
        6..=7 => {
            let field = *r.pick(FLAG_FIELDS);
            if r.chance(50) {
                field.to_string()
            } else {
                format!("not {field}")
            }
        }
        _ => {
            let field = *r.pick(ADDR_FIELDS);
            let a: std::net::IpAddr = sample_addr(r, field, packets).parse().unwrap();
            match r.below(4) {
                0 => format!("{field} == {a}"),
                1 => format!("{field} != {a}"),
                2 => format!("{field} in ${}", r.pick(LISTS)),
                _ => {
                    let len = match a {
                        std::net::IpAddr::V4(_) => *r.pick(&[8u8, 16, 24, 30, 32]),
                        std::net::IpAddr::V6(_) => *r.pick(&[32u8, 48, 64, 120, 128]),
                    };
                    let net = ipnet::IpNet::new(a, len).unwrap().trunc();
                    let other = sample_addr(r, field, packets);
                    format!("{field} in {{{net} {other}}}")
                }
            }
        }
    }
}

/// A condition on a payload, its bytes or length taken from a packet of the capture: a slice
/// from the start or the end compared with `==` or `!=`, or the length compared or in a set.
pub fn payload_leaf(r: &mut Rng, packets: &[levee_decode::Packet<'_>]) -> String {
    let transport = *r.pick(&["udp", "tcp", "icmp", "udp", "ip"]);
    let layer = levee_decode::field_def(&format!("{transport}.payload"))
        .unwrap()
        .layer;
    let mut payload = None;
    for _ in 0..40 {
        let p = r.pick(packets);
        if let Some(b) = p.payload_of(layer).filter(|b| !b.is_empty() && !p.is_cut()) {
            payload = Some(b);
            break;
        }
    }
    let Some(b) = payload else {
        return format!("len({transport}.payload) > {}", r.below(60));
    };
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let op = if r.chance(75) { "==" } else { "!=" };
    match r.below(5) {
        0 | 1 => {
            let start = r.below(b.len().min(48));
            let n = 1 + r.below((b.len() - start).min(9));
            format!(
                "{transport}.payload[{start}:{n}] {op} 0x{}",
                hex(&b[start..start + n])
            )
        }
        2 | 3 => {
            let back = 1 + r.below(b.len().min(48));
            let n = 1 + r.below(back.min(9));
            let from = b.len() - back;
            format!(
                "{transport}.payload[-{back}:{n}] {op} 0x{}",
                hex(&b[from..from + n])
            )
        }
        _ => {
            let n = b.len();
            match r.below(4) {
                0 => format!("len({transport}.payload) == {n}"),
                1 => format!("len({transport}.payload) < {n}"),
                2 => format!("len({transport}.payload) >= {n}"),
                _ => format!("len({transport}.payload) in {{0 {}..{n}}}", n / 2),
            }
        }
    }
}

/// A search of the IP payload, found in a packet of the capture (bytes from the middle of one,
/// so the search must look past its start), or of bytes that may occur nowhere; a quarter
/// negated.
pub fn search_leaf(r: &mut Rng, packets: &[levee_decode::Packet<'_>]) -> String {
    let layer = levee_decode::FieldLayer::Ip;
    let mut needle: Vec<u8> = (0..1 + r.below(4)).map(|_| r.below(256) as u8).collect();
    let across = r.chance(30);
    if r.chance(80) {
        for _ in 0..40 {
            let p = r.pick(packets);
            if let Some(b) = p.payload_of(layer).filter(|b| !b.is_empty() && !p.is_cut()) {
                let start = r.below(b.len());
                let n = 1 + r.below((b.len() - start).min(8));
                needle = b[start..start + n].to_vec();
                // The header's last bytes and the payload's first, as the frame has them: a
                // search must not start before the payload does.
                if let (true, Some(std::net::IpAddr::V4(dst))) = (across, p.ip.map(|i| i.dst)) {
                    needle = dst.octets()[1..].iter().chain(&b[..1]).copied().collect();
                }
                break;
            }
        }
    }
    let hex: String = needle.iter().map(|x| format!("{x:02x}")).collect();
    let search = format!("ip.payload contains 0x{hex}");
    if r.chance(25) {
        format!("not {search}")
    } else {
        search
    }
}

pub fn expression(r: &mut Rng, packets: &[levee_decode::Packet<'_>], depth: u32) -> String {
    if depth == 0 || r.chance(35) {
        return leaf(r, packets);
    }
    let n = 2 + r.below(2);
    let parts: Vec<String> = (0..n).map(|_| expression(r, packets, depth - 1)).collect();
    match r.below(10) {
        0..=4 => format!("({})", parts.join(" and ")),
        5..=7 => format!("({})", parts.join(" or ")),
        8 => format!("not ({})", parts.join(" and ")),
        _ => format!("({} xor {})", parts[0], parts[1]),
    }
}

/// A rules file of the expressions, each rule with `action`: `log` for the kernel engines
/// (a log rule decides nothing, so every rule sees every packet), `block` for BPF (which
/// writes blocking rules only).
pub fn rules_text(exprs: &[(usize, String)], action: &str) -> String {
    let mut t = String::from("[lists]\n");
    for name in LISTS {
        t.push_str(&format!("{name} = \"{name}.txt\"\n"));
    }
    t.push('\n');
    for (i, e) in exprs {
        t.push_str(&format!(
            "[[rule]]\nid = \"r{i}\"\nexpression = '{e}'\naction = \"{action}\"\n\n"
        ));
    }
    t
}
