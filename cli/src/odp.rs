//! Datapath flows in the syntax Open vSwitch prints them in
//! (`ovs-appctl dpctl/dump-flows`, lib/odp-util.c): only the attributes the
//! mask covers, each field shown only if its mask is not zero, `/mask` after
//! a partially masked value, VLAN-tagged packets as
//! `eth_type(0x8100),vlan(..),encap(..)`.

use std::fmt::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use oxvs_datapath::action::{Action, SetHeader};
use oxvs_datapath::flow_key::{fmt_mac, FlowKey, FRAG_ANY, FRAG_LATER, VLAN_PRESENT};

const ETH_TYPE_IP: u16 = 0x0800;
const ETH_TYPE_ARP: u16 = 0x0806;
const ETH_TYPE_RARP: u16 = 0x8035;
const ETH_TYPE_IPV6: u16 = 0x86dd;
const ETH_TYPE_VLAN: u16 = 0x8100;

/// Port number to name, for `--names`.
pub type PortNamer<'a> = &'a dyn Fn(u32) -> Option<String>;

fn port(no: u32, names: Option<PortNamer<'_>>) -> String {
    names.and_then(|f| f(no)).unwrap_or_else(|| no.to_string())
}

/// A list of `name=value` fields, joined by commas.
#[derive(Default)]
struct Fields(String);

impl Fields {
    fn push(&mut self, s: impl AsRef<str>) {
        if !self.0.is_empty() {
            self.0.push(',');
        }
        self.0.push_str(s.as_ref());
    }

    /// Decimal value, hex mask when partial.
    fn dec(&mut self, name: &str, v: u64, m: u64, full: u64) {
        if m == 0 {
            return;
        }
        if m == full {
            self.push(format!("{name}={v}"));
        } else {
            self.push(format!("{name}={v}/{m:#x}"));
        }
    }

    /// Hex value (`%#x`: 0 prints as "0"), hex mask when partial.
    fn hex(&mut self, name: &str, v: u64, m: u64, full: u64) {
        if m == 0 {
            return;
        }
        let v = if v == 0 {
            "0".to_string()
        } else {
            format!("{v:#x}")
        };
        if m == full {
            self.push(format!("{name}={v}"));
        } else {
            self.push(format!("{name}={v}/{m:#x}"));
        }
    }

    fn mac(&mut self, name: &str, v: u64, m: u64) {
        const FULL: u64 = 0xffff_ffff_ffff;
        let m = m & FULL;
        if m == 0 {
            return;
        }
        if m == FULL {
            self.push(format!("{name}={}", fmt_mac(v)));
        } else {
            self.push(format!("{name}={}/{}", fmt_mac(v), fmt_mac(m)));
        }
    }

    fn ipv4(&mut self, name: &str, v: u32, m: u32) {
        if m == 0 {
            return;
        }
        if m == u32::MAX {
            self.push(format!("{name}={}", Ipv4Addr::from(v)));
        } else {
            self.push(format!(
                "{name}={}/{}",
                Ipv4Addr::from(v),
                Ipv4Addr::from(m)
            ));
        }
    }

    fn ipv6(&mut self, name: &str, v: u128, m: u128) {
        if m == 0 {
            return;
        }
        if m == u128::MAX {
            self.push(format!("{name}={}", Ipv6Addr::from(v)));
        } else {
            self.push(format!(
                "{name}={}/{}",
                Ipv6Addr::from(v),
                Ipv6Addr::from(m)
            ));
        }
    }

    /// `frag=no|first|later` from the key's nw_frag bits.
    fn frag(&mut self, v: u8, m: u8) {
        if m == 0 {
            return;
        }
        let name = if v & FRAG_ANY == 0 {
            "no"
        } else if v & FRAG_LATER != 0 {
            "later"
        } else {
            "first"
        };
        self.push(format!("frag={name}"));
    }

    fn done(self) -> String {
        self.0
    }
}

/// Open vSwitch's names of TCP flag bits (packet_tcp_flag_to_string).
fn tcp_flag_name(bit: u16) -> Option<&'static str> {
    Some(match bit {
        0x001 => "fin",
        0x002 => "syn",
        0x004 => "rst",
        0x008 => "psh",
        0x010 => "ack",
        0x020 => "urg",
        0x040 => "ece",
        0x080 => "cwr",
        0x100 => "ns",
        _ => return None,
    })
}

