//! The benign reference: traffic every network needs, addressed to (and from) one victim
//! address, against which a generated rule's collateral is measured besides the capture it
//! was found in. A capture of an attack rarely holds any of it, so a rule that would break
//! path-MTU discovery or the victim's own connections shows 0 % collateral there; here it
//! cannot.
//!
//! Each frame is labelled with its class:
//!
//! | class | what |
//! |---|---|
//! | `handshake-linux`, `handshake-windows`, `handshake-macos` | clients of the victim's HTTPS service: SYN with each system's options, TTL and window, the handshake, a request, the close (FIN, or RST as Windows often does) |
//! | `outbound-web` | the victim's own connections to web servers: their SYN-ACKs (Linux and Windows servers), data, FIN, and the RSTs and RST-ACKs of aborted connections |
//! | `quic` | QUIC to and from port 443, both directions |
//! | `dns-client` | the victim's queries, its resolver's answers, a large answer in two fragments, and the port unreachable of a dead resolver |
//! | `ntp-client` | an NTP client exchange |
//! | `pmtud` | ICMP "fragmentation needed" (3/4) and ICMPv6 "packet too big" quoting the victim's packets |
//! | `traceroute` | the victim's UDP and ICMP traceroutes: time exceeded from routers and port unreachable from the destination |
//! | `ping` | echo requests to the victim and replies to its own |
//!
//! Only addresses of the documentation ranges are used besides the victim's.

use std::net::IpAddr;

use etherparse::PacketBuilder;

use crate::packets::{MAC_CLIENT_SIDE, MAC_SERVER};

/// One frame of the reference (Ethernet).
#[derive(Debug, Clone)]
pub struct ReferenceFrame {
    /// The kind of traffic (`handshake-linux`, `pmtud`, `traceroute`...), as the labels file says.
    pub class: &'static str,
    /// The Ethernet frame.
    pub frame: Vec<u8>,
}

/// The classes, in the order frames come.
pub const CLASSES: &[&str] = &[
    "handshake-linux",
    "handshake-windows",
    "handshake-macos",
    "outbound-web",
    "quic",
    "dns-client",
    "ntp-client",
    "pmtud",
    "traceroute",
    "ping",
];

/// A peer of the victim, of the victim's IP version: `n` picks one of a few documentation
/// addresses.
fn peer(victim: IpAddr, n: u8) -> IpAddr {
    match victim {
        IpAddr::V4(_) => {
            let b = [[198, 51, 100], [203, 0, 113], [192, 0, 2]][usize::from(n % 3)];
            IpAddr::from([b[0], b[1], b[2], 10 + n])
        }
        IpAddr::V6(_) => {
            let mut a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[5] = 0x10 + n % 3;
            a[15] = 10 + n;
            IpAddr::from(a)
        }
    }
}

/// The victim's resolver: `.53` of its /24 (IPv6: `::53` of its /64).
fn resolver(victim: IpAddr) -> IpAddr {
    match victim {
        IpAddr::V4(a) => {
            let o = a.octets();
            IpAddr::from([o[0], o[1], o[2], 53])
        }
        IpAddr::V6(a) => {
            let mut o = a.octets();
            o[8..].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x53]);
            IpAddr::from(o)
        }
    }
}

/// A frame builder between two addresses of one version; `to_victim` picks the MACs.
fn builder(
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    to_victim: bool,
) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
    let (s, d) = if to_victim {
        (MAC_CLIENT_SIDE, MAC_SERVER)
    } else {
        (MAC_SERVER, MAC_CLIENT_SIDE)
    };
    let eth = PacketBuilder::ethernet2(s, d);
    match (src, dst) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mut h = etherparse::Ipv4Header::new(
                0,
                ttl,
                etherparse::IpNumber::TCP,
                a.octets(),
                b.octets(),
            )
            .expect("a zero payload length is valid");
            h.dont_fragment = true;
            eth.ip(etherparse::IpHeaders::Ipv4(h, Default::default()))
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => eth.ip(etherparse::IpHeaders::Ipv6(
            etherparse::Ipv6Header {
                traffic_class: 0,
                flow_label: Default::default(),
                payload_length: 0,
                next_header: etherparse::IpNumber::TCP,
                hop_limit: ttl,
                source: a.octets(),
                destination: b.octets(),
            },
            Default::default(),
        )),
        _ => unreachable!("the reference keeps to the victim's IP version"),
    }
}

