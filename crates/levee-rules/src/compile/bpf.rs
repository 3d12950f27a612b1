//! Expressions as libpcap filters (what `tcpdump -O -r` and capture tools accept).
//!
//! Each condition becomes an IPv4 test and an IPv6 test, each guarded by the layer the field
//! lives in, so a condition on a missing field is false exactly as in levee (`tcp.dstport != 80`
//! does not match UDP). Transport fields of IPv4 are read only from unfragmented packets or
//! first fragments, as levee decodes them. Limits, stated where a rule is compiled:
//!
//! * IPv6 fields after the fixed header are read at fixed offsets, as if no extension header
//!   came first (levee walks extension headers; libpcap's `tcp[]` does not exist for IPv6);
//! * tunnels: libpcap sees the outer header, levee the inner one;
//! * payloads: slices and lengths, each load behind a test of the payload's length as levee
//!   finds it (a load past the packet would end the whole filter); an IP length that claims
//!   more than the frame holds is taken at its word; no search (`contains`, `matches`);
//! * VLAN: the filter is written for untagged, single-tagged and double-tagged frames, each
//!   copy guarded by raw tests of the tags so that negations hold only where they should.

use ipnet::IpNet;

use crate::ast::{CmpOp, Expr, Literal};
use crate::field::{Field, FieldType, View};
use crate::Lists;

/// How a field reads in BPF, per IP version: the guard that says the field exists, and the
/// expression that reads it.
struct Access {
    v4: Option<(&'static str, &'static str)>,
    v6: Option<(&'static str, &'static str)>,
    /// The value levee gives the field on IPv6 packets where BPF cannot read it (IP ID of an
    /// unfragmented IPv6 packet, fragment offset 0).
    v6_constant: Option<u64>,
}

const TCP4: &str = "ip proto 6 and ip[6:2] & 0x1fff == 0";
const TCP6: &str = "ip6 proto 6";
const UDP4: &str = "ip proto 17 and ip[6:2] & 0x1fff == 0";
const UDP6: &str = "ip6 proto 17";
const ICMP4: &str = "ip proto 1 and ip[6:2] & 0x1fff == 0";
const ICMP6: &str = "ip6 proto 58";
// What an ICMP error quotes, guarded exactly as levee reads it: an error type, a quoted
// IPv4 header without options (IPv6: a quoted IPv6 header), and lengths checked before any
// byte is loaded (a load past the packet would end the whole filter, negations included).
const QUOTE4: &str =
    "ip proto 1 and ip[6:2] & 0x1fff == 0 and ip[2:2] - ((ip[0] & 0xf) << 2) >= 18 \
     and (icmp[0] == 3 or icmp[0] == 4 or icmp[0] == 5 or icmp[0] == 11 or icmp[0] == 12) \
     and icmp[8] == 0x45";
const QUOTE6: &str = "ip6 proto 58 and ip6[4:2] >= 15 and ip6[40] >= 1 and ip6[40] <= 4 \
     and ip6[48] & 0xf0 == 0x60";
const QUOTE4_SPORT: &str = "ip proto 1 and ip[6:2] & 0x1fff == 0 \
     and ip[2:2] - ((ip[0] & 0xf) << 2) >= 30 \
     and (icmp[0] == 3 or icmp[0] == 4 or icmp[0] == 5 or icmp[0] == 11 or icmp[0] == 12) \
     and icmp[8] == 0x45 and (icmp[17] == 6 or icmp[17] == 17) and icmp[14:2] & 0x1fff == 0";
const QUOTE4_DPORT: &str = "ip proto 1 and ip[6:2] & 0x1fff == 0 \
     and ip[2:2] - ((ip[0] & 0xf) << 2) >= 32 \
     and (icmp[0] == 3 or icmp[0] == 4 or icmp[0] == 5 or icmp[0] == 11 or icmp[0] == 12) \
     and icmp[8] == 0x45 and (icmp[17] == 6 or icmp[17] == 17) and icmp[14:2] & 0x1fff == 0";
