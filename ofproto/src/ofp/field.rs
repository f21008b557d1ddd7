//! The match fields oxvs understands: their NXM/OXM wire ids, widths,
//! prerequisites and names, kept in one table ([`FIELDS`]).
//!
//! Matches ([`super::matching`]) and the actions that name fields (set_field,
//! reg_load, reg_move, learn) both look fields up here, so that a field's
//! width or header is written down exactly once. Facts follow Open vSwitch's
//! `meta-flow.h` (which OXM/NXM headers exist, since which version a header
//! may appear in an OXM match), plus `in_phy_port` and `ipv6_exthdr` from the
//! OpenFlow 1.3 spec, which OVS does not implement.
//!
//! One [`Field`] per concept, with one exception forced by the wire: the
//! OXM-only fields `vlan_vid`/`vlan_pcp` and `ip_dscp` exist beside their NXM
//! forms `vlan_tci` and `nw_tos`, because actions address them separately
//! (a set_field of `vlan_vid` is not one of `vlan_tci`). A match stores one
//! canonical form of each; see [`super::matching`]. `in_port` is one field
//! with a 32-bit (OpenFlow 1.1+) value space even though NXM carries it in 16
//! bits; [`Header::len`] gives each header's own width. `xregN`/`xxregN`
//! are 64- and 128-bit views of the 32-bit `regN`, which a match stores.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::codec::{Reader, Writer};
use super::Version;

/// OXM classes (the top 16 bits of a header).
pub mod class {
    /// Nicira's original NXM fields (`NXM_OF_*`).
    pub const NXM_0: u16 = 0x0000;
    /// Nicira extension fields (`NXM_NX_*`).
    pub const NXM_1: u16 = 0x0001;
    /// OpenFlow basic (`OXM_OF_*`).
    pub const OPENFLOW_BASIC: u16 = 0x8000;
    /// OpenFlow 1.5 packet registers (`OXM_OF_PKT_REG*`, OVS's xregs).
    pub const PACKET_REGS: u16 = 0x8001;
    /// Experimenter: a 32-bit experimenter id follows the header.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// Nicira's experimenter id (`NXOXM_ET_*`).
pub const NX_EXPERIMENTER: u32 = 0x0000_2320;
/// The Open Networking Foundation's experimenter id (`ONFOXM_ET_*`).
pub const ONF_EXPERIMENTER: u32 = 0x4f4e_4600;

/// Identifies a field on the wire, independent of mask bit and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OxmId {
    pub class: u16,
    /// 7 bits.
    pub field: u8,
    /// 0 unless `class` is [`class::EXPERIMENTER`].
    pub experimenter: u32,
}

/// One wire header a field can be carried with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The symbolic name `ovs-ofctl` prints, e.g. `NXM_OF_IN_PORT`; a masked
    /// entry adds `_W`.
    pub name: &'static str,
    pub class: u16,
    pub field: u8,
    /// 0 unless `class` is [`class::EXPERIMENTER`].
    pub experimenter: u32,
    /// Bytes of value this header carries (the maximum, for variable-length
    /// fields). Not always the field's width: NXM's `in_port` is 2 bytes.
    pub len: u8,
    /// `Some(v)`: an OXM header that OpenFlow `v` and later write in their
    /// matches and set_fields. `None`: a header written only when it is the
    /// field's first (legacy NXM headers, preferred in NXM matches), though
    /// accepted in any match.
    pub since: Option<Version>,
}

impl Header {
    pub fn id(&self) -> OxmId {
        OxmId {
            class: self.class,
            field: self.field,
            experimenter: self.experimenter,
        }
    }

    pub fn is_experimenter(&self) -> bool {
        self.class == class::EXPERIMENTER
    }

    /// The wire header for a value of `value_len` bytes (plus a mask of the
    /// same length when `masked`).
    pub fn tlv(&self, masked: bool, value_len: u8) -> TlvHeader {
        let exp = if self.is_experimenter() { 4 } else { 0 };
        let payload = u16::from(value_len) * if masked { 2 } else { 1 };
        TlvHeader {
            class: self.class,
            field: self.field,
            hasmask: masked,
            // Variable-length values are at most 124 bytes, so a masked
            // payload plus experimenter id still fits in 8 bits.
            length: (payload + exp).min(255) as u8,
            experimenter: if self.is_experimenter() {
                Some(self.experimenter)
            } else {
                None
            },
        }
    }
}

/// Which kind of match a header is chosen for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// An `nx_match` (NXT_FLOW_MOD and friends, reg_load/reg_move).
    Nxm,
    /// An OXM match or set_field in this OpenFlow version.
    Oxm(Version),
}

/// What a match must already say before a field may appear in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prereq {
    None,
    /// An Ethernet packet (`packet_type` absent or Ethernet).
    Ethernet,
    /// `eth_type` 0x0806 or 0x8035.
    Arp,
    /// `eth_type` 0x0800.
    Ipv4,
    /// `eth_type` 0x86dd.
    Ipv6,
    /// `eth_type` 0x0800 or 0x86dd.
    IpAny,
    /// A VLAN header present (`vlan_vid`/`vlan_tci` matching the present bit).
    VlanVid,
    /// `eth_type` 0x8847 or 0x8848.
    Mpls,
    /// IP and `ip_proto` 6.
    Tcp,
    /// IP and `ip_proto` 17.
    Udp,
    /// IP and `ip_proto` 132.
    Sctp,
    /// IPv4 and `ip_proto` 1.
    Icmpv4,
    /// IPv6 and `ip_proto` 58.
    Icmpv6,
    /// ICMPv6 with type 135 or 136 and code 0.
    Nd,
    /// ICMPv6 type 135, code 0.
    NdSolicit,
    /// ICMPv6 type 136, code 0.
    NdAdvert,
    /// `ct_state` says the connection is tracked and valid.
    CtValid,
    /// `in_port` matched (for `in_phy_port`).
    InPort,
}

impl Prereq {
    /// The `eth_type` values that satisfy this prerequisite (empty: any).
    pub fn eth_types(self) -> &'static [u16] {
        match self {
            Prereq::Arp => &[0x0806, 0x8035],
            Prereq::Ipv4 | Prereq::Icmpv4 => &[0x0800],
            Prereq::Ipv6 | Prereq::Icmpv6 | Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => {
                &[0x86dd]
            }
            Prereq::IpAny | Prereq::Tcp | Prereq::Udp | Prereq::Sctp => &[0x0800, 0x86dd],
            Prereq::Mpls => &[0x8847, 0x8848],
            Prereq::None
            | Prereq::Ethernet
            | Prereq::VlanVid
            | Prereq::CtValid
            | Prereq::InPort => &[],
        }
    }

    /// The `ip_proto` this prerequisite needs, if any.
    pub fn ip_proto(self) -> Option<u8> {
        match self {
            Prereq::Tcp => Some(6),
            Prereq::Udp => Some(17),
            Prereq::Sctp => Some(132),
            Prereq::Icmpv4 => Some(1),
            Prereq::Icmpv6 | Prereq::Nd | Prereq::NdSolicit | Prereq::NdAdvert => Some(58),
            _ => None,
        }
    }

    /// The ICMPv6 types this prerequisite needs (empty: no constraint).
    pub fn icmpv6_types(self) -> &'static [u8] {
        match self {
            Prereq::Nd => &[135, 136],
            Prereq::NdSolicit => &[135],
            Prereq::NdAdvert => &[136],
            _ => &[],
        }
    }
}

