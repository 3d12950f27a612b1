//! The parts both reports are made of: the capture report ([`crate::html`],
//! [`crate::markdown`]) and the access-log report ([`crate::logs_page`]) share the page shell,
//! the headline figures, the timeline legend, the rules files and the appendix of methods, each
//! in HTML and in Markdown, and the way they write shares, durations, table cells and code.
//!
//! A part written here once reads the same in both reports; a part that differs between them
//! (the attack sections: packets and signatures against requests and clients) stays in its
//! report's module.

use std::fmt::Write;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::model::{EngineRule, MethodNote, Peak, TimelineView};
use crate::svg;

/// A percentage for a share in [0, 1], with precision where it matters (small collateral).
pub fn pct(x: f64) -> String {
    if x == 0.0 {
        "0%".into()
    } else if x < 0.0001 {
        "<0.01%".into()
    } else if x < 0.01 {
        format!("{:.3}%", x * 100.0)
    } else if x > 0.9999 && x < 1.0 {
        ">99.99%".into()
    } else {
        format!("{:.2}%", x * 100.0)
    }
}

/// A duration in words, with the precision it needs: 23 ms, 4.2 s, 3 min 12 s, 2 h 05 min,
/// 3 d 04 h.
pub fn duration(s: f64) -> String {
    if s < 0.01 {
        format!("{:.2} ms", s * 1000.0)
    } else if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.1} s")
    } else if s >= 86_400.0 {
        format!(
            "{} d {:02} h",
            (s / 86_400.0) as u64,
            ((s % 86_400.0) / 3600.0) as u64
        )
    } else if s < 3600.0 {
        format!("{} min {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{} h {:02} min",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// Text for a Markdown table cell: pipes escaped, lines joined.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Markdown inline code that survives backticks in the text.
pub(crate) fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {} ``", cell(s))
    } else {
        format!("`{}`", cell(s))
    }
}

/// A fenced Markdown block that survives fences in the text.
pub(crate) fn block(o: &mut String, lang: &str, text: &str) {
    let fence = if text.contains("```") { "~~~~" } else { "```" };
    let _ = writeln!(o, "{fence}{lang}\n{}\n{fence}\n", text.trim_end());
}

/// A key figure in HTML: the rounded text, with the exact value for machines.
pub(crate) fn figure(name: &str, value: f64, text: String) -> Markup {
    html! { span.value data-figure=(name) data-value=(value) { (text) } }
}

