//! The megaflow classifier against a linear scan over the same rules, for
//! random keys, masks, and orders of insertion and removal; and its
//! lock-free readers against a concurrent writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use oxvs_datapath::flow_key::{FlowKey, FIELDS, KEY_WORDS};
use oxvs_datapath::megaflow::{Megaflow, MegaflowCache};
use oxvs_datapath::Action;
use proptest::prelude::*;

/// A handful of masks drawn from fields that real megaflows use, so that
/// random rules collide on masks (several per subtable) and overlap.
fn mask_strategy() -> impl Strategy<Value = FlowKey> {
    let names = [
        "in_port",
        "eth_type",
        "nw_proto",
        "nw_src",
        "nw_dst",
        "tp_src",
        "tp_dst",
        "vlan_tci",
        "recirc_id",
    ];
    (
        proptest::collection::vec(0usize..names.len(), 1..4),
        0u32..3,
    )
        .prop_map(move |(fields, prefix)| {
            let mut m = FlowKey::ZERO;
            for i in fields {
                let f = FIELDS
                    .iter()
                    .find(|f| f.name == names[i])
                    .expect("field exists");
                f.set(&mut m, u64::MAX);
            }
            // Some masks are prefixes rather than whole fields.
            if prefix > 0 && m.nw_dst() != 0 {
                m.set_nw_dst(u32::MAX << (8 * prefix));
            }
            m
        })
}

/// Keys from a small value space so that lookups hit often.
fn key_strategy() -> impl Strategy<Value = FlowKey> {
    (0u32..3, 0u16..2, 0u8..3, 0u32..4, 0u32..4, 0u16..3, 0u16..3).prop_map(
        |(port, et, proto, src, dst, sp, dp)| {
            let mut k = FlowKey::ZERO;
            k.set_in_port(port);
            k.set_eth_type([0x0800, 0x86dd][et as usize]);
            k.set_nw_proto([6, 17, 1][proto as usize]);
            k.set_nw_src(0x0a00_0000 | src);
            k.set_nw_dst(0x0a00_0000 | dst << 8 | dst);
            k.set_tp_src(1000 + sp);
            k.set_tp_dst(80 + dp);
            k
        },
    )
}

#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // test input, size does not matter
enum Op {
    Insert(FlowKey, FlowKey),
    /// Remove the n-th live rule (modulo the count).
    Remove(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (key_strategy(), mask_strategy()).prop_map(|(k, m)| Op::Insert(k, m)),
        1 => any::<usize>().prop_map(Op::Remove),
    ]
}

struct Reference {
    rules: Vec<(FlowKey, FlowKey, Arc<Megaflow>)>,
}

