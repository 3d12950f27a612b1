//! Named fields of a decoded packet, in the Cloudflare Rules / Wireshark display-filter style.
//!
//! [`FIELDS`] declares each field once: its name, the kind of its values, its layer, its
//! largest value and its meaning. [`Packet::field`] gives its value on a packet; the rule
//! language takes its type and bounds from the declaration, the compilers are asked about
//! it by name, and `levee fields --list` prints it. A test decodes the shared captures and
//! checks every value against its declaration, and that every declared field is given.

use std::fmt;
use std::net::IpAddr;

use crate::app::App;
use crate::{Packet, Transport};

/// A field's value in a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// An integer.
    Int(u64),
    /// True or false.
    Bool(bool),
    /// An address.
    Ip(IpAddr),
    /// A string.
    Str(String),
    /// Bytes (a payload).
    Bytes(Vec<u8>),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::Bool(b) => write!(f, "{}", u8::from(*b)),
            FieldValue::Ip(ip) => write!(f, "{ip}"),
            FieldValue::Str(s) => f.write_str(s),
            // As tshark prints a payload: lowercase hex, two digits a byte.
            FieldValue::Bytes(b) => b.iter().try_for_each(|byte| write!(f, "{byte:02x}")),
        }
    }
}

/// What a field's values are: the type the rule language checks, and the kind of
/// [`FieldValue`] the decoder gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    /// An unsigned integer.
    Int,
    /// True or false.
    Bool,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A string.
    Str,
    /// Bytes: a payload, compared whole, sliced (`udp.payload[0:4]`), searched (`contains`)
    /// or measured (`len(udp.payload)`).
    Bytes,
}

/// The layer a field's value is read from, outermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldLayer {
    /// The capture record itself, and how decoding went.
    Frame,
    /// Ethernet, VLAN, MPLS, PPPoE.
    Link,
    /// The outermost tunnel removed (GRE, ERSPAN, IP-in-IP, VXLAN).
    Tunnel,
    /// The innermost IP header (v4 or v6, after extension headers).
    Ip,
    /// The TCP header.
    Tcp,
    /// The UDP header.
    Udp,
    /// ICMP and ICMPv6, with the packet an error quotes.
    Icmp,
    /// The application protocol guessed from ports and the payload's first bytes, without
    /// decoding it.
    Service,
    /// The application layer, decoded on demand (DNS, NTP, memcached, SSDP, CLDAP, SNMP, TLS
    /// ClientHello, HTTP request): slower to read than the headers.
    App,
}

/// One field, declared once: what the decoder gives ([`Packet::field`]), what the rule
/// language type-checks (`levee-rules`), what the compilers are asked to express, and what
/// `levee fields --list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// The name rules write (`tcp.dstport`).
    pub name: &'static str,
    /// What its values are.
    pub kind: FieldKind,
    /// Where in the packet it is.
    pub layer: FieldLayer,
    /// The largest value an integer field can hold on the wire (`u64::MAX` for counts levee
    /// computes); 1 for booleans, 0 for addresses, strings and bytes.
    pub max: u64,
    /// One line saying what it is.
    pub meaning: &'static str,
}

const fn field(
    name: &'static str,
    kind: FieldKind,
    layer: FieldLayer,
    max: u64,
    meaning: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        kind,
        layer,
        max,
        meaning,
    }
}

use FieldKind::{Bool, Bytes, Int, Ip, Str};
use FieldLayer::{Frame, Icmp, Link, Service, Tcp, Tunnel, Udp};

