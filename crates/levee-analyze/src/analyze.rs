//! `levee analyze`, first pass: every packet is classified ([`crate::vector`]) and counted into
//! its class's statistics, together with the evidence that separates attacks from heavy but
//! legitimate traffic:
//!
//! * **unsolicited**: a response (SYN-ACK, a reflection service's UDP answer) whose request was
//!   never seen going the other way;
//! * **unanswered**: UDP, ICMP or other traffic nobody ever answered;
//! * **unknown connection**: ACK, RST or FIN for a connection whose handshake was never seen and
//!   whose other side never spoke;
//! * **handshakes completed**: SYNs followed by the client's ACK;
//! * **scans**: per source, how many new (destination, port) pairs and new destinations it
//!   probed.
//!
//! Flows are remembered in a blocked Bloom filter that keeps both directions of a flow in one
//! cache line ([`FlowFilter`]) and sources in sketches, so memory stays fixed whatever the
//! number of spoofed addresses. [`crate::measure::Plan::from_first_pass`] then decides, class by class,
//! which hold attacks ([`crate::detect`]).

use levee_decode::{App, IcmpQuote, Packet, Transport};
use std::collections::VecDeque;

use crate::bloom::{BlockedBloom, FlowFilter, FlowMark, FlowSlot};
use crate::sample::{SampleStore, Thinning};
use crate::sketch::{fmix64, mix_u128, TopK};
use crate::stats::{
    is_bogon, len_bin, Bucket, ClassStats, PayloadSample, ProfileSnapshot, HEAD_BYTES, TAIL_BYTES,
};
use crate::target::TargetSpec;
use crate::vector::{addr_bits, Class, Classifier};

/// Settings of an analysis; the defaults are what `levee analyze` uses.
#[derive(Debug, Clone)]
pub struct AnalyzeConfig {
    /// Width of the time buckets rates are measured in.
    pub bucket_ns: i64,
    /// An attack must reach this many packets per second in some bucket.
    pub min_pps: f64,
    /// An attack must hold at least this many packets.
    pub min_packets: u64,
    /// A flood (not a reflection) must come from at least this many distinct sources, unless
    /// its rate rose at least `baseline_factor` times over the class's earlier traffic.
    pub min_flood_sources: u64,
    /// A reflection must come from at least this many distinct reflectors.
    pub min_reflectors: u64,
    /// Share of a flood class's packets in the attack window that must carry its evidence
    /// (unless the rate rose over the class's earlier traffic).
    pub min_evidence: f64,
    /// Rise over the class's own earlier traffic that counts as a change.
    pub baseline_factor: f64,
    /// A source probing at least this many new ports (or destinations) is a scanner.
    pub min_scan_probes: u64,
    /// Entries in the top lists of the report.
    pub top_n: usize,
    /// log2 of the size in bytes of each flow filter.
    pub bloom_log2_bytes: u32,
    /// `Some(bytes)`: profile and measure a uniform sample of the packets whose frames fit in
    /// about this many bytes, kept in memory for the second pass ([`crate::sample`]); every
    /// packet is still counted, classified and followed in the flow filters. `None`: profile
    /// every packet, and measure every packet in a second reading of the inputs.
    pub sample_budget: Option<usize>,
    /// Most collateral, on the capture or on the benign reference, a generated rule may have
    /// and still block; beyond it the rule is written to log.
    pub block_collateral: f64,
    /// The capture was sampled one packet in this many before it was saved (`--sampling-rate`):
    /// an attack's packets, bytes and rates are scaled by it to the wire, and compared with the
    /// thresholds so scaled. Distinct counts are those seen. 1: not sampled.
    pub wire_one_in: u64,
    /// The packets are flow records' (see `levee-flow`): their TTL, TCP window and IP id are
    /// not known, so they are not profiled, and no signature or evidence is built on them.
    pub from_flows: bool,
}

impl Default for AnalyzeConfig {
    fn default() -> Self {
        AnalyzeConfig {
            bucket_ns: 1_000_000_000,
            min_pps: 1000.0,
            min_packets: 100,
            min_flood_sources: 50,
            min_reflectors: 20,
            min_evidence: 0.5,
            baseline_factor: 10.0,
            min_scan_probes: 100,
            top_n: 10,
            bloom_log2_bytes: 23,
            sample_budget: None,
            block_collateral: crate::simulate::BLOCK_COLLATERAL,
            wire_one_in: 1,
            from_flows: false,
        }
    }
}

/// Packets held back before their evidence is judged: long enough for an answer or a
/// handshake's last ACK to arrive at a million packets per second with a quarter-second
/// round trip. A sample of one packet in `n` holds back `DELAY / n` sampled packets (at
/// least [`MIN_DELAY`]), the same stretch of the capture.
const DELAY: usize = 1 << 18;
const MIN_DELAY: usize = 1 << 12;

/// What the delay line keeps of a packet: the fields class profiles are built from. Addresses
/// are kept as words and the flow slot in its parts, and payload bytes beside the line (see
/// [`PayloadBytes`]): the entry takes 80 bytes (112 with `u128`s, a padded slot and the bytes
/// inside), and each is copied three times on its way through the line.
#[derive(Clone, Copy, Default)]
struct Pending {
    src_words: [u64; 2],
    dst_words: [u64; 2],
    flow_hash: u64,
    ts: i64,
    ip_len: u32,
    ip_id: u32,
    window: u16,
    sport: u16,
    dport: u16,
    class: u8,
    ttl: u8,
    proto: u8,
    tcp_flags: u8,
    icmp_type: u8,
    /// 1: IPv6, 2: later fragment, 4: has ports, 8: a UDP or TCP payload (its
    /// [`PayloadBytes`] written), 16: that payload seen whole (its tail and length known).
    bits: u8,
    /// The flow slot's direction (see [`Pending::flow`]).
    flow_dir: u8,
    /// A UDP datagram's or TCP segment's payload length as captured (at most `u16::MAX`); its
    /// bytes are kept beside the entry (see [`PayloadBytes`]).
    payload_len: u16,
    /// The packets this one stands for in the profiles: the sampling rate's denominator when
    /// it was sampled, 0 when it only teaches the flow filters.
    weight: u32,
}

/// The payload bytes of a [`Pending`] entry with a payload, kept in an array of their own
/// beside the delay line: a SYN flood's entries carry none, and a smaller entry is a smaller
/// line to walk.
#[derive(Clone, Copy, Default)]
struct PayloadBytes {
    /// The first bytes (the first `payload_len` when shorter).
    head: [u8; HEAD_BYTES],
    /// The last bytes, right-aligned (the last `payload_len` when shorter), when the payload was
    /// seen whole (see `Pending::bits`).
    tail: [u8; TAIL_BYTES],
}

impl PayloadBytes {
    /// What the class's [`PayloadHead`] takes of the payload of `e`.
    fn sample(&self, e: &Pending) -> PayloadSample<'_> {
        let len = usize::from(e.payload_len);
        PayloadSample {
            head: &self.head[..len.min(HEAD_BYTES)],
            tail: (e.bits & 16 != 0)
                .then(|| (&self.tail[TAIL_BYTES - len.min(TAIL_BYTES)..], len as u32)),
        }
    }
}

impl Pending {
    #[inline(always)]
    fn src(&self) -> u128 {
        u128::from(self.src_words[0]) | u128::from(self.src_words[1]) << 64
    }

    #[inline(always)]
    fn dst(&self) -> u128 {
        u128::from(self.dst_words[0]) | u128::from(self.dst_words[1]) << 64
    }

    #[inline(always)]
    fn flow(&self) -> FlowSlot {
        FlowSlot {
            hash: self.flow_hash,
            dir: self.flow_dir,
        }
    }
}

/// A waiting packet as the delay line is walked: its time, class and weight, whether it goes
/// to a settled attack's targets, and whether it was found without its evidence. A sixth of
/// a [`Pending`], so walking a second of sampled traffic stays in the CPU's cache.
#[derive(Clone, Copy, Default)]
struct Waiting {
    ts: i64,
    weight: u32,
    class: u8,
    settled: bool,
    /// A provisional judgement found it without its class's evidence: answered, or its
    /// handshake completed. Evidence is only ever lost while a packet waits (the filters
    /// gain marks, and an ageing filter keeps a mark longer than a packet waits), so it is
    /// judged neither again nor when it leaves.
    cleared: bool,
}

/// What the flow filters learn from a packet: kept for every packet of a batch, where the
/// sampled ones also keep a [`Pending`]. Half the size of a `Pending`, and only this is built
/// for the packets that are not sampled (most of a large capture's).
#[derive(Clone, Copy)]
struct Arrival {
    flow: FlowSlot,
    /// The source address, as two words (a `u128` would double the alignment), and its hash:
    /// for the sources that complete handshakes.
    src: [u64; 2],
    hs: u64,
    class: u8,
    sampled: bool,
    /// An ICMP error, judged by the packet it quotes (see [`judged_flow`]).
    error: bool,
}

/// Picks the waiting packets a provisional judgement profiles (see
/// [`Analyzer::with_delay_judged`]): each packet of a class with at most
/// [`PROVISIONAL_PER_CLASS`] offered, else one in each stretch of an even share, carrying the
/// stretch's weight.
struct ProvisionalPicker {
    /// Per class: packets one in how many is picked, still to be offered, and to be offered
    /// before the next pick; the weight of the stretch not yet picked.
    stride: Vec<usize>,
    left: Vec<usize>,
    until_next: Vec<usize>,
    stretch: Vec<u64>,
}

