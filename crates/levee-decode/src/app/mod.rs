//! Layer 7, from the payload of a single packet: DNS, NTP, memcached, SSDP, CLDAP, SNMP,
//! chargen/QOTD (by port), TLS ClientHello (SNI, ALPN, versions, JA3, JA4) and HTTP/1.x requests.
//! Nothing is reassembled here: a message cut by fragmentation or the snapshot length yields what
//! its first bytes hold (a DNS header and question survive in the first fragment of a large
//! response, which is what reflection analysis needs).

pub mod ber;
pub mod dns;
pub mod http;
pub mod services;
pub mod tls;

use crate::{Packet, Transport};

/// The application protocol a packet most likely carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    /// No payload.
    None,
    /// DNS (port 53).
    Dns,
    /// Multicast DNS (port 5353).
    Mdns,
    /// NTP (port 123).
    Ntp,
    /// memcached over UDP (port 11211).
    Memcached,
    /// SSDP (port 1900).
    Ssdp,
    /// Connectionless LDAP (port 389).
    Cldap,
    /// SNMP (ports 161, 162).
    Snmp,
    /// chargen (port 19).
    Chargen,
    /// Quote of the day (port 17).
    Qotd,
    /// A TLS record (handshakes told by their first bytes).
    Tls,
    /// An HTTP/1.x request (told by its method).
    Http,
    /// Anything else.
    Other,
}

impl AppProtocol {
    /// The protocol's name, as `app.protocol` gives it.
    pub fn name(self) -> &'static str {
        match self {
            AppProtocol::None => "none",
            AppProtocol::Dns => "dns",
            AppProtocol::Mdns => "mdns",
            AppProtocol::Ntp => "ntp",
            AppProtocol::Memcached => "memcached",
            AppProtocol::Ssdp => "ssdp",
            AppProtocol::Cldap => "cldap",
            AppProtocol::Snmp => "snmp",
            AppProtocol::Chargen => "chargen",
            AppProtocol::Qotd => "qotd",
            AppProtocol::Tls => "tls",
            AppProtocol::Http => "http",
            AppProtocol::Other => "data",
        }
    }
}

/// A decoded application message.
#[derive(Debug, Clone, PartialEq)]
pub enum App<'a> {
    /// No payload, or none the decoder reads.
    None,
    /// A DNS message.
    Dns(dns::Dns),
    /// An NTP packet.
    Ntp(services::Ntp),
    /// A memcached UDP frame.
    Memcached(services::Memcached),
    /// An SSDP message.
    Ssdp(services::Ssdp),
    /// A CLDAP message.
    Cldap(services::Cldap),
    /// An SNMP message.
    Snmp(services::Snmp),
    /// chargen (19) or QOTD (17): recognised by port only, the payload is free text.
    CharStream {
        /// Which of the two.
        protocol: AppProtocol,
        /// Bytes of text.
        len: usize,
    },
    /// A TLS ClientHello, with its fingerprints.
    TlsClientHello(Box<tls::ClientHello>),
    /// An HTTP/1.x request head.
    HttpRequest(http::HttpRequest<'a>),
    /// A payload that did not parse as the protocol its port suggests.
    Unparsed(AppProtocol),
}

fn either(ports: (u16, u16), port: u16) -> bool {
    ports.0 == port || ports.1 == port
}

/// Cheap guess: ports plus, for TCP, the first payload bytes.
pub fn classify(p: &Packet<'_>) -> AppProtocol {
    let payload = p.payload;
    if payload.is_empty() {
        return AppProtocol::None;
    }
    match p.transport {
        Transport::Udp(u) => {
            let ports = (u.src_port, u.dst_port);
            if either(ports, 53) {
                AppProtocol::Dns
            } else if either(ports, 5353) {
                AppProtocol::Mdns
            } else if either(ports, 123) {
                AppProtocol::Ntp
            } else if either(ports, 11211) {
                AppProtocol::Memcached
            } else if either(ports, 1900) {
                AppProtocol::Ssdp
            } else if either(ports, 389) {
                AppProtocol::Cldap
            } else if either(ports, 161) || either(ports, 162) {
                AppProtocol::Snmp
            } else if either(ports, 19) {
                AppProtocol::Chargen
            } else if either(ports, 17) {
                AppProtocol::Qotd
            } else {
                AppProtocol::Other
            }
        }
        Transport::Tcp(t) => {
            if tls::looks_like_handshake(payload) {
                AppProtocol::Tls
            } else if http::looks_like_request(payload) {
                AppProtocol::Http
            } else if either((t.src_port, t.dst_port), 53) {
                AppProtocol::Dns
            } else {
                AppProtocol::Other
            }
        }
        // ICMP carries no application protocol; its payload is a quoted header or echo data.
        _ => AppProtocol::None,
    }
}

/// Full decode of the payload according to [`classify`].
pub fn decode<'a>(p: &Packet<'a>) -> App<'a> {
    let payload = p.payload;
    let proto = classify(p);
    let parsed = match proto {
        AppProtocol::None | AppProtocol::Other => return App::None,
        AppProtocol::Dns | AppProtocol::Mdns => {
            // DNS over TCP starts with a two-byte length.
            let msg = if p.tcp().is_some() && payload.len() > 2 {
                &payload[2..]
            } else {
                payload
            };
            dns::parse(msg).map(App::Dns)
        }
        AppProtocol::Ntp => services::parse_ntp(payload).map(App::Ntp),
        AppProtocol::Memcached => services::parse_memcached(payload).map(App::Memcached),
        AppProtocol::Ssdp => services::parse_ssdp(payload).map(App::Ssdp),
        AppProtocol::Cldap => services::parse_cldap(payload).map(App::Cldap),
        AppProtocol::Snmp => services::parse_snmp(payload).map(App::Snmp),
        AppProtocol::Chargen | AppProtocol::Qotd => Some(App::CharStream {
            protocol: proto,
            len: payload.len(),
        }),
        AppProtocol::Tls => {
            tls::parse_client_hello(payload).map(|ch| App::TlsClientHello(Box::new(ch)))
        }
        AppProtocol::Http => http::parse_request(payload).map(App::HttpRequest),
    };
    parsed.unwrap_or(App::Unparsed(proto))
}
