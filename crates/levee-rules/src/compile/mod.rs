//! Compiling rules files for the engines users run. Each target writes text the user can apply
//! as is, with a header saying what it does and how to undo it. A rule a target cannot express
//! exactly is refused with the reason; a condition is never dropped silently.

pub mod bpf;
pub mod cloudflare;
pub mod iptables;
pub mod nftables;
pub mod nginx;

use std::fmt::Write as _;

use crate::ast::{CmpOp, Expr, Literal};
use crate::file::{Action, RulesFile};

/// Why a payload condition is not a slice from the payload's start compared with bytes, the
/// only payload condition the kernel and Cloudflare targets write.
pub(crate) enum NotFromStart {
    /// `contains` or `matches`: a search.
    Search,
    /// A length, the whole payload, or a slice from its end.
    Elsewhere,
}

/// A payload condition as a slice from the payload's start (`udp.payload[4:2] == 0x0100`):
/// its first byte, the bytes compared, and `==` or `!=`.
pub(crate) fn slice_from_start<'a>(
    e: &'a Expr,
    field: &crate::Field,
) -> Result<(usize, &'a [u8], CmpOp), NotFromStart> {
    use crate::field::View;
    match (e, field.view()) {
        (
            Expr::Cmp {
                op: op @ (CmpOp::Eq | CmpOp::Ne),
                value: Literal::Bytes(bytes),
                ..
            },
            View::Slice { start, .. },
        ) if start >= 0 => Ok((start as usize, bytes, *op)),
        (Expr::Contains { .. } | Expr::Matches { .. }, _) => Err(NotFromStart::Search),
        _ => Err(NotFromStart::Elsewhere),
    }
}

/// `bytes` as big-endian words of at most 32 bits, from the first: each word's offset in
/// `bytes`, its length in bytes and its value.
pub(crate) fn words_of(bytes: &[u8]) -> impl Iterator<Item = (usize, usize, u32)> + '_ {
    bytes.chunks(4).enumerate().map(|(i, w)| {
        let value = w.iter().fold(0u32, |v, &b| (v << 8) | u32::from(b));
        (4 * i, w.len(), value)
    })
}

/// Most lines (conjunctions) one expression may expand to in a target without disjunction.
pub const MAX_LINES: usize = 64;

/// A disjunction of conjunctions of a target's matches.
pub(crate) type Lines<T> = Vec<Vec<T>>;

/// What turns a leaf condition (or its negation) into a target's lines.
pub(crate) type LeafFn<'a, T> = dyn FnMut(&Expr, bool) -> Result<Lines<T>, String> + 'a;

/// The disjunctive normal form of `e` (or of `not e` when `negate`), for targets whose rules
/// are conjunctions (nftables, iptables). `leaf` gives the conjunctions of a leaf condition or
/// of its negation, in the target's own terms; `keep` drops conjunctions that can never hold.
pub(crate) fn dnf<T: Clone>(
    e: &Expr,
    negate: bool,
    leaf: &mut LeafFn<'_, T>,
    keep: &dyn Fn(&[T]) -> bool,
    target: &str,
) -> Result<Lines<T>, String> {
    let too_many =
        || format!("the expression expands to more than {MAX_LINES} {target} lines; split it");
    match (e, negate) {
        (Expr::Not(x), n) => dnf(x, !n, leaf, keep, target),
        (Expr::And(v), false) | (Expr::Or(v), true) => {
            let mut acc: Lines<T> = vec![Vec::new()];
            for x in v {
                let part = dnf(x, negate, leaf, keep, target)?;
                let mut next = Vec::new();
                for a in &acc {
                    for b in &part {
                        let mut c = a.clone();
                        c.extend(b.iter().cloned());
                        if keep(&c) {
                            next.push(c);
                        }
                        if next.len() > MAX_LINES {
                            return Err(too_many());
                        }
                    }
                }
                acc = next;
            }
            Ok(acc)
        }
        (Expr::Or(v), false) | (Expr::And(v), true) => {
            let mut acc = Vec::new();
            for x in v {
                acc.extend(dnf(x, negate, leaf, keep, target)?);
            }
            if acc.len() > MAX_LINES {
                return Err(too_many());
            }
            Ok(acc)
        }
        (Expr::Xor(a, b), n) => {
            let ab = Expr::Or(vec![
                Expr::And(vec![(**a).clone(), Expr::Not(b.clone())]),
                Expr::And(vec![Expr::Not(a.clone()), (**b).clone()]),
            ]);
            dnf(&ab, n, leaf, keep, target)
        }
        (l, n) => leaf(l, n),
    }
}

