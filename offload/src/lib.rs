//! Offload layer of oxvs: established datapath megaflows as tc flower
//! filters on the ingress of their input ports' devices, with the software
//! megaflow cache as the fallback for whatever tc cannot or will not take.
//!
//! - [`caps`]: what the kernel's tc has (probed once at start-up).
//! - [`flower`]: megaflow -> flower keys and tc actions, or a [`Reason`].
//! - [`offloader`]: which flows are in tc, stats read back, healing.
//! - [`tc`]: the rtnetlink socket.

pub mod caps;
pub mod flower;
pub mod offloader;
pub mod tc;

pub use caps::Capabilities;
pub use flower::{Reason, Redirect};
pub use offloader::{OffloadSettings, Offloader, Placement, TcOps, TcPolicy};
pub use oxvs_datapath as datapath;

/// The ifindex of interface `name` in this network namespace.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}
