//! The common and combined log formats of Apache and nginx:
//! `host ident user [time] "request" status bytes` and, combined, `"referer" "user-agent"`
//! after them. Anything after the user agent (extra fields some servers append) is ignored.

use std::borrow::Cow;

use crate::request::{split_request_line, Request};
use crate::time::TimeCache;
use crate::LineError;

/// Whether a line had the referer and user agent of the combined format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `host ident user [time] "request" status bytes`.
    Common,
    /// The common format, then `"referer" "user-agent"`.
    Combined,
}

/// Where ` [` starts (a search for `[` is quicker than one for the pair).
fn space_bracket(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'[', &b[from..]) {
        let at = from + i;
        if at > 0 && b[at - 1] == b' ' {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

/// Parses one line.
pub fn parse<'a>(line: &'a str, times: &mut TimeCache) -> Result<(Request<'a>, Shape), LineError> {
    let mut shape = Shape::Combined;
    parse_request(line, times, &mut shape).map(|r| (r, shape))
}

/// Parses one line, its shape told through `shape`: the request is returned alone, which
/// lets the reader build its entry in place (a request is some 330 bytes; each move through
/// a tuple or a wrapper was a copy).
#[inline]
pub fn parse_request<'a>(
    line: &'a str,
    times: &mut TimeCache,
    shape_out: &mut Shape,
) -> Result<Request<'a>, LineError> {
    let mut s = Scanner { rest: line };
    let client = s.word().ok_or(LineError("no client address"))?;
    s.word().ok_or(LineError("no ident field"))?;
    // The user may contain spaces in broken logs; it ends before " [".
    let open = space_bracket(s.rest.as_bytes()).ok_or(LineError("no [time]"))?;
    s.rest = &s.rest[open + 2..];
    let close =
        memchr::memchr(b']', s.rest.as_bytes()).ok_or(LineError("no closing ] after the time"))?;
    let time_text = &s.rest[..close];
    s.rest = s.rest[close + 1..].trim_start();
    let ts = Some(
        times
            .clf(time_text)
            .ok_or(LineError("time not in dd/Mon/yyyy:hh:mm:ss ±zzzz form"))?,
    );
    let request = s.quoted().ok_or(LineError("no quoted request line"))?;
    let status = s.word().ok_or(LineError("no status"))?;
    // `-`: no response was sent (Apache's `%>s` of an aborted request; `levee requests` for a
    // request the capture holds no response to).
    let status: Option<u16> = match status {
        "-" => None,
        s => Some(s.parse().map_err(|_| LineError("status is not a number"))?),
    };
    let bytes = match s.word().ok_or(LineError("no response size"))? {
        "-" => None,
        b => Some(
            b.parse()
                .map_err(|_| LineError("response size is not a number"))?,
        ),
    };
    let (referer, user_agent, shape) = if s.rest.trim_start().starts_with('"') {
        let referer = s.quoted().ok_or(LineError("unterminated referer"))?;
        let ua = s
            .quoted()
            .ok_or(LineError("no quoted user agent after the referer"))?;
        (dash_none(referer), dash_none(ua), Shape::Combined)
    } else {
        (None, None, Shape::Common)
    };
    let (method, target, protocol) = split_cow(request);
    *shape_out = shape;
    Ok(Request {
        ts,
        ip: crate::request::parse_client(client),
        client: Cow::Borrowed(client),
        method,
        target,
        protocol,
        status,
        bytes,
        referer,
        user_agent,
        ..Default::default()
    })
}

/// A request line split into its parts, borrowing when it needed no unescaping.
pub(crate) fn split_cow(
    request: Cow<'_, str>,
) -> (Cow<'_, str>, Cow<'_, str>, Option<Cow<'_, str>>) {
    match request {
        Cow::Borrowed(r) => {
            let (m, t, p) = split_request_line(r);
            (Cow::Borrowed(m), Cow::Borrowed(t), p.map(Cow::Borrowed))
        }
        Cow::Owned(r) => {
            let (m, t, p) = split_request_line(&r);
            (
                Cow::Owned(m.to_string()),
                Cow::Owned(t.to_string()),
                p.map(|p| Cow::Owned(p.to_string())),
            )
        }
    }
}

/// `-` means absent.
pub(crate) fn dash_none(v: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!v.is_empty() && v != "-").then_some(v)
}

struct Scanner<'a> {
    rest: &'a str,
}

