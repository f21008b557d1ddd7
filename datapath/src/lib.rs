//! oxvs-datapath: the software fast path. Flow-key extraction, the per-thread
//! exact-match cache, the shared megaflow classifier, action execution,
//! ports and the upcall queue. It knows nothing of OpenFlow.

pub mod action;
pub mod checksum;
pub mod dp;
pub mod emc;
pub mod extract;
pub mod flow_key;
pub mod megaflow;
pub mod meter;
pub mod modify;
pub mod packet;
pub mod port;
pub mod upcall;

pub use action::{Action, Actions, PortNo, SetHeader};
pub use dp::{Datapath, DatapathConfig, PollThread, PortTable};
pub use flow_key::FlowKey;
pub use megaflow::{Megaflow, MegaflowCache};
pub use packet::{Packet, PacketBatch, PacketMeta};
pub use upcall::{MegaflowSpec, Upcall, UpcallHandler, UpcallKind, UpcallReply};
