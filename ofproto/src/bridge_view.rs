//! [`SwitchView`] over a bridge and its datapath: what an OpenFlow
//! connection to a bridge sees. Port descriptions and counters come from
//! whoever owns the ports (the daemon), through [`PortSource`].

use std::collections::BTreeMap;
use std::sync::Arc;

use oxvs_datapath::Datapath;

use crate::bridge::{Bridge, BridgePort, OFPP_LOCAL};
use crate::ofconn::SwitchView;
use crate::ofp::error::{BadRequest, OfpError};
use crate::ofp::flow_msg::{
    AggregateStats, FlowMod, FlowModCommand, FlowStats, FlowStatsRequest, PacketOut,
};
use crate::ofp::group_msg::{GroupDesc, GroupMod, GroupStats, MeterConfig, MeterMod, MeterStats};
use crate::ofp::message::stats::{GroupFeatures, MeterFeatures};
use crate::ofp::message::PortMod;
use crate::ofp::message::{
    Port, PortConfig, PortFeatures, PortNo, PortReason, PortState, PortStats, PortStatus,
    TableStats,
};
use crate::table::N_TABLES;

/// What the owner of the ports knows about them.
pub trait PortSource: Send + Sync {
    /// MAC address and whether the link is up.
    fn link(&self, port: &BridgePort) -> ([u8; 6], bool);
    /// Counters of a datapath port.
    fn counters(&self, dp_port: u32) -> Option<oxvs_datapath::port::PortStats>;
    /// The datapath clock (ms), for revalidation at barriers.
    fn dp_now_ms(&self) -> u64;
    /// Called after a barrier's revalidation removed stale megaflows, for
    /// caches below the datapath (tc offload) to drop theirs too.
    fn megaflows_synced(&self) {}
}

pub struct BridgeView {
    pub bridge: Arc<Bridge>,
    pub dp: Arc<Datapath>,
    pub datapath_id: u64,
    pub ports: Arc<dyn PortSource>,
    /// The port descriptions controllers were last told of, by number.
    reported: parking_lot::Mutex<BTreeMap<u32, Port>>,
}

impl BridgeView {
    pub fn new(
        bridge: Arc<Bridge>,
        dp: Arc<Datapath>,
        datapath_id: u64,
        ports: Arc<dyn PortSource>,
    ) -> Arc<BridgeView> {
        let v = BridgeView {
            bridge,
            dp,
            datapath_id,
            ports,
            reported: parking_lot::Mutex::new(BTreeMap::new()),
        };
        // The ports there are now need no announcement: a controller
        // learns them from its features or port-desc request.
        *v.reported.lock() = v.current_ports();
        Arc::new(v)
    }

    /// Sends the port-status messages that take the controllers from
    /// `reported` (held, so that two reports never cross) to the ports as
    /// they are now.
    fn report_locked(
        &self,
        mut reported: parking_lot::MutexGuard<'_, BTreeMap<u32, Port>>,
        except: Option<u64>,
    ) {
        let now = self.current_ports();
        let send = |reason, desc: &Port| {
            self.bridge.hub.port_status(
                &PortStatus {
                    reason,
                    desc: desc.clone(),
                },
                except,
            )
        };
        for (no, old) in reported.iter() {
            if !now.contains_key(no) {
                send(PortReason::Delete, old);
            }
        }
        for (no, p) in &now {
            match reported.get(no) {
                None => send(PortReason::Add, p),
                Some(old) if old != p => send(PortReason::Modify, p),
                Some(_) => {}
            }
        }
        *reported = now;
    }

    fn current_ports(&self) -> BTreeMap<u32, Port> {
        self.ports().into_iter().map(|p| (p.port_no.0, p)).collect()
    }

    fn describe(&self, p: &BridgePort) -> Port {
        let (hw_addr, up) = self.ports.link(p);
        Port {
            port_no: PortNo(p.ofp_port),
            hw_addr,
            name: p.name.clone(),
            config: PortConfig(self.bridge.port_config(p.ofp_port)),
            state: PortState(if up {
                PortState::LIVE
            } else {
                PortState::LINK_DOWN
            }),
            curr: PortFeatures(0),
            advertised: PortFeatures(0),
            supported: PortFeatures(0),
            peer: PortFeatures(0),
            curr_speed: 0,
            max_speed: 0,
            props: Vec::new(),
        }
    }
}

