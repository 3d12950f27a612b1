//! `levee watch IN --out OUT`: every capture or access log that lands in IN is reported
//! (`levee report`: attacks, rules, what they stop) and, when asked, hunted (`levee hunt`:
//! indicator files, anomalies), exactly once, with an index page of everything processed.
//!
//! * **Landing**: a regular file at IN's top level, not hidden and not named like a transfer in
//!   progress (`.part`, `.tmp`, `.partial`, `.crdownload`, `.swp`, `~`), is taken once its
//!   size and time of modification were the same at two looks [`Config::poll`] apart and that
//!   time is [`Config::settle`] old: a file still being written is left until it is whole.
//! * **Exactly once**: each file (its name, size and time of modification: the same name with
//!   new content is a new file) is a row of the state database (`OUT/.levee-watch.db`, SQLite,
//!   [`state`]), queued once. A job's results are written in `OUT/.work/ID` and renamed into
//!   `OUT/ID-NAME` whole, then the row is marked done ([`job`]). A watcher killed at any point,
//!   `kill -9` included, finds on restart the files done, those queued, and those it was
//!   running, which it queues again (their work directories removed, a result put in place but
//!   not recorded replaced): each file ends with one result directory and one row.
//! * **Jobs** are child processes of the `levee` binary ([`Config::program`]), [`Config::jobs`]
//!   at a time, each bounded by [`Config::job_timeout`] and its messages kept in its `job.log`:
//!   a capture that crashes or hangs a job costs that job, not the watcher.
//! * **Index**: `OUT/index.html`, `index.md` and `index.json` ([`levee_report::watch_page`]),
//!   rewritten whole (renamed into place) at most once a second while jobs end.

#![warn(missing_docs)]

pub mod job;
pub mod state;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::job::Ended;
use crate::state::State;

/// The state database, under the output directory.
pub const STATE_FILE: &str = ".levee-watch.db";
/// Where jobs write before their results are put in place, under the output directory.
pub const WORK_DIR: &str = ".work";

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The watched or output directory cannot be used.
    #[error("{path}: {why}")]
    Directory {
        /// The directory.
        path: String,
        /// Why.
        why: String,
    },
    /// The state database failed.
    #[error("the state database: {0}")]
    State(String),
}

impl WatchError {
    fn state(path: &Path, e: rusqlite::Error) -> WatchError {
        WatchError::State(format!("{}: {e}", path.display()))
    }

    fn sql(e: rusqlite::Error) -> WatchError {
        WatchError::State(e.to_string())
    }

    fn directory(path: &Path, why: impl ToString) -> WatchError {
        WatchError::Directory {
            path: path.display().to_string(),
            why: why.to_string(),
        }
    }
}

/// How to watch.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory watched.
    pub input: PathBuf,
    /// Where results, the index and the state go.
    pub out: PathBuf,
    /// The `levee` binary the jobs run.
    pub program: PathBuf,
    /// Indicator files to hunt for in each file.
    pub iocs: Vec<PathBuf>,
    /// Hunt each file for anomalies.
    pub anomalies: bool,
    /// The format of access logs.
    pub log_format: String,
    /// Jobs at a time.
    pub jobs: usize,
    /// How old a file's time of modification must be before it is taken.
    pub settle: Duration,
    /// How often the directory is looked at.
    pub poll: Duration,
    /// The longest a job may take.
    pub job_timeout: Duration,
    /// Process what is there (and what lands meanwhile), then return.
    pub once: bool,
}

/// What a watch did, when it returns.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Files queued by this watcher.
    pub queued: u64,
    /// Files it finished (done or failed).
    pub finished: u64,
    /// Files running when the last watcher stopped, queued again.
    pub resumed: u64,
}

