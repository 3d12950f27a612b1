//! What rules are evaluated on: a decoded packet, or an HTTP request read from an access log.
//! Both give the value of a [`Field`] when they have it; a field a record lacks (a TCP port of
//! a log line, a cookie of a packet) makes its condition false, as for a packet without the
//! layer.

use std::borrow::Cow;
use std::net::IpAddr;

use levee_decode::Packet;
use levee_logs::Request;

use crate::field::Field;

/// A record rules can match.
pub trait Record {
    /// An integer field's value (a boolean one as 0 or 1), if the record has it.
    fn int(&self, f: &Field) -> Option<u64>;
    /// An address field's value, if the record has it.
    fn ip(&self, f: &Field) -> Option<IpAddr>;
    /// A boolean field's value, if the record has it.
    fn bool(&self, f: &Field) -> Option<bool>;
    /// A string field's value, if the record has it.
    fn str(&self, f: &Field) -> Option<Cow<'_, str>>;
    /// A bytes field's value (or its slice), if the record has it.
    fn bytes(&self, f: &Field) -> Option<&[u8]>;
}

impl Record for Packet<'_> {
    #[inline]
    fn int(&self, f: &Field) -> Option<u64> {
        f.int(self)
    }

    #[inline]
    fn ip(&self, f: &Field) -> Option<IpAddr> {
        f.ip(self)
    }

    #[inline]
    fn bool(&self, f: &Field) -> Option<bool> {
        f.bool(self)
    }

    #[inline]
    fn str(&self, f: &Field) -> Option<Cow<'_, str>> {
        f.str(self).map(Cow::Owned)
    }

    #[inline]
    fn bytes(&self, f: &Field) -> Option<&[u8]> {
        f.bytes(self)
    }
}

/// A log line: the client is `ip.src`; the request's parts are the `http.*` and `tls.*`
/// fields.
impl Record for Request<'_> {
    fn int(&self, f: &Field) -> Option<u64> {
        match f.name() {
            "http.response.code" => self.status.map(u64::from),
            _ => None,
        }
    }

    fn ip(&self, f: &Field) -> Option<IpAddr> {
        match f.name() {
            "ip.src" => self.ip,
            _ => None,
        }
    }

    fn bool(&self, _: &Field) -> Option<bool> {
        None
    }

    /// A log line holds no packet payload.
    fn bytes(&self, _: &Field) -> Option<&[u8]> {
        None
    }

    fn str(&self, f: &Field) -> Option<Cow<'_, str>> {
        let s: &str = match f.name() {
            "http.request.method" if !self.method.is_empty() => &self.method,
            "http.request.uri" => &self.target,
            "http.request.uri.path" => self.path(),
            "http.request.uri.query" => self.query()?,
            "http.request.version" => self.protocol.as_deref()?,
            "http.host" => self.host.as_deref()?,
            "http.user_agent" => self.user_agent.as_deref()?,
            "http.referer" => self.referer.as_deref()?,
            "http.cookie" => self.cookie.as_deref()?,
            "http.request.headers.names" => self.header_names.as_deref()?,
            "tls.ja3" => self.ja3.as_deref()?,
            "tls.ja4" => self.ja4.as_deref()?,
            _ => return None,
        };
        Some(Cow::Borrowed(s))
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_plain;

    #[test]
    fn rules_match_log_lines_by_their_http_fields_and_client() {
        let mut times = levee_logs::time::TimeCache::default();
        let line = r#"203.0.113.7 - - [15/Jan/2026:12:00:00 +0000] "POST /login?next=%2F HTTP/1.1" 401 320 "https://shop.example/login" "python-requests/2.31.0""#;
        let (r, _) = levee_logs::clf::parse(line, &mut times).unwrap();
        for (expr, want) in [
            ("ip.src == 203.0.113.7", true),
            ("ip.src in { 203.0.113.0/24 }", true),
            ("ip.dst == 203.0.113.7", false),
            (
                "http.request.method == \"POST\" and http.request.uri.path == \"/login\"",
                true,
            ),
            ("http.request.uri.query contains \"next\"", true),
            ("http.request.uri == \"/login?next=%2F\"", true),
            ("http.response.code in { 401 403 }", true),
            ("http.user_agent matches \"^python-requests/\"", true),
            ("http.referer contains \"shop.example\"", true),
            ("http.request.version == \"HTTP/1.1\"", true),
            ("http.cookie contains \"session\"", false),
            // Fields a log line does not have are false, negations included.
            ("tcp.dstport == 80", false),
            ("tcp.dstport != 80", false),
            ("not tcp.dstport == 80", true),
        ] {
            let e = parse_plain(expr).unwrap();
            assert_eq!(e.matches(&r), want, "{expr}");
        }
    }

    #[test]
    fn packets_with_an_http_request_have_the_same_http_fields() {
        let payload = b"GET /search?q=shoes HTTP/1.1\r\nHost: shop.example\r\nReferer: https://shop.example/\r\nCookie: s=1\r\nUser-Agent: curl/8\r\n\r\n";
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        let total = (20 + 20 + payload.len()) as u16;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        f[26..30].copy_from_slice(&[203, 0, 113, 7]);
        f[30..34].copy_from_slice(&[10, 10, 10, 10]);
        f[34..36].copy_from_slice(&40000u16.to_be_bytes());
        f[36..38].copy_from_slice(&80u16.to_be_bytes());
        f[46] = 5 << 4;
        f[47] = 0x18;
        f.extend_from_slice(payload);
        let p = levee_decode::decode(levee_decode::linktype::ETHERNET, &f, f.len() as u32);
        for (expr, want) in [
            (
                "http.request.uri.path == \"/search\" and http.request.uri.query == \"q=shoes\"",
                true,
            ),
            (
                "http.referer == \"https://shop.example/\" and http.cookie == \"s=1\"",
                true,
            ),
            (
                "http.request.version == \"HTTP/1.1\" and tcp.dstport == 80",
                true,
            ),
            ("http.response.code == 200", false),
        ] {
            let e = parse_plain(expr).unwrap();
            assert_eq!(e.matches(&p), want, "{expr}");
        }
    }
}
