//! nginx configuration for the HTTP rules of a rules file: `geo` and `map` blocks that decide
//! per request which rule applies, a `403` for blocks, and `limit_req_zone`/`limit_req` for
//! rate limits.
//!
//! nginx has no boolean expressions, so an expression becomes a small circuit of variables.
//! Every leaf condition is a `map` (or a `geo` for client addresses) whose value is `1` or `0`;
//! `and`, `or`, `xor` and `not` are `map`s over the concatenated values of their parts
//! (`"$a$b"` is `11` when both hold). The deciding rule is then found the way levee finds it:
//! one `map` over the values of every deciding rule, in order, whose first `1` names the rule.
//! A rate-limit rule counts a request only when it decided it: its zone's key is the client
//! address for those requests and empty (not counted, by nginx's definition) for the others.
//!
//! Request parts come from nginx's variables: the method from `$request_method`, the whole
//! target from the request line (`$request`, so absolute URIs keep their scheme and host), the
//! path and query from `$request_uri`, headers from `$http_*`, the client from `$remote_addr`
//! (behind a proxy, set it with the realip module). A header sent empty counts as absent.
//! Fields nginx cannot see (TLS fingerprints without a third-party module, response codes,
//! packet fields) are refused by name.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::ast::{CmpOp, Expr, Literal, SetItem};
use crate::file::{Action, RateKey, RulesFile};
use crate::Lists;

/// Where nginx holds each request field levee can compile, as the source of a `map`.
fn source(field: &str) -> Option<&'static str> {
    Some(match field {
        "http.request.method" => "$request_method",
        "http.request.uri" => "$levee_target",
        "http.request.uri.path" => "$levee_path",
        "http.request.uri.query" => "$levee_query",
        "http.request.version" => "$server_protocol",
        "http.host" => "$http_host",
        "http.user_agent" => "$http_user_agent",
        "http.referer" => "$http_referer",
        "http.cookie" => "$http_cookie",
        _ => return None,
    })
}

/// Why a field has no nginx form.
fn refusal(field: &str) -> String {
    match field {
        "tls.ja3" | "tls.ja4" => format!(
            "`{field}`: stock nginx does not compute TLS fingerprints; block it at the edge \
             (target cloudflare-waf) or with a fingerprinting module"
        ),
        "http.response.code" => {
            "`http.response.code`: a response code is known only after the request was served; \
             nginx cannot block on it"
                .into()
        }
        "http.request.headers.names" => {
            "`http.request.headers.names`: nginx has no variable for the order of headers".into()
        }
        f => format!(
            "`{f}` is not a field of HTTP requests in nginx (packet fields belong to the \
             nftables, iptables, bpf or cloudflare targets)"
        ),
    }
}

/// A string as an nginx configuration token: double-quoted, with the quote and backslash
/// escaped (nginx keeps any other backslash as written, so regular expressions pass through).
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A literal string as a PCRE: every metacharacter escaped (PCRE reads an escaped
/// non-alphanumeric character as itself, which is what `regex::escape` writes).
fn literal_regex(s: &str) -> String {
    regex::escape(s)
}

/// The blocks written so far and the variable of each condition, so that a condition used
/// twice is computed once.
struct Circuit<'a> {
    blocks: Vec<String>,
    known: HashMap<String, String>,
    lists: &'a Lists,
}

