//! `levee analyze` on access logs: two passes of [`levee_l7`] over the requests, the clients'
//! verdicts and the attacks they make.

use std::path::{Path, PathBuf};

use levee_engine::logs::{LogFile, LogsRead};
use levee_engine::requests::{input_kind, InputKind, Requests, RequestsError};
use levee_engine::spool::{Keep, RequestSpool};
use levee_l7::{L7Analysis, L7Config};
use levee_logs::FormatSpec;
use serde::Serialize;

use crate::input;
use crate::logs_cmd::{exit_code, no_requests, LogTerminal};
use crate::InputArgs;

/// A command's layer-7 source: the engine's [`Requests`], with the command line's inputs
/// its messages name.
pub struct Source {
    requests: Requests,
    args: InputArgs,
}

impl Source {
    /// The layer-7 source of a command's inputs: logs (told by their bytes, or by a
    /// `--log-format` other than `auto`), the captures' HTTP requests with `http`, or `None`
    /// for the packet analysis. `spool` is where standard input was copied.
    pub fn of(
        input: &InputArgs,
        spool: Option<&Path>,
        log_format: &str,
        http: bool,
        command: &str,
    ) -> anyhow::Result<Option<Source>> {
        let requests = match log_inputs(&input.captures, log_format, http, command)? {
            Some(spec) => Requests::Logs {
                files: input.captures.clone(),
                spool: spool.map(Path::to_path_buf),
                spec,
            },
            None if http => Requests::Captures(input::inputs(input)),
            None => return Ok(None),
        };
        Ok(Some(Source {
            requests,
            args: input.clone(),
        }))
    }

    /// The HTTP requests of captures.
    pub fn captures(input: InputArgs) -> Source {
        Source {
            requests: Requests::Captures(input::inputs(&input)),
            args: input,
        }
    }

    /// `log` or `capture`, as the documents name their input.
    pub fn kind(&self) -> &'static str {
        self.requests.kind()
    }

    /// Hands every request to `f`, in order. Only the `first` pass reports problems.
    pub fn each(
        &self,
        first: bool,
        f: impl FnMut(&levee_logs::Request<'_>),
    ) -> anyhow::Result<LogsRead> {
        self.read(first, |pass, logs, terminal| {
            self.requests.each(pass, logs, terminal, f)
        })
    }

    /// Runs a reading of the requests (`read` gets the pass and the observers of logs and
    /// captures) and turns what stops it into the command's error.
    fn read<T>(
        &self,
        first: bool,
        read: impl FnOnce(u8, &LogTerminal, &input::Terminal) -> Result<T, RequestsError>,
    ) -> anyhow::Result<T> {
        let pass = if first { 1 } else { 2 };
        let terminal = input::Terminal::new(&self.args, pass);
        let logs = LogTerminal {
            spool: match &self.requests {
                Requests::Logs { spool, .. } => spool.clone(),
                Requests::Captures(_) => None,
            },
        };
        read(pass, &logs, &terminal).map_err(|e| match e {
            RequestsError::NoRequests(e) => no_requests(e),
            RequestsError::Read(e) => terminal.error(e),
        })
    }
}

