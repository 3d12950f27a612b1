//! Rules applied to the packets of an analysis: what each rule matches, decides and drops, and
//! how much of each attack, and of the traffic that belongs to no attack, the rules together
//! stop (`levee simulate`, and the mitigation figures of `levee report`).
//!
//! The [`Simulator`] is fed every packet together with its membership in each finding
//! ([`crate::Plan::members`]): in the second pass of an analysis, or in a later pass that only
//! judges membership ([`crate::Plan::judge`]), when the rules come from the analysis itself.

use levee_decode::Packet;
use levee_rules::{Action, Rule, RulesFile};
use serde::Serialize;

use crate::report::{Analysis, Attack};
use crate::summary::FileInfo;

/// The rules file for the attacks of an analysis: one `block` rule per attack, its signature
/// (one rule for attacks with the same signature: the same attack again, days later).
pub fn recommended_rules(analysis: &Analysis) -> RulesFile {
    let names: Vec<&str> = analysis
        .capture
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    let mut rules: Vec<Rule> = Vec::new();
    for a in &analysis.attacks {
        if let Some(same) = rules.iter_mut().find(|r| r.text == a.signature.expression) {
            let mut also = format!(
                ". The same signature stops {} {} from {}: {:.2}% of it",
                a.vector,
                a.id,
                a.start,
                a.signature.coverage * 100.0
            );
            if let Some(why) = attack_block_refusal(a, analysis.settings.block_collateral) {
                also.push_str(&format!("; logged, not blocked: {why}"));
                same.action = Action::Log;
            }
            if let Some(d) = same.description.as_mut() {
                d.push_str(&also);
            }
            continue;
        }
        rules.push({
            let targets: Vec<&str> = a
                .targets
                .iter()
                .filter_map(|t| t.ip.as_deref().or(t.prefix.as_deref()))
                .collect();
            let s = &a.signature;
            let mut description = format!(
                "{} on {} from {}: matched {:.2}% of the attack and {:.4}% of other traffic \
                 ({} of {} packets) in {}; {} of the {} packets of levee's benign reference",
                a.vector,
                targets.join(" "),
                a.start,
                s.coverage * 100.0,
                s.collateral * 100.0,
                s.matched_other_packets,
                s.other_packets,
                names.join(", "),
                s.matched_reference_packets,
                s.reference_packets
            );
            if let Some(v) = &s.volatile {
                let (other, kind) = if v.recommended == "robust" {
                    (&v.pinned, "pinned to")
                } else {
                    (&v.robust, "without")
                };
                description.push_str(&format!(
                    ". The variant {kind} {} (`{}`) matched {:.2}% of the attack and {:.4}% of \
                     other traffic; this one is recommended: {}",
                    v.fields.join(", "),
                    other.expression,
                    other.coverage * 100.0,
                    other.collateral * 100.0,
                    v.why
                ));
            }
            let action = match attack_block_refusal(a, analysis.settings.block_collateral) {
                Some(why) => {
                    description.push_str(&format!(". Logged, not blocked: {why}"));
                    Action::Log
                }
                None => Action::Block,
            };
            Rule {
                id: format!("{}-{}", a.vector, a.id),
                description: Some(description),
                text: s.expression.clone(),
                expression: levee_rules::parse_plain(&s.expression)
                    .expect("analyze prints expressions that parse"),
                action,
            }
        });
    }
    RulesFile {
        rules,
        lists: levee_rules::Lists::new(),
        list_files: Default::default(),
    }
}

/// Most collateral, on the capture or on the benign reference, a generated rule may have and
/// still block by default: beyond it the rule is written to log, with the reason.
pub const BLOCK_COLLATERAL: f64 = 0.001;

/// Why an attack's signature must not block: it was found below the volume thresholds (see
/// [`Attack::low_rate`]), or its collateral is above `limit` (see [`block_refusal`]).
pub fn attack_block_refusal(a: &Attack, limit: f64) -> Option<String> {
    let mut why = Vec::new();
    if a.low_rate.is_some() {
        why.push(
            "the attack was found below the volume thresholds, on its evidence alone: give \
             --sampling-rate if the capture was sampled"
                .to_string(),
        );
    }
    why.extend(block_refusal(&a.signature, limit));
    (!why.is_empty()).then(|| why.join("; and "))
}

