//! `levee watch`: a directory's new captures and logs processed as they land (see
//! `levee-watch`), until SIGINT or SIGTERM (or, `--once`, until nothing is left).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::cli::WatchArgs;

pub fn run(a: WatchArgs) -> anyhow::Result<u8> {
    let seconds = |name: &str, s: f64| {
        if s.is_finite() && (0.0..1e9).contains(&s) {
            Ok(Duration::from_secs_f64(s))
        } else {
            Err(crate::usage!("--{name}: {s} is not a number of seconds"))
        }
    };
    for i in &a.iocs {
        std::fs::metadata(i)
            .map_err(|e| crate::Exit::no_input(format!("{}: cannot be read: {e}", i.display())))?;
    }
    let config = levee_watch::Config {
        input: a.dir.clone(),
        out: a.out.clone(),
        program: std::env::current_exe().context("cannot find the levee binary")?,
        iocs: a.iocs.clone(),
        anomalies: a.anomalies,
        log_format: a.log_format.clone(),
        jobs: a.jobs as usize,
        settle: seconds("settle", a.settle)?,
        poll: seconds("poll", a.poll)?.max(Duration::from_millis(10)),
        job_timeout: seconds("job-timeout", a.job_timeout)?,
        once: a.once,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    eprintln!(
        "levee: watching {} ({} job{} at a time); results and index in {}",
        a.dir.display(),
        config.jobs,
        if config.jobs == 1 { "" } else { "s" },
        a.out.display()
    );
    let tell = |line: String| eprintln!("levee: {line}");
    let summary = levee_watch::watch(&config, stop, &tell)?;
    eprintln!(
        "levee: {} files queued, {} processed by this watcher; the index is {}",
        summary.queued,
        summary.finished,
        a.out.join("index.html").display()
    );
    Ok(0)
}
