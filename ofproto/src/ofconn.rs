//! One OpenFlow connection's protocol logic: the hello handshake and
//! version negotiation, echo keepalive and inactivity probe, and the switch's
//! answers to requests. No I/O and no clock: bytes and time come in, bytes
//! go out (see [`crate::server`]).
//!
//! What the answers contain comes from a [`SwitchView`], implemented by the
//! daemon over its bridge, datapath and ports.

use std::sync::Arc;

use crate::async_msg::Subscriber;
use crate::bundle::{self, BundleOp, Bundles, CommitFailure, Origin};
use crate::monitor::{MonitorHub, MonitorSub, Requester};
use crate::ofp::bundle_msg::{BundleAdd, BundleCtrl, BundleCtrlType};
use crate::ofp::error::{BadRequest, BundleFailed, ErrorMsg, HelloFailed, OfpError, ResumeFailed};
use crate::ofp::flow_msg::{
    self, encode_aggregate, encode_flow_stats, encode_flow_stats_15, encode_nx_flow_stats,
    AggregateStats, FlowMod, FlowMsg, FlowStats, FlowStatsRequest, PacketOut,
};
use crate::ofp::group_msg::{
    self, GroupDesc, GroupMod, GroupMsg, GroupStats, MeterConfig, MeterMod, MeterStats,
};
use crate::ofp::message::port::{Port, PortMod, PortNo, PortStats};
use crate::ofp::message::stats::{
    GroupFeatures, MeterFeatures, MpReply, MpRequest, MultipartReply, SwitchDesc, TableStats,
};
use crate::ofp::message::switch::{
    negotiate, AsyncConfig, Capabilities, FlowFormat, FragHandling, Hello, PacketInFormat, Role,
    RoleMsg, SwitchConfig, SwitchFeatures,
};
use crate::ofp::message::{
    decode, encode, peek, CtFlush, Dir, Form, Message, RawMsg, TlvTableMod, TlvTableReply, Unparsed,
};
use crate::ofp::monitor_msg::{
    self, FlowMonitorRequest, FlowUpdate, FlowUpdateFull, MonitorCommand, UpdateEvent,
};
use crate::ofp::{Header, Version};
use crate::server::{Output, Session};

/// What a connection needs to know about its switch.
pub trait SwitchView: Send + Sync {
    fn datapath_id(&self) -> u64;
    /// Port descriptions, LOCAL included.
    fn ports(&self) -> Vec<Port>;
    /// Counters of one port, or of all ports for [`PortNo::ANY`].
    fn port_stats(&self, port: PortNo) -> Vec<PortStats>;
    /// Counters of the flow tables.
    fn table_stats(&self) -> Vec<TableStats>;
    /// Makes every cache consistent with the flow tables (before a barrier
    /// reply goes out).
    fn sync(&self);
    fn flow_mod(&self, fm: &FlowMod) -> Result<(), OfpError>;
    fn flow_stats(&self, req: &FlowStatsRequest) -> Result<Vec<FlowStats>, OfpError>;
    fn aggregate(&self, req: &FlowStatsRequest) -> Result<AggregateStats, OfpError>;
    fn packet_out(&self, po: &PacketOut) -> Result<(), OfpError>;
    /// NXT_RESUME: sends a paused packet on (`version`: the connection's,
    /// which the continuation is encoded in). A switch that cannot says
    /// NXR_NOT_SUPPORTED, as Open vSwitch's ofproto without `nxt_resume`.
    fn resume(
        &self,
        _pi: &crate::ofp::message::PacketIn,
        _version: Version,
    ) -> Result<(), OfpError> {
        Err(OfpError::ResumeFailed(ResumeFailed::NotSupported))
    }
    /// Applies a port-mod (config bits; advertised features are ignored)
    /// and tells the controllers, but connection `sender` (OpenFlow before
    /// 1.5 does not tell the one that asked).
    fn port_mod(&self, _pm: &PortMod, _sender: Option<u64>) -> Result<(), OfpError> {
        Err(OfpError::BadRequest(BadRequest::BadType))
    }
    /// Sends a port-status for every port added, deleted or changed since
    /// the last call to the connections that take them, except connection
    /// `except`.
    fn report_port_changes(&self, _except: Option<u64>) {}
    /// Applies a group_mod. By default the switch has no groups.
    fn group_mod(&self, _gm: &GroupMod) -> Result<(), OfpError> {
        Err(OfpError::BadRequest(BadRequest::BadType))
    }
    /// Group descriptions, for one group or OFPG_ALL.
    fn group_descs(&self, _group_id: u32) -> Vec<GroupDesc> {
        Vec::new()
    }
    /// Group counters, for one group or OFPG_ALL.
    fn group_stats(&self, _group_id: u32) -> Vec<GroupStats> {
        Vec::new()
    }
    /// What the groups support, in `version`'s action numbering.
    fn group_features(&self, _version: Version) -> GroupFeatures {
        GroupFeatures::default()
    }
    /// Applies a meter_mod. By default the switch has no meters.
    fn meter_mod(&self, _mm: &MeterMod) -> Result<(), OfpError> {
        Err(OfpError::BadRequest(BadRequest::BadType))
    }
    /// Meter configurations, for one meter or OFPM_ALL.
    fn meter_configs(&self, _meter_id: u32) -> Result<Vec<MeterConfig>, OfpError> {
        Ok(Vec::new())
    }
    /// Meter counters, for one meter or OFPM_ALL.
    fn meter_stats(&self, _meter_id: u32) -> Result<Vec<MeterStats>, OfpError> {
        Ok(Vec::new())
    }
    /// What the meters support.
    fn meter_features(&self) -> MeterFeatures {
        MeterFeatures::default()
    }
    /// The checks a flow_mod gets when it is added to a bundle, before any
    /// table is involved (table ids, actions the switch can run, ...).
    fn check_flow_mod(&self, fm: &FlowMod) -> Result<(), OfpError> {
        crate::bridge::check_flow_mod(fm)
    }
    /// Applies a committed bundle's messages all or nothing (`flags`: its
    /// OFPBF_* bits); on failure nothing changed and the failing message is
    /// named. The default runs them through the methods above inside a
    /// [`crate::bridge::Transaction`] (see [`crate::bundle::commit`]).
    fn commit_bundle(&self, ops: &[BundleOp], flags: u16) -> Result<(), CommitFailure> {
        bundle::commit(self, ops, flags)
    }
    /// What the switch does with IP fragments (the switch's, whichever
    /// connection set it). By default it has no other mode than normal.
    fn frag_handling(&self) -> FragHandling {
        FragHandling::Normal
    }
    /// Changes the fragment handling; false if the switch cannot do that
    /// mode (it keeps its current one).
    fn set_frag_handling(&self, f: FragHandling) -> bool {
        f == FragHandling::Normal
    }
    /// Applies an NXT_TLV_TABLE_MOD (Geneve option <-> `tun_metadataN`
    /// mappings). By default the switch has no TLV table.
    fn tlv_table_mod(&self, _m: &TlvTableMod) -> Result<(), OfpError> {
        Err(OfpError::BadRequest(BadRequest::BadType))
    }
    /// The TLV table, for NXT_TLV_TABLE_REQUEST. By default there is none.
    fn tlv_table(&self) -> Result<TlvTableReply, OfpError> {
        Err(OfpError::BadRequest(BadRequest::BadType))
    }
    /// Flushes the conntrack entries `f` selects (NXT_CT_FLUSH_ZONE,
    /// NXT_CT_FLUSH). oxvs has no connection tracker yet, so there is no
    /// entry to flush and a well-formed request succeeds having emptied
    /// nothing, as Open vSwitch's does when nothing matches; the conntrack
    /// table, when it comes, flushes here.
    fn ct_flush(&self, _f: &CtFlush) -> Result<(), OfpError> {
        Ok(())
    }
    /// Where flow table changes are published for flow monitors (None:
    /// monitors only get the flows there when they start). The default
    /// finds the hub of the [`crate::bridge::Bridge`] whose ports
    /// [`SwitchView::ports`] reads; a view over a bridge had better say so
    /// directly.
    fn flow_monitors(&self) -> Option<Arc<MonitorHub>> {
        crate::bridge::find_monitor_hub(|| {
            self.ports();
        })
    }
}