impl ProvisionalPicker {
    /// For `waiting[c]` packets of each class `c` to be offered.
    fn new(waiting: impl Iterator<Item = usize>) -> ProvisionalPicker {
        let left: Vec<usize> = waiting.collect();
        let stride: Vec<usize> = left
            .iter()
            .map(|&n| n.div_ceil(PROVISIONAL_PER_CLASS).max(1))
            .collect();
        ProvisionalPicker {
            until_next: stride.clone(),
            stretch: vec![0; left.len()],
            stride,
            left,
        }
    }

    /// Offers the next waiting packet of class `c`, of `weight`, in line order. Picked, it is
    /// judged with the weight returned: that of its stretch.
    #[inline]
    fn offer(&mut self, c: usize, weight: u32) -> Option<u32> {
        self.left[c] -= 1;
        if self.stride[c] == 1 {
            return Some(weight);
        }
        self.stretch[c] += u64::from(weight);
        self.until_next[c] -= 1;
        if self.until_next[c] == 0 || self.left[c] == 0 {
            self.until_next[c] = self.stride[c];
            let stretch = std::mem::take(&mut self.stretch[c]);
            return Some(stretch.min(u64::from(u32::MAX)) as u32);
        }
        None
    }
}

/// Sources the scan tables keep.
const SCAN_TOPK: usize = 256;

/// How many packets ahead a provisional judgement loads what it will read of them.
const JUDGE_AHEAD: usize = 16;

/// Packets whose filter lookups are prefetched together.
const BATCH: usize = 32;

/// Waiting packets of a class judged one by one at a provisional judgement; beyond, an even
/// share of them (see [`Analyzer::with_delay_judged`]).
pub const PROVISIONAL_PER_CLASS: usize = 1024;

/// The most buckets a series keeps before halving its resolution.
const MAX_BUCKETS: usize = 1 << 14;

// `Analyzer::settled_draw_classes` holds a bit per class.
const _: () = assert!(Class::COUNT <= 64);

/// First-pass state.
pub struct Analyzer {
    pub(crate) config: AnalyzeConfig,
    classifier: Classifier,
    pub(crate) classes: Vec<Option<Box<ClassStats>>>,
    /// Every flow seen, each direction with what it sent: any packet, a SYN, a SYN-ACK.
    flows: FlowFilter,
    /// Flows whose handshake completion was already counted. Apart from `flows` and small:
    /// every SYN asks it when it leaves the delay line and again in the second pass, and real
    /// handshakes are few next to a flood's SYNs, so it stays in cache.
    completed: BlockedBloom,
    /// Sources that completed a handshake: a tiny filter asked before `completed`, so the SYNs
    /// of a spoofed flood (whose sources never complete one) are judged without leaving the
    /// CPU's cache.
    completing_sources: BlockedBloom,
    /// (source, destination, port) and (source, destination) probes, for scans.
    probes: BlockedBloom,
    /// Probes and completed handshakes per source (see [`ScanTables`]).
    scan: ScanTables,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
    pub(crate) start: i64,
    pub(crate) end: i64,
    /// Index 0 of every series is this bucket number (timestamp / bucket width).
    pub(crate) base_bucket: Option<i64>,
    pub(crate) bucket_ns: i64,
    pub(crate) total_series: Vec<Bucket>,
    /// The delay line: a ring, `delay_count` of its slots held from `delay_head` (the oldest)
    /// on. It starts small and doubles when it fills, up to `delay_len` slots: a monitor's
    /// line, which packets leave by age, stays as small as a second of sampled traffic and in
    /// the CPU's cache (a ring of the full length, walked round, brought every write in
    /// from memory); an analysis's grows to the full length, its pages touched as it fills.
    delay: Vec<Pending>,
    /// The payload bytes of the entries of `delay` that have a payload, slot by slot.
    payloads: Vec<PayloadBytes>,
    /// Beside each slot of `delay`, what a provisional judgement walks the line for (see
    /// [`Waiting`]): a decision reads this compact copy and loads only the packets it picks.
    waiting: Vec<Waiting>,
    /// The followed attacks whose waiting packets a provisional judgement leaves out, as the
    /// last one was asked (see [`Analyzer::with_delay_judged`]); each packet is marked
    /// against them as it enters the line.
    settled: Vec<(Class, TargetSpec)>,
    /// With thinned profiles and a rate for settled attacks (see
    /// [`Analyzer::thin_settled_profiles`]): the draws of the packets to each of `settled`,
    /// in its order.
    settled_draws: Vec<Thinning>,
    /// The classes (bit `index`) that have a draw in `settled_draws`: every other class's
    /// packets go to their class's draw without looking through the settled attacks.
    settled_draw_classes: u64,
    /// That rate.
    settled_max_pps: Option<u64>,
    /// The sparsest rate of the settled draws let go (their attacks ended).
    settled_sparsest: u64,
    /// The delay line's most slots (see [`DELAY`]).
    delay_len: usize,
    delay_head: usize,
    delay_count: usize,
    /// When set, packets also leave the delay line once they are this much older than the
    /// latest packet (see [`Analyzer::limit_delay`]).
    delay_max_ns: Option<i64>,
    /// Packets whose flow-filter work is pending (see `flush_batch`).
    batch: Vec<Arrival>,
    /// The sampled packets of `batch`, in order, with what their profiles need.
    sampled_batch: Vec<Pending>,
    /// Their payload bytes, in the same order.
    sampled_payloads: Vec<PayloadBytes>,
    /// The fullest filter of the analyzers merged into this one.
    merged_saturation: f64,
    /// The sampled frames, when the analysis samples (see [`AnalyzeConfig::sample_budget`]).
    pub(crate) sample: Option<SampleStore>,
    /// Without a sample: profiling thinned to a packet rate (see [`Analyzer::thin_profiles`]).
    thinning: Option<Box<[Thinning]>>,
    /// The sparsest sampling rate of the analyzers merged into this one.
    merged_one_in: u64,
    /// `[start, end)` and series index of the bucket of the latest packet.
    last_bucket: (i64, i64, usize),
    /// Past [`MAX_BUCKETS`], drop the oldest half of every series instead of halving their
    /// resolution (see [`Analyzer::keep_recent_series`]).
    roll_series: bool,
    /// The class statistics put aside while the delay line is judged provisionally (see
    /// [`Analyzer::with_delay_judged`]), kept between decisions to be written over.
    put_aside: Vec<Option<ProfileSnapshot>>,
    /// The ports a provisional judgement counted, to be taken back (kept for their memory).
    ports_on_trial: Vec<(u8, u16, u16, u64)>,
    /// The waiting packets a provisional judgement profiles (kept for their memory).
    judged_on_trial: Vec<Pending>,
    /// The waiting packets of classes with settled targets that a provisional judgement
    /// picks from (kept for their memory).
    held_on_trial: Vec<usize>,
    /// The slots of `judged_on_trial`'s packets (kept for their memory).
    judged_slots: Vec<usize>,
    /// Signature candidates built at earlier detections, by what they were built from (a
    /// stream's going attacks ask for the same at every decision). Locked only by detection,
    /// which reads the analyzer shared.
    pub(crate) candidate_memo: std::sync::Mutex<crate::signature::CandidateMemo>,
    /// The slots of the delay line's packets, per class, oldest first: a provisional
    /// judgement walks only the classes it judges (packets leave the line oldest first, so
    /// each leaves from the front of its class's).
    waiting_slots: Vec<VecDeque<u32>>,
    /// Per class, the waiting packets not to a settled attack's targets.
    unsettled_waiting: Vec<u32>,
    /// With ageing filters (see [`Analyzer::age_filters`]), the scan tables' generations.
    scan_generations: Option<ScanGenerations>,
}

/// The scan tables of a stream that never ends: what sources probed (and completed) over the
/// current stretch of [`SCAN_GENERATION_NS`] and the one before, so that a scanner is judged
/// on what it did in the last one to two minutes, not since the monitor started: one that
/// stops is no longer found, and its scan ends.
struct ScanGenerations {
    /// When the current generation (the analyzer's own tables) began.
    started: i64,
    older: Option<ScanTables>,
}

/// The probes and completed handshakes per source: what scans are found by.
#[derive(Clone)]
pub(crate) struct ScanTables {
    /// New (destination, port) pairs each source probed.
    pub(crate) port_probes: TopK<u128>,
    /// New destinations each source probed.
    pub(crate) host_probes: TopK<u128>,
    /// Completed handshakes per source, to tell scanners from busy clients.
    pub(crate) source_completions: TopK<u128>,
    /// From when they count (`i64::MIN`: from the first packet).
    pub(crate) since: i64,
}

impl ScanTables {
    fn new() -> ScanTables {
        ScanTables {
            port_probes: TopK::new(SCAN_TOPK),
            host_probes: TopK::new(SCAN_TOPK),
            source_completions: TopK::new(SCAN_TOPK),
            since: i64::MIN,
        }
    }

    fn merge(&mut self, o: &ScanTables) {
        self.port_probes.merge(&o.port_probes);
        self.host_probes.merge(&o.host_probes);
        self.source_completions.merge(&o.source_completions);
        self.since = self.since.min(o.since);
    }
}

/// How long a generation of a never-ending stream's scan tables lasts.
pub const SCAN_GENERATION_NS: i64 = 60 * 1_000_000_000;

