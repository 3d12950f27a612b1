//! `levee clean`: captures made fit to share, in one pass.
//!
//! * **Merged in time order** ([`levee_capture::MergedCapture`]), one pcapng out with an
//!   interface per link type.
//! * **Duplicates removed**: the same packet seen by two taps (two inputs) within
//!   [`Options::dedup_window_ns`] is written once. The same packet means the same bytes from
//!   the network header on, TTL (hop limit) and IPv4 header checksum aside, so a packet seen
//!   on both sides of a router is one. Identical packets within one input are kept: a flood
//!   of identical packets is evidence, not duplication.
//! * **Timestamps**: frames out of order by less than [`Options::reorder_window_ns`] are put
//!   back in order; later ones are written where they came and counted. A time before 1990 or
//!   more than a day ahead of the clock is impossible: the frame takes the time of the frame
//!   before it, and is counted.
//! * **Cut by time** ([`Options::from_ns`], [`Options::to_ns`]) **or filter**
//!   ([`Options::filter`]: levee's rule language, `ip.src in {192.0.2.0/24} and tcp`, on the
//!   packets as they were).
//! * **Anonymised** with a key ([`Options::key`]): every address prefix-preserving with
//!   Crypto-PAn ([`cryptopan`]), every unicast MAC replaced by a locally administered one of
//!   the key, in every header [`rewrite`] walks, checksums kept true; what it cannot walk is
//!   cut; the link's padding after an IP packet zeroed. Unspecified, broadcast, multicast and
//!   loopback addresses, and multicast MACs, name nobody and are kept. Each address and MAC
//!   replaced is written to a mapping file (JSON lines), kept apart by its owner:
//!   [`reverse`] turns a cleaned capture back with it.
//! * **Payloads** kept, cut after N bytes, or dropped ([`rewrite::Payload`]). Kept, their
//!   names are replaced ([`names`]: DNS, HTTP Host and referers, TLS server names), and DHCP's
//!   addresses, MACs and host names too; the rest of their content is not anonymised.
//! * **Access logs** become JSON lines, anonymised alike ([`logs`]).
//!
//! Memory is bounded: the reorder buffer holds at most [`MAX_HELD`] frames, the duplicate
//! window [`MAX_RECENT`] hashes, the address cache [`MAX_CACHED`] entries (the mapping file
//! may then list an address twice, which its reader takes in its stride).

#![warn(missing_docs)]

pub mod cryptopan;
mod dhcp;
pub mod logs;
mod mapping;
pub mod names;
pub mod rewrite;
pub mod rewriter;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use levee_capture::{CaptureReader, Item, MergedCapture, PcapngWriter};
use serde::Serialize;

pub use mapping::{Anonymiser, Restorer};
pub use rewrite::{Cuts, Payload};

/// Frames held at most to put them back in order.
pub const MAX_HELD: usize = 1 << 17;
/// Packet hashes remembered at most to find another tap's copy.
pub const MAX_RECENT: usize = 1 << 20;
/// Addresses and MACs whose pseudonyms are remembered at most.
pub const MAX_CACHED: usize = 1 << 20;
/// 1990-01-01: no capture is older.
const EARLIEST_NS: i64 = 631_152_000_000_000_000;
const DAY_NS: i64 = 86_400_000_000_000;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// An input could not be opened or read.
    #[error("{file}: {why}")]
    Unreadable {
        /// The input.
        file: String,
        /// Why.
        why: String,
    },
    /// The output or the mapping could not be written.
    #[error("{file}: cannot write: {why}")]
    Unwritable {
        /// The file.
        file: String,
        /// Why.
        why: String,
    },
    /// The mapping file of [`reverse`] is not one.
    #[error("{file}: line {line}: {why}")]
    BadMapping {
        /// The file.
        file: String,
        /// Its line.
        line: usize,
        /// What is wrong.
        why: String,
    },
}

/// How to clean.
#[derive(Debug, Clone)]
pub struct Options {
    /// Anonymise with this key.
    pub key: Option<[u8; 32]>,
    /// What becomes of payloads.
    pub payload: Payload,
    /// Frames before this time (ns since 1970) are left out.
    pub from_ns: Option<i64>,
    /// Frames at or after this time are left out.
    pub to_ns: Option<i64>,
    /// Only the frames this expression (levee's rule language, on the original packet)
    /// matches are kept.
    pub filter: Option<levee_rules::Expr>,
    /// Another input's copy of a packet within this long is a duplicate (0: none is).
    pub dedup_window_ns: i64,
    /// Frames out of order by less than this are put back in order.
    pub reorder_window_ns: i64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            key: None,
            payload: Payload::Keep,
            from_ns: None,
            to_ns: None,
            filter: None,
            dedup_window_ns: 100_000_000,
            reorder_window_ns: 1_000_000_000,
        }
    }
}

