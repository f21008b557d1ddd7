//! A bridge: a set of ports and the pipeline that decides where a packet
//! goes, translated into datapath megaflows on upcalls. Today the pipeline
//! is Open vSwitch's default flow table (`priority=0 actions=NORMAL`), so a
//! bridge is a MAC-learning switch with VLAN access and trunk ports; the
//! OpenFlow tables plug in here.
//!
//! Several bridges share one datapath; an [`UpcallDispatcher`] hands each
//! upcall to the bridge that owns the packet's input port.

use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::ThreadId;
use std::time::Instant;

use arc_swap::ArcSwap;
use oxvs_datapath::flow_key::{FlowKey, VLAN_PRESENT};
use parking_lot::RwLock;

use crate::async_msg::{AsyncHub, PacketIn};
use crate::flow::match_words;
use crate::flow::{get as flow_get, put, FlowWords};
use crate::monitor::{FlowEvent, MonitorHub, Requester};
use crate::ofp::action::Action as OfAction;
use crate::ofp::error::OfpError;
use crate::ofp::field::Field;
use crate::ofp::flow_msg::{
    AggregateStats, FlowMod as OfFlowMod, FlowModCommand as OfFlowModCommand, FlowStats,
    FlowStatsRequest, PacketOut,
};
use crate::ofp::message::FragHandling;
use crate::ofp::monitor_msg::UpdateEvent;
use crate::table::ALL_TABLES;
use crate::table::{
    FlowChange, FlowFlags, FlowModCommand, FlowModError, FlowModResult, FlowModSpec, FlowTables,
    RemovedReason, TableRule,
};
use crate::xlate::{OfActions, PacketInSpec, PortMap, Translation, Xlate};
use oxvs_datapath::upcall::{MegaflowSpec, Upcall, UpcallHandler, UpcallKind, UpcallReply};
use oxvs_datapath::{Action, Datapath};
use parking_lot::Mutex;

/// OpenFlow's LOCAL port number.
pub const OFPP_LOCAL: u32 = 0xffff_fffe;
/// MAC entries are forgotten after this long without traffic (OVS: 300 s).
pub const MAC_AGING_MS: u64 = 300_000;
/// Most MAC entries a bridge keeps (OVS's mac-table-size default).
pub const MAC_TABLE_SIZE: usize = 8192;

/// How a port treats VLANs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VlanMode {
    /// Carries tagged frames of these VLANs (None: all), untagged = VLAN 0.
    Trunk(Option<Vec<u16>>),
    /// Belongs to one VLAN; frames enter and leave it untagged.
    Access(u16),
}

/// One port of a bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgePort {
    pub ofp_port: u32,
    pub dp_port: u32,
    pub name: String,
    pub vlan: VlanMode,
}

impl BridgePort {
    /// The VLAN a frame with outer tag `vid` (0: untagged) belongs to on
    /// this port, or None if the port does not accept it.
    fn input_vlan(&self, vid: u16) -> Option<u16> {
        match &self.vlan {
            VlanMode::Access(tag) => (vid == 0).then_some(*tag),
            VlanMode::Trunk(None) => Some(vid),
            VlanMode::Trunk(Some(list)) => list.contains(&vid).then_some(vid),
        }
    }

    /// Whether frames of `vlan` may leave through this port, and tagged or not.
    fn output_tag(&self, vlan: u16) -> Option<Option<u16>> {
        match &self.vlan {
            VlanMode::Access(tag) => (*tag == vlan).then_some(None),
            VlanMode::Trunk(allowed) => {
                let ok = allowed.as_ref().is_none_or(|l| l.contains(&vlan));
                ok.then_some(if vlan == 0 { None } else { Some(vlan) })
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BridgeError {
    #[error("port number {0} is already in use on this bridge")]
    PortNumberInUse(u32),
    #[error("datapath port {0} already belongs to a bridge port")]
    DpPortInUse(u32),
    #[error("port name {0} is already in use on this bridge")]
    NameInUse(String),
    #[error("VLAN {0} is out of range (0-4095)")]
    BadVlan(u16),
}

/// A learned MAC address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacEntry {
    pub mac: u64,
    pub vlan: u16,
    pub ofp_port: u32,
    /// Seconds since last seen.
    pub age_s: u64,
}

#[derive(Default)]
struct Ports {
    by_ofp: HashMap<u32, BridgePort>,
    dp_to_ofp: HashMap<u32, u32>,
}

struct MacTable {
    entries: HashMap<(u64, u16), (u32, u64)>, // (mac, vlan) -> (ofp port, last seen ms)
}

/// Whether a translation learns source MACs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Learning {
    Off,
    /// Learn and move entries (an upcall: the packet is here now).
    On,
    /// Keep entries that agree fresh, never move one (the revalidator,
    /// replaying a megaflow whose traffic may predate a move).
    Refresh,
}

impl MacTable {
    /// Refreshes `mac` on `port` if it is there (or absent); an entry on
    /// another port is left alone. Returns true if forwarding may change.
    fn refresh(&mut self, mac: u64, vlan: u16, port: u32, now: u64) -> bool {
        match self.entries.get_mut(&(mac, vlan)) {
            Some(e) if e.0 == port => {
                e.1 = now;
                false
            }
            Some(_) => false,
            None => self.learn(mac, vlan, port, now),
        }
    }

    /// Learns `mac` on `port`; returns true if the table changed in a way
    /// that can change forwarding (new entry or a move).
    fn learn(&mut self, mac: u64, vlan: u16, port: u32, now: u64) -> bool {
        if let Some(e) = self.entries.get_mut(&(mac, vlan)) {
            let moved = e.0 != port || now.saturating_sub(e.1) > MAC_AGING_MS;
            *e = (port, now);
            return moved;
        }
        if self.entries.len() >= MAC_TABLE_SIZE {
            // Evict the least recently seen entry, as Open vSwitch does.
            if let Some(old) = self
                .entries
                .iter()
                .min_by_key(|(_, v)| v.1)
                .map(|(k, _)| *k)
            {
                self.entries.remove(&old);
            }
        }
        self.entries.insert((mac, vlan), (port, now));
        true
    }

    fn lookup(&self, mac: u64, vlan: u16, now: u64) -> Option<u32> {
        let (port, seen) = self.entries.get(&(mac, vlan))?;
        (now.saturating_sub(*seen) <= MAC_AGING_MS).then_some(*port)
    }

    /// Drops aged entries; true if any went.
    fn expire(&mut self, now: u64) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|_, (_, seen)| now.saturating_sub(*seen) <= MAC_AGING_MS);
        self.entries.len() != before
    }
}

/// A bridge. See the module docs.
///
/// Its flow tables change one flow_mod at a time, or a whole bundle at a
/// time: see [`Transaction`].
pub struct Bridge {
    /// This bridge, for transactions that must hold on to it.
    me: Weak<Bridge>,
    name: String,
    /// This bridge instance's identity in continuations (NXCPT_BRIDGE,
    /// where Open vSwitch puts its ofproto's random uuid): a continuation
    /// from another bridge, or from before a restart, is stale.
    id: [u8; 16],
    ports: ArcSwap<Ports>,
    ports_writer: Mutex<()>,
    macs: Mutex<MacTable>,
    tables: RwLock<FlowTables<OfActions>>,
    /// Delivers packet-ins and other asynchronous messages to connections.
    pub hub: AsyncHub,
    /// OFPPC_* bits set by port-mod, by OpenFlow port.
    port_config: Mutex<HashMap<u32, u32>>,
    /// What the pipeline does with IP fragments (OFPC_FRAG_*, set by any
    /// non-secondary connection's SET_CONFIG, as in Open vSwitch where it is
    /// the ofproto's, not the connection's).
    frag_handling: std::sync::atomic::AtomicU8,
    /// Userspace-action cookies handed to the datapath, and what each means.
    packet_ins: Mutex<PacketInSpecs>,
    /// Held while megaflow traffic is credited to OpenFlow rules (what was
    /// credited is kept on each megaflow), so that two passes (the
    /// revalidator's and a barrier's) never credit the same packets.
    crediting: Mutex<()>,
    /// Bumped whenever forwarding may have changed (ports, MAC moves, flow
    /// tables).
    generation: AtomicU64,
    revalidated: AtomicU64,
    /// Whether table misses went to the controllers at the last pass (a
    /// controller that takes them connecting or leaving changes what a
    /// miss translates to).
    miss_to_controller: std::sync::atomic::AtomicBool,
    /// When the last full re-translation ran (bridge clock).
    last_full_ms: AtomicU64,
    /// When a revalidation last saw the generation move (bridge clock).
    changed_ms: AtomicU64,
    epoch: Instant,
    /// Groups, meters and select-group recirculation states (see
    /// [`crate::group`]).
    pub(crate) groups: crate::group::GroupState,
    /// Connections' flow monitors, told of every flow table change.
    pub monitors: Arc<crate::monitor::MonitorHub>,
    /// The thread whose [`Transaction`] froze the flow tables: no other
    /// thread reads or changes them until it ends.
    frozen: Mutex<Option<ThreadId>>,
    /// Whether `frozen` is set (checked without the lock).
    frozen_any: AtomicBool,
    thawed: parking_lot::Condvar,
}

/// How long after a change a follow-up full pass runs: an upcall translated
/// before a MAC move but installed after the pass that followed the move
/// would otherwise keep its stale answer.
const FULL_REVALIDATION_MS: u64 = 2_000;