/// Open vSwitch's names of conntrack state bits (OVS_CS_F_*).
fn ct_state_name(bit: u16) -> Option<&'static str> {
    Some(match bit {
        0x01 => "new",
        0x02 => "est",
        0x04 => "rel",
        0x08 => "rpl",
        0x10 => "inv",
        0x20 => "trk",
        0x40 => "snat",
        0x80 => "dnat",
        _ => return None,
    })
}

/// Flags the way format_flags/format_flags_masked print them: exact as
/// `a|b` (or `0`), partial as `+a-b` for each masked bit.
fn flags(v: u16, m: u16, full: u16, name: fn(u16) -> Option<&'static str>) -> String {
    let bits = |mask: u16| (0..16).map(|i| 1u16 << i).filter(move |b| mask & b != 0);
    let label = |b: u16| {
        name(b)
            .map(str::to_string)
            .unwrap_or_else(|| format!("0x{b:x}"))
    };
    if m & full == full {
        let set: Vec<String> = bits(v & full).map(label).collect();
        if set.is_empty() {
            "0".into()
        } else {
            set.join("|")
        }
    } else if m == 0 {
        "0/0".into()
    } else {
        bits(m)
            .map(|b| format!("{}{}", if v & b != 0 { '+' } else { '-' }, label(b)))
            .collect()
    }
}

/// `vlan(vid=..,pcp=..,cfi=0)` as format_vlan_tci prints it. Our
/// VLAN_PRESENT bit plays the part of Open vSwitch's CFI bit.
fn vlan_tci(tci: u16, mask: u16) -> String {
    let mut f = Fields::default();
    let (vid, vid_m) = (tci & 0x0fff, mask & 0x0fff);
    if vid != 0 || vid_m != 0 {
        if vid_m == 0x0fff {
            f.push(format!("vid={vid}"));
        } else {
            f.push(format!("vid={vid}/{vid_m:#x}"));
        }
    }
    let (pcp, pcp_m) = (tci >> 13, mask >> 13);
    if pcp != 0 || pcp_m != 0 {
        if pcp_m == 7 {
            f.push(format!("pcp={pcp}"));
        } else {
            f.push(format!("pcp={pcp}/{pcp_m:#x}"));
        }
    }
    if tci & VLAN_PRESENT == 0 {
        f.push("cfi=0");
    }
    format!("vlan({})", f.done())
}