/// A time unit kernel rate limits count in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RateUnit {
    Second,
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    const ALL: [RateUnit; 4] = [
        RateUnit::Second,
        RateUnit::Minute,
        RateUnit::Hour,
        RateUnit::Day,
    ];

    pub(crate) fn seconds(self) -> f64 {
        match self {
            RateUnit::Second => 1.0,
            RateUnit::Minute => 60.0,
            RateUnit::Hour => 3600.0,
            RateUnit::Day => 86400.0,
        }
    }

    /// The unit as nftables names it (`second`); iptables takes the first three letters.
    pub(crate) fn name(self) -> &'static str {
        match self {
            RateUnit::Second => "second",
            RateUnit::Minute => "minute",
            RateUnit::Hour => "hour",
            RateUnit::Day => "day",
        }
    }
}

/// A rate in packets per second written as a whole number of packets per second, minute, hour
/// or day, exactly; refused otherwise with the nearest rates that can be written. A limit
/// rounded up would let an attack through faster than the rule says; rounded down, it would
/// drop traffic the rule means to pass.
pub(crate) fn exact_rate(rate: f64) -> Result<(u64, RateUnit), String> {
    for unit in RateUnit::ALL {
        let count = rate * unit.seconds();
        let whole = count.round();
        if whole >= 1.0 && (count - whole).abs() <= 1e-9 * whole {
            return Ok((whole as u64, unit));
        }
    }
    let per_day = rate * RateUnit::Day.seconds();
    let (below, above) = (per_day.floor(), per_day.ceil());
    let option = |n: f64| format!("{n}/day (rate = {})", n / RateUnit::Day.seconds());
    let nearest = if below >= 1.0 {
        format!("{} or {}", option(below), option(above))
    } else {
        option(above)
    };
    Err(format!(
        "rate {rate}/s is not a whole number of packets per second, minute, hour or day \
         ({per_day:.3} a day), which is all kernel limits count; the nearest are {nearest}"
    ))
}

/// An engine levee writes rules for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// libpcap filter expressions (tcpdump, capture tools).
    Bpf,
    /// A Cloudflare Network Firewall ruleset (Rulesets API body), for packets.
    Cloudflare,
    /// Cloudflare WAF custom rules (Rulesets API body), for HTTP requests.
    CloudflareWaf,
    /// Cloudflare WAF rate limiting rules (Rulesets API body), for HTTP requests.
    CloudflareRatelimit,
    /// The items of one IP list the rules name (Lists API body).
    CloudflareList,
    /// An nftables table on the `netdev` ingress hook of a device (before conntrack).
    Nftables,
    /// An nftables table in the `inet` family, input hook.
    NftablesInet,
    /// `iptables-restore` input (IPv4, raw table).
    Iptables,
    /// `ipset restore` input: the address sets the iptables rules use.
    Ipset,
    /// nginx `geo`/`map` blocks, a 403 for blocks and `limit_req` zones, for HTTP requests.
    Nginx,
}

