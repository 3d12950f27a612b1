//! Incidents as tickets, kept in SQLite, and the alerts their state changes raise.
//!
//! An incident is one attack vector on one target while it lasts: the monitor tells the
//! [`Store`] when an attack starts, grows and ends ([`Observation`]), and the store keeps one
//! row for it however often it flaps. An attack that comes back within [`Store::reopen_ns`] of
//! its end (and was not resolved by a person) continues its incident; one found again by a
//! monitor restarted after a crash continues it too, with the gap written in its history.
//!
//! Each incident has a ticket's status (`open`, `acknowledged`, `mitigated`, `resolved`),
//! an owner and notes, set by people (`levee incidents`), apart from the attack's own state
//! (`active`, `ended`) that the traffic sets. Every change, by the traffic or by a person, is a
//! row of its history.
//!
//! Alerts are raised on state changes only: a start (or a return after a quiet spell), an
//! escalation (the peak doubled since the last alert, other targets, another vector) and an
//! end. Each change is committed before its [`Alert`] is returned, so an alert never tells
//! of a state the database lost, and a restarted monitor neither repeats nor misses one.
//!
//! The database runs in WAL mode, so `levee incidents` reads and writes while the monitor
//! writes. Its schema is versioned and built by migrations ([`schema`]).

#![warn(missing_docs)]

pub mod schema;

use std::collections::BTreeMap;
use std::path::Path;

// Traffic times are printed as every levee output prints them.
use levee_logs::format_ts as rfc3339;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

/// What went wrong with the incident database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused (a locked, damaged or unreadable file).
    #[error("incident database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A newer levee wrote this database.
    #[error("incident database has schema version {found}; this levee knows up to {known}: use the levee that wrote it")]
    NewerSchema {
        /// The database's version.
        found: u32,
        /// The last version this levee's migrations make.
        known: u32,
    },
    /// No incident has this id.
    #[error("no incident {0}")]
    NoIncident(i64),
    /// A status change that cannot be made.
    #[error("incident {id} is {status}: {why}")]
    Refused {
        /// The incident.
        id: i64,
        /// Its status.
        status: Status,
        /// Why not.
        why: &'static str,
    },
}

/// A ticket's status, set by people (and `mitigated` by the mitigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Raised; nobody has taken it yet.
    Open,
    /// Someone owns it.
    Acknowledged,
    /// A mitigation stops it.
    Mitigated,
    /// Closed by a person.
    Resolved,
}

impl Status {
    /// The word stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Acknowledged => "acknowledged",
            Status::Mitigated => "mitigated",
            Status::Resolved => "resolved",
        }
    }

    fn parse(s: &str) -> Status {
        match s {
            "acknowledged" => Status::Acknowledged,
            "mitigated" => Status::Mitigated,
            "resolved" => Status::Resolved,
            _ => Status::Open,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Status, String> {
        match s {
            "open" | "acknowledged" | "mitigated" | "resolved" => Ok(Status::parse(s)),
            _ => Err(format!(
                "`{s}` is not a status (open, acknowledged, mitigated, resolved)"
            )),
        }
    }
}

/// An attack as the monitor knows it at one moment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// The attack vector (`syn-flood`, `dns-reflection`...).
    pub vector: String,
    /// Its targets as a person reads them.
    pub target: String,
    /// The protected network its targets are in, by name (`levee monitor --networks`).
    pub network: Option<String>,
    /// What its rates count.
    pub measure: Measure,
    /// First moment of its evidence, ns since the Unix epoch (traffic time).
    pub start_ns: i64,
    /// Last moment of its evidence so far.
    pub end_ns: i64,
    /// When the monitor decided this (traffic time).
    pub at_ns: i64,
    /// Peak rate of its evidence so far, packets a second.
    pub peak_pps: f64,
    /// Distinct sources of its evidence, estimated.
    pub sources: u64,
    /// Whether its sources are likely spoofed.
    pub spoofed_likely: bool,
    /// The rule expression that matches it.
    pub signature: Option<String>,
    /// The rule for each engine (`nftables`, `iptables`, `bpf`...), as compiled.
    pub rules: BTreeMap<String, String>,
    /// Why it is an attack, a line each.
    pub evidence: Vec<String>,
}