/// Everything known about one field.
#[derive(Debug)]
pub struct FieldInfo {
    pub field: Field,
    /// The name `ovs-ofctl` uses for the field in actions (`set_field:..->ip_dst`).
    pub name: &'static str,
    /// A second name it accepts (`nw_src` for `ip_src`).
    pub alias: Option<&'static str>,
    /// The name `ovs-ofctl` prints for it in a match (`nw_src`, `tp_dst`).
    pub match_name: &'static str,
    /// Width in bytes; the maximum for variable-length fields.
    pub bytes: u8,
    /// Bits that may be nonzero, counted from the least significant (13 for
    /// `vlan_vid`: 12 bits of VID plus OFPVID_PRESENT).
    pub bits: u16,
    /// Whether a match may carry a mask for it.
    pub maskable: bool,
    /// Whether the value may be shorter than `bytes` (tun_metadata).
    pub variable: bool,
    pub prereq: Prereq,
    /// Wire headers, NXM first, then OXM by version.
    pub headers: &'static [Header],
}

/// How a field may be matched.
#[derive(Clone, Copy)]
enum Kind {
    Exact,
    Masked,
    /// Maskable and variable-length (tun_metadata).
    VarLen,
}

impl Kind {
    const fn maskable(self) -> bool {
        !matches!(self, Kind::Exact)
    }

    const fn variable(self) -> bool {
        matches!(self, Kind::VarLen)
    }
}

const OF13: Version = Version::Of13;
const OF15: Version = Version::Of15;

/// A legacy NXM header (class 0 or 1).
const fn nxm(name: &'static str, class: u16, field: u8, len: u8) -> Header {
    Header {
        name,
        class,
        field,
        experimenter: 0,
        len,
        since: None,
    }
}

/// An OpenFlow basic OXM header.
const fn oxm(name: &'static str, field: u8, len: u8, since: Version) -> Header {
    Header {
        name,
        class: class::OPENFLOW_BASIC,
        field,
        experimenter: 0,
        len,
        since: Some(since),
    }
}

/// An OpenFlow 1.5 packet register header (OVS also uses it in 1.3).
const fn reg(name: &'static str, field: u8, len: u8, since: Version) -> Header {
    Header {
        name,
        class: class::PACKET_REGS,
        field,
        experimenter: 0,
        len,
        since: Some(since),
    }
}

/// An experimenter OXM header.
/// An experimenter OXM header; `since: None` for one OVS accepts but never
/// writes (NXOXM_ET_DP_HASH: it writes NXM_NX_DP_HASH instead).
const fn exp(
    name: &'static str,
    experimenter: u32,
    field: u8,
    len: u8,
    since: Option<Version>,
) -> Header {
    Header {
        name,
        class: class::EXPERIMENTER,
        field,
        experimenter,
        len,
        since,
    }
}

/// Builds [`Field`] and [`FIELDS`] from one list, so they cannot disagree.
macro_rules! fields {
    ($($var:ident $name:literal $alias:tt $mname:literal $bytes:literal $bits:literal
       $kind:ident $pre:ident [$($h:expr),* $(,)?];)*) => {
        /// A match field. The discriminant indexes [`FIELDS`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum Field {
            $($var,)*
        }

        /// The single source of truth for every field: one row per
        /// [`Field`], in declaration order.
        pub static FIELDS: &[FieldInfo] = &[$(FieldInfo {
            field: Field::$var,
            name: $name,
            alias: fields!(@alias $alias),
            match_name: $mname,
            bytes: $bytes,
            bits: $bits,
            maskable: Kind::$kind.maskable(),
            variable: Kind::$kind.variable(),
            prereq: Prereq::$pre,
            headers: &[$($h),*],
        }),*];
    };
    (@alias -) => { None };
    (@alias $a:literal) => { Some($a) };
}