/// The style sheet of both pages.
pub(crate) const CSS: &str = r#"
:root { --ink:#1d2330; --muted:#5b6577; --line:#d9dee7; --bg:#f6f7f9; --accent:#d1495b; --ok:#2a7d4f; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); margin: 0; background: #fff; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 28px 48px; }
header.top { border-bottom: 3px solid var(--accent); padding-bottom: 10px; margin-bottom: 18px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 30px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.meta, .muted { color: var(--muted); }
p.meta { margin: 0; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 10px; }
.figure { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.figure .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.figure .value { display: block; font-size: 21px; font-weight: 600; margin: 2px 0; }
.figure .sub { font-size: 12px; color: var(--muted); }
.figure.alert .value { color: var(--accent); }
.figure.good .value { color: var(--ok); }
p.lead { font-size: 15px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 12px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { background: var(--bg); padding: 1px 4px; border-radius: 3px; word-break: break-all; }
pre { background: var(--bg); border: 1px solid var(--line); border-radius: 4px; padding: 8px 10px; white-space: pre-wrap; word-break: break-all; margin: 4px 0 10px; }
svg.chart { width: 100%; height: auto; display: block; background: #fff; }
svg .grid { stroke: #e7eaf0; stroke-width: 1; }
svg .axis { fill: var(--muted); font-size: 11px; }
svg .axis-line, svg .tick { stroke: #8a93a3; stroke-width: 1; }
svg .window { fill: #d1495b; fill-opacity: .07; stroke: #d1495b; stroke-opacity: .5; stroke-dasharray: 3 2; }
svg .window-label { fill: #b03040; font-size: 11px; font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 16px; margin: 4px 0 14px; font-size: 12px; }
.legend span.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
.charts2 { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.bad { background: #fbe3e6; color: #a3263a; }
.badge.fine { background: #e2f3e9; color: #23693f; }
section.attack { page-break-before: always; break-before: page; }
.note { background: #fff8e1; border: 1px solid #f0dc9a; border-radius: 4px; padding: 6px 10px; }
dl.method dt { font-weight: 600; margin-top: 8px; }
dl.method dd { margin: 2px 0 0 0; color: var(--muted); }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--line); padding-top: 8px; }
@media print { main { max-width: none; padding: 0; } h2 { break-after: avoid; } table, pre, svg { break-inside: avoid; } .figures { grid-template-columns: repeat(3, 1fr); } }
"#;

/// What a report page says about itself: its title, who wrote it, and what its figures come
/// from.
pub(crate) struct Shell<'a> {
    /// The page's `<title>`.
    pub title: &'a str,
    /// The heading at the top.
    pub heading: &'a str,
    /// `levee` and its version.
    pub generator: &'a str,
    /// The version of the report's JSON schema.
    pub report_version: u32,
    /// What the figures come from: `captures`, `logs`.
    pub inputs: &'a str,
}

/// A whole self-contained page: a Content-Security-Policy forbids it to load anything, so it
/// reads the same offline, attached to a ticket and printed to PDF. `meta` is the lines under
/// the heading; `body` the sections.
pub(crate) fn document(shell: &Shell<'_>, meta: Markup, body: Markup) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content=(shell.generator);
                title { (shell.title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    header.top {
                        h1 { (shell.heading) }
                        (meta)
                    }
                    (body)
                    footer { "Written by " (shell.generator) ", report schema " (shell.report_version) ". The figures come from the " (shell.inputs) " alone; see the appendix." }
                }
            }
        }
    };
    page.into_string()
}

/// How a headline figure shows its value.
pub(crate) enum Shown {
    /// A number: `text` for people, `value` exact in `data-value`, under the name `key`.
    Number {
        key: &'static str,
        value: f64,
        text: String,
    },
    /// A name (a target, a network), under the name `key`.
    Name { key: &'static str, text: String },
    /// Nothing to show (no attack): a dash.
    Missing,
    /// Nothing can be shown (no database given): a muted dash.
    Unavailable,
}

/// One headline figure of the executive summary.
pub(crate) struct Figure {
    /// `alert` (the bad news), `good` (what the rules achieve), or none.
    pub tone: Option<&'static str>,
    /// What the figure is.
    pub label: &'static str,
    /// Its value.
    pub shown: Shown,
    /// The line under the value, if any.
    pub sub: Option<String>,
}

impl Figure {
    /// The first figure of both reports: how many attacks, and their vectors.
    pub fn attacks(count: usize, vectors: &[String]) -> Figure {
        Figure {
            tone: Some("alert"),
            label: "Attacks",
            shown: Shown::Number {
                key: "attacks",
                value: count as f64,
                text: count.to_string(),
            },
            sub: Some(if vectors.is_empty() {
                "none found".to_string()
            } else {
                vectors.join(", ")
            }),
        }
    }

    /// The largest attack by `peak`, its rate written by `show`; a dash without attacks.
    pub fn peak(
        label: &'static str,
        key: &'static str,
        peak: &Option<Peak>,
        show: fn(f64) -> String,
    ) -> Figure {
        match peak {
            Some(p) => Figure {
                tone: None,
                label,
                shown: Shown::Number {
                    key,
                    value: p.value,
                    text: show(p.value),
                },
                sub: Some(format!("#{} {}", p.attack, p.vector)),
            },
            None => Figure::missing(label),
        }
    }

    /// A name (a target, a network) with the line under it; a dash when there is none.
    pub fn named<T>(
        label: &'static str,
        key: &'static str,
        item: Option<&T>,
        name: impl Fn(&T) -> String,
        sub: impl Fn(&T) -> String,
    ) -> Figure {
        match item {
            Some(t) => Figure {
                tone: None,
                label,
                shown: Shown::Name { key, text: name(t) },
                sub: Some(sub(t)),
            },
            None => Figure::missing(label),
        }
    }

    /// A number: `text` for people, `value` exact for machines, under the name `key`.
    pub fn number(
        tone: Option<&'static str>,
        label: &'static str,
        key: &'static str,
        (value, text): (f64, String),
        sub: Option<String>,
    ) -> Figure {
        Figure {
            tone,
            label,
            shown: Shown::Number { key, value, text },
            sub,
        }
    }

    /// A figure with nothing to show.
    pub fn missing(label: &'static str) -> Figure {
        Figure {
            tone: None,
            label,
            shown: Shown::Missing,
            sub: None,
        }
    }
}

/// The grid of headline figures.
pub(crate) fn figures(list: &[Figure]) -> Markup {
    html! {
        div.figures {
            @for f in list {
                div class=(match f.tone { Some(t) => format!("figure {t}"), None => "figure".into() }) {
                    span.label { (f.label) }
                    @match &f.shown {
                        Shown::Number { key, value, text } => (figure(key, *value, text.clone())),
                        Shown::Name { key, text } => span.value data-figure=(key) data-value=(text) { (text) },
                        Shown::Missing => span.value { "–" },
                        Shown::Unavailable => span.value.muted { "–" },
                    }
                    @if let Some(sub) = &f.sub { span.sub { (sub) } }
                }
            }
        }
    }
}

/// The headline figures as a Markdown table of (figure, value) rows.
pub(crate) fn figures_md(o: &mut String, rows: &[(&str, String)]) {
    let _ = writeln!(o, "| figure | value |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {} |", cell(v));
    }
    o.push('\n');
}

/// The colour key of a stacked timeline.
pub(crate) fn legend(t: &TimelineView) -> Markup {
    html! {
        div.legend {
            @for (i, s) in t.series.iter().enumerate() {
                span { span.swatch style=(format!("background:{}", svg::color(i, &s.name))) {} (s.name) }
            }
        }
    }
}

/// The rules file the report measured, then every rule of it compiled for each engine (or why
/// an engine cannot take it).
pub(crate) fn rules_files(rules_toml: &str, compiled: &[EngineRule]) -> Markup {
    html! {
        h3 { "Rules file" }
        pre { (rules_toml) }
        @for e in compiled {
            h3 { "All rules: " (e.target) }
            @if let Some(t) = &e.text { pre { (t) } }
            @if let Some(why) = &e.refused { p.note { (why) } }
        }
    }
}

/// [`rules_files`] in Markdown.
pub(crate) fn rules_files_md(o: &mut String, rules_toml: &str, compiled: &[EngineRule]) {
    let _ = writeln!(o, "### Rules file\n");
    block(o, "toml", rules_toml);
    for e in compiled {
        let _ = writeln!(o, "### All rules: {}\n", e.target);
        if let Some(t) = &e.text {
            block(o, "", t);
        }
        if let Some(why) = &e.refused {
            let _ = writeln!(o, "> {}\n", cell(why));
        }
    }
}

/// How each figure of the report was computed.
pub(crate) fn methods(notes: &[MethodNote]) -> Markup {
    html! {
        h2 { "Appendix: how each figure was computed" }
        dl.method { @for n in notes { dt { (n.figure) } dd { (n.method) } } }
    }
}

/// [`methods`] in Markdown.
pub(crate) fn methods_md(o: &mut String, notes: &[MethodNote]) {
    let _ = writeln!(o, "## Appendix: how each figure was computed\n");
    for n in notes {
        let _ = writeln!(o, "- **{}**: {}", n.figure, n.method);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_code_survive_markdown_syntax() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
        assert_eq!(code("x == 1"), "`x == 1`");
        assert_eq!(code("a`b"), "`` a`b ``");
        let mut o = String::new();
        block(&mut o, "", "```\nx");
        assert!(o.starts_with("~~~~\n```\nx\n~~~~"));
    }

    #[test]
    fn a_figure_carries_its_exact_value_and_a_missing_one_a_dash() {
        let page = figures(&[
            Figure {
                tone: Some("alert"),
                label: "Attacks",
                shown: Shown::Number {
                    key: "attacks",
                    value: 3.0,
                    text: "3".into(),
                },
                sub: Some("syn-flood".into()),
            },
            Figure {
                tone: None,
                label: "Main target",
                shown: Shown::Missing,
                sub: None,
            },
        ])
        .into_string();
        assert!(page.contains(r#"<div class="figure alert"><span class="label">Attacks</span><span class="value" data-figure="attacks" data-value="3">3</span><span class="sub">syn-flood</span></div>"#), "{page}");
        assert!(page.contains(r#"<div class="figure"><span class="label">Main target</span><span class="value">–</span></div>"#), "{page}");
    }
}
