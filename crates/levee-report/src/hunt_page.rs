//! The report of a hunt for indicators (`levee hunt --report DIR`): a timeline of every
//! sighting (an indicator seen in one field of one file: first and last time, hits, where
//! first, its context), the indicators not found, what the indicator files held that could not
//! be looked for, and the inputs. HTML and Markdown through the pages' shared parts; the JSON
//! is the model itself.

use std::fmt::Write;

use maud::html;
use serde::Serialize;

use crate::page::{self, cell, code, Figure, Shown};
use levee_analyze::units::thousands;

/// The version of the hunt report's JSON.
pub const HUNT_REPORT_VERSION: u32 = 1;

/// A hunt's report.
#[derive(Debug, Clone, Serialize)]
pub struct HuntReport {
    /// The version of this JSON's schema ([`HUNT_REPORT_VERSION`]).
    pub report_version: u32,
    /// `levee` and its version.
    pub generator: String,
    /// The page's title.
    pub title: String,
    /// The indicator files read.
    pub indicator_files: Vec<IndicatorFileRow>,
    /// The inputs hunted.
    pub inputs: Vec<InputRow>,
    /// Every sighting, by its first time (those without a time last).
    pub sightings: Vec<Sighting>,
    /// The indicators not seen anywhere.
    pub not_found: Vec<IndicatorRef>,
    /// What the indicator files held that could not be looked for.
    pub unusable: Vec<UnusableRow>,
    /// What the hunt's reader should know (patterns hunted more broadly than written).
    pub notes: Vec<String>,
}

/// An indicator file.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorFileRow {
    /// The file.
    pub file: String,
    /// Its format.
    pub format: String,
    /// Indicators looked for.
    pub usable: u64,
    /// Values that could not be.
    pub unusable: u64,
}

/// An input hunted.
#[derive(Debug, Clone, Serialize)]
pub struct InputRow {
    /// The file.
    pub file: String,
    /// What it is (capture, access log, flow exports...).
    pub kind: String,
    /// Frames, requests or records read.
    pub read: u64,
    /// Hits in it.
    pub hits: u64,
    /// Damaged records met.
    pub damaged: u64,
}

/// An indicator, as a row names it.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorRef {
    /// Its kind.
    pub kind: String,
    /// Its value.
    pub value: String,
    /// Where it was read.
    pub source: String,
    /// What its source says of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// An indicator seen in one field of one file.
#[derive(Debug, Clone, Serialize)]
pub struct Sighting {
    /// The indicator.
    pub indicator: IndicatorRef,
    /// The file.
    pub file: String,
    /// The field it was seen in.
    pub field: String,
    /// Hits.
    pub hits: u64,
    /// The first and last time (RFC 3339, UTC), when the input says.
    pub first: Option<String>,
    /// The last time.
    pub last: Option<String>,
    /// Where first (`frame 4`, `line 17`).
    pub first_at: String,
    /// The first hit's context.
    pub context: String,
}

/// A value that could not be looked for.
#[derive(Debug, Clone, Serialize)]
pub struct UnusableRow {
    /// Where it was read.
    pub source: String,
    /// Its type as the file named it.
    pub kind: String,
    /// Its value.
    pub value: String,
    /// Why.
    pub why: String,
}

impl HuntReport {
    fn hits(&self) -> u64 {
        self.inputs.iter().map(|i| i.hits).sum()
    }

    fn indicators(&self) -> usize {
        self.indicator_files.iter().map(|f| f.usable as usize).sum()
    }

    fn found(&self) -> usize {
        self.indicators().saturating_sub(self.not_found.len())
    }

    fn figures(&self) -> Vec<Figure> {
        let with_hits = self.inputs.iter().filter(|i| i.hits > 0).count();
        vec![
            Figure {
                tone: Some("alert"),
                label: "Indicators found",
                shown: Shown::Number {
                    key: "indicators_found",
                    value: self.found() as f64,
                    text: thousands(self.found() as u64),
                },
                sub: Some(format!(
                    "of {} looked for",
                    thousands(self.indicators() as u64)
                )),
            },
            Figure {
                tone: None,
                label: "Hits",
                shown: Shown::Number {
                    key: "hits",
                    value: self.hits() as f64,
                    text: thousands(self.hits()),
                },
                sub: Some(format!(
                    "{} sightings",
                    thousands(self.sightings.len() as u64)
                )),
            },
            Figure {
                tone: None,
                label: "Inputs with hits",
                shown: Shown::Number {
                    key: "inputs_with_hits",
                    value: with_hits as f64,
                    text: thousands(with_hits as u64),
                },
                sub: Some(format!("of {} hunted", self.inputs.len())),
            },
        ]
    }

    fn lead(&self) -> String {
        if self.hits() == 0 {
            return format!(
                "None of the {} indicators occurs in the {} inputs.",
                thousands(self.indicators() as u64),
                self.inputs.len()
            );
        }
        let first = self.sightings.iter().find_map(|s| s.first.clone());
        format!(
            "{} of the {} indicators occur in the inputs, {} times{}.",
            thousands(self.found() as u64),
            thousands(self.indicators() as u64),
            thousands(self.hits()),
            first
                .map(|t| format!(", the first at {t}"))
                .unwrap_or_default()
        )
    }
}

fn label(i: &IndicatorRef) -> String {
    i.label
        .as_deref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default()
}

