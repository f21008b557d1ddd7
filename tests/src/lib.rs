//! End-to-end test support for oxvs: network namespaces and veth hosts that
//! vanish even when a test fails (Drop guards), the daemon as a real process
//! inside its own namespace, `oxvsctl` runs, and UDP/TCP traffic between
//! namespace hosts without external traffic tools.
//!
//! Everything here needs root; [`skip_unless_root`] prints why a test is
//! skipped otherwise.

pub mod ovs;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// True (after printing a SKIP line) if the test cannot run here: not root,
/// or no iproute2.
pub fn skip_unless_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP {test}: needs root (network namespaces, AF_PACKET, taps)");
        return true;
    }
    if find_tool("ip").is_none() {
        eprintln!("SKIP {test}: iproute2's `ip` is not installed");
        return true;
    }
    false
}

pub fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Runs `ip ARGS`; Err with its stderr on failure.
pub fn try_ip(args: &[&str]) -> Result<String, String> {
    let ip = find_tool("ip").ok_or("ip not found")?;
    let out = Command::new(ip)
        .args(args)
        .output()
        .map_err(|e| format!("run ip: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs `ip ARGS`, panicking with its stderr on failure.
pub fn ip(args: &[&str]) -> String {
    try_ip(args).unwrap_or_else(|e| panic!("{e}"))
}

/// A short name prefix unique to this process and call, for namespaces.
pub fn unique_prefix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("oxt{}x{n}", std::process::id())
}

/// A named network namespace (`ip netns`), deleted on drop with everything
/// in it.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        let _ = try_ip(&["netns", "del", name]);
        ip(&["netns", "add", name]);
        ip(&["-n", name, "link", "set", "lo", "up"]);
        Netns {
            name: name.to_string(),
        }
    }

    /// Runs `ip -n NS ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut v = vec!["-n", self.name.as_str()];
        v.extend_from_slice(args);
        ip(&v)
    }

    /// Runs `f` on a thread inside this namespace.
    pub fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let file = File::open(Path::new("/run/netns").join(&self.name))
            .unwrap_or_else(|e| panic!("open netns {}: {e}", self.name));
        let h = std::thread::spawn(move || {
            // SAFETY: setns moves only this thread into the namespace that
            // `file` (kept open across the call) refers to.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                panic!("setns: {}", io::Error::last_os_error());
            }
            f()
        });
        match h.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        }
    }

    /// Runs a command inside the namespace.
    pub fn exec(&self, cmd: &[&str]) -> Output {
        let ip = find_tool("ip").unwrap_or_else(|| PathBuf::from("ip"));
        Command::new(ip)
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {cmd:?}: {e}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = try_ip(&["netns", "del", &self.name]);
    }
}

/// A switch namespace (named with a fresh per-test prefix) plus `n` hosts
/// on its ports p1..pn, host `i` at `addr(i)`.
pub fn topology(n: u8, addr: impl Fn(u8) -> Ipv4Addr) -> (Netns, Vec<Host>) {
    let pfx = unique_prefix();
    let sw = Netns::new(&format!("{pfx}-sw"));
    let hosts = (1..=n)
        .map(|i| Host::new(&pfx, &sw, &format!("p{i}"), addr(i)))
        .collect();
    (sw, hosts)
}

/// A host: its own namespace with `eth0` (address `addr`/24) whose veth
/// peer `port` sits in the switch's namespace.
pub struct Host {
    pub ns: Netns,
    pub addr: Ipv4Addr,
    pub port: String,
}