/// A packet's flow in the flow filter: both directions hash alike, `dir` tells them apart.
/// `hs` and `hd` are [`mix_u128`] of the source and destination. The ends are put in order by
/// their hashes, which costs less than comparing 128-bit addresses and orders them as well:
/// only two different addresses with equal 64-bit hashes and equal ports would see both
/// directions as one.
#[inline]
fn flow_slot(hs: u64, hd: u64, sport: u16, dport: u16, proto: u8) -> FlowSlot {
    let forward = (hs, sport) <= (hd, dport);
    let (a, b, pa, pb) = if forward {
        (hs, hd, sport, dport)
    } else {
        (hd, hs, dport, sport)
    };
    FlowSlot {
        hash: fmix64(
            a ^ b.rotate_left(23) ^ (u64::from(pa) << 16 | u64::from(pb)) << 8 ^ u64::from(proto),
        ),
        dir: u8::from(!forward),
    }
}

/// The flow a packet is judged by, and whether it is an ICMP error. A packet is judged by its
/// own flow; an ICMP error by the answer direction of the packet it quotes, for an error
/// answers that packet: it is "answered" (an answer, not a flood) when the capture holds the
/// packet it quotes, and evidence when it does not (errors about packets nobody here sent:
/// forged quotes, or a reflection's requests bouncing off closed ports).
#[inline(never)]
fn judged_flow(p: &Packet<'_>, own: FlowSlot) -> (FlowSlot, bool) {
    if !matches!(p.transport, Transport::Icmp(_)) {
        return (own, false);
    }
    match p.icmp_quote() {
        Some(IcmpQuote {
            proto,
            src_port,
            dst_port,
            addrs: Some((qs, qd)),
        }) => {
            let quoted = flow_slot(
                mix_u128(addr_bits(qs)),
                mix_u128(addr_bits(qd)),
                src_port.unwrap_or(0),
                dst_port.unwrap_or(0),
                proto,
            );
            (quoted.reversed(), true)
        }
        _ => (own, false),
    }
}

impl Analyzer {
    /// A first pass with no packet yet, under `config`.
    pub fn new(config: AnalyzeConfig) -> Analyzer {
        let bits = config.bloom_log2_bytes;
        Analyzer {
            bucket_ns: config.bucket_ns.max(1),
            classes: (0..Class::COUNT).map(|_| None).collect(),
            classifier: Classifier::default(),
            // Both directions of every flow with their marks: twice the room of one plain filter.
            flows: FlowFilter::new(bits + 1),
            completed: BlockedBloom::new(bits - 2),
            completing_sources: BlockedBloom::new(16),
            probes: BlockedBloom::new(bits),
            scan: ScanTables::new(),
            packets: 0,
            bytes: 0,
            start: i64::MAX,
            end: i64::MIN,
            base_bucket: None,
            total_series: Vec::new(),
            delay: Vec::new(),
            payloads: Vec::new(),
            waiting: Vec::new(),
            settled: Vec::new(),
            settled_draws: Vec::new(),
            settled_draw_classes: 0,
            settled_max_pps: None,
            settled_sparsest: 1,
            delay_len: DELAY,
            delay_head: 0,
            delay_count: 0,
            delay_max_ns: None,
            roll_series: false,
            put_aside: Vec::new(),
            ports_on_trial: Vec::new(),
            judged_on_trial: Vec::new(),
            held_on_trial: Vec::new(),
            judged_slots: Vec::new(),
            candidate_memo: Default::default(),
            waiting_slots: vec![VecDeque::new(); Class::COUNT],
            unsettled_waiting: vec![0; Class::COUNT],
            scan_generations: None,
            batch: Vec::with_capacity(BATCH),
            sampled_batch: Vec::with_capacity(BATCH),
            sampled_payloads: Vec::with_capacity(BATCH),
            merged_saturation: 0.0,
            sample: config.sample_budget.map(SampleStore::new),
            thinning: None,
            merged_one_in: 1,
            last_bucket: (0, 0, 0),
            config,
        }
    }

    /// Tells a sampling analysis how many bytes of uncompressed capture files it will read
    /// (see [`SampleStore::expect_input_bytes`]); nothing otherwise.
    pub fn expect_input_bytes(&mut self, bytes: u64) {
        if let Some(sample) = self.sample.as_mut() {
            sample.expect_input_bytes(bytes);
            if self.delay.is_empty() {
                let one_in = sample.one_in();
                self.delay_len = (DELAY / one_in as usize).max(MIN_DELAY);
                // Only sampled packets probe: a filter of the sample's size is as full as the
                // whole one would be with every packet, and costs less memory to clear and
                // to keep in cache.
                let bits = self
                    .config
                    .bloom_log2_bytes
                    .saturating_sub(one_in.ilog2())
                    .max(16);
                self.probes = BlockedBloom::new(bits);
            }
        }
    }

    /// Fixes the time origin of the series (the first packet's time). Threads of a parallel
    /// run all get the same origin, so their series line up when merged.
    pub fn set_origin(&mut self, ts_nanos: i64) {
        if self.base_bucket.is_none() {
            self.base_bucket = Some(ts_nanos.div_euclid(self.bucket_ns));
        }
    }

    /// Adds another thread's first-pass statistics to this one's (the flow filters stay each
    /// thread's own: each saw its own flows, and judges them in the second pass).
    pub fn merge_stats(&mut self, o: &Analyzer) {
        // Its sources are counted as its batches are worked on (see `flush_batch`).
        debug_assert!(o.batch.is_empty(), "merged before its pass finished");
        self.classifier.merge_late(&o.classifier);
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.start = self.start.min(o.start);
        self.end = self.end.max(o.end);
        let Some(o_base) = o.base_bucket else {
            return; // the other thread saw no packet
        };
        if self.base_bucket.is_none() {
            self.base_bucket = Some(o_base);
            self.bucket_ns = o.bucket_ns;
            self.last_bucket = (0, 0, 0);
        }
        // Coarsen this side until it is at least as coarse as the other.
        while self.bucket_ns < o.bucket_ns {
            self.coarsen_once();
        }
        self.merge_stats_aligned(o, o_base);
    }

    fn merge_stats_aligned(&mut self, o: &Analyzer, o_base: i64) {
        let base = self.base_bucket.unwrap_or(0);
        let (w, ow) = (self.bucket_ns, o.bucket_ns);
        // Where bucket `i` of the other lands here (same or coarser width).
        let place = |i: usize| -> usize {
            let t = (o_base + i as i64).saturating_mul(ow);
            (t.div_euclid(w) - base).max(0) as usize
        };
        for (i, b) in o.total_series.iter().enumerate() {
            let j = place(i);
            if j >= self.total_series.len() {
                self.total_series.resize(j + 1, Bucket::default());
            }
            self.total_series[j].add(b);
        }
        for (k, oc) in o.classes.iter().enumerate() {
            let Some(oc) = oc.as_deref() else { continue };
            let class = Class::from_index(k);
            let mut placed = oc.series.clone();
            placed.clear();
            for (i, b) in oc.series.iter().enumerate() {
                let j = place(i);
                if j >= placed.len() {
                    placed.resize(j + 1, Bucket::default());
                }
                placed[j].add(b);
            }
            let mine = self.class_mut(class);
            mine.merge_with_series(oc, &placed);
        }
        self.scan.merge(&o.scan);
        self.merged_saturation = self.merged_saturation.max(o.filter_saturation());
        self.merged_one_in = self.merged_one_in.max(o.sample_one_in());
    }

    /// The settings it runs with.
    pub fn config(&self) -> &AnalyzeConfig {
        &self.config
    }

    /// Takes the thresholds detection judges by from `config` (rates, counts, evidence
    /// shares, collateral), for a stream whose settings are changed while it runs; what shapes
    /// the statistics already gathered (bucket width, filters, sampling) stays as it is.
    pub fn retune(&mut self, config: &AnalyzeConfig) {
        let c = &mut self.config;
        c.min_pps = config.min_pps;
        c.min_packets = config.min_packets;
        c.min_flood_sources = config.min_flood_sources;
        c.min_reflectors = config.min_reflectors;
        c.min_evidence = config.min_evidence;
        c.baseline_factor = config.baseline_factor;
        c.min_scan_probes = config.min_scan_probes;
        c.block_collateral = config.block_collateral;
    }

    /// Packets added.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The series index of a timestamp, halving every series' resolution when it would not
    /// fit. Timestamps before the first bucket (out of order) count in the first bucket.
    #[inline(always)]
    fn bucket_index(&mut self, ts: i64) -> usize {
        // Most packets fall in the bucket of the one before: a range check, no division.
        let (start, end, idx) = self.last_bucket;
        if ts >= start && ts < end {
            return idx;
        }
        self.bucket_index_new(ts)
    }

    /// [`Self::bucket_index`] for a packet outside the last packet's bucket.
    #[cold]
    fn bucket_index_new(&mut self, ts: i64) -> usize {
        let idx = self.bucket_index_slow(ts);
        let start = (self.base_bucket.unwrap_or(0) + idx as i64).saturating_mul(self.bucket_ns);
        // Only a timestamp inside bucket `idx` may take the shortcut (not one before the
        // first bucket, which is counted in it too).
        if ts >= start {
            self.last_bucket = (start, start.saturating_add(self.bucket_ns), idx);
        }
        idx
    }

    fn bucket_index_slow(&mut self, ts: i64) -> usize {
        let b = ts.div_euclid(self.bucket_ns);
        let base = *self.base_bucket.get_or_insert(b);
        let idx = (b - base).max(0) as u64;
        if idx >= MAX_BUCKETS as u64 {
            if self.roll_series {
                self.drop_oldest_buckets(idx + 1 - MAX_BUCKETS as u64);
            } else {
                self.coarsen_once();
            }
            return self.bucket_index_slow(ts);
        }
        idx as usize
    }

