//! `report.html` and `report.md` for access logs: the same page style as the capture report,
//! with requests where that one has packets, and clients with their reasons where that one has
//! sources and signatures.

use std::fmt::Write as _;

use maud::{html, Markup};

use levee_analyze::units::thousands;
use levee_l7::groups::Group;
use levee_l7::ClientReport;

use crate::logs::{level_name, LogAttackSection, LogReport};
use crate::page::{self, cell, code, duration, figure, pct, Figure};
use crate::svg;

/// A request rate in words.
fn rps(x: f64) -> String {
    if x >= 1e3 {
        format!("{:.1} k requests/s", x / 1e3)
    } else if x >= 10.0 || x == 0.0 {
        format!("{x:.0} requests/s")
    } else {
        format!("{x:.1} requests/s")
    }
}

fn period(r: &LogReport) -> String {
    match (&r.analysis.start, &r.analysis.end) {
        (Some(s), Some(e)) => format!("from {s} to {e}"),
        _ => "(no request times)".into(),
    }
}

/// The summary in one or two sentences.
fn narrative(r: &LogReport) -> String {
    let a = &r.analysis;
    let s = &r.summary;
    let mut out = format!(
        "The logs hold {} requests {} from about {} clients.",
        thousands(a.requests),
        period(r),
        thousands(a.clients_distinct_estimate)
    );
    if a.attacks.is_empty() {
        out.push_str(" levee found no attack in them.");
        return out;
    }
    let _ = write!(
        out,
        " levee found {} attack{} ({}) by {} malicious client{}, under way for {} in all.",
        a.attacks.len(),
        if a.attacks.len() == 1 { "" } else { "s" },
        s.vectors.join(", "),
        thousands(s.clients_malicious),
        if s.clients_malicious == 1 { "" } else { "s" },
        duration(s.attack_duration_s)
    );
    if let Some(p) = &s.largest_rps {
        let _ = write!(
            out,
            " The fastest peaked at {} (#{} {}).",
            rps(p.value),
            p.attack,
            p.vector
        );
    }
    let _ = write!(
        out,
        " The {} rules stop {} of the attack requests and limit or block {} of {} good clients.",
        r.mitigation.source,
        pct(s.rules_stop_attack_share),
        thousands(s.good_clients_limited_or_blocked),
        thousands(s.clients_good)
    );
    out
}

fn clients_table(rows: &[ClientReport]) -> Markup {
    html! {
        table {
            tr { th { "client" } th { "verdict" } th.num { "requests" } th.num { "peak/min" } th { "why" } }
            @for c in rows {
                tr {
                    td { code { (c.ip) } @if let Some(ua) = &c.user_agent { br; span.muted { (ua) } } }
                    td { span class=(if c.verdict == levee_l7::Level::Good { "badge fine" } else { "badge bad" }) { (level_name(c.verdict)) } }
                    td.num { (thousands(u64::from(c.requests))) }
                    td.num { (c.peak_per_minute) }
                    td { @for reason in &c.reasons { (reason) br; } @if let Some(e) = &c.example { span.muted { "e.g. " code { (e) } } } }
                }
            }
        }
    }
}

/// The dimensions clients are grouped by, with their titles.
fn group_dimensions(r: &LogReport) -> [(&'static str, &[Group]); 3] {
    let g = &r.analysis.groups;
    [
        ("Networks (/24, /64)", &g.networks),
        ("User agents", &g.user_agents),
        ("TLS fingerprints (JA4)", &g.ja4),
    ]
}

fn groups_tables(r: &LogReport) -> Markup {
    html! {
        @for (title, groups) in group_dimensions(r) {
            @if !groups.is_empty() {
                h3 { (title) }
                table {
                    tr { th { "group" } th.num { "requests" } th.num { "clients" } th.num { "malicious clients" } th.num { "from malicious clients" } th.num { "from suspicious clients" } }
                    @for g in groups {
                        tr {
                            td { code { (g.key) } }
                            td.num { (thousands(g.requests)) }
                            td.num { (thousands(g.clients)) }
                            td.num { (thousands(g.malicious_clients)) }
                            td.num { span class=(if g.malicious_share >= 0.5 { "badge bad" } else { "" }) { (pct(g.malicious_share)) } }
                            td.num { (pct(g.suspicious_share)) }
                        }
                    }
                }
            }
        }
    }
}

fn md_groups(o: &mut String, r: &LogReport) {
    for (title, groups) in group_dimensions(r) {
        if groups.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "### {title}

| group | requests | clients | malicious clients | from malicious clients | from suspicious clients |\n|---|---:|---:|---:|---:|---:|"
        );
        for g in groups {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} |",
                code(&g.key),
                thousands(g.requests),
                thousands(g.clients),
                thousands(g.malicious_clients),
                pct(g.malicious_share),
                pct(g.suspicious_share)
            );
        }
        o.push('\n');
    }
}