// Columns: variant, name, alias, name in a printed match, bytes, significant
// bits, match kind, prerequisite, headers (NXM first, then OXM by version).
// Sources: OVS meta-flow.h; in_phy_port and ipv6_exthdr from OpenFlow 1.3.
fields! {
    InPort "in_port" - "in_port" 4 32 Exact None [nxm("NXM_OF_IN_PORT", 0, 0, 2), oxm("OXM_OF_IN_PORT", 0, 4, OF13)];
    InPhyPort "in_phy_port" - "in_phy_port" 4 32 Exact InPort [oxm("OXM_OF_IN_PHY_PORT", 1, 4, OF13)];
    Metadata "metadata" - "metadata" 8 64 Masked None [oxm("OXM_OF_METADATA", 2, 8, OF13)];
    EthDst "eth_dst" "dl_dst" "dl_dst" 6 48 Masked Ethernet [nxm("NXM_OF_ETH_DST", 0, 1, 6), oxm("OXM_OF_ETH_DST", 3, 6, OF13)];
    EthSrc "eth_src" "dl_src" "dl_src" 6 48 Masked Ethernet [nxm("NXM_OF_ETH_SRC", 0, 2, 6), oxm("OXM_OF_ETH_SRC", 4, 6, OF13)];
    EthType "eth_type" "dl_type" "dl_type" 2 16 Exact Ethernet [nxm("NXM_OF_ETH_TYPE", 0, 3, 2), oxm("OXM_OF_ETH_TYPE", 5, 2, OF13)];
    VlanTci "vlan_tci" - "vlan_tci" 2 16 Masked Ethernet [nxm("NXM_OF_VLAN_TCI", 0, 4, 2)];
    VlanVid "vlan_vid" - "dl_vlan" 2 13 Masked Ethernet [oxm("OXM_OF_VLAN_VID", 6, 2, OF13)];
    VlanPcp "vlan_pcp" - "dl_vlan_pcp" 1 3 Exact VlanVid [oxm("OXM_OF_VLAN_PCP", 7, 1, OF13)];
    IpDscp "ip_dscp" - "nw_tos" 1 6 Exact IpAny [oxm("OXM_OF_IP_DSCP", 8, 1, OF13)];
    NwTos "nw_tos" - "nw_tos" 1 8 Exact IpAny [nxm("NXM_OF_IP_TOS", 0, 5, 1)];
    IpEcn "nw_ecn" "ip_ecn" "nw_ecn" 1 2 Exact IpAny [nxm("NXM_NX_IP_ECN", 1, 28, 1), oxm("OXM_OF_IP_ECN", 9, 1, OF13)];
    IpProto "nw_proto" "ip_proto" "nw_proto" 1 8 Exact IpAny [nxm("NXM_OF_IP_PROTO", 0, 6, 1), oxm("OXM_OF_IP_PROTO", 10, 1, OF13)];
    NwTtl "nw_ttl" - "nw_ttl" 1 8 Exact IpAny [nxm("NXM_NX_IP_TTL", 1, 29, 1)];
    IpFrag "ip_frag" "nw_frag" "nw_frag" 1 2 Masked IpAny [nxm("NXM_NX_IP_FRAG", 1, 26, 1)];
    Ipv4Src "ip_src" "nw_src" "nw_src" 4 32 Masked Ipv4 [nxm("NXM_OF_IP_SRC", 0, 7, 4), oxm("OXM_OF_IPV4_SRC", 11, 4, OF13)];
    Ipv4Dst "ip_dst" "nw_dst" "nw_dst" 4 32 Masked Ipv4 [nxm("NXM_OF_IP_DST", 0, 8, 4), oxm("OXM_OF_IPV4_DST", 12, 4, OF13)];
    TcpSrc "tcp_src" "tp_src" "tp_src" 2 16 Masked Tcp [nxm("NXM_OF_TCP_SRC", 0, 9, 2), oxm("OXM_OF_TCP_SRC", 13, 2, OF13)];
    TcpDst "tcp_dst" "tp_dst" "tp_dst" 2 16 Masked Tcp [nxm("NXM_OF_TCP_DST", 0, 10, 2), oxm("OXM_OF_TCP_DST", 14, 2, OF13)];
    UdpSrc "udp_src" - "tp_src" 2 16 Masked Udp [nxm("NXM_OF_UDP_SRC", 0, 11, 2), oxm("OXM_OF_UDP_SRC", 15, 2, OF13)];
    UdpDst "udp_dst" - "tp_dst" 2 16 Masked Udp [nxm("NXM_OF_UDP_DST", 0, 12, 2), oxm("OXM_OF_UDP_DST", 16, 2, OF13)];
    SctpSrc "sctp_src" - "tp_src" 2 16 Masked Sctp [oxm("OXM_OF_SCTP_SRC", 17, 2, OF13)];
    SctpDst "sctp_dst" - "tp_dst" 2 16 Masked Sctp [oxm("OXM_OF_SCTP_DST", 18, 2, OF13)];
    Icmpv4Type "icmp_type" - "icmp_type" 1 8 Exact Icmpv4 [nxm("NXM_OF_ICMP_TYPE", 0, 13, 1), oxm("OXM_OF_ICMPV4_TYPE", 19, 1, OF13)];
    Icmpv4Code "icmp_code" - "icmp_code" 1 8 Exact Icmpv4 [nxm("NXM_OF_ICMP_CODE", 0, 14, 1), oxm("OXM_OF_ICMPV4_CODE", 20, 1, OF13)];
    ArpOp "arp_op" - "arp_op" 2 16 Exact Arp [nxm("NXM_OF_ARP_OP", 0, 15, 2), oxm("OXM_OF_ARP_OP", 21, 2, OF13)];
    ArpSpa "arp_spa" - "arp_spa" 4 32 Masked Arp [nxm("NXM_OF_ARP_SPA", 0, 16, 4), oxm("OXM_OF_ARP_SPA", 22, 4, OF13)];
    ArpTpa "arp_tpa" - "arp_tpa" 4 32 Masked Arp [nxm("NXM_OF_ARP_TPA", 0, 17, 4), oxm("OXM_OF_ARP_TPA", 23, 4, OF13)];
    ArpSha "arp_sha" - "arp_sha" 6 48 Masked Arp [nxm("NXM_NX_ARP_SHA", 1, 17, 6), oxm("OXM_OF_ARP_SHA", 24, 6, OF13)];
    ArpTha "arp_tha" - "arp_tha" 6 48 Masked Arp [nxm("NXM_NX_ARP_THA", 1, 18, 6), oxm("OXM_OF_ARP_THA", 25, 6, OF13)];
    Ipv6Src "ipv6_src" - "ipv6_src" 16 128 Masked Ipv6 [nxm("NXM_NX_IPV6_SRC", 1, 19, 16), oxm("OXM_OF_IPV6_SRC", 26, 16, OF13)];
    Ipv6Dst "ipv6_dst" - "ipv6_dst" 16 128 Masked Ipv6 [nxm("NXM_NX_IPV6_DST", 1, 20, 16), oxm("OXM_OF_IPV6_DST", 27, 16, OF13)];
    Ipv6Flabel "ipv6_label" - "ipv6_label" 4 20 Masked Ipv6 [nxm("NXM_NX_IPV6_LABEL", 1, 27, 4), oxm("OXM_OF_IPV6_FLABEL", 28, 4, OF13)];
    Icmpv6Type "icmpv6_type" - "icmp_type" 1 8 Exact Icmpv6 [nxm("NXM_NX_ICMPV6_TYPE", 1, 21, 1), oxm("OXM_OF_ICMPV6_TYPE", 29, 1, OF13)];
    Icmpv6Code "icmpv6_code" - "icmp_code" 1 8 Exact Icmpv6 [nxm("NXM_NX_ICMPV6_CODE", 1, 22, 1), oxm("OXM_OF_ICMPV6_CODE", 30, 1, OF13)];
    NdTarget "nd_target" - "nd_target" 16 128 Masked Nd [nxm("NXM_NX_ND_TARGET", 1, 23, 16), oxm("OXM_OF_IPV6_ND_TARGET", 31, 16, OF13)];
    NdSll "nd_sll" - "nd_sll" 6 48 Masked NdSolicit [nxm("NXM_NX_ND_SLL", 1, 24, 6), oxm("OXM_OF_IPV6_ND_SLL", 32, 6, OF13)];
    NdTll "nd_tll" - "nd_tll" 6 48 Masked NdAdvert [nxm("NXM_NX_ND_TLL", 1, 25, 6), oxm("OXM_OF_IPV6_ND_TLL", 33, 6, OF13)];
    MplsLabel "mpls_label" - "mpls_label" 4 20 Exact Mpls [oxm("OXM_OF_MPLS_LABEL", 34, 4, OF13)];
    MplsTc "mpls_tc" - "mpls_tc" 1 3 Exact Mpls [oxm("OXM_OF_MPLS_TC", 35, 1, OF13)];
    MplsBos "mpls_bos" - "mpls_bos" 1 1 Exact Mpls [oxm("OXM_OF_MPLS_BOS", 36, 1, OF13)];
    MplsTtl "mpls_ttl" - "mpls_ttl" 1 8 Exact Mpls [nxm("NXM_NX_MPLS_TTL", 1, 30, 1)];
    TunnelId "tun_id" "tunnel_id" "tun_id" 8 64 Masked None [nxm("NXM_NX_TUN_ID", 1, 16, 8), oxm("OXM_OF_TUNNEL_ID", 38, 8, OF13)];
    Ipv6Exthdr "ipv6_exthdr" - "ipv6_exthdr" 2 9 Masked Ipv6 [oxm("OXM_OF_IPV6_EXTHDR", 39, 2, OF13)];
    TcpFlags "tcp_flags" - "tcp_flags" 2 12 Masked Tcp [nxm("NXM_NX_TCP_FLAGS", 1, 34, 2), exp("ONFOXM_ET_TCP_FLAGS", ONF_EXPERIMENTER, 42, 2, Some(OF13)), oxm("OXM_OF_TCP_FLAGS", 42, 2, OF15)];
    ActsetOutput "actset_output" - "actset_output" 4 32 Exact None [exp("ONFOXM_ET_ACTSET_OUTPUT", ONF_EXPERIMENTER, 43, 4, Some(OF13)), oxm("OXM_OF_ACTSET_OUTPUT", 43, 4, OF15)];
    PacketType "packet_type" - "packet_type" 4 32 Exact None [oxm("OXM_OF_PACKET_TYPE", 44, 4, OF15)];
    Reg0 "reg0" - "reg0" 4 32 Masked None [nxm("NXM_NX_REG0", 1, 0, 4)];
    Reg1 "reg1" - "reg1" 4 32 Masked None [nxm("NXM_NX_REG1", 1, 1, 4)];
    Reg2 "reg2" - "reg2" 4 32 Masked None [nxm("NXM_NX_REG2", 1, 2, 4)];
    Reg3 "reg3" - "reg3" 4 32 Masked None [nxm("NXM_NX_REG3", 1, 3, 4)];
    Reg4 "reg4" - "reg4" 4 32 Masked None [nxm("NXM_NX_REG4", 1, 4, 4)];
    Reg5 "reg5" - "reg5" 4 32 Masked None [nxm("NXM_NX_REG5", 1, 5, 4)];
    Reg6 "reg6" - "reg6" 4 32 Masked None [nxm("NXM_NX_REG6", 1, 6, 4)];
    Reg7 "reg7" - "reg7" 4 32 Masked None [nxm("NXM_NX_REG7", 1, 7, 4)];
    Reg8 "reg8" - "reg8" 4 32 Masked None [nxm("NXM_NX_REG8", 1, 8, 4)];
    Reg9 "reg9" - "reg9" 4 32 Masked None [nxm("NXM_NX_REG9", 1, 9, 4)];
    Reg10 "reg10" - "reg10" 4 32 Masked None [nxm("NXM_NX_REG10", 1, 10, 4)];
    Reg11 "reg11" - "reg11" 4 32 Masked None [nxm("NXM_NX_REG11", 1, 11, 4)];
    Reg12 "reg12" - "reg12" 4 32 Masked None [nxm("NXM_NX_REG12", 1, 12, 4)];
    Reg13 "reg13" - "reg13" 4 32 Masked None [nxm("NXM_NX_REG13", 1, 13, 4)];
    Reg14 "reg14" - "reg14" 4 32 Masked None [nxm("NXM_NX_REG14", 1, 14, 4)];
    Reg15 "reg15" - "reg15" 4 32 Masked None [nxm("NXM_NX_REG15", 1, 15, 4)];
    Xreg0 "xreg0" - "xreg0" 8 64 Masked None [reg("OXM_OF_PKT_REG0", 0, 8, OF13)];
    Xreg1 "xreg1" - "xreg1" 8 64 Masked None [reg("OXM_OF_PKT_REG1", 1, 8, OF13)];
    Xreg2 "xreg2" - "xreg2" 8 64 Masked None [reg("OXM_OF_PKT_REG2", 2, 8, OF13)];
    Xreg3 "xreg3" - "xreg3" 8 64 Masked None [reg("OXM_OF_PKT_REG3", 3, 8, OF13)];
    Xreg4 "xreg4" - "xreg4" 8 64 Masked None [reg("OXM_OF_PKT_REG4", 4, 8, OF13)];
    Xreg5 "xreg5" - "xreg5" 8 64 Masked None [reg("OXM_OF_PKT_REG5", 5, 8, OF13)];
    Xreg6 "xreg6" - "xreg6" 8 64 Masked None [reg("OXM_OF_PKT_REG6", 6, 8, OF13)];
    Xreg7 "xreg7" - "xreg7" 8 64 Masked None [reg("OXM_OF_PKT_REG7", 7, 8, OF13)];
    Xxreg0 "xxreg0" - "xxreg0" 16 128 Masked None [nxm("NXM_NX_XXREG0", 1, 111, 16)];
    Xxreg1 "xxreg1" - "xxreg1" 16 128 Masked None [nxm("NXM_NX_XXREG1", 1, 112, 16)];
    Xxreg2 "xxreg2" - "xxreg2" 16 128 Masked None [nxm("NXM_NX_XXREG2", 1, 113, 16)];
    Xxreg3 "xxreg3" - "xxreg3" 16 128 Masked None [nxm("NXM_NX_XXREG3", 1, 114, 16)];
    TunSrc "tun_src" - "tun_src" 4 32 Masked None [nxm("NXM_NX_TUN_IPV4_SRC", 1, 31, 4)];
    TunDst "tun_dst" - "tun_dst" 4 32 Masked None [nxm("NXM_NX_TUN_IPV4_DST", 1, 32, 4)];
    TunIpv6Src "tun_ipv6_src" - "tun_ipv6_src" 16 128 Masked None [nxm("NXM_NX_TUN_IPV6_SRC", 1, 109, 16)];
    TunIpv6Dst "tun_ipv6_dst" - "tun_ipv6_dst" 16 128 Masked None [nxm("NXM_NX_TUN_IPV6_DST", 1, 110, 16)];
    TunFlags "tun_flags" - "tun_flags" 2 1 Masked None [nxm("NXM_NX_TUN_FLAGS", 1, 104, 2)];
    TunGbpId "tun_gbp_id" - "tun_gbp_id" 2 16 Masked None [nxm("NXM_NX_TUN_GBP_ID", 1, 38, 2)];
    TunGbpFlags "tun_gbp_flags" - "tun_gbp_flags" 1 8 Masked None [nxm("NXM_NX_TUN_GBP_FLAGS", 1, 39, 1)];
    TunMetadata0 "tun_metadata0" - "tun_metadata0" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA0", 1, 40, 124)];
    TunMetadata1 "tun_metadata1" - "tun_metadata1" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA1", 1, 41, 124)];
    TunMetadata2 "tun_metadata2" - "tun_metadata2" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA2", 1, 42, 124)];
    TunMetadata3 "tun_metadata3" - "tun_metadata3" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA3", 1, 43, 124)];
    TunMetadata4 "tun_metadata4" - "tun_metadata4" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA4", 1, 44, 124)];
    TunMetadata5 "tun_metadata5" - "tun_metadata5" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA5", 1, 45, 124)];
    TunMetadata6 "tun_metadata6" - "tun_metadata6" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA6", 1, 46, 124)];
    TunMetadata7 "tun_metadata7" - "tun_metadata7" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA7", 1, 47, 124)];
    TunMetadata8 "tun_metadata8" - "tun_metadata8" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA8", 1, 48, 124)];
    TunMetadata9 "tun_metadata9" - "tun_metadata9" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA9", 1, 49, 124)];
    TunMetadata10 "tun_metadata10" - "tun_metadata10" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA10", 1, 50, 124)];
    TunMetadata11 "tun_metadata11" - "tun_metadata11" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA11", 1, 51, 124)];
    TunMetadata12 "tun_metadata12" - "tun_metadata12" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA12", 1, 52, 124)];
    TunMetadata13 "tun_metadata13" - "tun_metadata13" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA13", 1, 53, 124)];
    TunMetadata14 "tun_metadata14" - "tun_metadata14" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA14", 1, 54, 124)];
    TunMetadata15 "tun_metadata15" - "tun_metadata15" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA15", 1, 55, 124)];
    TunMetadata16 "tun_metadata16" - "tun_metadata16" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA16", 1, 56, 124)];
    TunMetadata17 "tun_metadata17" - "tun_metadata17" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA17", 1, 57, 124)];
    TunMetadata18 "tun_metadata18" - "tun_metadata18" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA18", 1, 58, 124)];
    TunMetadata19 "tun_metadata19" - "tun_metadata19" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA19", 1, 59, 124)];
    TunMetadata20 "tun_metadata20" - "tun_metadata20" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA20", 1, 60, 124)];
    TunMetadata21 "tun_metadata21" - "tun_metadata21" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA21", 1, 61, 124)];
    TunMetadata22 "tun_metadata22" - "tun_metadata22" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA22", 1, 62, 124)];
    TunMetadata23 "tun_metadata23" - "tun_metadata23" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA23", 1, 63, 124)];
    TunMetadata24 "tun_metadata24" - "tun_metadata24" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA24", 1, 64, 124)];
    TunMetadata25 "tun_metadata25" - "tun_metadata25" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA25", 1, 65, 124)];
    TunMetadata26 "tun_metadata26" - "tun_metadata26" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA26", 1, 66, 124)];
    TunMetadata27 "tun_metadata27" - "tun_metadata27" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA27", 1, 67, 124)];
    TunMetadata28 "tun_metadata28" - "tun_metadata28" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA28", 1, 68, 124)];
    TunMetadata29 "tun_metadata29" - "tun_metadata29" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA29", 1, 69, 124)];
    TunMetadata30 "tun_metadata30" - "tun_metadata30" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA30", 1, 70, 124)];
    TunMetadata31 "tun_metadata31" - "tun_metadata31" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA31", 1, 71, 124)];
    TunMetadata32 "tun_metadata32" - "tun_metadata32" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA32", 1, 72, 124)];
    TunMetadata33 "tun_metadata33" - "tun_metadata33" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA33", 1, 73, 124)];
    TunMetadata34 "tun_metadata34" - "tun_metadata34" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA34", 1, 74, 124)];
    TunMetadata35 "tun_metadata35" - "tun_metadata35" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA35", 1, 75, 124)];
    TunMetadata36 "tun_metadata36" - "tun_metadata36" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA36", 1, 76, 124)];
    TunMetadata37 "tun_metadata37" - "tun_metadata37" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA37", 1, 77, 124)];
    TunMetadata38 "tun_metadata38" - "tun_metadata38" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA38", 1, 78, 124)];
    TunMetadata39 "tun_metadata39" - "tun_metadata39" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA39", 1, 79, 124)];
    TunMetadata40 "tun_metadata40" - "tun_metadata40" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA40", 1, 80, 124)];
    TunMetadata41 "tun_metadata41" - "tun_metadata41" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA41", 1, 81, 124)];
    TunMetadata42 "tun_metadata42" - "tun_metadata42" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA42", 1, 82, 124)];
    TunMetadata43 "tun_metadata43" - "tun_metadata43" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA43", 1, 83, 124)];
    TunMetadata44 "tun_metadata44" - "tun_metadata44" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA44", 1, 84, 124)];
    TunMetadata45 "tun_metadata45" - "tun_metadata45" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA45", 1, 85, 124)];
    TunMetadata46 "tun_metadata46" - "tun_metadata46" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA46", 1, 86, 124)];
    TunMetadata47 "tun_metadata47" - "tun_metadata47" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA47", 1, 87, 124)];
    TunMetadata48 "tun_metadata48" - "tun_metadata48" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA48", 1, 88, 124)];
    TunMetadata49 "tun_metadata49" - "tun_metadata49" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA49", 1, 89, 124)];
    TunMetadata50 "tun_metadata50" - "tun_metadata50" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA50", 1, 90, 124)];
    TunMetadata51 "tun_metadata51" - "tun_metadata51" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA51", 1, 91, 124)];
    TunMetadata52 "tun_metadata52" - "tun_metadata52" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA52", 1, 92, 124)];
    TunMetadata53 "tun_metadata53" - "tun_metadata53" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA53", 1, 93, 124)];
    TunMetadata54 "tun_metadata54" - "tun_metadata54" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA54", 1, 94, 124)];
    TunMetadata55 "tun_metadata55" - "tun_metadata55" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA55", 1, 95, 124)];
    TunMetadata56 "tun_metadata56" - "tun_metadata56" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA56", 1, 96, 124)];
    TunMetadata57 "tun_metadata57" - "tun_metadata57" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA57", 1, 97, 124)];
    TunMetadata58 "tun_metadata58" - "tun_metadata58" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA58", 1, 98, 124)];
    TunMetadata59 "tun_metadata59" - "tun_metadata59" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA59", 1, 99, 124)];
    TunMetadata60 "tun_metadata60" - "tun_metadata60" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA60", 1, 100, 124)];
    TunMetadata61 "tun_metadata61" - "tun_metadata61" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA61", 1, 101, 124)];
    TunMetadata62 "tun_metadata62" - "tun_metadata62" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA62", 1, 102, 124)];
    TunMetadata63 "tun_metadata63" - "tun_metadata63" 124 992 VarLen None [nxm("NXM_NX_TUN_METADATA63", 1, 103, 124)];
    PktMark "pkt_mark" - "pkt_mark" 4 32 Masked None [nxm("NXM_NX_PKT_MARK", 1, 33, 4)];
    ConjId "conj_id" - "conj_id" 4 32 Exact None [nxm("NXM_NX_CONJ_ID", 1, 37, 4)];
    DpHash "dp_hash" - "dp_hash" 4 32 Masked None [nxm("NXM_NX_DP_HASH", 1, 35, 4), exp("NXOXM_ET_DP_HASH", NX_EXPERIMENTER, 0, 4, None)];
    RecircId "recirc_id" - "recirc_id" 4 32 Exact None [nxm("NXM_NX_RECIRC_ID", 1, 36, 4)];
    CtState "ct_state" - "ct_state" 4 8 Masked None [nxm("NXM_NX_CT_STATE", 1, 105, 4)];
    CtZone "ct_zone" - "ct_zone" 2 16 Exact None [nxm("NXM_NX_CT_ZONE", 1, 106, 2)];
    CtMark "ct_mark" - "ct_mark" 4 32 Masked None [nxm("NXM_NX_CT_MARK", 1, 107, 4)];
    CtLabel "ct_label" - "ct_label" 16 128 Masked None [nxm("NXM_NX_CT_LABEL", 1, 108, 16)];
    CtNwProto "ct_nw_proto" - "ct_nw_proto" 1 8 Exact CtValid [nxm("NXM_NX_CT_NW_PROTO", 1, 119, 1)];
    CtNwSrc "ct_nw_src" - "ct_nw_src" 4 32 Masked CtValid [nxm("NXM_NX_CT_NW_SRC", 1, 120, 4)];
    CtNwDst "ct_nw_dst" - "ct_nw_dst" 4 32 Masked CtValid [nxm("NXM_NX_CT_NW_DST", 1, 121, 4)];
    CtIpv6Src "ct_ipv6_src" - "ct_ipv6_src" 16 128 Masked CtValid [nxm("NXM_NX_CT_IPV6_SRC", 1, 122, 16)];
    CtIpv6Dst "ct_ipv6_dst" - "ct_ipv6_dst" 16 128 Masked CtValid [nxm("NXM_NX_CT_IPV6_DST", 1, 123, 16)];
    CtTpSrc "ct_tp_src" - "ct_tp_src" 2 16 Masked CtValid [nxm("NXM_NX_CT_TP_SRC", 1, 124, 2)];
    CtTpDst "ct_tp_dst" - "ct_tp_dst" 2 16 Masked CtValid [nxm("NXM_NX_CT_TP_DST", 1, 125, 2)];
}

