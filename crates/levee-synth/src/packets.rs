//! Building single packets with `etherparse`'s builder (checksums and lengths done right).

use etherparse::{IpHeaders, Ipv4Header, PacketBuilder};

pub(crate) const MAC_CLIENT_SIDE: [u8; 6] = [0x00, 0x1c, 0x73, 0x00, 0x00, 0x01];
pub(crate) const MAC_SERVER: [u8; 6] = [0x52, 0x54, 0x00, 0x10, 0x10, 0x10];

/// Header fields of an IPv4 packet that scenarios vary.
#[derive(Clone, Copy)]
pub(crate) struct V4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub ttl: u8,
    pub id: u16,
    pub df: bool,
}

fn ip(h: V4, proto: u8) -> IpHeaders {
    let mut hdr = Ipv4Header::new(0, h.ttl, etherparse::IpNumber(proto), h.src, h.dst)
        .expect("a zero payload length is always valid");
    hdr.identification = h.id;
    hdr.dont_fragment = h.df;
    IpHeaders::Ipv4(hdr, Default::default())
}

fn macs(h: &V4) -> ([u8; 6], [u8; 6]) {
    if h.dst[..3] == crate::VICTIM[..3] {
        (MAC_CLIENT_SIDE, MAC_SERVER)
    } else {
        (MAC_SERVER, MAC_CLIENT_SIDE)
    }
}

/// TCP flags to set on a segment.
#[derive(Clone, Copy, Default)]
pub(crate) struct Flags {
    pub syn: bool,
    pub ack: Option<u32>,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub urg: bool,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn tcp(
    out: &mut Vec<u8>,
    h: V4,
    sport: u16,
    dport: u16,
    seq: u32,
    window: u16,
    flags: Flags,
    options: &[u8],
    payload: &[u8],
) {
    tcp_over(
        out,
        ip(h, 6),
        macs(&h),
        sport,
        dport,
        seq,
        window,
        flags,
        options,
        payload,
    );
}

/// A TCP segment over IPv6 (hop limit `hop`), from or to the server side by `to_server`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tcp6(
    out: &mut Vec<u8>,
    src: [u8; 16],
    dst: [u8; 16],
    hop: u8,
    to_server: bool,
    sport: u16,
    dport: u16,
    seq: u32,
    flags: Flags,
    payload: &[u8],
) {
    let hdr = etherparse::Ipv6Header {
        traffic_class: 0,
        flow_label: Default::default(),
        payload_length: 0,
        next_header: etherparse::IpNumber::TCP,
        hop_limit: hop,
        source: src,
        destination: dst,
    };
    let m = if to_server {
        (MAC_CLIENT_SIDE, MAC_SERVER)
    } else {
        (MAC_SERVER, MAC_CLIENT_SIDE)
    };
    tcp_over(
        out,
        IpHeaders::Ipv6(hdr, Default::default()),
        m,
        sport,
        dport,
        seq,
        64240,
        flags,
        &[],
        payload,
    );
}

#[allow(clippy::too_many_arguments)]
fn tcp_over(
    out: &mut Vec<u8>,
    ip: IpHeaders,
    (s, d): ([u8; 6], [u8; 6]),
    sport: u16,
    dport: u16,
    seq: u32,
    window: u16,
    flags: Flags,
    options: &[u8],
    payload: &[u8],
) {
    out.clear();
    let mut b = PacketBuilder::ethernet2(s, d)
        .ip(ip)
        .tcp(sport, dport, seq, window);
    if flags.syn {
        b = b.syn();
    }
    if let Some(a) = flags.ack {
        b = b.ack(a);
    }
    if flags.fin {
        b = b.fin();
    }
    if flags.rst {
        b = b.rst();
    }
    if flags.psh {
        b = b.psh();
    }
    if flags.urg {
        b = b.urg(0);
    }
    if !options.is_empty() {
        b = b
            .options_raw(options)
            .expect("scenario TCP options are a multiple of 4 bytes and at most 40");
    }
    b.write(out, payload).expect("writing to a Vec cannot fail");
}

pub(crate) fn udp(out: &mut Vec<u8>, h: V4, sport: u16, dport: u16, payload: &[u8]) {
    out.clear();
    let (s, d) = macs(&h);
    PacketBuilder::ethernet2(s, d)
        .ip(ip(h, 17))
        .udp(sport, dport)
        .write(out, payload)
        .expect("writing to a Vec cannot fail");
}

