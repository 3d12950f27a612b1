//! Everything levee shows a person: the text a command prints on a terminal, and the attack
//! report an engineer hands to the customer and attaches to the incident ticket.
//!
//! **Terminal text**: [`text`] for captures (`levee summary`, `analyze`, `simulate`),
//! [`logs_text`] for access logs and the HTTP requests of captures.
//!
//! **Reports**: the capture report ([`model::Report`], made by [`build`]) and the access-log
//! report ([`logs::LogReport`], made by [`logs::build`]) are both a [`Document`] and go
//! through one pipeline, [`render`], into three files:
//!
//! * `report.html`: one self-contained page (inline CSS and SVG, no script, nothing fetched;
//!   a Content-Security-Policy forbids it) that reads offline and prints to PDF ([`html`],
//!   [`logs_page::html`]);
//! * `report.md`: the same content as Markdown, without the charts ([`markdown`],
//!   [`logs_page::markdown`]);
//! * `report.json`: the document itself (schema in `docs/report-json.md`).
//!
//! The parts both reports share (page shell, headline figures, timeline legend, rules files,
//! appendix of methods, and how shares, durations and code are written) are in [`page`];
//! [`svg`] draws the charts. The capture report is assembled from the analysis, the second
//! pass's details ([`levee_analyze::detail`]), the rules and their simulation on the same
//! packets, and the optional country and AS databases ([`enrich`]).

#![warn(missing_docs)]

pub mod enrich;
pub mod html;
pub mod hunt_page;
pub mod logs;
pub mod logs_page;
pub mod logs_text;
pub mod markdown;
pub mod model;
pub mod page;
pub mod svg;
pub mod text;
pub mod watch_page;

use std::collections::HashMap;
use std::net::IpAddr;

use levee_analyze::detail::{Details, LengthBin, Sample};
use levee_analyze::simulate::Simulation;
use levee_analyze::Analysis;
use levee_rules::compile::Target;
use levee_rules::RulesFile;

pub use enrich::Enricher;
use model::*;

/// Bars of a packet-length histogram at most.
pub const LENGTH_BARS: usize = 48;

/// Rows of the top lists (networks, countries, ASes, ports).
pub const TOP_ROWS: usize = 10;

/// The engines each rule is written for, in the order the report shows them.
pub const ENGINES: &[Target] = &[
    Target::Nftables,
    Target::Iptables,
    Target::Ipset,
    Target::Bpf,
    Target::Cloudflare,
];

/// What can go wrong rendering a report (writing it is the caller's: see `levee report`).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The document could not be serialized.
    #[error("cannot render the JSON report: {0}")]
    Json(#[from] serde_json::Error),
}

/// Everything a report is made from.
pub struct Inputs<'a> {
    /// The analysis of the captures.
    pub analysis: Analysis,
    /// What the second pass gathered for the report: timeline, histograms, samples.
    pub details: Details,
    /// The recommended rules of the analysis (one per attack, in attack order).
    pub recommended: &'a RulesFile,
    /// The rules applied in the simulation: the recommended ones, or the user's.
    pub applied: &'a RulesFile,
    /// Whether `applied` is the user's own file (`--rules`).
    pub applied_given: bool,
    /// The applied rules measured on the captures.
    pub simulation: Simulation,
    /// The country and AS databases (possibly none).
    pub enricher: &'a Enricher,
    /// The interface named in the nftables netdev rules.
    pub device: &'a str,
}

