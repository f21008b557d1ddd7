//! Groups and meters end to end: the real `ovs-ofctl` (apt
//! `openvswitch-common`) against a real bridge behind a unix socket, in
//! every OpenFlow version that has them; `ovs-ofctl ofp-print` of our
//! bytes; and xlate of ALL, INDIRECT, FF and SELECT groups, the select
//! group's dp_hash recirculation driven through a real datapath.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use oxvs_datapath::dp::DatapathConfig;
use oxvs_datapath::Datapath;
use oxvs_ofproto::bridge::{Bridge, BridgePort, VlanMode, OFPP_LOCAL};
use oxvs_ofproto::bridge_view::{BridgeSessions, BridgeView, PortSource};
use oxvs_ofproto::ofp::Version;
use oxvs_ofproto::server::{serve, Listen};

struct Links;
impl PortSource for Links {
    fn link(&self, p: &BridgePort) -> ([u8; 6], bool) {
        ([0x02, 0, 0, 0, 0, p.ofp_port as u8], true)
    }
    fn counters(&self, _: u32) -> Option<oxvs_datapath::port::PortStats> {
        None
    }
    fn dp_now_ms(&self) -> u64 {
        0
    }
}

/// A bridge with ports 1-3 and LOCAL, served on a fresh unix socket.
struct Switch {
    sock: PathBuf,
    bridge: Arc<Bridge>,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Switch {
    let bridge = Bridge::new("br0");
    for (p, name) in [(1, "p1"), (2, "p2"), (3, "p3"), (OFPP_LOCAL, "br0")] {
        bridge
            .add_port(BridgePort {
                ofp_port: p,
                dp_port: p & 0xff,
                name: name.into(),
                vlan: VlanMode::Trunk(None),
            })
            .expect("port");
    }
    let dp = Arc::new(Datapath::new(DatapathConfig::default()));
    let view = BridgeView::new(bridge.clone(), dp, 1, Arc::new(Links));
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("br0.mgmt");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listen = Listen::Unix(sock.clone());
    rt.spawn(async move {
        let sessions = BridgeSessions {
            view,
            versions: Version::ALL.to_vec(),
            probe_ms: None,
        };
        if let Err(e) = serve(listen, Arc::new(sessions)).await {
            panic!("serve: {e}");
        }
    });
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Switch {
        sock,
        bridge,
        _dir: dir,
        _rt: rt,
    }
}

/// Runs `ovs-ofctl -O version CMD unix:SOCK ARGS...`; Ok(stdout) or
/// Err(stderr).
fn try_ofctl(sw: &Switch, version: &str, args: &[&str]) -> Result<String, String> {
    let opts = args.iter().take_while(|a| a.starts_with("--")).count();
    let out = Command::new("ovs-ofctl")
        .arg("-O")
        .arg(version)
        .arg("--timeout=5")
        .args(&args[..opts + 1])
        .arg(format!("unix:{}", sw.sock.display()))
        .args(&args[opts + 1..])
        .output()
        .expect("ovs-ofctl must be installed (apt openvswitch-common)");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    if out.status.success() {
        Ok(stdout + &stderr)
    } else {
        Err(stdout + &stderr)
    }
}

fn ofctl(sw: &Switch, version: &str, args: &[&str]) -> String {
    try_ofctl(sw, version, args)
        .unwrap_or_else(|e| panic!("ovs-ofctl -O {version} {args:?} failed:\n{e}"))
}

/// Group lines of `dump-groups`, without the header.
fn groups(sw: &Switch, v: &str) -> Vec<String> {
    let mut g: Vec<String> = ofctl(sw, v, &["dump-groups"])
        .lines()
        .filter(|l| l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .collect();
    g.sort();
    g
}

/// What an `ovs-ofctl` command that must fail printed.
fn refused(sw: &Switch, v: &str, args: &[&str]) -> String {
    match try_ofctl(sw, v, args) {
        Ok(out) => panic!("{v} {args:?} should fail, printed {out}"),
        Err(e) => e,
    }
}

/// What a command answered with an OpenFlow error printed (dump commands
/// print the error and still exit 0).
fn answered_error(sw: &Switch, v: &str, args: &[&str]) -> String {
    let out = try_ofctl(sw, v, args).unwrap_or_else(|e| e);
    assert!(out.contains("OFPT_ERROR"), "{v} {args:?}: {out}");
    out
}

const ALL_VERSIONS: [&str; 4] = ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"];

/// What `dump-groups` prints for a bucket's id: only 1.0 (NXT) and 1.5
/// have bucket ids.
fn bid(v: &str, id: u32) -> String {
    if v == "OpenFlow10" || v == "OpenFlow15" {
        format!("bucket_id:{id},")
    } else {
        String::new()
    }
}

#[test]
fn add_mod_dump_and_delete_groups_in_every_version() {
    for v in ALL_VERSIONS {
        let sw = start();
        ofctl(
            &sw,
            v,
            &[
                "add-group",
                "group_id=1,type=all,bucket=output:1,bucket=output:2",
            ],
        );
        ofctl(
            &sw,
            v,
            &[
                "add-group",
                "group_id=2,type=select,bucket=weight:3,actions=output:1,bucket=mod_dl_dst:02:00:00:00:00:09,output:3",
            ],
        );
        ofctl(
            &sw,
            v,
            &["add-group", "group_id=3,type=indirect,bucket=output:2"],
        );
        ofctl(
            &sw,
            v,
            &[
                "add-group",
                "group_id=4,type=ff,bucket=watch_port:1,output:1,bucket=watch_group:3,output:2",
            ],
        );
        let (b0, b1) = (bid(v, 0), bid(v, 1));
        // OpenFlow 1.3+ carries mod_dl_dst as a set_field.
        let set = if v == "OpenFlow10" {
            "mod_dl_dst:02:00:00:00:00:09"
        } else {
            "set_field:02:00:00:00:00:09->eth_dst"
        };
        assert_eq!(
            groups(&sw, v),
            vec![
                format!("group_id=1,type=all,bucket={b0}actions=output:1,bucket={b1}actions=output:2"),
                format!("group_id=2,type=select,bucket={b0}weight:3,actions=output:1,bucket={b1}actions={set},output:3"),
                format!("group_id=3,type=indirect,bucket={b0}actions=output:2"),
                format!("group_id=4,type=ff,bucket={b0}watch_port:1,actions=output:1,bucket={b1}watch_group:3,actions=output:2"),
            ],
            "{v}"
        );
        // One group, modified.
        ofctl(
            &sw,
            v,
            &["mod-group", "group_id=1,type=all,bucket=output:3"],
        );
        let g = groups(&sw, v);
        assert_eq!(
            g[0],
            format!("group_id=1,type=all,bucket={b0}actions=output:3"),
            "{v}"
        );
        if v == "OpenFlow15" || v == "OpenFlow10" {
            // dump-groups GROUP asks for one group (1.0 via NXST, 1.5).
            let one = ofctl(&sw, v, &["dump-groups", "3"]);
            assert!(one.contains("group_id=3,type=indirect"), "{v}: {one}");
            assert!(!one.contains("group_id=1"), "{v}: {one}");
        }
        // Errors, as Open vSwitch reports them.
        let e = refused(
            &sw,
            v,
            &["add-group", "group_id=1,type=all,bucket=output:1"],
        );
        assert!(e.contains("OFPGMFC_GROUP_EXISTS"), "{v}: {e}");
        let e = refused(
            &sw,
            v,
            &["mod-group", "group_id=9,type=all,bucket=output:1"],
        );
        assert!(e.contains("OFPGMFC_UNKNOWN_GROUP"), "{v}: {e}");
        // 5 -> 6 -> 5 would loop.
        ofctl(&sw, v, &["add-group", "group_id=5,type=all,bucket=group:6"]);
        let e = refused(
            &sw,
            v,
            &["add-group", "group_id=6,type=indirect,bucket=group:5"],
        );
        assert!(e.contains("OFPGMFC_LOOP"), "{v}: {e}");
        let e = refused(&sw, v, &["mod-group", "group_id=5,type=all,bucket=group:5"]);
        assert!(e.contains("OFPGMFC_LOOP"), "{v}: {e}");
        // Deleting one group, then all.
        ofctl(&sw, v, &["del-groups", "group_id=2"]);
        let g = groups(&sw, v);
        assert_eq!(g.len(), 4, "{v}: {g:?}");
        assert!(
            g.iter().all(|l| !l.starts_with("group_id=2,")),
            "{v}: {g:?}"
        );
        ofctl(&sw, v, &["del-groups"]);
        assert!(groups(&sw, v).is_empty(), "{v}");
        assert!(sw.bridge.group_state().groups().is_empty());
    }
}

#[test]
fn flows_use_groups_and_go_with_them() {
    // OpenFlow 1.0 has no group action (ovs-ofctl refuses it there).
    for v in ["OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        let sw = start();
        let e = refused(&sw, v, &["add-flow", "in_port=1,actions=group:1"]);
        assert!(e.contains("OFPBAC_BAD_OUT_GROUP"), "{v}: {e}");
        ofctl(
            &sw,
            v,
            &[
                "add-group",
                "group_id=1,type=all,bucket=output:2,bucket=output:3",
            ],
        );
        ofctl(
            &sw,
            v,
            &["add-group", "group_id=2,type=indirect,bucket=output:3"],
        );
        ofctl(&sw, v, &["add-flow", "in_port=1,actions=group:1"]);
        ofctl(
            &sw,
            v,
            &["add-flow", "in_port=2,actions=write_actions(group:1)"],
        );
        ofctl(&sw, v, &["add-flow", "in_port=3,actions=group:2"]);
        if v != "OpenFlow15" {
            let f = ofctl(&sw, v, &["--no-stats", "--sort", "dump-flows"]);
            assert!(f.contains("in_port=1 actions=group:1"), "{v}: {f}");
            assert!(
                f.contains("in_port=2 actions=write_actions(group:1)"),
                "{v}: {f}"
            );
            let f = ofctl(&sw, v, &["--no-stats", "dump-flows", "out_group=1"]);
            assert_eq!(
                f.lines().filter(|l| l.starts_with(' ')).count(),
                2,
                "{v}: {f}"
            );
        }
        let stats = ofctl(&sw, v, &["dump-group-stats"]);
        assert!(
            stats.contains("group_id=1,duration=") && stats.contains("ref_count=2,packet_count=0,byte_count=0,bucket0:packet_count=0,byte_count=0,bucket1:packet_count=0,byte_count=0"),
            "{v}: {stats}"
        );
        let one = ofctl(&sw, v, &["dump-group-stats", "group_id=2"]);
        assert!(
            one.contains("group_id=2,") && one.contains("ref_count=1,"),
            "{v}: {one}"
        );
        assert!(!one.contains("group_id=1,"), "{v}: {one}");
        // Deleting a group deletes the flows that use it.
        ofctl(&sw, v, &["del-groups", "group_id=1"]);
        let left: Vec<String> = sw
            .bridge
            .flow_stats(&all_flows())
            .expect("flow stats")
            .iter()
            .map(|f| format!("{:?}", f.actions))
            .collect();
        assert_eq!(left.len(), 2, "{v}: {left:?}");
        assert!(
            left.iter().all(|a| !a.contains("Group(1)")),
            "{v}: {left:?}"
        );
    }
}

fn all_flows() -> oxvs_ofproto::ofp::flow_msg::FlowStatsRequest {
    oxvs_ofproto::ofp::flow_msg::FlowStatsRequest {
        table_id: 0xff,
        out_port: u32::MAX,
        out_group: u32::MAX,
        cookie: 0,
        cookie_mask: 0,
        matched: oxvs_ofproto::ofp::matching::Match::new(),
    }
}

#[test]
fn select_group_selection_methods_need_of15_or_nicira() {
    for v in ["OpenFlow10", "OpenFlow15"] {
        let sw = start();
        ofctl(
            &sw,
            v,
            &[
                "add-group",
                "group_id=7,type=select,selection_method=hash,fields(ip_src,tcp_dst),bucket=output:1,bucket=output:2",
            ],
        );
        ofctl(
            &sw,
            v,
            &[
                "add-group",
                "group_id=8,type=select,selection_method=dp_hash,selection_method_param=7,bucket=output:1",
            ],
        );
        let g = groups(&sw, v);
        assert_eq!(
            g,
            vec![
                "group_id=7,type=select,selection_method=hash,fields(ip_src,tcp_dst),bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=output:2",
                "group_id=8,type=select,selection_method=dp_hash,selection_method_param=7,bucket=bucket_id:0,actions=output:1",
            ],
            "{v}"
        );
        // OpenFlow 1.5 bucket commands.
        if v == "OpenFlow15" {
            ofctl(
                &sw,
                v,
                &["insert-buckets", "group_id=8,command_bucket_id=first,bucket=bucket_id:5,weight:2,actions=output:3"],
            );
            ofctl(
                &sw,
                v,
                &["remove-buckets", "group_id=7,command_bucket_id=0"],
            );
            let g = groups(&sw, v);
            assert_eq!(g[0], "group_id=7,type=select,selection_method=hash,fields(ip_src,tcp_dst),bucket=bucket_id:1,actions=output:2");
            assert_eq!(g[1], "group_id=8,type=select,selection_method=dp_hash,selection_method_param=7,bucket=bucket_id:5,weight:2,actions=output:3,bucket=bucket_id:0,actions=output:1");
            let e = refused(
                &sw,
                v,
                &["remove-buckets", "group_id=7,command_bucket_id=9"],
            );
            assert!(e.contains("OFPGMFC_UNKNOWN_BUCKET"), "{e}");
        }
    }
}

#[test]
fn group_features_report_what_groups_do() {
    for v in ALL_VERSIONS {
        let sw = start();
        let out = ofctl(&sw, v, &["dump-group-features"]);
        assert!(
            out.contains("Types:  0xf\n    Capabilities:  0xf"),
            "{v}: {out}"
        );
        for t in [
            "all group",
            "select group",
            "indirect group",
            "fast failover group",
        ] {
            assert!(out.contains(t), "{v}: {out}");
        }
        assert!(out.contains("max_groups=0xffffff00"), "{v}: {out}");
        if v == "OpenFlow10" {
            assert!(out.contains("actions: output set_vlan_vid"), "{v}: {out}");
        } else {
            assert!(
                out.contains("actions: output group set_field strip_vlan push_vlan dec_ttl"),
                "{v}: {out}"
            );
        }
    }
}

#[test]
fn meters_in_every_version_that_has_them() {
    for v in ["OpenFlow13", "OpenFlow14", "OpenFlow15"] {
        let sw = start();
        let f = ofctl(&sw, v, &["meter-features"]);
        assert!(
            f.contains("max_meter:262144 max_bands:8 max_color:0\nband_types: drop\ncapabilities: kbps pktps burst stats"),
            "{v}: {f}"
        );
        ofctl(
            &sw,
            v,
            &[
                "add-meter",
                "meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100",
            ],
        );
        // DSCP-remark bands are refused, as by Open vSwitch's userspace
        // datapath.
        let e = refused(
            &sw,
            v,
            &[
                "add-meter",
                "meter=2,pktps,bands=type=dscp_remark,rate=50,prec_level=1,type=drop,rate=100",
            ],
        );
        assert!(e.contains("OFPMMFC_BAD_BAND"), "{v}: {e}");
        ofctl(
            &sw,
            v,
            &["add-meter", "meter=2,pktps,bands=type=drop,rate=100"],
        );
        let d = ofctl(&sw, v, &["dump-meters"]);
        assert!(
            d.contains("meter=1 kbps burst stats bands=\ntype=drop rate=1000 burst_size=100\n"),
            "{v}: {d}"
        );
        assert!(
            d.contains("meter=2 pktps bands=\ntype=drop rate=100\n"),
            "{v}: {d}"
        );
        ofctl(
            &sw,
            v,
            &["mod-meter", "meter=1,pktps,bands=type=drop,rate=7"],
        );
        let d = ofctl(&sw, v, &["dump-meter", "meter=1"]);
        assert!(
            d.contains("meter=1 pktps bands=\ntype=drop rate=7\n"),
            "{v}: {d}"
        );
        assert!(!d.contains("meter=2"), "{v}: {d}");
        // A flow using meter 1.
        ofctl(&sw, v, &["add-flow", "in_port=1,actions=meter:1,output:2"]);
        let s = ofctl(&sw, v, &["meter-stats", "meter=1"]);
        assert!(
            s.contains("meter:1 flow_count:1 packet_in_count:0 byte_in_count:0 duration:")
                && s.contains("bands:\n0: packet_count:0 byte_count:0"),
            "{v}: {s}"
        );
        // Errors.
        let e = refused(
            &sw,
            v,
            &["add-meter", "meter=1,kbps,bands=type=drop,rate=1"],
        );
        assert!(e.contains("OFPMMFC_METER_EXISTS"), "{v}: {e}");
        let e = refused(
            &sw,
            v,
            &["mod-meter", "meter=9,kbps,bands=type=drop,rate=1"],
        );
        assert!(e.contains("OFPMMFC_UNKNOWN_METER"), "{v}: {e}");
        let e = answered_error(&sw, v, &["dump-meter", "meter=9"]);
        assert!(e.contains("OFPMMFC_UNKNOWN_METER"), "{v}: {e}");
        let e = refused(&sw, v, &["add-flow", "in_port=2,actions=meter:9,output:1"]);
        assert!(e.contains("OFPMMFC_INVALID_METER"), "{v}: {e}");
        // Deleting a meter deletes its flows.
        ofctl(&sw, v, &["del-meter", "meter=1"]);
        let d = ofctl(&sw, v, &["dump-meters"]);
        assert!(!d.contains("meter=1") && d.contains("meter=2"), "{v}: {d}");
        let left = sw.bridge.flow_stats(&all_flows()).expect("flow stats");
        assert!(
            left.iter()
                .all(|f| !format!("{:?}", f.actions).contains("Meter")),
            "{v}: {left:?}"
        );
        ofctl(&sw, v, &["del-meters"]);
        let d = ofctl(&sw, v, &["dump-meters"]);
        assert!(!d.contains("meter="), "{v}: {d}");
    }
}

// ---------------------------------------------------------------------------
// ovs-ofctl ofp-print of the bytes we write.

mod print {
    use super::*;
    use oxvs_ofproto::ofp::action::Action;
    use oxvs_ofproto::ofp::field::{Field, Value};
    use oxvs_ofproto::ofp::group_msg::*;
    use oxvs_ofproto::ofp::message::{encode, Message, Unparsed};

    fn print(u: Unparsed, v: Version) -> String {
        let bytes = encode(&Message::Unparsed(u), v, 1).expect("encode");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let out = Command::new("ovs-ofctl")
            .args(["ofp-print", &hex])
            .output()
            .expect("ovs-ofctl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn select(v: Version) -> GroupMod {
        let of15 = uses_of15_layout(v);
        let mut b1 = Bucket::new(GroupType::Select, vec![Action::output(1)]);
        b1.weight = 3;
        let b2 = Bucket::new(GroupType::Select, vec![Action::output(2)]);
        if of15 {
            b1.bucket_id = 7;
        }
        GroupMod {
            command: GroupCommand::Add,
            group_type: GroupType::Select,
            group_id: 5,
            command_bucket_id: BUCKET_ALL,
            buckets: vec![b1, b2],
            props: if of15 {
                GroupProps {
                    selection_method: "hash".into(),
                    selection_method_param: 42,
                    fields: vec![
                        (Field::Ipv4Src, Value::from(0xffff_ff00u32)),
                        (Field::TcpDst, Value::from(0xffffu16)),
                    ],
                }
            } else {
                GroupProps::default()
            },
        }
    }

    #[test]
    fn group_mods() {
        let out = print(
            encode_group_mod(Version::Of13, &select(Version::Of13)).expect("enc"),
            Version::Of13,
        );
        assert_eq!(out, "OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n ADD group_id=5,type=select,bucket=weight:3,actions=output:1,bucket=actions=output:2\n");
        let out = print(
            encode_group_mod(Version::Of15, &select(Version::Of15)).expect("enc"),
            Version::Of15,
        );
        assert_eq!(out, "OFPT_GROUP_MOD (OF1.5) (xid=0x1):\n ADD group_id=5,type=select,selection_method=hash,selection_method_param=42,fields(ip_src=255.255.255.0,tcp_dst),bucket=bucket_id:7,weight:3,actions=output:1,bucket=bucket_id:0,actions=output:2\n");
        let mut ff = GroupMod {
            command: GroupCommand::Modify,
            group_type: GroupType::FastFailover,
            group_id: 9,
            command_bucket_id: BUCKET_ALL,
            buckets: vec![Bucket::new(
                GroupType::FastFailover,
                vec![Action::output(3)],
            )],
            props: GroupProps::default(),
        };
        ff.buckets[0].watch_port = 3;
        ff.buckets[0].watch_group = 1;
        let out = print(
            encode_group_mod(Version::Of10, &ff).expect("enc"),
            Version::Of10,
        );
        assert_eq!(out, "NXT_GROUP_MOD (xid=0x1):\n MOD group_id=9,type=ff,bucket=bucket_id:0,watch_port:3,watch_group:1,actions=output:3\n");
        let del = GroupMod {
            command: GroupCommand::Delete,
            group_type: GroupType::All,
            group_id: OFPG_ALL,
            command_bucket_id: BUCKET_ALL,
            buckets: vec![],
            props: GroupProps::default(),
        };
        let out = print(
            encode_group_mod(Version::Of14, &del).expect("enc"),
            Version::Of14,
        );
        assert_eq!(
            out,
            "OFPT_GROUP_MOD (OF1.4) (xid=0x1):\n DEL group_id=4294967292,type=all\n"
        );
    }

    #[test]
    fn group_replies() {
        let gd = GroupDesc {
            group_type: GroupType::All,
            group_id: 1,
            buckets: vec![
                Bucket {
                    bucket_id: 0,
                    ..Bucket::new(GroupType::All, vec![Action::output(1)])
                },
                Bucket {
                    bucket_id: 1,
                    ..Bucket::new(GroupType::All, vec![Action::output(2)])
                },
            ],
            props: GroupProps::default(),
        };
        for (v, head, ids) in [
            (Version::Of10, "NXST_GROUP_DESC reply (xid=0x1):", true),
            (
                Version::Of13,
                "OFPST_GROUP_DESC reply (OF1.3) (xid=0x1):",
                false,
            ),
            (
                Version::Of15,
                "OFPST_GROUP_DESC reply (OF1.5) (xid=0x1):",
                true,
            ),
        ] {
            let body = encode_group_desc(v, &gd).expect("enc");
            let out = print(
                Unparsed {
                    raw: group_desc_reply_raw(v),
                    flags: 0,
                    body,
                },
                v,
            );
            let b = |i: u32| {
                if ids {
                    format!("bucket_id:{i},")
                } else {
                    String::new()
                }
            };
            assert_eq!(
                out,
                format!("{head}\n group_id=1,type=all,bucket={}actions=output:1,bucket={}actions=output:2\n", b(0), b(1)),
                "{v:?}"
            );
        }
        let gs = GroupStats {
            group_id: 4,
            ref_count: 2,
            packet_count: 10,
            byte_count: 600,
            duration_sec: 3,
            duration_nsec: 500_000_000,
            buckets: vec![
                BucketCounter {
                    packet_count: 4,
                    byte_count: 240,
                },
                BucketCounter {
                    packet_count: 6,
                    byte_count: 360,
                },
            ],
        };
        let body = encode_group_stats(&gs).expect("enc");
        let out = print(
            Unparsed {
                raw: group_stats_reply_raw(Version::Of13),
                flags: 0,
                body,
            },
            Version::Of13,
        );
        assert_eq!(out, "OFPST_GROUP reply (OF1.3) (xid=0x1):\n group_id=4,duration=3.500s,ref_count=2,packet_count=10,byte_count=600,bucket0:packet_count=4,byte_count=240,bucket1:packet_count=6,byte_count=360\n");
        let out = print(encode_group_stats_request(Version::Of10, 4), Version::Of10);
        assert_eq!(out, "NXST_GROUP request (xid=0x1): group_id=4\n");
        let out = print(
            encode_group_desc_request(Version::Of15, OFPG_ALL),
            Version::Of15,
        );
        assert_eq!(
            out,
            "OFPST_GROUP_DESC request (OF1.5) (xid=0x1): group_id=ALL\n"
        );
    }

    #[test]
    fn meters() {
        let mm = MeterMod {
            command: MeterCommand::Add,
            meter: MeterConfig {
                meter_id: 3,
                flags: meter_flags::KBPS | meter_flags::BURST | meter_flags::STATS,
                bands: vec![
                    MeterBand {
                        band_type: BandType::Drop,
                        rate: 1000,
                        burst_size: 100,
                    },
                    MeterBand {
                        band_type: BandType::DscpRemark { prec_level: 2 },
                        rate: 500,
                        burst_size: 50,
                    },
                ],
            },
        };
        let out = print(encode_meter_mod(&mm), Version::Of13);
        assert_eq!(out, "OFPT_METER_MOD (OF1.3) (xid=0x1): ADD meter=3 kbps burst stats bands=\ntype=drop rate=1000 burst_size=100\ntype=dscp_remark rate=500 burst_size=50 prec_level=2\n");
        let body = encode_meter_config(&mm.meter).expect("enc");
        let out = print(
            Unparsed {
                raw: oxvs_ofproto::ofp::message::RawMsg::MeterConfigReply,
                flags: 0,
                body,
            },
            Version::Of14,
        );
        assert_eq!(out, "OFPST_METER_CONFIG reply (OF1.4) (xid=0x1):\nmeter=3 kbps burst stats bands=\ntype=drop rate=1000 burst_size=100\ntype=dscp_remark rate=500 burst_size=50 prec_level=2\n");
        let ms = MeterStats {
            meter_id: 3,
            flow_count: 1,
            packet_in_count: 5,
            byte_in_count: 300,
            duration_sec: 2,
            duration_nsec: 0,
            bands: vec![BandStats {
                packet_count: 1,
                byte_count: 60,
            }],
        };
        let body = encode_meter_stats(&ms).expect("enc");
        let out = print(
            Unparsed {
                raw: oxvs_ofproto::ofp::message::RawMsg::MeterStatsReply,
                flags: 0,
                body,
            },
            Version::Of15,
        );
        assert_eq!(out, "OFPST_METER reply (OF1.5) (xid=0x1):\nmeter:3 flow_count:1 packet_in_count:5 byte_in_count:300 duration:2s bands:\n0: packet_count:1 byte_count:60\n");
        let out = print(encode_meter_request(true, OFPM_ALL), Version::Of13);
        assert_eq!(
            out,
            "OFPST_METER_CONFIG request (OF1.3) (xid=0x1): meter=all\n"
        );
    }
}

// ---------------------------------------------------------------------------
// xlate through groups, and a select group's recirculation in a datapath.

mod xlate {
    use super::*;
    use oxvs_datapath::action::{Action as Dp, EthernetSet, SetHeader};
    use oxvs_datapath::dp::PollThread;
    use oxvs_datapath::flow_key::FlowKey;
    use oxvs_datapath::port::{MemoryHandle, MemoryPort};
    use oxvs_ofproto::bridge::UpcallDispatcher;
    use oxvs_ofproto::ofp::action;
    use oxvs_ofproto::ofp::flow_msg::{FlowMod, FlowModCommand};
    use oxvs_ofproto::ofp::group_msg::*;
    use oxvs_ofproto::ofp::matching::Match;

    /// A bridge whose OpenFlow port N is datapath port N + 10.
    fn bridge(n: u32) -> Arc<Bridge> {
        let b = Bridge::new("br0");
        for p in 1..=n {
            b.add_port(BridgePort {
                ofp_port: p,
                dp_port: p + 10,
                name: format!("p{p}"),
                vlan: VlanMode::Trunk(None),
            })
            .expect("port");
        }
        del_flows(&b);
        b
    }

    fn del_flows(b: &Bridge) {
        let mut fm = flow_mod("", "");
        fm.command = FlowModCommand::Delete;
        fm.table_id = 0xff;
        b.apply_flow_mod(&fm).expect("delete flows");
    }

    fn flow_mod(m: &str, acts: &str) -> FlowMod {
        FlowMod {
            command: FlowModCommand::Add,
            table_id: 0,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            priority: 100,
            buffer_id: u32::MAX,
            out_port: u32::MAX,
            out_group: u32::MAX,
            flags: 0,
            importance: 0,
            matched: m.parse::<Match>().unwrap_or_else(|e| panic!("{m}: {e:?}")),
            actions: action::parse(acts).unwrap_or_else(|e| panic!("{acts}: {e:?}")),
        }
    }

    fn add_flow(b: &Bridge, m: &str, acts: &str) {
        let fm = flow_mod(m, acts);
        b.check_group_refs(&fm.actions).expect("groups exist");
        b.apply_flow_mod(&fm).expect("flow_mod");
    }

    /// Adds a group; each bucket is `[weight:W,][watch_port:P,]actions`.
    fn add_group(b: &Bridge, id: u32, t: GroupType, buckets: &[&str], props: GroupProps) {
        let buckets = buckets
            .iter()
            .map(|s| {
                let mut bk = Bucket::new(t, Vec::new());
                let mut rest = *s;
                loop {
                    if let Some(r) = rest.strip_prefix("weight:") {
                        let (w, r) = r.split_once(',').expect("weight,actions");
                        bk.weight = w.parse().expect("weight");
                        rest = r;
                    } else if let Some(r) = rest.strip_prefix("watch_port:") {
                        let (p, r) = r.split_once(',').expect("watch_port,actions");
                        bk.watch_port = p.parse().expect("port");
                        rest = r;
                    } else if let Some(r) = rest.strip_prefix("watch_group:") {
                        let (g, r) = r.split_once(',').expect("watch_group,actions");
                        bk.watch_group = g.parse().expect("group");
                        rest = r;
                    } else {
                        break;
                    }
                }
                bk.actions = action::parse(rest).unwrap_or_else(|e| panic!("{rest}: {e:?}"));
                bk
            })
            .collect();
        b.apply_group_mod(&GroupMod {
            command: GroupCommand::Add,
            group_type: t,
            group_id: id,
            command_bucket_id: BUCKET_ALL,
            buckets,
            props,
        })
        .expect("group_mod");
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

    fn eth_dst_set(mac: u64) -> Dp {
        let b = mac.to_be_bytes();
        Dp::Set(SetHeader::Ethernet {
            value: EthernetSet {
                src: [0; 6],
                dst: [b[2], b[3], b[4], b[5], b[6], b[7]],
            },
            mask: EthernetSet {
                src: [0; 6],
                dst: [0xff; 6],
            },
        })
    }

    #[test]
    fn all_group_runs_every_bucket_on_a_copy() {
        let b = bridge(3);
        add_group(
            &b,
            1,
            GroupType::All,
            &["mod_dl_dst:02:00:00:00:00:09,output:2", "output:3"],
            GroupProps::default(),
        );
        add_flow(&b, "in_port=1", "group:1,output:3");
        let (_, acts) = b.xlate(&udp_key(11, 1, 2, 100, 200), false, 0);
        assert_eq!(
            acts,
            vec![
                eth_dst_set(0x0200_0000_0009),
                Dp::Output(12),
                eth_dst_set(0x0200_0000_0002),
                Dp::Output(13),
                Dp::Output(13),
            ],
            "bucket 2 and the action after the group see the packet unmodified"
        );
        // Bucket actions are an action set: only the last output counts,
        // and a bucket without an output does nothing.
        add_group(
            &b,
            2,
            GroupType::All,
            &["output:2,output:3", "mod_dl_dst:02:00:00:00:00:09"],
            GroupProps::default(),
        );
        add_flow(&b, "in_port=2", "group:2");
        let (_, acts) = b.xlate(&udp_key(12, 1, 2, 100, 200), false, 0);
        assert_eq!(acts, vec![Dp::Output(13)]);
        // A chain: an indirect group into the all group.
        add_group(
            &b,
            3,
            GroupType::Indirect,
            &["group:1"],
            GroupProps::default(),
        );
        add_flow(&b, "in_port=3", "group:3");
        let (_, acts) = b.xlate(&udp_key(13, 1, 2, 100, 200), false, 0);
        assert_eq!(
            acts,
            vec![eth_dst_set(0x0200_0000_0009), Dp::Output(12)],
            "in_port 3: output:3 is never back out of the input port"
        );
    }

    #[test]
    fn fast_failover_takes_the_first_live_bucket() {
        let b = bridge(3);
        // Port 9 does not exist; group 5 has no live bucket.
        add_group(
            &b,
            5,
            GroupType::FastFailover,
            &["watch_port:9,output:1"],
            GroupProps::default(),
        );
        add_group(
            &b,
            1,
            GroupType::FastFailover,
            &[
                "watch_port:9,output:1",
                "watch_group:5,output:2",
                "watch_port:3,output:3",
                "watch_port:2,output:2",
            ],
            GroupProps::default(),
        );
        add_flow(&b, "in_port=1", "group:1");
        let (_, acts) = b.xlate(&udp_key(11, 1, 2, 100, 200), false, 0);
        assert_eq!(acts, vec![Dp::Output(13)]);
        // Port 9 appears: the first bucket is live now.
        b.add_port(BridgePort {
            ofp_port: 9,
            dp_port: 19,
            name: "p9".into(),
            vlan: VlanMode::Trunk(None),
        })
        .expect("port 9");
        let (_, acts) = b.xlate(&udp_key(11, 1, 2, 100, 200), false, 0);
        assert!(
            acts.is_empty(),
            "bucket 0 is live: output:1 is the input port, dropped"
        );
    }

    #[test]
    fn select_group_recirculates_then_picks_by_dp_hash() {
        let b = bridge(3);
        add_group(
            &b,
            1,
            GroupType::Select,
            &["weight:1,output:2", "weight:3,output:3"],
            GroupProps::default(),
        );
        add_flow(&b, "in_port=1", "set_field:5->reg0,group:1");
        let key = udp_key(11, 1, 2, 100, 200);
        let (mask, acts) = b.xlate(&key, false, 0);
        let [Dp::Hash { basis: 0 }, Dp::Recirc(id)] = acts[..] else {
            panic!("hash and recirculate: {acts:?}");
        };
        assert_ne!(id, 0);
        assert_eq!(mask.dp_hash(), u32::MAX, "first pass matches dp_hash=0");
        assert_eq!(mask.tp_src(), 0, "the 5-tuple is hashed by the datapath");
        // The same state gets the same id (revalidation keeps megaflows).
        let (_, again) = b.xlate(&udp_key(11, 7, 8, 9, 10), false, 0);
        assert_eq!(again, acts);
        // The recirculated packet: 16 hash values, 4 for bucket 0, 12 for 1.
        let mut picks = [0; 2];
        for h in 1..=16u32 {
            let mut k = key;
            k.set_recirc_id(id);
            k.set_dp_hash(h * 0x1_0001);
            let (mask, acts) = b.xlate(&k, false, 0);
            assert_eq!(mask.dp_hash(), 15, "{acts:?}");
            assert_eq!(mask.recirc_id(), u32::MAX);
            match acts[..] {
                [Dp::Output(12)] => picks[0] += 1,
                [Dp::Output(13)] => picks[1] += 1,
                _ => panic!("{acts:?}"),
            }
        }
        assert_eq!(picks, [4, 12]);
        // An id nobody froze drops.
        let mut k = key;
        k.set_recirc_id(id + 100);
        k.set_dp_hash(3);
        assert!(b.xlate(&k, false, 0).1.is_empty());
    }

    /// What the enclosing rules still had to do when the select group froze
    /// the pipeline runs after the recirculation, in their own context.
    #[test]
    fn frozen_pipeline_resumes_the_callers() {
        let b = bridge(3);
        add_group(
            &b,
            1,
            GroupType::Select,
            &["output:2"],
            GroupProps::default(),
        );
        let mut fm = flow_mod(
            "in_port=1",
            "resubmit(,1),load:7->NXM_NX_REG1[],resubmit(,3)",
        );
        b.apply_flow_mod(&fm).expect("table 0");
        fm = flow_mod("", "load:9->NXM_NX_REG0[],group:1,goto_table:2");
        fm.table_id = 1;
        b.apply_flow_mod(&fm).expect("table 1");
        fm = flow_mod("reg0=9", "output:3");
        fm.table_id = 2;
        b.apply_flow_mod(&fm).expect("table 2");
        fm = flow_mod("reg0=9,reg1=7", "output:LOCAL,output:3");
        fm.table_id = 3;
        b.apply_flow_mod(&fm).expect("table 3");
        b.add_port(BridgePort {
            ofp_port: OFPP_LOCAL,
            dp_port: 99,
            name: "br0".into(),
            vlan: VlanMode::Trunk(None),
        })
        .expect("local");
        let key = udp_key(11, 1, 2, 100, 200);
        let (_, acts) = b.xlate(&key, false, 0);
        let [Dp::Hash { .. }, Dp::Recirc(id)] = acts[..] else {
            panic!("{acts:?}");
        };
        let mut k = key;
        k.set_recirc_id(id);
        k.set_dp_hash(5);
        let (_, acts) = b.xlate(&k, false, 0);
        assert_eq!(
            acts,
            vec![
                Dp::Output(12),
                Dp::Output(13),
                Dp::Output(99),
                Dp::Output(13)
            ],
            "bucket, goto table 2, then table 0's load and resubmit to table 3"
        );
    }

    #[test]
    fn selection_method_hash_hashes_its_fields_in_xlate() {
        let b = bridge(3);
        add_group(
            &b,
            1,
            GroupType::Select,
            &["output:2", "output:3"],
            GroupProps {
                selection_method: "hash".into(),
                selection_method_param: 0,
                fields: vec![(
                    oxvs_ofproto::ofp::field::Field::Ipv4Dst,
                    oxvs_ofproto::ofp::field::Value::from(u32::MAX),
                )],
            },
        );
        add_flow(&b, "in_port=1", "group:1");
        let mut seen: Vec<Dp> = Vec::new();
        for dst in 0..64u32 {
            let (mask, acts) = b.xlate(&udp_key(11, 1, dst, 100, 200), false, 0);
            assert_eq!(mask.nw_dst(), u32::MAX);
            assert_eq!(mask.nw_src(), 0);
            assert_eq!(mask.dp_hash(), 0);
            assert_eq!(acts.len(), 1, "{acts:?}");
            // Same destination, other source: same bucket.
            let (_, other) = b.xlate(&udp_key(11, 99, dst, 7, 8), false, 0);
            assert_eq!(other, acts);
            if !seen.contains(&acts[0]) {
                seen.push(acts[0].clone());
            }
        }
        assert_eq!(seen.len(), 2, "both buckets are used");
    }

    fn udp_frame(src: u32, dst: u32, sport: u16, dport: u16) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&src.to_be_bytes());
        f.extend_from_slice(&dst.to_be_bytes());
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        f.extend_from_slice(&[0, 8, 0, 0]);
        f
    }

    struct Rig {
        dp: Arc<Datapath>,
        pt: PollThread,
        bridge: Arc<Bridge>,
        disp: UpcallDispatcher,
        handles: Vec<MemoryHandle>,
    }

    impl Rig {
        fn new(n: u32) -> Rig {
            let dp = Arc::new(Datapath::new(DatapathConfig::default()));
            let mut pt = PollThread::new(dp.clone());
            let bridge = Bridge::new("br0");
            let mut handles = Vec::new();
            for no in 1..=n {
                let port = MemoryPort::new(format!("p{no}"), no).with_capture(10_000);
                handles.push(port.handle());
                pt.ports.add(no, Box::new(port));
                bridge
                    .add_port(BridgePort {
                        ofp_port: no,
                        dp_port: no,
                        name: format!("p{no}"),
                        vlan: VlanMode::Trunk(None),
                    })
                    .expect("port");
            }
            del_flows(&bridge);
            let disp = UpcallDispatcher::new();
            disp.attach(bridge.clone());
            Rig {
                dp,
                pt,
                bridge,
                disp,
                handles,
            }
        }

        /// Sends `f` in on `port` and runs it through, upcalls and
        /// recirculations included.
        fn send(&mut self, port: usize, f: &[u8]) {
            self.handles[port - 1].inject(f);
            self.pt.poll_once(0);
            for _ in 0..8 {
                if self.dp.handle_upcalls(&mut self.disp, 64) == 0 {
                    break;
                }
                self.pt.run_executes(0);
            }
            self.pt.flush();
        }

        fn sent(&self, port: usize) -> usize {
            self.handles[port - 1].take_sent().len()
        }
    }

    #[test]
    fn select_group_spreads_flows_by_weight_through_recirculation() {
        let mut r = Rig::new(3);
        add_group(
            &r.bridge,
            1,
            GroupType::Select,
            &["weight:1,output:2", "weight:3,output:3"],
            GroupProps::default(),
        );
        add_flow(&r.bridge, "in_port=1", "group:1");
        for i in 0..1000u32 {
            let f = udp_frame(
                0x0a00_0000 | ((i * 7919) % 65_000),
                0x0a01_0001,
                1024 + i as u16,
                80,
            );
            r.send(1, &f);
        }
        let (two, three) = (r.sent(2), r.sent(3));
        assert_eq!(two + three, 1000, "every packet leaves once");
        let share = two as f64 / 1000.0;
        assert!(
            (0.17..=0.33).contains(&share),
            "weight 1 of 4 should get about a quarter: {two} vs {three}"
        );
        // One first-pass megaflow and at most 16 recirculated ones.
        assert!(r.dp.megaflows.len() <= 17, "{}", r.dp.megaflows.len());
        // The revalidator credits the megaflows' traffic to the group.
        r.bridge.revalidate(&r.dp, 0, 1000);
        let gs = r.bridge.group_stats(1);
        let g = &gs[0];
        let buckets: u64 = g.buckets.iter().map(|b| b.packet_count).sum();
        assert_eq!(g.packet_count, buckets);
        assert!(g.packet_count >= 900, "{g:?}");
        assert!(
            g.buckets[1].packet_count > 2 * g.buckets[0].packet_count,
            "{g:?}"
        );
        // Revalidation keeps the megaflows: translations are stable.
        let before = r.dp.megaflows.len();
        r.bridge.revalidate(&r.dp, 0, 1000);
        assert_eq!(r.dp.megaflows.len(), before);
        // Removing the group removes its flow; packets are dropped.
        r.bridge
            .apply_group_mod(&GroupMod {
                command: GroupCommand::Delete,
                group_type: GroupType::All,
                group_id: 1,
                command_bucket_id: BUCKET_ALL,
                buckets: vec![],
                props: GroupProps::default(),
            })
            .expect("delete");
        r.bridge.revalidate(&r.dp, 0, 1000);
        r.send(1, &udp_frame(1, 2, 3, 4));
        assert_eq!(r.sent(2) + r.sent(3), 0);
    }

    /// Meters count the traffic of their flows (credited by the
    /// revalidator) and the datapath's meter action drops what exceeds a
    /// drop band, counted on the band.
    #[test]
    fn meters_drop_over_their_rate_and_count() {
        let mut r = Rig::new(2);
        r.bridge
            .apply_meter_mod(&MeterMod {
                command: MeterCommand::Add,
                meter: MeterConfig {
                    meter_id: 1,
                    flags: meter_flags::PKTPS | meter_flags::BURST,
                    bands: vec![MeterBand {
                        band_type: BandType::Drop,
                        rate: 1,
                        burst_size: 3,
                    }],
                },
            })
            .expect("meter");
        add_flow(&r.bridge, "in_port=1", "meter:1,output:2");
        for i in 0..10u16 {
            r.send(1, &udp_frame(1, 2, 1000 + i % 2, 80));
        }
        assert_eq!(r.sent(2), 3, "the burst passes, the rest is dropped");
        r.bridge.revalidate(&r.dp, 0, 1000);
        let s = r.bridge.meter_stats(1).expect("stats");
        assert_eq!(s[0].flow_count, 1);
        // One megaflow (in_port alone); the packet that went up as its
        // upcall is counted with the megaflow's traffic.
        assert_eq!(s[0].packet_in_count, 10, "{s:?}");
        assert_eq!(s[0].byte_in_count, 10 * 42);
        assert_eq!(s[0].bands[0].packet_count, 7);
        assert_eq!(s[0].bands[0].byte_count, 7 * 42);
    }

    /// Megaflow invariant through groups: a key that agrees with another on
    /// every bit of the other's megaflow mask gets the same actions.
    #[test]
    fn megaflows_through_groups_cover_what_they_match() {
        let b = bridge(3);
        add_group(
            &b,
            1,
            GroupType::Select,
            &["weight:1,output:2", "weight:3,output:3"],
            GroupProps::default(),
        );
        add_group(
            &b,
            2,
            GroupType::Select,
            &["weight:1,output:2", "weight:1000,output:3"],
            GroupProps::default(),
        );
        add_group(
            &b,
            3,
            GroupType::Select,
            &["output:2", "output:3", "mod_nw_dst:10.9.9.9,output:2"],
            GroupProps {
                selection_method: "hash".into(),
                selection_method_param: 5,
                fields: vec![(
                    oxvs_ofproto::ofp::field::Field::UdpSrc,
                    oxvs_ofproto::ofp::field::Value::from(0x00ffu16),
                )],
            },
        );
        add_group(
            &b,
            4,
            GroupType::All,
            &["mod_tp_dst:99,output:2", "output:3"],
            GroupProps::default(),
        );
        add_flow(&b, "in_port=1,udp,nw_src=10.0.0.0/24", "group:1");
        add_flow(&b, "in_port=1,udp,nw_src=10.0.1.0/24", "group:2");
        add_flow(&b, "in_port=2", "group:3");
        add_flow(&b, "in_port=3", "group:4,group:2");
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (mut first_pass, mut recirc) = (0, 0);
        for _ in 0..400 {
            let r = rnd();
            let mut k = udp_key(
                11 + (r % 3) as u32,
                0x0a00_0000 | (r >> 8) as u32 & 0x1ff,
                (r >> 20) as u32,
                (r >> 40) as u16,
                (r >> 24) as u16,
            );
            if r & 1 == 1 {
                // A recirculated packet of group 1.
                let (_, acts) = b.xlate(&udp_key(11, 0x0a00_0001, 2, 3, 4), false, 0);
                if let [Dp::Hash { .. }, Dp::Recirc(id)] = acts[..] {
                    k.set_in_port(11);
                    k.set_recirc_id(id);
                    k.set_dp_hash((rnd() as u32) | 1);
                    recirc += 1;
                }
            } else {
                first_pass += 1;
            }
            let (mask, acts) = b.xlate(&k, false, 0);
            for _ in 0..8 {
                // Change bits the megaflow does not match.
                let mut k2 = k;
                for (w, m) in k2.words.iter_mut().zip(mask.words.iter()) {
                    *w = (*w & m) | (rnd() & !m);
                }
                let (_, acts2) = b.xlate(&k2, false, 0);
                assert_eq!(acts2, acts, "key {k:?} mask {mask:?} other {k2:?}");
            }
        }
        assert!(first_pass > 50 && recirc > 50);
    }
}
