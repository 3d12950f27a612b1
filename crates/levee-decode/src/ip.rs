//! IPv4 and IPv6 (with extension headers and fragments), and the transport header after them.
//! Header fields are read through `etherparse` slices, except on the straight path for plain
//! Ethernet/IPv4/TCP|UDP frames ([`ethernet_ipv4_straight`]), which reads them at fixed offsets.

use std::net::{IpAddr, Ipv4Addr};

use etherparse::{Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6HeaderSlice, UdpHeaderSlice};

use crate::bytes::be16;
use crate::link::ETH_IPV4;
use crate::tcp::{TcpFlags, TcpOptions};
use crate::{
    tcp, tunnel, IcmpInfo, IpInfo, IssueKind, Layer, Packet, TcpInfo, Transport, TunnelKind,
    UdpInfo,
};

pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_IPIP: u8 = 4;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;
pub(crate) const PROTO_IPV6: u8 = 41;
pub(crate) const PROTO_GRE: u8 = 47;
pub(crate) const PROTO_ICMPV6: u8 = 58;

/// More nested tunnels than this are taken as malformed (or hostile).
pub(crate) const MAX_TUNNEL_DEPTH: u8 = 4;
const MAX_IPV6_EXTENSIONS: usize = 16;

/// Untagged Ethernet carrying an IPv4 header without options, not a later fragment, with a
/// whole TCP or UDP header: most frames of any flood and of most captures. They are read here
/// at fixed offsets in one straight run, which costs about half the general walk (its calls,
/// its dispatch on every layer and the header slices' checks, done again for fields already
/// known to fit). Returns false, having written nothing, for anything else or anything it is
/// unsure of, and the general walk then decodes the frame. Both give the same packet: a test
/// decodes every frame of the shared corpus both ways.
#[inline(always)]
pub(crate) fn ethernet_ipv4_straight<'a>(p: &mut Packet<'a>, data: &'a [u8]) -> bool {
    /// Where the IP header starts, and the transport header after it.
    const IP: usize = 14;
    const L4: usize = IP + 20;
    // The shortest frame taken: Ethernet, IPv4 and a UDP header. Fields are read out of
    // fixed-size arrays so that no read needs a bounds check of its own.
    let Some(head) = data.first_chunk::<{ L4 + 8 }>() else {
        return false;
    };
    if head[12] != 0x08 || head[13] != 0x00 || head[IP] != 0x45 {
        return false;
    }
    let word = |at: usize| u16::from_be_bytes([head[at], head[at + 1]]);
    let total_len = usize::from(word(IP + 2));
    let flags = word(IP + 6);
    // A zero or too small total length (offloaded or damaged) and later fragments take the
    // general walk, which says what it makes of them.
    if total_len < 20 || flags & 0x1fff != 0 {
        return false;
    }
    let ip_end = (IP + total_len).min(data.len());
    let l4 = data.get(L4..ip_end).unwrap_or_default();
    let proto = head[IP + 9];
    match proto {
        PROTO_TCP => {
            let Some(t) = l4.first_chunk::<20>() else {
                return false;
            };
            let header_len = usize::from(t[12] >> 4) * 4;
            if header_len < 20 || l4.len() < header_len {
                return false;
            }
            let half = |at: usize| u16::from_be_bytes([t[at], t[at + 1]]);
            let long = |at: usize| u32::from_be_bytes([t[at], t[at + 1], t[at + 2], t[at + 3]]);
            p.payload = &l4[header_len..];
            p.ip_payload = Some(l4);
            p.transport = Transport::Tcp(TcpInfo {
                src_port: half(0),
                dst_port: half(2),
                seq: long(4),
                ack: long(8),
                flags: TcpFlags(half(12) & 0x01ff),
                window: half(14),
                header_len: header_len as u8,
                options: TcpOptions::default(),
            });
            // Parsed into place: choosing between a parsed and a default value first cost a
            // copy of the options for every packet.
            if header_len > 20 {
                if let Transport::Tcp(t) = &mut p.transport {
                    t.options = TcpOptions::parse(&l4[20..header_len]);
                }
            }
        }
        PROTO_UDP => {
            let Some(u) = l4.first_chunk::<8>() else {
                return false;
            };
            let half = |at: usize| u16::from_be_bytes([u[at], u[at + 1]]);
            let udp = UdpInfo {
                src_port: half(0),
                dst_port: half(2),
                len: half(4),
            };
            if udp.dst_port == tunnel::VXLAN_PORT {
                return false;
            }
            let end = if udp.len >= 8 {
                usize::from(udp.len).min(l4.len())
            } else {
                l4.len()
            };
            p.payload = &l4[8..end];
            p.ip_payload = Some(l4);
            p.transport = Transport::Udp(udp);
        }
        _ => return false,
    }
    let address = |at: usize| {
        IpAddr::V4(Ipv4Addr::new(
            head[at],
            head[at + 1],
            head[at + 2],
            head[at + 3],
        ))
    };
    let more_fragments = flags & 0x2000 != 0;
    p.ethertype = ETH_IPV4;
    p.ip = Some(IpInfo {
        version: 4,
        src: address(IP + 12),
        dst: address(IP + 16),
        proto,
        ttl: head[IP + 8],
        len: total_len as u32,
        id: u32::from(word(IP + 4)),
        dont_fragment: flags & 0x4000 != 0,
        more_fragments,
        frag_offset: 0,
        is_fragment: more_fragments,
        header_len: 20,
        tos: head[IP + 1],
        has_options: false,
    });
    true
}

