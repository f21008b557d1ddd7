//! Port kinds against the real world: tcpdump reads what the pcap port
//! writes; af_packet and tap ports move frames through veth and tap devices
//! in a private network namespace (so nothing leaks, even on failure).
//!
//! The namespace tests need root; they print a message and pass otherwise.

use std::io;
use std::os::fd::RawFd;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use oxvs_datapath::packet::{Packet, PacketBatch};
use oxvs_datapath::port::{
    AfPacketOptions, AfPacketPort, PcapRxPort, PcapTxPort, Port, PortError, TapOptions, TapPort,
};

/// Local experimental EtherType: nothing else on a fresh link uses it, so
/// IPv6 autoconfiguration chatter is easy to ignore.
const TEST_ETHERTYPE: [u8; 2] = [0x88, 0xb5];

fn test_frame(i: usize, len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len.max(60)];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    f[12..14].copy_from_slice(&TEST_ETHERTYPE);
    for (j, b) in f[14..].iter_mut().enumerate() {
        *b = (i * 31 + j) as u8;
    }
    f
}

fn is_test_frame(f: &[u8]) -> bool {
    f.len() >= 14 && f[12..14] == TEST_ETHERTYPE
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn find_tool(name: &str) -> Option<String> {
    ["/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"]
        .iter()
        .map(|d| format!("{d}{name}"))
        .find(|p| std::path::Path::new(p).exists())
}

/// Runs `ip ARGS`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let ip = find_tool("ip").expect("ip not found");
    let out = Command::new(ip).args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn link_is_up(name: &str) -> bool {
    let Some(ip) = find_tool("ip") else {
        return false;
    };
    Command::new(ip)
        .args(["-o", "link", "show", "dev", name])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("LOWER_UP"))
        .unwrap_or(false)
}

fn wait_link_up(name: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !link_is_up(name) {
        assert!(Instant::now() < deadline, "{name} never came up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A short interface-name prefix unique to this process and call.
fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    // prefix (4) + pid (<= 7) + n (1-2) stays within 15 characters.
    format!("{prefix}{}{n}", std::process::id() % 10_000_000)
}

/// Runs `f` on a thread moved into a new, empty network namespace. The
/// namespace and every interface in it vanish when the thread and its
/// sockets are gone, whether `f` passed or panicked. None (with a message)
/// when the test cannot run here.
fn in_fresh_netns<T: Send + 'static>(
    test: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    if !is_root() {
        eprintln!("SKIP {test}: needs root for a network namespace");
        return None;
    }
    if find_tool("ip").is_none() {
        eprintln!("SKIP {test}: iproute2 `ip` is not installed");
        return None;
    }
    let h = std::thread::spawn(move || {
        // SAFETY: unshare only changes this thread's namespace membership;
        // commands spawned from this thread inherit it.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(f())
    });
    match h.join() {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            eprintln!("SKIP {test}: cannot create a network namespace: {e}");
            None
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn wait_readable(fd: RawFd, ms: i32) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, ms) };
}

