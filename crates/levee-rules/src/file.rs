//! Rules files: ordered rules, each an expression with an action, in TOML.
//!
//! ```toml
//! version = 1
//!
//! [lists]                      # optional: named address lists, one address or prefix per line
//! allowlist = "allow.txt"      # relative to the rules file
//!
//! [[rule]]
//! id = "keep-monitoring"
//! expression = "ip.src in $allowlist"
//! action = "allow"
//!
//! [[rule]]
//! id = "syn-flood-1"
//! description = "syn-flood on 10.10.10.10:80"
//! expression = "ip.dst == 10.10.10.10 and tcp.flags == 0x02 and tcp.window == 1024"
//! action = "block"
//!
//! [[rule]]
//! id = "dns-rate"
//! expression = "udp.dstport == 53"
//! action = "rate_limit"
//! rate = 100        # packets per second
//! burst = 200       # packets
//! key = "ip.src"    # counted per source address ("ip.dst", or "none" for one global bucket)
//! ```
//!
//! Rules apply in order; the first that matches decides (`log` records and goes on). A file with
//! any error is refused whole: every problem is reported with its line and column, and nothing
//! is compiled or applied.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::{parse, Expr, Lists};

/// What a rule does to the packets it matches.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Drop the packet (or request).
    Block,
    /// Pass it, and stop: later rules do not see it.
    Allow,
    /// Count and go on to the next rule.
    Log,
    /// Pass up to `rate` packets per second (with a burst of `burst`) per key; block the rest.
    RateLimit {
        /// Packets (or requests) a second allowed per key.
        rate: f64,
        /// How many may come at once above the rate.
        burst: u64,
        /// What the rate is counted per.
        key: RateKey,
    },
}

impl Action {
    /// The action's name in a rules file.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Block => "block",
            Action::Allow => "allow",
            Action::Log => "log",
            Action::RateLimit { .. } => "rate_limit",
        }
    }
}

/// What a rate limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// Each source address.
    Source,
    /// Each destination address.
    Destination,
    /// All matching traffic together.
    Global,
}

impl RateKey {
    /// The key's name in a rules file.
    pub fn name(self) -> &'static str {
        match self {
            RateKey::Source => "ip.src",
            RateKey::Destination => "ip.dst",
            RateKey::Global => "none",
        }
    }
}

/// One rule of a rules file.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its id: unique in the file, and what engines name it by.
    pub id: String,
    /// Why it exists, as written (compilers carry it as a comment or description).
    pub description: Option<String>,
    /// The expression as written.
    pub text: String,
    /// What it matches.
    pub expression: Expr,
    /// What it does to what it matches.
    pub action: Action,
}

/// A checked rules file.
#[derive(Debug, Clone)]
pub struct RulesFile {
    /// The rules, applied in order: the first that decides wins.
    pub rules: Vec<Rule>,
    /// The address lists the rules name (`$name`).
    pub lists: Lists,
    /// List names and the files they came from, as written.
    pub list_files: BTreeMap<String, String>,
}

/// Everything wrong with a rules file, each problem rendered with its place.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {} problem(s); nothing was compiled or applied\n{}", problems.len(), problems.join("\n"))]
pub struct RulesError {
    /// The file (or `-`).
    pub origin: String,
    /// Each problem, with its line and column.
    pub problems: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: Option<u32>,
    #[serde(default)]
    lists: BTreeMap<String, String>,
    #[serde(default)]
    rule: Vec<toml::Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    description: Option<String>,
    expression: toml::Spanned<String>,
    action: String,
    rate: Option<f64>,
    burst: Option<u64>,
    key: Option<String>,
}

/// Line and column (1-based) of a byte offset.
/// Line and column (1-based, columns in bytes) of byte offsets in a text, found by a binary
/// search of the line starts: a file of 100 000 rules asks for a place per rule, and counting
/// lines from the start each time made loading quadratic (20 000 rules took 5.6 s).
struct LineIndex<'t> {
    text: &'t str,
    /// Byte offset of every `\n`.
    newlines: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> Self {
        LineIndex {
            text,
            newlines: positions_of(b'\n', text.as_bytes()),
        }
    }

    fn line_col(&self, at: usize) -> (usize, usize) {
        let at = at.min(self.text.len());
        // Newlines before `at`.
        let line = self.newlines.partition_point(|&n| n < at);
        let start = if line == 0 {
            0
        } else {
            self.newlines[line - 1] + 1
        };
        (line + 1, at - start + 1)
    }
}

fn positions_of(needle: u8, hay: &[u8]) -> Vec<usize> {
    hay.iter()
        .enumerate()
        .filter(|(_, &b)| b == needle)
        .map(|(i, _)| i)
        .collect()
}

