//! Upcalls: how a packet the caches cannot place reaches the slow path, and
//! how the slow path answers. `ofproto` supplies the real handler; the
//! datapath only defines the contract.

use crate::action::Actions;
use crate::flow_key::FlowKey;
use crate::packet::Packet;

/// Why a packet went up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpcallKind {
    /// No megaflow covered the packet.
    Miss,
    /// A megaflow's `userspace` action sent it, with that action's cookie.
    Action { userdata: u64 },
}

/// A packet, its key and why it came up.
#[derive(Debug)]
pub struct Upcall {
    pub kind: UpcallKind,
    pub key: FlowKey,
    pub packet: Packet,
}

/// The megaflow a handler wants installed for a miss.
#[derive(Clone, Debug, Default)]
pub struct MegaflowSpec {
    /// Which key bits the pipeline looked at.
    pub mask: FlowKey,
    pub actions: Actions,
    /// The handler already counted the packet that missed wherever it
    /// counts traffic: the flow's first packet starts out credited (see
    /// [`crate::megaflow::Megaflow::credited`]).
    pub credited: bool,
    /// The slow path has nothing to do for the flow's traffic beyond its
    /// counters (no MAC learning to refresh, say): see
    /// [`crate::megaflow::Megaflow::watch_activity`].
    pub quiet: bool,
}

/// A handler's answer to one upcall.
#[derive(Clone, Debug)]
pub struct UpcallReply {
    /// Install this megaflow (for misses; ignored for action upcalls).
    pub install: Option<MegaflowSpec>,
    /// Execute these actions on the packet that came up (empty: drop it).
    pub actions: Actions,
}

/// The slow path. Runs on handler threads, never on a poll thread.
pub trait UpcallHandler {
    fn handle(&mut self, upcall: &Upcall) -> UpcallReply;
}
