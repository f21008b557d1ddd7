//! Messages about flows, whose bodies carry a match and actions: flow_mod
//! (OpenFlow 1.0, NXT_FLOW_MOD, OpenFlow 1.1+), flow and aggregate stats
//! requests and replies, and packet-out. The message layer hands these over
//! as [`Unparsed`] (their raw variant and body); this module gives them one
//! semantic type each.

use super::action::{self, Action};
use super::codec::{Reader, Writer};
use super::error::{BadRequest, OfpError};
use super::instruction;
use super::matching::{port_from_u16, port_to_u16, Match, MatchError};
use super::message::{RawMsg, Unparsed};
use super::Version;

/// OFPFC_*.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowModCommand {
    Add,
    Modify,
    ModifyStrict,
    Delete,
    DeleteStrict,
}

/// A flow_mod, whatever the version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    pub command: FlowModCommand,
    pub table_id: u8,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub buffer_id: u32,
    pub out_port: u32,
    pub out_group: u32,
    /// OFPFF_*: bit 0 send_flow_rem, 1 check_overlap, 2 reset_counts
    /// (1.3+; 1.0's emergency bit is refused), 3 no_pkt_counts, 4
    /// no_byt_counts.
    pub flags: u16,
    pub importance: u16,
    pub matched: Match,
    /// The single action list (instructions included, see `instruction`).
    pub actions: Vec<Action>,
}

/// A flow or aggregate stats request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsRequest {
    pub table_id: u8,
    pub out_port: u32,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub matched: Match,
}

/// One flow in a flow stats reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStats {
    pub table_id: u8,
    pub duration_ms: u64,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: u16,
    pub importance: u16,
    /// Seconds since the flow last matched / was created (NXST only).
    pub idle_age: u16,
    pub hard_age: u16,
    pub cookie: u64,
    pub packet_count: u64,
    pub byte_count: u64,
    pub matched: Match,
    pub actions: Vec<Action>,
}

/// An aggregate stats reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AggregateStats {
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_count: u32,
}

/// A packet-out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOut {
    pub buffer_id: u32,
    pub in_port: u32,
    pub actions: Vec<Action>,
    pub data: Vec<u8>,
}

/// One of the messages above, decoded from an [`Unparsed`] body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FlowMsg {
    FlowMod(FlowMod),
    FlowStatsRequest(FlowStatsRequest),
    AggregateRequest(FlowStatsRequest),
    PacketOut(PacketOut),
}

pub(crate) fn match_err(e: MatchError) -> OfpError {
    e.code()
        .and_then(|c| OfpError::from_name(c.name()))
        .unwrap_or(OfpError::BadRequest(BadRequest::BadLen))
}

pub(crate) fn action_err(e: action::ActionError) -> OfpError {
    e.ofperr_name()
        .and_then(OfpError::from_name)
        .unwrap_or(OfpError::BadRequest(BadRequest::BadLen))
}

fn short<T>(_: T) -> OfpError {
    OfpError::BadRequest(BadRequest::BadLen)
}

fn command(c: u8) -> Result<FlowModCommand, OfpError> {
    Ok(match c {
        0 => FlowModCommand::Add,
        1 => FlowModCommand::Modify,
        2 => FlowModCommand::ModifyStrict,
        3 => FlowModCommand::Delete,
        4 => FlowModCommand::DeleteStrict,
        _ => {
            return Err(OfpError::from_name("OFPFMFC_BAD_COMMAND")
                .unwrap_or(OfpError::BadRequest(BadRequest::BadLen)))
        }
    })
}

fn port16(p: u16) -> u32 {
    port_from_u16(p)
}

fn ofperr(name: &str) -> OfpError {
    OfpError::from_name(name).unwrap_or(OfpError::BadRequest(BadRequest::EPerm))
}

