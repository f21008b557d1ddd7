//! Active OpenFlow controllers end to end: oxvsd runs in its own network
//! namespace and connects out to small controllers written here (a
//! listener on 127.0.0.1 inside that namespace, or a unix socket in the run
//! directory) that speak OpenFlow 1.0 or 1.3 from hand-made bytes, so that
//! they share no code with the switch. They check the handshake, packet-in
//! of real traffic between namespace hosts, packet-out delivery, two
//! controllers at once, reconnection with Open vSwitch's backoff, the
//! inactivity probe, and fail modes standalone (fail-open after 15 s) and
//! secure.
//!
//! Needs root; each test prints SKIP and passes otherwise.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use oxvs_tests::{
    ctl_ok, find_tool, skip_unless_root, udp_ping, unique_prefix, wait_until, Bins, Daemon, Dirs,
    Host, Netns,
};

const BINS: Bins = Bins {
    oxvsd: env!("CARGO_BIN_EXE_oxvsd-e2e"),
    oxvsctl: env!("CARGO_BIN_EXE_oxvsctl-e2e"),
};

fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 78, 0, n)
}

/// The switch namespace plus `n` hosts on ports p1..pn.
fn topology(n: u8) -> (Netns, Vec<Host>) {
    oxvs_tests::topology(n, addr)
}

// OpenFlow message types used here (the same number in 1.0 and 1.3 unless
// noted).
const HELLO: u8 = 0;
const ECHO_REQUEST: u8 = 2;
const ECHO_REPLY: u8 = 3;
const FEATURES_REQUEST: u8 = 5;
const FEATURES_REPLY: u8 = 6;
const PACKET_IN: u8 = 10;
const PACKET_OUT: u8 = 13;
const FLOW_MOD: u8 = 14;
const OF10: u8 = 1;
const OF13: u8 = 4;

fn barrier_types(version: u8) -> (u8, u8) {
    if version == OF10 {
        (18, 19)
    } else {
        (20, 21)
    }
}

