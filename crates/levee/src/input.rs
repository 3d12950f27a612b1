//! Opening the user's captures and feeding every decoded packet to a consumer, with a progress
//! bar and damaged-record reporting on standard error.

use std::io::IsTerminal;
use std::ops::ControlFlow;

use indicatif::{ProgressBar, ProgressStyle};
use levee_capture::{CaptureReader, Item, MergedCapture};
use levee_decode::Packet;

use levee_analyze::summary::FileInfo;
use levee_analyze::SummaryBuilder;

use crate::{InputArgs, EXIT_DAMAGED_RECORDS, EXIT_UNREADABLE_INPUT};

/// Inputs larger than this get a progress bar (when standard error is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// What happened to the inputs.
pub struct Outcome {
    pub files: Vec<FileInfo>,
    pub unreadable: usize,
    pub damaged: u64,
}

impl Outcome {
    /// The input rule: a file that gave no packet is an unreadable input (said on standard
    /// error unless `quiet`), and inputs that together gave none are an error, not an empty
    /// result.
    pub fn require_packets(&mut self, args: &InputArgs) -> anyhow::Result<()> {
        for f in &self.files {
            if f.packets == 0 {
                if !args.quiet {
                    eprintln!(
                        "levee: {}: no packet in the file",
                        shown_name(args, &f.name)
                    );
                }
                self.unreadable += 1;
            }
        }
        if self.files.iter().all(|f| f.packets == 0) {
            return Err(crate::Exit::no_input(format!(
                "no packet could be read from {}",
                inputs_named(args)
            )));
        }
        Ok(())
    }

    pub fn exit_code(&self) -> u8 {
        if self.unreadable > 0 {
            EXIT_UNREADABLE_INPUT
        } else if self.damaged > 0 {
            EXIT_DAMAGED_RECORDS
        } else {
            0
        }
    }
}

/// Something that also wants to count damaged records.
pub trait DamageSink {
    fn damaged(&mut self, _e: &levee_capture::RecordError) {}
}

impl DamageSink for SummaryBuilder {
    fn damaged(&mut self, e: &levee_capture::RecordError) {
        self.add_damage(e);
    }
}

impl<W: std::io::Write> DamageSink for std::io::BufWriter<W> {}

impl DamageSink for levee_analyze::Analyzer {}

impl DamageSink for levee_analyze::Plan {}

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

/// The inputs, named for a message: `a.pcap`, `a.pcap and b.pcap`, `3 inputs`.
fn inputs_named(args: &InputArgs) -> String {
    let names: Vec<String> = args
        .captures
        .iter()
        .map(|p| shown_name(args, &p.display().to_string()))
        .collect();
    match names.len() {
        1 => names[0].clone(),
        2 => format!("{} and {}", names[0], names[1]),
        n => format!("any of the {n} inputs"),
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

/// The bytes of the inputs when all are uncompressed capture files, for sizing a sample
/// before reading; `None` for standard input, compressed or unreadable inputs.
pub fn plain_size(args: &InputArgs) -> Option<u64> {
    let mut total = 0;
    for path in &args.captures {
        let reader = CaptureReader::open(path).ok()?;
        if reader.compression() != levee_capture::Compression::None {
            return None;
        }
        total += std::fs::metadata(path).ok()?.len();
    }
    Some(total)
}

/// Decodes every packet of the inputs, in time order, and hands it to `each`.
pub fn for_each_packet<S: DamageSink>(
    args: &InputArgs,
    state: &mut S,
    mut each: impl FnMut(&mut S, i64, &Packet<'_>),
) -> anyhow::Result<Outcome> {
    let mut sink = (state, &mut each);
    for_each_frame_with(args, &mut sink, |(state, each), f| {
        levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            each(state, f.ts_nanos, p)
        });
    })
}

impl<S: DamageSink, F> DamageSink for (&mut S, &mut F) {
    fn damaged(&mut self, e: &levee_capture::RecordError) {
        self.0.damaged(e);
    }
}

/// A progress bar for reading `total_size` bytes, when the inputs are large and standard error
/// is a terminal.
pub fn progress_bar(args: &InputArgs, total_size: u64) -> Option<ProgressBar> {
    (!args.no_progress && total_size >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal())
        .then(|| {
            let bar = ProgressBar::new(total_size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix}{spinner} {bytes}/{total_bytes} {bar:40} {percent}% {binary_bytes_per_sec} eta {eta}",
                )
                .expect("static template is valid"),
            );
            bar.set_prefix(args.stage);
            bar
        })
}

/// Hands every frame of the inputs, in time order, to `each`, undecoded (for callers that
/// decode elsewhere, such as worker threads).
pub fn for_each_frame_with<S: DamageSink>(
    args: &InputArgs,
    state: &mut S,
    mut each: impl FnMut(&mut S, &levee_capture::Frame<'_>),
) -> anyhow::Result<Outcome> {
    let mut readers = Vec::new();
    let mut unreadable = 0;
    let mut total_size = 0u64;
    for path in &args.captures {
        match CaptureReader::open(path) {
            Ok(r) => {
                total_size += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                readers.push(r);
            }
            Err(e) => {
                if !args.quiet {
                    eprintln!("levee: {}", shown_message(args, &e.to_string()));
                }
                unreadable += 1;
            }
        }
    }
    let progress = progress_bar(args, total_size);
    let mut merged = MergedCapture::new(readers);
    let mut damaged = 0u64;
    let mut n = 0u64;
    // Where each file's reading had got to at the last progress update.
    let mut offsets: Vec<u64> = vec![0; args.captures.len()];
    merged.for_each_item(|item| {
        match item {
            Item::Frame(f) => {
                each(state, &f);
                n += 1;
                if n & 0xffff == 0 {
                    if let Some(bar) = &progress {
                        offsets[f.file] = f.offset;
                        bar.set_position(offsets.iter().sum());
                    }
                }
            }
            Item::Damaged(e) => {
                damaged += 1;
                if !args.quiet && damaged as usize <= args.max_errors {
                    eprintln!("levee: {}", shown_message(args, &e.to_string()));
                }
                state.damaged(&e);
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    if !args.quiet && damaged as usize > args.max_errors {
        eprintln!(
            "levee: {} more damaged records not shown (--max-errors)",
            damaged as usize - args.max_errors
        );
    }
    let files = merged
        .readers()
        .iter()
        .map(|r| FileInfo {
            name: r.name().to_string(),
            format: format!("{:?}", r.format()).to_lowercase(),
            compression: format!("{:?}", r.compression()).to_lowercase(),
            packets: r.packets(),
        })
        .collect();
    let mut outcome = Outcome {
        files,
        unreadable,
        damaged,
    };
    if !args.quiet {
        outcome.require_packets(args)?;
    }
    Ok(outcome)
}
