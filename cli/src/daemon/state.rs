//! The daemon state task: owns the configuration and the runtime pieces
//! (bridges, port numbers, the runtime's threads), applies each
//! [`CtlRequest`] and answers it. Nothing else changes the state.
//!
//! A change is made in three steps: check it and open whatever it needs
//! (devices, files), write the new configuration, then switch it on. A
//! failure in the first two leaves the running switch and the stored file
//! as they were.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oxvs_datapath::flow_key::fmt_mac;
use oxvs_datapath::megaflow::Megaflow;
use oxvs_datapath::port::Port;
use oxvs_offload::Placement;
use oxvs_ofproto::bridge::{Bridge, BridgePort, VlanMode, OFPP_LOCAL};
use oxvs_ofproto::bridge_view::BridgeView;
use oxvs_ofproto::ofp::action::{port as ofp_port, Action as OfAction};
use oxvs_ofproto::ofp::flow_msg::FlowModCommand;

use super::openflow::{
    flush_all, wildcard_flow_mod, ActiveController, FailOpen, Listener, ListenerState, PortInfo,
};
use super::poll::PortStatus;
use super::ports::open_port;
use super::runtime::Runtime;
use super::Paths;
use crate::config::{
    check_ifname, BridgeConfig, Config, DpSetting, FailMode, PortConfig, PortOptions, PortType,
    OFPORT_MAX,
};
use crate::odp;
use crate::proto::{
    ActiveControllerState, ControllerState, CoverageLine, CtlData, CtlError, CtlRequest, DpFlow,
    ErrorKind, FdbEntry, LinkState, OffloadData, OffloadFlow, PortCounters, PortSpec, ShowBridge,
    ShowController, ShowData, ShowPort, UpcallData,
};

/// The datapath's name in `show`, `upcall/show` (Open vSwitch's userspace
/// datapath is `netdev@ovs-netdev`).
pub const DATAPATH_NAME: &str = "netdev@oxvs-netdev";
/// A datapath port number is not reused for this long after its port went,
/// so that a megaflow translated just before the removal cannot reach a
/// new port that took the number.
const DP_PORT_QUARANTINE: Duration = Duration::from_secs(10);
/// How often a port that is down or failed to open is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(3);
/// Coverage history kept (one sample a second).
const COVERAGE_HISTORY: usize = 3601;

/// Where a port stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Status {
    Up,
    Down(Option<String>),
    Error(String),
}

struct PortRt {
    ofport: u32,
    port_type: PortType,
    options: PortOptions,
    vlan: VlanMode,
    dp_port: Option<u32>,
    status: Status,
    last_try: Instant,
}

struct BridgeRt {
    br: Arc<Bridge>,
    /// What OpenFlow sessions on this bridge see.
    view: Arc<BridgeView>,
    /// By port name; the LOCAL port is named after the bridge.
    ports: BTreeMap<String, PortRt>,
    /// OpenFlow listeners by target (the management socket and passive
    /// controllers); dropping one stops it.
    listeners: BTreeMap<String, Result<Listener, String>>,
    /// Active controllers by target; dropping one disconnects it.
    active: BTreeMap<String, Active>,
    /// Fail-open (standalone bridges with controllers).
    fail_open: Arc<FailOpen>,
}

/// An active controller target as the bridge runs it.
enum Active {
    Running(ActiveController),
    /// Not connected to (`ssl:`, or a target that does not parse): why,
    /// and since when (it counts as unreachable for fail-open).
    Refused(String, Instant),
}

/// Passive controller targets, which the bridge serves by listening.
fn is_passive(target: &str) -> bool {
    target.starts_with("ptcp:") || target.starts_with("punix:") || target.starts_with("pssl:")
}

/// Why a controller target is stored but not used, if it is.
fn unsupported_target(target: &str) -> Option<String> {
    (target.starts_with("ssl:") || target.starts_with("pssl:"))
        .then(|| "SSL/TLS connections are not supported by oxvs".to_string())
}

/// A MAC for ports without one (pcap): locally administered, from the name.
fn name_mac(name: &str) -> [u8; 6] {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let b = h.to_be_bytes();
    [0x02, b[3], b[4], b[5], b[6], b[7]]
}

/// Datapath port numbers: global to the daemon, lowest free first.
#[derive(Default)]
struct DpAlloc {
    used: BTreeSet<u32>,
    quarantine: Vec<(u32, Instant)>,
}

impl DpAlloc {
    fn alloc(&mut self) -> u32 {
        let now = Instant::now();
        self.quarantine
            .retain(|(_, t)| now.duration_since(*t) < DP_PORT_QUARANTINE);
        let mut n = 1;
        while self.used.contains(&n) || self.quarantine.iter().any(|(q, _)| *q == n) {
            n += 1;
        }
        self.used.insert(n);
        n
    }

    fn release(&mut self, n: u32) {
        if self.used.remove(&n) {
            self.quarantine.push((n, Instant::now()));
        }
    }
}

/// Counter history for `coverage/show` rates.
struct Coverage {
    samples: VecDeque<(Instant, Vec<u64>)>,
}

fn vlan_mode(tag: Option<u16>, trunks: &Option<Vec<u16>>) -> VlanMode {
    match tag {
        Some(t) => VlanMode::Access(t),
        None => VlanMode::Trunk(trunks.clone()),
    }
}

fn done() -> Result<CtlData, CtlError> {
    Ok(CtlData::Done { note: None })
}

pub struct State {
    cfg: Config,
    cfg_path: PathBuf,
    rundir: PathBuf,
    rt: Runtime,
    bridges: BTreeMap<String, BridgeRt>,
    alloc: DpAlloc,
    coverage: Coverage,
}

impl State {
    /// Builds the running switch from `cfg`. Devices that cannot be opened
    /// are reported by `show` and tried again later; the stored file is not
    /// touched.
    pub fn restore(cfg: Config, paths: Paths, rt: Runtime) -> State {
        let mut st = State {
            cfg: cfg.clone(),
            cfg_path: paths.config(),
            rundir: paths.rundir,
            rt,
            bridges: BTreeMap::new(),
            alloc: DpAlloc::default(),
            coverage: Coverage {
                samples: VecDeque::new(),
            },
        };
        for b in &cfg.bridges {
            let local = st.open_new(&b.name, PortType::Internal, &PortOptions::default());
            st.activate_bridge(&b.name, local);
            for p in &b.ports {
                let opened = st.open_new(&p.name, p.port_type, &p.options);
                st.activate_port(&b.name, p, opened);
            }
        }
        for (name, b) in &st.bridges {
            for (pname, p) in &b.ports {
                if let Status::Error(e) = &p.status {
                    tracing::warn!(bridge = %name, port = %pname, "{e}");
                }
            }
        }
        st.sample_coverage();
        st
    }

