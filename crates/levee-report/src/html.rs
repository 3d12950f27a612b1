//! `report.html`: one self-contained page. Inline CSS and SVG only; a Content-Security-Policy
//! forbids the page to load anything, so it reads the same offline, in a ticket attachment
//! and printed to PDF.
//!
//! Key figures carry `data-figure` (a name) and `data-value` (the exact number of
//! `report.json`) beside the rounded text a person reads, so tests can check that the page
//! and the JSON agree.

use maud::{html, Markup};

use levee_analyze::report::Attack;
use levee_analyze::summary::FlowExports;
use levee_analyze::units::{bits_rate, rate, thousands};

use crate::model::*;
use crate::page::{self, duration, figure, pct, Figure, Shown};
use crate::svg;

fn tally_table(rows: &[Tally], what: &str) -> Markup {
    html! {
        table {
            tr { th { (what) } th.num { "packets" } th.num { "share of attack" } }
            @for t in rows {
                tr {
                    td { (t.name) @if let Some(l) = &t.label { " " span.muted { (l) } } }
                    td.num { (thousands(t.packets)) }
                    td.num { (pct(t.share)) }
                }
            }
        }
    }
}

fn summary(r: &Report) -> Markup {
    html! {
        section #summary {
            h2 { "Executive summary" }
            p.lead { (narrative(r)) }
            (page::figures(&summary_figures(r)))
            @if let Some(n) = &r.enrichment.note { p.note { (n) } }
        }
    }
}

/// A figure naming the top source AS or country: from its database, or unavailable without one.
fn source_figure(
    label: &'static str,
    key: &'static str,
    top: &Option<Tally>,
    database: bool,
) -> Figure {
    let (shown, sub) = match top {
        Some(t) => (
            Shown::Name {
                key,
                text: t.name.clone(),
            },
            format!("{} · {}", t.label.as_deref().unwrap_or(""), pct(t.share)),
        ),
        None if database => (Shown::Missing, "no source in the database".to_string()),
        None => (Shown::Unavailable, "unavailable (no database)".to_string()),
    };
    Figure {
        tone: None,
        label,
        shown,
        sub: Some(sub),
    }
}

/// The executive summary's headline figures.
fn summary_figures(r: &Report) -> Vec<Figure> {
    let s = &r.summary;
    let c = &r.analysis.capture;
    let name = |t: &Tally| t.name.clone();
    vec![
        Figure::attacks(s.attacks, &s.vectors),
        Figure::peak(
            "Largest attack, packets",
            "largest_pps",
            &s.largest_pps,
            rate,
        ),
        Figure::peak(
            "Largest attack, bits",
            "largest_bps",
            &s.largest_bps,
            bits_rate,
        ),
        Figure::number(
            None,
            "Time under attack",
            "attack_duration_s",
            (s.attack_duration_s, duration(s.attack_duration_s)),
            Some(format!("of {} captured", duration(c.duration_s))),
        ),
        Figure::named(
            "Main target",
            "main_target",
            s.main_target.as_ref(),
            name,
            |t| format!("{} attack packets", thousands(t.packets)),
        ),
        Figure::named(
            "Top source network",
            "top_source_network",
            s.top_source_network.as_ref(),
            name,
            |t| format!("{} of attack packets", pct(t.share)),
        ),
        source_figure(
            "Top source AS",
            "top_source_asn",
            &s.top_source_asn,
            r.enrichment.asn.is_some(),
        ),
        source_figure(
            "Top source country",
            "top_source_country",
            &s.top_source_country,
            r.enrichment.geoip.is_some(),
        ),
        Figure::number(
            Some("good"),
            "Attack the rules stop",
            "rules_stop_attack_share",
            (s.rules_stop_attack_share, pct(s.rules_stop_attack_share)),
            Some(format!(
                "{} of {} packets",
                thousands(s.attack_packets_stopped),
                thousands(s.attack_packets)
            )),
        ),
        Figure::number(
            None,
            "Good traffic they also stop",
            "rules_stop_good_share",
            (s.rules_stop_good_share, pct(s.rules_stop_good_share)),
            Some(format!(
                "{} of {} packets",
                thousands(s.good_packets_stopped),
                thousands(s.good_packets)
            )),
        ),
    ]
}

