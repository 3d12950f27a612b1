//! Evaluating many expressions on the same packet, each condition at most once.
//!
//! Rule files and signature candidates share most of their conditions (`ip.dst == X`,
//! `tcp.flags == 0x02`...). A [`RuleSet`] collects the distinct leaf conditions of all its
//! expressions, and evaluates every expression with short-circuits over a per-packet memo of
//! those conditions: a condition is read from the packet only when some expression needs it,
//! and never twice.

use crate::record::Record;
use std::collections::HashMap;

use std::net::IpAddr;

use crate::ast::{CmpOp, Expr, Literal};
use crate::field::{Field, FieldType};
use crate::index::Index;

/// An expression over the set's conditions.
#[derive(Debug, Clone)]
enum Formula {
    Atom(usize),
    /// A conjunction of conditions (the common shape of signatures and rules), as bit masks
    /// of header conditions and of application conditions.
    Conj {
        header: u64,
        app: u64,
    },
    Not(Box<Formula>),
    And(Vec<Formula>),
    Or(Vec<Formula>),
    Xor(Box<Formula>, Box<Formula>),
}

/// A header condition in the shape it is checked fastest.
#[derive(Debug, Clone)]
enum Fast {
    IntCmp(Field, CmpOp, u64),
    /// Integer in a few sorted ranges (scanned linearly).
    IntIn(Field, Vec<(u64, u64)>),
    /// IPv4 address equal to (or, with `true`, different from) a value.
    Ip4Cmp(Field, u32, bool),
    /// Address in a set of sorted, merged ranges (binary search).
    IpIn(Field, Vec<(u32, u32)>, Vec<(u128, u128)>),
    Flag(Field),
    /// A `contains` condition searched for with others on its field first (see
    /// [`SearchGroup`]), then alone.
    Grouped(u32, Box<Expr>),
    /// Anything else, through the general evaluator.
    General(Box<Expr>),
}

impl Fast {
    fn new(e: &Expr) -> Fast {
        match e {
            Expr::Cmp {
                field,
                op,
                value: Literal::Int(v),
            } if field.ty() == FieldType::Int => Fast::IntCmp(*field, *op, *v),
            Expr::In { field, set }
                if field.ty() == FieldType::Int && set.int_ranges.len() <= 8 =>
            {
                Fast::IntIn(*field, set.int_ranges.clone())
            }
            Expr::Cmp {
                field,
                op: op @ (CmpOp::Eq | CmpOp::Ne),
                value: Literal::Ip(IpAddr::V4(a)),
            } => Fast::Ip4Cmp(*field, u32::from(*a), *op == CmpOp::Ne),
            Expr::In { field, set } if field.ty() == FieldType::Ip => {
                Fast::IpIn(*field, set.v4_ranges.clone(), set.v6_ranges.clone())
            }
            Expr::Flag(field) => Fast::Flag(*field),
            other => Fast::General(Box::new(other.clone())),
        }
    }

    #[inline]
    fn matches<R: Record + ?Sized>(&self, p: &R) -> bool {
        match self {
            Fast::IntCmp(f, op, v) => p.int(f).is_some_and(|x| op.holds(x, *v)),
            Fast::IntIn(f, ranges) => p
                .int(f)
                .is_some_and(|x| ranges.iter().any(|&(lo, hi)| lo <= x && x <= hi)),
            Fast::Ip4Cmp(f, v, ne) => match p.ip(f) {
                Some(IpAddr::V4(a)) => (u32::from(a) == *v) != *ne,
                // An IPv6 address is never equal to an IPv4 one.
                Some(IpAddr::V6(_)) => *ne,
                None => false,
            },
            Fast::IpIn(f, v4, v6) => match p.ip(f) {
                Some(IpAddr::V4(a)) => in_sorted(v4, u32::from(a)),
                Some(IpAddr::V6(a)) => in_sorted(v6, u128::from(a)),
                None => false,
            },
            Fast::Flag(f) => p.bool(f).unwrap_or(false),
            Fast::General(e) | Fast::Grouped(_, e) => e.matches(p),
        }
    }
}

/// Whether `x` lies in one of the sorted, disjoint ranges.
#[inline]
fn in_sorted<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    let i = ranges.partition_point(|r| r.1 < x);
    i < ranges.len() && ranges[i].0 <= x
}

