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
//!
//! For UDP and TCP, the bytes nearly every datagram or segment carries at the same place of
//! its payload (a tool's hard-coded payload) give candidates of their own, after the header
//! ones: measured like the others, one is chosen only where every header candidate also stops
//! other traffic. The place is an offset among the first 16 bytes, else among the last 8; bytes
//! at the end of payloads that share one length are written as a slice from the start, which
//! every kernel engine reads, and otherwise as a slice from the end (BPF only).

use levee_rules::{parse_plain, Expr};

use crate::evidence::{Fingerprint, PayloadAt};
use crate::sketch::PortCounts;
use crate::stats::{bin_high, bin_low, central_range, ClassStats, TAIL_BYTES};
use crate::target::TargetSpec;
use crate::vector::addr_from_bits;
use crate::vector::Class;

/// Fields an attacker changes at no cost (TTL, TCP window, IP ID): a signature that pins one
/// stops matching when the attacker moves it.
pub const VOLATILE_FIELDS: &[&str] = &["ip.ttl", "tcp.window", "ip.id"];

/// Whether `e` is a condition on one volatile field alone.
fn pins_volatile(e: &Expr) -> bool {
    let f = e.fields();
    f.len() == 1 && VOLATILE_FIELDS.contains(&f[0].name())
}

