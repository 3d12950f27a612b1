//! `report.md`: the report as Markdown, for tickets and chat. The charts are left out (the
//! timeline is summarised in a table of the attack windows); everything else is there.

use std::fmt::Write;

use levee_analyze::units::{bits_rate, rate, thousands};

use crate::model::*;
use crate::page::{self, block, cell, code, duration, pct};
use levee_analyze::report::Attack;
use levee_analyze::summary::FlowExports;

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

/// `report.md`: the header, the executive summary, the attacks (a table, then a section each),
/// the mitigation, what was not called an attack, and how each figure was computed.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    header(&mut o, r);
    summary(&mut o, r);
    overview(&mut o, r);
    for (at, sec) in r.analysis.attacks.iter().zip(&r.attacks) {
        attack(&mut o, r, at, sec);
    }
    mitigation(&mut o, r);
    rest(&mut o, r);
    page::methods_md(&mut o, &r.method);
    let _ = writeln!(
        o,
        "\n---\nWritten by {}, report schema {}.",
        r.generator, r.report_version
    );
    o
}

/// The title, the captures and the period.
fn header(o: &mut String, r: &Report) {
    let c = &r.analysis.capture;
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
    let flows: Vec<_> = c
        .files
        .iter()
        .filter_map(|f| Some((&f.name, f.flows.as_ref()?)))
        .collect();
    for (name, exports) in &flows {
        let _ = writeln!(o, "Flow exports, {}: {exports}  ", code(name));
    }
    if !flows.is_empty() {
        let _ = writeln!(
            o,
            "Traffic is what the flow records stand for: {}.\n",
            FlowExports::LIMITS
        );
    }
}

/// The executive summary: the headline figures as a table.
fn summary(o: &mut String, r: &Report) {
    let s = &r.summary;
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
}

/// The table of attacks.
fn overview(o: &mut String, r: &Report) {
    let a = &r.analysis;
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
}

/// One attack's section: its window and volume, why it is one, its targets and sources, its
/// header fields, its signature, the rule for each engine and sample packets.
fn attack(o: &mut String, r: &Report, at: &Attack, sec: &AttackSection) {
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
    targets(o, at);
    sources(o, at, sec);
    header_fields(o, at, sec);
    signature(o, r, at);
    engine_rules(o, r, sec);
    samples(o, sec);
}

/// The attack's targets: addresses or prefixes, with their ports.
fn targets(o: &mut String, at: &Attack) {
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
}

/// The attack's sources: how many, whether forged, the top ones and their networks,
/// countries and ASes.
fn sources(o: &mut String, at: &Attack, sec: &AttackSection) {
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
    tally_rows(o, &sec.source_networks, "source network");
    match &sec.countries {
        Some(v) => tally_rows(o, v, "country"),
        None => {
            let _ = writeln!(o, "Source countries: unavailable (no --geoip database).\n");
        }
    }
    match &sec.asns {
        Some(v) => tally_rows(o, v, "AS"),
        None => {
            let _ = writeln!(o, "Source ASes: unavailable (no --asn database).\n");
        }
    }
}

/// The attack's TTLs, lengths and ports.
fn header_fields(o: &mut String, at: &Attack, sec: &AttackSection) {
    let _ = writeln!(o, "### Header fields\n");
    let ttl: Vec<String> = {
        let mut v = sec.ttl_histogram.clone();
        v.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
        v.iter()
            .take(8)
            .map(|(t, n)| format!("{t} ({})", thousands(*n)))
            .collect()
    };
    if ttl.is_empty() {
        let _ = writeln!(o, "- TTLs: not known (flow records do not carry them)");
    } else {
        let _ = writeln!(
            o,
            "- TTLs ({} distinct, most common first): {}",
            sec.ttl_histogram.len(),
            ttl.join(", ")
        );
    }
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
}

/// The attack's signature: what it matches of the attack, of the rest and of the benign
/// reference, its volatile fields, and the candidates measured beside it.
fn signature(o: &mut String, r: &Report, at: &Attack) {
    let a = &r.analysis;
    let sig = &at.signature;
    let _ = writeln!(o, "\n### Signature\n");
    block(o, "", &sig.expression);
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
    if let Some(why) = levee_analyze::simulate::block_refusal(sig, a.settings.block_collateral) {
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
}

/// The attack's rule compiled for each engine, with what it stops.
fn engine_rules(o: &mut String, r: &Report, sec: &AttackSection) {
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
            block(o, "", t);
        }
        if let Some(why) = &e.refused {
            let _ = writeln!(o, "Not expressible: {why}\n");
        }
    }
}

/// The attack's sample packets, decoded.
fn samples(o: &mut String, sec: &AttackSection) {
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
        block(o, "", &text);
    }
}

/// What the rules stop of each attack and of the good traffic, each rule's counts, and the
/// rules files.
fn mitigation(o: &mut String, r: &Report) {
    let a = &r.analysis;
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
    page::rules_files_md(o, &m.rules_toml, &m.compiled);
}

/// The classes looked at and not called attacks, with why, and the analysis's notes.
fn rest(o: &mut String, r: &Report) {
    let a = &r.analysis;
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
}
