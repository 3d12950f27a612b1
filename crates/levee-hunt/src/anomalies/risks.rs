//! Findings about single connections and requests.

use std::collections::HashMap;
use std::net::IpAddr;

use levee_decode::{Packet, TcpFlags, Transport};

use super::{stays_on_the_link, Finding, FindingKind};

/// Public resolvers that answer DNS over TLS (853) and over HTTPS (443): contacts with them
/// on those ports are DNS that the network's own resolver, and its logs, never see.
const PUBLIC_RESOLVERS: &[&str] = &[
    "1.1.1.1",
    "1.0.0.1",
    "8.8.8.8",
    "8.8.4.4",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
    "94.140.14.14",
    "94.140.15.15",
    "185.228.168.9",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2620:fe::fe",
];

/// Risks kept at most, of each kind.
const MAX_RISKS: usize = 1 << 16;

/// DNS carried over an encrypted channel to a public resolver, per client and resolver.
struct EncryptedDns {
    first: i64,
    last: i64,
    contacts: u32,
    /// A ClientHello to it without a server name (nDPI's "Missing SNI"): not a browser's DoH.
    no_sni: bool,
}

/// Requests of a client to one server that look like an implant's, not a browser's.
struct C2Http {
    first: i64,
    last: i64,
    requests: u32,
    score: u8,
    reasons: Vec<&'static str>,
    example: String,
}

/// Findings about single connections and requests: encrypted DNS to public resolvers, and
/// HTTP that looks like command and control.
///
/// * **encrypted-dns**: TCP or UDP contacts with a public resolver on 853 (DNS over TLS or
///   QUIC: score 70) or 443 (DNS over HTTPS: 60), 10 more when a ClientHello to it names no
///   server. DNS tunnels such as dns2tcp and DoH tunnels travel this way, out of the local
///   resolver's sight.
/// * **c2-like-http**: HTTP requests scored by what browsers seldom do and implants often do:
///   a numeric or missing Host (30), a port other than 80 and 443 (25), POST (15), a user
///   agent missing or claiming Internet Explorer 8 or older (15), a path of one random-looking
///   segment without an extension (15); one trait alone is no finding, and servers on the
///   link or the host are left out. The score of a client and server is their worst
///   request's.
#[derive(Default)]
pub struct Risks {
    encrypted_dns: HashMap<(IpAddr, IpAddr, u16, u8), EncryptedDns, foldhash::fast::FixedState>,
    http: HashMap<(IpAddr, std::net::SocketAddr), C2Http, foldhash::fast::FixedState>,
    resolvers: Vec<IpAddr>,
}

impl Risks {
    /// Ready to note packets and requests.
    pub fn new() -> Risks {
        Risks {
            resolvers: PUBLIC_RESOLVERS
                .iter()
                .map(|r| r.parse().expect("a resolver's address"))
                .collect(),
            ..Risks::default()
        }
    }

    /// Notes a packet at `ts`.
    #[inline]
    pub fn packet(&mut self, ts: i64, p: &Packet<'_>) {
        let Some(ip) = p.ip.as_ref() else { return };
        let Some((_, dport)) = p.ports() else { return };
        if !matches!(dport, 443 | 853) || !self.resolvers.contains(&ip.dst) {
            return;
        }
        let start = match &p.transport {
            Transport::Tcp(t) => t.flags.has(TcpFlags::SYN) && !t.flags.has(TcpFlags::ACK),
            Transport::Udp(_) => true,
            _ => false,
        };
        let no_sni = !p.payload.is_empty()
            && matches!(p.app(), levee_decode::App::TlsClientHello(h) if h.sni.is_none());
        if !start && !no_sni {
            return;
        }
        let key = (ip.src, ip.dst, dport, ip.proto);
        if self.encrypted_dns.len() >= MAX_RISKS && !self.encrypted_dns.contains_key(&key) {
            return;
        }
        let e = self.encrypted_dns.entry(key).or_insert(EncryptedDns {
            first: ts,
            last: ts,
            contacts: 0,
            no_sni: false,
        });
        e.first = e.first.min(ts);
        e.last = e.last.max(ts);
        e.contacts += u32::from(start);
        e.no_sni |= no_sni;
    }

    /// Notes an HTTP request at `ts` from `client` to `server`.
    pub fn request(
        &mut self,
        ts: i64,
        client: IpAddr,
        server: std::net::SocketAddr,
        r: &levee_logs::Request<'_>,
    ) {
        if stays_on_the_link(server.ip()) {
            return;
        }
        let (score, reasons) = c2_score(server.port(), r);
        if score == 0 {
            return;
        }
        let key = (client, server);
        if self.http.len() >= MAX_RISKS && !self.http.contains_key(&key) {
            return;
        }
        let h = self.http.entry(key).or_insert(C2Http {
            first: ts,
            last: ts,
            requests: 0,
            score: 0,
            reasons: Vec::new(),
            example: String::new(),
        });
        h.first = h.first.min(ts);
        h.last = h.last.max(ts);
        h.requests += 1;
        if score > h.score {
            h.score = score;
            h.reasons = reasons;
            h.example = format!("{} {}", r.method, r.target);
        }
    }