/// 16 random bytes, from the standard library's randomly keyed hasher (no
/// random number crate needed for one id per bridge). Controllers never
/// read them: only this bridge compares them.
fn random_id(salt: &str) -> [u8; 16] {
    use std::hash::BuildHasher;
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let h = std::collections::hash_map::RandomState::new().hash_one((salt, i, Instant::now()));
        half.copy_from_slice(&h.to_be_bytes());
    }
    out
}

fn is_multicast(mac: u64) -> bool {
    mac & (1 << 40) != 0
}

impl Bridge {
    pub fn new(name: &str) -> Arc<Bridge> {
        Arc::new_cyclic(|me| Bridge {
            me: me.clone(),
            name: name.to_string(),
            id: random_id(name),
            ports: ArcSwap::from_pointee(Ports::default()),
            ports_writer: Mutex::new(()),
            macs: Mutex::new(MacTable {
                entries: HashMap::new(),
            }),
            tables: RwLock::new(default_tables()),
            crediting: Mutex::new(()),
            hub: AsyncHub::default(),
            port_config: Mutex::new(HashMap::new()),
            frag_handling: std::sync::atomic::AtomicU8::new(0),
            packet_ins: Mutex::new(PacketInSpecs::default()),
            generation: AtomicU64::new(1),
            revalidated: AtomicU64::new(0),
            miss_to_controller: std::sync::atomic::AtomicBool::new(false),
            last_full_ms: AtomicU64::new(0),
            changed_ms: AtomicU64::new(0),
            epoch: Instant::now(),
            groups: crate::group::GroupState::default(),
            monitors: Arc::new(crate::monitor::MonitorHub::default()),
            frozen: Mutex::new(None),
            frozen_any: AtomicBool::new(false),
            thawed: parking_lot::Condvar::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Milliseconds on this bridge's clock (the MAC table's time base).
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub fn add_port(&self, port: BridgePort) -> Result<(), BridgeError> {
        let check = |v: &u16| {
            if *v > 4095 {
                Err(BridgeError::BadVlan(*v))
            } else {
                Ok(())
            }
        };
        match &port.vlan {
            VlanMode::Access(t) => check(t)?,
            VlanMode::Trunk(Some(l)) => l.iter().try_for_each(check)?,
            VlanMode::Trunk(None) => {}
        }
        let _w = self.ports_writer.lock();
        let cur = self.ports.load();
        if cur.by_ofp.contains_key(&port.ofp_port) {
            return Err(BridgeError::PortNumberInUse(port.ofp_port));
        }
        if cur.dp_to_ofp.contains_key(&port.dp_port) {
            return Err(BridgeError::DpPortInUse(port.dp_port));
        }
        if cur.by_ofp.values().any(|p| p.name == port.name) {
            return Err(BridgeError::NameInUse(port.name));
        }
        let mut next = Ports {
            by_ofp: cur.by_ofp.clone(),
            dp_to_ofp: cur.dp_to_ofp.clone(),
        };
        next.dp_to_ofp.insert(port.dp_port, port.ofp_port);
        next.by_ofp.insert(port.ofp_port, port);
        self.ports.store(Arc::new(next));
        self.generation.fetch_add(1, Ordering::Release);
        Ok(())
    }

    pub fn del_port(&self, ofp_port: u32) -> Option<BridgePort> {
        let _w = self.ports_writer.lock();
        let cur = self.ports.load();
        let mut next = Ports {
            by_ofp: cur.by_ofp.clone(),
            dp_to_ofp: cur.dp_to_ofp.clone(),
        };
        let gone = next.by_ofp.remove(&ofp_port)?;
        next.dp_to_ofp.remove(&gone.dp_port);
        self.ports.store(Arc::new(next));
        // MACs learned on the port go with it.
        self.macs.lock().entries.retain(|_, (p, _)| *p != ofp_port);
        self.generation.fetch_add(1, Ordering::Release);
        Some(gone)
    }

    /// Ports sorted by OpenFlow number.
    pub fn ports(&self) -> Vec<BridgePort> {
        FIND_MONITORS.with(|f| {
            if let Some(slot @ None) = &mut *f.borrow_mut() {
                *slot = Some(self.monitors.clone());
            }
        });
        let mut v: Vec<BridgePort> = self.ports.load().by_ofp.values().cloned().collect();
        v.sort_by_key(|p| p.ofp_port);
        v
    }

    /// True if datapath port `dp_port` is one of this bridge's.
    pub fn owns_dp_port(&self, dp_port: u32) -> bool {
        self.ports.load().dp_to_ofp.contains_key(&dp_port)
    }

    /// The learned MAC table (`ovs-appctl fdb/show`), live entries only.
    pub fn mac_table(&self) -> Vec<MacEntry> {
        let now = self.now_ms();
        let mut v: Vec<MacEntry> = self
            .macs
            .lock()
            .entries
            .iter()
            .filter(|(_, (_, seen))| now.saturating_sub(*seen) <= MAC_AGING_MS)
            .map(|((mac, vlan), (port, seen))| MacEntry {
                mac: *mac,
                vlan: *vlan,
                ofp_port: *port,
                age_s: now.saturating_sub(*seen) / 1000,
            })
            .collect();
        v.sort_by_key(|e| (e.ofp_port, e.vlan, e.mac));
        v
    }

    /// Translates a packet with datapath key `key` through the OpenFlow
    /// tables: the megaflow mask (every key bit consulted) and datapath
    /// actions. With `learn` set, NORMAL learns source MACs (upcalls do; the
    /// revalidator's re-translations do not).
    pub fn xlate(&self, key: &FlowKey, learn: bool, now: u64) -> (FlowKey, Vec<Action>) {
        let t = self.translate(key, learn, now);
        (t.mask, t.actions)
    }

    /// [`Bridge::xlate`] with the rules the packet matched.
    pub fn translate(&self, key: &FlowKey, learn: bool, now: u64) -> Translation {
        self.translate_learning(key, if learn { Learning::On } else { Learning::Off }, now)
    }

    fn translate_learning(&self, key: &FlowKey, learn: Learning, now: u64) -> Translation {
        self.translate_normal(key, learn, now).0
    }

    /// A translation, and whether it ran NORMAL.
    fn translate_normal(&self, key: &FlowKey, learn: Learning, now: u64) -> (Translation, bool) {
        let ports = self.ports.load();
        let view = PortView {
            ports: &ports,
            bridge: self,
            learn,
            now,
            normal_used: std::cell::Cell::new(false),
        };
        let tables = self.tables();
        let t = Xlate::run(&tables, &view, key);
        (t, view.normal_used.get())
    }

    /// Applies a flow_mod. Forwarding may change: the next revalidation
    /// re-translates every megaflow. Inside a [`Transaction`] of this
    /// thread, the change is logged so that it can be taken back.
    pub fn flow_mod(
        &self,
        fm: &FlowModSpec<OfActions>,
    ) -> Result<FlowModResult<OfActions>, FlowModError> {
        let mut tables = self.tables_write();
        let logging = self.join_transaction();
        let r = tables.apply(fm, self.now_ms());
        drop(tables);
        let requester = crate::monitor::requester();
        if let Ok(done) = &r {
            match (logging, self.me.upgrade()) {
                (true, Some(me)) => {
                    with_transaction(|t| {
                        t.log.extend(
                            done.changes
                                .iter()
                                .map(|c| (me.clone(), c.clone(), requester)),
                        )
                    });
                }
                _ => self.publish(&done.changes, requester),
            }
        }
        self.generation.fetch_add(1, Ordering::Release);
        r
    }

    /// Tells the flow monitors about `changes` (made for `requester`).
    fn publish(&self, changes: &[FlowChange<OfActions>], requester: Option<Requester>) {
        if self.monitors.is_idle() {
            return;
        }
        let events: Vec<FlowEvent> = changes
            .iter()
            .filter_map(|c| flow_event(c, requester))
            .collect();
        self.monitors.publish(&events);
    }

    /// Read access to the flow tables (dumps, stats). While another
    /// thread's [`Transaction`] has them frozen, this waits for it to end,
    /// so that nobody sees half a bundle.
    pub fn tables(&self) -> parking_lot::RwLockReadGuard<'_, FlowTables<OfActions>> {
        loop {
            self.wait_thawed();
            let g = self.tables.read();
            if !self.frozen_by_other() {
                return g;
            }
        }
    }

    /// Write access to the flow tables, once no other thread's transaction
    /// has them frozen.
    fn tables_write(&self) -> parking_lot::RwLockWriteGuard<'_, FlowTables<OfActions>> {
        loop {
            self.wait_thawed();
            let g = self.tables.write();
            if !self.frozen_by_other() {
                return g;
            }
        }
    }

    fn frozen_by_other(&self) -> bool {
        if !self.frozen_any.load(Ordering::Acquire) {
            return false;
        }
        let me = std::thread::current().id();
        matches!(*self.frozen.lock(), Some(t) if t != me)
    }

    fn wait_thawed(&self) {
        if !self.frozen_any.load(Ordering::Acquire) {
            return;
        }
        let me = std::thread::current().id();
        let mut f = self.frozen.lock();
        while matches!(*f, Some(t) if t != me) {
            self.thawed.wait(&mut f);
        }
    }

