//! Per-class statistics gathered in the first pass: counts, a time series, sketches of sources
//! and destinations, and exact histograms of the header fields signatures are built from.
//! Everything here has a fixed size, whatever the number of packets or addresses.

use crate::sketch::{DistinctCount, PortCounts, PortMark, TopK};

/// Bins of the IP length histogram: exact up to 2047 bytes, then 64-byte bins up to 64 KiB.
pub const LEN_BINS: usize = 2048 + (65536 - 2048) / 64;

/// The bin of an IP length (see [`LEN_BINS`]).
#[inline]
pub fn len_bin(len: u32) -> usize {
    if len < 2048 {
        len as usize
    } else {
        (2048 + (len as usize - 2048) / 64).min(LEN_BINS - 1)
    }
}

/// The smallest length a bin holds.
pub fn bin_low(bin: usize) -> u32 {
    if bin < 2048 {
        bin as u32
    } else {
        2048 + (bin as u32 - 2048) * 64
    }
}

/// The largest length a bin holds.
pub fn bin_high(bin: usize) -> u32 {
    if bin < 2048 {
        bin as u32
    } else {
        (bin_low(bin) + 63).min(65535)
    }
}

/// One time bucket of a class: packets, wire bytes, and packets carrying the class's evidence
/// (unsolicited, unanswered, not part of a known connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Packets in the bucket.
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Of them, packets that carried the class's evidence.
    pub flagged: u64,
    /// The first and last evidence-carrying packet's time (when `flagged` > 0): where an
    /// attack begins and ends inside a bucket, however wide the buckets grew on a long capture.
    pub first_flagged: i64,
    /// See `first_flagged`.
    pub last_flagged: i64,
}

impl Bucket {
    pub(crate) fn add(&mut self, o: &Bucket) {
        if o.flagged > 0 {
            if self.flagged == 0 {
                self.first_flagged = o.first_flagged;
                self.last_flagged = o.last_flagged;
            } else {
                self.first_flagged = self.first_flagged.min(o.first_flagged);
                self.last_flagged = self.last_flagged.max(o.last_flagged);
            }
        }
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.flagged += o.flagged;
    }

    /// Counts `weight` evidence-carrying packets seen at `ts`.
    pub(crate) fn note_flagged(&mut self, ts: i64, weight: u64) {
        if weight == 0 {
            return;
        }
        if self.flagged == 0 {
            self.first_flagged = ts;
            self.last_flagged = ts;
        } else {
            self.first_flagged = self.first_flagged.min(ts);
            self.last_flagged = self.last_flagged.max(ts);
        }
        self.flagged += weight;
    }
}

/// The busiest second of a class's evidence-carrying packets (or of an attack's packets),
/// counted exactly whatever width the series' buckets grew to: a long capture's buckets
/// average a short attack down, this does not. It keeps the first second, the current one and
/// the 16 busiest (`BUSIEST`): enough to add up the counts two threads hold of the same second,
/// whether they read consecutive parts of a file (a second split at the border) or packets
/// dealt out by flow (every second split). A packet back in a second neither current nor
/// among the busiest is left out (the peak is then a lower bound).
#[derive(Debug, Clone, Copy, Default)]
pub struct SecondPeak {
    first: (i64, u64),
    current: (i64, u64),
    busiest: [(i64, u64); BUSIEST],
}

/// Seconds a [`SecondPeak`] keeps besides the first and the current.
const BUSIEST: usize = 16;

/// A second, in the nanoseconds timestamps count.
pub(crate) const SECOND_NS: i64 = 1_000_000_000;

impl SecondPeak {
    #[inline(always)]
    pub(crate) fn note(&mut self, ts: i64, weight: u64) {
        // Most packets fall in the current second: tell so without a division.
        let start = self.current.0.wrapping_mul(SECOND_NS);
        if self.current.1 > 0 && (ts.wrapping_sub(start) as u64) < SECOND_NS as u64 {
            self.current.1 += weight;
            if self.current.0 == self.first.0 {
                self.first.1 = self.current.1;
            }
            return;
        }
        self.note_elsewhere(ts, weight);
    }

    /// [`SecondPeak::note`] of a packet outside the current second.
    #[cold]
    #[inline(never)]
    fn note_elsewhere(&mut self, ts: i64, weight: u64) {
        let s = ts.div_euclid(SECOND_NS);
        if self.current.1 == 0 && self.first.1 == 0 {
            self.first = (s, weight);
            self.current = (s, weight);
            return;
        }
        if s == self.current.0 {
            self.current.1 += weight;
            if s == self.first.0 {
                self.first.1 = self.current.1;
            }
        } else if s > self.current.0 {
            self.keep(self.current);
            self.current = (s, weight);
        } else if let Some(e) = self.busiest.iter_mut().find(|e| e.1 > 0 && e.0 == s) {
            e.1 += weight;
        }
    }

    /// Keeps a closed second if it is among the busiest.
    fn keep(&mut self, second: (i64, u64)) {
        if second.1 == 0 {
            return;
        }
        let least = self
            .busiest
            .iter_mut()
            .min_by_key(|e| e.1)
            .expect("a non-empty array");
        if second.1 > least.1 {
            *least = second;
        }
    }

