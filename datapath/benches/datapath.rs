//! Micro-benchmarks of the per-packet pieces: key extraction, the EMC, the
//! megaflow classifier at 1k and 100k flows over 1 and 8 masks, installs.
//! The whole-datapath figures come from `oxvs-bench replay`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use oxvs_datapath::emc::ExactMatchCache;
use oxvs_datapath::extract::extract;
use oxvs_datapath::flow_key::FlowKey;
use oxvs_datapath::megaflow::MegaflowCache;
use oxvs_datapath::{Action, PacketMeta};

fn udp_frame(i: u32) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    b[14] = 0x45;
    b[16..18].copy_from_slice(&50u16.to_be_bytes());
    b[22] = 64;
    b[23] = 17;
    b[26..30].copy_from_slice(&(0x0a01_0000 | i).to_be_bytes());
    b[30..34].copy_from_slice(&(0x0a02_0000 | i >> 4).to_be_bytes());
    b[34..36].copy_from_slice(&(1024 + (i % 50_000) as u16).to_be_bytes());
    b[36..38].copy_from_slice(&53u16.to_be_bytes());
    b[38..40].copy_from_slice(&30u16.to_be_bytes());
    b
}

fn key(i: u32) -> FlowKey {
    extract(
        &udp_frame(i),
        &PacketMeta {
            in_port: 1,
            ..PacketMeta::default()
        },
    )
    .0
}

/// Mask j of `masks`: 5-tuple fields with nw_dst cut to 32-j bits.
fn mask(j: u32) -> FlowKey {
    let mut m = FlowKey::ZERO;
    m.set_in_port(u32::MAX);
    m.set_eth_type(u16::MAX);
    m.set_nw_proto(u8::MAX);
    m.set_tp_src(u16::MAX);
    m.set_nw_dst(u32::MAX << j);
    m
}

fn cache_with(flows: u32, masks: u32) -> (MegaflowCache, Vec<FlowKey>) {
    let cache = MegaflowCache::new();
    cache.set_limit(usize::MAX);
    let actions: Arc<[Action]> = Arc::from(vec![Action::Output(2)]);
    let keys: Vec<FlowKey> = (0..flows).map(key).collect();
    for k in &keys {
        let _ = cache.insert(k, &mask(k.tp_src() as u32 % masks), actions.clone());
    }
    (cache, keys)
}

fn bench(c: &mut Criterion) {
    let frame = udp_frame(7);
    let meta = PacketMeta {
        in_port: 1,
        ..PacketMeta::default()
    };
    c.bench_function("extract_udp_64", |b| {
        b.iter(|| extract(black_box(&frame), black_box(&meta)))
    });

    let k = key(7);
    c.bench_function("key_hash", |b| b.iter(|| black_box(&k).hash()));

    let (cache, keys) = cache_with(1, 1);
    let mut emc = ExactMatchCache::new(8192, 1);
    if let Some(f) = cache.reader().lookup(&keys[0]) {
        emc.offer(&keys[0], keys[0].hash(), f);
    }
    c.bench_function("emc_hit", |b| {
        b.iter(|| {
            let k = black_box(&keys[0]);
            emc.lookup(k, k.hash()).is_some()
        })
    });

    for (flows, masks) in [(1_000, 1), (1_000, 8), (100_000, 1), (100_000, 8)] {
        let (cache, keys) = cache_with(flows, masks);
        let name = format!("megaflow_lookup_{}k_{}masks_batch32", flows / 1000, masks);
        let mut i = 0usize;
        c.bench_function(&name, |b| {
            b.iter(|| {
                let r = cache.reader();
                let start = i % (keys.len() - 32).max(1);
                i = i.wrapping_add(32);
                let batch = &keys[start..start + 32.min(keys.len())];
                let mut out = [None; 32];
                black_box(r.lookup_batch(batch, u32::MAX >> (32 - batch.len()), &mut out))
            })
        });
    }

    let actions: Arc<[Action]> = Arc::from(vec![Action::Output(2)]);
    let keys: Vec<FlowKey> = (0..100_000).map(key).collect();
    c.bench_function("megaflow_install_100k", |b| {
        b.iter_batched(
            MegaflowCache::new,
            |cache| {
                for k in &keys {
                    let _ = cache.insert(k, &mask(0), actions.clone());
                }
                cache
            },
            BatchSize::PerIteration,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).noise_threshold(0.05);
    targets = bench
}
criterion_main!(benches);
