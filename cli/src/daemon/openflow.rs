//! OpenFlow for the daemon's bridges: a tokio runtime that serves each
//! bridge on its management socket (`<rundir>/<bridge>.mgmt`, what
//! `ovs-ofctl show br0` opens when OVS_RUNDIR points at the run directory)
//! and on the passive controller targets it is given (`ptcp:`, `punix:`),
//! and connects out to its active controllers (`tcp:`, `unix:`), again
//! after each failure with Open vSwitch's backoff.
//! The sessions themselves are `oxvs_ofproto`'s; this module owns the
//! listeners and connections, tells the sessions about ports
//! ([`PortSource`]), and runs each bridge's fail-open ([`FailOpen`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use oxvs_datapath::port::PortStats;
use oxvs_datapath::Datapath;
use oxvs_ofproto::bridge::{Bridge, BridgePort};
use oxvs_ofproto::bridge_view::{BridgeSessions, BridgeView, PortSource};
use oxvs_ofproto::ofconn::SwitchView;
use oxvs_ofproto::ofp::action::{port as ofp_port, Action as OfAction};
use oxvs_ofproto::ofp::flow_msg::{FlowMod, FlowModCommand as OfFlowModCommand};
use oxvs_ofproto::ofp::matching::Match;
use oxvs_ofproto::ofp::Version;
use oxvs_ofproto::server::{
    run_active, serve, ActiveStatus, ConnEvents, Connect, Listen, Session, SessionFactory, Tracked,
    DEFAULT_MAX_BACKOFF_MS, DEFAULT_PROBE_MS,
};
use oxvs_ofproto::table::{FlowModCommand, FlowModSpec};
use oxvs_ofproto::xlate::OfActions;
use tokio::sync::mpsc;

use super::runtime::SharedOffloader;
use super::Clock;

/// What OpenFlow sessions learn about a datapath port.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortInfo {
    pub mac: [u8; 6],
    pub up: bool,
    pub stats: PortStats,
}

/// Port facts by datapath port, refreshed by the state task.
#[derive(Clone, Default)]
pub struct PortInfos(Arc<Mutex<HashMap<u32, PortInfo>>>);

impl PortInfos {
    fn lock(&self) -> MutexGuard<'_, HashMap<u32, PortInfo>> {
        // A panic elsewhere cannot leave the map half-written: take it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn replace(&self, m: HashMap<u32, PortInfo>) {
        *self.lock() = m;
    }

    pub fn get(&self, dp_port: u32) -> Option<PortInfo> {
        self.lock().get(&dp_port).copied()
    }
}

struct Source {
    infos: PortInfos,
    clock: Clock,
    offload: SharedOffloader,
}

impl PortSource for Source {
    fn link(&self, port: &BridgePort) -> ([u8; 6], bool) {
        self.infos
            .get(port.dp_port)
            .map(|i| (i.mac, i.up))
            .unwrap_or(([0; 6], false))
    }

    fn counters(&self, dp_port: u32) -> Option<PortStats> {
        self.infos.get(dp_port).map(|i| i.stats)
    }

    fn dp_now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    fn megaflows_synced(&self) {
        // The barrier reply waits until tc no longer forwards by a removed
        // megaflow.
        self.offload.lock().remove_dead();
    }
}

/// How a listener is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenerState {
    Listening,
    Failed(String),
}

/// One OpenFlow listener of a bridge; stops (and removes its unix socket)
/// when dropped.
pub struct Listener {
    task: tokio::task::JoinHandle<()>,
    error: Arc<Mutex<Option<String>>>,
    unix_path: Option<PathBuf>,
}

