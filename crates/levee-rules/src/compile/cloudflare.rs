//! Rules for Cloudflare, written as the bodies its Rulesets and Lists APIs take, so that
//! `curl --data @file` deploys them as they are:
//!
//! - `cloudflare`: a Network Firewall ruleset (phase `magic_transit`) for packets;
//! - `cloudflare-waf`: WAF custom rules (phase `http_request_firewall_custom`) for requests;
//! - `cloudflare-ratelimit`: WAF rate limiting rules (phase `http_ratelimit`);
//! - `cloudflare-list`: the items of one IP list the rules name (`$name`).
//!
//! Only fields, functions and limits of Cloudflare's reference are written. levee's language is
//! Cloudflare's, so most conditions pass through as printed; what differs:
//! - `ip.proto` holds protocol names (`"tcp"`) in Cloudflare's packet schema;
//! - packet fields Cloudflare lacks are read from the raw headers with its `bit_slice`
//!   function (`tcp.window` is `bit_slice("tcp", 112, 128)`); `tcp.flags` too, because
//!   Cloudflare's is the flags byte and levee's counts the NS bit as well;
//! - raw IP-header slices and ICMP fields mean what levee means only on IPv4 (levee also reads
//!   IPv6 fragment headers and ICMPv6): a rule must pin IPv4 addresses before it uses them;
//! - the WAF names TLS fingerprints `cf.bot_management.ja3_hash` and `cf.bot_management.ja4`;
//! - Cloudflare runs every custom rule before any rate limiting rule, where levee applies rules
//!   in file order: a rule that follows a rate limit is written `and not (that limit)`, so each
//!   request meets the same rule as in levee.
//!
//! Anything else is refused with the reason; nothing is widened or dropped silently.

use serde_json::{json, Value as Json};

use crate::ast::{CmpOp, Expr, Literal, Set, SetItem};
use crate::file::{Action, RateKey, RulesFile};
use crate::Lists;

/// Which Cloudflare product an expression is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Network Firewall: packet fields.
    Network,
    /// WAF custom rules and rate limiting rules: request fields.
    Waf,
}

/// Network Firewall fields levee writes under their own name, with the same meaning.
const NETWORK_FIELDS: &[&str] = &[
    "ip.src",
    "ip.dst",
    "ip.len",
    "ip.ttl",
    "tcp.srcport",
    "tcp.dstport",
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
];

/// Network Firewall fields whose reference speaks of ICMP only, where levee's also read ICMPv6.
const NETWORK_FIELDS_V4: &[&str] = &["icmp.type", "icmp.code"];

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

/// A levee field read from raw header bits: `bit_slice(proto, start, end)` (bits `start` to
/// `end`, end excluded, from the start of that protocol's header), in units of `unit`.
#[derive(Debug, Clone, Copy)]
struct Slice {
    proto: &'static str,
    start: u32,
    end: u32,
    /// The value counts `unit`s: header lengths are 32-bit words on the wire, bytes in levee.
    unit: u64,
    /// Only what levee means on IPv4 (IP header bits; levee reads IPv6's elsewhere).
    v4_only: bool,
}

impl Slice {
    fn call(self) -> String {
        format!(
            "bit_slice(\"{}\", {}, {})",
            self.proto, self.start, self.end
        )
    }
}

fn slice(field: &str) -> Option<Slice> {
    let s = |proto, start, end, unit, v4_only| Slice {
        proto,
        start,
        end,
        unit,
        v4_only,
    };
    Some(match field {
        // The version nibble is where it is in both IP versions.
        "ip.version" => s("ip", 0, 4, 1, false),
        "ip.hdr_len" => s("ip", 4, 8, 4, true),
        "ip.dsfield" => s("ip", 8, 16, 1, true),
        "ip.id" => s("ip", 32, 48, 1, true),
        "ip.frag_offset" => s("ip", 51, 64, 1, true),
        // The NS bit and the flags byte: the nine bits levee's tcp.flags counts.
        "tcp.flags" => s("tcp", 103, 112, 1, false),
        "tcp.hdr_len" => s("tcp", 96, 100, 4, false),
        "tcp.window" => s("tcp", 112, 128, 1, false),
        "udp.len" => s("udp", 32, 48, 1, false),
        _ => return None,
    })
}

/// The bits of a quoted IPv4 packet in an ICMP error, as levee reads them: an error type, a
/// quoted header without options (first byte 0x45), and for ports a TCP or UDP packet that is
/// not a later fragment.
const QUOTE_GUARD: &str = "icmp.type in {3 4 5 11 12} and bit_slice(\"icmp\", 64, 72) == 69";
const QUOTE_PORTS_GUARD: &str =
    "bit_slice(\"icmp\", 136, 144) in {6 17} and bit_slice(\"icmp\", 115, 128) == 0";

fn quoted(field: &str) -> Option<(Slice, bool)> {
    let s = |start, end| Slice {
        proto: "icmp",
        start,
        end,
        unit: 1,
        v4_only: true,
    };
    Some(match field {
        "icmp.quoted.proto" => (s(136, 144), false),
        "icmp.quoted.srcport" => (s(224, 240), true),
        "icmp.quoted.dstport" => (s(240, 256), true),
        _ => return None,
    })
}

/// Cloudflare's name of an IP protocol, for the protocols its examples and levee's guards use.
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

/// Whether a condition is read under `not` (or both ways, under `xor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Polarity {
    Plain,
    Negated,
    Both,
}

impl Polarity {
    fn flip(self) -> Polarity {
        match self {
            Polarity::Plain => Polarity::Negated,
            Polarity::Negated => Polarity::Plain,
            Polarity::Both => Polarity::Both,
        }
    }
}

/// What the conditions around a sub-expression guarantee.
#[derive(Debug, Clone, Copy)]
struct Context {
    /// A conjunct around it holds only on IPv4 packets, so its value matters only there.
    v4: bool,
    polarity: Polarity,
    /// The transport guard of TCP, UDP, ICMP (see [`Writer::guard`]) is a conjunct around it.
    guarded: [bool; 3],
    /// A conjunct around it is `ip.proto == N`.
    proto: Option<u64>,
}

/// The transports whose fields levee reads only on their own packets: TCP, UDP, ICMP.
const TRANSPORTS: [u64; 3] = [6, 17, 1];

/// The transport a field belongs to (its index in [`TRANSPORTS`]).
fn transport_of(field: &str) -> Option<usize> {
    let head = field.split('.').next()?;
    TRANSPORTS
        .iter()
        .position(|&p| proto_name(p).is_ok_and(|n| n == head))
}

