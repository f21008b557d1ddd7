//! Groups and meters on the wire: GROUP_MOD (OpenFlow 1.1-1.4 layout,
//! OpenFlow 1.5 layout with bucket ids and properties, and OpenFlow 1.0's
//! NXT_GROUP_MOD, which uses the 1.5 layout), the Netronome
//! `selection_method` group property Open vSwitch uses for select groups,
//! group stats and group description multiparts, METER_MOD and the meter
//! stats and configuration multiparts.
//!
//! Like [`super::flow_msg`], this works on the [`Unparsed`] bodies the
//! message layer hands over: [`decode`] turns one into a [`GroupMsg`], and
//! the `encode_*` functions write bodies (and multipart reply entries) back.
//! Every check follows Open vSwitch's `lib/ofp-group.c` and
//! `lib/ofp-meter.c`, so a message OVS refuses is refused here with the
//! same error.

use super::action::{self, Action};
use super::codec::{Reader, Writer};
use super::error::{BadRequest, OfpError};
use super::field::{Field, TlvHeader, Value};
use super::message::{RawMsg, Unparsed};
use super::Version;

/// Last usable group number.
pub const OFPG_MAX: u32 = 0xffff_ff00;
/// All groups (group stats, group desc, delete).
pub const OFPG_ALL: u32 = 0xffff_fffc;
/// No group (watch_group, out_group wildcard).
pub const OFPG_ANY: u32 = 0xffff_ffff;
/// OFPP_ANY in OpenFlow 1.1+ numbering.
pub const OFPP_ANY: u32 = 0xffff_ffff;

/// Last usable bucket id (OpenFlow 1.5).
pub const BUCKET_MAX: u32 = 0xffff_ff00;
/// `command_bucket_id` for "the first bucket".
pub const BUCKET_FIRST: u32 = 0xffff_fffd;
/// `command_bucket_id` for "the last bucket".
pub const BUCKET_LAST: u32 = 0xffff_fffe;
/// `command_bucket_id` for "all buckets" (and "none given").
pub const BUCKET_ALL: u32 = 0xffff_ffff;

/// Last usable meter number.
pub const OFPM_MAX: u32 = 0xffff_0000;
/// Virtual meter for the slow path.
pub const OFPM_SLOWPATH: u32 = 0xffff_fffd;
/// Virtual meter for controller connections.
pub const OFPM_CONTROLLER: u32 = 0xffff_fffe;
/// All meters (stats requests, delete).
pub const OFPM_ALL: u32 = 0xffff_ffff;

/// Meter flags (OFPMF_*).
pub mod meter_flags {
    pub const KBPS: u16 = 1 << 0;
    pub const PKTPS: u16 = 1 << 1;
    pub const BURST: u16 = 1 << 2;
    pub const STATS: u16 = 1 << 3;
}

/// Netronome's experimenter id, which carries `selection_method`.
pub const NTR_VENDOR_ID: u32 = 0x0000_154d;
/// The wrong id Open vSwitch 2.4 used; still accepted.
pub const NTR_COMPAT_VENDOR_ID: u32 = 0x0000_1540;
const NTRT_SELECTION_METHOD: u32 = 1;
const SELECTION_METHOD_LEN: usize = 16;

/// OFPGT_*.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupType {
    All,
    Select,
    Indirect,
    FastFailover,
}

impl GroupType {
    pub fn from_wire(t: u8) -> Option<GroupType> {
        Some(match t {
            0 => GroupType::All,
            1 => GroupType::Select,
            2 => GroupType::Indirect,
            3 => GroupType::FastFailover,
            _ => return None,
        })
    }

    pub fn wire(self) -> u8 {
        match self {
            GroupType::All => 0,
            GroupType::Select => 1,
            GroupType::Indirect => 2,
            GroupType::FastFailover => 3,
        }
    }

    /// The name `ovs-ofctl` prints (`type=ff`).
    pub fn name(self) -> &'static str {
        match self {
            GroupType::All => "all",
            GroupType::Select => "select",
            GroupType::Indirect => "indirect",
            GroupType::FastFailover => "ff",
        }
    }

    /// Index into per-type arrays (group features).
    pub fn index(self) -> usize {
        self.wire() as usize
    }
}

/// OFPGC_* (OpenFlow 1.5 numbering, which extends 1.1's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupCommand {
    Add,
    Modify,
    Delete,
    /// OpenFlow 1.5 (and NXT_GROUP_MOD): add buckets to a group.
    InsertBucket,
    /// OpenFlow 1.5 (and NXT_GROUP_MOD): remove buckets from a group.
    RemoveBucket,
    /// Open vSwitch's extension: add, or modify if the group exists.
    AddOrMod,
}

impl GroupCommand {
    pub fn from_wire(c: u16) -> Option<GroupCommand> {
        Some(match c {
            0 => GroupCommand::Add,
            1 => GroupCommand::Modify,
            2 => GroupCommand::Delete,
            3 => GroupCommand::InsertBucket,
            5 => GroupCommand::RemoveBucket,
            0x8000 => GroupCommand::AddOrMod,
            _ => return None,
        })
    }

    pub fn wire(self) -> u16 {
        match self {
            GroupCommand::Add => 0,
            GroupCommand::Modify => 1,
            GroupCommand::Delete => 2,
            GroupCommand::InsertBucket => 3,
            GroupCommand::RemoveBucket => 5,
            GroupCommand::AddOrMod => 0x8000,
        }
    }
}

/// One bucket of a group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// OpenFlow 1.5 bucket id; in 1.1-1.4 layouts, the bucket's position.
    pub bucket_id: u32,
    /// Select groups: relative weight (0: never chosen).
    pub weight: u16,
    /// Fast failover: the port whose liveness decides (OpenFlow 1.1+ port
    /// numbering, [`OFPP_ANY`] for none).
    pub watch_port: u32,
    /// Fast failover: the group whose liveness decides ([`OFPG_ANY`]).
    pub watch_group: u32,
    pub actions: Vec<Action>,
}

