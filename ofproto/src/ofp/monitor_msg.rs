//! Flow monitors: the flow monitor request (NXST_FLOW_MONITOR in OpenFlow
//! 1.0, ONFST_FLOW_MONITOR in 1.3, OFPMP_FLOW_MONITOR in 1.4+), the flow
//! updates a switch sends in reply and afterwards, and the cancel message
//! (NXT/ONFT_FLOW_MONITOR_CANCEL; 1.4+ cancels with a DELETE request). One
//! semantic type each, whatever the version, with Open vSwitch's encodings
//! (`lib/ofp-monitor.c`): NX and ONF requests and updates use the Nicira
//! layouts and flag bits, which decoding turns into OpenFlow 1.4's.

use super::action::{self, Action};
use super::codec::{Reader, Writer};
use super::error::{BadRequest, FlowMonitorFailed, OfpError};
use super::flow_msg::{action_err, match_err};
use super::instruction;
use super::matching::{port_from_u16, port_to_u16, Match};
use super::message::RawMsg;
use super::Version;

/// OFPFMF_*: which flows to report and what to include (OpenFlow 1.4
/// numbering; NX/ONF flags are converted).
pub mod flags {
    pub const INITIAL: u16 = 1 << 0;
    pub const ADD: u16 = 1 << 1;
    pub const REMOVED: u16 = 1 << 2;
    pub const MODIFY: u16 = 1 << 3;
    pub const INSTRUCTIONS: u16 = 1 << 4;
    pub const NO_ABBREV: u16 = 1 << 5;
    /// As Open vSwitch uses it: the requester's own changes in full.
    pub const ONLY_OWN: u16 = 1 << 6;
    /// The bits a request may carry (Open vSwitch refuses NO_ABBREV).
    pub const VALID: u16 = INITIAL | ADD | REMOVED | MODIFY | INSTRUCTIONS | ONLY_OWN;
    /// At least one of these must be set.
    pub const EVENTS: u16 = ADD | REMOVED | MODIFY;
}

/// NXFMF_* (also ONFFMF_*) and their OpenFlow 1.4 counterparts.
const NX_FLAGS: [(u16, u16); 6] = [
    (1 << 0, flags::INITIAL),
    (1 << 1, flags::ADD),
    (1 << 2, flags::REMOVED),
    (1 << 3, flags::MODIFY),
    (1 << 4, flags::INSTRUCTIONS),
    (1 << 5, flags::ONLY_OWN),
];

fn nx_to_of_flags(nx: u16) -> u16 {
    NX_FLAGS
        .iter()
        .filter(|(n, _)| nx & n != 0)
        .fold(0, |acc, (_, o)| acc | o)
}

fn of_to_nx_flags(of: u16) -> u16 {
    NX_FLAGS
        .iter()
        .filter(|(_, o)| of & o != 0)
        .fold(0, |acc, (n, _)| acc | n)
}

/// OFPFMC_*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorCommand {
    Add,
    Modify,
    Delete,
}

/// One flow monitor request (a message may carry several).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMonitorRequest {
    pub id: u32,
    pub command: MonitorCommand,
    /// OFPFMF_* ([`flags`]).
    pub flags: u16,
    /// Only flows that output to this port (OpenFlow 1.1+ numbering,
    /// `u32::MAX` for any).
    pub out_port: u32,
    /// Only flows that use this group (`u32::MAX` for any).
    pub out_group: u32,
    /// One table, or 0xff for all.
    pub table_id: u8,
    /// Flows whose match is at least as specific as this.
    pub matched: Match,
}

/// OFPFME_*: what happened to a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateEvent {
    /// There when the monitor was set up (NX/ONF: ADDED).
    Initial,
    Added,
    Removed,
    Modified,
}

/// A flow update with the flow in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowUpdateFull {
    pub event: UpdateEvent,
    /// OFPRR_* for a removed flow, else 0.
    pub reason: u8,
    pub table_id: u8,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub cookie: u64,
    pub matched: Match,
    /// Empty unless the monitor asked for actions.
    pub actions: Vec<Action>,
}

/// One entry of a flow monitor reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowUpdate {
    Full(FlowUpdateFull),
    /// The requester's own change, named by the xid of its request.
    Abbrev {
        xid: u32,
    },
}

fn short<T>(_: T) -> OfpError {
    OfpError::BadRequest(BadRequest::BadLen)
}

fn bad_flags() -> OfpError {
    OfpError::FlowMonitorFailed(FlowMonitorFailed::BadFlags)
}

