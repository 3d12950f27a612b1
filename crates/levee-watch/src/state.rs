//! The watcher's state on disk: one row per file that landed (its name, size and time of
//! modification: the same name with other content is another file), with what became of it.
//! SQLite in WAL mode, each change committed before it is acted on, so a watcher killed at
//! any point (kill -9 included) finds on restart what was done, what was queued, and what was
//! running when it died (queued again: its results were never put in place).

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::WatchError;

/// What is known of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its id: the order it was queued in.
    pub id: i64,
    /// Its name in the watched directory.
    pub name: String,
    /// Its size when queued.
    pub size: u64,
    /// Its time of modification when queued, ns since 1970.
    pub mtime_ns: i64,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// When it was queued and finished, ns since 1970.
    pub seen_ns: i64,
    /// When it was finished.
    pub done_ns: Option<i64>,
    /// How many times it was started (more than once after a restart).
    pub attempts: u32,
    /// What its processing found (JSON), or why it failed.
    pub outcome: Option<String>,
}

/// The state database.
pub struct State {
    db: Connection,
}

impl State {
    /// Opens (or creates) the state at `path`.
    pub fn open(path: &Path) -> Result<State, WatchError> {
        let db = Connection::open(path).map_err(|e| WatchError::state(path, e))?;
        // Several connections (a worker each) write: each waits for the others' turns.
        db.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| WatchError::state(path, e))?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS files (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 name TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 mtime_ns INTEGER NOT NULL,
                 state TEXT NOT NULL,
                 seen_ns INTEGER NOT NULL,
                 done_ns INTEGER,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 outcome TEXT,
                 UNIQUE (name, size, mtime_ns)
             );
             CREATE INDEX IF NOT EXISTS files_state ON files (state, id);",
        )
        .map_err(|e| WatchError::state(path, e))?;
        Ok(State { db })
    }

    /// Queues the file unless it is known; whether it was new.
    pub fn queue(
        &self,
        name: &str,
        size: u64,
        mtime_ns: i64,
        now_ns: i64,
    ) -> Result<bool, WatchError> {
        let n = self
            .db
            .execute(
                "INSERT OR IGNORE INTO files (name, size, mtime_ns, state, seen_ns) VALUES (?1, ?2, ?3, 'queued', ?4)",
                params![name, size as i64, mtime_ns, now_ns],
            )
            .map_err(WatchError::sql)?;
        Ok(n == 1)
    }

    /// Whether the file is known.
    pub fn known(&self, name: &str, size: u64, mtime_ns: i64) -> Result<bool, WatchError> {
        self.db
            .query_row(
                "SELECT 1 FROM files WHERE name = ?1 AND size = ?2 AND mtime_ns = ?3",
                params![name, size as i64, mtime_ns],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(WatchError::sql)
    }

    /// Files that were running when the last watcher stopped go back to the queue; how many.
    pub fn requeue_running(&self) -> Result<usize, WatchError> {
        self.db
            .execute(
                "UPDATE files SET state = 'queued' WHERE state = 'running'",
                [],
            )
            .map_err(WatchError::sql)
    }

    /// Takes the oldest queued file, marking it running (committed before it starts).
    pub fn claim(&mut self) -> Result<Option<Row>, WatchError> {
        // Immediate: the write lock is taken first, so two workers never both read the same
        // queued row (and a deferred transaction's upgrade could fail without waiting).
        let tx = self
            .db
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(WatchError::sql)?;
        let id: Option<i64> = tx
            .query_row(
                "SELECT id FROM files WHERE state = 'queued' ORDER BY id LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(WatchError::sql)?;
        let Some(id) = id else { return Ok(None) };
        tx.execute(
            "UPDATE files SET state = 'running', attempts = attempts + 1 WHERE id = ?1",
            [id],
        )
        .map_err(WatchError::sql)?;
        tx.commit().map_err(WatchError::sql)?;
        self.row(id)
    }

    /// Records the end of a file's processing: `done` or `failed`, with its outcome.
    pub fn finish(
        &self,
        id: i64,
        state: &str,
        outcome: &str,
        now_ns: i64,
    ) -> Result<(), WatchError> {
        self.db
            .execute(
                "UPDATE files SET state = ?2, outcome = ?3, done_ns = ?4 WHERE id = ?1",
                params![id, state, outcome, now_ns],
            )
            .map_err(WatchError::sql)?;
        Ok(())
    }

    fn row(&self, id: i64) -> Result<Option<Row>, WatchError> {
        self.db
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
            .optional()
            .map_err(WatchError::sql)
    }

    /// Every file, newest first.
    pub fn all(&self) -> Result<Vec<Row>, WatchError> {
        let mut q = self
            .db
            .prepare(&format!("{SELECT} ORDER BY id DESC"))
            .map_err(WatchError::sql)?;
        let rows = q.query_map([], row).map_err(WatchError::sql)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(WatchError::sql)
    }

    /// Files in each state: (queued, running, finished).
    pub fn counts(&self) -> Result<(u64, u64, u64), WatchError> {
        self.db
            .query_row(
                "SELECT
                    COALESCE(SUM(state = 'queued'), 0),
                    COALESCE(SUM(state = 'running'), 0),
                    COALESCE(SUM(state IN ('done', 'failed')), 0)
                 FROM files",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                },
            )
            .map_err(WatchError::sql)
    }
}

const SELECT: &str =
    "SELECT id, name, size, mtime_ns, state, seen_ns, done_ns, attempts, outcome FROM files";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        name: r.get(1)?,
        size: r.get::<_, i64>(2)? as u64,
        mtime_ns: r.get(3)?,
        state: r.get(4)?,
        seen_ns: r.get(5)?,
        done_ns: r.get(6)?,
        attempts: r.get(7)?,
        outcome: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_queued_once_and_a_running_one_requeued_on_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut s = State::open(&path).unwrap();
        assert!(s.queue("a.pcap", 10, 1, 100).unwrap());
        assert!(!s.queue("a.pcap", 10, 1, 200).unwrap());
        // The same name with other content is another file.
        assert!(s.queue("a.pcap", 11, 2, 300).unwrap());
        let first = s.claim().unwrap().unwrap();
        assert_eq!(
            (first.name.as_str(), first.size, first.attempts),
            ("a.pcap", 10, 1)
        );
        drop(s);
        // A watcher killed while it ran the first.
        let mut s = State::open(&path).unwrap();
        assert_eq!(s.requeue_running().unwrap(), 1);
        let again = s.claim().unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (first.id, 2));
        s.finish(again.id, "done", "{}", 400).unwrap();
        assert_eq!(s.counts().unwrap(), (1, 0, 1));
        assert_eq!(s.claim().unwrap().unwrap().size, 11);
        assert!(s.claim().unwrap().is_none());
    }
}