/// OFP_DEFAULT_MISS_SEND_LEN.
const OFP_DEFAULT_MISS_SEND_LEN: u16 = 128;

/// Most body bytes per multipart reply message (the length field is 16
/// bits; headers take the rest).
const MAX_REPLY_BODY: usize = 65_000;

/// `entries` (encoded multipart entries) packed into reply bodies of at
/// most [`MAX_REPLY_BODY`] bytes each (an entry never split); one empty
/// body if there are none.
pub(crate) fn reply_bodies(entries: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = vec![Vec::new()];
    for e in entries {
        if bodies
            .last()
            .is_some_and(|b| !b.is_empty() && b.len() + e.len() > MAX_REPLY_BODY)
        {
            bodies.push(Vec::new());
        }
        if let Some(b) = bodies.last_mut() {
            b.extend_from_slice(&e);
        }
    }
    bodies
}

/// Per-connection settings a controller can change (the role lives in the
/// connection's [`Subscriber`], where the bridge can change it too).
#[derive(Clone, Debug)]
struct ConnSettings {
    config: SwitchConfig,
    /// Open vSwitch's OFCONN_SERVICE: no asynchronous messages while
    /// miss_send_len is 0.
    service: bool,
    async_config: AsyncConfig,
    packet_in_format: Option<PacketInFormat>,
    flow_mod_table_id: bool,
    /// NXT_SET_CONTROLLER_ID's id.
    controller_id: u16,
    /// NXT_SET_FLOW_FORMAT chose NXM (OpenFlow 1.0).
    nxm: bool,
}

/// The session of one OpenFlow connection.
pub struct OfSession {
    view: Arc<dyn SwitchView>,
    allowed: Vec<Version>,
    version: Option<Version>,
    settings: ConnSettings,
    /// Send an echo request after this long without hearing from the peer,
    /// and give up after twice that (None: never, as for `punix`/`ptcp`
    /// management connections in Open vSwitch).
    probe_ms: Option<u64>,
    last_heard_ms: u64,
    probe_sent: bool,
    next_xid: u32,
    /// This connection's end of its bridge's asynchronous-message hub,
    /// which also holds its role. Until [`OfSession::with_subscriber`], a
    /// subscriber of no hub: the session is then a bridge's only
    /// connection.
    subscriber: Arc<Subscriber>,
    /// The hub of a session that was given none: it keeps the session's
    /// primary-election generation id between requests.
    _own_hub: Option<crate::async_msg::AsyncHub>,
    /// Open bundles.
    bundles: Bundles,
    /// This connection's number (names it as a requester of changes).
    conn_id: u64,
    /// Flow monitors, once the connection has some.
    monitors: Option<Arc<MonitorSub>>,
    /// The connection's outbound queue, for messages sent outside replies
    /// (flow monitor updates).
    outbound: Option<tokio::sync::mpsc::Sender<Vec<u8>>>,
    /// The time of the event being handled.
    now_ms: u64,
}

