//! Access logs as the engine reads them: each file opened and read request by request, what
//! goes wrong (a file that cannot be opened or stops, malformed lines) told to a
//! [`LogObserver`], and what each file gave ([`LogFile`], [`LogsRead`]). No message is printed
//! here: the binary prints. [`LogsSummaryBuilder`] makes `levee logs`'s summary of them.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use levee_analyze::sketch::TopK;

use levee_logs::{Entry, FormatSpec, LogError, LogReader, Request, Share};
use serde::Serialize;

/// Distinct methods kept by name; past that (garbage sent by scanners), `(other)`.
const MAX_METHODS: usize = 32;

/// What reading one log gave.
#[derive(Debug, Clone, Serialize)]
pub struct LogFile {
    /// The file (`-` for standard input).
    pub name: String,
    /// The format it was read in (found, or given).
    pub format: String,
    /// Its compression (`none`, `gzip`...).
    pub compression: String,
    /// Lines read.
    pub lines: u64,
    /// Lines read as requests.
    pub requests: u64,
    /// Lines that were not requests in the format.
    pub malformed: u64,
    /// Blank and comment lines.
    pub skipped: u64,
    /// The first malformed lines: number and what is wrong.
    pub first_malformed: Vec<Malformed>,
    /// Why the file could not be read (to the end), if it could not.
    pub error: Option<String>,
}

impl LogFile {
    /// Captures whose HTTP requests were reassembled, listed like a log: `format` says what
    /// the reassembly saw.
    pub fn capture(name: String, format: String, requests: u64) -> LogFile {
        LogFile {
            format,
            requests,
            ..LogFile::named(name)
        }
    }

    /// A log that could not be opened, with why.
    fn unopened(path: &Path, error: &LogError) -> LogFile {
        LogFile {
            error: Some(error.to_string()),
            ..LogFile::named(path.display().to_string())
        }
    }

    /// A file that gave nothing yet.
    fn named(name: String) -> LogFile {
        LogFile {
            name,
            format: String::new(),
            compression: String::new(),
            lines: 0,
            requests: 0,
            malformed: 0,
            skipped: 0,
            first_malformed: Vec::new(),
            error: None,
        }
    }
}

/// A malformed line of a log.
#[derive(Debug, Clone, Serialize)]
pub struct Malformed {
    /// Its number, from 1.
    pub line: u64,
    /// What is wrong with it.
    pub error: String,
}

/// What the reading of logs tells as it happens. Every method does nothing unless overridden.
pub trait LogObserver {
    /// A log cannot be opened, or stopped before its end; the others are still read.
    fn cannot_read(&self, _error: &LogError) {}
    /// A log's first malformed lines (at most the number the reading keeps), once it is read.
    fn malformed(&self, _file: &str, _line: &Malformed) {}
    /// How many more malformed lines a log had than were shown.
    fn more_malformed(&self, _file: &str, _count: u64) {}
    /// A log gave no request, and why: it counts as unreadable.
    fn no_requests(&self, _file: &str, _why: &str) {}
}

/// An observer that says nothing (a later pass over logs already reported).
pub struct Quiet;

impl LogObserver for Quiet {}

/// What reading a set of logs gave: each file's counts, and whether any could not be read or
/// had malformed lines.
#[derive(Debug, Clone)]
pub struct LogsRead {
    /// Each file, in the order given.
    pub files: Vec<LogFile>,
    /// A file could not be read (to the end), or gave no request.
    pub unreadable: bool,
    /// A file had malformed lines.
    pub damaged: bool,
}

/// No log gave a request.
#[derive(Debug, thiserror::Error)]
#[error("no {what} could be read from {}", names.join(", "))]
pub struct NoRequests {
    /// What was looked for (`requests`, `HTTP/1.x request in cleartext`).
    pub what: String,
    /// The files.
    pub names: Vec<String>,
}

