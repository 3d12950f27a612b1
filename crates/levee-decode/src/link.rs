//! Link layers and what sits between them and IP: Ethernet, Linux cooked capture (SLL, SLL2),
//! BSD null/loopback, raw IP, PPP, Cisco HDLC; 802.1Q/802.1ad VLAN tags, MPLS label stacks and
//! PPPoE sessions.

use crate::bytes::be16;
use crate::{ip, linktype as lt, IssueKind, Layer, Packet};

pub(crate) const ETH_IPV4: u16 = 0x0800;
pub(crate) const ETH_IPV6: u16 = 0x86DD;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88A8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;
/// Cisco MetaData (security group tag), seen inside GRE on Cisco TrustSec networks.
pub(crate) const ETH_CISCO_METADATA: u16 = 0x8909;

/// Tags and labels beyond these are taken as malformed: real networks stack a few.
const MAX_VLAN_TAGS: u8 = 8;
const MAX_MPLS_LABELS: u8 = 16;

/// Decodes a frame of `linktype` into `p`: the straight path for the common case first, then
/// the general walk.
#[inline(always)]
pub(crate) fn decode_link<'a>(p: &mut Packet<'a>, linktype: u32, data: &'a [u8]) {
    if linktype == lt::ETHERNET && ip::ethernet_ipv4_straight(p, data) {
        return;
    }
    decode_link_walk(p, linktype, data)
}

/// The general walk over every link layer, tag, label and tunnel levee knows.
pub(crate) fn decode_link_walk<'a>(p: &mut Packet<'a>, linktype: u32, data: &'a [u8]) {
    match linktype {
        lt::ETHERNET => ethernet(p, data, 0),
        lt::RAW | lt::RAW_12 | lt::RAW_14 => raw_ip(p, data, 0),
        lt::IPV4 => ip::decode_ipv4(p, data, 0),
        lt::IPV6 => ip::decode_ipv6(p, data, 0),
        lt::LINUX_SLL => {
            if data.len() < 16 {
                return p.fail(Layer::Link, IssueKind::Truncated);
            }
            let proto = be16(data, 14);
            let arphrd = be16(data, 2);
            // ARPHRD_IPGRE (778) frames carry a GRE header rather than an EtherType payload.
            if arphrd == 778 {
                return crate::tunnel::gre(p, &data[16..], 0);
            }
            ethertype(p, proto, &data[16..], 0)
        }
        lt::LINUX_SLL2 => {
            if data.len() < 20 {
                return p.fail(Layer::Link, IssueKind::Truncated);
            }
            ethertype(p, be16(data, 0), &data[20..], 0)
        }
        lt::NULL | lt::LOOP => {
            if data.len() < 4 {
                return p.fail(Layer::Link, IssueKind::Truncated);
            }
            // The family is in the capturing host's byte order for NULL and in network order
            // for LOOP; accept either, since files move between hosts.
            let raw = [data[0], data[1], data[2], data[3]];
            let family = if linktype == lt::LOOP {
                u32::from_be_bytes(raw)
            } else {
                let le = u32::from_le_bytes(raw);
                if le <= 0xffff {
                    le
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            match family {
                2 => ip::decode_ipv4(p, &data[4..], 0),
                // AF_INET6 differs between BSDs: 24 (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
                24 | 28 | 30 | 10 => ip::decode_ipv6(p, &data[4..], 0),
                _ => p.fail(Layer::Link, IssueKind::Unsupported),
            }
        }
        lt::PPP | lt::PPP_HDLC => {
            let body = if data.len() >= 2 && data[0] == 0xff && data[1] == 0x03 {
                &data[2..]
            } else {
                data
            };
            ppp(p, body, 0)
        }
        lt::C_HDLC => {
            if data.len() < 4 {
                return p.fail(Layer::Link, IssueKind::Truncated);
            }
            ethertype(p, be16(data, 2), &data[4..], 0)
        }
        _ => p.fail(Layer::Link, IssueKind::Unsupported),
    }
}

/// Raw IP: the version nibble says which.
pub(crate) fn raw_ip<'a>(p: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    match data.first().map(|b| b >> 4) {
        Some(4) => ip::decode_ipv4(p, data, depth),
        Some(6) => ip::decode_ipv6(p, data, depth),
        Some(_) => p.fail(Layer::Ip, IssueKind::Malformed),
        None => p.fail(Layer::Ip, IssueKind::Truncated),
    }
}

