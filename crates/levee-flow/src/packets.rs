//! Flow records as the packets they stand for, so that everything levee does with packets
//! (summary, analysis, rules, simulation) works on flows unchanged.
//!
//! A flow is packets with the same headers: a record becomes one [`Packet`] whose
//! [`Packet::count`] is its packets scaled by the sampling rate, its length their mean. Two
//! things keep the figures true:
//!
//! * **Time.** A record that lasted longer than a second is cut into parts, one a second over
//!   its span, each with its share of the packets; a record reported at its end would
//!   otherwise put a minute of traffic in one second (a burst of NetFlow taken for a flood).
//! * **Bytes.** Within a part, packets of the mean length rounded down and up add up to the
//!   record's bytes exactly, so totals equal the exporter's (and another collector's).
//!
//! What a record does not say stays unsaid: its packets carry no payload, and TTL, TCP window,
//! IP id and options are zero unless exported (see [`Unknown`]); the analysis is told so and
//! builds no signature on them. TCP flags are ORed over a flow: a record of several packets
//! with ACK is a connection's exchange: its first packet is given SYN when the flags hold one
//! (the handshake the others belong to), the others ACK (with PSH, URG, ECE and CWR as seen),
//! not SYN and FIN each. sFlow samples carry the
//! packet's own headers, decoded as captured.
//!
//! Parts come out in the order of their records; [`Reorder`] puts them in time order (to the
//! second) within a horizon.

use std::net::IpAddr;

use levee_decode::{
    linktype, IcmpInfo, IpInfo, Packet, TcpFlags, TcpInfo, TcpOptions, Transport, UdpInfo,
};

use crate::FlowRecord;

/// The longest span, in seconds, a record is cut over: a record claiming more (a damaged
/// clock) is spread over this many seconds at its end.
const MAX_PARTS: u64 = 3600;

/// What flow records leave unknown in the packets they stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Unknown {
    /// The TTL: not exported (NetFlow v5 and most v9 and IPFIX templates).
    pub ttl: bool,
    /// The TCP window, IP id and TCP options: no flow export carries them.
    pub header_details: bool,
}

/// One part of a record: `count` packets of `wire_len` bytes at `ts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// When, ns since 1970.
    pub ts: i64,
    /// Packets on the wire (scaled by the sampling rate).
    pub count: u64,
    /// The length of each.
    pub wire_len: u32,
    /// The record's headers.
    pub fields: Fields,
}

/// The headers a record's packets share.
#[derive(Debug, Clone, PartialEq)]
pub enum Fields {
    /// From the record's fields.
    Record {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// IP protocol.
        protocol: u8,
        /// Source port (TCP, UDP).
        src_port: u16,
        /// Destination port (TCP, UDP), or ICMP type and code (type × 256 + code).
        dst_port: u16,
        /// The flags given to each packet.
        tcp_flags: u16,
        /// Type of service.
        tos: u8,
        /// TTL, 0 when not exported.
        ttl: u8,
    },
    /// The sampled packet's own first bytes (sFlow).
    Header {
        /// Their link type.
        linktype: u32,
        /// The bytes.
        bytes: Box<[u8]>,
    },
}