    /// If this thread has a transaction under way, freezes this bridge's
    /// tables for it (the caller holds the write lock, so nobody is
    /// reading them) and returns true.
    fn join_transaction(&self) -> bool {
        let Some(me) = self.me.upgrade() else {
            return false;
        };
        let joined = with_transaction(|t| {
            if t.rolling_back {
                return false;
            }
            if !t.frozen.iter().any(|b| Arc::ptr_eq(b, &me)) {
                *self.frozen.lock() = Some(std::thread::current().id());
                self.frozen_any.store(true, Ordering::Release);
                t.frozen.push(me.clone());
            }
            true
        });
        joined.unwrap_or(false)
    }

    fn thaw(&self) {
        let mut f = self.frozen.lock();
        *f = None;
        self.frozen_any.store(false, Ordering::Release);
        self.thawed.notify_all();
    }

    /// Removes flows whose timeouts passed, returning them with the reason.
    pub fn expire_flows(&self) -> Vec<(TableRule<OfActions>, RemovedReason)> {
        // Found under the read lock (translations go on), removed under the
        // write lock only when something is due.
        let now = self.now_ms();
        let due = self.tables().due(now);
        if due.is_empty() {
            return Vec::new();
        }
        let gone = self.tables_write().remove_due(due, now);
        if !gone.is_empty() {
            self.generation.fetch_add(1, Ordering::Release);
            self.report_removed(&gone);
            if !self.monitors.is_idle() {
                let events: Vec<FlowEvent> = gone
                    .iter()
                    .map(|(rule, why)| FlowEvent {
                        event: UpdateEvent::Removed,
                        reason: removed_reason(*why),
                        rule: rule.clone(),
                        old_actions: None,
                        requester: None,
                    })
                    .collect();
                self.monitors.publish(&events);
            }
        }
        gone
    }

    /// Tells the controllers about removed flows that asked for it (inside
    /// a transaction, once it commits).
    fn report_removed(&self, removed: &[(TableRule<OfActions>, RemovedReason)]) {
        if removed.is_empty() {
            return;
        }
        if let Some(me) = self.me.upgrade() {
            let held = with_transaction(|t| {
                if t.frozen.iter().any(|b| Arc::ptr_eq(b, &me)) {
                    t.removed.push((t.log.len(), me.clone(), removed.to_vec()));
                    true
                } else {
                    false
                }
            });
            if held == Some(true) {
                return;
            }
        }
        let now = self.now_ms();
        for (r, why) in removed {
            let e = &r.value;
            if !e.flags.send_flow_rem || crate::table::is_hidden(r.priority) {
                continue;
            }
            self.hub.flow_removed(&crate::async_msg::FlowRemoved {
                cookie: e.cookie.load(Ordering::Relaxed),
                priority: r.priority as u16,
                reason: removed_reason(*why),
                table_id: e.table_id,
                duration_ms: now.saturating_sub(e.created_ms),
                idle_timeout: e.idle_timeout,
                hard_timeout: e.hard_timeout,
                packet_count: e.stats.packets.load(Ordering::Relaxed),
                byte_count: e.stats.bytes.load(Ordering::Relaxed),
                matched: e.matched.clone(),
            });
        }
    }

    /// NORMAL: the output ports for a frame of `flow`, each with the VLAN tag
    /// it must carry there.
    fn normal(
        &self,
        ports: &Ports,
        flow: &FlowWords,
        wc: &mut FlowWords,
        learn: Learning,
        now: u64,
    ) -> Vec<(u32, Option<u16>)> {
        let get = |f: Field| flow_get(flow, f).unwrap_or(0);
        let in_ofp = get(Field::InPort) as u32;
        let Some(in_port) = ports.by_ofp.get(&in_ofp) else {
            return Vec::new();
        };
        let _ = put(wc, Field::VlanTci, (VLAN_PRESENT | 0x0fff) as u128);
        let tci = get(Field::VlanTci) as u16;
        let vid = if tci & VLAN_PRESENT != 0 {
            tci & 0x0fff
        } else {
            0
        };
        let Some(vlan) = in_port.input_vlan(vid) else {
            return Vec::new();
        };
        let _ = put(wc, Field::EthSrc, u128::MAX);
        let _ = put(wc, Field::EthDst, u128::MAX);
        let src = get(Field::EthSrc) as u64;
        let dst = get(Field::EthDst) as u64;
        if !is_multicast(src) {
            let changed = match learn {
                Learning::Off => false,
                Learning::On => self.macs.lock().learn(src, vlan, in_ofp, now),
                Learning::Refresh => self.macs.lock().refresh(src, vlan, in_ofp, now),
            };
            if changed {
                self.generation.fetch_add(1, Ordering::Release);
            }
        }
        let known = if is_multicast(dst) {
            None
        } else {
            self.macs.lock().lookup(dst, vlan, now)
        };
        let outs: Vec<&BridgePort> = match known {
            Some(p) if p == in_ofp => Vec::new(),
            Some(p) => ports.by_ofp.get(&p).into_iter().collect(),
            None => ports
                .by_ofp
                .values()
                .filter(|p| p.ofp_port != in_ofp)
                .collect(),
        };
        let current = (vid != 0).then_some(vid);
        let mut v: Vec<(u32, Option<u16>)> = outs
            .iter()
            .filter_map(|p| p.output_tag(vlan).map(|t| (p.ofp_port, t)))
            .collect();
        // Outputs that need the frame as it is first, then per tag, so the
        // datapath actions change the tag as few times as possible.
        v.sort_by_key(|(p, t)| (*t != current, *t, *p));
        v
    }

    /// Brings this bridge's megaflows up to date. First, sources whose
    /// traffic the datapath forwarded since the last pass (used within
    /// `active_ms` of `dp_now_ms`, the datapath's clock) are learned again,
    /// so a busy host's entry does not age out just because its packets no
    /// longer come up. Then aged entries go, and if forwarding may have
    /// changed, every megaflow of this bridge is translated again (without
    /// learning) and removed if its mask or actions differ. Returns the
    /// number of megaflows removed.
    pub fn revalidate(&self, dp: &Datapath, dp_now_ms: u64, active_ms: u64) -> usize {
        let now = self.now_ms();
        // Credit each megaflow's new traffic to the OpenFlow rules it went
        // through, and refresh MAC learning for sources that are active.
        let crediting = self.crediting.lock();
        dp.megaflows.for_each(|f| {
            let s = f.stats.snapshot();
            let (p0, b0) = f.credited();
            // Only flows whose translation learns (NORMAL) have anything to
            // refresh when active; the others need a look only for new
            // traffic. (Checked before the key is copied out: most flows
            // of a big cache have neither.)
            let active = f.watch_activity()
                && s.packets > 0
                && dp_now_ms.saturating_sub(s.used_ms) <= active_ms;
            if s.packets <= p0 && !active {
                return;
            }
            let key = f.key();
            if !self.owns_dp_port(key.in_port()) {
                return;
            }
            f.set_credited(s.packets, s.bytes);
            let learning = if active {
                Learning::Refresh
            } else {
                Learning::Off
            };
            let t = self.translate_learning(&key, learning, now);
            for r in &t.rules {
                r.value.stats.add(
                    s.packets.saturating_sub(p0),
                    s.bytes.saturating_sub(b0),
                    now,
                );
            }
            crate::group::credit(
                &t.groups,
                s.packets.saturating_sub(p0),
                s.bytes.saturating_sub(b0),
            );
        });
        drop(crediting);
        self.collect_packet_in_specs(dp);
        if self.macs.lock().expire(now) {
            self.generation.fetch_add(1, Ordering::Release);
        }
        let wants = self.hub.wants_packet_in_on_miss();
        if self.miss_to_controller.swap(wants, Ordering::AcqRel) != wants {
            self.generation.fetch_add(1, Ordering::Release);
        }
        let gen = self.generation.load(Ordering::Acquire);
        let changed = self.revalidated.load(Ordering::Acquire) != gen;
        if changed {
            self.changed_ms.store(now, Ordering::Relaxed);
        }
        // After a change, one more full pass a little later catches flows
        // translated before the change but installed after its pass; with
        // nothing changing, there is nothing to re-check.
        let since_change = now.saturating_sub(self.changed_ms.load(Ordering::Relaxed));
        let since_full = now.saturating_sub(self.last_full_ms.load(Ordering::Relaxed));
        let follow_up =
            since_change <= 2 * FULL_REVALIDATION_MS && since_full >= FULL_REVALIDATION_MS;
        if !changed && !follow_up {
            return 0;
        }
        self.last_full_ms.store(now, Ordering::Relaxed);
        let removed = dp.megaflows.retain(|f| {
            let key = f.key();
            if !self.owns_dp_port(key.in_port()) {
                return true;
            }
            let (mask, actions) = self.xlate(&key, false, now);
            mask == *f.mask() && *actions == *f.actions
        });
        self.revalidated.store(gen, Ordering::Release);
        removed
    }

    /// Forgets the packet-in specs no megaflow names any more, once there
    /// are many (the live ones are found without holding the specs, which
    /// translations take).
    fn collect_packet_in_specs(&self, dp: &Datapath) {
        if self.packet_ins.lock().specs.len() <= PACKET_IN_SPECS_KEPT {
            self.packet_ins.lock().pass += 1;
            return;
        }
        let mut live = std::collections::HashSet::new();
        dp.megaflows
            .for_each(|f| userspace_ids(&f.actions, &mut live));
        self.packet_ins.lock().collect(&live);
    }