impl Bucket {
    /// A bucket with OVS's defaults for a group of type `t`.
    pub fn new(t: GroupType, actions: Vec<Action>) -> Bucket {
        Bucket {
            bucket_id: BUCKET_ALL,
            weight: u16::from(t == GroupType::Select),
            watch_port: OFPP_ANY,
            watch_group: OFPG_ANY,
            actions,
        }
    }

    /// Whether liveness depends on a port or group (`ofputil_bucket_has_liveness`).
    pub fn has_liveness(&self) -> bool {
        self.watch_port != OFPP_ANY || self.watch_group != OFPG_ANY
    }
}

/// Group properties: Open vSwitch's select-group selection method.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupProps {
    /// `""` (none: OVS picks dp_hash when it can), `"hash"` or `"dp_hash"`.
    pub selection_method: String,
    /// For `dp_hash`: the hash basis in the low 32 bits, the algorithm in
    /// the high 32; for `hash`: the basis.
    pub selection_method_param: u64,
    /// For `hash`: the fields hashed, each with its mask, in wire order.
    pub fields: Vec<(Field, Value)>,
}

/// A group_mod, whatever the version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupMod {
    pub command: GroupCommand,
    pub group_type: GroupType,
    pub group_id: u32,
    /// OpenFlow 1.5 insert/remove bucket position ([`BUCKET_ALL`] otherwise).
    pub command_bucket_id: u32,
    pub buckets: Vec<Bucket>,
    pub props: GroupProps,
}

/// One group in a group description reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupDesc {
    pub group_type: GroupType,
    pub group_id: u32,
    pub buckets: Vec<Bucket>,
    pub props: GroupProps,
}

/// Counters of one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BucketCounter {
    pub packet_count: u64,
    pub byte_count: u64,
}

/// One group in a group stats reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupStats {
    pub group_id: u32,
    /// Flows (and groups) that forward to this group.
    pub ref_count: u32,
    pub packet_count: u64,
    pub byte_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub buckets: Vec<BucketCounter>,
}

/// OFPMC_*.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterCommand {
    Add,
    Modify,
    Delete,
}

impl MeterCommand {
    pub fn wire(self) -> u16 {
        match self {
            MeterCommand::Add => 0,
            MeterCommand::Modify => 1,
            MeterCommand::Delete => 2,
        }
    }
}

/// OFPMBT_*: what a band does to packets over its rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BandType {
    Drop,
    /// Raise the drop precedence of the DSCP by `prec_level`.
    DscpRemark {
        prec_level: u8,
    },
}

impl BandType {
    pub fn wire(self) -> u16 {
        match self {
            BandType::Drop => 1,
            BandType::DscpRemark { .. } => 2,
        }
    }
}

/// One meter band.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeterBand {
    pub band_type: BandType,
    /// kb/s or packets/s, per the meter's flags.
    pub rate: u32,
    /// kb or packets (with OFPMF_BURST).
    pub burst_size: u32,
}

/// A meter's configuration (meter_mod body, meter config reply entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterConfig {
    pub meter_id: u32,
    /// OFPMF_* ([`meter_flags`]).
    pub flags: u16,
    pub bands: Vec<MeterBand>,
}

/// A meter_mod.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeterMod {
    pub command: MeterCommand,
    pub meter: MeterConfig,
}

/// Counters of one band.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BandStats {
    pub packet_count: u64,
    pub byte_count: u64,
}

/// One meter in a meter stats reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MeterStats {
    pub meter_id: u32,
    pub flow_count: u32,
    pub packet_in_count: u64,
    pub byte_in_count: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub bands: Vec<BandStats>,
}

/// One of the messages above, decoded from an [`Unparsed`] body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupMsg {
    GroupMod(GroupMod),
    /// OFPMP_GROUP (NXST_GROUP in 1.0) for one group or [`OFPG_ALL`].
    GroupStatsRequest {
        group_id: u32,
    },
    /// OFPMP_GROUP_DESC for one group (1.0 and 1.5) or [`OFPG_ALL`].
    GroupDescRequest {
        group_id: u32,
    },
    MeterMod(MeterMod),
    /// OFPMP_METER for one meter or [`OFPM_ALL`].
    MeterStatsRequest {
        meter_id: u32,
    },
    /// OFPMP_METER_CONFIG for one meter or [`OFPM_ALL`].
    MeterConfigRequest {
        meter_id: u32,
    },
    /// Replies, decoded for controllers and tests.
    GroupStatsReply(Vec<GroupStats>),
    GroupDescReply(Vec<GroupDesc>),
    MeterStatsReply(Vec<MeterStats>),
    MeterConfigReply(Vec<MeterConfig>),
}

/// The error Open vSwitch calls `name` (all are in the error table).
fn err(name: &str) -> OfpError {
    OfpError::from_name(name).unwrap_or(OfpError::BadRequest(BadRequest::BadLen))
}

fn bad_len<T>(_: T) -> OfpError {
    OfpError::BadRequest(BadRequest::BadLen)
}

fn action_err(e: action::ActionError) -> OfpError {
    e.ofperr_name()
        .and_then(OfpError::from_name)
        .unwrap_or(OfpError::BadRequest(BadRequest::BadLen))
}