impl Circuit<'_> {
    /// The variable for a block whose body (without its variable) is `body`; `head` is the
    /// directive and source (`map $x`, `geo $remote_addr`).
    fn define(&mut self, head: &str, body: &str) -> String {
        let key = format!("{head}\n{body}");
        if let Some(v) = self.known.get(&key) {
            return v.clone();
        }
        let var = format!("$levee_c{}", self.known.len() + 1);
        self.blocks
            .push(format!("{head} {var} {{\n{body}    default 0;\n}}\n"));
        self.known.insert(key, var.clone());
        var
    }

    /// A `map` of a request field that is `1` where `pattern` (a PCRE) matches. With
    /// `negate`, `1` where the field is present and the pattern does not match.
    fn field_map(&mut self, field: &str, pattern: &str, negate: bool) -> Result<String, String> {
        let src = source(field).ok_or_else(|| refusal(field))?;
        let body = if negate {
            format!(
                "    \"\" 0;\n    {} 0;\n    \"~^\" 1;\n",
                quoted(&format!("~{pattern}"))
            )
        } else {
            format!("    {} 1;\n", quoted(&format!("~{pattern}")))
        };
        Ok(self.define(&format!("map {src}"), &body))
    }

    /// A `geo` that is `1` for the client addresses of `nets` (or, with `negate`, for all
    /// others).
    fn geo(&mut self, nets: &[ipnet::IpNet], negate: bool) -> String {
        let (inside, outside) = if negate { (0, 1) } else { (1, 0) };
        let mut body = String::new();
        for n in nets {
            let _ = writeln!(body, "    {n} {inside};");
        }
        // A geo block's default is written like any other entry; keep the map helper's shape.
        let key = format!("geo {negate}\n{body}");
        if let Some(v) = self.known.get(&key) {
            return v.clone();
        }
        let var = format!("$levee_c{}", self.known.len() + 1);
        self.blocks.push(format!(
            "geo $remote_addr {var} {{\n    default {outside};\n{body}}}\n"
        ));
        self.known.insert(key, var.clone());
        var
    }

    /// A `map` over the values of `parts` concatenated.
    fn combine(&mut self, parts: &[String], body: &str) -> String {
        self.define(&format!("map \"{}\"", parts.concat()), body)
    }

    /// The variable that is `1` exactly where `e` holds.
    fn var(&mut self, e: &Expr) -> Result<String, String> {
        match e {
            Expr::Not(x) => {
                let v = self.var(x)?;
                Ok(self.define(&format!("map {v}"), "    0 1;\n"))
            }
            Expr::And(v) | Expr::Or(v) => {
                let parts = v
                    .iter()
                    .map(|x| self.var(x))
                    .collect::<Result<Vec<_>, _>>()?;
                let body = if matches!(e, Expr::And(_)) {
                    format!("    {} 1;\n", "1".repeat(parts.len()))
                } else {
                    "    ~1 1;\n".to_string()
                };
                Ok(self.combine(&parts, &body))
            }
            Expr::Xor(a, b) => {
                let parts = [self.var(a)?, self.var(b)?];
                Ok(self.combine(&parts, "    10 1;\n    01 1;\n"))
            }
            Expr::Flag(f) => Err(refusal(f.name())),
            Expr::Cmp { field, op, value } if field.name() == "ip.src" => match (op, value) {
                (CmpOp::Eq | CmpOp::Ne, Literal::Ip(ip)) => {
                    Ok(self.geo(&[ipnet::IpNet::from(*ip)], *op == CmpOp::Ne))
                }
                _ => Err(format!(
                    "`ip.src {}`: nginx compares client addresses only for equality and sets",
                    op.symbol()
                )),
            },
            Expr::In { field, set } if field.name() == "ip.src" => {
                let nets = set.nets(self.lists);
                Ok(self.geo(&nets, false))
            }
            Expr::Cmp {
                field,
                op,
                value: Literal::Str(s),
            } => match op {
                CmpOp::Eq | CmpOp::Ne => self.field_map(
                    field.name(),
                    &format!("^{}$", literal_regex(s)),
                    *op == CmpOp::Ne,
                ),
                _ => Err(format!(
                    "`{} {}`: nginx has no ordering of strings",
                    field.name(),
                    op.symbol()
                )),
            },
            Expr::In { field, set } => {
                let mut alternatives = Vec::new();
                for item in &set.items {
                    match item {
                        SetItem::Str(s) => alternatives.push(literal_regex(s)),
                        _ => {
                            return Err(format!(
                                "`{} in {{...}}`: only strings can be matched in nginx",
                                field.name()
                            ))
                        }
                    }
                }
                self.field_map(
                    field.name(),
                    &format!("^(?:{})$", alternatives.join("|")),
                    false,
                )
            }
            Expr::Contains { field, .. }
            | Expr::Matches { field, .. }
            | Expr::Cmp { field, .. }
                if field.is_payload() =>
            {
                Err(format!(
                    "`{field}` is a packet's payload: nginx sees HTTP requests, not packets \
                     (write it for nftables, iptables or libpcap)"
                ))
            }
            Expr::Contains { field, needle, .. } => {
                // A string field's needle is a string: its bytes are its UTF-8.
                let text = String::from_utf8_lossy(needle.as_bytes());
                self.field_map(field.name(), &literal_regex(&text), false)
            }
            Expr::Matches { field, pattern, .. } => {
                if pattern.contains(['\n', '\r']) {
                    return Err(format!(
                        "`{} matches`: a pattern with a line break cannot be written in nginx",
                        field.name()
                    ));
                }
                self.field_map(field.name(), pattern, false)
            }
            Expr::Cmp { field, .. } => Err(match source(field.name()) {
                Some(_) => format!("`{}` is compared with a non-string value", field.name()),
                None => refusal(field.name()),
            }),
        }
    }
}

