//! The running datapath and its threads: the poll thread, upcall handlers
//! and the revalidator.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oxvs_datapath::{Datapath, DatapathConfig};
use oxvs_offload::tc::TcSocket;
use oxvs_offload::{OffloadSettings, Offloader, TcPolicy};
use oxvs_ofproto::bridge::UpcallDispatcher;

use super::openflow::OpenFlow;
use super::poll::{PollHandle, PollSettings};
use super::Clock;
use crate::config::DatapathSettings;
use crate::sys::EventFd;

/// How often the revalidator runs.
pub const REVALIDATE_INTERVAL: Duration = Duration::from_millis(500);
/// How long an idle handler sleeps before looking at the queue again (the
/// poll thread unparks it as soon as upcalls wait).
const HANDLER_IDLE: Duration = Duration::from_millis(500);

/// Settings the daemon changes while running.
#[derive(Debug)]
pub struct Live {
    pub flow_limit: AtomicUsize,
    pub max_idle_ms: AtomicU64,
}

/// Counters of the daemon's own threads (the datapath keeps its own).
#[derive(Debug, Default)]
pub struct DaemonCounters {
    pub upcalls_handled: AtomicU64,
    pub revalidator_passes: AtomicU64,
    pub idle_expired: AtomicU64,
    pub limit_evicted: AtomicU64,
    pub stale_removed: AtomicU64,
    pub orphans_removed: AtomicU64,
    pub last_pass_us: AtomicU64,
}

/// The tc offloader, shared by the revalidator, barriers and the control
/// socket (writers all: each call talks netlink).
pub type SharedOffloader = Arc<parking_lot::Mutex<Offloader<TcSocket>>>;

fn offload_settings(s: &DatapathSettings) -> OffloadSettings {
    OffloadSettings {
        policy: TcPolicy::parse(&s.tc_policy).unwrap_or_default(),
        min_packets: s.offload_min_packets.max(1),
        min_age_ms: s.offload_min_age,
    }
}

