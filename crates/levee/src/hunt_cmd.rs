//! `levee hunt`: indicators of compromise looked for across captures, access logs and flow
//! exports (`levee-hunt` does the work). Text gives each indicator found with its first hits
//! and what was not found; `--json` and `--csv` give every hit, one a line, as it is found.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use levee_hunt::indicators::{read_file, Indicator, IndicatorFile};
use levee_hunt::{At, FileSummary, Hit, HitRef, HuntError, Index, Options, Sink};
use serde::Serialize;

use crate::cli::HuntArgs;
use crate::{bail_usage, Exit, EXIT_DAMAGED_RECORDS, EXIT_NOTHING_FOUND, EXIT_UNREADABLE_INPUT};
use levee_analyze::units::thousands;

pub fn run(a: HuntArgs) -> anyhow::Result<u8> {
    if a.json && a.csv {
        bail_usage!("--json and --csv are two output formats: choose one");
    }
    let log_format =
        levee_logs::FormatSpec::parse(&a.log_format).map_err(|e| crate::usage!("{e}"))?;
    let mut all_inputs: Vec<PathBuf> = a.inputs.clone();
    all_inputs.extend(a.iocs.iter().cloned());
    let file = match &a.out {
        Some(p) => Some(crate::output::PendingFile::create(p, &all_inputs, a.force)?),
        None => None,
    };
    let mut carved = carve_outputs(&a, &all_inputs)?;
    let report_files = match &a.report {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            let paths = levee_report::FILES.map(|n| dir.join(n));
            Some(crate::output::PendingFiles::create(
                &paths,
                &all_inputs,
                a.force,
            )?)
        }
        None => None,
    };
    let (index, files) = indicators(&a.iocs)?;
    if !a.iocs.is_empty() {
        tell_indicators(&files, index.indicators().len());
    }
    if index.indicators().is_empty() && !a.anomalies {
        return Err(Exit::no_input(
            "no indicator levee can look for in the indicator files (see above for why)".into(),
        ));
    }

    let mut out: Box<dyn Write + '_> = match &file {
        Some(f) => Box::new(std::io::BufWriter::new(f.file())),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let format = if a.json {
        Format::Json
    } else if a.csv {
        Format::Csv
    } else {
        Format::Text
    };
    let mut sink = Output {
        index: &index,
        format,
        out: &mut out,
        failed: None,
        found: BTreeMap::new(),
        show: a.show,
        damaged_told: 0,
        max_errors: a.max_errors,
        sightings: a.report.is_some().then(BTreeMap::new),
    };
    if format == Format::Csv {
        sink.line(CSV_HEADER.as_bytes());
    }
    let options = Options {
        log_format,
        carve: a.carve.is_some(),
        anomalies: a.anomalies,
    };
    let mut findings: Vec<levee_hunt::anomalies::Finding> = Vec::new();
    let mut summaries: Vec<FileSummary> = Vec::new();
    let mut unreadable = 0;
    for (i, input) in a.inputs.iter().enumerate() {
        match levee_hunt::hunt_file(input, &index, &options, &mut sink) {
            Ok(mut s) => {
                if let Some(out) = carved.get_mut(i).and_then(Option::take) {
                    carve(input, s.flows.take(), out)?;
                }
                findings.extend(s.findings.drain(..).filter(|f| f.score >= a.min_score));
                summaries.push(s)
            }
            Err(HuntError::Unreadable { file, why }) => {
                eprintln!("levee: {file}: {why}");
                unreadable += 1;
            }
        }
        if sink.failed.is_some() {
            break;
        }
    }
    findings.sort_by(|x, y| y.score.cmp(&x.score).then(x.first_ns.cmp(&y.first_ns)));
    if format == Format::Text {
        if !a.iocs.is_empty() {
            sink.write_text(&summaries);
        }
        if a.anomalies {
            sink.line(findings_text(&findings, a.min_score).as_bytes());
        }
    } else {
        for f in &findings {
            sink.finding(f);
        }
    }
    let failed = sink.failed.take();
    let sightings = sink.sightings.take();
    let hits: u64 = summaries.iter().map(|s| s.hits).sum();
    let damaged: u64 = summaries.iter().map(|s| s.damaged).sum();
    let flushed = out.flush();
    drop(out);
    match failed.map_or(flushed, Err) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe && file.is_none() => {}
        Err(e) => return Err(anyhow::Error::new(e).context("writing the hits")),
        Ok(()) => {}
    }
    if let Some(f) = file {
        f.commit()?;
    }
    if let (Some(outputs), Some(sightings)) = (report_files, sightings) {
        let report = hunt_report(&index, &files, &summaries, sightings);
        let paths = outputs.write_all(&levee_report::render(&report)?)?;
        eprintln!("levee: report: {}", paths[0].display());
    }
    tell_summaries(&summaries);
    if summaries.is_empty() {
        return Err(Exit::no_input("no input could be hunted".into()));
    }
    Ok(if unreadable > 0 {
        EXIT_UNREADABLE_INPUT
    } else if damaged > 0 {
        EXIT_DAMAGED_RECORDS
    } else if hits == 0 && findings.is_empty() {
        EXIT_NOTHING_FOUND
    } else {
        0
    })
}