impl SwitchView for BridgeView {
    fn report_port_changes(&self, except: Option<u64>) {
        let reported = self.reported.lock();
        self.report_locked(reported, except);
    }

    fn flow_monitors(&self) -> Option<Arc<crate::monitor::MonitorHub>> {
        Some(self.bridge.monitors.clone())
    }

    fn datapath_id(&self) -> u64 {
        self.datapath_id
    }

    fn ports(&self) -> Vec<Port> {
        // LOCAL last, as Open vSwitch lists it.
        let mut v = self.bridge.ports();
        v.sort_by_key(|p| (p.ofp_port == OFPP_LOCAL, p.ofp_port));
        v.iter().map(|p| self.describe(p)).collect()
    }

    fn port_stats(&self, port: PortNo) -> Vec<PortStats> {
        self.bridge
            .ports()
            .iter()
            .filter(|p| port == PortNo::ANY || PortNo(p.ofp_port) == port)
            .map(|p| {
                let c = self.ports.counters(p.dp_port).unwrap_or_default();
                PortStats {
                    port_no: PortNo(p.ofp_port),
                    duration: Some((0, 0)),
                    rx_packets: c.rx_packets,
                    tx_packets: c.tx_packets,
                    rx_bytes: c.rx_bytes,
                    tx_bytes: c.tx_bytes,
                    rx_dropped: c.rx_dropped,
                    tx_dropped: c.tx_dropped,
                    rx_errors: c.rx_errors,
                    tx_errors: c.tx_errors,
                    ..PortStats::default()
                }
            })
            .collect()
    }

    fn table_stats(&self) -> Vec<TableStats> {
        let t = self.bridge.tables();
        (0..(N_TABLES - 1) as u8)
            .map(|i| TableStats {
                table_id: i,
                // Unnamed, as Open vSwitch's tables are by default.
                name: String::new(),
                wildcards: 0x3f_ffff,
                max_entries: t.max_flows as u32,
                active_count: t.visible_len(i) as u32,
                lookup_count: t.counters[i as usize]
                    .lookups
                    .load(std::sync::atomic::Ordering::Relaxed),
                matched_count: t.counters[i as usize]
                    .matched
                    .load(std::sync::atomic::Ordering::Relaxed),
            })
            .collect()
    }

    fn sync(&self) {
        self.bridge
            .revalidate(&self.dp, self.ports.dp_now_ms(), 1000);
        self.ports.megaflows_synced();
    }

    fn flow_mod(&self, fm: &FlowMod) -> Result<(), OfpError> {
        // Flows may only use groups and meters that exist.
        if matches!(
            fm.command,
            FlowModCommand::Add | FlowModCommand::Modify | FlowModCommand::ModifyStrict
        ) {
            self.bridge.check_group_refs(&fm.actions)?;
        }
        self.bridge.apply_flow_mod(fm).map(|_| ())
    }

    fn flow_stats(&self, req: &FlowStatsRequest) -> Result<Vec<FlowStats>, OfpError> {
        self.bridge.flow_stats(req)
    }

    fn aggregate(&self, req: &FlowStatsRequest) -> Result<AggregateStats, OfpError> {
        self.bridge.aggregate(req)
    }

    fn port_mod(&self, pm: &PortMod, sender: Option<u64>) -> Result<(), OfpError> {
        let err =
            |n: &str| OfpError::from_name(n).unwrap_or(OfpError::BadRequest(BadRequest::EPerm));
        let Some(port) = self
            .bridge
            .ports()
            .into_iter()
            .find(|p| p.ofp_port == pm.port_no.0)
        else {
            return Err(err("OFPPMFC_BAD_PORT"));
        };
        // The hardware address is a sanity check, as in Open vSwitch.
        if self.ports.link(&port).0 != pm.hw_addr {
            return Err(err("OFPPMFC_BAD_HW_ADDR"));
        }
        // The change and its port-status under one lock: a report running
        // meanwhile (the daemon's, each second) cannot tell the sender.
        let reported = self.reported.lock();
        self.bridge.port_mod(port.ofp_port, pm.config.0, pm.mask.0);
        self.report_locked(reported, sender);
        Ok(())
    }