fn attack(r: &LogReport, s: &LogAttackSection) -> Markup {
    let Some(a) = r.analysis.attacks.iter().find(|a| a.id == s.id) else {
        return html! {};
    };
    html! {
        section.attack id=(format!("attack-{}", a.id)) {
            h2 { "Attack #" (a.id) ": " (a.vector) }
            p { (s.explanation) }
            table {
                tr { th { "from" } td { (a.start) } th { "to" } td { (a.end) } }
                tr { th { "requests" } td data-figure=(format!("attack_{}_requests", a.id)) data-value=(a.requests) { (thousands(a.requests)) }
                     th { "peak" } td { (rps(a.peak_rps as f64)) } }
                tr { th { "clients" } td { (thousands(a.clients)) } th { "answered 4xx" } td { (pct(a.client_error_share)) } }
                tr { th { "stopped by the rules" } td colspan="3" { (pct(s.stopped_share)) " (" (thousands(s.stopped_requests)) " requests of " (a.vector) ")" } }
            }
            h3 { "Evidence" }
            ul { @for e in &a.evidence { li { (e) } } }
            h3 { "What it requested" }
            table {
                tr { th { "path" } th.num { "requests" } }
                @for t in &a.targets { tr { td { code { (t.name) } } td.num { (thousands(t.requests)) } } }
            }
            h3 { "Its busiest clients" }
            (clients_table(&s.clients))
        }
    }
}

/// The executive summary's headline figures.
fn summary_figures(r: &LogReport) -> Vec<Figure> {
    let s = &r.summary;
    vec![
        Figure::attacks(s.attacks, &s.vectors),
        Figure::peak("Fastest attack", "largest_rps", &s.largest_rps, rps),
        Figure::number(
            None,
            "Time under attack",
            "attack_duration_s",
            (s.attack_duration_s, duration(s.attack_duration_s)),
            None,
        ),
        Figure::named(
            "Most attacked path",
            "main_target",
            s.main_target.as_ref(),
            |p| p.name.clone(),
            |p| format!("{} attack requests", thousands(p.requests)),
        ),
        Figure::number(
            None,
            "Clients",
            "clients_malicious",
            (
                s.clients_malicious as f64,
                format!("{} malicious", thousands(s.clients_malicious)),
            ),
            Some(format!(
                "{} suspicious, {} good",
                thousands(s.clients_suspicious),
                thousands(s.clients_good)
            )),
        ),
        Figure::number(
            Some("good"),
            "Attack the rules stop",
            "rules_stop_attack_share",
            (s.rules_stop_attack_share, pct(s.rules_stop_attack_share)),
            Some(format!(
                "{} of {} requests",
                thousands(s.attack_requests_stopped),
                thousands(s.attack_requests)
            )),
        ),
        Figure::number(
            None,
            "Good clients they touch",
            "good_clients_limited_share",
            (
                s.good_clients_limited_share,
                pct(s.good_clients_limited_share),
            ),
            Some(format!(
                "{} of {} limited or blocked",
                thousands(s.good_clients_limited_or_blocked),
                thousands(s.clients_good)
            )),
        ),
    ]
}

