//! Packet decoding for levee: one frame in, one [`Packet`] view with named fields out.
//!
//! The walk goes link layer → VLAN/QinQ, MPLS, PPPoE → IPv4/IPv6 (options, extension headers,
//! fragments) → tunnels (GRE with ERSPAN II/III, IP-in-IP, 6in4, VXLAN), keeping the outermost
//! tunnel header → TCP/UDP/ICMP. IP, TCP and UDP headers are read through `etherparse` slices;
//! the link layers, tunnels and TCP option signature are ours because no crate covers them.
//! Untagged Ethernet frames of option-less IPv4 with a whole TCP or UDP header (most of any
//! flood) first try a straight path that reads them at fixed offsets; it gives the packet the
//! general walk would, which a test checks on every frame of the shared corpus.
//!
//! Layer 7 is decoded on demand ([`Packet::app`]) so the per-packet hot path stays small:
//! a spoofed SYN flood costs no application parsing at all. [`Packet::app_protocol`] is the cheap
//! classification used for protocol statistics.
//!
//! Decoding never fails: a packet that ends early or carries an impossible header comes back with
//! what could be read and an [`Issue`] saying at which layer and why.
//!
//! Field names follow the Cloudflare Rules / Wireshark display-filter names (`ip.src`,
//! `tcp.flags.syn`, `udp.srcport`, `dns.qry.name`...); see [`fields`].

#![warn(missing_docs)]

pub mod app;
mod bytes;
pub mod fields;
mod ip;
mod link;
mod tcp;
mod tunnel;

use std::net::IpAddr;

pub use app::{App, AppProtocol};
pub use fields::{field_def, FieldDef, FieldKind, FieldLayer, FieldValue, FIELDS};
pub use tcp::{TcpFlags, TcpOptions};

/// LINKTYPE_ values levee decodes.
pub mod linktype {
    /// BSD loopback: a 4-byte address family in host order.
    pub const NULL: u32 = 0;
    /// Ethernet.
    pub const ETHERNET: u32 = 1;
    /// PPP.
    pub const PPP: u32 = 9;
    /// DLT_RAW as some systems number it in pcap files.
    pub const RAW_12: u32 = 12;
    /// DLT_RAW as other systems number it.
    pub const RAW_14: u32 = 14;
    /// PPP in HDLC-like framing.
    pub const PPP_HDLC: u32 = 50;
    /// Raw IP, version told by the first nibble.
    pub const RAW: u32 = 101;
    /// Cisco HDLC.
    pub const C_HDLC: u32 = 104;
    /// OpenBSD loopback: a 4-byte address family in network order.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture (`any` interface), version 1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture, version 2.
    pub const LINUX_SLL2: u32 = 276;

    /// A short human name for summaries.
    pub fn name(lt: u32) -> String {
        match lt {
            NULL => "null".into(),
            ETHERNET => "ethernet".into(),
            PPP => "ppp".into(),
            RAW_12 | RAW_14 | RAW => "raw".into(),
            PPP_HDLC => "ppp-hdlc".into(),
            C_HDLC => "cisco-hdlc".into(),
            LOOP => "loop".into(),
            LINUX_SLL => "linux-sll".into(),
            IPV4 => "ipv4".into(),
            IPV6 => "ipv6".into(),
            LINUX_SLL2 => "linux-sll2".into(),
            other => format!("linktype-{other}"),
        }
    }
}

/// The layer at which decoding stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// The link layer (Ethernet, SLL, PPP, loopback...).
    Link,
    /// A VLAN tag.
    Vlan,
    /// An MPLS label stack.
    Mpls,
    /// A PPPoE header.
    Pppoe,
    /// An IPv4 or IPv6 header (or its extension headers).
    Ip,
    /// A tunnel (GRE, ERSPAN, IP-in-IP, VXLAN).
    Tunnel,
    /// The TCP, UDP or ICMP header.
    Transport,
}

/// Why decoding stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The captured bytes end inside a header (snapshot length or a short frame).
    Truncated,
    /// A header with impossible values (bad version, length smaller than the header...).
    Malformed,
    /// A link type, EtherType or tunnel levee does not decode.
    Unsupported,
}

/// Where and why decoding stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issue {
    /// The layer.
    pub layer: Layer,
    /// Why.
    pub kind: IssueKind,
}

