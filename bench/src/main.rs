//! `oxvs-bench`: runs the whole datapath in-process on one pinned core
//! (port rx -> extract -> EMC -> megaflow -> upcall -> actions -> port tx)
//! over a pcap file or generated traffic, and reports what it measured.

mod alloc;
mod rules;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use oxvs_datapath::dp::{Datapath, DatapathConfig, PollThread};
use oxvs_datapath::port::{MemoryPort, PcapTxPort, Port};
use serde::Serialize;

#[global_allocator]
static ALLOC: alloc::CountingAlloc = alloc::CountingAlloc;

#[derive(Parser)]
#[command(name = "oxvs-bench", about = "oxvs performance harness")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Replay traffic through the datapath and report rates and hit ratios.
    Replay(ReplayArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Proto {
    Udp,
    Tcp,
    /// Alternate UDP and TCP flows.
    Mix,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Profile {
    /// One rule: in_port=1 -> output:2; megaflows match on in_port only.
    PortForward,
    /// Every flow gets an exact 5-tuple megaflow -> output:2 (the trivial
    /// handler of the flow-setup benchmark).
    FiveTuple,
    /// Flows are spread over `--masks K` distinct megaflow masks.
    Masks,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// Replay this pcap file (received on port 1) instead of generated traffic.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Generated traffic: number of distinct flows.
    #[arg(long, default_value_t = 1)]
    flows: u32,
    /// Generated traffic: packets in all (flows take turns).
    #[arg(long, default_value_t = 10_000_000)]
    packets: u64,
    /// Generated traffic: frame size in bytes (without FCS).
    #[arg(long, default_value_t = 64)]
    size: usize,
    #[arg(long, value_enum, default_value_t = Proto::Udp)]
    proto: Proto,
    /// Built-in rule set.
    #[arg(long, value_enum, default_value_t = Profile::PortForward)]
    profile: Profile,
    /// Rules from a file instead of a profile, one per line:
    /// `priority=N,in_port=1,udp,nw_dst=10.0.0.0/24,tp_dst=53 actions=output:2`.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Number of masks for `--profile masks` (1-32).
    #[arg(long, default_value_t = 8)]
    masks: u32,
    /// Turn the exact-match cache off (classifier only).
    #[arg(long)]
    no_emc: bool,
    /// EMC insertion: 1 in N (Open vSwitch's default is 100).
    #[arg(long, default_value_t = 100)]
    emc_insert_inv_prob: u32,
    /// Passes over the pcap file.
    #[arg(long, default_value_t = 1)]
    loops: u64,
    /// Write what port 2 sends to this pcap file (slower: file I/O).
    #[arg(long)]
    out_pcap: Option<PathBuf>,
    /// Core to pin to.
    #[arg(long, default_value_t = 1)]
    core: usize,
    /// Megaflow limit (Open vSwitch's default 200000); raise it for
    /// many-flow runs.
    #[arg(long, default_value_t = 2_000_000)]
    flow_limit: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    packets: u64,
    seconds: f64,
    mpps: f64,
    ns_per_packet: f64,
    emc_hit_rate: f64,
    megaflow_hit_rate: f64,
    upcalls: u64,
    upcalls_per_sec: f64,
    lost_upcalls: u64,
    megaflows: usize,
    subtables: usize,
    bytes_per_megaflow: f64,
    tx_packets: u64,
    malformed: u64,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Replay(args) => replay(args),
    }
}

fn replay(args: ReplayArgs) -> Result<()> {
    if !(1..=32).contains(&args.masks) {
        bail!("--masks must be between 1 and 32, not {}", args.masks);
    }
    if args.flows == 0 {
        bail!("--flows must be at least 1");
    }
    let mut handler = match &args.rules {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            rules::RuleHandler::parse(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => match args.profile {
            Profile::PortForward => rules::RuleHandler::port_forward(),
            Profile::FiveTuple => rules::RuleHandler::five_tuple(),
            Profile::Masks => rules::RuleHandler::masks(args.masks),
        },
    };

    let rx = match &args.pcap {
        Some(path) => MemoryPort::from_pcap("pcap", path, 1)
            .with_context(|| format!("reading {}", path.display()))?
            .replay(args.loops),
        None => {
            let frames = traffic::generate(args.flows, args.size, args.proto_kind())?;
            let passes = args.packets.div_ceil(frames.len() as u64);
            MemoryPort::new("gen", 1)
                .with_frames(&frames)
                .replay(passes)
        }
    };
    let total_hint = match &args.pcap {
        Some(_) => rx.frame_count() as u64 * args.loops,
        None => args.packets.div_ceil(args.flows as u64) * args.flows as u64,
    };

    if core_affinity::set_for_current(core_affinity::CoreId { id: args.core }) {
        tracing::info!(core = args.core, "pinned");
    } else {
        tracing::warn!(core = args.core, "could not pin to core");
    }

    let dp = Arc::new(Datapath::new(DatapathConfig::default()));
    dp.megaflows.set_limit(args.flow_limit);
    let mut pt = PollThread::new(dp.clone());
    pt.set_emc_insert_inv_prob(if args.no_emc {
        0
    } else {
        args.emc_insert_inv_prob
    });
    pt.ports.add(1, Box::new(rx));
    let tx_handle;
    match &args.out_pcap {
        Some(path) => {
            let port =
                PcapTxPort::create(path).with_context(|| format!("creating {}", path.display()))?;
            tx_handle = None;
            pt.ports.add(2, Box::new(port) as Box<dyn Port>);
        }
        None => {
            let port = MemoryPort::new("sink", 2);
            tx_handle = Some(port.handle());
            pt.ports.add(2, Box::new(port));
        }
    }

    let progress = Progress::new(total_hint, args.json);
    let mem_before = alloc::allocated();
    let start = Instant::now();
    let mut idle_rounds = 0;
    let mut rounds = 0u64;
    let mut received = 0u64;
    loop {
        let now_ms = start.elapsed().as_millis() as u64;
        let n = pt.poll_once(now_ms);
        received += n as u64;
        if dp.pending_upcalls() > 0 {
            dp.handle_upcalls(&mut handler, usize::MAX);
            pt.run_executes(now_ms);
            pt.flush();
        }
        if n == 0 {
            idle_rounds += 1;
            if idle_rounds > 2 {
                break;
            }
        } else {
            idle_rounds = 0;
        }
        rounds += 1;
        if rounds.is_multiple_of(8192) {
            progress.update(received, start.elapsed());
        }
    }
    let elapsed = start.elapsed();
    progress.finish();
    let mem_after = alloc::allocated();

    let c = dp.counters.snapshot();
    let megaflows = dp.megaflows.len();
    let packets = received;
    let secs = elapsed.as_secs_f64();
    let upcalls = c.misses - c.lost;
    let tx_packets = match &tx_handle {
        Some(h) => h.tx_packets(),
        None => pt.ports.stats(2).map(|s| s.tx_packets).unwrap_or(0),
    };
    let report = Report {
        packets,
        seconds: secs,
        mpps: packets as f64 / secs / 1e6,
        ns_per_packet: secs * 1e9 / packets.max(1) as f64,
        emc_hit_rate: c.emc_hits as f64 / packets.max(1) as f64,
        megaflow_hit_rate: c.megaflow_hits as f64 / packets.max(1) as f64,
        upcalls,
        upcalls_per_sec: upcalls as f64 / secs,
        lost_upcalls: c.lost,
        megaflows,
        subtables: dp.megaflows.subtables().len(),
        bytes_per_megaflow: if megaflows == 0 {
            0.0
        } else {
            mem_after.saturating_sub(mem_before) as f64 / megaflows as f64
        },
        tx_packets,
        malformed: c.malformed,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

impl ReplayArgs {
    fn proto_kind(&self) -> traffic::Kind {
        match self.proto {
            Proto::Udp => traffic::Kind::Udp,
            Proto::Tcp => traffic::Kind::Tcp,
            Proto::Mix => traffic::Kind::Mix,
        }
    }
}

fn print_report(r: &Report) {
    println!("packets            {}", r.packets);
    println!("time               {:.3} s", r.seconds);
    println!("rate               {:.2} Mpps", r.mpps);
    println!("per packet         {:.1} ns", r.ns_per_packet);
    println!("EMC hit rate       {:.2}%", r.emc_hit_rate * 100.0);
    println!("megaflow hit rate  {:.2}%", r.megaflow_hit_rate * 100.0);
    println!(
        "upcalls            {} ({:.0}/s, {} lost)",
        r.upcalls, r.upcalls_per_sec, r.lost_upcalls
    );
    println!(
        "megaflows          {} in {} subtables",
        r.megaflows, r.subtables
    );
    println!("bytes per megaflow {:.0}", r.bytes_per_megaflow);
    println!("sent on port 2     {}", r.tx_packets);
    if r.malformed > 0 {
        println!("malformed          {}", r.malformed);
    }
}

/// A progress bar on stderr for runs longer than a second (never in JSON
/// mode, where stdout must stay one object and stderr quiet).
struct Progress {
    bar: std::cell::OnceCell<indicatif::ProgressBar>,
    total: u64,
    quiet: bool,
}

impl Progress {
    fn new(total: u64, quiet: bool) -> Progress {
        Progress {
            bar: std::cell::OnceCell::new(),
            total,
            quiet,
        }
    }

    fn update(&self, done: u64, elapsed: Duration) {
        if self.quiet || elapsed < Duration::from_secs(1) {
            return;
        }
        let bar = self.bar.get_or_init(|| {
            let b = indicatif::ProgressBar::new(self.total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} packets ({per_sec}, eta {eta})",
            ) {
                b.set_style(style);
            }
            b
        });
        bar.set_position(done);
    }

    fn finish(&self) {
        if let Some(b) = self.bar.get() {
            b.finish_and_clear();
        }
    }
}