    /// Applies an OpenFlow flow_mod; the flows it removed come back for
    /// flow-removed messages.
    pub fn apply_flow_mod(
        &self,
        fm: &OfFlowMod,
    ) -> Result<Vec<(TableRule<OfActions>, RemovedReason)>, OfpError> {
        check_flow_mod(fm)?;
        let (key, mask) = match_words(&fm.matched).map_err(|_| ofperr("OFPBMC_BAD_FIELD"))?;
        let any = |p: u32| (p != u32::MAX).then_some(p);
        let spec = FlowModSpec {
            command: match fm.command {
                OfFlowModCommand::Add => FlowModCommand::Add,
                OfFlowModCommand::Modify => FlowModCommand::Modify,
                OfFlowModCommand::ModifyStrict => FlowModCommand::ModifyStrict,
                OfFlowModCommand::Delete => FlowModCommand::Delete,
                OfFlowModCommand::DeleteStrict => FlowModCommand::DeleteStrict,
            },
            table_id: fm.table_id,
            priority: u32::from(fm.priority),
            matched: fm.matched.clone(),
            key,
            mask,
            cookie: fm.cookie,
            cookie_mask: fm.cookie_mask,
            out_port: any(fm.out_port),
            out_group: any(fm.out_group),
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            importance: fm.importance,
            flags: FlowFlags {
                send_flow_rem: fm.flags & 1 != 0,
                check_overlap: fm.flags & 2 != 0,
                reset_counts: fm.flags & 4 != 0,
                no_pkt_counts: fm.flags & 8 != 0,
                no_byt_counts: fm.flags & 16 != 0,
            },
            actions: Arc::new(OfActions(fm.actions.clone())),
        };
        match self.flow_mod(&spec) {
            Ok(r) => {
                self.report_removed(&r.removed);
                Ok(r.removed)
            }
            Err(e) => Err(flow_mod_error(e)),
        }
    }

    /// What the pipeline does with IP fragments.
    pub fn frag_handling(&self) -> FragHandling {
        match self.frag_handling.load(Ordering::Relaxed) {
            1 => FragHandling::Drop,
            3 => FragHandling::NxMatch,
            _ => FragHandling::Normal,
        }
    }

    /// Changes the fragment handling; false for reassembly, which the
    /// userspace datapath cannot do (Open vSwitch's refuses it too, and the
    /// mode stays as it was). Every megaflow is translated again.
    pub fn set_frag_handling(&self, f: FragHandling) -> bool {
        let v = match f {
            FragHandling::Normal => 0,
            FragHandling::Drop => 1,
            FragHandling::Reassemble => return false,
            FragHandling::NxMatch => 3,
        };
        if self.frag_handling.swap(v, Ordering::Relaxed) != v {
            self.generation.fetch_add(1, Ordering::Release);
        }
        true
    }

    /// The TLV check a flow_mod gets before it is applied (when added to a
    /// bundle, as Open vSwitch decodes it then): every `tun_metadata` field
    /// of its match and actions must be mapped (NXFMFC_INVALID_TLV_FIELD).
    pub fn check_tlv_fields(&self, fm: &OfFlowMod) -> Result<(), OfpError> {
        let tables = self.tables();
        let tun = tables.tun_table();
        let mut r = Ok(());
        for e in fm.matched.entries() {
            r = r.and(tun.check_field(e.field).map(|_| ()));
        }
        for a in &fm.actions {
            a.for_each_field(&mut |f| r = r.and(tun.check_field(f).map(|_| ())));
        }
        r
    }

    /// Applies an NXT_TLV_TABLE_MOD to this bridge's TLV table.
    pub fn tlv_table_mod(&self, m: &crate::ofp::message::TlvTableMod) -> Result<(), OfpError> {
        self.tables_write().tlv_table_mod(m)
    }

    /// The NXT_TLV_TABLE_REPLY for this bridge.
    pub fn tlv_table(&self) -> crate::ofp::message::TlvTableReply {
        self.tables().tun_table().reply()
    }

    fn select_flows(&self, req: &FlowStatsRequest) -> Result<Vec<TableRule<OfActions>>, OfpError> {
        let (key, mask) = match_words(&req.matched).map_err(|_| ofperr("OFPBMC_BAD_FIELD"))?;
        let any = |p: u32| (p != u32::MAX).then_some(p);
        self.tables()
            .select(
                req.table_id,
                false,
                0,
                &req.matched,
                &key,
                &mask,
                req.cookie,
                req.cookie_mask,
                any(req.out_port),
                any(req.out_group),
            )
            .map_err(flow_mod_error)
    }

    /// The flows a flow stats request selects, sorted as ovs-ofctl expects
    /// to receive them (by table, then priority, highest first).
    pub fn flow_stats(&self, req: &FlowStatsRequest) -> Result<Vec<FlowStats>, OfpError> {
        let now = self.now_ms();
        let mut rules = self.select_flows(req)?;
        rules.sort_by_key(|r| (r.value.table_id, std::cmp::Reverse(r.priority)));
        Ok(rules
            .iter()
            .map(|r| {
                let e = &r.value;
                let used = e.stats.used_ms.load(Ordering::Relaxed);
                FlowStats {
                    table_id: e.table_id,
                    duration_ms: now.saturating_sub(e.created_ms),
                    priority: r.priority as u16,
                    idle_timeout: e.idle_timeout,
                    hard_timeout: e.hard_timeout,
                    flags: flags_wire(&e.flags),
                    importance: e.importance,
                    idle_age: (now.saturating_sub(used) / 1000).min(u16::MAX as u64) as u16,
                    hard_age: (now.saturating_sub(e.created_ms) / 1000).min(u16::MAX as u64) as u16,
                    cookie: e.cookie.load(Ordering::Relaxed),
                    packet_count: e.stats.packets.load(Ordering::Relaxed),
                    byte_count: e.stats.bytes.load(Ordering::Relaxed),
                    matched: e.matched.clone(),
                    actions: e.actions.load().0.clone(),
                }
            })
            .collect())
    }

    /// Totals over the flows an aggregate request selects.
    pub fn aggregate(&self, req: &FlowStatsRequest) -> Result<AggregateStats, OfpError> {
        let rules = self.select_flows(req)?;
        Ok(AggregateStats {
            packet_count: rules
                .iter()
                .map(|r| r.value.stats.packets.load(Ordering::Relaxed))
                .sum(),
            byte_count: rules
                .iter()
                .map(|r| r.value.stats.bytes.load(Ordering::Relaxed))
                .sum(),
            flow_count: rules.len() as u32,
        })
    }

    /// Runs a packet-out's actions on its packet and queues the resulting
    /// datapath actions on `dp`.
    pub fn packet_out(&self, dp: &Datapath, po: &PacketOut) -> Result<(), OfpError> {
        // In-port: a real port, LOCAL, CONTROLLER or none; not the other
        // reserved numbers.
        let p = po.in_port;
        if p >= 0xffff_ff00
            && ![OFPP_LOCAL, crate::ofp::action::port::CONTROLLER, u32::MAX].contains(&p)
        {
            return Err(ofperr("OFPBRC_BAD_PORT"));
        }
        if po.buffer_id != u32::MAX {
            // No packets are buffered (n_buffers is 0).
            return Err(ofperr("OFPBRC_BUFFER_UNKNOWN"));
        }
        if let Some(what) = crate::xlate::unsupported(&po.actions) {
            tracing::info!(
                action = what,
                "packet-out refused: action not supported by this switch"
            );
            return Err(ofperr("OFPBAC_BAD_TYPE"));
        }
        let ports = self.ports.load();
        let in_ofp = (po.in_port != crate::ofp::action::port::CONTROLLER && po.in_port != u32::MAX)
            .then_some(po.in_port);
        let in_dp = in_ofp
            .and_then(|p| ports.by_ofp.get(&p))
            .map_or(u32::MAX, |p| p.dp_port);
        self.execute_translated(dp, &ports, &po.data, in_dp, |tables, view, key| {
            Xlate::run_actions(tables, view, key, in_ofp, &po.actions)
        });
        Ok(())
    }

