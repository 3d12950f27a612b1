//! What the capture commands print on a terminal: `levee summary`, `levee analyze` and
//! `levee simulate` without `--json` (the access-log commands' text is in [`crate::logs_text`]).

use std::fmt::Write;

use levee_analyze::Summary;

fn human(n: f64, unit: &str) -> String {
    let (v, p) = if n >= 1e9 {
        (n / 1e9, "G")
    } else if n >= 1e6 {
        (n / 1e6, "M")
    } else if n >= 1e3 {
        (n / 1e3, "k")
    } else {
        (n, "")
    };
    format!("{v:.2} {p}{unit}")
}

fn pct(x: f64) -> String {
    format!("{:5.1}%", x * 100.0)
}

/// What flows cannot show, once, when any input is a capture of flow exports.
fn flow_limits(o: &mut String, files: &[levee_analyze::summary::FileInfo], indent: &str) {
    if files.iter().any(|f| f.flows.is_some()) {
        let _ = writeln!(
            o,
            "{indent}packets are those the flow records stand for: {}",
            levee_analyze::summary::FlowExports::LIMITS
        );
    }
}

/// `levee summary`: totals, protocol hierarchy, top talkers and ports, rates.
pub fn summary(s: &Summary) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Capture");
    for f in &s.files {
        let comp = if f.compression == "none" {
            String::new()
        } else {
            format!(", {}", f.compression)
        };
        let _ = writeln!(
            o,
            "  file        {} ({}{comp}, {} packets)",
            f.name, f.format, f.packets
        );
        if let Some(flows) = &f.flows {
            let _ = writeln!(o, "  flows       {flows}");
        }
    }
    flow_limits(&mut o, &s.files, "  ");
    let _ = writeln!(o, "  packets     {}", s.packets);
    let _ = writeln!(
        o,
        "  bytes       {} on the wire, {} captured",
        s.bytes, s.captured_bytes
    );
    if let (Some(a), Some(b)) = (&s.start, &s.end) {
        let _ = writeln!(o, "  time        {a} .. {b} ({:.3} s)", s.duration_s);
    }
    let lts: Vec<String> = s
        .link_types
        .iter()
        .map(|l| format!("{} ({})", l.name, l.packets))
        .collect();
    let _ = writeln!(o, "  link types  {}", lts.join(", "));
    let _ = writeln!(
        o,
        "  rate        peak {} / {} in {} s buckets; mean {} / {} over the capture",
        human(s.series.peak_pps, "pps"),
        human(s.series.peak_bps, "bps"),
        s.series.bucket_s,
        human(s.series.mean_pps, "pps"),
        human(s.series.mean_bps, "bps")
    );
    let _ = writeln!(
        o,
        "  addresses   ~{} distinct sources, ~{} distinct destinations",
        s.distinct_sources_estimate, s.distinct_destinations_estimate
    );

    let _ = writeln!(
        o,
        "\nProtocol hierarchy            packets      share      bytes      share"
    );
    for p in &s.protocols {
        let name = format!("{}{}", "  ".repeat(p.depth), p.protocol);
        let _ = writeln!(
            o,
            "  {name:<26} {:>10} {} {:>10} {}",
            p.packets,
            pct(p.packet_share),
            p.bytes,
            pct(p.byte_share)
        );
    }
    let talkers = |o: &mut String, title: &str, list: &[levee_analyze::summary::Talker]| {
        let _ = writeln!(o, "\n{title}");
        for t in list {
            let _ = writeln!(
                o,
                "  {:<40} {:>10} {}",
                t.ip,
                t.packets,
                pct(t.packet_share)
            );
        }
    };
    talkers(&mut o, "Top sources", &s.top_sources);
    talkers(&mut o, "Top destinations", &s.top_destinations);
    for (title, list) in [
        ("Top destination ports", &s.top_destination_ports),
        ("Top source ports", &s.top_source_ports),
    ] {
        let _ = writeln!(o, "\n{title}");
        for p in list {
            let _ = writeln!(o, "  {}/{:<10} {:>10}", p.proto, p.port, p.packets);
        }
    }
    let _ = writeln!(o, "\nTop conversations");
    for c in &s.top_conversations {
        let _ = writeln!(o, "  {:<39} <-> {:<39} {:>10}", c.a, c.b, c.packets);
    }
    if s.topk_error_bound > 0 {
        let _ = writeln!(
            o,
            "  (top lists come from a bounded sketch: counts may be low by up to {} packets)",
            s.topk_error_bound
        );
    }
    let _ = writeln!(o, "\nDamage and decoding");
    let _ = writeln!(
        o,
        "  damaged records    {} ({} skipped, {} files stopped early)",
        s.damage.records_damaged, s.damage.records_skipped, s.damage.files_stopped_early
    );
    for (k, v) in &s.damage.by_kind {
        let _ = writeln!(o, "    {k:<24} {v}");
    }
    let _ = writeln!(
        o,
        "  cut by snaplen     {} packets",
        s.decode.truncated_by_snaplen
    );
    for u in &s.decode.undecodable {
        let _ = writeln!(
            o,
            "  not fully decoded  {} packets ({:?} at {:?} layer)",
            u.packets, u.kind, u.layer
        );
    }
    o
}