/// Decodes the group or meter message `u` carries, if it is one.
pub fn decode(version: Version, u: &Unparsed) -> Option<Result<GroupMsg, OfpError>> {
    let mut r = Reader::new(&u.body);
    let r = &mut r;
    let out = match u.raw {
        RawMsg::Of11GroupMod => decode_of11_group_mod(version, r).map(GroupMsg::GroupMod),
        RawMsg::Of15GroupMod | RawMsg::NxtGroupMod => {
            decode_of15_group_mod(version, r).map(GroupMsg::GroupMod)
        }
        RawMsg::NxstGroupRequest | RawMsg::Of11GroupRequest => r
            .u32()
            .map(|group_id| GroupMsg::GroupStatsRequest { group_id })
            .map_err(bad_len),
        RawMsg::Of11GroupDescRequest => Ok(GroupMsg::GroupDescRequest { group_id: OFPG_ALL }),
        RawMsg::NxstGroupDescRequest | RawMsg::Of15GroupDescRequest => r
            .u32()
            .map(|group_id| GroupMsg::GroupDescRequest { group_id })
            .map_err(bad_len),
        RawMsg::Of13MeterMod => decode_meter_mod(r).map(GroupMsg::MeterMod),
        RawMsg::MeterStatsRequest => r
            .u32()
            .map(|meter_id| GroupMsg::MeterStatsRequest { meter_id })
            .map_err(bad_len),
        RawMsg::MeterConfigRequest => r
            .u32()
            .map(|meter_id| GroupMsg::MeterConfigRequest { meter_id })
            .map_err(bad_len),
        RawMsg::NxstGroupReply | RawMsg::Of13GroupReply => {
            many(r, decode_group_stats).map(GroupMsg::GroupStatsReply)
        }
        RawMsg::NxstGroupDescReply | RawMsg::Of11GroupDescReply => {
            many(r, |r| decode_group_desc(version, r)).map(GroupMsg::GroupDescReply)
        }
        RawMsg::MeterStatsReply => many(r, decode_meter_stats).map(GroupMsg::MeterStatsReply),
        RawMsg::MeterConfigReply => many(r, decode_meter_config).map(GroupMsg::MeterConfigReply),
        _ => return None,
    };
    Some(out)
}

