//! oxvs-cli: the daemon (`oxvsd`) and its control tool (`oxvsctl`).
//!
//! The daemon follows the Firecracker pattern: the control socket decodes
//! each request into a typed [`proto::CtlRequest`], one state task
//! ([`daemon::state`]) owns the configuration and applies requests, and
//! `oxvsctl` is a thin client that parses its command line
//! ([`args`]) into the same type and renders the answer ([`display`]).
//! No switching logic lives here: bridges come from `oxvs_ofproto::bridge`,
//! the fast path from `oxvs_datapath`.

pub mod args;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod display;
pub mod odp;
pub mod proto;
pub mod sys;

pub use oxvs_ofproto as ofproto;
