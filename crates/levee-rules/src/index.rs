//! Which expressions of a [`RuleSet`](crate::RuleSet) a packet can possibly match, from a few
//! table look-ups.
//!
//! A rules file of a hundred rules mostly holds rules that cannot match a given packet: each
//! names a destination, a source network, a port. Checking them all, condition by condition,
//! costs microseconds per packet. Instead, each expression is filed under one *key*: a
//! condition it cannot match without (a conjunct at its top), on a field whose wanted values
//! are a small part of the field's range (`ip.dst == 203.0.113.7`, `udp.srcport == 123`,
//! `ip.src in { 198.51.100.0/24 }`). Per field, the wanted value ranges of all keys are cut
//! into disjoint segments, each with the list of expressions wanting it. For a packet, each
//! indexed field is read once and its segment found by binary search: only the expressions
//! listed there, and those without a key, are evaluated. An expression not among the
//! candidates fails its key condition, so it cannot match: the result is exactly that of
//! evaluating every expression.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::ast::{CmpOp, Expr, Literal};
use crate::field::{Field, FieldType};
use crate::record::Record;

/// A key is used only when its condition accepts at most this share of its field's values:
/// a wider one (`ip.len > 100`) would list its expression for most packets anyway.
const MAX_KEY_SHARE: f64 = 0.25;

/// The values a condition accepts, as sorted ranges: integers (and IPv4 addresses) on one
/// axis, IPv6 addresses on another.
#[derive(Debug, Clone, Default)]
struct Wanted {
    narrow: Vec<(u64, u64)>,
    v6: Vec<(u128, u128)>,
}

impl Wanted {
    /// The values `e` accepts, when it is a condition on one field that an index can serve.
    fn of(e: &Expr) -> Option<(Field, Wanted)> {
        match e {
            Expr::Cmp {
                field,
                op,
                value: Literal::Int(v),
            } if field.ty() == FieldType::Int => {
                let v = *v;
                let range = match op {
                    CmpOp::Eq => Some((v, v)),
                    CmpOp::Le => Some((0, v)),
                    CmpOp::Lt => v.checked_sub(1).map(|hi| (0, hi)),
                    CmpOp::Ge => Some((v, u64::MAX)),
                    CmpOp::Gt => v.checked_add(1).map(|lo| (lo, u64::MAX)),
                    // Accepts nearly everything: never a useful key.
                    CmpOp::Ne => return None,
                };
                Some((
                    *field,
                    Wanted {
                        narrow: range.into_iter().collect(),
                        v6: Vec::new(),
                    },
                ))
            }
            Expr::Cmp {
                field,
                op: CmpOp::Eq,
                value: Literal::Ip(ip),
            } => Some((
                *field,
                match ip {
                    IpAddr::V4(a) => Wanted {
                        narrow: vec![(u64::from(u32::from(*a)), u64::from(u32::from(*a)))],
                        v6: Vec::new(),
                    },
                    IpAddr::V6(a) => Wanted {
                        narrow: Vec::new(),
                        v6: vec![(u128::from(*a), u128::from(*a))],
                    },
                },
            )),
            Expr::In { field, set } if field.ty() == FieldType::Int => Some((
                *field,
                Wanted {
                    narrow: set.int_ranges.clone(),
                    v6: Vec::new(),
                },
            )),
            Expr::In { field, set } if field.ty() == FieldType::Ip => Some((
                *field,
                Wanted {
                    narrow: set
                        .v4_ranges
                        .iter()
                        .map(|&(lo, hi)| (u64::from(lo), u64::from(hi)))
                        .collect(),
                    v6: set.v6_ranges.clone(),
                },
            )),
            _ => None,
        }
    }

