//! The daemon's pipeline with real traffic between namespace hosts: VLAN
//! access and trunk ports keep VLANs apart, and a drop rule takes effect as
//! soon as ovs-ofctl's barrier reply arrives (the megaflow cache is made
//! consistent before the reply), and deleting it restores traffic at once.

use std::net::Ipv4Addr;
use std::time::Duration;

use oxvs_tests::{ctl_ok, skip_unless_root, udp_ping, Bins, Daemon, Dirs, Host};

const BINS: Bins = Bins {
    oxvsd: env!("CARGO_BIN_EXE_oxvsd-e2e"),
    oxvsctl: env!("CARGO_BIN_EXE_oxvsctl-e2e"),
};

fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 78, 0, n)
}

fn reach(a: &Host, b: &Host) -> bool {
    udp_ping(a, b, Duration::from_millis(1500)).is_ok()
}

#[test]
fn vlan_access_and_trunk_ports_keep_vlans_apart() {
    if skip_unless_root("vlan_access_and_trunk_ports_keep_vlans_apart") {
        return;
    }
    let (sw, hosts) = oxvs_tests::topology(4, addr);
    // Host 4 sits on a trunk: its VLAN-10 address lives on eth0.10.
    let h4 = &hosts[3];
    h4.ns.ip(&["addr", "flush", "dev", "eth0"]);
    if oxvs_tests::try_ip(&[
        "-n",
        &h4.ns.name,
        "link",
        "add",
        "link",
        "eth0",
        "name",
        "eth0.10",
        "type",
        "vlan",
        "id",
        "10",
    ])
    .is_err()
    {
        eprintln!(
            "SKIP vlan_access_and_trunk_ports_keep_vlans_apart: the kernel has no 802.1Q support"
        );
        return;
    }
    h4.ns
        .ip(&["addr", "add", &format!("{}/24", addr(4)), "dev", "eth0.10"]);
    h4.ns.ip(&["link", "set", "eth0.10", "up"]);

    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p1", "tag=10"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p2", "tag=10"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p3", "tag=20"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p4", "trunks=10"]);

    assert!(reach(&hosts[0], &hosts[1]), "same access VLAN");
    assert!(
        reach(&hosts[0], &hosts[3]),
        "access VLAN 10 to the trunk's VLAN 10"
    );
    assert!(
        !reach(&hosts[0], &hosts[2]),
        "VLAN 10 must not reach VLAN 20"
    );
    assert!(
        !reach(&hosts[2], &hosts[1]),
        "VLAN 20 must not reach VLAN 10"
    );
}

#[test]
fn drop_rule_takes_effect_at_the_barrier_and_deleting_it_restores_traffic() {
    if skip_unless_root("drop_rule_takes_effect_at_the_barrier_and_deleting_it_restores_traffic") {
        return;
    }
    if oxvs_tests::find_tool("ovs-ofctl").is_none() {
        eprintln!("SKIP drop_rule_...: ovs-ofctl is not installed (apt openvswitch-common)");
        return;
    }
    let (sw, hosts) = oxvs_tests::topology(2, addr);
    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p1"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p2"]);
    let ofctl = |args: &[&str]| {
        oxvs_tests::ofctl(&dirs, args);
    };
    // Warm the caches: megaflows for this traffic are installed.
    for _ in 0..3 {
        assert!(reach(&hosts[0], &hosts[1]));
    }
    for round in 0..3 {
        // ovs-ofctl add-flow returns after the barrier reply: from then on
        // no packet may follow the old megaflows.
        ofctl(&["add-flow", "br0", "priority=100,udp,actions=drop"]);
        assert!(
            !reach(&hosts[0], &hosts[1]),
            "round {round}: UDP crossed after the drop rule's barrier"
        );
        ofctl(&["--strict", "del-flows", "br0", "priority=100,udp"]);
        assert!(
            reach(&hosts[0], &hosts[1]),
            "round {round}: traffic did not come back after the delete"
        );
    }
}