/// The TCP options of a SYN or SYN-ACK, as each system sends them.
const LINUX_OPTIONS: &[u8] = &[
    2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0x12, 0xd6, 0x87, 0, 0, 0, 0, 1, 3, 3, 7,
];
const WINDOWS_OPTIONS: &[u8] = &[2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2];
const MACOS_OPTIONS: &[u8] = &[
    2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0x5c, 0x1d, 0x2a, 0x11, 0, 0, 0, 0, 4, 2, 0, 0,
];

/// Builds the frames, in order.
struct Out {
    frames: Vec<ReferenceFrame>,
    victim: IpAddr,
}

/// A TCP segment: flags as in tcpdump (`S`, `SA`, `A`, `PA`, `FA`, `R`, `RA`).
struct Seg<'a> {
    flags: &'a str,
    options: &'a [u8],
    window: u16,
    payload: usize,
}

impl Out {
    fn push(&mut self, class: &'static str, frame: Vec<u8>) {
        self.frames.push(ReferenceFrame { class, frame });
    }

    #[allow(clippy::too_many_arguments)]
    fn tcp(
        &mut self,
        class: &'static str,
        from: IpAddr,
        to: IpAddr,
        ttl: u8,
        ports: (u16, u16),
        seg: Seg<'_>,
    ) {
        let to_victim = to == self.victim;
        let mut b =
            builder(from, to, ttl, to_victim).tcp(ports.0, ports.1, 0x1000_0000, seg.window);
        for f in seg.flags.chars() {
            b = match f {
                'S' => b.syn(),
                'A' => b.ack(0x2000_0000),
                'F' => b.fin(),
                'R' => b.rst(),
                'P' => b.psh(),
                _ => b,
            };
        }
        if !seg.options.is_empty() {
            b = b
                .options_raw(seg.options)
                .expect("options of at most 40 bytes");
        }
        let payload = vec![0x17; seg.payload];
        let mut f = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut f, &payload)
            .expect("writing to a Vec cannot fail");
        self.push(class, f);
    }

    #[allow(clippy::too_many_arguments)]
    fn udp(
        &mut self,
        class: &'static str,
        from: IpAddr,
        to: IpAddr,
        ttl: u8,
        ports: (u16, u16),
        len: usize,
    ) {
        self.udp_payload(class, from, to, ttl, ports, &vec![0x42; len]);
    }

    fn udp_payload(
        &mut self,
        class: &'static str,
        from: IpAddr,
        to: IpAddr,
        ttl: u8,
        ports: (u16, u16),
        payload: &[u8],
    ) {
        let to_victim = to == self.victim;
        let b = builder(from, to, ttl, to_victim).udp(ports.0, ports.1);
        let mut f = Vec::with_capacity(b.size(payload.len()));
        b.write(&mut f, payload)
            .expect("writing to a Vec cannot fail");
        self.push(class, f);
    }

    /// An ICMP (ICMPv6 for IPv6) message of `icmp_type`/`code` with `body` after the
    /// 8-byte header (for errors: the quoted packet).
    #[allow(clippy::too_many_arguments)]
    fn icmp(
        &mut self,
        class: &'static str,
        from: IpAddr,
        to: IpAddr,
        ttl: u8,
        icmp_type: u8,
        code: u8,
        rest: [u8; 4],
        body: &[u8],
    ) {
        let to_victim = to == self.victim;
        let b = builder(from, to, ttl, to_victim);
        let mut f = Vec::new();
        if from.is_ipv4() {
            let b = b.icmpv4_raw(icmp_type, code, rest);
            b.write(&mut f, body).expect("writing to a Vec cannot fail");
        } else {
            let b = b.icmpv6_raw(icmp_type, code, rest);
            b.write(&mut f, body).expect("writing to a Vec cannot fail");
        }
        self.push(class, f);
    }

    /// The IP packet (no link header) of a segment or datagram the victim sent, as an ICMP
    /// error quotes it: `quote` bytes of it.
    fn sent_by_victim(
        &self,
        to: IpAddr,
        proto: u8,
        ports: (u16, u16),
        ttl: u8,
        quote: usize,
    ) -> Vec<u8> {
        let b = builder(self.victim, to, ttl, false);
        let mut f = Vec::new();
        let payload = vec![0x55; 1400];
        match proto {
            17 => b
                .udp(ports.0, ports.1)
                .write(&mut f, &payload)
                .expect("writing to a Vec cannot fail"),
            _ => b
                .tcp(ports.0, ports.1, 0x3000_0000, 502)
                .ack(0x4000_0000)
                .write(&mut f, &payload)
                .expect("writing to a Vec cannot fail"),
        }
        f.drain(..14);
        f.truncate(quote);
        f
    }
}

