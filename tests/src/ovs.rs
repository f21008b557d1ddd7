//! A private Open vSwitch (Debian's `openvswitch-switch`: `ovsdb-server`
//! plus `ovs-vswitchd`) for side-by-side tests: its own database, run and
//! log directory (a temporary directory), its daemons started inside a
//! network namespace of the caller's, and both daemons stopped by a Drop
//! guard, also when the test fails. Bridges must use
//! `datapath_type=netdev` (there is no openvswitch kernel module here); the
//! netdev datapath creates taps (`ovs-netdev`, one per bridge), hence the
//! namespace. See /work/shared/notes/testing-on-this-machine.md.
//!
//! `OVS_RUNDIR=<Ovs::rundir()> ovs-ofctl show br0` reaches its bridges, as
//! `OVS_RUNDIR=<oxvsd rundir>` reaches oxvsd's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::{find_tool, Netns};

/// The Open vSwitch programs these tests need.
pub const OVS_TOOLS: [&str; 5] = [
    "ovsdb-tool",
    "ovsdb-server",
    "ovs-vswitchd",
    "ovs-vsctl",
    "ovs-ofctl",
];

/// Where Debian installs the database schema.
pub const OVS_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// True (after printing a SKIP line) if a private Open vSwitch cannot run
/// here: not root, no iproute2, or a program of `openvswitch-switch`
/// missing.
pub fn skip_unless_ovs(test: &str) -> bool {
    if crate::skip_unless_root(test) {
        return true;
    }
    for tool in OVS_TOOLS {
        if find_tool(tool).is_none() {
            eprintln!(
                "SKIP {test}: `{tool}` is not installed (apt-get install openvswitch-switch)"
            );
            return true;
        }
    }
    if !Path::new(OVS_SCHEMA).exists() {
        eprintln!("SKIP {test}: {OVS_SCHEMA} is missing (apt-get install openvswitch-switch)");
        return true;
    }
    false
}

fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| PathBuf::from(name))
}

fn describe(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running private Open vSwitch; both daemons are stopped on drop.
///
/// Drop it before the namespace it runs in (declare the [`Netns`] first).
pub struct Ovs {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    ns: String,
}

impl Ovs {
    /// Creates the database and starts `ovsdb-server` and `ovs-vswitchd`
    /// (both `--detach`, so they are ready when this returns) inside `ns`.
    pub fn start(ns: &Netns) -> Result<Ovs, String> {
        let tmp = tempfile::Builder::new()
            .prefix("oxvs-ovs-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let dir = tmp.path().to_path_buf();
        // From here on, Drop stops whatever was started.
        let ovs = Ovs {
            _tmp: tmp,
            dir,
            ns: ns.name.clone(),
        };
        let db = ovs.dir.join("conf.db");
        let out = ovs
            .command("ovsdb-tool")
            .arg("create")
            .arg(&db)
            .arg(OVS_SCHEMA)
            .output()
            .map_err(|e| format!("ovsdb-tool: {e}"))?;
        if !out.status.success() {
            return Err(describe("ovsdb-tool create", &out));
        }
        let d = ovs.dir.display().to_string();
        let out = ovs.in_ns(
            "ovsdb-server",
            &[
                db.to_str().ok_or("non-UTF-8 path")?,
                &format!("--remote=punix:{d}/db.sock"),
                &format!("--unixctl={d}/ovsdb-server.ctl"),
                &format!("--pidfile={d}/ovsdb-server.pid"),
                &format!("--log-file={d}/ovsdb-server.log"),
                "-vconsole:off",
                "--detach",
                "--no-chdir",
            ],
        )?;
        if !out.status.success() {
            return Err(describe("ovsdb-server", &out));
        }
        ovs.vsctl(&["--no-wait", "init"])?;
        let out = ovs.in_ns(
            "ovs-vswitchd",
            &[
                &format!("unix:{d}/db.sock"),
                &format!("--unixctl={d}/ovs-vswitchd.ctl"),
                &format!("--pidfile={d}/ovs-vswitchd.pid"),
                &format!("--log-file={d}/ovs-vswitchd.log"),
                "-vconsole:off",
                "--detach",
                "--no-chdir",
            ],
        )?;
        if !out.status.success() {
            return Err(format!(
                "{}\n--- ovs-vswitchd.log\n{}",
                describe("ovs-vswitchd", &out),
                ovs.log_text()
            ));
        }
        Ok(ovs)
    }

    /// A command with this instance's OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(tool(program));
        c.env("OVS_RUNDIR", &self.dir)
            .env("OVS_LOGDIR", &self.dir)
            .env("OVS_DBDIR", &self.dir)
            .env("OVS_SYSCONFDIR", &self.dir);
        c
    }

    fn in_ns(&self, program: &str, args: &[&str]) -> Result<Output, String> {
        let mut c = self.command("ip");
        c.args(["netns", "exec", &self.ns])
            .arg(tool(program))
            .args(args);
        c.output().map_err(|e| format!("{program}: {e}"))
    }

    /// The run directory: `OVS_RUNDIR` for `ovs-ofctl` (its bridges listen
    /// on `RUNDIR/BRIDGE.mgmt`).
    pub fn rundir(&self) -> &Path {
        &self.dir
    }

    /// Runs `ovs-vsctl --db=unix:RUNDIR/db.sock --timeout=30 ARGS`
    /// (waiting for ovs-vswitchd to apply the change unless `--no-wait`).
    pub fn vsctl(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command("ovs-vsctl")
            .arg(format!("--db=unix:{}/db.sock", self.dir.display()))
            .arg("--timeout=30")
            .args(args)
            .output()
            .map_err(|e| format!("ovs-vsctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(describe(&format!("ovs-vsctl {}", args.join(" ")), &out))
        }
    }

    /// Runs `ovs-appctl -t RUNDIR/ovs-vswitchd.ctl ARGS`.
    pub fn appctl(&self, args: &[&str]) -> Result<String, String> {
        let out = self
            .command("ovs-appctl")
            .arg("-t")
            .arg(self.dir.join("ovs-vswitchd.ctl"))
            .args(args)
            .output()
            .map_err(|e| format!("ovs-appctl: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(describe(&format!("ovs-appctl {}", args.join(" ")), &out))
        }
    }

    /// ovs-vswitchd's log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("ovs-vswitchd.log")).unwrap_or_default()
    }

    fn pid(&self, daemon: &str) -> Option<i32> {
        std::fs::read_to_string(self.dir.join(format!("{daemon}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    fn stop(&self, daemon: &str) {
        let Some(pid) = self.pid(daemon) else { return };
        if pid <= 1 {
            return;
        }
        // SAFETY: kill(2) on the pid this instance's daemon wrote.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        // SAFETY: signal 0 only checks that the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 {
            if Instant::now() >= deadline {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- ovs-vswitchd.log (last lines)\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.stop("ovs-vswitchd");
        self.stop("ovsdb-server");
    }
}
