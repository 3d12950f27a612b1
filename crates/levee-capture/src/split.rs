//! Reading one large capture in parts, a thread for each part.
//!
//! Only a plain (uncompressed) classic pcap file can be entered in the middle: its records
//! carry no reference to anything before them, and the file can be read from any offset. Where
//! a part starts is found by looking for a chain of plausible record headers near the wanted
//! offset ([`SplitPcap::record_start_near`]). A chain of sixteen is practically never a false
//! start, but the reader of the part before checks it anyway: its own records, read from the
//! beginning, must end exactly where the next part starts ([`Frame::offset`](crate::Frame)).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::pcap::{PcapFormat, SPLIT_CHAIN};
use crate::window::Window;
use crate::{CaptureReader, Compression, FormatState, OpenError, MAX_CAPLEN};

/// How far past a wanted offset a part's first record is looked for.
const SEARCH_BYTES: usize = 256 << 10;

/// A plain classic pcap file that several readers can read, each from its own offset.
#[derive(Clone)]
pub struct SplitPcap {
    path: PathBuf,
    name: String,
    len: u64,
    first_record: u64,
    /// The time of the first record, in nanoseconds since 1970.
    first_ts_nanos: i64,
    /// Seconds: no record found by a search may be older (a day before the first record).
    not_before: u32,
    format: PcapFormat,
}

impl SplitPcap {
    /// Opens `path` for reading in parts; `Ok(None)` when it cannot be (pcapng, compressed,
    /// standard input, not a regular file).
    pub fn open(path: &Path) -> Result<Option<SplitPcap>, OpenError> {
        if path.as_os_str() == "-" {
            return Ok(None);
        }
        let mut reader = CaptureReader::open(path)?;
        let FormatState::Pcap(format) = &reader.format else {
            return Ok(None);
        };
        if reader.compression != Compression::None {
            return Ok(None);
        }
        let (format, first_record) = (format.clone(), reader.position());
        let first_ts_nanos = match reader.next_item() {
            Some(crate::Item::Frame(f)) => f.ts_nanos,
            _ => return Ok(None),
        };
        let first_ts = first_ts_nanos.div_euclid(1_000_000_000);
        let meta = std::fs::metadata(path).map_err(|source| OpenError::Io {
            file: reader.name.clone(),
            source,
        })?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some(SplitPcap {
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

    /// The offset of the first record (the length of the file header).
    pub fn first_record(&self) -> u64 {
        self.first_record
    }

    /// The time of the first record, in nanoseconds since 1970.
    pub fn first_ts_nanos(&self) -> i64 {
        self.first_ts_nanos
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
        let found = self.format.record_start_in(&buf, at_eof, self.not_before);
        Ok(found
            .filter(|&at| at < SEARCH_BYTES)
            .map(|at| offset + at as u64))
    }

    fn caplen_limit(&self) -> u32 {
        self.format.caplen_limit().min(MAX_CAPLEN)
    }

    /// A reader of the file from `offset`, which must be where a record starts (the file's
    /// first record, or one found by [`SplitPcap::record_start_near`]). Its frames carry their
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
            format: FormatState::Pcap(self.format.clone()),
            compression: Compression::None,
            current: None,
            packets: 0,
            records: 0,
            damage: Vec::new(),
            finished: false,
        })
    }
}
