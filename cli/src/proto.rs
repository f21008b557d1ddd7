//! The control protocol between `oxvsctl` and `oxvsd`: one JSON request
//! line, one JSON response line, over the unix socket `<rundir>/oxvsd.ctl`.
//!
//! The daemon decodes each line into a typed [`CtlRequest`] and nothing
//! else; the answer is a [`CtlResponse`], data or error, which the client
//! renders (see [`crate::display`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{DatapathSettings, DpSetting, FailMode, PortOptions, PortType};

/// Name of the control socket inside the run directory.
pub const CONTROL_SOCKET: &str = "oxvsd.ctl";
/// Longest request or response line accepted (a flow dump can be long).
pub const MAX_LINE: u64 = 256 << 20;

/// The control socket of the daemon using `rundir`.
pub fn socket_path(rundir: &Path) -> PathBuf {
    rundir.join(CONTROL_SOCKET)
}

/// A port to add, as `add-port` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortSpec {
    pub name: String,
    #[serde(rename = "type", default)]
    pub port_type: PortType,
    #[serde(default)]
    pub options: PortOptions,
    /// Requested OpenFlow port number (`ofport_request`); None: the lowest free.
    #[serde(default)]
    pub ofport: Option<u32>,
    #[serde(default)]
    pub tag: Option<u16>,
    #[serde(default)]
    pub trunks: Option<Vec<u16>>,
}

/// Everything the daemon can be asked. Each variant says when it is allowed
/// to fail; all of them may be sent at any time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "kebab-case", deny_unknown_fields)]
pub enum CtlRequest {
    /// Creates a bridge and its LOCAL port. Fails if it exists (unless
    /// `may_exist`), if the name is taken by a port, or if the LOCAL tap
    /// cannot be created.
    AddBr {
        bridge: String,
        #[serde(default)]
        may_exist: bool,
    },
    /// Deletes a bridge with all its ports. Fails if it does not exist
    /// (unless `if_exists`).
    DelBr {
        bridge: String,
        #[serde(default)]
        if_exists: bool,
    },
    ListBr,
    /// Adds a port. Fails if the bridge is missing, the name is taken, or
    /// the device cannot be opened; the stored config is then unchanged.
    AddPort {
        bridge: String,
        port: PortSpec,
        #[serde(default)]
        may_exist: bool,
    },
    /// Deletes a port (from `bridge` if given, else from whichever bridge
    /// has it). The LOCAL port goes only with its bridge.
    DelPort {
        #[serde(default)]
        bridge: Option<String>,
        port: String,
        #[serde(default)]
        if_exists: bool,
    },
    ListPorts {
        bridge: String,
    },
    SetController {
        bridge: String,
        targets: Vec<String>,
    },
    DelController {
        bridge: String,
    },
    GetController {
        bridge: String,
    },
    SetFailMode {
        bridge: String,
        mode: FailMode,
    },
    DelFailMode {
        bridge: String,
    },
    GetFailMode {
        bridge: String,
    },
    /// Changes datapath settings; some apply at once, others at restart.
    SetDp {
        settings: Vec<DpSetting>,
    },
    GetDp,
    Show,
    /// `dpctl/dump-flows`: the datapath's megaflows. `names`: ports by name.
    DumpFlows {
        #[serde(default)]
        names: bool,
        /// Some(true): only flows in tc; Some(false): only flows not in tc.
        #[serde(default)]
        offloaded: Option<bool>,
    },
    /// `dpctl/del-flows`: empties the megaflow cache.
    DelFlows,
    /// `upcall/show`.
    UpcallShow,
    /// `offload/show`: tc capabilities and each megaflow's placement.
    OffloadShow,
    /// `ofproto/trace BRIDGE FLOW`: the tables a packet with these fields
    /// would go through, and the megaflow it would get (nothing installed).
    OfprotoTrace {
        bridge: String,
        flow: String,
    },
    /// Changes a port's settings (the port reopens with them).
    SetPort {
        port: String,
        #[serde(default)]
        hw_offload: Option<bool>,
    },
    /// `coverage/show`.
    CoverageShow,
    /// `fdb/show BRIDGE`: the learned MAC table.
    FdbShow {
        bridge: String,
    },
    /// `fdb/flush [BRIDGE]`.
    FdbFlush {
        #[serde(default)]
        bridge: Option<String>,
    },
    /// Stops the daemon (after answering).
    Exit,
}

