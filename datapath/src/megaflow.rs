//! The megaflow cache: masked flow key -> actions, by tuple-space search.
//!
//! One hash table (a [`Subtable`]) per distinct mask; a lookup masks the key
//! with each subtable's mask in rank order and probes its table. Readers take
//! no lock: the subtable list is an `ArcSwap` snapshot and each table is a
//! lock-free `papaya` set whose removed entries are reclaimed only after
//! every reader that could see them has dropped its guard. Writers (installs,
//! removals, re-ranking) serialize on one mutex that readers never touch.
//!
//! A megaflow stores only the key words its mask selects (Open vSwitch's
//! miniflow idea), so a 5-tuple flow costs 5 words, not the whole key.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use papaya::{Equivalent, HashSet, LocalGuard};
use parking_lot::Mutex;
use seize::Collector;
use smallvec::SmallVec;

use crate::action::Actions;
use crate::flow_key::{hash_words, FlowKey, KEY_WORDS};

/// Counters of one megaflow. Updated with relaxed atomics once per batch
/// per flow, never under a lock.
#[derive(Debug, Default)]
pub struct FlowStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// Datapath clock (ms) of the last hit.
    used_ms: AtomicU64,
    tcp_flags: AtomicU16,
}

/// A snapshot of [`FlowStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStatsSnapshot {
    pub packets: u64,
    pub bytes: u64,
    pub used_ms: u64,
    pub tcp_flags: u16,
}

