//! Rules applied to inputs: `levee simulate` (the rules beside an analysis of the same
//! packets, or alone) and the report's pass that measures the rules it recommends
//! ([`measure_rules`]). What each rule matches, decides and drops, of each attack and of the
//! rest, is counted by `levee_analyze::simulate`; this module runs the passes.

use levee_analyze::simulate::{Simulation, Simulator};
use levee_analyze::{Analysis, AnalyzeConfig, Analyzer, Plan};
use levee_rules::RulesFile;

use levee_capture::Frame;

use crate::parts::{Part, PartWork, PartsRead};
use crate::read::{self, DamageSink, Inputs, Observer, ReadError, Reading};

/// A pass of the analysis's attack membership with the rules beside it.
struct RulesPass {
    plan: Plan,
    sim: Simulator,
}

impl DamageSink for RulesPass {}

/// The rules alone.
struct RulesOnly(Simulator);

impl DamageSink for RulesOnly {}

/// A part of a file read on its own thread: its packets decoded and the rules applied.
impl PartWork for RulesOnly {
    /// Rules learn nothing from the packets around a part (and none are read: see
    /// [`crate::parts::split`]'s `look_around`).
    fn teach(&mut self, _: &Frame<'_>) {}

    fn add(&mut self, f: &Frame<'_>) {
        let sim = &mut self.0;
        levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            sim.add(f.ts_nanos, p, &[])
        });
    }
}

/// The rules run over the inputs beside an analysis of the same packets, both passes on the
/// calling thread: each rule's effect on each attack, and on everything else. `name` names the
/// rules file in the simulation.
pub fn simulate(
    inputs: &Inputs,
    rules: &RulesFile,
    name: String,
    config: AnalyzeConfig,
    observer: &dyn Observer,
) -> Result<(Analysis, Simulation, Reading), ReadError> {
    let mut analyzer = Analyzer::new(inputs.analysis_config(config));
    let reading =
        read::for_each_packet(inputs, observer, &mut analyzer, |an, ts, p| an.add(ts, p))?;
    let plan = Plan::from_first_pass(analyzer);
    let sim = Simulator::new(rules, plan.members().len());
    let mut pass = RulesPass { plan, sim };
    read::again(inputs, observer, 2, &mut pass, |st, ts, p| {
        st.plan.add(ts, p);
        st.sim.add(ts, p, st.plan.members());
    });
    let analysis = pass.plan.finish(reading.files.clone(), reading.damaged);
    let simulation = pass.sim.finish(name, &analysis);
    Ok((analysis, simulation, reading))
}

/// The rules run over the inputs in one pass, without an analysis: per-rule counts and
/// totals, no share per attack.
///
/// One plain capture file is read in parts on up to `threads` threads,
/// each with its own simulator, and their counts added: the same figures as one thread's,
/// since each packet's verdict depends on that packet alone. Rate limits are the exception
/// (their buckets carry over from packet to packet), so rules with one are applied on one
/// thread in capture order.
pub fn simulate_rules_only(
    inputs: &Inputs,
    rules: &RulesFile,
    name: String,
    threads: usize,
    observer: &dyn Observer,
) -> Result<(Simulation, Reading), ReadError> {
    let sim = Simulator::new(rules, 0);
    if threads > 1 && sim.adds_up() && !inputs.has_flow_exports() {
        if let Some((file, parts)) = crate::parts::split(inputs, threads, false) {
            let make = |_: &Part| RulesOnly(Simulator::new(rules, 0));
            if let Some(PartsRead { works, reading }) =
                crate::parts::read_parts(inputs, observer, &file, &parts, make)?
            {
                let mut parts = works.into_iter().map(|w| w.0);
                let mut sim = parts.next().expect("the first part is always read");
                for other in parts {
                    sim.merge(&other);
                }
                let simulation = sim.finish_rules_only(name, reading.files.clone());
                return Ok((simulation, reading));
            }
        }
    }
    let mut sim = RulesOnly(sim);
    let reading = read::for_each_packet(inputs, observer, &mut sim, |sim, ts, p| {
        sim.0.add(ts, p, &[])
    })?;
    let simulation = sim.0.finish_rules_only(name, reading.files.clone());
    Ok((simulation, reading))
}