/// The network layer of a packet (the innermost one when tunnelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// 4 or 6.
    pub version: u8,
    /// The source address.
    pub src: IpAddr,
    /// The destination address.
    pub dst: IpAddr,
    /// IP protocol of the payload (for IPv6: after the extension headers).
    pub proto: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// `ip.len`: IPv4 total length, or IPv6 payload length plus the 40-byte header.
    pub len: u32,
    /// IPv4 identification, or the IPv6 fragment header's identification.
    pub id: u32,
    /// IPv4 don't-fragment bit.
    pub dont_fragment: bool,
    /// More fragments follow (IPv4 flag, or the IPv6 fragment header's M bit).
    pub more_fragments: bool,
    /// Fragment offset in 8-byte units, as on the wire (and as Wireshark's `ip.frag_offset`).
    pub frag_offset: u16,
    /// Whether the packet is a fragment (first or later).
    pub is_fragment: bool,
    /// Header length in bytes (IPv4 with options; IPv6's 40 plus extension headers).
    pub header_len: u16,
    /// DSCP and ECN bits (IPv4 TOS / IPv6 traffic class).
    pub tos: u8,
    /// IPv4 options present.
    pub has_options: bool,
}

impl IpInfo {
    /// A fragment that does not start at offset 0 carries no transport header.
    pub fn is_later_fragment(&self) -> bool {
        self.frag_offset > 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset_bytes(&self) -> u32 {
        u32::from(self.frag_offset) * 8
    }
}

/// The TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful with the ACK flag).
    pub ack: u32,
    /// The flags, NS to FIN.
    pub flags: TcpFlags,
    /// The window field, unscaled.
    pub window: u16,
    /// Header length in bytes.
    pub header_len: u8,
    /// The options that matter for fingerprints.
    pub options: TcpOptions,
}

/// The UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The UDP length field.
    pub len: u16,
}

/// The ICMP or ICMPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpInfo {
    /// True for ICMPv6.
    pub v6: bool,
    /// The type.
    pub icmp_type: u8,
    /// The code.
    pub code: u8,
}

/// The packet an ICMP error is about, as it quotes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpQuote {
    /// The quoted IP header's protocol.
    pub proto: u8,
    /// The quoted TCP or UDP ports, where the quote holds them.
    pub src_port: Option<u16>,
    /// The quoted destination port, where the quote holds it.
    pub dst_port: Option<u16>,
    /// The quoted source and destination addresses, where the quote holds them whole.
    pub addrs: Option<(IpAddr, IpAddr)>,
}

/// The transport layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// No transport header (decoding stopped before it).
    None,
    /// TCP.
    Tcp(TcpInfo),
    /// UDP.
    Udp(UdpInfo),
    /// ICMP or ICMPv6.
    Icmp(IcmpInfo),
    /// Another IP protocol, or a later fragment.
    Other,
}

/// Encapsulations levee removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// GRE (with or without key and sequence number).
    Gre,
    /// ERSPAN type II (over GRE).
    Erspan2,
    /// ERSPAN type III (over GRE).
    Erspan3,
    /// IPv4 or IPv6 in IPv4 or IPv6.
    IpInIp,
    /// IPv6 in IPv4 (protocol 41).
    SixInFour,
    /// VXLAN (UDP port 4789).
    Vxlan,
}

impl TunnelKind {
    /// The tunnel's name, as `tunnel.kind` gives it.
    pub fn name(self) -> &'static str {
        match self {
            TunnelKind::Gre => "gre",
            TunnelKind::Erspan2 => "erspan2",
            TunnelKind::Erspan3 => "erspan3",
            TunnelKind::IpInIp => "ipip",
            TunnelKind::SixInFour => "6in4",
            TunnelKind::Vxlan => "vxlan",
        }
    }
}

/// The outermost tunnel and the header that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnel {
    /// What the tunnel is.
    pub kind: TunnelKind,
    /// The IP header that carried it.
    pub outer: IpInfo,
    /// GRE key, VXLAN VNI or ERSPAN session id.
    pub key: Option<u32>,
    /// The GRE sequence number, when present.
    pub gre_seq: Option<u32>,
    /// How many tunnel layers were removed in all.
    pub depth: u8,
}

/// A decoded packet: borrowed payload, copied header fields.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// The capture's link type (see [`linktype`]).
    pub linktype: u32,
    /// Captured length of the frame.
    pub cap_len: u32,
    /// Length on the wire.
    pub wire_len: u32,
    /// The EtherType of the innermost Ethernet or SLL header (0 when there is none).
    pub ethertype: u16,
    /// The VLAN ids, outermost first.
    pub vlan_ids: [u16; 2],
    /// How many VLAN tags (at most two are kept).
    pub vlan_count: u8,
    /// How many MPLS labels were removed.
    pub mpls_labels: u8,
    /// The PPPoE session id, behind PPPoE.
    pub pppoe_session: Option<u16>,
    /// The outermost tunnel removed, if any.
    pub tunnel: Option<Tunnel>,
    /// The network layer (the innermost, when tunnelled).
    pub ip: Option<IpInfo>,
    /// The transport layer.
    pub transport: Transport,
    /// The bytes after the transport header (or after IP for other protocols), cut to the IP
    /// length so Ethernet padding is not taken for data.
    pub payload: &'a [u8],
    /// What the innermost IP header's length counts after the header: for IPv4 the bytes
    /// after the header and its options, to the total length; for IPv6 the bytes after the
    /// 40-byte fixed header, extension headers included, to the payload length (RFC 8200's
    /// payload). Every fragment's own data. `None` without an IP header, or when the IPv4
    /// total length is shorter than the header.
    pub ip_payload: Option<&'a [u8]>,
    /// Why decoding stopped early, when it did.
    pub issue: Option<Issue>,
    /// How many packets on the wire this one stands for, all alike: 1 for a captured packet;
    /// for a part of a flow record (a flow is packets with the same headers), the packets of
    /// that part, scaled by the exporter's sampling rate. Every count weighs a packet by it,
    /// its bytes by `wire_len` times it.
    pub count: u64,
}