pub(crate) fn decode_ipv4<'a>(p: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    let h = match Ipv4HeaderSlice::from_slice(data) {
        Ok(h) => h,
        Err(etherparse::err::ipv4::HeaderSliceError::Len(_)) => {
            return p.fail(Layer::Ip, IssueKind::Truncated)
        }
        Err(_) => return p.fail(Layer::Ip, IssueKind::Malformed),
    };
    // The fields of an inner packet replace those of the packet that carried it.
    p.transport = Transport::None;
    p.ip_payload = None;
    let header_len = h.slice().len();
    let total_len = h.total_len() as usize;
    let frag_offset = h.fragments_offset().value();
    let info = IpInfo {
        version: 4,
        src: IpAddr::V4(h.source_addr()),
        dst: IpAddr::V4(h.destination_addr()),
        proto: h.protocol().0,
        ttl: h.ttl(),
        // A zero total length comes from segmentation offload (BIG TCP, TSO): like tcpdump and
        // tshark, presume the captured length.
        len: if total_len == 0 {
            data.len() as u32
        } else {
            total_len as u32
        },
        id: h.identification() as u32,
        dont_fragment: h.dont_fragment(),
        more_fragments: h.more_fragments(),
        frag_offset,
        is_fragment: h.more_fragments() || frag_offset > 0,
        header_len: header_len as u16,
        tos: data[1],
        has_options: header_len > 20,
    };
    p.ip = Some(info);
    if total_len < header_len {
        // Some capture offloads (TSO) write 0 here; take the captured length then.
        if total_len != 0 {
            return p.fail(Layer::Ip, IssueKind::Malformed);
        }
    }
    let end = if total_len >= header_len {
        total_len.min(data.len())
    } else {
        data.len()
    };
    let payload = &data[header_len..end];
    p.ip_payload = Some(payload);
    after_ip(p, payload, depth);
}