    /// Moves the series' origin on by at least half of [`MAX_BUCKETS`] (and at least
    /// `needed`), dropping the buckets it passes.
    fn drop_oldest_buckets(&mut self, needed: u64) {
        self.last_bucket = (0, 0, 0);
        let shift = needed.max(MAX_BUCKETS as u64 / 2);
        let drop = |series: &mut Vec<Bucket>| {
            let n = series
                .len()
                .min(usize::try_from(shift).unwrap_or(usize::MAX));
            series.drain(..n);
        };
        for c in self.classes.iter_mut().flatten() {
            drop(&mut c.series);
        }
        drop(&mut self.total_series);
        let base = self.base_bucket.unwrap_or(0);
        self.base_bucket = Some(base.saturating_add(i64::try_from(shift).unwrap_or(i64::MAX)));
    }

    /// Doubles the bucket width of every series.
    fn coarsen_once(&mut self) {
        self.last_bucket = (0, 0, 0);
        let base = self.base_bucket.unwrap_or(0);
        self.bucket_ns = self.bucket_ns.saturating_mul(2);
        // Keep pairs aligned: an odd base shifts everything by one before halving.
        if base.rem_euclid(2) == 1 {
            self.shift_series_by_one();
        }
        self.base_bucket = Some(base.div_euclid(2));
        for c in self.classes.iter_mut().flatten() {
            c.coarsen();
        }
        coarsen_total(&mut self.total_series);
    }

    fn shift_series_by_one(&mut self) {
        for c in self.classes.iter_mut().flatten() {
            c.series.insert(0, Bucket::default());
        }
        self.total_series.insert(0, Bucket::default());
    }

    /// Counts and profiles one packet captured at `ts_nanos` (every packet is profiled: for
    /// an analysis without a sample budget).
    pub fn add(&mut self, ts_nanos: i64, p: &Packet<'_>) {
        self.add_weighted(ts_nanos, p, Some(1));
    }

    /// Decodes and counts one frame; profiles it and keeps it for the second pass if it is
    /// sampled. Without a sample budget, the same as [`Analyzer::add`].
    #[inline]
    pub fn add_frame(&mut self, ts_nanos: i64, linktype: u32, data: &[u8], orig_len: u32) {
        let Some(sample) = self.sample.as_mut() else {
            // Every packet profiled, or a share of its class's (see `thin_profiles`).
            levee_decode::with_decoded(linktype, data, orig_len, |p| {
                self.add_weighted(ts_nanos, p, None)
            });
            return;
        };
        let (weight, key) = sample.offer();
        let weight32 = weight.min(u64::from(u32::MAX)) as u32;
        let class = levee_decode::with_decoded(linktype, data, orig_len, |p| {
            self.add_weighted(ts_nanos, p, Some(weight32)).index()
        });
        if weight > 0 {
            if let Some(sample) = self.sample.as_mut() {
                sample.keep(key, ts_nanos, linktype, data, orig_len, class as u8);
            }
        }
    }

    /// Teaches the flow filters what a frame shows (the flow exists, a handshake began or
    /// completed) without counting or profiling it: for the frames just around a part of a
    /// file that another thread analyses, so that answers and handshakes crossing the border
    /// are seen from both sides.
    pub fn teach_frame(&mut self, linktype: u32, data: &[u8], orig_len: u32) {
        if !self.batch.is_empty() {
            // What was counted before is learnt first, in order.
            self.flush_batch();
        }
        levee_decode::with_decoded(linktype, data, orig_len, |p| {
            let class = self.classifier.classify(p);
            let Some(ip) = p.ip.as_ref() else { return };
            let (src, dst) = (addr_bits(ip.src), addr_bits(ip.dst));
            let (sport, dport) = p.ports().unwrap_or((0, 0));
            let hs = mix_u128(src);
            let (flow, error) =
                judged_flow(p, flow_slot(hs, mix_u128(dst), sport, dport, ip.proto));
            let arrival = Arrival {
                flow,
                src: [src as u64, (src >> 64) as u64],
                hs,
                class: class.index() as u8,
                sampled: false,
                error,
            };
            // A completed handshake is remembered, so that neither side counts it again, and
            // counted by the thread the frame belongs to.
            self.arrive(&arrival, None, false);
        });
    }

    /// Adds another thread's flow filters to this one's, so that the second pass judges every
    /// packet with what the whole capture showed. Only for analyzers made with the same
    /// settings, which read different stretches of the same capture.
    pub fn merge_filters(&mut self, o: &Analyzer) {
        self.flows.union(&o.flows);
        self.completed.union(&o.completed);
        self.completing_sources.union(&o.completing_sources);
    }

    /// Counts one packet; profiles it with `weight` (0: only counted and followed in the flow
    /// filters; `None`: as its class's thinning decides, 1 without). Returns its class.
    #[inline(always)]
    fn add_weighted(&mut self, ts_nanos: i64, p: &Packet<'_>, weight: Option<u32>) -> Class {
        // A flow record's part stands for `n` packets alike (see `Packet::count`).
        let n = p.count;
        self.packets += n;
        let wire = u64::from(p.wire_len) * n;
        self.bytes += wire;
        self.start = self.start.min(ts_nanos);
        self.end = self.end.max(ts_nanos);
        let class = self.classifier.classify(p);
        // The class's index, worked out once: a packet asks for it several times.
        let ci = class.index();
        // Thinned: drawn once the packet's addresses are known (below).
        let thinned = weight.is_none() && self.thinning.is_some();
        let mut weight = weight.unwrap_or(1);
        let idx = self.bucket_index(ts_nanos);
        if idx >= self.total_series.len() {
            self.total_series.resize(idx + 1, Bucket::default());
        }
        self.total_series[idx].packets += n;
        self.total_series[idx].bytes += wire;

        let Some(ip) = p.ip.as_ref() else {
            let c = self.class_at(class, ci);
            c.packets += n;
            c.bytes += wire;
            return class;
        };
        let src = addr_bits(ip.src);
        let dst = addr_bits(ip.dst);
        let (sport, dport) = p.ports().unwrap_or((0, 0));
        if thinned {
            weight = self.thinned_weight(class, ci, ts_nanos, src, dst);
        }
        let (hs, hd) = (mix_u128(src), mix_u128(dst));
        let own = flow_slot(hs, hd, sport, dport, ip.proto);
        let (flow, error) = if class == Class::Icmp {
            judged_flow(p, own)
        } else {
            (own, false)
        };
        // Start loading the flow's filter block now: the batch is worked on once full, by
        // which time it has arrived.
        self.flows.prefetch(flow);
        if class == Class::Ack {
            self.completed.prefetch(flow.directed());
        }
        let c = self.class_at(class, ci);
        c.packets += n;
        c.bytes += wire;
        c.packets_second.note(ts_nanos, n);
        c.first_ts = c.first_ts.min(ts_nanos);
        c.last_ts = c.last_ts.max(ts_nanos);
        let b = c.bucket(idx);
        b.packets += n;
        b.bytes += wire;
        // Counted when the batch is worked on (`flush_batch`), its register loaded by then:
        // the registers of a flood's class are out of the first-level cache by each packet.
        c.distinct_sources.prefetch_hash(hs);
        if hd != c.last_destination_hash {
            c.distinct_destinations.add_hash(hd);
            c.last_destination_hash = hd;
        }
        if let Some(dns) = c.dns.as_deref_mut() {
            if let App::Dns(d) = p.app() {
                if let Some(name) = d.qname.as_deref() {
                    dns.add(name, d.qtype);
                }
            }
        }
        if weight > 0 {
            if class == Class::Syn {
                // The probes it will note when the batch is worked on (see `arrive`).
                self.probes.prefetch(probe_key(src, dst, dport, ip.proto));
                self.probes.prefetch(host_key(src, dst));
            }
            let (tcp_flags, window, icmp_type) = match &p.transport {
                Transport::Tcp(t) => (t.flags.0 as u8, t.window, 0),
                Transport::Icmp(i) => (0, 0, i.icmp_type),
                _ => (0, 0, 0),
            };
            // An ICMP error's profile keeps the ports of the packet it quotes: the service a
            // reflection's errors are about, which scopes their signature.
            let quoted = p
                .icmp_quote()
                .and_then(|q| Some((q.src_port?, q.dst_port?)));
            let (sport, dport, has_ports) = match quoted {
                Some((qs, qd)) => (qs, qd, true),
                None => (sport, dport, p.ports().is_some()),
            };
            // A TCP segment without data (a SYN flood's) is left out of the fingerprints, which
            // then stand for the class's segments that carry data.
            let payload = p.payload_of(levee_decode::FieldLayer::Udp).or_else(|| {
                p.payload_of(levee_decode::FieldLayer::Tcp)
                    .filter(|b| !b.is_empty())
            });
            let mut bytes = PayloadBytes::default();
            let whole = payload.is_some_and(|b| {
                let n = b.len().min(HEAD_BYTES);
                bytes.head[..n].copy_from_slice(&b[..n]);
                let t = b.len().min(TAIL_BYTES);
                bytes.tail[TAIL_BYTES - t..].copy_from_slice(&b[b.len() - t..]);
                !p.is_cut()
            });
            self.sampled_payloads.push(bytes);
            self.sampled_batch.push(Pending {
                src_words: [src as u64, (src >> 64) as u64],
                dst_words: [dst as u64, (dst >> 64) as u64],
                flow_hash: flow.hash,
                flow_dir: flow.dir,
                ts: ts_nanos,
                ip_len: ip.len,
                ip_id: ip.id,
                window,
                sport,
                dport,
                class: ci as u8,
                ttl: ip.ttl,
                proto: ip.proto,
                tcp_flags,
                icmp_type,
                bits: u8::from(ip.version == 6)
                    | u8::from(ip.is_later_fragment()) << 1
                    | u8::from(has_ports) << 2
                    | u8::from(payload.is_some()) << 3
                    | u8::from(whole) << 4,
                payload_len: payload.map_or(0, |b| b.len().min(usize::from(u16::MAX)) as u16),
                weight: if n == 1 {
                    weight
                } else {
                    weight.saturating_mul(n.min(u64::from(u32::MAX)) as u32)
                },
            });
        }
        self.batch.push(Arrival {
            flow,
            src: [src as u64, (src >> 64) as u64],
            hs,
            class: ci as u8,
            sampled: weight > 0,
            error,
        });
        if self.batch.len() == BATCH {
            self.flush_batch();
        }
        class
    }

