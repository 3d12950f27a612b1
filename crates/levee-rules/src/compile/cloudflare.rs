//! Expressions for Cloudflare: Network Firewall (Magic Firewall) for packets, and WAF custom
//! rules and rate limiting rules for HTTP requests.
//!
//! levee's language is Cloudflare's, so most expressions pass through as printed. What
//! differs: Cloudflare's `ip.proto` holds protocol names (`"tcp"`); each product has its own
//! fields (a rule with any other field is refused); and the WAF names TLS fingerprints
//! `cf.bot_management.ja3_hash` and `cf.bot_management.ja4`.

use crate::ast::{Expr, Literal, SetItem};

/// Fields of Cloudflare's packet-filtering schema that levee also has, with the same meaning.
const FIELDS: &[&str] = &[
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ip.len",
    "ip.ttl",
    "ip.hdr_len",
    "tcp.srcport",
    "tcp.dstport",
    "tcp.flags",
    "tcp.flags.ack",
    "tcp.flags.cwr",
    "tcp.flags.ecn",
    "tcp.flags.fin",
    "tcp.flags.push",
    "tcp.flags.reset",
    "tcp.flags.syn",
    "tcp.flags.urg",
    "udp.srcport",
    "udp.dstport",
    "icmp.type",
    "icmp.code",
];

fn proto_name(n: u64) -> Result<&'static str, String> {
    Ok(match n {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "icmpv6",
        132 => "sctp",
        other => {
            return Err(format!(
                "IP protocol {other} has no name in Cloudflare's schema"
            ))
        }
    })
}

/// Fields of the WAF's request phase that levee also has, with Cloudflare's name.
const WAF_FIELDS: &[(&str, &str)] = &[
    ("ip.src", "ip.src"),
    ("http.request.method", "http.request.method"),
    ("http.request.uri", "http.request.uri"),
    ("http.request.uri.path", "http.request.uri.path"),
    ("http.request.uri.query", "http.request.uri.query"),
    ("http.request.version", "http.request.version"),
    ("http.host", "http.host"),
    ("http.user_agent", "http.user_agent"),
    ("http.referer", "http.referer"),
    ("http.cookie", "http.cookie"),
    ("tls.ja3", "cf.bot_management.ja3_hash"),
    ("tls.ja4", "cf.bot_management.ja4"),
];

/// Which Cloudflare product the expression is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Network Firewall: packet fields.
    Network,
    /// WAF custom rules and rate limiting rules: request fields.
    Waf,
}

fn check(e: &Expr, flavor: Flavor) -> Result<(), String> {
    for f in e.fields() {
        let known = match flavor {
            Flavor::Network => FIELDS.contains(&f.name()),
            Flavor::Waf => WAF_FIELDS.iter().any(|(n, _)| *n == f.name()),
        };
        if !known {
            return Err(match flavor {
                Flavor::Network => format!(
                    "`{}` is not a field of Cloudflare's packet filtering; drop it (see the \
                     signature's alternatives) or use another target",
                    f.name()
                ),
                Flavor::Waf => format!(
                    "`{}` is not a field of Cloudflare's WAF request phase (for packet fields use \
                     the `cloudflare` target)",
                    f.name()
                ),
            });
        }
    }
    Ok(())
}

/// A list named in an expression must be one Cloudflare can hold: its list names are lowercase
/// letters, digits and underscores, at most 50 characters.
fn check_list_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "list `${name}`: Cloudflare list names are lowercase letters, digits and `_`, at \
             most 50 characters (rename it, e.g. `${}`)",
            name.to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(50)
                .collect::<String>()
        ))
    }
}

fn rewrite(e: &Expr) -> Result<String, String> {
    if let Expr::In { set, .. } = e {
        for item in &set.items {
            if let SetItem::List(name) = item {
                check_list_name(name)?;
            }
        }
    }
    Ok(match e {
        Expr::Cmp {
            field,
            op,
            value: Literal::Int(v),
        } if field.name() == "ip.proto" => {
            format!("ip.proto {} \"{}\"", op.symbol(), proto_name(*v)?)
        }
        Expr::In { field, set } if field.name() == "ip.proto" => {
            let mut names = Vec::new();
            for item in &set.items {
                match item {
                    SetItem::Int(v) => names.push(format!("\"{}\"", proto_name(*v)?)),
                    _ => return Err("protocol ranges have no names in Cloudflare's schema".into()),
                }
            }
            format!("ip.proto in {{{}}}", names.join(" "))
        }
        Expr::And(v) => v
            .iter()
            .map(child)
            .collect::<Result<Vec<_>, _>>()?
            .join(" and "),
        Expr::Or(v) => v
            .iter()
            .map(child)
            .collect::<Result<Vec<_>, _>>()?
            .join(" or "),
        Expr::Xor(a, b) => format!("{} xor {}", child(a)?, child(b)?),
        Expr::Not(x) => format!("not {}", child(x)?),
        leaf => {
            let text = leaf.to_string();
            // A leaf is printed field first: rename the field where the WAF calls it otherwise.
            match WAF_FIELDS
                .iter()
                .find(|(n, cf)| n != cf && text.starts_with(&format!("{n} ")))
            {
                Some((n, cf)) => format!("{cf}{}", &text[n.len()..]),
                None => text,
            }
        }
    })
}