impl FlowStats {
    #[inline]
    pub fn add(&self, packets: u64, bytes: u64, tcp_flags: u16, now_ms: u64) {
        self.packets.fetch_add(packets, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.used_ms.fetch_max(now_ms, Ordering::Relaxed);
        if tcp_flags != 0 {
            self.tcp_flags.fetch_or(tcp_flags, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> FlowStatsSnapshot {
        FlowStatsSnapshot {
            packets: self.packets.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            used_ms: self.used_ms.load(Ordering::Relaxed),
            tcp_flags: self.tcp_flags.load(Ordering::Relaxed),
        }
    }
}

/// Masks with at most this many non-zero words take the unrolled path.
const NARROW: usize = 8;

/// The mask of a subtable, with the indices of its non-zero words.
#[derive(Clone, Debug)]
pub struct MaskInfo {
    pub mask: FlowKey,
    idx: [u8; KEY_WORDS],
    /// The mask's non-zero words in `idx` order (zero past `n`).
    compact: [u64; KEY_WORDS],
    n: usize,
}

impl MaskInfo {
    fn new(mask: &FlowKey) -> MaskInfo {
        let mut idx = [0u8; KEY_WORDS];
        let mut compact = [0u64; KEY_WORDS];
        let mut n = 0;
        for (i, w) in mask.words.iter().enumerate() {
            if *w != 0 {
                idx[n] = i as u8;
                compact[n] = *w;
                n += 1;
            }
        }
        MaskInfo {
            mask: *mask,
            idx,
            compact,
            n,
        }
    }

    #[inline(always)]
    fn words(&self) -> &[u8] {
        &self.idx[..self.n]
    }

    /// Gathers `key & mask` into `out` (one word per non-zero mask word) and
    /// hashes it; returns (hash, word count). Narrow masks, nearly all in
    /// practice, run a fixed 4- or 8-word loop the compiler unrolls: unused
    /// slots have a zero mask word, so they gather zeros and hash the same
    /// on every call.
    // Indexing three arrays in lockstep reads better than zipping them.
    #[allow(clippy::needless_range_loop)]
    #[inline(always)]
    fn gather(&self, key: &FlowKey, out: &mut [u64; KEY_WORDS]) -> (u64, usize) {
        if self.n <= NARROW / 2 {
            for j in 0..NARROW / 2 {
                out[j] = key.words[self.idx[j] as usize] & self.compact[j];
            }
            (hash_words(&out[..NARROW / 2]), self.n)
        } else if self.n <= NARROW {
            for j in 0..NARROW {
                out[j] = key.words[self.idx[j] as usize] & self.compact[j];
            }
            (hash_words(&out[..NARROW]), self.n)
        } else {
            for j in 0..self.n {
                out[j] = key.words[self.idx[j] as usize] & self.compact[j];
            }
            (hash_words(&out[..self.n]), self.n)
        }
    }
}

#[inline(always)]
fn words_eq(a: &[u64], b: &[u64]) -> bool {
    // A plain loop: slice == on u64 calls memcmp, which costs more than
    // comparing the handful of words a megaflow has.
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// One cached megaflow.
pub struct Megaflow {
    hash: u64,
    /// `key & mask`, only the words the mask selects; inline for the usual
    /// masks so that a probe compares without another pointer chase.
    words: SmallVec<[u64; 6]>,
    mask: Arc<MaskInfo>,
    pub actions: Actions,
    pub stats: FlowStats,
    dead: AtomicBool,
    /// Packets and bytes of `stats` the slow path has already counted
    /// (credited to its rules): its bookkeeping lives with the flow, so a
    /// revalidator pass needs no table of its own.
    credited_packets: AtomicU64,
    credited_bytes: AtomicU64,
    /// False when the slow path need not look at the flow just because it
    /// is active (set at install from [`crate::upcall::MegaflowSpec::quiet`]).
    watch: AtomicBool,
}

impl std::fmt::Debug for Megaflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Megaflow")
            .field("key", &self.key())
            .field("actions", &self.actions)
            .finish()
    }
}

impl Megaflow {
    /// The masked key (fields outside the mask are zero).
    pub fn key(&self) -> FlowKey {
        let mut k = FlowKey::ZERO;
        for (w, &i) in self.words.iter().zip(self.mask.words()) {
            k.words[i as usize] = *w;
        }
        k
    }

    pub fn mask(&self) -> &FlowKey {
        &self.mask.mask
    }

    /// Packets and bytes of the flow's counters already credited upstream.
    pub fn credited(&self) -> (u64, u64) {
        (
            self.credited_packets.load(Ordering::Relaxed),
            self.credited_bytes.load(Ordering::Relaxed),
        )
    }

    /// Counts traffic credited before the counters saw it (the handler's
    /// own packet, also when another handler installed the flow first).
    pub fn add_credited(&self, packets: u64, bytes: u64) {
        self.credited_packets.fetch_add(packets, Ordering::Relaxed);
        self.credited_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn set_credited(&self, packets: u64, bytes: u64) {
        self.credited_packets.store(packets, Ordering::Relaxed);
        self.credited_bytes.store(bytes, Ordering::Relaxed);
    }

    /// Whether the slow path wants to see the flow when it is active (true
    /// unless its installer said otherwise).
    pub fn watch_activity(&self) -> bool {
        self.watch.load(Ordering::Relaxed)
    }

    pub fn set_watch_activity(&self, watch: bool) {
        self.watch.store(watch, Ordering::Relaxed);
    }

    /// False once the flow was removed from the cache; an exact-match cache
    /// entry that still points at it must not be used.
    #[inline(always)]
    pub fn is_alive(&self) -> bool {
        !self.dead.load(Ordering::Relaxed)
    }

    /// True if `key` falls under this megaflow.
    pub fn matches(&self, key: &FlowKey) -> bool {
        self.words
            .iter()
            .zip(self.mask.words())
            .all(|(w, &i)| key.words[i as usize] & self.mask.mask.words[i as usize] == *w)
    }
}

/// Entries hash by their precomputed hash and compare by masked words.
struct Entry(Arc<Megaflow>);

impl Hash for Entry {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.0.hash);
    }
}
impl PartialEq for Entry {
    fn eq(&self, o: &Entry) -> bool {
        words_eq(&self.0.words, &o.0.words)
    }
}
impl Eq for Entry {}

/// A lookup probe: the gathered words of a key under one mask.
struct Probe<'a> {
    hash: u64,
    words: &'a [u64],
}
impl Hash for Probe<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}
impl Equivalent<Entry> for Probe<'_> {
    #[inline]
    fn equivalent(&self, e: &Entry) -> bool {
        words_eq(self.words, &e.0.words)
    }
}

/// A hasher that passes the precomputed hash through.
#[derive(Clone, Copy, Default)]
struct PassHash;
struct PassHasher(u64);
impl BuildHasher for PassHash {
    type Hasher = PassHasher;
    fn build_hasher(&self) -> PassHasher {
        PassHasher(0)
    }
}
impl Hasher for PassHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only write_u64 is used by Entry/Probe; fold anything else anyway.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// All megaflows that share one mask.
pub struct Subtable {
    /// The mask, inline (read on every probe) ...
    info: MaskInfo,
    /// ... and shared with this subtable's megaflows, for dumps.
    mask: Arc<MaskInfo>,
    flows: HashSet<Entry, PassHash>,
    /// Hits since the last re-rank (added once per batch).
    hits: AtomicU64,
}

impl Subtable {
    fn new(mask: &FlowKey, collector: &Arc<Collector>) -> Subtable {
        let info = MaskInfo::new(mask);
        Subtable {
            mask: Arc::new(info.clone()),
            info,
            flows: HashSet::builder()
                .hasher(PassHash)
                .shared_collector(collector.clone())
                // One writer at a time: a resize done at once by that writer
                // costs less than incremental copying spread over inserts.
                .resize_mode(papaya::ResizeMode::Blocking)
                .build(),
            hits: AtomicU64::new(0),
        }
    }