impl crate::Document for HuntReport {
    fn html(&self) -> String {
        let shell = page::Shell {
            title: &self.title,
            heading: "Indicator hunt",
            generator: &self.generator,
            report_version: self.report_version,
            inputs: "captures, logs and flows hunted",
        };
        let meta = html! {
            p.meta { (self.inputs.iter().map(|f| f.file.as_str()).collect::<Vec<_>>().join(", ")) }
            p.meta { "Indicators from " (self.indicator_files.iter().map(|f| f.file.as_str()).collect::<Vec<_>>().join(", ")) }
        };
        let body = html! {
            section #summary {
                h2 { "Summary" }
                p.lead { (self.lead()) }
                (page::figures(&self.figures()))
                @for n in &self.notes { p.note { (n) } }
            }
            section #timeline {
                h2 { "Timeline" }
                p.muted { "Each indicator in each field of each input, by the time it was first seen (UTC)." }
                @if self.sightings.is_empty() { p { "No indicator was seen." } }
                @else {
                    table {
                        tr { th { "first" } th { "last" } th { "indicator" } th { "where" } th { "field" } th.num { "hits" } th { "first hit" } }
                        @for s in &self.sightings {
                            tr {
                                td { (s.first.as_deref().unwrap_or("-")) }
                                td { (s.last.as_deref().unwrap_or("-")) }
                                td { (s.indicator.kind) " " code { (s.indicator.value) } br; span.muted { (s.indicator.source) (label(&s.indicator)) } }
                                td { (s.file) ", " (s.first_at) }
                                td { code { (s.field) } }
                                td.num { (thousands(s.hits)) }
                                td { code { (s.context) } }
                            }
                        }
                    }
                }
            }
            section #not-found {
                h2 { "Not found" }
                @if self.not_found.is_empty() { p { "Every indicator was found." } }
                @else {
                    table {
                        tr { th { "indicator" } th { "source" } }
                        @for i in &self.not_found { tr { td { (i.kind) " " code { (i.value) } } td { (i.source) (label(i)) } } }
                    }
                }
            }
            section #unusable {
                h2 { "Not looked for" }
                @if self.unusable.is_empty() { p { "Every value of the indicator files was looked for." } }
                @else {
                    table {
                        tr { th { "source" } th { "type" } th { "value" } th { "why" } }
                        @for u in &self.unusable { tr { td { (u.source) } td { (u.kind) } td { code { (u.value) } } td { (u.why) } } }
                    }
                }
            }
            section #appendix {
                h2 { "Inputs" }
                table {
                    tr { th { "file" } th { "kind" } th.num { "read" } th.num { "hits" } th.num { "damaged" } }
                    @for i in &self.inputs { tr { td { (i.file) } td { (i.kind) } td.num { (thousands(i.read)) } td.num { (thousands(i.hits)) } td.num { (thousands(i.damaged)) } } }
                }
                h3 { "Indicator files" }
                table {
                    tr { th { "file" } th { "format" } th.num { "looked for" } th.num { "not" } }
                    @for f in &self.indicator_files { tr { td { (f.file) } td { (f.format) } td.num { (thousands(f.usable)) } td.num { (thousands(f.unusable)) } } }
                }
            }
        };
        page::document(&shell, meta, body)
    }

    fn markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# Indicator hunt\n\n{}\n", self.lead());
        for n in &self.notes {
            let _ = writeln!(o, "> {n}\n");
        }
        let _ = writeln!(o, "## Timeline\n");
        if self.sightings.is_empty() {
            let _ = writeln!(o, "No indicator was seen.\n");
        } else {
            let _ = writeln!(
                o,
                "| first | last | indicator | where | field | hits | first hit |\n|---|---|---|---|---|---:|---|"
            );
            for s in &self.sightings {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} {} ({}{}) | {}, {} | {} | {} | {} |",
                    s.first.as_deref().unwrap_or("-"),
                    s.last.as_deref().unwrap_or("-"),
                    s.indicator.kind,
                    code(&s.indicator.value),
                    cell(&s.indicator.source),
                    cell(&label(&s.indicator)),
                    cell(&s.file),
                    s.first_at,
                    code(&s.field),
                    thousands(s.hits),
                    code(&s.context)
                );
            }
            o.push('\n');
        }
        let _ = writeln!(o, "## Not found\n");
        if self.not_found.is_empty() {
            let _ = writeln!(o, "Every indicator was found.\n");
        } else {
            for i in &self.not_found {
                let _ = writeln!(o, "* {} {} ({})", i.kind, code(&i.value), cell(&i.source));
            }
            o.push('\n');
        }
        let _ = writeln!(o, "## Not looked for\n");
        if self.unusable.is_empty() {
            let _ = writeln!(o, "Every value of the indicator files was looked for.\n");
        } else {
            for u in &self.unusable {
                let _ = writeln!(
                    o,
                    "* {}: {} {}: {}",
                    cell(&u.source),
                    cell(&u.kind),
                    code(&u.value),
                    cell(&u.why)
                );
            }
            o.push('\n');
        }
        let _ = writeln!(
            o,
            "## Inputs\n\n| file | kind | read | hits | damaged |\n|---|---|---:|---:|---:|"
        );
        for i in &self.inputs {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                cell(&i.file),
                i.kind,
                thousands(i.read),
                thousands(i.hits),
                thousands(i.damaged)
            );
        }
        o
    }

    fn headline(&self) -> String {
        self.lead()
    }
}
