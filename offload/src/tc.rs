//! A small synchronous rtnetlink socket for tc: the clsact qdisc and flower
//! filters on a device's ingress, with the kernel's errno and extended-ack
//! message kept so that a refusal can be shown to the user as the reason.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::tc::{
    TcAction, TcActionAttribute, TcActionMirrorOption, TcActionOption, TcAttribute,
    TcFilterFlowerOption, TcHandle, TcHeader, TcMessage, TcOption, TcStats2,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// `tcm_parent` of filters on a clsact qdisc's ingress hook.
pub const INGRESS_PARENT: u32 = 0xFFFF_FFF2;
/// `tcm_parent` / handle of the clsact qdisc itself.
const CLSACT_PARENT: u32 = 0xFFFF_FFF1;
const CLSACT_HANDLE: u32 = 0xFFFF_0000;
/// Every oxvs filter matches all protocols at the tc level and says its
/// ethertype in the flower key, so that filters of any kind can share one
/// priority.
pub const ETH_P_ALL: u16 = 0x0003;
/// Centiseconds: the unit of `tcf_t` times (USER_HZ).
const MS_PER_TICK: u64 = 10;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_CAPPED: u16 = 0x100;
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub enum TcError {
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("{}", describe(*errno, msg.as_deref()))]
    Kernel { errno: i32, msg: Option<String> },
    #[error("cannot decode the kernel's answer: {0}")]
    Decode(String),
}

fn describe(errno: i32, msg: Option<&str>) -> String {
    let os = std::io::Error::from_raw_os_error(errno);
    match msg {
        Some(m) => format!("{m} ({os})"),
        None => os.to_string(),
    }
}

impl TcError {
    /// The kernel's errno, if the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            TcError::Kernel { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// One filter as a dump shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterInfo {
    pub prio: u16,
    pub handle: u32,
    pub chain: u32,
    /// Packets and bytes of the filter's first action (the filter's hits).
    pub packets: u64,
    pub bytes: u64,
    /// How long ago the filter last forwarded a packet (ms); `None` if it
    /// never did or the kernel did not say.
    pub last_used_ago_ms: Option<u64>,
    /// TCA_CLS_FLAGS_* (skip_hw 1, skip_sw 2, in_hw 4, not_in_hw 8).
    pub flags: u32,
    /// The cookie of the first action (oxvs marks its filters with one).
    pub cookie: Option<Vec<u8>>,
}

pub const CLS_FLAGS_SKIP_HW: u32 = 1;
pub const CLS_FLAGS_SKIP_SW: u32 = 2;
pub const CLS_FLAGS_IN_HW: u32 = 4;
pub const CLS_FLAGS_NOT_IN_HW: u32 = 8;

/// A filter to add: where it goes and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSpec {
    pub ifindex: u32,
    pub prio: u16,
    /// The ethertype tc itself checks (the outer one: a VLAN tag's TPID),
    /// or ETH_P_ALL.
    pub protocol: u16,
    pub handle: u32,
    pub options: Vec<TcFilterFlowerOption>,
}

impl FilterSpec {
    /// The RTM_NEWTFILTER message for this filter.
    pub fn message(&self) -> TcMessage {
        let mut m = filter_header(self.ifindex, self.prio, self.protocol, self.handle);
        m.attributes.push(TcAttribute::Kind("flower".into()));
        m.attributes.push(TcAttribute::Options(
            self.options.iter().cloned().map(TcOption::Flower).collect(),
        ));
        m
    }
}

fn filter_header(ifindex: u32, prio: u16, protocol: u16, handle: u32) -> TcMessage {
    TcMessage::from_parts(
        TcHeader {
            index: ifindex as i32,
            handle: TcHandle::from(handle),
            parent: TcHandle::from(INGRESS_PARENT),
            info: (u32::from(prio) << 16) | u32::from(protocol.to_be()),
            ..TcHeader::default()
        },
        Vec::new(),
    )
}