    pub fn mask(&self) -> &FlowKey {
        &self.mask.mask
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.len() == 0
    }
}

/// A successful install: the flow, and whether this call created it (false
/// when a racing upcall had already installed the same masked key).
#[derive(Clone, Debug)]
pub struct Installed {
    pub flow: Arc<Megaflow>,
    pub new: bool,
}

/// Why an install was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstallError {
    #[error("megaflow limit of {0} reached")]
    Full(usize),
}

/// The shared megaflow classifier.
pub struct MegaflowCache {
    subtables: ArcSwap<Vec<Arc<Subtable>>>,
    collector: Arc<Collector>,
    writer: Mutex<()>,
    count: AtomicUsize,
    limit: AtomicUsize,
}

impl Default for MegaflowCache {
    fn default() -> Self {
        MegaflowCache::new()
    }
}

/// A reader's view for a batch of lookups: holds the subtable snapshot and
/// the reclamation guard, so the flows it returns stay valid while it lives.
pub struct CacheReader<'c> {
    subtables: arc_swap::Guard<Arc<Vec<Arc<Subtable>>>>,
    guard: LocalGuard<'c>,
}

impl CacheReader<'_> {
    /// The megaflow covering `key`, if any. Megaflows installed by a correct
    /// xlate never disagree where they overlap, so the first hit is the answer.
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<&Arc<Megaflow>> {
        let mut out = [None];
        self.lookup_batch(std::slice::from_ref(key), 1, &mut out);
        out[0]
    }

    /// Looks up `keys[i]` for each bit i set in `todo` (at most 32 keys),
    /// storing hits in `out[i]`; returns the bits of the keys that missed.
    /// Subtable by subtable rather than key by key, as Open vSwitch's dpcls
    /// does: one subtable's mask and table stay hot for the whole batch.
    #[inline]
    pub fn lookup_batch<'r>(
        &'r self,
        keys: &[FlowKey],
        mut todo: u32,
        out: &mut [Option<&'r Arc<Megaflow>>],
    ) -> u32 {
        let mut buf = [0u64; KEY_WORDS];
        for st in self.subtables.iter() {
            if todo == 0 {
                break;
            }
            let mut rem = todo;
            let mut hits = 0;
            while rem != 0 {
                let i = rem.trailing_zeros() as usize;
                rem &= rem - 1;
                let (Some(key), Some(slot)) = (keys.get(i), out.get_mut(i)) else {
                    continue;
                };
                let (hash, n) = st.info.gather(key, &mut buf);
                let probe = Probe {
                    hash,
                    words: &buf[..n],
                };
                if let Some(e) = st.flows.get(&probe, &self.guard) {
                    *slot = Some(&e.0);
                    todo &= !(1 << i);
                    hits += 1;
                }
            }
            if hits != 0 {
                st.hits.fetch_add(hits, Ordering::Relaxed);
            }
        }
        todo
    }

    /// Number of subtables a miss has to probe.
    pub fn subtable_count(&self) -> usize {
        self.subtables.len()
    }
}

