//! Flow-key extraction tests: every header the extractor knows, checked field
//! by field (every field not listed must be zero), truncation of valid frames
//! at every length, malformed headers, random input, and a cross-check
//! against etherparse's packet builder.
//!
//! Length conventions under test (see the `extract` module comment): the IP
//! length fields are used to drop Ethernet padding and to report
//! `BadIpv4`/`BadIpv6` when they claim more than the frame holds, but as in
//! Open vSwitch's kernel `key_extract` a truncated frame keeps its L3 fields
//! and any L4 header that is wholly present.

use std::collections::BTreeMap;

use etherparse::{
    DoubleVlanHeader, EtherType, IpHeaders, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv6FlowLabel,
    Ipv6Header, PacketBuilder, SingleVlanHeader, TcpHeader, VlanHeader, VlanId, VlanPcp,
};
use oxvs_datapath::extract::{extract, extract_into, extract_packet, Outcome};
use oxvs_datapath::flow_key::{
    mac_from_bytes, FlowKey, ETH_TYPE_NONE, FIELDS, FRAG_ANY, FRAG_LATER, VLAN_PRESENT,
};
use oxvs_datapath::packet::{Packet, PacketMeta, TunnelMeta};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Frame construction by hand.

const DST: [u8; 6] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
const SRC: [u8; 6] = [0x0a, 0xbb, 0xcc, 0xdd, 0xee, 0xff];
const IP4_SRC: [u8; 4] = [192, 168, 1, 10];
const IP4_DST: [u8; 4] = [10, 0, 0, 1];
const IP6_SRC: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
];
const IP6_DST: [u8; 16] = [
    0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
];

fn mac(b: [u8; 6]) -> u64 {
    mac_from_bytes(&b)
}
fn ip4(b: [u8; 4]) -> u64 {
    u32::from_be_bytes(b) as u64
}
fn ip6(b: [u8; 16]) -> u128 {
    u128::from_be_bytes(b)
}

/// Ethernet II header (or 802.3 when `ty` < 0x600) followed by `rest`.
fn eth(ty: u16, rest: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&DST);
    f.extend_from_slice(&SRC);
    f.extend_from_slice(&ty.to_be_bytes());
    f.extend_from_slice(rest);
    f
}

/// A VLAN tag as it follows its TPID: TCI then the next ethertype.
fn tag(tci: u16, next: u16) -> Vec<u8> {
    let mut v = tci.to_be_bytes().to_vec();
    v.extend_from_slice(&next.to_be_bytes());
    v
}

fn checksum(b: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            (c[0] as u16) << 8
        };
        sum += w as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// IPv4 header with `options` (a multiple of 4 bytes) for `payload_len`
/// bytes of payload; `frag` is the whole flags/offset field.
fn ipv4(proto: u8, tos: u8, ttl: u8, frag: u16, options: &[u8], payload_len: usize) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload_len) as u16;
    let mut h = vec![(4 << 4) | ihl as u8, tos];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&0x1234u16.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.push(ttl);
    h.push(proto);
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&IP4_SRC);
    h.extend_from_slice(&IP4_DST);
    h.extend_from_slice(options);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// IPv4 header plus `l4`, with the total length covering exactly them.
fn ipv4_packet(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = ipv4(proto, 0, 64, 0, &[], l4.len());
    p.extend_from_slice(l4);
    p
}

fn ipv6(next: u8, tc: u8, label: u32, hlim: u8, payload_len: usize) -> Vec<u8> {
    let vtc = (6u32 << 28) | ((tc as u32) << 20) | (label & 0xfffff);
    let mut h = vtc.to_be_bytes().to_vec();
    h.extend_from_slice(&(payload_len as u16).to_be_bytes());
    h.push(next);
    h.push(hlim);
    h.extend_from_slice(&IP6_SRC);
    h.extend_from_slice(&IP6_DST);
    h
}

fn ipv6_packet(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = ipv6(next, 0, 0, 64, payload.len());
    p.extend_from_slice(payload);
    p
}

/// A generic IPv6 extension header (hop-by-hop, routing, destination
/// options) of `(units + 1) * 8` bytes.
fn ext(next: u8, units: u8) -> Vec<u8> {
    let mut h = vec![next, units];
    h.resize((units as usize + 1) * 8, 0);
    // Pad1/PadN option content is irrelevant to extraction; use PadN.
    h[2] = 1;
    h[3] = ((units as usize + 1) * 8 - 4) as u8;
    h
}

fn frag6(next: u8, offset: u16, more: bool) -> Vec<u8> {
    let mut h = vec![next, 0];
    h.extend_from_slice(&((offset << 3) | more as u16).to_be_bytes());
    h.extend_from_slice(&0xdead_beefu32.to_be_bytes());
    h
}

/// TCP header with data offset `doff` (options zero-filled up to it) and
/// the whole 16-bit offset/flags word given by `doff` and `flags12`.
fn tcp(sport: u16, dport: u16, flags12: u16) -> Vec<u8> {
    tcp_doff(sport, dport, flags12, 5, 20)
}

fn tcp_doff(sport: u16, dport: u16, flags12: u16, doff: u8, len: usize) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&1000u32.to_be_bytes());
    h.extend_from_slice(&2000u32.to_be_bytes());
    h.extend_from_slice(&(((doff as u16) << 12) | (flags12 & 0x0fff)).to_be_bytes());
    h.extend_from_slice(&65535u16.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0]);
    h.resize(len, 1); // NOP options
    h
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(payload);
    h
}

fn sctp(sport: u16, dport: u16) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&0x0102_0304u32.to_be_bytes()); // verification tag
    h.extend_from_slice(&0u32.to_be_bytes()); // checksum
                                              // One INIT chunk header.
    h.extend_from_slice(&[1, 0, 0, 4]);
    h
}

/// ICMP/ICMPv6 header (type, code, checksum, 4 bytes rest) plus `body`.
fn icmp(ty: u8, code: u8, body: &[u8]) -> Vec<u8> {
    let mut h = vec![ty, code, 0, 0, 0, 1, 0, 7];
    h.extend_from_slice(body);
    h
}

/// Neighbor solicitation (135) or advertisement (136) for `target`.
fn nd(ty: u8, target: [u8; 16], options: &[u8]) -> Vec<u8> {
    let mut h = vec![ty, 0, 0, 0];
    h.extend_from_slice(&(if ty == 136 { 0x6000_0000u32 } else { 0 }).to_be_bytes());
    h.extend_from_slice(&target);
    h.extend_from_slice(options);
    h
}

/// A link-layer address option: 1 = source, 2 = target.
fn lla(ty: u8, m: [u8; 6]) -> Vec<u8> {
    let mut o = vec![ty, 1];
    o.extend_from_slice(&m);
    o
}

fn arp(op: u16, sha: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut h = vec![0, 1, 0x08, 0x00, 6, 4];
    h.extend_from_slice(&op.to_be_bytes());
    h.extend_from_slice(&sha);
    h.extend_from_slice(&spa);
    h.extend_from_slice(&tha);
    h.extend_from_slice(&tpa);
    h
}

// ---------------------------------------------------------------------------
// Key checking.

type Expect = BTreeMap<&'static str, u128>;

