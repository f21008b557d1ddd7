//! The stored configuration: bridges, ports, controllers, fail modes and
//! datapath settings, kept as one JSON file in the state directory.
//!
//! The file is replaced atomically (write a temporary file, fsync, rename,
//! fsync the directory), so a crash leaves either the old or the new file.
//! A file that does not parse or does not validate is refused with its path
//! and the reason, and is never rewritten by the daemon that refused it.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Version of the file layout written by this build.
pub const CONFIG_VERSION: u32 = 1;
/// Name of the configuration file inside the state directory.
pub const CONFIG_FILE: &str = "conf.json";
/// Highest OpenFlow port number a port may have (OFPP_MAX - 1).
pub const OFPORT_MAX: u32 = 0xfeff;

/// The whole stored configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub version: u32,
    #[serde(default)]
    pub datapath: DatapathSettings,
    #[serde(default)]
    pub bridges: Vec<BridgeConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            version: CONFIG_VERSION,
            datapath: DatapathSettings::default(),
            bridges: Vec::new(),
        }
    }
}

/// Datapath-wide settings (Open vSwitch's `other_config` of the same names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct DatapathSettings {
    /// Most megaflows in the cache (applies at once).
    pub flow_limit: usize,
    /// Megaflows idle longer than this many ms are removed (applies at once).
    pub max_idle: u64,
    /// Upcall handler threads (applies at the next start).
    pub n_handler_threads: usize,
    /// Poll without sleeping (burns a core; applies at once).
    pub busy_poll: bool,
    /// EMC insertion probability is 1 in this (0 disables the EMC; applies at
    /// once). None keeps the datapath's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emc_insert_inv_prob: Option<u32>,
    /// Upcall queue length (applies at the next start).
    pub upcall_queue: usize,
    /// Execute queue length (applies at the next start).
    pub execute_queue: usize,
    /// Open vSwitch's tc-policy for offloaded flows: none, skip_sw or
    /// skip_hw (applies to flows offloaded from then on).
    pub tc_policy: String,
    /// A megaflow is offloaded once it counted this many packets
    /// (applies at once).
    pub offload_min_packets: u64,
    /// ...and is at least this old (ms; 0: at once).
    pub offload_min_age: u64,
}

impl Default for DatapathSettings {
    fn default() -> Self {
        DatapathSettings {
            flow_limit: 200_000,
            max_idle: 10_000,
            n_handler_threads: 1,
            busy_poll: false,
            emc_insert_inv_prob: None,
            upcall_queue: 4096,
            execute_queue: 4096,
            tc_policy: "none".into(),
            offload_min_packets: 2,
            offload_min_age: 0,
        }
    }
}

/// One datapath setting, as `set-dp KEY=VALUE` names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "key", content = "value")]
pub enum DpSetting {
    FlowLimit(usize),
    MaxIdle(u64),
    NHandlerThreads(usize),
    BusyPoll(bool),
    EmcInsertInvProb(u32),
    UpcallQueue(usize),
    ExecuteQueue(usize),
    TcPolicy(String),
    OffloadMinPackets(u64),
    OffloadMinAge(u64),
}