    /// Packets in the busiest second kept between `start` and `end` (nanoseconds): a lower
    /// bound, for a busier stretch elsewhere may have pushed this one's seconds out.
    pub fn peak_between(&self, start: i64, end: i64) -> u64 {
        let (lo, hi) = (start.div_euclid(SECOND_NS), end.div_euclid(SECOND_NS));
        self.busiest
            .iter()
            .chain([&self.first, &self.current])
            .filter(|e| e.1 > 0 && (lo..=hi).contains(&e.0))
            .map(|e| e.1)
            .max()
            .unwrap_or(0)
    }

    /// Packets in the busiest second.
    pub fn peak(&self) -> u64 {
        self.busiest
            .iter()
            .map(|e| e.1)
            .max()
            .unwrap_or(0)
            .max(self.current.1)
            .max(self.first.1)
    }

    /// Adds the seconds another thread counted: each second's counts add up.
    pub(crate) fn merge(&mut self, o: &SecondPeak) {
        let mut seconds: Vec<(i64, u64)> = Vec::with_capacity(2 * BUSIEST + 4);
        for side in [&*self, o] {
            // The first second may also be the current one or among the busiest: once each.
            let mut own: Vec<(i64, u64)> =
                side.busiest.iter().copied().filter(|e| e.1 > 0).collect();
            for extra in [side.first, side.current] {
                if extra.1 > 0 {
                    match own.iter_mut().find(|e| e.0 == extra.0) {
                        Some(e) => e.1 = e.1.max(extra.1),
                        None => own.push(extra),
                    }
                }
            }
            for (sec, n) in own {
                match seconds.iter_mut().find(|e| e.0 == sec) {
                    Some(e) => e.1 += n,
                    None => seconds.push((sec, n)),
                }
            }
        }
        let first = match (self.first.1, o.first.1) {
            (0, _) => o.first,
            (_, 0) => self.first,
            _ => {
                let s = self.first.0.min(o.first.0);
                (s, seconds.iter().find(|e| e.0 == s).map_or(0, |e| e.1))
            }
        };
        seconds.sort_by_key(|e| std::cmp::Reverse(e.1));
        let mut merged = SecondPeak {
            first,
            current: (i64::MIN, 0),
            busiest: [(0, 0); BUSIEST],
        };
        for (slot, e) in merged.busiest.iter_mut().zip(seconds) {
            *slot = e;
        }
        *self = merged;
    }
}

/// Top-k capacity of the per-class sketches.
const CLASS_TOPK: usize = 512;

/// Counts, the series and distinct estimates cover every packet of the class; the profile
/// (top lists and histograms, from `profiled` on) covers only the packets that carried the
/// class's evidence, so a signature is built from attack packets, not from the legitimate
/// packets of the same kind.
pub struct ClassStats {
    /// Packets of the class.
    pub packets: u64,
    /// Their bytes on the wire.
    pub bytes: u64,
    /// Of them, packets that carried the class's evidence.
    pub flagged: u64,
    /// Packets in the profile (sampled packets count for the packets they stand for).
    pub profiled: u64,
    /// Packets actually profiled: `profiled` without the sampling weights.
    pub profiled_samples: u64,
    /// The first packet's time (ns since 1970).
    pub first_ts: i64,
    /// The last packet's time (ns since 1970).
    pub last_ts: i64,
    /// Buckets from the analyzer's base bucket on, all of the analyzer's width.
    pub series: Vec<Bucket>,
    /// The busiest second of the evidence-carrying packets.
    pub second_peak: SecondPeak,
    /// The busiest second of all the class's packets, counted on every packet even when only
    /// a sample is profiled: it caps a sample's estimate of an attack's busiest second.
    pub packets_second: SecondPeak,
    /// Distinct source addresses of every packet.
    pub distinct_sources: DistinctCount,
    /// Distinct destination addresses of every packet.
    pub distinct_destinations: DistinctCount,
    /// The hash of the last destination added to `distinct_destinations`: a flood's victim
    /// repeats, and adding a hash again changes nothing.
    pub(crate) last_destination_hash: u64,
    /// Distinct sources of the profiled packets.
    pub profile_sources: DistinctCount,
    /// The busiest sources of the profile.
    pub sources: TopK<u128>,
    /// The busiest destinations of the profile.
    pub destinations: TopK<u128>,
    /// Destinations cut to /24 (IPv4) or /48 (IPv6), to see carpet bombing of a prefix.
    pub destination_prefixes: TopK<u128>,
    /// Packets per destination port of the profile.
    pub dst_ports: PortCounts,
    /// Packets per source port of the profile.
    pub src_ports: PortCounts,
    /// Packets per TTL of the profile.
    pub ttl: [u64; 256],
    /// Packets per IP length bin of the profile (see [`len_bin`]).
    pub lengths: Box<[u64]>,
    /// Packets per TCP flags byte (CWR to FIN) of the profile.
    pub tcp_flags: [u64; 256],
    /// The commonest TCP windows of the profile.
    pub windows: TopK<u16>,
    /// The commonest IP IDs of the profile.
    pub ip_ids: TopK<u32>,
    /// Packets per ICMP type of the profile.
    pub icmp_types: [u64; 256],
    /// Packets per IP protocol of the profile.
    pub protocols: [u64; 256],
    /// Packets of the profile from private, reserved or unallocated addresses.
    pub bogon_sources: u64,
    /// Later fragments counted in this class (joined to their first fragment).
    pub later_fragments: u64,
    /// SYN class: handshakes seen completing (first ACK of a flow whose SYN was seen).
    pub completed: u64,
    /// Packets of the profile over IPv6.
    pub ipv6: u64,
    /// The first bytes of the profiled UDP datagrams, for payload fingerprints.
    pub payload_head: PayloadHead,
    /// The DNS questions, for the classes that carry DNS.
    pub dns: Option<Box<DnsStats>>,
    /// What was profiled are flow records, each standing for its packets: sources are
    /// counted by record, not scaled up as a sample's are.
    pub flow_records: bool,
}