const QUOTE6_SPORT: &str = "ip6 proto 58 and ip6[4:2] >= 50 and ip6[40] >= 1 and ip6[40] <= 4 \
     and ip6[48] & 0xf0 == 0x60 and (ip6[54] == 6 or ip6[54] == 17)";
const QUOTE6_DPORT: &str = "ip6 proto 58 and ip6[4:2] >= 52 and ip6[40] >= 1 and ip6[40] <= 4 \
     and ip6[48] & 0xf0 == 0x60 and (ip6[54] == 6 or ip6[54] == 17)";

fn access(field: &Field) -> Option<Access> {
    let both = |g4, a4, g6, a6| Access {
        v4: Some((g4, a4)),
        v6: Some((g6, a6)),
        v6_constant: None,
    };
    Some(match field.name() {
        "frame.len" => both("", "len", "", "len"),
        "ip.version" => both("ip", "4", "ip6", "6"),
        "ip.ttl" => both("ip", "ip[8]", "ip6", "ip6[7]"),
        "ip.len" => both("ip", "ip[2:2]", "ip6", "(ip6[4:2] + 40)"),
        "ip.proto" => both("ip", "ip[9]", "ip6", "ip6[6]"),
        "ip.dsfield" => both("ip", "ip[1]", "ip6", "((ip6[0:2] >> 4) & 0xff)"),
        "ip.id" => Access {
            v4: Some(("ip", "ip[4:2]")),
            v6: Some(("ip6 proto 44", "ip6[44:4]")),
            v6_constant: Some(0),
        },
        "ip.frag_offset" => Access {
            v4: Some(("ip", "(ip[6:2] & 0x1fff)")),
            v6: Some(("ip6 proto 44", "(ip6[42:2] >> 3)")),
            v6_constant: Some(0),
        },
        "ip.frag" => Access {
            v4: Some(("ip", "(ip[6:2] & 0x3fff)")),
            v6: Some(("ip6 proto 44", "1")),
            v6_constant: Some(0),
        },
        "ip.flags.df" => Access {
            v4: Some(("ip", "(ip[6] & 0x40)")),
            v6: None,
            v6_constant: Some(0),
        },
        "ip.flags.mf" => Access {
            v4: Some(("ip", "(ip[6] & 0x20)")),
            v6: Some(("ip6 proto 44", "(ip6[43] & 1)")),
            v6_constant: Some(0),
        },
        "tcp.srcport" => both(TCP4, "tcp[0:2]", TCP6, "ip6[40:2]"),
        "tcp.dstport" => both(TCP4, "tcp[2:2]", TCP6, "ip6[42:2]"),
        "tcp.seq" => both(TCP4, "tcp[4:4]", TCP6, "ip6[44:4]"),
        "tcp.ack" => both(TCP4, "tcp[8:4]", TCP6, "ip6[48:4]"),
        "tcp.flags" => both(
            TCP4,
            "((tcp[12] & 1) << 8 | tcp[13])",
            TCP6,
            "((ip6[52] & 1) << 8 | ip6[53])",
        ),
        "tcp.window" => both(TCP4, "tcp[14:2]", TCP6, "ip6[54:2]"),
        "tcp.hdr_len" => both(TCP4, "((tcp[12] >> 4) * 4)", TCP6, "((ip6[52] >> 4) * 4)"),
        "udp.srcport" => both(UDP4, "udp[0:2]", UDP6, "ip6[40:2]"),
        "udp.dstport" => both(UDP4, "udp[2:2]", UDP6, "ip6[42:2]"),
        "udp.len" => both(UDP4, "udp[4:2]", UDP6, "ip6[44:2]"),
        "icmp.type" => both(ICMP4, "icmp[0]", ICMP6, "ip6[40]"),
        "icmp.code" => both(ICMP4, "icmp[1]", ICMP6, "ip6[41]"),
        "icmp.quoted.proto" => both(QUOTE4, "icmp[17]", QUOTE6, "ip6[54]"),
        "icmp.quoted.srcport" => both(QUOTE4_SPORT, "icmp[28:2]", QUOTE6_SPORT, "ip6[88:2]"),
        "icmp.quoted.dstport" => both(QUOTE4_DPORT, "icmp[30:2]", QUOTE6_DPORT, "ip6[90:2]"),
        _ => return None,
    })
}