impl Part {
    /// The packet(s) of this part, as levee's decoder would give them, to `each`.
    pub fn with_packet<R>(&self, each: impl FnOnce(&Packet<'_>) -> R) -> R {
        match &self.fields {
            Fields::Header { linktype, bytes } => {
                levee_decode::with_decoded(*linktype, bytes, self.wire_len, |p| {
                    let mut p = *p;
                    p.count = self.count;
                    each(&p)
                })
            }
            Fields::Record {
                src,
                dst,
                protocol,
                src_port,
                dst_port,
                tcp_flags,
                tos,
                ttl,
            } => {
                let v6 = src.is_ipv6();
                let header_len: u16 = if v6 { 40 } else { 20 };
                let transport = match protocol {
                    6 => Transport::Tcp(TcpInfo {
                        src_port: *src_port,
                        dst_port: *dst_port,
                        seq: 0,
                        ack: 0,
                        flags: TcpFlags(*tcp_flags),
                        window: 0,
                        header_len: 20,
                        options: TcpOptions::default(),
                    }),
                    17 => Transport::Udp(UdpInfo {
                        src_port: *src_port,
                        dst_port: *dst_port,
                        len: (self.wire_len.saturating_sub(u32::from(header_len))).min(65535)
                            as u16,
                    }),
                    1 | 58 => Transport::Icmp(IcmpInfo {
                        v6: *protocol == 58,
                        icmp_type: (dst_port >> 8) as u8,
                        code: *dst_port as u8,
                    }),
                    _ => Transport::Other,
                };
                let p = Packet {
                    linktype: if v6 { linktype::IPV6 } else { linktype::IPV4 },
                    cap_len: self.wire_len,
                    wire_len: self.wire_len,
                    ethertype: if v6 { 0x86dd } else { 0x0800 },
                    vlan_ids: [0; 2],
                    vlan_count: 0,
                    mpls_labels: 0,
                    pppoe_session: None,
                    tunnel: None,
                    ip: Some(IpInfo {
                        version: if v6 { 6 } else { 4 },
                        src: *src,
                        dst: *dst,
                        proto: *protocol,
                        ttl: *ttl,
                        len: self.wire_len,
                        id: 0,
                        dont_fragment: false,
                        more_fragments: false,
                        frag_offset: 0,
                        is_fragment: false,
                        header_len,
                        tos: *tos,
                        has_options: false,
                    }),
                    transport,
                    payload: &[],
                    ip_payload: None,
                    issue: None,
                    count: self.count,
                };
                each(&p)
            }
        }
    }
}

/// How a record is read.
#[derive(Debug, Clone, Copy)]
pub struct Scaling {
    /// The sampling rate of records whose export does not say (`--sampling-rate`).
    pub default_rate: u32,
}

impl Default for Scaling {
    fn default() -> Scaling {
        Scaling { default_rate: 1 }
    }
}

/// The flags a record's packets are given (see the module's overview): its opening SYN, if
/// the record has one, and the flags of the rest.
fn packet_flags(r: &FlowRecord) -> (Option<u16>, u16) {
    const ACK: u16 = TcpFlags::ACK;
    if r.packets > 1 && r.tcp_flags & ACK != 0 {
        let rest =
            r.tcp_flags & (ACK | TcpFlags::PSH | TcpFlags::URG | TcpFlags::ECE | TcpFlags::CWR);
        let opening = (r.tcp_flags & TcpFlags::SYN != 0).then_some(TcpFlags::SYN);
        (opening, rest)
    } else {
        (None, r.tcp_flags)
    }
}

/// The rate a record's packets are scaled by.
pub fn rate_of(r: &FlowRecord, scaling: Scaling) -> u64 {
    if r.sampling_known {
        u64::from(r.sampling.max(1))
    } else {
        u64::from(scaling.default_rate.max(1))
    }
}

/// The parts of `r`, received at `received_ns` (the time of records that carry none), to
/// `each`. A record without addresses or packets gives none.
pub fn parts(r: &FlowRecord, received_ns: i64, scaling: Scaling, mut each: impl FnMut(Part)) {
    let rate = rate_of(r, scaling);
    if let Some(h) = &r.header {
        each(Part {
            ts: received_ns,
            count: rate,
            wire_len: h.wire_len,
            fields: Fields::Header {
                linktype: h.linktype,
                bytes: h.bytes.clone().into_boxed_slice(),
            },
        });
        return;
    }
    let (Some(src), Some(dst)) = (r.src, r.dst) else {
        return;
    };
    if r.packets == 0 {
        return;
    }
    let (opening, flags) = packet_flags(r);
    let fields = |tcp_flags| Fields::Record {
        src,
        dst,
        protocol: r.protocol,
        src_port: r.src_port,
        dst_port: r.dst_port,
        tcp_flags,
        tos: r.tos,
        ttl: r.min_ttl.unwrap_or(0),
    };
    let end = r.end_ns.or(r.start_ns).unwrap_or(received_ns);
    let start = r.start_ns.unwrap_or(end).min(end);
    let (mut packets, mut bytes) = (r.packets, r.bytes);
    if let Some(syn) = opening {
        // A connection's record: its first packet opened it (a SYN, seen by the analysis as
        // the handshake its other packets belong to), the rest are its exchange.
        let first = bytes / packets;
        each(Part {
            ts: start,
            count: rate,
            wire_len: first.min(u64::from(u32::MAX)) as u32,
            fields: fields(syn),
        });
        packets -= 1;
        bytes -= first;
    }
    spread(
        packets,
        bytes,
        (start, end),
        rate,
        &fields(flags),
        &mut each,
    );
}

/// `packets` of `bytes` over `[start, end]`: one part a second, no more parts than packets,
/// each of packets of the mean length rounded down and up so that they add up to the bytes.
fn spread(
    packets: u64,
    bytes: u64,
    (start, end): (i64, i64),
    rate: u64,
    fields: &Fields,
    each: &mut impl FnMut(Part),
) {
    let seconds = ((end - start) as u64 / 1_000_000_000 + 1)
        .min(MAX_PARTS)
        .min(packets);
    let step = if seconds > 1 {
        (end - start) / (seconds as i64 - 1)
    } else {
        0
    };
    let first = end - step * (seconds as i64 - 1);
    for i in 0..seconds {
        // This part's packets and bytes: the record's shares, the remainders to the first.
        let packets = share(packets, seconds, i);
        let bytes = share(bytes, seconds, i);
        let ts = first + step * i as i64;
        let (low, high_count) = (bytes / packets.max(1), bytes % packets.max(1));
        let low_len = low.min(u64::from(u32::MAX)) as u32;
        if high_count > 0 {
            each(Part {
                ts,
                count: high_count.saturating_mul(rate),
                wire_len: low_len.saturating_add(1),
                fields: fields.clone(),
            });
        }
        if packets > high_count {
            each(Part {
                ts,
                count: (packets - high_count).saturating_mul(rate),
                wire_len: low_len,
                fields: fields.clone(),
            });
        }
    }
}

/// Part `i` of `n` of `total`, the remainder spread over the first parts.
fn share(total: u64, n: u64, i: u64) -> u64 {
    total / n + u64::from(i < total % n)
}

/// Parts put back in time order, to the second: each second's parts are held until the
/// newest time seen is `horizon` past it, or until more than `capacity` parts are held (the
/// oldest second goes then). Within a second parts keep their order of arrival: what reads
/// them counts by the second (peaks, series), and a record's opening SYN comes before its
/// ACKs. A calendar of seconds, not a heap of parts: at half a million records a second a
/// heap of a million parts spent two thirds of the analysis reordering them.
pub struct Reorder {
    seconds: std::collections::BTreeMap<i64, Vec<Part>>,
    held: usize,
    newest: i64,
    horizon: i64,
    capacity: usize,
}

/// The second a time falls in.
fn second_of(ts: i64) -> i64 {
    ts.div_euclid(1_000_000_000)
}

impl Reorder {
    /// A buffer holding parts up to `horizon_ns` behind the newest, at most `capacity`.
    pub fn new(horizon_ns: i64, capacity: usize) -> Reorder {
        Reorder {
            seconds: std::collections::BTreeMap::new(),
            held: 0,
            newest: i64::MIN,
            horizon: horizon_ns,
            capacity: capacity.max(1),
        }
    }