/// Bytes at the start of each profiled UDP or TCP payload read for fingerprints (see
/// [`PayloadHead`]).
pub const HEAD_BYTES: usize = 16;

/// The payloads of the profiled UDP datagrams and TCP segments, as bytes at fixed offsets: at
/// each of the first [`HEAD_BYTES`] offsets and of the last [`TAIL_BYTES`], the packets per
/// byte value, so that bytes every packet of a flood carries stand out from the noise of real
/// protocols (see `signature`); and the payload length most of them share. Empty (no memory)
/// until a payload is added.
#[derive(Clone, Default)]
pub struct PayloadHead {
    /// The packets added (with their weights), however short their payloads.
    pub datagrams: u64,
    /// Per offset from the start, packets per byte value.
    counts: Vec<[u64; 256]>,
    /// Per offset of the last [`TAIL_BYTES`] (the payload's last byte last), packets per byte
    /// value; only of payloads seen whole (not cut by a snapshot length).
    tail: Vec<[u64; 256]>,
    /// The payload length a majority shares, if any does, and its margin over the others
    /// (Boyer-Moore's vote, weighted): exact for a length 99 % of them share.
    length_vote: (u32, u64),
}

/// Bytes at the end of a payload kept for [`PayloadHead`].
pub const TAIL_BYTES: usize = 8;

/// Where a payload's bytes were taken from: its first [`HEAD_BYTES`] (all of it when shorter)
/// and, when the payload was seen whole, its last [`TAIL_BYTES`] and its length.
#[derive(Clone, Copy)]
pub struct PayloadSample<'a> {
    /// The first bytes (all of a shorter payload).
    pub head: &'a [u8],
    /// The last bytes (all of a shorter payload) and the payload's length.
    pub tail: Option<(&'a [u8], u32)>,
}

impl PayloadHead {
    /// Adds a packet's payload, standing for `weight` packets.
    #[inline]
    pub fn add(&mut self, payload: PayloadSample<'_>, weight: u64) {
        self.datagrams += weight;
        if payload.head.is_empty() {
            // No byte to count (empty datagrams): no memory taken, nor copied with the
            // profile at every decision.
            if let Some((_, len)) = payload.tail {
                self.length_vote = vote(self.length_vote, (len, weight));
            }
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![[0; 256]; HEAD_BYTES];
            self.tail = vec![[0; 256]; TAIL_BYTES];
        }
        for (at, &b) in self.counts.iter_mut().zip(payload.head) {
            at[usize::from(b)] += weight;
        }
        if let Some((tail, len)) = payload.tail {
            let skip = TAIL_BYTES - tail.len().min(TAIL_BYTES);
            for (at, &b) in self.tail[skip..].iter_mut().zip(tail) {
                at[usize::from(b)] += weight;
            }
            self.length_vote = vote(self.length_vote, (len, weight));
        }
    }

    /// Adds another's packets.
    pub fn merge(&mut self, o: &PayloadHead) {
        self.datagrams += o.datagrams;
        self.length_vote = vote(self.length_vote, o.length_vote);
        if o.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![[0; 256]; HEAD_BYTES];
            self.tail = vec![[0; 256]; TAIL_BYTES];
        }
        for (a, b) in self
            .counts
            .iter_mut()
            .zip(&o.counts)
            .chain(self.tail.iter_mut().zip(&o.tail))
        {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
    }

    /// Per offset from the start, the commonest byte when it holds at least `share` of the
    /// packets added (shorter payloads count against it).
    pub fn fixed(&self, share: f64) -> Vec<Option<u8>> {
        self.fixed_in(&self.counts, share)
    }

    /// [`PayloadHead::fixed`] for the last [`TAIL_BYTES`] offsets, the last byte last (payloads
    /// not seen whole and shorter ones count against them).
    pub fn fixed_tail(&self, share: f64) -> Vec<Option<u8>> {
        self.fixed_in(&self.tail, share)
    }

    fn fixed_in(&self, counts: &[[u64; 256]], share: f64) -> Vec<Option<u8>> {
        let need = share * self.datagrams as f64;
        if counts.is_empty() {
            return Vec::new();
        }
        counts
            .iter()
            .map(|at| {
                let (b, &n) = at.iter().enumerate().max_by_key(|&(_, n)| *n)?;
                (self.datagrams > 0 && n as f64 >= need).then_some(b as u8)
            })
            .collect()
    }

