//! `levee monitor` (traffic in, incidents and alerts out; the work is `levee-monitor`'s) and
//! `levee incidents` (what people do with the incidents).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use levee_incidents::{Alert, AlertKind, Incident, Store};
use levee_monitor::{AlertSink, JsonLines, Monitor, MonitorConfig, Pace, Watcher};

use std::path::{Path, PathBuf};

use crate::cli::{IncidentsArgs, IncidentsCommand, MonitorArgs, ThresholdArgs};
use crate::{bail_usage, EXIT_DAMAGED_RECORDS};

/// Tells people on standard error what the monitor does.
struct Terminal {
    verbose: bool,
    /// With `--evidence`: how each ended incident's capture is reported.
    reports: Option<Reports>,
}

/// Each ended incident's capture reported as `levee report` would (its three files in
/// `incident-ID-report/` beside it), on a thread of its own so the traffic keeps flowing; the
/// report is recorded in the incident's history.
struct Reports {
    db: PathBuf,
    /// The sampling rate of flow records that state none (`--collect`'s captures of exports).
    flow_sampling: u64,
    analysis: levee_analyze::AnalyzeConfig,
    device: String,
    running: Vec<std::thread::JoinHandle<()>>,
}

impl Reports {
    fn start(&mut self, incident: i64, capture: &Path) {
        let capture = capture.to_path_buf();
        let dir = capture.with_file_name(format!("incident-{incident}-report"));
        let (db, analysis, device) = (self.db.clone(), self.analysis.clone(), self.device.clone());
        let flow_sampling = self.flow_sampling;
        self.running.push(std::thread::spawn(move || {
            let made = || -> anyhow::Result<String> {
                let input = crate::InputArgs {
                    captures: vec![capture.clone()],
                    no_progress: true,
                    max_errors: 0,
                    spool: None,
                    flow_sampling,
                };
                let outputs = crate::report_cmd::report_files(&dir, &input.captures, false)?;
                let enricher = levee_report::Enricher::open(None, None)?;
                let (report, _) = crate::report_cmd::make_report(
                    &input, None, analysis, 1, None, &enricher, &device,
                )?;
                outputs.write_all(&levee_report::render(&report)?)?;
                let headline = levee_report::Document::headline(&report);
                Store::open(&db)?.report_written(
                    incident,
                    &dir.display().to_string(),
                    &headline,
                )?;
                Ok(headline)
            };
            match made() {
                Ok(headline) => eprintln!(
                    "levee: incident {incident}'s report: {}: {headline}",
                    dir.join(levee_report::FILES[0]).display()
                ),
                Err(e) => eprintln!("levee: incident {incident}'s report could not be made: {e:#}"),
            }
        }));
    }

    /// Waits for the reports still being made.
    fn finish(&mut self) {
        for r in self.running.drain(..) {
            let _ = r.join();
        }
    }
}

impl Watcher for Terminal {
    fn alert(&mut self, a: &Alert) {
        let i = &a.incident;
        let what = match (a.alert, a.resumed) {
            (AlertKind::Start, false) => "START",
            (AlertKind::Start, true) => "BACK",
            (AlertKind::Escalation, _) => "ESCALATION",
            (AlertKind::End, _) => "END",
        };
        eprintln!(
            "{}  {what:<10} incident {}: {} on {}, peak {}{}",
            a.traffic_time,
            i.id,
            i.vector,
            target_of(i),
            i.measure.rate(i.peak_pps),
            match (i.sources, i.spoofed_likely) {
                (0, _) => String::new(),
                (n, true) => format!(", ~{n} sources (likely spoofed)"),
                (n, false) => format!(", ~{n} sources"),
            }
        );
    }

    fn window(&mut self, w: &levee_engine::stream::WindowSummary) {
        if self.verbose {
            eprintln!(
                "{}  {} packets, {}",
                levee_logs::format_ts(w.start_ns),
                levee_analyze::units::thousands(w.packets),
                levee_analyze::units::bits_rate(w.bps())
            );
        }
    }

    fn alert_failed(&mut self, sink: &str, why: &str) {
        eprintln!("levee: an alert could not be written to {sink}: {why}");
    }

    fn evidence_failed(&mut self, incident: i64, why: &str) {
        eprintln!("levee: incident {incident}'s capture could not be written: {why}");
    }

    fn metrics_failed(&mut self, path: &str, why: &str) {
        eprintln!("levee: metrics could not be written to {path}: {why}");
    }