    /// Runs `data` (arriving on datapath port `in_dp`) through `translate`
    /// and has the datapath execute the result: what a packet-out and a
    /// resume do with the controller's packet.
    fn execute_translated(
        &self,
        dp: &Datapath,
        ports: &Ports,
        data: &[u8],
        in_dp: u32,
        translate: impl FnOnce(&FlowTables<OfActions>, &PortView<'_>, &FlowKey) -> Translation,
    ) {
        let mut packet = oxvs_datapath::Packet::from_slice(data);
        packet.meta.in_port = in_dp;
        let (key, _) = oxvs_datapath::extract::extract_packet(&packet);
        let view = PortView {
            ports,
            bridge: self,
            learn: Learning::Off,
            now: self.now_ms(),
            normal_used: std::cell::Cell::new(false),
        };
        let t = translate(&self.tables(), &view, &key);
        if !t.actions.is_empty() {
            dp.execute(packet, Arc::from(t.actions));
        }
    }

    /// The OFPPC_* config bits of a port (0 unless a port-mod set some).
    pub fn port_config(&self, ofp_port: u32) -> u32 {
        self.port_config.lock().get(&ofp_port).copied().unwrap_or(0)
    }

    /// Applies a port-mod's config bits (those in `mask`); false if the
    /// port does not exist. Forwarding changes: megaflows are revalidated.
    pub fn port_mod(&self, ofp_port: u32, config: u32, mask: u32) -> bool {
        if !self.ports.load().by_ofp.contains_key(&ofp_port) {
            return false;
        }
        let mut m = self.port_config.lock();
        let cur = m.get(&ofp_port).copied().unwrap_or(0);
        m.insert(ofp_port, (cur & !mask) | (config & mask));
        drop(m);
        self.generation.fetch_add(1, Ordering::Release);
        true
    }

    /// A packet the datapath sent up with a userspace action: turn it into
    /// a packet-in for the controllers.
    pub fn upcall_action(&self, userdata: u64, packet: &oxvs_datapath::Packet) {
        let Some(spec) = self.packet_ins.lock().get(userdata) else {
            tracing::debug!(userdata, "userspace action with an unknown cookie");
            return;
        };
        let in_port = self
            .ports
            .load()
            .dp_to_ofp
            .get(&packet.meta.in_port)
            .copied()
            .unwrap_or(OFPP_LOCAL);
        // The whole frame, whatever max_len says: nothing is buffered, and
        // Open vSwitch (whose packet-ins these are modelled on) does not cut
        // either; a paused packet must be resumable whole.
        let data = packet.data();
        let mut metadata = crate::ofp::matching::Match::new();
        // Every OpenFlow port number is a valid in_port value.
        if metadata.set_in_port(in_port).is_err() {
            tracing::debug!(in_port, "packet-in from a port no match can name");
        }
        for (f, v) in &spec.metadata {
            if let Err(e) = metadata.set_int(*f, *v, None) {
                tracing::debug!(field = f.name(), error = ?e, "packet-in metadata");
            }
        }
        let pi = PacketIn {
            reason: spec.reason,
            table_id: spec.table_id,
            cookie: spec.cookie,
            metadata,
            data: data.to_vec(),
            total_len: u32::try_from(data.len()).unwrap_or(u32::MAX),
            userdata: spec.userdata,
            ..PacketIn::default()
        };
        match &spec.pause {
            Some(st) => self.hub.paused_packet_in(
                &pi,
                spec.controller_id,
                &self.continuation(st, in_port, packet.meta.in_port),
            ),
            None => self.hub.packet_in(&pi, spec.controller_id),
        }
    }

    /// The continuation of a paused pipeline, in Open vSwitch's terms
    /// (`freeze_unroll_actions`): one frame per rule with actions left,
    /// innermost first. What OpenFlow actions cannot say is rewritten as
    /// OVS does: goto_table as `resubmit(,T)`, write_metadata as a masked
    /// set-field; write_actions and clear_actions join the action set at
    /// once (the set is only read at the pipeline's end, so this differs
    /// only if a later table writes the same kind of action before an
    /// enclosing rule's write would have). A frame whose in_port differs
    /// from what the frame before it left (`resubmit(N,T)` sets it for the
    /// inner rule only) starts by loading its own. `in_ofp` is the in_port
    /// the packet-in reports, which is where a resume starts from.
    fn continuation(
        &self,
        st: &crate::group::Frozen,
        in_ofp: u32,
        odp_port: u32,
    ) -> crate::ofp::message::Continuation {
        use crate::ofp::action::{port, ResubmitForm, SetField, SubField};
        use crate::ofp::message::ContinuationFrame;
        let mut action_set = st.action_set.clone();
        let mut frames = Vec::new();
        let mut cur_in = in_ofp;
        let first = crate::group::Segment {
            table: st.table,
            cookie: st.cookie,
            in_ofp: st.in_ofp,
            actions: st.actions.clone(),
        };
        for seg in std::iter::once(&first).chain(&st.outer) {
            let mut actions = Vec::new();
            for a in &seg.actions {
                match a {
                    OfAction::GotoTable(t) => actions.push(OfAction::Resubmit {
                        in_port: port::IN_PORT,
                        table: Some(*t),
                        ct: false,
                        form: ResubmitForm::Table,
                    }),
                    OfAction::WriteMetadata { value, mask } => {
                        actions.push(OfAction::SetField(SetField {
                            field: Field::Metadata,
                            value: crate::ofp::field::Value::from_slice(&value.to_be_bytes()),
                            mask: crate::ofp::field::Value::from_slice(&mask.to_be_bytes()),
                            form: crate::ofp::action::SetFieldForm::SetField,
                        }))
                    }
                    OfAction::WriteActions(v) => action_set.extend(v.iter().cloned()),
                    OfAction::ClearActions => action_set.clear(),
                    other => actions.push(other.clone()),
                }
            }
            if actions.is_empty() {
                continue;
            }
            if seg.in_ofp != cur_in {
                // NXM_OF_IN_PORT is 16 bits wide (LOCAL is 0xfffe there).
                match crate::ofp::matching::port_to_u16(seg.in_ofp) {
                    Some(p) => actions.insert(
                        0,
                        OfAction::SetField(SetField::load(
                            SubField::whole(Field::InPort),
                            u128::from(p),
                        )),
                    ),
                    None => tracing::warn!(
                        port = seg.in_ofp,
                        "continuation: in_port has no 16-bit form"
                    ),
                }
                cur_in = seg.in_ofp;
            }
            frames.push(ContinuationFrame {
                table_id: seg.table,
                cookie: seg.cookie,
                actions,
            });
        }
        crate::ofp::message::Continuation {
            bridge: self.id,
            frames,
            action_set,
            odp_port,
            ..Default::default()
        }
    }

    /// NXT_RESUME: runs the rest of a paused pipeline on the message's
    /// packet and queues the resulting datapath actions on `dp`, as a
    /// packet-out's (Open vSwitch's `handle_nxt_resume` and `nxt_resume`).
    /// `version` is the connection's, which the continuation's actions are
    /// encoded in. A continuation that does not decode gets its error; one
    /// for another bridge (or none at all) NXR_STALE, as OVS's
    /// `xlate_resume` when its bridge is not found; actions this switch
    /// cannot run OFPBAC_BAD_TYPE, as in a packet-out.
    pub fn resume(
        &self,
        dp: &Datapath,
        pi: &PacketIn,
        version: crate::ofp::Version,
    ) -> Result<(), OfpError> {
        let c = crate::ofp::message::Continuation::decode(version, &pi.continuation)?;
        if c.bridge != self.id {
            return Err(ofperr("NXR_STALE"));
        }
        let all = c
            .frames
            .iter()
            .flat_map(|f| &f.actions)
            .chain(&c.action_set);
        if let Some(what) = crate::xlate::unsupported(&all.cloned().collect::<Vec<_>>()) {
            tracing::info!(
                action = what,
                "resume refused: action not supported by this switch"
            );
            return Err(ofperr("OFPBAC_BAD_TYPE"));
        }
        let ports = self.ports.load();
        // The pipeline's fields are the message's (the controller may have
        // changed them); in_port 0 when it gives none, as OVS's match.
        let in_ofp = pi.metadata.in_port().unwrap_or(0);
        let metadata: Vec<(Field, u128)> = pi
            .metadata
            .entries()
            .iter()
            .filter(|e| e.field != Field::InPort)
            .filter_map(|e| {
                let v = e.value.to_u128()?;
                let m = e.mask.as_ref().map_or(Some(u128::MAX), |m| m.to_u128())?;
                Some((e.field, v & m))
            })
            .collect();
        // The datapath port the packet came in on: the continuation's (0:
        // none given), if it is still one of this bridge's, else the
        // in_port's.
        let in_dp = if c.odp_port != 0 && ports.dp_to_ofp.contains_key(&c.odp_port) {
            c.odp_port
        } else {
            ports.by_ofp.get(&in_ofp).map_or(u32::MAX, |p| p.dp_port)
        };
        self.execute_translated(dp, &ports, &pi.data, in_dp, |tables, view, key| {
            Xlate::resume(
                tables,
                view,
                key,
                in_ofp,
                &metadata,
                &c.frames,
                &c.action_set,
            )
        });
        Ok(())
    }

    /// Forwarding may have changed (groups, meters): the next revalidation
    /// re-translates every megaflow.
    pub(crate) fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Forgets every learned MAC (`fdb/flush`).
    pub fn flush_macs(&self) {
        self.macs.lock().entries.clear();
        self.generation.fetch_add(1, Ordering::Release);
    }
}

/// The checks of a flow_mod that need no table: actions this switch can
/// run, a table an add may name (one, and not the read-only table 254),
/// goto_table forward only, a match the pipeline can hold. A bundle runs
/// them when a flow_mod is added to it, as Open vSwitch's
/// `ofproto_flow_mod_init` does; [`Bridge::apply_flow_mod`] runs them again.
pub fn check_flow_mod(fm: &OfFlowMod) -> Result<(), OfpError> {
    if let Some(what) = crate::xlate::unsupported(&fm.actions) {
        tracing::info!(
            action = what,
            "flow_mod refused: action not supported by this switch"
        );
        return Err(ofperr("OFPBAC_BAD_TYPE"));
    }
    let deleting = matches!(
        fm.command,
        OfFlowModCommand::Delete | OfFlowModCommand::DeleteStrict
    );
    // An add names one table; table 254 is Open vSwitch's hidden
    // read-only table, which controllers may not change. (OpenFlow 1.1+
    // modifies of every table are refused when decoded.)
    if fm.command == OfFlowModCommand::Add && fm.table_id == ALL_TABLES {
        return Err(ofperr("OFPFMFC_BAD_TABLE_ID"));
    }
    if !deleting && fm.table_id == 254 {
        return Err(ofperr("OFPBRC_EPERM"));
    }
    // goto_table must go forward, so the pipeline cannot loop.
    if fm
        .actions
        .iter()
        .any(|a| matches!(a, OfAction::GotoTable(t) if *t <= fm.table_id))
    {
        return Err(ofperr("OFPBIC_BAD_TABLE_ID"));
    }
    match_words(&fm.matched).map_err(|_| ofperr("OFPBMC_BAD_FIELD"))?;
    Ok(())
}

/// OFPRR_* for a removal.
fn removed_reason(why: RemovedReason) -> u8 {
    match why {
        RemovedReason::IdleTimeout => 0,
        RemovedReason::HardTimeout => 1,
        RemovedReason::Delete => 2,
    }
}

/// What flow monitors hear of a change, as Open vSwitch reports it: an add
/// (also one that replaced an identical flow) is ADDED, a delete REMOVED,
/// a modify MODIFIED only if it changed the actions.
fn flow_event(c: &FlowChange<OfActions>, requester: Option<Requester>) -> Option<FlowEvent> {
    let (event, rule, old_actions) = match c {
        FlowChange::Added { rule, .. } => (UpdateEvent::Added, rule, None),
        FlowChange::Removed(rule) => (UpdateEvent::Removed, rule, None),
        FlowChange::Modified { rule, actions, .. } => {
            if **actions == **rule.value.actions.load() {
                return None;
            }
            (UpdateEvent::Modified, rule, Some(actions.clone()))
        }
    };
    Some(FlowEvent {
        event,
        reason: if event == UpdateEvent::Removed {
            removed_reason(RemovedReason::Delete)
        } else {
            0
        },
        rule: rule.clone(),
        old_actions,
        requester,
    })
}

thread_local! {
    /// Set while [`find_monitor_hub`] probes: the first bridge whose
    /// ports are read fills it in.
    static FIND_MONITORS: RefCell<Option<Option<Arc<MonitorHub>>>> = const { RefCell::new(None) };
}

/// The flow monitor hub of the bridge that `probe` reads the ports of:
/// how a [`crate::ofconn::SwitchView`] over a bridge is found to have one
/// without knowing the view's type (see `SwitchView::flow_monitors`).
pub fn find_monitor_hub(probe: impl FnOnce()) -> Option<Arc<MonitorHub>> {
    FIND_MONITORS.with(|f| *f.borrow_mut() = Some(None));
    probe();
    FIND_MONITORS.with(|f| f.borrow_mut().take().flatten())
}

// ---------------------------------------------------------------------------
// Transactions (bundle commits).

thread_local! {
    /// The transaction under way on this thread, if any.
    static TRANSACTION: RefCell<Option<TxnState>> = const { RefCell::new(None) };
}

/// Flow-removed reports of one flow_mod, held back until the commit.
type HeldRemovals = (
    usize,
    Arc<Bridge>,
    Vec<(TableRule<OfActions>, RemovedReason)>,
);

#[derive(Default)]
struct TxnState {
    /// Every flow table change made so far, oldest first, with whom it
    /// was made for.
    log: Vec<(Arc<Bridge>, FlowChange<OfActions>, Option<Requester>)>,
    /// Bridges whose tables this transaction froze.
    frozen: Vec<Arc<Bridge>>,
    /// Flow-removed reports held back until the commit, each with the
    /// length of the log once the changes that caused it were in.
    removed: Vec<HeldRemovals>,
    /// Undoing: changes are not logged and bridges not frozen.
    rolling_back: bool,
}

fn with_transaction<R>(f: impl FnOnce(&mut TxnState) -> R) -> Option<R> {
    TRANSACTION.with(|t| t.borrow_mut().as_mut().map(f))
}

/// All-or-nothing changes to flow tables: what a bundle commit runs in.
///
/// While a transaction is under way on a thread, every flow_mod that
/// thread makes ([`Bridge::flow_mod`], and so [`Bridge::apply_flow_mod`],
/// the flows a group delete takes with it, ...) is logged, and the bridge
/// it touches is frozen: other threads, which read its tables for upcalls,
/// the revalidator, dumps and packet-outs, or change them, wait until the
/// transaction ends. Nobody sees half a bundle, and no other connection's
/// change slips in between. [`Transaction::rollback_to`] takes changes
/// back, newest first; [`Transaction::commit`] keeps them and sends the
/// flow-removed messages they caused; dropping an uncommitted transaction
/// takes everything back.
///
/// Only flow table changes are logged here. Whoever also changes groups or
/// port configuration in the transaction takes those back itself (see
/// [`crate::bundle`]), interleaved with [`Transaction::rollback_to`] at the
/// marks it took.
pub struct Transaction {
    /// Tied to its thread (the log is thread-local).
    _thread: PhantomData<*const ()>,
    done: bool,
}

impl Transaction {
    /// Starts a transaction on this thread; None if one is under way.
    pub fn begin() -> Option<Transaction> {
        TRANSACTION.with(|t| {
            let mut t = t.borrow_mut();
            if t.is_some() {
                return None;
            }
            *t = Some(TxnState::default());
            Some(Transaction {
                _thread: PhantomData,
                done: false,
            })
        })
    }

