//! The packets `levee analyze` looks at closely, kept in memory for its second pass.
//!
//! Every packet of a capture is counted, classified and marked in the flow filters as it is
//! read; that is cheap. Profiling a packet (top lists, histograms, scan probes) and measuring
//! it against every attack and signature candidate is not. On a large capture those are done
//! on a uniform sample, as Cloudflare's and most flow-based detectors do, and the figures they
//! give are scaled by the sampling rate:
//!
//! * packet `i` of a thread is sampled when the low `log2(one_in)` bits of a hash of `i` are
//!   zero, so the sample is random (no aliasing with periodic traffic) and each halving of the
//!   rate keeps a subset of the packets kept before;
//! * the sampled frames are kept here, so the second pass reads memory instead of the file
//!   again; when they outgrow the byte budget, the rate halves and the frames no longer
//!   sampled are dropped. Every frame left was thus sampled at the final rate, and each
//!   counts for `one_in` packets.
//!
//! Captures whose frames fit the budget are sampled at one in one: every packet is measured
//! and the figures are exact. A judged packet's flow evidence is always exact: the flow filters
//! see every packet, sampled or not.

use crate::sketch::fmix64;

/// What a stored frame costs beyond its bytes (its [`Stored`] entry), for the budget.
const ENTRY_COST: usize = std::mem::size_of::<Stored>();

/// A sampled frame: where its bytes are, and what the first pass learnt of it.
#[derive(Clone, Copy)]
struct Stored {
    ts: i64,
    /// The sampling hash of the packet's index, to thin the sample when the rate halves.
    key: u64,
    start: u64,
    linktype: u32,
    orig_len: u32,
    len: u32,
    /// The packet's class in the first pass, which saw every packet (the class of a later
    /// fragment depends on its first fragment, which the sample may not hold).
    class: u8,
}

/// The sampled frames of one thread, and the rate they were sampled at.
pub struct SampleStore {
    data: Vec<u8>,
    frames: Vec<Stored>,
    budget: usize,
    /// log2 of the sampling rate's denominator.
    rate_log2: u32,
    /// Packets offered so far (sampled or not): the index the next packet's hash is made of.
    offered: u64,
}

/// A frame handed back by [`SampleStore::for_each`].
pub struct SampledFrame<'a> {
    pub ts: i64,
    pub linktype: u32,
    pub orig_len: u32,
    pub data: &'a [u8],
    pub class: u8,
}

impl SampleStore {
    /// A store that keeps at most about `budget` bytes.
    pub fn new(budget: usize) -> SampleStore {
        let budget = budget.max(1 << 16);
        SampleStore {
            // Reserved whole: only the pages written are ever touched, and growing would copy
            // tens of megabytes again and again.
            data: Vec::with_capacity(budget),
            frames: Vec::with_capacity(budget / (ENTRY_COST + 64)),
            budget,
            rate_log2: 0,
            offered: 0,
        }
    }

    /// One packet in how many is sampled now (and, at the end, in the kept frames).
    pub fn one_in(&self) -> u64 {
        1 << self.rate_log2
    }

    /// Frames kept.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Decides for the next packet: the weight it carries if sampled (the packets it stands
    /// for), or 0, with the key to store it under.
    #[inline]
    pub fn offer(&mut self) -> (u64, u64) {
        let key = fmix64(self.offered ^ 0x5a3d_1e00_7f4b_9c21);
        self.offered += 1;
        let mask = (1u64 << self.rate_log2) - 1;
        if key & mask == 0 {
            (1 << self.rate_log2, key)
        } else {
            (0, key)
        }
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
        let start = self.data.len() as u64;
        self.data.extend_from_slice(data);
        self.frames.push(Stored {
            ts,
            key,
            start,
            linktype,
            orig_len,
            len: data.len() as u32,
            class,
        });
        while self.used() > self.budget && self.rate_log2 < 63 {
            self.halve();
        }
    }

    fn used(&self) -> usize {
        self.data.len() + self.frames.len() * ENTRY_COST
    }

    /// Halves the sampling rate: keeps the frames whose key has one more zero bit.
    fn halve(&mut self) {
        let bit = 1u64 << self.rate_log2;
        self.rate_log2 += 1;
        let mut write = 0usize;
        let mut kept = 0usize;
        for i in 0..self.frames.len() {
            let f = self.frames[i];
            if f.key & bit != 0 {
                continue;
            }
            let (from, len) = (f.start as usize, f.len as usize);
            self.data.copy_within(from..from + len, write);
            self.frames[kept] = Stored {
                start: write as u64,
                ..f
            };
            write += len;
            kept += 1;
        }
        self.frames.truncate(kept);
        self.data.truncate(write);
    }

    /// Every kept frame, in the order it was read.
    pub fn for_each(&self, mut each: impl FnMut(SampledFrame<'_>)) {
        for f in &self.frames {
            let start = f.start as usize;
            each(SampledFrame {
                ts: f.ts,
                linktype: f.linktype,
                orig_len: f.orig_len,
                data: &self.data[start..start + f.len as usize],
                class: f.class,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