/// The synchronous socket. One request at a time; callers serialize.
pub struct TcSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl TcSocket {
    pub fn open() -> Result<TcSocket, TcError> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Best effort: older kernels without these still answer.
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_rx_buf_sz(1 << 20);
        Ok(TcSocket {
            sock,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    /// Adds a clsact qdisc to `ifindex` (EEXIST if it has one).
    pub fn add_clsact(&mut self, ifindex: u32) -> Result<(), TcError> {
        let msg = clsact_message(ifindex);
        self.request(
            RouteNetlinkMessage::NewQueueDiscipline(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// Removes the clsact (or ingress) qdisc of `ifindex` and with it every
    /// filter on it.
    pub fn del_clsact(&mut self, ifindex: u32) -> Result<(), TcError> {
        let msg = clsact_message(ifindex);
        self.request(RouteNetlinkMessage::DelQueueDiscipline(msg), 0)
            .map(drop)
    }

    /// Whether `ifindex` has a clsact/ingress qdisc.
    pub fn has_clsact(&mut self, ifindex: u32) -> Result<bool, TcError> {
        let mut msg = TcMessage::with_index(0);
        msg.header.index = 0;
        let all = self.dump(RouteNetlinkMessage::GetQueueDiscipline(msg))?;
        Ok(all.into_iter().any(|m| match m {
            RouteNetlinkMessage::NewQueueDiscipline(q) => {
                q.header.index == ifindex as i32 && u32::from(q.header.parent) == CLSACT_PARENT
            }
            _ => false,
        }))
    }

    pub fn add_filter(&mut self, f: &FilterSpec) -> Result<(), TcError> {
        self.request(
            RouteNetlinkMessage::NewTrafficFilter(f.message()),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    pub fn del_filter(&mut self, ifindex: u32, prio: u16, handle: u32) -> Result<(), TcError> {
        // Protocol 0: whichever the filter has.
        let mut m = filter_header(ifindex, prio, 0, handle);
        m.attributes.push(TcAttribute::Kind("flower".into()));
        self.request(RouteNetlinkMessage::DelTrafficFilter(m), 0)
            .map(drop)
    }

    /// Every filter on the ingress of `ifindex`, chain 0.
    pub fn dump_filters(&mut self, ifindex: u32) -> Result<Vec<FilterInfo>, TcError> {
        let m = filter_header(ifindex, 0, 0, 0);
        let all = self.dump(RouteNetlinkMessage::GetTrafficFilter(m))?;
        Ok(all
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewTrafficFilter(t) => filter_info(&t),
                _ => None,
            })
            .collect())
    }

    /// Sends one request and waits for its acknowledgement.
    pub fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, TcError> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_ACK | flags)
    }

    fn dump(&mut self, msg: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, TcError> {
        self.exchange(msg, NLM_F_REQUEST | NLM_F_DUMP)
    }

    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, TcError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let mut out = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut out);
        self.sock.send(&out, 0)?;

        let mut replies = Vec::new();
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0usize;
            while off + 16 <= n {
                let b = &self.buf[off..n];
                let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                if len < 16 || len > b.len() {
                    return Err(TcError::Decode(format!("netlink message of length {len}")));
                }
                let ty = u16::from_ne_bytes([b[4], b[5]]);
                let mflags = u16::from_ne_bytes([b[6], b[7]]);
                let mseq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                let m = &b[..len];
                off += (len + 3) & !3;
                if mseq != seq {
                    continue; // a late answer to an earlier request
                }
                match ty {
                    NLMSG_ERROR => {
                        let code = read_i32(m, 16).unwrap_or(0);
                        if code == 0 {
                            return Ok(replies);
                        }
                        return Err(TcError::Kernel {
                            errno: -code,
                            msg: extack_message(m, mflags),
                        });
                    }
                    NLMSG_DONE => {
                        let code = read_i32(m, 16).unwrap_or(0);
                        if code < 0 {
                            return Err(TcError::Kernel {
                                errno: -code,
                                msg: extack_message(m, mflags),
                            });
                        }
                        return Ok(replies);
                    }
                    _ => {
                        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(m)
                            .map_err(|e| TcError::Decode(e.to_string()))?;
                        if let NetlinkPayload::InnerMessage(inner) = parsed.payload {
                            replies.push(inner);
                        }
                        if flags & NLM_F_DUMP == 0 && flags & NLM_F_ACK == 0 {
                            return Ok(replies);
                        }
                    }
                }
            }
        }
    }
}

fn read_i32(b: &[u8], at: usize) -> Option<i32> {
    let s = b.get(at..at + 4)?;
    Some(i32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

/// The NLMSGERR_ATTR_MSG string of an error with extended ack TLVs.
fn extack_message(m: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // nlmsghdr, error code, then the request's header (and, uncapped, its
    // whole payload), then the TLVs.
    let orig_len = read_i32(m, 20)? as usize;
    let mut off = if flags & NLM_F_CAPPED != 0 {
        16 + 4 + 16
    } else {
        16 + 4 + orig_len
    };
    while off + 4 <= m.len() {
        let len = u16::from_ne_bytes([m[off], m[off + 1]]) as usize;
        let ty = u16::from_ne_bytes([m[off + 2], m[off + 3]]);
        if len < 4 || off + len > m.len() {
            return None;
        }
        if ty == NLMSGERR_ATTR_MSG {
            let v = &m[off + 4..off + len];
            let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
            return Some(String::from_utf8_lossy(&v[..end]).into_owned());
        }
        off += (len + 3) & !3;
    }
    None
}

fn clsact_message(ifindex: u32) -> TcMessage {
    TcMessage::from_parts(
        TcHeader {
            index: ifindex as i32,
            handle: TcHandle::from(CLSACT_HANDLE),
            parent: TcHandle::from(CLSACT_PARENT),
            ..TcHeader::default()
        },
        vec![TcAttribute::Kind("clsact".into())],
    )
}

/// Reads a dumped filter; `None` for the per-priority header entries that
/// carry no filter (handle 0) and for other classifiers.
pub fn filter_info(t: &TcMessage) -> Option<FilterInfo> {
    let handle = u32::from(t.header.handle);
    if handle == 0 {
        return None;
    }
    let mut info = FilterInfo {
        prio: (t.header.info >> 16) as u16,
        handle,
        ..FilterInfo::default()
    };
    let mut flower = false;
    for a in &t.attributes {
        match a {
            TcAttribute::Kind(k) => flower = k == "flower",
            TcAttribute::Chain(c) => info.chain = *c,
            TcAttribute::Options(opts) => {
                for o in opts {
                    match o {
                        TcOption::Flower(TcFilterFlowerOption::Flags(f)) => info.flags = *f,
                        TcOption::Flower(TcFilterFlowerOption::Actions(acts)) => {
                            read_action_stats(acts, &mut info)
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    flower.then_some(info)
}

fn read_action_stats(acts: &[TcAction], info: &mut FilterInfo) {
    let mut first = true;
    for act in acts {
        let mut kind = "";
        for a in &act.attributes {
            if let TcActionAttribute::Kind(k) = a {
                kind = k.as_str();
            }
        }
        for a in &act.attributes {
            match a {
                TcActionAttribute::Stats(stats) if first => {
                    for s in stats {
                        if let TcStats2::Basic(b) = s {
                            info.packets = u64::from(b.packets);
                            info.bytes = b.bytes;
                        }
                    }
                }
                TcActionAttribute::Cookie(c) if first => info.cookie = Some(c.clone()),
                TcActionAttribute::Options(opts) => {
                    if let Some(ticks) = lastuse_ticks(kind, opts) {
                        let ago = ticks.saturating_mul(MS_PER_TICK);
                        info.last_used_ago_ms =
                            Some(info.last_used_ago_ms.map_or(ago, |a| a.min(ago)));
                    }
                }
                _ => {}
            }
        }
        first = false;
    }
}

/// `tcf_t.lastuse` (ticks since last use) from an action's options. Each
/// action kind numbers its TM attribute itself.
fn lastuse_ticks(kind: &str, opts: &[TcActionOption]) -> Option<u64> {
    let tm_kind = match kind {
        "csum" | "ct" | "skbedit" => 2,
        _ => 1, // mirred, gact, vlan, pedit, tunnel_key, police-less kinds
    };
    for o in opts {
        match o {
            TcActionOption::Mirror(TcActionMirrorOption::Tm(t)) => return Some(t.lastuse),
            TcActionOption::Other(nla) => {
                use netlink_packet_core::Nla;
                if nla.kind() == tm_kind && nla.value_len() >= 32 {
                    let mut v = vec![0u8; nla.value_len()];
                    nla.emit_value(&mut v);
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&v[8..16]);
                    return Some(u64::from_ne_bytes(b));
                }
            }
            _ => {}
        }
    }
    None
}
