//! Rules applied to inputs: `levee simulate` (the rules beside an analysis of the same
//! packets, or alone) and the report's pass that measures the rules it recommends
//! ([`measure_rules`]). What each rule matches, decides and drops, of each attack and of the
//! rest, is counted by `levee_analyze::simulate`; this module runs the passes.

use levee_analyze::simulate::{Simulation, Simulator};
use levee_analyze::{Analysis, AnalyzeConfig, Analyzer, Plan};
use levee_rules::RulesFile;

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
/// totals only.
pub fn simulate_rules_only(
    inputs: &Inputs,
    rules: &RulesFile,
    name: String,
    observer: &dyn Observer,
) -> Result<(Simulation, Reading), ReadError> {
    let mut sim = RulesOnly(Simulator::new(rules, 0));
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