/// Every field levee knows, in the order `levee fields --list` prints them.
pub const FIELDS: &[FieldDef] = &[
    field("frame.len", Int, Frame, 0xffff_ffff, "length on the wire"),
    field("frame.cap_len", Int, Frame, 0xffff_ffff, "captured length"),
    field(
        "eth.type",
        Int,
        Link,
        0xffff,
        "EtherType of the innermost link header",
    ),
    field("vlan.id", Int, Link, 4095, "outermost VLAN id"),
    field("vlan.count", Int, Link, u64::MAX, "number of VLAN tags"),
    field("mpls.count", Int, Link, u64::MAX, "number of MPLS labels"),
    field("pppoe.session_id", Int, Link, 0xffff, "PPPoE session id"),
    field(
        "tunnel.type",
        Str,
        Tunnel,
        0,
        "outermost tunnel removed: gre, erspan2, erspan3, ipip, 6in4, vxlan",
    ),
    field(
        "tunnel.outer.src",
        Ip,
        Tunnel,
        0,
        "source address of the outermost IP header",
    ),
    field(
        "tunnel.outer.dst",
        Ip,
        Tunnel,
        0,
        "destination address of the outermost IP header",
    ),
    field(
        "tunnel.key",
        Int,
        Tunnel,
        0xffff_ffff,
        "GRE key, VXLAN VNI or ERSPAN session id",
    ),
    field(
        "tunnel.depth",
        Int,
        Tunnel,
        u64::MAX,
        "number of tunnel layers removed (0 when not tunnelled)",
    ),
    field(
        "decode.issue",
        Str,
        Frame,
        0,
        "where decoding stopped early and why, e.g. transport:truncated",
    ),
    field("ip.version", Int, FieldLayer::Ip, 15, "4 or 6"),
    field(
        "ip.src",
        Ip,
        FieldLayer::Ip,
        0,
        "source address (innermost IP header)",
    ),
    field(
        "ip.dst",
        Ip,
        FieldLayer::Ip,
        0,
        "destination address (innermost IP header)",
    ),
    field(
        "ip.proto",
        Int,
        FieldLayer::Ip,
        0xff,
        "IP protocol number (after IPv6 extension headers)",
    ),
    field(
        "ip.len",
        Int,
        FieldLayer::Ip,
        0xffff + 40,
        "IPv4 total length or IPv6 payload length + 40",
    ),
    field("ip.ttl", Int, FieldLayer::Ip, 0xff, "TTL or hop limit"),
    field(
        "ip.id",
        Int,
        FieldLayer::Ip,
        0xffff_ffff,
        "IPv4 identification or IPv6 fragment identification",
    ),
    field(
        "ip.hdr_len",
        Int,
        FieldLayer::Ip,
        u64::MAX,
        "IP header length including IPv6 extension headers",
    ),
    field(
        "ip.dsfield",
        Int,
        FieldLayer::Ip,
        0xff,
        "TOS / traffic class byte",
    ),
    field("ip.flags.df", Bool, FieldLayer::Ip, 1, "don't fragment"),
    field("ip.flags.mf", Bool, FieldLayer::Ip, 1, "more fragments"),
    field(
        "ip.frag_offset",
        Int,
        FieldLayer::Ip,
        8191,
        "fragment offset in 8-byte units (as in Wireshark)",
    ),
    field(
        "ip.frag",
        Bool,
        FieldLayer::Ip,
        1,
        "packet is a fragment (first or later)",
    ),
    field("ip.opt", Bool, FieldLayer::Ip, 1, "IPv4 options present"),
    field(
        "ip.payload",
        Bytes,
        FieldLayer::Ip,
        0,
        "what the IP length counts past the header: IPv4 after its options, IPv6 after the \
         fixed 40 bytes (extension headers included); a later fragment's data too",
    ),
    field("tcp.srcport", Int, Tcp, 0xffff, "TCP source port"),
    field("tcp.dstport", Int, Tcp, 0xffff, "TCP destination port"),
    field("tcp.seq", Int, Tcp, 0xffff_ffff, "raw sequence number"),
    field(
        "tcp.ack",
        Int,
        Tcp,
        0xffff_ffff,
        "raw acknowledgment number",
    ),
    field(
        "tcp.flags",
        Int,
        Tcp,
        0x1ff,
        "flag bits (NS..FIN) as a number",
    ),
    field(
        "tcp.flags.str",
        Str,
        Tcp,
        0,
        "flags in tcpdump notation (S, S., R, P., ...)",
    ),
    field("tcp.flags.fin", Bool, Tcp, 1, "FIN"),
    field("tcp.flags.syn", Bool, Tcp, 1, "SYN"),
    field("tcp.flags.reset", Bool, Tcp, 1, "RST"),
    field("tcp.flags.push", Bool, Tcp, 1, "PSH"),
    field("tcp.flags.ack", Bool, Tcp, 1, "ACK"),
    field("tcp.flags.urg", Bool, Tcp, 1, "URG"),
    field("tcp.flags.ecn", Bool, Tcp, 1, "ECE"),
    field("tcp.flags.cwr", Bool, Tcp, 1, "CWR"),
    field("tcp.window", Int, Tcp, 0xffff, "raw window"),
    field("tcp.hdr_len", Int, Tcp, 60, "header length in bytes"),
    field("tcp.len", Int, Tcp, 0xffff, "payload length"),
    field(
        "tcp.payload",
        Bytes,
        Tcp,
        0,
        "the segment's data, after the header and its options",
    ),
    field("tcp.options.mss", Int, Tcp, 0xffff, "MSS option"),
    field("tcp.options.wscale", Int, Tcp, 0xff, "window scale option"),
    field(
        "tcp.options.sack_perm",
        Bool,
        Tcp,
        1,
        "SACK-permitted option",
    ),
    field("tcp.options.ts", Bool, Tcp, 1, "timestamp option present"),
    field(
        "tcp.options.sig",
        Str,
        Tcp,
        0,
        "p0f-style option order, e.g. mss,sok,ts,nop,ws",
    ),
    field("udp.srcport", Int, Udp, 0xffff, "UDP source port"),
    field("udp.dstport", Int, Udp, 0xffff, "UDP destination port"),
    field("udp.len", Int, Udp, 0xffff, "UDP length field"),
    field(
        "udp.payload",
        Bytes,
        Udp,
        0,
        "the datagram's data, after the 8-byte header, to its length",
    ),
    field("icmp.type", Int, Icmp, 0xff, "ICMP or ICMPv6 type"),
    field("icmp.code", Int, Icmp, 0xff, "ICMP or ICMPv6 code"),
    field(
        "icmp.payload",
        Bytes,
        Icmp,
        0,
        "what follows the 8-byte ICMP header: an echo's data, the packet an error quotes",
    ),
    field(
        "icmp.quoted.proto",
        Int,
        Icmp,
        0xff,
        "protocol of the packet an ICMP error quotes (IPv4 quotes without options)",
    ),
    field(
        "icmp.quoted.srcport",
        Int,
        Icmp,
        0xffff,
        "TCP or UDP source port of the packet an ICMP error quotes",
    ),
    field(
        "icmp.quoted.dstport",
        Int,
        Icmp,
        0xffff,
        "TCP or UDP destination port of the packet an ICMP error quotes",
    ),
    field(
        "app.protocol",
        Str,
        Service,
        0,
        "application protocol guessed from ports and payload",
    ),
    field("dns.id", Int, FieldLayer::App, 0xffff, "DNS transaction id"),
    field(
        "dns.flags.response",
        Bool,
        FieldLayer::App,
        1,
        "DNS message is a response",
    ),
    field(
        "dns.flags.rcode",
        Int,
        FieldLayer::App,
        15,
        "DNS response code",
    ),
    field(
        "dns.qry.name",
        Str,
        FieldLayer::App,
        0,
        "first question name",
    ),
    field(
        "dns.qry.type",
        Int,
        FieldLayer::App,
        0xffff,
        "first question type",
    ),
    field(
        "dns.count.answers",
        Int,
        FieldLayer::App,
        0xffff,
        "answer count",
    ),
    field(
        "dns.edns.udp_size",
        Int,
        FieldLayer::App,
        0xffff,
        "EDNS0 UDP payload size",
    ),
    field(
        "dns.size",
        Int,
        FieldLayer::App,
        0xffff,
        "DNS message size as captured",
    ),
    field("ntp.mode", Int, FieldLayer::App, 7, "NTP mode"),
    field(
        "ntp.request_code",
        Int,
        FieldLayer::App,
        0xff,
        "NTP mode 7 request code (42 = MON_GETLIST_1)",
    ),
    field(
        "memcached.command",
        Str,
        FieldLayer::App,
        0,
        "memcached command or response word",
    ),
    field(
        "ssdp.kind",
        Str,
        FieldLayer::App,
        0,
        "m-search, notify or response",
    ),
    field(
        "ssdp.st",
        Str,
        FieldLayer::App,
        0,
        "SSDP search or notification target",
    ),
    field("cldap.op", Str, FieldLayer::App, 0, "LDAP operation"),
    field(
        "snmp.version",
        Int,
        FieldLayer::App,
        0xff,
        "SNMP version (0 = v1, 1 = v2c, 3 = v3)",
    ),
    field("snmp.pdu", Str, FieldLayer::App, 0, "SNMP PDU type"),
    field(
        "tls.sni",
        Str,
        FieldLayer::App,
        0,
        "server name of a ClientHello",
    ),
    field(
        "tls.alpn",
        Str,
        FieldLayer::App,
        0,
        "ALPN protocols of a ClientHello",
    ),
    field(
        "tls.version",
        Int,
        FieldLayer::App,
        0xffff,
        "highest TLS version offered",
    ),
    field("tls.ja3", Str, FieldLayer::App, 0, "JA3 fingerprint (MD5)"),
    field(
        "tls.ja3_string",
        Str,
        FieldLayer::App,
        0,
        "JA3 fingerprint before hashing",
    ),
    field("tls.ja4", Str, FieldLayer::App, 0, "JA4 fingerprint"),
    field(
        "http.request.method",
        Str,
        FieldLayer::App,
        0,
        "HTTP method",
    ),
    field(
        "http.request.uri",
        Str,
        FieldLayer::App,
        0,
        "HTTP request target",
    ),
    field(
        "http.request.uri.path",
        Str,
        FieldLayer::App,
        0,
        "path of the HTTP request target",
    ),
    field(
        "http.request.uri.query",
        Str,
        FieldLayer::App,
        0,
        "query of the HTTP request target (after `?`)",
    ),
    field(
        "http.request.version",
        Str,
        FieldLayer::App,
        0,
        "HTTP version (`HTTP/1.1`)",
    ),
    field("http.host", Str, FieldLayer::App, 0, "Host header"),
    field(
        "http.user_agent",
        Str,
        FieldLayer::App,
        0,
        "User-Agent header",
    ),
    field("http.referer", Str, FieldLayer::App, 0, "Referer header"),
    field("http.cookie", Str, FieldLayer::App, 0, "Cookie header"),
    field(
        "http.response.code",
        Int,
        FieldLayer::App,
        999,
        "response status (access logs)",
    ),
    field(
        "http.request.headers.names",
        Str,
        FieldLayer::App,
        0,
        "header names in order, comma-separated",
    ),
];