impl<'a> Scanner<'a> {
    /// The next space-separated word.
    fn word(&mut self) -> Option<&'a str> {
        let r = self.rest.trim_start_matches(' ');
        if r.is_empty() {
            return None;
        }
        let end = memchr::memchr(b' ', r.as_bytes()).unwrap_or(r.len());
        self.rest = &r[end..];
        Some(&r[..end])
    }

    /// The next `"..."` field, with `\"` and `\\` unescaped.
    fn quoted(&mut self) -> Option<Cow<'a, str>> {
        let r = self.rest.trim_start_matches(' ');
        let body = r.strip_prefix('"')?;
        let (end, escaped) = closing_quote(body)?;
        self.rest = &body[end + 1..];
        let raw = &body[..end];
        Some(if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        })
    }
}

/// The index of the quote that closes a quoted field (one not escaped by a backslash), and
/// whether the field holds escapes.
pub(crate) fn closing_quote(body: &str) -> Option<(usize, bool)> {
    let b = body.as_bytes();
    let mut escaped = false;
    let mut i = 0;
    while let Some(j) = memchr::memchr2(b'"', b'\\', &b[i..]) {
        let at = i + j;
        if b[at] == b'\\' {
            escaped = true;
            i = at + 2;
            if i > b.len() {
                return None;
            }
        } else {
            return Some((at, escaped));
        }
    }
    None
}

/// `\"` → `"` and `\\` → `\`; other escapes (`\xhh` of non-printable bytes) stay as logged.
pub(crate) fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_lines_of_the_honeynet_log() {
        let mut t = TimeCache::default();
        let line = r#"211.59.0.204 - - [30/Jan/2005:05:09:35 -0500] "GET /scripts/root.exe?/c+dir HTTP/1.0" 404 1041 "-" "-""#;
        let (r, shape) = parse(line, &mut t).unwrap();
        assert_eq!(shape, Shape::Combined);
        assert_eq!(r.client, "211.59.0.204");
        assert_eq!(r.ip, Some("211.59.0.204".parse().unwrap()));
        assert_eq!(
            (&*r.method, &*r.target),
            ("GET", "/scripts/root.exe?/c+dir")
        );
        assert_eq!(r.protocol.as_deref(), Some("HTTP/1.0"));
        assert_eq!((r.status, r.bytes), (Some(404), Some(1041)));
        assert_eq!((r.referer, r.user_agent), (None, None));
        assert_eq!(r.ts, Some(1_107_079_775_000_000_000));
    }

    #[test]
    fn common_lines_escapes_and_dashes() {
        let mut t = TimeCache::default();
        let (r, shape) = parse(
            r#"host.example.org - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 -"#,
            &mut t,
        )
        .unwrap();
        assert_eq!(shape, Shape::Common);
        assert_eq!(
            (r.ip, r.bytes, &*r.client),
            (None, None, "host.example.org")
        );
        let (r, _) = parse(
            r#"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET /q?x=\"1\" HTTP/1.1" 200 5 "http://r/" "Mozilla \"quoted\" \\ ok" extra"#,
            &mut t,
        )
        .unwrap();
        assert_eq!(&*r.target, r#"/q?x="1""#);
        assert_eq!(r.user_agent.as_deref(), Some(r#"Mozilla "quoted" \ ok"#));
        assert_eq!(r.referer.as_deref(), Some("http://r/"));
    }

    #[test]
    fn a_request_without_response_has_no_status() {
        let mut t = TimeCache::default();
        let line = r#"192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" - - "-" "x""#;
        let (r, _) = parse(line, &mut t).unwrap();
        assert_eq!((r.status, r.bytes), (None, None));
    }

    #[test]
    fn damaged_lines_say_what_is_wrong() {
        let mut t = TimeCache::default();
        for (line, why) in [
            ("", "no client address"),
            ("1.2.3.4 - - 10/Oct/2000", "no [time]"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700", "no closing ] after the time"),
            ("1.2.3.4 - - [yesterday] \"GET / HTTP/1.0\" 200 1", "time not in dd/Mon/yyyy:hh:mm:ss ±zzzz form"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] GET / 200 1", "no quoted request line"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" OK 1", "status is not a number"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1 \"-\" \"unterminated", "no quoted user agent after the referer"),
            ("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\\", "no quoted request line"),
        ] {
            assert_eq!(parse(line, &mut t).unwrap_err().0, why, "{line}");
        }
    }
}