/// Formats the match of megaflow `key`/`mask` (`key` already masked).
pub fn format_match(key: &FlowKey, mask: &FlowKey, names: Option<PortNamer<'_>>) -> String {
    let k = key;
    let m = mask;
    let mut out = Fields::default();

    // Metadata, in the order the kernel datapath dumps it.
    if m.recirc_id() != 0 {
        if m.recirc_id() == u32::MAX {
            out.push(format!("recirc_id({})", hex0(k.recirc_id() as u64)));
        } else {
            out.push(format!(
                "recirc_id({}/{:#x})",
                hex0(k.recirc_id() as u64),
                m.recirc_id()
            ));
        }
    }
    if m.dp_hash() != 0 {
        out.push(masked_hex32("dp_hash", k.dp_hash(), m.dp_hash()));
    }
    let tun_mask = m.has_tunnel();
    if tun_mask {
        let mut f = Fields::default();
        f.hex("tun_id", k.tun_id(), m.tun_id(), u64::MAX);
        f.ipv4("src", k.tun_src(), m.tun_src());
        f.ipv4("dst", k.tun_dst(), m.tun_dst());
        f.hex("tos", k.tun_tos() as u64, m.tun_tos() as u64, 0xff);
        f.dec("ttl", k.tun_ttl() as u64, m.tun_ttl() as u64, 0xff);
        f.dec(
            "tp_src",
            k.tun_tp_src() as u64,
            m.tun_tp_src() as u64,
            0xffff,
        );
        f.dec(
            "tp_dst",
            k.tun_tp_dst() as u64,
            m.tun_tp_dst() as u64,
            0xffff,
        );
        if m.tun_flags() != 0 {
            f.push(format!(
                "flags({})",
                masked_hex_only(k.tun_flags() as u64, m.tun_flags() as u64, 0xffff)
            ));
        }
        out.push(format!("tunnel({})", f.done()));
    }
    if m.in_port() != 0 {
        if m.in_port() == u32::MAX {
            out.push(format!("in_port({})", port(k.in_port(), names)));
        } else {
            out.push(format!("in_port({}/{:#x})", k.in_port(), m.in_port()));
        }
    }
    if m.skb_mark() != 0 {
        out.push(masked_hex32("skb_mark", k.skb_mark(), m.skb_mark()));
    }
    if m.ct_state() != 0 {
        out.push(format!(
            "ct_state({})",
            flags(k.ct_state(), m.ct_state(), 0xff, ct_state_name)
        ));
    }
    if m.ct_zone() != 0 {
        out.push(format!(
            "ct_zone({})",
            masked_hex_only(k.ct_zone() as u64, m.ct_zone() as u64, 0xffff)
        ));
    }
    if m.ct_mark() != 0 {
        out.push(masked_hex32("ct_mark", k.ct_mark(), m.ct_mark()));
    }
    if m.ct_label() != 0 {
        let v = format!("{:#x}", k.ct_label());
        if m.ct_label() == u128::MAX {
            out.push(format!("ct_label({v})"));
        } else {
            out.push(format!("ct_label({v}/{:#x})", m.ct_label()));
        }
    }

    // Ethernet: always shown, as the kernel datapath does (an Ethernet
    // packet even when no address is matched).
    let mut eth = Fields::default();
    eth.mac("src", k.eth_src(), m.eth_src());
    eth.mac("dst", k.eth_dst(), m.eth_dst());
    out.push(format!("eth({})", eth.done()));

    let inner = format_l3(k, m);
    if k.vlan_tci() & VLAN_PRESENT != 0 {
        let tpid = if m.vlan_tpid() != 0 && k.vlan_tpid() != 0 {
            k.vlan_tpid()
        } else {
            ETH_TYPE_VLAN
        };
        out.push(format!("eth_type(0x{tpid:04x})"));
        out.push(vlan_tci(k.vlan_tci(), m.vlan_tci()));
        let mut encap = Fields::default();
        if k.cvlan_tci() & VLAN_PRESENT != 0 {
            let ctpid = if k.cvlan_tpid() != 0 {
                k.cvlan_tpid()
            } else {
                ETH_TYPE_VLAN
            };
            encap.push(format!("eth_type(0x{ctpid:04x})"));
            encap.push(vlan_tci(k.cvlan_tci(), m.cvlan_tci()));
            encap.push(format!("encap({inner})"));
        } else {
            if m.cvlan_tci() != 0 {
                encap.push(vlan_tci(k.cvlan_tci(), m.cvlan_tci()));
            }
            if !inner.is_empty() {
                encap.push(inner);
            }
        }
        out.push(format!("encap({})", encap.done()));
    } else {
        if m.vlan_tci() != 0 {
            // Untagged, and the flow says so.
            out.push(vlan_tci(k.vlan_tci(), m.vlan_tci()));
        }
        if !inner.is_empty() {
            out.push(inner);
        }
    }
    out.done()
}

fn hex0(v: u64) -> String {
    if v == 0 {
        "0".into()
    } else {
        format!("{v:#x}")
    }
}

fn masked_hex32(name: &str, v: u32, m: u32) -> String {
    format!(
        "{name}({})",
        masked_hex_only(v as u64, m as u64, u32::MAX as u64)
    )
}

fn masked_hex_only(v: u64, m: u64, full: u64) -> String {
    if m == full {
        hex0(v)
    } else {
        format!("{}/{m:#x}", hex0(v))
    }
}