fn many<T>(
    r: &mut Reader<'_>,
    mut one: impl FnMut(&mut Reader<'_>) -> Result<T, OfpError>,
) -> Result<Vec<T>, OfpError> {
    let mut v = Vec::new();
    while !r.is_empty() {
        v.push(one(r)?);
    }
    Ok(v)
}

/// Whether OpenFlow 1.5's layout (bucket ids, properties) carries groups in
/// `version`: 1.5, and 1.0 through Nicira's extension.
pub fn uses_of15_layout(version: Version) -> bool {
    matches!(version, Version::Of10 | Version::Of15)
}

fn group_type(t: u8) -> Result<GroupType, OfpError> {
    GroupType::from_wire(t).ok_or_else(|| err("OFPGMFC_BAD_TYPE"))
}

/// `ofputil_port_from_ofp11` for a watch port: ports 0xff00..0xffffff00
/// have no 16-bit form and are refused.
fn watch_port_ok(p: u32) -> bool {
    !(0xff00..0xffff_ff00).contains(&p)
}

/// What the header says before the buckets are read; the type is checked
/// after them, as OVS does.
struct Head {
    command: u16,
    group_type: u8,
    group_id: u32,
    command_bucket_id: u32,
}

fn decode_of11_group_mod(version: Version, r: &mut Reader<'_>) -> Result<GroupMod, OfpError> {
    let command = r.u16().map_err(bad_len)?;
    let gt = r.u8().map_err(bad_len)?;
    r.skip(1).map_err(bad_len)?;
    let group_id = r.u32().map_err(bad_len)?;
    let buckets = pull_of11_buckets(version, r)?;
    // OpenFlow 1.3.5+: a delete must carry no buckets.
    if command == GroupCommand::Delete.wire() && !buckets.is_empty() {
        return Err(err("OFPGMFC_INVALID_GROUP"));
    }
    finish_group_mod(
        Head {
            command,
            group_type: gt,
            group_id,
            command_bucket_id: BUCKET_ALL,
        },
        buckets,
        GroupProps::default(),
    )
}

fn pull_of11_buckets(version: Version, r: &mut Reader<'_>) -> Result<Vec<Bucket>, OfpError> {
    let mut out = Vec::new();
    let mut id = 0u32;
    while !r.is_empty() {
        let bad = || err("OFPGMFC_BAD_BUCKET");
        if r.remaining() < 16 {
            return Err(bad());
        }
        let len = usize::from(r.u16().map_err(bad_len)?);
        if len < 16 || len - 2 > r.remaining() {
            return Err(bad());
        }
        let weight = r.u16().map_err(bad_len)?;
        let watch_port = r.u32().map_err(bad_len)?;
        let watch_group = r.u32().map_err(bad_len)?;
        r.skip(4).map_err(bad_len)?;
        let acts = r.bytes(len - 16).map_err(bad_len)?;
        let actions = action::decode(version, acts).map_err(action_err)?;
        if !watch_port_ok(watch_port) {
            return Err(err("OFPGMFC_BAD_WATCH"));
        }
        out.push(Bucket {
            bucket_id: id,
            weight,
            watch_port,
            watch_group,
            actions,
        });
        id += 1;
    }
    Ok(out)
}

fn decode_of15_group_mod(version: Version, r: &mut Reader<'_>) -> Result<GroupMod, OfpError> {
    let command = r.u16().map_err(bad_len)?;
    let gt = r.u8().map_err(bad_len)?;
    r.skip(1).map_err(bad_len)?;
    let group_id = r.u32().map_err(bad_len)?;
    let bucket_array_len = usize::from(r.u16().map_err(bad_len)?);
    r.skip(2).map_err(bad_len)?;
    let command_bucket_id = r.u32().map_err(bad_len)?;
    let named = command_bucket_id <= BUCKET_MAX
        || command_bucket_id == BUCKET_FIRST
        || command_bucket_id == BUCKET_LAST;
    let ok = match GroupCommand::from_wire(command) {
        Some(GroupCommand::RemoveBucket) => named || command_bucket_id == BUCKET_ALL,
        Some(GroupCommand::InsertBucket) => named,
        _ => command_bucket_id == BUCKET_ALL,
    };
    if !ok {
        return Err(err("OFPGMFC_BAD_BUCKET"));
    }
    if bucket_array_len > r.remaining() {
        return Err(bad_len(()));
    }
    let mut br = r.sub(bucket_array_len).map_err(bad_len)?;
    let buckets = pull_of15_buckets(version, gt, &mut br)?;
    let props = pull_group_props(gt, command, r)?;
    finish_group_mod(
        Head {
            command,
            group_type: gt,
            group_id,
            command_bucket_id,
        },
        buckets,
        props,
    )
}

fn pull_of15_buckets(
    version: Version,
    gt: u8,
    r: &mut Reader<'_>,
) -> Result<Vec<Bucket>, OfpError> {
    let mut out: Vec<Bucket> = Vec::new();
    while !r.is_empty() {
        let bad = || err("OFPGMFC_BAD_BUCKET");
        if r.remaining() < 8 {
            return Err(bad());
        }
        let len = usize::from(r.u16().map_err(bad_len)?);
        let actions_len = usize::from(r.u16().map_err(bad_len)?);
        let bucket_id = r.u32().map_err(bad_len)?;
        if len < 8 || len - 8 > r.remaining() || actions_len > len - 8 {
            return Err(bad());
        }
        let acts = r.bytes(actions_len).map_err(bad_len)?;
        let actions = action::decode(version, acts).map_err(action_err)?;
        let mut props = r.sub(len - 8 - actions_len).map_err(bad_len)?;
        let mut b = Bucket {
            bucket_id,
            weight: u16::from(gt == GroupType::Select.wire()),
            watch_port: OFPP_ANY,
            watch_group: OFPG_ANY,
            actions,
        };
        while !props.is_empty() {
            let (ty, payload) = pull_prop(&mut props)?;
            match ty {
                PropType::Std(0) => {
                    if payload.len() < 2 {
                        return Err(err("OFPBPC_BAD_LEN"));
                    }
                    b.weight = u16::from_be_bytes([payload[0], payload[1]]);
                }
                PropType::Std(1 | 2) => {
                    let v = be32(payload)?;
                    if ty == PropType::Std(1) {
                        b.watch_port = v;
                    } else {
                        b.watch_group = v;
                    }
                }
                PropType::Std(_) => return Err(err("OFPBPC_BAD_TYPE")),
                PropType::Exp(..) => return Err(err("OFPBPC_BAD_EXP_TYPE")),
            }
        }
        if !watch_port_ok(b.watch_port) {
            return Err(err("OFPGMFC_BAD_WATCH"));
        }
        if b.bucket_id > BUCKET_MAX {
            return Err(bad());
        }
        out.push(b);
    }
    for (i, b) in out.iter().enumerate() {
        if out[..i].iter().any(|o| o.bucket_id == b.bucket_id) {
            return Err(err("OFPGMFC_BAD_BUCKET"));
        }
    }
    Ok(out)
}

fn be32(payload: &[u8]) -> Result<u32, OfpError> {
    match payload {
        [a, b, c, d] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => Err(err("OFPBPC_BAD_LEN")),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PropType {
    Std(u16),
    /// Experimenter id and type.
    Exp(u32, u32),
}

/// `ofpprop_pull`: one property, its payload (after the 4-byte header, or
/// the 12-byte experimenter header), padding skipped.
fn pull_prop<'a>(r: &mut Reader<'a>) -> Result<(PropType, &'a [u8]), OfpError> {
    let bad = || err("OFPBPC_BAD_LEN");
    if r.remaining() < 4 {
        return Err(bad());
    }
    let rest = r.rest();
    let ty = u16::from_be_bytes([rest[0], rest[1]]);
    let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
    let padded = len.next_multiple_of(8);
    if len < 4 || padded > r.remaining() {
        return Err(bad());
    }
    let whole = r.bytes(padded).map_err(|_| bad())?;
    let body = &whole[..len];
    if ty != 0xffff {
        return Ok((PropType::Std(ty), &body[4..]));
    }
    if len < 12 {
        return Err(bad());
    }
    let exp = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
    let exp_type = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
    if exp == 0 {
        return Err(err("OFPBPC_BAD_EXPERIMENTER"));
    }
    Ok((PropType::Exp(exp, exp_type), &body[12..]))
}

/// Group properties after the buckets (OpenFlow 1.5 layout).
fn pull_group_props(gt: u8, command: u16, r: &mut Reader<'_>) -> Result<GroupProps, OfpError> {
    let mut props = GroupProps::default();
    while !r.is_empty() {
        let (ty, payload) = pull_prop(r)?;
        match ty {
            PropType::Exp(NTR_VENDOR_ID | NTR_COMPAT_VENDOR_ID, NTRT_SELECTION_METHOD) => {
                props = parse_selection_method(gt, command, payload)?;
            }
            PropType::Exp(..) => return Err(err("OFPBPC_BAD_EXP_TYPE")),
            PropType::Std(_) => return Err(err("OFPBPC_BAD_TYPE")),
        }
    }
    Ok(props)
}

/// `parse_group_prop_ntr_selection_method`; `payload` is what follows the
/// experimenter header (pad, method name, param, fields).
fn parse_selection_method(gt: u8, command: u16, payload: &[u8]) -> Result<GroupProps, OfpError> {
    match GroupType::from_wire(gt) {
        Some(GroupType::Select) => {}
        Some(_) => return Err(err("OFPBPC_BAD_VALUE")),
        None => return Err(err("OFPGMFC_BAD_TYPE")),
    }
    match GroupCommand::from_wire(command) {
        Some(GroupCommand::Add | GroupCommand::Modify | GroupCommand::AddOrMod) => {}
        Some(_) => return Err(err("OFPBPC_BAD_VALUE")),
        None => return Err(err("OFPGMFC_BAD_COMMAND")),
    }
    // 4 pad + 16 name + 8 param after the 12-byte experimenter header.
    if payload.len() < 28 {
        return Err(err("OFPBPC_BAD_LEN"));
    }
    let name = &payload[4..4 + SELECTION_METHOD_LEN];
    let Some(end) = name.iter().position(|&c| c == 0) else {
        return Err(err("OFPBPC_BAD_VALUE"));
    };
    let method = match &name[..end] {
        b"hash" => "hash",
        b"dp_hash" => "dp_hash",
        _ => return Err(err("OFPBPC_BAD_VALUE")),
    };
    let mut pr = Reader::new(&payload[20..]);
    let param = pr.u64().map_err(bad_len)?;
    let fields_bytes = pr.rest();
    if !fields_bytes.is_empty() && method != "hash" {
        return Err(err("OFPBPC_BAD_VALUE"));
    }
    let fields = pull_field_array(fields_bytes)?;
    Ok(GroupProps {
        selection_method: method.to_string(),
        selection_method_param: param,
        fields,
    })
}

/// `oxm_pull_field_array`: OXM entries without mask bit whose values are
/// masks.
fn pull_field_array(b: &[u8]) -> Result<Vec<(Field, Value)>, OfpError> {
    let mut r = Reader::new(b);
    let mut out: Vec<(Field, Value)> = Vec::new();
    while !r.is_empty() {
        let h = TlvHeader::parse(&mut r).map_err(|_| err("OFPBMC_BAD_LEN"))?;
        if h.hasmask {
            return Err(err("OFPBMC_BAD_MASK"));
        }
        let (field, _, width) = h.lookup().map_err(|_| err("OFPBMC_BAD_FIELD"))?;
        let v = r
            .bytes(h.payload_len())
            .map_err(|_| err("OFPBMC_BAD_LEN"))?;
        if width != v.len() {
            return Err(err("OFPBMC_BAD_LEN"));
        }
        if out.iter().any(|(f, _)| *f == field) {
            return Err(err("OFPBMC_DUP_FIELD"));
        }
        if !field.is_mask_valid(v) {
            return Err(err("OFPBMC_BAD_MASK"));
        }
        out.push((field, Value::from_slice(v)));
    }
    Ok(out)
}

/// `ofputil_check_group_mod`, after the header and buckets decoded.
fn finish_group_mod(
    h: Head,
    buckets: Vec<Bucket>,
    props: GroupProps,
) -> Result<GroupMod, OfpError> {
    let gt = group_type(h.group_type)?;
    let command = GroupCommand::from_wire(h.command).ok_or_else(|| err("OFPGMFC_BAD_COMMAND"))?;
    if gt == GroupType::Indirect && command != GroupCommand::Delete && buckets.len() != 1 {
        return Err(err("OFPGMFC_INVALID_GROUP"));
    }
    if command == GroupCommand::RemoveBucket && !buckets.is_empty() {
        return Err(err("OFPGMFC_BAD_BUCKET"));
    }
    for b in &buckets {
        if b.weight != 0 && gt != GroupType::Select && command != GroupCommand::InsertBucket {
            return Err(err("OFPGMFC_INVALID_GROUP"));
        }
        match gt {
            GroupType::All | GroupType::Indirect if b.has_liveness() => {
                return Err(err("OFPGMFC_WATCH_UNSUPPORTED"))
            }
            GroupType::FastFailover if !b.has_liveness() => {
                return Err(err("OFPGMFC_INVALID_GROUP"))
            }
            _ => {}
        }
    }
    Ok(GroupMod {
        command,
        group_type: gt,
        group_id: h.group_id,
        command_bucket_id: h.command_bucket_id,
        buckets,
        props,
    })
}

/// The wire variant of a group_mod in `version`.
pub fn group_mod_raw(version: Version) -> RawMsg {
    match version {
        Version::Of10 => RawMsg::NxtGroupMod,
        Version::Of13 | Version::Of14 => RawMsg::Of11GroupMod,
        Version::Of15 => RawMsg::Of15GroupMod,
    }
}

/// A group_mod as `version` sends it. Bucket ids left at [`BUCKET_ALL`]
/// are numbered as `ovs-ofctl` numbers them (the lowest unused id).
pub fn encode_group_mod(version: Version, gm: &GroupMod) -> Result<Unparsed, OfpError> {
    let mut w = Writer::new();
    if uses_of15_layout(version) {
        let m = w.mark();
        w.u16(gm.command.wire())
            .u8(gm.group_type.wire())
            .u8(0)
            .u32(gm.group_id)
            .u16(0)
            .zeros(2)
            .u32(gm.command_bucket_id);
        let start = w.len();
        let ids = assign_bucket_ids(&gm.buckets);
        for (b, id) in gm.buckets.iter().zip(ids) {
            put_of15_bucket(version, gm.group_type, b, id, &mut w)?;
        }
        let blen = u16::try_from(w.len() - start).map_err(bad_len)?;
        w.patch_u16(m, 8, blen);
        put_selection_method(version, &gm.props, &mut w)?;
        return Ok(Unparsed {
            raw: group_mod_raw(version),
            flags: 0,
            body: w.into_vec(),
        });
    }
    w.u16(gm.command.wire())
        .u8(gm.group_type.wire())
        .u8(0)
        .u32(gm.group_id);
    for b in &gm.buckets {
        put_of11_bucket(version, b, &mut w)?;
    }
    Ok(Unparsed {
        raw: group_mod_raw(version),
        flags: 0,
        body: w.into_vec(),
    })
}

fn assign_bucket_ids(buckets: &[Bucket]) -> Vec<u32> {
    let mut used: Vec<u32> = buckets
        .iter()
        .map(|b| b.bucket_id)
        .filter(|id| *id <= BUCKET_MAX)
        .collect();
    buckets
        .iter()
        .map(|b| {
            if b.bucket_id <= BUCKET_MAX {
                return b.bucket_id;
            }
            let mut id = 0;
            while used.contains(&id) {
                id += 1;
            }
            used.push(id);
            id
        })
        .collect()
}

fn put_of11_bucket(version: Version, b: &Bucket, w: &mut Writer) -> Result<(), OfpError> {
    let m = w.mark();
    w.u16(0)
        .u16(b.weight)
        .u32(b.watch_port)
        .u32(b.watch_group)
        .zeros(4);
    action::encode(&b.actions, version, w).map_err(action_err)?;
    let len = u16::try_from(w.since(m)).map_err(bad_len)?;
    w.patch_u16(m, 0, len);
    Ok(())
}

fn put_of15_bucket(
    version: Version,
    gt: GroupType,
    b: &Bucket,
    id: u32,
    w: &mut Writer,
) -> Result<(), OfpError> {
    let m = w.mark();
    w.u16(0).u16(0).u32(id);
    let a = w.len();
    action::encode(&b.actions, version, w).map_err(action_err)?;
    let alen = u16::try_from(w.len() - a).map_err(bad_len)?;
    if gt == GroupType::Select || b.weight != 0 {
        let pm = w.mark();
        w.u16(0).u16(6).u16(b.weight);
        w.pad_from(pm, 8);
    }
    if b.watch_port != OFPP_ANY {
        w.u16(1).u16(8).u32(b.watch_port);
    }
    if b.watch_group != OFPG_ANY {
        w.u16(2).u16(8).u32(b.watch_group);
    }
    let len = u16::try_from(w.since(m)).map_err(bad_len)?;
    w.patch_u16(m, 0, len);
    w.patch_u16(m, 2, alen);
    Ok(())
}

fn put_selection_method(version: Version, p: &GroupProps, w: &mut Writer) -> Result<(), OfpError> {
    if p.selection_method.is_empty() {
        return Ok(());
    }
    let m = w.mark();
    w.u16(0xffff)
        .u16(0)
        .u32(NTR_VENDOR_ID)
        .u32(NTRT_SELECTION_METHOD)
        .zeros(4);
    super::message::prop::put_str(w, &p.selection_method, SELECTION_METHOD_LEN);
    w.u64(p.selection_method_param);
    for (f, mask) in &p.fields {
        let h = f
            .header_for(super::field::Encoding::Oxm(version))
            .ok_or_else(|| err("OFPBMC_BAD_FIELD"))?;
        let len = u8::try_from(mask.len()).map_err(bad_len)?;
        h.tlv(false, len).emit(w);
        w.bytes(mask.as_slice());
    }
    let len = u16::try_from(w.since(m)).map_err(bad_len)?;
    w.patch_u16(m, 2, len);
    w.pad_from(m, 8);
    Ok(())
}

/// A group stats request body (raw [`group_stats_request_raw`]).
pub fn encode_group_stats_request(version: Version, group_id: u32) -> Unparsed {
    let mut w = Writer::new();
    w.u32(group_id).zeros(4);
    Unparsed {
        raw: if version == Version::Of10 {
            RawMsg::NxstGroupRequest
        } else {
            RawMsg::Of11GroupRequest
        },
        flags: 0,
        body: w.into_vec(),
    }
}

/// A group description request (OpenFlow 1.3 and 1.4 always ask for all).
pub fn encode_group_desc_request(version: Version, group_id: u32) -> Unparsed {
    let (raw, body) = match version {
        Version::Of10 => (RawMsg::NxstGroupDescRequest, Some(group_id)),
        Version::Of13 | Version::Of14 => (RawMsg::Of11GroupDescRequest, None),
        Version::Of15 => (RawMsg::Of15GroupDescRequest, Some(group_id)),
    };
    let mut w = Writer::new();
    if let Some(g) = body {
        w.u32(g).zeros(4);
    }
    Unparsed {
        raw,
        flags: 0,
        body: w.into_vec(),
    }
}

/// The raw variant of group stats replies in `version`.
pub fn group_stats_reply_raw(version: Version) -> RawMsg {
    if version == Version::Of10 {
        RawMsg::NxstGroupReply
    } else {
        RawMsg::Of13GroupReply
    }
}

/// The raw variant of group description replies in `version`.
pub fn group_desc_reply_raw(version: Version) -> RawMsg {
    if version == Version::Of10 {
        RawMsg::NxstGroupDescReply
    } else {
        RawMsg::Of11GroupDescReply
    }
}

/// One group stats reply entry (OpenFlow 1.3 layout, which 1.0's NXST
/// reply uses too).
pub fn encode_group_stats(gs: &GroupStats) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    let len = u16::try_from(40 + 16 * gs.buckets.len()).map_err(bad_len)?;
    w.u16(len)
        .zeros(2)
        .u32(gs.group_id)
        .u32(gs.ref_count)
        .zeros(4)
        .u64(gs.packet_count)
        .u64(gs.byte_count)
        .u32(gs.duration_sec)
        .u32(gs.duration_nsec);
    for b in &gs.buckets {
        w.u64(b.packet_count).u64(b.byte_count);
    }
    Ok(w.into_vec())
}

fn decode_group_stats(r: &mut Reader<'_>) -> Result<GroupStats, OfpError> {
    let len = usize::from(r.u16().map_err(bad_len)?);
    if len < 40 || len - 2 > r.remaining() || (len - 40) % 16 != 0 {
        return Err(bad_len(()));
    }
    r.skip(2).map_err(bad_len)?;
    let mut gs = GroupStats {
        group_id: r.u32().map_err(bad_len)?,
        ref_count: r.u32().map_err(bad_len)?,
        ..GroupStats::default()
    };
    r.skip(4).map_err(bad_len)?;
    gs.packet_count = r.u64().map_err(bad_len)?;
    gs.byte_count = r.u64().map_err(bad_len)?;
    gs.duration_sec = r.u32().map_err(bad_len)?;
    gs.duration_nsec = r.u32().map_err(bad_len)?;
    for _ in 0..(len - 40) / 16 {
        gs.buckets.push(BucketCounter {
            packet_count: r.u64().map_err(bad_len)?,
            byte_count: r.u64().map_err(bad_len)?,
        });
    }
    Ok(gs)
}

/// One group description reply entry in `version`'s layout.
pub fn encode_group_desc(version: Version, gd: &GroupDesc) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    let m = w.mark();
    if uses_of15_layout(version) {
        w.u16(0)
            .u8(gd.group_type.wire())
            .u8(0)
            .u32(gd.group_id)
            .u16(0)
            .zeros(6);
        let start = w.len();
        for b in &gd.buckets {
            put_of15_bucket(version, gd.group_type, b, b.bucket_id, &mut w)?;
        }
        let blen = u16::try_from(w.len() - start).map_err(bad_len)?;
        w.patch_u16(m, 8, blen);
        put_selection_method(version, &gd.props, &mut w)?;
    } else {
        w.u16(0).u8(gd.group_type.wire()).u8(0).u32(gd.group_id);
        for b in &gd.buckets {
            put_of11_bucket(version, b, &mut w)?;
        }
    }
    let len = u16::try_from(w.since(m)).map_err(bad_len)?;
    w.patch_u16(m, 0, len);
    Ok(w.into_vec())
}

