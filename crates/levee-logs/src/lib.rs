//! Access logs read as HTTP request records: the input stage of levee's layer-7 analysis.
//!
//! A [`LogReader`] reads one log (a file, gzip- or zstd-compressed or not, or standard input)
//! line by line in bounded memory and yields a [`Request`] per line, borrowing the line where
//! it can. The format is detected from the first lines or given by the user:
//!
//! - the common and combined formats of Apache and nginx ([`clf`]);
//! - JSON lines, with the field names of nginx JSON logging and of Cloudflare's HTTP request
//!   logs ([`json`]);
//! - a custom nginx `log_format` or Apache `LogFormat` string ([`template`]).
//!
//! A line that does not parse is never fatal: it comes out as [`Entry::Malformed`] with its
//! line number and what is wrong, and the reader counts it.
//!
//! Several readers can share one log, each taking the requests of its own share of the
//! clients ([`Share`]): either each reads the whole log and passes over the others' lines, or
//! (common and combined logs) it is read once and each reader dealt its lines by the readers
//! themselves ([`SharedDeal`], [`LogReader::fed`]).

#![warn(missing_docs)]

pub mod clf;
mod compression;
mod deal;
pub mod json;
mod reader;
pub mod request;
mod share;
pub mod template;
pub mod time;

pub use compression::decompressed;
pub use deal::{Batch, DealtShare, SharedDeal};
pub use reader::{Entry, FormatSpec, LogReader, ReadStats};
pub use request::{cookie_names, set_cookie_names, Request};
pub use share::{share_of, Share};
pub use time::format_ts;

/// Lines longer than this are reported as malformed and skipped, so one runaway line cannot
/// take the memory.
pub const MAX_LINE: usize = 1 << 20;

/// What is wrong with one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineError(pub &'static str);

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Errors that stop reading a log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log cannot be opened or read.
    #[error("{file}: {source}")]
    Io {
        /// The log, as named.
        file: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// No line of the log's start is in a format levee knows.
    #[error("{file}: none of the first {lines} lines is in a known log format (common, combined, JSON lines); give the format with --log-format")]
    UnknownFormat {
        /// The log, as named.
        file: String,
        /// The lines looked at.
        lines: u64,
    },
    /// A `--log-format` template levee cannot use, and why.
    #[error("log format: {0}")]
    Template(String),
}
