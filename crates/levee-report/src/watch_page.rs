//! The index of everything `levee watch` processed: one row per file that landed, with what
//! its report and hunt found and links to them, newest first. HTML and Markdown through the
//! pages' shared parts; the JSON is the model itself.

use std::fmt::Write;

use maud::html;
use serde::Serialize;

use crate::page::{self, cell, code, Figure};
use levee_analyze::units::thousands;

/// The version of the index's JSON.
pub const WATCH_INDEX_VERSION: u32 = 1;

/// The index of a watched directory.
#[derive(Debug, Clone, Serialize)]
pub struct WatchIndex {
    /// The version of this JSON's schema ([`WATCH_INDEX_VERSION`]).
    pub report_version: u32,
    /// `levee` and its version.
    pub generator: String,
    /// The page's title.
    pub title: String,
    /// The directory watched.
    pub watched: String,
    /// When the index was written (RFC 3339, UTC).
    pub updated: String,
    /// Files waiting their turn.
    pub queued: u64,
    /// Files being processed.
    pub running: u64,
    /// Every file processed, newest first.
    pub files: Vec<WatchRow>,
}

/// A file processed.
#[derive(Debug, Clone, Serialize)]
pub struct WatchRow {
    /// Its name in the watched directory.
    pub file: String,
    /// Its size, bytes.
    pub size: u64,
    /// `capture`, `access log`, or what could not be read.
    pub kind: String,
    /// When it was first seen and when it was done (RFC 3339, UTC).
    pub seen: String,
    /// When it was done.
    pub done: String,
    /// `done`, or `failed` with [`WatchRow::error`].
    pub status: String,
    /// How many times its processing was started: more than once when a watcher stopped
    /// while it ran (its first results were never put in place).
    pub attempts: u32,
    /// Attacks the report found, and their vectors.
    pub attacks: Option<u64>,
    /// The vectors.
    pub vectors: Vec<String>,
    /// Indicator hits and findings of the hunt, when it ran.
    pub hits: Option<u64>,
    /// Findings without indicators (at the hunt's minimum score).
    pub findings: Option<u64>,
    /// The directory of its results, relative to the index.
    pub dir: String,
    /// Links (label, path relative to the index) to its reports.
    pub links: Vec<(String, String)>,
    /// Why it failed.
    pub error: Option<String>,
}

impl WatchIndex {
    fn figures(&self) -> Vec<Figure> {
        let attacks: u64 = self.files.iter().filter_map(|f| f.attacks).sum();
        let with_attacks = self
            .files
            .iter()
            .filter(|f| f.attacks.unwrap_or(0) > 0)
            .count();
        let hits: u64 = self.files.iter().filter_map(|f| f.hits).sum();
        let failed = self.files.iter().filter(|f| f.status != "done").count();
        vec![
            Figure::number(
                None,
                "Files processed",
                "files",
                (self.files.len() as f64, thousands(self.files.len() as u64)),
                Some(format!("{} queued, {} running", self.queued, self.running)),
            ),
            Figure::number(
                Some("alert"),
                "Attacks",
                "attacks",
                (attacks as f64, thousands(attacks)),
                Some(format!("in {with_attacks} files")),
            ),
            Figure::number(
                Some("alert"),
                "Indicator hits",
                "hits",
                (hits as f64, thousands(hits)),
                None,
            ),
            Figure::number(
                None,
                "Failed",
                "failed",
                (failed as f64, thousands(failed as u64)),
                None,
            ),
        ]
    }
}

/// A count that may not have been taken.
fn maybe(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), thousands)
}

impl crate::Document for WatchIndex {
    fn html(&self) -> String {
        let shell = page::Shell {
            title: &self.title,
            heading: "Watched files",
            generator: &self.generator,
            report_version: self.report_version,
            inputs: "files processed",
        };
        let meta = html! {
            p.meta { "Watching " (self.watched) "; updated " (self.updated) }
        };
        let body = html! {
            section #summary {
                h2 { "Summary" }
                (page::figures(&self.figures()))
            }
            section #files {
                h2 { "Files" }
                @if self.files.is_empty() { p { "Nothing has landed yet." } }
                @else {
                    table {
                        tr { th { "file" } th { "kind" } th.num { "bytes" } th { "seen" } th { "done" } th.num { "attacks" } th.num { "hits" } th.num { "findings" } th { "reports" } }
                        @for f in &self.files {
                            tr {
                                td { code { (f.file) } }
                                td { (f.kind) }
                                td.num { (thousands(f.size)) }
                                td { (f.seen) }
                                td { (f.done) }
                                td.num { (maybe(f.attacks)) @if !f.vectors.is_empty() { br; span.muted { (f.vectors.join(", ")) } } }
                                td.num { (maybe(f.hits)) }
                                td.num { (maybe(f.findings)) }
                                td {
                                    @if let Some(e) = &f.error { span.alert { "failed: " (e) } br; }
                                    @for (label, path) in &f.links { a href=(path) { (label) } " " }
                                }
                            }
                        }
                    }
                }
            }
        };
        page::document(&shell, meta, body)
    }

    fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# Watched files\n\nWatching {}; updated {}. {} processed, {} queued, {} running.\n",
            self.watched,
            self.updated,
            self.files.len(),
            self.queued,
            self.running
        );
        if self.files.is_empty() {
            let _ = writeln!(o, "Nothing has landed yet.");
            return o;
        }
        let _ = writeln!(
            o,
            "| file | kind | bytes | seen | done | attacks | hits | findings | reports |\n|---|---|---:|---|---|---:|---:|---:|---|"
        );
        for f in &self.files {
            let links: Vec<String> = f
                .links
                .iter()
                .map(|(l, p)| format!("[{}]({})", cell(l), p))
                .collect();
            let status = match &f.error {
                Some(e) => format!("failed: {} ", cell(e)),
                None => String::new(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {}{} | {} | {} | {}{} |",
                code(&f.file),
                cell(&f.kind),
                thousands(f.size),
                f.seen,
                f.done,
                maybe(f.attacks),
                if f.vectors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", cell(&f.vectors.join(", ")))
                },
                maybe(f.hits),
                maybe(f.findings),
                status,
                links.join(" ")
            );
        }
        o
    }

    fn headline(&self) -> String {
        format!(
            "{} files processed, {} queued, {} running",
            self.files.len(),
            self.queued,
            self.running
        )
    }
}
