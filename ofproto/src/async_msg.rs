//! Asynchronous messages: events a bridge raises (a packet sent to the
//! controller, a flow removed) and the hub that delivers them to every
//! connection of the bridge, each encoded in that connection's version and
//! format.

use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::ofp::codec::Writer;
use crate::ofp::error::{OfpError, RoleRequestFailed};
use crate::ofp::matching::Match;
use crate::ofp::message::{
    encode, AsyncConfig, AsyncKind, Continuation, Message, PacketInFormat, PortStatus, RawMsg,
    Role, RoleStatus, RoleStatusReason, Unparsed,
};
use crate::ofp::Version;

/// A packet for the controller: the codec's one packet-in type (its
/// `format` is set per connection when it is sent).
pub use crate::ofp::message::PacketIn;

/// A flow that left its table, for controllers that asked (send_flow_rem).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRemoved {
    pub cookie: u64,
    pub priority: u16,
    /// OFPRR_*: 0 idle timeout, 1 hard timeout, 2 delete.
    pub reason: u8,
    pub table_id: u8,
    pub duration_ms: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub packet_count: u64,
    pub byte_count: u64,
    pub matched: Match,
}

/// What one connection wants to receive, kept current by its session.
#[derive(Clone, Debug)]
pub struct SubscriberState {
    pub version: Option<Version>,
    /// The connection's role. The hub changes it too (a primary demoted
    /// when another connection becomes primary), so it lives here and the
    /// session reads it from here.
    pub role: Role,
    pub packet_in_format: PacketInFormat,
    /// OpenFlow 1.0 connections that chose NXM get Nicira flow-removed.
    pub nxm: bool,
    /// Which asynchronous messages, for which reasons, the connection
    /// gets in each role (SET_ASYNC).
    pub async_config: AsyncConfig,
    /// A service connection (`ovs-ofctl` on the management socket) that has
    /// not asked for asynchronous messages by setting a nonzero
    /// miss_send_len gets none, as in Open vSwitch.
    pub muted: bool,
    /// The session's connection number, to leave the originator of a
    /// port-mod out of the port-status it causes.
    pub conn_id: u64,
    /// NXT_SET_CONTROLLER_ID's id: packet-ins go to the connections whose
    /// id the controller action names (0 unless set).
    pub controller_id: u16,
}

/// One connection's end of the hub.
pub struct Subscriber {
    tx: mpsc::Sender<Vec<u8>>,
    pub state: Mutex<SubscriberState>,
    /// The hub this connection belongs to (its bridge's), once subscribed.
    hub: Mutex<Weak<HubShared>>,
}

impl Subscriber {
    pub fn new(tx: mpsc::Sender<Vec<u8>>) -> Arc<Subscriber> {
        Arc::new(Subscriber {
            tx,
            state: Mutex::new(SubscriberState {
                version: None,
                role: Role::Equal,
                packet_in_format: PacketInFormat::Standard,
                nxm: false,
                async_config: AsyncConfig::default(),
                muted: false,
                conn_id: 0,
                controller_id: 0,
            }),
            hub: Mutex::new(Weak::new()),
        })
    }

    /// The connection's role now.
    pub fn role(&self) -> Role {
        self.state.lock().role
    }

