//! Rules as an nftables ruleset: one table of levee's own, loaded atomically with `nft -f`.
//!
//! nftables rules are conjunctions, so each expression is rewritten as a disjunction of
//! conjunctions; each conjunction becomes one line of the rule's own chain, jumping to the
//! rule's action chain, whose counter therefore counts every packet the rule decides exactly
//! once. The main chain jumps to the rule chains in order: the first rule that matches decides,
//! as in `levee simulate`.
//!
//! A condition on a field the packet lacks is false, as in levee: `not tcp.dstport == 80`
//! becomes "not TCP, or TCP with another port". Transport fields are read from the transport
//! header nftables locates (first fragments only, through IPv6 extension headers).

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::ast::{CmpOp, Expr, Literal};
use crate::field::FieldType;
use crate::file::{Action, RateKey, RulesFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

/// One nft match, with the IP version it implies.
#[derive(Debug, Clone)]
struct Atom {
    text: String,
    family: Family,
}

type Conj = Vec<Atom>;

fn atom(text: impl Into<String>, family: Family) -> Atom {
    Atom {
        text: text.into(),
        family,
    }
}

/// How a field reads in nft, per IP version, and the match that says the layer exists.
struct Access {
    v4: Option<&'static str>,
    v6: Option<&'static str>,
    /// Added to the value on IPv6 (`ip6 length` excludes the 40-byte header levee counts).
    v6_offset: i64,
    /// The matches for "this packet lacks the field" (a negation also holds there).
    absent: &'static [(&'static str, Family)],
}

