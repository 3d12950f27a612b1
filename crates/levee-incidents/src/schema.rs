//! The database's schema, as the migrations that build it. The version is SQLite's
//! `user_version`; each migration runs once, in its own transaction, in order. A database
//! written by a newer levee (a version past the last migration here) is refused, never
//! changed: an older levee cannot know what a newer one's columns mean.
//!
//! The schema is documented for the people who query it (`docs/incidents.md`); a change to it
//! is a new migration, never an edit of one that shipped.

use rusqlite::Connection;

use crate::StoreError;

/// The migrations, the first making version 1.
pub const MIGRATIONS: &[&str] = &[
    // 1: incidents and their history.
    "CREATE TABLE incidents (
        id            INTEGER PRIMARY KEY,
        vector        TEXT NOT NULL,
        target        TEXT NOT NULL,
        status        TEXT NOT NULL
                      CHECK (status IN ('open', 'acknowledged', 'mitigated', 'resolved')),
        attack        TEXT NOT NULL CHECK (attack IN ('active', 'ended')),
        start_ns      INTEGER NOT NULL,
        end_ns        INTEGER NOT NULL,
        peak_pps      REAL NOT NULL,
        alerted_pps   REAL NOT NULL,
        sources       INTEGER NOT NULL,
        spoofed       INTEGER NOT NULL,
        signature     TEXT,
        rules         TEXT NOT NULL,
        evidence      TEXT NOT NULL,
        owner         TEXT,
        opened_at     TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX incidents_by_attack ON incidents (vector, target, status);
    CREATE TABLE history (
        id            INTEGER PRIMARY KEY,
        incident      INTEGER NOT NULL REFERENCES incidents (id),
        at            TEXT NOT NULL,
        traffic_ns    INTEGER,
        actor         TEXT NOT NULL,
        change        TEXT NOT NULL,
        detail        TEXT NOT NULL
    );
    CREATE INDEX history_by_incident ON history (incident, id);",
    // 2: the captures of each incident's packets (a JSON array of paths).
    "ALTER TABLE incidents ADD COLUMN samples TEXT NOT NULL DEFAULT '[]';",
    // 3: the protected network (`levee monitor --networks`) an incident's targets are in,
    // and what its rates count (packets, or a web attack's requests).
    "ALTER TABLE incidents ADD COLUMN network TEXT;
     ALTER TABLE incidents ADD COLUMN measure TEXT NOT NULL DEFAULT 'packets'
         CHECK (measure IN ('packets', 'requests'));",
];

/// The version the migrations here make.
pub fn current_version() -> u32 {
    MIGRATIONS.len() as u32
}

/// Brings `conn`'s schema to [`current_version`], or refuses a newer one.
pub fn migrate(conn: &mut Connection) -> Result<u32, StoreError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > current_version() {
        return Err(StoreError::NewerSchema {
            found,
            known: current_version(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        // PRAGMA takes no parameters; the version is a number this code made.
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(current_version())
}
