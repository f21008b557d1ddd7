//! Text rendering of the daemon's answers, in the layouts Open vSwitch
//! users know (`ovs-vsctl show`, `ovs-appctl dpctl/dump-flows`,
//! `upcall/show`, `coverage/show`, `fdb/show`).

use std::fmt::Write;

use crate::odp::format_tcp_flags_short;
use crate::proto::{
    ControllerState, CoverageLine, CtlData, DpFlow, FdbEntry, LinkState, OffloadData, ShowData,
    ShowPort, UpcallData,
};
use oxvs_ofproto::bridge::OFPP_LOCAL;

/// The text `oxvsctl` prints for `data` (empty for a plain success).
pub fn render(data: &CtlData) -> String {
    match data {
        CtlData::Done { note } => note.as_ref().map(|n| format!("{n}\n")).unwrap_or_default(),
        CtlData::Names(v) => v.iter().map(|n| format!("{n}\n")).collect(),
        CtlData::FailMode(m) => m.map(|m| format!("{}\n", m.as_str())).unwrap_or_default(),
        CtlData::Datapath(d) => {
            let mut s = String::new();
            let _ = writeln!(s, "flow-limit={}", d.flow_limit);
            let _ = writeln!(s, "max-idle={}", d.max_idle);
            let _ = writeln!(s, "n-handler-threads={}", d.n_handler_threads);
            let _ = writeln!(s, "busy-poll={}", d.busy_poll);
            match d.emc_insert_inv_prob {
                Some(v) => {
                    let _ = writeln!(s, "emc-insert-inv-prob={v}");
                }
                None => {
                    let _ = writeln!(s, "emc-insert-inv-prob=(datapath default)");
                }
            }
            let _ = writeln!(s, "upcall-queue={}", d.upcall_queue);
            let _ = writeln!(s, "execute-queue={}", d.execute_queue);
            s
        }
        CtlData::Show(s) => render_show(s),
        CtlData::Flows(f) => render_flows(f),
        CtlData::Upcall(u) => render_upcall(u),
        CtlData::Offload(o) => render_offload(o),
        CtlData::Text(t) => t.clone(),
        CtlData::Coverage(c) => render_coverage(c),
        CtlData::Fdb(f) => render_fdb(f),
    }
}

fn ofport_name(no: u32) -> String {
    if no == OFPP_LOCAL {
        "LOCAL".into()
    } else {
        no.to_string()
    }
}

fn quote_if_needed(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        s.to_string()
    } else {
        format!("{s:?}")
    }
}

fn render_port(s: &mut String, p: &ShowPort) {
    let _ = writeln!(s, "        Port {}", quote_if_needed(&p.name));
    if let Some(t) = p.tag {
        let _ = writeln!(s, "            tag: {t}");
    }
    if let Some(tr) = &p.trunks {
        let list: Vec<String> = tr.iter().map(u16::to_string).collect();
        let _ = writeln!(s, "            trunks: [{}]", list.join(", "));
    }
    let _ = writeln!(s, "            Interface {}", quote_if_needed(&p.name));
    if p.port_type != crate::config::PortType::System {
        let _ = writeln!(s, "                type: {}", p.port_type.as_str());
    }
    let mut opts = Vec::new();
    if let Some(r) = &p.options.rxq_pcap {
        opts.push(format!("rxq_pcap={:?}", r.display().to_string()));
    }
    if let Some(t) = &p.options.pcap {
        opts.push(format!("pcap={:?}", t.display().to_string()));
    }
    if !opts.is_empty() {
        let _ = writeln!(s, "                options: {{{}}}", opts.join(", "));
    }
    let dp = p
        .dp_port
        .map(|d| format!(", dp_port: {d}"))
        .unwrap_or_default();
    let _ = writeln!(s, "                ofport: {}{dp}", ofport_name(p.ofport));
    match &p.link {
        LinkState::Up => {
            let _ = writeln!(s, "                link_state: up");
        }
        LinkState::Down(reason) => {
            let _ = writeln!(s, "                link_state: down");
            if let Some(r) = reason {
                let _ = writeln!(s, "                error: {r:?}");
            }
        }
        LinkState::Error(e) => {
            let _ = writeln!(s, "                error: {e:?}");
        }
    }
    if let Some(c) = &p.stats {
        let _ = writeln!(
            s,
            "                statistics: {{rx_packets={}, rx_bytes={}, rx_dropped={}, rx_errors={}, tx_packets={}, tx_bytes={}, tx_dropped={}, tx_errors={}}}",
            c.rx_packets, c.rx_bytes, c.rx_dropped, c.rx_errors, c.tx_packets, c.tx_bytes, c.tx_dropped, c.tx_errors
        );
    }
}