    /// The payload length a majority of the packets seen whole share, if one may: the vote's
    /// winner, which is that length whenever one holds more than half of them (a caller checks
    /// the share some other way, such as the IP lengths).
    pub fn majority_length(&self) -> Option<u32> {
        (self.length_vote.1 > 0).then_some(self.length_vote.0)
    }
}

/// Boyer-Moore's majority vote with weights: two tallies of (candidate, margin) made one.
fn vote(a: (u32, u64), b: (u32, u64)) -> (u32, u64) {
    if a.0 == b.0 {
        (a.0, a.1 + b.1)
    } else if a.1 >= b.1 {
        (a.0, a.1 - b.1)
    } else {
        (b.0, b.1 - a.1)
    }
}

/// DNS questions seen in a class (queries to port 53, or responses from it).
pub struct DnsStats {
    /// Messages whose question parsed.
    pub parsed: u64,
    /// The commonest names asked.
    pub names: TopK<String>,
    /// Zones: the last two labels of each name (`example.com`).
    pub zones: TopK<String>,
    /// Distinct names asked (estimated).
    pub distinct_names: DistinctCount,
    /// The commonest question types.
    pub qtypes: TopK<u16>,
}

levee_sketch::clone_reusing!(ClassStats {
    packets,
    bytes,
    flagged,
    profiled,
    profiled_samples,
    first_ts,
    last_ts,
    series,
    second_peak,
    packets_second,
    distinct_sources,
    distinct_destinations,
    last_destination_hash,
    profile_sources,
    sources,
    destinations,
    destination_prefixes,
    dst_ports,
    src_ports,
    ttl,
    lengths,
    tcp_flags,
    windows,
    ip_ids,
    icmp_types,
    protocols,
    bogon_sources,
    later_fragments,
    completed,
    ipv6,
    payload_head,
    dns,
    flow_records,
});

/// What profiling changes in a class but its port counts, put aside so the class can be put
/// back as it was: a provisional judgement (`Analyzer::with_delay_judged`) profiles the
/// packets still waiting, judges, and puts the class back. Copied into memory kept from the
/// last time (a class's profile is a sixth of a megabyte; a monitor does this every second),
/// and put back by swapping. The port tables (256 KiB) are not copied: the caller takes back
/// what it added to them ([`PortCounts::take_back`]) from the marks kept here.
pub(crate) struct ProfileSnapshot {
    /// The series from this bucket on: the waiting packets' buckets.
    from_bucket: usize,
    series: Vec<Bucket>,
    flagged: u64,
    profiled: u64,
    profiled_samples: u64,
    second_peak: SecondPeak,
    profile_sources: DistinctCount,
    sources: TopK<u128>,
    destinations: TopK<u128>,
    destination_prefixes: TopK<u128>,
    pub(crate) dst_ports: PortMark,
    pub(crate) src_ports: PortMark,
    ttl: [u64; 256],
    lengths: Box<[u64]>,
    tcp_flags: [u64; 256],
    windows: TopK<u16>,
    ip_ids: TopK<u32>,
    icmp_types: [u64; 256],
    protocols: [u64; 256],
    bogon_sources: u64,
    later_fragments: u64,
    ipv6: u64,
    payload_head: PayloadHead,
}

impl ProfileSnapshot {
    /// What profiling may change in `c`, for packets in buckets `from_bucket` and later.
    pub(crate) fn of(c: &ClassStats, from_bucket: usize) -> ProfileSnapshot {
        ProfileSnapshot {
            from_bucket,
            series: c.series.get(from_bucket..).unwrap_or_default().to_vec(),
            flagged: c.flagged,
            profiled: c.profiled,
            profiled_samples: c.profiled_samples,
            second_peak: c.second_peak,
            profile_sources: c.profile_sources.clone(),
            sources: c.sources.clone(),
            destinations: c.destinations.clone(),
            destination_prefixes: c.destination_prefixes.clone(),
            dst_ports: c.dst_ports.mark(),
            src_ports: c.src_ports.mark(),
            ttl: c.ttl,
            lengths: c.lengths.clone(),
            tcp_flags: c.tcp_flags,
            windows: c.windows.clone(),
            ip_ids: c.ip_ids.clone(),
            icmp_types: c.icmp_types,
            protocols: c.protocols,
            bogon_sources: c.bogon_sources,
            later_fragments: c.later_fragments,
            ipv6: c.ipv6,
            payload_head: c.payload_head.clone(),
        }
    }

