//! Ports: where packets enter and leave the datapath. One trait, several
//! kinds: in-memory (tests), pcap files, af_packet on a Linux interface, tap.

use crate::packet::{Packet, PacketBatch};

pub mod af_packet;
pub mod gso;
pub mod memory;
pub mod pcap;
pub mod tap;

pub use af_packet::{AfPacketOptions, AfPacketPort};
pub use memory::{MemoryHandle, MemoryPort, SentFrame};
pub use pcap::{PcapRxPort, PcapTxPort};
pub use tap::{TapOptions, TapPort};

/// Why a port operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// The interface went away (or the file ended for good): the port is
    /// down and the datapath goes on without it.
    #[error("port {name} is down: {reason}")]
    Down { name: String, reason: String },
    #[error("port {name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("port {name}: {reason}")]
    Config { name: String, reason: String },
}

/// Counters every port keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

/// A port the poll thread owns. Receive fills a batch in place; send takes
/// a slice of packets. Neither allocates per packet.
pub trait Port: Send {
    /// The port's name (interface or file name).
    fn name(&self) -> &str;

    /// Receives into the free slots of `batch` (at most until it is full)
    /// without blocking; returns how many packets were added. `Ok(0)` means
    /// nothing is waiting. `Err(PortError::Down)` means the port is gone.
    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError>;

    /// Sends `packets` (their frames as they are); returns how many went out.
    /// Packets that could not be sent are counted in `tx_dropped`.
    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError>;

    /// The port's counters.
    fn stats(&self) -> PortStats;
    /// Whether `send` takes GSO super-frames (packets with `meta.gso`) and
    /// has them segmented further on; the datapath segments for the ports
    /// that do not.
    fn takes_gso(&self) -> bool {
        false
    }

    /// A file descriptor that becomes readable when packets wait, for epoll;
    /// None for ports that are always ready (memory, pcap).
    fn rx_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}

impl PortError {
    /// A [`PortError::Down`] for port `name`.
    pub fn down(name: &str, reason: impl Into<String>) -> PortError {
        PortError::Down {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// A [`PortError::Io`] for port `name`.
    pub fn io(name: &str, source: std::io::Error) -> PortError {
        PortError::Io {
            name: name.to_owned(),
            source,
        }
    }

    /// A [`PortError::Config`] for port `name`.
    pub fn config(name: &str, reason: impl Into<String>) -> PortError {
        PortError::Config {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// True for [`PortError::Down`].
    pub fn is_down(&self) -> bool {
        matches!(self, PortError::Down { .. })
    }
}

/// Boxed ports are ports too, so the datapath can hold `Box<dyn Port>`.
impl<P: Port + ?Sized> Port for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError> {
        (**self).recv(batch)
    }

    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        (**self).send(packets)
    }

    fn stats(&self) -> PortStats {
        (**self).stats()
    }

    fn rx_fd(&self) -> Option<std::os::fd::RawFd> {
        (**self).rx_fd()
    }

    fn takes_gso(&self) -> bool {
        (**self).takes_gso()
    }
}

/// Copies an interface name into a NUL-terminated `ifr_name`, refusing names
/// the kernel would reject (empty, too long, with NUL or '/').
pub(crate) fn ifname_to_c(name: &str) -> Option<[libc::c_char; libc::IFNAMSIZ]> {
    let bytes = name.as_bytes();
    if bytes.is_empty()
        || bytes.len() >= libc::IFNAMSIZ
        || bytes
            .iter()
            .any(|&b| b == 0 || b == b'/' || b.is_ascii_whitespace())
    {
        return None;
    }
    let mut out = [0 as libc::c_char; libc::IFNAMSIZ];
    for (o, &b) in out.iter_mut().zip(bytes) {
        *o = b as libc::c_char;
    }
    Some(out)
}