/// eth_type and what follows it (L3, L4), or "" if the mask covers none.
fn format_l3(k: &FlowKey, m: &FlowKey) -> String {
    let mut out = Fields::default();
    let et = k.eth_type();
    if m.eth_type() != 0 {
        if m.eth_type() == 0xffff {
            out.push(format!("eth_type(0x{et:04x})"));
        } else {
            out.push(format!("eth_type(0x{et:04x}/0x{:04x})", m.eth_type()));
        }
    }
    match et {
        ETH_TYPE_IP => {
            let mut f = Fields::default();
            f.ipv4("src", k.nw_src(), m.nw_src());
            f.ipv4("dst", k.nw_dst(), m.nw_dst());
            f.dec("proto", k.nw_proto() as u64, m.nw_proto() as u64, 0xff);
            f.hex("tos", k.nw_tos() as u64, m.nw_tos() as u64, 0xff);
            f.dec("ttl", k.nw_ttl() as u64, m.nw_ttl() as u64, 0xff);
            f.frag(k.nw_frag(), m.nw_frag());
            let f = f.done();
            if !f.is_empty() {
                out.push(format!("ipv4({f})"));
            }
            format_l4(&mut out, k, m, false);
        }
        ETH_TYPE_IPV6 => {
            let mut f = Fields::default();
            f.ipv6("src", k.ipv6_src(), m.ipv6_src());
            f.ipv6("dst", k.ipv6_dst(), m.ipv6_dst());
            f.hex(
                "label",
                k.ipv6_label() as u64,
                m.ipv6_label() as u64,
                0xf_ffff,
            );
            f.dec("proto", k.nw_proto() as u64, m.nw_proto() as u64, 0xff);
            f.hex("tclass", k.nw_tos() as u64, m.nw_tos() as u64, 0xff);
            f.dec("hlimit", k.nw_ttl() as u64, m.nw_ttl() as u64, 0xff);
            f.frag(k.nw_frag(), m.nw_frag());
            let f = f.done();
            if !f.is_empty() {
                out.push(format!("ipv6({f})"));
            }
            format_l4(&mut out, k, m, true);
        }
        ETH_TYPE_ARP | ETH_TYPE_RARP => {
            let mut f = Fields::default();
            f.ipv4("sip", k.nw_src(), m.nw_src());
            f.ipv4("tip", k.nw_dst(), m.nw_dst());
            f.dec("op", k.nw_proto() as u64, m.nw_proto() as u64, 0xff);
            f.mac("sha", k.arp_sha(), m.arp_sha());
            f.mac("tha", k.arp_tha(), m.arp_tha());
            let f = f.done();
            if !f.is_empty() {
                out.push(format!("arp({f})"));
            }
        }
        _ => {}
    }
    out.done()
}

fn format_l4(out: &mut Fields, k: &FlowKey, m: &FlowKey, v6: bool) {
    // Without the protocol in the mask the L4 fields have no name to go by.
    if m.nw_proto() == 0 {
        return;
    }
    let ports = |out: &mut Fields, name: &str| {
        let mut f = Fields::default();
        f.dec("src", k.tp_src() as u64, m.tp_src() as u64, 0xffff);
        f.dec("dst", k.tp_dst() as u64, m.tp_dst() as u64, 0xffff);
        let f = f.done();
        if !f.is_empty() {
            out.push(format!("{name}({f})"));
        }
    };
    match (k.nw_proto(), v6) {
        (6, _) => {
            ports(out, "tcp");
            if m.tcp_flags() & 0x0fff != 0 {
                out.push(format!(
                    "tcp_flags({})",
                    flags(k.tcp_flags(), m.tcp_flags(), 0x0fff, tcp_flag_name)
                ));
            }
        }
        (17, _) => ports(out, "udp"),
        (132, _) => ports(out, "sctp"),
        (1, false) | (58, true) => {
            let mut f = Fields::default();
            f.dec("type", k.tp_src() as u64, m.tp_src() as u64, 0xff);
            f.dec("code", k.tp_dst() as u64, m.tp_dst() as u64, 0xff);
            let f = f.done();
            if !f.is_empty() {
                out.push(format!("{}({f})", if v6 { "icmpv6" } else { "icmp" }));
            }
            if v6 && matches!(k.tp_src(), 135 | 136) {
                let mut f = Fields::default();
                f.ipv6("target", k.nd_target(), m.nd_target());
                f.mac("sll", k.arp_sha(), m.arp_sha());
                f.mac("tll", k.arp_tha(), m.arp_tha());
                let f = f.done();
                if !f.is_empty() {
                    out.push(format!("nd({f})"));
                }
            }
        }
        _ => {}
    }
}

/// Formats an action list (`drop` if empty).
pub fn format_actions(actions: &[Action], names: Option<PortNamer<'_>>) -> String {
    if actions.is_empty() {
        return "drop".into();
    }
    actions
        .iter()
        .map(|a| format_action(a, names))
        .collect::<Vec<_>>()
        .join(",")
}

