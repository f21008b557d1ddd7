//! The exact-match cache: a per-poll-thread table from a whole flow key to
//! the megaflow that covers it, checked before the shared classifier.
//!
//! Each key may live in one of two slots (two hash segments, as Open
//! vSwitch's EMC). Entries are inserted with a configurable probability so
//! that a flood of one-packet flows does not thrash the cache.

use std::sync::Arc;

use crate::flow_key::FlowKey;
use crate::megaflow::Megaflow;

/// Default number of entries (Open vSwitch: 8192).
pub const EMC_ENTRIES: usize = 8192;

struct Slot {
    hash: u64,
    key: FlowKey,
    flow: Option<Arc<Megaflow>>,
}

/// A per-thread exact-match cache.
pub struct ExactMatchCache {
    slots: Box<[Slot]>,
    mask: usize,
    /// Insert when a random u32 is below this (u32::MAX: always; 0: never).
    insert_threshold: u32,
    rng: u32,
}

impl ExactMatchCache {
    /// A cache of `entries` slots (rounded up to a power of two) inserting
    /// 1 in `inv_prob` misses; `inv_prob == 0` disables insertion.
    pub fn new(entries: usize, inv_prob: u32) -> ExactMatchCache {
        let n = entries.max(2).next_power_of_two();
        ExactMatchCache {
            slots: (0..n)
                .map(|_| Slot {
                    hash: 0,
                    key: FlowKey::ZERO,
                    flow: None,
                })
                .collect(),
            mask: n - 1,
            insert_threshold: match inv_prob {
                0 => 0,
                1 => u32::MAX,
                n => u32::MAX / n,
            },
            rng: 0x2545_f491,
        }
    }

    /// Open vSwitch's defaults: 8192 entries, insert 1 in 100.
    pub fn with_defaults() -> ExactMatchCache {
        ExactMatchCache::new(EMC_ENTRIES, 100)
    }

    /// False when insertion is off: the cache then stays empty and lookups
    /// can be skipped altogether.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.insert_threshold != 0
    }

    /// Sets the insertion probability to 1 in `inv_prob` (0 = never).
    pub fn set_insert_inv_prob(&mut self, inv_prob: u32) {
        *self = ExactMatchCache::new(self.slots.len(), inv_prob);
    }

    #[inline(always)]
    fn indices(&self, hash: u64) -> [usize; 2] {
        [hash as usize & self.mask, (hash >> 32) as usize & self.mask]
    }

    /// The live megaflow cached for exactly `key`.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<&Arc<Megaflow>> {
        for i in self.indices(hash) {
            let s = &self.slots[i];
            if s.hash == hash && s.key == *key {
                if let Some(f) = &s.flow {
                    if f.is_alive() {
                        return Some(f);
                    }
                }
            }
        }
        None
    }

    /// Offers `key -> flow` to the cache; taken with the configured
    /// probability. Replaces a dead or empty slot first, else the second one.
    #[inline]
    pub fn offer(&mut self, key: &FlowKey, hash: u64, flow: &Arc<Megaflow>) {
        if self.insert_threshold == 0 {
            return;
        }
        if self.insert_threshold != u32::MAX {
            // xorshift32: cheap, and the cache only needs a fair coin.
            let mut x = self.rng;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.rng = x;
            if x > self.insert_threshold {
                return;
            }
        }
        let [a, b] = self.indices(hash);
        let free = |s: &Slot| s.flow.as_ref().is_none_or(|f| !f.is_alive());
        let i = if free(&self.slots[a]) || (self.slots[a].hash == hash && self.slots[a].key == *key)
        {
            a
        } else {
            b
        };
        let s = &mut self.slots[i];
        s.hash = hash;
        s.key = *key;
        s.flow = Some(flow.clone());
    }

    /// Drops every entry (e.g. after a flush of the megaflow cache).
    pub fn clear(&mut self) {
        for s in self.slots.iter_mut() {
            s.flow = None;
        }
    }

    /// Entries pointing at live flows.
    pub fn live_entries(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.flow.as_ref().is_some_and(|f| f.is_alive()))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crate::megaflow::MegaflowCache;

    #[test]
    fn hits_only_live_flows_with_equal_keys() {
        let cache = MegaflowCache::new();
        let mut key = FlowKey::ZERO;
        key.set_in_port(1);
        let mut mask = FlowKey::ZERO;
        mask.set_in_port(u32::MAX);
        let flow = cache
            .insert(&key, &mask, Arc::from(vec![Action::Output(2)]))
            .unwrap_or_else(|e| panic!("{e}"))
            .flow;
        let mut emc = ExactMatchCache::new(16, 1);
        key.set_tp_src(80);
        let h = key.hash();
        assert!(emc.lookup(&key, h).is_none());
        emc.offer(&key, h, &flow);
        assert!(emc.lookup(&key, h).is_some());
        let mut other = key;
        other.set_tp_src(81);
        assert!(emc.lookup(&other, other.hash()).is_none());
        assert!(cache.remove(&flow));
        assert!(
            emc.lookup(&key, h).is_none(),
            "a removed megaflow must not be served"
        );
    }

    #[test]
    fn probability_zero_never_inserts() {
        let cache = MegaflowCache::new();
        let flow = cache
            .insert(
                &FlowKey::ZERO,
                &FlowKey::ZERO,
                Arc::from(vec![Action::Drop]),
            )
            .unwrap_or_else(|e| panic!("{e}"))
            .flow;
        let mut emc = ExactMatchCache::new(16, 0);
        let k = FlowKey::ZERO;
        emc.offer(&k, k.hash(), &flow);
        assert!(emc.lookup(&k, k.hash()).is_none());
        let mut emc = ExactMatchCache::new(1024, 100);
        let mut taken = 0;
        for i in 0..10_000u32 {
            let mut k = FlowKey::ZERO;
            k.set_nw_src(i);
            emc.offer(&k, k.hash(), &flow);
            taken += emc.lookup(&k, k.hash()).is_some() as u32;
        }
        assert!(
            (40..250).contains(&taken),
            "1-in-100 insertion took {taken} of 10000"
        );
    }
}
