//! Deciding which classes hold attacks, after the first pass.
//!
//! A class is an attack when, in its busiest stretch of time (its *window*: the buckets at or
//! above a tenth of its peak rate), it reaches the volume thresholds and carries its vector's
//! evidence:
//!
//! | vector | evidence required |
//! |---|---|
//! | `syn-flood` | fewer than 20 % of SYNs followed by the handshake's ACK, and many sources (or a rise over the class's earlier rate from several sources) |
//! | `synack-reflection`, `<service>-reflection` | most responses unsolicited (no request seen the other way), from many reflectors |
//! | `ack-flood`, `rst-flood`, `fin-flood` | most packets outside any connection seen opening, and many sources (or a rise) |
//! | `udp-flood`, `quic-flood`, `icmp-flood`, `gre-flood`, `ip-proto-flood`, `ip-fragment-flood`, `tcp-anomaly` | most packets unanswered, and many sources (or a rise) |
//! | `dns-water-torture` | most queries for distinct names under one zone |
//! | `carpet-bombing` | any of the above spread over many addresses of one prefix, none dominant |
//! | `port-scan`, `host-scan` | one source probing many new ports (or addresses), few handshakes completed |
//!
//! "Many sources" (`min_flood_sources`) is what keeps one heavy transfer, a speed test or a
//! backup from ever being called a flood; "unsolicited"/"unanswered" is what keeps a busy
//! resolver or a popular site from being called a reflection or a flood.
//!
//! A window ends at a silence of 5 minutes (`QUIET_GAP`) in the evidence, and a class is searched again
//! after it: the same attack days later is another attack. Below the volume thresholds, a
//! class is still an attack when its evidence is overwhelming (`overwhelming`: what a
//! sampled or slow capture shows). A reflection's resets and ICMP errors from hosts refusing
//! its forged requests are folded into it as its backscatter (`fold_backscatter`).

use levee_rules::Expr;

use crate::analyze::Analyzer;
use crate::evidence::{Count, Evidence, LowRate, ProbesOver, SourceEvidence, Unsolicited};
use crate::stats::{bin_high, bin_low, central_range, Bucket, ClassStats, SECOND_NS};
use crate::target::TargetSpec;
use crate::units::{percent as pct, rate, thousands};
use crate::vector::{addr_bits, addr_from_bits, is_v4, Class};

/// How many of an attack's busiest sources have their TTLs followed in the second pass.
pub const WATCHED_SOURCES: usize = 64;

/// An attack found in the first pass, to be measured in the second.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The vector (`syn-flood`, `dns-reflection`, `carpet-bombing`...).
    pub vector: String,
    /// For `carpet-bombing`: the vector spread over the prefix.
    pub carpet_of: Option<String>,
    /// The classes of packets that belong to the attack (empty: every class).
    pub classes: Vec<Class>,
    /// First and last evidence-carrying packet of its window (ns since 1970).
    pub window: (i64, i64),
    /// The peak rate of the attack's evidence in the first pass, in packets a second on the
    /// wire (a sampled capture's rate scaled up); 0 for a scan, which has no rate of its own.
    pub peak_pps: f64,
    /// Whom it is aimed at.
    pub targets: TargetSpec,
    /// Why it is an attack.
    pub evidence: Vec<Evidence>,
    /// Whether the sources look forged.
    pub spoofed_likely: bool,
    /// Distinct sources of its evidence, estimated (1 for a scan: its scanner).
    pub sources: u64,
    /// Why its sources look forged (or are reflectors).
    pub source_evidence: Vec<SourceEvidence>,
    /// Signature candidates, most specific first; the second pass measures each.
    pub candidates: Vec<Expr>,
    /// The class whose first-pass statistics describe the attack.
    pub class: Class,
    /// Water torture: the zone whose random subdomains are queried.
    pub zone: Option<String>,
    /// The busiest sources, whose TTLs the second pass follows packet by packet.
    pub watched_sources: Vec<u128>,
    /// Found below the volume thresholds, on its evidence alone: why it is reported, and why
    /// its rule logs rather than blocks.
    pub low_rate: Option<LowRate>,
    /// The finding (an index) whose backscatter this one is: measured, and reported as part
    /// of that attack rather than as an attack of its own (see `fold_backscatter`).
    pub backscatter_of: Option<usize>,
    /// The payload bytes that make a packet of its class part of the attack, when only 80 %
    /// of the class carries them (see `signature::defining_fingerprint`): the rest is other
    /// traffic to the same target, measured as such.
    pub defined_by: Option<Expr>,
}

/// A class that had the volume of an attack but not the evidence.
#[derive(Debug, Clone)]
pub struct Dismissal {
    /// The class.
    pub class: Class,
    /// Its packets.
    pub packets: u64,
    /// Its peak rate over the capture, packets a second.
    pub peak_pps: f64,
    /// Its distinct sources (estimated).
    pub sources: u64,
    /// Why it is not an attack.
    pub reason: DismissReason,
}

/// Why a class with the volume of an attack is not one. Tests match these values; the report
/// says them in words ([`std::fmt::Display`]).
#[derive(Debug, Clone, PartialEq)]
pub enum DismissReason {
    /// Later fragments that came before their first fragment, measured with their datagrams.
    OutOfOrderFragments {
        /// Fragments whose first fragment came later.
        resolved: u64,
    },
    /// Every packet answered, solicited or in a connection seen opening.
    TwoWayTraffic,
    /// DNS queries spread like a resolver's, not concentrated on one zone's random names.
    OrdinaryResolverTraffic {
        /// Share of the queries under the busiest zone.
        top_zone_share: f64,
        /// Distinct names per query.
        names_per_query: f64,
    },
    /// No DNS question could be read from the queries.
    NoDnsQuestions,
    /// Too few packets carry the evidence, or too slowly.
    BelowVolume {
        /// Packets carrying the evidence.
        flagged: u64,
        /// Whether `flagged` was estimated from a sample.
        estimated: bool,
        /// What the evidence is (`never followed by the handshake's ACK`).
        evidence: &'static str,
        /// Their peak rate, packets a second.
        peak_pps: f64,
    },
    /// Answers from too few reflectors to be a reflection.
    FewReflectors {
        /// Distinct reflectors seen.
        reflectors: u64,
    },
    /// A few heavy senders with no rise over earlier traffic.
    FewSources {
        /// Distinct sources of the evidence.
        sources: u64,
    },
    /// Too small a share of the class carries the evidence, with no rise.
    LittleEvidence {
        /// Share of the class's packets in the window that carry it.
        share: f64,
        /// What the evidence is.
        evidence: &'static str,
    },
}

impl std::fmt::Display for DismissReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DismissReason::OutOfOrderFragments { resolved } => write!(
                f,
                "{} of these later fragments arrived before their first fragment (out of \
                 order) and belong to its datagram, measured with it",
                thousands(*resolved)
            ),
            DismissReason::TwoWayTraffic => f.write_str(
                "every packet belongs to two-way traffic (answered, solicited or part of a \
                 connection seen opening)",
            ),
            DismissReason::OrdinaryResolverTraffic {
                top_zone_share,
                names_per_query,
            } => write!(
                f,
                "queries spread over many names and zones (top zone {} of queries, {} distinct \
                 names per query): ordinary resolver traffic",
                pct(*top_zone_share),
                pct(names_per_query.min(1.0))
            ),
            DismissReason::NoDnsQuestions => f.write_str("no DNS questions could be read"),
            DismissReason::BelowVolume {
                flagged,
                estimated,
                evidence,
                peak_pps,
            } => write!(
                f,
                "only {}{} packets {evidence} (peak {}): {}",
                if *estimated { "~" } else { "" },
                thousands(*flagged),
                rate(*peak_pps),
                if *flagged == 0 {
                    "two-way traffic"
                } else {
                    "below the volume of an attack"
                }
            ),
            DismissReason::FewReflectors { reflectors } => {
                write!(f, "only ~{reflectors} reflectors")
            }
            DismissReason::FewSources { sources } => write!(
                f,
                "~{sources} sources and no rise over earlier traffic: a few heavy senders, not a \
                 flood (see port-scan/host-scan)"
            ),
            DismissReason::LittleEvidence { share, evidence } => write!(
                f,
                "only {} of packets {evidence}, with no rise over earlier traffic",
                pct(*share)
            ),
        }
    }
}