fn flag_bit(field: &Field) -> Option<u16> {
    crate::field::tcp_flag_bit(field.name())
}

fn and(guard: &str, test: String) -> String {
    if guard.is_empty() {
        format!("({test})")
    } else {
        format!("({guard} and {test})")
    }
}

fn any(parts: Vec<String>) -> String {
    match parts.len() {
        0 => "(len < 0)".into(), // never true: nothing to match
        1 => parts.into_iter().next().expect("one part"),
        _ => format!("({})", parts.join(" or ")),
    }
}

/// A test on an integer field, with `test` applied to each version's accessor.
fn int_test(
    field: &Field,
    test: impl Fn(&str) -> String,
    constant_holds: impl Fn(u64) -> bool,
) -> Result<String, String> {
    let a = access(field)
        .ok_or_else(|| format!("`{}` cannot be read by a libpcap filter", field.name()))?;
    let mut parts = Vec::new();
    if let Some((g, acc)) = a.v4 {
        parts.push(and(g, test(acc)));
    }
    if let Some((g, acc)) = a.v6 {
        parts.push(and(g, test(acc)));
    }
    if let Some(c) = a.v6_constant {
        if constant_holds(c) {
            let reach = match a.v6 {
                Some((g, _)) if g.starts_with("ip6 proto") => format!("(ip6 and not {g})"),
                _ => "ip6".to_string(),
            };
            parts.push(reach);
        }
    }
    Ok(any(parts))
}

fn cmp_sym(op: CmpOp) -> &'static str {
    op.symbol()
}

fn addr_test(dir: &str, net: &IpNet) -> String {
    let (proto, full) = match net {
        IpNet::V4(n) => ("ip", n.prefix_len() == 32),
        IpNet::V6(n) => ("ip6", n.prefix_len() == 128),
    };
    if full {
        format!("{proto} {dir} host {}", net.addr())
    } else {
        format!("{proto} {dir} net {net}")
    }
}

/// How a payload reads in BPF, for one IP version and one way its length is found: the
/// guard that says this way applies, the payload's length, and where its loads start.
struct PayloadWay {
    guard: String,
    /// The payload's length, an expression (`0` when the packet has none).
    len: String,
    /// A load's text up to its offset into the payload: `udp[8` for `udp[8 + 2:4]`.
    at: &'static str,
}

impl PayloadWay {
    /// `size` bytes at `offset` (an expression) into the payload.
    fn load(&self, offset: &str, size: u32) -> String {
        format!("{} + {offset}:{size}]", self.at)
    }
}

/// What the payloads of one IP version are read with.
struct PayloadReach {
    /// The IP payload's length, as levee bounds it (IPv6: extension headers are not walked,
    /// see the module's limits).
    ip_payload: &'static str,
    /// The guard that the IP header's length field covers the header, and where its payload
    /// starts (`ip.payload`).
    ip: &'static str,
    ip_at: &'static str,
    udp: &'static str,
    udp_len: &'static str,
    udp_at: &'static str,
    tcp: &'static str,
    tcp_header_len: &'static str,
    tcp_at: &'static str,
    icmp: &'static str,
    icmp_at: &'static str,
}

const PAYLOADS: [PayloadReach; 2] = [
    PayloadReach {
        ip_payload: "(ip[2:2] - ((ip[0] & 0xf) << 2))",
        ip: "ip and ip[0] & 0xf >= 5 and ip[2:2] >= ((ip[0] & 0xf) << 2)",
        ip_at: "ip[((ip[0] & 0xf) << 2)",
        udp: UDP4,
        udp_len: "udp[4:2]",
        udp_at: "udp[8",
        tcp: TCP4,
        tcp_header_len: "((tcp[12] & 0xf0) >> 2)",
        tcp_at: "tcp[((tcp[12] & 0xf0) >> 2)",
        icmp: ICMP4,
        icmp_at: "icmp[8",
    },
    PayloadReach {
        ip_payload: "ip6[4:2]",
        ip: "ip6",
        ip_at: "ip6[40",
        udp: UDP6,
        udp_len: "ip6[44:2]",
        udp_at: "ip6[48",
        tcp: TCP6,
        tcp_header_len: "((ip6[52] & 0xf0) >> 2)",
        tcp_at: "ip6[40 + ((ip6[52] & 0xf0) >> 2)",
        icmp: ICMP6,
        icmp_at: "ip6[48",
    },
];

