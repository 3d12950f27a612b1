//! `levee rules check|compile`, `levee simulate`, and the rules `levee analyze --rules-out`
//! writes.

use std::path::Path;

use anyhow::Context;
use levee_analyze::Analysis;
use levee_rules::{Action, Rule, RulesFile};
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
    /// What it dropped of each attack `levee analyze` finds in the same captures.
    pub attacks: Vec<AttackShare>,
    /// What it dropped of the packets that belong to no attack.
    pub other: Share,
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

/// Packets dropped of a whole, and the share they are of it.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Share {
    pub dropped_packets: u64,
    pub of_packets: u64,
    pub share: f64,
}

impl Share {
    fn new(dropped: u64, of: u64) -> Share {
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

#[derive(Debug, Serialize)]
pub struct AttackShare {
    pub attack: usize,
    pub vector: String,
    #[serde(flatten)]
    pub stopped: Share,
}

#[derive(Debug, Serialize)]
pub struct Simulation {
    pub rules_file: String,
    pub files: Vec<levee_analyze::summary::FileInfo>,
    pub total: Counts,
    pub blocked: Counts,
    pub passed: Counts,
    /// Each attack found in the captures, and how much of it all the rules together stop.
    pub attacks: Vec<AttackShare>,
    /// How much of the traffic that belongs to no attack the rules stop.
    pub other: Share,
    pub rules: Vec<RuleResult>,
    pub notes: Vec<String>,
}

struct SimState {
    plan: levee_analyze::Plan,
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
}

impl DamageSink for SimState {}

/// Runs the rules over the captures, in capture order, beside an analysis of the same
/// packets so each rule's effect on each attack, and on everything else, is measured.
pub fn simulate(rules_path: &Path, input: &InputArgs) -> anyhow::Result<(Simulation, u8)> {
    let file = load(rules_path)?;
    let (input, _spool) = input::spool_stdin(input)?;
    let mut analyzer = levee_analyze::Analyzer::new(levee_analyze::AnalyzeConfig::default());
    let outcome = input::for_each_packet(&input, &mut analyzer, |an, ts, p| an.add(ts, p))?;
    let plan = analyzer.detect();
    let n = file.rules.len();
    let findings = plan.members().len();
    let mut st = SimState {
        plan,
        engine: levee_rules::Engine::new(&file),
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
    };
    let again = InputArgs {
        quiet: true,
        ..input.clone()
    };
    input::for_each_packet(&again, &mut st, |st, ts, p| {
        let bytes = u64::from(p.wire_len);
        st.total.add(bytes);
        st.plan.add(ts, p);
        let v = st.engine.apply(ts, p);
        for (i, hit) in st.engine.matched().iter().enumerate() {
            if *hit {
                st.results[i].matched.add(bytes);
            }
        }
        for &i in st.engine.logged() {
            st.results[i].decided.add(bytes);
        }
        let members = st.plan.members();
        let in_attack = members.iter().any(|&m| m);
        if !in_attack {
            st.other_total += 1;
        }
        if let Some(i) = v.decided {
            st.results[i].decided.add(bytes);
            if v.dropped {
                st.results[i].dropped.add(bytes);
                st.blocked.add(bytes);
                for (f, &m) in members.iter().enumerate() {
                    if m {
                        st.dropped_by_rule[i][f] += 1;
                        st.dropped_any[f] += 1;
                    }
                }
                if !in_attack {
                    st.other_dropped_by_rule[i] += 1;
                    st.other_dropped += 1;
                }
            }
        }
    })?;
    let SimState {
        plan,
        mut results,
        total,
        blocked,
        dropped_by_rule,
        dropped_any,
        other_total,
        other_dropped_by_rule,
        other_dropped,
        ..
    } = st;
    let analysis = plan.finish(outcome.files.clone(), outcome.damaged);
    let share_of = |a: &levee_analyze::report::Attack, dropped: u64| AttackShare {
        attack: a.id,
        vector: a.vector.clone(),
        stopped: Share::new(dropped, a.packets),
    };
    for (i, r) in results.iter_mut().enumerate() {
        r.attacks = analysis
            .attacks
            .iter()
            .map(|a| share_of(a, dropped_by_rule[i][a.finding]))
            .collect();
        r.other = Share::new(other_dropped_by_rule[i], other_total);
    }
    let mut notes = Vec::new();
    if file
        .rules
        .iter()
        .any(|r| matches!(r.action, levee_rules::Action::RateLimit { .. }))
    {
        notes.push(format!(
            "rate limits are token buckets in capture time, {} per rule, shared by keys whose \
             hashes collide",
            levee_rules::engine::BUCKET_SLOTS
        ));
    }
    let sim = Simulation {
        rules_file: rules_path.display().to_string(),
        files: outcome.files.clone(),
        passed: Counts {
            packets: total.packets - blocked.packets,
            bytes: total.bytes - blocked.bytes,
        },
        total,
        blocked,
        attacks: analysis
            .attacks
            .iter()
            .map(|a| share_of(a, dropped_any[a.finding]))
            .collect(),
        other: Share::new(other_dropped, other_total),
        rules: results,
        notes,
    };
    Ok((sim, outcome.exit_code()))
}

pub fn simulation_text(s: &Simulation) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let pct = |x: f64| x * 100.0;
    let _ = writeln!(
        o,
        "Rules {} over {} packets: {} blocked ({:.2}%), {} passed",
        s.rules_file,
        s.total.packets,
        s.blocked.packets,
        pct(s.blocked.packets as f64 / s.total.packets.max(1) as f64),
        s.passed.packets
    );
    for a in &s.attacks {
        let _ = writeln!(
            o,
            "  attack {} {:<24} {:>9} of {:>9} packets stopped ({:.2}%)",
            a.attack,
            a.vector,
            a.stopped.dropped_packets,
            a.stopped.of_packets,
            pct(a.stopped.share)
        );
    }
    let _ = writeln!(
        o,
        "  not in any attack            {:>9} of {:>9} packets stopped ({:.3}%)",
        s.other.dropped_packets,
        s.other.of_packets,
        pct(s.other.share)
    );
    let _ = writeln!(
        o,
        "\n{:<28} {:<10} {:>10} {:>10} {:>10} {:>14}",
        "rule", "action", "matched", "decided", "dropped", "of non-attack"
    );
    for r in &s.rules {
        let _ = writeln!(
            o,
            "{:<28} {:<10} {:>10} {:>10} {:>10} {:>13.3}%",
            r.id,
            r.action,
            r.matched.packets,
            r.decided.packets,
            r.dropped.packets,
            pct(r.other.share)
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
