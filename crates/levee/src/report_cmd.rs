//! `levee report`: three passes over the captures. The first two are the analysis (the second
//! also gathers the timeline, histograms and samples the report shows); the third applies the
//! rules (the recommended ones, or `--rules`) beside the analysis's attack membership, so the
//! report says how much of each attack, and of the good traffic, the rules stop.

use crate::cli::ReportArgs;
use std::path::PathBuf;

use levee_analyze::simulate::recommended_rules;
use levee_report::{Enricher, Inputs};
use levee_rules::RulesFile;

use crate::input;
use crate::InputArgs;

pub fn report(a: ReportArgs) -> anyhow::Result<u8> {
    let (config, threads) = a.detect.config()?;
    // Everything that can be refused is refused before the captures are read.
    let enricher = Enricher::open(a.geoip.as_deref(), a.asn.as_deref())?;
    let given = match &a.rules {
        Some(p) => Some((crate::rules_cmd::load(p)?, p.clone())),
        None => None,
    };
    let outputs = report_files(&a.out, &a.input.captures, a.force)?;
    let (mut input, spool) = input::spool_stdin(&a.input)?;
    input.flow_sampling = config.wire_one_in;
    if let Some(source) =
        crate::l7_cmd::Source::of(&input, spool.as_deref(), &a.log_format, a.http, "report")?
    {
        let (report, code) = crate::l7_cmd::report_logs(&source, given, &enricher)?;
        write(outputs, &report)?;
        return Ok(code);
    }
    let (report, code) = make_report(
        &input,
        spool.as_deref(),
        config,
        threads,
        given,
        &enricher,
        &a.device,
    )?;
    write(outputs, &report)?;
    Ok(code)
}

/// The report's three files in `dir` (created when missing), checked and begun before any
/// input is read.
pub(crate) fn report_files(
    dir: &std::path::Path,
    inputs: &[PathBuf],
    force: bool,
) -> anyhow::Result<crate::output::PendingFiles> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "--out {} is a file; it names the report's directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let paths = levee_report::FILES.map(|n| dir.join(n));
    crate::output::PendingFiles::create(&paths, inputs, force)
}

/// Writes the report's three files and tells where they are, with its headline.
fn write(
    outputs: crate::output::PendingFiles,
    report: &impl levee_report::Document,
) -> anyhow::Result<()> {
    let paths = outputs.write_all(&levee_report::render(report)?)?;
    crate::emit(&format!(
        "Report written: {}\n  also {} and {}\n  {}\n",
        paths[0].display(),
        paths[1].display(),
        paths[2].display(),
        report.headline()
    ))
}

/// Analyses the captures and measures the rules (`given`, else the recommended ones) on them.
/// `spool` is where standard input was copied, if it was (named `-` in the report).
pub fn make_report(
    input: &InputArgs,
    spool: Option<&std::path::Path>,
    config: levee_analyze::AnalyzeConfig,
    threads: usize,
    given: Option<(RulesFile, PathBuf)>,
    enricher: &Enricher,
    device: &str,
) -> anyhow::Result<(levee_report::model::Report, u8)> {
    let (plan, mut outcome) = crate::run_passes(input, config, threads, true, 3)?;
    input::name_spool(&mut outcome.files, spool);
    let analysis = plan.finish(outcome.files.clone(), outcome.damaged);
    crate::require_decoded(&analysis.capture)?;
    let details = plan
        .details()
        .expect("the second pass was asked to gather details");
    let recommended = recommended_rules(&analysis);
    let (applied, applied_name, applied_given) = match given {
        Some((f, p)) => (f, p.display().to_string(), true),
        None => (recommended.clone(), "recommended rules".to_string(), false),
    };
    let simulation = levee_engine::simulate::measure_rules(
        plan,
        &analysis,
        &input::inputs(input),
        &applied,
        applied_name,
        &input::Terminal::new(input, 3),
        3,
    );
    let report = levee_report::build(Inputs {
        analysis,
        details,
        recommended: &recommended,
        applied: &applied,
        applied_given,
        simulation,
        enricher,
        device,
    });
    Ok((report, crate::input::exit_code(&outcome)))
}
