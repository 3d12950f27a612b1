//! `levee rules check|compile`, `levee simulate`, and the rules `levee analyze --rules-out`
//! writes.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use levee_analyze::Analysis;
use levee_rules::{Action, RateKey, Rule, RuleSet, RulesFile};
use serde::Serialize;

use crate::input::{self, DamageSink};
use crate::InputArgs;

/// Loads a rules file, printing every problem when it is refused.
pub fn load(path: &Path) -> anyhow::Result<RulesFile> {
    RulesFile::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The rules file for the attacks of an analysis: one `block` rule per attack, its signature.
pub fn rules_for(analysis: &Analysis) -> RulesFile {
    let names: Vec<&str> = analysis
        .capture
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    let rules = analysis
        .attacks
        .iter()
        .map(|a| {
            let targets: Vec<&str> = a
                .targets
                .iter()
                .filter_map(|t| t.ip.as_deref().or(t.prefix.as_deref()))
                .collect();
            let s = &a.signature;
            Rule {
                id: format!("{}-{}", a.vector, a.id),
                description: Some(format!(
                    "{} on {} from {}: matched {:.2}% of the attack and {:.4}% of other traffic \
                     ({} of {} packets) in {}",
                    a.vector,
                    targets.join(" "),
                    a.start,
                    s.coverage * 100.0,
                    s.collateral * 100.0,
                    s.matched_other_packets,
                    s.other_packets,
                    names.join(", ")
                )),
                text: s.expression.clone(),
                expression: levee_rules::parse_plain(&s.expression)
                    .expect("analyze prints expressions that parse"),
                action: Action::Block,
            }
        })
        .collect();
    RulesFile {
        rules,
        lists: levee_rules::Lists::new(),
        list_files: Default::default(),
    }
}

/// Per-rule results of a simulation.
#[derive(Debug, Serialize)]
pub struct RuleResult {
    pub id: String,
    pub action: String,
    pub expression: String,
    /// Packets and bytes the expression matches, on its own (as a filter would).
    pub matched: Counts,
    /// Packets and bytes this rule decided, rules applied in order, first match wins.
    pub decided: Counts,
    /// Of `decided`, the packets and bytes it dropped (all for block, over the limit for
    /// rate_limit, none for allow and log).
    pub dropped: Counts,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Counts {
    pub packets: u64,
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, bytes: u64) {
        self.packets += 1;
        self.bytes += bytes;
    }
}

#[derive(Debug, Serialize)]
pub struct Simulation {
    pub rules_file: String,
    pub files: Vec<levee_analyze::summary::FileInfo>,
    pub total: Counts,
    pub blocked: Counts,
    pub passed: Counts,
    pub rules: Vec<RuleResult>,
    pub notes: Vec<String>,
}

/// Token buckets of rate-limit rules, in capture time. Keys share a fixed table of buckets
/// (hashed), so memory stays bounded under millions of spoofed sources; two keys landing in
/// one bucket share its tokens.
struct Buckets {
    rate: f64,
    burst: f64,
    key: RateKey,
    /// (tokens, last time in ns) per slot.
    slots: Vec<(f64, i64)>,
}

const BUCKET_SLOTS: usize = 1 << 20;

impl Buckets {
    fn take(&mut self, ts: i64, p: &levee_decode::Packet<'_>) -> bool {
        let key = match (self.key, p.ip.as_ref()) {
            (RateKey::Global, _) | (_, None) => 0u64,
            (RateKey::Source, Some(ip)) => hash_ip(ip.src),
            (RateKey::Destination, Some(ip)) => hash_ip(ip.dst),
        };
        let slot = &mut self.slots[(key as usize) & (BUCKET_SLOTS - 1)];
        if slot.1 == i64::MIN {
            *slot = (self.burst, ts);
        }
        let elapsed = (ts - slot.1).max(0) as f64 / 1e9;
        slot.0 = (slot.0 + elapsed * self.rate).min(self.burst);
        slot.1 = slot.1.max(ts);
        if slot.0 >= 1.0 {
            slot.0 -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A fixed hash of an address, so a simulation gives the same result on every run.
fn hash_ip(ip: std::net::IpAddr) -> u64 {
    let bits = match ip {
        std::net::IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        std::net::IpAddr::V6(a) => u128::from(a),
    };
    levee_analyze::sketch::mix_u128(bits)
}

struct SimState {
    set: RuleSet,
    memo: levee_rules::Memo,
    results: Vec<RuleResult>,
    actions: Vec<Action>,
    buckets: HashMap<usize, Buckets>,
    total: Counts,
    blocked: Counts,
    hits: Vec<bool>,
}

impl DamageSink for SimState {}

/// Runs the rules over the captures.
pub fn simulate(rules_path: &Path, input: &InputArgs) -> anyhow::Result<(Simulation, u8)> {
    let file = load(rules_path)?;
    let exprs: Vec<_> = file.rules.iter().map(|r| r.expression.clone()).collect();
    let set = RuleSet::new(&exprs);
    let buckets = file
        .rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r.action {
            Action::RateLimit { rate, burst, key } => Some((
                i,
                Buckets {
                    rate,
                    burst: burst as f64,
                    key,
                    slots: vec![(0.0, i64::MIN); BUCKET_SLOTS],
                },
            )),
            _ => None,
        })
        .collect();
    let mut st = SimState {
        memo: set.memo(),
        hits: vec![false; file.rules.len()],
        set,
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
            })
            .collect(),
        actions: file.rules.iter().map(|r| r.action.clone()).collect(),
        buckets,
        total: Counts::default(),
        blocked: Counts::default(),
    };
    let outcome = input::for_each_packet(input, &mut st, |st, ts, p| {
        let bytes = u64::from(p.wire_len);
        st.total.add(bytes);
        st.hits.fill(false);
        let hits = &mut st.hits;
        st.set.for_each_match(p, &mut st.memo, |i| hits[i] = true);
        let mut decided = false;
        for i in 0..st.hits.len() {
            if !st.hits[i] {
                continue;
            }
            st.results[i].matched.add(bytes);
            if decided {
                continue;
            }
            match &st.actions[i] {
                Action::Log => st.results[i].decided.add(bytes),
                Action::Allow => {
                    st.results[i].decided.add(bytes);
                    decided = true;
                }
                Action::Block => {
                    st.results[i].decided.add(bytes);
                    st.results[i].dropped.add(bytes);
                    st.blocked.add(bytes);
                    decided = true;
                }
                Action::RateLimit { .. } => {
                    st.results[i].decided.add(bytes);
                    let pass = st.buckets.get_mut(&i).is_some_and(|b| b.take(ts, p));
                    if !pass {
                        st.results[i].dropped.add(bytes);
                        st.blocked.add(bytes);
                    }
                    decided = true;
                }
            }
        }
    })?;
    let mut notes = Vec::new();
    if !st.buckets.is_empty() {
        notes.push(format!(
            "rate limits are token buckets in capture time, {BUCKET_SLOTS} per rule, shared by \
             keys whose hashes collide"
        ));
    }
    let sim = Simulation {
        rules_file: rules_path.display().to_string(),
        files: outcome.files.clone(),
        passed: Counts {
            packets: st.total.packets - st.blocked.packets,
            bytes: st.total.bytes - st.blocked.bytes,
        },
        total: st.total,
        blocked: st.blocked,
        rules: st.results,
        notes,
    };
    Ok((sim, outcome.exit_code()))
}

pub fn simulation_text(s: &Simulation) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let share = |c: &Counts| {
        if s.total.packets == 0 {
            0.0
        } else {
            c.packets as f64 * 100.0 / s.total.packets as f64
        }
    };
    let _ = writeln!(
        o,
        "Rules {} over {} packets: {} blocked ({:.2}%), {} passed",
        s.rules_file,
        s.total.packets,
        s.blocked.packets,
        share(&s.blocked),
        s.passed.packets
    );
    let _ = writeln!(
        o,
        "{:<28} {:<10} {:>12} {:>12} {:>12}",
        "rule", "action", "matched", "decided", "dropped"
    );
    for r in &s.rules {
        let _ = writeln!(
            o,
            "{:<28} {:<10} {:>12} {:>12} {:>12}",
            r.id, r.action, r.matched.packets, r.decided.packets, r.dropped.packets
        );
    }
    for n in &s.notes {
        let _ = writeln!(o, "Note: {n}");
    }
    o
}

/// Writes the rules of an analysis to `path` (refusing to replace a file unless `force`).
pub fn write_rules(analysis: &Analysis, path: &Path, force: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let file = rules_for(analysis);
    let header = format!(
        "Rules written by `levee analyze` for the attacks it found in {}.\n\
         Each blocks one attack by its signature; coverage and collateral were measured on the\n\
         capture. Edit freely: `levee rules check` validates, `levee rules compile` writes them\n\
         for nftables, iptables, BPF or Cloudflare, `levee simulate` measures them.",
        analysis
            .capture
            .files
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut f = crate::create_file(path, force)?;
    f.write_all(file.to_toml(&header).as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