impl Field {
    /// This field's row in [`FIELDS`].
    pub fn info(self) -> &'static FieldInfo {
        // The discriminants are 0..FIELDS.len() in order; a unit test checks it.
        &FIELDS[self as usize]
    }

    /// Every field, in table order.
    pub fn all() -> impl Iterator<Item = Field> {
        FIELDS.iter().map(|i| i.field)
    }

    /// The name `ovs-ofctl` uses for it in actions.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn bytes(self) -> usize {
        usize::from(self.info().bytes)
    }

    pub fn is_maskable(self) -> bool {
        self.info().maskable
    }

    pub fn prereq(self) -> Prereq {
        self.info().prereq
    }

    /// Looks a field up by its name or alias (`ip_src`, `nw_src`, `reg3`).
    pub fn from_name(name: &str) -> Option<Field> {
        maps().by_name.get(name).copied()
    }

    /// Looks a field up by a symbolic header name, `NXM_NX_REG0` or
    /// `OXM_OF_IPV4_SRC_W`; the bool says whether the `_W` form was used.
    pub fn from_header_name(name: &str) -> Option<(Field, &'static Header, bool)> {
        let m = maps();
        if let Some(&(f, i)) = m.by_header_name.get(name) {
            return Some((f, &f.info().headers[i], false));
        }
        let base = name.strip_suffix("_W")?;
        let &(f, i) = m.by_header_name.get(base)?;
        Some((f, &f.info().headers[i], true))
    }

    /// The field a wire id names, and the header it was named with.
    pub fn from_id(id: OxmId) -> Option<(Field, &'static Header)> {
        let &(f, i) = maps().by_id.get(&id)?;
        Some((f, &f.info().headers[i]))
    }

    /// The header to write this field with, the way OVS chooses
    /// (`nxm_field_by_mf_id`): for NXM the first listed (the NXM header if
    /// there is one); for OXM the newest header whose `since` the version
    /// reaches, else the first. So a field with only a newer OXM header
    /// (`packet_type` in OpenFlow 1.3) is still written with it, as OVS
    /// does; check [`Header::since`] to refuse that instead.
    pub fn header_for(self, enc: Encoding) -> Option<&'static Header> {
        let hs = self.info().headers;
        let mut best = hs.first()?;
        if let Encoding::Oxm(v) = enc {
            for h in hs {
                if h.since.is_some_and(|s| s <= v) {
                    best = h;
                }
            }
        }
        Some(best)
    }

    /// The first version whose standard OXM classes (0x8000, 0x8001)
    /// carry this field; `None` if it travels only as NXM or experimenter
    /// OXM (`tcp_flags` before 1.5 is ONF's; `reg0` is Nicira's).
    pub fn oxm_native_since(self) -> Option<Version> {
        self.info()
            .headers
            .iter()
            .filter(|h| h.class == class::OPENFLOW_BASIC || h.class == class::PACKET_REGS)
            .filter_map(|h| h.since)
            .min()
    }

    /// `regN` for N in 0..16.
    pub fn reg(n: usize) -> Option<Field> {
        Self::nth(Field::Reg0, n, 16)
    }

    /// `xregN` (64-bit, the concatenation of reg2N:reg2N+1) for N in 0..8.
    pub fn xreg(n: usize) -> Option<Field> {
        Self::nth(Field::Xreg0, n, 8)
    }

    /// `xxregN` (128-bit) for N in 0..4.
    pub fn xxreg(n: usize) -> Option<Field> {
        Self::nth(Field::Xxreg0, n, 4)
    }

    /// `tun_metadataN` for N in 0..64.
    pub fn tun_metadata(n: usize) -> Option<Field> {
        Self::nth(Field::TunMetadata0, n, 64)
    }

    fn nth(first: Field, n: usize, count: usize) -> Option<Field> {
        if n >= count {
            return None;
        }
        FIELDS.get(first as usize + n).map(|i| i.field)
    }

    /// Whether `v` is a value this field can take (as part of a masked match:
    /// bits a mask could test, not only values a packet can carry). Follows
    /// OVS's `mf_is_value_valid`.
    pub fn is_value_valid(self, v: &[u8]) -> bool {
        let info = self.info();
        if info.variable {
            // OVS takes any width here: the switch fits it to the option.
            return v.len() <= usize::from(u8::MAX);
        }
        if v.len() != usize::from(info.bytes) {
            return false;
        }
        match self {
            // The two ECN bits belong to nw_ecn.
            Field::NwTos => v.first().is_some_and(|b| b & 0x03 == 0),
            // An ARP opcode is one byte on the wire of OVS's flow.
            Field::ArpOp => v.first() == Some(&0),
            Field::InPort | Field::ActsetOutput | Field::InPhyPort => {
                let p = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
                port_is_valid(p)
            }
            _ => fits_bits(v, info.bits),
        }
    }

    /// Whether `m` is a mask this field accepts: any mask if maskable, else
    /// all-ones (or all-zeros, meaning "not matched").
    pub fn is_mask_valid(self, m: &[u8]) -> bool {
        self.info().maskable || m.iter().all(|&b| b == 0xff) || m.iter().all(|&b| b == 0)
    }
}

