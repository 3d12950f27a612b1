//! One file's processing: `levee report` on it (captures and access logs alike), then, when
//! indicators or anomalies are asked for, `levee hunt` on it, each a child process bounded in
//! time, its messages kept in the file's `job.log`. Everything is written in a work directory
//! and renamed into place whole, so a result directory is never half there: a watcher killed
//! mid-job leaves a work directory, removed on restart, and the job runs again.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::state::Row;
use crate::Config;

/// How a job ended.
pub enum Ended {
    /// Processed (`done`), or not processable (`failed`): the state and the outcome (JSON).
    Finished(&'static str, Value),
    /// Stopped with the watcher: the file stays running, to be queued again on restart.
    Stopped,
}

/// The directory of a file's results, under the output directory: its id and its name, made
/// safe for a path.
pub fn result_dir(row: &Row) -> String {
    let safe: String = row
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("{:06}-{safe}", row.id)
}

/// Processes the file of `row`.
pub fn run(config: &Config, row: &Row, stop: &AtomicBool) -> Ended {
    let input = config.input.join(&row.name);
    let failed = |why: String| Ended::Finished("failed", json!({ "error": why }));
    // The file must still be what was queued: when it changed, its new content is another
    // file, queued on its own.
    match std::fs::metadata(&input) {
        Err(e) => return failed(format!("gone before its turn: {e}")),
        Ok(m) if m.len() != row.size || crate::mtime_ns(&m) != row.mtime_ns => {
            return failed("changed before its turn (its new content is queued apart)".into())
        }
        Ok(_) => {}
    }
    // A directory of this attempt's own: a child of an attempt whose watcher was killed may
    // still be writing in its own.
    let work = config
        .out
        .join(crate::WORK_DIR)
        .join(format!("{}-{}", row.id, row.attempts));
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = std::fs::create_dir_all(&work) {
        return failed(format!("cannot create {}: {e}", work.display()));
    }
    let kind = match levee_engine::requests::input_kind(&input) {
        levee_engine::requests::InputKind::Capture => "capture",
        levee_engine::requests::InputKind::Text => "access log",
        levee_engine::requests::InputKind::Empty => "empty",
        levee_engine::requests::InputKind::Unreadable => "unreadable",
    };
    let log = work.join("job.log");
    let mut outcome = json!({ "kind": kind });
    let mut report = Command::new(&config.program);
    report
        .arg("report")
        .arg(&input)
        .arg("--out")
        .arg(work.join("report"))
        .args([
            "--no-progress",
            "--threads",
            "1",
            "--log-format",
            &config.log_format,
        ]);
    let code = match child(report, &log, config.job_timeout, stop) {
        Child::Exited(code) => code,
        Child::Stopped => return Ended::Stopped,
        Child::Failed(why) => return failed(why),
    };
    outcome["report_exit"] = json!(code);
    let mut ok = matches!(code, Some(0 | 4));
    if ok {
        report_summary(&work.join("report/report.json"), &mut outcome);
    } else {
        outcome["error"] = json!(last_line(&log));
    }
    if ok && (!config.iocs.is_empty() || config.anomalies) {
        let mut hunt = Command::new(&config.program);
        hunt.arg("hunt");
        for i in &config.iocs {
            hunt.arg("--iocs").arg(i);
        }
        if config.anomalies {
            hunt.arg("--anomalies");
        }
        hunt.arg(&input)
            .args(["--json", "--log-format", &config.log_format, "--out"])
            .arg(work.join("hunt.jsonl"))
            .arg("--report")
            .arg(work.join("hunt"));
        let code = match child(hunt, &log, config.job_timeout, stop) {
            Child::Exited(code) => code,
            Child::Stopped => return Ended::Stopped,
            Child::Failed(why) => return failed(why),
        };
        outcome["hunt_exit"] = json!(code);
        // 5: nothing found, as grep's 1; 4: damaged records, reported.
        if matches!(code, Some(0 | 4 | 5)) {
            hunt_summary(&work.join("hunt.jsonl"), &mut outcome);
        } else {
            ok = false;
            outcome["error"] = json!(last_line(&log));
        }
    }
    // A previous attempt may have been put in place before its watcher died unrecorded.
    let dir = config.out.join(result_dir(row));
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::rename(&work, &dir) {
        return failed(format!("cannot put {} in place: {e}", dir.display()));
    }
    outcome["dir"] = json!(result_dir(row));
    Ended::Finished(if ok { "done" } else { "failed" }, outcome)
}

enum Child {
    Exited(Option<i32>),
    Stopped,
    Failed(String),
}

/// Runs `cmd` with its messages appended to `log`, for at most `timeout`, killed when the
/// watcher stops.
fn child(mut cmd: Command, log: &Path, timeout: Duration, stop: &AtomicBool) -> Child {
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        Ok(f) => f,
        Err(e) => return Child::Failed(format!("cannot write {}: {e}", log.display())),
    };
    let err = match file.try_clone() {
        Ok(f) => f,
        Err(e) => return Child::Failed(e.to_string()),
    };
    cmd.stdin(Stdio::null()).stdout(file).stderr(err);
    die_with_parent(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Child::Failed(format!("cannot run {:?}: {e}", cmd.get_program())),
    };
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Child::Exited(status.code()),
            Ok(None) => {}
            Err(e) => return Child::Failed(e.to_string()),
        }
        if stop.load(Ordering::Relaxed) {
            let _ = child.kill();
            let _ = child.wait();
            return Child::Stopped;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Child::Failed(format!("took longer than {} s: stopped", timeout.as_secs()));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The last line of the job's log: why a command failed.
fn last_line(log: &Path) -> String {
    std::fs::read_to_string(log)
        .ok()
        .and_then(|t| {
            t.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "failed without a message".into())
}

/// The attacks and vectors of a report, into `outcome`.
fn report_summary(report: &Path, outcome: &mut Value) {
    let Some(doc) = std::fs::read(report)
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return;
    };
    outcome["attacks"] = doc["summary"]["attacks"].clone();
    outcome["vectors"] = doc["summary"]["vectors"].clone();
}

/// The hits and findings of a hunt's JSON lines, into `outcome`.
fn hunt_summary(lines: &Path, outcome: &mut Value) {
    let text = std::fs::read_to_string(lines).unwrap_or_default();
    let (mut hits, mut findings) = (0u64, 0u64);
    for line in text.lines() {
        if line.contains("\"type\":\"hit\"") {
            hits += 1;
        } else if line.contains("\"type\":\"finding\"") {
            findings += 1;
        }
    }
    outcome["hits"] = json!(hits);
    outcome["findings"] = json!(findings);
}

/// Links of a result directory's reports that exist, relative to the index.
pub fn links(out: &Path, dir: &str) -> Vec<(String, String)> {
    let mut links = Vec::new();
    for (label, file) in [
        ("report", "report/report.html"),
        ("hunt", "hunt/report.html"),
        ("hits", "hunt.jsonl"),
        ("log", "job.log"),
    ] {
        let path: PathBuf = out.join(dir).join(file);
        if path.exists() {
            links.push((label.to_string(), format!("{dir}/{file}")));
        }
    }
    links
}

/// On Linux, the child is killed when the watcher dies (even by SIGKILL), so no job outlives
/// the watcher that would have recorded it.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)] // pre_exec: the one unsafe call, see the SAFETY note
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of the
    // parent: it is allowed between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}