/// A conjunct `ip.proto == N` (or `in {N}`) pins the protocol.
fn pinned_proto(e: &Expr) -> Option<u64> {
    match e {
        Expr::Cmp {
            field,
            op: CmpOp::Eq,
            value: Literal::Int(n),
        } if field.name() == "ip.proto" => Some(*n),
        Expr::In { field, set } if field.name() == "ip.proto" => match set.items.as_slice() {
            [SetItem::Int(n)] => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

/// The transport of a leaf condition, when it has one.
fn leaf_transport(e: &Expr) -> Option<usize> {
    match e {
        Expr::And(_) | Expr::Or(_) | Expr::Xor(..) | Expr::Not(_) => None,
        leaf => leaf.fields().first().and_then(|f| transport_of(f.name())),
    }
}

struct Writer<'a> {
    flavor: Flavor,
    lists: &'a Lists,
}

/// Whether `e` holds only on IPv4 packets: it pins an address to IPv4 ones, or the version.
fn pins_v4(e: &Expr, lists: &Lists) -> bool {
    let v4_item = |item: &SetItem| match item {
        SetItem::Ip(ip) => ip.is_ipv4(),
        SetItem::Net(n) => matches!(n, ipnet::IpNet::V4(_)),
        SetItem::IpRange(a, _) => a.is_ipv4(),
        SetItem::List(name) => lists
            .get(name)
            .is_some_and(|nets| nets.iter().all(|n| matches!(n, ipnet::IpNet::V4(_)))),
        _ => false,
    };
    match e {
        Expr::Cmp {
            field,
            op: CmpOp::Eq,
            value: Literal::Ip(ip),
        } if matches!(field.name(), "ip.src" | "ip.dst") => ip.is_ipv4(),
        Expr::In { field, set } if matches!(field.name(), "ip.src" | "ip.dst") => {
            !set.items.is_empty() && set.items.iter().all(v4_item)
        }
        Expr::Cmp {
            field,
            op: CmpOp::Eq,
            value: Literal::Int(4),
        } => field.name() == "ip.version",
        Expr::And(v) => v.iter().any(|x| pins_v4(x, lists)),
        _ => false,
    }
}

/// A list named in an expression must be one Cloudflare can hold: its list names are lowercase
/// letters, digits and underscores, at most 50 characters, and an IP list holds IPv4 addresses
/// and prefixes of /8 to /32, and IPv6 prefixes of /4 to /64.
fn check_list(name: &str, lists: &Lists) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(format!(
            "list `${name}`: Cloudflare list names are lowercase letters, digits and `_`, at \
             most 50 characters (rename it, e.g. `${}`)",
            name.to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .take(50)
                .collect::<String>()
        ));
    }
    for net in lists.get(name).unwrap_or(&[]) {
        match net {
            ipnet::IpNet::V4(n) if n.prefix_len() < 8 => {
                return Err(format!(
                    "list `${name}` holds {net}: Cloudflare IP lists take IPv4 prefixes of /8 \
                     to /32"
                ))
            }
            ipnet::IpNet::V6(n) if n.prefix_len() > 64 => {
                return Err(format!(
                    "list `${name}` holds {net}: Cloudflare IP lists take IPv6 prefixes of /4 \
                     to /64 only, so it would block the whole /64; put the address in the \
                     expression instead"
                ))
            }
            ipnet::IpNet::V6(n) if n.prefix_len() < 4 => {
                return Err(format!(
                    "list `${name}` holds {net}: Cloudflare IP lists take IPv6 prefixes of /4 \
                     to /64"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

impl Writer<'_> {
    fn expr(&self, e: &Expr, cx: Context) -> Result<String, String> {
        Ok(match e {
            Expr::And(v) => {
                let mut inner = Context {
                    v4: cx.v4 || v.iter().any(|x| pins_v4(x, self.lists)),
                    proto: cx.proto.or_else(|| v.iter().find_map(pinned_proto)),
                    ..cx
                };
                // A transport's guard is written once, before the first of this conjunction's
                // conditions on it, and holds for everything inside the conjunction.
                let mut parts = Vec::new();
                let mut first_guard = [None; 3];
                if self.flavor == Flavor::Network {
                    for (i, x) in v.iter().enumerate() {
                        if let Some(t) = leaf_transport(x) {
                            if !cx.guarded[t] && first_guard[t].is_none() {
                                first_guard[t] = Some(i);
                                inner.guarded[t] = true;
                            }
                        }
                    }
                }
                for (i, x) in v.iter().enumerate() {
                    for (t, at) in first_guard.iter().enumerate() {
                        if *at == Some(i) {
                            parts.push(self.guard(t, inner));
                        }
                    }
                    parts.push(self.child(x, inner)?);
                }
                parts.join(" and ")
            }
            Expr::Or(v) => v
                .iter()
                .map(|x| self.child(x, cx))
                .collect::<Result<Vec<_>, _>>()?
                .join(" or "),
            Expr::Xor(a, b) => {
                let both = Context {
                    polarity: Polarity::Both,
                    ..cx
                };
                format!("{} xor {}", self.child(a, both)?, self.child(b, both)?)
            }
            Expr::Not(x) => {
                let flipped = Context {
                    polarity: cx.polarity.flip(),
                    ..cx
                };
                format!("not {}", self.child(x, flipped)?)
            }
            leaf => match self.flavor {
                Flavor::Network => {
                    let text = self.network_leaf(leaf, cx)?;
                    match leaf_transport(leaf) {
                        Some(t) if !cx.guarded[t] => format!("({} and {text})", self.guard(t, cx)),
                        _ => text,
                    }
                }
                Flavor::Waf => self.waf_leaf(leaf)?,
            },
        })
    }

    /// What makes a transport's fields mean in Cloudflare what they mean in levee: a packet of
    /// that protocol that is not a later IPv4 fragment. levee reads no transport field
    /// elsewhere (a comparison with a field a packet lacks is false, `!=` included), while
    /// Cloudflare's `!=` matches packets without the field, and its reference does not say
    /// what it reads in a later fragment or what `bit_slice` gives past a field. Written with
    /// the condition, the guard makes both engines agree whatever Cloudflare does there.
    fn guard(&self, t: usize, cx: Context) -> String {
        let p = TRANSPORTS[t];
        let mut parts = Vec::new();
        if cx.proto != Some(p) {
            parts.push(format!(
                "ip.proto == \"{}\"",
                proto_name(p).expect("a named protocol")
            ));
        }
        parts.push(if cx.v4 {
            "bit_slice(\"ip\", 51, 64) == 0".to_string()
        } else {
            "(bit_slice(\"ip\", 0, 4) == 6 or bit_slice(\"ip\", 51, 64) == 0)".to_string()
        });
        parts.join(" and ")
    }

    /// A sub-expression, in parentheses when it is itself compound (or became so).
    fn child(&self, e: &Expr, cx: Context) -> Result<String, String> {
        // Leaves written as several conditions come back in their own parentheses.
        let s = self.expr(e, cx)?;
        Ok(if matches!(e, Expr::And(_) | Expr::Or(_) | Expr::Xor(..)) {
            format!("({s})")
        } else {
            s
        })
    }

    fn waf_leaf(&self, leaf: &Expr) -> Result<String, String> {
        for f in leaf.fields() {
            if !WAF_FIELDS.iter().any(|(n, _)| *n == f.name()) {
                return Err(format!(
                    "`{}` is not a field of Cloudflare's WAF request phase (for packet fields use \
                     the `cloudflare` target)",
                    f.name()
                ));
            }
        }
        if let Expr::In { field, set } = leaf {
            if field.name() == "ip.src" {
                return self.ip_set(field.name(), set);
            }
        }
        let text = leaf.to_string();
        // A leaf is printed field first: rename the field where the WAF calls it otherwise.
        Ok(
            match WAF_FIELDS
                .iter()
                .find(|(n, cf)| n != cf && text.starts_with(&format!("{n} ")))
            {
                Some((n, cf)) => format!("{cf}{}", &text[n.len()..]),
                None => text,
            },
        )
    }

    /// `field in {...}`, with each named list as its own `field in $name` (Cloudflare names a
    /// list on its own, never inside braces).
    fn ip_set(&self, field: &str, set: &Set) -> Result<String, String> {
        let mut literal = set.clone();
        literal.items.retain(|i| !matches!(i, SetItem::List(_)));
        let mut parts = Vec::new();
        if !literal.items.is_empty() {
            let e = Expr::In {
                field: crate::Field::lookup(field).expect("a known field"),
                set: literal,
            };
            parts.push(e.to_string());
        }
        for item in &set.items {
            if let SetItem::List(name) = item {
                check_list(name, self.lists)?;
                parts.push(format!("{field} in ${name}"));
            }
        }
        Ok(if parts.len() > 1 {
            format!("({})", parts.join(" or "))
        } else {
            parts.concat()
        })
    }

    fn network_leaf(&self, leaf: &Expr, cx: Context) -> Result<String, String> {
        if let Some(field) = leaf.fields().into_iter().find(|f| f.is_payload()) {
            return udp_payload_leaf(leaf, &field, cx.v4);
        }
        let fields = leaf.fields();
        let name = fields.first().map(|f| f.name()).unwrap_or_default();
        let needs_v4 = |what: &str| -> Result<(), String> {
            if cx.v4 {
                Ok(())
            } else {
                Err(format!(
                    "`{name}` {what}: pin the rule to IPv4 addresses (`ip.dst == ...`) or use \
                     another target"
                ))
            }
        };
        if NETWORK_FIELDS.contains(&name) {
            return match leaf {
                Expr::In { set, .. } => self.ip_set(name, set),
                _ => Ok(leaf.to_string()),
            };
        }
        if NETWORK_FIELDS_V4.contains(&name) {
            needs_v4(
                "reads ICMP in Cloudflare's reference and ICMPv6 as well in levee, so \
                 Cloudflare can only match it as levee does on IPv4",
            )?;
            return Ok(leaf.to_string());
        }
        let v4_bits = "is read from IPv4 header bits in Cloudflare, where levee also reads \
                       IPv6 headers";
        match (name, leaf) {
            ("ip.proto", _) => {
                // Cloudflare's ip.proto is a name: equality and sets of named protocols are
                // written by name; anything else (an unnamed protocol, an order) reads the
                // IPv4 header's protocol byte.
                let named = match leaf {
                    Expr::Cmp {
                        op: op @ (CmpOp::Eq | CmpOp::Ne),
                        value: Literal::Int(v),
                        ..
                    } => proto_name(*v)
                        .ok()
                        .map(|n| format!("ip.proto {} \"{n}\"", op.symbol())),
                    Expr::In { set, .. } => set
                        .items
                        .iter()
                        .map(|item| match item {
                            SetItem::Int(v) => proto_name(*v).ok().map(|n| format!("\"{n}\"")),
                            _ => None,
                        })
                        .collect::<Option<Vec<_>>>()
                        .map(|names| format!("ip.proto in {{{}}}", names.join(" "))),
                    _ => None,
                };
                match named {
                    Some(text) => Ok(text),
                    None => {
                        needs_v4(
                            "names no protocol Cloudflare's schema has a name for (or compares \
                             by order), so it is read from IPv4 header bits",
                        )?;
                        int_condition("bit_slice(\"ip\", 72, 80)", leaf, 1)
                    }
                }
            }
            ("ip.flags.df", Expr::Flag(_)) => {
                needs_v4(v4_bits)?;
                Ok("bit_slice(\"ip\", 49, 50) == 1".into())
            }
            ("ip.flags.mf", Expr::Flag(_)) => {
                needs_v4(v4_bits)?;
                Ok("bit_slice(\"ip\", 50, 51) == 1".into())
            }
            ("ip.frag", Expr::Flag(_)) => {
                needs_v4(v4_bits)?;
                Ok("(bit_slice(\"ip\", 50, 51) == 1 or bit_slice(\"ip\", 51, 64) != 0)".into())
            }
            ("ip.opt", Expr::Flag(_)) => {
                needs_v4(v4_bits)?;
                Ok("bit_slice(\"ip\", 4, 8) > 5".into())
            }
            _ => {
                if let Some(s) = slice(name) {
                    if s.v4_only {
                        needs_v4(v4_bits)?;
                    }
                    return int_condition(&s.call(), leaf, s.unit);
                }
                if let Some((s, ports)) = quoted(name) {
                    needs_v4(v4_bits)?;
                    if cx.polarity != Polarity::Plain || int_condition_holds_at_zero(leaf) {
                        return Err(format!(
                            "`{name}` is matched in Cloudflare by slicing the quoted packet; \
                             levee cannot be sure how a slice past a short quote compares, so \
                             only conditions false at 0 and not negated are written"
                        ));
                    }
                    let guard = if ports {
                        format!("{QUOTE_GUARD} and {QUOTE_PORTS_GUARD}")
                    } else {
                        QUOTE_GUARD.to_string()
                    };
                    return Ok(format!(
                        "({guard} and {})",
                        int_condition(&s.call(), leaf, 1)?
                    ));
                }
                Err(format!(
                    "`{name}` is not a field of Cloudflare's packet filtering and cannot be read \
                     with bit_slice; drop it (see the signature's alternatives) or use another \
                     target"
                ))
            }
        }
    }
}

/// Bits of a header `bit_slice` reaches (offsets up to 2,040 in Cloudflare's reference).
const BIT_SLICE_END: usize = 2040;

/// A condition on a UDP payload slice from its start (`udp.payload[s:n] == 0x..` or `!=`),
/// read with `bit_slice("udp", ..)` 32 bits at a time, behind the test that the packet holds
/// the slice as levee reads it: levee's UDP payload ends where the UDP length says or the
/// packet's (an IPv4 first fragment's) bytes end, whichever comes first. The packet's bytes
/// after the IPv4 header count `ip.len` less the header's length, one line per header
/// length (no arithmetic in Cloudflare's language), so the rule must pin IPv4. A slice is
/// never read past those bytes, so nothing leans on what `bit_slice` gives there. TCP's and
/// ICMP's payloads start after headers of variable length, which fixed offsets cannot follow;
/// searching (`contains`, `matches`), lengths, the whole payload and slices from its end
/// need arithmetic too: refused, with the reason.
fn udp_payload_leaf(leaf: &Expr, field: &crate::Field, v4: bool) -> Result<String, String> {
    let refuse = |why: &str| Err(format!("`{field}`: {why}; the bpf target writes it"));
    let ip = match field.name() {
        "udp.payload" => false,
        "ip.payload" => true,
        _ => {
            return refuse(
                "Cloudflare's bit_slice reads fixed offsets of a header, and a TCP or ICMP \
                 payload starts after a header of variable length",
            )
        }
    };
    let (start, bytes, op) = match super::slice_from_start(leaf, field) {
        Ok(slice) => slice,
        Err(super::NotFromStart::Search) => {
            return refuse("Cloudflare's Network Firewall cannot search a payload")
        }
        Err(super::NotFromStart::Elsewhere) => {
            return refuse(
                "Cloudflare reads slices from the payload's start only (its length, its end \
                 and the whole of it need arithmetic its language lacks)",
            )
        }
    };
    let end = start + bytes.len();
    if ip {
        return ip_payload_condition(field, start, bytes, op, v4);
    }
    if 64 + 8 * end > BIT_SLICE_END {
        return refuse(&format!(
            "bit_slice reaches the first {} bytes of a UDP payload",
            (BIT_SLICE_END - 64) / 8
        ));
    }
    if !v4 {
        return Err(format!(
            "`{field}` is found from the IPv4 header's length in Cloudflare: pin the rule to \
             IPv4 addresses (`ip.dst == ...`) or use another target"
        ));
    }
    let chunks: Vec<String> = super::words_of(bytes)
        .map(|(at, k, value)| {
            let bit = 64 + 8 * (start + at);
            format!(
                "bit_slice(\"udp\", {bit}, {}) {} {value}",
                bit + 8 * k,
                op.symbol()
            )
        })
        .collect();
    let compared = if op == CmpOp::Eq || chunks.len() == 1 {
        chunks.join(" and ")
    } else {
        format!("({})", chunks.join(" or "))
    };
    let need = 8 + end;
    let udp_length =
        format!("(bit_slice(\"udp\", 32, 48) >= {need} or bit_slice(\"udp\", 32, 48) < 8)");
    let ip_bytes: Vec<String> = (5..=15u32)
        .map(|words| (words, 4 * words as usize + need))
        .filter(|&(_, total)| total <= usize::from(u16::MAX))
        .map(|(words, total)| format!("(bit_slice(\"ip\", 4, 8) == {words} and ip.len >= {total})"))
        .collect();
    if ip_bytes.is_empty() {
        return refuse("no IPv4 packet holds that slice");
    }
    Ok(format!(
        "({udp_length} and ({}) and {compared})",
        ip_bytes.join(" or ")
    ))
}

/// A slice of the IP payload from its start: per IPv4 header length (no arithmetic in the
/// language), `bit_slice("ip", ..)` at that length, behind `ip.len`, which is where levee's IP
/// payload ends, in every fragment. Refused where the longest header (60 bytes) would put the
/// slice past what `bit_slice` reaches: a packet with such a header would then escape it.
fn ip_payload_condition(
    field: &crate::Field,
    start: usize,
    bytes: &[u8],
    op: CmpOp,
    v4: bool,
) -> Result<String, String> {
    let end = start + bytes.len();
    if 8 * (60 + end) > BIT_SLICE_END {
        return Err(format!(
            "`{field}`: bit_slice reaches the first {} bytes of an IP payload after the \
             longest IPv4 header; the bpf target writes it",
            BIT_SLICE_END / 8 - 60
        ));
    }
    if !v4 {
        return Err(format!(
            "`{field}` is found from the IPv4 header's length in Cloudflare: pin the rule to \
             IPv4 addresses (`ip.dst == ...`) or use another target"
        ));
    }
    let per_header: Vec<String> = (5..=15usize)
        .map(|words| {
            let chunks: Vec<String> = super::words_of(bytes)
                .map(|(at, k, value)| {
                    let bit = 8 * (4 * words + start + at);
                    format!(
                        "bit_slice(\"ip\", {bit}, {}) {} {value}",
                        bit + 8 * k,
                        op.symbol()
                    )
                })
                .collect();
            let compared = if op == CmpOp::Eq || chunks.len() == 1 {
                chunks.join(" and ")
            } else {
                format!("({})", chunks.join(" or "))
            };
            format!(
                "(bit_slice(\"ip\", 4, 8) == {words} and ip.len >= {} and {compared})",
                4 * words + end
            )
        })
        .collect();
    Ok(format!("({})", per_header.join(" or ")))
}

/// Whether an integer comparison holds for the value 0.
fn int_condition_holds_at_zero(leaf: &Expr) -> bool {
    match leaf {
        Expr::Cmp {
            op,
            value: Literal::Int(v),
            ..
        } => op.holds(0, *v),
        Expr::In { set, .. } => set.items.iter().any(|i| match i {
            SetItem::Int(v) => *v == 0,
            SetItem::IntRange(a, _) => *a == 0,
            _ => false,
        }),
        _ => true,
    }
}

/// An integer comparison or set, on `lhs` (a `bit_slice` call), its values in `unit`s.
fn int_condition(lhs: &str, leaf: &Expr, unit: u64) -> Result<String, String> {
    let scale = |v: u64| -> Result<u64, String> {
        if v.is_multiple_of(unit) {
            Ok(v / unit)
        } else {
            Err(format!(
                "{v} is not a multiple of {unit}: the header counts {unit}-byte words, so the \
                 value can never hold"
            ))
        }
    };
    match leaf {
        Expr::Cmp {
            op,
            value: Literal::Int(v),
            ..
        } => Ok(format!("{lhs} {} {}", op.symbol(), scale(*v)?)),
        Expr::In { set, .. } => {
            let mut items = Vec::new();
            for item in &set.items {
                match item {
                    SetItem::Int(v) => items.push(scale(*v)?.to_string()),
                    SetItem::IntRange(a, b) => {
                        items.push(format!("{}..{}", scale(*a)?, scale(*b)?))
                    }
                    _ => return Err("only numbers are read from raw header bits".into()),
                }
            }
            Ok(format!("{lhs} in {{{}}}", items.join(" ")))
        }
        _ => Err(format!("`{leaf}` cannot be read from raw header bits")),
    }
}

/// Longest expression Cloudflare's WAF rules take, in characters.
pub const WAF_MAX_EXPRESSION: usize = 4096;

/// The Cloudflare expression for `e`, or why there is none.
pub fn compile(e: &Expr, flavor: Flavor, lists: &Lists) -> Result<String, String> {
    let w = Writer { flavor, lists };
    let text = w.expr(
        e,
        Context {
            v4: false,
            polarity: Polarity::Plain,
            guarded: [false; 3],
            proto: None,
        },
    )?;
    check_length(&text, flavor)?;
    Ok(text)
}

fn check_length(text: &str, flavor: Flavor) -> Result<(), String> {
    let chars = text.chars().count();
    if flavor == Flavor::Waf && chars > WAF_MAX_EXPRESSION {
        return Err(format!(
            "the expression is {chars} characters long; Cloudflare's rules take {WAF_MAX_EXPRESSION} \
             at most (put long address sets in a list, or split the rule)"
        ));
    }
    Ok(())
}

/// A rule's description as Cloudflare shows it: the levee id first, so a rule in the dashboard
/// leads back to its line in the rules file.
fn description(id: &str, text: Option<&str>, note: &str) -> String {
    let mut d = format!("levee {id}");
    if let Some(t) = text {
        d.push_str(": ");
        d.push_str(t);
    }
    d.push_str(note);
    // Descriptions are for people: long ones are cut, at a character boundary.
    if d.chars().count() > 500 {
        d = d.chars().take(497).collect::<String>() + "...";
    }
    d
}

fn ruleset(name: &str, kind: &str, phase: &str, origin: &str, rules: Vec<Json>) -> String {
    let body = json!({
        "name": name,
        "kind": kind,
        "phase": phase,
        "description": format!("Compiled by levee from {origin}"),
        "rules": rules,
    });
    serde_json::to_string_pretty(&body).expect("JSON values serialize") + "\n"
}

/// The Network Firewall ruleset: block and skip rules in file order. Its rules cannot log, so a
/// `log` rule is written as a block rule that is not enabled: it drops nothing, as in levee,
/// and is there to be reviewed and enabled by hand.
pub fn render_network(file: &RulesFile, origin: &str) -> Result<String, Vec<String>> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for r in &file.rules {
        let expression = match &r.action {
            Action::RateLimit { .. } => Err(
                "Cloudflare Network Firewall rules block or skip packets; they have no rate \
                 limit levee can write (use the nftables or iptables target)"
                    .to_string(),
            ),
            _ => compile(&r.expression, Flavor::Network, &file.lists),
        };
        let expression = match expression {
            Ok(x) => x,
            Err(why) => {
                problems.push(format!("rule `{}`: {why}", r.id));
                continue;
            }
        };
        let d = |note: &str| description(&r.id, r.description.as_deref(), note);
        rules.push(match &r.action {
            Action::Block => json!({
                "action": "block",
                "expression": expression,
                "description": d(""),
                "enabled": true,
            }),
            Action::Allow => json!({
                "action": "skip",
                "action_parameters": { "ruleset": "current" },
                "expression": expression,
                "description": d(""),
                "enabled": true,
            }),
            Action::Log => json!({
                "action": "block",
                "expression": expression,
                "description": d(" (a log rule in levee: not enabled, since Network Firewall \
                                  rules cannot log; review before enabling)"),
                "enabled": false,
            }),
            Action::RateLimit { .. } => unreachable!("refused above"),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ruleset(
        &format!("levee: {origin}"),
        "root",
        "magic_transit",
        origin,
        rules,
    ))
}

/// Each rule's WAF expression, with the rate limits before it excluded: Cloudflare runs all
/// custom rules first, then all rate limiting rules, where levee gives a request to the first
/// rule that matches it.
fn waf_expressions(file: &RulesFile) -> Result<Vec<String>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut limits_before: Vec<String> = Vec::new();
    for r in &file.rules {
        match compile(&r.expression, Flavor::Waf, &file.lists) {
            Ok(x) => {
                let mut full = if limits_before.is_empty() {
                    x.clone()
                } else {
                    let mut s = format!("({x})");
                    for l in &limits_before {
                        s.push_str(&format!(" and not ({l})"));
                    }
                    s
                };
                if let Err(why) = check_length(&full, Flavor::Waf) {
                    problems.push(format!(
                        "rule `{}`: written after rate limits it must not overlap, {why}",
                        r.id
                    ));
                    full.clear();
                }
                if matches!(r.action, Action::RateLimit { .. }) {
                    limits_before.push(x);
                }
                out.push(full);
            }
            Err(why) => problems.push(format!("rule `{}`: {why}", r.id)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// The WAF custom rules: blocks, skips and logs, in file order. An allow rule skips the
/// remaining custom rules and the rate limiting phase, as levee's allow passes the request
/// by every later rule.
pub fn render_waf(file: &RulesFile, origin: &str) -> Result<String, Vec<String>> {
    let expressions = waf_expressions(file)?;
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    for (r, expression) in file.rules.iter().zip(expressions) {
        let d = description(&r.id, r.description.as_deref(), "");
        match &r.action {
            Action::Block => rules.push(json!({
                "action": "block",
                "expression": expression,
                "description": d,
                "enabled": true,
            })),
            Action::Allow => rules.push(json!({
                "action": "skip",
                "action_parameters": { "ruleset": "current", "phases": ["http_ratelimit"] },
                "expression": expression,
                "description": d,
                "enabled": true,
            })),
            Action::Log => rules.push(json!({
                "action": "log",
                "expression": expression,
                "description": d,
                "enabled": true,
            })),
            // Checked here too, so that compiling the custom rules reports every problem.
            Action::RateLimit { rate, burst, key } => {
                if let Err(why) = rate_limit(*rate, *burst, *key) {
                    problems.push(format!("rule `{}`: {why}", r.id));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ruleset(
        &format!("levee: {origin}"),
        "zone",
        "http_request_firewall_custom",
        origin,
        rules,
    ))
}

/// Periods Cloudflare's rate limiting rules count over, in seconds.
pub const RATE_PERIODS: &[u64] = &[10, 60, 120, 300, 600, 3600];

/// A levee rate limit as Cloudflare's `ratelimit` object: the shortest period over which the
/// rate is a whole number of requests at least as large as the burst. With
/// `mitigation_timeout` 0, Cloudflare blocks the requests over the rate and passes the others,
/// as levee's limit does (its other durations block every request for a while).
fn rate_limit(rate: f64, burst: u64, key: RateKey) -> Result<Json, String> {
    let characteristics = match key {
        RateKey::Source => vec!["cf.colo.id", "ip.src"],
        RateKey::Global => vec!["cf.colo.id"],
        RateKey::Destination => {
            return Err(
                "Cloudflare's rate limits cannot count by destination address (use key \
                 \"ip.src\" or \"none\")"
                    .into(),
            )
        }
    };
    for &period in RATE_PERIODS {
        let requests = rate * period as f64;
        let whole = requests.round();
        if (requests - whole).abs() < 1e-9 && whole >= 1.0 && whole as u64 >= burst {
            return Ok(json!({
                "characteristics": characteristics,
                "period": period,
                "requests_per_period": whole as u64,
                "mitigation_timeout": 0,
            }));
        }
    }
    let nearest: Vec<String> = RATE_PERIODS
        .iter()
        .map(|p| {
            let n = (rate * *p as f64).round().max(1.0);
            format!("{} ({n:.0} per {p} s)", n / *p as f64)
        })
        .collect();
    Err(format!(
        "a rate of {rate}/s with a burst of {burst} is no whole number of requests per 10, 60, \
         120, 300, 600 or 3600 s at least as large as the burst, which is all Cloudflare counts; \
         rates it can count: {}",
        nearest.join(", ")
    ))
}

/// The WAF rate limiting rules, in file order, each excluding the rate limits before it.
pub fn render_ratelimit(file: &RulesFile, origin: &str) -> Result<String, Vec<String>> {
    let expressions = waf_expressions(file)?;
    let mut problems = Vec::new();
    let mut rules = Vec::new();
    for (r, expression) in file.rules.iter().zip(expressions) {
        if let Action::RateLimit { rate, burst, key } = &r.action {
            match rate_limit(*rate, *burst, *key) {
                Ok(ratelimit) => rules.push(json!({
                    "action": "block",
                    "expression": expression,
                    "description": description(&r.id, r.description.as_deref(), ""),
                    "enabled": true,
                    "ratelimit": ratelimit,
                })),
                Err(why) => problems.push(format!("rule `{}`: {why}", r.id)),
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ruleset(
        &format!("levee: {origin} (rate limits)"),
        "zone",
        "http_ratelimit",
        origin,
        rules,
    ))
}

/// The items of IP list `name` (or of the only list), as the Lists API takes them.
pub fn render_list(file: &RulesFile, name: Option<&str>) -> Result<String, Vec<String>> {
    let names: Vec<&str> = file.lists.names().collect();
    let name = match (name, names.as_slice()) {
        (Some(n), _) => n,
        (None, [only]) => only,
        (None, []) => return Err(vec!["the rules file names no list".into()]),
        (None, many) => {
            return Err(vec![format!(
                "the rules file has {} lists: name one with --list ({})",
                many.len(),
                many.join(", ")
            )])
        }
    };
    if file.lists.get(name).is_none() {
        return Err(vec![format!(
            "no list `{name}` in the rules file (lists: {})",
            names.join(", ")
        )]);
    }
    check_list(name, &file.lists).map_err(|e| vec![e])?;
    let items: Vec<Json> = file
        .lists
        .get(name)
        .unwrap_or(&[])
        .iter()
        .map(|net| {
            let ip = match net {
                ipnet::IpNet::V4(n) if n.prefix_len() == 32 => n.addr().to_string(),
                other => other.to_string(),
            };
            json!({ "ip": ip, "comment": format!("levee list {name}") })
        })
        .collect();
    Ok(serde_json::to_string_pretty(&items).expect("JSON values serialize") + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_plain;

    fn net(s: &str) -> Result<String, String> {
        compile(&parse_plain(s).unwrap(), Flavor::Network, &Lists::new())
    }

    #[test]
    fn udp_payload_slices_are_read_where_the_packet_holds_them_and_the_rest_refused() {
        let e = net("ip.dst == 10.0.0.1 and udp.payload[1:5] != 0x0102030405").unwrap();
        // Two calls (32 bits, then 8), either differing; behind the UDP length and, for
        // each IPv4 header length, the bytes after it.
        assert!(
            e.contains(
                "(bit_slice(\"udp\", 72, 104) != 16909060 or bit_slice(\"udp\", 104, 112) != 5)"
            ),
            "{e}"
        );
        assert!(
            e.contains("(bit_slice(\"udp\", 32, 48) >= 14 or bit_slice(\"udp\", 32, 48) < 8)"),
            "{e}"
        );
        assert!(
            e.contains("(bit_slice(\"ip\", 4, 8) == 5 and ip.len >= 34)"),
            "{e}"
        );
        assert!(
            e.contains("(bit_slice(\"ip\", 4, 8) == 15 and ip.len >= 74)"),
            "{e}"
        );
        for (rule, why) in [
            ("udp.payload[0:4] == 0x01020304", "pin the rule to IPv4"),
            (
                "ip.dst == 10.0.0.1 and tcp.payload[0:2] == 0x4745",
                "variable length",
            ),
            (
                "ip.dst == 10.0.0.1 and udp.payload contains \"x\"",
                "cannot search",
            ),
            (
                "ip.dst == 10.0.0.1 and udp.payload[-4:4] == 0x01020304",
                "start only",
            ),
            ("ip.dst == 10.0.0.1 and len(udp.payload) > 10", "start only"),
            (
                "ip.dst == 10.0.0.1 and udp.payload[244:4] == 0x01020304",
                "first 247 bytes",
            ),
        ] {
            let err = net(rule).unwrap_err();
            assert!(err.contains(why), "{rule}: {err}");
        }
        assert!(net("ip.dst == 10.0.0.1 and udp.payload[243:4] == 0x01020304").is_ok());
    }

    #[test]
    fn protocols_become_names_and_foreign_fields_are_refused() {
        assert_eq!(
            net("ip.dst == 10.10.10.10 and ip.proto == udp and udp.srcport == 4500").unwrap(),
            "ip.dst == 10.10.10.10 and ip.proto == \"udp\" and bit_slice(\"ip\", 51, 64) == 0 \
             and udp.srcport == 4500"
        );
        assert_eq!(
            net("ip.proto in {tcp udp} or (tcp.flags.syn and ip.ttl < 5)").unwrap(),
            "ip.proto in {\"tcp\" \"udp\"} or (ip.proto == \"tcp\" and \
             (bit_slice(\"ip\", 0, 4) == 6 or bit_slice(\"ip\", 51, 64) == 0) and \
             tcp.flags.syn and ip.ttl < 5)"
        );
        // Cloudflare's `!=` matches packets without the field, levee's does not: every
        // condition on a transport field carries its protocol and first-fragment guard.
        assert_eq!(
            net("ip.dst == 10.0.0.1 and (tcp.dstport != 80 or not udp.srcport == 53)").unwrap(),
            "ip.dst == 10.0.0.1 and ((ip.proto == \"tcp\" and bit_slice(\"ip\", 51, 64) == 0 \
             and tcp.dstport != 80) or not (ip.proto == \"udp\" and \
             bit_slice(\"ip\", 51, 64) == 0 and udp.srcport == 53))"
        );
        // List names Cloudflare cannot hold are refused, with a name it can.
        let mut lists = Lists::new();
        lists.insert("bad-hosts", vec!["192.0.2.0/24".parse().unwrap()]);
        lists.insert("bad_hosts", vec!["192.0.2.0/24".parse().unwrap()]);
        lists.insert("v6_hosts", vec!["2001:db8::1/128".parse().unwrap()]);
        let e = crate::parse("ip.src in $bad-hosts", &lists).unwrap();
        let err = compile(&e, Flavor::Network, &lists).unwrap_err();
        assert!(err.contains("rename it, e.g. `$bad_hosts`"), "{err}");
        let e = crate::parse("ip.src in $bad_hosts", &lists).unwrap();
        assert_eq!(
            compile(&e, Flavor::Network, &lists).unwrap(),
            "ip.src in $bad_hosts"
        );
        // A list beside literal addresses is named on its own.
        let e = crate::parse(
            "ip.dst == 192.0.2.9 and ip.src in {198.51.100.1 $bad_hosts}",
            &lists,
        )
        .unwrap();
        assert_eq!(
            compile(&e, Flavor::Network, &lists).unwrap(),
            "ip.dst == 192.0.2.9 and (ip.src in {198.51.100.1} or ip.src in $bad_hosts)"
        );
        // An IPv6 address in a Cloudflare list would stand for its whole /64.
        let e = crate::parse("ip.src in $v6_hosts", &lists).unwrap();
        assert!(compile(&e, Flavor::Network, &lists)
            .unwrap_err()
            .contains("/4 to /64"));
        assert!(net("dns.qry.name == \"x\"").is_err());
        assert!(net("http.request.uri.path == \"/login\"").is_err());
        assert!(net("tcp.len > 0").unwrap_err().contains("bit_slice"));
        // Protocols without a name, and orders, read the IPv4 header's protocol byte.
        assert_eq!(
            net("ip.dst == 10.0.0.1 and ip.proto in {0 6}").unwrap(),
            "ip.dst == 10.0.0.1 and bit_slice(\"ip\", 72, 80) in {0 6}"
        );
        assert_eq!(
            net("ip.dst == 10.0.0.1 and ip.proto > 17").unwrap(),
            "ip.dst == 10.0.0.1 and bit_slice(\"ip\", 72, 80) > 17"
        );
        assert!(net("ip.proto == 0").unwrap_err().contains("IPv4"));
    }

    #[test]
    fn raw_fields_are_sliced_as_cloudflare_documents() {
        assert_eq!(
            net("ip.dst == 10.0.0.1 and tcp.flags == 0x02 and tcp.window == 1024").unwrap(),
            "ip.dst == 10.0.0.1 and ip.proto == \"tcp\" and bit_slice(\"ip\", 51, 64) == 0 and \
             bit_slice(\"tcp\", 103, 112) == 2 and bit_slice(\"tcp\", 112, 128) == 1024"
        );
        assert_eq!(
            net("ip.dst in {10.0.0.0/24} and ip.frag_offset > 0 and not ip.flags.df").unwrap(),
            "ip.dst in {10.0.0.0/24} and bit_slice(\"ip\", 51, 64) > 0 and \
             not bit_slice(\"ip\", 49, 50) == 1"
        );
        // Header lengths count 32-bit words on the wire.
        assert_eq!(
            net("ip.dst == 10.0.0.1 and tcp.hdr_len in {20 40..60}").unwrap(),
            "ip.dst == 10.0.0.1 and ip.proto == \"tcp\" and bit_slice(\"ip\", 51, 64) == 0 and \
             bit_slice(\"tcp\", 96, 100) in {5 10..15}"
        );
        assert!(net("tcp.hdr_len == 22")
            .unwrap_err()
            .contains("multiple of 4"));
        // IPv4 header bits mean what levee means only on IPv4 packets.
        for unscoped in [
            "ip.id == 7",
            "ip.flags.df",
            "ip.dst == 2001:db8::1 and ip.frag",
            "ip.dst == 10.0.0.1 or icmp.type == 8",
        ] {
            assert!(net(unscoped).unwrap_err().contains("IPv4"), "{unscoped}");
        }
        assert!(net("not (ip.src == 192.0.2.1 and ip.id == 7)").is_ok());
        assert_eq!(
            net("ip.version == 6 and tcp.window < 512").unwrap(),
            "bit_slice(\"ip\", 0, 4) == 6 and ip.proto == \"tcp\" and \
             (bit_slice(\"ip\", 0, 4) == 6 or bit_slice(\"ip\", 51, 64) == 0) and \
             bit_slice(\"tcp\", 112, 128) < 512"
        );
    }

    #[test]
    fn quoted_ports_are_sliced_behind_levees_guards() {
        let x = net("ip.dst == 10.0.0.1 and icmp.quoted.dstport in {53 123}").unwrap();
        assert_eq!(
            x,
            "ip.dst == 10.0.0.1 and ip.proto == \"icmp\" and bit_slice(\"ip\", 51, 64) == 0 and \
             (icmp.type in {3 4 5 11 12} and \
             bit_slice(\"icmp\", 64, 72) == 69 and bit_slice(\"icmp\", 136, 144) in {6 17} and \
             bit_slice(\"icmp\", 115, 128) == 0 and bit_slice(\"icmp\", 240, 256) in {53 123})"
        );
        for refused in [
            "ip.dst == 10.0.0.1 and not icmp.quoted.dstport == 53",
            "ip.dst == 10.0.0.1 and icmp.quoted.srcport != 53",
            "ip.dst == 10.0.0.1 and icmp.quoted.proto < 17",
            "ip.dst == 10.0.0.1 and (icmp.quoted.proto == 17 xor tcp.flags.syn)",
        ] {
            assert!(
                net(refused).unwrap_err().contains("false at 0"),
                "{refused}"
            );
        }
    }

    #[test]
    fn waf_expressions_use_request_fields_and_cloudflare_names() {
        let c = |s: &str| compile(&parse_plain(s).unwrap(), Flavor::Waf, &Lists::new());
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
            c(r#"tls.ja3 in {"e7d705a3286e19ea42f587b344ee6865"}"#).unwrap(),
            r#"cf.bot_management.ja3_hash in {"e7d705a3286e19ea42f587b344ee6865"}"#
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

    fn file(text: &str) -> RulesFile {
        RulesFile::parse("t.toml", text, None).unwrap()
    }

    #[test]
    fn rulesets_are_api_bodies_with_levees_order() {
        let f = file(
            r#"
            [[rule]]
            id = "keep"
            expression = "ip.src == 192.0.2.1"
            action = "allow"
            [[rule]]
            id = "syn"
            expression = "ip.dst == 10.0.0.1 and tcp.flags == 0x02"
            action = "block"
            [[rule]]
            id = "watch"
            expression = "ip.dst == 10.0.0.1 and udp.dstport == 53"
            action = "log"
            "#,
        );
        let body: Json = serde_json::from_str(&render_network(&f, "t.toml").unwrap()).unwrap();
        assert_eq!(body["phase"], "magic_transit");
        assert_eq!(body["kind"], "root");
        let rules = body["rules"].as_array().unwrap();
        assert_eq!(rules[0]["action"], "skip");
        assert_eq!(rules[0]["action_parameters"]["ruleset"], "current");
        assert_eq!(rules[1]["action"], "block");
        assert_eq!(rules[1]["enabled"], true);
        // A log rule drops nothing: written, but not enabled.
        assert_eq!(rules[2]["enabled"], false);
        assert!(rules[2]["description"]
            .as_str()
            .unwrap()
            .contains("cannot log"));

        let http = file(
            r#"
            [[rule]]
            id = "monitoring"
            expression = "ip.src == 192.0.2.1"
            action = "allow"
            [[rule]]
            id = "login-limit"
            expression = "http.request.uri.path == \"/login\""
            action = "rate_limit"
            rate = 1
            burst = 5
            key = "ip.src"
            [[rule]]
            id = "scanner"
            expression = "http.user_agent contains \"zgrab\""
            action = "block"
            "#,
        );
        let custom: Json = serde_json::from_str(&render_waf(&http, "t.toml").unwrap()).unwrap();
        assert_eq!(custom["phase"], "http_request_firewall_custom");
        let rules = custom["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        // An allow rule also passes the request by the rate limits, as in levee.
        assert_eq!(
            rules[0]["action_parameters"]["phases"],
            json!(["http_ratelimit"])
        );
        // A block after a rate limit leaves it the requests the limit decides in levee.
        assert_eq!(
            rules[1]["expression"],
            "(http.user_agent contains \"zgrab\") and not (http.request.uri.path == \"/login\")"
        );
        let limits: Json =
            serde_json::from_str(&render_ratelimit(&http, "t.toml").unwrap()).unwrap();
        assert_eq!(limits["phase"], "http_ratelimit");
        let rl = &limits["rules"][0]["ratelimit"];
        assert_eq!(rl["characteristics"], json!(["cf.colo.id", "ip.src"]));
        // 1/s with a burst of 5: 10 requests per 10 s, never a looser rate.
        assert_eq!(rl["period"], 10);
        assert_eq!(rl["requests_per_period"], 10);
        assert_eq!(rl["mitigation_timeout"], 0);
    }

    #[test]
    fn rates_cloudflare_cannot_count_are_refused() {
        assert!(rate_limit(0.05, 1, RateKey::Source).is_ok());
        let err = rate_limit(0.0001, 1, RateKey::Source).unwrap_err();
        assert!(err.contains("rates it can count"), "{err}");
        assert!(rate_limit(1.0, 100_000, RateKey::Source).is_err());
        assert!(rate_limit(5.0, 5, RateKey::Destination)
            .unwrap_err()
            .contains("destination"));
    }

    #[test]
    fn list_items_are_api_bodies() {
        let mut f = file(
            "[[rule]]\nid = \"a\"\nexpression = \"ip.src == 192.0.2.1\"\naction = \"block\"\n",
        );
        f.lists.insert(
            "reflectors",
            vec![
                "192.0.2.7/32".parse().unwrap(),
                "198.51.100.0/24".parse().unwrap(),
            ],
        );
        let items: Json = serde_json::from_str(&render_list(&f, None).unwrap()).unwrap();
        assert_eq!(items[0]["ip"], "192.0.2.7");
        assert_eq!(items[1]["ip"], "198.51.100.0/24");
        assert!(render_list(&f, Some("other")).is_err());
    }
}
