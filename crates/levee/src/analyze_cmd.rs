//! `levee analyze` and `levee simulate` on captures: the engine's passes, the input rules, and
//! the output.

use crate::cli::{AnalyzeArgs, SimulateArgs};
use crate::{bail_usage, emit, input, l7_cmd, output, rules_cmd, InputArgs};

pub fn analyze(a: AnalyzeArgs) -> anyhow::Result<u8> {
    let (mut config, threads) = a.detect.config()?;
    // The rules file is checked (and its temporary file made) before any input is read.
    let rules_out = match &a.rules_out {
        Some(p) => Some(output::PendingFile::create(p, &a.input.captures, a.force)?),
        None => None,
    };
    // The database is opened (and refused if it is not one) before any input is read.
    let asns = match &a.asn {
        Some(p) => Some(levee_report::Enricher::open(None, Some(p))?),
        None => None,
    };
    let (mut input, spool) = input::spool_stdin(&a.input)?;
    input.flow_sampling = config.wire_one_in;
    if let Some(source) =
        l7_cmd::Source::of(&input, spool.as_deref(), &a.log_format, a.http, "analyze")?
    {
        let config = levee_l7::L7Config::default();
        return l7_cmd::analyze_logs(&source, config, threads, asns.as_ref(), a.json, rules_out);
    }
    if asns.is_some() {
        bail_usage!("--asn checks crawler claims in access logs and with --http; a capture's sources get theirs from `levee report --asn`");
    }
    if !a.exact {
        config.sample_budget = Some((a.sample_mib as usize) << 20);
    }
    let (analysis, code) = run_analysis(&input, spool.as_deref(), config, threads)?;
    if let Some(out) = rules_out {
        use std::io::Write;
        out.file()
            .write_all(rules_cmd::rules_text(&analysis).as_bytes())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.path().display()))?;
        let path = out.commit()?;
        eprintln!(
            "levee: wrote {} rule(s) to {}",
            analysis.attacks.len(),
            path.display()
        );
    }
    if a.json {
        emit(&(serde_json::to_string_pretty(&analysis)? + "\n"))?;
    } else {
        emit(&levee_report::text::analysis(&analysis))?;
    }
    Ok(code)
}

pub fn simulate(a: SimulateArgs) -> anyhow::Result<u8> {
    let (input, spool) = input::spool_stdin(&a.input)?;
    if let Some(source) =
        l7_cmd::Source::of(&input, spool.as_deref(), &a.log_format, a.http, "simulate")?
    {
        if a.rules_only {
            bail_usage!("--rules-only is for the packets of captures");
        }
        return l7_cmd::simulate_logs(&a.rules, &source, a.json);
    }
    let (sim, code) = if a.rules_only {
        let threads = match a.threads {
            None | Some(0) => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(n) => n.min(64),
        };
        rules_cmd::simulate_rules_only(&a.rules, &input, threads)?
    } else {
        if a.threads.is_some() {
            bail_usage!(
                "--threads is for --rules-only (simulate beside an analysis reads on one thread)"
            );
        }
        rules_cmd::simulate(&a.rules, &input)?
    };
    if a.json {
        emit(&(serde_json::to_string_pretty(&sim)? + "\n"))?;
    } else {
        emit(&levee_report::text::simulation(&sim))?;
    }
    Ok(code)
}

/// Both passes of an analysis, over inputs whose standard input was spooled to `spool` (see
/// [`input::spool_stdin`]), since the second pass reads the packets again.
pub fn run_analysis(
    input: &InputArgs,
    spool: Option<&std::path::Path>,
    config: levee_analyze::AnalyzeConfig,
    threads: usize,
) -> anyhow::Result<(levee_analyze::Analysis, u8)> {
    let (plan, mut reading) = run_passes(input, config, threads, false, 2)?;
    input::name_spool(&mut reading.files, spool);
    let analysis = plan.finish(reading.files.clone(), reading.damaged);
    require_decoded(&analysis.capture)?;
    Ok((analysis, input::exit_code(&reading)))
}

/// The input rule for analyses: packets none of which decode (not IP, or cut before their
/// transport header) are an input error, not "no attack".
pub fn require_decoded(c: &levee_analyze::report::CaptureInfo) -> anyhow::Result<()> {
    if c.packets > 0 && c.undecoded_packets == c.packets {
        let names: Vec<&str> = c.files.iter().map(|f| f.name.as_str()).collect();
        return Err(crate::Exit::no_input(format!(
            "none of the {} packets of {} holds an IP packet with a whole transport header that levee decodes (see `levee summary` for their link types and what stopped decoding)",
            c.packets,
            names.join(", ")
        )));
    }
    Ok(())
}

/// Both passes of an analysis by the engine ([`levee_engine::analyze`]), over inputs that can
/// be read twice, progress and damage shown as pass 1 and 2 of `passes`.
pub fn run_passes(
    input: &InputArgs,
    config: levee_analyze::AnalyzeConfig,
    threads: usize,
    details: bool,
    passes: u8,
) -> anyhow::Result<(levee_analyze::Plan, input::Reading)> {
    let terminal = input::Terminal::new(input, passes);
    levee_engine::analyze(
        &input::inputs(input),
        config,
        levee_engine::Passes { threads, details },
        &terminal,
    )
    .map_err(|e| terminal.error(e))
}