/// Pass `pass` over the inputs after an analysis (`plan`, finished as `analysis`): each
/// packet's attack membership judged again, and the rules applied beside it, so the report
/// says how much of each attack, and of the good traffic, they stop.
pub fn measure_rules(
    plan: Plan,
    analysis: &Analysis,
    inputs: &Inputs,
    rules: &RulesFile,
    name: String,
    observer: &dyn Observer,
    pass: u8,
) -> Simulation {
    let sim = Simulator::new(rules, plan.members().len());
    let mut state = RulesPass { plan, sim };
    read::again(inputs, observer, pass, &mut state, |st, ts, p| {
        st.plan.judge(ts, p);
        st.sim.add(ts, p, st.plan.members());
    });
    state.sim.finish(name, analysis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::Silent;

    /// A capture of the `multi` scenario (reflections with large answers beside a SYN flood),
    /// about 12 MB: enough for parts of a mebibyte.
    fn multi_capture(dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("multi.pcap");
        let cfg = levee_synth::SynthConfig {
            scenario: levee_synth::Scenario::parse("multi").unwrap(),
            packets: 20_000,
            ..Default::default()
        };
        let file = std::fs::File::create(&path).unwrap();
        levee_synth::generate(&cfg, file, std::io::sink()).unwrap();
        path
    }

    fn rules(text: &str) -> RulesFile {
        RulesFile::parse("test.toml", text, None).unwrap()
    }

    const RULES: &str = r#"
[[rule]]
id = "dns-answers"
expression = "udp.srcport == 53 and len(udp.payload) > 400"
action = "block"
[[rule]]
id = "watch-ntp"
expression = "udp.srcport == 123"
action = "log"
[[rule]]
id = "ntp-monlist"
expression = "udp.srcport == 123 and udp.payload[3:1] == 0x2a"
action = "block"
[[rule]]
id = "syn"
expression = "tcp.flags == 0x02 and ip.ttl > 60"
action = "block"
[[rule]]
id = "let-web-through"
expression = "tcp.srcport == 443"
action = "allow"
[[rule]]
id = "rest-of-syns"
expression = "tcp.flags.syn == 1"
action = "block"
"#;

    fn run(inputs: &Inputs, rules: &RulesFile, threads: usize) -> String {
        let (sim, reading) =
            simulate_rules_only(inputs, rules, "r".into(), threads, &Silent).unwrap();
        assert_eq!((reading.unreadable, reading.damaged), (0, 0));
        serde_json::to_string_pretty(&sim).unwrap()
    }

    /// Read in parts, a thread each, the counts are one thread's to the packet and byte.
    #[test]
    fn rules_read_in_parts_count_what_one_thread_counts() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = Inputs::new(vec![multi_capture(dir.path())]);
        let (_, parts) = crate::parts::split(&inputs, 4, false).expect("a 12 MB capture splits");
        assert_eq!(parts.len(), 4);
        let rules = rules(RULES);
        let one = run(&inputs, &rules, 1);
        let sim: serde_json::Value = serde_json::from_str(&one).unwrap();
        // Every rule has something to count, or the comparison would prove little.
        for r in sim["rules"].as_array().unwrap() {
            assert!(r["decided"]["packets"].as_u64().unwrap() > 0, "{r}");
        }
        assert_eq!(sim["total"]["packets"], 20_000);
        for threads in [2, 3, 4] {
            assert_eq!(run(&inputs, &rules, threads), one, "{threads} threads");
        }
    }

    /// A rate limit's buckets carry over from packet to packet: its rules are applied on one
    /// thread, in capture order, whatever the thread count.
    #[test]
    fn rules_with_a_rate_limit_are_applied_in_capture_order() {
        let dir = tempfile::tempdir().unwrap();
        let inputs = Inputs::new(vec![multi_capture(dir.path())]);
        let text = format!(
            "{RULES}\n[[rule]]\nid = \"limit\"\nexpression = \"ip.proto == 17\"\n\
             action = \"rate_limit\"\nrate = 50\nburst = 10\nkey = \"none\"\n"
        );
        let rules = rules(&text);
        assert!(!Simulator::new(&rules, 0).adds_up());
        let one = run(&inputs, &rules, 1);
        assert_eq!(run(&inputs, &rules, 4), one);
        let sim: serde_json::Value = serde_json::from_str(&one).unwrap();
        let limit = sim["rules"].as_array().unwrap().last().unwrap().clone();
        assert!(limit["dropped"]["packets"].as_u64().unwrap() > 0, "{limit}");
    }
}
