//! The report document (`report.json`): the analysis, unchanged, and everything the HTML and
//! Markdown reports show beyond it. The schema is written down in `docs/report-json.md`;
//! change both together.

use levee_analyze::detail::{LengthBin, PortHistogram, Sample};
use levee_analyze::simulate::Simulation;
use levee_analyze::Analysis;
use serde::Serialize;

/// Version of this document's schema; raised when a field changes meaning or goes away.
pub const REPORT_VERSION: u32 = 1;

/// The report of captures: `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Version of the schema ([`REPORT_VERSION`]).
    pub report_version: u32,
    /// The program and version that wrote the report.
    pub generator: String,
    /// The page's title.
    pub title: String,
    /// The figures at the top.
    pub summary: ExecutiveSummary,
    /// The `levee analyze --json` document of the same captures.
    pub analysis: Analysis,
    /// Packets and bytes per bucket, stacked by vector.
    pub timeline: TimelineView,
    /// One per attack of the analysis, in the same order.
    pub attacks: Vec<AttackSection>,
    /// The rules applied and what they do.
    pub mitigation: Mitigation,
    /// The country and AS databases used.
    pub enrichment: EnrichmentInfo,
    /// How each figure was computed (the report's appendix).
    pub method: Vec<MethodNote>,
}

/// The figures at the top of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutiveSummary {
    /// Attacks found.
    pub attacks: usize,
    /// Distinct vectors, in order of first appearance.
    pub vectors: Vec<String>,
    /// The attack with the highest packet rate, and that rate.
    pub largest_pps: Option<Peak>,
    /// The attack with the highest bit rate, and that rate.
    pub largest_bps: Option<Peak>,
    /// Time during which at least one attack was under way (overlaps counted once).
    pub attack_duration_s: f64,
    /// The target that received the most attack packets.
    pub main_target: Option<Tally>,
    /// The busiest source network (/24 for IPv4, /48 for IPv6) over all attacks.
    pub top_source_network: Option<Tally>,
    /// The busiest source AS and country (with `--asn` / `--geoip` databases).
    pub top_source_asn: Option<Tally>,
    /// The busiest source country (with a `--geoip` database).
    pub top_source_country: Option<Tally>,
    /// Attack packets (summed over attacks) and how many of them the rules stop.
    pub attack_packets: u64,
    /// Of them, packets the rules stop.
    pub attack_packets_stopped: u64,
    /// `attack_packets_stopped / attack_packets`.
    pub rules_stop_attack_share: f64,
    /// Packets that belong to no attack, and how many of them the rules would also stop.
    pub good_packets: u64,
    /// Of them, packets the rules would also stop.
    pub good_packets_stopped: u64,
    /// `good_packets_stopped / good_packets`.
    pub rules_stop_good_share: f64,
}

/// An attack's peak rate.
#[derive(Debug, Clone, Serialize)]
pub struct Peak {
    /// The attack's id.
    pub attack: usize,
    /// Its vector.
    pub vector: String,
    /// The rate (packets, bits or requests a second).
    pub value: f64,
}

/// Something counted in packets, with its share of the whole it belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct Tally {
    /// What is counted: an address, a network, a country or AS code.
    pub name: String,
    /// A longer description where there is one (an AS's organisation, a country's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Its packets.
    pub packets: u64,
    /// Their share of the whole.
    pub share: f64,
}

/// Packets and bytes per bucket over the whole capture, stacked by vector.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineView {
    /// Width of a bucket, in seconds.
    pub bucket_s: f64,
    /// Start of the first bucket, seconds since 1970.
    pub start_epoch: f64,
    /// One series per vector (attacks of the same vector added together), then the traffic
    /// that belongs to no attack as `other`. Stacked, they add up to the capture's traffic.
    pub series: Vec<Series>,
    /// Each attack's window, to mark on the chart.
    pub windows: Vec<Window>,
    /// The highest packet rate of all traffic, per second.
    pub peak_pps: f64,
    /// The highest bit rate of all traffic, per second.
    pub peak_bps: f64,
}

/// One stacked series of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    /// The vector, or `other`.
    pub name: String,
    /// Packets (requests, in the log report) per bucket.
    pub packets: Vec<u64>,
    /// Bytes per bucket.
    pub bytes: Vec<u64>,
}

