//! The packets `levee analyze` looks at closely, kept in memory for its second pass.
//!
//! Every packet of a capture is counted, classified and marked in the flow filters as it is
//! read; that is cheap. Profiling a packet (top lists, histograms, scan probes) and measuring
//! it against every attack and signature candidate is not. On a large capture those are done
//! on a uniform sample, as Cloudflare's and most flow-based detectors do, and the figures they
//! give are scaled by the sampling rate:
//!
//! * each packet is sampled with probability `1/one_in`, independently of the others, so the
//!   sample is random (no aliasing with periodic traffic). The gaps between sampled packets
//!   are drawn from the geometric distribution that gives (one decrement a packet instead of a
//!   hash), and each sampled packet gets a random key whose low `log2(one_in)` bits are zero:
//!   a halving of the rate keeps the records whose key has one more zero bit, a random half,
//!   so the packets kept at a rate are a subset of those kept before it;
//! * the sampled frames are kept here, so the second pass reads memory instead of the file
//!   again; when they outgrow the byte budget, the rate halves and the frames no longer
//!   sampled are dropped. Every frame left was thus sampled at the final rate, and each
//!   counts for `one_in` packets.
//!
//! Captures whose frames fit the budget are sampled at one in one: every packet is measured
//! and the figures are exact. A judged packet's flow evidence is always exact: the flow filters
//! see every packet, sampled or not.

use crate::pages::Pages;
use crate::sketch::fmix64;

/// Bytes before each frame in the store: time, sampling key, link type, lengths, class.
const HEADER: usize = 32;

/// The most a record can take: a frame of the largest length the capture readers hand out.
const MAX_RECORD: usize = HEADER + levee_capture::MAX_CAPLEN as usize + 8;

/// The sampled frames of one thread, and the rate they were sampled at. Each frame is a
/// record in one buffer of huge pages (header, bytes, padding to 8), so filling it costs one
/// page fault per 2 MiB and thinning it moves records down in place.
pub struct SampleStore {
    buffer: Pages,
    /// Bytes of records in `buffer`.
    used: usize,
    records: usize,
    budget: usize,
    draw: Bernoulli,
    /// Sampled frames too long to keep (none from a capture reader).
    skipped: u64,
}

/// Picks packets independently with probability `1/2^rate_log2`: the gaps between picked
/// packets are drawn from the geometric distribution that gives, so deciding costs one
/// decrement a packet. The random numbers are the same sequence on every run, so an analysis
/// can be repeated.
#[derive(Debug, Clone, Default)]
struct Bernoulli {
    /// log2 of the rate's denominator.
    rate_log2: u32,
    /// Packets to pass over before the next one picked.
    skip: u64,
    /// Random numbers drawn so far: the counter the next one is made of.
    draws: u64,
}

impl Bernoulli {
    /// Decides for the next packet: the weight it carries if picked (the packets it stands
    /// for), or 0, with a random key whose low `rate_log2` bits are zero.
    #[inline]
    fn offer(&mut self) -> (u64, u64) {
        if self.skip > 0 {
            self.skip -= 1;
            return (0, 0);
        }
        let key = self.draw() << self.rate_log2;
        self.draw_skip();
        (1 << self.rate_log2, key)
    }

    fn draw(&mut self) -> u64 {
        self.draws += 1;
        fmix64(self.draws.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5a3d_1e00_7f4b_9c21)
    }

    /// Changes the rate. (The gaps are memoryless, so the next is drawn again at the new one.)
    fn set_rate_log2(&mut self, rate_log2: u32) {
        if rate_log2 != self.rate_log2 {
            self.rate_log2 = rate_log2.min(63);
            self.draw_skip();
        }
    }