impl Source {
    /// As [`Source::each`], on one thread per worker, each the requests of its share of the
    /// logs' clients (captures: all on this thread, to the first worker). Returns the workers.
    pub fn each_shared<W: Send>(
        &self,
        first: bool,
        workers: Vec<W>,
        each: impl Fn(&mut W, &levee_logs::Request<'_>) + Sync,
    ) -> anyhow::Result<(LogsRead, Vec<W>)> {
        self.read(first, |pass, logs, terminal| {
            self.requests
                .each_shared(pass, logs, terminal, workers, each)
        })
    }
}

/// The format to read the inputs with when they are access logs, `None` when they are
/// captures; an error when both kinds are mixed (`command` names the command in the message),
/// when `http` (which reads captures) is given logs, or when the format argument is wrong. A
/// `--log-format` other than `auto` means logs. Empty and unreadable inputs count as neither:
/// their reader reports them.
pub fn log_inputs(
    inputs: &[PathBuf],
    log_format: &str,
    http: bool,
    command: &str,
) -> anyhow::Result<Option<FormatSpec>> {
    let kinds: Vec<InputKind> = inputs.iter().map(|p| input_kind(p)).collect();
    let named = |k: InputKind| {
        inputs
            .iter()
            .zip(&kinds)
            .find(|(_, &x)| x == k)
            .map(|(p, _)| p.display().to_string())
    };
    let captures = named(InputKind::Capture);
    let text = named(InputKind::Text);
    if http {
        if let Some(t) = text {
            crate::bail_usage!(
                "--http reads HTTP requests from packet captures; {t} is not a pcap or pcapng capture (for an access log, leave out --http)"
            );
        }
        return Ok(None);
    }
    match (captures, text) {
        (Some(c), Some(t)) => crate::bail_usage!(
            "{c} is a capture and {t} is not (an access log?): give captures and access logs to separate `levee {command}` runs"
        ),
        (Some(c), None) if log_format != "auto" => crate::bail_usage!(
            "--log-format is for access logs; {c} is a packet capture"
        ),
        (Some(_), None) => Ok(None),
        // Only empty or unreadable inputs: the capture reader says what is wrong with them,
        // unless a log format was named.
        (None, None) if log_format == "auto" => Ok(None),
        (None, _) => Ok(Some(
            FormatSpec::parse(log_format).map_err(|e| crate::usage!("--log-format: {e}"))?,
        )),
    }
}

#[derive(Serialize)]
struct LogAnalysis {
    /// `log`: the input was access logs; `capture`: HTTP requests reassembled from captures
    /// (`--http`; without it captures give the document of docs/analyze-json.md).
    input: &'static str,
    files: Vec<LogFile>,
    malformed: u64,
    #[serde(flatten)]
    analysis: L7Analysis,
}

/// Analyses logs on `threads` threads (each a share of the clients; the analysis is one
/// thread's); returns the exit code.
pub fn analyze_logs(
    source: &Source,
    config: L7Config,
    threads: usize,
    asns: Option<&levee_report::Enricher>,
    json: bool,
    rules_out: Option<crate::output::PendingFile>,
) -> anyhow::Result<u8> {
    let asns = asns.map(|e| e as &dyn levee_l7::crawlers::AsnLookup);
    // One share of the clients per thread (one thread: all of them), each keeping its
    // requests for the second pass.
    let shares = levee_l7::Analyzer::shares(&config, threads)
        .into_iter()
        .map(|a| (a, RequestSpool::keeping(Keep::L7_COUNTS).ok()))
        .collect();
    let (outcome, shares) = source.each_shared(true, shares, |(a, spool), r| {
        a.add(r);
        keep(spool, r);
    })?;
    let (shares, spools): (Vec<_>, Vec<_>) = shares.into_iter().unzip();
    let mut judged = levee_l7::Analyzer::merged(shares, config).judge_checked(asns);
    let tallies = second_pass(
        source,
        spools,
        || judged.tallies(threads),
        |t, r| judged.count(t, r),
    )?;
    judged.absorb(tallies);
    let analysis = judged.finish();
    if let Some(out) = rules_out {
        use anyhow::Context;
        use std::io::Write;
        let file = levee_l7::rules::recommended_rules(&analysis);
        let header = format!(
            "Rules written by `levee analyze` for the layer-7 attacks it found in {}.\n\
             Per attack: a block of the clients judged part of it, and where the attack is one\n\
             of rate, a per-client rate limit above what every good client did. Measure them\n\
             with `levee simulate --rules FILE LOG`.",
            outcome
                .files
                .iter()
                .map(|f| f.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        );
        out.file()
            .write_all(file.to_toml(&header).as_bytes())
            .with_context(|| format!("cannot write {}", out.path().display()))?;
        let path = out.commit()?;
        eprintln!(
            "levee: wrote {} rule(s) for {} attack(s) to {}",
            file.rules.len(),
            analysis.attacks.len(),
            path.display()
        );
    }
    let code = exit_code(&outcome);
    let doc = LogAnalysis {
        input: source.kind(),
        malformed: outcome.files.iter().map(|f| f.malformed).sum(),
        files: outcome.files,
        analysis,
    };
    if json {
        crate::emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
    } else {
        crate::emit(&levee_report::logs_text::analysis(
            doc.input,
            &doc.files.iter().map(log_source).collect::<Vec<_>>(),
            doc.malformed,
            &doc.analysis,
        ))?;
    }
    Ok(code)
}

/// Writes a request to its spool; a spool that cannot take it is given up (the second pass
/// then reads the input again).
fn keep(spool: &mut Option<RequestSpool>, r: &levee_logs::Request<'_>) {
    if let Some(s) = spool {
        if s.push(r).is_err() {
            *spool = None;
        }
    }
}

/// A later pass over every request, in order: replayed from the spool the first pass kept
/// (every field: [`RequestSpool::new`]), or when it could not keep one, read again. A spool
/// that cannot be read back stops the command: part of the pass was already counted.
fn again(
    source: &Source,
    spool: &mut Option<RequestSpool>,
    each: impl FnMut(&levee_logs::Request<'_>),
) -> anyhow::Result<()> {
    match spool {
        Some(s) => {
            s.replay(each)?;
        }
        None => {
            source.each(false, each)?;
        }
    }
    Ok(())
}

/// The second pass, one worker per share: each replays its share's spool, or when one was
/// given up or cannot be read back, the input is read again (`workers` makes them afresh).
fn second_pass<W: Send>(
    source: &Source,
    spools: Vec<Option<RequestSpool>>,
    workers: impl Fn() -> Vec<W>,
    each: impl Fn(&mut W, &levee_logs::Request<'_>) + Sync,
) -> anyhow::Result<Vec<W>> {
    if let Some(spools) = spools.into_iter().collect::<Option<Vec<_>>>() {
        if let Ok(done) = levee_engine::spool::replay_shared(spools, workers(), &each) {
            return Ok(done);
        }
    }
    Ok(source.each_shared(false, workers(), each)?.1)
}

#[derive(Serialize)]
struct LogSimulationDoc {
    input: &'static str,
    files: Vec<LogFile>,
    #[serde(flatten)]
    simulation: levee_l7::simulate::LogSimulation,
}

/// Applies a rules file to logs, beside the verdicts of their clients; returns the exit code.
pub fn simulate_logs(rules: &Path, source: &Source, json: bool) -> anyhow::Result<u8> {
    let file = crate::rules_cmd::load(rules)?;
    let mut first = levee_l7::Analyzer::new(L7Config::default());
    let mut spool = RequestSpool::new().ok();
    let outcome = source.each(true, |r| {
        first.add(r);
        keep(&mut spool, r);
    })?;
    let judged = first.judge();
    let mut sim = levee_l7::simulate::LogSimulator::new(&file);
    again(source, &mut spool, |r| sim.add(r, &judged))?;
    let simulation = sim.finish(rules.display().to_string(), &judged);
    let code = exit_code(&outcome);
    if json {
        let doc = LogSimulationDoc {
            input: source.kind(),
            files: outcome.files,
            simulation,
        };
        crate::emit(&(serde_json::to_string_pretty(&doc)? + "\n"))?;
    } else {
        crate::emit(&levee_report::logs_text::simulation(&simulation))?;
    }
    Ok(code)
}

/// The report of access logs: three passes (profiles; verdicts, attack counts and the
/// timeline; the rules beside the verdicts). `given` replaces the recommended rules.
pub fn report_logs(
    source: &Source,
    given: Option<(levee_rules::RulesFile, PathBuf)>,
    enricher: &levee_report::Enricher,
) -> anyhow::Result<(levee_report::logs::LogReport, u8)> {
    let mut first = levee_l7::Analyzer::new(L7Config::default());
    let mut spool = RequestSpool::new().ok();
    let outcome = source.each(true, |r| {
        first.add(r);
        keep(&mut spool, r);
    })?;
    // Crawler claims are checked against the AS database when the report has one.
    let asns = enricher
        .asn_path()
        .map(|_| enricher as &dyn levee_l7::crawlers::AsnLookup);
    let mut judged = first.judge_checked(asns);
    let (start, end) = judged.time_span().unwrap_or((0, 0));
    let mut timeline = levee_report::logs::LogTimeline::new(start, end);
    again(source, &mut spool, |r| {
        judged.add(r);
        if let Some(ts) = r.ts {
            timeline.add(ts, r.bytes.unwrap_or(0), judged.judgement(r).2);
        }
    })?;
    let analysis = judged.analysis();
    let (applied, name, applied_given) = match given {
        Some((f, p)) => (f, p.display().to_string(), true),
        None => (
            levee_l7::rules::recommended_rules(&analysis),
            "recommended rules".to_string(),
            false,
        ),
    };
    let mut sim = levee_l7::simulate::LogSimulator::new(&applied);
    again(source, &mut spool, |r| sim.add(r, &judged))?;
    let simulation = sim.finish(name, &judged);
    let report = levee_report::logs::build(levee_report::logs::LogInputs {
        input: source.kind(),
        files: outcome.files.iter().map(log_source).collect(),
        timeline: timeline.view(&analysis),
        analysis,
        applied: &applied,
        applied_given,
        simulation,
    });
    Ok((report, exit_code(&outcome)))
}

/// A log as the report lists it.
pub fn log_source(f: &LogFile) -> levee_report::logs::LogSource {
    levee_report::logs::LogSource {
        name: f.name.clone(),
        format: f.format.clone(),
        requests: f.requests,
        malformed: f.malformed,
    }
}
