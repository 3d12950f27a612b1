//! Both passes of an analysis over inputs that can be read twice: on one thread, or on many
//! (`parts` for a sampling analysis of one plain file, `dealt` for the rest).

use levee_analyze::{AnalyzeConfig, Analyzer, Plan};

use crate::read::{self, Inputs, Observer, ReadError, Reading};
use crate::stream::{Stream, StreamConfig};

/// How an analysis reads its inputs.
#[derive(Debug, Clone, Copy)]
pub struct Passes {
    /// Threads to analyse on (1: the calling thread alone).
    pub threads: usize,
    /// The second pass also gathers what a report shows beyond the analysis (timeline,
    /// histograms, sample packets), counting every packet even when the analysis samples.
    pub details: bool,
}

impl Default for Passes {
    fn default() -> Passes {
        Passes {
            threads: 1,
            details: false,
        }
    }
}

/// Both passes of an analysis. Returns the plan, to be finished into the analysis (and to
/// judge the packets of a later pass), and what the first reading gave. Progress is told to
/// `observer` as pass 1 and pass 2.
pub fn analyze(
    inputs: &Inputs,
    config: AnalyzeConfig,
    passes: Passes,
    observer: &dyn Observer,
) -> Result<(Plan, Reading), ReadError> {
    let mut config = inputs.analysis_config(config);
    let mut passes = passes;
    if config.from_flows {
        // Flow records are read from the start by one thread: their parts are ordered in
        // time across the whole of the exports.
        passes.threads = 1;
    }
    if passes.details {
        // What a report shows beyond the analysis counts every packet.
        config.sample_budget = None;
    }
    if passes.threads > 1 {
        return crate::dealt::run(inputs, config, passes.threads, passes.details, observer);
    }
    if config.sample_budget.is_some() {
        // Sampling: one reading, a stream without events; the second pass measures the frames
        // kept in memory.
        let mut stream = Stream::new(StreamConfig {
            events: false,
            ..StreamConfig::new(config)
        });
        if let Some(bytes) = inputs.plain_size() {
            stream.expect_input_bytes(bytes);
        }
        let reading = read::for_each_frame(inputs, observer, &mut (), |(), f| {
            stream.feed(f.ts_nanos, f.linktype, f.data, f.orig_len)
        })?;
        return Ok((stream.into_plan(), reading));
    }
    let mut analyzer = Analyzer::new(config);
    let reading =
        read::for_each_packet(inputs, observer, &mut analyzer, |an, ts, p| an.add(ts, p))?;
    let mut plan = Plan::from_first_pass(analyzer);
    if passes.details {
        plan.collect_details();
    }
    if plan.needs_second_pass() || passes.details {
        read::again(inputs, observer, 2, &mut plan, |pl, ts, p| pl.add(ts, p));
    }
    Ok((plan, reading))
}