/// A count, marked `~` when it was estimated from a sample.
fn approx(an: &Analyzer, n: u64) -> Count {
    Count {
        n,
        estimated: an.sample_one_in() > 1,
    }
}

/// Rates per bucket, each bucket's duration clipped to the capture so that a capture shorter
/// than one bucket shows its real rate.
pub(crate) fn bucket_rates(an: &Analyzer, packets: impl Iterator<Item = u64>) -> Vec<f64> {
    let w = an.bucket_ns;
    let base = an.base_bucket.unwrap_or(0);
    packets
        .enumerate()
        .map(|(i, n)| {
            let b0 = (base + i as i64) * w;
            let span = effective_span(b0, w, an.start, an.end);
            n as f64 / span
        })
        .collect()
}

/// The highest of [`bucket_rates`] (0 for none) and the packets of the buckets, in one pass
/// that makes no list: a bucket wholly inside the capture spans the full width, so the
/// busiest of those is the one with the most packets, and only the buckets at the capture's
/// edges are divided on their own. (A monitor asks this of every class at every decision,
/// over hours of one-second buckets.)
fn peak_rate_and_total(an: &Analyzer, packets: impl Iterator<Item = u64>) -> (f64, u64) {
    let w = an.bucket_ns;
    let base = an.base_bucket.unwrap_or(0);
    let (mut total, mut inner_most, mut edge_peak) = (0u64, 0u64, 0.0f64);
    for (i, n) in packets.enumerate() {
        total += n;
        let b0 = (base + i as i64) * w;
        if b0 >= an.start && b0.saturating_add(w) <= an.end.saturating_add(1) {
            inner_most = inner_most.max(n);
        } else {
            edge_peak = edge_peak.max(n as f64 / effective_span(b0, w, an.start, an.end));
        }
    }
    // What `effective_span` gives a bucket inside the capture; dividing by it keeps the order
    // of the counts, so the busiest count gives the highest rate.
    let inner_span = (w as f64 / 1e9).max(0.001);
    (edge_peak.max(inner_most as f64 / inner_span), total)
}

/// Seconds of bucket `[b0, b0+w)` inside the capture `[start, end]`; at least 1 ms, and the
/// full bucket unless the bucket holds the capture's first or last packet.
pub(crate) fn effective_span(b0: i64, w: i64, start: i64, end: i64) -> f64 {
    let lo = b0.max(start);
    let hi = (b0 + w).min(end.saturating_add(1));
    let full = w as f64 / 1e9;
    if hi <= lo {
        return full;
    }
    let clipped = (hi - lo) as f64 / 1e9;
    // A partial bucket at the edge counts only if it covers a real stretch of time; otherwise a
    // lone packet just after a bucket boundary would read as a huge rate.
    if clipped < full && (end - start) as f64 / 1e9 >= full {
        full.min(clipped.max(full / 2.0))
    } else {
        clipped.max(0.001)
    }
}

struct Window {
    /// Series indexes of the window's first and last bucket.
    first: usize,
    last: usize,
    start: i64,
    end: i64,
    packets: u64,
    flagged: u64,
    peak_pps: f64,
    /// Median rate of the class before the window, when there are enough earlier buckets.
    baseline_pps: Option<f64>,
    mean_pps: f64,
}

/// The attack window of a class, measured on its evidence-carrying packets: it starts at the
/// first bucket reaching a tenth of their peak rate, and ends at the last bucket still above
/// twice the rate they had before the window (any at all, when there was no earlier stretch to
/// judge by), reached without a break or, over a break, in a sustained stretch or one holding
/// a hundredth of the peak. A flood that trails off or pulses stays one attack; a return to
/// normal is not counted in it, nor are stray packets long after it.
fn window(an: &Analyzer, c: &ClassStats, taken: &[Window]) -> Option<Window> {
    let mut rates = bucket_rates(an, c.series.iter().map(|b| b.flagged));
    // The windows already found are not looked at again.
    for t in taken {
        for r in rates.iter_mut().take(t.last + 1).skip(t.first) {
            *r = 0.0;
        }
    }
    let peak = rates.iter().cloned().fold(0.0, f64::max);
    if peak <= 0.0 {
        return None;
    }
    let peak_at = rates.iter().position(|&r| r >= peak)?;
    // Between the windows already found around the peak.
    let floor = taken
        .iter()
        .filter(|t| t.last < peak_at)
        .map(|t| t.last + 1)
        .max()
        .unwrap_or(0);
    let ceiling = taken
        .iter()
        .filter(|t| t.first > peak_at)
        .map(|t| t.first - 1)
        .min()
        .unwrap_or(rates.len() - 1);
    let first = (floor..=peak_at).find(|&i| rates[i] >= peak / 10.0)?;
    let baseline_pps = if first >= 5 {
        let mut before = rates[..first].to_vec();
        before.sort_by(f64::total_cmp);
        Some(before[before.len() / 2])
    } else {
        None
    };
    let tail = baseline_pps.map_or(0.0, |b| 2.0 * b);
    // The window runs on through every bucket above the tail that follows it without a break
    // (a flood trailing off) and, over a break, to a stretch above the tail that is sustained
    // (a slow tail: the real SYN flood's last 800 packets trickle on for ten seconds) or holds
    // a hundredth of the peak (a pulse). A bucket or two of stray packets after a break, such
    // as the last SYNs of a capture, which ends before their answers, do not stretch it.
    let above = |i: usize| rates[i] > tail && rates[i] > 0.0;
    let mut last = peak_at;
    let mut i = peak_at + 1;
    while i <= ceiling {
        if !above(i) {
            i += 1;
            continue;
        }
        let (from, mut to, mut top) = (i, i, rates[i]);
        while to < ceiling && above(to + 1) {
            to += 1;
            top = top.max(rates[to]);
        }
        if from == last + 1 || to + 1 - from >= SUSTAINED_BUCKETS || top >= peak / 100.0 {
            last = to;
        }
        i = to + 1;
    }
    // The stretch of evidence around the peak with no silence of `QUIET_GAP` in it: hours of
    // nothing are a gap, not a slow attack, and what follows it is another attack. From a
    // sample of one packet in n, evidence arrives n times as far apart.
    let quiet = quiet_gap(an);
    let (first, last) = quiet_bounded(&c.series, peak_at, first, last, quiet);
    let w = an.bucket_ns;
    let base = an.base_bucket.unwrap_or(0);
    let (start, end, peak) = if w > SECOND_NS {
        // A long capture's buckets grew wider than a second: the attack is bounded by its
        // first and last packets, and its peak is its busiest second, counted exactly.
        let (start, end) = (c.series[first].first_flagged, c.series[last].last_flagged);
        let busiest = if taken.is_empty() {
            c.busiest_evidence_second()
        } else {
            c.second_peak.peak_between(start, end)
        };
        (start, end, peak.max(busiest as f64))
    } else {
        let start = ((base + first as i64) * w).max(c.first_ts);
        let end = ((base + last as i64 + 1) * w - 1).min(c.last_ts);
        (start, end, peak)
    };
    let (packets, flagged) = c.series[first..=last]
        .iter()
        .fold((0, 0), |(p, f), b| (p + b.packets, f + b.flagged));
    let span = ((end - start).max(0) as f64 / 1e9).max(0.001);
    let mean_pps = flagged as f64 / span;
    Some(Window {
        first,
        last,
        start,
        end,
        packets,
        flagged,
        // A mean above the peak would contradict it: over a stretch shorter than a bucket the
        // mean is the rate.
        peak_pps: peak.max(mean_pps),
        baseline_pps,
        mean_pps,
    })
}

