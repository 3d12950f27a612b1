//! JSON lines: nginx `escape=json` formats and Cloudflare HTTP request logs (Logpush), one
//! object per line. Fields are found by the names those systems use.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::clf::split_cow;
use crate::request::Request;
use crate::time::{epoch_integer, epoch_number, TimeCache};
use crate::LineError;

/// Field names per part of a request, in order of preference.
const CLIENT: &[&str] = &[
    "ClientIP",
    "remote_addr",
    "client_ip",
    "clientip",
    "remote_ip",
    "ip",
];
const TIME: &[&str] = &[
    "EdgeStartTimestamp",
    "time_iso8601",
    "time_local",
    "timestamp",
    "@timestamp",
    "time",
    "msec",
];
const METHOD: &[&str] = &["ClientRequestMethod", "request_method", "method"];
const URI: &[&str] = &["ClientRequestURI", "request_uri", "uri", "path"];
const REQUEST: &[&str] = &["request"];
const PROTOCOL: &[&str] = &["ClientRequestProtocol", "server_protocol", "protocol"];
const STATUS: &[&str] = &["EdgeResponseStatus", "status", "status_code"];
const BYTES: &[&str] = &[
    "EdgeResponseBytes",
    "body_bytes_sent",
    "bytes_sent",
    "bytes",
];
const REFERER: &[&str] = &[
    "ClientRequestReferer",
    "http_referer",
    "referer",
    "referrer",
];
const USER_AGENT: &[&str] = &[
    "ClientRequestUserAgent",
    "http_user_agent",
    "user_agent",
    "useragent",
];
const HOST: &[&str] = &["ClientRequestHost", "host", "http_host", "server_name"];
const COOKIE: &[&str] = &["http_cookie", "cookie"];
const JA3: &[&str] = &["JA3Hash", "ja3", "ssl_ja3_hash"];
const JA4: &[&str] = &["JA4", "ja4"];
/// Written by `levee requests --json`: what a capture tells of a request and a log does not.
const HEADER_NAMES: &[&str] = &["header_names"];
const HEADER_INCOMPLETE_MS: &[&str] = &["header_incomplete_ms"];
/// The names of the cookies the response set, comma-separated, as `levee requests` writes
/// them (an empty string: none).
const SET_COOKIE_NAMES: &[&str] = &["set_cookie_names"];
/// The `Set-Cookie` values themselves, as nginx logs them (`$sent_http_set_cookie`).
const SET_COOKIE_VALUES: &[&str] = &["sent_http_set_cookie"];

/// Whether a line looks like a JSON object.
pub fn looks_like(line: &str) -> bool {
    line.trim_start().starts_with('{')
}

/// The names of the cookies a line says the response set: present but empty (or `-`, as
/// nginx writes an empty variable) means none; absent, unknown.
fn set_cookies<'a>(obj: &Map<String, Value>) -> Option<Cow<'a, str>> {
    let field = |names: &[&str]| {
        names.iter().find_map(|n| match obj.get(*n)? {
            Value::String(s) => Some(if s == "-" { "" } else { s.as_str() }),
            _ => None,
        })
    };
    if let Some(names) = field(SET_COOKIE_NAMES) {
        return Some(Cow::Owned(names.to_string()));
    }
    let values = field(SET_COOKIE_VALUES)?;
    Some(Cow::Owned(
        crate::request::set_cookie_names(values)
            .collect::<Vec<_>>()
            .join(","),
    ))
}

