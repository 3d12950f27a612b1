//! The `levee` command line: arguments ([`cli`]) and a module per command that hands them to
//! the library crates (the engine, `levee-engine`, runs every capture analysis) and prints
//! what they give.
//!
//! Exit codes: [`EXIT_CODES`] is the one table, printed by `levee --help`, every subcommand's
//! help and the README.

// Doc comments here are clap's help text (`apache:'<LogFormat>'`), not HTML.
#![allow(rustdoc::invalid_html_tags)]

mod analyze_cmd;
mod clean_cmd;
mod cli;
mod collect_cmd;
mod exit;
mod hunt_cmd;
mod input;
mod l7_cmd;
mod logs_cmd;
mod monitor_cmd;
mod output;
mod report_cmd;
mod requests_cmd;
mod rules_cmd;
mod summary_cmd;
mod synth_cmd;
mod watch_cmd;

use std::process::ExitCode;

pub use analyze_cmd::{require_decoded, run_passes};
pub use cli::InputArgs;
pub use exit::*;

use cli::Command;

fn main() -> ExitCode {
    let cli = match cli::parse_command_line() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let result = match cli.command {
        Command::Analyze(a) => analyze_cmd::analyze(a),
        Command::Rules(a) => rules_cmd::run(a),
        Command::Simulate(a) => analyze_cmd::simulate(a),
        Command::Summary(a) => summary_cmd::summary(a),
        Command::Fields(a) => summary_cmd::fields(a),
        Command::Synth(a) => synth_cmd::synth(a),
        Command::Report(a) => report_cmd::report(a),
        Command::Demo(a) => synth_cmd::demo(a),
        Command::Logs(a) => logs_cmd::run(a),
        Command::Requests(a) => requests_cmd::run(a),
        Command::Collect(a) => collect_cmd::collect(a),
        Command::Monitor(a) => monitor_cmd::monitor(a),
        Command::Incidents(a) => monitor_cmd::incidents(a),
        Command::Hunt(a) => hunt_cmd::run(a),
        Command::Clean(a) => clean_cmd::run(a),
        Command::Watch(a) => watch_cmd::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("levee: error: {}", error_text(&e));
            ExitCode::from(e.downcast_ref::<Exit>().map_or(EXIT_FAILURE, |x| x.code))
        }
    }
}

/// An error and its causes on one line, each cause said once: many errors already name their
/// cause in their own text, and printing the chain whole repeated it (an OS error three times).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let t = cause.to_string();
        if !text.contains(&t) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&t);
        }
    }
    text
}

/// Writes to standard output. A reader that went away (`levee ... | head`) ends the output
/// quietly instead of being an error.
pub(crate) fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