/// Numbers connections (as requesters of flow table changes).
static NEXT_CONN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl OfSession {
    pub fn new(
        view: Arc<dyn SwitchView>,
        allowed: Vec<Version>,
        probe_ms: Option<u64>,
    ) -> OfSession {
        // Nothing reads the other end: a session of no bridge hub gets no
        // asynchronous messages.
        let subscriber = Subscriber::new(tokio::sync::mpsc::channel(1).0);
        let own_hub = crate::async_msg::AsyncHub::default();
        own_hub.subscribe(&subscriber);
        OfSession {
            view,
            allowed,
            version: None,
            settings: ConnSettings {
                config: SwitchConfig::default(),
                service: false,
                async_config: AsyncConfig::default(),
                packet_in_format: None,
                flow_mod_table_id: false,
                controller_id: 0,
                nxm: false,
            },
            probe_ms,
            last_heard_ms: 0,
            probe_sent: false,
            next_xid: 1,
            subscriber,
            _own_hub: Some(own_hub),
            bundles: Bundles::default(),
            now_ms: 0,
            conn_id: NEXT_CONN.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            monitors: None,
            outbound: None,
        }
    }

    /// A service connection (Open vSwitch's OFCONN_SERVICE: `ovs-ofctl` on
    /// the management socket), whose miss_send_len starts at 0.
    pub fn as_service(mut self) -> OfSession {
        self.settings.config.miss_send_len = 0;
        self.settings.service = true;
        self.publish_state();
        self
    }

    /// Sends flow monitor updates at once through `tx` (the connection's
    /// outbound queue) instead of with the session's next output.
    pub fn with_outbound(mut self, tx: tokio::sync::mpsc::Sender<Vec<u8>>) -> OfSession {
        self.outbound = Some(tx);
        self
    }

    /// Receives the bridge's asynchronous messages through `s`.
    pub fn with_subscriber(mut self, s: Arc<Subscriber>) -> OfSession {
        self.subscriber = s;
        self._own_hub = None;
        self
    }

    fn publish_state(&self) {
        let mut st = self.subscriber.state.lock();
        st.version = self.version;
        st.packet_in_format = self
            .settings
            .packet_in_format
            .unwrap_or(PacketInFormat::Standard);
        st.nxm = self.settings.nxm;
        st.async_config = self.settings.async_config.clone();
        st.muted = self.settings.service && self.settings.config.miss_send_len == 0;
        st.conn_id = self.conn_id;
        st.controller_id = self.settings.controller_id;
    }

    /// The connection's role now (another connection becoming primary
    /// changes it).
    pub fn role(&self) -> Role {
        self.subscriber.role()
    }

    /// The negotiated version, once the hellos crossed.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    fn send(&self, out: &mut Output, msg: &Message, xid: u32) {
        let Some(v) = self.version else { return };
        match encode(msg, v, xid) {
            Ok(b) => out.send.push(b),
            // An answer we cannot encode in this version is our bug; say so
            // in the log and keep the connection.
            Err(e) => tracing::error!(error = ?e, ?msg, "cannot encode reply"),
        }
    }

    fn error(&self, out: &mut Output, e: OfpError, offending: &[u8], xid: u32) {
        self.send(out, &Message::Error(ErrorMsg::reply(e, offending)), xid);
    }

    fn handle_hello(&mut self, msg: &[u8]) -> Output {
        let mut out = Output::default();
        let result = match decode(msg) {
            Ok((h, Message::Hello(hello))) => negotiate(&self.allowed, h.version, &hello),
            // A hello of a version we cannot decode still negotiates by its
            // header byte, which decode reports as BAD_VERSION.
            Err(_) if msg.len() >= 8 && msg[1] == 0 => {
                negotiate(&self.allowed, msg[0], &Hello::default())
            }
            _ => Err(OfpError::HelloFailed(HelloFailed::Incompatible)),
        };
        match result {
            Ok(v) => {
                self.version = Some(v);
                self.settings.async_config = AsyncConfig::default_for(v);
                self.publish_state();
            }
            Err(e) => {
                // Report in the lowest version we speak, which any peer
                // understands well enough to print, then hang up.
                let v = self.allowed.iter().min().copied().unwrap_or(Version::Of10);
                let text = format!(
                    "We support {}, you support version 0x{:02x}, no common versions",
                    self.allowed
                        .iter()
                        .map(|v| v.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    msg.first().copied().unwrap_or(0)
                );
                if let Ok(b) = encode(
                    &Message::Error(ErrorMsg::with_text(e, &text)),
                    v,
                    xid_of(msg),
                ) {
                    out.send.push(b);
                }
                out.close = true;
            }
        }
        out
    }

    fn features(&self) -> SwitchFeatures {
        SwitchFeatures {
            datapath_id: self.view.datapath_id(),
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: Capabilities(
                Capabilities::FLOW_STATS
                    | Capabilities::TABLE_STATS
                    | Capabilities::PORT_STATS
                    | Capabilities::ARP_MATCH_IP
                    | Capabilities::BUNDLES,
            ),
            // OFPAT10_OUTPUT through ENQUEUE except ENQUEUE (bit 11).
            actions: 0x7ff,
            ports: self.view.ports(),
        }
    }

    fn multipart(&self, req: &MpRequest) -> Result<MpReply, OfpError> {
        Ok(match req {
            MpRequest::Desc => MpReply::Desc(SwitchDesc {
                mfr_desc: "oxvs".into(),
                hw_desc: "oxvs userspace switch".into(),
                sw_desc: env!("CARGO_PKG_VERSION").into(),
                serial_num: "None".into(),
                dp_desc: "None".into(),
            }),
            MpRequest::PortDesc { port_no } => {
                let ports = self.view.ports();
                MpReply::PortDesc(if *port_no == PortNo::ANY {
                    ports
                } else {
                    ports
                        .into_iter()
                        .filter(|p| p.port_no == *port_no)
                        .collect()
                })
            }
            MpRequest::PortStats { port_no } => {
                let s = self.view.port_stats(*port_no);
                if s.is_empty() && *port_no != PortNo::ANY {
                    return Err(OfpError::BadRequest(BadRequest::BadPort));
                }
                MpReply::PortStats(s)
            }
            MpRequest::TableStats => MpReply::TableStats(self.view.table_stats()),
            // No queues are configured on any port.
            MpRequest::QueueStats { .. } => MpReply::QueueStats(Vec::new()),
            MpRequest::GroupFeatures => MpReply::GroupFeatures(
                self.view
                    .group_features(self.version.unwrap_or(Version::Of13)),
            ),
            MpRequest::MeterFeatures => MpReply::MeterFeatures(self.view.meter_features()),
            // Request kinds the codec decodes but this switch does not serve.
            #[allow(unreachable_patterns)]
            _ => return Err(OfpError::BadRequest(BadRequest::BadMultipart)),
        })
    }

    /// A role request. `standard`: it came as OFPT_ROLE_REQUEST, whose
    /// generation id always counts (u64::MAX included, as Open vSwitch
    /// reads it) unless the role is NOCHANGE; NXT_ROLE_REQUEST has none.
    fn role_request(&mut self, r: &RoleMsg, standard: bool) -> Result<RoleMsg, OfpError> {
        let generation_id = match r.generation_id {
            None if standard && r.role != Role::NoChange => Some(u64::MAX),
            g if standard => g,
            _ => None,
        };
        let (role, generation_id) = self.subscriber.request_role(r.role, generation_id)?;
        Ok(RoleMsg {
            role,
            generation_id,
        })
    }

    /// Handles one message; flow table changes it makes are this
    /// connection's (for flow monitors), and the flow updates they cause
    /// for this connection follow the replies.
    fn dispatch(&mut self, msg: &[u8], out: &mut Output) {
        let r = Requester {
            conn: self.conn_id,
            xid: xid_of(msg),
        };
        crate::monitor::with_requester(r, || self.dispatch_one(msg, out));
        self.flush_monitors(out);
    }

    fn dispatch_one(&mut self, msg: &[u8], out: &mut Output) {
        let xid = xid_of(msg);
        let (h, m) = match decode(msg) {
            Ok(x) => x,
            Err(e) => return self.error(out, e, msg, xid),
        };
        if Some(h.version) != self.version.map(|v| v.wire()) {
            return self.error(out, OfpError::BadRequest(BadRequest::BadVersion), msg, xid);
        }
        let secondary = self.role() == Role::Secondary;
        match m {
            Message::Hello(_) => {}
            Message::EchoRequest(data) => self.send(out, &Message::EchoReply(data), xid),
            Message::EchoReply(_) => {}
            Message::FeaturesRequest => {
                self.send(out, &Message::FeaturesReply(self.features()), xid)
            }
            Message::GetConfigRequest => {
                let config = SwitchConfig {
                    frag: self.view.frag_handling(),
                    ..self.settings.config
                };
                self.send(out, &Message::GetConfigReply(config), xid)
            }
            // As Open vSwitch's handle_set_config: the fragment handling is
            // the switch's and a secondary cannot change it (silently); a
            // mode the switch cannot do is ignored (logged), which
            // `ovs-ofctl set-frags` notices reading it back. miss_send_len
            // and invalid_ttl_to_controller are the connection's.
            Message::SetConfig(c) => {
                if !secondary
                    && c.frag != self.view.frag_handling()
                    && !self.view.set_frag_handling(c.frag)
                {
                    tracing::warn!(mode = ?c.frag, "unsupported fragment handling mode");
                }
                self.settings.config = c;
                self.publish_state();
            }
            Message::BarrierRequest => {
                self.view.sync();
                self.send(out, &Message::BarrierReply, xid)
            }
            Message::RoleRequest(r) => {
                let nx = matches!(peek(msg), Ok((_, RawMsg::NxtRoleRequest)));
                match self.role_request(&r, !nx) {
                    // The reply takes the request's form, as Open vSwitch's
                    // (an NXT_ROLE_REQUEST gets an NXT_ROLE_REPLY in any
                    // version).
                    Ok(reply) if nx && self.version != Some(Version::Of10) => {
                        let mut w = crate::ofp::codec::Writer::new();
                        let sent = reply.encode_nx(&mut w).map(|()| {
                            let (experimenter, exp_type) =
                                RawMsg::NxtRoleReply.vendor().unwrap_or_default();
                            Message::Experimenter(crate::ofp::message::Experimenter {
                                experimenter,
                                exp_type,
                                data: w.into_vec(),
                            })
                        });
                        match sent {
                            Ok(m) => self.send(out, &m, xid),
                            Err(e) => self.error(out, e, msg, xid),
                        }
                    }
                    Ok(reply) => self.send(out, &Message::RoleReply(reply), xid),
                    Err(e) => self.error(out, e, msg, xid),
                }
            }
            Message::GetAsyncRequest => {
                let v = self.version.unwrap_or(Version::Of13);
                self.send(
                    out,
                    &Message::GetAsyncReply(self.settings.async_config.on_wire(v)),
                    xid,
                )
            }
            Message::SetAsync(a) => {
                let props = matches!(
                    peek(msg),
                    Ok((_, RawMsg::Of14SetAsync | RawMsg::NxtSetAsyncConfig2))
                );
                let v = self.version.unwrap_or(Version::Of14);
                match if props {
                    check_async_props(&a, v)
                } else {
                    Ok(())
                } {
                    Ok(()) => {
                        // OpenFlow 1.4's properties change what they name
                        // and leave the rest; the fixed 1.3 layout says all.
                        let base = if props {
                            self.settings.async_config.clone()
                        } else {
                            AsyncConfig::default()
                        };
                        self.settings.async_config = base.merged(&a, v);
                        // A service connection that asks for asynchronous
                        // messages gets them (Open vSwitch's
                        // handle_nxt_set_async_config).
                        if self.settings.service && self.settings.config.miss_send_len == 0 {
                            self.settings.config.miss_send_len = OFP_DEFAULT_MISS_SEND_LEN;
                        }
                        self.publish_state();
                    }
                    Err(e) => self.error(out, e, msg, xid),
                }
            }
            Message::SetFlowFormat(f) => {
                self.settings.nxm = f == FlowFormat::Nxm;
                self.publish_state();
            }
            Message::SetPacketInFormat(
                f @ (PacketInFormat::Standard | PacketInFormat::Nxt | PacketInFormat::Nxt2),
            ) => {
                self.settings.packet_in_format = Some(f);
                self.publish_state();
            }
            // What OVS's `ofputil_decode_set_packet_in_format` says of a
            // format it does not know.
            Message::SetPacketInFormat(_) => {
                self.error(out, OfpError::BadRequest(BadRequest::EPerm), msg, xid)
            }
            Message::FlowModTableId(on) => self.settings.flow_mod_table_id = on,
            Message::SetControllerId(id) => {
                self.settings.controller_id = id;
                self.publish_state();
            }
            Message::MultipartRequest(req) => match self.multipart(&req.body) {
                Ok(body) => self.send(
                    out,
                    &Message::MultipartReply(MultipartReply { more: false, body }),
                    xid,
                ),
                Err(e) => self.error(out, e, msg, xid),
            },
            Message::Error(e) => tracing::info!(error = ?e, "peer reported an OpenFlow error"),
            Message::PortMod(_) if secondary => {
                self.error(out, OfpError::BadRequest(BadRequest::IsSlave), msg, xid)
            }
            Message::PortMod(pm) => {
                let sender = Some(self.conn_id).filter(|_| self.version < Some(Version::Of15));
                if let Err(e) = self.view.port_mod(&pm, sender) {
                    self.error(out, e, msg, xid);
                }
            }
            Message::BundleControl(_) | Message::BundleAdd(_) if secondary => {
                self.error(out, OfpError::BadRequest(BadRequest::IsSlave), msg, xid)
            }
            Message::BundleControl(c) => self.bundle_control(&c, msg, xid, out),
            // The TLV table is the switch's: a secondary may read it only.
            Message::TlvTableMod(_) if secondary => {
                self.error(out, OfpError::BadRequest(BadRequest::IsSlave), msg, xid)
            }
            Message::TlvTableMod(m) => {
                if let Err(e) = self.view.tlv_table_mod(&m) {
                    self.error(out, e, msg, xid);
                }
            }
            Message::TlvTableRequest => match self.view.tlv_table() {
                Ok(t) => self.send(out, &Message::TlvTableReply(t), xid),
                Err(e) => self.error(out, e, msg, xid),
            },
            // Open vSwitch lets any role flush conntrack entries; success
            // has no reply (a barrier tells when it is done).
            Message::CtFlushZone(zone) => {
                let f = CtFlush {
                    zone: Some(zone),
                    ..CtFlush::default()
                };
                if let Err(e) = self.view.ct_flush(&f) {
                    self.error(out, e, msg, xid);
                }
            }
            Message::CtFlush(f) => {
                if let Err(e) = self.view.ct_flush(&f) {
                    self.error(out, e, msg, xid);
                }
            }
            Message::BundleAdd(a) => self.bundle_add(&h, &a, msg, xid, out),
            // Any role may resume, as in Open vSwitch (`handle_nxt_resume`
            // does not reject secondaries); success has no reply.
            Message::Resume(pi) => {
                let v = self.version.unwrap_or(Version::Of10);
                if let Err(e) = self.view.resume(&pi, v) {
                    self.error(out, e, msg, xid);
                }
            }
            Message::Unparsed(u) => self.flow_message(&u, msg, xid, out),
            // NXT_FLOW_MOD (OpenFlow 1.0 with Nicira matches) arrives as a
            // Nicira experimenter message; its body is an NXT_FLOW_MOD's.
            Message::Experimenter(e)
                if e.experimenter == crate::ofp::error::NX_VENDOR_ID && e.exp_type == 13 =>
            {
                let u = Unparsed {
                    raw: RawMsg::NxtFlowMod,
                    flags: 0,
                    body: e.data,
                };
                self.flow_message(&u, msg, xid, out)
            }
            // NXT_FLOW_MONITOR_CANCEL (1.0) and ONFT_FLOW_MONITOR_CANCEL (1.3).
            Message::Experimenter(e)
                if (e.experimenter == crate::ofp::error::NX_VENDOR_ID && e.exp_type == 21)
                    || (e.experimenter == crate::ofp::error::ONF_VENDOR_ID
                        && e.exp_type == 1870) =>
            {
                let r = monitor_msg::decode_cancel(&e.data).and_then(|id| {
                    self.monitors
                        .as_ref()
                        .ok_or(OfpError::FlowMonitorFailed(
                            crate::ofp::error::FlowMonitorFailed::UnknownMonitor,
                        ))
                        .and_then(|m| m.remove(id))
                });
                if let Err(e) = r {
                    self.error(out, e, msg, xid);
                }
            }
            // NXT_GROUP_MOD (OpenFlow 1.0's group_mod) arrives as a Nicira
            // experimenter message.
            Message::Experimenter(e)
                if e.experimenter == crate::ofp::error::NX_VENDOR_ID && e.exp_type == 31 =>
            {
                let u = Unparsed {
                    raw: RawMsg::NxtGroupMod,
                    flags: 0,
                    body: e.data,
                };
                if let Some(v) = self.version {
                    let r = group_msg::decode(v, &u);
                    if let Some(r) = r {
                        self.group_message(r, msg, xid, out);
                    }
                }
            }
            // Replies and asynchronous messages have no business coming to a
            // switch; anything not handled yet is reported as unsupported.
            _ => self.error(out, OfpError::BadRequest(BadRequest::BadType), msg, xid),
        }
    }
}