    /// The share of the field's possible values accepted (the larger of the two axes for
    /// addresses): smaller keys make fewer candidates.
    fn share(&self, field: &Field) -> f64 {
        let narrow_space = match field.ty() {
            FieldType::Ip => 2f64.powi(32),
            _ => field_space(field),
        };
        let narrow: f64 = self
            .narrow
            .iter()
            .map(|&(lo, hi)| (hi.min(narrow_space as u64 - 1).saturating_sub(lo) + 1) as f64)
            .sum::<f64>()
            / narrow_space;
        let v6: f64 = self
            .v6
            .iter()
            .map(|&(lo, hi)| (hi - lo) as f64 + 1.0)
            .sum::<f64>()
            / 2f64.powi(128);
        narrow.max(v6).min(1.0)
    }
}

/// How many values an integer field takes, for judging how selective a condition on it is.
fn field_space(field: &Field) -> f64 {
    match field.name() {
        "ip.proto" | "ip.ttl" | "icmp.type" | "icmp.code" | "tcp.flags" => 256.0,
        // Ports, lengths, IP ID, window.
        _ => 65_536.0,
    }
}

/// Disjoint segments of one axis, starting at `starts[i]`, each with the list of expressions
/// (`lists[list_of[i]]`) whose key accepts the values of the segment.
#[derive(Debug, Clone)]
struct Segments<T> {
    starts: Vec<T>,
    list_of: Vec<u32>,
}

impl<T: Copy + Ord + std::fmt::Debug> Segments<T> {
    /// Builds the segments from `(lo, hi, expression)` ranges by a sweep over their ends;
    /// neighbouring segments with the same list are merged, and equal lists stored once.
    fn build(
        mut ranges: Vec<(T, T, u32)>,
        min: T,
        next: impl Fn(T) -> Option<T>,
        lists: &mut Vec<Vec<u32>>,
        ids: &mut HashMap<Vec<u32>, u32>,
    ) -> Segments<T> {
        // Boundaries: every start, and the value after every end.
        let mut events: Vec<(T, bool, u32)> = Vec::with_capacity(ranges.len() * 2);
        for &(lo, hi, e) in &ranges {
            events.push((lo, true, e));
            if let Some(after) = next(hi) {
                events.push((after, false, e));
            }
        }
        ranges.clear();
        events.sort_unstable();
        let mut active: HashMap<u32, u32> = HashMap::new();
        let mut seg = Segments {
            starts: vec![min],
            list_of: vec![intern(Vec::new(), lists, ids)],
        };
        let mut i = 0;
        while i < events.len() {
            let at = events[i].0;
            while i < events.len() && events[i].0 == at {
                let (_, open, e) = events[i];
                let n = active.entry(e).or_insert(0);
                if open {
                    *n += 1;
                } else {
                    *n -= 1;
                    if *n == 0 {
                        active.remove(&e);
                    }
                }
                i += 1;
            }
            let mut list: Vec<u32> = active.keys().copied().collect();
            list.sort_unstable();
            let id = intern(list, lists, ids);
            if seg.starts.last() == Some(&at) {
                *seg.list_of.last_mut().expect("one segment at least") = id;
            } else if seg.list_of.last() != Some(&id) {
                seg.starts.push(at);
                seg.list_of.push(id);
            }
        }
        seg
    }

    #[inline]
    fn list(&self, x: T) -> u32 {
        // The first segment starts at the axis's minimum, so the point is at least 1.
        let i = self.starts.partition_point(|&s| s <= x);
        self.list_of[i - 1]
    }
}

fn intern(list: Vec<u32>, lists: &mut Vec<Vec<u32>>, ids: &mut HashMap<Vec<u32>, u32>) -> u32 {
    if let Some(&id) = ids.get(&list) {
        return id;
    }
    let id = lists.len() as u32;
    ids.insert(list.clone(), id);
    lists.push(list);
    id
}

/// A direct table in front of a field's segments: entry `h` is the segment holding value
/// `h << shift`, so a look-up reads one entry and searches only the few segments that start
/// inside the same `2^shift` values (none, for a 16-bit field). The search through every
/// segment was most of the time spent on a packet; this makes it one or two memory reads.
#[derive(Debug, Clone)]
struct Table {
    shift: u32,
    first: Vec<u32>,
}