    /// Opens a device under a fresh datapath port number.
    fn open_new(
        &mut self,
        name: &str,
        ty: PortType,
        opts: &PortOptions,
    ) -> Result<(u32, Box<dyn Port>), String> {
        let dp = self.alloc.alloc();
        match open_port(name, ty, opts, dp, &self.rt.offload) {
            Ok(p) => Ok((dp, p)),
            Err(e) => {
                self.alloc.release(dp);
                Err(e)
            }
        }
    }

    /// Switches a bridge on, with its LOCAL port if it could be opened.
    fn activate_bridge(&mut self, name: &str, local: Result<(u32, Box<dyn Port>), String>) {
        let br = Bridge::new(name);
        // Open vSwitch's datapath ID: the LOCAL port's MAC.
        let mac = crate::sys::interface_mac(name).unwrap_or_else(|| name_mac(name));
        let dpid = mac.iter().fold(0u64, |a, b| a << 8 | *b as u64);
        let view = self.rt.openflow.view(br.clone(), self.rt.dp.clone(), dpid);
        // A secure bridge, or one with controllers, starts without flows;
        // a standalone one without controllers keeps the NORMAL flow every
        // new bridge has (Open vSwitch's connmgr_flushed).
        let cfg = self.cfg.bridge(name);
        if cfg.is_some_and(|b| b.fail_mode == Some(FailMode::Secure) || !b.controllers.is_empty()) {
            let _ = br.apply_flow_mod(&flush_all());
        }
        let fail_open = Arc::new(FailOpen::new(view.clone()));
        // Attached before any of its ports can send an upcall.
        self.rt.dispatcher.attach(br.clone());
        self.bridges.insert(
            name.to_string(),
            BridgeRt {
                br,
                view,
                ports: BTreeMap::new(),
                listeners: BTreeMap::new(),
                active: BTreeMap::new(),
                fail_open,
            },
        );
        self.update_listeners(name);
        self.update_fail_open(name);
        let local_cfg = PortConfig {
            name: name.to_string(),
            ofport: OFPP_LOCAL,
            port_type: PortType::Internal,
            options: PortOptions::default(),
            tag: None,
            trunks: None,
        };
        self.activate_port(name, &local_cfg, local);
    }

    /// Switches a port on: the bridge learns it first, then the poll thread
    /// gets the device (so no upcall comes from a port no bridge owns).
    fn activate_port(
        &mut self,
        bridge: &str,
        pc: &PortConfig,
        opened: Result<(u32, Box<dyn Port>), String>,
    ) {
        let Some(b) = self.bridges.get_mut(bridge) else {
            return;
        };
        let mut rt = PortRt {
            ofport: pc.ofport,
            port_type: pc.port_type,
            options: pc.options.clone(),
            vlan: vlan_mode(pc.tag, &pc.trunks),
            dp_port: None,
            status: Status::Up,
            last_try: Instant::now(),
        };
        match opened {
            Ok((dp, port)) => {
                let bp = BridgePort {
                    ofp_port: pc.ofport,
                    dp_port: dp,
                    name: pc.name.clone(),
                    vlan: rt.vlan.clone(),
                };
                match b.br.add_port(bp) {
                    Ok(()) => {
                        rt.dp_port = Some(dp);
                        self.rt.poll.add(dp, port);
                    }
                    Err(e) => {
                        self.alloc.release(dp);
                        rt.status = Status::Error(format!("bridge refused the port: {e}"));
                    }
                }
            }
            Err(e) => rt.status = Status::Error(e),
        }
        b.ports.insert(pc.name.clone(), rt);
        self.revalidate_now(bridge);
    }

    /// Switches a port off and closes its device.
    fn deactivate_port(&mut self, bridge: &str, name: &str) {
        let Some(b) = self.bridges.get_mut(bridge) else {
            return;
        };
        let Some(p) = b.ports.remove(name) else {
            return;
        };
        if let Some(dp) = p.dp_port {
            drop(self.rt.poll.remove(dp));
            b.br.del_port(p.ofport);
            self.rt.offload.lock().set_output(dp, None);
            self.rt.purge_port_flows(dp);
            self.alloc.release(dp);
        }
        self.revalidate_now(bridge);
    }

    /// Starts and stops `bridge`'s OpenFlow listeners and connections to
    /// match the configuration: its management socket, its passive
    /// controllers (listened on, with the inactivity probe) and its active
    /// ones (connected to, reconnecting with backoff).
    fn update_listeners(&mut self, bridge: &str) {
        let mgmt = format!(
            "punix:{}",
            self.rundir.join(format!("{bridge}.mgmt")).display()
        );
        let targets = self
            .cfg
            .bridge(bridge)
            .map(|b| b.controllers.clone())
            .unwrap_or_default();
        let Some(b) = self.bridges.get_mut(bridge) else {
            return;
        };
        let passive: Vec<&String> = targets.iter().filter(|c| is_passive(c)).collect();
        let active: Vec<&String> = targets.iter().filter(|c| !is_passive(c)).collect();
        b.listeners
            .retain(|t, _| *t == mgmt || passive.contains(&t));
        b.active.retain(|t, _| active.contains(&t));
        let events: Arc<dyn oxvs_ofproto::server::ConnEvents> = b.fail_open.clone();
        if !b.listeners.contains_key(&mgmt) {
            // Management connections (ovs-ofctl) are no controllers: no
            // probe, and they do not end fail-open (Open vSwitch's service
            // connections).
            let l = self
                .rt
                .openflow
                .listen(&mgmt, &self.rundir, b.view.clone(), None, None);
            if let Err(e) = &l {
                tracing::warn!(bridge, target = %mgmt, "cannot listen: {e}");
            }
            b.listeners.insert(mgmt.clone(), l);
        }
        for t in passive {
            if b.listeners.contains_key(t) {
                continue;
            }
            let l = match unsupported_target(t) {
                Some(why) => Err(why),
                None => self.rt.openflow.listen(
                    t,
                    &self.rundir,
                    b.view.clone(),
                    Some(oxvs_ofproto::server::DEFAULT_PROBE_MS),
                    Some(events.clone()),
                ),
            };
            if let Err(e) = &l {
                tracing::warn!(bridge, target = %t, "cannot listen: {e}");
            }
            b.listeners.insert(t.clone(), l);
        }
        for t in active {
            if b.active.contains_key(t) {
                continue;
            }
            let c = match unsupported_target(t) {
                Some(why) => Err(why),
                None => {
                    self.rt
                        .openflow
                        .connect(t, &self.rundir, b.view.clone(), Some(events.clone()))
                }
            };
            let c = match c {
                Ok(c) => Active::Running(c),
                Err(e) => {
                    tracing::warn!(bridge, target = %t, "not connecting: {e}");
                    Active::Refused(e, Instant::now())
                }
            };
            b.active.insert(t.clone(), c);
        }
    }

