//! HTTP/1.x messages in a reassembled byte stream: requests from the client, responses from
//! the server. Each parser finds where a message's header block ends (however many segments
//! it took), reads it with `httparse`, and skips the body by its `Content-Length` or its
//! chunks, so that pipelined messages that follow are found. After lost bytes it looks for
//! the start of the next message.

use std::borrow::Cow;

use memchr::memmem;

use crate::digest::{BodyHash, FileHashes};

/// Longest header block kept; a longer one is dropped and the parser looks for the next
/// message.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Headers read per message at most.
const MAX_HEADERS: usize = 96;

/// Whether bytes begin an HTTP/1.x request (a method and a space, as the decoder tells them).
pub fn starts_request(b: &[u8]) -> bool {
    levee_decode::app::http::looks_like_request(b)
}

/// Whether a segment's payload may open an HTTP/1.x request: it starts with a method, or it
/// is a whole segment shorter than any request line that a method starts with (a request
/// split inside its method, `GE` + `T / HTTP/1.1...`).
pub fn may_start_request(b: &[u8]) -> bool {
    starts_request(b)
        || (!b.is_empty()
            && levee_decode::app::http::METHODS
                .iter()
                .any(|m| m.len() > b.len() && m.starts_with(b)))
}

/// Whether a payload may be the rest of a request (its header lines, or a form body): it
/// starts with printable text. Encrypted and binary protocols do not.
pub fn looks_like_text(b: &[u8]) -> bool {
    let head = &b[..b.len().min(32)];
    !b.is_empty()
        && head
            .iter()
            .all(|&c| c == b'\r' || c == b'\n' || c == b'\t' || (0x20..0x7f).contains(&c))
}