/// An attack's window, marked on the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct Window {
    /// The attack's id.
    pub attack: usize,
    /// Its vector.
    pub vector: String,
    /// Its start, seconds since 1970.
    pub start_epoch: f64,
    /// Its end, seconds since 1970.
    pub end_epoch: f64,
}

/// What the report shows of one attack beyond the analysis's own figures.
#[derive(Debug, Clone, Serialize)]
pub struct AttackSection {
    /// The attack's id in the analysis.
    pub id: usize,
    /// Its vector.
    pub vector: String,
    /// A sentence saying what the attack is, for the customer.
    pub explanation: String,
    /// (TTL, packets) for every TTL seen in the attack.
    pub ttl_histogram: Vec<(u8, u64)>,
    /// IP total length, in at most [`crate::LENGTH_BARS`] bins.
    pub length_histogram: Vec<LengthBin>,
    /// Source ports: the busiest, and how many distinct.
    pub source_ports: PortHistogram,
    /// Destination ports: the busiest, and how many distinct.
    pub destination_ports: PortHistogram,
    /// The heaviest sources, with their country and AS when databases are given.
    pub top_sources: Vec<SourceRow>,
    /// Source networks (/24, /48) of the heaviest sources.
    pub source_networks: Vec<Tally>,
    /// Packets the source sketch counted per source, and its bound.
    pub sources_counted: u64,
    /// The most a source's count may be below its true count.
    pub sources_error: u64,
    /// Countries and ASes of the heaviest sources; `None` without a database.
    pub countries: Option<Vec<Tally>>,
    /// ASes of the heaviest sources; `None` without a database.
    pub asns: Option<Vec<Tally>>,
    /// The attack's signature as a rule for each engine.
    pub rules: Vec<EngineRule>,
    /// What the applied rules stop of this attack.
    pub stopped_packets: u64,
    /// `stopped_packets` over the attack's packets.
    pub stopped_share: f64,
    /// A few of its packets, decoded.
    pub samples: Vec<Sample>,
}

/// One of the heaviest sources of an attack.
#[derive(Debug, Clone, Serialize)]
pub struct SourceRow {
    /// The address.
    pub ip: String,
    /// Packets counted (a lower bound, see `sources_error`).
    pub packets: u64,
    /// Its country's ISO code (with `--geoip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Its AS number, as `AS64500` (with `--asn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<String>,
    /// Its AS's organisation (with `--asn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
}

/// A rule in one engine's language, or why that engine cannot express it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineRule {
    /// The engine (`nftables`, `iptables`, `bpf`...).
    pub target: String,
    /// The rule (or rules file) in the engine's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Why the engine cannot express it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// For an attack's rule: the expression compiled (the signature or an alternative) and
    /// its measured coverage and collateral.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Share of the attack the compiled expression matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
    /// Share of the other traffic it matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collateral: Option<f64>,
    /// Why an alternative was compiled instead of the signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl EngineRule {
    /// A whole rules file compiled for `target`, or why `target` refused it.
    pub fn compiled<E: std::fmt::Display>(target: &str, result: Result<String, E>) -> EngineRule {
        let (text, refused) = match result {
            Ok(text) => (Some(text), None),
            Err(e) => (None, Some(e.to_string())),
        };
        EngineRule {
            target: target.to_string(),
            text,
            refused,
            expression: None,
            coverage: None,
            collateral: None,
            note: None,
        }
    }
}

/// The rules applied and what they do, measured on the captures.
#[derive(Debug, Clone, Serialize)]
pub struct Mitigation {
    /// `recommended` (the analysis's own rules) or `given` (`--rules FILE`).
    pub source: String,
    /// The rules file as TOML (`levee rules check` reads it).
    pub rules_toml: String,
    /// The applied rules measured on every packet, beside the attacks.
    pub simulation: Simulation,
    /// The whole rules file for each engine.
    pub compiled: Vec<EngineRule>,
}

/// The country and AS databases a report used.
#[derive(Debug, Clone, Serialize)]
pub struct EnrichmentInfo {
    /// The country database used, if any.
    pub geoip: Option<String>,
    /// The AS database used, if any.
    pub asn: Option<String>,
    /// Said in the report when a database is missing.
    pub note: Option<String>,
}

/// How one figure of the report was computed.
#[derive(Debug, Clone, Serialize)]
pub struct MethodNote {
    /// The figure.
    pub figure: String,
    /// How it was computed, and what it rests on.
    pub method: String,
}