/// Watches as `config` says until `stop` is set (or, with [`Config::once`], until nothing is
/// left to do). `tell` hears each file queued and finished, in a line.
pub fn watch(
    config: &Config,
    stop: Arc<AtomicBool>,
    tell: &(dyn Fn(String) + Sync),
) -> Result<Summary, WatchError> {
    prepare(config)?;
    let state_path = config.out.join(STATE_FILE);
    let state = State::open(&state_path)?;
    let mut summary = Summary {
        resumed: state.requeue_running()? as u64,
        ..Summary::default()
    };
    if summary.resumed > 0 {
        tell(format!(
            "{} files were being processed when the last watcher stopped: queued again",
            summary.resumed
        ));
    }
    let finished = AtomicU64::new(0);
    let failure: std::sync::Mutex<Option<WatchError>> = Default::default();
    std::thread::scope(|scope| {
        for _ in 0..config.jobs.max(1) {
            scope.spawn(|| {
                if let Err(e) = work(config, &state_path, &stop, &finished, tell) {
                    *failure.lock().expect("not poisoned") = Some(e);
                    stop.store(true, Ordering::Relaxed);
                }
            });
        }
        let result = look(config, &state, &stop, &finished, &mut summary, tell);
        if let Err(e) = result {
            failure.lock().expect("not poisoned").get_or_insert(e);
        }
        stop.store(true, Ordering::Relaxed);
    });
    if let Some(e) = failure.into_inner().expect("not poisoned") {
        return Err(e);
    }
    write_index(config, &state)?;
    summary.finished = finished.load(Ordering::Relaxed);
    Ok(summary)
}

/// Checks the directories, creates the output, clears work left by a killed watcher.
fn prepare(config: &Config) -> Result<(), WatchError> {
    if !config.input.is_dir() {
        return Err(WatchError::directory(&config.input, "not a directory"));
    }
    std::fs::create_dir_all(&config.out).map_err(|e| WatchError::directory(&config.out, e))?;
    let same = match (config.input.canonicalize(), config.out.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(WatchError::directory(
            &config.out,
            "the results cannot go in the watched directory: they would be taken for files that landed",
        ));
    }
    let work = config.out.join(WORK_DIR);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| WatchError::directory(&work, e))
}

/// The main thread: looks at the directory, queues what landed, rewrites the index, until
/// stopped (or, once, until nothing is left).
fn look(
    config: &Config,
    state: &State,
    stop: &AtomicBool,
    finished: &AtomicU64,
    summary: &mut Summary,
    tell: &(dyn Fn(String) + Sync),
) -> Result<(), WatchError> {
    let mut last_seen: HashMap<String, (u64, i64)> = HashMap::new();
    let mut indexed = u64::MAX;
    let mut last_index = Instant::now() - Duration::from_secs(10);
    write_index(config, state)?;
    loop {
        let waiting = scan(config, state, &mut last_seen, summary, tell)?;
        let done = finished.load(Ordering::Relaxed);
        if done != indexed && last_index.elapsed() >= Duration::from_secs(1) {
            write_index(config, state)?;
            indexed = done;
            last_index = Instant::now();
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        if config.once && waiting == 0 {
            let (queued, running, _) = state.counts()?;
            if queued == 0 && running == 0 {
                return Ok(());
            }
        }
        std::thread::sleep(config.poll);
    }
}

/// One look at the directory: files that settled are queued. How many are still settling.
fn scan(
    config: &Config,
    state: &State,
    last_seen: &mut HashMap<String, (u64, i64)>,
    summary: &mut Summary,
    tell: &(dyn Fn(String) + Sync),
) -> Result<usize, WatchError> {
    let entries =
        std::fs::read_dir(&config.input).map_err(|e| WatchError::directory(&config.input, e))?;
    let now = now_ns();
    let mut seen = HashMap::new();
    let mut waiting = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if in_progress(&name) {
            continue;
        }
        // Following links: a link to a capture is a capture.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let (size, mtime) = (meta.len(), mtime_ns(&meta));
        seen.insert(name.clone(), (size, mtime));
        if state.known(&name, size, mtime)? {
            continue;
        }
        let settled = now.saturating_sub(mtime) >= config.settle.as_nanos() as i64
            && last_seen.get(&name) == Some(&(size, mtime));
        if !settled {
            waiting += 1;
            continue;
        }
        if state.queue(&name, size, mtime, now)? {
            summary.queued += 1;
            tell(format!("queued {name} ({size} bytes)"));
        }
    }
    *last_seen = seen;
    Ok(waiting)
}

