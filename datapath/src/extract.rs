//! Flow-key extraction: one pass over a frame filling a [`FlowKey`], as the
//! kernel's `key_extract` does. It never fails: a short or malformed header
//! stops the walk with the deeper fields zero, and the outcome says where.
//!
//! Length rules (chosen to follow Open vSwitch's kernel `net/openvswitch/
//! flow.c`, which never looks at the IP length fields):
//!
//! * An IPv4 header is used whenever the frame holds `IHL * 4 >= 20` bytes
//!   of it; an IPv6 header whenever the frame holds its 40 bytes.
//! * The L4 header is read from the bytes actually present, bounded by the
//!   IP length field when that is smaller (so Ethernet padding after the
//!   datagram is never taken for L4 data, as in userspace `miniflow_extract`).
//! * An IP length field that claims more than the frame holds (a truncated
//!   frame) keeps the L3 fields, still reads whatever L4 header is wholly
//!   present, and reports `BadIpv4`/`BadIpv6`. An IPv4 total length below
//!   the header length leaves L4 zero and reports `BadIpv4`.
//! * The outcome names the first problem met on the walk.

use crate::flow_key::{mac_from_bytes, FlowKey, ETH_TYPE_NONE, FRAG_ANY, FRAG_LATER, VLAN_PRESENT};
use crate::packet::{Packet, PacketMeta};

pub const ETH_TYPE_IPV4: u16 = 0x0800;
pub const ETH_TYPE_ARP: u16 = 0x0806;
pub const ETH_TYPE_IPV6: u16 = 0x86dd;
pub const ETH_TYPE_VLAN: u16 = 0x8100;
pub const ETH_TYPE_QINQ: u16 = 0x88a8;
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;
pub const IPPROTO_SCTP: u8 = 132;

/// How far extraction got. Anything but `Complete` is counted by the caller
/// as a malformed packet; the key is still usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Complete,
    /// The frame is shorter than an Ethernet header.
    ShortEthernet,
    /// A VLAN tag was cut short.
    BadVlan,
    /// The ARP header was short or not Ethernet/IPv4.
    BadArp,
    /// The IPv4 header was short, its IHL was below 5, or its total length
    /// was below the header length or past the end of the frame.
    BadIpv4,
    /// The IPv6 header or an extension header was short, or the payload
    /// length claimed more than the frame holds.
    BadIpv6,
    /// The L4 header was short (ports/type left zero).
    BadL4,
    /// The neighbor discovery message was short or its options malformed
    /// (ND fields left zero).
    BadNd,
}

/// Extracts the key of `frame` received with metadata `meta`.
#[inline]
pub fn extract(frame: &[u8], meta: &PacketMeta) -> (FlowKey, Outcome) {
    let mut key = FlowKey::ZERO;
    let outcome = extract_into(frame, meta, &mut key);
    (key, outcome)
}

/// Extracts the key of a packet (its frame and metadata).
#[inline]
pub fn extract_packet(p: &Packet) -> (FlowKey, Outcome) {
    extract(p.data(), &p.meta)
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn be128(b: &[u8], at: usize) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    u128::from_be_bytes(a)
}

#[inline(always)]
fn mac_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 6];
    a.copy_from_slice(&b[at..at + 6]);
    mac_from_bytes(&a)
}

/// Fills `key` (which must start zeroed) from `frame` and `meta`.
pub fn extract_into(frame: &[u8], meta: &PacketMeta, key: &mut FlowKey) -> Outcome {
    key.set_in_port(meta.in_port);
    key.set_recirc_id(meta.recirc_id);
    key.set_dp_hash(meta.dp_hash);
    key.set_skb_mark(meta.skb_mark);
    key.set_ct_state(meta.ct_state);
    key.set_ct_zone(meta.ct_zone);
    key.set_ct_mark(meta.ct_mark);
    if meta.ct_label != 0 {
        key.set_ct_label(meta.ct_label);
    }
    let t = &meta.tunnel;
    if t.ipv4_dst != 0 || t.tun_id != 0 {
        key.set_tun_id(t.tun_id);
        key.set_tun_src(t.ipv4_src);
        key.set_tun_dst(t.ipv4_dst);
        key.set_tun_tp_src(t.tp_src);
        key.set_tun_tp_dst(t.tp_dst);
        key.set_tun_tos(t.tos);
        key.set_tun_ttl(t.ttl);
        key.set_tun_flags(t.flags);
    }

    let b = frame;
    if b.len() < 14 {
        return Outcome::ShortEthernet;
    }
    key.set_eth_dst(mac_at(b, 0));
    key.set_eth_src(mac_at(b, 6));
    let mut off = 12;
    let mut eth_type = be16(b, off);
    off += 2;

    // Up to two VLAN tags; a third tag's TPID is taken as the ethertype, as
    // Open vSwitch does with its two-tag limit.
    for depth in 0..2 {
        if eth_type != ETH_TYPE_VLAN && eth_type != ETH_TYPE_QINQ {
            break;
        }
        if b.len() < off + 4 {
            // A tag without room for its TCI and the next ethertype is not
            // parsed: its TPID stays the ethertype, as in Open vSwitch.
            key.set_eth_type(eth_type);
            return Outcome::BadVlan;
        }
        let tci = be16(b, off) | VLAN_PRESENT;
        if depth == 0 {
            key.set_vlan_tpid(eth_type);
            key.set_vlan_tci(tci);
        } else {
            key.set_cvlan_tpid(eth_type);
            key.set_cvlan_tci(tci);
        }
        eth_type = be16(b, off + 2);
        off += 4;
    }

    if eth_type < 0x0600 {
        // 802.3 length field: only LLC/SNAP with a zero OUI carries a type.
        // A SNAP ethertype that is itself a length is no ethertype either.
        if b.len() >= off + 8
            && b[off..off + 6] == [0xaa, 0xaa, 0x03, 0, 0, 0]
            && be16(b, off + 6) >= 0x0600
        {
            eth_type = be16(b, off + 6);
            off += 8;
        } else {
            key.set_eth_type(ETH_TYPE_NONE);
            return Outcome::Complete;
        }
    }
    key.set_eth_type(eth_type);

    match eth_type {
        ETH_TYPE_IPV4 => extract_ipv4(&b[off..], key),
        ETH_TYPE_IPV6 => extract_ipv6(&b[off..], key),
        ETH_TYPE_ARP | 0x8035 => extract_arp(&b[off..], key),
        _ => Outcome::Complete,
    }
}

