//! Classic libpcap files: micro- and nanosecond timestamps, both byte orders, and the
//! little-endian "modified" (Kuznetzov) variant with its longer record header. The big-endian
//! modified variant is refused with a clear message: `pcap-parser` does not read it, and no
//! capture of it was found to test against.
//!
//! The global header is parsed by `pcap-parser`. A sound record (plausible time, length within
//! the snapshot length, whole in the buffer) is read directly (`PcapFormat::peek_whole`); any
//! other goes to the careful path, which validates the record length first (so a damaged
//! length cannot make the reader wait for gigabytes), parses it with `pcap-parser`, and when a
//! record header is impossible searches forward for the next plausible one.

#[cfg(debug_assertions)]
use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified};
use pcap_parser::pcap::{parse_pcap_header, PcapHeader};

use crate::error::{RecordProblem, Recovery, PLAUSIBLE_SINCE_S};
use crate::window::Window;
use crate::{Damage, RawFrame, MAX_CAPLEN};

/// How far forward the reader looks for the next plausible record after a damaged one.
const RESYNC_LIMIT: usize = 1 << 20;

/// How many records in a row must be plausible where a part of a split file starts. A false
/// start needs sixteen headers of random bytes in a row to look right, each landing exactly
/// where the one before ends.
pub(crate) const SPLIT_CHAIN: usize = 16;

#[derive(Clone)]
pub(crate) struct PcapFormat {
    big_endian: bool,
    modified: bool,
    nanos: bool,
    snaplen: u32,
    linktype: u32,
    /// Timestamp of the last good record, to judge candidate records when resynchronising.
    last_ts_sec: Option<u32>,
    /// The largest captured length the fast path accepts without a warning.
    caplen_limit: u32,
    /// Records timed in `[PLAUSIBLE_SINCE_S, ts_max_sec]` may take the fast path; others go
    /// the careful way, where the reader reports them.
    ts_max_sec: u32,
}

/// A record found by [`PcapFormat::peek_whole`], not yet consumed.
#[derive(Clone, Copy)]
pub(crate) struct PeekedRecord {
    ts_sec: u32,
    pub(crate) ts_nanos: i64,
    pub(crate) header_len: u32,
    pub(crate) caplen: u32,
    pub(crate) orig_len: u32,
    pub(crate) linktype: u32,
}

impl PeekedRecord {
    /// The record's length with its header.
    pub(crate) fn total(&self) -> usize {
        self.header_len as usize + self.caplen as usize
    }
}

/// Moves past record headers of zeros (`hl` bytes each) and a shorter tail of zeros at the
/// end of the file: how many headers, and how many bytes in all.
fn skip_zero_headers(w: &mut Window, hl: usize) -> std::io::Result<(u64, u64)> {
    let (mut records, mut bytes) = (0u64, 0u64);
    loop {
        w.ensure(hl)?;
        let b = w.bytes();
        let take = b.len().min(hl);
        if take == 0 || b[..take].iter().any(|&x| x != 0) {
            return Ok((records, bytes));
        }
        records += u64::from(take == hl);
        bytes += take as u64;
        w.consume(take);
    }
}

pub(crate) fn magic_is_pcap(m: [u8; 4]) -> bool {
    matches!(
        u32::from_le_bytes(m),
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 | 0xa1b2_cd34 | 0x34cd_b2a1
    )
}

impl PcapFormat {
    /// Reads the 24-byte global header.
    pub(crate) fn open(w: &mut Window) -> Result<PcapFormat, String> {
        if !w.ensure(24).map_err(|e| e.to_string())? {
            return Err(format!(
                "file ends after {} bytes, inside the 24-byte pcap header",
                w.bytes().len()
            ));
        }
        if w.bytes()[..4] == [0xa1, 0xb2, 0xcd, 0x34] {
            return Err(
                "big-endian \"modified\" (Kuznetzov) pcap is not supported; convert it with \
                 `editcap -F pcap`"
                    .into(),
            );
        }
        let hdr: PcapHeader = match parse_pcap_header(&w.bytes()[..24]) {
            Ok((_, h)) => h,
            Err(e) => return Err(format!("pcap header: {e:?}")),
        };
        w.consume(24);
        let big_endian = hdr.is_bigendian();
        let modified = hdr.is_modified_format();
        let snaplen = hdr.snaplen;
        Ok(PcapFormat {
            caplen_limit: if snaplen == 0 || snaplen > MAX_CAPLEN {
                MAX_CAPLEN
            } else {
                snaplen
            },
            big_endian,
            modified,
            nanos: hdr.is_nanosecond_precision(),
            snaplen: hdr.snaplen,
            // The upper 16 bits of the link-type field hold FCS flags in some writers.
            linktype: (hdr.network.0 as u32) & 0xffff,
            last_ts_sec: None,
            ts_max_sec: crate::latest_plausible_s().min(u32::MAX as i64) as u32,
        })
    }