fn check_flags(of: u16) -> Result<(), OfpError> {
    if of & flags::EVENTS == 0 || of & !flags::VALID != 0 {
        return Err(bad_flags());
    }
    Ok(())
}

fn must_be_zero(b: &[u8]) -> Result<(), OfpError> {
    if b.iter().any(|x| *x != 0) {
        return Err(OfpError::BadRequest(BadRequest::MustBeZero));
    }
    Ok(())
}

/// The reply variant for `version`.
pub fn reply_raw(version: Version) -> RawMsg {
    match version {
        Version::Of10 => RawMsg::NxstFlowMonitorReply,
        Version::Of13 => RawMsg::Onfst13FlowMonitorReply,
        Version::Of14 | Version::Of15 => RawMsg::Of14FlowMonitorReply,
    }
}

/// The request variant for `version`.
pub fn request_raw(version: Version) -> RawMsg {
    match version {
        Version::Of10 => RawMsg::NxstFlowMonitorRequest,
        Version::Of13 => RawMsg::Onfst13FlowMonitorRequest,
        Version::Of14 | Version::Of15 => RawMsg::Of14FlowMonitorRequest,
    }
}

/// Decodes the requests in the body of a flow monitor request of variant
/// `raw`, as Open vSwitch's `ofputil_decode_flow_monitor_request` does:
/// a short entry is BAD_LEN; flags with no event or unknown bits
/// OFPMOFC_BAD_FLAGS; non-zero padding NXBRC_MUST_BE_ZERO; then the match's
/// errors. An OpenFlow 1.4 DELETE carries only an id (and a match).
pub fn decode_requests(raw: RawMsg, body: &[u8]) -> Result<Vec<FlowMonitorRequest>, OfpError> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(decode_request(raw, &mut r)?);
    }
    Ok(out)
}

fn decode_request(raw: RawMsg, r: &mut Reader<'_>) -> Result<FlowMonitorRequest, OfpError> {
    if r.remaining() < 16 {
        return Err(short(()));
    }
    match raw {
        RawMsg::NxstFlowMonitorRequest => {
            let id = r.u32().map_err(short)?;
            let nx_flags = r.u16().map_err(short)?;
            let out_port = port_from_u16(r.u16().map_err(short)?);
            let match_len = usize::from(r.u16().map_err(short)?);
            let table_id = r.u8().map_err(short)?;
            let zeros = r.bytes(5).map_err(short)?;
            if nx_flags & !0x3f != 0 {
                return Err(bad_flags());
            }
            let flags = nx_to_of_flags(nx_flags);
            check_flags(flags)?;
            must_be_zero(zeros)?;
            let (matched, _) = Match::pull_nxm(r, match_len, false).map_err(match_err)?;
            Ok(FlowMonitorRequest {
                id,
                command: MonitorCommand::Add,
                flags,
                out_port,
                out_group: u32::MAX,
                table_id,
                matched,
            })
        }
        RawMsg::Onfst13FlowMonitorRequest => {
            let id = r.u32().map_err(short)?;
            let onf_flags = r.u16().map_err(short)?;
            let _match_len = r.u16().map_err(short)?;
            let out_port = r.u32().map_err(short)?;
            let table_id = r.u8().map_err(short)?;
            let zeros = r.bytes(3).map_err(short)?;
            if onf_flags & !0x3f != 0 {
                return Err(bad_flags());
            }
            let flags = nx_to_of_flags(onf_flags);
            check_flags(flags)?;
            must_be_zero(zeros)?;
            let matched = Match::decode_oxm(r).map_err(match_err)?;
            Ok(FlowMonitorRequest {
                id,
                command: MonitorCommand::Add,
                flags,
                out_port,
                out_group: u32::MAX,
                table_id,
                matched,
            })
        }
        _ => {
            let id = r.u32().map_err(short)?;
            let out_port = r.u32().map_err(short)?;
            let out_group = r.u32().map_err(short)?;
            let flags = r.u16().map_err(short)?;
            let table_id = r.u8().map_err(short)?;
            let command = match r.u8().map_err(short)? {
                0 => MonitorCommand::Add,
                1 => MonitorCommand::Modify,
                2 => MonitorCommand::Delete,
                _ => return Err(OfpError::FlowMonitorFailed(FlowMonitorFailed::BadCommand)),
            };
            if command != MonitorCommand::Delete {
                check_flags(flags)?;
            }
            let matched = Match::decode_oxm(r).map_err(match_err)?;
            Ok(FlowMonitorRequest {
                id,
                command,
                flags,
                out_port,
                out_group,
                table_id,
                matched,
            })
        }
    }
}