fn extract_arp(b: &[u8], key: &mut FlowKey) -> Outcome {
    if b.len() < 28 || be16(b, 0) != 1 || be16(b, 2) != ETH_TYPE_IPV4 || b[4] != 6 || b[5] != 4 {
        return Outcome::BadArp;
    }
    let op = be16(b, 6);
    // Only opcodes that fit nw_proto are kept, as in Open vSwitch.
    if op <= 0xff {
        key.set_nw_proto(op as u8);
    }
    key.set_arp_sha(mac_at(b, 8));
    key.set_nw_src(be32(b, 14));
    key.set_arp_tha(mac_at(b, 18));
    key.set_nw_dst(be32(b, 24));
    Outcome::Complete
}

fn extract_ipv4(b: &[u8], key: &mut FlowKey) -> Outcome {
    if b.len() < 20 {
        return Outcome::BadIpv4;
    }
    let ihl = (b[0] & 0x0f) as usize * 4;
    if ihl < 20 || b.len() < ihl {
        return Outcome::BadIpv4;
    }
    // The kernel ignores the total length; we use it only to drop Ethernet
    // padding, and report a length that lies (see the module comment).
    let total = be16(b, 2) as usize;
    let (l4_end, outcome) = if total < ihl {
        (ihl, Outcome::BadIpv4)
    } else if total > b.len() {
        (b.len(), Outcome::BadIpv4)
    } else {
        (total, Outcome::Complete)
    };
    key.set_nw_src(be32(b, 12));
    key.set_nw_dst(be32(b, 16));
    key.set_nw_tos(b[1]);
    key.set_nw_ttl(b[8]);
    let proto = b[9];
    key.set_nw_proto(proto);
    let frag = be16(b, 6);
    let offset = frag & 0x1fff;
    if frag & 0x2000 != 0 || offset != 0 {
        key.set_nw_frag(if offset != 0 {
            FRAG_ANY | FRAG_LATER
        } else {
            FRAG_ANY
        });
        if offset != 0 {
            return outcome;
        }
    }
    // Ethernet padding after `total` is not part of the datagram.
    let l4 = extract_l4(&b[ihl..l4_end], proto, key, false);
    first_problem(outcome, l4)
}

/// The first of two outcomes that is not `Complete`.
#[inline(always)]
fn first_problem(first: Outcome, then: Outcome) -> Outcome {
    if first == Outcome::Complete {
        then
    } else {
        first
    }
}

/// True for the protocols the kernel's `ipv6_find_hdr` steps over (and
/// IPPROTO_NONE), i.e. those that do not end the extension-header chain.
#[inline(always)]
fn ipv6_ext_hdr(next: u8) -> bool {
    matches!(next, 0 | 43 | 44 | 51 | 59 | 60)
}