fn count(n: u64) -> String {
    levee_analyze::units::thousands(n)
}

/// The analysis as text: one block per attack, then what was looked at and dismissed.
pub fn analysis(a: &levee_analyze::Analysis) -> String {
    use levee_analyze::units::rate;
    let mut o = String::new();
    let c = &a.capture;
    let names: Vec<&str> = c.files.iter().map(|f| f.name.as_str()).collect();
    let _ = writeln!(o, "Capture   {}", names.join(", "));
    for flows in c.files.iter().filter_map(|f| f.flows.as_ref()) {
        let _ = writeln!(o, "          {flows}");
    }
    flow_limits(&mut o, &c.files, "          ");
    let _ = writeln!(
        o,
        "          {} packets, {} bytes, {} .. {} ({:.3} s)",
        count(c.packets),
        count(c.bytes),
        c.start.as_deref().unwrap_or("-"),
        c.end.as_deref().unwrap_or("-"),
        c.duration_s
    );
    if c.damaged_records > 0 {
        let _ = writeln!(o, "          {} damaged records skipped", c.damaged_records);
    }
    let _ = writeln!(o);
    if a.attacks.is_empty() {
        let _ = writeln!(
            o,
            "No attack found in {} packets{}.",
            c.packets,
            if c.undecoded_packets > 0 {
                format!(" ({} of them not decodable as IP)", c.undecoded_packets)
            } else {
                String::new()
            }
        );
    }
    // Figures measured on a sample are estimates, and marked so.
    let est = if a.sampling.one_in > 1 { "~" } else { "" };
    for at in &a.attacks {
        attack_text(&mut o, at, est);
        signature_text(&mut o, at, est, a.settings.block_collateral);
        let _ = writeln!(o);
    }
    if !a.not_attacks.is_empty() {
        let _ = writeln!(o, "Heavy traffic that is not an attack");
        for d in &a.not_attacks {
            let _ = writeln!(
                o,
                "  {:<22} {} packets, peak {}, ~{} sources: {}",
                d.vector,
                count(d.packets),
                rate(d.peak_pps),
                count(d.distinct_sources),
                d.reason
            );
        }
        let _ = writeln!(o);
    }
    for n in &a.notes {
        let _ = writeln!(o, "Note: {n}");
    }
    o
}

