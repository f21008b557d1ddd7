//! `oxvs-blast`: a traffic generator and counter fast enough to measure a
//! software switch between two network namespaces, where the stock tools
//! (tcpreplay, iperf3) stop near 350k packets/s.
//!
//! * `send` writes Ethernet/IPv4/UDP frames with valid checksums onto an
//!   interface through an AF_PACKET socket, `--batch` frames per
//!   `sendmmsg`, bypassing the qdisc (`PACKET_QDISC_BYPASS`). Frame `k`
//!   belongs to flow `k mod --flows`; every flow has its own 5-tuple (the
//!   UDP ports walk through the flow number), so a `--flows` larger than
//!   the number of frames sent is a flood of new flows.
//! * `count` reads frames from an interface through a `TPACKET_V3` ring
//!   (no copy to userspace, no syscall per frame) and counts the ones
//!   `send` wrote (they carry a magic word), timing them by the kernel's
//!   receive stamps of the first and the last.
//!
//! Each prints one JSON line on stdout. Needs CAP_NET_RAW.

use std::fs;
use std::io;
use std::mem;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use oxvs_datapath::checksum::{fold, ones_sum};
use serde::Serialize;

// Linux uapi values (linux/if_ether.h, linux/if_packet.h); not every libc
// release exports all of them.
const ETH_P_ALL: u16 = 0x0003;
const ETH_P_IP: u16 = 0x0800;
const PACKET_RX_RING: libc::c_int = 5;
const PACKET_STATISTICS: libc::c_int = 6;
const PACKET_VERSION: libc::c_int = 10;
const PACKET_QDISC_BYPASS: libc::c_int = 20;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
const TPACKET_V3: libc::c_int = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;

/// Marks the frames `send` writes, right after the UDP header.
const MAGIC: [u8; 8] = *b"OXVSBLST";
/// Ethernet + IPv4 (no options) + UDP headers.
const HDRS: usize = 14 + 20 + 8;
/// Smallest frame (without FCS): Ethernet's minimum, which also holds the
/// magic word and the sequence number.
const MIN_SIZE: usize = 60;
/// Largest frame: a 9000-byte MTU plus the Ethernet header.
const MAX_SIZE: usize = 9014;
/// UDP ports used by flows: 1024..65535 for both source and destination.
const PORT_BASE: u64 = 1024;
const PORT_SPAN: u64 = 65536 - PORT_BASE;

#[derive(Parser)]
#[command(
    name = "oxvs-blast",
    about = "fast UDP traffic generator (batched AF_PACKET TX) and frame counter (TPACKET_V3 ring)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send UDP frames round-robin over --flows distinct 5-tuples.
    Send(SendArgs),
    /// Count the frames `send` wrote that arrive on an interface.
    Count(CountArgs),
}

#[derive(clap::Args)]
struct SendArgs {
    /// Interface to send on (in the current network namespace).
    #[arg(long)]
    iface: String,
    /// Distinct 5-tuples, taken in turn (up to 64512^2).
    #[arg(long, default_value_t = 1)]
    flows: u64,
    /// Frame size in bytes, without FCS (60-9014).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to send for.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    duration: f64,
    /// Frames per second (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Stop after this many frames (0: no limit).
    #[arg(long, default_value_t = 0)]
    packets: u64,
    /// Frames per sendmmsg call (1-1024).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Source MAC (default: the interface's own).
    #[arg(long)]
    src_mac: Option<String>,
    /// Destination MAC (default: the neighbour entry of --dst-ip on the
    /// interface, else broadcast).
    #[arg(long)]
    dst_mac: Option<String>,
    #[arg(long, default_value = "198.18.0.1")]
    src_ip: Ipv4Addr,
    #[arg(long, default_value = "198.18.0.2")]
    dst_ip: Ipv4Addr,
    /// Socket send buffer in bytes.
    #[arg(long, default_value_t = 4 << 20)]
    sndbuf: usize,
}

#[derive(clap::Args)]
struct CountArgs {
    /// Interface to count on (in the current network namespace).
    #[arg(long)]
    iface: String,
    /// Longest time to count for, in seconds.
    #[arg(long, default_value_t = 5.0, allow_negative_numbers = true)]
    duration: f64,
    /// Stop once no test frame came for this many seconds after the first
    /// one (0: count for the whole --duration).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    idle: f64,
    /// Ring size in MiB (1 MiB blocks).
    #[arg(long, default_value_t = 64)]
    ring_mib: u32,
}

