//! STIX 2.1: the `indicator` objects of a bundle (or of a list of objects, or one object),
//! their STIX patterns read for the values they compare.
//!
//! | pattern comparison | kind |
//! | --- | --- |
//! | `ipv4-addr:value`, `ipv6-addr:value` (`=`, `IN`, `ISSUBSET`) | address or network |
//! | `network-traffic:src_ref.value`, `network-traffic:dst_ref.value` | address, network or domain |
//! | `domain-name:value` | domain |
//! | `url:value` | URL |
//! | `network-traffic:extensions.'http-request-ext'.request_value` | path |
//! | `...'http-request-ext'.request_header.'User-Agent'` (`'Host'`) | user agent (domain) |
//! | `file:hashes.MD5`, `'SHA-1'`, `'SHA-256'` | a file's hash (MD5 also as JA3) |
//!
//! Each comparison of a value is an indicator of its own, valid from `valid_from` until
//! `valid_until`. A pattern that joins comparisons with `AND` or `FOLLOWEDBY` is hunted on
//! each of its values, which finds more than the pattern says: the file's notes say how many
//! patterns that was. Other operators (`!=`, `LIKE`, `MATCHES`, ranges), certificates, file
//! hashes other than MD5, other pattern languages and revoked indicators are kept as
//! unusable, with the reason.

use serde_json::Value;

use super::{parse_time, Indicator, IndicatorFile, Kind, Unusable, FILE_HASH};

/// Reads the STIX `json` of `file` into `out`.
pub fn read(file: &str, json: &Value, out: &mut IndicatorFile) -> Result<(), String> {
    let objects: Vec<&Value> = match json {
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("bundle") => o
            .get("objects")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        Value::Object(_) => vec![json],
        Value::Array(a) => a.iter().collect(),
        _ => return Err("not a STIX bundle or object".into()),
    };
    let mut broadened = 0;
    for (n, o) in objects.iter().enumerate() {
        if o.get("type").and_then(Value::as_str) != Some("indicator") {
            continue;
        }
        let text = |k: &str| o.get(k).and_then(Value::as_str);
        let id = text("id").map_or_else(|| format!("object #{}", n + 1), str::to_string);
        let source = format!("{file} {id}");
        let pattern = text("pattern").unwrap_or("");
        let unusable = |why: String| Unusable {
            source: source.clone(),
            kind: "stix pattern".into(),
            value: pattern.to_string(),
            why,
        };
        if o.get("revoked").and_then(Value::as_bool) == Some(true) {
            out.unusable.push(unusable("revoked".into()));
            continue;
        }
        if let Some(t) = text("pattern_type").filter(|t| *t != "stix") {
            out.unusable.push(unusable(format!(
                "a {t} pattern: levee reads STIX patterns"
            )));
            continue;
        }
        let time = |k: &str| -> Result<Option<i64>, String> {
            match text(k) {
                None => Ok(None),
                Some(t) => parse_time(t)
                    .map(Some)
                    .ok_or_else(|| format!("{id}: {k} `{t}` is not an RFC 3339 time")),
            }
        };
        let (valid_from, valid_until) = (time("valid_from")?, time("valid_until")?);
        let label = text("name").or(text("description")).map(str::to_string);
        let parsed = match parse_pattern(pattern) {
            Ok(p) => p,
            Err(why) => {
                out.unusable.push(unusable(why));
                continue;
            }
        };
        broadened += usize::from(parsed.joined && parsed.comparisons.len() > 1);
        let mut any = false;
        for c in &parsed.comparisons {
            match c.indicators() {
                Ok(found) => {
                    for (kind, value) in found {
                        any = true;
                        out.indicators.push(Indicator {
                            kind,
                            value,
                            source: source.clone(),
                            label: label.clone(),
                            valid_from,
                            valid_until,
                        });
                    }
                }
                Err(why) if c.is_condition() => {
                    // A condition beside values (a port, a protocol) is not hunted alone.
                    let _ = why;
                }
                Err(why) => out.unusable.push(Unusable {
                    source: source.clone(),
                    kind: c.path.clone(),
                    value: c.values.join(", "),
                    why,
                }),
            }
        }
        if !any && parsed.comparisons.iter().all(Comparison::is_condition) {
            out.unusable
                .push(unusable("no value levee looks for in the pattern".into()));
        }
    }
    if broadened > 0 {
        out.notes.push(format!(
            "{broadened} STIX pattern(s) join comparisons with AND or FOLLOWEDBY: each of their values is hunted on its own, so hits are broader than the patterns"
        ));
    }
    Ok(())
}