impl DpSetting {
    /// The keys `set-dp` accepts.
    pub const KEYS: &'static [&'static str] = &[
        "flow-limit",
        "max-idle",
        "n-handler-threads",
        "busy-poll",
        "emc-insert-inv-prob",
        "upcall-queue",
        "execute-queue",
        "tc-policy",
        "offload-min-packets",
        "offload-min-age",
    ];

    /// Parses `KEY=VALUE`.
    pub fn parse(s: &str) -> Result<DpSetting, String> {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| format!("\"{s}\": expected KEY=VALUE"))?;
        let num = |v: &str| -> Result<u64, String> {
            v.parse::<u64>()
                .map_err(|_| format!("{k}: \"{v}\" is not a non-negative integer"))
        };
        let size = |v: &str| -> Result<usize, String> {
            num(v).and_then(|n| usize::try_from(n).map_err(|_| format!("{k}: {n} is too large")))
        };
        Ok(match k {
            "flow-limit" => DpSetting::FlowLimit(size(v)?),
            "max-idle" => DpSetting::MaxIdle(num(v)?),
            "n-handler-threads" => DpSetting::NHandlerThreads(size(v)?),
            "busy-poll" => DpSetting::BusyPoll(match v {
                "true" => true,
                "false" => false,
                _ => return Err(format!("busy-poll: \"{v}\" is not true or false")),
            }),
            "emc-insert-inv-prob" => DpSetting::EmcInsertInvProb(
                u32::try_from(num(v)?).map_err(|_| format!("{k}: \"{v}\" is too large"))?,
            ),
            "upcall-queue" => DpSetting::UpcallQueue(size(v)?),
            "execute-queue" => DpSetting::ExecuteQueue(size(v)?),
            "tc-policy" => match oxvs_offload::TcPolicy::parse(v) {
                Some(p) => DpSetting::TcPolicy(p.as_str().to_string()),
                None => {
                    return Err(format!(
                        "tc-policy: \"{v}\" is not none, skip_sw or skip_hw"
                    ))
                }
            },
            "offload-min-packets" => DpSetting::OffloadMinPackets(num(v)?.max(1)),
            "offload-min-age" => DpSetting::OffloadMinAge(num(v)?),
            _ => {
                return Err(format!(
                    "unknown datapath setting \"{k}\" (known: {})",
                    DpSetting::KEYS.join(", ")
                ))
            }
        })
    }

    /// True if the running daemon applies it at once.
    pub fn is_live(&self) -> bool {
        matches!(
            self,
            DpSetting::FlowLimit(_)
                | DpSetting::MaxIdle(_)
                | DpSetting::BusyPoll(_)
                | DpSetting::EmcInsertInvProb(_)
                | DpSetting::TcPolicy(_)
                | DpSetting::OffloadMinPackets(_)
                | DpSetting::OffloadMinAge(_)
        )
    }

    /// Writes the setting into `s`.
    pub fn apply(&self, s: &mut DatapathSettings) {
        match *self {
            DpSetting::TcPolicy(ref v) => s.tc_policy = v.clone(),
            DpSetting::OffloadMinPackets(v) => s.offload_min_packets = v,
            DpSetting::OffloadMinAge(v) => s.offload_min_age = v,
            DpSetting::FlowLimit(v) => s.flow_limit = v,
            DpSetting::MaxIdle(v) => s.max_idle = v,
            DpSetting::NHandlerThreads(v) => s.n_handler_threads = v,
            DpSetting::BusyPoll(v) => s.busy_poll = v,
            DpSetting::EmcInsertInvProb(v) => s.emc_insert_inv_prob = Some(v),
            DpSetting::UpcallQueue(v) => s.upcall_queue = v,
            DpSetting::ExecuteQueue(v) => s.execute_queue = v,
        }
    }
}

/// What a bridge does when it has controllers but none is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Act as a MAC-learning switch.
    Standalone,
    /// Forward only by the flows already installed.
    Secure,
}

impl FailMode {
    pub fn parse(s: &str) -> Result<FailMode, String> {
        match s {
            "standalone" => Ok(FailMode::Standalone),
            "secure" => Ok(FailMode::Secure),
            _ => Err(format!(
                "fail mode must be \"standalone\" or \"secure\", not \"{s}\""
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            FailMode::Standalone => "standalone",
            FailMode::Secure => "secure",
        }
    }
}

/// A bridge and its ports (the LOCAL port, named after the bridge, is
/// implicit and not listed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeConfig {
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controllers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_mode: Option<FailMode>,
    #[serde(default)]
    pub ports: Vec<PortConfig>,
}

impl BridgeConfig {
    pub fn new(name: &str) -> BridgeConfig {
        BridgeConfig {
            name: name.to_string(),
            controllers: Vec::new(),
            fail_mode: None,
            ports: Vec::new(),
        }
    }
}

/// Kinds of port (Open vSwitch's Interface `type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortType {
    /// An existing Linux interface, through an AF_PACKET socket.
    #[default]
    System,
    /// A tap device the switch creates and owns (like the bridge's LOCAL port).
    Internal,
    /// A tap device, created if missing, left administratively as it is.
    Tap,
    /// Frames read from and written to pcap files.
    Pcap,
}

impl PortType {
    pub fn parse(s: &str) -> Result<PortType, String> {
        match s {
            "system" | "" => Ok(PortType::System),
            "internal" => Ok(PortType::Internal),
            "tap" => Ok(PortType::Tap),
            "pcap" => Ok(PortType::Pcap),
            _ => Err(format!(
                "unknown port type \"{s}\" (known: system, internal, tap, pcap)"
            )),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            PortType::System => "system",
            PortType::Internal => "internal",
            PortType::Tap => "tap",
            PortType::Pcap => "pcap",
        }
    }
}