/// `report.html`.
pub fn html(r: &LogReport) -> String {
    let t = &r.timeline;
    let m = &r.mitigation;
    let sim = &m.simulation;
    let shell = page::Shell {
        title: &r.title,
        heading: "Attack report (access logs)",
        generator: &r.generator,
        report_version: r.report_version,
        inputs: "logs",
    };
    let meta = html! {
        p.meta { (r.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")) }
        p.meta {
            (period(r)) " (UTC) · "
            (figure("requests", r.analysis.requests as f64, thousands(r.analysis.requests))) " requests"
        }
    };
    let body = html! {
        section #summary {
            h2 { "Executive summary" }
            p.lead { (narrative(r)) }
            (page::figures(&summary_figures(r)))
        }
        section #timeline {
            h2 { "Timeline" }
            p.muted { "Requests per " (duration(t.bucket_s)) ", stacked by attack; dashed boxes mark the attacks. Peak of all requests: " (rps(t.peak_pps)) "." }
            (page::legend(t))
            (svg::timeline_of(t, false, "requests", "timeline-rps"))
        }
        section #attacks {
            h2 { "Attacks" }
            @if r.attacks.is_empty() { p { "No attack found." } }
            @else {
                table {
                    tr { th { "#" } th { "vector" } th { "from" } th { "to" } th.num { "requests" } th.num { "clients" } th.num { "peak" } th.num { "stopped" } }
                    @for (a, x) in r.analysis.attacks.iter().zip(&r.attacks) {
                        tr { td { (a.id) } td { a href=(format!("#attack-{}", a.id)) { (a.vector) } } td { (a.start) } td { (a.end) }
                             td.num { (thousands(a.requests)) } td.num { (thousands(a.clients)) } td.num { (rps(a.peak_rps as f64)) } td.num { (pct(x.stopped_share)) } }
                    }
                }
            }
        }
        @for x in &r.attacks { (attack(r, x)) }
        section #groups {
            h2 { "Who sends the traffic" }
            p { "The busiest networks, user agents and TLS fingerprints, and how much of each came from clients judged malicious: a group all malicious can be blocked whole; one all good is what a rule must spare." }
            (groups_tables(r))
        }
        section #clients {
            h2 { "Clients judged suspicious" }
            @let suspicious: Vec<ClientReport> = r.analysis.clients.iter().filter(|c| c.verdict == levee_l7::Level::Suspicious).take(25).cloned().collect();
            @if suspicious.is_empty() { p { "None." } } @else { (clients_table(&suspicious)) }
            h2 { "A sample of the good clients" }
            @let good: Vec<ClientReport> = r.analysis.clients.iter().filter(|c| c.verdict == levee_l7::Level::Good).take(10).cloned().collect();
            @if good.is_empty() { p { "None." } } @else { (clients_table(&good)) }
        }
        section #mitigation {
            h2 { "Mitigation" }
            p {
                @if m.source == "given" { "The rules of " code { (sim.rules_file) } } @else { "The recommended rules" }
                ", applied in order, first match wins, to every request of the logs: they drop "
                (thousands(sim.blocked)) " of " (thousands(sim.requests)) " requests and limit or block "
                (thousands(sim.good_clients.limited_or_blocked)) " of " (thousands(sim.good_clients.total)) " good clients."
            }
            table {
                tr { th { "rule" } th { "action" } th.num { "matched" } th.num { "decided" } th.num { "dropped" } th.num { "good clients hit" } }
                @for x in &sim.rules {
                    tr { td { (x.id) br; code { (x.expression) } } td { (x.action) } td.num { (thousands(x.matched)) }
                         td.num { (thousands(x.decided)) } td.num { (thousands(x.dropped)) } td.num { (thousands(x.good_clients_hit)) } }
                }
            }
            (page::rules_files(&m.rules_toml, &m.compiled))
        }
        section #appendix {
            (page::methods(&r.method))
            h3 { "Logs" }
            table {
                tr { th { "file" } th { "format" } th.num { "requests" } th.num { "malformed lines" } }
                @for f in &r.files { tr { td { (f.name) } td { (f.format) } td.num { (thousands(f.requests)) } td.num { (thousands(f.malformed)) } } }
            }
        }
    };
    page::document(&shell, meta, body)
}