/// What each input held, on standard error.
fn tell_summaries(summaries: &[FileSummary]) {
    for s in summaries {
        eprintln!(
            "levee: {}: {} ({} {}), {} hits{}",
            s.file,
            kind_name(s.kind),
            thousands(s.read),
            match s.kind {
                levee_hunt::InputKind::Capture => "frames",
                levee_hunt::InputKind::Log => "requests",
                _ => "flow records",
            },
            thousands(s.hits),
            if s.damaged > 0 {
                format!(", {} damaged", thousands(s.damaged))
            } else {
                String::new()
            }
        );
    }
}

/// The files `--carve` may write, one for each input (`DIR/NAME.hits.pcap`), checked and
/// created before any input is read, as every output is; those of inputs without hits are
/// removed unwritten.
fn carve_outputs(
    a: &HuntArgs,
    inputs: &[PathBuf],
) -> anyhow::Result<Vec<Option<crate::output::PendingFile>>> {
    let Some(dir) = &a.carve else {
        return Ok(Vec::new());
    };
    if dir.exists() && !dir.is_dir() {
        bail_usage!("--carve {} is a file; it names a directory", dir.display());
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for input in &a.inputs {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "stdin".into());
        if !names.insert(name.clone()) {
            bail_usage!(
                "--carve: two inputs are named {name}; their carved captures would have one name"
            );
        }
        let path = dir.join(format!("{name}.hits.pcap"));
        out.push(Some(crate::output::PendingFile::create(
            &path, inputs, a.force,
        )?));
    }
    Ok(out)
}