impl Table {
    /// A table of `2^bits` entries for values below `2^(bits + shift)`.
    fn new(seg: &Segments<u64>, bits: u32, shift: u32) -> Table {
        // One walk over the entries and the segments together.
        let mut first = Vec::with_capacity(1 << bits);
        let mut i = 0;
        for h in 0..1u64 << bits {
            while i + 1 < seg.starts.len() && seg.starts[i + 1] <= h << shift {
                i += 1;
            }
            first.push(i as u32);
        }
        Table { shift, first }
    }

    /// The list of the segment holding `x`.
    #[inline]
    fn list(&self, seg: &Segments<u64>, x: u64) -> u32 {
        let h = (x >> self.shift) as usize;
        let Some(&lo) = self.first.get(h) else {
            return seg.list(x);
        };
        let hi = self
            .first
            .get(h + 1)
            .map_or(seg.starts.len() - 1, |&i| i as usize);
        let lo = lo as usize;
        // Segments starting after `h << shift` and no later than `x`.
        let later = seg.starts[lo + 1..=hi].partition_point(|&s| s <= x);
        seg.list_of[lo + later]
    }
}

/// One field's key ranges while the index is built: `(lo, hi, expression)` on each axis.
type KeyedRanges = (Field, Vec<(u64, u64, u32)>, Vec<(u128, u128, u32)>);

/// The index of one field.
#[derive(Debug, Clone)]
struct FieldIndex {
    field: Field,
    narrow: Segments<u64>,
    table: Table,
    v6: Segments<u128>,
}

/// Candidate expressions of a packet (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Index {
    /// Expressions without a key, as a bit set: always candidates.
    always: Vec<u64>,
    fields: Vec<FieldIndex>,
    lists: Vec<Vec<u32>>,
}

impl Index {
    /// Files each expression under the most selective of its `necessary` conditions (atoms
    /// it cannot match without), or under none.
    pub(crate) fn new(atoms: &[Expr], necessary: &[Vec<usize>]) -> Index {
        let words = necessary.len().div_ceil(64);
        let mut always = vec![0u64; words];
        let mut per_field: Vec<KeyedRanges> = Vec::new();
        for (e, atoms_needed) in necessary.iter().enumerate() {
            let best = atoms_needed
                .iter()
                .filter_map(|&a| Wanted::of(&atoms[a]))
                .map(|(f, w)| (w.share(&f), f, w))
                .filter(|(share, _, _)| *share <= MAX_KEY_SHARE)
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let Some((_, field, wanted)) = best else {
                always[e / 64] |= 1 << (e % 64);
                continue;
            };
            let slot = match per_field.iter().position(|(f, _, _)| *f == field) {
                Some(i) => i,
                None => {
                    per_field.push((field, Vec::new(), Vec::new()));
                    per_field.len() - 1
                }
            };
            let (_, narrow, v6) = &mut per_field[slot];
            narrow.extend(wanted.narrow.iter().map(|&(lo, hi)| (lo, hi, e as u32)));
            v6.extend(wanted.v6.iter().map(|&(lo, hi)| (lo, hi, e as u32)));
        }
        let mut lists = Vec::new();
        let mut ids = HashMap::new();
        let fields = per_field
            .into_iter()
            .map(|(field, narrow, v6)| {
                let narrow =
                    Segments::build(narrow, 0, |x: u64| x.checked_add(1), &mut lists, &mut ids);
                // Addresses by their first 16 bits; integers by their value.
                let table = match field.ty() {
                    FieldType::Ip => Table::new(&narrow, 16, 16),
                    _ => Table::new(&narrow, field_space(&field).log2() as u32, 0),
                };
                FieldIndex {
                    field,
                    narrow,
                    table,
                    v6: Segments::build(v6, 0, |x: u128| x.checked_add(1), &mut lists, &mut ids),
                }
            })
            .collect();
        Index {
            always,
            fields,
            lists,
        }
    }

    /// Number of expressions filed under a key (the rest are always candidates).
    #[cfg(test)]
    pub(crate) fn keyed(&self, expressions: usize) -> usize {
        expressions
            - self
                .always
                .iter()
                .map(|w| w.count_ones() as usize)
                .sum::<usize>()
    }