impl OfSession {
    /// OPEN, CLOSE, COMMIT and DISCARD requests; the reply repeats the
    /// bundle id with flags 0, as Open vSwitch's does.
    fn bundle_control(&mut self, c: &BundleCtrl, msg: &[u8], xid: u32, out: &mut Output) {
        let now = self.now_ms;
        let (id, flags) = (c.bundle_id, c.flags);
        let result = match c.ctrl_type {
            BundleCtrlType::OpenRequest => self.bundles.open(id, flags, Origin::of(xid, msg), now),
            BundleCtrlType::CloseRequest => self.bundles.close(id, flags, now),
            BundleCtrlType::CommitRequest => self.bundle_commit(id, flags, out),
            BundleCtrlType::DiscardRequest => self.bundles.discard(id),
            _ => Err(OfpError::BundleFailed(BundleFailed::BadType)),
        };
        match (result, c.ctrl_type.reply()) {
            (Ok(()), Some(reply)) => {
                let r = BundleCtrl {
                    bundle_id: id,
                    ctrl_type: reply,
                    flags: 0,
                    props: Vec::new(),
                };
                self.send(out, &Message::BundleControl(r), xid)
            }
            (Ok(()), None) => {}
            (Err(e), _) => self.error(out, e, msg, xid),
        }
    }

    /// Commits bundle `id`: on failure, the failing message's error goes
    /// out first (with its BUNDLE_ADD_MESSAGE's xid and start), and the
    /// commit fails with MSG_FAILED.
    fn bundle_commit(&mut self, id: u32, flags: u16, out: &mut Output) -> Result<(), OfpError> {
        let b = self.bundles.take(id, flags)?;
        if b.ops.is_empty() {
            return Ok(());
        }
        let result = self.view.commit_bundle(&b.ops, flags);
        // Like a barrier: the datapath's caches agree with the tables.
        self.view.sync();
        match result {
            Ok(()) => Ok(()),
            Err(CommitFailure { index, error }) => {
                if let Some(o) = b.origins.get(index) {
                    self.send(out, &Message::Error(ErrorMsg::reply(error, &o.head)), o.xid);
                }
                Err(OfpError::BundleFailed(BundleFailed::MsgFailed))
            }
        }
    }

    fn bundle_add(&mut self, h: &Header, a: &BundleAdd, msg: &[u8], xid: u32, out: &mut Output) {
        let Some(v) = self.version else { return };
        let result = bundle::decode_entry(v, h, a, self.settings.flow_mod_table_id)
            .and_then(|op| {
                if let BundleOp::FlowMod(fm) = &op {
                    self.view.check_flow_mod(fm)?;
                }
                Ok(op)
            })
            .and_then(|op| {
                self.bundles.add(
                    a.bundle_id,
                    a.flags,
                    op,
                    Origin::of(xid, msg),
                    msg.len(),
                    self.now_ms,
                )
            });
        if let Err(e) = result {
            self.error(out, e, msg, xid);
        }
    }