impl Listener {
    pub fn state(&self) -> ListenerState {
        let e = self.error.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match e {
            Some(e) => ListenerState::Failed(e),
            None if self.task.is_finished() => ListenerState::Failed("stopped".into()),
            None => ListenerState::Listening,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(p) = &self.unix_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The OpenFlow side of the daemon.
pub struct OpenFlow {
    rt: tokio::runtime::Runtime,
    pub infos: PortInfos,
    clock: Clock,
    offload: SharedOffloader,
}

impl OpenFlow {
    pub fn new(clock: Clock, offload: SharedOffloader) -> std::io::Result<OpenFlow> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("oxvs-openflow")
            .enable_all()
            .build()?;
        Ok(OpenFlow {
            rt,
            infos: PortInfos::default(),
            clock,
            offload,
        })
    }

    /// What sessions on `bridge` see.
    pub fn view(
        &self,
        bridge: Arc<Bridge>,
        dp: Arc<Datapath>,
        datapath_id: u64,
    ) -> Arc<BridgeView> {
        BridgeView::new(
            bridge,
            dp,
            datapath_id,
            Arc::new(Source {
                infos: self.infos.clone(),
                clock: self.clock,
                offload: self.offload.clone(),
            }),
        )
    }

    /// Serves `view` on `target` (`punix:PATH` or `ptcp:[PORT][:IP]`; a
    /// relative PATH is in `rundir`, as in Open vSwitch). `probe_ms`: the
    /// inactivity probe of accepted connections (None for the management
    /// socket); `events`: told when a connection admits the switch.
    pub fn listen(
        &self,
        target: &str,
        rundir: &Path,
        view: Arc<BridgeView>,
        probe_ms: Option<u64>,
        events: Option<Arc<dyn ConnEvents>>,
    ) -> Result<Listener, String> {
        let listen = match target.parse().map_err(|e| format!("{e}"))? {
            Listen::Unix(p) => Listen::Unix(rundir.join(p)),
            l => l,
        };
        let unix_path = match &listen {
            Listen::Unix(p) => Some(p.clone()),
            Listen::Tcp(_) => None,
        };
        let error = Arc::new(Mutex::new(None));
        let err = error.clone();
        let name = view.bridge.name().to_string();
        let t = target.to_string();
        let sessions = Arc::new(Sessions {
            inner: BridgeSessions {
                view,
                versions: Version::ALL.to_vec(),
                probe_ms,
            },
            events,
        });
        let task = self.rt.spawn(async move {
            if let Err(e) = serve(listen, sessions).await {
                tracing::warn!(bridge = %name, target = %t, error = %e, "OpenFlow listener failed");
                *err.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            }
        });
        Ok(Listener {
            task,
            error,
            unix_path,
        })
    }

    /// Connects `view` to the controller at `target` (`tcp:HOST[:PORT]` or
    /// `unix:PATH`, a relative PATH being in `rundir`), and again whenever
    /// the connection fails or ends, with Open vSwitch's defaults: 5 s
    /// inactivity probe, 8 s longest backoff. `events` hears of each
    /// connection's progress (the bridge's fail-open).
    pub fn connect(
        &self,
        target: &str,
        rundir: &Path,
        view: Arc<BridgeView>,
        events: Option<Arc<dyn ConnEvents>>,
    ) -> Result<ActiveController, String> {
        let connect = match target.parse().map_err(|e| format!("{e}"))? {
            Connect::Unix(p) => Connect::Unix(rundir.join(p)),
            c => c,
        };
        let status = Arc::new(ActiveStatus::new(target, DEFAULT_MAX_BACKOFF_MS, events));
        let sessions = Arc::new(BridgeSessions {
            view,
            versions: Version::ALL.to_vec(),
            probe_ms: Some(DEFAULT_PROBE_MS),
        });
        let task = self.rt.spawn(run_active(connect, sessions, status.clone()));
        Ok(ActiveController { task, status })
    }
}

/// Passive connections' sessions, tracked so that an admitting controller
/// ends fail-open.
struct Sessions {
    inner: BridgeSessions,
    events: Option<Arc<dyn ConnEvents>>,
}

impl SessionFactory for Sessions {
    fn session(&self, outbound: mpsc::Sender<Vec<u8>>, peer: String) -> Box<dyn Session> {
        let s = self.inner.session(outbound, peer);
        match &self.events {
            Some(e) => Box::new(Tracked::new(s, e.clone(), None)),
            None => s,
        }
    }
}

/// One active controller of a bridge: its connection task and status.
/// Dropping it stops connecting and closes the connection.
pub struct ActiveController {
    task: tokio::task::JoinHandle<()>,
    pub status: Arc<ActiveStatus>,
}

impl Drop for ActiveController {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Priority of the fail-open flow: above every OpenFlow priority, as Open
/// vSwitch's FAIL_OPEN_PRIORITY, so that a failed-open bridge forwards
/// every packet by NORMAL.
pub const FAIL_OPEN_PRIORITY: u32 = 0xf0_f0f0;

/// What fail-open asks of the bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailStep {
    Nothing,
    /// Flush every flow and add the fail-open flow.
    Enter,
    /// Remove the fail-open flow.
    Recover,
}

/// Open vSwitch's fail-open decision (ofproto/fail-open.c), without the
/// bridge: pure, with durations given.
///
/// A bridge in fail mode standalone with controllers is *enabled*. Once
/// every active controller has gone without admitting the switch for the
/// trigger time (three inactivity probes: one to notice the silence, one
/// for the echo reply, one to reconnect), it *enters*: all flows are
/// flushed and one that sends everything to NORMAL is added. The first
/// admitting message from any controller *recovers*: that flow goes, and
/// the controller finds an empty table. Disabling (secure mode, no more
/// controllers) recovers too.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailOpenState {
    enabled: bool,
    active: bool,
}

impl FailOpenState {
    pub fn is_active(&self) -> bool {
        self.active
    }

