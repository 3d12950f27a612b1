//! Access logs as JSON lines, one request a line, with the same anonymisation as captures:
//! the client's address (Crypto-PAn, the same pseudonym as in a capture under the key), the
//! names in Host, an absolute target and the referer (label by label), an address written in
//! Host masked, and each cookie's value replaced by a pseudonym of its shape (the same value,
//! the same pseudonym: cookie variations still show). Paths, queries and user agents are kept.

use std::io::Write;
use std::path::Path;

use levee_logs::{Entry, FormatSpec, LogReader};
use serde_json::{Map, Value};

use crate::rewriter::Rewriter;
use crate::CleanError;

/// What cleaning a log did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LogReport {
    /// The log.
    pub file: String,
    /// Requests read.
    pub requests: u64,
    /// Requests written.
    pub written: u64,
    /// Requests outside the time asked for.
    pub outside_time: u64,
    /// Requests the filter did not match.
    pub filtered_out: u64,
    /// Lines that were not requests of the format, with their number and why.
    pub malformed: Vec<String>,
}

/// Writes the requests of the log at `path` (of format `spec`) to `out` as JSON lines,
/// rewritten by `r` when given; those outside the `window` (from, to) or that `filter` does
/// not match left out.
pub fn clean_log(
    path: &Path,
    spec: FormatSpec,
    out: &mut dyn Write,
    out_name: &str,
    mut r: Option<&mut dyn Rewriter>,
    window: (Option<i64>, Option<i64>),
    filter: Option<&levee_rules::Expr>,
) -> Result<LogReport, CleanError> {
    let file = path.display().to_string();
    let unreadable = |why: String| CleanError::Unreadable {
        file: file.clone(),
        why,
    };
    let mut reader = LogReader::open(path, spec).map_err(|e| unreadable(e.to_string()))?;
    let mut report = LogReport {
        file: file.clone(),
        ..LogReport::default()
    };
    while let Some(entry) = reader.next_entry() {
        let request = match entry {
            Err(e) => {
                if report.requests == 0 {
                    return Err(unreadable(e.to_string()));
                }
                report.malformed.push(e.to_string());
                break;
            }
            Ok(Entry::Request(q)) => q,
            Ok(Entry::Elsewhere) => continue,
            Ok(Entry::Malformed { line, error }) => {
                report
                    .malformed
                    .push(format!("{file}: line {line}: {}", error.0));
                continue;
            }
        };
        report.requests += 1;
        let ts = request.ts;
        if ts.is_some_and(|t| window.0.is_some_and(|f| t < f) || window.1.is_some_and(|e| t >= e)) {
            report.outside_time += 1;
            continue;
        }
        if filter.is_some_and(|f| !f.matches(&request)) {
            report.filtered_out += 1;
            continue;
        }
        let mut o = Map::new();
        if let Some(t) = ts {
            o.insert("ts".into(), Value::from(levee_logs::format_ts(t)));
        }
        let client = match (request.ip, r.as_deref_mut()) {
            (Some(ip), Some(r)) => anonymised_ip(ip, r),
            (None, Some(r)) => rewrite_text(&request.client, r, crate::names::host_text),
            _ => request.client.to_string(),
        };
        o.insert("client".into(), Value::from(client));
        o.insert("method".into(), Value::from(request.method.as_ref()));
        let mut text = |key: &str, value: Option<&str>, how: Option<Rewrite>| {
            let Some(v) = value else { return };
            let v = match (how, r.as_deref_mut()) {
                (Some(how), Some(r)) => rewrite_text(v, r, how),
                _ => v.to_string(),
            };
            o.insert(key.into(), Value::from(v));
        };
        text("target", Some(&request.target), Some(crate::names::url));
        text("protocol", request.protocol.as_deref(), None);
        text(
            "host",
            request.host.as_deref(),
            Some(crate::names::host_text),
        );
        text(
            "referer",
            request.referer.as_deref(),
            Some(crate::names::url),
        );
        text("user_agent", request.user_agent.as_deref(), None);
        text("cookie", request.cookie.as_deref(), Some(cookie_values));
        text("ja3", request.ja3.as_deref(), None);
        text("ja4", request.ja4.as_deref(), None);
        if let Some(s) = request.status {
            o.insert("status".into(), Value::from(s));
        }
        if let Some(b) = request.bytes {
            o.insert("bytes".into(), Value::from(b));
        }
        drop(request);
        o.insert("line".into(), Value::from(reader.last_line()));
        writeln!(out, "{}", Value::Object(o)).map_err(|e| CleanError::Unwritable {
            file: out_name.to_string(),
            why: e.to_string(),
        })?;
        report.written += 1;
    }
    if report.requests == 0 && report.malformed.is_empty() {
        return Err(unreadable("no request in it".into()));
    }
    Ok(report)
}

/// A rewriting of text in place: `data[at..end]`, the spans it changed.
type Rewrite = fn(&mut [u8], usize, usize, &mut dyn Rewriter, &mut Vec<crate::names::Changed>);

fn rewrite_text(text: &str, r: &mut dyn Rewriter, how: Rewrite) -> String {
    let mut bytes = text.as_bytes().to_vec();
    let end = bytes.len();
    how(&mut bytes, 0, end, r, &mut Vec::new());
    String::from_utf8_lossy(&bytes).into_owned()
}

fn anonymised_ip(ip: std::net::IpAddr, r: &mut dyn Rewriter) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut o = v4.octets();
            r.address(&mut o);
            std::net::Ipv4Addr::from(o).to_string()
        }
        std::net::IpAddr::V6(v6) => {
            let mut o = v6.octets();
            r.address(&mut o);
            std::net::Ipv6Addr::from(o).to_string()
        }
    }
}

/// Each cookie's value (`name=value; ...`) through [`Rewriter::label`], its name kept.
fn cookie_values(
    data: &mut [u8],
    at: usize,
    end: usize,
    r: &mut dyn Rewriter,
    _: &mut Vec<crate::names::Changed>,
) {
    let mut o = at;
    while o < end {
        let stop = data[o..end]
            .iter()
            .position(|&b| b == b';')
            .map_or(end, |p| o + p);
        if let Some(eq) = data[o..stop].iter().position(|&b| b == b'=') {
            let value = o + eq + 1;
            if value < stop {
                r.label(&mut data[value..stop]);
            }
        }
        o = stop + 1;
    }
}