/// The declaration of a field, by name.
pub fn field_def(name: &str) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.name == name)
}

fn int(v: impl Into<u64>) -> Option<FieldValue> {
    Some(FieldValue::Int(v.into()))
}

fn flag(v: bool) -> Option<FieldValue> {
    Some(FieldValue::Bool(v))
}

fn text(v: impl Into<String>) -> Option<FieldValue> {
    Some(FieldValue::Str(v.into()))
}

impl Packet<'_> {
    /// The value of a named field, or `None` when the packet has no such layer.
    pub fn field(&self, name: &str) -> Option<FieldValue> {
        self.fields(&[name]).pop().flatten()
    }

    /// The values of several named fields, decoding layer 7 at most once for all of them.
    pub fn fields(&self, names: &[&str]) -> Vec<Option<FieldValue>> {
        let mut app: Option<App<'_>> = None;
        names
            .iter()
            .map(|name| {
                if let Some(v) = self.header_field(name) {
                    return Some(v);
                }
                if *name == "app.protocol" {
                    return text(self.app_protocol().name());
                }
                if field_def(name)?.layer == FieldLayer::App {
                    return app_field(app.get_or_insert_with(|| self.app()), name);
                }
                None
            })
            .collect()
    }

    fn header_field(&self, name: &str) -> Option<FieldValue> {
        let ip = self.ip.as_ref();
        let tcp = self.tcp();
        let tunnel = self.tunnel.as_ref();
        match name {
            "frame.len" => int(self.wire_len),
            "decode.issue" => self.issue.and_then(|i| {
                text(format!(
                    "{}:{}",
                    serde_plain(&i.layer),
                    serde_plain(&i.kind)
                ))
            }),
            "frame.cap_len" => int(self.cap_len),
            "eth.type" if self.ethertype != 0 => int(self.ethertype),
            "vlan.id" if self.vlan_count > 0 => int(self.vlan_ids[0]),
            "vlan.count" => int(self.vlan_count),
            "mpls.count" => int(self.mpls_labels),
            "pppoe.session_id" => self.pppoe_session.and_then(int),
            "tunnel.type" => tunnel.and_then(|t| text(t.kind.name())),
            "tunnel.outer.src" => tunnel.map(|t| FieldValue::Ip(t.outer.src)),
            "tunnel.outer.dst" => tunnel.map(|t| FieldValue::Ip(t.outer.dst)),
            "tunnel.key" => tunnel.and_then(|t| t.key).and_then(int),
            "tunnel.depth" => int(tunnel.map_or(0, |t| t.depth)),
            "ip.version" => ip.and_then(|i| int(i.version)),
            "ip.src" => ip.map(|i| FieldValue::Ip(i.src)),
            "ip.dst" => ip.map(|i| FieldValue::Ip(i.dst)),
            "ip.proto" => ip.and_then(|i| int(i.proto)),
            "ip.len" => ip.and_then(|i| int(i.len)),
            "ip.ttl" => ip.and_then(|i| int(i.ttl)),
            "ip.id" => ip.and_then(|i| int(i.id)),
            "ip.hdr_len" => ip.and_then(|i| int(i.header_len)),
            "ip.dsfield" => ip.and_then(|i| int(i.tos)),
            "ip.flags.df" => ip.and_then(|i| flag(i.dont_fragment)),
            "ip.flags.mf" => ip.and_then(|i| flag(i.more_fragments)),
            "ip.frag_offset" => ip.and_then(|i| int(i.frag_offset)),
            "ip.frag" => ip.and_then(|i| flag(i.is_fragment)),
            "ip.opt" => ip.and_then(|i| flag(i.has_options)),
            "tcp.srcport" => tcp.and_then(|t| int(t.src_port)),
            "tcp.dstport" => tcp.and_then(|t| int(t.dst_port)),
            "tcp.seq" => tcp.and_then(|t| int(t.seq)),
            "tcp.ack" => tcp.and_then(|t| int(t.ack)),
            "tcp.flags" => tcp.and_then(|t| int(t.flags.0)),
            "tcp.flags.str" => tcp.and_then(|t| text(t.flags.short())),
            "tcp.flags.fin" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::FIN))),
            "tcp.flags.syn" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::SYN))),
            "tcp.flags.reset" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::RST))),
            "tcp.flags.push" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::PSH))),
            "tcp.flags.ack" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::ACK))),
            "tcp.flags.urg" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::URG))),
            "tcp.flags.ecn" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::ECE))),
            "tcp.flags.cwr" => tcp.and_then(|t| flag(t.flags.has(crate::TcpFlags::CWR))),
            "tcp.window" => tcp.and_then(|t| int(t.window)),
            "tcp.hdr_len" => tcp.and_then(|t| int(t.header_len)),
            "tcp.len" => tcp.and_then(|_| int(self.payload.len() as u64)),
            // The whole payload: not known when the capture cut the frame.
            "tcp.payload" | "udp.payload" | "icmp.payload" | "ip.payload" if !self.is_cut() => {
                let layer = field_def(name)?.layer;
                self.payload_of(layer)
                    .map(|b| FieldValue::Bytes(b.to_vec()))
            }
            "tcp.options.mss" => tcp.and_then(|t| t.options.mss).and_then(int),
            "tcp.options.wscale" => tcp.and_then(|t| t.options.window_scale).and_then(int),
            "tcp.options.sack_perm" => tcp.and_then(|t| flag(t.options.sack_permitted)),
            "tcp.options.ts" => tcp.and_then(|t| flag(t.options.timestamp.is_some())),
            "tcp.options.sig" => tcp.and_then(|t| text(t.options.signature())),
            "udp.srcport" => self.udp().and_then(|u| int(u.src_port)),
            "udp.dstport" => self.udp().and_then(|u| int(u.dst_port)),
            "udp.len" => self.udp().and_then(|u| int(u.len)),
            "icmp.type" => self.icmp().and_then(|i| int(i.icmp_type)),
            "icmp.code" => self.icmp().and_then(|i| int(i.code)),
            "icmp.quoted.proto" => self.icmp_quote().and_then(|q| int(q.proto)),
            "icmp.quoted.srcport" => self.icmp_quote().and_then(|q| q.src_port).and_then(int),
            "icmp.quoted.dstport" => self.icmp_quote().and_then(|q| q.dst_port).and_then(int),
            _ => None,
        }
    }

    /// Whether the packet has a transport header levee decoded.
    pub fn has_transport(&self) -> bool {
        !matches!(self.transport, Transport::None | Transport::Other)
    }
}