/// `e` without the conditions on volatile fields, where they are conditions of an `and`
/// (`None` when nothing is left to drop).
pub fn without_volatile(e: &Expr) -> Option<Expr> {
    fn strip(e: &Expr) -> Expr {
        match e {
            Expr::And(parts) => Expr::and(
                parts
                    .iter()
                    .filter(|p| !pins_volatile(p))
                    .map(strip)
                    .collect(),
            ),
            Expr::Or(parts) => Expr::or(parts.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    let stripped = strip(e);
    (stripped != *e).then_some(stripped)
}

/// Share of a class a field's value (or range) must hold to enter a signature.
const FIELD_SHARE: f64 = 0.99;
/// Share for the extra, looser conditions of the most specific candidate.
const LOOSE_SHARE: f64 = 0.95;

fn p(s: &str) -> Expr {
    parse_plain(s).unwrap_or_else(|e| panic!("internal signature `{s}` does not parse: {e}"))
}

/// Values of a histogram, heaviest first, until `share` of the total is covered; `None` when
/// that takes more than `max` values.
fn concentrated(hist: &[u64], share: f64, max: usize) -> Option<Vec<usize>> {
    concentrated_by(hist.len(), |i| hist[i], None, share, max)
}

/// [`concentrated`] for ports, which a monitor asks about at every decision: answered from
/// the busiest port's count when even `max` ports that busy cannot hold `share` (a spoofed
/// flood's random ports), and otherwise read without copying the 65,536 counters, stopping
/// once the ports not yet read cannot change the answer.
fn concentrated_ports(ports: &PortCounts, share: f64, max: usize) -> Option<Vec<usize>> {
    let total = ports.total();
    if total == 0 || (ports.peak() as f64) * (max as f64) < share * total as f64 {
        return None;
    }
    concentrated_by(65536, |p| ports.get(p as u16), Some(total), share, max)
}

/// [`concentrated`] over the `len` values `count` gives, without copying them. With their
/// `total` known, the reading stops when what is left to read is less than the lightest value
/// of the answer found so far: none of the rest can come before it.
fn concentrated_by(
    len: usize,
    count: impl Fn(usize) -> u64,
    total: Option<u64>,
    share: f64,
    max: usize,
) -> Option<Vec<usize>> {
    if max == 0 {
        return None;
    }
    let known_total = total;
    // Only the `max` heaviest can be taken: kept in one pass, heaviest first and the lower
    // value first among equals, in a list that most values (a spoofed flood's thousands of
    // ports) pass with one comparison against its lightest.
    let mut top: Vec<(u64, usize)> = Vec::with_capacity(max + 1);
    let mut total = 0u64;
    for i in 0..len {
        let n = count(i);
        total += n;
        if n == 0 || (top.len() == max && n <= top[max - 1].0) {
            continue;
        }
        let at = top.partition_point(|&(m, _)| m >= n);
        top.insert(at, (n, i));
        top.truncate(max);
        if let Some(known) = known_total {
            let need = share * known as f64;
            let mut acc = 0;
            let answer = top.iter().position(|&(m, _)| {
                acc += m;
                acc as f64 >= need
            });
            if answer.is_some_and(|k| known - total < top[k].0) {
                total = known;
                break;
            }
        }
    }
    if total == 0 {
        return None;
    }
    let mut acc = 0;
    let mut out = Vec::with_capacity(top.len());
    for (n, i) in top {
        acc += n;
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
            let types = concentrated(&c.icmp_types, FIELD_SHARE, 2);
            let has = |t: usize| types.as_ref().is_none_or(|ts| ts.contains(&t));
            let mut e = match &types {
                Some(t) => format!("{proto} and {}", int_set("icmp.type", t, false)),
                None => proto.to_string(),
            };
            // Networks need these whatever the attack: "fragmentation needed" (ICMP 3/4)
            // and "packet too big" (ICMPv6 2) carry path-MTU discovery.
            if !v6 && types.as_deref() == Some(&[3][..]) {
                e.push_str(" and icmp.code != 4");
            } else if !v6 && has(3) {
                e.push_str(" and not (icmp.type == 3 and icmp.code == 4)");
            }
            if !v4 && has(2) {
                e.push_str(" and not (ip.proto == icmpv6 and icmp.type == 2)");
            }
            e
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

/// An Ethernet frame's smallest payload: shorter IP packets are padded to it.
const ETHERNET_MIN_PAYLOAD: u32 = 46;
/// The shortest IP header (IPv4 without options).
const MIN_IP_HEADER: u32 = 20;

/// Optional conditions, each holding for at least `share` of the class, as written.
fn field_conditions(class: Class, c: &ClassStats, share: f64) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let port_field = if class.is_tcp() {
        Some("tcp")
    } else if matches!(class, Class::Udp) {
        Some("udp")
    } else if matches!(class, Class::Icmp) {
        // ICMP errors are profiled by the ports of the packet they quote: those of a
        // reflection quote the reflected service, those about the victim's own traffic
        // (traceroute, path MTU) quote its own connections.
        Some("icmp.quoted")
    } else {
        None
    };
    if let Some(proto) = port_field {
        // Fixed source ports mark a reflection (of a service levee has no name for, over UDP);
        // both directions' ports go in when both are concentrated.
        if let Some(ports) = concentrated_ports(&c.src_ports, share, 4) {
            out.push((
                "srcport",
                int_set(&format!("{proto}.srcport"), &ports, false),
            ));
        }
        if let Some(ports) = concentrated_ports(&c.dst_ports, share, 8) {
            out.push((
                "dstport",
                int_set(&format!("{proto}.dstport"), &ports, false),
            ));
        }
    }
    if let Some((lo, hi)) = central_range(&c.lengths, share) {
        let (mut lo, hi) = (bin_low(lo), bin_high(hi));
        if c.flow_records && lo <= ETHERNET_MIN_PAYLOAD {
            // A flow's size is its bytes over its packets, and some exporters (softflowd)
            // count a short packet's Ethernet padding: 40-byte SYNs are exported as 46.
            // The rule must stop the packets themselves, so a short size stands for any.
            lo = MIN_IP_HEADER;
        }
        if hi - lo < 1000 {
            out.push((
                "ip.len",
                if lo == hi {
                    format!("ip.len == {lo}")
                } else {
                    format!("ip.len in {{{lo}..{hi}}}")
                },
            ));
        }
    }
    if let Some((lo, hi)) = central_range(&c.ttl, share) {
        if hi - lo <= 40 {
            out.push((
                "ip.ttl",
                if lo == hi {
                    format!("ip.ttl == {lo}")
                } else {
                    format!("ip.ttl in {{{lo}..{hi}}}")
                },
            ));
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
            if acc as f64 >= share * total as f64 {
                values.sort_unstable();
                out.push(("tcp.window", int_set("tcp.window", &values, false)));
                break;
            }
        }
    }
    if let Some((id, n)) = c.ip_ids.top(1).pop() {
        if n as f64 >= share * c.ip_ids.total().max(1) as f64 {
            out.push(("ip.id", format!("ip.id == {id}")));
        }
    }
    out.truncate(5);
    out
}

/// Fewest payload bytes a fingerprint holds: fewer fixed bytes are as often a protocol's
/// version or type field as a tool's fingerprint.
const MIN_FINGERPRINT: usize = 4;
/// Most payload bytes a fingerprint condition reads.
const MAX_FINGERPRINT: usize = 8;

/// The condition that a payload carries the fingerprint's first `n` bytes: a slice from the
/// start where it has one (or the payloads share a length), else from the end.
fn fingerprint_condition(f: &Fingerprint, n: usize) -> Expr {
    let bytes = &f.bytes[..n.min(f.bytes.len())];
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if f.at == PayloadAt::Anywhere {
        return p(&format!("{} contains 0x{hex}", f.field));
    }
    let start = match (f.at, f.length) {
        (PayloadAt::Anywhere, _) => unreachable!("a search is written above"),
        (PayloadAt::Start(o), _) => o.to_string(),
        (PayloadAt::End(back), Some(len)) if back <= len as usize => {
            (len as usize - back).to_string()
        }
        (PayloadAt::End(back), _) => format!("-{back}"),
    };
    p(&format!("{}[{start}:{}] == 0x{hex}", f.field, bytes.len()))
}

/// The longest run of `Some` in `fixed`, as (where it starts, its bytes), when it holds at
/// least `MIN_FINGERPRINT` bytes.
fn longest_run(fixed: &[Option<u8>]) -> Option<(usize, Vec<u8>)> {
    let mut best: Option<(usize, Vec<u8>)> = None;
    let mut at = 0;
    while at < fixed.len() {
        let run: Vec<u8> = fixed[at..].iter().map_while(|b| *b).collect();
        if run.is_empty() {
            at += 1;
            continue;
        }
        let len = run.len();
        if len >= MIN_FINGERPRINT && best.as_ref().is_none_or(|(_, b)| len > b.len()) {
            best = Some((at, run));
        }
        at += len;
    }
    best
}

/// The bytes that at least 99 % of a class's UDP datagrams or TCP segments carry at the same
/// place of their payloads (see [`PayloadHead`](crate::stats::PayloadHead)), when the class
/// is (nearly) all of one of the two: the longest run of such bytes among the first 16
/// offsets, else among the last 8, when it holds at least `MIN_FINGERPRINT` (4) bytes.
pub fn payload_fingerprint(c: &ClassStats) -> Option<Fingerprint> {
    fingerprint_of_share(c, FIELD_SHARE)
}

/// Share of a class's payloads a fingerprint that defines the attack must hold (see
/// [`defining_fingerprint`]).
pub const DEFINING_SHARE: f64 = 0.8;

/// Bytes 80 % or more of a class's payloads carry at one place where 99 % do not (see
/// [`payload_fingerprint`]): a flood whose target also receives other one-way traffic of the
/// same protocol (syslog, flow exports, a game's or a VoIP peer's datagrams), which joins the
/// flood's class and would be blocked with it. The attack is then taken to be the packets that
/// carry the bytes (`Finding::defined_by`), and the rest counts as other traffic, so a
/// signature that also matches it shows that as collateral.
pub fn defining_fingerprint(c: &ClassStats) -> Option<Fingerprint> {
    if payload_fingerprint(c).is_some() {
        return None;
    }
    fingerprint_of_share(c, DEFINING_SHARE)
}

/// The condition that defines an attack by its fingerprint: its longest bytes.
pub(crate) fn defining_condition(f: &Fingerprint) -> Expr {
    fingerprint_condition(f, MAX_FINGERPRINT)
}

fn fingerprint_of_share(c: &ClassStats, share: f64) -> Option<Fingerprint> {
    let head = &c.payload_head;
    let field = payload_field(c)?;
    if let Some((offset, bytes)) = longest_run(&head.fixed(share)) {
        return Some(Fingerprint {
            field,
            at: PayloadAt::Start(offset),
            bytes,
            length: None,
        });
    }
    let (from, bytes) = longest_run(&head.fixed_tail(share))?;
    // One IP length for 99 % of the class and a payload length most share: the same packets.
    let length = central_range(&c.lengths, share)
        .filter(|(lo, hi)| lo == hi)
        .and_then(|_| head.majority_length());
    Some(Fingerprint {
        field,
        at: PayloadAt::End(TAIL_BYTES - from),
        bytes,
        length,
    })
}

/// The payload a class's fingerprint is looked for in: `udp.payload` or `tcp.payload` when
/// 99 % of the class is UDP datagrams or TCP segments that carry data.
pub(crate) fn payload_field(c: &ClassStats) -> Option<&'static str> {
    let all = |n: u64| n > 0 && n as f64 >= FIELD_SHARE * c.profiled as f64;
    let field = if all(c.protocols[17]) {
        "udp.payload"
    } else if all(c.protocols[6]) {
        "tcp.payload"
    } else {
        return None;
    };
    all(c.payload_head.datagrams).then_some(field)
}

/// Fewest payloads of an attack [`shared_bytes`] looks at: fewer say nothing of 99 %.
pub(crate) const SHARED_MIN_PAYLOADS: usize = 16;

/// Bytes that 99 % or more of an attack's payloads hold, where no fixed offset among their
/// first 16 or last 8 bytes holds any (see [`payload_fingerprint`]): a tool's magic after a
/// header or a nonce of varying length, a fixed buffer past the first bytes. `attack` and
/// `others` are samples of the attack's payloads (of `field`, `udp.payload` or `tcp.payload`)
/// and of the rest of the capture's IP payloads.
///
/// Every `MAX_FINGERPRINT`-byte window of one attack payload (the next, when too many
/// payloads lack the first one's windows) is searched for in the others; the first window
/// that all but 1 % of them hold, that has three different byte values at least (runs of
/// padding are everyone's), and that no payload of `others` holds is the fingerprint. Where
/// every attack payload holds it at one offset, it is a slice at that offset, which every
/// engine reads; else a search (`ip.payload contains`), which iptables' string match and the
/// simulator run. The second pass then measures it like every candidate.
pub(crate) fn shared_bytes(
    field: &'static str,
    attack: &[&[u8]],
    others: &[&[u8]],
) -> Option<Fingerprint> {
    if attack.len() < SHARED_MIN_PAYLOADS {
        return None;
    }
    let misses_allowed = ((1.0 - FIELD_SHARE) * attack.len() as f64).floor() as usize;
    for reference in attack.iter().take(misses_allowed + 1) {
        for window in reference.windows(MAX_FINGERPRINT) {
            let mut distinct = window.to_vec();
            distinct.sort_unstable();
            distinct.dedup();
            if distinct.len() < 3 {
                continue;
            }
            let finder = memchr::memmem::Finder::new(window);
            let mut misses = 0;
            let mut offset = Some(finder.find(reference).unwrap_or(0));
            for payload in attack {
                match finder.find(payload) {
                    Some(at) if offset == Some(at) => {}
                    Some(_) => offset = None,
                    None => misses += 1,
                }
                if misses > misses_allowed {
                    break;
                }
            }
            if misses > misses_allowed || others.iter().any(|o| finder.find(o).is_some()) {
                continue;
            }
            let bytes = window.to_vec();
            return Some(match offset {
                Some(at) if misses == 0 => Fingerprint {
                    field,
                    at: PayloadAt::Start(at),
                    bytes,
                    length: None,
                },
                _ => Fingerprint {
                    field: "ip.payload",
                    at: PayloadAt::Anywhere,
                    bytes,
                    length: None,
                },
            });
        }
    }
    None
}

/// What an attack's signature candidates are built from, read off its class's profile: the
/// conditions as written, before any is parsed or combined. A monitor asks for a going
/// attack's candidates at every decision, and they are nearly always made of the same parts;
/// building them again (each condition parsed, every combination made and compared) was
/// most of a decision's signature work.
#[derive(Debug, Clone, PartialEq)]
struct CandidateParts {
    class: Class,
    targets: TargetSpec,
    zone: Option<String>,
    /// The condition every packet of the class meets.
    base: String,
    /// Fields held by [`FIELD_SHARE`] of the class: (field, condition).
    chosen: Vec<(&'static str, String)>,
    /// Further fields held by [`LOOSE_SHARE`] only.
    looser: Vec<String>,
    /// Whether later fragments need a branch of their own.
    fragments: bool,
    /// The payload fingerprint, the class's own or one shared by the attack's payloads.
    fingerprint: Option<Fingerprint>,
}

/// The candidates built most recently, by their parts: a decision finds its going attacks'
/// candidates here instead of building them again. Bounded; the least recently built go.
#[derive(Debug, Default)]
pub(crate) struct CandidateMemo {
    built: std::collections::VecDeque<(CandidateParts, Vec<Expr>)>,
}

/// Most sets of candidates [`CandidateMemo`] keeps: more than the attacks a monitor follows
/// at once, times the few ways each's parts alternate between (a field hovering at 99 %).
const MEMO_ENTRIES: usize = 64;

impl CandidateMemo {
    /// The candidates of `parts`, built once.
    fn candidates(&mut self, parts: CandidateParts) -> Vec<Expr> {
        if let Some(at) = self.built.iter().position(|(p, _)| *p == parts) {
            // Kept at the front, so the going attacks' are found first.
            let hit = self.built.remove(at).expect("found above");
            let out = hit.1.clone();
            self.built.push_front(hit);
            return out;
        }
        let out = build_candidates(&parts);
        if self.built.len() == MEMO_ENTRIES {
            self.built.pop_back();
        }
        self.built.push_front((parts, out.clone()));
        out
    }
}

/// Candidate signatures, most specific first. `memo` keeps those built before, by what they
/// were built from (see [`CandidateMemo`]).
pub(crate) fn candidates(
    class: Class,
    c: &ClassStats,
    targets: &TargetSpec,
    zone: Option<&str>,
    shared: Option<&Fingerprint>,
    memo: &std::sync::Mutex<CandidateMemo>,
) -> Vec<Expr> {
    let chosen = field_conditions(class, c, FIELD_SHARE);
    // Fields concentrated at 95 % but not at 99 %: tried on top of the others, for attacks
    // whose only distinctive field has a few stray values (the measured coverage decides).
    let looser = field_conditions(class, c, LOOSE_SHARE)
        .into_iter()
        .filter(|(name, _)| !chosen.iter().any(|(n, _)| n == name))
        .map(|(_, e)| e)
        .collect();
    let parts = CandidateParts {
        class,
        targets: targets.clone(),
        zone: zone.map(str::to_string),
        base: class_expr(class, c),
        chosen,
        looser,
        // Later fragments carry no transport header: a reflection that fragments needs its
        // own branch for them.
        fragments: class != Class::Fragment && c.later_fragments as f64 >= 0.01 * c.profiled as f64,
        fingerprint: payload_fingerprint(c).or_else(|| shared.cloned()),
    };
    // A cache only: a poisoned lock (a panic elsewhere while it was held) still holds whole
    // entries, each pushed complete.
    memo.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .candidates(parts)
}

/// The candidates `parts` make (see [`candidates`]).
fn build_candidates(parts: &CandidateParts) -> Vec<Expr> {
    let target = target_expr(&parts.targets);
    let mut base = p(&parts.base);
    if let Some(z) = &parts.zone {
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
    let looser: Vec<Expr> = parts.looser.iter().map(|e| p(e)).collect();
    let optional: Vec<Expr> = parts.chosen.iter().map(|(_, e)| p(e)).collect();
    let build = |opts: &[Expr]| {
        let mut core = vec![base.clone()];
        core.extend(opts.iter().cloned());
        let core = Expr::and(core);
        let body = if parts.fragments {
            Expr::or(vec![core, p("ip.frag_offset > 0")])
        } else {
            core
        };
        match &target {
            Some(t) => Expr::and(vec![t.clone(), body]),
            None => body,
        }
    };
    let mut out = Vec::new();
    if !looser.is_empty() {
        let mut all = optional.clone();
        all.extend(looser);
        out.push(build(&all));
    }
    out.push(build(&optional));
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
    // The most specific signature without the fields an attacker moves for free, measured
    // too so `analyze` can offer it beside a signature that pins one.
    let stable: Vec<Expr> = optional
        .iter()
        .filter(|e| !pins_volatile(e))
        .cloned()
        .collect();
    if stable.len() < optional.len() {
        let robust = build(&stable);
        if !out.contains(&robust) {
            out.push(robust);
        }
    }
    // Payload fingerprints last: chosen only where the headers alone also stop other traffic
    // (the measure prefers the earliest of equally clean candidates), the shorter first.
    if let Some(f) = &parts.fingerprint {
        let short = fingerprint_condition(f, MIN_FINGERPRINT);
        let long = fingerprint_condition(f, MAX_FINGERPRINT);
        let mut specific = optional.clone();
        specific.push(short.clone());
        for e in [build(&[short]), build(&[long]), build(&specific)] {
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `concentrated` as it was first written: every value sorted, heaviest first.
    fn concentrated_by_sorting(hist: &[u64], share: f64, max: usize) -> Option<Vec<usize>> {
        let total: u64 = hist.iter().sum();
        let mut idx: Vec<usize> = (0..hist.len()).filter(|&i| hist[i] > 0).collect();
        idx.sort_by(|a, b| hist[*b].cmp(&hist[*a]).then(a.cmp(b)));
        let mut acc = 0;
        let mut out = Vec::new();
        for i in idx.into_iter().take(max) {
            acc += hist[i];
            out.push(i);
            if total > 0 && acc as f64 >= share * total as f64 {
                out.sort_unstable();
                return Some(out);
            }
        }
        None
    }

    #[test]
    fn concentrated_in_one_pass_picks_what_sorting_picks_ties_included() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..2_000 {
            let len = 1 + (next() % 300) as usize;
            // Few distinct counts, so ties are common; some histograms held by a few values.
            let heavy = next() % 4 == 0;
            let hist: Vec<u64> = (0..len)
                .map(|_| match next() % 8 {
                    0..=3 => 0,
                    v if heavy && v == 7 => 1_000 + next() % 3,
                    v => v % 4,
                })
                .collect();
            for max in [0, 1, 2, 3, 4, 8] {
                for share in [0.5, 0.8, 0.9, 0.99] {
                    assert_eq!(
                        concentrated(&hist, share, max),
                        concentrated_by_sorting(&hist, share, max),
                        "case {case}: max {max}, share {share}, {hist:?}"
                    );
                    let mut ports = PortCounts::default();
                    for (p, &n) in hist.iter().enumerate() {
                        if n > 0 {
                            ports.add_n(p as u16 * 200, n);
                        }
                    }
                    let scaled = concentrated_by_sorting(&hist, share, max)
                        .map(|v| v.into_iter().map(|p| p * 200).collect::<Vec<_>>());
                    assert_eq!(
                        concentrated_ports(&ports, share, max),
                        scaled,
                        "ports, case {case}: max {max}, share {share}, {hist:?}"
                    );
                }
            }
        }
    }
    use crate::stats::len_bin;

    fn length_condition(c: &ClassStats) -> Option<String> {
        field_conditions(Class::Syn, c, FIELD_SHARE)
            .into_iter()
            .find(|(name, _)| *name == "ip.len")
            .map(|(_, e)| p(&e).to_string())
    }

    /// A SYN flood's profile: `n` packets of one length and TTL to port 80, with one window.
    fn syn_flood(n: u64, len: u32, ttl: u8) -> ClassStats {
        let mut c = ClassStats::new(false);
        c.profiled = n;
        c.protocols[6] = n;
        c.tcp_flags[0x02] = n;
        c.lengths[len_bin(len)] = n;
        c.ttl[usize::from(ttl)] = n;
        c.dst_ports.add_n(80, n);
        c.windows.add(1024, n);
        c
    }

    #[test]
    fn remembered_candidates_are_those_built_afresh_and_follow_the_profile() {
        let target = TargetSpec::Hosts(vec![u128::from(
            std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped(),
        )]);
        let memo = std::sync::Mutex::new(CandidateMemo::default());
        let fresh = |c: &ClassStats, t: &TargetSpec| {
            let own = std::sync::Mutex::new(CandidateMemo::default());
            candidates(Class::Syn, c, t, None, None, &own)
        };
        let text = |v: &[Expr]| v.iter().map(|e| e.to_string()).collect::<Vec<_>>();
        let flood = syn_flood(1000, 40, 64);
        let first = candidates(Class::Syn, &flood, &target, None, None, &memo);
        assert!(
            text(&first)[0].contains("ip.len == 40"),
            "{:?}",
            text(&first)
        );
        // The same parts again: the same candidates, from the memo.
        assert_eq!(
            candidates(Class::Syn, &flood, &target, None, None, &memo),
            first
        );
        assert_eq!(memo.lock().unwrap().built.len(), 1);
        // The profile moves (another TTL), another target, a fingerprint: each gets its own
        // candidates, the same as built without a memo.
        let moved = syn_flood(1000, 40, 128);
        let other = TargetSpec::Hosts(vec![u128::from(
            std::net::Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped(),
        )]);
        for (c, t) in [(&moved, &target), (&flood, &other), (&flood, &target)] {
            let got = candidates(Class::Syn, c, t, None, None, &memo);
            assert_eq!(text(&got), text(&fresh(c, t)));
        }
        let moved_text = text(&candidates(Class::Syn, &moved, &target, None, None, &memo));
        assert!(moved_text[0].contains("ip.ttl == 128"), "{moved_text:?}");
        assert_eq!(memo.lock().unwrap().built.len(), 3);
        // Bounded: the least recently built go.
        for ttl in 0..=u8::MAX {
            let c = syn_flood(1000, 40, ttl);
            assert_eq!(
                candidates(Class::Syn, &c, &target, None, None, &memo),
                fresh(&c, &target)
            );
        }
        assert_eq!(memo.lock().unwrap().built.len(), MEMO_ENTRIES);
    }

    #[test]
    fn a_short_size_from_flows_stands_for_any_short_packet() {
        let mut c = ClassStats::new(false);
        c.lengths[len_bin(46)] = 1000;
        assert_eq!(length_condition(&c).as_deref(), Some("ip.len == 46"));
        // The same 46 from flow records may be 40-byte SYNs an exporter counted with their
        // Ethernet padding.
        c.flow_records = true;
        assert_eq!(length_condition(&c).as_deref(), Some("ip.len in {20..46}"));
        // Sizes above the padding are kept as the records give them.
        let mut c = ClassStats::new(false);
        c.flow_records = true;
        c.lengths[len_bin(1400)] = 1000;
        assert_eq!(length_condition(&c).as_deref(), Some("ip.len == 1400"));
    }

    /// A class whose packets of protocol `proto` were profiled with these payloads (seen
    /// whole), each standing for one, in IPv4 packets without options.
    fn profiled_as(proto: u8, payloads: &[Vec<u8>]) -> ClassStats {
        let mut c = ClassStats::new(false);
        for pl in payloads {
            c.profiled += 1;
            c.protocols[usize::from(proto)] += 1;
            let header = if proto == 6 { 20 } else { 8 };
            c.lengths[len_bin((20 + header + pl.len()) as u32)] += 1;
            let tail = &pl[pl.len() - pl.len().min(TAIL_BYTES)..];
            c.payload_head.add(
                crate::stats::PayloadSample {
                    head: &pl[..pl.len().min(crate::stats::HEAD_BYTES)],
                    tail: Some((tail, pl.len() as u32)),
                },
                1,
            );
        }
        c
    }

    fn profiled_with(payloads: &[Vec<u8>]) -> ClassStats {
        profiled_as(17, payloads)
    }

    /// Random bytes (xorshift) from `seed`.
    fn noise_from(mut x: u64) -> impl FnMut() -> u8 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }
    }

    #[test]
    fn bytes_most_of_a_class_carries_define_the_attack_where_99_percent_do_not() {
        let mut noise = noise_from(0x5851_f42d_4c95_7f2d);
        let flood = |noise: &mut dyn FnMut() -> u8| {
            let mut v = b"\xde\xad\xbe\xefFLOOD!".to_vec();
            v.extend((0..40).map(|_| noise()));
            v
        };
        // 85 flood datagrams and 15 of other one-way traffic to the same target.
        let mut mixed: Vec<Vec<u8>> = (0..85).map(|_| flood(&mut noise)).collect();
        mixed.extend((0..15).map(|i| format!("<134>1 web{i} nginx GET /{i}").into_bytes()));
        let c = profiled_with(&mixed);
        assert_eq!(payload_fingerprint(&c), None);
        let f = defining_fingerprint(&c).unwrap();
        assert_eq!(
            (f.at, &f.bytes[..]),
            (PayloadAt::Start(0), &b"\xde\xad\xbe\xefFLOOD!"[..])
        );
        assert_eq!(
            defining_condition(&f).to_string(),
            "udp.payload[0:8] == 0xdeadbeef464c4f4f"
        );
        let ev = crate::evidence::Evidence::PayloadDefines(f).to_string();
        assert!(
            ev.starts_with(
                "80% or more of its datagrams carry the same 10 bytes at payload offset 0"
            ),
            "{ev}"
        );
        // Where 99 % carry them, the ordinary fingerprint says so and nothing is defined.
        let all: Vec<Vec<u8>> = (0..100).map(|_| flood(&mut noise)).collect();
        assert_eq!(defining_fingerprint(&profiled_with(&all)), None);
        // Under 80 %: nothing.
        let mut half: Vec<Vec<u8>> = (0..60).map(|_| flood(&mut noise)).collect();
        half.extend((0..40).map(|_| (0..30).map(|_| noise()).collect::<Vec<u8>>()));
        assert_eq!(defining_fingerprint(&profiled_with(&half)), None);
    }

    #[test]
    fn shared_bytes_are_found_wherever_they_are_and_only_where_the_rest_lacks_them() {
        let mut noise = noise_from(0x2545_f491_4f6c_dd1d);
        let magic = b"\x13\x37LEVEE\xfe";
        // 100 payloads: up to 40 random bytes, the magic, 20 random bytes.
        let moving: Vec<Vec<u8>> = (0..100)
            .map(|i| {
                let mut v: Vec<u8> = (0..(i * 7) % 41).map(|_| noise()).collect();
                v.extend(magic);
                v.extend((0..20).map(|_| noise()));
                v
            })
            .collect();
        let others: Vec<Vec<u8>> = (0..200)
            .map(|_| (0..80).map(|_| noise()).collect())
            .collect();
        fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
            v.iter().map(Vec::as_slice).collect()
        }
        let f = shared_bytes("udp.payload", &refs(&moving), &refs(&others)).unwrap();
        assert_eq!(
            (f.field, f.at, &f.bytes[..]),
            ("ip.payload", PayloadAt::Anywhere, &magic[..])
        );
        assert_eq!(
            fingerprint_condition(&f, 4).to_string(),
            "ip.payload contains 0x13374c45"
        );
        // One payload in a hundred may lack it; two may not.
        let mut lacking = moving.clone();
        lacking[50] = (0..60).map(|_| noise()).collect();
        assert!(shared_bytes("udp.payload", &refs(&lacking), &refs(&others)).is_some());
        lacking[60] = (0..60).map(|_| noise()).collect();
        assert_eq!(
            shared_bytes("udp.payload", &refs(&lacking), &refs(&others)),
            None
        );
        // Bytes the rest of the capture also holds are no fingerprint.
        let mut also = others.clone();
        also[7][30..38].copy_from_slice(magic);
        assert_eq!(
            shared_bytes("udp.payload", &refs(&moving), &refs(&also)),
            None
        );
        // At one offset past the first 16 bytes: a slice of the attack's own payload.
        let fixed: Vec<Vec<u8>> = (0..40)
            .map(|_| {
                let mut v: Vec<u8> = (0..100).map(|_| noise()).collect();
                v.extend(magic);
                v
            })
            .collect();
        let f = shared_bytes("udp.payload", &refs(&fixed), &refs(&others)).unwrap();
        assert_eq!((f.field, f.at), ("udp.payload", PayloadAt::Start(100)));
        // Padding is everyone's: a run of two byte values is passed over.
        let padded: Vec<Vec<u8>> = (0..40)
            .map(|i| {
                let mut v: Vec<u8> = (0..i % 9).map(|_| noise()).collect();
                v.extend([0u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
                v.extend((0..8).map(|_| noise()));
                v
            })
            .collect();
        assert_eq!(
            shared_bytes("udp.payload", &refs(&padded), &refs(&others)),
            None
        );
        // Too few payloads to say 99 %.
        assert_eq!(shared_bytes("udp.payload", &refs(&moving[..15]), &[]), None);
    }

    #[test]
    fn a_payload_fingerprint_is_the_longest_run_of_shared_bytes() {
        let mut noise = noise_from(0x9e37_79b9_7f4a_7c15);
        // Bytes 0..2 random (an id), 2..5 fixed, 5 random, 6..12 fixed: the longer run wins.
        let tool = |noise: &mut dyn FnMut() -> u8| {
            let mut p = vec![noise(), noise(), 0xde, 0xad, 0xbe, noise()];
            p.extend(b"ATTACK");
            p.extend((0..20).map(|_| noise()));
            p
        };
        let payloads: Vec<Vec<u8>> = (0..1000).map(|_| tool(&mut noise)).collect();
        let c = profiled_with(&payloads);
        let f = payload_fingerprint(&c).unwrap();
        assert_eq!(
            (f.field, f.at, f.bytes.as_slice()),
            ("udp.payload", PayloadAt::Start(6), &b"ATTACK"[..])
        );
        assert_eq!(
            fingerprint_condition(&f, 4).to_string(),
            "udp.payload[6:4] == \"ATTA\""
        );
        // 2 % of other datagrams: under the 99 % a byte must hold.
        let mut mixed = payloads.clone();
        mixed.extend((0..20).map(|_| (0..30).map(|_| noise()).collect::<Vec<u8>>()));
        assert_eq!(payload_fingerprint(&profiled_with(&mixed)), None);
        // Short payloads count against the bytes they lack.
        let mut short = payloads.clone();
        short.extend((0..20).map(|_| vec![0u8; 3]));
        assert_eq!(payload_fingerprint(&profiled_with(&short)), None);
        // Three shared bytes are no fingerprint; nor is a class that is not (nearly) all UDP.
        let three: Vec<Vec<u8>> = (0..1000)
            .map(|_| vec![noise(), 1, 2, 3, noise(), noise()])
            .collect();
        assert_eq!(payload_fingerprint(&profiled_with(&three)), None);
        let mut tcp_too = profiled_with(&payloads);
        tcp_too.profiled += 100;
        tcp_too.protocols[6] += 100;
        assert_eq!(payload_fingerprint(&tcp_too), None);
        // A TCP flood's segments: a fingerprint of `tcp.payload`.
        let f = payload_fingerprint(&profiled_as(6, &payloads)).unwrap();
        assert_eq!(
            fingerprint_condition(&f, 8).to_string(),
            "tcp.payload[6:6] == \"ATTACK\""
        );
    }

    #[test]
    fn a_fingerprint_at_the_end_is_read_from_the_start_when_the_lengths_agree() {
        let mut noise = noise_from(0x2545_f491_4f6c_dd1d);
        // A random first half (a nonce), then a trailer: nothing fixed among the first 16.
        let trailer = |noise: &mut dyn FnMut() -> u8, len: usize| {
            let mut p: Vec<u8> = (0..len).map(|_| noise()).collect();
            p.extend([0xca, 0xfe, 0xf0, 0x0d, 0x01]);
            p
        };
        let same: Vec<Vec<u8>> = (0..1000).map(|_| trailer(&mut noise, 40)).collect();
        let f = payload_fingerprint(&profiled_with(&same)).unwrap();
        assert_eq!(
            (f.at, f.bytes.as_slice(), f.length),
            (
                PayloadAt::End(5),
                &[0xca, 0xfe, 0xf0, 0x0d, 0x01][..],
                Some(45)
            )
        );
        // 45-byte payloads: the trailer is at offset 40, which every engine reads.
        assert_eq!(
            fingerprint_condition(&f, 4).to_string(),
            "udp.payload[40:4] == 0xcafef00d"
        );
        let ev = crate::evidence::Evidence::SamePayload(f.clone()).to_string();
        assert!(
            ev.contains(
                "carry the same 5 bytes at the end of the payload (45-byte payloads): 0xcafef00d01"
            ),
            "{ev}"
        );
        // Lengths that vary: the slice from the end.
        let varied: Vec<Vec<u8>> = (0..1000)
            .map(|i| trailer(&mut noise, 30 + i % 20))
            .collect();
        let f = payload_fingerprint(&profiled_with(&varied)).unwrap();
        assert_eq!((f.at, f.length), (PayloadAt::End(5), None));
        assert_eq!(
            fingerprint_condition(&f, 8).to_string(),
            "udp.payload[-5:5] == 0xcafef00d01"
        );
        // The simulator agrees: the condition holds on every one of them.
        for pl in &varied {
            let frame = udp_frame(pl);
            let p =
                levee_decode::decode(levee_decode::linktype::ETHERNET, &frame, frame.len() as u32);
            assert!(fingerprint_condition(&f, 4).matches(&p));
        }
    }

    /// An Ethernet frame of an IPv4 UDP datagram carrying `payload`.
    fn udp_frame(payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        b.extend([0x08, 0x00, 0x45, 0]);
        b.extend(((28 + payload.len()) as u16).to_be_bytes());
        b.extend([0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 10, 0, 0, 1]);
        b.extend([0x30, 0x39, 0x00, 0x35]);
        b.extend(((8 + payload.len()) as u16).to_be_bytes());
        b.extend([0, 0]);
        b.extend(payload);
        b
    }
}
