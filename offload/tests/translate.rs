//! Megaflow in, netlink bytes out, decoded back (by netlink-packet-route's
//! parser, and for the raw actions by reading the kernel's structs) and
//! checked field by field; and the offloader's bookkeeping over a fake tc.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, Nla};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionMirrorOption, TcActionOption, TcActionType, TcAttribute,
    TcFilterFlowerOption as K, TcMessage, TcMirrorActionType, TcOption,
};
use netlink_packet_route::RouteNetlinkMessage;
use oxvs_datapath::action::{Action, EthernetSet, Ipv4Set, L4PortsSet, SetHeader};
use oxvs_datapath::flow_key::{FlowKey, FRAG_ANY, FRAG_LATER, VLAN_PRESENT};
use oxvs_datapath::megaflow::{Megaflow, MegaflowCache};
use oxvs_offload::caps::Capabilities;
use oxvs_offload::flower::{self, frag_flags, Devices, Reason, Redirect};
use oxvs_offload::offloader::{OffloadSettings, Offloader, Placement, TcOps, TcPolicy};
use oxvs_offload::tc::{FilterInfo, FilterSpec, TcError, CLS_FLAGS_SKIP_SW};

struct Devs(HashMap<u32, Redirect>, Vec<&'static str>);

impl Devices for Devs {
    fn redirect(&self, p: u32) -> Option<Redirect> {
        self.0.get(&p).copied()
    }
    fn has_action(&self, k: &'static str) -> bool {
        !self.1.contains(&k)
    }
}

fn devs() -> Devs {
    Devs(
        HashMap::from([
            (1, Redirect::Egress(11)),
            (2, Redirect::Egress(12)),
            (3, Redirect::Ingress(13)),
        ]),
        Vec::new(),
    )
}

/// A UDP 5-tuple megaflow from port 1.
fn udp_flow() -> (FlowKey, FlowKey) {
    let mut k = FlowKey::ZERO;
    let mut m = FlowKey::ZERO;
    k.set_in_port(1);
    m.set_in_port(u32::MAX);
    m.set_recirc_id(u32::MAX);
    k.set_eth_type(0x0800);
    m.set_eth_type(u16::MAX);
    k.set_nw_proto(17);
    m.set_nw_proto(u8::MAX);
    m.set_nw_frag(FRAG_ANY | FRAG_LATER);
    k.set_nw_src(0x0a00_0001);
    m.set_nw_src(u32::MAX);
    k.set_nw_dst(0x0a00_0002);
    m.set_nw_dst(0xffff_ff00);
    k.set_tp_src(1234);
    m.set_tp_src(u16::MAX);
    k.set_tp_dst(53);
    m.set_tp_dst(u16::MAX);
    k.set_vlan_tci(0);
    m.set_vlan_tci(u16::MAX);
    (k.masked(&m), m)
}

/// Serializes the filter as RTM_NEWTFILTER and parses it back.
fn round_trip(spec: &FilterSpec) -> TcMessage {
    let mut nl = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::NewTrafficFilter(spec.message())),
    );
    nl.finalize();
    let mut buf = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut buf);
    let back = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).expect("parses");
    match back.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewTrafficFilter(m)) => m,
        other => panic!("unexpected {other:?}"),
    }
}

