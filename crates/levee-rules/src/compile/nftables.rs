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
    /// Only packets that are not IP (`meta protocol != { ip, ip6 }`).
    NotIp,
}

/// One nft match, with the IP version and the transport protocol it implies.
#[derive(Debug, Clone)]
struct Atom {
    text: String,
    family: Family,
    /// The protocol nft infers from a transport match (`tcp dport` needs TCP): two in one
    /// line can never hold, and nft refuses such a line.
    l4: Option<&'static str>,
    /// A test of `meta l4proto` from `ip.proto`: written last in its line, since nft takes a
    /// set of protocols before a transport match as that match's protocol context and then
    /// refuses it ("conflicting protocols").
    late: bool,
}

type Conj = Vec<Atom>;

fn atom(text: impl Into<String>, family: Family) -> Atom {
    Atom {
        text: text.into(),
        family,
        l4: None,
        late: false,
    }
}

/// The transport protocol a field's match implies.
fn l4_of(name: &str, family: Family) -> Option<&'static str> {
    match name.split('.').next() {
        Some("tcp") => Some("tcp"),
        Some("udp") => Some("udp"),
        Some("icmp") if family == Family::V6 => Some("icmpv6"),
        Some("icmp") => Some("icmp"),
        _ => None,
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
    /// The value levee gives the field on IPv6 packets without a fragment header, where nft
    /// has nothing to read (IP ID and fragment offset: 0).
    v6_constant: Option<u64>,
}

