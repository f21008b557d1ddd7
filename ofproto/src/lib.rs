//! oxvs-ofproto: the OpenFlow side of the switch. Today: the wire codec
//! (`ofp`). Connections, flow tables and xlate follow.

pub mod async_msg;
pub mod bridge;
pub mod bridge_view;
pub mod bundle;
pub mod classifier;
pub mod flow;
pub mod group;
pub mod monitor;
pub mod ofconn;
pub mod ofp;
pub mod server;
pub mod table;
pub mod xlate;

pub use oxvs_datapath as datapath;
