//! xlate through OpenFlow tables: what flows do to packets, and the
//! megaflow invariant — every packet that hits a megaflow gets exactly the
//! actions the full pipeline gives it.

use std::sync::Arc;

use oxvs_datapath::action::{Action as Dp, Ipv4Set, L4PortsSet, SetHeader};
use oxvs_datapath::flow_key::FlowKey;
use oxvs_ofproto::bridge::{Bridge, BridgePort, VlanMode};
use oxvs_ofproto::flow::match_words;
use oxvs_ofproto::ofp::action::{port, Action, SetField};
use oxvs_ofproto::ofp::field::{Field, Value};
use oxvs_ofproto::ofp::matching::Match;
use oxvs_ofproto::table::{FlowFlags, FlowModCommand, FlowModSpec, ALL_TABLES};
use oxvs_ofproto::xlate::OfActions;
use proptest::prelude::*;

fn bridge(n: u32) -> Arc<Bridge> {
    let b = Bridge::new("br0");
    for p in 1..=n {
        b.add_port(BridgePort {
            ofp_port: p,
            dp_port: p + 10,
            name: format!("p{p}"),
            vlan: VlanMode::Trunk(None),
        })
        .expect("add port");
    }
    b
}

fn spec(
    cmd: FlowModCommand,
    table: u8,
    prio: u32,
    m: &str,
    acts: Vec<Action>,
) -> FlowModSpec<OfActions> {
    let matched: Match = m.parse().unwrap_or_else(|e| panic!("{m}: {e:?}"));
    let (key, mask) = match_words(&matched).expect("supported fields");
    FlowModSpec {
        command: cmd,
        table_id: table,
        priority: prio,
        matched,
        key,
        mask,
        cookie: 0,
        cookie_mask: 0,
        out_port: None,
        out_group: None,
        idle_timeout: 0,
        hard_timeout: 0,
        importance: 0,
        flags: FlowFlags::default(),
        actions: Arc::new(OfActions(acts)),
    }
}

fn add(b: &Bridge, table: u8, prio: u32, m: &str, acts: Vec<Action>) {
    b.flow_mod(&spec(FlowModCommand::Add, table, prio, m, acts))
        .expect("flow_mod");
}

fn udp_key(in_dp: u32, src: u32, dst: u32, sport: u16, dport: u16) -> FlowKey {
    let mut k = FlowKey::ZERO;
    k.set_in_port(in_dp);
    k.set_eth_src(0x0200_0000_0001);
    k.set_eth_dst(0x0200_0000_0002);
    k.set_eth_type(0x0800);
    k.set_nw_proto(17);
    k.set_nw_ttl(64);
    k.set_nw_src(src);
    k.set_nw_dst(dst);
    k.set_tp_src(sport);
    k.set_tp_dst(dport);
    k
}

fn del_all(b: &Bridge) {
    let mut d = spec(FlowModCommand::Delete, 0, 0, "", vec![]);
    d.table_id = ALL_TABLES;
    b.flow_mod(&d).expect("delete all");
}

#[test]
fn output_drop_and_priority() {
    let b = bridge(3);
    del_all(&b);
    add(&b, 0, 10, "in_port=1", vec![Action::output(2)]);
    add(&b, 0, 20, "udp,in_port=1,tp_dst=53", vec![]);
    let (mask, acts) = b.xlate(&udp_key(11, 1, 2, 1000, 80), false, 0);
    assert_eq!(acts, vec![Dp::Output(12)]);
    assert_eq!(
        mask.tp_dst(),
        0xffff,
        "the failed priority-20 rule's tp_dst is in the megaflow"
    );
    let (_, acts) = b.xlate(&udp_key(11, 1, 2, 1000, 53), false, 0);
    assert!(acts.is_empty(), "drop rule wins");
    // No rule for port 2: table miss drops.
    let (mask, acts) = b.xlate(&udp_key(12, 1, 2, 1000, 80), false, 0);
    assert!(acts.is_empty());
    assert_eq!(mask.in_port(), u32::MAX);
}

