//! Where alerts go. Every sink takes the same body: an [`Alert`] as JSON (its schema in
//! `docs/incidents.md`), carrying the incident's id so a ticketing system can deduplicate.
//! A sink reports a failure and the monitor goes on; it never blocks detection for long.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use levee_incidents::Alert;

/// Something that takes alerts.
pub trait AlertSink {
    /// What it is, for messages (`alerts.jsonl`, `stdout`).
    fn name(&self) -> &str;
    /// Delivers one alert, or says why it could not.
    fn send(&mut self, alert: &Alert) -> Result<(), String>;
}

/// Alerts as JSON lines, one a line, flushed as each is written.
pub struct JsonLines {
    name: String,
    out: Box<dyn Write + Send>,
}

impl JsonLines {
    /// Appends to the file at `path` (created when missing; never truncated).
    pub fn append(path: &Path) -> io::Result<JsonLines> {
        let file: File = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonLines {
            name: path.display().to_string(),
            out: Box::new(file),
        })
    }

    /// Writes to standard output.
    pub fn stdout() -> JsonLines {
        JsonLines {
            name: "standard output".into(),
            out: Box::new(io::stdout()),
        }
    }
}

impl AlertSink for JsonLines {
    fn name(&self) -> &str {
        &self.name
    }

    fn send(&mut self, alert: &Alert) -> Result<(), String> {
        let mut line = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
        line.push(b'\n');
        // One write of the whole line: readers tailing the file never see half an alert
        // (O_APPEND writes of a line are not interleaved with another writer's).
        self.out
            .write_all(&line)
            .and_then(|()| self.out.flush())
            .map_err(|e| e.to_string())
    }
}