/// Options of a port (Open vSwitch's Interface `options`). Only pcap ports
/// have any: `rxq_pcap` is replayed as input, `pcap` receives the output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rxq_pcap: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcap: Option<PathBuf>,
    /// Offload this system port's established megaflows to tc flower
    /// (the kernel must have cls_flower; else the port runs in software).
    #[serde(default, rename = "hw-offload", skip_serializing_if = "is_false")]
    pub hw_offload: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl PortOptions {
    pub fn is_empty(&self) -> bool {
        self.rxq_pcap.is_none() && self.pcap.is_none() && !self.hw_offload
    }
}

/// One port of a bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    pub name: String,
    /// OpenFlow port number, kept across restarts.
    pub ofport: u32,
    #[serde(rename = "type", default)]
    pub port_type: PortType,
    #[serde(default, skip_serializing_if = "PortOptions::is_empty")]
    pub options: PortOptions,
    /// Access VLAN; None: a trunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    /// VLANs a trunk carries; None: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunks: Option<Vec<u16>>,
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "configuration {path} is not valid JSON for oxvs (line {line}, column {column}): {msg}"
    )]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        msg: String,
    },
    #[error("configuration {path} is invalid: {msg}")]
    InvalidFile { path: PathBuf, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error("cannot write configuration {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks a Linux interface name (also used for bridge and port names, since
/// every bridge and most ports are interfaces): 1 to 15 bytes, none of '/',
/// ':', whitespace or NUL, and not "." or "..".
pub fn check_ifname(kind: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{kind} name must not be empty"));
    }
    if name.len() > 15 {
        return Err(format!(
            "{kind} name \"{name}\" is longer than 15 bytes (the Linux interface name limit)"
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{kind} name \"{name}\" is not allowed"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{kind} name \"{}\" contains {c:?}, which interface names cannot",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// Checks a controller target the way `ovs-vsctl set-controller` takes it:
/// `tcp:IP[:PORT]`, `ssl:IP[:PORT]`, `unix:PATH`, `ptcp:[PORT][:IP]`,
/// `pssl:[PORT][:IP]`, `punix:PATH`.
pub fn check_controller(target: &str) -> Result<(), String> {
    let (method, rest) = target.split_once(':').ok_or_else(|| {
        format!("controller \"{target}\": expected tcp:IP[:PORT], ssl:IP[:PORT], unix:PATH, ptcp:[PORT][:IP], pssl:[PORT][:IP] or punix:PATH")
    })?;
    let port_ok = |p: &str| p.is_empty() || p.parse::<u16>().is_ok();
    let ok = match method {
        "unix" | "punix" => !rest.is_empty(),
        "tcp" | "ssl" => {
            let (host, port) = split_host_port(rest);
            !host.is_empty() && port_ok(port)
        }
        "ptcp" | "pssl" => {
            let (port, _ip) = rest.split_once(':').unwrap_or((rest, ""));
            port_ok(port)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("controller \"{target}\" is not a valid target"))
    }
}

/// Splits `IP:PORT`, `[IPv6]:PORT`, `IP` or `[IPv6]`.
fn split_host_port(s: &str) -> (&str, &str) {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((h, p)) = rest.split_once(']') {
            return (h, p.strip_prefix(':').unwrap_or(p));
        }
        return (s, "");
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (s, ""),
    }
}

fn check_vlan(v: u16, what: &str) -> Result<(), String> {
    if v > 4095 {
        Err(format!("{what} {v} is out of range (0-4095)"))
    } else {
        Ok(())
    }
}

impl PortConfig {
    /// Checks the port on its own (names, VLANs, options).
    pub fn validate(&self) -> Result<(), String> {
        check_ifname("port", &self.name)?;
        if self.ofport == 0 || self.ofport > OFPORT_MAX {
            return Err(format!(
                "port {}: OpenFlow port number {} is out of range (1-{OFPORT_MAX})",
                self.name, self.ofport
            ));
        }
        if let Some(t) = self.tag {
            check_vlan(t, &format!("port {}: tag", self.name))?;
        }
        if let Some(tr) = &self.trunks {
            if self.tag.is_some() {
                return Err(format!(
                    "port {}: an access port (tag) cannot also have trunks",
                    self.name
                ));
            }
            for v in tr {
                check_vlan(*v, &format!("port {}: trunk VLAN", self.name))?;
            }
        }
        match self.port_type {
            PortType::Pcap => {
                if self.options.is_empty() {
                    return Err(format!(
                        "port {}: a pcap port needs options:rxq_pcap=FILE and/or options:pcap=FILE",
                        self.name
                    ));
                }
                for p in [&self.options.rxq_pcap, &self.options.pcap]
                    .into_iter()
                    .flatten()
                {
                    if p.as_os_str().is_empty() {
                        return Err(format!("port {}: empty pcap file name", self.name));
                    }
                }
            }
            t if self.options.rxq_pcap.is_some() || self.options.pcap.is_some() => {
                return Err(format!(
                    "port {}: options rxq_pcap and pcap are for type pcap, not {}",
                    self.name,
                    t.as_str()
                ))
            }
            _ => {}
        }
        if self.options.hw_offload && self.port_type != PortType::System {
            return Err(format!(
                "port {}: hw-offload is for system ports, not {}",
                self.name,
                self.port_type.as_str()
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Checks the whole configuration: version, names unique across bridges
    /// and ports (a bridge's name is its LOCAL port's), port numbers unique
    /// per bridge, settings in range.
    pub fn validate(&self) -> Result<(), String> {
        if self.version != CONFIG_VERSION {
            return Err(format!(
                "version {} is not supported (this oxvs reads version {CONFIG_VERSION})",
                self.version
            ));
        }
        let d = &self.datapath;
        if d.flow_limit == 0 {
            return Err("flow-limit must be at least 1".into());
        }
        if d.n_handler_threads == 0 || d.n_handler_threads > 64 {
            return Err("n-handler-threads must be between 1 and 64".into());
        }
        if d.upcall_queue == 0 || d.execute_queue == 0 {
            return Err("upcall-queue and execute-queue must be at least 1".into());
        }
        if d.upcall_queue > 1 << 20 || d.execute_queue > 1 << 20 {
            return Err("upcall-queue and execute-queue must be at most 1048576".into());
        }
        if oxvs_offload::TcPolicy::parse(&d.tc_policy).is_none() {
            return Err(format!(
                "tc-policy \"{}\" is not none, skip_sw or skip_hw",
                d.tc_policy
            ));
        }
        if d.offload_min_packets == 0 {
            return Err("offload-min-packets must be at least 1".into());
        }
        let mut names: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
        for b in &self.bridges {
            check_ifname("bridge", &b.name)?;
            if let Some(owner) = names.insert(&b.name, &b.name) {
                return Err(if owner == b.name {
                    format!("bridge {} is listed twice", b.name)
                } else {
                    format!("bridge {} has the name of a port of bridge {owner}", b.name)
                });
            }
            for c in &b.controllers {
                check_controller(c).map_err(|e| format!("bridge {}: {e}", b.name))?;
            }
        }
        for b in &self.bridges {
            let mut ofports = std::collections::HashSet::new();
            for p in &b.ports {
                p.validate()
                    .map_err(|e| format!("bridge {}: {e}", b.name))?;
                if let Some(owner) = names.insert(&p.name, &b.name) {
                    return Err(format!(
                        "bridge {}: port name {} is already used by bridge {owner}",
                        b.name, p.name
                    ));
                }
                if !ofports.insert(p.ofport) {
                    return Err(format!(
                        "bridge {}: OpenFlow port number {} is used twice",
                        b.name, p.ofport
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn bridge(&self, name: &str) -> Option<&BridgeConfig> {
        self.bridges.iter().find(|b| b.name == name)
    }

    pub fn bridge_mut(&mut self, name: &str) -> Option<&mut BridgeConfig> {
        self.bridges.iter_mut().find(|b| b.name == name)
    }

    /// The bridge holding port `port`, and the port.
    pub fn find_port(&self, port: &str) -> Option<(&BridgeConfig, &PortConfig)> {
        self.bridges
            .iter()
            .find_map(|b| b.ports.iter().find(|p| p.name == port).map(|p| (b, p)))
    }

    /// Parses and validates configuration text; `path` names it in errors.
    pub fn from_json(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = serde_json::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            msg: e.to_string(),
        })?;
        cfg.validate().map_err(|msg| ConfigError::InvalidFile {
            path: path.to_path_buf(),
            msg,
        })?;
        Ok(cfg)
    }

    /// Reads the configuration at `path`; Ok(None) if there is no file yet.
    pub fn load(path: &Path) -> Result<Option<Config>, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        Config::from_json(&text, path).map(Some)
    }

    /// The file's text: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        // Serializing plain structs of strings and numbers cannot fail.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Validates, then replaces the file at `path` atomically.
    pub fn store(&self, path: &Path) -> Result<(), ConfigError> {
        self.validate().map_err(ConfigError::Invalid)?;
        write_atomically(path, self.to_json().as_bytes()).map_err(|e| ConfigError::Write {
            path: path.to_path_buf(),
            source: e,
        })
    }
}

/// Writes `data` to `path` through a temporary file in the same directory,
/// fsynced and renamed over `path`, then fsyncs the directory.
pub fn write_atomically(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(name: &str, ofport: u32) -> PortConfig {
        PortConfig {
            name: name.into(),
            ofport,
            port_type: PortType::System,
            options: PortOptions::default(),
            tag: None,
            trunks: None,
        }
    }

    fn sample() -> Config {
        let mut b = BridgeConfig::new("br0");
        b.controllers.push("tcp:127.0.0.1:6653".into());
        b.fail_mode = Some(FailMode::Secure);
        b.ports.push(port("veth1", 1));
        let mut p = port("cap", 2);
        p.port_type = PortType::Pcap;
        p.options.rxq_pcap = Some("/tmp/in.pcap".into());
        p.tag = Some(10);
        b.ports.push(p);
        Config {
            bridges: vec![b],
            ..Config::default()
        }
    }

    #[test]
    fn round_trips_through_json() {
        let c = sample();
        let back =
            Config::from_json(&c.to_json(), Path::new("x")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, c);
    }

    #[test]
    fn parse_errors_name_the_file_and_position() {
        let e = Config::from_json(
            "{\"version\": 1,\n  \"bridges\": [}",
            Path::new("/s/conf.json"),
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("/s/conf.json") && e.contains("line 2"), "{e}");
        let e = Config::from_json("{\"version\": 1, \"bridgez\": []}", Path::new("c"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("unknown field `bridgez`"), "{e}");
    }

    #[test]
    fn validation_catches_duplicates_and_ranges() {
        let mut c = sample();
        c.bridges[0].ports.push(port("veth1", 3));
        assert!(c.validate().unwrap_err().contains("veth1"));

        let mut c = sample();
        c.bridges[0].ports.push(port("veth9", 1));
        assert!(c.validate().unwrap_err().contains("used twice"));

        let mut c = sample();
        c.bridges.push(BridgeConfig::new("veth1"));
        assert!(c.validate().is_err());

        let mut c = sample();
        c.bridges[0].ports[0].tag = Some(4096);
        assert!(c.validate().unwrap_err().contains("4096"));

        let mut c = sample();
        c.bridges[0].ports[0].ofport = 0;
        assert!(c.validate().is_err());

        let mut c = sample();
        c.bridges[0].controllers.push("bogus".into());
        assert!(c.validate().is_err());

        let mut c = sample();
        c.version = 7;
        assert!(c.validate().unwrap_err().contains("version 7"));
    }

    #[test]
    fn interface_names_follow_linux_rules() {
        assert!(check_ifname("port", "eth0").is_ok());
        assert!(check_ifname("port", "abcdefghijklmno").is_ok());
        for bad in ["", "abcdefghijklmnop", "a/b", "a b", "a:b", ".", ".."] {
            assert!(check_ifname("port", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn controllers_are_checked() {
        for ok in [
            "tcp:127.0.0.1:6653",
            "tcp:10.0.0.1",
            "tcp:[::1]:6653",
            "ssl:1.2.3.4:6653",
            "unix:/run/c.sock",
            "ptcp:6653",
            "ptcp:6653:127.0.0.1",
            "ptcp:",
            "punix:/tmp/x",
        ] {
            assert!(check_controller(ok).is_ok(), "{ok}");
        }
        for bad in ["tcp:", "tcp:1.2.3.4:99999", "udp:1.2.3.4", "unix:", "6653"] {
            assert!(check_controller(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dp_settings_parse() {
        assert_eq!(
            DpSetting::parse("flow-limit=10"),
            Ok(DpSetting::FlowLimit(10))
        );
        assert_eq!(
            DpSetting::parse("busy-poll=true"),
            Ok(DpSetting::BusyPoll(true))
        );
        assert!(DpSetting::parse("flow-limit=-1").is_err());
        assert!(DpSetting::parse("nope=1").is_err());
        assert!(DpSetting::parse("flow-limit").is_err());
    }

    #[test]
    fn store_is_atomic_and_load_reads_it_back() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(CONFIG_FILE);
        assert!(matches!(Config::load(&path), Ok(None)));
        let c = sample();
        c.store(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Config::load(&path).ok().flatten(), Some(c.clone()));
        // No temporary files stay behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(CONFIG_FILE)]);
        // An invalid config is refused and the file stays as it was.
        let mut bad = c.clone();
        bad.bridges[0].ports[0].ofport = 0;
        assert!(bad.store(&path).is_err());
        assert_eq!(Config::load(&path).ok().flatten(), Some(c));
    }
}