    /// Draws the number of packets before the next picked one.
    fn draw_skip(&mut self) {
        self.skip = if self.rate_log2 == 0 {
            0
        } else {
            // Uniform in (0, 1]: 53 random bits, never zero.
            let u = ((self.draw() >> 11) + 1) as f64 / (1u64 << 53) as f64;
            let p = 1.0 / (1u64 << self.rate_log2) as f64;
            // ln(u) <= 0 and ln(1 - p) < 0; the cast saturates.
            (u.ln() / (-p).ln_1p()).floor() as u64
        };
    }
}

/// Picks one packet at random in every run of `2^rate_log2`: as many as independent picks at
/// that rate on average, but exactly as many in every stretch of traffic (give or take one),
/// so a rate counted from the picks (a flood's busiest second) carries no counting noise. With
/// independent picks a monitor's peak, the highest of many such counts, came out 3 % high at
/// one packet in eight. The place of the pick in each run is drawn anew, so traffic that
/// cycles through a list (ports, sources) is not seen through one phase of it, as taking every
/// `n`th packet would.
#[derive(Debug, Clone)]
struct Stratified {
    rate_log2: u32,
    /// `2^rate_log2`: a run's packets, and a picked packet's weight (kept, not shifted out
    /// for every packet).
    run: u64,
    /// Packets of the current run passed, and the one of them picked.
    passed: u64,
    pick: u64,
    /// Random numbers drawn so far: the counter the next one is made of.
    draws: u64,
}

impl Default for Stratified {
    fn default() -> Stratified {
        Stratified {
            rate_log2: 0,
            run: 1,
            passed: 0,
            pick: 0,
            draws: 0,
        }
    }
}

impl Stratified {
    /// The weight of the next packet: `2^rate_log2` if it is picked, 0 if not.
    #[inline]
    fn offer(&mut self) -> u64 {
        let picked = self.passed == self.pick;
        self.passed += 1;
        // A run starts at 0 whenever the rate changes, so it ends exactly at its length.
        if self.passed == self.run {
            self.next_run();
        }
        if picked {
            self.run
        } else {
            0
        }
    }

    fn next_run(&mut self) {
        self.passed = 0;
        self.draws += 1;
        let random = fmix64(self.draws.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x7417_0a5e_d00d);
        self.pick = random & (self.run - 1);
    }

    /// Changes the rate from the next run on, which starts now.
    fn set_rate_log2(&mut self, rate_log2: u32) {
        if rate_log2 != self.rate_log2 {
            self.rate_log2 = rate_log2.min(40);
            self.run = 1 << self.rate_log2;
            self.next_run();
        }
    }
}

/// Profiling thinned to a packet rate, for an analysis that keeps no sample (a monitor, whose
/// traffic never ends): every packet is profiled while the traffic stays under `max_pps`, and
/// above it one in the power of two that brings the profiled packets of the last second of
/// traffic under it (one at random in each run of that many, see `Stratified`). The rate
/// follows the traffic both ways, a second behind, so a long calm after a flood is profiled
/// whole again. Within a second the rate only grows sparser, as soon as the packets counted
/// so far would have brought more than `max_pps` at it: a flood's first second (or a
/// monitor's, which has no second before) is profiled at most about twice `max_pps` times,
/// not whole. Profiling a million-packet second whole cost more than counting it, and filled
/// the delay line, pushing packets out before their answers could come.
#[derive(Debug, Clone)]
pub struct Thinning {
    draw: Stratified,
    max_pps: u64,
    /// The end of the second being counted, and its packets so far.
    second_end: i64,
    seen: u64,
    /// The packets of a second at which the rate must grow sparser: `seen` past `max_pps`
    /// runs of the current rate, worked out when the rate changes.
    sparser_at: u64,
    /// The sparsest rate used so far, as a power of two.
    sparsest_log2: u32,
}

impl Thinning {
    /// Profiles at most about `max_pps` packets a second.
    pub fn new(max_pps: u64) -> Thinning {
        Thinning {
            draw: Stratified::default(),
            max_pps: max_pps.max(1),
            second_end: i64::MIN,
            seen: 0,
            sparser_at: max_pps.max(1).saturating_add(1),
            sparsest_log2: 0,
        }
    }