/// Buckets of evidence in a row that carry an attack's window on over a break.
const SUSTAINED_BUCKETS: usize = 3;

/// Most attack windows one class is searched for: the same kind of attack again, after a
/// silence of [`QUIET_GAP`], is another attack.
const MAX_WINDOWS: usize = 8;

/// Whether a window is apart from every window already found by a silence of `quiet`.
fn apart(w: &Window, taken: &[Window], quiet: i64) -> bool {
    taken
        .iter()
        .all(|t| w.start - t.end >= quiet || t.start - w.end >= quiet)
}

/// Silence that ends an attack window on a long capture.
const QUIET_GAP: i64 = 300 * SECOND_NS;

/// [`QUIET_GAP`] as the capture shows it: a sample of one packet in n, whether levee took it
/// (large captures) or the router did (`--sampling-rate`), shows evidence n times as far
/// apart.
fn quiet_gap(an: &Analyzer) -> i64 {
    let one_in = an
        .sample_one_in()
        .saturating_mul(an.config().wire_one_in.max(1));
    QUIET_GAP.saturating_mul(one_in.min(1 << 20) as i64)
}

/// The buckets around `peak_at`, within `[first, last]`, whose evidence-carrying packets follow
/// one another with no silence of `quiet` (see [`QUIET_GAP`]): the first and last such bucket
/// (each holding evidence).
fn quiet_bounded(
    series: &[Bucket],
    peak_at: usize,
    first: usize,
    last: usize,
    quiet: i64,
) -> (usize, usize) {
    let mut lo = peak_at;
    let mut i = peak_at;
    while i > first {
        i -= 1;
        if series[i].flagged == 0 {
            continue;
        }
        if series[lo].first_flagged - series[i].last_flagged >= quiet {
            break;
        }
        lo = i;
    }
    let mut hi = peak_at;
    let mut i = peak_at;
    while i < last {
        i += 1;
        if series[i].flagged == 0 {
            continue;
        }
        if series[i].first_flagged - series[hi].last_flagged >= quiet {
            break;
        }
        hi = i;
    }
    (lo, hi)
}

/// Claimed sources from which "a new address for nearly every packet" and "few TTLs behind
/// many addresses" show a flood's sources forged.
const SPOOFED_MIN_SOURCES: u64 = 1000;

/// The least evidence-carrying packets an attack found below the volume thresholds holds.
const LOW_RATE_MIN_EVIDENCE: u64 = 20;
/// The least share of its class, in its window, such an attack's evidence makes up.
const LOW_RATE_MIN_SHARE: f64 = 0.9;
/// The least share of every packet of the capture, in the attack window, such an attack's
/// kind of evidence makes up: the capture is about it.
const LOW_RATE_MIN_DOMINANCE: f64 = 0.5;
/// The least rate, in new reflectors a second over its window, at which a reflection below
/// the volume thresholds arrives. Backscatter, a trickle of answers from the victims of
/// floods elsewhere, comes from a few new hosts an hour; a reflection attack's reflectors all
/// answer at once.
const LOW_RATE_MIN_REFLECTORS_PER_S: f64 = 0.5;
/// The largest share of such an attack one source may send: beyond it the "reflection" or
/// "flood" is one host's answers to packets the capture does not hold (a capture of one
/// direction, or filtered).
const LOW_RATE_MAX_SOURCE_SHARE: f64 = 0.5;

/// The kinds of attack whose evidence can stand without their volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LowRateFamily {
    /// Answers nobody asked for, from many reflectors.
    Reflection,
    /// Packets nobody answered or no connection explains, from many forged sources.
    Flood,
}

impl LowRateFamily {
    fn of(class: Class) -> Option<LowRateFamily> {
        match class {
            Class::SynAck | Class::Reflection(_) => Some(LowRateFamily::Reflection),
            Class::Syn
            | Class::Ack
            | Class::Rst
            | Class::Fin
            | Class::TcpAnomaly
            | Class::Quic
            | Class::Udp
            | Class::Icmp
            | Class::Fragment
            | Class::Gre
            | Class::OtherProto => Some(LowRateFamily::Flood),
            // Water torture needs its names counted, scans have their own test, and what
            // cannot be decoded is never an attack.
            Class::DnsQuery | Class::Undecoded => None,
        }
    }
}

/// Evidence-led detection below the volume thresholds: what a capture sampled before it was
/// saved, or a slow attack, shows. A class is an attack at any rate when, in its window,
///
/// * at least [`LOW_RATE_MIN_EVIDENCE`] packets carry its evidence, and they are at least
///   [`LOW_RATE_MIN_SHARE`] of the class;
/// * its kind of evidence (every unsolicited answer, for a reflection; the class's own, for
///   a flood) is at least [`LOW_RATE_MIN_DOMINANCE`] of every packet of the capture then:
///   ordinary traffic, where answers and connections abound, never is;
/// * a reflection comes from `--min-reflectors` reflectors, arriving at
///   [`LOW_RATE_MIN_REFLECTORS_PER_S`] or more; a flood from `--min-sources`
///   sources that are shown forged (a new address for nearly every packet, with few TTLs
///   or random ones, or bogons): the internet's background of scanners and backscatter
///   comes from real hosts, whose TTLs spread with their distance and system;
/// * no source sends more than [`LOW_RATE_MAX_SOURCE_SHARE`] of it.
///
/// Returns the evidence and why the attack is reported although slow.
fn overwhelming(
    an: &Analyzer,
    class: Class,
    c: &ClassStats,
    w: &Window,
    sources: u64,
) -> Option<(Vec<Evidence>, LowRate)> {
    let cfg = an.config();
    let family = LowRateFamily::of(class)?;
    if w.flagged < LOW_RATE_MIN_EVIDENCE
        || (w.flagged as f64) < LOW_RATE_MIN_SHARE * w.packets as f64
    {
        return None;
    }
    let flagged_in_window = |s: &[Bucket]| -> u64 {
        s.iter()
            .skip(w.first)
            .take(w.last + 1 - w.first)
            .map(|b| b.flagged)
            .sum()
    };
    let kind_flagged: u64 = Class::all()
        .filter(|&k| match family {
            LowRateFamily::Reflection => LowRateFamily::of(k) == Some(family),
            LowRateFamily::Flood => k == class,
        })
        .filter_map(|k| an.class(k))
        .map(|k| flagged_in_window(&k.series))
        .sum();
    let all: u64 = an
        .total_series
        .iter()
        .skip(w.first)
        .take(w.last + 1 - w.first)
        .map(|b| b.packets)
        .sum();
    let dominance = kind_flagged as f64 / all.max(1) as f64;
    if dominance < LOW_RATE_MIN_DOMINANCE {
        return None;
    }
    let busiest = c.sources.top(1).first().map_or(0, |&(_, n)| n);
    if busiest as f64 > LOW_RATE_MAX_SOURCE_SHARE * c.profiled as f64 {
        return None;
    }
    let share = w.flagged as f64 / w.packets.max(1) as f64;
    let evidence = match family {
        LowRateFamily::Reflection => {
            if sources < cfg.min_reflectors {
                return None;
            }
            let span_s = ((w.end - w.start) as f64 / 1e9).max(1.0);
            if (sources as f64) < LOW_RATE_MIN_REFLECTORS_PER_S * span_s {
                return None;
            }
            vec![
                Evidence::UnsolicitedAnswers {
                    class,
                    answers: c.count(w.flagged),
                    share,
                    of_all: Some(dominance.min(1.0)),
                },
                Evidence::Reflectors { distinct: sources },
            ]
        }
        LowRateFamily::Flood => {
            if sources < cfg.min_flood_sources {
                return None;
            }
            // A crowd of real hosts each sending a little (scanners) also shows a new
            // address for nearly every packet: the headers must show the forgery.
            if !spoofing(class, c, cfg.min_flood_sources).shown {
                return None;
            }
            vec![Evidence::ForgedFlood {
                kind: unsolicited(class, syn_only_capture(an)),
                packets: c.count(w.flagged),
                sources,
                share,
                of_all: dominance.min(1.0),
            }]
        }
    };
    let wire = cfg.wire_one_in.max(1);
    let why = LowRate {
        peak_pps: w.peak_pps * wire as f64,
        packets: c.count(w.flagged * wire),
        min_pps: cfg.min_pps,
        min_packets: cfg.min_packets,
    };
    Some((evidence, why))
}

