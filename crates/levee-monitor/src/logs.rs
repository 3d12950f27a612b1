//! An access log as the monitor's input (`levee monitor --log FILE`): followed as the web
//! server writes it, through rotation, each request judged as `levee analyze` judges a log's
//! clients ([`levee_l7::stream`]).
//!
//! The log is read from its end (the requests to come) or from its start. A line is read
//! only once its newline is written: a line the server is still writing is never read in
//! halves. When no line comes, the file's name is looked at every poll: a new file under the
//! name (logrotate's `create`: another inode) is read from its start once the old one has
//! been read to its end, and a file cut short (`copytruncate`) is read again from its start.
//! Log time is the requests' own; when none comes it moves on with the wall clock from where
//! they left it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use levee_logs::{Entry, FormatSpec, LogReader};

use crate::{wall_ns, Control, Monitor, MonitorError, BETWEEN_EVERY};

/// How long the tail waits for a line before it looks again.
const POLL: Duration = Duration::from_millis(100);

/// The longest line held back waiting for its newline: past it, what is held is read as a
/// line (a damaged one, most likely).
const LONGEST_LINE: usize = 1 << 20;

/// A file read a whole line at a time: the bytes after the last newline are held until
/// theirs is written.
struct WholeLines {
    file: File,
    /// Bytes read and not handed out: `held[start..]`.
    held: Vec<u8>,
    start: usize,
    /// Where the next read of the file starts, shared with the [`LogTail`] (the reader
    /// owns this), which compares it with the file's length.
    position: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Read for WholeLines {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            // What can be handed out: up to the last newline held.
            let ready = self.held[self.start..]
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|i| i + 1)
                .or_else(|| {
                    (self.held.len() - self.start > LONGEST_LINE)
                        .then(|| self.held.len() - self.start)
                });
            if let Some(ready) = ready {
                let n = ready.min(out.len());
                out[..n].copy_from_slice(&self.held[self.start..self.start + n]);
                self.start += n;
                if self.start == self.held.len() {
                    self.held.clear();
                    self.start = 0;
                }
                return Ok(n);
            }
            if self.start > 0 {
                self.held.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 64 << 10];
            let n = self.file.read(&mut chunk)?;
            if n == 0 {
                return Ok(0); // nothing whole yet: the end, for now
            }
            self.position
                .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            self.held.extend_from_slice(&chunk[..n]);
        }
    }
}

/// An access log followed as it is written.
pub struct LogTail {
    path: PathBuf,
    spec: FormatSpec,
    reader: LogReader,
    /// The open file's identity (device, inode), to tell a new file under the name.
    identity: Option<(u64, u64)>,
    /// The open file's read position (shared with the reader's [`WholeLines`]).
    position: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Times the file was found rotated or cut short.
    rotations: u64,
}

impl LogTail {
    /// Follows the log at `path` in format `spec`, from its end (`from_start`: from its
    /// first line).
    pub fn open(path: &Path, spec: FormatSpec, from_start: bool) -> io::Result<LogTail> {
        let (reader, identity, position) = open_at(path, &spec, !from_start)?;
        Ok(LogTail {
            path: path.to_path_buf(),
            spec,
            reader,
            identity,
            position,
            rotations: 0,
        })
    }

    /// The log's name, as given.
    pub fn name(&self) -> String {
        self.path.display().to_string()
    }

    /// Times the log was found rotated or cut short.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Whether the file under the name is another than the one read, or shorter than what
    /// was read of it; then it is opened from its start. A name with no file (between
    /// logrotate's rename and the server's reopening) is waited for.
    fn follow_rotation(&mut self) -> io::Result<bool> {
        let Ok(meta) = std::fs::metadata(&self.path) else {
            return Ok(false);
        };
        let rotated = identity_of(&meta) != self.identity
            || meta.len() < self.position.load(std::sync::atomic::Ordering::Relaxed);
        if rotated {
            let (reader, identity, position) = open_at(&self.path, &self.spec, false)?;
            (self.reader, self.identity, self.position) = (reader, identity, position);
            self.rotations += 1;
        }
        Ok(rotated)
    }
}

type Opened = (
    LogReader,
    Option<(u64, u64)>,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
);