/// A request's head, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// The method (`GET`, `POST`...), as sent.
    pub method: String,
    /// The request target: a path with its query, an absolute URI (proxy requests), or `host:port`
    /// (CONNECT).
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub protocol: String,
    /// The `Host` header.
    pub host: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Referer` header.
    pub referer: Option<String>,
    /// The `Cookie` header.
    pub cookie: Option<String>,
    /// Header names in the order sent, comma-separated.
    pub header_names: String,
}

/// A response's status line, length and the cookies it set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// The status code.
    pub status: u16,
    /// The `Content-Length`, when given.
    pub content_length: Option<u64>,
    /// The names of the cookies its `Set-Cookie` headers set, comma-separated (empty: none).
    pub set_cookies: String,
}

/// The names of the cookies a response's `Set-Cookie` headers set, comma-separated (each
/// header sets one cookie: its name is before the first `=`).
fn set_cookie_names(headers: &[httparse::Header<'_>]) -> String {
    let mut names = String::new();
    for h in headers {
        if !h.name.eq_ignore_ascii_case("set-cookie") {
            continue;
        }
        let value = String::from_utf8_lossy(h.value);
        let name = levee_logs::set_cookie_names(&value)
            .next()
            .map(str::to_owned);
        if let Some(name) = name {
            if !names.is_empty() {
                names.push(',');
            }
            names.push_str(&name);
        }
    }
    names
}

/// Where the parser is in the body of the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Between messages, or in a header block.
    None,
    /// This many bytes of body left.
    Length(u64),
    /// Chunked: in a chunk-size line (its bytes so far in the buffer).
    ChunkSize,
    /// Chunked: this many bytes of chunk data left, then its CRLF.
    ChunkData(u64),
    /// Chunked: the CRLF after a chunk's data.
    ChunkEnd,
    /// Chunked: trailer lines after the last chunk, up to an empty line.
    Trailers,
    /// Until the connection closes (a response without a length).
    UntilClose,
}

/// The state both parsers share: bytes of the current header block (or chunk line), and where
/// the body stands.
struct Framing {
    buf: Vec<u8>,
    body: Body,
    /// Bytes were lost: skip to the start of a message.
    lost: bool,
    /// Hash each body ([`crate::digest`]).
    hash_bodies: bool,
    /// The hashes of the body being read (boxed: its hashers' states are some 850 bytes,
    /// which every connection of a table of tens of thousands would otherwise hold).
    hash: Option<Box<BodyHash>>,
    /// The hashes of bodies read whole, until taken.
    hashed: Vec<Vec<FileHashes>>,
}

impl std::fmt::Debug for Framing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Framing")
            .field("body", &self.body)
            .field("lost", &self.lost)
            .finish()
    }
}

impl Default for Framing {
    fn default() -> Framing {
        Framing {
            buf: Vec::new(),
            body: Body::None,
            lost: false,
            hash_bodies: false,
            hash: None,
            hashed: Vec::new(),
        }
    }
}

impl Framing {
    /// Consumes body bytes from the front of `data`; returns how many were body.
    fn body(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        loop {
            let rest = &data[used..];
            match self.body {
                Body::None => return used,
                Body::UntilClose => {
                    self.hashes(rest);
                    return data.len();
                }
                Body::Length(n) => {
                    let k = (n.min(rest.len() as u64)) as usize;
                    self.hashes(&rest[..k]);
                    used += k;
                    self.body = if k as u64 == n {
                        self.body_ended();
                        Body::None
                    } else {
                        Body::Length(n - k as u64)
                    };
                    if self.body != Body::None {
                        return used;
                    }
                }
                Body::ChunkData(n) => {
                    let k = (n.min(rest.len() as u64)) as usize;
                    self.hashes(&rest[..k]);
                    used += k;
                    if k as u64 == n {
                        self.body = Body::ChunkEnd;
                    } else {
                        self.body = Body::ChunkData(n - k as u64);
                        return used;
                    }
                }
                Body::ChunkSize | Body::ChunkEnd | Body::Trailers => {
                    // Line-based states: gather a line.
                    let Some(eol) = memchr::memchr(b'\n', rest) else {
                        self.buf.extend_from_slice(rest);
                        if self.buf.len() > 4096 {
                            // No chunk line is this long: the framing is lost.
                            self.buf.clear();
                            self.body = Body::None;
                            self.lost = true;
                            self.hash = None;
                        }
                        return data.len();
                    };
                    self.buf.extend_from_slice(&rest[..eol]);
                    used += eol + 1;
                    let line = std::mem::take(&mut self.buf);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.body = match self.body {
                        Body::ChunkEnd => Body::ChunkSize,
                        Body::Trailers if line.is_empty() => {
                            self.body_ended();
                            Body::None
                        }
                        Body::Trailers => Body::Trailers,
                        _ => {
                            let hex = line.split(|&b| b == b';').next().unwrap_or(b"");
                            match std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
                            {
                                Some(0) => Body::Trailers,
                                Some(n) => Body::ChunkData(n),
                                None => {
                                    self.lost = true;
                                    self.hash = None;
                                    Body::None
                                }
                            }
                        }
                    };
                }
            }
        }
    }

    /// Bytes were lost: drop what was gathered and look for the next message (a body with a
    /// hole has no hash).
    fn gap(&mut self) {
        self.buf.clear();
        self.body = Body::None;
        self.lost = true;
        self.hash = None;
    }

    /// Body bytes, to the hashes when they are taken.
    fn hashes(&mut self, data: &[u8]) {
        if let Some(h) = self.hash.as_mut() {
            h.update(data);
        }
    }

    /// The body read whole: its hashes are ready.
    fn body_ended(&mut self) {
        if let Some(h) = self.hash.take() {
            self.hashed.push(h.finish());
        }
    }

    /// A message's header block says a body follows, framed as `body`: hash it when asked.
    fn body_starts(&mut self, body: Body, headers: &[httparse::Header<'_>]) {
        self.body = body;
        self.hash = (self.hash_bodies && body != Body::None).then(|| {
            let encoding = headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-encoding"))
                .map(|h| text(h.value));
            Box::new(BodyHash::new(encoding.as_deref()))
        });
    }

    /// With `lost`, drops bytes up to a line start where `starts` holds; true when found.
    fn resync(&mut self, starts: impl Fn(&[u8]) -> bool) -> bool {
        if !self.lost {
            return true;
        }
        let b = &self.buf;
        let at = (0..b.len()).find(|&i| (i == 0 || b[i - 1] == b'\n') && starts(&b[i..]));
        match at {
            Some(i) => {
                self.buf.drain(..i);
                self.lost = false;
                true
            }
            None => {
                // Keep a short tail: a message start may be cut across the segments.
                let keep = self.buf.len().min(16);
                let cut = self.buf.len() - keep;
                self.buf.drain(..cut);
                false
            }
        }
    }

    /// The end of the header block in the buffer (after its blank line), if it is there.
    fn header_end(&self) -> Option<usize> {
        memmem::find(&self.buf, b"\r\n\r\n")
            .map(|i| i + 4)
            .or_else(|| memmem::find(&self.buf, b"\n\n").map(|i| i + 2))
    }
}

fn text(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

fn content_length(headers: &[httparse::Header<'_>]) -> Option<u64> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse().ok())
}

fn chunked(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
    })
}

/// Requests from the client's side of a connection.
#[derive(Debug, Default)]
pub struct RequestStream {
    framing: Framing,
    /// Time of the first byte of the header block being gathered.
    pub started: Option<i64>,
    /// Header blocks that could not be read as HTTP.
    pub malformed: u64,
}

impl RequestStream {
    /// Takes bytes that arrived at `ts`; calls `found` with each request head completed, and
    /// the time its first byte arrived.
    pub fn feed(&mut self, ts: i64, data: &[u8], found: &mut dyn FnMut(RequestHead, i64)) {
        let mut input: Cow<'_, [u8]> = Cow::Borrowed(data);
        loop {
            let used = self.framing.body(&input);
            let rest = &input[used..];
            if rest.is_empty() || self.framing.body != Body::None {
                return;
            }
            if self.framing.buf.is_empty() {
                self.started = Some(ts);
            }
            self.framing.buf.extend_from_slice(rest);
            if !self.framing.resync(starts_request) {
                self.started = None;
                return;
            }
            let Some(end) = self.framing.header_end() else {
                if self.framing.buf.len() > MAX_HEADER_BYTES {
                    self.malformed += 1;
                    self.framing.gap();
                    self.started = None;
                }
                return;
            };
            let after = self.framing.buf.split_off(end);
            let head = std::mem::take(&mut self.framing.buf);
            let started = self.started.take().unwrap_or(ts);
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&head) {
                Ok(httparse::Status::Complete(_)) => {
                    let h = &*req.headers;
                    let value = |name: &str| {
                        h.iter()
                            .find(|x| x.name.eq_ignore_ascii_case(name))
                            .map(|x| text(x.value))
                    };
                    found(
                        RequestHead {
                            method: req.method.unwrap_or("").to_string(),
                            target: req.path.unwrap_or("").to_string(),
                            protocol: format!("HTTP/1.{}", req.version.unwrap_or(1)),
                            host: value("host"),
                            user_agent: value("user-agent"),
                            referer: value("referer"),
                            cookie: value("cookie"),
                            header_names: h.iter().map(|x| x.name).collect::<Vec<_>>().join(","),
                        },
                        started,
                    );
                    let body = if chunked(h) {
                        Body::ChunkSize
                    } else {
                        match content_length(h) {
                            Some(n) if n > 0 => Body::Length(n),
                            _ => Body::None,
                        }
                    };
                    self.framing.body_starts(body, h);
                }
                _ => {
                    self.malformed += 1;
                    self.framing.lost = true;
                }
            }
            // What followed the header block: a body, or pipelined requests.
            input = Cow::Owned(after);
        }
    }

    /// Bytes were lost.
    pub fn gap(&mut self) {
        self.framing.gap();
        self.started = None;
    }

    /// Hash the bodies of the requests (form posts, uploads) from now on.
    pub fn hash_bodies(&mut self) {
        self.framing.hash_bodies = true;
    }

    /// The hashes of the request bodies read whole since the last call.
    pub fn take_hashes(&mut self) -> Vec<Vec<FileHashes>> {
        std::mem::take(&mut self.framing.hashed)
    }

    /// The start of a request whose header block never ended, if any: its first line.
    pub fn incomplete(&self) -> Option<(&[u8], i64)> {
        let b = &self.framing.buf;
        (self.framing.body == Body::None && !self.framing.lost && starts_request(b)).then(|| {
            let line = b.split(|&c| c == b'\n').next().unwrap_or(b);
            (line, self.started.unwrap_or(0))
        })
    }
}

/// Responses from the server's side of a connection.
#[derive(Debug, Default)]
pub struct ResponseStream {
    framing: Framing,
    /// Response heads that were not HTTP.
    pub malformed: u64,
}

impl ResponseStream {
    /// Takes bytes; calls `found` with each response head. `head_request` says whether the
    /// next response answers a HEAD request (no body, whatever its length says).
    pub fn feed(
        &mut self,
        data: &[u8],
        head_request: &mut dyn FnMut() -> bool,
        found: &mut dyn FnMut(ResponseHead),
    ) {
        let mut input: Cow<'_, [u8]> = Cow::Borrowed(data);
        loop {
            let used = self.framing.body(&input);
            let rest = &input[used..];
            if rest.is_empty() || self.framing.body != Body::None {
                return;
            }
            self.framing.buf.extend_from_slice(rest);
            if !self
                .framing
                .resync(|b| b.starts_with(b"HTTP/1.") || b"HTTP/1.".starts_with(b))
            {
                return;
            }
            let Some(end) = self.framing.header_end() else {
                if self.framing.buf.len() > MAX_HEADER_BYTES {
                    self.malformed += 1;
                    self.framing.gap();
                }
                return;
            };
            let after = self.framing.buf.split_off(end);
            let head = std::mem::take(&mut self.framing.buf);
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&head) {
                Ok(httparse::Status::Complete(_)) => {
                    let status = resp.code.unwrap_or(0);
                    let h = &*resp.headers;
                    let length = content_length(h);
                    // Interim responses (100 Continue) come before the real one.
                    if status >= 200 {
                        let no_body = head_request() || status == 204 || status == 304;
                        found(ResponseHead {
                            status,
                            content_length: length,
                            set_cookies: set_cookie_names(h),
                        });
                        let body = if no_body {
                            Body::None
                        } else if chunked(h) {
                            Body::ChunkSize
                        } else {
                            match length {
                                Some(0) => Body::None,
                                Some(n) => Body::Length(n),
                                None => Body::UntilClose,
                            }
                        };
                        self.framing.body_starts(body, h);
                    }
                }
                _ => {
                    self.malformed += 1;
                    self.framing.lost = true;
                }
            }
            input = Cow::Owned(after);
        }
    }

    /// Bytes of the direction were never captured: the responses are found again at the next status
    /// line.
    pub fn gap(&mut self) {
        self.framing.gap();
    }

    /// Hash the bodies of the responses (files downloaded) from now on.
    pub fn hash_bodies(&mut self) {
        self.framing.hash_bodies = true;
    }

    /// The server closed the connection: a body read until the close is whole.
    pub fn close(&mut self) {
        if self.framing.body == Body::UntilClose {
            self.framing.body_ended();
            self.framing.body = Body::None;
        }
    }

    /// The hashes of the response bodies read whole since the last call.
    pub fn take_hashes(&mut self) -> Vec<Vec<FileHashes>> {
        std::mem::take(&mut self.framing.hashed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requests(parts: &[&[u8]]) -> Vec<RequestHead> {
        let mut s = RequestStream::default();
        let mut out = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            s.feed(i as i64, p, &mut |h, _| out.push(h));
        }
        out
    }

    #[test]
    fn a_request_split_over_segments_is_read_whole() {
        let got = requests(&[
            b"GE",
            b"T /a?b=1 HTTP/1.1\r\nHost: shop.example\r\nUser-",
            b"Agent: curl/8\r\nCookie: s=1\r\n",
            b"\r\n",
        ]);
        assert_eq!(got.len(), 1);
        let r = &got[0];
        assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", "/a?b=1"));
        assert_eq!(r.host.as_deref(), Some("shop.example"));
        assert_eq!(r.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(r.cookie.as_deref(), Some("s=1"));
        assert_eq!(r.header_names, "Host,User-Agent,Cookie");
    }

    #[test]
    fn pipelined_requests_with_bodies_are_each_found() {
        let got = requests(&[
            b"POST /login HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nuser=x&pw=yGET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nGET \r\n",
            b"0\r\n\r\nHEAD /2 HTTP/1.0\r\n\r\n",
        ]);
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|r| (r.method.as_str(), r.target.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("POST", "/login"),
                ("GET", "/1"),
                ("POST", "/up"),
                ("HEAD", "/2")
            ]
        );
        assert_eq!(got[3].protocol, "HTTP/1.0");
    }

    #[test]
    fn after_lost_bytes_the_next_request_is_found() {
        let mut s = RequestStream::default();
        let mut out = Vec::new();
        s.feed(0, b"GET /x HTTP/1.1\r\nHo", &mut |h, _| out.push(h));
        s.gap();
        s.feed(
            1,
            b"ody of something\r\nGET /y HTTP/1.1\r\n\r\n",
            &mut |h, _| out.push(h),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].target, "/y");
    }

    #[test]
    fn an_unfinished_header_block_is_reported_with_its_start() {
        let mut s = RequestStream::default();
        let mut out = Vec::new();
        s.feed(5, b"GET / HTTP/1.1\r\nHost: a\r\n", &mut |h, _| out.push(h));
        s.feed(20, b"X-a: b\r\n", &mut |h, _| out.push(h));
        assert!(out.is_empty());
        let (line, started) = s.incomplete().unwrap();
        assert_eq!((line, started), (&b"GET / HTTP/1.1\r"[..], 5));
    }

    #[test]
    fn responses_skip_bodies_of_every_kind() {
        let mut s = ResponseStream::default();
        let mut out = Vec::new();
        let mut heads = vec![false, true, false, false].into_iter();
        s.feed(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 No\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 404 x\r\n\r\nrest of the body until close",
            &mut || heads.next().unwrap_or(false),
            &mut |h| out.push(h.status),
        );
        assert_eq!(out, vec![200, 200, 401, 404]);
    }
}