/// The variables derived from the request line that field maps read.
const REQUEST_PARTS: &str = "\
# The request target as sent (absolute URIs keep their scheme and host), its path and query.
map $request $levee_target {
    \"~^\\S+ (?<levee_t>\\S*)\" $levee_t;
    default \"\";
}
map $request_uri $levee_path {
    \"~^(?<levee_p>[^?#]*)\" $levee_p;
    default \"\";
}
map $request_uri $levee_query {
    \"~\\?(?<levee_q>[^#]*)\" $levee_q;
    default \"\";
}
";

/// nginx's `rate=`: whole requests per second or per minute, exactly (nginx counts in no other
/// unit); `None` for a rate it cannot hold.
fn nginx_rate(rate: f64) -> Result<String, String> {
    match super::exact_rate(rate) {
        Ok((n, super::RateUnit::Second)) => Ok(format!("{n}r/s")),
        Ok((n, super::RateUnit::Minute)) => Ok(format!("{n}r/m")),
        _ => Err(format!(
            "rate {rate}/s is not a whole number of requests per second or per minute ({:.3} a \
             minute), which is all nginx counts; the nearest are {}r/m (rate = {}) and {}r/m \
             (rate = {})",
            rate * 60.0,
            (rate * 60.0).floor(),
            (rate * 60.0).floor() / 60.0,
            (rate * 60.0).ceil(),
            (rate * 60.0).ceil() / 60.0
        )),
    }
}

