//! Reading a log line by line, whatever its compression, and parsing each line.

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

use crate::clf::{self, Shape};
use crate::compression::decompressed;
use crate::deal::{Batch, DealtShare};
use crate::request::Request;
use crate::share::{first_word, line_kind, LineKind, Share};
use crate::template::Template;
use crate::time::TimeCache;
use crate::{json, LineError, LogError, MAX_LINE};

/// With the format detected, this many lines may fail before the log is declared to be in
/// no known format.
const DETECT_LINES: u64 = 100;

/// How the lines are laid out.
#[derive(Debug, Clone)]
pub enum FormatSpec {
    /// Detected from the first lines.
    Auto,
    /// Apache/nginx common or combined.
    Combined,
    /// One JSON object a line (Cloudflare's HTTP request logs and the like).
    Json,
    /// An nginx `log_format` string.
    Nginx(String),
    /// An Apache `LogFormat` string.
    Apache(String),
}

impl FormatSpec {
    /// Parses the `--log-format` argument: `auto`, `combined`, `common`, `json`,
    /// `nginx:FORMAT` or `apache:FORMAT`.
    pub fn parse(s: &str) -> Result<FormatSpec, LogError> {
        Ok(match s {
            "auto" => FormatSpec::Auto,
            "combined" | "common" | "clf" => FormatSpec::Combined,
            "json" => FormatSpec::Json,
            _ => {
                if let Some(f) = s.strip_prefix("nginx:") {
                    Template::nginx(f)?;
                    FormatSpec::Nginx(f.to_string())
                } else if let Some(f) = s.strip_prefix("apache:") {
                    Template::apache(f)?;
                    FormatSpec::Apache(f.to_string())
                } else {
                    return Err(LogError::Template(format!(
                        "`{s}`: one of auto, combined, common, json, nginx:'<log_format>', apache:'<LogFormat>'"
                    )));
                }
            }
        })
    }
}

enum Parser {
    Clf,
    Json,
    Template(Template),
}

/// One line's outcome.
// A request per line stays on the stack: boxing it would allocate for every line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Entry<'a> {
    /// A request read from a line.
    Request(Request<'a>),
    /// A line of a client outside the reader's [`Share`] (only when one is set).
    Elsewhere,
    /// A line that is not a request in the log's format (1-based line number).
    Malformed {
        /// The line's number, from 1.
        line: u64,
        /// What is wrong with it.
        error: LineError,
    },
}

/// Counts of what a reader has read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines read.
    pub lines: u64,
    /// Lines read as requests.
    pub requests: u64,
    /// Lines that were not requests (each reported).
    pub malformed: u64,
    /// Empty lines and `#` comment lines (headers of some formats).
    pub skipped: u64,
}

/// A log being read.
pub struct LogReader {
    name: String,
    input: Box<dyn BufRead>,
    compression: &'static str,
    parser: Option<Parser>,
    format_name: &'static str,
    buf: Vec<u8>,
    /// Bytes of the input's buffer to consume before reading the next line.
    pending: usize,
    lossy: String,
    times: TimeCache,
    stats: ReadStats,
    share: Share,
    /// The lines dealt to this reader, when they are ([`LogReader::fed`]).
    fed: Option<Fed>,
    /// The number of the line of the last entry.
    last_line: u64,
}

/// Where a fed reader is in the batches dealt to it.
struct Fed {
    batches: DealtShare,
    batch: Option<Batch>,
    /// The next line of `batch`.
    next: usize,
}

impl LogReader {
    /// Opens a log file, or standard input for `-`.
    pub fn open(path: &Path, spec: FormatSpec) -> Result<LogReader, LogError> {
        let name = path.display().to_string();
        if path.as_os_str() == "-" {
            return LogReader::from_reader(
                "standard input".into(),
                Box::new(std::io::stdin()),
                spec,
            );
        }
        let f = File::open(path).map_err(|source| LogError::Io {
            file: name.clone(),
            source,
        })?;
        LogReader::from_reader(name, Box::new(f), spec)
    }

