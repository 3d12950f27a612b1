//! Captures of flow exports read as the traffic their records describe.
//!
//! A capture is one of flow exports when nearly all of its first packets are UDP datagrams
//! that start like NetFlow v5, v9, IPFIX or sFlow v5 ([`is_export_capture`]): told by content,
//! whatever the ports, so `levee analyze flows.pcap` just works. Its datagrams go to
//! `levee-flow`'s decoder with the address they came from; every record becomes the packets
//! it stands for (`levee_flow::packets`), scaled by its sampling rate, and those go on in time
//! order to whatever reads packets. A damaged datagram is told to the reading's observer with
//! the file and record it came in, and the others are read.
//!
//! What flows cannot show is said where it matters: payloads, per-packet TTL (unless
//! exported), TCP windows, IP ids and options, and the order of a handshake's packets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

use levee_analyze::summary::{FileInfo, FlowExports, SamplingRate};
use levee_capture::{CaptureReader, Frame, Item};
use levee_decode::{Packet, Transport};
use levee_flow::json::{JsonError, JsonFlavor};
use levee_flow::packets::{self, Reorder, Scaling};
use levee_flow::{Decoder, FlowError, FlowRecord};

/// Packets looked at to tell a capture of exports.
const SNIFFED: usize = 64;
/// How far behind the newest export a part of a record may come and still be put in order:
/// flows last up to the exporter's active timeout (a minute, commonly), and come after it.
const HORIZON_NS: i64 = 120 * 1_000_000_000;
/// The most parts held for ordering.
const HELD_PARTS: usize = 1 << 20;
/// Exporters named in [`FlowExports::exporters`].
const NAMED_EXPORTERS: usize = 64;

/// A damaged flow export datagram, or a flow record of a JSON file that cannot be read.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BadExport {
    /// A datagram of a capture of exports.
    #[error("{file}: record {record} (offset {offset}): flow export from {exporter}: {error}")]
    Datagram {
        /// The capture file, as named.
        file: String,
        /// Zero-based index of the packet in the file.
        record: u64,
        /// Byte offset of the record in the (decompressed) file.
        offset: u64,
        /// Who sent it.
        exporter: IpAddr,
        /// What is wrong.
        error: FlowError,
    },
    /// A record of a file of JSON flow records.
    #[error("{file}: {error}")]
    Json {
        /// The file, as named.
        file: String,
        /// The record and what is wrong with it.
        error: JsonError,
    },
}

/// The UDP payload of a decoded packet and its source address.
fn export_datagram<'a>(p: &Packet<'a>) -> Option<(IpAddr, &'a [u8])> {
    let ip = p.ip.as_ref()?;
    matches!(p.transport, Transport::Udp(_)).then_some((ip.src, p.payload))
}

/// Whether the capture at `path` holds flow exports: at least 90 % of its first packets are
/// UDP datagrams that start like an export. Standard input (`-`) cannot be read twice: it is
/// not looked at (the commands that read their inputs twice spool it to a file first).
pub fn is_export_capture(path: &Path) -> bool {
    if path == Path::new("-") {
        return false;
    }
    let Ok(mut reader) = CaptureReader::open(path) else {
        return false;
    };
    let (mut frames, mut exports) = (0usize, 0usize);
    while frames < SNIFFED {
        let Some(item) = reader.next_item() else {
            break;
        };
        let Item::Frame(f) = item else { continue };
        frames += 1;
        let export = levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            export_datagram(p).is_some_and(|(_, d)| levee_flow::looks_like_export(d))
        });
        exports += usize::from(export);
    }
    exports > 0 && exports * 10 >= frames * 9
}

