//! Walking a frame's headers to rewrite every address and MAC in place, with the checksums
//! that cover them kept true (RFC 1624's incremental update, so a frame captured short of its
//! length is updated as well as a whole one), and cutting what cannot be walked.
//!
//! Walked: Ethernet (VLAN and QinQ tags, MPLS, PPPoE), Linux cooked captures (SLL, SLL2),
//! raw IP, BSD loopback; IPv4 and IPv6 (extension headers), IP in IP, GRE, VXLAN; ARP; TCP, UDP; ICMP and
//! ICMPv6 errors (the header they quote) and neighbour discovery (its target and link-layer
//! options). A frame is cut where the walk cannot go on (another link type, EtherType or IPv6
//! routing header): what follows might hold an address, and a mitigation tool's evidence
//! must not leak what it was asked to hide. Each cut is counted with its reason.
//!
//! Payloads (after the transport header) are kept, cut after a number of bytes, or dropped, as
//! [`Payload`] says; the frame's length on the wire stays what it was.

use std::collections::BTreeMap;

use crate::names;
pub use crate::rewriter::{Rewriter, Unchanged};

/// What becomes of the bytes after the transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Kept whole.
    Keep,
    /// The first N bytes kept (0: dropped).
    Cut(usize),
}

/// What a frame's walk did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Walk {
    /// The bytes to keep of the frame (the rest was cut).
    pub keep: usize,
    /// Why it was cut before the payload, if it was.
    pub cut: Option<String>,
    /// Payload bytes removed.
    pub payload_removed: usize,
    /// Where the outermost IP packet ends, when the frame holds one: what follows is the
    /// link's padding (zeroed when anonymising: it may hold a host's memory, "Etherleak").
    pub ip_end: Option<usize>,
}

/// Frames cut, by reason.
pub type Cuts = BTreeMap<String, u64>;

/// Rewrites the frame `data` of `linktype`: every address and MAC through `r`, payloads as
/// `payload` says.
pub fn frame(linktype: u32, data: &mut [u8], r: &mut dyn Rewriter, payload: Payload) -> Walk {
    let mut w = Walker {
        data,
        r,
        payload,
        walk: Walk::default(),
    };
    let len = w.data.len();
    w.walk.keep = len;
    match linktype {
        // Ethernet.
        1 => w.ethernet(0, len),
        // Raw IP (DLT_RAW's values), IPv4, IPv6.
        101 | 12 | 14 => w.ip_by_version(0, len, None),
        228 => w.ip_by_version(0, len, Some(4)),
        229 => w.ip_by_version(0, len, Some(6)),
        // PPP (with or without its address and control bytes), and Cisco HDLC.
        9 | 50 | 104 if len >= 4 => {
            let o = if w.data[..2] == [0xff, 0x03] || linktype == 104 {
                2
            } else {
                0
            };
            let proto = u16::from_be_bytes([w.data[o], w.data[o + 1]]);
            if linktype == 104 {
                w.ethertype(proto, 4, len);
            } else {
                w.ppp(proto, o + 2, len);
            }
        }
        // BSD loopback: a 4-byte address family in the host's order, then IP.
        0 | 108 => w.ip_by_version(4.min(len), len, None),
        // Linux cooked v1: its address (the sender's MAC) at 6, the protocol at 14.
        113 if len >= 16 => {
            if u16::from_be_bytes([w.data[4], w.data[5]]) == 6 {
                w.mac_at(6);
            }
            let proto = u16::from_be_bytes([w.data[14], w.data[15]]);
            w.ethertype(proto, 16, len);
        }
        // Linux cooked v2: the protocol at 0, the address at 12.
        276 if len >= 20 => {
            if w.data[11] == 6 {
                w.mac_at(12);
            }
            let proto = u16::from_be_bytes([w.data[0], w.data[1]]);
            w.ethertype(proto, 20, len);
        }
        other => w.cut(0, format!("link type {other} not walked")),
    }
    if let (Some(end), true) = (w.walk.ip_end, w.r.scrubs_padding()) {
        let stop = w.walk.keep.min(w.data.len());
        if end < stop {
            w.data[end..stop].fill(0);
        }
    }
    w.walk
}

