//! oxvsd and oxvsctl as real processes: the daemon runs in its own network
//! namespace, hosts are namespaces joined to it by veth pairs, traffic is
//! real UDP/TCP between them. Every namespace (and so every link) is
//! deleted by a Drop guard, and the daemon is killed by one, even when an
//! assertion fails.
//!
//! Needs root; each test prints SKIP and passes otherwise.

use std::net::Ipv4Addr;
use std::time::Duration;

use oxvs_tests::{
    ctl, ctl_ok, ofctl, read_pcap, skip_unless_root, tcp_transfer, udp_ping, unique_prefix,
    wait_until, write_pcap, Bins, Daemon, Dirs, Host, Netns,
};

const BINS: Bins = Bins {
    oxvsd: env!("CARGO_BIN_EXE_oxvsd-e2e"),
    oxvsctl: env!("CARGO_BIN_EXE_oxvsctl-e2e"),
};

fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, 0, n)
}

/// The switch namespace plus `n` hosts on ports p1..pn.
fn topology(n: u8) -> (Netns, Vec<Host>) {
    oxvs_tests::topology(n, addr)
}

/// `topology(n)` with oxvsd running and every host's port on br0.
fn bridge_of(n: u8) -> (Netns, Vec<Host>, Dirs, Daemon) {
    let (sw, hosts) = topology(n);
    let dirs = Dirs::new();
    let d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    for h in &hosts {
        ctl_ok(BINS, &dirs, &["add-port", "br0", &h.port]);
    }
    (sw, hosts, dirs, d)
}

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn ping(a: &Host, b: &Host) {
    if let Err(e) = udp_ping(a, b, Duration::from_secs(5)) {
        panic!("{} -> {}: {e}", a.addr, b.addr);
    }
}

