//! Bounded-memory counters for levee: a Misra-Gries top-k ([`TopK`]), a HyperLogLog distinct
//! count ([`DistinctCount`]), exact per-port counts ([`PortCounts`]) and the hash mixers they
//! key on. Their own crate, so that the packet analysis and the layer-7 analysis share them
//! without one depending on the other.
//!
//! Written here rather than taken from a crate because they sit on the per-packet hot path:
//! a top-k update is one hash-table probe (foldhash), and the table is pruned in batches so a
//! spoofed flood where every packet brings a new key costs amortised O(1).

#![warn(missing_docs)]

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;

/// Asks the CPU to start loading the cache line that holds `at` (a hint: nothing on other
/// architectures). For the tables a packet will touch a little later, so that the misses of
/// several packets overlap instead of adding up.
#[inline(always)]
pub fn prefetch<T>(at: &T) {
    prefetch_address((at as *const T).cast());
}

/// [`prefetch`] of any address: a prefetch reads nothing and never faults, whatever the
/// address, so this is safe to call with any pointer.
#[inline(always)]
#[allow(unsafe_code)] // a prefetch hint: the one unsafe call, see the SAFETY note
pub fn prefetch_address(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` is a hint that neither reads memory into a register nor faults.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
#[inline]
pub const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// A well-mixed 64-bit hash of a 128-bit key (an address), cheap enough for every packet.
#[inline]
pub fn mix_u128(x: u128) -> u64 {
    const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
    // IPv4 addresses (IPv4-mapped) have no high half: its mix is a constant then.
    const ZERO_HIGH: u64 = fmix64(SEED);
    let high = (x >> 64) as u64;
    let high = if high == 0 {
        ZERO_HIGH
    } else {
        fmix64(high ^ SEED)
    };
    fmix64((x as u64) ^ high)
}

/// `Clone` for a struct whose `clone_from` reuses the memory of the fields it writes over
/// (boxed registers, counter tables, hash tables), field by field: what the derive does not
/// do, and what a copy taken at every decision of a monitor needs (a fresh copy of a class's
/// statistics is a third of a megabyte of newly allocated, zero-filled pages). Every field is
/// named, so a field added to the struct and not here does not compile.
#[macro_export]
macro_rules! clone_reusing {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl Clone for $ty {
            fn clone(&self) -> Self {
                $ty { $($field: self.$field.clone()),* }
            }

            fn clone_from(&mut self, source: &Self) {
                let $ty { $($field),* } = self;
                $($field.clone_from(&source.$field);)*
            }
        }
    };
}

const FILTER_BITS: usize = 1 << 16;
const FILTER_WORDS: usize = FILTER_BITS / 64;

/// Misra-Gries heavy hitters with batch decrements, behind an admission filter.
///
/// Holds at most `capacity` keys. When the table is full, the median count is subtracted from
/// every key and the keys that reach zero are dropped. Any key whose true count exceeds
/// `error_bound()` is in the table, and each reported count is within `error_bound()` of the
/// truth.
///
/// Until the table first fills, every key is counted exactly. Then the keys seen once move to
/// the admission filter, which from then on keeps one-off keys (the sources of a spoofed flood) out of the table: a key that is
/// not in the table is only remembered in a 64 Ki-cell bitmap on its first sighting
/// and admitted, with that sighting counted, on its second. The bitmap is cleared when an
/// eighth of it is set, so a one-off key is wrongly admitted (by a collision) about once in 16
/// and a key seen only once per clearing period (about 8 700 new keys) may go uncounted: that
/// is included in the error bound. Under random sources this cuts table inserts and prunes
/// about sixteenfold.
///
/// Consecutive additions of one key (a flood's victim, a download's two ends) are summed
/// before they reach the table: one comparison instead of a table probe per packet.
pub struct TopK<K> {
    /// Keys with their counts and hashes (kept so the table can grow without rehashing keys,
    /// whichever hash the caller supplied).
    counts: HashTable<(K, u64, u64)>,
    hasher: foldhash::fast::FixedState,
    filter: Box<[u64; FILTER_WORDS]>,
    filter_set: usize,
    filter_clears: u64,
    capacity: usize,
    /// Sum of all decrements applied to every key so far.
    decremented: u64,
    total: u64,
    /// The key of the latest additions, its hash, their summed weight and whether there were
    /// several, not yet in `counts`.
    run: Option<(K, u64, u64, bool)>,
    /// Whether new keys go through the admission filter (from the table's first overflow on).
    filtering: bool,
}

impl<K: Clone> Clone for TopK<K> {
    fn clone(&self) -> Self {
        TopK {
            counts: self.counts.clone(),
            hasher: self.hasher.clone(),
            filter: self.filter.clone(),
            filter_set: self.filter_set,
            filter_clears: self.filter_clears,
            capacity: self.capacity,
            decremented: self.decremented,
            total: self.total,
            run: self.run.clone(),
            filtering: self.filtering,
        }
    }

    /// Written over in place, its table and filter reused (see [`clone_reusing`]).
    fn clone_from(&mut self, source: &Self) {
        let TopK {
            counts,
            hasher,
            filter,
            filter_set,
            filter_clears,
            capacity,
            decremented,
            total,
            run,
            filtering,
        } = self;
        counts.clone_from(&source.counts);
        hasher.clone_from(&source.hasher);
        // `filter_set` counts the filter's bits: two empty filters (of tables that never
        // filled, most of a profile's) are equal, and 8 KiB need not be copied.
        debug_assert_eq!(
            *filter_set,
            filter.iter().map(|w| w.count_ones() as usize).sum()
        );
        if *filter_set != 0 || source.filter_set != 0 {
            filter.clone_from(&source.filter);
        }
        *filter_set = source.filter_set;
        *filter_clears = source.filter_clears;
        *capacity = source.capacity;
        *decremented = source.decremented;
        *total = source.total;
        run.clone_from(&source.run);
        *filtering = source.filtering;
    }
}

impl<K: Hash + Eq + Clone + Ord> TopK<K> {
    /// A table keeping about `capacity` of the heaviest keys.
    pub fn new(capacity: usize) -> TopK<K> {
        let capacity = capacity.max(8);
        TopK {
            counts: HashTable::with_capacity(capacity + 1),
            hasher: foldhash::fast::FixedState::with_seed(0x1e7ee0),
            filter: Box::new([0; FILTER_WORDS]),
            filter_set: 0,
            filter_clears: 0,
            capacity,
            decremented: 0,
            total: 0,
            run: None,
            filtering: false,
        }
    }

    #[inline]
    /// Adds `weight` to `key`.
    pub fn add(&mut self, key: K, weight: u64) {
        let hash = self.hasher.hash_one(&key);
        self.add_hashed(key, hash, weight);
    }

    /// Adds `key` whose well-mixed 64-bit hash the caller already has (see [`mix_u128`]), so
    /// that one hash can serve several sketches.
    #[inline]
    pub fn add_hashed(&mut self, key: K, hash: u64, weight: u64) {
        self.total += weight;
        if let Some(run) = &mut self.run {
            if run.1 == hash && run.0 == key {
                run.2 += weight;
                run.3 = true;
                return;
            }
        }
        if let Some((key, hash, weight, repeated)) = self.run.replace((key, hash, weight, false)) {
            self.count(key, hash, weight, repeated);
        }
    }

    /// Adds `weight` to the key that `key` borrows from (a `&str` for a `String` key), made
    /// only when the table or the run of additions takes it in: a run of one key, or a key
    /// already counted, costs no allocation.
    #[inline]
    pub fn add_ref<Q>(&mut self, key: &Q, weight: u64)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let hash = self.hasher.hash_one(key);
        self.total += weight;
        if let Some(run) = &mut self.run {
            if run.1 == hash && run.0.borrow() == key {
                run.2 += weight;
                run.3 = true;
                return;
            }
        }
        if let Some((run_key, run_hash, run_weight, repeated)) = self.run.take() {
            self.count(run_key, run_hash, run_weight, repeated);
        }
        if let Some(e) = self
            .counts
            .find_mut(hash, |e| e.2 == hash && e.0.borrow() == key)
        {
            e.1 += weight;
            return;
        }
        self.run = Some((key.to_owned(), hash, weight, false));
    }

    /// Puts the run of additions into the table.
    #[cold]
    fn flush(&mut self) {
        if let Some((key, hash, weight, repeated)) = self.run.take() {
            self.count(key, hash, weight, repeated);
        }
    }

    /// Counts `weight` for `key` in the table, behind the admission filter. One sighting may
    /// weigh more than 1 (a sampled packet standing for several): the filter holds back
    /// sightings, whatever their weight; `repeated` (a run of several) needs no admission.
    #[inline]
    fn count(&mut self, key: K, hash: u64, weight: u64, repeated: bool) {
        if let Some(e) = self.counts.find_mut(hash, |e| e.2 == hash && e.0 == key) {
            e.1 += weight;
            return;
        }
        if repeated || !self.filtering {
            // A repeated key needs no admission, and until the table first fills every key is
            // counted exactly.
            if self.counts.len() >= self.capacity {
                self.make_room();
            }
            self.counts
                .insert_unique(hash, (key, weight, hash), |e| e.2);
            return;
        }
        if !self.held_back(hash) {
            return;
        }
        if self.counts.len() >= self.capacity {
            self.make_room();
        }
        // Count the first sighting the filter held back as well (taken to weigh as this one):
        // with the filter this sparse, the bit was set by another key only about once in 16.
        self.counts
            .insert_unique(hash, (key, 2 * weight, hash), |e| e.2);
    }

    /// Whether the admission filter already held back a sighting of the key; if not, it
    /// remembers this one.
    #[inline]
    fn held_back(&mut self, hash: u64) -> bool {
        // Use hash bits the table does not use for its own buckets.
        let bit = (hash >> 40) as usize & (FILTER_BITS - 1);
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        if self.filter[word] & mask == 0 {
            self.filter[word] |= mask;
            self.filter_set += 1;
            if self.filter_set >= FILTER_BITS / 8 {
                self.filter.fill(0);
                self.filter_set = 0;
                self.filter_clears += 1;
            }
            return false;
        }
        self.filter[word] &= !mask;
        self.filter_set -= 1;
        true
    }

    /// Frees room in a full table. The first time, the keys seen once move to the admission
    /// filter, which holds them from then on (as if it had been in front of the table from
    /// the start, so counts stay exact); the table is pruned when that is not enough.
    #[cold]
    fn make_room(&mut self) {
        if !self.filtering {
            self.filtering = true;
            let mut once = Vec::new();
            self.counts.retain(|e| {
                if e.1 == 1 {
                    once.push(e.2);
                }
                e.1 > 1
            });
            for hash in once {
                self.held_back(hash);
            }
        }
        if self.counts.len() >= self.capacity {
            self.prune();
        }
    }

    #[cold]
    fn prune(&mut self) {
        let mut values: Vec<u64> = self.counts.iter().map(|e| e.1).collect();
        let mid = values.len() / 2;
        let (_, &mut median, _) = values.select_nth_unstable(mid);
        let cut = median.max(1);
        self.decremented += cut;
        self.counts.retain(|e| {
            e.1 = e.1.saturating_sub(cut);
            e.1 > 0
        });
    }

    /// The largest amount by which any reported count may differ from the truth.
    pub fn error_bound(&self) -> u64 {
        self.decremented + self.filter_clears + 1
    }

    /// Total weight added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `n` heaviest keys with their counts, heaviest first (ties by key, so the
    /// output is deterministic).
    pub fn top(&self, n: usize) -> Vec<(K, u64)> {
        let mut v: Vec<(&K, u64)> = self.counts.iter().map(|e| (&e.0, e.1)).collect();
        if let Some((key, _, weight, _)) = &self.run {
            match v.iter_mut().find(|e| e.0 == key) {
                Some(e) => e.1 += weight,
                None => v.push((key, *weight)),
            }
        }
        let heavier = |a: &(&K, u64), b: &(&K, u64)| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0));
        // The order is total (ties by key): the `n` heaviest are the same whichever way they
        // are found. Selecting them first spares sorting a whole table for its heaviest few
        // (a monitor asks for the top 1 or 4 of tables of hundreds at every decision).
        if n == 0 {
            return Vec::new();
        }
        if n < v.len() {
            v.select_nth_unstable_by(n - 1, heavier);
            v.truncate(n);
        }
        v.sort_unstable_by(heavier);
        v.into_iter().map(|(k, c)| (k.clone(), c)).collect()
    }

    /// A count no key reaches more than, now or once the latest additions are in the table
    /// (which may count a first sighting twice), merged or not: a quick test before
    /// [`TopK::top`], without collecting and sorting the table.
    pub fn heaviest_bound(&self) -> u64 {
        let held = self.counts.iter().map(|e| e.1).max().unwrap_or(0);
        match &self.run {
            Some((key, hash, weight, _)) => {
                let in_table = self
                    .counts
                    .find(*hash, |e| e.2 == *hash && e.0 == *key)
                    .map_or(0, |e| e.1);
                held.max(in_table + 2 * weight)
            }
            None => held,
        }
    }

    /// A count `key` (of well-mixed `hash`) does not reach, now or once the latest additions
    /// are in the table: [`TopK::heaviest_bound`] for one key, 0 for a key not held.
    pub fn bound_of(&self, key: &K, hash: u64) -> u64 {
        let in_table = self
            .counts
            .find(hash, |e| e.2 == hash && e.0 == *key)
            .map_or(0, |e| e.1);
        match &self.run {
            // Its first sighting may be counted twice once it enters the table.
            Some((k, h, weight, _)) if *h == hash && k == key => in_table + 2 * weight,
            _ => in_table,
        }
    }

    /// The keys held (in the table, and the run of additions not yet in it), each with its
    /// hash and [`TopK::bound_of`] it, without looking it up.
    pub fn held(&self) -> impl Iterator<Item = (&K, u64, u64)> {
        let run = self.run.as_ref();
        let in_table = self.counts.iter().map(move |e| {
            let pending = match run {
                Some((k, h, weight, _)) if *h == e.2 && *k == e.0 => 2 * weight,
                _ => 0,
            };
            (&e.0, e.2, e.1 + pending)
        });
        let run_alone = run
            .filter(|(k, h, _, _)| self.counts.find(*h, |e| e.2 == *h && e.0 == *k).is_none())
            .map(|(k, h, weight, _)| (k, *h, 2 * weight));
        in_table.chain(run_alone)
    }

    /// Merges another table into this one (for parallel runs).
    pub fn merge(&mut self, other: &TopK<K>) {
        self.flush();
        self.decremented += other.decremented;
        self.total += other.total;
        let run = other.run.iter().map(|(k, h, c, _)| (k, c, h));
        for (k, c, hash) in other.counts.iter().map(|(k, c, h)| (k, c, h)).chain(run) {
            match self.counts.find_mut(*hash, |e| e.2 == *hash && e.0 == *k) {
                Some(e) => e.1 += c,
                None => {
                    self.counts
                        .insert_unique(*hash, (k.clone(), *c, *hash), |e| e.2);
                }
            }
        }
        while self.counts.len() > self.capacity {
            self.filtering = true;
            self.prune();
        }
    }
}

/// HyperLogLog distinct counter with 2^14 registers (16 KiB, about 0.8 % standard error),
/// with the small-range (linear counting) correction.
pub struct DistinctCount {
    registers: Box<[u8; 1 << 14]>,
    /// The sum over the registers of 2^-register, in fixed point (2^64 is 1: exact, for a
    /// register is at most 51), and the registers at zero: what the estimate is made of, kept
    /// up to date as registers rise (rarely, once most are set) so that an estimate costs
    /// nothing. A monitor asks for several every second; summing 16,384 registers each time
    /// was a twentieth of its work.
    inverse_sum: u128,
    zeros: u32,
    // The estimate relies on well-mixed high bits, so this uses foldhash's quality variant.
    hasher: foldhash::quality::FixedState,
}

clone_reusing!(DistinctCount {
    registers,
    hasher,
    inverse_sum,
    zeros
});

const HLL_P: u32 = 14;
const HLL_M: usize = 1 << HLL_P;

impl DistinctCount {
    /// The estimate's relative standard error: 1.04 / sqrt(registers).
    pub const STANDARD_ERROR: f64 = 1.04 / 128.0;
}

impl Default for DistinctCount {
    fn default() -> Self {
        DistinctCount {
            registers: Box::new([0; HLL_M]),
            inverse_sum: (HLL_M as u128) << 64,
            zeros: HLL_M as u32,
            hasher: foldhash::quality::FixedState::with_seed(0x6c_65_76_65_65),
        }
    }
}

impl DistinctCount {
    #[inline]
    /// Adds an item (counted once however often it is added).
    pub fn add<T: Hash + ?Sized>(&mut self, item: &T) {
        self.add_hash(self.hasher.hash_one(item));
    }

    /// Starts loading the register [`DistinctCount::add_hash`] of `h` will read, for a caller
    /// that adds it a little later (see [`prefetch`]).
    #[inline(always)]
    pub fn prefetch_hash(&self, h: u64) {
        prefetch(&self.registers[(h >> (64 - HLL_P)) as usize]);
    }

    /// Adds an item by its 64-bit hash, which must be well mixed in its high bits.
    #[inline]
    pub fn add_hash(&mut self, h: u64) {
        let idx = (h >> (64 - HLL_P)) as usize;
        let rest = (h << HLL_P) | (1 << (HLL_P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let r = &mut self.registers[idx];
        if rank > *r {
            let old = std::mem::replace(r, rank);
            self.raised(old, rank);
        }
    }

    /// Keeps the estimate's terms as a register rises from `old` to `new`.
    #[inline]
    fn raised(&mut self, old: u8, new: u8) {
        self.inverse_sum -= 1u128 << (64 - u32::from(old));
        self.inverse_sum += 1u128 << (64 - u32::from(new));
        self.zeros -= u32::from(old == 0);
    }

    /// The estimated number of distinct items added.
    pub fn estimate(&self) -> u64 {
        let m = HLL_M as f64;
        let sum = self.inverse_sum as f64 / 2f64.powi(64);
        let zeros = self.zeros;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let est = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        est.round() as u64
    }

    /// Adds the items of `other`, as if they had been added here.
    pub fn merge(&mut self, other: &DistinctCount) {
        for i in 0..HLL_M {
            let (old, new) = (self.registers[i], other.registers[i]);
            if new > old {
                self.registers[i] = new;
                self.raised(old, new);
            }
        }
    }
}

/// Exact packet counts for each of the 65 536 ports, in 128 KiB.
///
/// Ports of a spoofed flood are random, so every packet touches a random counter: 16-bit
/// counters keep the table small enough to stay in the CPU's L2 cache (64-bit ones took 512 KiB
/// and a third of `levee summary`'s time went to missing it). A counter that wraps carries
/// into a second table of the high bits, made on the first carry.
pub struct PortCounts {
    low: Box<[u16]>,
    high: Option<Box<[u64]>>,
    /// Packets counted on all ports.
    total: u64,
    /// The count of the busiest port: with `total`, whether a few ports can hold most packets
    /// is known without reading 65,536 counters.
    peak: u64,
}

/// A [`PortCounts`] as a count on trial found it (see [`PortCounts::mark`]).
#[derive(Debug, Clone, Copy)]
pub struct PortMark {
    peak: u64,
    high: bool,
}

clone_reusing!(PortCounts {
    low,
    high,
    total,
    peak
});

impl Default for PortCounts {
    fn default() -> Self {
        PortCounts {
            low: vec![0; 65536].into_boxed_slice(),
            high: None,
            total: 0,
            peak: 0,
        }
    }
}

impl PortCounts {
    #[inline]
    /// Counts one packet on `port`.
    pub fn add(&mut self, port: u16) {
        let c = &mut self.low[usize::from(port)];
        *c = c.wrapping_add(1);
        let low = u64::from(*c);
        self.total += 1;
        if low == 0 || self.high.is_some() {
            if low == 0 {
                self.carry(port, 1);
            }
            self.peak = self.peak.max(self.get(port));
        } else if low > self.peak {
            self.peak = low;
        }
    }

    #[cold]
    fn carry(&mut self, port: u16, carries: u64) {
        let high = self
            .high
            .get_or_insert_with(|| vec![0; 65536].into_boxed_slice());
        high[usize::from(port)] += carries;
    }

    /// Adds `n` packets to one port.
    pub fn add_n(&mut self, port: u16, n: u64) {
        let total = u64::from(self.low[usize::from(port)]) + n;
        self.low[usize::from(port)] = total as u16;
        if total >> 16 > 0 {
            self.carry(port, total >> 16);
        }
        self.total += n;
        self.peak = self.peak.max(self.get(port));
    }

    /// Starts loading `port`'s counter (see [`prefetch`]).
    #[inline(always)]
    pub fn prefetch(&self, port: u16) {
        prefetch(&self.low[usize::from(port)]);
    }

    /// Where a count on trial starts: [`PortCounts::take_back`] returns to it.
    pub fn mark(&self) -> PortMark {
        PortMark {
            peak: self.peak,
            high: self.high.is_some(),
        }
    }

    /// Takes back the packets counted since `mark` (each `(port, n)` as it was added, in any
    /// order): the counts are as they were at the mark. For a count on trial, which costs
    /// what was added, not a copy of the 65,536 counters.
    pub fn take_back(&mut self, mark: PortMark, added: impl IntoIterator<Item = (u16, u64)>) {
        for (port, n) in added {
            let count = self.get(port);
            debug_assert!(
                count >= n,
                "taking back more than was counted on port {port}"
            );
            let count = count.saturating_sub(n);
            self.low[usize::from(port)] = count as u16;
            if let Some(high) = self.high.as_mut() {
                high[usize::from(port)] = count >> 16;
            }
            self.total = self.total.saturating_sub(n);
        }
        self.peak = mark.peak;
        if !mark.high {
            // Made by a carry on trial: every high count is back to zero.
            self.high = None;
        }
    }

    /// Packets counted on all ports.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The count of the busiest port.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// The packets counted on `port`.
    pub fn get(&self, port: u16) -> u64 {
        let high = self.high.as_ref().map_or(0, |h| h[usize::from(port)]);
        high << 16 | u64::from(self.low[usize::from(port)])
    }

    /// The count of every port, indexed by port.
    pub fn to_vec(&self) -> Vec<u64> {
        (0..=u16::MAX).map(|p| self.get(p)).collect()
    }

    /// Every port with a non-zero count, in port order.
    pub fn nonzero(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        (0..=u16::MAX)
            .map(|p| (p, self.get(p)))
            .filter(|&(_, n)| n > 0)
    }

    /// Adds the counts of `o`.
    pub fn merge(&mut self, o: &PortCounts) {
        for (p, n) in o.nonzero() {
            self.add_n(p, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_mix_is_the_same_with_and_without_the_ipv4_shortcut() {
        for x in [
            0u128,
            1,
            0xffff_0a00_0001,
            u128::MAX,
            1 << 64,
            0x2001_0db8 << 96,
        ] {
            let slow = fmix64((x as u64) ^ fmix64((x >> 64) as u64 ^ 0x9e37_79b9_7f4a_7c15));
            assert_eq!(mix_u128(x), slow, "{x:#x}");
        }
    }

    #[test]
    fn port_counts_carry_past_16_bits() {
        let mut c = PortCounts::default();
        for _ in 0..200_000 {
            c.add(53);
        }
        c.add(80);
        c.add_n(80, 70_000);
        c.add_n(80, 65_535);
        assert_eq!(c.get(53), 200_000);
        assert_eq!(c.get(80), 135_536);
        let mut d = PortCounts::default();
        d.add_n(53, 1);
        d.merge(&c);
        assert_eq!(d.get(53), 200_001);
        assert_eq!(
            d.nonzero().collect::<Vec<_>>(),
            vec![(53, 200_001), (80, 135_536)]
        );
        assert_eq!((c.total(), c.peak()), (335_536, 200_000));
        assert_eq!((d.total(), d.peak()), (335_537, 200_001));
        // The peak follows a port that overtakes the busiest past a carry.
        c.add_n(80, 64_464);
        c.add(80);
        assert_eq!((c.get(80), c.peak()), (200_001, 200_001));
    }

    #[test]
    fn heavy_hitters_survive_a_flood_of_singletons() {
        let mut t = TopK::new(64);
        for i in 0u32..200_000 {
            t.add(i + 1_000_000, 1);
            if i % 10 == 0 {
                t.add(7u32, 1);
            }
            if i % 20 == 0 {
                t.add(9u32, 1);
            }
        }
        let top = t.top(2);
        assert_eq!(top[0].0, 7);
        assert_eq!(top[1].0, 9);
        // Within the documented error.
        assert!(
            top[0].1.abs_diff(20_000) <= t.error_bound(),
            "{top:?} {}",
            t.error_bound()
        );
        // Misra-Gries with a table of 64 keys: the error stays below total / 32.
        assert!(t.error_bound() < t.total() / 32, "{}", t.error_bound());
        assert!(t.counts.len() <= 64);
    }

    #[test]
    fn counts_are_exact_until_the_table_first_overflows() {
        let mut t = TopK::new(100);
        for i in 0u32..40 {
            for _ in 0..=(i % 3) {
                t.add(i, 1);
                t.add(1000 + i, 1);
            }
        }
        let top = t.top(80);
        assert_eq!(top.len(), 80);
        for (k, n) in top {
            assert_eq!(n, u64::from(k % 1000 % 3 + 1), "key {k}");
        }
    }

    #[test]
    fn no_key_counts_past_its_bounds_merged_or_not() {
        // Tables past their first overflow (the admission filter counts a first sighting
        // twice), each left with a run pending, merged both ways.
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for round in 0..50 {
            let (mut a, mut b) = (TopK::new(32), TopK::new(32));
            assert_eq!(a.heaviest_bound(), 0);
            for _ in 0..(round * 40) {
                let key = next() % (8 + round as u64 * 4);
                let t = if next() % 2 == 0 { &mut a } else { &mut b };
                t.add(key, next() % 3 + 1);
            }
            let heaviest = |t: &TopK<u64>| t.top(1).first().map_or(0, |e| e.1);
            assert!(heaviest(&a) <= a.heaviest_bound(), "round {round}");
            let bound = a.heaviest_bound() + b.heaviest_bound();
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            assert!(heaviest(&ab) <= bound, "round {round}");
            assert!(heaviest(&ba) <= bound, "round {round}");
            // Key by key: what a merge tells of a key is within the two tables' bounds of
            // it, and a key the merge holds is held by one of them.
            let pair = |k: &u64| {
                let h = a.hasher.hash_one(k);
                a.bound_of(k, h) + b.bound_of(k, h)
            };
            for merged in [&ab, &ba] {
                for (k, n) in merged.top(usize::MAX) {
                    assert!(n <= pair(&k), "round {round}: key {k} told {n}");
                    let h = a.hasher.hash_one(k);
                    assert!(a
                        .held()
                        .chain(b.held())
                        .any(|(held, hh, _)| *held == k && hh == h));
                }
            }
            for t in [&a, &b] {
                for (k, h, bound) in t.held() {
                    assert_eq!(bound, t.bound_of(k, h), "round {round}: key {k}");
                }
            }
            let tight = a.held().chain(b.held()).map(|(k, _, _)| pair(k)).max();
            assert!(tight.unwrap_or(0) <= bound, "round {round}");
        }
    }

    #[test]
    fn the_heaviest_few_are_the_head_of_the_whole_order() {
        // Many ties (counts 1 to 4), a run pending: any `n` gives the first `n` of the
        // whole table sorted, heaviest first and ties by key.
        let mut t = TopK::new(64);
        for i in 0..200u64 {
            t.add(i * 7919 % 97, i % 4 + 1);
        }
        let whole = t.top(usize::MAX);
        assert!(whole.len() > 8);
        for pair in whole.windows(2) {
            assert!(pair[0].1 > pair[1].1 || (pair[0].1 == pair[1].1 && pair[0].0 < pair[1].0));
        }
        for n in 0..=whole.len() + 1 {
            assert_eq!(t.top(n), whole[..n.min(whole.len())], "n = {n}");
        }
    }

    #[test]
    fn runs_of_one_key_count_like_single_additions() {
        let mut runs = TopK::new(16);
        let mut single = TopK::new(16);
        let mut other = TopK::new(16);
        for i in 0u32..10_000 {
            let key = if i % 100 < 60 { 1 } else { i % 7 + 2 };
            runs.add(key, 1);
            if i % 2 == 0 {
                single.add(key, 1);
            } else {
                other.add(key, 1);
            }
        }
        single.merge(&other);
        let (a, b) = (runs.top(3), single.top(3));
        assert_eq!(a[0], (1, 6000));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.0, y.0);
            assert!(x.1.abs_diff(y.1) <= runs.error_bound() + single.error_bound());
        }
        assert_eq!(runs.total(), 10_000);
        assert_eq!(single.total(), 10_000);
    }

    #[test]
    fn distinct_count_keeps_its_terms_as_registers_rise() {
        // The terms kept as registers rise are those a sum over every register gives, after
        // additions and after merges.
        let fresh = |d: &DistinctCount| -> (u128, u32) {
            let sum = d
                .registers
                .iter()
                .map(|&r| 1u128 << (64 - u32::from(r)))
                .sum();
            let zeros = d.registers.iter().filter(|&&r| r == 0).count() as u32;
            (sum, zeros)
        };
        let (mut a, mut b) = (DistinctCount::default(), DistinctCount::default());
        assert_eq!((a.inverse_sum, a.zeros), fresh(&a));
        assert_eq!(a.estimate(), 0);
        for i in 0u64..50_000 {
            a.add(&i);
            b.add(&(i * 3));
        }
        assert_eq!((a.inverse_sum, a.zeros), fresh(&a));
        a.merge(&b);
        assert_eq!((a.inverse_sum, a.zeros), fresh(&a));
        let mut c = DistinctCount::default();
        c.clone_from(&a);
        assert_eq!(c.estimate(), a.estimate());
        let e = a.estimate() as f64;
        // 50,000 and 50,000 more, of which 16,667 (the multiples of 3) were already there.
        assert!((e - 83_333.0).abs() / 83_333.0 < 0.03, "{e}");
    }

    #[test]
    fn port_counts_taken_back_are_as_they_were() {
        let mut c = PortCounts::default();
        c.add_n(80, 65_000);
        c.add(443);
        let (before, mark) = (c.to_vec(), c.mark());
        // On trial: a carry into a high table made for it, a new peak, new ports.
        let trial = [(80u16, 1_000u64), (53, 3), (80, 1), (9, 70_000)];
        for (port, n) in trial {
            c.add_n(port, n);
        }
        assert_eq!((c.get(80), c.peak()), (66_001, 70_000));
        c.take_back(mark, trial);
        assert_eq!(c.to_vec(), before);
        assert_eq!((c.total(), c.peak()), (65_001, 65_000));
        assert!(c.high.is_none(), "the high table made on trial is gone");
        // Counted again after, as if the trial had never been.
        c.add_n(80, 536);
        assert_eq!((c.get(80), c.peak()), (65_536, 65_536));
    }

    #[test]
    fn distinct_count_is_within_three_percent() {
        for n in [10u64, 1_000, 100_000, 1_000_000] {
            let mut d = DistinctCount::default();
            for i in 0..n {
                d.add(&i);
                d.add(&i); // duplicates do not count
            }
            let e = d.estimate() as f64;
            let err = (e - n as f64).abs() / n as f64;
            assert!(err < 0.03, "n={n} estimate={e}");
        }
    }

    #[test]
    fn keys_added_by_reference_count_as_owned_ones_do() {
        let mut owned: TopK<String> = TopK::new(64);
        let mut borrowed: TopK<String> = TopK::new(64);
        for i in 0..5_000u32 {
            let key = format!("/p{}", (i * 7919) % 40 + u32::from(i % 3 == 0) * (i % 500));
            owned.add(key.clone(), 1);
            borrowed.add_ref(key.as_str(), 1);
        }
        let (mut a, mut b) = (owned.top(20), borrowed.top(20));
        a.sort();
        b.sort();
        assert_eq!(owned.total(), borrowed.total());
        assert_eq!(a.len(), b.len());
        // The keys counted exactly (those never pruned) have the same counts either way.
        let exact: Vec<_> = a.iter().filter(|(_, n)| *n > 100).collect();
        for (k, n) in exact {
            assert!(b.contains(&(k.clone(), *n)), "{k} {n}: {b:?}");
        }
    }
}