struct Walker<'a, 'r> {
    data: &'a mut [u8],
    r: &'r mut dyn Rewriter,
    payload: Payload,
    walk: Walk,
}

impl Walker<'_, '_> {
    /// Cuts the frame at `at`, for `why` (the first cut counts).
    fn cut(&mut self, at: usize, why: String) {
        if at < self.walk.keep {
            self.walk.keep = at;
            self.walk.cut.get_or_insert(why);
        }
    }

    /// The payload from `at` to `end`, as the policy says.
    fn payload(&mut self, at: usize, end: usize) {
        if let Payload::Cut(n) = self.payload {
            let stop = at.saturating_add(n).min(end);
            if stop < self.walk.keep && stop < end {
                self.walk.payload_removed += self.walk.keep.min(self.data.len()) - stop;
                self.walk.keep = stop;
            }
        }
    }

    fn mac_at(&mut self, at: usize) {
        if at + 6 <= self.data.len() {
            let mut mac: [u8; 6] = self.data[at..at + 6].try_into().expect("6 bytes");
            self.r.mac(&mut mac);
            self.data[at..at + 6].copy_from_slice(&mac);
        }
    }

    fn ethernet(&mut self, at: usize, end: usize) {
        if end < at + 14 {
            return self.cut(at, "Ethernet header cut short".into());
        }
        self.mac_at(at);
        self.mac_at(at + 6);
        let mut o = at + 12;
        let mut ethertype = u16::from_be_bytes([self.data[o], self.data[o + 1]]);
        while matches!(ethertype, 0x8100 | 0x88a8 | 0x9100) {
            o += 4;
            if end < o + 2 {
                return self.cut(at, "VLAN tag cut short".into());
            }
            ethertype = u16::from_be_bytes([self.data[o], self.data[o + 1]]);
        }
        self.ethertype(ethertype, o + 2, end);
    }

    fn ethertype(&mut self, ethertype: u16, at: usize, end: usize) {
        match ethertype {
            0x0800 => self.ipv4(at, end),
            0x86dd => self.ipv6(at, end),
            0x0806 => self.arp(at, end),
            0x8847 | 0x8848 => self.mpls(at, end),
            // PPPoE session: 6 bytes, then PPP's protocol.
            0x8864 if end >= at + 8 => {
                let proto = u16::from_be_bytes([self.data[at + 6], self.data[at + 7]]);
                self.ppp(proto, at + 8, end);
            }
            other => self.cut(at, format!("EtherType 0x{other:04x} not walked")),
        }
    }

    /// MPLS: labels to the bottom of the stack, then IP (told by its version).
    fn mpls(&mut self, at: usize, end: usize) {
        let mut o = at;
        while o + 4 <= end && self.data[o + 2] & 1 == 0 {
            o += 4;
        }
        if o + 4 > end {
            return self.cut(at, "MPLS label stack cut short".into());
        }
        self.ip_by_version(o + 4, end, None);
    }

    /// What a PPP protocol number says follows at `at`.
    fn ppp(&mut self, proto: u16, at: usize, end: usize) {
        match proto {
            0x0021 => self.ipv4(at, end),
            0x0057 => self.ipv6(at, end),
            0x0281 | 0x0283 => self.mpls(at, end),
            other => self.cut(at, format!("PPP protocol 0x{other:04x} not walked")),
        }
    }

    fn ip_by_version(&mut self, at: usize, end: usize, version: Option<u8>) {
        if at >= end {
            return;
        }
        match version.unwrap_or(self.data[at] >> 4) {
            4 => self.ipv4(at, end),
            6 => self.ipv6(at, end),
            v => self.cut(at, format!("IP version {v} not walked")),
        }
    }

    fn arp(&mut self, at: usize, end: usize) {
        // Ethernet and IPv4 only: hardware type 1, protocol 0x0800, 6 and 4 bytes.
        if end < at + 28 || self.data[at..at + 6] != [0, 1, 8, 0, 6, 4] {
            return self.cut(at, "ARP other than Ethernet and IPv4, or cut short".into());
        }
        self.mac_at(at + 8);
        self.address_at(at + 14, 4, &[]);
        self.mac_at(at + 18);
        self.address_at(at + 24, 4, &[]);
    }