    /// Reads a log from any byte stream, decompressing gzip and zstd.
    pub fn from_reader(
        name: String,
        raw: Box<dyn Read + Send>,
        spec: FormatSpec,
    ) -> Result<LogReader, LogError> {
        let (input, compression) = decompressed(raw).map_err(|source| LogError::Io {
            file: name.clone(),
            source,
        })?;
        let (parser, format_name) = match spec {
            FormatSpec::Auto => (None, "auto"),
            FormatSpec::Combined => (Some(Parser::Clf), "combined"),
            FormatSpec::Json => (Some(Parser::Json), "json"),
            FormatSpec::Nginx(f) => (
                Some(Parser::Template(Template::nginx(&f)?)),
                "nginx log_format",
            ),
            FormatSpec::Apache(f) => (
                Some(Parser::Template(Template::apache(&f)?)),
                "apache LogFormat",
            ),
        };
        Ok(LogReader {
            name,
            input,
            compression,
            parser,
            format_name,
            buf: Vec::with_capacity(1024),
            pending: 0,
            lossy: String::new(),
            times: TimeCache::default(),
            stats: ReadStats::default(),
            share: Share::WHOLE,
            fed: None,
            last_line: 0,
        })
    }

    /// A reader of one share of a common or combined log whose lines are dealt to it through
    /// `batches` ([`crate::SharedDeal`]): what it gives is what a reader of the log with that
    /// share set gives ([`LogReader::set_share`]). `name` and `compression` are the log's.
    pub fn fed(name: String, compression: &'static str, batches: DealtShare) -> LogReader {
        LogReader {
            name,
            input: Box::new(std::io::empty()),
            compression,
            parser: Some(Parser::Clf),
            format_name: "combined",
            buf: Vec::new(),
            pending: 0,
            lossy: String::new(),
            times: TimeCache::default(),
            stats: ReadStats::default(),
            share: Share::WHOLE,
            fed: Some(Fed {
                batches,
                batch: None,
                next: 0,
            }),
            last_line: 0,
        }
    }

    /// The next line dealt to a fed reader: its number and whether it was too long to keep;
    /// the log's counts taken from the batches.
    fn next_fed(&mut self) -> Result<Option<(u64, Line)>, LogError> {
        let Some(fed) = &mut self.fed else {
            return Ok(None);
        };
        loop {
            if let Some(b) = &fed.batch {
                if let Some(l) = b.lines.get(fed.next) {
                    fed.next += 1;
                    self.stats.lines = l.line;
                    return Ok(Some((l.line, Line::Fed(l.too_long))));
                }
                self.stats.lines = b.lines_read;
                self.stats.skipped = b.skipped;
                if let Some((kind, message)) = &b.error {
                    let source = std::io::Error::new(*kind, message.clone());
                    fed.batch = None;
                    self.fed = None;
                    return Err(LogError::Io {
                        file: self.name.clone(),
                        source,
                    });
                }
            }
            match fed.batches.next() {
                Some(b) => {
                    fed.batch = Some(b);
                    fed.next = 0;
                }
                None => return Ok(None),
            }
        }
    }

    /// Reads only the lines of the clients in `share`: the others come out as
    /// [`Entry::Elsewhere`] (in common and combined logs, without being parsed), and only
    /// the share's requests and malformed lines are counted, so that readers of every share
    /// of one log count each line once between them. A malformed line belongs to the share
    /// of its first word.
    pub fn set_share(&mut self, share: Share) {
        self.share = share;
    }

