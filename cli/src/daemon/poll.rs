//! The poll thread: owns the [`PollThread`] (and so every port), runs
//! `poll_once` in a loop and sleeps in epoll on the ports' rx descriptors
//! when idle. Port changes arrive over a channel and are applied between
//! batches; an eventfd wakes the thread for them and for packets handlers
//! sent back for execution.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use crossbeam::channel::{self, Receiver, Sender};
use oxvs_datapath::port::{Port, PortStats};
use oxvs_datapath::{Datapath, PollThread};

use super::Clock;
use crate::sys::{Epoll, EventFd};

/// How long an idle poll thread sleeps before looking again (port liveness
/// checks run on each pass).
const IDLE_WAIT_MS: i32 = 100;
/// Epoll token of the wake-up eventfd.
const WAKER: u64 = u64::MAX;
/// How long a caller waits for the poll thread to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// A port as the poll thread sees it.
#[derive(Clone, Debug)]
pub struct PortStatus {
    pub dp_port: u32,
    pub name: String,
    pub up: bool,
    pub stats: PortStats,
}

enum PollCmd {
    Add(u32, Box<dyn Port>),
    Remove(u32, Sender<Option<Box<dyn Port>>>),
    List(Sender<Vec<PortStatus>>),
    BusyPoll(bool),
    EmcInsertInvProb(u32),
    Stop,
}

/// The control side of the poll thread.
pub struct PollHandle {
    tx: Sender<PollCmd>,
    waker: Arc<EventFd>,
    join: Option<JoinHandle<()>>,
}

/// Settings the poll thread starts with.
pub struct PollSettings {
    pub busy_poll: bool,
    pub emc_insert_inv_prob: Option<u32>,
}

impl PollHandle {
    /// Starts the poll thread. `handlers` are unparked when upcalls wait;
    /// `waker` is the eventfd the handlers signal after queueing executes.
    pub fn spawn(
        dp: Arc<Datapath>,
        clock: Clock,
        waker: Arc<EventFd>,
        handlers: Vec<Thread>,
        settings: PollSettings,
    ) -> std::io::Result<PollHandle> {
        let (tx, rx) = channel::unbounded();
        let epoll = Epoll::new()?;
        epoll.add(waker.fd(), WAKER)?;
        let w = waker.clone();
        let join = std::thread::Builder::new()
            .name("oxvs-poll".into())
            .spawn(move || {
                let mut pt = PollThread::new(dp);
                if let Some(p) = settings.emc_insert_inv_prob {
                    pt.set_emc_insert_inv_prob(p);
                }
                let mut lp = Loop {
                    pt,
                    rx,
                    epoll,
                    waker: w,
                    handlers,
                    fds: HashMap::new(),
                    busy: settings.busy_poll,
                    clock,
                };
                lp.run();
            })?;
        Ok(PollHandle {
            tx,
            waker,
            join: Some(join),
        })
    }

    fn send(&self, cmd: PollCmd) {
        // A send fails only once the thread is gone (stopping): nothing to do.
        let _ = self.tx.send(cmd);
        self.waker.wake();
    }

    /// Hands `port` to the poll thread as datapath port `dp_port`.
    pub fn add(&self, dp_port: u32, port: Box<dyn Port>) {
        self.send(PollCmd::Add(dp_port, port));
    }

    /// Takes port `dp_port` back (None if it was not there or the thread
    /// did not answer). Dropping the result closes the device.
    pub fn remove(&self, dp_port: u32) -> Option<Box<dyn Port>> {
        let (tx, rx) = channel::bounded(1);
        self.send(PollCmd::Remove(dp_port, tx));
        rx.recv_timeout(ANSWER_TIMEOUT).ok().flatten()
    }

    /// The ports, their state and counters (empty if the thread did not answer).
    pub fn list(&self) -> Vec<PortStatus> {
        let (tx, rx) = channel::bounded(1);
        self.send(PollCmd::List(tx));
        rx.recv_timeout(ANSWER_TIMEOUT).unwrap_or_default()
    }

    pub fn set_busy_poll(&self, on: bool) {
        self.send(PollCmd::BusyPoll(on));
    }

    pub fn set_emc_insert_inv_prob(&self, p: u32) {
        self.send(PollCmd::EmcInsertInvProb(p));
    }

    /// Stops the thread and waits for it; its ports close.
    pub fn stop(&mut self) {
        self.send(PollCmd::Stop);
        if let Some(j) = self.join.take() {
            let _ = j.join();
        }
    }
}

impl Drop for PollHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Loop {
    pt: PollThread,
    rx: Receiver<PollCmd>,
    epoll: Epoll,
    waker: Arc<EventFd>,
    handlers: Vec<Thread>,
    /// Registered rx descriptors by datapath port.
    fds: HashMap<u32, RawFd>,
    busy: bool,
    clock: Clock,
}

impl Loop {
    /// Applies waiting commands; false once told to stop.
    fn commands(&mut self) -> bool {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                PollCmd::Add(no, port) => {
                    self.unwatch(no);
                    if let Some(fd) = port.rx_fd() {
                        match self.epoll.add(fd, no as u64) {
                            Ok(()) => {
                                self.fds.insert(no, fd);
                            }
                            Err(e) => {
                                tracing::warn!(port = port.name(), error = %e, "cannot watch port; it is polled on the idle timer only")
                            }
                        }
                    }
                    self.pt.ports.add(no, port);
                }
                PollCmd::Remove(no, reply) => {
                    self.unwatch(no);
                    // Send what the port still has queued before it goes.
                    self.pt.flush();
                    let _ = reply.send(self.pt.ports.remove(no));
                }
                PollCmd::List(reply) => {
                    let v = self
                        .pt
                        .ports
                        .list()
                        .into_iter()
                        .map(|(no, name, up)| PortStatus {
                            dp_port: no,
                            name,
                            up,
                            stats: self.pt.ports.stats(no).unwrap_or_default(),
                        })
                        .collect();
                    let _ = reply.send(v);
                }
                PollCmd::BusyPoll(b) => self.busy = b,
                PollCmd::EmcInsertInvProb(p) => self.pt.set_emc_insert_inv_prob(p),
                PollCmd::Stop => return false,
            }
        }
        true
    }

    fn unwatch(&mut self, no: u32) {
        if let Some(fd) = self.fds.remove(&no) {
            let _ = self.epoll.del(fd);
        }
    }

    fn run(&mut self) {
        let mut ready = Vec::with_capacity(64);
        loop {
            if !self.commands() {
                return;
            }
            let n = self.pt.poll_once(self.clock.now_ms());
            if self.pt.datapath().pending_upcalls() > 0 {
                for h in &self.handlers {
                    h.unpark();
                }
            }
            if n > 0 || self.busy {
                continue;
            }
            match self.epoll.wait(&mut ready, 64, IDLE_WAIT_MS) {
                Ok(_) => {
                    for &t in &ready {
                        if t == WAKER {
                            self.waker.drain();
                        } else if !self.pt.ports.is_up(t as u32) {
                            // A down port's descriptor may stay readable
                            // (error pending) and would spin the loop.
                            self.unwatch(t as u32);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "epoll_wait failed; polling on a timer");
                    std::thread::sleep(Duration::from_millis(IDLE_WAIT_MS as u64));
                }
            }
        }
    }
}
