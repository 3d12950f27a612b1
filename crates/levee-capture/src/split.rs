//! Reading one large capture in parts, a thread for each part.
//!
//! Only a plain (uncompressed) file can be entered in the middle. A classic pcap record carries
//! no reference to anything before it. A pcapng packet refers to interfaces described earlier:
//! every part starts knowing those described before the first packet, and the caller must not
//! trust a part after one whose reader met another section header or interface description
//! ([`CaptureReader::descriptions`]). Where a part starts is found by looking for a chain of
//! sixteen plausible record headers or blocks near the wanted offset
//! ([`SplitCapture::record_start_near`]). That is practically never a false start, but the
//! reader of the part before checks it anyway: its own records, read from the beginning, must
//! end exactly where the next part starts ([`Frame::offset`](crate::Frame)).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::pcap::SPLIT_CHAIN;
use crate::window::Window;
use crate::{CaptureReader, Compression, FormatState, OpenError, MAX_CAPLEN};

/// How far past a wanted offset a part's first record is looked for.
const SEARCH_BYTES: usize = 256 << 10;

/// A plain capture file (pcap or pcapng) that several readers can read, each from its own
/// offset.
#[derive(Clone)]
pub struct SplitCapture {
    path: PathBuf,
    name: String,
    len: u64,
    first_record: u64,
    /// The time of the first record, in nanoseconds since 1970.
    first_ts_nanos: i64,
    /// Seconds: no record found by a search may be older (a day before the first record).
    not_before: u32,
    /// The format's state at the first packet (byte order, interfaces...).
    format: FormatState,
}

impl SplitCapture {
    /// Opens `path` for reading in parts; `Ok(None)` when it cannot be (compressed, standard
    /// input, not a regular file, no packet).
    pub fn open(path: &Path) -> Result<Option<SplitCapture>, OpenError> {
        if path.as_os_str() == "-" {
            return Ok(None);
        }
        let mut reader = CaptureReader::open(path)?;
        if reader.compression != Compression::None {
            return Ok(None);
        }
        let (first_record, first_ts_nanos) = match reader.next_item() {
            Some(crate::Item::Frame(f)) => (f.offset, f.ts_nanos),
            _ => return Ok(None),
        };
        // The state after the first packet: what was described before it.
        let format = reader.format.clone();
        let first_ts = first_ts_nanos.div_euclid(1_000_000_000);
        let meta = std::fs::metadata(path).map_err(|source| OpenError::Io {
            file: reader.name.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some(SplitCapture {
            path: path.to_path_buf(),
            name: reader.name.clone(),
            len: meta.len(),
            first_record,
            first_ts_nanos,
            not_before: first_ts
                .saturating_sub(86_400)
                .clamp(0, i64::from(u32::MAX)) as u32,
            format,
        }))
    }

    /// The file's length in bytes (as when it was opened).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file holds nothing after its header.
    pub fn is_empty(&self) -> bool {
        self.len <= self.first_record
    }

    /// The offset of the first packet's record.
    pub fn first_record(&self) -> u64 {
        self.first_record
    }

    /// The time of the first record, in nanoseconds since 1970.
    pub fn first_ts_nanos(&self) -> i64 {
        self.first_ts_nanos
    }

    /// The file's format.
    pub fn format(&self) -> crate::Format {
        match self.format {
            FormatState::Pcap(_) => crate::Format::Pcap,
            FormatState::Pcapng(_) => crate::Format::Pcapng,
        }
    }

    /// The file as the user named it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The offset of the first record that starts at or after `offset` (see the module
    /// overview); `None` when none is found within 256 KiB or the file ends first.
    pub fn record_start_near(&self, offset: u64) -> io::Result<Option<u64>> {
        let offset = offset.max(self.first_record);
        if offset >= self.len {
            return Ok(None);
        }
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(offset))?;
        // Room for the search and a whole chain of records of the largest size after it.
        let record_room = 24 + self.caplen_limit() as usize;
        let want = SEARCH_BYTES + SPLIT_CHAIN * record_room;
        let mut buf = Vec::with_capacity(want.min((self.len - offset) as usize));
        file.take(want as u64).read_to_end(&mut buf)?;
        let at_eof = offset + buf.len() as u64 >= self.len;
        let found = match &self.format {
            FormatState::Pcap(p) => p.record_start_in(&buf, at_eof, self.not_before),
            FormatState::Pcapng(p) => {
                // Blocks start on 4-byte boundaries of the file.
                let misaligned = ((4 - offset % 4) % 4) as usize;
                p.block_start_in(buf.get(misaligned..).unwrap_or(&[]), at_eof, SPLIT_CHAIN)
                    .map(|at| at + misaligned)
            }
        };
        Ok(found
            .filter(|&at| at < SEARCH_BYTES)
            .map(|at| offset + at as u64))
    }

    fn caplen_limit(&self) -> u32 {
        match &self.format {
            FormatState::Pcap(p) => p.caplen_limit().min(MAX_CAPLEN),
            FormatState::Pcapng(_) => MAX_CAPLEN,
        }
    }

    /// A reader of the file from `offset`, which must be where a record starts (the file's
    /// first record, or one found by [`SplitCapture::record_start_near`]). Its frames carry their
    /// true offsets; their indices, and the record numbers of damage it reports, count from
    /// `offset`.
    pub fn reader_at(&self, offset: u64) -> Result<CaptureReader, OpenError> {
        let io_err = |source| OpenError::Io {
            file: self.name.clone(),
            source,
        };
        let mut file = File::open(&self.path).map_err(io_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        Ok(CaptureReader {
            name: self.name.clone(),
            window: Window::stream_at(Box::new(file), offset),
            format: self.format.clone(),
            compression: Compression::None,
            current: None,
            held: false,
            packets: 0,
            records: 0,
            damage: Vec::new(),
            finished: false,
            last_implausible: None,
            ts_max_nanos: crate::latest_plausible_s() * 1_000_000_000,
        })
    }
}
