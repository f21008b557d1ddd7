//! OpenFlow layer of oxvs (codec, connections, flow tables, xlate). Its
//! contents arrive with the OpenFlow issue; today it only links the layers below.
pub use oxvs_datapath as datapath;