/// OFPFF_* bits a flow_mod may carry in `version` (OpenFlow 1.0: send
/// flow-removed, check overlap, emergency; 1.3+: and reset counts, no packet
/// and no byte counts in place of emergency).
fn check_flags(version: Version, flags: u16) -> Result<(), OfpError> {
    let valid = if version == Version::Of10 { 0x7 } else { 0x1f };
    if flags & !valid != 0 {
        return Err(ofperr("OFPFMFC_BAD_FLAGS"));
    }
    Ok(())
}

/// OpenFlow 1.0's 16-bit command carries a table id in its upper byte only
/// once the connection enabled NXT_FLOW_MOD_TABLE_ID. Without one, a flow
/// mod means every table (OFPTT_ALL), as in Open vSwitch; an add to "every
/// table" goes to table 0.
fn table_from_command(cmd: u16, table_in_cmd: bool) -> Result<u8, OfpError> {
    let add = cmd & 0xff == 0;
    let t = match (cmd >> 8) as u8 {
        t if table_in_cmd => t,
        0 => 0xff,
        _ => return Err(ofperr("OFPFMFC_BAD_COMMAND")),
    };
    Ok(if add && t == 0xff { 0 } else { t })
}

/// Checks a flow_mod's actions against its match as Open vSwitch's
/// `ofputil_decode_flow_mod` ends (`ofpacts_check_consistency`, with the
/// limits of an OVS bridge: ports below 0xff00, 255 tables): prerequisites
/// of the fields actions set (OFPBAC_MATCH_INCONSISTENT from OpenFlow 1.1
/// on), ports, tables. It also records in the actions what the match says
/// (whether the flow has a VLAN, its IP protocol), which decides how
/// OpenFlow 1.0's `mod_vlan_vid` and `mod_tp_src` are written in later
/// versions.
fn checked(version: Version, mut fm: FlowMod) -> Result<FlowMod, OfpError> {
    let p = action::CheckParams {
        version,
        max_ports: 0xff00,
        table_id: (fm.table_id != 0xff).then_some(fm.table_id),
        n_tables: 255,
    };
    action::check(&mut fm.actions, &fm.matched, &p).map_err(action_err)?;
    Ok(fm)
}

/// Decodes the flow-related message `u` carries, if it is one.
/// `flow_mod_table_id`: the connection enabled NXT_FLOW_MOD_TABLE_ID, so
/// OpenFlow 1.0 flow_mods carry a table id in the command's upper byte.
pub fn decode(
    version: Version,
    u: &Unparsed,
    flow_mod_table_id: bool,
) -> Option<Result<FlowMsg, OfpError>> {
    let mut r = Reader::new(&u.body);
    let flow_mod = |fm: Result<FlowMod, OfpError>| {
        fm.and_then(|fm| checked(version, fm)).map(FlowMsg::FlowMod)
    };
    let out = match u.raw {
        RawMsg::Of10FlowMod => flow_mod(decode_of10_flow_mod(&mut r, flow_mod_table_id)),
        RawMsg::NxtFlowMod => flow_mod(decode_nx_flow_mod(version, &mut r, flow_mod_table_id)),
        RawMsg::Of11FlowMod => flow_mod(decode_of11_flow_mod(version, &mut r)),
        RawMsg::Of10FlowStatsRequest => {
            decode_of10_stats_request(&mut r).map(FlowMsg::FlowStatsRequest)
        }
        RawMsg::Of10AggregateRequest => {
            decode_of10_stats_request(&mut r).map(FlowMsg::AggregateRequest)
        }
        RawMsg::NxstFlowRequest => decode_nx_stats_request(&mut r).map(FlowMsg::FlowStatsRequest),
        RawMsg::NxstAggregateRequest => {
            decode_nx_stats_request(&mut r).map(FlowMsg::AggregateRequest)
        }
        RawMsg::Of11FlowStatsRequest => {
            decode_of11_stats_request(&mut r).map(FlowMsg::FlowStatsRequest)
        }
        RawMsg::Of11AggregateRequest | RawMsg::Of15AggregateRequest => {
            decode_of11_stats_request(&mut r).map(FlowMsg::AggregateRequest)
        }
        RawMsg::Of10PacketOut => decode_of10_packet_out(&mut r).map(FlowMsg::PacketOut),
        RawMsg::Of11PacketOut => decode_of11_packet_out(version, &mut r).map(FlowMsg::PacketOut),
        RawMsg::Of15PacketOut => decode_of15_packet_out(&mut r).map(FlowMsg::PacketOut),
        _ => return None,
    };
    Some(out)
}