    /// The flow-filter work of a batch of packets, in arrival order. The filter blocks every
    /// packet of the batch will touch (flows: as each packet arrived; scan probes and the
    /// blocks of the packets leaving the delay line: here) are prefetched first, so their
    /// memory latencies overlap instead of adding up. Only sampled packets enter the delay
    /// line, to be profiled.
    fn flush_batch(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let sampled_batch = std::mem::take(&mut self.sampled_batch);
        let (len, full) = (self.delay_len, self.delay_count == self.delay_len);
        let sampled = sampled_batch.len();
        if full {
            // The entries the next batch will push out of the delay line were written long
            // ago and are out of the cache: start loading them now, so the next batch finds
            // them (and their filter blocks) at once.
            for i in 0..sampled {
                prefetch_entry(&self.delay[self.slot(sampled + i)]);
            }
        }
        if full {
            for leaving in 0..sampled {
                let slot = self.slot(leaving);
                if !self.waiting[slot].cleared {
                    self.prefetch_judging(&self.delay[slot]);
                }
            }
        }
        if let (false, Some(max)) = (full, self.delay_max_ns) {
            // The packets old enough to leave the line after this batch (`release_aged`).
            let cutoff = self.end.saturating_sub(max);
            for i in 0..self.delay_count.min(2 * BATCH) {
                let slot = self.slot(i);
                let w = self.waiting[slot];
                if w.ts >= cutoff {
                    break;
                }
                if !w.cleared {
                    self.prefetch_judging(&self.delay[slot]);
                }
            }
        }
        let sampled_payloads = std::mem::take(&mut self.sampled_payloads);
        let mut sampled_entries = sampled_batch.iter().zip(&sampled_payloads);
        for a in &batch {
            if let Some(c) = self.classes[usize::from(a.class)].as_deref_mut() {
                c.distinct_sources.add_hash(a.hs);
            }
            if !a.sampled {
                self.arrive(a, None, true);
                continue;
            }
            let Some((e, bytes)) = sampled_entries.next() else {
                continue;
            };
            self.arrive(a, Some(e), true);
            let waiting = self.waiting_of(e);
            if self.delay_count == len {
                let head = self.delay_head;
                let leaving = self.leave(head);
                let old = (!leaving.cleared).then(|| (self.delay[head], self.payload_of(head)));
                self.put(head, e, bytes);
                self.enter(head, waiting);
                self.delay_head = self.slot(1);
                if let Some((old, old_bytes)) = old {
                    self.profile(&old, &old_bytes);
                }
            } else {
                if self.delay_count == self.delay.len() {
                    self.grow_delay();
                }
                let slot = self.slot(self.delay_count);
                self.put(slot, e, bytes);
                self.enter(slot, waiting);
                self.delay_count += 1;
            }
        }
        self.release_aged();
        if self.scan_generations.is_some() {
            let now = self.end;
            self.flows.age(now);
            self.completed.age(now);
            self.completing_sources.age(now);
            self.probes.age(now);
            self.age_scan_tables(now);
        }
        self.batch = batch;
        self.batch.clear();
        self.sampled_batch = sampled_batch;
        self.sampled_batch.clear();
        self.sampled_payloads = sampled_payloads;
        self.sampled_payloads.clear();
    }

    /// Writes entry `e` (with its payload bytes, when it has a payload) into `slot`.
    #[inline(always)]
    fn put(&mut self, slot: usize, e: &Pending, bytes: &PayloadBytes) {
        self.delay[slot] = *e;
        if e.bits & 8 != 0 {
            self.payloads[slot] = *bytes;
        }
    }

    /// The payload bytes of the entry in `slot` (nothing to read when it has no payload).
    #[inline(always)]
    fn payload_of(&self, slot: usize) -> PayloadBytes {
        if self.delay[slot].bits & 8 != 0 {
            self.payloads[slot]
        } else {
            PayloadBytes::default()
        }
    }

    /// What a packet teaches the flow filters: the flow exists, a handshake began or
    /// completed, a probe reached a new port or host (`sampled`: the packet's profile entry
    /// when it was sampled; only sampled packets probe). Without `counted` (a frame another
    /// thread counts, see [`Analyzer::teach_frame`]) a completed handshake is only remembered.
    #[inline(always)]
    fn arrive(&mut self, a: &Arrival, sampled: Option<&Pending>, counted: bool) {
        let flow = a.flow;
        match Class::from_index(a.class as usize) {
            Class::Syn => {
                // Marked apart from SYN-ACKs, so only the client's ACK completes a handshake.
                self.flows.mark_pair(flow, FlowMark::Seen, FlowMark::Syn);
                if let Some(e) = sampled {
                    self.note_probe(e.src(), e.dst(), e.dport, e.proto, e.weight);
                }
            }
            Class::SynAck => {
                self.flows.mark_pair(flow, FlowMark::Seen, FlowMark::SynAck);
            }
            Class::Ack => {
                self.flows.mark(flow, FlowMark::Seen);
                if self.flows.has(flow, FlowMark::Syn) && !self.completed.insert(flow.directed()) {
                    self.completing_sources.insert(a.hs);
                    if counted {
                        self.class_mut(Class::Syn).completed += 1;
                        let src = u128::from(a.src[0]) | u128::from(a.src[1]) << 64;
                        self.scan.source_completions.add_hashed(src, a.hs, 1);
                    }
                }
            }
            // An error only asks whether the packet it quotes was seen: it neither opens a
            // flow nor probes.
            Class::Icmp if a.error => {}
            Class::Udp | Class::Quic | Class::Icmp => {
                // Asked before this packet marks its own direction.
                let answered = self.flows.has(flow.reversed(), FlowMark::Seen);
                self.flows.mark(flow, FlowMark::Seen);
                if let Some(e) = sampled.filter(|_| !answered) {
                    self.note_probe(e.src(), e.dst(), e.dport, e.proto, e.weight);
                }
            }
            _ => {
                self.flows.mark(flow, FlowMark::Seen);
            }
        }
    }

    /// Starts loading what judging and profiling `e` will touch: the filter blocks
    /// [`Analyzer::evidence`] will ask about, and its ports' counters. A packet leaves the
    /// delay line long after these were last in the cache.
    #[inline]
    fn prefetch_judging(&self, e: &Pending) {
        self.prefetch_evidence(e);
        self.prefetch_ports(e);
    }

    /// Starts loading the filter blocks [`Analyzer::evidence`] will ask about for `e`.
    #[inline]
    fn prefetch_evidence(&self, e: &Pending) {
        if Class::from_index(e.class as usize) == Class::Syn {
            if self.completing_sources.contains(mix_u128(e.src())) {
                self.completed.prefetch(e.flow().directed());
            }
        } else {
            // Both directions of a flow share its block.
            self.flows.prefetch(e.flow());
        }
    }

    /// Starts loading the port counters profiling `e` will add to.
    #[inline]
    fn prefetch_ports(&self, e: &Pending) {
        if e.bits & 4 != 0 {
            if let Some(c) = self.classes[usize::from(e.class)].as_deref() {
                c.dst_ports.prefetch(e.dport);
                c.src_ports.prefetch(e.sport);
            }
        }
    }

    /// Whether a packet carries its class's evidence, judged with what the filters know now.
    fn evidence(&self, class: Class, src: u128, flow: FlowSlot) -> bool {
        let answered = || self.flows.has(flow.reversed(), FlowMark::Seen);
        match class {
            // A SYN whose flow never completed its handshake.
            Class::Syn => {
                !self.completing_sources.contains(mix_u128(src))
                    || !self.completed.contains(flow.directed())
            }
            // A response to a request nobody sent. A SYN-ACK answers a SYN: the target's
            // resets of unsolicited SYN-ACKs are no request.
            Class::SynAck => !self.flows.has(flow.reversed(), FlowMark::Syn),
            Class::Reflection(_) => !answered(),
            // Outside any connection seen opening, and the other side never spoke.
            Class::Ack | Class::Rst | Class::Fin => {
                !self.flows.has(flow, FlowMark::Syn)
                    && !self.flows.has(flow, FlowMark::SynAck)
                    && !answered()
            }
            // Water torture is judged on the names, not on answers.
            Class::DnsQuery => true,
            Class::Undecoded => false,
            // Never answered.
            _ => !answered(),
        }
    }

    /// Adds a packet leaving the delay line to its class's profile, if it carries the
    /// evidence. The delay gives answers and handshake completions time to arrive first.
    /// Returns whether its ports were counted (with its weight).
    fn profile(&mut self, e: &Pending, bytes: &PayloadBytes) -> bool {
        let class = Class::from_index(e.class as usize);
        self.evidence(class, e.src(), e.flow()) && self.profile_evidenced(e, bytes)
    }