impl MegaflowCache {
    /// An empty cache with Open vSwitch's default flow limit (200k).
    pub fn new() -> MegaflowCache {
        MegaflowCache {
            subtables: ArcSwap::from_pointee(Vec::new()),
            collector: Arc::new(Collector::new()),
            writer: Mutex::new(()),
            count: AtomicUsize::new(0),
            limit: AtomicUsize::new(200_000),
        }
    }

    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Starts a batch of lookups.
    #[inline]
    pub fn reader(&self) -> CacheReader<'_> {
        CacheReader {
            subtables: self.subtables.load(),
            guard: self.collector.enter(),
        }
    }

    /// Number of installed megaflows.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Masks in rank order with their flow counts.
    pub fn subtables(&self) -> Vec<(FlowKey, usize)> {
        self.subtables
            .load()
            .iter()
            .map(|s| (s.mask.mask, s.len()))
            .collect()
    }

    /// Installs `key/mask -> actions`. If a flow with the same masked key is
    /// already there (two upcalls raced), that flow is returned unchanged.
    pub fn insert(
        &self,
        key: &FlowKey,
        mask: &FlowKey,
        actions: Actions,
    ) -> Result<Installed, InstallError> {
        let _w = self.writer.lock();
        let st = self.subtable_for(mask);
        let mut buf = [0u64; KEY_WORDS];
        let (hash, n) = st.info.gather(key, &mut buf);
        let words = &buf[..n];
        let guard = self.collector.enter();
        if let Some(e) = st.flows.get(&Probe { hash, words }, &guard) {
            return Ok(Installed {
                flow: e.0.clone(),
                new: false,
            });
        }
        let limit = self.limit();
        if self.len() >= limit {
            self.drop_if_empty(&st);
            return Err(InstallError::Full(limit));
        }
        let flow = Arc::new(Megaflow {
            hash,
            words: SmallVec::from_slice(words),
            mask: st.mask.clone(),
            actions,
            stats: FlowStats::default(),
            dead: AtomicBool::new(false),
            credited_packets: AtomicU64::new(0),
            credited_bytes: AtomicU64::new(0),
            watch: AtomicBool::new(true),
        });
        st.flows.insert(Entry(flow.clone()), &guard);
        self.count.fetch_add(1, Ordering::Relaxed);
        Ok(Installed { flow, new: true })
    }

    /// Removes `flow`; returns false if it was not installed.
    pub fn remove(&self, flow: &Megaflow) -> bool {
        let _w = self.writer.lock();
        let subtables = self.subtables.load();
        let Some(st) = subtables.iter().find(|s| Arc::ptr_eq(&s.mask, &flow.mask)) else {
            return false;
        };
        let guard = self.collector.enter();
        let probe = Probe {
            hash: flow.hash,
            words: &flow.words,
        };
        // Only remove this very flow, not a newer one with the same key.
        match st.flows.get(&probe, &guard) {
            Some(e) if std::ptr::eq(Arc::as_ptr(&e.0), flow) => {}
            _ => return false,
        }
        flow.dead.store(true, Ordering::Relaxed);
        st.flows.remove(&probe, &guard);
        self.count.fetch_sub(1, Ordering::Relaxed);
        let st = st.clone();
        drop(subtables);
        self.drop_if_empty(&st);
        true
    }

    /// Removes every flow for which `f` returns false (used by the
    /// revalidator and by `dpctl/del-flows`). Returns how many went.
    pub fn retain(&self, mut f: impl FnMut(&Arc<Megaflow>) -> bool) -> usize {
        let doomed: Vec<Arc<Megaflow>> = {
            let mut v = Vec::new();
            self.for_each(|m| {
                if !f(m) {
                    v.push(m.clone());
                }
            });
            v
        };
        doomed.iter().filter(|m| self.remove(m)).count()
    }

    /// Removes every flow.
    pub fn clear(&self) -> usize {
        self.retain(|_| false)
    }

    /// Calls `f` on every installed flow (a consistent snapshot per subtable).
    pub fn for_each(&self, mut f: impl FnMut(&Arc<Megaflow>)) {
        let subtables = self.subtables.load();
        let guard = self.collector.enter();
        for st in subtables.iter() {
            for e in st.flows.iter(&guard) {
                f(&e.0);
            }
        }
    }

    /// Every installed flow.
    pub fn flows(&self) -> Vec<Arc<Megaflow>> {
        let mut v = Vec::with_capacity(self.len());
        self.for_each(|m| v.push(m.clone()));
        v
    }

    /// Re-orders subtables by hits since the last call, busiest first, so
    /// that lookups find common flows in the first probes.
    pub fn rerank(&self) {
        let _w = self.writer.lock();
        let mut v: Vec<(u64, Arc<Subtable>)> = self
            .subtables
            .load()
            .iter()
            .map(|s| (s.hits.swap(0, Ordering::Relaxed), s.clone()))
            .collect();
        // Stable: ties keep their order, so an idle table set does not churn.
        v.sort_by_key(|s| std::cmp::Reverse(s.0));
        self.subtables
            .store(Arc::new(v.into_iter().map(|(_, s)| s).collect()));
    }

    /// Finds or creates the subtable for `mask`. Caller holds the writer lock.
    fn subtable_for(&self, mask: &FlowKey) -> Arc<Subtable> {
        let cur = self.subtables.load();
        if let Some(st) = cur.iter().find(|s| s.mask.mask == *mask) {
            return st.clone();
        }
        let st = Arc::new(Subtable::new(mask, &self.collector));
        let mut next: Vec<Arc<Subtable>> = Vec::with_capacity(cur.len() + 1);
        next.extend(cur.iter().cloned());
        next.push(st.clone());
        self.subtables.store(Arc::new(next));
        st
    }

    /// Unlinks an empty subtable. Caller holds the writer lock.
    fn drop_if_empty(&self, st: &Arc<Subtable>) {
        if !st.is_empty() {
            return;
        }
        let cur = self.subtables.load();
        let next: Vec<Arc<Subtable>> = cur
            .iter()
            .filter(|s| !Arc::ptr_eq(s, st))
            .cloned()
            .collect();
        if next.len() != cur.len() {
            self.subtables.store(Arc::new(next));
        }
    }
}