    /// [`ProfileSnapshot::of`] into this one's memory.
    pub(crate) fn retake(&mut self, c: &ClassStats, from_bucket: usize) {
        // Every field of the class is named: one added later must be put aside here, or said
        // to be left alone by profiling.
        let ClassStats {
            // Counted as packets arrive, not by profiling.
            packets: _,
            bytes: _,
            first_ts: _,
            last_ts: _,
            packets_second: _,
            distinct_sources: _,
            distinct_destinations: _,
            last_destination_hash: _,
            completed: _,
            dns: _,
            flow_records: _,
            // Profiled.
            series,
            flagged,
            profiled,
            profiled_samples,
            second_peak,
            profile_sources,
            sources,
            destinations,
            destination_prefixes,
            dst_ports,
            src_ports,
            ttl,
            lengths,
            tcp_flags,
            windows,
            ip_ids,
            icmp_types,
            protocols,
            bogon_sources,
            later_fragments,
            ipv6,
            payload_head,
        } = c;
        self.from_bucket = from_bucket;
        self.series.clear();
        self.series
            .extend_from_slice(series.get(from_bucket..).unwrap_or_default());
        self.flagged = *flagged;
        self.profiled = *profiled;
        self.profiled_samples = *profiled_samples;
        self.second_peak = *second_peak;
        self.profile_sources.clone_from(profile_sources);
        self.sources.clone_from(sources);
        self.destinations.clone_from(destinations);
        self.destination_prefixes.clone_from(destination_prefixes);
        self.dst_ports = dst_ports.mark();
        self.src_ports = src_ports.mark();
        self.ttl = *ttl;
        self.lengths.clone_from(lengths);
        self.tcp_flags = *tcp_flags;
        self.windows.clone_from(windows);
        self.ip_ids.clone_from(ip_ids);
        self.icmp_types = *icmp_types;
        self.protocols = *protocols;
        self.bogon_sources = *bogon_sources;
        self.later_fragments = *later_fragments;
        self.ipv6 = *ipv6;
        self.payload_head.clone_from(payload_head);
    }

    /// Puts `c` back as it was when this was taken (but for its port counts, which the
    /// caller takes back). What `c` held goes here, to be written over by the next
    /// [`ProfileSnapshot::retake`].
    pub(crate) fn put_back(&mut self, c: &mut ClassStats) {
        use std::mem::swap;
        if let Some(tail) = c.series.get_mut(self.from_bucket..) {
            // Profiling places packets in existing buckets only: the length is unchanged.
            tail.copy_from_slice(&self.series);
        }
        c.flagged = self.flagged;
        c.profiled = self.profiled;
        c.profiled_samples = self.profiled_samples;
        c.second_peak = self.second_peak;
        swap(&mut c.profile_sources, &mut self.profile_sources);
        swap(&mut c.sources, &mut self.sources);
        swap(&mut c.destinations, &mut self.destinations);
        swap(&mut c.destination_prefixes, &mut self.destination_prefixes);
        c.ttl = self.ttl;
        swap(&mut c.lengths, &mut self.lengths);
        c.tcp_flags = self.tcp_flags;
        swap(&mut c.windows, &mut self.windows);
        swap(&mut c.ip_ids, &mut self.ip_ids);
        c.icmp_types = self.icmp_types;
        c.protocols = self.protocols;
        c.bogon_sources = self.bogon_sources;
        c.later_fragments = self.later_fragments;
        c.ipv6 = self.ipv6;
        swap(&mut c.payload_head, &mut self.payload_head);
    }
}

levee_sketch::clone_reusing!(DnsStats {
    parsed,
    names,
    zones,
    distinct_names,
    qtypes,
});

impl DnsStats {
    fn new() -> DnsStats {
        DnsStats {
            parsed: 0,
            names: TopK::new(256),
            zones: TopK::new(256),
            distinct_names: DistinctCount::default(),
            qtypes: TopK::new(64),
        }
    }

    /// Adds another part's questions.
    pub fn merge(&mut self, o: &DnsStats) {
        self.parsed += o.parsed;
        self.names.merge(&o.names);
        self.zones.merge(&o.zones);
        self.distinct_names.merge(&o.distinct_names);
        self.qtypes.merge(&o.qtypes);
    }

    /// Counts one question. Runs for every DNS query of a capture (a water-torture flood is
    /// millions of them), so it makes no more strings than the two sketches keep.
    pub fn add(&mut self, name: &str, qtype: Option<u16>) {
        self.parsed += 1;
        let name = name.trim_end_matches('.');
        // The decoder lower-cases names already; other callers may not.
        let name: std::borrow::Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            name.to_ascii_lowercase().into()
        } else {
            name.into()
        };
        self.distinct_names.add(&*name);
        // The zone: the last two labels (`example.com`), or the whole name if it has fewer.
        let zone_start = name
            .bytes()
            .enumerate()
            .rev()
            .filter(|&(_, b)| b == b'.')
            .nth(1)
            .map_or(0, |(dot, _)| dot + 1);
        self.zones.add(name[zone_start..].to_string(), 1);
        self.names.add(name.into_owned(), 1);
        if let Some(t) = qtype {
            self.qtypes.add(t, 1);
        }
    }
}

impl ClassStats {
    /// Forgets what was profiled (the evidence-carrying packets' sources, destinations,
    /// ports, sizes, TTLs...) and the questions asked, keeping the counts of every packet and
    /// the series: for a stream that never ends, once the class's attack is over, so that the
    /// next attack of the class is described by its own packets, not by a blend with the last
    /// one's (a SYN flood on port 443 ten minutes after one on port 80 was given
    /// `tcp.dstport in {80 443}`: a rule that would also drop the web's new connections).
    pub fn forget_profile(&mut self) {
        let mut fresh = ClassStats::new(self.dns.is_some());
        // What profiling changes, as a fresh class has it (the series stay: their buckets are
        // the class's rates), and the port tables and questions besides.
        ProfileSnapshot::of(&fresh, usize::MAX).put_back(self);
        self.dst_ports = std::mem::take(&mut fresh.dst_ports);
        self.src_ports = std::mem::take(&mut fresh.src_ports);
        self.dns = fresh.dns;
    }