impl LogsRead {
    /// The input rule for requests: a file that gave none is an unreadable input (told to
    /// `observer`, with why), and inputs that together gave none are an error. `what` names
    /// the requests (`requests`, `HTTP/1.x request in cleartext`).
    pub fn require_requests(
        &mut self,
        what: &str,
        observer: &dyn LogObserver,
    ) -> Result<(), NoRequests> {
        for f in &mut self.files {
            if f.requests == 0 && f.error.is_none() {
                let why = no_requests_why(f, what);
                observer.no_requests(&f.name, &why);
                f.error = Some(why);
                self.unreadable = true;
            }
        }
        if self.files.iter().all(|f| f.requests == 0) {
            return Err(NoRequests {
                what: what.to_string(),
                names: self.files.iter().map(|f| f.name.clone()).collect(),
            });
        }
        Ok(())
    }

    /// Names the spooled copy of standard input `-` again.
    pub fn name_spool(&mut self, spool: Option<&Path>) {
        if let Some(spool) = spool {
            for f in &mut self.files {
                if Path::new(&f.name) == spool {
                    f.name = "-".into();
                }
            }
        }
    }
}

/// Why a file that was read gave no request.
fn no_requests_why(f: &LogFile, what: &str) -> String {
    if f.lines == 0 {
        "the file is empty".to_string()
    } else if f.malformed > 0 && f.format == "auto" {
        format!(
            "none of its {} lines is an access-log line in a format levee knows, and it is not \
             a pcap or pcapng capture either",
            f.lines
        )
    } else if f.malformed > 0 {
        format!(
            "none of its {} lines is a request in the {} format",
            f.lines, f.format
        )
    } else {
        format!("no {what} in it")
    }
}