    /// Draws at one packet in `2^rate_log2` from now on.
    fn set_rate_log2(&mut self, rate_log2: u32) {
        self.draw.set_rate_log2(rate_log2);
        self.sparsest_log2 = self.sparsest_log2.max(rate_log2);
        // `seen >> rate_log2 > max_pps`, asked as one comparison.
        let at = (u128::from(self.max_pps) + 1) << self.draw.rate_log2;
        self.sparser_at = u64::try_from(at).unwrap_or(u64::MAX);
    }

    /// Decides for a packet at `ts`: the weight it is profiled with, or 0.
    #[inline]
    pub fn offer(&mut self, ts: i64) -> u64 {
        if ts >= self.second_end {
            self.next_second(ts);
        }
        self.seen += 1;
        if self.seen >= self.sparser_at {
            self.sparser(ts);
        }
        self.draw.offer()
    }

    /// Makes the rate sparser within the second (see the type's description): to what the
    /// second's packets so far, kept up for the whole second, need (at least by half), so a
    /// steady flood is thinned at once to its rate rather than halving its way there.
    #[cold]
    #[inline(never)]
    fn sparser(&mut self, ts: i64) {
        const SECOND: i64 = 1_000_000_000;
        // Over at least a millisecond: packets with one timestamp tell no rate. `seen`
        // packets from the second's start span `seen - 1` gaps.
        let elapsed = (ts - (self.second_end - SECOND)).clamp(SECOND / 1_000, SECOND);
        let projected = u128::from(self.seen - 1) * SECOND as u128 / elapsed as u128;
        let mut rate_log2 = self.draw.rate_log2 + 1;
        while rate_log2 < 40 && projected >> rate_log2 > u128::from(self.max_pps) {
            rate_log2 += 1;
        }
        self.set_rate_log2(rate_log2);
    }

    /// One packet in how many is profiled now.
    pub fn one_in(&self) -> u64 {
        1 << self.draw.rate_log2
    }

    /// One packet in how many was profiled at the sparsest so far: what a figure built from
    /// the profiles since the start may stand on.
    pub fn sparsest_one_in(&self) -> u64 {
        1 << self.sparsest_log2
    }

    #[cold]
    fn next_second(&mut self, ts: i64) {
        // A gap of more than a second: the last second counted says nothing of this one.
        let seen = if ts >= self.second_end.saturating_add(1_000_000_000) {
            0
        } else {
            self.seen
        };
        let mut rate_log2 = 0;
        while rate_log2 < 40 && seen >> rate_log2 > self.max_pps {
            rate_log2 += 1;
        }
        self.set_rate_log2(rate_log2);
        self.seen = 0;
        self.second_end = ts.saturating_add(1_000_000_000);
    }
}

/// A frame handed back by [`SampleStore::for_each`].
pub struct SampledFrame<'a> {
    /// Capture time, ns since 1970.
    pub ts: i64,
    /// The capture's link type.
    pub linktype: u32,
    /// Length on the wire.
    pub orig_len: u32,
    /// The bytes kept.
    pub data: &'a [u8],
    /// The packet's class in the first pass, which saw every packet (the class of a later
    /// fragment depends on its first fragment, which the sample may not hold).
    pub class: u8,
}

/// A record's header.
#[derive(Clone, Copy)]
struct Header {
    ts: i64,
    /// The sampling hash of the packet's index, to thin the sample when the rate halves.
    key: u64,
    linktype: u32,
    orig_len: u32,
    len: u32,
    class: u8,
}

impl Header {
    fn write(&self, to: &mut [u8]) {
        to[0..8].copy_from_slice(&self.ts.to_ne_bytes());
        to[8..16].copy_from_slice(&self.key.to_ne_bytes());
        to[16..20].copy_from_slice(&self.linktype.to_ne_bytes());
        to[20..24].copy_from_slice(&self.orig_len.to_ne_bytes());
        to[24..28].copy_from_slice(&self.len.to_ne_bytes());
        to[28] = self.class;
    }

