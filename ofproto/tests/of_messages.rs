//! Tests of the OpenFlow message codec against Open vSwitch's own tools.
//!
//! `ovs-ofctl` (Open vSwitch 3.1, package openvswitch-common) is the oracle:
//! every message is encoded in every version it exists in and
//! `ovs-ofctl ofp-print` must print exactly the expected text with no
//! warning; `ovs-ofctl print-error` must agree with the error table; and
//! `ovs-ofctl` itself, pointed at a fake switch on a Unix socket, sends
//! messages we must decode and accepts the replies we encode. Malformed
//! input must give the exact error, and random input must never panic.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oxvs_ofproto::ofp::error::*;
use oxvs_ofproto::ofp::matching::{port_from_u16, Match};
use oxvs_ofproto::ofp::message::*;
use oxvs_ofproto::ofp::{Header, Version};
use proptest::prelude::*;

const ALL: [Version; 4] = Version::ALL;
const V13_UP: [Version; 3] = [Version::Of13, Version::Of14, Version::Of15];
const V14_UP: [Version; 2] = [Version::Of14, Version::Of15];

// ---------------------------------------------------------------------------
// Running ovs-ofctl.

fn run_ofctl(args: &[&str]) -> Output {
    Command::new("ovs-ofctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run ovs-ofctl ({e}): these tests use Open vSwitch's ovs-ofctl as their \
             oracle; install it (Debian/Ubuntu: apt-get install openvswitch-common)"
            )
        })
}

/// Runs ovs-ofctl and returns its stdout, failing on a bad exit or on
/// anything written to stderr (Open vSwitch logs its complaints there).
fn ofctl(args: &[&str]) -> String {
    let out = run_ofctl(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "ovs-ofctl {args:?}: {}\n{stderr}",
        out.status
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// What `ovs-ofctl ofp-print` (verbosity 2) says about `b`.
fn ofp_print(b: &[u8]) -> String {
    ofctl(&["ofp-print", &hex(b), "2"])
}

/// The version tag ovs-ofctl puts after a message name.
fn vtag(v: Version) -> &'static str {
    match v {
        Version::Of10 => "",
        Version::Of13 => " (OF1.3)",
        Version::Of14 => " (OF1.4)",
        Version::Of15 => " (OF1.5)",
    }
}

fn enc(m: &Message, v: Version, xid: u32) -> Vec<u8> {
    encode(m, v, xid).unwrap_or_else(|e| panic!("encoding {m:?} in {v:?}: {e}"))
}

fn dec(b: &[u8]) -> (Header, Message) {
    decode(b).unwrap_or_else(|e| panic!("decoding {}: {e}", hex(b)))
}

// ---------------------------------------------------------------------------
// Fixtures.

fn mac(last: u8) -> [u8; 6] {
    [0x50, 0x54, 0x00, 0x00, 0x00, last]
}

/// A port as `v` can carry it exactly: OpenFlow 1.0 keeps its own config
/// and state bits and derives speeds from the features.
fn port(v: Version, no: u32, name: &str) -> Port {
    let gig = PortFeatures(PortFeatures::F_1GB_FD | PortFeatures::COPPER | PortFeatures::AUTONEG);
    let mut p = Port {
        port_no: PortNo(no),
        hw_addr: mac(no as u8),
        name: name.to_string(),
        curr: gig,
        advertised: gig,
        supported: PortFeatures(gig.0 | PortFeatures::F_10GB_FD),
        peer: PortFeatures(0),
        curr_speed: 1_000_000,
        max_speed: 10_000_000,
        ..Port::default()
    };
    if v == Version::Of10 {
        p.config = PortConfig(PortConfig::NO_FLOOD | PortConfig::NO_RECV);
        p.state = PortState(PortState::STP_FORWARD);
    } else {
        p.config = PortConfig(PortConfig::PORT_DOWN);
        p.state = PortState(PortState::LINK_DOWN | PortState::LIVE);
    }
    p
}

fn mp_req(body: MpRequest) -> Message {
    Message::MultipartRequest(MultipartRequest { more: false, body })
}

fn mp_rep(body: MpReply) -> Message {
    Message::MultipartReply(MultipartReply { more: false, body })
}

fn port_stats(v: Version, no: u32) -> PortStats {
    let n = u64::from(no);
    PortStats {
        port_no: PortNo(no),
        duration: (v != Version::Of10).then_some((3, 500_000_000)),
        rx_packets: 100 * n,
        tx_packets: 200 * n,
        rx_bytes: 1000 * n,
        tx_bytes: 2000 * n,
        rx_dropped: n,
        tx_dropped: 2 * n,
        rx_errors: 3 * n,
        tx_errors: 4 * n,
        rx_frame_err: 5 * n,
        rx_over_err: 6 * n,
        rx_crc_err: 7 * n,
        collisions: 8 * n,
        props: Vec::new(),
    }
}

/// A 42-byte ARP request from 50:54:00:00:00:01 (10.0.0.1) for 10.0.0.2.
fn arp_frame() -> Vec<u8> {
    cat(&[
        &[0xff; 6],
        &mac(1),
        &[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1],
        &mac(1),
        &[10, 0, 0, 1],
        &[0; 6],
        &[10, 0, 0, 2],
    ])
}

/// Packet-in metadata: in_port 1, and in OpenFlow 1.3+ or the Nicira
/// forms also a register, `metadata` and `tun_id`.
fn pin_metadata(rich: bool) -> Match {
    let mut m = Match::new();
    m.set_in_port(1).expect("in_port");
    if rich {
        m.set_reg(3, 0x2a, None).expect("reg3");
        m.set_metadata(0xabc, None).expect("metadata");
        m.set_tun_id(0x64, None).expect("tun_id");
    }
    m
}

/// An NXT_PACKET_IN2 as OVN gets it: from `controller(userdata=...)`.
fn packet_in2(_: Version) -> Message {
    Message::PacketIn(PacketIn {
        format: PacketInFormat::Nxt2,
        reason: 1,
        table_id: 3,
        cookie: 0x1234,
        metadata: pin_metadata(true),
        data: arp_frame(),
        total_len: 42,
        userdata: vec![0, 0, 0, 0x17, 0xaa],
        ..PacketIn::default()
    })
}

/// An NXT_PACKET_IN2 with what Open vSwitch itself never sends but reads:
/// a cut packet, a buffer id, no cookie, and a continuation (here one
/// NXCPT_MIRRORS property).
fn packet_in2_cut(_: Version) -> Message {
    Message::PacketIn(PacketIn {
        format: PacketInFormat::Nxt2,
        reason: 0,
        table_id: 0,
        buffer_id: 7,
        metadata: pin_metadata(false),
        data: arp_frame()[..14].to_vec(),
        total_len: 42,
        continuation: vec![0x80, 0x02, 0, 8, 0, 0, 0, 9],
        ..PacketIn::default()
    })
}

/// A continuation as the switch writes one at `controller(pause)`: its
/// bridge, the rest of the pausing rule (table 0), the rest of the rule
/// that resubmitted to it (table 1, cookie 0x55), an action set and the
/// datapath input port.
fn continuation(v: Version) -> Vec<u8> {
    use oxvs_ofproto::ofp::action::Action;
    Continuation {
        bridge: [0x11; 16],
        frames: vec![
            ContinuationFrame {
                table_id: 0,
                cookie: 0,
                actions: vec![Action::output(2)],
            },
            ContinuationFrame {
                table_id: 1,
                cookie: 0x55,
                actions: vec![Action::output(3), Action::output(4)],
            },
        ],
        action_set: vec![Action::output(5)],
        odp_port: 6,
        ..Continuation::default()
    }
    .encode(v)
    .expect("continuation")
}

/// An NXT_PACKET_IN2 from `controller(pause,userdata=...)`.
fn packet_in2_paused(v: Version) -> Message {
    Message::PacketIn(PacketIn {
        continuation: continuation(v),
        ..packet_in2_body(v)
    })
}

/// An NXT_RESUME as OVN's pinctrl sends one: the packet-in's packet,
/// metadata and continuation, no userdata.
fn resume(v: Version) -> Message {
    Message::Resume(PacketIn {
        continuation: continuation(v),
        userdata: Vec::new(),
        ..packet_in2_body(v)
    })
}

fn packet_in2_body(v: Version) -> PacketIn {
    match packet_in2(v) {
        Message::PacketIn(p) => p,
        _ => PacketIn::default(),
    }
}

/// The version's own OFPT_PACKET_IN (OpenFlow 1.0's has no table, cookie or
/// metadata besides in_port).
fn packet_in_std(v: Version) -> Message {
    let of10 = v == Version::Of10;
    Message::PacketIn(PacketIn {
        format: PacketInFormat::Standard,
        reason: 1,
        table_id: if of10 { 0 } else { 3 },
        cookie: if of10 { u64::MAX } else { 0x1234 },
        metadata: pin_metadata(!of10),
        data: arp_frame(),
        total_len: 42,
        ..PacketIn::default()
    })
}

/// NXT_PACKET_IN: the metadata as an NXM match.
fn packet_in_nxt(_: Version) -> Message {
    Message::PacketIn(PacketIn {
        format: PacketInFormat::Nxt,
        reason: 2,
        table_id: 1,
        cookie: 5,
        metadata: pin_metadata(true),
        data: arp_frame(),
        total_len: 42,
        ..PacketIn::default()
    })
}

/// One message, the versions it is tried in, and what ovs-ofctl must
/// print for it ("{V}" stands for the version tag).
struct Case {
    name: &'static str,
    versions: Vec<Version>,
    msg: fn(Version) -> Message,
    /// One template for every version, or one text per version.
    expect: &'static [&'static str],
}

fn case(
    name: &'static str,
    versions: &[Version],
    msg: fn(Version) -> Message,
    expect: &'static [&'static str],
) -> Case {
    Case {
        name,
        versions: versions.to_vec(),
        msg,
        expect,
    }
}