    /// The number of changes logged so far: a point to roll back to.
    pub fn mark(&self) -> usize {
        with_transaction(|t| t.log.len()).unwrap_or(0)
    }

    /// Takes back every change made after `mark`, newest first.
    pub fn rollback_to(&self, mark: usize) {
        let undo = with_transaction(|t| {
            t.rolling_back = true;
            let keep = mark.min(t.log.len());
            t.removed.retain(|(at, ..)| *at <= keep);
            t.log.split_off(keep)
        })
        .unwrap_or_default();
        for (bridge, change, _) in undo.into_iter().rev() {
            bridge.tables.write().undo(change);
            bridge.generation.fetch_add(1, Ordering::Release);
        }
        with_transaction(|t| t.rolling_back = false);
    }

    /// Keeps every change: the bridges thaw, and the flow-removed messages
    /// and flow monitor updates go out.
    pub fn commit(mut self) {
        self.done = true;
        if let Some(state) = TRANSACTION.with(|t| t.borrow_mut().take()) {
            for b in &state.frozen {
                b.thaw();
            }
            for (_, b, removed) in state.removed {
                b.report_removed(&removed);
            }
            for b in &state.frozen {
                if b.monitors.is_idle() {
                    continue;
                }
                let events: Vec<FlowEvent> = state
                    .log
                    .iter()
                    .filter(|(x, ..)| Arc::ptr_eq(x, b))
                    .filter_map(|(_, c, r)| flow_event(c, *r))
                    .collect();
                b.monitors.publish(&events);
            }
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.rollback_to(0);
        if let Some(state) = TRANSACTION.with(|t| t.borrow_mut().take()) {
            for b in &state.frozen {
                b.thaw();
            }
        }
    }
}

/// A new bridge's tables: Open vSwitch's `priority=0 actions=NORMAL` in
/// table 0, which makes a bridge without a controller a learning switch.
fn default_tables() -> FlowTables<OfActions> {
    let mut t = FlowTables::new();
    let spec = FlowModSpec::match_all(
        FlowModCommand::Add,
        0,
        0,
        Arc::new(OfActions(vec![OfAction::output(
            crate::ofp::action::port::NORMAL,
        )])),
    );
    // Adding to an empty table cannot fail.
    let _ = t.apply(&spec, 0);
    t
}

/// The bridge's ports as xlate sees them during one translation.
struct PortView<'a> {
    ports: &'a Ports,
    bridge: &'a Bridge,
    learn: Learning,
    now: u64,
    /// Set when the translation ran NORMAL (its MAC learning).
    normal_used: std::cell::Cell<bool>,
}

impl PortMap for PortView<'_> {
    fn groups(&self) -> Option<&crate::group::GroupState> {
        Some(&self.bridge.groups)
    }

    fn ofp_port(&self, dp_port: u32) -> Option<u32> {
        self.ports.dp_to_ofp.get(&dp_port).copied()
    }

    fn dp_port(&self, ofp_port: u32) -> Option<u32> {
        self.ports.by_ofp.get(&ofp_port).map(|p| p.dp_port)
    }

    fn all_ports(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.ports.by_ofp.keys().copied().collect();
        v.sort();
        v
    }

    fn normal(&self, flow: &FlowWords, wc: &mut FlowWords) -> Vec<(u32, Option<u16>)> {
        self.normal_used.set(true);
        self.bridge
            .normal(self.ports, flow, wc, self.learn, self.now)
    }

    fn config(&self, ofp_port: u32) -> u32 {
        self.bridge.port_config(ofp_port)
    }

    fn frag_handling(&self) -> FragHandling {
        self.bridge.frag_handling()
    }

    fn packet_in_on_miss(&self) -> bool {
        // As of the last revalidation (which bumps the generation when it
        // changes): a translation takes no lock of the connections, and
        // every megaflow agrees with the others.
        self.bridge.miss_to_controller.load(Ordering::Acquire)
    }