fn format_action(a: &Action, names: Option<PortNamer<'_>>) -> String {
    match a {
        Action::Output(no) => port(*no, names),
        Action::Userspace { userdata } => {
            format!("userspace(pid=0,userdata({:016x}))", userdata)
        }
        Action::Set(s) => format!("set({})", format_set(s)),
        Action::PushVlan { tpid, tci } => {
            let mut s = String::from("push_vlan(");
            if *tpid != ETH_TYPE_VLAN {
                let _ = write!(s, "tpid=0x{tpid:04x},");
            }
            let _ = write!(s, "vid={},pcp={})", tci & 0x0fff, tci >> 13);
            s
        }
        Action::PopVlan => "pop_vlan".into(),
        Action::Recirc(id) => format!("recirc({})", hex0(*id as u64)),
        Action::Hash { basis } => format!("hash(l4({basis}))"),
        Action::Clone(inner) => format!("clone({})", format_actions(inner, names)),
        Action::Sample {
            probability,
            actions,
        } => format!(
            "sample(sample={:.1}%,actions({}))",
            *probability as f64 * 100.0 / u32::MAX as f64,
            format_actions(actions, names)
        ),
        Action::Trunc(n) => format!("trunc({n})"),
        Action::Meter(m) => format!("meter({})", m.id()),
        Action::Drop => "drop".into(),
    }
}

fn format_set(s: &SetHeader) -> String {
    let mut f = Fields::default();
    match s {
        SetHeader::Ethernet { value, mask } => {
            let mac = |b: &[u8; 6]| oxvs_datapath::flow_key::mac_from_bytes(b);
            f.mac("src", mac(&value.src), mac(&mask.src));
            f.mac("dst", mac(&value.dst), mac(&mask.dst));
            format!("eth({})", f.done())
        }
        SetHeader::Vlan { tci, mask } => {
            f.dec("vid", (tci & 0x0fff) as u64, (mask & 0x0fff) as u64, 0x0fff);
            f.dec("pcp", (tci >> 13) as u64, (mask >> 13) as u64, 7);
            format!("vlan({})", f.done())
        }
        SetHeader::Ipv4 { value, mask } => {
            f.ipv4("src", value.src, mask.src);
            f.ipv4("dst", value.dst, mask.dst);
            f.hex("tos", value.tos as u64, mask.tos as u64, 0xff);
            f.dec("ttl", value.ttl as u64, mask.ttl as u64, 0xff);
            format!("ipv4({})", f.done())
        }
        SetHeader::Ipv6 { value, mask } => {
            f.ipv6("src", value.src, mask.src);
            f.ipv6("dst", value.dst, mask.dst);
            f.hex("label", value.label as u64, mask.label as u64, 0xf_ffff);
            f.hex("tclass", value.tclass as u64, mask.tclass as u64, 0xff);
            f.dec("hlimit", value.hlimit as u64, mask.hlimit as u64, 0xff);
            format!("ipv6({})", f.done())
        }
        SetHeader::Tcp { value, mask } | SetHeader::Udp { value, mask } => {
            f.dec("src", value.src as u64, mask.src as u64, 0xffff);
            f.dec("dst", value.dst as u64, mask.dst as u64, 0xffff);
            let name = if matches!(s, SetHeader::Tcp { .. }) {
                "tcp"
            } else {
                "udp"
            };
            format!("{name}({})", f.done())
        }
        SetHeader::Icmp { value, mask } => {
            f.dec("type", value.icmp_type as u64, mask.icmp_type as u64, 0xff);
            f.dec("code", value.code as u64, mask.code as u64, 0xff);
            format!("icmp({})", f.done())
        }
        SetHeader::SkbMark { value, mask } => masked_hex32("skb_mark", *value, *mask),
    }
}