    fn packet_out(&self, po: &PacketOut) -> Result<(), OfpError> {
        self.bridge.check_group_refs(&po.actions)?;
        self.bridge.packet_out(&self.dp, po)
    }

    fn resume(
        &self,
        pi: &crate::ofp::message::PacketIn,
        version: crate::ofp::Version,
    ) -> Result<(), OfpError> {
        self.bridge.resume(&self.dp, pi, version)
    }

    fn group_mod(&self, gm: &GroupMod) -> Result<(), OfpError> {
        self.bridge.apply_group_mod(gm)
    }

    fn group_descs(&self, group_id: u32) -> Vec<GroupDesc> {
        self.bridge.group_descs(group_id)
    }

    fn group_stats(&self, group_id: u32) -> Vec<GroupStats> {
        self.bridge.group_stats(group_id)
    }

    fn group_features(&self, version: crate::ofp::Version) -> GroupFeatures {
        crate::group::group_features(version)
    }

    fn meter_mod(&self, mm: &MeterMod) -> Result<(), OfpError> {
        self.bridge.apply_meter_mod(mm)
    }

    fn meter_configs(&self, meter_id: u32) -> Result<Vec<MeterConfig>, OfpError> {
        self.bridge.meter_configs(meter_id)
    }

    fn meter_stats(&self, meter_id: u32) -> Result<Vec<MeterStats>, OfpError> {
        self.bridge.meter_stats(meter_id)
    }

    fn meter_features(&self) -> MeterFeatures {
        crate::group::meter_features()
    }

    fn check_flow_mod(&self, fm: &FlowMod) -> Result<(), OfpError> {
        crate::bridge::check_flow_mod(fm)?;
        self.bridge.check_tlv_fields(fm)
    }

    fn frag_handling(&self) -> crate::ofp::message::FragHandling {
        self.bridge.frag_handling()
    }

    fn set_frag_handling(&self, f: crate::ofp::message::FragHandling) -> bool {
        self.bridge.set_frag_handling(f)
    }

    fn tlv_table_mod(&self, m: &crate::ofp::message::TlvTableMod) -> Result<(), OfpError> {
        self.bridge.tlv_table_mod(m)
    }

    fn tlv_table(&self) -> Result<crate::ofp::message::TlvTableReply, OfpError> {
        Ok(self.bridge.tlv_table())
    }
}

/// Opens an OpenFlow session on a bridge for each accepted connection.
pub struct BridgeSessions {
    pub view: Arc<BridgeView>,
    pub versions: Vec<crate::ofp::Version>,
    /// Inactivity probe for these connections (None for management sockets).
    pub probe_ms: Option<u64>,
}

impl crate::server::SessionFactory for BridgeSessions {
    fn session(
        &self,
        outbound: tokio::sync::mpsc::Sender<Vec<u8>>,
        peer: String,
    ) -> Box<dyn crate::server::Session> {
        tracing::info!(bridge = self.view.bridge.name(), %peer, "OpenFlow connection");
        let sub = crate::async_msg::Subscriber::new(outbound.clone());
        self.view.bridge.hub.subscribe(&sub);
        let s =
            crate::ofconn::OfSession::new(self.view.clone(), self.versions.clone(), self.probe_ms)
                .with_subscriber(sub)
                // Flow monitor updates leave at once, not at the next tick.
                .with_outbound(outbound);
        // Connections without an inactivity probe are the management
        // socket's: service connections.
        Box::new(if self.probe_ms.is_none() {
            s.as_service()
        } else {
            s
        })
    }
}

/// Serves OpenFlow for a bridge on `listen` (e.g. `punix:<rundir>/br0.mgmt`
/// or `ptcp:6653`) until the runtime stops, in every supported version.
pub async fn serve_bridge(
    listen: crate::server::Listen,
    view: Arc<BridgeView>,
) -> std::io::Result<()> {
    let sessions = BridgeSessions {
        view,
        versions: crate::ofp::Version::ALL.to_vec(),
        probe_ms: None,
    };
    crate::server::serve(listen, Arc::new(sessions)).await
}