pub(crate) fn decode_ipv6<'a>(p: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    let h = match Ipv6HeaderSlice::from_slice(data) {
        Ok(h) => h,
        Err(etherparse::err::ipv6::HeaderSliceError::Len(_)) => {
            return p.fail(Layer::Ip, IssueKind::Truncated)
        }
        Err(_) => return p.fail(Layer::Ip, IssueKind::Malformed),
    };
    p.transport = Transport::None;
    let payload_len = h.payload_length() as usize;
    // A zero payload length means a jumbogram (or an offloaded capture): use what was captured.
    let end = if payload_len == 0 {
        data.len()
    } else {
        (40 + payload_len).min(data.len())
    };
    let mut info = IpInfo {
        version: 6,
        src: IpAddr::V6(h.source_addr()),
        dst: IpAddr::V6(h.destination_addr()),
        proto: h.next_header().0,
        ttl: h.hop_limit(),
        len: (40 + payload_len) as u32,
        id: 0,
        dont_fragment: false,
        more_fragments: false,
        frag_offset: 0,
        is_fragment: false,
        header_len: 40,
        tos: ((be16(data, 0) >> 4) & 0xff) as u8,
        has_options: false,
    };
    let mut rest = &data[40..end];
    p.ip_payload = Some(rest);
    let mut next = info.proto;
    for _ in 0..MAX_IPV6_EXTENSIONS {
        let ext_len = match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => {
                if rest.len() < 2 {
                    break;
                }
                (rest[1] as usize + 1) * 8
            }
            // Authentication header counts in 4-byte units, minus 2.
            51 => {
                if rest.len() < 2 {
                    break;
                }
                (rest[1] as usize + 2) * 4
            }
            44 => {
                let Ok(f) = Ipv6FragmentHeaderSlice::from_slice(rest) else {
                    break;
                };
                info.id = f.identification();
                info.more_fragments = f.more_fragments();
                info.frag_offset = f.fragment_offset().value();
                info.is_fragment = true;
                8
            }
            _ => break,
        };
        if rest.len() < ext_len {
            info.proto = next;
            p.ip = Some(info);
            return p.fail(Layer::Ip, IssueKind::Truncated);
        }
        next = rest[0];
        info.header_len += ext_len as u16;
        rest = &rest[ext_len..];
    }
    info.proto = next;
    p.ip = Some(info);
    after_ip(p, rest, depth);
}

/// Dispatches on the IP protocol: tunnels recurse, transports are decoded, later fragments stop.
/// The IP header is the one just decoded into `p.ip`; it is read there field by field (passing
/// it along by value cost a copy of it a packet).
#[inline(always)]
fn after_ip<'a>(p: &mut Packet<'a>, payload: &'a [u8], depth: u8) {
    let Some(ip) = p.ip.as_ref() else {
        return;
    };
    let (proto, later_fragment, more_fragments, version) = (
        ip.proto,
        ip.is_later_fragment(),
        ip.more_fragments,
        ip.version,
    );
    p.payload = payload;
    if later_fragment {
        p.transport = Transport::Other;
        return;
    }
    match proto {
        PROTO_TCP => tcp::decode_tcp(p, payload),
        PROTO_UDP => decode_udp(p, payload, depth),
        PROTO_ICMP | PROTO_ICMPV6 => {
            if payload.len() < 2 {
                return p.fail(Layer::Transport, IssueKind::Truncated);
            }
            p.transport = Transport::Icmp(IcmpInfo {
                v6: proto == PROTO_ICMPV6,
                icmp_type: payload[0],
                code: payload[1],
            });
            p.payload = &payload[payload.len().min(8)..];
        }
        PROTO_IPIP | PROTO_IPV6 if !more_fragments => {
            let kind = if version == 4 && proto == PROTO_IPV6 {
                TunnelKind::SixInFour
            } else {
                TunnelKind::IpInIp
            };
            let Some(outer) = p.ip else { return };
            if !tunnel::enter(p, kind, outer, None, None, depth) {
                return;
            }
            if proto == PROTO_IPIP {
                decode_ipv4(p, payload, depth + 1)
            } else {
                decode_ipv6(p, payload, depth + 1)
            }
        }
        PROTO_GRE if !more_fragments => {
            p.transport = Transport::Other;
            let Some(outer) = p.ip else { return };
            tunnel::gre_in_ip(p, outer, payload, depth)
        }
        _ => p.transport = Transport::Other,
    }
}

fn decode_udp<'a>(p: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    let Ok(h) = UdpHeaderSlice::from_slice(data) else {
        return p.fail(Layer::Transport, IssueKind::Truncated);
    };
    let len = h.length();
    let udp = UdpInfo {
        src_port: h.source_port(),
        dst_port: h.destination_port(),
        len,
    };
    p.transport = Transport::Udp(udp);
    let end = if (len as usize) >= 8 {
        (len as usize).min(data.len())
    } else {
        data.len()
    };
    p.payload = &data[8..end];
    if udp.dst_port == tunnel::VXLAN_PORT {
        tunnel::vxlan(p, depth);
    }
}
