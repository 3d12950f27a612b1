//! Capture input for levee: every packet of every capture a user brings, as a stream of
//! timestamped frames, in bounded memory.
//!
//! * Formats: classic pcap (micro/nanosecond, both byte orders, the "modified" variant) and
//!   pcapng (several sections and interfaces with different link types; enhanced, simple and
//!   obsolete packet blocks; other blocks skipped). File headers and unusual records and
//!   blocks are parsed by `pcap-parser`; a sound record (plausible time, length within the
//!   snapshot length, whole in the buffer) or enhanced packet block is read directly on a fast
//!   path: debug builds also parse each such pcap record with `pcap-parser`, and a test checks
//!   that the pcapng fast path gives what `pcap-parser` gives on every block of the shared
//!   corpus.
//! * Sources: files (plain, or gzip and zstd detected by their magic, not their name) and
//!   standard input (`-`) stream through one bounded buffer (see `window` for why files are
//!   not memory-mapped).
//! * Live traffic (Linux): [`live::LiveCapture`] reads an interface through a ring shared
//!   with the kernel, with the kernel's drop counters.
//! * Several files: [`MergedCapture`] interleaves them in timestamp order.
//! * One large plain capture file can be read in parts, by several threads at once
//!   ([`SplitCapture`]).
//! * Damage: a damaged record never stops the run silently. Each is reported as a
//!   [`RecordError`] naming the file, the record index and byte offset; the reader skips it,
//!   resynchronises on the next plausible record, or stops that file when nothing more can be
//!   read.
//!
//! The reader is a lending iterator: [`CaptureReader::next_item`] returns an [`Item`], a
//! [`Frame`] that borrows the reader's buffer (no packet is ever copied) or a damaged record.

#![warn(missing_docs)]

mod error;
#[cfg(target_os = "linux")]
pub mod live;
mod pcap;
mod pcapng;
mod split;
mod window;
mod writer;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::ControlFlow;
use std::path::Path;

pub use error::{OpenError, RecordError, RecordProblem, Recovery, PLAUSIBLE_SINCE_S};
pub use split::SplitCapture;
pub use writer::{PcapWriter, PcapngWriter};

use window::Window;

/// The largest captured length a record may have, as in libpcap.
pub const MAX_CAPLEN: u32 = 262_144;

/// Capture file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap format (any byte order, micro- or nanosecond times).
    Pcap,
    /// pcapng (sections, interfaces, packet blocks).
    Pcapng,
}

/// Compression wrapped around the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip.
    Gzip,
    /// Zstandard.
    Zstd,
}

/// One captured packet, borrowed from the reader.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time in nanoseconds since 1970 (0 for pcapng simple packet blocks).
    pub ts_nanos: i64,
    /// The LINKTYPE_ value of the interface the packet was captured on.
    pub linktype: u32,
    /// Length of the packet on the wire; `data.len()` is smaller when the snapshot length cut it.
    pub orig_len: u32,
    /// The captured bytes.
    pub data: &'a [u8],
    /// pcapng interface id (0 for pcap).
    pub interface: u32,
    /// Zero-based index of this packet within its file.
    pub index: u64,
    /// Byte offset of the record in its (decompressed) file.
    pub offset: u64,
    /// Index of the file in the list given to [`MergedCapture`] (0 for a single reader).
    pub file: usize,
}

impl Frame<'_> {
    /// Whether the snapshot length cut the packet short.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u32) < self.orig_len
    }
}

/// Where a frame's bytes are in the window, before they are borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawFrame {
    ts_nanos: i64,
    /// The record carries no time (a pcapng simple packet block): its `ts_nanos` of 0 is not
    /// a clock's reading and is not judged.
    untimed: bool,
    linktype: u32,
    orig_len: u32,
    data_offset: u64,
    data_len: u32,
    interface: u32,
    record_offset: u64,
}

/// A damaged record found by a format parser, before the file name and index are attached.
pub(crate) struct Damage {
    offset: u64,
    problem: RecordProblem,
    recovery: Recovery,
}