    fn damaged(&mut self, what: &str) {
        eprintln!("levee: {what}");
    }

    fn sample_closed(&mut self, incident: i64, capture: &Path) {
        if let Some(reports) = &mut self.reports {
            reports.start(incident, capture);
        }
    }

    fn kernel_drops(&mut self, new: u64, total: u64) {
        eprintln!(
            "levee: the kernel dropped {} packets the monitor could not take in time ({} in all): \
             the rates and counts of this second are low",
            levee_analyze::units::thousands(new),
            levee_analyze::units::thousands(total)
        );
    }
}

/// What the monitor reads.
enum Input {
    File(levee_capture::CaptureReader),
    Flows(Box<levee_monitor::collect::FlowInput>),
    Log(Box<levee_monitor::logs::LogTail>),
    #[cfg(target_os = "linux")]
    Live(levee_capture::live::LiveCapture),
}

impl Input {
    /// Opens the capture or the interface the arguments name.
    fn open(a: &MonitorArgs) -> anyhow::Result<Input> {
        if let Some(path) = &a.read {
            return levee_capture::CaptureReader::open(path)
                .map(Input::File)
                .map_err(|e| crate::Exit::no_input(e.to_string()));
        }
        if let Some(path) = &a.log {
            let spec = levee_logs::FormatSpec::parse(&a.log_format)
                .map_err(|e| crate::Exit::usage(format!("--log-format: {e}")))?;
            return levee_monitor::logs::LogTail::open(path, spec, a.from_start)
                .map(|t| Input::Log(Box::new(t)))
                .map_err(|e| crate::Exit::no_input(format!("{}: {e}", path.display())));
        }
        if let Some(addr) = a.collect {
            let rate = u32::try_from(a.sampling_rate).unwrap_or(u32::MAX);
            return levee_monitor::collect::FlowInput::bind(addr, rate)
                .map(|f| Input::Flows(Box::new(f)))
                .map_err(|e| crate::Exit::no_input(format!("--collect {addr}: {e}")));
        }
        let interface = a.interface.as_deref().unwrap_or_default();
        #[cfg(target_os = "linux")]
        {
            levee_capture::live::LiveCapture::open(
                interface,
                &levee_capture::live::LiveConfig::default(),
            )
            .map(Input::Live)
            .map_err(|e| crate::Exit::no_input(e.to_string()))
        }
        #[cfg(not(target_os = "linux"))]
        Err(crate::Exit::usage(format!(
            "--interface {interface}: live capture is only built for Linux; \
             record with tcpdump and use --read"
        )))
    }

    /// What is monitored, as the first line tells it.
    fn describe(&self, a: &MonitorArgs) -> String {
        match self {
            Input::File(_) => format!(
                "{} ({})",
                a.read
                    .as_deref()
                    .unwrap_or(std::path::Path::new("-"))
                    .display(),
                if a.realtime {
                    "at its own pace"
                } else {
                    "as fast as it reads"
                }
            ),
            Input::Log(tail) => format!(
                "the access log {} ({})",
                tail.name(),
                if a.from_start {
                    "from its first line"
                } else {
                    "the lines written from now on"
                }
            ),
            Input::Flows(flows) => format!(
                "flow exports to {} (receive buffer {} KiB{})",
                flows.local_addr(),
                flows.receive_buffer() >> 10,
                if a.sampling_rate > 1 {
                    format!(
                        "; records that state no sampling rate: 1 in {}",
                        a.sampling_rate
                    )
                } else {
                    String::new()
                }
            ),
            #[cfg(target_os = "linux")]
            Input::Live(live) => format!("interface {}", live.interface()),
        }
    }
}

/// The settings a configuration file may hold: `levee monitor`'s options by their long names.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    read: Option<PathBuf>,
    interface: Option<String>,
    collect: Option<std::net::SocketAddr>,
    sampling_rate: Option<u64>,
    log: Option<PathBuf>,
    log_format: Option<String>,
    from_start: Option<bool>,
    realtime: Option<bool>,
    db: Option<PathBuf>,
    #[serde(default)]
    alerts: Vec<PathBuf>,
    #[serde(default)]
    webhook: Vec<String>,
    #[serde(default)]
    syslog: Vec<String>,
    evidence: Option<PathBuf>,
    metrics: Option<PathBuf>,
    metrics_listen: Option<std::net::SocketAddr>,
    quiet: Option<f64>,
    device: Option<String>,
    networks: Option<PathBuf>,
    min_pps: Option<f64>,
    min_packets: Option<u64>,
    min_sources: Option<u64>,
    min_reflectors: Option<u64>,
}