/// A port's link state as `show` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    Up,
    /// The device went away or stopped working; the reason if known.
    Down(Option<String>),
    /// The port could not be opened.
    Error(String),
}

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounters {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowPort {
    pub name: String,
    /// OpenFlow port number (0xfffffffe is LOCAL).
    pub ofport: u32,
    pub dp_port: Option<u32>,
    #[serde(rename = "type")]
    pub port_type: PortType,
    pub options: PortOptions,
    pub tag: Option<u16>,
    pub trunks: Option<Vec<u16>>,
    pub link: LinkState,
    pub stats: Option<PortCounters>,
}

/// A controller target and what the daemon does with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowController {
    pub target: String,
    pub state: ControllerState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControllerState {
    /// A passive target (ptcp:, punix:) the bridge listens on.
    Listening,
    /// The listener could not start (or stopped), or the target is not
    /// used (ssl:): why.
    Failed(String),
    /// An active target (tcp:, unix:) the bridge connects to.
    Active(ActiveControllerState),
    /// Stored, but this version does not act on it (why).
    NotImplemented(String),
}

/// An active controller's connection, as Open vSwitch's Controller table
/// reports it (`is_connected`, `status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveControllerState {
    /// Connected, the hello exchange done.
    pub is_connected: bool,
    /// BACKOFF (waiting to retry), CONNECTING or ACTIVE.
    pub state: String,
    /// Why the last attempt or connection failed.
    pub last_error: Option<String>,
    /// Seconds since the last connection was made / lost.
    pub sec_since_connect: Option<u64>,
    pub sec_since_disconnect: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowBridge {
    pub name: String,
    /// Where `ovs-ofctl` reaches the bridge (`unix:<rundir>/<bridge>.mgmt`).
    pub mgmt: String,
    pub controllers: Vec<ShowController>,
    pub fail_mode: Option<FailMode>,
    pub ports: Vec<ShowPort>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowData {
    pub version: String,
    pub datapath: String,
    /// Whether the daemon serves OpenFlow connections to controllers.
    pub openflow: bool,
    pub bridges: Vec<ShowBridge>,
}

/// One megaflow as `dpctl/dump-flows` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpFlow {
    /// The match, in datapath flow syntax.
    #[serde(rename = "match")]
    pub matches: String,
    pub packets: u64,
    pub bytes: u64,
    /// Milliseconds since the last hit; None: never hit.
    pub used_ms_ago: Option<u64>,
    /// TCP flags seen (OR of all packets).
    pub tcp_flags: u16,
    pub actions: String,
}

/// `offload/show`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffloadData {
    /// `None` if the kernel has cls_flower; else why not.
    pub flower_error: Option<String>,
    /// The tc actions the kernel has.
    pub actions: Vec<String>,
    pub tc_policy: String,
    pub min_packets: u64,
    pub min_age_ms: u64,
    /// Ports whose ingress oxvs owns: name and ifindex.
    pub ports: Vec<(String, u32)>,
    pub flows: Vec<OffloadFlow>,
    pub installed: u64,
    pub removed: u64,
    pub refused: u64,
    pub kernel_errors: u64,
    pub healed: u64,
    pub tc_packets: u64,
}

/// One megaflow and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffloadFlow {
    pub flow: DpFlow,
    /// "in_hw", "tc" (tc's software path) or "none".
    pub placement: String,
    /// Why it is not offloaded.
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpcallData {
    pub datapath: String,
    pub flows: usize,
    pub flow_limit: usize,
    pub max_idle_ms: u64,
    pub handlers: usize,
    pub upcalls_handled: u64,
    pub upcalls_pending: usize,
    pub upcalls_lost: u64,
    pub installs: u64,
    pub install_failures: u64,
    pub revalidator_passes: u64,
    pub idle_expired: u64,
    pub limit_evicted: u64,
    pub stale_removed: u64,
    pub orphans_removed: u64,
    pub last_pass_us: u64,
}

/// One counter with its average rates, as `coverage/show` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoverageLine {
    pub name: String,
    pub rate_5s: f64,
    pub rate_1m: f64,
    pub rate_1h: f64,
    pub total: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    /// OpenFlow port number (0xfffffffe is LOCAL).
    pub port: u32,
    pub vlan: u16,
    pub mac: String,
    pub age_s: u64,
}

/// What a successful request returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum CtlData {
    /// Done; `note` tells something the user should know (e.g. "applies at
    /// the next start").
    Done {
        note: Option<String>,
    },
    /// Names, one per line (list-br, list-ports, get-controller).
    Names(Vec<String>),
    FailMode(Option<FailMode>),
    Datapath(DatapathSettings),
    Show(ShowData),
    Flows(Vec<DpFlow>),
    Upcall(UpcallData),
    Offload(OffloadData),
    /// Text laid out by the daemon (ofproto/trace).
    Text(String),
    Coverage(Vec<CoverageLine>),
    Fdb(Vec<FdbEntry>),
}

