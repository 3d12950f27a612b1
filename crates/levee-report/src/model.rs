//! The report document (`report.json`): the analysis, unchanged, and everything the HTML and
//! Markdown reports show beyond it. The schema is written down in `docs/report-json.md`;
//! change both together.

use levee_analyze::detail::{LengthBin, PortHistogram, Sample};
use levee_analyze::simulate::Simulation;
use levee_analyze::Analysis;
use serde::Serialize;

/// Version of this document's schema; raised when a field changes meaning or goes away.
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub report_version: u32,
    /// The program and version that wrote the report.
    pub generator: String,
    pub title: String,
    pub summary: ExecutiveSummary,
    /// The `levee analyze --json` document of the same captures.
    pub analysis: Analysis,
    pub timeline: TimelineView,
    /// One per attack of the analysis, in the same order.
    pub attacks: Vec<AttackSection>,
    pub mitigation: Mitigation,
    pub enrichment: EnrichmentInfo,
    /// How each figure was computed (the report's appendix).
    pub method: Vec<MethodNote>,
}

/// The figures at the top of the report.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutiveSummary {
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
    pub top_source_country: Option<Tally>,
    /// Attack packets (summed over attacks) and how many of them the rules stop.
    pub attack_packets: u64,
    pub attack_packets_stopped: u64,
    /// `attack_packets_stopped / attack_packets`.
    pub rules_stop_attack_share: f64,
    /// Packets that belong to no attack, and how many of them the rules would also stop.
    pub good_packets: u64,
    pub good_packets_stopped: u64,
    /// `good_packets_stopped / good_packets`.
    pub rules_stop_good_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Peak {
    pub attack: usize,
    pub vector: String,
    pub value: f64,
}

/// Something counted in packets, with its share of the whole it belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct Tally {
    pub name: String,
    /// A longer description where there is one (an AS's organisation, a country's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub packets: u64,
    pub share: f64,
}

/// Packets and bytes per bucket over the whole capture, stacked by vector.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineView {
    pub bucket_s: f64,
    pub start_epoch: f64,
    /// One series per vector (attacks of the same vector added together), then the traffic
    /// that belongs to no attack as `other`. Stacked, they add up to the capture's traffic.
    pub series: Vec<Series>,
    /// Each attack's window, to mark on the chart.
    pub windows: Vec<Window>,
    pub peak_pps: f64,
    pub peak_bps: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub packets: Vec<u64>,
    pub bytes: Vec<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub attack: usize,
    pub vector: String,
    pub start_epoch: f64,
    pub end_epoch: f64,
}

/// What the report shows of one attack beyond the analysis's own figures.
#[derive(Debug, Clone, Serialize)]
pub struct AttackSection {
    pub id: usize,
    pub vector: String,
    /// A sentence saying what the attack is, for the customer.
    pub explanation: String,
    /// (TTL, packets) for every TTL seen in the attack.
    pub ttl_histogram: Vec<(u8, u64)>,
    /// IP total length, in at most [`crate::LENGTH_BARS`] bins.
    pub length_histogram: Vec<LengthBin>,
    pub source_ports: PortHistogram,
    pub destination_ports: PortHistogram,
    /// The heaviest sources, with their country and AS when databases are given.
    pub top_sources: Vec<SourceRow>,
    /// Source networks (/24, /48) of the heaviest sources.
    pub source_networks: Vec<Tally>,
    /// Packets the source sketch counted per source, and its bound.
    pub sources_counted: u64,
    pub sources_error: u64,
    /// Countries and ASes of the heaviest sources; `None` without a database.
    pub countries: Option<Vec<Tally>>,
    pub asns: Option<Vec<Tally>>,
    /// The attack's signature as a rule for each engine.
    pub rules: Vec<EngineRule>,
    /// What the applied rules stop of this attack.
    pub stopped_packets: u64,
    pub stopped_share: f64,
    pub samples: Vec<Sample>,
}

/// One of the heaviest sources of an attack.
#[derive(Debug, Clone, Serialize)]
pub struct SourceRow {
    pub ip: String,
    /// Packets counted (a lower bound, see `sources_error`).
    pub packets: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
}

/// A rule in one engine's language, or why that engine cannot express it.
#[derive(Debug, Clone, Serialize)]
pub struct EngineRule {
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// For an attack's rule: the expression compiled (the signature or an alternative) and
    /// its measured coverage and collateral.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
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
    pub simulation: Simulation,
    /// The whole rules file for each engine.
    pub compiled: Vec<EngineRule>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnrichmentInfo {
    /// The country database used, if any.
    pub geoip: Option<String>,
    /// The AS database used, if any.
    pub asn: Option<String>,
    /// Said in the report when a database is missing.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MethodNote {
    pub figure: String,
    pub method: String,
}
