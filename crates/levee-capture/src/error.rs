//! Typed errors of the capture reader.
//!
//! Two kinds: an [`OpenError`] means a file could not be read at all (missing, not a capture,
//! header cut short); a [`RecordError`] names one damaged record inside a file that was opened,
//! with the record index and byte offset, and says whether the reader could carry on past it.

use std::fmt;
use std::io;

/// A capture file could not be opened or is not a capture at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file cannot be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file, as named.
        file: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The first bytes are no capture format levee reads.
    #[error("{file}: not a pcap or pcapng capture (first bytes {magic:08x})")]
    UnknownFormat {
        /// The file, as named.
        file: String,
        /// Its first four bytes, big-endian.
        magic: u32,
    },
    /// The file holds nothing.
    #[error("{file}: file is empty")]
    Empty {
        /// The file, as named.
        file: String,
    },
    /// The file header is a capture's, but damaged.
    #[error("{file}: capture header is damaged: {what}")]
    BadHeader {
        /// The file, as named.
        file: String,
        /// What is wrong with it.
        what: String,
    },
}

impl OpenError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            OpenError::Io { file, .. }
            | OpenError::UnknownFormat { file, .. }
            | OpenError::Empty { file }
            | OpenError::BadHeader { file, .. } => file,
        }
    }
}

/// What is wrong with one record (pcap) or block (pcapng).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordProblem {
    /// The file ends inside the record: `needed` bytes were announced, `available` were there.
    TruncatedRecord {
        /// Bytes the record announced.
        needed: u64,
        /// Bytes the file still held.
        available: u64,
    },
    /// The record claims more captured bytes than any capture may hold (256 KiB).
    CapturedLengthTooLarge {
        /// The captured length claimed.
        caplen: u32,
        /// The most any capture may hold.
        limit: u32,
    },
    /// The record claims more captured bytes than the file's snapshot length. The packet is
    /// still read (libpcap does the same), this is a warning.
    CapturedLengthBeyondSnaplen {
        /// The captured length claimed.
        caplen: u32,
        /// The file's snapshot length.
        snaplen: u32,
    },
    /// The pcapng block length is impossible (too small, not a multiple of 4, too large, or the
    /// trailing copy differs).
    BadBlockLength {
        /// The length the block states.
        length: u32,
    },
    /// A pcapng block that could not be parsed.
    MalformedBlock {
        /// The pcapng block type.
        block_type: u32,
        /// What could not be parsed.
        what: String,
    },
    /// A packet block names an interface that no interface description block declared.
    UnknownInterface {
        /// The interface number the block names.
        interface: u32,
    },
    /// An I/O error while reading (for example a corrupt gzip stream).
    Io {
        /// What the reader or decompressor said.
        what: String,
    },
    /// A run of record headers that are all zero bytes (a file preallocated, or zero-filled
    /// after a crash): not packets. `records` headers of zeros, `bytes` in all, are skipped.
    ZeroFilled {
        /// Headers of zeros in the run.
        records: u64,
        /// Bytes of the run.
        bytes: u64,
    },
    /// The record's time is before 1990 or more than a day after the reading: a capturing
    /// clock that was not set, or damage. The packet is kept; later records of the same run
    /// of such times are not reported again.
    ImplausibleTime {
        /// The record's time, nanoseconds since the Unix epoch.
        ts_nanos: i64,
    },
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordProblem::TruncatedRecord { needed, available } => write!(
                f,
                "truncated record: needs {needed} bytes, only {available} left in the file"
            ),
            RecordProblem::CapturedLengthTooLarge { caplen, limit } => write!(
                f,
                "captured length {caplen} is larger than the maximum of {limit}"
            ),
            RecordProblem::CapturedLengthBeyondSnaplen { caplen, snaplen } => write!(
                f,
                "captured length {caplen} is larger than the snapshot length {snaplen}"
            ),
            RecordProblem::BadBlockLength { length } => {
                write!(f, "impossible pcapng block length {length}")
            }
            RecordProblem::MalformedBlock { block_type, what } => {
                write!(f, "malformed pcapng block of type {block_type:#x}: {what}")
            }
            RecordProblem::UnknownInterface { interface } => {
                write!(
                    f,
                    "packet names interface {interface}, which was never described"
                )
            }
            RecordProblem::Io { what } => write!(f, "read error: {what}"),
            RecordProblem::ZeroFilled { records, bytes } => write!(
                f,
                "{bytes} bytes of zeros ({records} record headers of zeros): not packets"
            ),
            RecordProblem::ImplausibleTime { ts_nanos } => {
                let secs = ts_nanos.div_euclid(1_000_000_000);
                write!(
                    f,
                    "timestamp {secs} s since 1970 is {} (the capturing clock was not set, or \
                     the record is damaged; later records in this run of such times are not \
                     reported)",
                    if secs < PLAUSIBLE_SINCE_S {
                        "before 1990"
                    } else {
                        "more than a day after the time of reading"
                    }
                )
            }
        }
    }
}

impl RecordProblem {
    /// A short stable name for counting problems by kind in summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordProblem::TruncatedRecord { .. } => "truncated_record",
            RecordProblem::CapturedLengthTooLarge { .. } => "caplen_too_large",
            RecordProblem::CapturedLengthBeyondSnaplen { .. } => "caplen_beyond_snaplen",
            RecordProblem::BadBlockLength { .. } => "bad_block_length",
            RecordProblem::MalformedBlock { .. } => "malformed_block",
            RecordProblem::UnknownInterface { .. } => "unknown_interface",
            RecordProblem::Io { .. } => "io_error",
            RecordProblem::ZeroFilled { .. } => "zero_filled",
            RecordProblem::ImplausibleTime { .. } => "implausible_time",
        }
    }
}

/// Records timed before this (1990-01-01, in seconds since 1970) are reported as damage.
pub const PLAUSIBLE_SINCE_S: i64 = 631_152_000;

/// What the reader did after a damaged record.
/// What the reader did about a damaged record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Only a warning: the packet itself was delivered.
    Delivered,
    /// The record was skipped; reading goes on with the next one.
    Skipped,
    /// The reader searched forward and found the next plausible record `skipped_bytes` later.
    Resynchronised {
        /// Bytes skipped to reach it.
        skipped_bytes: u64,
    },
    /// Nothing after this point of the file can be read.
    Stopped,
}

/// One damaged record of a capture that was otherwise readable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: record {record} at byte offset {offset}: {problem}{}", recovery_text(.recovery))]
pub struct RecordError {
    /// The file, as named.
    pub file: String,
    /// Zero-based index of the record (pcap) or block (pcapng) in the file.
    pub record: u64,
    /// Byte offset of the record in the (decompressed) file.
    pub offset: u64,
    /// What is wrong with it.
    pub problem: RecordProblem,
    /// What the reader did about it.
    pub recovery: Recovery,
}

fn recovery_text(r: &Recovery) -> String {
    match r {
        Recovery::Delivered => " (packet kept)".into(),
        Recovery::Skipped => " (record skipped)".into(),
        Recovery::Resynchronised { skipped_bytes } => {
            format!(" (skipped {skipped_bytes} bytes to the next plausible record)")
        }
        Recovery::Stopped => " (rest of the file unreadable)".into(),
    }
}