/// Broad classes of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request could not be decoded or has invalid values.
    BadRequest,
    NotFound,
    AlreadyExists,
    /// A device or file could not be opened, or the config not written.
    Failed,
    /// The daemon is stopping or one of its threads did not answer.
    Unavailable,
}

/// A failed request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CtlError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CtlError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CtlError {
        CtlError {
            kind,
            message: message.into(),
        }
    }
    pub fn bad(message: impl Into<String>) -> CtlError {
        CtlError::new(ErrorKind::BadRequest, message)
    }
    pub fn not_found(message: impl Into<String>) -> CtlError {
        CtlError::new(ErrorKind::NotFound, message)
    }
    pub fn exists(message: impl Into<String>) -> CtlError {
        CtlError::new(ErrorKind::AlreadyExists, message)
    }
    pub fn failed(message: impl Into<String>) -> CtlError {
        CtlError::new(ErrorKind::Failed, message)
    }
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtlResponse {
    Ok(CtlData),
    Error(CtlError),
}

impl From<Result<CtlData, CtlError>> for CtlResponse {
    fn from(r: Result<CtlData, CtlError>) -> Self {
        match r {
            Ok(d) => CtlResponse::Ok(d),
            Err(e) => CtlResponse::Error(e),
        }
    }
}

/// Why talking to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to oxvsd at {path}: {source} (is oxvsd running with this --rundir?)")]
    Connect {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("lost the connection to oxvsd: {0}")]
    Io(#[from] io::Error),
    #[error("oxvsd sent an answer this oxvsctl does not understand: {0}")]
    Decode(String),
    #[error("oxvsd closed the connection without answering")]
    NoAnswer,
}

/// Encodes a value as one JSON line.
pub fn encode_line<T: Serialize>(v: &T) -> Vec<u8> {
    // Our request and response types always serialize.
    let mut b = serde_json::to_vec(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// Reads one line of at most [`MAX_LINE`] bytes; None at end of stream.
pub fn read_line(r: impl Read) -> io::Result<Option<String>> {
    let mut reader = BufReader::new(r.take(MAX_LINE));
    let mut line = String::new();
    let n = reader.read_line(&mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if !line.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "line too long or not terminated",
        ));
    }
    Ok(Some(line))
}

/// Sends `req` to the daemon of `rundir` and waits up to `timeout` for the
/// answer.
pub fn call(
    rundir: &Path,
    req: &CtlRequest,
    timeout: Duration,
) -> Result<CtlResponse, ClientError> {
    let path = socket_path(rundir);
    let mut s = UnixStream::connect(&path).map_err(|e| ClientError::Connect {
        path: path.clone(),
        source: e,
    })?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(&encode_line(req))?;
    s.flush()?;
    let line = read_line(&s)?.ok_or(ClientError::NoAnswer)?;
    serde_json::from_str(&line).map_err(|e| ClientError::Decode(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        let reqs = vec![
            CtlRequest::AddBr {
                bridge: "br0".into(),
                may_exist: true,
            },
            CtlRequest::AddPort {
                bridge: "br0".into(),
                port: PortSpec {
                    name: "p1".into(),
                    port_type: PortType::Pcap,
                    options: PortOptions {
                        rxq_pcap: Some("/x".into()),
                        pcap: None,
                        hw_offload: false,
                    },
                    ofport: Some(3),
                    tag: Some(5),
                    trunks: None,
                },
                may_exist: false,
            },
            CtlRequest::SetDp {
                settings: vec![DpSetting::FlowLimit(5), DpSetting::BusyPoll(false)],
            },
            CtlRequest::Show,
            CtlRequest::DumpFlows {
                names: false,
                offloaded: Some(true),
            },
        ];
        for r in reqs {
            let line = encode_line(&r);
            let back: CtlRequest =
                serde_json::from_slice(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            assert_eq!(back, r);
        }
    }

    #[test]
    fn unknown_verbs_and_fields_are_refused() {
        assert!(serde_json::from_str::<CtlRequest>(r#"{"verb":"frob"}"#).is_err());
        assert!(
            serde_json::from_str::<CtlRequest>(r#"{"verb":"add-br","bridge":"b","x":1}"#).is_err()
        );
        assert!(serde_json::from_str::<CtlRequest>(r#"{"verb":"show"}"#).is_ok());
    }

    #[test]
    fn responses_round_trip() {
        let r = CtlResponse::Error(CtlError::not_found("no bridge named x"));
        let back: CtlResponse =
            serde_json::from_slice(&encode_line(&r)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
        let r = CtlResponse::Ok(CtlData::Done { note: None });
        let back: CtlResponse =
            serde_json::from_slice(&encode_line(&r)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
    }
}
