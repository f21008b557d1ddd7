//! A datapath megaflow (masked key + actions) as a tc flower filter: the
//! match as flower keys with masks, the actions as tc actions (mirred,
//! vlan, pedit + csum, gact). What tc cannot say exactly is refused with a
//! [`Reason`], and the flow stays in the software cache.
//!
//! The actions netlink-packet-route has no types for (gact, vlan, pedit,
//! csum, ct, tunnel_key, police) are encoded here as raw attributes, laid
//! out as the kernel's `linux/tc_act/tc_*.h` structs.

use std::net::{Ipv4Addr, Ipv6Addr};

use netlink_packet_core::DefaultNla;
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionGeneric, TcActionMirrorOption, TcActionOption,
    TcActionType, TcFilterFlowerOption as K, TcMirror, TcMirrorActionType,
};
use oxvs_datapath::action::{Action, SetHeader};
use oxvs_datapath::flow_key::{FlowKey, ETH_TYPE_NONE, FRAG_ANY, FRAG_LATER, VLAN_PRESENT};

/// Why a megaflow cannot become a flower filter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    #[error("matches {0}, which flower cannot match")]
    Match(&'static str),
    #[error("partial mask on {0} (flower matches it exactly or not at all)")]
    PartialMask(&'static str),
    #[error("action {0} has no tc equivalent")]
    Action(&'static str),
    #[error("outputs to datapath port {0}, which has no network device")]
    NoDevice(u32),
    #[error("the kernel has no act_{0}")]
    KernelLacks(&'static str),
}

/// Where tc sends a packet that the datapath would output to a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// Transmit on this device (a system port: af_packet sends there).
    Egress(u32),
    /// Receive on this device (an internal/tap port: the datapath writes
    /// to its tap, which the kernel sees as received).
    Ingress(u32),
}

/// What translation needs to know of the switch's ports and the kernel.
pub trait Devices {
    fn redirect(&self, dp_port: u32) -> Option<Redirect>;
    /// Whether the kernel has the tc action of this kind ("mirred",
    /// "vlan", "pedit", "csum", "gact").
    fn has_action(&self, _kind: &'static str) -> bool {
        true
    }
}

/// A flower filter's keys and actions (no placement yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flower {
    pub keys: Vec<K>,
    pub actions: Vec<TcAction>,
}

impl Flower {
    /// The ethertype tc should check before flower runs: the outer one
    /// (a tag's TPID). Flower's own ethertype key cannot tell an untagged
    /// frame from a tagged one (at ingress the tag is already metadata and
    /// the dissector looks through it); tc's protocol check can.
    pub fn protocol(&self) -> u16 {
        self.keys
            .iter()
            .find_map(|k| match k {
                K::EthType(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(crate::tc::ETH_P_ALL)
    }
}

impl Flower {
    /// The filter's flower options: keys, then the action list.
    pub fn options(&self, cls_flags: u32) -> Vec<K> {
        let mut v = self.keys.clone();
        v.push(K::Flags(cls_flags));
        v.push(K::Actions(self.actions.clone()));
        v
    }
}

// TC_ACT_* verdicts.
const TC_ACT_SHOT: i32 = 2;
const TC_ACT_PIPE: i32 = 3;

// TCA_FLOWER_KEY_FLAGS bits.
pub const FLOWER_IS_FRAGMENT: u32 = 1;
pub const FLOWER_FRAG_IS_FIRST: u32 = 2;

// act_pedit header types.
const PEDIT_ETH: u16 = 1;
const PEDIT_IP4: u16 = 2;
const PEDIT_IP6: u16 = 3;
const PEDIT_TCP: u16 = 4;
const PEDIT_UDP: u16 = 5;

// act_csum update flags.
const CSUM_IPV4HDR: u32 = 1;
const CSUM_ICMP: u32 = 2;
const CSUM_TCP: u32 = 8;
const CSUM_UDP: u32 = 16;

const NLA_F_NESTED: u16 = 0x8000;
const TCA_ACT_MAX_PRIO: usize = 32;

fn mac(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// Translates one megaflow. `key` is the masked key, `cookie` marks the
/// filter's actions as oxvs's own.
pub fn translate(
    key: &FlowKey,
    mask: &FlowKey,
    actions: &[Action],
    devs: &dyn Devices,
    cookie: &[u8],
) -> Result<Flower, Reason> {
    let keys = match_keys(key, mask)?;
    let actions = tc_actions(key, mask, actions, devs, cookie)?;
    Ok(Flower { keys, actions })
}

/// Exact or absent: flower has no mask for some keys.
fn all_or_none<T: PartialEq + Default>(m: T, full: T, what: &'static str) -> Result<bool, Reason> {
    if m == T::default() {
        Ok(false)
    } else if m == full {
        Ok(true)
    } else {
        Err(Reason::PartialMask(what))
    }
}

fn match_keys(k: &FlowKey, m: &FlowKey) -> Result<Vec<K>, Reason> {
    if m.in_port() != u32::MAX {
        return Err(Reason::PartialMask("in_port"));
    }
    if m.recirc_id() != 0 && k.recirc_id() != 0 {
        return Err(Reason::Match("recirc_id (recirculation)"));
    }
    if m.dp_hash() != 0 {
        return Err(Reason::Match("dp_hash"));
    }
    if m.skb_mark() != 0 {
        return Err(Reason::Match("skb_mark"));
    }
    if m.ct_state() != 0 || m.ct_zone() != 0 || m.ct_mark() != 0 {
        return Err(Reason::Match("conntrack state"));
    }
    if m.ct_label_lo() != 0 || m.ct_label_hi() != 0 {
        return Err(Reason::Match("ct_label"));
    }
    if m.has_tunnel() {
        return Err(Reason::Match("tunnel metadata"));
    }
    if m.cvlan_tci() != 0 || m.cvlan_tpid() != 0 {
        return Err(Reason::Match("inner VLAN (double tagging)"));
    }

    let mut v = Vec::new();
    if m.eth_dst() != 0 {
        v.push(K::EthDst(mac(k.eth_dst())));
        v.push(K::EthDstMask(mac(m.eth_dst())));
    }
    if m.eth_src() != 0 {
        v.push(K::EthSrc(mac(k.eth_src())));
        v.push(K::EthSrcMask(mac(m.eth_src())));
    }
    let has_type = all_or_none(m.eth_type(), u16::MAX, "eth_type")?;
    let eth_type = k.eth_type();
    if has_type && eth_type == ETH_TYPE_NONE {
        return Err(Reason::Match("802.3 frames without an ethertype"));
    }
    let tci_mask = m.vlan_tci();
    if tci_mask != 0 && k.vlan_tci() & VLAN_PRESENT != 0 {
        // A tagged frame: flower's ethertype is the TPID, the inner type
        // goes in vlan_ethtype.
        let tpid = if m.vlan_tpid() == u16::MAX {
            k.vlan_tpid()
        } else if m.vlan_tpid() == 0 {
            0x8100
        } else {
            return Err(Reason::PartialMask("vlan_tpid"));
        };
        v.push(K::EthType(tpid));
        if all_or_none(tci_mask & 0x0fff, 0x0fff, "vlan_vid")? {
            v.push(K::VlanId(k.vlan_tci() & 0x0fff));
        }
        if all_or_none(tci_mask & 0xe000, 0xe000, "vlan_pcp")? {
            v.push(K::VlanPrio((k.vlan_tci() >> 13) as u8));
        }
        if has_type {
            v.push(K::VlanEthType(eth_type));
        }
    } else if has_type {
        // An ethertype key only matches untagged frames (a tag makes the
        // frame's protocol the TPID), which is what a VLAN-present mask
        // without the bit asks, and a subset of what a megaflow that
        // ignores VLANs matches (tagged frames then miss to software).
        v.push(K::EthType(eth_type));
    } else if tci_mask != 0 {
        return Err(Reason::Match("untagged frames of any ethertype"));
    }

    let l3 = has_type.then_some(eth_type);
    match l3 {
        Some(0x0800) | Some(0x86dd) => ip_keys(k, m, eth_type == 0x86dd, &mut v)?,
        Some(0x0806) => arp_keys(k, m, &mut v)?,
        _ => {
            if m.words[11] >> 16 != 0
                || m.words[12] != 0
                || (13..=21).any(|i| m.words[i] != 0)
                || m.nw_tos() != 0
                || m.nw_ttl() != 0
                || m.tcp_flags() != 0
            {
                return Err(Reason::Match("layer 3 fields of a non-IP, non-ARP frame"));
            }
        }
    }
    Ok(v)
}

fn ip_keys(k: &FlowKey, m: &FlowKey, v6: bool, v: &mut Vec<K>) -> Result<(), Reason> {
    if v6 {
        if m.ipv6_src() != 0 {
            v.push(K::Ipv6Src(Ipv6Addr::from(k.ipv6_src())));
            v.push(K::Ipv6SrcMask(Ipv6Addr::from(m.ipv6_src())));
        }
        if m.ipv6_dst() != 0 {
            v.push(K::Ipv6Dst(Ipv6Addr::from(k.ipv6_dst())));
            v.push(K::Ipv6DstMask(Ipv6Addr::from(m.ipv6_dst())));
        }
        if m.ipv6_label() != 0 {
            return Err(Reason::Match("ipv6_label"));
        }
        if m.nd_target_hi() != 0 || m.nd_target_lo() != 0 || m.arp_sha() != 0 || m.arp_tha() != 0 {
            return Err(Reason::Match("neighbour discovery fields"));
        }
    } else {
        if m.nw_src() != 0 {
            v.push(K::Ipv4Src(Ipv4Addr::from(k.nw_src())));
            v.push(K::Ipv4SrcMask(Ipv4Addr::from(m.nw_src())));
        }
        if m.nw_dst() != 0 {
            v.push(K::Ipv4Dst(Ipv4Addr::from(k.nw_dst())));
            v.push(K::Ipv4DstMask(Ipv4Addr::from(m.nw_dst())));
        }
    }
    if m.nw_tos() != 0 {
        v.push(K::IpTos(k.nw_tos()));
        v.push(K::IpTosMask(m.nw_tos()));
    }
    if m.nw_ttl() != 0 {
        v.push(K::IpTtl(k.nw_ttl()));
        v.push(K::IpTtlMask(m.nw_ttl()));
    }
    let (flags, fmask) = frag_flags(k.nw_frag(), m.nw_frag())?;
    if fmask != 0 {
        v.push(K::KeyFlags(flags));
        v.push(K::KeyFlagsMask(fmask));
    }
    let has_proto = all_or_none(m.nw_proto(), u8::MAX, "nw_proto")?;
    let l4_masked = m.tp_src() != 0 || m.tp_dst() != 0 || m.tcp_flags() != 0;
    if !has_proto {
        if l4_masked {
            return Err(Reason::Match("layer 4 fields without an IP protocol"));
        }
        return Ok(());
    }
    let proto = k.nw_proto();
    v.push(K::IpProto(proto));
    if m.tcp_flags() != 0 && proto != 6 {
        return Err(Reason::Match("tcp_flags of a non-TCP packet"));
    }
    let (ts, tsm, td, tdm) = (k.tp_src(), m.tp_src(), k.tp_dst(), m.tp_dst());
    match (proto, v6) {
        (6, _) => {
            if tsm != 0 {
                v.push(K::TcpSrc(ts));
                v.push(K::TcpSrcMask(tsm));
            }
            if tdm != 0 {
                v.push(K::TcpDst(td));
                v.push(K::TcpDstMask(tdm));
            }
            if m.tcp_flags() != 0 {
                v.push(K::TcpFlags(k.tcp_flags()));
                v.push(K::TcpFlagsMask(m.tcp_flags()));
            }
        }
        (17, _) => {
            if tsm != 0 {
                v.push(K::UdpSrc(ts));
                v.push(K::UdpSrcMask(tsm));
            }
            if tdm != 0 {
                v.push(K::UdpDst(td));
                v.push(K::UdpDstMask(tdm));
            }
        }
        (132, _) => {
            if tsm != 0 {
                v.push(K::SctpSrc(ts));
                v.push(K::SctpSrcMask(tsm));
            }
            if tdm != 0 {
                v.push(K::SctpDst(td));
                v.push(K::SctpDstMask(tdm));
            }
        }
        (1, false) => {
            if tsm != 0 {
                v.push(K::Icmpv4Type(ts as u8));
                v.push(K::Icmpv4TypeMask(tsm as u8));
            }
            if tdm != 0 {
                v.push(K::Icmpv4Code(td as u8));
                v.push(K::Icmpv4CodeMask(tdm as u8));
            }
        }
        (58, true) => {
            if tsm != 0 {
                v.push(K::Icmpv6Type(ts as u8));
                v.push(K::Icmpv6TypeMask(tsm as u8));
            }
            if tdm != 0 {
                v.push(K::Icmpv6Code(td as u8));
                v.push(K::Icmpv6CodeMask(tdm as u8));
            }
        }
        _ if l4_masked => return Err(Reason::Match("layer 4 fields of this IP protocol")),
        _ => {}
    }
    Ok(())
}

/// Open vSwitch's nw_frag (ANY, LATER) as flower's key flags (IS_FRAGMENT,
/// FRAG_IS_FIRST). "Not a later fragment" alone has no flower equivalent.
pub fn frag_flags(frag: u8, mask: u8) -> Result<(u32, u32), Reason> {
    let any_m = mask & FRAG_ANY != 0;
    let later_m = mask & FRAG_LATER != 0;
    let (mut f, mut fm) = (0, 0);
    if any_m {
        fm |= FLOWER_IS_FRAGMENT;
        if frag & FRAG_ANY != 0 {
            f |= FLOWER_IS_FRAGMENT;
        }
    }
    if later_m {
        if !any_m {
            return Err(Reason::PartialMask("nw_frag"));
        }
        if frag & FRAG_ANY != 0 {
            fm |= FLOWER_FRAG_IS_FIRST;
            if frag & FRAG_LATER == 0 {
                f |= FLOWER_FRAG_IS_FIRST;
            }
        }
    }
    Ok((f, fm))
}

fn arp_keys(k: &FlowKey, m: &FlowKey, v: &mut Vec<K>) -> Result<(), Reason> {
    if m.nw_proto() != 0 {
        v.push(K::ArpOp(k.nw_proto()));
        v.push(K::ArpOpMask(m.nw_proto()));
    }
    if m.nw_src() != 0 {
        v.push(K::ArpSip(Ipv4Addr::from(k.nw_src())));
        v.push(K::ArpSipMask(Ipv4Addr::from(m.nw_src())));
    }
    if m.nw_dst() != 0 {
        v.push(K::ArpTip(Ipv4Addr::from(k.nw_dst())));
        v.push(K::ArpTipMask(Ipv4Addr::from(m.nw_dst())));
    }
    if m.arp_sha() != 0 {
        v.push(K::ArpSha(mac(k.arp_sha())));
        v.push(K::ArpShaMask(mac(m.arp_sha())));
    }
    if m.arp_tha() != 0 {
        v.push(K::ArpTha(mac(k.arp_tha())));
        v.push(K::ArpThaMask(mac(m.arp_tha())));
    }
    Ok(())
}

/// Header rewrites gathered between outputs: one pedit and one csum.
#[derive(Default)]
struct Pedit {
    /// (header type, aligned offset, value bytes, set-mask bytes)
    keys: Vec<(u16, u32, [u8; 4], [u8; 4])>,
    csum: u32,
}

impl Pedit {
    /// Sets the bytes of `value` under `mask` at byte `off` of header `h`.
    fn set(&mut self, h: u16, off: u32, value: &[u8], mask: &[u8]) {
        for (i, (&b, &bm)) in value.iter().zip(mask).enumerate() {
            if bm == 0 {
                continue;
            }
            let at = off + i as u32;
            let word = at & !3;
            let idx = match self.keys.iter().position(|k| k.0 == h && k.1 == word) {
                Some(i) => i,
                None => {
                    self.keys.push((h, word, [0; 4], [0; 4]));
                    self.keys.len() - 1
                }
            };
            let k = &mut self.keys[idx];
            let j = (at - word) as usize;
            k.2[j] = (k.2[j] & !bm) | (b & bm);
            k.3[j] |= bm;
        }
    }

    fn take(&mut self, cookie: &[u8], out: &mut Vec<TcAction>) {
        if self.keys.is_empty() {
            return;
        }
        out.push(action("pedit", cookie, pedit_options(&self.keys)));
        if self.csum != 0 {
            let mut p = tc_gen(TC_ACT_PIPE);
            p.extend_from_slice(&self.csum.to_ne_bytes());
            out.push(action("csum", cookie, vec![raw(1, p)]));
        }
        self.keys.clear();
        self.csum = 0;
    }
}

fn tc_gen(verdict: i32) -> Vec<u8> {
    let mut v = Vec::with_capacity(24);
    v.extend_from_slice(&0u32.to_ne_bytes()); // index: the kernel picks
    v.extend_from_slice(&0u32.to_ne_bytes()); // capab
    v.extend_from_slice(&verdict.to_ne_bytes());
    v.extend_from_slice(&0i32.to_ne_bytes()); // refcnt
    v.extend_from_slice(&0i32.to_ne_bytes()); // bindcnt
    v
}

/// TCA_PEDIT_PARMS_EX (struct tc_pedit_sel + keys) and TCA_PEDIT_KEYS_EX.
fn pedit_options(keys: &[(u16, u32, [u8; 4], [u8; 4])]) -> Vec<TcActionOption> {
    let mut sel = tc_gen(TC_ACT_PIPE);
    sel.push(keys.len() as u8); // nkeys
    sel.push(0); // flags
    sel.extend_from_slice(&[0, 0]);
    for (_, off, val, setmask) in keys {
        // The kernel computes *word = (*word & mask) ^ val on the bytes as
        // they lie in the packet.
        let keep = [!setmask[0], !setmask[1], !setmask[2], !setmask[3]];
        let v = [
            val[0] & setmask[0],
            val[1] & setmask[1],
            val[2] & setmask[2],
            val[3] & setmask[3],
        ];
        sel.extend_from_slice(&keep);
        sel.extend_from_slice(&v);
        sel.extend_from_slice(&off.to_ne_bytes());
        sel.extend_from_slice(&0u32.to_ne_bytes()); // at
        sel.extend_from_slice(&0u32.to_ne_bytes()); // offmask
        sel.extend_from_slice(&0u32.to_ne_bytes()); // shift
    }
    let mut ex = Vec::new();
    for (h, ..) in keys {
        // TCA_PEDIT_KEY_EX { HTYPE u16, CMD u16 (0 = set) }
        let mut inner = Vec::new();
        push_nla(&mut inner, 1, &h.to_ne_bytes());
        push_nla(&mut inner, 2, &0u16.to_ne_bytes());
        push_nla(&mut ex, 6 | NLA_F_NESTED, &inner);
    }
    vec![raw(4, sel), raw(5 | NLA_F_NESTED, ex)]
}

/// An action option netlink-packet-route has no type for, as bytes.
fn raw(ty: u16, value: Vec<u8>) -> TcActionOption {
    TcActionOption::Other(DefaultNla::new(ty, value))
}

fn push_nla(buf: &mut Vec<u8>, ty: u16, value: &[u8]) {
    let len = 4 + value.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + ((4 - len % 4) % 4), 0);
}

fn action(kind: &str, cookie: &[u8], options: Vec<TcActionOption>) -> TcAction {
    let mut attributes = vec![TcActionAttribute::Kind(kind.into())];
    if !cookie.is_empty() {
        attributes.push(TcActionAttribute::Cookie(cookie.to_vec()));
    }
    attributes.push(TcActionAttribute::Options(options));
    let mut a = TcAction::default();
    a.tab = 0;
    a.attributes = attributes;
    a
}

/// act_gact with the given verdict (drop: TC_ACT_SHOT).
pub fn gact(verdict: i32, cookie: &[u8]) -> TcAction {
    action("gact", cookie, vec![raw(2, tc_gen(verdict))])
}

pub fn drop_action(cookie: &[u8]) -> TcAction {
    gact(TC_ACT_SHOT, cookie)
}

/// act_mirred: redirect (the packet leaves the filter) or mirror (a copy).
pub fn mirred(to: Redirect, redirect: bool, cookie: &[u8]) -> TcAction {
    let (eaction, ifindex) = match (to, redirect) {
        (Redirect::Egress(i), true) => (TcMirrorActionType::EgressRedir, i),
        (Redirect::Egress(i), false) => (TcMirrorActionType::EgressMirror, i),
        (Redirect::Ingress(i), true) => (TcMirrorActionType::IngressRedir, i),
        (Redirect::Ingress(i), false) => (TcMirrorActionType::IngressMirror, i),
    };
    let mut generic = TcActionGeneric::default();
    generic.action = if redirect {
        TcActionType::Stolen
    } else {
        TcActionType::Pipe
    };
    let mut parms = TcMirror::default();
    parms.generic = generic;
    parms.eaction = eaction;
    parms.ifindex = ifindex;
    action(
        "mirred",
        cookie,
        vec![TcActionOption::Mirror(TcActionMirrorOption::Parms(parms))],
    )
}

/// act_vlan: pop (1), push (2) or modify (3).
fn vlan(v_action: i32, tpid: u16, tci: Option<u16>, cookie: &[u8]) -> TcAction {
    let mut p = tc_gen(TC_ACT_PIPE);
    p.extend_from_slice(&v_action.to_ne_bytes());
    let mut opts = vec![raw(2, p)];
    if let Some(tci) = tci {
        opts.push(raw(3, (tci & 0x0fff).to_ne_bytes().to_vec()));
        opts.push(raw(4, tpid.to_be_bytes().to_vec()));
        opts.push(raw(6, vec![(tci >> 13) as u8]));
    }
    action("vlan", cookie, opts)
}

/// A minimal action of `kind` that the kernel either accepts or rejects
/// for a reason other than a missing module: used to probe what exists.
pub fn probe_action(kind: &str) -> TcAction {
    match kind {
        "mirred" => mirred(Redirect::Egress(1), false, &[]),
        "gact" => drop_action(&[]),
        "vlan" => vlan(1, 0, None, &[]),
        "pedit" => {
            let mut p = Pedit::default();
            p.set(PEDIT_IP4, 8, &[64], &[0xff]);
            pedit_action(&mut p)
        }
        "csum" => {
            let mut p = tc_gen(TC_ACT_PIPE);
            p.extend_from_slice(&CSUM_IPV4HDR.to_ne_bytes());
            action("csum", &[], vec![raw(1, p)])
        }
        "tunnel_key" => {
            // struct tc_tunnel_key { tc_gen; int t_action = UNSET (2) }
            let mut p = tc_gen(TC_ACT_PIPE);
            p.extend_from_slice(&2i32.to_ne_bytes());
            action("tunnel_key", &[], vec![raw(2, p)])
        }
        "ct" => action("ct", &[], vec![raw(1, tc_gen(TC_ACT_PIPE))]),
        other => action(other, &[], Vec::new()),
    }
}

fn pedit_action(p: &mut Pedit) -> TcAction {
    let mut v = Vec::new();
    p.take(&[], &mut v);
    v.remove(0)
}

fn tc_actions(
    key: &FlowKey,
    mask: &FlowKey,
    actions: &[Action],
    devs: &dyn Devices,
    cookie: &[u8],
) -> Result<Vec<TcAction>, Reason> {
    let mut out: Vec<TcAction> = Vec::new();
    let mut pedit = Pedit::default();
    // Index in `out` of the last mirred mirror, if nothing followed it.
    let mut last_mirror: Option<usize> = None;
    let need = |kind: &'static str| {
        if devs.has_action(kind) {
            Ok(())
        } else {
            Err(Reason::KernelLacks(kind))
        }
    };
    let l4 = if mask.nw_proto() != 0 {
        Some(key.nw_proto())
    } else {
        None
    };
    for a in actions {
        match a {
            Action::Output(p) => {
                let to = devs.redirect(*p).ok_or(Reason::NoDevice(*p))?;
                need("mirred")?;
                pedit.take(cookie, &mut out);
                out.push(mirred(to, false, cookie));
                last_mirror = Some(out.len() - 1);
                continue;
            }
            Action::Drop => break,
            Action::Set(s) => {
                need("pedit")?;
                set_header(s, l4, &mut pedit)?;
                if pedit.csum != 0 {
                    need("csum")?;
                }
                continue; // a rewrite alone does not end a mirror's run
            }
            Action::PushVlan { tpid, tci } => {
                need("vlan")?;
                pedit.take(cookie, &mut out);
                out.push(vlan(2, *tpid, Some(*tci), cookie));
            }
            Action::PopVlan => {
                need("vlan")?;
                pedit.take(cookie, &mut out);
                out.push(vlan(1, 0, None, cookie));
            }
            Action::Userspace { .. } => return Err(Reason::Action("userspace (controller)")),
            Action::Recirc(_) => return Err(Reason::Action("recirc")),
            Action::Hash { .. } => return Err(Reason::Action("hash (dp_hash)")),
            Action::Clone(_) => return Err(Reason::Action("clone")),
            Action::Sample { .. } => return Err(Reason::Action("sample")),
            Action::Trunc(_) => return Err(Reason::Action("trunc")),
            Action::Meter(_) => return Err(Reason::Action("meter")),
        }
        last_mirror = None;
    }
    // The last output takes the packet; with none, or rewrites after it,
    // the packet must not go on to the host's stack: drop it.
    match last_mirror {
        Some(i) if i + 1 == out.len() && pedit.keys.is_empty() => {
            if let Some(TcActionAttribute::Options(o)) = out[i].attributes.last_mut() {
                if let Some(TcActionOption::Mirror(TcActionMirrorOption::Parms(m))) = o.first_mut()
                {
                    m.generic.action = TcActionType::Stolen;
                    m.eaction = match m.eaction {
                        TcMirrorActionType::IngressMirror => TcMirrorActionType::IngressRedir,
                        _ => TcMirrorActionType::EgressRedir,
                    };
                }
            }
        }
        _ => {
            need("gact")?;
            out.push(drop_action(cookie));
        }
    }
    // The kernel parses at most TCA_ACT_MAX_PRIO actions and ignores the
    // rest, which would cut off the final redirect or drop.
    if out.len() > TCA_ACT_MAX_PRIO {
        return Err(Reason::Action("more than 32 tc actions"));
    }
    for (i, a) in out.iter_mut().enumerate() {
        a.tab = i as u16 + 1;
    }
    Ok(out)
}

fn set_header(s: &SetHeader, l4: Option<u8>, p: &mut Pedit) -> Result<(), Reason> {
    match s {
        SetHeader::Ethernet { value, mask } => {
            p.set(PEDIT_ETH, 0, &value.dst, &mask.dst);
            p.set(PEDIT_ETH, 6, &value.src, &mask.src);
        }
        SetHeader::Ipv4 { value, mask } => {
            p.set(PEDIT_IP4, 1, &[value.tos], &[mask.tos]);
            p.set(PEDIT_IP4, 8, &[value.ttl], &[mask.ttl]);
            p.set(
                PEDIT_IP4,
                12,
                &value.src.to_be_bytes(),
                &mask.src.to_be_bytes(),
            );
            p.set(
                PEDIT_IP4,
                16,
                &value.dst.to_be_bytes(),
                &mask.dst.to_be_bytes(),
            );
            p.csum |= CSUM_IPV4HDR;
            if mask.src != 0 || mask.dst != 0 {
                p.csum |= l4_csum(l4)?;
            }
        }
        SetHeader::Ipv6 { value, mask } => {
            // Version (4 bits), traffic class (8), flow label (20).
            let word = (u32::from(value.tclass) << 20) | (value.label & 0x000f_ffff);
            let wmask = (u32::from(mask.tclass) << 20) | (mask.label & 0x000f_ffff);
            p.set(PEDIT_IP6, 0, &word.to_be_bytes(), &wmask.to_be_bytes());
            p.set(PEDIT_IP6, 7, &[value.hlimit], &[mask.hlimit]);
            p.set(
                PEDIT_IP6,
                8,
                &value.src.to_be_bytes(),
                &mask.src.to_be_bytes(),
            );
            p.set(
                PEDIT_IP6,
                24,
                &value.dst.to_be_bytes(),
                &mask.dst.to_be_bytes(),
            );
            if mask.src != 0 || mask.dst != 0 {
                p.csum |= l4_csum(l4)? | if l4 == Some(58) { CSUM_ICMP } else { 0 };
            }
        }
        SetHeader::Tcp { value, mask } => {
            p.set(
                PEDIT_TCP,
                0,
                &value.src.to_be_bytes(),
                &mask.src.to_be_bytes(),
            );
            p.set(
                PEDIT_TCP,
                2,
                &value.dst.to_be_bytes(),
                &mask.dst.to_be_bytes(),
            );
            p.csum |= CSUM_TCP;
        }
        SetHeader::Udp { value, mask } => {
            p.set(
                PEDIT_UDP,
                0,
                &value.src.to_be_bytes(),
                &mask.src.to_be_bytes(),
            );
            p.set(
                PEDIT_UDP,
                2,
                &value.dst.to_be_bytes(),
                &mask.dst.to_be_bytes(),
            );
            p.csum |= CSUM_UDP;
        }
        SetHeader::Vlan { .. } => return Err(Reason::Action("set of the VLAN TCI")),
        SetHeader::Icmp { .. } => return Err(Reason::Action("set of ICMP type/code")),
        SetHeader::SkbMark { .. } => return Err(Reason::Action("set of skb_mark")),
    }
    Ok(())
}

/// The L4 checksums an address rewrite invalidates (pseudo-header), for
/// protocols whose packets tc can fix. TCP and UDP cannot be: act_csum
/// leaves GSO packets alone, and the partial checksum of a GSO TCP or UDP
/// packet is its pseudo-header's, which would go on naming the old
/// addresses once the packet is cut into segments (on a NIC, or by the
/// kernel for a device without TSO). Such rewrites stay in oxvs, which
/// updates that partial checksum.
fn l4_csum(l4: Option<u8>) -> Result<u32, Reason> {
    match l4 {
        Some(6) | Some(17) | None => Err(Reason::Action(
            "address rewrite of TCP or UDP (act_csum skips GSO packets)",
        )),
        // DCCP and UDP-Lite checksum a pseudo-header too, and act_csum
        // does not know them.
        Some(33) | Some(136) => Err(Reason::Action(
            "address rewrite of DCCP or UDP-Lite (act_csum cannot fix their checksum)",
        )),
        Some(_) => Ok(0),
    }
}
