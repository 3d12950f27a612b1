//! pcapng files: several sections and interfaces (each with its own link type, snapshot length,
//! timestamp resolution and offset), enhanced, simple and obsolete packet blocks. Blocks are
//! parsed by `pcap-parser`; every other block type (statistics, name resolution, comments in
//! options, custom blocks) is skipped.

use pcap_parser::pcapng::{parse_block_be, parse_block_le, Block};
use pcap_parser::traits::PcapNGPacketBlock;

use crate::error::{RecordProblem, Recovery};
use crate::window::{Window, MAX_WINDOW};
use crate::{Damage, RawFrame};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OBSOLETE_PACKET: u32 = 2;
const SPB: u32 = 3;
const NRB: u32 = 4;
const ISB: u32 = 5;
const EPB: u32 = 6;
const BOM: u32 = 0x1A2B_3C4D;
/// Decryption secrets, and custom blocks (copyable or not): skipped, but known.
const DSB: u32 = 0x0A;
const CUSTOM: u32 = 0xBAD;
const CUSTOM_COPIED: u32 = 0x4000_0BAD;
const RESYNC_LIMIT: usize = 1 << 20;

#[derive(Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second.
    units_per_sec: u64,
    offset_sec: i64,
}

#[derive(Clone)]
pub(crate) struct PcapngFormat {
    big_endian: bool,
    interfaces: Vec<Interface>,
    /// Interfaces described before any packet: only for reporting link types early.
    first_linktype: Option<u32>,
    /// Section headers and interface descriptions read: a reader started in the middle of the
    /// file knows only those before the first packet (see `crate::split`).
    descriptions: u64,
}

pub(crate) fn magic_is_pcapng(m: [u8; 4]) -> bool {
    u32::from_le_bytes(m) == SHB
}

