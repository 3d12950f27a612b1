//! `levee logs`: reads access logs and says what levee makes of them: the format it detected,
//! how many lines are requests and which lines are not (with their numbers and what is
//! wrong), the time span, methods, status classes and the busiest clients. The first thing to
//! run on a log someone hands over, before analysing it.

use crate::cli::LogsArgs;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use levee_analyze::sketch::TopK;
use levee_logs::{Entry, FormatSpec, LogReader};
use serde::Serialize;

use crate::{EXIT_DAMAGED_RECORDS, EXIT_UNREADABLE_INPUT};

/// Distinct methods kept by name; past that (garbage sent by scanners), `(other)`.
const MAX_METHODS: usize = 32;

#[derive(Serialize)]
struct LogsSummary {
    files: Vec<LogFile>,
    requests: u64,
    malformed: u64,
    start: Option<String>,
    end: Option<String>,
    methods: Vec<Count>,
    statuses: Vec<Count>,
    top_clients: Vec<Count>,
    /// Requests whose client was logged as a name, not an address (not in `top_clients`).
    clients_not_addresses: u64,
}

#[derive(Serialize)]
pub struct LogFile {
    name: String,
    format: String,
    compression: String,
    lines: u64,
    requests: u64,
    pub malformed: u64,
    skipped: u64,
    /// The first malformed lines: number and what is wrong.
    first_malformed: Vec<Malformed>,
    /// Why the file could not be read (to the end), if it could not.
    error: Option<String>,
}

impl LogFile {
    /// A capture whose HTTP requests were reassembled, listed like a log.
    pub fn capture(name: String, format: String, requests: u64, error: Option<String>) -> LogFile {
        LogFile {
            name,
            format,
            compression: String::new(),
            lines: 0,
            requests,
            malformed: 0,
            skipped: 0,
            first_malformed: Vec::new(),
            error,
        }
    }

    /// The file as the report lists it.
    pub fn source(&self) -> levee_report::logs::LogSource {
        levee_report::logs::LogSource {
            name: self.name.clone(),
            format: self.format.clone(),
            requests: self.requests,
            malformed: self.malformed,
        }
    }
}

#[derive(Serialize)]
pub struct Malformed {
    line: u64,
    error: String,
}

#[derive(Serialize)]
struct Count {
    name: String,
    requests: u64,
}

/// What reading a set of logs gave: each file's counts, and whether any could not be read
/// or had malformed lines.
pub struct ReadOutcome {
    pub files: Vec<LogFile>,
    pub unreadable: bool,
    pub damaged: bool,
}

impl ReadOutcome {
    /// The input rule for requests: a file that gave none is an unreadable input (said on
    /// standard error unless `quiet`), and inputs that together gave none are an error.
    /// `what` names the requests (`requests`, `HTTP/1.x requests`).
    pub fn require_requests(&mut self, quiet: bool, what: &str) -> anyhow::Result<()> {
        for f in &mut self.files {
            if f.requests == 0 && f.error.is_none() {
                let why = if f.lines == 0 {
                    "the file is empty".to_string()
                } else if f.malformed > 0 && f.format == "auto" {
                    format!(
                        "none of its {} lines is an access-log line in a format levee knows, \
                         and it is not a pcap or pcapng capture either",
                        f.lines
                    )
                } else if f.malformed > 0 {
                    format!(
                        "none of its {} lines is a request in the {} format",
                        f.lines, f.format
                    )
                } else {
                    format!("no {what} in it")
                };
                if !quiet {
                    eprintln!("levee: {}: {why}", f.name);
                }
                f.error = Some(why);
                self.unreadable = true;
            }
        }
        if self.files.iter().all(|f| f.requests == 0) {
            let names: Vec<&str> = self.files.iter().map(|f| f.name.as_str()).collect();
            return Err(crate::Exit::no_input(format!(
                "no {what} could be read from {}",
                names.join(", ")
            )));
        }
        Ok(())
    }

