//! Offload layer of oxvs: datapath megaflows as tc flower filters. Its
//! contents arrive with the TC offload issue.
pub use oxvs_datapath as datapath;