impl<'a> Packet<'a> {
    fn empty(linktype: u32, cap_len: u32, wire_len: u32) -> Packet<'a> {
        Packet {
            linktype,
            cap_len,
            wire_len,
            ethertype: 0,
            vlan_ids: [0; 2],
            vlan_count: 0,
            mpls_labels: 0,
            pppoe_session: None,
            tunnel: None,
            ip: None,
            transport: Transport::None,
            payload: &[],
            ip_payload: None,
            issue: None,
            count: 1,
        }
    }

    pub(crate) fn fail(&mut self, layer: Layer, kind: IssueKind) {
        if self.issue.is_none() {
            self.issue = Some(Issue { layer, kind });
        }
    }

    /// The TCP header, if the packet has one.
    pub fn tcp(&self) -> Option<&TcpInfo> {
        match &self.transport {
            Transport::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// The UDP header, if the packet has one.
    pub fn udp(&self) -> Option<&UdpInfo> {
        match &self.transport {
            Transport::Udp(u) => Some(u),
            _ => None,
        }
    }

    /// The payload of the transport `layer` (TCP, UDP or ICMP) when the packet has that
    /// transport: the bytes after its header, as captured. `None` for another layer or
    /// transport, and for a later fragment (whose bytes are not after a header). For the IP
    /// layer, [`Packet::ip_payload`].
    pub fn payload_of(&self, layer: crate::FieldLayer) -> Option<&'a [u8]> {
        if layer == crate::FieldLayer::Ip {
            return self.ip_payload;
        }
        let later_fragment = self.ip.as_ref().is_some_and(|ip| ip.is_later_fragment());
        let right = matches!(
            (&self.transport, layer),
            (Transport::Tcp(_), crate::FieldLayer::Tcp)
                | (Transport::Udp(_), crate::FieldLayer::Udp)
                | (Transport::Icmp(_), crate::FieldLayer::Icmp)
        );
        (right && !later_fragment).then_some(self.payload)
    }

    /// Whether the capture kept less of the frame than was on the wire (a snapshot length):
    /// its payload is then only a beginning, and what needs all of it (its length, its end,
    /// a search through it) is not known.
    pub fn is_cut(&self) -> bool {
        self.cap_len < self.wire_len
    }

    /// The ICMP header, if the packet has one.
    pub fn icmp(&self) -> Option<&IcmpInfo> {
        match &self.transport {
            Transport::Icmp(i) => Some(i),
            _ => None,
        }
    }

    /// What an ICMP or ICMPv6 error quotes of the packet it is about; `None` for other
    /// packets, for ICMP messages that are not errors, and for quotes that hold no IP header
    /// levee reads (an IPv4 header with options, or too short).
    pub fn icmp_quote(&self) -> Option<IcmpQuote> {
        let icmp = self.icmp()?;
        let q = self.payload;
        let (proto, ports_at) = if icmp.v6 {
            // Destination unreachable, packet too big, time exceeded, parameter problem;
            // the quoted IPv6 header's next header, no extension header walked.
            if !(1..=4).contains(&icmp.icmp_type) || q.len() < 7 || q[0] >> 4 != 6 {
                return None;
            }
            (q[6], 40)
        } else {
            // Destination unreachable, source quench, redirect, time exceeded, parameter
            // problem; an IPv4 header without options (20 bytes), as engines read it.
            if !matches!(icmp.icmp_type, 3 | 4 | 5 | 11 | 12) || q.len() < 10 || q[0] != 0x45 {
                return None;
            }
            // A quoted later fragment carries no ports.
            let later = u16::from_be_bytes([q[6], q[7]]) & 0x1fff != 0;
            (q[9], if later { usize::MAX } else { 20 })
        };
        let port = |at: usize| {
            let b = q.get(at..at.checked_add(2)?)?;
            matches!(proto, 6 | 17).then(|| u16::from_be_bytes([b[0], b[1]]))
        };
        let addrs = if icmp.v6 {
            q.get(8..40).map(|a| {
                let (s, d) = a.split_at(16);
                let v6 = |b: &[u8]| IpAddr::from(<[u8; 16]>::try_from(b).expect("16 bytes"));
                (v6(s), v6(d))
            })
        } else {
            q.get(12..20).map(|a| {
                let (s, d) = a.split_at(4);
                let v4 = |b: &[u8]| IpAddr::from(<[u8; 4]>::try_from(b).expect("4 bytes"));
                (v4(s), v4(d))
            })
        };
        Some(IcmpQuote {
            proto,
            src_port: port(ports_at),
            dst_port: port(ports_at.saturating_add(2)),
            addrs,
        })
    }

    /// Source and destination port of TCP or UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match &self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            _ => None,
        }
    }

    /// Cheap application-protocol guess from ports and the first payload bytes.
    pub fn app_protocol(&self) -> AppProtocol {
        app::classify(self)
    }

    /// Full layer-7 decode of this packet's payload (single packet, no reassembly).
    pub fn app(&self) -> App<'a> {
        app::decode(self)
    }
}