    /// Names the spooled copy of standard input `-` again.
    pub fn name_spool(&mut self, spool: Option<&std::path::Path>) {
        if let Some(spool) = spool {
            for f in &mut self.files {
                if std::path::Path::new(&f.name) == spool {
                    f.name = "-".into();
                }
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        if self.unreadable {
            EXIT_UNREADABLE_INPUT
        } else if self.damaged {
            EXIT_DAMAGED_RECORDS
        } else {
            0
        }
    }
}

/// Reads every request of the logs in order, reporting malformed lines (the first
/// `show_malformed` of each file) and unreadable files on standard error unless `quiet`.
pub fn for_each_request(
    logs: &[PathBuf],
    spool: Option<&std::path::Path>,
    spec: &FormatSpec,
    show_malformed: usize,
    quiet: bool,
    mut f: impl FnMut(&levee_logs::Request<'_>),
) -> ReadOutcome {
    // Standard input, or its spooled copy, is named as the user knows it.
    let shown = |name: &str| -> String {
        if name == "-" || spool.is_some_and(|s| std::path::Path::new(name) == s) {
            "standard input (-)".into()
        } else {
            name.to_string()
        }
    };
    let mut files = Vec::new();
    let (mut unreadable, mut damaged) = (false, false);
    for path in logs {
        let mut reader = match LogReader::open(path, spec.clone()) {
            Ok(r) => r,
            Err(e) => {
                if !quiet {
                    eprintln!("levee: {e}");
                }
                unreadable = true;
                files.push(LogFile {
                    name: path.display().to_string(),
                    format: String::new(),
                    compression: String::new(),
                    lines: 0,
                    requests: 0,
                    malformed: 0,
                    skipped: 0,
                    first_malformed: Vec::new(),
                    error: Some(e.to_string()),
                });
                continue;
            }
        };
        let mut first_malformed = Vec::new();
        let mut error = None;
        while let Some(entry) = reader.next_entry() {
            match entry {
                Err(e) => {
                    if !quiet {
                        eprintln!("levee: {e}");
                    }
                    error = Some(e.to_string());
                    unreadable = true;
                    break;
                }
                Ok(Entry::Malformed { line, error }) => {
                    damaged = true;
                    if first_malformed.len() < show_malformed {
                        first_malformed.push(Malformed {
                            line,
                            error: error.to_string(),
                        });
                    }
                }
                Ok(Entry::Request(q)) => f(&q),
            }
        }
        let s = reader.stats();
        if !quiet {
            for m in &first_malformed {
                eprintln!(
                    "levee: {}: line {}: {}",
                    shown(reader.name()),
                    m.line,
                    m.error
                );
            }
            if s.malformed > first_malformed.len() as u64 {
                eprintln!(
                    "levee: {}: {} more malformed lines not shown",
                    shown(reader.name()),
                    s.malformed - first_malformed.len() as u64
                );
            }
        }
        files.push(LogFile {
            name: reader.name().to_string(),
            format: reader.format_name().to_string(),
            compression: reader.compression().to_string(),
            lines: s.lines,
            requests: s.requests,
            malformed: s.malformed,
            skipped: s.skipped,
            first_malformed,
            error,
        });
    }
    ReadOutcome {
        files,
        unreadable,
        damaged,
    }
}

pub fn run(a: LogsArgs) -> anyhow::Result<u8> {
    let spec = FormatSpec::parse(&a.log_format).map_err(|e| crate::usage!("--log-format: {e}"))?;
    let (mut start, mut end) = (i64::MAX, i64::MIN);
    let mut methods: BTreeMap<String, u64> = BTreeMap::new();
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    let mut clients: TopK<IpAddr> = TopK::new(1024);
    let mut named_clients = 0u64;
    let outcome = for_each_request(&a.logs, None, &spec, a.show_malformed, false, |q| {
        if let Some(ts) = q.ts {
            start = start.min(ts);
            end = end.max(ts);
        }
        let method = if q.method.is_empty() {
            "(no request)"
        } else {
            &q.method
        };
        if let Some(n) = methods.get_mut(method) {
            *n += 1;
        } else if methods.len() < MAX_METHODS {
            methods.insert(method.to_string(), 1);
        } else {
            *methods.entry("(other)".into()).or_default() += 1;
        }
        let class = match q.status {
            Some(s @ 100..=599) => format!("{}xx", s / 100),
            Some(_) => "other".into(),
            None => "none".into(),
        };
        *statuses.entry(class).or_default() += 1;
        match q.ip {
            Some(ip) => clients.add(ip, 1),
            None => named_clients += 1,
        }
    });
    let mut outcome = outcome;
    outcome.require_requests(false, "requests")?;
    let counts = |m: BTreeMap<String, u64>| {
        let mut v: Vec<Count> = m
            .into_iter()
            .map(|(name, requests)| Count { name, requests })
            .collect();
        v.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.name.cmp(&b.name)));
        v
    };
    let has_time = start <= end;
    let code = outcome.exit_code();
    let files = outcome.files;
    let summary = LogsSummary {
        requests: files.iter().map(|f| f.requests).sum(),
        malformed: files.iter().map(|f| f.malformed).sum(),
        files,
        start: has_time.then(|| levee_analyze::summary::format_ts(start)),
        end: has_time.then(|| levee_analyze::summary::format_ts(end)),
        methods: counts(methods),
        statuses: counts(statuses),
        top_clients: clients
            .top(a.top)
            .into_iter()
            .map(|(ip, requests)| Count {
                name: ip.to_string(),
                requests,
            })
            .collect(),
        clients_not_addresses: named_clients,
    };
    if a.json {
        crate::emit(&(serde_json::to_string_pretty(&summary)? + "\n"))?;
    } else {
        crate::emit(&text(&summary))?;
    }
    Ok(code)
}

fn text(s: &LogsSummary) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    for f in &s.files {
        let _ = writeln!(
            o,
            "{}: {} format, compression {}: {} lines, {} requests, {} malformed, {} blank or comment",
            f.name, f.format, f.compression, f.lines, f.requests, f.malformed, f.skipped
        );
        if let Some(e) = &f.error {
            let _ = writeln!(o, "  not read to the end: {e}");
        }
    }
    let _ = writeln!(
        o,
        "{} requests from {} to {}",
        s.requests,
        s.start.as_deref().unwrap_or("?"),
        s.end.as_deref().unwrap_or("?")
    );
    let list = |v: &[Count]| {
        v.iter()
            .map(|c| format!("{} {}", c.name, c.requests))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(o, "methods   {}", list(&s.methods));
    let _ = writeln!(o, "statuses  {}", list(&s.statuses));
    let _ = writeln!(o, "clients   {}", list(&s.top_clients));
    if s.clients_not_addresses > 0 {
        let _ = writeln!(
            o,
            "          ({} requests from clients logged by name)",
            s.clients_not_addresses
        );
    }
    o
}