    /// A role request, as Open vSwitch's `handle_role_request` applies it
    /// (`ofconn_set_primary_election_id`, `ofconn_set_role`): a PRIMARY or
    /// SECONDARY request with a generation id older than the bridge's
    /// (compared as a wrapping sequence, OpenFlow 1.3 6.3.6) fails with
    /// ROLE_REQUEST_FAILED/STALE and changes nothing, a newer one becomes
    /// the bridge's; becoming PRIMARY makes every other primary of the
    /// bridge a SECONDARY, told so with a role status (OpenFlow 1.3+).
    /// NOCHANGE only reports. Returns the role and the bridge's generation
    /// id (`None` until one was set), for the reply.
    ///
    /// A subscriber that is in no hub is a bridge of its own.
    pub fn request_role(
        self: &Arc<Subscriber>,
        role: Role,
        generation_id: Option<u64>,
    ) -> Result<(Role, Option<u64>), OfpError> {
        let hub = self.hub.lock().upgrade();
        let alone;
        let shared = match &hub {
            Some(h) => h,
            None => {
                alone = HubShared::default();
                &alone
            }
        };
        // One lock for the election and the roles, so that two
        // connections asking to be primary at once end with one primary.
        let mut election = shared.election.lock();
        if role == Role::NoChange {
            return Ok((self.role(), *election));
        }
        if role != Role::Equal {
            if let Some(g) = generation_id {
                if let Some(cur) = *election {
                    if (g.wrapping_sub(cur) as i64) < 0 {
                        return Err(OfpError::RoleRequestFailed(RoleRequestFailed::Stale));
                    }
                }
                *election = Some(g);
            }
        }
        let current = self.role();
        if role == Role::Primary && current != Role::Primary {
            for other in shared.live() {
                if Arc::ptr_eq(&other, self) {
                    continue;
                }
                let mut st = other.state.lock();
                if st.role != Role::Primary {
                    continue;
                }
                st.role = Role::Secondary;
                let version = st.version;
                drop(st);
                let status = RoleStatus {
                    role: Role::Secondary,
                    reason: RoleStatusReason::PrimaryRequest,
                    generation_id: *election,
                    props: Vec::new(),
                };
                // OpenFlow 1.0 has no role status: the demoted controller
                // learns of it at its next request, as with Open vSwitch.
                let bytes = version
                    .filter(|v| *v >= Version::Of13)
                    .and_then(|v| encode(&Message::RoleStatus(status), v, 0).ok());
                if let Some(b) = bytes {
                    if other.tx.try_send(b).is_err() {
                        tracing::debug!("role status dropped: connection queue full");
                    }
                }
            }
        }
        self.state.lock().role = role;
        Ok((role, *election))
    }
}

/// What the connections of one bridge share.
#[derive(Default)]
struct HubShared {
    subs: Mutex<Vec<Weak<Subscriber>>>,
    /// The primary-election generation id (Open vSwitch's connmgr
    /// `primary_election_id`, per bridge): `None` until a request sets it.
    election: Mutex<Option<u64>>,
}

impl HubShared {
    fn live(&self) -> Vec<Arc<Subscriber>> {
        self.subs.lock().iter().filter_map(Weak::upgrade).collect()
    }
}

/// Delivers a bridge's asynchronous messages to its connections, and keeps
/// their roles (at most one primary per bridge).
#[derive(Default)]
pub struct AsyncHub {
    shared: Arc<HubShared>,
}

impl AsyncHub {
    pub fn subscribe(&self, s: &Arc<Subscriber>) {
        let mut v = self.shared.subs.lock();
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(s));
        *s.hub.lock() = Arc::downgrade(&self.shared);
    }

    /// Whether some connection takes table-miss packet-ins (Open vSwitch's
    /// `connmgr_wants_packet_in_on_miss`: by default those speaking
    /// OpenFlow 1.0, whose async config has OFPR_IMPLICIT_MISS).
    pub fn wants_packet_in_on_miss(&self) -> bool {
        self.shared.live().iter().any(|s| {
            let st = s.state.lock();
            st.version.is_some()
                && !st.muted
                && st.controller_id == 0
                && st.async_config.allows(
                    AsyncKind::PacketIn,
                    crate::xlate::reason::IMPLICIT_MISS,
                    st.role == Role::Secondary,
                )
        })
    }

    /// Connections that have finished their handshake.
    pub fn connected(&self) -> usize {
        self.shared
            .live()
            .iter()
            .filter(|s| s.state.lock().version.is_some())
            .count()
    }

    /// Sends a flow-removed to the connections that asked for its reason.
    pub fn flow_removed(&self, fr: &FlowRemoved) {
        self.broadcast(AsyncKind::FlowRemoved, fr.reason, None, None, |st| {
            encode_flow_removed(st.version?, st.nxm, fr)
        });
    }

    /// Sends a packet-in to the connections that asked for its reason and
    /// whose controller id is `controller_id` (the controller action's; 0
    /// for OFPP_CONTROLLER outputs and misses).
    pub fn packet_in(&self, pi: &PacketIn, controller_id: u16) {
        self.broadcast(
            AsyncKind::PacketIn,
            pi.reason,
            Some(controller_id),
            None,
            |st| encode_packet_in(st.version?, st.packet_in_format, pi),
        );
    }

    /// Sends a port-status to the connections that asked for its reason,
    /// except connection `except` (the originator of a port-mod, which
    /// OpenFlow before 1.5 does not tell).
    pub fn port_status(&self, ps: &PortStatus, except: Option<u64>) {
        self.broadcast(
            AsyncKind::PortStatus,
            ps.reason.wire(),
            None,
            except,
            |st| encode(&Message::PortStatus(ps.clone()), st.version?, 0).ok(),
        );
    }

    /// Sends a paused packet's packet-in (`controller(pause)`) to the
    /// connections that asked for its reason, with `continuation` encoded in
    /// each connection's version (its actions are OpenFlow actions of that
    /// version, as Open vSwitch writes them). Only NXT_PACKET_IN2 carries
    /// a continuation; other formats get the plain packet-in.
    pub fn paused_packet_in(&self, pi: &PacketIn, controller_id: u16, continuation: &Continuation) {
        self.broadcast(
            AsyncKind::PacketIn,
            pi.reason,
            Some(controller_id),
            None,
            |st| {
                let version = st.version?;
                let mut pi = pi.clone();
                match continuation.encode(version) {
                    Ok(c) => pi.continuation = c,
                    Err(e) => tracing::debug!(error = %e, "continuation not encodable"),
                }
                encode_packet_in(version, st.packet_in_format, &pi)
            },
        );
    }

    /// Sends what `encode` makes of each connection's state to every
    /// connection past its handshake whose asynchronous configuration
    /// takes `kind` for `reason` in its role. A connection whose queue is
    /// full misses the message (logged): a slow controller must not stall
    /// the switch.
    fn broadcast(
        &self,
        kind: AsyncKind,
        reason: u8,
        controller_id: Option<u16>,
        except: Option<u64>,
        encode: impl Fn(&SubscriberState) -> Option<Vec<u8>>,
    ) {
        for s in self.shared.live() {
            let st = s.state.lock().clone();
            if st.version.is_none()
                || st.muted
                || except == Some(st.conn_id)
                || controller_id.is_some_and(|id| id != st.controller_id)
                || !st
                    .async_config
                    .allows(kind, reason, st.role == Role::Secondary)
            {
                continue;
            }
            match encode(&st) {
                Some(bytes) => {
                    if s.tx.try_send(bytes).is_err() {
                        tracing::debug!(
                            ?kind,
                            "asynchronous message dropped: connection queue full"
                        );
                    }
                }
                None => {
                    tracing::debug!(?kind, version = ?st.version, "not encodable for this connection")
                }
            }
        }
    }
}

