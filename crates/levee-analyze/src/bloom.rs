//! A blocked Bloom filter: every key sets and tests bits of one 64-byte block, so a lookup costs
//! one cache miss whatever the number of probes. Used to remember which flows, requests and
//! handshakes were seen without a map keyed by every flow of a spoofed flood.
//!
//! A filter that never stops taking keys (a monitor's) fills up until it answers yes to every
//! question: every flood packet "answered", every SYN "completed". Such a filter ages instead
//! ([`BlockedBloom::age_by_generations`]): each block holds two generations of its keys, half
//! its bits each, and once the current one is full the older is forgotten. A lookup still costs
//! one cache miss. An ageing filter is also sized to the traffic: it starts small (a link's
//! few thousand flows a second fit in the CPU's cache instead of a random line of megabytes
//! per packet) and doubles while a generation fills before it has lasted long enough, up to
//! the size it was made with; it halves again once generations take far longer to fill.
//! Doubling copies every block into both blocks its keys may now hash to, and halving ORs the
//! two together, so neither forgets a key.

use crate::pages::{block_word, set_block_word, Pages};

/// Bits per block: one cache line.
const BLOCK_BITS: u64 = 512;

/// Sets the bits `probes` (word, mask) in the words from `first` of a block; returns whether
/// they were all set already (the key was, probably, present).
#[inline(always)]
fn set_probes(words: &mut [u8; 64], first: usize, probes: [(usize, u64); 3]) -> bool {
    let mut present = true;
    for (w, m) in probes {
        let v = block_word(words, first + w);
        present &= v & m != 0;
        set_block_word(words, first + w, v | m);
    }
    present
}

/// A blocked Bloom filter: each key's bits in one cache-line block, so a lookup costs one miss.
pub struct BlockedBloom {
    /// Blocks of 8 words; the block count is a power of two. Huge pages, so random lookups
    /// over megabytes do not also miss the TLB on every packet.
    words: Pages,
    block_mask: u64,
    inserted: u64,
    /// For a filter that ages: its two generations.
    generations: Option<Generations>,
}

/// The two generations of an ageing filter: words 0-3 of every block hold one, words 4-7 the
/// other. Keys go into the current one (a key already in the older is put in again, so what
/// is still in use stays known); questions ask both.
#[derive(Debug, Clone)]
struct Generations {
    /// The first word of the current generation in each block: 0 or 4.
    current: usize,
    /// Keys put into the current generation that were not in it, and into the older one.
    inserted: u64,
    older_inserted: u64,
    /// The current generation is full at this many keys (see [`GENERATION_FULL`]).
    full_at: u64,
    /// When the current generation began, and how long one lasts at least: a key is known
    /// for at least that long after it was last put in.
    started: i64,
    at_least_ns: i64,
    /// The fewest blocks the filter shrinks to (what it started with) and the most it may
    /// grow to (the size it was made with).
    least_blocks: u64,
    most_blocks: u64,
}

/// The size an ageing filter starts at (when made larger): 256 KiB, whose generations hold
/// about 84,000 keys (a link's 40,000 new flows a second for two seconds), in the CPU's
/// second-level cache.
const AGEING_FIRST_LOG2_BYTES: u32 = 18;

/// A generation that took this many times the least it must last to fill halves the filter:
/// it then fills at least twice as fast, still no faster than it must last.
const SHRINK_AFTER_LEASTS: i64 = 4;

/// Share of a generation's bits its keys may reach before it is full: with three bits a key,
/// a question about a key never put in is then answered yes about once in a hundred.
const GENERATION_FULL: f64 = 0.08;

impl BlockedBloom {
    /// A filter of `2^log2_bytes` bytes (at least one block).
    pub fn new(log2_bytes: u32) -> BlockedBloom {
        let bytes = 1u64 << log2_bytes.clamp(6, 34);
        let blocks = bytes / 64;
        BlockedBloom {
            words: Pages::new((blocks * 64) as usize),
            block_mask: blocks - 1,
            inserted: 0,
            generations: None,
        }
    }