fn cases() -> Vec<Case> {
    use Version::*;
    vec![
        case("hello", &ALL, |_| Message::Hello(Hello::default()), &[
                "OFPT_HELLO{V} (xid=0x2a):\n version bitmap: 0x01",
                "OFPT_HELLO{V} (xid=0x2a):\n version bitmap: 0x01, 0x02, 0x03, 0x04",
                "OFPT_HELLO{V} (xid=0x2a):\n version bitmap: 0x01, 0x02, 0x03, 0x04, 0x05",
                "OFPT_HELLO{V} (xid=0x2a):\n version bitmap: 0x01, 0x02, 0x03, 0x04, 0x05, 0x06",
            ]),
        case("hello bitmap", &ALL, |_| Message::Hello(Hello::offering(&ALL)), &["OFPT_HELLO{V} (xid=0x2a):\n version bitmap: 0x01, 0x04, 0x05, 0x06"]),
        case("echo request", &ALL, |_| Message::EchoRequest(b"ping".to_vec()), &["OFPT_ECHO_REQUEST{V} (xid=0x2a): 4 bytes of payload\n00000000  70 69 6e 67                                     |ping            |"]),
        case("echo reply", &ALL, |_| Message::EchoReply(Vec::new()), &["OFPT_ECHO_REPLY{V} (xid=0x2a): 0 bytes of payload"]),
        case(
            "error bad type",
            &ALL,
            |v| Message::Error(ErrorMsg::reply(BadRequest::BadType.into(), &enc(&Message::BarrierRequest, v, 7))),
            &[
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TYPE\nOFPT_BARRIER_REQUEST (xid=0x7):",
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TYPE\nOFPT_BARRIER_REQUEST{V} (xid=0x7):",
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TYPE\nOFPT_BARRIER_REQUEST{V} (xid=0x7):",
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TYPE\nOFPT_BARRIER_REQUEST{V} (xid=0x7):",
            ],
        ),
        case(
            "error nx",
            &ALL,
            |v| Message::Error(ErrorMsg::reply(BadRequest::BadTableId.into(), &enc(&Message::FeaturesRequest, v, 7))),
            &[
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TABLE_ID\nOFPT_FEATURES_REQUEST (xid=0x7):",
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TABLE_ID\nOFPT_FEATURES_REQUEST{V} (xid=0x7):",
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TABLE_ID\nOFPT_FEATURES_REQUEST{V} (xid=0x7):",
                "OFPT_ERROR{V} (xid=0x2a): OFPBRC_BAD_TABLE_ID\nOFPT_FEATURES_REQUEST{V} (xid=0x7):",
            ],
        ),
        case(
            "error onf",
            // OpenFlow 1.0 cannot spell it (the encode-error-reply test
            // checks the fallback).
            &V13_UP,
            |v| Message::Error(ErrorMsg::reply(BundleFailed::BadId.into(), &enc(&Message::GetConfigRequest, v, 7))),
            &["OFPT_ERROR{V} (xid=0x2a): OFPBFC_BAD_ID\nOFPT_GET_CONFIG_REQUEST{V} (xid=0x7):"],
        ),
        case(
            "error hello failed",
            &ALL,
            |_| Message::Error(ErrorMsg::with_text(HelloFailed::Incompatible.into(), "no common version")),
            &["OFPT_ERROR{V} (xid=0x2a): OFPHFC_INCOMPATIBLE\nno common version"],
        ),
        case(
            "nxt flow age",
            &ALL,
            |_| Message::Experimenter(Experimenter { experimenter: NX_VENDOR_ID, exp_type: 18, data: vec![] }),
            &["NXT_FLOW_AGE{V} (xid=0x2a):"],
        ),
        case("features request", &ALL, |_| Message::FeaturesRequest, &["OFPT_FEATURES_REQUEST{V} (xid=0x2a):"]),
        case(
            "features reply",
            &ALL,
            |v| {
                Message::FeaturesReply(SwitchFeatures {
                    datapath_id: 0x0000_5054_0000_0001,
                    n_buffers: 256,
                    n_tables: 254,
                    auxiliary_id: if v == Of10 { 0 } else { 2 },
                    capabilities: Capabilities(
                        Capabilities::FLOW_STATS
                            | Capabilities::TABLE_STATS
                            | Capabilities::PORT_STATS
                            | Capabilities::QUEUE_STATS
                            | if v == Of10 { Capabilities::ARP_MATCH_IP | Capabilities::STP } else { Capabilities::GROUP_STATS },
                    ),
                    actions: if v == Of10 { 0xfff } else { 0 },
                    ports: if v == Of10 { vec![port(v, 1, "eth1"), port(v, 0xfffffffe, "br0")] } else { vec![] },
                })
            },
            &[
                "OFPT_FEATURES_REPLY{V} (xid=0x2a): dpid:0000505400000001\nn_tables:254, n_buffers:256\ncapabilities: FLOW_STATS TABLE_STATS PORT_STATS STP QUEUE_STATS ARP_MATCH_IP\nactions: output enqueue set_vlan_vid set_vlan_pcp strip_vlan mod_dl_src mod_dl_dst mod_nw_src mod_nw_dst mod_nw_tos mod_tp_src mod_tp_dst\n 1(eth1): addr:50:54:00:00:00:01\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n LOCAL(br0): addr:50:54:00:00:00:fe\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPT_FEATURES_REPLY{V} (xid=0x2a): dpid:0000505400000001\nn_tables:254, n_buffers:256, auxiliary_id:2\ncapabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS",
                "OFPT_FEATURES_REPLY{V} (xid=0x2a): dpid:0000505400000001\nn_tables:254, n_buffers:256, auxiliary_id:2\ncapabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS",
                "OFPT_FEATURES_REPLY{V} (xid=0x2a): dpid:0000505400000001\nn_tables:254, n_buffers:256, auxiliary_id:2\ncapabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS",
            ],
        ),
        case("get config request", &ALL, |_| Message::GetConfigRequest, &["OFPT_GET_CONFIG_REQUEST{V} (xid=0x2a):"]),
        case(
            "get config reply",
            &ALL,
            |_| {
                Message::GetConfigReply(SwitchConfig {
                    frag: FragHandling::Drop,
                    invalid_ttl_to_controller: false,
                    miss_send_len: 200,
                })
            },
            &["OFPT_GET_CONFIG_REPLY{V} (xid=0x2a): frags=drop miss_send_len=200"],
        ),
        case(
            "set config",
            &ALL,
            |v| {
                Message::SetConfig(SwitchConfig {
                    frag: FragHandling::NxMatch,
                    invalid_ttl_to_controller: v == Of10,
                    miss_send_len: 0xffff,
                })
            },
            &[
                "OFPT_SET_CONFIG{V} (xid=0x2a): frags=nx-match invalid_ttl_to_controller miss_send_len=65535",
                "OFPT_SET_CONFIG{V} (xid=0x2a): frags=nx-match miss_send_len=65535",
                "OFPT_SET_CONFIG{V} (xid=0x2a): frags=nx-match miss_send_len=65535",
                "OFPT_SET_CONFIG{V} (xid=0x2a): frags=nx-match miss_send_len=65535",
            ],
        ),
        case(
            "port status",
            &ALL,
            |v| Message::PortStatus(PortStatus { reason: PortReason::Modify, desc: port(v, 3, "eth3") }),
            &[
                "OFPT_PORT_STATUS{V} (xid=0x2a): MOD: 3(eth3): addr:50:54:00:00:00:03\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPT_PORT_STATUS{V} (xid=0x2a): MOD: 3(eth3): addr:50:54:00:00:00:03\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPT_PORT_STATUS{V} (xid=0x2a): MOD: 3(eth3): addr:50:54:00:00:00:03\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPT_PORT_STATUS{V} (xid=0x2a): MOD: 3(eth3): addr:50:54:00:00:00:03\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
            ],
        ),
        case(
            "port mod",
            &ALL,
            |v| {
                Message::PortMod(PortMod {
                    port_no: PortNo(3),
                    hw_addr: mac(3),
                    config: PortConfig(PortConfig::PORT_DOWN),
                    mask: PortConfig(PortConfig::PORT_DOWN | PortConfig::NO_PACKET_IN),
                    advertise: PortFeatures(if v == Of10 { PortFeatures::F_100MB_FD } else { PortFeatures::F_40GB_FD }),
                    props: vec![],
                })
            },
            &[
                "OFPT_PORT_MOD{V} (xid=0x2a): port: 3: addr:50:54:00:00:00:03\n     config: PORT_DOWN\n     mask:   PORT_DOWN NO_PACKET_IN\n     advertise: 100MB-FD",
                "OFPT_PORT_MOD{V} (xid=0x2a): port: 3: addr:50:54:00:00:00:03\n     config: PORT_DOWN\n     mask:   PORT_DOWN NO_PACKET_IN\n     advertise: 40GB-FD",
                "OFPT_PORT_MOD{V} (xid=0x2a): port: 3: addr:50:54:00:00:00:03\n     config: PORT_DOWN\n     mask:   PORT_DOWN NO_PACKET_IN\n     advertise: 40GB-FD",
                "OFPT_PORT_MOD{V} (xid=0x2a): port: 3: addr:50:54:00:00:00:03\n     config: PORT_DOWN\n     mask:   PORT_DOWN NO_PACKET_IN\n     advertise: 40GB-FD",
            ],
        ),
        case("barrier request", &ALL, |_| Message::BarrierRequest, &["OFPT_BARRIER_REQUEST{V} (xid=0x2a):"]),
        case("barrier reply", &ALL, |_| Message::BarrierReply, &["OFPT_BARRIER_REPLY{V} (xid=0x2a):"]),
        case(
            "role request",
            &ALL,
            |v| {
                Message::RoleRequest(RoleMsg {
                    role: Role::Primary,
                    generation_id: if v == Of10 { None } else { Some(0x12) },
                })
            },
            &[
                "NXT_ROLE_REQUEST{V} (xid=0x2a): role=primary",
                "OFPT_ROLE_REQUEST{V} (xid=0x2a): role=primary generation_id=18",
                "OFPT_ROLE_REQUEST{V} (xid=0x2a): role=primary generation_id=18",
                "OFPT_ROLE_REQUEST{V} (xid=0x2a): role=primary generation_id=18",
            ],
        ),
        case(
            "role status",
            &V13_UP,
            |_| {
                Message::RoleStatus(RoleStatus {
                    role: Role::Secondary,
                    reason: RoleStatusReason::PrimaryRequest,
                    generation_id: Some(7),
                    props: vec![],
                })
            },
            &[
                "ONFT_ROLE_STATUS{V} (xid=0x2a): role=secondary generation_id=7 reason=primary_request",
                "OFPT_ROLE_STATUS{V} (xid=0x2a): role=secondary generation_id=7 reason=primary_request",
                "OFPT_ROLE_STATUS{V} (xid=0x2a): role=secondary generation_id=7 reason=primary_request",
            ],
        ),
        case(
            "role status no generation",
            &V14_UP,
            |_| {
                Message::RoleStatus(RoleStatus {
                    role: Role::Primary,
                    reason: RoleStatusReason::Config,
                    generation_id: None,
                    props: vec![],
                })
            },
            &["OFPT_ROLE_STATUS{V} (xid=0x2a): role=primary reason=configuration_changed"],
        ),
        case(
            "tlv table mod add",
            &ALL,
            |_| {
                Message::TlvTableMod(TlvTableMod {
                    command: TlvTableCommand::Add,
                    mappings: vec![
                        TlvMap { option_class: 0xffff, option_type: 0, option_len: 4, index: 0 },
                        TlvMap { option_class: 0x0102, option_type: 0x80, option_len: 124, index: 63 },
                    ],
                })
            },
            &["NXT_TLV_TABLE_MOD{V} (xid=0x2a):\n ADD mapping table:\n  class  type  length  match field\n ------  ----  ------  --------------\n 0xffff     0       4  tun_metadata0\n  0x102  0x80     124  tun_metadata63"],
        ),
        case(
            "tlv table mod delete",
            &ALL,
            |_| {
                Message::TlvTableMod(TlvTableMod {
                    command: TlvTableCommand::Delete,
                    mappings: vec![TlvMap { option_class: 1, option_type: 2, option_len: 8, index: 5 }],
                })
            },
            &["NXT_TLV_TABLE_MOD{V} (xid=0x2a):\n DEL mapping table:\n  class  type  length  match field\n ------  ----  ------  --------------\n    0x1   0x2       8  tun_metadata5"],
        ),
        case(
            "tlv table mod clear",
            &ALL,
            |_| Message::TlvTableMod(TlvTableMod { command: TlvTableCommand::Clear, mappings: vec![] }),
            &["NXT_TLV_TABLE_MOD{V} (xid=0x2a):\n CLEAR"],
        ),
        case("tlv table request", &ALL, |_| Message::TlvTableRequest, &["NXT_TLV_TABLE_REQUEST{V} (xid=0x2a):"]),
        case(
            "tlv table reply",
            &ALL,
            |_| {
                Message::TlvTableReply(TlvTableReply {
                    max_option_space: 256,
                    max_fields: 64,
                    mappings: vec![TlvMap { option_class: 0xffff, option_type: 3, option_len: 8, index: 2 }],
                })
            },
            &["NXT_TLV_TABLE_REPLY{V} (xid=0x2a):\n max option space=256 max fields=64\n allocated option space=8\n\n mapping table:\n  class  type  length  match field\n ------  ----  ------  --------------\n 0xffff   0x3       8  tun_metadata2"],
        ),
        case("ct flush zone", &ALL, |_| Message::CtFlushZone(5), &["NXT_CT_FLUSH_ZONE{V} (xid=0x2a): zone_id=5"]),
        case(
            "ct flush",
            &ALL,
            |_| {
                let v4 = |a: [u8; 4]| Some(std::net::Ipv4Addr::from(a).to_ipv6_mapped());
                Message::CtFlush(CtFlush {
                    zone: Some(7),
                    ip_proto: 6,
                    orig: CtTuple {
                        src: v4([10, 0, 0, 1]),
                        dst: v4([10, 0, 0, 2]),
                        src_port: 1,
                        dst_port: 2,
                        ..CtTuple::default()
                    },
                    reply: CtTuple::default(),
                    ..CtFlush::default()
                })
            },
            &["NXT_CT_FLUSH{V} (xid=0x2a): zone=7 'ct_nw_src=10.0.0.1,ct_nw_dst=10.0.0.2,ct_tp_src=1,ct_tp_dst=2,ct_nw_proto=6' 'ct_nw_src=::,ct_nw_dst=::,ct_tp_src=0,ct_tp_dst=0'"],
        ),
        case(
            "ct flush icmp6",
            &ALL,
            |_| {
                Message::CtFlush(CtFlush {
                    zone: None,
                    ip_proto: 58,
                    orig: CtTuple {
                        src: Some(std::net::Ipv6Addr::LOCALHOST),
                        icmp_id: 9,
                        icmp_type: 128,
                        ..CtTuple::default()
                    },
                    reply: CtTuple::default(),
                    ..CtFlush::default()
                })
            },
            &["NXT_CT_FLUSH{V} (xid=0x2a): zone=0 'ct_ipv6_src=::1,ct_ipv6_dst=::,icmp_id=9,icmp_type=128,icmp_code=0,ct_nw_proto=58' 'ct_ipv6_src=::,ct_ipv6_dst=::,icmp_id=0,icmp_type=0,icmp_code=0'"],
        ),
        case(
            "role reply",
            &ALL,
            |_| Message::RoleReply(RoleMsg { role: Role::Secondary, generation_id: None }),
            &[
                "NXT_ROLE_REPLY{V} (xid=0x2a): role=secondary",
                "OFPT_ROLE_REPLY{V} (xid=0x2a): role=secondary",
                "OFPT_ROLE_REPLY{V} (xid=0x2a): role=secondary",
                "OFPT_ROLE_REPLY{V} (xid=0x2a): role=secondary",
            ],
        ),
        case("get async request", &V13_UP, |_| Message::GetAsyncRequest, &["OFPT_GET_ASYNC_REQUEST{V} (xid=0x2a):"]),
        case("get async reply", &V13_UP, |v| Message::GetAsyncReply(async_cfg(v)), &[
                "OFPT_GET_ASYNC_REPLY{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
                "OFPT_GET_ASYNC_REPLY{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: vacancy_down vacancy_up\n  REQUESTFORWARD: group_mod_request meter_mod_request\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
                "OFPT_GET_ASYNC_REPLY{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: vacancy_down vacancy_up\n  REQUESTFORWARD: group_mod_request meter_mod_request\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
            ]),
        case("set async", &ALL, |v| Message::SetAsync(async_cfg(v)), &[
                "NXT_SET_ASYNC_CONFIG{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
                "OFPT_SET_ASYNC{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
                "OFPT_SET_ASYNC{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: vacancy_down vacancy_up\n  REQUESTFORWARD: group_mod_request meter_mod_request\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
                "OFPT_SET_ASYNC{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match action invalid_ttl\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: idle hard delete group_delete\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: vacancy_down vacancy_up\n  REQUESTFORWARD: group_mod_request meter_mod_request\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: add delete modify\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)",
            ]),
        case(
            "set async partial",
            &[Of10, Of13],
            |_| {
                Message::SetAsync(AsyncConfig {
                    packet_in: AsyncMasks { primary: Some(1), secondary: None },
                    role_status: AsyncMasks { primary: Some(7), secondary: Some(0) },
                    ..AsyncConfig::default()
                })
            },
            &["NXT_SET_ASYNC_CONFIG2{V} (xid=0x2a):\n primary:\n       PACKET_IN: no_match\n     PORT_STATUS: (off)\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: primary_request configuration_changed experimenter_data_changed\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)\n\n secondary:\n       PACKET_IN: (off)\n     PORT_STATUS: (off)\n    FLOW_REMOVED: (off)\n     ROLE_STATUS: (off)\n    TABLE_STATUS: (off)\n  REQUESTFORWARD: (off)"],
        ),
        case("set flow format", &[Of10], |_| Message::SetFlowFormat(FlowFormat::Nxm), &["NXT_SET_FLOW_FORMAT{V} (xid=0x2a): format=nxm"]),
        case("set packet-in format", &ALL, |_| Message::SetPacketInFormat(PacketInFormat::Nxt2), &["NXT_SET_PACKET_IN_FORMAT{V} (xid=0x2a): format=nxt_packet_in2"]),
        case("packet-in2", &ALL, packet_in2, &["NXT_PACKET_IN2{V} (xid=0x2a): table_id=3 cookie=0x1234 total_len=42 reg3=0x2a,tun_id=0x64,metadata=0xabc,in_port=1 (via action) data_len=42 (unbuffered)\n userdata=00.00.00.17.aa\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00"]),
        case("packet-in2 cut, buffered, paused", &ALL, packet_in2_cut, &["NXT_PACKET_IN2{V} (xid=0x2a): total_len=42 in_port=1 (via no_match) data_len=14 buffer=0x00000007\n continuation.mirrors=0x9\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=0.0.0.0,arp_tpa=0.0.0.0,arp_op=0,arp_sha=00:00:00:00:00:00,arp_tha=00:00:00:00:00:00"]),
        case("packet-in2 with a continuation", &ALL, packet_in2_paused, &["NXT_PACKET_IN2{V} (xid=0x2a): table_id=3 cookie=0x1234 total_len=42 reg3=0x2a,tun_id=0x64,metadata=0xabc,in_port=1 (via action) data_len=42 (unbuffered)\n userdata=00.00.00.17.aa\n continuation.bridge=11111111-1111-1111-1111-111111111111\n continuation.actions=unroll_xlate(table=0, cookie=0),output:2,unroll_xlate(table=1, cookie=85),output:3,output:4\n continuation.action_set=output:5\n continuation.odp_port=6\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00"]),
        case("resume", &ALL, resume, &["NXT_RESUME{V} (xid=0x2a): table_id=3 cookie=0x1234 total_len=42 reg3=0x2a,tun_id=0x64,metadata=0xabc,in_port=1 (via action) data_len=42 (unbuffered)\n continuation.bridge=11111111-1111-1111-1111-111111111111\n continuation.actions=unroll_xlate(table=0, cookie=0),output:2,unroll_xlate(table=1, cookie=85),output:3,output:4\n continuation.action_set=output:5\n continuation.odp_port=6\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00"]),
        case(
            "packet-in",
            &ALL,
            packet_in_std,
            &[
                "OFPT_PACKET_IN{V} (xid=0x2a): total_len=42 in_port=1 (via action) data_len=42 (unbuffered)\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00",
                "OFPT_PACKET_IN{V} (xid=0x2a): table_id=3 cookie=0x1234 total_len=42 reg3=0x2a,tun_id=0x64,metadata=0xabc,in_port=1 (via action) data_len=42 (unbuffered)\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00",
                "OFPT_PACKET_IN{V} (xid=0x2a): table_id=3 cookie=0x1234 total_len=42 reg3=0x2a,tun_id=0x64,metadata=0xabc,in_port=1 (via action) data_len=42 (unbuffered)\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00",
                "OFPT_PACKET_IN{V} (xid=0x2a): table_id=3 cookie=0x1234 total_len=42 reg3=0x2a,tun_id=0x64,metadata=0xabc,in_port=1 (via action) data_len=42 (unbuffered)\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00",
            ],
        ),
        case("nxt packet-in", &ALL, packet_in_nxt, &["NXT_PACKET_IN{V} (xid=0x2a): table_id=1 cookie=0x5 total_len=42 reg3=0x2a,tun_id=0x64,metadata=0xabc,in_port=1 (via invalid_ttl) data_len=42 (unbuffered)\narp,vlan_tci=0x0000,dl_src=50:54:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1,arp_sha=50:54:00:00:00:01,arp_tha=00:00:00:00:00:00"]),
        case("flow mod table id", &ALL, |_| Message::FlowModTableId(true), &["NXT_FLOW_MOD_TABLE_ID{V} (xid=0x2a): enable"]),
        case("set controller id", &ALL, |_| Message::SetControllerId(5), &["NXT_SET_CONTROLLER_ID{V} (xid=0x2a): id=5"]),
        case("desc request", &ALL, |_| mp_req(MpRequest::Desc), &["OFPST_DESC request{V} (xid=0x2a):"]),
        case(
            "desc reply",
            &ALL,
            |_| {
                mp_rep(MpReply::Desc(SwitchDesc {
                    mfr_desc: "oxvs project".into(),
                    hw_desc: "userspace".into(),
                    sw_desc: "0.1.0".into(),
                    serial_num: "None".into(),
                    dp_desc: "br0".into(),
                }))
            },
            &["OFPST_DESC reply{V} (xid=0x2a):\nManufacturer: oxvs project\nHardware: userspace\nSoftware: 0.1.0\nSerial Num: None\nDP Description: br0"],
        ),
        case("port desc request", &ALL, |_| mp_req(MpRequest::PortDesc { port_no: PortNo::ANY }), &["OFPST_PORT_DESC request{V} (xid=0x2a): port=ANY"]),
        case("port desc request one", &[Of15], |_| mp_req(MpRequest::PortDesc { port_no: PortNo(3) }), &["OFPST_PORT_DESC request{V} (xid=0x2a): port=3"]),
        case(
            "port desc reply",
            &ALL,
            |v| mp_rep(MpReply::PortDesc(vec![port(v, 1, "eth1"), port(v, 2, "eth2")])),
            &[
                "OFPST_PORT_DESC reply{V} (xid=0x2a):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2a):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2a):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2a):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
            ],
        ),
        case("port stats request all", &ALL, |_| mp_req(MpRequest::PortStats { port_no: PortNo::ANY }), &["OFPST_PORT request{V} (xid=0x2a): port_no=ANY"]),
        case("port stats request one", &ALL, |_| mp_req(MpRequest::PortStats { port_no: PortNo::LOCAL }), &["OFPST_PORT request{V} (xid=0x2a): port_no=LOCAL"]),
        case(
            "port stats reply",
            &ALL,
            |v| mp_rep(MpReply::PortStats(vec![port_stats(v, 1), port_stats(v, 2)])),
            &[
                "OFPST_PORT reply{V} (xid=0x2a): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16",
                "OFPST_PORT reply{V} (xid=0x2a): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n           duration=3.500s\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
                "OFPST_PORT reply{V} (xid=0x2a): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n           duration=3.500s\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
                "OFPST_PORT reply{V} (xid=0x2a): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n           duration=3.500s\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
            ],
        ),
        case("table stats request", &ALL, |_| mp_req(MpRequest::TableStats), &["OFPST_TABLE request{V} (xid=0x2a):"]),
        case(
            "table stats reply",
            &ALL,
            |v| {
                let t = |id: u8| TableStats {
                    table_id: id,
                    name: if v == Of10 { format!("table{id}") } else { String::new() },
                    wildcards: if v == Of10 { 0x3fffff } else { 0 },
                    max_entries: if v == Of10 { 1_000_000 } else { 0 },
                    active_count: 10 + u32::from(id),
                    lookup_count: 1000,
                    matched_count: 900,
                };
                mp_rep(MpReply::TableStats(vec![t(0), t(1)]))
            },
            &[
                "OFPST_TABLE reply{V} (xid=0x2a):\n  table 0 (\"table0\"):\n    active=10, lookup=1000, matched=900\n    max_entries=1000000\n    matching:\n      exact match or wildcard: in_port eth_{src,dst,type} vlan_{vid,pcp} ip_{src,dst} nw_{proto,tos} tcp_{src,dst}\n\n  table 1 (\"table1\"):\n    active=11, lookup=1000, matched=900\n    (same features)",
                "OFPST_TABLE reply{V} (xid=0x2a):\n  table 0:\n    active=10, lookup=1000, matched=900\n\n  table 1:\n    active=11, lookup=1000, matched=900",
                "OFPST_TABLE reply{V} (xid=0x2a):\n  table 0:\n    active=10, lookup=1000, matched=900\n\n  table 1:\n    active=11, lookup=1000, matched=900",
                "OFPST_TABLE reply{V} (xid=0x2a):\n  table 0:\n    active=10, lookup=1000, matched=900\n\n  table 1:\n    active=11, lookup=1000, matched=900",
            ],
        ),
        case(
            "queue stats request all",
            &ALL,
            |_| mp_req(MpRequest::QueueStats { port_no: PortNo::ANY, queue_id: 0xffff_ffff }),
            &["OFPST_QUEUE request{V} (xid=0x2a): port=ANY queue=ALL"],
        ),
        case(
            "queue stats request one",
            &ALL,
            |_| mp_req(MpRequest::QueueStats { port_no: PortNo(1), queue_id: 2 }),
            &["OFPST_QUEUE request{V} (xid=0x2a): port=1 queue=2"],
        ),
        case(
            "queue stats reply",
            &ALL,
            |v| {
                mp_rep(MpReply::QueueStats(vec![QueueStats {
                    port_no: PortNo(1),
                    queue_id: 2,
                    tx_bytes: 3000,
                    tx_packets: 30,
                    tx_errors: 1,
                    duration: (v != Of10).then_some((9, 5)),
                    props: vec![],
                }]))
            },
            &[
                "OFPST_QUEUE reply{V} (xid=0x2a): 1 queues\n  port 1 queue 2: bytes=3000, pkts=30, errors=1, duration=?",
                "OFPST_QUEUE reply{V} (xid=0x2a): 1 queues\n  port 1 queue 2: bytes=3000, pkts=30, errors=1, duration=9.000000005s",
                "OFPST_QUEUE reply{V} (xid=0x2a): 1 queues\n  port 1 queue 2: bytes=3000, pkts=30, errors=1, duration=9.000000005s",
                "OFPST_QUEUE reply{V} (xid=0x2a): 1 queues\n  port 1 queue 2: bytes=3000, pkts=30, errors=1, duration=9.000000005s",
            ],
        ),
        case("group features request", &ALL, |_| mp_req(MpRequest::GroupFeatures), &[
                "NXST_GROUP_FEATURES request{V} (xid=0x2a):",
                "OFPST_GROUP_FEATURES request{V} (xid=0x2a):",
                "OFPST_GROUP_FEATURES request{V} (xid=0x2a):",
                "OFPST_GROUP_FEATURES request{V} (xid=0x2a):",
            ]),
        case(
            "group features reply",
            &ALL,
            |_| {
                mp_rep(MpReply::GroupFeatures(GroupFeatures {
                    types: 0xf,
                    capabilities: 0x7,
                    max_groups: [100, 200, 300, 400],
                    actions: [1, 3, 7, 0xf],
                }))
            },
            &[
                "NXST_GROUP_FEATURES reply{V} (xid=0x2a):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0x64\n       actions: output\n    select group:\n       max_groups=0xc8\n       actions: output set_vlan_vid\n    indirect group:\n       max_groups=0x12c\n       actions: output set_vlan_vid set_vlan_pcp\n    fast failover group:\n       max_groups=0x190\n       actions: output set_vlan_vid set_vlan_pcp strip_vlan",
                "OFPST_GROUP_FEATURES reply{V} (xid=0x2a):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0x64\n       actions: output\n    select group:\n       max_groups=0xc8\n       actions: output\n    indirect group:\n       max_groups=0x12c\n       actions: output\n    fast failover group:\n       max_groups=0x190\n       actions: output",
                "OFPST_GROUP_FEATURES reply{V} (xid=0x2a):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0x64\n       actions: output\n    select group:\n       max_groups=0xc8\n       actions: output\n    indirect group:\n       max_groups=0x12c\n       actions: output\n    fast failover group:\n       max_groups=0x190\n       actions: output",
                "OFPST_GROUP_FEATURES reply{V} (xid=0x2a):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0x64\n       actions: output\n    select group:\n       max_groups=0xc8\n       actions: output\n    indirect group:\n       max_groups=0x12c\n       actions: output\n    fast failover group:\n       max_groups=0x190\n       actions: output",
            ],
        ),
        case("meter features request", &V13_UP, |_| mp_req(MpRequest::MeterFeatures), &["OFPST_METER_FEATURES request{V} (xid=0x2a):"]),
        case(
            "meter features reply",
            &V13_UP,
            |_| {
                mp_rep(MpReply::MeterFeatures(MeterFeatures {
                    max_meter: 1000,
                    band_types: 0x6,
                    capabilities: 0xf,
                    max_bands: 4,
                    max_color: 8,
                }))
            },
            &["OFPST_METER_FEATURES reply{V} (xid=0x2a):\nmax_meter:1000 max_bands:4 max_color:8\nband_types: drop dscp_remark\ncapabilities: kbps pktps burst stats"],
        ),
        case(
            "reply more",
            &ALL,
            |_| Message::MultipartReply(MultipartReply { more: true, body: MpReply::TableStats(vec![]) }),
            &["OFPST_TABLE reply{V} (xid=0x2a): flags=[more]"],
        ),
    ]
}