fn decode_group_desc(version: Version, r: &mut Reader<'_>) -> Result<GroupDesc, OfpError> {
    let len = usize::from(r.u16().map_err(bad_len)?);
    let gt = r.u8().map_err(bad_len)?;
    r.skip(1).map_err(bad_len)?;
    let group_id = r.u32().map_err(bad_len)?;
    let group_type = group_type(gt)?;
    if uses_of15_layout(version) {
        if len < 16 || len - 8 > r.remaining() {
            return Err(bad_len(()));
        }
        let blen = usize::from(r.u16().map_err(bad_len)?);
        r.skip(6).map_err(bad_len)?;
        if blen > len - 16 {
            return Err(bad_len(()));
        }
        let mut br = r.sub(blen).map_err(bad_len)?;
        let buckets = pull_of15_buckets(version, gt, &mut br)?;
        let mut pr = r.sub(len - 16 - blen).map_err(bad_len)?;
        let props = pull_group_props(gt, GroupCommand::Add.wire(), &mut pr)?;
        Ok(GroupDesc {
            group_type,
            group_id,
            buckets,
            props,
        })
    } else {
        if len < 8 || len - 8 > r.remaining() {
            return Err(bad_len(()));
        }
        let mut br = r.sub(len - 8).map_err(bad_len)?;
        let buckets = pull_of11_buckets(version, &mut br)?;
        Ok(GroupDesc {
            group_type,
            group_id,
            buckets,
            props: GroupProps::default(),
        })
    }
}