    /// Makes the filter age (see the module's overview): from now on a key is known for at
    /// least `at_least_ns` after it was last put in (as [`BlockedBloom::age`] is told the
    /// time), and forgotten once two generations have filled since. Asked of an empty filter.
    ///
    /// The filter then starts at 256 KiB (when larger) and is sized to the traffic, up to the
    /// size it was made with (see the module's overview).
    pub fn age_by_generations(&mut self, at_least_ns: i64) {
        debug_assert!(self.is_empty(), "a filter starts ageing empty");
        let most_blocks = self.block_mask + 1;
        let first_blocks = most_blocks.min((1 << AGEING_FIRST_LOG2_BYTES) / 64);
        if first_blocks < most_blocks {
            self.words = Pages::new((first_blocks * 64) as usize);
            self.block_mask = first_blocks - 1;
        }
        self.generations = Some(Generations {
            current: 0,
            inserted: 0,
            older_inserted: 0,
            full_at: Self::generation_full_at(first_blocks),
            started: i64::MIN,
            at_least_ns,
            least_blocks: first_blocks,
            most_blocks,
        });
    }

    /// Keys at which a generation of a filter of `blocks` blocks is full.
    fn generation_full_at(blocks: u64) -> u64 {
        let generation_bits = blocks * BLOCK_BITS / 2;
        (generation_bits as f64 * GENERATION_FULL) as u64
    }

    /// Blocks of the filter.
    fn blocks(&self) -> u64 {
        self.block_mask + 1
    }

    /// Doubles an ageing filter: block `i` of the larger is block `i mod n` of this one, so
    /// every key is still found in the block its hash now picks. Its generations' fill is
    /// halved, so they hold twice the keys.
    fn double(&mut self) {
        let bytes = self.words.bytes().len();
        let mut words = Pages::new(2 * bytes);
        let to = words.bytes_mut();
        to[..bytes].copy_from_slice(self.words.bytes());
        to[bytes..].copy_from_slice(self.words.bytes());
        self.words = words;
        self.block_mask = 2 * self.block_mask + 1;
        let blocks = self.blocks();
        if let Some(g) = self.generations.as_mut() {
            g.full_at = Self::generation_full_at(blocks);
        }
    }

    /// Halves an ageing filter: block `i` of the smaller is the OR of blocks `i` and
    /// `i + n/2` of this one, the two its keys hashed to.
    fn halve(&mut self) {
        let half = self.words.bytes().len() / 2;
        let mut words = Pages::new(half);
        let (low, high) = self.words.bytes().split_at(half);
        for ((to, a), b) in words.bytes_mut().iter_mut().zip(low).zip(high) {
            *to = a | b;
        }
        self.words = words;
        self.block_mask /= 2;
        let blocks = self.blocks();
        if let Some(g) = self.generations.as_mut() {
            g.full_at = Self::generation_full_at(blocks);
        }
    }

    /// Tells an ageing filter the time: once its current generation is full and has lasted
    /// long enough, the older generation is forgotten (its half of every block cleared) and
    /// starts again as the current one. Nothing for a filter that does not age.
    ///
    /// A generation full before it has lasted long enough doubles the filter (up to the size
    /// it was made with); one that took four times as long halves it once
    /// the older is forgotten.
    pub fn age(&mut self, now: i64) {
        let Some(g) = self.generations.as_mut() else {
            return;
        };
        if g.started == i64::MIN {
            g.started = now;
        }
        if g.inserted < g.full_at {
            return;
        }
        let lasted = now.saturating_sub(g.started);
        if lasted < g.at_least_ns {
            if self.block_mask + 1 < g.most_blocks {
                self.double();
            }
            return;
        }
        let older = 4 - g.current;
        for block in 0..=self.block_mask as usize {
            let words = self.words.block_mut(block);
            for w in older..older + 4 {
                set_block_word(words, w, 0);
            }
        }
        g.current = older;
        g.older_inserted = g.inserted;
        g.inserted = 0;
        g.started = now;
        let slow = lasted / SHRINK_AFTER_LEASTS >= g.at_least_ns;
        if slow && self.block_mask + 1 > g.least_blocks {
            self.halve();
        }
    }