impl Target {
    /// The targets a rule is written for, one per engine (not the companion outputs: the
    /// inet nftables table, ipset's sets, Cloudflare's lists and rate limits).
    pub const EXPRESSING: &'static [Target] = &[
        Target::Bpf,
        Target::Nftables,
        Target::Iptables,
        Target::Cloudflare,
        Target::CloudflareWaf,
        Target::Nginx,
    ];

    /// The target of a name (or an alias), as `levee rules compile --target` takes it.
    pub fn parse(s: &str) -> Option<Target> {
        Some(match s {
            "bpf" | "tcpdump" | "pcap" => Target::Bpf,
            "cloudflare" => Target::Cloudflare,
            "cloudflare-waf" => Target::CloudflareWaf,
            "cloudflare-ratelimit" => Target::CloudflareRatelimit,
            "cloudflare-list" => Target::CloudflareList,
            "nftables" | "nft" => Target::Nftables,
            "nftables-inet" => Target::NftablesInet,
            "iptables" => Target::Iptables,
            "ipset" => Target::Ipset,
            "nginx" => Target::Nginx,
            _ => return None,
        })
    }

    /// The name `--target` takes.
    pub fn name(self) -> &'static str {
        match self {
            Target::Bpf => "bpf",
            Target::Cloudflare => "cloudflare",
            Target::CloudflareWaf => "cloudflare-waf",
            Target::CloudflareRatelimit => "cloudflare-ratelimit",
            Target::CloudflareList => "cloudflare-list",
            Target::Nftables => "nftables",
            Target::NftablesInet => "nftables-inet",
            Target::Iptables => "iptables",
            Target::Ipset => "ipset",
            Target::Nginx => "nginx",
        }
    }

    /// Every target's name.
    pub const NAMES: &'static [&'static str] = &[
        "bpf",
        "cloudflare",
        "cloudflare-waf",
        "cloudflare-ratelimit",
        "cloudflare-list",
        "nftables",
        "nftables-inet",
        "iptables",
        "ipset",
        "nginx",
    ];
}

/// Rules a target could not express, each with the reason.
#[derive(Debug, thiserror::Error)]
#[error("{} rule(s) cannot be compiled; nothing was written\n{}", problems.len(), problems.join("\n"))]
pub struct CompileError {
    /// Each rule refused, with its id and why.
    pub problems: Vec<String>,
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The rule's id.
    pub id: String,
    /// The rule in the target's language.
    pub text: String,
}

/// The libpcap filter of every blocking rule (and rate limit: a filter can only select what
/// it limits), or every rule that could not be compiled.
pub fn compile_bpf(file: &RulesFile) -> Result<Vec<Compiled>, CompileError> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for r in &file.rules {
        if !matches!(r.action, Action::Block | Action::RateLimit { .. }) {
            continue;
        }
        match bpf::compile(&r.expression, &file.lists) {
            Ok(text) => out.push(Compiled {
                id: r.id.clone(),
                text,
            }),
            Err(why) => problems.push(format!("rule `{}`: {why}", r.id)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(CompileError { problems })
    }
}

/// How rules are written beyond their own text.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// The interface of the nftables netdev ingress hook.
    pub device: &'a str,
    /// For nftables and iptables: `log` rules send packets to this NFLOG group (for ulogd2, or
    /// `tcpdump -i nflog:N`) instead of the kernel log.
    pub log_group: Option<u16>,
    /// For `cloudflare-list`: which list (needed when the file has more than one).
    pub list: Option<&'a str>,
}

/// The whole output file for a target: header, then the rules. `device` is the interface of
/// the nftables netdev hook.
pub fn render(
    file: &RulesFile,
    target: Target,
    origin: &str,
    device: &str,
) -> Result<String, CompileError> {
    render_with(
        file,
        target,
        origin,
        &Options {
            device,
            log_group: None,
            list: None,
        },
    )
}

