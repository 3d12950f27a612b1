//! `report.md`: the report as Markdown, for tickets and chat. The charts are left out (the
//! timeline is summarised in a table of the attack windows); everything else is there.

use std::fmt::Write;

use levee_analyze::units::{bits_rate, rate, thousands};

use crate::html::{duration, pct};
use crate::model::*;

/// Text for a table cell: pipes escaped, lines joined.
pub(crate) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Inline code that survives backticks in the text.
pub(crate) fn code(s: &str) -> String {
    if s.contains('`') {
        format!("`` {} ``", cell(s))
    } else {
        format!("`{}`", cell(s))
    }
}

/// A fenced block that survives fences in the text.
pub(crate) fn block(o: &mut String, lang: &str, text: &str) {
    let fence = if text.contains("```") { "~~~~" } else { "```" };
    let _ = writeln!(o, "{fence}{lang}\n{}\n{fence}\n", text.trim_end());
}

fn tally_rows(o: &mut String, rows: &[Tally], what: &str) {
    let _ = writeln!(o, "| {what} | packets | share of attack |\n|---|---:|---:|");
    for t in rows {
        let name = match &t.label {
            Some(l) => format!("{} ({})", t.name, l),
            None => t.name.clone(),
        };
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            cell(&name),
            thousands(t.packets),
            pct(t.share)
        );
    }
    o.push('\n');
}

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let a = &r.analysis;
    let c = &a.capture;
    let s = &r.summary;
    let names: Vec<&str> = c.files.iter().map(|f| f.name.as_str()).collect();
    let _ = writeln!(o, "# Attack report\n");
    let _ = writeln!(
        o,
        "Captures: {}  \nPeriod: {} to {} (UTC), {}  \nTraffic: {} packets, {} bytes\n",
        names.iter().map(|n| code(n)).collect::<Vec<_>>().join(", "),
        c.start.as_deref().unwrap_or("–"),
        c.end.as_deref().unwrap_or("–"),
        duration(c.duration_s),
        thousands(c.packets),
        thousands(c.bytes)
    );
    let _ = writeln!(o, "## Executive summary\n");
    let opt = |t: &Option<Tally>, unavailable: bool| match t {
        Some(t) => match &t.label {
            Some(l) => format!("{} ({l}), {}", t.name, pct(t.share)),
            None => format!("{}, {}", t.name, pct(t.share)),
        },
        None if unavailable => "unavailable (no database)".into(),
        None => "–".into(),
    };
    let peak = |p: &Option<Peak>, f: fn(f64) -> String| match p {
        Some(p) => format!("{} (#{} {})", f(p.value), p.attack, p.vector),
        None => "–".into(),
    };
    let _ = writeln!(o, "| figure | value |\n|---|---|");
    let rows = [
        ("Attacks", s.attacks.to_string()),
        ("Vectors", s.vectors.join(", ")),
        ("Largest attack, packets", peak(&s.largest_pps, rate)),
        ("Largest attack, bits", peak(&s.largest_bps, bits_rate)),
        ("Time under attack", duration(s.attack_duration_s)),
        ("Main target", opt(&s.main_target, false)),
        ("Top source network", opt(&s.top_source_network, false)),
        (
            "Top source AS",
            opt(&s.top_source_asn, r.enrichment.asn.is_none()),
        ),
        (
            "Top source country",
            opt(&s.top_source_country, r.enrichment.geoip.is_none()),
        ),
        (
            "Attack the rules stop",
            format!(
                "{} ({} of {} packets)",
                pct(s.rules_stop_attack_share),
                thousands(s.attack_packets_stopped),
                thousands(s.attack_packets)
            ),
        ),
        (
            "Good traffic they also stop",
            format!(
                "{} ({} of {} packets)",
                pct(s.rules_stop_good_share),
                thousands(s.good_packets_stopped),
                thousands(s.good_packets)
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {} |", cell(&v));
    }
    o.push('\n');
    if let Some(n) = &r.enrichment.note {
        let _ = writeln!(o, "> {n}\n");
    }
    let _ = writeln!(o, "## Attacks\n");
    if a.attacks.is_empty() {
        let _ = writeln!(o, "No attack was found.\n");
    } else {
        let _ = writeln!(
            o,
            "| # | vector | start (UTC) | duration | packets | peak | peak bits | spoofed | stopped |\n|---:|---|---|---:|---:|---:|---:|---|---:|"
        );
        for (at, sec) in a.attacks.iter().zip(&r.attacks) {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                at.id,
                at.vector,
                at.start,
                duration(at.duration_s),
                thousands(at.packets),
                rate(at.peak_pps),
                bits_rate(at.peak_bps),
                if at.sources.spoofed_likely {
                    "likely"
                } else {
                    "unlikely"
                },
                pct(sec.stopped_share)
            );
        }
        o.push('\n');
    }
    for (at, sec) in a.attacks.iter().zip(&r.attacks) {
        let _ = writeln!(o, "## #{} {}\n\n{}\n", at.id, at.vector, sec.explanation);
        let _ = writeln!(
            o,
            "- Window: {} to {} ({})\n- Packets: {} ({} of the capture), bytes: {}\n- Peak: {}, {}; mean: {}, {}\n",
            at.start,
            at.end,
            duration(at.duration_s),
            thousands(at.packets),
            pct(at.share_of_capture),
            thousands(at.bytes),
            rate(at.peak_pps),
            bits_rate(at.peak_bps),
            rate(at.mean_pps),
            bits_rate(at.mean_bps)
        );
        let _ = writeln!(o, "### Why levee calls it an attack\n");
        for e in &at.evidence {
            let _ = writeln!(o, "- {e}");
        }
        let _ = writeln!(
            o,
            "\n### Targets\n\n| target | packets (estimate) | destination ports |\n|---|---:|---|"
        );
        for t in &at.targets {
            let _ = writeln!(
                o,
                "| {} | {} | {}{} |",
                t.ip.as_deref().or(t.prefix.as_deref()).unwrap_or("?"),
                thousands(t.packets),
                t.ports
                    .iter()
                    .map(|p| p.port.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                if t.distinct_ports > t.ports.len() as u64 {
                    format!(" … ({} distinct)", t.distinct_ports)
                } else {
                    String::new()
                }
            );
        }
        let src = &at.sources;
        let _ = writeln!(
            o,
            "\n### Sources\n\nAbout {} distinct sources; spoofed: {}; bogon sources {}.\n",
            thousands(src.distinct_estimate),
            if src.spoofed_likely {
                "likely"
            } else {
                "unlikely"
            },
            pct(src.bogon_share)
        );
        for e in &src.evidence {
            let _ = writeln!(o, "- {e}");
        }
        if !src.evidence.is_empty() {
            o.push('\n');
        }
        if src.spoofed_likely {
            let _ = writeln!(o, "> The sources are probably forged: their networks, countries and ASes say where the forged addresses point, not where the traffic came from.\n");
        }
        let _ = writeln!(
            o,
            "| top source | packets | country | AS |\n|---|---:|---|---|"
        );
        for t in &sec.top_sources {
            let asn = match (&t.asn, &t.as_org) {
                (Some(a), Some(org)) => format!("{a} ({org})"),
                (Some(a), None) => a.clone(),
                _ => "–".into(),
            };
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                t.ip,
                thousands(t.packets),
                t.country.as_deref().unwrap_or("–"),
                cell(&asn)
            );
        }
        o.push('\n');
        tally_rows(&mut o, &sec.source_networks, "source network");
        match &sec.countries {
            Some(v) => tally_rows(&mut o, v, "country"),
            None => {
                let _ = writeln!(o, "Source countries: unavailable (no --geoip database).\n");
            }
        }
        match &sec.asns {
            Some(v) => tally_rows(&mut o, v, "AS"),
            None => {
                let _ = writeln!(o, "Source ASes: unavailable (no --asn database).\n");
            }
        }
        let _ = writeln!(o, "### Header fields\n");
        let ttl: Vec<String> = {
            let mut v = sec.ttl_histogram.clone();
            v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
            v.iter()
                .take(8)
                .map(|(t, n)| format!("{t} ({})", thousands(*n)))
                .collect()
        };
        let _ = writeln!(
            o,
            "- TTLs ({} distinct, most common first): {}",
            sec.ttl_histogram.len(),
            ttl.join(", ")
        );
        let _ = writeln!(
            o,
            "- IP lengths: {} to {} bytes, median {}",
            at.packet_sizes.min, at.packet_sizes.max, at.packet_sizes.median
        );
        for (h, what) in [
            (&sec.source_ports, "Source ports"),
            (&sec.destination_ports, "Destination ports"),
        ] {
            if h.packets > 0 {
                let top: Vec<String> = h
                    .top
                    .iter()
                    .take(8)
                    .map(|(p, n)| format!("{p} ({})", pct(*n as f64 / h.packets as f64)))
                    .collect();
                let _ = writeln!(
                    o,
                    "- {what} ({} distinct): {}",
                    thousands(h.distinct),
                    top.join(", ")
                );
            }
        }
        let sig = &at.signature;
        let _ = writeln!(o, "\n### Signature\n");
        block(&mut o, "", &sig.expression);
        let _ = writeln!(
            o,
            "Matches {} of the attack ({} of {} packets) and {} of the other traffic ({} of {} packets).\n",
            pct(sig.coverage),
            thousands(sig.matched_attack_packets),
            thousands(sig.attack_packets),
            pct(sig.collateral),
            thousands(sig.matched_other_packets),
            thousands(sig.other_packets)
        );
        let _ = writeln!(
            o,
            "On levee's benign reference (traffic every network needs, sent to the same target) it matches {} of {} packets{}.\n",
            thousands(sig.matched_reference_packets),
            thousands(sig.reference_packets),
            if sig.reference_classes.is_empty() {
                String::new()
            } else {
                format!(
                    ": {}",
                    sig.reference_classes
                        .iter()
                        .map(|c| format!("{} {}", c.class, c.packets))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        if let Some(v) = &sig.volatile {
            let _ = writeln!(
                o,
                "Fields an attacker varies for free: {}. Pinned: {} matches {} of the attack; without them: {} matches {} of the attack and {} of the other traffic. Recommended: the {} one, because {}.\n",
                v.fields.join(", "),
                code(&v.pinned.expression),
                pct(v.pinned.coverage),
                code(&v.robust.expression),
                pct(v.robust.coverage),
                pct(v.robust.collateral),
                v.recommended,
                v.why
            );
        }
        if let Some(why) = levee_analyze::simulate::block_refusal(sig, a.settings.block_collateral)
        {
            let _ = writeln!(
                o,
                "**The rules file logs this signature, it does not block it**: {why}.\n"
            );
        }
        if !sig.alternatives.is_empty() {
            let _ = writeln!(
                o,
                "| other candidates measured | coverage | collateral |\n|---|---:|---:|"
            );
            for m in &sig.alternatives {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    code(&m.expression),
                    pct(m.coverage),
                    pct(m.collateral)
                );
            }
            o.push('\n');
        }
        let _ = writeln!(
            o,
            "### The rule for each engine\n\nEach is the signature compiled exactly, or, where an engine cannot express it, the most specific measured alternative it can. The {} rules together stop {} of this attack.\n",
            r.mitigation.source,
            pct(sec.stopped_share)
        );
        for e in &sec.rules {
            match (e.coverage, e.collateral) {
                (Some(c), Some(k)) => {
                    let _ = writeln!(
                        o,
                        "**{}** (stops {} of the attack, {} of other traffic)\n",
                        e.target,
                        pct(c),
                        pct(k)
                    );
                }
                _ => {
                    let _ = writeln!(o, "**{}**\n", e.target);
                }
            }
            if let Some(n) = &e.note {
                let _ = writeln!(o, "{n}: {}\n", code(e.expression.as_deref().unwrap_or("")));
            }
            if let Some(t) = &e.text {
                block(&mut o, "", t);
            }
            if let Some(why) = &e.refused {
                let _ = writeln!(o, "Not expressible: {why}\n");
            }
        }
        let _ = writeln!(o, "### Sample packets\n");
        for smp in &sec.samples {
            let mut text = format!("{}  {}\n", crate::sample_line(smp), smp.time);
            for (k, v) in &smp.fields {
                let _ = writeln!(text, "  {k} = {v}");
            }
            if smp.payload_len > 0 {
                let _ = writeln!(
                    text,
                    "  payload ({} bytes): {}",
                    smp.payload_len, smp.payload_hex
                );
            }
            block(&mut o, "", &text);
        }
    }
    let m = &r.mitigation;
    let sim = &m.simulation;
    let _ = writeln!(o, "## Mitigation\n");
    let _ = writeln!(
        o,
        "{}, applied in order (first match wins) to every packet of the captures, drop {} of {} packets.\n",
        if m.source == "given" {
            format!("The rules of {}", code(&sim.rules_file))
        } else {
            "The recommended rules (one per attack)".into()
        },
        thousands(sim.blocked.packets),
        thousands(sim.total.packets)
    );
    let _ = writeln!(
        o,
        "| traffic | packets | stopped | share stopped |\n|---|---:|---:|---:|"
    );
    for (x, at) in sim.attacks.iter().zip(&a.attacks) {
        let _ = writeln!(
            o,
            "| #{} {} | {} | {} | {} |",
            x.attack,
            x.vector,
            thousands(at.packets),
            thousands(x.stopped.dropped_packets),
            pct(x.stopped.share)
        );
    }
    let _ = writeln!(
        o,
        "| no attack (good traffic) | {} | {} | {} |\n",
        thousands(sim.other.of_packets),
        thousands(sim.other.dropped_packets),
        pct(sim.other.share)
    );
    let _ = writeln!(
        o,
        "| rule | action | matched | dropped | of other traffic |\n|---|---|---:|---:|---:|"
    );
    for x in &sim.rules {
        let _ = writeln!(
            o,
            "| {} {} | {} | {} | {} | {} |",
            cell(&x.id),
            code(&x.expression),
            x.action,
            thousands(x.matched.packets),
            thousands(x.dropped.packets),
            pct(x.other.share)
        );
    }
    o.push('\n');
    for n in &sim.notes {
        let _ = writeln!(o, "> {n}\n");
    }
    let _ = writeln!(o, "### Rules file\n");
    block(&mut o, "toml", &m.rules_toml);
    for e in &m.compiled {
        let _ = writeln!(o, "### All rules: {}\n", e.target);
        if let Some(t) = &e.text {
            block(&mut o, "", t);
        }
        if let Some(why) = &e.refused {
            let _ = writeln!(o, "{}\n", why);
        }
    }
    if !a.not_attacks.is_empty() || !a.notes.is_empty() {
        let _ = writeln!(o, "## Traffic looked at and not called an attack\n");
        if !a.not_attacks.is_empty() {
            let _ = writeln!(
                o,
                "| class | packets | peak | sources | why not |\n|---|---:|---:|---:|---|"
            );
            for d in &a.not_attacks {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    d.vector,
                    thousands(d.packets),
                    rate(d.peak_pps),
                    thousands(d.distinct_sources),
                    cell(&d.reason)
                );
            }
            o.push('\n');
        }
        for n in &a.notes {
            let _ = writeln!(o, "> {n}\n");
        }
    }
    let _ = writeln!(o, "## Appendix: how each figure was computed\n");
    for m in &r.method {
        let _ = writeln!(o, "- **{}**: {}", m.figure, m.method);
    }
    let _ = writeln!(
        o,
        "\n---\nWritten by {}, report schema {}.",
        r.generator, r.report_version
    );
    o
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
}