/// The options a configuration file gives, the others at their defaults.
fn from_file(path: &Path, verbose: bool) -> anyhow::Result<MonitorArgs> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::Exit::no_input(format!("{}: {e}", path.display())))?;
    let f: ConfigFile = toml::from_str(&text)
        .map_err(|e| crate::Exit::usage(format!("{}: {e}", path.display())))?;
    if [
        f.read.is_some(),
        f.interface.is_some(),
        f.collect.is_some(),
        f.log.is_some(),
    ]
    .iter()
    .filter(|&&given| given)
    .count()
        != 1
    {
        bail_usage!(
            "{}: give the input as exactly one of read = \"FILE\", interface = \"IF\", \
             collect = \"ADDR:PORT\" or log = \"FILE\"",
            path.display()
        );
    }
    if f.sampling_rate.is_some() && f.collect.is_none() {
        bail_usage!("{}: sampling_rate is for collect", path.display());
    }
    if (f.log_format.is_some() || f.from_start.is_some()) && f.log.is_none() {
        bail_usage!("{}: log_format and from_start are for log", path.display());
    }
    if f.realtime == Some(true) && f.read.is_none() {
        bail_usage!("{}: realtime = true is for a capture read", path.display());
    }
    let Some(db) = f.db else {
        bail_usage!(
            "{}: db = \"FILE\" names the incident database",
            path.display()
        );
    };
    let defaults = ThresholdArgs::default();
    Ok(MonitorArgs {
        config: Some(path.to_path_buf()),
        read: f.read,
        interface: f.interface,
        collect: f.collect,
        sampling_rate: f.sampling_rate.unwrap_or(1),
        log: f.log,
        log_format: f.log_format.unwrap_or_else(|| "auto".into()),
        from_start: f.from_start.unwrap_or(false),
        realtime: f.realtime.unwrap_or(false),
        db: Some(db),
        alerts: f.alerts,
        webhook: f.webhook,
        syslog: f.syslog,
        evidence: f.evidence,
        metrics: f.metrics,
        metrics_listen: f.metrics_listen,
        quiet: f.quiet.unwrap_or(30.0),
        device: f.device.unwrap_or_else(|| "eth0".into()),
        networks: f.networks,
        thresholds: ThresholdArgs {
            min_pps: f.min_pps.unwrap_or(defaults.min_pps),
            min_packets: f.min_packets.unwrap_or(defaults.min_packets),
            min_sources: f.min_sources.unwrap_or(defaults.min_sources),
            min_reflectors: f.min_reflectors.unwrap_or(defaults.min_reflectors),
        },
        verbose,
    })
}

