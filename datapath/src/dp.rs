//! The datapath proper: shared state ([`Datapath`]: megaflows, upcall and
//! execute queues, counters) and the per-thread fast path ([`PollThread`]:
//! its ports, exact-match cache and action executor).
//!
//! Life of a batch: receive -> extract keys -> EMC -> megaflow classifier ->
//! execute actions (grouped stats per flow) -> flush per-port tx batches.
//! Misses are swapped out of the batch into the bounded upcall queue; a full
//! queue drops and counts, and a poll thread never waits on it. Handlers
//! install megaflows and hand the packet back through the execute queue,
//! which the poll thread drains, because the poll thread owns the ports.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;

use crate::action::{Action, Actions, PortNo};
use crate::emc::ExactMatchCache;
use crate::extract::{extract_into, Outcome};
use crate::flow_key::FlowKey;
use crate::megaflow::{Megaflow, MegaflowCache};
use crate::modify;
use crate::packet::{Packet, PacketBatch, BATCH_SIZE};
use crate::port::{Port, PortError, PortStats};
use crate::upcall::{Upcall, UpcallHandler, UpcallKind};

/// Nested clone/sample/recirc depth past which a packet is dropped (loops).
const MAX_DEPTH: usize = 8;

/// Datapath-wide counters (Open vSwitch's `dpif-netdev/pmd-stats-show`).
#[derive(Debug, Default)]
pub struct DatapathCounters {
    pub emc_hits: AtomicU64,
    pub megaflow_hits: AtomicU64,
    pub misses: AtomicU64,
    /// Upcalls dropped because the queue (or the buffer pool) was full.
    pub lost: AtomicU64,
    /// Packets whose key stopped short (see [`Outcome`]).
    pub malformed: AtomicU64,
    /// Actions that could not apply (e.g. set on a missing header).
    pub action_errors: AtomicU64,
    /// Packets dropped for exceeding the recirculation/clone depth.
    pub loops: AtomicU64,
    pub installs: AtomicU64,
    pub install_failures: AtomicU64,
    /// Packets sent to a port that is missing or down.
    pub tx_dropped: AtomicU64,
    /// Packets a meter band dropped.
    pub metered: AtomicU64,
}

/// Plain copy of the counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    pub emc_hits: u64,
    pub megaflow_hits: u64,
    pub misses: u64,
    pub lost: u64,
    pub malformed: u64,
    pub action_errors: u64,
    pub loops: u64,
    pub installs: u64,
    pub install_failures: u64,
    pub tx_dropped: u64,
    pub metered: u64,
}

impl DatapathCounters {
    pub fn snapshot(&self) -> CounterSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CounterSnapshot {
            emc_hits: r(&self.emc_hits),
            megaflow_hits: r(&self.megaflow_hits),
            misses: r(&self.misses),
            lost: r(&self.lost),
            malformed: r(&self.malformed),
            action_errors: r(&self.action_errors),
            loops: r(&self.loops),
            installs: r(&self.installs),
            install_failures: r(&self.install_failures),
            tx_dropped: r(&self.tx_dropped),
            metered: r(&self.metered),
        }
    }
}

/// A packet a handler sends back for execution.
struct ExecuteRequest {
    packet: Packet,
    actions: Actions,
}

/// Sizes of the datapath's queues.
#[derive(Clone, Copy, Debug)]
pub struct DatapathConfig {
    /// Upcalls waiting for a handler.
    pub upcall_queue: usize,
    /// Packets waiting to be executed after their upcall.
    pub execute_queue: usize,
}

impl Default for DatapathConfig {
    fn default() -> Self {
        DatapathConfig {
            upcall_queue: 4096,
            execute_queue: 4096,
        }
    }
}

/// State shared by poll threads and handlers.
pub struct Datapath {
    pub megaflows: MegaflowCache,
    /// The poll threads' clock (ms), for handlers that need the time.
    now_ms: AtomicU64,
    pub counters: DatapathCounters,
    upcalls: ArrayQueue<Upcall>,
    executes: ArrayQueue<ExecuteRequest>,
    /// Spare packet buffers, swapped into a batch in place of a packet that
    /// goes up, so that misses allocate nothing.
    spares: ArrayQueue<Packet>,
}

