//! `levee logs`: reads access logs and says what levee makes of them: the format it detected,
//! how many lines are requests and which lines are not (with their numbers and what is
//! wrong), the time span, methods, status classes and the busiest clients. The first thing to
//! run on a log someone hands over, before analysing it.

use std::path::PathBuf;

use levee_engine::logs::{for_each_request, LogObserver, LogsRead, LogsSummaryBuilder, Malformed};
use levee_logs::{FormatSpec, LogError};

use crate::cli::LogsArgs;
use crate::{EXIT_DAMAGED_RECORDS, EXIT_UNREADABLE_INPUT};

/// What reading logs tells, on standard error; the spooled copy of standard input named `-`.
pub struct LogTerminal {
    /// Where standard input was copied, if it was.
    pub spool: Option<PathBuf>,
}

impl LogTerminal {
    /// Standard input, or its spooled copy, named as the user knows it.
    fn shown(&self, name: &str) -> String {
        if name == "-" || self.spool.as_deref() == Some(std::path::Path::new(name)) {
            "standard input (-)".into()
        } else {
            name.to_string()
        }
    }
}

impl LogObserver for LogTerminal {
    fn cannot_read(&self, error: &LogError) {
        eprintln!("levee: {error}");
    }

    fn malformed(&self, file: &str, m: &Malformed) {
        eprintln!("levee: {}: line {}: {}", self.shown(file), m.line, m.error);
    }

    fn more_malformed(&self, file: &str, count: u64) {
        eprintln!(
            "levee: {}: {count} more malformed lines not shown",
            self.shown(file)
        );
    }

    fn no_requests(&self, file: &str, why: &str) {
        eprintln!("levee: {file}: {why}");
    }
}

/// The exit code a reading of logs leaves: unreadable inputs before damaged ones.
pub fn exit_code(read: &LogsRead) -> u8 {
    if read.unreadable {
        EXIT_UNREADABLE_INPUT
    } else if read.damaged {
        EXIT_DAMAGED_RECORDS
    } else {
        0
    }
}

/// No log gave a request: an unreadable input (exit 3).
pub fn no_requests(e: levee_engine::logs::NoRequests) -> anyhow::Error {
    crate::Exit::no_input(e.to_string())
}

pub fn run(a: LogsArgs) -> anyhow::Result<u8> {
    let spec = FormatSpec::parse(&a.log_format).map_err(|e| crate::usage!("--log-format: {e}"))?;
    let terminal = LogTerminal { spool: None };
    let mut summary = LogsSummaryBuilder::default();
    let mut read = for_each_request(&a.logs, &spec, a.show_malformed, &terminal, |q| {
        summary.add(q)
    });
    read.require_requests("requests", &terminal)
        .map_err(no_requests)?;
    let code = exit_code(&read);
    let summary = summary.finish(read.files, a.top);
    if a.json {
        crate::emit(&(serde_json::to_string_pretty(&summary)? + "\n"))?;
    } else {
        crate::emit(&levee_report::logs_text::summary(&summary))?;
    }
    Ok(code)
}