/// Receives until `want` frames passing `keep` arrived or `timeout` passed.
fn recv_until(
    port: &mut dyn Port,
    want: usize,
    timeout: Duration,
    keep: impl Fn(&[u8]) -> bool,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut batch = PacketBatch::new();
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        batch.clear();
        match port.recv(&mut batch) {
            Ok(0) => {
                if let Some(fd) = port.rx_fd() {
                    wait_readable(fd, 20);
                } else {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            Ok(_) => got.extend(
                batch
                    .packets()
                    .iter()
                    .map(|p| p.data().to_vec())
                    .filter(|f| keep(f)),
            ),
            Err(e) => panic!("recv on {}: {e}", port.name()),
        }
    }
    got
}

fn packets(frames: &[Vec<u8>]) -> Vec<Packet> {
    frames.iter().map(|f| Packet::from_slice(f)).collect()
}

fn expect_down(r: Result<usize, PortError>, what: &str) {
    match r {
        Err(PortError::Down { .. }) => {}
        other => panic!("{what}: expected Down, got {other:?}"),
    }
}

/// Polls `recv` until the port reports Down (the kernel's notice is
/// asynchronous to `ip link del` returning only in theory, but be patient).
fn wait_down(port: &mut dyn Port, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut batch = PacketBatch::new();
    loop {
        batch.clear();
        match port.recv(&mut batch) {
            Err(PortError::Down { .. }) => return,
            Err(e) => panic!("{what}: unexpected error {e}"),
            Ok(_) if Instant::now() > deadline => panic!("{what}: never reported Down"),
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn pcap_written_by_tx_port_is_read_by_tcpdump() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tx.pcap");
    let mut frames = Vec::new();
    for i in 0..37u16 {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(10_000 + i, 5000);
        let mut f = Vec::new();
        b.write(&mut f, &vec![i as u8; 20 + 30 * i as usize])
            .unwrap();
        frames.push(f);
    }
    frames.push(test_frame(99, 1514));
    {
        let mut port = PcapTxPort::create(&path).unwrap();
        for chunk in frames.chunks(16) {
            assert_eq!(port.send(&packets(chunk)).unwrap(), chunk.len());
        }
        // Dropped here: the pcap must be complete without an explicit flush.
    }

    // Our own reader agrees, byte for byte.
    let mut rx = PcapRxPort::open(&path, 4).unwrap();
    let got = recv_until(&mut rx, frames.len(), Duration::from_secs(1), |_| true);
    assert_eq!(got, frames);
    assert!(rx.is_exhausted());

    let Some(tcpdump) = find_tool("tcpdump") else {
        eprintln!("SKIP pcap_written_by_tx_port_is_read_by_tcpdump: tcpdump is not installed");
        return;
    };
    let out = Command::new(&tcpdump)
        .args(["-n", "-r"])
        .arg(&path)
        .output()
        .expect("run tcpdump");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tcpdump failed: {stderr}");
    assert!(stderr.contains("EN10MB"), "not Ethernet: {stderr}");
    // One line per packet, each starting with its timestamp; tcpdump adds
    // indented hex dump lines for EtherTypes it does not know.
    let records = stdout
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()));
    assert_eq!(records.count(), frames.len(), "tcpdump saw:\n{stdout}");
    let udp = stdout.lines().filter(|l| l.contains(".5000: UDP")).count();
    assert_eq!(udp, 37, "tcpdump saw:\n{stdout}");

    // A filter compiled by libpcap sees the same packets.
    let out = Command::new(&tcpdump)
        .args(["-n", "-r"])
        .arg(&path)
        .args(["udp", "src", "port", "10036"])
        .output()
        .expect("run tcpdump");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

/// Checks the L4 checksum of an IPv4 TCP/UDP frame from scratch.
fn l4_checksum_ok(frame: &[u8]) -> Option<bool> {
    let s = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = s.net else {
        return None;
    };
    let iph = ip.header().to_header();
    match s.transport? {
        TransportSlice::Udp(u) => {
            let want = u.to_header().calc_checksum_ipv4(&iph, u.payload()).ok()?;
            Some(u.checksum() == want)
        }
        TransportSlice::Tcp(t) => {
            let want = t.to_header().calc_checksum_ipv4(&iph, t.payload()).ok()?;
            Some(t.checksum() == want)
        }
        _ => None,
    }
}

fn l4_dst_port(frame: &[u8]) -> Option<(u8, u16)> {
    let s = SlicedPacket::from_ethernet(frame).ok()?;
    match s.transport? {
        TransportSlice::Udp(u) => Some((17, u.destination_port())),
        TransportSlice::Tcp(t) => Some((6, t.destination_port())),
        _ => None,
    }
}

#[test]
fn af_packet_moves_frames_across_a_veth_pair_then_goes_down() {
    in_fresh_netns("af_packet_moves_frames_across_a_veth_pair", || {
        let a = unique("oxpa");
        let b = unique("oxpb");
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["link", "set", &a, "up"]);
        ip(&["link", "set", &b, "up"]);
        wait_link_up(&a);
        wait_link_up(&b);

        let opts = |in_port| AfPacketOptions {
            in_port,
            ..AfPacketOptions::default()
        };
        let mut pa = AfPacketPort::open(&a, opts(1)).unwrap();
        let mut pb = AfPacketPort::open(&b, opts(2)).unwrap();
        assert!(pa.rx_fd().is_some());

        // 1. Plain frames, 60 to 1514 bytes, in batches.
        let frames: Vec<Vec<u8>> = (0..100)
            .map(|i| test_frame(i, 60 + (i * 97) % 1455))
            .collect();
        let mut sent = 0;
        for chunk in frames.chunks(32) {
            sent += pa.send(&packets(chunk)).unwrap();
        }
        assert_eq!(sent, frames.len());
        let got = recv_until(&mut pb, frames.len(), Duration::from_secs(5), is_test_frame);
        assert_eq!(got.len(), frames.len(), "frames lost on the veth");
        assert_eq!(got, frames, "frames changed on the way");
        let total: u64 = frames.iter().map(|f| f.len() as u64).sum();
        let sa = pa.stats();
        assert_eq!((sa.tx_packets, sa.tx_bytes), (100, total));
        let sb = pb.stats();
        assert!(sb.rx_packets >= 100 && sb.rx_bytes >= total, "{sb:?}");

        // The sender does not hear its own transmissions (the kernel never
        // loops a socket's frames back to it; the host's are checked below).
        let echo = recv_until(&mut pa, 1, Duration::from_millis(200), is_test_frame);
        assert!(echo.is_empty(), "port received its own frames");

        // 2. VLAN tags the kernel strips into metadata come back in place.
        let mut tagged = Vec::new();
        for (tpid, tci) in [([0x81, 0x00], [0x20, 0x64]), ([0x88, 0xa8], [0x00, 0x07])] {
            let inner = test_frame(7, 100);
            let mut f = inner[..12].to_vec();
            f.extend_from_slice(&tpid);
            f.extend_from_slice(&tci);
            f.extend_from_slice(&inner[12..]);
            tagged.push(f);
        }
        pa.send(&packets(&tagged)).unwrap();
        let is_tagged = |f: &[u8]| f.len() > 18 && f[16..18] == TEST_ETHERTYPE;
        let got = recv_until(&mut pb, 2, Duration::from_secs(5), is_tagged);
        assert_eq!(got, tagged, "VLAN tags not restored");

        // 3. The kernel's own UDP and TCP leave the veth with a partial
        // checksum (offloads are on by default); the port must finish it.
        ip(&["addr", "add", "10.99.0.1/24", "dev", &a]);
        ip(&[
            "neigh",
            "replace",
            "10.99.0.2",
            "lladdr",
            "02:00:00:00:00:02",
            "dev",
            &a,
        ]);
        let udp = std::net::UdpSocket::bind("10.99.0.1:0").unwrap();
        udp.send_to(&[0x5a; 333], "10.99.0.2:5000").unwrap();
        // A non-blocking connect puts a SYN on the wire and returns.
        // SAFETY: plain socket syscalls on a descriptor we own and close.
        unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
            assert!(s >= 0);
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 8080u16.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_be_bytes([10, 99, 0, 2]).to_be(),
                },
                sin_zero: [0; 8],
            };
            libc::connect(
                s,
                (&sin as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            std::thread::sleep(Duration::from_millis(50));
            libc::close(s);
        }
        let ours = |f: &[u8]| matches!(l4_dst_port(f), Some((17, 5000)) | Some((6, 8080)));
        let got = recv_until(&mut pb, 2, Duration::from_secs(5), ours);
        assert!(got.len() >= 2, "kernel UDP/TCP not received: {}", got.len());
        for f in &got {
            assert_eq!(l4_checksum_ok(f), Some(true), "bad L4 checksum in {f:02x?}");
        }
        // Port a must not take what the host sends out through its
        // interface for input (PACKET_IGNORE_OUTGOING / PACKET_OUTGOING).
        let echo = recv_until(&mut pa, 1, Duration::from_millis(200), ours);
        assert!(echo.is_empty(), "port received the host's outgoing frames");
        assert!(
            pb.csum_completed() >= 2,
            "no partial checksum was completed: are veth offloads off?"
        );

        // 4. A GSO super-frame (UDP_SEGMENT, 3000 bytes in 1000-byte
        // segments) arrives whole with its GSO facts, and leaves through
        // another port whole: the peer's packet socket gets it whole too.
        let mut seg_port = AfPacketPort::open(&b, opts(3)).unwrap();
        let gso = udp_gso_send(&udp, "10.99.0.2:5001");
        if gso {
            let is_5001 = |f: &[u8]| f.len() > 42 && f[23] == 17 && f[36..38] == [0x13, 0x89];
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut got: Option<Packet> = None;
            let mut batch = PacketBatch::new();
            while got.is_none() && Instant::now() < deadline {
                batch.clear();
                seg_port.recv(&mut batch).unwrap();
                got = batch.packets().iter().find(|p| is_5001(p.data())).cloned();
                wait_readable(seg_port.rx_fd().unwrap(), 20);
            }
            let sf = got.expect("the super-frame");
            assert_eq!(seg_port.gso_received(), 1);
            assert_eq!(sf.len(), 42 + 3000);
            assert_eq!((sf.meta.gso.kind, sf.meta.gso.size), (5, 1000));
            assert_eq!((sf.meta.gso.csum_start, sf.meta.gso.csum_offset), (34, 6));
            // Out of b towards a: a's socket sees the same super-frame.
            assert_eq!(seg_port.send(std::slice::from_ref(&sf)).unwrap(), 1);
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut back: Option<Packet> = None;
            while back.is_none() && Instant::now() < deadline {
                batch.clear();
                pa.recv(&mut batch).unwrap();
                back = batch.packets().iter().find(|p| is_5001(p.data())).cloned();
                wait_readable(pa.rx_fd().unwrap(), 20);
            }
            let back = back.expect("the super-frame at a");
            assert_eq!(back.len(), sf.len());
            assert_eq!(back.meta.gso.size, 1000);
        } else {
            eprintln!("note: UDP_SEGMENT unavailable, GSO not tested");
        }

        // 5. A frame too long for the MTU fails alone; the others go out.
        let mixed = vec![
            test_frame(200, 100),
            test_frame(201, 3000),
            test_frame(202, 200),
        ];
        let before = pa.stats();
        assert_eq!(pa.send(&packets(&mixed)).unwrap(), 2);
        assert_eq!(pa.stats().tx_errors, before.tx_errors + 1);
        let want = vec![mixed[0].clone(), mixed[2].clone()];
        let got = recv_until(&mut pb, 2, Duration::from_secs(5), is_test_frame);
        assert_eq!(got, want);

        // 6. An interface set administratively down is not gone: the port
        // stays usable and works again once the interface is back up.
        ip(&["link", "set", &b, "down"]);
        let mut batch = PacketBatch::new();
        for _ in 0..3 {
            batch.clear();
            assert!(pb.recv(&mut batch).is_ok(), "admin down is not Down");
        }
        assert!(pb.send(&packets(&frames[..2])).is_ok());
        assert!(!pb.is_down());
        ip(&["link", "set", &b, "up"]);
        wait_link_up(&a);
        wait_link_up(&b);
        recv_until(&mut pb, usize::MAX, Duration::from_millis(100), |_| true);
        pa.send(&packets(&frames[..4])).unwrap();
        let got = recv_until(&mut pb, 4, Duration::from_secs(5), is_test_frame);
        assert_eq!(
            got,
            frames[..4].to_vec(),
            "port did not recover after link up"
        );

        // 7. The interface disappears: Down, never a panic, and it stays so.
        ip(&["link", "del", &a]);
        wait_down(&mut pb, "veth b recv");
        assert!(pb.is_down());
        expect_down(pb.send(&packets(&frames[..1])), "veth b send after down");
        expect_down(pa.send(&packets(&frames[..3])), "veth a send");
        wait_down(&mut pa, "veth a recv");
        let mut batch = PacketBatch::new();
        expect_down(pa.recv(&mut batch), "veth a recv again");
        wait_down(&mut seg_port, "segmenting port recv");
        assert!(AfPacketPort::open(&a, opts(1)).is_err());
    });
}

