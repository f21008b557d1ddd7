//! Ports: where packets enter and leave the datapath. One trait, several
//! kinds: in-memory (tests), pcap files, af_packet on a Linux interface, tap.

use crate::packet::{Packet, PacketBatch};

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

    /// A file descriptor that becomes readable when packets wait, for epoll;
    /// None for ports that are always ready (memory, pcap).
    fn rx_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}
