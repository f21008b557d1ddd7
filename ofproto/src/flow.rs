//! The pipeline flow: what the OpenFlow tables match on. It is the datapath
//! flow key (same words, same layout, so a megaflow mask is the first
//! [`KEY_WORDS`] words of the pipeline's wildcards) followed by the fields
//! that exist only while a packet is in the pipeline: registers, metadata,
//! conj_id, actset_output, and which Geneve options (`tun_metadataN`) a
//! match asks for.
//!
//! Each OpenFlow match field maps to one or more bit slots of these words;
//! several fields share slots as in Open vSwitch (tcp_src, udp_src and
//! icmp_type are all `tp_src`; xreg0 is reg0:reg1; vlan_vid is the low 13
//! bits of the TCI, OFPVID_PRESENT being the TCI's present bit).

use oxvs_datapath::flow_key::{FlowKey, KEY_WORDS};

use crate::ofp::field::Field;
use crate::ofp::matching::Match;

/// Words of a pipeline flow.
pub const FLOW_WORDS: usize = KEY_WORDS + 11;

/// A pipeline flow (or a mask over one).
pub type FlowWords = [u64; FLOW_WORDS];

const REGS: usize = KEY_WORDS; // reg0..reg15: two per word, even reg high
const METADATA: usize = KEY_WORDS + 8;
const CONJ_ACTSET: usize = KEY_WORDS + 9; // conj_id high, actset_output low
/// Bit N: the flow matches `tun_metadataN`, which needs Geneve option N
/// to be present (as in Open vSwitch's `tunnel.metadata.present.map`).
///
/// Only presence is in the words. The datapath extracts no Geneve options,
/// so this word is 0 for every packet and a flow matching any
/// `tun_metadata` field never matches one; the option values matter only
/// to tell flows apart, which the flow tables do from the flows' matches
/// (see [`crate::tlv`]). When the datapath learns Geneve options, their
/// values need words of their own here.
pub const TUN_MD_PRESENT: usize = KEY_WORDS + 10;

/// A run of `bits` bits at `shift` in word `word`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub word: usize,
    pub shift: u32,
    pub bits: u32,
}

const fn s(word: usize, shift: u32, bits: u32) -> Slot {
    Slot { word, shift, bits }
}

/// Why a field cannot be matched or set here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowFieldError {
    #[error("field {0} is not supported by this switch")]
    Unsupported(&'static str),
}