    /// What Open vSwitch does when a bridge without controllers changes
    /// fail mode: flush its flows, and give a standalone bridge the NORMAL
    /// flow back. With controllers the flows stay; only fail-open follows
    /// the mode.
    fn apply_fail_mode(&self, bridge: &str) {
        self.update_fail_open(bridge);
        let Some(cfg) = self.cfg.bridge(bridge) else {
            return;
        };
        if !cfg.controllers.is_empty() {
            return;
        }
        self.flush_flows(bridge);
    }

    /// Open vSwitch's flush of a bridge's flows (`ofproto_flush_flows`
    /// and `connmgr_flushed`): every flow goes; a standalone bridge
    /// without controllers gets `priority=0 actions=NORMAL` back.
    fn flush_flows(&self, bridge: &str) {
        let Some(cfg) = self.cfg.bridge(bridge) else {
            return;
        };
        let Some(b) = self.bridges.get(bridge) else {
            return;
        };
        let _ = b.br.apply_flow_mod(&flush_all());
        if cfg.controllers.is_empty() && cfg.fail_mode != Some(FailMode::Secure) {
            let normal = wildcard_flow_mod(
                FlowModCommand::Add,
                0,
                vec![OfAction::output(ofp_port::NORMAL)],
            );
            if let Err(e) = b.br.apply_flow_mod(&normal) {
                tracing::warn!(bridge, error = ?e, "cannot restore the NORMAL flow");
            }
        }
        self.revalidate_now(bridge);
    }

    /// Fail-open is on for a standalone bridge with controllers.
    fn update_fail_open(&self, bridge: &str) {
        let (Some(cfg), Some(b)) = (self.cfg.bridge(bridge), self.bridges.get(bridge)) else {
            return;
        };
        b.fail_open
            .set_enabled(!cfg.controllers.is_empty() && cfg.fail_mode != Some(FailMode::Secure));
    }

    /// Applies a new controller list: connections and listeners follow it,
    /// and, as in Open vSwitch, the flows are flushed when the bridge gains
    /// its first controller or loses its last one.
    fn set_controllers(&mut self, bridge: &str, targets: Vec<String>) -> Result<CtlData, CtlError> {
        let had = !self.bridge_cfg(bridge)?.controllers.is_empty();
        let mut new = self.cfg.clone();
        if let Some(b) = new.bridge_mut(bridge) {
            b.controllers = targets.clone();
        }
        new.validate().map_err(CtlError::bad)?;
        self.commit(new)?;
        self.update_listeners(bridge);
        // Fail-open first: leaving it removes its flow before the flush.
        self.update_fail_open(bridge);
        let has = !targets.is_empty();
        if had != has {
            self.flush_flows(bridge);
        }
        let refused: Vec<String> = targets
            .iter()
            .filter(|t| unsupported_target(t).is_some())
            .cloned()
            .collect();
        let note = (!refused.is_empty()).then(|| {
            format!(
                "stored, but oxvs does not support SSL/TLS: {} will not be used",
                refused.join(", ")
            )
        });
        Ok(CtlData::Done { note })
    }

    /// Once a second: enters fail-open where the controllers have been
    /// unreachable long enough.
    fn run_fail_open(&self) {
        for b in self.bridges.values() {
            b.fail_open.run(|| {
                // The least failure among the active controllers: one
                // that still admits the switch keeps it closed.
                b.active
                    .values()
                    .map(|a| match a {
                        Active::Running(c) => c.status.failure_duration(),
                        Active::Refused(_, since) => since.elapsed(),
                    })
                    .min()
            });
        }
    }

    /// Tells OpenFlow sessions the ports' MACs, link states and counters.
    fn publish_port_infos(&self, status: &[PortStatus]) {
        let by_dp: HashMap<u32, &PortStatus> = status.iter().map(|s| (s.dp_port, s)).collect();
        let mut m = HashMap::new();
        for b in self.bridges.values() {
            for (name, p) in &b.ports {
                let Some(dp) = p.dp_port else { continue };
                let st = by_dp.get(&dp);
                let mac = match p.port_type {
                    PortType::Pcap => name_mac(name),
                    _ => crate::sys::interface_mac(name).unwrap_or_else(|| name_mac(name)),
                };
                m.insert(
                    dp,
                    PortInfo {
                        mac,
                        up: p.status == Status::Up && st.is_some_and(|s| s.up),
                        stats: st.map(|s| s.stats).unwrap_or_default(),
                    },
                );
            }
        }
        self.rt.openflow.infos.replace(m);
        // Ports added, deleted, or whose link or config changed: tell the
        // controllers (OFPT_PORT_STATUS).
        for b in self.bridges.values() {
            oxvs_ofproto::ofconn::SwitchView::report_port_changes(&*b.view, None);
        }
    }

    /// Re-translates `bridge`'s megaflows now rather than at the next
    /// revalidator pass, so that a flood computed before a port change does
    /// not miss (or still reach) that port for up to half a second.
    fn revalidate_now(&self, bridge: &str) {
        self.publish_port_infos(&self.rt.poll.list());
        if let Some(b) = self.bridges.get(bridge) {
            let active = 2 * super::runtime::REVALIDATE_INTERVAL.as_millis() as u64;
            b.br.revalidate(&self.rt.dp, self.rt.clock.now_ms(), active);
        }
    }