    /// The largest captured length a record may have without a warning.
    pub(crate) fn caplen_limit(&self) -> u32 {
        self.caplen_limit
    }

    pub(crate) fn linktype(&self) -> u32 {
        self.linktype
    }

    fn header_len(&self) -> usize {
        if self.modified {
            24
        } else {
            16
        }
    }

    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        }
    }

    /// Whether a record header at `b` looks like a real one: used only to resynchronise.
    fn plausible(&self, b: &[u8]) -> bool {
        let ts_sec = self.u32_at(b, 0);
        let frac = self.u32_at(b, 4);
        let caplen = self.u32_at(b, 8);
        let origlen = self.u32_at(b, 12);
        let frac_ok = if self.nanos {
            frac < 1_000_000_000
        } else {
            frac < 1_000_000
        };
        let ts_ok = match self.last_ts_sec {
            Some(last) => ts_sec.abs_diff(last) <= 86_400,
            None => true,
        };
        frac_ok
            && ts_ok
            && caplen > 0
            && caplen <= self.caplen_limit
            && caplen <= origlen
            && origlen <= MAX_CAPLEN * 4
    }

    /// Reads the next record. `Ok(None)` at a clean end of file.
    pub(crate) fn next(
        &mut self,
        w: &mut Window,
        damage: &mut Vec<Damage>,
    ) -> std::io::Result<Option<RawFrame>> {
        if let Some(rec) = self.peek_whole(w.bytes()) {
            return Ok(Some(self.take_record(w, rec)));
        }
        let hl = self.header_len();
        loop {
            let offset = w.offset();
            if !w.ensure(hl)? {
                let left = w.bytes().len();
                if left > 0 {
                    damage.push(Damage::new(
                        offset,
                        RecordProblem::TruncatedRecord {
                            needed: hl as u64,
                            available: left as u64,
                        },
                        Recovery::Stopped,
                    ));
                    w.consume(left);
                }
                return Ok(None);
            }
            let b = w.bytes();
            if b[..hl].iter().all(|&x| x == 0) {
                let (records, bytes) = skip_zero_headers(w, hl)?;
                damage.push(Damage::new(
                    offset,
                    RecordProblem::ZeroFilled { records, bytes },
                    Recovery::Skipped,
                ));
                continue;
            }
            let caplen = self.u32_at(b, 8);
            if caplen > MAX_CAPLEN {
                let problem = RecordProblem::CapturedLengthTooLarge {
                    caplen,
                    limit: MAX_CAPLEN,
                };
                let recovery = self.resync(w)?;
                damage.push(Damage::new(offset, problem, recovery));
                if recovery == Recovery::Stopped {
                    return Ok(None);
                }
                continue;
            }
            let total = hl + caplen as usize;
            if !w.ensure(total)? {
                let left = w.bytes().len();
                damage.push(Damage::new(
                    offset,
                    RecordProblem::TruncatedRecord {
                        needed: total as u64,
                        available: left as u64,
                    },
                    Recovery::Stopped,
                ));
                w.consume(left);
                return Ok(None);
            }
            if caplen > self.caplen_limit {
                damage.push(Damage::new(
                    offset,
                    RecordProblem::CapturedLengthBeyondSnaplen {
                        caplen,
                        snaplen: self.snaplen,
                    },
                    Recovery::Delivered,
                ));
            }
            let h = w.bytes()[..16].try_into().expect("a whole record header");
            let rec = self.header(h);
            return Ok(Some(self.take_record(w, rec)));
        }
    }

    /// The fields of the record header at the start of `h`, in the file's own byte order
    /// (the modified format's longer header starts with the same four fields).
    #[inline(always)]
    fn header(&self, h: &[u8; 16]) -> PeekedRecord {
        let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
        let mut fields = [word(0), word(4), word(8), word(12)];
        if self.big_endian {
            fields = fields.map(u32::swap_bytes);
        }
        let [ts_sec, frac, caplen, origlen] = fields;
        let nanos = if self.nanos {
            frac as i64
        } else {
            frac as i64 * 1000
        };
        PeekedRecord {
            ts_sec,
            ts_nanos: ts_sec as i64 * 1_000_000_000 + nanos,
            header_len: self.header_len() as u32,
            caplen,
            orig_len: origlen.max(caplen),
            linktype: self.linktype,
        }
    }

    /// The record at the start of `b` (the window's bytes) when it is sound and whole: the fast
    /// path of [`crate::CaptureReader`] and of [`Self::next`], which then move past it. Anything
    /// unusual (a short window, a length beyond the snapshot length) is left to the careful
    /// path in [`Self::next`].
    #[inline(always)]
    pub(crate) fn peek_whole(&mut self, b: &[u8]) -> Option<PeekedRecord> {
        let rec = self.header(b.get(..16)?.try_into().ok()?);
        if rec.caplen > self.caplen_limit
            || b.len() < rec.total()
            || rec.caplen == 0
            || rec.ts_sec.wrapping_sub(PLAUSIBLE_SINCE_S as u32)
                > self.ts_max_sec - PLAUSIBLE_SINCE_S as u32
        {
            return None;
        }
        self.last_ts_sec = Some(rec.ts_sec);
        Some(rec)
    }

    /// Moves past a record whose captured length was checked and whose bytes are all in the
    /// window.
    #[inline]
    fn take_record(&mut self, w: &mut Window, rec: PeekedRecord) -> RawFrame {
        let offset = w.offset();
        #[cfg(debug_assertions)]
        {
            let b = &w.bytes()[..rec.total()];
            let parsed = if self.modified {
                parse_pcap_frame_modified(b)
            } else if self.big_endian {
                parse_pcap_frame_be(b)
            } else {
                parse_pcap_frame(b)
            };
            debug_assert!(parsed.is_ok(), "a record of checked length always parses");
        }
        self.last_ts_sec = Some(rec.ts_sec);
        w.consume(rec.total());
        RawFrame {
            ts_nanos: rec.ts_nanos,
            untimed: false,
            linktype: rec.linktype,
            orig_len: rec.orig_len,
            data_offset: offset + u64::from(rec.header_len),
            data_len: rec.caplen,
            interface: 0,
            record_offset: offset,
        }
    }

    /// The first position in `b` (bytes read from somewhere inside the file, `at_eof` when
    /// they run to its end) where [`SPLIT_CHAIN`] plausible record headers follow each other,
    /// each where the one before it ends (or fewer, ending exactly at the end of the file).
    /// Their times must not be before `not_before` (seconds: the file's first record, less a
    /// day), go back by more than an hour, or span more than a day.
    ///
    /// Used to start reading a file in the middle; the thread reading the part before checks
    /// that its records really end there. The times matter: in captures of packets all of one
    /// length, bytes at a fixed place in every packet (one holding the packet's own length,
    /// say) form chains of records as regular as the true ones.
    pub(crate) fn record_start_in(&self, b: &[u8], at_eof: bool, not_before: u32) -> Option<usize> {
        let hl = self.header_len();
        let chain_holds = |from: usize| -> bool {
            let first_ts = self.u32_at(b, from);
            let mut last_ts = first_ts;
            let mut at = from;
            for _ in 0..SPLIT_CHAIN {
                if at == b.len() && at_eof {
                    return true;
                }
                let Some(h) = b.get(at..at + hl) else {
                    return false;
                };
                let ts = self.u32_at(h, 0);
                if !self.plausible(h)
                    || ts < not_before
                    || ts.abs_diff(first_ts) > 86_400
                    || ts.saturating_add(3_600) < last_ts
                {
                    return false;
                }
                last_ts = last_ts.max(ts);
                at += hl + self.u32_at(h, 8) as usize;
            }
            true
        };
        (0..b.len().saturating_sub(hl)).find(|&skip| chain_holds(skip))
    }

    /// Searches forward from a damaged record header for a position where a plausible record
    /// header is followed by another plausible header (or the end of the file).
    fn resync(&mut self, w: &mut Window) -> std::io::Result<Recovery> {
        let hl = self.header_len();
        let start = w.offset();
        w.ensure(RESYNC_LIMIT + 2 * (hl + MAX_CAPLEN as usize))?;
        let b = w.bytes();
        let limit = RESYNC_LIMIT.min(b.len());
        for skip in 1..limit {
            let cand = &b[skip..];
            if cand.len() < hl || !self.plausible(cand) {
                continue;
            }
            let next = hl + self.u32_at(cand, 8) as usize;
            let confirmed = if cand.len() == next {
                true
            } else if cand.len() >= next + hl {
                self.plausible(&cand[next..])
            } else {
                false
            };
            if confirmed {
                w.consume(skip);
                return Ok(Recovery::Resynchronised {
                    skipped_bytes: w.offset() - start,
                });
            }
        }
        let left = w.bytes().len();
        w.consume(left);
        Ok(Recovery::Stopped)
    }
}