/// The summary in one or two sentences.
fn narrative(r: &Report) -> String {
    let a = &r.analysis;
    let c = &a.capture;
    let period = match (&c.start, &c.end) {
        (Some(s), Some(e)) => format!("from {s} to {e}"),
        _ => "(empty)".into(),
    };
    if a.attacks.is_empty() {
        return format!(
            "The captures hold {} packets {period}. levee found no attack in them.",
            thousands(c.packets)
        );
    }
    let s = &r.summary;
    let target = s
        .main_target
        .as_ref()
        .map_or(String::new(), |t| format!(" on {}", t.name));
    let mut out = format!(
        "The captures hold {} packets {period}. levee found {} attack{}{target} ({}), under way for {} in all.",
        thousands(c.packets),
        a.attacks.len(),
        if a.attacks.len() == 1 { "" } else { "s" },
        s.vectors.join(", "),
        duration(s.attack_duration_s)
    );
    if let Some(p) = &s.largest_pps {
        out.push_str(&format!(
            " The largest peaked at {} (#{} {}).",
            rate(p.value),
            p.attack,
            p.vector
        ));
    }
    out.push_str(&format!(
        " The {} rules stop {} of the attack packets and {} of the other traffic.",
        r.mitigation.source,
        pct(s.rules_stop_attack_share),
        pct(s.rules_stop_good_share)
    ));
    out
}

fn timeline(r: &Report) -> Markup {
    let t = &r.timeline;
    html! {
        section #timeline {
            h2 { "Timeline" }
            p.muted { "Traffic per " (t.bucket_s) " s, stacked by vector; dashed boxes mark the attacks. Peak of all traffic: "
                (rate(t.peak_pps)) ", " (bits_rate(t.peak_bps)) "." }
            (page::legend(t))
            h3 { "Packets per second" }
            (svg::timeline(t, false, "timeline-pps"))
            h3 { "Bits per second" }
            (svg::timeline(t, true, "timeline-bps"))
        }
    }
}

fn overview(r: &Report) -> Markup {
    html! {
        section #attacks {
            h2 { "Attacks" }
            @if r.analysis.attacks.is_empty() {
                p { "No attack was found." }
            } @else {
                table {
                    tr {
                        th { "#" } th { "vector" } th { "start (UTC)" } th.num { "duration" } th.num { "packets" }
                        th.num { "peak" } th.num { "peak bits" } th { "target" } th { "spoofed" } th.num { "stopped" }
                    }
                    @for (a, s) in r.analysis.attacks.iter().zip(&r.attacks) {
                        tr {
                            td { a href=(format!("#attack-{}", a.id)) { (a.id) } }
                            td { (a.vector) }
                            td { (a.start) }
                            td.num { (duration(a.duration_s)) }
                            td.num { (thousands(a.packets)) }
                            td.num { (rate(a.peak_pps)) }
                            td.num { (bits_rate(a.peak_bps)) }
                            td { (targets_text(a)) }
                            td { (spoof_badge(a)) }
                            td.num { (pct(s.stopped_share)) }
                        }
                    }
                }
            }
        }
    }
}

fn targets_text(a: &Attack) -> String {
    let mut v: Vec<&str> = a
        .targets
        .iter()
        .filter_map(|t| t.ip.as_deref().or(t.prefix.as_deref()))
        .take(3)
        .collect();
    if a.targets.len() > 3 {
        v.push("…");
    }
    v.join(" ")
}