/// What an incident's rates count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Packets (captures, interfaces, flows).
    #[default]
    Packets,
    /// HTTP requests (a web attack found in an access log).
    Requests,
}

impl Measure {
    /// Its name in the database and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Packets => "packets",
            Measure::Requests => "requests",
        }
    }

    fn parse(s: &str) -> Measure {
        match s {
            "requests" => Measure::Requests,
            _ => Measure::Packets,
        }
    }

    /// A rate of it in the unit that reads best: `45.3 kpps`, `645 rps`.
    pub fn rate(self, per_second: f64) -> String {
        match self {
            Measure::Packets => levee_analyze::units::rate(per_second),
            Measure::Requests if per_second >= 1e3 => format!("{:.1} krps", per_second / 1e3),
            Measure::Requests => format!("{per_second:.0} rps"),
        }
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incident {
    /// Its number, from 1, never reused.
    pub id: i64,
    /// The attack vector.
    pub vector: String,
    /// The targets.
    pub target: String,
    /// The protected network the targets are in, by name (`levee monitor --networks`).
    pub network: Option<String>,
    /// What its rates (`peak_pps`) count: `packets`, or a web attack's `requests`.
    pub measure: Measure,
    /// The ticket's status.
    pub status: Status,
    /// Whether the attack goes on (`true`) or has ended.
    pub active: bool,
    /// First moment of its evidence, RFC 3339.
    pub start: String,
    /// Last moment of its evidence so far, RFC 3339.
    pub end: String,
    /// First moment, ns since the Unix epoch.
    pub start_ns: i64,
    /// Last moment, ns since the Unix epoch.
    pub end_ns: i64,
    /// Peak packets a second.
    pub peak_pps: f64,
    /// Distinct sources, estimated.
    pub sources: u64,
    /// Whether its sources are likely spoofed.
    pub spoofed_likely: bool,
    /// The rule expression that matches it.
    pub signature: Option<String>,
    /// The rule per engine.
    pub rules: BTreeMap<String, String>,
    /// Why it is an attack.
    pub evidence: Vec<String>,
    /// Captures of its packets (the monitor's recent traffic when it started, then its
    /// packets), one per start.
    pub samples: Vec<String>,
    /// Who took it.
    pub owner: Option<String>,
    /// When it was opened (wall clock, RFC 3339).
    pub opened_at: String,
    /// When it last changed (wall clock, RFC 3339).
    pub updated_at: String,
    /// The peak the last start or escalation alert told (escalation is told at twice it).
    #[serde(skip)]
    alerted_pps: f64,
}

/// One change of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// When it was written (wall clock, RFC 3339).
    pub at: String,
    /// The traffic time it is about, RFC 3339, when the traffic made it.
    pub traffic_time: Option<String>,
    /// `levee monitor`, or the person who made it.
    pub actor: String,
    /// `started`, `updated`, `escalated`, `ended`, `resumed`, `stopped`, `restarted`,
    /// `sample`, `acknowledged`, `mitigated`, `resolved`, `reopened`, `note`.
    pub change: String,
    /// What changed, as a sentence.
    pub detail: String,
}

/// What an alert tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// An attack began (or came back after a quiet spell: `resumed`).
    Start,
    /// It grew: its peak doubled since the last alert, or it reached other targets.
    Escalation,
    /// Its evidence has been quiet for the quiet period.
    End,
}

/// An alert: a state change of an incident, with the incident as it is after the change.
/// The JSON body of every alert channel (documented in `docs/incidents.md`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// What happened.
    pub alert: AlertKind,
    /// For a start: whether the incident existed and its attack came back.
    pub resumed: bool,
    /// When the change was committed (wall clock, RFC 3339).
    pub at: String,
    /// The traffic time of the change, RFC 3339.
    pub traffic_time: String,
    /// The incident after the change; its `id` is what a ticketing system deduplicates by.
    pub incident: Incident,
}