/// The reference frames for `victim`.
pub fn frames(victim: IpAddr) -> Vec<ReferenceFrame> {
    let mut o = Out {
        frames: Vec::new(),
        victim,
    };
    for part in [
        handshakes,
        outbound_web,
        quic,
        dns,
        ntp,
        pmtud,
        traceroutes,
        ping,
    ] {
        part(&mut o);
    }
    o.frames
}

/// A TCP segment with its flags, options, window and payload length.
fn seg<'a>(flags: &'a str, options: &'a [u8], window: u16, payload: usize) -> Seg<'a> {
    Seg {
        flags,
        options,
        window,
        payload,
    }
}

/// The victim's HTTPS service answering a client of each system: handshake, request, answer, and the close (a FIN, or Windows' RST).
fn handshakes(o: &mut Out) {
    let v = o.victim;
    // Clients of the victim's HTTPS service, one per system.
    for (class, client, ttl, window, options, closes_with_rst) in [
        (
            "handshake-linux",
            peer(v, 0),
            52,
            64240,
            LINUX_OPTIONS,
            false,
        ),
        (
            "handshake-windows",
            peer(v, 1),
            113,
            64240,
            WINDOWS_OPTIONS,
            true,
        ),
        (
            "handshake-macos",
            peer(v, 2),
            55,
            65535,
            MACOS_OPTIONS,
            false,
        ),
    ] {
        let p = (51514, 443);
        o.tcp(class, client, v, ttl, p, seg("S", options, window, 0));
        o.tcp(
            class,
            v,
            client,
            64,
            (443, 51514),
            seg("SA", LINUX_OPTIONS, 65160, 0),
        );
        o.tcp(class, client, v, ttl, p, seg("A", &[], 502, 0));
        o.tcp(class, client, v, ttl, p, seg("PA", &[], 502, 517));
        o.tcp(
            class,
            v,
            client,
            64,
            (443, 51514),
            seg("PA", &[], 501, 1400),
        );
        o.tcp(class, client, v, ttl, p, seg("A", &[], 501, 0));
        if closes_with_rst {
            o.tcp(class, client, v, ttl, p, seg("RA", &[], 0, 0));
        } else {
            o.tcp(class, client, v, ttl, p, seg("FA", &[], 501, 0));
            o.tcp(class, v, client, 64, (443, 51514), seg("FA", &[], 501, 0));
            o.tcp(class, client, v, ttl, p, seg("A", &[], 501, 0));
        }
    }
}