    /// The log's name, as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The format in use: `combined`, `common`, `json`, ... (`auto` until detected).
    pub fn format_name(&self) -> &'static str {
        self.format_name
    }

    /// `gzip`, `zstd` or `none`.
    pub fn compression(&self) -> &'static str {
        self.compression
    }

    /// What has been read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The number (from 1) of the line of the last entry [`LogReader::next_entry`] gave.
    pub fn last_line(&self) -> u64 {
        self.last_line
    }

    /// The next line's outcome; `None` at the end; an error when the log cannot be read on
    /// (an I/O error, or no known format in its first lines).
    pub fn next_entry(&mut self) -> Option<Result<Entry<'_>, LogError>> {
        // Skip blank and comment lines, without holding the line borrowed across lines.
        let (line_no, at) = if self.fed.is_some() {
            match self.next_fed() {
                Err(e) => return Some(Err(e)),
                Ok(None) => return None,
                Ok(Some(fed)) => fed,
            }
        } else {
            match self.next_line() {
                Err(e) => return Some(Err(e)),
                Ok(Next::End) => return None,
                Ok(Next::Elsewhere) => return Some(Ok(Entry::Elsewhere)),
                Ok(Next::Line(number, at)) => (number, at),
            }
        };
        self.last_line = line_no;
        let too_long = match at {
            Line::Copied => self.buf.len() > MAX_LINE,
            Line::Fed(too_long) => too_long,
            Line::Buffered(_) => false,
        };
        if too_long {
            if self.share.index != 0 {
                // The first share tells the lines too long to read.
                return Some(Ok(Entry::Elsewhere));
            }
            self.stats.malformed += 1;
            return Some(Ok(Entry::Malformed {
                line: line_no,
                error: LineError("line longer than 1 MiB"),
            }));
        }
        let bytes: &[u8] = match at {
            Line::Copied => &self.buf,
            Line::Buffered(n) => match self.input.fill_buf() {
                Ok(b) => &b[..n],
                Err(source) => {
                    return Some(Err(LogError::Io {
                        file: self.name.clone(),
                        source,
                    }))
                }
            },
            Line::Fed(_) => fed_line(&self.fed),
        };
        // Validated with SIMD: checking every byte of every line is a visible share of the
        // time otherwise.
        let text: &str = match simdutf8::basic::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                // Bytes that are not UTF-8 (seen from exploit attempts) become U+FFFD.
                self.lossy = String::from_utf8_lossy(bytes).into_owned();
                &self.lossy
            }
        };
        let text = text.trim_end_matches(['\n', '\r']);
        let times = &mut self.times;
        // The common case first, its entry made where it is returned (see `parse_request`);
        // lines of other shares were passed over before parsing.
        if let Some(Parser::Clf) = &self.parser {
            let mut shape = Shape::Combined;
            return Some(Ok(match clf::parse_request(text, times, &mut shape) {
                Ok(r) => {
                    if shape == Shape::Common && self.format_name == "combined" {
                        self.format_name = "common";
                    }
                    self.stats.requests += 1;
                    Entry::Request(r)
                }
                Err(error) => {
                    self.stats.malformed += 1;
                    Entry::Malformed {
                        line: line_no,
                        error,
                    }
                }
            }));
        }
        // Each arm makes the entry itself: a request is some 330 bytes, and every move of it
        // through a `map` or a wrapper was a copy (8 % of an analysis in `perf`).
        let parsed = match &self.parser {
            // Read above; kept whole here for the match.
            Some(Parser::Clf) => clf::parse(text, times).map(|(r, _)| r),
            Some(Parser::Json) => json::parse(text, times),
            Some(Parser::Template(t)) => t.parse(text, times),
            None => {
                // Detection: the first line that parses in a known format decides.
                let (found, parser, name) = if json::looks_like(text) {
                    (json::parse(text, times), Parser::Json, "json")
                } else {
                    match clf::parse(text, times) {
                        Ok((r, Shape::Combined)) => (Ok(r), Parser::Clf, "combined"),
                        Ok((r, Shape::Common)) => (Ok(r), Parser::Clf, "common"),
                        Err(e) => (Err(e), Parser::Clf, "auto"),
                    }
                };
                if found.is_ok() {
                    self.parser = Some(parser);
                    self.format_name = name;
                } else if line_no >= DETECT_LINES {
                    return Some(Err(LogError::UnknownFormat {
                        file: self.name.clone(),
                        lines: line_no,
                    }));
                }
                found
            }
        };
        if !self.share.is_whole() {
            let client = match &parsed {
                Ok(r) => self.share.holds(&r.client),
                Err(_) => self.share.holds_bytes(first_word(text.as_bytes())),
            };
            if !client {
                return Some(Ok(Entry::Elsewhere));
            }
        }
        match parsed {
            Ok(r) => {
                self.stats.requests += 1;
                Some(Ok(Entry::Request(r)))
            }
            Err(error) => {
                self.stats.malformed += 1;
                Some(Ok(Entry::Malformed {
                    line: line_no,
                    error,
                }))
            }
        }
    }

    /// The next line of an unfed reader that is not blank nor a comment, or a line of
    /// another share passed over.
    fn next_line(&mut self) -> Result<Next, LogError> {
        loop {
            let at = match self.read_line()? {
                None => return Ok(Next::End),
                Some(at) => at,
            };
            self.stats.lines += 1;
            // A common or combined line's client is its first word: lines of other shares
            // are passed over unparsed.
            let before_parsing = !self.share.is_whole() && matches!(self.parser, Some(Parser::Clf));
            let share = self.share;
            // A line too long to read belongs to the first share, whatever its first word
            // (see `next_entry`): dealt by it, no share would tell it.
            let (skip, elsewhere) = match line_kind(self.line_bytes(at)?) {
                LineKind::Skipped => (true, false),
                LineKind::TooLong => (false, false),
                LineKind::Client(c) => (false, before_parsing && !share.holds_bytes(c)),
            };
            if skip {
                self.stats.skipped += 1;
                continue;
            }
            if elsewhere {
                return Ok(Next::Elsewhere);
            }
            return Ok(Next::Line(self.stats.lines, at));
        }
    }

    /// The bytes of the line `at` names.
    fn line_bytes(&mut self, at: Line) -> Result<&[u8], LogError> {
        match at {
            Line::Copied => Ok(&self.buf),
            Line::Buffered(n) => match self.input.fill_buf() {
                Ok(b) => Ok(&b[..n]),
                Err(source) => Err(LogError::Io {
                    file: self.name.clone(),
                    source,
                }),
            },
            Line::Fed(_) => Ok(fed_line(&self.fed)),
        }
    }

    /// Finds the next line. A line whole in the input's buffer is left there, to be parsed
    /// in place and consumed on the next call (no copy: the common case); one that spans
    /// buffer refills is copied into `buf` (at most [`MAX_LINE`] + 1 bytes kept; the rest of
    /// a longer line is skipped). `None` at the end of the input.
    fn read_line(&mut self) -> Result<Option<Line>, LogError> {
        if self.pending > 0 {
            self.input.consume(self.pending);
            self.pending = 0;
        }
        self.buf.clear();
        let mut any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(LogError::Io {
                        file: self.name.clone(),
                        source,
                    })
                }
            };
            if chunk.is_empty() {
                return Ok(any.then_some(Line::Copied));
            }
            let newline = memchr::memchr(b'\n', chunk);
            if !any {
                if let Some(i) = newline {
                    self.pending = i + 1;
                    return Ok(Some(Line::Buffered(i + 1)));
                }
            }
            any = true;
            let (take, done) = match newline {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            let room = (MAX_LINE + 1).saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            self.input.consume(take);
            if done {
                return Ok(Some(Line::Copied));
            }
        }
    }
}