/// Several expressions evaluated together.
#[derive(Debug, Clone)]
pub struct RuleSet {
    atoms: Vec<Expr>,
    /// Every condition in its fastest checking shape (application conditions through the
    /// general evaluator).
    fast: Vec<Fast>,
    /// Conditions on header fields: cheap, read eagerly into a bit mask when there are at
    /// most 64 conditions in all (otherwise every condition is read lazily, once).
    eager: Vec<usize>,
    /// Whether atom `i` reads an application-layer field (decoded only when needed).
    app: Vec<bool>,
    formulas: Vec<Formula>,
    masked: bool,
    /// For large sets: which expressions a packet can match at all.
    index: Option<Index>,
    /// `contains` conditions on one bytes field, searched for together (see [`SearchGroup`]).
    groups: Vec<SearchGroup>,
}

/// Several `contains` conditions on the same bytes field (a payload): one SIMD pass of a packed
/// multi-needle searcher (Teddy) tells, for most packets, that none of them is there, where
/// each needle searched for alone would have read the payload once more. When the pass finds
/// something, each condition is searched for on its own (a leftmost search may hide a needle
/// that overlaps another's match).
#[derive(Debug, Clone)]
struct SearchGroup {
    field: Field,
    atoms: Vec<usize>,
    searcher: aho_corasick::packed::Searcher,
}

/// Fewest `contains` conditions on one field searched together: one alone is as fast on its own.
const SEARCH_GROUP_MIN: usize = 2;

/// The groups of `atoms`' `contains` conditions on bytes fields, with each atom's group.
fn search_groups(atoms: &[Expr]) -> (Vec<SearchGroup>, Vec<Option<u32>>) {
    let mut by_field: Vec<(Field, Vec<usize>)> = Vec::new();
    for (i, a) in atoms.iter().enumerate() {
        if let Expr::Contains {
            field,
            needle: Literal::Bytes(n),
            ..
        } = a
        {
            if field.ty() != FieldType::Bytes || n.is_empty() {
                continue;
            }
            match by_field.iter_mut().find(|(f, _)| f == field) {
                Some((_, v)) => v.push(i),
                None => by_field.push((*field, vec![i])),
            }
        }
    }
    let mut groups = Vec::new();
    let mut group_of = vec![None; atoms.len()];
    for (field, members) in by_field {
        if members.len() < SEARCH_GROUP_MIN {
            continue;
        }
        let mut config = aho_corasick::packed::Config::new().builder();
        for &i in &members {
            if let Expr::Contains {
                needle: Literal::Bytes(n),
                ..
            } = &atoms[i]
            {
                config.add(n);
            }
        }
        // No packed searcher on this CPU (or for these needles): each searched alone.
        let Some(searcher) = config.build() else {
            continue;
        };
        for &i in &members {
            group_of[i] = Some(groups.len() as u32);
        }
        groups.push(SearchGroup {
            field,
            atoms: members,
            searcher,
        });
    }
    (groups, group_of)
}

/// Per-packet state: the header conditions' truth as bits, and a memo of application
/// conditions (0 = not evaluated, 1 = false, 2 = true).
pub struct Memo {
    truth: u64,
    lazy: Vec<u8>,
    /// The index's candidate expressions, as a bit set.
    candidates: Vec<u64>,
}

impl RuleSet {
    /// A set for expressions that share most of their conditions (the candidate signatures
    /// of one attack): with at most 64 distinct conditions, every header condition is read
    /// once per packet into a bit mask, and each expression is a mask test.
    pub fn new(exprs: &[Expr]) -> RuleSet {
        RuleSet::build(exprs, false)
    }

    /// A set for expressions that mostly differ (a rules file): each is filed in an
    /// index under a condition it needs, and only the expressions a packet's
    /// field values can satisfy are evaluated.
    pub fn indexed(exprs: &[Expr]) -> RuleSet {
        RuleSet::build(exprs, true)
    }