/// The serde name of a unit enum variant (`transport`, `truncated`).
fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn app_field(app: &App<'_>, name: &str) -> Option<FieldValue> {
    match app {
        App::Dns(d) => match name {
            "dns.id" => int(d.id),
            "dns.flags.response" => flag(d.response),
            "dns.flags.rcode" => int(d.rcode),
            "dns.qry.name" => d.qname.clone().map(FieldValue::Str),
            "dns.qry.type" => d.qtype.and_then(int),
            "dns.count.answers" => int(d.ancount),
            "dns.edns.udp_size" => d.edns_udp_size.and_then(int),
            "dns.size" => int(d.size as u64),
            _ => None,
        },
        App::Ntp(n) => match name {
            "ntp.mode" => int(n.mode),
            "ntp.request_code" => n.request_code.and_then(int),
            _ => None,
        },
        App::Memcached(m) if name == "memcached.command" => text(m.command.clone()),
        App::Ssdp(s) => match name {
            "ssdp.kind" => text(match s.kind {
                crate::app::services::SsdpKind::MSearch => "m-search",
                crate::app::services::SsdpKind::Notify => "notify",
                crate::app::services::SsdpKind::Response => "response",
            }),
            "ssdp.st" => s.target.clone().map(FieldValue::Str),
            _ => None,
        },
        App::Cldap(c) if name == "cldap.op" => text(c.op_name()),
        App::Snmp(s) => match name {
            "snmp.version" => Some(FieldValue::Int(s.version as u64)),
            "snmp.pdu" => text(s.pdu_name()),
            _ => None,
        },
        App::TlsClientHello(h) => match name {
            "tls.sni" => h.sni.clone().map(FieldValue::Str),
            "tls.alpn" => text(h.alpn.join(",")),
            "tls.version" => int(h.max_version),
            "tls.ja3" => text(h.ja3_hash.clone()),
            "tls.ja3_string" => text(h.ja3.clone()),
            "tls.ja4" => text(h.ja4.clone()),
            _ => None,
        },
        App::HttpRequest(r) => match name {
            "http.request.method" => text(r.method),
            "http.request.uri" => text(r.target),
            "http.request.uri.path" => text(r.target.split(['?', '#']).next().unwrap_or("")),
            "http.request.uri.query" => r
                .target
                .split_once('?')
                .map(|(_, q)| FieldValue::Str(q.split('#').next().unwrap_or(q).to_string())),
            "http.request.version" => r.version.map(|v| FieldValue::Str(format!("HTTP/1.{v}"))),
            "http.host" => r.host.map(|h| FieldValue::Str(h.to_string())),
            "http.user_agent" => r.user_agent.map(|h| FieldValue::Str(h.to_string())),
            "http.referer" => r.referer.map(|h| FieldValue::Str(h.to_string())),
            "http.cookie" => r.cookie.map(|h| FieldValue::Str(h.to_string())),
            "http.request.headers.names" => text(r.header_names.join(",")),
            _ => None,
        },
        _ => None,
    }
}