fn extract_ipv6(b: &[u8], key: &mut FlowKey) -> Outcome {
    if b.len() < 40 {
        return Outcome::BadIpv6;
    }
    let vtc = be32(b, 0);
    key.set_nw_tos((vtc >> 20) as u8);
    key.set_ipv6_label(vtc & 0x000f_ffff);
    key.set_nw_ttl(b[7]);
    key.set_ipv6_src(be128(b, 8));
    key.set_ipv6_dst(be128(b, 24));
    // A zero payload length (jumbogram) runs to the end of the frame. A
    // payload length past the end of the frame is reported, but the walk
    // goes on over the bytes present, as the kernel's does.
    let payload = be16(b, 4) as usize;
    let (end, outcome) = if payload == 0 {
        (b.len(), Outcome::Complete)
    } else if 40 + payload > b.len() {
        (b.len(), Outcome::BadIpv6)
    } else {
        (40 + payload, Outcome::Complete)
    };
    // When the extension-header chain breaks, nw_proto is what the kernel
    // reports: the protocol named by the last header read if that ends the
    // chain, else IPPROTO_NONE (59); L4 stays zero.
    let broken = |key: &mut FlowKey, next: u8| {
        key.set_nw_proto(if ipv6_ext_hdr(next) { 59 } else { next });
        Outcome::BadIpv6
    };
    let mut next = b[6];
    let mut off = 40;
    loop {
        match next {
            // Hop-by-hop, routing, destination options (length in 8-byte
            // units, not counting the first 8) and the authentication
            // header (length in 4-byte units, minus 2). Every extension
            // header is at least 8 bytes long.
            0 | 43 | 60 | 51 => {
                if end < off + 8 {
                    return broken(key, 59);
                }
                let len = if next == 51 {
                    (b[off + 1] as usize + 2) * 4
                } else {
                    (b[off + 1] as usize + 1) * 8
                };
                next = b[off];
                off += len;
                if off > end {
                    return broken(key, next);
                }
            }
            44 => {
                if end < off + 8 {
                    return broken(key, 59);
                }
                let frag = be16(b, off + 2);
                let offset = frag >> 3;
                next = b[off];
                off += 8;
                if offset != 0 {
                    // Later fragments carry no L4 header; Open vSwitch
                    // (kernel and userspace) reports them as protocol 44.
                    key.set_nw_frag(FRAG_ANY | FRAG_LATER);
                    key.set_nw_proto(44);
                    return outcome;
                }
                key.set_nw_frag(FRAG_ANY);
            }
            _ => break,
        }
    }
    key.set_nw_proto(next);
    let l4 = extract_l4(&b[off..end], next, key, true);
    first_problem(outcome, l4)
}

fn extract_l4(l4: &[u8], proto: u8, key: &mut FlowKey, ipv6: bool) -> Outcome {
    match proto {
        IPPROTO_TCP => {
            // The whole header, options included, must be there (the
            // kernel's tcphdr_ok).
            if l4.len() < 20
                || ((l4[12] >> 4) as usize) < 5
                || l4.len() < (l4[12] >> 4) as usize * 4
            {
                return Outcome::BadL4;
            }
            key.set_tp_src(be16(l4, 0));
            key.set_tp_dst(be16(l4, 2));
            key.set_tcp_flags(be16(l4, 12) & 0x0fff);
        }
        IPPROTO_UDP | IPPROTO_SCTP => {
            let min = if proto == IPPROTO_UDP { 8 } else { 12 };
            if l4.len() < min {
                return Outcome::BadL4;
            }
            key.set_tp_src(be16(l4, 0));
            key.set_tp_dst(be16(l4, 2));
        }
        // ICMP headers are 8 bytes for Open vSwitch (icmphdr_ok,
        // icmp6hdr_ok), although only type and code are used.
        IPPROTO_ICMP if !ipv6 => {
            if l4.len() < 8 {
                return Outcome::BadL4;
            }
            key.set_tp_src(l4[0] as u16);
            key.set_tp_dst(l4[1] as u16);
        }
        IPPROTO_ICMPV6 if ipv6 => {
            if l4.len() < 8 {
                return Outcome::BadL4;
            }
            key.set_tp_src(l4[0] as u16);
            key.set_tp_dst(l4[1] as u16);
            // Neighbor solicitation / advertisement with code 0.
            if (l4[0] == 135 || l4[0] == 136) && l4[1] == 0 {
                return extract_nd(l4, key);
            }
        }
        _ => {}
    }
    Outcome::Complete
}

fn extract_nd(l4: &[u8], key: &mut FlowKey) -> Outcome {
    if l4.len() < 24 {
        return Outcome::BadNd;
    }
    let target = be128(l4, 8);
    let (mut sll, mut tll) = (0u64, 0u64);
    let mut off = 24;
    // As the kernel's parse_icmpv6: options are walked while 8 bytes remain
    // (a shorter tail is ignored), SLL and TLL are taken from either
    // message type, and a zero or overlong option length or a second
    // non-zero SLL/TLL makes the ND fields invalid (all zero).
    while l4.len() - off >= 8 {
        let len = l4[off + 1] as usize * 8;
        if len == 0 || l4.len() < off + len {
            return nd_invalid(key);
        }
        match l4[off] {
            1 if len == 8 => {
                if sll != 0 {
                    return nd_invalid(key);
                }
                sll = mac_at(l4, off + 2);
            }
            2 if len == 8 => {
                if tll != 0 {
                    return nd_invalid(key);
                }
                tll = mac_at(l4, off + 2);
            }
            _ => {}
        }
        off += len;
    }
    key.set_nd_target(target);
    key.set_arp_sha(sll);
    key.set_arp_tha(tll);
    Outcome::Complete
}

fn nd_invalid(key: &mut FlowKey) -> Outcome {
    key.set_nd_target(0);
    key.set_arp_sha(0);
    key.set_arp_tha(0);
    Outcome::BadNd
}