    fn commit(&mut self, new: Config) -> Result<(), CtlError> {
        new.store(&self.cfg_path)
            .map_err(|e| CtlError::failed(e.to_string()))?;
        self.cfg = new;
        Ok(())
    }

    fn bridge_cfg(&self, name: &str) -> Result<&BridgeConfig, CtlError> {
        self.cfg
            .bridge(name)
            .ok_or_else(|| CtlError::not_found(format!("no bridge named {name}")))
    }

    /// Applies one request. `Exit` is answered here and acted on by the caller.
    pub fn handle(&mut self, req: CtlRequest) -> Result<CtlData, CtlError> {
        match req {
            CtlRequest::AddBr { bridge, may_exist } => self.add_br(bridge, may_exist),
            CtlRequest::DelBr { bridge, if_exists } => self.del_br(bridge, if_exists),
            CtlRequest::ListBr => Ok(CtlData::Names(
                self.cfg.bridges.iter().map(|b| b.name.clone()).collect(),
            )),
            CtlRequest::AddPort {
                bridge,
                port,
                may_exist,
            } => self.add_port(bridge, port, may_exist),
            CtlRequest::DelPort {
                bridge,
                port,
                if_exists,
            } => self.del_port(bridge, port, if_exists),
            CtlRequest::ListPorts { bridge } => {
                let mut v: Vec<String> = self
                    .bridge_cfg(&bridge)?
                    .ports
                    .iter()
                    .map(|p| p.name.clone())
                    .collect();
                v.sort();
                Ok(CtlData::Names(v))
            }
            CtlRequest::SetController { bridge, targets } => self.set_controllers(&bridge, targets),
            CtlRequest::DelController { bridge } => {
                self.set_controllers(&bridge, Vec::new())?;
                done()
            }
            CtlRequest::GetController { bridge } => Ok(CtlData::Names(
                self.bridge_cfg(&bridge)?.controllers.clone(),
            )),
            CtlRequest::SetFailMode { bridge, mode } => self.set_fail_mode(bridge, Some(mode)),
            CtlRequest::DelFailMode { bridge } => self.set_fail_mode(bridge, None),
            CtlRequest::GetFailMode { bridge } => {
                Ok(CtlData::FailMode(self.bridge_cfg(&bridge)?.fail_mode))
            }
            CtlRequest::SetDp { settings } => self.set_dp(settings),
            CtlRequest::GetDp => Ok(CtlData::Datapath(self.cfg.datapath.clone())),
            CtlRequest::Show => Ok(CtlData::Show(self.show())),
            CtlRequest::DumpFlows { names, offloaded } => {
                Ok(CtlData::Flows(self.dump_flows(names, offloaded)))
            }
            CtlRequest::DelFlows => {
                let n = self.rt.dp.megaflows.clear();
                tracing::info!(flows = n, "dpctl/del-flows");
                done()
            }
            CtlRequest::UpcallShow => Ok(CtlData::Upcall(self.upcall_show())),
            CtlRequest::OffloadShow => Ok(CtlData::Offload(self.offload_show())),
            CtlRequest::OfprotoTrace { bridge, flow } => self.ofproto_trace(&bridge, &flow),
            CtlRequest::SetPort { port, hw_offload } => self.set_port(port, hw_offload),
            CtlRequest::CoverageShow => Ok(CtlData::Coverage(self.coverage_show())),
            CtlRequest::FdbShow { bridge } => {
                self.bridge_cfg(&bridge)?;
                let entries = self
                    .bridges
                    .get(&bridge)
                    .map(|b| b.br.mac_table())
                    .unwrap_or_default();
                Ok(CtlData::Fdb(
                    entries
                        .into_iter()
                        .map(|e| FdbEntry {
                            port: e.ofp_port,
                            vlan: e.vlan,
                            mac: fmt_mac(e.mac),
                            age_s: e.age_s,
                        })
                        .collect(),
                ))
            }
            CtlRequest::FdbFlush { bridge } => {
                match bridge {
                    Some(name) => {
                        self.bridge_cfg(&name)?;
                        if let Some(b) = self.bridges.get(&name) {
                            b.br.flush_macs();
                        }
                    }
                    None => self.bridges.values().for_each(|b| b.br.flush_macs()),
                }
                done()
            }
            CtlRequest::Exit => done(),
        }
    }

    fn add_br(&mut self, name: String, may_exist: bool) -> Result<CtlData, CtlError> {
        check_ifname("bridge", &name).map_err(CtlError::bad)?;
        if self.cfg.bridge(&name).is_some() {
            return if may_exist {
                done()
            } else {
                Err(CtlError::exists(format!("bridge {name} already exists")))
            };
        }
        if let Some((b, _)) = self.cfg.find_port(&name) {
            return Err(CtlError::exists(format!(
                "{name} is already a port of bridge {}",
                b.name
            )));
        }
        let mut new = self.cfg.clone();
        new.bridges.push(BridgeConfig::new(&name));
        new.validate().map_err(CtlError::bad)?;
        let local = self
            .open_new(&name, PortType::Internal, &PortOptions::default())
            .map_err(|e| CtlError::failed(format!("cannot create bridge {name}: {e}")))?;
        if let Err(e) = self.commit(new) {
            self.alloc.release(local.0);
            return Err(e);
        }
        self.activate_bridge(&name, Ok(local));
        tracing::info!(bridge = %name, "added bridge");
        done()
    }

    fn del_br(&mut self, name: String, if_exists: bool) -> Result<CtlData, CtlError> {
        if self.cfg.bridge(&name).is_none() {
            return if if_exists {
                done()
            } else {
                Err(CtlError::not_found(format!("no bridge named {name}")))
            };
        }
        let mut new = self.cfg.clone();
        new.bridges.retain(|b| b.name != name);
        self.commit(new)?;
        let ports: Vec<String> = self
            .bridges
            .get(&name)
            .map(|b| b.ports.keys().cloned().collect())
            .unwrap_or_default();
        for p in ports {
            self.deactivate_port(&name, &p);
        }
        self.rt.dispatcher.detach(&name);
        self.bridges.remove(&name);
        tracing::info!(bridge = %name, "deleted bridge");
        done()
    }

