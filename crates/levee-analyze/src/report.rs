//! The analysis document (`levee analyze --json`). The schema is written down in
//! `docs/analyze-json.md`; change both together.

use serde::Serialize;

use crate::summary::FileInfo;

/// The `levee analyze --json` document of captures (schema in `docs/analyze-json.md`).
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// The captures read, with their totals.
    pub capture: CaptureInfo,
    /// The thresholds the analysis ran with.
    pub settings: Settings,
    /// How many of the packets were profiled and measured (see [`crate::sample`]).
    pub sampling: Sampling,
    /// The attacks found, in order of start.
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

/// The captures read, and what they held.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureInfo {
    /// Each file, in the order given.
    pub files: Vec<FileInfo>,
    /// Packets read.
    pub packets: u64,
    /// Bytes read (lengths on the wire).
    pub bytes: u64,
    /// The first packet's time (UTC, RFC 3339).
    pub start: Option<String>,
    /// The last packet's time (UTC, RFC 3339).
    pub end: Option<String>,
    /// The first packet's time, seconds since 1970.
    pub start_epoch: Option<f64>,
    /// The last packet's time, seconds since 1970.
    pub end_epoch: Option<f64>,
    /// From the first packet to the last, in seconds.
    pub duration_s: f64,
    /// Records skipped or flagged as damaged.
    pub damaged_records: u64,
    /// Packets without a decodable IP packet and transport header (not Ethernet/IP at all,
    /// or cut short): they are counted but can belong to no attack.
    pub undecoded_packets: u64,
}

/// The thresholds and settings an analysis ran with.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Width of a rate bucket, in seconds.
    pub bucket_s: f64,
    /// Packets a second a class must reach to be an attack (`--min-pps`).
    pub min_pps: f64,
    /// Packets a class must hold to be an attack (`--min-packets`).
    pub min_packets: u64,
    /// Distinct sources a flood must come from (`--min-sources`).
    pub min_flood_sources: u64,
    /// Distinct reflectors a reflection must come from (`--min-reflectors`).
    pub min_reflectors: u64,
    /// Share of a flood class's packets in its window that must carry its evidence.
    pub min_evidence: f64,
    /// Rise over a class's earlier rate that counts as an attack from few sources.
    pub baseline_factor: f64,
    /// Most collateral a generated rule may have and still block (`--block-collateral`).
    pub block_collateral: f64,
    /// The capture was sampled one packet in this many before it was saved
    /// (`--sampling-rate`; 1: not sampled).
    pub sampling_rate: u64,
}

/// One attack: what, when, how much, at whom, from whom, why, and the rule that stops it.
#[derive(Debug, Clone, Serialize)]
pub struct Attack {
    /// 1-based, in order of start time.
    pub id: usize,
    /// Index of the finding the attack was measured as (links second-pass membership to it).
    #[serde(skip)]
    pub finding: usize,
    /// The vector (`syn-flood`, `dns-reflection`, `carpet-bombing`...).
    pub vector: String,
    /// For `carpet-bombing`: the vector spread over the prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carpet_of: Option<String>,
    /// Its first packet's time (UTC, RFC 3339).
    pub start: String,
    /// Its last packet's time (UTC, RFC 3339).
    pub end: String,
    /// Its first packet's time, seconds since 1970.
    pub start_epoch: f64,
    /// Its last packet's time, seconds since 1970.
    pub end_epoch: f64,
    /// From its first packet to its last, in seconds.
    pub duration_s: f64,
    /// Packets and wire bytes of the attack: its class, to its targets, within its window.
    pub packets: u64,
    /// Its bytes on the wire.
    pub bytes: u64,
    /// Its peak packet rate, per second.
    pub peak_pps: f64,
    /// Its peak bit rate, per second.
    pub peak_bps: f64,
    /// Its mean packet rate over its duration.
    pub mean_pps: f64,
    /// Its mean bit rate over its duration.
    pub mean_bps: f64,
    /// Share of all packets of the capture.
    pub share_of_capture: f64,
    /// Its targets: addresses, or prefixes for carpet bombing.
    pub targets: Vec<Target>,
    /// Its sources, and whether they are forged.
    pub sources: Sources,
    /// Its packets' IP lengths.
    pub packet_sizes: SizeSummary,
    /// The rule expression that matches it, measured.
    pub signature: Signature,
    /// Why it is an attack, in sentences (see `evidence::Evidence`), then how its peak was
    /// measured.
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
    /// Its packets.
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Their distinct sources (estimated).
    pub distinct_sources: u64,
    /// The first one's time (UTC, RFC 3339).
    pub start: String,
    /// The last one's time (UTC, RFC 3339).
    pub end: String,
    /// Why they belong to the attack.
    pub why: String,
}

