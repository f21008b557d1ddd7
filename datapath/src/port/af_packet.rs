//! AF_PACKET port: a raw socket bound to one Linux interface, moving
//! batches with recvmmsg/sendmmsg. This is what Open vSwitch calls a
//! `system` port on its netdev datapath.
//!
//! The socket uses `PACKET_VNET_HDR` so that frames the kernel hands over
//! with an unfinished TCP/UDP checksum (veth with offloads on, see
//! /work/shared/notes/testing-on-this-machine.md) get it finished here, and
//! `PACKET_AUXDATA` so that a VLAN tag the kernel took off into metadata is
//! put back in the frame, as Open vSwitch does.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::gso::MAX_GSO_FRAME;
use super::{ifname_to_c, Port, PortError, PortStats};
use crate::checksum::{fold, ones_sum};
use crate::packet::Gso;
use crate::packet::{Packet, PacketBatch, BATCH_SIZE};

// Linux uapi values (linux/if_ether.h, linux/if_packet.h,
// linux/virtio_net.h); not all libc versions export them.
const ETH_P_ALL: u16 = 0x0003;
const PACKET_ADD_MEMBERSHIP: libc::c_int = 1;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_AUXDATA: libc::c_int = 8;
const PACKET_VNET_HDR: libc::c_int = 15;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const PACKET_MR_PROMISC: libc::c_ushort = 1;
const PACKET_OUTGOING: u8 = 4;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const ETH_P_8021Q: u16 = 0x8100;
/// Offset of the checksum in a UDP header (TCP's is 16).
const UDP_CSUM_OFFSET: usize = 6;

/// Size of `struct virtio_net_hdr`, which precedes every frame on a socket
/// with `PACKET_VNET_HDR`.
pub const VNET_HDR_LEN: usize = 10;

/// Default largest frame received whole: jumbo frames fit, GSO frames
/// (up to 64 KiB) usually do not and are dropped.
pub const DEFAULT_MAX_FRAME: usize = 9216;

/// How often an idle port checks that its interface still exists, for the
/// cases where the kernel's one-shot ENETDOWN was missed.
const LIVENESS_INTERVAL: Duration = Duration::from_secs(1);

/// `struct packet_mreq`.
#[repr(C)]
struct PacketMreq {
    mr_ifindex: libc::c_int,
    mr_type: libc::c_ushort,
    mr_alen: libc::c_ushort,
    mr_address: [u8; 8],
}

/// `struct tpacket_auxdata`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketAuxdata {
    tp_status: u32,
    tp_len: u32,
    tp_snaplen: u32,
    tp_mac: u16,
    tp_net: u16,
    tp_vlan_tci: u16,
    tp_vlan_tpid: u16,
}

/// `struct tpacket_stats`.
#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    tp_packets: u32,
    tp_drops: u32,
}

/// Room for one control message carrying `tpacket_auxdata`, aligned as
/// `struct cmsghdr` requires.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct CmsgBuf([u8; 64]);

/// Settings for [`AfPacketPort::open`].
#[derive(Clone, Debug)]
pub struct AfPacketOptions {
    /// `in_port` metadata given to received packets.
    pub in_port: u32,
    /// Put the interface in promiscuous mode (a switch port wants every frame).
    pub promisc: bool,
    /// Socket receive buffer in bytes. The default 4 MiB keeps bursts from
    /// overflowing the kernel's 212992-byte default.
    pub rcvbuf: usize,
    /// Socket send buffer in bytes.
    pub sndbuf: usize,
    /// Largest frame received; longer ones (GSO) are counted and dropped.
    pub max_frame: usize,
    /// Receive frames. A transmit-only socket (false) is bound with
    /// protocol 0, so the kernel never queues a frame to it: used when the
    /// port's misses arrive elsewhere (TC offload's miss channel).
    pub receive: bool,
}

impl Default for AfPacketOptions {
    fn default() -> Self {
        AfPacketOptions {
            in_port: 0,
            promisc: true,
            rcvbuf: 4 << 20,
            sndbuf: 4 << 20,
            max_frame: DEFAULT_MAX_FRAME,
            receive: true,
        }
    }
}

/// What the `virtio_net_hdr` in front of a received frame says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Parses the header. Legacy virtio headers on packet sockets are in
    /// the host's byte order.
    pub fn parse(b: &[u8; VNET_HDR_LEN]) -> VnetHdr {
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16::from_ne_bytes([b[2], b[3]]),
            gso_size: u16::from_ne_bytes([b[4], b[5]]),
            csum_start: u16::from_ne_bytes([b[6], b[7]]),
            csum_offset: u16::from_ne_bytes([b[8], b[9]]),
        }
    }

    /// The header bytes (for tests and ports that send offload metadata).
    pub fn to_bytes(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }

    pub fn needs_csum(&self) -> bool {
        self.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0
    }

    pub fn is_gso(&self) -> bool {
        self.gso_type != VIRTIO_NET_HDR_GSO_NONE
    }
}