fn decode_of10_flow_mod(r: &mut Reader<'_>, table_in_cmd: bool) -> Result<FlowMod, OfpError> {
    let matched = Match::decode_of10(r).map_err(match_err)?;
    let cookie = r.u64().map_err(short)?;
    let cmd = r.u16().map_err(short)?;
    let idle_timeout = r.u16().map_err(short)?;
    let hard_timeout = r.u16().map_err(short)?;
    let priority = r.u16().map_err(short)?;
    let buffer_id = r.u32().map_err(short)?;
    let out_port = port16(r.u16().map_err(short)?);
    let flags = r.u16().map_err(short)?;
    check_flags(Version::Of10, flags)?;
    let table_id = table_from_command(cmd, table_in_cmd)?;
    let actions = instruction::decode(Version::Of10, r.rest()).map_err(action_err)?;
    Ok(FlowMod {
        command: command(cmd as u8)?,
        table_id,
        cookie,
        cookie_mask: 0,
        idle_timeout,
        hard_timeout,
        priority,
        buffer_id,
        out_port,
        out_group: u32::MAX,
        flags,
        importance: 0,
        matched,
        actions,
    })
}

fn decode_nx_flow_mod(
    version: Version,
    r: &mut Reader<'_>,
    table_in_cmd: bool,
) -> Result<FlowMod, OfpError> {
    let cookie = r.u64().map_err(short)?;
    let cmd = r.u16().map_err(short)?;
    let idle_timeout = r.u16().map_err(short)?;
    let hard_timeout = r.u16().map_err(short)?;
    let priority = r.u16().map_err(short)?;
    let buffer_id = r.u32().map_err(short)?;
    let out_port = port16(r.u16().map_err(short)?);
    let flags = r.u16().map_err(short)?;
    let match_len = r.u16().map_err(short)? as usize;
    r.skip(6).map_err(short)?;
    check_flags(version, flags)?;
    let table_id = table_from_command(cmd, table_in_cmd)?;
    let (matched, nx_cookie) = Match::pull_nxm(r, match_len, true).map_err(match_err)?;
    let actions = instruction::decode(version, r.rest()).map_err(action_err)?;
    // The NXM cookie pseudo-field selects flows by cookie for modify/delete.
    let (sel_cookie, cookie_mask) = nx_cookie.map_or((cookie, 0), |c| (c.value, c.mask));
    let command = command(cmd as u8)?;
    let is_add = command == FlowModCommand::Add;
    Ok(FlowMod {
        command,
        table_id,
        cookie: if is_add { cookie } else { sel_cookie },
        cookie_mask,
        idle_timeout,
        hard_timeout,
        priority,
        buffer_id,
        out_port,
        out_group: u32::MAX,
        flags,
        importance: 0,
        matched,
        actions,
    })
}

