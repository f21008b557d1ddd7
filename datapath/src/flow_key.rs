//! The flow key: every field a megaflow can match, in a fixed layout of u64
//! words so that masking, hashing and comparing are tight loops over words.
//!
//! Field values are host-order integers (an IPv4 address is
//! `u32::from_be_bytes(wire)`), each at a fixed (word, shift, width) slot.
//! The layout follows the kernel's `sw_flow_key`: metadata first, then L2,
//! L3, L4, so that masks of typical megaflows touch few words.

/// Number of u64 words in a key.
pub const KEY_WORDS: usize = 22;

/// VLAN TCI bit that marks a tag as present (Open vSwitch's VLAN_CFI).
pub const VLAN_PRESENT: u16 = 0x1000;
/// Ethertype recorded for 802.3 frames without a SNAP header.
pub const ETH_TYPE_NONE: u16 = 0x05ff;

/// `nw_frag` bits.
pub const FRAG_ANY: u8 = 1;
pub const FRAG_LATER: u8 = 2;

/// A flow key (also used, with all-ones fields, as a mask).
#[derive(Clone, Copy, Eq, Default)]
#[repr(C, align(64))]
pub struct FlowKey {
    pub words: [u64; KEY_WORDS],
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.words.hash(h);
    }
}

impl PartialEq for FlowKey {
    /// Word-wise XOR/OR, which the compiler vectorizes; the derived
    /// comparison calls memcmp, several times slower for 176 bytes.
    #[inline]
    fn eq(&self, other: &FlowKey) -> bool {
        let mut diff = 0;
        for i in 0..KEY_WORDS {
            diff |= self.words[i] ^ other.words[i];
        }
        diff == 0
    }
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $name:ident, $set:ident : $ty:ty = $word:literal, $shift:literal, $bits:literal; )*) => {
        impl FlowKey {
            $(
                $(#[$doc])*
                #[inline(always)]
                pub fn $name(&self) -> $ty {
                    const MASK: u64 = if $bits == 64 { u64::MAX } else { (1u64 << $bits) - 1 };
                    ((self.words[$word] >> $shift) & MASK) as $ty
                }
                #[inline(always)]
                pub fn $set(&mut self, v: $ty) {
                    const MASK: u64 = if $bits == 64 { u64::MAX } else { (1u64 << $bits) - 1 };
                    let w = &mut self.words[$word];
                    *w = (*w & !(MASK << $shift)) | (((v as u64) & MASK) << $shift);
                }
            )*
        }

        /// Every field: name, word, shift and width in bits (for masks,
        /// printing and tests).
        pub const FIELDS: &[FieldDesc] = &[
            $( FieldDesc { name: stringify!($name), word: $word, shift: $shift, bits: $bits }, )*
        ];
    };
}

/// Where a field lives in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDesc {
    pub name: &'static str,
    pub word: usize,
    pub shift: u32,
    pub bits: u32,
}

impl FieldDesc {
    /// The field's value in `key`.
    pub fn get(&self, key: &FlowKey) -> u64 {
        let mask = if self.bits == 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        };
        (key.words[self.word] >> self.shift) & mask
    }

    /// Sets the field's value in `key` (extra high bits are dropped).
    pub fn set(&self, key: &mut FlowKey, v: u64) {
        let mask = if self.bits == 64 {
            u64::MAX
        } else {
            (1u64 << self.bits) - 1
        };
        let w = &mut key.words[self.word];
        *w = (*w & !(mask << self.shift)) | ((v & mask) << self.shift);
    }

    /// Looks a field up by name.
    pub fn by_name(name: &str) -> Option<&'static FieldDesc> {
        FIELDS.iter().find(|f| f.name == name)
    }
}