    fn build(exprs: &[Expr], indexed: bool) -> RuleSet {
        let mut atoms = Vec::new();
        let mut atoms_by_text = std::collections::HashMap::new();
        let formulas: Vec<Formula> = exprs
            .iter()
            .map(|e| lower(e, &mut atoms, &mut atoms_by_text))
            .collect();
        let app: Vec<bool> = atoms.iter().map(is_application).collect();
        let index = indexed.then(|| {
            let necessary: Vec<Vec<usize>> = formulas
                .iter()
                .map(|f| {
                    let mut v = Vec::new();
                    necessary_atoms(f, &mut v);
                    v
                })
                .collect();
            Index::new(&atoms, &necessary)
        });
        let masked = !indexed && atoms.len() <= 64;
        let formulas = if masked {
            formulas.into_iter().map(|f| to_masks(f, &app)).collect()
        } else {
            formulas
        };
        let eager: Vec<usize> = (0..atoms.len()).filter(|&i| masked && !app[i]).collect();
        let (groups, group_of) = search_groups(&atoms);
        RuleSet {
            groups,
            fast: atoms
                .iter()
                .zip(&app)
                .zip(group_of)
                .map(|((a, &is_app), group)| {
                    if let Some(g) = group {
                        Fast::Grouped(g, Box::new(a.clone()))
                    } else if is_app {
                        Fast::General(Box::new(a.clone()))
                    } else {
                        Fast::new(a)
                    }
                })
                .collect(),
            eager,
            atoms,
            app,
            formulas,
            masked,
            index,
        }
    }

    #[cfg(test)]
    pub(crate) fn index(&self) -> Option<&Index> {
        self.index.as_ref()
    }

    /// How many expressions the set holds.
    pub fn len(&self) -> usize {
        self.formulas.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.formulas.is_empty()
    }

    /// Number of distinct conditions.
    pub fn conditions(&self) -> usize {
        self.atoms.len()
    }

    /// A memo sized for this set, to reuse across packets.
    pub fn memo(&self) -> Memo {
        Memo {
            truth: 0,
            lazy: vec![0; self.atoms.len()],
            candidates: Vec::new(),
        }
    }

    /// Calls `hit(i)` for every expression `i` that matches the packet.
    #[inline]
    pub fn for_each_match<R: Record + ?Sized>(
        &self,
        p: &R,
        memo: &mut Memo,
        mut hit: impl FnMut(usize),
    ) {
        if let Some(index) = &self.index {
            let mut candidates = std::mem::take(&mut memo.candidates);
            index.candidates(p, &mut candidates);
            let mut fresh = true;
            for (w, &word) in candidates.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let i = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if fresh {
                        // Most packets have no candidate: clear the memo only when needed.
                        memo.lazy.fill(0);
                        fresh = false;
                    }
                    if self.eval(&self.formulas[i], p, memo) {
                        hit(i);
                    }
                }
            }
            memo.candidates = candidates;
            return;
        }
        memo.lazy.fill(0);
        let mut truth = 0u64;
        for &i in &self.eager {
            truth |= u64::from(self.fast[i].matches(p)) << i;
        }
        memo.truth = truth;
        for (i, f) in self.formulas.iter().enumerate() {
            if self.eval(f, p, memo) {
                hit(i);
            }
        }
    }

    /// Whether expression `i` matches.
    pub fn matches<R: Record + ?Sized>(&self, i: usize, p: &R) -> bool {
        let mut memo = self.memo();
        let mut found = false;
        self.for_each_match(p, &mut memo, |j| found |= i == j);
        found
    }

    #[inline]
    fn atom<R: Record + ?Sized>(&self, i: usize, p: &R, memo: &mut Memo) -> bool {
        if self.masked && !self.app[i] {
            return memo.truth >> i & 1 == 1;
        }
        match memo.lazy[i] {
            1 => false,
            2 => true,
            _ => {
                if let Fast::Grouped(g, _) = &self.fast[i] {
                    if self.none_in_group(&self.groups[*g as usize], p, memo) {
                        return false;
                    }
                }
                let v = self.fast[i].matches(p);
                memo.lazy[i] = 1 + u8::from(v);
                v
            }
        }
    }

    /// Searches the group's field once for all its needles; when none is there, every
    /// condition of the group is settled false for this packet.
    #[inline(never)]
    fn none_in_group<R: Record + ?Sized>(&self, g: &SearchGroup, p: &R, memo: &mut Memo) -> bool {
        let none = match p.bytes(&g.field) {
            Some(b) => g.searcher.find(b).is_none(),
            // A payload that is not there (or not whole) contains nothing.
            None => true,
        };
        if none {
            for &a in &g.atoms {
                memo.lazy[a] = 1;
            }
        }
        none
    }

    fn eval<R: Record + ?Sized>(&self, f: &Formula, p: &R, memo: &mut Memo) -> bool {
        match f {
            Formula::Atom(i) => self.atom(*i, p, memo),
            Formula::Conj { header, app } => {
                if memo.truth & header != *header {
                    return false;
                }
                let mut rest = *app;
                while rest != 0 {
                    let i = rest.trailing_zeros() as usize;
                    if !self.atom(i, p, memo) {
                        return false;
                    }
                    rest &= rest - 1;
                }
                true
            }
            Formula::Not(x) => !self.eval(x, p, memo),
            Formula::And(v) => v.iter().all(|x| self.eval(x, p, memo)),
            Formula::Or(v) => v.iter().any(|x| self.eval(x, p, memo)),
            Formula::Xor(a, b) => self.eval(a, p, memo) != self.eval(b, p, memo),
        }
    }
}

