//! Inputs to frames: every capture file opened, merged in time order and handed on frame by
//! frame, with what went wrong told to an [`Observer`] as it happens.

use std::ops::ControlFlow;
use std::path::PathBuf;

use levee_analyze::summary::FileInfo;
use levee_analyze::AnalyzeConfig;
use levee_capture::{CaptureReader, Item, MergedCapture, OpenError, RecordError};
use levee_decode::Packet;

use crate::flows::{BadExport, FlowFeed};

/// The capture files of a run, merged in time order when there are several. A capture of
/// flow exports is read as the traffic its records describe (see [`crate::flows`]).
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The capture files, in the order given.
    pub paths: Vec<PathBuf>,
    /// The sampling rate of flow records whose export does not state one (1: every packet
    /// counted).
    pub flow_sampling: u32,
}

impl Default for Inputs {
    fn default() -> Inputs {
        Inputs::new(Vec::new())
    }
}

impl Inputs {
    /// The inputs `paths`.
    pub fn new(paths: Vec<PathBuf>) -> Inputs {
        Inputs {
            paths,
            flow_sampling: 1,
        }
    }

    /// Whether any input is a capture of flow exports, or flow records as JSON.
    pub fn has_flow_exports(&self) -> bool {
        self.paths
            .iter()
            .any(|p| crate::flows::is_export_capture(p) || crate::flows::json_flavor(p).is_some())
    }

    /// Files of JSON flow records are read whole after the captures, so a run holds one kind
    /// or the other: their packets would otherwise come out of time order.
    fn check_flow_records(&self) -> Result<(), ReadError> {
        let json = self
            .paths
            .iter()
            .find(|p| crate::flows::json_flavor(p).is_some());
        let capture = self
            .paths
            .iter()
            .find(|p| crate::flows::json_flavor(p).is_none());
        match (json, capture) {
            (Some(j), Some(c)) => Err(ReadError::Mixed {
                json: j.display().to_string(),
                capture: c.display().to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// `config` for an analysis of these inputs. Flow records' packets come scaled by their
    /// own sampling rates (those that state none by [`Inputs::flow_sampling`]), and leave
    /// headers unknown ([`AnalyzeConfig::from_flows`]); they are all profiled, on one thread.
    pub fn analysis_config(&self, config: AnalyzeConfig) -> AnalyzeConfig {
        if !self.has_flow_exports() {
            return config;
        }
        AnalyzeConfig {
            wire_one_in: 1,
            from_flows: true,
            sample_budget: None,
            ..config
        }
    }

    /// The bytes of the inputs when all are uncompressed capture files, for sizing a sample
    /// before reading; `None` for standard input, compressed or unreadable inputs.
    pub fn plain_size(&self) -> Option<u64> {
        let mut total = 0;
        for path in &self.paths {
            let reader = CaptureReader::open(path).ok()?;
            if reader.compression() != levee_capture::Compression::None {
                return None;
            }
            total += std::fs::metadata(path).ok()?.len();
        }
        Some(total)
    }
}

/// What the reading tells whoever runs it, as it happens: inputs that cannot be opened or are
/// empty, damaged records, and progress. The command line prints them; a library user may
/// count them or ignore them all ([`Silent`]). Called from reading threads, hence `Sync`.
pub trait Observer: Sync {
    /// An input that cannot be opened; the others are read.
    fn cannot_open(&self, _error: &OpenError) {}
    /// An input that held no packet.
    fn empty(&self, _name: &str) {}
    /// How many damaged records to be told of one by one ([`Observer::damaged`]); those
    /// beyond are only counted ([`Observer::more_damaged`]).
    fn damage_shown(&self) -> usize {
        0
    }
    /// A damaged record, in reading order, numbered as a reading of its whole file numbers it.
    fn damaged(&self, _error: &RecordError) {}
    /// Damaged records beyond [`Observer::damage_shown`].
    fn more_damaged(&self, _count: u64) {}
    /// Pass `pass` (from 1) begins reading `total_bytes` bytes of files.
    fn reading(&self, _pass: u8, _total_bytes: u64) {}
    /// `bytes` more of the files were read.
    fn advanced(&self, _bytes: u64) {}
    /// The pass's reading ended.
    fn done_reading(&self) {}
    /// A damaged flow export datagram in a capture of exports (the others are read), in
    /// reading order, as many as [`Observer::damage_shown`].
    fn bad_export(&self, _error: &BadExport) {}
}

/// An observer that wants to know nothing.
pub struct Silent;

impl Observer for Silent {}

/// A second reading of the same inputs: progress is shown, damage was reported by the first.
pub(crate) struct Again<'a> {
    pub observer: &'a dyn Observer,
    pub pass: u8,
}

impl Observer for Again<'_> {
    fn reading(&self, _pass: u8, total_bytes: u64) {
        self.observer.reading(self.pass, total_bytes);
    }
    fn advanced(&self, bytes: u64) {
        self.observer.advanced(bytes);
    }
    fn done_reading(&self) {
        self.observer.done_reading();
    }
}

/// What the reading of the inputs gave.
#[derive(Debug, Clone)]
pub struct Reading {
    /// Every input opened, with its packets.
    pub files: Vec<FileInfo>,
    /// Inputs that could not be opened or held no packet.
    pub unreadable: usize,
    /// Damaged records skipped or flagged.
    pub damaged: u64,
}

/// Why a reading gave nothing to analyse.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No input gave a packet (each that could not be opened was told to the observer).
    #[error("no packet could be read from {}", named(.inputs))]
    /// No input gave a packet.
    NoPackets {
        /// The inputs, as named to the reader.
        inputs: Vec<String>,
    },
    /// Flow records as JSON given with captures.
    #[error(
        "{json} holds flow records as JSON and {capture} is a capture: give them to separate runs"
    )]
    Mixed {
        /// The JSON file.
        json: String,
        /// The capture.
        capture: String,
    },
    /// A file read in parts failed after it was opened.
    #[error(transparent)]
    Open(#[from] OpenError),
}