/// What the evidence-carrying packets of `class` are.
fn unsolicited(class: Class, syn_only: bool) -> Unsolicited {
    match class {
        Class::Syn if syn_only => Unsolicited::SynsOnly,
        Class::Syn => Unsolicited::HalfOpen,
        Class::SynAck | Class::Reflection(_) => Unsolicited::Answers,
        Class::Ack | Class::Rst | Class::Fin => Unsolicited::OutsideConnections,
        _ => Unsolicited::Unanswered,
    }
}

/// Unsolicited answers from many reflectors below the volume of an attack: what a capture
/// sampled before it was saved shows of a reflection attack. Not reported as attacks (the
/// thresholds stand), but named, with the way to scale the capture to the wire.
pub(crate) fn low_rate_hints(an: &Analyzer, found: &[Finding]) -> Vec<String> {
    let cfg = an.config();
    if cfg.wire_one_in > 1 {
        return Vec::new();
    }
    let mut hints = Vec::new();
    for class in Class::all() {
        if !matches!(class, Class::SynAck | Class::Reflection(_)) {
            continue;
        }
        if found.iter().any(|f| f.class == class) {
            continue; // reported as an attack, slow or not
        }
        let Some(c) = an.class(class) else { continue };
        let (peak, total) = peak_rate_and_total(an, c.series.iter().map(|b| b.packets));
        if total >= cfg.min_packets && peak >= cfg.min_pps {
            continue; // judged by detection itself
        }
        let reflectors = c.evidence_sources();
        if c.flagged < 20 || (c.flagged as f64) < 0.9 * c.packets as f64 {
            continue;
        }
        if reflectors < cfg.min_reflectors {
            continue;
        }
        hints.push(format!(
            "{} {} packets from ~{} reflectors answer no request seen in the capture, at a \
             peak of {}: below --min-pps {} or --min-packets {}, so not reported as an attack. \
             A capture sampled before it was saved? Give --sampling-rate N (one packet in N) \
             to scale it to the wire",
            thousands(c.flagged),
            class.vector(),
            thousands(reflectors),
            rate(peak),
            cfg.min_pps,
            cfg.min_packets
        ));
    }
    hints
}

/// Detects attacks class by class.
pub(crate) fn detect(an: &Analyzer) -> (Vec<Finding>, Vec<Dismissal>) {
    detect_knowing(an, an.most_probes_by_a_source())
}

/// [`detect`], with what [`Analyzer::most_probes_by_a_source`] says now.
fn detect_knowing(an: &Analyzer, most_probes: u64) -> (Vec<Finding>, Vec<Dismissal>) {
    let mut findings = Vec::new();
    let mut dismissed = Vec::new();
    for class in Class::all() {
        let Some(c) = an.class(class) else { continue };
        if class == Class::Undecoded {
            continue;
        }
        if let Some(d) = out_of_order_fragments(an, class, c) {
            dismissed.push(d);
            continue;
        }
        class_findings(an, class, c, &mut findings, &mut dismissed);
    }
    fold_backscatter(an, &mut findings);
    findings.extend(scans(an, most_probes));
    (findings, dismissed)
}

/// Later fragments that came before their first fragment are the fragment class's until it
/// comes; when most of them found it, they are the datagrams' other classes', and the class is
/// dismissed.
fn out_of_order_fragments(an: &Analyzer, class: Class, c: &ClassStats) -> Option<Dismissal> {
    let resolved = an.classifier().resolved_orphans();
    (class == Class::Fragment && resolved > 0 && 2 * resolved >= c.packets).then(|| Dismissal {
        class,
        packets: c.packets,
        peak_pps: 0.0,
        sources: c.distinct_sources.estimate(),
        reason: DismissReason::OutOfOrderFragments { resolved },
    })
}

/// One class as detection sees it, the same for each of its windows.
struct ClassView<'a> {
    an: &'a Analyzer,
    class: Class,
    c: &'a ClassStats,
    /// Sources of the evidence-carrying packets: legitimate clients of the same kind of
    /// traffic do not make a scanner or a single heavy sender look like a crowd.
    sources: u64,
    /// The class's peak rate over the whole capture.
    whole_peak: f64,
    /// Below the volume of an attack over the whole capture.
    below_volume: bool,
    /// The capture holds no TCP packet but SYNs.
    syn_only: bool,
}

impl ClassView<'_> {
    fn dismissal(&self, reason: DismissReason) -> Dismissal {
        Dismissal {
            class: self.class,
            packets: self.c.packets,
            peak_pps: self.whole_peak,
            sources: self.c.distinct_sources.estimate(),
            reason,
        }
    }
}

/// The attacks of one class, window after window; its dismissal when its busiest window is
/// not one.
fn class_findings(
    an: &Analyzer,
    class: Class,
    c: &ClassStats,
    findings: &mut Vec<Finding>,
    dismissed: &mut Vec<Dismissal>,
) {
    // Volume first: below it nothing is an attack, and nothing needs explaining.
    let (whole_peak, below_volume) = volume(an, c, false);
    // Below the volume of an attack, only overwhelming evidence makes one (see
    // `overwhelming`), and a class without it needs no explaining.
    if below_volume && LowRateFamily::of(class).is_none() {
        return;
    }
    let view = ClassView {
        an,
        class,
        c,
        sources: c.evidence_sources(),
        whole_peak,
        below_volume,
        syn_only: syn_only_capture(an),
    };
    let mut taken: Vec<Window> = Vec::new();
    for round in 0..MAX_WINDOWS {
        let Some(w) = window(an, c, &taken) else {
            if !below_volume && round == 0 {
                dismissed.push(view.dismissal(DismissReason::TwoWayTraffic));
            }
            break;
        };
        // Another window of the class must be another episode, not the ramp or the tail of
        // the one found.
        if !apart(&w, &taken, quiet_gap(an)) {
            break;
        }
        let judged = match judge(&view, &w) {
            None => continue,
            Some(Ok(judged)) => judged,
            Some(Err(reason)) => {
                if round == 0 {
                    dismissed.push(view.dismissal(reason));
                }
                break;
            }
        };
        findings.push(finding(&view, &w, judged));
        taken.push(w);
    }
}