    /// A class with no packet yet; `with_dns` for the classes that carry DNS.
    pub fn new(with_dns: bool) -> ClassStats {
        ClassStats {
            packets: 0,
            bytes: 0,
            flagged: 0,
            profiled: 0,
            profiled_samples: 0,
            first_ts: i64::MAX,
            last_ts: i64::MIN,
            second_peak: SecondPeak::default(),
            packets_second: SecondPeak::default(),
            series: Vec::new(),
            distinct_sources: DistinctCount::default(),
            distinct_destinations: DistinctCount::default(),
            last_destination_hash: 0,
            profile_sources: DistinctCount::default(),
            sources: TopK::new(CLASS_TOPK),
            destinations: TopK::new(CLASS_TOPK),
            destination_prefixes: TopK::new(CLASS_TOPK),
            dst_ports: PortCounts::default(),
            src_ports: PortCounts::default(),
            ttl: [0; 256],
            lengths: vec![0; LEN_BINS].into_boxed_slice(),
            tcp_flags: [0; 256],
            windows: TopK::new(64),
            ip_ids: TopK::new(64),
            icmp_types: [0; 256],
            protocols: [0; 256],
            bogon_sources: 0,
            later_fragments: 0,
            completed: 0,
            ipv6: 0,
            payload_head: PayloadHead::default(),
            dns: with_dns.then(|| Box::new(DnsStats::new())),
            flow_records: false,
        }
    }

    /// Evidence-carrying packets in their busiest second. From a sample each counts for the
    /// packets it stands for, so the count is capped by the class's busiest second, counted
    /// on every packet.
    pub fn busiest_evidence_second(&self) -> u64 {
        self.second_peak.peak().min(self.packets_second.peak())
    }

    /// Distinct sources of the evidence-carrying packets. Exact up to the HyperLogLog's error
    /// when every packet was profiled; from a sample, the sources seen are scaled up as far as
    /// the sample says sources are new with (nearly) every packet (a spoofed flood: every
    /// source unseen by the sample is another one), and not at all where the sample's sources
    /// repeat (a botnet's few hundred sources are all in the sample). Never above the class's
    /// distinct sources, which are counted on every packet.
    pub fn evidence_sources(&self) -> u64 {
        let seen = self.profile_sources.estimate();
        // A flow record of many packets is not a sample of them: its source is one.
        if self.flow_records || self.profiled_samples == 0 || self.profiled <= self.profiled_samples
        {
            return seen;
        }
        let weight = self.profiled as f64 / self.profiled_samples as f64;
        // A sample whose every source was new (a spoofed flood's) is counted short by the
        // sketch's own error as often as long. Within 2.5 standard errors of one new source
        // a packet it is taken as one, so the estimate errs by the sketch's error once:
        // scaling by the short share as well counted it twice (a flood of 4.5 million
        // sources told as 4.36 million).
        let full = self.profiled_samples as f64 * (1.0 - 2.5 * DistinctCount::STANDARD_ERROR);
        let new_per_packet = (seen as f64 / full).min(1.0);
        let scaled = seen as f64 * (1.0 + (weight - 1.0) * new_per_packet);
        (scaled as u64).min(self.distinct_sources.estimate().max(seen))
    }

    /// `n` as a count of this class: estimated when the class was profiled from a sample.
    pub fn count(&self, n: u64) -> crate::evidence::Count {
        crate::evidence::Count {
            n,
            estimated: self.profiled > self.profiled_samples,
        }
    }

    /// The bucket at `index`, added (empty) when the series is shorter.
    #[inline]
    pub fn bucket(&mut self, index: usize) -> &mut Bucket {
        if index >= self.series.len() {
            self.series.resize(index + 1, Bucket::default());
        }
        &mut self.series[index]
    }

    /// Halves the time resolution: bucket `2i` and `2i+1` become bucket `i`.
    pub fn coarsen(&mut self) {
        let n = self.series.len().div_ceil(2);
        for i in 0..n {
            let mut b = self.series[2 * i];
            if let Some(next) = self.series.get(2 * i + 1) {
                b.add(next);
            }
            self.series[i] = b;
        }
        self.series.truncate(n);
    }

    /// Merges another class's statistics into this one, its series already placed on this
    /// one's buckets.
    pub fn merge_with_series(&mut self, o: &ClassStats, placed: &[Bucket]) {
        self.merge_counts(o, placed);
        if let (Some(a), Some(b)) = (self.dns.as_deref_mut(), o.dns.as_deref()) {
            a.merge(b);
        } else if self.dns.is_none() {
            if let Some(b) = o.dns.as_deref() {
                let mut d = DnsStats::new();
                d.merge(b);
                self.dns = Some(Box::new(d));
            }
        }
    }

    /// Merges another class's statistics (same bucket layout) into this one.
    pub fn merge(&mut self, o: &ClassStats) {
        let placed = o.series.clone();
        self.merge_counts(o, &placed);
    }