    /// Every finding, best first.
    pub fn findings(&self, file: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        for (&(client, resolver, port, proto), e) in &self.encrypted_dns {
            let base: u8 = if port == 853 { 70 } else { 60 };
            let proto = if proto == 17 { "udp" } else { "tcp" };
            out.push(Finding {
                kind: FindingKind::EncryptedDns,
                score: base + if e.no_sni { 10 } else { 0 },
                subject: format!(
                    "{client} -> {}/{proto}",
                    std::net::SocketAddr::new(resolver, port)
                ),
                evidence: format!(
                    "{} contacts with public resolver {resolver} on {port} ({}){}: DNS the local resolver does not see",
                    e.contacts,
                    if port == 853 { "DNS over TLS or QUIC" } else { "DNS over HTTPS" },
                    if e.no_sni { ", a ClientHello without a server name" } else { "" }
                ),
                first_ns: e.first,
                last_ns: e.last,
                file: file.to_string(),
            });
        }
        for (&(client, server), h) in &self.http {
            out.push(Finding {
                kind: FindingKind::C2LikeHttp,
                score: h.score,
                subject: format!("{client} -> {server}/tcp"),
                evidence: format!(
                    "{} requests, such as `{}`: {}",
                    h.requests,
                    h.example,
                    h.reasons.join(", ")
                ),
                first_ns: h.first,
                last_ns: h.last,
                file: file.to_string(),
            });
        }
        out.sort_by(|a, b| b.score.cmp(&a.score).then(a.subject.cmp(&b.subject)));
        out
    }
}

/// What in a request to a server on `port` looks like an implant's, and its score.
fn c2_score(port: u16, r: &levee_logs::Request<'_>) -> (u8, Vec<&'static str>) {
    let mut score = 0u8;
    let mut reasons = Vec::new();
    let host = r
        .host
        .as_deref()
        .and_then(crate::indicators::authority_host);
    let numeric = host.as_deref().map_or(true, |h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok()
    });
    let mut add = |yes: bool, points: u8, why: &'static str| {
        if yes {
            score += points;
            reasons.push(why);
        }
    };
    add(numeric, 30, "a numeric or missing Host");
    add(
        !matches!(port, 80 | 443),
        25,
        "a port other than 80 and 443",
    );
    add(r.method == "POST", 15, "POST");
    let ua = r.user_agent.as_deref().unwrap_or("");
    let old_ie = ua.split("MSIE ").nth(1).is_some_and(|v| {
        v.split(['.', ';'])
            .next()
            .and_then(|n| n.trim().parse::<u32>().ok())
            .is_some_and(|n| n <= 8)
    });
    add(
        ua.is_empty() || old_ie,
        15,
        "no user agent or Internet Explorer 8 or older",
    );
    let path = r.path();
    let one_segment = path.len() > 1 && !path[1..].contains('/');
    let segment = &path[1.min(path.len())..];
    let random = one_segment
        && segment.len() >= 12
        && !segment.contains('.')
        && segment.bytes().all(|b| b.is_ascii_alphanumeric())
        && segment.bytes().any(|b| b.is_ascii_uppercase())
        && segment.bytes().any(|b| b.is_ascii_lowercase())
        && segment.bytes().any(|b| b.is_ascii_digit());
    add(random, 15, "a random-looking path");
    // A single trait is what many benign requests have: only combinations are findings.
    if reasons.len() < 2 {
        return (0, Vec::new());
    }
    (score, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_score_by_what_browsers_seldom_do_together() {
        let request = |method: &str, host: Option<&str>, target: &str, ua: Option<&str>| {
            levee_logs::Request {
                method: method.to_string().into(),
                host: host.map(|h| h.to_string().into()),
                target: target.to_string().into(),
                user_agent: ua.map(|u| u.to_string().into()),
                ..Default::default()
            }
        };
        let firefox =
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0");
        let browser = request("GET", Some("shop.example"), "/cart/item.html", firefox);
        assert_eq!(c2_score(443, &browser).0, 0);
        // One trait alone (a numeric host) is no finding.
        let by_ip = request("GET", Some("192.0.2.1"), "/index.html", firefox);
        assert_eq!(c2_score(80, &by_ip).0, 0);
        let implant = request(
            "POST",
            Some("198.51.100.9:8443"),
            "/aZ3kQ9mT2xPw7",
            Some("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"),
        );
        let (score, why) = c2_score(8443, &implant);
        assert_eq!(score, 100, "{why:?}");
        assert_eq!(why.len(), 5);
        let no_host = request("POST", None, "/upload", None);
        assert_eq!(c2_score(80, &no_host).0, 60);
    }
}