/// One input's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputReport {
    /// Its name.
    pub file: String,
    /// Frames read.
    pub frames: u64,
    /// Its frames that were another input's duplicates.
    pub duplicates: u64,
}

/// What a cleaning did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Per input.
    pub inputs: Vec<InputReport>,
    /// Frames written.
    pub written: u64,
    /// Frames left out as another input's duplicates.
    pub duplicates: u64,
    /// Frames put back in order.
    pub reordered: u64,
    /// Frames still out of order (later than the reorder window), written where they came.
    pub late: u64,
    /// Frames whose impossible time was replaced by the time of the frame before.
    pub times_fixed: u64,
    /// Frames outside the time asked for.
    pub outside_time: u64,
    /// Frames the filter did not match.
    pub filtered_out: u64,
    /// Frames cut before their payload, by reason.
    pub cuts: Cuts,
    /// Payload bytes removed.
    pub payload_bytes_removed: u64,
    /// Distinct addresses anonymised; or, restoring, the addresses and MACs restored.
    pub addresses: u64,
    /// Distinct MACs rewritten.
    pub macs: u64,
    /// Frames whose link padding after the IP packet was zeroed.
    pub padding_zeroed: u64,
    /// The damaged records (skipped), as the readers told them.
    pub damage: Vec<String>,
}

/// A frame read, owned until its turn comes.
struct Held {
    ts: i64,
    seq: u64,
    linktype: u32,
    orig_len: u32,
    file: usize,
    data: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.seq) == (o.ts, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq).cmp(&(o.ts, o.seq))
    }
}

/// The packets seen lately, to tell another tap's copy.
struct Recent {
    window: i64,
    seen: HashMap<u64, (i64, usize), foldhash::fast::FixedState>,
    order: VecDeque<(i64, u64)>,
}

impl Recent {
    /// Whether the packet of `hash` at `ts` from input `file` is another input's copy.
    fn duplicate(&mut self, hash: u64, ts: i64, file: usize) -> bool {
        while let Some(&(t, h)) = self.order.front() {
            if t >= ts - self.window && self.order.len() < MAX_RECENT {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&h).is_some_and(|&(st, _)| st == t) {
                self.seen.remove(&h);
            }
        }
        if let Some(&(t, f)) = self.seen.get(&hash) {
            if f != file && ts - t <= self.window {
                return true;
            }
        }
        self.seen.insert(hash, (ts, file));
        self.order.push_back((ts, hash));
        false
    }
}

/// The hash of a frame's packet from its network header on, TTL and IPv4 header checksum
/// aside (see the crate's overview).
fn packet_hash(linktype: u32, data: &[u8], orig_len: u32) -> u64 {
    let mut at = match linktype {
        1 => 14,
        113 => 16,
        276 => 20,
        0 | 108 => 4,
        _ => 0,
    };
    if linktype == 1 {
        while at + 4 <= data.len()
            && matches!(
                u16::from_be_bytes([data[at - 2], data[at - 1]]),
                0x8100 | 0x88a8
            )
        {
            at += 4;
        }
    }
    let net = data.get(at..).unwrap_or(&[]);
    let mut h = foldhash::fast::FixedState::with_seed(0xc1ea).build_hasher();
    // The bytes but those a router changes: IPv4's TTL and header checksum, IPv6's hop limit.
    match net.first().map(|b| b >> 4) {
        Some(4) if net.len() >= 12 => {
            h.write(&net[..8]);
            h.write_u8(net[9]);
            h.write(&net[12..]);
        }
        Some(6) if net.len() >= 8 => {
            h.write(&net[..7]);
            h.write(&net[8..]);
        }
        _ => h.write(net),
    }
    h.write_u32(orig_len.saturating_sub((data.len() - net.len()) as u32));
    h.finish()
}

/// Writes the cleaned frames, an interface per link type.
struct Output<W: Write> {
    writer: PcapngWriter<W>,
    interfaces: HashMap<u32, u32>,
    name: String,
}

