//! `levee requests`: the HTTP/1.x requests reassembled from captures, written as an access
//! log: the combined format any log tool reads, or JSON lines that keep what a capture knows
//! and a log usually does not (header order, TLS fingerprints, unfinished header blocks).
//! Both read back into `levee analyze` as logs.

use crate::cli::RequestsArgs;
use std::io::Write;

use levee_logs::Request;
use serde::Serialize;

use crate::l7_cmd::Source;

/// One request as a JSON line, under field names `levee analyze` reads back (nginx's names
/// where they exist).
#[derive(Serialize)]
struct JsonRequest<'a> {
    /// Nanoseconds since 1970 (the time the request's first byte was captured).
    timestamp: Option<i64>,
    time: Option<String>,
    remote_addr: &'a str,
    request_method: &'a str,
    request_uri: &'a str,
    server_protocol: Option<&'a str>,
    status: Option<u16>,
    body_bytes_sent: Option<u64>,
    host: Option<&'a str>,
    http_user_agent: Option<&'a str>,
    http_referer: Option<&'a str>,
    http_cookie: Option<&'a str>,
    header_names: Option<&'a str>,
    ja3: Option<&'a str>,
    ja4: Option<&'a str>,
    /// A header block never finished, held open this many milliseconds (slowloris).
    header_incomplete_ms: Option<i64>,
    /// The names of the cookies the response set, comma-separated (empty: none; absent:
    /// the request was not answered in the capture).
    set_cookie_names: Option<&'a str>,
}

/// `"` and `\` escaped, control bytes as `\xHH`, as nginx writes variables in a log line.
fn quoted(o: &mut Vec<u8>, v: Option<&str>) {
    o.push(b'"');
    match v {
        None => o.push(b'-'),
        Some(s) => {
            for &b in s.as_bytes() {
                match b {
                    b'"' | b'\\' => o.extend_from_slice(&[b'\\', b]),
                    0..=0x1f | 0x7f => {
                        let _ = write!(o, "\\x{b:02X}");
                    }
                    _ => o.push(b),
                }
            }
        }
    }
    o.push(b'"');
}

/// One line of the combined format (times in UTC).
fn combined(o: &mut Vec<u8>, r: &Request<'_>) {
    let when =
        r.ts.and_then(|t| jiff::Timestamp::from_nanosecond(i128::from(t)).ok())
            .map(|t| t.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string())
            .unwrap_or_else(|| "01/Jan/1970:00:00:00 +0000".into());
    let _ = write!(o, "{} - - [{when}] ", r.client);
    let line = match &r.protocol {
        Some(p) => format!("{} {} {p}", r.method, r.target),
        None => format!("{} {}", r.method, r.target),
    };
    quoted(o, Some(&line));
    match r.status {
        Some(s) => {
            let _ = write!(o, " {s}");
        }
        None => o.extend_from_slice(b" -"),
    }
    match r.bytes {
        Some(b) => {
            let _ = write!(o, " {b} ");
        }
        None => o.extend_from_slice(b" - "),
    }
    quoted(o, r.referer.as_deref());
    o.push(b' ');
    quoted(o, r.user_agent.as_deref());
    o.push(b'\n');
}

pub fn run(a: RequestsArgs) -> anyhow::Result<u8> {
    let file = match &a.out {
        Some(p) => Some(crate::output::PendingFile::create(
            p,
            &a.input.captures,
            a.force,
        )?),
        None => None,
    };
    let (input, spool) = crate::input::spool_stdin(&a.input)?;
    let source = Source::captures(input);
    let _keep = spool;
    let mut out: Box<dyn Write + '_> = match &file {
        Some(f) => Box::new(std::io::BufWriter::new(f.file())),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut buf = Vec::with_capacity(512);
    let mut failed: Option<std::io::Error> = None;
    let outcome = source.each(true, |r| {
        if failed.is_some() {
            return;
        }
        buf.clear();
        if a.json {
            let j = JsonRequest {
                timestamp: r.ts,
                time: r.ts.map(levee_analyze::summary::format_ts),
                remote_addr: &r.client,
                request_method: &r.method,
                request_uri: &r.target,
                server_protocol: r.protocol.as_deref(),
                status: r.status,
                body_bytes_sent: r.bytes,
                host: r.host.as_deref(),
                http_user_agent: r.user_agent.as_deref(),
                http_referer: r.referer.as_deref(),
                http_cookie: r.cookie.as_deref(),
                header_names: r.header_names.as_deref(),
                ja3: r.ja3.as_deref(),
                ja4: r.ja4.as_deref(),
                header_incomplete_ms: r.header_incomplete_ns.map(|n| n / 1_000_000),
                set_cookie_names: r.set_cookies.as_deref(),
            };
            if let Err(e) = serde_json::to_writer(&mut buf, &j) {
                failed = Some(e.into());
                return;
            }
            buf.push(b'\n');
        } else {
            combined(&mut buf, r);
        }
        if let Err(e) = out.write_all(&buf) {
            failed = Some(e);
        }
    })?;
    let flushed = out.flush();
    drop(out);
    match failed.map_or(flushed, Err) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && file.is_none() => {}
        Err(e) => return Err(anyhow::Error::new(e).context("writing the requests")),
        Ok(()) => {}
    }
    if let Some(f) = file {
        f.commit()?;
    }
    for f in &outcome.files {
        // Nothing to say of inputs none of which could be read (already reported).
        if !f.name.is_empty() {
            eprintln!("levee: {}: {} requests; {}", f.name, f.requests, f.format);
        }
    }
    Ok(crate::logs_cmd::exit_code(&outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_combined_line_escapes_what_would_break_it() {
        let r = Request {
            ts: Some(1_768_478_400_500_000_000),
            client: "192.0.2.7".into(),
            method: "GET".into(),
            target: "/a\"b".into(),
            protocol: Some("HTTP/1.1".into()),
            status: Some(404),
            user_agent: Some("x\\y\u{1}".into()),
            ..Default::default()
        };
        let mut o = Vec::new();
        combined(&mut o, &r);
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "192.0.2.7 - - [15/Jan/2026:12:00:00 +0000] \"GET /a\\\"b HTTP/1.1\" 404 - \"-\" \"x\\\\y\\x01\"\n"
        );
    }
}