/// Async masks `v` can carry.
fn async_cfg(v: Version) -> AsyncConfig {
    let m = |p, s| AsyncMasks {
        primary: Some(p),
        secondary: Some(s),
    };
    let mut c = AsyncConfig {
        packet_in: m(0x7, 0x0),
        port_status: m(0x7, 0x7),
        flow_removed: m(0xf, 0x0),
        ..AsyncConfig::default()
    };
    if v >= Version::Of14 {
        c.role_status = m(0x7, 0x7);
        c.table_status = m(0x18, 0);
        c.requestforward = m(0x3, 0);
    }
    c
}

#[test]
#[ignore = "prints what ovs-ofctl says about every fixture, for writing expectations"]
fn dump_fixtures() {
    for c in cases() {
        for &v in &c.versions {
            let b = enc(&(c.msg)(v), v, 42);
            println!("=== {} {:?} {}", c.name, v, hex(&b));
            let out = run_ofctl(&["ofp-print", &hex(&b), "2"]);
            print!("{}", String::from_utf8_lossy(&out.stdout));
            print!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

/// The expected text of case `c` in its `i`th version `v`.
fn expectation(c: &Case, i: usize, v: Version) -> String {
    assert!(
        c.expect.len() == 1 || c.expect.len() == c.versions.len(),
        "{}: one text per version",
        c.name
    );
    let t = if c.expect.len() == 1 {
        c.expect[0]
    } else {
        c.expect[i]
    };
    t.replace("{V}", vtag(v))
}

#[test]
fn ovs_ofctl_prints_what_we_encode() {
    for c in cases() {
        for (i, &v) in c.versions.iter().enumerate() {
            let msg = (c.msg)(v);
            let b = enc(&msg, v, 42);
            assert_eq!(
                ofp_print(&b).trim_end(),
                expectation(&c, i, v),
                "{} in {v:?}: {}",
                c.name,
                hex(&b)
            );
            let (h, back) = dec(&b);
            assert_eq!(
                (h.version, h.xid, usize::from(h.length)),
                (v.wire(), 42, b.len())
            );
            assert_eq!(back, msg, "{} in {v:?}", c.name);
            assert_eq!(enc(&back, v, 42), b, "{} in {v:?}", c.name);
        }
    }
}

/// What `ovs-ofctl print-error` says a version calls an error.
fn ovs_spelling(w: WireError) -> String {
    match w {
        WireError::Standard { ty, code } => format!("vendor 0, type {ty}, code {code}"),
        WireError::Vendor { vendor, ty, code } => {
            format!("vendor {vendor:#x}, type {ty}, code {code}")
        }
        WireError::Experimenter {
            experimenter,
            exp_type,
        } => {
            format!("vendor {experimenter:#x}, type {exp_type}, code 0")
        }
    }
}

fn version_number(v: Version) -> &'static str {
    match v {
        Version::Of10 => "1.0",
        Version::Of13 => "1.3",
        Version::Of14 => "1.4",
        Version::Of15 => "1.5",
    }
}

#[test]
fn error_table_matches_ovs_ofctl_print_error() {
    let mut n = 0;
    for e in OfpError::all() {
        let out = ofctl(&["print-error", e.name()]);
        for v in ALL {
            let prefix = format!("OpenFlow {}: ", version_number(v));
            let theirs = out.lines().find_map(|l| l.strip_prefix(&prefix));
            assert_eq!(
                theirs.map(str::to_string),
                e.wire_exact(v).map(ovs_spelling),
                "{e} in {v:?}"
            );
        }
        n += 1;
    }
    // Open vSwitch 3.1 defines 198 errors; we must know every one.
    assert_eq!(n, 198);
}

/// Parses the hex dump `ovs-ofctl encode-error-reply` prints.
fn parse_hex_dump(s: &str) -> Vec<u8> {
    s.lines()
        .flat_map(|l| {
            // "00000000  01 01 00 1c ...-b0 c2 ...  |ascii|": hex from column 10.
            let body = l.get(10..).unwrap_or("");
            let body = body.split("  |").next().unwrap_or("");
            unhex(&body.replace('-', " "))
        })
        .collect()
}

#[test]
fn error_replies_match_ovs_ofctl_encode_error_reply() {
    for v in ALL {
        let request = enc(&Message::EchoRequest(Vec::new()), v, 0x1234_5678);
        for e in OfpError::all() {
            let out = run_ofctl(&["encode-error-reply", e.name(), &hex(&request)]);
            assert!(out.status.success(), "{e} in {v:?}");
            // Open vSwitch complains exactly when it has to fall back.
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                stderr.contains("cannot encode"),
                e.wire_exact(v).is_none(),
                "{e} in {v:?}: {stderr}"
            );
            let theirs = parse_hex_dump(&String::from_utf8_lossy(&out.stdout));
            // Open vSwitch echoes the whole request; ours is at most 64 bytes,
            // the same here.
            let ours = enc(
                &Message::Error(ErrorMsg::reply(e, &request)),
                v,
                0x1234_5678,
            );
            assert_eq!(hex(&ours), hex(&theirs), "{e} in {v:?}");
            let (_, back) = dec(&theirs);
            let Message::Error(back) = back else {
                panic!("{e}: not an error")
            };
            let ErrorKind::Known(d) = back.error else {
                panic!("{e} in {v:?}: unknown")
            };
            assert_eq!(d.wire(v), e.wire(v), "{e} in {v:?}");
            assert_eq!(back.data, request);
        }
    }
}

// ---------------------------------------------------------------------------
// ovs-ofctl talking to a fake switch: it sends what we must decode and
// prints what we encode.

/// The state a fake switch answers from.
struct Model {
    /// The versions the switch offers in its HELLO.
    offer: Vec<Version>,
    /// The version it must end up speaking.
    version: Version,
    config: SwitchConfig,
    ports: Vec<Port>,
    /// Refuse NXT_SET_PACKET_IN_FORMAT to NXT_PACKET_IN2 with this error.
    refuse_packet_in2: Option<OfpError>,
    /// After answering this many barriers, send `then_send` and hang up.
    hang_up_after_barriers: Option<usize>,
    then_send: Vec<Message>,
    barriers: usize,
    hang_up: bool,
}

impl Model {
    fn new(version: Version) -> Model {
        Model {
            offer: vec![version],
            version,
            config: SwitchConfig::default(),
            ports: vec![port(version, 1, "eth1"), port(version, 2, "eth2")],
            refuse_packet_in2: None,
            hang_up_after_barriers: None,
            then_send: Vec::new(),
            barriers: 0,
            hang_up: false,
        }
    }

    fn features(&self) -> SwitchFeatures {
        let v = self.version;
        SwitchFeatures {
            datapath_id: 0xabcd,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: Capabilities(Capabilities::FLOW_STATS | Capabilities::PORT_STATS),
            actions: if v == Version::Of10 { 1 } else { 0 },
            ports: if v == Version::Of10 {
                self.ports.clone()
            } else {
                vec![]
            },
        }
    }

    /// The switch's answers to one message (`request` is its encoding, for
    /// error replies).
    fn respond(&mut self, m: &Message, request: &[u8]) -> Vec<Message> {
        let v = self.version;
        match m {
            Message::EchoRequest(d) => vec![Message::EchoReply(d.clone())],
            Message::FeaturesRequest => vec![Message::FeaturesReply(self.features())],
            Message::GetConfigRequest => vec![Message::GetConfigReply(self.config)],
            Message::SetConfig(c) => {
                self.config = *c;
                vec![]
            }
            Message::SetPacketInFormat(PacketInFormat::Nxt2)
                if self.refuse_packet_in2.is_some() =>
            {
                let e = self.refuse_packet_in2.unwrap_or(BadRequest::EPerm.into());
                vec![Message::Error(ErrorMsg::reply(e, request))]
            }
            Message::BarrierRequest => {
                self.barriers += 1;
                self.hang_up = self.hang_up_after_barriers == Some(self.barriers);
                vec![Message::BarrierReply]
            }
            Message::PortMod(pm) => {
                for p in self.ports.iter_mut().filter(|p| p.port_no == pm.port_no) {
                    p.config = PortConfig((p.config.0 & !pm.mask.0) | pm.config.0);
                }
                vec![]
            }
            Message::MultipartRequest(r) => {
                let body = match &r.body {
                    MpRequest::Desc => MpReply::Desc(SwitchDesc {
                        mfr_desc: "oxvs".into(),
                        hw_desc: "fake".into(),
                        sw_desc: "test".into(),
                        serial_num: "42".into(),
                        dp_desc: "br-test".into(),
                    }),
                    MpRequest::PortDesc { port_no } => MpReply::PortDesc(
                        self.ports
                            .iter()
                            .filter(|p| *port_no == PortNo::ANY || p.port_no == *port_no)
                            .cloned()
                            .collect(),
                    ),
                    MpRequest::PortStats { port_no } => MpReply::PortStats(
                        self.ports
                            .iter()
                            .filter(|p| *port_no == PortNo::ANY || p.port_no == *port_no)
                            .map(|p| port_stats(v, p.port_no.0))
                            .collect(),
                    ),
                    MpRequest::TableStats => MpReply::TableStats(vec![TableStats {
                        table_id: 0,
                        name: if v == Version::Of10 {
                            "classifier".into()
                        } else {
                            String::new()
                        },
                        wildcards: if v == Version::Of10 { 0x3fffff } else { 0 },
                        max_entries: if v == Version::Of10 { 1000 } else { 0 },
                        active_count: 3,
                        lookup_count: 40,
                        matched_count: 30,
                    }]),
                    MpRequest::QueueStats { port_no, queue_id } => {
                        MpReply::QueueStats(vec![QueueStats {
                            port_no: if *port_no == PortNo::ANY {
                                PortNo(1)
                            } else {
                                *port_no
                            },
                            queue_id: if *queue_id == u32::MAX { 0 } else { *queue_id },
                            tx_bytes: 10,
                            tx_packets: 1,
                            tx_errors: 0,
                            duration: (v != Version::Of10).then_some((1, 0)),
                            props: vec![],
                        }])
                    }
                    MpRequest::GroupFeatures => MpReply::GroupFeatures(GroupFeatures {
                        types: 0xf,
                        capabilities: 0x7,
                        max_groups: [10, 20, 30, 40],
                        actions: [1, 1, 1, 1],
                    }),
                    MpRequest::MeterFeatures => MpReply::MeterFeatures(MeterFeatures {
                        max_meter: 100,
                        band_types: 0x2,
                        capabilities: 0xf,
                        max_bands: 1,
                        max_color: 0,
                    }),
                    other => panic!("fake switch cannot answer {other:?}"),
                };
                vec![Message::MultipartReply(MultipartReply {
                    more: false,
                    body,
                })]
            }
            // Flow dumps (whose bodies this pass leaves raw): no flows.
            Message::Unparsed(u) => {
                let reply = match u.raw {
                    RawMsg::NxstFlowRequest => RawMsg::NxstFlowReply,
                    RawMsg::Of10FlowStatsRequest => RawMsg::Of10FlowStatsReply,
                    RawMsg::Of11FlowStatsRequest if v == Version::Of15 => {
                        RawMsg::Of15FlowStatsReply
                    }
                    RawMsg::Of11FlowStatsRequest => RawMsg::Of13FlowStatsReply,
                    _ => return vec![],
                };
                vec![Message::Unparsed(Unparsed {
                    raw: reply,
                    flags: 0,
                    body: vec![],
                })]
            }
            _ => vec![],
        }
    }
}

fn read_msg(s: &mut UnixStream) -> Option<Vec<u8>> {
    let mut buf = vec![0; 8];
    s.read_exact(&mut buf).ok()?;
    let len = frame_len(&buf).expect("header");
    assert!(len >= 8, "ovs-ofctl sent a length below 8");
    buf.resize(len, 0);
    s.read_exact(&mut buf[8..]).expect("message body");
    Some(buf)
}

/// Answers one connection from ovs-ofctl until it closes (or the model
/// hangs up), collecting the messages it sent.
fn serve(model: &Mutex<Model>, mut stream: UnixStream, sent: &Mutex<Vec<Message>>) {
    let (offer, v) = {
        let m = model.lock().expect("model");
        (m.offer.clone(), m.version)
    };
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let highest = offer.iter().copied().max().expect("offer");
    while let Some(bytes) = read_msg(&mut stream) {
        let (h, m) = dec(&bytes);
        if std::env::var_os("OXVS_TRACE").is_some() {
            eprintln!(">> {m:?}");
        }
        sent.lock().expect("sent").push(m.clone());
        if let Message::Hello(hello) = &m {
            let _ = stream.write_all(&enc(&Message::Hello(Hello::offering(&offer)), highest, 1));
            match negotiate(&offer, h.version, hello) {
                Ok(got) => assert_eq!(got, v, "negotiated version"),
                Err(e) => {
                    // As Open vSwitch does: say why, in the peer's version
                    // if we speak it, then hang up.
                    let ev = Version::from_wire(h.version).unwrap_or(Version::Of10);
                    let text = format!("we support {offer:?}");
                    let _ = stream.write_all(&enc(
                        &Message::Error(ErrorMsg::with_text(e, &text)),
                        ev,
                        h.xid,
                    ));
                    return;
                }
            }
            continue;
        }
        assert_eq!(
            h.version,
            v.wire(),
            "ovs-ofctl sent {m:?} in another version"
        );
        let (replies, last_words) = {
            let mut model = model.lock().expect("model");
            let replies = model.respond(&m, &bytes);
            let last = if model.hang_up {
                Some(std::mem::take(&mut model.then_send))
            } else {
                None
            };
            (replies, last)
        };
        for r in replies {
            // A write may fail once ovs-ofctl has what it needs and left.
            let _ = stream.write_all(&enc(&r, v, h.xid));
        }
        if let Some(last) = last_words {
            for m in last {
                let _ = stream.write_all(&enc(&m, v, 0));
            }
            return;
        }
    }
}

/// Runs `ovs-ofctl -O PROTOCOLS ARGS` (with "SW" standing for the fake
/// switch) against a fake switch answering from `model`. Returns how it
/// ended, every message it sent (decoded) and the model afterwards.
fn converse_raw(model: Model, protocols: &str, args: &[&str]) -> (Output, Vec<Message>, Model) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir();
    let path = dir.join(format!("oxvs-of-messages-{}-{n}.sock", std::process::id()));
    let ctl = dir.join(format!("oxvs-of-messages-{}-{n}.ctl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind fake switch socket");
    let target = format!("unix:{}", path.display());
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "SW" { target.as_str() } else { a })
        .collect();
    let unixctl = format!("--unixctl={}", ctl.display());
    let mut child = Command::new("ovs-ofctl")
        .args(["-O", protocols, "--timeout=10", &unixctl])
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run ovs-ofctl ({e}); install openvswitch-common"));

    // ovs-ofctl may hold several connections at once (`show` asks for the
    // configuration on a second one): serve each on its own thread until
    // ovs-ofctl exits.
    let model = Arc::new(Mutex::new(model));
    let sent = Arc::new(Mutex::new(Vec::new()));
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut servers = Vec::new();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let (model, sent) = (Arc::clone(&model), Arc::clone(&sent));
                servers.push(std::thread::spawn(move || serve(&model, stream, &sent)));
            }
            Err(_) => {
                if child.try_wait().expect("wait").is_some() {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "ovs-ofctl {args:?} did not finish"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
    let out = child.wait_with_output().expect("ovs-ofctl output");
    for s in servers {
        if let Err(e) = s.join() {
            std::panic::resume_unwind(e);
        }
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&ctl);
    let sent = std::mem::take(&mut *sent.lock().expect("sent"));
    let model = Arc::try_unwrap(model)
        .ok()
        .expect("servers done")
        .into_inner()
        .expect("model");
    (out, sent, model)
}

/// [`converse_raw`] in the model's version, which must succeed quietly.
/// Returns stdout and the non-HELLO messages sent.
fn converse(model: Model, args: &[&str]) -> (String, Vec<Message>, Model) {
    let v = model.version;
    let (out, sent, model) = converse_raw(model, v.name(), args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "ovs-ofctl {args:?} in {v:?}: {}\n{stderr}",
        out.status
    );
    let sent = sent
        .into_iter()
        .filter(|m| !matches!(m, Message::Hello(_)))
        .collect();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        sent,
        model,
    )
}