    fn add_port(
        &mut self,
        bridge: String,
        spec: PortSpec,
        may_exist: bool,
    ) -> Result<CtlData, CtlError> {
        self.bridge_cfg(&bridge)?;
        check_ifname("port", &spec.name).map_err(CtlError::bad)?;
        if let Some((b, _)) = self.cfg.find_port(&spec.name) {
            return if may_exist && b.name == bridge {
                done()
            } else {
                Err(CtlError::exists(format!(
                    "port {} already exists on bridge {}",
                    spec.name, b.name
                )))
            };
        }
        if self.cfg.bridge(&spec.name).is_some() {
            return Err(CtlError::exists(format!(
                "{0} already exists: it is bridge {0}'s LOCAL port",
                spec.name
            )));
        }
        let ofport = match spec.ofport {
            Some(n) => {
                if n == 0 || n > OFPORT_MAX {
                    return Err(CtlError::bad(format!(
                        "OpenFlow port number {n} is out of range (1-{OFPORT_MAX})"
                    )));
                }
                if let Some(p) = self
                    .bridge_cfg(&bridge)?
                    .ports
                    .iter()
                    .find(|p| p.ofport == n)
                {
                    return Err(CtlError::exists(format!(
                        "OpenFlow port number {n} is already used by port {} on bridge {bridge}",
                        p.name
                    )));
                }
                n
            }
            None => {
                let used: BTreeSet<u32> = self
                    .bridge_cfg(&bridge)?
                    .ports
                    .iter()
                    .map(|p| p.ofport)
                    .collect();
                (1..=OFPORT_MAX)
                    .find(|n| !used.contains(n))
                    .ok_or_else(|| {
                        CtlError::failed(format!("bridge {bridge} has no free port number"))
                    })?
            }
        };
        let pc = PortConfig {
            name: spec.name.clone(),
            ofport,
            port_type: spec.port_type,
            options: spec.options,
            tag: spec.tag,
            trunks: spec.trunks,
        };
        let mut new = self.cfg.clone();
        if let Some(b) = new.bridge_mut(&bridge) {
            b.ports.push(pc.clone());
        }
        new.validate().map_err(CtlError::bad)?;
        let opened = self
            .open_new(&pc.name, pc.port_type, &pc.options)
            .map_err(CtlError::failed)?;
        if let Err(e) = self.commit(new) {
            self.alloc.release(opened.0);
            return Err(e);
        }
        self.activate_port(&bridge, &pc, Ok(opened));
        tracing::info!(bridge = %bridge, port = %pc.name, ofport, "added port");
        done()
    }

    fn del_port(
        &mut self,
        bridge: Option<String>,
        port: String,
        if_exists: bool,
    ) -> Result<CtlData, CtlError> {
        if let Some(b) = &bridge {
            self.bridge_cfg(b)?;
        }
        let owner = match self.cfg.find_port(&port) {
            Some((b, _)) => b.name.clone(),
            None => {
                if self.cfg.bridge(&port).is_some() {
                    return Err(CtlError::bad(format!(
                        "{port} is the LOCAL port of bridge {port}; it goes with del-br {port}"
                    )));
                }
                return if if_exists {
                    done()
                } else {
                    Err(CtlError::not_found(match &bridge {
                        Some(b) => format!("bridge {b} has no port named {port}"),
                        None => format!("no port named {port}"),
                    }))
                };
            }
        };
        if let Some(b) = &bridge {
            if *b != owner {
                return Err(CtlError::not_found(format!(
                    "bridge {b} has no port named {port} (it is on bridge {owner})"
                )));
            }
        }
        let mut new = self.cfg.clone();
        if let Some(b) = new.bridge_mut(&owner) {
            b.ports.retain(|p| p.name != port);
        }
        self.commit(new)?;
        self.deactivate_port(&owner, &port);
        tracing::info!(bridge = %owner, port = %port, "deleted port");
        done()
    }

    fn set_fail_mode(
        &mut self,
        bridge: String,
        mode: Option<FailMode>,
    ) -> Result<CtlData, CtlError> {
        let old = self.bridge_cfg(&bridge)?.fail_mode;
        let mut new = self.cfg.clone();
        if let Some(b) = new.bridge_mut(&bridge) {
            b.fail_mode = mode;
        }
        self.commit(new)?;
        let effective = |m: Option<FailMode>| m.unwrap_or(FailMode::Standalone);
        if effective(old) != effective(mode) {
            self.apply_fail_mode(&bridge);
        }
        done()
    }

    fn set_dp(&mut self, settings: Vec<DpSetting>) -> Result<CtlData, CtlError> {
        let mut new = self.cfg.clone();
        for s in &settings {
            s.apply(&mut new.datapath);
        }
        new.validate().map_err(CtlError::bad)?;
        self.commit(new)?;
        let mut later = Vec::new();
        for s in &settings {
            match s {
                DpSetting::FlowLimit(v) => self.rt.set_flow_limit(*v),
                DpSetting::MaxIdle(v) => self.rt.live.max_idle_ms.store(*v, Ordering::Relaxed),
                DpSetting::BusyPoll(v) => self.rt.poll.set_busy_poll(*v),
                DpSetting::EmcInsertInvProb(v) => self.rt.poll.set_emc_insert_inv_prob(*v),
                DpSetting::NHandlerThreads(_) => later.push("n-handler-threads"),
                DpSetting::UpcallQueue(_) => later.push("upcall-queue"),
                DpSetting::ExecuteQueue(_) => later.push("execute-queue"),
                DpSetting::TcPolicy(_)
                | DpSetting::OffloadMinPackets(_)
                | DpSetting::OffloadMinAge(_) => self.rt.apply_offload_settings(&self.cfg.datapath),
            }
        }
        later.sort_unstable();
        later.dedup();
        let note = (!later.is_empty()).then(|| {
            format!(
                "stored; {} take{} effect when oxvsd restarts",
                later.join(", "),
                if later.len() == 1 { "s" } else { "" }
            )
        });
        Ok(CtlData::Done { note })
    }

