//! The README's first command, `oxvsd --demo`: it builds its hosts, shows
//! traffic crossing the bridge, answers `oxvsctl` and `ovs-ofctl` on the
//! run directory it prints, and on SIGTERM removes everything it made and
//! exits 0.
//!
//! Needs root; prints SKIP and passes otherwise. The demo's namespace
//! names are its own (`oxdemo-h1..3`), so only this test runs it.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oxvs_tests::{find_tool, skip_unless_root};

const OXVSD: &str = env!("CARGO_BIN_EXE_oxvsd-e2e");
const OXVSCTL: &str = env!("CARGO_BIN_EXE_oxvsctl-e2e");

/// The demo's namespaces that exist now.
fn demo_namespaces() -> Vec<String> {
    let out = Command::new(find_tool("ip").unwrap_or_else(|| "ip".into()))
        .args(["netns", "list"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with("oxdemo-"))
        .map(str::to_string)
        .collect()
}

/// Kills the demo if the test fails half-way (its own cleanup then runs
/// on SIGTERM).
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        // SAFETY: kill(2) with the pid of our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[test]
fn the_demo_shows_traffic_answers_its_tools_and_cleans_up() {
    if skip_unless_root("the_demo_shows_traffic_answers_its_tools_and_cleans_up") {
        return;
    }
    let out_path = tempfile::NamedTempFile::new().expect("temp file");
    let out_file = out_path.reopen().expect("reopen");
    let child = Command::new(OXVSD)
        .arg("--demo")
        .stdout(out_file)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn oxvsd --demo");
    let mut demo = Demo(child);

    let read = || {
        let mut s = String::new();
        let _ = std::fs::File::open(out_path.path()).and_then(|mut f| f.read_to_string(&mut s));
        s
    };
    let t0 = Instant::now();
    while !read().contains("== Ctrl-C") {
        if let Ok(Some(status)) = demo.0.try_wait() {
            panic!("the demo exited early ({status}):\n{}", read());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the demo did not get going:\n{}",
            read()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = read();
    assert_eq!(demo_namespaces().len(), 3, "{text}");

    // Traffic crossed: three pings of 3 (or the UDP fallback) all answered.
    if find_tool("ping").is_some() {
        assert_eq!(
            text.matches("3 packets transmitted, 3 received").count(),
            3,
            "{text}"
        );
    } else {
        assert_eq!(text.matches(" and back: ").count(), 3, "{text}");
    }
    // The switch's view of it: learned MACs and megaflows.
    assert!(text.contains("$ oxvsctl fdb/show oxdemo-br"), "{text}");
    assert!(text.contains("in_port("), "no megaflows shown:\n{text}");

    // The run directory it prints answers the tools it names.
    let rundir = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("oxvsctl --rundir "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run directory printed:\n{text}"))
        .to_string();
    let show = Command::new(OXVSCTL)
        .args(["--rundir", &rundir, "show"])
        .output()
        .expect("oxvsctl show");
    let show_text = String::from_utf8_lossy(&show.stdout);
    assert!(show.status.success(), "{show_text}");
    for p in ["oxdemo-h1", "oxdemo-h2", "oxdemo-h3"] {
        assert!(show_text.contains(&format!("Port {p}")), "{show_text}");
    }
    if let Some(ofctl) = find_tool("ovs-ofctl") {
        let o = Command::new(ofctl)
            .env("OVS_RUNDIR", &rundir)
            .args(["show", "oxdemo-br"])
            .output()
            .expect("ovs-ofctl show");
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && t.contains("(oxdemo-h1)"), "{t}");
    }

    // SIGTERM: everything goes, exit 0.
    // SAFETY: kill(2) with the pid of our own child.
    unsafe { libc::kill(demo.0.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    let status = loop {
        if let Ok(Some(s)) = demo.0.try_wait() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the demo did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}:\n{}", read());
    assert!(read().contains("== stopped"), "{}", read());
    assert!(demo_namespaces().is_empty(), "{:?}", demo_namespaces());
    assert!(
        !std::path::Path::new(&rundir).exists(),
        "run directory {rundir} left behind"
    );
}