/// One ovs-ofctl command, the versions it is tried in, the requests it must
/// send and what it must print ("{V}" stands for the version tag).
struct Conv {
    args: &'static [&'static str],
    versions: Vec<Version>,
    sent: fn(Version) -> Vec<Message>,
    expect: &'static [&'static str],
}

fn conv(
    args: &'static [&'static str],
    versions: &[Version],
    sent: fn(Version) -> Vec<Message>,
    expect: &'static [&'static str],
) -> Conv {
    Conv {
        args,
        versions: versions.to_vec(),
        sent,
        expect,
    }
}

fn conversations() -> Vec<Conv> {
    use Version::*;
    vec![
        conv(
            &["show", "SW"],
            &ALL,
            |v| {
                let mut m = vec![Message::FeaturesRequest];
                if v != Of10 {
                    m.push(mp_req(MpRequest::PortDesc { port_no: PortNo::ANY }));
                }
                m.push(Message::GetConfigRequest);
                m
            },
            &[
                "OFPT_FEATURES_REPLY{V} (xid=0x2): dpid:000000000000abcd\nn_tables:254, n_buffers:0\ncapabilities: FLOW_STATS PORT_STATS\nactions: output\n 1(eth1): addr:50:54:00:00:00:01\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\nOFPT_GET_CONFIG_REPLY{V} (xid=0x4): frags=normal miss_send_len=128",
                "OFPT_FEATURES_REPLY{V} (xid=0x2): dpid:000000000000abcd\nn_tables:254, n_buffers:0\ncapabilities: FLOW_STATS PORT_STATS\nOFPST_PORT_DESC reply{V} (xid=0x3):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\nOFPT_GET_CONFIG_REPLY{V} (xid=0x5): frags=normal miss_send_len=128",
                "OFPT_FEATURES_REPLY{V} (xid=0x2): dpid:000000000000abcd\nn_tables:254, n_buffers:0\ncapabilities: FLOW_STATS PORT_STATS\nOFPST_PORT_DESC reply{V} (xid=0x3):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\nOFPT_GET_CONFIG_REPLY{V} (xid=0x5): frags=normal miss_send_len=128",
                "OFPT_FEATURES_REPLY{V} (xid=0x2): dpid:000000000000abcd\nn_tables:254, n_buffers:0\ncapabilities: FLOW_STATS PORT_STATS\nOFPST_PORT_DESC reply{V} (xid=0x3):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\nOFPT_GET_CONFIG_REPLY{V} (xid=0x5): frags=normal miss_send_len=128",
            ],
        ),
        conv(&["dump-desc", "SW"], &ALL, |_| vec![mp_req(MpRequest::Desc)], &["OFPST_DESC reply{V} (xid=0x2):\nManufacturer: oxvs\nHardware: fake\nSoftware: test\nSerial Num: 42\nDP Description: br-test"]),
        conv(&["dump-tables", "SW"], &ALL, |_| vec![mp_req(MpRequest::TableStats)], &[
                "OFPST_TABLE reply{V} (xid=0x2):\n  table 0 (\"classifier\"):\n    active=3, lookup=40, matched=30\n    max_entries=1000\n    matching:\n      exact match or wildcard: in_port eth_{src,dst,type} vlan_{vid,pcp} ip_{src,dst} nw_{proto,tos} tcp_{src,dst}",
                "OFPST_TABLE reply{V} (xid=0x2):\n  table 0:\n    active=3, lookup=40, matched=30",
                "OFPST_TABLE reply{V} (xid=0x2):\n  table 0:\n    active=3, lookup=40, matched=30",
                "OFPST_TABLE reply{V} (xid=0x2):\n  table 0:\n    active=3, lookup=40, matched=30",
            ]),
        conv(&["dump-ports", "SW"], &ALL, |_| vec![mp_req(MpRequest::PortStats { port_no: PortNo::ANY })], &[
                "OFPST_PORT reply{V} (xid=0x2): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16",
                "OFPST_PORT reply{V} (xid=0x2): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n           duration=3.500s\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
                "OFPST_PORT reply{V} (xid=0x2): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n           duration=3.500s\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
                "OFPST_PORT reply{V} (xid=0x2): 2 ports\n  port  1: rx pkts=100, bytes=1000, drop=1, errs=3, frame=5, over=6, crc=7\n           tx pkts=200, bytes=2000, drop=2, errs=4, coll=8\n           duration=3.500s\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
            ]),
        conv(&["dump-ports", "SW", "2"], &ALL, |_| vec![mp_req(MpRequest::PortStats { port_no: PortNo(2) })], &[
                "OFPST_PORT reply{V} (xid=0x2): 1 ports\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16",
                "OFPST_PORT reply{V} (xid=0x2): 1 ports\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
                "OFPST_PORT reply{V} (xid=0x2): 1 ports\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
                "OFPST_PORT reply{V} (xid=0x2): 1 ports\n  port  2: rx pkts=200, bytes=2000, drop=2, errs=6, frame=10, over=12, crc=14\n           tx pkts=400, bytes=4000, drop=4, errs=8, coll=16\n           duration=3.500s",
            ]),
        conv(&["dump-ports", "SW", "LOCAL"], &ALL, |_| vec![mp_req(MpRequest::PortStats { port_no: PortNo::LOCAL })], &["OFPST_PORT reply{V} (xid=0x2): 0 ports"]),
        conv(&["dump-ports-desc", "SW"], &ALL, |_| vec![mp_req(MpRequest::PortDesc { port_no: PortNo::ANY })], &[
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
            ]),
        conv(
            &["dump-ports-desc", "SW", "2"],
            &ALL,
            // Only OpenFlow 1.5 can ask for one port.
            |v| vec![mp_req(MpRequest::PortDesc { port_no: if v == Of15 { PortNo(2) } else { PortNo::ANY } })],
            &[
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 1(eth1): addr:50:54:00:00:00:01\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
                "OFPST_PORT_DESC reply{V} (xid=0x2):\n 2(eth2): addr:50:54:00:00:00:02\n     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n     current:    1GB-FD COPPER AUTO_NEG\n     advertised: 1GB-FD COPPER AUTO_NEG\n     supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n     speed: 1000 Mbps now, 10000 Mbps max",
            ],
        ),
        conv(
            &["queue-stats", "SW"],
            &ALL,
            |_| vec![mp_req(MpRequest::QueueStats { port_no: PortNo::ANY, queue_id: u32::MAX })],
            &[
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 0: bytes=10, pkts=1, errors=0, duration=?",
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 0: bytes=10, pkts=1, errors=0, duration=1s",
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 0: bytes=10, pkts=1, errors=0, duration=1s",
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 0: bytes=10, pkts=1, errors=0, duration=1s",
            ],
        ),
        conv(
            &["queue-stats", "SW", "1", "5"],
            &ALL,
            |_| vec![mp_req(MpRequest::QueueStats { port_no: PortNo(1), queue_id: 5 })],
            &[
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 5: bytes=10, pkts=1, errors=0, duration=?",
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 5: bytes=10, pkts=1, errors=0, duration=1s",
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 5: bytes=10, pkts=1, errors=0, duration=1s",
                "OFPST_QUEUE reply{V} (xid=0x2): 1 queues\n  port 1 queue 5: bytes=10, pkts=1, errors=0, duration=1s",
            ],
        ),
        conv(&["get-frags", "SW"], &ALL, |_| vec![Message::GetConfigRequest], &["normal"]),
        conv(
            &["set-frags", "SW", "reassemble"],
            &ALL,
            |_| {
                let c = SwitchConfig { frag: FragHandling::Reassemble, ..SwitchConfig::default() };
                vec![Message::GetConfigRequest, Message::SetConfig(c), Message::BarrierRequest, Message::GetConfigRequest]
            },
            &[""],
        ),
        conv(
            &["mod-port", "SW", "eth2", "no-packet-in"],
            &ALL,
            |v| {
                let lookup = if v == Of10 { Message::FeaturesRequest } else { mp_req(MpRequest::PortDesc { port_no: PortNo::ANY }) };
                let no_pin = PortConfig(PortConfig::NO_PACKET_IN);
                let pm = PortMod { port_no: PortNo(2), hw_addr: mac(2), config: no_pin, mask: no_pin, ..PortMod::default() };
                vec![lookup, Message::PortMod(pm), Message::BarrierRequest]
            },
            &[""],
        ),
        conv(
            &["mod-port", "SW", "1", "up"],
            &ALL,
            |v| {
                let lookup = if v == Of10 { Message::FeaturesRequest } else { mp_req(MpRequest::PortDesc { port_no: PortNo::ANY }) };
                let down = PortConfig(PortConfig::PORT_DOWN);
                let pm = PortMod { port_no: PortNo(1), hw_addr: mac(1), config: PortConfig(0), mask: down, ..PortMod::default() };
                vec![lookup, Message::PortMod(pm), Message::BarrierRequest]
            },
            &[""],
        ),
        conv(&["dump-group-features", "SW"], &ALL, |_| vec![mp_req(MpRequest::GroupFeatures)], &[
                "NXST_GROUP_FEATURES reply{V} (xid=0x2):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0xa\n       actions: output\n    select group:\n       max_groups=0x14\n       actions: output\n    indirect group:\n       max_groups=0x1e\n       actions: output\n    fast failover group:\n       max_groups=0x28\n       actions: output",
                "OFPST_GROUP_FEATURES reply{V} (xid=0x2):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0xa\n       actions: output\n    select group:\n       max_groups=0x14\n       actions: output\n    indirect group:\n       max_groups=0x1e\n       actions: output\n    fast failover group:\n       max_groups=0x28\n       actions: output",
                "OFPST_GROUP_FEATURES reply{V} (xid=0x2):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0xa\n       actions: output\n    select group:\n       max_groups=0x14\n       actions: output\n    indirect group:\n       max_groups=0x1e\n       actions: output\n    fast failover group:\n       max_groups=0x28\n       actions: output",
                "OFPST_GROUP_FEATURES reply{V} (xid=0x2):\n Group table:\n    Types:  0xf\n    Capabilities:  0x7\n    all group:\n       max_groups=0xa\n       actions: output\n    select group:\n       max_groups=0x14\n       actions: output\n    indirect group:\n       max_groups=0x1e\n       actions: output\n    fast failover group:\n       max_groups=0x28\n       actions: output",
            ]),
        conv(&["meter-features", "SW"], &V13_UP, |_| vec![mp_req(MpRequest::MeterFeatures)], &["OFPST_METER_FEATURES reply{V} (xid=0x2):\nmax_meter:100 max_bands:1 max_color:0\nband_types: drop\ncapabilities: kbps pktps burst stats"]),
        conv(&["probe", "SW"], &ALL, |_| vec![Message::EchoRequest(vec![])], &[""]),
    ]
}