/// Who writes the traffic's changes.
const MONITOR: &str = "levee monitor";

/// An escalation is told when the peak reaches this many times the last alert's.
const ESCALATION: f64 = 2.0;

/// The incident database.
pub struct Store {
    conn: Connection,
    /// An attack that comes back within this long of its end continues its incident.
    pub reopen_ns: i64,
}

impl Store {
    /// Opens (creating it when missing) the database at `path`, in WAL mode, and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let mut conn = Connection::open(path)?;
        // Another process (the monitor, `levee incidents`) may hold the write lock briefly.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // WAL with NORMAL: a commit survives the process's crash (the case a monitor must
        // survive); only a power loss can take the last commits back.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            conn,
            reopen_ns: 300_000_000_000,
        })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// An attack started: a new incident, or the one it continues (the same vector and
    /// target, not resolved, and still active after a restart or ended less than
    /// [`Store::reopen_ns`] ago). Returns the incident's id and the alert to send.
    pub fn started(&mut self, o: &Observation) -> Result<(i64, Option<Alert>), StoreError> {
        let tx = self.conn.transaction()?;
        let live: Option<Incident> = tx
            .query_row(
                "SELECT * FROM incidents WHERE vector = ?1 AND target = ?2
                 AND status != 'resolved' ORDER BY id DESC LIMIT 1",
                params![o.vector, o.target],
                incident_from_row,
            )
            .optional()?;
        let now = wall_now();
        let (id, alert) = match live {
            Some(mut inc)
                if inc.active || o.start_ns <= inc.end_ns.saturating_add(self.reopen_ns) =>
            {
                let was_active = inc.active;
                let gap = o.start_ns.saturating_sub(inc.end_ns).max(0);
                let detail = if was_active {
                    format!(
                        "found again by a restarted monitor; no traffic of it was seen from {} to {} ({})",
                        rfc3339(inc.end_ns),
                        rfc3339(o.start_ns.max(inc.end_ns)),
                        seconds(gap)
                    )
                } else {
                    format!("back after {} quiet", seconds(gap))
                };
                merge(&mut inc, o);
                inc.active = true;
                let escalated = was_active && inc.peak_pps >= ESCALATION * inc.alerted_pps;
                if !was_active || escalated {
                    inc.alerted_pps = inc.peak_pps;
                }
                inc.updated_at = now.clone();
                write_incident(&tx, &inc)?;
                add_history(
                    &tx,
                    inc.id,
                    &now,
                    Some(o.at_ns),
                    MONITOR,
                    "resumed",
                    &detail,
                )?;
                let kind = if !was_active {
                    Some(AlertKind::Start)
                } else if escalated {
                    add_history(
                        &tx,
                        inc.id,
                        &now,
                        Some(o.at_ns),
                        MONITOR,
                        "escalated",
                        &format!("peak {}", inc.measure.rate(inc.peak_pps)),
                    )?;
                    Some(AlertKind::Escalation)
                } else {
                    None
                };
                (
                    inc.id,
                    kind.map(|k| {
                        alert(k, !was_active && k == AlertKind::Start, &now, o.at_ns, inc)
                    }),
                )
            }
            _ => {
                tx.execute(
                    "INSERT INTO incidents (vector, target, status, attack, start_ns, end_ns,
                        peak_pps, alerted_pps, sources, spoofed, signature, rules, evidence,
                        owner, opened_at, updated_at, network, measure)
                     VALUES (?1, ?2, 'open', 'active', ?3, ?4, ?5, ?5, ?6, ?7, ?8, ?9, ?10,
                        NULL, ?11, ?11, ?12, ?13)",
                    params![
                        o.vector,
                        o.target,
                        o.start_ns,
                        o.end_ns,
                        o.peak_pps,
                        o.sources as i64,
                        o.spoofed_likely,
                        o.signature,
                        json(&o.rules),
                        json(&o.evidence),
                        now,
                        o.network,
                        o.measure.as_str()
                    ],
                )?;
                let id = tx.last_insert_rowid();
                add_history(
                    &tx,
                    id,
                    &now,
                    Some(o.at_ns),
                    MONITOR,
                    "started",
                    &format!(
                        "{} on {} from {}, peak {}",
                        o.vector,
                        o.target,
                        rfc3339(o.start_ns),
                        o.measure.rate(o.peak_pps)
                    ),
                )?;
                let inc = read_incident(&tx, id)?;
                (id, Some(alert(AlertKind::Start, false, &now, o.at_ns, inc)))
            }
        };
        tx.commit()?;
        Ok((id, alert))
    }

    /// The attack of incident `id` grew or sharpened. An escalation alert when its peak
    /// reached twice the last alert's, or its targets or vector changed.
    pub fn updated(&mut self, id: i64, o: &Observation) -> Result<Option<Alert>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut inc = read_incident(&tx, id)?;
        let now = wall_now();
        let moved = inc.target != o.target || inc.vector != o.vector;
        let mut changes = Vec::new();
        if moved {
            changes.push(format!(
                "now {} on {} (was {} on {})",
                o.vector, o.target, inc.vector, inc.target
            ));
        }
        if o.peak_pps > inc.peak_pps {
            changes.push(format!(
                "peak {} (was {})",
                inc.measure.rate(o.peak_pps),
                inc.measure.rate(inc.peak_pps)
            ));
        }
        if o.signature != inc.signature {
            if let Some(s) = &o.signature {
                changes.push(format!("signature {s}"));
            }
        }
        merge(&mut inc, o);
        inc.vector.clone_from(&o.vector);
        inc.target.clone_from(&o.target);
        let escalated = inc.status != Status::Resolved
            && (moved || inc.peak_pps >= ESCALATION * inc.alerted_pps);
        if escalated {
            inc.alerted_pps = inc.peak_pps;
        }
        inc.updated_at = now.clone();
        write_incident(&tx, &inc)?;
        if !changes.is_empty() {
            add_history(
                &tx,
                id,
                &now,
                Some(o.at_ns),
                MONITOR,
                if escalated { "escalated" } else { "updated" },
                &changes.join("; "),
            )?;
        }
        tx.commit()?;
        Ok(escalated.then(|| alert(AlertKind::Escalation, false, &now, o.at_ns, inc)))
    }

    /// The attack of incident `id` ended (its evidence quiet for the quiet period, or the
    /// monitor stopped with it going on).
    pub fn ended(
        &mut self,
        id: i64,
        o: &Observation,
        why: &str,
    ) -> Result<Option<Alert>, StoreError> {
        let tx = self.conn.transaction()?;
        let mut inc = read_incident(&tx, id)?;
        if !inc.active {
            return Ok(None);
        }
        let now = wall_now();
        merge(&mut inc, o);
        inc.active = false;
        inc.updated_at = now.clone();
        write_incident(&tx, &inc)?;
        add_history(
            &tx,
            id,
            &now,
            Some(o.at_ns),
            MONITOR,
            "ended",
            &format!(
                "{why}; {} to {}, peak {}",
                rfc3339(inc.start_ns),
                rfc3339(inc.end_ns),
                inc.measure.rate(inc.peak_pps)
            ),
        )?;
        tx.commit()?;
        Ok(Some(alert(AlertKind::End, false, &now, o.at_ns, inc)))
    }

    /// Incidents whose attack the database holds as active: after a restart, those the
    /// monitor must find again or end.
    pub fn active(&self) -> Result<Vec<Incident>, StoreError> {
        self.query(
            "SELECT * FROM incidents WHERE attack = 'active' ORDER BY id",
            [],
        )
    }

    /// Writes in the history of each active incident that a monitor started while it was
    /// active: what it knew stopped at the incident's last moment.
    pub fn monitor_restarted(&mut self) -> Result<Vec<i64>, StoreError> {
        let tx = self.conn.transaction()?;
        let now = wall_now();
        let ids: Vec<(i64, i64)> = {
            let mut st = tx.prepare("SELECT id, end_ns FROM incidents WHERE attack = 'active'")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for &(id, end_ns) in &ids {
            add_history(
                &tx,
                id,
                &now,
                None,
                MONITOR,
                "restarted",
                &format!(
                    "a monitor started while this attack was active; the last traffic of it recorded was at {}",
                    rfc3339(end_ns)
                ),
            )?;
        }
        tx.commit()?;
        Ok(ids.into_iter().map(|(id, _)| id).collect())
    }

    /// Writes in the history of each active incident that the monitor stopped (SIGTERM)
    /// while it was active: the attack is not called ended, and a monitor started again
    /// continues it.
    pub fn monitor_stopped(&mut self, why: &str) -> Result<Vec<i64>, StoreError> {
        let tx = self.conn.transaction()?;
        let now = wall_now();
        let ids: Vec<i64> = {
            let mut st = tx.prepare("SELECT id FROM incidents WHERE attack = 'active'")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        for &id in &ids {
            add_history(
                &tx,
                id,
                &now,
                None,
                MONITOR,
                "stopped",
                &format!("the monitor stopped ({why}) while this attack was active"),
            )?;
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The report of incident `id`'s capture was written in `dir` (`headline`: what it
    /// found): kept in its history.
    pub fn report_written(&mut self, id: i64, dir: &str, headline: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        read_incident(&tx, id)?;
        let now = wall_now();
        add_history(
            &tx,
            id,
            &now,
            None,
            MONITOR,
            "report",
            &format!("{dir}: {headline}"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The monitor wrote a capture of incident `id`'s packets at `path` (`detail`: what it
    /// holds): listed in its `samples`.
    pub fn sample_written(&mut self, id: i64, path: &str, detail: &str) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        let mut inc = read_incident(&tx, id)?;
        let now = wall_now();
        inc.samples.push(path.to_string());
        tx.execute(
            "UPDATE incidents SET samples = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, json(&inc.samples), now],
        )?;
        add_history(
            &tx,
            id,
            &now,
            None,
            MONITOR,
            "sample",
            &format!("{path}: {detail}"),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Writes a change the monitor made outside the attack's state (`change`: a word from
    /// [`HistoryEntry::change`]) in incident `id`'s history.
    pub fn monitor_history(
        &mut self,
        id: i64,
        change: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        read_incident(&self.conn, id)?;
        add_history(&self.conn, id, &wall_now(), None, MONITOR, change, detail)
    }

    /// A person takes incident `id`.
    pub fn acknowledge(&mut self, id: i64, owner: &str) -> Result<Incident, StoreError> {
        self.person_change(id, owner, |inc| {
            if inc.status == Status::Resolved {
                return Err("reopen it first (a resolved incident is closed)");
            }
            inc.owner = Some(owner.to_string());
            if inc.status == Status::Open {
                inc.status = Status::Acknowledged;
            }
            Ok(("acknowledged", format!("owned by {owner}")))
        })
    }

    /// A mitigation stops incident `id`'s attack (`detail` says which).
    pub fn mitigated(
        &mut self,
        id: i64,
        actor: &str,
        detail: &str,
    ) -> Result<Incident, StoreError> {
        self.person_change(id, actor, |inc| {
            if inc.status == Status::Resolved {
                return Err("a resolved incident is closed");
            }
            inc.status = Status::Mitigated;
            Ok(("mitigated", detail.to_string()))
        })
    }

    /// A person closes incident `id`. Its attack, if it comes back, is a new incident.
    pub fn resolve(
        &mut self,
        id: i64,
        actor: &str,
        why: Option<&str>,
    ) -> Result<Incident, StoreError> {
        self.person_change(id, actor, |inc| {
            if inc.status == Status::Resolved {
                return Err("already resolved");
            }
            inc.status = Status::Resolved;
            let still = if inc.active {
                " while its attack was still active"
            } else {
                ""
            };
            Ok((
                "resolved",
                match why {
                    Some(w) => format!("resolved{still}: {w}"),
                    None => format!("resolved{still}"),
                },
            ))
        })
    }

    /// A person reopens resolved incident `id`.
    pub fn reopen(&mut self, id: i64, actor: &str) -> Result<Incident, StoreError> {
        self.person_change(id, actor, |inc| {
            if inc.status != Status::Resolved {
                return Err("only a resolved incident can be reopened");
            }
            inc.status = if inc.owner.is_some() {
                Status::Acknowledged
            } else {
                Status::Open
            };
            Ok(("reopened", format!("reopened as {}", inc.status)))
        })
    }

    /// A person adds a note to incident `id`.
    pub fn note(&mut self, id: i64, actor: &str, text: &str) -> Result<Incident, StoreError> {
        self.person_change(id, actor, |_| Ok(("note", text.to_string())))
    }

    /// Incident `id`.
    pub fn get(&self, id: i64) -> Result<Incident, StoreError> {
        read_incident(&self.conn, id)
    }

    /// Incident `id`'s history, oldest first.
    pub fn history(&self, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
        read_incident(&self.conn, id)?;
        let mut st = self.conn.prepare(
            "SELECT at, traffic_ns, actor, change, detail FROM history
             WHERE incident = ?1 ORDER BY id",
        )?;
        let rows = st.query_map([id], |r| {
            Ok(HistoryEntry {
                at: r.get(0)?,
                traffic_time: r.get::<_, Option<i64>>(1)?.map(rfc3339),
                actor: r.get(2)?,
                change: r.get(3)?,
                detail: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Incidents, newest first: those of `status` when given, else every one not resolved
    /// (or every one at all with `all`).
    pub fn list(&self, status: Option<Status>, all: bool) -> Result<Vec<Incident>, StoreError> {
        match status {
            Some(s) => self.query(
                "SELECT * FROM incidents WHERE status = ?1 ORDER BY id DESC",
                [s.as_str()],
            ),
            None if all => self.query("SELECT * FROM incidents ORDER BY id DESC", []),
            None => self.query(
                "SELECT * FROM incidents WHERE status != 'resolved' ORDER BY id DESC",
                [],
            ),
        }
    }

    fn query<P: rusqlite::Params>(&self, sql: &str, p: P) -> Result<Vec<Incident>, StoreError> {
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map(p, incident_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A change a person makes: `change` edits the incident and names the change, or refuses.
    fn person_change(
        &mut self,
        id: i64,
        actor: &str,
        change: impl FnOnce(&mut Incident) -> Result<(&'static str, String), &'static str>,
    ) -> Result<Incident, StoreError> {
        let tx = self.conn.transaction()?;
        let mut inc = read_incident(&tx, id)?;
        let status = inc.status;
        let (what, detail) =
            change(&mut inc).map_err(|why| StoreError::Refused { id, status, why })?;
        let now = wall_now();
        inc.updated_at = now.clone();
        write_incident(&tx, &inc)?;
        add_history(&tx, id, &now, None, actor, what, &detail)?;
        tx.commit()?;
        Ok(inc)
    }
}

/// Folds what the monitor now knows into an incident's figures.
fn merge(inc: &mut Incident, o: &Observation) {
    inc.start_ns = inc.start_ns.min(o.start_ns);
    inc.end_ns = inc.end_ns.max(o.end_ns);
    inc.start = rfc3339(inc.start_ns);
    inc.end = rfc3339(inc.end_ns);
    inc.peak_pps = inc.peak_pps.max(o.peak_pps);
    inc.sources = inc.sources.max(o.sources);
    inc.spoofed_likely |= o.spoofed_likely;
    if o.signature.is_some() {
        inc.signature.clone_from(&o.signature);
    }
    if !o.rules.is_empty() {
        inc.rules.clone_from(&o.rules);
    }
    if !o.evidence.is_empty() {
        inc.evidence.clone_from(&o.evidence);
    }
    if o.network.is_some() {
        inc.network.clone_from(&o.network);
    }
}

fn alert(kind: AlertKind, resumed: bool, now: &str, traffic_ns: i64, incident: Incident) -> Alert {
    Alert {
        alert: kind,
        resumed,
        at: now.to_string(),
        traffic_time: rfc3339(traffic_ns),
        incident,
    }
}

fn read_incident(conn: &Connection, id: i64) -> Result<Incident, StoreError> {
    conn.query_row(
        "SELECT * FROM incidents WHERE id = ?1",
        [id],
        incident_from_row,
    )
    .optional()?
    .ok_or(StoreError::NoIncident(id))
}

fn write_incident(conn: &Connection, inc: &Incident) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE incidents SET vector = ?2, target = ?3, status = ?4, attack = ?5,
            start_ns = ?6, end_ns = ?7, peak_pps = ?8, alerted_pps = ?9, sources = ?10,
            spoofed = ?11, signature = ?12, rules = ?13, evidence = ?14, owner = ?15,
            updated_at = ?16, network = ?17
         WHERE id = ?1",
        params![
            inc.id,
            inc.vector,
            inc.target,
            inc.status.as_str(),
            if inc.active { "active" } else { "ended" },
            inc.start_ns,
            inc.end_ns,
            inc.peak_pps,
            inc.alerted_pps,
            inc.sources as i64,
            inc.spoofed_likely,
            inc.signature,
            json(&inc.rules),
            json(&inc.evidence),
            inc.owner,
            inc.updated_at,
            inc.network
        ],
    )?;
    Ok(())
}

fn add_history(
    conn: &Connection,
    id: i64,
    at: &str,
    traffic_ns: Option<i64>,
    actor: &str,
    change: &str,
    detail: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO history (incident, at, traffic_ns, actor, change, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, at, traffic_ns, actor, change, detail],
    )?;
    Ok(())
}

fn incident_from_row(r: &Row<'_>) -> rusqlite::Result<Incident> {
    let start_ns: i64 = r.get("start_ns")?;
    let end_ns: i64 = r.get("end_ns")?;
    let rules: String = r.get("rules")?;
    let evidence: String = r.get("evidence")?;
    Ok(Incident {
        id: r.get("id")?,
        vector: r.get("vector")?,
        target: r.get("target")?,
        network: r.get("network")?,
        measure: Measure::parse(&r.get::<_, String>("measure")?),
        status: Status::parse(&r.get::<_, String>("status")?),
        active: r.get::<_, String>("attack")? == "active",
        start: rfc3339(start_ns),
        end: rfc3339(end_ns),
        start_ns,
        end_ns,
        peak_pps: r.get("peak_pps")?,
        sources: r.get::<_, i64>("sources")?.max(0) as u64,
        spoofed_likely: r.get("spoofed")?,
        signature: r.get("signature")?,
        // Written by this crate as JSON; a hand-edited value that is not is shown as empty.
        rules: serde_json::from_str(&rules).unwrap_or_default(),
        evidence: serde_json::from_str(&evidence).unwrap_or_default(),
        samples: serde_json::from_str(&r.get::<_, String>("samples")?).unwrap_or_default(),
        owner: r.get("owner")?,
        opened_at: r.get("opened_at")?,
        updated_at: r.get("updated_at")?,
        alerted_pps: r.get("alerted_pps")?,
    })
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("maps and lists of strings serialise")
}

/// The wall clock, RFC 3339 to the millisecond.
fn wall_now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

fn seconds(ns: i64) -> String {
    format!("{:.1} s", ns as f64 / 1e9)
}

#[cfg(test)]
mod tests;