/// Linux's SYN options: mss 1460, sackOK, timestamps, nop, wscale 7.
pub(crate) fn linux_syn_options(ts: u32) -> [u8; 20] {
    let t = ts.to_be_bytes();
    [
        2, 4, 0x05, 0xb4, 4, 2, 8, 10, t[0], t[1], t[2], t[3], 0, 0, 0, 0, 1, 3, 3, 7,
    ]
}

/// A DNS query for `name` of type `qtype`, with an EDNS0 record.
pub(crate) fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend(id.to_be_bytes());
    m.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.split('.') {
        m.push(label.len() as u8);
        m.extend(label.as_bytes());
    }
    m.push(0);
    m.extend(qtype.to_be_bytes());
    m.extend([0, 1]);
    m.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    m
}

/// The response to [`dns_query`] with `answers` A records.
pub(crate) fn dns_response(query: &[u8], answers: u16, addr: [u8; 4]) -> Vec<u8> {
    let mut m = query.to_vec();
    m[2] = 0x81;
    m[3] = 0x80;
    m[6..8].copy_from_slice(&answers.to_be_bytes());
    // Drop the OPT record, append answers, then put OPT back at the end.
    let opt = m.split_off(m.len() - 11);
    for i in 0..answers {
        m.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4]);
        m.extend([addr[0], addr[1], addr[2], addr[3].wrapping_add(i as u8)]);
    }
    m.extend(opt);
    m
}

/// The body of a server_name extension naming `name`.
pub fn sni_extension(name: &str) -> Vec<u8> {
    let mut s = ((name.len() + 3) as u16).to_be_bytes().to_vec();
    s.push(0);
    s.extend((name.len() as u16).to_be_bytes());
    s.extend(name.as_bytes());
    s
}