/// `ofputil_decode_meter_mod`.
fn decode_meter_mod(r: &mut Reader<'_>) -> Result<MeterMod, OfpError> {
    let command = match r.u16().map_err(bad_len)? {
        0 => MeterCommand::Add,
        1 => MeterCommand::Modify,
        2 => MeterCommand::Delete,
        _ => return Err(err("OFPMMFC_BAD_COMMAND")),
    };
    let flags = r.u16().map_err(bad_len)?;
    let meter_id = r.u32().map_err(bad_len)?;
    if command == MeterCommand::Delete {
        return Ok(MeterMod {
            command,
            meter: MeterConfig {
                meter_id,
                flags: 0,
                bands: Vec::new(),
            },
        });
    }
    if flags & meter_flags::KBPS != 0 && flags & meter_flags::PKTPS != 0 {
        return Err(err("OFPMMFC_BAD_FLAGS"));
    }
    let bands = pull_bands(r)?;
    Ok(MeterMod {
        command,
        meter: MeterConfig {
            meter_id,
            flags,
            bands,
        },
    })
}

fn pull_bands(r: &mut Reader<'_>) -> Result<Vec<MeterBand>, OfpError> {
    let mut out = Vec::new();
    while r.remaining() >= 16 {
        let ty = r.u16().map_err(bad_len)?;
        let len = r.u16().map_err(bad_len)?;
        if len != 16 {
            return Err(bad_len(()));
        }
        let rate = r.u32().map_err(bad_len)?;
        let burst_size = r.u32().map_err(bad_len)?;
        let prec_level = r.u8().map_err(bad_len)?;
        r.skip(3).map_err(bad_len)?;
        let band_type = match ty {
            1 => BandType::Drop,
            2 => BandType::DscpRemark { prec_level },
            _ => return Err(err("OFPMMFC_BAD_BAND")),
        };
        out.push(MeterBand {
            band_type,
            rate,
            burst_size,
        });
    }
    if !r.is_empty() {
        return Err(bad_len(()));
    }
    Ok(out)
}