impl Damage {
    pub(crate) fn new(offset: u64, problem: RecordProblem, recovery: Recovery) -> Damage {
        Damage {
            offset,
            problem,
            recovery,
        }
    }
}

#[derive(Clone)]
enum FormatState {
    Pcap(pcap::PcapFormat),
    Pcapng(pcapng::PcapngFormat),
}

/// Reads one capture file (or standard input) frame by frame.
pub struct CaptureReader {
    name: String,
    window: Window,
    format: FormatState,
    compression: Compression,
    current: Option<RawFrame>,
    /// `current` is a record found after skipping damage, held back while that damage is
    /// reported, to be handed out next.
    held: bool,
    packets: u64,
    records: u64,
    damage: Vec<Damage>,
    finished: bool,
    /// The packet number of the last record with an implausible time: the first of a run of
    /// such records is reported, the rest of the run is not.
    last_implausible: Option<u64>,
    /// Records after this (nanoseconds since 1970) have implausible times.
    ts_max_nanos: i64,
}

/// A day after now, in seconds since 1970: records later than this are implausible.
pub(crate) fn latest_plausible_s() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now + 86_400
}

/// Either a frame or a damaged record; the reader goes on after either.
///
/// The error is boxed: damage is rare, and a small item is cheaper to hand back for each of
/// millions of frames.
pub enum Item<'a> {
    /// A frame, borrowed from the reader's buffer.
    Frame(Frame<'a>),
    /// A damaged record, skipped, flagged or ending the file.
    Damaged(Box<RecordError>),
}