fn access(name: &str) -> Option<Access> {
    const NOT_IP: &[(&str, Family)] = &[("meta protocol != { ip, ip6 }", Family::Any)];
    const NOT_TCP: &[(&str, Family)] = &[("meta l4proto != tcp", Family::Any)];
    const NOT_ICMP: &[(&str, Family)] = &[("meta l4proto != { icmp, ipv6-icmp }", Family::Any)];
    const NOT_UDP: &[(&str, Family)] = &[("meta l4proto != udp", Family::Any)];
    let ip = |v4, v6, off| Access {
        v4: Some(v4),
        v6: Some(v6),
        v6_offset: off,
        absent: NOT_IP,
    };
    Some(match name {
        "ip.ttl" => ip("ip ttl", "ip6 hoplimit", 0),
        "ip.len" => ip("ip length", "ip6 length", -40),
        "ip.proto" => ip("meta l4proto", "meta l4proto", 0),
        "ip.id" => Access {
            v4: Some("ip id"),
            v6: None,
            v6_offset: 0,
            absent: NOT_IP,
        },
        "tcp.srcport" => Access {
            v4: Some("tcp sport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
        },
        "tcp.dstport" => Access {
            v4: Some("tcp dport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
        },
        "tcp.window" => Access {
            v4: Some("tcp window"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
        },
        // Nine flag bits (NS to FIN), as levee counts them.
        // A raw read of the transport header: nft adds no protocol dependency of its own.
        "tcp.flags" => Access {
            v4: Some("meta l4proto tcp @th,96,16 & 0x1ff"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
        },
        "udp.srcport" => Access {
            v4: Some("udp sport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_UDP,
        },
        "udp.dstport" => Access {
            v4: Some("udp dport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_UDP,
        },
        "ip.frag_offset" => Access {
            v4: Some("ip frag-off & 0x1fff"),
            v6: Some("frag frag-off"),
            v6_offset: 0,
            absent: NOT_IP,
        },
        "icmp.type" => Access {
            v4: Some("icmp type"),
            v6: Some("icmpv6 type"),
            v6_offset: 0,
            absent: NOT_ICMP,
        },
        "icmp.code" => Access {
            v4: Some("icmp code"),
            v6: Some("icmpv6 code"),
            v6_offset: 0,
            absent: NOT_ICMP,
        },
        "udp.len" => Access {
            v4: Some("udp length"),
            v6: None,
            v6_offset: 0,
            absent: NOT_UDP,
        },
        _ => return None,
    })
}

/// Transport fields read the same for both IP versions: one accessor, no family.
fn version_free(name: &str) -> bool {
    name.starts_with("tcp.") || name.starts_with("udp.") || name == "ip.proto"
}

fn op_text(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "== ",
        CmpOp::Ne => "!= ",
        CmpOp::Lt => "< ",
        CmpOp::Le => "<= ",
        CmpOp::Gt => "> ",
        CmpOp::Ge => ">= ",
    }
}

fn int_set_text(ranges: &[(i64, i64)]) -> String {
    let items: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    format!("{{ {} }}", items.join(", "))
}

/// Conjunctions for an integer condition, `negate` giving its complement (with absence).
fn int_leaf(
    name: &str,
    test: &dyn Fn(&str, i64) -> Option<String>,
    negate: bool,
) -> Result<Vec<Conj>, String> {
    let a = access(name).ok_or_else(|| format!("`{name}` has no nftables match levee writes"))?;
    let mut out = Vec::new();
    let versions: Vec<(Option<&str>, Family, i64)> = if version_free(name) {
        vec![(a.v4, Family::Any, 0)]
    } else {
        vec![(a.v4, Family::V4, 0), (a.v6, Family::V6, a.v6_offset)]
    };
    for (acc, fam, off) in versions {
        let Some(acc) = acc else { continue };
        if let Some(t) = test(acc, off) {
            out.push(vec![atom(t, fam)]);
        }
    }
    if negate {
        for (t, f) in a.absent {
            out.push(vec![atom(*t, *f)]);
        }
    }
    Ok(out)
}

fn addr_leaf(name: &str, nets: &[IpNet], negate: bool) -> Result<Vec<Conj>, String> {
    let dir = match name {
        "ip.src" => "saddr",
        "ip.dst" => "daddr",
        other => return Err(format!("`{other}` has no nftables match levee writes")),
    };
    let mut out = Vec::new();
    for (fam, proto) in [(Family::V4, "ip"), (Family::V6, "ip6")] {
        let items: Vec<String> = nets
            .iter()
            .filter(|n| {
                matches!(
                    (n, fam),
                    (IpNet::V4(_), Family::V4) | (IpNet::V6(_), Family::V6)
                )
            })
            .map(|n| {
                if n.prefix_len() == n.max_prefix_len() {
                    n.addr().to_string()
                } else {
                    n.to_string()
                }
            })
            .collect();
        let neg = if negate { "!= " } else { "" };
        match (items.len(), negate) {
            (0, false) => {}
            // An address of the other version is never in the set.
            (0, true) => out.push(vec![atom(format!("meta protocol {proto}"), fam)]),
            (1, _) => out.push(vec![atom(format!("{proto} {dir} {neg}{}", items[0]), fam)]),
            _ => out.push(vec![atom(
                format!("{proto} {dir} {neg}{{ {} }}", items.join(", ")),
                fam,
            )]),
        }
    }
    if negate {
        out.push(vec![atom("meta protocol != { ip, ip6 }", Family::Any)]);
    }
    Ok(out)
}

/// The disjunctive normal form of a leaf, or of its negation.
fn leaf(e: &Expr, negate: bool, lists: &crate::Lists) -> Result<Vec<Conj>, String> {
    match e {
        Expr::Flag(f) => {
            let bit = crate::field::tcp_flag_bit(f.name())
                .ok_or_else(|| format!("`{}` has no nftables match levee writes", f.name()))?;
            let t = if negate { "==" } else { "!=" };
            int_leaf(
                "tcp.flags",
                &|acc, _| Some(format!("{acc} & {bit:#x} {t} 0")),
                negate,
            )
        }
        Expr::Cmp { field, op, value } => match (field.ty(), value) {
            (FieldType::Ip, Literal::Ip(ip)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => addr_leaf(
                field.name(),
                &[IpNet::from(*ip)],
                negate != (*op == CmpOp::Ne),
            ),
            (FieldType::Int, Literal::Int(v)) => {
                let v = *v as i64;
                let op = if negate { complement(*op) } else { *op };
                let name = field.name();
                int_leaf(
                    name,
                    &|acc, off| {
                        let w = v + off;
                        // A comparison no value can pass is left out.
                        (w >= 0).then(|| format!("{acc} {}{w}", op_text(op)))
                    },
                    negate,
                )
            }
            (FieldType::Bool, Literal::Bool(b)) => leaf(
                &Expr::Flag(*field),
                negate != (*b != (*op == CmpOp::Eq)),
                lists,
            ),
            _ => Err(format!(
                "`{}` {} cannot be written for nftables",
                field.name(),
                op.symbol()
            )),
        },
        Expr::In { field, set } => match field.ty() {
            FieldType::Ip => addr_leaf(field.name(), &set.nets(lists), negate),
            FieldType::Int => {
                let ranges = set.int_ranges.clone();
                int_leaf(
                    field.name(),
                    &|acc, off| {
                        let shifted: Vec<(i64, i64)> = ranges
                            .iter()
                            .map(|&(a, b)| (a as i64 + off, b as i64 + off))
                            .filter(|&(_, b)| b >= 0)
                            .map(|(a, b)| (a.max(0), b))
                            .collect();
                        if shifted.is_empty() {
                            return negate.then(|| format!("{acc} >= 0"));
                        }
                        let neg = if negate { "!= " } else { "" };
                        Some(format!("{acc} {neg}{}", int_set_text(&shifted)))
                    },
                    negate,
                )
            }
            _ => Err(format!("`{}` cannot be written for nftables", field.name())),
        },
        Expr::Contains { field, .. } | Expr::Matches { field, .. } => Err(format!(
            "`{}`: nftables cannot match text in a decoded field",
            field.name()
        )),
        _ => unreachable!("compound expressions are expanded by the caller"),
    }
}

fn complement(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
    }
}

/// IPv4 and IPv6 matches together can never hold.
fn one_family(c: &[Atom]) -> bool {
    !(c.iter().any(|t| t.family == Family::V4) && c.iter().any(|t| t.family == Family::V6))
}

/// Disjunctive normal form of `e` (or of `not e`).
fn dnf(e: &Expr, negate: bool, lists: &crate::Lists) -> Result<Vec<Conj>, String> {
    super::dnf(
        e,
        negate,
        &mut |l, n| leaf(l, n, lists),
        &one_family,
        "nftables",
    )
}

fn chain_name(i: usize) -> String {
    format!("rule_{i}")
}

/// The ruleset for the `netdev` ingress hook of `device`, or for the `inet` family's input
/// hook when `device` is `None`.
pub fn render(file: &RulesFile, device: Option<&str>, origin: &str) -> Result<String, Vec<String>> {
    let mut problems = Vec::new();
    if let Some(d) = device {
        let ok = !d.is_empty()
            && d.len() <= 15
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-@:".contains(c));
        if !ok {
            problems.push(format!("`{d}` is not an interface name"));
        }
    }
    let mut bodies = Vec::new();
    for r in &file.rules {
        if let Action::RateLimit { rate, .. } = r.action {
            if let Err(e) = super::exact_rate(rate) {
                problems.push(format!("rule `{}`: {e}", r.id));
            }
        }
        match dnf(&r.expression, false, &file.lists) {
            Ok(lines) => bodies.push(lines),
            Err(e) => {
                problems.push(format!("rule `{}`: {e}", r.id));
                bodies.push(Vec::new());
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let (family, hook) = match device {
        Some(d) => (
            "netdev",
            format!("type filter hook ingress device \"{d}\" priority -500; policy accept;"),
        ),
        None => (
            "inet",
            "type filter hook input priority -10; policy accept;".to_string(),
        ),
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# nftables ruleset compiled by levee from {origin}.\n\
         # Apply:  nft -f this-file   (replaces only table {family} levee, atomically)\n\
         # Remove: nft delete table {family} levee\n\
         # Counters: nft list table {family} levee   (each act_N chain counts what rule N decided;\n\
         #           a rate limit's later counters count what it dropped)\n\
         table {family} levee\n\
         delete table {family} levee\n\
         table {family} levee {{"
    );
    for (i, r) in file.rules.iter().enumerate() {
        if let Action::RateLimit { key, .. } = r.action {
            if key != RateKey::Global {
                for (fam, ty) in [("4", "ipv4_addr"), ("6", "ipv6_addr")] {
                    let _ = writeln!(
                        o,
                        "  set meter_{i}_v{fam} {{ type {ty}; size 65535; flags dynamic,timeout; timeout 60s; }}"
                    );
                }
            }
        }
    }
    let _ = writeln!(o, "  chain main {{\n    {hook}");
    for i in 0..file.rules.len() {
        let _ = writeln!(o, "    jump {}", chain_name(i));
    }
    let _ = writeln!(o, "  }}");
    for (i, (r, lines)) in file.rules.iter().zip(&bodies).enumerate() {
        let _ = writeln!(o, "  # {}: {}", r.id, r.expression);
        let _ = writeln!(o, "  chain {} {{", chain_name(i));
        for conj in lines {
            let matches: Vec<&str> = conj.iter().map(|a| a.text.as_str()).collect();
            let _ = writeln!(o, "    {} goto act_{i}", matches.join(" "));
        }
        let _ = writeln!(o, "  }}");
        let verdict = match &r.action {
            Action::Block => "counter drop".to_string(),
            Action::Allow => "counter accept".to_string(),
            Action::Log => format!("counter log prefix \"levee {}: \"", r.id.replace('"', "")),
            Action::RateLimit { rate, burst, key } => {
                let (count, unit) = super::exact_rate(*rate).expect("checked above");
                let per = format!("{count}/{} burst {burst} packets", unit.name());
                match key {
                    RateKey::Global => {
                        format!("counter limit rate over {per} counter drop\n    accept")
                    }
                    RateKey::Source | RateKey::Destination => {
                        let dir = if *key == RateKey::Source {
                            "saddr"
                        } else {
                            "daddr"
                        };
                        format!(
                            "counter update @meter_{i}_v4 {{ ip {dir} limit rate over {per} }} counter drop\n    \
                             update @meter_{i}_v6 {{ ip6 {dir} limit rate over {per} }} counter drop\n    accept"
                        )
                    }
                }
            }
        };
        let _ = writeln!(o, "  chain act_{i} {{\n    {verdict}\n  }}");
    }
    let _ = writeln!(o, "}}");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(expr: &str) -> String {
        let text = format!("[[rule]]\nid = \"r\"\nexpression = '{expr}'\naction = \"block\"\n");
        let f = RulesFile::parse("t", &text, None).unwrap();
        render(&f, Some("eth0"), "t").unwrap()
    }

    #[test]
    fn conjunctions_become_lines_and_negations_keep_absence() {
        let r = one("ip.dst == 10.10.10.10 and udp.srcport == 4500 and ip.len == 232");
        assert!(
            r.contains("ip daddr 10.10.10.10 udp sport == 4500 ip length == 232 goto act_0"),
            "{r}"
        );
        assert!(!r.contains("ip6 length"), "v4 and v6 in one line: {r}");
        let r = one("ip.dst == 10.10.10.10 and ((udp.srcport == 53 and ip.len == 1500) or ip.frag_offset > 0)");
        assert!(r.matches("goto act_0").count() >= 1, "{r}");
        let r = one("not tcp.dstport == 80");
        assert!(r.contains("tcp dport != 80 goto act_0"), "{r}");
        assert!(r.contains("meta l4proto != tcp goto act_0"), "{r}");
        let r = one("tcp.flags == 0x02 and ip.ttl in {48..55}");
        assert!(
            r.contains("meta l4proto tcp @th,96,16 & 0x1ff == 2 ip ttl { 48-55 } goto act_0"),
            "{r}"
        );
        assert!(r.contains("ip6 hoplimit { 48-55 }"), "{r}");
        assert!(r.contains("counter drop"));
        assert!(r.starts_with("# nftables ruleset"));
    }

    #[test]
    fn raw_transport_reads_are_guarded_by_the_protocol() {
        // `@th` reads any transport header: without the guard a UDP or ICMP packet whose bytes
        // 12-13 look like a SYN would be dropped.
        for e in ["tcp.flags.syn", "tcp.flags == 0x02", "tcp.flags in {2 18}"] {
            let r = one(e);
            for l in r.lines().filter(|l| l.contains("@th")) {
                assert!(l.contains("meta l4proto tcp @th"), "{e}: {l}");
            }
        }
    }
}