impl RulesFile {
    /// Parses and checks a rules file. `origin` names it in messages; `base` is the directory
    /// list files are relative to.
    pub fn parse(origin: &str, text: &str, base: Option<&Path>) -> Result<RulesFile, RulesError> {
        let fail = |problems: Vec<String>| RulesError {
            origin: origin.to_string(),
            problems,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let place = e
                .span()
                .map(|s| {
                    let (l, c) = LineIndex::new(text).line_col(s.start);
                    format!("{origin}:{l}:{c}: ")
                })
                .unwrap_or_default();
            fail(vec![format!("{place}{}", e.message())])
        })?;
        let mut problems = Vec::new();
        if let Some(v) = raw.version {
            if v != 1 {
                problems.push(format!("{origin}: version {v} is not known (1 is)"));
            }
        }
        let mut lists = Lists::new();
        for (name, file) in &raw.lists {
            let path = base.map_or_else(|| Path::new(file).to_path_buf(), |b| b.join(file));
            if let Err(e) = lists.load(name, &path) {
                problems.push(format!("{origin}: list `{name}`: {e}"));
            }
        }
        let mut rules = Vec::new();
        let mut ids = std::collections::HashSet::new();
        let lines = LineIndex::new(text);
        for spanned in &raw.rule {
            let (rl, _) = lines.line_col(spanned.span().start);
            let r = spanned.get_ref();
            let at = format!("{origin}:{rl}: rule `{}`", r.id);
            if r.id.trim().is_empty() {
                problems.push(format!("{origin}:{rl}: a rule needs a non-empty id"));
            } else if !ids.insert(r.id.clone()) {
                problems.push(format!("{at}: the id is used twice"));
            }
            let action = match (r.action.as_str(), r.rate, r.burst, r.key.as_deref()) {
                ("block", None, None, None) => Some(Action::Block),
                ("allow", None, None, None) => Some(Action::Allow),
                ("log", None, None, None) => Some(Action::Log),
                ("block" | "allow" | "log", ..) => {
                    problems.push(format!(
                        "{at}: `rate`, `burst` and `key` belong to rate_limit rules only"
                    ));
                    None
                }
                ("rate_limit", rate, burst, key) => {
                    let key = match key.unwrap_or("ip.src") {
                        "ip.src" => Some(RateKey::Source),
                        "ip.dst" => Some(RateKey::Destination),
                        "none" => Some(RateKey::Global),
                        other => {
                            problems.push(format!(
                                "{at}: rate-limit key `{other}` is not one of ip.src, ip.dst, none"
                            ));
                            None
                        }
                    };
                    match rate {
                        Some(rate) if rate.is_finite() && rate > 0.0 && rate <= 1e9 => {
                            let burst = burst.unwrap_or(rate.ceil() as u64).max(1);
                            key.map(|key| Action::RateLimit { rate, burst, key })
                        }
                        Some(rate) if rate.is_finite() && rate > 1e9 => {
                            problems.push(format!(
                                "{at}: rate {rate:e} is too large: at most 1e9 packets per second"
                            ));
                            None
                        }
                        Some(rate) => {
                            problems.push(format!(
                                "{at}: rate {rate} is not a rate: packets per second, above 0 \
                                 and at most 1e9"
                            ));
                            None
                        }
                        None => {
                            problems.push(format!(
                                "{at}: rate_limit needs `rate`, packets per second, above 0"
                            ));
                            None
                        }
                    }
                }
                (other, ..) => {
                    problems.push(format!(
                        "{at}: action `{other}` is not one of block, allow, log, rate_limit"
                    ));
                    None
                }
            };
            let src = r.expression.get_ref();
            let expression = match parse(src, &lists) {
                Ok(e) => Some(e),
                Err(e) => {
                    // Point into the file when the string has no escapes (offsets then agree).
                    let span = r.expression.span();
                    let raw_text = &text[span.start..span.end.min(text.len())];
                    let rendered = if raw_text.len() == src.len() + 2 {
                        let (l, c) = lines.line_col(span.start + 1 + e.start);
                        e.render_at(&format!("{origin}:{l}:{c} (rule `{}`)", r.id), src)
                    } else {
                        e.render(&format!("{at}, expression"), src)
                    };
                    problems.push(rendered.trim_end().to_string());
                    None
                }
            };
            if let (Some(expression), Some(action)) = (expression, action) {
                rules.push(Rule {
                    id: r.id.clone(),
                    description: r.description.clone(),
                    text: src.clone(),
                    expression,
                    action,
                });
            }
        }
        if !problems.is_empty() {
            return Err(fail(problems));
        }
        Ok(RulesFile {
            rules,
            lists,
            list_files: raw.lists,
        })
    }

    /// Reads and checks a rules file from disk.
    pub fn load(path: &Path) -> Result<RulesFile, RulesError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RulesError {
            origin: origin.clone(),
            problems: vec![format!("{origin}: {e}")],
        })?;
        RulesFile::parse(&origin, &text, path.parent())
    }

    /// The file as TOML text (what `levee analyze --rules-out` writes), with a header comment.
    pub fn to_toml(&self, header: &str) -> String {
        let mut o = String::new();
        for line in header.lines() {
            let _ = writeln!(o, "# {line}");
        }
        let _ = writeln!(o, "version = 1");
        if !self.list_files.is_empty() {
            let _ = writeln!(o, "\n[lists]");
            for (k, v) in &self.list_files {
                let _ = writeln!(o, "{k} = {}", toml_string(v));
            }
        }
        for r in &self.rules {
            let _ = writeln!(o, "\n[[rule]]");
            let _ = writeln!(o, "id = {}", toml_string(&r.id));
            if let Some(d) = &r.description {
                let _ = writeln!(o, "description = {}", toml_string(d));
            }
            let _ = writeln!(o, "expression = {}", toml_string(&r.expression.to_string()));
            let _ = writeln!(o, "action = \"{}\"", r.action.name());
            if let Action::RateLimit { rate, burst, key } = &r.action {
                let _ = writeln!(
                    o,
                    "rate = {rate}\nburst = {burst}\nkey = \"{}\"",
                    key.name()
                );
            }
        }
        o
    }
}