/// Finishes a partial (CHECKSUM_PARTIAL) TCP/UDP checksum the way the
/// kernel's `skb_checksum_help` does: the field at `csum_start +
/// csum_offset` holds the pseudo-header sum, so the ones-complement sum of
/// everything from `csum_start` to the end, complemented, is the checksum.
/// Returns false (frame untouched) if the offsets do not fit the frame.
pub fn complete_partial_csum(frame: &mut [u8], csum_start: usize, csum_offset: usize) -> bool {
    let Some(at) = csum_start.checked_add(csum_offset) else {
        return false;
    };
    if csum_start >= frame.len() || at.checked_add(2).is_none_or(|end| end > frame.len()) {
        return false;
    }
    let mut csum = !fold(ones_sum(0, &frame[csum_start..]));
    // For UDP 0 means "no checksum" (and is invalid over IPv6): send the
    // other ones-complement zero, as the UDP stack itself does.
    if csum == 0 && csum_offset == UDP_CSUM_OFFSET {
        csum = 0xffff;
    }
    frame[at..at + 2].copy_from_slice(&csum.to_be_bytes());
    true
}

/// An AF_PACKET socket bound to one interface. See the module docs.
pub struct AfPacketPort {
    name: String,
    fd: OwnedFd,
    ifindex: libc::c_int,
    in_port: u32,
    /// Bytes per receive slot: vnet header plus `max_frame`.
    slot: usize,
    /// BATCH_SIZE slots that recvmmsg fills; frames are copied out into the
    /// caller's batch (PacketBatch hands out one free buffer at a time, so
    /// recvmmsg cannot write into several of them at once).
    rx_buf: Box<[u8]>,
    rx_addr: Box<[libc::sockaddr_ll; BATCH_SIZE]>,
    rx_cmsg: Box<[CmsgBuf; BATCH_SIZE]>,
    stats: PortStats,
    /// Drops the kernel reported (PACKET_STATISTICS resets on read).
    kernel_drops: AtomicU64,
    gso_dropped: u64,
    gso_warned: bool,
    /// GSO super-frames received (carried through whole).
    gso_received: u64,
    csum_completed: u64,
    down: Option<String>,
    last_liveness: Instant,
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live reference to a T and the length passed is
    // exactly size_of::<T>(); the kernel only reads that many bytes.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            opt,
            (val as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sets a socket buffer size, forcing past the sysctl limit when allowed.
fn set_buffer(fd: RawFd, force: libc::c_int, plain: libc::c_int, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    match setsockopt(fd, libc::SOL_SOCKET, force, &v) {
        Ok(()) => Ok(()),
        // Without CAP_NET_ADMIN take what the sysctl allows.
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            setsockopt(fd, libc::SOL_SOCKET, plain, &v)
        }
        Err(e) => Err(e),
    }
}

/// Whether interface `ifindex` exists in the namespace of socket `fd`;
/// None if the kernel would not say.
pub(crate) fn ifindex_exists(fd: RawFd, ifindex: libc::c_int) -> Option<bool> {
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
    ifr.ifr_ifru.ifru_ifindex = ifindex;
    // SAFETY: SIOCGIFNAME reads ifr_ifindex and writes ifr_name inside the
    // ifreq we own; asking through `fd` keeps the query in its namespace.
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFNAME, &mut ifr) };
    if r == 0 {
        return Some(true);
    }
    match errno() {
        libc::ENODEV | libc::ENXIO => Some(false),
        _ => None,
    }
}

/// The index of interface `name` in the namespace of socket `fd`.
pub(crate) fn ifindex_of(
    fd: RawFd,
    c_name: &[libc::c_char; libc::IFNAMSIZ],
) -> io::Result<libc::c_int> {
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
    ifr.ifr_name = *c_name;
    // SAFETY: SIOCGIFINDEX reads the NUL-terminated ifr_name and writes
    // ifr_ifindex inside the ifreq we own.
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFINDEX, &mut ifr) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: after a successful SIOCGIFINDEX the union holds ifru_ifindex.
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex })
}

/// Errors that mean the interface (or our binding to it) went away.
fn is_gone_errno(e: i32) -> bool {
    matches!(e, libc::ENXIO | libc::ENODEV | libc::ENETDOWN)
}