    /// A flow monitor request: adds, modifies and deletes monitors as Open
    /// vSwitch's `handle_flow_monitor_request` does (on an error, the
    /// monitors this request added go again), then replies with the flows
    /// the new monitors with OFPFMF_INITIAL select.
    fn flow_monitor_request(&mut self, u: &Unparsed, msg: &[u8], xid: u32, out: &mut Output) {
        let Some(v) = self.version else { return };
        let reqs = match monitor_msg::decode_requests(u.raw, &u.body) {
            Ok(r) => r,
            Err(e) => return self.error(out, e, msg, xid),
        };
        let sub = match &self.monitors {
            Some(s) => s.clone(),
            None => {
                let s = MonitorSub::new(self.conn_id, self.outbound.clone());
                s.set_version(v);
                if let Some(hub) = self.view.flow_monitors() {
                    hub.subscribe(&s);
                }
                self.monitors = Some(s.clone());
                s
            }
        };
        let mut added: Vec<&FlowMonitorRequest> = Vec::new();
        for rq in &reqs {
            let unknown = || {
                OfpError::FlowMonitorFailed(crate::ofp::error::FlowMonitorFailed::UnknownMonitor)
            };
            let r = match rq.command {
                MonitorCommand::Add => sub.add(rq),
                MonitorCommand::Modify if !sub.contains(rq.id) => Err(unknown()),
                MonitorCommand::Modify => sub.remove(rq.id).and_then(|_| sub.add(rq)),
                MonitorCommand::Delete => sub.remove(rq.id),
            };
            match r {
                Ok(()) if rq.command != MonitorCommand::Delete => added.push(rq),
                Ok(()) => {}
                Err(e) => {
                    for a in added {
                        let _ = sub.remove(a.id);
                    }
                    return self.error(out, e, msg, xid);
                }
            }
        }
        // The flows there now, each once (with actions if any monitor
        // wants them).
        let mut initial: Vec<(FlowUpdateFull, bool)> = Vec::new();
        for rq in added
            .iter()
            .filter(|r| r.flags & monitor_msg::flags::INITIAL != 0)
        {
            let req = FlowStatsRequest {
                table_id: rq.table_id,
                out_port: rq.out_port,
                out_group: rq.out_group,
                cookie: 0,
                cookie_mask: 0,
                matched: rq.matched.clone(),
            };
            let with_actions = rq.flags & monitor_msg::flags::INSTRUCTIONS != 0;
            for f in self.view.flow_stats(&req).unwrap_or_default() {
                let same = |u: &FlowUpdateFull| {
                    u.table_id == f.table_id && u.priority == f.priority && u.matched == f.matched
                };
                if let Some(seen) = initial.iter_mut().find(|(u, _)| same(u)) {
                    seen.1 |= with_actions;
                    continue;
                }
                initial.push((
                    FlowUpdateFull {
                        event: UpdateEvent::Initial,
                        reason: 0,
                        table_id: f.table_id,
                        priority: f.priority,
                        idle_timeout: f.idle_timeout,
                        hard_timeout: f.hard_timeout,
                        cookie: f.cookie,
                        matched: f.matched,
                        actions: f.actions,
                    },
                    with_actions,
                ));
            }
        }
        let entries = initial
            .into_iter()
            .filter_map(|(mut u, with_actions)| {
                if !with_actions {
                    u.actions.clear();
                }
                monitor_msg::encode_update(v, &FlowUpdate::Full(u))
                    .map_err(|e| tracing::debug!(error = ?e, "flow left out of a monitor reply"))
                    .ok()
            })
            .collect();
        out.send.extend(crate::monitor::replies(v, entries, xid));
    }

    /// Sends the flow monitor updates waiting for this connection.
    fn flush_monitors(&self, out: &mut Output) {
        if let Some(m) = &self.monitors {
            out.send.extend(m.take_messages());
        }
    }

    /// Discards bundles idle too long, each with a TIMEOUT error.
    fn expire_bundles(&mut self, out: &mut Output) {
        for o in self.bundles.expire(self.now_ms) {
            let e = OfpError::BundleFailed(BundleFailed::Timeout);
            self.send(out, &Message::Error(ErrorMsg::reply(e, &o.head)), o.xid);
        }
    }

    fn flow_message(&mut self, u: &Unparsed, msg: &[u8], xid: u32, out: &mut Output) {
        let Some(v) = self.version else { return };
        // No port has queues configured: the answers list none.
        match u.raw {
            RawMsg::Of10QueueGetConfigRequest | RawMsg::Of11QueueGetConfigRequest => {
                let (raw, body) = if u.raw == RawMsg::Of10QueueGetConfigRequest {
                    (
                        RawMsg::Of10QueueGetConfigReply,
                        [&u.body[..2.min(u.body.len())], &[0u8; 6]].concat(),
                    )
                } else {
                    (
                        RawMsg::Of11QueueGetConfigReply,
                        [&u.body[..4.min(u.body.len())], &[0u8; 4]].concat(),
                    )
                };
                return self.send(
                    out,
                    &Message::Unparsed(Unparsed {
                        raw,
                        flags: 0,
                        body,
                    }),
                    xid,
                );
            }
            RawMsg::QueueDescRequest => {
                return self.send_multipart(out, RawMsg::QueueDescReply, Vec::new(), xid);
            }
            _ => {}
        }
        if u.raw == RawMsg::TableFeaturesRequest {
            if !u.body.is_empty() {
                // Changing table features is not supported (OVS refuses too).
                return self.error(
                    out,
                    OfpError::from_name("OFPTFFC_EPERM")
                        .unwrap_or(OfpError::BadRequest(BadRequest::EPerm)),
                    msg,
                    xid,
                );
            }
            let entries = (0..254u8).map(|t| table_features_entry(v, t)).collect();
            return self.send_multipart(out, RawMsg::TableFeaturesReply, entries, xid);
        }
        if matches!(
            u.raw,
            RawMsg::NxstFlowMonitorRequest
                | RawMsg::Onfst13FlowMonitorRequest
                | RawMsg::Of14FlowMonitorRequest
        ) {
            return self.flow_monitor_request(u, msg, xid, out);
        }
        if let Some(r) = group_msg::decode(v, u) {
            return self.group_message(r, msg, xid, out);
        }
        let decoded = match flow_msg::decode(v, u, self.settings.flow_mod_table_id) {
            // Known to the codec but not served: a multipart request gets
            // BAD_MULTIPART (OFPBRC_BAD_STAT), anything else BAD_TYPE.
            None if matches!(
                u.raw.info().form,
                Form::Stat(Dir::Request, _) | Form::VendorStat(Dir::Request, ..)
            ) =>
            {
                return self.error(
                    out,
                    OfpError::BadRequest(BadRequest::BadMultipart),
                    msg,
                    xid,
                )
            }
            None => return self.error(out, OfpError::BadRequest(BadRequest::BadType), msg, xid),
            Some(Err(e)) => return self.error(out, e, msg, xid),
            Some(Ok(m)) => m,
        };
        let secondary = self.role() == Role::Secondary;
        let result = match decoded {
            FlowMsg::FlowMod(_) | FlowMsg::PacketOut(_) if secondary => {
                Err(OfpError::BadRequest(BadRequest::IsSlave))
            }
            FlowMsg::FlowMod(fm) => self.view.flow_mod(&fm),
            FlowMsg::PacketOut(po) => self.view.packet_out(&po),
            FlowMsg::FlowStatsRequest(req) => self.view.flow_stats(&req).map(|flows| {
                let (raw, entries) = match (v, u.raw) {
                    (_, RawMsg::NxstFlowRequest) => (
                        RawMsg::NxstFlowReply,
                        encode_each(&flows, encode_nx_flow_stats),
                    ),
                    (Version::Of10, _) => (
                        RawMsg::Of10FlowStatsReply,
                        encode_each(&flows, |f| encode_flow_stats(v, f)),
                    ),
                    (Version::Of13 | Version::Of14, _) => (
                        RawMsg::Of13FlowStatsReply,
                        encode_each(&flows, |f| encode_flow_stats(v, f)),
                    ),
                    _ => (
                        RawMsg::Of15FlowStatsReply,
                        encode_each(&flows, encode_flow_stats_15),
                    ),
                };
                self.send_multipart(out, raw, entries, xid);
            }),
            FlowMsg::AggregateRequest(req) => self.view.aggregate(&req).map(|a| {
                let (raw, body) = match (v, u.raw) {
                    (_, RawMsg::NxstAggregateRequest) => {
                        (RawMsg::NxstAggregateReply, encode_aggregate(&a))
                    }
                    (Version::Of15, _) => (
                        RawMsg::Of15AggregateReply,
                        flow_msg::encode_aggregate_15(&a),
                    ),
                    _ => (RawMsg::AggregateReply, encode_aggregate(&a)),
                };
                self.send_multipart(out, raw, vec![body], xid);
            }),
        };
        if let Err(e) = result {
            self.error(out, e, msg, xid);
        }
    }

