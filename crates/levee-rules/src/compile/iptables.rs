//! Rules for iptables (IPv4): `iptables-restore` input for the `raw` table (before conntrack)
//! and `ipset restore` input for address lists.
//!
//! As for nftables, each expression becomes a disjunction of conjunctions: one line per
//! conjunction in the rule's chain `levee-rN`, going (`-g`) to the action chain `levee-aN`,
//! whose counters count what the rule decided; the chain `levee` calls the rule chains in
//! order. Address sets of more than one entry become `hash:net` ipsets; header fields iptables
//! has no match for (the nine TCP flag bits, the window, the IP ID, the UDP length) are read
//! with the `u32` match from the transport header of first fragments, as are UDP and TCP
//! payload slices from the payload's start.
//!
//! Known difference, seen in the kernel tests: with the nf_tables backend of iptables, the
//! `length` match of a minimum-size Ethernet frame counts the frame's padding, so `ip.len ==
//! 40` misses padded 40-byte SYNs there. The nftables target reads the IP header instead.

use std::fmt::Write as _;

use ipnet::{IpNet, Ipv4Net};

use crate::ast::{CmpOp, Expr, Literal};
use crate::field::FieldType;
use crate::file::{Action, RateKey, RulesFile};

use super::MAX_LINES;

/// A piece of an iptables line. Protocol and fragment tests are gathered per line, since
/// iptables takes each of `-p` and `-f` once.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Proto(u8),
    NotProto(u8),
    FirstFragment,
    /// `-f`: second and later fragments, which carry no transport header.
    LaterFragment,
    /// `--sport` (`dst` false) or `--dport` in a range: the protocol's match takes each once,
    /// so the ranges of one line are intersected.
    Port {
        dst: bool,
        lo: u64,
        hi: u64,
    },
    Match(String),
}

type Conj = Vec<Part>;

fn m(s: impl Into<String>) -> Part {
    Part::Match(s.into())
}

/// Protocols by name where iptables loads their match (`--dport` needs `-p tcp`).
fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        other => other.to_string(),
    }
}

/// The line for a conjunction, or `None` when it can never hold.
fn line(conj: &Conj) -> Option<String> {
    let mut proto: Option<u8> = None;
    let mut not_protos = Vec::new();
    let mut first = false;
    let mut later = false;
    let mut rest = Vec::new();
    let mut ports: [Option<(u64, u64)>; 2] = [None, None];
    for p in conj {
        match p {
            Part::Port { dst, lo, hi } => {
                let slot = &mut ports[usize::from(*dst)];
                let (a, b) = slot.map_or((*lo, *hi), |(a, b)| (a.max(*lo), b.min(*hi)));
                if a > b {
                    return None;
                }
                *slot = Some((a, b));
            }
            Part::Proto(x) => match proto {
                Some(y) if y != *x => return None,
                _ => proto = Some(*x),
            },
            Part::NotProto(x) => not_protos.push(*x),
            Part::FirstFragment => first = true,
            Part::LaterFragment => later = true,
            Part::Match(s) => rest.push(s.clone()),
        }
    }
    let mut out = Vec::new();
    match proto {
        Some(p) if not_protos.contains(&p) => return None,
        Some(p) => out.push(format!("-p {}", proto_name(p))),
        None if not_protos.len() == 1 && not_protos[0] != 0 => {
            out.push(format!("! -p {}", proto_name(not_protos[0])))
        }
        None if !not_protos.is_empty() => {
            let mut ranges: Vec<(u64, u64)> =
                not_protos.iter().map(|&x| (x as u64, x as u64)).collect();
            ranges.sort_unstable();
            let allowed: Vec<String> = complement(&ranges, 255)
                .iter()
                .map(|&(a, b)| range_text(a, b))
                .collect();
            out.push(format!("-m u32 --u32 \"6&0xFF={}\"", allowed.join(",")));
        }
        None => {}
    }
    match (first, later) {
        (true, true) => return None,
        (true, false) => out.push("! -f".into()),
        (false, true) => out.push("-f".into()),
        (false, false) => {}
    }
    // iptables takes `-s` and `-d` once a line: further address tests go through iprange.
    let mut seen = [false, false];
    let rest: Vec<String> = rest
        .into_iter()
        .map(|r| {
            let (neg, body) = match r.strip_prefix("! ") {
                Some(b) => ("! ", b),
                None => ("", r.as_str()),
            };
            let (dir, net) = match (body.strip_prefix("-s "), body.strip_prefix("-d ")) {
                (Some(n), _) => (0, n),
                (_, Some(n)) => (1, n),
                _ => return r,
            };
            if !seen[dir] {
                seen[dir] = true;
                return r;
            }
            let net: Ipv4Net = net.parse().expect("levee writes -s and -d with a prefix");
            let flag = if dir == 0 {
                "--src-range"
            } else {
                "--dst-range"
            };
            format!(
                "-m iprange {neg}{flag} {}-{}",
                net.network(),
                net.broadcast()
            )
        })
        .collect();
    for (dst, r) in ports.iter().enumerate() {
        if let Some((lo, hi)) = r {
            let flag = if dst == 1 { "--dport" } else { "--sport" };
            out.push(format!("{flag} {}", range_text(*lo, *hi)));
        }
    }
    out.extend(rest);
    Some(out.join(" "))
}