fn open_at(path: &Path, spec: &FormatSpec, at_end: bool) -> io::Result<Opened> {
    let mut file = File::open(path)?;
    let identity = identity_of(&file.metadata()?);
    let position = if at_end {
        file.seek(SeekFrom::End(0))?
    } else {
        0
    };
    let shared = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(position));
    let lines = WholeLines {
        file,
        held: Vec::new(),
        start: 0,
        position: shared.clone(),
    };
    let reader = LogReader::from_reader(path.display().to_string(), Box::new(lines), spec.clone())
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok((reader, identity, shared))
}

#[cfg(unix)]
fn identity_of(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn identity_of(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// Feeds the requests of `tail` into `monitor` until `control` says stop. A line that is not
/// a request is told (file and line) and counted; the format not being found in the first
/// lines is an error.
pub fn follow(
    monitor: &mut Monitor<'_>,
    tail: &mut LogTail,
    control: &mut dyn Control,
) -> Result<(), MonitorError> {
    monitor.serve_log(&tail.name());
    let name = tail.name();
    let log_error = |e: String| MonitorError::Log {
        file: name.clone(),
        why: e,
    };
    // Log time minus the wall clock, as the newest request set it.
    let mut lead: Option<i64> = None;
    let mut since_between = 0u32;
    loop {
        if control.stopped() {
            return Ok(());
        }
        match tail.reader.next_entry() {
            Some(Ok(Entry::Request(r))) => {
                if let Some(ts) = r.ts {
                    lead = Some(ts.saturating_sub(wall_ns()));
                }
                monitor.feed_request(&r)?;
                since_between += 1;
                if since_between >= BETWEEN_EVERY {
                    since_between = 0;
                    control.between(monitor);
                }
            }
            Some(Ok(Entry::Malformed { line, error })) => {
                monitor.damaged(&format!("{}: line {line}: {error}", tail.name()));
            }
            // A tail reads every client.
            Some(Ok(Entry::Elsewhere)) => {}
            Some(Err(e)) => return Err(log_error(e.to_string())),
            None => {
                if tail
                    .follow_rotation()
                    .map_err(|e| log_error(e.to_string()))?
                {
                    continue;
                }
                match lead {
                    Some(lead) => monitor.advance_to(wall_ns().saturating_add(lead))?,
                    None => monitor.idle(),
                }
                control.between(monitor);
                std::thread::sleep(POLL);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_line_is_read_once_whole_and_rotation_and_truncation_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let line = |ip: &str| {
            format!("{ip} - - [15/Jan/2026:12:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"\n")
        };
        std::fs::write(&path, line("192.0.2.1")).unwrap();
        let ips = |tail: &mut LogTail| -> Vec<String> {
            let mut out = Vec::new();
            while let Some(Ok(e)) = tail.reader.next_entry() {
                if let Entry::Request(r) = e {
                    out.push(r.client.to_string());
                }
            }
            out
        };
        // From the end: the line already there is not read.
        let mut tail = LogTail::open(&path, FormatSpec::Auto, false).unwrap();
        assert!(ips(&mut tail).is_empty());
        // Half a line, then its end: read once, whole.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let second = line("192.0.2.2");
        f.write_all(&second.as_bytes()[..20]).unwrap();
        assert!(ips(&mut tail).is_empty());
        f.write_all(&second.as_bytes()[20..]).unwrap();
        assert_eq!(ips(&mut tail), ["192.0.2.2"]);
        assert!(!tail.follow_rotation().unwrap());
        // logrotate's create: renamed away, a new file under the name.
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        assert!(
            !tail.follow_rotation().unwrap(),
            "no file under the name yet"
        );
        std::fs::write(&path, line("192.0.2.3")).unwrap();
        assert!(tail.follow_rotation().unwrap());
        assert_eq!(ips(&mut tail), ["192.0.2.3"]);
        // copytruncate: cut to nothing, written again.
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        assert!(tail.follow_rotation().unwrap());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(line("192.0.2.4").as_bytes())
            .unwrap();
        assert_eq!(ips(&mut tail), ["192.0.2.4"]);
        assert_eq!(tail.rotations(), 2);
        // From the start.
        let mut tail = LogTail::open(&path, FormatSpec::Auto, true).unwrap();
        assert_eq!(ips(&mut tail), ["192.0.2.4"]);
    }
}
