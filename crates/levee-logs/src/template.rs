//! Formats the user gives: an nginx `log_format` (`$remote_addr - [$time_local] "$request"
//! ...`) or an Apache `LogFormat` (`%h %l %u %t \"%r\" %>s %b ...`), turned into a list of
//! literal text and fields, then matched against each line.

use std::borrow::Cow;

use crate::clf::{closing_quote, dash_none, split_cow, unescape};
use crate::request::Request;
use crate::time::{epoch_number, TimeCache};
use crate::{LineError, LogError};

/// What a field of a custom format fills in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Client,
    /// `[10/Oct/2000:13:55:36 -0700]` or `10/Oct/...` (brackets optional).
    TimeClf,
    TimeIso,
    /// Seconds since 1970 with a fraction (`$msec`).
    TimeEpoch,
    Request,
    Method,
    /// Path with its query (`$request_uri`, `%U%q` is two fields: path then query).
    Uri,
    Path,
    Query,
    Protocol,
    Status,
    Bytes,
    Referer,
    UserAgent,
    Cookie,
    /// The response's `Set-Cookie` values: the names of the cookies it set.
    SetCookie,
    Host,
    Ja3,
    Ja4,
    Ignore,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Lit(String),
    Field(Slot),
}

/// A compiled custom format.
#[derive(Debug, Clone)]
pub struct Template {
    tokens: Vec<Token>,
}

impl Template {
    /// An nginx `log_format` string.
    pub fn nginx(spec: &str) -> Result<Template, LogError> {
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let mut chars = spec.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '$' {
                lit.push(c);
                continue;
            }
            // `${name}` or `$name`.
            let mut name = String::new();
            if chars.peek() == Some(&'{') {
                chars.next();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    name.push(c);
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c.is_ascii_alphanumeric() || c == '_' {
                        name.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            if name.is_empty() {
                return Err(LogError::Template(format!(
                    "a `$` without a variable name in `{spec}`"
                )));
            }
            push_field(&mut tokens, &mut lit, nginx_slot(&name));
        }
        finish(tokens, lit, spec)
    }

    /// An Apache `LogFormat` string (`\"` may be written as in the configuration file).
    pub fn apache(spec: &str) -> Result<Template, LogError> {
        let spec = spec.replace("\\\"", "\"");
        let mut tokens = Vec::new();
        let mut lit = String::new();
        let mut chars = spec.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                lit.push(c);
                continue;
            }
            // Modifiers: `%>s`, `%<s`, `%!200,304r`...
            while let Some(&m) = chars.peek() {
                if m == '>' || m == '<' || m == '!' || m == ',' || m.is_ascii_digit() {
                    chars.next();
                } else {
                    break;
                }
            }
            let mut arg = String::new();
            if chars.peek() == Some(&'{') {
                chars.next();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    arg.push(c);
                }
            }
            let Some(directive) = chars.next() else {
                return Err(LogError::Template(format!("`%` at the end of `{spec}`")));
            };
            if directive == '%' {
                lit.push('%');
                continue;
            }
            let slot = match directive {
                'h' | 'a' => Slot::Client,
                't' if arg.is_empty() => Slot::TimeClf,
                'r' => Slot::Request,
                'm' => Slot::Method,
                'U' => Slot::Path,
                'q' => Slot::Query,
                'H' => Slot::Protocol,
                's' => Slot::Status,
                'b' | 'B' | 'O' => Slot::Bytes,
                'v' | 'V' => Slot::Host,
                'i' => match arg.to_ascii_lowercase().as_str() {
                    "referer" => Slot::Referer,
                    "user-agent" => Slot::UserAgent,
                    "cookie" => Slot::Cookie,
                    "host" => Slot::Host,
                    _ => Slot::Ignore,
                },
                'o' if arg.eq_ignore_ascii_case("set-cookie") => Slot::SetCookie,
                _ => Slot::Ignore,
            };
            push_field(&mut tokens, &mut lit, slot);
        }
        finish(tokens, lit, &spec)
    }

    /// Matches a line against the format.
    pub fn parse<'a>(
        &self,
        line: &'a str,
        times: &mut TimeCache,
    ) -> Result<Request<'a>, LineError> {
        let mut r = Request::default();
        let mut rest = line;
        let mut quoted = false;
        let mut path: Option<Cow<'a, str>> = None;
        let mut query: Option<Cow<'a, str>> = None;
        for (i, t) in self.tokens.iter().enumerate() {
            match t {
                Token::Lit(l) => {
                    rest = rest
                        .strip_prefix(l.as_str())
                        .ok_or(LineError("line does not follow the format's literal text"))?;
                    quoted = l.ends_with('"');
                }
                Token::Field(slot) => {
                    let next = match self.tokens.get(i + 1) {
                        Some(Token::Lit(l)) => Some(l.as_str()),
                        _ => None,
                    };
                    let (value, after) = take_value(rest, next, quoted)?;
                    rest = after;
                    fill(&mut r, *slot, value, times, &mut path, &mut query)?;
                }
            }
        }
        if r.target.is_empty() {
            if let Some(p) = path {
                r.target = match query {
                    Some(q) if !q.is_empty() => Cow::Owned(format!(
                        "{p}{}{}",
                        if q.starts_with('?') { "" } else { "?" },
                        q
                    )),
                    _ => p,
                };
            }
        }
        Ok(r)
    }
}