fn spoof_badge(a: &Attack) -> Markup {
    html! {
        @if a.sources.spoofed_likely { span.badge.bad { "likely" } }
        @else { span.badge.fine { "unlikely" } }
    }
}

fn ports_table(h: &levee_analyze::detail::PortHistogram, what: &str) -> Markup {
    html! {
        @if h.packets == 0 {
            p.muted { "No " (what) " (no TCP or UDP)." }
        } @else {
            table {
                tr { th { (what) } th.num { "packets" } th.num { "share" } }
                @for (p, n) in &h.top {
                    tr { td { (p) } td.num { (thousands(*n)) } td.num { (pct(*n as f64 / h.packets as f64)) } }
                }
            }
            p.muted { (thousands(h.distinct)) " distinct " (what) "s." }
        }
    }
}

/// TTL bars over the range seen (grouped by 4 when the range is wide).
fn ttl_bars(hist: &[(u8, u64)]) -> Vec<(String, u64)> {
    let (Some(lo), Some(hi)) = (hist.first().map(|x| x.0), hist.last().map(|x| x.0)) else {
        return Vec::new();
    };
    let group = if u32::from(hi - lo) < 64 { 1u32 } else { 4 };
    let lo = u32::from(lo) / group * group;
    let n = (u32::from(hi) - lo) / group + 1;
    let mut bars: Vec<(String, u64)> = (0..n)
        .map(|i| {
            let a = lo + i * group;
            let label = if group == 1 {
                a.to_string()
            } else {
                format!("{a}-{}", a + group - 1)
            };
            (label, 0)
        })
        .collect();
    for &(t, c) in hist {
        bars[((u32::from(t) - lo) / group) as usize].1 += c;
    }
    bars
}