    /// [`Analyzer::profile`] for a packet already found to carry its class's evidence.
    fn profile_evidenced(&mut self, e: &Pending, bytes: &PayloadBytes) -> bool {
        let Some(c) = self.classes[e.class as usize].as_deref_mut() else {
            return false;
        };
        let w = u64::from(e.weight);
        c.flagged += w;
        // The series may have been coarsened since the packet arrived: place it anew.
        let idx = (e.ts.div_euclid(self.bucket_ns) - self.base_bucket.unwrap_or(0)).max(0);
        if let Some(b) = c.series.get_mut(idx as usize) {
            b.note_flagged(e.ts, w);
        }
        c.second_peak.note(e.ts, w);
        c.profiled += w;
        c.profiled_samples += 1;
        let hs = mix_u128(e.src());
        let hd = mix_u128(e.dst());
        c.profile_sources.add_hash(hs);
        c.sources.add_hashed(e.src(), hs, w);
        c.destinations.add_hashed(e.dst(), hd, w);
        let ipv6 = e.bits & 1 != 0;
        let prefix = if ipv6 {
            e.dst() & !((1u128 << 80) - 1)
        } else {
            e.dst() & !0xff
        };
        c.destination_prefixes
            .add_hashed(prefix, mix_u128(prefix), w);
        // Flow records leave TTL, window and IP id unknown: nothing is profiled of them.
        let headers_known = !self.config.from_flows;
        if headers_known {
            c.ttl[e.ttl as usize] += w;
        }
        c.protocols[e.proto as usize] += w;
        c.ipv6 += w * u64::from(ipv6);
        c.bogon_sources += w * u64::from(is_bogon(e.src()));
        if e.bits & 2 != 0 {
            c.later_fragments += w;
            return false;
        }
        c.lengths[len_bin(e.ip_len)] += w;
        if headers_known {
            c.ip_ids.add(e.ip_id, w);
        }
        if e.bits & 4 != 0 {
            if w == 1 {
                c.dst_ports.add(e.dport);
                c.src_ports.add(e.sport);
            } else {
                c.dst_ports.add_n(e.dport, w);
                c.src_ports.add_n(e.sport, w);
            }
        }
        if e.proto == 6 && e.bits & 4 != 0 {
            c.tcp_flags[e.tcp_flags as usize] += w;
            if headers_known {
                c.windows.add(e.window, w);
            }
        }
        if matches!(e.proto, 1 | 58) {
            c.icmp_types[e.icmp_type as usize] += w;
        }
        if e.bits & 8 != 0 {
            c.payload_head.add(bytes.sample(e), w);
        }
        e.bits & 4 != 0
    }

    /// Keeps of the packets `judged` (waiting in `slots`) those that carry their class's
    /// evidence now, and marks the others cleared (see `Waiting::cleared`).
    ///
    /// Evidence first: it only reads the filters. Only the packets that carry it are profiled,
    /// and only their classes put aside and back: most waiting packets of a healthy link carry
    /// none, and copying their classes' profiles at every decision cost more than judging
    /// them. Their filter blocks are loaded a few packets ahead, so the misses overlap.
    fn keep_evidenced(&mut self, judged: &mut Vec<Pending>, slots: &mut Vec<usize>) {
        for e in judged.iter().take(JUDGE_AHEAD) {
            self.prefetch_evidence(e);
        }
        let mut flagged = 0;
        for i in 0..judged.len() {
            if let Some(next) = judged.get(i + JUDGE_AHEAD) {
                self.prefetch_evidence(next);
            }
            let e = judged[i];
            if self.evidence(Class::from_index(usize::from(e.class)), e.src(), e.flow()) {
                judged[flagged] = e;
                slots[flagged] = slots[i];
                flagged += 1;
            } else {
                self.waiting[slots[i]].cleared = true;
            }
        }
        judged.truncate(flagged);
        slots.truncate(flagged);
    }

    /// `judge` on the statistics as they are with the packets still in the delay line (waiting
    /// for answers that may yet come) judged with what is known now: what detection finds in
    /// a stream at this moment. What judging them changes is put aside first and put back
    /// after (see `ProfileSnapshot`), so the first pass goes on exactly as if this had not
    /// been asked (the packets are judged again, knowing more, when they leave the delay line).
    ///
    /// A class with more than [`PROVISIONAL_PER_CLASS`] packets waiting is judged on an even
    /// share of them, each standing for the packets of its stretch of the line (their weights
    /// summed, so the class's totals are the same): a live monitor decides every second, and
    /// judging a second of a flood anew each time cost more than reading it. A class with
    /// fewer waiting (a low-rate attack's packets) is judged packet by packet.
    ///
    /// The waiting packets of a class to targets in `settled` are left out: attacks a caller
    /// already follows, whose profiles hold their earlier packets, so judging their last
    /// stretch again at every decision would only move their figures up by the delay (see
    /// `Stream`'s use). The other packets of the class are judged as ever, so a new target
    /// of the same kind is found as soon.
    ///
    /// The waiting packets of a class `unmoved` says `judge` would find the same of whatever
    /// they carry are left out too: at a monitor's every decision, re-profiling a second of
    /// DNS queries that are no attack at their volume was a third of the provisional work.
    pub fn with_delay_judged<R>(
        &mut self,
        settled: &[(Class, &TargetSpec)],
        unmoved: impl Fn(&Analyzer, Class) -> bool,
        judge: impl FnOnce(&Analyzer) -> R,
    ) -> R {
        self.flush_batch();
        self.settle(settled);
        if self.delay_count == 0 {
            return judge(self);
        }
        let classes = self.classes.len();
        let settled_class: Vec<bool> = (0..classes)
            .map(|c| settled.iter().any(|(s, _)| s.index() == c))
            .collect();
        let left_out: Vec<bool> = (0..classes)
            .map(|c| {
                !settled_class[c]
                    && !self.waiting_slots[c].is_empty()
                    && unmoved(self, Class::from_index(c))
            })
            .collect();
        // Classes with settled targets are counted as the line is walked: their other
        // waiting packets are kept aside, and picked from once their number is known.
        let mut picker =
            ProvisionalPicker::new(self.waiting_slots.iter().enumerate().map(|(c, slots)| {
                if settled_class[c] || left_out[c] {
                    0
                } else {
                    slots.len()
                }
            }));
        let mut ports = std::mem::take(&mut self.ports_on_trial);
        ports.clear();
        let mut judged = std::mem::take(&mut self.judged_on_trial);
        judged.clear();
        let mut held = std::mem::take(&mut self.held_on_trial);
        held.clear();
        // The slot of each packet in `judged`.
        let mut judged_slots = std::mem::take(&mut self.judged_slots);
        judged_slots.clear();
        let mut unsettled = vec![0usize; classes];
        for (c, slots) in self.waiting_slots.iter().enumerate() {
            if left_out[c] {
                continue;
            }
            if !settled_class[c] {
                for &slot in slots {
                    let slot = slot as usize;
                    let w = self.waiting[slot];
                    if let Some(weight) = picker.offer(c, w.weight) {
                        if !w.cleared {
                            judged.push(Pending {
                                weight,
                                ..self.delay[slot]
                            });
                            judged_slots.push(slot);
                        }
                    }
                }
            } else if self.unsettled_waiting[c] > 0 {
                // A settled class: only its packets to other targets, when it has any.
                for &slot in slots {
                    if !self.waiting[slot as usize].settled {
                        unsettled[c] += 1;
                        held.push(slot as usize);
                    }
                }
            }
        }
        let mut picker = ProvisionalPicker::new(unsettled.into_iter());
        for &slot in &held {
            let w = self.waiting[slot];
            if let Some(weight) = picker.offer(usize::from(w.class), w.weight) {
                if !w.cleared {
                    judged.push(Pending {
                        weight,
                        ..self.delay[slot]
                    });
                    judged_slots.push(slot);
                }
            }
        }
        self.held_on_trial = held;
        self.keep_evidenced(&mut judged, &mut judged_slots);
        self.judged_slots = judged_slots;
        // Only the classes of the packets profiled change: only those are put aside, with
        // the series from the earliest bucket such a packet falls in.
        let mut touched = vec![false; classes];
        for e in &judged {
            touched[usize::from(e.class)] = true;
        }
        let earliest = judged.iter().map(|e| e.ts).min().unwrap_or(i64::MAX);
        let from_bucket =
            (earliest.div_euclid(self.bucket_ns) - self.base_bucket.unwrap_or(0)).max(0) as usize;
        let mut put_aside = std::mem::take(&mut self.put_aside);
        put_aside.resize_with(classes, || None);
        for c in (0..classes).filter(|&c| touched[c]) {
            if let Some(stats) = self.classes[c].as_deref() {
                match &mut put_aside[c] {
                    Some(snapshot) => snapshot.retake(stats, from_bucket),
                    slot => *slot = Some(ProfileSnapshot::of(stats, from_bucket)),
                }
            }
        }
        for e in judged.iter().take(JUDGE_AHEAD) {
            self.prefetch_ports(e);
        }
        for (i, e) in judged.iter().enumerate() {
            if let Some(next) = judged.get(i + JUDGE_AHEAD) {
                self.prefetch_ports(next);
            }
            let bytes = self.payload_of(self.judged_slots[i]);
            if self.profile_evidenced(e, &bytes) {
                ports.push((e.class, e.dport, e.sport, u64::from(e.weight)));
            }
        }
        self.judged_on_trial = judged;
        let found = judge(self);
        for c in (0..classes).filter(|&c| touched[c]) {
            let (Some(stats), Some(snapshot)) =
                (self.classes[c].as_deref_mut(), put_aside[c].as_mut())
            else {
                continue;
            };
            snapshot.put_back(stats);
            let mine = || ports.iter().filter(|p| usize::from(p.0) == c);
            stats
                .dst_ports
                .take_back(snapshot.dst_ports, mine().map(|p| (p.1, p.3)));
            stats
                .src_ports
                .take_back(snapshot.src_ports, mine().map(|p| (p.2, p.3)));
        }
        self.put_aside = put_aside;
        self.ports_on_trial = ports;
        found
    }