/// A TOML string: a literal string (no escapes to read) when possible.
pub fn toml_string(s: &str) -> String {
    if !s.contains('\'') && !s.contains('\n') && !s.chars().any(char::is_control) {
        return format!("'{s}'");
    }
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
version = 1

[[rule]]
id = "a"
description = "syn flood"
expression = "ip.dst == 10.10.10.10 and tcp.flags == 0x02"
action = "block"

[[rule]]
id = "b"
expression = 'dns.qry.name matches "(^|\\.)example\\.com$"'
action = "rate_limit"
rate = 50
key = "ip.src"

[[rule]]
id = "c"
expression = "udp.srcport == 53"
action = "log"
"#;

    #[test]
    fn a_good_file_parses_and_writes_back_the_same_rules() {
        let f = RulesFile::parse("r.toml", GOOD, None).unwrap();
        assert_eq!(f.rules.len(), 3);
        assert_eq!(
            f.rules[1].action,
            Action::RateLimit {
                rate: 50.0,
                burst: 50,
                key: RateKey::Source
            }
        );
        let text = f.to_toml("written by a test");
        assert!(text.starts_with("# written by a test\n"));
        let again = RulesFile::parse("again.toml", &text, None).unwrap();
        for (a, b) in f.rules.iter().zip(&again.rules) {
            assert_eq!(a.id, b.id);
            assert_eq!(a.expression, b.expression);
            assert_eq!(a.action, b.action);
            assert_eq!(a.description, b.description);
        }
    }

    #[test]
    fn every_problem_is_reported_with_its_place_and_nothing_is_accepted() {
        let bad = r#"
[[rule]]
id = "a"
expression = "ip.dst == 10.10.10.10 and tcp.dstport == \"x\""
action = "block"

[[rule]]
id = "a"
expression = "ip.ttl == 1"
action = "drop"

[[rule]]
id = "r"
expression = "ip.ttl == 1"
action = "rate_limit"
"#;
        let e = RulesFile::parse("bad.toml", bad, None).unwrap_err();
        let all = e.to_string();
        assert_eq!(e.problems.len(), 4, "{all}");
        assert!(all.contains("holds integers"), "{all}");
        assert!(all.contains("used twice"), "{all}");
        assert!(all.contains("action `drop`"), "{all}");
        assert!(all.contains("needs `rate`"), "{all}");
        assert!(all.contains("nothing was compiled or applied"), "{all}");

        let good_place = "[[rule]]\nid = \"x\"\nexpression = \"ip.ttl == 1 and ip.bogus == 2\"\naction = \"block\"\n";
        let e = RulesFile::parse("p.toml", good_place, None).unwrap_err();
        assert!(e.to_string().contains("p.toml:3:31 (rule `x`)\n"), "{e}");

        let syntax = "[[rule]\nid = 1";
        let e = RulesFile::parse("s.toml", syntax, None).unwrap_err();
        assert!(e.to_string().contains("s.toml:1:"), "{e}");
        let unknown =
            "[[rule]]\nid = \"x\"\nexpression = \"ip.ttl == 1\"\naction = \"block\"\ncolour = 3\n";
        assert!(RulesFile::parse("u.toml", unknown, None).is_err());
    }
}