    /// Adds a part.
    pub fn push(&mut self, part: Part) {
        self.newest = self.newest.max(part.ts);
        self.seconds
            .entry(second_of(part.ts))
            .or_default()
            .push(part);
        self.held += 1;
    }

    /// Tells the time of the newest export: parts of records still to come start before it.
    pub fn now(&mut self, ts: i64) {
        self.newest = self.newest.max(ts);
    }

    /// The parts that are ready, in time order (to the second), to `each`.
    pub fn ready(&mut self, mut each: impl FnMut(Part)) {
        let due = second_of(self.newest.saturating_sub(self.horizon));
        while let Some(entry) = self.seconds.first_entry() {
            if *entry.key() >= due && self.held <= self.capacity {
                break;
            }
            let parts = entry.remove();
            self.held -= parts.len();
            parts.into_iter().for_each(&mut each);
        }
    }

    /// Every part still held, in time order (to the second), to `each`.
    pub fn finish(&mut self, mut each: impl FnMut(Part)) {
        while let Some((_, parts)) = self.seconds.pop_first() {
            parts.into_iter().for_each(&mut each);
        }
        self.held = 0;
    }

    /// Parts held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether no part is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Format;

    fn record(packets: u64, bytes: u64, start_s: i64, end_s: i64) -> FlowRecord {
        let mut r = FlowRecord::empty(Format::NetflowV5, "192.0.2.1".parse().unwrap(), 0);
        r.src = Some("203.0.113.5".parse().unwrap());
        r.dst = Some("198.51.100.1".parse().unwrap());
        r.protocol = 6;
        r.src_port = 40000;
        r.dst_port = 80;
        r.tcp_flags = 0x1b;
        r.packets = packets;
        r.bytes = bytes;
        r.start_ns = Some(start_s * 1_000_000_000);
        r.end_ns = Some(end_s * 1_000_000_000);
        r
    }

    fn all(r: &FlowRecord, rate: u32) -> Vec<Part> {
        let mut out = Vec::new();
        parts(r, 0, Scaling { default_rate: rate }, |p| out.push(p));
        out
    }