/// An attack's when, size, targets, sources, sizes, evidence and backscatter; `est` marks
/// figures measured on a sample.
fn attack_text(o: &mut String, at: &levee_analyze::report::Attack, est: &str) {
    use levee_analyze::units::{bits_rate, rate};
    let of = at
        .carpet_of
        .as_deref()
        .map(|v| format!(" (of {v})"))
        .unwrap_or_default();
    let _ = writeln!(o, "Attack {}: {}{of}", at.id, at.vector);
    if let Some(why) = &at.low_rate {
        let _ = writeln!(o, "  low rate   {why}");
    }
    let _ = writeln!(
        o,
        "  when       {} .. {} ({:.3} s)",
        at.start, at.end, at.duration_s
    );
    let _ = writeln!(
        o,
        "  size       {est}{} packets, {est}{} bytes ({:.1}% of the capture); peak {} / {}, mean {} / {}",
        count(at.packets),
        count(at.bytes),
        at.share_of_capture * 100.0,
        rate(at.peak_pps),
        bits_rate(at.peak_bps),
        rate(at.mean_pps),
        bits_rate(at.mean_bps)
    );
    for t in &at.targets {
        let who = t.ip.as_deref().or(t.prefix.as_deref()).unwrap_or("?");
        let ports: Vec<String> = t
            .ports
            .iter()
            .map(|p| format!("{} ({est}{})", p.port, count(p.packets)))
            .collect();
        let ports = if ports.is_empty() {
            String::new()
        } else {
            format!(
                "; ports {} of {} distinct",
                ports.join(", "),
                count(t.distinct_ports)
            )
        };
        let _ = writeln!(o, "  target     {who}{ports}");
    }
    let s = &at.sources;
    let top: Vec<String> = s
        .top
        .iter()
        .take(5)
        .map(|x| format!("{} ({est}{})", x.ip, count(x.packets)))
        .collect();
    let top = if top.is_empty() {
        String::new()
    } else {
        format!("; top {}", top.join(", "))
    };
    let _ = writeln!(
        o,
        "  sources    ~{} distinct, spoofed: {}{top}",
        count(s.distinct_estimate),
        if s.spoofed_likely {
            "likely"
        } else {
            "not indicated"
        },
    );
    for e in &s.evidence {
        let _ = writeln!(o, "             - {e}");
    }
    let ttls: Vec<String> = s
        .ttl
        .top
        .iter()
        .map(|(t, n)| format!("{t} ({est}{})", count(*n)))
        .collect();
    if s.ttl.distinct == 0 {
        let _ = writeln!(o, "  ttl        not known: flow records do not carry it");
    } else {
        let _ = writeln!(
            o,
            "  ttl        {}..{}, {} distinct; top {}",
            s.ttl.min,
            s.ttl.max,
            s.ttl.distinct,
            ttls.join(", ")
        );
    }
    let z = &at.packet_sizes;
    let _ = writeln!(o, "  ip.len     {}..{}, median {}", z.min, z.max, z.median);
    let _ = writeln!(o, "  evidence");
    for e in &at.evidence {
        let _ = writeln!(o, "             - {e}");
    }
    for b in &at.backscatter {
        let _ = writeln!(
            o,
            "  backscatter {est}{} {} ({est}{} bytes) from ~{} sources, not a {} of its own: {}",
            count(b.packets),
            b.kind,
            count(b.bytes),
            count(b.distinct_sources),
            b.looks_like,
            b.why
        );
    }
}

