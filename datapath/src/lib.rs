//! oxvs-datapath: the software fast path. Flow-key extraction, the per-thread
//! exact-match cache, the shared megaflow classifier, action execution,
//! ports and the upcall queue. It knows nothing of OpenFlow.

pub mod action;
pub mod extract;
pub mod flow_key;
pub mod modify;
pub mod packet;
pub mod port;
