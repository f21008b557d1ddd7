//! Header rewrites for the `Set`, `PushVlan` and `PopVlan` actions: masked
//! field sets done in place on the frame, with checksums patched incrementally.

use std::ops::{BitAnd, BitOr, Not};

use crate::action::{EthernetSet, IcmpSet, Ipv4Set, Ipv6Set, L4PortsSet, SetHeader};
use crate::packet::Packet;

/// Why a rewrite left the packet unchanged. Every function here is total over
/// the frame bytes and returns one of these rather than touching a frame that
/// lacks the header; the bytes are re-parsed rather than taken from the flow
/// key, because earlier actions in the list may have changed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModifyError {
    /// The frame does not carry the header: other ethertype or IP protocol,
    /// untagged frame, non-first fragment, or a malformed version/IHL field.
    #[error("packet has no such header")]
    NoSuchHeader,
    /// The outer headers announce the header but the frame ends inside it.
    #[error("packet truncated inside the header")]
    Truncated,
    /// No headroom left in the buffer for a pushed tag.
    #[error("no headroom to push a VLAN tag")]
    NoHeadroom,
    /// push_vlan with a TPID that our own parsing would not see as a tag.
    #[error("TPID {0:#06x} is not a VLAN ethertype")]
    BadTpid(u16),
}

const ETH_ADDRS_LEN: usize = 12;
const ETH_HLEN: usize = 14;
const VLAN_HLEN: usize = 4;
const TPID_8021Q: u16 = 0x8100;
const TPID_8021AD: u16 = 0x88a8;
const ETH_TYPE_IPV4: u16 = 0x0800;
const ETH_TYPE_IPV6: u16 = 0x86dd;

const IPV4_MIN_HLEN: usize = 20;
const IPV4_FRAG_OFFSET: u16 = 0x1fff;
const IPV6_HLEN: usize = 40;
const IPV6_LABEL: u32 = 0x000f_ffff;

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_DSTOPTS: u8 = 60;

const TCP_MIN_HLEN: usize = 20;
const TCP_CSUM: usize = 16;
const UDP_HLEN: usize = 8;
const UDP_CSUM: usize = 6;
const ICMP_HLEN: usize = 4;
const ICMP_CSUM: usize = 2;

/// Applies one masked set: each field becomes `(old & !mask) | (value & mask)`.
/// IPv4 header, TCP, UDP, ICMP and ICMPv6 checksums are patched
/// incrementally (RFC 1624) for every covered field that changed.
///
/// A GSO super-frame's L4 checksum field holds only the pseudo-header sum
/// (its segments' checksums are finished when they are cut): an address
/// change moves that sum, a port change does not touch it.
pub fn set_header(p: &mut Packet, set: &SetHeader) -> Result<(), ModifyError> {
    let g = p.meta.gso;
    if !g.is_some() {
        return set_complete(p, set);
    }
    let at = usize::from(g.csum_start) + usize::from(g.csum_offset);
    let Some(old) = be16_at(p.data(), at) else {
        return set_complete(p, set);
    };
    let put = |p: &mut Packet, v: u16| {
        if let Some(b) = p.data_mut().get_mut(at..at + 2) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    };
    match set {
        // With ~sum in the field, the complete-checksum update
        // ~(~C + ~m + m') leaves ~(sum + ~m + m'): complement back.
        SetHeader::Ipv4 { .. } | SetHeader::Ipv6 { .. } => {
            put(p, !old);
            let r = set_complete(p, set);
            let new = be16_at(p.data(), at).unwrap_or(!old);
            put(p, !new);
            r
        }
        SetHeader::Tcp { .. } | SetHeader::Udp { .. } => {
            let r = set_complete(p, set);
            put(p, old);
            r
        }
        _ => set_complete(p, set),
    }
}

fn set_complete(p: &mut Packet, set: &SetHeader) -> Result<(), ModifyError> {
    match *set {
        SetHeader::Ethernet { value, mask } => set_ethernet(p.data_mut(), &value, &mask),
        SetHeader::Vlan { tci, mask } => set_vlan_tci(p.data_mut(), tci, mask),
        SetHeader::Ipv4 { value, mask } => set_ipv4(p.data_mut(), &value, &mask),
        SetHeader::Ipv6 { value, mask } => set_ipv6(p.data_mut(), &value, &mask),
        SetHeader::Tcp { value, mask } => set_ports(p.data_mut(), IPPROTO_TCP, &value, &mask),
        SetHeader::Udp { value, mask } => set_ports(p.data_mut(), IPPROTO_UDP, &value, &mask),
        SetHeader::Icmp { value, mask } => set_icmp(p.data_mut(), &value, &mask),
        SetHeader::SkbMark { value, mask } => {
            p.meta.skb_mark = masked(p.meta.skb_mark, value, mask);
            Ok(())
        }
    }
}

/// Inserts a VLAN tag (`tpid`, `tci` written as given) between the MACs and
/// the current ethertype, making it the outermost tag. The payload does not
/// move: the MACs shift into the headroom.
pub fn push_vlan(p: &mut Packet, tpid: u16, tci: u16) -> Result<(), ModifyError> {
    if !is_vlan_tpid(tpid) {
        return Err(ModifyError::BadTpid(tpid));
    }
    if p.len() < ETH_HLEN {
        return Err(ModifyError::Truncated);
    }
    if !p.insert_gap(ETH_ADDRS_LEN, VLAN_HLEN) {
        return Err(ModifyError::NoHeadroom);
    }
    let h = chunk_mut::<{ ETH_HLEN + VLAN_HLEN }>(p.data_mut(), 0).ok_or(ModifyError::Truncated)?;
    put16(h, ETH_ADDRS_LEN, tpid);
    put16(h, ETH_ADDRS_LEN + 2, tci);
    if p.meta.gso.is_some() {
        p.meta.gso.csum_start += VLAN_HLEN as u16;
    }
    Ok(())
}