#[test]
fn control_plane_verbs_persist_across_kill_and_restart() {
    if skip_unless_root("control_plane_verbs_persist_across_kill_and_restart") {
        return;
    }
    let pfx = unique_prefix();
    let sw = Netns::new(&format!("{pfx}-sw"));
    let dirs = Dirs::new();
    let mut d = Daemon::start(BINS, &dirs, &sw);

    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-br", "br1"]);
    ctl_ok(
        BINS,
        &dirs,
        &["add-port", "br0", "in1", "type=internal", "tag=10"],
    );
    ctl_ok(
        BINS,
        &dirs,
        &[
            "add-port",
            "br0",
            "tp1",
            "--",
            "set",
            "Interface",
            "tp1",
            "type=tap",
            "ofport_request=9",
        ],
    );
    ctl_ok(
        BINS,
        &dirs,
        &["add-port", "br1", "in2", "type=internal", "trunks=5,6"],
    );
    ctl_ok(
        BINS,
        &dirs,
        &["set-controller", "br0", "tcp:127.0.0.1:6653", "ptcp:6654"],
    );
    ctl_ok(BINS, &dirs, &["set-fail-mode", "br0", "secure"]);
    ctl_ok(BINS, &dirs, &["set-dp", "flow-limit=5000", "max-idle=4000"]);
    // Idempotent forms.
    ctl_ok(BINS, &dirs, &["--may-exist", "add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["--may-exist", "add-port", "br0", "in1"]);
    ctl_ok(BINS, &dirs, &["--if-exists", "del-port", "nothere"]);
    ctl_ok(BINS, &dirs, &["--if-exists", "del-br", "nothere"]);

    // The taps exist in the daemon's namespace.
    for dev in ["br0", "br1", "in1", "tp1", "in2"] {
        assert!(
            oxvs_tests::try_ip(&["-n", &sw.name, "link", "show", dev]).is_ok(),
            "{dev} missing"
        );
    }

    let check = |when: &str| {
        assert_eq!(ctl_ok(BINS, &dirs, &["list-br"]), "br0\nbr1\n", "{when}");
        assert_eq!(
            ctl_ok(BINS, &dirs, &["list-ports", "br0"]),
            "in1\ntp1\n",
            "{when}"
        );
        assert_eq!(
            ctl_ok(BINS, &dirs, &["get-controller", "br0"]),
            "tcp:127.0.0.1:6653\nptcp:6654\n",
            "{when}"
        );
        assert_eq!(
            ctl_ok(BINS, &dirs, &["get-fail-mode", "br0"]),
            "secure\n",
            "{when}"
        );
        let dp = ctl_ok(BINS, &dirs, &["get-dp"]);
        assert!(
            dp.contains("flow-limit=5000") && dp.contains("max-idle=4000"),
            "{when}: {dp}"
        );
        let show = ctl_ok(BINS, &dirs, &["show"]);
        for needle in [
            "Bridge br0",
            "Bridge br1",
            "Controller \"tcp:127.0.0.1:6653\"",
            "fail_mode: secure",
            "Port in1\n            tag: 10\n            Interface in1\n                type: internal",
            "Interface tp1\n                type: tap\n                ofport: 9",
            "trunks: [5, 6]",
            "ofport: LOCAL",
            "Controller \"ptcp:6654\" (listening)",
            // Nobody listens on 6653 in the daemon's namespace.
            "Controller \"tcp:127.0.0.1:6653\"\n            status: {",
        ] {
            assert!(show.contains(needle), "{when}: show lacks {needle:?}:\n{show}");
        }
        let up = ctl_ok(BINS, &dirs, &["upcall/show"]);
        assert!(
            up.contains("(limit 5000)") && up.contains("max idle      : 4000ms"),
            "{when}: {up}"
        );
    };
    check("before the crash");

    // JSON output for scripts.
    let json = ctl_ok(BINS, &dirs, &["--format", "json", "list-br"]);
    let v: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(v["data"][0], "br0");

    d.kill9();
    // A crash leaves the socket file behind; nobody answers on it.
    assert!(!ctl(BINS, &dirs, &["show"]).ok);
    let mut d = Daemon::start(BINS, &dirs, &sw);
    check("after kill -9 and restart");

    ctl_ok(BINS, &dirs, &["del-port", "br0", "tp1"]);
    ctl_ok(BINS, &dirs, &["del-br", "br1"]);
    ctl_ok(BINS, &dirs, &["del-controller", "br0"]);
    ctl_ok(BINS, &dirs, &["del-fail-mode", "br0"]);
    assert_eq!(ctl_ok(BINS, &dirs, &["list-br"]), "br0\n");
    assert_eq!(ctl_ok(BINS, &dirs, &["list-ports", "br0"]), "in1\n");
    assert!(
        wait_until(Duration::from_secs(5), || {
            oxvs_tests::try_ip(&["-n", &sw.name, "link", "show", "br1"]).is_err()
        }),
        "br1's tap outlived the bridge"
    );

    // `exit` stops it cleanly: the socket goes.
    ctl_ok(BINS, &dirs, &["exit"]);
    assert!(d
        .wait_exit(Duration::from_secs(10))
        .is_some_and(|s| s.success()));
    assert!(!dirs.socket().exists());
    let conf = String::from_utf8_lossy(&read(&dirs.config())).into_owned();
    assert!(conf.contains("\"in1\"") && !conf.contains("br1"), "{conf}");
}

#[test]
fn traffic_crosses_the_bridge_and_dump_flows_shows_megaflows() {
    if skip_unless_root("traffic_crosses_the_bridge_and_dump_flows_shows_megaflows") {
        return;
    }
    let (_sw, hosts, dirs, _d) = bridge_of(3);
    ping(&hosts[0], &hosts[1]);
    ping(&hosts[0], &hosts[2]);
    ping(&hosts[1], &hosts[2]);

    let flows = ctl_ok(BINS, &dirs, &["dpctl/dump-flows"]);
    // p1..p3 are datapath ports 2..4 (1 is br0's LOCAL port).
    let unicast: Vec<&str> = flows
        .lines()
        .filter(|l| l.starts_with("recirc_id(0),in_port(2),eth(src=") && l.ends_with("actions:3"))
        .collect();
    assert!(
        !unicast.is_empty(),
        "no learned p1 -> p2 megaflow:\n{flows}"
    );
    for l in flows.lines() {
        assert!(
            l.contains(", packets:")
                && l.contains(", bytes:")
                && l.contains(", used:")
                && l.contains(", actions:"),
            "odd line {l:?}"
        );
    }
    assert!(
        flows.lines().any(|l| l.contains("packets:")
            && !l.contains("packets:0,")
            && !l.contains("used:never")),
        "no megaflow took hits in the datapath:\n{flows}"
    );
    let named = ctl_ok(BINS, &dirs, &["dpctl/dump-flows", "--names"]);
    assert!(
        named.contains("in_port(p1)") && named.contains("actions:p2"),
        "{named}"
    );

    let fdb = ctl_ok(BINS, &dirs, &["fdb/show", "br0"]);
    assert!(fdb.lines().count() >= 4, "three hosts learned:\n{fdb}");
    let up = ctl_ok(BINS, &dirs, &["upcall/show"]);
    assert!(!up.contains("(current 0)"), "{up}");
    let cov = ctl_ok(BINS, &dirs, &["coverage/show"]);
    assert!(
        cov.contains("dpif_miss") && cov.contains("dpif_flow_put"),
        "{cov}"
    );
    let show = ctl_ok(BINS, &dirs, &["show"]);
    let p1 = show.split("Port p1").nth(1).unwrap_or_default();
    assert!(
        p1.contains("statistics: {rx_packets=") && !p1.contains("rx_packets=0,"),
        "{show}"
    );

    // TCP needs small, checksummed frames: offloads off on the hosts.
    if hosts[0].offloads_off() && hosts[1].offloads_off() {
        let t = tcp_transfer(&hosts[0], &hosts[1], 4 << 20).unwrap_or_else(|e| panic!("TCP: {e}"));
        eprintln!("4 MiB over TCP through oxvsd in {t:?}");
    } else {
        eprintln!("ethtool missing: TCP transfer not tested");
    }

    // del-flows empties the cache; traffic reinstalls it.
    ctl_ok(BINS, &dirs, &["dpctl/del-flows"]);
    let left = ctl_ok(BINS, &dirs, &["dpctl/dump-flows"]);
    assert!(
        left.lines().count() <= 2,
        "flows survived del-flows:\n{left}"
    );
    ping(&hosts[2], &hosts[0]);
    assert!(ctl_ok(BINS, &dirs, &["dpctl/dump-flows"]).contains("in_port(4)"));
}

#[test]
fn forwarding_comes_back_after_kill_9() {
    if skip_unless_root("forwarding_comes_back_after_kill_9") {
        return;
    }
    let (sw, hosts) = topology(2);
    let dirs = Dirs::new();
    let mut d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p1"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p2", "ofport_request=20"]);
    ping(&hosts[0], &hosts[1]);
    let before = std::fs::read(dirs.config()).unwrap_or_default();

    d.kill9();
    assert!(
        udp_ping(&hosts[0], &hosts[1], Duration::from_millis(800)).is_err(),
        "no switch, no traffic"
    );
    let _d = Daemon::start(BINS, &dirs, &sw);
    let show = ctl_ok(BINS, &dirs, &["show"]);
    assert!(
        show.contains("Port p1") && show.contains("ofport: 20"),
        "{show}"
    );
    ping(&hosts[0], &hosts[1]);
    ping(&hosts[1], &hosts[0]);
    // Restoring did not rewrite the stored file; flows were not persisted.
    assert_eq!(std::fs::read(dirs.config()).unwrap_or_default(), before);
}