/// A TLS record holding a ClientHello (legacy version TLS 1.2) with these cipher suites and
/// extensions (type, body), in this order.
pub fn client_hello_record(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend([0x42u8; 32]);
    body.push(0);
    body.extend(((ciphers.len() * 2) as u16).to_be_bytes());
    for c in ciphers {
        body.extend(c.to_be_bytes());
    }
    body.extend([1, 0]);
    let mut e = Vec::new();
    for (t, d) in exts {
        e.extend(t.to_be_bytes());
        e.extend((d.len() as u16).to_be_bytes());
        e.extend(d);
    }
    body.extend((e.len() as u16).to_be_bytes());
    body.extend(e);
    let mut hs = vec![1];
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend((hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

/// A TLS 1.3 ClientHello as a current browser sends it (GREASE, SNI, ALPN h2).
pub(crate) fn client_hello(sni: &str, grease: u16) -> Vec<u8> {
    let exts: Vec<(u16, Vec<u8>)> = vec![
        (grease, vec![]),
        (0x0000, sni_extension(sni)),
        (0x0017, vec![]),
        (0xff01, vec![0]),
        (0x000a, vec![0, 6, 0x0a, 0x0a, 0x00, 0x1d, 0x00, 0x17]),
        (0x000b, vec![1, 0]),
        (0x0023, vec![]),
        (
            0x0010,
            vec![
                0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
            ],
        ),
        (
            0x000d,
            vec![0, 8, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03],
        ),
        (0x002b, vec![6, 0x0a, 0x0a, 0x03, 0x04, 0x03, 0x03]),
        (0x002d, vec![1, 1]),
    ];
    let ciphers = [
        grease, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
    ];
    client_hello_record(&ciphers, &exts)
}

/// A TLS 1.3 ClientHello as an HTTP library sends it: no GREASE, ALPN `http/1.1` only, a
/// long cipher list and few extensions (the shape of Python's `ssl` defaults).
pub(crate) fn scripted_client_hello(sni: &str) -> Vec<u8> {
    let exts: Vec<(u16, Vec<u8>)> = vec![
        (0x0000, sni_extension(sni)),
        (0x000b, vec![3, 0, 1, 2]),
        (0x000a, vec![0, 4, 0x00, 0x1d, 0x00, 0x17]),
        (0x0023, vec![]),
        (
            0x0010,
            vec![0, 9, 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1'],
        ),
        (0x0016, vec![]),
        (0x0017, vec![]),
        (0x000d, vec![0, 6, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01]),
        (0x002b, vec![4, 0x03, 0x04, 0x03, 0x03]),
    ];
    let ciphers: Vec<u16> = [
        0x1302, 0x1303, 0x1301, 0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b, 0xc02f,
        0x009e, 0xc024, 0xc028, 0x006b, 0xc023, 0xc027, 0x0067, 0xc00a, 0xc014, 0x0039, 0xc009,
        0xc013, 0x0033, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff,
    ]
    .to_vec();
    client_hello_record(&ciphers, &exts)
}

/// An Ethernet + IPv4 frame around `payload` (already holding its transport header), with
/// the fragment fields given: `frag_units` is the offset in 8-byte units.
pub(crate) fn ipv4_frame(
    out: &mut Vec<u8>,
    h: V4,
    proto: u8,
    payload: &[u8],
    frag_units: u16,
    mf: bool,
) {
    use etherparse::{EtherType, Ethernet2Header, IpFragOffset, IpNumber};
    out.clear();
    let (s, d) = macs(&h);
    Ethernet2Header {
        source: s,
        destination: d,
        ether_type: EtherType::IPV4,
    }
    .write(out)
    .expect("writing to a Vec cannot fail");
    let mut hdr = Ipv4Header::new(payload.len() as u16, h.ttl, IpNumber(proto), h.src, h.dst)
        .expect("scenario payloads fit an IPv4 packet");
    hdr.identification = h.id;
    hdr.dont_fragment = h.df && !mf && frag_units == 0;
    hdr.more_fragments = mf;
    hdr.fragment_offset = IpFragOffset::try_new(frag_units).expect("offset below 8192 units");
    hdr.header_checksum = hdr.calc_header_checksum();
    hdr.write(out).expect("writing to a Vec cannot fail");
    out.extend_from_slice(payload);
}

/// A UDP datagram, split into IPv4 fragments when it exceeds a 1500-byte MTU, as a server
/// without path-MTU discovery sends a large response. One frame per fragment.
pub(crate) fn udp_fragmented(h: V4, sport: u16, dport: u16, payload: &[u8]) -> Vec<Vec<u8>> {
    use etherparse::UdpHeader;
    let ip = Ipv4Header::new(
        (8 + payload.len()) as u16,
        h.ttl,
        etherparse::IpNumber::UDP,
        h.src,
        h.dst,
    )
    .expect("scenario payloads fit an IPv4 packet");
    let udp = UdpHeader::with_ipv4_checksum(sport, dport, &ip, payload)
        .expect("scenario payloads fit a UDP datagram");
    let mut datagram = udp.to_bytes().to_vec();
    datagram.extend_from_slice(payload);
    // 1480 bytes of IP payload per fragment: a multiple of 8.
    const CHUNK: usize = 1480;
    let mut frames = Vec::new();
    let mut at = 0;
    while at < datagram.len() {
        let end = (at + CHUNK).min(datagram.len());
        let mut f = Vec::with_capacity(14 + 20 + end - at);
        let more = end < datagram.len();
        let h = V4 { df: false, ..h };
        ipv4_frame(&mut f, h, 17, &datagram[at..end], (at / 8) as u16, more);
        frames.push(f);
        at = end;
    }
    frames
}

/// An ICMP echo request with `len` bytes of data.
pub(crate) fn icmp_echo(out: &mut Vec<u8>, h: V4, id: u16, seq: u16, len: usize) {
    out.clear();
    let (s, d) = macs(&h);
    PacketBuilder::ethernet2(s, d)
        .ip(ip(h, 1))
        .icmpv4_echo_request(id, seq)
        .write(out, &vec![0x61; len])
        .expect("writing to a Vec cannot fail");
}

/// A DNS response to [`dns_query`] padded with `rrsig_bytes` of RRSIG-like answer data, as an
/// ANY query on a DNSSEC-signed zone returns (the amplification DNS reflection abuses).
pub(crate) fn dns_big_response(query: &[u8], rrsig_bytes: usize) -> Vec<u8> {
    let mut m = query.to_vec();
    m[2] = 0x84;
    m[3] = 0x00;
    let opt = m.split_off(m.len() - 11);
    let mut answers = 0u16;
    let mut left = rrsig_bytes;
    while left > 0 {
        let rdlen = left.min(280);
        // name pointer, type RRSIG (46), class IN, TTL, rdlength
        m.extend([0xc0, 12, 0, 46, 0, 1, 0, 0, 0x0e, 0x10]);
        m.extend((rdlen as u16).to_be_bytes());
        m.extend((0..rdlen).map(|i| (i * 7 + answers as usize) as u8));
        answers += 1;
        left -= rdlen;
    }
    m[6..8].copy_from_slice(&answers.to_be_bytes());
    m.extend(opt);
    m
}