/// Every way of reading a transport's payload, per IP version, as levee decodes it: UDP's
/// ends at its length field or at the IP payload's end, whichever is first (the IP payload's
/// end when the length field is below 8); TCP's starts after the header's stated length, and
/// there is none when that length is short of 20 bytes or past the segment; ICMP's follows
/// the 8-byte header. The IP payload follows the IPv4 header (in every fragment) or the
/// IPv6 fixed header, to the length the header gives.
fn payload_ways(transport: &str) -> Option<Vec<PayloadWay>> {
    let mut ways = Vec::new();
    for r in &PAYLOADS {
        let ip = r.ip_payload;
        let way = |guard, len, at| PayloadWay { guard, len, at };
        match transport {
            "ip" => ways.push(way(r.ip.to_string(), ip.to_string(), r.ip_at)),
            "udp" => {
                let (g, l) = (r.udp, r.udp_len);
                ways.push(way(
                    format!("{g} and {l} >= 8 and {l} <= {ip}"),
                    format!("({l} - 8)"),
                    r.udp_at,
                ));
                ways.push(way(
                    format!("{g} and ({l} < 8 or {l} > {ip}) and {ip} >= 8"),
                    format!("({ip} - 8)"),
                    r.udp_at,
                ));
            }
            "tcp" => {
                let (g, h) = (r.tcp, r.tcp_header_len);
                ways.push(way(
                    format!("{g} and {h} >= 20 and {ip} >= {h}"),
                    format!("({ip} - {h})"),
                    r.tcp_at,
                ));
                ways.push(way(
                    format!("{g} and {ip} >= 20 and ({h} < 20 or {ip} < {h})"),
                    "0".into(),
                    r.tcp_at,
                ));
            }
            "icmp" => {
                let g = r.icmp;
                ways.push(way(
                    format!("{g} and {ip} >= 8"),
                    format!("({ip} - 8)"),
                    r.icmp_at,
                ));
                ways.push(way(
                    format!("{g} and {ip} < 8 and {ip} >= 2"),
                    "0".into(),
                    r.icmp_at,
                ));
            }
            _ => return None,
        }
    }
    Some(ways)
}

/// `bytes` compared (`equal` or not) with the payload from `from` (a byte offset), or from
/// `back` bytes before its end, in loads of 4, 2 and 1 bytes: all equal, or one differing.
fn bytes_test(way: &PayloadWay, from: Result<usize, u32>, bytes: &[u8], equal: bool) -> String {
    let mut parts = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let k = match bytes.len() - at {
            n if n >= 4 => 4,
            n if n >= 2 => 2,
            _ => 1,
        };
        let value = bytes[at..at + k]
            .iter()
            .fold(0u32, |v, &b| (v << 8) | u32::from(b));
        let o = match from {
            Ok(start) => (start + at).to_string(),
            Err(back) if at == 0 => format!("{} - {back}", way.len),
            Err(back) => format!("{} - {back} + {at}", way.len),
        };
        let sym = if equal { "==" } else { "!=" };
        parts.push(format!("{} {sym} {value:#x}", way.load(&o, k as u32)));
        at += k;
    }
    let joined = parts.join(if equal { " and " } else { " or " });
    format!("({joined})")
}