/// A class's peak rate over the whole capture, and whether it stays below the volume of an
/// attack (its packets or its peak under the thresholds). `at_most`: the highest the peak can
/// be whatever the packets not yet profiled carry, from the packets counted on arrival only.
fn volume(an: &Analyzer, c: &ClassStats, at_most: bool) -> (f64, bool) {
    let cfg = an.config();
    let (mut whole_peak, class_total) = peak_rate_and_total(an, c.series.iter().map(|b| b.packets));
    if an.bucket_ns > SECOND_NS {
        // Buckets wider than a second average a short attack down; its busiest second of
        // evidence (part of the class's packets) is a floor, which the busiest second of
        // all its packets bounds.
        let busiest = if at_most {
            c.packets_second.peak()
        } else {
            c.busiest_evidence_second()
        };
        whole_peak = whole_peak.max(busiest as f64);
    }
    // A capture sampled before it was saved stands for `wire` times its packets.
    let wire = cfg.wire_one_in.max(1);
    let below = class_total * wire < cfg.min_packets || whole_peak * (wire as f64) < cfg.min_pps;
    (whole_peak, below)
}

/// A window judged an attack: why, and what it is.
struct Judged {
    evidence: Vec<Evidence>,
    vector: String,
    /// Water torture: the zone.
    zone: Option<String>,
    /// Found below the volume thresholds: why it is reported.
    low_rate: Option<LowRate>,
}

/// Judges one window of a class: an attack with its evidence, or why not; `None` for a
/// window below the volume thresholds without overwhelming evidence, which needs no
/// explaining.
fn judge(v: &ClassView<'_>, w: &Window) -> Option<Result<Judged, DismissReason>> {
    let cfg = v.an.config();
    let c = v.c;
    let mut judged = Judged {
        evidence: Vec::new(),
        vector: v.class.vector().to_string(),
        zone: None,
        low_rate: None,
    };
    if v.below_volume {
        let (evidence, why) = overwhelming(v.an, v.class, c, w, v.sources)?;
        judged.evidence = evidence;
        judged.low_rate = Some(why);
    } else if v.class == Class::DnsQuery {
        match c.dns.as_deref() {
            Some(d) if d.parsed >= cfg.min_packets => {
                let (z, zone_n) = d.zones.top(1).pop().unwrap_or_default();
                let distinct = d.distinct_names.estimate();
                let uniq = distinct as f64 / d.parsed as f64;
                let zone_share = zone_n as f64 / d.parsed as f64;
                if zone_share < 0.5 || uniq < 0.5 {
                    return Some(Err(DismissReason::OrdinaryResolverTraffic {
                        top_zone_share: zone_share,
                        names_per_query: uniq,
                    }));
                }
                judged.evidence.push(Evidence::RandomSubdomains {
                    queries: d.parsed,
                    zone: z.clone(),
                    zone_share,
                    distinct_names: distinct,
                });
                judged.zone = Some(z);
            }
            _ => return Some(Err(DismissReason::NoDnsQuestions)),
        }
    } else if let Err(reason) = evidence_at_volume(v, w, &mut judged) {
        return Some(Err(reason));
    }
    let rise = w.baseline_pps.map(|b| w.mean_pps / b.max(1.0));
    if let (Some(b), Some(r)) = (w.baseline_pps, rise) {
        judged.evidence.push(Evidence::RateRose {
            before_pps: b,
            during_pps: w.mean_pps,
            factor: r,
        });
    }
    Some(Ok(judged))
}

/// The evidence of a flood or reflection window at the volume of an attack, or why it is not
/// one.
fn evidence_at_volume(
    v: &ClassView<'_>,
    w: &Window,
    judged: &mut Judged,
) -> Result<(), DismissReason> {
    let cfg = v.an.config();
    let (c, sources) = (v.c, v.sources);
    let wire = cfg.wire_one_in.max(1);
    let share = w.flagged as f64 / w.packets.max(1) as f64;
    let rose = w
        .baseline_pps
        .is_some_and(|b| w.mean_pps / b.max(1.0) >= cfg.baseline_factor);
    let kind = unsolicited(v.class, v.syn_only);
    if w.flagged * wire < cfg.min_packets || w.peak_pps * (wire as f64) < cfg.min_pps {
        return Err(DismissReason::BelowVolume {
            flagged: w.flagged,
            estimated: c.profiled > c.profiled_samples,
            evidence: kind.phrase(),
            peak_pps: w.peak_pps,
        });
    }
    let packets = c.count(w.flagged);
    let flagged = Evidence::Flagged {
        kind,
        packets,
        share,
    };
    let evidence = &mut judged.evidence;
    match v.class {
        Class::SynAck | Class::Reflection(_) => {
            if sources < cfg.min_reflectors {
                return Err(DismissReason::FewReflectors {
                    reflectors: sources,
                });
            }
            evidence.push(Evidence::UnsolicitedAnswers {
                class: v.class,
                answers: packets,
                share,
                of_all: None,
            });
            evidence.push(Evidence::Reflectors { distinct: sources });
        }
        _ if !(sources >= cfg.min_flood_sources || rose && sources >= 5) => {
            return Err(DismissReason::FewSources { sources });
        }
        _ if share < cfg.min_evidence && !rose => {
            return Err(DismissReason::LittleEvidence {
                share,
                evidence: kind.phrase(),
            });
        }
        Class::Syn if v.syn_only => evidence.push(Evidence::SynsOnly {
            syns: packets,
            sources,
        }),
        Class::Syn => evidence.push(Evidence::HalfOpen {
            syns: packets,
            completed: c.completed,
            completion: (c.completed as f64 / c.packets.max(1) as f64).min(1.0),
        }),
        Class::Udp => {
            // One fixed source port from real, repeating hosts: a reflection of a service
            // levee has no name for.
            let top_port = concentrated_port(&c.src_ports, c.profiled, 0.9);
            let spoofed_like = sources >= 1000 && sources as f64 >= 0.5 * c.profiled as f64;
            match (top_port, spoofed_like) {
                (Some(port), false) => {
                    judged.vector = "udp-reflection".into();
                    evidence.push(Evidence::UnnamedReflection {
                        packets,
                        port,
                        hosts: sources,
                    });
                }
                _ => evidence.push(flagged),
            }
        }
        _ => evidence.push(flagged),
    }
    if let Some(fingerprint) = crate::signature::payload_fingerprint(c) {
        evidence.push(Evidence::SamePayload(fingerprint));
    }
    Ok(())
}

/// Attack payloads [`shared_payload`] takes from the kept frames, and other payloads.
const SHARED_ATTACK: usize = 128;
const SHARED_OTHERS: usize = 4096;