#[test]
#[ignore = "prints what ovs-ofctl prints in each conversation, for writing expectations"]
fn dump_conversations() {
    for c in conversations() {
        for &v in &c.versions {
            let (out, sent, _) = converse(Model::new(v), c.args);
            println!("=== {:?} {v:?}", c.args);
            for m in sent {
                println!(">> {m:?}");
            }
            print!("{out}");
        }
    }
}

#[test]
fn ovs_ofctl_commands_against_a_fake_switch() {
    for c in conversations() {
        for (i, &v) in c.versions.iter().enumerate() {
            let (out, sent, _) = converse(Model::new(v), c.args);
            assert_eq!(
                sent,
                (c.sent)(v),
                "{:?} in {v:?}: what ovs-ofctl sent",
                c.args
            );
            assert!(
                c.expect.len() == 1 || c.expect.len() == c.versions.len(),
                "{:?}",
                c.args
            );
            let t = if c.expect.len() == 1 {
                c.expect[0]
            } else {
                c.expect[i]
            };
            assert_eq!(
                out.trim_end(),
                t.replace("{V}", vtag(v)),
                "{:?} in {v:?}: what ovs-ofctl printed",
                c.args
            );
        }
    }
}

#[test]
fn ovs_ofctl_changes_switch_state() {
    for v in ALL {
        let (_, _, model) = converse(Model::new(v), &["set-frags", "SW", "nx-match"]);
        assert_eq!(model.config.frag, FragHandling::NxMatch);
        let (out, _, _) = converse(model, &["get-frags", "SW"]);
        assert_eq!(out, "nx-match\n");
        let (_, _, model) = converse(Model::new(v), &["mod-port", "SW", "eth2", "down"]);
        assert!(
            model.ports[1].config.contains(PortConfig::PORT_DOWN),
            "{v:?}"
        );
        assert_eq!(model.ports[0], Model::new(v).ports[0]);
    }
}

#[test]
fn ovs_ofctl_ping_gets_its_payload_back() {
    for v in ALL {
        let (out, sent, _) = converse(Model::new(v), &["ping", "SW", "100"]);
        assert_eq!(sent.len(), 10);
        assert!(
            sent.iter()
                .all(|m| matches!(m, Message::EchoRequest(d) if d.len() == 100)),
            "{sent:?}"
        );
        assert_eq!(
            out.lines()
                .filter(|l| l.starts_with("100 bytes from unix:"))
                .count(),
            10,
            "{out}"
        );
    }
}