/// An OpenFlow 1.1+ port number OVS can map to its 16-bit port space:
/// below 0xff00, or one of the reserved 0xffffff00.. ports.
pub fn port_is_valid(p: u32) -> bool {
    !(0xff00..0xffff_ff00).contains(&p)
}

fn fits_bits(v: &[u8], bits: u16) -> bool {
    let total = v.len() * 8;
    let bits = usize::from(bits);
    if bits >= total {
        return true;
    }
    let zero_bits = total - bits;
    for (i, b) in v.iter().enumerate() {
        let lo = i * 8;
        if lo + 8 <= zero_bits {
            if *b != 0 {
                return false;
            }
        } else if lo < zero_bits {
            let keep = 8 - (zero_bits - lo);
            if b >> keep != 0 {
                return false;
            }
        }
    }
    true
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

struct Maps {
    by_name: HashMap<&'static str, Field>,
    by_header_name: HashMap<&'static str, (Field, usize)>,
    by_id: HashMap<OxmId, (Field, usize)>,
}

fn maps() -> &'static Maps {
    static MAPS: OnceLock<Maps> = OnceLock::new();
    MAPS.get_or_init(|| {
        let mut m = Maps {
            by_name: HashMap::new(),
            by_header_name: HashMap::new(),
            by_id: HashMap::new(),
        };
        for info in FIELDS {
            m.by_name.insert(info.name, info.field);
            if let Some(a) = info.alias {
                m.by_name.insert(a, info.field);
            }
            for (i, h) in info.headers.iter().enumerate() {
                m.by_header_name.insert(h.name, (info.field, i));
                m.by_id.insert(h.id(), (info.field, i));
            }
        }
        m
    })
}