#[derive(Serialize)]
struct SendReport {
    mode: &'static str,
    iface: String,
    flows: u64,
    size: usize,
    batch: usize,
    src_mac: String,
    dst_mac: String,
    dst_mac_from: &'static str,
    packets: u64,
    bytes: u64,
    seconds: f64,
    pps: f64,
    gbps: f64,
    /// sendmmsg calls that failed with ENOBUFS/EAGAIN (frames retried).
    busy: u64,
}

#[derive(Serialize)]
struct CountReport {
    mode: &'static str,
    iface: String,
    /// Test frames read from the ring.
    packets: u64,
    /// Other frames seen on the interface.
    other: u64,
    /// Frames the kernel could not put in the ring (it was full).
    ring_drops: u64,
    bytes: u64,
    /// Kernel receive time of the last test frame minus the first's.
    first_to_last_s: f64,
    /// (packets + ring_drops) / first_to_last_s: what reached the interface.
    pps: f64,
    /// packets / first_to_last_s: what the counter read.
    pps_read: f64,
    gbps: f64,
    /// Highest sequence number seen (frames are numbered from 0 by `send`).
    max_seq: Option<u64>,
    seconds: f64,
}

fn main() {
    let cli = Cli::parse();
    let line = match cli.cmd {
        Cmd::Send(a) => send(&a).and_then(|r| Ok(serde_json::to_string(&r)?)),
        Cmd::Count(a) => count(&a).and_then(|r| Ok(serde_json::to_string(&r)?)),
    };
    match line {
        Ok(l) => println!("{l}"),
        Err(e) => {
            eprintln!("oxvs-blast: {e:#}");
            std::process::exit(1);
        }
    }
}

fn check_duration(what: &str, s: f64) -> Result<Duration> {
    if !s.is_finite() || s <= 0.0 || s > 86_400.0 {
        bail!("{what} must be a number of seconds above 0 and at most 86400, not {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

// ---------------------------------------------------------------- sockets

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

fn ifreq_for(iface: &str) -> Result<libc::ifreq> {
    let b = iface.as_bytes();
    if b.is_empty() || b.len() >= libc::IFNAMSIZ || b.iter().any(|&c| c == 0 || c == b'/') {
        bail!("\"{iface}\" is not a valid interface name (1-15 bytes, no '/')");
    }
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
    for (o, &c) in ifr.ifr_name.iter_mut().zip(b) {
        *o = c as libc::c_char;
    }
    Ok(ifr)
}

/// A raw AF_PACKET socket that receives nothing yet (protocol 0).
fn packet_socket() -> Result<OwnedFd> {
    // SAFETY: plain syscall with constant arguments.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EPERM) {
            bail!("AF_PACKET socket: {e} (needs root or CAP_NET_RAW)");
        }
        return Err(e).context("AF_PACKET socket");
    }
    // SAFETY: `raw` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn ifindex(fd: RawFd, iface: &str) -> Result<libc::c_int> {
    let mut ifr = ifreq_for(iface)?;
    // SAFETY: SIOCGIFINDEX reads the NUL-terminated ifr_name and writes
    // ifr_ifindex inside the ifreq we own.
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFINDEX, &mut ifr) };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENODEV) {
            bail!("no interface named \"{iface}\" in this network namespace");
        }
        return Err(e).with_context(|| format!("SIOCGIFINDEX {iface}"));
    }
    // SAFETY: after a successful SIOCGIFINDEX the union holds ifru_ifindex.
    Ok(unsafe { ifr.ifr_ifru.ifru_ifindex })
}

fn hwaddr(fd: RawFd, iface: &str) -> Result<[u8; 6]> {
    let mut ifr = ifreq_for(iface)?;
    // SAFETY: SIOCGIFHWADDR reads ifr_name and writes a sockaddr into the
    // ifreq we own.
    let r = unsafe { libc::ioctl(fd, libc::SIOCGIFHWADDR, &mut ifr) };
    if r != 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("SIOCGIFHWADDR {iface}"));
    }
    // SAFETY: after a successful SIOCGIFHWADDR the union holds ifru_hwaddr.
    let sa = unsafe { ifr.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (m, &d) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *m = d as u8;
    }
    Ok(mac)
}