    /// The current generation's first word and the older one's, when the filter ages.
    #[inline(always)]
    fn halves(&self) -> Option<(usize, usize)> {
        self.generations
            .as_ref()
            .map(|g| (g.current, 4 - g.current))
    }

    /// [`Self::probes_in`] in one generation's half of a block (its word within the half).
    #[inline(always)]
    fn half_probes_in(&self, block_hash: u64, bits_hash: u64) -> (usize, [(usize, u64); 3]) {
        let block = ((block_hash >> 27) & self.block_mask) as usize;
        let bit = |shift: u32| {
            let b = (bits_hash >> shift) & (BLOCK_BITS / 2 - 1);
            ((b / 64) as usize, 1u64 << (b % 64))
        };
        (block, [bit(0), bit(9), bit(18)])
    }

    /// [`Self::insert_in`] of an ageing filter whose halves are `(current, older)`.
    #[inline(always)]
    fn insert_aging(&mut self, block_hash: u64, bits_hash: u64, halves: (usize, usize)) -> bool {
        let (current, older) = halves;
        let (block, probes) = self.half_probes_in(block_hash, bits_hash);
        let words = self.words.block_mut(block);
        let (mut in_current, mut in_older) = (true, true);
        for (w, m) in probes {
            let v = block_word(words, current + w);
            in_current &= v & m != 0;
            set_block_word(words, current + w, v | m);
            in_older &= block_word(words, older + w) & m != 0;
        }
        self.count_new(u64::from(!in_current));
        in_current || in_older
    }

    /// Counts `new` keys inserted, in the filter and in its current generation.
    #[inline(always)]
    fn count_new(&mut self, new: u64) {
        self.inserted += new;
        if let Some(g) = self.generations.as_mut() {
            g.inserted += new;
        }
    }

    /// [`Self::contains_in`] of an ageing filter whose halves are `(current, older)`.
    #[inline(always)]
    fn contains_aging(&self, block_hash: u64, bits_hash: u64, halves: (usize, usize)) -> bool {
        let (current, older) = halves;
        let (block, probes) = self.half_probes_in(block_hash, bits_hash);
        let words = self.words.block(block);
        let all_in = |half: usize| {
            probes
                .iter()
                .all(|&(w, m)| block_word(words, half + w) & m != 0)
        };
        all_in(current) || all_in(older)
    }

    /// The block of `block_hash` and the three bits of `bits_hash` in it (word within the
    /// block, mask): keys that share a block hash share a cache line (see [`FlowFilter`]).
    #[inline(always)]
    fn probes_in(&self, block_hash: u64, bits_hash: u64) -> (usize, [(usize, u64); 3]) {
        let block = ((block_hash >> 27) & self.block_mask) as usize;
        let bit = |shift: u32| {
            let b = (bits_hash >> shift) & (BLOCK_BITS - 1);
            ((b / 64) as usize, 1u64 << (b % 64))
        };
        (block, [bit(0), bit(9), bit(18)])
    }

    /// Inserts a key; returns whether it was (probably) present already.
    #[inline]
    pub fn insert(&mut self, hash: u64) -> bool {
        self.insert_in(hash, hash)
    }

    /// Inserts the key `bits_hash` into the block of `block_hash`; returns whether it was
    /// (probably) present already.
    #[inline(always)]
    pub fn insert_in(&mut self, block_hash: u64, bits_hash: u64) -> bool {
        if let Some(halves) = self.halves() {
            return self.insert_aging(block_hash, bits_hash, halves);
        }
        let (block, probes) = self.probes_in(block_hash, bits_hash);
        // One lookup of the block; the words within it need no further bounds checks.
        let present = set_probes(self.words.block_mut(block), 0, probes);
        self.inserted += u64::from(!present);
        present
    }

