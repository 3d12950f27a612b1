//! Tunnels: GRE (checksum, key and sequence fields; ERSPAN type I, II and III; transparent
//! Ethernet bridging), IP-in-IP, 6in4 and VXLAN. The outermost IP header is kept in
//! [`crate::Tunnel`] and the inner packet becomes the packet's `ip` and `transport`, because
//! mitigation decisions concern the inner traffic (Magic-Transit-style delivery wraps every
//! packet in GRE).

use crate::bytes::be16;
use crate::ip::{decode_ipv4, decode_ipv6, MAX_TUNNEL_DEPTH};
use crate::link::{ethernet, ethertype, ETH_CISCO_METADATA, ETH_IPV4, ETH_IPV6};
use crate::{IpInfo, IssueKind, Layer, Packet, Tunnel, TunnelKind};

pub(crate) const VXLAN_PORT: u16 = 4789;
const GRE_TEB: u16 = 0x6558;
const GRE_ERSPAN_2: u16 = 0x88BE;
const GRE_ERSPAN_3: u16 = 0x22EB;
const GRE_WCCP: u16 = 0x883E;

/// Records that a tunnel is being entered. Returns false (and flags the packet) when nesting is
/// too deep to follow.
pub(crate) fn enter(
    p: &mut Packet<'_>,
    kind: TunnelKind,
    outer: IpInfo,
    key: Option<u32>,
    gre_seq: Option<u32>,
    depth: u8,
) -> bool {
    if depth >= MAX_TUNNEL_DEPTH {
        p.fail(Layer::Tunnel, IssueKind::Malformed);
        return false;
    }
    match &mut p.tunnel {
        Some(t) => t.depth += 1,
        None => {
            p.tunnel = Some(Tunnel {
                kind,
                outer,
                key,
                gre_seq,
                depth: 1,
            })
        }
    }
    true
}

pub(crate) fn gre_in_ip<'a>(p: &mut Packet<'a>, outer: IpInfo, data: &'a [u8], depth: u8) {
    let Some(h) = GreHeader::parse(data) else {
        return p.fail(Layer::Tunnel, IssueKind::Truncated);
    };
    let kind = match h.proto {
        GRE_ERSPAN_2 if h.seq.is_some() => TunnelKind::Erspan2,
        GRE_ERSPAN_3 => TunnelKind::Erspan3,
        _ => TunnelKind::Gre,
    };
    if !enter(p, kind, outer, h.key, h.seq, depth) {
        return;
    }
    gre_payload(p, h, &data[h.len..], depth + 1)
}

/// GRE without an IP header in front (Linux cooked captures of a GRE interface).
pub(crate) fn gre<'a>(p: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    let Some(h) = GreHeader::parse(data) else {
        return p.fail(Layer::Tunnel, IssueKind::Truncated);
    };
    gre_payload(p, h, &data[h.len..], depth)
}

fn gre_payload<'a>(p: &mut Packet<'a>, h: GreHeader, body: &'a [u8], depth: u8) {
    match h.proto {
        ETH_IPV4 => decode_ipv4(p, body, depth),
        ETH_IPV6 => decode_ipv6(p, body, depth),
        GRE_TEB => ethernet(p, body, depth),
        // ERSPAN type I has no header of its own and no GRE sequence number.
        GRE_ERSPAN_2 if h.seq.is_none() => ethernet(p, body, depth),
        GRE_ERSPAN_2 => {
            if body.len() < 8 {
                return p.fail(Layer::Tunnel, IssueKind::Truncated);
            }
            set_key(p, (be16(body, 2) & 0x03ff) as u32);
            ethernet(p, &body[8..], depth)
        }
        GRE_ERSPAN_3 => {
            if body.len() < 12 {
                return p.fail(Layer::Tunnel, IssueKind::Truncated);
            }
            set_key(p, (be16(body, 2) & 0x03ff) as u32);
            // The O flag announces an 8-byte platform-specific subheader.
            let skip = if body[11] & 0x01 != 0 { 20 } else { 12 };
            if body.len() < skip {
                return p.fail(Layer::Tunnel, IssueKind::Truncated);
            }
            ethernet(p, &body[skip..], depth)
        }
        // Cisco MetaData inside GRE puts the next EtherType first, then version, length,
        // option type and SGT: 8 bytes.
        ETH_CISCO_METADATA => {
            if body.len() < 8 {
                return p.fail(Layer::Tunnel, IssueKind::Truncated);
            }
            ethertype(p, be16(body, 0), &body[8..], depth)
        }
        // WCCP v2 puts a 4-byte redirect header before the IP packet; v1 does not.
        GRE_WCCP => match body.first() {
            Some(b) if b >> 4 == 4 => decode_ipv4(p, body, depth),
            Some(_) if body.len() > 4 => crate::link::raw_ip(p, &body[4..], depth),
            _ => p.fail(Layer::Tunnel, IssueKind::Truncated),
        },
        other => ethertype(p, other, body, depth),
    }
}

fn set_key(p: &mut Packet<'_>, key: u32) {
    if let Some(t) = &mut p.tunnel {
        if t.key.is_none() {
            t.key = Some(key);
        }
    }
}

/// VXLAN over UDP: 8-byte header with the I flag, then an Ethernet frame.
pub(crate) fn vxlan(p: &mut Packet<'_>, depth: u8) {
    let body = p.payload;
    if body.len() < 8 + 14 || body[0] & 0x08 == 0 {
        return;
    }
    let Some(outer) = p.ip else { return };
    let vni = u32::from_be_bytes([0, body[4], body[5], body[6]]);
    if !enter(p, TunnelKind::Vxlan, outer, Some(vni), None, depth) {
        return;
    }
    p.ethertype = 0;
    ethernet(p, &body[8..], depth + 1)
}

#[derive(Clone, Copy)]
struct GreHeader {
    proto: u16,
    key: Option<u32>,
    seq: Option<u32>,
    len: usize,
}

impl GreHeader {
    fn parse(b: &[u8]) -> Option<GreHeader> {
        if b.len() < 4 {
            return None;
        }
        let flags = be16(b, 0);
        let proto = be16(b, 2);
        let version = flags & 0x7;
        let mut len = 4;
        // Version 1 is PPTP's enhanced GRE: key always present, payload is PPP.
        if flags & 0x8000 != 0 || flags & 0x4000 != 0 {
            len += 4; // checksum (and offset) or routing
        }
        // Optional 32-bit fields in flag order: key (K bit), then sequence number (S bit).
        let mut optional = |present: bool| -> Option<Option<u32>> {
            if !present {
                return Some(None);
            }
            let v = b.get(len..len + 4)?;
            len += 4;
            Some(Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]])))
        };
        let key = optional(flags & 0x2000 != 0)?;
        let seq = optional(flags & 0x1000 != 0)?;
        if version == 1 && flags & 0x0080 != 0 {
            len += 4; // acknowledgment number
        }
        if b.len() < len {
            return None;
        }
        Some(GreHeader {
            proto,
            key,
            seq,
            len,
        })
    }
}
