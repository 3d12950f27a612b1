//! Signature candidates for an attack, built from its class's header histograms.
//!
//! The most specific candidate is the conjunction of the attack's target, its class (flags,
//! protocol, service port) and every header field whose values are concentrated: the
//! destination port(s), the IP length range, the TTL range, the TCP window, the IP ID. A field
//! is used only when one value (or a short range or set) holds at least 99 % of the class's
//! packets, so spread-out fields such as spoofed source addresses never appear; and with at most
//! five such fields the union bound keeps coverage at 95 % or more. Looser candidates drop one
//! field at a time, down to target and class alone. The second pass measures every candidate
//! on the capture itself ([`crate::measure`]); the best is reported.

use levee_rules::{parse_plain, Expr};

use crate::detect::{addr_from_bits, TargetSpec};
use crate::stats::{bin_high, bin_low, central_range, ClassStats};
use crate::vector::Class;

/// Share of a class a field's value (or range) must hold to enter a signature.
const FIELD_SHARE: f64 = 0.99;

fn p(s: &str) -> Expr {
    parse_plain(s).unwrap_or_else(|e| panic!("internal signature `{s}` does not parse: {e}"))
}

/// Values of a histogram, heaviest first, until `share` of the total is covered; `None` when
/// that takes more than `max` values.
fn concentrated(hist: &[u64], share: f64, max: usize) -> Option<Vec<usize>> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let mut idx: Vec<usize> = (0..hist.len()).filter(|&i| hist[i] > 0).collect();
    idx.sort_by(|&a, &b| hist[b].cmp(&hist[a]).then(a.cmp(&b)));
    let mut acc = 0;
    let mut out = Vec::new();
    for i in idx {
        if out.len() >= max {
            return None;
        }
        acc += hist[i];
        out.push(i);
        if acc as f64 >= share * total as f64 {
            out.sort_unstable();
            return Some(out);
        }
    }
    None
}

fn int_set(field: &str, values: &[usize], hex: bool) -> String {
    let fmt = |v: usize| {
        if hex {
            format!("{v:#04x}")
        } else {
            v.to_string()
        }
    };
    if values.len() == 1 {
        format!("{field} == {}", fmt(values[0]))
    } else {
        let items: Vec<String> = values.iter().map(|&v| fmt(v)).collect();
        format!("{field} in {{{}}}", items.join(" "))
    }
}

fn target_expr(targets: &TargetSpec) -> Option<Expr> {
    match targets {
        TargetSpec::Hosts(h) if h.len() == 1 => {
            Some(p(&format!("ip.dst == {}", addr_from_bits(h[0]))))
        }
        TargetSpec::Hosts(h) if !h.is_empty() => {
            let items: Vec<String> = h.iter().map(|a| addr_from_bits(*a).to_string()).collect();
            Some(p(&format!("ip.dst in {{{}}}", items.join(" "))))
        }
        TargetSpec::Prefixes(ps) if !ps.is_empty() => {
            let items: Vec<String> = ps
                .iter()
                .map(|&(net, len)| format!("{}/{len}", addr_from_bits(net)))
                .collect();
            Some(p(&format!("ip.dst in {{{}}}", items.join(" "))))
        }
        _ => None,
    }
}

/// The condition every packet of the class meets (flags, protocol, service port).
fn class_expr(class: Class, c: &ClassStats) -> String {
    let flags = || concentrated(&c.tcp_flags, FIELD_SHARE, 3);
    match class {
        Class::Syn => match flags() {
            Some(f) => int_set("tcp.flags", &f, true),
            None => "tcp.flags.syn and not tcp.flags.ack".into(),
        },
        Class::SynAck => match flags() {
            Some(f) => int_set("tcp.flags", &f, true),
            None => "tcp.flags.syn and tcp.flags.ack".into(),
        },
        Class::Ack => match flags() {
            Some(f) => int_set("tcp.flags", &f, true),
            None => {
                "tcp.flags.ack and not tcp.flags.syn and not tcp.flags.fin and not tcp.flags.reset"
                    .into()
            }
        },
        Class::Rst => match flags() {
            Some(f) => int_set("tcp.flags", &f, true),
            None => "tcp.flags.reset and not tcp.flags.syn".into(),
        },
        Class::Fin => match flags() {
            Some(f) => int_set("tcp.flags", &f, true),
            None => "tcp.flags.fin and not tcp.flags.syn and not tcp.flags.reset".into(),
        },
        Class::TcpAnomaly => match concentrated(&c.tcp_flags, FIELD_SHARE, 8) {
            Some(f) => int_set("tcp.flags", &f, true),
            None => "ip.proto == tcp".into(),
        },
        Class::Reflection(_) => {
            let port = class.service().map_or(0, |s| s.port);
            format!("udp.srcport == {port}")
        }
        Class::Quic => "udp.dstport == 443".into(),
        Class::DnsQuery => "udp.dstport == 53".into(),
        Class::Udp => "ip.proto == udp".into(),
        Class::Icmp => {
            let v6 = c.ipv6 as f64 >= 0.99 * c.profiled as f64;
            let v4 = c.ipv6 as f64 <= 0.01 * c.profiled as f64;
            let proto = match (v4, v6) {
                (true, _) => "ip.proto == icmp",
                (_, true) => "ip.proto == icmpv6",
                _ => "ip.proto in {icmp icmpv6}",
            };
            match concentrated(&c.icmp_types, FIELD_SHARE, 2) {
                Some(t) => format!("{proto} and {}", int_set("icmp.type", &t, false)),
                None => proto.into(),
            }
        }
        Class::Fragment => "ip.frag_offset > 0".into(),
        Class::Gre => "ip.proto == gre".into(),
        Class::OtherProto => match concentrated(&c.protocols, FIELD_SHARE, 8) {
            Some(ps) => int_set("ip.proto", &ps, false),
            None => "not ip.proto in {tcp udp icmp icmpv6}".into(),
        },
        Class::Undecoded => "not ip.proto in {tcp udp icmp icmpv6}".into(),
    }
}