/// Builds an expectation; the 128-bit fields (ipv6_src, ipv6_dst,
/// nd_target, ct_label) are given whole and split into their halves.
fn exp(fields: &[(&'static str, u128)]) -> Expect {
    let mut m = Expect::new();
    for &(name, v) in fields {
        add(&mut m, name, v);
    }
    m
}

fn add(m: &mut Expect, name: &'static str, v: u128) {
    let halves: Option<(&'static str, &'static str)> = match name {
        "ipv6_src" => Some(("ipv6_src_hi", "ipv6_src_lo")),
        "ipv6_dst" => Some(("ipv6_dst_hi", "ipv6_dst_lo")),
        "nd_target" => Some(("nd_target_hi", "nd_target_lo")),
        "ct_label" => Some(("ct_label_hi", "ct_label_lo")),
        _ => None,
    };
    match halves {
        Some((hi, lo)) => {
            m.insert(hi, v >> 64);
            m.insert(lo, v & u64::MAX as u128);
        }
        None => {
            assert!(FIELDS.iter().any(|f| f.name == name), "no field {name}");
            m.insert(name, v);
        }
    }
}

/// Checks every field of `key`: those in `want` have that value, every
/// other one is zero.
#[track_caller]
fn check_key(key: &FlowKey, want: &Expect, ctx: &str) {
    let mut errors = Vec::new();
    for f in FIELDS {
        let got = f.get(key) as u128;
        let w = want.get(f.name).copied().unwrap_or(0);
        if got != w {
            errors.push(format!("{}: got {:#x}, want {:#x}", f.name, got, w));
        }
    }
    assert!(
        errors.is_empty(),
        "{ctx}: key {key:?}\n  {}",
        errors.join("\n  ")
    );
}

#[track_caller]
fn check(frame: &[u8], want: &[(&'static str, u128)], outcome: Outcome) {
    check_meta(frame, &PacketMeta::default(), want, outcome);
}

#[track_caller]
fn check_meta(frame: &[u8], meta: &PacketMeta, want: &[(&'static str, u128)], outcome: Outcome) {
    let (key, got) = extract(frame, meta);
    check_key(&key, &exp(want), "extract");
    assert_eq!(got, outcome, "outcome for key {key:?}");
    // The other entry points agree.
    let mut k2 = FlowKey::ZERO;
    assert_eq!(extract_into(frame, meta, &mut k2), outcome);
    assert_eq!(k2, key);
    let mut p = Packet::from_slice(frame);
    p.meta = *meta;
    assert_eq!(extract_packet(&p), (key, outcome));
}

fn l2(ty: u16) -> Vec<(&'static str, u128)> {
    vec![
        ("eth_dst", mac(DST) as u128),
        ("eth_src", mac(SRC) as u128),
        ("eth_type", ty as u128),
    ]
}

fn with(
    mut base: Vec<(&'static str, u128)>,
    more: &[(&'static str, u128)],
) -> Vec<(&'static str, u128)> {
    base.extend_from_slice(more);
    base
}

/// L2 + IPv4 fields of frames built with `ipv4()` with tos 0 and ttl 64.
fn l3v4(proto: u8) -> Vec<(&'static str, u128)> {
    with(
        l2(0x0800),
        &[
            ("nw_src", ip4(IP4_SRC) as u128),
            ("nw_dst", ip4(IP4_DST) as u128),
            ("nw_proto", proto as u128),
            ("nw_ttl", 64),
        ],
    )
}

/// L2 + IPv6 fields of frames built with `ipv6_packet()` (tc 0, label 0,
/// hop limit 64), without nw_proto.
fn l3v6() -> Vec<(&'static str, u128)> {
    with(
        l2(0x86dd),
        &[
            ("ipv6_src", ip6(IP6_SRC)),
            ("ipv6_dst", ip6(IP6_DST)),
            ("nw_ttl", 64),
        ],
    )
}

// ---------------------------------------------------------------------------
// L2.

#[test]
fn ethernet_ii() {
    let f = eth(0x88b5, &[0xde, 0xad, 0xbe, 0xef]);
    check(&f, &l2(0x88b5), Outcome::Complete);
    // Exactly a header and nothing else.
    check(&eth(0x1234, &[]), &l2(0x1234), Outcome::Complete);
}

#[test]
fn short_ethernet_keeps_only_metadata() {
    let meta = PacketMeta {
        in_port: 7,
        ..Default::default()
    };
    for n in 0..14 {
        let f = &eth(0x0800, &[])[..n];
        check_meta(f, &meta, &[("in_port", 7)], Outcome::ShortEthernet);
    }
}

#[test]
fn ieee_802_3_without_snap() {
    // 802.3 length field + LLC (STP BPDU: DSAP/SSAP 0x42).
    let mut llc = vec![0x42, 0x42, 0x03];
    llc.resize(38, 0);
    let f = eth(llc.len() as u16, &llc);
    check(&f, &l2(ETH_TYPE_NONE), Outcome::Complete);
    // Every length value below 0x600 is a length, not an ethertype.
    for len in [0u16, 1, 46, 0x5dc, 0x5ff] {
        check(&eth(len, &llc), &l2(ETH_TYPE_NONE), Outcome::Complete);
    }
    // SNAP header cut short: no ethertype.
    check(
        &eth(8, &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08]),
        &l2(ETH_TYPE_NONE),
        Outcome::Complete,
    );
    // SNAP with a non-zero OUI, a control byte other than UI, or an
    // ethertype that is itself a length: no ethertype.
    for snap in [
        [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00],
        [0xaa, 0xaa, 0x13, 0x00, 0x00, 0x00, 0x08, 0x00],
        [0xaa, 0xab, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00],
        [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00, 0x05, 0xdc],
    ] {
        let mut p = snap.to_vec();
        p.extend_from_slice(&ipv4_packet(17, &udp(1, 2, &[])));
        check(
            &eth(p.len() as u16, &p),
            &l2(ETH_TYPE_NONE),
            Outcome::Complete,
        );
    }
}

#[test]
fn ieee_802_3_with_llc_snap() {
    let mut p = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    p.extend_from_slice(&ipv4_packet(17, &udp(1234, 53, b"hello")));
    let f = eth(p.len() as u16, &p);
    check(
        &f,
        &with(l3v4(17), &[("tp_src", 1234), ("tp_dst", 53)]),
        Outcome::Complete,
    );

    let mut p = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x06];
    p.extend_from_slice(&arp(1, SRC, IP4_SRC, [0; 6], IP4_DST));
    let f = eth(p.len() as u16, &p);
    check(
        &f,
        &with(
            l2(0x0806),
            &[
                ("nw_proto", 1),
                ("arp_sha", mac(SRC) as u128),
                ("nw_src", ip4(IP4_SRC) as u128),
                ("nw_dst", ip4(IP4_DST) as u128),
            ],
        ),
        Outcome::Complete,
    );
}

#[test]
fn vlan_single_tag() {
    // PCP 5, DEI 0, VID 100.
    let mut p = tag(0xa064, 0x0800);
    p.extend_from_slice(&ipv4_packet(17, &udp(68, 67, &[0; 10])));
    let f = eth(0x8100, &p);
    let want = with(
        l3v4(17),
        &[
            ("vlan_tpid", 0x8100),
            ("vlan_tci", 0xa064 | VLAN_PRESENT as u128),
            ("tp_src", 68),
            ("tp_dst", 67),
        ],
    );
    check(&f, &want, Outcome::Complete);

    // VID 0 (priority tag) still marks a tag present; a DEI/CFI bit already
    // set stays set.
    let f = eth(0x8100, &tag(0x0000, 0x88b5));
    check(
        &f,
        &with(
            l2(0x88b5),
            &[("vlan_tpid", 0x8100), ("vlan_tci", VLAN_PRESENT as u128)],
        ),
        Outcome::Complete,
    );
    let f = eth(0x8100, &tag(0x1fff, 0x88b5));
    check(
        &f,
        &with(l2(0x88b5), &[("vlan_tpid", 0x8100), ("vlan_tci", 0x1fff)]),
        Outcome::Complete,
    );

    // A single 802.1ad tag is the outer tag.
    let f = eth(0x88a8, &tag(0x0007, 0x88b5));
    check(
        &f,
        &with(l2(0x88b5), &[("vlan_tpid", 0x88a8), ("vlan_tci", 0x1007)]),
        Outcome::Complete,
    );
}

#[test]
fn vlan_double_tag() {
    let mut p = tag(0x2005, 0x8100);
    p.extend_from_slice(&tag(0xe00a, 0x86dd));
    p.extend_from_slice(&ipv6_packet(17, &udp(5000, 6000, &[1, 2, 3])));
    let f = eth(0x88a8, &p);
    let want = with(
        l3v6(),
        &[
            ("vlan_tpid", 0x88a8),
            ("vlan_tci", 0x3005),
            ("cvlan_tpid", 0x8100),
            ("cvlan_tci", 0xf00a),
            ("nw_proto", 17),
            ("tp_src", 5000),
            ("tp_dst", 6000),
        ],
    );
    check(&f, &want, Outcome::Complete);

    // 802.1Q in 802.1Q works too.
    let mut p = tag(0x0001, 0x8100);
    p.extend_from_slice(&tag(0x0002, 0x88b5));
    let f = eth(0x8100, &p);
    let want = with(
        l2(0x88b5),
        &[
            ("vlan_tpid", 0x8100),
            ("vlan_tci", 0x1001),
            ("cvlan_tpid", 0x8100),
            ("cvlan_tci", 0x1002),
        ],
    );
    check(&f, &want, Outcome::Complete);

    // A third tag is not parsed: its TPID is the ethertype (two-tag limit).
    let mut p = tag(0x0001, 0x8100);
    p.extend_from_slice(&tag(0x0002, 0x8100));
    p.extend_from_slice(&tag(0x0003, 0x0800));
    p.extend_from_slice(&ipv4_packet(17, &udp(1, 2, &[])));
    let f = eth(0x88a8, &p);
    let want = with(
        l2(0x8100),
        &[
            ("vlan_tpid", 0x88a8),
            ("vlan_tci", 0x1001),
            ("cvlan_tpid", 0x8100),
            ("cvlan_tci", 0x1002),
        ],
    );
    check(&f, &want, Outcome::Complete);
}

#[test]
fn vlan_truncated_tag_leaves_tpid_as_ethertype() {
    // As Open vSwitch: a tag without room for TCI + next ethertype is not
    // parsed and its TPID is the frame's ethertype.
    let mut p = tag(0x2005, 0x8100);
    p.extend_from_slice(&tag(0xe00a, 0x0800));
    let f = eth(0x88a8, &p);
    for n in 14..18 {
        check(&f[..n], &l2(0x88a8), Outcome::BadVlan);
    }
    for n in 18..22 {
        check(
            &f[..n],
            &with(l2(0x8100), &[("vlan_tpid", 0x88a8), ("vlan_tci", 0x3005)]),
            Outcome::BadVlan,
        );
    }
}

// ---------------------------------------------------------------------------
// ARP.

#[test]
fn arp_request_and_reply() {
    let sha = [0x00, 0x16, 0x3e, 0x01, 0x02, 0x03];
    let tha = [0x00, 0x16, 0x3e, 0x0a, 0x0b, 0x0c];
    let req = eth(0x0806, &arp(1, sha, [10, 1, 2, 3], [0; 6], [10, 1, 2, 254]));
    check(
        &req,
        &with(
            l2(0x0806),
            &[
                ("nw_proto", 1),
                ("arp_sha", mac(sha) as u128),
                ("nw_src", 0x0a01_0203),
                ("nw_dst", 0x0a01_02fe),
            ],
        ),
        Outcome::Complete,
    );
    let rep = eth(0x0806, &arp(2, tha, [10, 1, 2, 254], sha, [10, 1, 2, 3]));
    check(
        &rep,
        &with(
            l2(0x0806),
            &[
                ("nw_proto", 2),
                ("arp_sha", mac(tha) as u128),
                ("arp_tha", mac(sha) as u128),
                ("nw_src", 0x0a01_02fe),
                ("nw_dst", 0x0a01_0203),
            ],
        ),
        Outcome::Complete,
    );
    // With Ethernet padding to 60 bytes.
    let mut padded = rep.clone();
    padded.resize(60, 0xee);
    assert_eq!(
        extract(&padded, &PacketMeta::default()),
        extract(&rep, &PacketMeta::default())
    );

    // RARP is parsed the same way.
    let f = eth(0x8035, &arp(3, sha, [0; 4], sha, [0; 4]));
    check(
        &f,
        &with(
            l2(0x8035),
            &[
                ("nw_proto", 3),
                ("arp_sha", mac(sha) as u128),
                ("arp_tha", mac(sha) as u128),
            ],
        ),
        Outcome::Complete,
    );

    // An opcode that does not fit nw_proto leaves it zero, the rest kept.
    let f = eth(0x0806, &arp(0x0101, sha, [1, 2, 3, 4], tha, [5, 6, 7, 8]));
    check(
        &f,
        &with(
            l2(0x0806),
            &[
                ("arp_sha", mac(sha) as u128),
                ("arp_tha", mac(tha) as u128),
                ("nw_src", 0x0102_0304),
                ("nw_dst", 0x0506_0708),
            ],
        ),
        Outcome::Complete,
    );
}

#[test]
fn arp_malformed() {
    let good = arp(1, SRC, IP4_SRC, [0; 6], IP4_DST);
    // Wrong hardware type, protocol type, hardware and protocol lengths.
    for (at, v) in [(1usize, 6u8), (0, 1), (2, 0x86), (4, 8), (5, 16)] {
        let mut a = good.clone();
        a[at] = v;
        check(&eth(0x0806, &a), &l2(0x0806), Outcome::BadArp);
    }
    // Short.
    for n in 0..28 {
        check(&eth(0x0806, &good[..n]), &l2(0x0806), Outcome::BadArp);
    }
}

// ---------------------------------------------------------------------------
// IPv4.

#[test]
fn ipv4_tcp_udp_sctp() {
    let f = eth(0x0800, &ipv4_packet(6, &tcp(40000, 443, 0x018)));
    check(
        &f,
        &with(
            l3v4(6),
            &[("tp_src", 40000), ("tp_dst", 443), ("tcp_flags", 0x018)],
        ),
        Outcome::Complete,
    );

    let f = eth(0x0800, &ipv4_packet(17, &udp(53, 33333, b"response")));
    check(
        &f,
        &with(l3v4(17), &[("tp_src", 53), ("tp_dst", 33333)]),
        Outcome::Complete,
    );

    let f = eth(0x0800, &ipv4_packet(132, &sctp(2905, 2906)));
    check(
        &f,
        &with(l3v4(132), &[("tp_src", 2905), ("tp_dst", 2906)]),
        Outcome::Complete,
    );

    // Unknown protocols: L3 only.
    let f = eth(0x0800, &ipv4_packet(47, &[0; 24]));
    check(&f, &l3v4(47), Outcome::Complete);

    // ICMPv6 in IPv4 is not ICMP.
    let f = eth(0x0800, &ipv4_packet(58, &icmp(128, 0, &[])));
    check(&f, &l3v4(58), Outcome::Complete);
}

#[test]
fn ipv4_tos_and_ttl() {
    let mut p = ipv4(17, 0xb9, 3, 0, &[], 8);
    p.extend_from_slice(&udp(1, 2, &[]));
    let f = eth(0x0800, &p);
    let want = with(
        l2(0x0800),
        &[
            ("nw_src", ip4(IP4_SRC) as u128),
            ("nw_dst", ip4(IP4_DST) as u128),
            ("nw_proto", 17),
            ("nw_tos", 0xb9),
            ("nw_ttl", 3),
            ("tp_src", 1),
            ("tp_dst", 2),
        ],
    );
    check(&f, &want, Outcome::Complete);
}

#[test]
fn ipv4_with_options() {
    // IHL 8: record-route option (11 bytes) + NOP padding.
    let opts = [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let l4 = tcp(1111, 22, 0x002);
    let mut p = ipv4(6, 0x10, 64, 0, &opts, l4.len());
    assert_eq!(p[0], 0x48);
    p.extend_from_slice(&l4);
    let f = eth(0x0800, &p);
    check(
        &f,
        &with(
            l3v4(6),
            &[
                ("nw_tos", 0x10),
                ("tp_src", 1111),
                ("tp_dst", 22),
                ("tcp_flags", 0x002),
            ],
        ),
        Outcome::Complete,
    );

    // Maximum IHL (15: 40 bytes of options).
    let l4 = udp(7, 9, &[]);
    let mut p = ipv4(17, 0, 64, 0, &[1; 40], l4.len());
    assert_eq!(p[0], 0x4f);
    p.extend_from_slice(&l4);
    check(
        &eth(0x0800, &p),
        &with(l3v4(17), &[("tp_src", 7), ("tp_dst", 9)]),
        Outcome::Complete,
    );
}

#[test]
fn ipv4_fragments() {
    let l4 = udp(4789, 4789, &[0; 32]);
    // First fragment: MF set, offset 0: L4 parsed.
    let mut p = ipv4(17, 0, 64, 0x2000, &[], l4.len());
    p.extend_from_slice(&l4);
    let f = eth(0x0800, &p);
    check(
        &f,
        &with(
            l3v4(17),
            &[
                ("nw_frag", FRAG_ANY as u128),
                ("tp_src", 4789),
                ("tp_dst", 4789),
            ],
        ),
        Outcome::Complete,
    );

    // Middle and last fragments: offset set (MF set or not): no L4, even
    // though the payload looks like a UDP header.
    for frag in [0x2000 | 185, 185, 0x1fff, 0x4000 | 1] {
        let mut p = ipv4(17, 0, 64, frag, &[], l4.len());
        p.extend_from_slice(&l4);
        let f = eth(0x0800, &p);
        check(
            &f,
            &with(l3v4(17), &[("nw_frag", (FRAG_ANY | FRAG_LATER) as u128)]),
            Outcome::Complete,
        );
    }

    // DF alone is not a fragment.
    let mut p = ipv4(17, 0, 64, 0x4000, &[], l4.len());
    p.extend_from_slice(&l4);
    check(
        &eth(0x0800, &p),
        &with(l3v4(17), &[("tp_src", 4789), ("tp_dst", 4789)]),
        Outcome::Complete,
    );
}

#[test]
fn ipv4_ethernet_padding_is_not_l4() {
    // A minimum-size frame: UDP with 2 bytes of payload padded to 60.
    let mut f = eth(0x0800, &ipv4_packet(17, &udp(9, 10, &[1, 2])));
    assert_eq!(f.len(), 44);
    f.resize(60, 0xa5);
    check(
        &f,
        &with(l3v4(17), &[("tp_src", 9), ("tp_dst", 10)]),
        Outcome::Complete,
    );

    // A datagram whose total length ends 4 bytes into a TCP header, padded
    // with what would be the rest of a TCP header: the padding is not read
    // as L4 (the L4 header is short).
    let t = tcp(80, 8080, 0x012);
    let mut p = ipv4(6, 0, 64, 0, &[], 4);
    p.extend_from_slice(&t);
    let f = eth(0x0800, &p);
    check(&f, &l3v4(6), Outcome::BadL4);

    // ICMP echo in a datagram with 18 bytes of trailing padding.
    let mut f = eth(0x0800, &ipv4_packet(1, &icmp(8, 0, &[])));
    f.resize(60, 0);
    check(&f, &with(l3v4(1), &[("tp_src", 8)]), Outcome::Complete);
}

#[test]
fn icmpv4() {
    let f = eth(0x0800, &ipv4_packet(1, &icmp(8, 0, b"ping")));
    check(&f, &with(l3v4(1), &[("tp_src", 8)]), Outcome::Complete);
    let f = eth(0x0800, &ipv4_packet(1, &icmp(0, 0, b"pong")));
    check(&f, &l3v4(1), Outcome::Complete);
    // Destination unreachable, fragmentation needed: type 3 code 4.
    let inner = ipv4_packet(17, &udp(1, 2, &[]));
    let f = eth(0x0800, &ipv4_packet(1, &icmp(3, 4, &inner[..28])));
    check(
        &f,
        &with(l3v4(1), &[("tp_src", 3), ("tp_dst", 4)]),
        Outcome::Complete,
    );
    // The ICMP header is 8 bytes: fewer leave type and code zero.
    let f = eth(0x0800, &ipv4_packet(1, &icmp(3, 4, &[])[..7]));
    check(&f, &l3v4(1), Outcome::BadL4);
}

#[test]
fn tcp_flags_are_low_12_bits() {
    for (word, flags) in [
        (0x5002u16, 0x002u16),
        (0x5012, 0x012),
        (0x50ff, 0x0ff),
        (0x51ff, 0x1ff),
        (0x5fff, 0xfff),
        (0x5e00, 0xe00),
    ] {
        let mut t = tcp(1, 2, 0);
        t[12..14].copy_from_slice(&word.to_be_bytes());
        let f = eth(0x0800, &ipv4_packet(6, &t));
        check(
            &f,
            &with(
                l3v4(6),
                &[("tp_src", 1), ("tp_dst", 2), ("tcp_flags", flags as u128)],
            ),
            Outcome::Complete,
        );
    }
    // With TCP options (data offset 8).
    let t = tcp_doff(1, 2, 0x010, 8, 32);
    let f = eth(0x0800, &ipv4_packet(6, &t));
    check(
        &f,
        &with(
            l3v4(6),
            &[("tp_src", 1), ("tp_dst", 2), ("tcp_flags", 0x010)],
        ),
        Outcome::Complete,
    );
}

#[test]
fn ipv4_malformed() {
    let l4 = udp(1, 2, &[0; 12]);
    let good = {
        let mut p = ipv4(17, 0, 64, 0, &[], l4.len());
        p.extend_from_slice(&l4);
        p
    };
    // IHL < 5: no L3 at all.
    for ihl in 0..5u8 {
        let mut p = good.clone();
        p[0] = 0x40 | ihl;
        check(&eth(0x0800, &p), &l2(0x0800), Outcome::BadIpv4);
    }
    // IHL past the end of the frame.
    let mut p = good[..24].to_vec();
    p[0] = 0x47;
    check(&eth(0x0800, &p), &l2(0x0800), Outcome::BadIpv4);
    // Shorter than 20 bytes.
    for n in 0..20 {
        check(&eth(0x0800, &good[..n]), &l2(0x0800), Outcome::BadIpv4);
    }
    // Total length below the header length: L3 kept, no L4.
    for total in [0u16, 1, 19] {
        let mut p = good.clone();
        p[2..4].copy_from_slice(&total.to_be_bytes());
        check(&eth(0x0800, &p), &l3v4(17), Outcome::BadIpv4);
    }
    // Total length past the frame: L3 kept, and the L4 header, which is
    // wholly present, too; the length lie is reported.
    let mut p = good.clone();
    p[2..4].copy_from_slice(&1500u16.to_be_bytes());
    check(
        &eth(0x0800, &p),
        &with(l3v4(17), &[("tp_src", 1), ("tp_dst", 2)]),
        Outcome::BadIpv4,
    );
    // Version is not checked (as Open vSwitch).
    let mut p = good.clone();
    p[0] = 0x65;
    check(
        &eth(0x0800, &p),
        &with(l3v4(17), &[("tp_src", 1), ("tp_dst", 2)]),
        Outcome::Complete,
    );
}

#[test]
fn tcp_malformed() {
    // Data offset < 5.
    for doff in 0..5u8 {
        let t = tcp_doff(1, 2, 0x002, doff, 20);
        check(&eth(0x0800, &ipv4_packet(6, &t)), &l3v4(6), Outcome::BadL4);
    }
    // Data offset past the end of the segment.
    let t = tcp_doff(1, 2, 0x002, 6, 20);
    check(&eth(0x0800, &ipv4_packet(6, &t)), &l3v4(6), Outcome::BadL4);
    let t = tcp_doff(1, 2, 0x002, 15, 56);
    check(&eth(0x0800, &ipv4_packet(6, &t)), &l3v4(6), Outcome::BadL4);
    // Short UDP and SCTP.
    check(
        &eth(0x0800, &ipv4_packet(17, &udp(1, 2, &[])[..7])),
        &l3v4(17),
        Outcome::BadL4,
    );
    check(
        &eth(0x0800, &ipv4_packet(132, &sctp(1, 2)[..11])),
        &l3v4(132),
        Outcome::BadL4,
    );
}

// ---------------------------------------------------------------------------
// IPv6.

#[test]
fn ipv6_header_fields() {
    let l4 = udp(546, 547, &[0; 4]);
    let mut p = ipv6(17, 0xa5, 0xfedcb, 255, l4.len());
    p.extend_from_slice(&l4);
    let f = eth(0x86dd, &p);
    let want = with(
        l2(0x86dd),
        &[
            ("ipv6_src", ip6(IP6_SRC)),
            ("ipv6_dst", ip6(IP6_DST)),
            ("nw_tos", 0xa5),
            ("ipv6_label", 0xfedcb),
            ("nw_ttl", 255),
            ("nw_proto", 17),
            ("tp_src", 546),
            ("tp_dst", 547),
        ],
    );
    check(&f, &want, Outcome::Complete);
    // No next header (59): nothing after L3.
    check(
        &eth(0x86dd, &ipv6_packet(59, &[])),
        &with(l3v6(), &[("nw_proto", 59)]),
        Outcome::Complete,
    );
    // Too short for the IPv6 header: no L3 at all.
    for n in 0..40 {
        check(&eth(0x86dd, &p[..n]), &l2(0x86dd), Outcome::BadIpv6);
    }
}

#[test]
fn ipv6_extension_headers_before_tcp() {
    let mut pl = ext(43, 0); // hop-by-hop, 8 bytes
    let mut rt = ext(60, 2); // routing, 24 bytes
    rt[2] = 0; // routing type 0, segments left 0 (fields, not options)
    pl.extend_from_slice(&rt);
    pl.extend_from_slice(&ext(6, 1)); // destination options, 16 bytes
    pl.extend_from_slice(&tcp_doff(50000, 179, 0x011, 6, 24));
    let f = eth(0x86dd, &ipv6_packet(0, &pl));
    check(
        &f,
        &with(
            l3v6(),
            &[
                ("nw_proto", 6),
                ("tp_src", 50000),
                ("tp_dst", 179),
                ("tcp_flags", 0x011),
            ],
        ),
        Outcome::Complete,
    );

    // Authentication header (length in 4-byte units minus 2: 24 bytes).
    let mut ah = vec![17, 4, 0, 0];
    ah.resize(24, 0x77);
    ah.extend_from_slice(&udp(500, 4500, &[]));
    let f = eth(0x86dd, &ipv6_packet(51, &ah));
    check(
        &f,
        &with(
            l3v6(),
            &[("nw_proto", 17), ("tp_src", 500), ("tp_dst", 4500)],
        ),
        Outcome::Complete,
    );

    // ESP ends the chain (its header is not parsed).
    let f = eth(0x86dd, &ipv6_packet(50, &[0; 16]));
    check(&f, &with(l3v6(), &[("nw_proto", 50)]), Outcome::Complete);
}

#[test]
fn ipv6_fragments() {
    let l4 = udp(1000, 2000, &[0; 8]);
    // First fragment: offset 0, M set: L4 parsed.
    let mut pl = frag6(17, 0, true);
    pl.extend_from_slice(&l4);
    let f = eth(0x86dd, &ipv6_packet(44, &pl));
    check(
        &f,
        &with(
            l3v6(),
            &[
                ("nw_proto", 17),
                ("nw_frag", FRAG_ANY as u128),
                ("tp_src", 1000),
                ("tp_dst", 2000),
            ],
        ),
        Outcome::Complete,
    );
    // After a hop-by-hop header.
    let mut pl = ext(44, 0);
    pl.extend_from_slice(&frag6(17, 0, true));
    pl.extend_from_slice(&l4);
    let f = eth(0x86dd, &ipv6_packet(0, &pl));
    check(
        &f,
        &with(
            l3v6(),
            &[
                ("nw_proto", 17),
                ("nw_frag", FRAG_ANY as u128),
                ("tp_src", 1000),
                ("tp_dst", 2000),
            ],
        ),
        Outcome::Complete,
    );
    // Later fragments: no L4, and nw_proto is 44 (IPPROTO_FRAGMENT), as in
    // Open vSwitch's kernel and userspace datapaths.
    for more in [true, false] {
        let mut pl = frag6(17, 100, more);
        pl.extend_from_slice(&l4);
        let f = eth(0x86dd, &ipv6_packet(44, &pl));
        check(
            &f,
            &with(
                l3v6(),
                &[
                    ("nw_proto", 44),
                    ("nw_frag", (FRAG_ANY | FRAG_LATER) as u128),
                ],
            ),
            Outcome::Complete,
        );
    }
}

#[test]
fn ipv6_malformed_extension_headers() {
    // Hop-by-hop claiming 88 bytes, followed by TCP, in a 28-byte payload:
    // nw_proto names TCP (as the kernel's ipv6_find_hdr), L4 zero.
    let mut pl = ext(6, 0);
    pl[1] = 10;
    pl.extend_from_slice(&tcp(1, 2, 0x002));
    let f = eth(0x86dd, &ipv6_packet(0, &pl));
    check(&f, &with(l3v6(), &[("nw_proto", 6)]), Outcome::BadIpv6);

    // Same, but followed by another extension header that cannot be read:
    // nw_proto is IPPROTO_NONE (59).
    let mut pl = ext(60, 0);
    pl[1] = 10;
    pl.extend_from_slice(&ext(6, 0));
    pl.extend_from_slice(&tcp(1, 2, 0x002));
    let f = eth(0x86dd, &ipv6_packet(0, &pl));
    check(&f, &with(l3v6(), &[("nw_proto", 59)]), Outcome::BadIpv6);

    // Extension header itself shorter than 8 bytes.
    let f = eth(0x86dd, &ipv6_packet(60, &[6, 0, 1, 2]));
    check(&f, &with(l3v6(), &[("nw_proto", 59)]), Outcome::BadIpv6);
    let f = eth(0x86dd, &ipv6_packet(44, &frag6(6, 0, true)[..7]));
    check(&f, &with(l3v6(), &[("nw_proto", 59)]), Outcome::BadIpv6);

    // AH whose length runs past the end.
    let mut ah = vec![17, 40, 0, 0, 0, 0, 0, 0];
    ah.extend_from_slice(&udp(1, 2, &[]));
    let f = eth(0x86dd, &ipv6_packet(51, &ah));
    check(&f, &with(l3v6(), &[("nw_proto", 17)]), Outcome::BadIpv6);

    // Payload length below what the chain needs: the extension header is
    // cut by the payload length even though the frame has the bytes.
    let mut pl = ext(17, 0);
    pl.extend_from_slice(&udp(1, 2, &[]));
    let mut p = ipv6(0, 0, 0, 64, 4);
    p.extend_from_slice(&pl);
    check(
        &eth(0x86dd, &p),
        &with(l3v6(), &[("nw_proto", 59)]),
        Outcome::BadIpv6,
    );
}

#[test]
fn ipv6_padding_and_lengths() {
    // Ethernet padding after the payload length is not L4 data: a UDP
    // header cut by the payload length stays unparsed.
    let mut p = ipv6(17, 0, 0, 64, 4);
    p.extend_from_slice(&udp(1, 2, &[]));
    check(
        &eth(0x86dd, &p),
        &with(l3v6(), &[("nw_proto", 17)]),
        Outcome::BadL4,
    );
    // Padding after a complete datagram is ignored.
    let mut f = eth(0x86dd, &ipv6_packet(17, &udp(1, 2, &[])));
    f.extend_from_slice(&[0xff; 6]);
    check(
        &f,
        &with(l3v6(), &[("nw_proto", 17), ("tp_src", 1), ("tp_dst", 2)]),
        Outcome::Complete,
    );
    // Payload length zero (jumbogram): the payload runs to the frame end.
    let mut p = ipv6(17, 0, 0, 64, 0);
    p.extend_from_slice(&udp(3, 4, &[]));
    check(
        &eth(0x86dd, &p),
        &with(l3v6(), &[("nw_proto", 17), ("tp_src", 3), ("tp_dst", 4)]),
        Outcome::Complete,
    );
    // Payload length past the frame end: reported, L4 still read.
    let mut p = ipv6(17, 0, 0, 64, 100);
    p.extend_from_slice(&udp(3, 4, &[]));
    check(
        &eth(0x86dd, &p),
        &with(l3v6(), &[("nw_proto", 17), ("tp_src", 3), ("tp_dst", 4)]),
        Outcome::BadIpv6,
    );
}

#[test]
fn ipv6_tcp_udp_sctp() {
    let f = eth(0x86dd, &ipv6_packet(6, &tcp(22, 60000, 0x0c2)));
    check(
        &f,
        &with(
            l3v6(),
            &[
                ("nw_proto", 6),
                ("tp_src", 22),
                ("tp_dst", 60000),
                ("tcp_flags", 0x0c2),
            ],
        ),
        Outcome::Complete,
    );
    let f = eth(0x86dd, &ipv6_packet(132, &sctp(9, 10)));
    check(
        &f,
        &with(l3v6(), &[("nw_proto", 132), ("tp_src", 9), ("tp_dst", 10)]),
        Outcome::Complete,
    );
    // ICMPv4 in IPv6 is not parsed.
    let f = eth(0x86dd, &ipv6_packet(1, &icmp(8, 0, &[])));
    check(&f, &with(l3v6(), &[("nw_proto", 1)]), Outcome::Complete);
    // Short TCP.
    let f = eth(0x86dd, &ipv6_packet(6, &tcp(22, 60000, 0x0c2)[..19]));
    check(&f, &with(l3v6(), &[("nw_proto", 6)]), Outcome::BadL4);
}

#[test]
fn icmpv6_echo() {
    let f = eth(0x86dd, &ipv6_packet(58, &icmp(128, 0, b"abcdefgh")));
    check(
        &f,
        &with(l3v6(), &[("nw_proto", 58), ("tp_src", 128)]),
        Outcome::Complete,
    );
    let f = eth(0x86dd, &ipv6_packet(58, &icmp(129, 0, &[])));
    check(
        &f,
        &with(l3v6(), &[("nw_proto", 58), ("tp_src", 129)]),
        Outcome::Complete,
    );
    // Destination unreachable, code 3.
    let f = eth(0x86dd, &ipv6_packet(58, &icmp(1, 3, &[0; 48])));
    check(
        &f,
        &with(l3v6(), &[("nw_proto", 58), ("tp_src", 1), ("tp_dst", 3)]),
        Outcome::Complete,
    );
    // Fewer than 8 bytes of ICMPv6 header.
    let f = eth(0x86dd, &ipv6_packet(58, &icmp(128, 0, &[])[..7]));
    check(&f, &with(l3v6(), &[("nw_proto", 58)]), Outcome::BadL4);
}

const TARGET: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
];
const LLA1: [u8; 6] = [0x00, 0x50, 0x56, 0xaa, 0xbb, 0xcc];
const LLA2: [u8; 6] = [0x00, 0x50, 0x56, 0x11, 0x22, 0x33];

fn nd_base(ty: u8) -> Vec<(&'static str, u128)> {
    with(l3v6(), &[("nw_proto", 58), ("tp_src", ty as u128)])
}

#[test]
fn neighbor_solicitation_with_sll() {
    let f = eth(0x86dd, &ipv6_packet(58, &nd(135, TARGET, &lla(1, LLA1))));
    check(
        &f,
        &with(
            nd_base(135),
            &[("nd_target", ip6(TARGET)), ("arp_sha", mac(LLA1) as u128)],
        ),
        Outcome::Complete,
    );
    // Without options.
    let f = eth(0x86dd, &ipv6_packet(58, &nd(135, TARGET, &[])));
    check(
        &f,
        &with(nd_base(135), &[("nd_target", ip6(TARGET))]),
        Outcome::Complete,
    );
    // Unknown options (nonce, type 14, 8 bytes; MTU-sized 16-byte option)
    // are skipped; an LLA option longer than 8 bytes is not used.
    let mut opts = vec![14, 1, 1, 2, 3, 4, 5, 6];
    opts.extend_from_slice(&[99, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    opts.extend_from_slice(&[1, 2, 9, 9, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0]);
    opts.extend_from_slice(&lla(1, LLA1));
    let f = eth(0x86dd, &ipv6_packet(58, &nd(135, TARGET, &opts)));
    check(
        &f,
        &with(
            nd_base(135),
            &[("nd_target", ip6(TARGET)), ("arp_sha", mac(LLA1) as u128)],
        ),
        Outcome::Complete,
    );
    // A trailing fragment shorter than an option is ignored (kernel and
    // userspace walk options while 8 bytes remain).
    let mut opts = lla(1, LLA1);
    opts.extend_from_slice(&[0, 0, 0, 0]);
    let f = eth(0x86dd, &ipv6_packet(58, &nd(135, TARGET, &opts)));
    check(
        &f,
        &with(
            nd_base(135),
            &[("nd_target", ip6(TARGET)), ("arp_sha", mac(LLA1) as u128)],
        ),
        Outcome::Complete,
    );
    // An all-zero SLL followed by another SLL is not a duplicate.
    let mut opts = lla(1, [0; 6]);
    opts.extend_from_slice(&lla(1, LLA1));
    let f = eth(0x86dd, &ipv6_packet(58, &nd(135, TARGET, &opts)));
    check(
        &f,
        &with(
            nd_base(135),
            &[("nd_target", ip6(TARGET)), ("arp_sha", mac(LLA1) as u128)],
        ),
        Outcome::Complete,
    );
    // ND with a non-zero code is plain ICMPv6.
    let mut m = nd(135, TARGET, &lla(1, LLA1));
    m[1] = 1;
    let f = eth(0x86dd, &ipv6_packet(58, &m));
    check(&f, &with(nd_base(135), &[("tp_dst", 1)]), Outcome::Complete);
}

#[test]
fn neighbor_advertisement_with_tll() {
    let f = eth(0x86dd, &ipv6_packet(58, &nd(136, TARGET, &lla(2, LLA2))));
    check(
        &f,
        &with(
            nd_base(136),
            &[("nd_target", ip6(TARGET)), ("arp_tha", mac(LLA2) as u128)],
        ),
        Outcome::Complete,
    );
    // Both options, in either message, are recorded as the kernel does.
    let mut opts = lla(2, LLA2);
    opts.extend_from_slice(&lla(1, LLA1));
    for ty in [135, 136] {
        let f = eth(0x86dd, &ipv6_packet(58, &nd(ty, TARGET, &opts)));
        check(
            &f,
            &with(
                nd_base(ty),
                &[
                    ("nd_target", ip6(TARGET)),
                    ("arp_sha", mac(LLA1) as u128),
                    ("arp_tha", mac(LLA2) as u128),
                ],
            ),
            Outcome::Complete,
        );
    }
}

#[test]
fn neighbor_discovery_malformed() {
    let bad_option_lists: Vec<Vec<u8>> = vec![
        // Option length 0.
        vec![1, 0, 1, 2, 3, 4, 5, 6],
        // Option running past the end.
        vec![1, 2, 1, 2, 3, 4, 5, 6],
        // Valid SLL then a zero-length option.
        [lla(1, LLA1), vec![2, 0, 0, 0, 0, 0, 0, 0]].concat(),
        // Duplicate SLL.
        [lla(1, LLA1), lla(1, LLA2)].concat(),
        // Duplicate TLL.
        [lla(2, LLA1), lla(2, LLA2)].concat(),
    ];
    for opts in &bad_option_lists {
        for ty in [135, 136] {
            let f = eth(0x86dd, &ipv6_packet(58, &nd(ty, TARGET, opts)));
            check(&f, &nd_base(ty), Outcome::BadNd);
        }
    }
    // Shorter than the 24-byte ND message: type/code kept, ND fields zero.
    let m = nd(135, TARGET, &[]);
    for n in 8..24 {
        let f = eth(0x86dd, &ipv6_packet(58, &m[..n]));
        check(&f, &nd_base(135), Outcome::BadNd);
    }
}

// ---------------------------------------------------------------------------
// Metadata.

fn full_meta() -> PacketMeta {
    PacketMeta {
        in_port: 0xdead_0001,
        recirc_id: 0x42,
        dp_hash: 0x8765_4321,
        skb_mark: 0xffff_fffe,
        ct_state: 0x21,
        ct_zone: 0xfffe,
        ct_mark: 0x0bad_cafe,
        ct_label: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        tunnel: TunnelMeta {
            tun_id: 0x00ab_cdef_0000_1234,
            ipv4_src: 0xc0a8_0001,
            ipv4_dst: 0xc0a8_0002,
            tp_src: 49152,
            tp_dst: 4789,
            tos: 0x28,
            ttl: 63,
            flags: 0x0003,
        },
        gso: Default::default(),
    }
}

fn meta_fields(m: &PacketMeta) -> Vec<(&'static str, u128)> {
    let t = &m.tunnel;
    vec![
        ("in_port", m.in_port as u128),
        ("recirc_id", m.recirc_id as u128),
        ("dp_hash", m.dp_hash as u128),
        ("skb_mark", m.skb_mark as u128),
        ("ct_state", m.ct_state as u128),
        ("ct_zone", m.ct_zone as u128),
        ("ct_mark", m.ct_mark as u128),
        ("ct_label", m.ct_label),
        ("tun_id", t.tun_id as u128),
        ("tun_src", t.ipv4_src as u128),
        ("tun_dst", t.ipv4_dst as u128),
        ("tun_tp_src", t.tp_src as u128),
        ("tun_tp_dst", t.tp_dst as u128),
        ("tun_tos", t.tos as u128),
        ("tun_ttl", t.ttl as u128),
        ("tun_flags", t.flags as u128),
    ]
}

#[test]
fn metadata_is_copied() {
    let m = full_meta();
    let f = eth(0x0800, &ipv4_packet(17, &udp(1, 2, &[])));
    let want = [
        meta_fields(&m),
        l3v4(17),
        vec![("tp_src", 1), ("tp_dst", 2)],
    ]
    .concat();
    check_meta(&f, &m, &want, Outcome::Complete);
    // Even when the frame is too short for anything else.
    check_meta(&[], &m, &meta_fields(&m), Outcome::ShortEthernet);
    check_meta(&f[..13], &m, &meta_fields(&m), Outcome::ShortEthernet);

    // A tunnel with only a key (and no destination) still counts.
    let mut m2 = PacketMeta {
        in_port: 3,
        ..Default::default()
    };
    m2.tunnel.tun_id = 5;
    m2.tunnel.ttl = 9;
    check_meta(
        &f[..14],
        &m2,
        &with(l2(0x0800), &[("in_port", 3), ("tun_id", 5), ("tun_ttl", 9)]),
        Outcome::BadIpv4,
    );

    // No tunnel: tunnel fields zero even if stray non-key fields are set
    // (a tunnel is present when it has a destination or a key, as Open
    // vSwitch tests the destination).
    let mut m3 = PacketMeta {
        recirc_id: 1,
        ..Default::default()
    };
    m3.tunnel.ipv4_src = 0x0a00_0001;
    m3.tunnel.ttl = 64;
    check_meta(
        &f[..14],
        &m3,
        &with(l2(0x0800), &[("recirc_id", 1)]),
        Outcome::BadIpv4,
    );
}

// ---------------------------------------------------------------------------
// Truncation: every prefix of valid frames.

/// A valid frame and the key of each prefix: field values that appear once
/// the prefix reaches a length (a later entry for the same field replaces an
/// earlier one), and the outcome from a length on (`Complete` at full
/// length is implied).
struct Layered {
    name: &'static str,
    frame: Vec<u8>,
    fields: Vec<(usize, &'static str, u128)>,
    outcomes: Vec<(usize, Outcome)>,
}

impl Layered {
    fn check_all_prefixes(&self) {
        let meta = PacketMeta {
            in_port: 1,
            ..Default::default()
        };
        for n in 0..=self.frame.len() {
            let prefix = &self.frame[..n];
            let (key, outcome) = extract(prefix, &meta);
            let mut want = exp(&[("in_port", 1)]);
            for &(at, name, v) in &self.fields {
                if at <= n {
                    add(&mut want, name, v);
                }
            }
            check_key(
                &key,
                &want,
                &format!("{} cut at {n} of {}", self.name, self.frame.len()),
            );
            let want_outcome = if n == self.frame.len() {
                Outcome::Complete
            } else {
                self.outcomes
                    .iter()
                    .rev()
                    .find(|(at, _)| *at <= n)
                    .map(|(_, o)| *o)
                    .unwrap()
            };
            assert_eq!(
                outcome, want_outcome,
                "{} cut at {n}: key {key:?}",
                self.name
            );
        }
    }
}

fn l2_at(ty: u16, at: usize) -> Vec<(usize, &'static str, u128)> {
    vec![
        (14, "eth_dst", mac(DST) as u128),
        (14, "eth_src", mac(SRC) as u128),
        (at, "eth_type", ty as u128),
    ]
}

#[test]
fn truncated_ipv4_tcp_with_options() {
    let opts = [0x94, 4, 0, 0]; // router alert
    let t = tcp_doff(33000, 80, 0x018, 7, 28);
    let mut p = ipv4(6, 0x04, 64, 0, &opts, t.len() + 10);
    p.extend_from_slice(&t);
    p.extend_from_slice(b"GET / HTTP");
    let frame = eth(0x0800, &p);
    let (l3, l4) = (14 + 24, 14 + 24 + 28);
    let mut fields = l2_at(0x0800, 14);
    fields.extend([
        (l3, "nw_src", ip4(IP4_SRC) as u128),
        (l3, "nw_dst", ip4(IP4_DST) as u128),
        (l3, "nw_proto", 6),
        (l3, "nw_tos", 0x04),
        (l3, "nw_ttl", 64),
        (l4, "tp_src", 33000),
        (l4, "tp_dst", 80),
        (l4, "tcp_flags", 0x018),
    ]);
    Layered {
        name: "ipv4 tcp",
        frame,
        fields,
        outcomes: vec![(0, Outcome::ShortEthernet), (14, Outcome::BadIpv4)],
    }
    .check_all_prefixes();
}

#[test]
fn truncated_vlan_ipv4_udp_fragment_and_icmp() {
    let mut p = tag(0x0064, 0x0800);
    let u = udp(1, 2, &[0; 6]);
    let mut ip = ipv4(17, 0, 64, 0x2000, &[], u.len());
    ip.extend_from_slice(&u);
    p.extend_from_slice(&ip);
    let frame = eth(0x8100, &p);
    let mut fields = l2_at(0x8100, 14);
    fields.extend([
        (18, "vlan_tpid", 0x8100),
        (18, "vlan_tci", 0x1064),
        (18, "eth_type", 0x0800),
        (38, "nw_src", ip4(IP4_SRC) as u128),
        (38, "nw_dst", ip4(IP4_DST) as u128),
        (38, "nw_proto", 17),
        (38, "nw_ttl", 64),
        (38, "nw_frag", FRAG_ANY as u128),
        (46, "tp_src", 1),
        (46, "tp_dst", 2),
    ]);
    Layered {
        name: "vlan ipv4 udp first fragment",
        frame,
        fields,
        outcomes: vec![
            (0, Outcome::ShortEthernet),
            (14, Outcome::BadVlan),
            (18, Outcome::BadIpv4),
        ],
    }
    .check_all_prefixes();

    let frame = eth(0x0800, &ipv4_packet(1, &icmp(11, 1, &[0; 28])));
    let mut fields = l2_at(0x0800, 14);
    fields.extend([
        (34, "nw_src", ip4(IP4_SRC) as u128),
        (34, "nw_dst", ip4(IP4_DST) as u128),
        (34, "nw_proto", 1),
        (34, "nw_ttl", 64),
        (42, "tp_src", 11),
        (42, "tp_dst", 1),
    ]);
    Layered {
        name: "ipv4 icmp",
        frame,
        fields,
        outcomes: vec![(0, Outcome::ShortEthernet), (14, Outcome::BadIpv4)],
    }
    .check_all_prefixes();
}

#[test]
fn truncated_double_vlan_arp() {
    let mut p = tag(0x0005, 0x8100);
    p.extend_from_slice(&tag(0x000a, 0x0806));
    p.extend_from_slice(&arp(2, LLA1, IP4_SRC, LLA2, IP4_DST));
    let frame = eth(0x88a8, &p);
    let mut fields = l2_at(0x88a8, 14);
    fields.extend([
        (18, "vlan_tpid", 0x88a8),
        (18, "vlan_tci", 0x1005),
        (18, "eth_type", 0x8100),
        (22, "cvlan_tpid", 0x8100),
        (22, "cvlan_tci", 0x100a),
        (22, "eth_type", 0x0806),
        (50, "nw_proto", 2),
        (50, "arp_sha", mac(LLA1) as u128),
        (50, "arp_tha", mac(LLA2) as u128),
        (50, "nw_src", ip4(IP4_SRC) as u128),
        (50, "nw_dst", ip4(IP4_DST) as u128),
    ]);
    Layered {
        name: "qinq arp",
        frame,
        fields,
        outcomes: vec![
            (0, Outcome::ShortEthernet),
            (14, Outcome::BadVlan),
            (22, Outcome::BadArp),
        ],
    }
    .check_all_prefixes();
}

#[test]
fn truncated_ipv6_extension_headers_tcp() {
    // HBH (8) + routing (24) + destination options (16) + TCP (20).
    let mut pl = ext(43, 0);
    pl.extend_from_slice(&ext(60, 2));
    pl.extend_from_slice(&ext(6, 1));
    pl.extend_from_slice(&tcp(2000, 3000, 0x004));
    let mut p = ipv6(0, 0x0c, 0x12345, 7, pl.len());
    p.extend_from_slice(&pl);
    let frame = eth(0x86dd, &p);
    let h = 54; // end of the IPv6 header
    let mut fields = l2_at(0x86dd, 14);
    fields.extend([
        (h, "ipv6_src", ip6(IP6_SRC)),
        (h, "ipv6_dst", ip6(IP6_DST)),
        (h, "nw_tos", 0x0c),
        (h, "ipv6_label", 0x12345),
        (h, "nw_ttl", 7),
        // While the chain is cut inside an extension header that leads to
        // another one, nw_proto is IPPROTO_NONE; once the last extension
        // header's first 8 bytes are there, it names TCP.
        (h, "nw_proto", 59),
        (h + 40, "nw_proto", 6),
        (h + 68, "tp_src", 2000),
        (h + 68, "tp_dst", 3000),
        (h + 68, "tcp_flags", 0x004),
    ]);
    Layered {
        name: "ipv6 ext tcp",
        frame,
        fields,
        outcomes: vec![(0, Outcome::ShortEthernet), (14, Outcome::BadIpv6)],
    }
    .check_all_prefixes();
}

#[test]
fn truncated_ipv6_fragment_udp_and_nd() {
    let mut pl = frag6(17, 0, true);
    pl.extend_from_slice(&udp(7, 8, &[0; 4]));
    let frame = eth(0x86dd, &ipv6_packet(44, &pl));
    let mut fields = l2_at(0x86dd, 14);
    fields.extend([
        (54, "ipv6_src", ip6(IP6_SRC)),
        (54, "ipv6_dst", ip6(IP6_DST)),
        (54, "nw_ttl", 64),
        (54, "nw_proto", 59),
        (62, "nw_proto", 17),
        (62, "nw_frag", FRAG_ANY as u128),
        (70, "tp_src", 7),
        (70, "tp_dst", 8),
    ]);
    Layered {
        name: "ipv6 first fragment udp",
        frame,
        fields,
        outcomes: vec![(0, Outcome::ShortEthernet), (14, Outcome::BadIpv6)],
    }
    .check_all_prefixes();

    let mut opts = lla(1, LLA1);
    opts.extend_from_slice(&[14, 1, 0, 0, 0, 0, 0, 0]);
    let frame = eth(0x86dd, &ipv6_packet(58, &nd(135, TARGET, &opts)));
    assert_eq!(frame.len(), 14 + 40 + 24 + 16);
    let mut fields = l2_at(0x86dd, 14);
    fields.extend([
        (54, "ipv6_src", ip6(IP6_SRC)),
        (54, "ipv6_dst", ip6(IP6_DST)),
        (54, "nw_ttl", 64),
        (54, "nw_proto", 58),
        (62, "tp_src", 135),
        (78, "nd_target", ip6(TARGET)),
        (86, "arp_sha", mac(LLA1) as u128),
    ]);
    Layered {
        name: "ipv6 neighbor solicitation",
        frame,
        fields,
        outcomes: vec![(0, Outcome::ShortEthernet), (14, Outcome::BadIpv6)],
    }
    .check_all_prefixes();
}

#[test]
fn truncated_llc_snap_ipv4() {
    // A SNAP header cut short is no SNAP header: 802.3 without a type.
    let mut p = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00];
    p.extend_from_slice(&ipv4_packet(17, &udp(1, 2, &[])));
    let frame = eth(p.len() as u16, &p);
    let mut fields = l2_at(ETH_TYPE_NONE, 14);
    fields.extend([
        (22, "eth_type", 0x0800),
        (42, "nw_src", ip4(IP4_SRC) as u128),
        (42, "nw_dst", ip4(IP4_DST) as u128),
        (42, "nw_proto", 17),
        (42, "nw_ttl", 64),
        (50, "tp_src", 1),
        (50, "tp_dst", 2),
    ]);
    Layered {
        name: "llc snap ipv4",
        frame,
        fields,
        outcomes: vec![
            (0, Outcome::ShortEthernet),
            (14, Outcome::Complete),
            (22, Outcome::BadIpv4),
        ],
    }
    .check_all_prefixes();
}

/// Truncating any frame never panics and never sets a field the full frame
/// leaves zero, except eth_type (a cut VLAN tag or SNAP header changes it)
/// and nw_proto (a cut IPv6 extension chain reports IPPROTO_NONE).
#[test]
fn truncation_never_invents_fields() {
    let frames: Vec<Vec<u8>> = vec![
        eth(0x0800, &ipv4_packet(6, &tcp(1, 2, 0x3f))),
        eth(0x86dd, &ipv6_packet(58, &nd(136, TARGET, &lla(2, LLA2)))),
        eth(
            0x86dd,
            &ipv6_packet(
                51,
                &[
                    [17, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0].to_vec(),
                    udp(5, 6, &[]),
                ]
                .concat(),
            ),
        ),
        eth(
            0x8100,
            &[tag(3, 0x86dd), ipv6_packet(132, &sctp(1, 2))].concat(),
        ),
    ];
    for f in frames {
        let (full, o) = extract(&f, &PacketMeta::default());
        assert_eq!(o, Outcome::Complete, "{full:?}");
        for n in 0..f.len() {
            let (k, _) = extract(&f[..n], &PacketMeta::default());
            for fd in FIELDS {
                if fd.name == "eth_type" || fd.name == "nw_proto" {
                    continue;
                }
                let v = fd.get(&k);
                assert!(
                    v == 0 || v == fd.get(&full),
                    "cut at {n}: {} = {v:#x} vs full {full:?}",
                    fd.name
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Random input.

fn arb_meta() -> impl Strategy<Value = PacketMeta> {
    (
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()),
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u128>()),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
        ),
    )
        .prop_map(|(a, b, t)| PacketMeta {
            in_port: a.0,
            recirc_id: a.1,
            dp_hash: a.2,
            skb_mark: a.3,
            ct_state: b.0,
            ct_zone: b.1,
            ct_mark: b.2,
            ct_label: b.3,
            tunnel: TunnelMeta {
                tun_id: t.0,
                ipv4_src: t.1,
                ipv4_dst: t.2,
                tp_src: t.3,
                tp_dst: t.4,
                tos: t.5,
                ttl: t.6,
                flags: t.7,
            },
            gso: Default::default(),
        })
}

/// Frames with a plausible start: Ethernet with an interesting ethertype
/// (possibly VLAN-tagged), then a mostly valid IPv4/IPv6 header with random
/// fields and a random tail.
fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..200);
    let ethertypes = prop::sample::select(vec![
        0x0800u16, 0x86dd, 0x0806, 0x8035, 0x8100, 0x88a8, 0x0040, 0x05ff, 0x0600, 0x8847,
    ]);
    let eth_prefix = (ethertypes, prop::collection::vec(any::<u8>(), 0..120))
        .prop_map(|(ty, rest)| eth(ty, &rest));
    let protos = prop::sample::select(vec![0u8, 1, 6, 17, 43, 44, 50, 51, 58, 59, 60, 132, 255]);
    let v4 = (
        protos.clone(),
        any::<u8>(),
        any::<u16>(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..80),
        any::<bool>(),
    )
        .prop_map(|(proto, ihl_ver, total, frag, rest, keep_len)| {
            let mut p = ipv4(proto, 0, 1, frag, &[], rest.len());
            if !keep_len {
                p[0] = ihl_ver;
                p[2..4].copy_from_slice(&total.to_be_bytes());
            }
            p.extend_from_slice(&rest);
            eth(0x0800, &p)
        });
    let v6 = (
        protos.clone(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..120),
        any::<bool>(),
        prop::collection::vec(protos, 0..4),
    )
        .prop_map(|(next, plen, rest, keep_len, chain)| {
            // A chain of small extension headers with random next fields.
            let mut pl = Vec::new();
            let mut first = next;
            for (i, n) in chain.iter().enumerate() {
                if i == 0 {
                    first = 0;
                }
                pl.extend_from_slice(&[*n, (i % 2) as u8, 0, 0, 0, 0, 0, 0]);
            }
            pl.extend_from_slice(&rest);
            let mut p = ipv6(first, 0, 0, 1, pl.len());
            if !keep_len {
                p[4..6].copy_from_slice(&plen.to_be_bytes());
            }
            p.extend_from_slice(&pl);
            eth(0x86dd, &p)
        });
    let tagged = (
        prop::sample::select(vec![0x8100u16, 0x88a8]),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(|(tpid, tci, rest)| {
            let mut p = tci.to_be_bytes().to_vec();
            p.extend_from_slice(&rest);
            eth(tpid, &p)
        });
    prop_oneof![raw, eth_prefix, v4, v6, tagged]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn random_frames_never_panic_and_are_deterministic(frame in arb_frame(), meta in arb_meta(), cut in any::<prop::sample::Index>()) {
        let (k1, o1) = extract(&frame, &meta);
        let (k2, o2) = extract(&frame, &meta);
        prop_assert_eq!(k1, k2);
        prop_assert_eq!(o1, o2);
        let mut k3 = FlowKey::ZERO;
        prop_assert_eq!(extract_into(&frame, &meta, &mut k3), o1);
        prop_assert_eq!(k3, k1);
        // Metadata always lands in the key, whatever the frame.
        prop_assert_eq!(k1.in_port(), meta.in_port);
        prop_assert_eq!(k1.recirc_id(), meta.recirc_id);
        prop_assert_eq!(k1.dp_hash(), meta.dp_hash);
        prop_assert_eq!(k1.skb_mark(), meta.skb_mark);
        prop_assert_eq!(k1.ct_label(), meta.ct_label);
        // Frame bytes only land in frame fields: a zero-metadata key has
        // zero metadata words.
        let (k0, o0) = extract(&frame, &PacketMeta::default());
        prop_assert_eq!(o0, o1);
        prop_assert_eq!(&k0.words[..8], &[0u64; 8][..]);
        prop_assert_eq!(&k0.words[8..], &k1.words[8..]);
        // Any prefix is fine too.
        let n = if frame.is_empty() { 0 } else { cut.index(frame.len() + 1) };
        let _ = extract(&frame[..n], &meta);
        // Short frames only give metadata.
        if frame.len() < 14 {
            prop_assert_eq!(o1, Outcome::ShortEthernet);
        }
    }
}

// ---------------------------------------------------------------------------
// Cross-check with etherparse's builder.

#[derive(Debug, Clone)]
struct Spec {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: Option<(u8, bool, u16)>,
    qinq: Option<(u16, u16)>,
    v6: bool,
    src4: [u8; 4],
    dst4: [u8; 4],
    src6: [u8; 16],
    dst6: [u8; 16],
    ttl: u8,
    dscp: u8,
    ecn: u8,
    label: u32,
    tcp: bool,
    sport: u16,
    dport: u16,
    tcp_flags: [bool; 9],
    payload: Vec<u8>,
}

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        (
            any::<[u8; 6]>(),
            any::<[u8; 6]>(),
            prop::option::of((0u8..8, any::<bool>(), 0u16..4096)),
            prop::option::of((0u16..4096, 0u16..4096)),
        ),
        (
            any::<bool>(),
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
        ),
        (any::<u8>(), 0u8..64, 0u8..4, 0u32..(1 << 20)),
        (
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
            any::<[bool; 9]>(),
            prop::collection::vec(any::<u8>(), 0..64),
        ),
    )
        .prop_map(|(l2, ips, l3, l4)| Spec {
            src_mac: l2.0,
            dst_mac: l2.1,
            vlan: l2.2,
            qinq: l2.3,
            v6: ips.0,
            src4: ips.1,
            dst4: ips.2,
            src6: ips.3,
            dst6: ips.4,
            ttl: l3.0,
            dscp: l3.1,
            ecn: l3.2,
            label: l3.3,
            tcp: l4.0,
            sport: l4.1,
            dport: l4.2,
            tcp_flags: l4.3,
            payload: l4.4,
        })
}

fn build(s: &Spec) -> Vec<u8> {
    let base = PacketBuilder::ethernet2(s.src_mac, s.dst_mac);
    let ip = if s.v6 {
        IpHeaders::Ipv6(
            Ipv6Header {
                traffic_class: (s.dscp << 2) | s.ecn,
                flow_label: Ipv6FlowLabel::try_new(s.label).unwrap(),
                payload_length: 0,
                next_header: IpNumber(0),
                hop_limit: s.ttl,
                source: s.src6,
                destination: s.dst6,
            },
            Default::default(),
        )
    } else {
        let mut h = Ipv4Header::new(0, s.ttl, IpNumber(0), s.src4, s.dst4).unwrap();
        h.dscp = Ipv4Dscp::try_new(s.dscp).unwrap();
        h.ecn = Ipv4Ecn::try_new(s.ecn).unwrap();
        IpHeaders::Ipv4(h, Default::default())
    };
    let step = match (s.vlan, s.qinq) {
        (Some((pcp, dei, vid)), _) => base
            .vlan(VlanHeader::Single(SingleVlanHeader {
                pcp: VlanPcp::try_new(pcp).unwrap(),
                drop_eligible_indicator: dei,
                vlan_id: VlanId::try_new(vid).unwrap(),
                ether_type: EtherType(0),
            }))
            .ip(ip),
        (None, Some((outer, inner))) => base
            .vlan(VlanHeader::Double(DoubleVlanHeader {
                outer: SingleVlanHeader {
                    pcp: VlanPcp::ZERO,
                    drop_eligible_indicator: false,
                    vlan_id: VlanId::try_new(outer).unwrap(),
                    ether_type: EtherType(0),
                },
                inner: SingleVlanHeader {
                    pcp: VlanPcp::try_new(7).unwrap(),
                    drop_eligible_indicator: true,
                    vlan_id: VlanId::try_new(inner).unwrap(),
                    ether_type: EtherType(0),
                },
            }))
            .ip(ip),
        (None, None) => base.ip(ip),
    };
    let mut out = Vec::new();
    if s.tcp {
        let mut t = TcpHeader::new(s.sport, s.dport, 12345, 1024);
        let f = s.tcp_flags;
        (t.fin, t.syn, t.rst, t.psh, t.ack, t.urg, t.ece, t.cwr, t.ns) =
            (f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8]);
        let b = step.tcp_header(t);
        b.write(&mut out, &s.payload).unwrap();
    } else {
        let b = step.udp(s.sport, s.dport);
        b.write(&mut out, &s.payload).unwrap();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn agrees_with_etherparse_builder(s in arb_spec()) {
        let frame = build(&s);
        let (k, o) = extract(&frame, &PacketMeta::default());
        prop_assert_eq!(o, Outcome::Complete);
        prop_assert_eq!(k.eth_src(), mac(s.src_mac));
        prop_assert_eq!(k.eth_dst(), mac(s.dst_mac));
        prop_assert_eq!(k.eth_type(), if s.v6 { 0x86dd } else { 0x0800 });
        match (s.vlan, s.qinq) {
            (Some((pcp, dei, vid)), _) => {
                prop_assert_eq!(k.vlan_tpid(), 0x8100);
                prop_assert_eq!(k.vlan_tci(), ((pcp as u16) << 13) | VLAN_PRESENT | vid);
                let _ = dei; // the DEI/CFI bit is forced on as the "present" marker
                prop_assert_eq!(k.cvlan_tci(), 0);
            }
            (None, Some((outer, inner))) => {
                prop_assert_eq!(k.vlan_tpid(), 0x88a8);
                prop_assert_eq!(k.vlan_tci(), VLAN_PRESENT | outer);
                prop_assert_eq!(k.cvlan_tpid(), 0x8100);
                prop_assert_eq!(k.cvlan_tci(), 0xe000 | VLAN_PRESENT | inner);
            }
            (None, None) => {
                prop_assert_eq!(k.vlan_tci(), 0);
                prop_assert_eq!(k.vlan_tpid(), 0);
            }
        }
        if s.v6 {
            prop_assert_eq!(k.ipv6_src(), ip6(s.src6));
            prop_assert_eq!(k.ipv6_dst(), ip6(s.dst6));
            prop_assert_eq!(k.ipv6_label(), s.label);
            prop_assert_eq!(k.nw_src(), 0);
        } else {
            prop_assert_eq!(k.nw_src() as u64, ip4(s.src4));
            prop_assert_eq!(k.nw_dst() as u64, ip4(s.dst4));
            prop_assert_eq!(k.ipv6_src(), 0);
        }
        prop_assert_eq!(k.nw_ttl(), s.ttl);
        prop_assert_eq!(k.nw_tos(), (s.dscp << 2) | s.ecn);
        prop_assert_eq!(k.nw_proto(), if s.tcp { 6 } else { 17 });
        prop_assert_eq!(k.nw_frag(), 0);
        prop_assert_eq!(k.tp_src(), s.sport);
        prop_assert_eq!(k.tp_dst(), s.dport);
        if s.tcp {
            let f = s.tcp_flags;
            let want = [0x001u16, 0x002, 0x004, 0x008, 0x010, 0x020, 0x040, 0x080, 0x100]
                .iter()
                .zip(f)
                .filter(|(_, on)| *on)
                .fold(0, |acc, (bit, _)| acc | bit);
            prop_assert_eq!(k.tcp_flags(), want);
        } else {
            prop_assert_eq!(k.tcp_flags(), 0);
        }
        // And with the frame padded to the Ethernet minimum, nothing changes.
        if frame.len() < 60 {
            let mut padded = frame.clone();
            padded.resize(60, 0xff);
            prop_assert_eq!(extract(&padded, &PacketMeta::default()), (k, o));
        }
    }
}