/// The victim's own connections to web servers (HTTPS and HTTP), answered and closed, and aborted by the other side.
fn outbound_web(o: &mut Out) {
    let v = o.victim;
    // The victim's own connections to web servers (HTTPS and HTTP).
    for (server, ttl, options, port) in [
        (peer(v, 3), 56, LINUX_OPTIONS, 443),
        (peer(v, 4), 116, WINDOWS_OPTIONS, 443),
        (peer(v, 5), 57, LINUX_OPTIONS, 80),
    ] {
        let c = "outbound-web";
        let back = (port, 40112);
        o.tcp(
            c,
            v,
            server,
            64,
            (40112, port),
            seg("S", LINUX_OPTIONS, 64240, 0),
        );
        o.tcp(c, server, v, ttl, back, seg("SA", options, 65160, 0));
        o.tcp(c, v, server, 64, (40112, port), seg("A", &[], 502, 0));
        o.tcp(c, server, v, ttl, back, seg("PA", &[], 509, 1400));
        o.tcp(c, server, v, ttl, back, seg("A", &[], 509, 1448));
        o.tcp(c, server, v, ttl, back, seg("FA", &[], 509, 0));
        // Connections the other side aborts: a bare RST and a RST-ACK, window 0.
        o.tcp(c, server, v, ttl, back, seg("R", &[], 0, 0));
        o.tcp(c, server, v, ttl, back, seg("RA", &[], 0, 0));
    }
}

/// QUIC, the victim as client and as server.
fn quic(o: &mut Out) {
    let v = o.victim;
    // QUIC, the victim as client and as server.
    let quic_server = peer(v, 6);
    o.udp("quic", v, quic_server, 64, (50123, 443), 1250);
    o.udp("quic", quic_server, v, 54, (443, 50123), 1252);
    o.udp("quic", quic_server, v, 54, (443, 50123), 1350);
    o.udp("quic", quic_server, v, 54, (443, 50123), 60);
    o.udp("quic", peer(v, 7), v, 50, (61234, 443), 1200);
    o.udp("quic", peer(v, 7), v, 50, (61234, 443), 1228);
}

/// DNS: queries and answers, a signed answer in two fragments, a dead resolver's port unreachable.
fn dns(o: &mut Out) {
    let v = o.victim;
    let v4 = v.is_ipv4();
    // DNS: queries, answers, a large answer in two fragments, a dead resolver.
    let res = resolver(v);
    for (name, qtype, answers, id) in [
        ("www.example.com", 1u16, 1u16, 0u16),
        ("example.org", 28, 2, 1),
        ("_443._tcp.example.net", 65, 8, 2),
    ] {
        let query = crate::packets::dns_query(0x1200 + id, name, qtype);
        o.udp_payload("dns-client", v, res, 64, (40000 + id, 53), &query);
        let answer = crate::packets::dns_response(&query, answers, [192, 0, 2, 80]);
        o.udp_payload("dns-client", res, v, 64, (53, 40000 + id), &answer);
    }
    if v4 {
        // 2,000 bytes of answer: a first fragment of 1,480 bytes and a later one.
        let (IpAddr::V4(r), IpAddr::V4(vv)) = (res, v) else {
            unreachable!("IPv4 checked")
        };
        // A signed answer too large for one packet: the query goes out, the answer comes
        // back in two fragments (the UDP checksum left 0, as IPv4 allows).
        let query = crate::packets::dns_query(0x1203, "example.net", 48);
        o.udp_payload("dns-client", v, res, 64, (40003, 53), &query);
        let answer = crate::packets::dns_big_response(&query, 1900);
        let datagram: Vec<u8> = {
            let mut d = Vec::new();
            d.extend(53u16.to_be_bytes());
            d.extend(40003u16.to_be_bytes());
            d.extend(((8 + answer.len()) as u16).to_be_bytes());
            d.extend([0, 0]);
            d.extend(&answer);
            d
        };
        for (at, end) in [(0usize, 1480usize), (1480, datagram.len())] {
            let mut h = etherparse::Ipv4Header::new(
                (end - at) as u16,
                60,
                etherparse::IpNumber::UDP,
                r.octets(),
                vv.octets(),
            )
            .expect("fits");
            h.identification = 0x4242;
            h.more_fragments = end < datagram.len();
            h.fragment_offset =
                etherparse::IpFragOffset::try_new((at / 8) as u16).expect("offset below 8192");
            h.header_checksum = h.calc_header_checksum();
            let mut f = Vec::new();
            f.extend(MAC_SERVER);
            f.extend(MAC_CLIENT_SIDE);
            f.extend(0x0800u16.to_be_bytes());
            h.write(&mut f).expect("writing to a Vec cannot fail");
            f.extend(&datagram[at..end]);
            o.push("dns-client", f);
        }
    }
    // A query to a resolver that is down: its host answers port unreachable.
    let dead = peer(v, 8);
    let query = crate::packets::dns_query(0x1299, "example.com", 1);
    o.udp_payload("dns-client", v, dead, 64, (40004, 53), &query);
    let q = o.sent_by_victim(dead, 17, (40004, 53), 64, if v4 { 28 } else { 48 });
    let (t, c) = if v4 { (3, 3) } else { (1, 4) };
    o.icmp("dns-client", dead, v, 60, t, c, [0; 4], &q);
}