fn attack(a: &Attack, s: &AttackSection, r: &Report) -> Markup {
    let src = &a.sources;
    html! {
        section.attack id=(format!("attack-{}", a.id)) {
            h2 { "#" (a.id) " " (a.vector) }
            p { (s.explanation) }
            table {
                tr { th { "start (UTC)" } td { (a.start) } th { "end (UTC)" } td { (a.end) } }
                tr { th { "duration" } td { (duration(a.duration_s)) } th { "share of capture" } td { (pct(a.share_of_capture)) } }
                tr {
                    th { "packets" } td { (figure(&format!("attack-{}-packets", a.id), a.packets as f64, thousands(a.packets))) }
                    th { "bytes" } td { (thousands(a.bytes)) }
                }
                tr {
                    th { "peak" } td { (figure(&format!("attack-{}-peak_pps", a.id), a.peak_pps, rate(a.peak_pps))) " · " (bits_rate(a.peak_bps)) }
                    th { "mean" } td { (rate(a.mean_pps)) " · " (bits_rate(a.mean_bps)) }
                }
            }
            h3 { "Why levee calls it an attack" }
            ul { @for e in &a.evidence { li { (e) } } }
            h3 { "Targets" }
            table {
                tr { th { "target" } th.num { "packets (estimate)" } th { "destination ports" } }
                @for t in &a.targets {
                    tr {
                        td { (t.ip.as_deref().or(t.prefix.as_deref()).unwrap_or("?")) }
                        td.num { (thousands(t.packets)) }
                        td { (t.ports.iter().map(|p| p.port.to_string()).collect::<Vec<_>>().join(", "))
                            @if t.distinct_ports > t.ports.len() as u64 { " … (" (t.distinct_ports) " distinct)" } }
                    }
                }
            }
            h3 { "Sources" }
            p {
                "About " strong { (thousands(src.distinct_estimate)) } " distinct sources. Spoofed: " (spoof_badge(a))
                @if let Some(st) = src.ttl_steady_share { " · " (pct(st)) " of the busiest sources kept one TTL" }
                " · bogon sources " (pct(src.bogon_share)) "."
            }
            @if !src.evidence.is_empty() { ul { @for e in &src.evidence { li { (e) } } } }
            @if src.spoofed_likely {
                p.note { "The sources are probably forged: their networks, countries and ASes below say where the forged addresses point, not where the traffic came from." }
            }
            div.charts2 {
                div {
                    h3 { "Top sources" }
                    table {
                        tr {
                            th { "source" } th.num { "packets" }
                            @if r.enrichment.geoip.is_some() { th { "country" } }
                            @if r.enrichment.asn.is_some() { th { "AS" } }
                        }
                        @for t in &s.top_sources {
                            tr {
                                td { (t.ip) } td.num { (thousands(t.packets)) }
                                @if r.enrichment.geoip.is_some() { td { (t.country.as_deref().unwrap_or("–")) } }
                                @if r.enrichment.asn.is_some() {
                                    td { (t.asn.as_deref().unwrap_or("–")) @if let Some(o) = &t.as_org { " " span.muted { (o) } } }
                                }
                            }
                        }
                    }
                }
                div {
                    h3 { "Source networks" }
                    (tally_table(&s.source_networks, "network"))
                }
            }
            div.charts2 {
                div {
                    h3 { "Source countries" }
                    @match &s.countries {
                        Some(v) => (tally_table(v, "country")),
                        None => p.muted { "Unavailable: no country database was given (--geoip)." },
                    }
                }
                div {
                    h3 { "Source ASes" }
                    @match &s.asns {
                        Some(v) => (tally_table(v, "AS")),
                        None => p.muted { "Unavailable: no AS database was given (--asn)." },
                    }
                }
            }
            div.charts2 {
                div {
                    h3 { "TTL" }
                    (svg::bars(&ttl_bars(&s.ttl_histogram), &format!("ttl-{}", a.id), "packets per IP TTL", svg::PALETTE[2]))
                }
                div {
                    h3 { "Packet size" }
                    (svg::bars(
                        &s.length_histogram.iter().map(|b| (if b.low == b.high { b.low.to_string() } else { format!("{}-{}", b.low, b.high) }, b.packets)).collect::<Vec<_>>(),
                        &format!("length-{}", a.id), "packets per IP length (bytes)", svg::PALETTE[3]))
                }
            }
            div.charts2 {
                div { h3 { "Source ports" } (ports_table(&s.source_ports, "source port")) }
                div { h3 { "Destination ports" } (ports_table(&s.destination_ports, "destination port")) }
            }
            (attack_signature(a, s, r))
            (attack_samples(s))
        }
    }
}