/// A listener for the switch to connect to, in the switch's namespace.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Listener {
    fn tcp(sw: &Netns) -> (Listener, u16) {
        let l = sw
            .run(|| TcpListener::bind("127.0.0.1:0"))
            .unwrap_or_else(|e| panic!("listen: {e}"));
        let port = l.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        (Listener::Tcp(l), port)
    }

    fn tcp_on(sw: &Netns, port: u16) -> Listener {
        let l = sw
            .run(move || TcpListener::bind(("127.0.0.1", port)))
            .unwrap_or_else(|e| panic!("listen on {port}: {e}"));
        Listener::Tcp(l)
    }

    fn unix(path: &std::path::Path) -> Listener {
        Listener::Unix(UnixListener::bind(path).unwrap_or_else(|e| panic!("listen: {e}")))
    }

    /// The next connection within `timeout`, and when it came.
    fn accept(&self, timeout: Duration) -> Option<(Stream, Instant)> {
        let deadline = Instant::now() + timeout;
        let set = |nb| match self {
            Listener::Tcp(l) => l.set_nonblocking(nb),
            Listener::Unix(l) => l.set_nonblocking(nb),
        };
        set(true).unwrap_or_else(|e| panic!("{e}"));
        loop {
            let r = match self {
                Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
                Listener::Unix(l) => l.accept().map(|(s, _)| Stream::Unix(s)),
            };
            match r {
                Ok(s) => {
                    let at = Instant::now();
                    match &s {
                        Stream::Tcp(t) => t.set_nonblocking(false),
                        Stream::Unix(u) => u.set_nonblocking(false),
                    }
                    .unwrap_or_else(|e| panic!("{e}"));
                    return Some((s, at));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

impl Stream {
    fn set_read_timeout(&self, t: Duration) {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(t)),
            Stream::Unix(s) => s.set_read_timeout(Some(t)),
        }
        .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// A packet-in as the controller decoded it.
#[derive(Clone, Debug)]
struct PacketIn {
    in_port: u32,
    frame: Vec<u8>,
}

impl PacketIn {
    fn ethertype(&self) -> u16 {
        u16::from_be_bytes([self.frame[12], self.frame[13]])
    }

    /// A UDP datagram from `src` to `dst` carrying udp_ping's text.
    fn is_udp_ping(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let f = &self.frame;
        f.len() >= 42
            && self.ethertype() == 0x0800
            && f[23] == 17
            && f[26..30] == src.octets()
            && f[30..34] == dst.octets()
            && f[42..].starts_with(b"oxvs-e2e")
    }

    /// An ARP from `sender`.
    fn is_arp_from(&self, sender: Ipv4Addr) -> bool {
        self.frame.len() >= 42
            && self.ethertype() == 0x0806
            && self.frame[28..32] == sender.octets()
    }
}

/// One controller connection speaking one OpenFlow version.
struct Conn {
    s: Stream,
    version: u8,
    xid: u32,
    buf: Vec<u8>,
    /// Echo requests the switch sent (its inactivity probe).
    echoes: usize,
}

impl Conn {
    /// Takes the switch's hello, answers with `version` (no bitmap, so
    /// that version is the one agreed), and asks for its features.
    /// Returns the connection and the datapath ID.
    fn handshake(s: Stream, version: u8) -> (Conn, u64) {
        let mut c = Conn {
            s,
            version,
            xid: 100,
            buf: Vec::new(),
            echoes: 0,
        };
        let hello = c
            .recv(Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no hello from the switch"));
        assert_eq!(hello[1], HELLO, "the switch speaks first with a hello");
        assert!(hello[0] >= version, "switch hello of version {}", hello[0]);
        c.send(HELLO, &[]);
        c.send(FEATURES_REQUEST, &[]);
        let f = c.expect(FEATURES_REPLY, Duration::from_secs(5));
        assert_eq!(f[0], version, "the switch answers in the agreed version");
        let dpid = u64::from_be_bytes(f[8..16].try_into().unwrap_or([0; 8]));
        (c, dpid)
    }

    fn send(&mut self, ty: u8, body: &[u8]) -> u32 {
        self.xid += 1;
        let len = (8 + body.len()) as u16;
        let mut m = vec![self.version, ty];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&self.xid.to_be_bytes());
        m.extend_from_slice(body);
        self.s
            .write_all(&m)
            .unwrap_or_else(|e| panic!("controller send: {e}"));
        self.xid
    }

    /// The next message within `timeout`, answering echo requests on the
    /// way. None on timeout; panics if the switch hung up.
    fn recv(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 8 {
                let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                assert!(len >= 8, "bad length from the switch");
                if self.buf.len() >= len {
                    let rest = self.buf.split_off(len);
                    let m = std::mem::replace(&mut self.buf, rest);
                    if m[1] == ECHO_REQUEST {
                        self.echoes += 1;
                        let xid = u32::from_be_bytes([m[4], m[5], m[6], m[7]]);
                        let mut r = m.clone();
                        r[1] = ECHO_REPLY;
                        r[4..8].copy_from_slice(&xid.to_be_bytes());
                        self.s
                            .write_all(&r)
                            .unwrap_or_else(|e| panic!("echo reply: {e}"));
                        continue;
                    }
                    return Some(m);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(left.max(Duration::from_millis(1)));
            let mut b = [0u8; 65536];
            match self.s.read(&mut b) {
                Ok(0) => panic!("the switch closed the connection"),
                Ok(n) => self.buf.extend_from_slice(&b[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) => panic!("controller read: {e}"),
            }
        }
    }

    /// Waits for a message of type `ty`, ignoring others but errors.
    fn expect(&mut self, ty: u8, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .recv(left)
                .unwrap_or_else(|| panic!("no message of type {ty} within {timeout:?}"));
            assert_ne!(m[1], 1, "OpenFlow error from the switch: {m:02x?}");
            if m[1] == ty {
                return m;
            }
        }
    }

    fn barrier(&mut self) {
        let (req, rep) = barrier_types(self.version);
        let xid = self.send(req, &[]);
        loop {
            let m = self.expect(rep, Duration::from_secs(5));
            if m[4..8] == xid.to_be_bytes() {
                return;
            }
        }
    }

    /// Adds `priority=0 actions=CONTROLLER:65535` (OpenFlow 1.0).
    fn table_miss_to_controller(&mut self) {
        assert_eq!(self.version, OF10);
        let mut b = Vec::new();
        b.extend_from_slice(&0x003f_ffffu32.to_be_bytes()); // OFPFW_ALL
        b.extend_from_slice(&[0; 36]);
        b.extend_from_slice(&0u64.to_be_bytes()); // cookie
        b.extend_from_slice(&0u16.to_be_bytes()); // OFPFC_ADD
        b.extend_from_slice(&0u16.to_be_bytes()); // idle
        b.extend_from_slice(&0u16.to_be_bytes()); // hard
        b.extend_from_slice(&0u16.to_be_bytes()); // priority
        b.extend_from_slice(&u32::MAX.to_be_bytes()); // no buffer
        b.extend_from_slice(&0xffffu16.to_be_bytes()); // out_port NONE
        b.extend_from_slice(&0u16.to_be_bytes()); // flags
        b.extend_from_slice(&[0, 0, 0, 8, 0xff, 0xfd, 0xff, 0xff]); // output:CONTROLLER
        self.send(FLOW_MOD, &b);
        self.barrier();
    }

    fn parse_packet_in(&self, m: &[u8]) -> PacketIn {
        match self.version {
            OF10 => PacketIn {
                in_port: u16::from_be_bytes([m[14], m[15]]) as u32,
                frame: m[18..].to_vec(),
            },
            _ => {
                // ofp_match (OXM) at 24: type, length, fields; padded to 8.
                let mlen = u16::from_be_bytes([m[26], m[27]]) as usize;
                let mut in_port = 0;
                let mut i = 28;
                while i + 4 <= 24 + mlen {
                    let hdr = u32::from_be_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
                    let flen = (hdr & 0xff) as usize;
                    if hdr >> 9 == 0x8000 << 7 {
                        // OXM_OF_IN_PORT
                        in_port = u32::from_be_bytes([m[i + 4], m[i + 5], m[i + 6], m[i + 7]]);
                    }
                    i += 4 + flen;
                }
                let data = 24 + mlen.div_ceil(8) * 8 + 2;
                PacketIn {
                    in_port,
                    frame: m[data..].to_vec(),
                }
            }
        }
    }

    /// Sends `frame` out of every port but `in_port` (FLOOD).
    fn flood(&mut self, in_port: u32, frame: &[u8]) {
        let mut b = Vec::new();
        b.extend_from_slice(&u32::MAX.to_be_bytes()); // no buffer
        if self.version == OF10 {
            b.extend_from_slice(&(in_port as u16).to_be_bytes());
            b.extend_from_slice(&8u16.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 8, 0xff, 0xfb, 0, 0]);
        } else {
            b.extend_from_slice(&in_port.to_be_bytes());
            b.extend_from_slice(&16u16.to_be_bytes());
            b.extend_from_slice(&[0; 6]);
            b.extend_from_slice(&[0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfb, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        b.extend_from_slice(frame);
        self.send(PACKET_OUT, &b);
    }
}

/// A controller connection served on its own thread until stopped: it
/// records packet-ins and, as a hub, floods them back when `hub`.
struct Running {
    stop: Arc<AtomicBool>,
    packet_ins: Arc<Mutex<Vec<PacketIn>>>,
    thread: Option<JoinHandle<Conn>>,
}

impl Running {
    fn start(mut c: Conn, hub: bool) -> Running {
        let stop = Arc::new(AtomicBool::new(false));
        let packet_ins = Arc::new(Mutex::new(Vec::new()));
        let (st, pis) = (stop.clone(), packet_ins.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                let Some(m) = c.recv(Duration::from_millis(100)) else {
                    continue;
                };
                assert_ne!(m[1], 1, "OpenFlow error from the switch: {m:02x?}");
                if m[1] == PACKET_IN {
                    let pi = c.parse_packet_in(&m);
                    if hub {
                        c.flood(pi.in_port, &pi.frame);
                    }
                    pis.lock().unwrap_or_else(|e| e.into_inner()).push(pi);
                }
            }
            c
        });
        Running {
            stop,
            packet_ins,
            thread: Some(thread),
        }
    }

    fn packet_ins(&self) -> Vec<PacketIn> {
        self.packet_ins
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops the thread and gives the connection back.
    fn finish(mut self) -> Conn {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(c)) => c,
            Some(Err(p)) => std::panic::resume_unwind(p),
            None => panic!("controller thread already joined"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn show(dirs: &Dirs) -> String {
    ctl_ok(BINS, dirs, &["show"])
}

/// `Controller "TARGET"` followed by `is_connected: true` in `show`.
fn connected(dirs: &Dirs, target: &str) -> bool {
    show(dirs).contains(&format!(
        "Controller \"{target}\"\n            is_connected: true"
    ))
}

fn ofctl_flows(dirs: &Dirs, bridge: &str) -> Option<Vec<String>> {
    let tool = find_tool("ovs-ofctl")?;
    let out = std::process::Command::new(tool)
        .env("OVS_RUNDIR", &dirs.rundir)
        .args(["--no-stats", "dump-flows", bridge])
        .output()
        .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
    assert!(out.status.success(), "{out:?}");
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(' '))
            .map(|l| l.trim().to_string())
            .collect(),
    )
}

#[test]
fn active_controller_sees_packet_ins_and_its_packet_outs_are_delivered() {
    if skip_unless_root("active_controller_sees_packet_ins_and_its_packet_outs_are_delivered") {
        return;
    }
    let (sw, hosts) = topology(2);
    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p1"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p2"]);
    let (l, port) = Listener::tcp(&sw);
    let target = format!("tcp:127.0.0.1:{port}");
    ctl_ok(BINS, &dirs, &["set-controller", "br0", &target]);

    let (s, _) = l
        .accept(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("oxvsd did not connect to {target}"));
    let (mut c, dpid) = Conn::handshake(s, OF10);
    assert_ne!(dpid, 0);
    assert!(
        wait_until(Duration::from_secs(5), || connected(&dirs, &target)),
        "{}",
        show(&dirs)
    );
    // A bridge that got its first controller lost its NORMAL flow.
    if let Some(flows) = ofctl_flows(&dirs, "br0") {
        assert!(flows.is_empty(), "{flows:?}");
    }
    c.table_miss_to_controller();
    if let Some(flows) = ofctl_flows(&dirs, "br0") {
        assert_eq!(flows, vec!["priority=0 actions=CONTROLLER:65535"]);
    }

    // Every frame goes through the controller, which floods it back: the
    // hosts talk only if packet-ins arrive and packet-outs are sent.
    let hub = Running::start(c, true);
    if let Err(e) = udp_ping(&hosts[0], &hosts[1], Duration::from_secs(10)) {
        panic!("through the controller: {e}\n{}", show(&dirs));
    }
    let pis = hub.packet_ins();
    assert!(
        pis.iter().any(|p| p.is_arp_from(addr(1)) && p.in_port == 1),
        "{pis:?}"
    );
    assert!(
        pis.iter()
            .any(|p| p.is_udp_ping(addr(1), addr(2)) && p.in_port == 1),
        "{pis:?}"
    );
    assert!(
        pis.iter()
            .any(|p| p.is_udp_ping(addr(2), addr(1)) && p.in_port == 2),
        "the answer came through the controller too: {pis:?}"
    );
    drop(hub.finish());
}

#[test]
fn two_controllers_at_once_each_get_the_packet_in() {
    if skip_unless_root("two_controllers_at_once_each_get_the_packet_in") {
        return;
    }
    let (sw, hosts) = topology(2);
    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p1"]);
    ctl_ok(BINS, &dirs, &["add-port", "br0", "p2"]);
    // One on TCP speaking 1.0, one on a unix socket (a path relative to
    // the run directory, as Open vSwitch reads it) speaking 1.3.
    let (la, port) = Listener::tcp(&sw);
    let lb = Listener::unix(&dirs.rundir.join("ctl.sock"));
    let ta = format!("tcp:127.0.0.1:{port}");
    let tb = "unix:ctl.sock";
    ctl_ok(BINS, &dirs, &["set-controller", "br0", &ta, tb]);
    let (sa, _) = la
        .accept(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no connection to {ta}"));
    let (sb, _) = lb
        .accept(Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no connection to {tb}"));
    let (mut a, dpid_a) = Conn::handshake(sa, OF10);
    let (b, dpid_b) = Conn::handshake(sb, OF13);
    assert_eq!(dpid_a, dpid_b, "one bridge");
    assert!(
        wait_until(Duration::from_secs(5), || connected(&dirs, &ta)
            && connected(&dirs, tb)),
        "{}",
        show(&dirs)
    );
    a.table_miss_to_controller();
    let a = Running::start(a, true);
    let b = Running::start(b, false);
    if let Err(e) = udp_ping(&hosts[0], &hosts[1], Duration::from_secs(10)) {
        panic!("through controller A: {e}");
    }
    // B saw the same traffic, decoded from OpenFlow 1.3's packet-in.
    assert!(
        wait_until(Duration::from_secs(2), || b
            .packet_ins()
            .iter()
            .any(|p| p.is_udp_ping(addr(1), addr(2)) && p.in_port == 1)),
        "B: {:?}",
        b.packet_ins()
    );
    assert!(a
        .packet_ins()
        .iter()
        .any(|p| p.is_udp_ping(addr(1), addr(2)) && p.in_port == 1));
    // Dropping one leaves the other connected.
    drop(b.finish());
    assert!(
        wait_until(Duration::from_secs(5), || !connected(&dirs, tb)),
        "{}",
        show(&dirs)
    );
    assert!(connected(&dirs, &ta), "{}", show(&dirs));
    if let Err(e) = udp_ping(&hosts[0], &hosts[1], Duration::from_secs(10)) {
        panic!("through controller A alone: {e}");
    }
    drop(a.finish());
}

#[test]
fn the_switch_reconnects_with_backoff_and_probes_a_silent_controller() {
    if skip_unless_root("the_switch_reconnects_with_backoff_and_probes_a_silent_controller") {
        return;
    }
    let sw = Netns::new(&format!("{}-sw", unique_prefix()));
    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    let (l, port) = Listener::tcp(&sw);
    let target = format!("tcp:127.0.0.1:{port}");
    ctl_ok(BINS, &dirs, &["set-controller", "br0", &target]);

    // A controller that hangs up at once: each attempt fails, and they
    // come 1, 2, 4 and 8 s apart (Open vSwitch's rconn with max_backoff
    // 8 s).
    let mut at = Vec::new();
    for _ in 0..5 {
        let (s, t) = l
            .accept(Duration::from_secs(12))
            .unwrap_or_else(|| panic!("attempt {} missing; {at:?}", at.len() + 1));
        drop(s);
        at.push(t);
    }
    let gaps: Vec<f64> = at.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
    eprintln!("attempts to a controller that hangs up: gaps {gaps:.2?} s");
    for (gap, want) in gaps.iter().zip([1.0, 2.0, 4.0, 8.0]) {
        assert!(
            *gap > want - 0.3 && *gap < want + 1.5,
            "gaps {gaps:?}, expected about 1, 2, 4, 8 s"
        );
    }
    let s = show(&dirs);
    assert!(
        s.contains(&format!(
            "Controller \"{target}\"\n            status: {{last_error="
        )) && !connected(&dirs, &target),
        "{s}"
    );

    // A real controller now; the switch is back within one backoff (8 s).
    let (s, t) = l
        .accept(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no attempt after the last one"));
    eprintln!(
        "next attempt {:.2} s after the previous",
        (t - at[4]).as_secs_f64()
    );
    let (mut c, _) = Conn::handshake(s, OF10);
    c.barrier();
    assert!(
        wait_until(Duration::from_secs(3), || connected(&dirs, &target)),
        "{}",
        show(&dirs)
    );
    // Silent for 5 s, the switch probes with an echo request (which
    // `recv` answers) and keeps the connection; silent for longer than
    // the wait (8 s), the connection counts as one that lasted.
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(9) {
        if let Some(m) = c.recv(Duration::from_millis(200)) {
            assert_ne!(m[1], 1, "error from the switch: {m:02x?}");
        }
    }
    assert!(c.echoes >= 1, "no inactivity probe in 9 s of silence");
    assert!(connected(&dirs, &target), "{}", show(&dirs));

    // The controller goes away entirely: refused attempts at 1, 3, 7 s
    // after (the schedule started over); it comes back after 4 s and the
    // switch finds it at the next attempt.
    drop(c);
    drop(l);
    let gone = Instant::now();
    assert!(
        wait_until(Duration::from_secs(4), || show(&dirs)
            .contains("last_error=\"Connection refused\"")),
        "{}",
        show(&dirs)
    );
    std::thread::sleep(Duration::from_secs(4).saturating_sub(gone.elapsed()));
    let l = Listener::tcp_on(&sw, port);
    let back = Instant::now();
    let (s, t) = l
        .accept(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("oxvsd did not come back to {target}"));
    eprintln!(
        "controller gone for {:.2} s; reconnected {:.2} s after it listened again ({:.2} s after it went)",
        (back - gone).as_secs_f64(),
        (t - back).as_secs_f64(),
        (t - gone).as_secs_f64()
    );
    let since = (t - gone).as_secs_f64();
    assert!(since > 6.0 && since < 9.0, "{since} s, expected about 7");
    let (c, _) = Conn::handshake(s, OF10);
    assert!(
        wait_until(Duration::from_secs(3), || connected(&dirs, &target)),
        "{}",
        show(&dirs)
    );
    drop(c);
}

#[test]
fn standalone_fails_open_after_fifteen_seconds_and_secure_does_not() {
    if skip_unless_root("standalone_fails_open_after_fifteen_seconds_and_secure_does_not") {
        return;
    }
    let (sw, hosts) = topology(4);
    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    // br0 standalone (the default) with p1, p2; br1 secure with p3, p4.
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    ctl_ok(BINS, &dirs, &["add-br", "br1"]);
    ctl_ok(BINS, &dirs, &["set-fail-mode", "br1", "secure"]);
    for (b, p) in [("br0", "p1"), ("br0", "p2"), ("br1", "p3"), ("br1", "p4")] {
        ctl_ok(BINS, &dirs, &["add-port", b, p]);
    }
    // A port nobody listens on (yet).
    let port = {
        let (l, port) = Listener::tcp(&sw);
        drop(l);
        port
    };
    let target = format!("tcp:127.0.0.1:{port}");
    let t0 = Instant::now();
    ctl_ok(BINS, &dirs, &["set-controller", "br0", &target]);
    ctl_ok(BINS, &dirs, &["set-controller", "br1", &target]);
    let short = Duration::from_millis(700);
    assert!(
        udp_ping(&hosts[0], &hosts[1], short).is_err(),
        "br0 lost its NORMAL flow with its first controller"
    );

    // Standalone forwards once no controller was reachable for 15 s.
    let mut opened = None;
    while t0.elapsed() < Duration::from_secs(30) {
        if udp_ping(&hosts[0], &hosts[1], short).is_ok() {
            opened = Some(t0.elapsed());
            break;
        }
    }
    let opened = opened.unwrap_or_else(|| panic!("br0 never failed open\n{}", show(&dirs)));
    eprintln!(
        "br0 failed open {:.2} s after set-controller",
        opened.as_secs_f64()
    );
    assert!(
        opened > Duration::from_secs(13) && opened < Duration::from_secs(20),
        "{opened:?}"
    );
    // The fail-open flow is hidden, as Open vSwitch's: OpenFlow neither
    // sees nor deletes it.
    if let Some(flows) = ofctl_flows(&dirs, "br0") {
        assert!(flows.is_empty(), "the fail-open flow shows: {flows:?}");
        oxvs_tests::ofctl(&dirs, &["del-flows", "br0"]);
        assert!(
            udp_ping(&hosts[0], &hosts[1], Duration::from_secs(2)).is_ok(),
            "del-flows removed the fail-open flow"
        );
    }
    // Secure does not.
    assert!(
        udp_ping(&hosts[2], &hosts[3], short).is_err(),
        "secure br1 forwards without a controller"
    );
    if let Some(flows) = ofctl_flows(&dirs, "br1") {
        assert!(flows.is_empty(), "{flows:?}");
    }

    // The controller appears: both bridges connect; the first admitting
    // message (a barrier) ends br0's fail-open and its table is empty.
    let l = Listener::tcp_on(&sw, port);
    let mut conns = Vec::new();
    for _ in 0..2 {
        let (s, _) = l
            .accept(Duration::from_secs(12))
            .unwrap_or_else(|| panic!("{} connections\n{}", conns.len(), show(&dirs)));
        let (mut c, _) = Conn::handshake(s, OF10);
        c.barrier();
        conns.push(c);
    }
    if let Some(flows) = ofctl_flows(&dirs, "br0") {
        assert!(flows.is_empty(), "fail-open flow left: {flows:?}");
    }
    assert!(
        udp_ping(&hosts[0], &hosts[1], short).is_err(),
        "br0 still forwards with its controller back"
    );
    let s = show(&dirs);
    assert_eq!(s.matches("is_connected: true").count(), 2, "{s}");
}

#[test]
fn ssl_targets_are_stored_with_a_note_and_shown_as_errors() {
    if skip_unless_root("ssl_targets_are_stored_with_a_note_and_shown_as_errors") {
        return;
    }
    let sw = Netns::new(&format!("{}-sw", unique_prefix()));
    let dirs = Dirs::new();
    let _d = Daemon::start(BINS, &dirs, &sw);
    ctl_ok(BINS, &dirs, &["add-br", "br0"]);
    let out = ctl_ok(
        BINS,
        &dirs,
        &["set-controller", "br0", "ssl:192.0.2.1:6653", "pssl:6655"],
    );
    assert!(
        out.contains("does not support SSL/TLS") && out.contains("ssl:192.0.2.1:6653"),
        "{out}"
    );
    assert_eq!(
        ctl_ok(BINS, &dirs, &["get-controller", "br0"]),
        "ssl:192.0.2.1:6653\npssl:6655\n"
    );
    let s = show(&dirs);
    for t in ["ssl:192.0.2.1:6653", "pssl:6655"] {
        assert!(
            s.contains(&format!(
                "Controller \"{t}\" (error: SSL/TLS connections are not supported by oxvs)"
            )),
            "{s}"
        );
    }
}
