//! Tap port (in progress).