/// Removes the outermost VLAN tag (TPID 0x8100 or 0x88a8).
pub fn pop_vlan(p: &mut Packet) -> Result<(), ModifyError> {
    let tpid = be16_at(p.data(), ETH_ADDRS_LEN).ok_or(ModifyError::Truncated)?;
    if !is_vlan_tpid(tpid) {
        return Err(ModifyError::NoSuchHeader);
    }
    // Keep an ethertype after the MACs: a tag with nothing behind it is cut short.
    if p.len() < ETH_HLEN + VLAN_HLEN || !p.remove_gap(ETH_ADDRS_LEN, VLAN_HLEN) {
        return Err(ModifyError::Truncated);
    }
    if p.meta.gso.is_some() {
        p.meta.gso.csum_start = p.meta.gso.csum_start.saturating_sub(VLAN_HLEN as u16);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Per-header rewrites.

fn set_ethernet(d: &mut [u8], v: &EthernetSet, m: &EthernetSet) -> Result<(), ModifyError> {
    let h = chunk_mut::<ETH_HLEN>(d, 0).ok_or(ModifyError::Truncated)?;
    let (dst, rest) = h.split_at_mut(6);
    for (b, (v, m)) in dst.iter_mut().zip(v.dst.iter().zip(&m.dst)) {
        *b = masked(*b, *v, *m);
    }
    for (b, (v, m)) in rest.iter_mut().zip(v.src.iter().zip(&m.src)) {
        *b = masked(*b, *v, *m);
    }
    Ok(())
}

fn set_vlan_tci(d: &mut [u8], tci: u16, mask: u16) -> Result<(), ModifyError> {
    let tpid = be16_at(d, ETH_ADDRS_LEN).ok_or(ModifyError::Truncated)?;
    if !is_vlan_tpid(tpid) {
        return Err(ModifyError::NoSuchHeader);
    }
    let h = chunk_mut::<{ ETH_HLEN + VLAN_HLEN }>(d, 0).ok_or(ModifyError::Truncated)?;
    let old = get16(h, ETH_HLEN);
    put16(h, ETH_HLEN, masked(old, tci, mask));
    Ok(())
}

fn set_ipv4(d: &mut [u8], v: &Ipv4Set, m: &Ipv4Set) -> Result<(), ModifyError> {
    let l3 = ipv4_l3(d)?;
    let h = chunk_mut::<IPV4_MIN_HLEN>(d, l3.off).ok_or(ModifyError::Truncated)?;

    let old_tos = h[1];
    let new_tos = masked(old_tos, v.tos, m.tos);
    let old_ttl = h[8];
    let new_ttl = masked(old_ttl, v.ttl, m.ttl);
    let proto = h[9];
    let old_src = get32(h, 12);
    let new_src = masked(old_src, v.src, m.src);
    let old_dst = get32(h, 16);
    let new_dst = masked(old_dst, v.dst, m.dst);

    // The addresses are in the L4 pseudo-header too; tos and ttl are not.
    let mut addrs = CsumDelta::default();
    addrs.word32(old_src, new_src);
    addrs.word32(old_dst, new_dst);
    let mut hdr = addrs;
    hdr.word(
        u16::from_be_bytes([h[0], old_tos]),
        u16::from_be_bytes([h[0], new_tos]),
    );
    hdr.word(
        u16::from_be_bytes([old_ttl, proto]),
        u16::from_be_bytes([new_ttl, proto]),
    );

    h[1] = new_tos;
    h[8] = new_ttl;
    put32(h, 12, new_src);
    put32(h, 16, new_dst);
    if !hdr.is_empty() {
        put16(h, 10, hdr.apply(get16(h, 10)));
    }
    // Later fragments carry no L4 header: their first bytes are payload.
    if !addrs.is_empty() && l3.frag_offset == 0 {
        patch_l4_pseudo(d, proto, l3.off + l3.hlen, addrs, false);
    }
    Ok(())
}

fn set_ipv6(d: &mut [u8], v: &Ipv6Set, m: &Ipv6Set) -> Result<(), ModifyError> {
    let l3 = ipv6_l3(d)?;
    let h = chunk_mut::<IPV6_HLEN>(d, l3).ok_or(ModifyError::Truncated)?;

    let w0 = get32(h, 0);
    let tclass = masked((w0 >> 20) as u8, v.tclass, m.tclass);
    let label = masked(w0 & IPV6_LABEL, v.label, m.label) & IPV6_LABEL;
    put32(h, 0, (w0 & 0xf000_0000) | (u32::from(tclass) << 20) | label);
    h[7] = masked(h[7], v.hlimit, m.hlimit);

    let old_src = get128(h, 8);
    let new_src = masked(old_src, v.src, m.src);
    let old_dst = get128(h, 24);
    let new_dst = masked(old_dst, v.dst, m.dst);
    put128(h, 8, new_src);
    put128(h, 24, new_dst);

    if old_src == new_src && old_dst == new_dst {
        return Ok(());
    }
    // A chain we cannot walk (cut short, later fragment) has no L4 to fix.
    let Ok(l4) = ipv6_l4(d, l3) else {
        return Ok(());
    };
    let mut delta = CsumDelta::default();
    delta.word128(old_src, new_src);
    // With segments left in a routing header the pseudo-header holds the
    // final destination (RFC 8200 8.1), not the one being rewritten here.
    if !l4.routed {
        delta.word128(old_dst, new_dst);
    }
    if !delta.is_empty() {
        patch_l4_pseudo(d, l4.proto, l4.off, delta, true);
    }
    Ok(())
}

fn set_ports(d: &mut [u8], proto: u8, v: &L4PortsSet, m: &L4PortsSet) -> Result<(), ModifyError> {
    let l4 = locate_l4(d)?;
    if l4.proto != proto {
        return Err(ModifyError::NoSuchHeader);
    }
    if proto == IPPROTO_TCP {
        let h = chunk_mut::<TCP_MIN_HLEN>(d, l4.off).ok_or(ModifyError::Truncated)?;
        let delta = rewrite_ports(h, v, m);
        if !delta.is_empty() {
            put16(h, TCP_CSUM, delta.apply(get16(h, TCP_CSUM)));
        }
    } else {
        let h = chunk_mut::<UDP_HLEN>(d, l4.off).ok_or(ModifyError::Truncated)?;
        let delta = rewrite_ports(h, v, m);
        let csum = get16(h, UDP_CSUM);
        if !delta.is_empty() && csum != 0 {
            put16(h, UDP_CSUM, udp_csum(delta.apply(csum)));
        }
    }
    Ok(())
}

fn set_icmp(d: &mut [u8], v: &IcmpSet, m: &IcmpSet) -> Result<(), ModifyError> {
    let l4 = locate_l4(d)?;
    if l4.ipv6 || l4.proto != IPPROTO_ICMP {
        return Err(ModifyError::NoSuchHeader);
    }
    let h = chunk_mut::<ICMP_HLEN>(d, l4.off).ok_or(ModifyError::Truncated)?;
    let old = get16(h, 0);
    let new = u16::from_be_bytes([
        masked(h[0], v.icmp_type, m.icmp_type),
        masked(h[1], v.code, m.code),
    ]);
    if old != new {
        let mut delta = CsumDelta::default();
        delta.word(old, new);
        put16(h, 0, new);
        put16(h, ICMP_CSUM, delta.apply(get16(h, ICMP_CSUM)));
    }
    Ok(())
}

#[inline]
fn rewrite_ports<const N: usize>(h: &mut [u8; N], v: &L4PortsSet, m: &L4PortsSet) -> CsumDelta {
    let mut delta = CsumDelta::default();
    let src = get16(h, 0);
    let new_src = masked(src, v.src, m.src);
    let dst = get16(h, 2);
    let new_dst = masked(dst, v.dst, m.dst);
    delta.word(src, new_src);
    delta.word(dst, new_dst);
    put16(h, 0, new_src);
    put16(h, 2, new_dst);
    delta
}

/// Folds an address change into the L4 checksum, if the L4 header is whole.
/// Like the kernel, a frame cut inside L4 keeps its rewritten L3 header.
#[inline]
fn patch_l4_pseudo(d: &mut [u8], proto: u8, off: usize, delta: CsumDelta, ipv6: bool) {
    match proto {
        IPPROTO_TCP => {
            if let Some(h) = chunk_mut::<TCP_MIN_HLEN>(d, off) {
                put16(h, TCP_CSUM, delta.apply(get16(h, TCP_CSUM)));
            }
        }
        IPPROTO_UDP => {
            if let Some(h) = chunk_mut::<UDP_HLEN>(d, off) {
                let csum = get16(h, UDP_CSUM);
                if csum != 0 {
                    put16(h, UDP_CSUM, udp_csum(delta.apply(csum)));
                }
            }
        }
        // ICMPv4 has no pseudo-header; ICMPv6 does.
        IPPROTO_ICMPV6 if ipv6 => {
            if let Some(h) = chunk_mut::<ICMP_HLEN>(d, off) {
                put16(h, ICMP_CSUM, delta.apply(get16(h, ICMP_CSUM)));
            }
        }
        _ => {}
    }
}

/// Zero on the wire means "no checksum" for UDP, so a computed zero is sent
/// as its other ones'-complement form.
#[inline]
fn udp_csum(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

// ---------------------------------------------------------------------------
// Locating headers.

#[inline]
fn is_vlan_tpid(t: u16) -> bool {
    t == TPID_8021Q || t == TPID_8021AD
}

/// The ethertype and L3 offset, past at most two VLAN tags. A third tag is
/// returned as the ethertype, so no L3 rewrite applies to such a frame.
#[inline]
fn locate_l3(d: &[u8]) -> Result<(u16, usize), ModifyError> {
    let mut off = ETH_ADDRS_LEN;
    let mut ty = be16_at(d, off).ok_or(ModifyError::Truncated)?;
    for _ in 0..2 {
        if !is_vlan_tpid(ty) {
            break;
        }
        off += VLAN_HLEN;
        ty = be16_at(d, off).ok_or(ModifyError::Truncated)?;
    }
    Ok((ty, off + 2))
}

struct Ipv4L3 {
    off: usize,
    hlen: usize,
    frag_offset: u16,
}

#[inline]
fn ipv4_l3(d: &[u8]) -> Result<Ipv4L3, ModifyError> {
    let (ty, off) = locate_l3(d)?;
    if ty != ETH_TYPE_IPV4 {
        return Err(ModifyError::NoSuchHeader);
    }
    let h = chunk::<IPV4_MIN_HLEN>(d, off).ok_or(ModifyError::Truncated)?;
    let hlen = usize::from(h[0] & 0x0f) * 4;
    if h[0] >> 4 != 4 || hlen < IPV4_MIN_HLEN {
        return Err(ModifyError::NoSuchHeader);
    }
    if d.len() < off + hlen {
        return Err(ModifyError::Truncated);
    }
    Ok(Ipv4L3 {
        off,
        hlen,
        frag_offset: get16(h, 6) & IPV4_FRAG_OFFSET,
    })
}

#[inline]
fn ipv6_l3(d: &[u8]) -> Result<usize, ModifyError> {
    let (ty, off) = locate_l3(d)?;
    if ty != ETH_TYPE_IPV6 {
        return Err(ModifyError::NoSuchHeader);
    }
    let h = chunk::<IPV6_HLEN>(d, off).ok_or(ModifyError::Truncated)?;
    if h[0] >> 4 != 6 {
        return Err(ModifyError::NoSuchHeader);
    }
    Ok(off)
}

struct Ipv6L4 {
    proto: u8,
    off: usize,
    /// A routing header with segments left: the header's destination is not
    /// the one in the L4 pseudo-header.
    routed: bool,
}

/// Walks the IPv6 extension headers from the (whole) fixed header at `l3`.
fn ipv6_l4(d: &[u8], l3: usize) -> Result<Ipv6L4, ModifyError> {
    let h = chunk::<IPV6_HLEN>(d, l3).ok_or(ModifyError::Truncated)?;
    let mut proto = h[6];
    let mut off = l3 + IPV6_HLEN;
    let mut routed = false;
    // Each extension header is at least 8 bytes, so the walk ends by the
    // frame's end at the latest.
    loop {
        let len = match proto {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_FRAGMENT | IPPROTO_AH => {
                let e = chunk::<8>(d, off).ok_or(ModifyError::Truncated)?;
                let len = match proto {
                    IPPROTO_FRAGMENT => {
                        if get16(e, 2) >> 3 != 0 {
                            return Err(ModifyError::NoSuchHeader);
                        }
                        8
                    }
                    IPPROTO_AH => (usize::from(e[1]) + 2) * 4,
                    _ => (usize::from(e[1]) + 1) * 8,
                };
                routed |= proto == IPPROTO_ROUTING && e[3] != 0;
                proto = e[0];
                len
            }
            _ => return Ok(Ipv6L4 { proto, off, routed }),
        };
        off += len;
    }
}

struct L4 {
    ipv6: bool,
    proto: u8,
    off: usize,
}

#[inline]
fn locate_l4(d: &[u8]) -> Result<L4, ModifyError> {
    match locate_l3(d)?.0 {
        ETH_TYPE_IPV4 => {
            let l3 = ipv4_l3(d)?;
            if l3.frag_offset != 0 {
                return Err(ModifyError::NoSuchHeader);
            }
            let proto = chunk::<IPV4_MIN_HLEN>(d, l3.off).ok_or(ModifyError::Truncated)?[9];
            Ok(L4 {
                ipv6: false,
                proto,
                off: l3.off + l3.hlen,
            })
        }
        ETH_TYPE_IPV6 => {
            let l4 = ipv6_l4(d, ipv6_l3(d)?)?;
            Ok(L4 {
                ipv6: true,
                proto: l4.proto,
                off: l4.off,
            })
        }
        _ => Err(ModifyError::NoSuchHeader),
    }
}

// ---------------------------------------------------------------------------
// Bytes and checksums. Header views are fixed-size arrays taken with a length
// check, so the constant-offset accesses below cannot go out of bounds.

#[inline(always)]
fn masked<T>(old: T, value: T, mask: T) -> T
where
    T: Copy + BitAnd<Output = T> + BitOr<Output = T> + Not<Output = T>,
{
    (old & !mask) | (value & mask)
}

#[inline(always)]
fn chunk<const N: usize>(d: &[u8], off: usize) -> Option<&[u8; N]> {
    d.get(off..)?.first_chunk()
}

#[inline(always)]
fn chunk_mut<const N: usize>(d: &mut [u8], off: usize) -> Option<&mut [u8; N]> {
    d.get_mut(off..)?.first_chunk_mut()
}

#[inline(always)]
fn be16_at(d: &[u8], off: usize) -> Option<u16> {
    chunk::<2>(d, off).map(|b| u16::from_be_bytes(*b))
}

#[inline(always)]
fn get16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes([h[at], h[at + 1]])
}

#[inline(always)]
fn put16<const N: usize>(h: &mut [u8; N], at: usize, v: u16) {
    [h[at], h[at + 1]] = v.to_be_bytes();
}

#[inline(always)]
fn get32<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]])
}