/// Why a signature must not block when a blocking rule may have at most `limit` collateral
/// (a share), or `None` when it may.
pub fn block_refusal(s: &crate::report::Signature, limit: f64) -> Option<String> {
    let mut why = Vec::new();
    if s.reference_collateral > limit {
        let classes: Vec<String> = s
            .reference_classes
            .iter()
            .map(|c| format!("{} ({})", c.class, c.packets))
            .collect();
        why.push(format!(
            "it also matches {} of the {} packets of traffic networks need ({})",
            s.matched_reference_packets,
            s.reference_packets,
            classes.join(", ")
        ));
    }
    if s.collateral > limit {
        why.push(format!(
            "it also matches {:.2}% of the capture's other traffic",
            s.collateral * 100.0
        ));
    }
    (!why.is_empty()).then(|| {
        format!(
            "{}, more than the {}% a generated blocking rule may",
            why.join(", and "),
            limit * 100.0
        )
    })
}

/// Per-rule results of a simulation.
#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    /// The rule's id.
    pub id: String,
    /// Its action (`block`, `allow`, `log`, `rate_limit`).
    pub action: String,
    /// Its expression, as the rules file reads once printed.
    pub expression: String,
    /// Packets and bytes the expression matches, on its own (as a filter would).
    pub matched: Counts,
    /// Packets and bytes this rule decided, rules applied in order, first match wins.
    pub decided: Counts,
    /// Of `decided`, the packets and bytes it dropped (all for block, over the limit for
    /// rate_limit, none for allow and log).
    pub dropped: Counts,
    /// What it dropped of each attack `levee analyze` finds in the same captures.
    pub attacks: Vec<AttackShare>,
    /// What it dropped of the packets that belong to no attack.
    pub other: Share,
}

/// Packets and their bytes on the wire.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    /// Packets.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
}

impl Counts {
    /// Counts `n` packets of `bytes` in all.
    pub fn add(&mut self, n: u64, bytes: u64) {
        self.packets += n;
        self.bytes += bytes;
    }

    fn add_counts(&mut self, other: Counts) {
        self.add(other.packets, other.bytes);
    }
}

/// Packets dropped of a whole, and the share they are of it.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Share {
    /// Packets dropped.
    pub dropped_packets: u64,
    /// Packets of the whole.
    pub of_packets: u64,
    /// `dropped_packets / of_packets`.
    pub share: f64,
}

impl Share {
    /// `dropped` of `of`, with their share.
    pub fn new(dropped: u64, of: u64) -> Share {
        Share {
            dropped_packets: dropped,
            of_packets: of,
            share: if of == 0 {
                0.0
            } else {
                dropped as f64 / of as f64
            },
        }
    }
}

/// What was stopped of one attack.
#[derive(Debug, Clone, Serialize)]
pub struct AttackShare {
    /// The attack's id in the analysis.
    pub attack: usize,
    /// Its vector.
    pub vector: String,
    /// Its packets dropped, of all its packets.
    #[serde(flatten)]
    pub stopped: Share,
}

/// A rules file applied to captures, beside the attacks found in them (`levee simulate`).
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    /// The rules file applied.
    pub rules_file: String,
    /// The captures it was applied to.
    pub files: Vec<FileInfo>,
    /// Every packet.
    pub total: Counts,
    /// Packets dropped.
    pub blocked: Counts,
    /// Packets passed.
    pub passed: Counts,
    /// Whether the captures were analysed for attacks (not with `--rules-only`): without,
    /// `attacks` is empty and `other` is all the traffic.
    pub attacks_analyzed: bool,
    /// Each attack found in the captures, and how much of it all the rules together stop.
    pub attacks: Vec<AttackShare>,
    /// How much of the traffic that belongs to no attack the rules stop.
    pub other: Share,
    /// Each rule's counts, in the file's order.
    pub rules: Vec<RuleResult>,
    /// What limits the figures (rate limits measured on a sample, say).
    pub notes: Vec<String>,
}