/// Writes the frames of the flows of `input` that hold hits to `out`, kept only when there
/// are any.
fn carve(
    input: &std::path::Path,
    flows: Option<levee_hunt::carve::Flows>,
    out: crate::output::PendingFile,
) -> anyhow::Result<()> {
    let Some(flows) = flows.filter(|f| !f.is_empty()) else {
        return Ok(());
    };
    let c = levee_hunt::carve::carve(input, &flows, std::io::BufWriter::new(out.file()))
        .map_err(|e| anyhow::anyhow!("carving {}: {e}", input.display()))?;
    let path = out.commit()?;
    eprintln!(
        "levee: {}: {} frames of the {} flows with hits carved to {}{}{}",
        input.display(),
        thousands(c.frames),
        thousands(flows.len() as u64),
        path.display(),
        if flows.left_out > 0 {
            format!(
                "; {} more flows with hits left out (at most {} are kept)",
                thousands(flows.left_out),
                thousands(levee_hunt::carve::MAX_FLOWS as u64)
            )
        } else {
            String::new()
        },
        if c.other_link_types > 0 {
            format!(
                "; {} frames of another link type left out (a pcap holds one)",
                thousands(c.other_link_types)
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Reads every indicator file, or stops at the first that cannot be read (a hunt with an
/// indicator file left out would say "not found" of what it never looked for).
fn indicators(paths: &[PathBuf]) -> anyhow::Result<(Index, Vec<(IndicatorFile, usize)>)> {
    let mut all: Vec<Indicator> = Vec::new();
    let mut files = Vec::new();
    for p in paths {
        let mut f = read_file(p).map_err(|e| Exit::no_input(format!("indicators: {e}")))?;
        let usable = f.indicators.len();
        all.append(&mut f.indicators);
        files.push((f, usable));
    }
    Ok((Index::new(all), files))
}

/// What the indicator files gave, on standard error: counts, what cannot be looked for and
/// why (the first few), and notes.
fn tell_indicators(files: &[(IndicatorFile, usize)], total: usize) {
    let per_file: Vec<String> = files
        .iter()
        .map(|(f, usable)| {
            format!(
                "{} ({}, {} usable{})",
                f.file,
                f.format.map_or("?", |x| x.name()),
                usable,
                if f.unusable.is_empty() {
                    String::new()
                } else {
                    format!(", {} not", f.unusable.len())
                }
            )
        })
        .collect();
    eprintln!("levee: {total} indicators from {}", per_file.join(", "));
    let unusable: Vec<_> = files.iter().flat_map(|(f, _)| &f.unusable).collect();
    for u in unusable.iter().take(10) {
        eprintln!(
            "levee: {}: not looked for: {} `{}`: {}",
            u.source, u.kind, u.value, u.why
        );
    }
    if unusable.len() > 10 {
        eprintln!(
            "levee: ... and {} more not looked for (--json lists none of them; see the files)",
            unusable.len() - 10
        );
    }
    for n in files.iter().flat_map(|(f, _)| &f.notes) {
        eprintln!("levee: note: {n}");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Json,
    Csv,
}

const CSV_HEADER: &str = "file,position,time,field,seen,kind,indicator,source,label,context\n";

/// What the text output keeps of an indicator's hits.
#[derive(Default)]
struct Found {
    hits: u64,
    first: Option<i64>,
    last: Option<i64>,
    files: Vec<String>,
    shown: Vec<(String, Hit)>,
}

/// Where the hunt's hits go: written as they come (JSON lines, CSV), or kept per indicator
/// for the text output.
struct Output<'a, 'w> {
    index: &'a Index,
    format: Format,
    out: &'a mut Box<dyn Write + 'w>,
    failed: Option<std::io::Error>,
    found: BTreeMap<u32, Found>,
    show: usize,
    damaged_told: usize,
    max_errors: usize,
    /// Each indicator seen in each field of each file, for `--report`.
    sightings: Option<BTreeMap<(u32, String, levee_hunt::Field), Seen>>,
}

/// What the report keeps of an indicator seen in one field of one file.
struct Seen {
    hits: u64,
    first: Option<i64>,
    last: Option<i64>,
    first_at: At,
    context: String,
}

/// The report of the hunt: its sightings by the time each began.
fn hunt_report(
    index: &Index,
    files: &[(IndicatorFile, usize)],
    summaries: &[FileSummary],
    sightings: BTreeMap<(u32, String, levee_hunt::Field), Seen>,
) -> levee_report::hunt_page::HuntReport {
    use levee_report::hunt_page::*;
    let indicator = |id: u32| {
        let i = index.indicator(id);
        IndicatorRef {
            kind: i.kind.name().to_string(),
            value: i.value.clone(),
            source: i.source.clone(),
            label: i.label.clone(),
        }
    };
    let found: std::collections::BTreeSet<u32> = sightings.keys().map(|k| k.0).collect();
    let mut rows: Vec<Sighting> = sightings
        .into_iter()
        .map(|((id, file, field), s)| Sighting {
            indicator: indicator(id),
            file,
            field: field.name().to_string(),
            hits: s.hits,
            first: time_of(s.first),
            last: time_of(s.last),
            first_at: s.first_at.to_string(),
            context: s.context,
        })
        .collect();
    // By first time (RFC 3339 in UTC sorts as time), those without one last.
    rows.sort_by(|a, b| (a.first.is_none(), &a.first).cmp(&(b.first.is_none(), &b.first)));
    HuntReport {
        report_version: HUNT_REPORT_VERSION,
        generator: format!("levee {}", env!("CARGO_PKG_VERSION")),
        title: "levee indicator hunt".into(),
        indicator_files: files
            .iter()
            .map(|(f, usable)| IndicatorFileRow {
                file: f.file.clone(),
                format: f.format.map_or("?", |x| x.name()).to_string(),
                usable: *usable as u64,
                unusable: f.unusable.len() as u64,
            })
            .collect(),
        inputs: summaries
            .iter()
            .map(|s| InputRow {
                file: s.file.clone(),
                kind: kind_name(s.kind).to_string(),
                read: s.read,
                hits: s.hits,
                damaged: s.damaged,
            })
            .collect(),
        sightings: rows,
        not_found: (0..index.indicators().len() as u32)
            .filter(|id| !found.contains(id))
            .map(indicator)
            .collect(),
        unusable: files
            .iter()
            .flat_map(|(f, _)| &f.unusable)
            .map(|u| UnusableRow {
                source: u.source.clone(),
                kind: u.kind.clone(),
                value: u.value.clone(),
                why: u.why.clone(),
            })
            .collect(),
        notes: files.iter().flat_map(|(f, _)| f.notes.clone()).collect(),
    }
}

/// A hit as a JSON line.
#[derive(Serialize)]
struct JsonHit<'a> {
    r#type: &'static str,
    file: &'a str,
    #[serde(flatten)]
    at: JsonAt,
    /// Nanoseconds since 1970.
    timestamp: Option<i64>,
    time: Option<String>,
    field: &'static str,
    seen: &'a str,
    indicator: &'a Indicator,
    context: &'a str,
}

#[derive(Serialize)]
struct JsonAt {
    #[serde(skip_serializing_if = "Option::is_none")]
    frame: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<u64>,
}

fn json_at(at: At) -> JsonAt {
    let (frame, line, record) = match at {
        At::Frame(f) => (Some(f), None, None),
        At::Line(l) => (None, Some(l), None),
        At::Record { frame, record } => (Some(frame), None, Some(u64::from(record))),
        At::JsonRecord(r) => (None, None, Some(r)),
    };
    JsonAt {
        frame,
        line,
        record,
    }
}

fn time_of(ts: Option<i64>) -> Option<String> {
    ts.map(levee_analyze::summary::format_ts)
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The findings without indicators, best first.
fn findings_text(findings: &[levee_hunt::anomalies::Finding], min_score: u8) -> String {
    let mut t = format!(
        "\n{} findings without indicators (score {min_score} or more; --min-score N)\n",
        findings.len()
    );
    for f in findings {
        t.push_str(&format!(
            "\n{:>3}  {}  {}  ({}, {} .. {})\n     {}\n",
            f.score,
            f.kind.name(),
            f.subject,
            f.file,
            time_of(Some(f.first_ns)).unwrap_or_default(),
            time_of(Some(f.last_ns)).unwrap_or_default(),
            f.evidence
        ));
    }
    t
}

/// A finding as a JSON line.
#[derive(Serialize)]
struct JsonFinding<'a> {
    r#type: &'static str,
    #[serde(flatten)]
    finding: &'a levee_hunt::anomalies::Finding,
    first: Option<String>,
    last: Option<String>,
}

impl Output<'_, '_> {
    /// A finding without indicators, as a JSON line or a CSV row.
    fn finding(&mut self, f: &levee_hunt::anomalies::Finding) {
        let line = match self.format {
            // In the hits' columns: the subject as what was seen, the score as the source.
            Format::Csv => format!(
                "{},,{},finding,{},{},,score {},,{}\n",
                csv_cell(&f.file),
                time_of(Some(f.first_ns)).unwrap_or_default(),
                csv_cell(&f.subject),
                f.kind.name(),
                f.score,
                csv_cell(&f.evidence)
            ),
            _ => {
                let j = JsonFinding {
                    r#type: "finding",
                    finding: f,
                    first: time_of(Some(f.first_ns)),
                    last: time_of(Some(f.last_ns)),
                };
                let mut l = serde_json::to_string(&j).expect("a finding serialises");
                l.push('\n');
                l
            }
        };
        self.line(line.as_bytes());
    }

    fn line(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            if let Err(e) = self.out.write_all(bytes) {
                self.failed = Some(e);
            }
        }
    }

    /// The text output: each indicator found, with its first hits; then those not found.
    fn write_text(&mut self, summaries: &[FileSummary]) {
        let mut text = String::new();
        let hits: u64 = self.found.values().map(|f| f.hits).sum();
        let total = self.index.indicators().len();
        text.push_str(&format!(
            "{} hits of {} of the {} indicators in {} files\n",
            thousands(hits),
            self.found.len(),
            total,
            summaries.len()
        ));
        for (&id, f) in &self.found {
            let i = self.index.indicator(id);
            text.push_str(&format!(
                "\n{} {}  ({}{})\n  {} hits, {} .. {}, in {}\n",
                i.kind.name(),
                i.value,
                i.source,
                i.label
                    .as_deref()
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default(),
                thousands(f.hits),
                time_of(f.first).unwrap_or_else(|| "?".into()),
                time_of(f.last).unwrap_or_else(|| "?".into()),
                f.files.join(", ")
            ));
            for (file, h) in &f.shown {
                text.push_str(&format!(
                    "    {file} {}  {}  {} {}  {}\n",
                    h.at,
                    time_of(h.ts).unwrap_or_else(|| "-".into()),
                    h.field.name(),
                    h.seen,
                    h.context
                ));
            }
            if f.hits > f.shown.len() as u64 {
                text.push_str(&format!(
                    "    ... {} more (--json or --csv for every hit)\n",
                    thousands(f.hits - f.shown.len() as u64)
                ));
            }
        }
        let not_found = total - self.found.len();
        if not_found > 0 {
            text.push_str(&format!("\nNot found: {not_found} indicators\n"));
            for (id, i) in self.index.indicators().iter().enumerate() {
                if !self.found.contains_key(&(id as u32)) {
                    text.push_str(&format!(
                        "  {} {}  ({})\n",
                        i.kind.name(),
                        i.value,
                        i.source
                    ));
                }
            }
        }
        self.line(text.as_bytes());
    }
}

impl Sink for Output<'_, '_> {
    fn hit(&mut self, file: &str, hit: &HitRef<'_>) {
        let indicator = self.index.indicator(hit.indicator);
        if let Some(sightings) = self.sightings.as_mut() {
            let key = (hit.indicator, file.to_string(), hit.field);
            let s = sightings.entry(key).or_insert_with(|| Seen {
                hits: 0,
                first: hit.ts,
                last: hit.ts,
                first_at: hit.at,
                context: hit.context(),
            });
            s.hits += 1;
            if let Some(ts) = hit.ts {
                s.first = Some(s.first.map_or(ts, |x| x.min(ts)));
                s.last = Some(s.last.map_or(ts, |x| x.max(ts)));
            }
        }
        match self.format {
            Format::Json => {
                let j = JsonHit {
                    r#type: "hit",
                    file,
                    at: json_at(hit.at),
                    timestamp: hit.ts,
                    time: time_of(hit.ts),
                    field: hit.field.name(),
                    seen: &hit.seen(),
                    indicator,
                    context: &hit.context(),
                };
                let mut line = serde_json::to_vec(&j).expect("a hit serialises");
                line.push(b'\n');
                self.line(&line);
            }
            Format::Csv => {
                let row = [
                    csv_cell(file),
                    hit.at.to_string(),
                    time_of(hit.ts).unwrap_or_default(),
                    hit.field.name().to_string(),
                    csv_cell(&hit.seen()),
                    indicator.kind.name().to_string(),
                    csv_cell(&indicator.value),
                    csv_cell(&indicator.source),
                    csv_cell(indicator.label.as_deref().unwrap_or("")),
                    csv_cell(&hit.context()),
                ]
                .join(",");
                self.line(format!("{row}\n").as_bytes());
            }
            Format::Text => {
                let f = self.found.entry(hit.indicator).or_default();
                f.hits += 1;
                if let Some(ts) = hit.ts {
                    f.first = Some(f.first.map_or(ts, |x| x.min(ts)));
                    f.last = Some(f.last.map_or(ts, |x| x.max(ts)));
                }
                if !f.files.iter().any(|x| x == file) {
                    f.files.push(file.to_string());
                }
                if f.shown.len() < self.show {
                    f.shown.push((file.to_string(), hit.to_hit()));
                }
            }
        }
    }

    fn damaged(&mut self, what: String) {
        self.damaged_told += 1;
        if self.damaged_told <= self.max_errors {
            eprintln!("levee: {what}");
        } else if self.damaged_told == self.max_errors + 1 {
            eprintln!("levee: more damaged records follow; they are counted, not shown");
        }
    }
}

fn kind_name(k: levee_hunt::InputKind) -> &'static str {
    match k {
        levee_hunt::InputKind::Capture => "capture",
        levee_hunt::InputKind::FlowExports => "flow exports",
        levee_hunt::InputKind::FlowJson => "flow records (JSON)",
        levee_hunt::InputKind::Log => "access log",
    }
}
