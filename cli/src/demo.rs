//! `oxvsd --demo`: three network-namespace hosts on one bridge, traffic
//! between them, the switch's view of it, and how to poke it further.
//! Everything it creates (namespaces, veths, the bridge's tap, a private
//! run/state directory) goes away when it exits, on Ctrl-C or SIGTERM.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::config::PortType;
use crate::daemon::{self, DaemonHandle};
use crate::display::render;
use crate::proto::{CtlData, CtlRequest, CtlResponse, PortSpec};

const BRIDGE: &str = "oxdemo-br";
const HOSTS: [(&str, &str); 3] = [
    ("oxdemo-h1", "10.99.0.1"),
    ("oxdemo-h2", "10.99.0.2"),
    ("oxdemo-h3", "10.99.0.3"),
];

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("the demo needs root (network namespaces, AF_PACKET sockets, taps)")]
    NotRoot,
    #[error("the demo needs iproute2's `ip` command: apt-get install iproute2")]
    NoIp,
    #[error("`ip {args}` failed: {msg}")]
    Ip { args: String, msg: String },
    #[error(transparent)]
    Daemon(#[from] daemon::DaemonError),
    #[error("oxvsd refused `{what}`: {msg}")]
    Request { what: String, msg: String },
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn find_tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn ip(args: &[&str]) -> Result<String, DemoError> {
    let tool = find_tool("ip").ok_or(DemoError::NoIp)?;
    let out = Command::new(tool).args(args).output()?;
    if !out.status.success() {
        return Err(DemoError::Ip {
            args: args.join(" "),
            msg: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Removes what the demo made; runs on every exit path.
struct Topology {
    dir: PathBuf,
}

impl Topology {
    fn cleanup() {
        for (host, _) in HOSTS {
            let _ = ip(&["netns", "del", host]);
            let _ = ip(&["link", "del", host]);
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        Topology::cleanup();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ask(h: &DaemonHandle, what: &str, req: CtlRequest) -> Result<CtlData, DemoError> {
    match h.request(req) {
        CtlResponse::Ok(d) => Ok(d),
        CtlResponse::Error(e) => Err(DemoError::Request {
            what: what.to_string(),
            msg: e.message,
        }),
    }
}

fn show(h: &DaemonHandle, title: &str, req: CtlRequest) -> Result<(), DemoError> {
    let d = ask(h, title, req)?;
    println!("$ oxvsctl {title}");
    print!("{}", render(&d));
    println!();
    Ok(())
}

/// Runs `f` on a thread inside network namespace `ns` (`ip netns` name).
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let file = std::fs::File::open(Path::new("/run/netns").join(ns))?;
    let h = std::thread::spawn(move || {
        // SAFETY: setns only moves this thread into the namespace `file`
        // refers to; the descriptor stays open for the call.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        f()
    });
    h.join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
}

/// One UDP request/answer between two hosts (used when `ping` is missing).
fn udp_exchange(from: (&str, &str), to: (&str, &str)) -> io::Result<Duration> {
    let to_ip: Ipv4Addr = to.1.parse().map_err(io::Error::other)?;
    let from_ip: Ipv4Addr = from.1.parse().map_err(io::Error::other)?;
    let server = in_netns(to.0, move || {
        UdpSocket::bind(SocketAddrV4::new(to_ip, 7000))
    })?;
    server.set_read_timeout(Some(Duration::from_secs(3)))?;
    let echo = std::thread::spawn(move || -> io::Result<()> {
        let mut buf = [0u8; 64];
        let (n, peer) = server.recv_from(&mut buf)?;
        server.send_to(&buf[..n], peer)?;
        Ok(())
    });
    let client = in_netns(from.0, move || {
        UdpSocket::bind(SocketAddrV4::new(from_ip, 0))
    })?;
    client.set_read_timeout(Some(Duration::from_secs(3)))?;
    let t0 = std::time::Instant::now();
    client.send_to(b"oxvs demo", SocketAddrV4::new(to_ip, 7000))?;
    let mut buf = [0u8; 64];
    client.recv_from(&mut buf)?;
    let rtt = t0.elapsed();
    let _ = echo.join();
    Ok(rtt)
}

/// Runs the demo until SIGINT or SIGTERM.
pub fn run(tmp_root: &Path) -> Result<(), DemoError> {
    if !crate::sys::is_root() {
        return Err(DemoError::NotRoot);
    }
    find_tool("ip").ok_or(DemoError::NoIp)?;
    let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    crate::sys::block_signals(&signals)?;

    let dir = tmp_root.join(format!("oxvs-demo-{}", std::process::id()));
    let (rundir, statedir) = (dir.join("run"), dir.join("state"));
    Topology::cleanup();
    let _topo = Topology { dir: dir.clone() };

    println!("== building three hosts in network namespaces");
    for (host, addr) in HOSTS {
        ip(&["netns", "add", host])?;
        ip(&[
            "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", host,
        ])?;
        ip(&["link", "set", host, "up"])?;
        ip(&[
            "-n",
            host,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", host, "link", "set", "eth0", "up"])?;
        ip(&["-n", host, "link", "set", "lo", "up"])?;
        println!("   {host}: eth0 {addr}/24, its veth peer {host} is a switch port");
    }

    println!("== starting oxvsd (run directory {})", rundir.display());
    let d = daemon::prepare(&rundir, &statedir)?.start()?;
    let h = d.handle();
    ask(
        &h,
        "add-br",
        CtlRequest::AddBr {
            bridge: BRIDGE.into(),
            may_exist: false,
        },
    )?;
    for (host, _) in HOSTS {
        ask(
            &h,
            "add-port",
            CtlRequest::AddPort {
                bridge: BRIDGE.into(),
                port: PortSpec {
                    name: host.into(),
                    port_type: PortType::System,
                    options: Default::default(),
                    ofport: None,
                    tag: None,
                    trunks: None,
                },
                may_exist: false,
            },
        )?;
    }
    println!("   oxvsctl add-br {BRIDGE}");
    for (host, _) in HOSTS {
        println!("   oxvsctl add-port {BRIDGE} {host}");
    }
    println!();

    println!("== traffic across the bridge");
    let ping = find_tool("ping");
    for (a, b) in [(0, 1), (0, 2), (1, 2)] {
        let (from, to) = (HOSTS[a], HOSTS[b]);
        match &ping {
            Some(p) => {
                println!("$ ip netns exec {} ping -c 3 -i 0.2 {}", from.0, to.1);
                let out = Command::new(find_tool("ip").ok_or(DemoError::NoIp)?)
                    .args(["netns", "exec", from.0])
                    .arg(p)
                    .args(["-c", "3", "-i", "0.2", "-W", "2", to.1])
                    .output()?;
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
            None => match udp_exchange(from, to) {
                Ok(rtt) => println!(
                    "   UDP {} -> {} and back: {:.3} ms (install iputils-ping to see ping)",
                    from.1,
                    to.1,
                    rtt.as_secs_f64() * 1000.0
                ),
                Err(e) => println!("   UDP {} -> {}: no answer ({e})", from.1, to.1),
            },
        }
    }
    let _ = io::stdout().flush();
    println!();

    show(&h, "show", CtlRequest::Show)?;
    show(
        &h,
        "dpctl/dump-flows",
        CtlRequest::DumpFlows {
            names: false,
            offloaded: None,
        },
    )?;
    show(
        &h,
        &format!("fdb/show {BRIDGE}"),
        CtlRequest::FdbShow {
            bridge: BRIDGE.into(),
        },
    )?;
    show(&h, "upcall/show", CtlRequest::UpcallShow)?;

    let r = rundir.display();
    println!("== poke it (in another terminal) while this runs:");
    println!("   oxvsctl --rundir {r} show");
    println!("   oxvsctl --rundir {r} dpctl/dump-flows");
    println!("   oxvsctl --rundir {r} fdb/show {BRIDGE}");
    println!("   oxvsctl --rundir {r} upcall/show");
    println!("   oxvsctl --rundir {r} coverage/show");
    println!("   oxvsctl --rundir {r} add-port {BRIDGE} p9 type=internal");
    println!("   ip netns exec oxdemo-h1 ping 10.99.0.3");
    println!("   ip link del oxdemo-h3      # the port goes down, h1 and h2 keep talking");
    println!("   OVS_RUNDIR={r} ovs-ofctl show {BRIDGE}");
    println!("   OVS_RUNDIR={r} ovs-ofctl dump-flows {BRIDGE}");
    println!("   OVS_RUNDIR={r} ovs-ofctl add-flow {BRIDGE} priority=10,icmp,actions=drop");
    println!("   OVS_RUNDIR={r} ovs-ofctl del-flows {BRIDGE} icmp");
    println!("   (ovs-ofctl reaches the bridge on unix:{r}/{BRIDGE}.mgmt)");
    println!("== Ctrl-C (or SIGTERM) stops the demo and removes everything it made.");
    let _ = io::stdout().flush();

    let stopper = h.clone();
    std::thread::spawn(move || {
        if crate::sys::wait_signal(&signals).is_ok() {
            stopper.shutdown();
        }
    });
    d.wait();
    println!("== stopped; namespaces and veths removed");
    Ok(())
}