#[test]
fn version_negotiation_with_ovs_ofctl() {
    use Version::*;
    // ovs-ofctl offers 1.0, 1.1 and 1.4 (a bitmap in a 1.4 header); we offer
    // all four of ours: 1.4 wins.
    for (ours, theirs, want) in [
        (&ALL[..], "OpenFlow10,OpenFlow11,OpenFlow14", Of14),
        (&[Of10, Of13][..], "OpenFlow10,OpenFlow13,OpenFlow15", Of13),
        (&[Of10, Of15][..], "OpenFlow10,OpenFlow12", Of10),
    ] {
        let mut m = Model::new(want);
        m.offer = ours.to_vec();
        let (out, sent, _) = converse_raw(m, theirs, &["dump-desc", "SW"]);
        assert!(
            out.status.success(),
            "{theirs}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_string);
        assert_eq!(
            first,
            Some(format!("OFPST_DESC reply{} (xid=0x2):", vtag(want)))
        );
        assert_eq!(sent.last(), Some(&mp_req(MpRequest::Desc)));
    }

    // Nothing in common: ovs-ofctl reads our bitmap and gives up; we decode
    // its HELLO although its header names a version we do not speak.
    let mut m = Model::new(Of13);
    m.offer = vec![Of13, Of15];
    let (out, sent, _) = converse_raw(m, "OpenFlow11,OpenFlow12,OpenFlow14", &["dump-desc", "SW"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("version negotiation failed (we support versions 0x02, 0x03, 0x05, peer supports versions 0x04, 0x06)"),
        "{stderr}"
    );
    let bitmap = (1 << 2) | (1 << 3) | (1 << 5);
    assert_eq!(
        sent,
        vec![Message::Hello(Hello {
            elements: vec![HelloElement::VersionBitmap(vec![bitmap])]
        })]
    );
}

#[test]
fn ovs_ofctl_monitor_reads_our_errors_and_async_messages() {
    for v in ALL {
        let of10 = v == Version::Of10;
        let mut m = Model::new(v);
        // Refusing NXT_PACKET_IN2 makes an OpenFlow 1.0 monitor fall back
        // to NXT_PACKET_IN: proof that it read our error reply.
        m.refuse_packet_in2 = Some(BadRequest::EPerm.into());
        m.hang_up_after_barriers = Some(if of10 { 4 } else { 2 });
        m.then_send = vec![Message::PortStatus(PortStatus {
            reason: PortReason::Add,
            desc: port(v, 7, "eth7"),
        })];
        let args: &[&str] = if of10 {
            &["monitor", "SW", "200", "invalid_ttl"]
        } else {
            &["monitor", "SW", "200"]
        };
        let (out, sent, _) = converse_raw(m, v.name(), args);

        let cfg = |ttl| {
            Message::SetConfig(SwitchConfig {
                miss_send_len: 200,
                invalid_ttl_to_controller: ttl,
                ..SwitchConfig::default()
            })
        };
        let mut want = vec![
            Message::GetConfigRequest,
            cfg(false),
            Message::BarrierRequest,
        ];
        if of10 {
            want.extend([
                Message::GetConfigRequest,
                cfg(true),
                Message::BarrierRequest,
                Message::GetConfigRequest,
            ]);
        }
        want.extend([
            Message::SetPacketInFormat(PacketInFormat::Nxt2),
            Message::BarrierRequest,
        ]);
        if of10 {
            want.extend([
                Message::SetPacketInFormat(PacketInFormat::Nxt),
                Message::BarrierRequest,
            ]);
        }
        let sent: Vec<Message> = sent
            .into_iter()
            .filter(|m| !matches!(m, Message::Hello(_)))
            .collect();
        assert_eq!(sent, want, "{v:?}");

        // It printed the port status we sent, then saw us hang up.
        let port_lines = if of10 {
            "     config:     NO_RECV NO_FLOOD\n     state:      STP_FORWARD\n"
        } else {
            "     config:     PORT_DOWN\n     state:      LINK_DOWN LIVE\n"
        };
        let expect = format!(
            "OFPT_PORT_STATUS{} (xid=0x0): ADD: 7(eth7): addr:50:54:00:00:00:07\n{port_lines}\
             \x20    current:    1GB-FD COPPER AUTO_NEG\n\
             \x20    advertised: 1GB-FD COPPER AUTO_NEG\n\
             \x20    supported:  1GB-FD 10GB-FD COPPER AUTO_NEG\n\
             \x20    speed: 1000 Mbps now, 10000 Mbps max\n\
             ovs-ofctl: vconn_recv (End of file)\n",
            vtag(v)
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), expect, "{v:?}");
    }
}

/// `ovs-ofctl monitor` asks for NXT_PACKET_IN2 in every version; once the
/// switch accepts, it reads the packet-in2s we send, userdata included.
#[test]
fn ovs_ofctl_monitor_reads_our_packet_in2() {
    for v in ALL {
        let mut m = Model::new(v);
        m.hang_up_after_barriers = Some(2);
        m.then_send = vec![packet_in2(v), packet_in2_cut(v)];
        let (out, sent, _) = converse_raw(m, v.name(), &["monitor", "SW", "200"]);
        let sent: Vec<Message> = sent
            .into_iter()
            .filter(|m| !matches!(m, Message::Hello(_)))
            .collect();
        assert_eq!(
            sent,
            vec![
                Message::GetConfigRequest,
                Message::SetConfig(SwitchConfig {
                    miss_send_len: 200,
                    ..SwitchConfig::default()
                }),
                Message::BarrierRequest,
                Message::SetPacketInFormat(PacketInFormat::Nxt2),
                Message::BarrierRequest,
            ],
            "{v:?}"
        );
        let text = format!(
            "{}\n{}\novs-ofctl: vconn_recv (End of file)\n",
            expectation(
                &cases()
                    .into_iter()
                    .find(|c| c.name == "packet-in2")
                    .expect("case"),
                0,
                v
            ),
            expectation(
                &cases()
                    .into_iter()
                    .find(|c| c.name == "packet-in2 cut, buffered, paused")
                    .expect("case"),
                0,
                v
            ),
        )
        .replace("xid=0x2a", "xid=0x0");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(all, text, "{v:?}");
    }
}

#[test]
fn ovs_ofctl_nicira_extensions_in_openflow10() {
    let of10 = Version::Of10;
    let no_hello = |sent: Vec<Message>| -> Vec<Message> {
        sent.into_iter()
            .filter(|m| !matches!(m, Message::Hello(_)))
            .collect()
    };

    // NXM flow dumps: NXT_SET_FLOW_FORMAT, then an NXST_FLOW request.
    let (out, sent, _) = converse(Model::new(of10), &["-F", "nxm", "dump-flows", "SW"]);
    let sent = no_hello(sent);
    assert_eq!(
        sent[..2],
        [
            Message::SetFlowFormat(FlowFormat::Nxm),
            Message::BarrierRequest
        ]
    );
    assert!(
        matches!(&sent[2], Message::Unparsed(u) if u.raw == RawMsg::NxstFlowRequest),
        "{sent:?}"
    );
    assert_eq!(out.trim_end(), "NXST_FLOW reply (xid=0x4):");

    // A flow for table 1: NXT_FLOW_MOD_TABLE_ID first; with NXM the flow
    // mod itself is an NXT_FLOW_MOD, which this pass keeps raw.
    let (_, sent, _) = converse(
        Model::new(of10),
        &["-F", "nxm", "add-flow", "SW", "table=1,actions=drop"],
    );
    let sent = no_hello(sent);
    let want_start = [
        mp_req(MpRequest::TableStats),
        Message::FeaturesRequest,
        Message::SetFlowFormat(FlowFormat::Nxm),
        Message::BarrierRequest,
        Message::FlowModTableId(true),
        Message::BarrierRequest,
    ];
    assert_eq!(sent[..6], want_start);
    assert!(
        matches!(&sent[6], Message::Experimenter(e) if e.experimenter == NX_VENDOR_ID && e.exp_type == 13 && e.data.len() == 32),
        "{sent:?}"
    );
    assert_eq!(sent[7..], [Message::BarrierRequest]);
}

// ---------------------------------------------------------------------------
// Malformed input.

/// A message with header `version`/`msg_type`, xid 0x42 and `body`, its
/// length field right.
fn raw(version: u8, msg_type: u8, body: &[u8]) -> Vec<u8> {
    let len = (8 + body.len()) as u16;
    let mut b = vec![version, msg_type];
    b.extend(len.to_be_bytes());
    b.extend(0x42u32.to_be_bytes());
    b.extend(body);
    b
}

/// `b` with its length field set to `len`.
fn with_len(mut b: Vec<u8>, len: u16) -> Vec<u8> {
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

/// A multipart message body prefix: OpenFlow 1.0 has 4 bytes of multipart
/// header, later versions 8.
fn mp(v: Version, stat: u16, flags: u16) -> Vec<u8> {
    let mut b = stat.to_be_bytes().to_vec();
    b.extend(flags.to_be_bytes());
    if v != Version::Of10 {
        b.extend([0; 4]);
    }
    b
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn be32(x: u32) -> [u8; 4] {
    x.to_be_bytes()
}

/// One malformed message: the error decoding must give, the version the
/// error reply goes out in, and the (type, code) pair it must carry there.
struct Bad {
    what: String,
    bytes: Vec<u8>,
    err: OfpError,
    reply_version: Version,
    wire: (u16, u16),
}

fn bad_cases() -> Vec<Bad> {
    use Version::*;
    let mut out = Vec::new();
    let mut add = |what: String, bytes: Vec<u8>, err: OfpError, v: Version, wire: (u16, u16)| {
        out.push(Bad {
            what,
            bytes,
            err,
            reply_version: v,
            wire,
        });
    };
    let bad_len: OfpError = BadRequest::BadLen.into();
    const BAD_LEN: (u16, u16) = (1, 6);
    const NX_VENDOR: (u16, u16) = (0xb0c2, 0);

    add("empty".into(), vec![], bad_len, Of10, BAD_LEN);
    for v in ALL {
        let w = v.wire();
        let tag = format!("{v:?}");
        // Headers that are not there or whose length lies.
        add(format!("{tag}: one byte"), vec![w], bad_len, v, BAD_LEN);
        add(
            format!("{tag}: 7-byte header"),
            raw(w, 2, &[])[..7].to_vec(),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: length 0"),
            with_len(raw(w, 2, &[]), 0),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: length 7"),
            with_len(raw(w, 2, &[]), 7),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: length longer than bytes"),
            with_len(raw(w, 2, &[1, 2]), 12),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: length shorter than bytes"),
            with_len(raw(w, 2, &[1, 2]), 8),
            bad_len,
            v,
            BAD_LEN,
        );

        // Unknown message types.
        add(
            format!("{tag}: type 200"),
            raw(w, 200, &[]),
            BadRequest::BadType.into(),
            v,
            (1, 1),
        );

        // Experimenter messages.
        add(
            format!("{tag}: experimenter header cut short"),
            raw(w, 4, &be32(NX_VENDOR_ID)),
            bad_len,
            v,
            BAD_LEN,
        );
        let unknown_vendor = cat(&[&be32(0x1234_5678), &be32(1)]);
        add(
            format!("{tag}: unknown experimenter"),
            raw(w, 4, &unknown_vendor),
            BadRequest::BadExperimenter.into(),
            v,
            (1, 3),
        );
        let nx99 = cat(&[&be32(NX_VENDOR_ID), &be32(99)]);
        add(
            format!("{tag}: unknown Nicira subtype"),
            raw(w, 4, &nx99),
            BadRequest::BadExpType.into(),
            v,
            (1, 4),
        );
        let onf1 = cat(&[&be32(ONF_VENDOR_ID), &be32(1)]);
        add(
            format!("{tag}: unknown ONF subtype"),
            raw(w, 4, &onf1),
            BadRequest::BadExpType.into(),
            v,
            (1, 4),
        );

        // Multipart messages.
        let req = if v == Of10 { 16 } else { 18 };
        let rep = if v == Of10 { 17 } else { 19 };
        add(
            format!("{tag}: multipart header cut short"),
            raw(w, req, &[0, 0]),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: multipart type 200"),
            raw(w, req, &mp(v, 200, 0)),
            BadRequest::BadMultipart.into(),
            v,
            (1, 2),
        );
        add(
            format!("{tag}: multipart reply type 99"),
            raw(w, rep, &mp(v, 99, 0)),
            BadRequest::BadMultipart.into(),
            v,
            (1, 2),
        );
        let vstat = cat(&[&mp(v, 0xffff, 0), &be32(0xdead_beef), &be32(0), &[0; 4]]);
        add(
            format!("{tag}: multipart unknown experimenter"),
            raw(w, req, &vstat),
            BadRequest::BadExperimenter.into(),
            v,
            (1, 3),
        );
        let nxstat = cat(&[
            &mp(v, 0xffff, 0),
            &be32(NX_VENDOR_ID),
            &be32(99),
            if v == Of10 { &[0; 4] } else { &[] },
        ]);
        add(
            format!("{tag}: multipart unknown Nicira subtype"),
            raw(w, req, &nxstat),
            BadRequest::BadExpType.into(),
            v,
            (1, 4),
        );
        let cut = cat(&[&mp(v, 0xffff, 0), &be32(NX_VENDOR_ID)]);
        add(
            format!("{tag}: multipart experimenter header cut short"),
            raw(w, req, &cut),
            bad_len,
            v,
            BAD_LEN,
        );

        // Bodies of the wrong length.
        add(
            format!("{tag}: features request with a body"),
            raw(w, 5, &[0; 4]),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: get-config reply of 3 bytes"),
            raw(w, 8, &[0; 3]),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: set-config of 6 bytes"),
            raw(w, 9, &[0; 6]),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: error of 3 bytes"),
            raw(w, 1, &[0; 3]),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: desc reply of 1055 bytes"),
            raw(w, rep, &cat(&[&mp(v, 0, 0), &[0; 1055]])),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: desc request with a body"),
            raw(w, req, &cat(&[&mp(v, 0, 0), &[0; 8]])),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: NXT_ROLE_REQUEST of 5 bytes"),
            raw(w, 4, &cat(&[&be32(NX_VENDOR_ID), &be32(10), &[0; 5]])),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{tag}: NXT_FLOW_MOD_TABLE_ID of 4 bytes"),
            raw(w, 4, &cat(&[&be32(NX_VENDOR_ID), &be32(15), &[1, 0, 0, 0]])),
            bad_len,
            v,
            BAD_LEN,
        );
        let port_stats_len = match v {
            Of10 => 103,
            Of13 => 111,
            _ => 4,
        };
        add(
            format!("{tag}: port stats reply of a bad length"),
            raw(w, rep, &cat(&[&mp(v, 4, 0), &vec![0; port_stats_len]])),
            bad_len,
            v,
            BAD_LEN,
        );

        // Bodies whose content is wrong.
        let bad_role_nx = cat(&[&be32(NX_VENDOR_ID), &be32(10), &be32(3)]);
        let bad_role_wire = if v == Of10 { NX_VENDOR } else { (11, 2) };
        add(
            format!("{tag}: Nicira role 3"),
            raw(w, 4, &bad_role_nx),
            RoleRequestFailed::BadRole.into(),
            v,
            bad_role_wire,
        );
        let mut status = vec![9, 0, 0, 0, 0, 0, 0, 0];
        status.extend(
            enc(
                &Message::PortStatus(PortStatus {
                    reason: PortReason::Add,
                    desc: port(v, 1, "p"),
                }),
                v,
                0,
            )[16..]
                .to_vec(),
        );
        let reason_wire = if v == Of10 { NX_VENDOR } else { (0xffff, 5) };
        add(
            format!("{tag}: port status reason 9"),
            raw(w, 12, &status),
            BadRequest::BadReason.into(),
            v,
            reason_wire,
        );
        let flags_wire = if v == Of10 { NX_VENDOR } else { (10, 0) };
        add(
            format!("{tag}: set-config flag 0x10"),
            raw(w, 9, &[0, 0x10, 0, 128]),
            SwitchConfigFailed::BadFlags.into(),
            v,
            flags_wire,
        );
    }

    // Versions we do not speak.
    for w in [0u8, 2, 3, 7, 0x80] {
        add(
            format!("version {w:#x}"),
            raw(w, 2, &[]),
            BadRequest::BadVersion.into(),
            Of10,
            (1, 0),
        );
    }

    // Messages in versions that lack them.
    add(
        "role request in 1.0".into(),
        raw(1, 24, &[0; 16]),
        BadRequest::BadType.into(),
        Of10,
        (1, 1),
    );
    add(
        "get-async request in 1.0".into(),
        raw(1, 26, &[]),
        BadRequest::BadType.into(),
        Of10,
        (1, 1),
    );
    add(
        "meter mod in 1.0".into(),
        raw(1, 29, &[0; 8]),
        BadRequest::BadType.into(),
        Of10,
        (1, 1),
    );
    add(
        "role status in 1.3".into(),
        raw(4, 30, &[0; 16]),
        BadRequest::BadType.into(),
        Of13,
        (1, 1),
    );
    add(
        "bundle control in 1.3".into(),
        raw(4, 33, &[0; 8]),
        BadRequest::BadType.into(),
        Of13,
        (1, 1),
    );
    add(
        "type 36 in 1.3".into(),
        raw(4, 36, &[]),
        BadRequest::BadType.into(),
        Of13,
        (1, 1),
    );
    let sff = cat(&[&be32(NX_VENDOR_ID), &be32(12), &be32(2)]);
    add(
        "NXT_SET_FLOW_FORMAT in 1.3".into(),
        raw(4, 4, &sff),
        BadRequest::BadExpType.into(),
        Of13,
        (1, 4),
    );
    let onf_role = cat(&[&be32(ONF_VENDOR_ID), &be32(1911), &[0; 16]]);
    add(
        "ONFT_ROLE_STATUS in 1.4".into(),
        raw(5, 4, &onf_role),
        BadRequest::BadExpType.into(),
        Of14,
        (1, 4),
    );
    add(
        "meter features in 1.0".into(),
        raw(1, 16, &mp(Of10, 11, 0)),
        BadRequest::BadMultipart.into(),
        Of10,
        (1, 2),
    );
    add(
        "table desc in 1.3".into(),
        raw(4, 18, &mp(Of13, 14, 0)),
        BadRequest::BadMultipart.into(),
        Of13,
        (1, 2),
    );
    let onf_stat = cat(&[
        &mp(Of10, 0xffff, 0),
        &be32(ONF_VENDOR_ID),
        &be32(1870),
        &[0; 4],
    ]);
    add(
        "ONF multipart in 1.0".into(),
        raw(1, 16, &onf_stat),
        BadRequest::BadExperimenter.into(),
        Of10,
        (1, 3),
    );

    // Version-specific layouts.
    add(
        "1.0 features reply with half a port".into(),
        raw(1, 6, &[0; 24 + 24]),
        bad_len,
        Of10,
        BAD_LEN,
    );
    add(
        "1.3 features reply with a port".into(),
        raw(4, 6, &[0; 24 + 64]),
        bad_len,
        Of13,
        BAD_LEN,
    );
    add(
        "1.3 role request of 15 bytes".into(),
        raw(4, 24, &[0; 15]),
        bad_len,
        Of13,
        BAD_LEN,
    );
    let mut role = vec![0, 0, 0, 4];
    role.extend([0; 12]);
    add(
        "1.3 role 4".into(),
        raw(4, 24, &role),
        RoleRequestFailed::BadRole.into(),
        Of13,
        (11, 2),
    );
    add(
        "1.3 set-config invalid-ttl flag".into(),
        raw(4, 9, &[0, 4, 0, 128]),
        SwitchConfigFailed::BadFlags.into(),
        Of13,
        (10, 0),
    );
    add(
        "1.3 table stats of 25 bytes".into(),
        raw(4, 19, &cat(&[&mp(Of13, 3, 0), &[0; 25]])),
        bad_len,
        Of13,
        BAD_LEN,
    );
    add(
        "1.3 meter features of 15 bytes".into(),
        raw(4, 19, &cat(&[&mp(Of13, 11, 0), &[0; 15]])),
        bad_len,
        Of13,
        BAD_LEN,
    );
    for v in V14_UP {
        let w = v.wire();
        let tag = format!("{v:?}");
        let bad_prop_len = (14, 1);
        // A port description claiming 200 bytes in a 48-byte body.
        let mut p = enc(&mp_rep(MpReply::PortDesc(vec![port(v, 1, "p")])), v, 0)[16..].to_vec();
        p[4..6].copy_from_slice(&200u16.to_be_bytes());
        add(
            format!("{tag}: port desc length overrun"),
            raw(w, 19, &cat(&[&mp(v, 13, 0), &p])),
            bad_len,
            v,
            BAD_LEN,
        );
        // ... and one whose Ethernet property is 4 bytes short.
        let mut p = enc(&mp_rep(MpReply::PortDesc(vec![port(v, 1, "p")])), v, 0)[16..].to_vec();
        p[42..44].copy_from_slice(&28u16.to_be_bytes());
        add(
            format!("{tag}: port desc property too short"),
            raw(w, 19, &cat(&[&mp(v, 13, 0), &p])),
            BadProperty::BadLen.into(),
            v,
            bad_prop_len,
        );
        // Async properties: a 2-byte mask, and a property overrunning.
        add(
            format!("{tag}: async property of 6 bytes"),
            raw(w, 28, &[0, 1, 0, 6, 0, 7, 0, 0]),
            BadProperty::BadLen.into(),
            v,
            bad_prop_len,
        );
        add(
            format!("{tag}: async property overrunning"),
            raw(w, 28, &[0, 1, 0, 24, 0, 0, 0, 7]),
            BadProperty::BadLen.into(),
            v,
            bad_prop_len,
        );
        add(
            format!("{tag}: async property of 2 bytes"),
            raw(w, 28, &[0, 1, 0, 2, 0, 0, 0, 0]),
            BadProperty::BadLen.into(),
            v,
            bad_prop_len,
        );
        // A port-stats entry with a length below its fixed part.
        let mut ps = enc(&mp_rep(MpReply::PortStats(vec![port_stats(v, 1)])), v, 0)[16..].to_vec();
        ps[0..2].copy_from_slice(&72u16.to_be_bytes());
        add(
            format!("{tag}: port stats entry length 72"),
            raw(w, 19, &cat(&[&mp(v, 4, 0), &ps])),
            bad_len,
            v,
            BAD_LEN,
        );
        // A port mod whose Ethernet property carries 8 bytes.
        let pm = cat(&[
            &be32(1),
            &[0; 4],
            &mac(1),
            &[0; 2],
            &be32(0),
            &be32(0),
            &[0, 0, 0, 12],
            &[0; 8],
            &[0; 4],
        ]);
        add(
            format!("{tag}: port mod property of 8 bytes"),
            raw(w, 16, &pm),
            BadProperty::BadLen.into(),
            v,
            bad_prop_len,
        );
    }
    // NXT_PACKET_IN2, as OVS's `decode_nx_packet_in2` (not loose) refuses.
    let pin2 = |v: Version, props: &[&[u8]]| {
        let body = cat(&[&be32(NX_VENDOR_ID), &be32(30), &cat(props)]);
        raw(v.wire(), 4, &body)
    };
    let packet: &[u8] = &[0, 0, 0, 6, 0xaa, 0xbb, 0, 0];
    let reason: &[u8] = &[0, 5, 0, 5, 1, 0, 0, 0];
    for v in ALL {
        add(
            format!("{v:?}: packet-in2 without a packet"),
            pin2(v, &[reason]),
            bad_len,
            v,
            BAD_LEN,
        );
        // NXT_RESUME's body is NXT_PACKET_IN2's: a packet is required.
        let resume = raw(v.wire(), 4, &cat(&[&be32(NX_VENDOR_ID), &be32(28), reason]));
        add(
            format!("{v:?}: resume without a packet"),
            resume,
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{v:?}: packet-in2 with an empty packet"),
            pin2(v, &[&[0, 0, 0, 4, 0, 0, 0, 0], reason]),
            bad_len,
            v,
            BAD_LEN,
        );
        add(
            format!("{v:?}: packet-in2 full_len below the packet's"),
            pin2(v, &[packet, &[0, 1, 0, 8, 0, 0, 0, 1]]),
            bad_len,
            v,
            BAD_LEN,
        );
    }
    add(
        "1.3 packet-in2 full_len of 2 bytes".into(),
        pin2(Of13, &[packet, &[0, 1, 0, 6, 0, 9, 0, 0]]),
        BadProperty::BadLen.into(),
        Of13,
        (13, 3),
    );
    add(
        "1.3 packet-in2 cookie without its padding".into(),
        pin2(
            Of13,
            &[
                packet,
                &[0, 4, 0, 12, 0, 0, 0, 0],
                &[0, 0, 0, 5, 0, 0, 0, 0],
            ],
        ),
        BadProperty::BadLen.into(),
        Of13,
        (13, 3),
    );
    add(
        "1.3 packet-in2 property of unknown type 9".into(),
        pin2(Of13, &[packet, &[0, 9, 0, 4, 0, 0, 0, 0]]),
        BadProperty::BadType.into(),
        Of13,
        (13, 2),
    );
    add(
        "1.4 packet-in2 experimenter property".into(),
        pin2(
            Of14,
            &[
                packet,
                &[0xff, 0xff, 0, 12],
                &be32(NX_VENDOR_ID),
                &be32(1),
                &[0; 4],
            ],
        ),
        BadProperty::BadExpType.into(),
        Of14,
        (14, 6),
    );
    add(
        "1.3 packet-in2 metadata with a packet field (vlan_tci)".into(),
        pin2(
            Of13,
            &[packet, &[0, 6, 0, 10, 0, 0, 8, 2, 0, 5, 0, 0, 0, 0, 0, 0]],
        ),
        BadMatch::BadField.into(),
        Of13,
        (4, 6),
    );
    add(
        "1.3 packet-in2 property running past the end".into(),
        pin2(Of13, &[packet, &[0, 7, 0, 40, 0, 0, 0, 0]]),
        BadProperty::BadLen.into(),
        Of13,
        (13, 3),
    );
    out
}

#[test]
fn malformed_messages_give_the_exact_error() {
    let cases = bad_cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut versions = std::collections::HashSet::new();
    for c in &cases {
        let got = decode(&c.bytes).map(|(_, m)| m);
        assert_eq!(got, Err(c.err), "{}: {}", c.what, hex(&c.bytes));
        assert_eq!(
            c.err.to_wire(c.reply_version),
            c.wire,
            "{}: {}",
            c.what,
            c.err
        );
        versions.insert(c.reply_version);
    }
    assert_eq!(versions.len(), 4, "every version has malformed cases");
}

#[test]
fn ovs_ofctl_reads_our_replies_to_malformed_messages() {
    for c in bad_cases() {
        let v = c.reply_version;
        let reply = enc(&Message::Error(ErrorMsg::reply(c.err, &c.bytes)), v, 0x42);
        assert_eq!(
            reply[8..12],
            [c.wire.0.to_be_bytes(), c.wire.1.to_be_bytes()].concat(),
            "{}",
            c.what
        );
        // Open vSwitch may complain about the offending message inside; the
        // first line, which names the error, is what counts.
        let out = run_ofctl(&["ofp-print", &hex(&reply)]);
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        let name = c
            .err
            .wire_exact(v)
            .map_or("NXBRC_UNENCODABLE_ERROR", |_| c.err.name());
        assert_eq!(
            first,
            format!("OFPT_ERROR{} (xid=0x42): {name}", vtag(v)),
            "{}",
            c.what
        );
    }
}

#[test]
fn hellos_with_no_common_version_fail_negotiation() {
    use Version::*;
    let incompatible: OfpError = HelloFailed::Incompatible.into();
    let bitmap = |words: Vec<u32>| Hello {
        elements: vec![HelloElement::VersionBitmap(words)],
    };
    let cases: Vec<(&[Version], u8, Hello)> = vec![
        // OpenFlow 1.1 and 1.2 only.
        (&ALL, 3, bitmap(vec![0b1100])),
        // No bitmap: everything up to the header's version, here 1.0-1.1.
        (&[Of13], 2, Hello::default()),
        (&[Of14, Of15], 4, Hello::default()),
        (&[Of10], 6, bitmap(vec![1 << 4 | 1 << 6])),
        (&[Of13, Of14], 6, bitmap(vec![1 << 1 | 1 << 6])),
    ];
    for (ours, header, hello) in cases {
        assert_eq!(
            negotiate(ours, header, &hello),
            Err(incompatible),
            "{ours:?} vs {header} {hello:?}"
        );
        assert_eq!(incompatible.to_wire(ours[0]), (0, 0));
        // The same HELLO goes through the decoder fine.
        let b = raw(header, 0, &{
            let mut w = Vec::new();
            for e in &hello.elements {
                if let HelloElement::VersionBitmap(words) = e {
                    w.extend([0, 1]);
                    w.extend(((4 + 4 * words.len()) as u16).to_be_bytes());
                    for x in words {
                        w.extend(x.to_be_bytes());
                    }
                    while w.len() % 8 != 0 {
                        w.push(0);
                    }
                }
            }
            w
        });
        assert_eq!(decode(&b).map(|(_, m)| m), Ok(Message::Hello(hello)));
    }
}

// ---------------------------------------------------------------------------
// Properties: decode never panics, and decode(encode(m)) == m.

fn arb_name(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::char::range('!', '~'), 0..=max)
        .prop_map(|c| c.into_iter().collect())
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

fn arb_port_no(v: Version) -> BoxedStrategy<PortNo> {
    if v == Version::Of10 {
        any::<u16>().prop_map(PortNo::from_of10).boxed()
    } else {
        any::<u32>().prop_map(PortNo).boxed()
    }
}

/// Properties of some type other than `reserved`.
fn arb_props(v: Version, reserved: u16) -> BoxedStrategy<Vec<Property>> {
    if v >= Version::Of14 {
        proptest::collection::vec(
            (
                any::<u16>().prop_filter("reserved type", move |t| *t != reserved),
                arb_bytes(20),
            )
                .prop_map(|(ty, data)| Property { ty, data }),
            0..3,
        )
        .boxed()
    } else {
        Just(Vec::new()).boxed()
    }
}

fn arb_duration(v: Version) -> BoxedStrategy<Option<(u32, u32)>> {
    if v == Version::Of10 {
        Just(None).boxed()
    } else {
        proptest::option::of((0..u32::MAX, any::<u32>())).boxed()
    }
}

fn arb_port(v: Version) -> impl Strategy<Value = Port> {
    let feats = move || any::<u32>().prop_map(move |f| PortFeatures(f & PortFeatures::valid(v)));
    (
        (
            arb_port_no(v),
            any::<[u8; 6]>(),
            arb_name(15),
            any::<u32>(),
            any::<u32>(),
        ),
        (feats(), feats(), feats(), feats()),
        (any::<u32>(), any::<u32>(), arb_props(v, 0)),
    )
        .prop_map(
            move |(
                (port_no, hw_addr, name, config, state),
                (curr, advertised, supported, peer),
                (cs, ms, props),
            )| {
                let of10 = v == Version::Of10;
                Port {
                    port_no,
                    hw_addr,
                    name,
                    config: PortConfig(config & PortConfig::valid(v)),
                    state: PortState(state & PortState::valid(v)),
                    curr,
                    advertised,
                    supported,
                    peer,
                    curr_speed: if of10 { curr.speed_kbps() } else { cs },
                    max_speed: if of10 { supported.speed_kbps() } else { ms },
                    props,
                }
            },
        )
}

fn arb_port_stats(v: Version) -> impl Strategy<Value = PortStats> {
    (
        arb_port_no(v),
        arb_duration(v),
        any::<[u64; 12]>(),
        arb_props(v, 0),
    )
        .prop_map(|(port_no, duration, c, props)| PortStats {
            port_no,
            duration,
            rx_packets: c[0],
            tx_packets: c[1],
            rx_bytes: c[2],
            tx_bytes: c[3],
            rx_dropped: c[4],
            tx_dropped: c[5],
            rx_errors: c[6],
            tx_errors: c[7],
            rx_frame_err: c[8],
            rx_over_err: c[9],
            rx_crc_err: c[10],
            collisions: c[11],
            props,
        })
}

/// Async configurations `v`'s SET_ASYNC carries exactly: before 1.4 the
/// legacy 24-byte layout or, for anything else, NXT_SET_ASYNC_CONFIG2.
fn arb_set_async(v: Version) -> BoxedStrategy<AsyncConfig> {
    if v >= Version::Of14 {
        arb_async(v)
    } else {
        prop_oneof![arb_async(v), arb_async(Version::Of14)].boxed()
    }
}

/// Async configurations `v`'s GET_ASYNC_REPLY carries exactly.
fn arb_async(v: Version) -> BoxedStrategy<AsyncConfig> {
    let opt = || proptest::option::of(any::<u32>());
    if v >= Version::Of14 {
        let masks = move || {
            (opt(), opt()).prop_map(|(primary, secondary)| AsyncMasks { primary, secondary })
        };
        (
            masks(),
            masks(),
            masks(),
            masks(),
            masks(),
            masks(),
            arb_props(v, 0),
        )
            .prop_map(|(a, b, c, d, e, f, props)| AsyncConfig {
                packet_in: a,
                port_status: b,
                flow_removed: c,
                role_status: d,
                table_status: e,
                requestforward: f,
                other: props.into_iter().filter(|p| p.ty >= 12).collect(),
            })
            .boxed()
    } else {
        any::<[u32; 6]>()
            .prop_map(|m| {
                let both = |p, s| AsyncMasks {
                    primary: Some(p),
                    secondary: Some(s),
                };
                AsyncConfig {
                    packet_in: both(m[0], m[1]),
                    port_status: both(m[2], m[3]),
                    flow_removed: both(m[4], m[5]),
                    ..AsyncConfig::default()
                }
            })
            .boxed()
    }
}

/// Errors `v` spells one way and reads back as themselves.
fn arb_error(v: Version) -> BoxedStrategy<ErrorKind> {
    let known: Vec<OfpError> = OfpError::all()
        .filter(|e| {
            e.wire_exact(v)
                .and_then(|w| OfpError::from_wire_error(v, w))
                == Some(*e)
        })
        .collect();
    prop_oneof![
        proptest::sample::select(known).prop_map(ErrorKind::Known),
        (100..200u16, any::<u16>())
            .prop_map(|(ty, code)| ErrorKind::Unknown(WireError::Standard { ty, code })),
        (any::<u32>(), any::<u16>())
            .prop_filter("unknown vendor", |(e, _)| *e != NX_VENDOR_ID
                && *e != ONF_VENDOR_ID)
            .prop_map(
                |(experimenter, exp_type)| ErrorKind::Unknown(WireError::Experimenter {
                    experimenter,
                    exp_type
                })
            ),
    ]
    .boxed()
}

/// Experimenter messages the table knows but this pass keeps raw, with
/// bodies of lengths the table allows.
fn arb_experimenter() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just((18u32, 0usize)),
        (0..4usize).prop_map(|k| (13u32, 32 + 8 * k)),
    ]
    .prop_flat_map(|(exp_type, len)| {
        proptest::collection::vec(any::<u8>(), len).prop_map(move |data| {
            Message::Experimenter(Experimenter {
                experimenter: NX_VENDOR_ID,
                exp_type,
                data,
            })
        })
    })
}

fn arb_tlv_map() -> impl Strategy<Value = TlvMap> {
    (any::<u16>(), any::<u8>(), 0..=31u8, 0..64u16).prop_map(
        |(option_class, option_type, len, index)| TlvMap {
            option_class,
            option_type,
            option_len: 4 * len,
            index,
        },
    )
}

/// CT flushes as Open vSwitch encodes them: what it leaves out of the
/// message (zero ports, the ICMP fields of other protocols, addresses of
/// the other family than the first) decodes as absent, so is absent here.
fn arb_ct_flush() -> impl Strategy<Value = CtFlush> {
    let tuple = |v6: bool, icmp: bool| {
        (
            any::<[Option<[u8; 16]>; 2]>(),
            any::<[u16; 3]>(),
            any::<[u8; 2]>(),
        )
            .prop_map(move |(addrs, n, b)| {
                let addr = |a: Option<[u8; 16]>| {
                    a.map(|a| {
                        if v6 {
                            let mut a = a;
                            a[0] |= 0x20;
                            std::net::Ipv6Addr::from(a)
                        } else {
                            std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3] | 1).to_ipv6_mapped()
                        }
                    })
                };
                let mut t = CtTuple {
                    src: addr(addrs[0]),
                    dst: addr(addrs[1]),
                    ..CtTuple::default()
                };
                if icmp {
                    (t.icmp_id, t.icmp_type, t.icmp_code) = (n[0], b[0], b[1]);
                } else {
                    (t.src_port, t.dst_port) = (n[1], n[2]);
                }
                t
            })
    };
    (
        any::<bool>(),
        prop_oneof![Just(0u8), Just(1), Just(6), Just(17), Just(58)],
        proptest::option::of(any::<u16>()),
        any::<(u32, u32)>(),
        any::<(u128, u128)>(),
    )
        .prop_flat_map(move |(v6, ip_proto, zone, mark, labels)| {
            let icmp = ip_proto == 1 || ip_proto == 58;
            // A zero mask says nothing, value included.
            let mark = if mark.1 == 0 { (0, 0) } else { mark };
            let labels = if labels.1 == 0 { (0, 0) } else { labels };
            (tuple(v6, icmp), tuple(v6, icmp)).prop_map(move |(orig, reply)| CtFlush {
                zone,
                ip_proto,
                orig,
                reply,
                mark,
                labels,
            })
        })
}