/// Why an NXM/OXM header could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer bytes left than the header (or its payload) needs.
    #[error("truncated NXM/OXM entry")]
    Truncated,
    /// A length that cannot be right: an experimenter header shorter than
    /// its experimenter id, a masked payload of odd length, or a payload
    /// of the wrong width for the field.
    #[error("NXM/OXM header {0} has a bad length")]
    BadLen(TlvHeader),
    /// A header naming no field oxvs knows.
    #[error("unknown NXM/OXM field {0}")]
    Unknown(TlvHeader),
}

/// An NXM/OXM header as it appears on the wire: 32 bits, plus a 32-bit
/// experimenter id for class 0xffff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlvHeader {
    pub class: u16,
    pub field: u8,
    pub hasmask: bool,
    /// Payload length as written; includes the experimenter id if any.
    pub length: u8,
    pub experimenter: Option<u32>,
}

impl TlvHeader {
    /// Splits a 32-bit header word (no experimenter id).
    pub fn from_u32(h: u32) -> TlvHeader {
        TlvHeader {
            class: (h >> 16) as u16,
            field: ((h >> 9) & 0x7f) as u8,
            hasmask: (h >> 8) & 1 == 1,
            length: (h & 0xff) as u8,
            experimenter: None,
        }
    }

    /// The first 32-bit word.
    pub fn to_u32(&self) -> u32 {
        (u32::from(self.class) << 16)
            | (u32::from(self.field & 0x7f) << 9)
            | (u32::from(self.hasmask) << 8)
            | u32::from(self.length)
    }