/// A condition on a payload (a slice compared with bytes, its length compared or in a set):
/// the payload's length is tested before any byte is loaded, since a load past the packet
/// would end the whole filter. `contains` and `matches` are refused: BPF cannot search.
fn payload_leaf(e: &Expr, field: &Field) -> Result<String, String> {
    let transport = field.name().split('.').next().unwrap_or_default();
    let ways = payload_ways(transport)
        .ok_or_else(|| format!("`{field}` cannot be read by a libpcap filter"))?;
    let mut parts = Vec::new();
    for way in &ways {
        let len = &way.len;
        // The test on this way, `None` when it can never hold (a slice of no payload).
        let test: Option<String> = match e {
            Expr::Cmp {
                field,
                op,
                value: Literal::Bytes(bytes),
            } => {
                let equal = *op == CmpOp::Eq;
                let n = bytes.len();
                match field.view() {
                    View::Slice { start, len: k } => {
                        let k = usize::from(k);
                        debug_assert_eq!(k, n, "the parser sizes a slice's bytes");
                        if len == "0" {
                            None
                        } else if start >= 0 {
                            let need = start as usize + k;
                            Some(format!(
                                "{len} >= {need} and {}",
                                bytes_test(way, Ok(start as usize), bytes, equal)
                            ))
                        } else {
                            let back = start.unsigned_abs();
                            Some(format!(
                                "{len} >= {back} and {}",
                                bytes_test(way, Err(back), bytes, equal)
                            ))
                        }
                    }
                    View::Whole if len == "0" => (!equal).then(|| "len >= 0".to_string()),
                    View::Whole if equal => Some(format!(
                        "{len} == {n} and {}",
                        bytes_test(way, Ok(0), bytes, true)
                    )),
                    View::Whole => Some(format!(
                        "({len} != {n} or {})",
                        bytes_test(way, Ok(0), bytes, false)
                    )),
                    View::Len => None,
                }
            }
            Expr::Cmp {
                field,
                op,
                value: Literal::Int(v),
            } if field.view() == View::Len => {
                if len == "0" {
                    op.holds(0, *v).then(|| "len >= 0".to_string())
                } else {
                    Some(format!("{len} {} {v}", cmp_sym(*op)))
                }
            }
            Expr::In { field, set } if field.view() == View::Len => {
                if len == "0" {
                    set.contains_int(0).then(|| "len >= 0".to_string())
                } else {
                    let ranges: Vec<String> = set
                        .int_ranges
                        .iter()
                        .map(|&(lo, hi)| {
                            if lo == hi {
                                format!("{len} == {lo}")
                            } else {
                                format!("({len} >= {lo} and {len} <= {hi})")
                            }
                        })
                        .collect();
                    Some(format!("({})", ranges.join(" or ")))
                }
            }
            Expr::Contains { .. } | Expr::Matches { .. } => {
                return Err(format!(
                    "`{field}`: a libpcap filter cannot search a payload; compare a slice \
                     (`{field}[0:4] == 0x...`) instead"
                ))
            }
            _ => return Err(format!("`{e}` cannot be read by a libpcap filter")),
        };
        if let Some(t) = test {
            parts.push(format!("({} and {t})", way.guard));
        }
    }
    Ok(any(parts))
}