    fn show(&self) -> ShowData {
        let status: HashMap<u32, PortStatus> = self
            .rt
            .poll
            .list()
            .into_iter()
            .map(|s| (s.dp_port, s))
            .collect();
        let bridges = self
            .cfg
            .bridges
            .iter()
            .map(|b| {
                let rt = self.bridges.get(&b.name);
                let show_port = |name: &str, pc: Option<&PortConfig>| -> Option<ShowPort> {
                    let p = rt?.ports.get(name)?;
                    let st = p.dp_port.and_then(|d| status.get(&d));
                    let link = match (&p.status, st) {
                        (Status::Error(e), _) => LinkState::Error(e.clone()),
                        (Status::Down(r), _) => LinkState::Down(r.clone()),
                        (Status::Up, Some(s)) if !s.up => LinkState::Down(None),
                        (Status::Up, _) => LinkState::Up,
                    };
                    Some(ShowPort {
                        name: name.to_string(),
                        ofport: p.ofport,
                        dp_port: p.dp_port,
                        port_type: p.port_type,
                        options: p.options.clone(),
                        tag: pc.and_then(|c| c.tag),
                        trunks: pc.and_then(|c| c.trunks.clone()),
                        link,
                        stats: st.map(|s| PortCounters {
                            rx_packets: s.stats.rx_packets,
                            rx_bytes: s.stats.rx_bytes,
                            rx_dropped: s.stats.rx_dropped,
                            rx_errors: s.stats.rx_errors,
                            tx_packets: s.stats.tx_packets,
                            tx_bytes: s.stats.tx_bytes,
                            tx_dropped: s.stats.tx_dropped,
                            tx_errors: s.stats.tx_errors,
                        }),
                    })
                };
                let mut ports: Vec<ShowPort> = show_port(&b.name, None).into_iter().collect();
                let mut others: Vec<&PortConfig> = b.ports.iter().collect();
                others.sort_by_key(|p| p.ofport);
                ports.extend(
                    others
                        .into_iter()
                        .filter_map(|p| show_port(&p.name, Some(p))),
                );
                let controllers = b
                    .controllers
                    .iter()
                    .map(|c| {
                        let state = if !is_passive(c) {
                            match rt.and_then(|r| r.active.get(c)) {
                                Some(Active::Running(a)) => {
                                    let (r, now) = a.status.snapshot();
                                    let ago =
                                        |t: Option<u64>| t.map(|t| now.saturating_sub(t) / 1000);
                                    ControllerState::Active(ActiveControllerState {
                                        is_connected: r.is_connected(),
                                        state: r.state().name().to_string(),
                                        last_error: r.last_error().map(str::to_string),
                                        sec_since_connect: ago(r.last_connected_ms()),
                                        sec_since_disconnect: ago(r.last_disconnected_ms()),
                                    })
                                }
                                Some(Active::Refused(e, _)) => ControllerState::Failed(e.clone()),
                                None => ControllerState::Failed("not started".into()),
                            }
                        } else {
                            match rt.and_then(|r| r.listeners.get(c)) {
                                Some(Ok(l)) => match l.state() {
                                    ListenerState::Listening => ControllerState::Listening,
                                    ListenerState::Failed(e) => ControllerState::Failed(e),
                                },
                                Some(Err(e)) => ControllerState::Failed(e.clone()),
                                None => ControllerState::Failed("not started".into()),
                            }
                        };
                        ShowController {
                            target: c.clone(),
                            state,
                        }
                    })
                    .collect();
                ShowBridge {
                    name: b.name.clone(),
                    mgmt: format!(
                        "unix:{}",
                        self.rundir.join(format!("{}.mgmt", b.name)).display()
                    ),
                    controllers,
                    fail_mode: b.fail_mode,
                    ports,
                }
            })
            .collect();
        ShowData {
            version: env!("CARGO_PKG_VERSION").to_string(),
            datapath: DATAPATH_NAME.to_string(),
            openflow: true,
            bridges,
        }
    }

    fn dp_port_names(&self) -> HashMap<u32, String> {
        self.bridges
            .values()
            .flat_map(|b| b.ports.iter())
            .filter_map(|(name, p)| p.dp_port.map(|d| (d, name.clone())))
            .collect()
    }

    /// `offloaded`: keep only the flows in tc (true) or only the others.
    fn dump_flows(&self, names: bool, offloaded: Option<bool>) -> Vec<DpFlow> {
        let flows = self.described_flows(names);
        let Some(want) = offloaded else {
            return flows.into_iter().map(|(_, f)| f).collect();
        };
        let o = self.rt.offload.lock();
        flows
            .into_iter()
            .filter(|(f, _)| !matches!(o.placement(f), Placement::NotOffloaded(_)) == want)
            .map(|(_, d)| d)
            .collect()
    }