/// Encodes one request as an entry of `version`'s request body (the NX and
/// ONF layouts cannot say MODIFY or DELETE, nor an out_group).
pub fn encode_request(version: Version, rq: &FlowMonitorRequest) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    match version {
        Version::Of10 | Version::Of13 if rq.command != MonitorCommand::Add => {
            return Err(OfpError::FlowMonitorFailed(FlowMonitorFailed::BadCommand));
        }
        Version::Of10 => {
            let port = port_to_u16(rq.out_port).ok_or(OfpError::BadRequest(BadRequest::BadPort))?;
            let m = w.mark();
            w.u32(rq.id).u16(of_to_nx_flags(rq.flags)).u16(port);
            w.u16(0).u8(rq.table_id).zeros(5);
            let n = rq.matched.encode_nxm(&mut w).map_err(match_err)?;
            w.patch_u16(m, 8, n as u16);
            w.zeros((8 - n % 8) % 8);
        }
        Version::Of13 => {
            let mut mw = Writer::new();
            rq.matched.encode_oxm(version, &mut mw).map_err(match_err)?;
            let mb = mw.into_vec();
            let match_len = u16::from_be_bytes([mb[2], mb[3]]);
            w.u32(rq.id).u16(of_to_nx_flags(rq.flags)).u16(match_len);
            w.u32(rq.out_port).u8(rq.table_id).zeros(3).bytes(&mb);
        }
        Version::Of14 | Version::Of15 => {
            let command = match rq.command {
                MonitorCommand::Add => 0,
                MonitorCommand::Modify => 1,
                MonitorCommand::Delete => 2,
            };
            w.u32(rq.id).u32(rq.out_port).u32(rq.out_group);
            w.u16(rq.flags).u8(rq.table_id).u8(command);
            rq.matched.encode_oxm(version, &mut w).map_err(match_err)?;
        }
    }
    Ok(w.into_vec())
}

fn nx_event(e: UpdateEvent) -> u16 {
    match e {
        UpdateEvent::Initial | UpdateEvent::Added => 0,
        UpdateEvent::Removed => 1,
        UpdateEvent::Modified => 2,
    }
}

fn of_event(e: UpdateEvent) -> u16 {
    match e {
        UpdateEvent::Initial => 0,
        UpdateEvent::Added => 1,
        UpdateEvent::Removed => 2,
        UpdateEvent::Modified => 3,
    }
}

/// Encodes one update as an entry of `version`'s flow monitor reply.
pub fn encode_update(version: Version, u: &FlowUpdate) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    let m = w.mark();
    let nx = version < Version::Of14;
    match u {
        FlowUpdate::Abbrev { xid } => {
            w.u16(8).u16(if nx { 3 } else { 4 }).u32(*xid);
        }
        FlowUpdate::Full(f) if nx => {
            w.u16(0).u16(nx_event(f.event)).u16(u16::from(f.reason));
            w.u16(f.priority).u16(f.idle_timeout).u16(f.hard_timeout);
            w.u16(0).u8(f.table_id).u8(0).u64(f.cookie);
            let match_len = if version == Version::Of10 {
                let n = f.matched.encode_nxm(&mut w).map_err(match_err)?;
                w.zeros((8 - n % 8) % 8);
                action::encode(&f.actions, version, &mut w).map_err(action_err)?;
                n
            } else {
                let at = w.since(m);
                f.matched.encode_oxm(version, &mut w).map_err(match_err)?;
                let b = w.as_slice();
                let n = usize::from(u16::from_be_bytes([b[at + 2], b[at + 3]]));
                instruction::encode(&f.actions, version, &mut w).map_err(action_err)?;
                n
            };
            w.patch_u16(m, 12, match_len as u16);
        }
        FlowUpdate::Full(f) => {
            w.u16(0).u16(of_event(f.event)).u8(f.table_id).u8(f.reason);
            w.u16(f.idle_timeout).u16(f.hard_timeout).u16(f.priority);
            w.zeros(4).u64(f.cookie);
            f.matched.encode_oxm(version, &mut w).map_err(match_err)?;
            instruction::encode(&f.actions, version, &mut w).map_err(action_err)?;
        }
    }
    let len = u16::try_from(w.since(m)).map_err(short)?;
    w.patch_u16(m, 0, len);
    Ok(w.into_vec())
}