    /// Reads a header (and the experimenter id, for class 0xffff).
    pub fn parse(r: &mut Reader<'_>) -> Result<TlvHeader, HeaderError> {
        let mut h = TlvHeader::from_u32(r.u32().map_err(|_| HeaderError::Truncated)?);
        if h.class == class::EXPERIMENTER {
            h.experimenter = Some(r.u32().map_err(|_| HeaderError::Truncated)?);
            if h.length < 4 {
                return Err(HeaderError::BadLen(h));
            }
        }
        Ok(h)
    }

    pub fn emit(&self, w: &mut Writer) {
        w.u32(self.to_u32());
        if let Some(e) = self.experimenter {
            w.u32(e);
        }
    }

    /// Header bytes on the wire: 4, or 8 with an experimenter id.
    pub fn header_len(&self) -> usize {
        if self.experimenter.is_some() {
            8
        } else {
            4
        }
    }

    /// Bytes of payload (value, and mask if any) after the header.
    pub fn payload_len(&self) -> usize {
        let exp = if self.experimenter.is_some() { 4 } else { 0 };
        usize::from(self.length).saturating_sub(exp)
    }

    pub fn id(&self) -> OxmId {
        OxmId {
            class: self.class,
            field: self.field,
            experimenter: self.experimenter.unwrap_or(0),
        }
    }

    /// The field this header names and the width of its value, checking
    /// that the length fits the field (as OVS's `nxm_field_by_header` does,
    /// except that an odd masked payload is an error rather than truncated).
    pub fn lookup(&self) -> Result<(Field, &'static Header, usize), HeaderError> {
        let (field, header) = Field::from_id(self.id()).ok_or(HeaderError::Unknown(*self))?;
        let payload = self.payload_len();
        let width = if self.hasmask {
            if !payload.is_multiple_of(2) {
                return Err(HeaderError::BadLen(*self));
            }
            payload / 2
        } else {
            payload
        };
        let ok = if field.info().variable {
            // Any width, 0 included, as OVS takes it: the switch fits the
            // value to the option the field is mapped to (see
            // `crate::tlv::fit`).
            true
        } else {
            width == usize::from(header.len)
        };
        if ok {
            Ok((field, header, width))
        } else {
            Err(HeaderError::BadLen(*self))
        }
    }
}

impl fmt::Display for TlvHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#06x}:{}:{}:{}",
            self.class,
            self.field,
            u8::from(self.hasmask),
            self.length
        )?;
        if let Some(e) = self.experimenter {
            write!(f, " (experimenter {e:#010x})")?;
        }
        Ok(())
    }
}

/// A field value or mask: big-endian bytes as wide as the field (for
/// `tun_metadata`, as wide as the option). Up to 16 bytes live inline.
#[derive(Clone)]
pub struct Value(Repr);

#[derive(Clone)]
enum Repr {
    Inline(u8, [u8; 16]),
    Heap(Box<[u8]>),
}

impl Value {
    pub fn from_slice(b: &[u8]) -> Value {
        if b.len() <= 16 {
            let mut a = [0u8; 16];
            a[..b.len()].copy_from_slice(b);
            Value(Repr::Inline(b.len() as u8, a))
        } else {
            Value(Repr::Heap(b.into()))
        }
    }

    /// The low `len` bytes of `v`, big-endian (`len` at most 16).
    pub fn from_u128(v: u128, len: usize) -> Value {
        let b = v.to_be_bytes();
        let len = len.min(16);
        Value::from_slice(&b[16 - len..])
    }

    /// `len` bytes of 0xff.
    pub fn ones(len: usize) -> Value {
        Value::from_slice(&vec![0xff; len])
    }