    pub fn set_enabled(&mut self, on: bool) -> FailStep {
        self.enabled = on;
        if !on && self.active {
            self.active = false;
            return FailStep::Recover;
        }
        FailStep::Nothing
    }

    /// `failure`: how long the active controllers have all gone without
    /// admitting the switch (the least of theirs), None without active
    /// controllers (passive ones alone never fail open).
    pub fn run(&mut self, failure: Option<Duration>, trigger: Duration) -> FailStep {
        if self.enabled && !self.active && failure.is_some_and(|f| f >= trigger) {
            self.active = true;
            return FailStep::Enter;
        }
        FailStep::Nothing
    }

    /// A controller admitted the switch.
    pub fn admitted(&mut self) -> FailStep {
        if self.active {
            self.active = false;
            return FailStep::Recover;
        }
        FailStep::Nothing
    }
}

/// How long controllers must all be unreachable before a standalone bridge
/// fails open: three times the inactivity probe (15 s).
pub const FAIL_OPEN_TRIGGER: Duration = Duration::from_millis(3 * DEFAULT_PROBE_MS);

/// A bridge's fail-open: [`FailOpenState`] applied to its flow tables.
/// The state task runs it once a second; connections report admission to
/// it directly (as [`ConnEvents`]), so that the fail-open flow is gone
/// before the admitting message is handled.
pub struct FailOpen {
    view: Arc<BridgeView>,
    /// Held while the bridge's flows change, so that entering and
    /// recovering never interleave.
    state: Mutex<FailOpenState>,
}

impl FailOpen {
    pub fn new(view: Arc<BridgeView>) -> FailOpen {
        FailOpen {
            view,
            state: Mutex::new(FailOpenState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, FailOpenState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_active(&self) -> bool {
        self.lock().is_active()
    }

    /// On for a standalone bridge with controllers.
    pub fn set_enabled(&self, on: bool) {
        let mut st = self.lock();
        let step = st.set_enabled(on);
        self.apply(step, None);
    }

    /// Enters fail-open if the controllers have been unreachable long
    /// enough. `failure` is read under the lock, so that a controller
    /// admitting the switch meanwhile is seen either here or by
    /// [`ConnEvents::admitted`] after the flows changed.
    pub fn run(&self, failure: impl FnOnce() -> Option<Duration>) {
        let mut st = self.lock();
        let f = failure();
        let step = st.run(f, FAIL_OPEN_TRIGGER);
        self.apply(step, f);
    }

    fn apply(&self, step: FailStep, failure: Option<Duration>) {
        let br = &self.view.bridge;
        let spec = |command| {
            FlowModSpec::match_all(
                command,
                0,
                FAIL_OPEN_PRIORITY,
                Arc::new(OfActions(vec![OfAction::output(ofp_port::NORMAL)])),
            )
        };
        match step {
            FailStep::Nothing => return,
            FailStep::Enter => {
                tracing::warn!(
                    bridge = br.name(),
                    "Could not connect to controller (or switch failed controller's post-connection admission control policy) for {} seconds, failing open",
                    failure.unwrap_or_default().as_secs()
                );
                if let Err(e) = br.apply_flow_mod(&flush_all()) {
                    tracing::warn!(bridge = br.name(), error = ?e, "fail-open: cannot flush the flows");
                }
                if let Err(e) = br.flow_mod(&spec(FlowModCommand::Add)) {
                    tracing::warn!(bridge = br.name(), error = ?e, "fail-open: cannot add the NORMAL flow");
                }
            }
            FailStep::Recover => {
                tracing::warn!(bridge = br.name(), "No longer in fail-open mode");
                if let Err(e) = br.flow_mod(&spec(FlowModCommand::DeleteStrict)) {
                    tracing::warn!(bridge = br.name(), error = ?e, "fail-open: cannot remove the NORMAL flow");
                }
            }
        }
        // Forwarding changed: no megaflow may outlive it.
        self.view.sync();
    }
}

impl ConnEvents for FailOpen {
    fn admitted(&self, _now_ms: u64) {
        let mut st = self.lock();
        let step = st.admitted();
        self.apply(step, None);
    }
}

/// A flow_mod with everything wildcarded.
pub fn wildcard_flow_mod(
    command: OfFlowModCommand,
    table_id: u8,
    actions: Vec<oxvs_ofproto::ofp::action::Action>,
) -> FlowMod {
    FlowMod {
        command,
        table_id,
        cookie: 0,
        cookie_mask: 0,
        idle_timeout: 0,
        hard_timeout: 0,
        priority: 0,
        buffer_id: u32::MAX,
        out_port: u32::MAX,
        out_group: u32::MAX,
        flags: 0,
        importance: 0,
        matched: Match::new(),
        actions,
    }
}

/// A flow_mod that deletes every flow of every table.
pub fn flush_all() -> FlowMod {
    wildcard_flow_mod(OfFlowModCommand::Delete, 0xff, Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = FAIL_OPEN_TRIGGER;

    #[test]
    fn standalone_fails_open_after_the_trigger_time_and_recovers_on_admission() {
        let mut f = FailOpenState::default();
        f.set_enabled(true);
        assert_eq!(
            f.run(Some(T - Duration::from_millis(1)), T),
            FailStep::Nothing
        );
        assert_eq!(f.run(Some(T), T), FailStep::Enter);
        assert!(f.is_active());
        // Once: the flows are not flushed again while it stays open.
        assert_eq!(f.run(Some(T * 10), T), FailStep::Nothing);
        assert_eq!(f.admitted(), FailStep::Recover);
        assert!(!f.is_active());
        assert_eq!(f.admitted(), FailStep::Nothing);
        // And again after the next outage.
        assert_eq!(f.run(Some(T), T), FailStep::Enter);
    }

    #[test]
    fn secure_and_passive_only_bridges_never_fail_open() {
        let mut f = FailOpenState::default();
        // Not enabled (secure, or no controllers).
        assert_eq!(f.run(Some(T * 100), T), FailStep::Nothing);
        f.set_enabled(true);
        // Only passive controllers: no failure duration.
        assert_eq!(f.run(None, T), FailStep::Nothing);
        assert_eq!(f.run(Some(T), T), FailStep::Enter);
        // Going secure while open takes the flow away.
        assert_eq!(f.set_enabled(false), FailStep::Recover);
        assert_eq!(f.run(Some(T * 100), T), FailStep::Nothing);
        assert_eq!(f.set_enabled(false), FailStep::Nothing);
    }
}