/// The u32 test of an unfragmented (or first-fragment) transport header word.
fn u32_transport(proto: u8, offset: u32, shift: u32, mask: u32, range: &str) -> String {
    format!(
        "-m u32 --u32 \"6&0xFF={proto}&&4&0x1FFF=0&&0>>22&0x3C@{offset}>>{shift}&{mask:#x}={range}\""
    )
}

fn range_text(lo: u64, hi: u64) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}:{hi}")
    }
}

/// The complement of sorted, merged ranges within `0..=max`.
fn complement(ranges: &[(u64, u64)], max: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut next = 0u64;
    for &(a, b) in ranges {
        if a > next {
            out.push((next, a - 1));
        }
        next = b.saturating_add(1);
    }
    if next <= max {
        out.push((next, max));
    }
    out
}

/// The ranges an integer comparison holds on, within `0..=max`.
fn op_ranges(op: CmpOp, v: u64, max: u64) -> Vec<(u64, u64)> {
    let v = v.min(max + 1);
    match op {
        CmpOp::Eq if v <= max => vec![(v, v)],
        CmpOp::Eq => vec![],
        CmpOp::Ne => complement(&[(v, v)], max),
        CmpOp::Lt if v == 0 => vec![],
        CmpOp::Lt => vec![(0, v - 1)],
        CmpOp::Le => vec![(0, v.min(max))],
        CmpOp::Gt if v >= max => vec![],
        CmpOp::Gt => vec![(v + 1, max)],
        CmpOp::Ge if v > max => vec![],
        CmpOp::Ge => vec![(v, max)],
    }
}

struct Ctx<'a> {
    lists: &'a crate::Lists,
    rule: usize,
    sets: &'a mut Vec<(String, Vec<Ipv4Net>)>,
    /// Whether the rule names IPv6 addresses, which this IPv4 table never sees.
    names_ipv6: bool,
}