/// Which collector's JSON flow records the file at `path` holds (plain, gzip or zstd), if it
/// holds any. Standard input is not looked at (see [`is_export_capture`]).
pub fn json_flavor(path: &Path) -> Option<JsonFlavor> {
    if path == Path::new("-") {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    let (stream, _) = levee_logs::decompressed(Box::new(file)).ok()?;
    let mut head = Vec::with_capacity(64 << 10);
    std::io::Read::read_to_end(&mut std::io::Read::take(stream, 64 << 10), &mut head).ok()?;
    levee_flow::json::sniff(&head)
}

/// The reading of the export captures of a run: decoder, ordering, and what each file held.
pub(crate) struct FlowFeed {
    decoder: Decoder,
    reorder: Reorder,
    scaling: Scaling,
    records: Vec<FlowRecord>,
    files: BTreeMap<usize, FileTally>,
    /// Damaged datagrams, all files together (the first are told one by one).
    damaged: u64,
}

/// What one export capture held, as it is read.
#[derive(Default)]
struct FileTally {
    exports: FlowExports,
    formats: BTreeSet<levee_flow::Format>,
    exporters: BTreeSet<IpAddr>,
    rates: BTreeMap<(u64, bool), u64>,
}

impl FlowFeed {
    /// A reading whose records without a stated rate are sampled 1 in `default_rate`.
    pub(crate) fn new(default_rate: u32) -> FlowFeed {
        FlowFeed {
            decoder: Decoder::new(),
            reorder: Reorder::new(HORIZON_NS, HELD_PARTS),
            scaling: Scaling { default_rate },
            records: Vec::new(),
            files: BTreeMap::new(),
            damaged: 0,
        }
    }

    /// Reads one packet of an export capture (`name`: its file, as named), handing the
    /// packets whose time has come to `each`, and a damaged datagram to `damaged` (with how
    /// many were damaged so far).
    pub(crate) fn frame(
        &mut self,
        f: &Frame<'_>,
        name: &str,
        damaged: &mut dyn FnMut(BadExport, u64),
        each: &mut dyn FnMut(i64, &Packet<'_>),
    ) {
        let tally = self.files.entry(f.file).or_default();
        let records = &mut self.records;
        records.clear();
        let decoder = &mut self.decoder;
        let outcome = levee_decode::with_decoded(f.linktype, f.data, f.orig_len, |p| {
            let (exporter, datagram) = export_datagram(p)?;
            Some((exporter, decoder.decode(exporter, datagram, records)))
        });
        let Some((exporter, result)) = outcome else {
            tally.exports.other_packets += 1;
            return;
        };
        tally.exports.datagrams += 1;
        if let Err(error) = result {
            tally.exports.damaged_datagrams += 1;
            self.damaged += 1;
            damaged(
                BadExport::Datagram {
                    file: name.to_string(),
                    record: f.index,
                    offset: f.offset,
                    exporter,
                    error,
                },
                self.damaged,
            );
        }
        if tally.exporters.len() < NAMED_EXPORTERS {
            tally.exporters.insert(exporter);
        }
        let records = std::mem::take(&mut self.records);
        for r in &records {
            self.record(f.file, r, f.ts_nanos);
        }
        self.records = records;
        self.reorder.now(f.ts_nanos);
        self.reorder
            .ready(|part| part.with_packet(|p| each(part.ts, p)));
    }

    /// One record of export capture or JSON file `file`, received at `received_ns`.
    fn record(&mut self, file: usize, r: &FlowRecord, received_ns: i64) {
        let tally = self.files.entry(file).or_default();
        tally.exports.records += 1;
        tally.exports.counted_packets += r.packets;
        tally.exports.counted_bytes += r.bytes;
        tally.formats.insert(r.format);
        if tally.exporters.len() < NAMED_EXPORTERS && !r.exporter.is_unspecified() {
            tally.exporters.insert(r.exporter);
        }
        let rate = packets::rate_of(r, self.scaling);
        *tally.rates.entry((rate, r.sampling_known)).or_insert(0) += 1;
        packets::parts(r, received_ns, self.scaling, |part| self.reorder.push(part));
    }

    /// Reads a file of JSON flow records (`path`, named `name`), as file `file` of the run:
    /// its packets to `each`, its damaged records to `damaged` (with how many so far). Returns
    /// what it held, or why it could not be read.
    pub(crate) fn json_file(
        &mut self,
        file: usize,
        path: &Path,
        name: &str,
        flavor: JsonFlavor,
        damaged: &mut dyn FnMut(BadExport, u64),
        each: &mut dyn FnMut(i64, &Packet<'_>),
    ) -> std::io::Result<FileInfo> {
        let (mut stream, compression) =
            levee_logs::decompressed(Box::new(std::fs::File::open(path)?))?;
        self.files.entry(file).or_default();
        let mut newest = i64::MIN;
        levee_flow::json::read(&mut stream, flavor, &mut |r| match r {
            Ok(r) => {
                let at = r.end_ns.or(r.start_ns).unwrap_or(newest.max(0));
                self.record(file, &r, at);
                newest = newest.max(at);
                self.reorder.now(newest);
                self.reorder
                    .ready(|part| part.with_packet(|p| each(part.ts, p)));
            }
            Err(error) => {
                self.damaged += 1;
                if let Some(t) = self.files.get_mut(&file) {
                    t.exports.damaged_datagrams += 1;
                }
                damaged(
                    BadExport::Json {
                        file: name.to_string(),
                        error,
                    },
                    self.damaged,
                );
            }
        });
        let records = self.files.get(&file).map_or(0, |t| t.exports.records);
        Ok(FileInfo {
            name: name.to_string(),
            format: match flavor {
                JsonFlavor::Nfdump => "nfdump-json",
                JsonFlavor::Goflow2 => "goflow2-json",
            }
            .into(),
            compression: compression.into(),
            packets: records,
            flows: None,
        })
    }

    /// Hands on every part still held, in time order. Returns the damaged datagrams.
    pub(crate) fn finish(&mut self, each: &mut dyn FnMut(i64, &Packet<'_>)) -> u64 {
        self.reorder
            .finish(|part| part.with_packet(|p| each(part.ts, p)));
        self.damaged
    }

    /// What the export capture read as file `index` held, if it was one.
    pub(crate) fn exports(&self, index: usize) -> Option<FlowExports> {
        let t = self.files.get(&index)?;
        let mut e = t.exports.clone();
        e.formats = t.formats.iter().map(|f| f.to_string()).collect();
        e.exporters = t.exporters.iter().map(|a| a.to_string()).collect();
        e.sampling = t
            .rates
            .iter()
            .map(|(&(rate, stated), &records)| SamplingRate {
                rate,
                stated,
                records,
            })
            .collect();
        e.unexplained_sets = self.decoder.stats().dropped_sets;
        Some(e)
    }
}