    #[test]
    fn parts_add_up_to_the_record_exactly() {
        for (packets, bytes, start, end) in [
            (1, 40, 5, 5),
            (7, 1001, 0, 0),
            (10, 12345, 100, 160),
            (3, 5000, 0, 3600 * 5),
        ] {
            let r = record(packets, bytes, start, end);
            let ps = all(&r, 1);
            assert_eq!(ps.iter().map(|p| p.count).sum::<u64>(), packets);
            assert_eq!(
                ps.iter()
                    .map(|p| p.count * u64::from(p.wire_len))
                    .sum::<u64>(),
                bytes
            );
            assert!(ps
                .iter()
                .all(|p| p.ts >= start * 1_000_000_000 && p.ts <= end * 1_000_000_000));
        }
    }

    #[test]
    fn a_long_flow_is_spread_over_its_seconds() {
        let r = record(61, 61 * 100, 100, 160);
        let ps = all(&r, 1);
        assert_eq!(ps.len(), 61);
        assert_eq!(ps[0].ts, 100_000_000_000);
        assert_eq!(ps[60].ts, 160_000_000_000);
        assert!(ps.iter().all(|p| p.count == 1 && p.wire_len == 100));
    }

    #[test]
    fn sampling_scales_the_counts_and_the_flags_of_a_connection_are_its_acks() {
        let mut r = record(4, 400, 0, 0);
        let ps = all(&r, 100);
        assert_eq!(ps.iter().map(|p| p.count).sum::<u64>(), 400);
        let flags = |part: &Part| {
            part.with_packet(|p| match p.transport {
                Transport::Tcp(t) => (t.flags.0, p.count, p.ip.unwrap().len),
                _ => panic!(),
            })
        };
        // SYN, FIN and PSH with ACK over four packets: a SYN, then ACK and PSH.
        assert_eq!(flags(&ps[0]), (0x02, 100, 100));
        assert_eq!(flags(&ps[1]), (0x18, 300, 100));
        // The exporter's own rate wins over the default.
        r.sampling = 10;
        r.sampling_known = true;
        assert_eq!(all(&r, 100).iter().map(|p| p.count).sum::<u64>(), 40);
        // A lone SYN keeps its flags.
        let mut syn = record(1, 60, 0, 0);
        syn.tcp_flags = 0x02;
        all(&syn, 1)[0].with_packet(|p| {
            let Transport::Tcp(t) = p.transport else {
                panic!()
            };
            assert_eq!(t.flags.0, 0x02);
        });
    }

    #[test]
    fn icmp_type_and_code_come_from_the_destination_port() {
        let mut r = record(1, 84, 0, 0);
        r.protocol = 1;
        r.dst_port = 3 << 8 | 4;
        all(&r, 1)[0].with_packet(|p| {
            let Transport::Icmp(i) = p.transport else {
                panic!()
            };
            assert_eq!((i.icmp_type, i.code), (3, 4));
        });
    }

    #[test]
    fn reorder_gives_parts_in_time_order_within_its_horizon() {
        const S: i64 = 1_000_000_000;
        let mut q = Reorder::new(10 * S, 100);
        let part = |ts| Part {
            ts,
            count: 1,
            wire_len: 1,
            fields: Fields::Header {
                linktype: 0,
                bytes: Box::new([]),
            },
        };
        let mut out = Vec::new();
        for ts in [5, 3, 20, 4, 30, 25, 26] {
            q.push(part(ts * S));
            q.ready(|p| out.push(p.ts / S));
        }
        assert_eq!(q.len(), 4);
        q.finish(|p| out.push(p.ts / S));
        assert!(q.is_empty());
        // 3 and 5 leave when 20 comes; 4, late, as soon as it comes; the rest at the end.
        assert_eq!(out, [3, 5, 4, 20, 25, 26, 30]);
        // Within a second, the order of arrival.
        let mut q = Reorder::new(10 * S, 100);
        for ts in [S + 5, S + 1, S + 3] {
            q.push(part(ts));
        }
        let mut out = Vec::new();
        q.finish(|p| out.push(p.ts - S));
        assert_eq!(out, [5, 1, 3]);
        // Over capacity, the oldest second leaves at once.
        let mut q = Reorder::new(1_000 * S, 2);
        let mut out = Vec::new();
        for ts in [9, 8, 7] {
            q.push(part(ts * S));
            q.ready(|p| out.push(p.ts / S));
        }
        assert_eq!(out, [7]);
    }
}
