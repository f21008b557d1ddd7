//! OpenFlow classifier lookups with 100k rules (the figure the OpenFlow
//! issue asks for), over 1 and 8 masks, plus the cost of adding 100k rules.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use oxvs_ofproto::classifier::Classifier;
use oxvs_ofproto::flow::{put, FlowWords, FLOW_WORDS};
use oxvs_ofproto::ofp::field::Field;

fn flow(i: u32) -> FlowWords {
    let mut f = [0u64; FLOW_WORDS];
    let _ = put(&mut f, Field::InPort, 1);
    let _ = put(&mut f, Field::EthType, 0x0800);
    let _ = put(&mut f, Field::IpProto, 6);
    let _ = put(&mut f, Field::Ipv4Src, 0x0a00_0000 | i as u128);
    let _ = put(
        &mut f,
        Field::Ipv4Dst,
        0x0b00_0000 | (i as u128 * 7919) & 0xff_ffff,
    );
    let _ = put(&mut f, Field::TcpDst, (i % 50_000) as u128);
    f
}

/// Mask j: in_port, eth_type, ip_proto, ip_src, and ip_dst cut to 32-j bits.
fn mask(j: u32) -> FlowWords {
    let mut m = [0u64; FLOW_WORDS];
    for f in [
        Field::InPort,
        Field::EthType,
        Field::IpProto,
        Field::Ipv4Src,
    ] {
        let _ = put(&mut m, f, u128::MAX);
    }
    let _ = put(&mut m, Field::Ipv4Dst, (u32::MAX << j) as u128);
    m
}

fn build(n: u32, masks: u32) -> Classifier<u32, FLOW_WORDS> {
    let mut c = Classifier::new();
    for i in 0..n {
        c.insert(1000 + i % masks, &flow(i), &mask(i % masks), i);
    }
    c
}

fn bench(c: &mut Criterion) {
    for masks in [1, 8] {
        let cls = build(100_000, masks);
        let flows: Vec<FlowWords> = (0..1024).map(|i| flow(i * 97 % 100_000)).collect();
        let mut i = 0;
        c.bench_function(&format!("of_lookup_100k_rules_{masks}masks"), |b| {
            b.iter(|| {
                let mut wc = [0u64; FLOW_WORDS];
                i = (i + 1) % flows.len();
                black_box(cls.lookup(&flows[i], &mut wc).map(|r| r.value))
            })
        });
    }
    c.bench_function("of_insert_100k_rules", |b| {
        b.iter_batched(|| (), |_| build(100_000, 1), BatchSize::PerIteration)
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).noise_threshold(0.05);
    targets = bench
}
criterion_main!(benches);