    /// Rewrites the address of `len` bytes at `at`, updating the checksums at `sums`.
    fn address_at(&mut self, at: usize, len: usize, sums: &[usize]) {
        if at + len > self.data.len() {
            return;
        }
        let mut a = [0u8; 16];
        a[..len].copy_from_slice(&self.data[at..at + len]);
        let old = a;
        self.r.address(&mut a[..len]);
        self.data[at..at + len].copy_from_slice(&a[..len]);
        for &s in sums {
            adjust(self.data, s, &old[..len], &a[..len]);
        }
    }

    fn ipv4(&mut self, at: usize, end: usize) {
        let end = end.min(self.data.len());
        if end < at + 20 {
            return self.cut(at, "IPv4 header cut short".into());
        }
        let ihl = usize::from(self.data[at] & 0x0f) * 4;
        if ihl < 20 || end < at + ihl {
            return self.cut(at, "IPv4 header cut short or damaged".into());
        }
        let total = usize::from(u16::from_be_bytes([self.data[at + 2], self.data[at + 3]]));
        let end = if total >= ihl {
            end.min(at + total)
        } else {
            end
        };
        self.walk.ip_end.get_or_insert(end);
        let proto = self.data[at + 9];
        let first_fragment =
            u16::from_be_bytes([self.data[at + 6], self.data[at + 7]]) & 0x1fff == 0;
        let l4 = at + ihl;
        // The transport checksum covers the addresses (the pseudo-header), when it is in this
        // fragment.
        let sum = match proto {
            6 if first_fragment && end >= l4 + 18 => Some(l4 + 16),
            17 if first_fragment && end >= l4 + 8 && self.data[l4 + 6..l4 + 8] != [0, 0] => {
                Some(l4 + 6)
            }
            _ => None,
        };
        let sums: Vec<usize> = std::iter::once(at + 10).chain(sum).collect();
        self.address_at(at + 12, 4, &sums);
        self.address_at(at + 16, 4, &sums);
        if proto == 17 {
            self.udp_checksum_not_none(sum);
        }
        if !first_fragment {
            return self.payload(l4, end);
        }
        self.transport(proto, l4, end, false);
    }

    fn ipv6(&mut self, at: usize, end: usize) {
        let end = end.min(self.data.len());
        if end < at + 40 {
            return self.cut(at, "IPv6 header cut short".into());
        }
        let plen = usize::from(u16::from_be_bytes([self.data[at + 4], self.data[at + 5]]));
        let end = if plen > 0 {
            end.min(at + 40 + plen)
        } else {
            end
        };
        self.walk.ip_end.get_or_insert(end);
        // Find the transport first: its checksum covers the addresses.
        let mut next = self.data[at + 6];
        let mut o = at + 40;
        loop {
            match next {
                0 | 60 | 51 | 44 if end >= o + 8 => {
                    let len = match next {
                        44 => 8,
                        51 => (usize::from(self.data[o + 1]) + 2) * 4,
                        _ => (usize::from(self.data[o + 1]) + 1) * 8,
                    };
                    if next == 44
                        && u16::from_be_bytes([self.data[o + 2], self.data[o + 3]]) & 0xfff8 != 0
                    {
                        // A later fragment: no transport header in it.
                        self.address_at(at + 8, 16, &[]);
                        self.address_at(at + 24, 16, &[]);
                        return self.payload(o + 8, end);
                    }
                    next = self.data[o];
                    o += len;
                }
                43 => {
                    self.address_at(at + 8, 16, &[]);
                    self.address_at(at + 24, 16, &[]);
                    return self.cut(o, "IPv6 routing header not walked".into());
                }
                _ => break,
            }
        }
        if o > end {
            self.address_at(at + 8, 16, &[]);
            self.address_at(at + 24, 16, &[]);
            return self.cut(at + 40, "IPv6 extension headers cut short".into());
        }
        let sum = match next {
            6 if end >= o + 18 => Some(o + 16),
            // A zero UDP checksum over IPv6 is none too (tunnels may send it, RFC 6935).
            17 if end >= o + 8 && self.data[o + 6..o + 8] != [0, 0] => Some(o + 6),
            58 if end >= o + 4 => Some(o + 2),
            _ => None,
        };
        let sums: Vec<usize> = sum.into_iter().collect();
        self.address_at(at + 8, 16, &sums);
        self.address_at(at + 24, 16, &sums);
        if next == 17 {
            self.udp_checksum_not_none(sum);
        }
        self.transport(next, o, end, true);
    }

