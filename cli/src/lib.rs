//! Shared pieces of the oxvs binaries (oxvsd, oxvsctl), which arrive with the
//! daemon issue.
pub use oxvs_ofproto as ofproto;
