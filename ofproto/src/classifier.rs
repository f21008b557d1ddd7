//! The OpenFlow classifier: prioritized wildcard rules over a fixed-width
//! flow of `W` u64 words, by tuple-space search.
//!
//! One subtable per distinct mask, each a hash map from masked flow to the
//! rules of that match, highest priority first. Subtables are visited in
//! order of the highest priority they hold, and the search stops as soon as
//! no remaining subtable can beat the best rule found. Every subtable the
//! search probes adds its mask to the caller's wildcards: those are the bits
//! the answer depended on, which is what makes a megaflow built from them
//! correct (a higher-priority rule that was checked and did not match still
//! constrains the megaflow, or a packet matching it would be misdirected).
//!
//! The structure is a plain value (no interior locking): the flow-table
//! layer publishes immutable snapshots of it to readers.

use hashbrown::HashMap;
use std::sync::Arc;

/// One rule: match (key under mask), priority, and what it carries.
#[derive(Debug)]
pub struct Rule<T, const W: usize> {
    pub priority: u32,
    /// Always stored masked (`key & mask == key`).
    pub key: [u64; W],
    pub mask: [u64; W],
    pub value: T,
}

impl<T, const W: usize> Rule<T, W> {
    /// True if `flow` matches this rule.
    #[inline]
    pub fn matches(&self, flow: &[u64; W]) -> bool {
        (0..W).all(|i| flow[i] & self.mask[i] == self.key[i])
    }

    /// True if some packet could match both rules.
    pub fn overlaps(&self, other: &Rule<T, W>) -> bool {
        (0..W).all(|i| (self.key[i] ^ other.key[i]) & self.mask[i] & other.mask[i] == 0)
    }
}

struct Subtable<T, const W: usize> {
    mask: [u64; W],
    /// Masked key -> rules with that exact match, highest priority first.
    rules: HashMap<[u64; W], Vec<Arc<Rule<T, W>>>>,
    max_priority: u32,
    count: usize,
}

impl<T, const W: usize> Clone for Subtable<T, W> {
    fn clone(&self) -> Self {
        Subtable {
            mask: self.mask,
            rules: self.rules.clone(),
            max_priority: self.max_priority,
            count: self.count,
        }
    }
}

impl<T, const W: usize> Subtable<T, W> {
    fn recompute_max(&mut self) {
        self.max_priority = self
            .rules
            .values()
            .filter_map(|v| v.first())
            .map(|r| r.priority)
            .max()
            .unwrap_or(0);
    }
}

/// A set of prioritized rules. Cloning is shallow per rule (rules are
/// shared), so a snapshot costs one pass over the hash maps.
pub struct Classifier<T, const W: usize> {
    /// Sorted by `max_priority`, highest first.
    subtables: Vec<Subtable<T, W>>,
    count: usize,
}

impl<T, const W: usize> Clone for Classifier<T, W> {
    fn clone(&self) -> Self {
        Classifier {
            subtables: self.subtables.clone(),
            count: self.count,
        }
    }
}

impl<T, const W: usize> Default for Classifier<T, W> {
    fn default() -> Self {
        Classifier {
            subtables: Vec::new(),
            count: 0,
        }
    }
}

fn masked<const W: usize>(key: &[u64; W], mask: &[u64; W]) -> [u64; W] {
    let mut out = [0u64; W];
    for i in 0..W {
        out[i] = key[i] & mask[i];
    }
    out
}