fn bind(fd: RawFd, ifindex: libc::c_int, proto: u16) -> Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::c_ushort;
    sll.sll_protocol = proto.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
    let r = unsafe {
        libc::bind(
            fd,
            (&sll as *const libc::sockaddr_ll).cast(),
            mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error()).context("bind AF_PACKET socket");
    }
    Ok(())
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        bail!("\"{s}\" is not a MAC address (six hex bytes separated by ':')");
    }
    let mut mac = [0u8; 6];
    for (m, p) in mac.iter_mut().zip(&parts) {
        if p.is_empty() || p.len() > 2 {
            bail!("\"{s}\" is not a MAC address (six hex bytes separated by ':')");
        }
        *m = u8::from_str_radix(p, 16)
            .map_err(|_| anyhow!("\"{s}\" is not a MAC address (bad byte \"{p}\")"))?;
    }
    Ok(mac)
}

fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// The complete neighbour entry for `ip` on `iface` from /proc/net/arp
/// (which shows the caller's network namespace).
fn arp_lookup(ip: Ipv4Addr, iface: &str) -> Option<[u8; 6]> {
    let text = fs::read_to_string("/proc/net/arp").ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 6 || f[5] != iface || f[0].parse::<Ipv4Addr>().ok()? != ip {
            return None;
        }
        let flags = u32::from_str_radix(f[2].trim_start_matches("0x"), 16).ok()?;
        if flags & 0x2 == 0 {
            return None; // incomplete
        }
        parse_mac(f[3]).ok()
    })
}

// ---------------------------------------------------------------- frames

/// Ports of flow `f`: every flow below 64512^2 has its own pair.
fn flow_ports(f: u64) -> (u16, u16) {
    let sport = PORT_BASE + f % PORT_SPAN;
    let dport = PORT_BASE + (f / PORT_SPAN) % PORT_SPAN;
    (sport as u16, dport as u16)
}

/// One frame with everything but the ports, the sequence number and the
/// UDP checksum filled in, and the checksum's constant part.
struct Template {
    frame: Vec<u8>,
    /// Ones-complement sum of the pseudo-header, the UDP length and the
    /// payload with a zero sequence number.
    base_sum: u64,
}

const SEQ_AT: usize = HDRS + 8;

impl Template {
    fn new(size: usize, src_mac: [u8; 6], dst_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr) -> Self {
        let mut b = vec![0u8; size];
        b[0..6].copy_from_slice(&dst_mac);
        b[6..12].copy_from_slice(&src_mac);
        b[12..14].copy_from_slice(&ETH_P_IP.to_be_bytes());
        let ip_len = (size - 14) as u16;
        let udp_len = (size - 34) as u16;
        {
            let ip = &mut b[14..34];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
            ip[8] = 64;
            ip[9] = 17;
            ip[12..16].copy_from_slice(&src.octets());
            ip[16..20].copy_from_slice(&dst.octets());
            let c = !fold(ones_sum(0, ip));
            ip[10..12].copy_from_slice(&c.to_be_bytes());
        }
        b[38..40].copy_from_slice(&udp_len.to_be_bytes());
        b[HDRS..HDRS + 8].copy_from_slice(&MAGIC);
        let mut sum = ones_sum(0, &src.octets());
        sum = ones_sum(sum, &dst.octets());
        sum += 17 + u64::from(udp_len);
        // The UDP header with zero ports and checksum, and the payload.
        sum = ones_sum(sum, &b[34..]);
        Template {
            frame: b,
            base_sum: sum,
        }
    }