/// Conditions an expression cannot match without: its atom, or the atoms at the top of a
/// conjunction (nested conjunctions included).
fn necessary_atoms(f: &Formula, out: &mut Vec<usize>) {
    match f {
        Formula::Atom(i) => out.push(*i),
        Formula::And(v) => v.iter().for_each(|x| necessary_atoms(x, out)),
        _ => {}
    }
}

/// Whether a condition is read only once the cheaper ones of its conjunction held: layer-7
/// fields (decoded on demand) and payloads (searched, or sliced past headers), so that a
/// packet failing a header test costs nothing more.
fn is_application(e: &Expr) -> bool {
    e.fields()
        .iter()
        .any(|f| f.is_application() || f.is_payload())
}

/// Turns conjunctions of plain conditions into bit masks (recursively).
fn to_masks(f: Formula, app: &[bool]) -> Formula {
    match f {
        Formula::And(v) if v.iter().all(|x| matches!(x, Formula::Atom(_))) => {
            let (mut header, mut app_mask) = (0u64, 0u64);
            for x in &v {
                if let Formula::Atom(i) = x {
                    if app[*i] {
                        app_mask |= 1 << i;
                    } else {
                        header |= 1 << i;
                    }
                }
            }
            Formula::Conj {
                header,
                app: app_mask,
            }
        }
        Formula::And(v) => Formula::And(v.into_iter().map(|x| to_masks(x, app)).collect()),
        Formula::Or(v) => Formula::Or(v.into_iter().map(|x| to_masks(x, app)).collect()),
        Formula::Not(x) => Formula::Not(Box::new(to_masks(*x, app))),
        Formula::Xor(a, b) => {
            Formula::Xor(Box::new(to_masks(*a, app)), Box::new(to_masks(*b, app)))
        }
        atom => atom,
    }
}