fn add_each(mine: &mut [u64], theirs: &[u64]) {
    for (m, t) in mine.iter_mut().zip(theirs) {
        *m += t;
    }
}

/// Rules applied in order to packets in capture order, first match wins, with the counts a
/// [`Simulation`] reports.
pub struct Simulator {
    engine: levee_rules::Engine,
    results: Vec<RuleResult>,
    total: Counts,
    blocked: Counts,
    /// Per rule and finding: packets dropped; per finding: dropped by any rule.
    dropped_by_rule: Vec<Vec<u64>>,
    dropped_any: Vec<u64>,
    other_total: u64,
    other_dropped_by_rule: Vec<u64>,
    other_dropped: u64,
    rate_limited: bool,
}

impl Simulator {
    /// A simulator of `file` over packets that may belong to `findings` findings.
    pub fn new(file: &RulesFile, findings: usize) -> Simulator {
        let n = file.rules.len();
        Simulator {
            engine: levee_rules::Engine::new(file),
            results: file
                .rules
                .iter()
                .map(|r| RuleResult {
                    id: r.id.clone(),
                    action: r.action.name().into(),
                    expression: r.expression.to_string(),
                    matched: Counts::default(),
                    decided: Counts::default(),
                    dropped: Counts::default(),
                    attacks: Vec::new(),
                    other: Share::default(),
                })
                .collect(),
            total: Counts::default(),
            blocked: Counts::default(),
            dropped_by_rule: vec![vec![0; findings]; n],
            dropped_any: vec![0; findings],
            other_total: 0,
            other_dropped_by_rule: vec![0; n],
            other_dropped: 0,
            rate_limited: file
                .rules
                .iter()
                .any(|r| matches!(r.action, Action::RateLimit { .. })),
        }
    }

    /// Applies the rules to one packet; `members[i]` says whether it belongs to finding `i`.
    pub fn add(&mut self, ts: i64, p: &Packet<'_>, members: &[bool]) {
        // A flow record's part stands for `n` packets alike (see `Packet::count`).
        let n = p.count;
        let bytes = u64::from(p.wire_len) * n;
        self.total.add(n, bytes);
        let v = self.engine.apply_many(ts, p, n);
        for &i in self.engine.hits() {
            self.results[i].matched.add(n, bytes);
        }
        for &i in self.engine.logged() {
            self.results[i].decided.add(n, bytes);
        }
        let in_attack = members.iter().any(|&m| m);
        if !in_attack {
            self.other_total += n;
        }
        if let Some(i) = v.decided {
            self.results[i].decided.add(n, bytes);
            let dropped = v.dropped_count;
            if dropped > 0 {
                let dropped_bytes = u64::from(p.wire_len) * dropped;
                self.results[i].dropped.add(dropped, dropped_bytes);
                self.blocked.add(dropped, dropped_bytes);
                for (f, &m) in members.iter().enumerate() {
                    if m {
                        self.dropped_by_rule[i][f] += dropped;
                        self.dropped_any[f] += dropped;
                    }
                }
                if !in_attack {
                    self.other_dropped_by_rule[i] += dropped;
                    self.other_dropped += dropped;
                }
            }
        }
    }

    /// Whether simulators of parts of the packets add up ([`Simulator::merge`]) to one of
    /// them all: not with rate limits, whose token buckets carry over from packet to packet.
    pub fn adds_up(&self) -> bool {
        !self.rate_limited
    }

    /// Adds the counts of `other`, a simulator of the same rules and findings over other
    /// packets. Only for simulators that [add up](Simulator::adds_up).
    pub fn merge(&mut self, other: &Simulator) {
        debug_assert!(self.adds_up() && self.results.len() == other.results.len());
        for (r, o) in self.results.iter_mut().zip(&other.results) {
            r.matched.add_counts(o.matched);
            r.decided.add_counts(o.decided);
            r.dropped.add_counts(o.dropped);
        }
        self.total.add_counts(other.total);
        self.blocked.add_counts(other.blocked);
        for (mine, theirs) in self.dropped_by_rule.iter_mut().zip(&other.dropped_by_rule) {
            add_each(mine, theirs);
        }
        add_each(&mut self.dropped_any, &other.dropped_any);
        self.other_total += other.other_total;
        add_each(
            &mut self.other_dropped_by_rule,
            &other.other_dropped_by_rule,
        );
        self.other_dropped += other.other_dropped;
    }