fn leaf(e: &Expr, lists: &Lists) -> Result<String, String> {
    if let Some(field) = e.fields().into_iter().find(|f| f.is_payload()) {
        return payload_leaf(e, &field);
    }
    match e {
        Expr::Flag(f) => {
            if let Some(bit) = flag_bit(f) {
                let tf = Field::lookup("tcp.flags").expect("tcp.flags exists");
                int_test(&tf, |acc| format!("{acc} & {bit:#04x} != 0"), |_| false)
            } else {
                int_test(f, |acc| format!("{acc} != 0"), |c| c != 0)
            }
        }
        Expr::Cmp { field, op, value } => match (field.ty(), value) {
            (FieldType::Ip, Literal::Ip(ip)) => {
                let dir = match field.name() {
                    "ip.src" => "src",
                    "ip.dst" => "dst",
                    other => return Err(format!("`{other}` cannot be read by a libpcap filter")),
                };
                let t = addr_test(dir, &IpNet::from(*ip));
                match op {
                    CmpOp::Eq => Ok(format!("({t})")),
                    CmpOp::Ne => {
                        let (same, other) = if ip.is_ipv4() {
                            ("ip", "ip6")
                        } else {
                            ("ip6", "ip")
                        };
                        Ok(format!("(({same} and not {t}) or {other})"))
                    }
                    _ => Err(
                        "addresses can only be compared with == and != in a libpcap filter".into(),
                    ),
                }
            }
            (FieldType::Int, Literal::Int(v)) => {
                let v = *v;
                int_test(
                    field,
                    |acc| format!("{acc} {} {v}", cmp_sym(*op)),
                    |c| op.holds(c, v),
                )
            }
            (FieldType::Bool, Literal::Bool(b)) => {
                let inner = leaf(&Expr::Flag(*field), lists)?;
                let want = (*op == CmpOp::Eq) == *b;
                if want {
                    Ok(inner)
                } else {
                    // The field must exist and be false.
                    let exists = int_test(
                        &if flag_bit(field).is_some() {
                            Field::lookup("tcp.flags").expect("tcp.flags exists")
                        } else {
                            *field
                        },
                        |_| "len >= 0".to_string(),
                        |_| true,
                    )?;
                    Ok(format!("({exists} and not {inner})"))
                }
            }
            _ => Err(format!(
                "`{}` ({}) cannot be read by a libpcap filter",
                field.name(),
                field.ty().plural()
            )),
        },
        Expr::In { field, set } => match field.ty() {
            FieldType::Ip => {
                let dir = match field.name() {
                    "ip.src" => "src",
                    "ip.dst" => "dst",
                    other => return Err(format!("`{other}` cannot be read by a libpcap filter")),
                };
                let nets = set.nets(lists);
                if nets.is_empty() {
                    return Ok("(len < 0)".into());
                }
                Ok(any(nets
                    .iter()
                    .map(|n| format!("({})", addr_test(dir, n)))
                    .collect()))
            }
            FieldType::Int => {
                let ranges = set.int_ranges.clone();
                let test = |acc: &str| {
                    let parts: Vec<String> = ranges
                        .iter()
                        .map(|&(lo, hi)| {
                            if lo == hi {
                                format!("{acc} == {lo}")
                            } else {
                                format!("({acc} >= {lo} and {acc} <= {hi})")
                            }
                        })
                        .collect();
                    if parts.len() == 1 {
                        parts.into_iter().next().expect("one")
                    } else {
                        format!("({})", parts.join(" or "))
                    }
                };
                int_test(field, test, |c| set.contains_int(c))
            }
            _ => Err(format!(
                "`{}` cannot be read by a libpcap filter",
                field.name()
            )),
        },
        Expr::Contains { field, .. } | Expr::Matches { field, .. } => Err(format!(
            "`{}`: libpcap filters cannot match text in a decoded field",
            field.name()
        )),
        _ => unreachable!("compound expressions are handled by the caller"),
    }
}

fn walk(e: &Expr, lists: &Lists) -> Result<String, String> {
    Ok(match e {
        Expr::And(v) => format!(
            "({})",
            v.iter()
                .map(|x| walk(x, lists))
                .collect::<Result<Vec<_>, _>>()?
                .join(" and ")
        ),
        Expr::Or(v) => format!(
            "({})",
            v.iter()
                .map(|x| walk(x, lists))
                .collect::<Result<Vec<_>, _>>()?
                .join(" or ")
        ),
        Expr::Not(x) => format!("(not {})", walk(x, lists)?),
        Expr::Xor(a, b) => {
            let (a, b) = (walk(a, lists)?, walk(b, lists)?);
            format!("(({a} and not {b}) or (not {a} and {b}))")
        }
        leaf_expr => leaf(leaf_expr, lists)?,
    })
}

/// A VLAN tag protocol identifier at byte `at` of the frame, read raw: `ether[]` offsets are
/// not moved by the `vlan` keyword.
fn tagged_at(at: u32) -> String {
    format!("(ether[{at}:2] == 0x8100 or ether[{at}:2] == 0x88a8 or ether[{at}:2] == 0x9100)")
}