impl AfPacketPort {
    /// Opens a socket on interface `ifname` (in the calling thread's network
    /// namespace). Needs CAP_NET_RAW.
    pub fn open(ifname: &str, opts: AfPacketOptions) -> Result<AfPacketPort, PortError> {
        let c_name = ifname_to_c(ifname)
            .ok_or_else(|| PortError::config(ifname, "invalid interface name"))?;
        let io_err = |e: io::Error| PortError::io(ifname, e);

        // Protocol 0: the socket receives nothing until it is bound to the
        // interface, so no frame from another interface slips in first.
        // SAFETY: plain syscall with constant arguments.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io_err(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sfd = fd.as_raw_fd();

        let ifindex = ifindex_of(sfd, &c_name).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENODEV) {
                PortError::config(ifname, "no such interface")
            } else {
                io_err(e)
            }
        })?;

        let one: libc::c_int = 1;
        setsockopt(sfd, libc::SOL_PACKET, PACKET_VNET_HDR, &one).map_err(io_err)?;
        setsockopt(sfd, libc::SOL_PACKET, PACKET_AUXDATA, &one).map_err(io_err)?;
        // Kernels before 4.20 lack it; receive then drops PACKET_OUTGOING
        // frames by their address instead.
        if let Err(e) = setsockopt(sfd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &one) {
            tracing::debug!(port = ifname, error = %e, "PACKET_IGNORE_OUTGOING unavailable");
        }
        set_buffer(sfd, libc::SO_RCVBUFFORCE, libc::SO_RCVBUF, opts.rcvbuf).map_err(io_err)?;
        set_buffer(sfd, libc::SO_SNDBUFFORCE, libc::SO_SNDBUF, opts.sndbuf).map_err(io_err)?;

        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as libc::c_ushort;
        sll.sll_protocol = if opts.receive { ETH_P_ALL.to_be() } else { 0 };
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        let r = unsafe {
            libc::bind(
                sfd,
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io_err(io::Error::last_os_error()));
        }

        // A send-only socket still asks for promiscuous mode when told to:
        // its owner receives the device's frames elsewhere (tc's miss
        // channel), and a NIC filters unicast by MAC before tc sees it.
        if opts.promisc {
            let mreq = PacketMreq {
                mr_ifindex: ifindex,
                mr_type: PACKET_MR_PROMISC,
                mr_alen: 0,
                mr_address: [0; 8],
            };
            // The membership ends with the socket: no cleanup needed.
            setsockopt(sfd, libc::SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq).map_err(io_err)?;
        }

        // A receiving socket takes whole GSO super-frames (a sender with
        // TSO on hands over up to 64 KiB at once); the slots' pages are only
        // touched when such frames arrive.
        let max_frame = if opts.receive {
            opts.max_frame.max(MAX_GSO_FRAME)
        } else {
            64
        };
        let slot = VNET_HDR_LEN + max_frame;
        Ok(AfPacketPort {
            name: ifname.to_owned(),
            fd,
            ifindex,
            in_port: opts.in_port,
            slot,
            rx_buf: vec![0u8; slot * BATCH_SIZE].into_boxed_slice(),
            // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
            rx_addr: Box::new([unsafe { mem::zeroed() }; BATCH_SIZE]),
            rx_cmsg: Box::new([CmsgBuf([0; 64]); BATCH_SIZE]),
            stats: PortStats::default(),
            kernel_drops: AtomicU64::new(0),
            gso_dropped: 0,
            gso_warned: false,
            gso_received: 0,
            csum_completed: 0,
            down: None,
            last_liveness: Instant::now(),
        })
    }

    /// The interface's index (in the namespace the port was opened in).
    pub fn ifindex(&self) -> i32 {
        self.ifindex
    }

    /// GSO frames dropped (no partial checksum, or no segment size).
    pub fn gso_dropped(&self) -> u64 {
        self.gso_dropped
    }

    /// GSO super-frames received whole.
    pub fn gso_received(&self) -> u64 {
        self.gso_received
    }

    /// Received frames whose partial TCP/UDP checksum this port finished.
    pub fn csum_completed(&self) -> u64 {
        self.csum_completed
    }

    /// True once the port has reported `PortError::Down`.
    pub fn is_down(&self) -> bool {
        self.down.is_some()
    }

    fn down_err(&self) -> PortError {
        PortError::down(&self.name, self.down.clone().unwrap_or_default())
    }

    /// Called when the socket reports the interface went down or away:
    /// decides between Down (gone) and a transient admin-down.
    fn on_gone_errno(&mut self, e: i32) -> Option<PortError> {
        let gone = match ifindex_exists(self.fd.as_raw_fd(), self.ifindex) {
            Some(exists) => !exists,
            // Cannot tell: trust the errno, except ENETDOWN, which an
            // administratively downed interface also gives.
            None => e != libc::ENETDOWN,
        };
        if gone {
            self.down = Some(format!(
                "interface {} (ifindex {}) is gone: {}",
                self.name,
                self.ifindex,
                io::Error::from_raw_os_error(e)
            ));
            Some(self.down_err())
        } else {
            None
        }
    }

    /// An idle port checks now and then that its interface is still there.
    /// Whether the interface still exists (checked at most once per
    /// liveness interval): for owners of a transmit-only socket, which
    /// never receives and so never notices on its own.
    pub fn check_alive(&mut self) -> Result<(), PortError> {
        if self.down.is_some() {
            return Err(self.down_err());
        }
        self.liveness_check()
    }

    fn liveness_check(&mut self) -> Result<(), PortError> {
        let now = Instant::now();
        if now.duration_since(self.last_liveness) < LIVENESS_INTERVAL {
            return Ok(());
        }
        self.last_liveness = now;
        if ifindex_exists(self.fd.as_raw_fd(), self.ifindex) == Some(false) {
            self.down = Some(format!(
                "interface {} (ifindex {}) no longer exists",
                self.name, self.ifindex
            ));
            return Err(self.down_err());
        }
        Ok(())
    }

    /// Turns received slot `i` (`len` bytes including the vnet header) into
    /// a packet of `batch` (a GSO super-frame stays whole, its GSO facts in
    /// the packet's metadata). Returns 1, or 0 if it was dropped.
    fn deliver(
        &mut self,
        i: usize,
        len: usize,
        truncated: bool,
        controllen: usize,
        batch: &mut PacketBatch,
    ) -> usize {
        if self.rx_addr[i].sll_pkttype == PACKET_OUTGOING {
            // Something the host sent out of this interface, not input
            // (only seen on kernels without PACKET_IGNORE_OUTGOING).
            return 0;
        }
        let slot = &mut self.rx_buf[i * self.slot..(i + 1) * self.slot];
        if len < VNET_HDR_LEN || len > slot.len() {
            self.stats.rx_errors += 1;
            return 0;
        }
        let mut hb = [0u8; VNET_HDR_LEN];
        hb.copy_from_slice(&slot[..VNET_HDR_LEN]);
        let hdr = VnetHdr::parse(&hb);
        if truncated {
            // Larger than a slot: a jumbo beyond max_frame.
            self.stats.rx_dropped += 1;
            return 0;
        }
        let vlan = parse_auxdata(&self.rx_cmsg[i].0[..controllen.min(64)]).and_then(|aux| {
            (aux.tp_status & TP_STATUS_VLAN_VALID != 0).then(|| {
                let tpid =
                    if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 && aux.tp_vlan_tpid != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        ETH_P_8021Q
                    };
                (tpid, aux.tp_vlan_tci)
            })
        });
        let frame = &mut slot[VNET_HDR_LEN..len];
        let mut gso = Gso::default();
        if hdr.is_gso() {
            if !hdr.needs_csum() || hdr.gso_size == 0 {
                self.stats.rx_dropped += 1;
                self.gso_dropped += 1;
                if !self.gso_warned {
                    self.gso_warned = true;
                    tracing::warn!(port = %self.name, "dropping GSO frames without a partial checksum or segment size");
                }
                return 0;
            }
            gso = Gso {
                kind: hdr.gso_type,
                size: hdr.gso_size,
                csum_start: hdr.csum_start,
                csum_offset: hdr.csum_offset,
            };
            self.gso_received += 1;
        } else if hdr.needs_csum() {
            let (start, off) = (usize::from(hdr.csum_start), usize::from(hdr.csum_offset));
            if !complete_partial_csum(frame, start, off) {
                self.stats.rx_errors += 1;
                return 0;
            }
            self.csum_completed += 1;
        }

        let Some(p) = batch.next_free() else {
            self.stats.rx_dropped += 1;
            return 0;
        };
        if gso.is_some() && !p.grow(frame.len() + 4) {
            self.stats.rx_dropped += 1;
            return 0;
        }
        let area = p.rx_area();
        let total = match vlan {
            // The kernel took the tag off into metadata: put it back where
            // it was, after the MAC addresses.
            Some((tpid, tci)) if frame.len() >= 12 => {
                let total = frame.len() + 4;
                if total > area.len() {
                    self.stats.rx_dropped += 1;
                    return 0;
                }
                area[..12].copy_from_slice(&frame[..12]);
                area[12..14].copy_from_slice(&tpid.to_be_bytes());
                area[14..16].copy_from_slice(&tci.to_be_bytes());
                area[16..total].copy_from_slice(&frame[12..]);
                gso.csum_start += 4;
                total
            }
            _ => {
                if frame.len() > area.len() {
                    self.stats.rx_dropped += 1;
                    return 0;
                }
                area[..frame.len()].copy_from_slice(frame);
                frame.len()
            }
        };
        p.set_len(total);
        p.meta.in_port = self.in_port;
        p.meta.gso = gso;
        batch.commit();
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += total as u64;
        1
    }
}

