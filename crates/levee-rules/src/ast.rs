//! The checked expression tree and its canonical text.
//!
//! Printing an [`Expr`] gives the wirefilter syntax back, with only the parentheses precedence
//! needs; parsing that text gives the same tree again (tested), so what analyze prints is exactly
//! what it measured.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::bytes::Regex;

use crate::field::Field;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as the rule language writes it.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    #[inline]
    pub(crate) fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// An integer.
    Int(u64),
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A quoted string.
    Str(String),
    /// `true` or `false`.
    Bool(bool),
    /// Bytes, for a payload: written `0x48454c4c4f` or, when they are printable ASCII text,
    /// `"HELLO"`.
    Bytes(Vec<u8>),
}

impl Literal {
    /// The bytes a `contains` needle looks for: a string's UTF-8 or the bytes themselves.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Literal::Str(s) => s.as_bytes(),
            Literal::Bytes(b) => b,
            _ => &[],
        }
    }
}

/// One element of an `in { ... }` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetItem {
    /// An integer.
    Int(u64),
    /// An inclusive range of integers: `1024..65535`.
    IntRange(u64, u64),
    /// An address.
    Ip(IpAddr),
    /// A prefix: `192.0.2.0/24`.
    Net(IpNet),
    /// An inclusive range of addresses: `192.0.2.10-192.0.2.20`.
    IpRange(IpAddr, IpAddr),
    /// A quoted string.
    Str(String),
    /// A named list (`$name`), resolved when the expression was parsed.
    List(String),
}

/// A set, kept as written (for printing) and as sorted ranges (for matching).
#[derive(Debug, Clone)]
pub struct Set {
    /// The items, as written.
    pub items: Vec<SetItem>,
    /// Integer ranges and IPv4/IPv6 ranges (IPv4 mapped into the low 2^32 of u128, IPv6 marked by
    /// `v6`), sorted and merged.
    pub(crate) int_ranges: Vec<(u64, u64)>,
    pub(crate) v4_ranges: Vec<(u32, u32)>,
    pub(crate) v6_ranges: Vec<(u128, u128)>,
    pub(crate) strings: Vec<String>,
}

impl PartialEq for Set {
    fn eq(&self, other: &Set) -> bool {
        self.items == other.items
    }
}

impl Set {
    /// The address prefixes of an address set (ranges cut into prefixes, named lists
    /// expanded), for engines that match on prefixes.
    pub fn nets(&self, lists: &crate::Lists) -> Vec<IpNet> {
        let mut nets = Vec::new();
        for item in &self.items {
            match item {
                SetItem::Ip(ip) => nets.push(IpNet::from(*ip)),
                SetItem::Net(n) => nets.push(*n),
                SetItem::IpRange(IpAddr::V4(a), IpAddr::V4(b)) => {
                    nets.extend(ipnet::Ipv4Subnets::new(*a, *b, 0).map(IpNet::V4))
                }
                SetItem::IpRange(IpAddr::V6(a), IpAddr::V6(b)) => {
                    nets.extend(ipnet::Ipv6Subnets::new(*a, *b, 0).map(IpNet::V6))
                }
                SetItem::List(name) => nets.extend(lists.get(name).unwrap_or(&[]).iter().copied()),
                _ => {}
            }
        }
        nets
    }
}

/// A checked expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A boolean field on its own: `tcp.flags.syn`.
    Flag(Field),
    /// A field compared with a value: `ip.ttl < 64`.
    Cmp {
        /// The field.
        field: Field,
        /// The operator.
        op: CmpOp,
        /// The value, of the field's type.
        value: Literal,
    },
    /// A field in a set: `tcp.dstport in {80 443}`, `ip.src in $list`.
    In {
        /// The field.
        field: Field,
        /// The set.
        set: Set,
    },
    /// A string field containing a string (`http.user_agent contains "curl"`), or a bytes
    /// field containing bytes (`udp.payload contains 0xdeadbeef`).
    Contains {
        /// The field.
        field: Field,
        /// What is looked for: a [`Literal::Str`] in a string field, a [`Literal::Bytes`] in
        /// a bytes field.
        needle: Literal,
        /// The needle's searcher, built once (see [`Expr::contains`]): a search through a
        /// payload for every packet must not set one up each time.
        finder: memchr::memmem::Finder<'static>,
    },
    /// A string or bytes field matching a regular expression: `http.uri matches "^/wp-"`.
    Matches {
        /// The field.
        field: Field,
        /// The expression as written.
        pattern: String,
        /// The expression compiled.
        regex: Regex,
    },
    /// `not e`
    Not(Box<Expr>),
    /// `a and b and ...`
    And(Vec<Expr>),
    /// `a or b or ...`
    Or(Vec<Expr>),
    /// `a xor b`
    Xor(Box<Expr>, Box<Expr>),
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        use Expr::*;
        match (self, other) {
            (Flag(a), Flag(b)) => a == b,
            (
                Cmp {
                    field: f1,
                    op: o1,
                    value: v1,
                },
                Cmp {
                    field: f2,
                    op: o2,
                    value: v2,
                },
            ) => f1 == f2 && o1 == o2 && v1 == v2,
            (In { field: f1, set: s1 }, In { field: f2, set: s2 }) => f1 == f2 && s1 == s2,
            (
                Contains {
                    field: f1,
                    needle: n1,
                    ..
                },
                Contains {
                    field: f2,
                    needle: n2,
                    ..
                },
            ) => f1 == f2 && n1 == n2,
            (
                Matches {
                    field: f1,
                    pattern: p1,
                    ..
                },
                Matches {
                    field: f2,
                    pattern: p2,
                    ..
                },
            ) => f1 == f2 && p1 == p2,
            (Not(a), Not(b)) => a == b,
            (And(a), And(b)) | (Or(a), Or(b)) => a == b,
            (Xor(a1, b1), Xor(a2, b2)) => a1 == a2 && b1 == b2,
            _ => false,
        }
    }
}