/// Assembles the report document.
pub fn build(inp: Inputs<'_>) -> Report {
    let a = &inp.analysis;
    let sections: Vec<AttackSection> = a
        .attacks
        .iter()
        .enumerate()
        .map(|(i, at)| {
            let d = &inp.details.attacks[at.finding];
            let stopped = inp
                .simulation
                .attacks
                .iter()
                .find(|s| s.attack == at.id)
                .map(|s| s.stopped)
                .unwrap_or_default();
            let rules = match inp.recommended.rules.get(i) {
                Some(r) => attack_rules(at, r, inp.recommended, inp.device),
                None => Vec::new(),
            };
            AttackSection {
                id: at.id,
                vector: at.vector.clone(),
                explanation: explain(&at.vector, at.carpet_of.as_deref()),
                ttl_histogram: d.ttl.clone(),
                length_histogram: coarse_lengths(&d.lengths, LENGTH_BARS),
                source_ports: d.source_ports.clone(),
                destination_ports: d.destination_ports.clone(),
                top_sources: d
                    .sources
                    .iter()
                    .take(TOP_ROWS)
                    .map(|&(ip, packets)| {
                        let asn = inp.enricher.asn(ip);
                        SourceRow {
                            ip: ip.to_string(),
                            packets,
                            country: inp.enricher.country(ip).map(|c| c.0),
                            asn: asn.as_ref().map(|a| format!("AS{}", a.0)),
                            as_org: asn.and_then(|a| a.1),
                        }
                    })
                    .collect(),
                source_networks: networks(&d.sources, at.packets, TOP_ROWS),
                sources_counted: d.sources_total,
                sources_error: d.sources_error,
                countries: inp.enricher.countries(&d.sources, at.packets).map(|mut v| {
                    v.truncate(TOP_ROWS);
                    v
                }),
                asns: inp.enricher.asns(&d.sources, at.packets).map(|mut v| {
                    v.truncate(TOP_ROWS);
                    v
                }),
                rules,
                stopped_packets: stopped.dropped_packets,
                stopped_share: stopped.share,
                samples: d.samples.clone(),
            }
        })
        .collect();
    let timeline = timeline(a, &inp.details);
    let summary = summarise(a, &inp.details, &inp.simulation, inp.enricher);
    let applied_origin = if inp.applied_given {
        inp.simulation.rules_file.clone()
    } else {
        "the recommended rules".to_string()
    };
    let mitigation = Mitigation {
        source: if inp.applied_given {
            "given".into()
        } else {
            "recommended".into()
        },
        rules_toml: inp.applied.to_toml(&format!(
            "Rules {} applied in the report of {}",
            if inp.applied_given {
                "given"
            } else {
                "recommended and"
            },
            file_names(a)
        )),
        compiled: compile_all(inp.applied, ENGINES, &applied_origin, inp.device),
        simulation: inp.simulation.clone(),
    };
    let enrichment = EnrichmentInfo {
        geoip: inp.enricher.country_path().map(|p| p.display().to_string()),
        asn: inp.enricher.asn_path().map(|p| p.display().to_string()),
        note: match (inp.enricher.has_country(), inp.enricher.has_asn()) {
            (true, true) => None,
            (false, false) => Some(
                "Source countries and ASes are unavailable: no databases were given \
                 (--geoip COUNTRY.mmdb, --asn ASN.mmdb)."
                    .into(),
            ),
            (false, true) => Some(
                "Source countries are unavailable: no country database was given (--geoip).".into(),
            ),
            (true, false) => {
                Some("Source ASes are unavailable: no AS database was given (--asn).".into())
            }
        },
    };
    let method = method(a, &timeline);
    Report {
        report_version: REPORT_VERSION,
        generator: format!("levee {}", env!("CARGO_PKG_VERSION")),
        title: format!("Attack report: {}", file_names(a)),
        summary,
        timeline,
        attacks: sections,
        mitigation,
        enrichment,
        method,
        analysis: inp.analysis,
    }
}