    /// Marks the waiting packets against the attacks `settled` when they are not those the
    /// last provisional judgement was asked about (they change when an attack settles or
    /// ends, not at every decision).
    fn settle(&mut self, settled: &[(Class, &TargetSpec)]) {
        let same = self.settled.len() == settled.len()
            && self
                .settled
                .iter()
                .zip(settled)
                .all(|((c, t), (c2, t2))| c == c2 && t == *t2);
        if same {
            return;
        }
        if let Some(max_pps) = self.settled_max_pps {
            // An attack still settled keeps its draw (its second's count and rate).
            let mut before: Vec<_> = self
                .settled
                .drain(..)
                .zip(self.settled_draws.drain(..))
                .collect();
            self.settled_draws = settled
                .iter()
                .map(
                    |&(c, t)| match before.iter().position(|((c2, t2), _)| *c2 == c && t2 == t) {
                        Some(i) => before.swap_remove(i).1,
                        None => Thinning::new(max_pps),
                    },
                )
                .collect();
            for (_, gone) in before {
                self.settled_sparsest = self.settled_sparsest.max(gone.sparsest_one_in());
            }
        }
        self.settled = settled.iter().map(|&(c, t)| (c, t.clone())).collect();
        self.settled_draw_classes = self
            .settled
            .iter()
            .zip(&self.settled_draws)
            .fold(0, |bits, ((c, _), _)| bits | 1 << c.index());
        self.unsettled_waiting.fill(0);
        for i in 0..self.delay_count {
            let slot = self.slot(i);
            let settled = self.waiting_of(&self.delay[slot]).settled;
            self.waiting[slot].settled = settled;
            self.unsettled_waiting[usize::from(self.waiting[slot].class)] += u32::from(!settled);
        }
    }

    /// Puts `waiting` in `slot`, a packet entering the line.
    #[inline]
    fn enter(&mut self, slot: usize, waiting: Waiting) {
        self.waiting[slot] = waiting;
        let c = usize::from(waiting.class);
        self.waiting_slots[c].push_back(slot as u32);
        self.unsettled_waiting[c] += u32::from(!waiting.settled);
    }

    /// Takes the packet in `slot`, the oldest of the line, out of its class's count.
    #[inline]
    fn leave(&mut self, slot: usize) -> Waiting {
        let w = self.waiting[slot];
        let c = usize::from(w.class);
        let front = self.waiting_slots[c].pop_front();
        debug_assert_eq!(front, Some(slot as u32), "packets leave oldest first");
        self.unsettled_waiting[c] -= u32::from(!w.settled);
        w
    }

    /// What a provisional judgement walks the line for, of a packet entering it.
    #[inline]
    fn waiting_of(&self, e: &Pending) -> Waiting {
        let settled = self
            .settled
            .iter()
            .any(|(c, t)| c.index() == usize::from(e.class) && t.matches(e.src(), e.dst()));
        Waiting {
            ts: e.ts,
            weight: e.weight,
            class: e.class,
            settled,
            cleared: false,
        }
    }

    /// The slot of the `i`th packet in the delay line, from the oldest (`i` less than the
    /// ring's length): no division, which cost more than the rest of a provisional judgement.
    #[inline]
    fn slot(&self, i: usize) -> usize {
        let j = self.delay_head + i;
        if j >= self.delay.len() {
            j - self.delay.len()
        } else {
            j
        }
    }

    /// Doubles the delay line's ring (up to `delay_len` slots), its packets laid out again
    /// from the first slot, oldest first.
    #[cold]
    fn grow_delay(&mut self) {
        const FIRST_SLOTS: usize = 1 << 10;
        let (head, len) = (self.delay_head, self.delay.len());
        self.delay.rotate_left(head);
        self.waiting.rotate_left(head);
        self.payloads.rotate_left(head);
        for slots in &mut self.waiting_slots {
            for s in slots.iter_mut() {
                *s = ((*s as usize + len - head) % len.max(1)) as u32;
            }
        }
        self.delay_head = 0;
        let slots = (2 * self.delay.len()).clamp(FIRST_SLOTS, self.delay_len.max(1));
        self.delay.resize(slots, Pending::default());
        self.waiting.resize(slots, Waiting::default());
        self.payloads.resize(slots, PayloadBytes::default());
    }

    /// For a caller that never ends (a monitor): the flow, handshake and probe filters age, so
    /// they never fill (see [`crate::bloom::BlockedBloom::age_by_generations`]). A filter that
    /// takes keys for ever ends up answering yes to every question: after hours of traffic,
    /// or minutes of a spoofed flood, every UDP packet was "answered" and every SYN
    /// "completed", and the floods that followed went unseen. What was learnt is known for at
    /// least `remember_at_least_ns` (longer than a packet waits for its answer), then
    /// forgotten once two generations have filled. Asked before the first packet.
    ///
    /// The scan tables age too: a scanner is judged on what it probed over the last one to two
    /// minutes ([`SCAN_GENERATION_NS`]), so a scan ends once its scanner stops.
    pub fn age_filters(&mut self, remember_at_least_ns: i64) {
        self.scan_generations = Some(ScanGenerations {
            started: i64::MIN,
            older: None,
        });
        self.flows.age_by_generations(remember_at_least_ns);
        self.completed.age_by_generations(remember_at_least_ns);
        self.completing_sources
            .age_by_generations(remember_at_least_ns);
        self.probes.age_by_generations(remember_at_least_ns);
    }

    /// Starts a new generation of the scan tables once the current one has lasted
    /// [`SCAN_GENERATION_NS`]; the older one is forgotten.
    fn age_scan_tables(&mut self, now: i64) {
        let Some(g) = self.scan_generations.as_mut() else {
            return;
        };
        if g.started == i64::MIN {
            g.started = now;
            return;
        }
        if now.saturating_sub(g.started) < SCAN_GENERATION_NS {
            return;
        }
        let mut older = std::mem::replace(&mut self.scan, ScanTables::new());
        older.since = g.started;
        self.scan.since = now;
        g.older = Some(older);
        g.started = now;
    }

    /// Until when `src` probed, as far as the scan tables tell: the latest packet, or with
    /// ageing filters, for a source only the older generation holds, that generation's end.
    pub(crate) fn probed_until(&self, src: u128) -> i64 {
        let in_older_only = self
            .scan_generations
            .as_ref()
            .is_some_and(|g| g.older.is_some())
            && ![&self.scan.port_probes, &self.scan.host_probes]
                .iter()
                .any(|t| t.top(SCAN_TOPK).iter().any(|(s, _)| *s == src));
        if in_older_only {
            self.scan.since
        } else {
            self.end
        }
    }