/// The whole configuration, or every rule that cannot be written.
pub fn render(file: &RulesFile, origin: &str) -> Result<String, Vec<String>> {
    let mut circuit = Circuit {
        blocks: Vec::new(),
        known: HashMap::new(),
        lists: &file.lists,
    };
    let mut problems = Vec::new();
    let mut rule_vars = Vec::new();
    for r in &file.rules {
        if let Action::RateLimit { rate, .. } = r.action {
            if let Err(why) = nginx_rate(rate) {
                problems.push(format!("rule `{}`: {why}", r.id));
            }
        }
        match circuit.var(&r.expression) {
            Ok(v) => rule_vars.push(v),
            Err(why) => problems.push(format!("rule `{}`: {why}", r.id)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }

    let mut o = String::new();
    let _ = writeln!(
        o,
        "# nginx configuration compiled by levee from {origin}.\n\
         #\n\
         # 1. Save this file where the http {{}} block includes it (Debian and Ubuntu include\n\
         #    /etc/nginx/conf.d/*.conf there), for example /etc/nginx/conf.d/levee.conf.\n\
         # 2. In each server {{}} block to protect, add once:\n\
         #        if ($levee_block) {{ return 403; }}\n\
         #    Rate limits apply from this file to every server, unless a server or location\n\
         #    has limit_req directives of its own (nginx then ignores the inherited ones).\n\
         # 3. nginx -t && nginx -s reload. To undo, remove the file and the `if` lines.\n\
         #\n\
         # Rules apply in order and the first that matches decides, as in levee. Behind a proxy\n\
         # or CDN, set the client address with set_real_ip_from/real_ip_header first: rules on\n\
         # ip.src read $remote_addr. $levee_rule names the deciding rule and $levee_log the\n\
         # log rules that matched; add them to a log_format to see what the rules did.\n"
    );
    o.push_str(REQUEST_PARTS);
    o.push_str("\n# Conditions: 1 where each holds.\n");
    for b in &circuit.blocks {
        o.push_str(b);
    }

    // The deciding rule: the first deciding rule whose value is 1.
    let deciding: Vec<usize> = (0..file.rules.len())
        .filter(|&i| file.rules[i].action != Action::Log)
        .collect();
    let _ = writeln!(
        o,
        "\n# The deciding rule: the first of the allow, block and rate_limit rules that matches."
    );
    let source: String = deciding.iter().map(|&i| rule_vars[i].as_str()).collect();
    let _ = writeln!(o, "map \"{source}\" $levee_rule {{");
    for (k, &i) in deciding.iter().enumerate() {
        let _ = writeln!(
            o,
            "    \"~^0{{{k}}}1\" {};  # {}",
            quoted(&file.rules[i].id),
            file.rules[i].action.name()
        );
    }
    let _ = writeln!(o, "    default \"\";\n}}");

    let blocking: Vec<&str> = deciding
        .iter()
        .filter(|&&i| file.rules[i].action == Action::Block)
        .map(|&i| file.rules[i].id.as_str())
        .collect();
    let _ = writeln!(o, "map $levee_rule $levee_block {{");
    for id in &blocking {
        // Exact, case-sensitive: map strings would ignore case.
        let _ = writeln!(o, "    {} 1;", quoted(&format!("~^{}$", literal_regex(id))));
    }
    let _ = writeln!(o, "    default 0;\n}}");

    let logs: Vec<usize> = (0..file.rules.len())
        .filter(|&i| file.rules[i].action == Action::Log)
        .collect();
    let mut log_parts = Vec::new();
    for &i in &logs {
        let var = format!("$levee_log_{}", i + 1);
        let _ = writeln!(
            o,
            "map {} {var} {{\n    1 {};\n    default \"\";\n}}",
            rule_vars[i],
            quoted(&format!("{} ", file.rules[i].id))
        );
        log_parts.push(var);
    }
    let _ = writeln!(
        o,
        "map $request_method $levee_log {{\n    default {};\n}}",
        quoted(&log_parts.concat())
    );

    let limits: Vec<usize> = deciding
        .iter()
        .copied()
        .filter(|&i| matches!(file.rules[i].action, Action::RateLimit { .. }))
        .collect();
    if !limits.is_empty() {
        let _ = writeln!(
            o,
            "\n# Rate limits: a request counts in a zone only when its rule decided it (nginx\n\
             # does not count an empty key). nginx passes 1 + burst requests at once, so burst\n\
             # is levee's burst less one; rates are whole requests per second or minute.\n\
             limit_req_status 429;"
        );
    }
    for &i in &limits {
        let r = &file.rules[i];
        let Action::RateLimit { rate, burst, key } = r.action else {
            continue;
        };
        let zone = format!("levee_{}", i + 1);
        let counted = match key {
            RateKey::Source => "$binary_remote_addr",
            RateKey::Destination => "$server_addr",
            RateKey::Global => "all",
        };
        let _ = writeln!(
            o,
            "# rule {}: at most {:.3} requests/s, burst {burst}, counted by {}",
            r.id,
            rate,
            key.name()
        );
        let _ = writeln!(
            o,
            "map $levee_rule ${zone}_key {{\n    {} {counted};\n    default \"\";\n}}",
            quoted(&format!("~^{}$", literal_regex(&r.id)))
        );
        let _ = writeln!(
            o,
            "limit_req_zone ${zone}_key zone={zone}:16m rate={};",
            nginx_rate(rate).expect("checked above")
        );
        let _ = writeln!(
            o,
            "limit_req zone={zone} burst={} nodelay;",
            burst.max(1) - 1
        );
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> RulesFile {
        RulesFile::parse("t.toml", text, None).unwrap()
    }

    #[test]
    fn rules_become_maps_in_order_with_blocks_and_zones() {
        let f = file(
            r#"
[[rule]]
id = "staff"
expression = "ip.src in { 192.0.2.0/24 2001:db8::/32 }"
action = "allow"

[[rule]]
id = "proxy"
expression = 'http.request.method == "CONNECT" or http.request.uri matches "^[a-z]+://"'
action = "block"

[[rule]]
id = "seen"
expression = 'http.user_agent contains "curl/"'
action = "log"

[[rule]]
id = "login"
expression = 'http.request.method == "POST" and http.request.uri.path in { "/login" "/sign.in" }'
action = "rate_limit"
rate = 0.05
burst = 6
key = "ip.src"
"#,
        );
        let o = render(&f, "t.toml").unwrap();
        // Client addresses through geo, IPv6 included.
        assert!(o.contains(
            "geo $remote_addr $levee_c1 {\n    default 0;\n    192.0.2.0/24 1;\n    2001:db8::/32 1;\n}"
        ));
        // Strings exactly and case-sensitively, metacharacters escaped.
        assert!(o.contains("map $request_method $levee_c2 {\n    \"~^CONNECT$\" 1;"));
        assert!(o.contains("map $levee_target $levee_c3 {\n    \"~^[a-z]+://\" 1;"));
        assert!(o.contains("map \"$levee_c2$levee_c3\" $levee_c4 {\n    ~1 1;"));
        assert!(o.contains("\"~^(?:/login|/sign\\\\.in)$\" 1;"));
        // The method condition is shared by both rules.
        assert_eq!(o.matches("\"~^POST$\"").count(), 1);
        // Deciding rules in order; the log rule is outside the decision.
        assert!(o.contains(
            "map \"$levee_c1$levee_c4$levee_c8\" $levee_rule {\n    \"~^0{0}1\" \"staff\";  # allow\n    \"~^0{1}1\" \"proxy\";  # block\n    \"~^0{2}1\" \"login\";  # rate_limit"
        ), "{o}");
        assert!(o.contains("map $levee_rule $levee_block {\n    \"~^proxy$\" 1;\n    default 0;"));
        assert!(o.contains("map $levee_c5 $levee_log_3 {\n    1 \"seen \";"));
        assert!(o.contains("limit_req_zone $levee_4_key zone=levee_4:16m rate=3r/m;"));
        assert!(o.contains("limit_req zone=levee_4 burst=5 nodelay;"));
    }

    #[test]
    fn negations_and_absent_headers() {
        let o = render(
            &file(
                r#"
[[rule]]
id = "r"
expression = 'http.referer != "https://shop.example/" and not ip.src == 10.0.0.1'
action = "block"
"#,
            ),
            "t",
        )
        .unwrap();
        // `!=` holds only for a header that is present.
        assert!(o.contains(
            "map $http_referer $levee_c1 {\n    \"\" 0;\n    \"~^https://shop\\\\.example/$\" 0;\n    \"~^\" 1;\n    default 0;"
        ), "{o}");
        assert!(o.contains("map $levee_c2 $levee_c3 {\n    0 1;\n    default 0;"));
    }

    #[test]
    fn fields_nginx_cannot_see_are_refused_by_name() {
        for (expr, why) in [
            ("tls.ja4 == \"t13d\"", "fingerprint"),
            ("http.response.code == 401", "response"),
            ("tcp.dstport == 80", "packet fields"),
            ("http.request.headers.names == \"Host\"", "order of headers"),
            ("ip.src > 10.0.0.1", "equality"),
        ] {
            let text = format!("[[rule]]\nid = \"x\"\nexpression = '{expr}'\naction = \"block\"\n");
            let err = render(&file(&text), "t").unwrap_err();
            assert!(err[0].contains(why), "{expr}: {err:?}");
        }
    }

    #[test]
    fn rates_are_written_exactly_or_refused() {
        let ok = |r: f64| nginx_rate(r).unwrap();
        assert_eq!(ok(5.0), "5r/s");
        assert_eq!(ok(2.5), "150r/m");
        assert_eq!(ok(74.0 / 60.0), "74r/m");
        assert_eq!(ok(1.0 / 60.0), "1r/m");
        assert_eq!(ok(0.5), "30r/m");
        // Neither looser nor stricter than the rule: refused, with what can be written.
        let e = nginx_rate(0.016).unwrap_err();
        assert!(
            e.contains("0r/m") && e.contains("1r/m (rate = 0.016666666666666666)"),
            "{e}"
        );
        assert!(nginx_rate(1.0 / 3600.0).is_err());
    }
}