/// The inputs, named for a message: `a.pcap`, `a.pcap and b.pcap`, `any of the 3 inputs`.
pub fn named(inputs: &[String]) -> String {
    match inputs {
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        _ => format!("any of the {} inputs", inputs.len()),
    }
}

/// Something that also wants to count damaged records as they are read.
pub trait DamageSink {
    /// A damaged record was read (and skipped or flagged).
    fn damaged(&mut self, _e: &RecordError) {}
}

impl DamageSink for levee_analyze::SummaryBuilder {
    fn damaged(&mut self, e: &RecordError) {
        self.add_damage(e);
    }
}

impl DamageSink for levee_analyze::Analyzer {}

impl DamageSink for levee_analyze::Plan {}

impl DamageSink for () {}

impl<W: std::io::Write> DamageSink for std::io::BufWriter<W> {}

impl<S: DamageSink, F> DamageSink for (&mut S, &mut F) {
    fn damaged(&mut self, e: &RecordError) {
        self.0.damaged(e);
    }
}

/// Decodes every packet of the inputs, in time order, and hands it to `each`. The inputs must
/// give a packet (see [`for_each_frame`]). A capture of flow exports gives the packets its
/// records stand for (see [`crate::flows`]).
pub fn for_each_packet<S: DamageSink>(
    inputs: &Inputs,
    observer: &dyn Observer,
    state: &mut S,
    each: impl FnMut(&mut S, i64, &Packet<'_>),
) -> Result<Reading, ReadError> {
    inputs.check_flow_records()?;
    let mut reading = read_packets(inputs, observer, 1, state, each);
    reading.require_packets(inputs, observer)?;
    Ok(reading)
}

/// Every packet of the inputs, decoded (or from flow records), in time order.
fn read_packets<S: DamageSink>(
    inputs: &Inputs,
    observer: &dyn Observer,
    pass: u8,
    state: &mut S,
    mut each: impl FnMut(&mut S, i64, &Packet<'_>),
) -> Reading {
    let mut flows = FlowFeed::new(inputs.flow_sampling);
    let mut sink = (state, &mut each);
    let mut reading = read_frames(
        inputs,
        observer,
        pass,
        &mut sink,
        |(state, each), f, source| match source {
            Source::Packets => {
                levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
                    each(state, f.ts_nanos, p)
                });
            }
            Source::FlowExports(name) => {
                let shown = observer.damage_shown() as u64;
                let mut damaged = |e: BadExport, n: u64| {
                    if n <= shown {
                        observer.bad_export(&e);
                    }
                };
                flows.frame(f, name, &mut damaged, &mut |ts, p| each(state, ts, p));
            }
        },
    );
    let (state, each) = sink;
    // Files of JSON flow records, after the captures (a run does not mix them: see
    // `for_each_packet`).
    let shown = observer.damage_shown() as u64;
    for path in &inputs.paths {
        let Some(flavor) = crate::flows::json_flavor(path) else {
            continue;
        };
        let name = path.display().to_string();
        let mut damaged = |e: BadExport, n: u64| {
            if n <= shown {
                observer.bad_export(&e);
            }
        };
        let index = reading.files.len();
        match flows.json_file(index, path, &name, flavor, &mut damaged, &mut |ts, p| {
            each(state, ts, p)
        }) {
            Ok(info) => reading.files.push(info),
            Err(source) => {
                if pass == 1 {
                    observer.cannot_open(&OpenError::Io { file: name, source });
                }
                reading.unreadable += 1;
            }
        }
    }
    // Damaged datagrams are damaged records of their capture.
    let damaged = flows.finish(&mut |ts, p| each(state, ts, p));
    let shown = observer.damage_shown() as u64;
    if damaged > shown {
        observer.more_damaged(damaged - shown);
    }
    reading.damaged += damaged;
    for (i, file) in reading.files.iter_mut().enumerate() {
        file.flows = flows.exports(i);
    }
    reading
}