/// Sends one 3000-byte UDP GSO datagram (UDP_SEGMENT 1000); false if the
/// kernel does not support it.
fn udp_gso_send(sock: &std::net::UdpSocket, to: &str) -> bool {
    use std::os::fd::AsRawFd;
    const SOL_UDP: libc::c_int = 17;
    const UDP_SEGMENT: libc::c_int = 103;
    let seg: libc::c_int = 1000;
    // SAFETY: setsockopt reads one c_int we own.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            SOL_UDP,
            UDP_SEGMENT,
            (&seg as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return false;
    }
    sock.send_to(&[0x33; 3000], to).is_ok()
}

#[test]
fn tap_exchanges_frames_with_the_host_side_then_goes_down() {
    in_fresh_netns("tap_exchanges_frames_with_the_host_side", || {
        let name = unique("oxpt");
        let mut tap = TapPort::open(
            &name,
            TapOptions {
                in_port: 3,
                up: true,
                persist: false,
            },
        )
        .unwrap();
        assert_eq!(tap.name(), name);
        assert!(tap.rx_fd().is_some());
        wait_link_up(&name);
        let mut host = AfPacketPort::open(&name, AfPacketOptions::default()).unwrap();

        // Datapath -> tap -> host stack (seen by a packet socket there).
        let out: Vec<Vec<u8>> = (0..5).map(|i| test_frame(i, 64 + 200 * i)).collect();
        assert_eq!(tap.send(&packets(&out)).unwrap(), 5);
        let got = recv_until(&mut host, 5, Duration::from_secs(5), is_test_frame);
        assert_eq!(got, out);

        // Host stack -> tap -> datapath, with in_port metadata.
        let back: Vec<Vec<u8>> = (10..13).map(|i| test_frame(i, 1514)).collect();
        assert_eq!(host.send(&packets(&back)).unwrap(), 3);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut batch = PacketBatch::new();
        let mut got = Vec::new();
        while got.len() < 3 && Instant::now() < deadline {
            batch.clear();
            tap.recv(&mut batch).unwrap();
            for p in batch.packets() {
                if is_test_frame(p.data()) {
                    assert_eq!(p.meta.in_port, 3);
                    got.push(p.data().to_vec());
                }
            }
            wait_readable(tap.rx_fd().unwrap(), 20);
        }
        assert_eq!(got, back);
        let s = tap.stats();
        assert_eq!(s.tx_packets, 5);
        assert!(s.rx_packets >= 3);

        drop(host);
        ip(&["link", "del", &name]);
        wait_down(&mut tap, "tap recv");
        assert!(tap.is_down());
        expect_down(tap.send(&packets(&out[..1])), "tap send after delete");
    });
}

#[test]
fn tap_attaches_to_a_persistent_device() {
    in_fresh_netns("tap_attaches_to_a_persistent_device", || {
        let name = unique("oxpp");
        let first = TapPort::open(
            &name,
            TapOptions {
                persist: true,
                ..TapOptions::default()
            },
        )
        .unwrap();
        drop(first);
        assert!(find_link(&name), "persistent tap vanished");
        let mut again = TapPort::open(&name, TapOptions::default()).unwrap();
        let mut batch = PacketBatch::new();
        assert_eq!(again.recv(&mut batch).unwrap(), 0);
        // Persistent devices outlive the namespace thread only as long as
        // the namespace: delete explicitly anyway.
        ip(&["link", "del", &name]);
        wait_down(&mut again, "persistent tap recv");
    });
}

fn find_link(name: &str) -> bool {
    let Some(ip) = find_tool("ip") else {
        return false;
    };
    Command::new(ip)
        .args(["link", "show", "dev", name])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