    /// Group and meter messages: mods, stats and descriptions.
    fn group_message(
        &mut self,
        r: Result<GroupMsg, OfpError>,
        msg: &[u8],
        xid: u32,
        out: &mut Output,
    ) {
        let Some(v) = self.version else { return };
        let m = match r {
            Ok(m) => m,
            Err(e) => return self.error(out, e, msg, xid),
        };
        let secondary = self.role() == Role::Secondary;
        let encode_all = |items: Vec<Result<Vec<u8>, OfpError>>| -> Vec<Vec<u8>> {
            items
                .into_iter()
                .filter_map(|e| {
                    e.map_err(|e| tracing::debug!(error = ?e, "entry left out of a reply"))
                        .ok()
                })
                .collect()
        };
        let result = match m {
            GroupMsg::GroupMod(_) | GroupMsg::MeterMod(_) if secondary => {
                Err(OfpError::BadRequest(BadRequest::IsSlave))
            }
            GroupMsg::GroupMod(gm) => self.view.group_mod(&gm),
            GroupMsg::MeterMod(mm) => self.view.meter_mod(&mm),
            GroupMsg::GroupStatsRequest { group_id } => {
                let stats = self.view.group_stats(group_id);
                let entries = encode_all(stats.iter().map(group_msg::encode_group_stats).collect());
                self.send_multipart(out, group_msg::group_stats_reply_raw(v), entries, xid);
                Ok(())
            }
            GroupMsg::GroupDescRequest { group_id } => {
                let descs = self.view.group_descs(group_id);
                let entries = encode_all(
                    descs
                        .iter()
                        .map(|d| group_msg::encode_group_desc(v, d))
                        .collect(),
                );
                self.send_multipart(out, group_msg::group_desc_reply_raw(v), entries, xid);
                Ok(())
            }
            GroupMsg::MeterStatsRequest { meter_id } => {
                self.view.meter_stats(meter_id).map(|stats| {
                    let entries =
                        encode_all(stats.iter().map(group_msg::encode_meter_stats).collect());
                    self.send_multipart(out, RawMsg::MeterStatsReply, entries, xid);
                })
            }
            GroupMsg::MeterConfigRequest { meter_id } => {
                self.view.meter_configs(meter_id).map(|configs| {
                    let entries =
                        encode_all(configs.iter().map(group_msg::encode_meter_config).collect());
                    self.send_multipart(out, RawMsg::MeterConfigReply, entries, xid);
                })
            }
            // Replies have no business coming to a switch.
            GroupMsg::GroupStatsReply(_)
            | GroupMsg::GroupDescReply(_)
            | GroupMsg::MeterStatsReply(_)
            | GroupMsg::MeterConfigReply(_) => Err(OfpError::BadRequest(BadRequest::BadType)),
        };
        if let Err(e) = result {
            self.error(out, e, msg, xid);
        }
    }

    /// Sends `entries` as one or more multipart replies of kind `raw`, all
    /// but the last flagged REPLY_MORE.
    fn send_multipart(&self, out: &mut Output, raw: RawMsg, entries: Vec<Vec<u8>>, xid: u32) {
        let bodies = reply_bodies(entries);
        let n = bodies.len();
        for (i, body) in bodies.into_iter().enumerate() {
            let flags = if i + 1 < n { 1 } else { 0 };
            self.send(out, &Message::Unparsed(Unparsed { raw, flags, body }), xid);
        }
    }
}

/// One table's OFPMP_TABLE_FEATURES entry, with the eight properties every
/// controller (and ovs-ofctl) requires: the instructions, next tables,
/// actions (write and apply), and the fields matched, maskable and settable.
fn table_features_entry(v: Version, table_id: u8) -> Vec<u8> {
    use crate::ofp::codec::Writer;
    use crate::ofp::field::{Encoding, Field};

    fn prop(w: &mut Writer, ty: u16, data: &[u8]) {
        let m = w.mark();
        w.u16(ty).u16((4 + data.len()) as u16).bytes(data);
        w.pad_from(m, 8);
    }
    // Fields the classifier can match, with their OXM headers in `v`.
    let fields: Vec<(Field, u32, bool)> = Field::all()
        .filter(|f| crate::flow::slots(*f).is_ok())
        .filter_map(|f| {
            let h = f.header_for(Encoding::Oxm(v))?;
            if h.is_experimenter() {
                return None;
            }
            Some((f, h.tlv(false, h.len).to_u32(), f.is_maskable()))
        })
        .collect();
    let oxm = |pred: &dyn Fn(&(Field, u32, bool)) -> bool| -> Vec<u8> {
        fields
            .iter()
            .filter(|x| pred(x))
            .flat_map(|x| x.1.to_be_bytes())
            .collect()
    };
    // OFPIT_GOTO_TABLE .. OFPIT_CLEAR_ACTIONS (goto only below the last table).
    let insts: Vec<u8> = (1u16..=5)
        .filter(|i| *i != 1 || table_id < 253)
        .flat_map(|i| [i.to_be_bytes(), 4u16.to_be_bytes()].concat())
        .collect();
    let next: Vec<u8> = (table_id.saturating_add(1)..254).collect();
    // OFPAT_OUTPUT, PUSH_VLAN, POP_VLAN, DEC_NW_TTL, SET_FIELD.
    let acts: Vec<u8> = [0u16, 17, 18, 24, 25]
        .iter()
        .flat_map(|a| [a.to_be_bytes(), 4u16.to_be_bytes()].concat())
        .collect();
    let settable = oxm(&|x| crate::ofp::action::is_writable(x.0));

    let mut w = Writer::new();
    let m = w.mark();
    w.u16(0).u8(table_id).zeros(5);
    // Tables have no names unless a controller gives them one (as in OVS).
    w.bytes(&[0u8; 32]).u64(u64::MAX).u64(u64::MAX);
    // OpenFlow 1.3 calls this word `config` (deprecated); 1.4+ capabilities.
    w.u32(if v >= Version::Of14 { 0 } else { 3 }).u32(1_000_000);
    prop(&mut w, 0, &insts);
    prop(&mut w, 2, &next);
    prop(&mut w, 4, &acts);
    prop(&mut w, 6, &acts);
    prop(&mut w, 8, &oxm(&|_| true));
    prop(&mut w, 10, &oxm(&|x| x.2));
    prop(&mut w, 12, &settable);
    prop(&mut w, 14, &settable);
    let len = w.since(m) as u16;
    w.patch_u16(m, 0, len);
    w.into_vec()
}

/// What Open vSwitch's `ofputil_decode_set_async_config` refuses in a
/// property-based SET_ASYNC (OpenFlow 1.4+, NXT_SET_ASYNC_CONFIG2), which
/// the codec keeps: a property type it does not know
/// (OFPACFC_UNSUPPORTED; an experimenter one: OFPBPC_BAD_LEN under 12
/// bytes, BAD_EXPERIMENTER for id 0, else BAD_EXP_TYPE), and a mask with
/// reasons the kind does not have in `version` (OFPACFC_INVALID).
fn check_async_props(c: &AsyncConfig, version: Version) -> Result<(), OfpError> {
    use crate::ofp::error::{AsyncConfigFailed, BadProperty};
    if let Some(p) = c.other.first() {
        if p.ty < 0xfffe {
            return Err(AsyncConfigFailed::Unsupported.into());
        }
        let id = p.data.get(..8).ok_or(BadProperty::BadLen)?;
        if id[..4] == [0, 0, 0, 0] {
            return Err(BadProperty::BadExperimenter.into());
        }
        return Err(BadProperty::BadExpType.into());
    }
    // OFPR_NO_MATCH, ACTION, INVALID_TTL; 1.4 adds ACTION_SET, GROUP,
    // PACKET_OUT.
    let packet_in = if version >= Version::Of14 { 0x3f } else { 0x7 };
    let allowed = [
        (&c.packet_in, packet_in),
        (&c.port_status, 0x7),
        // Up to OFPRR_EVICTION.
        (&c.flow_removed, 0x3f),
        (&c.role_status, 0x7),
        // OFPTR_VACANCY_DOWN and UP.
        (&c.table_status, 0x18),
        (&c.requestforward, 0x3),
    ];
    for (m, ok) in allowed {
        for mask in [m.primary, m.secondary].into_iter().flatten() {
            if mask & !ok != 0 {
                return Err(AsyncConfigFailed::Invalid.into());
            }
        }
    }
    Ok(())
}

