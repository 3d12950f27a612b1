//! `levee watch`: a thousand captures and real log slices dropped at once are each processed
//! exactly once (one row in the index, one result directory, reports that say what each file
//! holds), a second watcher finds nothing new; a watcher killed with SIGKILL mid-way is
//! restarted and ends with every file once, nothing left half-done.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{levee, shared};
use serde_json::Value;

/// `captures` copies of a small SYN flood and `logs` slices of a real site's log (five lines
/// each), written aside and renamed into `dir` together.
fn drop_files(dir: &Path, staging: &Path, captures: usize, logs: usize) {
    std::fs::create_dir_all(staging).unwrap();
    let flood = staging.join("flood.pcap");
    let out = levee()
        .args([
            "synth",
            "--scenario",
            "syn-flood",
            "--packets",
            "300",
            "--out",
        ])
        .arg(&flood)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let flood = std::fs::read(&flood).unwrap();
    let log = std::fs::read_to_string(shared("logs/real-site/apache_logs.part1")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let mut names = Vec::new();
    for i in 0..captures {
        let name = format!("capture-{i:04}.pcap");
        std::fs::write(staging.join(&name), &flood).unwrap();
        names.push(name);
    }
    for i in 0..logs {
        let name = format!("access-{i:04}.log");
        let slice = lines[(i * 5) % (lines.len() - 5)..][..5].join("\n") + "\n";
        std::fs::write(staging.join(&name), slice).unwrap();
        names.push(name);
    }
    for name in names {
        std::fs::rename(staging.join(&name), dir.join(&name)).unwrap();
    }
}

fn watch(dir: &Path, out: &Path) -> Command {
    let mut cmd = levee();
    cmd.arg("watch")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .args(["--jobs", "2", "--settle", "0.2", "--poll", "0.1"]);
    cmd
}

/// The index's rows by file name (a name twice fails).
fn index(out: &Path) -> BTreeMap<String, Value> {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let mut rows = BTreeMap::new();
    for row in doc["files"].as_array().unwrap() {
        let name = row["file"].as_str().unwrap().to_string();
        assert!(
            rows.insert(name.clone(), row.clone()).is_none(),
            "{name} twice in the index"
        );
    }
    rows
}

/// Every file of `names` done once, with the result its kind should give, and one result
/// directory each; nothing left in the work directory.
fn check_each_once(out: &Path, captures: usize, logs: usize) -> BTreeMap<String, Value> {
    let rows = index(out);
    assert_eq!(rows.len(), captures + logs);
    for (name, row) in &rows {
        assert_eq!(row["status"], "done", "{row}");
        if name.ends_with(".pcap") {
            assert_eq!(
                (row["kind"].as_str(), row["attacks"].as_u64()),
                (Some("capture"), Some(1)),
                "{row}"
            );
            assert_eq!(row["vectors"][0], "syn-flood", "{row}");
        } else {
            assert_eq!(
                (row["kind"].as_str(), row["attacks"].as_u64()),
                (Some("access log"), Some(0)),
                "{row}"
            );
        }
        let dir = out.join(row["dir"].as_str().unwrap());
        assert!(dir.join("report/report.json").is_file(), "{row}");
    }
    let dirs = std::fs::read_dir(out)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().is_dir())
        .count();
    // The result directories and the (empty) work directory.
    assert_eq!(dirs, captures + logs + 1);
    assert_eq!(std::fs::read_dir(out.join(".work")).unwrap().count(), 0);
    rows
}

/// A thousand files dropped at once: each processed once; a second watcher queues nothing.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_thousand_files_dropped_at_once_are_processed_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir_all(&dir).unwrap();
    drop_files(&dir, &tmp.path().join("staging"), 600, 400);
    let run = watch(&dir, &out).arg("--once").output().unwrap();
    assert!(run.status.success(), "{run:?}");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("1000 files queued, 1000 processed"),
        "{stderr}"
    );
    let rows = check_each_once(&out, 600, 400);
    assert!(rows.values().all(|r| r["attempts"] == 1));
    // Another look: nothing is new.
    let again = watch(&dir, &out).arg("--once").output().unwrap();
    assert!(again.status.success(), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 files queued, 0 processed"));
    assert_eq!(index(&out).len(), 1000);
    // A file with new content under a known name is new evidence: processed once more.
    std::fs::write(dir.join("capture-0000.pcap"), b"not a capture any more").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let third = watch(&dir, &out).arg("--once").output().unwrap();
    assert!(third.status.success(), "{third:?}");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    assert_eq!(doc["files"].as_array().unwrap().len(), 1001);
    assert_eq!(doc["files"][0]["file"], "capture-0000.pcap");
    assert_eq!(doc["files"][0]["status"], "failed");
}

/// A watcher killed with SIGKILL while it works, then started again: every file once, those
/// it was running started again, nothing half-done.
#[test]
#[cfg_attr(not(levee_shared_data), ignore = "needs ../shared/data")]
fn a_watcher_killed_mid_way_resumes_where_it_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, out) = (tmp.path().join("in"), tmp.path().join("out"));
    std::fs::create_dir_all(&dir).unwrap();
    drop_files(&dir, &tmp.path().join("staging"), 200, 100);
    let mut first = watch(&dir, &out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has finished some and not all.
    let start = Instant::now();
    loop {
        let done = std::fs::read(out.join("index.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map_or(0, |d| d["files"].as_array().map_or(0, Vec::len));
        if done >= 40 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the watcher did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let before = index(&out).len();
    assert!(before < 300, "it finished before it was killed: {before}");
    let second = watch(&dir, &out).arg("--once").output().unwrap();
    assert!(second.status.success(), "{second:?}");
    let rows = check_each_once(&out, 200, 100);
    let attempts: u64 = rows.values().map(|r| r["attempts"].as_u64().unwrap()).sum();
    assert!(rows.values().all(|r| r["attempts"].as_u64().unwrap() <= 2));
    assert!(attempts >= 300);
}
