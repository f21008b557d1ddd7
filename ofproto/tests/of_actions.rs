//! Actions and instructions against Open vSwitch 3.1's `ovs-ofctl` as the
//! oracle (package openvswitch-common).
//!
//! For each flow in [`cases`] and each version, `ovs-ofctl add-flow` is
//! pointed at a fake switch on a Unix socket and the flow_mod it sends is
//! captured. Then:
//!
//! - our decoder reads its actions/instructions;
//! - our `Display` prints exactly what `ovs-ofctl ofp-print` prints for the
//!   captured message;
//! - our encoder reproduces the captured bytes from what we decoded;
//! - our parser reads the action string, and (after [`annotate`] with the
//!   facts of the match) our encoder produces the captured bytes too.
//!
//! Malformed action lists are fed to `ovs-ofctl parse-actions` /
//! `parse-instructions`, and our decoder must name the same OpenFlow error.
//! Property tests check round trips and that no input panics.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use oxvs_ofproto::ofp::action::{self, annotate, MatchContext};
use oxvs_ofproto::ofp::instruction;
use oxvs_ofproto::ofp::Version;

// ---------------------------------------------------------------------------
// ovs-ofctl.

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn ofctl_available() -> bool {
    Command::new("ovs-ofctl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `ovs-ofctl` with `stdin`, returning stdout (and stderr on failure).
fn ofctl(args: &[&str], stdin: &str) -> Result<String, String> {
    let mut child = Command::new("ovs-ofctl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ovs-ofctl: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("ovs-ofctl output");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// What `ovs-ofctl ofp-print` prints after `actions=` for a flow_mod, or
/// `None` if it cannot decode the message.
fn ofp_print_actions(msg: &[u8]) -> Option<String> {
    let out = ofctl(&["ofp-print", &hex(msg)], "").ok()?;
    let line = out.lines().next().unwrap_or_default();
    line.find(" actions=")
        .map(|i| line[i + " actions=".len()..].trim_end().to_string())
}

fn vnum(v: Version) -> u8 {
    v.wire()
}

static SOCKETS: AtomicUsize = AtomicUsize::new(0);

fn read_msg(s: &mut UnixStream) -> Option<Vec<u8>> {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).ok()?;
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut m = h.to_vec();
    m.resize(len.max(8), 0);
    s.read_exact(&mut m[8..]).ok()?;
    Some(m)
}

/// Plays a switch that accepts everything: hello, echo, barrier and empty
/// multipart replies. Returns every message received.
fn serve(mut s: UnixStream, v: Version) -> Vec<Vec<u8>> {
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let ver = vnum(v);
    let mut msgs = Vec::new();
    while let Some(m) = read_msg(&mut s) {
        let (ty, xid) = (m[1], [m[4], m[5], m[6], m[7]]);
        let mut reply = match (ty, v) {
            (0, _) => vec![ver, 0, 0, 8, 0, 0, 0, 0],
            (2, _) => {
                let mut r = m.clone();
                r[1] = 3;
                r
            }
            (18, Version::Of10) | (20, _) => vec![ver, ty + 1, 0, 8, 0, 0, 0, 0],
            (16, Version::Of10) => vec![ver, 17, 0, 12, 0, 0, 0, 0, m[8], m[9], 0, 0],
            (18, _) => vec![ver, 19, 0, 16, 0, 0, 0, 0, m[8], m[9], 0, 0, 0, 0, 0, 0],
            _ => Vec::new(),
        };
        if !reply.is_empty() {
            reply[4..8].copy_from_slice(&xid);
            let _ = s.write_all(&reply);
        }
        msgs.push(m);
    }
    msgs
}

/// Sends `flow` with `ovs-ofctl add-flow` in `v` to a fake switch and
/// returns the flow_mod it sent, or ovs-ofctl's complaint.
fn capture_flow_mod(v: Version, flow: &str) -> Result<Vec<u8>, String> {
    let n = SOCKETS.fetch_add(1, Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("oxvs-of-actions-{}-{n}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let target = format!("unix:{}", path.display());
    let mut child = Command::new("timeout")
        .args([
            "20",
            "ovs-ofctl",
            "--no-names",
            "-O",
            v.name(),
            "add-flow",
            &target,
            flow,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ovs-ofctl");
    let mut msgs = Vec::new();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                msgs = serve(s, v);
                break;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if child.try_wait().expect("wait").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    let out = child.wait_with_output().expect("ovs-ofctl");
    let _ = std::fs::remove_file(&path);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    msgs.into_iter()
        .find(|m| {
            m[1] == 14
                || (v == Version::Of10
                    && m[1] == 4
                    && m.len() >= 16
                    && m[8..16] == [0, 0, 0x23, 0x20, 0, 0, 0, 13])
        })
        .ok_or_else(|| "no flow_mod sent".to_string())
}

/// The actions (OpenFlow 1.0) or instructions (1.1+) of a flow_mod.
fn flow_mod_actions(v: Version, m: &[u8]) -> Vec<u8> {
    let start = match v {
        Version::Of10 if m[1] == 14 => 72,
        Version::Of10 => {
            let match_len = usize::from(u16::from_be_bytes([m[40], m[41]]));
            48 + match_len.div_ceil(8) * 8
        }
        _ => {
            let match_len = usize::from(u16::from_be_bytes([m[50], m[51]]));
            48 + match_len.div_ceil(8) * 8
        }
    };
    m[start..].to_vec()
}

// ---------------------------------------------------------------------------
// The flows.

struct Case {
    /// The match part of the flow (may be empty).
    matching: &'static str,
    actions: &'static str,
    ctx: MatchContext,
}

const NONE: MatchContext = MatchContext {
    ip_proto: 0,
    has_vlan: false,
};
const VLAN: MatchContext = MatchContext {
    ip_proto: 0,
    has_vlan: true,
};
const TCP: MatchContext = MatchContext {
    ip_proto: 6,
    has_vlan: false,
};
const UDP: MatchContext = MatchContext {
    ip_proto: 17,
    has_vlan: false,
};
const SCTP: MatchContext = MatchContext {
    ip_proto: 132,
    has_vlan: false,
};

fn case(matching: &'static str, actions: &'static str, ctx: MatchContext) -> Case {
    Case {
        matching,
        actions,
        ctx,
    }
}

fn cases() -> Vec<Case> {
    vec![
        // Output and friends.
        case("", "output:1", NONE),
        case("", "output:65279", NONE),
        case("", "in_port", NONE),
        case("", "NORMAL", NONE),
        case("", "flood", NONE),
        case("", "all", NONE),
        case("", "local", NONE),
        case("", "table", NONE),
        case("", "controller", NONE),
        case("", "controller:100", NONE),
        case("", "drop", NONE),
        case("", "output(port=1,max_len=100)", NONE),
        case("", "output:NXM_NX_REG0[0..15]", NONE),
        case("", "output:OXM_OF_PKT_REG0[0..31]", NONE),
        case("", "output:ONFOXM_ET_ACTSET_OUTPUT[0..15]", NONE),
        case("", "group:3", NONE),
        case("", "enqueue:1:2", NONE),
        case("", "set_queue:5,output:2,pop_queue", NONE),
        case("", "bundle(eth_src,0,hrw,ofport,members:1,2)", NONE),
        case("", "bundle_load(symmetric_l4,5,active_backup,ofport,NXM_NX_REG0[],members:1,2,3)", NONE),
        case("", "controller(userdata=01.02,pause)", NONE),
        case("", "controller(reason=no_match,id=3,max_len=100)", NONE),
        case("", "controller(meter_id=5)", NONE),
        case("", "controller(reason=invalid_ttl)", NONE),
        // VLAN.
        case("dl_vlan=5", "mod_vlan_vid:10", VLAN),
        case("", "mod_vlan_vid:10", NONE),
        case("dl_vlan=5", "set_vlan_vid:10", VLAN),
        case("", "mod_vlan_pcp:3", NONE),
        case("dl_vlan=5", "strip_vlan", VLAN),
        case("dl_vlan=5", "pop_vlan", VLAN),
        case("", "push_vlan:0x8100", NONE),
        case("", "push_vlan:0x88a8,set_field:4101->vlan_vid,set_field:3->vlan_pcp", NONE),
        // Typed sets.
        case("", "mod_dl_src:00:11:22:33:44:55,mod_dl_dst:66:77:88:99:aa:bb", NONE),
        case("ip", "mod_nw_src:10.0.0.1,mod_nw_dst:10.0.0.2", NONE),
        case("ip", "mod_nw_tos:8", NONE),
        case("ip", "mod_nw_ecn:2", NONE),
        case("ip", "mod_nw_ttl:5", NONE),
        case("tcp", "mod_tp_src:80,mod_tp_dst:443", TCP),
        case("udp", "mod_tp_src:53", UDP),
        case("sctp", "mod_tp_dst:99", SCTP),
        case("mpls", "set_mpls_label(5),set_mpls_tc(3),set_mpls_ttl(9),dec_mpls_ttl", NONE),
        case("", "push_mpls:0x8847", NONE),
        case("mpls", "pop_mpls:0x0800", NONE),
        case("ip", "dec_ttl", NONE),
        case("ip", "dec_ttl(1,2)", NONE),
        // Fields.
        case("ip", "set_field:10.0.0.1->ip_dst", NONE),
        case("", "set_field:00:11:22:33:44:55->eth_src", NONE),
        case("ipv6", "set_field:2001:db8::1->ipv6_src", NONE),
        case("ipv6", "set_field:0x12345->ipv6_label", NONE),
        case("", "set_field:0x1/0xff->reg3", NONE),
        case("", "set_field:5->metadata", NONE),
        case("", "set_field:1->tun_metadata3", NONE),
        case("", "set_field:0x5->tun_id", NONE),
        case("", "set_field:10.1.1.1->tun_dst", NONE),
        case("", "set_field:5->in_port", NONE),
        case("", "set_field:0x8/0x8->xxreg0", NONE),
        case("arp", "set_field:2->arp_op,set_field:1.2.3.4->arp_spa", NONE),
        case("icmp6,icmp_type=135", "set_field:fe80::1->nd_target", NONE),
        case("", "load:0x1->NXM_NX_REG0[0..15]", NONE),
        case("", "load:0x1234567890->NXM_NX_XXREG0[10..80]", NONE),
        case("", "load:5->NXM_OF_IN_PORT[]", NONE),
        case("", "load:0->NXM_NX_PKT_MARK[]", NONE),
        case("", "move:NXM_NX_REG0[0..15]->NXM_NX_REG1[16..31]", NONE),
        case("", "move:OXM_OF_METADATA[0..31]->NXM_NX_REG0[]", NONE),
        case("", "move:tun_metadata3[0..7]->reg0[0..7]", NONE),
        case("", "move:NXM_NX_REG0[]->NXM_NX_TUN_ID[0..31]", NONE),
        case("", "push:NXM_NX_REG0[],pop:NXM_NX_REG1[0..7]", NONE),
        case("", "set_tunnel:5", NONE),
        case("", "set_tunnel64:0x100000000", NONE),
        case("", "delete_field:tun_metadata1", NONE),
        // Nicira control.
        case("tcp", "fin_timeout(idle_timeout=5,hard_timeout=10)", TCP),
        case("", "resubmit:3", NONE),
        case("", "resubmit(,4)", NONE),
        case("", "resubmit(1,2)", NONE),
        case("ct_state=+trk-inv,ip", "resubmit(,2,ct)", NONE),
        case(
            "",
            "learn(table=2,idle_timeout=10,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15],output:NXM_OF_IN_PORT[])",
            NONE,
        ),
        case(
            "",
            "learn(table=1,hard_timeout=60,priority=5,cookie=0x42,send_flow_rem,fin_idle_timeout=1,fin_hard_timeout=2,eth_type=0x800,NXM_NX_REG1[0..3]=0x5,load:5->NXM_NX_REG2[],ip_src=10.0.0.1)",
            NONE,
        ),
        case("", "learn(table=3,limit=10,result_dst=NXM_NX_REG0[5],NXM_OF_VLAN_TCI[0..11])", NONE),
        case("", "learn(delete_learned,in_port=99,eth_dst=01:02:03:04:05:06)", NONE),
        case("", "conjunction(1,1/2)", NONE),
        case("", "conjunction(7,2/3),note:aa", NONE),
        case("", "multipath(eth_src,50,modulo_n,2,0,NXM_NX_REG0[0..3])", NONE),
        case("", "multipath(symmetric_l3l4+udp,1024,iter_hash,5000,4000,NXM_NX_REG0[0..12])", NONE),
        case("", "note:01.02.03", NONE),
        case("", "note:0102030405060708090a", NONE),
        case("", "exit", NONE),
        case("", "sample(probability=100,collector_set_id=1,obs_domain_id=2,obs_point_id=3)", NONE),
        case("", "sample(probability=65535,collector_set_id=1,obs_domain_id=2,obs_point_id=3,sampling_port=7)", NONE),
        case("", "sample(probability=1,collector_set_id=1,obs_domain_id=2,obs_point_id=3,ingress)", NONE),
        case("tcp", "ct(commit,zone=5,nat(src=10.0.0.1-10.0.0.5:100-200,persistent,random),alg=ftp,table=3)", TCP),
        case("ip", "ct(table=1,zone=NXM_NX_REG0[0..15])", NONE),
        case("ip", "ct(commit,force,exec(set_field:1->ct_mark,set_field:0x2/0xf->ct_label))", NONE),
        case("ipv6", "ct(commit,nat(dst=[2001:db8::1]-[2001:db8::5]:80))", NONE),
        case("ip", "ct(nat)", NONE),
        case("ip", "ct(commit,nat(dst=10.1.1.1,hash))", NONE),
        case("", "ct_clear", NONE),
        case("", "clone(output:1,mod_vlan_vid:5)", NONE),
        case("", "clone(clone(resubmit(,3)),output:2)", NONE),
        case("", "check_pkt_larger(100)->NXM_NX_REG0[0]", NONE),
        case("", "encap(nsh(md_type=1))", NONE),
        case("", "encap(nsh(md_type=2,tlv(0x1000,10,0x12345678)))", NONE),
        case("", "encap(ethernet)", NONE),
        case("", "decap()", NONE),
        case("", "decap(packet_type(ns=1,type=0x894f))", NONE),
        case("dl_type=0x894f", "dec_nsh_ttl", NONE),
        // Instructions.
        case("", "meter:1", NONE),
        case("", "meter:2,output:1", NONE),
        case("", "output:1,goto_table:2", NONE),
        case("", "write_metadata:0x1/0xff", NONE),
        case("", "write_metadata:0x1234", NONE),
        case("", "clear_actions", NONE),
        case("", "write_actions(output:1,set_field:1->reg0)", NONE),
        case("", "meter:3,output:2,clear_actions,write_actions(group:1),write_metadata:0x2/0x2,goto_table:5", NONE),
    ]
}

fn flow_string(c: &Case) -> String {
    if c.matching.is_empty() {
        format!("actions={}", c.actions)
    } else {
        format!("{},actions={}", c.matching, c.actions)
    }
}

/// Checks one case in one version; `Ok(false)` if ovs-ofctl rejects it
/// there.
fn check_case(c: &Case, v: Version) -> Result<bool, String> {
    let flow = flow_string(c);
    let msg = match capture_flow_mod(v, &flow) {
        Ok(m) => m,
        Err(_) => return Ok(false),
    };
    let ovs = flow_mod_actions(v, &msg);
    let ctx = format!("{} {flow}: ovs bytes {}", v.name(), hex(&ovs));

    let mut parsed = action::parse(c.actions).map_err(|e| format!("{ctx}: parse failed: {e}"))?;
    annotate(&mut parsed, c.ctx);
    let enc = instruction::encode_to_vec(&parsed, v)
        .map_err(|e| format!("{ctx}: encode of parsed failed: {e}"))?;
    if enc != ovs {
        return Err(format!("{ctx}: parsed {parsed:?} encodes as {}", hex(&enc)));
    }

    let Some(printed) = ofp_print_actions(&msg) else {
        // OVS sends some Nicira actions in versions its own decoder does not
        // take them in (encap, decap, dec_nsh_ttl in OpenFlow 1.0); we
        // refuse them where it does.
        if let Ok(a) = instruction::decode(v, &ovs) {
            return Err(format!(
                "{ctx}: ovs-ofctl cannot decode this but we decode {a:?}"
            ));
        }
        return Ok(true);
    };
    let ours = instruction::decode(v, &ovs).map_err(|e| format!("{ctx}: decode failed: {e}"))?;
    let shown = action::format_list(&ours);
    if shown != printed {
        return Err(format!(
            "{ctx}: we print\n  {shown}\novs-ofctl prints\n  {printed}"
        ));
    }
    let again = instruction::encode_to_vec(&ours, v)
        .map_err(|e| format!("{ctx}: re-encode failed: {e}"))?;
    if again != ovs {
        return Err(format!("{ctx}: re-encoded as {}", hex(&again)));
    }
    // What we (and ovs-ofctl) print parses back as ovs-ofctl parses it.
    let reflow = if c.matching.is_empty() {
        format!("actions={shown}")
    } else {
        format!("{},actions={shown}", c.matching)
    };
    let msg2 = capture_flow_mod(v, &reflow).map_err(|e| format!("{ctx}: {reflow}: {e}"))?;
    let ovs2 = flow_mod_actions(v, &msg2);
    let mut reparsed =
        action::parse(&shown).map_err(|e| format!("{ctx}: cannot parse our own {shown}: {e}"))?;
    annotate(&mut reparsed, c.ctx);
    let enc = instruction::encode_to_vec(&reparsed, v).map_err(|e| format!("{ctx}: {e}"))?;
    if enc != ovs2 {
        return Err(format!(
            "{ctx}: {shown} encodes as {}, ovs-ofctl sends {}",
            hex(&enc),
            hex(&ovs2)
        ));
    }
    Ok(true)
}

#[test]
fn ovs_ofctl_oracle_for_every_action() {
    if !ofctl_available() {
        eprintln!("ovs-ofctl not installed: skipping");
        return;
    }
    let cases = cases();
    assert!(cases.len() >= 60);
    let mut failures = Vec::new();
    let mut unsupported = Vec::new();
    let mut checked = 0;
    for c in &cases {
        let mut any = false;
        for v in Version::ALL {
            match check_case(c, v) {
                Ok(true) => {
                    any = true;
                    checked += 1;
                }
                Ok(false) => {}
                Err(e) => failures.push(e),
            }
        }
        if !any {
            unsupported.push(c.actions);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    assert!(
        unsupported.is_empty(),
        "ovs-ofctl took these in no version: {unsupported:?}"
    );
    eprintln!("{checked} (flow, version) pairs agree with ovs-ofctl");
}