/// An attack's signature, what it matches, and the rule for each engine.
fn attack_signature(a: &Attack, s: &AttackSection, r: &Report) -> Markup {
    let sig = &a.signature;
    html! {
    h3 { "Signature" }
    pre { (sig.expression) }
    p {
        "Matches " (figure(&format!("attack-{}-coverage", a.id), sig.coverage, pct(sig.coverage)))
        " of the attack (" (thousands(sig.matched_attack_packets)) " of " (thousands(sig.attack_packets)) " packets) and "
        (figure(&format!("attack-{}-collateral", a.id), sig.collateral, pct(sig.collateral)))
        " of the other traffic (" (thousands(sig.matched_other_packets)) " of " (thousands(sig.other_packets)) " packets)."
    }
    p {
        "On levee's benign reference (traffic every network needs, sent to the same target) it matches "
        (thousands(sig.matched_reference_packets)) " of " (thousands(sig.reference_packets)) " packets"
        @for (i, c) in sig.reference_classes.iter().enumerate() {
            (if i == 0 { ": " } else { ", " }) (c.class) " " (c.packets)
        }
        "."
    }
    @if let Some(v) = &sig.volatile {
        p {
            "Fields an attacker varies for free: " (v.fields.join(", ")) ". Pinned: " code { (v.pinned.expression) }
            " matches " (pct(v.pinned.coverage)) " of the attack; without them: " code { (v.robust.expression) }
            " matches " (pct(v.robust.coverage)) " of the attack and " (pct(v.robust.collateral)) " of the other traffic. Recommended: the "
            (v.recommended) " one, because " (v.why) "."
        }
    }
    @if let Some(why) = levee_analyze::simulate::block_refusal(sig, r.analysis.settings.block_collateral) {
        p { strong { "The rules file logs this signature, it does not block it: " } (why) "." }
    }
    @if !sig.alternatives.is_empty() {
        table {
            tr { th { "other candidates measured" } th.num { "coverage" } th.num { "collateral" } }
            @for m in &sig.alternatives { tr { td { code { (m.expression) } } td.num { (pct(m.coverage)) } td.num { (pct(m.collateral)) } } }
        }
    }
    h3 { "The rule for each engine" }
    p.muted { "Each is the signature above compiled exactly, or, where an engine cannot express it, the most specific measured alternative it can. The "
        (r.mitigation.source) " rules together stop " (pct(s.stopped_share)) " of this attack." }
    @for e in &s.rules {
        h3 { (e.target)
            @if let (Some(c), Some(k)) = (e.coverage, e.collateral) {
                " " span.muted { "· stops " (pct(c)) " of the attack, " (pct(k)) " of other traffic" }
            }
        }
        @if let Some(n) = &e.note { p.note { (n) ": " code { (e.expression.as_deref().unwrap_or("")) } } }
        @if let Some(t) = &e.text { pre { (t) } }
        @if let Some(why) = &e.refused { p.note { "Not expressible: " (why) } }
    }
    }
}

/// Sample packets of an attack, field by field.
fn attack_samples(s: &AttackSection) -> Markup {
    html! {
    h3 { "Sample packets" }
    @for smp in &s.samples {
        p { code { (crate::sample_line(smp)) } " " span.muted { (smp.time) } }
        table {
            @for pair in smp.fields.chunks(3) {
                tr { @for (k, v) in pair { th { (k) } td { (v) } } }
            }
        }
        @if smp.payload_len > 0 {
            pre { "payload, " (smp.payload_len) " bytes: " (smp.payload_hex) @if smp.payload_len * 2 > smp.payload_hex.len() { "…" } }
        }
    }
    }
}

fn mitigation(r: &Report) -> Markup {
    let m = &r.mitigation;
    let sim = &m.simulation;
    html! {
        section #mitigation {
            h2 { "Mitigation" }
            p {
                @if m.source == "given" { "The rules of " code { (sim.rules_file) } } @else { "The recommended rules (one per attack)" }
                ", applied in order, first match wins, to every packet of the captures: they drop "
                (thousands(sim.blocked.packets)) " of " (thousands(sim.total.packets)) " packets."
            }
            table {
                tr { th { "rule" } th { "action" } th.num { "matched" } th.num { "dropped" } th.num { "of other traffic" } }
                @for x in &sim.rules {
                    tr { td { (x.id) br; code { (x.expression) } } td { (x.action) } td.num { (thousands(x.matched.packets)) }
                         td.num { (thousands(x.dropped.packets)) } td.num { (pct(x.other.share)) } }
                }
            }
            table {
                tr { th { "traffic" } th.num { "packets" } th.num { "stopped" } th.num { "share stopped" } }
                @for (a, s) in sim.attacks.iter().zip(&r.analysis.attacks) {
                    tr { td { "#" (a.attack) " " (a.vector) } td.num { (thousands(s.packets)) } td.num { (thousands(a.stopped.dropped_packets)) } td.num { (pct(a.stopped.share)) } }
                }
                tr { td { "no attack (good traffic)" } td.num { (thousands(sim.other.of_packets)) } td.num { (thousands(sim.other.dropped_packets)) } td.num { (pct(sim.other.share)) } }
            }
            @for n in &sim.notes { p.note { (n) } }
            (page::rules_files(&m.rules_toml, &m.compiled))
        }
    }
}

