//! End-to-end test support for oxvs.