#[test]
fn corrupt_or_invalid_config_is_refused_and_left_untouched() {
    if skip_unless_root("corrupt_or_invalid_config_is_refused_and_left_untouched") {
        return;
    }
    let pfx = unique_prefix();
    let sw = Netns::new(&format!("{pfx}-sw"));
    let dirs = Dirs::new();
    std::fs::create_dir_all(&dirs.statedir).unwrap_or_else(|e| panic!("{e}"));
    let cases: [(&str, &[u8]); 4] = [
        ("garbage", b"{\"version\": 1, \"bridges\": [ {\"name\": \"br0\", \x00\xff garbage"),
        ("unknown field", b"{\"version\": 1, \"bridgez\": []}\n"),
        (
            "duplicate port",
            b"{\"version\":1,\"bridges\":[{\"name\":\"br0\",\"ports\":[{\"name\":\"a\",\"ofport\":1},{\"name\":\"a\",\"ofport\":2}]}]}",
        ),
        ("future version", b"{\"version\": 99}"),
    ];
    for (what, bytes) in cases {
        std::fs::write(dirs.config(), bytes).unwrap_or_else(|e| panic!("{e}"));
        let err = match Daemon::try_start(BINS, &dirs, &sw, &[]) {
            Ok(_) => panic!("{what}: oxvsd started with a bad config"),
            Err(e) => e,
        };
        assert!(err.contains("exit status: 1"), "{what}: {err}");
        assert!(
            err.contains("conf.json"),
            "{what}: the message names the file: {err}"
        );
        assert_eq!(read(&dirs.config()), bytes, "{what}: config was modified");
        // --detach reports the same error and exit code to the caller.
        let out = sw.exec(&[
            BINS.oxvsd,
            "--rundir",
            &dirs.rundir.to_string_lossy(),
            "--statedir",
            &dirs.statedir.to_string_lossy(),
            "--detach",
        ]);
        assert!(!out.status.success(), "{what}: --detach succeeded");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("conf.json"),
            "{what}"
        );
        assert_eq!(read(&dirs.config()), bytes, "{what}: config was modified");
        // --check-config says so too.
        let out = sw.exec(&[
            BINS.oxvsd,
            "--statedir",
            &dirs.statedir.to_string_lossy(),
            "--check-config",
        ]);
        assert!(!out.status.success(), "{what}: --check-config passed");
    }
}