/// Whether a name is hidden or names a transfer in progress.
fn in_progress(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || [".part", ".tmp", ".partial", ".crdownload", ".swp"]
            .iter()
            .any(|s| name.ends_with(s))
}

/// A worker: claims queued files and processes them until stopped or, once, none is left.
fn work(
    config: &Config,
    state_path: &Path,
    stop: &AtomicBool,
    finished: &AtomicU64,
    tell: &(dyn Fn(String) + Sync),
) -> Result<(), WatchError> {
    let mut state = State::open(state_path)?;
    while !stop.load(Ordering::Relaxed) {
        let Some(row) = state.claim()? else {
            std::thread::sleep(config.poll.min(Duration::from_millis(200)));
            continue;
        };
        match job::run(config, &row, stop) {
            Ended::Stopped => return Ok(()),
            Ended::Finished(status, outcome) => {
                state.finish(row.id, status, &outcome.to_string(), now_ns())?;
                finished.fetch_add(1, Ordering::Relaxed);
                tell(format!("{status} {}{}", row.name, describe(&outcome)));
            }
        }
    }
    Ok(())
}

/// What a job found, after its file's name.
fn describe(o: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(k) = o["kind"].as_str() {
        parts.push(k.to_string());
    }
    if let Some(a) = o["attacks"].as_u64() {
        let vectors: Vec<&str> = o["vectors"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        parts.push(if vectors.is_empty() {
            format!("{a} attacks")
        } else {
            format!("{a} attacks ({})", vectors.join(", "))
        });
    }
    if let Some(h) = o["hits"].as_u64() {
        parts.push(format!(
            "{h} hits, {} findings",
            o["findings"].as_u64().unwrap_or(0)
        ));
    }
    if let Some(e) = o["error"].as_str() {
        parts.push(e.to_string());
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

/// Rewrites the index from the state, whole.
fn write_index(config: &Config, state: &State) -> Result<(), WatchError> {
    use levee_report::watch_page::{WatchIndex, WatchRow, WATCH_INDEX_VERSION};
    let (queued, running, _) = state.counts()?;
    let files = state
        .all()?
        .into_iter()
        .filter(|r| matches!(r.state.as_str(), "done" | "failed"))
        .map(|r| {
            let o: Value = r
                .outcome
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null);
            let dir = o["dir"].as_str().unwrap_or("").to_string();
            WatchRow {
                file: r.name.clone(),
                size: r.size,
                kind: o["kind"].as_str().unwrap_or("-").to_string(),
                seen: levee_logs::format_ts(r.seen_ns),
                done: r.done_ns.map(levee_logs::format_ts).unwrap_or_default(),
                status: r.state.clone(),
                attempts: r.attempts,
                attacks: o["attacks"].as_u64(),
                vectors: o["vectors"]
                    .as_array()
                    .map(|v| {
                        v.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                hits: o["hits"].as_u64(),
                findings: o["findings"].as_u64(),
                links: if dir.is_empty() {
                    Vec::new()
                } else {
                    job::links(&config.out, &dir)
                },
                dir,
                error: o["error"].as_str().map(String::from),
            }
        })
        .collect();
    let index = WatchIndex {
        report_version: WATCH_INDEX_VERSION,
        generator: format!("levee {}", env!("CARGO_PKG_VERSION")),
        title: format!("levee watch: {}", config.input.display()),
        watched: config.input.display().to_string(),
        updated: levee_logs::format_ts(now_ns()),
        queued,
        running,
        files,
    };
    let texts = levee_report::render(&index).map_err(|e| WatchError::directory(&config.out, e))?;
    for (name, text) in ["index.html", "index.md", "index.json"].iter().zip(texts) {
        let path = config.out.join(name);
        let tmp = config.out.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| WatchError::directory(&path, e))?;
    }
    Ok(())
}

/// A file's time of modification, ns since 1970.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