impl<W: Write> Output<W> {
    fn write(&mut self, h: &Held, data: &[u8]) -> Result<(), CleanError> {
        let unwritable = |e: std::io::Error, name: &str| CleanError::Unwritable {
            file: name.to_string(),
            why: e.to_string(),
        };
        let interface = match self.interfaces.get(&h.linktype) {
            Some(&i) => i,
            None => {
                let i = self
                    .writer
                    .add_interface(h.linktype as u16, 262_144)
                    .map_err(|e| unwritable(e, &self.name))?;
                self.interfaces.insert(h.linktype, i);
                i
            }
        };
        self.writer
            .write_frame(interface, h.ts, data, h.orig_len)
            .map_err(|e| unwritable(e, &self.name))
    }
}

/// Where frames go once their turn comes: left out (time, duplicates), rewritten, written.
struct Emitter<'a, 'r, W: Write> {
    options: &'a Options,
    inputs: usize,
    output: Output<W>,
    recent: Recent,
    rewriter: Option<&'r mut dyn rewrite::Rewriter>,
    scratch: Vec<u8>,
    /// Buffers of frames written, for frames to come: an allocation per frame held at once,
    /// not per frame read.
    pool: Vec<Vec<u8>>,
    last_out: i64,
}

impl<W: Write> Emitter<'_, '_, W> {
    fn emit(&mut self, h: Held, report: &mut Report) -> Result<(), CleanError> {
        let options = self.options;
        if h.ts < self.last_out {
            report.late += 1;
        }
        self.last_out = self.last_out.max(h.ts);
        if options.from_ns.is_some_and(|f| h.ts < f) || options.to_ns.is_some_and(|t| h.ts >= t) {
            report.outside_time += 1;
            return Ok(());
        }
        if let Some(filter) = &options.filter {
            let kept =
                levee_decode::with_decoded(h.linktype, &h.data, h.orig_len, |p| filter.matches(p));
            if !kept {
                report.filtered_out += 1;
                return Ok(());
            }
        }
        if options.dedup_window_ns > 0
            && self.inputs > 1
            && self
                .recent
                .duplicate(packet_hash(h.linktype, &h.data, h.orig_len), h.ts, h.file)
        {
            report.duplicates += 1;
            report.inputs[h.file].duplicates += 1;
            return Ok(());
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&h.data);
        let data = &mut self.scratch;
        let mut keep = data.len();
        if let Some(r) = self.rewriter.as_deref_mut() {
            let walk = rewrite::frame(h.linktype, data, r, options.payload);
            keep = walk.keep;
            if let Some(why) = walk.cut {
                *report.cuts.entry(why).or_insert(0) += 1;
            }
            report.payload_bytes_removed += walk.payload_removed as u64;
            if walk.ip_end.is_some_and(|e| e < keep) && r.scrubs_padding() {
                report.padding_zeroed += 1;
            }
        } else if let Payload::Cut(_) = options.payload {
            // Without a key nothing is hidden: a frame the walk cannot follow is kept whole.
            let walk = rewrite::frame(h.linktype, data, &mut rewrite::Unchanged, options.payload);
            if walk.cut.is_none() {
                keep = walk.keep;
                report.payload_bytes_removed += walk.payload_removed as u64;
            }
        }
        report.written += 1;
        self.output.write(&h, &data[..keep])?;
        self.pool.push(h.data);
        Ok(())
    }
}

/// Cleans `inputs` into `out` (named `out_name`), as `options` say; with a key, what was
/// anonymised goes to `mapping` (a writer and its name) when given.
pub fn clean<W: Write>(
    inputs: &[PathBuf],
    out: W,
    out_name: &str,
    options: &Options,
    mapping: Option<(Box<dyn Write>, String)>,
) -> Result<Report, CleanError> {
    let mut anonymiser = match options.key {
        Some(key) => Some(Anonymiser::new(&key, mapping)?),
        None => None,
    };
    let rewriter = anonymiser.as_mut().map(|a| a as &mut dyn rewrite::Rewriter);
    let report = run(inputs, out, out_name, options, rewriter)?;
    if let Some(a) = anonymiser.as_mut() {
        a.finish()?;
    }
    Ok(report)
}

/// Turns a capture [`clean`] anonymised back, with the `mapping` it wrote.
pub fn reverse<W: Write>(
    input: &Path,
    mapping: &Path,
    out: W,
    out_name: &str,
) -> Result<Report, CleanError> {
    let mut restorer = Restorer::read(mapping)?;
    let options = Options {
        dedup_window_ns: 0,
        reorder_window_ns: 0,
        ..Options::default()
    };
    run(
        &[input.to_path_buf()],
        out,
        out_name,
        &options,
        Some(&mut restorer),
    )
}