/// Parses one line.
pub fn parse<'a>(line: &'a str, times: &mut TimeCache) -> Result<Request<'a>, LineError> {
    let obj: Map<String, Value> =
        serde_json::from_str(line).map_err(|_| LineError("not a JSON object"))?;
    let text = |names: &[&str]| -> Option<Cow<'a, str>> {
        names.iter().find_map(|n| match obj.get(*n)? {
            Value::String(s) if !s.is_empty() && s != "-" => Some(Cow::Owned(s.clone())),
            Value::Number(x) => Some(Cow::Owned(x.to_string())),
            _ => None,
        })
    };
    let number = |names: &[&str]| -> Option<f64> {
        names.iter().find_map(|n| match obj.get(*n)? {
            Value::Number(x) => x.as_f64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    };
    let client = text(CLIENT).ok_or(LineError(
        "no client address field (ClientIP, remote_addr, ...)",
    ))?;
    let ts = match TIME.iter().find_map(|n| obj.get(*n)) {
        None => None,
        Some(Value::Number(x)) => Some(
            match x.as_i64() {
                Some(i) => epoch_integer(i),
                None => x.as_f64().and_then(epoch_number),
            }
            .ok_or(LineError("time is not a valid number"))?,
        ),
        Some(Value::String(s)) => Some(if let Ok(i) = s.parse::<i64>() {
            epoch_integer(i).ok_or(LineError("time is not a valid number"))?
        } else if let Ok(x) = s.parse::<f64>() {
            epoch_number(x).ok_or(LineError("time is not a valid number"))?
        } else {
            times.any(s).ok_or(LineError("time in no known form"))?
        }),
        Some(_) => return Err(LineError("time is neither text nor a number")),
    };
    let mut r = Request {
        ts,
        ip: crate::request::parse_client(&client),
        client,
        status: number(STATUS).map(|s| s as u16),
        bytes: number(BYTES).map(|b| b as u64),
        referer: text(REFERER),
        user_agent: text(USER_AGENT),
        host: text(HOST),
        cookie: text(COOKIE),
        ja3: text(JA3),
        ja4: text(JA4),
        header_names: text(HEADER_NAMES),
        header_incomplete_ns: number(HEADER_INCOMPLETE_MS).map(|ms| (ms * 1e6) as i64),
        set_cookies: set_cookies(&obj),
        protocol: text(PROTOCOL),
        ..Default::default()
    };
    if let Some(req) = text(REQUEST) {
        let (m, t, p) = split_cow(req);
        (r.method, r.target) = (Cow::Owned(m.into_owned()), Cow::Owned(t.into_owned()));
        r.protocol = r.protocol.or(p.map(|p| Cow::Owned(p.into_owned())));
    }
    if let Some(m) = text(METHOD) {
        r.method = m;
    }
    if let Some(u) = text(URI) {
        r.target = u;
    }
    if r.method.is_empty() && r.target.is_empty() {
        return Err(LineError(
            "no request fields (ClientRequestMethod/URI, request, request_uri, ...)",
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudflare_http_request_log_fields() {
        let line = r#"{"ClientIP":"198.51.100.4","ClientRequestHost":"shop.example","ClientRequestMethod":"POST","ClientRequestURI":"/login?next=%2F","ClientRequestUserAgent":"python-requests/2.31","EdgeResponseStatus":403,"EdgeStartTimestamp":1768478400123000000,"JA3Hash":"e7d705a3286e19ea42f587b344ee6865","JA4":"t13d1516h2_8daaf6152771_02713d6af862","ClientRequestProtocol":"HTTP/2","EdgeResponseBytes":512}"#;
        let r = parse(line, &mut TimeCache::default()).unwrap();
        assert_eq!(r.ip, Some("198.51.100.4".parse().unwrap()));
        assert_eq!(
            (&*r.method, r.path(), r.query()),
            ("POST", "/login", Some("next=%2F"))
        );
        assert_eq!(
            (r.status, r.bytes, r.ts),
            (Some(403), Some(512), Some(1_768_478_400_123_000_000))
        );
        assert_eq!(
            r.ja4.as_deref(),
            Some("t13d1516h2_8daaf6152771_02713d6af862")
        );
        assert_eq!(r.host.as_deref(), Some("shop.example"));
        assert_eq!(r.protocol.as_deref(), Some("HTTP/2"));
    }

    #[test]
    fn nginx_json_logging_with_a_request_line_and_iso_time() {
        let line = r#"{"time_iso8601":"2026-01-15T12:00:00+00:00","remote_addr":"10.1.2.3","request":"GET /a.js HTTP/1.1","status":"200","body_bytes_sent":"1234","http_referer":"-","http_user_agent":"Mozilla/5.0"}"#;
        let r = parse(line, &mut TimeCache::default()).unwrap();
        assert_eq!(
            (&*r.method, &*r.target, r.protocol.as_deref()),
            ("GET", "/a.js", Some("HTTP/1.1"))
        );
        assert_eq!(
            (r.status, r.bytes, r.referer.clone()),
            (Some(200), Some(1234), None)
        );
        assert_eq!(r.ts, Some(1_768_478_400_000_000_000));
    }

    #[test]
    fn json_lines_without_what_a_request_needs_are_errors() {
        let mut t = TimeCache::default();
        assert_eq!(parse("{\"a\":", &mut t).unwrap_err().0, "not a JSON object");
        assert!(parse("{\"status\":200}", &mut t).is_err());
        assert!(parse("{\"ClientIP\":\"1.2.3.4\"}", &mut t).is_err());
        assert!(parse(
            "{\"ClientIP\":\"1.2.3.4\",\"ClientRequestURI\":\"/\",\"EdgeStartTimestamp\":\"soon\"}",
            &mut t
        )
        .is_err());
    }

    #[test]
    fn the_cookies_a_response_set_are_read_when_the_line_says() {
        let mut t = TimeCache::default();
        let base = r#"{"remote_addr":"10.1.2.3","request":"GET / HTTP/1.1","#;
        let mut names = |rest: &str| {
            let line = format!("{base}{rest}");
            parse(&line, &mut t)
                .unwrap()
                .set_cookies
                .map(|c| c.into_owned())
        };
        assert_eq!(
            names(r#""set_cookie_names":"sid,_ga"}"#).as_deref(),
            Some("sid,_ga")
        );
        assert_eq!(names(r#""set_cookie_names":""}"#).as_deref(), Some(""));
        assert_eq!(
            names(r#""sent_http_set_cookie":"sid=1; Path=/; HttpOnly; lang=en; Max-Age=60"}"#)
                .as_deref(),
            Some("sid,lang")
        );
        assert_eq!(names(r#""sent_http_set_cookie":"-"}"#).as_deref(), Some(""));
        assert_eq!(names(r#""status":200}"#), None);
    }
}
