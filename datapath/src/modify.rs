//! Header rewrites.