fields! {
    /// Datapath port the packet came in on.
    in_port, set_in_port: u32 = 0, 0, 32;
    recirc_id, set_recirc_id: u32 = 0, 32, 32;
    dp_hash, set_dp_hash: u32 = 1, 0, 32;
    skb_mark, set_skb_mark: u32 = 1, 32, 32;
    ct_state, set_ct_state: u16 = 2, 0, 16;
    ct_zone, set_ct_zone: u16 = 2, 16, 16;
    ct_mark, set_ct_mark: u32 = 2, 32, 32;
    ct_label_lo, set_ct_label_lo: u64 = 3, 0, 64;
    ct_label_hi, set_ct_label_hi: u64 = 4, 0, 64;
    tun_id, set_tun_id: u64 = 5, 0, 64;
    tun_src, set_tun_src: u32 = 6, 0, 32;
    tun_dst, set_tun_dst: u32 = 6, 32, 32;
    tun_tp_src, set_tun_tp_src: u16 = 7, 0, 16;
    tun_tp_dst, set_tun_tp_dst: u16 = 7, 16, 16;
    tun_tos, set_tun_tos: u8 = 7, 32, 8;
    tun_ttl, set_tun_ttl: u8 = 7, 40, 8;
    tun_flags, set_tun_flags: u16 = 7, 48, 16;
    /// Destination MAC as a 48-bit integer (first octet most significant).
    eth_dst, set_eth_dst: u64 = 8, 0, 48;
    /// Outer VLAN TCI with VLAN_PRESENT set when a tag is there.
    vlan_tci, set_vlan_tci: u16 = 8, 48, 16;
    eth_src, set_eth_src: u64 = 9, 0, 48;
    vlan_tpid, set_vlan_tpid: u16 = 9, 48, 16;
    /// Inner (customer) VLAN of a double-tagged frame.
    cvlan_tci, set_cvlan_tci: u16 = 10, 0, 16;
    cvlan_tpid, set_cvlan_tpid: u16 = 10, 16, 16;
    /// The whole IPv4 TOS / IPv6 traffic class byte (DSCP and ECN).
    nw_tos, set_nw_tos: u8 = 10, 32, 8;
    nw_ttl, set_nw_ttl: u8 = 10, 40, 8;
    tcp_flags, set_tcp_flags: u16 = 10, 48, 16;
    /// Innermost ethertype (after VLAN tags), or ETH_TYPE_NONE. It shares a
    /// word with the protocol and ports so that a 5-tuple megaflow's mask
    /// spans three words (in_port, this one, the addresses).
    eth_type, set_eth_type: u16 = 11, 0, 16;
    /// IP protocol, or the low byte of the ARP opcode.
    nw_proto, set_nw_proto: u8 = 11, 16, 8;
    nw_frag, set_nw_frag: u8 = 11, 24, 8;
    /// L4 source port, or ICMP type.
    tp_src, set_tp_src: u16 = 11, 32, 16;
    /// L4 destination port, or ICMP code.
    tp_dst, set_tp_dst: u16 = 11, 48, 16;
    /// IPv4 source, or ARP SPA.
    nw_src, set_nw_src: u32 = 12, 0, 32;
    /// IPv4 destination, or ARP TPA.
    nw_dst, set_nw_dst: u32 = 12, 32, 32;
    ipv6_src_hi, set_ipv6_src_hi: u64 = 13, 0, 64;
    ipv6_src_lo, set_ipv6_src_lo: u64 = 14, 0, 64;
    ipv6_dst_hi, set_ipv6_dst_hi: u64 = 15, 0, 64;
    ipv6_dst_lo, set_ipv6_dst_lo: u64 = 16, 0, 64;
    ipv6_label, set_ipv6_label: u32 = 17, 0, 20;
    /// ARP SHA, or ND source link-layer address.
    arp_sha, set_arp_sha: u64 = 18, 0, 48;
    /// ARP THA, or ND target link-layer address.
    arp_tha, set_arp_tha: u64 = 19, 0, 48;
    nd_target_hi, set_nd_target_hi: u64 = 20, 0, 64;
    nd_target_lo, set_nd_target_lo: u64 = 21, 0, 64;
}

impl FlowKey {
    pub const ZERO: FlowKey = FlowKey {
        words: [0; KEY_WORDS],
    };

    /// A key with every bit set: the mask of an exact match.
    pub const EXACT: FlowKey = FlowKey {
        words: [u64::MAX; KEY_WORDS],
    };

    /// True if any tunnel field is non-zero (words 5-7 hold them all).
    pub fn has_tunnel(&self) -> bool {
        self.words[5..=7].iter().any(|w| *w != 0)
    }

    pub fn ipv6_src(&self) -> u128 {
        ((self.ipv6_src_hi() as u128) << 64) | self.ipv6_src_lo() as u128
    }
    pub fn set_ipv6_src(&mut self, v: u128) {
        self.set_ipv6_src_hi((v >> 64) as u64);
        self.set_ipv6_src_lo(v as u64);
    }
    pub fn ipv6_dst(&self) -> u128 {
        ((self.ipv6_dst_hi() as u128) << 64) | self.ipv6_dst_lo() as u128
    }
    pub fn set_ipv6_dst(&mut self, v: u128) {
        self.set_ipv6_dst_hi((v >> 64) as u64);
        self.set_ipv6_dst_lo(v as u64);
    }
    pub fn nd_target(&self) -> u128 {
        ((self.nd_target_hi() as u128) << 64) | self.nd_target_lo() as u128
    }
    pub fn set_nd_target(&mut self, v: u128) {
        self.set_nd_target_hi((v >> 64) as u64);
        self.set_nd_target_lo(v as u64);
    }
    pub fn ct_label(&self) -> u128 {
        ((self.ct_label_hi() as u128) << 64) | self.ct_label_lo() as u128
    }
    pub fn set_ct_label(&mut self, v: u128) {
        self.set_ct_label_hi((v >> 64) as u64);
        self.set_ct_label_lo(v as u64);
    }

    /// `self & mask`, word by word.
    #[inline]
    pub fn masked(&self, mask: &FlowKey) -> FlowKey {
        let mut out = FlowKey::ZERO;
        for i in 0..KEY_WORDS {
            out.words[i] = self.words[i] & mask.words[i];
        }
        out
    }