/// Encodes each item on its own (so replies can be split between items);
/// items that cannot be encoded in this version are left out.
fn encode_each<T: Clone>(
    items: &[T],
    f: impl Fn(&[T]) -> Result<Vec<u8>, OfpError>,
) -> Vec<Vec<u8>> {
    items
        .iter()
        .filter_map(|x| match f(std::slice::from_ref(x)) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::debug!(error = ?e, "flow left out of a stats reply");
                None
            }
        })
        .collect()
}

fn xid_of(msg: &[u8]) -> u32 {
    Header::parse(msg).map(|h| h.xid).unwrap_or(0)
}

impl Session for OfSession {
    fn closed(&mut self) {
        // Open vSwitch discards a connection's bundles and monitors when
        // it goes.
        self.bundles.clear();
        self.monitors = None;
    }

    fn open(&mut self, now_ms: u64) -> Output {
        self.last_heard_ms = now_ms;
        let mut out = Output::default();
        let Some(&highest) = self.allowed.iter().max() else {
            out.close = true;
            return out;
        };
        if let Ok(b) = encode(&Message::Hello(Hello::offering(&self.allowed)), highest, 0) {
            out.send.push(b);
        }
        out
    }

    fn message(&mut self, msg: &[u8], now_ms: u64) -> Output {
        self.last_heard_ms = now_ms;
        self.now_ms = now_ms;
        self.probe_sent = false;
        if self.version.is_none() {
            return self.handle_hello(msg);
        }
        let mut out = Output::default();
        self.dispatch(msg, &mut out);
        out
    }

