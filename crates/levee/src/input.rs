//! The user's captures as the engine reads them ([`levee_engine::read`]), with what the
//! reading tells printed on standard error ([`Terminal`]): a progress bar, inputs that cannot
//! be read, damaged records. Standard input is spooled to a file for commands that read twice.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use levee_decode::Packet;

use levee_analyze::summary::FileInfo;

use crate::{InputArgs, EXIT_DAMAGED_RECORDS, EXIT_UNREADABLE_INPUT};

/// Inputs larger than this get a progress bar (when standard error is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// What the reading of the inputs gave (from the engine).
pub use levee_engine::{DamageSink, Reading};

/// The exit code a reading leaves: unreadable inputs before damaged records before success.
pub fn exit_code(reading: &Reading) -> u8 {
    if reading.unreadable > 0 {
        EXIT_UNREADABLE_INPUT
    } else if reading.damaged > 0 {
        EXIT_DAMAGED_RECORDS
    } else {
        0
    }
}

/// The engine's inputs for the command line's.
pub fn inputs(args: &InputArgs) -> levee_engine::Inputs {
    let mut inputs = levee_engine::Inputs::new(args.captures.clone());
    inputs.flow_sampling = args.flow_sampling.clamp(1, u64::from(u32::MAX)) as u32;
    inputs
}

/// What the reading tells, on standard error: inputs that cannot be opened or are empty,
/// the first `--max-errors` damaged records and how many more there were, and a progress bar
/// for large inputs when standard error is a terminal, named for its pass when the command
/// reads its inputs more than once.
pub struct Terminal<'a> {
    args: &'a InputArgs,
    passes: u8,
    bar: Mutex<Option<ProgressBar>>,
}

