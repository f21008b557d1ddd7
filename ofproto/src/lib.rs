//! oxvs-ofproto: the OpenFlow side of the switch: the wire codec (`ofp`),
//! connections (`ofconn`, `server`), bridges and their flow tables
//! (`bridge`, `table`, `classifier`, `tlv`, `group`), xlate, bundles and
//! flow monitors.

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
pub mod tlv;
pub mod xlate;

pub use oxvs_datapath as datapath;
