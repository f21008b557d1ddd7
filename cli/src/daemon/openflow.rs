//! OpenFlow for the daemon's bridges: a tokio runtime that serves each
//! bridge on its management socket (`<rundir>/<bridge>.mgmt`, what
//! `ovs-ofctl show br0` opens when OVS_RUNDIR points at the run directory)
//! and on the passive controller targets it is given (`ptcp:`, `punix:`).
//! The sessions themselves are `oxvs_ofproto`'s; this module only owns the
//! listeners and tells the sessions about ports ([`PortSource`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use oxvs_datapath::port::PortStats;
use oxvs_datapath::Datapath;
use oxvs_ofproto::bridge::{Bridge, BridgePort};
use oxvs_ofproto::bridge_view::{serve_bridge, BridgeView, PortSource};
use oxvs_ofproto::server::Listen;

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
        Arc::new(BridgeView {
            bridge,
            dp,
            datapath_id,
            ports: Arc::new(Source {
                infos: self.infos.clone(),
                clock: self.clock,
                offload: self.offload.clone(),
            }),
        })
    }

    /// Serves `view` on `target` (`punix:PATH` or `ptcp:PORT[:IP]`).
    pub fn listen(&self, target: &str, view: Arc<BridgeView>) -> Result<Listener, String> {
        let listen: Listen = target.parse().map_err(|e| format!("{e}"))?;
        let unix_path = match &listen {
            Listen::Unix(p) => Some(p.clone()),
            Listen::Tcp(_) => None,
        };
        let error = Arc::new(Mutex::new(None));
        let err = error.clone();
        let name = view.bridge.name().to_string();
        let t = target.to_string();
        let task = self.rt.spawn(async move {
            if let Err(e) = serve_bridge(listen, view).await {
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
}