impl Host {
    pub fn new(prefix: &str, sw: &Netns, port: &str, addr: Ipv4Addr) -> Host {
        let ns = Netns::new(&format!("{prefix}-{port}"));
        sw.ip(&[
            "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ]);
        sw.ip(&["link", "set", port, "up"]);
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
        ns.ip(&["link", "set", "eth0", "up"]);
        Host {
            ns,
            addr,
            port: port.to_string(),
        }
    }

    /// Gives the host's veth back to the switch namespace under its old
    /// name, after it was deleted (a new pair, same addresses).
    pub fn replug(&self, sw: &Netns) {
        let _ = try_ip(&["-n", &self.ns.name, "link", "del", "eth0"]);
        sw.ip(&[
            "link",
            "add",
            &self.port,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &self.ns.name,
        ]);
        sw.ip(&["link", "set", &self.port, "up"]);
        self.ns
            .ip(&["addr", "add", &format!("{}/24", self.addr), "dev", "eth0"]);
        self.ns.ip(&["link", "set", "eth0", "up"]);
    }

    /// Turns off checksum and segmentation offloads on eth0 (needs
    /// ethtool), so TCP frames stay small and checksummed.
    pub fn offloads_off(&self) -> bool {
        let Some(ethtool) = find_tool("ethtool") else {
            return false;
        };
        let e = ethtool.to_string_lossy().into_owned();
        self.ns
            .exec(&[&e, "-K", "eth0", "tx", "off", "tso", "off", "gso", "off"])
            .status
            .success()
    }

    /// Forgets learned neighbours (after a peer got a new MAC).
    pub fn flush_neighbours(&self) {
        self.ns.ip(&["neigh", "flush", "all"]);
    }
}

/// Sends UDP datagrams from `from` to `to` until one is echoed back or
/// `timeout` passes (the first ones may go while ARP resolves). Returns
/// the round-trip time of the answered one.
pub fn udp_ping(from: &Host, to: &Host, timeout: Duration) -> Result<Duration, String> {
    static PORT: AtomicU32 = AtomicU32::new(20000);
    let port = PORT.fetch_add(1, Ordering::Relaxed) as u16;
    let (to_addr, from_addr) = (to.addr, from.addr);
    let server = to
        .ns
        .run(move || UdpSocket::bind(SocketAddrV4::new(to_addr, port)))
        .map_err(|e| format!("bind echo server: {e}"))?;
    server
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + timeout;
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 256];
        while Instant::now() < deadline {
            if let Ok((n, peer)) = server.recv_from(&mut buf) {
                let _ = server.send_to(&buf[..n], peer);
            }
        }
    });
    let client = from
        .ns
        .run(move || UdpSocket::bind(SocketAddrV4::new(from_addr, 0)))
        .map_err(|e| format!("bind client: {e}"))?;
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| e.to_string())?;
    let mut result = Err(format!("no answer from {to_addr} within {timeout:?}"));
    let mut seq = 0u32;
    while Instant::now() < deadline {
        seq += 1;
        let msg = format!("oxvs-e2e {seq}");
        let t0 = Instant::now();
        if let Err(e) = client.send_to(msg.as_bytes(), SocketAddrV4::new(to_addr, port)) {
            result = Err(format!("send: {e}"));
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let mut buf = [0u8; 256];
        // Answers to earlier tries may arrive late: wait for this one.
        let got = loop {
            match client.recv_from(&mut buf) {
                Ok((n, _)) if &buf[..n] == msg.as_bytes() => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        if got {
            result = Ok(t0.elapsed());
            break;
        }
    }
    // The echo thread ends at the deadline; do not wait for it.
    drop(echo);
    result
}

/// Sends `len` bytes over TCP from `from` to `to` and checks they arrive
/// intact. Returns the time taken.
pub fn tcp_transfer(from: &Host, to: &Host, len: usize) -> Result<Duration, String> {
    static PORT: AtomicU32 = AtomicU32::new(30000);
    let port = PORT.fetch_add(1, Ordering::Relaxed) as u16;
    let to_addr = to.addr;
    let listener = to
        .ns
        .run(move || TcpListener::bind(SocketAddrV4::new(to_addr, port)))
        .map_err(|e| format!("listen: {e}"))?;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let expect = data.clone();
    let server = std::thread::spawn(move || -> Result<(), String> {
        let (mut s, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(|e| e.to_string())?;
        let mut got = Vec::with_capacity(expect.len());
        s.read_to_end(&mut got).map_err(|e| format!("read: {e}"))?;
        if got != expect {
            return Err(format!(
                "received {} bytes, expected {} (or different content)",
                got.len(),
                expect.len()
            ));
        }
        s.write_all(b"ok").map_err(|e| e.to_string())
    });
    let t0 = Instant::now();
    let mut s = from
        .ns
        .run(move || {
            TcpStream::connect_timeout(
                &std::net::SocketAddr::V4(SocketAddrV4::new(to_addr, port)),
                Duration::from_secs(10),
            )
        })
        .map_err(|e| format!("connect: {e}"))?;
    s.set_write_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    s.write_all(&data).map_err(|e| format!("write: {e}"))?;
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut ack = Vec::new();
    let _ = s.read_to_end(&mut ack);
    server
        .join()
        .map_err(|_| "server thread panicked".to_string())??;
    if ack != b"ok" {
        return Err("no acknowledgement".into());
    }
    Ok(t0.elapsed())
}

/// Polls `f` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The binaries under test.
#[derive(Clone, Copy)]
pub struct Bins {
    pub oxvsd: &'static str,
    pub oxvsctl: &'static str,
}

/// Result of one `oxvsctl` run.
pub struct Ctl {
    pub ok: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Debug for Ctl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Run and state directories of one daemon instance (kept across restarts).
pub struct Dirs {
    _tmp: tempfile::TempDir,
    pub rundir: PathBuf,
    pub statedir: PathBuf,
    pub log: PathBuf,
}

impl Dirs {
    pub fn new() -> Dirs {
        let tmp = tempfile::Builder::new()
            .prefix("oxvs-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let rundir = tmp.path().join("run");
        let statedir = tmp.path().join("state");
        let log = tmp.path().join("oxvsd.stderr");
        Dirs {
            _tmp: tmp,
            rundir,
            statedir,
            log,
        }
    }

    pub fn config(&self) -> PathBuf {
        self.statedir.join("conf.json")
    }

    pub fn socket(&self) -> PathBuf {
        self.rundir.join("oxvsd.ctl")
    }
}

impl Default for Dirs {
    fn default() -> Self {
        Dirs::new()
    }
}

/// Runs `oxvsctl --rundir DIR ARGS`.
pub fn ctl(bins: Bins, dirs: &Dirs, args: &[&str]) -> Ctl {
    let out = Command::new(bins.oxvsctl)
        .arg("--rundir")
        .arg(&dirs.rundir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run oxvsctl: {e}"));
    Ctl {
        ok: out.status.success(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `oxvsctl`, panicking (with its output) if it fails.
pub fn ctl_ok(bins: Bins, dirs: &Dirs, args: &[&str]) -> String {
    let c = ctl(bins, dirs, args);
    assert!(c.ok, "oxvsctl {args:?} failed: {c:?}");
    c.stdout
}

/// A running `oxvsd` inside namespace `ns`, killed (SIGKILL) on drop.
pub struct Daemon {
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts oxvsd in the foreground in `ns` and waits until its control
    /// socket answers.
    pub fn start(bins: Bins, dirs: &Dirs, ns: &Netns) -> Daemon {
        match Daemon::try_start(bins, dirs, ns, &[]) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`Daemon::start`], with extra arguments; Err with the daemon's
    /// output if it exits or does not answer within 10 s.
    pub fn try_start(
        bins: Bins,
        dirs: &Dirs,
        ns: &Netns,
        extra: &[&str],
    ) -> Result<Daemon, String> {
        let log = File::create(&dirs.log).map_err(|e| e.to_string())?;
        let ip = find_tool("ip").ok_or("no ip")?;
        let child = Command::new(ip)
            .args(["netns", "exec", &ns.name, bins.oxvsd])
            .arg("--rundir")
            .arg(&dirs.rundir)
            .arg("--statedir")
            .arg(&dirs.statedir)
            .args(["--log", "info"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn oxvsd: {e}"))?;
        let mut d = Daemon {
            child: Some(child),
            log: dirs.log.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(c) = d.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    d.child = None;
                    return Err(format!(
                        "oxvsd exited during start-up ({status}):\n{}",
                        d.log_text()
                    ));
                }
            }
            if std::os::unix::net::UnixStream::connect(dirs.socket()).is_ok() {
                return Ok(d);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "oxvsd did not answer on {} within 10 s:\n{}",
                    dirs.socket().display(),
                    d.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(s)) = c.try_wait() {
                    self.child = None;
                    return Some(s);
                }
            } else {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- oxvsd log\n{}", self.log_text());
        }
        self.kill9();
    }
}

/// Writes a classic pcap file (Ethernet) with `frames`.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> io::Result<()> {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&0i32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&65535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        b.extend_from_slice(&(i as u32).to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(&(f.len() as u32).to_le_bytes());
        b.extend_from_slice(f);
    }
    std::fs::write(path, b)
}

/// Reads the frames of a classic pcap file (either byte order).
pub fn read_pcap(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let b = std::fs::read(path)?;
    if b.len() < 24 {
        return Err(io::Error::other("short pcap header"));
    }
    let le = match [b[0], b[1], b[2], b[3]] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return Err(io::Error::other("not a pcap file")),
    };
    let u32_at = |o: usize| {
        let w = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let mut frames = Vec::new();
    let mut o = 24;
    while o + 16 <= b.len() {
        let incl = u32_at(o + 8) as usize;
        let start = o + 16;
        if start + incl > b.len() {
            break;
        }
        frames.push(b[start..start + incl].to_vec());
        o = start + incl;
    }
    Ok(frames)
}

/// Runs `ovs-ofctl ARGS` against the daemon's bridges (OVS_RUNDIR points at
/// its run directory, so `br0` means `unix:RUNDIR/br0.mgmt`) and returns
/// its output; panics with its stderr if it fails.
pub fn ofctl(dirs: &Dirs, args: &[&str]) -> String {
    let tool = find_tool("ovs-ofctl").unwrap_or_else(|| "ovs-ofctl".into());
    let out = Command::new(tool)
        .env("OVS_RUNDIR", &dirs.rundir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ovs-ofctl: {e}"));
    assert!(
        out.status.success(),
        "ovs-ofctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