#[test]
fn bad_commands_fail_with_a_message_and_leave_the_config_alone() {
    if skip_unless_root("bad_commands_fail_with_a_message_and_leave_the_config_alone") {
        return;
    }
    let dirs = Dirs::new();
    // No daemon yet.
    let c = ctl(BINS, &dirs, &["show"]);
    assert!(
        !c.ok && c.stderr.contains("cannot connect to oxvsd"),
        "{c:?}"
    );

    let pfx = unique_prefix();
    let sw = Netns::new(&format!("{pfx}-sw"));
    sw.ip(&[
        "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1",
    ]);
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "in1", "type=internal"]);
    let before = read(&dirs.config());

    for (args, needle) in [
        (&["frobnicate"][..], "unknown command"),
        (&["add-br"][..], "takes 1 argument"),
        (&["add-br", "br0"][..], "already exists"),
        (&["add-br", "in1"][..], "already a port"),
        (&["add-br", "a/b"][..], "contains '/'"),
        (&["add-br", "waytoolongbridgename"][..], "longer than 15"),
        (&["add-port", "nobr", "x"][..], "no bridge named nobr"),
        (
            &["add-port", "br0", "nosuchif0"][..],
            "could not open network device nosuchif0",
        ),
        (&["add-port", "br0", "in1"][..], "already exists"),
        (&["add-port", "br0", "br0"][..], "already exists"),
        (&["add-port", "br0", "x", "tag=4096"][..], "tag"),
        (&["add-port", "br0", "x", "type=pcap"][..], "pcap"),
        (
            &["add-port", "br0", "dummy0", "ofport_request=0"][..],
            "out of range",
        ),
        (
            &["add-port", "br0", "dummy0", "type=internal"][..],
            "another kind",
        ),
        (
            &[
                "add-port",
                "br0",
                "x",
                "type=pcap",
                "options:rxq_pcap=/nonexistent/in.pcap",
            ][..],
            "cannot read",
        ),
        (&["del-port", "nope"][..], "no port named nope"),
        (&["del-port", "br0", "br0"][..], "LOCAL port"),
        (&["del-br", "nope"][..], "no bridge named nope"),
        (&["set-fail-mode", "br0", "loud"][..], "fail mode"),
        (&["set-fail-mode", "nobr", "secure"][..], "no bridge"),
        (&["set-controller", "br0", "udp:1.2.3.4"][..], "controller"),
        (&["set-dp", "flow-limit=0"][..], "flow-limit"),
        (&["set-dp", "warp=9"][..], "unknown datapath setting"),
        (&["fdb/show", "nobr"][..], "no bridge"),
    ] {
        let c = ctl(BINS, &dirs, args);
        assert!(!c.ok, "{args:?} succeeded: {c:?}");
        assert!(
            c.stderr.contains(needle),
            "{args:?}: expected {needle:?} in {c:?}"
        );
        assert!(c.stdout.is_empty(), "{args:?}: {c:?}");
        assert_eq!(read(&dirs.config()), before, "{args:?} changed the config");
    }
    // A port on a missing interface left nothing behind in the switch.
    let show = ctl_ok(BINS, &dirs, &["show"]);
    assert!(
        !show.contains("nosuchif0") && !show.contains("Port x"),
        "{show}"
    );
    // The daemon also refuses a request line that is not a CtlRequest.
    use std::io::{BufRead, Write};
    let mut s =
        std::os::unix::net::UnixStream::connect(dirs.socket()).unwrap_or_else(|e| panic!("{e}"));
    s.write_all(b"{\"verb\":\"reboot-the-world\"}\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut line = String::new();
    std::io::BufReader::new(&s)
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        line.contains("\"error\"") && line.contains("cannot decode request"),
        "{line}"
    );
}

