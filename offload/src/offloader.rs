//! Which megaflows live in tc, and keeping it so: ports whose ingress oxvs
//! owns (a clsact qdisc with a lowest-priority catch-all that hands misses
//! to the switch), established flows offered as flower filters, dead flows'
//! filters removed, tc's counters credited back to the megaflows, filters
//! deleted behind oxvs's back reinstalled.
//!
//! All tc I/O goes through [`TcOps`], so that this logic is tested without
//! a kernel; [`crate::tc::TcSocket`] is the real one.

use std::collections::HashMap;
use std::sync::Arc;

use oxvs_datapath::megaflow::{Megaflow, MegaflowCache};

use crate::caps::Capabilities;
use crate::flower::{self, Devices, Reason, Redirect};
use crate::tc::{
    FilterInfo, FilterSpec, TcError, TcSocket, CLS_FLAGS_IN_HW, CLS_FLAGS_SKIP_HW,
    CLS_FLAGS_SKIP_SW,
};

/// The priority of the offloaded megaflows of one outer ethertype (flower
/// keeps many masks in one priority, and megaflows do not overlap; but tc
/// wants one protocol per priority).
pub fn flow_prio(protocol: u16) -> u16 {
    match protocol {
        0x0800 => 1,
        0x86dd => 2,
        0x0806 => 3,
        0x8100 => 4,
        0x88a8 => 5,
        crate::tc::ETH_P_ALL => 7,
        _ => 6,
    }
}
/// The catch-all that sends what no filter took to the switch.
pub const MISS_PRIO: u16 = 0xfff0;
const MISS_HANDLE: u32 = 1;
/// Removal passes a filter's failing deletion is tried in before oxvs
/// gives up on it (and says so).
const MAX_DELETE_TRIES: u32 = 20;
/// Marks the actions of oxvs's filters (`tc -s filter show` prints it).
pub const COOKIE: &[u8] = b"oxvs";

/// The tc I/O the offloader needs.
pub trait TcOps {
    fn add_clsact(&mut self, ifindex: u32) -> Result<(), TcError>;
    fn del_clsact(&mut self, ifindex: u32) -> Result<(), TcError>;
    fn add_filter(&mut self, f: &FilterSpec) -> Result<(), TcError>;
    fn del_filter(&mut self, ifindex: u32, prio: u16, handle: u32) -> Result<(), TcError>;
    fn dump_filters(&mut self, ifindex: u32) -> Result<Vec<FilterInfo>, TcError>;
}

impl TcOps for TcSocket {
    fn add_clsact(&mut self, ifindex: u32) -> Result<(), TcError> {
        TcSocket::add_clsact(self, ifindex)
    }
    fn del_clsact(&mut self, ifindex: u32) -> Result<(), TcError> {
        TcSocket::del_clsact(self, ifindex)
    }
    fn add_filter(&mut self, f: &FilterSpec) -> Result<(), TcError> {
        TcSocket::add_filter(self, f)
    }
    fn del_filter(&mut self, ifindex: u32, prio: u16, handle: u32) -> Result<(), TcError> {
        TcSocket::del_filter(self, ifindex, prio, handle)
    }
    fn dump_filters(&mut self, ifindex: u32) -> Result<Vec<FilterInfo>, TcError> {
        TcSocket::dump_filters(self, ifindex)
    }
}

/// Open vSwitch's `other_config:tc-policy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcPolicy {
    /// Hardware if the device can, else tc's software path.
    #[default]
    None,
    /// Hardware only: a device that cannot refuses, the flow stays in oxvs.
    SkipSw,
    /// tc's software path only.
    SkipHw,
}

impl TcPolicy {
    pub fn parse(s: &str) -> Option<TcPolicy> {
        match s {
            "none" => Some(TcPolicy::None),
            "skip_sw" => Some(TcPolicy::SkipSw),
            "skip_hw" => Some(TcPolicy::SkipHw),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TcPolicy::None => "none",
            TcPolicy::SkipSw => "skip_sw",
            TcPolicy::SkipHw => "skip_hw",
        }
    }