impl Datapath {
    pub fn new(cfg: DatapathConfig) -> Datapath {
        let spare_count = cfg.upcall_queue + cfg.execute_queue + 2 * BATCH_SIZE;
        let spares = ArrayQueue::new(spare_count.max(1));
        for _ in 0..spare_count {
            let _ = spares.push(Packet::new());
        }
        Datapath {
            megaflows: MegaflowCache::new(),
            now_ms: AtomicU64::new(0),
            counters: DatapathCounters::default(),
            upcalls: ArrayQueue::new(cfg.upcall_queue.max(1)),
            executes: ArrayQueue::new(cfg.execute_queue.max(1)),
            spares,
        }
    }

    /// Upcalls waiting for a handler.
    pub fn pending_upcalls(&self) -> usize {
        self.upcalls.len()
    }

    /// Runs up to `max` waiting upcalls through `handler`: installs the
    /// megaflows it asks for and queues the packets for execution. Returns
    /// how many upcalls were handled. Called from handler threads (or inline
    /// by a single-threaded harness).
    pub fn handle_upcalls(&self, handler: &mut dyn UpcallHandler, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(up) = self.upcalls.pop() else { break };
            n += 1;
            let reply = handler.handle(&up);
            if up.kind == UpcallKind::Miss {
                if let Some(spec) = reply.install {
                    let installed = self.megaflows.insert(&up.key, &spec.mask, spec.actions);
                    // The packet that missed is the flow's first: count it,
                    // or OpenFlow counters would miss one packet per flow.
                    if let Ok(i) = &installed {
                        let now = self.now_ms.load(Ordering::Relaxed);
                        let len = up.packet.len() as u64;
                        i.flow.stats.add(1, len, up.key.tcp_flags(), now);
                        if spec.credited {
                            i.flow.add_credited(1, len);
                        }
                        if i.new {
                            i.flow.set_watch_activity(!spec.quiet);
                        }
                    }
                    match installed {
                        Ok(i) if !i.new => 0,
                        Ok(_) => self.counters.installs.fetch_add(1, Ordering::Relaxed),
                        Err(_) => self
                            .counters
                            .install_failures
                            .fetch_add(1, Ordering::Relaxed),
                    };
                }
            }
            if reply.actions.is_empty() {
                self.recycle(up.packet);
                continue;
            }
            if let Err(req) = self.executes.push(ExecuteRequest {
                packet: up.packet,
                actions: reply.actions,
            }) {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                self.recycle(req.packet);
            }
        }
        n
    }

    /// Queues `packet` for execution of `actions` by the poll thread (an
    /// OpenFlow packet-out). Returns false, dropping it, if the queue is full.
    pub fn execute(&self, packet: Packet, actions: Actions) -> bool {
        match self.executes.push(ExecuteRequest { packet, actions }) {
            Ok(()) => true,
            Err(_) => {
                self.counters.lost.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Queues an upcall for `packet`, which is taken out of `slot` and
    /// replaced by a spare buffer. On a full queue or pool the packet stays
    /// where it is, is counted as lost and will be dropped by the caller.
    fn upcall(&self, kind: UpcallKind, key: &FlowKey, slot: &mut Packet) -> bool {
        let Some(mut spare) = self.spares.pop() else {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        if self.upcalls.is_full() {
            let _ = self.spares.push(spare);
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        spare.reset();
        std::mem::swap(slot, &mut spare);
        if let Err(up) = self.upcalls.push(Upcall {
            kind,
            key: *key,
            packet: spare,
        }) {
            // Lost a race for the last slot: put the packet back.
            let mut packet = up.packet;
            std::mem::swap(slot, &mut packet);
            let _ = self.spares.push(packet);
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Queues an upcall for a copy of `p` (the `userspace` action).
    fn upcall_copy(&self, kind: UpcallKind, key: &FlowKey, p: &Packet) {
        let Some(mut copy) = self.spares.pop() else {
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if p.meta.gso.is_some() {
            copy.grow(p.len());
        }
        copy.set_frame(p.data());
        copy.meta = p.meta;
        self.push_upcall(kind, key, copy);
    }

    fn push_upcall(&self, kind: UpcallKind, key: &FlowKey, packet: Packet) {
        if let Err(up) = self.upcalls.push(Upcall {
            kind,
            key: *key,
            packet,
        }) {
            self.recycle(up.packet);
            self.counters.lost.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn recycle(&self, p: Packet) {
        // A full pool means the buffer was surplus; dropping it is fine.
        let _ = self.spares.push(p);
    }
}

/// The ports a poll thread owns, by datapath port number.
#[derive(Default)]
pub struct PortTable {
    slots: Vec<Option<PortSlot>>,
}

struct PortSlot {
    port: Box<dyn Port>,
    up: bool,
}

impl PortTable {
    /// Adds `port` as number `no`, replacing any port there.
    pub fn add(&mut self, no: PortNo, port: Box<dyn Port>) {
        let i = no as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(PortSlot { port, up: true });
    }

    /// Removes port `no`, returning it.
    pub fn remove(&mut self, no: PortNo) -> Option<Box<dyn Port>> {
        self.slots.get_mut(no as usize)?.take().map(|s| s.port)
    }

    pub fn is_up(&self, no: PortNo) -> bool {
        matches!(self.slots.get(no as usize), Some(Some(s)) if s.up)
    }

    fn takes_gso(&self, no: PortNo) -> bool {
        matches!(self.slots.get(no as usize), Some(Some(s)) if s.port.takes_gso())
    }

    pub fn stats(&self, no: PortNo) -> Option<PortStats> {
        self.slots
            .get(no as usize)?
            .as_ref()
            .map(|s| s.port.stats())
    }

    /// Port numbers in use, with their names and whether they are up.
    pub fn list(&self) -> Vec<(PortNo, String, bool)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .map(|s| (i as PortNo, s.port.name().to_string(), s.up))
            })
            .collect()
    }

    fn mark_down(slot: &mut PortSlot, e: &PortError) {
        if slot.up {
            tracing::warn!(port = slot.port.name(), error = %e, "port went down");
            slot.up = false;
        }
    }

    fn send(&mut self, no: PortNo, packets: &[Packet]) -> usize {
        let Some(Some(slot)) = self.slots.get_mut(no as usize) else {
            return 0;
        };
        if !slot.up {
            return 0;
        }
        match slot.port.send(packets) {
            Ok(n) => n,
            Err(e @ PortError::Down { .. }) => {
                PortTable::mark_down(slot, &e);
                0
            }
            Err(e) => {
                tracing::debug!(port = slot.port.name(), error = %e, "send failed");
                0
            }
        }
    }

    fn recv(&mut self, i: usize, batch: &mut PacketBatch) -> usize {
        let Some(Some(slot)) = self.slots.get_mut(i) else {
            return 0;
        };
        if !slot.up {
            return 0;
        }
        match slot.port.recv(batch) {
            Ok(n) => n,
            Err(e @ PortError::Down { .. }) => {
                PortTable::mark_down(slot, &e);
                0
            }
            Err(e) => {
                tracing::debug!(port = slot.port.name(), error = %e, "receive failed");
                0
            }
        }
    }
}

/// Per-thread action execution state: tx batches per port, scratch buffers
/// for clone/sample, the recirculation batch.
struct Executor {
    tx: Vec<PacketBatch>,
    /// Cuts super-frames for ports that cannot take them.
    segmenter: crate::port::gso::Segmenter,
    scratch: Vec<Packet>,
    recirc: PacketBatch,
    rng: u32,
    action_errors: u64,
    loops: u64,
    tx_dropped: u64,
    /// Packets meters dropped.
    metered: u64,
    /// The datapath clock of the batch being run (meters read it).
    now_ms: u64,
}

impl Executor {
    fn new() -> Executor {
        Executor {
            tx: Vec::new(),
            segmenter: crate::port::gso::Segmenter::new(),
            scratch: (0..MAX_DEPTH).map(|_| Packet::new()).collect(),
            recirc: PacketBatch::new(),
            rng: 0x9e37_79b9,
            action_errors: 0,
            loops: 0,
            tx_dropped: 0,
            metered: 0,
            now_ms: 0,
        }
    }

    #[inline]
    fn output(&mut self, ports: &mut PortTable, no: PortNo, p: &Packet, cut: usize) {
        let i = no as usize;
        if !ports.is_up(no) {
            self.tx_dropped += 1;
            return;
        }
        if self.tx.len() <= i {
            self.tx.resize_with(i + 1, PacketBatch::new);
        }
        if p.meta.gso.is_some() && (cut < p.len() || !ports.takes_gso(no)) {
            self.output_segments(ports, no, p, cut);
            return;
        }
        let tx = &mut self.tx[i];
        if tx.is_full() {
            let sent = ports.send(no, tx.packets());
            self.tx_dropped += (tx.len() - sent) as u64;
            tx.clear();
        }
        if !tx.push_copy(p, cut) {
            self.tx_dropped += 1;
        }
    }

    /// Outputs super-frame `p` as the segments it stands for (each cut to
    /// `cut` bytes), to a port that does not take super-frames.
    /// Loads GSO super-frame `p` into the segmenter.
    fn load_segments(&mut self, p: &Packet) -> bool {
        let g = p.meta.gso;
        let hdr = crate::port::af_packet::VnetHdr {
            flags: 1,
            gso_type: g.kind,
            hdr_len: 0,
            gso_size: g.size,
            csum_start: g.csum_start,
            csum_offset: g.csum_offset,
        };
        self.segmenter.load(p.data(), &hdr, None).is_ok()
    }

    /// Sends GSO super-frame `p` up as the frames it stands for: what
    /// goes to a controller is what a wire would carry (and an OpenFlow
    /// message cannot hold 64 KiB of frame anyway).
    fn upcall_segments(&mut self, dp: &Datapath, kind: UpcallKind, key: &FlowKey, p: &Packet) {
        if !self.load_segments(p) {
            self.action_errors += 1;
            return;
        }
        let mut meta = p.meta;
        meta.gso = crate::packet::Gso::default();
        while !self.segmenter.is_empty() {
            let Some(mut copy) = dp.spares.pop() else {
                dp.counters.lost.fetch_add(1, Ordering::Relaxed);
                self.segmenter.clear();
                return;
            };
            let Some(n) = self.segmenter.next_segment(copy.rx_area()) else {
                dp.recycle(copy);
                self.action_errors += 1;
                self.segmenter.clear();
                return;
            };
            copy.set_len(n);
            copy.meta = meta;
            dp.push_upcall(kind, key, copy);
        }
    }

    fn output_segments(&mut self, ports: &mut PortTable, no: PortNo, p: &Packet, cut: usize) {
        if !self.load_segments(p) {
            self.tx_dropped += 1;
            return;
        }
        let mut meta = p.meta;
        meta.gso = crate::packet::Gso::default();
        let tx = &mut self.tx[no as usize];
        while !self.segmenter.is_empty() {
            if tx.is_full() {
                let sent = ports.send(no, tx.packets());
                self.tx_dropped += (tx.len() - sent) as u64;
                tx.clear();
            }
            let Some(slot) = tx.next_free() else {
                break;
            };
            let Some(n) = self.segmenter.next_segment(slot.rx_area()) else {
                // A segment larger than a packet buffer.
                self.segmenter.clear();
                self.tx_dropped += 1;
                break;
            };
            slot.set_len(n.min(cut));
            slot.meta = meta;
            tx.commit();
        }
    }

    fn flush(&mut self, ports: &mut PortTable) {
        for (i, b) in self.tx.iter_mut().enumerate() {
            if !b.is_empty() {
                let sent = ports.send(i as PortNo, b.packets());
                self.tx_dropped += (b.len() - sent) as u64;
                b.clear();
            }
        }
    }

    fn coin(&mut self, probability: u32) -> bool {
        if probability == u32::MAX {
            return true;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x < probability
    }

    /// Runs `actions` on `p`. `depth` counts nested clone/sample levels.
    /// Runs `actions` on `p`. `depth` counts nested clone/sample levels.
    /// `key` is the packet's key on entry; once a rewrite changed the frame,
    /// actions that read the key (userspace, hash, clone) get a fresh one,
    /// as Open vSwitch re-extracts there.
    fn execute(
        &mut self,
        dp: &Datapath,
        ports: &mut PortTable,
        p: &mut Packet,
        key: &FlowKey,
        actions: &[Action],
        depth: usize,
    ) {
        // A truncation applies to the next output only (the kernel's and
        // dpif-netdev's cutlen are reset by the output that applies them).
        let mut cut = usize::MAX;
        let mut fresh: Option<FlowKey> = None;
        let mut modified = false;
        for a in actions {
            match a {
                Action::Output(no) => {
                    self.output(ports, *no, p, cut);
                    cut = usize::MAX;
                }
                Action::Userspace { userdata } => {
                    let k = current_key(key, p, &mut fresh, &mut modified);
                    let kind = UpcallKind::Action {
                        userdata: *userdata,
                    };
                    if p.meta.gso.is_some() {
                        self.upcall_segments(dp, kind, k, p);
                    } else {
                        dp.upcall_copy(kind, k, p)
                    }
                }
                Action::Set(s) => {
                    modified = true;
                    if modify::set_header(p, s).is_err() {
                        self.action_errors += 1;
                    }
                }
                Action::PushVlan { tpid, tci } => {
                    modified = true;
                    if modify::push_vlan(p, *tpid, *tci).is_err() {
                        self.action_errors += 1;
                    }
                }
                Action::PopVlan => {
                    modified = true;
                    if modify::pop_vlan(p).is_err() {
                        self.action_errors += 1;
                    }
                }
                Action::Recirc(id) => {
                    let mut meta = p.meta;
                    meta.recirc_id = *id;
                    if !self.recirc.push_frame(p.data(), meta) {
                        self.loops += 1;
                    }
                }
                Action::Hash { basis } => {
                    let k = current_key(key, p, &mut fresh, &mut modified);
                    p.meta.dp_hash = l4_hash(k, *basis);
                }
                Action::Clone(inner) => {
                    let k = *current_key(key, p, &mut fresh, &mut modified);
                    self.run_copy(dp, ports, p, &k, inner, depth)
                }
                Action::Sample {
                    probability,
                    actions,
                } => {
                    if self.coin(*probability) {
                        let k = *current_key(key, p, &mut fresh, &mut modified);
                        self.run_copy(dp, ports, p, &k, actions, depth);
                    }
                }
                Action::Trunc(n) => cut = *n as usize,
                Action::Meter(m) => {
                    let (n, bytes) = p.meta.gso.wire_segments(p.data());
                    if !m.admit(n, bytes, self.now_ms) {
                        self.metered += 1;
                        return;
                    }
                }
                Action::Drop => return,
            }
        }
    }

    fn run_copy(
        &mut self,
        dp: &Datapath,
        ports: &mut PortTable,
        p: &Packet,
        key: &FlowKey,
        actions: &[Action],
        depth: usize,
    ) {
        let Some(mut copy) = (depth < MAX_DEPTH).then(|| self.scratch.pop()).flatten() else {
            self.loops += 1;
            return;
        };
        if p.meta.gso.is_some() {
            copy.grow(p.len());
        }
        copy.set_frame(p.data());
        copy.meta = p.meta;
        self.execute(dp, ports, &mut copy, key, actions, depth + 1);
        self.scratch.push(copy);
    }
}

/// The key of `p` as it is now: `entry` until a rewrite happened, then a
/// re-extraction (cached in `fresh` until the next rewrite).
fn current_key<'k>(
    entry: &'k FlowKey,
    p: &Packet,
    fresh: &'k mut Option<FlowKey>,
    modified: &mut bool,
) -> &'k FlowKey {
    if *modified {
        let mut k = FlowKey::ZERO;
        extract_into(p.data(), &p.meta, &mut k);
        *fresh = Some(k);
        *modified = false;
    }
    match fresh {
        Some(k) => k,
        None => entry,
    }
}

/// The 5-tuple hash behind the `hash` action (dp_hash), never zero so that
/// "no hash yet" stays distinguishable.
pub fn l4_hash(key: &FlowKey, basis: u32) -> u32 {
    let words = [
        key.words[11] & 0xffff_ffff_0000_0000, // tp_src, tp_dst
        key.words[12],                         // nw_src, nw_dst
        key.ipv6_src_hi() ^ key.ipv6_dst_hi(),
        key.ipv6_src_lo() ^ key.ipv6_dst_lo(),
        (key.nw_proto() as u64) << 32 | basis as u64,
    ];
    let h = crate::flow_key::hash_words(&words) as u32;
    if h == 0 {
        1
    } else {
        h
    }
}

/// Per-batch counters, added to the shared ones once per batch.
#[derive(Default)]
struct BatchCounters {
    emc_hits: u64,
    megaflow_hits: u64,
    misses: u64,
    malformed: u64,
}

/// One poll thread: its ports, its exact-match cache, its executor.
pub struct PollThread {
    dp: Arc<Datapath>,
    pub ports: PortTable,
    emc: ExactMatchCache,
    exec: Executor,
    /// Receive batch; an Option only so it can be lent out without allocating.
    rx: Option<PacketBatch>,
    /// Second recirculation batch, swapped with the executor's.
    recirc_spare: Option<PacketBatch>,
    keys: Box<[FlowKey; BATCH_SIZE]>,
    hashes: [u64; BATCH_SIZE],
}

impl PollThread {
    pub fn new(dp: Arc<Datapath>) -> PollThread {
        PollThread {
            dp,
            ports: PortTable::default(),
            emc: ExactMatchCache::with_defaults(),
            exec: Executor::new(),
            rx: Some(PacketBatch::new()),
            recirc_spare: Some(PacketBatch::new()),
            keys: Box::new([FlowKey::ZERO; BATCH_SIZE]),
            hashes: [0; BATCH_SIZE],
        }
    }

    pub fn datapath(&self) -> &Arc<Datapath> {
        &self.dp
    }

    /// Sets EMC insertion to 1 in `inv_prob` (0 disables the EMC).
    pub fn set_emc_insert_inv_prob(&mut self, inv_prob: u32) {
        self.emc.set_insert_inv_prob(inv_prob);
    }

    /// Entries of the EMC pointing at live flows.
    pub fn emc_entries(&self) -> usize {
        self.emc.live_entries()
    }

    /// One pass: receives a batch from each port and processes it, then runs
    /// packets handlers sent back, then flushes tx. Returns packets received.
    pub fn poll_once(&mut self, now_ms: u64) -> usize {
        self.dp.now_ms.fetch_max(now_ms, Ordering::Relaxed);
        let mut total = 0;
        for i in 0..self.ports.slots.len() {
            let Some(mut rx) = self.rx.take() else { break };
            rx.clear();
            let n = self.ports.recv(i, &mut rx);
            if n > 0 {
                total += n;
                self.process_batch(&mut rx, now_ms);
            }
            self.rx = Some(rx);
        }
        self.run_executes(now_ms);
        self.flush();
        total
    }

    /// Sends whatever the tx batches hold.
    pub fn flush(&mut self) {
        self.exec.flush(&mut self.ports);
        self.publish_exec_counters();
    }

    /// Runs the packets that handlers answered; returns how many.
    pub fn run_executes(&mut self, now_ms: u64) -> usize {
        self.exec.now_ms = now_ms;
        let mut n = 0;
        while let Some(mut req) = self.dp.executes.pop() {
            n += 1;
            let mut key = FlowKey::ZERO;
            extract_into(req.packet.data(), &req.packet.meta, &mut key);
            self.exec.execute(
                &self.dp,
                &mut self.ports,
                &mut req.packet,
                &key,
                &req.actions,
                0,
            );
            self.dp.recycle(req.packet);
        }
        if n > 0 {
            self.process_recirculated(now_ms);
        }
        n
    }

    /// Classifies and executes one batch of received packets.
    pub fn process_batch(&mut self, batch: &mut PacketBatch, now_ms: u64) {
        self.process(batch, now_ms);
        self.process_recirculated(now_ms);
    }

    /// Runs recirculated packets through the caches again, up to MAX_DEPTH
    /// rounds; what is still recirculating after that is a loop and dropped.
    fn process_recirculated(&mut self, now_ms: u64) {
        for _ in 0..MAX_DEPTH {
            if self.exec.recirc.is_empty() {
                return;
            }
            let Some(mut batch) = self.recirc_spare.take() else {
                return;
            };
            std::mem::swap(&mut batch, &mut self.exec.recirc);
            self.process(&mut batch, now_ms);
            batch.clear();
            self.recirc_spare = Some(batch);
        }
        self.exec.loops += self.exec.recirc.len() as u64;
        self.exec.recirc.clear();
    }

    // The per-packet arrays (keys, hashes, flows) are indexed in lockstep.
    #[allow(clippy::needless_range_loop)]
    fn process(&mut self, batch: &mut PacketBatch, now_ms: u64) {
        self.exec.now_ms = now_ms;
        let dp = &*self.dp;
        let n = batch.len();
        let mut c = BatchCounters::default();

        let emc_on = self.emc.is_enabled();
        for (i, p) in batch.packets().iter().enumerate() {
            let k = &mut self.keys[i];
            *k = FlowKey::ZERO;
            // A recirculated packet was counted on its first pass.
            if extract_into(p.data(), &p.meta, k) != Outcome::Complete && p.meta.recirc_id == 0 {
                c.malformed += 1;
            }
            if emc_on {
                self.hashes[i] = k.hash();
            }
        }

        let reader = dp.megaflows.reader();
        let mut from_classifier: [Option<&Arc<Megaflow>>; BATCH_SIZE] = [None; BATCH_SIZE];
        {
            let mut flows: [Option<&Megaflow>; BATCH_SIZE] = [None; BATCH_SIZE];
            let mut todo = 0u32;
            for i in 0..n {
                match emc_on
                    .then(|| self.emc.lookup(&self.keys[i], self.hashes[i]))
                    .flatten()
                {
                    Some(f) => flows[i] = Some(f),
                    None => todo |= 1 << i,
                }
            }
            c.emc_hits = n as u64 - todo.count_ones() as u64;
            if todo != 0 {
                let missed = reader.lookup_batch(&self.keys[..n], todo, &mut from_classifier);
                c.megaflow_hits = (todo.count_ones() - missed.count_ones()) as u64;
                c.misses = missed.count_ones() as u64;
                for i in 0..n {
                    if let Some(f) = from_classifier[i] {
                        flows[i] = Some(f);
                    } else if missed & (1 << i) != 0 {
                        // On a full queue the packet stays and is dropped
                        // below (no flow); `upcall` counted it as lost.
                        dp.upcall(UpcallKind::Miss, &self.keys[i], &mut batch.packets_mut()[i]);
                    }
                }
            }

            // Stats once per run of packets of the same flow, then actions.
            let mut run: Option<(&Megaflow, u64, u64, u16)> = None;
            for i in 0..n {
                let Some(flow) = flows[i] else { continue };
                let p = &mut batch.packets_mut()[i];
                let flags = self.keys[i].tcp_flags();
                match &mut run {
                    Some((f, pk, by, fl)) if std::ptr::eq(*f, flow) => {
                        *pk += 1;
                        *by += p.len() as u64;
                        *fl |= flags;
                    }
                    _ => {
                        if let Some((f, pk, by, fl)) = run {
                            f.stats.add(pk, by, fl, now_ms);
                        }
                        run = Some((flow, 1, p.len() as u64, flags));
                    }
                }
                self.exec
                    .execute(dp, &mut self.ports, p, &self.keys[i], &flow.actions, 0);
            }
            if let Some((f, pk, by, fl)) = run {
                f.stats.add(pk, by, fl, now_ms);
            }
        }

        if emc_on {
            for i in 0..n {
                if let Some(f) = from_classifier[i] {
                    self.emc.offer(&self.keys[i], self.hashes[i], f);
                }
            }
        }

        let add = |a: &AtomicU64, v: u64| {
            if v != 0 {
                a.fetch_add(v, Ordering::Relaxed);
            }
        };
        add(&dp.counters.emc_hits, c.emc_hits);
        add(&dp.counters.megaflow_hits, c.megaflow_hits);
        add(&dp.counters.misses, c.misses);
        add(&dp.counters.malformed, c.malformed);
    }

    fn publish_exec_counters(&mut self) {
        let c = &self.dp.counters;
        let e = &mut self.exec;
        for (a, v) in [
            (&c.action_errors, &mut e.action_errors),
            (&c.loops, &mut e.loops),
            (&c.tx_dropped, &mut e.tx_dropped),
            (&c.metered, &mut e.metered),
        ] {
            if *v != 0 {
                a.fetch_add(*v, Ordering::Relaxed);
                *v = 0;
            }
        }
    }
}
