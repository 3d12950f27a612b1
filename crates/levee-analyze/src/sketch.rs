//! Bounded-memory counters.
//!
//! Written here rather than taken from a crate because they sit on the per-packet hot path:
//! a top-k update is one hash-table probe (foldhash), and the table is pruned in batches so a
//! spoofed flood where every packet brings a new key costs amortised O(1).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Misra-Gries heavy hitters with batch decrements.
///
/// Holds at most `capacity` keys. When the table is full, the median count is subtracted from
/// every key and the keys that reach zero are dropped. Any key whose true count exceeds
/// `error_bound()` is guaranteed to be in the table, and each reported count is low by at most
/// `error_bound()`.
pub struct TopK<K> {
    counts: FastMap<K, u64>,
    capacity: usize,
    /// Sum of all decrements applied to every key so far.
    decremented: u64,
    total: u64,
}

impl<K: Hash + Eq + Clone + Ord> TopK<K> {
    pub fn new(capacity: usize) -> TopK<K> {
        let capacity = capacity.max(8);
        TopK {
            counts: HashMap::with_capacity_and_hasher(
                capacity + 1,
                foldhash::fast::FixedState::with_seed(0x1e_7e_e0),
            ),
            capacity,
            decremented: 0,
            total: 0,
        }
    }

    #[inline]
    pub fn add(&mut self, key: K, weight: u64) {
        self.total += weight;
        if let Some(c) = self.counts.get_mut(&key) {
            *c += weight;
            return;
        }
        if self.counts.len() >= self.capacity {
            self.prune();
        }
        self.counts.insert(key, weight);
    }

    #[cold]
    fn prune(&mut self) {
        let mut values: Vec<u64> = self.counts.values().copied().collect();
        let mid = values.len() / 2;
        let (_, &mut median, _) = values.select_nth_unstable(mid);
        let cut = median.max(1);
        self.decremented += cut;
        self.counts.retain(|_, c| {
            *c = c.saturating_sub(cut);
            *c > 0
        });
    }

    /// The largest amount by which any reported count may be below the truth.
    pub fn error_bound(&self) -> u64 {
        self.decremented
    }

    /// Total weight added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `n` heaviest keys with their lower-bound counts, heaviest first (ties by key, so the
    /// output is deterministic).
    pub fn top(&self, n: usize) -> Vec<(K, u64)> {
        let mut v: Vec<(K, u64)> = self.counts.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Merges another table into this one (for parallel runs).
    pub fn merge(&mut self, other: &TopK<K>) {
        self.decremented += other.decremented;
        self.total += other.total;
        for (k, c) in &other.counts {
            *self.counts.entry(k.clone()).or_insert(0) += c;
        }
        while self.counts.len() > self.capacity {
            self.prune();
        }
    }
}

/// HyperLogLog distinct counter with 2^14 registers (16 KiB, about 0.8 % standard error),
/// with the small-range (linear counting) correction.
#[derive(Clone)]
pub struct DistinctCount {
    registers: Box<[u8; 1 << 14]>,
    // The estimate relies on well-mixed high bits, so this uses foldhash's quality variant.
    hasher: foldhash::quality::FixedState,
}

const HLL_P: u32 = 14;
const HLL_M: usize = 1 << HLL_P;

impl Default for DistinctCount {
    fn default() -> Self {
        DistinctCount {
            registers: Box::new([0; HLL_M]),
            hasher: foldhash::quality::FixedState::with_seed(0x6c_65_76_65_65),
        }
    }
}

impl DistinctCount {
    #[inline]
    pub fn add<T: Hash>(&mut self, item: &T) {
        let h = self.hasher.hash_one(item);
        let idx = (h >> (64 - HLL_P)) as usize;
        let rest = (h << HLL_P) | (1 << (HLL_P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let r = &mut self.registers[idx];
        if rank > *r {
            *r = rank;
        }
    }

    pub fn estimate(&self) -> u64 {
        let m = HLL_M as f64;
        let mut sum = 0.0;
        let mut zeros = 0usize;
        for &r in self.registers.iter() {
            sum += 1.0 / (1u64 << r) as f64;
            if r == 0 {
                zeros += 1;
            }
        }
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let est = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        est.round() as u64
    }

    pub fn merge(&mut self, other: &DistinctCount) {
        for (a, b) in self.registers.iter_mut().zip(other.registers.iter()) {
            *a = (*a).max(*b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Lower bounds within the documented error.
        assert!(top[0].1 <= 20_000 && top[0].1 + t.error_bound() >= 20_000);
        assert!(t.counts.len() <= 64);
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
}
