//! `levee rules check|compile`, `levee simulate`, and the rules `levee analyze --rules-out`
//! writes.

use crate::cli::{RulesArgs, RulesCommand};
use crate::{bail_usage, emit, usage};
use std::path::Path;

use levee_analyze::simulate::Simulation;
use levee_analyze::Analysis;
use levee_rules::RulesFile;

use crate::input;
use crate::InputArgs;

/// Loads a rules file, printing every problem when it is refused.
pub fn load(path: &Path) -> anyhow::Result<RulesFile> {
    // A rules file that cannot be read is an unreadable input (exit 3), not a refused one.
    if let Err(e) = std::fs::File::open(path) {
        return Err(crate::Exit::no_input(format!("{}: {e}", path.display())));
    }
    RulesFile::load(path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs the rules over the captures, in capture order, beside an analysis of the same
/// packets so each rule's effect on each attack, and on everything else, is measured.
pub fn simulate(rules_path: &Path, input: &InputArgs) -> anyhow::Result<(Simulation, u8)> {
    let file = load(rules_path)?;
    let (input, _spool) = input::spool_stdin(input)?;
    let terminal = input::Terminal::new(&input, 1);
    let (analysis, sim, reading) = levee_engine::simulate::simulate(
        &input::inputs(&input),
        &file,
        rules_path.display().to_string(),
        levee_analyze::AnalyzeConfig::default(),
        &terminal,
    )
    .map_err(|e| terminal.error(e))?;
    crate::require_decoded(&analysis.capture)?;
    Ok((sim, input::exit_code(&reading)))
}

/// Applies the rules in one pass, without an analysis, on up to `threads` threads: per-rule
/// counts and totals only.
pub fn simulate_rules_only(
    rules_path: &Path,
    input: &InputArgs,
    threads: usize,
) -> anyhow::Result<(Simulation, u8)> {
    let file = load(rules_path)?;
    let terminal = input::Terminal::new(input, 1);
    let (sim, reading) = levee_engine::simulate::simulate_rules_only(
        &input::inputs(input),
        &file,
        rules_path.display().to_string(),
        threads,
        &terminal,
    )
    .map_err(|e| terminal.error(e))?;
    Ok((sim, input::exit_code(&reading)))
}

/// The rules file `analyze --rules-out` writes: one rule per attack, blocking its signature.
pub fn rules_text(analysis: &Analysis) -> String {
    let file = levee_analyze::simulate::recommended_rules(analysis);
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
    file.to_toml(&header)
}

/// `levee rules`: check, aggregate or compile a rules file.
pub fn run(a: RulesArgs) -> anyhow::Result<u8> {
    match a.command {
        RulesCommand::Check { file } => {
            let f = load(&file)?;
            emit(&format!(
                "{}: {} rule(s), {} list(s): ok\n",
                file.display(),
                f.rules.len(),
                f.list_files.len()
            ))?;
            Ok(0)
        }
        RulesCommand::Aggregate {
            file,
            allow,
            max_prefix,
            max_prefix_v6,
            force,
        } => {
            // Prefixes this wide block whole networks; a typo (`--max-prefix 0`) must not.
            for (flag, n, max, widest) in [
                ("--max-prefix", max_prefix, 32u8, 8u8),
                ("--max-prefix-v6", max_prefix_v6, 128, 32),
            ] {
                let Some(n) = n else { continue };
                if n > max {
                    bail_usage!("{flag} {n}: prefix lengths go from 0 to {max}");
                }
                if n < widest && !force {
                    bail_usage!(
                        "{flag} {n} would let one prefix cover more than a /{widest}; \
                         add --force if that is really meant"
                    );
                }
            }
            let widen = levee_rules::aggregate::Widening {
                max_v4: max_prefix,
                max_v6: max_prefix_v6,
            };
            let read = |p: &std::path::Path| -> anyhow::Result<Vec<levee_rules::aggregate::Net>> {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                levee_rules::Lists::parse_text(&p.display().to_string(), &text)
                    .map_err(|e| anyhow::anyhow!("{e}"))
            };
            let nets = read(&file)?;
            let allow = match &allow {
                Some(p) => read(p)?,
                None => Vec::new(),
            };
            // Prefixes in the input stand for their addresses: aggregate their first address
            // when they are single hosts, keep them whole otherwise.
            let (hosts, whole): (Vec<_>, Vec<_>) = nets
                .into_iter()
                .partition(|n| n.prefix_len() == n.max_prefix_len());
            let addrs: Vec<std::net::IpAddr> = hosts.iter().map(|n| n.addr()).collect();
            let a = levee_rules::aggregate::aggregate(&addrs, &allow, widen);
            let limit = |m: Option<u8>| m.map_or("exact".to_string(), |m| format!("up to /{m}"));
            let mut out = format!(
                "# {} address(es) of {} aggregated into {} prefix(es) (IPv4 {}, IPv6 {}), \
                 covering {} address(es) not in the input\n",
                addrs.len(),
                file.display(),
                a.prefixes.len() + whole.len(),
                limit(max_prefix),
                limit(max_prefix_v6),
                a.unseen_covered
            );
            for x in &a.allowed_inputs {
                out.push_str(&format!("# left out, allow-listed: {x}\n"));
            }
            for p in &a.prefixes {
                if p.unseen > 0 {
                    out.push_str(&format!(
                        "{}  # {} given, {} not given\n",
                        p.net, p.given, p.unseen
                    ));
                } else {
                    out.push_str(&format!("{}\n", p.net));
                }
            }
            for p in &whole {
                out.push_str(&format!("{p}  # given as a prefix\n"));
            }
            emit(&out)?;
            Ok(0)
        }
        RulesCommand::Compile {
            file,
            target,
            device,
            log_group,
            list,
        } => {
            let t = levee_rules::compile::Target::parse(&target).ok_or_else(|| {
                usage!(
                    "unknown target `{target}` (one of: {})",
                    levee_rules::compile::Target::NAMES.join(", ")
                )
            })?;
            let f = load(&file)?;
            let options = levee_rules::compile::Options {
                device: &device,
                log_group,
                list: list.as_deref(),
            };
            let text =
                levee_rules::compile::render_with(&f, t, &file.display().to_string(), &options)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            emit(&text)?;
            // Cloudflare's outputs are bare API bodies: how to send them goes to the terminal.
            if let Some(hint) = levee_rules::compile::cloudflare_hint(t, &f) {
                eprintln!("{hint}");
            }
            Ok(0)
        }
    }
}
