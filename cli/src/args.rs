//! `oxvsctl`'s command line, in the words of `ovs-vsctl` and `ovs-appctl`,
//! parsed once into a [`CtlRequest`].

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{check_controller, DpSetting, FailMode, PortType};
use crate::proto::{CtlRequest, PortSpec};

/// How `oxvsctl` prints answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Request(CtlRequest),
    Help,
    Version,
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub rundir: Option<PathBuf>,
    pub timeout: Duration,
    pub format: Format,
    pub command: Command,
}

pub const USAGE: &str = "\
oxvsctl: control a running oxvsd
usage: oxvsctl [OPTIONS] COMMAND [ARG...]

Bridge commands:
  add-br BRIDGE                 create a bridge (and its LOCAL port BRIDGE)
  del-br BRIDGE                 delete a bridge and all its ports
  list-br                       print the names of all bridges

Port commands:
  add-port BRIDGE PORT [type=system|internal|tap|pcap] [tag=VLAN]
           [trunks=VLAN,...] [ofport_request=N]
           [options:rxq_pcap=FILE] [options:pcap=FILE] [hw-offload=true]
                                add a port (also: add-port BRIDGE PORT --
                                set Interface PORT type=internal ...)
  set-port PORT hw-offload=true|false
                                offload the port's established flows to tc
                                flower (system ports; the port reopens)
  del-port [BRIDGE] PORT        delete a port
  list-ports BRIDGE             print the names of a bridge's ports

Controller and fail mode (ovs-ofctl reaches BRIDGE on unix:RUNDIR/BRIDGE.mgmt):
  set-controller BRIDGE TARGET...   controller targets: tcp:IP[:PORT] (port
                                    6653 by default) and unix:PATH are
                                    connected to, and again after a failure
                                    (backoff 1 s doubling to 8 s);
                                    ptcp:[PORT][:IP] and punix:PATH listen;
                                    ssl:/pssl: are stored but not used (no
                                    TLS). With controllers, fail mode
                                    standalone forwards by NORMAL once none
                                    was reachable for 15 s
  del-controller BRIDGE             forget them
  get-controller BRIDGE
  set-fail-mode BRIDGE standalone|secure
  del-fail-mode BRIDGE
  get-fail-mode BRIDGE

Datapath:
  set-dp KEY=VALUE...           flow-limit, max-idle (ms), n-handler-threads,
                                busy-poll, emc-insert-inv-prob, upcall-queue,
                                execute-queue, tc-policy (none|skip_sw|skip_hw),
                                offload-min-packets, offload-min-age (ms)
  get-dp                        print the datapath settings
  show                          print the configuration and port states
  dpctl/dump-flows [--names] [type=offloaded|ovs]
                                print the datapath's megaflows (only those
                                in tc, or only those not)
  dpctl/del-flows               delete every megaflow
  upcall/show                   flow count, limit and upcall counters
  ofproto/trace BRIDGE FLOW     the tables FLOW (ovs-ofctl match syntax, with
                                in_port) goes through, and its megaflow
  offload/show                  the kernel's tc capabilities and where each
                                megaflow is (in_hw, tc software, or not
                                offloaded, with the reason)
  coverage/show                 datapath counters and rates
  fdb/show BRIDGE               the learned MAC table
  fdb/flush [BRIDGE]            forget learned MACs
  exit                          stop oxvsd

Options:
  --rundir DIR      oxvsd's run directory (default $OXVS_RUNDIR or /run/oxvs)
  --timeout SECS    how long to wait for an answer (default 30)
  --format text|json
  --may-exist       add-br, add-port: no error if it already exists
  --if-exists       del-br, del-port: no error if it does not exist
  -h, --help        this text
  -V, --version     print the version
";

#[derive(Default)]
struct Flags {
    may_exist: bool,
    if_exists: bool,
    names: bool,
}