/// The monitor's settings and alert sinks the options ask for, checked: no output may be
/// written over an input or another output.
fn settings(a: &MonitorArgs) -> anyhow::Result<(MonitorConfig, Vec<Box<dyn AlertSink>>)> {
    if !(a.quiet > 0.0 && a.quiet.is_finite()) {
        bail_usage!("--quiet is a positive number of seconds");
    }
    if a.sampling_rate == 0 {
        bail_usage!("--sampling-rate is N in \"one packet in N\": at least 1");
    }
    let same = |x: &Path, y: &Path| {
        x == y || matches!((x.canonicalize(), y.canonicalize()), (Ok(p), Ok(q)) if p == q)
    };
    let db = a.db.clone().unwrap_or_default();
    let read = a.read.clone().unwrap_or_default();
    if a.read.is_some() && same(&db, &read) {
        bail_usage!("--db names the capture --read reads");
    }
    let inputs: Vec<&Path> = [
        Some(db.as_path()),
        a.read.as_deref(),
        a.config.as_deref(),
        a.networks.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    if let Some(m) = &a.metrics {
        if inputs.iter().any(|p| same(m, p)) || a.alerts.iter().any(|p| same(m, p)) {
            bail_usage!(
                "--metrics {} is another input or output: give it a file of its own",
                m.display()
            );
        }
    }
    for alerts in a.alerts.iter().filter(|p| p.as_os_str() != "-") {
        if inputs.iter().any(|p| same(alerts, p)) {
            bail_usage!(
                "--alerts {} is the database, the configuration, the networks or the capture: \
                 alerts go to a file of their own",
                alerts.display()
            );
        }
    }
    let mut sinks: Vec<Box<dyn AlertSink>> = Vec::new();
    for path in &a.alerts {
        if path.as_os_str() == "-" {
            sinks.push(Box::new(JsonLines::stdout()));
        } else {
            let sink = JsonLines::append(path)
                .with_context(|| format!("cannot open {} for alerts", path.display()))?;
            sinks.push(Box::new(sink));
        }
    }
    for url in &a.webhook {
        sinks.push(Box::new(
            levee_monitor::Webhook::new(url).map_err(crate::Exit::usage)?,
        ));
    }
    for url in &a.syslog {
        sinks.push(Box::new(
            levee_monitor::Syslog::new(url).map_err(crate::Exit::usage)?,
        ));
    }
    let mut analysis = a.thresholds.config();
    if a.collect.is_some() {
        // Flow records' packets come scaled by their sampling rates, their headers partly
        // unknown: as `analyze` reads a capture of exports.
        analysis.from_flows = true;
        analysis.wire_one_in = 1;
    }
    let mut config = MonitorConfig::new(analysis);
    config.quiet_ns = (a.quiet * 1e9) as i64;
    config.device = a.device.clone();
    config.evidence_dir = a.evidence.clone();
    config.metrics_file = a.metrics.clone();
    config.metrics_listen = a.metrics_listen;
    if let Some(path) = &a.networks {
        let networks = levee_monitor::Networks::read(path).map_err(|e| match e {
            levee_monitor::NetworksError::Unreadable { .. } => crate::Exit::no_input(e.to_string()),
            _ => crate::Exit::usage(e.to_string()),
        })?;
        config.networks = Some(Arc::new(networks));
    }
    Ok((config, sinks))
}

/// Stop on SIGINT and SIGTERM; on SIGHUP, take the configuration file again.
struct Signals {
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    running: MonitorArgs,
}

impl levee_monitor::Control for Signals {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn between(&mut self, monitor: &mut Monitor<'_>) {
        if !self.reload.swap(false, Ordering::Relaxed) {
            return;
        }
        let Some(path) = self.running.config.clone() else {
            eprintln!("levee: SIGHUP: there is no --config file to take again");
            return;
        };
        let taken = from_file(&path, self.running.verbose)
            .and_then(|a| settings(&a).map(|(config, sinks)| (a, config, sinks)));
        match taken {
            Ok((a, config, sinks)) => {
                let mut kept: Vec<&str> = monitor.reconfigure(config, sinks);
                if a.read != self.running.read
                    || a.interface != self.running.interface
                    || a.collect != self.running.collect
                    || a.sampling_rate != self.running.sampling_rate
                    || a.log != self.running.log
                    || a.log_format != self.running.log_format
                    || a.realtime != self.running.realtime
                {
                    kept.push("the input");
                }
                if a.db != self.running.db {
                    kept.push("db");
                }
                eprintln!(
                    "levee: {} taken again: min_pps {}, quiet {} s, {} alert sinks{}",
                    path.display(),
                    a.thresholds.min_pps,
                    a.quiet,
                    a.alerts.len() + a.webhook.len() + a.syslog.len(),
                    if kept.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; {} changed but only a restart changes them: kept as they were",
                            kept.join(", ")
                        )
                    }
                );
                self.running = MonitorArgs {
                    read: self.running.read.clone(),
                    interface: self.running.interface.clone(),
                    collect: self.running.collect,
                    sampling_rate: self.running.sampling_rate,
                    log: self.running.log.clone(),
                    log_format: self.running.log_format.clone(),
                    from_start: self.running.from_start,
                    realtime: self.running.realtime,
                    db: self.running.db.clone(),
                    evidence: self.running.evidence.clone(),
                    ..a
                };
            }
            Err(e) => eprintln!(
                "levee: {} not taken again, the settings stay as they were: {e}",
                path.display()
            ),
        }
    }
}