impl Expr {
    /// `field contains needle`, its searcher built.
    pub fn contains(field: Field, needle: Literal) -> Expr {
        let finder = memchr::memmem::Finder::new(needle.as_bytes()).into_owned();
        Expr::Contains {
            field,
            needle,
            finder,
        }
    }

    /// `a and b and ...`, flattening nested conjunctions; an empty list is not allowed.
    pub fn and(parts: Vec<Expr>) -> Expr {
        let mut flat = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                Expr::And(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().expect("one element")
        } else {
            Expr::And(flat)
        }
    }

    /// `a or b or ...`, flattening nested disjunctions.
    pub fn or(parts: Vec<Expr>) -> Expr {
        let mut flat = Vec::with_capacity(parts.len());
        for p in parts {
            match p {
                Expr::Or(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().expect("one element")
        } else {
            Expr::Or(flat)
        }
    }

    /// Binding strength for printing: higher binds tighter.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Or(_) => 1,
            Expr::Xor(..) => 2,
            Expr::And(_) => 3,
            Expr::Not(_) => 4,
            _ => 5,
        }
    }

    /// The fields this expression reads, each once, in order of first use.
    pub fn fields(&self) -> Vec<Field> {
        let mut out = Vec::new();
        self.visit_fields(&mut |f| {
            if !out.contains(&f) {
                out.push(f)
            }
        });
        out
    }

    fn visit_fields(&self, f: &mut impl FnMut(Field)) {
        match self {
            Expr::Flag(field)
            | Expr::Cmp { field, .. }
            | Expr::In { field, .. }
            | Expr::Contains { field, .. }
            | Expr::Matches { field, .. } => f(*field),
            Expr::Not(e) => e.visit_fields(f),
            Expr::And(v) | Expr::Or(v) => v.iter().for_each(|e| e.visit_fields(f)),
            Expr::Xor(a, b) => {
                a.visit_fields(f);
                b.visit_fields(f);
            }
        }
    }
}

pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_int(f: &mut fmt::Formatter<'_>, field: &Field, v: u64) -> fmt::Result {
    // Flag bits read better in hex, as in tcpdump and Wireshark filters; protocols by name.
    match field.name() {
        "tcp.flags" => write!(f, "{v:#04x}"),
        "ip.proto" => match crate::field::ip_proto_name(v) {
            Some(name) => f.write_str(name),
            None => write!(f, "{v}"),
        },
        _ => write!(f, "{v}"),
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Ip(ip) => write!(f, "{ip}"),
            Literal::Str(s) => f.write_str(&quote(s)),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Bytes(b) if !b.is_empty() && b.iter().all(|c| (0x20..0x7f).contains(c)) => {
                f.write_str(&quote(&String::from_utf8_lossy(b)))
            }
            Literal::Bytes(b) => {
                f.write_str("0x")?;
                b.iter().try_for_each(|c| write!(f, "{c:02x}"))
            }
        }
    }
}

fn write_set(f: &mut fmt::Formatter<'_>, field: &Field, set: &Set) -> fmt::Result {
    if let [SetItem::List(name)] = set.items.as_slice() {
        return write!(f, "${name}");
    }
    f.write_str("{")?;
    for (i, item) in set.items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        match item {
            SetItem::Int(v) => write_int(f, field, *v)?,
            SetItem::IntRange(a, b) => {
                write_int(f, field, *a)?;
                f.write_str("..")?;
                write_int(f, field, *b)?;
            }
            SetItem::Ip(ip) => write!(f, "{ip}")?,
            SetItem::Net(n) => write!(f, "{n}")?,
            SetItem::IpRange(a, b) => write!(f, "{a}..{b}")?,
            SetItem::Str(s) => f.write_str(&quote(s))?,
            SetItem::List(name) => write!(f, "${name}")?,
        }
    }
    f.write_str("}")
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let child = |f: &mut fmt::Formatter<'_>, e: &Expr, min: u8| -> fmt::Result {
            if e.precedence() < min {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        };
        match self {
            Expr::Flag(field) => write!(f, "{field}"),
            Expr::Cmp { field, op, value } => {
                write!(f, "{field} {} ", op.symbol())?;
                match value {
                    Literal::Int(v) => write_int(f, field, *v),
                    other => write!(f, "{other}"),
                }
            }
            Expr::In { field, set } => {
                write!(f, "{field} in ")?;
                write_set(f, field, set)
            }
            Expr::Contains { field, needle, .. } => {
                write!(f, "{field} contains {needle}")
            }
            Expr::Matches { field, pattern, .. } => {
                write!(f, "{field} matches {}", quote(pattern))
            }
            Expr::Not(e) => {
                f.write_str("not ")?;
                child(f, e, 4)
            }
            Expr::And(v) => {
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" and ")?;
                    }
                    child(f, e, 4)?;
                }
                Ok(())
            }
            Expr::Or(v) => {
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    // `a and b or c` is unambiguous, but parentheses spare the reader the
                    // precedence table.
                    child(f, e, if matches!(e, Expr::And(_)) { 4 } else { 2 })?;
                }
                Ok(())
            }
            Expr::Xor(a, b) => {
                child(f, a, 3)?;
                f.write_str(" xor ")?;
                child(f, b, 3)
            }
        }
    }
}