#[test]
fn a_deleted_interface_marks_its_port_down_and_the_rest_keeps_forwarding() {
    if skip_unless_root("a_deleted_interface_marks_its_port_down_and_the_rest_keeps_forwarding") {
        return;
    }
    let (sw, hosts, dirs, _d) = bridge_of(3);
    ping(&hosts[0], &hosts[2]);
    ping(&hosts[0], &hosts[1]);

    sw.ip(&["link", "del", "p3"]);
    let down = wait_until(Duration::from_secs(10), || {
        let s = ctl_ok(BINS, &dirs, &["show"]);
        s.split("Port p3")
            .nth(1)
            .is_some_and(|p| p.contains("link_state: down"))
    });
    assert!(
        down,
        "p3 not reported down:\n{}",
        ctl_ok(BINS, &dirs, &["show"])
    );
    ping(&hosts[0], &hosts[1]);
    ping(&hosts[1], &hosts[0]);
    assert!(udp_ping(&hosts[0], &hosts[2], Duration::from_millis(600)).is_err());

    // The interface comes back: the port is reopened and forwards again.
    hosts[2].replug(&sw);
    let up = wait_until(Duration::from_secs(15), || {
        let s = ctl_ok(BINS, &dirs, &["show"]);
        s.split("Port p3")
            .nth(1)
            .is_some_and(|p| p.contains("link_state: up"))
    });
    assert!(up, "p3 not back up:\n{}", ctl_ok(BINS, &dirs, &["show"]));
    hosts[0].flush_neighbours();
    ping(&hosts[0], &hosts[2]);
}