pub fn monitor(a: MonitorArgs) -> anyhow::Result<u8> {
    let a = match &a.config {
        Some(path) => from_file(path, a.verbose)?,
        None => a,
    };
    let (config, sinks) = settings(&a)?;
    let networks = config.networks.clone();
    let db = a.db.clone().unwrap_or_default();
    let read = a.read.clone().unwrap_or_default();
    // The input first, then the database: a mistake creates no database.
    let input = Input::open(&a)?;
    let store = Store::open(&db).with_context(|| format!("{}", db.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))?;
    let mut terminal = Terminal {
        verbose: a.verbose,
        reports: a.evidence.is_some().then(|| Reports {
            db: db.clone(),
            flow_sampling: a.sampling_rate,
            analysis: a.thresholds.config(),
            device: a.device.clone(),
            running: Vec::new(),
        }),
    };
    let mut m = Monitor::new(config, store, sinks, &mut terminal)?;
    eprintln!(
        "levee: monitoring {}, incidents in {}{}{}",
        input.describe(&a),
        db.display(),
        match (&a.networks, &networks) {
            (Some(path), Some(n)) => format!(
                "; protecting the {} networks of {}",
                n.list().len(),
                path.display()
            ),
            _ => String::new(),
        },
        m.metrics_addr()
            .map(|addr| format!("; metrics at http://{addr}/metrics"))
            .unwrap_or_default()
    );
    let pace = if a.realtime {
        Pace::Realtime
    } else {
        Pace::Fast
    };
    // Inputs whose kernel counters are read.
    let live = !matches!(input, Input::File(_) | Input::Log(_));
    let from_log = matches!(input, Input::Log(_));
    let received = if matches!(input, Input::Flows(_)) {
        "datagrams"
    } else {
        "packets"
    };
    let mut signals = Signals {
        stop: Arc::clone(&stop),
        reload,
        running: a.clone(),
    };
    match input {
        Input::File(reader) => levee_monitor::play(&mut m, reader, pace, &mut signals)?,
        Input::Log(mut tail) => {
            match levee_monitor::logs::follow(&mut m, &mut tail, &mut signals) {
                // The log's format cannot be found, or it cannot be read on (exit 3).
                Err(levee_monitor::MonitorError::Log { file, why }) => {
                    return Err(crate::Exit::no_input(format!("{file}: {why}")))
                }
                other => other?,
            }
        }
        Input::Flows(mut flows) => {
            levee_monitor::collect::collect(&mut m, &mut flows, &mut signals)?
        }
        #[cfg(target_os = "linux")]
        Input::Live(mut live) => match levee_monitor::watch(&mut m, &mut live, &mut signals) {
            // The interface went down or away: an input that cannot be read (exit 3).
            Err(levee_monitor::MonitorError::Live(e)) => {
                return Err(crate::Exit::no_input(e.to_string()))
            }
            other => other?,
        },
    }
    let stopped = stop.load(Ordering::Relaxed);
    let stats = if stopped {
        m.stop("SIGINT or SIGTERM")?
    } else {
        m.finish()?
    };
    if let Some(reports) = &mut terminal.reports {
        reports.finish();
    }
    eprintln!(
        "{}{}; {} incidents opened, {} alerts ({} not delivered){}{}",
        if from_log {
            format!(
                "{} requests",
                levee_analyze::units::thousands(stats.requests)
            )
        } else {
            format!(
                "{} packets in {} windows",
                levee_analyze::units::thousands(stats.packets),
                stats.windows
            )
        },
        if live {
            format!(
                " (the kernel received {} {received} and dropped {})",
                levee_analyze::units::thousands(stats.kernel_packets),
                levee_analyze::units::thousands(stats.kernel_drops)
            )
        } else {
            String::new()
        },
        stats.incidents_opened,
        stats.alerts,
        stats.alert_failures,
        if stats.resumed_after_restart > 0 {
            format!(
                "; {} incidents continued after a restart",
                stats.resumed_after_restart
            )
        } else {
            String::new()
        },
        if stopped {
            "; stopped by a signal: active incidents stay active"
        } else {
            ""
        }
    );
    if stats.packets == 0 && !stopped {
        return Err(crate::Exit::no_input(format!(
            "{}: no packet to monitor",
            read.display()
        )));
    }
    if stats.damaged > 0 {
        return Ok(EXIT_DAMAGED_RECORDS);
    }
    Ok(if stats.alert_failures > 0 { 1 } else { 0 })
}

/// Who does what people do: `--by`/`--owner`, else $USER.
fn person(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "operator".into())
}