/// Conjunctions (as iptables matches) for "field in ranges", or for its negation with the
/// field's absence.
fn int_leaf(
    name: &str,
    ranges_for: impl Fn(u64) -> Vec<(u64, u64)>,
    negate: bool,
) -> Result<Vec<Conj>, String> {
    let (max, layer): (u64, Option<u8>) = match name {
        "tcp.srcport" | "tcp.dstport" | "tcp.window" => (65535, Some(6)),
        "tcp.flags" => (0x1ff, Some(6)),
        "udp.srcport" | "udp.dstport" | "udp.len" => (65535, Some(17)),
        "icmp.type" | "icmp.code" | "icmp.quoted.proto" => (255, Some(1)),
        "icmp.quoted.srcport" | "icmp.quoted.dstport" => (65535, Some(1)),
        "ip.ttl" | "ip.proto" => (255, None),
        "ip.len" | "ip.id" => (65535, None),
        "ip.frag_offset" => (8191, None),
        other => return Err(format!("`{other}` has no iptables match levee writes")),
    };
    if negate && name.starts_with("icmp.quoted.") {
        return Err(format!(
            "a negated condition on `{name}` cannot be written for iptables (a packet lacks \
             it in too many ways); write the condition that holds"
        ));
    }
    let ranges = ranges_for(max);
    let ranges = if negate {
        complement(&ranges, max)
    } else {
        ranges
    };
    let mut out: Vec<Conj> = Vec::new();
    for (lo, hi) in &ranges {
        let (lo, hi) = (*lo, *hi);
        let r = range_text(lo, hi);
        let conj = match name {
            // Transport fields read only from first fragments: a later fragment has none.
            "tcp.srcport" => vec![
                Part::Proto(6),
                Part::FirstFragment,
                Part::Port { dst: false, lo, hi },
            ],
            "tcp.dstport" => vec![
                Part::Proto(6),
                Part::FirstFragment,
                Part::Port { dst: true, lo, hi },
            ],
            "udp.srcport" => vec![
                Part::Proto(17),
                Part::FirstFragment,
                Part::Port { dst: false, lo, hi },
            ],
            "udp.dstport" => vec![
                Part::Proto(17),
                Part::FirstFragment,
                Part::Port { dst: true, lo, hi },
            ],
            "tcp.window" => vec![Part::Proto(6), m(u32_transport(6, 12, 0, 0xffff, &r))],
            "tcp.flags" => vec![Part::Proto(6), m(u32_transport(6, 12, 16, 0x1ff, &r))],
            "udp.len" => vec![Part::Proto(17), m(u32_transport(17, 4, 16, 0xffff, &r))],
            "icmp.type" => vec![Part::Proto(1), m(u32_transport(1, 0, 24, 0xff, &r))],
            "icmp.code" => vec![Part::Proto(1), m(u32_transport(1, 0, 16, 0xff, &r))],
            // An error type quoting an IPv4 header without options; every word u32 reads
            // must lie in the packet, as the bytes levee reads must.
            "icmp.quoted.proto" | "icmp.quoted.srcport" | "icmp.quoted.dstport" => {
                let th = "0>>22&0x3C";
                let mut t = format!("6&0xFF=1&&4&0x1FFF=0&&{th}@0>>24=3:5,11:12&&{th}@8>>24=0x45");
                match name {
                    "icmp.quoted.proto" => t.push_str(&format!("&&{th}@14&0xFF={r}")),
                    port => {
                        t.push_str(&format!("&&{th}@14&0xFF=6,17&&{th}@14>>16&0x1FFF=0"));
                        let at = if port.ends_with("srcport") { 26 } else { 28 };
                        t.push_str(&format!("&&{th}@{at}&0xFFFF={r}"));
                    }
                }
                vec![Part::Proto(1), m(format!("-m u32 --u32 \"{t}\""))]
            }
            "ip.ttl" if lo == hi => vec![m(format!("-m ttl --ttl-eq {lo}"))],
            "ip.ttl" => {
                let mut c = Vec::new();
                if lo > 0 {
                    c.push(m(format!("-m ttl --ttl-gt {}", lo - 1)));
                }
                if hi < 255 {
                    c.push(m(format!("-m ttl --ttl-lt {}", hi + 1)));
                }
                c
            }
            "ip.len" => vec![m(format!("-m length --length {r}"))],
            // A single protocol through `-p` (the transport matches need it); 0 and ranges
            // through u32, since `-p 0` means every protocol to iptables.
            "ip.proto" if lo == hi && lo != 0 => vec![Part::Proto(lo as u8)],
            "ip.proto" => vec![m(format!("-m u32 --u32 \"6&0xFF={r}\""))],
            "ip.id" => vec![m(format!("-m u32 --u32 \"4>>16={r}\""))],
            "ip.frag_offset" => vec![m(format!("-m u32 --u32 \"4&0x1FFF={r}\""))],
            _ => unreachable!("checked above"),
        };
        out.push(conj);
    }
    if negate {
        if let Some(p) = layer {
            // The transport field is absent from other protocols and from later fragments.
            out.push(vec![Part::NotProto(p)]);
            out.push(vec![Part::LaterFragment]);
        }
    }
    if out.len() > MAX_LINES {
        return Err(format!(
            "the condition on `{name}` expands to more than {MAX_LINES} iptables lines"
        ));
    }
    Ok(out)
}

fn addr_leaf(
    name: &str,
    nets: Vec<IpNet>,
    negate: bool,
    cx: &mut Ctx<'_>,
) -> Result<Vec<Conj>, String> {
    let (flag, dir) = match name {
        "ip.src" => ("-s", "src"),
        "ip.dst" => ("-d", "dst"),
        other => return Err(format!("`{other}` has no iptables match levee writes")),
    };
    // This table is IPv4: IPv6 entries cannot match here (ip6tables holds them). The rule
    // says so in a comment, so nobody takes the IPv6 part as covered.
    cx.names_ipv6 |= nets.iter().any(|n| matches!(n, IpNet::V6(_)));
    let v4: Vec<Ipv4Net> = nets
        .into_iter()
        .filter_map(|n| match n {
            IpNet::V4(n) => Some(n),
            IpNet::V6(_) => None,
        })
        .collect();
    let neg = if negate { "! " } else { "" };
    Ok(match v4.len() {
        0 if negate => vec![Vec::new()],
        0 => Vec::new(),
        1 => vec![vec![m(format!("{neg}{flag} {}", v4[0]))]],
        _ => {
            let set = format!("levee-r{}-{}{}", cx.rule, dir, cx.sets.len());
            cx.sets.push((set.clone(), v4));
            vec![vec![m(format!("-m set {neg}--match-set {set} {dir}"))]]
        }
    })
}