fn decode_of11_flow_mod(version: Version, r: &mut Reader<'_>) -> Result<FlowMod, OfpError> {
    let cookie = r.u64().map_err(short)?;
    let cookie_mask = r.u64().map_err(short)?;
    let table_id = r.u8().map_err(short)?;
    let command = command(r.u8().map_err(short)?)?;
    let idle_timeout = r.u16().map_err(short)?;
    let hard_timeout = r.u16().map_err(short)?;
    let priority = r.u16().map_err(short)?;
    let buffer_id = r.u32().map_err(short)?;
    let out_port = r.u32().map_err(short)?;
    let out_group = r.u32().map_err(short)?;
    let flags = r.u16().map_err(short)?;
    let importance = r.u16().map_err(short)?;
    check_flags(version, flags)?;
    // From OpenFlow 1.1 on only deletes may name every table.
    if table_id == 0xff
        && !matches!(
            command,
            FlowModCommand::Delete | FlowModCommand::DeleteStrict
        )
    {
        return Err(ofperr("OFPFMFC_BAD_TABLE_ID"));
    }
    let matched = Match::decode_oxm(r).map_err(match_err)?;
    let actions = instruction::decode(version, r.rest()).map_err(action_err)?;
    Ok(FlowMod {
        command,
        table_id,
        cookie,
        cookie_mask,
        idle_timeout,
        hard_timeout,
        priority,
        buffer_id,
        out_port,
        out_group,
        flags,
        importance: if version >= Version::Of14 {
            importance
        } else {
            0
        },
        matched,
        actions,
    })
}

fn decode_of10_stats_request(r: &mut Reader<'_>) -> Result<FlowStatsRequest, OfpError> {
    let matched = Match::decode_of10(r).map_err(match_err)?;
    let table_id = r.u8().map_err(short)?;
    r.skip(1).map_err(short)?;
    let out_port = port16(r.u16().map_err(short)?);
    Ok(FlowStatsRequest {
        table_id,
        out_port,
        out_group: u32::MAX,
        cookie: 0,
        cookie_mask: 0,
        matched,
    })
}

fn decode_nx_stats_request(r: &mut Reader<'_>) -> Result<FlowStatsRequest, OfpError> {
    let out_port = port16(r.u16().map_err(short)?);
    let match_len = r.u16().map_err(short)? as usize;
    let table_id = r.u8().map_err(short)?;
    r.skip(3).map_err(short)?;
    let (matched, cookie) = Match::pull_nxm(r, match_len, true).map_err(match_err)?;
    let (cookie, cookie_mask) = cookie.map_or((0, 0), |c| (c.value, c.mask));
    Ok(FlowStatsRequest {
        table_id,
        out_port,
        out_group: u32::MAX,
        cookie,
        cookie_mask,
        matched,
    })
}

fn decode_of11_stats_request(r: &mut Reader<'_>) -> Result<FlowStatsRequest, OfpError> {
    let table_id = r.u8().map_err(short)?;
    r.skip(3).map_err(short)?;
    let out_port = r.u32().map_err(short)?;
    let out_group = r.u32().map_err(short)?;
    r.skip(4).map_err(short)?;
    let cookie = r.u64().map_err(short)?;
    let cookie_mask = r.u64().map_err(short)?;
    let matched = Match::decode_oxm(r).map_err(match_err)?;
    Ok(FlowStatsRequest {
        table_id,
        out_port,
        out_group,
        cookie,
        cookie_mask,
        matched,
    })
}

fn decode_of10_packet_out(r: &mut Reader<'_>) -> Result<PacketOut, OfpError> {
    let buffer_id = r.u32().map_err(short)?;
    let in_port = port16(r.u16().map_err(short)?);
    let actions_len = r.u16().map_err(short)? as usize;
    let acts = r.bytes(actions_len).map_err(short)?;
    let actions = action::decode(Version::Of10, acts).map_err(action_err)?;
    Ok(PacketOut {
        buffer_id,
        in_port,
        actions,
        data: r.rest().to_vec(),
    })
}

fn decode_of11_packet_out(version: Version, r: &mut Reader<'_>) -> Result<PacketOut, OfpError> {
    let buffer_id = r.u32().map_err(short)?;
    let in_port = r.u32().map_err(short)?;
    let actions_len = r.u16().map_err(short)? as usize;
    r.skip(6).map_err(short)?;
    let acts = r.bytes(actions_len).map_err(short)?;
    let actions = action::decode(version, acts).map_err(action_err)?;
    Ok(PacketOut {
        buffer_id,
        in_port,
        actions,
        data: r.rest().to_vec(),
    })
}