/// Bytes an attack's payloads share where no fixed offset of their first 16 or last 8 bytes
/// holds any ([`crate::signature::shared_bytes`]), looked for in the frames the analysis kept
/// for its second pass (`analyze` keeps them; a monitor does not): up to 128 of the attack's
/// payloads (its class, window and targets, with evidence) and up to 4,096 IP payloads of the
/// rest, spread over the capture.
fn shared_payload(
    v: &ClassView<'_>,
    w: &Window,
    targets: &TargetSpec,
) -> Option<crate::evidence::Fingerprint> {
    let field = crate::signature::payload_field(v.c)?;
    if crate::signature::payload_fingerprint(v.c).is_some() {
        return None;
    }
    let sample = v.an.sample.as_ref()?;
    let layer = levee_decode::field_def(field)?.layer;
    let class = v.class.index() as u8;
    let stride = (sample.len() / SHARED_OTHERS).max(1);
    let (mut attack, mut others, mut seen) = (Vec::new(), Vec::new(), 0usize);
    sample.for_each(|f| {
        seen += 1;
        let other = f.class != class || f.ts < w.start || f.ts > w.end;
        if (other && (seen % stride != 0 || others.len() >= SHARED_OTHERS))
            || (!other && attack.len() >= SHARED_ATTACK)
        {
            return;
        }
        let p = levee_decode::decode(f.linktype, f.data, f.orig_len);
        let Some(ip) = p.ip.as_ref().filter(|_| !p.is_cut()) else {
            return;
        };
        let member = !other
            && targets.matches(addr_bits(ip.src), addr_bits(ip.dst))
            && v.an.is_evidence(v.class, &p);
        if member {
            if let Some(b) = p.payload_of(layer).filter(|b| !b.is_empty()) {
                attack.push(b.to_vec());
            }
        } else if seen % stride == 0 && others.len() < SHARED_OTHERS {
            if let Some(b) = p.ip_payload.filter(|b| !b.is_empty()) {
                others.push(b.to_vec());
            }
        }
    });
    let attack: Vec<&[u8]> = attack.iter().map(Vec::as_slice).collect();
    let others: Vec<&[u8]> = others.iter().map(Vec::as_slice).collect();
    crate::signature::shared_bytes(field, &attack, &others)
}

/// The attack a judged window makes: its targets, its sources' evidence, its signature
/// candidates.
fn finding(v: &ClassView<'_>, w: &Window, judged: Judged) -> Finding {
    let cfg = v.an.config();
    let (targets, carpet) = targets(v.c);
    // Below the volume of an attack, fewer claimed sources suffice to show them forged.
    let claimed = if judged.low_rate.is_some() {
        cfg.min_flood_sources
    } else {
        SPOOFED_MIN_SOURCES
    };
    let Spoofing {
        likely: spoofed_likely,
        evidence: source_evidence,
        ..
    } = spoofing(v.class, v.c, claimed);
    let shared = shared_payload(v, w, &targets);
    // Only a plain UDP flood is defined by its payload: a reflection's answers vary by
    // query (the class is already the service's), and its rest is attack too.
    let defining = (shared.is_none() && v.class == Class::Udp && judged.vector == "udp-flood")
        .then(|| crate::signature::defining_fingerprint(v.c))
        .flatten();
    let candidates = crate::signature::candidates(
        v.class,
        v.c,
        &targets,
        judged.zone.as_deref(),
        shared.as_ref().or(defining.as_ref()),
        &v.an.candidate_memo,
    );
    let mut judged = judged;
    if let Some(f) = shared {
        judged.evidence.push(Evidence::SamePayload(f));
    }
    let defined_by = defining.as_ref().map(crate::signature::defining_condition);
    if let Some(f) = defining {
        judged.evidence.push(Evidence::PayloadDefines(f));
    }
    let vector = judged.vector;
    Finding {
        vector: if carpet {
            "carpet-bombing".into()
        } else {
            vector.clone()
        },
        carpet_of: carpet.then(|| vector.clone()),
        classes: vec![v.class],
        window: (w.start, w.end),
        peak_pps: w.peak_pps * cfg.wire_one_in.max(1) as f64,
        targets,
        evidence: judged.evidence,
        spoofed_likely,
        sources: v.c.evidence_sources(),
        source_evidence,
        candidates,
        class: v.class,
        zone: judged.zone,
        // Flow records carry no TTL to follow.
        watched_sources: if cfg.from_flows {
            Vec::new()
        } else {
            v.c.sources
                .top(WATCHED_SOURCES)
                .into_iter()
                .map(|(a, _)| a)
                .collect()
        },
        low_rate: judged.low_rate,
        backscatter_of: None,
        defined_by,
    }
}

/// What detection finds in the packets added to `an` so far, without ending its first pass:
/// the attacks and dismissed classes of a stream at this moment (see
/// [`Analyzer::with_delay_judged`], which leaves out the waiting packets of the `settled`
/// attacks).
pub fn findings_so_far(
    an: &mut Analyzer,
    settled: &[(Class, &TargetSpec)],
) -> (Vec<Finding>, Vec<Dismissal>) {
    // Asked once: judging the waiting packets profiles them but notes no probe, so the scan
    // tables `unmoved_by_waiting` reads are those detection reads after (walking them was
    // a twentieth of a monitor's decision, twice).
    let most = std::cell::Cell::new(None);
    let most_probes = |an: &Analyzer| {
        let m = most.get().unwrap_or_else(|| an.most_probes_by_a_source());
        most.set(Some(m));
        m
    };
    an.with_delay_judged(
        settled,
        |an, class| unmoved_by_waiting(an, class, most_probes(an)),
        |an| detect_knowing(an, most_probes(an)),
    )
}

/// Whether [`detect`] finds the same in a stream whatever the packets of `class` still
/// waiting for answers carry once profiled: a class that is no attack below the volume of
/// one (DNS queries, whose water torture is judged by names counted on arrival; what cannot
/// be decoded) and stays below it on its packets counted on arrival, while no source comes
/// near a scan (a scan's class is told from every class's profiled sources). Detection then
/// reads nothing of the class's profile.
fn unmoved_by_waiting(an: &Analyzer, class: Class, most_probes: u64) -> bool {
    if LowRateFamily::of(class).is_some() {
        return false;
    }
    let Some(c) = an.class(class) else {
        return true;
    };
    let below_volume = class == Class::Undecoded || volume(an, c, true).1;
    below_volume && !scan_possible(an, most_probes)
}