fn push_field(tokens: &mut Vec<Token>, lit: &mut String, slot: Slot) {
    if !lit.is_empty() {
        tokens.push(Token::Lit(std::mem::take(lit)));
    }
    tokens.push(Token::Field(slot));
}

fn finish(mut tokens: Vec<Token>, lit: String, spec: &str) -> Result<Template, LogError> {
    if !lit.is_empty() {
        tokens.push(Token::Lit(lit));
    }
    if tokens
        .windows(2)
        .any(|w| matches!(w, [Token::Field(_), Token::Field(_)]))
    {
        return Err(LogError::Template(format!(
            "two fields with nothing between them cannot be told apart in `{spec}`"
        )));
    }
    if !tokens
        .iter()
        .any(|t| matches!(t, Token::Field(Slot::Client)))
    {
        return Err(LogError::Template(format!(
            "no client address field in `{spec}`"
        )));
    }
    Ok(Template { tokens })
}

fn nginx_slot(name: &str) -> Slot {
    match name {
        "remote_addr" | "realip_remote_addr" => Slot::Client,
        "time_local" => Slot::TimeClf,
        "time_iso8601" => Slot::TimeIso,
        "msec" => Slot::TimeEpoch,
        "request" => Slot::Request,
        "request_method" => Slot::Method,
        "request_uri" => Slot::Uri,
        "uri" | "document_uri" => Slot::Path,
        "args" | "query_string" => Slot::Query,
        "server_protocol" => Slot::Protocol,
        "status" => Slot::Status,
        "body_bytes_sent" | "bytes_sent" => Slot::Bytes,
        "http_referer" => Slot::Referer,
        "http_user_agent" => Slot::UserAgent,
        "http_cookie" => Slot::Cookie,
        "sent_http_set_cookie" => Slot::SetCookie,
        "host" | "http_host" | "server_name" => Slot::Host,
        "ssl_ja3" | "ssl_ja3_hash" | "http_x_ja3" => Slot::Ja3,
        "ssl_ja4" | "http_x_ja4" => Slot::Ja4,
        _ => Slot::Ignore,
    }
}

/// The value at the start of `rest`, up to the next literal (or, inside quotes, up to the
/// closing quote), and what follows it.
fn take_value<'a>(
    rest: &'a str,
    next: Option<&str>,
    quoted: bool,
) -> Result<(Cow<'a, str>, &'a str), LineError> {
    if quoted {
        let (end, escaped) = closing_quote(rest).ok_or(LineError("unterminated quoted field"))?;
        let raw = &rest[..end];
        let v = if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        };
        return Ok((v, &rest[end..]));
    }
    match next {
        None => Ok((Cow::Borrowed(rest), "")),
        Some(l) => {
            let end = memchr::memmem::find(rest.as_bytes(), l.as_bytes())
                .ok_or(LineError("line ends before the format does"))?;
            Ok((Cow::Borrowed(&rest[..end]), &rest[end..]))
        }
    }
}