    /// The transport header of protocol `proto` at `at`, its packet ending at `end`.
    fn transport(&mut self, proto: u8, at: usize, end: usize, v6: bool) {
        match proto {
            6 => {
                if end < at + 20 {
                    return self.payload(at, end);
                }
                let off = usize::from(self.data[at + 12] >> 4) * 4;
                let ports = self.ports(at);
                let start = at + off.max(20);
                self.application(true, ports, start, end, (at + 16, at));
                self.payload(start, end);
            }
            17 => {
                if end < at + 8 {
                    return self.payload(at, end);
                }
                let ports = self.ports(at);
                if ports.1 == 4789 && end >= at + 16 {
                    // VXLAN: an Ethernet frame after its 8 bytes.
                    return self.ethernet(at + 16, end);
                }
                self.application(false, ports, at + 8, end, (at + 6, at));
                self.payload(at + 8, end);
            }
            1 if !v6 => self.icmp(at, end, None),
            58 if v6 => self.icmp(at, end, Some(())),
            4 => self.ipv4(at, end),
            41 => self.ipv6(at, end),
            47 => self.gre(at, end),
            _ => self.payload(at, end),
        }
    }

    fn ports(&self, at: usize) -> (u16, u16) {
        (
            u16::from_be_bytes([self.data[at], self.data[at + 1]]),
            u16::from_be_bytes([self.data[at + 2], self.data[at + 3]]),
        )
    }

    /// The names (and addresses) in the payload at `at..end` of a TCP segment or UDP datagram
    /// between `ports`, its checksum at `sum.0` covering from `sum.1` (a UDP checksum of 0 is
    /// none).
    fn application(
        &mut self,
        tcp: bool,
        ports: (u16, u16),
        at: usize,
        end: usize,
        sum: (usize, usize),
    ) {
        if at >= end {
            return;
        }
        let mut changed = Vec::new();
        let dns_port = |p: u16| matches!(p, 53 | 5353 | 5355);
        if dns_port(ports.0) || dns_port(ports.1) {
            // Over TCP, a message begins after its two bytes of length (when this segment
            // begins one).
            let msg = if tcp { at + 2 } else { at };
            names::dns(self.data, msg, end, self.r, &mut changed);
        } else if !tcp && matches!(ports, (67 | 68, 67 | 68)) {
            crate::dhcp::dhcp(self.data, at, end, self.r, &mut changed);
        } else if tcp && names::is_http_request(self.data, at, end) {
            names::http(self.data, at, end, self.r, &mut changed);
        } else if tcp && self.data[at] == 0x16 {
            names::tls_client_hello(self.data, at, end, self.r, &mut changed);
        }
        let (sum_at, region) = sum;
        let no_checksum = !tcp && self.data[sum_at..sum_at + 2] == [0, 0];
        if no_checksum {
            return;
        }
        for (o, before) in changed {
            adjust_unaligned(self.data, sum_at, region, end, o, &before);
        }
        if !tcp {
            self.udp_checksum_not_none(Some(sum_at));
        }
    }

    /// A UDP checksum that an update made 0 written as 0xffff, its other zero (RFC 768): 0
    /// says the datagram has none, and whoever reads it next, restoring it included, would
    /// leave it alone.
    fn udp_checksum_not_none(&mut self, sum: Option<usize>) {
        if let Some(at) = sum.filter(|&at| at + 2 <= self.data.len()) {
            if self.data[at..at + 2] == [0, 0] {
                self.data[at..at + 2].copy_from_slice(&[0xff, 0xff]);
            }
        }
    }

