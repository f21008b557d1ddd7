//! Flow-key extraction on arbitrary bytes with arbitrary metadata: must not
//! panic, must be deterministic, must agree across its entry points and
//! must copy the metadata into the key whatever the frame holds.

#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use oxvs_datapath::extract::{extract, extract_into, extract_packet, Outcome};
use oxvs_datapath::flow_key::FlowKey;
use oxvs_datapath::packet::{Packet, PacketMeta, TunnelMeta};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    in_port: u32,
    recirc_id: u32,
    dp_hash: u32,
    skb_mark: u32,
    ct_state: u16,
    ct_zone: u16,
    ct_mark: u32,
    ct_label: u128,
    tun_id: u64,
    tun_src: u32,
    tun_dst: u32,
    tun_tp_src: u16,
    tun_tp_dst: u16,
    tun_tos: u8,
    tun_ttl: u8,
    tun_flags: u16,
    /// Where to cut the frame for a second, truncated extraction.
    cut: u16,
    frame: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let meta = PacketMeta {
        in_port: input.in_port,
        recirc_id: input.recirc_id,
        dp_hash: input.dp_hash,
        skb_mark: input.skb_mark,
        ct_state: input.ct_state,
        ct_zone: input.ct_zone,
        ct_mark: input.ct_mark,
        ct_label: input.ct_label,
        tunnel: TunnelMeta {
            tun_id: input.tun_id,
            ipv4_src: input.tun_src,
            ipv4_dst: input.tun_dst,
            tp_src: input.tun_tp_src,
            tp_dst: input.tun_tp_dst,
            tos: input.tun_tos,
            ttl: input.tun_ttl,
            flags: input.tun_flags,
        },
        gso: Default::default(),
    };
    let frame = input.frame;

    let (k1, o1) = extract(frame, &meta);
    let (k2, o2) = extract(frame, &meta);
    assert_eq!(k1, k2, "extract is not deterministic");
    assert_eq!(o1, o2, "extract outcome is not deterministic");

    let mut k3 = FlowKey::ZERO;
    assert_eq!(extract_into(frame, &meta, &mut k3), o1);
    assert_eq!(k3, k1);

    let mut p = Packet::from_slice(frame);
    p.meta = meta;
    assert_eq!(extract_packet(&p), (k1, o1));

    // Metadata lands in the key whatever the frame is.
    assert_eq!(k1.in_port(), meta.in_port);
    assert_eq!(k1.recirc_id(), meta.recirc_id);
    assert_eq!(k1.dp_hash(), meta.dp_hash);
    assert_eq!(k1.skb_mark(), meta.skb_mark);
    assert_eq!(k1.ct_state(), meta.ct_state);
    assert_eq!(k1.ct_zone(), meta.ct_zone);
    assert_eq!(k1.ct_mark(), meta.ct_mark);
    assert_eq!(k1.ct_label(), meta.ct_label);

    // ...and the frame only lands in frame fields (words 8 and up).
    let (k0, o0) = extract(frame, &PacketMeta::default());
    assert_eq!(o0, o1);
    assert!(k0.words[..8].iter().all(|w| *w == 0));
    assert_eq!(k0.words[8..], k1.words[8..]);

    if frame.len() < 14 {
        assert_eq!(o1, Outcome::ShortEthernet);
    }

    // A truncated copy is fine too.
    let n = input.cut as usize % (frame.len() + 1);
    let (t1, u1) = extract(&frame[..n], &meta);
    assert_eq!(extract(&frame[..n], &meta), (t1, u1));
});