fn fill<'a>(
    r: &mut Request<'a>,
    slot: Slot,
    v: Cow<'a, str>,
    times: &mut TimeCache,
    path: &mut Option<Cow<'a, str>>,
    query: &mut Option<Cow<'a, str>>,
) -> Result<(), LineError> {
    match slot {
        Slot::Client => {
            r.ip = crate::request::parse_client(&v);
            r.client = v;
        }
        Slot::TimeClf => {
            r.ts = Some(
                times
                    .clf(v.trim_matches(['[', ']']))
                    .ok_or(LineError("time not in dd/Mon/yyyy:hh:mm:ss ±zzzz form"))?,
            )
        }
        Slot::TimeIso => {
            r.ts = Some(
                times
                    .rfc3339(&v)
                    .ok_or(LineError("time not in RFC 3339 form"))?,
            )
        }
        Slot::TimeEpoch => {
            r.ts = Some(
                v.parse::<f64>()
                    .ok()
                    .and_then(epoch_number)
                    .ok_or(LineError("time is not a number of seconds"))?,
            )
        }
        Slot::Request => {
            let (m, t, p) = split_cow(v);
            (r.method, r.target, r.protocol) = (m, t, p);
        }
        Slot::Method => r.method = v,
        Slot::Uri => r.target = v,
        Slot::Path => *path = dash_none(v),
        Slot::Query => *query = dash_none(v),
        Slot::Protocol => r.protocol = dash_none(v),
        Slot::Status => {
            r.status = Some(v.parse().map_err(|_| LineError("status is not a number"))?)
        }
        Slot::Bytes => {
            r.bytes = match &*v {
                "-" => None,
                b => Some(
                    b.parse()
                        .map_err(|_| LineError("response size is not a number"))?,
                ),
            }
        }
        Slot::Referer => r.referer = dash_none(v),
        Slot::UserAgent => r.user_agent = dash_none(v),
        Slot::Cookie => r.cookie = dash_none(v),
        // Logged, so known: `-` is a response that set none.
        Slot::SetCookie => {
            let names: Vec<&str> = crate::request::set_cookie_names(&v).collect();
            r.set_cookies = Some(Cow::Owned(names.join(",")));
        }
        Slot::Host => r.host = dash_none(v),
        Slot::Ja3 => r.ja3 = dash_none(v),
        Slot::Ja4 => r.ja4 = dash_none(v),
        Slot::Ignore => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"203.0.113.9 - - [10/Oct/2000:13:55:36 -0700] "GET /login?u=1 HTTP/1.1" 401 17 "https://shop.example/" "curl/8.0" shop.example 0.004"#;

    #[test]
    fn an_nginx_log_format_with_a_host_and_a_trailing_field() {
        let t = Template::nginx(
            r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $host $request_time"#,
        )
        .unwrap();
        let r = t.parse(LINE, &mut TimeCache::default()).unwrap();
        assert_eq!(
            (&*r.client, &*r.method, &*r.target),
            ("203.0.113.9", "GET", "/login?u=1")
        );
        assert_eq!((r.status, r.bytes), (Some(401), Some(17)));
        assert_eq!(r.user_agent.as_deref(), Some("curl/8.0"));
        assert_eq!(r.host.as_deref(), Some("shop.example"));
        assert_eq!(r.ts, Some(971_211_336_000_000_000));
    }

    #[test]
    fn the_same_line_through_an_apache_log_format() {
        let t = Template::apache(
            r#"%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-agent}i\" %v %T"#,
        )
        .unwrap();
        let r = t.parse(LINE, &mut TimeCache::default()).unwrap();
        assert_eq!(
            (&*r.method, &*r.target, r.status),
            ("GET", "/login?u=1", Some(401))
        );
        assert_eq!(r.referer.as_deref(), Some("https://shop.example/"));
        assert_eq!(r.host.as_deref(), Some("shop.example"));
    }

    #[test]
    fn the_cookies_sent_and_set_through_both_formats() {
        let line = r#"203.0.113.9 [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 "sid=1f; _sv=3" "lang=en; Path=/; Max-Age=60""#;
        let nginx = Template::nginx(
            r#"$remote_addr [$time_local] "$request" $status "$http_cookie" "$sent_http_set_cookie""#,
        )
        .unwrap();
        let apache =
            Template::apache(r#"%h %t \"%r\" %>s \"%{Cookie}i\" \"%{Set-Cookie}o\""#).unwrap();
        for t in [nginx, apache] {
            let r = t.parse(line, &mut TimeCache::default()).unwrap();
            assert_eq!(r.cookie_names().collect::<Vec<_>>(), ["sid", "_sv"]);
            assert_eq!(r.set_cookies.as_deref(), Some("lang"));
            let none = line.replace(r#""lang=en; Path=/; Max-Age=60""#, r#""-""#);
            let r = t.parse(&none, &mut TimeCache::default()).unwrap();
            assert_eq!(r.sets_cookie(), Some(false));
        }
    }

    #[test]
    fn separate_method_path_and_query_fields_and_iso_times() {
        let t = Template::nginx("$time_iso8601 $remote_addr $request_method $uri $args $status")
            .unwrap();
        let r = t
            .parse(
                "2026-01-15T12:00:00+00:00 2001:db8::7 POST /search q=shoes 200",
                &mut TimeCache::default(),
            )
            .unwrap();
        assert_eq!(r.ip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!((&*r.method, &*r.target), ("POST", "/search?q=shoes"));
        assert_eq!(r.ts, Some(1_768_478_400_000_000_000));
    }

    #[test]
    fn formats_that_cannot_work_are_refused_and_lines_that_do_not_fit_are_errors() {
        assert!(Template::nginx("$remote_addr$status").is_err());
        assert!(Template::nginx("$status $request").is_err());
        assert!(Template::nginx("$remote_addr $").is_err());
        assert!(Template::apache("%h %").is_err());
        let t = Template::nginx("$remote_addr [$time_local] $status").unwrap();
        let mut c = TimeCache::default();
        assert_eq!(
            t.parse("1.2.3.4 10/Oct/2000 200", &mut c).unwrap_err().0,
            "line ends before the format does"
        );
        assert_eq!(
            t.parse("1.2.3.4 [10/Oct/2000:13:55:36 -0700] OK", &mut c)
                .unwrap_err()
                .0,
            "status is not a number"
        );
    }
}