/// Messages this pass leaves raw, with valid body lengths.
fn arb_unparsed(v: Version) -> BoxedStrategy<Message> {
    let raws: Vec<(RawMsg, usize, usize)> = match v {
        Version::Of10 => vec![
            (RawMsg::Of10FlowMod, 64, 8),
            (RawMsg::Of10FlowStatsRequest, 44, 0),
        ],
        Version::Of13 => vec![
            (RawMsg::Of13MeterMod, 8, 8),
            (RawMsg::Of11TableMod, 8, 0),
            (RawMsg::MeterStatsRequest, 8, 0),
        ],
        _ => vec![
            (RawMsg::Of14TableMod, 8, 8),
            (RawMsg::TableFeaturesRequest, 0, 8),
            (RawMsg::QueueDescRequest, 8, 0),
        ],
    };
    (proptest::sample::select(raws), 0..3usize, any::<u16>())
        .prop_flat_map(|((raw, min, extra), k, flags)| {
            let multipart = matches!(raw.info().form, Form::Stat(..) | Form::VendorStat(..));
            proptest::collection::vec(any::<u8>(), min + extra * k).prop_map(move |body| {
                Message::Unparsed(Unparsed {
                    raw,
                    flags: if multipart { flags } else { 0 },
                    body,
                })
            })
        })
        .boxed()
}

/// Packet-in metadata a packet-in can carry: in_port, and unless `port_only`
/// some registers, `metadata` and `tun_id`, exact or masked.
fn arb_pin_metadata(port_only: bool, port16: bool) -> BoxedStrategy<Match> {
    let port = if port16 {
        any::<u16>().prop_map(port_from_u16).boxed()
    } else {
        prop_oneof![
            0..0xff00u32,
            0xffff_ff00..=u32::MAX,
            any::<u16>().prop_map(port_from_u16)
        ]
        .boxed()
    };
    let masked32 = (any::<u32>(), proptest::option::of(any::<u32>()));
    let masked64 = if port_only {
        Just(None).boxed()
    } else {
        proptest::option::of((any::<u64>(), proptest::option::of(any::<u64>()))).boxed()
    };
    let extra = if port_only { 0..1usize } else { 0..4usize };
    (
        port,
        proptest::collection::vec((0..16usize, masked32), extra),
        masked64.clone(),
        masked64,
    )
        .prop_map(|(port, regs, md, tun)| {
            let mut m = Match::new();
            m.set_in_port(port).expect("in_port");
            for (n, (v, mask)) in regs {
                m.set_reg(n, v, mask).expect("reg");
            }
            if let Some((v, mask)) = md {
                m.set_metadata(v, mask).expect("metadata");
            }
            if let Some((v, mask)) = tun {
                m.set_tun_id(v, mask).expect("tun_id");
            }
            m
        })
        .boxed()
}

/// A packet-in in any of the forms `v` has, with only what that form
/// carries.
fn arb_packet_in(v: Version) -> BoxedStrategy<Message> {
    let of10 = v == Version::Of10;
    let std_or_nxt = (
        prop_oneof![Just(PacketInFormat::Standard), Just(PacketInFormat::Nxt)],
        any::<u8>(),
        any::<u8>(),
        any::<u64>(),
        any::<u32>(),
        arb_bytes(80),
        any::<u16>(),
        any::<bool>(),
    )
        .prop_flat_map(
            move |(format, reason, table_id, cookie, buffer_id, data, total_len, _)| {
                let plain10 = of10 && format == PacketInFormat::Standard;
                let nxm = format == PacketInFormat::Nxt;
                arb_pin_metadata(plain10, plain10 || nxm).prop_map(move |metadata| {
                    Message::PacketIn(PacketIn {
                        format,
                        reason,
                        table_id: if plain10 { 0 } else { table_id },
                        cookie: if plain10 { u64::MAX } else { cookie },
                        buffer_id,
                        metadata,
                        data: data.clone(),
                        total_len: u32::from(total_len),
                        ..PacketIn::default()
                    })
                })
            },
        );
    let nxt2 = arb_packet_in2().prop_map(Message::PacketIn);
    prop_oneof![std_or_nxt, nxt2].boxed()
}

/// The body of an NXT_PACKET_IN2 or NXT_RESUME (the continuation is
/// opaque bytes to the message codec).
fn arb_packet_in2() -> BoxedStrategy<PacketIn> {
    (
        (any::<u8>(), any::<u8>(), any::<u64>(), any::<u32>()),
        proptest::collection::vec(any::<u8>(), 1..80),
        any::<u32>(),
        arb_bytes(20),
        arb_bytes(40),
        arb_pin_metadata(false, false),
    )
        .prop_map(
            |(
                (reason, table_id, cookie, buffer_id),
                data,
                more,
                userdata,
                continuation,
                metadata,
            )| {
                let len = data.len() as u32;
                PacketIn {
                    format: PacketInFormat::Nxt2,
                    reason,
                    table_id,
                    cookie,
                    buffer_id,
                    metadata,
                    total_len: len + more % 100_000,
                    data,
                    userdata,
                    continuation,
                }
            },
        )
        .boxed()
}