    fn controller(&self, spec: PacketInSpec) -> u64 {
        // The same spec always gets the same cookie, so re-translations
        // produce identical actions and megaflows stay valid.
        // Userdata is part of the spec: two controller actions that differ
        // only in it must get different cookies.
        let mut words = vec![
            spec.cookie,
            (spec.controller_id as u64) << 48
                | (spec.reason as u64) << 32
                | (spec.table_id as u64) << 16
                | spec.max_len as u64,
            spec.userdata.len() as u64,
        ];
        words.extend(spec.userdata.chunks(8).map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_be_bytes(b)
        }));
        for (f, v) in &spec.metadata {
            words.extend([*f as u64, *v as u64, (*v >> 64) as u64]);
        }
        // A paused packet's continuation is part of what its cookie names
        // (SipHash with fixed keys: the same state, the same cookie).
        if let Some(st) = &spec.pause {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            st.hash(&mut h);
            words.push(h.finish());
        }
        let id = oxvs_datapath::flow_key::hash_words(&words);
        self.bridge.packet_ins.lock().insert(id, spec);
        id
    }
}

/// The packet-in specs a bridge's megaflows name, by userspace-action
/// cookie. Register values can make every megaflow's spec its own, so the
/// revalidator forgets those no megaflow names any more
/// ([`PacketInSpecs::collect`]).
#[derive(Default)]
struct PacketInSpecs {
    specs: HashMap<u64, (PacketInSpec, u64)>,
    /// Revalidation passes so far; each spec remembers the last one that
    /// registered it.
    pass: u64,
}

/// Specs a bridge keeps before it looks for unused ones.
const PACKET_IN_SPECS_KEPT: usize = 4096;

impl PacketInSpecs {
    fn get(&self, id: u64) -> Option<PacketInSpec> {
        self.specs.get(&id).map(|(s, _)| s.clone())
    }

    fn insert(&mut self, id: u64, spec: PacketInSpec) {
        self.specs.insert(id, (spec, self.pass));
    }

    /// Forgets the specs that no megaflow in `live` names and that were
    /// not registered in this pass or the last (a translation whose
    /// megaflow is not installed yet may still need them).
    fn collect(&mut self, live: &std::collections::HashSet<u64>) {
        let pass = self.pass;
        self.specs
            .retain(|id, (_, p)| live.contains(id) || *p + 1 >= pass);
        self.pass += 1;
    }
}

/// Adds the cookies of the userspace actions in `actions` to `ids`.
fn userspace_ids(actions: &[Action], ids: &mut std::collections::HashSet<u64>) {
    for a in actions {
        match a {
            Action::Userspace { userdata } => {
                ids.insert(*userdata);
            }
            Action::Clone(inner) | Action::Sample { actions: inner, .. } => {
                userspace_ids(inner, ids)
            }
            _ => {}
        }
    }
}

/// The OpenFlow error for a flow table refusal.
fn flow_mod_error(e: FlowModError) -> OfpError {
    match e {
        FlowModError::Overlap => ofperr("OFPFMFC_OVERLAP"),
        FlowModError::BadTableId(_) => ofperr("OFPBRC_BAD_TABLE_ID"),
        FlowModError::TableFull(_) => ofperr("OFPFMFC_TABLE_FULL"),
        FlowModError::InvalidTlvField => ofperr("NXFMFC_INVALID_TLV_FIELD"),
    }
}

fn ofperr(name: &str) -> OfpError {
    // The names are OVS's and all in the error table; a miss is our typo,
    // and BAD_REQUEST/EPERM is the honest generic answer.
    OfpError::from_name(name).unwrap_or(OfpError::BadRequest(crate::ofp::error::BadRequest::EPerm))
}

fn flags_wire(f: &FlowFlags) -> u16 {
    (f.send_flow_rem as u16)
        | (f.check_overlap as u16) << 1
        | (f.reset_counts as u16) << 2
        | (f.no_pkt_counts as u16) << 3
        | (f.no_byt_counts as u16) << 4
}

/// Routes upcalls to the bridge that owns the input port. Cloneable: each
/// handler thread takes its own; they share the bridge list.
#[derive(Clone, Default)]
pub struct UpcallDispatcher {
    bridges: Arc<ArcSwap<Vec<Arc<Bridge>>>>,
}

impl UpcallDispatcher {
    pub fn new() -> UpcallDispatcher {
        UpcallDispatcher::default()
    }

    pub fn attach(&self, b: Arc<Bridge>) {
        let mut v: Vec<Arc<Bridge>> = self.bridges.load().iter().cloned().collect();
        v.retain(|x| x.name() != b.name());
        v.push(b);
        self.bridges.store(Arc::new(v));
    }

    pub fn detach(&self, name: &str) {
        let v: Vec<Arc<Bridge>> = self
            .bridges
            .load()
            .iter()
            .filter(|b| b.name() != name)
            .cloned()
            .collect();
        self.bridges.store(Arc::new(v));
    }

    pub fn bridges(&self) -> Vec<Arc<Bridge>> {
        self.bridges.load().iter().cloned().collect()
    }
}