fn put_bands(bands: &[MeterBand], w: &mut Writer) {
    for b in bands {
        let prec = match b.band_type {
            BandType::Drop => 0,
            BandType::DscpRemark { prec_level } => prec_level,
        };
        w.u16(b.band_type.wire())
            .u16(16)
            .u32(b.rate)
            .u32(b.burst_size)
            .u8(prec)
            .zeros(3);
    }
}

/// A meter_mod body (OpenFlow 1.3+).
pub fn encode_meter_mod(mm: &MeterMod) -> Unparsed {
    let mut w = Writer::new();
    let flags = if mm.command == MeterCommand::Delete {
        0
    } else {
        mm.meter.flags
    };
    w.u16(mm.command.wire()).u16(flags).u32(mm.meter.meter_id);
    put_bands(&mm.meter.bands, &mut w);
    Unparsed {
        raw: RawMsg::Of13MeterMod,
        flags: 0,
        body: w.into_vec(),
    }
}

/// A meter stats (`config` false) or meter config request.
pub fn encode_meter_request(config: bool, meter_id: u32) -> Unparsed {
    let mut w = Writer::new();
    w.u32(meter_id).zeros(4);
    Unparsed {
        raw: if config {
            RawMsg::MeterConfigRequest
        } else {
            RawMsg::MeterStatsRequest
        },
        flags: 0,
        body: w.into_vec(),
    }
}

/// One meter config reply entry.
pub fn encode_meter_config(mc: &MeterConfig) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    let len = u16::try_from(8 + 16 * mc.bands.len()).map_err(bad_len)?;
    w.u16(len).u16(mc.flags).u32(mc.meter_id);
    put_bands(&mc.bands, &mut w);
    Ok(w.into_vec())
}

fn decode_meter_config(r: &mut Reader<'_>) -> Result<MeterConfig, OfpError> {
    let len = usize::from(r.u16().map_err(bad_len)?);
    let flags = r.u16().map_err(bad_len)?;
    let meter_id = r.u32().map_err(bad_len)?;
    if len < 8 || len - 8 > r.remaining() {
        return Err(bad_len(()));
    }
    let mut br = r.sub(len - 8).map_err(bad_len)?;
    let bands = pull_bands(&mut br)?;
    Ok(MeterConfig {
        meter_id,
        flags,
        bands,
    })
}