/// Finds `tpacket_auxdata` among the control messages in `buf`.
fn parse_auxdata(buf: &[u8]) -> Option<TpacketAuxdata> {
    let hdr_len = mem::size_of::<libc::cmsghdr>();
    let align = mem::size_of::<usize>();
    let data_off = hdr_len.div_ceil(align) * align;
    let mut off = 0usize;
    while off + hdr_len <= buf.len() {
        let h = &buf[off..];
        let cmsg_len = usize::from_ne_bytes(h[..mem::size_of::<usize>()].try_into().ok()?);
        let level_at = mem::size_of::<usize>();
        let level = i32::from_ne_bytes(h[level_at..level_at + 4].try_into().ok()?);
        let ty = i32::from_ne_bytes(h[level_at + 4..level_at + 8].try_into().ok()?);
        if cmsg_len < hdr_len || off + cmsg_len > buf.len() {
            return None;
        }
        if level == libc::SOL_PACKET && ty == PACKET_AUXDATA {
            let d = h.get(data_off..data_off + 20)?;
            let u32_at = |o: usize| u32::from_ne_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
            let u16_at = |o: usize| u16::from_ne_bytes([d[o], d[o + 1]]);
            return Some(TpacketAuxdata {
                tp_status: u32_at(0),
                tp_len: u32_at(4),
                tp_snaplen: u32_at(8),
                tp_mac: u16_at(12),
                tp_net: u16_at(14),
                tp_vlan_tci: u16_at(16),
                tp_vlan_tpid: u16_at(18),
            });
        }
        off += cmsg_len.div_ceil(align) * align;
    }
    None
}