impl<'a> Terminal<'a> {
    /// For a command that reads its inputs `passes` times.
    pub fn new(args: &'a InputArgs, passes: u8) -> Terminal<'a> {
        Terminal {
            args,
            passes,
            bar: Mutex::new(None),
        }
    }

    /// A reading error as the command line reports it: no packet at all is an unreadable
    /// input (exit 3).
    pub fn error(&self, e: levee_engine::ReadError) -> anyhow::Error {
        match e {
            levee_engine::ReadError::NoPackets { inputs } => {
                let names: Vec<String> = inputs.iter().map(|n| shown_name(self.args, n)).collect();
                crate::Exit::no_input(format!(
                    "no packet could be read from {}",
                    levee_engine::read::named(&names)
                ))
            }
            e @ levee_engine::ReadError::Mixed { .. } => {
                crate::Exit::usage(shown_message(self.args, &e.to_string()))
            }
            e => anyhow::anyhow!(shown_message(self.args, &e.to_string())),
        }
    }

    fn bar(&self) -> std::sync::MutexGuard<'_, Option<ProgressBar>> {
        self.bar.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl levee_engine::Observer for Terminal<'_> {
    fn cannot_open(&self, error: &levee_capture::OpenError) {
        eprintln!("levee: {}", shown_message(self.args, &error.to_string()));
    }

    fn empty(&self, name: &str) {
        eprintln!(
            "levee: {}: no packet in the file",
            shown_name(self.args, name)
        );
    }

    fn damage_shown(&self) -> usize {
        self.args.max_errors
    }

    fn damaged(&self, error: &levee_capture::RecordError) {
        eprintln!("levee: {}", shown_message(self.args, &error.to_string()));
    }

    fn bad_export(&self, error: &levee_engine::flows::BadExport) {
        eprintln!("levee: {}", shown_message(self.args, &error.to_string()));
    }

    fn more_damaged(&self, count: u64) {
        eprintln!("levee: {count} more damaged records not shown (--max-errors)");
    }

    fn reading(&self, pass: u8, total_bytes: u64) {
        let stage = if self.passes > 1 {
            format!("pass {pass}/{} ", self.passes)
        } else {
            String::new()
        };
        *self.bar() = progress_bar(self.args, total_bytes, stage);
    }

    fn advanced(&self, bytes: u64) {
        if let Some(bar) = self.bar().as_ref() {
            bar.inc(bytes);
        }
    }

    fn done_reading(&self) {
        if let Some(bar) = self.bar().take() {
            bar.finish_and_clear();
        }
    }
}

/// Copies standard input (`-`) to a temporary file, for commands that read their inputs twice.
/// Returns the inputs with `-` replaced, and the file (deleted when dropped). Empty standard
/// input is an input error.
pub fn spool_stdin(args: &InputArgs) -> anyhow::Result<(InputArgs, Option<tempfile::TempPath>)> {
    use anyhow::Context;
    if !args.captures.iter().any(|p| p.as_os_str() == "-") {
        return Ok((args.clone(), None));
    }
    let mut file = tempfile::Builder::new()
        .prefix("levee-stdin-")
        .tempfile()
        .context("cannot create a temporary file to hold standard input")?;
    let copied = std::io::copy(&mut std::io::stdin().lock(), &mut file)
        .context("cannot read standard input")?;
    if copied == 0 {
        return Err(crate::Exit::no_input("standard input (-) is empty".into()));
    }
    let path = file.into_temp_path();
    let mut spooled = args.clone();
    for p in spooled.captures.iter_mut() {
        if p.as_os_str() == "-" {
            *p = path.to_path_buf();
        }
    }
    spooled.spool = Some(path.to_path_buf());
    Ok((spooled, Some(path)))
}

/// A file's name as the user gave it: the spooled copy of standard input is `-`.
pub fn shown_name(args: &InputArgs, name: &str) -> String {
    match &args.spool {
        _ if name == "-" => "standard input (-)".into(),
        Some(s) if std::path::Path::new(name) == s => "standard input (-)".into(),
        _ => name.to_string(),
    }
}

/// A message naming the spooled copy of standard input as the user knows it.
pub fn shown_message(args: &InputArgs, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("-: ") {
        return format!("standard input (-): {rest}");
    }
    match &args.spool {
        Some(s) => message.replace(&*s.to_string_lossy(), "standard input (-)"),
        None => message.to_string(),
    }
}

/// Names the spooled copy of standard input `-` again in the files of an outcome.
pub fn name_spool(files: &mut [FileInfo], spool: Option<&std::path::Path>) {
    if let Some(spool) = spool {
        for f in files.iter_mut() {
            if std::path::Path::new(&f.name) == spool {
                f.name = "-".into();
            }
        }
    }
}

/// Decodes every packet of the inputs, in time order, and hands it to `each`: the reading of
/// a command that reads its inputs once.
pub fn for_each_packet<S: DamageSink>(
    args: &InputArgs,
    state: &mut S,
    each: impl FnMut(&mut S, i64, &Packet<'_>),
) -> anyhow::Result<Reading> {
    packets(args, 1, 1, state, each)
}

/// Pass `pass` of `passes` over every packet of the inputs: the first reports what is wrong
/// with them and requires packets, a later one only shows progress.
pub fn packets<S: DamageSink>(
    args: &InputArgs,
    pass: u8,
    passes: u8,
    state: &mut S,
    each: impl FnMut(&mut S, i64, &Packet<'_>),
) -> anyhow::Result<Reading> {
    let terminal = Terminal::new(args, passes);
    if pass > 1 {
        return Ok(levee_engine::read::again(
            &inputs(args),
            &terminal,
            pass,
            state,
            each,
        ));
    }
    levee_engine::read::for_each_packet(&inputs(args), &terminal, state, each)
        .map_err(|e| terminal.error(e))
}

/// A progress bar for reading `total_size` bytes, when the inputs are large and standard error
/// is a terminal.
fn progress_bar(args: &InputArgs, total_size: u64, stage: String) -> Option<ProgressBar> {
    (!args.no_progress && total_size >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal())
        .then(|| {
            let bar = ProgressBar::new(total_size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}{spinner} {bytes}/{total_bytes} {bar:40} {percent}% {binary_bytes_per_sec} eta {eta}",
                )
                .expect("static template is valid"),
            );
            bar.set_prefix(stage);
            bar
        })
}