impl Reference {
    fn matching(&self, key: &FlowKey) -> Vec<&Arc<Megaflow>> {
        self.rules
            .iter()
            .filter(|(k, m, _)| key.matches(k, m))
            .map(|(_, _, f)| f)
            .collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After any sequence of inserts and removals, a lookup finds a flow iff
    /// some live rule matches the key, and the flow it finds is one of those
    /// rules. (Megaflows may overlap; which overlapping one wins is not
    /// specified, because correct megaflows agree where they overlap.)
    #[test]
    fn lookup_equals_linear_scan(
        ops in proptest::collection::vec(op_strategy(), 1..60),
        probes in proptest::collection::vec(key_strategy(), 1..40),
    ) {
        let cache = MegaflowCache::new();
        let mut reference = Reference { rules: Vec::new() };
        for (n, op) in ops.iter().enumerate() {
            match op {
                Op::Insert(k, m) => {
                    let actions: Arc<[Action]> = Arc::from(vec![Action::Output(n as u32)]);
                    let flow = cache.insert(k, m, actions).expect("below the limit").flow;
                    // A second insert of the same masked key returns the first flow.
                    if !reference.rules.iter().any(|(_, _, f)| Arc::ptr_eq(f, &flow)) {
                        reference.rules.push((k.masked(m), *m, flow));
                    }
                }
                Op::Remove(i) => {
                    if !reference.rules.is_empty() {
                        let (_, _, f) = reference.rules.remove(i % reference.rules.len());
                        prop_assert!(cache.remove(&f));
                        prop_assert!(!cache.remove(&f), "removing twice must fail");
                    }
                }
            }
            prop_assert_eq!(cache.len(), reference.rules.len());
        }
        cache.rerank();
        let reader = cache.reader();
        for key in &probes {
            let expect = reference.matching(key);
            match reader.lookup(key) {
                None => prop_assert!(expect.is_empty(), "missed {:?}; {} rules match", key, expect.len()),
                Some(f) => {
                    prop_assert!(expect.iter().any(|e| Arc::ptr_eq(e, f)), "returned a flow that does not match {:?}", key);
                    prop_assert!(f.matches(key));
                }
            }
        }
        // The batch lookup agrees with the single one.
        let mut out = vec![None; probes.len().min(32)];
        let todo = if out.len() == 32 { u32::MAX } else { (1u32 << out.len()) - 1 };
        let missed = reader.lookup_batch(&probes[..out.len()], todo, &mut out);
        for (i, key) in probes.iter().take(32).enumerate() {
            prop_assert_eq!(out[i].is_none(), reference.matching(key).is_empty());
            prop_assert_eq!(missed & (1 << i) != 0, out[i].is_none());
        }
        // Dumped flows carry their key and mask back.
        for f in cache.flows() {
            let r = reference.rules.iter().find(|(_, _, g)| Arc::ptr_eq(g, &f)).expect("dumped flow is live");
            prop_assert_eq!(f.key(), r.0);
            prop_assert_eq!(*f.mask(), r.1);
        }
    }

    /// Without overlapping rules (all rules share one mask), the answer is
    /// unique and must be exactly the scanned rule.
    #[test]
    fn unique_rule_is_found_exactly(
        keys in proptest::collection::vec(key_strategy(), 1..50),
        mask in mask_strategy(),
        probes in proptest::collection::vec(key_strategy(), 1..50),
    ) {
        let cache = MegaflowCache::new();
        let mut reference = Reference { rules: Vec::new() };
        for k in &keys {
            let flow = cache.insert(k, &mask, Arc::from(vec![Action::Drop])).expect("below the limit").flow;
            if !reference.rules.iter().any(|(_, _, f)| Arc::ptr_eq(f, &flow)) {
                reference.rules.push((k.masked(&mask), mask, flow));
            }
        }
        let reader = cache.reader();
        for key in &probes {
            let expect = reference.matching(key);
            prop_assert!(expect.len() <= 1);
            let got = reader.lookup(key);
            prop_assert_eq!(got.is_some(), expect.len() == 1);
            if let (Some(g), Some(e)) = (got, expect.first()) {
                prop_assert!(Arc::ptr_eq(g, e));
            }
        }
    }
}

#[test]
fn limit_refuses_installs_and_leaves_no_empty_subtable() {
    let cache = MegaflowCache::new();
    cache.set_limit(2);
    let mut m = FlowKey::ZERO;
    m.set_in_port(u32::MAX);
    for port in 0..2 {
        let mut k = FlowKey::ZERO;
        k.set_in_port(port);
        cache
            .insert(&k, &m, Arc::from(vec![Action::Drop]))
            .expect("below the limit");
    }
    let mut other_mask = FlowKey::ZERO;
    other_mask.set_tp_dst(u16::MAX);
    assert!(cache
        .insert(&FlowKey::ZERO, &other_mask, Arc::from(vec![Action::Drop]))
        .is_err());
    assert_eq!(
        cache.subtables().len(),
        1,
        "a refused install must not leave an empty subtable"
    );
    assert_eq!(cache.clear(), 2);
    assert!(cache.subtables().is_empty());
}

#[test]
fn rerank_puts_the_busiest_subtable_first() {
    let cache = MegaflowCache::new();
    let mut quiet = FlowKey::ZERO;
    quiet.set_in_port(u32::MAX);
    let mut busy = FlowKey::ZERO;
    busy.set_tp_dst(u16::MAX);
    let mut k = FlowKey::ZERO;
    k.set_in_port(7);
    cache
        .insert(&k, &quiet, Arc::from(vec![Action::Drop]))
        .expect("install");
    let mut k2 = FlowKey::ZERO;
    k2.set_tp_dst(80);
    cache
        .insert(&k2, &busy, Arc::from(vec![Action::Drop]))
        .expect("install");
    assert_eq!(cache.subtables()[0].0, quiet);
    {
        let r = cache.reader();
        for _ in 0..10 {
            assert!(r.lookup(&k2).is_some());
        }
    }
    cache.rerank();
    assert_eq!(cache.subtables()[0].0, busy);
}

/// Readers keep finding a stable set of flows while a writer churns other
/// flows in and out (installs, removals, subtable creation and deletion).
/// Run under the normal test harness; a reader never blocks on the writer.
#[test]
fn readers_see_stable_flows_during_concurrent_churn() {
    let cache = Arc::new(MegaflowCache::new());
    let mut stable_mask = FlowKey::ZERO;
    stable_mask.set_in_port(u32::MAX);
    stable_mask.set_tp_dst(u16::MAX);
    let stable: Vec<FlowKey> = (0..64)
        .map(|i| {
            let mut k = FlowKey::ZERO;
            k.set_in_port(1);
            k.set_tp_dst(i);
            cache
                .insert(&k, &stable_mask, Arc::from(vec![Action::Output(i as u32)]))
                .expect("install");
            k
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let cache = cache.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) && round < 20_000 {
                let mut m = FlowKey::ZERO;
                m.set_nw_src(u32::MAX);
                m.set_nw_proto((round % 7) as u8 | 1);
                let mut k = FlowKey::ZERO;
                k.set_nw_src(round);
                if let Ok(i) = cache.insert(&k, &m, Arc::from(vec![Action::Drop])) {
                    if !round.is_multiple_of(3) {
                        cache.remove(&i.flow);
                    }
                }
                if round.is_multiple_of(500) {
                    cache.rerank();
                }
                round += 1;
            }
            round
        })
    };
    let mut lookups = 0u64;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !writer.is_finished() && std::time::Instant::now() < deadline {
        let r = cache.reader();
        for (i, k) in stable.iter().enumerate() {
            let f = r.lookup(k).expect("stable flow must always be found");
            assert_eq!(&*f.actions, &[Action::Output(i as u32)]);
            lookups += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().expect("writer thread");
    assert!(rounds > 0 && lookups > 0);
    assert_eq!(KEY_WORDS, FlowKey::ZERO.words.len());
}
