//! Named fields of a decoded packet, in the Cloudflare Rules / Wireshark display-filter style.
//! [`Packet::field`] is what the command line, the JSON output and (later) the rule engine read;
//! [`FIELD_NAMES`] lists every name with a one-line meaning.

use std::fmt;
use std::net::IpAddr;

use crate::app::App;
use crate::{Packet, Transport};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    Int(u64),
    Bool(bool),
    Ip(IpAddr),
    Str(String),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::Bool(b) => write!(f, "{}", u8::from(*b)),
            FieldValue::Ip(ip) => write!(f, "{ip}"),
            FieldValue::Str(s) => f.write_str(s),
        }
    }
}

/// Every field name with its meaning.
pub const FIELD_NAMES: &[(&str, &str)] = &[
    ("frame.len", "length on the wire"),
    ("frame.cap_len", "captured length"),
    ("eth.type", "EtherType of the innermost link header"),
    ("vlan.id", "outermost VLAN id"),
    ("vlan.count", "number of VLAN tags"),
    ("mpls.count", "number of MPLS labels"),
    ("pppoe.session_id", "PPPoE session id"),
    (
        "tunnel.type",
        "outermost tunnel removed: gre, erspan2, erspan3, ipip, 6in4, vxlan",
    ),
    (
        "tunnel.outer.src",
        "source address of the outermost IP header",
    ),
    (
        "tunnel.outer.dst",
        "destination address of the outermost IP header",
    ),
    ("tunnel.key", "GRE key, VXLAN VNI or ERSPAN session id"),
    (
        "tunnel.depth",
        "number of tunnel layers removed (0 when not tunnelled)",
    ),
    (
        "decode.issue",
        "where decoding stopped early and why, e.g. transport:truncated",
    ),
    ("ip.version", "4 or 6"),
    ("ip.src", "source address (innermost IP header)"),
    ("ip.dst", "destination address (innermost IP header)"),
    (
        "ip.proto",
        "IP protocol number (after IPv6 extension headers)",
    ),
    ("ip.len", "IPv4 total length or IPv6 payload length + 40"),
    ("ip.ttl", "TTL or hop limit"),
    (
        "ip.id",
        "IPv4 identification or IPv6 fragment identification",
    ),
    (
        "ip.hdr_len",
        "IP header length including IPv6 extension headers",
    ),
    ("ip.dsfield", "TOS / traffic class byte"),
    ("ip.flags.df", "don't fragment"),
    ("ip.flags.mf", "more fragments"),
    (
        "ip.frag_offset",
        "fragment offset in 8-byte units (as in Wireshark)",
    ),
    ("ip.frag", "packet is a fragment (first or later)"),
    ("ip.opt", "IPv4 options present"),
    ("tcp.srcport", "TCP source port"),
    ("tcp.dstport", "TCP destination port"),
    ("tcp.seq", "raw sequence number"),
    ("tcp.ack", "raw acknowledgment number"),
    ("tcp.flags", "flag bits (NS..FIN) as a number"),
    (
        "tcp.flags.str",
        "flags in tcpdump notation (S, S., R, P., ...)",
    ),
    ("tcp.flags.fin", "FIN"),
    ("tcp.flags.syn", "SYN"),
    ("tcp.flags.reset", "RST"),
    ("tcp.flags.push", "PSH"),
    ("tcp.flags.ack", "ACK"),
    ("tcp.flags.urg", "URG"),
    ("tcp.flags.ecn", "ECE"),
    ("tcp.flags.cwr", "CWR"),
    ("tcp.window", "raw window"),
    ("tcp.hdr_len", "header length in bytes"),
    ("tcp.len", "payload length"),
    ("tcp.options.mss", "MSS option"),
    ("tcp.options.wscale", "window scale option"),
    ("tcp.options.sack_perm", "SACK-permitted option"),
    ("tcp.options.ts", "timestamp option present"),
    (
        "tcp.options.sig",
        "p0f-style option order, e.g. mss,sok,ts,nop,ws",
    ),
    ("udp.srcport", "UDP source port"),
    ("udp.dstport", "UDP destination port"),
    ("udp.len", "UDP length field"),
    ("icmp.type", "ICMP or ICMPv6 type"),
    ("icmp.code", "ICMP or ICMPv6 code"),
    (
        "icmp.quoted.proto",
        "protocol of the packet an ICMP error quotes (IPv4 quotes without options)",
    ),
    (
        "icmp.quoted.srcport",
        "TCP or UDP source port of the packet an ICMP error quotes",
    ),
    (
        "icmp.quoted.dstport",
        "TCP or UDP destination port of the packet an ICMP error quotes",
    ),
    (
        "app.protocol",
        "application protocol guessed from ports and payload",
    ),
    ("dns.id", "DNS transaction id"),
    ("dns.flags.response", "DNS message is a response"),
    ("dns.flags.rcode", "DNS response code"),
    ("dns.qry.name", "first question name"),
    ("dns.qry.type", "first question type"),
    ("dns.count.answers", "answer count"),
    ("dns.edns.udp_size", "EDNS0 UDP payload size"),
    ("dns.size", "DNS message size as captured"),
    ("ntp.mode", "NTP mode"),
    (
        "ntp.request_code",
        "NTP mode 7 request code (42 = MON_GETLIST_1)",
    ),
    ("memcached.command", "memcached command or response word"),
    ("ssdp.kind", "m-search, notify or response"),
    ("ssdp.st", "SSDP search or notification target"),
    ("cldap.op", "LDAP operation"),
    ("snmp.version", "SNMP version (0 = v1, 1 = v2c, 3 = v3)"),
    ("snmp.pdu", "SNMP PDU type"),
    ("tls.sni", "server name of a ClientHello"),
    ("tls.alpn", "ALPN protocols of a ClientHello"),
    ("tls.version", "highest TLS version offered"),
    ("tls.ja3", "JA3 fingerprint (MD5)"),
    ("tls.ja3_string", "JA3 fingerprint before hashing"),
    ("tls.ja4", "JA4 fingerprint"),
    ("http.request.method", "HTTP method"),
    ("http.request.uri", "HTTP request target"),
    ("http.request.uri.path", "path of the HTTP request target"),
    (
        "http.request.uri.query",
        "query of the HTTP request target (after `?`)",
    ),
    ("http.request.version", "HTTP version (`HTTP/1.1`)"),
    ("http.host", "Host header"),
    ("http.user_agent", "User-Agent header"),
    ("http.referer", "Referer header"),
    ("http.cookie", "Cookie header"),
    ("http.response.code", "response status (access logs)"),
    (
        "http.request.headers.names",
        "header names in order, comma-separated",
    ),
];

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
                let family = name.split('.').next()?;
                if matches!(
                    family,
                    "dns" | "ntp" | "memcached" | "ssdp" | "cldap" | "snmp" | "tls" | "http"
                ) {
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