/// A sub-expression, in parentheses when it is itself compound.
fn child(e: &Expr) -> Result<String, String> {
    let s = rewrite(e)?;
    Ok(if matches!(e, Expr::And(_) | Expr::Or(_) | Expr::Xor(..)) {
        format!("({s})")
    } else {
        s
    })
}

/// Longest expression Cloudflare's WAF rules take, in characters.
pub const WAF_MAX_EXPRESSION: usize = 4096;

/// The Cloudflare expression for `e`, or why there is none.
pub fn compile(e: &Expr, flavor: Flavor) -> Result<String, String> {
    check(e, flavor)?;
    let text = rewrite(e)?;
    let chars = text.chars().count();
    if flavor == Flavor::Waf && chars > WAF_MAX_EXPRESSION {
        return Err(format!(
            "the expression is {chars} characters long; Cloudflare's rules take {WAF_MAX_EXPRESSION} \
             at most (put long address sets in a list, or split the rule)"
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_plain;

    #[test]
    fn protocols_become_names_and_foreign_fields_are_refused() {
        let c = |s: &str| compile(&parse_plain(s).unwrap(), Flavor::Network);
        assert_eq!(
            c("ip.dst == 10.10.10.10 and ip.proto == udp and udp.srcport == 4500").unwrap(),
            "ip.dst == 10.10.10.10 and ip.proto == \"udp\" and udp.srcport == 4500"
        );
        assert_eq!(
            c("ip.proto in {tcp udp} or (tcp.flags == 0x02 and ip.ttl < 5)").unwrap(),
            "ip.proto in {\"tcp\" \"udp\"} or (tcp.flags == 0x02 and ip.ttl < 5)"
        );
        assert!(c("tcp.window == 1024").unwrap_err().contains("tcp.window"));
        // List names Cloudflare cannot hold are refused, with a name it can.
        let mut lists = crate::Lists::new();
        lists.insert("bad-hosts", vec!["192.0.2.0/24".parse().unwrap()]);
        lists.insert("bad_hosts", vec!["192.0.2.0/24".parse().unwrap()]);
        let e = crate::parse("ip.src in $bad-hosts", &lists).unwrap();
        let err = compile(&e, Flavor::Network).unwrap_err();
        assert!(err.contains("rename it, e.g. `$bad_hosts`"), "{err}");
        let e = crate::parse("ip.src in $bad_hosts", &lists).unwrap();
        assert_eq!(
            compile(&e, Flavor::Network).unwrap(),
            "ip.src in $bad_hosts"
        );
        // Cloudflare's packet fields have no IP flags.
        assert!(c("ip.flags.df").unwrap_err().contains("ip.flags.df"));
        assert!(c("not ip.flags.mf").unwrap_err().contains("ip.flags.mf"));
        assert!(c("dns.qry.name == \"x\"").is_err());
        assert!(c("http.request.uri.path == \"/login\"").is_err());
    }

    #[test]
    fn waf_expressions_use_request_fields_and_cloudflare_names() {
        let c = |s: &str| compile(&parse_plain(s).unwrap(), Flavor::Waf);
        assert_eq!(
            c(r#"http.request.method == "POST" and http.request.uri.path in {"/login" "/signin"}"#)
                .unwrap(),
            r#"http.request.method == "POST" and http.request.uri.path in {"/login" "/signin"}"#
        );
        assert_eq!(
            c(r#"ip.src in {192.0.2.0/24} or tls.ja4 == "t13d1516h2_8daaf6152771_02713d6af862""#)
                .unwrap(),
            r#"ip.src in {192.0.2.0/24} or cf.bot_management.ja4 == "t13d1516h2_8daaf6152771_02713d6af862""#
        );
        assert_eq!(
            c(r#"not http.user_agent contains "zgrab""#).unwrap(),
            r#"not http.user_agent contains "zgrab""#
        );
        assert!(c("tcp.dstport == 80")
            .unwrap_err()
            .contains("request phase"));
        assert!(c("http.response.code == 401").is_err());
        // Past 4,096 characters Cloudflare refuses the rule: so does levee.
        let many: Vec<String> = (0..600).map(|i| format!("\"/p{i:04}\"")).collect();
        let long = format!("http.request.uri.path in {{{}}}", many.join(" "));
        assert!(c(&long)
            .unwrap_err()
            .contains("Cloudflare's rules take 4096 at most"));
    }
}