impl<T, const W: usize> Classifier<T, W> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of distinct masks.
    pub fn subtable_count(&self) -> usize {
        self.subtables.len()
    }

    /// Inserts a rule; a rule with the same match and priority is replaced
    /// and returned (OpenFlow's add-replaces-identical semantics).
    pub fn insert(
        &mut self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
        value: T,
    ) -> Option<Arc<Rule<T, W>>> {
        self.insert_by(priority, key, mask, value, |_| true)
    }

    /// Inserts a rule; the rule with the same match and priority for whose
    /// value `same` holds is replaced and returned. Rules with the same
    /// words and priority that `same` tells apart are kept side by side:
    /// how a match on more than the words (tun_metadata values, see
    /// [`crate::tlv`]) stays distinct.
    pub fn insert_by(
        &mut self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
        value: T,
        same: impl Fn(&T) -> bool,
    ) -> Option<Arc<Rule<T, W>>> {
        let key = masked(key, mask);
        let rule = Arc::new(Rule {
            priority,
            key,
            mask: *mask,
            value,
        });
        let idx = match self.subtables.iter().position(|s| s.mask == *mask) {
            Some(i) => i,
            None => {
                self.subtables.push(Subtable {
                    mask: *mask,
                    rules: HashMap::new(),
                    max_priority: 0,
                    count: 0,
                });
                self.subtables.len() - 1
            }
        };
        let st = &mut self.subtables[idx];
        let list = st.rules.entry(key).or_default();
        let pos = list.partition_point(|r| r.priority > priority);
        let end = list.partition_point(|r| r.priority >= priority);
        let hit = (pos..end).find(|&i| same(&list[i].value));
        let old = if let Some(i) = hit {
            Some(std::mem::replace(&mut list[i], rule))
        } else {
            list.insert(end, rule);
            st.count += 1;
            self.count += 1;
            None
        };
        if st.count == 1 || priority > st.max_priority {
            st.max_priority = priority;
        }
        self.resort();
        old
    }

    /// Removes the rule with exactly this match and priority.
    pub fn remove(
        &mut self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
    ) -> Option<Arc<Rule<T, W>>> {
        self.remove_by(priority, key, mask, |_| true)
    }

    /// Removes the rule with exactly this match and priority whose value
    /// `same` accepts (see [`Classifier::insert_by`]).
    pub fn remove_by(
        &mut self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
        same: impl Fn(&T) -> bool,
    ) -> Option<Arc<Rule<T, W>>> {
        let key = masked(key, mask);
        let idx = self.subtables.iter().position(|s| s.mask == *mask)?;
        let st = &mut self.subtables[idx];
        let list = st.rules.get_mut(&key)?;
        let pos = list
            .iter()
            .position(|r| r.priority == priority && same(&r.value))?;
        let old = list.remove(pos);
        if list.is_empty() {
            st.rules.remove(&key);
        }
        st.count -= 1;
        self.count -= 1;
        if st.count == 0 {
            self.subtables.remove(idx);
        } else if old.priority == st.max_priority {
            st.recompute_max();
            self.resort();
        }
        Some(old)
    }

    fn resort(&mut self) {
        // Stable and nearly sorted after one change: insertion-sort cost.
        self.subtables
            .sort_by_key(|s| std::cmp::Reverse(s.max_priority));
    }

    /// The highest-priority rule matching `flow`. Every subtable probed ORs
    /// its mask into `wc`. Among equal priorities the answer is whichever
    /// subtable comes first (OpenFlow leaves overlapping equal-priority
    /// rules undefined).
    pub fn lookup(&self, flow: &[u64; W], wc: &mut [u64; W]) -> Option<&Arc<Rule<T, W>>> {
        let mut best: Option<&Arc<Rule<T, W>>> = None;
        for st in &self.subtables {
            if let Some(b) = best {
                if st.max_priority <= b.priority {
                    break;
                }
            }
            for (w, m) in wc.iter_mut().zip(&st.mask) {
                *w |= m;
            }
            let key = masked(flow, &st.mask);
            if let Some(r) = st.rules.get(&key).and_then(|l| l.first()) {
                if best.is_none_or(|b| r.priority > b.priority) {
                    best = Some(r);
                }
            }
        }
        best
    }

    /// Every rule, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Rule<T, W>>> {
        self.subtables
            .iter()
            .flat_map(|s| s.rules.values().flatten())
    }

    /// Rules a non-strict flow_mod/flow_stats with match (`key`, `mask`)
    /// selects: those at least as specific as it that agree with it on its
    /// bits (OpenFlow's "loose" match).
    pub fn iter_loose<'a>(
        &'a self,
        key: &[u64; W],
        mask: &[u64; W],
    ) -> impl Iterator<Item = &'a Arc<Rule<T, W>>> + 'a {
        let key = masked(key, mask);
        let mask = *mask;
        self.iter().filter(move |r| {
            (0..W).all(|i| r.mask[i] & mask[i] == mask[i] && r.key[i] & mask[i] == key[i])
        })
    }

    /// The rule with exactly this match and priority (strict selection).
    pub fn find_exact(
        &self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
    ) -> Option<&Arc<Rule<T, W>>> {
        self.find_exact_by(priority, key, mask, |_| true)
    }

    /// The rule with exactly this match and priority whose value `same`
    /// accepts (see [`Classifier::insert_by`]).
    pub fn find_exact_by(
        &self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
        same: impl Fn(&T) -> bool,
    ) -> Option<&Arc<Rule<T, W>>> {
        let key = masked(key, mask);
        let st = self.subtables.iter().find(|s| s.mask == *mask)?;
        st.rules
            .get(&key)?
            .iter()
            .find(|r| r.priority == priority && same(&r.value))
    }

    /// A rule of the same priority that some packet could match together
    /// with (`key`, `mask`) (OFPFF_CHECK_OVERLAP).
    pub fn find_overlap(
        &self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
    ) -> Option<&Arc<Rule<T, W>>> {
        self.find_overlap_by(priority, key, mask, |_| true)
    }

    /// Like [`Classifier::find_overlap`], among rules whose value `also`
    /// accepts (a further overlap condition on what the words do not hold).
    pub fn find_overlap_by(
        &self,
        priority: u32,
        key: &[u64; W],
        mask: &[u64; W],
        also: impl Fn(&T) -> bool,
    ) -> Option<&Arc<Rule<T, W>>> {
        let key = masked(key, mask);
        self.iter().find(|r| {
            r.priority == priority
                && (0..W).all(|i| (r.key[i] ^ key[i]) & r.mask[i] & mask[i] == 0)
                && also(&r.value)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type C = Classifier<u32, 2>;

    #[test]
    fn highest_priority_wins_and_wildcards_cover_probed_masks() {
        let mut c = C::new();
        c.insert(10, &[1, 0], &[0xff, 0], 100);
        c.insert(20, &[0, 5], &[0, 0xff], 200);
        c.insert(5, &[0, 0], &[0, 0], 300);
        let mut wc = [0, 0];
        let r = c.lookup(&[1, 5], &mut wc).map(|r| r.value);
        assert_eq!(r, Some(200));
        // Only the priority-20 subtable was needed: nothing below can win.
        assert_eq!(wc, [0, 0xff]);
        let mut wc = [0, 0];
        assert_eq!(c.lookup(&[1, 6], &mut wc).map(|r| r.value), Some(100));
        assert_eq!(
            wc,
            [0xff, 0xff],
            "the failed priority-20 rule's field is in the megaflow"
        );
        let mut wc = [0, 0];
        assert_eq!(c.lookup(&[2, 6], &mut wc).map(|r| r.value), Some(300));
    }

    #[test]
    fn identical_rule_is_replaced_and_remove_is_exact() {
        let mut c = C::new();
        assert!(c.insert(10, &[1, 0], &[0xff, 0], 1).is_none());
        assert_eq!(
            c.insert(10, &[1, 7], &[0xff, 0], 2).map(|r| r.value),
            Some(1)
        );
        assert_eq!(c.len(), 1);
        assert!(c.remove(11, &[1, 0], &[0xff, 0]).is_none());
        assert_eq!(c.remove(10, &[1, 0], &[0xff, 0]).map(|r| r.value), Some(2));
        assert!(c.is_empty());
        assert_eq!(c.subtable_count(), 0);
    }

    #[test]
    fn rules_told_apart_by_value_stay_side_by_side() {
        // Values 1x and 2x are different rules with the same words; a
        // value of the same tens replaces.
        let same = |v: u32| move |o: &u32| o / 10 == v / 10;
        let mut c = C::new();
        assert!(c.insert_by(10, &[1, 0], &[0xff, 0], 11, same(11)).is_none());
        assert!(c.insert_by(10, &[1, 0], &[0xff, 0], 21, same(21)).is_none());
        assert!(c.insert_by(20, &[1, 0], &[0xff, 0], 31, same(31)).is_none());
        assert_eq!(c.len(), 3);
        let old = c.insert_by(10, &[1, 0], &[0xff, 0], 22, same(22));
        assert_eq!(old.map(|r| r.value), Some(21));
        assert_eq!(c.len(), 3);
        let found = c.find_exact_by(10, &[1, 0], &[0xff, 0], same(12));
        assert_eq!(found.map(|r| r.value), Some(11));
        assert!(c.find_exact_by(10, &[1, 0], &[0xff, 0], same(42)).is_none());
        let gone = c.remove_by(10, &[1, 0], &[0xff, 0], same(29));
        assert_eq!(gone.map(|r| r.value), Some(22));
        assert!(c
            .find_overlap_by(10, &[1, 0], &[0xff, 0], |v| *v == 22)
            .is_none());
        assert!(c
            .find_overlap_by(10, &[1, 0], &[0xff, 0], |v| *v == 11)
            .is_some());
        // The highest priority still comes first.
        let mut wc = [0, 0];
        assert_eq!(c.lookup(&[1, 0], &mut wc).map(|r| r.value), Some(31));
    }

    use proptest::prelude::*;

    proptest! {
        /// The answer's priority equals the best priority a linear scan
        /// finds, the rule matches, and any flow agreeing with the probed
        /// flow on the wildcarded bits gets a rule of the same priority
        /// (the megaflow property).
        #[test]
        fn lookup_equals_linear_scan(
            rules in proptest::collection::vec((0u32..8, [0u64..4, 0u64..4], [prop_oneof![Just(0u64), Just(1), Just(3)], prop_oneof![Just(0u64), Just(2), Just(3)]]), 0..40),
            flows in proptest::collection::vec([0u64..4, 0u64..4], 1..20),
            noise in proptest::collection::vec([0u64..4, 0u64..4], 1..20),
        ) {
            let mut c = C::new();
            let mut all: Vec<(u32, [u64; 2], [u64; 2])> = Vec::new();
            for (i, (p, k, m)) in rules.iter().enumerate() {
                let k = masked(k, m);
                c.insert(*p, &k, m, i as u32);
                all.retain(|(q, k2, m2)| !(q == p && k2 == &k && m2 == m));
                all.push((*p, k, *m));
            }
            prop_assert_eq!(c.len(), all.len());
            for f in &flows {
                let mut wc = [0, 0];
                let got = c.lookup(f, &mut wc).map(|r| r.priority);
                let want = all.iter().filter(|(_, k, m)| masked(f, m) == *k).map(|(p, _, _)| *p).max();
                prop_assert_eq!(got, want);
                for n in &noise {
                    // Same bits where wc is set, anything elsewhere.
                    let g = [(f[0] & wc[0]) | (n[0] & !wc[0]), (f[1] & wc[1]) | (n[1] & !wc[1])];
                    let mut wc2 = [0, 0];
                    prop_assert_eq!(c.lookup(&g, &mut wc2).map(|r| r.priority), got);
                }
            }
        }
    }

    #[test]
    fn loose_selection_and_overlap() {
        let mut c = C::new();
        c.insert(1, &[1, 2], &[0xff, 0xff], 1);
        c.insert(1, &[1, 0], &[0xff, 0], 2);
        c.insert(1, &[2, 0], &[0xff, 0], 3);
        let mut v: Vec<u32> = c.iter_loose(&[1, 0], &[0xff, 0]).map(|r| r.value).collect();
        v.sort();
        assert_eq!(v, vec![1, 2]);
        assert_eq!(c.iter_loose(&[0, 0], &[0, 0]).count(), 3);
        assert!(c.find_overlap(1, &[0, 2], &[0, 0xff]).is_some());
        assert!(c.find_overlap(1, &[3, 0], &[0xff, 0]).is_none());
        assert!(c.find_overlap(2, &[1, 0], &[0xff, 0]).is_none());
    }
}