    /// Inserts the keys `bits_a` and `bits_b` into the block of `block_hash`, as two
    /// [`Self::insert_in`] calls would, finding the block once.
    #[inline(always)]
    pub fn insert_pair_in(&mut self, block_hash: u64, bits_a: u64, bits_b: u64) {
        // Two branches, each with its own probes: one walk choosing between them measured
        // 30 million instructions more on the 5-million-packet bench.
        if let Some((current, _)) = self.halves() {
            // Both keys in the current generation's half (the older half is only read by
            // questions).
            let (block, probes_a) = self.half_probes_in(block_hash, bits_a);
            let (_, probes_b) = self.half_probes_in(block_hash, bits_b);
            let words = self.words.block_mut(block);
            let new = u64::from(!set_probes(words, current, probes_a))
                + u64::from(!set_probes(words, current, probes_b));
            self.count_new(new);
            return;
        }
        let (block, probes_a) = self.probes_in(block_hash, bits_a);
        let (_, probes_b) = self.probes_in(block_hash, bits_b);
        let words = self.words.block_mut(block);
        let new =
            u64::from(!set_probes(words, 0, probes_a)) + u64::from(!set_probes(words, 0, probes_b));
        self.inserted += new;
    }

    /// Asks the CPU to start loading the block of `hash`, so that a later `insert` or
    /// `contains` finds it in cache. Issued for a batch of packets before working on them, it
    /// overlaps the memory latency of many lookups.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        let block = ((hash >> 27) & self.block_mask) as usize;
        levee_sketch::prefetch(&self.words.bytes()[block * 64]);
    }

    /// Whether a key (its hash) may have been inserted: never false for one that was.
    #[inline]
    pub fn contains(&self, hash: u64) -> bool {
        self.contains_in(hash, hash)
    }

    /// Whether the key `bits_hash` is (probably) in the block of `block_hash`.
    #[inline(always)]
    pub fn contains_in(&self, block_hash: u64, bits_hash: u64) -> bool {
        if let Some(halves) = self.halves() {
            return self.contains_aging(block_hash, bits_hash, halves);
        }
        let (block, probes) = self.probes_in(block_hash, bits_hash);
        let words = self.words.block(block);
        probes.iter().all(|&(w, m)| block_word(words, w) & m != 0)
    }

    /// Keys inserted that were not present before.
    pub fn len(&self) -> u64 {
        self.inserted
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.inserted == 0
    }

    /// Expected false-positive rate at the current fill, for reports on how far to trust it.
    pub fn false_positive_rate(&self) -> f64 {
        let bits = self.words.len() as f64 * 64.0;
        let rate = |keys: u64, bits: f64| (1.0 - (-3.0 * keys as f64 / bits).exp()).powi(3);
        match &self.generations {
            None => rate(self.inserted, bits),
            // Either generation may answer yes.
            Some(g) => {
                let (current, older) = (
                    rate(g.inserted, bits / 2.0),
                    rate(g.older_inserted, bits / 2.0),
                );
                1.0 - (1.0 - current) * (1.0 - older)
            }
        }
    }

    /// Bitwise OR of another filter of the same size (for parallel runs; not for ageing
    /// filters, whose generations may not line up).
    pub fn union(&mut self, other: &BlockedBloom) {
        debug_assert!(self.generations.is_none() && other.generations.is_none());
        if other.words.len() == self.words.len() {
            for w in 0..self.words.len() {
                let v = self.words.get(w) | other.words.get(w);
                self.words.set(w, v);
            }
            self.inserted += other.inserted;
        }
    }
}

/// What a flow filter remembers of each direction of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FlowMark {
    /// A packet went this way.
    Seen = 0,
    /// This side sent a SYN.
    Syn = 1,
    /// This side sent a SYN-ACK.
    SynAck = 2,
}

/// Bit-pattern seeds of each direction: any fixed, well-spread constants.
const DIR_SEEDS: [u64; 2] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];