/// The libpcap filter for an expression, or why it cannot be written as one.
///
/// The body is written once per tagging: untagged, one VLAN tag, two (QinQ), as levee decodes
/// through up to two tags. Each copy is guarded by raw tests of the tag identifiers, so a
/// negation in the untagged copy never holds for a tagged frame. libpcap's `vlan` moves the
/// offsets of everything after it in the filter, so the QinQ copy needs one more `vlan`
/// only.
pub fn compile(e: &Expr, lists: &Lists) -> Result<String, String> {
    let body = walk(e, lists)?;
    let (one, two) = (tagged_at(12), tagged_at(16));
    Ok(format!(
        "(not {one} and {body}) or ({one} and not {two} and vlan and {body}) or \
         ({one} and {two} and vlan and {body})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_plain;

    #[test]
    fn payload_slices_load_only_what_the_payload_holds() {
        let c = |s: &str| compile(&parse_plain(s).unwrap(), &Lists::new());
        // The length is tested before the load: a load past the packet would end the filter.
        let f = c("udp.payload[2:6] == 0x0102030405ff").unwrap();
        assert!(
            f.contains(
                "(udp[4:2] - 8) >= 8 and (udp[8 + 2:4] == 0x1020304 and udp[8 + 6:2] == 0x5ff)"
            ),
            "{f}"
        );
        assert!(f.contains("ip6[48 + 2:4] == 0x1020304"), "{f}");
        // From the end; TCP after the header's stated length.
        let f = c("tcp.payload[-3:1] != 0x41").unwrap();
        assert!(
            f.contains("tcp[((tcp[12] & 0xf0) >> 2) + ((ip[2:2] - ((ip[0] & 0xf) << 2)) - ((tcp[12] & 0xf0) >> 2)) - 3:1] != 0x41"),
            "{f}"
        );
        // A length, including the packets that carry none.
        let f = c("len(icmp.payload) == 0").unwrap();
        assert!(
            f.contains("(ip[2:2] - ((ip[0] & 0xf) << 2)) < 8 and"),
            "{f}"
        );
        assert!(
            f.contains("((ip[2:2] - ((ip[0] & 0xf) << 2)) - 8) == 0"),
            "{f}"
        );
        // A search is refused with what to write instead.
        let e = c("udp.payload contains \"x\"").unwrap_err();
        assert!(e.contains("cannot search a payload"), "{e}");
    }

    #[test]
    fn conditions_become_guarded_byte_tests() {
        let c = |s: &str| compile(&parse_plain(s).unwrap(), &Lists::new()).unwrap();
        let f = c("ip.dst == 10.10.10.10 and udp.srcport == 4500");
        assert!(f.contains("ip dst host 10.10.10.10"), "{f}");
        assert!(
            f.contains("ip proto 17 and ip[6:2] & 0x1fff == 0 and udp[0:2] == 4500"),
            "{f}"
        );
        assert!(f.contains("and vlan and "), "{f}");
        let f = c("ip.src in {192.0.2.0/24 198.51.100.1..198.51.100.6}");
        assert!(f.contains("ip src net 192.0.2.0/24"), "{f}");
        assert!(f.contains("ip src net 198.51.100.2/31"), "{f}");
        assert!(f.contains("ip src host 198.51.100.1"), "{f}");
        let f = c("tcp.flags == 0x02 and tcp.flags.syn");
        assert!(f.contains("((tcp[12] & 1) << 8 | tcp[13]) == 2"), "{f}");
        // Flags are values to test, never relations inside a relation (tcpdump refuses those).
        let f = c("ip.flags.mf or not ip.flags.df or ip.frag");
        assert!(f.contains("(ip[6] & 0x20) != 0"), "{f}");
        assert!(!f.contains("!= 0) != 0"), "{f}");
        let f = c("ip.id == 0");
        assert!(
            f.contains("(ip6 and not ip6 proto 44)"),
            "IPv6 without fragment header has ID 0: {f}"
        );
        assert!(compile(
            &parse_plain("dns.qry.name == \"a\"").unwrap(),
            &Lists::new()
        )
        .is_err());
        assert!(compile(
            &parse_plain("http.host contains \"a\"").unwrap(),
            &Lists::new()
        )
        .is_err());
    }
}