/// Hands every frame of the inputs, in time order, to `each`, undecoded (for callers that
/// decode elsewhere, such as worker threads). An input that gave no packet is told to the
/// observer and counted unreadable; inputs that together gave none are an error, not an empty
/// result.
pub fn for_each_frame<S: DamageSink>(
    inputs: &Inputs,
    observer: &dyn Observer,
    state: &mut S,
    mut each: impl FnMut(&mut S, &levee_capture::Frame<'_>),
) -> Result<Reading, ReadError> {
    let mut reading = read_frames(inputs, observer, 1, state, |s, f, _| each(s, f));
    reading.require_packets(inputs, observer)?;
    Ok(reading)
}

/// Every packet of the inputs again, for a later pass: progress goes to `observer` as pass
/// `pass`; damage and empty inputs were told by the first reading.
pub fn again<S: DamageSink>(
    inputs: &Inputs,
    observer: &dyn Observer,
    pass: u8,
    state: &mut S,
    each: impl FnMut(&mut S, i64, &Packet<'_>),
) -> Reading {
    read_packets(inputs, &Again { observer, pass }, pass, state, each)
}

impl Reading {
    /// The input rule: a file that gave no packet is unreadable, and inputs that together gave
    /// none are an error.
    pub(crate) fn require_packets(
        &mut self,
        inputs: &Inputs,
        observer: &dyn Observer,
    ) -> Result<(), ReadError> {
        for f in &self.files {
            if f.packets == 0 {
                observer.empty(&f.name);
                self.unreadable += 1;
            }
        }
        if self.files.iter().all(|f| f.packets == 0) {
            return Err(ReadError::NoPackets {
                inputs: inputs
                    .paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
            });
        }
        Ok(())
    }
}

/// What the frames of a file are.
pub(crate) enum Source<'a> {
    /// Packets.
    Packets,
    /// Flow export datagrams, of the file named so.
    FlowExports(&'a str),
}

/// Reads every frame of the inputs, in time order, each with what its file holds.
pub(crate) fn read_frames<S: DamageSink>(
    inputs: &Inputs,
    observer: &dyn Observer,
    pass: u8,
    state: &mut S,
    mut each: impl FnMut(&mut S, &levee_capture::Frame<'_>, Source<'_>),
) -> Reading {
    let mut readers = Vec::new();
    let mut exports = Vec::new();
    let mut unreadable = 0;
    let mut total_size = 0u64;
    for path in &inputs.paths {
        if crate::flows::json_flavor(path).is_some() {
            // Flow records as JSON: read after the captures (see `read_packets`).
            continue;
        }
        match CaptureReader::open(path) {
            Ok(r) => {
                total_size += std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                exports.push(crate::flows::is_export_capture(path).then(|| r.name().to_string()));
                readers.push(r);
            }
            Err(e) => {
                observer.cannot_open(&e);
                unreadable += 1;
            }
        }
    }
    observer.reading(pass, total_size);
    let shown = observer.damage_shown() as u64;
    let mut merged = MergedCapture::new(readers);
    let mut damaged = 0u64;
    let mut n = 0u64;
    // Where each file's reading had got to at the last progress report.
    let mut offsets: Vec<u64> = vec![0; merged.readers().len()];
    merged.for_each_item(|item| {
        match item {
            Item::Frame(f) => {
                let source = match &exports[f.file] {
                    Some(name) => Source::FlowExports(name),
                    None => Source::Packets,
                };
                each(state, &f, source);
                n += 1;
                if n & 0xffff == 0 {
                    let at = &mut offsets[f.file];
                    observer.advanced(f.offset.saturating_sub(*at));
                    *at = (*at).max(f.offset);
                }
            }
            Item::Damaged(e) => {
                damaged += 1;
                if damaged <= shown {
                    observer.damaged(&e);
                }
                state.damaged(&e);
            }
        }
        ControlFlow::Continue(())
    });
    observer.done_reading();
    if damaged > shown {
        observer.more_damaged(damaged - shown);
    }
    let files = merged
        .readers()
        .iter()
        .map(|r| FileInfo {
            name: r.name().to_string(),
            format: format!("{:?}", r.format()).to_lowercase(),
            compression: format!("{:?}", r.compression()).to_lowercase(),
            packets: r.packets(),
            flows: None,
        })
        .collect();
    Reading {
        files,
        unreadable,
        damaged,
    }
}