    /// Every megaflow with its `dpctl/dump-flows` description, by input
    /// port and then match.
    fn described_flows(&self, names: bool) -> Vec<(Arc<Megaflow>, DpFlow)> {
        let now = self.rt.clock.now_ms();
        let map = self.dp_port_names();
        let namer = |no: u32| map.get(&no).cloned();
        let namer: Option<odp::PortNamer<'_>> = if names { Some(&namer) } else { None };
        let mut flows: Vec<(u32, Arc<Megaflow>, DpFlow)> = self
            .rt
            .dp
            .megaflows
            .flows()
            .into_iter()
            .map(|f| {
                let key = f.key();
                let s = f.stats.snapshot();
                let d = DpFlow {
                    matches: odp::format_match(&key, f.mask(), namer),
                    packets: s.packets,
                    bytes: s.bytes,
                    used_ms_ago: (s.packets > 0).then(|| now.saturating_sub(s.used_ms)),
                    tcp_flags: s.tcp_flags,
                    actions: odp::format_actions(&f.actions, namer),
                };
                (key.in_port(), f, d)
            })
            .collect();
        flows.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.matches.cmp(&b.2.matches)));
        flows.into_iter().map(|(_, f, d)| (f, d)).collect()
    }

    /// Open vSwitch's `ofproto/trace`: runs a packet with the fields of
    /// `flow` through `bridge`'s tables without learning or installing
    /// anything, and prints the rules it matched, the megaflow and the
    /// datapath actions.
    fn ofproto_trace(&self, bridge: &str, flow: &str) -> Result<CtlData, CtlError> {
        use std::fmt::Write;
        let b = self.bridges.get(bridge).ok_or_else(|| {
            CtlError::new(ErrorKind::NotFound, format!("no bridge named {bridge}"))
        })?;
        let ports = b.br.ports();
        // Port names as ovs-appctl takes them: in_port=p1.
        let flow_num: String = flow
            .split(',')
            .map(|tok| match tok.trim().strip_prefix("in_port=") {
                Some(name) => match ports.iter().find(|p| p.name == name) {
                    Some(p) => format!("in_port={}", p.ofp_port),
                    None => tok.to_string(),
                },
                None => tok.to_string(),
            })
            .collect::<Vec<_>>()
            .join(",");
        let m: oxvs_ofproto::ofp::matching::Match = flow_num
            .parse()
            .map_err(|e| CtlError::bad(format!("ofproto/trace: \"{flow}\": {e}")))?;
        let Some(in_ofp) = m.in_port() else {
            return Err(CtlError::bad("ofproto/trace: the flow needs an in_port"));
        };
        let Some(port) = ports.iter().find(|p| p.ofp_port == in_ofp) else {
            return Err(CtlError::new(
                ErrorKind::NotFound,
                format!("ofproto/trace: bridge {bridge} has no port {in_ofp}"),
            ));
        };
        let (value, _) = oxvs_ofproto::flow::match_words(&m)
            .map_err(|e| CtlError::bad(format!("ofproto/trace: \"{flow}\": {e}")))?;
        let mut key = oxvs_ofproto::flow::key_part(&value);
        key.set_in_port(port.dp_port);
        let t = b.br.translate(&key, false, b.br.now_ms());

        let map = self.dp_port_names();
        let namer = |no: u32| map.get(&no).cloned();
        let namer: Option<odp::PortNamer<'_>> = Some(&namer);
        let mut out = String::new();
        let _ = writeln!(out, "Flow: {m}\n");
        let title = format!("bridge(\"{bridge}\")");
        let _ = writeln!(out, "{title}\n{}", "-".repeat(title.len()));
        if t.rules.is_empty() {
            let _ = writeln!(out, " 0. No match.\n    drop");
        }
        for r in &t.rules {
            let e = &r.value;
            let m = e.matched.to_string();
            let m = if m.is_empty() {
                String::new()
            } else {
                format!("{m}, ")
            };
            let acts = oxvs_ofproto::ofp::action::ActionList(e.actions.load().0.clone());
            let acts = acts.to_string();
            let _ = writeln!(
                out,
                " {}. {m}priority {}\n    {}",
                e.table_id,
                r.priority,
                if acts.is_empty() {
                    "drop".to_string()
                } else {
                    acts
                }
            );
        }
        let _ = writeln!(
            out,
            "\nMegaflow: {}",
            odp::format_match(&key.masked(&t.mask), &t.mask, namer)
        );
        let _ = writeln!(
            out,
            "Datapath actions: {}",
            odp::format_actions(&t.actions, namer)
        );
        Ok(CtlData::Text(out))
    }

    fn offload_show(&self) -> OffloadData {
        let flows = self.described_flows(true);
        let o = self.rt.offload.lock();
        let caps = o.capabilities();
        let c = o.counters();
        let settings = o.settings();
        OffloadData {
            flower_error: caps.flower_error.clone(),
            actions: caps.actions.iter().map(|a| a.to_string()).collect(),
            tc_policy: settings.policy.as_str().to_string(),
            min_packets: settings.min_packets,
            min_age_ms: settings.min_age_ms,
            ports: o.ports().into_iter().map(|(_, n, i)| (n, i)).collect(),
            flows: flows
                .into_iter()
                .map(|(f, d)| {
                    let (placement, reason) = match o.placement(&f) {
                        Placement::InHw => ("in_hw", None),
                        Placement::InTcSoftware => ("tc", None),
                        Placement::NotOffloaded(r) => ("none", Some(r)),
                    };
                    OffloadFlow {
                        flow: d,
                        placement: placement.to_string(),
                        reason,
                    }
                })
                .collect(),
            installed: c.installed,
            removed: c.removed,
            refused: c.refused,
            kernel_errors: c.kernel_errors,
            healed: c.healed,
            tc_packets: c.tc_packets,
        }
    }

    fn set_port(&mut self, port: String, hw_offload: Option<bool>) -> Result<CtlData, CtlError> {
        let Some((bridge, _)) = self.cfg.find_port(&port) else {
            return Err(CtlError::new(
                ErrorKind::NotFound,
                format!("no port named {port}"),
            ));
        };
        let bridge = bridge.name.clone();
        let mut new = self.cfg.clone();
        let Some(pc) = new
            .bridge_mut(&bridge)
            .and_then(|b| b.ports.iter_mut().find(|p| p.name == port))
        else {
            return Err(CtlError::new(
                ErrorKind::NotFound,
                format!("no port named {port}"),
            ));
        };
        if let Some(v) = hw_offload {
            pc.options.hw_offload = v;
        }
        let options = pc.options.clone();
        new.validate().map_err(CtlError::bad)?;
        self.commit(new)?;
        if let Some(p) = self
            .bridges
            .get_mut(&bridge)
            .and_then(|b| b.ports.get_mut(&port))
        {
            p.options = options;
        }
        // Its megaflows were made for the old device setup.
        if let Some(dp) = self
            .bridges
            .get(&bridge)
            .and_then(|b| b.ports.get(&port))
            .and_then(|p| p.dp_port)
        {
            self.rt.purge_port_flows(dp);
        }
        self.reopen(&bridge, &port);
        done()
    }

    fn upcall_show(&self) -> UpcallData {
        let c = self.rt.dp.counters.snapshot();
        let d = &self.rt.counters;
        let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        UpcallData {
            datapath: DATAPATH_NAME.to_string(),
            flows: self.rt.dp.megaflows.len(),
            flow_limit: self.rt.dp.megaflows.limit(),
            max_idle_ms: self.rt.live.max_idle_ms.load(Ordering::Relaxed),
            handlers: self.rt.n_handlers,
            upcalls_handled: r(&d.upcalls_handled),
            upcalls_pending: self.rt.dp.pending_upcalls(),
            upcalls_lost: c.lost,
            installs: c.installs,
            install_failures: c.install_failures,
            revalidator_passes: r(&d.revalidator_passes),
            idle_expired: r(&d.idle_expired),
            limit_evicted: r(&d.limit_evicted),
            stale_removed: r(&d.stale_removed),
            orphans_removed: r(&d.orphans_removed),
            last_pass_us: r(&d.last_pass_us),
        }
    }

    /// Counter names and current values, in a fixed order.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = self.rt.dp.counters.snapshot();
        let d = &self.rt.counters;
        let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let o = self.rt.offload.lock().counters();
        vec![
            ("dpif_emc_hit", c.emc_hits),
            ("dpif_megaflow_hit", c.megaflow_hits),
            ("dpif_miss", c.misses),
            ("dpif_upcall_lost", c.lost),
            ("dpif_malformed", c.malformed),
            ("dpif_action_error", c.action_errors),
            ("dpif_loop_drop", c.loops),
            ("dpif_flow_put", c.installs),
            ("dpif_flow_put_error", c.install_failures),
            ("dpif_tx_dropped", c.tx_dropped),
            ("upcall_handled", r(&d.upcalls_handled)),
            ("revalidate_pass", r(&d.revalidator_passes)),
            ("revalidate_idle_expired", r(&d.idle_expired)),
            ("revalidate_limit_evict", r(&d.limit_evicted)),
            ("revalidate_stale", r(&d.stale_removed)),
            ("revalidate_orphan", r(&d.orphans_removed)),
            ("offload_flow_put", o.installed),
            ("offload_flow_del", o.removed),
            ("offload_refused", o.refused),
            ("offload_kernel_error", o.kernel_errors),
            ("offload_healed", o.healed),
            ("offload_tc_packets", o.tc_packets),
        ]
    }

    fn sample_coverage(&mut self) {
        let values = self.counters().into_iter().map(|(_, v)| v).collect();
        let h = &mut self.coverage.samples;
        h.push_back((Instant::now(), values));
        while h.len() > COVERAGE_HISTORY {
            h.pop_front();
        }
    }

    fn coverage_show(&self) -> Vec<CoverageLine> {
        let now = Instant::now();
        let cur = self.counters();
        let h = &self.coverage.samples;
        // The rate over `window`: from the newest sample at least `window`
        // old (or the oldest there is) to now.
        let rate = |i: usize, window: Duration| -> f64 {
            let base = h
                .iter()
                .rev()
                .find(|(t, _)| now.duration_since(*t) >= window)
                .or_else(|| h.front());
            match base {
                Some((t, v)) => {
                    let secs = now
                        .duration_since(*t)
                        .as_secs_f64()
                        .max(window.as_secs_f64());
                    let delta = cur[i].1.saturating_sub(v.get(i).copied().unwrap_or(0));
                    delta as f64 / secs
                }
                None => 0.0,
            }
        };
        cur.iter()
            .enumerate()
            .map(|(i, (name, total))| CoverageLine {
                name: (*name).to_string(),
                rate_5s: rate(i, Duration::from_secs(5)),
                rate_1m: rate(i, Duration::from_secs(60)),
                rate_1h: rate(i, Duration::from_secs(3600)),
                total: *total,
            })
            .collect()
    }

    /// Once a second: coverage history, port states, and another try at
    /// ports that are down or never opened.
    pub fn tick(&mut self) {
        self.sample_coverage();
        self.run_fail_open();
        let list = self.rt.poll.list();
        self.publish_port_infos(&list);
        let status: HashMap<u32, bool> = list.iter().map(|s| (s.dp_port, s.up)).collect();
        let mut retry: Vec<(String, String)> = Vec::new();
        for (bname, b) in &mut self.bridges {
            for (pname, p) in &mut b.ports {
                if let (Status::Up, Some(dp)) = (&p.status, p.dp_port) {
                    if status.get(&dp) == Some(&false) {
                        let why = match p.port_type {
                            PortType::System => "the interface went away",
                            _ => "the device went away",
                        };
                        tracing::warn!(bridge = %bname, port = %pname, "port is down: {why}");
                        p.status = Status::Down(Some(why.to_string()));
                        p.last_try = Instant::now();
                    }
                }
                let wants_retry = matches!(p.status, Status::Down(_) | Status::Error(_))
                    && p.port_type != PortType::Pcap
                    && p.last_try.elapsed() >= RETRY_INTERVAL
                    && (p.port_type != PortType::System || crate::sys::interface_exists(pname));
                if wants_retry {
                    retry.push((bname.clone(), pname.clone()));
                }
            }
        }
        for (b, p) in retry {
            self.reopen(&b, &p);
        }
    }

    /// Opens a down or failed port's device again, under its old datapath
    /// port number if it had one.
    fn reopen(&mut self, bridge: &str, name: &str) {
        let Some(brt) = self.bridges.get_mut(bridge) else {
            return;
        };
        let Some(p) = brt.ports.get_mut(name) else {
            return;
        };
        p.last_try = Instant::now();
        let (ty, opts) = (p.port_type, p.options.clone());
        match p.dp_port {
            Some(dp) => {
                drop(self.rt.poll.remove(dp));
                match open_port(name, ty, &opts, dp, &self.rt.offload) {
                    Ok(port) => {
                        self.rt.poll.add(dp, port);
                        p.status = Status::Up;
                        tracing::info!(bridge, port = name, "port is back up");
                    }
                    Err(e) => {
                        tracing::debug!(bridge, port = name, "reopen failed: {e}");
                        p.status = Status::Down(Some(e));
                    }
                }
            }
            None => {
                let dp = self.alloc.alloc();
                match open_port(name, ty, &opts, dp, &self.rt.offload) {
                    Ok(port) => {
                        let bp = BridgePort {
                            ofp_port: p.ofport,
                            dp_port: dp,
                            name: name.to_string(),
                            vlan: p.vlan.clone(),
                        };
                        match brt.br.add_port(bp) {
                            Ok(()) => {
                                p.dp_port = Some(dp);
                                p.status = Status::Up;
                                self.rt.poll.add(dp, port);
                                tracing::info!(bridge, port = name, "port opened");
                            }
                            Err(e) => {
                                self.alloc.release(dp);
                                p.status = Status::Error(format!("bridge refused the port: {e}"));
                            }
                        }
                    }
                    Err(e) => {
                        self.alloc.release(dp);
                        p.status = Status::Error(e);
                    }
                }
            }
        }
        self.revalidate_now(bridge);
    }

    /// Stops the threads and closes every device.
    pub fn shutdown(mut self) {
        // Listeners first (their sockets go), then the threads and devices.
        self.bridges.clear();
        self.rt.stop();
    }
}