/// Optional conditions, each holding for at least 99 % of the class.
fn field_conditions(class: Class, c: &ClassStats) -> Vec<Expr> {
    let mut out = Vec::new();
    let port_field = if class.is_tcp() {
        Some("tcp")
    } else if matches!(class, Class::Udp) {
        Some("udp")
    } else {
        None
    };
    if let Some(proto) = port_field {
        if let Some(ports) = concentrated(&c.dst_ports, FIELD_SHARE, 8) {
            out.push(p(&int_set(&format!("{proto}.dstport"), &ports, false)));
        } else if let Some(ports) = concentrated(&c.src_ports, FIELD_SHARE, 4) {
            // A flood from fixed source ports (a reflection of an unknown service).
            out.push(p(&int_set(&format!("{proto}.srcport"), &ports, false)));
        }
    }
    if let Some((lo, hi)) = central_range(&c.lengths, FIELD_SHARE) {
        let (lo, hi) = (bin_low(lo), bin_high(hi));
        if hi - lo < 1000 {
            out.push(p(&if lo == hi {
                format!("ip.len == {lo}")
            } else {
                format!("ip.len in {{{lo}..{hi}}}")
            }));
        }
    }
    if let Some((lo, hi)) = central_range(&c.ttl, FIELD_SHARE) {
        if hi - lo <= 40 {
            out.push(p(&if lo == hi {
                format!("ip.ttl == {lo}")
            } else {
                format!("ip.ttl in {{{lo}..{hi}}}")
            }));
        }
    }
    if class.is_tcp() {
        let top = c.windows.top(4);
        let total = c.windows.total().max(1);
        let mut acc = 0;
        let mut values = Vec::new();
        for (w, n) in top {
            acc += n;
            values.push(w as usize);
            if acc as f64 >= FIELD_SHARE * total as f64 {
                values.sort_unstable();
                out.push(p(&int_set("tcp.window", &values, false)));
                break;
            }
        }
    }
    if let Some((id, n)) = c.ip_ids.top(1).pop() {
        if n as f64 >= FIELD_SHARE * c.ip_ids.total().max(1) as f64 {
            out.push(p(&format!("ip.id == {id}")));
        }
    }
    out.truncate(5);
    out
}

/// Candidate signatures, most specific first.
pub(crate) fn candidates(
    class: Class,
    c: &ClassStats,
    targets: &TargetSpec,
    zone: Option<&str>,
) -> Vec<Expr> {
    let target = target_expr(targets);
    let mut base = p(&class_expr(class, c));
    if let Some(z) = zone {
        // Names ending in the zone. The zone comes from the traffic: escaped twice, for the
        // regex and for the string literal, so no name can break the expression.
        let regex = format!("(^|\\.){}$", levee_rules::escape_regex(z));
        if let Ok(e) = parse_plain(&format!(
            "dns.qry.name matches {}",
            levee_rules::quote(&regex)
        )) {
            base = Expr::and(vec![base, e]);
        }
    }
    let optional = field_conditions(class, c);
    // Later fragments carry no transport header: a reflection that fragments needs its own
    // branch for them.
    let fragments =
        class != Class::Fragment && c.later_fragments as f64 >= 0.01 * c.profiled as f64;
    let build = |opts: &[Expr]| {
        let mut core = vec![base.clone()];
        core.extend(opts.iter().cloned());
        let core = Expr::and(core);
        let body = if fragments {
            Expr::or(vec![core, p("ip.frag_offset > 0")])
        } else {
            core
        };
        match &target {
            Some(t) => Expr::and(vec![t.clone(), body]),
            None => body,
        }
    };
    let mut out = vec![build(&optional)];
    for skip in 0..optional.len() {
        let fewer: Vec<Expr> = optional
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .map(|(_, e)| e.clone())
            .collect();
        out.push(build(&fewer));
    }
    if !optional.is_empty() {
        out.push(build(&[]));
    }
    out.dedup();
    out
}