    /// What scans are judged on: the whole stream's probes and completions, or with ageing
    /// filters the last two generations' together.
    pub(crate) fn scan_tables(&self) -> std::borrow::Cow<'_, ScanTables> {
        match self
            .scan_generations
            .as_ref()
            .and_then(|g| g.older.as_ref())
        {
            None => std::borrow::Cow::Borrowed(&self.scan),
            Some(older) => {
                let mut both = older.clone();
                both.merge(&self.scan);
                std::borrow::Cow::Owned(both)
            }
        }
    }

    /// The most probes (of either kind) a source can hold in [`Analyzer::scan_tables`]: a
    /// bound, not merging the generations, so that a stream with no source near a scan's
    /// threshold (a spoofed flood's, each probing once) is judged without merging them.
    ///
    /// With two generations, each source's counts in both are added: the sum of each
    /// generation's heaviest stood at a sampled monitor's threshold exactly (a spoofed
    /// source admitted at twice its weight in each), and the merge it let through was a
    /// sixth of every decision's cost.
    pub(crate) fn most_probes_by_a_source(&self) -> u64 {
        let older = self
            .scan_generations
            .as_ref()
            .and_then(|g| g.older.as_ref());
        let Some(older) = older else {
            return self
                .scan
                .port_probes
                .heaviest_bound()
                .max(self.scan.host_probes.heaviest_bound());
        };
        // A key held by one table only is within that table's heaviest bound; a key held
        // by both is found walking either.
        let both = |a: &TopK<u128>, b: &TopK<u128>| {
            let in_a = a.held().map(|(k, h, bound)| bound + b.bound_of(k, h)).max();
            in_a.unwrap_or(0).max(b.heaviest_bound())
        };
        both(&older.port_probes, &self.scan.port_probes)
            .max(both(&older.host_probes, &self.scan.host_probes))
    }

    /// For a caller that never ends (a monitor), once an attack of `class` is over: forgets
    /// the class's profile (see [`ClassStats::forget_profile`]), so its next attack is
    /// described by its own packets.
    pub fn forget_profile(&mut self, class: Class) {
        if let Some(c) = self.classes[class.index()].as_deref_mut() {
            c.forget_profile();
        }
    }

    /// For a caller that never ends (a monitor): once the series hold 16,384
    /// buckets (4.5 hours of one-second buckets), the oldest half is dropped instead of every
    /// bucket being made twice as wide. Detection keeps its one-second resolution for ever,
    /// and sees the last 2.3 to 4.5 hours of each class's rates (an attack's start before
    /// that is the caller's to remember).
    pub fn keep_recent_series(&mut self) {
        self.roll_series = true;
    }

    /// Packets leave the delay line once they are `max_ns` older than the latest packet, as
    /// well as when it is full: a live monitor judges traffic within a bounded time whatever
    /// its rate, and judging what is still waiting stays cheap. An offline analysis keeps
    /// them as long as the line has room, and judges them knowing more.
    pub fn limit_delay(&mut self, max_ns: i64) {
        self.delay_max_ns = Some(max_ns.max(0));
    }

    /// For an analysis without a sample budget, which keeps no frames: profiles every packet
    /// of a class while its traffic stays under `max_pps`, and a random share of them above,
    /// so profiling costs the same at any rate (see [`Thinning`]). Each class is thinned by its
    /// own rate: a small attack beside a flood is profiled whole, not at the flood's rate.
    /// Counts, rates and the flow filters still see every packet.
    pub fn thin_profiles(&mut self, max_pps: u64) {
        if self.sample.is_none() {
            self.thinning = Some((0..Class::COUNT).map(|_| Thinning::new(max_pps)).collect());
        }
    }

    /// With thinned profiles ([`Analyzer::thin_profiles`]): the packets to an attack a caller
    /// follows and has settled (see [`Analyzer::with_delay_judged`]) are profiled at most
    /// `max_pps` a second, apart from the rest of their class, which keeps the class's rate.
    ///
    /// A settled attack's profile already holds seconds of it, and goes on gathering: at 1,024
    /// a second, ten seconds of a flood tell a share to within 0.5 %. Profiling it at the
    /// class's rate spent most of a monitor's time under a sustained flood (a packet profiled
    /// costs about twice one counted). And the rest of its class (another target hit at the
    /// same time) is no longer thinned by the flood's rate: it has the class's rate to itself.
    pub fn thin_settled_profiles(&mut self, max_pps: u64) {
        if self.thinning.is_some() {
            self.settled_max_pps = Some(max_pps);
        }
    }

    /// The weight a packet of `class` from `src` to `dst` at `ts` is profiled with (0: not
    /// profiled), drawn by its settled attack's thinning or its class's.
    #[inline]
    fn thinned_weight(&mut self, class: Class, ci: usize, ts: i64, src: u128, dst: u128) -> u32 {
        let Some(thinning) = self.thinning.as_mut() else {
            return 1;
        };
        if self.settled_draw_classes & 1 << ci == 0 {
            return thinning[ci].offer(ts).min(u64::from(u32::MAX)) as u32;
        }
        let draw = self
            .settled
            .iter()
            .zip(self.settled_draws.iter_mut())
            .find(|((c, t), _)| *c == class && t.matches(src, dst))
            .map_or(&mut thinning[ci], |(_, d)| d);
        draw.offer(ts).min(u64::from(u32::MAX)) as u32
    }

    /// Profiles, oldest first, the packets the delay-line age limit lets go.
    fn release_aged(&mut self) {
        self.release_waited_by(self.end);
    }

    /// With a bounded delay (see [`Analyzer::limit_delay`]): stream time is `now` though no
    /// packet came (a quiet link), so the packets that have waited their time for answers
    /// leave the delay line and are judged for good, as the next packet would have made them.
    pub fn judge_waited(&mut self, now: i64) {
        if self.delay_max_ns.is_some() && now > self.end {
            self.flush_batch();
            self.release_waited_by(now);
        }
    }

    /// Profiles the packets of the line that have waited their time by `now`.
    fn release_waited_by(&mut self, now: i64) {
        let Some(max) = self.delay_max_ns else { return };
        let cutoff = now.saturating_sub(max);
        while self.delay_count > 0 && self.waiting[self.delay_head].ts < cutoff {
            let head = self.delay_head;
            let leaving = self.leave(head);
            self.delay_head = self.slot(1);
            self.delay_count -= 1;
            if !leaving.cleared {
                let (old, bytes) = (self.delay[head], self.payload_of(head));
                self.profile(&old, &bytes);
            }
        }
    }

    /// Ends the first pass: profiles the packets still in the delay line. Called by
    /// [`crate::measure::Plan::from_first_pass`]; a parallel run calls it on every thread's analyzer.
    pub fn finish_pass(&mut self) {
        self.flush_batch();
        for i in 0..self.delay_count {
            let slot = self.slot(i);
            if !self.waiting[slot].cleared {
                let (e, bytes) = (self.delay[slot], self.payload_of(slot));
                self.profile(&e, &bytes);
            }
        }
        self.delay = Vec::new();
        self.waiting = Vec::new();
        self.payloads = Vec::new();
        self.delay_head = 0;
        self.delay_count = 0;
        self.waiting_slots.iter_mut().for_each(VecDeque::clear);
        self.unsettled_waiting.fill(0);
    }

    /// Whether a packet of the second pass belongs to its class's attack, judged with
    /// everything the first pass learnt.
    pub(crate) fn is_evidence(&self, class: Class, p: &Packet<'_>) -> bool {
        let Some(ip) = p.ip.as_ref() else {
            return false;
        };
        let src = addr_bits(ip.src);
        let dst = addr_bits(ip.dst);
        let (sport, dport) = p.ports().unwrap_or((0, 0));
        let (flow, _) = judged_flow(
            p,
            flow_slot(mix_u128(src), mix_u128(dst), sport, dport, ip.proto),
        );
        self.evidence(class, src, flow)
    }

    /// Counts a probe: a source reaching a (destination, port) it had not tried before (a
    /// retransmission or a second connection to the same port is not a new probe), and whether
    /// the destination itself is new for that source.
    /// A sampled probe counts for the `weight` packets it stands for.
    fn note_probe(&mut self, src: u128, dst: u128, dport: u16, proto: u8, weight: u32) {
        let hs = mix_u128(src);
        if self.probes.insert(probe_key(src, dst, dport, proto)) {
            return;
        }
        let w = u64::from(weight);
        self.scan.port_probes.add_hashed(src, hs, w);
        if !self.probes.insert(host_key(src, dst)) {
            self.scan.host_probes.add_hashed(src, hs, w);
        }
    }

    // Inlined: every packet asks for its class's statistics, which exist but for the first.
    #[inline]
    fn class_mut(&mut self, class: Class) -> &mut ClassStats {
        self.class_at(class, class.index())
    }

    /// [`Analyzer::class_mut`] of a class whose index `ci` the caller has.
    #[inline(always)]
    fn class_at(&mut self, class: Class, ci: usize) -> &mut ClassStats {
        let flows = self.config.from_flows;
        self.classes[ci].get_or_insert_with(|| new_class_stats(class, flows))
    }

    /// The first pass's classifier: what it learnt of fragments that came out of order.
    pub(crate) fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    pub(crate) fn class(&self, class: Class) -> Option<&ClassStats> {
        self.classes[class.index()].as_deref()
    }

    /// One packet in how many was profiled, here and in the analyzers merged into this one;
    /// for thinned profiles, at the sparsest so far.
    pub fn sample_one_in(&self) -> u64 {
        let thinned = self.thinning.as_ref().map_or(1, |classes| {
            classes
                .iter()
                .chain(&self.settled_draws)
                .map(Thinning::sparsest_one_in)
                .max()
                .unwrap_or(1)
                .max(self.settled_sparsest)
        });
        self.sample
            .as_ref()
            .map_or(thinned, SampleStore::one_in)
            .max(self.merged_one_in)
    }

    /// Whether any flow filter is so full that its answers are unreliable.
    pub(crate) fn filter_saturation(&self) -> f64 {
        self.flows.false_positive_rate().max(self.merged_saturation)
    }

    /// The classifier to use in the second pass: a fresh one, so later fragments are joined to
    /// their first fragments exactly as in the first pass.
    pub fn second_pass_classifier() -> Classifier {
        Classifier::default()
    }
}

/// The statistics of a class seen for the first time (with DNS counters for DNS classes).
#[cold]
fn new_class_stats(class: Class, flow_records: bool) -> Box<ClassStats> {
    let dns = class == Class::DnsQuery || class.service().is_some_and(|s| s.port == 53);
    let mut stats = Box::new(ClassStats::new(dns));
    stats.flow_records = flow_records;
    stats
}

/// Asks the CPU to start loading the cache lines of a delay-line entry.
#[inline]
fn prefetch_entry(e: &Pending) {
    let start = (e as *const Pending).cast::<u8>();
    // Every line the entry spans: from its first byte, a line apart, and its last.
    for offset in (0..std::mem::size_of::<Pending>()).step_by(64) {
        levee_sketch::prefetch_address(start.wrapping_add(offset));
    }
    levee_sketch::prefetch_address(start.wrapping_add(std::mem::size_of::<Pending>() - 1));
}

/// The filter key of "this source reached this destination".
#[inline]
fn host_key(src: u128, dst: u128) -> u64 {
    fmix64(mix_u128(src) ^ mix_u128(dst).rotate_left(7) ^ 0x4057_0000_0000)
}

/// The filter key of "this source probed this (destination, port)".
#[inline]
fn probe_key(src: u128, dst: u128, dport: u16, proto: u8) -> u64 {
    let hs = mix_u128(src);
    let hd = mix_u128(dst).rotate_left(7);
    fmix64(hs ^ hd ^ (u64::from(dport) << 8 | u64::from(proto)) ^ 0x5ca9)
}

fn coarsen_total(series: &mut Vec<Bucket>) {
    let n = series.len().div_ceil(2);
    for i in 0..n {
        let mut b = series[2 * i];
        if let Some(next) = series.get(2 * i + 1) {
            b.add(next);
        }
        series[i] = b;
    }
    series.truncate(n);
}

#[cfg(test)]
mod entry_size {
    /// A delay-line entry stays small: the monitor walks the line at every decision, and each
    /// 8 bytes more cost about 1 % of `monitor --read` on the bench capture.
    #[test]
    fn a_pending_entry_is_at_most_80_bytes() {
        assert!(std::mem::size_of::<super::Pending>() <= 80);
    }
}