#[inline(always)]
fn put32<const N: usize>(h: &mut [u8; N], at: usize, v: u32) {
    [h[at], h[at + 1], h[at + 2], h[at + 3]] = v.to_be_bytes();
}

#[inline(always)]
fn get128<const N: usize>(h: &[u8; N], at: usize) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[at..at + 16]);
    u128::from_be_bytes(b)
}

#[inline(always)]
fn put128<const N: usize>(h: &mut [u8; N], at: usize, v: u128) {
    h[at..at + 16].copy_from_slice(&v.to_be_bytes());
}

/// A pending RFC 1624 update: the sum of `~m + m'` over the 16-bit words
/// that changed, applied to a checksum as `HC' = ~(~HC + ~m + m')`.
#[derive(Clone, Copy, Default)]
struct CsumDelta(u32);

impl CsumDelta {
    #[inline(always)]
    fn word(&mut self, old: u16, new: u16) {
        if old != new {
            // At most 16 words per delta (two IPv6 addresses): no overflow.
            self.0 += u32::from(!old) + u32::from(new);
        }
    }

    #[inline(always)]
    fn word32(&mut self, old: u32, new: u32) {
        self.word((old >> 16) as u16, (new >> 16) as u16);
        self.word(old as u16, new as u16);
    }

    #[inline(always)]
    fn word128(&mut self, old: u128, new: u128) {
        if old != new {
            for shift in (0..128).step_by(16) {
                self.word((old >> shift) as u16, (new >> shift) as u16);
            }
        }
    }

    #[inline(always)]
    fn is_empty(self) -> bool {
        self.0 == 0
    }

    #[inline(always)]
    fn apply(self, hc: u16) -> u16 {
        !fold(u32::from(!hc) + self.0)
    }
}