/// One comparison of a pattern: `PATH [NOT] OP VALUE(S)`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Comparison {
    path: String,
    op: String,
    negated: bool,
    values: Vec<String>,
}

/// The comparisons of a pattern, and whether any are joined with `AND` or `FOLLOWEDBY`.
#[derive(Debug)]
struct Pattern {
    comparisons: Vec<Comparison>,
    joined: bool,
}

impl Comparison {
    /// A comparison that only narrows others (a port, a protocol, a type).
    fn is_condition(&self) -> bool {
        let p = self.path.as_str();
        p.ends_with("_port")
            || p.ends_with("protocols[*]")
            || p.ends_with(".type")
            || p.ends_with(":start")
            || p.ends_with(":end")
    }

    /// What the comparison names, normalised, or why it is not looked for.
    fn indicators(&self) -> Result<Vec<(Kind, String)>, String> {
        if self.negated || !matches!(self.op.as_str(), "=" | "IN" | "ISSUBSET") {
            let op = if self.negated {
                format!("NOT {}", self.op)
            } else {
                self.op.clone()
            };
            return Err(format!(
                "operator {op} is not looked for (only =, IN and ISSUBSET)"
            ));
        }
        let (object, property) = self.path.split_once(':').unwrap_or((&self.path, ""));
        let property = property.replace('"', "'");
        let lower = property.to_ascii_lowercase();
        let ip_or_domain = |v: &str| -> Result<(Kind, String), String> {
            for k in [Kind::Address, Kind::Network, Kind::Domain] {
                if let Ok(n) = super::normalise(k, v) {
                    return Ok((k, n));
                }
            }
            Err(format!("`{v}` is not an address, network or domain"))
        };
        let kind_of = |v: &str| -> Result<(Kind, String), String> {
            let plain = |k: Kind| super::normalise(k, v).map(|n| (k, n));
            match (object, lower.as_str()) {
                ("ipv4-addr" | "ipv6-addr", "value") if v.contains('/') => plain(Kind::Network),
                ("ipv4-addr" | "ipv6-addr", "value") => plain(Kind::Address),
                ("network-traffic", "src_ref.value" | "dst_ref.value") => ip_or_domain(v),
                ("domain-name", "value") => plain(Kind::Domain),
                ("url", "value") => plain(Kind::Url),
                ("network-traffic", p) if p.ends_with("'http-request-ext'.request_value") => {
                    plain(Kind::Path)
                }
                ("network-traffic", p) if p.ends_with("request_header.'user-agent'") => {
                    plain(Kind::UserAgent)
                }
                ("network-traffic", p) if p.ends_with("request_header.'host'") => {
                    super::normalise(Kind::Domain, &super::authority_host(v).unwrap_or_default())
                        .map(|n| (Kind::Domain, n))
                }
                ("file" | "artifact", "hashes.md5" | "hashes.'md5'") => plain(Kind::Md5),
                ("file" | "artifact", "hashes.'sha-1'" | "hashes.sha1" | "hashes.'sha1'") => {
                    plain(Kind::Sha1)
                }
                ("file" | "artifact", "hashes.'sha-256'" | "hashes.sha256" | "hashes.'sha256'") => {
                    plain(Kind::Sha256)
                }
                ("file" | "artifact", p) if p.starts_with("hashes.") => Err(FILE_HASH.into()),
                ("x509-certificate", _) => {
                    Err("a certificate: levee does not read TLS certificates".into())
                }
                _ => Err(format!("`{}` is not a property levee looks for", self.path)),
            }
        };
        self.values
            .iter()
            .map(|v| kind_of(&super::refang(v)))
            .collect()
    }
}