pub struct Runtime {
    pub dp: Arc<Datapath>,
    pub offload: SharedOffloader,
    pub clock: Clock,
    pub dispatcher: UpcallDispatcher,
    pub poll: PollHandle,
    pub openflow: OpenFlow,
    pub live: Arc<Live>,
    pub counters: Arc<DaemonCounters>,
    pub n_handlers: usize,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Runtime {
    pub fn start(s: &DatapathSettings) -> std::io::Result<Runtime> {
        let dp = Arc::new(Datapath::new(DatapathConfig {
            upcall_queue: s.upcall_queue,
            execute_queue: s.execute_queue,
        }));
        dp.megaflows.set_limit(s.flow_limit);
        let clock = Clock::new();
        let dispatcher = UpcallDispatcher::new();
        let live = Arc::new(Live {
            flow_limit: AtomicUsize::new(s.flow_limit),
            max_idle_ms: AtomicU64::new(s.max_idle),
        });
        let counters = Arc::new(DaemonCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let waker = Arc::new(EventFd::new()?);
        let caps = oxvs_offload::caps::probe();
        match &caps.flower_error {
            None => tracing::info!(actions = ?caps.actions, "tc flower offload available"),
            Some(e) => tracing::info!("tc flower is unavailable ({e}): switching in software only"),
        }
        let tc = TcSocket::open().map_err(std::io::Error::other)?;
        let offload: SharedOffloader = Arc::new(parking_lot::Mutex::new(Offloader::new(
            tc,
            caps,
            offload_settings(s),
        )));

        let mut threads = Vec::new();
        let mut handler_threads = Vec::new();
        for i in 0..s.n_handler_threads.max(1) {
            let (dp, disp, stop, waker, counters) = (
                dp.clone(),
                dispatcher.clone(),
                stop.clone(),
                waker.clone(),
                counters.clone(),
            );
            let h = std::thread::Builder::new()
                .name(format!("oxvs-handler{i}"))
                .spawn(move || handler_loop(dp, disp, stop, waker, counters))?;
            handler_threads.push(h.thread().clone());
            threads.push(h);
        }
        let poll = PollHandle::spawn(
            dp.clone(),
            clock,
            waker,
            handler_threads,
            PollSettings {
                busy_poll: s.busy_poll,
                emc_insert_inv_prob: s.emc_insert_inv_prob,
            },
        )?;
        {
            let (dp, disp, stop, live, counters, offload) = (
                dp.clone(),
                dispatcher.clone(),
                stop.clone(),
                live.clone(),
                counters.clone(),
                offload.clone(),
            );
            threads.push(
                std::thread::Builder::new()
                    .name("oxvs-revalidator".into())
                    .spawn(move || {
                        revalidator_loop(dp, disp, clock, stop, live, counters, offload)
                    })?,
            );
        }
        let openflow = OpenFlow::new(clock, offload.clone())?;
        Ok(Runtime {
            dp,
            offload,
            clock,
            dispatcher,
            poll,
            openflow,
            live,
            counters,
            n_handlers: s.n_handler_threads.max(1),
            stop,
            threads,
        })
    }

    pub fn apply_offload_settings(&self, s: &DatapathSettings) {
        self.offload.lock().set_settings(offload_settings(s));
    }

    pub fn set_flow_limit(&self, limit: usize) {
        self.live.flow_limit.store(limit, Ordering::Relaxed);
        self.dp.megaflows.set_limit(limit);
    }

    /// Removes every megaflow that reads or sends to datapath port `no`
    /// (its input port, or an output anywhere in its actions).
    pub fn purge_port_flows(&self, no: u32) -> usize {
        self.dp.megaflows.retain(|f| {
            let reads = f.mask().in_port() != 0 && f.key().in_port() == no;
            !reads && !outputs_to(&f.actions, no)
        })
    }

    /// Stops every thread; the ports close with the poll thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.poll.stop();
        for t in &self.threads {
            t.thread().unpark();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        // The ports' own teardown detached theirs; this catches the rest.
        self.offload.lock().detach_all();
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.stop();
    }
}

fn outputs_to(actions: &[oxvs_datapath::Action], no: u32) -> bool {
    use oxvs_datapath::Action;
    actions.iter().any(|a| match a {
        Action::Output(p) => *p == no,
        Action::Clone(inner) => outputs_to(inner, no),
        Action::Sample { actions, .. } => outputs_to(actions, no),
        _ => false,
    })
}

fn handler_loop(
    dp: Arc<Datapath>,
    mut disp: UpcallDispatcher,
    stop: Arc<AtomicBool>,
    waker: Arc<EventFd>,
    counters: Arc<DaemonCounters>,
) {
    while !stop.load(Ordering::Relaxed) {
        let n = dp.handle_upcalls(&mut disp, 64);
        if n > 0 {
            counters
                .upcalls_handled
                .fetch_add(n as u64, Ordering::Relaxed);
            // The answered packets wait in the execute queue: wake the poll
            // thread so they leave now, not after its idle timeout.
            waker.wake();
        } else {
            std::thread::park_timeout(HANDLER_IDLE);
        }
    }
}

/// How many megaflows the revalidator offers to tc under one hold of the
/// offloader (each is a netlink round trip): a barrier waits at most this.
const OFFER_BATCH: usize = 32;

fn revalidator_loop(
    dp: Arc<Datapath>,
    disp: UpcallDispatcher,
    clock: Clock,
    stop: Arc<AtomicBool>,
    live: Arc<Live>,
    counters: Arc<DaemonCounters>,
    offload: SharedOffloader,
) {
    // When each never-hit flow was first seen (its stats have no time yet:
    // the packet that installed it was executed, not counted).
    let mut first_seen: HashMap<usize, u64> = HashMap::new();
    let mut last_rerank = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(REVALIDATE_INTERVAL);
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let t0 = Instant::now();
        let now = clock.now_ms();
        let max_idle = live.max_idle_ms.load(Ordering::Relaxed);
        let bridges = disp.bridges();

        // tc first: its counters and last-use times go into the megaflows
        // before idle expiry and the bridges' crediting read them.
        let offers = offload.lock().sync_stats(&dp.megaflows, now);
        for batch in offers.chunks(OFFER_BATCH) {
            let mut o = offload.lock();
            o.offer_established(batch);
            // A barrier waiting in remove_dead goes next.
            parking_lot::MutexGuard::unlock_fair(o);
        }

        // Idle expiry, and flows whose input port no bridge owns any more.
        let mut seen_now = HashSet::new();
        let mut expired = 0u64;
        let mut orphans = 0u64;
        dp.megaflows.retain(|f| {
            let s = f.stats.snapshot();
            let last = if s.packets > 0 {
                s.used_ms
            } else {
                let id = Arc::as_ptr(f) as usize;
                seen_now.insert(id);
                *first_seen.entry(id).or_insert(now)
            };
            if now.saturating_sub(last) > max_idle {
                expired += 1;
                return false;
            }
            if f.mask().in_port() != 0 {
                let in_port = f.key().in_port();
                if !bridges.iter().any(|b| b.owns_dp_port(in_port)) {
                    orphans += 1;
                    return false;
                }
            }
            true
        });
        first_seen.retain(|id, _| seen_now.contains(id));

        // The flow limit (it may have been lowered below the current count).
        let limit = live.flow_limit.load(Ordering::Relaxed);
        let mut evicted = 0u64;
        if dp.megaflows.len() > limit {
            let mut flows = dp.megaflows.flows();
            flows.sort_by_key(|f| f.stats.snapshot().used_ms);
            let excess = flows.len().saturating_sub(limit);
            for f in flows.iter().take(excess) {
                if dp.megaflows.remove(f) {
                    evicted += 1;
                }
            }
        }

        // OpenFlow rules whose idle or hard timeout passed go first, so
        // that the re-translation below drops their megaflows.
        for b in &bridges {
            b.expire_flows();
        }

        // The bridges re-translate what may have gone stale.
        let active_ms = 2 * REVALIDATE_INTERVAL.as_millis() as u64;
        let stale: usize = bridges
            .iter()
            .map(|b| b.revalidate(&dp, now, active_ms))
            .sum();

        // Filters of the megaflows this pass removed go now, not a pass later.
        offload.lock().remove_dead();

        if last_rerank.elapsed() >= Duration::from_secs(1) {
            dp.megaflows.rerank();
            last_rerank = Instant::now();
        }

        counters.revalidator_passes.fetch_add(1, Ordering::Relaxed);
        counters.idle_expired.fetch_add(expired, Ordering::Relaxed);
        counters
            .orphans_removed
            .fetch_add(orphans, Ordering::Relaxed);
        counters.limit_evicted.fetch_add(evicted, Ordering::Relaxed);
        counters
            .stale_removed
            .fetch_add(stale as u64, Ordering::Relaxed);
        counters
            .last_pass_us
            .store(t0.elapsed().as_micros() as u64, Ordering::Relaxed);
    }
}