impl UpcallHandler for UpcallDispatcher {
    fn handle(&mut self, up: &Upcall) -> UpcallReply {
        let bridges = self.bridges.load();
        let Some(b) = bridges.iter().find(|b| b.owns_dp_port(up.key.in_port())) else {
            // A port no bridge claims (being removed): drop, and cache the
            // drop on in_port alone so a flood of them stays in the datapath.
            let mut mask = FlowKey::ZERO;
            mask.set_in_port(u32::MAX);
            mask.set_recirc_id(u32::MAX);
            return UpcallReply {
                install: Some(MegaflowSpec {
                    mask,
                    actions: Arc::from(Vec::new()),
                    ..MegaflowSpec::default()
                }),
                actions: Arc::from(Vec::new()),
            };
        };
        match up.kind {
            UpcallKind::Miss => {
                let now = b.now_ms();
                let (t, normal) = b.translate_normal(&up.key, Learning::On, now);
                // The packet that missed is credited here, with the rules
                // at hand; the megaflow starts with it counted as credited,
                // so the revalidator need not translate a new flow again.
                let len = up.packet.len() as u64;
                for r in &t.rules {
                    r.value.stats.add(1, len, now);
                }
                crate::group::credit(&t.groups, 1, len);
                let actions: Arc<[Action]> = Arc::from(t.actions);
                UpcallReply {
                    install: Some(MegaflowSpec {
                        mask: t.mask,
                        actions: actions.clone(),
                        credited: true,
                        quiet: !normal,
                    }),
                    actions,
                }
            }
            UpcallKind::Action { userdata } => {
                b.upcall_action(userdata, &up.packet);
                UpcallReply {
                    install: None,
                    actions: Arc::from(Vec::new()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxvs_datapath::dp::{DatapathConfig, PollThread};
    use oxvs_datapath::port::{MemoryHandle, MemoryPort};

    const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
    const BCAST: [u8; 6] = [0xff; 6];

    fn frame(dst: [u8; 6], src: [u8; 6], vlan: Option<u16>) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        if let Some(v) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&v.to_be_bytes());
        }
        f.extend_from_slice(&[0x88, 0xb5]); // local experimental ethertype
        f.resize(f.len() + 46, 0x5a);
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
        fn new(modes: &[VlanMode]) -> Rig {
            let dp = Arc::new(Datapath::new(DatapathConfig::default()));
            let mut pt = PollThread::new(dp.clone());
            pt.set_emc_insert_inv_prob(1);
            let bridge = Bridge::new("br0");
            let mut handles = Vec::new();
            for (i, m) in modes.iter().enumerate() {
                let no = i as u32 + 1;
                let port = MemoryPort::new(format!("p{no}"), no).with_capture(1000);
                handles.push(port.handle());
                pt.ports.add(no, Box::new(port));
                bridge
                    .add_port(BridgePort {
                        ofp_port: no,
                        dp_port: no,
                        name: format!("p{no}"),
                        vlan: m.clone(),
                    })
                    .unwrap_or_else(|e| panic!("{e}"));
            }
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

        /// Sends `f` in on port `port` and runs it through, upcalls included.
        fn send(&mut self, port: usize, f: &[u8]) {
            self.handles[port - 1].inject(f);
            self.pt.poll_once(0);
            self.dp.handle_upcalls(&mut self.disp, 64);
            self.pt.run_executes(0);
            self.pt.flush();
        }

        /// Frames each port sent since the last call.
        fn taken(&self) -> Vec<Vec<Vec<u8>>> {
            self.handles
                .iter()
                .map(|h| h.take_sent().into_iter().map(|s| s.data).collect())
                .collect()
        }
    }

    fn trunk() -> VlanMode {
        VlanMode::Trunk(None)
    }

    #[test]
    fn floods_unknown_then_forwards_learned_unicast() {
        let mut r = Rig::new(&[trunk(), trunk(), trunk()]);
        let ab = frame(B, A, None);
        r.send(1, &ab);
        assert_eq!(
            r.taken(),
            vec![vec![], vec![ab.clone()], vec![ab.clone()]],
            "unknown B: flood"
        );
        let ba = frame(A, B, None);
        r.send(2, &ba);
        assert_eq!(
            r.taken(),
            vec![vec![ba.clone()], vec![], vec![]],
            "A was learned on port 1"
        );
        // The flooding megaflow for A->B is stale now that B is known.
        assert!(r.bridge.revalidate(&r.dp, 0, 1000) >= 1);
        r.send(1, &ab);
        assert_eq!(r.taken(), vec![vec![], vec![ab.clone()], vec![]]);
        let macs = r.bridge.mac_table();
        assert_eq!(macs.len(), 2);
        assert_eq!(macs[0].ofp_port, 1);
    }

    #[test]
    fn broadcast_never_returns_to_its_input() {
        let mut r = Rig::new(&[trunk(), trunk()]);
        let f = frame(BCAST, A, None);
        r.send(1, &f);
        r.send(1, &f);
        assert_eq!(r.taken(), vec![vec![], vec![f.clone(), f]]);
    }

    #[test]
    fn access_ports_keep_vlans_apart_and_trunks_tag() {
        // p1, p2 in VLAN 10; p3 in VLAN 20; p4 trunk for 10 only.
        let mut r = Rig::new(&[
            VlanMode::Access(10),
            VlanMode::Access(10),
            VlanMode::Access(20),
            VlanMode::Trunk(Some(vec![10])),
        ]);
        let f = frame(BCAST, A, None);
        r.send(1, &f);
        let t = r.taken();
        assert_eq!(t[1], vec![f.clone()], "same VLAN, untagged");
        assert!(t[2].is_empty(), "VLAN 20 must not see VLAN 10");
        assert_eq!(
            t[3],
            vec![frame(BCAST, A, Some(10))],
            "trunk gets it tagged"
        );
        // Tagged VLAN 10 from the trunk reaches the access ports untagged.
        r.send(4, &frame(BCAST, B, Some(10)));
        let t = r.taken();
        assert_eq!(t[0], vec![frame(BCAST, B, None)]);
        assert_eq!(t[1], vec![frame(BCAST, B, None)]);
        assert!(t[2].is_empty());
        // A VLAN the trunk does not carry, and a tagged frame on an access
        // port, are dropped.
        r.send(4, &frame(BCAST, B, Some(20)));
        r.send(1, &frame(BCAST, A, Some(10)));
        assert!(r.taken().iter().all(|v| v.is_empty()));
    }

    #[test]
    fn a_moved_mac_is_relearned_and_stale_flows_go() {
        let mut r = Rig::new(&[trunk(), trunk(), trunk()]);
        r.send(2, &frame(A, B, None)); // learn B on 2
        r.send(1, &frame(B, A, None)); // A on 1, B known: unicast to 2
        assert_eq!(r.taken()[1].len(), 1, "unicast to B on port 2");
        // B moves to port 3.
        r.send(3, &frame(A, B, None));
        r.bridge.revalidate(&r.dp, 0, 1000);
        r.taken();
        r.send(1, &frame(B, A, None));
        let t = r.taken();
        assert!(
            t[1].is_empty() && t[2].len() == 1,
            "B now lives on port 3: {t:?}"
        );
    }

    fn of_flow_mod(cmd: OfFlowModCommand, priority: u16, port: u32, out: u32) -> OfFlowMod {
        let mut matched = crate::ofp::matching::Match::new();
        matched
            .set_in_port(port)
            .unwrap_or_else(|e| panic!("{e:?}"));
        OfFlowMod {
            command: cmd,
            table_id: 0,
            cookie: 0,
            cookie_mask: 0,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: u32::MAX,
            out_port: u32::MAX,
            out_group: u32::MAX,
            flags: 0,
            importance: 0,
            matched,
            actions: vec![OfAction::output(out)],
        }
    }

    fn outputs(b: &Bridge, port: u32) -> Vec<Action> {
        let mut k = FlowKey::ZERO;
        k.set_in_port(port);
        b.xlate(&k, false, 0).1
    }

    #[test]
    fn a_transaction_holds_readers_until_it_ends() {
        let r = Rig::new(&[trunk(), trunk(), trunk()]);
        let b = r.bridge.clone();
        let add = |p: u16, out: u32| of_flow_mod(OfFlowModCommand::Add, p, 1, out);
        // Without the NORMAL flow: a miss drops.
        let mut all = of_flow_mod(OfFlowModCommand::Delete, 0, 1, 0);
        all.matched = crate::ofp::matching::Match::new();
        b.apply_flow_mod(&all).unwrap_or_else(|e| panic!("{e}"));
        b.apply_flow_mod(&add(5, 2))
            .unwrap_or_else(|e| panic!("{e}"));
        let before = outputs(&b, 1);
        assert_eq!(before.len(), 1);

        let txn = Transaction::begin().unwrap_or_else(|| panic!("no transaction"));
        assert!(Transaction::begin().is_none(), "one per thread");
        let del = of_flow_mod(OfFlowModCommand::DeleteStrict, 5, 1, 0);
        b.apply_flow_mod(&del).unwrap_or_else(|e| panic!("{e}"));
        // This thread sees its own changes.
        assert!(outputs(&b, 1).is_empty());
        let reader = {
            let b = b.clone();
            std::thread::spawn(move || outputs(&b, 1))
        };
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!reader.is_finished(), "a reader waits for the transaction");
        b.apply_flow_mod(&add(6, 3))
            .unwrap_or_else(|e| panic!("{e}"));
        txn.commit();
        let seen = reader.join().unwrap_or_else(|_| panic!("reader"));
        assert_eq!(seen, outputs(&b, 1), "the reader saw the whole transaction");
        assert_ne!(seen, before);
        assert_eq!(b.tables().total(), 1);
    }

    #[test]
    fn an_abandoned_transaction_takes_everything_back() {
        let r = Rig::new(&[trunk(), trunk()]);
        let b = r.bridge.clone();
        let before = outputs(&b, 1);
        let n = b.tables().total();
        {
            let txn = Transaction::begin().unwrap_or_else(|| panic!("no transaction"));
            b.apply_flow_mod(&of_flow_mod(OfFlowModCommand::Add, 9, 1, 2))
                .unwrap_or_else(|e| panic!("{e}"));
            let mark = txn.mark();
            let mut all = OfFlowMod {
                table_id: ALL_TABLES,
                ..of_flow_mod(OfFlowModCommand::Delete, 0, 1, 0)
            };
            all.matched = crate::ofp::matching::Match::new();
            b.apply_flow_mod(&all).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(b.tables().total(), 0);
            txn.rollback_to(mark);
            assert_eq!(b.tables().total(), n + 1, "back to the mark");
            // Dropped without a commit.
        }
        assert_eq!(b.tables().total(), n);
        assert_eq!(outputs(&b, 1), before);
        // Another thread can change the tables again.
        let b2 = b.clone();
        std::thread::spawn(move || {
            b2.apply_flow_mod(&of_flow_mod(OfFlowModCommand::Add, 9, 1, 2))
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .join()
        .unwrap_or_else(|_| panic!("writer"));
        assert_eq!(b.tables().total(), n + 1);
    }

    #[test]
    fn ports_are_checked_and_removal_forgets_their_macs() {
        let r = Rig::new(&[trunk(), trunk()]);
        let dup = BridgePort {
            ofp_port: 1,
            dp_port: 9,
            name: "x".into(),
            vlan: trunk(),
        };
        assert_eq!(r.bridge.add_port(dup), Err(BridgeError::PortNumberInUse(1)));
        let bad = BridgePort {
            ofp_port: 5,
            dp_port: 9,
            name: "y".into(),
            vlan: VlanMode::Access(5000),
        };
        assert_eq!(r.bridge.add_port(bad), Err(BridgeError::BadVlan(5000)));
        assert!(r.bridge.del_port(2).is_some());
        assert!(!r.bridge.owns_dp_port(2));
        assert_eq!(r.bridge.ports().len(), 1);
    }

    #[test]
    fn packet_in_specs_no_megaflow_names_are_forgotten() {
        let spec = |cookie| PacketInSpec {
            reason: 1,
            table_id: 0,
            cookie,
            max_len: 128,
            userdata: Vec::new(),
            metadata: Vec::new(),
            controller_id: 0,
            pause: None,
        };
        let mut s = PacketInSpecs::default();
        s.insert(1, spec(1));
        s.insert(2, spec(2));
        // Pass 0 -> 1: both registered in the last pass, both kept.
        s.collect(&std::collections::HashSet::new());
        assert_eq!(s.specs.len(), 2);
        s.insert(3, spec(3));
        // Pass 1 -> 2: 1 and 2 are a pass old (kept), 3 is new.
        s.collect(&std::collections::HashSet::new());
        assert_eq!(s.specs.len(), 3);
        // Pass 2 -> 3: 1 is named by a megaflow, 2 by none; 3 is a pass old.
        s.collect(&[1].into_iter().collect());
        let mut left: Vec<u64> = s.specs.keys().copied().collect();
        left.sort();
        assert_eq!(left, [1, 3]);
        assert_eq!(s.get(1).map(|p| p.cookie), Some(1));
        assert!(s.get(2).is_none());
    }

    #[test]
    fn userspace_cookies_are_found_inside_clones_and_samples() {
        let acts = [
            Action::Output(1),
            Action::Clone(vec![Action::Userspace { userdata: 7 }].into()),
            Action::Sample {
                probability: u32::MAX,
                actions: vec![Action::Userspace { userdata: 9 }].into(),
            },
            Action::Userspace { userdata: 11 },
        ];
        let mut ids = std::collections::HashSet::new();
        userspace_ids(&acts, &mut ids);
        let mut v: Vec<u64> = ids.into_iter().collect();
        v.sort();
        assert_eq!(v, [7, 9, 11]);
    }
}