fn flower_options(m: &TcMessage) -> Vec<K> {
    let mut kind = None;
    let mut out = Vec::new();
    for a in &m.attributes {
        match a {
            TcAttribute::Kind(k) => kind = Some(k.clone()),
            TcAttribute::Options(o) => {
                for x in o {
                    match x {
                        TcOption::Flower(f) => out.push(f.clone()),
                        other => panic!("not flower: {other:?}"),
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(kind.as_deref(), Some("flower"));
    out
}

fn actions_of(opts: &[K]) -> Vec<TcAction> {
    opts.iter()
        .find_map(|o| match o {
            K::Actions(a) => Some(a.clone()),
            _ => None,
        })
        .expect("actions")
}

fn kind_of(a: &TcAction) -> String {
    a.attributes
        .iter()
        .find_map(|x| match x {
            TcActionAttribute::Kind(k) => Some(k.clone()),
            _ => None,
        })
        .expect("kind")
}

fn raw_option(a: &TcAction, ty: u16) -> Vec<u8> {
    for x in &a.attributes {
        if let TcActionAttribute::Options(o) = x {
            for y in o {
                if let TcActionOption::Other(n) = y {
                    if n.kind() & 0x3fff == ty {
                        let mut v = vec![0; n.value_len()];
                        n.emit_value(&mut v);
                        return v;
                    }
                }
            }
        }
    }
    panic!("no option {ty} in {a:?}")
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

fn spec(key: &FlowKey, mask: &FlowKey, actions: &[Action]) -> FilterSpec {
    let fl = flower::translate(key, mask, actions, &devs(), b"oxvs").expect("offloadable");
    FilterSpec {
        ifindex: 11,
        prio: 1,
        protocol: fl.protocol(),
        handle: 7,
        options: fl.options(CLS_FLAGS_SKIP_SW),
    }
}

#[test]
fn udp_five_tuple_to_one_port_is_keys_and_a_redirect() {
    let (k, m) = udp_flow();
    let back = round_trip(&spec(&k, &m, &[Action::Output(2)]));
    assert_eq!(back.header.index, 11);
    assert_eq!(u32::from(back.header.handle), 7);
    assert_eq!(u32::from(back.header.parent), 0xffff_fff2);
    // prio 1; tc itself checks the outer ethertype (IPv4, network order),
    // so tagged frames never reach an untagged megaflow's filter.
    assert_eq!(back.header.info, (1 << 16) | 0x0008);
    let opts = flower_options(&back);
    let want = [
        K::EthType(0x0800),
        K::Ipv4Src(Ipv4Addr::new(10, 0, 0, 1)),
        K::Ipv4SrcMask(Ipv4Addr::new(255, 255, 255, 255)),
        K::Ipv4Dst(Ipv4Addr::new(10, 0, 0, 0)),
        K::Ipv4DstMask(Ipv4Addr::new(255, 255, 255, 0)),
        K::KeyFlags(0),
        K::KeyFlagsMask(1),
        K::IpProto(17),
        K::UdpSrc(1234),
        K::UdpSrcMask(0xffff),
        K::UdpDst(53),
        K::UdpDstMask(0xffff),
        K::Flags(CLS_FLAGS_SKIP_SW),
    ];
    for w in &want {
        assert!(opts.contains(w), "missing {w:?} in {opts:?}");
    }
    assert!(!opts.iter().any(|o| matches!(o, K::VlanId(_))));
    let acts = actions_of(&opts);
    assert_eq!(acts.len(), 1);
    assert_eq!(kind_of(&acts[0]), "mirred");
    assert_eq!(acts[0].tab, 1);
    let parms = acts[0]
        .attributes
        .iter()
        .find_map(|x| match x {
            TcActionAttribute::Options(o) => o.iter().find_map(|y| match y {
                TcActionOption::Mirror(TcActionMirrorOption::Parms(p)) => Some(p.clone()),
                _ => None,
            }),
            _ => None,
        })
        .expect("mirred parms");
    assert_eq!(parms.ifindex, 12);
    assert_eq!(parms.eaction, TcMirrorActionType::EgressRedir);
    assert_eq!(parms.generic.action, TcActionType::Stolen);
    assert!(acts[0]
        .attributes
        .contains(&TcActionAttribute::Cookie(b"oxvs".to_vec())));
}

#[test]
fn several_outputs_mirror_then_redirect_and_internal_ports_receive() {
    let (k, m) = udp_flow();
    let opts = flower_options(&round_trip(&spec(
        &k,
        &m,
        &[Action::Output(2), Action::Output(3)],
    )));
    let acts = actions_of(&opts);
    let eactions: Vec<_> = acts
        .iter()
        .map(|a| {
            a.attributes
                .iter()
                .find_map(|x| match x {
                    TcActionAttribute::Options(o) => o.iter().find_map(|y| match y {
                        TcActionOption::Mirror(TcActionMirrorOption::Parms(p)) => {
                            Some((p.eaction, p.ifindex, p.generic.action))
                        }
                        _ => None,
                    }),
                    _ => None,
                })
                .expect("mirred")
        })
        .collect();
    assert_eq!(
        eactions,
        vec![
            (TcMirrorActionType::EgressMirror, 12, TcActionType::Pipe),
            (TcMirrorActionType::IngressRedir, 13, TcActionType::Stolen),
        ]
    );
    assert_eq!(acts[1].tab, 2);
}

#[test]
fn drop_is_gact_shot() {
    let (k, m) = udp_flow();
    for actions in [vec![], vec![Action::Drop]] {
        let opts = flower_options(&round_trip(&spec(&k, &m, &actions)));
        let acts = actions_of(&opts);
        assert_eq!(acts.len(), 1);
        assert_eq!(kind_of(&acts[0]), "gact");
        let p = raw_option(&acts[0], 2);
        assert_eq!(p.len(), 20, "struct tc_gact");
        assert_eq!(u32_at(&p, 8) as i32, 2, "TC_ACT_SHOT");
    }
}

#[test]
fn ipv4_and_port_rewrites_are_pedit_keys_with_checksums() {
    let (k, m) = udp_flow();
    let set_ip = SetHeader::Ipv4 {
        value: Ipv4Set {
            ttl: 9,
            ..Ipv4Set::default()
        },
        mask: Ipv4Set {
            ttl: 0xff,
            ..Ipv4Set::default()
        },
    };
    let set_mac = SetHeader::Ethernet {
        value: EthernetSet {
            src: [2, 0, 0, 0, 0, 0xaa],
            dst: [0; 6],
        },
        mask: EthernetSet {
            src: [0xff; 6],
            dst: [0; 6],
        },
    };
    let set_port = SetHeader::Udp {
        value: L4PortsSet { src: 0, dst: 5353 },
        mask: L4PortsSet {
            src: 0,
            dst: 0xffff,
        },
    };
    let opts = flower_options(&round_trip(&spec(
        &k,
        &m,
        &[
            Action::Set(set_ip),
            Action::Set(set_mac),
            Action::Set(set_port),
            Action::Output(2),
        ],
    )));
    let acts = actions_of(&opts);
    let kinds: Vec<_> = acts.iter().map(kind_of).collect();
    assert_eq!(kinds, ["pedit", "csum", "mirred"]);

    // struct tc_pedit_sel: tc_gen (20), nkeys, flags, pad, then keys of
    // {mask, val, off, at, offmask, shift}.
    let sel = raw_option(&acts[0], 4);
    assert_eq!(u32_at(&sel, 8) as i32, 3, "TC_ACT_PIPE");
    let nkeys = sel[20] as usize;
    assert_eq!(sel.len(), 24 + nkeys * 24);
    let keys: Vec<([u8; 4], [u8; 4], u32)> = (0..nkeys)
        .map(|i| {
            let b = &sel[24 + i * 24..];
            (
                b[0..4].try_into().unwrap(),
                b[4..8].try_into().unwrap(),
                u32_at(b, 8),
            )
        })
        .collect();
    // Header types from TCA_PEDIT_KEYS_EX, in the same order.
    let ex = raw_option(&acts[0], 5);
    let mut htypes = Vec::new();
    let mut off = 0;
    while off < ex.len() {
        let len = u16::from_ne_bytes([ex[off], ex[off + 1]]) as usize;
        let inner = &ex[off + 4..off + len];
        // HTYPE first, then CMD.
        assert_eq!(u16::from_ne_bytes([inner[2], inner[3]]), 1);
        htypes.push(u16::from_ne_bytes([inner[4], inner[5]]));
        // Each u16 attribute is padded to 8 bytes.
        assert_eq!(u16::from_ne_bytes([inner[10], inner[11]]), 2);
        assert_eq!(u16::from_ne_bytes([inner[12], inner[13]]), 0, "CMD set");
        off += (len + 3) & !3;
    }
    let got: Vec<_> = keys
        .iter()
        .zip(&htypes)
        .map(|(k, h)| (*h, k.2, k.0, k.1))
        .collect();
    assert_eq!(
        got,
        vec![
            // IPv4 TTL: the first byte of the word at offset 8.
            (2, 8, [0, 0xff, 0xff, 0xff], [9, 0, 0, 0]),
            // Source MAC: bytes 6-7 of word 4 and all of word 8.
            (1, 4, [0xff, 0xff, 0, 0], [0, 0, 2, 0]),
            (1, 8, [0, 0, 0, 0], [0, 0, 0, 0xaa]),
            // UDP destination port: the low half of word 0.
            (5, 0, [0xff, 0xff, 0, 0], [0, 0, 0x14, 0xe9]),
        ]
    );
    let csum = raw_option(&acts[1], 1);
    // IPv4 header + UDP (for the port).
    assert_eq!(u32_at(&csum, 20), 1 | 16);
}

#[test]
fn address_rewrites_are_offloaded_only_where_tc_keeps_checksums_right() {
    let set_dst = Action::Set(SetHeader::Ipv4 {
        value: Ipv4Set {
            dst: 0xc0a8_0109,
            ..Ipv4Set::default()
        },
        mask: Ipv4Set {
            dst: u32::MAX,
            ..Ipv4Set::default()
        },
    });
    let d = devs();
    let t = |k: &FlowKey, m: &FlowKey| {
        flower::translate(k, m, &[set_dst.clone(), Action::Output(2)], &d, b"")
    };
    // UDP and TCP: a GSO packet's partial checksum would keep the old
    // pseudo-header, since act_csum skips GSO packets.
    let (k, m) = udp_flow();
    let gso = Some(Reason::Action(
        "address rewrite of TCP or UDP (act_csum skips GSO packets)",
    ));
    assert_eq!(t(&k, &m).err(), gso);
    let (mut kt, mt) = (k, m);
    kt.set_nw_proto(6);
    assert_eq!(t(&kt, &mt).err(), gso);
    // Neither is known to be ruled out when the protocol is wildcarded.
    let (mut kd, mut md) = (k, m);
    kd.set_nw_proto(33);
    md.set_tp_src(0);
    md.set_tp_dst(0);
    assert_eq!(
        t(&kd.masked(&md), &md).err(),
        Some(Reason::Action(
            "address rewrite of DCCP or UDP-Lite (act_csum cannot fix their checksum)"
        ))
    );
    let mut mw = m;
    mw.set_nw_proto(0);
    mw.set_tp_src(0);
    mw.set_tp_dst(0);
    assert_eq!(t(&k.masked(&mw), &mw).err(), gso);
    // ICMP has no pseudo-header: pedit and an IPv4 header checksum.
    let (mut ki, mut mi) = (k, m);
    ki.set_nw_proto(1);
    ki.set_tp_src(8);
    ki.set_tp_dst(0);
    mi.set_tp_src(0xff);
    mi.set_tp_dst(0xff);
    let opts = flower_options(&round_trip(&spec(
        &ki,
        &mi,
        &[set_dst.clone(), Action::Output(2)],
    )));
    let acts = actions_of(&opts);
    let kinds: Vec<_> = acts.iter().map(kind_of).collect();
    assert_eq!(kinds, ["pedit", "csum", "mirred"]);
    assert_eq!(u32_at(&raw_option(&acts[1], 1), 20), 1, "IPv4 header only");
}

#[test]
fn vlan_push_pop_and_tagged_matches() {
    let (mut k, mut m) = udp_flow();
    k.set_vlan_tci(VLAN_PRESENT | 10 | (3 << 13));
    m.set_vlan_tci(0x0fff | VLAN_PRESENT);
    k.set_vlan_tpid(0x8100);
    let opts = flower_options(&round_trip(&spec(
        &k,
        &m,
        &[Action::PopVlan, Action::Output(2)],
    )));
    assert!(opts.contains(&K::EthType(0x8100)));
    assert!(opts.contains(&K::VlanId(10)));
    assert!(opts.contains(&K::VlanEthType(0x0800)));
    assert!(!opts.iter().any(|o| matches!(o, K::VlanPrio(_))));
    let acts = actions_of(&opts);
    assert_eq!(kind_of(&acts[0]), "vlan");
    assert_eq!(u32_at(&raw_option(&acts[0], 2), 20), 1, "TCA_VLAN_ACT_POP");

    let (k, m) = udp_flow();
    let opts = flower_options(&round_trip(&spec(
        &k,
        &m,
        &[
            Action::PushVlan {
                tpid: 0x8100,
                tci: 20 | (5 << 13),
            },
            Action::Output(2),
        ],
    )));
    let acts = actions_of(&opts);
    assert_eq!(kind_of(&acts[0]), "vlan");
    assert_eq!(u32_at(&raw_option(&acts[0], 2), 20), 2, "TCA_VLAN_ACT_PUSH");
    assert_eq!(raw_option(&acts[0], 3), 20u16.to_ne_bytes());
    assert_eq!(raw_option(&acts[0], 4), [0x81, 0x00]);
    assert_eq!(raw_option(&acts[0], 6), [5]);
}

#[test]
fn what_tc_cannot_say_stays_in_software_with_a_reason() {
    let (k, m) = udp_flow();
    let d = devs();
    let t = |k: &FlowKey, m: &FlowKey, a: &[Action]| flower::translate(k, m, a, &d, b"").err();
    assert_eq!(
        t(&k, &m, &[Action::Userspace { userdata: 1 }]),
        Some(Reason::Action("userspace (controller)"))
    );
    assert_eq!(
        t(&k, &m, &[Action::Hash { basis: 0 }, Action::Recirc(1)]),
        Some(Reason::Action("hash (dp_hash)"))
    );
    assert_eq!(t(&k, &m, &[Action::Output(9)]), Some(Reason::NoDevice(9)));
    let mut m2 = m;
    m2.set_dp_hash(0xff);
    assert_eq!(t(&k, &m2, &[]), Some(Reason::Match("dp_hash")));
    let mut m3 = m;
    m3.set_tp_dst(0xff00);
    // A partial port mask is fine (flower masks ports)...
    assert_eq!(t(&k.masked(&m3), &m3, &[]), None);
    // ...but a partial VLAN ID mask is not.
    let (mut k4, mut m4) = (k, m);
    k4.set_vlan_tci(VLAN_PRESENT | 5);
    m4.set_vlan_tci(VLAN_PRESENT | 0x00f);
    assert_eq!(t(&k4, &m4, &[]), Some(Reason::PartialMask("vlan_vid")));
    let mut m5 = m;
    m5.set_in_port(0);
    assert_eq!(t(&k, &m5, &[]), Some(Reason::PartialMask("in_port")));
    let mut m6 = m;
    m6.set_ct_state(0xff);
    assert_eq!(t(&k, &m6, &[]), Some(Reason::Match("conntrack state")));
    // A kernel without act_pedit cannot rewrite.
    let lacking = Devs(d.0.clone(), vec!["pedit"]);
    let set = SetHeader::udp_exact(1, 2);
    assert_eq!(
        flower::translate(
            &k,
            &m,
            &[Action::Set(set), Action::Output(2)],
            &lacking,
            b""
        )
        .err(),
        Some(Reason::KernelLacks("pedit"))
    );
}

#[test]
fn fragment_bits_map_to_flower_key_flags() {
    // (nw_frag, mask) -> (flags, flags mask)
    assert_eq!(frag_flags(0, 3), Ok((0, 1)));
    assert_eq!(frag_flags(FRAG_ANY, 3), Ok((3, 3)));
    assert_eq!(frag_flags(FRAG_ANY | FRAG_LATER, 3), Ok((1, 3)));
    assert_eq!(frag_flags(FRAG_ANY, 1), Ok((1, 1)));
    assert_eq!(frag_flags(0, 0), Ok((0, 0)));
    assert!(frag_flags(0, FRAG_LATER).is_err());
}

/// A tc that keeps filters in memory and can be told to refuse.
#[derive(Clone, Default)]
struct FakeTc {
    qdiscs: Vec<u32>,
    filters: HashMap<(u32, u16, u32), FilterSpec>,
    counts: HashMap<(u32, u32), (u64, u64, Option<u64>)>,
    refuse_with: Option<i32>,
    /// Deletions fail with this errno while set.
    fail_deletes: Option<i32>,
    log: Vec<String>,
}

impl TcOps for FakeTc {
    fn add_clsact(&mut self, ifindex: u32) -> Result<(), TcError> {
        self.log.push(format!("add clsact {ifindex}"));
        if self.qdiscs.contains(&ifindex) {
            return Err(TcError::Kernel {
                errno: libc::EEXIST,
                msg: None,
            });
        }
        self.qdiscs.push(ifindex);
        Ok(())
    }
    fn del_clsact(&mut self, ifindex: u32) -> Result<(), TcError> {
        self.log.push(format!("del clsact {ifindex}"));
        self.qdiscs.retain(|&q| q != ifindex);
        self.filters.retain(|k, _| k.0 != ifindex);
        Ok(())
    }
    fn add_filter(&mut self, f: &FilterSpec) -> Result<(), TcError> {
        if let Some(errno) = self.refuse_with {
            if f.prio == 1 {
                return Err(TcError::Kernel {
                    errno,
                    msg: Some("TC offload is disabled on net device".into()),
                });
            }
        }
        self.log
            .push(format!("add filter {} {} {}", f.ifindex, f.prio, f.handle));
        self.filters
            .insert((f.ifindex, f.prio, f.handle), f.clone());
        Ok(())
    }
    fn del_filter(&mut self, ifindex: u32, prio: u16, handle: u32) -> Result<(), TcError> {
        self.log
            .push(format!("del filter {ifindex} {prio} {handle}"));
        if let Some(errno) = self.fail_deletes {
            return Err(TcError::Kernel { errno, msg: None });
        }
        self.filters
            .remove(&(ifindex, prio, handle))
            .map(drop)
            .ok_or(TcError::Kernel {
                errno: libc::ENOENT,
                msg: None,
            })
    }
    fn dump_filters(&mut self, ifindex: u32) -> Result<Vec<FilterInfo>, TcError> {
        Ok(self
            .filters
            .keys()
            .filter(|k| k.0 == ifindex)
            .map(|k| {
                let (packets, bytes, ago) =
                    self.counts.get(&(k.0, k.2)).copied().unwrap_or_default();
                let cookie = self.filters[k]
                    .options
                    .iter()
                    .find_map(|o| match o {
                        K::Actions(a) => a.first().cloned(),
                        _ => None,
                    })
                    .and_then(|a| {
                        a.attributes.iter().find_map(|x| match x {
                            TcActionAttribute::Cookie(c) => Some(c.clone()),
                            _ => None,
                        })
                    });
                FilterInfo {
                    prio: k.1,
                    handle: k.2,
                    packets,
                    bytes,
                    last_used_ago_ms: ago,
                    cookie,
                    ..FilterInfo::default()
                }
            })
            .collect())
    }
}

fn install(cache: &MegaflowCache, k: &FlowKey, m: &FlowKey, actions: Vec<Action>) -> Arc<Megaflow> {
    cache.insert(k, m, Arc::from(actions)).expect("insert").flow
}

fn caps() -> Capabilities {
    Capabilities {
        flower_error: None,
        actions: oxvs_offload::caps::ACTION_KINDS.to_vec(),
    }
}

fn offloader() -> Offloader<FakeTc> {
    let mut o = Offloader::new(FakeTc::default(), caps(), OffloadSettings::default());
    o.set_output(1, Some(Redirect::Egress(11)));
    o.set_output(2, Some(Redirect::Egress(12)));
    o.attach_port(1, "veth1", 11, 99).expect("attach");
    o
}

#[test]
fn attaching_replaces_the_ingress_with_a_catch_all_to_the_miss_device() {
    let mut o = offloader();
    assert_eq!(
        o.tc().log,
        ["del clsact 11", "add clsact 11", "add filter 11 65520 1"]
    );
    let miss = o.tc().filters[&(11, 0xfff0, 1)].clone();
    let acts = actions_of(&miss.options);
    assert_eq!(acts.len(), 1);
    assert_eq!(kind_of(&acts[0]), "mirred");
    // Nothing but the action: it matches every frame.
    assert!(!miss.options.iter().any(|o| matches!(o, K::EthType(_))));
    o.detach_all();
    assert!(o.tc().qdiscs.is_empty() && o.tc().filters.is_empty());
}

#[test]
fn established_flows_go_to_tc_and_their_counters_come_back() {
    let mut o = offloader();
    let cache = MegaflowCache::new();
    let (k, m) = udp_flow();
    let f = install(&cache, &k, &m, vec![Action::Output(2)]);
    // Only the packet that installed it: not established.
    f.stats.add(1, 100, 0, 1000);
    o.sync(&cache, 1000);
    assert_eq!(o.offloaded(), 0);
    assert!(matches!(o.placement(&f), Placement::NotOffloaded(r) if r.contains("not established")));
    // Hit again: offered.
    f.stats.add(1, 100, 0, 1500);
    o.sync(&cache, 2000);
    assert_eq!(o.offloaded(), 1);
    assert_eq!(o.placement(&f), Placement::InTcSoftware);
    let (ifindex, handle) = o.handle_of(&f).expect("filter");
    assert_eq!(ifindex, 11);
    // tc forwarded 50 packets, the last 300 ms ago.
    o.tc().counts.insert((11, handle), (50, 5000, Some(300)));
    o.sync(&cache, 10_000);
    let s = f.stats.snapshot();
    assert_eq!((s.packets, s.bytes, s.used_ms), (52, 5200, 9_700));
    // Read again with no new traffic: nothing is counted twice.
    o.sync(&cache, 11_000);
    assert_eq!(f.stats.snapshot().packets, 52);
    assert_eq!(o.counters().tc_packets, 50);

    // A filter deleted behind oxvs's back comes back.
    o.tc().filters.remove(&(11, 1, handle));
    o.sync(&cache, 12_000);
    assert_eq!(o.counters().healed, 1);
    assert!(o.tc().filters.contains_key(&(11, 1, handle)));

    // The megaflow leaves the cache: its filter goes at the next sync.
    assert!(cache.remove(&f));
    assert_eq!(o.remove_dead(), 1);
    assert!(!o.tc().filters.contains_key(&(11, 1, handle)));
    assert_eq!(o.offloaded(), 0);
}

/// An offloader with one established UDP flow in tc: (offloader, cache,
/// flow, the filter's handle).
fn one_offloaded_flow() -> (Offloader<FakeTc>, MegaflowCache, Arc<Megaflow>, u32) {
    let mut o = offloader();
    let cache = MegaflowCache::new();
    let (k, m) = udp_flow();
    let f = install(&cache, &k, &m, vec![Action::Output(2)]);
    f.stats.add(2, 200, 0, 1);
    o.sync(&cache, 10);
    let (_, handle) = o.handle_of(&f).expect("filter");
    (o, cache, f, handle)
}

#[test]
fn a_filter_the_kernel_failed_to_delete_is_deleted_later() {
    let (mut o, cache, f, handle) = one_offloaded_flow();
    assert!(cache.remove(&f));
    o.tc().fail_deletes = Some(libc::ENOBUFS);
    o.remove_dead();
    // Still in tc, and remembered.
    assert!(o.tc().filters.contains_key(&(11, 1, handle)));
    assert_eq!((o.offloaded(), o.undeleted()), (0, 1));
    o.remove_dead();
    assert_eq!(o.undeleted(), 1);
    o.tc().fail_deletes = None;
    o.remove_dead();
    assert!(!o.tc().filters.contains_key(&(11, 1, handle)));
    assert_eq!(o.undeleted(), 0);
    // A filter that is gone already counts as deleted.
    let (k, m) = udp_flow();
    let g = install(&cache, &k, &m, vec![Action::Output(2)]);
    g.stats.add(2, 200, 0, 1);
    o.sync(&cache, 20);
    let (_, h2) = o.handle_of(&g).expect("filter");
    o.tc().filters.remove(&(11, 1, h2));
    assert!(cache.remove(&g));
    o.remove_dead();
    assert_eq!(o.undeleted(), 0);
    // A deletion that always fails is given up on (and logged) in the end.
    let h = install(&cache, &k, &m, vec![Action::Output(2)]);
    h.stats.add(2, 200, 0, 1);
    o.sync(&cache, 30);
    assert!(o.handle_of(&h).is_some());
    assert!(cache.remove(&h));
    o.tc().fail_deletes = Some(libc::EIO);
    for _ in 0..25 {
        o.remove_dead();
    }
    assert_eq!(o.undeleted(), 0);
}

#[test]
fn a_deleted_catch_all_or_qdisc_is_put_back_with_the_flows() {
    let (mut o, cache, f, handle) = one_offloaded_flow();

    // `tc filter del dev veth1 ingress pref 65520`
    o.tc().filters.remove(&(11, 0xfff0, 1));
    o.sync(&cache, 20);
    assert!(o.tc().filters.contains_key(&(11, 0xfff0, 1)));
    assert!(o.tc().filters.contains_key(&(11, 1, handle)));
    assert_eq!(o.counters().healed, 1);

    // `tc qdisc del dev veth1 clsact`: the qdisc, the catch-all and the
    // flow's filter all come back.
    o.tc().del_clsact(11).expect("del");
    o.sync(&cache, 30);
    assert_eq!(o.tc().qdiscs, [11]);
    let miss = o.tc().filters[&(11, 0xfff0, 1)].clone();
    assert_eq!(kind_of(&actions_of(&miss.options)[0]), "mirred");
    assert!(o.tc().filters.contains_key(&(11, 1, handle)));
    assert_eq!(o.counters().healed, 3);
    assert_eq!(o.placement(&f), Placement::InTcSoftware);
}

#[test]
fn kernel_refusals_and_untranslatable_flows_keep_their_reason() {
    let mut o = offloader();
    let cache = MegaflowCache::new();
    let (k, m) = udp_flow();
    let f = install(&cache, &k, &m, vec![Action::Userspace { userdata: 7 }]);
    f.stats.add(5, 500, 0, 1);
    o.sync(&cache, 10);
    assert_eq!(
        o.placement(&f),
        Placement::NotOffloaded("action userspace (controller) has no tc equivalent".into())
    );

    o.set_settings(OffloadSettings {
        policy: TcPolicy::SkipSw,
        min_packets: 2,
        min_age_ms: 0,
    });
    o.tc().refuse_with = Some(libc::EOPNOTSUPP);
    let (mut k2, m2) = udp_flow();
    k2.set_tp_src(999);
    let g = install(&cache, &k2, &m2, vec![Action::Output(2)]);
    g.stats.add(3, 300, 0, 1);
    o.sync(&cache, 20);
    match o.placement(&g) {
        Placement::NotOffloaded(r) => {
            assert!(r.starts_with("refused by the kernel"), "{r}");
            assert!(r.contains("TC offload is disabled on net device"), "{r}");
        }
        p => panic!("{p:?}"),
    }
    // A flow from a port without offload: says so.
    let (mut k3, m3) = udp_flow();
    k3.set_in_port(2);
    let h = install(&cache, &k3, &m3, vec![Action::Output(1)]);
    assert!(
        matches!(o.placement(&h), Placement::NotOffloaded(r) if r.contains("hw-offload is not enabled"))
    );
}

#[test]
fn a_kernel_without_flower_offloads_nothing_and_says_why() {
    let mut o = Offloader::new(
        FakeTc::default(),
        Capabilities::none(
            "Error: TC classifier not found. (No such file or directory (os error 2))",
        ),
        OffloadSettings::default(),
    );
    assert!(o.attach_port(1, "veth1", 11, 99).is_err());
    assert!(o.tc().log.is_empty());
    let cache = MegaflowCache::new();
    let (k, m) = udp_flow();
    let f = install(&cache, &k, &m, vec![Action::Output(2)]);
    match o.placement(&f) {
        Placement::NotOffloaded(r) => assert!(r.contains("tc flower is unavailable"), "{r}"),
        p => panic!("{p:?}"),
    }
}

#[test]
fn what_a_crashed_oxvs_left_is_cleared_and_nothing_else() {
    let mut crashed = offloader();
    // The process dies: its tc state stays in the kernel.
    let kernel = crashed.tc().clone();
    let mut o = Offloader::new(kernel, caps(), OffloadSettings::default());
    // Not attached (hw-offload now off): the stale clsact goes.
    assert!(o.clear_stale(11));
    assert!(o.tc().qdiscs.is_empty() && o.tc().filters.is_empty());
    // A device with someone else's filters keeps them.
    o.tc().qdiscs.push(20);
    o.tc().filters.insert(
        (20, 5, 9),
        FilterSpec {
            ifindex: 20,
            prio: 5,
            protocol: 0x0800,
            handle: 9,
            options: vec![K::EthType(0x0800)],
        },
    );
    assert!(!o.clear_stale(20));
    assert_eq!(o.tc().qdiscs, [20]);
    // Nor does oxvs take that device over.
    let e = o
        .attach_port(2, "veth2", 20, 98)
        .expect_err("foreign filters");
    assert_eq!(e.errno(), Some(libc::EBUSY));
    assert!(o.tc().filters.contains_key(&(20, 5, 9)));
}

#[test]
fn a_recreated_output_device_takes_its_filters_back_to_be_offered_again() {
    let (mut o, cache, f, handle) = one_offloaded_flow();
    // Same device: nothing happens.
    o.set_output(2, Some(Redirect::Egress(12)));
    assert!(o.handle_of(&f).is_some());
    // Port 2's device was recreated with another ifindex.
    o.set_output(2, Some(Redirect::Egress(22)));
    assert!(o.handle_of(&f).is_none());
    assert!(!o.tc().filters.contains_key(&(11, 1, handle)));
    o.sync(&cache, 20);
    let (_, again) = o.handle_of(&f).expect("offered again");
    let spec = &o.tc().filters[&(11, 1, again)];
    let acts = actions_of(&spec.options);
    let ifindex = acts[0]
        .attributes
        .iter()
        .find_map(|x| match x {
            TcActionAttribute::Options(opts) => opts.iter().find_map(|y| match y {
                TcActionOption::Mirror(TcActionMirrorOption::Parms(p)) => Some(p.ifindex),
                _ => None,
            }),
            _ => None,
        })
        .expect("mirred");
    assert_eq!(ifindex, 22);
}

#[test]
fn a_minimum_age_keeps_short_lived_flows_in_software() {
    let mut o = offloader();
    o.set_settings(OffloadSettings {
        policy: TcPolicy::None,
        min_packets: 2,
        min_age_ms: 5000,
    });
    let cache = MegaflowCache::new();
    let (k, m) = udp_flow();
    let f = install(&cache, &k, &m, vec![Action::Output(2)]);
    f.stats.add(3, 300, 0, 1000);
    o.sync(&cache, 1000);
    o.sync(&cache, 3000);
    assert_eq!(o.offloaded(), 0);
    assert!(
        matches!(o.placement(&f), Placement::NotOffloaded(r) if r.contains("younger than 5000 ms"))
    );
    o.sync(&cache, 6000);
    assert_eq!(o.offloaded(), 1);
}