/// One meter stats reply entry.
pub fn encode_meter_stats(ms: &MeterStats) -> Result<Vec<u8>, OfpError> {
    let mut w = Writer::new();
    let len = u16::try_from(40 + 16 * ms.bands.len()).map_err(bad_len)?;
    w.u32(ms.meter_id)
        .u16(len)
        .zeros(6)
        .u32(ms.flow_count)
        .u64(ms.packet_in_count)
        .u64(ms.byte_in_count)
        .u32(ms.duration_sec)
        .u32(ms.duration_nsec);
    for b in &ms.bands {
        w.u64(b.packet_count).u64(b.byte_count);
    }
    Ok(w.into_vec())
}

fn decode_meter_stats(r: &mut Reader<'_>) -> Result<MeterStats, OfpError> {
    let meter_id = r.u32().map_err(bad_len)?;
    let len = usize::from(r.u16().map_err(bad_len)?);
    if len < 40 || len - 6 > r.remaining() || (len - 40) % 16 != 0 {
        return Err(bad_len(()));
    }
    r.skip(6).map_err(bad_len)?;
    let mut ms = MeterStats {
        meter_id,
        flow_count: r.u32().map_err(bad_len)?,
        packet_in_count: r.u64().map_err(bad_len)?,
        byte_in_count: r.u64().map_err(bad_len)?,
        duration_sec: r.u32().map_err(bad_len)?,
        duration_nsec: r.u32().map_err(bad_len)?,
        bands: Vec::new(),
    };
    for _ in 0..(len - 40) / 16 {
        ms.bands.push(BandStats {
            packet_count: r.u64().map_err(bad_len)?,
            byte_count: r.u64().map_err(bad_len)?,
        });
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select_mod(version: Version) -> GroupMod {
        let mut b1 = Bucket::new(GroupType::Select, vec![Action::output(1)]);
        b1.weight = 3;
        b1.bucket_id = if uses_of15_layout(version) { 7 } else { 0 };
        let mut b2 = Bucket::new(GroupType::Select, vec![Action::output(2)]);
        b2.bucket_id = if uses_of15_layout(version) { 9 } else { 1 };
        GroupMod {
            command: GroupCommand::Add,
            group_type: GroupType::Select,
            group_id: 5,
            command_bucket_id: BUCKET_ALL,
            buckets: vec![b1, b2],
            props: if uses_of15_layout(version) {
                GroupProps {
                    selection_method: "hash".into(),
                    selection_method_param: 42,
                    fields: vec![
                        (Field::Ipv4Src, Value::from(0xffff_ff00u32)),
                        (Field::TcpDst, Value::from(0xffffu16)),
                    ],
                }
            } else {
                GroupProps::default()
            },
        }
    }

    #[test]
    fn group_mods_round_trip_in_every_layout() {
        for v in Version::ALL {
            let gm = select_mod(v);
            let u = encode_group_mod(v, &gm).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert_eq!(u.raw, group_mod_raw(v));
            let back = decode(v, &u).unwrap_or_else(|| panic!("{v:?}: not a group message"));
            assert_eq!(back, Ok(GroupMsg::GroupMod(gm)), "{v:?}");
        }
    }

    #[test]
    fn group_checks_follow_ovs() {
        let v = Version::Of13;
        let mut gm = select_mod(v);
        gm.group_type = GroupType::Indirect;
        let u = encode_group_mod(v, &gm).unwrap_or_else(|e| panic!("{e}"));
        // Indirect with two buckets, and weights outside select groups.
        assert_eq!(decode(v, &u), Some(Err(err("OFPGMFC_INVALID_GROUP"))));
        gm.group_type = GroupType::FastFailover;
        for b in &mut gm.buckets {
            b.weight = 0;
        }
        let u = encode_group_mod(v, &gm).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decode(v, &u), Some(Err(err("OFPGMFC_INVALID_GROUP"))));
        // Unknown type, unknown command.
        let mut u = encode_group_mod(v, &select_mod(v)).unwrap_or_else(|e| panic!("{e}"));
        u.body[2] = 9;
        assert_eq!(decode(v, &u), Some(Err(err("OFPGMFC_BAD_TYPE"))));
        u.body[2] = 1;
        u.body[1] = 4;
        assert_eq!(decode(v, &u), Some(Err(err("OFPGMFC_BAD_COMMAND"))));
        // A bucket longer than the message.
        let mut u = encode_group_mod(v, &select_mod(v)).unwrap_or_else(|e| panic!("{e}"));
        u.body[8..10].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(decode(v, &u), Some(Err(err("OFPGMFC_BAD_BUCKET"))));
    }

    #[test]
    fn meters_round_trip() {
        let mm = MeterMod {
            command: MeterCommand::Add,
            meter: MeterConfig {
                meter_id: 3,
                flags: meter_flags::KBPS | meter_flags::BURST | meter_flags::STATS,
                bands: vec![
                    MeterBand {
                        band_type: BandType::Drop,
                        rate: 1000,
                        burst_size: 100,
                    },
                    MeterBand {
                        band_type: BandType::DscpRemark { prec_level: 1 },
                        rate: 500,
                        burst_size: 0,
                    },
                ],
            },
        };
        let u = encode_meter_mod(&mm);
        assert_eq!(
            decode(Version::Of13, &u),
            Some(Ok(GroupMsg::MeterMod(mm.clone())))
        );
        let mut bad = u.clone();
        bad.body[2..4].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(
            decode(Version::Of13, &bad),
            Some(Err(err("OFPMMFC_BAD_FLAGS")))
        );
        let mut bad = u;
        bad.body[8..10].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            decode(Version::Of13, &bad),
            Some(Err(err("OFPMMFC_BAD_BAND")))
        );
        let stats = MeterStats {
            meter_id: 3,
            flow_count: 2,
            packet_in_count: 10,
            byte_in_count: 1000,
            duration_sec: 1,
            duration_nsec: 2,
            bands: vec![BandStats::default(); 2],
        };
        let body = encode_meter_stats(&stats).unwrap_or_else(|e| panic!("{e}"));
        let u = Unparsed {
            raw: RawMsg::MeterStatsReply,
            flags: 0,
            body,
        };
        assert_eq!(
            decode(Version::Of13, &u),
            Some(Ok(GroupMsg::MeterStatsReply(vec![stats])))
        );
    }
}