fn rest(r: &Report) -> Markup {
    let a = &r.analysis;
    html! {
        @if !a.not_attacks.is_empty() || !a.notes.is_empty() {
            section #not-attacks {
                h2 { "Traffic looked at and not called an attack" }
                @if !a.not_attacks.is_empty() {
                    table {
                        tr { th { "class" } th.num { "packets" } th.num { "peak" } th.num { "sources" } th { "why not" } }
                        @for d in &a.not_attacks {
                            tr { td { (d.vector) } td.num { (thousands(d.packets)) } td.num { (rate(d.peak_pps)) } td.num { (thousands(d.distinct_sources)) } td { (d.reason) } }
                        }
                    }
                }
                @for n in &a.notes { p.note { (n) } }
            }
        }
        section #appendix {
            (page::methods(&r.method))
            h3 { "Captures" }
            table {
                tr { th { "file" } th { "format" } th { "compression" } th.num { "packets" } }
                @for f in &a.capture.files { tr { td { (f.name) } td { (f.format) } td { (f.compression) } td.num { (thousands(f.packets)) } } }
            }
            p.muted { "Analysis settings: " (serde_json::to_string(&a.settings).unwrap_or_default()) }
        }
    }
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let c = &r.analysis.capture;
    let shell = page::Shell {
        title: &r.title,
        heading: "Attack report",
        generator: &r.generator,
        report_version: r.report_version,
        inputs: "captures",
    };
    let meta = html! {
        p.meta { (c.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")) }
        p.meta {
            (c.start.as_deref().unwrap_or("–")) " to " (c.end.as_deref().unwrap_or("–")) " (UTC) · "
            (figure("capture_packets", c.packets as f64, thousands(c.packets))) " packets · "
            (thousands(c.bytes)) " bytes"
        }
        @for (name, flows) in c.files.iter().filter_map(|f| Some((&f.name, f.flows.as_ref()?))) {
            p.meta.flows { "Flow exports, " (name) ": " (flows.to_string()) }
        }
        @if c.files.iter().any(|f| f.flows.is_some()) {
            p.meta.flows { "Traffic is what the flow records stand for: " (FlowExports::LIMITS) "." }
        }
    };
    let body = html! {
        (summary(r))
        (timeline(r))
        (overview(r))
        @for (a, s) in r.analysis.attacks.iter().zip(&r.attacks) { (attack(a, s, r)) }
        (mitigation(r))
        (rest(r))
    };
    page::document(&shell, meta, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_keep_small_shares_visible() {
        assert_eq!(pct(0.0), "0%");
        assert_eq!(pct(0.00005), "<0.01%");
        assert_eq!(pct(0.0012), "0.120%");
        assert_eq!(pct(0.5), "50.00%");
        assert_eq!(pct(0.99995), ">99.99%");
        assert_eq!(pct(1.0), "100.00%");
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(duration(4.25), "4.2 s");
        // A 23 ms capture is not "0.0 s"; a day and more reads in days.
        assert_eq!(duration(0.023), "23 ms");
        assert_eq!(duration(0.00042), "0.42 ms");
        assert_eq!(duration(2.0 * 86_400.0 + 3.0 * 3600.0), "2 d 03 h");
        assert_eq!(duration(192.0), "3 min 12 s");
        assert_eq!(duration(7500.0), "2 h 05 min");
    }

    #[test]
    fn ttl_bars_cover_the_range_seen() {
        let b = ttl_bars(&[(50, 1), (52, 3)]);
        assert_eq!(
            b,
            vec![("50".into(), 1), ("51".into(), 0), ("52".into(), 3)]
        );
        let wide = ttl_bars(&[(1, 1), (255, 2)]);
        assert_eq!(wide.first().unwrap().0, "0-3");
        assert_eq!(wide.last().unwrap(), &("252-255".to_string(), 2));
        assert!(ttl_bars(&[]).is_empty());
    }
}