    fn merge_counts(&mut self, o: &ClassStats, placed: &[Bucket]) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.flagged += o.flagged;
        self.profiled += o.profiled;
        self.profiled_samples += o.profiled_samples;
        self.first_ts = self.first_ts.min(o.first_ts);
        self.last_ts = self.last_ts.max(o.last_ts);
        self.second_peak.merge(&o.second_peak);
        self.packets_second.merge(&o.packets_second);
        if placed.len() > self.series.len() {
            self.series.resize(placed.len(), Bucket::default());
        }
        for (a, b) in self.series.iter_mut().zip(placed) {
            a.add(b);
        }
        self.distinct_sources.merge(&o.distinct_sources);
        self.distinct_destinations.merge(&o.distinct_destinations);
        self.profile_sources.merge(&o.profile_sources);
        self.sources.merge(&o.sources);
        self.destinations.merge(&o.destinations);
        self.destination_prefixes.merge(&o.destination_prefixes);
        self.dst_ports.merge(&o.dst_ports);
        self.src_ports.merge(&o.src_ports);
        for (a, b) in self.lengths.iter_mut().zip(o.lengths.iter()) {
            *a += b;
        }
        for i in 0..256 {
            self.ttl[i] += o.ttl[i];
            self.tcp_flags[i] += o.tcp_flags[i];
            self.icmp_types[i] += o.icmp_types[i];
            self.protocols[i] += o.protocols[i];
        }
        self.windows.merge(&o.windows);
        self.ip_ids.merge(&o.ip_ids);
        self.bogon_sources += o.bogon_sources;
        self.later_fragments += o.later_fragments;
        self.completed += o.completed;
        self.ipv6 += o.ipv6;
        self.payload_head.merge(&o.payload_head);
    }
}

/// The smallest range `[lo, hi]` of a histogram holding at least `share` of its weight,
/// trimming equal weight from both ends. `None` for an empty histogram.
pub fn central_range(hist: &[u64], share: f64) -> Option<(usize, usize)> {
    let total: u64 = hist.iter().sum();
    if total == 0 {
        return None;
    }
    let trim = ((1.0 - share) / 2.0 * total as f64).floor() as u64;
    let lo = first_past(hist.iter().enumerate(), trim, hist.chunks(ZERO_RUN)).unwrap_or(0);
    let hi = first_past(hist.iter().enumerate().rev(), trim, hist.rchunks(ZERO_RUN))
        .unwrap_or(hist.len() - 1);
    Some((lo, hi.max(lo)))
}

/// Bins [`central_range`] passes over at once when all are empty.
const ZERO_RUN: usize = 16;

/// The first bin, walking `bins` (indexed, in either direction, in `chunks` of [`ZERO_RUN`]
/// in the same order), at which the count so far passes `trim`. Empty runs are passed over
/// whole: a length histogram is 3,040 bins, nearly all empty, and a monitor asked for its
/// range twice at every decision.
fn first_past<'a>(
    mut bins: impl Iterator<Item = (usize, &'a u64)>,
    trim: u64,
    chunks: impl Iterator<Item = &'a [u64]>,
) -> Option<usize> {
    let mut acc = 0u64;
    for chunk in chunks {
        if chunk.iter().fold(0, |any, &c| any | c) == 0 {
            // Skip the chunk's bins in the walk too (a chunk is never empty).
            bins.nth(chunk.len() - 1);
            continue;
        }
        for _ in 0..chunk.len() {
            let (i, &c) = bins.next()?;
            if c > 0 && acc + c > trim {
                return Some(i);
            }
            acc += c;
        }
    }
    None
}

/// Whether an IPv4 or IPv6 source can never be a real sender on the Internet (RFC 6890 special
/// purpose and unallocated space), kept as a short list of prefixes.
#[inline]
pub fn is_bogon(addr: u128) -> bool {
    const V4_MAPPED: u128 = 0xffff_0000_0000;
    if addr >> 32 == V4_MAPPED >> 32 {
        let a = addr as u32;
        let in_net = |net: u32, len: u32| (a ^ net) >> (32 - len) == 0;
        return in_net(0x0000_0000, 8)
            || in_net(0x0a00_0000, 8)
            || in_net(0x6440_0000, 10)
            || in_net(0x7f00_0000, 8)
            || in_net(0xa9fe_0000, 16)
            || in_net(0xac10_0000, 12)
            || in_net(0xc000_0000, 24)
            || in_net(0xc000_0200, 24)
            || in_net(0xc0a8_0000, 16)
            || in_net(0xc612_0000, 15)
            || in_net(0xc633_6400, 24)
            || in_net(0xcb00_7100, 24)
            || in_net(0xe000_0000, 3);
    }
    // IPv6: only global unicast 2000::/3 is routable; documentation 2001:db8::/32 is not.
    let top = (addr >> 125) as u8;
    top != 1 || (addr >> 96) == 0x2001_0db8
}