    fn cls_flags(self) -> u32 {
        match self {
            TcPolicy::None => 0,
            TcPolicy::SkipSw => CLS_FLAGS_SKIP_SW,
            TcPolicy::SkipHw => CLS_FLAGS_SKIP_HW,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadSettings {
    pub policy: TcPolicy,
    /// A megaflow is established, and offered to tc, once it has counted
    /// this many packets (the one that installed it included).
    pub min_packets: u64,
    /// ...and has been in the cache this long (ms; 0: no wait), so that
    /// short-lived flows never cost a tc round trip.
    pub min_age_ms: u64,
}

impl Default for OffloadSettings {
    fn default() -> Self {
        OffloadSettings {
            policy: TcPolicy::None,
            min_packets: 2,
            min_age_ms: 0,
        }
    }
}

/// Where one megaflow is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// In the NIC (tc reports in_hw).
    InHw,
    /// In tc's software classifier.
    InTcSoftware,
    /// In oxvs's megaflow cache only, and why.
    NotOffloaded(String),
}

/// Counters for `coverage/show` and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OffloadCounters {
    pub installed: u64,
    pub removed: u64,
    pub refused: u64,
    pub kernel_errors: u64,
    pub healed: u64,
    /// Packets tc forwarded, credited to megaflows.
    pub tc_packets: u64,
}

struct PortState {
    ifindex: u32,
    name: String,
    /// Where the catch-all sends misses (to put it back if it goes).
    miss_ifindex: u32,
    next_handle: u32,
}

struct Filter {
    flow: Arc<Megaflow>,
    in_port: u32,
    ifindex: u32,
    handle: u32,
    spec: FilterSpec,
    packets: u64,
    bytes: u64,
    in_hw: bool,
}

/// What a status line says of one megaflow.
#[derive(Clone, Debug)]
pub struct FlowPlacement {
    pub flow: Arc<Megaflow>,
    pub placement: Placement,
}

pub struct Offloader<T: TcOps> {
    tc: T,
    caps: Capabilities,
    settings: OffloadSettings,
    /// Ports oxvs offloads from, by datapath port number.
    ports: HashMap<u32, PortState>,
    /// Where outputs to each datapath port go in tc terms.
    outputs: HashMap<u32, Redirect>,
    filters: HashMap<usize, Filter>,
    /// Filters of dead megaflows whose deletion failed (not for want of
    /// the filter), with the passes tried: tried again at each removal
    /// pass, so none is left to forward a flow the switch has dropped.
    undeleted: Vec<(u32, u16, u32, u32)>,
    /// Megaflows tc refused or cannot express, and why (not tried again).
    refused: HashMap<usize, (Arc<Megaflow>, String)>,
    /// When each candidate megaflow was first seen established (for
    /// `min_age_ms`).
    seen: HashMap<usize, u64>,
    counters: OffloadCounters,
}

struct DevView<'a> {
    outputs: &'a HashMap<u32, Redirect>,
    caps: &'a Capabilities,
}

impl Devices for DevView<'_> {
    fn redirect(&self, dp_port: u32) -> Option<Redirect> {
        self.outputs.get(&dp_port).copied()
    }
    fn has_action(&self, kind: &'static str) -> bool {
        self.caps.has(kind)
    }
}

/// The lowest-priority filter of an attached device: everything no flow
/// filter took goes to the switch through the miss device.
fn catch_all(ifindex: u32, miss_ifindex: u32) -> FilterSpec {
    FilterSpec {
        ifindex,
        prio: MISS_PRIO,
        protocol: crate::tc::ETH_P_ALL,
        handle: MISS_HANDLE,
        options: flower::Flower {
            keys: Vec::new(),
            actions: vec![{
                let mut a = flower::mirred(Redirect::Egress(miss_ifindex), true, COOKIE);
                a.tab = 1;
                a
            }],
        }
        .options(CLS_FLAGS_SKIP_HW),
    }
}

fn id(f: &Arc<Megaflow>) -> usize {
    Arc::as_ptr(f) as usize
}