/// `controller(pause)` ends the datapath actions with the userspace action
/// (every packet of the megaflow goes up): header changes before it are
/// committed first; nothing after it runs, in the pausing rule, in the
/// rule that resubmitted to it, or from the action set.
#[test]
fn pause_ends_the_datapath_actions() {
    use oxvs_ofproto::ofp::action::Controller;
    let b = bridge(3);
    for pause in [true, false] {
        del_all(&b);
        add(
            &b,
            0,
            10,
            "in_port=1",
            vec![
                Action::WriteActions(vec![Action::output(3)]),
                Action::Resubmit {
                    in_port: port::IN_PORT,
                    table: Some(1),
                    ct: false,
                    form: Default::default(),
                },
                Action::output(3),
            ],
        );
        add(
            &b,
            1,
            10,
            "in_port=1",
            vec![
                Action::SetField(SetField::new(Field::Ipv4Dst, Value::from(0x0a00_0063u32))),
                Action::Controller(Controller {
                    pause,
                    ..Controller::default()
                }),
                Action::output(2),
            ],
        );
        let (_, acts) = b.xlate(&udp_key(11, 1, 2, 1000, 80), false, 0);
        let kinds: Vec<&str> = acts
            .iter()
            .map(|a| match a {
                Dp::Set(SetHeader::Ipv4 { .. }) => "set",
                Dp::Userspace { .. } => "userspace",
                Dp::Output(12) => "output:2",
                Dp::Output(13) => "output:3",
                _ => "other",
            })
            .collect();
        if pause {
            assert_eq!(kinds, ["set", "userspace"]);
        } else {
            assert_eq!(
                kinds,
                ["set", "userspace", "output:2", "output:3", "output:3"]
            );
        }
    }
}

/// OFPT_SET_CONFIG's fragment handling, as Open vSwitch's
/// `rule_dpif_lookup_from_table`: normal looks fragments up without L4
/// ports, drop drops them, nx-match matches them as they are; reassembly
/// is refused.
#[test]
fn fragments_follow_the_bridge_fragment_handling() {
    use oxvs_ofproto::ofp::message::FragHandling;
    let b = bridge(3);
    del_all(&b);
    add(&b, 0, 20, "udp,tp_dst=53", vec![Action::output(2)]);
    add(&b, 0, 10, "udp,tp_dst=0", vec![Action::output(3)]);
    add(&b, 0, 5, "ip", vec![Action::output(1)]);
    // A first fragment: it has its UDP ports.
    let mut first = udp_key(11, 1, 2, 1000, 53);
    first.set_nw_frag(oxvs_datapath::flow_key::FRAG_ANY);
    let whole = udp_key(11, 1, 2, 1000, 53);
    assert_eq!(b.frag_handling(), FragHandling::Normal);
    assert_eq!(b.xlate(&whole, false, 0).1, vec![Dp::Output(12)]);
    assert_eq!(
        b.xlate(&first, false, 0).1,
        vec![Dp::Output(13)],
        "normal: the fragment's ports are 0"
    );
    assert!(b.set_frag_handling(FragHandling::NxMatch));
    assert_eq!(b.xlate(&first, false, 0).1, vec![Dp::Output(12)]);
    assert!(b.set_frag_handling(FragHandling::Drop));
    assert!(b.xlate(&first, false, 0).1.is_empty(), "drop");
    assert_eq!(b.xlate(&whole, false, 0).1, vec![Dp::Output(12)]);
    assert!(!b.set_frag_handling(FragHandling::Reassemble));
    assert_eq!(b.frag_handling(), FragHandling::Drop, "unchanged");
    assert!(b.set_frag_handling(FragHandling::Normal));
    let (mask, _) = b.xlate(&first, false, 0);
    assert_eq!(mask.nw_frag(), 3, "megaflows keep fragments apart");
}