/// The 32-bit words u32 compares for `bytes` at `start` of a payload, as (offset from the
/// payload's start, mask, value): whole words inside the slice (the last one overlapping
/// the one before when the length is not a multiple of four), so nothing past the slice is
/// read; a slice shorter than a word is read as the low bytes of the word ending with it,
/// whose offset is then negative (it reads bytes before the payload).
fn payload_words(start: usize, bytes: &[u8]) -> Vec<(i64, u32, u32)> {
    let word = |b: &[u8]| b.iter().fold(0u32, |v, &x| (v << 8) | u32::from(x));
    let n = bytes.len();
    if n < 4 {
        let mask = ((1u64 << (8 * n)) - 1) as u32;
        return vec![(start as i64 + n as i64 - 4, mask, word(bytes))];
    }
    let mut at: Vec<usize> = (0..=n - 4).step_by(4).collect();
    if !n.is_multiple_of(4) {
        at.push(n - 4);
    }
    at.into_iter()
        .map(|a| ((start + a) as i64, u32::MAX, word(&bytes[a..a + 4])))
        .collect()
}

/// A payload condition for iptables: a UDP, TCP or IP payload slice from the start compared
/// with bytes, read with `u32` (UDP and TCP from first fragments and unfragmented packets; the
/// IP payload, past the header's length, from every fragment).
///
/// In the raw table the packet ends where its IP length says (Ethernet padding is gone), and
/// u32 fails a read past it, as levee finds the slice absent: a TCP payload, a first
/// fragment's and the IP payload end with the packet. An unfragmented datagram's payload ends
/// with its UDP length, which is tested. A negation holds where the slice is absent, which
/// u32 cannot tell; lengths, slices from the end and searches need where the payload ends:
/// refused, as ICMP payloads are.
fn payload_leaf(e: &Expr, field: &crate::Field, negate: bool) -> Result<Vec<Conj>, String> {
    let refuse = |why: &str| Err(format!("`{field}`: {why}; the bpf target writes it"));
    // The transport protocol, `None` for the IP payload.
    let proto: Option<u8> = match field.name() {
        "udp.payload" => Some(17),
        "tcp.payload" => Some(6),
        "ip.payload" => None,
        _ => return refuse("levee writes only IP, UDP and TCP payloads for iptables"),
    };
    if let (
        None,
        Expr::Contains {
            needle: Literal::Bytes(needle),
            ..
        },
    ) = (proto, e)
    {
        return ip_payload_search(field, needle, negate);
    }
    if negate {
        return refuse(
            "a negated payload condition holds where the payload lacks the bytes, which \
             iptables' u32 cannot tell",
        );
    }
    let (start, bytes, op) = match super::slice_from_start(e, field) {
        Ok(slice) => slice,
        Err(super::NotFromStart::Search) => {
            return refuse("iptables cannot search a payload where levee's search looks")
        }
        Err(super::NotFromStart::Elsewhere) => {
            return refuse(
                "iptables writes slices from the payload's start only: its length, its end \
                 and the whole of it need where it ends",
            )
        }
    };
    let words = payload_words(start, bytes);
    // Where reading starts: past the IP header, past the UDP header, or past the TCP header
    // its data offset gives (at least 20 bytes, or levee sees no payload); `skip` bytes of a
    // header before the payload, which a short slice's word may reach back into.
    let (base, guard, skip) = match proto {
        Some(17) => {
            let end = 8 + start + bytes.len();
            (
                "0>>22&0x3C@",
                Some(format!("0>>22&0x3C@4>>16={end}:65535")),
                8,
            )
        }
        Some(_) => (
            "0>>22&0x3C@12>>26&0x3C@",
            Some("0>>22&0x3C@12>>28=5:15".to_string()),
            0,
        ),
        None => ("0>>22&0x3C@", None, 0),
    };
    if skip == 0 && words.iter().any(|w| w.0 < 0) {
        return refuse(
            "a slice shorter than four bytes and ending within the payload's first four \
             cannot be read by u32, which cannot read back from where the payload starts",
        );
    }
    let test = |&(at, mask, value): &(i64, u32, u32), equal: bool| {
        let at = at + skip;
        let masked = if mask == u32::MAX {
            String::new()
        } else {
            format!("&{mask:#x}")
        };
        let want = if equal {
            format!("{value:#x}")
        } else {
            let mut r = Vec::new();
            if value > 0 {
                r.push(range_text(0, u64::from(value) - 1));
            }
            if value < mask {
                r.push(range_text(u64::from(value) + 1, u64::from(mask)));
            }
            r.join(",")
        };
        format!("{base}{at}{masked}={want}")
    };
    // One u32 match a word (a match holds at most eleven tests), each with the protocol,
    // fragment and length tests it rests on; `==`: every word on one line, `!=`: a line a
    // word that may differ.
    let head = match (proto, &guard) {
        (Some(p), Some(g)) => format!("6&0xFF={p}&&4&0x1FFF=0&&{g}&&"),
        _ => String::new(),
    };
    let matched =
        |w: &(i64, u32, u32), equal: bool| m(format!("-m u32 --u32 \"{head}{}\"", test(w, equal)));
    // `!=`: each word's line also reads the slice's last word (any value): u32 fails a read
    // past the packet, so a word that differs counts only where the whole slice is there (the
    // differential test found a TCP segment whose first word of a slice differed and whose
    // slice ended past the packet).
    let last = words.last().map(|&(at, mask, _)| {
        let at = at + skip;
        format!("{base}{at}&{mask:#x}=0:{mask:#x}")
    });
    let with_proto =
        |conj: Vec<Part>| -> Vec<Part> { proto.map(Part::Proto).into_iter().chain(conj).collect() };
    Ok(if op == CmpOp::Eq {
        vec![with_proto(words.iter().map(|w| matched(w, true)).collect())]
    } else {
        let n = words.len();
        words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let mut tests = format!("{head}{}", test(w, false));
                if let Some(last) = last.as_ref().filter(|_| i + 1 < n) {
                    tests.push_str("&&");
                    tests.push_str(last);
                }
                with_proto(vec![m(format!("-m u32 --u32 \"{tests}\""))])
            })
            .collect()
    })
}