/// Decodes the updates in a flow monitor reply body of `version`, as Open
/// vSwitch's `ofputil_decode_flow_update` does (paused and resumed
/// notices are left out).
pub fn decode_updates(version: Version, body: &[u8]) -> Result<Vec<FlowUpdate>, OfpError> {
    let mut r = Reader::new(body);
    let mut out = Vec::new();
    let nx = version < Version::Of14;
    while !r.is_empty() {
        if r.remaining() < 4 {
            return Err(short(()));
        }
        let len = usize::from(r.peek_u16().map_err(short)?);
        if len > r.remaining() || len % 8 != 0 || len < 8 {
            return Err(short(()));
        }
        let mut e = r.sub(len).map_err(short)?;
        e.skip(2).map_err(short)?;
        let event = e.u16().map_err(short)?;
        let bad_event = || OfpError::BadRequest(BadRequest::FmBadEvent);
        let ev = match (nx, event) {
            (true, 3) | (false, 4) => {
                if len != 8 {
                    return Err(short(()));
                }
                out.push(FlowUpdate::Abbrev {
                    xid: e.u32().map_err(short)?,
                });
                continue;
            }
            (false, 5 | 6) => {
                if len != 8 {
                    return Err(short(()));
                }
                continue;
            }
            (true, 0) => UpdateEvent::Added,
            (true, 1) => UpdateEvent::Removed,
            (true, 2) => UpdateEvent::Modified,
            (false, 0) => UpdateEvent::Initial,
            (false, 1) => UpdateEvent::Added,
            (false, 2) => UpdateEvent::Removed,
            (false, 3) => UpdateEvent::Modified,
            _ => return Err(bad_event()),
        };
        if len < 24 {
            return Err(short(()));
        }
        let f = if nx {
            let reason = e.u16().map_err(short)?;
            let priority = e.u16().map_err(short)?;
            let idle_timeout = e.u16().map_err(short)?;
            let hard_timeout = e.u16().map_err(short)?;
            let match_len = usize::from(e.u16().map_err(short)?);
            let table_id = e.u8().map_err(short)?;
            e.skip(1).map_err(short)?;
            let cookie = e.u64().map_err(short)?;
            let (matched, actions) = if version == Version::Of10 {
                let (matched, _) = Match::pull_nxm(&mut e, match_len, false).map_err(match_err)?;
                let actions = action::decode(version, e.rest()).map_err(action_err)?;
                (matched, actions)
            } else {
                let matched = Match::decode_oxm(&mut e).map_err(match_err)?;
                let actions = instruction::decode(version, e.rest()).map_err(action_err)?;
                (matched, actions)
            };
            FlowUpdateFull {
                event: ev,
                reason: reason as u8,
                table_id,
                priority,
                idle_timeout,
                hard_timeout,
                cookie,
                matched,
                actions,
            }
        } else {
            let table_id = e.u8().map_err(short)?;
            let reason = e.u8().map_err(short)?;
            let idle_timeout = e.u16().map_err(short)?;
            let hard_timeout = e.u16().map_err(short)?;
            let priority = e.u16().map_err(short)?;
            e.skip(4).map_err(short)?;
            let cookie = e.u64().map_err(short)?;
            let matched = Match::decode_oxm(&mut e).map_err(match_err)?;
            let actions = instruction::decode(version, e.rest()).map_err(action_err)?;
            FlowUpdateFull {
                event: ev,
                reason,
                table_id,
                priority,
                idle_timeout,
                hard_timeout,
                cookie,
                matched,
                actions,
            }
        };
        out.push(FlowUpdate::Full(f));
    }
    Ok(out)
}

/// The monitor id of an NXT/ONFT_FLOW_MONITOR_CANCEL body.
pub fn decode_cancel(body: &[u8]) -> Result<u32, OfpError> {
    let mut r = Reader::new(body);
    let id = r.u32().map_err(short)?;
    r.expect_empty().map_err(short)?;
    Ok(id)
}