    /// ICMP (`v6` None) or ICMPv6: errors' quoted packets and neighbour discovery rewritten.
    fn icmp(&mut self, at: usize, end: usize, v6: Option<()>) {
        if end < at + 8 {
            return self.payload(at, end);
        }
        let kind = self.data[at];
        let error = match v6 {
            None => matches!(kind, 3 | 4 | 5 | 11 | 12),
            Some(()) => matches!(kind, 1..=4),
        };
        if error {
            // The quoted packet's addresses change the ICMP checksum: rewrite it in a copy of
            // its own walk, then adjust.
            let before = self.data[at + 8..end].to_vec();
            if v6.is_none() {
                self.ipv4(at + 8, end);
            } else {
                self.ipv6(at + 8, end);
            }
            let after = self.data[at + 8..end].to_vec();
            adjust_spans(self.data, at + 2, &before, &after);
            return;
        }
        // Neighbour discovery: router solicitations and advertisements, neighbour
        // solicitations and advertisements (a target), redirects (a target and a
        // destination); then options, whose link-layer addresses (1, 2) are MACs.
        let (addresses, options) = match kind {
            133 => (0, at + 8),
            134 => (0, at + 16),
            135 | 136 => (1, at + 24),
            137 => (2, at + 40),
            _ => (0, 0),
        };
        if v6.is_some() && options > 0 && end >= options {
            for i in 0..addresses {
                self.address_at(at + 8 + 16 * i, 16, &[at + 2]);
            }
            let mut o = options;
            while o + 8 <= end {
                let len = usize::from(self.data[o + 1]) * 8;
                if len == 0 {
                    break;
                }
                if matches!(self.data[o], 1 | 2) {
                    let before = self.data[o + 2..o + 8].to_vec();
                    self.mac_at(o + 2);
                    let after = self.data[o + 2..o + 8].to_vec();
                    adjust(self.data, at + 2, &before, &after);
                }
                o += len;
            }
            return;
        }
        self.payload(at + 8, end);
    }

    fn gre(&mut self, at: usize, end: usize) {
        if end < at + 4 {
            return self.cut(at, "GRE header cut short".into());
        }
        let flags = self.data[at];
        let mut o = at + 4;
        for bit in [0x80u8, 0x20, 0x10] {
            if flags & bit != 0 {
                o += 4;
            }
        }
        let proto = u16::from_be_bytes([self.data[at + 2], self.data[at + 3]]);
        match proto {
            0x0800 | 0x86dd | 0x0806 => self.ethertype(proto, o, end),
            0x6558 => self.ethernet(o, end),
            other => self.cut(o, format!("GRE protocol 0x{other:04x} not walked")),
        }
    }
}