    /// True if `self` and `other` agree on every bit set in `mask`.
    #[inline]
    pub fn matches(&self, other: &FlowKey, mask: &FlowKey) -> bool {
        let mut diff = 0;
        for i in 0..KEY_WORDS {
            diff |= (self.words[i] ^ other.words[i]) & mask.words[i];
        }
        diff == 0
    }

    /// Hash of every word, for the exact-match cache: four lanes, each a
    /// chain of xor-multiply (odd constants, so no word's bits are lost),
    /// then one folded multiply. Weaker than [`hash_words`] but about half
    /// the cost, and the cache compares whole keys anyway.
    #[inline]
    pub fn hash(&self) -> u64 {
        let w = &self.words;
        let mut l = [HASH_KEYS[0], HASH_KEYS[1], HASH_KEYS[2], HASH_KEYS[3]];
        for chunk in w.chunks_exact(4) {
            for j in 0..4 {
                l[j] = (l[j] ^ chunk[j]).wrapping_mul(LANE_MULS[j]);
            }
        }
        for (j, x) in w.chunks_exact(4).remainder().iter().enumerate() {
            l[j] = (l[j] ^ x).wrapping_mul(LANE_MULS[j]);
        }
        fold_mul(l[0] ^ l[2].rotate_left(32), l[1] ^ l[3].rotate_left(32))
    }

    /// Fields with a non-zero value, `name=0x..`, for logs and test failures.
    pub fn describe(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        for f in FIELDS {
            let v = f.get(self);
            if v != 0 {
                if !s.is_empty() {
                    s.push(',');
                }
                let _ = write!(s, "{}={:#x}", f.name, v);
            }
        }
        s
    }
}

impl std::fmt::Debug for FlowKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlowKey({})", self.describe())
    }
}

const HASH_KEYS: [u64; 4] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d0,
    0x082e_fa98_ec4e_6c89,
];

/// Odd multipliers of the EMC hash lanes.
const LANE_MULS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0xd6e8_feb8_6659_fd93,
];

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = (a as u128).wrapping_mul(b as u128);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Hashes a run of key words. Words are taken in pairs, each pair folded
/// through one 64x64->128 multiply; the multiplies are independent, so the
/// whole key hashes in a few nanoseconds (a chained hash would be ~4x slower
/// and the exact-match cache pays this on every packet).
#[inline]
pub fn hash_words(words: &[u64]) -> u64 {
    let mut acc = (words.len() as u64).wrapping_mul(HASH_KEYS[3]);
    let mut pairs = words.chunks_exact(2);
    let mut i = 0u64;
    for p in &mut pairs {
        let k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        acc = acc.wrapping_add(fold_mul(p[0] ^ HASH_KEYS[0] ^ k, p[1] ^ HASH_KEYS[1] ^ k));
        i += 1;
    }
    if let [last] = pairs.remainder() {
        acc = acc.wrapping_add(fold_mul(*last ^ HASH_KEYS[2], HASH_KEYS[1] ^ i));
    }
    fold_mul(acc ^ HASH_KEYS[2], HASH_KEYS[3])
}

/// Formats a 48-bit MAC held as an integer.
pub fn fmt_mac(mac: u64) -> String {
    let b = mac.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

/// A MAC from its six wire bytes.
#[inline]
pub fn mac_from_bytes(b: &[u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

/// The six wire bytes of a MAC held as an integer.
#[inline]
pub fn mac_to_bytes(mac: u64) -> [u8; 6] {
    let b = mac.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let mut used = [0u64; KEY_WORDS];
        for f in FIELDS {
            let mask = if f.bits == 64 {
                u64::MAX
            } else {
                (1u64 << f.bits) - 1
            } << f.shift;
            assert!(f.shift + f.bits <= 64, "{} spills its word", f.name);
            assert_eq!(used[f.word] & mask, 0, "{} overlaps", f.name);
            used[f.word] |= mask;
        }
    }

    #[test]
    fn setters_round_trip_and_stay_in_their_bits() {
        for f in FIELDS {
            let mut k = FlowKey::ZERO;
            f.set(&mut k, u64::MAX);
            assert_eq!(f.get(&k).count_ones(), f.bits, "{}", f.name);
            for g in FIELDS.iter().filter(|g| g.name != f.name) {
                assert_eq!(g.get(&k), 0, "setting {} touched {}", f.name, g.name);
            }
        }
        let mut k = FlowKey::ZERO;
        k.set_ipv6_src(0x2001_0db8_0000_0000_0000_0000_0000_0001);
        assert_eq!(k.ipv6_src(), 0x2001_0db8_0000_0000_0000_0000_0000_0001);
        k.set_eth_dst(mac_from_bytes(&[0, 0x11, 0x22, 0x33, 0x44, 0x55]));
        assert_eq!(fmt_mac(k.eth_dst()), "00:11:22:33:44:55");
    }
}