/// The ports of a profile that each hold at least `share` of its `total` packets, busiest
/// first, with their packets.
fn ports_holding(ports: &crate::sketch::PortCounts, total: u64, share: f64) -> Vec<(u16, u64)> {
    let mut v: Vec<(u16, u64)> = ports
        .nonzero()
        .filter(|&(_, n)| total > 0 && n as f64 >= share * total as f64)
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Marks the findings that are a reflection's backscatter: the requests the attacker forged
/// with the target's address also reach hosts that do not serve them, and these answer the
/// target with resets (from the service's port) or ICMP errors (quoting a request to the
/// service's port). Such packets reach the same targets, unsolicited, from the reflectors'
/// ports: by every test of their own a `rst-flood` or `icmp-flood`, but one attack in truth.
/// They get no rule: one against resets from a web port or ICMP errors to the target would
/// also stop the answers to the target's own connections. A finding is
/// folded when 90 % of its packets come from (resets) or are about (errors) the source ports
/// of reflections aimed at the same targets, into the one whose ports cover most of them.
fn fold_backscatter(an: &Analyzer, findings: &mut [Finding]) {
    for b in 0..findings.len() {
        let class = findings[b].class;
        let Some(c) = an.class(class) else { continue };
        let ports = match class {
            Class::Rst => ports_holding(&c.src_ports, c.profiled, 0.0),
            Class::Icmp => {
                // Errors (unreachable, time exceeded), whose profile keeps the quoted ports.
                let errors = c.icmp_types[3] + c.icmp_types[11];
                if (errors as f64) < 0.9 * c.profiled as f64 {
                    continue;
                }
                ports_holding(&c.dst_ports, c.profiled, 0.0)
            }
            _ => continue,
        };
        let TargetSpec::Hosts(hit) = &findings[b].targets else {
            continue;
        };
        if hit.is_empty() {
            continue;
        }
        // Each reflection on the same targets, with the packets of `b` its ports explain.
        let explained: Vec<(usize, u64)> = (0..findings.len())
            .filter(|&p| p != b && findings[p].backscatter_of.is_none())
            .filter(|&p| {
                matches!(findings[p].class, Class::SynAck | Class::Reflection(_))
                    || findings[p].vector == "udp-reflection"
            })
            .filter(|&p| match &findings[p].targets {
                TargetSpec::Hosts(theirs) => hit.iter().all(|t| theirs.contains(t)),
                _ => false,
            })
            .filter_map(|p| {
                let theirs = an.class(findings[p].class)?;
                let reflected = ports_holding(&theirs.src_ports, theirs.profiled, 0.01);
                let n: u64 = ports
                    .iter()
                    .filter(|(port, _)| reflected.iter().any(|(r, _)| r == port))
                    .map(|&(_, n)| n)
                    .sum();
                Some((p, n))
            })
            .collect();
        let total: u64 = explained.iter().map(|&(_, n)| n).sum();
        if (total as f64) < 0.9 * c.profiled as f64 {
            continue;
        }
        findings[b].backscatter_of = explained
            .iter()
            .max_by_key(|&&(p, n)| (n, std::cmp::Reverse(p)))
            .map(|&(p, _)| p);
    }
}

/// The port holding `share` of a profile's `total` packets, when one does.
fn concentrated_port(ports: &crate::sketch::PortCounts, total: u64, share: f64) -> Option<u16> {
    // The last of the busiest, as `max_by_key` picks.
    let (port, n) = (0..=u16::MAX)
        .map(|p| (p, ports.get(p)))
        .max_by_key(|&(_, n)| n)?;
    (total > 0 && n as f64 >= share * total as f64).then_some(port)
}

/// The destinations an attack class is aimed at: the heavy ones, or the prefixes they share
/// when the attack is spread thin over many addresses (carpet bombing).
fn targets(c: &ClassStats) -> (TargetSpec, bool) {
    let total = c.profiled.max(1);
    let top = c.destinations.top(64);
    let heavy: Vec<u128> = top
        .iter()
        .filter(|(_, n)| *n as f64 >= 0.05 * total as f64)
        .take(16)
        .map(|(a, _)| *a)
        .collect();
    let heavy_share: u64 = top
        .iter()
        .filter(|(a, _)| heavy.contains(a))
        .map(|(_, n)| n)
        .sum();
    let distinct = c.distinct_destinations.estimate();
    if heavy_share as f64 >= 0.8 * total as f64 || distinct < 16 {
        return (TargetSpec::Hosts(heavy), false);
    }
    // Spread thin: the /24s (or /48s) that hold the attack.
    let mut prefixes = Vec::new();
    let mut covered = 0;
    for (net, n) in c.destination_prefixes.top(16) {
        if covered as f64 >= 0.9 * total as f64 || prefixes.len() >= 8 {
            break;
        }
        let len = if is_v4(net) { 24 } else { 48 };
        prefixes.push((net, len));
        covered += n;
    }
    (TargetSpec::Prefixes(prefixes), true)
}

/// Whether the sources look forged, with the reasons.
/// Whether a class's sources look forged: `likely` counts a new address for nearly every
/// packet, which a crowd of real hosts each sending little also shows; `shown` needs what
/// real hosts never show (bogons, random TTLs, few TTLs behind many addresses).
struct Spoofing {
    likely: bool,
    shown: bool,
    evidence: Vec<SourceEvidence>,
}

fn spoofing(class: Class, c: &ClassStats, claimed: u64) -> Spoofing {
    let mut ev = Vec::new();
    let sources = c.evidence_sources();
    // Flow records: a new address for nearly every record (of one packet, or a few).
    let profiled = if c.flow_records {
        c.profiled_samples
    } else {
        c.profiled
    };
    let per_packet = sources as f64 / profiled.max(1) as f64;
    let bogon_share = c.bogon_sources as f64 / c.profiled.max(1) as f64;
    let distinct_ttls = c.ttl.iter().filter(|&&n| n > 0).count();
    let reflection = matches!(class, Class::SynAck | Class::Reflection(_));
    if reflection {
        ev.push(SourceEvidence::Reflectors { distinct: sources });
    }
    let mut spoofed = false;
    let mut shown = false;
    if !reflection && sources >= claimed && per_packet >= 0.3 {
        spoofed = true;
        ev.push(SourceEvidence::NewAddressPerPacket {
            sources,
            packets: c.count(c.profiled),
        });
    }
    if bogon_share >= 0.01 {
        shown |= !reflection && bogon_share >= 0.05;
        ev.push(SourceEvidence::Bogons { share: bogon_share });
    }
    if distinct_ttls >= 128 {
        shown |= !reflection;
        ev.push(SourceEvidence::RandomTtls {
            distinct: distinct_ttls,
        });
    } else if !reflection && sources >= claimed {
        if let Some((lo, hi)) = central_range(&c.ttl, 0.9) {
            if hi - lo <= 8 {
                shown = true;
                ev.push(SourceEvidence::FewTtls {
                    // Indexes of the 256 TTL counters.
                    low: lo as u8,
                    high: hi as u8,
                    sources,
                });
            }
        }
    }
    // ID 0 is what Linux writes in every don't-fragment packet: not a tell.
    if let Some((id, n)) = c.ip_ids.top(2).into_iter().find(|(id, _)| *id != 0) {
        if n as f64 >= 0.5 * c.profiled as f64 && c.profiled >= 100 {
            ev.push(SourceEvidence::FixedIpId {
                id,
                share: n as f64 / c.profiled as f64,
            });
        }
    }
    Spoofing {
        likely: spoofed || shown,
        shown,
        evidence: ev,
    }
}

/// The least probes a scanner shows: from a sample of one packet in n, a probe seen counts for
/// n, so a scanner must show at least four, or one spoofed SYN admitted to the top list would
/// pass for a scan.
fn min_scan_probes(an: &Analyzer) -> u64 {
    an.config().min_scan_probes.max(4 * an.sample_one_in())
}

/// Whether any source may hold a scan's probes, `most_probes` being what
/// [`Analyzer::most_probes_by_a_source`] says (a bound).
fn scan_possible(an: &Analyzer, most_probes: u64) -> bool {
    most_probes >= min_scan_probes(an)
}

/// Sources probing many new ports (port scan) or addresses (host scan) with few completed
/// handshakes.
fn scans(an: &Analyzer, most_probes: u64) -> Vec<Finding> {
    let mut out = Vec::new();
    if !scan_possible(an, most_probes) {
        return out;
    }
    let min_probes = min_scan_probes(an);
    let tables = an.scan_tables();
    let completions = |src: u128| {
        tables
            .source_completions
            .top(256)
            .into_iter()
            .find(|(s, _)| *s == src)
            .map_or(0, |(_, n)| n)
    };
    for (vector, table) in [
        ("port-scan", &tables.port_probes),
        ("host-scan", &tables.host_probes),
    ] {
        for (src, probes) in table.top(16) {
            if probes < min_probes {
                break;
            }
            let done = completions(src);
            if done as f64 > 0.2 * probes as f64 {
                continue;
            }
            let hosts = tables
                .host_probes
                .top(256)
                .into_iter()
                .find(|(s, _)| *s == src)
                .map_or(1, |(_, n)| n.max(1));
            let ports = tables
                .port_probes
                .top(256)
                .into_iter()
                .find(|(s, _)| *s == src)
                .map_or(0, |(_, n)| n);
            // A port scan walks ports of few hosts; a host scan walks hosts on few ports.
            let is_port_scan = ports >= 4 * hosts;
            if (vector == "port-scan") != is_port_scan {
                continue;
            }
            let ip = addr_from_bits(src);
            let class = scanner_class(an, src);
            let over = match class {
                c if c.is_tcp() => ProbesOver::Tcp { completed: done },
                c if c.is_udp() => ProbesOver::Udp,
                Class::Icmp => ProbesOver::Icmp,
                _ => ProbesOver::Ip,
            };
            let evidence = vec![Evidence::Probes {
                ip,
                pairs: approx(an, ports),
                hosts: approx(an, hosts),
                over,
            }];
            let expr = levee_rules::parse_plain(&format!("ip.src == {ip}"))
                .expect("an address comparison parses");
            out.push(Finding {
                vector: vector.into(),
                carpet_of: None,
                // Everything the scanner sends belongs to the scan.
                classes: Vec::new(),
                window: (tables.since.max(an.start), an.probed_until(src)),
                peak_pps: 0.0,
                targets: TargetSpec::FromSource(src),
                evidence,
                spoofed_likely: false,
                sources: 1,
                source_evidence: Vec::new(),
                candidates: vec![expr],
                class,
                zone: None,
                watched_sources: Vec::new(),
                low_rate: None,
                backscatter_of: None,
                defined_by: None,
            });
        }
    }
    out
}

/// Whether the capture holds TCP SYNs and no other TCP packet: filtered to SYNs (`tcp[13] ==
/// 2`), or one direction of the traffic. Such a capture cannot show whether a handshake
/// completed, so "never completed" is no evidence there.
pub(crate) fn syn_only_capture(an: &Analyzer) -> bool {
    let packets = |class| an.class(class).map_or(0, |c| c.packets);
    packets(Class::Syn) > 0
        && [
            Class::SynAck,
            Class::Ack,
            Class::Rst,
            Class::Fin,
            Class::TcpAnomaly,
        ]
        .into_iter()
        .all(|c| packets(c) == 0)
}

/// The class that holds most of a scanner's packets (its profile: TTLs, sizes, targets):
/// SYNs for a TCP scan, but a UDP or ICMP scan's are elsewhere.
fn scanner_class(an: &Analyzer, src: u128) -> Class {
    Class::all()
        .filter_map(|class| {
            let c = an.class(class)?;
            let (_, n) = c.sources.top(64).into_iter().find(|(s, _)| *s == src)?;
            Some((n, class))
        })
        .max_by_key(|&(n, _)| n)
        .map_or(Class::Syn, |(_, class)| class)
}

/// Size summary of a class from its length histogram.
pub(crate) fn sizes(c: &ClassStats) -> crate::report::SizeSummary {
    let total: u64 = c.lengths.iter().sum();
    let (lo, hi) = central_range(&c.lengths, 1.0).unwrap_or((0, 0));
    let mut acc = 0;
    let mut median = 0;
    for (i, &n) in c.lengths.iter().enumerate() {
        acc += n;
        if acc * 2 >= total && n > 0 {
            median = bin_low(i);
            break;
        }
    }
    let mut top: Vec<(u32, u64)> = c
        .lengths
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &n)| (bin_low(i), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(5);
    crate::report::SizeSummary {
        min: bin_low(lo),
        max: bin_high(hi),
        median,
        top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnalyzeConfig;
    use levee_capture::{CaptureReader, Item};

    #[test]
    fn the_peak_rate_in_one_pass_is_the_highest_bucket_rate() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        const S: i64 = 1_000_000_000;
        let mut an = Analyzer::new(AnalyzeConfig::default());
        for round in 0..500 {
            // Buckets of a millisecond to a minute; captures starting and ending anywhere in
            // their first and last buckets, or shorter than one.
            let w = [S / 1000, S / 4, S, 60 * S, S / 2000][round % 5];
            let base = next(1000) as i64;
            let buckets = 1 + next(40) as usize;
            an.bucket_ns = w;
            an.base_bucket = Some(base);
            an.start = base * w + next(w as u64) as i64;
            an.end = (an.start + next(buckets as u64 * w as u64) as i64)
                .min((base + buckets as i64) * w - 1);
            let series: Vec<u64> = (0..buckets).map(|_| next(5) * next(100_000)).collect();
            let rates = bucket_rates(&an, series.iter().copied());
            let want = (
                rates.iter().cloned().fold(0.0, f64::max),
                series.iter().sum(),
            );
            assert_eq!(
                peak_rate_and_total(&an, series.iter().copied()),
                want,
                "round {round}: {series:?}"
            );
        }
    }

    /// A monitor's decisions leave out the waiting packets of a class `unmoved_by_waiting`
    /// names (DNS queries below an attack's volume, beside a SYN flood): at every quarter
    /// second, what detection finds is exactly what it finds with every waiting packet
    /// judged, and the DNS queries were left out at most decisions.
    #[test]
    fn leaving_out_classes_unmoved_by_their_waiting_packets_changes_no_finding() {
        const S: i64 = 1_000_000_000;
        let cfg = levee_synth::SynthConfig {
            scenario: levee_synth::Scenario::parse("syn-flood").unwrap(),
            packets: 60_000,
            benign_pps: 2_000.0,
            start_ns: 1_768_478_400 * S,
            ..Default::default()
        };
        let mut pcap = Vec::new();
        levee_synth::generate(&cfg, &mut pcap, std::io::sink()).unwrap();
        let mut reader = CaptureReader::from_bytes("syn-flood", pcap).unwrap();
        let mut an = Analyzer::new(AnalyzeConfig::default());
        an.limit_delay(S);
        an.thin_profiles(1 << 12);
        let (mut decisions, mut dns_left_out, mut found) = (0, 0, 0);
        let unmoved =
            |an: &Analyzer, class| unmoved_by_waiting(an, class, an.most_probes_by_a_source());
        let mut next = i64::MIN;
        while let Some(Item::Frame(f)) = reader.next_item() {
            if f.ts_nanos >= next && next != i64::MIN {
                decisions += 1;
                if an.class(Class::DnsQuery).is_some() && unmoved(&an, Class::DnsQuery) {
                    dns_left_out += 1;
                }
                // As a monitor decides.
                let left_out = findings_so_far(&mut an, &[]);
                let all = an.with_delay_judged(&[], |_, _| false, detect);
                assert_eq!(
                    format!("{left_out:?}"),
                    format!("{all:?}"),
                    "decision {decisions}"
                );
                found += usize::from(left_out.0.iter().any(|f| f.vector == "syn-flood"));
            }
            if f.ts_nanos >= next {
                next = (f.ts_nanos / (S / 4) + 1) * (S / 4);
            }
            an.add_frame(f.ts_nanos, f.linktype, f.data, f.orig_len);
        }
        assert!(decisions >= 8, "{decisions} decisions");
        assert!(
            2 * dns_left_out >= decisions,
            "{dns_left_out} of {decisions}"
        );
        assert!(found > 0, "the flood is found");
        // A class with a low-rate family is never left out.
        assert!(!unmoved(&an, Class::Syn));
    }
}