/// The longest pattern the `string` match takes (`XT_STRING_MAX_PATTERN_SIZE`).
const STRING_MAX: usize = 128;

/// A search of the IP payload (`ip.payload contains 0x..`), or its negation: one line per IPv4
/// header length, `u32` testing the length and the `string` match searching from where the
/// payload starts to the packet's end (the raw table sees the packet cut at its IP length, so
/// the search ends where levee's payload does). Knuth-Morris-Pratt, not Boyer-Moore: the
/// kernel's Boyer-Moore misses a match that spans two parts of a non-linear packet. Every
/// IPv4 packet iptables sees has a header of 5 to 15 words and a total length that covers it
/// (the kernel drops the others first), so it has an IP payload, and `! --hex-string` is the
/// negation exactly. UDP and TCP payloads are not searched: a search from a fixed offset would
/// also look past a UDP length shorter than the packet, or need a line per pair of header
/// lengths.
fn ip_payload_search(
    field: &crate::Field,
    needle: &[u8],
    negate: bool,
) -> Result<Vec<Conj>, String> {
    if needle.is_empty() || needle.len() > STRING_MAX {
        return Err(format!(
            "`{field}`: iptables' string match searches for 1 to {STRING_MAX} bytes; the \
             simulator runs this search"
        ));
    }
    let hex: Vec<String> = needle.iter().map(|b| format!("{b:02x}")).collect();
    let not = if negate { "! " } else { "" };
    Ok((5..=15u32)
        .map(|words| {
            vec![
                m(format!("-m u32 --u32 \"0>>24&0xF={words}\"")),
                m(format!(
                    "-m string --algo kmp --from {} --to 65535 {not}--hex-string \"|{}|\"",
                    4 * words,
                    hex.join(" ")
                )),
            ]
        })
        .collect())
}