/// [`render`] with every option.
pub fn render_with(
    file: &RulesFile,
    target: Target,
    origin: &str,
    options: &Options<'_>,
) -> Result<String, CompileError> {
    let device = options.device;
    match target {
        Target::Nftables => {
            return nftables::render(file, Some(device), origin, options.log_group)
                .map_err(|problems| CompileError { problems })
        }
        Target::NftablesInet => {
            return nftables::render(file, None, origin, options.log_group)
                .map_err(|problems| CompileError { problems })
        }
        Target::Iptables | Target::Ipset => {
            let (ipt, ips) = iptables::render(file, origin, options.log_group)
                .map_err(|problems| CompileError { problems })?;
            return Ok(if target == Target::Iptables { ipt } else { ips });
        }
        Target::Nginx => {
            return nginx::render(file, origin).map_err(|problems| CompileError { problems })
        }
        Target::Cloudflare => {
            return cloudflare::render_network(file, origin)
                .map_err(|problems| CompileError { problems })
        }
        Target::CloudflareWaf => {
            return cloudflare::render_waf(file, origin)
                .map_err(|problems| CompileError { problems })
        }
        Target::CloudflareRatelimit => {
            return cloudflare::render_ratelimit(file, origin)
                .map_err(|problems| CompileError { problems })
        }
        Target::CloudflareList => {
            return cloudflare::render_list(file, options.list)
                .map_err(|problems| CompileError { problems })
        }
        Target::Bpf => {}
    }
    let compiled = compile_bpf(file)?;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# libpcap filters compiled by levee from {origin}: one line per blocking rule,\n\
         # each matching exactly what the rule matches (IPv4, and IPv6 without extension\n\
         # headers; untagged or single-VLAN frames). Use one with libpcap's optimizer off\n\
         # (-O: it still miscompiles some filters, libpcap issues #1699 and #1726):\n\
         #   tcpdump -O -r capture.pcap \"$(sed -n 'Np' this-file)\"\n\
         # (or -i on an Ethernet interface). Nothing is installed: there is nothing to remove."
    );
    for (c, r) in compiled.iter().zip(
        file.rules
            .iter()
            .filter(|r| matches!(r.action, Action::Block | Action::RateLimit { .. })),
    ) {
        let _ = writeln!(
            o,
            "# {} ({}){}",
            c.id,
            r.action.name(),
            r.description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        let _ = writeln!(o, "{}", c.text);
    }
    Ok(o)
}

/// How to send what a Cloudflare target wrote, for the user's terminal (the output itself is
/// the JSON body and nothing else).
pub fn cloudflare_hint(target: Target, file: &RulesFile) -> Option<String> {
    let api = "https://api.cloudflare.com/client/v4";
    let auth =
        "-H \"Authorization: Bearer $CLOUDFLARE_API_TOKEN\" -H \"Content-Type: application/json\"";
    let lists: Vec<&str> = file.lists.names().collect();
    let lists_note = if lists.is_empty() {
        String::new()
    } else {
        format!(
            "\nThe rules name IP lists ({}): create each (kind \"ip\") and fill it first, with the body of\n  levee rules compile FILE --target cloudflare-list --list NAME > NAME.json\n  curl -X PUT {api}/accounts/$ACCOUNT_ID/rules/lists/$LIST_ID/items {auth} --data @NAME.json",
            lists.join(", ")
        )
    };
    let limits = file
        .rules
        .iter()
        .filter(|r| matches!(r.action, Action::RateLimit { .. }))
        .count();
    Some(match target {
        Target::Cloudflare => format!(
            "Create the ruleset with:\n  curl -X POST {api}/accounts/$ACCOUNT_ID/rulesets {auth} --data @ruleset.json\nDelete it (DELETE .../rulesets/$RULESET_ID) to undo.{lists_note}"
        ),
        Target::CloudflareWaf => format!(
            "Create the custom rules with:\n  curl -X POST {api}/zones/$ZONE_ID/rulesets {auth} --data @custom.json\nDelete the ruleset to undo.{}{lists_note}",
            if limits > 0 {
                format!("\n{limits} rate limit(s) are not in it: write them with --target cloudflare-ratelimit.")
            } else {
                String::new()
            }
        ),
        Target::CloudflareRatelimit => format!(
            "Create the rate limiting rules with:\n  curl -X POST {api}/zones/$ZONE_ID/rulesets {auth} --data @ratelimit.json\nBlocking over the rate without a fixed duration (mitigation_timeout 0) needs an Enterprise plan.{lists_note}"
        ),
        _ => return None,
    })
}