/// Reads every request of the logs in order, handing each to `each`. A file's first
/// `keep_malformed` malformed lines are kept (and told to `observer` once it is read), the
/// rest counted.
pub fn for_each_request(
    logs: &[PathBuf],
    spec: &FormatSpec,
    keep_malformed: usize,
    observer: &dyn LogObserver,
    each: impl FnMut(&Request<'_>),
) -> LogsRead {
    let (read, _) = read_share(
        logs,
        spec,
        keep_malformed,
        Share::WHOLE,
        Vec::new(),
        observer,
        each,
    );
    read
}

/// As [`for_each_request`], on one thread per worker: the logs' clients are dealt out among
/// them ([`Share`]), each thread reads the logs and hands the requests of its own clients, in
/// order, to `each` with its worker. Every client's requests go to one worker, as one thread
/// would have handed them, so what is kept per client is the same; the counts of the files are
/// one reading's, and what goes wrong is told to `observer` once, in the order one thread
/// tells it. Returns the workers.
pub fn for_each_request_shared<W: Send>(
    logs: &[PathBuf],
    spec: &FormatSpec,
    keep_malformed: usize,
    observer: &dyn LogObserver,
    workers: Vec<W>,
    each: impl Fn(&mut W, &Request<'_>) + Sync,
) -> (LogsRead, Vec<W>) {
    let of = workers.len() as u32;
    if of <= 1 {
        let mut workers = workers;
        let read = match workers.first_mut() {
            Some(w) => for_each_request(logs, spec, keep_malformed, observer, |r| each(w, r)),
            None => for_each_request(logs, spec, keep_malformed, observer, |_| {}),
        };
        return (read, workers);
    }
    let each = &each;
    // The logs whose lines can be dealt are read once, each block dealt by the worker that
    // ran out of lines (`levee_logs::SharedDeal`); the others are read by every worker.
    let mut feeds: Vec<Vec<Option<Feed>>> = (0..of).map(|_| Vec::new()).collect();
    for path in logs {
        match dealt_compression(path, spec) {
            Some(compression) => {
                let ends = levee_logs::SharedDeal::open(path, of as usize);
                for (w, end) in feeds.iter_mut().zip(ends) {
                    w.push(Some((compression, end)));
                }
            }
            None => feeds.iter_mut().for_each(|w| w.push(None)),
        }
    }
    let parts: Vec<(LogsRead, Vec<Option<LogError>>, W)> = std::thread::scope(|scope| {
        let threads: Vec<_> = workers
            .into_iter()
            .zip(feeds)
            .enumerate()
            .map(|(index, (mut w, feeds))| {
                let share = Share {
                    index: index as u32,
                    of,
                };
                scope.spawn(move || {
                    let (read, errors) =
                        read_share(logs, spec, keep_malformed, share, feeds, &Quiet, |r| {
                            each(&mut w, r)
                        });
                    (read, errors, w)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a log reader does not panic"))
            .collect()
    });
    let mut parts = parts.into_iter();
    let (mut read, errors, first) = parts.next().expect("two shares or more");
    let mut workers = vec![first];
    for (other, _, w) in parts {
        read.absorb_share(other, keep_malformed);
        workers.push(w);
    }
    // Every reader met the same errors (they are of the files, not of the lines): the first
    // reader's are told, with the malformed lines of all, file by file as one reader tells.
    for (file, error) in read.files.iter().zip(errors) {
        if let Some(e) = error {
            observer.cannot_read(&e);
        }
        tell_malformed(observer, file);
    }
    (read, workers)
}

impl LogsRead {
    /// Adds what the reader of another share of the same logs read.
    fn absorb_share(&mut self, other: LogsRead, keep_malformed: usize) {
        self.unreadable |= other.unreadable;
        self.damaged |= other.damaged;
        for (f, o) in self.files.iter_mut().zip(other.files) {
            f.requests += o.requests;
            f.malformed += o.malformed;
            // A combined log with common lines is common, whichever reader met them.
            if o.format == "common" {
                f.format = o.format;
            }
            f.first_malformed.extend(o.first_malformed);
            f.first_malformed.sort_by_key(|m| m.line);
            f.first_malformed.truncate(keep_malformed);
        }
    }
}

/// Tells `observer` a file's first malformed lines and how many more it had.
fn tell_malformed(observer: &dyn LogObserver, f: &LogFile) {
    for m in &f.first_malformed {
        observer.malformed(&f.name, m);
    }
    if f.malformed > f.first_malformed.len() as u64 {
        observer.more_malformed(&f.name, f.malformed - f.first_malformed.len() as u64);
    }
}

/// A log's lines dealt to one worker: the log's compression, and its end of the dealing.
type Feed = (&'static str, levee_logs::DealtShare);

/// The compression of a log whose lines can be dealt before they are parsed: one in the
/// common or combined format from its first line (given, or found there), so that a line's
/// client is its first word. `None` for any other (and for standard input).
fn dealt_compression(path: &Path, spec: &FormatSpec) -> Option<&'static str> {
    if path.as_os_str() == "-" {
        return None;
    }
    let mut probe = LogReader::open(path, spec.clone()).ok()?;
    match spec {
        FormatSpec::Combined => {}
        FormatSpec::Auto => {
            let Some(Ok(Entry::Request(_))) = probe.next_entry() else {
                return None;
            };
            if !matches!(probe.format_name(), "combined" | "common") {
                return None;
            }
        }
        _ => return None,
    }
    Some(probe.compression())
}

/// Reads the requests of `share`'s clients, handing each to `each`; malformed lines are told
/// to `observer` when the share is whole. A log with a feed is read from its lines dealt to
/// this share, the others in full. Returns, with what was read, the error that stopped each
/// file (told to `observer` too).
fn read_share(
    logs: &[PathBuf],
    spec: &FormatSpec,
    keep_malformed: usize,
    share: Share,
    feeds: Vec<Option<Feed>>,
    observer: &dyn LogObserver,
    mut each: impl FnMut(&Request<'_>),
) -> (LogsRead, Vec<Option<LogError>>) {
    let mut read = LogsRead {
        files: Vec::new(),
        unreadable: false,
        damaged: false,
    };
    let mut errors = Vec::new();
    let mut feeds = feeds.into_iter();
    for path in logs {
        let opened = match feeds.next().flatten() {
            Some((compression, batches)) => Ok(LogReader::fed(
                path.display().to_string(),
                compression,
                batches,
            )),
            None => LogReader::open(path, spec.clone()).map(|mut r| {
                r.set_share(share);
                r
            }),
        };
        let mut reader = match opened {
            Ok(r) => r,
            Err(e) => {
                observer.cannot_read(&e);
                read.unreadable = true;
                read.files.push(LogFile::unopened(path, &e));
                errors.push(Some(e));
                continue;
            }
        };
        let mut first_malformed = Vec::new();
        let mut error = None;
        while let Some(entry) = reader.next_entry() {
            match entry {
                Err(e) => {
                    observer.cannot_read(&e);
                    error = Some(e);
                    read.unreadable = true;
                    break;
                }
                Ok(Entry::Malformed { line, error }) => {
                    read.damaged = true;
                    if first_malformed.len() < keep_malformed {
                        first_malformed.push(Malformed {
                            line,
                            error: error.to_string(),
                        });
                    }
                }
                Ok(Entry::Request(q)) => each(&q),
                Ok(Entry::Elsewhere) => {}
            }
        }
        let s = reader.stats();
        let file = LogFile {
            name: reader.name().to_string(),
            format: reader.format_name().to_string(),
            compression: reader.compression().to_string(),
            lines: s.lines,
            requests: s.requests,
            malformed: s.malformed,
            skipped: s.skipped,
            first_malformed,
            error: error.as_ref().map(|e| e.to_string()),
        };
        if share.is_whole() {
            tell_malformed(observer, &file);
        }
        read.files.push(file);
        errors.push(error);
    }
    (read, errors)
}

/// Something counted in requests: a method, a status class, a client.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    /// What is counted.
    pub name: String,
    /// Its requests.
    pub requests: u64,
}

/// `levee logs`: what the logs hold (described in `docs/logs.md`).
#[derive(Debug, Clone, Serialize)]
pub struct LogsSummary {
    /// Each file read.
    pub files: Vec<LogFile>,
    /// Requests read.
    pub requests: u64,
    /// Malformed lines.
    pub malformed: u64,
    /// The earliest request's time.
    pub start: Option<String>,
    /// The latest request's time.
    pub end: Option<String>,
    /// Requests by method, busiest first (past 32 methods, `(other)`).
    pub methods: Vec<Count>,
    /// Requests by status class (`2xx`...), busiest first.
    pub statuses: Vec<Count>,
    /// The busiest clients.
    pub top_clients: Vec<Count>,
    /// Requests whose client was logged as a name, not an address (not in `top_clients`).
    pub clients_not_addresses: u64,
}

/// Gathers [`LogsSummary`] request by request, in bounded memory.
pub struct LogsSummaryBuilder {
    start: i64,
    end: i64,
    methods: BTreeMap<String, u64>,
    statuses: BTreeMap<String, u64>,
    clients: TopK<IpAddr>,
    named_clients: u64,
}

impl Default for LogsSummaryBuilder {
    fn default() -> Self {
        LogsSummaryBuilder {
            start: i64::MAX,
            end: i64::MIN,
            methods: BTreeMap::new(),
            statuses: BTreeMap::new(),
            clients: TopK::new(1024),
            named_clients: 0,
        }
    }
}

impl LogsSummaryBuilder {
    /// Counts a request.
    #[inline]
    pub fn add(&mut self, q: &Request<'_>) {
        if let Some(ts) = q.ts {
            self.start = self.start.min(ts);
            self.end = self.end.max(ts);
        }
        let method = if q.method.is_empty() {
            "(no request)"
        } else {
            &q.method
        };
        if let Some(n) = self.methods.get_mut(method) {
            *n += 1;
        } else if self.methods.len() < MAX_METHODS {
            self.methods.insert(method.to_string(), 1);
        } else {
            *self.methods.entry("(other)".into()).or_default() += 1;
        }
        let class = match q.status {
            Some(s @ 100..=599) => format!("{}xx", s / 100),
            Some(_) => "other".into(),
            None => "none".into(),
        };
        *self.statuses.entry(class).or_default() += 1;
        match q.ip {
            Some(ip) => self.clients.add(ip, 1),
            None => self.named_clients += 1,
        }
    }

    /// The summary of the requests added, read from `files`, with the `top` busiest clients.
    pub fn finish(self, files: Vec<LogFile>, top: usize) -> LogsSummary {
        let counts = |m: BTreeMap<String, u64>| {
            let mut v: Vec<Count> = m
                .into_iter()
                .map(|(name, requests)| Count { name, requests })
                .collect();
            v.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.name.cmp(&b.name)));
            v
        };
        let has_time = self.start <= self.end;
        LogsSummary {
            requests: files.iter().map(|f| f.requests).sum(),
            malformed: files.iter().map(|f| f.malformed).sum(),
            files,
            start: has_time.then(|| levee_logs::format_ts(self.start)),
            end: has_time.then(|| levee_logs::format_ts(self.end)),
            methods: counts(self.methods),
            statuses: counts(self.statuses),
            top_clients: self
                .clients
                .top(top)
                .into_iter()
                .map(|(ip, requests)| Count {
                    name: ip.to_string(),
                    requests,
                })
                .collect(),
            clients_not_addresses: self.named_clients,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::io::Write;

    /// Records what it is told.
    #[derive(Default)]
    struct Told(RefCell<Vec<String>>);

    impl LogObserver for Told {
        fn cannot_read(&self, error: &LogError) {
            self.0.borrow_mut().push(format!("cannot read: {error}"));
        }
        fn malformed(&self, _file: &str, m: &Malformed) {
            self.0.borrow_mut().push(format!("line {}", m.line));
        }
        fn more_malformed(&self, _file: &str, count: u64) {
            self.0.borrow_mut().push(format!("{count} more"));
        }
        fn no_requests(&self, _file: &str, why: &str) {
            self.0.borrow_mut().push(format!("no requests: {why}"));
        }
    }

    const LINE: &str = "192.0.2.1 - - [10/Oct/2026:13:55:36 +0000] \"GET /a HTTP/1.1\" 200 2326 \"-\" \"curl/8.0\"";

    fn log(lines: &[&str]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for l in lines {
            writeln!(f, "{l}").unwrap();
        }
        f
    }

    #[test]
    fn malformed_lines_are_kept_up_to_the_bound_told_and_counted() {
        let f = log(&[LINE, "junk", LINE, "more junk", "junk again", LINE]);
        let told = Told::default();
        let mut summary = LogsSummaryBuilder::default();
        let read = for_each_request(
            &[f.path().to_path_buf()],
            &FormatSpec::Auto,
            2,
            &told,
            |q| summary.add(q),
        );
        assert!(read.damaged && !read.unreadable);
        let file = &read.files[0];
        assert_eq!((file.requests, file.malformed), (3, 3));
        let kept: Vec<u64> = file.first_malformed.iter().map(|m| m.line).collect();
        assert_eq!(kept, [2, 4]);
        assert_eq!(*told.0.borrow(), ["line 2", "line 4", "1 more"]);
        let s = summary.finish(read.files, 5);
        assert_eq!(s.requests, 3);
        assert_eq!(s.top_clients[0].name, "192.0.2.1");
        assert_eq!(s.methods[0].name, "GET");
    }

    #[test]
    fn a_log_without_requests_is_unreadable_and_none_at_all_is_an_error() {
        let empty = log(&[]);
        let good = log(&[LINE]);
        let missing = PathBuf::from("/nonexistent/levee.log");
        let told = Told::default();
        let mut read = for_each_request(
            &[
                empty.path().to_path_buf(),
                good.path().to_path_buf(),
                missing,
            ],
            &FormatSpec::Auto,
            10,
            &told,
            |_| {},
        );
        read.require_requests("requests", &told).unwrap();
        assert!(read.unreadable);
        assert_eq!(read.files[0].error.as_deref(), Some("the file is empty"));
        assert!(read.files[2].error.is_some());
        let said = told.0.borrow();
        assert!(said[0].starts_with("cannot read: "), "{said:?}");
        assert_eq!(said[1], "no requests: the file is empty");
        drop(said);
        let mut none = for_each_request(
            &[empty.path().to_path_buf()],
            &FormatSpec::Auto,
            10,
            &Quiet,
            |_| {},
        );
        let e = none.require_requests("requests", &Quiet).unwrap_err();
        assert!(
            e.to_string().starts_with("no requests could be read from "),
            "{e}"
        );
    }
}
