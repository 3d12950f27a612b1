//! HTTP/1.x requests from the first segment of a request: method, target, version, Host,
//! User-Agent and the header names in wire order (header order tells real browsers from
//! scripts that claim to be one). Parsed by `httparse`.

use serde::Serialize;

const MAX_HEADERS: usize = 64;

/// An HTTP/1.x request's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The request target, as sent.
    pub target: &'a str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: Option<u8>,
    /// The `Host` header.
    pub host: Option<&'a str>,
    /// The `User-Agent` header.
    pub user_agent: Option<&'a str>,
    /// The `Referer` header.
    pub referer: Option<&'a str>,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// Header names in the order sent.
    pub header_names: Vec<&'a str>,
    /// The header block ended inside this packet.
    pub complete: bool,
}

/// The request methods levee recognises, each with the space that follows it on the request
/// line.
pub const METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
];

/// Whether the bytes start with an HTTP method and a space.
pub fn looks_like_request(b: &[u8]) -> bool {
    METHODS.iter().any(|m| b.starts_with(m))
}

/// An HTTP/1.x request head (the whole head must be in `b`); `None` otherwise.
pub fn parse_request(b: &[u8]) -> Option<HttpRequest<'_>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let complete = match req.parse(b) {
        Ok(httparse::Status::Complete(_)) => true,
        Ok(httparse::Status::Partial) => false,
        Err(_) => return None,
    };
    let (method, target) = match (req.method, req.path) {
        (Some(m), Some(p)) => (m, p),
        // A request line cut by the end of the segment: take what is there.
        _ => return request_line_only(b),
    };
    let mut out = HttpRequest {
        method,
        target,
        version: req.version,
        host: None,
        user_agent: None,
        referer: None,
        cookie: None,
        header_names: Vec::new(),
        complete,
    };
    if complete {
        for h in req.headers.iter() {
            out.header_names.push(h.name);
            let value = std::str::from_utf8(h.value).ok();
            if h.name.eq_ignore_ascii_case("host") {
                out.host = value;
            } else if h.name.eq_ignore_ascii_case("user-agent") {
                out.user_agent = value;
            } else if h.name.eq_ignore_ascii_case("referer") {
                out.referer = value;
            } else if h.name.eq_ignore_ascii_case("cookie") {
                out.cookie = value;
            }
        }
    }
    Some(out)
}

fn request_line_only(b: &[u8]) -> Option<HttpRequest<'_>> {
    let line_end = b
        .iter()
        .position(|&c| c == b'\r' || c == b'\n')
        .unwrap_or(b.len());
    let line = std::str::from_utf8(&b[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next().unwrap_or("");
    Some(HttpRequest {
        method,
        target,
        version: None,
        host: None,
        user_agent: None,
        referer: None,
        cookie: None,
        header_names: Vec::new(),
        complete: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_order_host_and_agent() {
        let r = parse_request(
            b"GET /a?b=1 HTTP/1.1\r\nHost: x.test\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/a?b=1");
        assert_eq!(r.host, Some("x.test"));
        assert_eq!(r.user_agent, Some("curl/8"));
        assert_eq!(r.header_names, vec!["Host", "User-Agent", "Accept"]);
        assert!(r.complete);
    }

    #[test]
    fn partial_request_keeps_request_line() {
        let r = parse_request(b"POST /login HTTP/1.1\r\nHost: a").unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/login");
        assert!(!r.complete);
    }
}
