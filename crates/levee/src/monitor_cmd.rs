//! `levee monitor` (traffic in, incidents and alerts out; the work is `levee-monitor`'s) and
//! `levee incidents` (what people do with the incidents).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use levee_incidents::{Alert, AlertKind, Incident, Store};
use levee_monitor::{AlertSink, JsonLines, Monitor, MonitorConfig, Pace, Watcher};

use crate::cli::{IncidentsArgs, IncidentsCommand, MonitorArgs};
use crate::{bail_usage, EXIT_DAMAGED_RECORDS};

/// Tells people on standard error what the monitor does.
struct Terminal {
    verbose: bool,
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
            "{}  {what:<10} incident {}: {} on {}, peak {}, ~{} sources{}",
            a.traffic_time,
            i.id,
            i.vector,
            i.target,
            levee_analyze::units::rate(i.peak_pps),
            i.sources,
            if i.spoofed_likely {
                " (likely spoofed)"
            } else {
                ""
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
            #[cfg(target_os = "linux")]
            Input::Live(live) => format!("interface {}", live.interface()),
        }
    }
}

pub fn monitor(a: MonitorArgs) -> anyhow::Result<u8> {
    if !(a.quiet > 0.0 && a.quiet.is_finite()) {
        bail_usage!("--quiet is a positive number of seconds");
    }
    // No output may be written over an input or another output.
    let same = |x: &std::path::Path, y: &std::path::Path| {
        x == y || matches!((x.canonicalize(), y.canonicalize()), (Ok(p), Ok(q)) if p == q)
    };
    let read = a.read.clone().unwrap_or_default();
    if a.read.is_some() && same(&a.db, &read) {
        bail_usage!("--db names the capture --read reads");
    }
    if let Some(m) = &a.metrics {
        if same(m, &a.db) || same(m, &read) || a.alerts.iter().any(|p| same(m, p)) {
            bail_usage!(
                "--metrics {} is another input or output: give it a file of its own",
                m.display()
            );
        }
    }
    for alerts in a.alerts.iter().filter(|p| p.as_os_str() != "-") {
        if same(alerts, &a.db) || same(alerts, &read) {
            bail_usage!(
                "--alerts {} is the database or the capture: alerts go to a file of their own",
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
    // The input first, then the database: a mistake creates no database.
    let input = Input::open(&a)?;
    let store = Store::open(&a.db).with_context(|| format!("{}", a.db.display()))?;
    let mut config = MonitorConfig::new(a.thresholds.config());
    config.quiet_ns = (a.quiet * 1e9) as i64;
    config.device = a.device.clone();
    config.evidence_dir = a.evidence.clone();
    config.metrics_file = a.metrics.clone();

    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let mut terminal = Terminal { verbose: a.verbose };
    let mut m = Monitor::new(config, store, sinks, &mut terminal)?;
    eprintln!(
        "levee: monitoring {}, incidents in {}",
        input.describe(&a),
        a.db.display()
    );
    let pace = if a.realtime {
        Pace::Realtime
    } else {
        Pace::Fast
    };
    let live = !matches!(input, Input::File(_));
    match input {
        Input::File(reader) => levee_monitor::play(&mut m, reader, pace, &stop)?,
        #[cfg(target_os = "linux")]
        Input::Live(mut live) => levee_monitor::watch(&mut m, &mut live, &stop)?,
    }
    let stopped = stop.load(Ordering::Relaxed);
    let stats = if stopped {
        m.stop("SIGINT or SIGTERM")?
    } else {
        m.finish()?
    };
    eprintln!(
        "{} packets in {} windows{}; {} incidents opened, {} alerts ({} not delivered){}{}",
        levee_analyze::units::thousands(stats.packets),
        stats.windows,
        if live {
            format!(
                " (the kernel received {} and dropped {})",
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
            i.target,
            i.start,
            levee_analyze::units::rate(i.peak_pps),
            i.owner.as_deref().unwrap_or("-")
        );
    }
}

fn print_incident(i: &Incident, history: &[levee_incidents::HistoryEntry]) {
    println!("Incident {}: {} on {}", i.id, i.vector, i.target);
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
        levee_analyze::units::rate(i.peak_pps),
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