    /// Writes frame number `seq` of flow `flow` into `out` (len == size).
    #[inline]
    fn fill(&self, out: &mut [u8], flow: u64, seq: u64, fresh: bool) {
        if fresh {
            out.copy_from_slice(&self.frame);
        }
        let (sp, dp) = flow_ports(flow);
        out[34..36].copy_from_slice(&sp.to_be_bytes());
        out[36..38].copy_from_slice(&dp.to_be_bytes());
        let sb = seq.to_be_bytes();
        out[SEQ_AT..SEQ_AT + 8].copy_from_slice(&sb);
        let mut sum = self.base_sum + u64::from(sp) + u64::from(dp);
        sum = ones_sum(sum, &sb);
        let mut c = !fold(sum);
        if c == 0 {
            c = 0xffff;
        }
        out[40..42].copy_from_slice(&c.to_be_bytes());
    }
}

// ---------------------------------------------------------------- send

fn send(a: &SendArgs) -> Result<SendReport> {
    let duration = check_duration("--duration", a.duration)?;
    if a.flows == 0 || a.flows > PORT_SPAN * PORT_SPAN {
        bail!(
            "--flows must be between 1 and {} (distinct port pairs), not {}",
            PORT_SPAN * PORT_SPAN,
            a.flows
        );
    }
    if !(MIN_SIZE..=MAX_SIZE).contains(&a.size) {
        bail!(
            "--size must be between {MIN_SIZE} and {MAX_SIZE} bytes (frame without FCS), not {}",
            a.size
        );
    }
    if !(1..=1024).contains(&a.batch) {
        bail!("--batch must be between 1 and 1024, not {}", a.batch);
    }
    let fd = packet_socket()?;
    let sfd = fd.as_raw_fd();
    let idx = ifindex(sfd, &a.iface)?;
    let src_mac = match &a.src_mac {
        Some(s) => parse_mac(s).context("--src-mac")?,
        None => hwaddr(sfd, &a.iface)?,
    };
    let (dst_mac, dst_mac_from) = match &a.dst_mac {
        Some(s) => (parse_mac(s).context("--dst-mac")?, "argument"),
        None => match arp_lookup(a.dst_ip, &a.iface) {
            Some(m) => (m, "neighbour table"),
            None => ([0xff; 6], "broadcast (no neighbour entry for --dst-ip)"),
        },
    };
    // The frames go straight to the driver: no qdisc, no queueing.
    let one: libc::c_int = 1;
    setsockopt(sfd, libc::SOL_PACKET, PACKET_QDISC_BYPASS, &one).context("PACKET_QDISC_BYPASS")?;
    let sndbuf = libc::c_int::try_from(a.sndbuf).unwrap_or(libc::c_int::MAX);
    if setsockopt(sfd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, &sndbuf).is_err() {
        setsockopt(sfd, libc::SOL_SOCKET, libc::SO_SNDBUF, &sndbuf).context("SO_SNDBUF")?;
    }
    // Protocol 0: this socket sends on the interface and receives nothing.
    bind(sfd, idx, 0)?;

    let tpl = Template::new(a.size, src_mac, dst_mac, a.src_ip, a.dst_ip);
    let batch = if a.rate > 0 {
        // At most ~1 ms of frames per burst when paced.
        a.batch.min((a.rate / 1000).max(1) as usize)
    } else {
        a.batch
    };
    let size = a.size;
    let mut frames = vec![0u8; batch * size];
    for (i, f) in frames.chunks_exact_mut(size).enumerate() {
        tpl.fill(f, i as u64 % a.flows, i as u64, true);
    }
    let mut iovs: Vec<libc::iovec> = frames
        .chunks_exact_mut(size)
        .map(|f| libc::iovec {
            iov_base: f.as_mut_ptr().cast(),
            iov_len: size,
        })
        .collect();
    let mut msgs: Vec<libc::mmsghdr> = iovs
        .iter_mut()
        .map(|iov| {
            // SAFETY: mmsghdr is plain data; all-zero is a valid value
            // (no name, no control data).
            let mut m: libc::mmsghdr = unsafe { mem::zeroed() };
            m.msg_hdr.msg_iov = iov;
            m.msg_hdr.msg_iovlen = 1;
            m
        })
        .collect();

    let limit = if a.packets == 0 { u64::MAX } else { a.packets };
    let mut seq: u64 = 0;
    let mut busy: u64 = 0;
    let start = Instant::now();
    let deadline = start + duration;
    let mut flow = 0u64;
    'outer: while seq < limit {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if a.rate > 0 {
            let due = start + Duration::from_secs_f64(seq as f64 / a.rate as f64);
            if due > now {
                let wait = due - now;
                if wait > Duration::from_micros(200) {
                    std::thread::sleep(wait - Duration::from_micros(100));
                }
                continue;
            }
        }
        let n = (batch as u64).min(limit - seq) as usize;
        for (i, f) in frames.chunks_exact_mut(size).take(n).enumerate() {
            tpl.fill(f, flow, seq + i as u64, false);
            flow += 1;
            if flow == a.flows {
                flow = 0;
            }
        }
        let mut done = 0usize;
        while done < n {
            // SAFETY: msgs[done..n] are valid mmsghdrs whose single iovecs
            // point into `frames`, which outlives the call and is not
            // otherwise borrowed while the kernel reads it.
            let r = unsafe {
                libc::sendmmsg(
                    sfd,
                    msgs.as_mut_ptr().add(done),
                    (n - done) as libc::c_uint,
                    0,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::ENOBUFS) | Some(libc::EAGAIN) | Some(libc::EINTR) => {
                        busy += 1;
                        std::thread::yield_now();
                        if Instant::now() >= deadline {
                            seq += done as u64;
                            break 'outer;
                        }
                        continue;
                    }
                    Some(libc::EMSGSIZE) => bail!(
                        "sendmmsg on {}: {e}: --size {} is larger than the interface's MTU + 14",
                        a.iface,
                        a.size
                    ),
                    _ => return Err(e).with_context(|| format!("sendmmsg on {}", a.iface)),
                }
            }
            done += r as usize;
        }
        seq += n as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(SendReport {
        mode: "send",
        iface: a.iface.clone(),
        flows: a.flows,
        size: a.size,
        batch,
        src_mac: fmt_mac(&src_mac),
        dst_mac: fmt_mac(&dst_mac),
        dst_mac_from,
        packets: seq,
        bytes: seq * a.size as u64,
        seconds: secs,
        pps: seq as f64 / secs,
        gbps: (seq * a.size as u64) as f64 * 8.0 / secs / 1e9,
        busy,
    })
}