/// Encodes a packet-in as `version` and `format` say (None: cannot, e.g.
/// NXT_PACKET_IN2 metadata OpenFlow 1.0 cannot carry).
pub fn encode_packet_in(
    version: Version,
    format: PacketInFormat,
    pi: &PacketIn,
) -> Option<Vec<u8>> {
    let pi = PacketIn {
        format,
        reason: reason_on_wire(pi.reason, version),
        ..pi.clone()
    };
    encode(&Message::PacketIn(pi), version, 0).ok()
}

/// The reason a packet-in gives in `version` (Open vSwitch's
/// `encode_packet_in_reason`): OpenFlow 1.4's reasons are ACTION before
/// it, and the internal table-miss ones become NO_MATCH (or ACTION, for
/// a table-miss rule before 1.3, which had none).
pub fn reason_on_wire(reason: u8, version: Version) -> u8 {
    use crate::xlate::reason::*;
    match reason {
        ACTION_SET | GROUP | PACKET_OUT if version < Version::Of14 => ACTION,
        EXPLICIT_MISS if version < Version::Of13 => ACTION,
        EXPLICIT_MISS | IMPLICIT_MISS => NO_MATCH,
        r => r,
    }
}

/// Encodes a flow-removed (None: not in this version, e.g. OpenFlow 1.5's
/// OXS-based layout, which is not written yet).
pub fn encode_flow_removed(version: Version, nxm: bool, fr: &FlowRemoved) -> Option<Vec<u8>> {
    let mut w = Writer::new();
    let secs = (fr.duration_ms / 1000) as u32;
    let nsecs = ((fr.duration_ms % 1000) * 1_000_000) as u32;
    let raw = match version {
        Version::Of10 if !nxm => {
            let mut m = Writer::new();
            // A match ofp_match cannot express goes out as NXT_FLOW_REMOVED.
            if fr.matched.encode_of10(&mut m).is_ok() {
                w.bytes(m.as_slice())
                    .u64(fr.cookie)
                    .u16(fr.priority)
                    .u8(fr.reason)
                    .u8(0);
                w.u32(secs)
                    .u32(nsecs)
                    .u16(fr.idle_timeout)
                    .zeros(2)
                    .u64(fr.packet_count)
                    .u64(fr.byte_count);
                RawMsg::Of10FlowRemoved
            } else {
                return encode_flow_removed(version, true, fr);
            }
        }
        Version::Of10 => {
            w.u64(fr.cookie)
                .u16(fr.priority)
                .u8(fr.reason)
                .u8(fr.table_id)
                .u32(secs)
                .u32(nsecs);
            w.u16(fr.idle_timeout);
            let len_at = w.mark();
            w.u16(0).u64(fr.packet_count).u64(fr.byte_count);
            let n = fr.matched.encode_nxm(&mut w).ok()?;
            w.zeros((8 - n % 8) % 8);
            w.patch_u16(len_at, 0, n as u16);
            RawMsg::NxtFlowRemoved
        }
        Version::Of13 | Version::Of14 => {
            w.u64(fr.cookie)
                .u16(fr.priority)
                .u8(fr.reason)
                .u8(fr.table_id)
                .u32(secs)
                .u32(nsecs);
            w.u16(fr.idle_timeout)
                .u16(fr.hard_timeout)
                .u64(fr.packet_count)
                .u64(fr.byte_count);
            fr.matched.encode_oxm(version, &mut w).ok()?;
            RawMsg::Of11FlowRemoved
        }
        Version::Of15 => return None,
    };
    encode(
        &Message::Unparsed(Unparsed {
            raw,
            flags: 0,
            body: w.into_vec(),
        }),
        version,
        0,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ofp::message::{Port, PortReason};

    fn subscriber(
        hub: &AsyncHub,
        role: Role,
        muted: bool,
        conn_id: u64,
    ) -> (Arc<Subscriber>, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(16);
        let s = Subscriber::new(tx);
        {
            let mut st = s.state.lock();
            st.version = Some(Version::Of13);
            st.role = role;
            st.async_config = AsyncConfig::default_for(Version::Of13);
            st.muted = muted;
            st.conn_id = conn_id;
        }
        hub.subscribe(&s);
        (s, rx)
    }

    fn count(rx: &mut mpsc::Receiver<Vec<u8>>) -> usize {
        std::iter::from_fn(|| rx.try_recv().ok()).count()
    }

    #[test]
    fn each_connection_gets_what_its_role_and_async_config_take() {
        let hub = AsyncHub::default();
        let (_p, mut primary) = subscriber(&hub, Role::Equal, false, 1);
        let (_s, mut secondary) = subscriber(&hub, Role::Secondary, false, 2);
        let (_m, mut muted) = subscriber(&hub, Role::Equal, true, 3);
        let (c, mut custom) = subscriber(&hub, Role::Equal, false, 4);
        // This one wants packet-ins for table misses only (NO_MATCH, and
        // with it the table-miss rules' internal reason).
        c.state.lock().async_config.packet_in.primary = Some(1 | 1 << 6);

        let ps = PortStatus {
            reason: PortReason::Add,
            desc: Port::default(),
        };
        hub.port_status(&ps, None);
        assert_eq!(
            [&mut primary, &mut secondary, &mut muted, &mut custom].map(count),
            [1, 1, 0, 1],
            "port-status goes to every role"
        );
        hub.port_status(&ps, Some(4));
        assert_eq!(count(&mut custom), 0, "not to the port-mod's sender");
        assert_eq!(count(&mut primary), 1);
        count(&mut secondary);

        let pi = |reason| PacketIn {
            reason,
            data: vec![0; 60],
            total_len: 60,
            ..PacketIn::default()
        };
        hub.packet_in(&pi(1), 0);
        assert_eq!(
            [&mut primary, &mut secondary, &mut muted, &mut custom].map(count),
            [1, 0, 0, 0],
            "an action's packet-in: not to secondaries, nor to who masked it"
        );
        hub.packet_in(&pi(0), 0);
        assert_eq!(count(&mut custom), 1, "a table miss it asked for");
        hub.packet_in(&pi(crate::xlate::reason::EXPLICIT_MISS), 0);
        assert_eq!(count(&mut custom), 1, "a table-miss rule's too");
        assert_eq!(count(&mut primary), 2);
        // OFPR_INVALID_TTL is off by default.
        hub.packet_in(&pi(2), 0);
        assert_eq!(count(&mut primary), 0);
    }

    #[test]
    fn reasons_go_out_as_each_version_has_them() {
        use crate::xlate::reason::*;
        let on = |r| Version::ALL.map(|v| reason_on_wire(r, v));
        assert_eq!(on(EXPLICIT_MISS), [ACTION, NO_MATCH, NO_MATCH, NO_MATCH]);
        assert_eq!(on(IMPLICIT_MISS), [NO_MATCH; 4]);
        assert_eq!(on(GROUP), [ACTION, ACTION, GROUP, GROUP]);
        assert_eq!(on(INVALID_TTL), [INVALID_TTL; 4]);
    }
}