fn access(name: &str) -> Option<Access> {
    const NOT_IP: &[(&str, Family)] = &[("meta protocol != { ip, ip6 }", Family::NotIp)];
    // `meta l4proto` reads nothing on a packet that is not IP: those lack the field too.
    const NOT_TCP: &[(&str, Family)] = &[
        ("meta l4proto != tcp", Family::Any),
        ("meta protocol != { ip, ip6 }", Family::NotIp),
    ];
    const NOT_ICMP: &[(&str, Family)] = &[
        ("meta l4proto != { icmp, ipv6-icmp }", Family::Any),
        ("meta protocol != { ip, ip6 }", Family::NotIp),
    ];
    const NOT_UDP: &[(&str, Family)] = &[
        ("meta l4proto != udp", Family::Any),
        ("meta protocol != { ip, ip6 }", Family::NotIp),
    ];
    let ip = |v4, v6, off| Access {
        v4: Some(v4),
        v6: Some(v6),
        v6_offset: off,
        absent: NOT_IP,
        v6_constant: None,
    };
    // ICMP fields: `icmp ...` on IPv4, `icmpv6 ...` on IPv6.
    let icmp = |v4, v6| Access {
        v4: Some(v4),
        v6: Some(v6),
        v6_offset: 0,
        absent: NOT_ICMP,
        v6_constant: None,
    };
    Some(match name {
        "ip.ttl" => ip("ip ttl", "ip6 hoplimit", 0),
        "ip.len" => ip("ip length", "ip6 length", -40),
        "ip.proto" => ip("meta l4proto", "meta l4proto", 0),
        "ip.id" => Access {
            v4: Some("ip id"),
            v6: Some("frag id"),
            v6_offset: 0,
            absent: NOT_IP,
            v6_constant: Some(0),
        },
        "tcp.srcport" => Access {
            v4: Some("tcp sport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
            v6_constant: None,
        },
        "tcp.dstport" => Access {
            v4: Some("tcp dport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
            v6_constant: None,
        },
        "tcp.window" => Access {
            v4: Some("tcp window"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
            v6_constant: None,
        },
        // Nine flag bits (NS to FIN), as levee counts them.
        // A raw read of the transport header: nft adds no protocol dependency of its own.
        "tcp.flags" => Access {
            v4: Some("@th,96,16 & 0x1ff"),
            v6: None,
            v6_offset: 0,
            absent: NOT_TCP,
            v6_constant: None,
        },
        "udp.srcport" => Access {
            v4: Some("udp sport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_UDP,
            v6_constant: None,
        },
        "udp.dstport" => Access {
            v4: Some("udp dport"),
            v6: None,
            v6_offset: 0,
            absent: NOT_UDP,
            v6_constant: None,
        },
        "ip.frag_offset" => Access {
            v4: Some("ip frag-off & 0x1fff"),
            v6: Some("frag frag-off"),
            v6_offset: 0,
            absent: NOT_IP,
            v6_constant: Some(0),
        },
        "icmp.type" => icmp("icmp type", "icmpv6 type"),
        "icmp.code" => icmp("icmp code", "icmpv6 code"),
        // What an ICMP error quotes: an error type, a quoted IPv4 header without options
        // (IPv6: an IPv6 header), then the byte or ports read raw. Written for conditions
        // that hold (a negation would need every way of lacking the field: refused).
        "icmp.quoted.proto" => icmp(
            "icmp type { 3, 4, 5, 11, 12 } @th,64,8 0x45 @th,136,8",
            "icmpv6 type { 1, 2, 3, 4 } @th,64,4 6 @th,112,8",
        ),
        "icmp.quoted.srcport" => icmp(
            "icmp type { 3, 4, 5, 11, 12 } @th,64,8 0x45 @th,136,8 { 6, 17 } \
             @th,112,16 & 0x1fff == 0 @th,224,16",
            "icmpv6 type { 1, 2, 3, 4 } @th,64,4 6 @th,112,8 { 6, 17 } @th,384,16",
        ),
        "icmp.quoted.dstport" => icmp(
            "icmp type { 3, 4, 5, 11, 12 } @th,64,8 0x45 @th,136,8 { 6, 17 } \
             @th,112,16 & 0x1fff == 0 @th,240,16",
            "icmpv6 type { 1, 2, 3, 4 } @th,64,4 6 @th,112,8 { 6, 17 } @th,400,16",
        ),
        "udp.len" => Access {
            v4: Some("udp length"),
            v6: None,
            v6_offset: 0,
            absent: NOT_UDP,
            v6_constant: None,
        },
        _ => return None,
    })
}

/// Where levee reads a transport header, and the matches that say so: unfragmented packets
/// and first fragments, IPv4 and IPv6 (through its extension headers). On the netdev hook
/// the kernel reads a "transport header" from later fragments too (their data, taken for a
/// header; seen in the differential test), where levee reads none.
const TRANSPORT_READ: [(Family, &[&str]); 3] = [
    (
        Family::V4,
        &["meta protocol ip", "ip frag-off & 0x1fff == 0"],
    ),
    (Family::V6, &["meta protocol ip6", "exthdr frag missing"]),
    (Family::V6, &["meta protocol ip6", "frag frag-off 0"]),
];

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

/// For a field read from an IPv4 ICMP error's quote: the test that the bytes read lie within
/// the IP packet, as levee's quote ends with it. On the ingress hook a short frame's Ethernet
/// padding follows the packet, and a load there succeeds: a quote cut after 9 bytes had its
/// "protocol" read from the padding (found by the differential test once its corpus padded
/// short frames as NICs do). The bytes needed from the quote's start (its protocol byte, then
/// the ports after a 20-byte header) are counted from the end of an IPv4 header of any length:
/// one range of total lengths per header length, in one set.
fn quote_within_packet(name: &str) -> Option<String> {
    let needed = match name {
        "icmp.quoted.proto" => 10,
        "icmp.quoted.srcport" => 22,
        "icmp.quoted.dstport" => 24,
        _ => return None,
    };
    Some(within_ipv4_packet(8 + needed))
}

/// The test that an IPv4 packet holds `bytes` after its header, whatever the header's length:
/// `ip hdrlength . ip length` in a set of one range per header length (nft cannot add the two).
fn within_ipv4_packet(bytes: u32) -> String {
    let ranges: Vec<String> = (5..=15u32)
        .map(|words| 4 * words + bytes)
        .zip(5..=15u32)
        .filter(|&(total, _)| total <= u32::from(u16::MAX))
        .map(|(total, words)| format!("{words} . {total}-65535"))
        .collect();
    format!("ip hdrlength . ip length {{ {} }}", ranges.join(", "))
}

/// Conjunctions for an integer condition, `negate` giving its complement (with absence).
/// `holds` says whether the condition (negated already when `negate`) holds on a value: for
/// the value levee gives where nft has nothing to read.
fn int_leaf(
    name: &str,
    test: &dyn Fn(&str, i64) -> Option<String>,
    holds: &dyn Fn(u64) -> bool,
    negate: bool,
) -> Result<Vec<Conj>, String> {
    let a = access(name).ok_or_else(|| format!("`{name}` has no nftables match levee writes"))?;
    if negate && name.starts_with("icmp.quoted.") {
        return Err(format!(
            "a negated condition on `{name}` cannot be written for nftables (a packet lacks \
             it in too many ways); write the condition that holds"
        ));
    }
    let mut out = Vec::new();
    let transport = l4_of(name, Family::Any).is_some();
    // Each way the field is read: the accessor, the family, the offset of the value, and the
    // matches that must come with it.
    let mut versions: Vec<(Option<&str>, Family, i64, &[&str])> = Vec::new();
    if transport {
        // Transport reads are kept to where levee reads them (see `TRANSPORT_READ`).
        let v6 = a.v6.or(if version_free(name) { a.v4 } else { None });
        for (fam, with) in TRANSPORT_READ {
            let acc = if fam == Family::V4 { a.v4 } else { v6 };
            versions.push((acc, fam, 0, with));
        }
    } else if version_free(name) {
        versions.push((a.v4, Family::Any, 0, &[]));
    } else {
        versions.push((a.v4, Family::V4, 0, &[]));
        versions.push((a.v6, Family::V6, a.v6_offset, &[]));
    }
    for (acc, fam, off, with) in versions {
        let Some(acc) = acc else { continue };
        if let Some(t) = test(acc, off) {
            let mut line: Conj = with.iter().map(|w| atom(*w, fam)).collect();
            let l4 = l4_of(name, fam);
            if let Some(p) = l4 {
                // Written out, not left to nft: nft skips the protocol it would add to
                // `udp dport` when the line already tests `meta l4proto` (a set of protocols
                // from `ip.proto in {...}`), and then reads TCP ports as UDP ones.
                let name = if p == "icmpv6" { "ipv6-icmp" } else { p };
                let mut guard = atom(format!("meta l4proto {name}"), fam);
                guard.l4 = Some(p);
                line.push(guard);
            }
            if fam == Family::V4 {
                if let Some(guard) = quote_within_packet(name) {
                    line.push(atom(guard, fam));
                }
            }
            let mut a = atom(t, fam);
            a.l4 = l4;
            a.late = name == "ip.proto";
            line.push(a);
            out.push(line);
        }
    }
    if a.v6_constant.is_some_and(holds) {
        out.push(vec![
            atom("meta protocol ip6", Family::V6),
            atom("exthdr frag missing", Family::V6),
        ]);
    }
    if negate {
        for (t, f) in a.absent {
            out.push(vec![atom(*t, *f)]);
        }
        if transport {
            // Later fragments carry no transport header: the field is absent there.
            out.push(vec![atom("ip frag-off & 0x1fff != 0", Family::V4)]);
            out.push(vec![
                atom("meta protocol ip6", Family::V6),
                atom("frag frag-off != 0", Family::V6),
            ]);
        }
    }
    Ok(out)
}

/// Lines for "the address is (`negate`: is not) in `nets`"; `absent` adds the packets that
/// have no IP header (a negated condition holds there; `!=` does not).
fn addr_leaf(name: &str, nets: &[IpNet], negate: bool, absent: bool) -> Result<Vec<Conj>, String> {
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
    if absent {
        out.push(vec![atom("meta protocol != { ip, ip6 }", Family::NotIp)]);
    }
    Ok(out)
}

/// The bytes `bytes` compared with a payload from byte `start`, read from `base` (`@th` with
/// the UDP header's 8 bytes as `skip`, or `@ih`, where the kernel puts TCP's payload): one raw
/// match per 32 bits (or fewer, at the end), `equal` or each differing.
fn payload_chunks(base: &str, skip: usize, start: usize, bytes: &[u8], equal: bool) -> Vec<String> {
    let sym = if equal { "" } else { "!= " };
    super::words_of(bytes)
        .map(|(at, k, value)| {
            format!(
                "{base},{},{} {sym}{value:#x}",
                (skip + start + at) * 8,
                k * 8
            )
        })
        .collect()
}

/// The test that a TCP segment holds `bytes` of payload after its header, whatever the header
/// lengths: on IPv4 `ip hdrlength . tcp doff . ip length`, one range of total lengths per pair
/// of header lengths; on IPv6 `tcp doff . ip6 length`. nft cannot add header lengths, so the
/// sums are spelt out. A data offset under 5 words is in no range: levee then finds no payload
/// (where it starts is not known), and the kernel would read it from inside the header.
fn tcp_payload_within(family: Family, bytes: u32) -> String {
    let doffs = 5..=15u32;
    match family {
        Family::V6 => {
            let ranges: Vec<String> = doffs
                .map(|d| format!("{d} . {}-65535", 4 * d + bytes))
                .collect();
            format!("tcp doff . ip6 length {{ {} }}", ranges.join(", "))
        }
        _ => {
            let ranges: Vec<String> = (5..=15u32)
                .flat_map(|h| doffs.clone().map(move |d| (h, d)))
                .filter(|&(h, d)| 4 * (h + d) + bytes <= u32::from(u16::MAX))
                .map(|(h, d)| format!("{h} . {d} . {}-65535", 4 * (h + d) + bytes))
                .collect();
            format!(
                "ip hdrlength . tcp doff . ip length {{ {} }}",
                ranges.join(", ")
            )
        }
    }
}

/// A condition on the UDP, TCP or ICMP payload: a slice from its start compared with bytes,
/// the only payload condition nft decides exactly as levee does.
///
/// UDP's slice is read after the 8-byte header (`@th`). It is there when the UDP length field
/// says the datagram holds it and, on IPv4, the IP packet holds it after its header
/// (`within_ipv4_packet`): levee's payload ends where the first of the two ends. On a first
/// fragment the UDP length claims the whole datagram while levee's payload ends with the
/// fragment, and on the ingress hook a short frame's Ethernet padding follows the packet, where
/// a load succeeds: the differential test found a slice read from a padded first fragment's
/// padding. An IPv6 packet with a UDP header is longer than any padded frame.
///
/// TCP's slice is read from `@ih`, where the kernel finds the payload (after the data offset's
/// header, never in a later fragment). It is there when the IP packet holds it after both
/// headers (`tcp_payload_within`): an IPv4 SYN is shorter than a minimum Ethernet frame, so its
/// padding would otherwise be read as payload. On IPv6 the test counts the payload length from
/// the fixed header, so extension headers before TCP make it a necessary condition only: such a
/// packet's slice is then read up to the frame's end, which is the packet's unless the frame
/// carries bytes after it (no padded frame does: it is longer than 60 bytes).
///
/// ICMP's slice is read after its 8-byte header (`@th`), behind the packet's length as UDP's.
///
/// Whatever needs where the payload ends (a negation, which holds where the slice is absent, a
/// length, the whole payload, a slice from the end) cannot be written: nft cannot subtract
/// header lengths.
fn payload_leaf(e: &Expr, field: &crate::Field, negate: bool) -> Result<Vec<Conj>, String> {
    let refuse = |why: &str| Err(format!("`{field}`: {why}; the bpf target writes it"));
    let l4 = match field.name() {
        "udp.payload" => "udp",
        "tcp.payload" => "tcp",
        "icmp.payload" => "icmp",
        "ip.payload" => return ip_payload_leaf(e, field, negate),
        _ => return refuse("nftables has no base for this payload"),
    };
    if negate {
        return refuse(
            "a negated payload condition holds where the payload lacks the bytes, which \
             nftables cannot tell (a first fragment's UDP length claims the whole datagram; \
             nothing says where a TCP payload ends)",
        );
    }
    let (start, bytes, op) = slice_or_refusal(e, field)?;
    let len = bytes.len();
    // `==`: every chunk equal, one line; `!=`: one line per chunk that may differ.
    // Past UDP's and ICMP's 8-byte headers.
    let (base, skip) = if l4 == "tcp" { ("@ih", 0) } else { ("@th", 8) };
    let chunks = payload_chunks(base, skip, start, bytes, op == CmpOp::Eq);
    // `!=` on a slice of several chunks is one line per chunk, each also loading the slice's
    // last byte: a load past the packet fails the line, so a chunk that differs counts only
    // where the whole slice is there. The length tests below are exact on IPv4 and on IPv6
    // without extension headers; with them (or a first fragment, whose UDP length claims the
    // whole datagram) the frame's end bounds the slice, and the load says whether it is there.
    let last = format!("{base},{},8 >= 0", (skip + start + len - 1) * 8);
    let lines: Vec<Vec<String>> = if op == CmpOp::Eq {
        vec![chunks]
    } else {
        let n = chunks.len();
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i + 1 < n {
                    vec![c, last.clone()]
                } else {
                    vec![c]
                }
            })
            .collect()
    };
    let end = (8 + start + len) as u32;
    let mut out = Vec::new();
    for (fam, with) in TRANSPORT_READ {
        let (proto, guards) = match l4 {
            "udp" => {
                let mut guards = vec![format!("udp length >= {end}")];
                if fam == Family::V4 {
                    guards.push(within_ipv4_packet(end));
                }
                ("udp", guards)
            }
            "tcp" => ("tcp", vec![tcp_payload_within(fam, (start + len) as u32)]),
            // levee takes ICMP and ICMPv6 in either IP version as ICMP.
            _ => {
                let within = match fam {
                    Family::V4 => within_ipv4_packet(end),
                    _ => format!("ip6 length >= {end}"),
                };
                ("{ icmp, ipv6-icmp }", vec![within])
            }
        };
        let implied = l4_of(field.name(), fam);
        for line in &lines {
            let mut conj: Conj = with.iter().map(|w| atom(*w, fam)).collect();
            let mut guard = atom(format!("meta l4proto {proto}"), fam);
            guard.l4 = implied;
            // A set of protocols before `icmp type` would be taken as its context (see `late`).
            guard.late = proto.starts_with('{');
            conj.push(guard);
            for t in guards.iter().chain(line) {
                let mut a = atom(t.clone(), fam);
                a.l4 = implied;
                conj.push(a);
            }
            out.push(conj);
        }
    }
    Ok(out)
}

/// A slice of the IP payload from its start compared with bytes (`ip.payload[0:4] == 0x..`,
/// or `!=`), read from the network header (`@nh`) at the header's length: on IPv4 one line
/// per header length (`ip hdrlength 5` ... `15`: nft cannot add a header length to an
/// offset), on IPv6 past the 40-byte fixed header. Each line is guarded by the IP length (the
/// total length, or the IPv6 payload length), which is where levee's IP payload ends: the
/// guard is exact, in every fragment and whatever follows the packet in its frame (the ingress
/// hook sees a short frame's Ethernet padding). Negations and what needs the payload's end
/// are refused as for the other payloads.
fn ip_payload_leaf(e: &Expr, field: &crate::Field, negate: bool) -> Result<Vec<Conj>, String> {
    let refuse = |why: &str| Err(format!("`{field}`: {why}; the bpf target writes it"));
    if negate {
        return refuse(
            "a negated payload condition holds where the payload lacks the bytes, which \
             levee writes for nftables only as a positive condition",
        );
    }
    let (start, bytes, op) = slice_or_refusal(e, field)?;
    let end = start + bytes.len();
    // (family, guards, where the payload starts in the network header)
    let mut ways: Vec<(Family, Vec<String>, usize)> = (5..=15usize)
        .filter(|words| 4 * words + end <= usize::from(u16::MAX))
        .map(|words| {
            let guards = vec![
                "meta protocol ip".to_string(),
                format!("ip hdrlength {words}"),
                format!("ip length >= {}", 4 * words + end),
            ];
            (Family::V4, guards, 4 * words)
        })
        .collect();
    ways.push((
        Family::V6,
        vec![
            "meta protocol ip6".to_string(),
            format!("ip6 length >= {end}"),
        ],
        40,
    ));
    let mut out = Vec::new();
    for (fam, guards, at) in ways {
        let chunks = payload_chunks("@nh", at, start, bytes, op == CmpOp::Eq);
        // `==`: every chunk on one line; `!=`: a line per chunk. The length guard says the
        // whole slice is there, so a chunk that differs counts only then.
        let lines = if op == CmpOp::Eq {
            vec![chunks]
        } else {
            chunks.into_iter().map(|c| vec![c]).collect()
        };
        for line in lines {
            out.push(
                guards
                    .iter()
                    .chain(&line)
                    .map(|t| atom(t.clone(), fam))
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// A payload condition as a slice from the payload's start (see
/// [`super::slice_from_start`]), or why nft cannot write it.
fn slice_or_refusal<'a>(
    e: &'a Expr,
    field: &crate::Field,
) -> Result<(usize, &'a [u8], CmpOp), String> {
    let refuse = |why: &str| format!("`{field}`: {why}; the bpf target writes it");
    super::slice_from_start(e, field).map_err(|not| match not {
        super::NotFromStart::Search => {
            refuse("nftables cannot search a payload (`contains`, `matches`)")
        }
        super::NotFromStart::Elsewhere => refuse(
            "nftables writes slices from the payload's start only: its length, its end \
             and the whole of it need where it ends, which nft cannot compute",
        ),
    })
}

/// The disjunctive normal form of a leaf, or of its negation.
fn leaf(e: &Expr, negate: bool, lists: &crate::Lists) -> Result<Vec<Conj>, String> {
    if let Some(field) = e.fields().into_iter().find(|f| f.is_payload()) {
        return payload_leaf(e, &field, negate);
    }
    match e {
        Expr::Flag(f) if crate::field::tcp_flag_bit(f.name()).is_none() => {
            ip_flag(f.name(), negate)
        }
        Expr::Flag(f) => {
            let bit = crate::field::tcp_flag_bit(f.name())
                .ok_or_else(|| format!("`{}` has no nftables match levee writes", f.name()))?;
            let t = if negate { "==" } else { "!=" };
            int_leaf(
                "tcp.flags",
                &|acc, _| Some(format!("{acc} & {bit:#x} {t} 0")),
                &|_| false,
                negate,
            )
        }
        Expr::Cmp { field, op, value } => match (field.ty(), value) {
            // `!=` holds on packets that have an address (another one); `not ==` also on
            // packets that have none.
            (FieldType::Ip, Literal::Ip(ip)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => addr_leaf(
                field.name(),
                &[IpNet::from(*ip)],
                negate != (*op == CmpOp::Ne),
                negate,
            ),
            (FieldType::Int, Literal::Int(v))
                if field.name() == "ip.proto"
                    && matches!((op, negate), (CmpOp::Eq, false) | (CmpOp::Ne, true)) =>
            {
                // `meta l4proto == 17` is a protocol nft weighs against the transport matches
                // of the same line.
                let l4 = match v {
                    1 => Some("icmp"),
                    6 => Some("tcp"),
                    17 => Some("udp"),
                    58 => Some("icmpv6"),
                    _ => None,
                };
                let mut a = atom(format!("meta l4proto == {v}"), Family::Any);
                a.l4 = l4;
                a.late = true;
                Ok(vec![vec![a]])
            }
            (FieldType::Int, Literal::Int(v)) => {
                let v = *v as i64;
                let op = if negate { complement(*op) } else { *op };
                let name = field.name();
                int_leaf(
                    name,
                    &|acc, off| {
                        let w = v + off;
                        if w >= 0 {
                            return Some(format!("{acc} {}{w}", op_text(op)));
                        }
                        // Below every value once shifted (`ip.len >= 28` read as IPv6's
                        // payload length): `>`, `>=` and `!=` hold on every value, the
                        // others on none.
                        matches!(op, CmpOp::Gt | CmpOp::Ge | CmpOp::Ne)
                            .then(|| format!("{acc} >= 0"))
                    },
                    &|c| op.holds(c, v as u64),
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
            FieldType::Ip => addr_leaf(field.name(), &set.nets(lists), negate, negate),
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
                    &|c| set.contains_int(c) != negate,
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

/// The IP header's flags: IPv4 reads them from `frag-off`; on IPv6, "don't fragment" is
/// false, and the fragment header gives "more fragments" and "is a fragment".
fn ip_flag(name: &str, negate: bool) -> Result<Vec<Conj>, String> {
    let v6 = |texts: &[&str]| -> Conj {
        let mut c = vec![atom("meta protocol ip6", Family::V6)];
        c.extend(texts.iter().map(|t| atom(*t, Family::V6)));
        c
    };
    let (mask, v6_holds, v6_lacks): (u16, Vec<Conj>, Vec<Conj>) = match name {
        "ip.flags.df" => (0x4000, vec![], vec![v6(&[])]),
        "ip.flags.mf" => (
            0x2000,
            vec![v6(&["frag more-fragments 1"])],
            vec![v6(&["exthdr frag missing"]), v6(&["frag more-fragments 0"])],
        ),
        "ip.frag" => (
            0x3fff,
            vec![v6(&["exthdr frag exists"])],
            vec![v6(&["exthdr frag missing"])],
        ),
        other => return Err(format!("`{other}` has no nftables match levee writes")),
    };
    let test = if negate { "==" } else { "!=" };
    let mut out = vec![vec![atom(
        format!("ip frag-off & {mask:#06x} {test} 0"),
        Family::V4,
    )]];
    if negate {
        out.extend(v6_lacks);
        out.push(vec![atom("meta protocol != { ip, ip6 }", Family::NotIp)]);
    } else {
        out.extend(v6_holds);
    }
    Ok(out)
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

/// IPv4 and IPv6 matches together can never hold, nor either with a match of packets that
/// are not IP, nor matches of two transport protocols.
fn one_family(c: &[Atom]) -> bool {
    let has = |f: Family| c.iter().any(|t| t.family == f);
    let (v4, v6, not_ip) = (has(Family::V4), has(Family::V6), has(Family::NotIp));
    let mut l4 = c.iter().filter_map(|t| t.l4);
    let first = l4.next();
    let families = usize::from(v4) + usize::from(v6) + usize::from(not_ip) <= 1;
    families && !(not_ip && first.is_some()) && l4.all(|p| Some(p) == first)
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
pub fn render(
    file: &RulesFile,
    device: Option<&str>,
    origin: &str,
    log_group: Option<u16>,
) -> Result<String, Vec<String>> {
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
            // A match a line already has (two conditions guarded alike) is written once.
            let mut matches: Vec<&str> = Vec::new();
            let ordered = conj
                .iter()
                .filter(|a| !a.late)
                .chain(conj.iter().filter(|a| a.late));
            for a in ordered {
                if !matches.contains(&a.text.as_str()) {
                    matches.push(&a.text);
                }
            }
            let _ = writeln!(o, "    {} goto act_{i}", matches.join(" "));
        }
        let _ = writeln!(o, "  }}");
        let verdict = match &r.action {
            Action::Block => "counter drop".to_string(),
            Action::Allow => "counter accept".to_string(),
            Action::Log => {
                let group = log_group.map_or(String::new(), |g| format!("group {g} "));
                format!(
                    "counter log {group}prefix \"levee {}: \"",
                    r.id.replace('"', "")
                )
            }
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
        render(&f, Some("eth0"), "t", None).unwrap()
    }

    #[test]
    fn conjunctions_become_lines_and_negations_keep_absence() {
        let r = one("ip.dst == 10.10.10.10 and udp.srcport == 4500 and ip.len == 232");
        assert!(
            r.contains("ip daddr 10.10.10.10 meta protocol ip ip frag-off & 0x1fff == 0 meta l4proto udp udp sport == 4500 ip length == 232 goto act_0"),
            "{r}"
        );
        assert!(!r.contains("ip6 length"), "v4 and v6 in one line: {r}");
        let r = one("ip.dst == 10.10.10.10 and ((udp.srcport == 53 and ip.len == 1500) or ip.frag_offset > 0)");
        assert!(r.matches("goto act_0").count() >= 1, "{r}");
        let r = one("not tcp.dstport == 80");
        assert!(
            r.contains("meta l4proto tcp tcp dport != 80 goto act_0"),
            "{r}"
        );
        assert!(r.contains("meta l4proto != tcp goto act_0"), "{r}");
        // The protocol is written even where another test of `meta l4proto` comes first.
        let p = one("udp.dstport != 5 and ip.proto in {1..6 17}");
        assert!(p.contains("meta l4proto udp udp dport != 5"), "{p}");
        // ... and tests of `ip.proto` come last in their line.
        assert!(
            p.contains("udp dport != 5 meta l4proto { 1-6, 17 } goto act_0"),
            "{p}"
        );
        // `ip.len >= 28` holds on every IPv6 packet (IPv6 counts 40 bytes of header).
        let p = one("ip.len >= 28");
        assert!(p.contains("ip6 length >= 0 goto act_0"), "{p}");
        // Later fragments and packets that are not IP lack the port too.
        assert!(r.contains("meta protocol != { ip, ip6 } goto act_0"), "{r}");
        assert!(r.contains("ip frag-off & 0x1fff != 0 goto act_0"), "{r}");
        assert!(
            r.contains("meta protocol ip6 frag frag-off != 0 goto act_0"),
            "{r}"
        );
        let r = one("tcp.flags == 0x02 and ip.ttl in {48..55}");
        assert!(
            r.contains("meta protocol ip ip frag-off & 0x1fff == 0 meta l4proto tcp @th,96,16 & 0x1ff == 2 ip ttl { 48-55 } goto act_0"),
            "{r}"
        );
        assert!(r.contains("meta protocol ip6 exthdr frag missing meta l4proto tcp @th,96,16 & 0x1ff == 2 ip6 hoplimit { 48-55 }"), "{r}");
        // `!=` needs the field; `not ==` holds without it.
        let r = one("ip.src != 192.0.2.1");
        assert!(!r.contains("meta protocol != { ip, ip6 }"), "{r}");
        let r = one("not ip.src == 192.0.2.1");
        assert!(r.contains("meta protocol != { ip, ip6 }"), "{r}");
        // Transport matches of two protocols in one line can never hold: left out.
        let r = one("tcp.dstport == 80 and icmp.type == 3");
        assert!(!r.contains("goto act_0"), "{r}");
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