/// Where `field` lives, most significant slot first. The slots of a field
/// hold exactly `field`'s significant bits (e.g. 13 for vlan_vid).
pub fn slots(field: Field) -> Result<&'static [Slot], FlowFieldError> {
    use Field::*;
    // Layout of the datapath key words, see oxvs_datapath::flow_key.
    const IN_PORT: &[Slot] = &[s(0, 0, 32)];
    const RECIRC: &[Slot] = &[s(0, 32, 32)];
    const DP_HASH: &[Slot] = &[s(1, 0, 32)];
    const MARK: &[Slot] = &[s(1, 32, 32)];
    const CT_STATE: &[Slot] = &[s(2, 0, 8)];
    const CT_ZONE: &[Slot] = &[s(2, 16, 16)];
    const CT_MARK: &[Slot] = &[s(2, 32, 32)];
    const CT_LABEL: &[Slot] = &[s(4, 0, 64), s(3, 0, 64)];
    const TUN_ID: &[Slot] = &[s(5, 0, 64)];
    const TUN_SRC: &[Slot] = &[s(6, 0, 32)];
    const TUN_DST: &[Slot] = &[s(6, 32, 32)];
    const TUN_FLAGS: &[Slot] = &[s(7, 48, 1)];
    const ETH_DST: &[Slot] = &[s(8, 0, 48)];
    const VLAN_TCI: &[Slot] = &[s(8, 48, 16)];
    const VLAN_VID: &[Slot] = &[s(8, 48, 13)];
    const VLAN_PCP: &[Slot] = &[s(8, 61, 3)];
    const ETH_SRC: &[Slot] = &[s(9, 0, 48)];
    const NW_TOS: &[Slot] = &[s(10, 32, 8)];
    const DSCP: &[Slot] = &[s(10, 34, 6)];
    const ECN: &[Slot] = &[s(10, 32, 2)];
    const NW_TTL: &[Slot] = &[s(10, 40, 8)];
    const TCP_FLAGS: &[Slot] = &[s(10, 48, 12)];
    const ETH_TYPE: &[Slot] = &[s(11, 0, 16)];
    const NW_PROTO: &[Slot] = &[s(11, 16, 8)];
    const NW_FRAG: &[Slot] = &[s(11, 24, 2)];
    const TP_SRC: &[Slot] = &[s(11, 32, 16)];
    const TP_DST: &[Slot] = &[s(11, 48, 16)];
    const ICMP_TYPE: &[Slot] = &[s(11, 32, 8)];
    const ICMP_CODE: &[Slot] = &[s(11, 48, 8)];
    const NW_SRC: &[Slot] = &[s(12, 0, 32)];
    const NW_DST: &[Slot] = &[s(12, 32, 32)];
    const V6_SRC: &[Slot] = &[s(13, 0, 64), s(14, 0, 64)];
    const V6_DST: &[Slot] = &[s(15, 0, 64), s(16, 0, 64)];
    const V6_LABEL: &[Slot] = &[s(17, 0, 20)];
    const SHA: &[Slot] = &[s(18, 0, 48)];
    const THA: &[Slot] = &[s(19, 0, 48)];
    const ND_TARGET: &[Slot] = &[s(20, 0, 64), s(21, 0, 64)];
    const METADATA_S: &[Slot] = &[s(METADATA, 0, 64)];
    const CONJ: &[Slot] = &[s(CONJ_ACTSET, 32, 32)];
    const ACTSET: &[Slot] = &[s(CONJ_ACTSET, 0, 32)];
    const REG: [&[Slot]; 16] = [
        &[s(REGS, 32, 32)],
        &[s(REGS, 0, 32)],
        &[s(REGS + 1, 32, 32)],
        &[s(REGS + 1, 0, 32)],
        &[s(REGS + 2, 32, 32)],
        &[s(REGS + 2, 0, 32)],
        &[s(REGS + 3, 32, 32)],
        &[s(REGS + 3, 0, 32)],
        &[s(REGS + 4, 32, 32)],
        &[s(REGS + 4, 0, 32)],
        &[s(REGS + 5, 32, 32)],
        &[s(REGS + 5, 0, 32)],
        &[s(REGS + 6, 32, 32)],
        &[s(REGS + 6, 0, 32)],
        &[s(REGS + 7, 32, 32)],
        &[s(REGS + 7, 0, 32)],
    ];
    const XREG: [&[Slot]; 8] = [
        &[s(REGS, 0, 64)],
        &[s(REGS + 1, 0, 64)],
        &[s(REGS + 2, 0, 64)],
        &[s(REGS + 3, 0, 64)],
        &[s(REGS + 4, 0, 64)],
        &[s(REGS + 5, 0, 64)],
        &[s(REGS + 6, 0, 64)],
        &[s(REGS + 7, 0, 64)],
    ];
    const XXREG: [&[Slot]; 4] = [
        &[s(REGS, 0, 64), s(REGS + 1, 0, 64)],
        &[s(REGS + 2, 0, 64), s(REGS + 3, 0, 64)],
        &[s(REGS + 4, 0, 64), s(REGS + 5, 0, 64)],
        &[s(REGS + 6, 0, 64), s(REGS + 7, 0, 64)],
    ];
    Ok(match field {
        InPort => IN_PORT,
        RecircId => RECIRC,
        DpHash => DP_HASH,
        PktMark => MARK,
        CtState => CT_STATE,
        CtZone => CT_ZONE,
        CtMark => CT_MARK,
        CtLabel => CT_LABEL,
        TunnelId => TUN_ID,
        TunSrc => TUN_SRC,
        TunDst => TUN_DST,
        TunFlags => TUN_FLAGS,
        EthDst => ETH_DST,
        EthSrc => ETH_SRC,
        EthType => ETH_TYPE,
        VlanTci => VLAN_TCI,
        VlanVid => VLAN_VID,
        VlanPcp => VLAN_PCP,
        NwTos => NW_TOS,
        IpDscp => DSCP,
        IpEcn => ECN,
        NwTtl => NW_TTL,
        IpProto => NW_PROTO,
        IpFrag => NW_FRAG,
        TcpFlags => TCP_FLAGS,
        TcpSrc | UdpSrc | SctpSrc => TP_SRC,
        TcpDst | UdpDst | SctpDst => TP_DST,
        Icmpv4Type | Icmpv6Type => ICMP_TYPE,
        Icmpv4Code | Icmpv6Code => ICMP_CODE,
        Ipv4Src | ArpSpa => NW_SRC,
        Ipv4Dst | ArpTpa => NW_DST,
        // The key keeps the opcodes that fit a byte, as Open vSwitch does.
        ArpOp => NW_PROTO,
        ArpSha | NdSll => SHA,
        ArpTha | NdTll => THA,
        Ipv6Src => V6_SRC,
        Ipv6Dst => V6_DST,
        Ipv6Flabel => V6_LABEL,
        NdTarget => ND_TARGET,
        Metadata => METADATA_S,
        ConjId => CONJ,
        ActsetOutput => ACTSET,
        Reg0 => REG[0],
        Reg1 => REG[1],
        Reg2 => REG[2],
        Reg3 => REG[3],
        Reg4 => REG[4],
        Reg5 => REG[5],
        Reg6 => REG[6],
        Reg7 => REG[7],
        Reg8 => REG[8],
        Reg9 => REG[9],
        Reg10 => REG[10],
        Reg11 => REG[11],
        Reg12 => REG[12],
        Reg13 => REG[13],
        Reg14 => REG[14],
        Reg15 => REG[15],
        Xreg0 => XREG[0],
        Xreg1 => XREG[1],
        Xreg2 => XREG[2],
        Xreg3 => XREG[3],
        Xreg4 => XREG[4],
        Xreg5 => XREG[5],
        Xreg6 => XREG[6],
        Xreg7 => XREG[7],
        Xxreg0 => XXREG[0],
        Xxreg1 => XXREG[1],
        Xxreg2 => XXREG[2],
        Xxreg3 => XXREG[3],
        other => return Err(FlowFieldError::Unsupported(other.name())),
    })
}