    /// `len` zero bytes.
    pub fn zeros(len: usize) -> Value {
        Value::from_slice(&vec![0; len])
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(n, a) => &a[..usize::from(*n)],
            Repr::Heap(b) => b,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, if it is at most 16 bytes.
    pub fn to_u128(&self) -> Option<u128> {
        let s = self.as_slice();
        if s.len() > 16 {
            return None;
        }
        Some(s.iter().fold(0u128, |acc, &b| (acc << 8) | u128::from(b)))
    }

    /// The value as an integer, if it is at most 8 bytes.
    pub fn to_u64(&self) -> Option<u64> {
        if self.len() > 8 {
            return None;
        }
        self.to_u128().map(|v| v as u64)
    }

    pub fn is_all_ones(&self) -> bool {
        self.as_slice().iter().all(|&b| b == 0xff)
    }

    pub fn is_zero(&self) -> bool {
        self.as_slice().iter().all(|&b| b == 0)
    }

    /// Bytewise AND with `other` (which must be as long; extra bytes of
    /// either side are dropped).
    pub fn and(&self, other: &Value) -> Value {
        let v: Vec<u8> = self
            .as_slice()
            .iter()
            .zip(other.as_slice())
            .map(|(a, b)| a & b)
            .collect();
        Value::from_slice(&v)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<S: std::hash::Hasher>(&self, state: &mut S) {
        self.as_slice().hash(state);
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for b in self.as_slice() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Value {
        Value::from_slice(b)
    }
}

impl From<u8> for Value {
    fn from(v: u8) -> Value {
        Value::from_slice(&[v])
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::from_slice(&v.to_be_bytes())
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::from_slice(&v.to_be_bytes())
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::from_slice(&v.to_be_bytes())
    }
}

impl From<u128> for Value {
    fn from(v: u128) -> Value {
        Value::from_slice(&v.to_be_bytes())
    }
}

impl From<[u8; 6]> for Value {
    fn from(v: [u8; 6]) -> Value {
        Value::from_slice(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_is_indexed_by_discriminant() {
        for (i, info) in FIELDS.iter().enumerate() {
            assert_eq!(info.field as usize, i, "{}", info.name);
            assert!(!info.headers.is_empty(), "{} has no header", info.name);
            assert!(
                usize::from(info.bits) <= usize::from(info.bytes) * 8,
                "{}",
                info.name
            );
        }
    }

    #[test]
    fn names_and_headers_are_unique() {
        let mut names = HashSet::new();
        let mut ids = HashSet::new();
        let mut hnames = HashSet::new();
        for info in FIELDS {
            assert!(names.insert(info.name), "{}", info.name);
            if let Some(a) = info.alias {
                assert!(names.insert(a), "{a}");
            }
            for h in info.headers {
                assert!(ids.insert(h.id()), "{}", h.name);
                assert!(hnames.insert(h.name), "{}", h.name);
                assert!(h.field < 128, "{}", h.name);
                assert_eq!(h.experimenter != 0, h.is_experimenter(), "{}", h.name);
                // Legacy headers are never chosen over a standard one.
                if h.class <= class::NXM_1 {
                    assert_eq!(h.since, None, "{}", h.name);
                }
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(Field::from_name("nw_src"), Some(Field::Ipv4Src));
        assert_eq!(Field::from_name("ip_src"), Some(Field::Ipv4Src));
        assert_eq!(Field::from_name("tunnel_id"), Some(Field::TunnelId));
        assert_eq!(Field::from_name("reg15"), Some(Field::Reg15));
        assert_eq!(
            Field::from_name("tun_metadata63"),
            Some(Field::TunMetadata63)
        );
        assert_eq!(Field::reg(3), Some(Field::Reg3));
        assert_eq!(Field::reg(16), None);
        assert_eq!(Field::xreg(7), Some(Field::Xreg7));
        assert_eq!(Field::xxreg(3), Some(Field::Xxreg3));
        assert_eq!(Field::tun_metadata(64), None);
        let (f, h, w) = Field::from_header_name("NXM_OF_IP_SRC_W").expect("known");
        assert_eq!((f, h.len, w), (Field::Ipv4Src, 4, true));
        let id = OxmId {
            class: class::EXPERIMENTER,
            field: 42,
            experimenter: ONF_EXPERIMENTER,
        };
        assert_eq!(Field::from_id(id).map(|x| x.0), Some(Field::TcpFlags));
    }

    #[test]
    fn header_choice_follows_ovs() {
        let name = |f: Field, e| f.header_for(e).map(|h| h.name);
        assert_eq!(name(Field::InPort, Encoding::Nxm), Some("NXM_OF_IN_PORT"));
        assert_eq!(
            name(Field::InPort, Encoding::Oxm(Version::Of13)),
            Some("OXM_OF_IN_PORT")
        );
        assert_eq!(
            name(Field::Reg0, Encoding::Oxm(Version::Of13)),
            Some("NXM_NX_REG0")
        );
        assert_eq!(
            name(Field::Metadata, Encoding::Nxm),
            Some("OXM_OF_METADATA")
        );
        assert_eq!(
            name(Field::TcpFlags, Encoding::Oxm(Version::Of13)),
            Some("ONFOXM_ET_TCP_FLAGS")
        );
        assert_eq!(
            name(Field::TcpFlags, Encoding::Oxm(Version::Of15)),
            Some("OXM_OF_TCP_FLAGS")
        );
        assert_eq!(
            name(Field::PacketType, Encoding::Oxm(Version::Of13)),
            Some("OXM_OF_PACKET_TYPE")
        );
        assert_eq!(
            name(Field::DpHash, Encoding::Oxm(Version::Of15)),
            Some("NXM_NX_DP_HASH")
        );
        assert_eq!(
            name(Field::PacketType, Encoding::Oxm(Version::Of15)),
            Some("OXM_OF_PACKET_TYPE")
        );
    }

    #[test]
    fn tlv_headers() {
        let h = Field::Ipv4Src
            .header_for(Encoding::Oxm(Version::Of13))
            .expect("oxm");
        assert_eq!(h.tlv(true, 4).to_u32(), 0x8000_1708);
        assert_eq!(
            TlvHeader::from_u32(0x8000_1708)
                .lookup()
                .map(|x| (x.0, x.2)),
            Ok((Field::Ipv4Src, 4))
        );
        let t = Field::TcpFlags
            .header_for(Encoding::Oxm(Version::Of13))
            .expect("onf")
            .tlv(false, 2);
        let mut w = Writer::new();
        t.emit(&mut w);
        assert_eq!(
            w.as_slice(),
            &[0xff, 0xff, 0x54, 0x06, 0x4f, 0x4e, 0x46, 0x00]
        );
        let mut r = Reader::new(w.as_slice());
        assert_eq!(TlvHeader::parse(&mut r), Ok(t));
        // Wrong width, odd masked payload, experimenter shorter than its id.
        assert!(matches!(
            TlvHeader::from_u32(0x8000_1605).lookup(),
            Err(HeaderError::BadLen(_))
        ));
        assert!(matches!(
            TlvHeader::from_u32(0x8000_1707).lookup(),
            Err(HeaderError::BadLen(_))
        ));
        let mut r = Reader::new(&[0xff, 0xff, 0x54, 0x02, 0x4f, 0x4e, 0x46, 0x00]);
        assert!(matches!(
            TlvHeader::parse(&mut r),
            Err(HeaderError::BadLen(_))
        ));
        assert_eq!(
            TlvHeader::parse(&mut Reader::new(&[0xff, 0xff, 0x54])),
            Err(HeaderError::Truncated)
        );
        assert!(matches!(
            TlvHeader::from_u32(0x8000_7e04).lookup(),
            Err(HeaderError::Unknown(_))
        ));
        // Variable-length tun_metadata: any width, 0 included, as OVS's
        // nxm_field_by_header takes it (`tun_metadata0=0/0` goes out with
        // a masked 0-byte payload).
        for (h, width) in [
            (0x0001_5003, 3),
            (0x0001_5000, 0),
            (0x0001_5100, 0),
            (0x0001_50ff, 255),
        ] {
            assert_eq!(
                TlvHeader::from_u32(h).lookup().map(|x| (x.0, x.2)),
                Ok((Field::TunMetadata0, width)),
                "{h:#x}"
            );
        }
        // A masked payload still needs an even length.
        assert!(TlvHeader::from_u32(0x0001_5103).lookup().is_err());
    }

    #[test]
    fn value_validity() {
        assert!(Field::VlanVid.is_value_valid(&[0x1f, 0xff]));
        assert!(!Field::VlanVid.is_value_valid(&[0x20, 0x00]));
        assert!(Field::IpDscp.is_value_valid(&[63]));
        assert!(!Field::IpDscp.is_value_valid(&[64]));
        assert!(!Field::NwTos.is_value_valid(&[0x01]));
        assert!(Field::Ipv6Flabel.is_value_valid(&[0, 0x0f, 0xff, 0xff]));
        assert!(!Field::Ipv6Flabel.is_value_valid(&[0, 0x10, 0, 0]));
        assert!(Field::InPort.is_value_valid(&[0xff, 0xff, 0xff, 0xfe]));
        assert!(!Field::InPort.is_value_valid(&[0, 1, 0, 0]));
        assert!(!Field::Ipv4Src.is_value_valid(&[1, 2, 3]));
        assert!(Field::IpProto.is_mask_valid(&[0xff]));
        assert!(!Field::IpProto.is_mask_valid(&[0xf0]));
    }

    #[test]
    fn values() {
        assert_eq!(Value::from(0x1234u16).as_slice(), &[0x12, 0x34]);
        assert_eq!(Value::from_u128(0x1234, 3).as_slice(), &[0, 0x12, 0x34]);
        assert_eq!(Value::from_slice(&[1; 40]).len(), 40);
        assert_eq!(Value::from(7u32).to_u64(), Some(7));
        assert!(Value::ones(20).is_all_ones());
        assert_eq!(
            Value::from(0xf0u8).and(&Value::from(0x3cu8)),
            Value::from(0x30u8)
        );
    }
}