/// Decodes one frame of the given link type. `wire_len` is the length on the wire (for
/// statistics); `data` the captured bytes.
#[inline]
pub fn decode(linktype: u32, data: &[u8], wire_len: u32) -> Packet<'_> {
    let mut p = Packet::empty(linktype, data.len() as u32, wire_len);
    link::decode_link(&mut p, linktype, data);
    p
}

/// [`decode`], handing the packet to `each` where it was decoded: for the per-packet loops,
/// where returning the 240-byte packet cost a copy of it (the compiler does not build it in
/// the caller's place once the decoder has had its address).
#[inline(always)]
pub fn with_decoded<R>(
    linktype: u32,
    data: &[u8],
    wire_len: u32,
    each: impl FnOnce(&Packet<'_>) -> R,
) -> R {
    let mut p = Packet::empty(linktype, data.len() as u32, wire_len);
    link::decode_link(&mut p, linktype, data);
    each(&p)
}

/// A hash of a frame's (source, destination) address pair that is the same in both directions,
/// for spreading packets over threads so that every packet of a flow, both ways, and every
/// fragment of a datagram lands on the same thread. Common framings (Ethernet with up to two
/// VLAN tags, Linux cooked, raw IP) are read at fixed offsets without a full decode; anything
/// else is decoded. Packets without IP hash to 0.
pub fn address_pair_hash(linktype: u32, data: &[u8]) -> u64 {
    /// Two IPv4 addresses, combined by operations that ignore their order, then mixed.
    #[inline]
    fn pair_v4(a: u32, b: u32) -> u64 {
        let (x, y) = (u64::from(a), u64::from(b));
        let k = ((x ^ y) << 32 | (x & y)) ^ (x + y).rotate_left(17);
        let k = k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        k ^ (k >> 29)
    }
    fn pair(a: &[u8], b: &[u8]) -> u64 {
        if let (Ok(a4), Ok(b4)) = (<[u8; 4]>::try_from(a), <[u8; 4]>::try_from(b)) {
            return pair_v4(u32::from_le_bytes(a4), u32::from_le_bytes(b4));
        }
        // Other lengths folded 8 bytes at a time.
        let fold = |x: &[u8]| {
            x.chunks(8).fold(0u64, |h, c| {
                let mut w = [0u8; 8];
                w[..c.len()].copy_from_slice(c);
                h.rotate_left(5) ^ u64::from_le_bytes(w)
            })
        };
        let (x, y) = (fold(a), fold(b));
        let (lo, hi) = if x <= y { (x, y) } else { (y, x) };
        let mut k = lo ^ hi.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
        // murmur3 finaliser
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
    let ip_at = |off: usize| -> Option<u64> {
        let v = data.get(off)? >> 4;
        match v {
            4 => Some(pair(
                data.get(off + 12..off + 16)?,
                data.get(off + 16..off + 20)?,
            )),
            6 => Some(pair(
                data.get(off + 8..off + 24)?,
                data.get(off + 24..off + 40)?,
            )),
            _ => None,
        }
    };
    // Runs for every frame on the thread that deals them out: untagged Ethernet with IPv4,
    // the common case, first, with one length check.
    if linktype == linktype::ETHERNET
        && data.len() >= 34
        && data[12] == 0x08
        && data[13] == 0x00
        && data[14] >> 4 == 4
    {
        let word = |i: usize| u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        return pair_v4(word(26), word(30));
    }
    let fast = ip_header_at(linktype, data).and_then(ip_at);
    if let Some(h) = fast {
        return h;
    }
    let p = decode(linktype, data, data.len() as u32);
    match p.ip {
        Some(ip) => {
            let bytes = |a: IpAddr| match a {
                IpAddr::V4(v) => v.octets().to_vec(),
                IpAddr::V6(v) => v.octets().to_vec(),
            };
            pair(&bytes(ip.src), &bytes(ip.dst))
        }
        None => 0,
    }
}

/// Where the IP header of a frame in a common framing (Ethernet with up to two VLAN tags,
/// Linux cooked, raw IP) starts, read at fixed offsets without a full decode; `None` for
/// other framings and for frames that carry no IP there.
fn ip_header_at(lt: u32, data: &[u8]) -> Option<usize> {
    let off = match lt {
        linktype::ETHERNET => {
            let mut off = 12;
            let mut et =
                u16::from_be_bytes([*data.get(12).unwrap_or(&0), *data.get(13).unwrap_or(&0)]);
            for _ in 0..2 {
                if et == 0x8100 || et == 0x88a8 {
                    off += 4;
                    et = data
                        .get(off..off + 2)
                        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
                }
            }
            match et {
                0x0800 | 0x86dd => off + 2,
                _ => return None,
            }
        }
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => 0,
        linktype::LINUX_SLL => match data.get(14..16) {
            Some([0x08, 0x00]) | Some([0x86, 0xdd]) => 16,
            _ => return None,
        },
        _ => return None,
    };
    matches!(data.get(off)? >> 4, 4 | 6).then_some(off)
}

/// A frame's destination address and IP protocol (IPv6: the first next header), for
/// counting traffic per destination at every packet: common framings are read at fixed
/// offsets, anything else decoded. `None` for a frame without IP.
#[inline]
pub fn destination_and_protocol(lt: u32, data: &[u8]) -> Option<(IpAddr, u8)> {
    let read = |off: usize| -> Option<(IpAddr, u8)> {
        match data.get(off)? >> 4 {
            4 => {
                let d: [u8; 4] = data.get(off + 16..off + 20)?.try_into().ok()?;
                Some((IpAddr::from(d), *data.get(off + 9)?))
            }
            6 => {
                let d: [u8; 16] = data.get(off + 24..off + 40)?.try_into().ok()?;
                Some((IpAddr::from(d), *data.get(off + 6)?))
            }
            _ => None,
        }
    };
    if let Some(found) = ip_header_at(lt, data).and_then(read) {
        return Some(found);
    }
    let p = decode(lt, data, data.len() as u32);
    p.ip.map(|ip| (ip.dst, ip.proto))
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    #[test]
    fn both_directions_hash_alike_and_the_fast_path_agrees_with_decoding() {
        let frame = |src: [u8; 4], dst: [u8; 4], vlan: bool| {
            let mut f = vec![0u8; 12];
            if vlan {
                f.extend([0x81, 0x00, 0, 5]);
            }
            f.extend([0x08, 0x00, 0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0]);
            f.extend(src);
            f.extend(dst);
            f
        };
        let a = [192, 0, 2, 1];
        let b = [198, 51, 100, 2];
        let ab = address_pair_hash(linktype::ETHERNET, &frame(a, b, false));
        assert_eq!(
            ab,
            address_pair_hash(linktype::ETHERNET, &frame(b, a, false))
        );
        assert_eq!(
            ab,
            address_pair_hash(linktype::ETHERNET, &frame(a, b, true))
        );
        assert_ne!(
            ab,
            address_pair_hash(linktype::ETHERNET, &frame(a, a, false))
        );
        // Raw IP, and a link type only the full decoder knows (BSD loopback), agree.
        let raw = frame(a, b, false)[14..].to_vec();
        assert_eq!(ab, address_pair_hash(linktype::RAW, &raw));
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(&raw);
        assert_eq!(ab, address_pair_hash(linktype::NULL, &null));
        assert_eq!(address_pair_hash(linktype::ETHERNET, &[0u8; 10]), 0);
    }

    #[test]
    fn the_destination_read_at_fixed_offsets_is_the_decoders() {
        let mut v4 = vec![0u8; 12];
        v4.extend([0x81, 0x00, 0, 5, 0x08, 0x00]);
        v4.extend([
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2,
        ]);
        v4.extend([0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        let want = Some(("198.51.100.2".parse().unwrap(), 17));
        assert_eq!(destination_and_protocol(linktype::ETHERNET, &v4), want);
        let decoded = decode(linktype::ETHERNET, &v4, v4.len() as u32);
        let ip = decoded.ip.unwrap();
        assert_eq!(Some((ip.dst, ip.proto)), want);
        // BSD loopback, known to the decoder only.
        let mut null = 2u32.to_le_bytes().to_vec();
        null.extend(&v4[18..]);
        assert_eq!(destination_and_protocol(linktype::NULL, &null), want);
        // IPv6, raw.
        let mut v6 = vec![0x60, 0, 0, 0, 0, 8, 58, 64];
        v6.extend(
            [0x20, 0x01, 0x0d, 0xb8]
                .iter()
                .chain(&[0u8; 11])
                .chain(&[1u8]),
        );
        v6.extend(
            [0x20, 0x01, 0x0d, 0xb8]
                .iter()
                .chain(&[0u8; 11])
                .chain(&[2u8]),
        );
        v6.extend([128, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            destination_and_protocol(linktype::RAW, &v6),
            Some(("2001:db8::2".parse().unwrap(), 58))
        );
        // No IP, and a truncated header.
        assert_eq!(
            destination_and_protocol(linktype::ETHERNET, &[0u8; 10]),
            None
        );
        assert_eq!(
            destination_and_protocol(linktype::ETHERNET, &v4[..30]),
            None
        );
    }
}

#[cfg(test)]
mod ip_payload_tests {
    use super::*;

    /// An IPv4 header of `words` 32-bit words (options of zeros past 20 bytes).
    fn ipv4(words: u8, total: u16, frag: u16, proto: u8) -> Vec<u8> {
        let mut h = vec![0x40 | words, 0];
        h.extend(total.to_be_bytes());
        h.extend([0, 1]);
        h.extend(frag.to_be_bytes());
        h.extend([64, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2]);
        h.resize(usize::from(words) * 4, 0);
        h
    }

    #[test]
    fn the_ip_payload_is_what_the_ip_length_counts_past_the_header_in_every_fragment() {
        let ip = FieldLayer::Ip;
        // IPv4 with options, UDP inside, two bytes of padding after the packet.
        let mut f = ipv4(6, 24 + 10, 0, 17);
        f.extend([0x30, 0x39, 0x00, 0x35, 0, 10, 0, 0, 0xaa, 0xbb, 0xee, 0xee]);
        let p = decode(linktype::RAW, &f, f.len() as u32);
        assert_eq!(p.payload_of(ip), Some(&f[24..34]));
        assert_eq!(p.payload_of(FieldLayer::Udp), Some(&f[32..34]));
        // A later fragment: no UDP payload, its data is the IP payload.
        let mut f = ipv4(5, 28, 185, 17);
        f.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        let p = decode(linktype::RAW, &f, f.len() as u32);
        assert_eq!(p.payload_of(FieldLayer::Udp), None);
        assert_eq!(p.payload_of(ip), Some(&f[20..]));
        // A total length shorter than the header: no payload at all.
        let f = ipv4(5, 12, 0, 17);
        assert_eq!(decode(linktype::RAW, &f, 20).payload_of(ip), None);
        // IPv6 with a hop-by-hop header before UDP: the payload starts after the fixed
        // header, as its payload length counts.
        let mut f = vec![0x60, 0, 0, 0, 0, 16, 0, 64];
        f.extend(
            [0x20, 0x01, 0x0d, 0xb8]
                .iter()
                .chain(&[0u8; 11])
                .chain(&[1u8]),
        );
        f.extend(
            [0x20, 0x01, 0x0d, 0xb8]
                .iter()
                .chain(&[0u8; 11])
                .chain(&[2u8]),
        );
        f.extend([17, 0, 1, 4, 0, 0, 0, 0]);
        f.extend([0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        let p = decode(linktype::RAW, &f, f.len() as u32);
        assert_eq!(p.payload_of(ip), Some(&f[40..]));
        assert_eq!(
            p.field("ip.payload"),
            Some(FieldValue::Bytes(f[40..].to_vec()))
        );
        // What a capture cut: a slice may be known, the whole is not.
        assert_eq!(decode(linktype::RAW, &f, 200).field("ip.payload"), None);
        // No IP header, no IP payload.
        assert_eq!(
            decode(linktype::ETHERNET, &[0u8; 14], 14).payload_of(ip),
            None
        );
    }
}

#[cfg(test)]
mod straight_path_tests {
    use super::*;
    use std::ops::ControlFlow;
    use std::path::Path;

    /// The packet the general walk gives, with the straight path kept out.
    fn walked(linktype: u32, data: &[u8]) -> Packet<'_> {
        let mut p = Packet::empty(linktype, data.len() as u32, data.len() as u32);
        link::decode_link_walk(&mut p, linktype, data);
        p
    }

    /// Decodes `data` both ways and says whether the straight path took it.
    fn check(linktype: u32, data: &[u8], context: &dyn Fn() -> String) -> bool {
        let mut straight = Packet::empty(linktype, data.len() as u32, data.len() as u32);
        let took =
            linktype == linktype::ETHERNET && ip::ethernet_ipv4_straight(&mut straight, data);
        let general = walked(linktype, data);
        let decoded = decode(linktype, data, data.len() as u32);
        // Packet holds no PartialEq (it borrows); its Debug form shows every field and the
        // payload's bytes.
        let general = format!("{general:?}");
        assert_eq!(format!("{decoded:?}"), general, "{}", context());
        if took {
            assert_eq!(format!("{straight:?}"), general, "{}", context());
        }
        took
    }

    fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files_under(&path, out);
            } else {
                out.push(path);
            }
        }
    }

    /// Compares the straight path with the general walk on every frame of every capture under
    /// `dir`: (files, frames, frames on the straight path).
    fn straight_path_on_corpus(dir: &Path) -> (usize, usize, usize) {
        let mut paths = Vec::new();
        files_under(dir, &mut paths);
        paths.sort();
        assert!(!paths.is_empty(), "no file under {}", dir.display());
        let (mut files, mut frames, mut straight) = (0, 0usize, 0usize);
        for path in &paths {
            let Ok(mut reader) = levee_capture::CaptureReader::open(path) else {
                continue;
            };
            files += 1;
            let mut record = 0usize;
            reader.for_each_item(|item| {
                record += 1;
                if let levee_capture::Item::Frame(f) = item {
                    frames += 1;
                    let context = || format!("{} record {record}", path.display());
                    if check(f.linktype, f.data, &context) {
                        straight += 1;
                    }
                }
                ControlFlow::Continue(())
            });
        }
        (files, frames, straight)
    }

    /// The corpus checked into the repository (`testdata/captures`: every format variant over
    /// frames on both sides of what the straight path takes), so this proof always runs.
    #[test]
    fn the_straight_path_agrees_with_the_general_walk_on_the_checked_in_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures");
        let (files, frames, straight) = straight_path_on_corpus(&dir);
        assert!(
            files >= 9 && frames >= 100 && straight >= 40 && straight < frames,
            "{files} files, {frames} frames, {straight} on the straight path"
        );
    }

    /// Every frame of every capture in the shared corpus (real traffic from many networks,
    /// and tcpdump's own test captures of odd and damaged packets).
    #[test]
    #[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
    fn the_straight_path_agrees_with_the_general_walk_on_the_shared_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let (files, frames, straight) = straight_path_on_corpus(&dir);
        assert!(
            files >= 500 && frames >= 50_000 && straight >= 40_000,
            "{files} files, {frames} frames, {straight} on the straight path"
        );
    }

    /// Frames built to sit on each edge of what the straight path takes.
    #[test]
    fn the_straight_path_agrees_on_the_edges_of_what_it_takes() {
        fn frame(
            ip_first: u8,
            total_len: u16,
            flags: u16,
            proto: u8,
            l4: &[u8],
            pad: usize,
        ) -> Vec<u8> {
            let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
            f.push(ip_first);
            f.push(0xb8);
            f.extend(total_len.to_be_bytes());
            f.extend(0x1234u16.to_be_bytes());
            f.extend(flags.to_be_bytes());
            f.extend([57, proto, 0, 0, 192, 0, 2, 1, 198, 51, 100, 7]);
            if ip_first & 0x0f > 5 {
                f.extend(vec![1u8; usize::from((ip_first & 0x0f) - 5) * 4]);
            }
            f.extend(l4);
            f.extend(vec![0u8; pad]);
            f
        }
        let syn_opts: Vec<u8> = {
            let mut t = vec![
                0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, 0x02, 0xff, 0xff, 0, 0, 0, 0,
            ];
            t.extend([2, 4, 5, 0xb4, 1, 1, 4, 2]);
            t
        };
        let mut bare_syn = syn_opts[..20].to_vec();
        bare_syn[12] = 0x50;
        let bare_syn = &bare_syn[..];
        let mut no_offset = bare_syn.to_vec();
        no_offset[12] = 0x40;
        let udp = |dst: u16, len: u16| {
            let mut u = vec![0x00, 0x35];
            u.extend(dst.to_be_bytes());
            u.extend(len.to_be_bytes());
            u.extend([0, 0, 1, 2, 3, 4, 5, 6]);
            u
        };
        let cases: Vec<(&str, Vec<u8>, bool)> = vec![
            ("syn", frame(0x45, 40, 0x4000, 6, bare_syn, 0), true),
            (
                "syn with options",
                frame(0x45, 48, 0, 6, &syn_opts, 0),
                true,
            ),
            (
                "syn with Ethernet padding",
                frame(0x45, 40, 0, 6, bare_syn, 6),
                true,
            ),
            (
                "first fragment",
                frame(0x45, 40, 0x2000, 6, bare_syn, 0),
                true,
            ),
            (
                "later fragment",
                frame(0x45, 40, 0x0001, 6, bare_syn, 0),
                false,
            ),
            ("IP options", frame(0x46, 44, 0, 6, bare_syn, 0), false),
            (
                "zero total length",
                frame(0x45, 0, 0, 6, bare_syn, 0),
                false,
            ),
            (
                "total length below the header",
                frame(0x45, 12, 0, 6, bare_syn, 0),
                false,
            ),
            (
                "total length past the capture",
                frame(0x45, 1500, 0, 6, bare_syn, 0),
                true,
            ),
            (
                "IP cut inside TCP",
                frame(0x45, 30, 0, 6, bare_syn, 0),
                false,
            ),
            (
                "options cut by the capture",
                frame(0x45, 48, 0, 6, &syn_opts[..24], 0),
                false,
            ),
            (
                "data offset below 5",
                frame(0x45, 40, 0, 6, &no_offset, 0),
                false,
            ),
            ("udp", frame(0x45, 36, 0, 17, &udp(53, 16), 0), true),
            (
                "udp length below 8",
                frame(0x45, 36, 0, 17, &udp(53, 3), 0),
                true,
            ),
            (
                "udp length past the packet",
                frame(0x45, 36, 0, 17, &udp(53, 900), 0),
                true,
            ),
            ("vxlan", frame(0x45, 36, 0, 17, &udp(4789, 16), 0), false),
            ("icmp", frame(0x45, 36, 0, 1, &udp(53, 16), 0), false),
            (
                "IPv6 version nibble",
                frame(0x65, 40, 0, 6, bare_syn, 0),
                false,
            ),
        ];
        for (name, data, takes) in cases {
            assert_eq!(
                check(linktype::ETHERNET, &data, &|| name.to_string()),
                takes,
                "{name}"
            );
        }
    }
}

#[cfg(test)]
mod icmp_quote_tests {
    use super::*;

    /// An Ethernet frame: IPv4 ICMP of `icmp_type`/`code` quoting `quote`.
    fn icmp4(icmp_type: u8, code: u8, quote: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend([0x08, 0x00]);
        let len = (20 + 8 + quote.len()) as u16;
        f.extend([0x45, 0]);
        f.extend(len.to_be_bytes());
        f.extend([0, 1, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 10, 10, 10, 10]);
        f.extend([icmp_type, code, 0, 0, 0, 0, 0x05, 0xdc]);
        f.extend(quote);
        f
    }

    /// The first 24 bytes of an IPv4 UDP packet from port 30120 to 37810.
    fn quoted_udp(frag: u16, first: u8) -> Vec<u8> {
        let mut q = vec![first, 0, 0, 60, 0, 9];
        q.extend(frag.to_be_bytes());
        q.extend([64, 17, 0, 0, 10, 10, 10, 10, 198, 51, 100, 7]);
        q.extend(30120u16.to_be_bytes());
        q.extend(37810u16.to_be_bytes());
        q
    }

    fn quote(f: &[u8]) -> Option<IcmpQuote> {
        decode(linktype::ETHERNET, f, f.len() as u32).icmp_quote()
    }

    #[test]
    fn errors_give_the_quoted_protocol_and_ports() {
        let q = quote(&icmp4(3, 3, &quoted_udp(0, 0x45))).unwrap();
        assert_eq!(q.proto, 17);
        assert_eq!((q.src_port, q.dst_port), (Some(30120), Some(37810)));
        assert_eq!(
            q.addrs,
            Some((
                IpAddr::from([10, 10, 10, 10]),
                IpAddr::from([198, 51, 100, 7])
            ))
        );
        // Fragmentation needed and time exceeded are errors too.
        assert!(quote(&icmp4(3, 4, &quoted_udp(0, 0x45))).is_some());
        assert!(quote(&icmp4(11, 0, &quoted_udp(0, 0x45))).is_some());
        // Echo is no error; a quote with IP options or cut short is not read.
        assert_eq!(quote(&icmp4(8, 0, &quoted_udp(0, 0x45))), None);
        assert_eq!(quote(&icmp4(3, 3, &quoted_udp(0, 0x46))), None);
        assert_eq!(quote(&icmp4(3, 3, &quoted_udp(0, 0x45)[..9])), None);
        // The protocol without the ports, when the quote stops early or quotes a later
        // fragment.
        let q = quote(&icmp4(3, 3, &quoted_udp(0, 0x45)[..22])).unwrap();
        assert_eq!((q.proto, q.src_port, q.dst_port), (17, Some(30120), None));
        let q = quote(&icmp4(3, 3, &quoted_udp(0x0010, 0x45))).unwrap();
        assert_eq!((q.src_port, q.dst_port), (None, None));
        let p = {
            let f = icmp4(3, 3, &quoted_udp(0, 0x45));
            let p = decode(linktype::ETHERNET, &f, f.len() as u32);
            (p.field("icmp.quoted.proto"), p.field("icmp.quoted.dstport"))
        };
        assert_eq!(p, (Some(FieldValue::Int(17)), Some(FieldValue::Int(37810))));
    }
}