#[test]
fn set_fields_are_committed_before_output() {
    let b = bridge(3);
    del_all(&b);
    add(
        &b,
        0,
        10,
        "udp,in_port=1",
        vec![
            Action::SetField(SetField::new(Field::Ipv4Dst, Value::from(0x0a00_0063u32))),
            Action::SetField(SetField::new(Field::UdpDst, Value::from(5353u16))),
            Action::DecTtl {
                ids: vec![],
                cnt_ids: false,
            },
            Action::output(3),
        ],
    );
    let (mask, acts) = b.xlate(&udp_key(11, 0x0a00_0001, 0x0a00_0002, 1000, 80), false, 0);
    assert_eq!(
        acts,
        vec![
            Dp::Set(SetHeader::Ipv4 {
                value: Ipv4Set {
                    src: 0,
                    dst: 0x0a00_0063,
                    tos: 0,
                    ttl: 63
                },
                mask: Ipv4Set {
                    src: 0,
                    dst: u32::MAX,
                    tos: 0,
                    ttl: 0xff
                },
            }),
            Dp::Set(SetHeader::Udp {
                value: L4PortsSet { src: 0, dst: 5353 },
                mask: L4PortsSet {
                    src: 0,
                    dst: 0xffff
                }
            }),
            Dp::Output(13),
        ]
    );
    assert_eq!(mask.nw_ttl(), 0xff, "dec_ttl read the ttl");
}

#[test]
fn goto_table_resubmit_and_special_ports() {
    let b = bridge(3);
    del_all(&b);
    add(&b, 0, 10, "in_port=1", vec![Action::GotoTable(5)]);
    add(
        &b,
        5,
        10,
        "udp",
        vec![
            Action::output(2),
            Action::Resubmit {
                in_port: port::IN_PORT,
                table: Some(7),
                ct: false,
                form: Default::default(),
            },
        ],
    );
    add(&b, 7, 1, "", vec![Action::output(port::IN_PORT)]);
    let (_, acts) = b.xlate(&udp_key(11, 1, 2, 3, 4), false, 0);
    assert_eq!(acts, vec![Dp::Output(12), Dp::Output(11)]);
    add(&b, 0, 10, "in_port=2", vec![Action::output(port::FLOOD)]);
    let (_, acts) = b.xlate(&udp_key(12, 1, 2, 3, 4), false, 0);
    assert_eq!(
        acts,
        vec![Dp::Output(11), Dp::Output(13)],
        "flood skips the input port"
    );
    // A resubmit loop stops at the depth limit instead of hanging.
    add(
        &b,
        0,
        10,
        "in_port=3",
        vec![Action::Resubmit {
            in_port: port::IN_PORT,
            table: Some(0),
            ct: false,
            form: Default::default(),
        }],
    );
    let (_, acts) = b.xlate(&udp_key(13, 1, 2, 3, 4), false, 0);
    assert!(acts.is_empty());
}

#[test]
fn default_flow_is_normal() {
    let b = bridge(2);
    let (_, acts) = b.xlate(&udp_key(11, 1, 2, 3, 4), true, 0);
    assert_eq!(
        acts,
        vec![Dp::Output(12)],
        "unknown destination floods to the other port"
    );
    assert_eq!(b.tables().total(), 1);
}

