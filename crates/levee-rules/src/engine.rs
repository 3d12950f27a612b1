//! Applying a rules file to packets in capture order, as a firewall would: the first rule that
//! matches decides (`log` records and goes on), rate limits are token buckets in capture time.

use std::net::IpAddr;

use crate::field::Field;
use crate::record::Record;

use crate::file::{Action, RateKey, RulesFile};
use crate::{Memo, RuleSet};

/// Token-bucket slots per rate-limit rule. Keys share the slot their hash lands in, so memory
/// stays fixed under millions of spoofed sources; keys that collide share their tokens.
pub const BUCKET_SLOTS: usize = 1 << 20;

struct Buckets {
    rate: f64,
    burst: f64,
    key: RateKey,
    /// (tokens, last refill time in ns) per slot; time `i64::MIN` marks an unused slot.
    slots: Vec<(f64, i64)>,
}

fn addr_hash(ip: IpAddr) -> u64 {
    let bits = match ip {
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => u128::from(a),
    };
    // A fixed mix, so a simulation gives the same result on every run.
    let mut k = (bits as u64) ^ ((bits >> 64) as u64).rotate_left(29);
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

impl Buckets {
    /// How many of `n` packets alike, arriving together, fit the limit (each takes a token).
    fn take<R: Record + ?Sized>(&mut self, ts: i64, p: &R, keys: &KeyFields, n: u64) -> u64 {
        let addr = match self.key {
            RateKey::Global => None,
            RateKey::Source => p.ip(&keys.src),
            RateKey::Destination => p.ip(&keys.dst),
        };
        let key = addr.map_or(0, addr_hash);
        let slot = &mut self.slots[(key as usize) & (BUCKET_SLOTS - 1)];
        if slot.1 == i64::MIN {
            *slot = (self.burst, ts);
        }
        let elapsed = (ts - slot.1).max(0) as f64 / 1e9;
        slot.0 = (slot.0 + elapsed * self.rate).min(self.burst);
        slot.1 = slot.1.max(ts);
        let passed = (slot.0.floor().max(0.0) as u64).min(n);
        slot.0 -= passed as f64;
        passed
    }
}

/// What the rules did with one packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The rule that decided (allow, block or rate_limit), if any.
    pub decided: Option<usize>,
    /// Whether the packet was dropped (for packets standing for several, whether any was).
    pub dropped: bool,
    /// How many of the packets it stands for were dropped (see [`Engine::apply_many`]).
    pub dropped_count: u64,
}

/// A rules file ready to apply.
pub struct Engine {
    set: RuleSet,
    memo: Memo,
    actions: Vec<Action>,
    buckets: Vec<Option<Buckets>>,
    hits: Vec<bool>,
    /// The rules whose expressions matched the last packet, in rule order.
    hit_list: Vec<usize>,
    logged: Vec<usize>,
    keys: KeyFields,
}

/// The fields rate limits count by.
struct KeyFields {
    src: Field,
    dst: Field,
}

impl Engine {
    /// An engine applying the rules of `file`, in order.
    pub fn new(file: &RulesFile) -> Engine {
        let exprs: Vec<_> = file.rules.iter().map(|r| r.expression.clone()).collect();
        let set = RuleSet::indexed(&exprs);
        Engine {
            memo: set.memo(),
            set,
            actions: file.rules.iter().map(|r| r.action.clone()).collect(),
            buckets: file
                .rules
                .iter()
                .map(|r| match r.action {
                    Action::RateLimit { rate, burst, key } => Some(Buckets {
                        rate,
                        burst: burst as f64,
                        key,
                        slots: vec![(0.0, i64::MIN); BUCKET_SLOTS],
                    }),
                    _ => None,
                })
                .collect(),
            hits: vec![false; file.rules.len()],
            hit_list: Vec::new(),
            keys: KeyFields {
                src: Field::lookup("ip.src").expect("a known field"),
                dst: Field::lookup("ip.dst").expect("a known field"),
            },
            logged: Vec::new(),
        }
    }

    /// How many rules it applies.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether it applies no rule.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Applies the rules to a packet captured at `ts` (nanoseconds; packets in capture order).
    pub fn apply<R: Record + ?Sized>(&mut self, ts: i64, p: &R) -> Verdict {
        self.apply_many(ts, p, 1)
    }

    /// Applies the rules to `n` packets alike arriving together at `ts` (a part of a flow
    /// record): a block drops all, a rate limit those beyond its tokens.
    pub fn apply_many<R: Record + ?Sized>(&mut self, ts: i64, p: &R, n: u64) -> Verdict {
        // Clear only what the last packet set: most packets match no rule.
        for &i in &self.hit_list {
            self.hits[i] = false;
        }
        self.hit_list.clear();
        self.logged.clear();
        let (hits, hit_list) = (&mut self.hits, &mut self.hit_list);
        self.set.for_each_match(p, &mut self.memo, |i| {
            hits[i] = true;
            hit_list.push(i);
        });
        // Matches come in rule order: the first deciding one wins.
        for &i in &self.hit_list {
            match &self.actions[i] {
                Action::Log => self.logged.push(i),
                Action::Allow => {
                    return Verdict {
                        decided: Some(i),
                        dropped: false,
                        dropped_count: 0,
                    }
                }
                Action::Block => {
                    return Verdict {
                        decided: Some(i),
                        dropped: true,
                        dropped_count: n,
                    }
                }
                Action::RateLimit { .. } => {
                    let keys = &self.keys;
                    let passed = self.buckets[i]
                        .as_mut()
                        .map_or(0, |b| b.take(ts, p, keys, n));
                    return Verdict {
                        decided: Some(i),
                        dropped: passed < n,
                        dropped_count: n - passed,
                    };
                }
            }
        }
        Verdict::default()
    }

    /// Which rules' expressions matched the last packet (each on its own).
    pub fn matched(&self) -> &[bool] {
        &self.hits
    }

    /// The rules whose expressions matched the last packet (each on its own), in order.
    pub fn hits(&self) -> &[usize] {
        &self.hit_list
    }

    /// The `log` rules the last packet passed through before a decision.
    pub fn logged(&self) -> &[usize] {
        &self.logged
    }
}
