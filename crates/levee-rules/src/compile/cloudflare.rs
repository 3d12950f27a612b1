//! Expressions for Cloudflare Network Firewall (Magic Firewall) and WAF custom rules.
//!
//! levee's language is Cloudflare's, so most expressions pass through as printed. Two things
//! differ: Cloudflare's `ip.proto` holds protocol names (`"tcp"`), and only the fields its
//! packet-filtering schema has can be used; a rule with any other field is refused.

use crate::ast::{Expr, Literal, SetItem};

/// Fields of Cloudflare's packet-filtering schema that levee also has, with the same meaning.
const FIELDS: &[&str] = &[
    "ip.src",
    "ip.dst",
    "ip.proto",
    "ip.len",
    "ip.ttl",
    "ip.hdr_len",
    "ip.flags.df",
    "ip.flags.mf",
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

fn check(e: &Expr) -> Result<(), String> {
    for f in e.fields() {
        if !FIELDS.contains(&f.name()) {
            return Err(format!(
                "`{}` is not a field of Cloudflare's packet filtering; drop it (see the \
                 signature's alternatives) or use another target",
                f.name()
            ));
        }
    }
    Ok(())
}

fn rewrite(e: &Expr) -> Result<String, String> {
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
        leaf => leaf.to_string(),
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

/// The Cloudflare expression for `e`, or why there is none.
pub fn compile(e: &Expr) -> Result<String, String> {
    check(e)?;
    rewrite(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_plain;

    #[test]
    fn protocols_become_names_and_foreign_fields_are_refused() {
        let c = |s: &str| compile(&parse_plain(s).unwrap());
        assert_eq!(
            c("ip.dst == 10.10.10.10 and ip.proto == udp and udp.srcport == 4500").unwrap(),
            "ip.dst == 10.10.10.10 and ip.proto == \"udp\" and udp.srcport == 4500"
        );
        assert_eq!(
            c("ip.proto in {tcp udp} or (tcp.flags == 0x02 and ip.ttl < 5)").unwrap(),
            "ip.proto in {\"tcp\" \"udp\"} or (tcp.flags == 0x02 and ip.ttl < 5)"
        );
        assert!(c("tcp.window == 1024").unwrap_err().contains("tcp.window"));
        assert!(c("dns.qry.name == \"x\"").is_err());
    }
}