/// The body of an NXT/ONFT_FLOW_MONITOR_CANCEL.
pub fn encode_cancel(id: u32) -> Vec<u8> {
    id.to_be_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(flags: u16) -> FlowMonitorRequest {
        let mut matched = Match::new();
        matched.set_in_port(3).unwrap_or_else(|e| panic!("{e:?}"));
        FlowMonitorRequest {
            id: 7,
            command: MonitorCommand::Add,
            flags,
            out_port: u32::MAX,
            out_group: u32::MAX,
            table_id: 0xff,
            matched,
        }
    }

    #[test]
    fn requests_round_trip_in_every_layout() {
        let f = flags::INITIAL | flags::ADD | flags::MODIFY | flags::ONLY_OWN;
        for v in Version::ALL {
            let rq = request(f);
            let b = encode_request(v, &rq).unwrap_or_else(|e| panic!("{v:?}: {e:?}"));
            assert_eq!(b.len() % 8, 0, "{v:?}");
            let back = decode_requests(request_raw(v), &b);
            assert_eq!(back, Ok(vec![rq.clone()]), "{v:?}");
            // Two in one message.
            let two = [b.clone(), b].concat();
            assert_eq!(
                decode_requests(request_raw(v), &two).map(|x| x.len()),
                Ok(2)
            );
        }
        // NXFMF_OWN is bit 5, OFPFMF_ONLY_OWN bit 6.
        let b = encode_request(Version::Of10, &request(f)).unwrap_or_default();
        assert_eq!(u16::from_be_bytes([b[4], b[5]]), 0b10_1011);
    }

    #[test]
    fn bad_requests_as_open_vswitch() {
        for v in Version::ALL {
            let raw = request_raw(v);
            let mut b = encode_request(v, &request(flags::ADD)).unwrap_or_default();
            assert_eq!(decode_requests(raw, &b[..12]), Err(short(())), "{v:?}");
            // No event.
            let at = if v >= Version::Of14 { 12 } else { 4 };
            b[at..at + 2].copy_from_slice(&flags::INITIAL.to_be_bytes());
            assert_eq!(decode_requests(raw, &b), Err(bad_flags()), "{v:?}");
            // Unknown bits (1.4: NO_ABBREV, which Open vSwitch refuses).
            b[at..at + 2].copy_from_slice(&0x0022u16.to_be_bytes());
            let want = if v >= Version::Of14 {
                Err(bad_flags())
            } else {
                Ok(1)
            };
            assert_eq!(decode_requests(raw, &b).map(|x| x.len()), want, "{v:?}");
            b[at..at + 2].copy_from_slice(&0x0082u16.to_be_bytes());
            assert_eq!(decode_requests(raw, &b).map(|x| x.len()), Err(bad_flags()));
            if v < Version::Of14 {
                b[at..at + 2].copy_from_slice(&flags::ADD.to_be_bytes());
                b[15] = 1;
                assert_eq!(
                    decode_requests(raw, &b),
                    Err(OfpError::BadRequest(BadRequest::MustBeZero))
                );
            }
        }
        // 1.4 delete needs no flags; unknown commands are refused.
        let mut d = request(0);
        d.command = MonitorCommand::Delete;
        let b = encode_request(Version::Of14, &d).unwrap_or_default();
        assert_eq!(
            decode_requests(RawMsg::Of14FlowMonitorRequest, &b),
            Ok(vec![d])
        );
        let mut b = b;
        b[15] = 3;
        assert_eq!(
            decode_requests(RawMsg::Of14FlowMonitorRequest, &b),
            Err(OfpError::FlowMonitorFailed(FlowMonitorFailed::BadCommand))
        );
    }

    #[test]
    fn updates_round_trip() {
        let mut matched = Match::new();
        matched.set_in_port(1).unwrap_or_else(|e| panic!("{e:?}"));
        let full = |event| {
            FlowUpdate::Full(FlowUpdateFull {
                event,
                reason: if event == UpdateEvent::Removed { 2 } else { 0 },
                table_id: 3,
                priority: 100,
                idle_timeout: 5,
                hard_timeout: 6,
                cookie: 0xabc,
                matched: matched.clone(),
                actions: vec![Action::output(2)],
            })
        };
        for v in Version::ALL {
            let mut body = Vec::new();
            let mut want = Vec::new();
            for e in [
                UpdateEvent::Initial,
                UpdateEvent::Added,
                UpdateEvent::Removed,
                UpdateEvent::Modified,
            ] {
                let u = full(e);
                body.extend(encode_update(v, &u).unwrap_or_else(|e| panic!("{v:?}: {e:?}")));
                // NX and ONF have no INITIAL: it reads back as ADDED.
                want.push(match u {
                    FlowUpdate::Full(mut f) if v < Version::Of14 && e == UpdateEvent::Initial => {
                        f.event = UpdateEvent::Added;
                        FlowUpdate::Full(f)
                    }
                    u => u,
                });
            }
            let a = FlowUpdate::Abbrev { xid: 0x1234 };
            body.extend(encode_update(v, &a).unwrap_or_default());
            want.push(a);
            assert_eq!(decode_updates(v, &body), Ok(want), "{v:?}");
        }
    }

    #[test]
    fn cancel_round_trips() {
        assert_eq!(decode_cancel(&encode_cancel(9)), Ok(9));
        assert!(decode_cancel(&[0, 0, 0]).is_err());
    }
}
