//! TC offload end to end: oxvsd between two namespace hosts with
//! `hw-offload=true` ports. On a kernel with cls_flower (the QEMU guest of
//! scripts/tc-vm, which CI runs this file in) established UDP and TCP flows
//! become flower filters, tc forwards their packets (the userspace port
//! does not see them, the receiver sees each once), OpenFlow counters
//! include tc's, a flow-mod's barrier removes the filter, a filter deleted
//! behind oxvs's back (a filter, or the whole ingress qdisc) comes back,
//! skip_sw falls back to software with the
//! kernel's reason, and stopping oxvsd leaves nothing behind. On a kernel
//! without flower (the development host) the same topology forwards in
//! software and `offload/show` says why nothing is offloaded.
//!
//! Needs root; prints SKIP and passes otherwise.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use oxvs_tests::{
    ctl_ok, find_tool, skip_unless_root, tcp_transfer, udp_ping, wait_until, Bins, Daemon, Dirs,
    Host, Netns,
};

const BINS: Bins = Bins {
    oxvsd: env!("CARGO_BIN_EXE_oxvsd-e2e"),
    oxvsctl: env!("CARGO_BIN_EXE_oxvsctl-e2e"),
};

fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 79, 0, n)
}

/// Sends `n` numbered datagrams from `from` to `to`:`port` (paced so that
/// no socket buffer overflows) and returns the numbers that arrived, with
/// duplicates counted.
fn udp_burst(from: &Host, to: &Host, src_port: u16, port: u16, n: u32) -> (HashSet<u32>, u32) {
    let (to_addr, from_addr) = (to.addr, from.addr);
    let rx = to
        .ns
        .run(move || UdpSocket::bind(SocketAddrV4::new(to_addr, port)))
        .expect("bind receiver");
    rx.set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    let receiver = std::thread::spawn(move || {
        let mut seen = HashSet::new();
        let mut dups = 0;
        let mut buf = [0u8; 64];
        while let Ok((len, _)) = rx.recv_from(&mut buf) {
            if len >= 4 {
                let seq = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
                if !seen.insert(seq) {
                    dups += 1;
                }
            }
        }
        (seen, dups)
    });
    let tx = from
        .ns
        .run(move || UdpSocket::bind(SocketAddrV4::new(from_addr, src_port)))
        .expect("bind sender");
    for seq in 0..n {
        let mut msg = [0u8; 32];
        msg[..4].copy_from_slice(&seq.to_be_bytes());
        let _ = tx.send_to(&msg, SocketAddrV4::new(to_addr, port));
        if seq % 20 == 19 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    receiver.join().expect("receiver")
}

/// The line of `offload/show` for the flow whose match contains all of
/// `needles`.
fn flow_line(show: &str, needles: &[&str]) -> Option<String> {
    show.lines()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .map(str::to_string)
}

fn tc(sw: &Netns, args: &[&str]) -> String {
    let tool = find_tool("tc").expect("tc (iproute2)");
    let mut cmd = vec![tool.to_str().expect("path")];
    cmd.extend_from_slice(args);
    let out = sw.exec(&cmd);
    assert!(
        out.status.success(),
        "tc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Handles of oxvs's flow filters (priority 1) on `dev`'s ingress.
fn flow_filters(sw: &Netns, dev: &str) -> Vec<String> {
    tc(sw, &["filter", "show", "dev", dev, "ingress"])
        .lines()
        .filter(|l| l.contains("pref 1 ") && l.contains("handle"))
        .filter_map(|l| {
            l.split_whitespace()
                .skip_while(|w| *w != "handle")
                .nth(1)
                .map(str::to_string)
        })
        .collect()
}

fn rx_packets(bins: Bins, dirs: &Dirs, port: &str) -> u64 {
    let show = ctl_ok(bins, dirs, &["--format", "json", "show"]);
    let v: serde_json::Value = serde_json::from_str(&show).expect("show json");
    let mut found = None;
    walk(&v, &mut |o| {
        if o.get("name").and_then(|n| n.as_str()) == Some(port) {
            if let Some(c) = o.get("stats").and_then(|c| c.get("rx_packets")) {
                found = c.as_u64();
            }
        }
    });
    found.unwrap_or_else(|| panic!("no counters for {port} in {show}"))
}

fn walk(v: &serde_json::Value, f: &mut impl FnMut(&serde_json::Map<String, serde_json::Value>)) {
    match v {
        serde_json::Value::Object(o) => {
            f(o);
            for x in o.values() {
                walk(x, f);
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                walk(x, f);
            }
        }
        _ => {}
    }
}

#[test]
fn established_flows_are_forwarded_by_tc_exactly_once() {
    if skip_unless_root("established_flows_are_forwarded_by_tc_exactly_once") {
        return;
    }
    if find_tool("ovs-ofctl").is_none() {
        eprintln!("SKIP established_flows...: ovs-ofctl is not installed (apt openvswitch-common)");
        return;
    }
    let (sw, hosts) = oxvs_tests::topology(2, addr);
    let mut hosts = hosts.into_iter();
    let (Some(h1), Some(h2)) = (hosts.next(), hosts.next()) else {
        panic!("two hosts")
    };
    for h in [&h1, &h2] {
        // Checksummed frames: tc forwards what the sender built as is.
        h.offloads_off();
    }
    let dirs = Dirs::new();
    let mut d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p1", "hw-offload=true"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p2", "hw-offload=true"]);
    let ofctl = |args: &[&str]| oxvs_tests::ofctl(&dirs, args);
    // UDP to port 6000 by an explicit rule, everything else by NORMAL.
    ofctl(&[
        "add-flow",
        "br0",
        "priority=100,udp,in_port=p1,tp_dst=6000,actions=output:p2",
    ]);
    udp_ping(&h1, &h2, Duration::from_secs(10)).expect("warm-up ping");

    let show = ctl_ok(BINS, &dirs, &["offload/show"]);
    if show.contains("tc flower: unavailable") {
        // The host kernel: software only, and says so for each flow.
        let (seen, dups) = udp_burst(&h1, &h2, 5000, 6000, 200);
        assert_eq!((seen.len(), dups), (200, 0), "software forwarding");
        let show = ctl_ok(BINS, &dirs, &["offload/show"]);
        let line =
            flow_line(&show, &["udp(dst=6000)"]).unwrap_or_else(|| panic!("no UDP flow in {show}"));
        assert!(
            line.contains("offloaded:no") && line.contains("tc flower is unavailable"),
            "{line}"
        );
        assert!(show.contains("offloading ports: none"), "{show}");
        let none = ctl_ok(BINS, &dirs, &["dpctl/dump-flows", "type=offloaded"]);
        assert!(none.trim().is_empty(), "{none}");
        let all = ctl_ok(BINS, &dirs, &["dpctl/dump-flows", "type=ovs"]);
        assert!(all.contains("udp(dst=6000)"), "{all}");
        return;
    }

    // 1. The UDP flow becomes established and goes to tc.
    let (seen, dups) = udp_burst(&h1, &h2, 5000, 6000, 100);
    assert_eq!((seen.len(), dups), (100, 0));
    assert!(
        wait_until(Duration::from_secs(5), || {
            let s = ctl_ok(BINS, &dirs, &["offload/show"]);
            flow_line(&s, &["udp(dst=6000)"]).is_some_and(|l| l.contains("dp:tc"))
        }),
        "UDP flow not offloaded: {}",
        ctl_ok(BINS, &dirs, &["offload/show"])
    );
    let in_tc = ctl_ok(BINS, &dirs, &["dpctl/dump-flows", "type=offloaded"]);
    assert!(in_tc.contains("udp(dst=6000)"), "{in_tc}");
    let in_ovs = ctl_ok(BINS, &dirs, &["dpctl/dump-flows", "type=ovs"]);
    assert!(!in_ovs.contains("udp(dst=6000)"), "{in_ovs}");
    let filters = tc(&sw, &["-s", "filter", "show", "dev", "p1", "ingress"]);
    assert!(filters.contains("ip_proto udp"), "{filters}");
    assert!(filters.contains("dst_port 6000"), "{filters}");
    assert!(
        filters.contains("mirred (Egress Redirect to device p2)"),
        "{filters}"
    );

    // 2. tc forwards it: the receiver sees every packet once, the userspace
    // port sees none of them, tc's counters and OpenFlow's include them.
    let rx_before = rx_packets(BINS, &dirs, "p1");
    let (seen, dups) = udp_burst(&h1, &h2, 5000, 6000, 1000);
    assert_eq!(seen.len(), 1000, "every packet arrived");
    assert_eq!(dups, 0, "no packet arrived twice");
    let rx_after = rx_packets(BINS, &dirs, "p1");
    assert!(
        rx_after - rx_before < 10,
        "the userspace port saw {} of tc's packets",
        rx_after - rx_before
    );
    assert!(
        wait_until(Duration::from_secs(5), || {
            let out = ofctl(&["dump-flows", "br0", "udp,tp_dst=6000"]);
            out.split("n_packets=")
                .nth(1)
                .and_then(|s| s.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n >= 1100)
        }),
        "OpenFlow counters lack tc's packets: {}",
        ofctl(&["dump-flows", "br0"])
    );

    // 3. TCP through NORMAL is offloaded too.
    tcp_transfer(&h1, &h2, 200_000).expect("tcp");
    tcp_transfer(&h1, &h2, 200_000).expect("tcp again");
    assert!(
        wait_until(Duration::from_secs(5), || {
            ctl_ok(BINS, &dirs, &["offload/show"])
                .lines()
                .any(|l| l.contains("proto=6,") && l.contains("dp:tc"))
        }),
        "no TCP flow offloaded: {}",
        ctl_ok(BINS, &dirs, &["offload/show"])
    );

    // 4. A filter deleted behind oxvs's back is reinstalled (while its
    // flow is in use; tc's last-use time keeps the megaflow alive).
    let (seen, _) = udp_burst(&h1, &h2, 5000, 6000, 50);
    assert_eq!(seen.len(), 50);
    let handles = flow_filters(&sw, "p1");
    assert!(!handles.is_empty());
    for h in &handles {
        tc(
            &sw,
            &[
                "filter", "del", "dev", "p1", "ingress", "pref", "1", "handle", h, "flower",
            ],
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || {
            tc(&sw, &["filter", "show", "dev", "p1", "ingress"]).contains("dst_port 6000")
        }),
        "UDP filter not healed: {}",
        tc(&sw, &["filter", "show", "dev", "p1", "ingress"])
    );
    assert!(!ctl_ok(BINS, &dirs, &["offload/show"]).contains("(healed 0)"));
    let (seen, dups) = udp_burst(&h1, &h2, 5000, 6000, 300);
    assert_eq!((seen.len(), dups), (300, 0), "after healing");

    // 4b. So is the whole ingress (qdisc, catch-all and flow filters): else
    // misses would go to the host's stack, not the switch.
    tc(&sw, &["qdisc", "del", "dev", "p1", "clsact"]);
    assert!(
        wait_until(Duration::from_secs(5), || {
            let f = tc(&sw, &["filter", "show", "dev", "p1", "ingress"]);
            f.contains("pref 65520") && f.contains("dst_port 6000")
        }),
        "ingress not restored: {}",
        tc(&sw, &["filter", "show", "dev", "p1", "ingress"])
    );
    let (seen, dups) = udp_burst(&h1, &h2, 5000, 6000, 300);
    assert_eq!((seen.len(), dups), (300, 0), "after restoring the ingress");
    // A new flow is a miss: it must reach the switch through the catch-all.
    let (seen, dups) = udp_burst(&h1, &h2, 5002, 6002, 20);
    assert_eq!((seen.len(), dups), (20, 0), "a miss after restoring");

    // 5. Deleting the rule removes its filter before the barrier reply
    // (ovs-ofctl waits for it): the next packets take NORMAL in software.
    ofctl(&[
        "--strict",
        "del-flows",
        "br0",
        "priority=100,udp,in_port=p1,tp_dst=6000",
    ]);
    let after = tc(&sw, &["filter", "show", "dev", "p1", "ingress"]);
    assert!(
        !after.contains("dst_port 6000"),
        "filter outlived the barrier: {after}"
    );

    // 6. skip_sw on veth: the kernel refuses, the flow stays in software
    // with the kernel's reason, traffic flows.
    ctl_ok(BINS, &dirs, &["set-dp", "tc-policy=skip_sw"]);
    ctl_ok(BINS, &dirs, &["dpctl/del-flows"]);
    let (seen, _) = udp_burst(&h1, &h2, 5001, 6001, 100);
    assert_eq!(seen.len(), 100);
    assert!(
        wait_until(Duration::from_secs(5), || {
            let s = ctl_ok(BINS, &dirs, &["offload/show"]);
            s.lines()
                .any(|l| l.contains("refused by the kernel") && l.contains("not supported"))
        }),
        "no skip_sw refusal: {}",
        ctl_ok(BINS, &dirs, &["offload/show"])
    );
    let (seen, dups) = udp_burst(&h1, &h2, 5001, 6001, 200);
    assert_eq!((seen.len(), dups), (200, 0), "software fallback");

    // 7. kill -9: tc keeps the dead switch's filters (the catch-all now
    // leads nowhere) until oxvsd comes back and replaces them.
    ctl_ok(BINS, &dirs, &["set-dp", "tc-policy=none"]);
    let (seen, _) = udp_burst(&h1, &h2, 5002, 6002, 50);
    assert_eq!(seen.len(), 50);
    d.kill9();
    assert!(tc(&sw, &["qdisc", "show", "dev", "p1"]).contains("clsact"));
    let mut d = Daemon::start(BINS, &dirs, &sw);
    udp_ping(&h1, &h2, Duration::from_secs(10)).expect("ping after restart");
    let (seen, dups) = udp_burst(&h1, &h2, 5002, 6002, 200);
    assert_eq!((seen.len(), dups), (200, 0), "after restart");
    let filters = tc(&sw, &["filter", "show", "dev", "p1", "ingress"]);
    assert!(filters.contains("ox-miss"), "{filters}");

    // 8. hw-offload off: the port's ingress is given back.
    ctl_ok(BINS, &dirs, &["set-port", "p1", "hw-offload=false"]);
    assert!(!tc(&sw, &["qdisc", "show", "dev", "p1"]).contains("clsact"));
    let (seen, dups) = udp_burst(&h1, &h2, 5002, 6002, 200);
    assert_eq!(
        (seen.len(), dups),
        (200, 0),
        "software after hw-offload=false"
    );
    ctl_ok(BINS, &dirs, &["set-port", "p1", "hw-offload=true"]);

    // 9. p2's device is deleted and comes back (a new ifindex): the port
    // goes down and up, and flows into it are offloaded to the new device.
    let (seen, _) = udp_burst(&h1, &h2, 5003, 6003, 50);
    assert_eq!(seen.len(), 50);
    sw.ip(&["link", "del", "p2"]);
    let port_state = |name: &str, state: &str| {
        ctl_ok(BINS, &dirs, &["show"])
            .split(&format!("Port {name}"))
            .nth(1)
            .is_some_and(|p| p.contains(&format!("link_state: {state}")))
    };
    assert!(
        wait_until(Duration::from_secs(10), || port_state("p2", "down")),
        "p2 not down: {}",
        ctl_ok(BINS, &dirs, &["show"])
    );
    h2.replug(&sw);
    h2.offloads_off();
    assert!(
        wait_until(Duration::from_secs(15), || port_state("p2", "up")),
        "p2 not back up: {}",
        ctl_ok(BINS, &dirs, &["show"])
    );
    h1.flush_neighbours();
    udp_ping(&h1, &h2, Duration::from_secs(10)).expect("ping after replug");
    let (seen, dups) = udp_burst(&h1, &h2, 5003, 6003, 200);
    assert_eq!((seen.len(), dups), (200, 0), "after the device came back");
    assert!(
        wait_until(Duration::from_secs(5), || {
            ctl_ok(BINS, &dirs, &["offload/show"]).lines().any(|l| {
                l.contains("in_port(p1)")
                    && l.contains("eth_type(0x0800)")
                    && l.contains("actions:p2,")
                    && l.contains("dp:tc")
            })
        }),
        "flow into the new p2 not offloaded: {}",
        ctl_ok(BINS, &dirs, &["offload/show"])
    );
    let (seen, dups) = udp_burst(&h1, &h2, 5003, 6003, 200);
    assert_eq!((seen.len(), dups), (200, 0), "through tc into the new p2");

    // 10. Stopping oxvsd leaves no qdisc, filter or miss device behind.
    ctl_ok(BINS, &dirs, &["exit"]);
    assert!(
        d.wait_exit(Duration::from_secs(10)).is_some(),
        "oxvsd did not stop"
    );
    for dev in ["p1", "p2"] {
        let q = tc(&sw, &["qdisc", "show", "dev", dev]);
        assert!(!q.contains("clsact"), "{dev}: {q}");
    }
    let links = sw.ip(&["link", "show"]);
    assert!(!links.contains("ox-miss"), "{links}");
}