/// The expression as a formula over atoms (conditions), each stored once in `atoms`. Equal
/// atoms are found through their text (`by_text`: text to the indices of atoms printed so),
/// then compared whole: looking through every atom for each one made 10 000 rules take
/// seconds to load.
fn lower(e: &Expr, atoms: &mut Vec<Expr>, by_text: &mut HashMap<String, Vec<usize>>) -> Formula {
    match e {
        Expr::Not(x) => Formula::Not(Box::new(lower(x, atoms, by_text))),
        Expr::And(v) => Formula::And(v.iter().map(|x| lower(x, atoms, by_text)).collect()),
        Expr::Or(v) => Formula::Or(v.iter().map(|x| lower(x, atoms, by_text)).collect()),
        Expr::Xor(a, b) => Formula::Xor(
            Box::new(lower(a, atoms, by_text)),
            Box::new(lower(b, atoms, by_text)),
        ),
        leaf => {
            let same_text = by_text.entry(leaf.to_string()).or_default();
            let i = match same_text.iter().find(|&&i| atoms[i] == *leaf) {
                Some(&i) => i,
                None => {
                    atoms.push(leaf.clone());
                    same_text.push(atoms.len() - 1);
                    atoms.len() - 1
                }
            };
            Formula::Atom(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_plain;
    use levee_decode::{decode, linktype};

    #[test]
    fn needles_searched_together_decide_as_each_alone() {
        // Needles that overlap one another, share prefixes, or are longer than some payloads.
        let needles = [
            "0x0102",
            "0x020304",
            "0x01020304",
            "0xfe",
            "0x0303",
            "0xaabbccddeeff0011",
        ];
        let exprs: Vec<Expr> = needles
            .iter()
            .map(|n| parse_plain(&format!("udp.payload contains {n}")).unwrap())
            .collect();
        let set = RuleSet::indexed(&exprs);
        assert_eq!(set.groups.len(), 1);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut memo = set.memo();
        let mut found = [0usize; 6];
        for case in 0..20_000 {
            let len = (next() % 80) as usize;
            // Bytes from a small alphabet, so needles occur, overlap and nearly occur.
            let alphabet = [1u8, 2, 3, 4, 0xfe, 0xaa, 0xbb];
            let payload: Vec<u8> = (0..len).map(|_| alphabet[(next() % 7) as usize]).collect();
            let mut f = vec![0u8; 14 + 20 + 8];
            f[12] = 0x08;
            f[14] = 0x45;
            f[16..18].copy_from_slice(&((28 + len) as u16).to_be_bytes());
            f[22] = 64;
            f[23] = 17;
            f[38..40].copy_from_slice(&((8 + len) as u16).to_be_bytes());
            f.extend(&payload);
            let p = decode(linktype::ETHERNET, &f, f.len() as u32);
            let mut together = [false; 6];
            set.for_each_match(&p, &mut memo, |i| together[i] = true);
            for (i, e) in exprs.iter().enumerate() {
                assert_eq!(
                    together[i],
                    e.matches(&p),
                    "case {case}: {e} on {payload:02x?}"
                );
                found[i] += usize::from(together[i]);
            }
        }
        // Every needle but the one no alphabet spells was found, and not always.
        assert!(
            found.iter().take(5).all(|&n| n > 0 && n < 20_000),
            "{found:?}"
        );
        assert_eq!(found[5], 0);
    }

    #[test]
    fn shared_conditions_are_stored_once_and_results_match_single_evaluation() {
        let srcs = [
            "ip.dst == 10.10.10.10 and tcp.flags == 0x02 and ip.ttl in {48..55}",
            "ip.dst == 10.10.10.10 and tcp.flags == 0x02",
            "ip.dst == 10.10.10.10 and (udp.srcport == 53 or ip.frag_offset > 0)",
            "not tcp.flags == 0x02 xor ip.ttl in {48..55}",
        ];
        let exprs: Vec<Expr> = srcs.iter().map(|s| parse_plain(s).unwrap()).collect();
        let set = RuleSet::new(&exprs);
        assert_eq!(set.len(), 4);
        assert_eq!(set.conditions(), 5);
        // SYN to 10.10.10.10 with TTL 50; then the same with TTL 64; then UDP from 53.
        let mut frames = Vec::new();
        for (proto, ttl) in [(6u8, 50u8), (6, 64), (17, 50)] {
            let mut f = vec![0u8; 14 + 20 + 20];
            f[12] = 0x08;
            f[14] = 0x45;
            f[16..18].copy_from_slice(&40u16.to_be_bytes());
            f[22] = ttl;
            f[23] = proto;
            f[30..34].copy_from_slice(&[10, 10, 10, 10]);
            f[34..36].copy_from_slice(&53u16.to_be_bytes());
            if proto == 6 {
                f[46] = 5 << 4;
                f[47] = 0x02;
            } else {
                f[38..40].copy_from_slice(&20u16.to_be_bytes());
            }
            frames.push(f);
        }
        let mut memo = set.memo();
        for f in &frames {
            let p = decode(linktype::ETHERNET, f, f.len() as u32);
            let mut hits = Vec::new();
            set.for_each_match(&p, &mut memo, |i| hits.push(i));
            let want: Vec<usize> = (0..exprs.len()).filter(|&i| exprs[i].matches(&p)).collect();
            assert_eq!(hits, want);
            for (i, e) in exprs.iter().enumerate() {
                assert_eq!(set.matches(i, &p), e.matches(&p));
            }
        }
    }

    #[test]
    fn more_conditions_than_a_mask_holds_and_application_fields_still_agree() {
        let mut srcs: Vec<String> = (0..70).map(|t| format!("ip.ttl == {t}")).collect();
        srcs.push("tcp.flags.str == \"S\" and ip.ttl == 57".into());
        let exprs: Vec<Expr> = srcs.iter().map(|s| parse_plain(s).unwrap()).collect();
        let set = RuleSet::new(&exprs);
        assert!(set.conditions() > 64);
        let small = RuleSet::new(&exprs[69..]);
        let mut f = vec![0u8; 14 + 20 + 20];
        f[12] = 0x08;
        f[14] = 0x45;
        f[16..18].copy_from_slice(&40u16.to_be_bytes());
        f[22] = 57;
        f[23] = 6;
        f[46] = 5 << 4;
        f[47] = 0x02;
        let p = decode(linktype::ETHERNET, &f, f.len() as u32);
        let mut hits = Vec::new();
        set.for_each_match(&p, &mut set.memo(), |i| hits.push(i));
        assert_eq!(hits, vec![57, 70]);
        let mut hits = Vec::new();
        small.for_each_match(&p, &mut small.memo(), |i| hits.push(i));
        assert_eq!(hits, vec![1]);
    }

    #[test]
    fn address_sets_agree_with_the_general_evaluator_with_and_without_a_mask() {
        let srcs = [
            "ip.src in { 10.0.0.0/8 192.0.2.7 }",
            "ip.src in { 198.51.100.0/24 }",
            "ip.dst in { 203.0.113.0/25 2001:db8::/32 }",
            "not ip.dst in { 203.0.113.128/25 }",
        ];
        let exprs: Vec<Expr> = srcs.iter().map(|s| parse_plain(s).unwrap()).collect();
        // The same expressions behind 70 filler conditions: no mask, every condition lazy.
        let mut big: Vec<Expr> = (0..70)
            .map(|t| parse_plain(&format!("ip.ttl == {}", 100 + t)).unwrap())
            .collect();
        big.extend(exprs.iter().cloned());
        let (small, big) = (RuleSet::new(&exprs), RuleSet::new(&big));
        assert!(big.conditions() > 64);
        for (src, dst) in [
            ([10, 1, 2, 3], [203, 0, 113, 5]),
            ([192, 0, 2, 7], [203, 0, 113, 200]),
            ([192, 0, 2, 8], [198, 51, 100, 1]),
            ([198, 51, 100, 255], [203, 0, 113, 127]),
        ] {
            let mut f = vec![0u8; 14 + 20];
            f[12] = 0x08;
            f[14] = 0x45;
            f[16..18].copy_from_slice(&20u16.to_be_bytes());
            f[22] = 64;
            f[23] = 17;
            f[26..30].copy_from_slice(&src);
            f[30..34].copy_from_slice(&dst);
            let p = decode(linktype::ETHERNET, &f, f.len() as u32);
            let want: Vec<usize> = (0..exprs.len()).filter(|&i| exprs[i].matches(&p)).collect();
            let mut got = Vec::new();
            small.for_each_match(&p, &mut small.memo(), |i| got.push(i));
            assert_eq!(got, want, "{src:?} -> {dst:?}");
            let mut got = Vec::new();
            big.for_each_match(&p, &mut big.memo(), |i| got.push(i - 70));
            assert_eq!(got, want, "{src:?} -> {dst:?} without a mask");
        }
    }

    /// The IPv4 network of `bits` bits holding `ip` (IPv6 addresses: of `bits` × 4 bits).
    fn network(ip: IpAddr, bits: u32) -> String {
        match ip {
            IpAddr::V4(a) => {
                let n = std::net::Ipv4Addr::from(u32::from(a) & (u32::MAX << (32 - bits)));
                format!("{n}/{bits}")
            }
            IpAddr::V6(a) => {
                let bits = bits * 4;
                let n = std::net::Ipv6Addr::from(u128::from(a) & (u128::MAX << (128 - bits)));
                format!("{n}/{bits}")
            }
        }
    }

    /// Packets of the real captures in `shared/data` (attacks and scans).
    fn real_frames() -> Vec<(u32, Vec<u8>, u32)> {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        let mut frames = Vec::new();
        for dir in ["attacks", "scans"] {
            let mut paths: Vec<_> = std::fs::read_dir(data.join(dir))
                .unwrap_or_else(|e| panic!("{}: {e}", data.join(dir).display()))
                .map(|e| e.unwrap().path())
                .collect();
            paths.sort();
            for path in paths {
                let mut r = levee_capture::CaptureReader::open(&path).unwrap();
                // Every 5th packet keeps the test quick and still varied.
                let mut n = 0u64;
                while let Some(item) = r.next_item() {
                    if let levee_capture::Item::Frame(f) = item {
                        n += 1;
                        if n.is_multiple_of(5) {
                            frames.push((f.linktype, f.data.to_vec(), f.orig_len));
                        }
                    }
                }
            }
        }
        frames
    }

    #[test]
    #[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
    fn an_indexed_set_of_varied_rules_agrees_with_evaluating_each_rule_on_real_captures() {
        let frames = real_frames();
        assert!(frames.len() > 10_000, "{} frames", frames.len());
        // Values taken from the packets themselves, so that many rules do match.
        let mut step = 0x9e37_79b9_7f4a_7c15u64;
        let mut pick = |n: usize| {
            step ^= step << 13;
            step ^= step >> 7;
            step ^= step << 17;
            (step % n as u64) as usize
        };
        let mut conditions = Vec::new();
        for k in 0..700 {
            let (lt, data, len) = &frames[pick(frames.len())];
            let p = decode(*lt, data, *len);
            let Some(ip) = p.ip.as_ref() else { continue };
            // The packet's payload, for conditions on payloads (read lazily by the set).
            let payload = p
                .udp()
                .map(|_| ("udp", p.payload))
                .or(p.tcp().map(|_| ("tcp", p.payload)))
                .filter(|(_, b)| b.len() >= 4 && !p.is_cut());
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let c = match k % 13 {
                10 => match payload {
                    Some((t, b)) if k % 2 == 0 => format!("{t}.payload[0:4] == 0x{}", hex(&b[..4])),
                    Some((t, b)) => format!(
                        "{t}.payload[-2:2] == 0x{} and ip.dst == {}",
                        hex(&b[b.len() - 2..]),
                        ip.dst
                    ),
                    None => continue,
                },
                11 => match payload {
                    Some((t, b)) => format!("len({t}.payload) >= {}", b.len()),
                    None => continue,
                },
                12 => match payload {
                    Some((t, b)) => format!(
                        "ip.proto in {{6 17}} and {t}.payload contains 0x{}",
                        hex(&b[b.len() / 2..b.len() / 2 + 2])
                    ),
                    None => continue,
                },
                0 => format!("ip.src == {}", ip.src),
                1 => format!("ip.dst in {{ {} 192.0.2.0/24 }}", network(ip.dst, 24)),
                2 => format!("ip.ttl in {{{}..{}}}", ip.ttl, ip.ttl.saturating_add(3)),
                3 => format!("ip.len > {}", ip.len),
                4 => format!("ip.proto == {}", ip.proto),
                5 => match p.tcp() {
                    Some(t) => format!(
                        "tcp.dstport == {} and tcp.flags == {}",
                        t.dst_port, t.flags.0
                    ),
                    None => continue,
                },
                6 => match p.udp() {
                    Some(u) => format!("udp.srcport in {{{} 53 123}}", u.src_port),
                    None => continue,
                },
                7 => format!("not ip.src == {}", ip.src),
                8 => format!("ip.ttl < {}", ip.ttl),
                _ => format!("ip.src in {{ {} }} or ip.len <= 60", network(ip.src, 16)),
            };
            conditions.push(c);
        }
        let on_payloads = conditions.iter().filter(|c| c.contains("payload")).count();
        assert!(on_payloads >= 25, "{on_payloads} conditions on payloads");
        let srcs: Vec<String> = (0..300)
            .map(|_| match pick(3) {
                0 => conditions[pick(conditions.len())].clone(),
                1 => format!(
                    "{} and {}",
                    conditions[pick(conditions.len())],
                    conditions[pick(conditions.len())]
                ),
                _ => format!(
                    "({}) and ({} or {})",
                    conditions[pick(conditions.len())],
                    conditions[pick(conditions.len())],
                    conditions[pick(conditions.len())]
                ),
            })
            .collect();
        let exprs: Vec<Expr> = srcs.iter().map(|s| parse_plain(s).unwrap()).collect();
        let set = RuleSet::indexed(&exprs);
        assert!(set.index().unwrap().keyed(exprs.len()) > 150);
        let mut memo = set.memo();
        let (mut checked, mut matched) = (0u64, 0u64);
        for (lt, data, len) in &frames {
            let p = decode(*lt, data, *len);
            let mut got = Vec::new();
            set.for_each_match(&p, &mut memo, |i| got.push(i));
            let want: Vec<usize> = (0..exprs.len()).filter(|&i| exprs[i].matches(&p)).collect();
            assert_eq!(got, want);
            checked += 1;
            matched += want.len() as u64;
        }
        // The rules are not vacuous: they match many packets.
        assert!(
            matched > checked,
            "{matched} matches over {checked} packets"
        );
    }
}