fn leaf(e: &Expr, negate: bool, cx: &mut Ctx<'_>) -> Result<Vec<Conj>, String> {
    if let Some(field) = e.fields().into_iter().find(|f| f.is_payload()) {
        return payload_leaf(e, &field, negate);
    }
    match e {
        Expr::Flag(f) if crate::field::tcp_flag_bit(f.name()).is_none() => {
            // The IPv4 header's flags, read from its sixth and seventh bytes.
            let mask = match f.name() {
                "ip.flags.df" => 0x4000,
                "ip.flags.mf" => 0x2000,
                "ip.frag" => 0x3fff,
                other => return Err(format!("`{other}` has no iptables match levee writes")),
            };
            let want = if negate {
                "0".to_string()
            } else {
                format!("1:{mask:#x}")
            };
            Ok(vec![vec![m(format!(
                "-m u32 --u32 \"4&{mask:#x}={want}\""
            ))]])
        }
        Expr::Flag(f) => {
            let bit = crate::field::tcp_flag_bit(f.name())
                .ok_or_else(|| format!("`{}` has no iptables match levee writes", f.name()))?;
            let want = if negate { 0 } else { bit };
            let mut out = vec![vec![
                Part::Proto(6),
                m(format!(
                    "-m u32 --u32 \"6&0xFF=6&&4&0x1FFF=0&&0>>22&0x3C@12>>16&{bit:#x}={want}\""
                )),
            ]];
            if negate {
                out.push(vec![Part::NotProto(6)]);
                out.push(vec![Part::LaterFragment]);
            }
            Ok(out)
        }
        Expr::Cmp { field, op, value } => match (field.ty(), value) {
            (FieldType::Ip, Literal::Ip(ip)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => addr_leaf(
                field.name(),
                vec![IpNet::from(*ip)],
                negate != (*op == CmpOp::Ne),
                cx,
            ),
            (FieldType::Int, Literal::Int(v)) => {
                let (op, v) = (*op, *v);
                int_leaf(field.name(), |max| op_ranges(op, v, max), negate)
            }
            (FieldType::Bool, Literal::Bool(b)) => leaf(
                &Expr::Flag(*field),
                negate != (*b != (*op == CmpOp::Eq)),
                cx,
            ),
            _ => Err(format!(
                "`{}` {} cannot be written for iptables",
                field.name(),
                op.symbol()
            )),
        },
        Expr::In { field, set } => match field.ty() {
            FieldType::Ip => addr_leaf(field.name(), set.nets(cx.lists), negate, cx),
            FieldType::Int => {
                let ranges = set.int_ranges.clone();
                int_leaf(
                    field.name(),
                    |max| {
                        ranges
                            .iter()
                            .filter(|r| r.0 <= max)
                            .map(|&(a, b)| (a, b.min(max)))
                            .collect()
                    },
                    negate,
                )
            }
            _ => Err(format!("`{}` cannot be written for iptables", field.name())),
        },
        Expr::Contains { field, .. } | Expr::Matches { field, .. } => Err(format!(
            "`{}`: iptables cannot match text in a decoded field",
            field.name()
        )),
        _ => unreachable!("compound expressions are expanded by the caller"),
    }
}

fn dnf(e: &Expr, negate: bool, cx: &mut Ctx<'_>) -> Result<Vec<Conj>, String> {
    super::dnf(e, negate, &mut |l, n| leaf(l, n, cx), &|_| true, "iptables")
}

/// `text` cut to at most `max` characters, with `...` where it was cut.
fn comment_text(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}...")
}

