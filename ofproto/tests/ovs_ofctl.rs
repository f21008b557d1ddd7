//! The OpenFlow session against the real `ovs-ofctl` (apt
//! `openvswitch-common`): a listener on a unix socket serves a small fake
//! switch, and each test runs an `ovs-ofctl` command against it in every
//! OpenFlow version and checks what it prints.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use oxvs_ofproto::ofconn::{OfSession, SwitchView};
use oxvs_ofproto::ofp::message::{
    Port, PortConfig, PortFeatures, PortNo, PortState, PortStats, TableStats,
};
use oxvs_ofproto::ofp::Version;
use oxvs_ofproto::server::{serve, Listen, Session, SessionFactory};
use tokio::sync::mpsc;

struct View;

fn port(no: u32, name: &str, mac: u8) -> Port {
    Port {
        port_no: PortNo(no),
        hw_addr: [0x02, 0, 0, 0, 0, mac],
        name: name.to_string(),
        config: PortConfig(0),
        state: PortState(PortState::LIVE),
        curr: PortFeatures(0),
        advertised: PortFeatures(0),
        supported: PortFeatures(0),
        peer: PortFeatures(0),
        curr_speed: 10_000_000,
        max_speed: 0,
        props: Vec::new(),
    }
}

impl SwitchView for View {
    fn datapath_id(&self) -> u64 {
        0x0000_1234_5678_9abc
    }
    fn ports(&self) -> Vec<Port> {
        vec![
            port(1, "p1", 1),
            port(2, "p2", 2),
            port(0xffff_fffe, "br0", 0xfe),
        ]
    }
    fn port_stats(&self, p: PortNo) -> Vec<PortStats> {
        [1u32, 2]
            .into_iter()
            .filter(|n| p == PortNo::ANY || p == PortNo(*n))
            .map(|n| PortStats {
                port_no: PortNo(n),
                duration: Some((5, 0)),
                rx_packets: 10 * n as u64,
                tx_packets: 20 * n as u64,
                rx_bytes: 600 * n as u64,
                tx_bytes: 1200 * n as u64,
                ..PortStats::default()
            })
            .collect()
    }
    fn table_stats(&self) -> Vec<TableStats> {
        (0..254u8)
            .map(|t| TableStats {
                table_id: t,
                name: format!("table{t}"),
                wildcards: 0x3f_ffff,
                max_entries: 1_000_000,
                active_count: if t == 0 { 1 } else { 0 },
                lookup_count: if t == 0 { 7 } else { 0 },
                matched_count: if t == 0 { 7 } else { 0 },
            })
            .collect()
    }
    fn sync(&self) {}
}

struct Factory;
impl SessionFactory for Factory {
    fn session(&self, _out: mpsc::Sender<Vec<u8>>, _peer: String) -> Box<dyn Session> {
        Box::new(OfSession::new(Arc::new(View), Version::ALL.to_vec(), None))
    }
}

/// A switch listening on a fresh unix socket, served by a background runtime.
struct Switch {
    sock: PathBuf,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start() -> Switch {
    let dir = tempfile::tempdir().expect("temp dir");
    let sock = dir.path().join("br0.mgmt");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listen = Listen::Unix(sock.clone());
    rt.spawn(async move {
        if let Err(e) = serve(listen, Arc::new(Factory)).await {
            panic!("serve: {e}");
        }
    });
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Switch {
        sock,
        _dir: dir,
        _rt: rt,
    }
}

fn ofctl(sw: &Switch, version: &str, args: &[&str]) -> String {
    let out = Command::new("ovs-ofctl")
        .arg("-O")
        .arg(version)
        .arg("--timeout=5")
        .args(args.iter().take(1))
        .arg(format!("unix:{}", sw.sock.display()))
        .args(args.iter().skip(1))
        .output()
        .expect("ovs-ofctl must be installed (apt openvswitch-common)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "ovs-ofctl -O {version} {args:?} failed:\n{text}"
    );
    text
}

const VERSIONS: [&str; 4] = ["OpenFlow10", "OpenFlow13", "OpenFlow14", "OpenFlow15"];

#[test]
fn show_lists_datapath_and_ports_in_every_version() {
    let sw = start();
    for v in VERSIONS {
        let out = ofctl(&sw, v, &["show"]);
        assert!(out.contains("dpid:0000123456789abc"), "{v}: {out}");
        assert!(out.contains("n_tables:254"), "{v}: {out}");
        assert!(out.contains(" 1(p1): addr:02:00:00:00:00:01"), "{v}: {out}");
        assert!(out.contains(" 2(p2): addr:02:00:00:00:00:02"), "{v}: {out}");
        assert!(
            out.contains(" LOCAL(br0): addr:02:00:00:00:00:fe"),
            "{v}: {out}"
        );
        assert!(out.contains("OFPT_GET_CONFIG_REPLY"), "{v}: {out}");
        assert!(
            out.contains("miss_send_len=128") || v == "OpenFlow10",
            "{v}: {out}"
        );
    }
}

#[test]
fn dump_desc_ports_and_tables() {
    let sw = start();
    for v in VERSIONS {
        let out = ofctl(&sw, v, &["dump-desc"]);
        assert!(out.contains("Manufacturer: oxvs"), "{v}: {out}");
        assert!(
            out.contains("Hardware: oxvs userspace switch"),
            "{v}: {out}"
        );

        let out = ofctl(&sw, v, &["dump-ports-desc"]);
        assert!(out.contains(" 1(p1): addr:02:00:00:00:00:01"), "{v}: {out}");
        assert!(out.contains("LOCAL(br0)"), "{v}: {out}");

        let out = ofctl(&sw, v, &["dump-ports"]);
        assert!(out.contains("port  1: rx pkts=10, bytes=600"), "{v}: {out}");
        assert!(
            out.contains("port  2: rx pkts=20, bytes=1200"),
            "{v}: {out}"
        );
        assert!(out.contains("tx pkts=40, bytes=2400"), "{v}: {out}");

        let out = ofctl(&sw, v, &["dump-ports", "2"]);
        assert!(
            out.contains("port  2:") && !out.contains("port  1:"),
            "{v}: {out}"
        );

        let out = ofctl(&sw, v, &["dump-tables"]);
        assert!(out.contains("table 0"), "{v}: {out}");
        assert!(out.contains("active=1, lookup=7, matched=7"), "{v}: {out}");
    }
}

#[test]
fn frags_and_barrier_round_trip() {
    let sw = start();
    for v in VERSIONS {
        let out = ofctl(&sw, v, &["get-frags"]);
        assert_eq!(out.trim(), "normal", "{v}");
        // A barrier is what every ovs-ofctl modification ends with.
        let out = Command::new("ovs-ofctl")
            .args([
                "-O",
                v,
                "--timeout=5",
                "probe",
                &format!("unix:{}", sw.sock.display()),
            ])
            .output()
            .expect("ovs-ofctl");
        assert!(
            out.status.success(),
            "{v} probe: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