/// NTP, the victim as client.
fn ntp(o: &mut Out) {
    let v = o.victim;
    // NTP.
    let ntp = peer(v, 9);
    o.udp("ntp-client", v, ntp, 64, (123, 123), 48);
    o.udp("ntp-client", ntp, v, 57, (123, 123), 48);
}

/// Path-MTU discovery: routers quoting the victim's too-large packets, 28 bytes and as much as 576 bytes allow.
fn pmtud(o: &mut Out) {
    let v = o.victim;
    let v4 = v.is_ipv4();
    // Path-MTU discovery: routers quoting the victim's too-large packets, 28 bytes and as
    // much as 576 bytes allow.
    let router = peer(v, 10);
    for (to, proto, ports) in [
        (peer(v, 3), 6, (40112, 443)),
        (peer(v, 0), 6, (443, 51514)),
        (peer(v, 6), 17, (50123, 443)),
    ] {
        for quote in [28usize, 548] {
            let quote = if v4 { quote } else { quote + 20 };
            let q = o.sent_by_victim(to, proto, ports, 64, quote);
            if v4 {
                o.icmp("pmtud", router, v, 252, 3, 4, [0, 0, 0x05, 0x78], &q);
            } else {
                o.icmp("pmtud", router, v, 252, 2, 0, [0, 0, 0x05, 0x00], &q);
            }
        }
    }
}

/// Traceroutes from the victim: UDP probes to 33434 and up (Linux, macOS), ICMP echo (Windows); time exceeded from each hop, and the destination's answer.
fn traceroutes(o: &mut Out) {
    let v = o.victim;
    let v4 = v.is_ipv4();
    // Traceroutes from the victim: UDP probes to 33434 and up (Linux, macOS), ICMP echo
    // (Windows); time exceeded from each hop, and the destination's answer.
    let dest = peer(v, 11);
    for hop in 1..=3u8 {
        let port = 33433 + u16::from(hop);
        o.udp("traceroute", v, dest, hop, (45000, port), 32);
        let q = o.sent_by_victim(dest, 17, (45000, port), hop, if v4 { 28 } else { 48 });
        let hop_router = peer(v, 11 + hop);
        let (t, c) = if v4 { (11, 0) } else { (3, 0) };
        o.icmp("traceroute", hop_router, v, 255 - hop, t, c, [0; 4], &q);
    }
    let q = o.sent_by_victim(dest, 17, (45000, 33437), 4, if v4 { 28 } else { 48 });
    let (t, c) = if v4 { (3, 3) } else { (1, 4) };
    o.icmp("traceroute", dest, v, 60, t, c, [0; 4], &q);
    // The ICMP traceroute: echo requests out, time exceeded quoting them, a reply.
    for hop in 1..=2u8 {
        let (echo, exceeded) = if v4 { (8, 11) } else { (128, 3) };
        o.icmp(
            "traceroute",
            v,
            dest,
            hop,
            echo,
            0,
            [0, 1, 0, hop],
            &[0x61; 32],
        );
        let mut quoted = {
            let b = builder(v, dest, hop, false);
            let mut f = Vec::new();
            if v4 {
                b.icmpv4_raw(echo, 0, [0, 1, 0, hop])
                    .write(&mut f, &[0x61; 32])
                    .expect("writing to a Vec cannot fail");
            } else {
                b.icmpv6_raw(echo, 0, [0, 1, 0, hop])
                    .write(&mut f, &[0x61; 32])
                    .expect("writing to a Vec cannot fail");
            }
            f
        };
        quoted.drain(..14);
        quoted.truncate(if v4 { 28 } else { 48 });
        o.icmp(
            "traceroute",
            peer(v, 11 + hop),
            v,
            255 - hop,
            exceeded,
            0,
            [0; 4],
            &quoted,
        );
    }
}