    fn read(from: &[u8]) -> Header {
        let u32_at = |i: usize| u32::from_ne_bytes(from[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_ne_bytes(from[i..i + 8].try_into().expect("8 bytes"));
        Header {
            ts: u64_at(0) as i64,
            key: u64_at(8),
            linktype: u32_at(16),
            orig_len: u32_at(20),
            len: u32_at(24),
            class: from[28],
        }
    }

    /// Bytes the record takes, header and padding included.
    fn record_len(len: usize) -> usize {
        HEADER + len.div_ceil(8) * 8
    }
}

impl SampleStore {
    /// A store that keeps at most about `budget` bytes.
    pub fn new(budget: usize) -> SampleStore {
        let budget = budget.max(1 << 16);
        SampleStore {
            // Mapped whole: only the pages written are ever touched.
            buffer: Pages::new(budget + MAX_RECORD),
            used: 0,
            records: 0,
            budget,
            draw: Bernoulli::default(),
            skipped: 0,
        }
    }

    /// Starts at the rate the budget will come to anyway when about `bytes` of capture files
    /// are to be read, so the first millions of packets of a large capture are not profiled
    /// at rates soon given up. A frame costs the store more than the file (its entry is
    /// larger than a record header), so this never starts sparser than the budget needs.
    pub fn expect_input_bytes(&mut self, bytes: u64) {
        let mut rate_log2 = 0;
        while rate_log2 < 62 && bytes >> (rate_log2 + 1) >= self.budget as u64 {
            rate_log2 += 1;
        }
        while self.draw.rate_log2 < rate_log2 {
            self.halve();
        }
    }

    /// One packet in how many is sampled now (and, at the end, in the kept frames).
    pub fn one_in(&self) -> u64 {
        1 << self.draw.rate_log2
    }

    /// Frames kept.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether no frame is kept.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Sampled frames that were too long to keep.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Decides for the next packet: the weight it carries if sampled (the packets it stands
    /// for), or 0, with the key to store it under.
    #[inline]
    pub fn offer(&mut self) -> (u64, u64) {
        self.draw.offer()
    }

    /// Keeps a sampled frame (after [`SampleStore::offer`] gave it a weight); halves the rate
    /// while the frames kept exceed the budget.
    pub fn keep(
        &mut self,
        key: u64,
        ts: i64,
        linktype: u32,
        data: &[u8],
        orig_len: u32,
        class: u8,
    ) {
        let need = Header::record_len(data.len());
        if need > MAX_RECORD {
            self.skipped += 1;
            return;
        }
        // `used` is within the budget, so the record fits in the slack beyond it.
        let at = self.used;
        let buf = self.buffer.bytes_mut();
        Header {
            ts,
            key,
            linktype,
            orig_len,
            len: data.len() as u32,
            class,
        }
        .write(&mut buf[at..at + HEADER]);
        buf[at + HEADER..at + HEADER + data.len()].copy_from_slice(data);
        self.used += need;
        self.records += 1;
        while self.used > self.budget && self.draw.rate_log2 < 63 {
            self.halve();
        }
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        self.used
    }

    /// Halves the sampling rate: keeps the records whose key has one more zero bit, moved
    /// down over the dropped ones.
    fn halve(&mut self) {
        let bit = 1u64 << self.draw.rate_log2;
        let buf = self.buffer.bytes_mut();
        let (mut read, mut write, mut kept) = (0, 0, 0);
        while read < self.used {
            let h = Header::read(&buf[read..read + HEADER]);
            let len = Header::record_len(h.len as usize);
            if h.key & bit == 0 {
                buf.copy_within(read..read + len, write);
                write += len;
                kept += 1;
            }
            read += len;
        }
        self.used = write;
        self.records = kept;
        self.draw.set_rate_log2(self.draw.rate_log2 + 1);
    }

    /// Every kept frame, in the order it was read.
    pub fn for_each(&self, mut each: impl FnMut(SampledFrame<'_>)) {
        let buf = self.buffer.bytes();
        let mut at = 0;
        while at < self.used {
            let h = Header::read(&buf[at..at + HEADER]);
            let start = at + HEADER;
            each(SampledFrame {
                ts: h.ts,
                linktype: h.linktype,
                orig_len: h.orig_len,
                data: &buf[start..start + h.len as usize],
                class: h.class,
            });
            at += Header::record_len(h.len as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sparser_point_is_where_the_seconds_packets_pass_max_pps_runs() {
        for max_pps in [1, 7, 1000, 4096, 1 << 40, u64::MAX - 1] {
            let mut t = Thinning::new(max_pps);
            for rate_log2 in 0..=40 {
                t.set_rate_log2(rate_log2);
                let limit = (u128::from(max_pps) + 1) << rate_log2;
                for seen in [limit.saturating_sub(1), limit, limit + 1] {
                    let Ok(seen) = u64::try_from(seen) else {
                        continue;
                    };
                    assert_eq!(
                        seen >= t.sparser_at,
                        seen >> rate_log2 > max_pps,
                        "max {max_pps}, rate {rate_log2}, seen {seen}"
                    );
                }
            }
        }
    }

    const S: i64 = 1_000_000_000;

    /// Packets profiled and their total weight over `seconds` of traffic at `pps`.
    fn thin(t: &mut Thinning, from: i64, seconds: i64, pps: i64) -> (u64, u64) {
        let (mut picked, mut weight) = (0, 0);
        for i in 0..seconds * pps {
            let w = t.offer(from + i * S / pps);
            picked += u64::from(w > 0);
            weight += w;
        }
        (picked, weight)
    }

    #[test]
    fn thinning_profiles_everything_under_its_rate_and_follows_the_traffic_both_ways() {
        let mut t = Thinning::new(1_000);
        assert_eq!(thin(&mut t, 0, 3, 800), (2_400, 2_400));
        assert_eq!(t.one_in(), 1);
        // A flood of 64,000 pps. Its first second grows sparser as it comes: at most about
        // twice the rate profiled, not 64,000, and weighted it still stands for the traffic.
        let (first, first_weight) = thin(&mut t, 3 * S, 1, 64_000);
        assert!(
            (1_000..=2_100).contains(&first),
            "first second profiled {first} times"
        );
        let estimate = first_weight as f64 / 64_000.0;
        assert!((0.95..1.05).contains(&estimate), "{estimate}");
        // After it, one in 64 (1,000 a second).
        let (picked, weight) = thin(&mut t, 4 * S, 9, 64_000);
        assert_eq!(t.one_in(), 64);
        assert!(
            (8_000..10_000).contains(&picked),
            "about 9 seconds x 1,000 profiled: {picked}"
        );
        let estimate = weight as f64 / 576_000.0;
        assert!((0.95..1.05).contains(&estimate), "{estimate}");
        // The flood ends: a second later everything is profiled again.
        thin(&mut t, 13 * S, 2, 500);
        assert_eq!((t.one_in(), t.sparsest_one_in()), (1, 64));
        // And after a silence longer than a second, at once.
        thin(&mut t, 20 * S, 1, 64_000);
        let (picked, _) = thin(&mut t, 30 * S, 1, 10);
        assert_eq!((picked, t.one_in()), (10, 1));
    }

    #[test]
    fn thinning_counts_every_stretch_exactly_and_sees_every_phase_of_a_cycle() {
        let mut t = Stratified::default();
        t.set_rate_log2(3);
        // Traffic cycling through 8 ports: every port is picked, about as often as the others
        // (every 8th packet would see one port only).
        let mut per_port = [0u64; 8];
        let mut per_stretch = Vec::new();
        for _ in 0..100 {
            let mut weight = 0;
            for i in 0..3_000u64 {
                let w = t.offer();
                per_port[(i % 8) as usize] += w;
                weight += w;
            }
            per_stretch.push(weight);
        }
        // Each stretch of 3,000 packets is estimated as 3,000 give or take one pick (8).
        assert!(
            per_stretch.iter().all(|&w| w.abs_diff(3_000) <= 8),
            "{per_stretch:?}"
        );
        for n in per_port {
            assert!((33_000..42_000).contains(&n), "{per_port:?}");
        }
    }

    #[test]
    fn expected_input_sets_the_starting_rate() {
        let mut s = SampleStore::new(1 << 20);
        s.expect_input_bytes(1 << 19);
        assert_eq!(s.one_in(), 1);
        s.expect_input_bytes((1 << 20) * 5);
        assert_eq!(s.one_in(), 4);
        // Never back to a denser rate.
        s.expect_input_bytes(1);
        assert_eq!(s.one_in(), 4);
    }

    #[test]
    fn keeps_everything_within_budget() {
        let mut s = SampleStore::new(1 << 20);
        for i in 0..1000u32 {
            let (w, key) = s.offer();
            assert_eq!(w, 1);
            s.keep(key, i64::from(i), 1, &i.to_be_bytes(), 4, 0);
        }
        assert_eq!(s.one_in(), 1);
        let mut seen = Vec::new();
        s.for_each(|f| seen.push(u32::from_be_bytes(f.data.try_into().unwrap())));
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn samples_one_packet_in_one_in_with_independent_gaps() {
        let mut s = SampleStore::new(1 << 20);
        // The rate halves to 1 in 16 before any packet.
        s.expect_input_bytes((1 << 20) * 16);
        assert_eq!(s.one_in(), 16);
        let n = 1_600_000u64;
        let (mut sampled, mut last, mut gaps_of_zero) = (0u64, None, 0u64);
        let mut low_bits_zero = true;
        for i in 0..n {
            let (w, key) = s.offer();
            if w > 0 {
                assert_eq!(w, 16);
                low_bits_zero &= key & 15 == 0;
                sampled += 1;
                if last == Some(i - 1) {
                    gaps_of_zero += 1;
                }
                last = Some(i);
            }
        }
        assert!(low_bits_zero);
        // 100 000 expected; the standard deviation is about 300.
        assert!(sampled.abs_diff(n / 16) < 2_000, "{sampled}");
        // Independent choices: a sampled packet follows a sampled one 1 time in 16.
        let share = gaps_of_zero as f64 / sampled as f64;
        assert!((share - 1.0 / 16.0).abs() < 0.01, "{share}");
    }

    #[test]
    fn halves_the_rate_and_keeps_a_nested_uniform_sample() {
        let budget = 1 << 16;
        let mut s = SampleStore::new(budget);
        let n = 200_000u32;
        let mut weights = 0u64;
        for i in 0..n {
            let (w, key) = s.offer();
            if w > 0 {
                s.keep(key, i64::from(i), 1, &i.to_be_bytes(), 4, 0);
            }
            weights += w;
        }
        assert!(s.used() <= budget);
        assert!(s.one_in() > 1);
        // The kept frames stand for the whole capture.
        let estimate = s.len() as u64 * s.one_in();
        let err = (estimate as f64 - f64::from(n)).abs() / f64::from(n);
        assert!(err < 0.1, "estimate {estimate} of {n}");
        // Weights given as packets arrived are unbiased too.
        let err = (weights as f64 - f64::from(n)).abs() / f64::from(n);
        assert!(err < 0.1, "weights {weights} of {n}");
        // In order, bytes intact, spread over the whole capture.
        let mut last = -1i64;
        let mut late = 0;
        s.for_each(|f| {
            let v = u32::from_be_bytes(f.data.try_into().unwrap());
            assert_eq!(i64::from(v), f.ts);
            assert!(f.ts > last);
            last = f.ts;
            late += usize::from(v >= n / 2);
        });
        let half = s.len() / 2;
        assert!(late.abs_diff(half) < s.len() / 5, "{late} of {}", s.len());
    }
}