/// OpenFlow 1.5 carries the packet-out's in_port (and other pipeline
/// fields, which are ignored here) in a match.
fn decode_of15_packet_out(r: &mut Reader<'_>) -> Result<PacketOut, OfpError> {
    let buffer_id = r.u32().map_err(short)?;
    let actions_len = r.u16().map_err(short)? as usize;
    r.skip(2).map_err(short)?;
    let matched = Match::decode_oxm(r).map_err(match_err)?;
    let in_port = matched.in_port().unwrap_or(super::action::port::CONTROLLER);
    let acts = r.bytes(actions_len).map_err(short)?;
    let actions = action::decode(Version::Of15, acts).map_err(action_err)?;
    Ok(PacketOut {
        buffer_id,
        in_port,
        actions,
        data: r.rest().to_vec(),
    })
}

/// The multipart body of a flow stats reply in `version` (the caller wraps
/// it in the reply's [`Unparsed`] with [`flow_stats_reply_raw`]).
pub fn encode_flow_stats(version: Version, flows: &[FlowStats]) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    for f in flows {
        let m = w.mark();
        let secs = (f.duration_ms / 1000) as u32;
        let nsecs = ((f.duration_ms % 1000) * 1_000_000) as u32;
        match version {
            Version::Of10 => {
                // OpenFlow 1.0 dumps use NXST_FLOW when the match needs NXM;
                // the caller picks (see `needs_nxm`).
                w.u16(0).u8(f.table_id).u8(0);
                f.matched.encode_of10(&mut w).map_err(match_err)?;
                w.u32(secs)
                    .u32(nsecs)
                    .u16(f.priority)
                    .u16(f.idle_timeout)
                    .u16(f.hard_timeout)
                    .zeros(6);
                w.u64(f.cookie).u64(f.packet_count).u64(f.byte_count);
                action::encode(&f.actions, version, &mut w).map_err(action_err)?;
            }
            _ => {
                w.u16(0).u8(f.table_id).u8(0).u32(secs).u32(nsecs);
                w.u16(f.priority)
                    .u16(f.idle_timeout)
                    .u16(f.hard_timeout)
                    .u16(f.flags);
                if version >= Version::Of14 {
                    w.u16(f.importance).zeros(2);
                } else {
                    w.zeros(4);
                }
                w.u64(f.cookie).u64(f.packet_count).u64(f.byte_count);
                f.matched.encode_oxm(version, &mut w).map_err(match_err)?;
                instruction::encode(&f.actions, version, &mut w).map_err(action_err)?;
            }
        }
        let len = w.since(m);
        w.patch_u16(m, 0, len as u16);
    }
    Ok(w.into_vec())
}

/// OXS (OpenFlow 1.5 statistics) field ids of class OFPXSC_OPENFLOW_BASIC.
const OXS_DURATION: u8 = 0;
const OXS_IDLE_TIME: u8 = 1;
const OXS_FLOW_COUNT: u8 = 3;
const OXS_PACKET_COUNT: u8 = 4;
const OXS_BYTE_COUNT: u8 = 5;

/// Writes an `ofp_stats` (OXS list, padded to 8 bytes) of the given fields:
/// (field, value bytes).
fn put_oxs(w: &mut Writer, fields: &[(u8, Vec<u8>)]) {
    let m = w.mark();
    w.u16(0).u16(0);
    for (f, v) in fields {
        w.u16(0x8002).u8(f << 1).u8(v.len() as u8).bytes(v);
    }
    let len = w.since(m);
    w.patch_u16(m, 2, len as u16);
    w.pad_from(m, 8);
}

fn oxs_time(ms: u64) -> Vec<u8> {
    let mut v = ((ms / 1000) as u32).to_be_bytes().to_vec();
    v.extend_from_slice(&(((ms % 1000) * 1_000_000) as u32).to_be_bytes());
    v
}

