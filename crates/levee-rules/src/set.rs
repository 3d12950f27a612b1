//! Evaluating many expressions on the same packet, each condition at most once.
//!
//! Rule files and signature candidates share most of their conditions (`ip.dst == X`,
//! `tcp.flags == 0x02`...). A [`RuleSet`] collects the distinct leaf conditions of all its
//! expressions, and evaluates every expression with short-circuits over a per-packet memo of
//! those conditions: a condition is read from the packet only when some expression needs it,
//! and never twice.

use levee_decode::Packet;

use crate::ast::Expr;

/// An expression over the set's conditions.
#[derive(Debug, Clone)]
enum Formula {
    Atom(usize),
    Not(Box<Formula>),
    And(Vec<Formula>),
    Or(Vec<Formula>),
    Xor(Box<Formula>, Box<Formula>),
}

/// Several expressions evaluated together.
#[derive(Debug, Clone)]
pub struct RuleSet {
    atoms: Vec<Expr>,
    formulas: Vec<Formula>,
}

/// Per-packet memo: 0 = not evaluated, 1 = false, 2 = true.
pub struct Memo(Vec<u8>);

impl RuleSet {
    pub fn new(exprs: &[Expr]) -> RuleSet {
        let mut atoms = Vec::new();
        let formulas = exprs.iter().map(|e| lower(e, &mut atoms)).collect();
        RuleSet { atoms, formulas }
    }

    pub fn len(&self) -> usize {
        self.formulas.len()
    }

    pub fn is_empty(&self) -> bool {
        self.formulas.is_empty()
    }

    /// Number of distinct conditions.
    pub fn conditions(&self) -> usize {
        self.atoms.len()
    }

    /// A memo sized for this set, to reuse across packets.
    pub fn memo(&self) -> Memo {
        Memo(vec![0; self.atoms.len()])
    }

    /// Calls `hit(i)` for every expression `i` that matches the packet.
    #[inline]
    pub fn for_each_match(&self, p: &Packet<'_>, memo: &mut Memo, mut hit: impl FnMut(usize)) {
        memo.0.fill(0);
        for (i, f) in self.formulas.iter().enumerate() {
            if self.eval(f, p, &mut memo.0) {
                hit(i);
            }
        }
    }

    /// Whether expression `i` matches (with a fresh memo).
    pub fn matches(&self, i: usize, p: &Packet<'_>) -> bool {
        let mut memo = vec![0; self.atoms.len()];
        self.eval(&self.formulas[i], p, &mut memo)
    }

    fn eval(&self, f: &Formula, p: &Packet<'_>, memo: &mut [u8]) -> bool {
        match f {
            Formula::Atom(i) => match memo[*i] {
                1 => false,
                2 => true,
                _ => {
                    let v = self.atoms[*i].matches(p);
                    memo[*i] = 1 + u8::from(v);
                    v
                }
            },
            Formula::Not(x) => !self.eval(x, p, memo),
            Formula::And(v) => v.iter().all(|x| self.eval(x, p, memo)),
            Formula::Or(v) => v.iter().any(|x| self.eval(x, p, memo)),
            Formula::Xor(a, b) => self.eval(a, p, memo) != self.eval(b, p, memo),
        }
    }
}

fn lower(e: &Expr, atoms: &mut Vec<Expr>) -> Formula {
    match e {
        Expr::Not(x) => Formula::Not(Box::new(lower(x, atoms))),
        Expr::And(v) => Formula::And(v.iter().map(|x| lower(x, atoms)).collect()),
        Expr::Or(v) => Formula::Or(v.iter().map(|x| lower(x, atoms)).collect()),
        Expr::Xor(a, b) => Formula::Xor(Box::new(lower(a, atoms)), Box::new(lower(b, atoms))),
        leaf => {
            let i = match atoms.iter().position(|a| a == leaf) {
                Some(i) => i,
                None => {
                    atoms.push(leaf.clone());
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
            for i in 0..exprs.len() {
                assert_eq!(set.matches(i, &p), exprs[i].matches(&p));
            }
        }
    }
}