/// `ovs-vsctl show`'s layout, with oxvs's runtime state (datapath port
/// numbers, link state, counters) folded in.
pub fn render_show(d: &ShowData) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", d.datapath);
    for b in &d.bridges {
        let _ = writeln!(s, "    Bridge {}", quote_if_needed(&b.name));
        for c in &b.controllers {
            let state = match &c.state {
                ControllerState::Listening => " (listening)".to_string(),
                ControllerState::Failed(e) => format!(" (error: {e})"),
                ControllerState::NotImplemented(why) => format!(" (stored; {why})"),
                ControllerState::Active(_) => String::new(),
            };
            let _ = writeln!(s, "        Controller {:?}{state}", c.target);
            if let ControllerState::Active(a) = &c.state {
                if a.is_connected {
                    let _ = writeln!(s, "            is_connected: true");
                } else {
                    // What `ovs-vsctl list controller` shows as status.
                    let mut status = Vec::new();
                    if let Some(e) = &a.last_error {
                        status.push(format!("last_error={e:?}"));
                    }
                    if let Some(t) = a.sec_since_connect {
                        status.push(format!("sec_since_connect=\"{t}\""));
                    }
                    if let Some(t) = a.sec_since_disconnect {
                        status.push(format!("sec_since_disconnect=\"{t}\""));
                    }
                    status.push(format!("state={}", a.state));
                    let _ = writeln!(s, "            status: {{{}}}", status.join(", "));
                }
            }
        }
        if let Some(m) = b.fail_mode {
            let _ = writeln!(s, "        fail_mode: {}", m.as_str());
        }
        for p in &b.ports {
            render_port(&mut s, p);
        }
    }
    let _ = writeln!(s, "    oxvs_version: {:?}", d.version);
    s
}

/// One line per flow, `MATCH, packets:N, bytes:N, used:Xs[, flags:F], actions:A`.
pub fn render_flows(flows: &[DpFlow]) -> String {
    let mut s = String::new();
    for f in flows {
        let used = match f.used_ms_ago {
            Some(ms) => format!("{:.3}s", ms as f64 / 1000.0),
            None => "never".into(),
        };
        let _ = write!(
            s,
            "{}, packets:{}, bytes:{}, used:{used}",
            f.matches, f.packets, f.bytes
        );
        if f.tcp_flags != 0 {
            let _ = write!(s, ", flags:{}", format_tcp_flags_short(f.tcp_flags));
        }
        let _ = writeln!(s, ", actions:{}", f.actions);
    }
    s
}