/// Where a flow lives in a [`FlowFilter`]: the hash of the flow with its two ends in a fixed
/// order (the same for both directions), and which end sent the packet at hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowSlot {
    /// The flow's hash, its ends in a fixed order.
    pub hash: u64,
    /// 0 when the packet goes from the lower end to the higher, 1 the other way.
    pub dir: u8,
}

impl FlowSlot {
    /// A hash of the flow and direction together, for a plain filter of directed flows.
    #[inline]
    pub fn directed(self) -> u64 {
        crate::sketch::fmix64(self.hash ^ (0xc0ac_29b7_c97c_50dd + u64::from(self.dir)))
    }

    /// The slot of the same flow seen from the other end.
    #[inline]
    pub fn reversed(self) -> FlowSlot {
        FlowSlot {
            hash: self.hash,
            dir: self.dir ^ 1,
        }
    }
}

/// What the analysis remembers about flows, both directions of a flow in one 64-byte block:
/// whether each side spoke, sent a SYN or a SYN-ACK. One cache miss answers every question
/// about a packet's flow, where separate filters for flows and handshakes cost one miss each
/// (they were most of the first pass's time on a spoofed flood, whose every packet is a new
/// flow).
pub struct FlowFilter {
    bloom: BlockedBloom,
}

impl FlowFilter {
    /// A filter of `2^log2_bytes` bytes.
    pub fn new(log2_bytes: u32) -> FlowFilter {
        FlowFilter {
            bloom: BlockedBloom::new(log2_bytes),
        }
    }

    /// The bits of a mark in the flow's block: `Seen` and `Syn` take 27 bits each of one
    /// hash of the direction, so a SYN (which sets both, and is most of a flood) costs one
    /// hash; `SynAck` takes a second.
    #[inline(always)]
    fn bits(slot: FlowSlot, mark: FlowMark) -> u64 {
        let h = crate::sketch::fmix64(slot.hash ^ DIR_SEEDS[usize::from(slot.dir)]);
        match mark {
            FlowMark::Seen => h,
            FlowMark::Syn => h >> 27,
            FlowMark::SynAck => crate::sketch::fmix64(h),
        }
    }

    /// Marks a direction of a flow; returns whether it was (probably) marked already.
    // Inlined into the per-packet loop (4 % fewer instructions than a call per question).
    #[inline(always)]
    pub fn mark(&mut self, slot: FlowSlot, mark: FlowMark) -> bool {
        self.bloom.insert_in(slot.hash, Self::bits(slot, mark))
    }

    /// Marks a direction of a flow twice over (a SYN: `Seen` and `Syn`), finding its block
    /// and hashing the direction once.
    #[inline(always)]
    pub fn mark_pair(&mut self, slot: FlowSlot, a: FlowMark, b: FlowMark) {
        self.bloom
            .insert_pair_in(slot.hash, Self::bits(slot, a), Self::bits(slot, b));
    }

    /// Whether a direction of a flow was (probably) marked.
    #[inline(always)]
    pub fn has(&self, slot: FlowSlot, mark: FlowMark) -> bool {
        self.bloom.contains_in(slot.hash, Self::bits(slot, mark))
    }

    /// Starts loading the flow's block (see [`BlockedBloom::prefetch`]).
    #[inline]
    pub fn prefetch(&self, slot: FlowSlot) {
        self.bloom.prefetch(slot.hash);
    }

    /// Expected false-positive rate of one question at the current fill.
    pub fn false_positive_rate(&self) -> f64 {
        self.bloom.false_positive_rate()
    }

    /// Makes the filter age (see [`BlockedBloom::age_by_generations`]).
    pub fn age_by_generations(&mut self, at_least_ns: i64) {
        self.bloom.age_by_generations(at_least_ns);
    }

    /// Tells an ageing filter the time (see [`BlockedBloom::age`]).
    pub fn age(&mut self, now: i64) {
        self.bloom.age(now);
    }

