//! Evaluating a checked expression on one decoded packet.
//!
//! A condition on a field the packet does not have (a TCP port of a UDP packet, a DNS name of a
//! non-DNS packet) is false, whatever the operator, `!=` included: as in Wireshark and
//! Cloudflare's engine, `tcp.dstport != 80` does not match UDP. `not (tcp.dstport == 80)` does.

use std::net::IpAddr;

use crate::ast::{Expr, Literal, Set};
use crate::field::FieldType;
use crate::record::Record;

#[inline]
fn in_ranges<T: Ord + Copy>(ranges: &[(T, T)], v: T) -> bool {
    // The last range starting at or before v is the only one that can hold it.
    let i = ranges.partition_point(|r| r.0 <= v);
    i > 0 && v <= ranges[i - 1].1
}

impl Set {
    /// Whether an integer is in the set.
    #[inline]
    pub fn contains_int(&self, v: u64) -> bool {
        in_ranges(&self.int_ranges, v)
    }

    /// Whether an address is in the set (as an address, in a prefix, or in a range).
    #[inline]
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => in_ranges(&self.v4_ranges, u32::from(a)),
            IpAddr::V6(a) => in_ranges(&self.v6_ranges, u128::from(a)),
        }
    }

    /// Whether a string is in the set.
    pub fn contains_str(&self, s: &str) -> bool {
        self.strings.binary_search_by(|x| x.as_str().cmp(s)).is_ok()
    }
}

impl Expr {
    /// Whether the record (a packet, a log line) matches.
    pub fn matches<R: Record + ?Sized>(&self, p: &R) -> bool {
        match self {
            Expr::Flag(f) => p.bool(f).unwrap_or(false),
            Expr::Cmp { field, op, value } => match (field.ty(), value) {
                (FieldType::Int, Literal::Int(v)) => p.int(field).is_some_and(|x| op.holds(x, *v)),
                (FieldType::Bool, Literal::Bool(v)) => {
                    p.bool(field).is_some_and(|x| op.holds(x, *v))
                }
                (FieldType::Ip, Literal::Ip(v)) => p.ip(field).is_some_and(|x| op.holds(x, *v)),
                (FieldType::Str, Literal::Str(v)) => p
                    .str(field)
                    .is_some_and(|x| op.holds(x.as_ref(), v.as_str())),
                // `==` and `!=` only: the parser refuses an order on bytes.
                (FieldType::Bytes, Literal::Bytes(v)) => {
                    p.bytes(field).is_some_and(|x| op.holds(x, v.as_slice()))
                }
                // The parser only builds the pairs above.
                _ => false,
            },
            Expr::In { field, set } => match field.ty() {
                FieldType::Int => p.int(field).is_some_and(|v| set.contains_int(v)),
                FieldType::Ip => p.ip(field).is_some_and(|v| set.contains_ip(v)),
                FieldType::Str => p.str(field).is_some_and(|v| set.contains_str(&v)),
                // The parser builds no set of these.
                FieldType::Bool | FieldType::Bytes => false,
            },
            Expr::Contains { field, finder, .. } => match field.ty() {
                FieldType::Bytes => p.bytes(field).is_some_and(|v| finder.find(v).is_some()),
                _ => p
                    .str(field)
                    .is_some_and(|v| finder.find(v.as_bytes()).is_some()),
            },
            Expr::Matches { field, regex, .. } => match field.ty() {
                FieldType::Bytes => p.bytes(field).is_some_and(|v| regex.is_match(v)),
                _ => p.str(field).is_some_and(|v| regex.is_match(v.as_bytes())),
            },
            Expr::Not(e) => !e.matches(p),
            Expr::And(v) => v.iter().all(|e| e.matches(p)),
            Expr::Or(v) => v.iter().any(|e| e.matches(p)),
            Expr::Xor(a, b) => a.matches(p) != b.matches(p),
        }
    }
}