#[test]
fn detach_with_pidfile_then_exit() {
    if skip_unless_root("detach_with_pidfile_then_exit") {
        return;
    }
    let pfx = unique_prefix();
    let sw = Netns::new(&format!("{pfx}-sw"));
    let dirs = Dirs::new();
    let rundir = dirs.rundir.to_string_lossy().into_owned();
    let statedir = dirs.statedir.to_string_lossy().into_owned();
    let out = sw.exec(&[
        BINS.oxvsd,
        "--rundir",
        &rundir,
        "--statedir",
        &statedir,
        "--detach",
        "--pidfile",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Ready when the command returns.
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    let pidfile = dirs.rundir.join("oxvsd.pid");
    let pid: i32 = String::from_utf8_lossy(&read(&pidfile))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pidfile: {e}"));
    // Guard: kill the detached daemon whatever happens below.
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            // SAFETY: plain kill(2) on the daemon's pid.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
    let _k = Kill(pid);
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "daemon not running");

    // A second daemon on the same state is refused with the reason.
    let out = sw.exec(&[
        BINS.oxvsd,
        "--rundir",
        &rundir,
        "--statedir",
        &statedir,
        "--detach",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already running"),
        "{out:?}"
    );

    ctl_ok(BINS, &dirs, &["exit"]);
    // SAFETY: as above.
    let gone = wait_until(
        Duration::from_secs(10),
        || unsafe { libc::kill(pid, 0) } != 0,
    );
    assert!(gone, "daemon still running after exit");
    assert!(!pidfile.exists() && !dirs.socket().exists());
}

#[test]
fn pcap_ports_replay_into_the_bridge_and_capture_its_output() {
    if skip_unless_root("pcap_ports_replay_into_the_bridge_and_capture_its_output") {
        return;
    }
    let pfx = unique_prefix();
    let sw = Netns::new(&format!("{pfx}-sw"));
    let dirs = Dirs::new();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (rx, tx) = (tmp.path().join("in.pcap"), tmp.path().join("out.pcap"));
    // Ten broadcast frames from one source: flooded to every other port.
    let frames: Vec<Vec<u8>> = (0..10u8)
        .map(|i| {
            let mut f = vec![0xff; 6];
            f.extend_from_slice(&[2, 0, 0, 0, 0, 1]);
            f.extend_from_slice(&[0x88, 0xb5]);
            f.extend(std::iter::repeat_n(i, 50));
            f
        })
        .collect();
    write_pcap(&rx, &frames).unwrap_or_else(|e| panic!("{e}"));
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(
        BINS,
        &dirs,
        &[
            "add-port",
            "br0",
            "cap",
            "type=pcap",
            &format!("options:pcap={}", tx.display()),
        ],
    );
    ctl_ok(
        BINS,
        &dirs,
        &[
            "add-port",
            "br0",
            "src",
            "type=pcap",
            &format!("options:rxq_pcap={}", rx.display()),
        ],
    );
    let got = wait_until(Duration::from_secs(10), || {
        read_pcap(&tx)
            .map(|f| f.len() >= frames.len())
            .unwrap_or(false)
    });
    let out = read_pcap(&tx).unwrap_or_default();
    assert!(got, "captured {} of {} frames", out.len(), frames.len());
    assert_eq!(out, frames);
    let show = ctl_ok(BINS, &dirs, &["show"]);
    assert!(show.contains("options: {rxq_pcap="), "{show}");
    let flows = ctl_ok(BINS, &dirs, &["dpctl/dump-flows"]);
    assert!(flows.contains("dst=ff:ff:ff:ff:ff:ff"), "{flows}");
}

fn flow_lines(dirs: &Dirs) -> Vec<String> {
    ofctl(dirs, &["--no-stats", "dump-flows", "br0"])
        .lines()
        .filter(|l| l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn ovs_ofctl_programs_the_bridge_and_fail_mode_is_honoured() {
    if skip_unless_root("ovs_ofctl_programs_the_bridge_and_fail_mode_is_honoured") {
        return;
    }
    if oxvs_tests::find_tool("ovs-ofctl").is_none() {
        eprintln!("SKIP ovs_ofctl_programs_the_bridge_and_fail_mode_is_honoured: ovs-ofctl is not installed (apt openvswitch-common)");
        return;
    }
    let (sw, hosts, dirs, mut d) = bridge_of(2);

    let show = ofctl(&dirs, &["show", "br0"]);
    for needle in [" 1(p1): addr:", " 2(p2): addr:", " LOCAL(br0): addr:"] {
        assert!(show.contains(needle), "{show}");
    }
    assert_eq!(flow_lines(&dirs), vec!["priority=0 actions=NORMAL"]);
    ping(&hosts[0], &hosts[1]);

    // Without flows nothing crosses; two flows patch the ports together.
    ofctl(&dirs, &["del-flows", "br0"]);
    assert!(udp_ping(&hosts[0], &hosts[1], Duration::from_millis(700)).is_err());
    ofctl(&dirs, &["add-flow", "br0", "in_port=1,actions=output:2"]);
    ofctl(&dirs, &["add-flow", "br0", "in_port=2,actions=output:1"]);
    ping(&hosts[0], &hosts[1]);
    let flows = ctl_ok(BINS, &dirs, &["dpctl/dump-flows"]);
    assert!(flows.contains("in_port(2),eth(),"), "{flows}");

    // fail_mode secure: a bridge without controllers has no flows, also
    // after a restart; standalone brings NORMAL back.
    ctl_ok(BINS, &dirs, &["set-fail-mode", "br0", "secure"]);
    assert!(flow_lines(&dirs).is_empty(), "{:?}", flow_lines(&dirs));
    d.kill9();
    let _d = Daemon::start(BINS, &dirs, &sw);
    assert!(flow_lines(&dirs).is_empty(), "{:?}", flow_lines(&dirs));
    assert!(udp_ping(&hosts[0], &hosts[1], Duration::from_millis(700)).is_err());
    ctl_ok(BINS, &dirs, &["set-fail-mode", "br0", "standalone"]);
    assert_eq!(flow_lines(&dirs), vec!["priority=0 actions=NORMAL"]);
    ping(&hosts[0], &hosts[1]);
}

/// Container veths have TSO/GSO on: the sender's stack hands the switch
/// 64 KiB super-frames. The port segments them, so TCP runs at full size
/// without anyone turning offloads off.
#[test]
fn tcp_from_senders_with_tso_on_crosses_the_bridge() {
    if skip_unless_root("tcp_from_senders_with_tso_on_crosses_the_bridge") {
        return;
    }
    let Some(ethtool) = oxvs_tests::find_tool("ethtool") else {
        eprintln!("SKIP tcp_from_senders_with_tso_on...: ethtool is not installed");
        return;
    };
    let (sw, hosts) = topology(2);
    let e = ethtool.to_string_lossy().into_owned();
    for h in &hosts {
        let out =
            h.ns.exec(&[&e, "-K", "eth0", "tx", "on", "tso", "on", "gso", "on"]);
        assert!(out.status.success(), "ethtool: {out:?}");
    }
    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    for h in &hosts {
        ctl_ok(BINS, &dirs, &["add-port", "br0", &h.port]);
    }
    ping(&hosts[0], &hosts[1]);
    for (a, b) in [(0, 1), (1, 0)] {
        let t = tcp_transfer(&hosts[a], &hosts[b], 8 << 20)
            .unwrap_or_else(|e| panic!("TCP {a} -> {b} with TSO on: {e}"));
        assert!(t < Duration::from_secs(20), "8 MiB took {t:?}");
    }
}

/// A pktps meter with a drop band limits what crosses the bridge, and its
/// band counts what it dropped.
#[test]
fn a_meter_rate_limits_and_counts_its_drops() {
    if skip_unless_root("a_meter_rate_limits_and_counts_its_drops") {
        return;
    }
    if oxvs_tests::find_tool("ovs-ofctl").is_none() {
        eprintln!("SKIP a_meter_rate_limits...: ovs-ofctl is not installed");
        return;
    }
    let (_sw, hosts, dirs, _d) = bridge_of(2);
    ping(&hosts[0], &hosts[1]);
    let o13 = |args: &[&str]| {
        let mut v = vec!["-O", "OpenFlow13"];
        v.extend_from_slice(args);
        ofctl(&dirs, &v)
    };
    o13(&[
        "add-meter",
        "br0",
        "meter=1,pktps,burst,band=type=drop,rate=10,burst_size=10",
    ]);
    o13(&[
        "add-flow",
        "br0",
        "priority=100,udp,tp_dst=7000,actions=meter:1,normal",
    ]);
    let (to, from) = (hosts[1].addr, hosts[0].addr);
    let rx = hosts[1]
        .ns
        .run(move || std::net::UdpSocket::bind((to, 7000)))
        .expect("bind");
    rx.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let tx = hosts[0]
        .ns
        .run(move || std::net::UdpSocket::bind((from, 0)))
        .expect("bind");
    // 200 datagrams in well under a second: the burst (10) and a few
    // more at 10/s pass.
    for i in 0..200u32 {
        let _ = tx.send_to(&i.to_be_bytes(), (to, 7000));
    }
    let mut got = 0;
    let mut buf = [0u8; 16];
    while rx.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    assert!((9..=30).contains(&got), "{got} of 200 passed a 10/s meter");
    let stats = o13(&["meter-stats", "br0"]);
    let dropped: u64 = stats
        .split(" packet_count:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no band counter in {stats}"));
    assert!(dropped >= 150, "band dropped {dropped}: {stats}");
}

/// `ofproto/trace` shows the rules a flow goes through, the megaflow and
/// the datapath actions, and installs nothing.
#[test]
fn ofproto_trace_shows_the_path_through_the_tables() {
    if skip_unless_root("ofproto_trace_shows_the_path_through_the_tables") {
        return;
    }
    if oxvs_tests::find_tool("ovs-ofctl").is_none() {
        eprintln!("SKIP ofproto_trace...: ovs-ofctl is not installed");
        return;
    }
    let (_sw, _hosts, dirs, _d) = bridge_of(2);
    ofctl(
        &dirs,
        &[
            "add-flow",
            "br0",
            "priority=100,tcp,tp_dst=80,actions=resubmit(,1)",
        ],
    );
    ofctl(
        &dirs,
        &["add-flow", "br0", "table=1,priority=5,actions=output:2"],
    );
    let out = ctl_ok(
        BINS,
        &dirs,
        &[
            "ofproto/trace",
            "br0",
            "in_port=p1,tcp,nw_src=10.77.0.1,nw_dst=10.77.0.2,tp_dst=80",
        ],
    );
    assert!(out.contains("bridge(\"br0\")"), "{out}");
    assert!(
        out.contains(" 0. tcp,tp_dst=80, priority 100\n    resubmit(,1)"),
        "{out}"
    );
    assert!(out.contains(" 1. priority 5\n    output:2"), "{out}");
    assert!(out.contains("Megaflow: recirc_id(0),in_port(p1),"), "{out}");
    assert!(out.contains("tcp(dst=80)"), "{out}");
    assert!(out.contains("Datapath actions: p2"), "{out}");
    // A flow NORMAL handles; and nothing was installed by tracing.
    let out = ctl_ok(BINS, &dirs, &["ofproto/trace", "br0", "in_port=2,udp"]);
    assert!(
        out.contains("actions=NORMAL") || out.contains("NORMAL"),
        "{out}"
    );
    let flows = ctl_ok(BINS, &dirs, &["dpctl/dump-flows"]);
    assert!(!flows.contains("tcp(dst=80)"), "{flows}");
    // Bad input: a clear message, not a crash.
    let bad = ctl(
        BINS,
        &dirs,
        &["ofproto/trace", "br0", "in_port=1,tcp,tp_dst=99999"],
    );
    assert!(!bad.ok && bad.stderr.contains("ofproto/trace"), "{bad:?}");
    let bad = ctl(BINS, &dirs, &["ofproto/trace", "br0", "tcp"]);
    assert!(bad.stderr.contains("in_port"), "{bad:?}");
}

/// A running `ovs-ofctl monitor`, killed on drop; its output goes to a file.
struct Monitor {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Monitor {
    fn start(dirs: &Dirs, name: &str, args: &[&str]) -> Monitor {
        let log = dirs.rundir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).expect("monitor log");
        let tool = oxvs_tests::find_tool("ovs-ofctl").unwrap_or_else(|| "ovs-ofctl".into());
        let child = std::process::Command::new(tool)
            .env("OVS_RUNDIR", &dirs.rundir)
            .args(["-O", "OpenFlow13", "monitor", "br0"])
            .args(args)
            .stdout(f.try_clone().expect("clone"))
            .stderr(f)
            .spawn()
            .expect("ovs-ofctl monitor");
        Monitor { child, log }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for a PORT_STATUS message that says all of `needles`.
    fn saw(&self, needles: &[&str]) -> bool {
        wait_until(Duration::from_secs(5), || {
            self.text()
                .split("OFPT_PORT_STATUS")
                .any(|m| needles.iter().all(|n| m.contains(n)))
        })
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Controllers hear of ports added, changed (config by port-mod, link
/// state) and deleted, as OFPT_PORT_STATUS; a management-socket monitor
/// that set no miss_send_len hears nothing, as with Open vSwitch.
#[test]
fn port_changes_reach_controllers_as_port_status() {
    if skip_unless_root("port_changes_reach_controllers_as_port_status") {
        return;
    }
    if oxvs_tests::find_tool("ovs-ofctl").is_none() {
        eprintln!("SKIP port_changes_reach_controllers_as_port_status: ovs-ofctl is not installed (apt openvswitch-common)");
        return;
    }
    let (sw, _hosts, dirs, _d) = bridge_of(2);
    let m = Monitor::start(&dirs, "monitor", &["65534"]);
    let quiet = Monitor::start(&dirs, "quiet", &[]);
    // Both are connected once a port-mod's barrier returns... and the
    // monitor has set its miss_send_len: wait for its first message.
    std::thread::sleep(Duration::from_millis(500));

    ctl_ok(BINS, &dirs, &["add-port", "br0", "in9", "type=internal"]);
    assert!(m.saw(&["ADD: 3(in9)"]), "no ADD:\n{}", m.text());

    ofctl(&dirs, &["mod-port", "br0", "p1", "down"]);
    assert!(
        m.saw(&["MOD: 1(p1)", "PORT_DOWN"]),
        "no MOD for the port-mod:\n{}",
        m.text()
    );

    sw.ip(&["link", "del", "p2"]);
    assert!(
        m.saw(&["MOD: 2(p2)", "LINK_DOWN"]),
        "no MOD for the link:\n{}",
        m.text()
    );

    ctl_ok(BINS, &dirs, &["del-port", "br0", "in9"]);
    assert!(m.saw(&["DEL: 3(in9)"]), "no DEL:\n{}", m.text());

    assert!(
        !quiet.text().contains("OFPT_PORT_STATUS"),
        "a monitor without miss_send_len got port status:\n{}",
        quiet.text()
    );
}