/// `iptables-restore` input and `ipset restore` input for the rules.
pub fn render(
    file: &RulesFile,
    origin: &str,
    log_group: Option<u16>,
) -> Result<(String, String), Vec<String>> {
    let mut problems = Vec::new();
    let mut sets = Vec::new();
    let mut bodies = Vec::new();
    for (i, r) in file.rules.iter().enumerate() {
        let mut cx = Ctx {
            lists: &file.lists,
            rule: i,
            sets: &mut sets,
            names_ipv6: false,
        };
        if let Action::RateLimit { rate, .. } = r.action {
            if let Err(e) = super::exact_rate(rate) {
                problems.push(format!("rule `{}`: {e}", r.id));
            }
        }
        let result = dnf(&r.expression, false, &mut cx);
        let names_ipv6 = cx.names_ipv6;
        match result {
            Ok(lines) if lines.len() <= MAX_LINES => bodies.push((lines, names_ipv6)),
            Ok(_) => problems.push(format!(
                "rule `{}`: more than {MAX_LINES} iptables lines; split it",
                r.id
            )),
            Err(e) => problems.push(format!("rule `{}`: {e}", r.id)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut ipt = String::new();
    let _ = writeln!(
        ipt,
        "# iptables-restore input compiled by levee from {origin} (IPv4, table raw: before\n\
         # conntrack). Apply, sets first:\n\
         #   ipset restore -exist < levee.ipset && iptables-restore --noflush < this-file\n\
         #   iptables -t raw -C PREROUTING -j levee || iptables -t raw -I PREROUTING -j levee\n\
         # Remove: iptables -t raw -D PREROUTING -j levee; then flush and delete the levee*\n\
         # chains (iptables -t raw -F levee ... -X levee ...) and ipset destroy the levee-* sets.\n\
         # Counters: iptables -t raw -L -v -x (chain levee-aN counts what rule N decided)."
    );
    let _ = writeln!(ipt, "*raw\n:levee - [0:0]");
    for i in 0..file.rules.len() {
        let _ = writeln!(ipt, ":levee-r{i} - [0:0]\n:levee-a{i} - [0:0]");
    }
    for i in 0..file.rules.len() {
        let _ = writeln!(ipt, "-A levee -j levee-r{i}");
    }
    for (i, (r, (lines, names_ipv6))) in file.rules.iter().zip(&bodies).enumerate() {
        // iptables-restore reads a line in pieces of a few kilobytes and takes the rest of a
        // long comment for arguments: the expression is cut for the comment.
        let _ = writeln!(
            ipt,
            "# {}: {}",
            r.id,
            comment_text(&r.expression.to_string(), 400)
        );
        if *names_ipv6 {
            let _ = writeln!(
                ipt,
                "# note: the IPv6 addresses of `{}` concern IPv6 packets, which this IPv4 table never\n\
                 # sees; here the rule stands for IPv4 only (the nftables target covers both).",
                r.id
            );
        }
        for conj in lines {
            let Some(m) = line(conj) else { continue };
            let sep = if m.is_empty() { "" } else { " " };
            let _ = writeln!(ipt, "-A levee-r{i} {m}{sep}-g levee-a{i}");
        }
        match &r.action {
            Action::Block => {
                let _ = writeln!(ipt, "-A levee-a{i} -j DROP");
            }
            Action::Allow => {
                let _ = writeln!(ipt, "-A levee-a{i} -j ACCEPT");
            }
            Action::Log => {
                let prefix: String =
                    r.id.chars()
                        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .take(20)
                        .collect();
                let _ = match log_group {
                    Some(g) => writeln!(
                        ipt,
                        "-A levee-a{i} -j NFLOG --nflog-group {g} --nflog-prefix \"levee {prefix}: \""
                    ),
                    None => writeln!(
                        ipt,
                        "-A levee-a{i} -j LOG --log-prefix \"levee {prefix}: \""
                    ),
                };
            }
            Action::RateLimit { rate, burst, key } => {
                let mode = match key {
                    RateKey::Source => "--hashlimit-mode srcip ",
                    RateKey::Destination => "--hashlimit-mode dstip ",
                    RateKey::Global => "",
                };
                let (count, unit) = super::exact_rate(*rate).expect("checked above");
                let _ = writeln!(
                    ipt,
                    "-A levee-a{i} -m hashlimit --hashlimit-above {count}/{} --hashlimit-burst {burst} {mode}--hashlimit-name levee-{i} -j DROP\n-A levee-a{i} -j ACCEPT",
                    &unit.name()[..3]
                );
            }
        }
    }
    let _ = writeln!(ipt, "COMMIT");
    let mut ips = String::new();
    let _ = writeln!(ips, "# ipset restore input compiled by levee from {origin}");
    for (name, nets) in &sets {
        let _ = writeln!(
            ips,
            "create {name} hash:net family inet -exist\nflush {name}"
        );
        for n in nets {
            let _ = writeln!(ips, "add {name} {n}");
        }
    }
    Ok((ipt, ips))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_naming_ipv6_addresses_say_that_iptables_covers_only_ipv4() {
        let text = "[[rule]]\nid = \"v6\"\nexpression = 'ip.src in { 2001:db8::/32 }'\naction = \"block\"\n\n\
                    [[rule]]\nid = \"both\"\nexpression = 'ip.src in { 2001:db8::/32 192.0.2.0/24 }'\naction = \"block\"\n\n\
                    [[rule]]\nid = \"v4\"\nexpression = 'ip.src == 192.0.2.1'\naction = \"block\"\n";
        let f = RulesFile::parse("t.toml", text, None).unwrap();
        let (ipt, _) = render(&f, "t.toml", None).unwrap();
        assert!(ipt.contains("of `v6` concern IPv6 packets"), "{ipt}");
        assert!(ipt.contains("of `both` concern IPv6 packets"), "{ipt}");
        assert!(!ipt.contains("of `v4` concern"), "{ipt}");
        // The IPv6-only rule has no line that could match; the mixed one keeps its IPv4 part.
        assert!(!ipt.contains("-g levee-a0"), "{ipt}");
        assert!(ipt.contains("-s 192.0.2.0/24 -g levee-a1"), "{ipt}");
        // Two port conditions of one line are one range (iptables takes `--dport` once).
        let text = "[[rule]]\nid = \"p\"\nexpression = 'tcp.dstport >= 80 and tcp.dstport in {1..100 443}'\naction = \"block\"\n";
        let f = RulesFile::parse("t", text, None).unwrap();
        let (p, _) = render(&f, "t", None).unwrap();
        assert!(p.contains("-p tcp ! -f --dport 80:100 -g levee-a0"), "{p}");
        assert!(p.contains("-p tcp ! -f --dport 443 -g levee-a0"), "{p}");
        // `-p 0` would be every protocol: protocol 0 and ranges go through u32.
        for (e, want) in [
            ("ip.proto < 1", "-m u32 --u32 \"6&0xFF=0\" -g"),
            ("ip.proto < 17", "-m u32 --u32 \"6&0xFF=0:16\" -g"),
            ("ip.proto == 17", "-p udp -g"),
        ] {
            let text = format!("[[rule]]\nid = \"p\"\nexpression = '{e}'\naction = \"block\"\n");
            let (p, _) = render(&RulesFile::parse("t", &text, None).unwrap(), "t", None).unwrap();
            assert!(p.contains(want), "{e}: {p}");
            assert!(!p.contains("-p 0"), "{e}: {p}");
        }
        // A rule of thousands of addresses: its comment is cut, iptables-restore takes it.
        let many: Vec<String> = (0..2000)
            .map(|i| format!("10.{}.{}.1", i / 250, i % 250))
            .collect();
        let text = format!(
            "[[rule]]\nid = \"big\"\nexpression = 'ip.src in {{{}}}'\naction = \"block\"\n",
            many.join(" ")
        );
        let (p, _) = render(&RulesFile::parse("t", &text, None).unwrap(), "t", None).unwrap();
        assert!(p.lines().all(|l| l.len() < 1000), "a long line");
        // One `-s` a line; the next goes through iprange.
        let text = "[[rule]]\nid = \"s\"\nexpression = 'ip.src in {10.0.0.0/8} and ip.src != 10.1.2.3'\naction = \"block\"\n";
        let f = RulesFile::parse("t", text, None).unwrap();
        let (p, _) = render(&f, "t", None).unwrap();
        assert!(
            p.contains("-s 10.0.0.0/8 -m iprange ! --src-range 10.1.2.3-10.1.2.3 -g levee-a0"),
            "{p}"
        );
        // iptables-restore takes a comment only at the start of a line.
        for l in ipt.lines() {
            assert!(
                !l.trim_start().starts_with('#') || l.starts_with('#'),
                "{l:?}"
            );
        }
    }

    #[test]
    fn signatures_become_lines_sets_and_u32_tests() {
        let text = "[[rule]]\nid = \"a\"\nexpression = 'ip.dst == 10.10.10.10 and tcp.flags == 0x02 and tcp.dstport == 80 and ip.ttl in {48..55} and ip.src in {192.0.2.0/24 198.51.100.0/24}'\naction = \"block\"\n";
        let f = RulesFile::parse("t", text, None).unwrap();
        let (ipt, ips) = render(&f, "t", None).unwrap();
        assert!(
            ipt.contains("-A levee-r0 -p tcp ! -f --dport 80 -d 10.10.10.10/32 -m u32 --u32 \"6&0xFF=6&&4&0x1FFF=0&&0>>22&0x3C@12>>16&0x1ff=2\" -m ttl --ttl-gt 47 -m ttl --ttl-lt 56 -m set --match-set levee-r0-src0 src -g levee-a0"),
            "{ipt}"
        );
        assert!(ipt.contains("-A levee-a0 -j DROP"));
        assert!(ips.contains("add levee-r0-src0 198.51.100.0/24"), "{ips}");
    }
}