fn ones(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// Total significant bits of a field here.
pub fn width(field: Field) -> Result<u32, FlowFieldError> {
    Ok(slots(field)?.iter().map(|s| s.bits).sum())
}

/// Writes the low bits of `value` into `field`'s slots (bits beyond the
/// field's width are dropped).
pub fn put(flow: &mut FlowWords, field: Field, value: u128) -> Result<(), FlowFieldError> {
    let mut rest = width(field)?;
    for sl in slots(field)? {
        rest -= sl.bits;
        let v = ((value >> rest) as u64) & ones(sl.bits);
        let w = &mut flow[sl.word];
        *w = (*w & !(ones(sl.bits) << sl.shift)) | (v << sl.shift);
    }
    Ok(())
}

/// Reads `field` from its slots.
pub fn get(flow: &FlowWords, field: Field) -> Result<u128, FlowFieldError> {
    let mut v = 0u128;
    for sl in slots(field)? {
        v = (v << sl.bits) | ((flow[sl.word] >> sl.shift) & ones(sl.bits)) as u128;
    }
    Ok(v)
}

/// A match as (key, mask) pipeline words: what the classifier stores.
pub fn match_words(m: &Match) -> Result<(FlowWords, FlowWords), FlowFieldError> {
    let mut key = [0u64; FLOW_WORDS];
    let mut mask = [0u64; FLOW_WORDS];
    for e in m.entries() {
        if let Some(n) = crate::tlv::tun_metadata_index(e.field) {
            key[TUN_MD_PRESENT] |= 1 << n;
            mask[TUN_MD_PRESENT] |= 1 << n;
            continue;
        }
        let v = e
            .value
            .to_u128()
            .ok_or(FlowFieldError::Unsupported(e.field.name()))?;
        let mk = e
            .mask_or_ones()
            .to_u128()
            .ok_or(FlowFieldError::Unsupported(e.field.name()))?;
        // Fields that share slots (vlan_vid and vlan_pcp, nw_tos and
        // ip_ecn) own disjoint bits, so OR-ing keeps both.
        let mut k1 = [0u64; FLOW_WORDS];
        let mut m1 = [0u64; FLOW_WORDS];
        put(&mut k1, e.field, v & mk)?;
        put(&mut m1, e.field, mk)?;
        for i in 0..FLOW_WORDS {
            key[i] |= k1[i];
            mask[i] |= m1[i];
        }
    }
    Ok((key, mask))
}

/// The pipeline flow of a packet with datapath key `key` (pipeline-only
/// words start at zero, as for a packet entering table 0).
pub fn from_key(key: &FlowKey) -> FlowWords {
    let mut f = [0u64; FLOW_WORDS];
    f[..KEY_WORDS].copy_from_slice(&key.words);
    f
}

/// The datapath part of pipeline wildcards: a megaflow mask.
pub fn key_part(flow: &FlowWords) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.words.copy_from_slice(&flow[..KEY_WORDS]);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stay_in_their_words_and_round_trip() {
        for f in Field::all() {
            let Ok(sl) = slots(f) else { continue };
            for x in sl {
                assert!(
                    x.word < FLOW_WORDS && x.shift + x.bits <= 64,
                    "{}",
                    f.name()
                );
            }
            let w = width(f).unwrap_or(0);
            let max = if w >= 128 {
                u128::MAX
            } else {
                (1u128 << w) - 1
            };
            let mut flow = [0u64; FLOW_WORDS];
            put(&mut flow, f, max).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(get(&flow, f), Ok(max), "{}", f.name());
            assert_eq!(
                flow.iter().map(|w| w.count_ones()).sum::<u32>(),
                w,
                "{} sets exactly its bits",
                f.name()
            );
        }
    }

    #[test]
    fn matches_become_words() {
        let m: Match = "tcp,in_port=3,nw_dst=10.1.0.0/16,tp_dst=80,vlan_tci=0x1005/0x1fff"
            .parse()
            .unwrap_or_else(|e| panic!("{e:?}"));
        let (k, mk) = match_words(&m).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(get(&k, Field::InPort), Ok(3));
        assert_eq!(get(&mk, Field::InPort), Ok(0xffff_ffff));
        assert_eq!(get(&k, Field::EthType), Ok(0x0800));
        assert_eq!(get(&k, Field::IpProto), Ok(6));
        assert_eq!(get(&k, Field::Ipv4Dst), Ok(0x0a01_0000));
        assert_eq!(get(&mk, Field::Ipv4Dst), Ok(0xffff_0000));
        assert_eq!(get(&k, Field::TcpDst), Ok(80));
        assert_eq!(get(&k, Field::VlanTci), Ok(0x1005));
        assert_eq!(get(&mk, Field::VlanTci), Ok(0x1fff));
        // A packet's key under the mask equals the match's key.
        let mut pk = FlowKey::ZERO;
        pk.set_in_port(3);
        pk.set_eth_type(0x0800);
        pk.set_nw_proto(6);
        pk.set_nw_dst(0x0a01_0203);
        pk.set_tp_dst(80);
        pk.set_vlan_tci(0x1005 | (3 << 13));
        let f = from_key(&pk);
        assert!((0..FLOW_WORDS).all(|i| f[i] & mk[i] == k[i]));
    }

    #[test]
    fn shared_slots_agree_with_the_datapath_key() {
        let mut k = FlowKey::ZERO;
        k.set_tp_src(80);
        k.set_vlan_tci(0x1000 | (5 << 13) | 100);
        k.set_nw_tos(0xb9);
        k.set_ipv6_src(0x2001_0db8 << 96 | 1);
        let f = from_key(&k);
        assert_eq!(get(&f, Field::TcpSrc), Ok(80));
        assert_eq!(get(&f, Field::VlanVid), Ok(0x1000 | 100));
        assert_eq!(get(&f, Field::VlanPcp), Ok(5));
        assert_eq!(get(&f, Field::IpDscp), Ok(0xb9 >> 2));
        assert_eq!(get(&f, Field::IpEcn), Ok(1));
        assert_eq!(get(&f, Field::Ipv6Src), Ok(0x2001_0db8 << 96 | 1));
        let mut f = [0u64; FLOW_WORDS];
        put(&mut f, Field::Xreg0, 0x1111_2222_3333_4444).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(get(&f, Field::Reg0), Ok(0x1111_2222));
        assert_eq!(get(&f, Field::Reg1), Ok(0x3333_4444));
        put(
            &mut f,
            Field::Xxreg0,
            0xaaaa_bbbb_cccc_dddd_0000_0000_0000_0001,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(get(&f, Field::Reg3), Ok(1));
        assert_eq!(get(&f, Field::Reg0), Ok(0xaaaa_bbbb));
        assert!(put(&mut f, Field::MplsLabel, 1).is_err());
    }
}