/// Parses `oxvsctl`'s arguments (without the program name).
pub fn parse<I, S>(args: I) -> Result<Invocation, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let args: Vec<String> = args.into_iter().map(Into::into).collect();
    let mut rundir = None;
    let mut timeout = Duration::from_secs(30);
    let mut format = Format::Text;
    let mut flags = Flags::default();
    let mut words: Vec<String> = Vec::new();
    let mut i = 0;
    // Options may come before or after the command; after a bare "--" the
    // rest is left to the command (add-port's "-- set Interface ...").
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            words.push(a.clone());
            words.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            words.push(a.clone());
            continue;
        }
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            if let Some(v) = &inline {
                return Ok(v.clone());
            }
            let v = args
                .get(i)
                .cloned()
                .ok_or_else(|| format!("option {what} needs a value"))?;
            i += 1;
            Ok(v)
        };
        match name {
            "-h" | "--help" => return Ok(inv(rundir, timeout, format, Command::Help)),
            "-V" | "--version" => return Ok(inv(rundir, timeout, format, Command::Version)),
            "--rundir" => rundir = Some(PathBuf::from(value("--rundir")?)),
            "--timeout" | "-t" => {
                let v = value("--timeout")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 1e7)
                    .ok_or_else(|| {
                        format!("--timeout: \"{v}\" is not a positive number of seconds")
                    })?;
                timeout = Duration::from_secs_f64(secs);
            }
            "--format" | "-f" => {
                format = match value("--format")?.as_str() {
                    "text" => Format::Text,
                    "json" => Format::Json,
                    other => return Err(format!("--format: \"{other}\" is not text or json")),
                }
            }
            "--may-exist" => flags.may_exist = true,
            "--if-exists" => flags.if_exists = true,
            "--names" => flags.names = true,
            "--no-names" => flags.names = false,
            _ => return Err(format!("unknown option \"{a}\" (see oxvsctl --help)")),
        }
    }
    let Some((verb, rest)) = words.split_first() else {
        return Err("no command given (see oxvsctl --help)".into());
    };
    let req = command(verb, rest, &flags)?;
    Ok(inv(rundir, timeout, format, Command::Request(req)))
}

fn inv(rundir: Option<PathBuf>, timeout: Duration, format: Format, command: Command) -> Invocation {
    Invocation {
        rundir,
        timeout,
        format,
        command,
    }
}

fn arity(verb: &str, rest: &[String], min: usize, max: usize, usage: &str) -> Result<(), String> {
    if rest.len() < min || rest.len() > max {
        Err(format!(
            "'{verb}' takes {}; usage: oxvsctl {verb} {usage}",
            match (min, max) {
                (0, 0) => "no arguments".to_string(),
                (a, b) if a == b => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
                (a, usize::MAX) =>
                    format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
                (a, b) => format!("{a} to {b} arguments"),
            }
        ))
    } else {
        Ok(())
    }
}

fn command(verb: &str, rest: &[String], f: &Flags) -> Result<CtlRequest, String> {
    let one = |usage: &str| -> Result<String, String> {
        arity(verb, rest, 1, 1, usage)?;
        Ok(rest[0].clone())
    };
    let none = || arity(verb, rest, 0, 0, "");
    Ok(match verb {
        "add-br" => CtlRequest::AddBr {
            bridge: one("BRIDGE")?,
            may_exist: f.may_exist,
        },
        "del-br" => CtlRequest::DelBr {
            bridge: one("BRIDGE")?,
            if_exists: f.if_exists,
        },
        "list-br" => {
            none()?;
            CtlRequest::ListBr
        }
        "add-port" => add_port(rest, f)?,
        "del-port" => {
            arity(verb, rest, 1, 2, "[BRIDGE] PORT")?;
            let (bridge, port) = match rest {
                [p] => (None, p.clone()),
                [b, p] => (Some(b.clone()), p.clone()),
                _ => return Err("del-port: expected [BRIDGE] PORT".into()),
            };
            CtlRequest::DelPort {
                bridge,
                port,
                if_exists: f.if_exists,
            }
        }
        "list-ports" => CtlRequest::ListPorts {
            bridge: one("BRIDGE")?,
        },
        "set-controller" => {
            arity(verb, rest, 2, usize::MAX, "BRIDGE TARGET...")?;
            for t in &rest[1..] {
                check_controller(t)?;
            }
            CtlRequest::SetController {
                bridge: rest[0].clone(),
                targets: rest[1..].to_vec(),
            }
        }
        "del-controller" => CtlRequest::DelController {
            bridge: one("BRIDGE")?,
        },
        "get-controller" => CtlRequest::GetController {
            bridge: one("BRIDGE")?,
        },
        "set-fail-mode" => {
            arity(verb, rest, 2, 2, "BRIDGE standalone|secure")?;
            CtlRequest::SetFailMode {
                bridge: rest[0].clone(),
                mode: FailMode::parse(&rest[1])?,
            }
        }
        "del-fail-mode" => CtlRequest::DelFailMode {
            bridge: one("BRIDGE")?,
        },
        "get-fail-mode" => CtlRequest::GetFailMode {
            bridge: one("BRIDGE")?,
        },
        "set-dp" => {
            arity(verb, rest, 1, usize::MAX, "KEY=VALUE...")?;
            CtlRequest::SetDp {
                settings: rest
                    .iter()
                    .map(|s| DpSetting::parse(s))
                    .collect::<Result<_, _>>()?,
            }
        }
        "get-dp" => {
            none()?;
            CtlRequest::GetDp
        }
        "show" => {
            none()?;
            CtlRequest::Show
        }
        "dpctl/dump-flows" => {
            arity(verb, rest, 0, 1, "[--names] [type=offloaded|ovs]")?;
            let offloaded = match rest.first().map(String::as_str) {
                None => None,
                Some("type=offloaded") | Some("type=tc") => Some(true),
                Some("type=ovs") => Some(false),
                Some(other) => {
                    return Err(format!(
                        "dpctl/dump-flows: \"{other}\": expected type=offloaded or type=ovs"
                    ))
                }
            };
            CtlRequest::DumpFlows {
                names: f.names,
                offloaded,
            }
        }
        "dpctl/del-flows" => {
            none()?;
            CtlRequest::DelFlows
        }
        "upcall/show" => {
            none()?;
            CtlRequest::UpcallShow
        }
        "offload/show" => {
            none()?;
            CtlRequest::OffloadShow
        }
        "ofproto/trace" => {
            arity(verb, rest, 2, 2, "BRIDGE FLOW")?;
            CtlRequest::OfprotoTrace {
                bridge: rest[0].clone(),
                flow: rest[1].clone(),
            }
        }
        "set-port" => {
            arity(verb, rest, 2, usize::MAX, "PORT KEY=VALUE...")?;
            let mut hw_offload = None;
            for kv in &rest[1..] {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("set-port: \"{kv}\": expected KEY=VALUE"))?;
                match k {
                    "hw-offload" | "other_config:hw-offload" => {
                        hw_offload = Some(parse_bool(k, v)?)
                    }
                    _ => {
                        return Err(format!(
                            "set-port: unknown setting \"{k}\" (known: hw-offload)"
                        ))
                    }
                }
            }
            CtlRequest::SetPort {
                port: rest[0].clone(),
                hw_offload,
            }
        }
        "coverage/show" => {
            none()?;
            CtlRequest::CoverageShow
        }
        "fdb/show" => CtlRequest::FdbShow {
            bridge: one("BRIDGE")?,
        },
        "fdb/flush" => {
            arity(verb, rest, 0, 1, "[BRIDGE]")?;
            CtlRequest::FdbFlush {
                bridge: rest.first().cloned(),
            }
        }
        "exit" => {
            none()?;
            CtlRequest::Exit
        }
        _ => return Err(format!("unknown command '{verb}' (see oxvsctl --help)")),
    })
}