impl CaptureReader {
    /// Opens a capture by path; `-` means standard input.
    pub fn open(path: &Path) -> Result<CaptureReader, OpenError> {
        let name = path.display().to_string();
        if name == "-" {
            let stdin: Box<dyn Read + Send> = Box::new(io::stdin());
            return Self::from_read(name, stdin);
        }
        let io_err = |source| OpenError::Io {
            file: name.clone(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        Self::from_read(name, Box::new(file))
    }

    /// Reads a capture from any byte stream, decompressing gzip or zstd when its magic says so.
    pub fn from_read(name: String, read: Box<dyn Read + Send>) -> Result<CaptureReader, OpenError> {
        let mut buffered = BufReader::with_capacity(1 << 16, read);
        let head = buffered.fill_buf().map_err(|source| OpenError::Io {
            file: name.clone(),
            source,
        })?;
        let compression = compression_of(head);
        let inner: Box<dyn Read + Send> = match compression {
            Compression::None => Box::new(buffered),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(buffered).map_err(|source| {
                    OpenError::Io {
                        file: name.clone(),
                        source,
                    }
                })?,
            ),
        };
        Self::from_window(name, Window::stream(inner), compression)
    }

    /// Reads a capture held in memory (tests, fuzzing).
    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> Result<CaptureReader, OpenError> {
        Self::from_read(name.to_string(), Box::new(io::Cursor::new(bytes)))
    }

    fn from_window(
        name: String,
        mut window: Window,
        compression: Compression,
    ) -> Result<CaptureReader, OpenError> {
        let io_err = |source| OpenError::Io {
            file: name.clone(),
            source,
        };
        if !window.ensure(4).map_err(io_err)? {
            if window.bytes().is_empty() {
                return Err(OpenError::Empty { file: name });
            }
            return Err(OpenError::BadHeader {
                file: name.clone(),
                what: format!("only {} bytes long", window.bytes().len()),
            });
        }
        let b = window.bytes();
        let magic = [b[0], b[1], b[2], b[3]];
        let bad = |what| OpenError::BadHeader {
            file: name.clone(),
            what,
        };
        let format = if pcap::magic_is_pcap(magic) {
            FormatState::Pcap(pcap::PcapFormat::open(&mut window).map_err(bad)?)
        } else if pcapng::magic_is_pcapng(magic) {
            FormatState::Pcapng(pcapng::PcapngFormat::open(&mut window).map_err(bad)?)
        } else {
            return Err(OpenError::UnknownFormat {
                file: name,
                magic: u32::from_be_bytes(magic),
            });
        };
        Ok(CaptureReader {
            name,
            window,
            format,
            compression,
            current: None,
            held: false,
            packets: 0,
            records: 0,
            damage: Vec::new(),
            finished: false,
            last_implausible: None,
            ts_max_nanos: latest_plausible_s() * 1_000_000_000,
        })
    }

    /// The file name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        match self.format {
            FormatState::Pcap(_) => Format::Pcap,
            FormatState::Pcapng(_) => Format::Pcapng,
        }
    }

    /// The compression around the capture.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The link type of the file (pcap) or of its first interface (pcapng), when known.
    pub fn linktype(&self) -> Option<u32> {
        match &self.format {
            FormatState::Pcap(p) => Some(p.linktype()),
            FormatState::Pcapng(p) => p.linktype(),
        }
    }

    /// Section headers and interface descriptions read so far (pcapng; always 0 for pcap). A
    /// reader of one part of a file ([`SplitCapture`]) knows only the interfaces described
    /// before the first packet: the parts after one whose reader met a description cannot be
    /// trusted.
    pub fn descriptions(&self) -> u64 {
        match &self.format {
            FormatState::Pcap(_) => 0,
            FormatState::Pcapng(p) => p.descriptions(),
        }
    }

    /// Packets read so far (damaged records not counted).
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Moves to the next record. Returns `None` at the end of the file; a damaged record comes
    /// back as `Some(Err(..))` and the following call goes on after it.
    #[inline]
    fn advance(&mut self) -> Option<Result<(), RecordError>> {
        if self.held {
            if self.skipped_damage_waits() {
                return self.pop_damage().map(Err);
            }
            self.held = false;
            return Some(Ok(()));
        }
        self.current = None;
        if !self.damage.is_empty() {
            return self.pop_damage().map(Err);
        }
        if self.finished {
            return None;
        }
        let result = match &mut self.format {
            FormatState::Pcap(p) => p.next(&mut self.window, &mut self.damage),
            FormatState::Pcapng(p) => p.next(&mut self.window, &mut self.damage),
        };
        match result {
            Ok(Some(raw)) => {
                self.current = Some(raw);
                self.judge_time(&raw);
                // Damage skipped on the way to this record is told first, in file order, and
                // the record handed out after it; warnings about a delivered packet come
                // after the packet itself.
                if self.skipped_damage_waits() {
                    self.held = true;
                    return self.pop_damage().map(Err);
                }
                Some(Ok(()))
            }
            Ok(None) => {
                self.finished = true;
                self.pop_damage().map(Err)
            }
            Err(e) => {
                self.finished = true;
                let offset = self.window.offset();
                self.damage.push(Damage::new(
                    offset,
                    RecordProblem::Io {
                        what: e.to_string(),
                    },
                    Recovery::Stopped,
                ));
                self.pop_damage().map(Err)
            }
        }
    }

    /// Reports the first record of each run of records with implausible times (see
    /// [`RecordProblem::ImplausibleTime`]); the packets themselves are kept. Only records of the
    /// careful path are judged: the pcap fast path takes only plausible times.
    fn judge_time(&mut self, raw: &RawFrame) {
        let plausible = raw.untimed
            || (raw.ts_nanos >= error::PLAUSIBLE_SINCE_S * 1_000_000_000
                && raw.ts_nanos <= self.ts_max_nanos);
        if plausible {
            return;
        }
        // `packets` does not count this record yet.
        let index = self.packets;
        if self.last_implausible.is_none_or(|last| last + 1 != index) {
            self.damage.push(Damage::new(
                raw.record_offset,
                RecordProblem::ImplausibleTime {
                    ts_nanos: raw.ts_nanos,
                },
                Recovery::Delivered,
            ));
        }
        self.last_implausible = Some(index);
    }

    /// Whether the next damage to report was skipped before the current record (rather than
    /// being a warning about the record itself).
    fn skipped_damage_waits(&self) -> bool {
        self.damage
            .first()
            .is_some_and(|d| d.recovery != Recovery::Delivered)
    }

    /// Whether the fast paths may read on: nothing waits to be told (damage, a held record)
    /// and the input has not ended.
    #[inline(always)]
    fn fast_path_open(&self) -> bool {
        !self.finished && !self.held && self.damage.is_empty()
    }

    /// The fast path for the usual case, a sound classic pcap record already whole in the
    /// window: the record, if the fast path can take it. Everything else (damage to report, a
    /// window to refill, pcapng, records needing a warning) goes through [`Self::advance`].
    #[inline(always)]
    fn fast_pcap_record(&mut self) -> Option<pcap::PeekedRecord> {
        if !self.fast_path_open() {
            return None;
        }
        let FormatState::Pcap(p) = &mut self.format else {
            return None;
        };
        p.peek_whole(self.window.bytes())
    }

    /// The fast path of [`Self::for_each_item`] on a plain pcap file: hands `each` every sound
    /// record wholly in the window, one after another, keeping the position and the counts in
    /// locals and storing them once the run ends (at the end of the window, at a record the
    /// careful path must see, or when `each` breaks).
    #[inline(always)]
    fn pcap_run(
        &mut self,
        file: usize,
        each: &mut impl FnMut(Item<'_>) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if !self.fast_path_open() {
            return ControlFlow::Continue(());
        }
        let FormatState::Pcap(format) = &mut self.format else {
            return ControlFlow::Continue(());
        };
        let (bytes, first) = self.window.bytes_from_start();
        let mut at = 0;
        let mut packets = self.packets;
        let mut flow = ControlFlow::Continue(());
        while let Some(rec) = format.peek_whole(&bytes[at..]) {
            let data_at = at + rec.header_len as usize;
            let caplen = rec.caplen as usize;
            let frame = Frame {
                ts_nanos: rec.ts_nanos,
                linktype: rec.linktype,
                orig_len: rec.orig_len,
                data: &bytes[data_at..data_at + caplen],
                interface: 0,
                index: packets,
                offset: first + at as u64,
                file,
            };
            at = data_at + caplen;
            packets += 1;
            flow = each(Item::Frame(frame));
            if flow.is_break() {
                break;
            }
        }
        self.records += packets - self.packets;
        self.packets = packets;
        self.window.consume(at);
        flow
    }

    /// Moves past the record [`Self::fast_pcap_record`] found and returns its frame.
    #[inline(always)]
    fn take_fast_record(&mut self, rec: pcap::PeekedRecord, file: usize) -> Frame<'_> {
        let offset = self.window.offset();
        let caplen = rec.caplen as usize;
        self.window.consume(rec.total());
        self.packets += 1;
        self.records += 1;
        Frame {
            ts_nanos: rec.ts_nanos,
            linktype: rec.linktype,
            orig_len: rec.orig_len,
            data: &self.window.behind(caplen)[..caplen],
            interface: 0,
            index: self.packets - 1,
            offset,
            file,
        }
    }

    fn pop_damage(&mut self) -> Option<RecordError> {
        if self.damage.is_empty() {
            return None;
        }
        let d = self.damage.remove(0);
        let record = if d.recovery == Recovery::Delivered {
            self.records.saturating_sub(1)
        } else {
            self.records
        };
        let err = RecordError {
            file: self.name.clone(),
            record,
            offset: d.offset,
            problem: d.problem,
            recovery: d.recovery,
        };
        if err.recovery != Recovery::Delivered {
            self.records += 1;
        }
        Some(err)
    }

    #[inline(always)]
    fn current_frame(&self, file: usize) -> Option<Frame<'_>> {
        let raw = self.current?;
        let base = self.window.offset();
        // The record was consumed, so its data lies just behind the current position.
        let back = (base - raw.data_offset) as usize;
        let bytes = self.window.behind(back);
        Some(Frame {
            ts_nanos: raw.ts_nanos,
            linktype: raw.linktype,
            orig_len: raw.orig_len,
            data: &bytes[..raw.data_len as usize],
            interface: raw.interface,
            index: self.packets - 1,
            offset: raw.record_offset,
            file,
        })
    }

    /// The next packet or damaged record; `None` at the end of the file.
    pub fn next_item(&mut self) -> Option<Item<'_>> {
        self.next_item_of_file(0)
    }

    /// Calls `each` with every packet and damaged record, in order, until the file ends or
    /// `each` breaks: the items of [`Self::next_item`] in a loop. The per-packet loops use it:
    /// handing each item back through an `Option<Item>` cost a third of the reading's
    /// instructions.
    #[inline]
    pub fn for_each_item(&mut self, each: impl FnMut(Item<'_>) -> ControlFlow<()>) {
        self.for_each_item_of_file(0, each)
    }

    #[inline(always)]
    fn for_each_item_of_file(
        &mut self,
        file: usize,
        mut each: impl FnMut(Item<'_>) -> ControlFlow<()>,
    ) {
        loop {
            if self.pcap_run(file, &mut each).is_break() {
                return;
            }
            match self.next_item_of_file(file) {
                Some(item) => {
                    if each(item).is_break() {
                        return;
                    }
                }
                None => return,
            }
        }
    }

    /// [`Self::next_item`] with frames marked as coming from input number `file`.
    #[inline]
    fn next_item_of_file(&mut self, file: usize) -> Option<Item<'_>> {
        if let Some(rec) = self.fast_pcap_record() {
            return Some(Item::Frame(self.take_fast_record(rec, file)));
        }
        match self.advance()? {
            Ok(()) => {
                self.packets += 1;
                self.records += 1;
                Some(Item::Frame(self.current_frame(file)?))
            }
            Err(e) => Some(Item::Damaged(Box::new(e))),
        }
    }
}