    /// Writes the packet's candidates into `out` as a bit set (one bit per expression).
    #[inline]
    pub(crate) fn candidates<R: Record + ?Sized>(&self, p: &R, out: &mut Vec<u64>) {
        out.clear();
        out.extend_from_slice(&self.always);
        for fi in &self.fields {
            let list = match fi.field.ty() {
                FieldType::Ip => match p.ip(&fi.field) {
                    Some(IpAddr::V4(a)) => fi.table.list(&fi.narrow, u64::from(u32::from(a))),
                    Some(IpAddr::V6(a)) => fi.v6.list(u128::from(a)),
                    None => continue,
                },
                _ => match p.int(&fi.field) {
                    Some(v) => fi.table.list(&fi.narrow, v),
                    None => continue,
                },
            };
            for &e in &self.lists[list as usize] {
                out[e as usize / 64] |= 1 << (e % 64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_plain;

    fn segments(ranges: &[(u64, u64, u32)]) -> (Segments<u64>, Vec<Vec<u32>>) {
        let mut lists = Vec::new();
        let s = Segments::build(
            ranges.to_vec(),
            0,
            |x: u64| x.checked_add(1),
            &mut lists,
            &mut HashMap::new(),
        );
        (s, lists)
    }

    #[test]
    fn overlapping_ranges_give_every_value_exactly_the_expressions_wanting_it() {
        let ranges = [
            (10, 20, 0),
            (15, 30, 1),
            (20, 20, 2),
            (40, u64::MAX, 3),
            (0, 0, 4),
        ];
        let (s, lists) = segments(&ranges);
        for x in [
            0,
            1,
            9,
            10,
            14,
            15,
            19,
            20,
            21,
            30,
            31,
            39,
            40,
            1 << 40,
            u64::MAX,
        ] {
            let want: Vec<u32> = ranges
                .iter()
                .filter(|r| r.0 <= x && x <= r.1)
                .map(|r| r.2)
                .collect();
            assert_eq!(lists[s.list(x) as usize], want, "at {x}");
        }
    }

    #[test]
    fn a_table_in_front_of_the_segments_finds_the_same_lists() {
        let ranges = [
            (0x0a00_0000, 0x0aff_ffff, 0),
            (0x0a01_0203, 0x0a01_0203, 1),
            (0x0a01_0200, 0x0a01_02ff, 2),
            (0xc000_0200, 0xc000_02ff, 3),
            (0xffff_ff00, 0xffff_ffff, 4),
        ];
        let (s, _) = segments(&ranges);
        let wide = Table::new(&s, 16, 16);
        // A table covering fewer values than occur: the rest goes through the segments.
        let short = Table::new(&s, 8, 0);
        for x in [
            0u64,
            0x0a00_0000,
            0x0a01_0202,
            0x0a01_0203,
            0x0a01_0204,
            0x0a01_02ff,
            0x0a01_0300,
            0x0b00_0000,
            0xc000_02ff,
            0xc000_0300,
            0xffff_feff,
            0xffff_ff00,
            0xffff_ffff,
            1 << 40,
        ] {
            assert_eq!(wide.list(&s, x), s.list(x), "at {x:#x}");
            assert_eq!(short.list(&s, x), s.list(x), "at {x:#x}");
        }
    }

    #[test]
    fn the_narrowest_necessary_condition_is_the_key_and_wide_ones_are_not_keys() {
        let srcs = [
            "ip.dst == 10.0.0.1 and ip.proto == 17",
            "ip.len > 100",
            "ip.proto == 6 and tcp.dstport in {80 443}",
        ];
        let exprs: Vec<Expr> = srcs.iter().map(|s| parse_plain(s).unwrap()).collect();
        let set = crate::RuleSet::indexed(&exprs);
        let index = set.index().expect("indexed");
        assert_eq!(index.keyed(3), 2);
        let fields: Vec<&str> = index.fields.iter().map(|f| f.field.name()).collect();
        assert_eq!(fields, ["ip.dst", "tcp.dstport"]);
    }
}