/// One target of an attack.
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

/// A port and its packets.
#[derive(Debug, Clone, Serialize)]
pub struct PortCount {
    /// The port.
    pub port: u16,
    /// Its packets.
    pub packets: u64,
}

/// An attack's sources.
#[derive(Debug, Clone, Serialize)]
pub struct Sources {
    /// Distinct sources (estimated).
    pub distinct_estimate: u64,
    /// The busiest sources.
    pub top: Vec<SourceCount>,
    /// Whether the source addresses are probably forged. Reflectors are real hosts (the victim's
    /// address was forged in their requests), so this is false for reflection vectors.
    pub spoofed_likely: bool,
    /// Why the sources look forged, or are reflectors, in sentences (see
    /// `evidence::SourceEvidence`).
    pub evidence: Vec<String>,
    /// Of the busiest sources seen more than once, the share that kept one TTL (±2); null
    /// when fewer than five were seen more than once.
    pub ttl_steady_share: Option<f64>,
    /// Share of packets from private, reserved or unallocated addresses.
    pub bogon_share: f64,
    /// The TTLs of the attack's packets.
    pub ttl: TtlSummary,
}

/// A source and its packets.
#[derive(Debug, Clone, Serialize)]
pub struct SourceCount {
    /// The address.
    pub ip: String,
    /// Its packets (sketch estimate).
    pub packets: u64,
}

/// The TTLs of an attack's packets.
#[derive(Debug, Clone, Serialize)]
pub struct TtlSummary {
    /// The lowest.
    pub min: u8,
    /// The highest.
    pub max: u8,
    /// How many distinct values.
    pub distinct: u16,
    /// The most common values with their packet counts.
    pub top: Vec<(u8, u64)>,
}

/// The IP lengths of an attack's packets.
#[derive(Debug, Clone, Serialize)]
pub struct SizeSummary {
    /// IP total length (bytes), over the packets that have one.
    pub min: u32,
    /// The largest.
    pub max: u32,
    /// The median.
    pub median: u32,
    /// The most common lengths with their packets.
    pub top: Vec<(u32, u64)>,
}

/// An attack's signature: a rule expression and what it matches of the attack, of the rest and of
/// traffic every network needs.
#[derive(Debug, Clone, Serialize)]
pub struct Signature {
    /// The rule expression (Cloudflare Rules / wirefilter syntax).
    pub expression: String,
    /// Share of the attack's packets the expression matches.
    pub coverage: f64,
    /// Share of the capture's other packets the expression matches.
    pub collateral: f64,
    /// The attack's packets.
    pub attack_packets: u64,
    /// Of them, packets the expression matches.
    pub matched_attack_packets: u64,
    /// The capture's packets that belong to no attack.
    pub other_packets: u64,
    /// Of them, packets the expression matches.
    pub matched_other_packets: u64,
    /// Share of levee's benign reference (traffic every network needs, addressed to the
    /// attack's targets) the expression matches.
    pub reference_collateral: f64,
    /// Packets of the benign reference.
    pub reference_packets: u64,
    /// Of them, packets the expression matches.
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

/// A signature pinned to fields an attacker varies for free, against the same without them.
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
    /// Why that one.
    pub why: String,
}

/// A class of the benign reference a signature matches.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceClass {
    /// The class (`handshake-linux`, `pmtud`...).
    pub class: String,
    /// Its packets the signature matches.
    pub packets: u64,
}

/// A candidate expression, measured.
#[derive(Debug, Clone, Serialize)]
pub struct MeasuredExpression {
    /// The expression.
    pub expression: String,
    /// Share of the attack it matches.
    pub coverage: f64,
    /// Share of the other traffic it matches.
    pub collateral: f64,
    /// Share of the benign reference it matches.
    pub reference_collateral: f64,
}

/// A class of traffic with the volume of an attack that was not called one.
#[derive(Debug, Clone, Serialize)]
pub struct Dismissed {
    /// The vector it would have been.
    pub vector: String,
    /// Its packets.
    pub packets: u64,
    /// Its peak rate, packets a second.
    pub peak_pps: f64,
    /// Its distinct sources (estimated).
    pub distinct_sources: u64,
    /// Why it is not an attack (see `detect::DismissReason`).
    pub reason: String,
}