/// A token of a STIX pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `[`, `]`, `(`, `)`, `,`.
    Punct(char),
    /// A quoted string, unescaped.
    Quoted(String),
    /// A word: a path, an operator, a keyword, a number.
    Word(String),
}

fn tokens(pattern: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = pattern.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '[' | ']' | '(' | ')' | ',' => out.push(Token::Punct(c)),
            '\'' => {
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, c)) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some((_, e)) => s.push(e),
                            None => break,
                        },
                        '\'' => {
                            closed = true;
                            break;
                        }
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(format!("a string opened at character {i} is not closed"));
                }
                out.push(Token::Quoted(s));
            }
            _ => {
                // A word runs to whitespace or punctuation; quotes inside a path
                // (`hashes.'SHA-256'`) belong to it.
                let mut w = String::from(c);
                let mut quoted = false;
                while let Some(&(_, n)) = chars.peek() {
                    if n == '\'' && (w.ends_with('.') || quoted) {
                        quoted = !quoted;
                    } else if !quoted && (n.is_whitespace() || "[](),'".contains(n)) {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

const OPERATORS: &[&str] = &[
    "=",
    "!=",
    "<",
    ">",
    "<=",
    ">=",
    "IN",
    "LIKE",
    "MATCHES",
    "ISSUBSET",
    "ISSUPERSET",
];

fn parse_pattern(pattern: &str) -> Result<Pattern, String> {
    let t = tokens(pattern)?;
    let mut comparisons = Vec::new();
    let mut joined = false;
    let mut i = 0;
    while i < t.len() {
        if let Token::Word(w) = &t[i] {
            let upper = w.to_ascii_uppercase();
            if upper == "AND" || upper == "FOLLOWEDBY" {
                joined = true;
            }
            if w.contains(':') && !OPERATORS.contains(&w.as_str()) {
                // PATH [NOT] OP VALUE | PATH [NOT] IN ( VALUES )
                let mut j = i + 1;
                let negated =
                    matches!(t.get(j), Some(Token::Word(n)) if n.eq_ignore_ascii_case("NOT"));
                if negated {
                    j += 1;
                }
                let Some(Token::Word(op)) = t.get(j) else {
                    return Err(format!("no operator after `{w}`"));
                };
                let op = op.to_ascii_uppercase();
                if !OPERATORS.contains(&op.as_str()) {
                    return Err(format!("`{op}` after `{w}` is not a STIX operator"));
                }
                j += 1;
                let mut values = Vec::new();
                match t.get(j) {
                    Some(Token::Punct('(')) => {
                        j += 1;
                        while let Some(tok) = t.get(j) {
                            match tok {
                                Token::Punct(')') => break,
                                Token::Quoted(v) | Token::Word(v) => values.push(v.clone()),
                                Token::Punct(_) => {}
                            }
                            j += 1;
                        }
                    }
                    Some(Token::Quoted(v)) | Some(Token::Word(v)) => values.push(v.clone()),
                    _ => return Err(format!("no value after `{w} {op}`")),
                }
                comparisons.push(Comparison {
                    path: w.clone(),
                    op,
                    negated,
                    values,
                });
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    if comparisons.is_empty() {
        return Err("no comparison in the pattern".into());
    }
    Ok(Pattern {
        comparisons,
        joined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(objects: &str) -> IndicatorFile {
        let json: Value = serde_json::from_str(&format!(
            r#"{{"type":"bundle","id":"bundle--1","objects":[{objects}]}}"#
        ))
        .unwrap();
        let mut out = IndicatorFile::default();
        read("b.json", &json, &mut out).unwrap();
        out
    }

    #[test]
    fn patterns_give_their_values_with_their_validity() {
        let out = bundle(
            r#"{"type":"indicator","spec_version":"2.1","id":"indicator--a","name":"C2",
                "pattern":"[ipv4-addr:value = '198.51.100.1'] OR [domain-name:value = 'Evil.Example']",
                "pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","valid_until":"2026-02-01T00:00:00.000Z"},
               {"type":"indicator","id":"indicator--b","pattern":"[ipv4-addr:value ISSUBSET '203.0.113.0/24']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
               {"type":"indicator","id":"indicator--c","pattern":"[url:value = 'http://evil.example/gate.php'] AND [network-traffic:dst_port = 80]","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
               {"type":"indicator","id":"indicator--d","pattern":"[network-traffic:dst_ref.value IN ('192.0.2.5', 'bad.example')]","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
               {"type":"indicator","id":"indicator--e","pattern":"[file:hashes.'SHA-512' = 'aa'] OR [file:hashes.MD5 = 'E7D705A3286E19EA42F587B344EE6865']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
               {"type":"indicator","id":"indicator--f","pattern":"[domain-name:value LIKE '%.evil.example']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
               {"type":"indicator","id":"indicator--g","pattern":"alert tcp any any","pattern_type":"snort","valid_from":"2026-01-01T00:00:00Z"},
               {"type":"indicator","id":"indicator--h","pattern":"[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'EvilBot/1.0' AND network-traffic:extensions.'http-request-ext'.request_value = '/gate.php']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"},
               {"type":"malware","id":"malware--x","name":"TrickBot"}"#,
        );
        let got: Vec<_> = out
            .indicators
            .iter()
            .map(|i| (i.kind, &i.value[..], &i.source[..]))
            .collect();
        assert_eq!(
            got,
            [
                (Kind::Address, "198.51.100.1", "b.json indicator--a"),
                (Kind::Domain, "evil.example", "b.json indicator--a"),
                (Kind::Network, "203.0.113.0/24", "b.json indicator--b"),
                (Kind::Url, "evil.example/gate.php", "b.json indicator--c"),
                (Kind::Address, "192.0.2.5", "b.json indicator--d"),
                (Kind::Domain, "bad.example", "b.json indicator--d"),
                (
                    Kind::Md5,
                    "e7d705a3286e19ea42f587b344ee6865",
                    "b.json indicator--e"
                ),
                (Kind::UserAgent, "EvilBot/1.0", "b.json indicator--h"),
                (Kind::Path, "/gate.php", "b.json indicator--h"),
            ]
        );
        let a = &out.indicators[0];
        assert_eq!(a.label.as_deref(), Some("C2"));
        assert_eq!(a.valid_from, Some(1_767_225_600_000_000_000));
        assert_eq!(a.valid_until, Some(1_769_904_000_000_000_000));
        let why: Vec<_> = out
            .unusable
            .iter()
            .map(|u| (&u.source[..], &u.why[..]))
            .collect();
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[0].1.contains("file hash"));
        assert!(why[1].1.contains("LIKE"));
        assert!(why[2].1.contains("snort"));
        assert_eq!(out.notes.len(), 1, "{:?}", out.notes);
        assert!(out.notes[0].starts_with("2 STIX pattern(s)"));
    }

    #[test]
    fn damaged_patterns_and_times_are_said() {
        let out = bundle(
            r#"{"type":"indicator","id":"indicator--z","pattern":"[ipv4-addr:value = '1.2.3.4","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}"#,
        );
        assert!(
            out.unusable[0].why.contains("not closed"),
            "{:?}",
            out.unusable
        );
        let json: Value = serde_json::from_str(r#"{"type":"indicator","id":"indicator--y","pattern":"[ipv4-addr:value = '1.2.3.4']","valid_from":"soon"}"#).unwrap();
        let e = read("b.json", &json, &mut IndicatorFile::default()).unwrap_err();
        assert!(e.contains("indicator--y") && e.contains("soon"), "{e}");
    }
}
