//! What the running kernel's tc can do, asked once at start-up: a
//! throwaway tap device gets a clsact qdisc, then a flower filter, then one
//! filter per action kind. A missing module answers ENOENT; anything else
//! (even EINVAL for our minimal parameters) means the kind exists.

use std::fmt;

use crate::flower::probe_action;
use crate::tc::{FilterSpec, TcError, TcSocket};
use netlink_packet_route::tc::TcFilterFlowerOption as K;

/// The action kinds oxvs may use, in the order `offload/show` lists them.
pub const ACTION_KINDS: [&str; 8] = [
    "mirred",
    "gact",
    "vlan",
    "pedit",
    "csum",
    "tunnel_key",
    "ct",
    "police",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `None` when flower works; else why not (the kernel's answer).
    pub flower_error: Option<String>,
    /// Action kinds the kernel has.
    pub actions: Vec<&'static str>,
}

impl Capabilities {
    pub fn flower(&self) -> bool {
        self.flower_error.is_none()
    }

    pub fn has(&self, kind: &str) -> bool {
        self.actions.contains(&kind)
    }

    /// A kernel with nothing: what oxvs assumes when it cannot even ask.
    pub fn none(why: impl Into<String>) -> Capabilities {
        Capabilities {
            flower_error: Some(why.into()),
            actions: Vec::new(),
        }
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.flower_error {
            Some(e) => write!(f, "cls_flower: no ({e})")?,
            None => write!(f, "cls_flower: yes")?,
        }
        for k in ACTION_KINDS {
            write!(f, "\nact_{k}: {}", if self.has(k) { "yes" } else { "no" })?;
        }
        Ok(())
    }
}

/// Probes the kernel. Needs CAP_NET_ADMIN (it creates a tap device).
pub fn probe() -> Capabilities {
    match probe_inner() {
        Ok(c) => c,
        Err(e) => Capabilities::none(e),
    }
}

fn probe_inner() -> Result<Capabilities, String> {
    let tap = oxvs_datapath::port::TapPort::open(
        "",
        oxvs_datapath::port::TapOptions {
            in_port: 0,
            up: false,
            persist: false,
        },
    )
    .map_err(|e| format!("cannot create a probe device: {e}"))?;
    let ifindex = crate::ifindex(oxvs_datapath::port::Port::name(&tap))
        .ok_or("the probe device has no ifindex")?;
    let mut sock = TcSocket::open().map_err(|e| e.to_string())?;
    sock.add_clsact(ifindex)
        .map_err(|e| format!("clsact qdisc: {e}"))?;
    let mut caps = Capabilities::default();
    let mut handle = 1;
    let mut try_filter = |sock: &mut TcSocket, options: Vec<K>| -> Result<(), TcError> {
        handle += 1;
        let spec = FilterSpec {
            ifindex,
            prio: 1,
            protocol: crate::tc::ETH_P_ALL,
            handle,
            options,
        };
        sock.add_filter(&spec)?;
        let _ = sock.del_filter(ifindex, 1, handle);
        Ok(())
    };
    match try_filter(&mut sock, vec![K::EthType(0x0800)]) {
        Ok(()) => {}
        Err(e) => {
            caps.flower_error = Some(e.to_string());
            return Ok(caps);
        }
    }
    for kind in ACTION_KINDS {
        let mut act = probe_action(kind);
        if kind == "mirred" {
            act = crate::flower::mirred(crate::flower::Redirect::Egress(ifindex), false, &[]);
        }
        act.tab = 1;
        match try_filter(&mut sock, vec![K::EthType(0x0800), K::Actions(vec![act])]) {
            Ok(()) => caps.actions.push(kind),
            Err(e) if e.errno() == Some(libc::ENOENT) => {}
            Err(_) => caps.actions.push(kind),
        }
    }
    // The tap, its qdisc and filters vanish when `tap` closes.
    drop(tap);
    Ok(caps)
}