fn read_u32(b: &[u8], at: usize, be: bool) -> u32 {
    let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

impl PcapngFormat {
    pub(crate) fn open(w: &mut Window) -> Result<PcapngFormat, String> {
        if !w.ensure(12).map_err(|e| e.to_string())? {
            return Err("file ends inside the first section header block".into());
        }
        let b = w.bytes();
        let big_endian = match u32::from_le_bytes([b[8], b[9], b[10], b[11]]) {
            BOM => false,
            x if x.swap_bytes() == BOM => true,
            other => return Err(format!("section header byte-order magic is {other:#010x}")),
        };
        Ok(PcapngFormat {
            big_endian,
            interfaces: Vec::new(),
            first_linktype: None,
            descriptions: 0,
        })
    }

    pub(crate) fn linktype(&self) -> Option<u32> {
        self.first_linktype
    }

    /// Section headers and interface descriptions read so far.
    pub(crate) fn descriptions(&self) -> u64 {
        self.descriptions
    }

    /// The first position in `b` (bytes read from a 4-byte aligned offset inside the file,
    /// `at_eof` when they run to its end) where `chain` blocks follow each other, each of a
    /// known type, with a plausible length repeated at its end, and packets only on interfaces
    /// described so far (or fewer blocks, ending exactly at the end of the file). Used to start
    /// reading a file in the middle (see `crate::split`).
    pub(crate) fn block_start_in(&self, b: &[u8], at_eof: bool, chain: usize) -> Option<usize> {
        let be = self.big_endian;
        let chain_holds = |from: usize| -> bool {
            let mut at = from;
            for held in 0..chain {
                if at == b.len() && at_eof {
                    return true;
                }
                let Some(head) = b.get(at..at + 12) else {
                    return false;
                };
                let kind = read_u32(head, 0, be);
                let Some(len) = self.block_len(head, be) else {
                    return false;
                };
                let known = matches!(
                    kind,
                    IDB | OBSOLETE_PACKET
                        | SPB
                        | NRB
                        | ISB
                        | EPB
                        | SHB
                        | DSB
                        | CUSTOM
                        | CUSTOM_COPIED
                );
                let Some(block) = b.get(at..at + len) else {
                    // The chain runs past what was read (large blocks): enough of it held.
                    return known && held >= 4;
                };
                if !known
                    || read_u32(block, len - 4, be) as usize != len
                    || (kind == EPB && read_u32(block, 8, be) as usize >= self.interfaces.len())
                {
                    return false;
                }
                at += len;
            }
            true
        };
        (0..b.len().saturating_sub(12))
            .step_by(4)
            .find(|&skip| chain_holds(skip))
    }

    /// Checks a block header at the start of `b`; returns the block length when plausible.
    fn block_len(&self, b: &[u8], be: bool) -> Option<usize> {
        let len = read_u32(b, 4, be);
        if len < 12 || !len.is_multiple_of(4) || len as usize > MAX_WINDOW {
            return None;
        }
        Some(len as usize)
    }

    pub(crate) fn next(
        &mut self,
        w: &mut Window,
        damage: &mut Vec<Damage>,
    ) -> std::io::Result<Option<RawFrame>> {
        loop {
            let offset = w.offset();
            if !w.ensure(12)? {
                let left = w.bytes().len();
                if left > 0 {
                    damage.push(Damage::new(
                        offset,
                        RecordProblem::TruncatedRecord {
                            needed: 12,
                            available: left as u64,
                        },
                        Recovery::Stopped,
                    ));
                    w.consume(left);
                }
                return Ok(None);
            }
            // A section header sets the byte order of everything up to the next one.
            let b = w.bytes();
            if read_u32(b, 0, false) == SHB {
                match read_u32(b, 8, false) {
                    BOM => self.big_endian = false,
                    x if x.swap_bytes() == BOM => self.big_endian = true,
                    _ => {}
                }
            }
            let be = self.big_endian;
            let block_type = read_u32(b, 0, be);
            let Some(len) = self.block_len(b, be) else {
                let problem = RecordProblem::BadBlockLength {
                    length: read_u32(b, 4, be),
                };
                let recovery = self.resync(w)?;
                damage.push(Damage::new(offset, problem, recovery));
                if recovery == Recovery::Stopped {
                    return Ok(None);
                }
                continue;
            };
            if !w.ensure(len)? {
                let left = w.bytes().len();
                damage.push(Damage::new(
                    offset,
                    RecordProblem::TruncatedRecord {
                        needed: len as u64,
                        available: left as u64,
                    },
                    Recovery::Stopped,
                ));
                w.consume(left);
                return Ok(None);
            }
            let b = &w.bytes()[..len];
            if read_u32(b, len - 4, be) as usize != len {
                let problem = RecordProblem::BadBlockLength {
                    length: read_u32(b, 4, be),
                };
                let recovery = self.resync(w)?;
                damage.push(Damage::new(offset, problem, recovery));
                if recovery == Recovery::Stopped {
                    return Ok(None);
                }
                continue;
            }
            if block_type == EPB {
                if let Some(frame) = self.enhanced_packet(b, offset) {
                    w.consume(len);
                    return Ok(Some(frame));
                }
            }
            let result = self.block(b, block_type, offset);
            w.consume(len);
            match result {
                Ok(Some(frame)) => return Ok(Some(frame)),
                Ok(None) => continue,
                Err(problem) => damage.push(Damage::new(offset, problem, Recovery::Skipped)),
            }
        }
    }

    /// Interprets one complete block whose lengths were checked. Packets come back as frames;
    /// interface descriptions are remembered; everything else is skipped.
    fn block(
        &mut self,
        b: &[u8],
        block_type: u32,
        offset: u64,
    ) -> Result<Option<RawFrame>, RecordProblem> {
        let be = self.big_endian;
        let malformed = |what: String| RecordProblem::MalformedBlock { block_type, what };
        match block_type {
            EPB | SPB | IDB | SHB => {}
            OBSOLETE_PACKET => return self.obsolete_packet(b, offset),
            NRB | ISB => return Ok(None),
            _ => return Ok(None),
        }
        let parsed = if be {
            parse_block_be(b)
        } else {
            parse_block_le(b)
        };
        let block = match parsed {
            Ok((_, block)) => block,
            Err(e) => return Err(malformed(format!("{e:?}"))),
        };
        match block {
            Block::SectionHeader(_) => {
                self.descriptions += 1;
                self.interfaces.clear();
                Ok(None)
            }
            Block::InterfaceDescription(idb) => {
                self.descriptions += 1;
                let linktype = (idb.linktype.0 as u32) & 0xffff;
                self.first_linktype.get_or_insert(linktype);
                // An unusable resolution (beyond 10^19 units per second) falls back to the
                // default of microseconds rather than failing every packet of the interface.
                let units_per_sec = idb.ts_resolution().unwrap_or(1_000_000).max(1);
                self.interfaces.push(Interface {
                    linktype,
                    snaplen: idb.snaplen,
                    units_per_sec,
                    offset_sec: idb.ts_offset(),
                });
                Ok(None)
            }
            Block::EnhancedPacket(epb) => {
                let iface = self.interface(epb.if_id)?;
                let data = epb.packet_data();
                Ok(Some(RawFrame {
                    ts_nanos: iface.nanos(epb.ts_high, epb.ts_low),
                    untimed: false,
                    linktype: iface.linktype,
                    orig_len: epb.orig_len().max(data.len() as u32),
                    data_offset: offset + (data.as_ptr() as usize - b.as_ptr() as usize) as u64,
                    data_len: data.len() as u32,
                    interface: epb.if_id,
                    record_offset: offset,
                }))
            }
            Block::SimplePacket(spb) => {
                let iface = self.interface(0)?;
                let mut data = spb.packet_data();
                if iface.snaplen != 0 && data.len() > iface.snaplen as usize {
                    data = &data[..iface.snaplen as usize];
                }
                // Simple packet blocks carry no timestamp.
                Ok(Some(RawFrame {
                    ts_nanos: 0,
                    untimed: true,
                    linktype: iface.linktype,
                    orig_len: spb.orig_len().max(data.len() as u32),
                    data_offset: offset + (data.as_ptr() as usize - b.as_ptr() as usize) as u64,
                    data_len: data.len() as u32,
                    interface: 0,
                    record_offset: offset,
                }))
            }
            _ => Ok(None),
        }
    }

    /// The fast path for the usual block, a sound enhanced packet block on a described
    /// interface (`b` is the whole block, its lengths checked): its fields are at fixed places,
    /// read here without `pcap-parser`, which cost about 550 instructions a packet (its parser
    /// also walks the block's options, which levee does not use). `None` sends anything else
    /// (a captured length beyond the block, an undescribed interface) to the careful path,
    /// which reports it.
    #[inline]
    fn enhanced_packet(&self, b: &[u8], offset: u64) -> Option<RawFrame> {
        const DATA: usize = 28;
        let be = self.big_endian;
        let caplen = read_u32(b.get(..DATA)?, 20, be) as usize;
        if DATA + caplen > b.len().checked_sub(4)? {
            return None;
        }
        let interface = read_u32(b, 8, be);
        let iface = self.interfaces.get(interface as usize)?;
        let frame = RawFrame {
            ts_nanos: iface.nanos(read_u32(b, 12, be), read_u32(b, 16, be)),
            untimed: false,
            linktype: iface.linktype,
            orig_len: read_u32(b, 24, be).max(caplen as u32),
            data_offset: offset + DATA as u64,
            data_len: caplen as u32,
            interface,
            record_offset: offset,
        };
        #[cfg(debug_assertions)]
        {
            // The careful path agrees on every block the fast path takes.
            let mut careful = self.clone();
            let slow = careful.block(b, EPB, offset).ok().flatten();
            debug_assert_eq!(
                slow.map(|f| (f.ts_nanos, f.orig_len, f.data_offset, f.data_len)),
                Some((
                    frame.ts_nanos,
                    frame.orig_len,
                    frame.data_offset,
                    frame.data_len
                ))
            );
        }
        Some(frame)
    }

    /// The obsolete Packet Block (type 2): `pcap-parser` does not know it, but old writers
    /// still produce it. Layout: interface (u16), drops (u16), timestamp high and low, captured
    /// and original length, data.
    fn obsolete_packet(&self, b: &[u8], offset: u64) -> Result<Option<RawFrame>, RecordProblem> {
        let be = self.big_endian;
        if b.len() < 32 {
            return Err(RecordProblem::MalformedBlock {
                block_type: OBSOLETE_PACKET,
                what: "shorter than its fixed fields".into(),
            });
        }
        let if_id = if be {
            u16::from_be_bytes([b[8], b[9]])
        } else {
            u16::from_le_bytes([b[8], b[9]])
        } as u32;
        let iface = self.interface(if_id)?;
        let caplen = read_u32(b, 20, be) as usize;
        let origlen = read_u32(b, 24, be);
        let avail = b.len() - 32;
        if caplen > avail {
            return Err(RecordProblem::MalformedBlock {
                block_type: OBSOLETE_PACKET,
                what: format!("captured length {caplen} exceeds the block's {avail} data bytes"),
            });
        }
        Ok(Some(RawFrame {
            ts_nanos: iface.nanos(read_u32(b, 12, be), read_u32(b, 16, be)),
            untimed: false,
            linktype: iface.linktype,
            orig_len: origlen.max(caplen as u32),
            data_offset: offset + 28,
            data_len: caplen as u32,
            interface: if_id,
            record_offset: offset,
        }))
    }

    fn interface(&self, id: u32) -> Result<Interface, RecordProblem> {
        self.interfaces
            .get(id as usize)
            .copied()
            .ok_or(RecordProblem::UnknownInterface { interface: id })
    }

    /// After a block with an impossible length: looks for the next 4-byte aligned position that
    /// starts a known block type whose leading and trailing lengths agree.
    fn resync(&mut self, w: &mut Window) -> std::io::Result<Recovery> {
        let start = w.offset();
        w.ensure(RESYNC_LIMIT + MAX_WINDOW / 4)?;
        let be = self.big_endian;
        let b = w.bytes();
        let limit = RESYNC_LIMIT.min(b.len());
        let mut skip = 4;
        while skip + 12 <= limit {
            let cand = &b[skip..];
            let t = read_u32(cand, 0, be);
            if matches!(t, SHB | IDB | SPB | NRB | ISB | EPB) {
                if let Some(len) = self.block_len(cand, be) {
                    if cand.len() >= len && read_u32(cand, len - 4, be) as usize == len {
                        w.consume(skip);
                        return Ok(Recovery::Resynchronised {
                            skipped_bytes: w.offset() - start,
                        });
                    }
                }
            }
            skip += 4;
        }
        let left = w.bytes().len();
        w.consume(left);
        Ok(Recovery::Stopped)
    }
}

impl Interface {
    /// Converts a 64-bit pcapng timestamp in this interface's units to nanoseconds since 1970.
    fn nanos(&self, high: u32, low: u32) -> i64 {
        let ticks = ((high as u64) << 32) | low as u64;
        let units = self.units_per_sec as u128;
        let ns = (ticks as u128 / units) * 1_000_000_000
            + (ticks as u128 % units) * 1_000_000_000 / units;
        (ns.min(i64::MAX as u128) as i64)
            .saturating_add(self.offset_sec.saturating_mul(1_000_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The enhanced packet blocks of the pcapng files checked into the repository (both byte
    /// orders, beside simple and obsolete packet blocks), so this proof always runs.
    #[test]
    fn the_enhanced_packet_fast_path_agrees_with_pcap_parser_on_the_checked_in_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures");
        let (files, compared) = enhanced_packet_fast_path_on(&dir);
        assert!(
            files >= 3 && compared >= 8,
            "{files} files, {compared} blocks"
        );
    }

    /// Every enhanced packet block of every pcapng file in the shared corpus: the fast path
    /// gives what `pcap-parser`'s careful path gives, wherever it takes a block.
    #[test]
    #[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
    fn the_enhanced_packet_fast_path_agrees_with_pcap_parser() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/tcpdump-tests");
        let (files, compared) = enhanced_packet_fast_path_on(&dir);
        assert!(
            files >= 40 && compared >= 300,
            "{files} files, {compared} blocks compared"
        );
    }

    /// (pcapng files, enhanced packet blocks compared) under `dir`.
    fn enhanced_packet_fast_path_on(dir: &std::path::Path) -> (usize, usize) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let (mut files, mut compared) = (0, 0);
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            if bytes.len() < 12 || !magic_is_pcapng(bytes[..4].try_into().unwrap()) {
                continue;
            }
            files += 1;
            let mut format = PcapngFormat {
                big_endian: false,
                interfaces: Vec::new(),
                first_linktype: None,
                descriptions: 0,
            };
            let mut at = 0;
            while at + 12 <= bytes.len() {
                let b = &bytes[at..];
                if read_u32(b, 0, false) == SHB {
                    format.big_endian = read_u32(b, 8, false) != BOM;
                }
                let be = format.big_endian;
                let Some(len) = format.block_len(b, be).filter(|&l| l <= b.len()) else {
                    break;
                };
                let block = &b[..len];
                let kind = read_u32(block, 0, be);
                if kind == EPB {
                    if let Some(fast) = format.enhanced_packet(block, at as u64) {
                        let careful = format.block(block, EPB, at as u64);
                        let careful = careful.ok().flatten().map(|f| {
                            (
                                f.ts_nanos,
                                f.linktype,
                                f.orig_len,
                                f.data_offset,
                                f.data_len,
                            )
                        });
                        let fast = (
                            fast.ts_nanos,
                            fast.linktype,
                            fast.orig_len,
                            fast.data_offset,
                            fast.data_len,
                        );
                        assert_eq!(careful, Some(fast), "{} at {at}", path.display());
                        compared += 1;
                    }
                } else {
                    let _ = format.block(block, kind, at as u64);
                }
                at += len;
            }
        }
        (files, compared)
    }
}