/// Any message `v` can carry exactly.
fn arb_message(v: Version) -> BoxedStrategy<Message> {
    use Version::*;
    let of10 = v == Of10;
    // A malformed tail: under 4 bytes, or a header claiming under 4.
    let tail = prop_oneof![
        Just(None),
        proptest::collection::vec(any::<u8>(), 1..4).prop_map(Some),
        (any::<u16>(), 0..4u16, arb_bytes(6)).prop_map(|(ty, len, rest)| {
            Some([&ty.to_be_bytes()[..], &len.to_be_bytes(), &rest].concat())
        }),
    ];
    let hello = (
        proptest::collection::vec(
            prop_oneof![
                proptest::collection::vec(any::<u32>(), 1..3).prop_map(HelloElement::VersionBitmap),
                (2..100u16, arb_bytes(12))
                    .prop_map(|(ty, data)| HelloElement::Unknown { ty, data }),
            ],
            0..3,
        ),
        tail,
    )
        .prop_map(|(mut elements, tail)| {
            elements.extend(tail.map(HelloElement::Malformed));
            Message::Hello(Hello { elements })
        });
    let config = (0..4u8, any::<bool>(), any::<u16>()).prop_map(move |(f, ttl, miss_send_len)| {
        SwitchConfig {
            frag: [
                FragHandling::Normal,
                FragHandling::Drop,
                FragHandling::Reassemble,
                FragHandling::NxMatch,
            ][usize::from(f)],
            invalid_ttl_to_controller: ttl && of10,
            miss_send_len,
        }
    });
    let features = (
        (
            any::<u64>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
            any::<u32>(),
            any::<u32>(),
        ),
        proptest::collection::vec(arb_port(v), 0..3),
    )
        .prop_map(
            move |((dpid, n_buffers, n_tables, aux, caps, actions), ports)| {
                Message::FeaturesReply(SwitchFeatures {
                    datapath_id: dpid,
                    n_buffers,
                    n_tables,
                    auxiliary_id: if of10 { 0 } else { aux },
                    capabilities: Capabilities(caps & Capabilities::valid(v)),
                    actions: if of10 { actions } else { 0 },
                    ports: if of10 { ports } else { vec![] },
                })
            },
        );
    let role = (0..4u32, proptest::option::of(0..u64::MAX)).prop_map(move |(r, g)| {
        let roles = [Role::NoChange, Role::Equal, Role::Primary, Role::Secondary];
        let role = if of10 {
            roles[1 + (r as usize % 3)]
        } else {
            roles[r as usize]
        };
        RoleMsg {
            role,
            generation_id: if of10 { None } else { g },
        }
    });
    let port_mod = (
        arb_port_no(v),
        any::<[u8; 6]>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        arb_props(v, 0),
    )
        .prop_map(move |(port_no, hw_addr, config, mask, adv, props)| {
            let mask = mask & PortConfig::valid(v);
            Message::PortMod(PortMod {
                port_no,
                hw_addr,
                config: PortConfig(config & mask),
                mask: PortConfig(mask),
                advertise: PortFeatures(adv & PortFeatures::valid(v)),
                props,
            })
        });
    let port_status = (0..3u8, arb_port(v)).prop_map(|(r, desc)| {
        let reason = [PortReason::Add, PortReason::Delete, PortReason::Modify][usize::from(r)];
        Message::PortStatus(PortStatus { reason, desc })
    });

    let mut requests: Vec<BoxedStrategy<MpRequest>> = vec![
        Just(MpRequest::Desc).boxed(),
        Just(MpRequest::TableStats).boxed(),
        Just(MpRequest::GroupFeatures).boxed(),
        arb_port_no(v)
            .prop_map(|port_no| MpRequest::PortStats { port_no })
            .boxed(),
        (arb_port_no(v), any::<u32>())
            .prop_filter("1.0 reads OFPP_ALL as ANY", move |(p, _)| {
                !of10 || *p != PortNo::ALL
            })
            .prop_map(|(port_no, queue_id)| MpRequest::QueueStats { port_no, queue_id })
            .boxed(),
    ];
    if v == Of15 {
        requests.push(
            arb_port_no(v)
                .prop_map(|port_no| MpRequest::PortDesc { port_no })
                .boxed(),
        );
    } else {
        requests.push(
            Just(MpRequest::PortDesc {
                port_no: PortNo::ANY,
            })
            .boxed(),
        );
    }
    if !of10 {
        requests.push(Just(MpRequest::MeterFeatures).boxed());
    }
    let request = (any::<bool>(), proptest::strategy::Union::new(requests))
        .prop_map(|(more, body)| Message::MultipartRequest(MultipartRequest { more, body }));

    let desc = (
        arb_name(255),
        arb_name(255),
        arb_name(255),
        arb_name(31),
        arb_name(255),
    )
        .prop_map(|(a, b, c, d, e)| {
            MpReply::Desc(SwitchDesc {
                mfr_desc: a,
                hw_desc: b,
                sw_desc: c,
                serial_num: d,
                dp_desc: e,
            })
        });
    let table = (
        any::<u8>(),
        arb_name(31),
        any::<[u32; 3]>(),
        any::<[u64; 2]>(),
    )
        .prop_map(move |(id, name, n, c)| TableStats {
            table_id: id,
            name: if of10 { name } else { String::new() },
            wildcards: if of10 { n[0] } else { 0 },
            max_entries: if of10 { n[1] } else { 0 },
            active_count: n[2],
            lookup_count: c[0],
            matched_count: c[1],
        });
    let queue = (
        arb_port_no(v),
        any::<u32>(),
        any::<[u64; 3]>(),
        arb_duration(v),
        arb_props(v, u16::MAX),
    )
        .prop_map(|(port_no, queue_id, c, duration, props)| QueueStats {
            port_no,
            queue_id,
            tx_bytes: c[0],
            tx_packets: c[1],
            tx_errors: c[2],
            duration,
            props,
        });
    let group = (
        any::<u32>(),
        any::<u32>(),
        any::<[u32; 4]>(),
        any::<[u32; 4]>(),
    )
        .prop_map(|(types, capabilities, max_groups, actions)| {
            MpReply::GroupFeatures(GroupFeatures {
                types,
                capabilities,
                max_groups,
                actions,
            })
        });
    let mut replies: Vec<BoxedStrategy<MpReply>> = vec![
        desc.boxed(),
        proptest::collection::vec(arb_port(v), 0..3)
            .prop_map(MpReply::PortDesc)
            .boxed(),
        proptest::collection::vec(arb_port_stats(v), 0..3)
            .prop_map(MpReply::PortStats)
            .boxed(),
        proptest::collection::vec(table, 0..3)
            .prop_map(MpReply::TableStats)
            .boxed(),
        proptest::collection::vec(queue, 0..3)
            .prop_map(MpReply::QueueStats)
            .boxed(),
        group.boxed(),
    ];
    if !of10 {
        let meter = (any::<[u32; 3]>(), any::<[u8; 2]>()).prop_map(|(n, b)| {
            MpReply::MeterFeatures(MeterFeatures {
                max_meter: n[0],
                band_types: n[1],
                capabilities: n[2],
                max_bands: b[0],
                max_color: b[1],
            })
        });
        replies.push(meter.boxed());
    }
    let reply = (any::<bool>(), proptest::strategy::Union::new(replies))
        .prop_map(|(more, body)| Message::MultipartReply(MultipartReply { more, body }));

    let mut all: Vec<BoxedStrategy<Message>> = vec![
        hello.boxed(),
        (arb_error(v), arb_bytes(64))
            .prop_map(|(error, data)| Message::Error(ErrorMsg { error, data }))
            .boxed(),
        arb_bytes(32).prop_map(Message::EchoRequest).boxed(),
        arb_bytes(32).prop_map(Message::EchoReply).boxed(),
        arb_experimenter().boxed(),
        Just(Message::FeaturesRequest).boxed(),
        features.boxed(),
        Just(Message::GetConfigRequest).boxed(),
        config.clone().prop_map(Message::GetConfigReply).boxed(),
        config.prop_map(Message::SetConfig).boxed(),
        port_status.boxed(),
        port_mod.boxed(),
        Just(Message::BarrierRequest).boxed(),
        Just(Message::BarrierReply).boxed(),
        role.clone().prop_map(Message::RoleRequest).boxed(),
        role.prop_map(Message::RoleReply).boxed(),
        arb_set_async(v).prop_map(Message::SetAsync).boxed(),
        any::<u32>()
            .prop_map(|x| Message::SetPacketInFormat(PacketInFormat::from_wire(x)))
            .boxed(),
        any::<bool>().prop_map(Message::FlowModTableId).boxed(),
        any::<u16>().prop_map(Message::SetControllerId).boxed(),
        arb_packet_in(v),
        arb_packet_in2().prop_map(Message::Resume).boxed(),
        request.boxed(),
        reply.boxed(),
        arb_unparsed(v),
        (any::<u8>(), proptest::collection::vec(arb_tlv_map(), 0..4))
            .prop_map(|(c, mappings)| {
                let command = [
                    TlvTableCommand::Add,
                    TlvTableCommand::Delete,
                    TlvTableCommand::Clear,
                ][usize::from(c % 3)];
                Message::TlvTableMod(TlvTableMod { command, mappings })
            })
            .boxed(),
        Just(Message::TlvTableRequest).boxed(),
        (any::<u32>(), proptest::collection::vec(arb_tlv_map(), 0..4))
            .prop_map(|(max_option_space, mappings)| {
                Message::TlvTableReply(TlvTableReply {
                    max_option_space,
                    max_fields: 64,
                    mappings,
                })
            })
            .boxed(),
        any::<u16>().prop_map(Message::CtFlushZone).boxed(),
        arb_ct_flush().prop_map(Message::CtFlush).boxed(),
    ];
    if !of10 {
        all.push(
            (
                0..4u32,
                any::<u8>(),
                proptest::option::of(0..u64::MAX),
                arb_props(v, 0),
            )
                .prop_map(|(r, reason, generation_id, props)| {
                    let role =
                        [Role::NoChange, Role::Equal, Role::Primary, Role::Secondary][r as usize];
                    Message::RoleStatus(RoleStatus {
                        role,
                        reason: RoleStatusReason::from_wire(reason),
                        generation_id,
                        props,
                    })
                })
                .boxed(),
        );
    }
    if of10 {
        all.push(
            any::<u32>()
                .prop_map(|x| Message::SetFlowFormat(FlowFormat::from_wire(x)))
                .boxed(),
        );
    } else {
        use oxvs_ofproto::ofp::bundle_msg::{BundleAdd, BundleCtrl, BundleCtrlType};
        all.push(Just(Message::GetAsyncRequest).boxed());
        all.push(arb_async(v).prop_map(Message::GetAsyncReply).boxed());
        let props = (0..3usize).prop_flat_map(|k| proptest::collection::vec(any::<u8>(), 8 * k));
        all.push(
            (any::<u32>(), any::<u16>(), any::<u16>(), props)
                .prop_map(|(bundle_id, t, flags, props)| {
                    Message::BundleControl(BundleCtrl {
                        bundle_id,
                        ctrl_type: BundleCtrlType::from_wire(t),
                        flags,
                        props,
                    })
                })
                .boxed(),
        );
        all.push(
            (any::<u32>(), any::<u16>(), arb_bytes(40))
                .prop_map(|(bundle_id, flags, data)| {
                    Message::BundleAdd(BundleAdd {
                        bundle_id,
                        flags,
                        data,
                    })
                })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(all).boxed()
}

fn arb_versioned_message() -> impl Strategy<Value = (Version, Message)> {
    proptest::sample::select(ALL.to_vec())
        .prop_flat_map(|v| arb_message(v).prop_map(move |m| (v, m)))
}

/// Valid encodings with some bytes changed, cut or extended.
fn arb_mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        arb_versioned_message(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        any::<u8>(),
    )
        .prop_map(|((v, m), flips, cut)| {
            let mut b = encode(&m, v, 1).unwrap_or_default();
            for (i, x) in flips {
                if !b.is_empty() {
                    let n = b.len();
                    b[i % n] ^= x;
                }
            }
            match cut % 4 {
                0 => {
                    let n = usize::from(cut) % (b.len() + 1);
                    b.truncate(n);
                }
                1 => b.push(cut),
                _ => {}
            }
            b
        })
}

/// A header with a right length and a random, mostly plausible, rest.
fn arb_framed() -> impl Strategy<Value = Vec<u8>> {
    (
        prop_oneof![Just(1u8), Just(4), Just(5), Just(6), any::<u8>()],
        0..40u8,
        arb_bytes(120),
    )
        .prop_map(|(v, t, body)| raw(v, t, &body))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn decode_inverts_encode((v, m) in arb_versioned_message(), xid in any::<u32>()) {
        let b = encode(&m, v, xid).map_err(|e| TestCaseError::fail(format!("{m:?} in {v:?}: {e}")))?;
        let (h, back) = decode(&b).map_err(|e| TestCaseError::fail(format!("{m:?} in {v:?}: {e}: {}", hex(&b))))?;
        prop_assert_eq!((h.version, h.xid, usize::from(h.length)), (v.wire(), xid, b.len()));
        prop_assert_eq!(back, m);
    }

    #[test]
    fn decode_never_panics_on_random_bytes(b in arb_bytes(300)) {
        let _ = decode(&b);
    }

    /// A continuation is the controller's to send back, whatever it holds:
    /// decoding never panics, and what decodes re-encodes to the same.
    #[test]
    fn continuations_decode_without_panics(
        v in proptest::sample::select(Version::ALL.to_vec()),
        props in proptest::collection::vec((0x8000u16..0x800a, arb_bytes(24)), 0..5),
        tail in arb_bytes(12),
    ) {
        let mut b = Vec::new();
        for (ty, data) in &props {
            let len = 4 + data.len() as u16;
            b.extend(ty.to_be_bytes());
            b.extend(len.to_be_bytes());
            b.extend(data);
            b.resize(b.len().next_multiple_of(8), 0);
        }
        b.extend(&tail);
        if let Ok(c) = Continuation::decode(v, &b) {
            let again = c.encode(v).map_err(|e| TestCaseError::fail(format!("{c:?}: {e}")))?;
            prop_assert_eq!(Continuation::decode(v, &again), Ok(c));
        }
    }

    #[test]
    fn decode_never_panics_on_framed_bytes(b in arb_framed()) {
        check_decoded(&b)?;
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(b in arb_mutated()) {
        check_decoded(&b)?;
    }
}

/// Whatever decodes re-encodes, and decodes the same from then on. (One
/// round may normalise: a name that is not UTF-8 comes out with U+FFFD.)
fn check_decoded(b: &[u8]) -> Result<(), TestCaseError> {
    let Ok((h, m)) = decode(b) else { return Ok(()) };
    let Some(v) = Version::from_wire(h.version) else {
        return Ok(());
    };
    let round = |m: &Message| -> Result<Message, TestCaseError> {
        let again = encode(m, v, h.xid).map_err(|e| TestCaseError::fail(format!("{m:?}: {e}")))?;
        decode(&again)
            .map(|d| d.1)
            .map_err(|e| TestCaseError::fail(format!("{m:?}: {e}: {}", hex(&again))))
    };
    let m1 = round(&m)?;
    if names_are_utf8(b) {
        prop_assert_eq!(&m1, &m, "{}", hex(b));
    }
    prop_assert_eq!(round(&m1)?, m1, "{}", hex(b));
    Ok(())
}

/// Whether decoding `b` replaced no invalid UTF-8 (no U+FFFD came out that
/// was not in the bytes).
fn names_are_utf8(b: &[u8]) -> bool {
    let replacement = "\u{fffd}".as_bytes();
    let had = b.windows(3).any(|w| w == replacement);
    let Ok((_, m)) = decode(b) else { return true };
    had || !format!("{m:?}").contains('\u{fffd}')
}

#[test]
fn hello_versions_match_ovs_ofctl() {
    let hellos = [
        "01000008 00000000",
        "06000008 00000000",
        // A version newer than any we know.
        "0f000008 00000000",
        // Bitmap 1.0, 1.3, 1.5.
        "06000010 00000000 00010008 0000004a",
        // An empty bitmap is ignored.
        "01000010 00000000 00010008 00000000",
        // Bit 0 (no such version) is ignored.
        "01000010 00000000 00010008 000000f1",
        // A bitmap, then an element shorter than its header.
        "04000018 00000000 00010008 00000010 00090002 00000000",
        // An element cut off.
        "0500000d 00000000 00010008 00",
        // An unknown element, then a bitmap.
        "06000018 00000000 00020008 aaaaaaaa 00010008 00000012",
        // A bitmap of two words: only the first counts.
        "06000018 00000000 0001000c 00000022 ffffffff 00000000",
    ];
    for h in hellos {
        let b = unhex(h);
        let (hdr, m) = dec(&b);
        let Message::Hello(hello) = m else {
            panic!("{h}: not a hello")
        };
        let ours = hello.peer_versions(hdr.version);
        let out = run_ofctl(&["ofp-print", &hex(&b)]);
        let out = String::from_utf8_lossy(&out.stdout);
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix(" version bitmap: "))
            .unwrap_or_else(|| panic!("{h}: {out}"));
        let theirs = line.split(", ").fold(0u32, |m, v| {
            m | 1 << u32::from_str_radix(v.trim_start_matches("0x"), 16).expect("version")
        });
        assert_eq!(ours, theirs, "{h}: {line}");
        // The bytes survive a round trip.
        if let Some(v) = Version::from_wire(hdr.version) {
            assert_eq!(enc(&Message::Hello(hello), v, 0), b, "{h}");
        }
    }
}