#[cfg(test)]
mod tests {
    #[test]
    fn dns_questions_are_counted_by_name_and_by_zone() {
        let mut d = DnsStats::new();
        for name in [
            "A1.Victim.example.",
            "b2.victim.example",
            "victim.example",
            "localhost",
        ] {
            d.add(name, Some(1));
        }
        d.add("x.y.other.net", None);
        let zones = d.zones.top(10);
        assert_eq!(zones[0], ("victim.example".to_string(), 3));
        assert!(zones.contains(&("localhost".to_string(), 1)));
        assert!(zones.contains(&("other.net".to_string(), 1)));
        let names = d.names.top(10);
        assert!(
            names.contains(&("a1.victim.example".to_string(), 1)),
            "{names:?}"
        );
        assert_eq!(d.parsed, 5);
        assert_eq!(d.qtypes.top(1), vec![(1, 4)]);
    }

    use super::*;

    fn v4(a: [u8; 4]) -> u128 {
        u128::from(std::net::Ipv4Addr::from(a).to_ipv6_mapped())
    }

    #[test]
    fn bogons() {
        assert!(is_bogon(v4([10, 1, 2, 3])));
        assert!(is_bogon(v4([192, 168, 0, 1])));
        assert!(is_bogon(v4([240, 0, 0, 1])));
        assert!(is_bogon(v4([0, 1, 2, 3])));
        assert!(!is_bogon(v4([8, 8, 8, 8])));
        assert!(!is_bogon(v4([172, 32, 0, 1])));
        assert!(!is_bogon(u128::from(
            "2a00:1450::1".parse::<std::net::Ipv6Addr>().unwrap()
        )));
        assert!(is_bogon(u128::from(
            "fe80::1".parse::<std::net::Ipv6Addr>().unwrap()
        )));
        assert!(is_bogon(u128::from(
            "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap()
        )));
    }

    #[test]
    fn central_range_trims_tails() {
        let mut h = vec![0u64; 100];
        h[40] = 990;
        h[3] = 5;
        h[90] = 5;
        assert_eq!(central_range(&h, 0.99), Some((40, 40)));
        assert_eq!(central_range(&h, 1.0), Some((3, 90)));
        assert_eq!(central_range(&[0, 0], 0.99), None);
        // Against the plain walk, on histograms with long empty runs of every length.
        let plain = |h: &[u64], share: f64| {
            let total: u64 = h.iter().sum();
            let trim = ((1.0 - share) / 2.0 * total as f64).floor() as u64;
            let past = |bins: &mut dyn Iterator<Item = (usize, &u64)>| {
                let mut acc = 0;
                for (i, &c) in bins {
                    if c > 0 && acc + c > trim {
                        return Some(i);
                    }
                    acc += c;
                }
                None
            };
            let lo = past(&mut h.iter().enumerate()).unwrap_or(0);
            let hi = past(&mut h.iter().enumerate().rev()).unwrap_or(h.len() - 1);
            (total > 0).then_some((lo, hi.max(lo)))
        };
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..300 {
            rng = crate::sketch::fmix64(rng);
            let len = 1 + (rng % 200) as usize;
            let mut h = vec![0u64; len];
            for _ in 0..(round % 7) {
                rng = crate::sketch::fmix64(rng);
                h[(rng % len as u64) as usize] += 1 + rng % 50;
            }
            for share in [1.0, 0.99, 0.95, 0.5] {
                assert_eq!(central_range(&h, share), plain(&h, share), "{h:?} {share}");
            }
        }
        for len in [0u32, 60, 1500, 2047, 2048, 2111, 2112, 9000, 65535] {
            let b = len_bin(len);
            assert!(bin_low(b) <= len && len <= bin_high(b), "{len}");
        }
    }
}

#[cfg(test)]
mod second_peak_tests {
    use super::*;

    const S: i64 = SECOND_NS;

    #[test]
    fn the_busiest_second_is_counted_exactly_and_split_seconds_add_up() {
        let mut one = SecondPeak::default();
        for (ts, w) in [
            (S, 3),
            (S + 10, 2),
            (2 * S, 4),
            (3 * S + 5, 1),
            (2 * S + 1, 9),
        ] {
            one.note(ts, w);
        }
        // The packet back in second 2 arrived after second 3 began: it still counts there.
        assert_eq!(one.peak(), 13);
        // Two threads' halves of second 7 (4 + 3) make the busiest second.
        let (mut a, mut b) = (SecondPeak::default(), SecondPeak::default());
        a.note(5 * S, 5);
        a.note(7 * S, 4);
        b.note(7 * S + 500, 3);
        b.note(8 * S, 1);
        let mut ab = b;
        ab.merge(&a);
        assert_eq!(ab.peak(), 7);
        a.merge(&b);
        assert_eq!(a.peak(), 7);
        // Packets dealt out by flow: both threads hold part of every second.
        let (mut x, mut y) = (SecondPeak::default(), SecondPeak::default());
        for sec in 0..40 {
            let n = if sec == 20 { 100 } else { 10 };
            x.note(sec * S, n);
            y.note(sec * S + 1, n / 2);
        }
        x.merge(&y);
        assert_eq!(x.peak(), 150);
        // An out-of-order packet back in a busy second still counts there.
        let mut z = SecondPeak::default();
        z.note(S, 50);
        z.note(2 * S, 1);
        z.note(S + 3, 5);
        assert_eq!(z.peak(), 55);
    }
}