    fn tick(&mut self, now_ms: u64) -> Output {
        let mut out = Output::default();
        self.now_ms = now_ms;
        self.expire_bundles(&mut out);
        self.flush_monitors(&mut out);
        let Some(probe) = self.probe_ms else {
            return out;
        };
        let idle = now_ms.saturating_sub(self.last_heard_ms);
        if idle >= 2 * probe {
            tracing::info!(
                idle_ms = idle,
                "no response to inactivity probe, disconnecting"
            );
            out.close = true;
        } else if idle >= probe && !self.probe_sent {
            let xid = self.next_xid;
            self.next_xid = self.next_xid.wrapping_add(1);
            self.send(&mut out, &Message::EchoRequest(Vec::new()), xid);
            self.probe_sent = true;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct View;
    impl SwitchView for View {
        fn datapath_id(&self) -> u64 {
            0x0000_0a0b_0c0d_0e0f
        }
        fn ports(&self) -> Vec<Port> {
            Vec::new()
        }
        fn port_stats(&self, _: PortNo) -> Vec<PortStats> {
            Vec::new()
        }
        fn table_stats(&self) -> Vec<TableStats> {
            Vec::new()
        }
        fn sync(&self) {}
        fn flow_mod(&self, _: &FlowMod) -> Result<(), OfpError> {
            Ok(())
        }
        fn flow_stats(&self, _: &FlowStatsRequest) -> Result<Vec<FlowStats>, OfpError> {
            Ok(Vec::new())
        }
        fn aggregate(&self, _: &FlowStatsRequest) -> Result<AggregateStats, OfpError> {
            Ok(AggregateStats::default())
        }
        fn packet_out(&self, _: &PacketOut) -> Result<(), OfpError> {
            Ok(())
        }
    }

    fn session() -> OfSession {
        OfSession::new(Arc::new(View), Version::ALL.to_vec(), Some(5_000))
    }

    fn enc(m: &Message, v: Version, xid: u32) -> Vec<u8> {
        encode(m, v, xid).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn dec(b: &[u8]) -> (Header, Message) {
        decode(b).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn negotiates_the_highest_common_version_and_answers_echo() {
        let mut s = session();
        let hello = s.open(0);
        assert_eq!(hello.send.len(), 1);
        assert_eq!(dec(&hello.send[0]).0.version, 0x06);
        let out = s.message(
            &enc(
                &Message::Hello(Hello::offering(&[Version::Of10, Version::Of13])),
                Version::Of13,
                1,
            ),
            10,
        );
        assert!(out.send.is_empty() && !out.close);
        assert_eq!(s.version(), Some(Version::Of13));
        let out = s.message(
            &enc(&Message::EchoRequest(vec![1, 2, 3]), Version::Of13, 7),
            20,
        );
        let (h, m) = dec(&out.send[0]);
        assert_eq!((h.xid, m), (7, Message::EchoReply(vec![1, 2, 3])));
    }

    #[test]
    fn no_common_version_fails_the_hello_and_closes() {
        let mut s = OfSession::new(Arc::new(View), vec![Version::Of13], None);
        s.open(0);
        let out = s.message(&enc(&Message::Hello(Hello::default()), Version::Of10, 1), 0);
        assert!(out.close);
        let (_, m) = dec(&out.send[0]);
        assert!(
            matches!(m, Message::Error(e) if e.wire(Version::Of10).type_code() == (0, 0)),
            "HELLO_FAILED/INCOMPATIBLE"
        );
    }

    #[test]
    fn bad_messages_get_errors_and_the_connection_goes_on() {
        let mut s = session();
        s.open(0);
        s.message(&enc(&Message::Hello(Hello::default()), Version::Of10, 1), 0);
        // Wrong version after negotiation, unknown type, and a lying length.
        let mut wrong = enc(&Message::EchoRequest(vec![]), Version::Of13, 5);
        wrong[0] = 4;
        let mut unknown = vec![1, 0xee, 0, 8, 0, 0, 0, 6];
        let mut lying = enc(&Message::EchoRequest(vec![1, 2]), Version::Of10, 7);
        lying[3] = 9;
        for (m, want) in [
            (&mut wrong, (1, 0)),
            (&mut unknown, (1, 1)),
            (&mut lying, (1, 6)),
        ] {
            let out = s.message(m, 0);
            assert!(!out.close);
            let (_, reply) = dec(&out.send[0]);
            match reply {
                Message::Error(e) => {
                    assert_eq!(e.wire(Version::Of10).type_code(), want);
                    assert_eq!(
                        e.data,
                        m[..m.len().min(64)].to_vec(),
                        "first bytes of the offending message"
                    );
                }
                other => panic!("expected an error, got {other:?}"),
            }
        }
        let out = s.message(&enc(&Message::EchoRequest(vec![]), Version::Of10, 9), 0);
        assert!(matches!(dec(&out.send[0]).1, Message::EchoReply(_)));
    }

    #[test]
    fn inactivity_probe_then_disconnect() {
        let mut s = session();
        s.open(0);
        s.message(&enc(&Message::Hello(Hello::default()), Version::Of13, 1), 0);
        assert!(s.tick(4_999).send.is_empty());
        let out = s.tick(5_000);
        assert!(matches!(dec(&out.send[0]).1, Message::EchoRequest(_)));
        assert!(s.tick(6_000).send.is_empty(), "one probe per silence");
        assert!(s.tick(10_000).close);
    }

    fn bundle_ctl(id: u32, t: BundleCtrlType, flags: u16) -> Message {
        Message::BundleControl(BundleCtrl {
            bundle_id: id,
            ctrl_type: t,
            flags,
            props: Vec::new(),
        })
    }

    fn wire_error(b: &[u8], v: Version) -> (u32, (u16, u16)) {
        match dec(b) {
            (h, Message::Error(e)) => (h.xid, e.wire(v).type_code()),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn bundle_control_replies_and_errors() {
        for v in [Version::Of13, Version::Of14, Version::Of15] {
            let mut s = session();
            s.open(0);
            s.message(&enc(&Message::Hello(Hello::default()), v, 1), 0);
            let out = s.message(
                &enc(&bundle_ctl(7, BundleCtrlType::OpenRequest, 3), v, 2),
                0,
            );
            let (h, m) = dec(&out.send[0]);
            assert_eq!(h.xid, 2);
            // The reply has the bundle id and no flags, as Open vSwitch's.
            assert_eq!(m, bundle_ctl(7, BundleCtrlType::OpenReply, 0), "{v:?}");
            if v == Version::Of13 {
                assert_eq!(out.send[0][1], 4, "ONF experimenter message in 1.3");
            }
            // A flow mod, then an echo (which a bundle refuses).
            let fm = [
                &[v.wire(), 14, 0, 56, 0, 0, 0, 3][..],
                &[0u8; 8],
                &[0u8; 8],
                &[0, 0, 0, 0, 0, 0, 0x80, 0, 0xff, 0xff, 0xff, 0xff],
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
                &[0, 1, 0, 4, 0, 0, 0, 0],
            ]
            .concat();
            let add = |data: Vec<u8>, flags| {
                Message::BundleAdd(BundleAdd {
                    bundle_id: 7,
                    flags,
                    data,
                })
            };
            let out = s.message(&enc(&add(fm.clone(), 3), v, 3), 0);
            assert!(out.send.is_empty(), "{v:?}: {:?}", out.send);
            let echo = vec![v.wire(), 2, 0, 8, 0, 0, 0, 4];
            let out = s.message(&enc(&add(echo, 3), v, 4), 0);
            let (xid, tc) = wire_error(&out.send[0], v);
            let unsup = OfpError::BundleFailed(BundleFailed::MsgUnsup)
                .wire(v)
                .type_code();
            assert_eq!((xid, tc), (4, unsup), "{v:?}");
            let out = s.message(
                &enc(&bundle_ctl(7, BundleCtrlType::CommitRequest, 3), v, 5),
                0,
            );
            assert_eq!(
                dec(&out.send[0]).1,
                bundle_ctl(7, BundleCtrlType::CommitReply, 0)
            );
            // Committed bundles are gone; replies are no requests.
            let out = s.message(
                &enc(&bundle_ctl(7, BundleCtrlType::DiscardRequest, 3), v, 6),
                0,
            );
            let bad_id = OfpError::BundleFailed(BundleFailed::BadId)
                .wire(v)
                .type_code();
            assert_eq!(wire_error(&out.send[0], v), (6, bad_id));
            let out = s.message(&enc(&bundle_ctl(7, BundleCtrlType::CloseReply, 3), v, 7), 0);
            let bad_type = OfpError::BundleFailed(BundleFailed::BadType)
                .wire(v)
                .type_code();
            assert_eq!(wire_error(&out.send[0], v), (7, bad_type));
        }
    }

    #[test]
    fn idle_bundles_time_out_and_closing_discards_them() {
        let v = Version::Of14;
        let mut s = session();
        s.open(0);
        s.message(&enc(&Message::Hello(Hello::default()), v, 1), 0);
        let open = enc(&bundle_ctl(1, BundleCtrlType::OpenRequest, 0), v, 9);
        s.message(&open, 1_000);
        s.message(
            &enc(&bundle_ctl(2, BundleCtrlType::OpenRequest, 0), v, 10),
            8_000,
        );
        assert!(s.tick(10_999).send.is_empty());
        let out = s.tick(11_000);
        assert_eq!(out.send.len(), 1, "only the first bundle is idle");
        let timeout = OfpError::BundleFailed(BundleFailed::Timeout)
            .wire(v)
            .type_code();
        assert_eq!(wire_error(&out.send[0], v), (9, timeout));
        match dec(&out.send[0]).1 {
            Message::Error(e) => assert_eq!(e.data, open, "the message that opened it"),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.bundles.len(), 1);
        s.closed();
        assert!(s.bundles.is_empty());
        // OpenFlow 1.0 has no bundles.
        let mut s = session();
        s.open(0);
        s.message(&enc(&Message::Hello(Hello::default()), Version::Of10, 1), 0);
        let mut b = enc(
            &bundle_ctl(1, BundleCtrlType::OpenRequest, 0),
            Version::Of14,
            3,
        );
        b[0] = 1;
        let out = s.message(&b, 0);
        assert_eq!(
            wire_error(&out.send[0], Version::Of10).1,
            (1, 1),
            "BAD_TYPE"
        );
    }

    #[test]
    fn features_and_barrier() {
        let mut s = session();
        s.open(0);
        s.message(&enc(&Message::Hello(Hello::default()), Version::Of13, 1), 0);
        let out = s.message(&enc(&Message::FeaturesRequest, Version::Of13, 2), 0);
        match dec(&out.send[0]).1 {
            Message::FeaturesReply(f) => assert_eq!(f.datapath_id, 0x0000_0a0b_0c0d_0e0f),
            other => panic!("{other:?}"),
        }
        let out = s.message(&enc(&Message::BarrierRequest, Version::Of13, 3), 0);
        assert_eq!(
            dec(&out.send[0]),
            (
                Header {
                    version: 4,
                    msg_type: 21,
                    length: 8,
                    xid: 3
                },
                Message::BarrierReply
            )
        );
    }

    #[test]
    fn async_config_starts_as_open_vswitchs_and_openflow14_set_async_merges() {
        use crate::ofp::message::AsyncKind;
        let get = |s: &mut OfSession, v| match dec(&s
            .message(&enc(&Message::GetAsyncRequest, v, 9), 0)
            .send[0])
        .1
        {
            Message::GetAsyncReply(c) => c,
            other => panic!("{other:?}"),
        };
        let mut s = session();
        s.open(0);
        let v = Version::Of14;
        s.message(&enc(&Message::Hello(Hello::offering(&[v])), v, 1), 0);
        let default = AsyncConfig::default_for(v);
        assert_eq!(get(&mut s, v), default.on_wire(v));
        // OpenFlow 1.4 names only what changes.
        let mut only = AsyncConfig::default();
        only.packet_in.primary = Some(1 << 1);
        let out = s.message(&enc(&Message::SetAsync(only), v, 2), 0);
        assert!(out.send.is_empty(), "no error");
        let c = get(&mut s, v);
        assert_eq!(c.packet_in.primary, Some(2));
        assert_eq!(c.packet_in.secondary, default.packet_in.secondary);
        assert_eq!(c.port_status, default.port_status);
        assert_eq!(c.flow_removed, default.flow_removed);
        // The hub filters by what the session published.
        let st = s.subscriber.state.lock().clone();
        assert!(st.async_config.allows(AsyncKind::PacketIn, 1, false));
        assert!(!st.async_config.allows(AsyncKind::PacketIn, 0, false));

        // OpenFlow 1.3's fixed layout says everything.
        let mut s = session();
        s.open(0);
        let v = Version::Of13;
        s.message(&enc(&Message::Hello(Hello::offering(&[v])), v, 1), 0);
        assert_eq!(get(&mut s, v).flow_removed.primary, Some(0b1111));
        let masks = |p, q| crate::ofp::message::AsyncMasks {
            primary: Some(p),
            secondary: Some(q),
        };
        let all = AsyncConfig {
            packet_in: masks(1, 0),
            port_status: masks(0, 0),
            flow_removed: masks(4, 4),
            ..AsyncConfig::default()
        };
        s.message(&enc(&Message::SetAsync(all.clone()), v, 2), 0);
        let c = get(&mut s, v);
        assert_eq!(
            (c.packet_in, c.port_status, c.flow_removed),
            (all.packet_in, all.port_status, all.flow_removed)
        );
    }

    #[test]
    fn a_service_connection_gets_asynchronous_messages_once_it_asks() {
        let mut s = session().as_service();
        s.open(0);
        let v = Version::Of13;
        s.message(&enc(&Message::Hello(Hello::offering(&[v])), v, 1), 0);
        assert!(s.subscriber.state.lock().muted);
        let c = SwitchConfig {
            miss_send_len: 65535,
            ..SwitchConfig::default()
        };
        s.message(&enc(&Message::SetConfig(c), v, 2), 0);
        assert!(!s.subscriber.state.lock().muted);
        // A SET_ASYNC also unmutes it (Open vSwitch sets miss_send_len).
        let mut s = session().as_service();
        s.open(0);
        s.message(&enc(&Message::Hello(Hello::offering(&[v])), v, 1), 0);
        let legacy = AsyncConfig {
            role_status: Default::default(),
            table_status: Default::default(),
            requestforward: Default::default(),
            ..AsyncConfig::default_for(v)
        };
        let out = s.message(&enc(&Message::SetAsync(legacy), v, 2), 0);
        assert!(out.send.is_empty(), "no error");
        assert!(!s.subscriber.state.lock().muted);
    }
}
