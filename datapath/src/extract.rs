//! Flow-key extraction.
