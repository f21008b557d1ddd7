//! Opening the datapath port behind a configured port.

use std::os::fd::RawFd;
use std::path::Path;

use oxvs_datapath::packet::{Packet, PacketBatch};
use oxvs_datapath::port::{
    AfPacketOptions, AfPacketPort, PcapRxPort, PcapTxPort, Port, PortError, PortStats, TapOptions,
    TapPort,
};

use crate::config::{PortOptions, PortType};
use crate::sys::EventFd;

/// Opens port `name` of type `ty` as datapath port `dp_port`. The error is
/// a sentence for the user.
pub fn open_port(
    name: &str,
    ty: PortType,
    options: &PortOptions,
    dp_port: u32,
) -> Result<Box<dyn Port>, String> {
    match ty {
        PortType::System => {
            let opts = AfPacketOptions {
                in_port: dp_port,
                ..AfPacketOptions::default()
            };
            AfPacketPort::open(name, opts)
                .map(|p| Box::new(p) as Box<dyn Port>)
                .map_err(|e| match e {
                    PortError::Config { reason, .. } if reason.contains("no such interface") => {
                        format!("could not open network device {name} (No such device)")
                    }
                    e => format!("could not open network device {name}: {e}"),
                })
        }
        PortType::Internal | PortType::Tap => {
            let opts = TapOptions {
                in_port: dp_port,
                up: false,
                persist: false,
            };
            TapPort::open(name, opts)
                .map(|p| Box::new(p) as Box<dyn Port>)
                .map_err(|e| match e {
                    PortError::Config { .. } => format!(
                        "could not create {} port {name}: an interface of another kind already has that name ({e})",
                        ty.as_str()
                    ),
                    e => format!("could not create {} port {name}: {e}", ty.as_str()),
                })
        }
        PortType::Pcap => {
            PcapPort::open(name, options, dp_port).map(|p| Box::new(p) as Box<dyn Port>)
        }
    }
}

/// A pcap port: replays `rxq_pcap` as input and writes output to `pcap`
/// (Open vSwitch's dummy netdev options of the same names). Its rx fd is an
/// eventfd that stays readable while the replay has frames left, so the
/// poll thread's epoll wakes for it exactly then.
pub struct PcapPort {
    name: String,
    rx: Option<PcapRxPort>,
    tx: Option<PcapTxPort>,
    ready: EventFd,
    rx_done: bool,
    /// Packets sent to a port without an output file.
    discarded: u64,
}

impl PcapPort {
    pub fn open(name: &str, options: &PortOptions, dp_port: u32) -> Result<PcapPort, String> {
        let rx = match &options.rxq_pcap {
            Some(p) => Some(
                PcapRxPort::open(p, dp_port)
                    .map_err(|e| format!("pcap port {name}: cannot read {}: {e}", p.display()))?
                    .named(name),
            ),
            None => None,
        };
        let tx = match &options.pcap {
            Some(p) => Some(create_tx(name, p)?),
            None => None,
        };
        let ready = EventFd::new().map_err(|e| format!("pcap port {name}: eventfd: {e}"))?;
        if rx.is_some() {
            ready.wake();
        }
        Ok(PcapPort {
            name: name.to_string(),
            rx_done: rx.is_none(),
            rx,
            tx,
            ready,
            discarded: 0,
        })
    }
}

fn create_tx(name: &str, p: &Path) -> Result<PcapTxPort, String> {
    PcapTxPort::create(p)
        .map(|t| t.named(name))
        .map_err(|e| format!("pcap port {name}: cannot create {}: {e}", p.display()))
}

impl Port for PcapPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError> {
        let Some(rx) = &mut self.rx else {
            return Ok(0);
        };
        let n = rx.recv(batch)?;
        if rx.is_exhausted() && !self.rx_done {
            self.rx_done = true;
            self.ready.drain();
        }
        Ok(n)
    }

    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        match &mut self.tx {
            Some(tx) => {
                let n = tx.send(packets)?;
                // Readers (tcpdump, tests) see each batch as it leaves.
                tx.flush()?;
                Ok(n)
            }
            None => {
                self.discarded += packets.len() as u64;
                Ok(0)
            }
        }
    }

    fn stats(&self) -> PortStats {
        let mut s = PortStats::default();
        if let Some(rx) = &self.rx {
            let r = rx.stats();
            s.rx_packets = r.rx_packets;
            s.rx_bytes = r.rx_bytes;
            s.rx_dropped = r.rx_dropped;
            s.rx_errors = r.rx_errors;
        }
        if let Some(tx) = &self.tx {
            let t = tx.stats();
            s.tx_packets = t.tx_packets;
            s.tx_bytes = t.tx_bytes;
            s.tx_dropped = t.tx_dropped;
            s.tx_errors = t.tx_errors;
        }
        s.tx_dropped += self.discarded;
        s
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.ready.fd())
    }
}