/// The virtio header that sends super-frame `p` as GSO.
fn gso_vnet_hdr(p: &Packet) -> VnetHdr {
    let g = p.meta.gso;
    let l4 = usize::from(g.csum_start);
    // TCP's header length is in its data offset; UDP's is 8.
    let l4_len = match g.kind & 0x7f {
        1 | 4 => p
            .data()
            .get(l4 + 12)
            .map_or(20, |b| usize::from(b >> 4) * 4),
        _ => 8,
    };
    VnetHdr {
        flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
        gso_type: g.kind,
        hdr_len: (l4 + l4_len) as u16,
        gso_size: g.size,
        csum_start: g.csum_start,
        csum_offset: g.csum_offset,
    }
}

/// Read-only zero vnet header sent in front of every frame: no offloads.
static ZERO_VNET_HDR: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

impl Port for AfPacketPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn takes_gso(&self) -> bool {
        true
    }

    fn recv(&mut self, batch: &mut PacketBatch) -> Result<usize, PortError> {
        if self.down.is_some() {
            return Err(self.down_err());
        }
        let mut n = 0;
        let want = BATCH_SIZE.saturating_sub(batch.len());
        if want == 0 || batch.is_full() {
            return Ok(n);
        }

        // The header arrays hold pointers into our buffers, so they are
        // built per call on the stack (keeping the port Send) and never
        // outlive it.
        // SAFETY: iovec and mmsghdr are plain data; all-zero is valid.
        let mut iov: [libc::iovec; BATCH_SIZE] = unsafe { mem::zeroed() };
        // SAFETY: as above.
        let mut msgs: [libc::mmsghdr; BATCH_SIZE] = unsafe { mem::zeroed() };
        let slot = self.slot;
        let buf = self.rx_buf.as_mut_ptr();
        for i in 0..want {
            // SAFETY: i < BATCH_SIZE, so the slot lies inside rx_buf.
            iov[i].iov_base = unsafe { buf.add(i * slot) }.cast();
            iov[i].iov_len = slot;
            let h = &mut msgs[i].msg_hdr;
            h.msg_name = (&mut self.rx_addr[i] as *mut libc::sockaddr_ll).cast();
            h.msg_namelen = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            h.msg_control = self.rx_cmsg[i].0.as_mut_ptr().cast();
            h.msg_controllen = 64;
        }
        // SAFETY: msgs[..want] point at iovecs, addresses and control
        // buffers that live until this function returns, each with the
        // length given; MSG_DONTWAIT keeps the call from blocking.
        let r = unsafe {
            libc::recvmmsg(
                self.fd.as_raw_fd(),
                msgs.as_mut_ptr(),
                want as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = errno();
            return match e {
                libc::EAGAIN | libc::EINTR => {
                    self.liveness_check()?;
                    Ok(n)
                }
                e if is_gone_errno(e) => match self.on_gone_errno(e) {
                    Some(err) => Err(err),
                    None => Ok(n),
                },
                // The socket's pending error, e.g. ENOBUFS: count and go on.
                _ => {
                    self.stats.rx_errors += 1;
                    Err(PortError::io(&self.name, io::Error::from_raw_os_error(e)))
                }
            };
        }

        for (i, m) in msgs.iter().enumerate().take(r as usize) {
            // size_t on glibc, socklen_t on musl.
            #[allow(clippy::unnecessary_cast)]
            let controllen = m.msg_hdr.msg_controllen as usize;
            let truncated = m.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            n += self.deliver(i, m.msg_len as usize, truncated, controllen, batch);
        }
        Ok(n)
    }

    fn send(&mut self, packets: &[Packet]) -> Result<usize, PortError> {
        if self.down.is_some() {
            self.stats.tx_dropped += packets.len() as u64;
            return Err(self.down_err());
        }
        let mut sent = 0usize;
        let mut next = 0usize;
        let mut eintr = 0;
        while next < packets.len() {
            let chunk = &packets[next..packets.len().min(next + BATCH_SIZE)];
            // SAFETY: iovec and mmsghdr are plain data; all-zero is valid.
            let mut iov: [[libc::iovec; 2]; BATCH_SIZE] = unsafe { mem::zeroed() };
            // SAFETY: as above.
            let mut msgs: [libc::mmsghdr; BATCH_SIZE] = unsafe { mem::zeroed() };
            // Super-frames go with their GSO facts: the kernel (or the
            // receiving stack) segments them.
            let mut gso_hdrs = [[0u8; VNET_HDR_LEN]; BATCH_SIZE];
            for (k, p) in chunk.iter().enumerate() {
                let hdr: &[u8; VNET_HDR_LEN] = if p.meta.gso.is_some() {
                    gso_hdrs[k] = gso_vnet_hdr(p).to_bytes();
                    &gso_hdrs[k]
                } else {
                    &ZERO_VNET_HDR
                };
                // The kernel only reads from these: the casts to *mut are
                // what iovec's type demands, not a licence to write.
                iov[k][0].iov_base = hdr.as_ptr() as *mut libc::c_void;
                iov[k][0].iov_len = VNET_HDR_LEN;
                iov[k][1].iov_base = p.data().as_ptr() as *mut libc::c_void;
                iov[k][1].iov_len = p.len();
                msgs[k].msg_hdr.msg_iov = iov[k].as_mut_ptr();
                msgs[k].msg_hdr.msg_iovlen = 2;
            }
            // SAFETY: msgs[..chunk.len()] point at iovecs over memory that
            // lives until this call returns (the static header and the
            // packets' frames); the socket is bound, so no address is given.
            let r = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    chunk.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                let r = r as usize;
                for p in &chunk[..r] {
                    self.stats.tx_bytes += p.len() as u64;
                }
                self.stats.tx_packets += r as u64;
                sent += r;
                next += r;
                continue;
            }
            let e = if r == 0 { libc::EAGAIN } else { errno() };
            match e {
                libc::EINTR if eintr < 3 => eintr += 1,
                // The queue is full: drop the rest, as a NIC would.
                libc::EAGAIN | libc::ENOBUFS | libc::EINTR => {
                    self.stats.tx_dropped += (packets.len() - next) as u64;
                    break;
                }
                // This frame is bad (too long for the MTU, too short for
                // Ethernet): drop it alone and go on with the rest.
                libc::EMSGSIZE | libc::EINVAL => {
                    self.stats.tx_errors += 1;
                    self.stats.tx_dropped += 1;
                    next += 1;
                }
                e if is_gone_errno(e) => {
                    self.stats.tx_dropped += (packets.len() - next) as u64;
                    return match self.on_gone_errno(e) {
                        Some(err) => Err(err),
                        None => Ok(sent),
                    };
                }
                e => {
                    self.stats.tx_errors += 1;
                    self.stats.tx_dropped += (packets.len() - next) as u64;
                    return Err(PortError::io(&self.name, io::Error::from_raw_os_error(e)));
                }
            }
        }
        Ok(sent)
    }

    fn stats(&self) -> PortStats {
        let mut ks = TpacketStats::default();
        let mut len = mem::size_of::<TpacketStats>() as libc::socklen_t;
        // SAFETY: `ks` is a tpacket_stats we own and `len` is its size; the
        // kernel writes at most `len` bytes.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_STATISTICS,
                (&mut ks as *mut TpacketStats).cast(),
                &mut len,
            )
        };
        if r == 0 {
            // Reading resets the kernel's counters, so keep a running total.
            self.kernel_drops
                .fetch_add(u64::from(ks.tp_drops), Ordering::Relaxed);
        }
        let mut s = self.stats;
        s.rx_dropped += self.kernel_drops.load(Ordering::Relaxed);
        s
    }

    fn rx_fd(&self) -> Option<RawFd> {
        Some(self.fd.as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    /// Full checksum of a packet as a receiver would verify it.
    fn pseudo_sum_v4(src: [u8; 4], dst: [u8; 4], proto: u8, l4_len: usize) -> u64 {
        let mut p = Vec::new();
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(l4_len as u16).to_be_bytes());
        ones_sum(0, &p)
    }

    fn pseudo_sum_v6(src: [u8; 16], dst: [u8; 16], proto: u8, l4_len: usize) -> u64 {
        let mut p = Vec::new();
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(&(l4_len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
        ones_sum(0, &p)
    }

    /// Turns a finished frame into what a veth with offloads hands over: the
    /// L4 checksum field holds only the pseudo-header sum.
    fn make_partial(frame: &mut [u8], csum_at: usize, pseudo: u64) {
        frame[csum_at..csum_at + 2].copy_from_slice(&fold(pseudo).to_be_bytes());
    }

    #[test]
    fn completes_a_partial_udp_ipv4_checksum() {
        let payload: Vec<u8> = (0..333u32).map(|i| (i * 13) as u8).collect();
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(4000, 5000);
        let mut frame = Vec::new();
        b.write(&mut frame, &payload).unwrap();
        let good = frame.clone();
        let l4 = 14 + 20;
        make_partial(
            &mut frame,
            l4 + 6,
            pseudo_sum_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, good.len() - l4),
        );
        assert_ne!(
            frame, good,
            "the partial frame must differ from the finished one"
        );
        assert!(complete_partial_csum(&mut frame, l4, 6));
        assert_eq!(frame, good);
        // And etherparse, recomputing from scratch, agrees.
        let s = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = s.net else {
            panic!("not ipv4")
        };
        let Some(TransportSlice::Udp(udp)) = s.transport else {
            panic!("not udp")
        };
        let want = udp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), &payload)
            .unwrap();
        assert_eq!(udp.checksum(), want);
    }

    #[test]
    fn a_udp_checksum_that_sums_to_zero_is_sent_as_ffff() {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(4000, 5000);
        let mut frame = Vec::new();
        b.write(&mut frame, &[0x11; 40]).unwrap();
        let l4 = 34;
        let seed = pseudo_sum_v4([10, 0, 0, 1], [10, 0, 0, 2], 17, frame.len() - l4);
        make_partial(&mut frame, l4 + 6, seed);
        assert!(complete_partial_csum(&mut frame, l4, 6));
        // Adding the checksum to a payload word makes the full sum 0xffff,
        // i.e. a computed checksum of 0.
        let c = u16::from_be_bytes([frame[l4 + 6], frame[l4 + 7]]);
        let w = u16::from_be_bytes([frame[l4 + 8], frame[l4 + 9]]);
        let w2 = fold(u64::from(w) + u64::from(c));
        frame[l4 + 8..l4 + 10].copy_from_slice(&w2.to_be_bytes());
        make_partial(&mut frame, l4 + 6, seed);
        assert!(complete_partial_csum(&mut frame, l4, 6));
        assert_eq!(&frame[l4 + 6..l4 + 8], &[0xff, 0xff]);
        let s = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = s.net else {
            panic!("not ipv4")
        };
        let Some(TransportSlice::Udp(udp)) = s.transport else {
            panic!("not udp")
        };
        let want = udp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
            .unwrap();
        assert_eq!(want, 0xffff);
    }

    #[test]
    fn completes_a_partial_tcp_ipv6_checksum_with_odd_length() {
        let payload: Vec<u8> = (0..1001u32).map(|i| (i * 7 + 3) as u8).collect();
        let src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6(src, dst, 64)
            .tcp(40000, 80, 12345, 65535)
            .ack(777)
            .psh();
        let mut frame = Vec::new();
        b.write(&mut frame, &payload).unwrap();
        let good = frame.clone();
        let l4 = 14 + 40;
        make_partial(
            &mut frame,
            l4 + 16,
            pseudo_sum_v6(src, dst, 6, good.len() - l4),
        );
        assert!(complete_partial_csum(&mut frame, l4, 16));
        assert_eq!(frame, good);
        let s = SlicedPacket::from_ethernet(&frame).unwrap();
        let Some(etherparse::NetSlice::Ipv6(ip)) = s.net else {
            panic!("not ipv6")
        };
        let Some(TransportSlice::Tcp(tcp)) = s.transport else {
            panic!("not tcp")
        };
        let want = tcp
            .to_header()
            .calc_checksum_ipv6(&ip.header().to_header(), &payload)
            .unwrap();
        assert_eq!(tcp.checksum(), want);
    }

    #[test]
    fn completes_a_partial_tcp_ipv4_checksum() {
        let payload = b"GET / HTTP/1.1\r\n\r\n";
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([192, 168, 1, 1], [192, 168, 1, 2], 64)
            .tcp(1234, 80, 1, 1000)
            .syn();
        let mut frame = Vec::new();
        b.write(&mut frame, payload).unwrap();
        let good = frame.clone();
        let l4 = 34;
        make_partial(
            &mut frame,
            l4 + 16,
            pseudo_sum_v4([192, 168, 1, 1], [192, 168, 1, 2], 6, good.len() - l4),
        );
        assert!(complete_partial_csum(&mut frame, l4, 16));
        assert_eq!(frame, good);
    }

    #[test]
    fn partial_checksum_offsets_outside_the_frame_are_refused() {
        let mut f = vec![0u8; 60];
        let orig = f.clone();
        assert!(!complete_partial_csum(&mut f, 60, 0));
        assert!(!complete_partial_csum(&mut f, 50, 9));
        assert!(!complete_partial_csum(&mut f, usize::MAX, 1));
        assert!(!complete_partial_csum(&mut f, 1, usize::MAX));
        assert_eq!(f, orig);
        assert!(complete_partial_csum(&mut f, 50, 8));
    }

    #[test]
    fn vnet_header_round_trips() {
        let h = VnetHdr {
            flags: 1,
            gso_type: 1,
            hdr_len: 54,
            gso_size: 1448,
            csum_start: 34,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.to_bytes()), h);
        assert!(h.needs_csum() && h.is_gso());
        assert!(!VnetHdr::parse(&[0; VNET_HDR_LEN]).needs_csum());
    }

    #[test]
    fn auxdata_is_found_among_control_messages() {
        let hdr_len = mem::size_of::<libc::cmsghdr>();
        let mut buf = vec![0u8; 64];
        let len = hdr_len + 20;
        buf[..mem::size_of::<usize>()].copy_from_slice(&len.to_ne_bytes());
        let o = mem::size_of::<usize>();
        buf[o..o + 4].copy_from_slice(&libc::SOL_PACKET.to_ne_bytes());
        buf[o + 4..o + 8].copy_from_slice(&PACKET_AUXDATA.to_ne_bytes());
        buf[hdr_len..hdr_len + 4]
            .copy_from_slice(&(TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID).to_ne_bytes());
        buf[hdr_len + 16..hdr_len + 18].copy_from_slice(&0x2064u16.to_ne_bytes());
        buf[hdr_len + 18..hdr_len + 20].copy_from_slice(&0x88a8u16.to_ne_bytes());
        let aux = parse_auxdata(&buf).unwrap();
        assert_eq!(aux.tp_vlan_tci, 0x2064);
        assert_eq!(aux.tp_vlan_tpid, 0x88a8);
        assert!(parse_auxdata(&buf[..hdr_len + 4]).is_none());
        assert!(parse_auxdata(&[]).is_none());
        // A bogus length must not loop or panic.
        let mut bad = buf.clone();
        bad[..mem::size_of::<usize>()].copy_from_slice(&0usize.to_ne_bytes());
        assert!(parse_auxdata(&bad).is_none());
    }

    #[test]
    fn invalid_or_missing_interfaces_are_config_errors() {
        for bad in ["", "a/b", "sixteen-chars-xx", "has space"] {
            assert!(matches!(
                AfPacketPort::open(bad, AfPacketOptions::default()),
                Err(PortError::Config { .. })
            ));
        }
        // Without CAP_NET_RAW the socket itself fails: an Io error, no panic.
        match AfPacketPort::open("oxvs-nonexist0", AfPacketOptions::default()) {
            Err(PortError::Config { .. }) | Err(PortError::Io { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("opened a missing interface"),
        }
    }
}