// ---------------------------------------------------------------- count

/// `struct tpacket_req3`.
#[repr(C)]
struct TpacketReq3 {
    tp_block_size: u32,
    tp_block_nr: u32,
    tp_frame_size: u32,
    tp_frame_nr: u32,
    tp_retire_blk_tov: u32,
    tp_sizeof_priv: u32,
    tp_feature_req_word: u32,
}

/// `struct tpacket_stats_v3`.
#[repr(C)]
#[derive(Default)]
struct TpacketStatsV3 {
    tp_packets: u32,
    tp_drops: u32,
    tp_freeze_q_cnt: u32,
}

// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then
// `struct tpacket_hdr_v1`).
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST_PKT: usize = 16;
// Offsets in `struct tpacket3_hdr`.
const PH_NEXT: usize = 0;
const PH_SEC: usize = 4;
const PH_NSEC: usize = 8;
const PH_SNAPLEN: usize = 12;
const PH_LEN: usize = 16;
const PH_MAC: usize = 24;
const PH_SIZE: usize = 48;

/// The mmap'ed receive ring, unmapped on drop.
struct Ring {
    base: *mut u8,
    len: usize,
    block_size: usize,
    blocks: usize,
}

impl Ring {
    fn block(&self, i: usize) -> &[u8] {
        // SAFETY: block i lies inside the mapping (i < blocks), which lives
        // as long as self. The kernel does not write a block while its
        // status says TP_STATUS_USER, which the caller checked first.
        unsafe { std::slice::from_raw_parts(self.base.add(i * self.block_size), self.block_size) }
    }