/// TCP flags seen by a flow, as dpif_flow_stats_format prints them after
/// `flags:` (S, F, P, R, U, '.', E, C, N).
pub fn format_tcp_flags_short(f: u16) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (0x002, 'S'),
        (0x001, 'F'),
        (0x008, 'P'),
        (0x004, 'R'),
        (0x020, 'U'),
        (0x010, '.'),
        (0x040, 'E'),
        (0x080, 'C'),
        (0x100, 'N'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvs_datapath::action::{Ipv4Set, SetHeader};
    use std::sync::Arc;

    fn mac(b: [u8; 6]) -> u64 {
        oxvs_datapath::flow_key::mac_from_bytes(&b)
    }

    fn udp_key() -> FlowKey {
        let mut k = FlowKey::ZERO;
        k.set_in_port(2);
        k.set_eth_src(mac([0x0a, 0, 0, 0, 0, 1]));
        k.set_eth_dst(mac([0x0a, 0, 0, 0, 0, 2]));
        k.set_eth_type(0x0800);
        k.set_nw_src(u32::from(Ipv4Addr::new(10, 0, 0, 1)));
        k.set_nw_dst(u32::from(Ipv4Addr::new(10, 0, 0, 2)));
        k.set_nw_proto(17);
        k.set_nw_ttl(64);
        k.set_tp_src(5000);
        k.set_tp_dst(53);
        k
    }

    #[test]
    fn five_tuple_flow_prints_like_ovs() {
        let k = udp_key();
        let mut m = FlowKey::ZERO;
        m.set_in_port(u32::MAX);
        m.set_recirc_id(u32::MAX);
        m.set_eth_src(u64::MAX);
        m.set_eth_dst(u64::MAX);
        m.set_eth_type(0xffff);
        m.set_nw_src(u32::MAX);
        m.set_nw_dst(u32::MAX);
        m.set_nw_proto(0xff);
        m.set_nw_frag(0xff);
        m.set_tp_src(0xffff);
        m.set_tp_dst(0xffff);
        assert_eq!(
            format_match(&k.masked(&m), &m, None),
            "recirc_id(0),in_port(2),eth(src=0a:00:00:00:00:01,dst=0a:00:00:00:00:02),\
             eth_type(0x0800),ipv4(src=10.0.0.1,dst=10.0.0.2,proto=17,frag=no),udp(src=5000,dst=53)"
        );
    }

    #[test]
    fn partial_masks_get_a_slash() {
        let k = udp_key();
        let mut m = FlowKey::ZERO;
        m.set_in_port(u32::MAX);
        m.set_eth_type(0xffff);
        m.set_nw_dst(0xffff_ff00);
        m.set_nw_proto(0xff);
        m.set_tp_dst(0xff00);
        assert_eq!(
            format_match(&k.masked(&m), &m, None),
            "in_port(2),eth(),eth_type(0x0800),ipv4(dst=10.0.0.0/255.255.255.0,proto=17),udp(dst=0/0xff00)"
        );
    }

    #[test]
    fn normal_flows_show_the_vlan_state() {
        let mut k = udp_key();
        let mut m = FlowKey::ZERO;
        m.set_in_port(u32::MAX);
        m.set_recirc_id(u32::MAX);
        m.set_vlan_tci(VLAN_PRESENT | 0x0fff);
        m.set_eth_src(u64::MAX);
        m.set_eth_dst(u64::MAX);
        assert_eq!(
            format_match(&k.masked(&m), &m, None),
            "recirc_id(0),in_port(2),eth(src=0a:00:00:00:00:01,dst=0a:00:00:00:00:02),vlan(vid=0,cfi=0)"
        );
        k.set_vlan_tci(VLAN_PRESENT | 10);
        m.set_eth_type(0xffff);
        assert_eq!(
            format_match(&k.masked(&m), &m, None),
            "recirc_id(0),in_port(2),eth(src=0a:00:00:00:00:01,dst=0a:00:00:00:00:02),\
             eth_type(0x8100),vlan(vid=10),encap(eth_type(0x0800))"
        );
    }

    #[test]
    fn tcp_flags_exact_and_partial() {
        assert_eq!(flags(0x012, 0x0fff, 0x0fff, tcp_flag_name), "syn|ack");
        assert_eq!(flags(0, 0x0fff, 0x0fff, tcp_flag_name), "0");
        assert_eq!(flags(0x002, 0x012, 0x0fff, tcp_flag_name), "+syn-ack");
        assert_eq!(format_tcp_flags_short(0x01b), "SFP.");
    }

    #[test]
    fn actions_print_like_ovs() {
        let acts = vec![
            Action::Output(2),
            Action::PushVlan {
                tpid: 0x8100,
                tci: 10,
            },
            Action::Output(3),
            Action::PopVlan,
            Action::Set(SetHeader::Ipv4 {
                value: Ipv4Set {
                    src: 0,
                    dst: u32::from(Ipv4Addr::new(1, 2, 3, 4)),
                    tos: 0,
                    ttl: 0,
                },
                mask: Ipv4Set {
                    src: 0,
                    dst: u32::MAX,
                    tos: 0,
                    ttl: 0,
                },
            }),
            Action::Clone(Arc::from(vec![Action::Recirc(1)])),
            Action::Trunc(100),
        ];
        assert_eq!(
            format_actions(&acts, None),
            "2,push_vlan(vid=10,pcp=0),3,pop_vlan,set(ipv4(dst=1.2.3.4)),clone(recirc(0x1)),trunc(100)"
        );
        assert_eq!(format_actions(&[], None), "drop");
        let namer = |n: u32| (n == 2).then(|| "p2".to_string());
        assert_eq!(
            format_actions(&[Action::Output(2), Action::Output(9)], Some(&namer)),
            "p2,9"
        );
    }
}