/// The ones' complement sum's incremental update (RFC 1624, eqn. 3) of the checksum at
/// `sum` for the bytes `old` turned into `new` (of even length, at an even offset from the
/// checksummed data's start).
fn adjust(data: &mut [u8], sum: usize, old: &[u8], new: &[u8]) {
    if sum + 2 > data.len() {
        return;
    }
    let mut acc = u32::from(!u16::from_be_bytes([data[sum], data[sum + 1]]));
    for (o, n) in old.chunks(2).zip(new.chunks(2)) {
        let word = |c: &[u8]| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        acc += u32::from(!word(o)) + u32::from(word(n));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    data[sum..sum + 2].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}

/// [`adjust`] for the bytes at `at` that were `before`, wherever they start in the data
/// checksummed from `region` to `end`: widened by a byte on either side, unchanged, to whole
/// 16-bit words (a byte past `end` counts as the zero the sum pads with).
fn adjust_unaligned(
    data: &mut [u8],
    sum: usize,
    region: usize,
    end: usize,
    at: usize,
    before: &[u8],
) {
    let mut start = at;
    let mut old = before.to_vec();
    let mut new = data[at..at + before.len()].to_vec();
    if (at - region) % 2 == 1 {
        start -= 1;
        old.insert(0, data[start]);
        new.insert(0, data[start]);
    }
    if old.len() % 2 == 1 {
        let next = start + old.len();
        let byte = if next < end { data[next] } else { 0 };
        old.push(byte);
        new.push(byte);
    }
    adjust(data, sum, &old, &new);
}

/// [`adjust`] for a span whose changes start at an even offset from the checksummed data.
fn adjust_spans(data: &mut [u8], sum: usize, before: &[u8], after: &[u8]) {
    if before != after {
        adjust(data, sum, before, after);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Swaps the last byte of every address and MAC for 0x99.
    struct Mark;

    impl Rewriter for Mark {
        fn address(&mut self, a: &mut [u8]) {
            *a.last_mut().unwrap() = 0x99;
        }
        fn mac(&mut self, mac: &mut [u8; 6]) {
            mac[5] = 0x99;
        }
    }

    /// The ones' complement sum of `data` in 16-bit words.
    fn sum(data: &[u8]) -> u16 {
        let mut acc = 0u32;
        for c in data.chunks(2) {
            acc += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    fn udp_frame() -> Vec<u8> {
        let mut f = vec![
            0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0x01, 0x11, 0x22, 0x33, 0x44, 0x55, 0x02, 0x08, 0x00,
        ];
        let payload = b"hello, world";
        let mut ip = vec![
            0x45,
            0,
            0,
            (28 + payload.len()) as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
            192,
            0,
            2,
            1,
            198,
            51,
            100,
            7,
        ];
        let c = !sum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut udp = vec![0x30, 0x39, 0, 53, 0, (8 + payload.len()) as u8, 0, 0];
        udp.extend(payload);
        let mut pseudo = ip[12..20].to_vec();
        pseudo.extend([0, 17, 0, udp[5]]);
        pseudo.extend(&udp);
        let c = !sum(&pseudo);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        f.extend(ip);
        f.extend(udp);
        f
    }

    #[test]
    fn addresses_and_macs_change_and_checksums_stay_true() {
        let mut f = udp_frame();
        let w = frame(1, &mut f, &mut Mark, Payload::Keep);
        assert_eq!(w.keep, f.len());
        assert_eq!(f[5], 0x99);
        assert_eq!(f[11], 0x99);
        assert_eq!(&f[26..30], &[192, 0, 2, 0x99]);
        assert_eq!(&f[30..34], &[198, 51, 100, 0x99]);
        assert_eq!(sum(&f[14..34]), 0xffff, "IPv4 header checksum");
        let mut pseudo = f[26..34].to_vec();
        pseudo.extend([0, 17, 0, f[39]]);
        pseudo.extend(&f[34..]);
        assert_eq!(sum(&pseudo), 0xffff, "UDP checksum");
    }

    /// A UDP checksum that comes out as 0 is sent as 0xffff (RFC 768): 0 says there is none,
    /// and a reader (or the walk restoring it) would then leave it alone.
    #[test]
    fn a_udp_checksum_never_becomes_none() {
        let mut zeros = 0;
        for word in 0..=u16::MAX {
            let mut f = udp_frame();
            f[42..44].copy_from_slice(&word.to_be_bytes());
            f[40..42].fill(0);
            let mut pseudo = f[26..34].to_vec();
            pseudo.extend([0, 17, 0, f[39]]);
            pseudo.extend(&f[34..]);
            // As a sender does: a computed 0 is sent as 0xffff.
            let c = match !sum(&pseudo) {
                0 => 0xffff,
                c => c,
            };
            f[40..42].copy_from_slice(&c.to_be_bytes());
            frame(1, &mut f, &mut Mark, Payload::Keep);
            assert_ne!(&f[40..42], &[0, 0], "payload word {word:#06x}");
            let mut pseudo = f[26..34].to_vec();
            pseudo.extend([0, 17, 0, f[39]]);
            pseudo.extend(&f[34..]);
            assert_eq!(sum(&pseudo), 0xffff, "payload word {word:#06x}");
            zeros += usize::from(f[40..42] == [0xff, 0xff]);
        }
        assert!(zeros > 0, "no payload made the checksum 0");
    }

    #[test]
    fn payloads_are_cut_as_asked_and_unknown_protocols_cut_whole() {
        let mut f = udp_frame();
        let w = frame(1, &mut f, &mut Mark, Payload::Cut(4));
        assert_eq!(w.keep, 42 + 4);
        assert_eq!(w.payload_removed, 8);
        let mut lldp = vec![0u8; 60];
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        let w = frame(1, &mut lldp, &mut Mark, Payload::Keep);
        assert_eq!(w.keep, 14);
        assert_eq!(w.cut.as_deref(), Some("EtherType 0x88cc not walked"));
    }
}