/// The targets a field can be written for, in [`Target::EXPRESSING`] order: those whose
/// compiler takes a rule testing it (equality with a value of its type, or the flag itself
/// for a boolean). Asked of the compilers themselves, so it never disagrees with them.
pub fn expressible(field: &str) -> Vec<Target> {
    let Some(def) = levee_decode::field_def(field) else {
        return Vec::new();
    };
    // A payload is probed with the slices each target takes: iptables' u32 reads a word back
    // from where it ends, Cloudflare needs the rule pinned to IPv4.
    let conditions: Vec<String> = match def.kind {
        levee_decode::FieldKind::Bool => vec![field.to_string()],
        levee_decode::FieldKind::Int => vec![format!("{field} == 1")],
        levee_decode::FieldKind::Ip => vec![format!("{field} == 192.0.2.1")],
        levee_decode::FieldKind::Str => vec![format!("{field} == \"x\"")],
        levee_decode::FieldKind::Bytes => vec![
            format!("{field}[0:1] == 0x00"),
            format!("{field}[4:4] == 0x00000000"),
            format!("ip.dst == 192.0.2.1 and {field}[0:4] == 0x00000000"),
        ],
    };
    let files: Vec<RulesFile> = conditions
        .iter()
        .filter_map(|condition| {
            let text = format!(
                "version = 1\n[[rule]]\nid = \"probe\"\nexpression = '{condition}'\naction = \"block\"\n"
            );
            RulesFile::parse("field probe", &text, None).ok()
        })
        .collect();
    Target::EXPRESSING
        .iter()
        .copied()
        .filter(|&t| {
            files
                .iter()
                .any(|file| render(file, t, "field probe", "eth0").is_ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_written_exactly_or_refused() {
        assert_eq!(exact_rate(200.0), Ok((200, RateUnit::Second)));
        assert_eq!(exact_rate(0.5), Ok((30, RateUnit::Minute)));
        assert_eq!(exact_rate(2.5), Ok((150, RateUnit::Minute)));
        assert_eq!(exact_rate(1.0 / 3600.0), Ok((1, RateUnit::Hour)));
        assert_eq!(exact_rate(86.0 / 86400.0), Ok((86, RateUnit::Day)));
        let e = exact_rate(0.001).unwrap_err();
        assert!(e.contains("86.400 a day"), "{e}");
        assert!(e.contains("86/day") && e.contains("87/day"), "{e}");
        // What the message proposes is taken.
        assert_eq!(exact_rate(87.0 / 86400.0), Ok((87, RateUnit::Day)));
        let e = exact_rate(1e-6).unwrap_err();
        assert!(e.contains("the nearest are 1/day"), "{e}");
        assert!(exact_rate(1.0 / 7.0).is_err());
    }

    fn limit(rate: &str) -> RulesFile {
        let text = format!(
            "[[rule]]\nid = \"r\"\nexpression = 'ip.src in {{192.0.2.0/24}}'\naction = \"rate_limit\"\n\
             rate = {rate}\nburst = 5\nkey = \"ip.src\"\n"
        );
        RulesFile::parse("t.toml", &text, None).unwrap()
    }

    #[test]
    fn every_target_writes_sub_second_rates_exactly_or_refuses_them() {
        let f = limit("0.5");
        let nft = render(&f, Target::Nftables, "t", "eth0").unwrap();
        assert!(
            nft.contains("limit rate over 30/minute burst 5 packets"),
            "{nft}"
        );
        let ipt = render(&f, Target::Iptables, "t", "eth0").unwrap();
        assert!(ipt.contains("--hashlimit-above 30/min "), "{ipt}");
        let ngx = render(&f, Target::Nginx, "t", "eth0").unwrap();
        assert!(ngx.contains("rate=30r/m;"), "{ngx}");
        let cf = render(&f, Target::CloudflareRatelimit, "t", "eth0").unwrap();
        assert!(
            cf.contains("\"period\": 10") && cf.contains("\"requests_per_period\": 5"),
            "{cf}"
        );
        let f = limit("0.0002777777777777778");
        let nft = render(&f, Target::Nftables, "t", "eth0").unwrap();
        assert!(
            nft.contains("limit rate over 1/hour burst 5 packets"),
            "{nft}"
        );
        assert!(render(&f, Target::Nginx, "t", "eth0").is_err());
        // Cloudflare's Network Firewall has no rate limit levee can write: refused.
        let e = render(&limit("5"), Target::Cloudflare, "t", "eth0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Network Firewall rules block or skip"), "{e}");
        // One packet per 1000 s is no whole number a day: refused, never rounded to 1/s.
        let f = limit("0.001");
        let e = render(&f, Target::CloudflareRatelimit, "t", "eth0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rates it can count"), "{e}");
        for t in [Target::Nftables, Target::Iptables, Target::Nginx] {
            let e = render(&f, t, "t", "eth0").unwrap_err().to_string();
            assert!(
                e.contains("rule `r`: rate 0.001/s is not a whole number"),
                "{e}"
            );
        }
    }
}