fn compression_of(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Several captures read as one, in timestamp order (a k-way merge on each file's next frame).
/// Within one file the order of the file is kept even when its timestamps go backwards.
pub struct MergedCapture {
    readers: Vec<CaptureReader>,
    /// Reader i holds a frame that was read but not yet handed out.
    pending: Vec<bool>,
    /// Reader i must be advanced before the next choice (at the start, and after its frame
    /// was handed out or it reported damage).
    needs_advance: Vec<bool>,
}

impl MergedCapture {
    /// Merges `readers`, each already in time order, into one time-ordered reading.
    pub fn new(readers: Vec<CaptureReader>) -> MergedCapture {
        let n = readers.len();
        MergedCapture {
            readers,
            pending: vec![false; n],
            needs_advance: vec![true; n],
        }
    }

    /// The readers, in the order given (their names and counts).
    pub fn readers(&self) -> &[CaptureReader] {
        &self.readers
    }

    /// Calls `each` with every item over all files, in time order, until they end or `each`
    /// breaks (see [`CaptureReader::for_each_item`]).
    #[inline]
    pub fn for_each_item(&mut self, mut each: impl FnMut(Item<'_>) -> ControlFlow<()>) {
        if self.readers.len() == 1 {
            return self.readers[0].for_each_item_of_file(0, each);
        }
        while let Some(item) = self.next_item() {
            if each(item).is_break() {
                return;
            }
        }
    }

    /// The next frame over all files in time order, or a damaged record of one of them.
    pub fn next_item(&mut self) -> Option<Item<'_>> {
        // One input (the usual case): no merging to do.
        if self.readers.len() == 1 {
            return self.readers[0].next_item_of_file(0);
        }
        for i in 0..self.readers.len() {
            if !self.needs_advance[i] {
                continue;
            }
            let r = &mut self.readers[i];
            match r.advance() {
                Some(Ok(())) => {
                    r.packets += 1;
                    r.records += 1;
                    self.pending[i] = true;
                    self.needs_advance[i] = false;
                }
                // Ask the same reader again on the next call.
                Some(Err(e)) => return Some(Item::Damaged(Box::new(e))),
                None => self.needs_advance[i] = false,
            }
        }
        let mut best: Option<(usize, i64)> = None;
        for (i, r) in self.readers.iter().enumerate() {
            if !self.pending[i] {
                continue;
            }
            let ts = r.current.map_or(i64::MAX, |f| f.ts_nanos);
            if best.is_none_or(|(_, b)| ts < b) {
                best = Some((i, ts));
            }
        }
        let (i, _) = best?;
        self.pending[i] = false;
        self.needs_advance[i] = true;
        self.readers[i].current_frame(i).map(Item::Frame)
    }
}