fn run<W: Write>(
    inputs: &[PathBuf],
    out: W,
    out_name: &str,
    options: &Options,
    rewriter: Option<&mut dyn rewrite::Rewriter>,
) -> Result<Report, CleanError> {
    let mut readers = Vec::new();
    let mut report = Report::default();
    for path in inputs {
        let file = path.display().to_string();
        let reader = CaptureReader::open(path).map_err(|e| CleanError::Unreadable {
            file: file.clone(),
            why: e.to_string(),
        })?;
        readers.push(reader);
        report.inputs.push(InputReport {
            file,
            ..InputReport::default()
        });
    }
    let mut merged = MergedCapture::new(readers);
    let writer = PcapngWriter::new(out).map_err(|e| CleanError::Unwritable {
        file: out_name.to_string(),
        why: e.to_string(),
    })?;
    let mut emitter = Emitter {
        options,
        inputs: inputs.len(),
        output: Output {
            writer,
            interfaces: HashMap::new(),
            name: out_name.to_string(),
        },
        recent: Recent {
            window: options.dedup_window_ns,
            seen: HashMap::default(),
            order: VecDeque::new(),
        },
        rewriter,
        scratch: Vec::new(),
        pool: Vec::new(),
        last_out: i64::MIN,
    };
    let latest_possible = now_ns() + DAY_NS;
    // Frames in the order they came while their times rise (nearly all), and a heap for those
    // that came out of order: the next frame out is the earlier of the two fronts.
    let mut queue: VecDeque<Held> = VecDeque::new();
    let mut heap: BinaryHeap<Reverse<Held>> = BinaryHeap::new();
    let (mut newest, mut last_in, mut seq) = (i64::MIN, None::<i64>, 0u64);
    while let Some(item) = merged.next_item() {
        let f = match item {
            Item::Frame(f) => f,
            Item::Damaged(e) => {
                report.damage.push(e.to_string());
                continue;
            }
        };
        report.inputs[f.file].frames += 1;
        let mut ts = f.ts_nanos;
        if !(EARLIEST_NS..=latest_possible).contains(&ts) {
            if let Some(before) = last_in {
                ts = before;
            }
            report.times_fixed += 1;
        }
        last_in = Some(ts);
        if ts < newest {
            report.reordered += 1;
        }
        newest = newest.max(ts);
        seq += 1;
        let mut data = emitter.pool.pop().unwrap_or_default();
        data.clear();
        data.extend_from_slice(f.data);
        let held = Held {
            ts,
            seq,
            linktype: f.linktype,
            orig_len: f.orig_len,
            file: f.file,
            data,
        };
        if queue.back().map_or(true, |b| b.ts <= ts) {
            queue.push_back(held);
        } else {
            heap.push(Reverse(held));
        }
        let horizon = newest.saturating_sub(options.reorder_window_ns);
        while let Some(h) = next_due(&mut queue, &mut heap, horizon) {
            emitter.emit(h, &mut report)?;
        }
    }
    while let Some(h) = next_due(&mut queue, &mut heap, i64::MAX) {
        emitter.emit(h, &mut report)?;
    }
    // Frames put back in order are not late; those still out of order are.
    report.reordered = report.reordered.saturating_sub(report.late);
    emitter
        .output
        .writer
        .finish()
        .map_err(|e| CleanError::Unwritable {
            file: out_name.to_string(),
            why: e.to_string(),
        })?;
    let rewriter = emitter.rewriter;
    if let Some(a) = rewriter {
        report.macs = a.macs();
        report.addresses = a.addresses();
    }
    Ok(report)
}

/// The earliest frame held, if it is due: at or before `horizon`, or every buffer full.
fn next_due(
    queue: &mut VecDeque<Held>,
    heap: &mut BinaryHeap<Reverse<Held>>,
    horizon: i64,
) -> Option<Held> {
    let full = queue.len() + heap.len() > MAX_HELD;
    let from_heap = match (queue.front(), heap.peek()) {
        (None, None) => return None,
        (Some(_), None) => false,
        (None, Some(_)) => true,
        (Some(q), Some(Reverse(h))) => h < q,
    };
    let ts = if from_heap {
        heap.peek().map(|Reverse(h)| h.ts)
    } else {
        queue.front().map(|h| h.ts)
    }?;
    if ts > horizon && !full {
        return None;
    }
    if from_heap {
        heap.pop().map(|Reverse(h)| h)
    } else {
        queue.pop_front()
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