/// An attack's signature with what it matches, its volatile fields, and whether a generated
/// rule would block or log.
fn signature_text(
    o: &mut String,
    at: &levee_analyze::report::Attack,
    est: &str,
    block_collateral: f64,
) {
    let sig = &at.signature;
    let _ = writeln!(o, "  signature  {}", short_sets(&sig.expression, 8));
    let _ = writeln!(
        o,
        "             matches {:.2}% of the attack ({est}{} of {est}{} packets) and {:.3}% of other traffic ({est}{} of {est}{})",
        sig.coverage * 100.0,
        count(sig.matched_attack_packets),
        count(sig.attack_packets),
        sig.collateral * 100.0,
        count(sig.matched_other_packets),
        count(sig.other_packets)
    );
    let classes: Vec<String> = sig
        .reference_classes
        .iter()
        .map(|c| format!("{} {}", c.class, c.packets))
        .collect();
    let _ = writeln!(
        o,
        "             and {} of the {} packets of levee's benign reference{}",
        sig.matched_reference_packets,
        sig.reference_packets,
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes.join(", "))
        }
    );
    if let Some(v) = &sig.volatile {
        let other = if v.recommended == "robust" {
            &v.pinned
        } else {
            &v.robust
        };
        let _ = writeln!(
            o,
            "             {} {}: the {} variant {} matches {:.2}% of the attack and {:.3}% of \
             other traffic; levee recommends the {} one: {}",
            if v.recommended == "robust" {
                "chosen without the fields an attacker varies for free,"
            } else {
                "pins fields an attacker varies for free,"
            },
            v.fields.join(", "),
            if v.recommended == "robust" {
                "pinned"
            } else {
                "robust"
            },
            short_sets(&other.expression, 8),
            other.coverage * 100.0,
            other.collateral * 100.0,
            v.recommended,
            v.why
        );
    }
    if let Some(why) = levee_analyze::simulate::attack_block_refusal(at, block_collateral) {
        let _ = writeln!(
            o,
            "             --rules-out writes it to log, not block: {why}"
        );
    }
}

/// `levee simulate` on captures: what the rules stop of each attack and of the rest, then
/// each rule's counts.
pub fn simulation(s: &levee_analyze::simulate::Simulation) -> String {
    let mut o = String::new();
    let pct = |x: f64| x * 100.0;
    let _ = writeln!(
        o,
        "Rules {} over {} packets: {} blocked ({:.2}%), {} passed",
        s.rules_file,
        s.total.packets,
        s.blocked.packets,
        pct(s.blocked.packets as f64 / s.total.packets.max(1) as f64),
        s.passed.packets
    );
    if !s.attacks_analyzed {
        let _ = writeln!(o, "  (attacks not looked for: --rules-only)");
    }
    for a in &s.attacks {
        let _ = writeln!(
            o,
            "  attack {} {:<24} {:>9} of {:>9} packets stopped ({:.2}%)",
            a.attack,
            a.vector,
            a.stopped.dropped_packets,
            a.stopped.of_packets,
            pct(a.stopped.share)
        );
    }
    let rest = if s.attacks_analyzed {
        "not in any attack"
    } else {
        "all traffic"
    };
    let _ = writeln!(
        o,
        "  {rest:<28} {:>9} of {:>9} packets stopped ({:.3}%)",
        s.other.dropped_packets,
        s.other.of_packets,
        pct(s.other.share)
    );
    let _ = writeln!(
        o,
        "\n{:<28} {:<10} {:>10} {:>10} {:>10} {:>14}",
        "rule",
        "action",
        "matched",
        "decided",
        "dropped",
        if s.attacks_analyzed {
            "of non-attack"
        } else {
            "of traffic"
        }
    );
    for r in &s.rules {
        let _ = writeln!(
            o,
            "{:<28} {:<10} {:>10} {:>10} {:>10} {:>13.3}%",
            r.id,
            r.action,
            r.matched.packets,
            r.decided.packets,
            r.dropped.packets,
            pct(r.other.share)
        );
    }
    for n in &s.notes {
        let _ = writeln!(o, "Note: {n}");
    }
    o
}

/// `expr` with every set of more than `keep` items cut to its first `keep` and a count of the
/// rest, for reading (a rule scoped to an attack's sources holds thousands).
pub fn short_sets(expr: &str, keep: usize) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&rest[..=open]);
        let items: Vec<&str> = rest[open + 1..open + close].split_whitespace().collect();
        if items.len() > keep {
            out.push_str(&items[..keep].join(" "));
            out.push_str(&format!(" ... {} more", items.len() - keep));
        } else {
            out.push_str(&rest[open + 1..open + close]);
        }
        out.push('}');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}