pub fn render_offload(o: &OffloadData) -> String {
    let mut s = String::new();
    match &o.flower_error {
        None => {
            let _ = writeln!(s, "tc flower: available");
        }
        Some(e) => {
            let _ = writeln!(
                s,
                "tc flower: unavailable ({e}); every flow stays in software"
            );
        }
    }
    let _ = writeln!(
        s,
        "tc actions: {}",
        if o.actions.is_empty() {
            "none".to_string()
        } else {
            o.actions.join(", ")
        }
    );
    let _ = writeln!(s, "tc-policy: {}", o.tc_policy);
    let _ = writeln!(
        s,
        "offload after: {} packets and {} ms",
        o.min_packets, o.min_age_ms
    );
    let ports: Vec<String> = o
        .ports
        .iter()
        .map(|(n, i)| format!("{n} (ifindex {i})"))
        .collect();
    let _ = writeln!(
        s,
        "offloading ports: {}",
        if ports.is_empty() {
            "none".to_string()
        } else {
            ports.join(", ")
        }
    );
    let _ = writeln!(
        s,
        "filters: (installed {}) (removed {}) (refused {}) (kernel errors {}) (healed {}) (tc packets {})",
        o.installed, o.removed, o.refused, o.kernel_errors, o.healed, o.tc_packets
    );
    for f in &o.flows {
        let _ = write!(
            s,
            "{}, packets:{}, bytes:{}, actions:{}, offloaded:{}",
            f.flow.matches,
            f.flow.packets,
            f.flow.bytes,
            f.flow.actions,
            if f.placement == "none" { "no" } else { "yes" }
        );
        match &f.reason {
            Some(r) => {
                let _ = writeln!(s, ", reason:{r}");
            }
            None => {
                let _ = writeln!(s, ", dp:{}", f.placement);
            }
        }
    }
    s
}

pub fn render_upcall(u: &UpcallData) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}:", u.datapath);
    let _ = writeln!(
        s,
        "  flows         : (current {}) (limit {})",
        u.flows, u.flow_limit
    );
    let _ = writeln!(s, "  max idle      : {}ms", u.max_idle_ms);
    let _ = writeln!(
        s,
        "  upcalls       : (handled {}) (pending {}) (lost {})",
        u.upcalls_handled, u.upcalls_pending, u.upcalls_lost
    );
    let _ = writeln!(
        s,
        "  installs      : (ok {}) (failed {})",
        u.installs, u.install_failures
    );
    let _ = writeln!(
        s,
        "  revalidator   : (passes {}) (idle expired {}) (limit evicted {}) (stale removed {}) (orphans removed {})",
        u.revalidator_passes, u.idle_expired, u.limit_evicted, u.stale_removed, u.orphans_removed
    );
    let _ = writeln!(s, "  dump duration : {}ms", u.last_pass_us.div_ceil(1000));
    let _ = writeln!(s);
    let _ = writeln!(s, "  handlers: {}", u.handlers);
    s
}

pub fn render_coverage(lines: &[CoverageLine]) -> String {
    let mut s =
        String::from("Event coverage, avg rate over last: 5 seconds, last minute, last hour:\n");
    let mut zero = 0;
    for l in lines {
        if l.total == 0 {
            zero += 1;
            continue;
        }
        let _ = writeln!(
            s,
            "{:<24} {:>9.1}/sec {:>11.3}/sec {:>12.4}/sec   total: {}",
            l.name, l.rate_5s, l.rate_1m, l.rate_1h, l.total
        );
    }
    let _ = writeln!(s, "{zero} events never hit");
    s
}

pub fn render_fdb(entries: &[FdbEntry]) -> String {
    let mut s = String::from(" port  VLAN  MAC                Age\n");
    for e in entries {
        let _ = writeln!(
            s,
            "{:>5}  {:>4}  {}  {:>3}",
            ofport_name(e.port),
            e.vlan,
            e.mac,
            e.age_s
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_render_with_stats() {
        let f = DpFlow {
            matches: "recirc_id(0),in_port(2)".into(),
            packets: 3,
            bytes: 180,
            used_ms_ago: Some(512),
            tcp_flags: 0,
            actions: "3".into(),
        };
        assert_eq!(
            render_flows(std::slice::from_ref(&f)),
            "recirc_id(0),in_port(2), packets:3, bytes:180, used:0.512s, actions:3\n"
        );
        let never = DpFlow {
            used_ms_ago: None,
            packets: 0,
            bytes: 0,
            tcp_flags: 0x12,
            ..f
        };
        assert_eq!(
            render_flows(&[never]),
            "recirc_id(0),in_port(2), packets:0, bytes:0, used:never, flags:S., actions:3\n"
        );
    }
}