impl<T: TcOps> Offloader<T> {
    pub fn new(tc: T, caps: Capabilities, settings: OffloadSettings) -> Offloader<T> {
        Offloader {
            tc,
            caps,
            settings,
            ports: HashMap::new(),
            outputs: HashMap::new(),
            filters: HashMap::new(),
            undeleted: Vec::new(),
            refused: HashMap::new(),
            seen: HashMap::new(),
            counters: OffloadCounters::default(),
        }
    }

    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    pub fn settings(&self) -> OffloadSettings {
        self.settings
    }

    /// A new policy applies to filters installed from now on; the refused
    /// list is cleared so that flows get another chance.
    pub fn set_settings(&mut self, s: OffloadSettings) {
        self.settings = s;
        self.refused.clear();
    }

    pub fn counters(&self) -> OffloadCounters {
        self.counters
    }

    /// Says where outputs to `dp_port` go (None: it has no device). When
    /// that changes (the port's device was recreated, or went), the
    /// filters that redirect to the old device go, and their megaflows
    /// are offered again at the next sync.
    pub fn set_output(&mut self, dp_port: u32, to: Option<Redirect>) {
        let old = match to {
            Some(r) => self.outputs.insert(dp_port, r),
            None => self.outputs.remove(&dp_port),
        };
        if old == to {
            return;
        }
        let outputs_to = |f: &Megaflow| {
            f.actions
                .iter()
                .any(|a| matches!(a, oxvs_datapath::Action::Output(p) if *p == dp_port))
        };
        let stale: Vec<usize> = self
            .filters
            .iter()
            .filter(|(_, f)| outputs_to(&f.flow))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            if let Some(f) = self.filters.remove(&k) {
                self.delete_filter(f.ifindex, f.spec.prio, f.handle, 0);
            }
        }
        self.refused.retain(|_, (f, _)| !outputs_to(f));
    }

    /// Whether `dp_port` has its ingress owned by oxvs.
    pub fn is_attached(&self, dp_port: u32) -> bool {
        self.ports.contains_key(&dp_port)
    }

    /// Takes over the ingress of device `ifindex` (datapath port `dp_port`):
    /// any qdisc left there (by a crashed oxvs, say) goes, then a clsact
    /// with the catch-all that redirects misses to `miss_ifindex`.
    pub fn attach_port(
        &mut self,
        dp_port: u32,
        name: &str,
        ifindex: u32,
        miss_ifindex: u32,
    ) -> Result<(), TcError> {
        if !self.caps.flower() {
            return Err(TcError::Kernel {
                errno: libc::ENOENT,
                msg: self.caps.flower_error.clone(),
            });
        }
        self.detach_port(dp_port);
        // Whatever was waiting to be deleted on this device goes with its
        // qdisc below (and its handles start over).
        self.undeleted.retain(|d| d.0 != ifindex);
        // Someone else's ingress filters (another tool's, an admin's) are
        // not ours to wipe; a crashed oxvs's are.
        if let Ok(existing) = self.tc.dump_filters(ifindex) {
            if existing.iter().any(|i| i.cookie.as_deref() != Some(COOKIE)) {
                return Err(TcError::Kernel {
                    errno: libc::EBUSY,
                    msg: Some("the device has tc ingress filters oxvs did not add".into()),
                });
            }
        }
        let _ = self.tc.del_clsact(ifindex);
        self.tc.add_clsact(ifindex)?;
        if let Err(e) = self.tc.add_filter(&catch_all(ifindex, miss_ifindex)) {
            let _ = self.tc.del_clsact(ifindex);
            return Err(e);
        }
        self.ports.insert(
            dp_port,
            PortState {
                ifindex,
                name: name.to_owned(),
                miss_ifindex,
                next_handle: MISS_HANDLE + 1,
            },
        );
        tracing::info!(port = name, ifindex, "tc offload attached");
        Ok(())
    }

    /// Removes what a crashed oxvs left on device `ifindex` (a clsact whose
    /// filters carry oxvs's cookie, whose catch-all would send frames to a
    /// miss device that is gone). Other qdiscs are left alone. Returns true
    /// if something was removed.
    pub fn clear_stale(&mut self, ifindex: u32) -> bool {
        if !self.caps.flower() || self.ports.values().any(|p| p.ifindex == ifindex) {
            return false;
        }
        let ours = match self.tc.dump_filters(ifindex) {
            Ok(f) => f.iter().any(|i| i.cookie.as_deref() == Some(COOKIE)),
            Err(_) => false,
        };
        if ours && self.tc.del_clsact(ifindex).is_ok() {
            tracing::info!(
                ifindex,
                "removed the tc qdisc and filters a previous oxvs left"
            );
            return true;
        }
        false
    }

    /// Gives the ingress of `dp_port` back: its qdisc and every filter go.
    pub fn detach_port(&mut self, dp_port: u32) {
        let Some(p) = self.ports.remove(&dp_port) else {
            return;
        };
        let _ = self.tc.del_clsact(p.ifindex);
        self.filters.retain(|_, f| f.in_port != dp_port);
        self.undeleted.retain(|d| d.0 != p.ifindex);
        tracing::info!(port = p.name, "tc offload detached");
    }

    /// Removes every qdisc and filter oxvs added (shutdown).
    pub fn detach_all(&mut self) {
        let ports: Vec<u32> = self.ports.keys().copied().collect();
        for p in ports {
            self.detach_port(p);
        }
    }

    /// Removes the filters of megaflows that left the cache. Runs before a
    /// barrier reply, after the bridge's revalidation removed stale flows.
    pub fn remove_dead(&mut self) -> usize {
        for (ifindex, prio, handle, tries) in std::mem::take(&mut self.undeleted) {
            if tries >= MAX_DELETE_TRIES {
                tracing::error!(
                    ifindex,
                    handle,
                    "gave up deleting a tc filter; `tc filter del` it by hand"
                );
                continue;
            }
            self.delete_filter(ifindex, prio, handle, tries + 1);
        }
        let dead: Vec<usize> = self
            .filters
            .iter()
            .filter(|(_, f)| !f.flow.is_alive())
            .map(|(k, _)| *k)
            .collect();
        for k in &dead {
            if let Some(f) = self.filters.remove(k) {
                self.delete_filter(f.ifindex, f.spec.prio, f.handle, 0);
            }
        }
        self.refused.retain(|_, (f, _)| f.is_alive());
        dead.len()
    }

    /// Deletes one filter, or keeps it in `undeleted` for the next pass if
    /// the kernel failed for another reason than the filter (or its
    /// device) being gone already.
    fn delete_filter(&mut self, ifindex: u32, prio: u16, handle: u32, tries: u32) {
        match self.tc.del_filter(ifindex, prio, handle) {
            Ok(()) => self.counters.removed += 1,
            Err(e) if matches!(e.errno(), Some(libc::ENOENT) | Some(libc::ENODEV)) => {
                self.counters.removed += 1
            }
            Err(e) => {
                if tries == 0 {
                    tracing::warn!(error = %e, ifindex, handle, "removing a tc filter; will retry");
                }
                self.counters.kernel_errors += 1;
                self.undeleted.push((ifindex, prio, handle, tries));
            }
        }
    }

    /// The number of filters whose deletion is still to be retried.
    pub fn undeleted(&self) -> usize {
        self.undeleted.len()
    }

    /// One revalidator pass: [`Offloader::sync_stats`], then every
    /// established megaflow offered to tc.
    pub fn sync(&mut self, cache: &MegaflowCache, now_ms: u64) {
        let offers = self.sync_stats(cache, now_ms);
        self.offer_established(&offers);
    }

    /// Dead flows' filters go, tc's counters are credited to their
    /// megaflows (with tc's last-use time, on the datapath clock
    /// `now_ms`), vanished filters are reinstalled; returns the megaflows
    /// now established, for [`Offloader::offer_established`]. (Split so
    /// that a caller sharing the offloader can offer a flood of new flows
    /// a few at a time, letting a barrier's [`Offloader::remove_dead`] in
    /// between.)
    pub fn sync_stats(&mut self, cache: &MegaflowCache, now_ms: u64) -> Vec<Arc<Megaflow>> {
        if self.ports.is_empty() {
            return Vec::new();
        }
        self.remove_dead();
        self.read_stats(now_ms);
        let mut offer = Vec::new();
        let mut seen = HashMap::with_capacity(self.seen.len());
        cache.for_each(|f| {
            let k = id(f);
            if self.filters.contains_key(&k) || self.refused.contains_key(&k) {
                return;
            }
            let in_port = f.key().in_port();
            if !self.ports.contains_key(&in_port) {
                return;
            }
            if f.stats.snapshot().packets < self.settings.min_packets {
                return;
            }
            let since = *self.seen.get(&k).unwrap_or(&now_ms);
            if now_ms.saturating_sub(since) >= self.settings.min_age_ms {
                offer.push(f.clone());
            } else {
                seen.insert(k, since);
            }
        });
        self.seen = seen;
        offer
    }

    /// Offers established megaflows to tc; those that died or were placed
    /// since [`Offloader::sync_stats`] picked them are passed over.
    pub fn offer_established(&mut self, flows: &[Arc<Megaflow>]) {
        for f in flows {
            let k = id(f);
            if f.is_alive() && !self.filters.contains_key(&k) && !self.refused.contains_key(&k) {
                self.offer(f);
            }
        }
    }

    fn read_stats(&mut self, now_ms: u64) {
        let ports: Vec<(u32, u32)> = self.ports.iter().map(|(n, p)| (*n, p.ifindex)).collect();
        for (dp_port, ifindex) in ports {
            let dumped = match self.tc.dump_filters(ifindex) {
                Ok(d) => d,
                // The device went, and its qdisc and filters with it.
                Err(e) if e.errno() == Some(libc::ENODEV) => {
                    tracing::info!(ifindex, "offloading device is gone");
                    self.ports.remove(&dp_port);
                    self.filters.retain(|_, f| f.in_port != dp_port);
                    self.undeleted.retain(|d| d.0 != ifindex);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, ifindex, "reading tc filters");
                    continue;
                }
            };
            if !dumped.iter().any(|i| i.prio == MISS_PRIO) {
                // The catch-all, or the whole clsact, was deleted behind our
                // back: misses would reach the host's stack instead of the
                // switch, so it is put back (the flows' filters follow
                // below as vanished ones).
                self.restore_catch_all(dp_port);
            }
            let by_handle: HashMap<u32, &FilterInfo> = dumped
                .iter()
                .filter(|i| i.prio != MISS_PRIO)
                .map(|i| (i.handle, i))
                .collect();
            let mut missing = Vec::new();
            for (k, f) in self
                .filters
                .iter_mut()
                .filter(|(_, f)| f.in_port == dp_port)
            {
                match by_handle.get(&f.handle) {
                    Some(i) => {
                        // tc's packet counter is 32 bits wide.
                        let dp = u64::from((i.packets as u32).wrapping_sub(f.packets as u32));
                        let db = i.bytes.saturating_sub(f.bytes);
                        if dp > 0 {
                            let used = i
                                .last_used_ago_ms
                                .map_or(now_ms, |ago| now_ms.saturating_sub(ago));
                            f.flow.stats.add(dp, db, 0, used);
                            self.counters.tc_packets += dp;
                        }
                        f.packets = i.packets;
                        f.bytes = i.bytes;
                        f.in_hw = i.flags & CLS_FLAGS_IN_HW != 0;
                    }
                    None => missing.push(*k),
                }
            }
            // Deleted behind our back (`tc filter del`): put it back.
            for k in missing {
                let Some(mut f) = self.filters.remove(&k) else {
                    continue;
                };
                tracing::warn!(
                    ifindex,
                    handle = f.handle,
                    "tc filter vanished; reinstalling"
                );
                self.counters.healed += 1;
                f.packets = 0;
                f.bytes = 0;
                match self.tc.add_filter(&f.spec) {
                    Ok(()) => {
                        self.filters.insert(k, f);
                    }
                    Err(e) => {
                        self.counters.kernel_errors += 1;
                        self.refused
                            .insert(k, (f.flow, format!("reinstall refused by the kernel: {e}")));
                    }
                }
            }
        }
    }

    fn restore_catch_all(&mut self, dp_port: u32) {
        let Some(p) = self.ports.get(&dp_port) else {
            return;
        };
        let (ifindex, miss) = (p.ifindex, p.miss_ifindex);
        tracing::warn!(ifindex, "tc catch-all vanished; restoring the ingress");
        // EEXIST when only the filter went; any other failure shows in
        // the filter's add.
        let _ = self.tc.add_clsact(ifindex);
        match self.tc.add_filter(&catch_all(ifindex, miss)) {
            Ok(()) => self.counters.healed += 1,
            Err(e) => {
                tracing::warn!(error = %e, ifindex, "restoring the tc catch-all");
                self.counters.kernel_errors += 1;
            }
        }
    }

    fn offer(&mut self, f: &Arc<Megaflow>) {
        let k = id(f);
        let key = f.key();
        let in_port = key.in_port();
        let devs = DevView {
            outputs: &self.outputs,
            caps: &self.caps,
        };
        let fl = match flower::translate(&key, f.mask(), &f.actions, &devs, COOKIE) {
            Ok(fl) => fl,
            Err(r) => {
                self.refuse(f, r);
                return;
            }
        };
        let Some(port) = self.ports.get_mut(&in_port) else {
            return;
        };
        let handle = port.next_handle;
        port.next_handle = port.next_handle.checked_add(1).unwrap_or(MISS_HANDLE + 1);
        let spec = FilterSpec {
            ifindex: port.ifindex,
            prio: flow_prio(fl.protocol()),
            protocol: fl.protocol(),
            handle,
            options: fl.options(self.settings.policy.cls_flags()),
        };
        match self.tc.add_filter(&spec) {
            Ok(()) => {
                self.counters.installed += 1;
                self.filters.insert(
                    k,
                    Filter {
                        flow: f.clone(),
                        in_port,
                        ifindex: spec.ifindex,
                        handle,
                        spec,
                        packets: 0,
                        bytes: 0,
                        in_hw: false,
                    },
                );
            }
            Err(e) => {
                self.counters.kernel_errors += 1;
                self.refused
                    .insert(k, (f.clone(), format!("refused by the kernel: {e}")));
            }
        }
    }

    fn refuse(&mut self, f: &Arc<Megaflow>, r: Reason) {
        self.counters.refused += 1;
        self.refused.insert(id(f), (f.clone(), r.to_string()));
    }

    /// Where `f` is, for `offload/show`.
    pub fn placement(&self, f: &Arc<Megaflow>) -> Placement {
        let k = id(f);
        if let Some(fl) = self.filters.get(&k) {
            return if fl.in_hw {
                Placement::InHw
            } else {
                Placement::InTcSoftware
            };
        }
        if let Some((_, why)) = self.refused.get(&k) {
            return Placement::NotOffloaded(why.clone());
        }
        if let Some(e) = &self.caps.flower_error {
            return Placement::NotOffloaded(format!("tc flower is unavailable ({e})"));
        }
        let in_port = f.key().in_port();
        if !self.ports.contains_key(&in_port) {
            return Placement::NotOffloaded(format!(
                "hw-offload is not enabled on its input port (datapath port {in_port})"
            ));
        }
        if self.seen.contains_key(&k) {
            return Placement::NotOffloaded(format!(
                "not established yet (younger than {} ms)",
                self.settings.min_age_ms
            ));
        }
        Placement::NotOffloaded(format!(
            "not established yet (fewer than {} packets)",
            self.settings.min_packets
        ))
    }

    /// The tc handle of `f`'s filter, if it has one.
    pub fn handle_of(&self, f: &Arc<Megaflow>) -> Option<(u32, u32)> {
        self.filters.get(&id(f)).map(|x| (x.ifindex, x.handle))
    }

    /// Number of megaflows in tc.
    pub fn offloaded(&self) -> usize {
        self.filters.len()
    }

    /// The attached ports: (datapath port, device name, ifindex).
    pub fn ports(&self) -> Vec<(u32, String, u32)> {
        let mut v: Vec<_> = self
            .ports
            .iter()
            .map(|(n, p)| (*n, p.name.clone(), p.ifindex))
            .collect();
        v.sort();
        v
    }

    /// The backend, for tests that look at what was sent.
    pub fn tc(&mut self) -> &mut T {
        &mut self.tc
    }
}