/// The OpenFlow 1.5 flow stats reply body: match, then OXS statistics,
/// then instructions.
pub fn encode_flow_stats_15(flows: &[FlowStats]) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    for f in flows {
        let m = w.mark();
        // Open vSwitch's ofp15_flow_desc: length, pad, table, reason
        // (OFPFSR_STATS_REQUEST = 0), priority, timeouts, flags, importance,
        // cookie.
        w.u16(0).zeros(2).u8(f.table_id).u8(0).u16(f.priority);
        w.u16(f.idle_timeout)
            .u16(f.hard_timeout)
            .u16(f.flags)
            .u16(f.importance)
            .u64(f.cookie);
        f.matched
            .encode_oxm(Version::Of15, &mut w)
            .map_err(match_err)?;
        put_oxs(
            &mut w,
            &[
                (OXS_DURATION, oxs_time(f.duration_ms)),
                (OXS_IDLE_TIME, oxs_time(u64::from(f.idle_age) * 1000)),
                (OXS_PACKET_COUNT, f.packet_count.to_be_bytes().to_vec()),
                (OXS_BYTE_COUNT, f.byte_count.to_be_bytes().to_vec()),
            ],
        );
        instruction::encode(&f.actions, Version::Of15, &mut w).map_err(action_err)?;
        let len = w.since(m);
        w.patch_u16(m, 0, len as u16);
    }
    Ok(w.into_vec())
}

/// The OpenFlow 1.5 aggregate reply body (one OXS list).
pub fn encode_aggregate_15(a: &AggregateStats) -> Vec<u8> {
    let mut w = Writer::new();
    put_oxs(
        &mut w,
        &[
            (OXS_FLOW_COUNT, a.flow_count.to_be_bytes().to_vec()),
            (OXS_PACKET_COUNT, a.packet_count.to_be_bytes().to_vec()),
            (OXS_BYTE_COUNT, a.byte_count.to_be_bytes().to_vec()),
        ],
    );
    w.into_vec()
}

/// The NXST_FLOW reply body (OpenFlow 1.0 with NXM matches).
pub fn encode_nx_flow_stats(flows: &[FlowStats]) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    for f in flows {
        let m = w.mark();
        let secs = (f.duration_ms / 1000) as u32;
        let nsecs = ((f.duration_ms % 1000) * 1_000_000) as u32;
        w.u16(0).u8(f.table_id).u8(0).u32(secs).u32(nsecs);
        w.u16(f.priority).u16(f.idle_timeout).u16(f.hard_timeout);
        let match_len_at = w.since(m);
        w.u16(0).u16(f.idle_age).u16(f.hard_age);
        w.u64(f.cookie).u64(f.packet_count).u64(f.byte_count);
        let n = f.matched.encode_nxm(&mut w).map_err(match_err)?;
        w.zeros((8 - n % 8) % 8);
        w.patch_u16(m, match_len_at, n as u16);
        action::encode(&f.actions, Version::Of10, &mut w).map_err(action_err)?;
        let len = w.since(m);
        w.patch_u16(m, 0, len as u16);
    }
    Ok(w.into_vec())
}

/// The aggregate reply body (OpenFlow 1.0-1.4 and NXST).
pub fn encode_aggregate(a: &AggregateStats) -> Vec<u8> {
    let mut w = Writer::new();
    w.u64(a.packet_count)
        .u64(a.byte_count)
        .u32(a.flow_count)
        .zeros(4);
    w.into_vec()
}

/// Whether an OpenFlow 1.0 dump must use NXST_FLOW: some match cannot be
/// written as an `ofp_match`.
pub fn needs_nxm(flows: &[FlowStats]) -> bool {
    flows.iter().any(|f| {
        let mut w = Writer::new();
        f.matched.encode_of10(&mut w).is_err()
    })
}

/// OpenFlow 1.0's 16-bit form of a port, for callers building replies.
pub fn port_to_of10(p: u32) -> Option<u16> {
    port_to_u16(p)
}