fn file_names(a: &Analysis) -> String {
    a.capture
        .files
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether compiled ipset input creates any set (the iptables rules need it only then).
fn ipset_needed(compiled: &str) -> bool {
    compiled.contains("\ncreate ")
}

/// Every engine's version of `file`, or why the engine cannot take it. The ipset sets are
/// only listed when the iptables rules need them.
fn compile_all(
    file: &RulesFile,
    engines: &[Target],
    origin: &str,
    device: &str,
) -> Vec<EngineRule> {
    engines
        .iter()
        .filter_map(|&t| {
            let r = levee_rules::compile::render(file, t, origin, device);
            if t == Target::Ipset && r.as_ref().is_ok_and(|s| !ipset_needed(s)) {
                return None;
            }
            Some(EngineRule::compiled(t.name(), r))
        })
        .collect()
}

/// The attack's rule for each engine: its signature, or, where an engine cannot express the
/// signature, the most specific measured alternative it can, with that alternative's own
/// coverage and collateral.
fn attack_rules(
    at: &levee_analyze::report::Attack,
    rule: &levee_rules::Rule,
    file: &RulesFile,
    device: &str,
) -> Vec<EngineRule> {
    let sig = &at.signature;
    let candidates = std::iter::once((sig.expression.as_str(), sig.coverage, sig.collateral))
        .chain(
            sig.alternatives
                .iter()
                .map(|m| (m.expression.as_str(), m.coverage, m.collateral)),
        );
    let candidates: Vec<(levee_rules::Expr, &str, f64, f64)> = candidates
        .filter_map(|(e, cov, col)| levee_rules::parse_plain(e).ok().map(|x| (x, e, cov, col)))
        .collect();
    let origin = format!("attack {} of the report", at.id);
    ENGINES
        .iter()
        .filter_map(|&t| {
            let mut first_error = None;
            for (k, (expr, text, coverage, collateral)) in candidates.iter().enumerate() {
                let one = RulesFile {
                    rules: vec![levee_rules::Rule {
                        expression: expr.clone(),
                        text: text.to_string(),
                        ..rule.clone()
                    }],
                    lists: file.lists.clone(),
                    list_files: file.list_files.clone(),
                };
                match levee_rules::compile::render(&one, t, &origin, device) {
                    Ok(out) => {
                        if t == Target::Ipset && !ipset_needed(&out) {
                            return None;
                        }
                        return Some(EngineRule {
                            target: t.name().to_string(),
                            text: Some(out),
                            refused: None,
                            expression: Some(text.to_string()),
                            coverage: Some(*coverage),
                            collateral: Some(*collateral),
                            note: (k > 0).then(|| {
                                format!(
                                    "{} cannot express the signature ({}); this is the most \
                                     specific measured alternative it can",
                                    t.name(),
                                    first_error.as_deref().unwrap_or("refused")
                                )
                            }),
                        });
                    }
                    Err(e) => {
                        if first_error.is_none() {
                            first_error =
                                Some(e.problems.first().cloned().unwrap_or_else(|| e.to_string()));
                        }
                    }
                }
            }
            Some(EngineRule::compiled(
                t.name(),
                Err(first_error.unwrap_or_else(|| "no expression".into())),
            ))
        })
        .collect()
}

/// A sentence on what a vector is, for readers who do not work with attacks every day.
pub fn explain(vector: &str, carpet_of: Option<&str>) -> String {
    let s = match vector {
        "syn-flood" => "A flood of TCP SYN packets: each asks the target to open a connection that is never completed, to exhaust its connection tables and bandwidth.",
        "ack-flood" => "A flood of TCP ACK packets that belong to no connection, sent to make the target and stateful devices in front of it look up and drop each one.",
        "rst-flood" => "A flood of TCP RST packets that belong to no connection.",
        "fin-flood" => "A flood of TCP FIN packets that belong to no connection.",
        "tcp-anomaly" => "A flood of TCP packets with flag combinations normal stacks never send (such as SYN with ECN bits, or no flags at all).",
        "synack-reflection" => "SYN-ACK reflection: SYNs with the target's address forged were sent to many servers, which answer the target with SYN-ACKs it never asked for.",
        "udp-flood" => "A flood of UDP packets to the target.",
        "icmp-flood" => "A flood of ICMP packets to the target.",
        "ip-fragment-flood" => "A flood of IP fragments, which the target must hold while it waits for the rest of each datagram.",
        "gre-flood" => "A flood of GRE packets to the target.",
        "ip-proto-flood" => "A flood of packets of a rare or random IP protocol.",
        "quic-flood" => "A flood of QUIC (UDP 443) packets to the target.",
        "udp-reflection" => "UDP reflection from an unidentified service: many servers answer the target from one fixed source port with traffic it never asked for, because the attacker forged the target's address in requests to them.",
        "dns-water-torture" => "DNS water torture: queries for random subdomains of one zone, which no cache can answer, so every one reaches the zone's authoritative servers.",
        "carpet-bombing" => "",
        "port-scan" => "A port scan: one source trying many ports of a host, looking for services to attack.",
        "host-scan" => "A host scan: one source trying many addresses of a network, looking for hosts to attack.",
        _ => "",
    };
    if !s.is_empty() {
        return s.to_string();
    }
    if vector == "carpet-bombing" {
        return format!(
            "Carpet bombing: a {} spread over many addresses of one prefix, so that no single \
             address crosses a per-host threshold.",
            carpet_of.unwrap_or("flood")
        );
    }
    if let Some(service) = vector.strip_suffix("-reflection") {
        return format!(
            "{service} reflection/amplification: requests with the target's address forged were \
             sent to many {service} servers, which answer the target with larger responses it \
             never asked for."
        );
    }
    format!("An attack of the `{vector}` kind.")
}

/// Exact nonzero length bins turned into at most `bars` contiguous bins of equal width (empty
/// ones included, so the chart reads as a histogram).
fn coarse_lengths(bins: &[LengthBin], bars: usize) -> Vec<LengthBin> {
    let (Some(first), Some(last)) = (bins.first(), bins.last()) else {
        return Vec::new();
    };
    let (lo, hi) = (first.low, last.high);
    let span = u64::from(hi - lo) + 1;
    let width = span.div_ceil(bars as u64).max(1);
    // Round widths above 8 bytes to a multiple of 8 so the edges read well.
    let width = if width > 8 {
        width.div_ceil(8) * 8
    } else {
        width
    } as u32;
    let n = (span as u32).div_ceil(width) as usize;
    let mut out: Vec<LengthBin> = (0..n)
        .map(|i| {
            let low = lo + i as u32 * width;
            LengthBin {
                low,
                high: (low + width - 1).min(hi),
                packets: 0,
            }
        })
        .collect();
    for b in bins {
        let i = ((b.low - lo) / width) as usize;
        out[i.min(n - 1)].packets += b.packets;
    }
    out
}

/// The network an address is counted under: /24 for IPv4, /48 for IPv6.
fn network_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

fn networks(sources: &[(IpAddr, u64)], of: u64, n: usize) -> Vec<Tally> {
    let mut by: HashMap<String, u64> = HashMap::new();
    for &(ip, c) in sources {
        *by.entry(network_of(ip)).or_default() += c;
    }
    let mut v: Vec<Tally> = by
        .into_iter()
        .map(|(name, packets)| Tally {
            name,
            label: None,
            packets,
            share: packets as f64 / of.max(1) as f64,
        })
        .collect();
    v.sort_by(|a, b| b.packets.cmp(&a.packets).then_with(|| a.name.cmp(&b.name)));
    v.truncate(n);
    v
}

/// The timeline stacked by vector, with the traffic of no attack on top.
fn timeline(a: &Analysis, d: &Details) -> TimelineView {
    let t = &d.timeline;
    let n = t.packets.len();
    let mut series: Vec<Series> = Vec::new();
    let mut attack_p = vec![0u64; n];
    let mut attack_b = vec![0u64; n];
    for at in &a.attacks {
        let s = match series.iter().position(|s| s.name == at.vector) {
            Some(i) => &mut series[i],
            None => {
                series.push(Series {
                    name: at.vector.clone(),
                    packets: vec![0; n],
                    bytes: vec![0; n],
                });
                series.last_mut().expect("just pushed")
            }
        };
        let (p, b) = (&t.attack_packets[at.finding], &t.attack_bytes[at.finding]);
        for i in 0..n {
            // A packet in two attacks (a flood also counted in a carpet) is drawn once.
            let room_p = t.packets[i] - attack_p[i];
            let room_b = t.bytes[i] - attack_b[i];
            let (dp, db) = (p[i].min(room_p), b[i].min(room_b));
            s.packets[i] += dp;
            s.bytes[i] += db;
            attack_p[i] += dp;
            attack_b[i] += db;
        }
    }
    series.push(Series {
        name: "other".into(),
        packets: (0..n).map(|i| t.packets[i] - attack_p[i]).collect(),
        bytes: (0..n).map(|i| t.bytes[i] - attack_b[i]).collect(),
    });
    let per_s = 1.0 / t.bucket_s.max(1e-9);
    TimelineView {
        bucket_s: t.bucket_s,
        start_epoch: t.start_epoch,
        peak_pps: t.packets.iter().copied().max().unwrap_or(0) as f64 * per_s,
        peak_bps: t.bytes.iter().copied().max().unwrap_or(0) as f64 * 8.0 * per_s,
        series,
        windows: a
            .attacks
            .iter()
            .map(|at| Window {
                attack: at.id,
                vector: at.vector.clone(),
                start_epoch: at.start_epoch,
                end_epoch: at.end_epoch,
            })
            .collect(),
    }
}

fn summarise(a: &Analysis, d: &Details, sim: &Simulation, enricher: &Enricher) -> ExecutiveSummary {
    let mut vectors: Vec<String> = Vec::new();
    for at in &a.attacks {
        if !vectors.contains(&at.vector) {
            vectors.push(at.vector.clone());
        }
    }
    let peak = |f: fn(&levee_analyze::report::Attack) -> f64| {
        a.attacks
            .iter()
            .max_by(|x, y| f(x).total_cmp(&f(y)).then(y.id.cmp(&x.id)))
            .map(|at| Peak {
                attack: at.id,
                vector: at.vector.clone(),
                value: f(at),
            })
    };
    // Time under attack: the union of the attack windows.
    let mut spans: Vec<(f64, f64)> = a
        .attacks
        .iter()
        .map(|at| (at.start_epoch, at.end_epoch))
        .collect();
    spans.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut duration = 0.0;
    let mut cur: Option<(f64, f64)> = None;
    for (s, e) in spans {
        cur = match cur {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                duration += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = cur {
        duration += ce - cs;
    }
    let attack_packets: u64 = a.attacks.iter().map(|at| at.packets).sum();
    let mut targets: HashMap<String, u64> = HashMap::new();
    for at in &a.attacks {
        for t in &at.targets {
            if let Some(name) = t.ip.as_ref().or(t.prefix.as_ref()) {
                *targets.entry(name.clone()).or_default() += t.packets;
            }
        }
    }
    let main_target = targets
        .into_iter()
        .max_by(|x, y| x.1.cmp(&y.1).then_with(|| y.0.cmp(&x.0)))
        .map(|(name, packets)| Tally {
            name,
            label: None,
            share: packets as f64 / attack_packets.max(1) as f64,
            packets,
        });
    let all_sources: Vec<(IpAddr, u64)> = a
        .attacks
        .iter()
        .flat_map(|at| d.attacks[at.finding].sources.iter().copied())
        .collect();
    let first = |v: Option<Vec<Tally>>| v.and_then(|v| v.into_iter().find(|t| t.name != "unknown"));
    let stopped: u64 = sim.attacks.iter().map(|s| s.stopped.dropped_packets).sum();
    ExecutiveSummary {
        attacks: a.attacks.len(),
        vectors,
        largest_pps: peak(|at| at.peak_pps),
        largest_bps: peak(|at| at.peak_bps),
        attack_duration_s: duration,
        main_target,
        top_source_network: networks(&all_sources, attack_packets, 1).pop(),
        top_source_asn: first(enricher.asns(&all_sources, attack_packets)),
        top_source_country: first(enricher.countries(&all_sources, attack_packets)),
        attack_packets,
        attack_packets_stopped: stopped,
        rules_stop_attack_share: stopped as f64 / attack_packets.max(1) as f64,
        good_packets: sim.other.of_packets,
        good_packets_stopped: sim.other.dropped_packets,
        rules_stop_good_share: sim.other.share,
    }
}

/// The appendix: how each figure was computed.
fn method(a: &Analysis, t: &TimelineView) -> Vec<MethodNote> {
    let s = &a.settings;
    let note = |figure: &str, method: String| MethodNote {
        figure: figure.into(),
        method,
    };
    vec![
        note("Packets, bytes, start, end", "Every packet of the captures is read; bytes are the lengths on the wire as the capture recorded them. Times are UTC, from the capture's own timestamps.".into()),
        note("Attacks and vectors", format!(
            "Each packet is classified by the vector it could belong to (by protocol, TCP flags, and for UDP the service of its source port). A class is an attack when its rate reaches {} packets/s in {} s buckets, it holds at least {} packets, and at least {:.0}% of them carry evidence of attack traffic (unsolicited responses, handshakes never completed, packets outside any connection), or when its rate rises {}-fold over its own earlier traffic.",
            s.min_pps, s.bucket_s, s.min_packets, s.min_evidence * 100.0, s.baseline_factor)),
        note("Attack packets and bytes", "Counted exactly in a second pass: the packets of the attack's class, to its targets, within its window, that carry its evidence.".into()),
        note("Peak pps and bps", format!("The highest packet and bit rate of the attack in any {} s bucket.", s.bucket_s)),
        note("Timeline", format!("Packets and bytes per {} s bucket over the whole capture, divided by the bucket's length. Attacks of the same vector are drawn as one band; `other` is the traffic that belongs to no attack; stacked, the bands add up to all traffic.", t.bucket_s)),
        note("Distinct sources", "A HyperLogLog estimate (about 1% error) over the attack's evidence-carrying packets.".into()),
        note("Top sources, source networks, countries, ASes", "From a bounded heavy-hitter sketch (Misra-Gries) of each attack's sources in the second pass: counts are lower bounds, off by at most the stated error. Networks group sources by /24 (IPv4) or /48 (IPv6). Countries and ASes are looked up for the heaviest sources only, in the MaxMind databases given; shares are of all the attack's packets, so they can add up to less than 100%.".into()),
        note("Spoofing verdict", "From the distinct-source count per packet, the share of bogon sources, the spread of TTLs (random TTLs or one TTL for many sources), a fixed IP ID, whether the busiest sources keep one TTL, and whether handshakes complete.".into()),
        note("TTL, length and port histograms", "Exact counts over the attack's packets in the second pass; lengths are IP total lengths.".into()),
        note("Signature coverage and collateral", "Candidate expressions are built from the fields nearly all of the attack's packets share. Each is evaluated on every packet: coverage is the share of the attack's packets it matches, collateral the share of all other packets it matches. The reported signature has the least collateral among those covering at least 95%, then the most specific.".into()),
        note("Rules per engine", "The signature compiled by `levee rules compile` for each engine. The compilers are exact: the tests apply them in the real engines (tcpdump for BPF, nftables and iptables in a network namespace) and compare the packets they match with the expression's.".into()),
        note("What the rules stop", "The rules are applied in order, first match wins, to every packet of the captures in capture order, beside the analysis: a packet an attack holds counts as attack traffic stopped; any other packet it drops counts against good traffic.".into()),
    ]
}

/// A one-line description of a sample packet: addresses, ports, protocol, length, TTL, flags.
pub fn sample_line(s: &Sample) -> String {
    let f: HashMap<&str, &str> = s
        .fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let get = |k: &str| f.get(k).copied();
    let port = |p: &str, u: &str| get(p).or(get(u));
    let mut line = String::new();
    let host = |ip: Option<&str>, port: Option<&str>| match (ip, port) {
        (Some(ip), Some(p)) if ip.contains(':') => format!("[{ip}]:{p}"),
        (Some(ip), Some(p)) => format!("{ip}:{p}"),
        (Some(ip), None) => ip.to_string(),
        _ => "?".to_string(),
    };
    line.push_str(&host(get("ip.src"), port("tcp.srcport", "udp.srcport")));
    line.push_str(" → ");
    line.push_str(&host(get("ip.dst"), port("tcp.dstport", "udp.dstport")));
    if get("tcp.srcport").is_some() {
        line.push_str(" TCP");
        if let Some(fl) = get("tcp.flags.str") {
            line.push_str(&format!(" [{fl}]"));
        }
    } else if get("udp.srcport").is_some() {
        line.push_str(" UDP");
    } else if let Some(t) = get("icmp.type") {
        line.push_str(&format!(
            " ICMP type {t} code {}",
            get("icmp.code").unwrap_or("?")
        ));
    } else if let Some(p) = get("ip.proto") {
        line.push_str(&format!(" proto {p}"));
    }
    if let Some(l) = get("ip.len") {
        line.push_str(&format!(" len {l}"));
    }
    if let Some(t) = get("ip.ttl") {
        line.push_str(&format!(" ttl {t}"));
    }
    if get("ip.frag") == Some("true") {
        line.push_str(" fragment");
    }
    if let Some(app) = get("app.protocol") {
        line.push_str(&format!(" {app}"));
        if let Some(q) = get("dns.qry.name") {
            line.push_str(&format!(" {q}"));
        }
    }
    line
}

/// The files a report writes into its directory.
pub const FILES: [&str; 3] = ["report.html", "report.md", "report.json"];

/// A report levee writes: the capture report ([`Report`]) or the access-log report
/// ([`logs::LogReport`]). Both go through one pipeline: [`render`] makes the three files'
/// texts, and the command writes them and tells where with the [`Document::headline`].
pub trait Document: serde::Serialize {
    /// `report.html`.
    fn html(&self) -> String;
    /// `report.md`.
    fn markdown(&self) -> String;
    /// What the report found and what its rules do, in one line, for the terminal.
    fn headline(&self) -> String;
}

/// `s.vectors` after a colon, or nothing when no attack was found.
fn vectors_after_colon(vectors: &[String]) -> String {
    if vectors.is_empty() {
        String::new()
    } else {
        format!(": {}", vectors.join(", "))
    }
}

impl Document for Report {
    fn html(&self) -> String {
        html::render(self)
    }

    fn markdown(&self) -> String {
        markdown::render(self)
    }

    fn headline(&self) -> String {
        let s = &self.summary;
        format!(
            "{} attack(s){}; the {} rules stop {:.2}% of the attack packets and {:.3}% of the other traffic",
            s.attacks,
            vectors_after_colon(&s.vectors),
            self.mitigation.source,
            s.rules_stop_attack_share * 100.0,
            s.rules_stop_good_share * 100.0,
        )
    }
}

impl Document for logs::LogReport {
    fn html(&self) -> String {
        logs_page::html(self)
    }

    fn markdown(&self) -> String {
        logs_page::markdown(self)
    }

    fn headline(&self) -> String {
        let s = &self.summary;
        format!(
            "{} attack(s){}; the {} rules stop {:.2}% of the attack requests and limit or block {} of {} good clients",
            s.attacks,
            vectors_after_colon(&s.vectors),
            self.mitigation.source,
            s.rules_stop_attack_share * 100.0,
            s.good_clients_limited_or_blocked,
            s.clients_good,
        )
    }
}

/// The texts of `report.html`, `report.md` and `report.json` (in the order of [`FILES`]).
pub fn render(report: &impl Document) -> Result<[String; 3], ReportError> {
    Ok([
        report.html(),
        report.markdown(),
        serde_json::to_string_pretty(report)? + "\n",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_lengths_cover_the_range_in_equal_bins() {
        let bins = vec![
            LengthBin {
                low: 40,
                high: 40,
                packets: 5,
            },
            LengthBin {
                low: 1500,
                high: 1500,
                packets: 7,
            },
        ];
        let c = coarse_lengths(&bins, 48);
        assert!(c.len() <= 48);
        assert_eq!(c.first().unwrap().low, 40);
        assert!(c.last().unwrap().high >= 1500);
        assert_eq!(c.iter().map(|b| b.packets).sum::<u64>(), 12);
        assert!(c.windows(2).all(|w| w[1].low == w[0].high + 1));
        // Narrow ranges stay exact.
        let exact = coarse_lengths(&bins[..1], 48);
        assert_eq!(exact.len(), 1);
        assert_eq!((exact[0].low, exact[0].high), (40, 40));
        assert!(coarse_lengths(&[], 48).is_empty());
    }

    #[test]
    fn networks_group_by_24_and_48() {
        let v = networks(
            &[
                ("192.0.2.1".parse().unwrap(), 3),
                ("192.0.2.200".parse().unwrap(), 2),
                ("198.51.100.1".parse().unwrap(), 4),
                ("2001:db8:1:2::1".parse().unwrap(), 1),
            ],
            10,
            10,
        );
        assert_eq!(v[0].name, "192.0.2.0/24");
        assert_eq!(v[0].packets, 5);
        assert!((v[0].share - 0.5).abs() < 1e-12);
        assert_eq!(v[1].name, "198.51.100.0/24");
        assert_eq!(v[2].name, "2001:db8:1::/48");
    }

    #[test]
    fn every_vector_has_an_explanation() {
        for v in [
            "syn-flood",
            "dns-reflection",
            "carpet-bombing",
            "udp-reflection",
        ] {
            let e = explain(v, Some("syn-flood"));
            assert!(e.len() > 30 && !e.contains("kind"), "{v}: {e}");
        }
        assert!(explain("carpet-bombing", Some("udp-flood")).contains("udp-flood"));
        assert!(explain("memcached-reflection", None).starts_with("memcached reflection"));
    }
}