    /// The simulation's figures; `analysis` is the analysis of the same packets (its attacks
    /// are the findings the memberships referred to).
    pub fn finish(self, rules_file: String, analysis: &Analysis) -> Simulation {
        self.finish_with(
            rules_file,
            analysis.capture.files.clone(),
            Some(&analysis.attacks),
        )
    }

    /// The simulation's figures without an analysis: every packet counts as belonging to no
    /// attack (the simulator was given no memberships).
    pub fn finish_rules_only(self, rules_file: String, files: Vec<FileInfo>) -> Simulation {
        self.finish_with(rules_file, files, None)
    }

    fn finish_with(
        self,
        rules_file: String,
        files: Vec<FileInfo>,
        attacks: Option<&[Attack]>,
    ) -> Simulation {
        let Simulator {
            mut results,
            total,
            blocked,
            dropped_by_rule,
            dropped_any,
            other_total,
            other_dropped_by_rule,
            other_dropped,
            rate_limited,
            ..
        } = self;
        let share_of = |a: &Attack, dropped: u64| AttackShare {
            attack: a.id,
            vector: a.vector.clone(),
            stopped: Share::new(dropped, a.packets),
        };
        for (i, r) in results.iter_mut().enumerate() {
            r.attacks = attacks
                .unwrap_or_default()
                .iter()
                .map(|a| share_of(a, dropped_by_rule[i][a.finding]))
                .collect();
            r.other = Share::new(other_dropped_by_rule[i], other_total);
        }
        let mut notes = Vec::new();
        if rate_limited {
            notes.push(format!(
                "rate limits are token buckets in capture time, {} per rule, shared by keys whose \
                 hashes collide",
                levee_rules::engine::BUCKET_SLOTS
            ));
        }
        Simulation {
            rules_file,
            files,
            passed: Counts {
                packets: total.packets - blocked.packets,
                bytes: total.bytes - blocked.bytes,
            },
            total,
            blocked,
            attacks_analyzed: attacks.is_some(),
            attacks: attacks
                .unwrap_or_default()
                .iter()
                .map(|a| share_of(a, dropped_any[a.finding]))
                .collect(),
            other: Share::new(other_dropped, other_total),
            rules: results,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ReferenceClass, Signature};

    fn signature(collateral: f64, reference: u64) -> Signature {
        Signature {
            expression: "ip.dst == 10.10.10.10 and tcp.flags.reset".into(),
            coverage: 1.0,
            collateral,
            attack_packets: 1000,
            matched_attack_packets: 1000,
            other_packets: 1000,
            matched_other_packets: (collateral * 1000.0) as u64,
            reference_collateral: reference as f64 / 87.0,
            reference_packets: 87,
            matched_reference_packets: reference,
            volatile: None,
            reference_classes: (reference > 0)
                .then(|| ReferenceClass {
                    class: "outbound-web".into(),
                    packets: reference,
                })
                .into_iter()
                .collect(),
            alternatives: Vec::new(),
        }
    }

    #[test]
    fn a_rule_that_touches_needed_traffic_logs_and_says_why() {
        let limit = BLOCK_COLLATERAL;
        assert_eq!(block_refusal(&signature(0.0, 0), limit), None);
        assert_eq!(block_refusal(&signature(0.0009, 0), limit), None);
        let why = block_refusal(&signature(0.0, 6), limit).unwrap();
        assert!(
            why.contains("6 of the 87 packets of traffic networks need (outbound-web (6))"),
            "{why}"
        );
        // A looser limit lets it block.
        assert_eq!(block_refusal(&signature(0.0, 6), 0.1), None);
        let why = block_refusal(&signature(0.02, 0), limit).unwrap();
        assert!(
            why.contains("2.00% of the capture's other traffic"),
            "{why}"
        );
        assert!(
            why.ends_with("more than the 0.1% a generated blocking rule may"),
            "{why}"
        );
    }
}
