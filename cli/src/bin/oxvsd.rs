//! oxvsd: the oxvs switch daemon.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use oxvs_cli::{config, daemon, demo, sys};

/// The oxvs switch daemon: a userspace, Open vSwitch-compatible switch.
///
/// Its configuration (bridges, ports, controllers, fail modes, datapath
/// settings) lives in STATEDIR/conf.json and is restored at start; oxvsctl
/// changes it through the control socket RUNDIR/oxvsd.ctl.
#[derive(Parser, Debug)]
#[command(name = "oxvsd", version)]
struct Args {
    /// Run directory (control socket, default pidfile and log)
    /// [default: $OXVS_RUNDIR or /run/oxvs]
    #[arg(long, value_name = "DIR")]
    rundir: Option<PathBuf>,

    /// State directory (the stored configuration)
    /// [default: $OXVS_STATEDIR or /var/lib/oxvs]
    #[arg(long, value_name = "DIR")]
    statedir: Option<PathBuf>,

    /// Run in the background once started (the command returns when the
    /// daemon is ready, or fails with the reason)
    #[arg(long)]
    detach: bool,

    /// Write the daemon's pid to FILE [default FILE: RUNDIR/oxvsd.pid]
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "-"
    )]
    pidfile: Option<PathBuf>,

    /// Log file when detached [default: RUNDIR/oxvsd.log]
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,

    /// Log filter (tracing syntax, e.g. info, debug, oxvs_cli=debug)
    /// [default: $OXVS_LOG or info]
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,

    /// Check the stored configuration and exit
    #[arg(long)]
    check_config: bool,

    /// Build a small topology of namespace hosts on one bridge, show
    /// traffic crossing it, and wait for Ctrl-C (cleans up on exit)
    #[arg(long, conflicts_with_all = ["detach", "check_config"])]
    demo: bool,
}

fn init_logging(filter: Option<&str>, ansi: bool) {
    let f = filter
        .map(str::to_string)
        .or_else(|| std::env::var("OXVS_LOG").ok())
        .unwrap_or_else(|| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&f)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let args = Args::parse();
    let ansi = !args.detach && std::io::IsTerminal::is_terminal(&std::io::stderr());
    init_logging(args.log.as_deref(), ansi);
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("oxvsd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Tells the waiting parent how start-up went (only with --detach).
struct Notify(Option<std::fs::File>);

impl Notify {
    fn send(&mut self, msg: &str) {
        if let Some(mut f) = self.0.take() {
            let _ = f.write_all(msg.as_bytes());
        }
    }
}

fn run(args: Args) -> Result<ExitCode> {
    let rundir = args.rundir.clone().unwrap_or_else(daemon::default_rundir);
    let statedir = args
        .statedir
        .clone()
        .unwrap_or_else(daemon::default_statedir);

    if args.demo {
        demo::run(&std::env::temp_dir())?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.check_config {
        let path = statedir.join(config::CONFIG_FILE);
        match config::Config::load(&path)? {
            Some(c) => println!(
                "{}: valid ({} bridge{})",
                path.display(),
                c.bridges.len(),
                if c.bridges.len() == 1 { "" } else { "s" }
            ),
            None => println!("{}: absent (oxvsd starts with no bridges)", path.display()),
        }
        return Ok(ExitCode::SUCCESS);
    }

    // Everything that can be refused is checked before detaching, so that
    // the error reaches the terminal and the exit code.
    let prepared = daemon::prepare(&rundir, &statedir)?;
    let rundir = prepared.paths().rundir.clone();
    let pidfile = args.pidfile.as_ref().map(|p| {
        if p.as_os_str() == "-" {
            rundir.join("oxvsd.pid")
        } else {
            std::path::absolute(p).unwrap_or_else(|_| p.clone())
        }
    });

    let mut notify = Notify(None);
    if args.detach {
        let log = args
            .log_file
            .clone()
            .map(|p| std::path::absolute(&p).unwrap_or(p))
            .unwrap_or_else(|| rundir.join("oxvsd.log"));
        let (mut rd, wr) = sys::pipe().context("pipe")?;
        match sys::fork().context("fork")? {
            sys::Forked::Parent { .. } => {
                drop(wr);
                drop(prepared);
                let mut msg = String::new();
                let _ = rd.read_to_string(&mut msg);
                if msg.starts_with("ok") {
                    return Ok(ExitCode::SUCCESS);
                }
                let msg = msg.trim();
                if msg.is_empty() {
                    eprintln!(
                        "oxvsd: the daemon exited during start-up; see {}",
                        log.display()
                    );
                } else {
                    eprintln!("oxvsd: {msg}");
                }
                return Ok(ExitCode::FAILURE);
            }
            sys::Forked::Child => {
                drop(rd);
                sys::setsid().context("setsid")?;
                sys::redirect_stdio(&log)
                    .with_context(|| format!("cannot open log file {}", log.display()))?;
                let _ = std::env::set_current_dir("/");
                notify = Notify(Some(wr));
            }
        }
    }

    let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
    sys::block_signals(&signals).context("blocking signals")?;

    let d = match prepared.start() {
        Ok(d) => d,
        Err(e) => {
            notify.send(&format!("{e}\n"));
            return Err(e.into());
        }
    };
    if let Some(p) = &pidfile {
        let pid = format!("{}\n", std::process::id());
        if let Err(e) = config::write_atomically(p, pid.as_bytes()) {
            let msg = format!("cannot write pidfile {}: {e}", p.display());
            notify.send(&format!("{msg}\n"));
            anyhow::bail!(msg);
        }
    }
    notify.send("ok\n");

    let h = d.handle();
    std::thread::Builder::new()
        .name("oxvs-signals".into())
        .spawn(move || loop {
            match sys::wait_signal(&signals) {
                Ok(libc::SIGHUP) => tracing::info!("SIGHUP ignored"),
                Ok(sig) => {
                    tracing::info!(signal = sig, "stopping on signal");
                    h.shutdown();
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "sigwait failed");
                    return;
                }
            }
        })
        .context("signal thread")?;

    d.wait();
    if let Some(p) = &pidfile {
        let _ = std::fs::remove_file(p);
    }
    tracing::info!("oxvsd stopped");
    Ok(ExitCode::SUCCESS)
}