    fn status(&self, i: usize) -> &AtomicU32 {
        // SAFETY: the block descriptor's status word is 4-aligned (blocks
        // are page-aligned, offset 8) and inside the mapping; the kernel
        // and we share it, so it is only touched atomically here.
        unsafe { &*(self.base.add(i * self.block_size + BD_STATUS) as *const AtomicU32) }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // SAFETY: base/len are exactly what mmap returned; nothing borrows
        // the mapping once the ring is dropped.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

fn rd32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn rd16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

#[derive(Default)]
struct Tally {
    packets: u64,
    other: u64,
    bytes: u64,
    first_ns: Option<u64>,
    last_ns: u64,
    max_seq: Option<u64>,
    last_seen: Option<Instant>,
}

impl Tally {
    /// Counts the frames of one retired block.
    fn block(&mut self, b: &[u8]) {
        let (Some(n), Some(mut off)) = (rd32(b, BD_NUM_PKTS), rd32(b, BD_FIRST_PKT)) else {
            return;
        };
        let mut seen = false;
        for _ in 0..n {
            let p = off as usize;
            let Some(h) = b.get(p..p + PH_SIZE) else {
                break;
            };
            let (Some(next), Some(sec), Some(nsec), Some(snap), Some(len), Some(mac)) = (
                rd32(h, PH_NEXT),
                rd32(h, PH_SEC),
                rd32(h, PH_NSEC),
                rd32(h, PH_SNAPLEN),
                rd32(h, PH_LEN),
                rd16(h, PH_MAC),
            ) else {
                break;
            };
            let start = p + mac as usize;
            let frame = b.get(start..start + snap as usize).unwrap_or(&[]);
            if is_test_frame(frame) {
                let ns = u64::from(sec) * 1_000_000_000 + u64::from(nsec);
                self.first_ns.get_or_insert(ns);
                self.last_ns = self.last_ns.max(ns);
                self.packets += 1;
                self.bytes += u64::from(len);
                let seq =
                    u64::from_be_bytes(frame[SEQ_AT..SEQ_AT + 8].try_into().unwrap_or([0; 8]));
                self.max_seq = Some(self.max_seq.map_or(seq, |m| m.max(seq)));
                seen = true;
            } else {
                self.other += 1;
            }
            if next == 0 {
                break;
            }
            off = off.saturating_add(next);
        }
        if seen {
            self.last_seen = Some(Instant::now());
        }
    }
}

fn is_test_frame(f: &[u8]) -> bool {
    f.len() >= SEQ_AT + 8
        && f[12..14] == ETH_P_IP.to_be_bytes()
        && f[14] == 0x45
        && f[23] == 17
        && f[HDRS..HDRS + 8] == MAGIC
}

fn count(a: &CountArgs) -> Result<CountReport> {
    let duration = check_duration("--duration", a.duration)?;
    if !a.idle.is_finite() || a.idle < 0.0 {
        bail!(
            "--idle must be 0 or a positive number of seconds, not {}",
            a.idle
        );
    }
    if !(1..=1024).contains(&a.ring_mib) {
        bail!("--ring-mib must be between 1 and 1024, not {}", a.ring_mib);
    }
    let fd = packet_socket()?;
    let sfd = fd.as_raw_fd();
    let idx = ifindex(sfd, &a.iface)?;
    setsockopt(sfd, libc::SOL_PACKET, PACKET_VERSION, &TPACKET_V3).context("TPACKET_V3")?;
    let block_size: u32 = 1 << 20;
    let frame_size: u32 = 2048;
    let req = TpacketReq3 {
        tp_block_size: block_size,
        tp_block_nr: a.ring_mib,
        tp_frame_size: frame_size,
        tp_frame_nr: block_size / frame_size * a.ring_mib,
        // A block goes to userspace when full or after 10 ms.
        tp_retire_blk_tov: 10,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    setsockopt(sfd, libc::SOL_PACKET, PACKET_RX_RING, &req).context("PACKET_RX_RING")?;
    let len = block_size as usize * a.ring_mib as usize;
    // SAFETY: maps the ring the kernel just set up on `sfd`, length as
    // requested; the result is checked before use.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            sfd,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error()).context("mmap the receive ring");
    }
    let ring = Ring {
        base: base.cast(),
        len,
        block_size: block_size as usize,
        blocks: a.ring_mib as usize,
    };
    let one: libc::c_int = 1;
    // Only frames arriving on the interface (kernels >= 4.20).
    let _ = setsockopt(sfd, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &one);
    bind(sfd, idx, ETH_P_ALL)?;
    // Reading the statistics resets them: drops count from here.
    let _ = read_stats(sfd);

    let mut t = Tally::default();
    let start = Instant::now();
    let deadline = start + duration;
    let idle = Duration::from_secs_f64(a.idle);
    let mut blk = 0usize;
    loop {
        if ring.status(blk).load(Ordering::Acquire) & TP_STATUS_USER != 0 {
            t.block(ring.block(blk));
            ring.status(blk).store(TP_STATUS_KERNEL, Ordering::Release);
            blk = (blk + 1) % ring.blocks;
            continue;
        }
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if a.idle > 0.0 && t.last_seen.is_some_and(|l| now - l >= idle) {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: sfd,
            events: libc::POLLIN | libc::POLLERR,
            revents: 0,
        };
        let left = (deadline - now).as_millis().clamp(1, 100) as libc::c_int;
        // SAFETY: one valid pollfd that lives across the call.
        let r = unsafe { libc::poll(&mut pfd, 1, left) };
        if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(io::Error::last_os_error()).context("poll");
        }
    }
    // Let the kernel retire the block it is filling, then take what is left.
    std::thread::sleep(Duration::from_millis(25));
    for _ in 0..ring.blocks {
        if ring.status(blk).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            break;
        }
        t.block(ring.block(blk));
        ring.status(blk).store(TP_STATUS_KERNEL, Ordering::Release);
        blk = (blk + 1) % ring.blocks;
    }
    let stats = read_stats(sfd).unwrap_or_default();
    let drops = u64::from(stats.tp_drops);
    let span = t
        .first_ns
        .map_or(0.0, |f| t.last_ns.saturating_sub(f) as f64 / 1e9);
    let per = |n: f64| if span > 0.0 { n / span } else { 0.0 };
    Ok(CountReport {
        mode: "count",
        iface: a.iface.clone(),
        packets: t.packets,
        other: t.other,
        ring_drops: drops,
        bytes: t.bytes,
        first_to_last_s: span,
        pps: per((t.packets + drops) as f64),
        pps_read: per(t.packets as f64),
        gbps: per(t.bytes as f64 * 8.0) / 1e9,
        max_seq: t.max_seq,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn read_stats(fd: RawFd) -> io::Result<TpacketStatsV3> {
    let mut st = TpacketStatsV3::default();
    let mut len = mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `st`, which we own.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_PACKET,
            PACKET_STATISTICS,
            (&mut st as *mut TpacketStatsV3).cast(),
            &mut len,
        )
    };
    if r == 0 {
        Ok(st)
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_ok(f: &[u8]) -> bool {
        let src = &f[26..30];
        let dst = &f[30..34];
        let udp_len = u16::from_be_bytes([f[38], f[39]]);
        let mut s = ones_sum(0, src);
        s = ones_sum(s, dst);
        s += 17 + u64::from(udp_len);
        s = ones_sum(s, &f[34..]);
        fold(s) == 0xffff
    }

    #[test]
    fn frames_have_valid_checksums_and_distinct_ports() {
        let t = Template::new(
            64,
            [2, 0, 0, 0, 0, 1],
            [2, 0, 0, 0, 0, 2],
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
        );
        let mut f = vec![0u8; 64];
        let mut ports = std::collections::HashSet::new();
        for flow in [0u64, 1, 64511, 64512, 64513, 1_000_000, 4_000_000_000] {
            t.fill(&mut f, flow, flow * 7 + 3, true);
            assert_eq!(fold(ones_sum(0, &f[14..34])), 0xffff, "ip csum");
            assert!(udp_ok(&f), "udp csum of flow {flow}");
            assert!(is_test_frame(&f));
            assert!(ports.insert(flow_ports(flow)));
        }
        // Reusing a buffer without copying the template gives the same bytes.
        let mut g = vec![0u8; 64];
        t.fill(&mut g, 5, 9, true);
        t.fill(&mut f, 5, 9, false);
        assert_eq!(f, g);
    }

    #[test]
    fn macs_parse_or_fail_cleanly() {
        assert_eq!(
            parse_mac("02:aB:00:0:1:ff").unwrap(),
            [2, 0xab, 0, 0, 1, 0xff]
        );
        assert!(parse_mac("02:ab:00:00:01").is_err());
        assert!(parse_mac("02:ab:00:00:01:zz").is_err());
        assert!(parse_mac("02:ab:00:00:01:123").is_err());
    }
}