fn parse_bool(key: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{key}: \"{v}\" is not true or false")),
    }
}

fn parse_vlan(key: &str, v: &str) -> Result<u16, String> {
    v.parse::<u16>()
        .ok()
        .filter(|n| *n <= 4095)
        .ok_or_else(|| format!("{key}: \"{v}\" is not a VLAN number (0-4095)"))
}

/// `add-port BRIDGE PORT [KEY=VALUE...] [-- set Interface|Port PORT KEY=VALUE...]...`
fn add_port(rest: &[String], f: &Flags) -> Result<CtlRequest, String> {
    if rest.len() < 2 || rest[0] == "--" || rest[1] == "--" {
        return Err("'add-port' takes at least 2 arguments; usage: oxvsctl add-port BRIDGE PORT [KEY=VALUE...]".into());
    }
    let bridge = rest[0].clone();
    let name = rest[1].clone();
    let mut spec = PortSpec {
        name: name.clone(),
        port_type: PortType::System,
        options: Default::default(),
        ofport: None,
        tag: None,
        trunks: None,
    };
    let mut settings: Vec<&str> = Vec::new();
    let mut it = rest[2..].iter().peekable();
    while let Some(w) = it.next() {
        if w == "--" {
            // "-- set Interface PORT k=v..." or "-- set Port PORT k=v..."
            let (Some(set), Some(table), Some(record)) = (it.next(), it.next(), it.next()) else {
                return Err(
                    "add-port: after \"--\" expected: set Interface|Port PORT KEY=VALUE...".into(),
                );
            };
            if set != "set" || !matches!(table.as_str(), "Interface" | "Port") {
                return Err(format!(
                    "add-port: after \"--\" only \"set Interface PORT ...\" or \"set Port PORT ...\" is supported, not \"{set} {table}\""
                ));
            }
            if *record != name {
                return Err(format!(
                    "add-port: \"set {table} {record}\" does not name the port being added ({name})"
                ));
            }
            while let Some(kv) = it.peek() {
                if *kv == "--" {
                    break;
                }
                settings.push(kv);
                it.next();
            }
            continue;
        }
        settings.push(w);
    }
    for kv in settings {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("add-port: \"{kv}\": expected KEY=VALUE"))?;
        match k {
            "type" => spec.port_type = PortType::parse(v)?,
            "tag" => spec.tag = Some(parse_vlan(k, v)?),
            "trunks" => {
                let list = v.trim_matches(|c| c == '[' || c == ']');
                spec.trunks = Some(
                    list.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| parse_vlan(k, s))
                        .collect::<Result<_, _>>()?,
                );
            }
            "ofport_request" | "ofport" => {
                spec.ofport = Some(
                    v.parse::<u32>()
                        .map_err(|_| format!("{k}: \"{v}\" is not a port number"))?,
                )
            }
            "options:rxq_pcap" | "rxq_pcap" => spec.options.rxq_pcap = Some(v.into()),
            "options:pcap" | "pcap" => spec.options.pcap = Some(v.into()),
            "hw-offload" | "other_config:hw-offload" => {
                spec.options.hw_offload = parse_bool(k, v)?
            }
            _ => {
                return Err(format!(
                    "add-port: unknown setting \"{k}\" (known: type, tag, trunks, ofport_request, options:rxq_pcap, options:pcap, hw-offload)"
                ))
            }
        }
    }
    Ok(CtlRequest::AddPort {
        bridge,
        port: spec,
        may_exist: f.may_exist,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(args: &[&str]) -> Result<CtlRequest, String> {
        match parse(args.iter().copied())?.command {
            Command::Request(r) => Ok(r),
            c => Err(format!("not a request: {c:?}")),
        }
    }

    #[test]
    fn global_options_anywhere() {
        let i = parse(["--rundir", "/tmp/x", "show", "--format=json"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(i.rundir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(i.format, Format::Json);
        assert_eq!(i.command, Command::Request(CtlRequest::Show));
        assert_eq!(
            req(&["--may-exist", "add-br", "br0"]),
            Ok(CtlRequest::AddBr {
                bridge: "br0".into(),
                may_exist: true
            })
        );
    }

    #[test]
    fn add_port_key_values_and_ovs_set_syntax() {
        let a = req(&[
            "add-port",
            "br0",
            "p1",
            "type=internal",
            "tag=10",
            "ofport_request=7",
        ]);
        let b = req(&[
            "add-port",
            "br0",
            "p1",
            "--",
            "set",
            "Interface",
            "p1",
            "type=internal",
            "ofport_request=7",
            "--",
            "set",
            "Port",
            "p1",
            "tag=10",
        ]);
        assert_eq!(a, b);
        let Ok(CtlRequest::AddPort { port, .. }) = a else {
            panic!("{a:?}")
        };
        assert_eq!(port.port_type, PortType::Internal);
        assert_eq!(port.tag, Some(10));
        assert_eq!(port.ofport, Some(7));
        let Ok(CtlRequest::AddPort { port, .. }) = req(&[
            "add-port",
            "b",
            "c",
            "type=pcap",
            "options:rxq_pcap=/in",
            "trunks=1,2,3",
        ]) else {
            panic!()
        };
        assert_eq!(port.options.rxq_pcap, Some(PathBuf::from("/in")));
        assert_eq!(port.trunks, Some(vec![1, 2, 3]));
    }

    #[test]
    fn bad_command_lines_say_why() {
        for (args, needle) in [
            (&["frob"][..], "unknown command 'frob'"),
            (&[][..], "no command"),
            (&["add-br"][..], "takes 1 argument"),
            (&["add-br", "a", "b"][..], "takes 1 argument"),
            (&["add-port", "br0"][..], "at least 2"),
            (&["add-port", "br0", "p", "tag=5000"][..], "tag"),
            (
                &["add-port", "br0", "p", "type=vxlan"][..],
                "unknown port type",
            ),
            (
                &["add-port", "br0", "p", "color=red"][..],
                "unknown setting",
            ),
            (
                &[
                    "add-port",
                    "br0",
                    "p",
                    "--",
                    "set",
                    "Interface",
                    "q",
                    "type=tap",
                ][..],
                "does not name",
            ),
            (&["set-fail-mode", "br0", "loud"][..], "fail mode"),
            (&["set-controller", "br0", "nonsense"][..], "controller"),
            (&["set-dp", "flow-limit=x"][..], "flow-limit"),
            (&["--bogus", "show"][..], "unknown option"),
            (&["--timeout", "-1", "show"][..], "--timeout"),
            (&["show", "extra"][..], "no arguments"),
        ] {
            let e = req(args).err().unwrap_or_default();
            assert!(e.contains(needle), "{args:?}: {e}");
        }
    }

    #[test]
    fn del_port_with_and_without_bridge() {
        assert_eq!(
            req(&["--if-exists", "del-port", "p1"]),
            Ok(CtlRequest::DelPort {
                bridge: None,
                port: "p1".into(),
                if_exists: true
            })
        );
        assert_eq!(
            req(&["del-port", "br0", "p1"]),
            Ok(CtlRequest::DelPort {
                bridge: Some("br0".into()),
                port: "p1".into(),
                if_exists: false
            })
        );
    }
}