fn rule_strategy() -> impl Strategy<Value = (u8, u32, String, Vec<Action>)> {
    let matches = prop_oneof![
        Just(String::new()),
        (1u32..4).prop_map(|p| format!("in_port={p}")),
        (0u16..3).prop_map(|d| format!("udp,tp_dst={d}")),
        (0u16..3, 1u32..4).prop_map(|(d, p)| format!("udp,in_port={p},tp_dst={d}")),
        (0u32..4).prop_map(|n| format!("ip,nw_src=10.0.0.{n}/31")),
        (0u32..4).prop_map(|n| format!("ip,nw_dst=10.0.{n}.0/24")),
    ];
    let actions = prop_oneof![
        (1u32..4).prop_map(|p| vec![Action::output(p)]),
        Just(vec![]),
        (0u16..4, 1u32..4).prop_map(|(d, p)| vec![
            Action::SetField(SetField::new(Field::UdpDst, Value::from(d))),
            Action::output(p)
        ]),
        Just(vec![Action::GotoTable(1)]),
        Just(vec![
            Action::Resubmit {
                in_port: port::IN_PORT,
                table: Some(1),
                ct: false,
                form: Default::default()
            },
            Action::output(port::IN_PORT)
        ]),
        Just(vec![
            Action::DecTtl {
                ids: vec![],
                cnt_ids: false
            },
            Action::output(port::FLOOD)
        ]),
        // A packet-in reports the pipeline's fields (pkt_mark among them)
        // when nonzero: the megaflow must tell the values apart.
        (0u32..3).prop_map(|r| vec![
            Action::SetField(SetField::new(Field::Reg0, Value::from(r))),
            Action::Controller(Default::default())
        ]),
    ];
    (0u8..2, 0u32..5, matches, actions)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The megaflow invariant: for random tables and packets, any packet
    /// that agrees with a translated packet on its megaflow mask gets the
    /// same datapath actions from a full translation.
    #[test]
    fn megaflow_invariant(
        rules in proptest::collection::vec(rule_strategy(), 0..12),
        packets in proptest::collection::vec((1u32..4, 0u32..4, 0u32..1024, 0u16..3, 0u16..3, 1u8..3, 0u32..2), 1..12),
        noise in proptest::collection::vec((0u32..4, 0u32..1024, 0u16..3, 0u16..3, 1u8..3, 0u32..2), 1..12),
    ) {
        let b = bridge(3);
        del_all(&b);
        for (t, prio, m, acts) in &rules {
            // GotoTable must go forward; in table 1 it is dropped.
            let acts: Vec<Action> = acts.iter().filter(|a| !(matches!(a, Action::GotoTable(_)) && *t == 1)).cloned().collect();
            b.flow_mod(&spec(FlowModCommand::Add, *t, *prio, m, acts)).expect("flow_mod");
        }
        for (p, src, dst, sp, dp, ttl, mark) in &packets {
            let mut k = udp_key(10 + p, 0x0a00_0000 | src, 0x0a00_0000 | dst, *sp, *dp);
            k.set_nw_ttl(*ttl);
            k.set_skb_mark(*mark);
            let (mask, acts) = b.xlate(&k, false, 0);
            for (src2, dst2, sp2, dp2, ttl2, mark2) in &noise {
                let mut k2 = udp_key(10 + p, 0x0a00_0000 | src2, 0x0a00_0000 | dst2, *sp2, *dp2);
                k2.set_nw_ttl(*ttl2);
                k2.set_skb_mark(*mark2);
                // Keep the masked bits of k, take the rest from k2.
                for i in 0..k.words.len() {
                    k2.words[i] = (k.words[i] & mask.words[i]) | (k2.words[i] & !mask.words[i]);
                }
                let (_, acts2) = b.xlate(&k2, false, 0);
                prop_assert_eq!(&acts2, &acts, "packet {:?} hit megaflow of {:?}", k2, k);
            }
        }
    }
}

/// Actions see in_port as the 16-bit NXM_OF_IN_PORT, as in Open vSwitch:
/// loading 0xfffe makes the packet come from LOCAL, moving it out gives
/// 0xfffe, and output_reg of 0xfffe is LOCAL.
#[test]
fn actions_see_in_port_as_sixteen_bits() {
    use oxvs_ofproto::ofp::action::{RegMoveForm, SetField, SubField};
    let b = bridge(3);
    del_all(&b);
    let in_port = SubField::whole(Field::InPort);
    let reg0 = SubField {
        field: Field::Reg0,
        ofs: 0,
        n_bits: 16,
    };
    add(
        &b,
        0,
        10,
        "in_port=1",
        vec![
            Action::SetField(SetField::load(in_port, 0xfffe)),
            Action::Resubmit {
                in_port: port::IN_PORT,
                table: Some(1),
                ct: false,
                form: Default::default(),
            },
        ],
    );
    add(
        &b,
        1,
        10,
        "in_port=LOCAL",
        vec![
            Action::RegMove {
                src: in_port,
                dst: reg0,
                form: RegMoveForm::default(),
            },
            Action::Resubmit {
                in_port: port::IN_PORT,
                table: Some(2),
                ct: false,
                form: Default::default(),
            },
        ],
    );
    add(&b, 2, 10, "reg0=0xfffe", vec![Action::output(2)]);
    let (_, acts) = b.xlate(&udp_key(11, 1, 2, 3, 4), false, 0);
    assert_eq!(acts, vec![Dp::Output(12)]);
}
