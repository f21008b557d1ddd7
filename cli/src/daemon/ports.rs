//! Opening the datapath port behind a configured port.

use std::os::fd::RawFd;
use std::path::Path;

use oxvs_datapath::packet::{Packet, PacketBatch};
use oxvs_datapath::port::{
    AfPacketOptions, AfPacketPort, PcapRxPort, PcapTxPort, Port, PortError, PortStats, TapOptions,
    TapPort,
};

use oxvs_offload::Redirect;

use super::runtime::SharedOffloader;
use crate::config::{PortOptions, PortType};
use crate::sys::EventFd;

/// Opens port `name` of type `ty` as datapath port `dp_port`, and tells the
/// offloader where tc should send packets output to it. A system port with
/// `hw-offload` on a kernel with flower gets its misses through tc (see
/// [`OffloadedPort`]); if that cannot be set up, it runs in software and the
/// log says why. The error is a sentence for the user.
pub fn open_port(
    name: &str,
    ty: PortType,
    options: &PortOptions,
    dp_port: u32,
    offload: &SharedOffloader,
) -> Result<Box<dyn Port>, String> {
    let port: Box<dyn Port> = match ty {
        PortType::System => {
            let offloaded = if options.hw_offload {
                match OffloadedPort::open(name, dp_port, offload) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::warn!(
                            port = name,
                            "hw-offload not possible, port runs in software: {e}"
                        );
                        None
                    }
                }
            } else {
                None
            };
            match offloaded {
                Some(p) => Box::new(p),
                None => {
                    if let Some(i) = oxvs_offload::ifindex(name) {
                        offload.lock().clear_stale(i);
                    }
                    Box::new(open_af_packet(name, dp_port, true)?)
                }
            }
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
                })?
        }
        PortType::Pcap => Box::new(PcapPort::open(name, options, dp_port)?),
    };
    let redirect = match ty {
        PortType::System => oxvs_offload::ifindex(name).map(Redirect::Egress),
        // An internal/tap port would need mirred's ingress redirect, and a
        // frame redirected that way keeps the packet type it had on the
        // input device (OTHERHOST for the port's MAC), which the host stack
        // drops: flows into these ports stay in software.
        PortType::Internal | PortType::Tap | PortType::Pcap => None,
    };
    offload.lock().set_output(dp_port, redirect);
    Ok(port)
}

fn open_af_packet(name: &str, dp_port: u32, receive: bool) -> Result<AfPacketPort, String> {
    let opts = AfPacketOptions {
        in_port: dp_port,
        receive,
        ..AfPacketOptions::default()
    };
    AfPacketPort::open(name, opts).map_err(|e| match e {
        PortError::Config { reason, .. } if reason.contains("no such interface") => {
            format!("could not open network device {name} (No such device)")
        }
        e => format!("could not open network device {name}: {e}"),
    })
}

/// A system port whose ingress tc owns: established flows are forwarded by
/// flower filters on the device, and a lowest-priority catch-all redirects
/// every other frame to a private tap (`ox-miss<N>`), which is where this
/// port receives. AF_PACKET on the device itself would see every frame
/// before tc does (taps run ahead of ingress), so frames tc forwarded would
/// reach the switch too; the miss tap sees only what tc left. Transmit goes
/// out of the device through a socket that receives nothing. Dropping the
/// port gives the device's ingress back (qdisc and filters removed).
pub struct OffloadedPort {
    name: String,
    dp_port: u32,
    rx: TapPort,
    tx: AfPacketPort,
    offload: SharedOffloader,
}

impl OffloadedPort {
    fn open(name: &str, dp_port: u32, offload: &SharedOffloader) -> Result<OffloadedPort, String> {
        if let Some(e) = &offload.lock().capabilities().flower_error {
            return Err(format!("tc flower is unavailable ({e})"));
        }
        let ifindex = oxvs_offload::ifindex(name)
            .ok_or_else(|| format!("could not open network device {name} (No such device)"))?;
        let tx = open_af_packet(name, dp_port, false)?;
        let miss = format!("ox-miss{dp_port}");
        let rx = TapPort::open(
            &miss,
            TapOptions {
                in_port: dp_port,
                up: false,
                persist: false,
            },
        )
        .map_err(|e| format!("miss device {miss}: {e}"))?;
        // The kernel must not send its own frames (IPv6 router
        // solicitations, DAD) out of the miss tap: they would look like
        // frames received on the port.
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{miss}/disable_ipv6"), "1");
        rx.set_up(true)
            .map_err(|e| format!("miss device {miss}: {e}"))?;
        let miss_ifindex =
            oxvs_offload::ifindex(&miss).ok_or_else(|| format!("miss device {miss} vanished"))?;
        offload
            .lock()
            .attach_port(dp_port, name, ifindex, miss_ifindex)
            .map_err(|e| format!("tc on {name}: {e}"))?;
        Ok(OffloadedPort {
            name: name.to_string(),
            dp_port,
            rx,
            tx,
            offload: offload.clone(),
        })
    }
}

impl Drop for OffloadedPort {
    fn drop(&mut self) {
        self.offload.lock().detach_port(self.dp_port);
    }
}

impl Port for OffloadedPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError> {
        let n = self.rx.recv(batch)?;
        if n == 0 {
            // The miss tap lives on when the device goes: ask the device.
            self.tx.check_alive()?;
        }
        Ok(n)
    }

    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        self.tx.send(packets)
    }

    fn stats(&self) -> PortStats {
        let (r, t) = (self.rx.stats(), self.tx.stats());
        PortStats {
            rx_packets: r.rx_packets,
            rx_bytes: r.rx_bytes,
            rx_dropped: r.rx_dropped,
            rx_errors: r.rx_errors,
            tx_packets: t.tx_packets,
            tx_bytes: t.tx_bytes,
            tx_dropped: t.tx_dropped,
            tx_errors: t.tx_errors,
        }
    }

    fn rx_fd(&self) -> Option<RawFd> {
        self.rx.rx_fd()
    }

    fn takes_gso(&self) -> bool {
        self.tx.takes_gso()
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