#[inline(always)]
fn fold(mut s: u32) -> u16 {
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    s as u16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::HEADROOM;
    use etherparse::{
        ip_number, IpAuthHeader, IpFragOffset, IpHeaders, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header,
        Ipv4Options, Ipv6Extensions, Ipv6FlowLabel, Ipv6FragmentHeader, Ipv6Header,
        Ipv6RawExtHeader, Ipv6RoutingExtensions, LinkHeader, NetHeaders, PacketBuilder,
        PacketHeaders, SingleVlanHeader, TransportHeader, VlanHeader, VlanId, VlanPcp,
    };
    use proptest::prelude::*;

    const SMAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x01];
    const DMAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x02];
    const SIP4: [u8; 4] = [10, 0, 0, 1];
    const DIP4: [u8; 4] = [192, 168, 7, 200];
    const SIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DIP6: [u8; 16] = [
        0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
    ];

    /// Odd length, so checksums cover a trailing half word.
    fn payload() -> Vec<u8> {
        (0..37u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect()
    }

    macro_rules! build {
        ($b:expr) => {
            build!($b, &payload())
        };
        ($b:expr, $pl:expr) => {{
            let b = $b;
            let pl: &[u8] = $pl;
            let mut v = Vec::with_capacity(b.size(pl.len()));
            b.write(&mut v, pl).unwrap();
            v
        }};
    }

    fn vid(v: u16) -> VlanId {
        VlanId::try_new(v).unwrap()
    }

    fn ipv6_hdr() -> Ipv6Header {
        Ipv6Header {
            traffic_class: 0x28,
            flow_label: Ipv6FlowLabel::try_new(0x12345).unwrap(),
            hop_limit: 64,
            source: SIP6,
            destination: DIP6,
            ..Default::default()
        }
    }

    fn ipv4_tcp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ipv4(SIP4, DIP4, 64)
            .tcp(1234, 80, 0x1000_0000, 4096))
    }
    fn ipv4_udp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ipv4(SIP4, DIP4, 64)
            .udp(5353, 53))
    }
    fn ipv4_udp_nocsum() -> Vec<u8> {
        let mut f = ipv4_udp();
        f[ETH_HLEN + 20 + UDP_CSUM] = 0;
        f[ETH_HLEN + 20 + UDP_CSUM + 1] = 0;
        f
    }
    fn ipv4_icmp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ipv4(SIP4, DIP4, 64)
            .icmpv4_echo_request(7, 9))
    }
    fn ipv4_opts_tcp() -> Vec<u8> {
        let mut ip = Ipv4Header::new(0, 32, ip_number::TCP, SIP4, DIP4).unwrap();
        ip.options = Ipv4Options::try_from(&[1u8, 1, 1, 1, 7, 3, 4, 0][..]).unwrap();
        ip.dscp = Ipv4Dscp::try_new(10).unwrap();
        ip.ecn = Ipv4Ecn::try_new(1).unwrap();
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ip(IpHeaders::Ipv4(ip, Default::default()))
            .tcp(40000, 22, 1, 512))
    }
    fn ipv4_later_fragment() -> Vec<u8> {
        let mut ip = Ipv4Header::new(0, 64, ip_number::UDP, SIP4, DIP4).unwrap();
        ip.fragment_offset = IpFragOffset::try_new(100).unwrap();
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ip(IpHeaders::Ipv4(ip, Default::default()))
            .udp(5353, 53))
    }
    fn vlan_ipv4_tcp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .single_vlan(vid(100))
            .ipv4(SIP4, DIP4, 64)
            .tcp(1234, 80, 7, 4096))
    }
    fn qinq_ipv4_tcp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .double_vlan(vid(200), vid(100))
            .ipv4(SIP4, DIP4, 64)
            .tcp(1234, 80, 7, 4096))
    }
    fn ipv6_tcp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ip(IpHeaders::Ipv6(ipv6_hdr(), Default::default()))
            .tcp(1234, 80, 0x1000_0000, 4096))
    }
    fn ipv6_udp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ipv6(SIP6, DIP6, 64)
            .udp(5353, 53))
    }
    fn ipv6_hbh_udp() -> Vec<u8> {
        let exts = Ipv6Extensions {
            hop_by_hop_options: Some(
                Ipv6RawExtHeader::new_raw(ip_number::UDP, &[5, 2, 0, 0, 1, 0]).unwrap(),
            ),
            ..Default::default()
        };
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ip(IpHeaders::Ipv6(ipv6_hdr(), exts))
            .udp(5353, 53))
    }
    /// Hop-by-hop, destination options and AH before TCP.
    fn ipv6_exts_tcp() -> Vec<u8> {
        let exts = Ipv6Extensions {
            hop_by_hop_options: Some(
                Ipv6RawExtHeader::new_raw(ip_number::TCP, &[1, 4, 0, 0, 0, 0]).unwrap(),
            ),
            destination_options: Some(
                Ipv6RawExtHeader::new_raw(
                    ip_number::TCP,
                    &[1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                )
                .unwrap(),
            ),
            auth: Some(IpAuthHeader::new(ip_number::TCP, 0x100, 1, &[0xaa; 12]).unwrap()),
            ..Default::default()
        };
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ip(IpHeaders::Ipv6(ipv6_hdr(), exts))
            .tcp(1234, 80, 99, 4096))
    }
    fn ipv6_icmpv6() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ipv6(SIP6, DIP6, 255)
            .icmpv6_echo_request(7, 9))
    }
    fn vlan_ipv6_udp() -> Vec<u8> {
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .single_vlan(vid(4094))
            .ipv6(SIP6, DIP6, 64)
            .udp(5353, 53))
    }
    /// A routing header with `segments_left` before UDP.
    fn ipv6_routed_udp(segments_left: u8) -> Vec<u8> {
        let mut rh = vec![0u8, segments_left, 0, 0, 0, 0];
        rh.extend_from_slice(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99,
        ]);
        let exts = Ipv6Extensions {
            routing: Some(Ipv6RoutingExtensions {
                routing: Ipv6RawExtHeader::new_raw(ip_number::UDP, &rh).unwrap(),
                final_destination_options: None,
            }),
            ..Default::default()
        };
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ip(IpHeaders::Ipv6(ipv6_hdr(), exts))
            .udp(5353, 53))
    }
    fn ipv6_later_fragment() -> Vec<u8> {
        let exts = Ipv6Extensions {
            fragment: Some(Ipv6FragmentHeader::new(
                ip_number::UDP,
                IpFragOffset::try_new(100).unwrap(),
                false,
                0x1234,
            )),
            ..Default::default()
        };
        build!(PacketBuilder::ethernet2(SMAC, DMAC)
            .ip(IpHeaders::Ipv6(ipv6_hdr(), exts))
            .udp(5353, 53))
    }

    fn ipv4_frames() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("ipv4_tcp", ipv4_tcp()),
            ("ipv4_udp", ipv4_udp()),
            ("ipv4_udp_nocsum", ipv4_udp_nocsum()),
            ("ipv4_icmp", ipv4_icmp()),
            ("ipv4_opts_tcp", ipv4_opts_tcp()),
            ("ipv4_later_fragment", ipv4_later_fragment()),
            ("vlan_ipv4_tcp", vlan_ipv4_tcp()),
            ("qinq_ipv4_tcp", qinq_ipv4_tcp()),
        ]
    }

    fn ipv6_frames() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("ipv6_tcp", ipv6_tcp()),
            ("ipv6_udp", ipv6_udp()),
            ("ipv6_hbh_udp", ipv6_hbh_udp()),
            ("ipv6_exts_tcp", ipv6_exts_tcp()),
            ("ipv6_icmpv6", ipv6_icmpv6()),
            ("vlan_ipv6_udp", vlan_ipv6_udp()),
            ("ipv6_routed0_udp", ipv6_routed_udp(0)),
            ("ipv6_later_fragment", ipv6_later_fragment()),
        ]
    }

    fn all_frames() -> Vec<(&'static str, Vec<u8>)> {
        let mut v = ipv4_frames();
        v.extend(ipv6_frames());
        v.push(("ipv6_routed1_udp", ipv6_routed_udp(1)));
        v
    }

    fn ipv4_sets() -> Vec<SetHeader> {
        let none = Ipv4Set::default();
        vec![
            SetHeader::ipv4_exact(Ipv4Set {
                src: 0xc0a8_0101,
                dst: 0x0a0a_0a0a,
                tos: 0xb8,
                ttl: 3,
            }),
            SetHeader::Ipv4 {
                value: Ipv4Set {
                    src: 0xac10_0000,
                    ..none
                },
                mask: Ipv4Set {
                    src: 0xffff_0000,
                    ..none
                },
            },
            SetHeader::Ipv4 {
                value: Ipv4Set {
                    dst: 0x0000_00ff,
                    ..none
                },
                mask: Ipv4Set {
                    dst: 0x0000_0f0f,
                    ..none
                },
            },
            SetHeader::Ipv4 {
                value: Ipv4Set { tos: 0xff, ..none },
                mask: Ipv4Set { tos: 0xfc, ..none },
            },
            SetHeader::Ipv4 {
                value: Ipv4Set { ttl: 1, ..none },
                mask: Ipv4Set { ttl: 0xff, ..none },
            },
            // Value bits outside the mask must not leak in.
            SetHeader::Ipv4 {
                value: Ipv4Set {
                    src: u32::MAX,
                    dst: u32::MAX,
                    tos: 0xff,
                    ttl: 0xff,
                },
                mask: Ipv4Set {
                    src: 0x00ff_00ff,
                    dst: 0,
                    tos: 0x03,
                    ttl: 0x0f,
                },
            },
        ]
    }

    fn ipv6_sets() -> Vec<SetHeader> {
        let none = Ipv6Set::default();
        let all = Ipv6Set {
            src: u128::MAX,
            dst: u128::MAX,
            tclass: 0xff,
            hlimit: 0xff,
            label: IPV6_LABEL,
        };
        vec![
            SetHeader::Ipv6 {
                value: Ipv6Set {
                    src: 0x2001_0db8_0000_0000_0000_0000_dead_beef,
                    dst: 0xfd00_0000_0000_0000_0000_0000_0000_0042,
                    tclass: 0x2e,
                    hlimit: 9,
                    label: 0xabcde,
                },
                mask: all,
            },
            SetHeader::Ipv6 {
                value: Ipv6Set {
                    src: 0xfd12_3456_789a_0001 << 64,
                    ..none
                },
                mask: Ipv6Set {
                    src: u128::MAX << 64,
                    ..none
                },
            },
            SetHeader::Ipv6 {
                value: Ipv6Set {
                    dst: 0x5555_0000_ffff,
                    ..none
                },
                mask: Ipv6Set {
                    dst: 0x0f0f_ffff_f0f0,
                    ..none
                },
            },
            SetHeader::Ipv6 {
                value: Ipv6Set {
                    tclass: 0xff,
                    ..none
                },
                mask: Ipv6Set {
                    tclass: 0xfc,
                    ..none
                },
            },
            SetHeader::Ipv6 {
                value: Ipv6Set {
                    label: 0xfffff,
                    ..none
                },
                mask: Ipv6Set {
                    label: 0x000ff,
                    ..none
                },
            },
            SetHeader::Ipv6 {
                value: Ipv6Set { hlimit: 1, ..none },
                mask: Ipv6Set {
                    hlimit: 0xff,
                    ..none
                },
            },
            // Value bits outside the mask (and above the 20-bit label) must not leak in.
            SetHeader::Ipv6 {
                value: Ipv6Set {
                    src: u128::MAX,
                    dst: u128::MAX,
                    tclass: 0xff,
                    hlimit: 0xff,
                    label: u32::MAX,
                },
                mask: Ipv6Set {
                    src: 0xff,
                    dst: 1 << 127,
                    tclass: 0x0f,
                    hlimit: 0x80,
                    label: u32::MAX,
                },
            },
        ]
    }

    fn port_sets(tcp: bool) -> Vec<SetHeader> {
        let mk = |value: L4PortsSet, mask: L4PortsSet| {
            if tcp {
                SetHeader::Tcp { value, mask }
            } else {
                SetHeader::Udp { value, mask }
            }
        };
        let none = L4PortsSet::default();
        vec![
            mk(
                L4PortsSet {
                    src: 4000,
                    dst: 443,
                },
                L4PortsSet {
                    src: 0xffff,
                    dst: 0xffff,
                },
            ),
            mk(
                L4PortsSet {
                    src: 0xab00,
                    ..none
                },
                L4PortsSet {
                    src: 0xff00,
                    ..none
                },
            ),
            mk(
                L4PortsSet {
                    src: 0xffff,
                    dst: 0xffff,
                },
                L4PortsSet {
                    src: 0,
                    dst: 0x00f0,
                },
            ),
        ]
    }

    fn other_sets() -> Vec<SetHeader> {
        vec![
            SetHeader::ethernet_exact([0x0a; 6], [0x0b; 6]),
            SetHeader::Ethernet {
                value: EthernetSet {
                    src: [0xff; 6],
                    dst: [0x11; 6],
                },
                mask: EthernetSet {
                    src: [0, 0, 0, 0, 0, 0x0f],
                    dst: [0xff, 0, 0xf0, 0, 0, 0],
                },
            },
            SetHeader::Vlan {
                tci: 0xa064,
                mask: 0xffff,
            },
            SetHeader::Vlan {
                tci: 0x0123,
                mask: 0x0fff,
            },
            SetHeader::Icmp {
                value: IcmpSet {
                    icmp_type: 0,
                    code: 0,
                },
                mask: IcmpSet {
                    icmp_type: 0xff,
                    code: 0xff,
                },
            },
            SetHeader::Icmp {
                value: IcmpSet {
                    icmp_type: 0xff,
                    code: 3,
                },
                mask: IcmpSet {
                    icmp_type: 0,
                    code: 0xff,
                },
            },
            SetHeader::SkbMark {
                value: 0xdead_beef,
                mask: 0xffff_0000,
            },
        ]
    }

    fn all_sets() -> Vec<SetHeader> {
        let mut v = ipv4_sets();
        v.extend(ipv6_sets());
        v.extend(port_sets(true));
        v.extend(port_sets(false));
        v.extend(other_sets());
        v
    }

    fn tci_of(s: &SingleVlanHeader) -> u16 {
        (u16::from(s.pcp.value()) << 13)
            | (u16::from(s.drop_eligible_indicator) << 12)
            | s.vlan_id.value()
    }

    /// What etherparse should see after `set`, computed on the parsed headers
    /// (checksums excepted: `copy_checksums` takes them from the result).
    fn model<'a>(before: &PacketHeaders<'a>, set: &SetHeader) -> PacketHeaders<'a> {
        let mut e = before.clone();
        match *set {
            SetHeader::Ethernet { value, mask } => {
                if let Some(LinkHeader::Ethernet2(eth)) = &mut e.link {
                    for i in 0..6 {
                        eth.source[i] = masked(eth.source[i], value.src[i], mask.src[i]);
                        eth.destination[i] = masked(eth.destination[i], value.dst[i], mask.dst[i]);
                    }
                }
            }
            SetHeader::Vlan { tci, mask } => {
                let s = match &mut e.vlan {
                    Some(VlanHeader::Single(s)) => s,
                    Some(VlanHeader::Double(d)) => &mut d.outer,
                    None => return e,
                };
                let t = masked(tci_of(s), tci, mask);
                s.pcp = VlanPcp::try_new((t >> 13) as u8).unwrap();
                s.drop_eligible_indicator = t & 0x1000 != 0;
                s.vlan_id = VlanId::try_new(t & 0x0fff).unwrap();
            }
            SetHeader::Ipv4 { value, mask } => {
                if let Some(NetHeaders::Ipv4(ip, _)) = &mut e.net {
                    ip.source =
                        masked(u32::from_be_bytes(ip.source), value.src, mask.src).to_be_bytes();
                    ip.destination =
                        masked(u32::from_be_bytes(ip.destination), value.dst, mask.dst)
                            .to_be_bytes();
                    let tos = masked((ip.dscp.value() << 2) | ip.ecn.value(), value.tos, mask.tos);
                    ip.dscp = Ipv4Dscp::try_new(tos >> 2).unwrap();
                    ip.ecn = Ipv4Ecn::try_new(tos & 3).unwrap();
                    ip.time_to_live = masked(ip.time_to_live, value.ttl, mask.ttl);
                }
            }
            SetHeader::Ipv6 { value, mask } => {
                if let Some(NetHeaders::Ipv6(ip, _)) = &mut e.net {
                    ip.source =
                        masked(u128::from_be_bytes(ip.source), value.src, mask.src).to_be_bytes();
                    ip.destination =
                        masked(u128::from_be_bytes(ip.destination), value.dst, mask.dst)
                            .to_be_bytes();
                    ip.traffic_class = masked(ip.traffic_class, value.tclass, mask.tclass);
                    ip.hop_limit = masked(ip.hop_limit, value.hlimit, mask.hlimit);
                    let label = masked(ip.flow_label.value(), value.label, mask.label) & IPV6_LABEL;
                    ip.flow_label = Ipv6FlowLabel::try_new(label).unwrap();
                }
            }
            SetHeader::Tcp { value, mask } => {
                if let Some(TransportHeader::Tcp(t)) = &mut e.transport {
                    t.source_port = masked(t.source_port, value.src, mask.src);
                    t.destination_port = masked(t.destination_port, value.dst, mask.dst);
                }
            }
            SetHeader::Udp { value, mask } => {
                if let Some(TransportHeader::Udp(u)) = &mut e.transport {
                    u.source_port = masked(u.source_port, value.src, mask.src);
                    u.destination_port = masked(u.destination_port, value.dst, mask.dst);
                }
            }
            SetHeader::Icmp { value, mask } => {
                if let Some(TransportHeader::Icmpv4(i)) = &mut e.transport {
                    let mut b = i.to_bytes();
                    b[0] = masked(b[0], value.icmp_type, mask.icmp_type);
                    b[1] = masked(b[1], value.code, mask.code);
                    *i = etherparse::Icmpv4Header::from_slice(&b).unwrap().0;
                }
            }
            SetHeader::SkbMark { .. } => {}
        }
        e
    }

    fn copy_checksums(e: &mut PacketHeaders<'_>, after: &PacketHeaders<'_>) {
        if let (Some(NetHeaders::Ipv4(x, _)), Some(NetHeaders::Ipv4(y, _))) =
            (&mut e.net, &after.net)
        {
            x.header_checksum = y.header_checksum;
        }
        match (&mut e.transport, &after.transport) {
            (Some(TransportHeader::Tcp(x)), Some(TransportHeader::Tcp(y))) => {
                x.checksum = y.checksum
            }
            (Some(TransportHeader::Udp(x)), Some(TransportHeader::Udp(y))) => {
                x.checksum = y.checksum
            }
            (Some(TransportHeader::Icmpv4(x)), Some(TransportHeader::Icmpv4(y))) => {
                x.checksum = y.checksum
            }
            (Some(TransportHeader::Icmpv6(x)), Some(TransportHeader::Icmpv6(y))) => {
                x.checksum = y.checksum
            }
            _ => {}
        }
    }

    /// Every checksum in the frame, recomputed in full by etherparse.
    fn verify_checksums(frame: &[u8]) {
        let h = PacketHeaders::from_ethernet_slice(frame).expect("reparse");
        let pl = h.payload.slice();
        match &h.net {
            Some(NetHeaders::Ipv4(ip, _)) => {
                assert_eq!(
                    ip.header_checksum,
                    ip.calc_header_checksum(),
                    "IPv4 header checksum"
                );
                match &h.transport {
                    Some(TransportHeader::Tcp(t)) => {
                        assert_eq!(
                            t.checksum,
                            t.calc_checksum_ipv4(ip, pl).unwrap(),
                            "TCP/IPv4 checksum"
                        )
                    }
                    Some(TransportHeader::Udp(u)) if u.checksum != 0 => {
                        assert_eq!(
                            u.checksum,
                            u.calc_checksum_ipv4(ip, pl).unwrap(),
                            "UDP/IPv4 checksum"
                        )
                    }
                    Some(TransportHeader::Icmpv4(i)) => {
                        assert_eq!(i.checksum, i.icmp_type.calc_checksum(pl), "ICMP checksum")
                    }
                    _ => {}
                }
            }
            Some(NetHeaders::Ipv6(ip, _)) => match &h.transport {
                Some(TransportHeader::Tcp(t)) => {
                    assert_eq!(
                        t.checksum,
                        t.calc_checksum_ipv6(ip, pl).unwrap(),
                        "TCP/IPv6 checksum"
                    )
                }
                Some(TransportHeader::Udp(u)) if u.checksum != 0 => {
                    assert_eq!(
                        u.checksum,
                        u.calc_checksum_ipv6(ip, pl).unwrap(),
                        "UDP/IPv6 checksum"
                    )
                }
                Some(TransportHeader::Icmpv6(i)) => assert_eq!(
                    i.checksum,
                    i.icmp_type
                        .calc_checksum(ip.source, ip.destination, pl)
                        .unwrap(),
                    "ICMPv6 checksum"
                ),
                _ => {}
            },
            None => {}
        }
    }

    fn apply(frame: &[u8], set: &SetHeader) -> (Result<(), ModifyError>, Packet) {
        let mut p = Packet::from_slice(frame);
        let r = set_header(&mut p, set);
        (r, p)
    }

    /// Applies `set`, which must succeed, and checks the result against the
    /// model and a full recomputation of every checksum. Returns the frame.
    fn check_set(name: &str, frame: &[u8], set: &SetHeader) -> Vec<u8> {
        let (r, p) = apply(frame, set);
        assert_eq!(r, Ok(()), "{name}: {set:?}");
        let out = p.data().to_vec();
        assert_eq!(out.len(), frame.len());
        let before = PacketHeaders::from_ethernet_slice(frame).unwrap();
        let after = PacketHeaders::from_ethernet_slice(&out).unwrap();
        let mut expect = model(&before, set);
        copy_checksums(&mut expect, &after);
        assert_eq!(expect, after, "{name}: {set:?}");
        verify_checksums(&out);
        out
    }

    fn check_rejected(frame: &[u8], set: &SetHeader, err: ModifyError) {
        let (r, p) = apply(frame, set);
        assert_eq!(r, Err(err), "{set:?}");
        assert_eq!(p.data(), frame, "rejected set changed the frame: {set:?}");
    }

    fn udp_csum_of(frame: &[u8]) -> u16 {
        match PacketHeaders::from_ethernet_slice(frame).unwrap().transport {
            Some(TransportHeader::Udp(u)) => u.checksum,
            t => panic!("not UDP: {t:?}"),
        }
    }

    #[test]
    fn rfc1624_example() {
        // RFC 1624 section 4: eqn. 3 gives 0x0000 where eqn. 2 gave 0xFFFF.
        let mut d = CsumDelta::default();
        d.word(0x5555, 0x3285);
        assert_eq!(d.apply(0xdd2f), 0x0000);
    }

    #[test]
    fn test_frames_start_valid() {
        for (name, f) in all_frames() {
            let h =
                PacketHeaders::from_ethernet_slice(&f).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(h.transport.is_some(), !name.contains("fragment"), "{name}");
            verify_checksums(&f);
        }
        assert_eq!(udp_csum_of(&ipv4_udp_nocsum()), 0);
    }

    #[test]
    fn ipv4_sets_rewrite_fields_and_checksums() {
        for (name, f) in ipv4_frames() {
            for set in ipv4_sets() {
                let out = check_set(name, &f, &set);
                if name == "ipv4_udp_nocsum" {
                    assert_eq!(udp_csum_of(&out), 0, "zero UDP checksum must stay zero");
                }
            }
        }
    }

    #[test]
    fn ipv4_address_change_moves_l4_checksum() {
        // Guards against a pass where nothing was patched and nothing needed to be.
        let set = SetHeader::ipv4_exact(Ipv4Set {
            src: 0x0102_0304,
            dst: 0x0506_0708,
            tos: 0,
            ttl: 64,
        });
        for f in [ipv4_tcp(), ipv4_udp()] {
            let out = check_set("ipv4", &f, &set);
            assert_ne!(
                out[ETH_HLEN + 10..ETH_HLEN + 12],
                f[ETH_HLEN + 10..ETH_HLEN + 12]
            );
            assert_ne!(out[ETH_HLEN + 20..], f[ETH_HLEN + 20..]);
        }
    }

    #[test]
    fn ipv4_later_fragment_keeps_l4_bytes() {
        let f = ipv4_later_fragment();
        let out = check_set("frag", &f, &ipv4_sets()[0]);
        assert_eq!(out[ETH_HLEN + 20..], f[ETH_HLEN + 20..]);
        check_rejected(&f, &SetHeader::udp_exact(1, 2), ModifyError::NoSuchHeader);
    }

    #[test]
    fn ipv6_sets_rewrite_fields_and_checksums() {
        for (name, f) in ipv6_frames() {
            for set in ipv6_sets() {
                check_set(name, &f, &set);
            }
        }
    }

    #[test]
    fn ipv6_routing_header_keeps_final_destination_in_checksum() {
        let f = ipv6_routed_udp(1);
        let csum = udp_csum_of(&f);
        let dst_only = SetHeader::Ipv6 {
            value: Ipv6Set {
                dst: 1,
                ..Default::default()
            },
            mask: Ipv6Set {
                dst: u128::MAX,
                ..Default::default()
            },
        };
        let (r, p) = apply(&f, &dst_only);
        assert_eq!(r, Ok(()));
        assert_eq!(udp_csum_of(p.data()), csum);
        // The source is in the pseudo-header whatever the routing header says.
        let src_only = SetHeader::Ipv6 {
            value: Ipv6Set {
                src: 1,
                ..Default::default()
            },
            mask: Ipv6Set {
                src: u128::MAX,
                ..Default::default()
            },
        };
        check_set("routed", &f, &src_only);
    }

    #[test]
    fn ipv6_later_fragment_has_no_l4() {
        let f = ipv6_later_fragment();
        let out = check_set("frag6", &f, &ipv6_sets()[0]);
        assert_eq!(out[out.len() - 45..], f[f.len() - 45..]);
        check_rejected(&f, &SetHeader::udp_exact(1, 2), ModifyError::NoSuchHeader);
    }

    #[test]
    fn tcp_ports() {
        for (name, f) in [
            ("ipv4_tcp", ipv4_tcp()),
            ("ipv4_opts_tcp", ipv4_opts_tcp()),
            ("vlan_ipv4_tcp", vlan_ipv4_tcp()),
            ("qinq_ipv4_tcp", qinq_ipv4_tcp()),
            ("ipv6_tcp", ipv6_tcp()),
            ("ipv6_exts_tcp", ipv6_exts_tcp()),
        ] {
            for set in port_sets(true) {
                check_set(name, &f, &set);
            }
        }
    }

    #[test]
    fn udp_ports() {
        for (name, f) in [
            ("ipv4_udp", ipv4_udp()),
            ("ipv4_udp_nocsum", ipv4_udp_nocsum()),
            ("ipv6_udp", ipv6_udp()),
            ("ipv6_hbh_udp", ipv6_hbh_udp()),
            ("vlan_ipv6_udp", vlan_ipv6_udp()),
        ] {
            for set in port_sets(false) {
                let out = check_set(name, &f, &set);
                if name == "ipv4_udp_nocsum" {
                    assert_eq!(udp_csum_of(&out), 0);
                }
            }
        }
    }

    #[test]
    fn udp_checksum_never_becomes_zero() {
        let f = ipv4_udp();
        let (c, s) = (u32::from(udp_csum_of(&f)), 5353u32);
        // The source port that makes eqn. 3 come out as 0: ~C + ~s + s' = -0.
        let target = fold(c + s);
        let out = check_set(
            "udp",
            &f,
            &SetHeader::Udp {
                value: L4PortsSet {
                    src: target,
                    dst: 0,
                },
                mask: L4PortsSet {
                    src: 0xffff,
                    dst: 0,
                },
            },
        );
        assert_eq!(udp_csum_of(&out), 0xffff);
    }

    #[test]
    fn icmp_type_and_code() {
        let f = ipv4_icmp();
        for set in other_sets()
            .iter()
            .filter(|s| matches!(s, SetHeader::Icmp { .. }))
        {
            check_set("icmp", &f, set);
        }
    }

    #[test]
    fn ethernet_and_vlan() {
        for (name, f) in [
            ("ipv4_tcp", ipv4_tcp()),
            ("vlan", vlan_ipv4_tcp()),
            ("qinq", qinq_ipv4_tcp()),
            ("v6", ipv6_udp()),
        ] {
            for set in other_sets()
                .iter()
                .filter(|s| matches!(s, SetHeader::Ethernet { .. }))
            {
                check_set(name, &f, set);
            }
        }
        for (name, f) in [
            ("vlan", vlan_ipv4_tcp()),
            ("qinq", qinq_ipv4_tcp()),
            ("vlan6", vlan_ipv6_udp()),
        ] {
            for set in other_sets()
                .iter()
                .filter(|s| matches!(s, SetHeader::Vlan { .. }))
            {
                check_set(name, &f, set);
            }
        }
        check_rejected(
            &ipv4_tcp(),
            &SetHeader::Vlan {
                tci: 5,
                mask: 0xffff,
            },
            ModifyError::NoSuchHeader,
        );
    }

    #[test]
    fn skb_mark_is_masked() {
        let mut p = Packet::from_slice(&ipv4_tcp());
        p.meta.skb_mark = 0x1234_5678;
        set_header(
            &mut p,
            &SetHeader::SkbMark {
                value: 0xdead_beef,
                mask: 0xffff_0000,
            },
        )
        .unwrap();
        assert_eq!(p.meta.skb_mark, 0xdead_5678);
        assert_eq!(p.data(), &ipv4_tcp()[..]);
    }

    #[test]
    fn wrong_header_kind_is_rejected_unchanged() {
        let v4 = SetHeader::ipv4_exact(Ipv4Set::default());
        let v6 = ipv6_sets()[0];
        let icmp = other_sets()[4];
        check_rejected(&ipv6_tcp(), &v4, ModifyError::NoSuchHeader);
        check_rejected(&ipv4_tcp(), &v6, ModifyError::NoSuchHeader);
        check_rejected(
            &ipv4_udp(),
            &SetHeader::tcp_exact(1, 2),
            ModifyError::NoSuchHeader,
        );
        check_rejected(
            &ipv4_tcp(),
            &SetHeader::udp_exact(1, 2),
            ModifyError::NoSuchHeader,
        );
        check_rejected(
            &ipv4_icmp(),
            &SetHeader::udp_exact(1, 2),
            ModifyError::NoSuchHeader,
        );
        check_rejected(&ipv4_tcp(), &icmp, ModifyError::NoSuchHeader);
        check_rejected(&ipv6_icmpv6(), &icmp, ModifyError::NoSuchHeader);
        // A third tag hides the L3 header.
        let mut p = Packet::from_slice(&qinq_ipv4_tcp());
        push_vlan(&mut p, TPID_8021Q, 7).unwrap();
        check_rejected(p.data(), &v4, ModifyError::NoSuchHeader);
        // IPv4 ethertype with an IPv6 version nibble.
        let mut f = ipv4_tcp();
        f[ETH_HLEN] = 0x65;
        check_rejected(&f, &v4, ModifyError::NoSuchHeader);
        check_rejected(&f, &SetHeader::tcp_exact(1, 2), ModifyError::NoSuchHeader);
    }

    #[test]
    fn push_then_pop_restores_the_frame() {
        for (name, f) in all_frames() {
            let mut p = Packet::from_slice(&f);
            push_vlan(&mut p, TPID_8021Q, 0x2005).unwrap();
            assert_eq!(p.len(), f.len() + 4);
            let orig = PacketHeaders::from_ethernet_slice(&f).unwrap();
            if matches!(orig.vlan, Some(VlanHeader::Double(_))) {
                // etherparse stops at two tags; a third is checked by bytes.
                assert_eq!(&p.data()[12..16], &[0x81, 0x00, 0x20, 0x05]);
                assert_eq!(&p.data()[16..], &f[12..]);
                pop_vlan(&mut p).unwrap();
                assert_eq!(p.data(), &f[..], "{name}");
                continue;
            }
            let h = PacketHeaders::from_ethernet_slice(p.data()).unwrap();
            let outer = match &h.vlan {
                Some(VlanHeader::Single(s)) => s,
                Some(VlanHeader::Double(d)) => &d.outer,
                None => panic!("{name}: no tag after push"),
            };
            assert_eq!(outer.vlan_id.value(), 5, "{name}");
            assert_eq!(outer.pcp.value(), 1, "{name}");
            assert_eq!(
                (h.net, h.transport, h.payload.slice()),
                (orig.net, orig.transport, orig.payload.slice())
            );
            pop_vlan(&mut p).unwrap();
            assert_eq!(p.data(), &f[..], "{name}");
        }
    }

    #[test]
    fn push_on_tagged_frame_makes_qinq() {
        let f = vlan_ipv4_tcp();
        let mut p = Packet::from_slice(&f);
        push_vlan(&mut p, TPID_8021AD, 300).unwrap();
        assert_eq!(&p.data()[12..14], &[0x88, 0xa8]);
        let h = PacketHeaders::from_ethernet_slice(p.data()).unwrap();
        let Some(VlanHeader::Double(d)) = h.vlan else {
            panic!("not double tagged: {:?}", h.vlan)
        };
        assert_eq!(d.outer.vlan_id.value(), 300);
        assert_eq!(d.inner.vlan_id.value(), 100);
        assert!(matches!(h.transport, Some(TransportHeader::Tcp(_))));
        verify_checksums(p.data());
        // The TCI set now hits the new outer tag only.
        let out = check_set(
            "qinq",
            p.data(),
            &SetHeader::Vlan {
                tci: 301,
                mask: 0x0fff,
            },
        );
        assert_eq!(&out[14..16], &[0x01, 0x2d]);
        assert_eq!(&out[18..20], &f[14..16]);
        pop_vlan(&mut p).unwrap();
        assert_eq!(p.data(), &f[..]);
    }

    #[test]
    fn push_and_pop_errors() {
        let f = ipv4_tcp();
        let mut p = Packet::from_slice(&f);
        assert_eq!(pop_vlan(&mut p), Err(ModifyError::NoSuchHeader));
        assert_eq!(
            push_vlan(&mut p, 0x0800, 1),
            Err(ModifyError::BadTpid(0x0800))
        );
        assert_eq!(p.data(), &f[..]);
        for _ in 0..HEADROOM / VLAN_HLEN {
            push_vlan(&mut p, TPID_8021Q, 1).unwrap();
        }
        let full = p.data().to_vec();
        assert_eq!(
            push_vlan(&mut p, TPID_8021Q, 1),
            Err(ModifyError::NoHeadroom)
        );
        assert_eq!(p.data(), &full[..]);
        for _ in 0..HEADROOM / VLAN_HLEN {
            pop_vlan(&mut p).unwrap();
        }
        assert_eq!(p.data(), &f[..]);

        let mut short = Packet::from_slice(&f[..13]);
        assert_eq!(
            push_vlan(&mut short, TPID_8021Q, 1),
            Err(ModifyError::Truncated)
        );
        let mut tag_only = Packet::from_slice(&vlan_ipv4_tcp()[..16]);
        assert_eq!(pop_vlan(&mut tag_only), Err(ModifyError::Truncated));
        assert_eq!(tag_only.len(), 16);
    }

    #[test]
    fn every_prefix_is_safe() {
        let sets = all_sets();
        for (name, f) in all_frames() {
            for len in 0..=f.len() {
                let prefix = &f[..len];
                for set in &sets {
                    let (r, p) = apply(prefix, set);
                    if r.is_err() {
                        assert_eq!(
                            p.data(),
                            prefix,
                            "{name}[..{len}]: {set:?} failed but changed bytes"
                        );
                    }
                }
                let mut p = Packet::from_slice(prefix);
                if push_vlan(&mut p, TPID_8021Q, 9).is_ok() {
                    pop_vlan(&mut p).unwrap();
                }
                assert_eq!(p.data(), prefix);
                let _ = pop_vlan(&mut p);
            }
        }
    }

    #[test]
    fn truncated_ip_header_is_rejected() {
        let f = ipv4_tcp();
        check_rejected(&f[..ETH_HLEN + 19], &ipv4_sets()[0], ModifyError::Truncated);
        check_rejected(
            &f[..ETH_HLEN + 20 + 19],
            &SetHeader::tcp_exact(1, 2),
            ModifyError::Truncated,
        );
        let f = ipv6_hbh_udp();
        check_rejected(&f[..ETH_HLEN + 39], &ipv6_sets()[0], ModifyError::Truncated);
        check_rejected(
            &f[..ETH_HLEN + 40 + 7],
            &SetHeader::udp_exact(1, 2),
            ModifyError::Truncated,
        );
    }

    #[derive(Clone, Debug)]
    struct FrameSpec {
        v6: bool,
        tcp: bool,
        vlans: u8,
        hbh: bool,
        udp_nocsum: bool,
        src: [u8; 16],
        dst: [u8; 16],
        tos: u8,
        label: u32,
        ttl: u8,
        ports: (u16, u16),
        payload: Vec<u8>,
    }

    fn frame_spec() -> impl Strategy<Value = FrameSpec> {
        (
            (
                any::<bool>(),
                any::<bool>(),
                0u8..=2,
                any::<bool>(),
                any::<bool>(),
            ),
            (
                any::<[u8; 16]>(),
                any::<[u8; 16]>(),
                any::<u8>(),
                0u32..=IPV6_LABEL,
                any::<u8>(),
            ),
            (
                any::<(u16, u16)>(),
                proptest::collection::vec(any::<u8>(), 0..80),
            ),
        )
            .prop_map(
                |(
                    (v6, tcp, vlans, hbh, udp_nocsum),
                    (src, dst, tos, label, ttl),
                    (ports, payload),
                )| {
                    FrameSpec {
                        v6,
                        tcp,
                        vlans,
                        hbh,
                        udp_nocsum,
                        src,
                        dst,
                        tos,
                        label,
                        ttl,
                        ports,
                        payload,
                    }
                },
            )
    }

    fn build_frame(s: &FrameSpec) -> Vec<u8> {
        let ip = if s.v6 {
            let hdr = Ipv6Header {
                traffic_class: s.tos,
                flow_label: Ipv6FlowLabel::try_new(s.label).unwrap(),
                hop_limit: s.ttl,
                source: s.src,
                destination: s.dst,
                ..Default::default()
            };
            let next = if s.tcp {
                ip_number::TCP
            } else {
                ip_number::UDP
            };
            let exts = Ipv6Extensions {
                hop_by_hop_options: s
                    .hbh
                    .then(|| Ipv6RawExtHeader::new_raw(next, &[0; 14]).unwrap()),
                ..Default::default()
            };
            IpHeaders::Ipv6(hdr, exts)
        } else {
            let mut hdr = Ipv4Header::new(
                0,
                s.ttl,
                IpNumber(0),
                [s.src[0], s.src[1], s.src[2], s.src[3]],
                [s.dst[0], s.dst[1], s.dst[2], s.dst[3]],
            )
            .unwrap();
            hdr.dscp = Ipv4Dscp::try_new(s.tos >> 2).unwrap();
            hdr.ecn = Ipv4Ecn::try_new(s.tos & 3).unwrap();
            IpHeaders::Ipv4(hdr, Default::default())
        };
        let eth = PacketBuilder::ethernet2(SMAC, DMAC);
        let step = match s.vlans {
            0 => eth.ip(ip),
            1 => eth.single_vlan(vid(s.ports.0 & 0xfff)).ip(ip),
            _ => eth
                .double_vlan(vid(s.ports.1 & 0xfff), vid(s.ports.0 & 0xfff))
                .ip(ip),
        };
        let (sp, dp) = s.ports;
        if s.tcp {
            build!(step.tcp(sp, dp, u32::from(sp) << 8, 1024), &s.payload)
        } else {
            let mut f = build!(step.udp(sp, dp), &s.payload);
            if s.udp_nocsum && !s.v6 {
                let at = f.len() - s.payload.len() - UDP_HLEN + UDP_CSUM;
                f[at] = 0;
                f[at + 1] = 0;
            }
            f
        }
    }

    fn maybe<T: std::fmt::Debug + Clone + 'static>(
        s: impl Strategy<Value = T> + 'static,
        zero: T,
        ones: T,
    ) -> BoxedStrategy<T> {
        prop_oneof![Just(zero), Just(ones), s].boxed()
    }

    fn set_specs(
    ) -> impl Strategy<Value = (Ipv4Set, Ipv4Set, Ipv6Set, Ipv6Set, L4PortsSet, L4PortsSet)> {
        let v4 = (any::<u32>(), any::<u32>(), any::<u8>(), any::<u8>())
            .prop_map(|(src, dst, tos, ttl)| Ipv4Set { src, dst, tos, ttl });
        let m4 = (
            maybe(any::<u32>(), 0, !0),
            maybe(any::<u32>(), 0, !0),
            maybe(any::<u8>(), 0, !0),
            maybe(any::<u8>(), 0, !0),
        )
            .prop_map(|(src, dst, tos, ttl)| Ipv4Set { src, dst, tos, ttl });
        let v6 = (
            any::<u128>(),
            any::<u128>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
        )
            .prop_map(|(src, dst, tclass, hlimit, label)| Ipv6Set {
                src,
                dst,
                tclass,
                hlimit,
                label,
            });
        let m6 = (
            maybe(any::<u128>(), 0, !0),
            maybe(any::<u128>(), 0, !0),
            maybe(any::<u8>(), 0, !0),
            maybe(any::<u8>(), 0, !0),
            maybe(any::<u32>(), 0, IPV6_LABEL),
        )
            .prop_map(|(src, dst, tclass, hlimit, label)| Ipv6Set {
                src,
                dst,
                tclass,
                hlimit,
                label,
            });
        let p = any::<(u16, u16)>().prop_map(|(src, dst)| L4PortsSet { src, dst });
        let mp = (maybe(any::<u16>(), 0, !0), maybe(any::<u16>(), 0, !0))
            .prop_map(|(src, dst)| L4PortsSet { src, dst });
        (v4, m4, v6, m6, p, mp)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn random_rewrites_keep_checksums_valid(spec in frame_spec(), sets in set_specs()) {
            let (v4, m4, v6, m6, p, mp) = sets;
            let f = build_frame(&spec);
            let ip = if spec.v6 { SetHeader::Ipv6 { value: v6, mask: m6 } } else { SetHeader::Ipv4 { value: v4, mask: m4 } };
            let ports = if spec.tcp { SetHeader::Tcp { value: p, mask: mp } } else { SetHeader::Udp { value: p, mask: mp } };
            let once = check_set("random", &f, &ip);
            let twice = check_set("random", &once, &ports);
            if spec.udp_nocsum && !spec.v6 && !spec.tcp {
                prop_assert_eq!(udp_csum_of(&twice), 0);
            }
            // The other family and protocol leave the frame alone.
            let other_ip = if spec.v6 { SetHeader::Ipv4 { value: v4, mask: m4 } } else { SetHeader::Ipv6 { value: v6, mask: m6 } };
            check_rejected(&twice, &other_ip, ModifyError::NoSuchHeader);
        }

        #[test]
        fn random_bytes_never_panic(
            ty in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100), Just(0x88a8), any::<u16>()],
            ty2 in prop_oneof![Just(0x0800u16), Just(0x86dd), Just(0x8100)],
            vnib in prop_oneof![Just(0x45u8), Just(0x60), any::<u8>()],
            mut body in proptest::collection::vec(any::<u8>(), 0..120),
            which in 0usize..40,
        ) {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&ty.to_be_bytes());
            if is_vlan_tpid(ty) {
                f.extend_from_slice(&[0, 1]);
                f.extend_from_slice(&ty2.to_be_bytes());
            }
            if let Some(b) = body.first_mut() {
                *b = vnib;
            }
            f.extend_from_slice(&body);
            let sets = all_sets();
            let set = &sets[which % sets.len()];
            let (r, p) = apply(&f, set);
            if r.is_err() {
                prop_assert_eq!(p.data(), &f[..]);
            }
            let mut p = Packet::from_slice(&f);
            let _ = pop_vlan(&mut p);
            let _ = push_vlan(&mut p, TPID_8021AD, 1);
        }
    }
}