pub fn incidents(a: IncidentsArgs) -> anyhow::Result<u8> {
    let Some(db) = a.db.clone() else {
        bail_usage!("--db FILE names the incident database");
    };
    // Reading must not create a database where there was none.
    if !db.exists() {
        return Err(crate::Exit::no_input(format!(
            "{}: no incident database there",
            db.display()
        )));
    }
    let mut store = Store::open(&db).with_context(|| format!("{}", db.display()))?;
    let changed = match a.command {
        IncidentsCommand::List { status, all } => {
            let list = store.list(status, all)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                print_list(&list);
            }
            return Ok(0);
        }
        IncidentsCommand::Show { id, rule } => {
            let inc = store.get(id)?;
            if let Some(engine) = rule {
                match inc.rules.get(&engine) {
                    Some(text) => print!("{text}"),
                    None => bail_usage!(
                        "incident {id} has no rule for `{engine}` (it has: {})",
                        inc.rules.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                }
                return Ok(0);
            }
            let history = store.history(id)?;
            if a.json {
                #[derive(serde::Serialize)]
                struct Shown<'a> {
                    #[serde(flatten)]
                    incident: &'a Incident,
                    history: &'a [levee_incidents::HistoryEntry],
                }
                println!(
                    "{}",
                    serde_json::to_string_pretty(&Shown {
                        incident: &inc,
                        history: &history
                    })?
                );
            } else {
                print_incident(&inc, &history);
            }
            return Ok(0);
        }
        IncidentsCommand::Ack { id, owner } => store.acknowledge(id, &person(owner))?,
        IncidentsCommand::Note { id, text, by } => {
            if text.trim().is_empty() {
                bail_usage!("a note needs text");
            }
            store.note(id, &person(by), &text)?
        }
        IncidentsCommand::Resolve { id, why, by } => {
            store.resolve(id, &person(by), why.as_deref())?
        }
        IncidentsCommand::Reopen { id, by } => store.reopen(id, &person(by))?,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&changed)?);
    } else {
        println!(
            "incident {}: {}{}",
            changed.id,
            changed.status,
            changed
                .owner
                .as_deref()
                .map(|o| format!(", owner {o}"))
                .unwrap_or_default()
        );
    }
    Ok(0)
}

fn print_list(list: &[Incident]) {
    if list.is_empty() {
        println!("no incidents");
        return;
    }
    println!(
        "{:>5}  {:<13} {:<7} {:<22} {:<20} {:<28} {:>12}  owner",
        "id", "status", "attack", "vector", "target", "start (UTC)", "peak"
    );
    for i in list {
        println!(
            "{:>5}  {:<13} {:<7} {:<22} {:<20} {:<28} {:>12}  {}",
            i.id,
            i.status.as_str(),
            if i.active { "active" } else { "ended" },
            i.vector,
            target_of(i),
            i.start,
            i.measure.rate(i.peak_pps),
            i.owner.as_deref().unwrap_or("-")
        );
    }
}

/// An incident's targets, with the protected network they are in when it is known.
fn target_of(i: &Incident) -> String {
    match &i.network {
        Some(n) => format!("{} [{n}]", i.target),
        None => i.target.clone(),
    }
}

fn print_incident(i: &Incident, history: &[levee_incidents::HistoryEntry]) {
    println!("Incident {}: {} on {}", i.id, i.vector, target_of(i));
    println!(
        "  status     {}{}",
        i.status,
        i.owner
            .as_deref()
            .map(|o| format!(", owner {o}"))
            .unwrap_or_default()
    );
    println!(
        "  attack     {} ({} .. {})",
        if i.active { "active" } else { "ended" },
        i.start,
        i.end
    );
    println!(
        "  size       peak {}, ~{} sources{}",
        i.measure.rate(i.peak_pps),
        i.sources,
        if i.spoofed_likely {
            ", likely spoofed"
        } else {
            ""
        }
    );
    if !i.evidence.is_empty() {
        println!("  evidence");
        for e in &i.evidence {
            println!("             - {e}");
        }
    }
    if let Some(s) = &i.signature {
        println!("  signature  {s}");
        println!("             (the most specific candidate, not measured: check it with `levee analyze` on the traffic before applying)");
    }
    for sample in &i.samples {
        println!("  packets    {sample}");
    }
    if !i.rules.is_empty() {
        println!(
            "  rules      for {} (levee incidents show {} --rule ENGINE)",
            i.rules.keys().cloned().collect::<Vec<_>>().join(", "),
            i.id
        );
    }
    println!("  history");
    for h in history {
        println!(
            "    {}  {:<12} {:<14} {}",
            h.at, h.change, h.actor, h.detail
        );
    }
}
