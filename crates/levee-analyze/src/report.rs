//! The analysis document (`levee analyze --json`). The schema is written down in
//! `docs/analyze-json.md`; change both together.

use serde::Serialize;

use crate::summary::FileInfo;

#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub capture: CaptureInfo,
    pub settings: Settings,
    /// How many of the packets were profiled and measured (see [`crate::sample`]).
    pub sampling: Sampling,
    pub attacks: Vec<Attack>,
    /// Classes of traffic with enough volume to look at that were not called attacks, and why.
    pub not_attacks: Vec<Dismissed>,
    /// Caveats about the analysis itself (for example flow filters too full to trust).
    pub notes: Vec<String>,
}

/// The sample the attack figures were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Sampling {
    /// One packet in `one_in` was profiled and measured, and counts for `one_in` packets:
    /// attack packets, bytes, rates, coverage and collateral are estimates when above 1.
    /// Capture totals and the evidence of each measured packet are exact either way.
    pub one_in: u64,
    /// Packets measured in the second pass.
    pub measured_packets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaptureInfo {
    pub files: Vec<FileInfo>,
    pub packets: u64,
    pub bytes: u64,
    pub start: Option<String>,
    pub end: Option<String>,
    pub start_epoch: Option<f64>,
    pub end_epoch: Option<f64>,
    pub duration_s: f64,
    pub damaged_records: u64,
    /// Packets without a decodable IP packet and transport header (not Ethernet/IP at all,
    /// or cut short): they are counted but can belong to no attack.
    pub undecoded_packets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub bucket_s: f64,
    pub min_pps: f64,
    pub min_packets: u64,
    pub min_flood_sources: u64,
    pub min_reflectors: u64,
    pub min_evidence: f64,
    pub baseline_factor: f64,
    /// Most collateral a generated rule may have and still block (`--block-collateral`).
    pub block_collateral: f64,
    /// The capture was sampled one packet in this many before it was saved
    /// (`--sampling-rate`; 1: not sampled).
    pub sampling_rate: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attack {
    /// 1-based, in order of start time.
    pub id: usize,
    /// Index of the finding the attack was measured as (links second-pass membership to it).
    #[serde(skip)]
    pub finding: usize,
    pub vector: String,
    /// For `carpet-bombing`: the vector spread over the prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carpet_of: Option<String>,
    pub start: String,
    pub end: String,
    pub start_epoch: f64,
    pub end_epoch: f64,
    pub duration_s: f64,
    /// Packets and wire bytes of the attack: its class, to its targets, within its window.
    pub packets: u64,
    pub bytes: u64,
    pub peak_pps: f64,
    pub peak_bps: f64,
    pub mean_pps: f64,
    pub mean_bps: f64,
    /// Share of all packets of the capture.
    pub share_of_capture: f64,
    pub targets: Vec<Target>,
    pub sources: Sources,
    pub packet_sizes: SizeSummary,
    pub signature: Signature,
    pub evidence: Vec<String>,
    /// Set when the attack was found below the volume thresholds, on its evidence alone: why
    /// it is reported, and that its rule logs rather than blocks until its rate is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_rate: Option<String>,
    /// What the attack's forged requests made other hosts send the target (resets, ICMP
    /// errors): part of this attack, counted apart, never an attack of its own.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backscatter: Vec<Backscatter>,
}

/// Packets an attack causes rather than sends: see [`Attack::backscatter`].
#[derive(Debug, Clone, Serialize)]
pub struct Backscatter {
    /// `resets` or `icmp-errors`.
    pub kind: String,
    /// The vector these packets would be taken for on their own (`rst-flood`, `icmp-flood`).
    pub looks_like: String,
    pub packets: u64,
    pub bytes: u64,
    pub distinct_sources: u64,
    pub start: String,
    pub end: String,
    /// Why they belong to the attack.
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// A single address, or...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// ...a prefix (carpet bombing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Packets of the attack's class to this target over the whole capture (sketch estimate).
    pub packets: u64,
    /// Top destination ports of the attack (shared by its targets).
    pub ports: Vec<PortCount>,
    /// Exact number of distinct destination ports of the attack's class.
    pub distinct_ports: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortCount {
    pub port: u16,
    pub packets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sources {
    pub distinct_estimate: u64,
    pub top: Vec<SourceCount>,
    /// Whether the source addresses are probably forged. Reflectors are real hosts (the victim's
    /// address was forged in their requests), so this is false for reflection vectors.
    pub spoofed_likely: bool,
    pub evidence: Vec<String>,
    /// Of the busiest sources seen more than once, the share that kept one TTL (±2); null
    /// when fewer than five were seen more than once.
    pub ttl_steady_share: Option<f64>,
    pub bogon_share: f64,
    pub ttl: TtlSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceCount {
    pub ip: String,
    pub packets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TtlSummary {
    pub min: u8,
    pub max: u8,
    pub distinct: u16,
    /// The most common values with their packet counts.
    pub top: Vec<(u8, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeSummary {
    /// IP total length (bytes), over the packets that have one.
    pub min: u32,
    pub max: u32,
    pub median: u32,
    pub top: Vec<(u32, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// The rule expression (Cloudflare Rules / wirefilter syntax).
    pub expression: String,
    /// Share of the attack's packets the expression matches.
    pub coverage: f64,
    /// Share of the capture's other packets the expression matches.
    pub collateral: f64,
    pub attack_packets: u64,
    pub matched_attack_packets: u64,
    pub other_packets: u64,
    pub matched_other_packets: u64,
    /// Share of levee's benign reference (traffic every network needs, addressed to the
    /// attack's targets) the expression matches.
    pub reference_collateral: f64,
    pub reference_packets: u64,
    pub matched_reference_packets: u64,
    /// The reference's classes the expression matches, with the packets matched in each.
    pub reference_classes: Vec<ReferenceClass>,
    /// When the best signature pins a field an attacker changes for free (TTL, TCP window,
    /// IP ID): that signature and the same without those fields, both measured, and which
    /// one levee recommends (the one above) and why.
    pub volatile: Option<VolatileChoice>,
    /// Other expressions that were measured, most specific first, for the engineer who wants
    /// a broader or narrower rule.
    pub alternatives: Vec<MeasuredExpression>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VolatileChoice {
    /// The volatile fields the pinned signature uses.
    pub fields: Vec<String>,
    /// The signature with them.
    pub pinned: MeasuredExpression,
    /// The signature without them.
    pub robust: MeasuredExpression,
    /// `robust` or `pinned`: the one written as the rule.
    pub recommended: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReferenceClass {
    pub class: String,
    pub packets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeasuredExpression {
    pub expression: String,
    pub coverage: f64,
    pub collateral: f64,
    pub reference_collateral: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dismissed {
    pub vector: String,
    pub packets: u64,
    pub peak_pps: f64,
    pub distinct_sources: u64,
    pub reason: String,
}