fn md_clients(o: &mut String, rows: &[ClientReport]) {
    let _ = writeln!(
        o,
        "| client | verdict | requests | peak/min | why |\n|---|---|---:|---:|---|"
    );
    for c in rows {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            code(&c.ip),
            level_name(c.verdict),
            thousands(u64::from(c.requests)),
            c.peak_per_minute,
            cell(
                &c.reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        );
    }
    o.push('\n');
}

/// `report.md`.
pub fn markdown(r: &LogReport) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let m = &r.mitigation;
    let sim = &m.simulation;
    let _ = writeln!(o, "# Attack report (access logs)\n");
    let _ = writeln!(
        o,
        "Logs: {}  \nPeriod: {} (UTC)  \nRequests: {}\n",
        r.files
            .iter()
            .map(|f| code(&f.name))
            .collect::<Vec<_>>()
            .join(", "),
        period(r),
        thousands(r.analysis.requests)
    );
    let _ = writeln!(o, "## Executive summary\n\n{}\n", narrative(r));
    page::figures_md(
        &mut o,
        &[
            (
                "attacks",
                format!(
                    "{} ({})",
                    s.attacks,
                    if s.vectors.is_empty() {
                        "none".to_string()
                    } else {
                        s.vectors.join(", ")
                    }
                ),
            ),
            (
                "clients",
                format!(
                    "{} malicious, {} suspicious, {} good",
                    thousands(s.clients_malicious),
                    thousands(s.clients_suspicious),
                    thousands(s.clients_good)
                ),
            ),
            (
                "attack the rules stop",
                format!(
                    "{} ({} of {} requests)",
                    pct(s.rules_stop_attack_share),
                    thousands(s.attack_requests_stopped),
                    thousands(s.attack_requests)
                ),
            ),
            (
                "good clients they touch",
                format!(
                    "{} ({} of {})",
                    pct(s.good_clients_limited_share),
                    thousands(s.good_clients_limited_or_blocked),
                    thousands(s.clients_good)
                ),
            ),
        ],
    );
    let _ = writeln!(o, "## Attacks\n");
    if r.attacks.is_empty() {
        let _ = writeln!(o, "No attack found.\n");
    }
    for (a, x) in r.analysis.attacks.iter().zip(&r.attacks) {
        let _ = writeln!(
            o,
            "### Attack #{}: {}\n\n{}\n\n{} to {}: {} requests from {} clients, peak {}, {} answered 4xx; the rules stop {}.\n",
            a.id,
            a.vector,
            x.explanation,
            a.start,
            a.end,
            thousands(a.requests),
            thousands(a.clients),
            rps(a.peak_rps as f64),
            pct(a.client_error_share),
            pct(x.stopped_share)
        );
        for e in &a.evidence {
            let _ = writeln!(o, "- {}", cell(&e.to_string()));
        }
        let _ = writeln!(o, "\n| path | requests |\n|---|---:|");
        for t in &a.targets {
            let _ = writeln!(o, "| {} | {} |", code(&t.name), thousands(t.requests));
        }
        o.push('\n');
        md_clients(&mut o, &x.clients);
    }
    let _ = writeln!(o, "## Who sends the traffic\n");
    md_groups(&mut o, r);
    let _ = writeln!(
        o,
        "## Mitigation\n\nThe {} rules, applied in order (first match wins) to every request, drop {} of {} requests and limit or block {} of {} good clients.\n",
        m.source,
        thousands(sim.blocked),
        thousands(sim.requests),
        thousands(sim.good_clients.limited_or_blocked),
        thousands(sim.good_clients.total)
    );
    let _ = writeln!(
        o,
        "| rule | action | matched | decided | dropped | good clients hit |\n|---|---|---:|---:|---:|---:|"
    );
    for x in &sim.rules {
        let _ = writeln!(
            o,
            "| {} {} | {} | {} | {} | {} | {} |",
            cell(&x.id),
            code(&x.expression),
            x.action,
            thousands(x.matched),
            thousands(x.decided),
            thousands(x.dropped),
            thousands(x.good_clients_hit)
        );
    }
    o.push('\n');
    page::rules_files_md(&mut o, &m.rules_toml, &m.compiled);
    page::methods_md(&mut o, &r.method);
    o
}