    /// Adds every mark of another filter of the same size (see [`BlockedBloom::union`]).
    pub fn union(&mut self, other: &FlowFilter) {
        self.bloom.union(&other.bloom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::fmix64;

    #[test]
    fn a_pair_insert_is_two_inserts() {
        let (mut one, mut pair) = (BlockedBloom::new(12), BlockedBloom::new(12));
        for i in 0..3_000u64 {
            let (block, a, b) = (fmix64(i), fmix64((i + 1) << 40), fmix64(i ^ 0x55));
            one.insert_in(block, a);
            one.insert_in(block, b);
            pair.insert_pair_in(block, a, b);
            assert!(pair.contains_in(block, a) && pair.contains_in(block, b));
        }
        assert_eq!(one.len(), pair.len());
        assert!((0..one.words.len()).all(|w| one.words.get(w) == pair.words.get(w)));
    }

    #[test]
    fn a_pair_insert_is_two_inserts_in_an_ageing_filter_too() {
        const S: i64 = 1_000_000_000;
        let (mut one, mut pair) = (BlockedBloom::new(12), BlockedBloom::new(12));
        one.age_by_generations(S);
        pair.age_by_generations(S);
        // Enough keys, over enough time, for generations to be forgotten on the way.
        for i in 0..30_000u64 {
            let now = i as i64 * (S / 1_000);
            one.age(now);
            pair.age(now);
            let (block, a, b) = (fmix64(i), fmix64((i + 1) << 40), fmix64(i ^ 0x55));
            one.insert_in(block, a);
            one.insert_in(block, b);
            pair.insert_pair_in(block, a, b);
            assert!(pair.contains_in(block, a) && pair.contains_in(block, b));
        }
        let generations = |f: &BlockedBloom| {
            let g = f.generations.as_ref().unwrap();
            (g.current, g.inserted, g.older_inserted)
        };
        assert_eq!(generations(&one), generations(&pair));
        assert_eq!(one.len(), pair.len());
        assert!((0..one.words.len()).all(|w| one.words.get(w) == pair.words.get(w)));
    }

    #[test]
    fn remembers_what_was_inserted_and_rarely_invents() {
        let mut b = BlockedBloom::new(20);
        for i in 0..50_000u64 {
            assert!(!b.insert(fmix64(i)) || i > 0);
        }
        for i in 0..50_000u64 {
            assert!(b.contains(fmix64(i)));
        }
        let false_hits = (1_000_000..1_100_000u64)
            .filter(|&i| b.contains(fmix64(i)))
            .count();
        // 50k keys in 8 Mi bits: the expected rate is well under 0.1 %.
        assert!(false_hits < 200, "{false_hits} false positives in 100k");
        assert!(b.false_positive_rate() < 0.002);
    }

    #[test]
    fn an_ageing_filter_forgets_old_keys_and_never_fills() {
        const S: i64 = 1_000_000_000;
        // 64 KiB: 262,144 bits a generation, full at about 21,000 keys.
        let (mut ageing, mut plain) = (BlockedBloom::new(16), BlockedBloom::new(16));
        ageing.age_by_generations(2 * S);
        let full_at = ageing.generations.as_ref().unwrap().full_at;
        assert_eq!(full_at, 20_971);
        // The first keys, and a key in use all along (put in again every second).
        for i in 0..1_000u64 {
            ageing.insert(fmix64(i));
        }
        let in_use = fmix64(u64::MAX);
        let mut wrong = 0;
        // 200 seconds of 10,000 new keys a second (a generation fills in two): a hundred
        // times what a generation holds.
        for second in 0..200i64 {
            ageing.insert(in_use);
            for i in 0..10_000u64 {
                if i % 1_000 == 0 {
                    // Told the time as a monitor tells it, every few packets.
                    ageing.age(second * S + i as i64 * (S / 10_000));
                }
                let key = fmix64(1 << 40 | (second as u64) << 20 | i);
                // A key never put in before, taken for a known one.
                wrong += usize::from(ageing.insert(key));
                plain.insert(key);
            }
            // What was put in during the last two seconds is known.
            let recent = fmix64(1 << 40 | ((second.max(1) - 1) as u64) << 20 | 7);
            assert!(ageing.contains(recent), "second {second}");
            assert!(ageing.contains(in_use), "second {second}");
        }
        // The first keys were forgotten; false answers stayed rare where the plain filter of
        // the same size answers yes to anything.
        let first_known = (0..1_000u64)
            .filter(|&i| ageing.contains(fmix64(i)))
            .count();
        assert!(
            first_known < 50,
            "{first_known} of the first keys still known"
        );
        assert!(
            wrong < 2_000_000 * 3 / 100,
            "{wrong} false answers in 2,000,000"
        );
        assert!(
            ageing.false_positive_rate() < 0.03,
            "{}",
            ageing.false_positive_rate()
        );
        let plain_wrong = (0..10_000u64)
            .filter(|&i| plain.contains(fmix64(3 << 50 | i)))
            .count();
        assert!(
            plain_wrong > 9_000,
            "the plain filter is full: {plain_wrong}"
        );
    }

    /// An ageing filter doubles while a flood fills its generations too fast, halves once
    /// the traffic is calm again, and through both never forgets a key it must still know.
    #[test]
    fn an_ageing_filter_is_sized_to_the_traffic_and_keeps_what_it_must() {
        const S: i64 = 1_000_000_000;
        let mut f = BlockedBloom::new(23);
        f.age_by_generations(2 * S);
        assert_eq!(f.blocks(), 4096, "starts at 256 KiB");
        let key = |second: i64, i: u64| fmix64((second as u64) << 32 | i);
        let mut wrong = 0u64;
        let mut questions = 0u64;
        let mut run = |f: &mut BlockedBloom, from: i64, to: i64, per_second: u64| {
            for second in from..to {
                for i in 0..per_second {
                    if i % 1_000 == 0 {
                        f.age(second * S + (i * S as u64 / per_second) as i64);
                    }
                    wrong += u64::from(f.insert(key(second, i)));
                    questions += 1;
                }
                // Everything put in over the last two seconds is known.
                for back in [1, 2] {
                    let past = second + 1 - back;
                    if past >= from {
                        for i in (0..per_second).step_by(97) {
                            assert!(f.contains(key(past, i)), "second {second}");
                        }
                    }
                }
            }
        };
        // A flood of 300,000 new flows a second: a generation must hold 600,000 keys, in
        // 29,297 blocks or more.
        run(&mut f, 0, 20, 300_000);
        assert_eq!(f.blocks(), 32_768, "grown to 2 MiB, short of its 8 MiB");
        // Calm: 20,000 a second. Generations now fill slowly and the filter halves, down to
        // where one takes between two and eight seconds to fill (256 KiB: 4.2 s).
        run(&mut f, 20, 200, 20_000);
        assert_eq!(f.blocks(), 4096, "back to 256 KiB");
        assert!(
            wrong < questions * 3 / 100,
            "{wrong} false answers in {questions}"
        );
    }

    #[test]
    fn flow_marks_are_kept_apart_by_mark_and_direction() {
        let mut f = FlowFilter::new(20);
        let flows: Vec<FlowSlot> = (0..20_000u64)
            .map(|i| FlowSlot {
                hash: fmix64(i),
                dir: (i % 2) as u8,
            })
            .collect();
        // A new flow taken for a known one (a false positive) is counted as a wrong answer.
        let mut wrong = 0;
        for s in &flows {
            wrong += usize::from(f.mark(*s, FlowMark::Syn));
            f.mark(*s, FlowMark::Seen);
        }
        for s in &flows {
            assert!(f.has(*s, FlowMark::Syn) && f.has(*s, FlowMark::Seen));
            wrong += usize::from(f.has(s.reversed(), FlowMark::Seen));
            wrong += usize::from(f.has(*s, FlowMark::SynAck));
            wrong += usize::from(f.has(s.reversed(), FlowMark::Syn));
        }
        // 40k marks of 3 bits in 8 Mi bits: well under 1 % of the 80k questions.
        assert!(wrong < 300, "{wrong} false answers");
    }
}