/// The bytes of a fed reader's current line.
fn fed_line(fed: &Option<Fed>) -> &[u8] {
    let Some(Fed {
        batch: Some(b),
        next,
        ..
    }) = fed
    else {
        return &[];
    };
    let l = b.lines[*next - 1];
    &b.block[l.start as usize..l.end as usize]
}

/// What an unfed reader finds next.
enum Next {
    /// A line to parse: its number and where it is.
    Line(u64, Line),
    /// A line of another share, passed over.
    Elsewhere,
    /// The end of the log.
    End,
}

/// Where the current line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    /// The first bytes of the input's buffer (consumed on the next read).
    Buffered(usize),
    /// In `buf`.
    Copied,
    /// Dealt: the fed reader's current line (`true`: too long to have been kept).
    Fed(bool),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(text: &[u8], spec: FormatSpec) -> LogReader {
        LogReader::from_reader(
            "test".into(),
            Box::new(std::io::Cursor::new(text.to_vec())),
            spec,
        )
        .unwrap()
    }

    fn drain(r: &mut LogReader) -> (Vec<String>, Vec<(u64, &'static str)>) {
        let (mut targets, mut bad) = (Vec::new(), Vec::new());
        while let Some(e) = r.next_entry() {
            match e.unwrap() {
                Entry::Request(q) => targets.push(q.target.into_owned()),
                Entry::Malformed { line, error } => bad.push((line, error.0)),
                Entry::Elsewhere => {}
            }
        }
        (targets, bad)
    }

    #[test]
    fn readers_of_every_share_read_each_line_once_between_them() {
        let mut log = String::new();
        for i in 0..300 {
            log.push_str(&format!(
                "10.0.{}.{} - - [10/Oct/2000:13:55:36 -0700] \"GET /p{i} HTTP/1.1\" 200 5 \"-\" \"ua\"\n",
                i % 7,
                i % 50
            ));
            if i % 40 == 0 {
                log.push_str("garbage line\n\n");
            }
        }
        let json = "{\"remote_addr\":\"10.0.0.1\",\"time_iso8601\":\"2000-10-10T13:55:36+00:00\",\"request\":\"GET /j HTTP/1.1\",\"status\":200}\n"
            .repeat(3)
            + "{\"remote_addr\":\"10.0.0.2\",\"time_iso8601\":\"2000-10-10T13:55:36+00:00\",\"request\":\"GET /k HTTP/1.1\",\"status\":200}\n"
            + "not json\n";
        // Lines too long to read, whichever share their first word falls in, are told once.
        let mut long = log.clone();
        for client in ["10.0.9.1", "10.0.9.2", "10.0.9.3", "10.0.9.4"] {
            long.push_str(&format!(
                "{client} - - [10/Oct/2000:13:55:36 -0700] \"GET /"
            ));
            long.push_str(&"a".repeat(MAX_LINE + 10));
            long.push_str("\" 200 5\n");
        }
        long.push_str(&log);
        for (text, spec) in [
            (log, FormatSpec::Auto),
            (json, FormatSpec::Auto),
            (long, FormatSpec::Auto),
        ] {
            let mut whole = reader(text.as_bytes(), spec.clone());
            let (mut targets, mut bad) = drain(&mut whole);
            let mut shared = (Vec::new(), Vec::new(), ReadStats::default());
            for index in 0..3 {
                let mut r = reader(text.as_bytes(), spec.clone());
                r.set_share(Share { index, of: 3 });
                let (t, b) = drain(&mut r);
                assert!(t.len() < targets.len() || targets.len() < 10);
                shared.0.extend(t);
                shared.1.extend(b);
                let s = r.stats();
                shared.2.lines = s.lines;
                shared.2.skipped = s.skipped;
                shared.2.requests += s.requests;
                shared.2.malformed += s.malformed;
            }
            for v in [&mut targets, &mut shared.0] {
                v.sort();
            }
            bad.sort();
            shared.1.sort();
            assert_eq!((targets, bad), (shared.0, shared.1));
            assert_eq!(whole.stats(), shared.2);
        }
    }

    const LOG: &str = "# a comment\n\
        10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\"\n\
        garbage\n\
        \n\
        10.0.0.2 - - [10/Oct/2000:13:55:37 -0700] \"GET /b HTTP/1.1\" 404 0 \"-\" \"ua\"\r\n\
        10.0.0.3 - - [10/Oct/2000:13:55:38 -0700] \"GET /c HTTP/1.1\" 200 1 \"-\" \"ua\"";

    #[test]
    fn detects_the_format_and_reports_bad_lines_by_number() {
        let mut r = reader(LOG.as_bytes(), FormatSpec::Auto);
        let (targets, bad) = drain(&mut r);
        assert_eq!(targets, ["/a", "/b", "/c"]);
        assert_eq!(bad, [(3, "no ident field")]);
        assert_eq!(r.format_name(), "combined");
        assert_eq!(
            r.stats(),
            ReadStats {
                lines: 6,
                requests: 3,
                malformed: 1,
                skipped: 2
            }
        );
    }

    #[test]
    fn gzip_and_zstd_give_the_same_requests() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(LOG.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let zst = zstd::encode_all(LOG.as_bytes(), 1).unwrap();
        let plain = drain(&mut reader(LOG.as_bytes(), FormatSpec::Auto));
        for (data, kind) in [(gz, "gzip"), (zst, "zstd")] {
            let mut r = reader(&data, FormatSpec::Auto);
            assert_eq!(r.compression(), kind);
            assert_eq!(drain(&mut r), plain);
        }
    }

    #[test]
    fn long_lines_bad_bytes_and_unknown_formats_are_reported_not_fatal() {
        let mut data =
            b"10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /\xff HTTP/1.1\" 200 5\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        data.extend_from_slice(
            b"\n10.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /z HTTP/1.1\" 200 5\n",
        );
        let mut r = reader(&data, FormatSpec::Combined);
        let (targets, bad) = drain(&mut r);
        assert_eq!(targets, ["/\u{fffd}", "/z"]);
        assert_eq!(bad, [(2, "line longer than 1 MiB")]);
        assert_eq!(r.format_name(), "common");

        let noise = "not a log line\n".repeat(200);
        let mut r = reader(noise.as_bytes(), FormatSpec::Auto);
        let mut err = None;
        while let Some(e) = r.next_entry() {
            if let Err(e) = e {
                err = Some(e.to_string());
                break;
            }
        }
        assert_eq!(err.unwrap(), "test: none of the first 100 lines is in a known log format (common, combined, JSON lines); give the format with --log-format");
    }

    #[test]
    fn format_arguments() {
        assert!(matches!(
            FormatSpec::parse("json").unwrap(),
            FormatSpec::Json
        ));
        assert!(matches!(
            FormatSpec::parse("nginx:$remote_addr [$time_local]").unwrap(),
            FormatSpec::Nginx(_)
        ));
        assert!(FormatSpec::parse("nginx:$status").is_err());
        assert!(FormatSpec::parse("w3c").is_err());
    }
}