/// Ping: requests to the victim, replies to its own.
fn ping(o: &mut Out) {
    let v = o.victim;
    let v4 = v.is_ipv4();
    // Ping: requests to the victim, replies to its own.
    let (request, reply) = if v4 { (8, 0) } else { (128, 129) };
    o.icmp(
        "ping",
        peer(v, 1),
        v,
        113,
        request,
        0,
        [0, 7, 0, 1],
        &[0x61; 32],
    );
    // The traceroutes' destination answers the victim's own ping.
    o.icmp(
        "ping",
        peer(v, 11),
        v,
        57,
        reply,
        0,
        [0, 9, 0, 1],
        &[0x61; 56],
    );
}

/// Writes the reference for `victim` as a pcap (a frame a millisecond from `start_ns`) and its
/// labels (`first,last,label` per run of one class, packets counted from 1); returns the
/// number of frames.
pub fn write<P: std::io::Write, L: std::io::Write>(
    victim: IpAddr,
    start_ns: i64,
    pcap: P,
    mut labels: L,
) -> std::io::Result<usize> {
    let frames = frames(victim);
    let mut w = levee_capture::PcapWriter::new(pcap, 1, 65535)?;
    writeln!(labels, "first,last,label")?;
    let mut run_start = 0;
    for (i, f) in frames.iter().enumerate() {
        w.write(start_ns + i as i64 * 1_000_000, &f.frame)?;
        let last = frames.get(i + 1).is_none_or(|n| n.class != f.class);
        if last {
            writeln!(labels, "{},{},{}", run_start + 1, i + 1, f.class)?;
            run_start = i + 1;
        }
    }
    w.finish()?.flush()?;
    labels.flush()?;
    Ok(frames.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_is_there_and_every_frame_decodes() {
        for victim in ["10.10.10.10", "2001:db8::10"] {
            let v: IpAddr = victim.parse().unwrap();
            let frames = frames(v);
            for class in CLASSES {
                assert!(
                    frames.iter().any(|f| f.class == *class),
                    "{victim}: no {class}"
                );
            }
            for f in &frames {
                let p = levee_decode_free_check(&f.frame);
                assert!(p, "{victim} {}: {:02x?}", f.class, f.frame);
            }
            // Most of it is addressed to the victim.
            let to_victim = frames
                .iter()
                .filter(|f| dst_of(&f.frame) == Some(v))
                .count();
            assert!(
                to_victim * 2 > frames.len(),
                "{to_victim} of {}",
                frames.len()
            );
        }
    }

    /// An Ethernet frame holds an IP packet whose lengths are consistent.
    fn levee_decode_free_check(f: &[u8]) -> bool {
        match etherparse::SlicedPacket::from_ethernet(f) {
            Ok(p) => p.net.is_some(),
            Err(_) => false,
        }
    }

    fn dst_of(f: &[u8]) -> Option<IpAddr> {
        let p = etherparse::SlicedPacket::from_ethernet(f).ok()?;
        match p.net? {
            etherparse::NetSlice::Ipv4(h) => Some(IpAddr::V4(h.header().destination_addr())),
            etherparse::NetSlice::Ipv6(h) => Some(IpAddr::V6(h.header().destination_addr())),
            _ => None,
        }
    }
}