/// An Ethernet II frame (also the payload of VXLAN, ERSPAN and transparent-bridging GRE).
pub(crate) fn ethernet<'a>(p: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    if data.len() < 14 {
        return p.fail(Layer::Link, IssueKind::Truncated);
    }
    let et = be16(data, 12);
    if et < 0x0600 {
        // An 802.3 length field: LLC/SNAP, not IP (STP, CDP...).
        p.ethertype = 0;
        return p.fail(Layer::Link, IssueKind::Unsupported);
    }
    ethertype(p, et, &data[14..], depth)
}

/// Follows an EtherType through VLAN tags, MPLS and PPPoE down to IP.
pub(crate) fn ethertype<'a>(p: &mut Packet<'a>, mut et: u16, mut data: &'a [u8], depth: u8) {
    loop {
        p.ethertype = et;
        match et {
            ETH_IPV4 => return ip::decode_ipv4(p, data, depth),
            ETH_IPV6 => return ip::decode_ipv6(p, data, depth),
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                if data.len() < 4 {
                    return p.fail(Layer::Vlan, IssueKind::Truncated);
                }
                if p.vlan_count >= MAX_VLAN_TAGS {
                    return p.fail(Layer::Vlan, IssueKind::Malformed);
                }
                if (p.vlan_count as usize) < p.vlan_ids.len() {
                    p.vlan_ids[p.vlan_count as usize] = be16(data, 0) & 0x0fff;
                }
                p.vlan_count += 1;
                et = be16(data, 2);
                data = &data[4..];
            }
            ETH_MPLS | ETH_MPLS_MC => return mpls(p, data, depth),
            ETH_CISCO_METADATA => {
                // On Ethernet: version, length, option type, SGT, then the next EtherType.
                // (Inside GRE the EtherType comes first; see the tunnel module.)
                if data.len() < 8 {
                    return p.fail(Layer::Link, IssueKind::Truncated);
                }
                et = be16(data, 6);
                data = &data[8..];
            }
            ETH_PPPOE_SESSION => {
                if data.len() < 8 {
                    return p.fail(Layer::Pppoe, IssueKind::Truncated);
                }
                p.pppoe_session = Some(be16(data, 2));
                return ppp(p, &data[6..], depth);
            }
            _ => return p.fail(Layer::Link, IssueKind::Unsupported),
        }
    }
}

fn mpls<'a>(p: &mut Packet<'a>, mut data: &'a [u8], depth: u8) {
    loop {
        if data.len() < 4 {
            return p.fail(Layer::Mpls, IssueKind::Truncated);
        }
        if p.mpls_labels >= MAX_MPLS_LABELS {
            return p.fail(Layer::Mpls, IssueKind::Malformed);
        }
        p.mpls_labels += 1;
        let bottom = data[2] & 0x01 != 0;
        data = &data[4..];
        if bottom {
            break;
        }
    }
    // No protocol field follows the stack: guess from the first nibble, as Wireshark does.
    // A zero nibble is a pseudowire control word, followed by an Ethernet frame.
    match data.first().map(|b| b >> 4) {
        Some(4) => ip::decode_ipv4(p, data, depth),
        Some(6) => ip::decode_ipv6(p, data, depth),
        Some(0) if data.len() >= 4 => ethernet(p, &data[4..], depth),
        Some(_) => p.fail(Layer::Mpls, IssueKind::Unsupported),
        None => p.fail(Layer::Mpls, IssueKind::Truncated),
    }
}

/// A PPP frame starting at its protocol field.
fn ppp<'a>(p: &mut Packet<'a>, data: &'a [u8], depth: u8) {
    if data.len() < 2 {
        return p.fail(Layer::Pppoe, IssueKind::Truncated);
    }
    // A protocol field may be compressed to one byte when its low bit is set.
    let (proto, rest) = if data[0] & 1 == 1 {
        (data[0] as u16, &data[1..])
    } else {
        (be16(data, 0), &data[2..])
    };
    match proto {
        0x0021 => ip::decode_ipv4(p, rest, depth),
        0x0057 => ip::decode_ipv6(p, rest, depth),
        _ => p.fail(Layer::Pppoe, IssueKind::Unsupported),
    }
}
